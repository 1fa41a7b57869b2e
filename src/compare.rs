//! `ringload compare`: one plan against a baseline and a candidate target (the service without
//! and with the sidecar or gateway), in interleaved rounds, and the overhead per percentile with
//! its noise.
//!
//! Each round runs both targets once with the same load, the order alternating (baseline first,
//! then candidate first, ...) so that a slow drift of the machine or the targets falls on both
//! sides. For each latency percentile, a round's overhead is candidate minus baseline. Reported:
//! - the median of the rounds' overheads (absolute and relative), and their range;
//! - the noise: the baseline's own round-to-round spread (median absolute deviation of its
//!   percentile over the rounds): an overhead smaller than that is not resolved by this run;
//! - `consistent`: every round agrees on the sign of the overhead (a sign test: with n rounds
//!   the chance of that without a real difference is 2 x 0.5^n, 3% for 6 rounds).
//!
//! The JSON also holds each target's merged result (whole histograms, as `run` writes) and every
//! round's percentiles, so nothing has to be re-measured to look closer.

use std::path::PathBuf;

use clap::Args;
use ringload_engine::Stats;
use serde::Serialize;

use crate::error::{CliError, EXIT_INVALID_RUN, EXIT_OK, EXIT_THRESHOLD};
use crate::report::{Percentiles, Report};
use crate::run::{LoadArgs, check_connected, engine_run};

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Plan file to replay against both targets.
    pub plan: PathBuf,
    /// The target without the component under test (e.g. the service directly).
    #[arg(long, value_name = "URL")]
    pub baseline: String,
    /// The target with it (e.g. through the sidecar or the gateway).
    #[arg(long, value_name = "URL")]
    pub candidate: String,
    /// Rounds; each runs both targets once, for the duration (or request count) given, the
    /// order alternating. At least 2; 6 or more make the sign test meaningful.
    #[arg(long, default_value_t = 6)]
    pub rounds: u32,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub replay: crate::replay::ReplayArgs,
    /// Fail (exit 3) when the median overhead of a percentile is above a limit:
    /// `p99-overhead>2ms`, `p50-overhead>10%`; repeatable.
    #[arg(long = "fail-on", value_name = "GATE")]
    pub fail_on: Vec<String>,
    /// Write the comparison (JSON, with both targets' whole histograms) here.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write an HTML report (self-contained, charts inline) here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// The percentiles compared, with their JSON names.
const PERCENTILES: [(&str, f64); 5] = [
    ("p50", 0.5),
    ("p90", 0.9),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p999", 0.999),
];

/// Fewest rounds for the sign test: all of 6 rounds on one side by chance is 2 x 0.5^6 = 3%.
const SIGN_TEST_ROUNDS: usize = 6;

/// Which side runs first in round `r`.
fn baseline_first(round: u32) -> bool {
    round.is_multiple_of(2)
}

#[derive(Debug, Serialize)]
pub struct Overhead {
    pub percentile: &'static str,
    /// The percentile of each side's merged histogram (all rounds), microseconds.
    pub baseline_us: u64,
    pub candidate_us: u64,
    /// Median over rounds of (candidate - baseline), microseconds.
    pub overhead_us: f64,
    /// Median over rounds of (candidate / baseline - 1), percent.
    pub overhead_pct: f64,
    /// Smallest and largest round overhead, microseconds.
    pub range_us: [f64; 2],
    /// Median absolute deviation of the baseline's percentile over the rounds, microseconds.
    pub baseline_noise_us: f64,
    /// Every round agrees on the sign of the overhead, over at least 6 rounds.
    pub consistent: bool,
}

#[derive(Debug, Serialize)]
pub struct Round {
    pub round: u32,
    pub baseline_first: bool,
    pub baseline: Percentiles,
    pub candidate: Percentiles,
    pub baseline_rps: f64,
    pub candidate_rps: f64,
}

