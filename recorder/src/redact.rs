//! Secrets in captured requests: detection (so `inspect` can warn and the plan is written 0600)
//! and `--redact` (values replaced by a placeholder so a plan can be shared).
//!
//! Secrets are: the values of credential headers (Authorization, Proxy-Authorization, Cookie,
//! Set-Cookie, X-Api-Key, X-Auth-Token), and fields with secret-like names (password,
//! client_secret, token, api_key...) in query strings, form bodies and JSON bodies.

pub const PLACEHOLDER: &str = "REDACTED";

const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
];

/// Field names whose values are secrets (compared case-insensitively, `-` and `_` equal).
fn is_secret_field(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace('-', "_");
    matches!(
        n.as_str(),
        "password"
            | "passwd"
            | "pwd"
            | "pass"
            | "secret"
            | "client_secret"
            | "token"
            | "access_token"
            | "refresh_token"
            | "id_token"
            | "api_key"
            | "apikey"
            | "auth"
            | "session"
            | "sessionid"
            | "otp"
    ) || n.ends_with("_password")
        || n.ends_with("_secret")
        || n.ends_with("_token")
}

/// Is `name` a credential header (its value a secret)?
pub fn is_secret_header(name: &str) -> bool {
    SECRET_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h))
}

/// Does this request carry any secret in clear?
pub fn holds_secrets(headers: &[(String, String)], target: &str, body: &[u8]) -> bool {
    headers
        .iter()
        .any(|(n, v)| is_secret_header(n) && v != PLACEHOLDER)
        || target
            .split_once('?')
            .is_some_and(|(_, q)| form_has_secret(q))
        || match body_kind(headers) {
            BodyKind::Form => std::str::from_utf8(body).is_ok_and(form_has_secret),
            BodyKind::Json => {
                serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| json_has_secret(&v))
            }
            BodyKind::Other => false,
        }
}

/// Replace credential header values.
pub fn headers(headers: &mut [(String, String)]) {
    for (n, v) in headers.iter_mut() {
        if is_secret_header(n) {
            *v = PLACEHOLDER.to_string();
        }
    }
}

/// Replace secret query parameters.
pub fn target(target: &str) -> String {
    match target.split_once('?') {
        Some((path, q)) => format!("{path}?{}", redact_form(q)),
        None => target.to_string(),
    }
}

/// Replace secret fields of a form or JSON body; other bodies are kept as they are.
pub fn body(headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    match body_kind(headers) {
        BodyKind::Form => match std::str::from_utf8(body) {
            Ok(s) => redact_form(s).into_bytes(),
            Err(_) => body.to_vec(),
        },
        BodyKind::Json => match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(mut v) => {
                if json_has_secret(&v) {
                    redact_json(&mut v);
                    serde_json::to_vec(&v).unwrap_or_else(|_| body.to_vec())
                } else {
                    body.to_vec()
                }
            }
            Err(_) => body.to_vec(),
        },
        BodyKind::Other => body.to_vec(),
    }
}

/// Replace the named top-level fields of a form or JSON body (a login's user fields) by the
/// placeholder, whatever their names; other bodies are kept as they are.
pub fn fields(headers: &[(String, String)], body: &[u8], names: &[String]) -> Vec<u8> {
    if names.is_empty() {
        return body.to_vec();
    }
    let named = |k: &str| names.iter().any(|n| n == k);
    match body_kind(headers) {
        BodyKind::Form => match std::str::from_utf8(body) {
            Ok(s) => s
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if named(&form_key(k)) => format!("{k}={PLACEHOLDER}"),
                    _ => kv.to_string(),
                })
                .collect::<Vec<_>>()
                .join("&")
                .into_bytes(),
            Err(_) => body.to_vec(),
        },
        BodyKind::Json => match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(mut m)) => {
                for (k, v) in m.iter_mut() {
                    if named(k) {
                        *v = serde_json::Value::String(PLACEHOLDER.into());
                    }
                }
                serde_json::to_vec(&m).unwrap_or_else(|_| body.to_vec())
            }
            _ => body.to_vec(),
        },
        BodyKind::Other => body.to_vec(),
    }
}

fn form_key(k: &str) -> String {
    form_urlencoded::parse(format!("{k}=").as_bytes())
        .next()
        .map_or_else(|| k.to_string(), |(k, _)| k.into_owned())
}

enum BodyKind {
    Form,
    Json,
    Other,
}

fn body_kind(headers: &[(String, String)]) -> BodyKind {
    let ct = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    if ct.starts_with("application/x-www-form-urlencoded") {
        BodyKind::Form
    } else if ct.contains("json") {
        BodyKind::Json
    } else {
        BodyKind::Other
    }
}

fn form_has_secret(q: &str) -> bool {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .any(|(k, v)| is_secret_field(k) && v != PLACEHOLDER)
}

fn redact_form(q: &str) -> String {
    q.split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if is_secret_field(k) => format!("{k}={PLACEHOLDER}"),
            _ => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn json_has_secret(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(m) => m.iter().any(|(k, v)| {
            (is_secret_field(k) && v.as_str() != Some(PLACEHOLDER) && !v.is_null())
                || json_has_secret(v)
        }),
        serde_json::Value::Array(a) => a.iter().any(json_has_secret),
        _ => false,
    }
}

fn redact_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if is_secret_field(k) && !v.is_null() {
                    *v = serde_json::Value::String(PLACEHOLDER.into());
                } else {
                    redact_json(v);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(redact_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn forms_json_query_and_headers() {
        let form = h(&[("Content-Type", "application/x-www-form-urlencoded")]);
        let b = body(&form, b"username=demo&password=hunter2&client_secret=s");
        assert_eq!(b, b"username=demo&password=REDACTED&client_secret=REDACTED");
        assert!(holds_secrets(&form, "/login", b"password=x"));
        assert!(!holds_secrets(&form, "/login", &b));

        let json = h(&[("content-type", "application/json; charset=utf-8")]);
        let b = body(
            &json,
            br#"{"user":{"name":"a","password":"p"},"items":[{"api_key":"k"}]}"#,
        );
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["user"]["password"], "REDACTED");
        assert_eq!(v["items"][0]["api_key"], "REDACTED");
        assert_eq!(v["user"]["name"], "a");
        assert!(!holds_secrets(&json, "/", &b));

        assert_eq!(
            target("/cb?code=1&access_token=abc"),
            "/cb?code=1&access_token=REDACTED"
        );
        assert!(holds_secrets(&[], "/cb?api_key=1", b""));

        let mut hs = h(&[
            ("Authorization", "Bearer t"),
            ("Accept", "*/*"),
            ("Cookie", "sid=1"),
        ]);
        assert!(holds_secrets(&hs, "/", b""));
        headers(&mut hs);
        assert_eq!(hs[0].1, PLACEHOLDER);
        assert_eq!(hs[1].1, "*/*");
        assert!(!holds_secrets(&hs, "/", b""));
    }
}
