//! Access-log source: one exchange per logged request (method, path+query, status, time,
//! client; no bodies).
//!
//! Formats:
//! - `nginx-combined`: `$remote_addr - $remote_user [$time_local] "$request" $status
//!   $body_bytes_sent "$http_referer" "$http_user_agent"` (anything after the user agent,
//!   as in extended formats, is ignored). nginx escapes `"`, `\` and non-printable bytes in
//!   strings as `\xHH`; they are unescaped. Referer and User-Agent become request headers.
//! - `nginx-json`: one JSON object per line (`log_format ... escape=json`). Field names
//!   default to nginx variable names and can be overridden with `fields` (the CLI's
//!   `--log-field KEY=FIELD`); see [`JSON_KEYS`]. When both `msec` (end time) and
//!   `request_time` are present the start time is `msec - request_time`.
//! - `envoy`: Envoy's default format, `[%START_TIME%] "%REQ(:METHOD)%
//!   %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS%
//!   %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%
//!   "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%"
//!   "%UPSTREAM_HOST%"` (Istio's default starts the same way; later fields are optional).
//!
//! Policy for bad lines: a line that does not have the format's structure (wrong
//! bracket/quote layout, invalid JSON, bad time or status) is an error naming the line
//! number: the wrong `--log-format` was probably chosen. A well-formed line whose request is
//! not an HTTP request line (nginx logs `"-"` or the raw garbage a client sent, with status
//! 400; Envoy logs `"- - -"` for TCP proxying) is skipped and counted. Blank lines are
//! ignored.
//!
//! Exchanges are sorted by time (stable, ties keep line order): nginx writes a line when
//! a request ends, so line order is completion order.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::str::FromStr;

use serde_json::Value;

use crate::error::RecordError;
use crate::exchange::{Capture, Exchange, Position};
use crate::source::har::{civil_to_us, parse_rfc3339_us};

/// Longest log line accepted.
const MAX_LINE: usize = 1024 * 1024;

const SKIP_NOT_REQUEST: &str = "log line without an HTTP request line (\"-\", garbage; e.g. a 400)";
const NOTE_NO_BODIES: &str = "bodies absent: access logs carry no request bodies";

/// Supported access-log formats.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    NginxCombined,
    NginxJson,
    Envoy,
}

/// `--log-format` value that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log format {0:?} (expected nginx-combined, nginx-json or envoy)")]
pub struct UnknownLogFormat(pub String);

impl FromStr for LogFormat {
    type Err = UnknownLogFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "nginx-combined" => Ok(LogFormat::NginxCombined),
            "nginx-json" => Ok(LogFormat::NginxJson),
            "envoy" => Ok(LogFormat::Envoy),
            other => Err(UnknownLogFormat(other.to_string())),
        }
    }
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::NginxCombined => "nginx-combined",
            LogFormat::NginxJson => "nginx-json",
            LogFormat::Envoy => "envoy",
        }
    }
}

/// Options of the access-log source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogOptions {
    pub format: LogFormat,
    /// `nginx-json` field map overrides, `(key, json field)`, e.g. `("method",
    /// "request_method")`. Keys: see [`JSON_KEYS`].
    pub fields: Vec<(String, String)>,
}

/// Keys of the `nginx-json` field map and their default JSON field names. `path` is the
/// origin-form target (`$request_uri`); `request` is a whole request line used when
/// method/path are absent; `time` accepts epoch seconds (`$msec`), RFC 3339
/// (`$time_iso8601`) or nginx's `$time_local`; `duration` (seconds) is subtracted from an
/// end time given as `msec`.
pub const JSON_KEYS: &[(&str, &str)] = &[
    ("method", "request_method"),
    ("path", "request_uri"),
    ("request", "request"),
    ("status", "status"),
    ("time", "msec"),
    ("time_iso", "time_iso8601"),
    ("time_local", "time_local"),
    ("duration", "request_time"),
    ("client", "remote_addr"),
    ("host", "http_host"),
    ("user_agent", "http_user_agent"),
    ("referer", "http_referer"),
    ("connection", "connection"),
];

