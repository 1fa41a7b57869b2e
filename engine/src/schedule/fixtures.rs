//! Configs, steps and drains shared by the tests of the child modules.

use std::time::Duration;

use super::{PlanTiming, Schedule, ScheduleConfig, Steps};
use crate::config::{Arrival, LoadModel, Stage};

pub(super) fn cfg(
    share: f64,
    measure_from_ns: u64,
    end_ns: u64,
    budget: Option<u64>,
    seed: u64,
) -> ScheduleConfig {
    ScheduleConfig {
        share,
        measure_from_ns,
        end_ns,
        budget,
        seed,
        timing: PlanTiming::default(),
    }
}

/// Uniform arrivals in stages of (seconds, level in requests/s).
pub(super) fn stages(list: &[(u64, f64)]) -> LoadModel {
    LoadModel::Stages {
        stages: list
            .iter()
            .map(|&(secs, level)| Stage {
                duration: Duration::from_secs(secs),
                level,
            })
            .collect(),
        arrival: Arrival::Uniform,
    }
}

pub(super) fn steps(n: u32) -> Steps {
    Steps {
        requests: (0..n).collect::<Vec<_>>().into(),
        sessions: vec![0; n as usize].into(),
        offsets_us: (0..n as u64).map(|i| i * 1000).collect::<Vec<_>>().into(),
        ..Steps::default()
    }
}

pub(super) fn drain(s: &mut Schedule, until_ns: u64, step_ns: u64) -> Vec<(u32, u64, bool)> {
    let mut out = vec![];
    let mut now = 0;
    while now <= until_ns {
        while let Some(d) = s.next(now) {
            out.push((d.req, d.intended, d.measured));
        }
        now += step_ns;
    }
    out
}

/// Release everything due at `now` one by one: how many were measured.
pub(super) fn release_all(s: &mut Schedule, now: u64) -> u64 {
    let mut measured = 0;
    while let Some(d) = s.next(now) {
        measured += u64::from(d.measured);
    }
    measured
}
