//! Finding, parsing and interpreting a message head.
//!
//! # Incremental head detection
//!
//! A head may arrive in many small pieces. The decoders do not consume head bytes
//! until the whole head is present (they return `consumed == 0`), so the caller
//! keeps them and passes them again, followed by the new bytes. To avoid
//! re-scanning the head from byte 0 on every push (quadratic in the number of
//! pushes), [`HeadScanner`] remembers how far it has searched for the blank line
//! that ends the head and only looks at the new tail (backing up over a
//! possibly split line ending). `httparse` runs at most twice per head: once
//! when the start line is complete (so garbage is rejected early instead of
//! after `max_head_bytes`) and once on the complete head.

use crate::error::{ErrorKind, LocalError};

/// Where the search for the end of the head stands.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HeadScanner {
    /// Bytes of the head already searched; a line feed at or after this index
    /// has not been classified yet.
    scanned: usize,
    /// The end of the start line has been seen (and reported once).
    saw_first_lf: bool,
}

/// Result of scanning the (partial) head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// The head ends at this index (exclusive): start line + fields + blank line.
    Complete(usize),
    /// More bytes are needed. `start_line_new` is true the first time the
    /// start line is seen to be complete, so the caller can validate it early.
    Partial { start_line_new: bool },
}

impl HeadScanner {
    /// True before any byte of the current head has been looked at, i.e. while
    /// leading blank lines may still be skipped.
    pub(crate) fn at_start(&self) -> bool {
        self.scanned == 0 && !self.saw_first_lf
    }

    pub(crate) fn reset(&mut self) {
        *self = HeadScanner::default();
    }

    /// Looks for the end of the head in `buf`, which must start at the head's
    /// first byte and repeat the bytes given to earlier calls for this head.
    pub(crate) fn scan(&mut self, buf: &[u8], max_head: usize) -> Result<Scan, LocalError> {
        let window = &buf[..buf.len().min(max_head)];
        let mut start_line_new = false;
        // A shorter buffer than last time breaks the contract; clamp so we
        // never index out of bounds (the result is then merely a re-scan).
        let mut i = self.scanned.min(window.len());
        while let Some(off) = window[i..].iter().position(|&b| b == b'\n') {
            let lf = i + off;
            if !self.saw_first_lf {
                self.saw_first_lf = true;
                start_line_new = true;
            }
            // httparse accepts both CRLF and bare LF line endings, so the head
            // ends at LF LF or LF CR LF.
            match window.get(lf + 1) {
                Some(b'\n') => return Ok(Scan::Complete(lf + 2)),
                Some(b'\r') => match window.get(lf + 2) {
                    Some(b'\n') => return Ok(Scan::Complete(lf + 3)),
                    Some(_) => i = lf + 1,
                    None => {
                        self.scanned = lf;
                        return self.partial(buf, max_head, start_line_new);
                    }
                },
                Some(_) => i = lf + 1,
                None => {
                    self.scanned = lf;
                    return self.partial(buf, max_head, start_line_new);
                }
            }
        }
        self.scanned = window.len();
        self.partial(buf, max_head, start_line_new)
    }

    fn partial(
        &self,
        buf: &[u8],
        max_head: usize,
        start_line_new: bool,
    ) -> Result<Scan, LocalError> {
        if !buf.is_empty() && buf.len() >= max_head {
            // The terminator cannot end within max_head bytes any more.
            return Err(LocalError::new(
                ErrorKind::HeadTooLarge,
                "no end of head within max_head_bytes",
                max_head,
            ));
        }
        Ok(Scan::Partial { start_line_new })
    }
}

/// Number of leading empty lines (CRLF or LF) at the start of `buf`. RFC 9112
/// §2.2 asks servers to ignore at least one empty line before a request line;
/// we do the same before status lines, for robustness with sloppy peers. A
/// lone trailing CR is left for the next call.
pub(crate) fn blank_prefix(buf: &[u8]) -> usize {
    let mut i = 0;
    loop {
        match (buf.get(i), buf.get(i + 1)) {
            (Some(b'\n'), _) => i += 1,
            (Some(b'\r'), Some(b'\n')) => i += 2,
            _ => return i,
        }
    }
}

/// Skips blank lines before a head (see [`blank_prefix`]), counting them in `lead` against
/// `max_head`; returns how many bytes of `buf` were skipped. `what` names the message kind in
/// the error ("request", "response").
pub(crate) fn skip_blank_lines(
    buf: &[u8],
    lead: &mut usize,
    max_head: usize,
    what: &'static str,
    at: usize,
) -> Result<usize, LocalError> {
    let skip = blank_prefix(buf);
    *lead += skip;
    if *lead > max_head {
        return Err(LocalError::new(ErrorKind::HeadTooLarge, what, at));
    }
    Ok(skip)
}