#[derive(Debug, Serialize)]
pub struct Comparison {
    pub format: &'static str,
    pub tool_version: &'static str,
    pub plan: String,
    /// Rounds asked for; `per_round` holds those completed (fewer when interrupted).
    pub rounds: u32,
    pub valid: bool,
    pub invalid_reason: Option<String>,
    /// Stopped by SIGINT/SIGTERM: the rounds completed so far are reported.
    pub interrupted: bool,
    pub overhead: Vec<Overhead>,
    pub per_round: Vec<Round>,
    /// Each side's result over all rounds, in `run`'s format.
    pub baseline: Report,
    pub candidate: Report,
}

/// `--fail-on PNN-overhead>LIMIT`, LIMIT a duration or a percentage.
#[derive(Debug, Clone, PartialEq)]
struct OverheadGate {
    text: String,
    percentile: &'static str,
    limit: Limit,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Limit {
    Micros(f64),
    Percent(f64),
}

impl std::str::FromStr for OverheadGate {
    type Err = CliError;
    fn from_str(s: &str) -> Result<Self, CliError> {
        let bad = |why: &str| CliError::BadInput(format!("--fail-on {s:?}: {why}"));
        let (name, value) = s
            .split_once('>')
            .ok_or_else(|| bad("expected PNN-overhead>LIMIT, e.g. p99-overhead>2ms"))?;
        let p = name
            .trim()
            .strip_suffix("-overhead")
            .ok_or_else(|| bad(
                "the metric must be p50-overhead, p90-overhead, p95-overhead, p99-overhead or p999-overhead",
            ))?;
        let percentile = PERCENTILES
            .iter()
            .map(|(k, _)| *k)
            .find(|k| *k == p)
            .ok_or_else(|| bad("the percentile must be p50, p90, p95, p99 or p999"))?;
        let value = value.trim();
        let limit = match value.strip_suffix('%') {
            Some(pct) => Limit::Percent(
                pct.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| bad("a percentage such as 10%"))?,
            ),
            None => Limit::Micros(
                humantime::parse_duration(value)
                    .map_err(|_| bad("the limit must be a duration (2ms) or a percentage (10%)"))?
                    .as_secs_f64()
                    * 1e6,
            ),
        };
        Ok(OverheadGate {
            text: s.to_string(),
            percentile,
            limit,
        })
    }
}

impl OverheadGate {
    /// `Some(description)` when the gate fails.
    fn failure(&self, overhead: &[Overhead]) -> Option<String> {
        let o = overhead.iter().find(|o| o.percentile == self.percentile)?;
        let (measured, limit, shown) = match self.limit {
            Limit::Micros(l) => (o.overhead_us, l, format!("{:+.3} ms", o.overhead_us / 1e3)),
            Limit::Percent(l) => (o.overhead_pct, l, format!("{:+.1}%", o.overhead_pct)),
        };
        (measured > limit).then(|| format!("{} (measured {shown})", self.text))
    }
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn quantile(h: &hdrhistogram::Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64
    }
}

/// The overhead per percentile from each round's (baseline, candidate) results.
pub fn overheads(rounds: &[(Stats, Stats)], merged: (&Stats, &Stats)) -> Vec<Overhead> {
    PERCENTILES
        .iter()
        .map(|&(name, q)| {
            let mut diffs = Vec::with_capacity(rounds.len());
            let mut rel = Vec::with_capacity(rounds.len());
            let mut base = Vec::with_capacity(rounds.len());
            for (b, c) in rounds {
                let (bv, cv) = (quantile(&b.latency, q), quantile(&c.latency, q));
                diffs.push(cv - bv);
                if bv > 0.0 {
                    rel.push(100.0 * (cv / bv - 1.0));
                }
                base.push(bv);
            }
            let lo = diffs.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = diffs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let consistent = diffs.len() >= SIGN_TEST_ROUNDS && (lo > 0.0 || hi < 0.0);
            let base_median = median(&mut base.clone());
            let mut dev: Vec<f64> = base.iter().map(|v| (v - base_median).abs()).collect();
            Overhead {
                percentile: name,
                baseline_us: quantile(&merged.0.latency, q) as u64,
                candidate_us: quantile(&merged.1.latency, q) as u64,
                overhead_us: median(&mut diffs),
                overhead_pct: (median(&mut rel) * 10.0).round() / 10.0,
                range_us: if diffs.is_empty() { [0.0; 2] } else { [lo, hi] },
                baseline_noise_us: median(&mut dev),
                consistent,
            }
        })
        .collect()
}

