//! One CSV row per label x segment (then per segment, then the total), with Locust's
//! `_stats.csv` column names and meanings where they exist, so the sheets and scripts Locust
//! users keep read it. Times are milliseconds, as Locust writes them.
//!
//! Locust columns: `Type` (the method), `Name` (the label without its method), `Request
//! Count`, `Failure Count` (failed and timed out), `Median Response Time`, `Average Response
//! Time`, `Min Response Time`, `Max Response Time`, `Requests/s`, `Failures/s`, and the
//! percentiles `50%` ... `100%`. Locust's `Average Content Size` is left out: ringload counts
//! response bytes per run, not per label. ringload's own columns follow: `Segment`, `Login`
//! (the row is an auth profile's logins), `Timeout Count`, `In Flight At End`.
//! Segment rows and the total are named `Aggregated`, as Locust names its total.
//!
//! Text cells are quoted as RFC 4180 says, and a cell that a spreadsheet would take for a
//! formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return: captured paths and
//! header values are someone else's text) gets a leading `'`.

use std::fmt::Write as _;

use crate::histogram::decode;
use crate::model::{Group, Report};

/// The percentile columns, Locust's.
const QUANTILES: [(&str, f64); 10] = [
    ("50%", 0.5),
    ("66%", 0.66),
    ("75%", 0.75),
    ("80%", 0.8),
    ("90%", 0.9),
    ("95%", 0.95),
    ("98%", 0.98),
    ("99%", 0.99),
    ("99.9%", 0.999),
    ("99.99%", 0.9999),
];

/// The CSV text of `r`.
pub fn render(r: &Report) -> String {
    let mut out = String::from(
        "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,\
         Min Response Time,Max Response Time,Requests/s,Failures/s",
    );
    for (name, _) in QUANTILES {
        let _ = write!(out, ",{name}");
    }
    out.push_str(",100%,Segment,Login,Timeout Count,In Flight At End\n");
    let secs = r.summary.duration_s;
    for g in &r.labels {
        row(&mut out, g, secs, false);
    }
    for g in &r.segments {
        row(&mut out, g, secs, true);
    }
    row(&mut out, &r.summary.group, secs, true);
    out
}

fn row(out: &mut String, g: &Group, secs: f64, aggregated: bool) {
    let (kind, name) = match (&g.label, aggregated) {
        (_, true) | (None, _) => ("", "Aggregated"),
        (Some(l), false) => match l.split_once(' ') {
            Some((m, rest)) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => {
                (m, rest)
            }
            _ => ("", l.as_str()),
        },
    };
    let failures = g.failed + g.timed_out;
    let ms = |us: f64| format!("{:.3}", us / 1e3);
    // Percentiles come from the whole histogram; an unreadable one leaves the cells empty.
    let h = decode(&g.histogram).ok().filter(|h| !h.is_empty());
    let at = |q: f64| {
        h.as_ref()
            .map_or(String::new(), |h| ms(h.value_at_quantile(q) as f64))
    };
    let _ = write!(
        out,
        "{},{},{},{},{},{},{},{},{:.3},{:.3}",
        cell(kind),
        cell(name),
        g.requests,
        failures,
        ms(g.latency_us.p50 as f64),
        ms(g.latency_us.mean),
        h.as_ref().map_or(String::new(), |h| ms(h.min() as f64)),
        ms(g.latency_us.max as f64),
        g.rps,
        if secs > 0.0 {
            failures as f64 / secs
        } else {
            0.0
        },
    );
    for (_, q) in QUANTILES {
        let _ = write!(out, ",{}", at(q));
    }
    let _ = writeln!(
        out,
        ",{},{},{},{},{}",
        at(1.0),
        cell(g.segment.as_deref().unwrap_or("")),
        g.auth,
        g.timed_out,
        g.in_flight_at_end
    );
}

/// A text cell: formula-looking text defused, quoted when it holds `,`, `"` or a line break.
fn cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("/api/v1/x"), "/api/v1/x");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("-1"), "'-1");
    }
}
