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

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::RecordError;
use crate::exchange::{BodyBudget, Capture, Exchange, MAX_RESPONSE_BODY, Position};

/// HAR files larger than this are refused rather than read into memory.
const MAX_FILE: u64 = 2 * 1024 * 1024 * 1024;

const SKIP_NON_HTTP: &str = "non-HTTP(S) entry (data:, blob:, ws: ...)";

#[derive(Deserialize)]
struct HarFile {
    log: Log,
}

#[derive(Deserialize)]
struct Log {
    version: Option<String>,
    creator: Option<Creator>,
    entries: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct Creator {
    name: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    started_date_time: String,
    request: Request,
    response: Option<Response>,
    connection: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    method: String,
    url: String,
    #[serde(default)]
    headers: Vec<NameValue>,
    post_data: Option<PostData>,
}

#[derive(Deserialize)]
struct NameValue {
    name: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostData {
    mime_type: Option<String>,
    text: Option<String>,
    params: Option<Vec<Param>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Param {
    name: String,
    value: Option<String>,
    file_name: Option<String>,
    content_type: Option<String>,
}

#[derive(Deserialize)]
struct Response {
    status: Option<i64>,
    #[serde(default)]
    headers: Vec<NameValue>,
    content: Option<Content>,
}

#[derive(Deserialize)]
struct Content {
    text: Option<String>,
    encoding: Option<String>,
}

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

/// One entry -> exchange; `Ok(None)` for non-http(s) URLs.
fn exchange(
    entry: Entry,
    at: Position,
    budget: &mut BodyBudget,
) -> Result<Option<Exchange>, String> {
    let req = entry.request;
    // Not an http(s) URL (data:, blob:, ws:...): not replayable, skipped.
    let Ok(ringload_http1::url::UrlParts {
        scheme: Some(scheme),
        authority: Some(authority),
        target: path,
        ..
    }) = ringload_http1::url::split(&req.url)
    else {
        return Ok(None);
    };
    if req.method.is_empty() || !req.method.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("invalid request method {:?}", req.method));
    }
    let time_us = parse_rfc3339_us(&entry.started_date_time).ok_or_else(|| {
        format!(
            "startedDateTime {:?} is not an RFC 3339 date-time",
            entry.started_date_time
        )
    })?;
    let headers: Vec<(String, String)> = req
        .headers
        .into_iter()
        .filter(|h| !h.name.starts_with(':') && !h.name.eq_ignore_ascii_case("content-length"))
        .map(|h| (h.name, h.value))
        .collect();
    let body = match req.post_data {
        Some(pd) => body_of(pd, &headers),
        None => Vec::new(),
    };
    let (status, response_headers, response_body) = match entry.response {
        None => (None, Vec::new(), Vec::new()),
        Some(r) => {
            let status = r
                .status
                .filter(|s| (100..=999).contains(s))
                .map(|s| s as u16);
            let headers: Vec<(String, String)> =
                r.headers.into_iter().map(|h| (h.name, h.value)).collect();
            let body = match r.content {
                Some(c) => response_text(c)?,
                None => Vec::new(),
            };
            let body = budget.keep(&headers, body, false);
            (status, headers, body)
        }
    };
    Ok(Some(Exchange {
        time_us: Some(time_us),
        connection: entry.connection.as_ref().and_then(connection_id),
        client: None,
        method: req.method,
        scheme: Some(scheme),
        authority: Some(authority),
        path,
        headers,
        body,
        status,
        response_headers,
        response_body,
        position: Some(at),
    }))
}

/// `response.content.text`, base64-decoded when `encoding` says so. Texts far larger than a
/// kept body are not decoded (they would be dropped anyway).
fn response_text(c: Content) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let Some(text) = c.text else {
        return Ok(Vec::new());
    };
    if text.len() > MAX_RESPONSE_BODY.div_ceil(3) * 4 + 4 {
        return Ok(Vec::new());
    }
    match c.encoding.as_deref() {
        Some(e) if e.eq_ignore_ascii_case("base64") => base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| format!("response.content.text is not valid base64: {e}")),
        _ => Ok(text.into_bytes()),
    }
}