/// Merge one side's rounds; run time adds up (rounds are sequential), per-second windows are
/// dropped (they would overlay different rounds).
fn merge(side: impl Iterator<Item = Stats>, keys: usize) -> Stats {
    let mut m = Stats::new(keys);
    let (mut elapsed, mut window) = (0.0, 0.0);
    for s in side {
        m += &s;
        elapsed += s.elapsed_s;
        window += s.send_window_s;
    }
    m.elapsed_s = elapsed;
    m.send_window_s = window;
    m.windows.clear();
    m
}

pub fn execute(args: &CompareArgs) -> Result<u8, CliError> {
    if !(2..=1000).contains(&args.rounds) {
        return Err(CliError::BadInput(format!(
            "--rounds {}: between 2 and 1000",
            args.rounds
        )));
    }
    crate::out::check_outputs([
        ("--output", args.output.as_deref()),
        ("--html", args.html.as_deref()),
    ])?;
    let gates: Vec<OverheadGate> = args
        .fail_on
        .iter()
        .map(|g| g.parse())
        .collect::<Result<_, _>>()?;
    let plan = crate::plan_io::load(&args.plan)?;
    let replay = args.replay.replay(&plan, &args.plan)?;
    let mut base_cfg = args
        .load
        .config("--baseline", &args.baseline, &args.plan, &plan)?;
    let mut cand_cfg = args
        .load
        .config("--candidate", &args.candidate, &args.plan, &plan)?;
    base_cfg.replay = replay.clone();
    cand_cfg.replay = replay;
    let interrupt = crate::lifecycle::Interrupt::install()?;
    for cfg in [&mut base_cfg, &mut cand_cfg] {
        cfg.interrupt = Some(interrupt.flag());
    }
    let Some(comparison) = compare_rounds(
        &plan,
        &args.plan,
        (&mut base_cfg, &args.baseline),
        (&mut cand_cfg, &args.candidate),
        args.rounds,
        args.load.quiet,
    )?
    else {
        return match interrupt.exit_code() {
            Some(code) => {
                crate::out::emit(
                    "compare: interrupted before a round completed; nothing to report\n",
                )?;
                Ok(code)
            }
            None => Err(CliError::Runtime("no round completed".into())),
        };
    };
    let invalid = comparison.invalid_reason.clone();
    crate::out::emit(&render_text(&comparison))?;
    if let Some(out) = &args.output {
        let text =
            serde_json::to_vec_pretty(&comparison).map_err(|e| CliError::Runtime(e.to_string()))?;
        crate::run::write_file(out, &text)?;
    }
    if let Some(out) = &args.html {
        crate::run::write_file(out, crate::html::compare_page(&comparison).as_bytes())?;
    }
    if let Some(code) = interrupt.exit_code() {
        return Ok(code);
    }
    if invalid.is_some() {
        return Ok(EXIT_INVALID_RUN);
    }
    let mut failed = false;
    for g in &gates {
        if let Some(why) = g.failure(&comparison.overhead) {
            crate::out::emit(&format!("THRESHOLD FAILED: {why}\n"))?;
            failed = true;
        }
    }
    Ok(if failed { EXIT_THRESHOLD } else { EXIT_OK })
}

