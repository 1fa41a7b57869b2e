//! Finding tokens in requests: handed-out values a request sent back, token-like credentials it
//! carries wherever they came from, and removing a credential from a request.

use std::collections::HashMap;

use ringload_formats::{TokenLocation, TokenPlace};

use super::response::Issued;
use super::token::{is_token_byte, session_like_cookie, token_like_name};
use crate::exchange::Exchange;

/// A request that sent back a handed-out value.
#[derive(Debug, Clone)]
pub(super) struct Use {
    pub(super) issued: Issued,
    pub(super) place: TokenPlace,
}

/// The handed-out value this request sent back, if any (the most recent issuer wins when a
/// request carries several).
pub(super) fn find_use(ex: &Exchange, handed: &HashMap<String, Vec<Issued>>) -> Option<Use> {
    if handed.is_empty() {
        return None;
    }
    let mut found: Vec<Use> = Vec::new();
    let mut check = |value: &str, place: TokenPlace| {
        let Some(list) = handed.get(value.trim()) else {
            return;
        };
        // A cookie sent back under the name a Set-Cookie gave comes from that cookie.
        let issued = list
            .iter()
            .find(|is| matches!((&is.at, &place), (TokenLocation::Cookie(a), TokenPlace::Cookie(b)) if a == b))
            .or_else(|| list.first());
        if let Some(issued) = issued {
            found.push(Use {
                issued: issued.clone(),
                place,
            });
        }
    };
    for (name, value) in &ex.headers {
        if name.eq_ignore_ascii_case("cookie") {
            for (k, v) in cookie_pairs(value) {
                check(v, TokenPlace::Cookie(k.to_string()));
            }
            continue;
        }
        check(
            value,
            TokenPlace::Header {
                name: name.clone(),
                prefix: String::new(),
            },
        );
        if let Some((scheme, rest)) = value.trim().split_once(' ')
            && !scheme.is_empty()
            && scheme.bytes().all(is_token_byte)
        {
            check(
                rest,
                TokenPlace::Header {
                    name: name.clone(),
                    prefix: format!("{scheme} "),
                },
            );
        }
    }
    for (k, v) in query_pairs(&ex.path) {
        check(v, TokenPlace::Query(k.to_string()));
        let decoded = percent_decode(v);
        if decoded != v {
            check(&decoded, TokenPlace::Query(k.to_string()));
        }
    }
    found.into_iter().max_by_key(|u| u.issued.by)
}

/// Where this request carries a token-like credential: a non-Basic `Authorization`, a header
/// with a token-like name, a session-like cookie, a token-like query parameter. (Static API
/// keys and Basic credentials do not expire and are left alone.)
pub fn credential_places(ex: &Exchange) -> Vec<TokenPlace> {
    let mut out = Vec::new();
    for (name, value) in &ex.headers {
        if name.eq_ignore_ascii_case("authorization") {
            let (scheme, rest) = value.trim().split_once(' ').unwrap_or(("", value.trim()));
            if scheme.eq_ignore_ascii_case("basic") || rest.is_empty() {
                continue;
            }
            out.push(TokenPlace::Header {
                name: name.clone(),
                prefix: if scheme.is_empty() {
                    String::new()
                } else {
                    format!("{scheme} ")
                },
            });
        } else if name.eq_ignore_ascii_case("cookie") {
            for (k, v) in cookie_pairs(value) {
                if session_like_cookie(k) && !v.is_empty() {
                    out.push(TokenPlace::Cookie(k.to_string()));
                }
            }
        } else if token_like_name(name) && !value.trim().is_empty() {
            out.push(TokenPlace::Header {
                name: name.clone(),
                prefix: String::new(),
            });
        }
    }
    for (k, v) in query_pairs(&ex.path) {
        if token_like_name(k) && !v.is_empty() {
            out.push(TokenPlace::Query(k.to_string()));
        }
    }
    out.dedup();
    out
}

/// Does the request carry a credential at `place` (a header with that name and scheme, a
/// cookie, a query parameter)?
pub(super) fn carries_at(ex: &Exchange, place: &TokenPlace) -> bool {
    match place {
        TokenPlace::Header { name, prefix } => ex.headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case(name)
                && v.len() > prefix.len()
                && v.is_char_boundary(prefix.len())
                && v[..prefix.len()].eq_ignore_ascii_case(prefix)
        }),
        TokenPlace::Cookie(c) => ex
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
            .any(|(_, v)| cookie_pairs(v).any(|(k, _)| k == c)),
        TokenPlace::Query(q) => query_pairs(&ex.path).any(|(k, _)| k == q),
    }
}

/// Removes the credential at `place` from a request: the header (when its value has the
/// place's scheme), the cookie pair (the `Cookie` header goes when nothing is left in it), or
/// the query parameter (the `?` goes when nothing is left).
pub fn remove_credential(
    headers: &mut Vec<(String, String)>,
    target: &mut String,
    place: &TokenPlace,
) {
    match place {
        TokenPlace::Header { name, prefix } => headers.retain(|(n, v)| {
            !(n.eq_ignore_ascii_case(name)
                && v.is_char_boundary(prefix.len().min(v.len()))
                && v[..prefix.len().min(v.len())].eq_ignore_ascii_case(prefix))
        }),
        TokenPlace::Cookie(c) => {
            for (n, v) in headers.iter_mut() {
                if n.eq_ignore_ascii_case("cookie") {
                    *v = v
                        .split(';')
                        .map(str::trim)
                        .filter(|kv| {
                            !kv.is_empty() && kv.split_once('=').map_or(*kv, |(k, _)| k) != c
                        })
                        .collect::<Vec<_>>()
                        .join("; ");
                }
            }
            headers.retain(|(n, v)| !(n.eq_ignore_ascii_case("cookie") && v.is_empty()));
        }
        TokenPlace::Query(q) => {
            if let Some((path, query)) = target.split_once('?') {
                let kept: Vec<&str> = query
                    .split('&')
                    .filter(|kv| !kv.is_empty() && kv.split_once('=').map_or(*kv, |(k, _)| k) != q)
                    .collect();
                *target = if kept.is_empty() {
                    path.to_string()
                } else {
                    format!("{path}?{}", kept.join("&"))
                };
            }
        }
    }
}

fn cookie_pairs(value: &str) -> impl Iterator<Item = (&str, &str)> {
    value
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
}

fn query_pairs(target: &str) -> impl Iterator<Item = (&str, &str)> {
    target
        .split_once('?')
        .map_or("", |(_, q)| q)
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map_or_else(|| s.to_string(), |(_, v)| v.into_owned())
}
