//! Hard size limits applied while decoding.
//!
//! Every size that comes from the peer is checked against one of these before it
//! can cost memory or time, so a hostile or broken peer can only make a decoder
//! fail with a typed error, never make it grow without bound.

/// The most header fields any decoder will parse, whatever [`Limits::max_headers`]
/// says. The response decoder keeps its header slots in an uninitialised array of
/// this size on the stack, so raising it costs stack space, not heap.
pub const HARD_MAX_HEADERS: usize = 256;

/// Size limits for one decoder. Plain data; build with struct update syntax:
///
/// ```
/// let limits = ringload_http1::Limits { max_headers: 32, ..Default::default() };
/// assert_eq!(limits.max_head_bytes, 64 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest start line + header section, terminator included (default 64 KiB).
    pub max_head_bytes: usize,
    /// Most header fields in one head (default 100, clamped to [`HARD_MAX_HEADERS`]).
    pub max_headers: usize,
    /// Longest chunk-size line, extensions included, line ending excluded
    /// (default 1 KiB).
    pub max_chunk_line: usize,
    /// Largest trailer section after the last chunk (default 16 KiB).
    pub max_trailer_bytes: usize,
    /// Most body bytes a retaining request decoder keeps; the rest is counted
    /// and the request is flagged as truncated (default 1 MiB).
    pub max_body_retained: usize,
    /// Most interim (1xx other than 101) responses accepted before a final
    /// response (default 16).
    pub max_interim: u16,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 64 * 1024,
            max_headers: 100,
            max_chunk_line: 1024,
            max_trailer_bytes: 16 * 1024,
            max_body_retained: 1024 * 1024,
            max_interim: 16,
        }
    }
}

impl Limits {
    /// `max_headers` as actually applied.
    pub(crate) fn header_slots(&self) -> usize {
        self.max_headers.min(HARD_MAX_HEADERS)
    }
}
