//! Plan payload schemas (version 2, written; version 1, still read) and their conversion to and
//! from [`crate::plan`].
//!
//! Wire structs are private and frozen: a change of layout is a new version with its own
//! structs, and [`decode`] dispatches on the header's version. Version 2 changed only the auth
//! profile (where the token goes, its lifetime, the login's user fields); every other struct is
//! shared with version 1. Strings (methods, targets, header
//! names and values, labels, segments) and bodies are interned once; steps store small integers,
//! time as a delta from the previous step of the session and the connection as a zigzag delta, so
//! a step costs a few bytes with bincode's varints.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::FormatError;
use crate::plan::{
    AuthProfile, AuthSlot, Expectation, Metadata, Plan, Request, Session, StatusRule, Step, Text,
    TokenLocation, TokenPlace,
};

pub const FLAG_HOLDS_SECRETS: u16 = 1 << 0;
pub const FLAG_REDACTED: u16 = 1 << 1;

#[derive(Serialize, Deserialize)]
struct PlanV1 {
    meta: MetaV1,
    strings: Vec<String>,
    bodies: Vec<Vec<u8>>,
    labels: Vec<u32>,
    segments: Vec<u32>,
    auth_profiles: Vec<AuthProfileV1>,
    requests: Vec<RequestV1>,
    sessions: Vec<Vec<StepV1>>,
}

/// Version 2: `PlanV1` with [`AuthProfileV2`].
#[derive(Serialize, Deserialize)]
struct PlanV2 {
    meta: MetaV1,
    strings: Vec<String>,
    bodies: Vec<Vec<u8>>,
    labels: Vec<u32>,
    segments: Vec<u32>,
    auth_profiles: Vec<AuthProfileV2>,
    requests: Vec<RequestV1>,
    sessions: Vec<Vec<StepV1>>,
}

