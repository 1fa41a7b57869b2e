//! HAR 1.2 source: browser devtools exports (Chromium, Firefox) and Playwright `recordHar`.
//!
//! Flow: the file is parsed as JSON (a syntax error reports its line and column); `log.version`
//! must be 1.2; each of `log.entries` is then read on its own, so a malformed entry is reported
//! by its index. For every entry:
//!
//! - `request.method` and `request.url` give method, scheme, authority and origin-form path
//!   (split by hand, not re-serialised by a URL library, so the path stays byte-exact; the
//!   `#fragment` is dropped, user info is dropped from the authority).
//! - `request.headers` are kept in order, minus HTTP/2 pseudo-headers (`:method`...) and
//!   `Content-Length` (the body is re-framed at replay); hop-by-hop headers are left to
//!   normalisation.
//! - The body is `postData.text`; when a tool wrote only `postData.params`, a form body is
//!   rebuilt (`application/x-www-form-urlencoded`, or `multipart/form-data` with the boundary
//!   from the content type).
//! - `startedDateTime` (RFC 3339) becomes `time_us`; `connection` (an id string, or a number)
//!   becomes the captured connection; `response.status` (when > 0) the captured status.
//! - `response.headers` are kept in order (auth detection reads `Set-Cookie` and token
//!   headers there, `--expect-header` reads values); `response.content.text` (base64-decoded
//!   when `encoding` is `base64`) is kept when it looks like JSON, within the capture's
//!   [`BodyBudget`]. Text that is not valid base64 is an error naming the entry.
//! - Entries whose URL is not http(s) (`data:`, `blob:`, `ws:`, `chrome-extension:`...) are
//!   skipped and counted.
//!
//! Exchanges are returned sorted by start time (stable, so ties keep file order); browsers
//! usually write entries in that order already.
//!
//! Child modules:
//! - `model`: the HAR JSON shape serde reads.
//! - `entry`: one entry to an [`Exchange`](crate::Exchange): URL, headers, bodies, time,
//!   connection, response.
//! - `time`: RFC 3339 date-times to microseconds (also used by the access-log source).

mod entry;
mod model;
mod time;

use std::path::Path;

use crate::error::RecordError;
use crate::exchange::{BodyBudget, Capture, Position};
use entry::exchange;
use model::{Entry, HarFile};

pub(crate) use time::{civil_to_us, parse_rfc3339_us};

/// HAR files larger than this are refused rather than read into memory.
const MAX_FILE: u64 = 2 * 1024 * 1024 * 1024;

const SKIP_NON_HTTP: &str = "non-HTTP(S) entry (data:, blob:, ws: ...)";

/// Reads a HAR 1.2 file.
pub fn read(path: &Path) -> Result<Capture, RecordError> {
    let io_err = |source| RecordError::Io {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io_err)?.len();
    if len > MAX_FILE {
        return Err(RecordError::Unsupported {
            path: path.to_path_buf(),
            message: format!("HAR file of {len} bytes is larger than the 2 GiB limit"),
        });
    }
    let bytes = crate::source::read_at_most(path, MAX_FILE).map_err(io_err)?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(RecordError::Unsupported {
            path: path.to_path_buf(),
            message: "HAR file larger than the 2 GiB limit".to_string(),
        });
    }
    parse(&bytes, path)
}

