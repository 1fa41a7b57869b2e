//! HTML reports (`--html FILE` on `run` and `compare`): one self-contained page, no scripts and
//! no external resources (it opens offline and can be attached to a CI run), charts drawn as
//! inline SVG from the same report the JSON holds.
//!
//! Every text that comes from a plan, a capture or a command line (labels, segments, URLs) is
//! HTML-escaped: a recorded path like `/<script>` must not run in the reader's browser.

use std::fmt::Write as _;

use crate::compare::Comparison;
use crate::model::{Group, Percentiles, Report, WindowRow};
use crate::render::charts;
use crate::render::svg::{Chart, MAX_LINES};
use crate::render::text::{error_text, split_text};

pub use super::svg::esc;

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}\
h1{font-size:20px}h2{font-size:16px;margin-top:28px}table{border-collapse:collapse;margin:8px 0}\
td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}td:first-child,th:first-child{text-align:left}\
.bad{color:#b00020;font-weight:600}.t{font-size:13px;font-weight:600}.a{font-size:11px;fill:#555}\
svg{display:block;margin:8px 0}code{background:#f4f4f4;padding:1px 4px}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n",
        esc(title)
    )
}

fn ms(us: f64) -> String {
    format!("{:.2}", us / 1e3)
}

/// Logins, failed checks, canary splits and connection costs: what a run learnt beyond its
/// latency table (each part only when there is something to show).
fn details(b: &mut String, r: &Report) {
    let s = &r.summary;
    if s.logins > 0 {
        let _ = writeln!(
            b,
            "<h2>Logins</h2><p>{} logins (first per session, refreshed before expiry, or after a 401), in their own rows marked (auth), not in the totals; {} re-logins after a 401.</p>",
            s.logins, s.group.reauth
        );
    }
    let offending: Vec<&Group> = r
        .labels
        .iter()
        .filter(|g| !g.offending.is_empty())
        .collect();
    if !offending.is_empty() {
        b.push_str("<h2>Failed checks</h2><table><tr><th>label [segment]</th><th>first values seen</th></tr>\n");
        for g in offending {
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td class=\"bad\">{}</td></tr>",
                esc(&g.name()),
                esc(&g.offending.join("; "))
            );
        }
        b.push_str("</table>\n");
    }
    let splits: Vec<(String, &Group)> = if r.segments.is_empty() {
        vec![("all".into(), &s.group)]
    } else {
        r.segments
            .iter()
            .map(|g| (g.segment.clone().unwrap_or_default(), g))
            .collect()
    };
    if splits.iter().any(|(_, g)| !g.split.is_empty()) {
        b.push_str("<h2>Split of responses</h2><table><tr><th>segment</th><th>header</th><th>shares</th></tr>\n");
        for (name, g) in &splits {
            for (header, shares) in &g.split {
                let _ = writeln!(
                    b,
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(name),
                    esc(header),
                    esc(&split_text(shares))
                );
            }
        }
        b.push_str("</table>\n");
    }
    let c = &s.connect_us;
    b.push_str("<h2>Connections</h2><table><tr><th></th><th>count</th><th>p50 ms</th><th>p90</th><th>p99</th><th>max</th></tr>\n");
    let _ = writeln!(
        b,
        "<tr><td>TCP connect</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        s.connections_opened,
        ms(c.p50 as f64),
        ms(c.p90 as f64),
        ms(c.p99 as f64),
        ms(c.max as f64)
    );
    if let Some(t) = &s.tls {
        let h = &t.handshake_us;
        let _ = writeln!(
            b,
            "<tr><td>TLS handshake (after connect)</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            t.handshakes,
            ms(h.p50 as f64),
            ms(h.p90 as f64),
            ms(h.p99 as f64),
            ms(h.max as f64)
        );
    }
    b.push_str("</table>\n");
    let rpc = &s.requests_per_connection;
    let _ = writeln!(
        b,
        "<p>New connections: {:.1}/s. Requests per connection: mean {:.1}, p50 {}, p90 {}, p99 {}, max {}{}.</p>",
        s.connections_per_s,
        rpc.mean,
        rpc.p50,
        rpc.p90,
        rpc.p99,
        rpc.max,
        super::waits_note(s)
    );
    if let Some(t) = &s.tls {
        let _ = writeln!(
            b,
            "<p>TLS: {:.1} handshakes/s, {:.0}% resumed; {} connections failed in TLS{}.</p>",
            t.handshakes_per_s,
            t.resumed_share * 100.0,
            t.errors,
            if t.reasons.is_empty() {
                String::new()
            } else {
                format!(
                    ": <span class=\"bad\">{}</span>",
                    esc(&t.reasons.join("; "))
                )
            }
        );
    }
}

