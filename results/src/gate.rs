//! `--fail-on` gates for CI: conditions that, when true, fail a run (exit 3). One parser for
//! `run`, `merge`, `report` and `compare`.
//!
//! ```text
//! [SCOPE:]METRIC>VALUE  or  [SCOPE:]METRIC<VALUE
//! SCOPE   label=LABEL | segment=NAME            (labels may hold colons: `GET /products/:id`)
//! METRIC  p50 p90 p95 p99 p999 max mean         a duration: 250ms, 1.5s, 800us
//!         error-rate                            a percentage of failed and timed-out requests
//!         rps                                   a number
//!         p50-overhead ... p999-overhead        compare only: a duration (2ms) or a percentage
//! ```
//! Examples: `p99>250ms`, `error-rate>1%`, `label=POST /api/v1/checkout:p95>400ms`,
//! `segment=canary:error-rate>0.5%`, `p99-overhead>2ms`.

use hdrhistogram::Histogram;

use crate::ResultsError;
use crate::compare::{Comparison, PERCENTILES};
use crate::model::{Group, Report};

const LATENCY: [&str; 7] = ["p50", "p90", "p95", "p99", "p999", "max", "mean"];

/// Which requests a gate looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    /// Every segment of this label (its rows added up).
    Label(String),
    Segment(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    /// A latency percentile (`LATENCY` name), microseconds.
    Latency(&'static str),
    ErrorRate,
    Rps,
    /// Compare: the median overhead of a percentile, microseconds or percent.
    Overhead(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Limit {
    Micros(f64),
    Percent(f64),
    Number(f64),
}

impl Limit {
    fn value(self) -> f64 {
        match self {
            Limit::Micros(v) | Limit::Percent(v) | Limit::Number(v) => v,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    text: String,
    scope: Scope,
    metric: Metric,
    above: bool,
    limit: Limit,
}

/// A gate's verdict on a result.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub failed: bool,
    /// `label=POST /api/v1/checkout:p95>400ms (measured 512.30 ms)`.
    pub description: String,
}

impl std::str::FromStr for Gate {
    type Err = ResultsError;
    fn from_str(s: &str) -> Result<Gate, ResultsError> {
        let bad = |why: &str| ResultsError::Invalid(format!("--fail-on {s:?}: {why}"));
        // The scope ends at the last ':' after which a METRIC>VALUE follows.
        let is_condition = |t: &str| {
            let name = t.split(['>', '<']).next().unwrap_or("").trim();
            t.contains(['>', '<']) && metric(name).is_some()
        };
        let (scope, cond) = if s.starts_with("label=") || s.starts_with("segment=") {
            let at = s
                .match_indices(':')
                .rev()
                .map(|(i, _)| i)
                .find(|&i| is_condition(&s[i + 1..]))
                .ok_or_else(|| bad("no METRIC>VALUE after the scope"))?;
            let scope = match s[..at].split_once('=') {
                Some(("label", l)) if !l.is_empty() => Scope::Label(l.to_string()),
                Some(("segment", n)) if !n.is_empty() => Scope::Segment(n.to_string()),
                _ => return Err(bad("the scope is label=LABEL or segment=NAME")),
            };
            (scope, &s[at + 1..])
        } else {
            (Scope::All, s)
        };
        let (i, above) = match (cond.find('>'), cond.find('<')) {
            (Some(i), None) => (i, true),
            (None, Some(i)) => (i, false),
            _ => return Err(bad("expected METRIC>VALUE or METRIC<VALUE")),
        };
        let (name, value) = (cond[..i].trim(), cond[i + 1..].trim());
        let metric = metric(name).ok_or_else(|| {
            bad("metric must be p50, p90, p95, p99, p999, max, mean, error-rate, rps or PNN-overhead")
        })?;
        let duration = |v: &str| {
            humantime::parse_duration(v)
                .ok()
                .map(|d| d.as_secs_f64() * 1e6)
        };
        let percent = |v: &str| {
            v.strip_suffix('%')
                .and_then(|p| p.trim().parse::<f64>().ok())
                .filter(|p| p.is_finite())
        };
        let limit = match metric {
            Metric::Latency(_) => Limit::Micros(
                duration(value).ok_or_else(|| bad("latency needs a duration such as 250ms"))?,
            ),
            Metric::ErrorRate => Limit::Percent(
                percent(value).ok_or_else(|| bad("error-rate needs a percentage such as 1%"))?,
            ),
            Metric::Rps => Limit::Number(
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| bad("rps needs a number"))?,
            ),
            Metric::Overhead(_) => match percent(value) {
                Some(p) => Limit::Percent(p),
                None => Limit::Micros(duration(value).ok_or_else(|| {
                    bad("the limit must be a duration (2ms) or a percentage (10%)")
                })?),
            },
        };
        if matches!(metric, Metric::Overhead(_)) && (!above || scope != Scope::All) {
            return Err(bad(
                "an overhead gate is PNN-overhead>LIMIT, for all requests",
            ));
        }
        Ok(Gate {
            text: s.to_string(),
            scope,
            metric,
            above,
            limit,
        })
    }
}

fn metric(name: &str) -> Option<Metric> {
    if let Some(p) = name.strip_suffix("-overhead") {
        return PERCENTILES
            .iter()
            .map(|(k, _)| *k)
            .find(|k| *k == p)
            .map(Metric::Overhead);
    }
    match name {
        "error-rate" => Some(Metric::ErrorRate),
        "rps" => Some(Metric::Rps),
        _ => LATENCY
            .into_iter()
            .find(|k| *k == name)
            .map(Metric::Latency),
    }
}

impl Gate {
    /// Parse gates for `run`, `merge` or `report` (no overhead gates).
    pub fn for_results(specs: &[String]) -> Result<Vec<Gate>, ResultsError> {
        let gates: Vec<Gate> = specs.iter().map(|s| s.parse()).collect::<Result<_, _>>()?;
        if let Some(g) = gates.iter().find(|g| g.is_overhead()) {
            return Err(ResultsError::Invalid(format!(
                "--fail-on {:?}: overhead gates are for compare",
                g.text
            )));
        }
        Ok(gates)
    }

    /// Parse gates for `compare`: overhead gates, and any other gate, judged on the
    /// candidate's merged result (`p99>250ms` holds the target with the mesh to a limit).
    pub fn for_compare(specs: &[String]) -> Result<Vec<Gate>, ResultsError> {
        specs.iter().map(|s| s.parse()).collect()
    }

    fn is_overhead(&self) -> bool {
        matches!(self.metric, Metric::Overhead(_))
    }

    /// Judge a run's result. A scope that matches no row is a failure (a gate must not pass
    /// because its label was renamed).
    pub fn check(&self, r: &Report) -> Verdict {
        let measured = match &self.scope {
            Scope::All => Some(self.measure(&r.summary.group, None)),
            Scope::Segment(n) => r
                .segments
                .iter()
                .find(|g| g.segment.as_deref() == Some(n.as_str()))
                .map(|g| self.measure(g, None)),
            Scope::Label(l) => {
                let rows: Vec<&Group> = r
                    .labels
                    .iter()
                    .filter(|g| !g.auth && g.label.as_deref() == Some(l.as_str()))
                    .collect();
                (!rows.is_empty()).then(|| self.measure_rows(&rows))
            }
        };
        match measured.flatten() {
            Some(m) => self.verdict(m),
            None => Verdict {
                failed: true,
                description: format!("{} (no such {} in the result)", self.text, self.what()),
            },
        }
    }

    /// Judge a comparison's overhead table.
    pub fn check_compare(&self, c: &Comparison) -> Verdict {
        let Metric::Overhead(p) = self.metric else {
            return self.check(&c.candidate);
        };
        match c.overhead.iter().find(|o| o.percentile == p) {
            Some(o) => {
                let m = match self.limit {
                    Limit::Percent(_) => o.overhead_pct,
                    _ => o.overhead_us,
                };
                self.verdict(m)
            }
            None => Verdict {
                failed: true,
                description: format!("{} (no {p} in the comparison)", self.text),
            },
        }
    }

    fn what(&self) -> &'static str {
        match self.scope {
            Scope::Label(_) => "label",
            Scope::Segment(_) => "segment",
            Scope::All => "result",
        }
    }

    fn verdict(&self, measured: f64) -> Verdict {
        let failed = if self.above {
            measured > self.limit.value()
        } else {
            measured < self.limit.value()
        };
        let shown = match self.limit {
            Limit::Micros(_) if matches!(self.metric, Metric::Overhead(_)) => {
                format!("{:+.3} ms", measured / 1e3)
            }
            Limit::Micros(_) => format!("{:.2} ms", measured / 1e3),
            Limit::Percent(_) if matches!(self.metric, Metric::Overhead(_)) => {
                format!("{measured:+.1}%")
            }
            Limit::Percent(_) => format!("{measured:.3}%"),
            Limit::Number(_) => format!("{measured:.1}"),
        };
        Verdict {
            failed,
            description: format!("{} (measured {shown})", self.text),
        }
    }

    /// The metric of one group; `hist` overrides its latency histogram (added-up rows).
    fn measure(&self, g: &Group, hist: Option<&Histogram<u64>>) -> Option<f64> {
        Some(match self.metric {
            Metric::Latency(k) => match hist {
                Some(h) => latency(h, k),
                None => {
                    let l = &g.latency_us;
                    match k {
                        "p50" => l.p50 as f64,
                        "p90" => l.p90 as f64,
                        "p95" => l.p95 as f64,
                        "p99" => l.p99 as f64,
                        "p999" => l.p999 as f64,
                        "max" => l.max as f64,
                        _ => l.mean,
                    }
                }
            },
            Metric::ErrorRate => error_rate(g.requests, g.failed + g.timed_out),
            Metric::Rps => g.rps,
            Metric::Overhead(_) => return None,
        })
    }

    /// The metric over several rows (a label in every segment): counts add, latency comes
    /// from their histograms added up.
    fn measure_rows(&self, rows: &[&Group]) -> Option<f64> {
        if rows.len() == 1 {
            return self.measure(rows[0], None);
        }
        match self.metric {
            Metric::Latency(k) => {
                let mut h = ringload_engine::stats::new_histogram();
                for g in rows {
                    let one = crate::histogram::decode(&g.histogram).ok()?;
                    h.add(&one).ok()?;
                }
                Some(latency(&h, k))
            }
            Metric::ErrorRate => Some(error_rate(
                rows.iter().map(|g| g.requests).sum(),
                rows.iter().map(|g| g.failed + g.timed_out).sum(),
            )),
            Metric::Rps => Some(rows.iter().map(|g| g.rps).sum()),
            Metric::Overhead(_) => None,
        }
    }
}

fn latency(h: &Histogram<u64>, k: &str) -> f64 {
    if h.is_empty() {
        return 0.0;
    }
    match k {
        "max" => h.max() as f64,
        "mean" => h.mean(),
        _ => {
            let q = match k {
                "p50" => 0.5,
                "p90" => 0.9,
                "p95" => 0.95,
                "p99" => 0.99,
                _ => 0.999,
            };
            h.value_at_quantile(q) as f64
        }
    }
}

fn error_rate(requests: u64, bad: u64) -> f64 {
    if requests == 0 {
        0.0
    } else {
        100.0 * bad as f64 / requests as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gates_with_and_without_scopes() {
        let g: Gate = "p99>250ms".parse().unwrap();
        assert_eq!(
            (g.limit, g.above, &g.scope),
            (Limit::Micros(250_000.0), true, &Scope::All)
        );
        let g: Gate = "error-rate > 1.5%".parse().unwrap();
        assert_eq!(
            (g.metric, g.limit),
            (Metric::ErrorRate, Limit::Percent(1.5))
        );
        let g: Gate = "rps<1000".parse().unwrap();
        assert!(!g.above);
        let g: Gate = "label=GET /api/v1/products/:id:p95>400ms".parse().unwrap();
        assert_eq!(g.scope, Scope::Label("GET /api/v1/products/:id".into()));
        assert_eq!(g.metric, Metric::Latency("p95"));
        let g: Gate = "segment=canary:error-rate>0.5%".parse().unwrap();
        assert_eq!(g.scope, Scope::Segment("canary".into()));
        let g: Gate = "p50-overhead>10%".parse().unwrap();
        assert_eq!(
            (g.metric, g.limit),
            (Metric::Overhead("p50"), Limit::Percent(10.0))
        );
        for bad in [
            "p99=3",
            "p42>1ms",
            "p99>fast",
            "error-rate>1",
            "label=:p99>1ms",
            "segment=x",
            "segment=canary:p99-overhead>1ms",
            "p99-overhead<1ms",
        ] {
            assert!(bad.parse::<Gate>().is_err(), "{bad}");
        }
        assert!(Gate::for_results(&["p99-overhead>1ms".into()]).is_err());
    }

    #[test]
    fn scoped_gates_pass_and_fail_on_their_rows_only() {
        let r = crate::testing::report_of(&crate::testing::worker(1));
        let check = |g: &str| g.parse::<Gate>().unwrap().check(&r);
        // One label in two rows (canary, no segment): its p99 is that of their summed
        // histograms, here the whole run's.
        let v = check("label=GET /a:p99>1ms");
        assert!(v.failed, "{v:?}");
        let p99 = r.summary.group.latency_us.p99 as f64 / 1e3;
        assert!(
            v.description.contains(&format!("measured {p99:.2} ms")),
            "{v:?}"
        );
        assert!(!check("label=GET /a:p99>10s").failed);
        // The canary segment fails about 1 in 7 checks and 1 in 50 resets.
        let canary = r
            .segments
            .iter()
            .find(|g| g.segment.as_deref() == Some("canary"))
            .unwrap();
        let rate = 100.0 * (canary.failed + canary.timed_out) as f64 / canary.requests as f64;
        assert!(rate > 5.0, "{rate}");
        let v = check("segment=canary:error-rate>0.5%");
        assert!(
            v.failed && v.description.contains(&format!("measured {rate:.3}%")),
            "{v:?}"
        );
        assert!(!check("segment=canary:error-rate>50%").failed);
        assert!(check("rps<1000").failed);
        assert!(!check("rps>1000").failed);
        // A scope that names nothing fails, saying so.
        for g in ["segment=stable:p99>1s", "label=GET /b:p99>1s"] {
            let v = check(g);
            assert!(v.failed && v.description.contains("no such"), "{v:?}");
        }
    }

    #[test]
    fn overhead_gates_judge_the_median_and_others_the_candidate() {
        let r = crate::testing::report_of(&crate::testing::worker(1));
        let o = |p: &str, us, pct| crate::compare::Overhead {
            percentile: p.into(),
            baseline_us: 0,
            candidate_us: 0,
            overhead_us: us,
            overhead_pct: pct,
            range_us: [0.0; 2],
            baseline_noise_us: 0.0,
            consistent: true,
        };
        let c = Comparison {
            format: crate::compare::COMPARE_FORMAT.into(),
            tool_version: "t".into(),
            plan: "p".into(),
            rounds: 6,
            valid: true,
            invalid_reason: None,
            interrupted: false,
            overhead: vec![o("p50", 1.0, 12.0), o("p99", 2500.0, 5.0)],
            per_round: Vec::new(),
            baseline: r.clone(),
            candidate: r,
        };
        let check = |g: &str| Gate::for_compare(&[g.into()]).unwrap()[0].check_compare(&c);
        let v = check("p99-overhead>2ms");
        assert!(v.failed && v.description.contains("+2.500 ms"), "{v:?}");
        assert!(!check("p99-overhead>3ms").failed);
        assert!(check("p50-overhead>10%").failed);
        assert!(!check("p50-overhead>15%").failed);
        assert!(check("p999-overhead>1ms").failed, "no p999 row: fails");
        assert!(check("p99>1ms").failed, "the candidate's p99");
    }
}
