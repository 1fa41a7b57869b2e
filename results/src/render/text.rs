//! The terminal tables of a run and of a comparison.

use crate::compare::{Comparison, SIGN_TEST_ROUNDS};
use crate::model::{Errors, Group, Report, SplitShares};
use crate::render::cells::{nonzero_counts, truncate};
use crate::render::hops;

/// `stable 74.8% / canary-v2 25.2% of 5,012 with the header (120 without)`, largest first:
/// shares among the responses that carried the header.
pub fn split_text(s: &SplitShares) -> String {
    let with = s.total() - s.missing;
    let mut parts: Vec<(u64, String)> = s.values.iter().map(|(v, n)| (*n, v.clone())).collect();
    parts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    if s.other > 0 {
        parts.push((s.other, "(other values)".into()));
    }
    let mut out = parts
        .iter()
        .map(|(n, v)| format!("{v} {:.1}%", *n as f64 * 100.0 / with.max(1) as f64))
        .collect::<Vec<_>>()
        .join(" / ");
    out.push_str(&format!(" of {with} with the header"));
    if s.missing > 0 {
        out.push_str(&format!(" ({} without)", s.missing));
    }
    out
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

/// `reset=3 timeout=1`, or `-` when there is none.
pub fn error_text(e: &Errors) -> String {
    let text = nonzero_counts(&e.by_class(), "=");
    if text.is_empty() { "-".into() } else { text }
}

fn row(out: &mut String, name: &str, g: &Group) {
    let l = &g.latency_us;
    out.push_str(&format!(
        "{:<44} {:>9} {:>10.1} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  {}\n",
        truncate(name, 44),
        g.requests,
        g.rps,
        format!("{:.2}", l.mean / 1000.0),
        ms(l.p50),
        ms(l.p90),
        ms(l.p95),
        ms(l.p99),
        ms(l.p999),
        ms(l.max),
        g.failed + g.timed_out,
        error_text(&g.errors) + &hops::origin_suffix(&g.origin)
    ));
}

/// The terminal table.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    let s = &r.summary;
    out.push_str(&format!(
        "ringload {} -> {}: {} conns x pipeline {}, {} threads, {}, {}\n",
        r.plan,
        r.run.target,
        r.run.connections,
        r.run.pipeline,
        r.run.threads,
        r.run.load,
        r.run.stop
    ));
    out.push_str(&format!(
        "{:<44} {:>9} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  errors\n",
        "label [segment]",
        "count",
        "rps",
        "mean ms",
        "p50",
        "p90",
        "p95",
        "p99",
        "p99.9",
        "max",
        "failed"
    ));
    for g in r.labels.iter().filter(|g| !g.auth) {
        row(&mut out, &g.name(), g);
    }
    for g in &r.segments {
        row(
            &mut out,
            &format!("segment {}", g.segment.as_deref().unwrap_or("")),
            g,
        );
    }
    row(&mut out, "total", &s.group);
    for g in r.labels.iter().filter(|g| g.auth) {
        row(
            &mut out,
            &format!("(auth) {}", g.label.as_deref().unwrap_or("login")),
            g,
        );
    }
    if s.logins > 0 || s.group.reauth > 0 {
        out.push_str(&format!(
            "logins {} (rows marked auth, not in the total); re-logins after a 401: {}\n",
            s.logins, s.group.reauth
        ));
    }
    for g in r.labels.iter().filter(|g| !g.offending.is_empty()) {
        out.push_str(&format!(
            "failed checks {}: {}\n",
            g.name(),
            g.offending.join("; ")
        ));
    }
    let groups = r
        .segments
        .iter()
        .map(|g| (format!("segment {}", g.segment.as_deref().unwrap_or("")), g))
        .chain(r.segments.is_empty().then(|| ("all".to_string(), &s.group)));
    for (name, g) in groups {
        for (header, shares) in &g.split {
            out.push_str(&format!(
                "split {name} by {header}: {}\n",
                split_text(shares)
            ));
        }
    }
    out.push_str(&hops::run_text(r));
    out.push_str(&format!(
        "requests {} = ok {} + failed {} + timed out {} + in flight at end {}; resent {}; sent at {:.1}/s over {:.2} s\n",
        s.group.requests, s.group.ok, s.group.failed, s.group.timed_out, s.group.in_flight_at_end, s.resent, s.send_rate, s.duration_s
    ));
    let status: Vec<String> = s.status.iter().map(|(k, v)| format!("{k}={v}")).collect();
    out.push_str(&format!(
        "status {}; service time p50 {} ms p99 {} ms (from actual send)\n",
        if status.is_empty() {
            "-".into()
        } else {
            status.join(" ")
        },
        ms(s.service_us.p50),
        ms(s.service_us.p99),
    ));
    let rpc = &s.requests_per_connection;
    out.push_str(&format!(
        "connections: {} opened ({:.1}/s), {} closed by server; requests per connection p50 {} p99 {} max {} (mean {:.1}){}\n",
        s.connections_opened,
        s.connections_per_s,
        s.server_closes,
        rpc.p50,
        rpc.p99,
        rpc.max,
        rpc.mean,
        super::waits_note(s)
    ));
    if let Some(t) = &s.tls {
        out.push_str(&format!(
            "tls: {} handshakes ({:.1}/s, {:.0}% resumed) p50 {} ms p99 {} ms after connect p50 {} ms; tls errors {}{}\n",
            t.handshakes,
            t.handshakes_per_s,
            t.resumed_share * 100.0,
            ms(t.handshake_us.p50),
            ms(t.handshake_us.p99),
            ms(s.connect_us.p50),
            t.errors,
            if t.reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", t.reasons.join("; "))
            }
        ));
    }
    if s.lag_us.max > 0 {
        out.push_str(&format!(
            "schedule lag p50 {} ms p99 {} ms max {} ms\n",
            ms(s.lag_us.p50),
            ms(s.lag_us.p99),
            ms(s.lag_us.max)
        ));
    }
    if let Some(reason) = &r.invalid_reason {
        out.push_str(&format!("INVALID RUN: {reason}\n"));
    }
    if r.interrupted {
        out.push_str("INTERRUPTED: stopped early by a signal; the figures cover the time it ran\n");
    }
    out.push_str(&super::provenance::text(&r.provenance));
    out
}

