//! Auth detection: which captured requests carried a token that a captured response handed out,
//! so the plan can mint a fresh one per session at replay instead of sending a dead literal.
//!
//! Flow, over every kept exchange in capture order ([`detect`]):
//!
//! 1. **Uses first.** The exchange's request is searched for values some earlier response
//!    handed out: a header's whole value or its value after a scheme word (`Bearer X`,
//!    `Token X`), a `Cookie` pair's value, a query parameter's value. Values are matched
//!    whole, and only values that look like credentials count ([`credential_like`]: 8 or more
//!    visible characters, not a number, not one repeated character, not a keyword).
//! 2. **Then what its response hands out** (unless its request itself carried a detected
//!    token: a refresh made with a token cannot be replayed as a login): string fields with
//!    token-like names anywhere in a JSON body (`access_token`, `id_token`, `token`, `jwt`,
//!    `authToken`..., by JSON pointer), `Set-Cookie` values, and headers with token-like names
//!    (`X-Auth-Token`), each with the lifetime the response gave (a sibling `expires_in`, a
//!    cookie's `Max-Age`, an `*-expires-in` header).
//!
//! Each use belongs to a profile keyed by the **login shape**: method and label of the login
//! request, where the token was in its response, where it went in the request. The first login
//! of a shape becomes the profile's login request (its username- and password-like body fields
//! are the profile's `user_fields`); every captured exchange of that login shape (same method
//! and label, a token at the same place in its response) is a login and leaves the steps, since
//! the engine sends the login itself. A request that carried the token gets the profile's slot
//! and loses the literal ([`remove_credential`]).
//!
//! A login defined by hand (`--auth-login FILE`, [`ManualLogin`]) adds a profile that slots
//! every request carrying a credential in its place (e.g. any `Authorization: Bearer`), and
//! takes over detected uses of the same shape. Requests that still carry a token-like
//! credential ([`credential_places`]: a non-Basic `Authorization`, a `*token` header, a
//! session-like cookie, a token-like query parameter) are counted as tokens from outside the
//! capture: they keep their literal. `--auth strip` removes every such credential and every
//! detected use without slots; `--auth keep` does nothing.
//!
//! Detection never prints: it returns a [`Detection`] for `normalise`.

use std::collections::HashMap;

use ringload_formats::{TokenLocation, TokenPlace};

use crate::error::RecordError;
use crate::exchange::Exchange;
use crate::label::{LabelRule, label_for};

/// Shortest value taken for a token.
pub const MIN_TOKEN_LEN: usize = 8;
/// Longest value taken for a token (longer strings are documents, not credentials).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// JSON bodies are searched this deep.
const MAX_JSON_DEPTH: usize = 32;

/// `--auth`: what `record` does with credentials.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuthMode {
    /// Find logins and their tokens; slot the requests that carried them (default).
    #[default]
    Detect,
    /// Leave every credential as captured.
    Keep,
    /// Remove every token-like credential and detected token, without slots.
    Strip,
}

impl std::str::FromStr for AuthMode {
    type Err = RecordError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "detect" => Ok(AuthMode::Detect),
            "keep" => Ok(AuthMode::Keep),
            "strip" => Ok(AuthMode::Strip),
            _ => Err(RecordError::Option(format!(
                "--auth {s:?}: expected detect, keep or strip"
            ))),
        }
    }
}

/// A login defined by hand: `--auth-login FILE` (its one request), `--auth-token-path`,
/// `--auth-send-as`.
#[derive(Debug, Clone)]
pub struct ManualLogin {
    pub request: Exchange,
    pub token_at: TokenLocation,
    pub send_as: TokenPlace,
}

/// Everything auth detection is told.
#[derive(Debug, Clone, Default)]
pub struct AuthOptions {
    pub mode: AuthMode,
    pub manual: Option<ManualLogin>,
}

/// `--auth-token-path`: `/json/pointer`, `cookie:NAME` or `header:NAME`.
pub fn parse_token_at(s: &str) -> Result<TokenLocation, RecordError> {
    let bad = |why: &str| {
        RecordError::Option(format!(
            "--auth-token-path {s:?}: {why} (expected a JSON pointer such as /access_token, \
             cookie:NAME or header:NAME)"
        ))
    };
    if s.starts_with('/') {
        return Ok(TokenLocation::JsonPointer(s.to_string()));
    }
    match s.split_once(':') {
        Some(("cookie", n)) if valid_name(n) => Ok(TokenLocation::Cookie(n.to_string())),
        Some(("header", n)) if valid_header_name(n) => Ok(TokenLocation::Header(n.to_string())),
        Some(("cookie" | "header", _)) => Err(bad("invalid name")),
        _ => Err(bad("unknown form")),
    }
}

