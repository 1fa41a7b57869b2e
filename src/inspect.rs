//! `ringload inspect`: what a plan holds, for people (table) and scripts (`--json`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use ringload_formats::{Plan, TokenLocation, TokenPlace};
use serde::Serialize;

use crate::error::CliError;

#[derive(Debug, Serialize)]
pub struct Inspect {
    pub file: String,
    pub format_version: u16,
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

#[derive(Debug, Serialize)]
pub struct AuthInfo {
    pub name: String,
    pub login: String,
    pub token_at: String,
    /// Where the token goes: `header Authorization: Bearer <token>`, `cookie sid`, `query token`.
    pub send_as: String,
    pub slots: u64,
}

pub fn inspect(path: &Path) -> Result<Inspect, CliError> {
    let plan = crate::plan_io::load(path)?;
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Ok(summarise(&plan, path, bytes))
}

/// The summary of `plan`, read from `path` (`bytes` long).
pub fn summarise(plan: &Plan, path: &Path, bytes: u64) -> Inspect {
    let mut per_label = vec![0u64; plan.labels.len()];
    let mut per_segment = vec![0u64; plan.segments.len()];
    let mut unsegmented = 0u64;
    let mut per_profile = vec![0u64; plan.auth_profiles.len()];
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
    Inspect {
        file: path.display().to_string(),
        format_version: ringload_formats::PLAN.latest,
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
            .zip(per_profile)
            .map(|(p, slots)| AuthInfo {
                name: p.name.clone(),
                login: {
                    let r = &plan.requests[p.login as usize];
                    format!("{} {}", r.method, r.target)
                },
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

pub fn render(i: &Inspect) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plan        {} (format v{}, {} bytes, {:.2} bytes/step)",
        i.file, i.format_version, i.bytes, i.bytes_per_step
    );
    let _ = writeln!(out, "source      {} ({})", i.source, i.source_kind);
    if let Some(a) = &i.authority {
        let _ = writeln!(
            out,
            "captured    {}://{}",
            i.scheme.as_deref().unwrap_or("http"),
            a
        );
    }
    let _ = writeln!(
        out,
        "steps       {} in {} sessions, {} distinct requests ({} with a body)",
        i.steps, i.sessions, i.distinct_requests, i.requests_with_body
    );
    let _ = writeln!(out, "time span   {:.3} s", i.time_span_us as f64 / 1e6);
    let _ = writeln!(
        out,
        "secrets     {}",
        if i.holds_secrets {
            "YES: credentials in clear text (record with --redact to share)"
        } else if i.redacted {
            "redacted"
        } else {
            "none found"
        }
    );
    for (k, v) in &i.tags {
        let _ = writeln!(out, "tag         {k}={v}");
    }
    for n in &i.notes {
        let _ = writeln!(out, "note        {n}");
    }
    let _ = writeln!(out, "labels");
    for l in &i.labels {
        let _ = writeln!(out, "  {:>10}  {}", l.count, l.name);
    }
    if !i.segments.is_empty() {
        let _ = writeln!(out, "segments");
        for s in &i.segments {
            let _ = writeln!(out, "  {:>10}  {}", s.count, s.name);
        }
    }
    for a in &i.auth_profiles {
        let _ = writeln!(
            out,
            "auth        {}: login {} -> {} into {} ({} slots)",
            a.name, a.login, a.token_at, a.send_as, a.slots
        );
    }
    out
}