fn pct_axis() -> Vec<String> {
    ["p50", "p90", "p95", "p99", "p99.9", "max"]
        .map(String::from)
        .to_vec()
}

fn pct_points(p: &Percentiles) -> Vec<Option<f64>> {
    [p.p50, p.p90, p.p95, p.p99, p.p999, p.max]
        .iter()
        .map(|&v| Some(v as f64 / 1e3))
        .collect()
}

fn group_rows(out: &mut String, groups: &[&Group]) {
    out.push_str("<table><tr><th>label [segment]</th><th>requests</th><th>ok</th><th>failed</th><th>timed out</th><th>req/s</th><th>mean ms</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>p99.9</th><th>max</th><th>errors</th></tr>\n");
    for g in groups {
        let l = &g.latency_us;
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td{}>{}</td><td>{}</td><td>{:.1}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&g.name()),
            g.requests,
            g.ok,
            if g.failed > 0 { " class=\"bad\"" } else { "" },
            g.failed,
            g.timed_out,
            g.rps,
            l.mean / 1e3,
            ms(l.p50 as f64),
            ms(l.p90 as f64),
            ms(l.p95 as f64),
            ms(l.p99 as f64),
            ms(l.p999 as f64),
            ms(l.max as f64),
            esc(&(error_text(&g.errors) + &crate::render::hops::origin_suffix(&g.origin)))
        );
    }
    out.push_str("</table>\n");
}