/// `--auth-send-as`: `bearer` (`Authorization: Bearer <token>`), `header:NAME` (the token as
/// the value), `header:NAME:SCHEME` (`NAME: SCHEME <token>`), `cookie:NAME`, `query:NAME`.
pub fn parse_send_as(s: &str) -> Result<TokenPlace, RecordError> {
    let bad = |why: &str| {
        RecordError::Option(format!(
            "--auth-send-as {s:?}: {why} (expected bearer, header:NAME, header:NAME:SCHEME, \
             cookie:NAME or query:NAME)"
        ))
    };
    if s.eq_ignore_ascii_case("bearer") {
        return Ok(bearer());
    }
    let (kind, rest) = s.split_once(':').ok_or_else(|| bad("unknown form"))?;
    match kind {
        "header" => {
            let (name, scheme) = rest.split_once(':').unwrap_or((rest, ""));
            if !valid_header_name(name) {
                return Err(bad("invalid header name"));
            }
            if !scheme.is_empty() && !scheme.bytes().all(is_token_byte) {
                return Err(bad("invalid scheme"));
            }
            Ok(TokenPlace::Header {
                name: name.to_string(),
                prefix: if scheme.is_empty() {
                    String::new()
                } else {
                    format!("{scheme} ")
                },
            })
        }
        "cookie" if valid_name(rest) => Ok(TokenPlace::Cookie(rest.to_string())),
        "query" if valid_name(rest) => Ok(TokenPlace::Query(rest.to_string())),
        "cookie" | "query" => Err(bad("invalid name")),
        _ => Err(bad("unknown form")),
    }
}

fn bearer() -> TokenPlace {
    TokenPlace::Header {
        name: "Authorization".into(),
        prefix: "Bearer ".into(),
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn valid_header_name(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(is_token_byte)
}

/// A cookie or query parameter name the plan format accepts.
fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_graphic() && !b"=;&,\"".contains(&b))
}

/// An auth profile found in the capture (or defined by hand), before requests are interned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundProfile {
    /// `POST /auth/token -> Authorization: Bearer`.
    pub name: String,
    /// The login: the first captured login of this shape, or the hand-defined one.
    pub login: Exchange,
    pub token_at: TokenLocation,
    pub send_as: TokenPlace,
    pub expires_at: Option<String>,
    pub expires_in_s: Option<u64>,
    pub user_fields: Vec<String>,
    /// Captured logins of this shape (removed from the steps).
    pub logins: u64,
    /// Steps that carried its token.
    pub steps: u64,
    /// Defined with `--auth-login`.
    pub by_hand: bool,
}

/// What detection decided, per kept exchange (same indices as the input).
#[derive(Debug, Clone, Default)]
pub struct Detection {
    pub profiles: Vec<FoundProfile>,
    /// The profile whose token the request carried: remove the credential at its `send_as`.
    pub slots: Vec<Option<usize>>,
    /// A login the engine sends itself: not a step.
    pub logins: Vec<bool>,
    /// Credentials to remove without a slot (`--auth strip`).
    pub strip: Vec<Vec<TokenPlace>>,
    /// The request still carries a token-like credential no captured login handed out.
    pub outside: Vec<bool>,
}

/// One credential a response handed out.
#[derive(Debug, Clone)]
struct Issued {
    by: usize,
    at: TokenLocation,
    expires_at: Option<String>,
    expires_in_s: Option<u64>,
}

/// A request that sent back a handed-out value.
#[derive(Debug, Clone)]
struct Use {
    issued: Issued,
    place: TokenPlace,
}

