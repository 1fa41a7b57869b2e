//! The in-memory plan: what the recorder builds and the engine replays.
//!
//! Distinct requests are stored once ([`Request`], with their label, segment, auth slot,
//! expectation and timeout) and steps refer to them by [`RequestId`]. A [`Session`] is an ordered
//! list of [`Step`]s that replay in order on one logical client. The on-disk layout lives in
//! `wire` and is converted to and from these types; see `FORMAT.md`.

use std::collections::HashMap;
use std::sync::Arc;

/// Longest per-request timeout a plan may carry (24 h, microseconds).
pub const MAX_TIMEOUT_US: u64 = 24 * 3600 * 1_000_000;
/// Latest step offset a plan may carry (one year, microseconds): keeps replay arithmetic in range.
pub const MAX_OFFSET_US: u64 = 366 * 24 * 3600 * 1_000_000;

/// Index into [`Plan::requests`].
pub type RequestId = u32;
/// Index into [`Plan::labels`].
pub type LabelId = u32;
/// Index into [`Plan::segments`].
pub type SegmentId = u32;
/// Index into [`Plan::auth_profiles`].
pub type AuthProfileId = u32;

/// Free-form facts about where the plan came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// ringload version that wrote the plan.
    pub tool_version: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
    /// Source kind: `targets`, `har`, `pcap`, `access-log`, `proxy`...
    pub source_kind: String,
    /// Human description of the source (file names, capture filter).
    pub source: String,
    /// Scheme of the captured traffic (`http`/`https`), when a single one.
    pub scheme: Option<String>,
    /// `host[:port]` of the captured traffic, when a single one.
    pub authority: Option<String>,
    /// Free-form `key=value` tags such as `mesh=istio`.
    pub tags: Vec<(String, String)>,
    /// Facts a reader should know ("bodies absent: access logs carry none").
    pub notes: Vec<String>,
    /// The plan holds credentials (auth headers, cookies) in clear text.
    pub holds_secrets: bool,
    /// Secrets were replaced by placeholders at record time.
    pub redacted: bool,
}

/// Text interned by the plan file: every request that uses the same string (a header name, a
/// long cookie, a target) shares one copy in memory, as the file stores it once.
pub type Text = Arc<str>;

/// One distinct request with everything that is the same each time it is replayed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Request {
    pub method: Text,
    /// Path and query, origin-form (`/api/v1/products?page=1`).
    pub target: Text,
    /// Headers in order. `Host`, `Content-Length` and hop-by-hop headers are not stored: the
    /// engine writes them at replay. A request with an [`AuthSlot`] carries no token: the
    /// engine adds it where its profile's [`TokenPlace`] says.
    pub headers: Vec<(Text, Text)>,
    /// Shared: requests with the same body point at one copy (as the file stores it once).
    pub body: Arc<[u8]>,
    pub label: LabelId,
    pub segment: Option<SegmentId>,
    pub auth: Option<AuthSlot>,
    pub expect: Option<Expectation>,
    /// Per-request timeout in microseconds, overriding the run's.
    pub timeout_us: Option<u64>,
}

impl Request {
    /// The rules of the request's own text, which the reader and the writer enforce: a method of
    /// letters, an origin-form target (or `*`), header names that are not empty, and no line
    /// break in the target or any header; a timeout within 1 us..=24 h. Recorders call it on
    /// each captured request so that a bad one is reported where it was captured.
    pub fn check(&self) -> Result<(), String> {
        if self
            .timeout_us
            .is_some_and(|t| t == 0 || t > MAX_TIMEOUT_US)
        {
            return Err("has a timeout outside 1 us..=24 h".into());
        }
        if self.method.is_empty() || !self.method.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(format!(
                "has an invalid method {:?} (letters only)",
                self.method
            ));
        }
        if !self.target.starts_with('/') && &*self.target != "*" {
            return Err(format!("target {:?} does not start with '/'", self.target));
        }
        let bad = |s: &str| s.bytes().any(|b| b == b'\r' || b == b'\n');
        if bad(&self.target) {
            return Err("has a line break in its target".into());
        }
        if let Some((i, (n, _))) = self
            .headers
            .iter()
            .enumerate()
            .find(|(_, (n, v))| bad(n) || bad(v) || n.is_empty())
        {
            return Err(if n.is_empty() {
                format!("header {i} has an empty name")
            } else {
                format!("header {i} ({:?}) has a line break", truncated(n))
            });
        }
        Ok(())
    }
}