/// The page for one `run`.
pub fn run_page(r: &Report) -> String {
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<h1>ringload run: {} &rarr; {}</h1><p>{} connections &times; pipeline {}, {} threads, {}, {}; warm-up {} s, timeout {} s. ringload {}.</p>",
        esc(&r.plan),
        esc(&r.run.target),
        r.run.connections,
        r.run.pipeline,
        r.run.threads,
        esc(&r.run.load),
        esc(&r.run.stop),
        r.run.warmup_s,
        r.run.timeout_s,
        esc(&r.tool_version)
    );
    if let Some(why) = &r.invalid_reason {
        let _ = writeln!(b, "<p class=\"bad\">INVALID RUN: {}</p>", esc(why));
    }
    if r.interrupted {
        b.push_str("<p class=\"bad\">INTERRUPTED: stopped early by a signal; the figures cover the time it ran.</p>\n");
    }
    let s = &r.summary;
    let g = &s.group;
    let _ = writeln!(
        b,
        "<p>requests {} = ok {} + failed {} + timed out {} + in flight at end {}; resent {}; {:.1} req/s over {:.2} s.</p>",
        g.requests, g.ok, g.failed, g.timed_out, g.in_flight_at_end, s.resent, g.rps, s.duration_s
    );
    b.push_str("<h2>Per label and segment</h2>\n");
    let mut groups: Vec<&Group> = r.labels.iter().filter(|g| !g.auth).collect();
    groups.extend(r.segments.iter());
    groups.push(g);
    groups.extend(r.labels.iter().filter(|g| g.auth));
    group_rows(&mut b, &groups);

    let mut by_volume: Vec<&Group> = r.labels.iter().filter(|g| !g.auth).collect();
    by_volume.sort_by_key(|g| std::cmp::Reverse(g.requests));
    let mut series: Vec<(String, Vec<Option<f64>>)> =
        vec![("total".into(), pct_points(&g.latency_us))];
    series.extend(
        by_volume
            .iter()
            .take(MAX_LINES - 1)
            .map(|g| (g.name(), pct_points(&g.latency_us))),
    );
    b.push_str(
        &Chart::categories(
            "Latency by percentile (from the intended send time)",
            "ms",
            pct_axis(),
            series,
        )
        .svg(),
    );
    b.push_str(&charts::label_spectrum(r));
    if !r.windows.is_empty() {
        let xs = charts::window_axis(r);
        let failed = |w: &WindowRow| {
            let e = &w.errors;
            (e.timeout + e.reset + e.protocol + e.validation + e.auth) as f64
        };
        let per_s = f64::from(r.window_s.max(1));
        b.push_str(
            &Chart::categories(
                "Requests per second (by intended send time)",
                "requests/s",
                xs.clone(),
                vec![
                    (
                        "requests".into(),
                        r.windows
                            .iter()
                            .map(|w| Some(w.requests as f64 / per_s))
                            .collect(),
                    ),
                    (
                        "failed".into(),
                        r.windows.iter().map(|w| Some(failed(w) / per_s)).collect(),
                    ),
                ],
            )
            .svg(),
        );
        b.push_str(&charts::failures(r));
        b.push_str(
            &Chart::categories(
                "Latency per second",
                "ms",
                xs,
                vec![
                    (
                        "p50".into(),
                        r.windows
                            .iter()
                            .map(|w| (w.ok > 0).then_some(w.p50_us as f64 / 1e3))
                            .collect(),
                    ),
                    (
                        "p99".into(),
                        r.windows
                            .iter()
                            .map(|w| (w.ok > 0).then_some(w.p99_us as f64 / 1e3))
                            .collect(),
                    ),
                ],
            )
            .svg(),
        );
    }
    let status: Vec<String> = s
        .status
        .iter()
        .map(|(k, v)| format!("{}: {v}", esc(k)))
        .collect();
    let _ = writeln!(
        b,
        "<h2>Responses</h2><p>status {}; service time (from the actual send) p50 {} ms, p99 {} ms; schedule lag p99 {} ms; connections opened {}, closed by server {}.</p>",
        if status.is_empty() {
            "-".into()
        } else {
            status.join(", ")
        },
        ms(s.service_us.p50 as f64),
        ms(s.service_us.p99 as f64),
        ms(s.lag_us.p99 as f64),
        s.connections_opened,
        s.server_closes
    );
    b.push_str(&crate::render::hops::run_html(r));
    details(&mut b, r);
    b.push_str(&crate::render::provenance::html(&r.provenance));
    page(&format!("ringload run {}", r.plan), &b)
}

