//! Errors of the plan and result readers and writers.

/// What went wrong reading or writing a ringload file. The CLI prefixes the file name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a ringload {expected} file (bad magic bytes)")]
    BadMagic { expected: &'static str },
    #[error("truncated file: {0}")]
    Truncated(&'static str),
    #[error(
        "unknown format version {found} (this ringload reads {kind} versions 1..={supported}); upgrade ringload"
    )]
    UnknownVersion {
        kind: &'static str,
        found: u16,
        supported: u16,
    },
    #[error("file needs features this ringload does not have (required flags {0:#06x})")]
    UnknownRequiredFlags(u16),
    #[error("payload length {0} bytes is larger than the {1} bytes a ringload file may hold")]
    TooLarge(u64, u64),
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x} (file corrupted)")]
    Checksum { stored: u32, computed: u32 },
    #[error("trailing bytes after the checksum")]
    TrailingBytes,
    /// The payload does not decode: the message starts with the file byte where it stopped.
    #[error("{0}")]
    Decode(String),
    #[error("payload does not encode: {0}")]
    Encode(String),
    #[error("invalid plan: {0}")]
    Invalid(String),
}
