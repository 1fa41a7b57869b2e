//! Conversion of one HAR entry to an [`Exchange`]: URL split, headers, the request body (rebuilt
//! from `postData.params` when there is no text), start time, connection id, and the response's
//! status, headers and body.

use serde_json::Value;

use super::model::{Content, Entry, PostData};
use super::time::parse_rfc3339_us;
use crate::exchange::{BodyBudget, Exchange, MAX_RESPONSE_BODY, Position};

/// One entry -> exchange; `Ok(None)` for non-http(s) URLs.
pub(super) fn exchange(
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::source::har::tests::{P, har};
    use crate::source::har::{SKIP_NON_HTTP, parse};

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
}