/// The page for one `compare`.
pub fn compare_page(c: &Comparison) -> String {
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<h1>ringload compare: {}</h1><p>baseline <code>{}</code> vs candidate <code>{}</code>; {} rounds, order alternating; {}, {}; {} connections &times; pipeline {}.</p>",
        esc(&c.plan),
        esc(&c.baseline.run.target),
        esc(&c.candidate.run.target),
        c.rounds,
        esc(&c.baseline.run.load),
        esc(&c.baseline.run.stop),
        c.baseline.run.connections,
        c.baseline.run.pipeline
    );
    if let Some(why) = &c.invalid_reason {
        let _ = writeln!(b, "<p class=\"bad\">INVALID RUN: {}</p>", esc(why));
    }
    b.push_str("<h2>Overhead per percentile</h2>\n<table><tr><th>percentile</th><th>baseline ms</th><th>candidate ms</th><th>overhead ms (median of rounds)</th><th>overhead %</th><th>range over rounds, ms</th><th>noise ms</th><th>every round same sign</th></tr>\n");
    for o in &c.overhead {
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:+.3}</td><td>{:+.1}</td><td>{:+.3} .. {:+.3}</td><td>{}</td><td>{}</td></tr>",
            o.percentile,
            ms(o.baseline_us as f64),
            ms(o.candidate_us as f64),
            o.overhead_us / 1e3,
            o.overhead_pct,
            o.range_us[0] / 1e3,
            o.range_us[1] / 1e3,
            ms(o.baseline_noise_us),
            if o.consistent { "yes" } else { "no" }
        );
    }
    b.push_str("</table>\n<p>Noise: how much the baseline's own percentile moved between rounds (median absolute deviation). The sign test needs 6 rounds or more.</p>\n");
    b.push_str(
        &Chart::categories(
            "Latency by percentile, all rounds merged",
            "ms",
            pct_axis(),
            vec![
                (
                    "baseline".into(),
                    pct_points(&c.baseline.summary.group.latency_us),
                ),
                (
                    "candidate".into(),
                    pct_points(&c.candidate.summary.group.latency_us),
                ),
            ],
        )
        .svg(),
    );
    b.push_str(&charts::compare_spectrum(c));
    let xs: Vec<String> = c
        .per_round
        .iter()
        .map(|r| format!("#{}", r.round))
        .collect();
    let per = |f: fn(&crate::compare::Round) -> u64| -> Vec<Option<f64>> {
        c.per_round
            .iter()
            .map(|r| Some(f(r) as f64 / 1e3))
            .collect()
    };
    b.push_str(
        &Chart::categories(
            "p50 and p99 per round",
            "ms",
            xs,
            vec![
                ("baseline p50".into(), per(|r| r.baseline.p50)),
                ("candidate p50".into(), per(|r| r.candidate.p50)),
                ("baseline p99".into(), per(|r| r.baseline.p99)),
                ("candidate p99".into(), per(|r| r.candidate.p99)),
            ],
        )
        .svg(),
    );
    b.push_str("<h2>Each side, all rounds</h2>\n");
    let mut named_b = c.baseline.summary.group.clone();
    named_b.label = Some(format!("baseline {}", c.baseline.run.target));
    let mut named_c = c.candidate.summary.group.clone();
    named_c.label = Some(format!("candidate {}", c.candidate.run.target));
    group_rows(&mut b, &[&named_b, &named_c]);
    b.push_str(&crate::render::hops::compare_html(c));
    let sides: Vec<_> = [&c.baseline, &c.candidate]
        .iter()
        .flat_map(|r| r.provenance.iter().cloned())
        .collect();
    b.push_str(&crate::render::provenance::html(&sides));
    page(&format!("ringload compare {}", c.plan), &b)
}

/// Several pages as one: their bodies one after the other, each under its caption, in the first
/// page's document (every page is self-contained with the same style sheet).
pub fn joined(pages: &[(String, String)]) -> String {
    let body = |p: &str| {
        let start = p.find("<body>").map_or(0, |i| i + "<body>".len());
        let end = p.rfind("</body>").unwrap_or(p.len());
        p[start..end].to_string()
    };
    let Some((_, first)) = pages.first() else {
        return String::new();
    };
    let start = first.find("<body>").map_or(0, |i| i + "<body>".len());
    let end = first.rfind("</body>").unwrap_or(first.len());
    let mut out = first[..start].to_string();
    for (i, (caption, p)) in pages.iter().enumerate() {
        if i > 0 {
            out.push_str("\n<hr>");
        }
        out.push_str(&format!("\n<p><strong>{}</strong></p>", esc(caption)));
        out.push_str(&body(p));
    }
    out.push_str(&first[end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_plans_is_escaped() {
        assert_eq!(
            esc("GET /<script>alert('x')</script>&\""),
            "GET /&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }

    #[test]
    fn pages_join_into_one_document() {
        let page = |b: &str| {
            format!(
                "<!DOCTYPE html>\n<html><head><style>s</style></head><body>\n{b}\n</body></html>\n"
            )
        };
        let one = joined(&[
            ("<1>".into(), page("[one]")),
            ("2".into(), page("[two]")),
            ("3".into(), page("[three]")),
        ]);
        assert!(
            one.contains("<strong>&lt;1&gt;</strong>"),
            "captions are escaped"
        );
        assert_eq!(one.matches("<body>").count(), 1);
        assert_eq!(one.matches("</html>").count(), 1);
        let (a, b, c) = (one.find("[one]"), one.find("[two]"), one.find("[three]"));
        assert!(a < b && b < c, "{one}");
    }
}
