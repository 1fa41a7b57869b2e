//! `--fail-on` gates for CI: conditions on the summary that, when true, fail the run (exit 3).
//!
//! A gate is `METRIC>VALUE` or `METRIC<VALUE`: latency metrics `p50 p90 p95 p99 p999 max mean`
//! take a duration (`250ms`, `1.5s`, `800us`); `error-rate` takes a percentage (`1%`) of failed
//! and timed-out requests; `rps` a number. Example: `--fail-on 'p99>250ms' --fail-on 'error-rate>1%'`.

use crate::error::CliError;
use crate::report::Report;

#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    text: String,
    metric: Metric,
    above: bool,
    value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    /// A latency percentile key, value in microseconds.
    Latency(&'static str),
    ErrorRate,
    Rps,
}

impl std::str::FromStr for Gate {
    type Err = CliError;
    fn from_str(s: &str) -> Result<Gate, CliError> {
        let bad = |why: &str| CliError::BadInput(format!("--fail-on {s:?}: {why}"));
        let (i, above) = match (s.find('>'), s.find('<')) {
            (Some(i), None) => (i, true),
            (None, Some(i)) => (i, false),
            _ => return Err(bad("expected METRIC>VALUE or METRIC<VALUE")),
        };
        let (name, value) = (s[..i].trim(), s[i + 1..].trim());
        let metric = match name {
            "p50" | "p90" | "p95" | "p99" | "p999" | "max" | "mean" => {
                let key = ["p50", "p90", "p95", "p99", "p999", "max", "mean"]
                    .into_iter()
                    .find(|k| *k == name)
                    .expect("listed");
                Metric::Latency(key)
            }
            "error-rate" => Metric::ErrorRate,
            "rps" => Metric::Rps,
            _ => {
                return Err(bad(
                    "metric must be p50, p90, p95, p99, p999, max, mean, error-rate or rps",
                ));
            }
        };
        let value = match metric {
            Metric::Latency(_) => {
                humantime::parse_duration(value)
                    .map_err(|_| bad("latency needs a duration such as 250ms"))?
                    .as_secs_f64()
                    * 1e6
            }
            Metric::ErrorRate => value
                .strip_suffix('%')
                .and_then(|v| v.trim().parse::<f64>().ok())
                .ok_or_else(|| bad("error-rate needs a percentage such as 1%"))?,
            Metric::Rps => value.parse().map_err(|_| bad("rps needs a number"))?,
        };
        Ok(Gate {
            text: s.to_string(),
            metric,
            above,
            value,
        })
    }
}

impl Gate {
    /// The measured value, and whether the gate fails.
    pub fn check(&self, r: &Report) -> (f64, bool) {
        let g = &r.summary.group;
        let measured = match self.metric {
            Metric::Latency(k) => {
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
            Metric::ErrorRate => {
                let bad = (g.failed + g.timed_out) as f64;
                if g.requests == 0 {
                    0.0
                } else {
                    100.0 * bad / g.requests as f64
                }
            }
            Metric::Rps => g.rps,
        };
        let fails = if self.above {
            measured > self.value
        } else {
            measured < self.value
        };
        (measured, fails)
    }

    pub fn describe(&self, measured: f64) -> String {
        let shown = match self.metric {
            Metric::Latency(_) => format!("{:.2} ms", measured / 1e3),
            Metric::ErrorRate => format!("{measured:.3}%"),
            Metric::Rps => format!("{measured:.1}"),
        };
        format!("{} (measured {shown})", self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gates() {
        let g: Gate = "p99>250ms".parse().unwrap();
        assert_eq!(g.value, 250_000.0);
        assert!(g.above);
        let g: Gate = "error-rate > 1.5%".parse().unwrap();
        assert_eq!((g.metric, g.value), (Metric::ErrorRate, 1.5));
        let g: Gate = "rps<1000".parse().unwrap();
        assert!(!g.above);
        assert!("p99=3".parse::<Gate>().is_err());
        assert!("p42>1ms".parse::<Gate>().is_err());
        assert!("p99>fast".parse::<Gate>().is_err());
        assert!("error-rate>1".parse::<Gate>().is_err());
    }
}
