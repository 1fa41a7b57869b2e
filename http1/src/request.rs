//! [`RequestDecoder`]: frames a stream of (pipelined) HTTP/1.x requests.
//!
//! Each request produces two events: [`RequestEvent::Head`] as soon as the head
//! is complete (a borrowed, allocation-free view: the target server routes on
//! it and can send `100 Continue` before the body arrives), then
//! [`RequestEvent::Complete`] once the body has been read. A request without a
//! body completes on the next call, which consumes nothing. The body is either
//! discarded ([`BodyMode::Discard`], the server) or kept up to
//! [`Limits::max_body_retained`] ([`BodyMode::Retain`], the recorder; longer
//! bodies are cut and flagged, not an error, so a capture keeps going).

use std::mem::MaybeUninit;

use crate::body::BodyDecoder;
use crate::chunked::ChunkedDecoder;
use crate::error::{Error, ErrorKind, LocalError};
use crate::head::{self, Fields, HeadScanner, Scan};
use crate::limits::{HARD_MAX_HEADERS, Limits};
use crate::{Decoded, Framing, Version};

/// What to do with request bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyMode {
    /// Count and drop body bytes (no buffering).
    #[default]
    Discard,
    /// Keep up to [`Limits::max_body_retained`] bytes; see
    /// [`RequestDecoder::body`]. Longer bodies set
    /// [`RequestSummary::body_truncated`].
    Retain,
}

/// What one complete request looked like. Small and `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestSummary {
    pub version: Version,
    /// The connection may carry another request after this one: HTTP/1.1
    /// without `Connection: close`, or HTTP/1.0 with `keep-alive` (and no
    /// Transfer-Encoding, which RFC 9112 §6.1 treats as faulty in 1.0).
    pub keep_alive: bool,
    /// `Expect: 100-continue` was present.
    pub expect_continue: bool,
    pub framing: Framing,
    /// Bytes of the head (request line through blank line).
    pub head_bytes: u32,
    /// Payload bytes (chunk framing excluded), whether retained or not.
    pub body_bytes: u64,
    /// Every byte this request took from the stream (blank lines, head, body
    /// with chunk framing and trailers).
    pub wire_bytes: u64,
    /// [`BodyMode::Retain`] only: the body exceeded the retention cap and
    /// [`RequestDecoder::body`] holds only its beginning.
    pub body_truncated: bool,
}

impl RequestSummary {
    const START: RequestSummary = RequestSummary {
        version: Version::Http11,
        keep_alive: true,
        expect_continue: false,
        framing: Framing::Empty,
        head_bytes: 0,
        body_bytes: 0,
        wire_bytes: 0,
        body_truncated: false,
    };
}

/// Where one header field lies inside the head bytes.
#[derive(Debug, Clone, Copy)]
struct Span {
    name: (u32, u32),
    value: (u32, u32),
}

/// A borrowed view of a complete request head; no allocation.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    raw: &'a [u8],
    method: &'a str,
    target: &'a str,
    spans: &'a [Span],
    content_length: Option<u64>,
    summary: RequestSummary,
}

