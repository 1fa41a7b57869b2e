//! `ringload inspect`: what a plan holds, for people (table) and scripts (`--json`).

use std::fmt::Write as _;
use std::path::Path;

pub use ringload_formats::summary::{AuthInfo, Count, PlanSummary as Inspect, summarise};

use crate::error::CliError;

pub fn inspect(path: &Path) -> Result<Inspect, CliError> {
    let (plan, sha256) = crate::plan_io::load(path)?;
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut i = summarise(&plan, &path.display().to_string(), bytes);
    i.sha256 = Some(sha256);
    // The file's own version (an older one reads fine), from its header.
    let mut head = [0u8; 10];
    if let Ok(mut f) = std::fs::File::open(path)
        && std::io::Read::read_exact(&mut f, &mut head).is_ok()
    {
        i.format_version = u16::from_le_bytes([head[8], head[9]]);
    }
    Ok(i)
}

pub fn render(i: &Inspect) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plan        {} (format v{}, {} bytes, {:.2} bytes/step)",
        i.file, i.format_version, i.bytes, i.bytes_per_step
    );
    if let Some(sum) = &i.sha256 {
        let _ = writeln!(out, "sha256      {sum}");
    }
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
        let login = i.auth_profiles.iter().any(|a| a.login_label == l.name);
        let _ = writeln!(
            out,
            "  {:>10}  {}{}",
            l.count,
            l.name,
            if login { "  (auth login)" } else { "" }
        );
    }
    if !i.segments.is_empty() {
        let _ = writeln!(out, "segments");
        for s in &i.segments {
            let _ = writeln!(out, "  {:>10}  {}", s.count, s.name);
        }
    }
    for (k, a) in i.auth_profiles.iter().enumerate() {
        let _ = writeln!(out, "auth {k:<6} {}", a.name);
        let ct = a
            .login_content_type
            .as_deref()
            .map_or(String::new(), |c| format!(" ({c})"));
        let _ = writeln!(out, "  login     {}{ct}", a.login);
        let _ = writeln!(out, "  token     {} -> {}", a.token_at, a.send_as);
        let expiry = match (&a.expires_at, a.expires_in_s) {
            (Some(p), Some(s)) => format!("{s} s as captured; read from {p} at each login"),
            (Some(p), None) => format!("read from {p} at each login"),
            (None, Some(s)) => format!("{s} s as captured"),
            (None, None) => "unknown (refreshed after a 401)".to_string(),
        };
        let _ = writeln!(out, "  expiry    {expiry}");
        let _ = writeln!(
            out,
            "  users     {}",
            if a.user_fields.is_empty() {
                "no user fields".to_string()
            } else {
                format!("{} (filled by run --users)", a.user_fields.join(", "))
            }
        );
        let _ = writeln!(
            out,
            "  covers    {} steps in {} sessions",
            a.slots, a.sessions
        );
    }
    out
}