/// At most 40 characters of `s`, for messages.
fn truncated(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// The request carries a credential minted at replay from an auth profile: the recorder took
/// the captured token out of it, and the engine puts a fresh one where the profile's
/// [`TokenPlace`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthSlot {
    pub profile: AuthProfileId,
}

/// How to obtain a token at replay (one login request per session) and where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthProfile {
    /// Shown in reports and `inspect` (e.g. `POST /auth/token -> Authorization`).
    pub name: String,
    /// The login request (an entry of [`Plan::requests`]): method, path, content type and body
    /// template. It has no step of its own: the engine sends it before a session's first
    /// slotted step, again before the token expires, and once after a 401.
    pub login: RequestId,
    /// Where the token is in the login response.
    pub token_at: TokenLocation,
    /// Where the token goes in the requests that carry it.
    pub send_as: TokenPlace,
    /// Where the login response says how long the token lives (seconds), read at each login:
    /// a JSON pointer (`/expires_in`). A cookie token's `Max-Age` is read without it.
    pub expires_at: Option<String>,
    /// The lifetime the captured login response gave, seconds (shown by `inspect`; used when
    /// a replayed login response gives none).
    pub expires_in_s: Option<u64>,
    /// Login body fields that a `--users` row fills (form or top-level JSON field names such as
    /// `username`, `password`); redacted plans hold placeholders in them.
    pub user_fields: Vec<String>,
}

impl AuthProfile {
    fn validate(&self, n_req: usize) -> Result<(), String> {
        if self.login as usize >= n_req {
            return Err(format!("login request {} of {n_req}", self.login));
        }
        let bad = |s: &str| s.bytes().any(|b| b == b'\r' || b == b'\n');
        let pointer_ok = |p: &str| p.is_empty() || p.starts_with('/');
        match &self.token_at {
            TokenLocation::JsonPointer(p) if !pointer_ok(p) => {
                return Err(format!("JSON pointer {p:?} does not start with '/'"));
            }
            TokenLocation::Header(n) | TokenLocation::Cookie(n) if n.is_empty() || bad(n) => {
                return Err(format!(
                    "token location name {n:?} is empty or holds a line break"
                ));
            }
            _ => {}
        }
        match &self.send_as {
            TokenPlace::Header { name, prefix }
                if name.is_empty() || bad(name) || bad(prefix) || name.contains(':') =>
            {
                return Err(format!(
                    "the token's header {name:?} (prefix {prefix:?}) is empty, holds a line \
                     break or a ':'"
                ));
            }
            TokenPlace::Cookie(n) | TokenPlace::Query(n)
                if n.is_empty() || bad(n) || n.contains(['=', ';', '&', ' ']) =>
            {
                let what = match &self.send_as {
                    TokenPlace::Cookie(_) => "cookie",
                    _ => "query parameter",
                };
                return Err(format!(
                    "the token's {what} name {n:?} is empty or holds a line break, '=', ';', \
                     '&' or a space"
                ));
            }
            _ => {}
        }
        if let Some(p) = &self.expires_at
            && !pointer_ok(p)
        {
            return Err(format!("expiry JSON pointer {p:?} does not start with '/'"));
        }
        Ok(())
    }
}

/// Where a token is in a login response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TokenLocation {
    /// RFC 6901 JSON pointer into a JSON body (`/access_token`, `/data/token`).
    JsonPointer(String),
    /// A response header's value.
    Header(String),
    /// A `Set-Cookie` cookie's value.
    Cookie(String),
}

/// Where a token goes in the requests that carry it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TokenPlace {
    /// A header: `name: prefix + token` (`Authorization: Bearer <token>`, `X-Auth-Token: <token>`).
    Header { name: String, prefix: String },
    /// A cookie `name=<token>` in the `Cookie` header (added to the request's other cookies).
    Cookie(String),
    /// A query parameter `name=<token>` (added to the request's other parameters).
    Query(String),
}

/// What a response must look like to count as ok.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Expectation {
    /// Allowed statuses; empty means any status below 400.
    pub status: Vec<StatusRule>,
    /// Required response headers: name and the set of allowed values.
    pub headers: Vec<(Text, Vec<Text>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusRule {
    Exact(u16),
    /// A class by its first digit: `Class(2)` is 2xx.
    Class(u8),
}

impl StatusRule {
    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusRule::Exact(s) => s == status,
            StatusRule::Class(c) => status / 100 == u16::from(c),
        }
    }
}

/// One step of a session: a request, when it was sent, on which captured connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Step {
    pub request: RequestId,
    /// Microseconds from the start of the capture (0 for sources without timing).
    pub offset_us: u64,
    /// Captured connection id (0 when unknown).
    pub connection: u64,
}

