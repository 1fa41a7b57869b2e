//! [`ResponseDecoder`]: frames a stream of (pipelined) HTTP/1.x responses.
//!
//! Flow per response: skip leading blank lines -> find the end of the head
//! incrementally (head bytes stay unconsumed until complete) -> parse it with
//! httparse into uninitialised stack slots -> skip interim 1xx responses ->
//! choose the body framing (RFC 9112 §6.3) -> count and discard the body ->
//! return a `Copy` [`ResponseSummary`]. Nothing is allocated per response.
//!
//! The few responses a caller must read whole (a login response whose token the engine needs,
//! responses the recorder pairs with requests) are decoded with
//! [`ResponseDecoder::decode_keeping`], which also copies every header field and the body, each
//! up to a cap, into a caller-owned [`KeptResponse`].
//!
//! Besides chosen header values ([`ResponseDecoder::with_capture_specs`]), a decoder may keep the
//! first bytes of the body of error responses ([`ResponseDecoder::sniff_error_bodies`]): what a
//! proxy's own error page says (`no healthy upstream`), at most [`MAX_BODY_SNIFF`] bytes, in a
//! buffer reserved once, on the first error response.

use std::mem::MaybeUninit;

use crate::body::BodyDecoder;
use crate::capture::{CaptureSet, CaptureSpec, Captured, Captures};
use crate::chunked::ChunkedDecoder;
use crate::error::{Error, ErrorKind, LocalError};
use crate::head::{self, Fields, HeadScanner, Scan};
use crate::limits::{HARD_MAX_HEADERS, Limits};
use crate::{Decoded, Framing, Version};

/// The most body bytes [`ResponseDecoder::sniff_error_bodies`] keeps of a response.
pub const MAX_BODY_SNIFF: usize = 1024;

/// The first bytes of an error response's body, kept for a look (see
/// [`ResponseDecoder::sniff_error_bodies`]).
#[derive(Debug, Clone, Default)]
struct Sniff {
    /// Bytes kept per response (0: off).
    cap: usize,
    /// The current response is an error whose body is being kept.
    on: bool,
    /// Reserved to `cap` on the first error response, then reused.
    buf: Vec<u8>,
}

impl Sniff {
    /// A final head with `status` was parsed: start keeping its body if it is an error.
    fn start(&mut self, status: u16) {
        self.buf.clear();
        self.on = self.cap > 0 && status >= 400;
        if self.on && self.buf.capacity() < self.cap {
            self.buf.reserve_exact(self.cap);
        }
    }

    #[inline]
    fn push(&mut self, data: &[u8]) {
        let take = data.len().min(self.cap - self.buf.len());
        self.buf.extend_from_slice(&data[..take]);
    }
}

/// What the request that the response answers implies for its framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseTo {
    /// Any method but HEAD: the body is framed by the response's headers.
    #[default]
    NonHead,
    /// A HEAD request: the response never has a body, whatever its headers say.
    Head,
}

/// What one complete final response looked like. Small and `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseSummary {
    /// Status code of the final response (100..=999; never an interim 1xx,
    /// but may be 101 Switching Protocols).
    pub status: u16,
    pub version: Version,
    /// The connection must be closed after this response: `Connection: close`,
    /// HTTP/1.0 without `keep-alive`, a read-until-close body, a 101 protocol
    /// switch, or Transfer-Encoding in an HTTP/1.0 message (RFC 9112 §6.1).
    pub close: bool,
    /// How the body was delimited.
    pub framing: Framing,
    /// Bytes of the final response's head (start line through blank line).
    pub head_bytes: u32,
    /// Payload bytes (chunk framing excluded).
    pub body_bytes: u64,
    /// Every byte this response took from the stream: leading blank lines,
    /// interim responses, head, body with chunk framing and trailers.
    pub wire_bytes: u64,
    /// Interim 1xx responses (e.g. `100 Continue`) skipped before this one.
    pub interim: u16,
}

