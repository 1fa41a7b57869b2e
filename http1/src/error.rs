//! Typed decoding errors.
//!
//! [`Error`] is small and `Copy` so the engine's hot path can return and store it
//! without allocating. It names what is wrong ([`ErrorKind`]), a short static
//! detail, and the stream offset (bytes since the decoder was created or reset)
//! where the problem was found. Any error means the framing of the connection is
//! lost: the decoder stays failed (repeating the error) until `reset`.

use std::fmt;

/// What went wrong. Stable, cheap to match on.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The start line plus headers exceeded [`crate::Limits::max_head_bytes`].
    HeadTooLarge,
    /// More header fields than [`crate::Limits::max_headers`].
    TooManyHeaders,
    /// The start line or a header field is malformed (not HTTP/1.x).
    InvalidHead,
    /// Content-Length is not a plain decimal number, overflows, or several
    /// Content-Length values disagree.
    InvalidContentLength,
    /// Transfer-Encoding that cannot frame the message (e.g. a request whose
    /// final coding is not `chunked`, or `chunked` applied twice).
    InvalidTransferEncoding,
    /// Both Transfer-Encoding and Content-Length are present (a request
    /// smuggling / response splitting vector; rejected rather than guessed).
    ConflictingFraming,
    /// A chunk-size line is malformed, its size overflows, or the CRLF after
    /// chunk data or in the trailer section is missing.
    InvalidChunk,
    /// A chunk-size line is longer than [`crate::Limits::max_chunk_line`].
    ChunkLineTooLong,
    /// The trailer section exceeded [`crate::Limits::max_trailer_bytes`].
    TrailersTooLarge,
    /// More interim 1xx responses than [`crate::Limits::max_interim`].
    TooManyInterim,
    /// The connection ended inside a message.
    UnexpectedEof,
}

impl ErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            ErrorKind::HeadTooLarge => "message head too large",
            ErrorKind::TooManyHeaders => "too many header fields",
            ErrorKind::InvalidHead => "invalid message head",
            ErrorKind::InvalidContentLength => "invalid Content-Length",
            ErrorKind::InvalidTransferEncoding => "invalid Transfer-Encoding",
            ErrorKind::ConflictingFraming => "both Transfer-Encoding and Content-Length",
            ErrorKind::InvalidChunk => "invalid chunked framing",
            ErrorKind::ChunkLineTooLong => "chunk-size line too long",
            ErrorKind::TrailersTooLarge => "trailer section too large",
            ErrorKind::TooManyInterim => "too many interim 1xx responses",
            ErrorKind::UnexpectedEof => "connection closed inside a message",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decoding error: kind, static detail and stream offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{kind} ({detail}) at stream byte {offset}")]
pub struct Error {
    kind: ErrorKind,
    detail: &'static str,
    offset: u64,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, detail: &'static str, offset: u64) -> Self {
        Error {
            kind,
            detail,
            offset,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// A short human-readable precision, e.g. `"chunk size overflows u64"`.
    pub fn detail(&self) -> &'static str {
        self.detail
    }

    /// Offset in the byte stream (counted from decoder creation or the last
    /// `reset`) at which the problem was detected. For head errors reported by
    /// the head parser this is the first byte of the offending head.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

/// An error located relative to the current input slice; converted to an
/// [`Error`] once the caller knows the slice's stream offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LocalError {
    pub kind: ErrorKind,
    pub detail: &'static str,
    pub at: usize,
}

impl LocalError {
    pub(crate) fn new(kind: ErrorKind, detail: &'static str, at: usize) -> Self {
        LocalError { kind, detail, at }
    }

    pub(crate) fn at_stream(self, base: u64) -> Error {
        Error::new(self.kind, self.detail, base.saturating_add(self.at as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_kind_detail_and_offset() {
        let e = Error::new(ErrorKind::InvalidChunk, "chunk size overflows u64", 42);
        assert_eq!(
            e.to_string(),
            "invalid chunked framing (chunk size overflows u64) at stream byte 42"
        );
        let l = LocalError::new(ErrorKind::HeadTooLarge, "x", 3).at_stream(10);
        assert_eq!(l.offset(), 13);
        assert_eq!(l.kind(), ErrorKind::HeadTooLarge);
    }
}
