//! Finding tokens in responses: what each response handed out (JSON fields with token-like
//! names, `Set-Cookie` values, token-like headers), where, and for how long.

use ringload_formats::TokenLocation;

use super::token::{credential_like, token_like_name, valid_name};
use crate::exchange::Exchange;

/// JSON bodies are searched this deep.
const MAX_JSON_DEPTH: usize = 32;

/// One credential a response handed out.
#[derive(Debug, Clone)]
pub(super) struct Issued {
    pub(super) by: usize,
    pub(super) at: TokenLocation,
    pub(super) expires_at: Option<String>,
    pub(super) expires_in_s: Option<u64>,
}

/// The credentials exchange `i`'s response handed out, with where and how long.
pub(super) fn handed_out(i: usize, ex: &Exchange) -> Vec<(String, Issued)> {
    let mut out = Vec::new();
    if ex.status.is_some_and(|s| s >= 400) {
        return out;
    }
    if !ex.response_body.is_empty()
        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&ex.response_body)
    {
        let mut found = Vec::new();
        json_tokens(&v, &mut String::new(), 0, &mut found);
        for (pointer, value) in found {
            let (expires_at, expires_in_s) = json_expiry(&v, &pointer);
            out.push((
                value,
                Issued {
                    by: i,
                    at: TokenLocation::JsonPointer(pointer),
                    expires_at,
                    expires_in_s,
                },
            ));
        }
    }
    let header_expiry = ex
        .response_headers
        .iter()
        .find(|(n, _)| {
            let n = n.to_ascii_lowercase().replace('_', "-");
            n.contains("expires-in") || n.ends_with("-ttl")
        })
        .and_then(|(_, v)| v.trim().parse::<u64>().ok());
    for (name, value) in &ex.response_headers {
        if name.eq_ignore_ascii_case("set-cookie") {
            let mut attrs = value.split(';');
            let Some((k, v)) = attrs.next().and_then(|kv| kv.trim().split_once('=')) else {
                continue;
            };
            let max_age = attrs
                .filter_map(|a| a.trim().split_once('='))
                .find(|(a, _)| a.eq_ignore_ascii_case("max-age"))
                .and_then(|(_, s)| s.trim().parse::<u64>().ok());
            if credential_like(v) && valid_name(k.trim()) {
                out.push((
                    v.trim().to_string(),
                    Issued {
                        by: i,
                        at: TokenLocation::Cookie(k.trim().to_string()),
                        expires_at: None,
                        expires_in_s: max_age,
                    },
                ));
            }
        } else if token_like_name(name) && credential_like(value) {
            out.push((
                value.trim().to_string(),
                Issued {
                    by: i,
                    at: TokenLocation::Header(name.clone()),
                    expires_at: None,
                    expires_in_s: header_expiry,
                },
            ));
        }
    }
    out
}

/// String fields with token-like names and credential-like values, by JSON pointer.
fn json_tokens(
    v: &serde_json::Value,
    at: &mut String,
    depth: usize,
    out: &mut Vec<(String, String)>,
) {
    if depth > MAX_JSON_DEPTH {
        return;
    }
    let len = at.len();
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                at.push('/');
                at.push_str(&k.replace('~', "~0").replace('/', "~1"));
                match v {
                    serde_json::Value::String(s) if token_like_name(k) && credential_like(s) => {
                        out.push((at.clone(), s.clone()));
                    }
                    _ => json_tokens(v, at, depth + 1, out),
                }
                at.truncate(len);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                at.push_str(&format!("/{i}"));
                json_tokens(v, at, depth + 1, out);
                at.truncate(len);
            }
        }
        _ => {}
    }
}

/// A lifetime next to the token (`expires_in`, `expiresIn`, `expires`, `ttl`), else at the
/// top level: its pointer and the captured value.
fn json_expiry(root: &serde_json::Value, token: &str) -> (Option<String>, Option<u64>) {
    let parent = token.rsplit_once('/').map_or("", |(p, _)| p);
    for base in [parent, ""] {
        for field in ["expires_in", "expiresIn", "expires", "ttl"] {
            let p = format!("{base}/{field}");
            let secs = match root.pointer(&p) {
                Some(serde_json::Value::Number(n)) => n.as_u64(),
                Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().ok(),
                _ => None,
            };
            if let Some(s) = secs {
                return (Some(p), Some(s));
            }
        }
    }
    (None, None)
}
