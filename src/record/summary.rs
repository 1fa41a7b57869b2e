//! The summary `record` prints: what was read, skipped and written, the auth it found.

use std::fmt::Write as _;

use super::Recorded;

pub fn render_summary(r: &Recorded, path: &std::path::Path) -> String {
    let mut out = String::new();
    let s = &r.summary;
    let _ = writeln!(
        out,
        "recorded {} steps in {} sessions ({} distinct requests) to {} ({} bytes)",
        s.steps,
        s.sessions,
        s.distinct_requests,
        path.display(),
        r.bytes
    );
    for (kind, n) in &s.requests {
        let _ = writeln!(out, "  from {kind}: {n} requests");
    }
    for (reason, n) in &s.skipped {
        let _ = writeln!(out, "  skipped {n}: {reason}");
    }
    let _ = writeln!(out, "  labels:");
    for (label, n) in &s.labels {
        let _ = writeln!(out, "    {n:>8}  {label}");
    }
    render_auth(&mut out, &s.auth, r.redacted);
    for e in &s.expected_headers {
        if e.segments.is_empty() {
            let _ = writeln!(
                out,
                "  expect {}: no captured response had it (targets and access logs carry no \
                 responses); nothing stored",
                e.name
            );
        }
        for sv in &e.segments {
            let _ = writeln!(
                out,
                "  expect {} in {}: {{{}}} ({} requests)",
                e.name,
                sv.segment.as_deref().unwrap_or("no segment"),
                sv.values.join(", "),
                sv.requests
            );
        }
    }
    if r.holds_secrets {
        let _ = writeln!(
            out,
            "  note: the plan holds credentials in clear text (written with mode 0600); use --redact to share it"
        );
    }
    out
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn render_auth(out: &mut String, a: &ringload_recorder::AuthSummary, redacted: bool) {
    for p in &a.profiles {
        let origin = if p.by_hand {
            "defined by --auth-login"
        } else {
            "found in the capture"
        };
        let _ = writeln!(out, "  auth profile {} ({origin})", p.name);
        let expiry = p
            .expires_in_s
            .map_or_else(|| "no lifetime seen".to_string(), |s| format!("lives {s}s"));
        let users = if p.user_fields.is_empty() {
            "no user fields".to_string()
        } else {
            format!("user fields {}", p.user_fields.join(", "))
        };
        let _ = writeln!(
            out,
            "    token at {}, {expiry}, {users}; {} slotted; {} removed from the steps \
             (the engine logs in per session)",
            p.token_at,
            plural(p.steps, "step", "steps"),
            plural(p.logins, "captured login", "captured logins"),
        );
    }
    if a.stripped_steps > 0 {
        let _ = writeln!(
            out,
            "  auth: credentials stripped from {} (--auth strip)",
            plural(a.stripped_steps, "step", "steps")
        );
    }
    if a.outside_steps > 0 {
        let kept = if redacted {
            "their placeholder is replayed"
        } else {
            "they keep it as captured, and it may have expired by replay"
        };
        let _ = writeln!(
            out,
            "  auth: {} in {} carry a token no captured login handed out; {kept}. To mint fresh \
             tokens, define the login: --auth-login FILE (a targets-style file with the login \
             request) --auth-token-path /access_token [--auth-send-as \
             bearer|header:NAME|cookie:NAME|query:NAME]",
            plural(a.outside_steps, "step", "steps"),
            plural(a.outside_sessions, "session", "sessions"),
        );
    }
}
