//! `ringload record --proxy`: the recording proxy as a capture source, run until a signal, its
//! request limit or its duration, then handed to normalisation like a file.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Args;
use ringload_proxy::{Ended, ProxyConfig, RecordConfig};

use super::{ProxyCommon, SignalWake, counters, parse_size, start};
use crate::error::CliError;

/// The `record --proxy` source.
#[derive(Debug, Args, Default, Clone)]
pub struct RecordProxyArgs {
    /// Record through a reverse proxy listening here (e.g. 127.0.0.1:8081): clients send their
    /// traffic to it, it forwards to --upstream and records every exchange, until Ctrl-C,
    /// --max-requests or --duration.
    #[arg(long, value_name = "LISTEN")]
    pub proxy: Option<SocketAddr>,
    #[command(flatten)]
    pub common: ProxyCommon,
    /// With --proxy: stop after this many exchanges.
    #[arg(long, value_name = "N", requires = "proxy")]
    pub max_requests: Option<u64>,
    /// With --proxy: stop after this long.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "D", requires = "proxy")]
    pub duration: Option<Duration>,
    /// With --proxy: the largest request body recorded (a longer request is forwarded, not
    /// recorded), e.g. 8MiB.
    #[arg(long, value_name = "BYTES", default_value = "8MiB", requires = "proxy")]
    pub max_body: String,
}

impl RecordProxyArgs {
    /// Checks the options before anything starts (`None`: no --proxy).
    pub fn config(&self) -> Result<Option<ProxyConfig>, CliError> {
        let Some(listen) = self.proxy else {
            if self.common.upstream.is_some() {
                return Err(CliError::BadInput(
                    "--upstream goes with --proxy LISTEN (record through a proxy)".into(),
                ));
            }
            return Ok(None);
        };
        if self.max_requests == Some(0)
            || self
                .max_requests
                .is_some_and(|n| n > ringload_proxy::MAX_EXCHANGES)
        {
            return Err(CliError::BadInput(format!(
                "--max-requests {}: between 1 and {}",
                self.max_requests.unwrap_or(0),
                ringload_proxy::MAX_EXCHANGES
            )));
        }
        if let Some(d) = self.duration
            && (d.is_zero() || d > ringload_engine::MAX_RUN)
        {
            return Err(CliError::BadInput(format!(
                "--duration {}: between 1ms and 24h",
                humantime::format_duration(d)
            )));
        }
        let max_body = parse_size(&self.max_body, "--max-body")?;
        Ok(Some(ProxyConfig {
            record: Some(RecordConfig {
                max_requests: self.max_requests,
                max_body,
            }),
            ..self.common.config(listen)?
        }))
    }

    /// Runs the recording proxy until Ctrl-C, the request limit or the duration; returns the
    /// capture.
    pub fn record(&self, cfg: ProxyConfig) -> Result<ringload_recorder::Capture, CliError> {
        let interrupt = crate::lifecycle::Interrupt::install()?;
        let handle = start(cfg)?;
        let wake = SignalWake::install(&handle)?;
        let mut ends = vec!["Ctrl-C".to_string()];
        if let Some(n) = self.max_requests {
            ends.push(format!("{n} exchanges"));
        }
        if let Some(d) = self.duration {
            ends.push(humantime::format_duration(d).to_string());
        }
        crate::out::emit(&format!(
            "recording proxy listening on {}; send traffic to it; the recording ends after {}\n",
            self.common.shown(&handle),
            ends.join(" or ")
        ))?;
        let ended = handle
            .wait(self.duration.map(|d| Instant::now() + d))
            .map_err(|e| CliError::Runtime(e.to_string()))?;
        drop(wake);
        let why = match ended {
            Ended::Limit => "the request limit was reached",
            Ended::Deadline => "--duration passed",
            Ended::Woken if interrupt.is_set() => "interrupted",
            Ended::Woken => "stopped",
        };
        let stopped = handle
            .stop()
            .map_err(|e| CliError::Runtime(e.to_string()))?;
        let capture = stopped
            .capture
            .ok_or_else(|| CliError::Runtime("the proxy kept no recording".into()))?;
        crate::out::emit(&format!(
            "recording proxy stopped ({why}): {} exchanges recorded; {}\n",
            capture.exchanges.len(),
            counters(&stopped.stats)
        ))?;
        Ok(capture)
    }
}