impl ResponseSummary {
    const START: ResponseSummary = ResponseSummary {
        status: 0,
        version: Version::Http11,
        close: false,
        framing: Framing::Empty,
        head_bytes: 0,
        body_bytes: 0,
        wire_bytes: 0,
        interim: 0,
    };
}

/// A response kept whole, up to caps: its header fields and its (de-chunked) body. Owned by the
/// caller and reused: [`ResponseDecoder::decode_keeping`] replaces the headers when a final head
/// is parsed and appends body bytes as they arrive; call [`KeptResponse::clear`] before the next
/// response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeptResponse {
    /// Header fields of the final head in order: name as sent, value trimmed.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Body bytes, at most `body_cap`.
    pub body: Vec<u8>,
    /// The body was longer than `body_cap` (only its start is kept).
    pub body_truncated: bool,
    /// Most body bytes kept.
    pub body_cap: usize,
}

impl KeptResponse {
    /// Keeps at most `body_cap` body bytes (header fields are bounded by the decoder's limits).
    pub fn new(body_cap: usize) -> Self {
        KeptResponse {
            body_cap,
            ..KeptResponse::default()
        }
    }

    pub fn clear(&mut self) {
        self.headers.clear();
        self.body.clear();
        self.body_truncated = false;
    }

    /// Values of every field named `name` (ASCII case-insensitive), in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    fn push_body(&mut self, data: &[u8]) {
        let room = self.body_cap.saturating_sub(self.body.len());
        let take = room.min(data.len());
        self.body.extend_from_slice(&data[..take]);
        self.body_truncated |= take < data.len();
    }
}

#[derive(Debug, Clone)]
enum State {
    /// Waiting for (the rest of) a head.
    Head,
    /// Inside the body of `ResponseDecoder::cur`.
    Body(BodyDecoder),
    /// Framing is lost; this error repeats until `reset`.
    Failed(Error),
}

/// Sans-IO decoder for a stream of HTTP/1.x responses on one connection.
///
/// # Buffer contract
///
/// `decode(buf, ..)` consumes a prefix of `buf` and reports how many bytes in
/// [`Decoded::consumed`]. The caller must drop exactly those bytes and pass
/// the remaining ones first in the next call, followed by newly received bytes.
/// While a head is incomplete nothing of it is consumed (`consumed` may be 0),
/// so the caller's buffer must be able to hold [`Limits::max_head_bytes`].
/// Each call returns after at most one final response, so pipelined responses
/// come out one per call; call again with the rest of the buffer. Body bytes are
/// consumed as they arrive and never buffered.
#[derive(Debug, Clone)]
pub struct ResponseDecoder {
    limits: Limits,
    config: httparse::ParserConfig,
    state: State,
    scanner: HeadScanner,
    /// Stream offset of the first byte of the next `buf`.
    pos: u64,
    /// Blank-line bytes skipped before the current head.
    lead: usize,
    /// Unconsumed head bytes were seen (an EOF now would cut a head).
    head_pending: bool,
    /// The response being decoded.
    cur: ResponseSummary,
    captures: Captures,
    sniff: Sniff,
}

/// What the head parser found in one head.
struct HeadInfo {
    status: u16,
    version: Version,
    fields: Fields,
}

impl ResponseDecoder {
    /// A decoder that captures no header values.
    pub fn new(limits: Limits) -> Self {
        Self::with_captures(limits, &[])
    }

    /// A decoder that, for every final response, copies the first value of each
    /// named header field (ASCII case-insensitive, up to
    /// [`crate::CAPTURE_VALUE_CAP`] bytes) into a buffer of its own; read it with
    /// [`ResponseDecoder::captured`] using the name's index in `names`.
    /// Keep the list short: every header field is compared with every name.
    pub fn with_captures(limits: Limits, names: &[&str]) -> Self {
        let specs: Vec<CaptureSpec<'_>> = names.iter().map(|n| CaptureSpec::first(n)).collect();
        Self::with_capture_specs(limits, &specs)
    }

