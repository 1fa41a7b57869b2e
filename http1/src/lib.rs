//! Sans-IO HTTP/1.1 message framing for ringload.
//!
//! This crate turns a byte stream into message boundaries and a few facts about
//! each message. It never performs I/O, never reads the clock, never buffers a
//! body it was not asked to keep, and caps every size it reads from the peer
//! ([`Limits`]). It is shared by:
//!
//! - the **engine** (pipelined load-generator client): [`ResponseDecoder`],
//!   which allocates nothing per response and returns a `Copy`
//!   [`ResponseSummary`]; selected header values are captured into buffers
//!   allocated once ([`ResponseDecoder::with_captures`]), and the first bytes of
//!   error bodies may be kept for a look ([`ResponseDecoder::sniff_error_bodies`]);
//! - the **recorder** (reassembled TCP streams): [`RequestCollector`] yields
//!   [`OwnedRequest`]s (method, target, headers, body up to a cap), and
//!   [`ResponseDecoder`] pairs statuses with them;
//! - the **target server**: [`RequestDecoder`] in [`BodyMode::Discard`] gives a
//!   borrowed [`RequestHead`] view (path, query, headers, keep-alive) and then a
//!   `Copy` [`RequestSummary`] when the body has been skipped.
//!
//! # The push-bytes flow
//!
//! The caller owns the buffer. Each `decode(buf)` consumes a prefix of `buf`
//! and says how many bytes ([`Decoded::consumed`]); the caller drops them and
//! passes what is left, plus new bytes, next time. A head is only consumed once
//! it is complete, so until then `consumed` is 0 and the same bytes come back
//! with more appended; the decoder remembers how far it searched for the end of
//! the head and only scans the new tail (see the `head` module), so a head
//! arriving one byte at a time costs linear, not quadratic, time. Bodies are
//! consumed as they arrive. At most one message completes per call; pipelined
//! messages come out one call after another. A partial message is a normal
//! outcome (`message: None`), never an error. Any [`Error`] means the framing
//! is lost: close the connection (the decoder repeats the error until `reset`).
//!
//! ```
//! use ringload_http1::{Framing, Limits, ResponseDecoder, ResponseTo};
//!
//! let mut dec = ResponseDecoder::new(Limits::default());
//! let mut buf: Vec<u8> = Vec::new();
//! let mut done = Vec::new();
//! // Two pipelined responses arriving in awkward pieces.
//! for piece in [&b"HTTP/1.1 200 OK\r\nContent-Le"[..], b"ngth: 5\r\n\r\nhel",
//!               b"loHTTP/1.1 204 No Content\r\n\r\n"] {
//!     buf.extend_from_slice(piece);
//!     loop {
//!         let d = dec.decode(&buf, ResponseTo::NonHead).expect("valid stream");
//!         buf.drain(..d.consumed);
//!         match d.message {
//!             Some(summary) => done.push(summary),
//!             None => break, // need more bytes
//!         }
//!     }
//! }
//! assert_eq!(done.len(), 2);
//! assert_eq!((done[0].status, done[0].body_bytes, done[0].framing), (200, 5, Framing::Length));
//! assert_eq!((done[1].status, done[1].close), (204, false));
//! assert!(buf.is_empty());
//! assert_eq!(dec.finish_eof(), Ok(None)); // clean close between responses
//! ```
//!
//! Modules: `limits` (caps), `error` (typed errors), `head` (incremental head
//! detection and header-field interpretation), `chunked` and `body` (body
//! framing), `capture` (inline header captures), `response`, `request`
//! (decoders) and `owned` (the recorder's owned requests).

mod body;
mod capture;
mod chunked;
mod error;
mod head;
mod limits;
mod owned;
mod request;
mod response;
pub mod url;

pub use capture::{CAPTURE_VALUE_CAP, CaptureSet, CaptureSpec, Captured, MAX_CAPTURE_VALUE_CAP};
pub use error::{Error, ErrorKind};
pub use limits::{HARD_MAX_HEADERS, Limits};
pub use owned::{OwnedRequest, RequestCollector};
pub use request::{
    BodyMode, HeaderIter, RequestDecoder, RequestEvent, RequestHead, RequestSummary,
};
pub use response::{KeptResponse, MAX_BODY_SNIFF, ResponseDecoder, ResponseSummary, ResponseTo};

/// Protocol version of a parsed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// HTTP/1.0: connections close after each message unless `keep-alive`.
    Http10,
    /// HTTP/1.1: persistent connections unless `Connection: close`.
    Http11,
}

/// How a message body is delimited (RFC 9112 §6.3).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// No body: HEAD response, 1xx/204/304, or a request without
    /// Content-Length and Transfer-Encoding.
    Empty,
    /// `Content-Length` (possibly 0).
    Length,
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Response body that ends when the connection closes.
    UntilClose,
}

/// The outcome of one `decode` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<T> {
    /// Bytes of the input taken; drop them before the next call.
    pub consumed: usize,
    /// `Some` when a message (or, for [`RequestDecoder`], an event) is
    /// complete; `None` when more bytes are needed.
    pub message: Option<T>,
}
