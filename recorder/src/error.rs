//! Typed errors of the recorder. Every variant names the file and, where it makes sense, the
//! position of the offending item, so the CLI can print one clear line and exit 2.

use std::path::PathBuf;

use crate::exchange::Position;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is malformed at a known position.
    #[error("{}: {at}: {message}", path.display())]
    Malformed {
        path: PathBuf,
        at: Position,
        message: String,
    },
    /// The file as a whole is not what the source reads (wrong HAR version, unsupported link
    /// type, no HTTP found...).
    #[error("{}: {message}", path.display())]
    Unsupported { path: PathBuf, message: String },
    /// A command-line option given to the recorder is invalid (bad regex, bad segment rule).
    #[error("{0}")]
    Option(String),
    /// The capture produced no request at all.
    #[error("{}: no requests found ({reason})", path.display())]
    Empty { path: PathBuf, reason: String },
    #[error(transparent)]
    Format(#[from] ringload_formats::FormatError),
}
