//! The common currency of every capture source: one HTTP request as it was seen, with what
//! little of its response and context the source knows. Sources (`source::*`) produce a
//! [`Capture`]; `normalise` turns it into a plan. Sources do not template labels, pick
//! sessions, tag segments or redact: that is shared normalisation.

use std::fmt;

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
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line(n) => write!(f, "line {n}"),
            Position::Entry(n) => write!(f, "entry {n}"),
            Position::Packet(n) => write!(f, "packet {n}"),
            Position::Byte(n) => write!(f, "byte {n}"),
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
    /// Where the request starts in the source.
    pub position: Option<Position>,
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
