//! What the hops said, shown (text and HTML): who answered the failed responses (a proxy on the
//! way or the upstream), and where the time went for the responses that said how long the
//! upstream took: its own time, and the rest of the service time (the overhead).

use std::fmt::Write as _;

use crate::compare::Comparison;
use crate::model::{Group, OriginCounts, Percentiles, Report};
use crate::render::svg::esc;

/// One percentile of a [`Percentiles`].
type Pick = fn(&Percentiles) -> u64;

/// The percentiles shown for upstream time and overhead.
const SHOWN: [(&str, Pick); 3] = [("p50", |p| p.p50), ("p90", |p| p.p90), ("p99", |p| p.p99)];

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

/// `proxy 120, upstream 30, unknown 0`.
pub fn origin_text(o: &OriginCounts) -> String {
    format!(
        "proxy {}, upstream {}, unknown {}",
        o.proxy, o.upstream, o.unknown
    )
}

/// ` (proxy 120 upstream 30)`: the known origins of a row's failed responses, to follow its
/// `validation=N`; empty when nothing said (every failure of unknown origin, or none).
pub fn origin_suffix(o: &OriginCounts) -> String {
    if o.proxy + o.upstream == 0 {
        return String::new();
    }
    let counts = [
        ("proxy", o.proxy),
        ("upstream", o.upstream),
        ("unknown", o.unknown),
    ];
    format!(" ({})", crate::render::cells::nonzero_counts(&counts, " "))
}

/// Responses a group received: ok, or answered and failed their check.
fn answered(g: &Group) -> u64 {
    g.ok + g.errors.validation
}

/// The rows of a run that said how long the upstream took (labels, segments), then the total.
fn timed_rows(r: &Report) -> Vec<(String, &Group)> {
    let mut rows: Vec<(String, &Group)> = Vec::new();
    for g in r.labels.iter().filter(|g| !g.auth) {
        let mut name = g.label.clone().unwrap_or_default();
        if let Some(seg) = &g.segment {
            name = format!("{name} [{seg}]");
        }
        rows.push((name, g));
    }
    for g in &r.segments {
        let name = format!("segment {}", g.segment.as_deref().unwrap_or(""));
        rows.push((name, g));
    }
    rows.retain(|(_, g)| g.upstream_time_responses > 0);
    rows.push(("total".into(), &r.summary.group));
    rows
}

const TIMING_SOURCE: &str = "x-envoy-upstream-service-time or Server-Timing";

/// The lines a run's text adds: failure origins (when a response failed), and the upstream
/// time and overhead per row (when a response said).
pub fn run_text(r: &Report) -> String {
    let mut out = String::new();
    let s = &r.summary.group;
    if s.origin.total() > 0 {
        let _ = writeln!(
            out,
            "failed responses by origin: {} (of {} answered but failed)",
            origin_text(&s.origin),
            s.errors.validation
        );
    }
    if s.upstream_time_responses == 0 {
        return out;
    }
    let _ = writeln!(
        out,
        "where the time went: {} of {} responses said how long the upstream took ({TIMING_SOURCE}); \
         overhead = service time - upstream time, ms",
        s.upstream_time_responses,
        answered(s)
    );
    let _ = writeln!(
        out,
        "{:<44} {:>9}  {:>26}  {:>26}",
        "", "", "upstream's own time", "the rest (overhead)"
    );
    let _ = writeln!(
        out,
        "{:<44} {:>9}  {:>8} {:>8} {:>8}  {:>8} {:>8} {:>8}",
        "label [segment]", "with time", "p50", "p90", "p99", "p50", "p90", "p99"
    );
    for (name, g) in timed_rows(r) {
        let [n, u50, u90, u99, o50, o90, o99] = timed_cells(g);
        let _ = writeln!(
            out,
            "{:<44} {n:>9}  {u50:>8} {u90:>8} {u99:>8}  {o50:>8} {o90:>8} {o99:>8}",
            crate::render::cells::truncate(&name, 44),
        );
    }
    out
}

/// A timed row's figures: responses that said, upstream time and overhead at each shown
/// percentile (ms).
fn timed_cells(g: &Group) -> [String; 7] {
    let (u, o) = (&g.upstream_time_us, &g.overhead_us);
    let [(_, a), (_, b), (_, c)] = SHOWN;
    [
        g.upstream_time_responses.to_string(),
        ms(a(u)),
        ms(b(u)),
        ms(c(u)),
        ms(a(o)),
        ms(b(o)),
        ms(c(o)),
    ]
}

