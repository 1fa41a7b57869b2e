//! Vegeta-style targets files: the simplest way to describe traffic by hand.
//!
//! ```text
//! # comment
//! GET http://shop.local/api/v1/products?category=electronics
//! x-request-source: ringload
//!
//! POST http://shop.local/api/v1/cart/items
//! Content-Type: application/json
//! @bodies/cart.json
//! ```
//! A target is a `METHOD URL` line, then optional `Name: value` header lines, then an optional
//! `@path` naming a body file (relative to the targets file). Blank lines separate targets. The
//! URL is absolute (`http://host[:port]/path?query`) or origin-form (`/path`, the host comes from
//! `run --target`). Targets carry no timing or connection: they become one session, in order.

use std::path::{Path, PathBuf};

use crate::error::RecordError;
use crate::exchange::{Capture, Exchange, Position};

/// Largest body file a target may name (64 MiB): a plan holds bodies in memory.
pub const MAX_BODY: u64 = 64 << 20;
/// Largest targets file (256 MiB).
pub const MAX_FILE: u64 = 256 << 20;

/// Read a targets file.
pub fn read(path: &Path) -> Result<Capture, RecordError> {
    let io = |source| RecordError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() > MAX_FILE {
        return Err(RecordError::Unsupported {
            path: path.to_path_buf(),
            message: format!(
                "{} bytes is larger than the {MAX_FILE}-byte limit",
                meta.len()
            ),
        });
    }
    let bytes = crate::source::read_at_most(path, MAX_FILE).map_err(io)?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(RecordError::Unsupported {
            path: path.to_path_buf(),
            message: format!("larger than the {MAX_FILE}-byte limit"),
        });
    }
    let base = path.parent().unwrap_or(Path::new("."));
    parse_bytes(&bytes, path, &mut |file| read_body(base, file))
}

/// Parse the bytes of a targets file; `path` names the file in errors and `load_body` reads the
/// file an `@body` line names (an `Err` says why it cannot). Public for the fuzz targets, which
/// pass bytes and a loader that reads nothing from disk.
pub fn parse_bytes(
    bytes: &[u8],
    path: &Path,
    load_body: &mut dyn FnMut(&str) -> Result<Vec<u8>, String>,
) -> Result<Capture, RecordError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        malformed(path, line, "not valid UTF-8".into())
    })?;
    parse_with(text, path, load_body)
}

fn malformed(path: &Path, line: u64, message: String) -> RecordError {
    RecordError::Malformed {
        path: path.to_path_buf(),
        at: Position::Line(line),
        message,
    }
}

/// Parse targets text; `path` names the file in errors, `base` resolves `@body` paths.
pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Capture, RecordError> {
    parse_with(text, path, &mut |file| read_body(base, file))
}

fn parse_with(
    text: &str,
    path: &Path,
    load_body: &mut dyn FnMut(&str) -> Result<Vec<u8>, String>,
) -> Result<Capture, RecordError> {
    let mut cap = Capture {
        kind: "targets",
        path: path.to_path_buf(),
        description: path.display().to_string(),
        ..Capture::default()
    };
    let mut current: Option<Exchange> = None;
    let mut has_body = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i as u64 + 1;
        let line = raw.trim();
        if line.starts_with('#') {
            continue;
        }
        if line.is_empty() {
            if let Some(ex) = current.take() {
                cap.exchanges.push(ex);
            }
            continue;
        }
        match current.as_mut() {
            None => {
                current = Some(request_line(line, path, n)?);
                has_body = false;
            }
            Some(ex) => {
                if let Some(file) = line.strip_prefix('@') {
                    if has_body {
                        return Err(malformed(path, n, "a target has at most one @body".into()));
                    }
                    let file = file.trim();
                    if file.is_empty() {
                        return Err(malformed(
                            path,
                            n,
                            "`@` must be followed by a body file path".into(),
                        ));
                    }
                    ex.body = load_body(file)
                        .map_err(|why| malformed(path, n, format!("body file {why}")))?;
                    has_body = true;
                } else if has_body {
                    return Err(malformed(path, n, "header after the @body line".into()));
                } else if looks_like_request_line(line) {
                    // A new target without a blank line in between: accept it, as vegeta does.
                    cap.exchanges.push(current.take().expect("current is some"));
                    current = Some(request_line(line, path, n)?);
                    has_body = false;
                } else if let Some((name, value)) = line.split_once(':') {
                    let name = name.trim();
                    if name.is_empty() || !name.bytes().all(is_token) {
                        return Err(malformed(path, n, format!("invalid header name {name:?}")));
                    }
                    ex.headers
                        .push((name.to_string(), value.trim().to_string()));
                } else {
                    return Err(malformed(
                        path,
                        n,
                        format!("expected `Name: value`, `@body` or a blank line, found {line:?}"),
                    ));
                }
            }
        }
    }
    if let Some(ex) = current.take() {
        cap.exchanges.push(ex);
    }
    if cap.exchanges.is_empty() {
        return Err(RecordError::Empty {
            path: path.to_path_buf(),
            reason: "no `METHOD URL` line".into(),
        });
    }
    Ok(cap)
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn looks_like_request_line(line: &str) -> bool {
    let mut it = line.split_ascii_whitespace();
    matches!((it.next(), it.next()), (Some(m), Some(u))
        if m.bytes().all(|b| b.is_ascii_uppercase()) && (u.starts_with('/') || u.contains("://")))
}

