//! The common currency of every capture source: one HTTP request as it was seen, with what
//! of its response and context the source knows. Sources (`source::*`) produce a
//! [`Capture`]; `normalise` turns it into a plan. Sources do not template labels, pick
//! sessions, tag segments or redact: that is shared normalisation.
//!
//! Responses matter to normalisation twice: auth detection (`auth`) looks for credentials a
//! response handed out (a JSON body field, `Set-Cookie`, a header), and `--expect-header`
//! reads header values per segment. Sources that see responses (HAR, pcap) keep their header
//! fields and, through a [`BodyBudget`], JSON-looking bodies up to [`MAX_RESPONSE_BODY`]
//! bytes each and [`RESPONSE_BODY_BUDGET`] bytes per capture: a login response is a few
//! hundred bytes, and a hostile capture cannot make the recorder hold more than that.

use std::fmt;

use ringload_http1::{KeptResponse, RequestHead};

/// Where in the source an item came from, for error messages and skip reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// 1-based line number (targets files, access logs).
    Line(u64),
    /// 0-based index into `log.entries` (HAR).
    Entry(u64),
    /// 1-based packet number (pcap/pcapng), as Wireshark counts frames.
    Packet(u64),
    /// Byte offset into the file.
    Byte(u64),
    /// 1-based request number, in the order a live source (the recording proxy) saw heads.
    Request(u64),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line(n) => write!(f, "line {n}"),
            Position::Entry(n) => write!(f, "entry {n}"),
            Position::Packet(n) => write!(f, "packet {n}"),
            Position::Byte(n) => write!(f, "byte {n}"),
            Position::Request(n) => write!(f, "request {n}"),
        }
    }
}

/// One captured request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exchange {
    /// Capture time in microseconds since the Unix epoch, when the source knows it.
    /// Normalisation turns these into offsets from the first request.
    pub time_us: Option<i64>,
    /// Captured connection identity (HAR `connection`, a TCP 4-tuple's index, ...).
    pub connection: Option<u64>,
    /// Client address as text (IP only), for `--session-by client-ip`.
    pub client: Option<String>,
    /// Request method as sent (`GET`, `POST`, ...).
    pub method: String,
    /// `http` or `https` when known.
    pub scheme: Option<String>,
    /// `host[:port]` the request was addressed to (absolute URL, Host header or :authority).
    pub authority: Option<String>,
    /// Path and query, starting with `/` (origin-form).
    pub path: String,
    /// Request headers in order, names as captured. Sources drop pseudo-headers (`:method`...)
    /// and framing headers they have already applied (`Content-Length`, `Transfer-Encoding`);
    /// normalisation drops the other hop-by-hop headers.
    pub headers: Vec<(String, String)>,
    /// Decoded request body (chunked framing removed). Empty when none or unknown.
    pub body: Vec<u8>,
    /// Captured response status, when the source saw the response.
    pub status: Option<u16>,
    /// Response header fields in order, names as sent (`Set-Cookie` once per cookie). Empty
    /// when the source saw no response (targets files, access logs).
    pub response_headers: Vec<(String, String)>,
    /// The response body (de-chunked, base64 decoded), kept only when it looks like JSON and
    /// fits [`MAX_RESPONSE_BODY`] and the capture's [`BodyBudget`]; empty otherwise.
    pub response_body: Vec<u8>,
    /// Where the request starts in the source.
    pub position: Option<Position>,
}

impl Exchange {
    /// The request part of an exchange from a decoded head, as every HTTP source sees it:
    /// method, origin-form path (an absolute-form target gives the authority too), header
    /// fields as text without the framing ones (the body is re-framed at replay), authority
    /// from the target or the Host field. `None` for targets that are not a path (`*`,
    /// CONNECT's authority-form). Timing, connection, client and position are the source's.
    pub fn from_request_head(head: &RequestHead<'_>, scheme: &str) -> Option<Exchange> {
        let (target_authority, path) = split_target(head.target())?;
        let headers: Vec<(String, String)> = head
            .headers()
            .filter(|(n, _)| !is_framing_header(n))
            .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v).into_owned()))
            .collect();
        let authority = target_authority.or_else(|| {
            head.header("host")
                .map(|h| String::from_utf8_lossy(h).trim().to_string())
                .filter(|h| !h.is_empty())
        });
        Some(Exchange {
            method: head.method().to_string(),
            scheme: Some(scheme.to_string()),
            authority,
            path,
            headers,
            ..Exchange::default()
        })
    }

    /// Gives the exchange its response: the status, the header fields `kept` holds (moved
    /// out) and its body when `budget` keeps it (JSON-looking, whole, within the caps).
    pub fn attach_response(
        &mut self,
        status: u16,
        kept: &mut KeptResponse,
        budget: &mut BodyBudget,
    ) {
        self.status = Some(status);
        self.response_headers = kept
            .headers
            .drain(..)
            .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        let body = std::mem::take(&mut kept.body);
        self.response_body = budget.keep(&self.response_headers, body, kept.body_truncated);
    }
}

