//! The first pass: each file's kind, start, duration and window width (`HeadIn`), checked,
//! and how the workers line up in time (`Timeline`): the seconds to shift each file's
//! windows by, and why the merged result is invalid when the workers did not run together.

use serde::Deserialize;

use super::budget::{EARLIEST_START_MS, LATEST_START_MS, MAX_DURATION_S, MAX_WINDOW_S};
use crate::ResultsError;
use crate::model::FORMAT;

fn one_second() -> u32 {
    1
}

/// What the first pass reads of a file: its kind, start, duration and window width.
#[derive(Debug, Deserialize)]
pub(super) struct HeadIn {
    format: String,
    run: HeadRunIn,
    summary: HeadSummary,
    #[serde(default = "one_second")]
    pub(super) window_s: u32,
}

#[derive(Debug, Deserialize)]
struct HeadRunIn {
    #[serde(default)]
    started_at_unix_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct HeadSummary {
    duration_s: f64,
}

/// How the files line up in time, from their starts and durations (first pass).
pub(super) struct Timeline {
    /// Seconds to add to each file's windows.
    pub(super) shifts: Vec<usize>,
    pub(super) first_start: Option<u64>,
    /// Why the merged result is invalid (workers that did not run together), if it is.
    pub(super) invalid: Option<String>,
}

pub(super) fn timeline(heads: &[(String, HeadIn)]) -> Result<Timeline, ResultsError> {
    for (name, h) in heads {
        let bad = |why: String| ResultsError::Invalid(format!("{name}: {why}"));
        if h.format != FORMAT {
            return Err(bad(format!(
                "format: {:?} is not a ringload run result ({FORMAT})",
                h.format
            )));
        }
        let d = h.summary.duration_s;
        if !(d.is_finite() && (0.0..=MAX_DURATION_S).contains(&d)) {
            return Err(bad(format!(
                "summary.duration_s: {d} is not a duration from 0 to {MAX_DURATION_S} s"
            )));
        }
        if !h.window_s.is_power_of_two() || h.window_s > MAX_WINDOW_S {
            return Err(bad(format!(
                "window_s: {} is not a power of two up to {MAX_WINDOW_S}",
                h.window_s
            )));
        }
        if let Some(s) = h.run.started_at_unix_ms
            && !(EARLIEST_START_MS..=LATEST_START_MS).contains(&s)
        {
            return Err(bad(format!(
                "run.started_at_unix_ms: {s} is not a time a run took place (Unix \
                 milliseconds between 2020 and 2100)"
            )));
        }
    }
    let starts: Option<Vec<u64>> = heads.iter().map(|h| h.1.run.started_at_unix_ms).collect();
    let Some(starts) = starts else {
        return Ok(Timeline {
            shifts: vec![0; heads.len()],
            first_start: None,
            invalid: None,
        });
    };
    let first = starts.iter().min().copied().unwrap_or(0);
    let ends: Vec<u64> = heads
        .iter()
        .zip(&starts)
        .map(|(h, s)| s + (h.1.summary.duration_s * 1000.0) as u64)
        .collect();
    let latest_start = starts.iter().max().copied().unwrap_or(0);
    let earliest_end = ends.iter().min().copied().unwrap_or(0);
    if latest_start >= earliest_end {
        // Their windows would not line up into one run: keep them as they are.
        return Ok(Timeline {
            shifts: vec![0; heads.len()],
            first_start: Some(first),
            invalid: Some(format!(
                "the workers did not run at the same time (one started {:.1} s after another \
                 ended): their rates do not add up",
                (latest_start - earliest_end) as f64 / 1e3
            )),
        });
    }
    Ok(Timeline {
        shifts: starts
            .iter()
            .map(|s| ((s - first + 500) / 1000) as usize)
            .collect(),
        first_start: Some(first),
        invalid: None,
    })
}