impl<'a> RequestHead<'a> {
    /// The method token, e.g. `GET`.
    pub fn method(&self) -> &'a str {
        self.method
    }
    /// The request target as sent (origin-form `/p?q`, absolute-form, `*`, ...).
    pub fn target(&self) -> &'a str {
        self.target
    }
    /// The target up to (excluding) the first `?`.
    pub fn path(&self) -> &'a str {
        self.target.split_once('?').map_or(self.target, |(p, _)| p)
    }
    /// The part of the target after the first `?`, if any.
    pub fn query(&self) -> Option<&'a str> {
        self.target.split_once('?').map(|(_, q)| q)
    }
    pub fn version(&self) -> Version {
        self.summary.version
    }
    /// See [`RequestSummary::keep_alive`].
    pub fn keep_alive(&self) -> bool {
        self.summary.keep_alive
    }
    /// `Expect: 100-continue` was sent: a server should answer `100 Continue`
    /// (or a final status) before waiting for the body.
    pub fn expect_continue(&self) -> bool {
        self.summary.expect_continue
    }
    pub fn framing(&self) -> Framing {
        self.summary.framing
    }
    /// The Content-Length, if the request has one.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }
    /// The raw head bytes (request line through blank line).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
    pub fn header_count(&self) -> usize {
        self.spans.len()
    }
    /// Header fields in order, as `(name, value)` (value without surrounding
    /// whitespace; names as sent).
    pub fn headers(&self) -> HeaderIter<'a> {
        HeaderIter {
            raw: self.raw,
            spans: self.spans.iter(),
        }
    }
    /// Version, keep-alive, expect-continue, framing and head size as known
    /// from the head (body counts still zero).
    pub(crate) fn summary_so_far(&self) -> RequestSummary {
        self.summary
    }
    /// The first value of the named field (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers()
            .find(|(n, _)| n.len() == name.len() && n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// Iterator over a [`RequestHead`]'s fields.
#[derive(Debug, Clone)]
pub struct HeaderIter<'a> {
    raw: &'a [u8],
    spans: std::slice::Iter<'a, Span>,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = (&'a str, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let s = self.spans.next()?;
        let get = |(start, len): (u32, u32)| {
            let (start, len) = (start as usize, len as usize);
            self.raw.get(start..start + len).unwrap_or_default()
        };
        // httparse validated names as tokens (ASCII), so this cannot fail.
        let name = std::str::from_utf8(get(s.name)).unwrap_or_default();
        Some((name, get(s.value)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

/// An event from [`RequestDecoder::decode`].
#[derive(Debug, Clone, Copy)]
pub enum RequestEvent<'a> {
    /// A head is complete (its bytes are included in `consumed`).
    Head(RequestHead<'a>),
    /// The request's body is complete; the request is done.
    Complete(RequestSummary),
}

#[derive(Debug, Clone)]
enum State {
    Head,
    Body(BodyDecoder),
    Failed(Error),
}

/// What `decode_inner` found, without borrowing the decoder.
enum Step<'b> {
    Head {
        raw: &'b [u8],
        method: &'b str,
        target: &'b str,
        content_length: Option<u64>,
    },
    Complete(RequestSummary),
}

/// Sans-IO decoder for a stream of HTTP/1.x requests on one connection.
///
/// Same buffer contract as [`crate::ResponseDecoder`]: drop `consumed` bytes,
/// pass the rest again followed by new bytes; at most one event per call.
#[derive(Debug, Clone)]
pub struct RequestDecoder {
    limits: Limits,
    mode: BodyMode,
    config: httparse::ParserConfig,
    state: State,
    scanner: HeadScanner,
    pos: u64,
    lead: usize,
    head_pending: bool,
    cur: RequestSummary,
    /// Header positions of the last head; capacity reserved once.
    spans: Vec<Span>,
    /// Retained body of the current request ([`BodyMode::Retain`]).
    body: Vec<u8>,
}

impl RequestDecoder {
    pub fn new(limits: Limits, mode: BodyMode) -> Self {
        RequestDecoder {
            limits,
            mode,
            config: httparse::ParserConfig::default(),
            state: State::Head,
            scanner: HeadScanner::default(),
            pos: 0,
            lead: 0,
            head_pending: false,
            cur: RequestSummary::START,
            spans: Vec::with_capacity(limits.header_slots()),
            body: Vec::new(),
        }
    }

    /// Forgets all state (for a new connection).
    pub fn reset(&mut self) {
        self.state = State::Head;
        self.scanner.reset();
        self.pos = 0;
        self.lead = 0;
        self.head_pending = false;
        self.cur = RequestSummary::START;
        self.spans.clear();
        self.body.clear();
    }

    /// True between requests: no head or body bytes are pending.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Head) && !self.head_pending
    }

    /// Bytes consumed since creation or `reset`.
    pub fn stream_offset(&self) -> u64 {
        self.pos
    }

    /// The retained body of the request that last completed (or is in
    /// progress). Empty in [`BodyMode::Discard`]. Cleared when the next head
    /// is parsed.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Moves the retained body out (leaving an empty buffer).
    pub fn take_body(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.body)
    }

    /// Decodes from `buf`; see the buffer contract on the type. `message:
    /// None` means more bytes are needed (`consumed` may still be > 0).
    pub fn decode<'a>(&'a mut self, buf: &'a [u8]) -> Result<Decoded<RequestEvent<'a>>, Error> {
        if let State::Failed(e) = self.state {
            return Err(e);
        }
        let mut consumed = 0;
        match self.decode_inner(buf, &mut consumed) {
            Ok(step) => {
                self.pos += consumed as u64;
                let message = step.map(|s| match s {
                    Step::Complete(summary) => RequestEvent::Complete(summary),
                    Step::Head {
                        raw,
                        method,
                        target,
                        content_length,
                    } => RequestEvent::Head(RequestHead {
                        raw,
                        method,
                        target,
                        spans: &self.spans,
                        content_length,
                        summary: self.cur,
                    }),
                });
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

    /// Tells the decoder the peer closed the connection. `Ok(None)` if idle;
    /// `Ok(Some(..))` if the current request was complete but its `Complete`
    /// event not yet collected; otherwise [`ErrorKind::UnexpectedEof`].
    pub fn finish_eof(&mut self) -> Result<Option<RequestSummary>, Error> {
        let err = match &self.state {
            State::Failed(e) => return Err(*e),
            State::Head if self.head_pending => Error::new(
                ErrorKind::UnexpectedEof,
                "connection closed inside a request head",
                self.pos,
            ),
            State::Head => return Ok(None),
            State::Body(b) if b.complete_at_eof() => return Ok(Some(self.complete())),
            State::Body(_) => Error::new(
                ErrorKind::UnexpectedEof,
                "connection closed inside a request body",
                self.pos,
            ),
        };
        self.state = State::Failed(err);
        Err(err)
    }

    fn complete(&mut self) -> RequestSummary {
        let s = self.cur;
        self.cur = RequestSummary::START;
        self.state = State::Head;
        self.lead = 0;
        s
    }

    fn decode_inner<'b>(
        &mut self,
        buf: &'b [u8],
        consumed: &mut usize,
    ) -> Result<Option<Step<'b>>, LocalError> {
        match &mut self.state {
            State::Failed(e) => Err(LocalError::new(e.kind(), e.detail(), 0)),
            State::Body(body) => {
                let (cap, mode) = (self.limits.max_body_retained, self.mode);
                let kept = &mut self.body;
                let truncated = &mut self.cur.body_truncated;
                let p = body
                    .decode(&buf[*consumed..], |data| {
                        if mode == BodyMode::Retain {
                            let take = cap.saturating_sub(kept.len()).min(data.len());
                            kept.extend_from_slice(&data[..take]);
                            *truncated |= take < data.len();
                        }
                    })
                    .map_err(|e| shift(e, *consumed))?;
                *consumed += p.consumed;
                self.cur.body_bytes = self.cur.body_bytes.saturating_add(p.data);
                self.cur.wire_bytes = self.cur.wire_bytes.saturating_add(p.consumed as u64);
                Ok(p.done.then(|| Step::Complete(self.complete())))
            }
            State::Head => {
                if self.scanner.at_start() {
                    let skip = head::skip_blank_lines(
                        &buf[*consumed..],
                        &mut self.lead,
                        self.limits.max_head_bytes,
                        "too many blank lines before a request",
                        *consumed,
                    )?;
                    *consumed += skip;
                    self.cur.wire_bytes += skip as u64;
                }
                let rest = &buf[*consumed..];
                if rest == b"\r" {
                    // Maybe the start of a blank line: wait, without scanning,
                    // so blank-line skipping still applies.
                    self.head_pending = true;
                    return Ok(None);
                }
                if rest.first().is_some_and(|&b| !head::is_tchar(b)) {
                    return Err(LocalError::new(
                        ErrorKind::InvalidHead,
                        "request does not start with a method token",
                        *consumed,
                    ));
                }
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
                let raw = &rest[..end];
                let step = self.parse_head(raw).map_err(|e| shift(e, *consumed))?;
                self.scanner.reset();
                self.head_pending = false;
                *consumed += end;
                self.cur.wire_bytes += end as u64;
                Ok(Some(step))
            }
        }
    }

    fn check_start_line(&self, partial: &[u8]) -> Result<(), LocalError> {
        let mut slots: [MaybeUninit<httparse::Header<'_>>; HARD_MAX_HEADERS] =
            [const { MaybeUninit::uninit() }; HARD_MAX_HEADERS];
        let mut req = httparse::Request::new(&mut []);
        let n = self.limits.header_slots();
        match self
            .config
            .parse_request_with_uninit_headers(&mut req, partial, &mut slots[..n])
        {
            Ok(_) => Ok(()),
            Err(e) => Err(head::httparse_error(e, 0)),
        }
    }

    /// Parses a complete head, records header spans and the framing, and
    /// switches to the body state.
    fn parse_head<'b>(&mut self, raw: &'b [u8]) -> Result<Step<'b>, LocalError> {
        let mut slots: [MaybeUninit<httparse::Header<'b>>; HARD_MAX_HEADERS] =
            [const { MaybeUninit::uninit() }; HARD_MAX_HEADERS];
        let mut req = httparse::Request::new(&mut []);
        let n = self.limits.header_slots();
        match self
            .config
            .parse_request_with_uninit_headers(&mut req, raw, &mut slots[..n])
        {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => {
                return Err(LocalError::new(
                    ErrorKind::InvalidHead,
                    "unterminated head",
                    0,
                ));
            }
            Err(e) => return Err(head::httparse_error(e, 0)),
        }
        let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version)
        else {
            return Err(LocalError::new(
                ErrorKind::InvalidHead,
                "incomplete request line",
                0,
            ));
        };
        let version = if version == 0 {
            Version::Http10
        } else {
            Version::Http11
        };
        let mut fields = Fields::default();
        self.spans.clear();
        for h in req.headers.iter() {
            let v_at = head::offset_in(raw, h.value);
            fields.add(h.name, h.value, v_at)?;
            // Offsets fit u32: heads are capped far below 4 GiB by the scanner.
            let n_at = head::offset_in(raw, h.name.as_bytes());
            self.spans.push(Span {
                name: (n_at as u32, h.name.len() as u32),
                value: (v_at as u32, h.value.len() as u32),
            });
        }
        let bad = |kind, detail| Err(LocalError::new(kind, detail, 0));
        if fields.te_present && fields.content_length.is_some() {
            return bad(
                ErrorKind::ConflictingFraming,
                "both Transfer-Encoding and Content-Length",
            );
        }
        let (framing, body) = if fields.te_present {
            // A request body must be delimited: chunked, exactly once, last
            // (RFC 9112 §6.3 rule 4).
            if fields.te_chunked_count != 1 || !fields.te_chunked_last {
                return bad(
                    ErrorKind::InvalidTransferEncoding,
                    "final transfer coding of a request is not chunked",
                );
            }
            let c = ChunkedDecoder::new(self.limits.max_chunk_line, self.limits.max_trailer_bytes);
            (Framing::Chunked, BodyDecoder::Chunked(c))
        } else if let Some(n) = fields.content_length {
            (Framing::Length, BodyDecoder::Length(n))
        } else {
            (Framing::Empty, BodyDecoder::Length(0))
        };
        let http10 = version == Version::Http10;
        self.cur.version = version;
        self.cur.framing = framing;
        self.cur.expect_continue = fields.expect_continue;
        self.cur.head_bytes = u32::try_from(raw.len()).unwrap_or(u32::MAX);
        // HTTP/1.0 persists only on request, and Transfer-Encoding in 1.0 is
        // faulty framing (RFC 9112 §6.1): close after it.
        let close = fields.conn_close || (http10 && (!fields.conn_keep_alive || fields.te_present));
        self.cur.keep_alive = !close;
        self.lead = 0;
        self.body.clear();
        self.state = State::Body(body);
        Ok(Step::Head {
            raw,
            method,
            target,
            content_length: fields.content_length,
        })
    }
}

fn shift(e: LocalError, by: usize) -> LocalError {
    LocalError::new(e.kind, e.detail, e.at + by)
}
