//! What the shop reads of a request ([`ShopRequest`], owned, with every token it presents)
//! and the whole answer it gives ([`ShopResponse`]); `application/x-www-form-urlencoded`
//! decoding for login forms and query strings.

use ringload_http1::RequestHead;
use serde_json::Value;

use super::SESSION_COOKIE;
use super::routes::Route;

/// The head fields the shop reads, owned (the body arrives after the head's borrow ends).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShopRequest {
    pub route: Option<Route>,
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub x_auth_token: Option<String>,
    /// Every `Cookie` field, joined with `; `.
    pub cookies: String,
    pub content_type: String,
    /// `x-user-segment: beta-testers` was sent.
    pub beta: bool,
}

impl ShopRequest {
    pub fn from_head(head: &RequestHead<'_>, route: Route) -> ShopRequest {
        let text = |v: &[u8]| String::from_utf8_lossy(v.trim_ascii()).into_owned();
        let mut r = ShopRequest {
            route: Some(route),
            method: head.method().to_string(),
            path: head.path().to_string(),
            query: head.query().unwrap_or("").to_string(),
            ..ShopRequest::default()
        };
        for (name, value) in head.headers() {
            if name.eq_ignore_ascii_case("authorization") {
                r.authorization = Some(text(value));
            } else if name.eq_ignore_ascii_case("x-auth-token") {
                r.x_auth_token = Some(text(value));
            } else if name.eq_ignore_ascii_case("cookie") {
                if !r.cookies.is_empty() {
                    r.cookies.push_str("; ");
                }
                r.cookies.push_str(&text(value));
            } else if name.eq_ignore_ascii_case("content-type") {
                r.content_type = text(value).to_ascii_lowercase();
            } else if name.eq_ignore_ascii_case("x-user-segment") {
                r.beta |= value.trim_ascii().eq_ignore_ascii_case(b"beta-testers");
            }
        }
        r
    }

    /// Every token the request presents: bearer header, `X-Auth-Token`, session cookie,
    /// `access_token` query parameter.
    pub(super) fn tokens(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(a) = &self.authorization
            && let Some((scheme, t)) = a.split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
        {
            out.push(t.trim().to_string());
        }
        out.extend(self.x_auth_token.clone());
        for kv in self.cookies.split(';') {
            if let Some((k, v)) = kv.trim().split_once('=')
                && k == SESSION_COOKIE
            {
                out.push(v.to_string());
            }
        }
        out.extend(
            form_pairs(&self.query)
                .filter(|(k, _)| k == "access_token")
                .map(|(_, v)| v),
        );
        out
    }
}

/// A whole answer: status, header fields beyond the framing ones, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl ShopResponse {
    pub(super) fn json(status: u16, v: &Value) -> ShopResponse {
        ShopResponse {
            status,
            headers: vec![("content-type", "application/json".to_string())],
            body: serde_json::to_vec(v).unwrap_or_default(),
        }
    }

    pub(super) fn header(mut self, name: &'static str, value: String) -> ShopResponse {
        self.headers.push((name, value));
        self
    }
}

/// `a=1&b=x+y%21` as decoded pairs (`+` is a space; a bad `%` escape is kept as it is).
pub(super) fn form_pairs(s: &str) -> impl Iterator<Item = (String, String)> + '_ {
    s.split('&').filter(|kv| !kv.is_empty()).map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (decode(k), decode(v))
    })
}

pub(super) fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 3 <= b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
