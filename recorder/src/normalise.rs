//! Normalisation: the one step every source shares, from [`Capture`]s to a [`Plan`].
//!
//! First over all kept exchanges: host filter and `--exclude` (counted skips), then auth
//! detection (`auth::detect`: logins, their profiles, which requests carried their tokens), each
//! request's segment (`--segment NAME=HEADER:VALUE`), and the response header values each
//! segment saw (`--expect-header`). Then the profiles' login requests go into the plan (no step
//! of their own), and for each other exchange: hop-by-hop and framing headers dropped, the
//! slotted (or `--auth strip`ped) credential removed, secrets redacted (`--redact`; a login's
//! user fields become placeholders) or detected, label (a `--label-rule` or the path with
//! id-like segments templated to `:id`), expectation (`--expect-status`: the captured status
//! class; `--expect-header`: the values its segment's responses had, when its own response had
//! the header), session key (`--session-by`), and time offset from the first timed request.
//! Sessions keep capture order; steps within one are sorted by offset.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use regex::Regex;
use ringload_formats::{
    AuthProfile, AuthSlot, Expectation, MAX_OFFSET_US, Metadata, Plan, PlanBuilder, Request,
    Session, StatusRule, Step, Text, TokenLocation, TokenPlace,
};

use crate::auth::{self, AuthOptions, FoundProfile};
use crate::error::RecordError;
use crate::exchange::{Capture, Exchange};
use crate::redact;

/// `--segment NAME=HEADER:VALUE`: requests carrying `HEADER: VALUE` are tagged `NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRule {
    pub name: String,
    pub header: String,
    pub value: String,
}

impl std::str::FromStr for SegmentRule {
    type Err = RecordError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            RecordError::Option(format!(
                "--segment {s:?}: expected NAME=HEADER:VALUE, e.g. canary=x-user-segment:beta-testers"
            ))
        };
        let (name, rest) = s.split_once('=').ok_or_else(bad)?;
        let (header, value) = rest.split_once(':').ok_or_else(bad)?;
        if name.trim().is_empty() || header.trim().is_empty() {
            return Err(bad());
        }
        Ok(SegmentRule {
            name: name.trim().to_string(),
            header: header.trim().to_string(),
            value: value.trim().to_string(),
        })
    }
}

/// `--session-by`: what groups requests into sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SessionBy {
    /// The captured connection (default); requests without one form a single session.
    #[default]
    Connection,
    Header(String),
    Cookie(String),
    ClientIp,
}

impl std::str::FromStr for SessionBy {
    type Err = RecordError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            None if s == "connection" => Ok(SessionBy::Connection),
            None if s == "client-ip" => Ok(SessionBy::ClientIp),
            Some(("header", n)) if !n.is_empty() => Ok(SessionBy::Header(n.to_string())),
            Some(("cookie", n)) if !n.is_empty() => Ok(SessionBy::Cookie(n.to_string())),
            _ => Err(RecordError::Option(format!(
                "--session-by {s:?}: expected connection, client-ip, header:NAME or cookie:NAME"
            ))),
        }
    }
}

/// Everything normalisation can be told; built once from CLI arguments.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub segments: Vec<SegmentRule>,
    /// Segment of requests that match no `--segment` rule (e.g. `stable`); none by default.
    pub default_segment: Option<String>,
    pub label_rules: Vec<LabelRule>,
    pub session_by: SessionBy,
    /// Keep only requests addressed to these hosts (port optional), case-insensitive.
    pub hosts: Vec<String>,
    /// Drop requests whose path+query matches any of these.
    pub exclude: Vec<Regex>,
    pub redact: bool,
    /// `--auth`, `--auth-login`: what happens to credentials.
    pub auth: AuthOptions,
    /// `--expect-header NAME`: store, per segment, the values captured responses had.
    pub expect_headers: Vec<String>,
    /// `--expect-status`: store the captured status class as each request's expectation.
    pub expect_status: bool,
    pub tags: Vec<(String, String)>,
    /// Written into the plan's metadata.
    pub tool_version: String,
    pub created_unix_ms: u64,
}