/// Reads an access log.
pub fn read(path: &Path, opts: &AccessLogOptions) -> Result<Capture, RecordError> {
    let fields = resolve_fields(opts)?;
    let file = File::open(path).map_err(|source| RecordError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_from(
        BufReader::with_capacity(1 << 16, file),
        path,
        opts.format,
        &fields,
    )
}

/// Reads access-log bytes; `path` is only used in errors and the description. Public for the fuzz
/// targets, which feed it bytes without a file.
pub fn parse(bytes: &[u8], path: &Path, opts: &AccessLogOptions) -> Result<Capture, RecordError> {
    let fields = resolve_fields(opts)?;
    read_from(BufReader::new(bytes), path, opts.format, &fields)
}

/// The JSON field name for each key in [`JSON_KEYS`] order.
fn resolve_fields(opts: &AccessLogOptions) -> Result<Vec<String>, RecordError> {
    if opts.format != LogFormat::NginxJson && !opts.fields.is_empty() {
        return Err(RecordError::Option(format!(
            "--log-field applies to --log-format nginx-json only, not {}",
            opts.format.as_str()
        )));
    }
    let mut names: Vec<String> = JSON_KEYS.iter().map(|(_, f)| f.to_string()).collect();
    for (key, field) in &opts.fields {
        let Some(i) = JSON_KEYS.iter().position(|(k, _)| k == key) else {
            let keys: Vec<&str> = JSON_KEYS.iter().map(|(k, _)| *k).collect();
            return Err(RecordError::Option(format!(
                "unknown --log-field key {key:?} (known: {})",
                keys.join(", ")
            )));
        };
        if field.is_empty() {
            return Err(RecordError::Option(format!(
                "--log-field {key}= needs a field name"
            )));
        }
        names[i] = field.clone();
        // An explicit time field replaces the whole fallback chain.
        if key == "time" {
            names[4] = field.clone();
            names[5] = String::new();
            names[6] = String::new();
        }
    }
    Ok(names)
}

fn read_from<R: Read>(
    mut input: BufReader<R>,
    path: &Path,
    format: LogFormat,
    fields: &[String],
) -> Result<Capture, RecordError> {
    let mut capture = Capture {
        kind: "access-log",
        path: path.to_path_buf(),
        description: format!("{} ({})", path.display(), format.as_str()),
        notes: vec![NOTE_NO_BODIES.to_string()],
        ..Capture::default()
    };
    let mut line = Vec::new();
    let mut number = 0u64;
    let mut lines = 0u64;
    // nginx-json: the first line without the request fields (its number and field names).
    let mut unmapped: Option<(u64, Vec<String>)> = None;
    loop {
        line.clear();
        let n = (&mut input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|source| RecordError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        if n == 0 {
            break;
        }
        number += 1;
        if line.len() > MAX_LINE {
            return Err(RecordError::Malformed {
                path: path.to_path_buf(),
                at: Position::Line(number),
                message: format!("line longer than {MAX_LINE} bytes"),
            });
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        lines += 1;
        let parsed = match format {
            LogFormat::NginxCombined => parse_combined(text),
            LogFormat::NginxJson => parse_json(text, fields).map(|p| match p {
                Json::Exchange(ex) => Some(*ex),
                Json::NotRequest => None,
                Json::NoRequestFields(names) => {
                    unmapped.get_or_insert((number, names));
                    None
                }
            }),
            LogFormat::Envoy => parse_envoy(text),
        };
        match parsed {
            Ok(Some(mut ex)) => {
                ex.position = Some(Position::Line(number));
                capture.exchanges.push(ex);
            }
            Ok(None) => capture.skip(SKIP_NOT_REQUEST),
            Err(message) => {
                return Err(RecordError::Malformed {
                    path: path.to_path_buf(),
                    at: Position::Line(number),
                    message: format!("not a {} line: {message}", format.as_str()),
                });
            }
        }
    }
    if capture.exchanges.is_empty() {
        return Err(RecordError::Empty {
            path: path.to_path_buf(),
            reason: match unmapped {
                Some((n, names)) => format!(
                    "{lines} non-blank log lines, none with an HTTP request: line {n} has no \
                     field {:?}, {:?} or {:?} (its fields: {}); name yours with --log-field \
                     method=FIELD --log-field path=FIELD, or --log-field request=FIELD",
                    fields[0],
                    fields[1],
                    fields[2],
                    names.join(", ")
                ),
                None => format!("{lines} non-blank log lines, none with an HTTP request"),
            },
        });
    }
    capture
        .exchanges
        .sort_by_key(|e| e.time_us.unwrap_or(i64::MAX));
    Ok(capture)
}

/// Undoes nginx's `\xHH` escaping (also `\"` and `\\` from other writers).
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b.get(i + 1) == Some(&b'x')
                && let Some(h) = b.get(i + 2..i + 4)
                && let Ok(v) = u8::from_str_radix(std::str::from_utf8(h).unwrap_or("zz"), 16)
            {
                out.push(v);
                i += 4;
                continue;
            }
            if let Some(&c @ (b'"' | b'\\')) = b.get(i + 1) {
                out.push(c);
                i += 2;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `"METHOD TARGET PROTO"`; `None` if it is not an HTTP request line with an
/// origin-form (or absolute-form) target.
fn request_line(req: &str) -> Option<(String, String, Option<String>)> {
    let mut parts = req.split(' ');
    let method = parts.next()?;
    let target = parts.next()?;
    let proto = parts.next();
    if parts.next().is_some()
        || method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
    {
        return None;
    }
    if let Some(p) = proto
        && !p.starts_with("HTTP/")
    {
        return None;
    }
    let (authority, path) = origin_form(target)?;
    Some((method.to_string(), path, authority))
}

/// (authority from an absolute-form target, origin-form path).
fn origin_form(target: &str) -> Option<(Option<String>, String)> {
    if target.starts_with('/') {
        return Some((None, target.to_string()));
    }
    let rest = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))?;
    let cut = rest.find(['/', '?']).unwrap_or(rest.len());
    let (auth, path) = rest.split_at(cut);
    let path = match path.chars().next() {
        None => "/".to_string(),
        Some('?') => format!("/{path}"),
        Some(_) => path.to_string(),
    };
    Some((Some(auth.to_string()), path))
}

fn status_of(s: &str) -> Result<Option<u16>, String> {
    let n: u16 = s
        .parse()
        .map_err(|_| format!("status {s:?} is not a number"))?;
    Ok((100..=999).contains(&n).then_some(n))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// nginx `$time_local`: `26/Nov/2026:20:42:35 +0000`.
fn parse_time_local(s: &str) -> Option<i64> {
    let (dt, zone) = s.split_once(' ')?;
    let mut it = dt.splitn(3, '/');
    let d: u32 = it.next()?.parse().ok()?;
    let mon = it.next()?;
    let rest = it.next()?;
    let mo = MONTHS.iter().position(|m| *m == mon)? as u32 + 1;
    let mut t = rest.split(':');
    let y: i64 = t.next()?.parse().ok()?;
    let h: u32 = t.next()?.parse().ok()?;
    let mi: u32 = t.next()?.parse().ok()?;
    let sec: u32 = t.next()?.parse().ok()?;
    if t.next().is_some() {
        return None;
    }
    let zb = zone.as_bytes();
    if zb.len() != 5 || !matches!(zb[0], b'+' | b'-') || !zone.is_ascii() {
        return None;
    }
    let oh: i64 = zone[1..3].parse().ok()?;
    let om: i64 = zone[3..5].parse().ok()?;
    let off = (oh * 3600 + om * 60) * if zb[0] == b'-' { -1 } else { 1 };
    civil_to_us((y, mo, d), (h, mi, sec), 0, off)
}

/// Epoch seconds with an optional fraction (`$msec`: `1795725755.539`).
fn parse_epoch_secs(s: &str) -> Option<i64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    let mut micros = 0i64;
    for i in 0..6 {
        micros = micros * 10 + frac.as_bytes().get(i).map_or(0, |c| i64::from(c - b'0'));
    }
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

fn any_time(s: &str) -> Option<i64> {
    parse_epoch_secs(s)
        .or_else(|| parse_rfc3339_us(s))
        .or_else(|| parse_time_local(s))
}

fn add_header(headers: &mut Vec<(String, String)>, name: &str, value: &str) {
    if !value.is_empty() && value != "-" {
        headers.push((name.to_string(), value.to_string()));
    }
}

/// A quoted field at the start of `s` (after optional spaces): (content, rest).
fn quoted(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start_matches(' ').strip_prefix('"')?;
    // nginx escapes quotes inside values, so the next bare quote ends the field; tolerate
    // writers that use `\"`.
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some((&s[..i], &s[i + 1..])),
            _ => i += 1,
        }
    }
    None
}

/// A space-delimited bare field: (field, rest).
fn bare(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start_matches(' ');
    if s.is_empty() {
        return None;
    }
    Some(s.split_once(' ').unwrap_or((s, "")))
}

fn parse_combined(line: &str) -> Result<Option<Exchange>, String> {
    let (addr, rest) = line.split_once(' ').ok_or("no remote address")?;
    let open = rest.find('[').ok_or("no [time_local]")?;
    let close = rest[open..].find(']').ok_or("unterminated [time_local]")? + open;
    let time = parse_time_local(&rest[open + 1..close])
        .ok_or_else(|| format!("bad time {:?}", &rest[open + 1..close]))?;
    let (request, rest) = quoted(&rest[close + 1..]).ok_or("no quoted \"$request\"")?;
    let (status, rest) = bare(rest).ok_or("no status")?;
    let status = status_of(status)?;
    let (_bytes, rest) = bare(rest).ok_or("no body size")?;
    // Referer and user agent are optional in the "common" subset.
    let (referer, rest) = quoted(rest).unwrap_or(("-", rest));
    let (agent, _) = quoted(rest).unwrap_or(("-", ""));
    let Some((method, path, authority)) = request_line(&unescape(request)) else {
        return Ok(None);
    };
    let mut headers = Vec::new();
    add_header(&mut headers, "User-Agent", &unescape(agent));
    add_header(&mut headers, "Referer", &unescape(referer));
    Ok(Some(Exchange {
        time_us: Some(time),
        connection: None,
        client: (addr != "-").then(|| addr.to_string()),
        method,
        scheme: None,
        authority,
        path,
        headers,
        body: Vec::new(),
        status,
        position: None,
        ..Exchange::default()
    }))
}

/// A JSON field as text; `None` when absent, null, empty or `-`.
fn json_str(obj: &serde_json::Map<String, Value>, field: &str) -> Option<String> {
    if field.is_empty() {
        return None;
    }
    let s = match obj.get(field)? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!s.is_empty() && s != "-").then_some(s)
}