/// HAR `connection`: Chromium writes the socket id as a string; accept numbers too; any
/// other text (some tools write `host:port` or a port) is hashed so equal strings still
/// mean one connection.
fn connection_id(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => s
            .trim()
            .parse::<u64>()
            .ok()
            .or_else(|| Some(fnv1a(s.as_bytes()))),
        _ => None,
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The request body: `text` when present, else rebuilt from `params`.
fn body_of(pd: PostData, headers: &[(String, String)]) -> Vec<u8> {
    if let Some(text) = pd.text
        && (!text.is_empty() || pd.params.as_ref().is_none_or(|p| p.is_empty()))
    {
        return text.into_bytes();
    }
    let Some(params) = pd.params.filter(|p| !p.is_empty()) else {
        return Vec::new();
    };
    let mime = pd
        .mime_type
        .as_deref()
        .or_else(|| header(headers, "content-type"))
        .unwrap_or("application/x-www-form-urlencoded");
    if mime.to_ascii_lowercase().starts_with("multipart/form-data")
        && let Some(boundary) =
            boundary_of(mime).or_else(|| header(headers, "content-type").and_then(boundary_of))
    {
        let mut out = Vec::new();
        for p in &params {
            out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            let mut disp = format!("Content-Disposition: form-data; name=\"{}\"", p.name);
            if let Some(f) = &p.file_name {
                disp.push_str(&format!("; filename=\"{f}\""));
            }
            out.extend_from_slice(disp.as_bytes());
            out.extend_from_slice(b"\r\n");
            if let Some(ct) = &p.content_type {
                out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(p.value.as_deref().unwrap_or("").as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        return out;
    }
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for p in &params {
        ser.append_pair(&p.name, p.value.as_deref().unwrap_or(""));
    }
    ser.finish().into_bytes()
}

fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|part| {
        let (k, v) = part.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u32, |acc, b| {
        acc.checked_mul(10)?.checked_add(u32::from(b - b'0'))
    })
}

/// Microseconds since the epoch of a calendar date-time plus a UTC offset in seconds;
/// `None` if a field is out of range.
pub(crate) fn civil_to_us(
    (y, mo, d): (i64, u32, u32),
    (h, mi, s): (u32, u32, u32),
    micros: u32,
    offset_s: i64,
) -> Option<i64> {
    // Years beyond four digits are no capture's (and would overflow the arithmetic below).
    if !(1..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || d == 0
        || d > days_in_month(y, mo)
        || h > 23
        || mi > 59
        || s > 60
    {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s) - offset_s;
    secs.checked_mul(1_000_000)?.checked_add(i64::from(micros))
}

/// Parses an RFC 3339 date-time (`2024-05-01T12:34:56.789123Z`, `...+02:00`; `t`/`z` and a
/// space separator accepted) into microseconds since the Unix epoch. Fractions beyond
/// microseconds are truncated.
pub(crate) fn parse_rfc3339_us(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let y = i64::from(digits(&b[0..4])?);
    let mo = digits(&b[5..7])?;
    let d = digits(&b[8..10])?;
    let h = digits(&b[11..13])?;
    let mi = digits(&b[14..16])?;
    let sec = digits(&b[17..19])?;
    let mut rest = &b[19..];
    let mut micros = 0u32;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        for i in 0..6 {
            micros = micros * 10
                + frac
                    .get(i)
                    .filter(|_| i < n)
                    .map_or(0, |c| u32::from(c - b'0'));
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] => {
            let oh = i64::from(digits(&[*oh1, *oh2])?);
            let om = i64::from(digits(&[*om1, *om2])?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'-' { -o } else { o }
        }
        _ => return None,
    };
    civil_to_us((y, mo, d), (h, mi, sec), micros, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_variants() {
        assert_eq!(parse_rfc3339_us("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_us("2026-11-26T20:42:41.753Z"),
            Some(1_795_725_761_753_000)
        );
        // Same instant with an offset and nanosecond digits.
        assert_eq!(
            parse_rfc3339_us("2026-11-26T22:42:41.753000999+02:00"),
            Some(1_795_725_761_753_000)
        );
        assert_eq!(
            parse_rfc3339_us("2024-02-29t00:00:00.5-00:30"),
            Some(1_709_166_600_500_000)
        );
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T24:00:00Z",
            "yesterday",
            "",
        ] {
            assert_eq!(parse_rfc3339_us(bad), None, "{bad}");
        }
    }

    fn har(entries: &str) -> Vec<u8> {
        format!(r#"{{"log":{{"version":"1.2","creator":{{"name":"t","version":"1"}},"entries":[{entries}]}}}}"#)
            .into_bytes()
    }

    const P: &str = "x.har";

    #[test]
    fn entries_to_exchanges() {
        let bytes = har(r#"
          {"startedDateTime":"2024-01-01T00:00:01Z","connection":"42",
           "request":{"method":"POST","url":"https://h/login?next=%2F","httpVersion":"h2",
             "headers":[{"name":":method","value":"POST"},{"name":"content-length","value":"9"},
                        {"name":"content-type","value":"application/x-www-form-urlencoded"},
                        {"name":"cookie","value":"a=b"}],
             "postData":{"mimeType":"application/x-www-form-urlencoded","text":"",
                         "params":[{"name":"user","value":"al ice"},{"name":"pw","value":"&"}]}},
           "response":{"status":302}},
          {"startedDateTime":"2024-01-01T00:00:00Z",
           "request":{"method":"GET","url":"data:text/plain,hi","headers":[]},"response":{"status":200}},
          {"startedDateTime":"2024-01-01T00:00:00.5Z","connection":"h:443",
           "request":{"method":"GET","url":"http://h/","headers":[]},"response":{"status":0}}
        "#);
        let c = parse(&bytes, Path::new(P)).expect("parses");
        assert_eq!(c.exchanges.len(), 2);
        assert_eq!(c.skipped, vec![(SKIP_NON_HTTP.to_string(), 1)]);
        // Sorted by start time.
        let (first, second) = (&c.exchanges[0], &c.exchanges[1]);
        assert_eq!(first.path, "/");
        assert_eq!(first.status, None);
        assert_eq!(first.connection, Some(fnv1a(b"h:443")));
        assert_eq!(first.position, Some(Position::Entry(2)));
        assert_eq!(second.method, "POST");
        assert_eq!(second.path, "/login?next=%2F");
        assert_eq!(second.connection, Some(42));
        assert_eq!(second.status, Some(302));
        assert_eq!(second.body, b"user=al+ice&pw=%26");
        assert_eq!(
            second.headers,
            vec![
                (
                    "content-type".to_string(),
                    "application/x-www-form-urlencoded".to_string()
                ),
                ("cookie".to_string(), "a=b".to_string())
            ]
        );
    }

    #[test]
    fn responses_keep_headers_and_json_text() {
        let bytes = har(r#"
          {"startedDateTime":"2024-01-01T00:00:01Z",
           "request":{"method":"POST","url":"http://h/token","headers":[]},
           "response":{"status":200,"headers":[{"name":"Set-Cookie","value":"sid=abc"},
             {"name":"content-type","value":"application/json"}],
             "content":{"mimeType":"application/json","text":"eyJ0b2tlbiI6Ind4eXoifQ==","encoding":"base64"}}},
          {"startedDateTime":"2024-01-01T00:00:02Z",
           "request":{"method":"GET","url":"http://h/p","headers":[]},
           "response":{"status":200,"headers":[],"content":{"mimeType":"text/html","text":"<p>"}}},
          {"startedDateTime":"2024-01-01T00:00:03Z",
           "request":{"method":"GET","url":"http://h/q","headers":[]},
           "response":{"status":200,"headers":[],"content":{"text":" {\"a\":1}"}}}
        "#);
        let c = parse(&bytes, Path::new(P)).expect("parses");
        let e = &c.exchanges;
        assert_eq!(e[0].response_body, br#"{"token":"wxyz"}"#);
        assert_eq!(
            e[0].response_headers[0],
            ("Set-Cookie".to_string(), "sid=abc".to_string())
        );
        assert!(e[1].response_body.is_empty());
        assert_eq!(e[2].response_body, br#" {"a":1}"#);
        let bad = har(r#"{"startedDateTime":"2024-01-01T00:00:01Z",
           "request":{"method":"GET","url":"http://h/"},
           "response":{"status":200,"content":{"text":"!!!","encoding":"base64"}}}"#);
        let err = parse(&bad, Path::new(P)).unwrap_err().to_string();
        assert!(err.contains("entry 0") && err.contains("base64"), "{err}");
    }

    #[test]
    fn multipart_params_rebuilt_with_boundary() {
        let bytes = har(r#"
          {"startedDateTime":"2024-01-01T00:00:01Z",
           "request":{"method":"POST","url":"http://h/up","headers":[],
             "postData":{"mimeType":"multipart/form-data; boundary=XyZ",
                         "params":[{"name":"f","fileName":"a.txt","contentType":"text/plain","value":"hi"}]}}}
        "#);
        let c = parse(&bytes, Path::new(P)).expect("parses");
        assert_eq!(
            String::from_utf8_lossy(&c.exchanges[0].body),
            "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\
             Content-Type: text/plain\r\n\r\nhi\r\n--XyZ--\r\n"
        );
    }

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

    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/chromium_playwright.har");

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