fn request_line(line: &str, path: &Path, n: u64) -> Result<Exchange, RecordError> {
    let mut parts = line.split_ascii_whitespace();
    let method = parts.next().unwrap_or_default();
    let Some(url) = parts.next() else {
        return Err(malformed(
            path,
            n,
            format!("expected `METHOD URL`, found {line:?}"),
        ));
    };
    if let Some(extra) = parts.next() {
        return Err(malformed(
            path,
            n,
            format!("unexpected {extra:?} after the URL"),
        ));
    }
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(malformed(
            path,
            n,
            format!("invalid method {method:?} (expected e.g. GET)"),
        ));
    }
    let parts = ringload_http1::url::split(url)
        .map_err(|why| malformed(path, n, format!("invalid URL {url:?}: {why}")))?;
    Ok(Exchange {
        method: method.to_string(),
        scheme: parts.scheme,
        authority: parts.authority,
        path: parts.target,
        position: Some(Position::Line(n)),
        ..Exchange::default()
    })
}

/// Read the body file `file` (relative to `base`), at most [`MAX_BODY`] bytes; an `Err` names
/// the file and the problem.
pub(crate) fn read_body(base: &Path, file: &str) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let p: PathBuf = base.join(file);
    let fail = |what: String| format!("{}: {what}", p.display());
    let f = std::fs::File::open(&p).map_err(|e| fail(e.to_string()))?;
    let mut body = Vec::new();
    // Bounded even when the size is not known beforehand (a pipe, /dev/zero).
    f.take(MAX_BODY + 1)
        .read_to_end(&mut body)
        .map_err(|e| fail(e.to_string()))?;
    if body.len() as u64 > MAX_BODY {
        return Err(fail(format!("larger than the {MAX_BODY}-byte limit")));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Capture, RecordError> {
        parse(text, Path::new("t.txt"), Path::new("."))
    }

    #[test]
    fn targets_with_headers_and_comments() {
        let c = p("# hi\nGET http://Shop.local:8080/api/v1/products?page=1\nx-a: 1\nX-B:  two words \n\n\nDELETE /cart/7\nPOST https://h/x\n").unwrap();
        assert_eq!(c.exchanges.len(), 3);
        let e = &c.exchanges[0];
        assert_eq!(e.method, "GET");
        assert_eq!(e.authority.as_deref(), Some("shop.local:8080"));
        assert_eq!(e.path, "/api/v1/products?page=1");
        assert_eq!(
            e.headers,
            vec![
                ("x-a".into(), "1".into()),
                ("X-B".into(), "two words".into())
            ]
        );
        assert_eq!(c.exchanges[1].path, "/cart/7");
        assert_eq!(c.exchanges[2].scheme.as_deref(), Some("https"));
        assert_eq!(c.exchanges[2].position, Some(Position::Line(8)));
    }

    #[test]
    fn errors_name_the_line() {
        let e = p("GET http://h/\nnot a header\n").unwrap_err().to_string();
        assert!(e.contains("t.txt: line 2:"), "{e}");
        let e = p("\n\nget http://h/\n").unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("invalid method"), "{e}");
        let e = p("GET ftp://h/\n").unwrap_err().to_string();
        assert!(e.contains("invalid URL"), "{e}");
        let e = p("GET http://h/\n@missing-body.bin\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2") && e.contains("missing-body.bin"),
            "{e}"
        );
        assert!(matches!(
            p("# only a comment\n"),
            Err(RecordError::Empty { .. })
        ));
    }
}
