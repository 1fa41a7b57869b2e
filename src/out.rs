//! Standard output for the CLI: write errors are errors (a closed pipe ends the program quietly,
//! as `ringload inspect plan | head` should), never a panic.

use std::io::Write;

use crate::error::CliError;

/// Write `text` to standard output and flush it.
pub fn emit(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(CliError::BrokenPipe),
        Err(e) => Err(CliError::Runtime(format!(
            "cannot write to standard output: {e}"
        ))),
    }
}