/// What an nginx-json line holds.
enum Json {
    Exchange(Box<Exchange>),
    /// The request fields are there, but hold no HTTP request line (`"-"`, garbage).
    NotRequest,
    /// None of the request fields is there: the line's field names (at most 20, each at most
    /// 40 characters, control characters escaped so a message stays on one line).
    NoRequestFields(Vec<String>),
}

fn parse_json(line: &str, f: &[String]) -> Result<Json, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| {
        // serde_json ends its messages with " at line 1 column C": say the column once.
        let text = e.to_string();
        let what = text
            .rsplit_once(" at line ")
            .map_or(text.as_str(), |(w, _)| w);
        format!("invalid JSON at column {}: {what}", e.column())
    })?;
    let Value::Object(obj) = v else {
        return Err("a JSON value that is not an object".into());
    };
    let has = |i: usize| !f[i].is_empty() && obj.contains_key(&f[i]);
    if !(has(0) || has(1) || has(2)) {
        let shown = |k: &String| {
            let mut s: String = k.chars().take(40).flat_map(char::escape_debug).collect();
            if k.chars().nth(40).is_some() {
                s.push_str("...");
            }
            s
        };
        return Ok(Json::NoRequestFields(
            obj.keys().take(20).map(shown).collect(),
        ));
    }
    let parsed = parse_json_object(&obj, f)?;
    Ok(parsed.map_or(Json::NotRequest, |ex| Json::Exchange(Box::new(ex))))
}

