//! What this machine allows a run (see `ringload_engine::host`), mapped to CLI errors.

use ringload_engine::RunConfig;

use crate::error::CliError;

/// Check io_uring and the open-files limit before anything is sent.
pub fn prepare(cfg: &RunConfig) -> Result<(), CliError> {
    ringload_engine::check_io_uring().map_err(|e| CliError::Runtime(e.to_string()))?;
    ringload_engine::host::raise_open_files(cfg.connections).map_err(CliError::BadInput)
}

pub use ringload_engine::host::connect_hint;
