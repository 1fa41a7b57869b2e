//! The charts of the HTML pages that are computed from the result rather than copied from it:
//! - the **percentile spectrum** (HdrHistogram's plot): latency against 1/(1-q) on a log scale,
//!   from p50 to p99.99, read from each group's whole histogram, so the tail between the
//!   stored percentiles is drawn too;
//! - **failures per second by error class**, from the windows.
//!
//! The chart functions return HTML: an SVG drawn by [`Chart`], and a line saying what it leaves
//! out, or only that line when there is nothing to draw.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use crate::compare::Comparison;
use crate::histogram;
use crate::model::{Group, Report};
use crate::render::svg::{Chart, MAX_LINES};

/// Points per spectrum line, evenly spaced in log10(1/(1-q)): 11 px apart on the plot, smooth
/// enough, and 60 quantile look-ups per label.
const SPECTRUM_POINTS: usize = 60;
/// The labelled quantiles; the first and the last are the ends of every line.
const SPECTRUM_TICKS: [(&str, f64); 5] = [
    ("p50", 0.5),
    ("p90", 0.9),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p99.99", 0.9999),
];

/// Where quantile `q` stands on the spectrum's x axis: log10(1/(1-q)).
fn spectrum_x(q: f64) -> f64 {
    -(1.0 - q).log10()
}

/// The quantiles a spectrum line samples, from p50 to p99.99 (both exact, so the ends match the
/// tables), evenly spaced in log10(1/(1-q)).
fn spectrum_quantiles() -> Vec<f64> {
    let (first, last) = (SPECTRUM_TICKS[0].1, SPECTRUM_TICKS[4].1);
    let (lo, hi) = (spectrum_x(first), spectrum_x(last));
    let steps = (SPECTRUM_POINTS - 1) as f64;
    (0..SPECTRUM_POINTS)
        .map(|i| match i {
            0 => first,
            i if i + 1 == SPECTRUM_POINTS => last,
            i => 1.0 - 10f64.powf(-(lo + (hi - lo) * i as f64 / steps)),
        })
        .collect()
}

/// Latency in ms at each of [`spectrum_quantiles`] of `h` (not empty).
fn spectrum_ms(h: &Histogram<u64>) -> Vec<Option<f64>> {
    spectrum_quantiles()
        .iter()
        .map(|&q| Some(h.value_at_quantile(q) as f64 / 1e3))
        .collect()
}

fn spectrum_chart<'a>(title: &'a str, lines: &[(String, Histogram<u64>)]) -> Chart<'a> {
    Chart {
        title,
        y_unit: "ms",
        xs: spectrum_quantiles().into_iter().map(spectrum_x).collect(),
        ticks: SPECTRUM_TICKS
            .iter()
            .map(|&(name, q)| (spectrum_x(q), name.to_string()))
            .collect(),
        series: lines
            .iter()
            .map(|(name, h)| (name.clone(), spectrum_ms(h)))
            .collect(),
        dots: false,
    }
}

/// A group's latency histogram, when it has one to draw (a group whose requests all failed
/// before an answer has none; an unreadable one is left out like it).
fn latencies(g: &Group) -> Option<Histogram<u64>> {
    histogram::decode(&g.histogram)
        .ok()
        .filter(|h| !h.is_empty())
}

/// The lines of the run page's spectrum: the busiest labels (by requests) with latencies, at
/// most [`MAX_LINES`]; logins (auth rows) are not steps and are left out. With them, how many
/// other labels were not drawn.
fn label_lines(r: &Report) -> (Vec<(String, Histogram<u64>)>, usize) {
    let mut busiest: Vec<&Group> = r.labels.iter().filter(|g| !g.auth).collect();
    busiest.sort_by_key(|g| std::cmp::Reverse(g.requests));
    // Decoded in that order, and no further than needed: captured traffic can have thousands.
    let mut lines = Vec::new();
    for g in &busiest {
        if lines.len() == MAX_LINES {
            break;
        }
        if let Some(h) = latencies(g) {
            lines.push((g.name(), h));
        }
    }
    let left_out = busiest.len() - lines.len();
    (lines, left_out)
}

