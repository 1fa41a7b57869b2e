//! HTML reports (`--html FILE` on `run` and `compare`): one self-contained page, no scripts and
//! no external resources (it opens offline and can be attached to a CI run), charts drawn as
//! inline SVG from the same report the JSON holds.
//!
//! Every text that comes from a plan, a capture or a command line (labels, segments, URLs) is
//! HTML-escaped: a recorded path like `/<script>` must not run in the reader's browser.

use std::fmt::Write as _;

use crate::compare::Comparison;
use crate::model::{Group, Percentiles, Report, WindowRow};
use crate::render::text::{error_text, split_text};

/// Escape text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];
/// Groups drawn in the percentile chart at most (the busiest ones); the table lists them all.
const MAX_SERIES: usize = 8;

/// A line chart. `xs` are the x positions' labels (categorical, evenly spaced); each series has
/// one y value per x (None: no point).
struct Chart<'a> {
    title: &'a str,
    y_unit: &'a str,
    xs: Vec<String>,
    series: Vec<(String, Vec<Option<f64>>)>,
}

/// A "nice" step (1, 2 or 5 x 10^k) for about `n` ticks up to `max`.
fn nice_step(max: f64, n: f64) -> f64 {
    let raw = (max / n).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    mag * if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    }
}

fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

impl Chart<'_> {
    fn svg(&self) -> String {
        let (w, h) = (760.0, 280.0);
        let (left, right, top, bottom) = (64.0, 170.0, 30.0, 40.0);
        let (pw, ph) = (w - left - right, h - top - bottom);
        let max = self
            .series
            .iter()
            .flat_map(|(_, ys)| ys.iter().flatten())
            .fold(0.0f64, |a, &b| a.max(b));
        let step = nice_step(if max > 0.0 { max } else { 1.0 }, 5.0);
        let top_y = (max / step).ceil().max(1.0) * step;
        let n = self.xs.len().max(1);
        let x_at = |i: usize| {
            if n == 1 {
                left + pw / 2.0
            } else {
                left + pw * i as f64 / (n - 1) as f64
            }
        };
        let y_at = |v: f64| top + ph - ph * v / top_y;
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img"><title>{}</title>"#,
            esc(self.title)
        );
        let _ = write!(
            s,
            r#"<text x="{left}" y="18" class="t">{}</text>"#,
            esc(self.title)
        );
        // Horizontal grid and y labels.
        let mut v = 0.0;
        while v <= top_y + step / 2.0 {
            let y = y_at(v);
            let _ = write!(
                s,
                r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" class="a" text-anchor="end">{}</text>"##,
                left + pw,
                left - 6.0,
                y + 4.0,
                fmt_num(v)
            );
            v += step;
        }
        let _ = write!(
            s,
            r#"<text x="12" y="{:.1}" class="a" transform="rotate(-90 12 {:.1})" text-anchor="middle">{}</text>"#,
            top + ph / 2.0,
            top + ph / 2.0,
            esc(self.y_unit)
        );
        // X labels: at most ~12, evenly picked.
        let every = n.div_ceil(12).max(1);
        for (i, label) in self.xs.iter().enumerate() {
            if i % every == 0 || i + 1 == n {
                let _ = write!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" class="a" text-anchor="middle">{}</text>"#,
                    x_at(i),
                    top + ph + 16.0,
                    esc(label)
                );
            }
        }
        for (k, (name, ys)) in self.series.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let pts: Vec<String> = ys
                .iter()
                .enumerate()
                .filter_map(|(i, y)| y.map(|y| format!("{:.1},{:.1}", x_at(i), y_at(y))))
                .collect();
            if pts.len() > 1 {
                let _ = write!(
                    s,
                    r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
                    pts.join(" ")
                );
            }
            for p in pts.iter().take(200) {
                let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
                let _ = write!(s, r#"<circle cx="{x}" cy="{y}" r="2.5" fill="{color}"/>"#);
            }
            let ly = top + 14.0 * k as f64 + 6.0;
            let _ = write!(
                s,
                r#"<rect x="{:.1}" y="{:.1}" width="10" height="10" fill="{color}"/><text x="{:.1}" y="{:.1}" class="a">{}</text>"#,
                left + pw + 12.0,
                ly - 9.0,
                left + pw + 26.0,
                ly,
                esc(&truncate(name, 24))
            );
        }
        s.push_str("</svg>");
        s
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

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