/// Runs `rounds_asked` rounds of `plan` (read from `plan_file`) against both sides, each a
/// config and the URL it was given, the order alternating, and compares them. `None` when no
/// round completed (interrupted through the configs' `interrupt` flag). Shared by `compare`
/// and `demo`.
pub fn compare_rounds(
    plan: &ringload_formats::Plan,
    plan_file: &std::path::Path,
    (base_cfg, baseline): (&mut ringload_engine::RunConfig, &str),
    (cand_cfg, candidate): (&mut ringload_engine::RunConfig, &str),
    rounds_asked: u32,
    quiet: bool,
) -> Result<Option<Comparison>, CliError> {
    let mut rounds: Vec<(Stats, Stats)> = Vec::with_capacity(rounds_asked as usize);
    let mut invalid = None;
    let interrupted = || {
        base_cfg
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed))
    };
    for r in 0..rounds_asked {
        if interrupted() {
            break;
        }
        let live = std::sync::Arc::new(ringload_engine::live::Live::new(base_cfg.cpus.len()));
        base_cfg.live = Some(live.clone());
        cand_cfg.live = Some(live.clone());
        let _progress = crate::lifecycle::ProgressLine::start(
            live,
            crate::run::extent(base_cfg),
            format!("round {}/{}", r + 1, rounds_asked),
            quiet,
        );
        let mut one = |cfg: &ringload_engine::RunConfig, url: &str| {
            let s = engine_run(plan, plan_file, cfg)?;
            check_connected(&s, url, cfg)?;
            if let Err(why) = ringload_engine::check_validity(&s, cfg) {
                invalid.get_or_insert(format!("round {} against {url}: {why}", r + 1));
            } else if s.latency.is_empty() {
                // Timeouts, resets and connect errors leave no latency: comparing percentiles
                // against nothing would show the broken side as the faster one.
                invalid.get_or_insert(format!(
                    "round {} against {url}: no request was answered ({} failed, {} timed out)",
                    r + 1,
                    s.counts.failed(),
                    s.counts.timed_out
                ));
            }
            Ok::<_, CliError>(s)
        };
        let (b, c) = if baseline_first(r) {
            let b = one(base_cfg, baseline)?;
            (b, one(cand_cfg, candidate)?)
        } else {
            let c = one(cand_cfg, candidate)?;
            (one(base_cfg, baseline)?, c)
        };
        // A round cut short by a signal is not compared: both sides must cover the same load.
        if b.interrupted || c.interrupted {
            break;
        }
        rounds.push((b, c));
    }
    if rounds.is_empty() {
        return Ok(None);
    }
    let keys = rounds[0].0.keys.len();
    let merged_b = merge(rounds.iter().map(|r| r.0.clone()), keys);
    let merged_c = merge(rounds.iter().map(|r| r.1.clone()), keys);
    let validity = invalid.clone().map_or(Ok(()), Err);
    let plan_name = plan_file.display().to_string();
    let names = crate::report::Names::of(plan);
    let report = |s: &Stats, cfg, url: &str| {
        crate::report::build(s, cfg, &names, &plan_name, url, &validity)
    };
    let comparison = Comparison {
        format: "ringload-compare/1",
        tool_version: env!("CARGO_PKG_VERSION"),
        plan: plan_name.clone(),
        rounds: rounds_asked,
        valid: invalid.is_none(),
        invalid_reason: invalid.clone(),
        interrupted: interrupted(),
        overhead: overheads(&rounds, (&merged_b, &merged_c)),
        per_round: rounds
            .iter()
            .enumerate()
            .map(|(i, (b, c))| Round {
                round: i as u32 + 1,
                baseline_first: baseline_first(i as u32),
                baseline: Percentiles::of(&b.latency),
                candidate: Percentiles::of(&c.latency),
                baseline_rps: rps(b),
                candidate_rps: rps(c),
            })
            .collect(),
        baseline: report(&merged_b, base_cfg, baseline),
        candidate: report(&merged_c, cand_cfg, candidate),
    };
    Ok(Some(comparison))
}

