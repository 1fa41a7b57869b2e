//! What a plan holds, summed up for people and scripts (`ringload inspect`, `--json`): steps,
//! sessions, labels and segments by count, auth profiles with where their tokens come from and
//! go, the capture's metadata. Pure: the caller names the file and its size.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{Plan, TokenLocation, TokenPlace};

/// What a plan holds (`ringload inspect`, and `--json`).
#[derive(Debug, Serialize)]
pub struct PlanSummary {
    /// The plan file, as named.
    pub file: String,
    pub format_version: u16,
    /// SHA-256 of the file, hex (what results name the plan by); the caller fills it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub bytes: u64,
    pub bytes_per_step: f64,
    pub steps: u64,
    pub sessions: u64,
    pub distinct_requests: u64,
    pub requests_with_body: u64,
    /// First to last step offset, microseconds.
    pub time_span_us: u64,
    pub labels: Vec<Count>,
    pub segments: Vec<Count>,
    pub auth_profiles: Vec<AuthInfo>,
    pub holds_secrets: bool,
    pub redacted: bool,
    pub source_kind: String,
    pub source: String,
    pub scheme: Option<String>,
    pub authority: Option<String>,
    pub tool_version: String,
    pub created_unix_ms: u64,
    pub tags: BTreeMap<String, String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Count {
    pub name: String,
    pub count: u64,
}

/// One auth profile (`auth_profiles[]` in `--json`).
#[derive(Debug, Serialize)]
pub struct AuthInfo {
    pub name: String,
    /// `METHOD target` of the login request.
    pub login: String,
    /// Label of the login request (its rows at replay).
    pub login_label: String,
    /// Content type of the login body, when it has one.
    pub login_content_type: Option<String>,
    /// Where the token is in the login response: `json /access_token`, `header X-Auth-Token`,
    /// `cookie sid`.
    pub token_at: String,
    /// Where the token goes: `header Authorization: Bearer <token>`, `cookie sid`, `query token`.
    pub send_as: String,
    /// JSON pointer to the lifetime in each login response.
    pub expires_at: Option<String>,
    /// The lifetime the captured login response gave, seconds.
    pub expires_in_s: Option<u64>,
    /// Login body fields a `--users` row fills.
    pub user_fields: Vec<String>,
    /// Steps that carry this profile's token (slots).
    pub slots: u64,
    /// Sessions with at least one such step (each logs in once at replay).
    pub sessions: u64,
}

/// The summary of `plan`, read from `file` (`bytes` long).
pub fn summarise(plan: &Plan, file: &str, bytes: u64) -> PlanSummary {
    let mut per_label = vec![0u64; plan.labels.len()];
    let mut per_segment = vec![0u64; plan.segments.len()];
    let mut unsegmented = 0u64;
    let mut per_profile = vec![0u64; plan.auth_profiles.len()];
    let mut sessions_per_profile = vec![0u64; plan.auth_profiles.len()];
    for s in &plan.sessions {
        let mut seen = vec![false; plan.auth_profiles.len()];
        for st in &s.steps {
            if let Some(a) = plan.requests[st.request as usize].auth {
                seen[a.profile as usize] = true;
            }
        }
        for (n, hit) in sessions_per_profile.iter_mut().zip(seen) {
            *n += u64::from(hit);
        }
    }
    let (mut first, mut last) = (u64::MAX, 0u64);
    for st in plan.steps() {
        let r = &plan.requests[st.request as usize];
        per_label[r.label as usize] += 1;
        match r.segment {
            Some(s) => per_segment[s as usize] += 1,
            None => unsegmented += 1,
        }
        if let Some(a) = r.auth {
            per_profile[a.profile as usize] += 1;
        }
        first = first.min(st.offset_us);
        last = last.max(st.offset_us);
    }
    let steps = plan.step_count();
    let mut labels: Vec<Count> = plan
        .labels
        .iter()
        .zip(per_label)
        .map(|(l, count)| Count {
            name: l.clone(),
            count,
        })
        .collect();
    labels.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
    let mut segments: Vec<Count> = plan
        .segments
        .iter()
        .zip(per_segment)
        .map(|(l, count)| Count {
            name: l.clone(),
            count,
        })
        .collect();
    if unsegmented > 0 && !plan.segments.is_empty() {
        segments.push(Count {
            name: "(none)".into(),
            count: unsegmented,
        });
    }
    let m = &plan.meta;
    PlanSummary {
        file: file.to_string(),
        format_version: crate::PLAN.latest,
        sha256: None,
        bytes,
        bytes_per_step: if steps == 0 {
            0.0
        } else {
            bytes as f64 / steps as f64
        },
        steps,
        sessions: plan.sessions.len() as u64,
        distinct_requests: plan.requests.len() as u64,
        requests_with_body: plan.requests.iter().filter(|r| !r.body.is_empty()).count() as u64,
        time_span_us: if steps == 0 { 0 } else { last - first },
        labels,
        segments,
        auth_profiles: plan
            .auth_profiles
            .iter()
            .zip(per_profile.into_iter().zip(sessions_per_profile))
            .map(|(p, (slots, sessions))| AuthInfo {
                name: p.name.clone(),
                login: {
                    let r = &plan.requests[p.login as usize];
                    format!("{} {}", r.method, r.target)
                },
                login_label: plan.labels[plan.requests[p.login as usize].label as usize].clone(),
                login_content_type: plan.requests[p.login as usize]
                    .headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                    .map(|(_, v)| v.to_string()),
                expires_at: p.expires_at.clone(),
                expires_in_s: p.expires_in_s,
                user_fields: p.user_fields.clone(),
                sessions,
                token_at: match &p.token_at {
                    TokenLocation::JsonPointer(s) => format!("json {s}"),
                    TokenLocation::Header(s) => format!("header {s}"),
                    TokenLocation::Cookie(s) => format!("cookie {s}"),
                },
                send_as: match &p.send_as {
                    TokenPlace::Header { name, prefix } => {
                        format!("header {name}: {prefix}<token>")
                    }
                    TokenPlace::Cookie(n) => format!("cookie {n}"),
                    TokenPlace::Query(n) => format!("query {n}"),
                },
                slots,
            })
            .collect(),
        holds_secrets: m.holds_secrets,
        redacted: m.redacted,
        source_kind: m.source_kind.clone(),
        source: m.source.clone(),
        scheme: m.scheme.clone(),
        authority: m.authority.clone(),
        tool_version: m.tool_version.clone(),
        created_unix_ms: m.created_unix_ms,
        tags: m.tags.iter().cloned().collect(),
        notes: m.notes.clone(),
    }
}
