//! Interleaved rounds of one plan against a baseline and a candidate (shared by `compare` and
//! `demo`): each round runs both sides once, the order alternating, and the rounds completed
//! become a [`Comparison`] (overhead per percentile with its noise, both sides' merged results).

use ringload_engine::{RunConfig, Stats};
use ringload_results::Names;
use ringload_results::compare::{
    COMPARE_FORMAT, Comparison, Round, baseline_first, merge_rounds, overheads, rps,
};
use ringload_results::model::Percentiles;

use crate::error::CliError;
use crate::launch::{check_connected, engine_run, extent};

/// Run `rounds_asked` rounds of `plan` (read from `plan_file`) against both sides, each a
/// config and the URL it was given, and compare them. `None` when no round completed
/// (interrupted through the configs' `interrupt` flag).
pub fn compare_rounds(
    plan: &ringload_formats::Plan,
    plan_file: &std::path::Path,
    (base_cfg, baseline): (&mut RunConfig, &str),
    (cand_cfg, candidate): (&mut RunConfig, &str),
    rounds_asked: u32,
    quiet: bool,
) -> Result<Option<Comparison>, CliError> {
    let mut rounds: Vec<(Stats, Stats)> = Vec::with_capacity(rounds_asked as usize);
    let mut invalid = None;
    let interrupted = |cfg: &RunConfig| {
        cfg.interrupt
            .as_ref()
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed))
    };
    for r in 0..rounds_asked {
        if interrupted(base_cfg) {
            break;
        }
        let live = std::sync::Arc::new(ringload_engine::live::Live::new(base_cfg.cpus.len()));
        base_cfg.live = Some(live.clone());
        cand_cfg.live = Some(live.clone());
        let _progress = crate::lifecycle::ProgressLine::start(
            live,
            extent(base_cfg),
            format!("round {}/{}", r + 1, rounds_asked),
            quiet,
        );
        let mut one = |cfg: &RunConfig, url: &str| {
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
    let merged_b = merge_rounds(rounds.iter().map(|r| r.0.clone()), keys);
    let merged_c = merge_rounds(rounds.iter().map(|r| r.1.clone()), keys);
    let validity = invalid.clone().map_or(Ok(()), Err);
    let plan_name = plan_file.display().to_string();
    let names = Names::of(plan);
    let report = |s: &Stats, cfg, url: &str| {
        ringload_results::build(s, cfg, &names, &plan_name, url, &validity)
    };
    Ok(Some(Comparison {
        format: COMPARE_FORMAT.to_string(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        plan: plan_name.clone(),
        rounds: rounds_asked,
        valid: invalid.is_none(),
        invalid_reason: invalid.clone(),
        interrupted: interrupted(base_cfg),
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
    }))
}
