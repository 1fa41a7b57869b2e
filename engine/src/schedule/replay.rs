//! Replay: each step at its captured offset divided by the speed, on a clock every shard shares
//! ([`PlanTiming`]: the plan's first offset and repeat period, computed once for the whole plan);
//! a replay far behind skips whole periods at once.

use super::{Pace, Schedule};

/// The whole plan's captured timing, for replay: every shard uses the same origin and period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanTiming {
    /// Offset of the plan's first step, microseconds.
    pub first_us: u64,
    /// After how long the plan starts again: its span plus one mean gap, microseconds.
    pub period_us: u64,
}

impl PlanTiming {
    /// `None` when the plan has no timing to replay (every step at the same offset).
    pub fn of(offsets_us: &[u64]) -> Option<PlanTiming> {
        let first = *offsets_us.iter().min()?;
        let last = *offsets_us.iter().max()?;
        let span = last - first;
        if span == 0 {
            return None;
        }
        let gap = (span / (offsets_us.len() as u64 - 1)).max(1);
        Some(PlanTiming {
            first_us: first,
            period_us: span.saturating_add(gap),
        })
    }
}

impl Schedule {
    pub(super) fn replay_time(&self, cursor: usize) -> u64 {
        match &self.pace {
            Pace::Replay {
                speed,
                base_ns,
                timing,
            } => {
                let off = self.steps.offsets_us.get(cursor).copied().unwrap_or(0);
                let rel_us = off.saturating_sub(timing.first_us);
                base_ns.saturating_add((rel_us as f64 * 1000.0 / speed) as u64)
            }
            _ => 0,
        }
    }

    /// [`Schedule::skip_due`] for replay: whole periods of the plan at once, then step by step
    /// (at most one period's steps, and those of the period the warm-up ends in).
    pub(super) fn skip_replay(&mut self, last: u64) -> u64 {
        let len = self.steps.requests.len() as u64;
        let mf = self.measure_from_ns;
        let mut measured = 0;
        while !self.finished(last) && self.next_ns <= last {
            let Pace::Replay {
                speed,
                base_ns,
                timing,
            } = &mut self.pace
            else {
                break;
            };
            let period = (timing.period_us as f64 * 1000.0 / *speed) as u64;
            if self.cursor == 0 && period > 0 {
                // Periods entirely before the warm-up ends (none measured), or entirely after.
                let before = self.next_ns < mf;
                let until = if before { mf - 1 } else { last }.min(last);
                let mut m = until.saturating_sub(self.next_ns) / period;
                if !before && let Some(b) = self.budget {
                    m = m.min(b.saturating_sub(self.measured) / len);
                }
                if m > 0 {
                    self.laps = self.laps.wrapping_add(m as u32);
                    *base_ns = base_ns.saturating_add(m * period);
                    self.next_ns = self.next_ns.saturating_add(m * period);
                    if !before {
                        measured += m.saturating_mul(len);
                        self.measured = self.measured.saturating_add(m.saturating_mul(len));
                    }
                    continue;
                }
            }
            match self.next(last) {
                Some(d) if d.measured => measured += 1,
                Some(_) => {}
                None => break,
            }
        }
        measured
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LoadModel;
    use crate::schedule::fixtures::{cfg, drain, release_all, steps};
    use crate::schedule::{ScheduleConfig, Steps};

    #[test]
    fn replay_follows_offsets_divided_by_speed() {
        let model = LoadModel::Replay { speed: 2.0 };
        let st = steps(4);
        let c = ScheduleConfig {
            timing: PlanTiming::of(&st.offsets_us).unwrap(),
            ..cfg(1.0, 0, 10_000_000, None, 1)
        };
        let mut s = Schedule::new(&model, st, &c);
        let got = drain(&mut s, 5_000_000, 10_000);
        let times: Vec<u64> = got.iter().map(|g| g.1).take(6).collect();
        // Offsets 0,1,2,3 ms at speed 2 -> 0, .5, 1, 1.5 ms; then the plan repeats after its span.
        assert_eq!(&times[..4], &[0, 500_000, 1_000_000, 1_500_000]);
        assert!(times[4] > times[3]);
    }

    #[test]
    fn replay_shards_share_one_clock() {
        // Plan at 0, 1, 2, 3 s dealt to two shards: 0 and 2 s on one, 1 and 3 s on the other.
        let all: Vec<u64> = vec![0, 1_000_000, 2_000_000, 3_000_000];
        let timing = PlanTiming::of(&all).unwrap();
        assert_eq!(
            timing,
            PlanTiming {
                first_us: 0,
                period_us: 4_000_000
            }
        );
        let model = LoadModel::Replay { speed: 1.0 };
        let shard = |offs: Vec<u64>| {
            let st = Steps {
                requests: vec![0u32; offs.len()].into(),
                sessions: vec![0u32; offs.len()].into(),
                offsets_us: offs.into(),
                ..Steps::default()
            };
            let c = ScheduleConfig {
                timing,
                ..cfg(0.5, 0, 8_000_000_000, None, 1)
            };
            let mut s = Schedule::new(&model, st, &c);
            drain(&mut s, 8_000_000_000, 1_000_000)
                .iter()
                .map(|g| g.1 / 1_000_000)
                .collect::<Vec<_>>()
        };
        assert_eq!(shard(vec![0, 2_000_000]), vec![0, 2000, 4000, 6000]);
        assert_eq!(
            shard(vec![1_000_000, 3_000_000]),
            vec![1000, 3000, 5000, 7000]
        );
        assert_eq!(PlanTiming::of(&[5, 5, 5]), None, "no timing to replay");
    }

    #[test]
    fn skipping_replay_equals_releasing_it_one_by_one() {
        let st = steps(5);
        let timing = PlanTiming::of(&st.offsets_us).unwrap();
        for budget in [None, Some(23)] {
            let c = ScheduleConfig {
                timing,
                ..cfg(1.0, 7_000_000, 400_000_000, budget, 1)
            };
            let mut a = Schedule::new(&LoadModel::Replay { speed: 3.0 }, st.clone(), &c);
            let mut b = a.clone();
            for now in [0, 1_000_000, 6_999_999, 7_000_000, 95_000_000, 500_000_000] {
                assert_eq!(
                    a.skip_due(now),
                    release_all(&mut b, now),
                    "at {now} ({budget:?})"
                );
                assert_eq!(a.next_due_at(), b.next_due_at(), "at {now} ({budget:?})");
                assert_eq!((a.cursor, a.measured), (b.cursor, b.measured));
                assert_eq!(a.laps, b.laps, "at {now} ({budget:?})");
            }
        }
    }
}
