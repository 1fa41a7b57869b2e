//! `ringload proxy` (the sidecar stand-in: forwards, adds a set latency, counts) and the
//! recording proxy source of `ringload record --proxy`: arguments -> `ringload_proxy`
//! configuration, the listening line, waiting for a signal, a limit or a deadline, and the
//! closing line with the counters.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use ringload_proxy::{ProxyConfig, ProxyHandle, ProxyStats, UpstreamTls};

use crate::connect_args::ConnectArgs;
use crate::error::{CliError, EXIT_OK};

/// Options both proxies share: where requests go and how TLS is spoken on each side.
#[derive(Debug, Args, Default, Clone)]
pub struct ProxyCommon {
    /// The service requests are forwarded to: http://host:port or https://host:port.
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// Terminate TLS from clients with this certificate chain (PEM; needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert (PEM: RSA, ECDSA or Ed25519).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// With an https:// upstream: trust this CA (PEM) besides the system's (repeatable).
    #[arg(long, value_name = "FILE")]
    pub cacert: Vec<PathBuf>,
    /// With an https:// upstream: do not verify its certificate (a warning is printed).
    #[arg(long)]
    pub insecure: bool,
    /// An exchange waiting longer than this for the upstream ends (504 when nothing of the
    /// answer went out yet).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s", value_name = "D")]
    pub upstream_timeout: Duration,
    /// Proxy executor threads.
    #[arg(long = "proxy-threads", default_value_t = 1, value_name = "N")]
    pub threads: usize,
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Address to listen on (port 0 picks a free one and prints it).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Hold each request this long before forwarding it (the cost of one more hop), e.g. 200us.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s", value_name = "D")]
    pub add_latency: Duration,
    #[command(flatten)]
    pub common: ProxyCommon,
}

impl ProxyCommon {
    /// The proxy configuration for these options; `upstream` named in errors as --upstream.
    pub fn config(&self, listen: SocketAddr) -> Result<ProxyConfig, CliError> {
        let url = self
            .upstream
            .as_deref()
            .ok_or_else(|| CliError::BadInput("--upstream URL is needed".into()))?;
        let connect = ConnectArgs {
            cacert: self.cacert.clone(),
            insecure: self.insecure,
            ..ConnectArgs::default()
        };
        let target = connect.target(url, "--upstream")?;
        let upstream_tls = match &target.tls {
            None => None,
            Some(opts) => Some(UpstreamTls {
                // Room for the TLS 1.3 tickets of 64 upstream connections reconnecting at once.
                config: ringload_engine::tls::client_config(opts, 64)
                    .map_err(CliError::BadInput)?,
                server_name: ringload_engine::tls::server_name(&opts.server_name)
                    .map_err(CliError::BadInput)?,
            }),
        };
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => {
                let read = |p: &PathBuf, flag: &str| {
                    std::fs::read(p)
                        .map_err(|e| CliError::BadInput(format!("{flag} {}: {e}", p.display())))
                };
                let (cert, key) = (read(c, "--tls-cert")?, read(k, "--tls-key")?);
                Some(
                    ringload_proxy::tls::server_config(&cert, &key).map_err(|e| {
                        CliError::BadInput(format!(
                            "--tls-cert {} / --tls-key {}: {e}",
                            c.display(),
                            k.display()
                        ))
                    })?,
                )
            }
            _ => None,
        };
        if !(1..=64).contains(&self.threads) {
            return Err(CliError::BadInput(format!(
                "--proxy-threads {}: between 1 and 64",
                self.threads
            )));
        }
        if self.upstream_timeout.is_zero() || self.upstream_timeout > Duration::from_secs(24 * 3600)
        {
            return Err(CliError::BadInput(format!(
                "--upstream-timeout {}: between 1ms and 24h",
                humantime::format_duration(self.upstream_timeout)
            )));
        }
        Ok(ProxyConfig {
            listen,
            upstream: target.addr,
            upstream_tls,
            tls,
            threads: self.threads,
            upstream_timeout: self.upstream_timeout,
            description: format!("proxy for {url}"),
            ..ProxyConfig::default()
        })
    }

    fn shown(&self, h: &ProxyHandle) -> String {
        let scheme = if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        format!(
            "{scheme}://{} -> {}",
            h.local_addr(),
            self.upstream.as_deref().unwrap_or("")
        )
    }
}