/// Splits a request target into (authority, origin-form path). `None` for targets that
/// are not a path (`*`, CONNECT's authority-form).
fn split_target(target: &str) -> Option<(Option<String>, String)> {
    // origin-form, or absolute-form (sent to proxies): scheme://authority/path?query
    let parts = ringload_http1::url::split(target).ok()?;
    Some((parts.authority, parts.target))
}

/// Headers a source applies itself (the body is re-framed at replay) and so drops.
fn is_framing_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("content-length")
        || name.eq_ignore_ascii_case("transfer-encoding")
        || name.eq_ignore_ascii_case("expect")
}

/// Most bytes of one response body a source keeps (login responses are far smaller).
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;
/// Most response body bytes a source keeps over one capture; later bodies are not kept.
pub const RESPONSE_BODY_BUDGET: usize = 64 * 1024 * 1024;

/// Decides which response bodies a source keeps: JSON-looking ones (a `json` content type,
/// or a body starting with `{` or `[`) that were not cut, up to [`MAX_RESPONSE_BODY`] each,
/// while the capture-wide [`RESPONSE_BODY_BUDGET`] lasts.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    left: usize,
    /// Bodies that would have been kept but the budget was spent.
    pub refused: u64,
}

impl Default for BodyBudget {
    fn default() -> Self {
        BodyBudget {
            left: RESPONSE_BODY_BUDGET,
            refused: 0,
        }
    }
}

impl BodyBudget {
    /// The body to keep for a response with these header fields: `body` itself or empty.
    /// `truncated` says the source saw only the start of it (useless to a JSON parser).
    pub fn keep(
        &mut self,
        headers: &[(String, String)],
        body: Vec<u8>,
        truncated: bool,
    ) -> Vec<u8> {
        if truncated
            || body.is_empty()
            || body.len() > MAX_RESPONSE_BODY
            || !looks_like_json(headers, &body)
        {
            return Vec::new();
        }
        if body.len() > self.left {
            self.refused += 1;
            return Vec::new();
        }
        self.left -= body.len();
        body
    }

    /// A note for the plan when bodies were refused, e.g. for `Capture::notes`.
    pub fn note(&self) -> Option<String> {
        (self.refused > 0).then(|| {
            format!(
                "{} response bodies not kept: the {} MiB budget for response bodies was spent \
                 (auth detection cannot see tokens in them)",
                self.refused,
                RESPONSE_BODY_BUDGET >> 20
            )
        })
    }
}

fn looks_like_json(headers: &[(String, String)], body: &[u8]) -> bool {
    let typed = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("content-type") && v.to_ascii_lowercase().contains("json")
    });
    typed || matches!(body.trim_ascii_start().first(), Some(b'{' | b'['))
}

/// What a source read: exchanges in capture order, plus what it skipped and why.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    /// Kind of source, e.g. `targets`, `har`, `pcap`, `access-log`.
    pub kind: &'static str,
    /// Human description, e.g. the file name; stored in the plan's metadata.
    pub description: String,
    /// The file read, named in errors about its requests (normalisation finds some).
    pub path: std::path::PathBuf,
    pub exchanges: Vec<Exchange>,
    /// Items the source skipped, counted by reason (`("non-http stream", 3)`).
    pub skipped: Vec<(String, u64)>,
    /// Facts a reader of the plan should know, e.g. "bodies absent: access logs carry none".
    pub notes: Vec<String>,
}

impl Capture {
    /// Count one skipped item under `reason`.
    pub fn skip(&mut self, reason: &str) {
        match self.skipped.iter_mut().find(|(r, _)| r == reason) {
            Some((_, n)) => *n += 1,
            None => self.skipped.push((reason.to_string(), 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_form_target() {
        assert_eq!(
            split_target("http://example.com:8080/p?q"),
            Some((Some("example.com:8080".into()), "/p?q".into()))
        );
        assert_eq!(
            split_target("HTTP://h?x=1"),
            Some((Some("h".into()), "/?x=1".into()))
        );
        assert_eq!(split_target("*"), None);
        assert_eq!(split_target("example.com:443"), None);
    }

    #[test]
    fn body_budget_keeps_small_json_only() {
        let json = vec![("Content-Type".to_string(), "application/json".to_string())];
        let mut b = BodyBudget::default();
        assert_eq!(b.keep(&json, b"{\"a\":1}".to_vec(), false), b"{\"a\":1}");
        assert_eq!(b.keep(&[], b" [1]".to_vec(), false), b" [1]");
        assert!(b.keep(&[], b"<html>".to_vec(), false).is_empty());
        assert!(
            b.keep(&json, b"{\"a\":".to_vec(), true).is_empty(),
            "cut bodies are useless"
        );
        assert!(
            b.keep(&json, vec![b'{'; MAX_RESPONSE_BODY + 1], false)
                .is_empty()
        );
        assert_eq!(b.refused, 0);
        let mut small = BodyBudget {
            left: 3,
            refused: 0,
        };
        assert!(small.keep(&json, b"{\"a\":1}".to_vec(), false).is_empty());
        assert_eq!(small.refused, 1);
        assert!(small.note().unwrap().contains("1 response bodies not kept"));
    }
}