#[derive(Serialize, Deserialize)]
struct MetaV1 {
    tool_version: String,
    created_unix_ms: u64,
    source_kind: String,
    source: String,
    scheme: Option<String>,
    authority: Option<String>,
    tags: Vec<(String, String)>,
    notes: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct RequestV1 {
    method: u32,
    target: u32,
    headers: Vec<(u32, u32)>,
    body: Option<u32>,
    label: u32,
    segment: Option<u32>,
    auth: Option<u32>,
    expect: Option<ExpectV1>,
    timeout_us: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct ExpectV1 {
    /// Exact codes are 100..=599, classes are 1..=5.
    status: Vec<u16>,
    headers: Vec<(u32, Vec<u32>)>,
}

#[derive(Serialize, Deserialize)]
struct AuthProfileV1 {
    name: u32,
    login: u32,
    /// 0 JSON pointer, 1 header, 2 cookie.
    token_kind: u8,
    token_at: u32,
    header: u32,
    prefix: u32,
}

#[derive(Serialize, Deserialize)]
struct AuthProfileV2 {
    name: u32,
    login: u32,
    /// Where the token is in the login response: 0 JSON pointer, 1 header, 2 cookie.
    token_kind: u8,
    token_at: u32,
    /// Where it goes: 0 header (`place_name: place_prefix + token`), 1 cookie, 2 query parameter.
    place_kind: u8,
    place_name: u32,
    place_prefix: u32,
    expires_at: Option<u32>,
    expires_in_s: Option<u64>,
    user_fields: Vec<u32>,
}

#[derive(Serialize, Deserialize)]
struct StepV1 {
    request: u32,
    delta_us: u64,
    connection_delta: i64,
}

#[derive(Default)]
struct Interner<'a> {
    strings: Vec<String>,
    index: HashMap<&'a str, u32>,
    bodies: Vec<Vec<u8>>,
    body_index: HashMap<&'a [u8], u32>,
}

impl<'a> Interner<'a> {
    fn s(&mut self, s: &'a str) -> u32 {
        let n = self.strings.len() as u32;
        *self.index.entry(s).or_insert_with(|| {
            self.strings.push(s.to_string());
            n
        })
    }
    fn body(&mut self, b: &'a [u8]) -> Option<u32> {
        if b.is_empty() {
            return None;
        }
        let n = self.bodies.len() as u32;
        Some(*self.body_index.entry(b).or_insert_with(|| {
            self.bodies.push(b.to_vec());
            n
        }))
    }
}

/// Flags for the container header.
pub fn flags(plan: &Plan) -> u16 {
    let mut f = 0;
    if plan.meta.holds_secrets {
        f |= FLAG_HOLDS_SECRETS;
    }
    if plan.meta.redacted {
        f |= FLAG_REDACTED;
    }
    f
}

/// Encode a plan as the latest payload schema.
pub fn encode(plan: &Plan) -> Result<Vec<u8>, FormatError> {
    plan.validate().map_err(FormatError::Invalid)?;
    let mut int = Interner::default();
    let labels = plan.labels.iter().map(|l| int.s(l)).collect();
    let segments = plan.segments.iter().map(|l| int.s(l)).collect();
    let requests = plan
        .requests
        .iter()
        .map(|r| RequestV1 {
            method: int.s(&r.method),
            target: int.s(&r.target),
            headers: r
                .headers
                .iter()
                .map(|(n, v)| (int.s(n), int.s(v)))
                .collect(),
            body: int.body(&r.body),
            label: r.label,
            segment: r.segment,
            auth: r.auth.map(|a| a.profile),
            expect: r.expect.as_ref().map(|e| ExpectV1 {
                status: e
                    .status
                    .iter()
                    .map(|s| match *s {
                        StatusRule::Exact(c) => c,
                        StatusRule::Class(c) => u16::from(c),
                    })
                    .collect(),
                headers: e
                    .headers
                    .iter()
                    .map(|(n, vs)| (int.s(n), vs.iter().map(|v| int.s(v)).collect()))
                    .collect(),
            }),
            timeout_us: r.timeout_us,
        })
        .collect();
    let auth_profiles = plan
        .auth_profiles
        .iter()
        .map(|p| {
            let (token_kind, at) = match &p.token_at {
                TokenLocation::JsonPointer(s) => (0, s),
                TokenLocation::Header(s) => (1, s),
                TokenLocation::Cookie(s) => (2, s),
            };
            let (place_kind, place_name, place_prefix) = match &p.send_as {
                TokenPlace::Header { name, prefix } => (0, name.as_str(), prefix.as_str()),
                TokenPlace::Cookie(n) => (1, n.as_str(), ""),
                TokenPlace::Query(n) => (2, n.as_str(), ""),
            };
            AuthProfileV2 {
                name: int.s(&p.name),
                login: p.login,
                token_kind,
                token_at: int.s(at),
                place_kind,
                place_name: int.s(place_name),
                place_prefix: int.s(place_prefix),
                expires_at: p.expires_at.as_deref().map(|e| int.s(e)),
                expires_in_s: p.expires_in_s,
                user_fields: p.user_fields.iter().map(|f| int.s(f)).collect(),
            }
        })
        .collect();
    let sessions = plan
        .sessions
        .iter()
        .map(|s| {
            let (mut t, mut c) = (0u64, 0u64);
            s.steps
                .iter()
                .map(|st| {
                    let step = StepV1 {
                        request: st.request,
                        delta_us: st.offset_us - t,
                        connection_delta: st.connection.wrapping_sub(c) as i64,
                    };
                    (t, c) = (st.offset_us, st.connection);
                    step
                })
                .collect()
        })
        .collect();
    let m = &plan.meta;
    let wire = PlanV2 {
        meta: MetaV1 {
            tool_version: m.tool_version.clone(),
            created_unix_ms: m.created_unix_ms,
            source_kind: m.source_kind.clone(),
            source: m.source.clone(),
            scheme: m.scheme.clone(),
            authority: m.authority.clone(),
            tags: m.tags.clone(),
            notes: m.notes.clone(),
        },
        strings: int.strings,
        bodies: int.bodies,
        labels,
        segments,
        auth_profiles,
        requests,
        sessions,
    };
    crate::container::encode_payload(&wire)
}

/// Decode a payload of the given schema version and check every reference in it.
pub fn decode(version: u16, flags: u16, payload: &[u8]) -> Result<Plan, FormatError> {
    let budget = decoded_budget(payload.len());
    let plan = match version {
        1 => {
            let w: PlanV1 = crate::container::decode_payload(payload)?;
            let v2 = PlanV2 {
                auth_profiles: w
                    .auth_profiles
                    .into_iter()
                    .map(|p| AuthProfileV2 {
                        name: p.name,
                        login: p.login,
                        token_kind: p.token_kind,
                        token_at: p.token_at,
                        place_kind: 0,
                        place_name: p.header,
                        place_prefix: p.prefix,
                        expires_at: None,
                        expires_in_s: None,
                        user_fields: Vec::new(),
                    })
                    .collect(),
                meta: w.meta,
                strings: w.strings,
                bodies: w.bodies,
                labels: w.labels,
                segments: w.segments,
                requests: w.requests,
                sessions: w.sessions,
            };
            from_v2(v2, flags, budget)?
        }
        2 => from_v2(crate::container::decode_payload(payload)?, flags, budget)?,
        v => {
            return Err(FormatError::UnknownVersion {
                kind: "plan",
                found: v,
                supported: crate::PLAN.latest,
            });
        }
    };
    plan.validate().map_err(FormatError::Invalid)?;
    Ok(plan)
}

/// The most bytes of strings a payload may expand to where a string is copied rather than
/// shared (labels, segments, profile fields): as many as the payload holds, plus 1 MiB. The
/// writer interns every string, so a plan it wrote copies little more than its labels once; a
/// file naming one long string many times could otherwise ask for gigabytes. Request strings
/// and bodies are shared, never copied.
fn decoded_budget(payload_len: usize) -> usize {
    payload_len.saturating_add(1 << 20)
}

fn from_v2(w: PlanV2, flags: u16, budget: usize) -> Result<Plan, FormatError> {
    let strings = &w.strings;
    let spent = std::cell::Cell::new(0usize);
    let charge = |n: usize| -> Result<(), FormatError> {
        spent.set(spent.get().saturating_add(n));
        if spent.get() > budget {
            return Err(FormatError::Invalid(format!(
                "labels, segments and auth profiles copy more than {budget} bytes of strings \
                 (the payload's size plus 1 MiB)"
            )));
        }
        Ok(())
    };
    let n = strings.len();
    let missing = |i: u32, place: &dyn Fn() -> String| {
        FormatError::Invalid(format!(
            "{} refers to string {i}, but the plan has {n} strings",
            place()
        ))
    };
    // A copied string (labels, segments, profile fields), charged against the budget.
    let s = |i: u32, place: &dyn Fn() -> String| -> Result<String, FormatError> {
        let v = strings.get(i as usize).ok_or_else(|| missing(i, place))?;
        charge(v.len())?;
        Ok(v.clone())
    };
    // Request strings are shared: one allocation per distinct string, however often used.
    let shared: Vec<Text> = strings.iter().map(|v| Text::from(v.as_str())).collect();
    let t = |i: u32, place: &dyn Fn() -> String| -> Result<Text, FormatError> {
        shared
            .get(i as usize)
            .cloned()
            .ok_or_else(|| missing(i, place))
    };
    let bodies: Vec<Arc<[u8]>> = w.bodies.iter().map(|b| Arc::from(b.as_slice())).collect();
    let labels = w
        .labels
        .iter()
        .enumerate()
        .map(|(k, &i)| s(i, &|| format!("label {k}")))
        .collect::<Result<_, _>>()?;
    let segments = w
        .segments
        .iter()
        .enumerate()
        .map(|(k, &i)| s(i, &|| format!("segment {k}")))
        .collect::<Result<_, _>>()?;
    let mut requests = Vec::with_capacity(w.requests.len());
    for (ri, r) in w.requests.iter().enumerate() {
        let body = match r.body {
            None => Arc::from(&[][..]),
            Some(b) => bodies.get(b as usize).cloned().ok_or_else(|| {
                FormatError::Invalid(format!(
                    "request {ri} refers to body {b}, but the plan has {} bodies",
                    bodies.len()
                ))
            })?,
        };
        let expect = match &r.expect {
            None => None,
            Some(e) => Some(Expectation {
                status: e
                    .status
                    .iter()
                    .map(|&c| match c {
                        1..=5 => Ok(StatusRule::Class(c as u8)),
                        100..=599 => Ok(StatusRule::Exact(c)),
                        _ => Err(FormatError::Invalid(format!(
                            "request {ri} expects status rule {c}, neither a class (1..=5) \
                             nor a status code (100..=599)"
                        ))),
                    })
                    .collect::<Result<_, _>>()?,
                headers: e
                    .headers
                    .iter()
                    .enumerate()
                    .map(|(hi, (n, vs))| {
                        let place = || format!("request {ri} expected header {hi}");
                        Ok((
                            t(*n, &place)?,
                            vs.iter().map(|&v| t(v, &place)).collect::<Result<_, _>>()?,
                        ))
                    })
                    .collect::<Result<_, FormatError>>()?,
            }),
        };
        requests.push(Request {
            method: t(r.method, &|| format!("request {ri} method"))?,
            target: t(r.target, &|| format!("request {ri} target"))?,
            headers: r
                .headers
                .iter()
                .enumerate()
                .map(|(hi, &(n, v))| {
                    let place = || format!("request {ri} header {hi}");
                    Ok((t(n, &place)?, t(v, &place)?))
                })
                .collect::<Result<_, FormatError>>()?,
            body,
            label: r.label,
            segment: r.segment,
            auth: r.auth.map(|profile| AuthSlot { profile }),
            expect,
            timeout_us: r.timeout_us,
        });
    }
    let mut auth_profiles = Vec::with_capacity(w.auth_profiles.len());
    for (pi, p) in w.auth_profiles.iter().enumerate() {
        let place = || format!("auth profile {pi}");
        let at = s(p.token_at, &place)?;
        let place_name = s(p.place_name, &place)?;
        auth_profiles.push(AuthProfile {
            name: s(p.name, &place)?,
            login: p.login,
            token_at: match p.token_kind {
                0 => TokenLocation::JsonPointer(at),
                1 => TokenLocation::Header(at),
                2 => TokenLocation::Cookie(at),
                k => {
                    return Err(FormatError::Invalid(format!(
                        "auth profile {pi} has token location kind {k} (0..=2)"
                    )));
                }
            },
            send_as: match p.place_kind {
                0 => TokenPlace::Header {
                    name: place_name,
                    prefix: s(p.place_prefix, &place)?,
                },
                1 => TokenPlace::Cookie(place_name),
                2 => TokenPlace::Query(place_name),
                k => {
                    return Err(FormatError::Invalid(format!(
                        "auth profile {pi} has token place kind {k} (0..=2)"
                    )));
                }
            },
            expires_at: p.expires_at.map(|e| s(e, &place)).transpose()?,
            expires_in_s: p.expires_in_s,
            user_fields: p
                .user_fields
                .iter()
                .map(|&f| s(f, &place))
                .collect::<Result<_, _>>()?,
        });
    }
    let mut sessions = Vec::with_capacity(w.sessions.len());
    for steps in &w.sessions {
        let (mut t, mut c) = (0u64, 0u64);
        let mut out = Vec::with_capacity(steps.len());
        for st in steps {
            t = t.checked_add(st.delta_us).ok_or_else(|| {
                FormatError::Invalid(format!(
                    "session {} step {} is beyond any time a plan can hold",
                    sessions.len(),
                    out.len()
                ))
            })?;
            c = c.wrapping_add(st.connection_delta as u64);
            out.push(Step {
                request: st.request,
                offset_us: t,
                connection: c,
            });
        }
        sessions.push(Session { steps: out });
    }
    let m = w.meta;
    Ok(Plan {
        meta: Metadata {
            tool_version: m.tool_version,
            created_unix_ms: m.created_unix_ms,
            source_kind: m.source_kind,
            source: m.source,
            scheme: m.scheme,
            authority: m.authority,
            tags: m.tags,
            notes: m.notes,
            holds_secrets: flags & FLAG_HOLDS_SECRETS != 0,
            redacted: flags & FLAG_REDACTED != 0,
        },
        requests,
        labels,
        segments,
        auth_profiles,
        sessions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Metadata, PlanBuilder};

    fn plan_v2() -> PlanV2 {
        let mut b = PlanBuilder::new(Metadata::default());
        let label = b.label("GET /ab");
        let id = b.request(Request {
            method: "GET".into(),
            target: "/ab".into(),
            headers: vec![("x-a".into(), "1".into())],
            label,
            expect: Some(Expectation {
                status: vec![StatusRule::Class(2)],
                headers: vec![],
            }),
            ..Request::default()
        });
        b.session(Session {
            steps: vec![Step {
                request: id,
                offset_us: 0,
                connection: 0,
            }],
        });
        let payload = encode(&b.finish()).unwrap();
        crate::container::decode_payload(&payload).unwrap()
    }

    fn decode_v2(w: &PlanV2) -> String {
        let payload = crate::container::encode_payload(w).unwrap();
        decode(2, 0, &payload).unwrap_err().to_string()
    }

    #[test]
    fn bad_references_name_the_request_and_field() {
        let mut w = plan_v2();
        let n = w.strings.len();
        w.requests[0].headers[0].1 = 46;
        assert_eq!(
            decode_v2(&w),
            format!(
                "invalid plan: request 0 header 0 refers to string 46, but the plan has {n} strings"
            )
        );
        let mut w = plan_v2();
        w.requests[0].expect.as_mut().unwrap().status = vec![65535];
        assert_eq!(
            decode_v2(&w),
            "invalid plan: request 0 expects status rule 65535, neither a class (1..=5) nor a \
             status code (100..=599)"
        );
        let mut w = plan_v2();
        w.labels[0] = 99;
        assert!(decode_v2(&w).contains("label 0 refers to string 99"));
        let mut w = plan_v2();
        w.requests[0].body = Some(3);
        assert!(decode_v2(&w).contains("request 0 refers to body 3, but the plan has 0 bodies"));
        // One long string named by many labels: the copies are bounded by the payload.
        let mut w = plan_v2();
        w.strings.push("x".repeat(1 << 20));
        let big = (w.strings.len() - 1) as u32;
        w.labels = vec![big; 3];
        assert!(
            decode_v2(&w).contains("copy more than"),
            "{}",
            decode_v2(&w)
        );
    }

    #[test]
    fn a_bad_token_place_is_described_in_words() {
        let mut plan = from_v2(plan_v2(), 0, usize::MAX).unwrap();
        plan.auth_profiles.push(AuthProfile {
            name: "login".into(),
            login: 0,
            token_at: TokenLocation::JsonPointer("/token".into()),
            send_as: TokenPlace::Header {
                name: "X:A".into(),
                prefix: String::new(),
            },
            expires_at: None,
            expires_in_s: None,
            user_fields: vec![],
        });
        let e = plan.validate().unwrap_err();
        assert_eq!(
            e,
            "auth profile 0 (\"login\"): the token's header \"X:A\" (prefix \"\") is empty, \
             holds a line break or a ':'"
        );
        plan.auth_profiles[0].send_as = TokenPlace::Query("a&b".into());
        let e = plan.validate().unwrap_err();
        assert!(
            e.contains("the token's query parameter name \"a&b\""),
            "{e}"
        );
    }

    #[test]
    fn undecodable_payloads_say_where_and_why_in_words() {
        let payload = encode(&from_v2(plan_v2(), 0, usize::MAX).unwrap()).unwrap();
        let at = payload
            .windows(3)
            .position(|w| w == b"/ab")
            .expect("the target is in the payload");
        let mut bad_utf8 = payload.clone();
        bad_utf8[at + 1] = 0xff;
        let e = decode(2, 0, &bad_utf8).unwrap_err().to_string();
        assert!(
            e.starts_with("byte ") && e.contains("a string is not valid UTF-8"),
            "{e}"
        );
        let e = decode(2, 0, &payload[..payload.len() - 1])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the payload ends in the middle of a value"),
            "{e}"
        );
        let mut extra = payload.clone();
        extra.push(0);
        let e = decode(2, 0, &extra).unwrap_err().to_string();
        assert!(e.contains("1 bytes left over"), "{e}");
        // Each byte changed in turn: whatever error comes is one line, in words.
        for (i, b) in payload.iter().enumerate() {
            let mut p = payload.clone();
            p[i] = b.wrapping_add(2);
            if let Err(e) = decode(2, 0, &p) {
                let e = e.to_string();
                assert!(
                    !e.contains(" { ") && !e.contains("Utf8Error"),
                    "Debug text: {e}"
                );
                assert!(!e.contains('\n'), "{e}");
            }
        }
    }
}