/// The run page's spectrum, one line per label (× segment).
pub fn label_spectrum(r: &Report) -> String {
    let (mut lines, left_out) = label_lines(r);
    if lines.is_empty() {
        // A result without labels (or none answered): the whole run's line, if any.
        lines.extend(latencies(&r.summary.group).map(|h| ("total".to_string(), h)));
    }
    if lines.is_empty() {
        return "<p>Percentile spectrum: no latencies to draw.</p>\n".into();
    }
    let mut out = spectrum_chart(
        "Percentile spectrum per label (x: 1/(1-q), log scale)",
        &lines,
    )
    .svg();
    out.push_str("\n<p>Each line is a label's whole latency histogram from p50 to p99.99");
    if left_out > 0 {
        let _ = write!(
            out,
            "; {left_out} more label{} not drawn (fewer requests, or no latencies), the table lists every one",
            if left_out == 1 { "" } else { "s" }
        );
    }
    if r.labels.iter().any(|g| g.auth) {
        out.push_str("; logins (auth) are left out");
    }
    out.push_str(".</p>\n");
    out
}

/// The compare page's spectrum: baseline against candidate, all rounds merged.
pub fn compare_spectrum(c: &Comparison) -> String {
    let lines: Vec<(String, Histogram<u64>)> =
        [("baseline", &c.baseline), ("candidate", &c.candidate)]
            .into_iter()
            .filter_map(|(side, r)| latencies(&r.summary.group).map(|h| (side.to_string(), h)))
            .collect();
    if lines.is_empty() {
        return "<p>Percentile spectrum: no latencies to draw.</p>\n".into();
    }
    spectrum_chart(
        "Percentile spectrum, all rounds merged (x: 1/(1-q), log scale)",
        &lines,
    )
    .svg()
}

/// The x axis of every per-window chart: each window's start.
pub fn window_axis(r: &Report) -> Vec<String> {
    r.windows.iter().map(|w| format!("{}s", w.second)).collect()
}

/// One series per error class that occurs in some window: each window's count divided by its
/// width (`window_s`), so a doubled window does not show doubled rates.
fn failure_series(r: &Report) -> Vec<(String, Vec<Option<f64>>)> {
    let width = f64::from(r.window_s.max(1));
    let per_window: Vec<_> = r.windows.iter().map(|w| w.errors.by_class()).collect();
    let Some(first) = per_window.first() else {
        return Vec::new();
    };
    (0..first.len())
        .filter(|&k| per_window.iter().any(|classes| classes[k].1 > 0))
        .map(|k| {
            let name = first[k].0.to_string();
            let values = per_window
                .iter()
                .map(|classes| Some(classes[k].1 as f64 / width))
                .collect();
            (name, values)
        })
        .collect()
}