/// Parses HAR bytes; `path` is only used in errors and the description. Public for the fuzz
/// targets, which feed it bytes without a file.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Capture, RecordError> {
    let malformed = |at: Position, message: String| RecordError::Malformed {
        path: path.to_path_buf(),
        at,
        message,
    };
    let har: HarFile = serde_json::from_slice(bytes).map_err(|e| {
        let what = if e.is_syntax() || e.is_eof() {
            "invalid JSON"
        } else {
            "not a HAR file"
        };
        // serde_json ends its messages with " at line L column C": the line is the position,
        // the column is said once.
        let text = e.to_string();
        let problem = text
            .rsplit_once(" at line ")
            .map_or(text.as_str(), |(w, _)| w);
        malformed(
            Position::Line(e.line() as u64),
            format!("{what}: column {}: {problem}", e.column()),
        )
    })?;
    let version = har.log.version.unwrap_or_default();
    if !(version == "1.2" || version.starts_with("1.2.")) {
        return Err(RecordError::Unsupported {
            path: path.to_path_buf(),
            message: if version.is_empty() {
                "HAR file has no log.version (expected 1.2)".to_string()
            } else {
                format!("HAR version {version:?} is not supported (expected 1.2)")
            },
        });
    }
    let entries = har.log.entries.ok_or_else(|| RecordError::Unsupported {
        path: path.to_path_buf(),
        message: "HAR file has no log.entries".to_string(),
    })?;
    let creator = har
        .log
        .creator
        .map(|c| {
            format!(
                " by {} {}",
                c.name.unwrap_or_default(),
                c.version.unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let mut capture = Capture {
        kind: "har",
        path: path.to_path_buf(),
        description: format!("{} (HAR {version}{creator})", path.display()),
        ..Capture::default()
    };
    let total = entries.len();
    let mut budget = BodyBudget::default();
    for (i, value) in entries.into_iter().enumerate() {
        let at = Position::Entry(i as u64);
        let entry: Entry = serde_json::from_value(value)
            .map_err(|e| malformed(at.clone(), format!("invalid HAR entry: {e}")))?;
        match exchange(entry, at.clone(), &mut budget) {
            Ok(Some(ex)) => capture.exchanges.push(ex),
            Ok(None) => capture.skip(SKIP_NON_HTTP),
            Err(message) => return Err(malformed(at, message)),
        }
    }
    if capture.exchanges.is_empty() {
        return Err(RecordError::Empty {
            path: path.to_path_buf(),
            reason: if total == 0 {
                "the HAR has no entries".to_string()
            } else {
                format!("none of the {total} HAR entries is an http(s) request")
            },
        });
    }
    capture.notes.extend(budget.note());
    capture
        .exchanges
        .sort_by_key(|e| e.time_us.unwrap_or(i64::MAX));
    Ok(capture)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A HAR document holding `entries` (JSON objects, comma-separated).
    pub(super) fn har(entries: &str) -> Vec<u8> {
        format!(r#"{{"log":{{"version":"1.2","creator":{{"name":"t","version":"1"}},"entries":[{entries}]}}}}"#)
            .into_bytes()
    }

    pub(super) const P: &str = "x.har";

    #[test]
    fn errors_name_their_position() {
        let e = parse(b"{\"log\":\n {\"version\": \"1.2\",, }}", Path::new(P)).unwrap_err();
        assert!(
            matches!(&e, RecordError::Malformed { at: Position::Line(2), message, .. } if message.contains("column")),
            "{e}"
        );
        let e = parse(br#"{"log":{"version":"1.1","entries":[]}}"#, Path::new(P)).unwrap_err();
        assert!(matches!(e, RecordError::Unsupported { .. }), "{e}");
        let bytes = har(
            r#"{"startedDateTime":"2024-01-01T00:00:01Z","request":{"method":"GET","url":"http://h/"}},
                            {"startedDateTime":"2024-01-01T00:00:01Z","request":{"url":"http://h/"}}"#,
        );
        let e = parse(&bytes, Path::new(P)).unwrap_err();
        assert!(
            matches!(
                e,
                RecordError::Malformed {
                    at: Position::Entry(1),
                    ..
                }
            ),
            "{e}"
        );
        let bytes =
            har(r#"{"startedDateTime":"soon","request":{"method":"GET","url":"http://h/"}}"#);
        let e = parse(&bytes, Path::new(P)).unwrap_err();
        assert!(e.to_string().contains("entry 0"), "{e}");
        let e = parse(&har(""), Path::new(P)).unwrap_err();
        assert!(matches!(e, RecordError::Empty { .. }), "{e}");
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    const FIXTURE: &[u8] = include_bytes!("../../../tests/fixtures/chromium_playwright.har");

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let _ = parse(&bytes, Path::new("fuzz.har"));
        }

        #[test]
        fn mutated_fixture_never_panics(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>(), do_cut in any::<bool>(),
        ) {
            let mut bytes = FIXTURE.to_vec();
            for (at, v) in edits {
                let n = bytes.len();
                bytes[at % n] = v;
            }
            if do_cut {
                bytes.truncate(cut % (bytes.len() + 1));
            }
            let _ = parse(&bytes, Path::new("fuzz.har"));
        }

        #[test]
        fn any_string_in_date_or_url_fields_never_panics(date in ".{0,40}", url in ".{0,60}") {
            let _ = parse_rfc3339_us(&date);
            let _ = ringload_http1::url::split(&url);
        }
    }
}