/// The run page's sections: failure origin per row, and where the time went.
pub fn run_html(r: &Report) -> String {
    let mut b = String::new();
    let s = &r.summary.group;
    if s.origin.total() > 0 {
        b.push_str("<h2>Who answered the failed responses</h2><p>From what the hops said: Envoy's, Linkerd's and nginx's own replies, <code>x-envoy-upstream-service-time</code> on relayed ones, <code>--origin-rule</code>s.</p>\n<table><tr><th>label [segment]</th><th>failed (answered)</th><th>proxy</th><th>upstream</th><th>unknown</th></tr>\n");
        let rows = r
            .labels
            .iter()
            .filter(|g| !g.auth && g.origin.total() > 0)
            .map(|g| {
                let mut name = g.label.clone().unwrap_or_default();
                if let Some(seg) = &g.segment {
                    name = format!("{name} [{seg}]");
                }
                (name, g)
            })
            .chain(std::iter::once(("total".to_string(), s)));
        for (name, g) in rows {
            let o = &g.origin;
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&name),
                g.errors.validation,
                o.proxy,
                o.upstream,
                o.unknown
            );
        }
        b.push_str("</table>\n");
    }
    if s.upstream_time_responses > 0 {
        let _ = writeln!(
            b,
            "<h2>Where the time went</h2><p>{} of {} responses said how long the upstream took ({TIMING_SOURCE}); overhead: each one's service time minus the upstream's time (network, proxies, the connection's queue).</p>",
            s.upstream_time_responses,
            answered(s)
        );
        b.push_str("<table><tr><th>label [segment]</th><th>with time</th><th>upstream p50 ms</th><th>p90</th><th>p99</th><th>overhead p50 ms</th><th>p90</th><th>p99</th></tr>\n");
        for (name, g) in timed_rows(r) {
            let _ = write!(b, "<tr><td>{}</td>", esc(&name));
            for cell in timed_cells(g) {
                let _ = write!(b, "<td>{cell}</td>");
            }
            b.push_str("</tr>\n");
        }
        b.push_str("</table>\n");
    }
    b
}

/// One figure of both sides and its change (`-` for a side without it).
struct Pair {
    base: Option<u64>,
    cand: Option<u64>,
}

impl Pair {
    fn of(b: &Group, c: &Group, p: impl Fn(&Group) -> u64, timed: bool) -> Pair {
        let has = |g: &Group| !timed || g.upstream_time_responses > 0;
        Pair {
            base: has(b).then(|| p(b)),
            cand: has(c).then(|| p(c)),
        }
    }

    fn cells(&self) -> [String; 3] {
        let v = |x: Option<u64>| x.map_or("-".to_string(), ms);
        let change = match (self.base, self.cand) {
            (Some(b), Some(c)) => format!("{:+.2}", (c as f64 - b as f64) / 1000.0),
            _ => "-".into(),
        };
        [v(self.base), v(self.cand), change]
    }
}

/// For each shown percentile: service time, upstream time and overhead of both sides.
fn compare_rows(c: &Comparison) -> Vec<(&'static str, [Pair; 3])> {
    let (b, cd) = (&c.baseline.summary, &c.candidate.summary);
    SHOWN
        .iter()
        .map(|&(name, p)| {
            let service = Pair {
                base: Some(p(&b.service_us)),
                cand: Some(p(&cd.service_us)),
            };
            let up = Pair::of(&b.group, &cd.group, |g| p(&g.upstream_time_us), true);
            let over = Pair::of(&b.group, &cd.group, |g| p(&g.overhead_us), true);
            (name, [service, up, over])
        })
        .collect()
}

fn said(c: &Comparison) -> String {
    let side = |r: &Report| {
        let g = &r.summary.group;
        format!("{} of {}", g.upstream_time_responses, answered(g))
    };
    format!(
        "responses that said how long the upstream took: baseline {}, candidate {}",
        side(&c.baseline),
        side(&c.candidate)
    )
}

/// The comparison's "where the time went" table (text): service time (from the actual send),
/// the upstream's own time and the rest, per side, with the change; empty when neither side's
/// responses said. Also each side's failure origins, when a response failed.
pub fn compare_text(c: &Comparison) -> String {
    let mut out = String::new();
    let (b, cd) = (&c.baseline.summary.group, &c.candidate.summary.group);
    if b.upstream_time_responses + cd.upstream_time_responses > 0 {
        let _ = writeln!(out, "where the time went ({}), ms:", said(c));
        let _ = writeln!(
            out,
            "{:<6} {:>26}   {:>26}   {:>26}",
            "", "service time (from send)", "upstream's own time", "the rest (overhead)"
        );
        let heads = ["baseline", "candidate", "change"].map(String::from);
        let rows = compare_rows(c)
            .into_iter()
            .map(|(name, pairs)| (name, pairs.map(|p| p.cells())));
        for (name, cells) in std::iter::once(("", [(); 3].map(|_| heads.clone()))).chain(rows) {
            let _ = write!(out, "{name:<6}");
            for [x, y, d] in &cells {
                let _ = write!(out, " {x:>8} {y:>9} {d:>7}  ");
            }
            out.truncate(out.trim_end().len());
            out.push('\n');
        }
    }
    for (name, g) in [("baseline", b), ("candidate", cd)] {
        if g.origin.total() > 0 {
            let _ = writeln!(
                out,
                "{name:<9} failed responses by origin: {}",
                origin_text(&g.origin)
            );
        }
    }
    out
}