/// Microseconds as `1.23 ms`.
fn ms_unit(us: f64) -> String {
    format!("{:.2} ms", us / 1e3)
}

/// The terminal table of a comparison: overhead per percentile with its range and noise, each
/// side's counts, what the hops said, and where each side came from.
pub fn render_compare(c: &Comparison) -> String {
    let mut out = format!(
        "ringload compare {}: baseline {} vs candidate {}; {} rounds ({}, {}; {} conns x pipeline {})\n",
        c.plan,
        c.baseline.run.target,
        c.candidate.run.target,
        if c.interrupted {
            format!("{} of {}", c.per_round.len(), c.rounds)
        } else {
            c.rounds.to_string()
        },
        c.baseline.run.load,
        c.baseline.run.stop,
        c.baseline.run.connections,
        c.baseline.run.pipeline
    );
    out.push_str(&format!(
        "{:<6} {:>11} {:>11}   {:>11} {:>8}  {:<12} {:>23}  {:>10}\n",
        "", "baseline", "candidate", "overhead", "", "", "range over rounds", "noise"
    ));
    for o in &c.overhead {
        let range = format!(
            "[{:+.2} .. {:+.2}] ms",
            o.range_us[0] / 1e3,
            o.range_us[1] / 1e3
        );
        out.push_str(&format!(
            "{:<6} {:>11} {:>11}   {:>+8.2} ms {:>+7.1}%  {:<12} {:>23}  {:>10}\n",
            o.percentile,
            ms_unit(o.baseline_us as f64),
            ms_unit(o.candidate_us as f64),
            o.overhead_us / 1e3,
            o.overhead_pct,
            if c.per_round.len() < SIGN_TEST_ROUNDS {
                "-"
            } else if o.consistent {
                "consistent"
            } else {
                "within noise"
            },
            range,
            ms_unit(o.baseline_noise_us),
        ));
    }
    for (name, r) in [("baseline", &c.baseline), ("candidate", &c.candidate)] {
        let g = &r.summary.group;
        let e = &g.errors;
        out.push_str(&format!(
            "{name:<9} requests {} ok {} failed {} timed out {}; {:.1} req/s; errors connect {} reset {} protocol {} validation {}\n",
            g.requests, g.ok, g.failed, g.timed_out, g.rps, e.connect, e.reset, e.protocol, e.validation
        ));
    }
    let rate = |r: &Report| {
        let g = &r.summary.group;
        if g.requests == 0 {
            0.0
        } else {
            100.0 * (g.failed + g.timed_out) as f64 / g.requests as f64
        }
    };
    out.push_str(&crate::render::hops::compare_text(c));
    let (eb, ec) = (rate(&c.baseline), rate(&c.candidate));
    if ec > eb {
        out.push_str(&format!(
            "WARNING: the candidate failed or timed out {ec:.2}% of requests, the baseline \
             {eb:.2}%: percentiles include failed responses' latency (timeouts have none)\n"
        ));
    }
    out.push_str(
        "overhead: median over rounds of candidate - baseline; noise: the baseline's own spread \
         between rounds; consistent: every round has the same sign (needs 6 rounds or more)\n",
    );
    if let Some(why) = &c.invalid_reason {
        out.push_str(&format!("INVALID RUN: {why}\n"));
    }
    if c.interrupted {
        out.push_str(&format!(
            "INTERRUPTED: stopped by a signal after {} of {} rounds; the figures cover those\n",
            c.per_round.len(),
            c.rounds
        ));
    }
    for side in [&c.baseline, &c.candidate] {
        out.push_str(&crate::render::provenance::text(&side.provenance));
    }
    out
}