/// What recording did, for the summary printed after `record`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Requests kept, per source kind.
    pub requests: BTreeMap<String, u64>,
    /// Items skipped, by reason (sources' and normalisation's).
    pub skipped: BTreeMap<String, u64>,
    /// Steps per label.
    pub labels: BTreeMap<String, u64>,
    pub sessions: u64,
    pub steps: u64,
    pub distinct_requests: u64,
    pub auth: AuthSummary,
    /// `--expect-header` values per segment.
    pub expected_headers: Vec<ExpectedHeader>,
}

/// What auth detection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthSummary {
    pub profiles: Vec<ProfileSummary>,
    /// Sessions (and steps) that still carry a token no captured login handed out.
    pub outside_sessions: u64,
    pub outside_steps: u64,
    /// Steps whose credentials `--auth strip` removed.
    pub stripped_steps: u64,
}

/// One auth profile, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSummary {
    pub name: String,
    /// `METHOD path` of the login request.
    pub login: String,
    /// `json /access_token`, `cookie sid`, `header X-Auth-Token`.
    pub token_at: String,
    /// `Authorization: Bearer`, `cookie sid`, `query access_token`.
    pub send_as: String,
    pub expires_in_s: Option<u64>,
    pub user_fields: Vec<String>,
    /// Captured logins of this shape (not steps).
    pub logins: u64,
    /// Steps that got the slot.
    pub steps: u64,
    pub by_hand: bool,
}

impl ProfileSummary {
    fn of(p: &FoundProfile) -> Self {
        ProfileSummary {
            name: p.name.clone(),
            login: format!(
                "{} {}",
                p.login.method,
                p.login.path.split('?').next().unwrap_or("")
            ),
            token_at: location_text(&p.token_at),
            send_as: auth::place_text(&p.send_as),
            expires_in_s: p.expires_in_s,
            user_fields: p.user_fields.clone(),
            logins: p.logins,
            steps: p.steps,
            by_hand: p.by_hand,
        }
    }
}

/// `json /access_token`, `header X-Auth-Token`, `cookie sid`.
pub fn location_text(l: &TokenLocation) -> String {
    match l {
        TokenLocation::JsonPointer(p) => format!("json {p}"),
        TokenLocation::Header(h) => format!("header {h}"),
        TokenLocation::Cookie(c) => format!("cookie {c}"),
    }
}

/// The values one `--expect-header` had, per segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedHeader {
    pub name: String,
    pub segments: Vec<SegmentValues>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentValues {
    /// `None`: requests in no segment.
    pub segment: Option<String>,
    pub values: Vec<String>,
    /// Requests whose response had the header.
    pub requests: u64,
}