/// `8MiB`, `64KiB`, `1000` (bytes).
fn parse_size(s: &str, flag: &str) -> Result<usize, CliError> {
    let t = s.trim();
    let (num, mult) = [
        ("GiB", 1u64 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
        ("B", 1),
    ]
    .iter()
    .find_map(|(suffix, m)| t.strip_suffix(suffix).map(|n| (n.trim(), *m)))
    .unwrap_or((t, 1));
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|&n| n <= ringload_proxy::MAX_RECORDED_BODY as u64)
        .map(|n| n as usize)
        .ok_or_else(|| {
            CliError::BadInput(format!(
                "{flag} {s:?}: a size of at most 64MiB, e.g. 8MiB or 65536"
            ))
        })
}

fn start(cfg: ProxyConfig) -> Result<ProxyHandle, CliError> {
    ringload_proxy::spawn(cfg).map_err(|e| match e {
        ringload_proxy::ProxyError::Bind { .. } | ringload_proxy::ProxyError::InvalidConfig(_) => {
            CliError::BadInput(e.to_string())
        }
        e => CliError::Runtime(e.to_string()),
    })
}

/// SIGINT and SIGTERM wake the proxy's waiter (the flag, and a second signal exiting at once,
/// come from `lifecycle::Interrupt`); unregistered on drop.
struct SignalWake(Vec<signal_hook::SigId>);

impl SignalWake {
    fn install(h: &ProxyHandle) -> Result<SignalWake, CliError> {
        let err = |e: std::io::Error| CliError::Runtime(format!("installing signal handlers: {e}"));
        let mut ids = Vec::new();
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            let fd = h.stop_trigger().wake_fd().map_err(err)?;
            ids.push(signal_hook::low_level::pipe::register(sig, fd).map_err(err)?);
        }
        Ok(SignalWake(ids))
    }
}

impl Drop for SignalWake {
    fn drop(&mut self) {
        for id in self.0.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

pub fn counters(s: &ProxyStats) -> String {
    format!(
        "{} requests on {} connections: {} forwarded, {} answered by the upstream, {} refused \
         (upgrade, CONNECT, malformed), {} upstream errors, {} upstream connect errors, {} cut \
         mid-message, {} TLS handshake failures; {} bytes up, {} bytes down",
        s.requests,
        s.connections,
        s.forwarded,
        s.answered,
        s.refused,
        s.upstream_errors,
        s.connect_errors,
        s.cut,
        s.tls_failures,
        s.bytes_up,
        s.bytes_down
    )
}

/// `ringload proxy`: forward until SIGINT/SIGTERM, then print the counters; 130/143.
pub fn serve(args: &ProxyArgs) -> Result<u8, CliError> {
    if args.add_latency > ringload_proxy::MAX_ADDED_LATENCY {
        return Err(CliError::BadInput(format!(
            "--add-latency {}: at most 10s",
            humantime::format_duration(args.add_latency)
        )));
    }
    let cfg = ProxyConfig {
        added_latency: args.add_latency,
        ..args.common.config(args.listen)?
    };
    let interrupt = crate::lifecycle::Interrupt::install()?;
    let handle = start(cfg)?;
    let _wake = SignalWake::install(&handle)?;
    crate::out::emit(&format!(
        "ringload proxy listening on {} (added latency {})\n",
        args.common.shown(&handle),
        humantime::format_duration(args.add_latency)
    ))?;
    handle
        .wait(None)
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let stopped = handle
        .stop()
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    crate::out::emit(&format!("proxy: {}\n", counters(&stopped.stats)))?;
    Ok(interrupt.exit_code().unwrap_or(EXIT_OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8MiB", "--max-body").unwrap(), 8 << 20);
        assert_eq!(parse_size("65536", "--max-body").unwrap(), 65536);
        assert_eq!(parse_size("64 KiB", "--max-body").unwrap(), 64 << 10);
        assert!(parse_size("65MiB", "--max-body").is_err());
        assert!(parse_size("lots", "--max-body").is_err());
    }
}

mod record;
pub use record::RecordProxyArgs;