fn parse_json_object(
    obj: &serde_json::Map<String, Value>,
    f: &[String],
) -> Result<Option<Exchange>, String> {
    let get = |key: &str| {
        let i = JSON_KEYS.iter().position(|(k, _)| *k == key).unwrap_or(0);
        json_str(obj, &f[i])
    };
    let (method, path, url_authority) = match (get("method"), get("path")) {
        (Some(m), Some(p)) => {
            let line = format!("{m} {p}");
            match request_line(&line) {
                Some(x) => x,
                None => return Ok(None),
            }
        }
        _ => match get("request").as_deref().and_then(request_line) {
            Some(x) => x,
            None => return Ok(None),
        },
    };
    let status = match get("status") {
        Some(s) => status_of(&s)?,
        None => None,
    };
    let mut time = None;
    if let Some(t) = get("time") {
        let end = any_time(&t).ok_or_else(|| format!("bad time {t:?}"))?;
        // `$msec` is when the request ended; `$request_time` how long it took.
        let dur = get("duration")
            .and_then(|d| parse_epoch_secs(&d))
            .unwrap_or(0);
        time = Some(end - dur);
    } else if let Some(t) = get("time_iso") {
        time = Some(any_time(&t).ok_or_else(|| format!("bad time {t:?}"))?);
    } else if let Some(t) = get("time_local") {
        time = Some(any_time(&t).ok_or_else(|| format!("bad time {t:?}"))?);
    }
    let mut headers = Vec::new();
    if let Some(ua) = get("user_agent") {
        add_header(&mut headers, "User-Agent", &ua);
    }
    if let Some(r) = get("referer") {
        add_header(&mut headers, "Referer", &r);
    }
    Ok(Some(Exchange {
        time_us: time,
        connection: get("connection").and_then(|c| c.parse().ok()),
        client: get("client"),
        method,
        scheme: None,
        authority: url_authority.or_else(|| get("host")),
        path,
        headers,
        body: Vec::new(),
        status,
        position: None,
        ..Exchange::default()
    }))
}

