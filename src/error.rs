//! The CLI's error type and the exit-code contract.
//!
//! | code | meaning |
//! |-----:|---------|
//! | 0 | ok |
//! | 1 | runtime failure (the run could not be carried out: I/O ring, threads, output) |
//! | 2 | usage or bad input (arguments, output paths, plan/capture/result files), before any load |
//! | 3 | a threshold failed (`--fail-on` gates) |
//! | 4 | the run was invalid: the generator could not keep its schedule (saturated) |
//! | 130, 143 | interrupted by SIGINT / SIGTERM: sending stopped, in-flight requests drained, the report and output files written (marked interrupted); a second signal exits at once |

use std::path::PathBuf;

pub const EXIT_OK: u8 = 0;
pub const EXIT_RUNTIME: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_THRESHOLD: u8 = 3;
pub const EXIT_INVALID_RUN: u8 = 4;

/// Text for `--help`.
pub const EXIT_CODES_HELP: &str = "Exit codes: 0 ok; 1 runtime failure; 2 usage or bad input; \
3 a threshold failed; 4 the run was invalid (generator saturated); 130/143 interrupted by \
SIGINT/SIGTERM (report and outputs written, marked interrupted).";

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A bad argument or input file; exit 2.
    #[error("{0}")]
    BadInput(String),
    #[error(transparent)]
    Record(#[from] ringload_recorder::RecordError),
    #[error("{}: {source}", path.display())]
    Plan {
        path: PathBuf,
        source: ringload_formats::FormatError,
    },
    /// A result file that cannot be read or merged, or a bad `--fail-on`; exit 2.
    #[error(transparent)]
    Results(#[from] ringload_results::ResultsError),
    /// Could not carry out the work; exit 1.
    #[error("{0}")]
    Runtime(String),
    /// Standard output was closed by its reader (`| head`): stop quietly, exit 0.
    #[error("standard output closed")]
    BrokenPipe,
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            // Every problem with a plan file (missing, unreadable, corrupt) is bad input.
            CliError::BadInput(_)
            | CliError::Record(_)
            | CliError::Plan { .. }
            | CliError::Results(_) => EXIT_BAD_INPUT,
            CliError::Runtime(_) => EXIT_RUNTIME,
            CliError::BrokenPipe => EXIT_OK,
        }
    }
}
