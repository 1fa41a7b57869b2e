//! `ringload target`: the built-in calibration server, in the foreground.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use crate::error::CliError;

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Address to listen on (port 0 picks a free one and prints it).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Executor threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Stop answering every so often (coordinated-omission demos), e.g. 10s.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub stall_every: Option<Duration>,
    /// How long each stall lasts.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "500ms")]
    pub stall_for: Duration,
}

pub fn serve(args: &TargetArgs) -> Result<(), CliError> {
    let cfg = ringload_target::TargetConfig {
        listen: args.listen,
        threads: args.threads,
        stall_every: args.stall_every,
        stall_for: args.stall_for,
        ..ringload_target::TargetConfig::default()
    };
    cfg.validate()
        .map_err(|e| CliError::BadInput(e.to_string()))?;
    let stats = ringload_target::run(cfg, |addr| {
        // Nowhere to report a failed write from inside the callback; the server runs anyway.
        let _ = crate::out::emit(&format!("ringload target listening on http://{addr}\n"));
    })
    .map_err(|e| CliError::Runtime(e.to_string()))?;
    crate::out::emit(&format!(
        "served {} requests on {} connections\n",
        stats.requests, stats.connections
    ))?;
    Ok(())
}
