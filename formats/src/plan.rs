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

/// One distinct request with everything that is the same each time it is replayed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Request {
    pub method: String,
    /// Path and query, origin-form (`/api/v1/products?page=1`).
    pub target: String,
    /// Headers in order. `Host`, `Content-Length` and hop-by-hop headers are not stored: the
    /// engine writes them at replay.
    pub headers: Vec<(String, String)>,
    /// Shared: requests with the same body point at one copy (as the file stores it once).
    pub body: Arc<[u8]>,
    pub label: LabelId,
    pub segment: Option<SegmentId>,
    pub auth: Option<AuthSlot>,
    pub expect: Option<Expectation>,
    /// Per-request timeout in microseconds, overriding the run's.
    pub timeout_us: Option<u64>,
}

/// A header whose value is minted at replay from an auth profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthSlot {
    pub profile: AuthProfileId,
}

/// How to obtain a token at replay and where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthProfile {
    pub name: String,
    /// The login request (an entry of [`Plan::requests`]).
    pub login: RequestId,
    /// Where the token is in the login response.
    pub token_at: TokenLocation,
    /// Header the token goes into (`Authorization`).
    pub header: String,
    /// Text before the token (`Bearer `).
    pub prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TokenLocation {
    /// RFC 6901 JSON pointer into a JSON body (`/access_token`).
    JsonPointer(String),
    /// A response header's value.
    Header(String),
    /// A `Set-Cookie` cookie's value.
    Cookie(String),
}

/// What a response must look like to count as ok.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Expectation {
    /// Allowed statuses; empty means any status below 400.
    pub status: Vec<StatusRule>,
    /// Required response headers: name and the set of allowed values.
    pub headers: Vec<(String, Vec<String>)>,
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
            if r.timeout_us.is_some_and(|t| t == 0 || t > MAX_TIMEOUT_US) {
                return Err(format!("request {i} has a timeout outside 1 us..=24 h"));
            }
            if r.method.is_empty() || !r.method.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(format!("request {i} has an invalid method {:?}", r.method));
            }
            if !r.target.starts_with('/') && r.target != "*" {
                return Err(format!(
                    "request {i} target {:?} does not start with '/'",
                    r.target
                ));
            }
            let bad = |s: &str| s.bytes().any(|b| b == b'\r' || b == b'\n');
            if bad(&r.target)
                || r.headers
                    .iter()
                    .any(|(n, v)| bad(n) || bad(v) || n.is_empty())
            {
                return Err(format!(
                    "request {i} has a line break in its target or headers"
                ));
            }
        }
        for (i, p) in self.auth_profiles.iter().enumerate() {
            if p.login as usize >= n_req {
                return Err(format!(
                    "auth profile {i} login request {} of {n_req}",
                    p.login
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