fn group_name(g: &Group) -> String {
    let mut name = g.label.clone().unwrap_or_else(|| "total".into());
    if let Some(seg) = &g.segment {
        name.push_str(&format!(" [{seg}]"));
    }
    if g.auth {
        name = format!("(auth) {name}");
    }
    name
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
                esc(&group_name(g)),
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

const PCT_AXIS: [&str; 6] = ["p50", "p90", "p95", "p99", "p99.9", "max"];

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
            esc(&group_name(g)),
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
            .take(MAX_SERIES - 1)
            .map(|g| (group_name(g), pct_points(&g.latency_us))),
    );
    b.push_str(
        &Chart {
            title: "Latency by percentile (from the intended send time)",
            y_unit: "ms",
            xs: PCT_AXIS.iter().map(|s| s.to_string()).collect(),
            series,
        }
        .svg(),
    );
    if !r.windows.is_empty() {
        let xs: Vec<String> = r.windows.iter().map(|w| format!("{}s", w.second)).collect();
        let failed = |w: &WindowRow| {
            let e = &w.errors;
            (e.timeout + e.reset + e.protocol + e.validation + e.auth) as f64
        };
        let per_s = f64::from(r.window_s.max(1));
        b.push_str(
            &Chart {
                title: "Requests per second (by intended send time)",
                y_unit: "requests",
                xs: xs.clone(),
                series: vec![
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
            }
            .svg(),
        );
        b.push_str(
            &Chart {
                title: "Latency per second",
                y_unit: "ms",
                xs,
                series: vec![
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
            }
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
        &Chart {
            title: "Latency by percentile, all rounds merged",
            y_unit: "ms",
            xs: PCT_AXIS.iter().map(|s| s.to_string()).collect(),
            series: vec![
                (
                    "baseline".into(),
                    pct_points(&c.baseline.summary.group.latency_us),
                ),
                (
                    "candidate".into(),
                    pct_points(&c.candidate.summary.group.latency_us),
                ),
            ],
        }
        .svg(),
    );
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
        &Chart {
            title: "p50 and p99 per round",
            y_unit: "ms",
            xs,
            series: vec![
                ("baseline p50".into(), per(|r| r.baseline.p50)),
                ("candidate p50".into(), per(|r| r.candidate.p50)),
                ("baseline p99".into(), per(|r| r.baseline.p99)),
                ("candidate p99".into(), per(|r| r.candidate.p99)),
            ],
        }
        .svg(),
    );
    b.push_str("<h2>Each side, all rounds</h2>\n");
    let mut named_b = c.baseline.summary.group.clone();
    named_b.label = Some(format!("baseline {}", c.baseline.run.target));
    let mut named_c = c.candidate.summary.group.clone();
    named_c.label = Some(format!("candidate {}", c.candidate.run.target));
    group_rows(&mut b, &[&named_b, &named_c]);
    b.push_str(&crate::render::hops::compare_html(c));
    page(&format!("ringload compare {}", c.plan), &b)
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
    fn charts_scale_to_their_data_and_escape_names() {
        let svg = Chart {
            title: "t<1>",
            y_unit: "ms",
            xs: vec!["a".into(), "b".into(), "c".into()],
            series: vec![("s<x>".into(), vec![Some(1.0), None, Some(7.0)])],
        }
        .svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("t&lt;1&gt;") && svg.contains("s&lt;x&gt;"));
        assert!(!svg.contains("<x>"));
        // 7 on a 0..8 axis with steps of 2: the top grid label is 8.
        assert!(svg.contains(">8.0</text>"), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 2);
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(7.0, 5.0), 2.0);
        assert_eq!(nice_step(100.0, 5.0), 20.0);
        assert_eq!(nice_step(0.03, 5.0), 0.01);
    }
}