/// Failures per second by error class, or a line saying there were none.
pub fn failures(r: &Report) -> String {
    let series = failure_series(r);
    let mut out = if series.is_empty() {
        "<p>Failures per second by error class: no failures.</p>\n".to_string()
    } else {
        Chart::categories(
            "Failures per second by error class",
            "failures/s",
            window_axis(r),
            series,
        )
        .svg()
    };
    // Connection attempts that failed before measuring began (warm-up) or after sending ended
    // are in the run's total only (as are all of them in results of ringload before 0.1).
    let connect = r.summary.group.errors.connect;
    let in_windows: u64 = r.windows.iter().map(|w| w.errors.connect).sum();
    if connect > in_windows {
        let _ = writeln!(
            out,
            "<p>Not in the chart: {} failed connection attempts outside the measured windows \
             (warm-up, drain).</p>",
            connect - in_windows
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{report_of, worker};

    /// 1..=10000 us once each, and one outlier of 1 s: p99.99 is ~10 ms, the maximum 1 s.
    fn spread() -> Histogram<u64> {
        let mut h = Histogram::<u64>::new(histogram::DIGITS).unwrap();
        for v in 1..=10_000u64 {
            h.record(v).unwrap();
        }
        h.record(1_000_000).unwrap();
        h
    }

    #[test]
    fn spectrum_rises_from_p50_to_p9999() {
        let h = spread();
        let ys: Vec<f64> = spectrum_ms(&h).into_iter().flatten().collect();
        assert_eq!(ys.len(), SPECTRUM_POINTS);
        assert!(ys.windows(2).all(|p| p[0] <= p[1]), "{ys:?}");
        assert_eq!(ys[0], h.value_at_quantile(0.5) as f64 / 1e3);
        let last = h.value_at_quantile(0.9999) as f64 / 1e3;
        assert_eq!(ys[SPECTRUM_POINTS - 1], last);
        // The line ends at p99.99, not at the outlier.
        assert!((10.0..10.1).contains(&last), "{last}");
        let xs: Vec<f64> = spectrum_quantiles().into_iter().map(spectrum_x).collect();
        assert!(xs.windows(2).all(|p| p[0] < p[1]));
        // Evenly spaced on the log axis: the tick p99 (x = 2) falls between two points.
        let step = xs[1] - xs[0];
        assert!(xs.windows(2).all(|p| (p[1] - p[0] - step).abs() < 1e-9));
    }

    /// The test worker's report with `n` labels, label i with 10 * (i + 1) requests.
    fn labelled(n: usize) -> Report {
        let mut r = report_of(&worker(1));
        let model = r.labels[0].clone();
        r.labels = (0..n)
            .map(|i| {
                let mut g = model.clone();
                g.label = Some(format!("GET /l{i}"));
                g.segment = None;
                g.requests = 10 * (i as u64 + 1);
                g
            })
            .collect();
        r
    }

    #[test]
    fn spectrum_draws_the_busiest_labels_and_says_how_many_were_left_out() {
        let mut r = labelled(11);
        let mut login = r.labels[0].clone();
        login.label = Some("POST /login".into());
        login.auth = true;
        login.requests = 1_000_000;
        r.labels.push(login);
        r.labels[3].histogram = String::new(); // unreadable: not drawn, counted as left out
        let html = label_spectrum(&r);
        assert_eq!(html.matches("<polyline").count(), MAX_LINES);
        for busy in 4..11 {
            assert!(html.contains(&format!(">GET /l{busy}</text>")), "{busy}");
        }
        // The 8th line is the busiest drawable after those 7: /l2, since /l3 has no histogram.
        assert!(html.contains(">GET /l2</text>") && !html.contains(">GET /l3</text>"));
        assert!(!html.contains("login</text>"));
        assert!(html.contains("3 more labels not drawn"), "{html}");
        assert!(html.contains("logins (auth) are left out"));
    }

    #[test]
    fn label_names_are_escaped() {
        let mut r = labelled(1);
        r.labels[0].label = Some("<script>alert(1)</script>".into());
        for html in [label_spectrum(&r), crate::render::html::run_page(&r)] {
            assert!(!html.contains("<script"), "{html}");
            assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        }
    }

    #[test]
    fn failures_show_the_classes_present_per_second() {
        // The worker resets every 50th request and fails the check of every 7th.
        let mut r = report_of(&worker(1));
        let names: Vec<String> = failure_series(&r).into_iter().map(|s| s.0).collect();
        assert_eq!(names, ["reset", "validation"]);
        r.windows[0].errors.timeout = 3;
        r.window_s = 2;
        let series = failure_series(&r);
        let names: Vec<&str> = series.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(names, ["timeout", "reset", "validation"]);
        let at = |class: usize, w: usize| series[class].1[w].unwrap();
        assert_eq!(at(0, 0), 1.5);
        assert_eq!(at(0, 1), 0.0);
        for (w, row) in r.windows.iter().enumerate() {
            assert_eq!(at(1, w), row.errors.reset as f64 / 2.0);
            assert_eq!(at(2, w), row.errors.validation as f64 / 2.0);
        }
        let svg = failures(&r);
        assert!(svg.contains(">timeout</text>") && !svg.contains(">connect</text>"));
    }

    #[test]
    fn no_failures_say_so_instead_of_a_chart() {
        let mut r = report_of(&worker(1));
        for w in &mut r.windows {
            w.errors.reset = 0;
            w.errors.validation = 0;
        }
        assert!(failure_series(&r).is_empty());
        let html = failures(&r);
        assert!(html.contains("no failures") && !html.contains("<svg"));
        assert!(!html.contains("connection attempts"));
        // Failed connects are counted for the whole run only: said beside the chart.
        r.summary.group.errors.connect = 7;
        assert!(failures(&r).contains("7 failed connection attempts"));
    }

    #[test]
    fn compare_spectrum_has_both_sides() {
        let c = Comparison {
            format: crate::compare::COMPARE_FORMAT.into(),
            tool_version: "t".into(),
            plan: "p".into(),
            rounds: 1,
            valid: true,
            invalid_reason: None,
            interrupted: false,
            overhead: Vec::new(),
            per_round: Vec::new(),
            baseline: report_of(&worker(1)),
            candidate: report_of(&worker(2)),
        };
        let svg = compare_spectrum(&c);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains(">baseline</text>") && svg.contains(">candidate</text>"));
    }
}