/// Steps replayed in order by one logical client.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Session {
    pub steps: Vec<Step>,
}

/// A whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub meta: Metadata,
    pub requests: Vec<Request>,
    pub labels: Vec<String>,
    pub segments: Vec<String>,
    pub auth_profiles: Vec<AuthProfile>,
    pub sessions: Vec<Session>,
}

impl Plan {
    pub fn step_count(&self) -> u64 {
        self.sessions.iter().map(|s| s.steps.len() as u64).sum()
    }

    /// Steps in order of their offsets across all sessions.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.sessions.iter().flat_map(|s| s.steps.iter())
    }

    /// Check every cross reference; the reader calls this on every decoded plan.
    pub fn validate(&self) -> Result<(), String> {
        let n_req = self.requests.len();
        for (i, r) in self.requests.iter().enumerate() {
            if r.label as usize >= self.labels.len() {
                return Err(format!(
                    "request {i} has label {} of {}",
                    r.label,
                    self.labels.len()
                ));
            }
            if let Some(s) = r.segment
                && s as usize >= self.segments.len()
            {
                return Err(format!(
                    "request {i} has segment {s} of {}",
                    self.segments.len()
                ));
            }
            if let Some(a) = r.auth
                && a.profile as usize >= self.auth_profiles.len()
            {
                return Err(format!(
                    "request {i} has auth profile {} of {}",
                    a.profile,
                    self.auth_profiles.len()
                ));
            }
            r.check().map_err(|why| format!("request {i}: {why}"))?;
        }
        for (i, p) in self.auth_profiles.iter().enumerate() {
            p.validate(n_req)
                .map_err(|why| format!("auth profile {i} ({:?}): {why}", p.name))?;
            if self.requests[p.login as usize].auth.is_some() {
                return Err(format!(
                    "auth profile {i} ({:?}): its login request {} needs a token itself",
                    p.name, p.login
                ));
            }
        }
        for (si, s) in self.sessions.iter().enumerate() {
            let mut last = 0;
            for (k, st) in s.steps.iter().enumerate() {
                if st.request as usize >= n_req {
                    return Err(format!(
                        "session {si} step {k} refers to request {} of {n_req}",
                        st.request
                    ));
                }
                if st.offset_us > MAX_OFFSET_US {
                    return Err(format!(
                        "session {si} step {k} is more than a year into the plan"
                    ));
                }
                if st.offset_us < last {
                    return Err(format!("session {si} step {k} goes back in time"));
                }
                last = st.offset_us;
            }
        }
        Ok(())
    }
}

/// Builds a plan, interning labels, segments and requests as they come.
#[derive(Debug, Default)]
pub struct PlanBuilder {
    plan: Plan,
    requests: HashMap<Request, RequestId>,
    labels: HashMap<String, LabelId>,
    segments: HashMap<String, SegmentId>,
}

impl PlanBuilder {
    pub fn new(meta: Metadata) -> Self {
        PlanBuilder {
            plan: Plan {
                meta,
                ..Plan::default()
            },
            ..Default::default()
        }
    }

    pub fn meta_mut(&mut self) -> &mut Metadata {
        &mut self.plan.meta
    }

    pub fn label(&mut self, name: &str) -> LabelId {
        intern(&mut self.labels, &mut self.plan.labels, name)
    }

    pub fn segment(&mut self, name: &str) -> SegmentId {
        intern(&mut self.segments, &mut self.plan.segments, name)
    }

    pub fn auth_profile(&mut self, p: AuthProfile) -> AuthProfileId {
        self.plan.auth_profiles.push(p);
        (self.plan.auth_profiles.len() - 1) as AuthProfileId
    }

    /// The id of an equal request already in the plan, or of this one, added.
    pub fn request(&mut self, r: Request) -> RequestId {
        if let Some(&id) = self.requests.get(&r) {
            return id;
        }
        let id = self.plan.requests.len() as RequestId;
        self.plan.requests.push(r.clone());
        self.requests.insert(r, id);
        id
    }

    pub fn session(&mut self, s: Session) {
        if !s.steps.is_empty() {
            self.plan.sessions.push(s);
        }
    }

    pub fn finish(self) -> Plan {
        self.plan
    }
}

fn intern(map: &mut HashMap<String, u32>, table: &mut Vec<String>, name: &str) -> u32 {
    if let Some(&id) = map.get(name) {
        return id;
    }
    let id = table.len() as u32;
    table.push(name.to_string());
    map.insert(name.to_string(), id);
    id
}