/// Runs detection over `exchanges` (capture order); `rules` label the logins as the plan will.
pub fn detect(
    exchanges: &[Exchange],
    opts: &AuthOptions,
    rules: &[LabelRule],
) -> Result<Detection, RecordError> {
    let n = exchanges.len();
    let mut det = Detection {
        slots: vec![None; n],
        logins: vec![false; n],
        strip: vec![Vec::new(); n],
        outside: vec![false; n],
        profiles: Vec::new(),
    };
    if opts.mode == AuthMode::Keep {
        if opts.manual.is_some() {
            return Err(RecordError::Option(
                "--auth-login defines a login for slots: it cannot go with --auth keep".into(),
            ));
        }
        return Ok(det);
    }
    // Pass 1: uses by value, in capture order; credentials handed out by each response.
    let mut handed: HashMap<String, Vec<Issued>> = HashMap::new();
    let mut uses: Vec<Option<Use>> = vec![None; n];
    let mut issued_by: Vec<Vec<Issued>> = vec![Vec::new(); n];
    for (i, ex) in exchanges.iter().enumerate() {
        uses[i] = find_use(ex, &handed);
        if uses[i].is_some() {
            continue;
        }
        for (value, issued) in handed_out(i, ex) {
            issued_by[i].push(issued.clone());
            handed.entry(value).or_default().insert(0, issued);
        }
    }
    if opts.mode == AuthMode::Strip {
        for (i, ex) in exchanges.iter().enumerate() {
            let mut places = credential_places(ex);
            if let Some(u) = &uses[i]
                && !places.contains(&u.place)
            {
                places.push(u.place.clone());
            }
            det.strip[i] = places;
        }
        return Ok(det);
    }
    // Pass 2: profiles by login shape.
    let label = |ex: &Exchange| label_for(&ex.method, &ex.path, rules);
    let mut shape_of: HashMap<(String, String, TokenLocation, TokenPlace), usize> = HashMap::new();
    if let Some(m) = &opts.manual {
        let l = label(&m.request);
        det.profiles.push(FoundProfile {
            name: profile_name(&l, &m.send_as),
            user_fields: user_fields(&m.request),
            expires_at: match &m.token_at {
                TokenLocation::JsonPointer(p) => Some(sibling(p, "expires_in")),
                _ => None,
            },
            expires_in_s: None,
            login: m.request.clone(),
            token_at: m.token_at.clone(),
            send_as: m.send_as.clone(),
            logins: 0,
            steps: 0,
            by_hand: true,
        });
    }
    for (i, u) in uses.iter().enumerate() {
        let Some(u) = u else { continue };
        let login = &exchanges[u.issued.by];
        let key = (
            login.method.clone(),
            label(login),
            u.issued.at.clone(),
            u.place.clone(),
        );
        let manual_same_shape = opts.manual.as_ref().is_some_and(|m| {
            m.send_as == u.place && m.request.method == key.0 && label(&m.request) == key.1
        });
        let p = if manual_same_shape {
            0
        } else {
            *shape_of.entry(key).or_insert_with(|| {
                det.profiles.push(FoundProfile {
                    name: profile_name(&label(login), &u.place),
                    login: login.clone(),
                    token_at: u.issued.at.clone(),
                    send_as: u.place.clone(),
                    expires_at: u.issued.expires_at.clone(),
                    expires_in_s: u.issued.expires_in_s,
                    user_fields: user_fields(login),
                    logins: 0,
                    steps: 0,
                    by_hand: false,
                });
                det.profiles.len() - 1
            })
        };
        det.slots[i] = Some(p);
    }
    // Every exchange of a profile's login shape is a login, not a step.
    let shapes: Vec<(String, String)> = det
        .profiles
        .iter()
        .map(|p| (p.login.method.clone(), label(&p.login)))
        .collect();
    for (i, ex) in exchanges.iter().enumerate() {
        if det.slots[i].is_some() || !shapes.iter().any(|(m, _)| *m == ex.method) {
            continue;
        }
        let l = label(ex);
        let hit = det.profiles.iter().zip(&shapes).position(|(p, (m, pl))| {
            *m == ex.method
                && *pl == l
                && (p.by_hand || issued_by[i].iter().any(|is| is.at == p.token_at))
        });
        if let Some(p) = hit {
            det.logins[i] = true;
            det.profiles[p].logins += 1;
        }
    }
    // A hand-defined login slots every other request carrying its kind of credential.
    if let Some(m) = &opts.manual {
        for (i, ex) in exchanges.iter().enumerate() {
            if det.slots[i].is_none() && !det.logins[i] && carries_at(ex, &m.send_as) {
                det.slots[i] = Some(0);
            }
        }
    }
    for (i, ex) in exchanges.iter().enumerate() {
        if let Some(p) = det.slots[i] {
            det.profiles[p].steps += 1;
        } else if !det.logins[i] {
            det.outside[i] = !credential_places(ex).is_empty();
        }
    }
    Ok(det)
}

fn profile_name(login_label: &str, place: &TokenPlace) -> String {
    format!("{login_label} -> {}", place_text(place))
}

/// `Authorization: Bearer`, `X-Auth-Token`, `cookie shop_session`, `query access_token`.
pub fn place_text(place: &TokenPlace) -> String {
    match place {
        TokenPlace::Header { name, prefix } if prefix.is_empty() => name.clone(),
        TokenPlace::Header { name, prefix } => format!("{name}: {}", prefix.trim_end()),
        TokenPlace::Cookie(n) => format!("cookie {n}"),
        TokenPlace::Query(n) => format!("query {n}"),
    }
}