    /// [`ResponseDecoder::with_captures`] with a size and a repeat rule per field
    /// ([`CaptureSpec`]); the buffers are allocated here, once.
    pub fn with_capture_specs(limits: Limits, specs: &[CaptureSpec<'_>]) -> Self {
        Self::with_capture_set(limits, &CaptureSet::new(specs))
    }

    /// A decoder capturing the fields of `set`, shared with other decoders (one per
    /// connection: the names are kept once, each decoder holds its values only).
    pub fn with_capture_set(limits: Limits, set: &CaptureSet) -> Self {
        ResponseDecoder {
            limits,
            config: httparse::ParserConfig::default(),
            state: State::Head,
            scanner: HeadScanner::default(),
            pos: 0,
            lead: 0,
            head_pending: false,
            cur: ResponseSummary::START,
            captures: Captures::new(set),
            sniff: Sniff::default(),
        }
    }

    /// Keep the first `bytes` (at most [`MAX_BODY_SNIFF`]) of the body of every
    /// final response with a status of 400 or more: read them with
    /// [`ResponseDecoder::error_body_prefix`]. The buffer is reserved on the first
    /// such response and reused; bodies of other responses are not looked at.
    pub fn sniff_error_bodies(mut self, bytes: usize) -> Self {
        self.sniff.cap = bytes.min(MAX_BODY_SNIFF);
        self
    }

    /// The first body bytes of the most recent final response if its status was
    /// 400 or more and [`ResponseDecoder::sniff_error_bodies`] is on (de-chunked;
    /// as much as has arrived while the body is still being decoded); empty
    /// otherwise.
    pub fn error_body_prefix(&self) -> &[u8] {
        &self.sniff.buf
    }

    /// Forgets all state (for a new connection); the capture names are kept.
    pub fn reset(&mut self) {
        self.state = State::Head;
        self.scanner.reset();
        self.pos = 0;
        self.lead = 0;
        self.head_pending = false;
        self.cur = ResponseSummary::START;
        self.captures.clear();
        self.sniff.buf.clear();
        self.sniff.on = false;
    }

    /// The value captured for `names[index]` from the most recent final response
    /// head (set when that head is parsed, i.e. also while its body is still
    /// being decoded). `None` if that response had no such field.
    pub fn captured(&self, index: usize) -> Option<Captured<'_>> {
        self.captures.get(index)
    }