/// Headers that describe one hop or the framing, never replayed as captured.
const DROPPED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// Turn captures into a plan.
pub fn normalise(captures: Vec<Capture>, opts: &Options) -> Result<(Plan, Summary), RecordError> {
    let mut summary = Summary::default();
    let mut kinds = Vec::new();
    let mut descriptions = Vec::new();
    let mut notes = Vec::new();
    let mut kept: Vec<Exchange> = Vec::new();
    // The file each kept exchange came from (an index into `paths`), for errors about it.
    let mut src: Vec<usize> = Vec::new();
    let mut paths = Vec::new();
    for cap in captures {
        paths.push(cap.path.clone());
        if !kinds.contains(&cap.kind) {
            kinds.push(cap.kind);
        }
        descriptions.push(cap.description);
        for n in cap.notes {
            if !notes.contains(&n) {
                notes.push(n);
            }
        }
        for (reason, n) in cap.skipped {
            *summary.skipped.entry(reason).or_default() += n;
        }
        for ex in cap.exchanges {
            if let Some(reason) = filter(&ex, opts) {
                *summary.skipped.entry(reason.into()).or_default() += 1;
                continue;
            }
            *summary.requests.entry(cap.kind.to_string()).or_default() += 1;
            kept.push(ex);
            src.push(paths.len() - 1);
        }
    }
    let first_us = kept.iter().filter_map(|e| e.time_us).min().unwrap_or(0);
    let mut meta = Metadata {
        tool_version: opts.tool_version.clone(),
        created_unix_ms: opts.created_unix_ms,
        source_kind: kinds.join("+"),
        source: descriptions.join(", "),
        scheme: single(kept.iter().map(|e| e.scheme.as_deref())),
        authority: single(kept.iter().map(|e| e.authority.as_deref())),
        tags: opts.tags.clone(),
        notes,
        holds_secrets: false,
        redacted: opts.redact,
    };
    let det = auth::detect(&kept, &opts.auth, &opts.label_rules)?;
    let segment_names: Vec<Option<&str>> = kept
        .iter()
        .map(|ex| segment_of(&ex.headers, opts))
        .collect();
    let expected = ExpectedHeaders::collect(&kept, &det.logins, &segment_names, opts);
    let mut b = PlanBuilder::new(Metadata::default());
    let mut secrets = false;
    // Logins first: requests without steps that the engine sends before slotted steps.
    let mut profile_ids = Vec::with_capacity(det.profiles.len());
    for p in &det.profiles {
        let (headers, target, body) = prepare(&p.login, None, opts, &p.user_fields);
        secrets |= !opts.redact && redact::holds_secrets(&headers, &target, &body);
        let label = b.label(&label_for(
            &p.login.method,
            &p.login.path,
            &opts.label_rules,
        ));
        let segment = segment_of(&p.login.headers, opts).map(|name| b.segment(name));
        let login = b.request(Request {
            method: p.login.method.as_str().into(),
            target: target.into(),
            headers: texts(headers),
            body: body.into(),
            label,
            segment,
            auth: None,
            expect: None,
            timeout_us: None,
        });
        profile_ids.push(b.auth_profile(AuthProfile {
            name: p.name.clone(),
            login,
            token_at: p.token_at.clone(),
            send_as: p.send_as.clone(),
            expires_at: p.expires_at.clone(),
            expires_in_s: p.expires_in_s,
            user_fields: p.user_fields.clone(),
        }));
    }
    // Session key -> index into `sessions`, in order of first appearance.
    let mut session_of: HashMap<String, usize> = HashMap::new();
    let mut sessions: Vec<Vec<Step>> = Vec::new();
    let mut outside_sessions: HashSet<String> = HashSet::new();
    for (i, ex) in kept.iter().enumerate() {
        if det.logins[i] {
            continue;
        }
        // A request the plan could not hold is the capture's fault: say where it is.
        let fail = |message: String| match &ex.position {
            Some(at) => RecordError::Malformed {
                path: paths[src[i]].clone(),
                at: at.clone(),
                message,
            },
            None => RecordError::Unsupported {
                path: paths[src[i]].clone(),
                message,
            },
        };
        let offset_us = ex
            .time_us
            .map_or(0, |t| t.saturating_sub(first_us).max(0) as u64);
        if offset_us > MAX_OFFSET_US {
            return Err(fail(format!(
                "{:.1} days after the first request of the capture; a plan spans at most {} days",
                offset_us as f64 / 86_400e6,
                MAX_OFFSET_US / 86_400_000_000
            )));
        }
        let connection = connection_of(ex, src[i]);
        let key = session_key(ex, connection, &opts.session_by);
        let slot = det.slots[i];
        let mut removed: Vec<&TokenPlace> = det.strip[i].iter().collect();
        removed.extend(slot.map(|p| &det.profiles[p].send_as));
        let (headers, target, body) = prepare(ex, Some(&removed), opts, &[]);
        secrets |= !opts.redact && redact::holds_secrets(&headers, &target, &body);
        if det.outside[i] {
            summary.auth.outside_steps += 1;
            outside_sessions.insert(key.clone());
        }
        summary.auth.stripped_steps += u64::from(!det.strip[i].is_empty());
        let label = label_for(&ex.method, &ex.path, &opts.label_rules);
        let label = b.label(&label);
        let segment = segment_names[i].map(|name| b.segment(name));
        let mut expect = Expectation::default();
        if opts.expect_status
            && let Some(s) = ex.status
        {
            expect
                .status
                .push(StatusRule::Class((s / 100).clamp(1, 5) as u8));
        }
        expect.headers = expected.for_exchange(ex, segment_names[i]);
        let request = Request {
            method: ex.method.as_str().into(),
            target: target.into(),
            headers: texts(headers),
            body: body.into(),
            label,
            segment,
            auth: slot.map(|p| AuthSlot {
                profile: profile_ids[p],
            }),
            expect: (expect != Expectation::default()).then_some(expect),
            timeout_us: None,
        };
        request
            .check()
            .map_err(|why| fail(format!("the request {why}")))?;
        let request = b.request(request);
        let idx = *session_of.entry(key).or_insert_with(|| {
            sessions.push(Vec::new());
            sessions.len() - 1
        });
        sessions[idx].push(Step {
            request,
            offset_us,
            connection: connection.unwrap_or(0),
        });
    }
    summary.auth.outside_sessions = outside_sessions.len() as u64;
    summary.auth.profiles = det.profiles.iter().map(ProfileSummary::of).collect();
    summary.expected_headers = expected.summary();
    meta.holds_secrets = secrets;
    *b.meta_mut() = meta;
    for mut steps in sessions {
        steps.sort_by_key(|s| s.offset_us);
        summary.steps += steps.len() as u64;
        b.session(Session { steps });
    }
    let plan = b.finish();
    if plan.sessions.is_empty() {
        return Err(RecordError::Option(format!(
            "no requests left to record (skipped: {})",
            summary
                .skipped
                .iter()
                .map(|(r, n)| format!("{n} {r}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    summary.sessions = plan.sessions.len() as u64;
    summary.distinct_requests = plan.requests.len() as u64;
    for st in plan.steps() {
        let l = &plan.labels[plan.requests[st.request as usize].label as usize];
        *summary.labels.entry(l.clone()).or_default() += 1;
    }
    Ok((plan, summary))
}

/// A request's headers, target and body as the plan stores them: hop-by-hop and framing
/// headers dropped, the credentials at `removed` taken out, then secrets redacted (`--redact`;
/// `user_fields` of a login become placeholders too).
fn prepare(
    ex: &Exchange,
    removed: Option<&[&TokenPlace]>,
    opts: &Options,
    user_fields: &[String],
) -> (Vec<(String, String)>, String, Vec<u8>) {
    let mut headers: Vec<(String, String)> = ex
        .headers
        .iter()
        .filter(|(n, _)| !n.starts_with(':') && !DROPPED.iter().any(|d| n.eq_ignore_ascii_case(d)))
        .cloned()
        .collect();
    let mut target = ex.path.clone();
    for place in removed.unwrap_or_default() {
        auth::remove_credential(&mut headers, &mut target, place);
    }
    let mut body = ex.body.clone();
    if opts.redact {
        redact::headers(&mut headers);
        target = redact::target(&target);
        body = redact::fields(&headers, &body, user_fields);
        body = redact::body(&headers, &body);
    }
    (headers, target, body)
}

fn texts(headers: Vec<(String, String)>) -> Vec<(Text, Text)> {
    headers
        .into_iter()
        .map(|(n, v)| (n.into(), v.into()))
        .collect()
}

/// The segment of a request: the first `--segment` rule its headers match, else
/// `--default-segment`.
fn segment_of<'o>(headers: &[(String, String)], opts: &'o Options) -> Option<&'o str> {
    opts.segments
        .iter()
        .find(|r| {
            headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case(&r.header) && v.trim() == r.value)
        })
        .map(|r| r.name.as_str())
        .or(opts.default_segment.as_deref())
}

/// Per segment (`None`: no segment): the values seen, and how many requests' responses had
/// the header.
type ValuesBySegment = BTreeMap<Option<String>, (BTreeSet<String>, u64)>;

/// `--expect-header`: per header name and segment, the values captured responses had.
struct ExpectedHeaders<'o> {
    names: &'o [String],
    /// One map per name.
    seen: Vec<ValuesBySegment>,
}

impl<'o> ExpectedHeaders<'o> {
    fn collect(
        kept: &[Exchange],
        logins: &[bool],
        segments: &[Option<&str>],
        opts: &'o Options,
    ) -> Self {
        let names = &opts.expect_headers[..];
        let mut seen = vec![BTreeMap::new(); names.len()];
        for (i, ex) in kept.iter().enumerate() {
            if logins[i] {
                continue;
            }
            for (k, name) in names.iter().enumerate() {
                let values = response_values(ex, name);
                if values.is_empty() {
                    continue;
                }
                let entry: &mut (BTreeSet<String>, u64) =
                    seen[k].entry(segments[i].map(str::to_string)).or_default();
                entry.0.extend(values);
                entry.1 += 1;
            }
        }
        ExpectedHeaders { names, seen }
    }

    /// Header expectations of one request: for each name its response had, the values its
    /// segment's responses had.
    fn for_exchange(&self, ex: &Exchange, segment: Option<&str>) -> Vec<(Text, Vec<Text>)> {
        let mut out = Vec::new();
        for (k, name) in self.names.iter().enumerate() {
            if response_values(ex, name).is_empty() {
                continue;
            }
            if let Some((values, _)) = self.seen[k].get(&segment.map(str::to_string)) {
                out.push((
                    name.as_str().into(),
                    values.iter().map(|v| v.as_str().into()).collect(),
                ));
            }
        }
        out
    }

    fn summary(&self) -> Vec<ExpectedHeader> {
        self.names
            .iter()
            .zip(&self.seen)
            .map(|(name, per)| ExpectedHeader {
                name: name.clone(),
                segments: per
                    .iter()
                    .map(|(seg, (values, n))| SegmentValues {
                        segment: seg.clone(),
                        values: values.iter().cloned().collect(),
                        requests: *n,
                    })
                    .collect(),
            })
            .collect()
    }
}

fn response_values(ex: &Exchange, name: &str) -> Vec<String> {
    ex.response_headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
        .collect()
}

fn single<'a>(mut it: impl Iterator<Item = Option<&'a str>>) -> Option<String> {
    let first = it.next()??;
    it.all(|x| x == Some(first)).then(|| first.to_string())
}

fn filter(ex: &Exchange, opts: &Options) -> Option<&'static str> {
    if !opts.hosts.is_empty() {
        let auth = ex.authority.as_deref().unwrap_or("");
        let host = auth.rsplit_once(':').map_or(auth, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                auth
            }
        });
        if !opts
            .hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(auth) || h.eq_ignore_ascii_case(host))
        {
            return Some("other host (--host)");
        }
    }
    if opts.exclude.iter().any(|re| re.is_match(&ex.path)) {
        return Some("excluded (--exclude)");
    }
    None
}

