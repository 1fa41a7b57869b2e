//! What this machine allows a run (see `ringload_host`), mapped to CLI errors.

use ringload_engine::RunConfig;

use crate::error::CliError;

/// Check io_uring and the open-files limit before anything is sent.
pub fn prepare(cfg: &RunConfig) -> Result<(), CliError> {
    ringload_engine::check_io_uring().map_err(|e| CliError::Runtime(e.to_string()))?;
    ringload_host::raise_open_files(cfg.connections).map_err(CliError::BadInput)
}

/// The CPUs this process may use (its affinity mask); CPU 0 when it cannot be read.
pub fn allowed_cpus() -> Vec<usize> {
    let cpus = ringload_host::allowed_cpus();
    if cpus.is_empty() { vec![0] } else { cpus }
}

pub use ringload_host::connect_hint;