    /// True between responses: no head or body bytes are pending.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Head) && !self.head_pending && self.cur.interim == 0
    }

    /// Bytes consumed since creation or `reset`.
    pub fn stream_offset(&self) -> u64 {
        self.pos
    }

    /// Decodes from `buf` (see the buffer contract on the type). `to` says what
    /// the request answered by the response being decoded was; it is read when
    /// that response's head completes.
    ///
    /// Returns `message: Some(summary)` when a final response completed;
    /// `None` means more bytes are needed (`consumed` may still be > 0).
    pub fn decode(
        &mut self,
        buf: &[u8],
        to: ResponseTo,
    ) -> Result<Decoded<ResponseSummary>, Error> {
        self.decode_with(buf, to, None)
    }

    /// [`ResponseDecoder::decode`] that also keeps the response's header fields and body (up
    /// to `keep.body_cap`) in `keep`. Pass the same `keep` for every call of one response;
    /// mixing `decode` and `decode_keeping` within a response keeps only part of its body.
    pub fn decode_keeping(
        &mut self,
        buf: &[u8],
        to: ResponseTo,
        keep: &mut KeptResponse,
    ) -> Result<Decoded<ResponseSummary>, Error> {
        self.decode_with(buf, to, Some(keep))
    }

    fn decode_with(
        &mut self,
        buf: &[u8],
        to: ResponseTo,
        keep: Option<&mut KeptResponse>,
    ) -> Result<Decoded<ResponseSummary>, Error> {
        if let State::Failed(e) = self.state {
            return Err(e);
        }
        let mut consumed = 0;
        let result = self.decode_inner(buf, to, &mut consumed, keep);
        match result {
            Ok(message) => {
                self.pos += consumed as u64;
                Ok(Decoded { consumed, message })
            }
            Err(e) => {
                // Local errors are relative to the start of `buf`.
                let e = e.at_stream(self.pos);
                self.state = State::Failed(e);
                Err(e)
            }
        }
    }

    /// Tells the decoder the connection was closed by the peer. Completes a
    /// read-until-close body (`Ok(Some(..))`); `Ok(None)` if idle; an
    /// [`ErrorKind::UnexpectedEof`] error if a head or a delimited body was cut.
    /// Call it only after `decode` was given all received bytes and returned
    /// `None` (needs more).
    pub fn finish_eof(&mut self) -> Result<Option<ResponseSummary>, Error> {
        let err = match &self.state {
            State::Failed(e) => return Err(*e),
            State::Head if self.head_pending || self.cur.interim > 0 => Error::new(
                ErrorKind::UnexpectedEof,
                "connection closed inside a response head",
                self.pos,
            ),
            State::Head => return Ok(None),
            State::Body(BodyDecoder::UntilClose) => return Ok(Some(self.complete())),
            State::Body(_) => Error::new(
                ErrorKind::UnexpectedEof,
                "connection closed inside a response body",
                self.pos,
            ),
        };
        self.state = State::Failed(err);
        Err(err)
    }

    fn complete(&mut self) -> ResponseSummary {
        let s = self.cur;
        self.cur = ResponseSummary::START;
        self.state = State::Head;
        self.lead = 0;
        s
    }

    /// The loop behind `decode`; `consumed` is advanced as bytes are taken so
    /// that errors can be located in the stream.
    fn decode_inner(
        &mut self,
        buf: &[u8],
        to: ResponseTo,
        consumed: &mut usize,
        mut keep: Option<&mut KeptResponse>,
    ) -> Result<Option<ResponseSummary>, LocalError> {
        loop {
            match &mut self.state {
                // `decode` returns early when failed; keep the error sticky anyway.
                State::Failed(e) => return Err(LocalError::new(e.kind(), e.detail(), 0)),
                State::Body(body) => {
                    let sniff = &mut self.sniff;
                    let p = match keep.as_deref_mut() {
                        None if !sniff.on => body.decode(&buf[*consumed..], |_| {}),
                        None => body.decode(&buf[*consumed..], |d| sniff.push(d)),
                        Some(k) => body.decode(&buf[*consumed..], |d| {
                            k.push_body(d);
                            if sniff.on {
                                sniff.push(d);
                            }
                        }),
                    }
                    .map_err(|e| shift(e, *consumed))?;
                    *consumed += p.consumed;
                    self.cur.body_bytes = self.cur.body_bytes.saturating_add(p.data);
                    self.cur.wire_bytes = self.cur.wire_bytes.saturating_add(p.consumed as u64);
                    return Ok(p.done.then(|| self.complete()));
                }
                State::Head => {
                    if self.scanner.at_start() {
                        let skip = head::skip_blank_lines(
                            &buf[*consumed..],
                            &mut self.lead,
                            self.limits.max_head_bytes,
                            "too many blank lines before a response",
                            *consumed,
                        )?;
                        *consumed += skip;
                        self.cur.wire_bytes += skip as u64;
                    }
                    let rest = &buf[*consumed..];
                    if rest == b"\r" {
                        // Maybe the start of a blank line: wait, without
                        // scanning, so blank-line skipping still applies.
                        self.head_pending = true;
                        return Ok(None);
                    }
                    check_prefix(rest).map_err(|e| shift(e, *consumed))?;
                    // Fast path: a head that arrives whole (the usual case) is parsed once,
                    // without the scanner. Tried only on the first look at a head, so a head
                    // arriving in pieces still costs linear time (the scanner's job).
                    let fast = if self.scanner.at_start() && !rest.is_empty() {
                        self.parse_head_prefix(
                            &rest[..rest.len().min(self.limits.max_head_bytes)],
                            keep.as_deref_mut(),
                        )
                        .map_err(|e| shift(e, *consumed))?
                    } else {
                        None
                    };
                    let (info, end) = match fast {
                        Some(parsed) => parsed,
                        None => {
                            let end = match self.scanner.scan(rest, self.limits.max_head_bytes) {
                                Err(e) => return Err(shift(e, *consumed)),
                                Ok(Scan::Partial { start_line_new }) => {
                                    if start_line_new {
                                        self.check_start_line(rest)
                                            .map_err(|e| shift(e, *consumed))?;
                                    }
                                    self.head_pending = !rest.is_empty();
                                    return Ok(None);
                                }
                                Ok(Scan::Complete(end)) => end,
                            };
                            let info = self
                                .parse_head(&rest[..end], keep.as_deref_mut())
                                .map_err(|e| shift(e, *consumed))?;
                            (info, end)
                        }
                    };
                    self.scanner.reset();
                    self.head_pending = false;
                    self.lead = 0;
                    *consumed += end;
                    self.cur.wire_bytes += end as u64;
                    if (100..200).contains(&info.status) && info.status != 101 {
                        self.cur.interim += 1;
                        if self.cur.interim > self.limits.max_interim {
                            return Err(LocalError::new(
                                ErrorKind::TooManyInterim,
                                "more interim responses than max_interim",
                                *consumed - end,
                            ));
                        }
                        continue;
                    }
                    let body = self
                        .start_final(&info, end, to)
                        .map_err(|e| LocalError::new(e.kind, e.detail, *consumed - end + e.at))?;
                    match body {
                        None => return Ok(Some(self.complete())),
                        Some(b) => self.state = State::Body(b),
                    }
                }
            }
        }
    }

    /// Early garbage detection: once the start line is complete, let httparse
    /// validate it (the head is still partial, so only errors matter).
    fn check_start_line(&self, partial: &[u8]) -> Result<(), LocalError> {
        let mut slots: [MaybeUninit<httparse::Header<'_>>; HARD_MAX_HEADERS] =
            [const { MaybeUninit::uninit() }; HARD_MAX_HEADERS];
        let mut res = httparse::Response::new(&mut []);
        let n = self.limits.header_slots();
        match self
            .config
            .parse_response_with_uninit_headers(&mut res, partial, &mut slots[..n])
        {
            Ok(_) => Ok(()),
            Err(e) => Err(head::httparse_error(e, 0)),
        }
    }

    fn parse_head(
        &mut self,
        raw: &[u8],
        keep: Option<&mut KeptResponse>,
    ) -> Result<HeadInfo, LocalError> {
        match self.parse_head_prefix(raw, keep)? {
            Some((info, _)) => Ok(info),
            // The scanner found the blank line, so httparse must be complete.
            None => Err(LocalError::new(
                ErrorKind::InvalidHead,
                "unterminated head",
                0,
            )),
        }
    }

    /// Parses a head at the start of `raw` if it is complete there: `Some((info, head
    /// length))`, or `None` when more bytes are needed. httparse reports incomplete input as
    /// Partial, never as an error, so an error here is a real one.
    fn parse_head_prefix(
        &mut self,
        raw: &[u8],
        mut keep: Option<&mut KeptResponse>,
    ) -> Result<Option<(HeadInfo, usize)>, LocalError> {
        let mut slots: [MaybeUninit<httparse::Header<'_>>; HARD_MAX_HEADERS] =
            [const { MaybeUninit::uninit() }; HARD_MAX_HEADERS];
        let mut res = httparse::Response::new(&mut []);
        let n = self.limits.header_slots();
        let len =
            match self
                .config
                .parse_response_with_uninit_headers(&mut res, raw, &mut slots[..n])
            {
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(e) => return Err(head::httparse_error(e, 0)),
            };
        let (Some(version), Some(status)) = (res.version, res.code) else {
            return Err(LocalError::new(
                ErrorKind::InvalidHead,
                "incomplete status line",
                0,
            ));
        };
        if status < 100 {
            return Err(LocalError::new(
                ErrorKind::InvalidHead,
                "status code below 100",
                0,
            ));
        }
        let version = if version == 0 {
            Version::Http10
        } else {
            Version::Http11
        };
        let is_final = !(100..200).contains(&status) || status == 101;
        let mut fields = Fields::default();
        if is_final {
            let capture = !self.captures.is_empty();
            if capture {
                self.captures.clear();
            }
            if let Some(k) = keep.as_deref_mut() {
                k.clear();
            }
            for h in res.headers.iter() {
                fields.add(h.name, h.value, head::offset_in(raw, h.value))?;
                if capture {
                    self.captures.offer(h.name, h.value);
                }
                if let Some(k) = keep.as_deref_mut() {
                    k.headers
                        .push((h.name.to_string(), h.value.trim_ascii().to_vec()));
                }
            }
        }
        Ok(Some((
            HeadInfo {
                status,
                version,
                fields,
            },
            len,
        )))
    }

    /// Records the final head in `cur` and picks the body framing
    /// (RFC 9112 §6.3). `None` means the response has no body.
    fn start_final(
        &mut self,
        info: &HeadInfo,
        head_len: usize,
        to: ResponseTo,
    ) -> Result<Option<BodyDecoder>, LocalError> {
        let f = &info.fields;
        let bad = |kind, detail| Err(LocalError::new(kind, detail, 0));
        if f.te_present && f.content_length.is_some() {
            return bad(
                ErrorKind::ConflictingFraming,
                "both Transfer-Encoding and Content-Length",
            );
        }
        if f.te_chunked_count > 1 {
            return bad(
                ErrorKind::InvalidTransferEncoding,
                "chunked applied more than once",
            );
        }
        let no_body = to == ResponseTo::Head
            || (100..200).contains(&info.status)
            || info.status == 204
            || info.status == 304;
        let (framing, body) = if no_body {
            (Framing::Empty, None)
        } else if f.te_present && f.te_chunked_last {
            let c = ChunkedDecoder::new(self.limits.max_chunk_line, self.limits.max_trailer_bytes);
            (Framing::Chunked, Some(BodyDecoder::Chunked(c)))
        } else if f.te_present {
            // A response whose final coding is not chunked ends at close.
            (Framing::UntilClose, Some(BodyDecoder::UntilClose))
        } else if let Some(n) = f.content_length {
            (Framing::Length, (n > 0).then_some(BodyDecoder::Length(n)))
        } else {
            (Framing::UntilClose, Some(BodyDecoder::UntilClose))
        };
        let http10 = info.version == Version::Http10;
        self.sniff.start(info.status);
        self.cur.status = info.status;
        self.cur.version = info.version;
        self.cur.framing = framing;
        self.cur.head_bytes = u32::try_from(head_len).unwrap_or(u32::MAX);
        self.cur.close = f.conn_close
            || (http10 && !f.conn_keep_alive)
            || (http10 && f.te_present)
            || framing == Framing::UntilClose
            || info.status == 101;
        Ok(body)
    }
}

/// Rejects a stream that cannot be the start of a status line as soon as its
/// first bytes arrive, instead of waiting for a line ending.
fn check_prefix(rest: &[u8]) -> Result<(), LocalError> {
    const PREFIX: &[u8] = b"HTTP/1.";
    let n = rest.len().min(PREFIX.len());
    if rest[..n] != PREFIX[..n] {
        let at = rest
            .iter()
            .zip(PREFIX)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        return Err(LocalError::new(
            ErrorKind::InvalidHead,
            "response does not start with HTTP/1.",
            at,
        ));
    }
    Ok(())
}

fn shift(e: LocalError, by: usize) -> LocalError {
    LocalError::new(e.kind, e.detail, e.at + by)
}