/// The comparison page's "where the time went" table and failure origins.
pub fn compare_html(c: &Comparison) -> String {
    let mut b = String::new();
    let (bs, cs) = (&c.baseline.summary.group, &c.candidate.summary.group);
    if bs.upstream_time_responses + cs.upstream_time_responses > 0 {
        let _ = writeln!(
            b,
            "<h2>Where the time went</h2><p>{} ({TIMING_SOURCE}). Overhead: each response's service time minus the upstream's time.</p>",
            esc(&said(c))
        );
        b.push_str("<table><tr><th></th><th colspan=\"3\">service time (from send), ms</th><th colspan=\"3\">upstream's own time, ms</th><th colspan=\"3\">the rest (overhead), ms</th></tr>\n<tr><th>percentile</th>");
        for _ in 0..3 {
            b.push_str("<th>baseline</th><th>candidate</th><th>change</th>");
        }
        b.push_str("</tr>\n");
        for (name, pairs) in compare_rows(c) {
            let _ = write!(b, "<tr><td>{name}</td>");
            for p in &pairs {
                for cell in p.cells() {
                    let _ = write!(b, "<td>{cell}</td>");
                }
            }
            b.push_str("</tr>\n");
        }
        b.push_str("</table>\n");
    }
    if bs.origin.total() + cs.origin.total() > 0 {
        b.push_str("<h2>Who answered the failed responses</h2><table><tr><th>side</th><th>proxy</th><th>upstream</th><th>unknown</th></tr>\n");
        for (name, g) in [("baseline", bs), ("candidate", cs)] {
            let o = &g.origin;
            let _ = writeln!(
                b,
                "<tr><td>{name}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                o.proxy, o.upstream, o.unknown
            );
        }
        b.push_str("</table>\n");
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{report_of, worker};

    #[test]
    fn a_run_shows_origins_and_where_the_time_went_per_row() {
        let r = report_of(&worker(1));
        let text = run_text(&r);
        let s = &r.summary.group;
        assert!(
            text.starts_with(&format!(
                "failed responses by origin: {} (of {} answered but failed)\n",
                origin_text(&s.origin),
                s.errors.validation
            )),
            "{text}"
        );
        assert!(text.contains(&format!(
            "where the time went: {} of {} responses said",
            s.upstream_time_responses,
            s.ok + s.errors.validation
        )));
        // The label in each segment, each segment, the total.
        let rows: Vec<&str> = text
            .lines()
            .skip(4)
            .map(|l| l.split("  ").next().unwrap())
            .collect();
        assert_eq!(
            rows,
            [
                "GET /a [canary]",
                "GET /a",
                "segment canary",
                "segment (none)",
                "total"
            ],
            "{text}"
        );
        let total = text.lines().last().unwrap();
        let cells: Vec<&str> = total.split_whitespace().collect();
        assert_eq!(cells[1], s.upstream_time_responses.to_string());
        assert_eq!(cells[2], ms(s.upstream_time_us.p50));
        assert_eq!(cells[5], ms(s.overhead_us.p50));
        let html = run_html(&r);
        assert!(html.contains("<h2>Who answered the failed responses</h2>"));
        assert!(html.contains("<h2>Where the time went</h2>"));
        // A run whose responses said nothing adds nothing.
        let quiet = report_of(&ringload_engine::Stats::new(1));
        assert_eq!(
            (run_text(&quiet), run_html(&quiet)),
            (String::new(), String::new())
        );
    }

    #[test]
    fn a_comparison_shows_both_sides_and_the_change() {
        let timed = report_of(&worker(1));
        let mut plain = timed.clone();
        let g = &mut plain.summary.group;
        g.upstream_time_responses = 0;
        g.origin = OriginCounts::default();
        let c = Comparison {
            format: String::new(),
            tool_version: String::new(),
            plan: "p".into(),
            rounds: 1,
            valid: true,
            invalid_reason: None,
            interrupted: false,
            overhead: Vec::new(),
            per_round: Vec::new(),
            baseline: plain,
            candidate: timed.clone(),
        };
        let text = compare_text(&c);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("baseline 0 of"), "{text}");
        let p50: Vec<&str> = lines[3].split_whitespace().collect();
        let s = &timed.summary;
        // service: both sides and no change; upstream and overhead: the candidate's only.
        assert_eq!(
            p50,
            [
                "p50",
                &ms(s.service_us.p50),
                &ms(s.service_us.p50),
                "+0.00",
                "-",
                &ms(s.group.upstream_time_us.p50),
                "-",
                "-",
                &ms(s.group.overhead_us.p50),
                "-"
            ],
            "{text}"
        );
        assert_eq!(
            lines.len(),
            4 + 2 + 1,
            "p50 p90 p99, then the candidate's origins"
        );
        assert!(lines[6].starts_with("candidate failed responses by origin: proxy"));
        assert!(compare_html(&c).contains("<th>percentile</th>"));
    }

    #[test]
    fn origin_suffix_only_when_something_was_said() {
        let o = |proxy, upstream, unknown| OriginCounts {
            proxy,
            upstream,
            unknown,
        };
        assert_eq!(origin_suffix(&o(0, 0, 5)), "");
        assert_eq!(origin_suffix(&o(3, 0, 2)), " (proxy 3 unknown 2)");
        assert_eq!(origin_suffix(&o(0, 4, 0)), " (upstream 4)");
    }
}
