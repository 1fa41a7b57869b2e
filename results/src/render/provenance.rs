//! Where a result came from ([`Provenance`]), shown in the text report (a line per run, at
//! most [`TEXT_ROWS`]) and the HTML page (a table of every run).

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use super::svg::esc;
use crate::model::Provenance;

/// Runs listed in the text report; a merge of more says how many more the JSON holds.
pub const TEXT_ROWS: usize = 8;

fn started(p: &Provenance) -> String {
    p.started_at_unix_ms.map_or_else(
        || "-".into(),
        |ms| humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string(),
    )
}

fn plan(p: &Provenance) -> String {
    let mut s = match &p.plan_sha256 {
        Some(sum) => format!("plan sha256 {}", &sum[..sum.len().min(16)]),
        None => "plan from the command line".into(),
    };
    if !p.plan_tags.is_empty() {
        let tags: Vec<String> = p
            .plan_tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = write!(s, " tags {}", tags.join(","));
    }
    s
}

/// The command as a shell would take it back: arguments with spaces or quotes in single quotes.
fn command(p: &Provenance) -> String {
    let quoted: Vec<String> = p
        .command
        .iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,@%+".contains(&b));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect();
    quoted.join(" ")
}

fn machine(p: &Provenance) -> String {
    format!(
        "{} ({}, {}, {} CPUs, {} allowed)",
        p.host, p.kernel, p.cpu_model, p.cpus, p.cpus_allowed
    )
}

/// `provenance: ...` lines, one per run (none for a result that holds none).
pub fn text(all: &[Provenance]) -> String {
    let mut out = String::new();
    for p in all.iter().take(TEXT_ROWS) {
        let _ = writeln!(
            out,
            "provenance: ringload {} on {}; {}; target {}; started {}; command: {}",
            p.tool_version,
            machine(p),
            plan(p),
            p.target,
            started(p),
            command(p)
        );
    }
    if all.len() > TEXT_ROWS {
        let _ = writeln!(
            out,
            "provenance: {} more runs (in the JSON result)",
            all.len() - TEXT_ROWS
        );
    }
    out
}

/// A `<h2>Provenance</h2>` table, one row per run.
pub fn html(all: &[Provenance]) -> String {
    if all.is_empty() {
        return String::new();
    }
    let mut b = String::from(
        "<h2>Provenance</h2><table><tr><th>started</th><th>host</th><th>plan</th><th>target</th><th>ringload</th><th>command</th></tr>\n",
    );
    for p in all {
        let sum = p.plan_sha256.as_deref().unwrap_or("");
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td title=\"{}\">{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&started(p)),
            esc(&machine(p)),
            esc(sum),
            esc(&plan(p)),
            esc(&p.target),
            esc(&p.tool_version),
            esc(&command(p))
        );
    }
    b.push_str("</table>\n");
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(host: &str) -> Provenance {
        Provenance {
            tool_version: "0.1.0".into(),
            command: ["ringload", "run", "p.plan", "-H", "x-a: it's"]
                .map(String::from)
                .to_vec(),
            plan_sha256: Some("ab".repeat(32)),
            plan_tags: [("mesh".to_string(), "istio".to_string())].into(),
            target: "http://gw:8080".into(),
            started_at_unix_ms: Some(1_700_000_000_000),
            host: host.into(),
            kernel: "Linux 6.1.0 x86_64".into(),
            cpu_model: "Xeon <fast>".into(),
            cpus: 2,
            cpus_allowed: 1,
        }
    }

    #[test]
    fn text_names_every_fact_and_caps_the_rows() {
        let one = text(&[sample("w-0")]);
        assert_eq!(
            one,
            "provenance: ringload 0.1.0 on w-0 (Linux 6.1.0 x86_64, Xeon <fast>, 2 CPUs, 1 allowed); \
             plan sha256 abababababababab tags mesh=istio; target http://gw:8080; started \
             2023-11-14T22:13:20Z; command: ringload run p.plan -H 'x-a: it'\\''s'\n"
        );
        let many: Vec<Provenance> = (0..10).map(|i| sample(&format!("w-{i}"))).collect();
        let t = text(&many);
        assert_eq!(t.lines().count(), TEXT_ROWS + 1);
        assert!(
            t.ends_with("provenance: 2 more runs (in the JSON result)\n"),
            "{t}"
        );
        assert_eq!(text(&[]), "");
    }

    #[test]
    fn html_escapes_and_lists_every_run() {
        let h = html(&[sample("w-0"), sample("w-1")]);
        assert_eq!(h.matches("<tr><td>").count(), 2);
        assert!(h.contains("Xeon &lt;fast&gt;"), "{h}");
        assert!(h.contains(&format!("title=\"{}\"", "ab".repeat(32))));
        assert_eq!(html(&[]), "");
    }
}
