//! The engine called from the CLI: the host prepared (open-file limit), errors mapped to exit
//! codes, a run that never connected reported as such, and how far a run goes for its
//! progress line.

use ringload_engine::{RunConfig, Stop};

use crate::error::CliError;

/// How far a run goes, for its progress line.
pub fn extent(cfg: &RunConfig) -> crate::lifecycle::Extent {
    match cfg.stop {
        Stop::Duration(d) => crate::lifecycle::Extent::Seconds(d.as_secs_f64()),
        Stop::Requests(n) => crate::lifecycle::Extent::Requests(n),
    }
}

/// Run the engine, its errors mapped to exit codes (bad configuration: 2, the rest: 1).
pub fn engine_run(
    plan: &ringload_formats::Plan,
    plan_file: &std::path::Path,
    cfg: &RunConfig,
) -> Result<ringload_engine::Stats, CliError> {
    crate::host::prepare(cfg)?;
    ringload_engine::run(plan, cfg).map_err(|e| match e {
        ringload_engine::EngineError::Config(m) => CliError::BadInput(m),
        ringload_engine::EngineError::Plan(m) => {
            CliError::BadInput(format!("{}: {m}", plan_file.display()))
        }
        e => CliError::Runtime(e.to_string()),
    })
}

/// A run that never reached `target`, or gave up on it, is a runtime failure (exit 1) naming
/// the last connection error; its report has been printed already.
pub fn check_connected(
    stats: &ringload_engine::Stats,
    target: &str,
    cfg: &RunConfig,
) -> Result<(), CliError> {
    // Connections refused in TLS count as failed attempts too, with the first reason given.
    let last_error = match (stats.tls_errors, stats.last_connect_error) {
        (0, Some(e)) => {
            let hint = crate::host::connect_hint(e)
                .map(|h| format!(": {h}"))
                .unwrap_or_default();
            format!(", last: {}{hint}", std::io::Error::from_raw_os_error(e))
        }
        (0, None) => String::new(),
        (n, _) => format!(
            ", {n} in TLS: {}",
            stats.tls_reasons.first().map_or("", String::as_str)
        ),
    };
    let attempts = stats.connect_errors + stats.tls_errors;
    if stats.gave_up {
        let after = cfg.give_up_after.unwrap_or_default();
        return Err(CliError::Runtime(format!(
            "stopped: no connection to {target} could be opened for {} ({attempts} attempts failed{last_error}); \
             --give-up-after sets how long to keep trying",
            humantime::format_duration(after),
        )));
    }
    if stats.connects == 0 {
        return Err(CliError::Runtime(format!(
            "no connection to {target} could be opened ({attempts} attempts failed{last_error}): is the target up?",
        )));
    }
    Ok(())
}
