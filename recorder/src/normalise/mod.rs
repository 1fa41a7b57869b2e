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
//!
//! Child modules:
//! - `options`: `--segment`, `--session-by` and the [`Options`] normalisation is told.
//! - `classify`: per exchange, kept or skipped (`--host`, `--exclude`), segment, session key.
//! - `expect`: the `--expect-header` values each segment's responses had.
//! - `request`: a request's headers, target and body as the plan stores them.
//! - `summary`: the [`Summary`] printed after `record`.
//! - `tests`: [`normalise()`] end to end on hand-built captures.

mod classify;
mod expect;
mod options;
mod request;
mod summary;

use std::collections::{HashMap, HashSet};

use ringload_formats::{
    AuthProfile, AuthSlot, Expectation, MAX_OFFSET_US, Metadata, Plan, PlanBuilder, Request,
    Session, StatusRule, Step, TokenPlace,
};

use crate::auth;
use crate::error::RecordError;
use crate::exchange::{Capture, Exchange};
use crate::redact;
use classify::{connection_of, filter, segment_of, session_key};
use expect::ExpectedHeaders;
use request::{prepare, texts};

pub use crate::label::{LabelRule, compile_regex, is_id_like, label_for};
pub use options::{Options, SegmentRule, SessionBy};
pub use summary::{
    AuthSummary, ExpectedHeader, ProfileSummary, SegmentValues, Summary, location_text,
};

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

fn single<'a>(mut it: impl Iterator<Item = Option<&'a str>>) -> Option<String> {
    let first = it.next()??;
    it.all(|x| x == Some(first)).then(|| first.to_string())
}

#[cfg(test)]
mod tests;
