//! Owned requests for the recorder.
//!
//! The recorder turns reassembled TCP streams into plan entries, so it needs
//! each request as owned data. [`RequestCollector`] wraps a retaining
//! [`RequestDecoder`] and yields one [`OwnedRequest`] per complete request.
//! Allocation per request is fine here (the recorder is not on a hot path).

use crate::error::Error;
use crate::limits::Limits;
use crate::request::{BodyMode, RequestDecoder, RequestEvent, RequestHead, RequestSummary};
use crate::{Decoded, Version};

/// A complete request as owned data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRequest {
    pub method: String,
    pub target: String,
    pub version: Version,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, at most [`Limits::max_body_retained`] bytes
    /// (`summary.body_truncated` says whether it was cut; `summary.body_bytes`
    /// has the full length).
    pub body: Vec<u8>,
    pub summary: RequestSummary,
}

impl RequestHead<'_> {
    /// Copies the head into an [`OwnedRequest`] with an empty body.
    pub fn to_owned_request(&self) -> OwnedRequest {
        OwnedRequest {
            method: self.method().to_owned(),
            target: self.target().to_owned(),
            version: self.version(),
            headers: self
                .headers()
                .map(|(n, v)| (n.to_owned(), v.to_vec()))
                .collect(),
            body: Vec::new(),
            summary: RequestSummary {
                body_bytes: 0,
                wire_bytes: 0,
                body_truncated: false,
                ..self.summary_so_far()
            },
        }
    }
}

/// Decodes a request stream into [`OwnedRequest`]s (bodies retained up to
/// [`Limits::max_body_retained`]). Same buffer contract as the decoders.
#[derive(Debug, Clone)]
pub struct RequestCollector {
    dec: RequestDecoder,
    pending: Option<OwnedRequest>,
}

impl RequestCollector {
    pub fn new(limits: Limits) -> Self {
        RequestCollector {
            dec: RequestDecoder::new(limits, BodyMode::Retain),
            pending: None,
        }
    }

    /// Forgets all state (for a new stream).
    pub fn reset(&mut self) {
        self.dec.reset();
        self.pending = None;
    }

    /// Bytes consumed since creation or `reset`.
    pub fn stream_offset(&self) -> u64 {
        self.dec.stream_offset()
    }

    /// Decodes until one request is complete (`Some`) or more bytes are needed.
    pub fn decode(&mut self, buf: &[u8]) -> Result<Decoded<OwnedRequest>, Error> {
        let mut consumed = 0;
        loop {
            let d = self.dec.decode(&buf[consumed..])?;
            consumed += d.consumed;
            let summary = match d.message {
                None => {
                    return Ok(Decoded {
                        consumed,
                        message: None,
                    });
                }
                Some(RequestEvent::Head(h)) => {
                    self.pending = Some(h.to_owned_request());
                    continue;
                }
                Some(RequestEvent::Complete(s)) => s,
            };
            return Ok(Decoded {
                consumed,
                message: Some(self.finish(summary)),
            });
        }
    }

    /// End of stream: returns a request that completes exactly at EOF, `None`
    /// if idle, or [`crate::ErrorKind::UnexpectedEof`] if a request was cut.
    pub fn finish_eof(&mut self) -> Result<Option<OwnedRequest>, Error> {
        Ok(self.dec.finish_eof()?.map(|s| self.finish(s)))
    }

    fn finish(&mut self, summary: RequestSummary) -> OwnedRequest {
        let mut req = self.pending.take().unwrap_or_else(|| OwnedRequest {
            // Unreachable in practice (Complete always follows Head); keep a
            // well-formed value rather than panic.
            method: String::new(),
            target: String::new(),
            version: summary.version,
            headers: Vec::new(),
            body: Vec::new(),
            summary,
        });
        req.body = self.dec.take_body();
        req.summary = summary;
        req
    }
}