fn parse_envoy(line: &str) -> Result<Option<Exchange>, String> {
    let rest = line.strip_prefix('[').ok_or("no [%START_TIME%]")?;
    let (start, rest) = rest.split_once(']').ok_or("unterminated [%START_TIME%]")?;
    let time = parse_rfc3339_us(start).ok_or_else(|| format!("bad START_TIME {start:?}"))?;
    let (request, rest) = quoted(rest).ok_or("no quoted request")?;
    let (status, rest) = bare(rest).ok_or("no RESPONSE_CODE")?;
    let status = status_of(status)?;
    // RESPONSE_FLAGS BYTES_RECEIVED BYTES_SENT DURATION UPSTREAM-SERVICE-TIME
    let mut rest = rest;
    for _ in 0..5 {
        rest = bare(rest).map_or("", |(_, r)| r);
    }
    let mut quoted_fields = Vec::new();
    while let Some((q, r)) = quoted(rest) {
        quoted_fields.push(q);
        rest = r;
    }
    let field = |i: usize| {
        quoted_fields
            .get(i)
            .copied()
            .filter(|v| !v.is_empty() && *v != "-")
    };
    let Some((method, path, url_authority)) = request_line(request) else {
        return Ok(None);
    };
    let mut headers = Vec::new();
    if let Some(ua) = field(1) {
        add_header(&mut headers, "User-Agent", ua);
    }
    // X-Forwarded-For's first address is the original client.
    let client = field(0)
        .and_then(|x| x.split(',').next())
        .map(|c| c.trim().to_string());
    Ok(Some(Exchange {
        time_us: Some(time),
        connection: None,
        client,
        method,
        scheme: None,
        authority: url_authority.or_else(|| field(3).map(str::to_string)),
        path,
        headers,
        body: Vec::new(),
        status,
        position: None,
        ..Exchange::default()
    }))
}

#[cfg(test)]
mod tests;