/// Completed requests per second, as `run` reports it.
fn rps(s: &Stats) -> f64 {
    crate::report::per_second(s.counts.completed(), s.elapsed_s)
}

fn ms(us: f64) -> String {
    format!("{:.2} ms", us / 1e3)
}

pub fn render_text(c: &Comparison) -> String {
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
            ms(o.baseline_us as f64),
            ms(o.candidate_us as f64),
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
            ms(o.baseline_noise_us),
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats_with(values_us: &[u64]) -> Stats {
        let mut s = Stats::new(1);
        for &v in values_us {
            s.sent(0, 0);
            s.answered(0, 0, 200, true, v, v);
        }
        s
    }

    #[test]
    fn overhead_is_the_median_of_round_differences() {
        // Six rounds: the candidate is 100 to 300 us slower at every percentile.
        let rounds: Vec<(Stats, Stats)> = [100u64, 300, 200, 200, 250, 150]
            .iter()
            .map(|&d| (stats_with(&[1000; 10]), stats_with(&[1000 + d; 10])))
            .collect();
        let mb = merge(rounds.iter().map(|r| r.0.clone()), 1);
        let mc = merge(rounds.iter().map(|r| r.1.clone()), 1);
        let o = overheads(&rounds, (&mb, &mc));
        let p50 = &o[0];
        assert_eq!(p50.percentile, "p50");
        assert!((p50.overhead_us - 200.0).abs() < 2.0, "{p50:?}");
        assert!((p50.overhead_pct - 20.0).abs() < 0.3, "{p50:?}");
        assert!(
            !overheads(&rounds[..5], (&mb, &mc))[0].consistent,
            "5 rounds: no sign test"
        );
        assert!((p50.range_us[0] - 100.0).abs() < 2.0 && (p50.range_us[1] - 300.0).abs() < 2.0);
        assert!(p50.consistent);
        assert_eq!(p50.baseline_noise_us, 0.0);
        assert_eq!(mb.counts.requests, 60);
    }

    #[test]
    fn rounds_that_disagree_are_not_consistent() {
        // Five rounds slower, one faster.
        let rounds: Vec<(Stats, Stats)> = [1100u64, 1100, 900, 1100, 1100, 1100]
            .iter()
            .map(|&c| (stats_with(&[1000; 5]), stats_with(&[c; 5])))
            .collect();
        let mb = merge(rounds.iter().map(|r| r.0.clone()), 1);
        let mc = merge(rounds.iter().map(|r| r.1.clone()), 1);
        assert!(!overheads(&rounds, (&mb, &mc))[0].consistent);
    }

    #[test]
    fn gates_parse_and_fail_on_the_median() {
        let g: OverheadGate = "p99-overhead>2ms".parse().unwrap();
        assert_eq!(g.limit, Limit::Micros(2000.0));
        let g2: OverheadGate = "p50-overhead > 10%".parse().unwrap();
        assert_eq!(g2.limit, Limit::Percent(10.0));
        for bad in [
            "p99>2ms",
            "p98-overhead>2ms",
            "p99-overhead>fast",
            "p99-overhead<2ms",
        ] {
            assert!(bad.parse::<OverheadGate>().is_err(), "{bad}");
        }
        let o = |p, us, pct| Overhead {
            percentile: p,
            baseline_us: 0,
            candidate_us: 0,
            overhead_us: us,
            overhead_pct: pct,
            range_us: [0.0; 2],
            baseline_noise_us: 0.0,
            consistent: true,
        };
        assert!(g.failure(&[o("p99", 2500.0, 5.0)]).is_some());
        assert!(g.failure(&[o("p99", 1500.0, 50.0)]).is_none());
        assert!(g2.failure(&[o("p50", 1.0, 12.0)]).is_some());
    }
}