/// The pointer of a sibling field: `/data/token` + `expires_in` -> `/data/expires_in`.
fn sibling(pointer: &str, field: &str) -> String {
    match pointer.rsplit_once('/') {
        Some((parent, _)) => format!("{parent}/{field}"),
        None => format!("/{field}"),
    }
}

/// The handed-out value this request sent back, if any (the most recent issuer wins when a
/// request carries several).
fn find_use(ex: &Exchange, handed: &HashMap<String, Vec<Issued>>) -> Option<Use> {
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

/// The credentials exchange `i`'s response handed out, with where and how long.
fn handed_out(i: usize, ex: &Exchange) -> Vec<(String, Issued)> {
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

/// Names that hold tokens: `access_token`, `id_token`, `token`, `jwt`, `authToken`,
/// `X-Auth-Token`, `session_token` (case-insensitive, `-`/`_` ignored). Tokens that are not
/// credentials are left out: pagination cursors (`next_token`, `pageToken`,
/// `continuation_token`) and CSRF tokens (`csrf_token`, `X-XSRF-Token`), which a replay must
/// send as captured.
pub fn token_like_name(name: &str) -> bool {
    let n: String = name
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .collect::<String>()
        .to_ascii_lowercase();
    let not_credential = ["page", "next", "cursor", "continuation", "csrf", "xsrf"]
        .iter()
        .any(|w| n.contains(w));
    (n.ends_with("token") || n.ends_with("jwt")) && !not_credential
}

/// Cookie names that hold sessions or tokens (`sid`, `JSESSIONID`, `shop_session`, `auth`).
fn session_like_cookie(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.contains("sess")
        || n == "sid"
        || n.ends_with("_sid")
        || n.ends_with(".sid")
        || n.contains("auth")
        || token_like_name(&n)
}

/// Could this string be a minted credential? At least [`MIN_TOKEN_LEN`] visible characters,
/// not a number, not one repeated character, not a keyword.
pub fn credential_like(v: &str) -> bool {
    let v = v.trim();
    if v.len() < MIN_TOKEN_LEN || v.len() > MAX_TOKEN_LEN {
        return false;
    }
    if !v.bytes().all(|b| b.is_ascii_graphic()) || v.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let first = v.as_bytes()[0];
    if v.bytes().all(|b| b == first) {
        return false;
    }
    let lower = v.to_ascii_lowercase();
    !matches!(
        lower.as_str(),
        "undefined" | "deleted" | "anonymous" | "password" | "redacted" | "application/json"
    )
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
fn carries_at(ex: &Exchange, place: &TokenPlace) -> bool {
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

/// Login body fields a `--users` row fills: username-like and password-like names of a form
/// or top-level JSON body, in body order.
pub fn user_fields(login: &Exchange) -> Vec<String> {
    body_fields(login)
        .into_iter()
        .filter(|f| user_like(f) || password_like(f))
        .collect()
}

/// Field names of a form (`a=1&b=2`) or top-level JSON object body, in order.
pub fn body_fields(ex: &Exchange) -> Vec<String> {
    let ct = ex
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    let body = ex.body.trim_ascii_start();
    if ct.contains("json") || (!ct.contains("form") && body.first() == Some(&b'{')) {
        // serde_json's map keeps key order only with `preserve_order`; read keys in order by
        // hand from a streaming deserializer instead.
        return json_keys_in_order(body);
    }
    if ct.starts_with("application/x-www-form-urlencoded") || ct.is_empty() {
        let mut out: Vec<String> = Vec::new();
        for (k, _) in form_urlencoded::parse(body) {
            if !k.is_empty() && !out.iter().any(|o| *o == k) {
                out.push(k.into_owned());
            }
        }
        return out;
    }
    Vec::new()
}

fn json_keys_in_order(body: &[u8]) -> Vec<String> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
            let mut keys = Vec::new();
            while let Some(k) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
            Ok(keys)
        }
    }
    serde_json::Deserializer::from_slice(body)
        .deserialize_map(Keys)
        .unwrap_or_default()
}

fn norm(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "_")
}

/// `username`, `user`, `login`, `email`, `user_id`...
pub fn user_like(name: &str) -> bool {
    matches!(
        norm(name).as_str(),
        "username"
            | "user_name"
            | "user"
            | "login"
            | "email"
            | "e_mail"
            | "mail"
            | "userid"
            | "user_id"
            | "account"
            | "account_name"
    )
}

/// `password`, `passwd`, `pwd`, `pass`, `*_password`.
pub fn password_like(name: &str) -> bool {
    let n = norm(name);
    matches!(
        n.as_str(),
        "password" | "passwd" | "pwd" | "pass" | "passphrase"
    ) || n.ends_with("_password")
}

#[cfg(test)]
mod tests;