/// The captured connection of `ex`, which came from capture number `capture`: each source numbers
/// its own connections from 0, so those of later captures get the capture's number in their top
/// byte (the first capture's are kept as they are; a HAR's hashed ids may lose a bit or two).
fn connection_of(ex: &Exchange, capture: usize) -> Option<u64> {
    ex.connection.map(|c| c ^ ((capture as u64) << 56))
}

fn session_key(ex: &Exchange, connection: Option<u64>, by: &SessionBy) -> String {
    let header = |name: &str| {
        ex.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    match by {
        SessionBy::Connection => connection.map_or(String::new(), |c| c.to_string()),
        SessionBy::ClientIp => ex.client.clone().unwrap_or_default(),
        SessionBy::Header(n) => header(n).unwrap_or("").to_string(),
        SessionBy::Cookie(name) => ex
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| k == name)
            .map_or(String::new(), |(_, v)| v.to_string()),
    }
}

pub use crate::label::{LabelRule, compile_regex, is_id_like, label_for};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_template_ids() {
        let l = |m, p| label_for(m, p, &[]);
        assert_eq!(
            l("GET", "/api/v1/products/SKU-100045"),
            "GET /api/v1/products/:id"
        );
        assert_eq!(
            l("GET", "/api/v1/products?category=home&page=1"),
            "GET /api/v1/products"
        );
        assert_eq!(l("GET", "/users/42/orders/7"), "GET /users/:id/orders/:id");
        assert_eq!(
            l("DELETE", "/o/3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
            "DELETE /o/:id"
        );
        assert_eq!(l("GET", "/blob/deadbeefcafe1234"), "GET /blob/:id");
        assert_eq!(l("GET", "/api/v1/health"), "GET /api/v1/health");
        assert_eq!(l("GET", "/"), "GET /");
        assert_eq!(l("GET", "/v2/apps"), "GET /v2/apps");
        assert!(!is_id_like("v1"));
        assert!(!is_id_like("checkout"));
        assert!(!is_id_like("cafe"));
    }

    #[test]
    fn label_rules_win_and_expand() {
        let r: LabelRule = r"^GET /api/v1/(\w+)\?.*auth=1=GET $1 (auth)"
            .parse()
            .unwrap();
        assert_eq!(
            label_for("GET", "/api/v1/products?auth=1", &[r]),
            "GET products (auth)"
        );
        assert!("(=x".parse::<LabelRule>().is_err());
    }

    #[test]
    fn option_parsing() {
        let s: SegmentRule = "canary=x-user-segment:beta-testers".parse().unwrap();
        assert_eq!(
            (s.name.as_str(), s.header.as_str(), s.value.as_str()),
            ("canary", "x-user-segment", "beta-testers")
        );
        assert!("canary".parse::<SegmentRule>().is_err());
        assert_eq!(
            "cookie:sid".parse::<SessionBy>().unwrap(),
            SessionBy::Cookie("sid".into())
        );
        assert!("cookie:".parse::<SessionBy>().is_err());
    }

    fn ex(
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        t: Option<i64>,
        conn: Option<u64>,
    ) -> Exchange {
        Exchange {
            method: method.into(),
            path: path.into(),
            headers: headers
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            time_us: t,
            connection: conn,
            authority: Some("shop:80".into()),
            ..Exchange::default()
        }
    }

    #[test]
    fn sessions_offsets_segments_and_filters() {
        let cap = Capture {
            kind: "test",
            description: "unit".into(),
            exchanges: vec![
                ex(
                    "GET",
                    "/a/1",
                    &[("Host", "shop"), ("Connection", "keep-alive")],
                    Some(1_000_500),
                    Some(1),
                ),
                ex(
                    "GET",
                    "/a/2",
                    &[("x-user-segment", "beta-testers")],
                    Some(1_000_000),
                    Some(2),
                ),
                ex("GET", "/health", &[], Some(1_000_900), Some(1)),
                ex("POST", "/a/3", &[], Some(1_002_000), Some(1)),
            ],
            skipped: vec![("non-http stream".into(), 2)],
            notes: vec![],
            path: "unit.log".into(),
        };
        let opts = Options {
            segments: vec!["canary=x-user-segment:beta-testers".parse().unwrap()],
            exclude: vec![Regex::new("^/health").unwrap()],
            ..Options::default()
        };
        let (plan, sum) = normalise(vec![cap], &opts).unwrap();
        assert_eq!(plan.sessions.len(), 2);
        let s0 = &plan.sessions[0].steps;
        assert_eq!(
            s0.iter().map(|s| s.offset_us).collect::<Vec<_>>(),
            vec![500, 2000]
        );
        assert_eq!(plan.sessions[1].steps[0].offset_us, 0);
        let r0 = &plan.requests[s0[0].request as usize];
        assert!(
            r0.headers.is_empty(),
            "Host and Connection dropped: {:?}",
            r0.headers
        );
        let canary = &plan.requests[plan.sessions[1].steps[0].request as usize];
        assert_eq!(plan.segments[canary.segment.unwrap() as usize], "canary");
        assert_eq!(sum.skipped["excluded (--exclude)"], 1);
        assert_eq!(sum.skipped["non-http stream"], 2);
        assert_eq!(sum.labels["GET /a/:id"], 2);
        assert_eq!(plan.meta.authority.as_deref(), Some("shop:80"));
        assert!(!plan.meta.holds_secrets);
    }

    #[test]
    fn connections_of_two_captures_stay_apart() {
        // Both sources number their connections from 0: connection 0 of each is its own.
        let cap = |path: &str| Capture {
            kind: "test",
            description: path.into(),
            exchanges: vec![
                ex("GET", "/a", &[], Some(1_000_000), Some(0)),
                ex("GET", "/b", &[], Some(1_000_100), Some(0)),
            ],
            skipped: vec![],
            notes: vec![],
            path: path.into(),
        };
        let (plan, _) =
            normalise(vec![cap("one.pcap"), cap("two.pcap")], &Options::default()).unwrap();
        assert_eq!(plan.sessions.len(), 2);
        let conns: Vec<u64> = plan
            .sessions
            .iter()
            .map(|s| s.steps[0].connection)
            .collect();
        assert_eq!(conns[0], 0, "the first capture's ids are kept");
        assert_ne!(conns[0], conns[1]);
        assert!(plan.sessions.iter().all(|s| s.steps.len() == 2));
    }

    #[test]
    fn host_filter_and_secrets() {
        let mut other = ex("GET", "/x", &[], None, None);
        other.authority = Some("other:80".into());
        let cap = Capture {
            kind: "test",
            exchanges: vec![
                ex("GET", "/x", &[("Authorization", "Bearer abc")], None, None),
                other,
            ],
            ..Capture::default()
        };
        let opts = Options {
            hosts: vec!["SHOP".into()],
            ..Options::default()
        };
        let (plan, sum) = normalise(vec![cap.clone()], &opts).unwrap();
        assert_eq!(plan.step_count(), 1);
        assert_eq!(sum.skipped["other host (--host)"], 1);
        assert!(plan.meta.holds_secrets);
        let (plan, _) = normalise(
            vec![cap],
            &Options {
                redact: true,
                ..opts
            },
        )
        .unwrap();
        assert!(!plan.meta.holds_secrets && plan.meta.redacted);
        assert_eq!(&*plan.requests[0].headers[0].1, redact::PLACEHOLDER);
    }

    fn with_response(
        mut e: Exchange,
        status: u16,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Exchange {
        e.status = Some(status);
        e.response_headers = headers
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        e.response_body = body.as_bytes().to_vec();
        e
    }

    const TOKEN: &str = "tok-5f2a9c1e7b3d4a6f8e0c";

    fn shop_capture() -> Capture {
        let mut login = ex(
            "POST",
            "/auth/token",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            Some(1_000),
            Some(1),
        );
        login.body = b"username=alice&password=s3cret&client_id=web".to_vec();
        let bearer = format!("Bearer {TOKEN}");
        let canary = [
            ("Authorization", bearer.as_str()),
            ("x-user-segment", "beta-testers"),
        ];
        let version = |v| [("x-upstream-version", v)];
        Capture {
            kind: "test",
            exchanges: vec![
                with_response(
                    login,
                    200,
                    &[("Content-Type", "application/json")],
                    &format!(r#"{{"access_token":"{TOKEN}","expires_in":300}}"#),
                ),
                with_response(
                    ex(
                        "GET",
                        "/api/v1/cart",
                        &[("Authorization", &bearer)],
                        Some(2_000),
                        Some(1),
                    ),
                    200,
                    &[],
                    "",
                ),
                with_response(
                    ex("GET", "/reco?p=1", &canary, Some(3_000), Some(1)),
                    200,
                    &version("canary-v2"),
                    "",
                ),
                with_response(
                    ex("GET", "/reco?p=2", &[], Some(4_000), Some(2)),
                    200,
                    &version("stable"),
                    "",
                ),
                with_response(
                    ex("GET", "/reco?p=3", &[], Some(5_000), Some(2)),
                    200,
                    &version("canary-v2"),
                    "",
                ),
                with_response(
                    ex("GET", "/missing", &[], Some(6_000), Some(2)),
                    404,
                    &[],
                    "",
                ),
            ],
            ..Capture::default()
        }
    }

    fn canary_opts() -> Options {
        Options {
            segments: vec!["canary=x-user-segment:beta-testers".parse().unwrap()],
            default_segment: Some("stable".into()),
            ..Options::default()
        }
    }

    #[test]
    fn expectations_are_opt_in() {
        let (plan, sum) = normalise(vec![shop_capture()], &canary_opts()).unwrap();
        assert!(
            plan.requests.iter().all(|r| r.expect.is_none()),
            "no --expect-*: none stored"
        );
        assert!(sum.expected_headers.is_empty());
        let opts = Options {
            expect_status: true,
            expect_headers: vec!["X-Upstream-Version".into()],
            ..canary_opts()
        };
        let (plan, sum) = normalise(vec![shop_capture()], &opts).unwrap();
        let expect_of = |target: &str| {
            plan.requests
                .iter()
                .find(|r| &*r.target == target)
                .unwrap()
                .expect
                .clone()
                .unwrap()
        };
        assert_eq!(expect_of("/missing").status, [StatusRule::Class(4)]);
        assert!(
            expect_of("/missing").headers.is_empty(),
            "its response had no version"
        );
        let values = |target: &str| -> Vec<String> {
            let e = expect_of(target);
            assert_eq!(e.headers.len(), 1);
            assert_eq!(&*e.headers[0].0, "X-Upstream-Version");
            e.headers[0].1.iter().map(|v| v.to_string()).collect()
        };
        assert_eq!(values("/reco?p=1"), ["canary-v2"]);
        // Stable saw both (a weighted split): both are allowed for each stable request.
        assert_eq!(values("/reco?p=2"), ["canary-v2", "stable"]);
        assert_eq!(values("/reco?p=3"), ["canary-v2", "stable"]);
        let e = &sum.expected_headers[0];
        let seen: Vec<(Option<&str>, Vec<&str>, u64)> = e
            .segments
            .iter()
            .map(|s| {
                (
                    s.segment.as_deref(),
                    s.values.iter().map(String::as_str).collect(),
                    s.requests,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (Some("canary"), vec!["canary-v2"], 1),
                (Some("stable"), vec!["canary-v2", "stable"], 2)
            ]
        );
    }

    #[test]
    fn login_becomes_a_profile_and_slotted_steps_lose_the_token() {
        let (plan, sum) = normalise(vec![shop_capture()], &canary_opts()).unwrap();
        plan.validate().unwrap();
        assert_eq!(plan.step_count(), 5, "the login is not a step");
        assert_eq!(plan.auth_profiles.len(), 1);
        let p = &plan.auth_profiles[0];
        let login = &plan.requests[p.login as usize];
        assert_eq!((&*login.method, &*login.target), ("POST", "/auth/token"));
        assert!(plan.steps().all(|s| s.request != p.login));
        assert_eq!(p.user_fields, ["username", "password"]);
        let slotted: Vec<&Request> = plan.requests.iter().filter(|r| r.auth.is_some()).collect();
        assert_eq!(slotted.len(), 2);
        for r in &slotted {
            assert!(
                r.headers
                    .iter()
                    .all(|(n, v)| !n.eq_ignore_ascii_case("authorization") && !v.contains(TOKEN))
            );
        }
        assert_eq!(sum.auth.profiles[0].steps, 2);
        assert_eq!(sum.auth.profiles[0].logins, 1);
        assert_eq!(sum.auth.outside_steps, 0);
        // The segment header stays; the plan still holds the login's password.
        assert!(plan.meta.holds_secrets);

        let (plan, _) = normalise(
            vec![shop_capture()],
            &Options {
                redact: true,
                ..canary_opts()
            },
        )
        .unwrap();
        let login = &plan.requests[plan.auth_profiles[0].login as usize];
        assert_eq!(
            &*login.body, b"username=REDACTED&password=REDACTED&client_id=web",
            "the login keeps its shape with placeholders in its user fields"
        );
        assert!(!plan.meta.holds_secrets);
    }
}