/// Maps an httparse error to ours. httparse does not say where it failed, so
/// the position is the head start (`at`).
pub(crate) fn httparse_error(e: httparse::Error, at: usize) -> LocalError {
    let (kind, detail) = match e {
        httparse::Error::TooManyHeaders => (
            ErrorKind::TooManyHeaders,
            "more header fields than max_headers",
        ),
        httparse::Error::HeaderName => (ErrorKind::InvalidHead, "invalid header name"),
        httparse::Error::HeaderValue => (ErrorKind::InvalidHead, "invalid header value"),
        httparse::Error::NewLine => (ErrorKind::InvalidHead, "invalid line ending"),
        httparse::Error::Status => (ErrorKind::InvalidHead, "invalid status code"),
        httparse::Error::Token => (ErrorKind::InvalidHead, "invalid token in start line"),
        httparse::Error::Version => (
            ErrorKind::InvalidHead,
            "invalid or unsupported HTTP version",
        ),
    };
    LocalError::new(kind, detail, at)
}

/// ASCII case-insensitive comparison against a lower-case name.
#[inline]
pub(crate) fn name_is(name: &str, lower: &str) -> bool {
    name.len() == lower.len() && name.as_bytes().eq_ignore_ascii_case(lower.as_bytes())
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Elements of a comma-separated field value, trimmed, empty ones skipped
/// (RFC 9110 §5.6.1 list rule).
fn list(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// What the framing-relevant header fields of a head say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Fields {
    pub content_length: Option<u64>,
    /// A Transfer-Encoding field was present.
    pub te_present: bool,
    /// The final transfer coding is `chunked`.
    pub te_chunked_last: bool,
    /// How many times `chunked` was listed (more than once is invalid).
    pub te_chunked_count: u32,
    pub conn_close: bool,
    pub conn_keep_alive: bool,
    pub expect_continue: bool,
}

impl Fields {
    /// Feeds one header field; `at` locates the value for error reports.
    pub(crate) fn add(&mut self, name: &str, value: &[u8], at: usize) -> Result<(), LocalError> {
        match name.len() {
            14 if name_is(name, "content-length") => self.add_content_length(value, at),
            17 if name_is(name, "transfer-encoding") => self.add_transfer_encoding(value, at),
            10 if name_is(name, "connection") => {
                for t in list(value) {
                    if t.eq_ignore_ascii_case(b"close") {
                        self.conn_close = true;
                    } else if t.eq_ignore_ascii_case(b"keep-alive") {
                        self.conn_keep_alive = true;
                    }
                }
                Ok(())
            }
            6 if name_is(name, "expect") => {
                if trim_ows(value).eq_ignore_ascii_case(b"100-continue") {
                    self.expect_continue = true;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn add_content_length(&mut self, value: &[u8], at: usize) -> Result<(), LocalError> {
        let bad = |detail| Err(LocalError::new(ErrorKind::InvalidContentLength, detail, at));
        let mut any = false;
        // Proxies may merge repeated fields into "n, n"; identical values are
        // accepted (RFC 9110 §8.6), differing ones are a framing conflict.
        for elem in value.split(|&b| b == b',') {
            let elem = trim_ows(elem);
            if elem.is_empty() {
                return bad("empty Content-Length value");
            }
            let mut n: u64 = 0;
            for &b in elem {
                if !b.is_ascii_digit() {
                    return bad("Content-Length is not a decimal number");
                }
                n = match n
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(u64::from(b - b'0')))
                {
                    Some(n) => n,
                    None => return bad("Content-Length overflows u64"),
                };
            }
            match self.content_length {
                Some(prev) if prev != n => return bad("conflicting Content-Length values"),
                _ => self.content_length = Some(n),
            }
            any = true;
        }
        if !any {
            return bad("empty Content-Length value");
        }
        Ok(())
    }

    fn add_transfer_encoding(&mut self, value: &[u8], at: usize) -> Result<(), LocalError> {
        self.te_present = true;
        let mut any = false;
        for coding in list(value) {
            // A coding may carry parameters: "gzip;q=1" -> "gzip".
            let name = trim_ows(coding.split(|&b| b == b';').next().unwrap_or(coding));
            let chunked = name.eq_ignore_ascii_case(b"chunked");
            if chunked {
                self.te_chunked_count += 1;
            }
            self.te_chunked_last = chunked;
            any = true;
        }
        if !any {
            return Err(LocalError::new(
                ErrorKind::InvalidTransferEncoding,
                "empty Transfer-Encoding",
                at,
            ));
        }
        Ok(())
    }
}

/// Byte offset of `part` inside `whole` (both from the same allocation); used
/// to turn httparse's borrowed slices into positions without unsafe code.
#[inline]
pub(crate) fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize)
        .saturating_sub(whole.as_ptr() as usize)
        .min(whole.len())
}

/// RFC 9110 `tchar`: the bytes allowed in a method token.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanner_finds_end_across_splits() {
        let head = b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nBODY";
        for split in 0..=head.len() {
            let mut s = HeadScanner::default();
            match s.scan(&head[..split], 1024).unwrap() {
                Scan::Complete(n) => assert!(split >= 25 && n == 25, "split {split}"),
                Scan::Partial { .. } => {
                    assert!(split < 25, "split {split}");
                    assert_eq!(
                        s.scan(head, 1024).unwrap(),
                        Scan::Complete(25),
                        "split {split}"
                    );
                }
            }
        }
    }

    #[test]
    fn scanner_bare_lf_and_start_line_report() {
        let mut s = HeadScanner::default();
        assert_eq!(
            s.scan(b"GET / HTTP/1.1\n", 99).unwrap(),
            Scan::Partial {
                start_line_new: true
            }
        );
        assert_eq!(
            s.scan(b"GET / HTTP/1.1\nA: b\n", 99).unwrap(),
            Scan::Partial {
                start_line_new: false
            }
        );
        assert_eq!(
            s.scan(b"GET / HTTP/1.1\nA: b\n\n", 99).unwrap(),
            Scan::Complete(21)
        );
    }

    #[test]
    fn scanner_limit() {
        let mut s = HeadScanner::default();
        let e = s.scan(b"HTTP/1.1 200 OK\r\nA: b\r\n", 10).unwrap_err();
        assert_eq!(e.kind, ErrorKind::HeadTooLarge);
        // Exactly at the limit is fine.
        let mut s = HeadScanner::default();
        assert_eq!(
            s.scan(b"HTTP/1.1 200 OK\r\n\r\n", 19).unwrap(),
            Scan::Complete(19)
        );
        let mut s = HeadScanner::default();
        assert!(s.scan(b"HTTP/1.1 200 OK\r\n\r\n", 18).is_err());
    }

    #[test]
    fn blank_prefixes() {
        assert_eq!(blank_prefix(b"\r\n\nGET"), 3);
        assert_eq!(blank_prefix(b"\r"), 0);
        assert_eq!(blank_prefix(b"\r\n\r"), 2);
        assert_eq!(blank_prefix(b"GET"), 0);
    }

    #[test]
    fn fields() {
        let mut f = Fields::default();
        f.add("Content-Length", b"5, 5", 0).unwrap();
        f.add("content-length", b" 5 ", 0).unwrap();
        assert_eq!(f.content_length, Some(5));
        assert_eq!(
            f.add("Content-Length", b"6", 7).unwrap_err(),
            LocalError::new(
                ErrorKind::InvalidContentLength,
                "conflicting Content-Length values",
                7
            )
        );
        for bad in [
            &b"-1"[..],
            b"+1",
            b"",
            b"1,",
            b"0x10",
            b"18446744073709551616",
            b"1 2",
        ] {
            let mut f = Fields::default();
            assert_eq!(
                f.add("Content-Length", bad, 0).unwrap_err().kind,
                ErrorKind::InvalidContentLength,
                "{bad:?}"
            );
        }
        let mut f = Fields::default();
        f.add("Content-Length", b"18446744073709551615", 0).unwrap();
        assert_eq!(f.content_length, Some(u64::MAX));

        let mut f = Fields::default();
        f.add("Transfer-Encoding", b"gzip", 0).unwrap();
        f.add("Transfer-Encoding", b"Chunked", 0).unwrap();
        assert!(f.te_chunked_last && f.te_chunked_count == 1);
        f.add("Transfer-Encoding", b"gzip;q=1", 0).unwrap();
        assert!(!f.te_chunked_last);
        assert!(
            Fields::default()
                .add("Transfer-Encoding", b" , ", 0)
                .is_err()
        );

        let mut f = Fields::default();
        f.add("Connection", b"Keep-Alive, Upgrade", 0).unwrap();
        f.add("Expect", b"100-Continue", 0).unwrap();
        assert!(f.conn_keep_alive && !f.conn_close && f.expect_continue);
        f.add("connection", b"close", 0).unwrap();
        assert!(f.conn_close);
    }
}
