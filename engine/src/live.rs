//! Live figures of a run in progress, for a progress line: each executor publishes, once per
//! second of run time, its running totals and the latency histogram of the second that just
//! ended into its own slot; a reporter thread reads the slots whenever it likes. Publishing is
//! off the per-request path (one short lock per executor per second), and reading never blocks
//! an executor for longer than a copy.

use std::sync::Mutex;
use std::time::Instant;

use hdrhistogram::Histogram;

use crate::stats::{Counts, Stats, new_window_histogram};

/// What one executor published last.
#[derive(Debug, Clone)]
struct Published {
    counts: Counts,
    connect_errors: u64,
    /// Latency of the last complete second (from the intended send time), microseconds.
    last_second: Histogram<u64>,
    /// Index of that second (from the start of measurement); `None` before the first.
    second: Option<u64>,
    /// 99th percentile of the send lag so far (open loop), microseconds.
    lag_p99_us: u64,
}

/// Shared between the executors (writers) and a reporter (reader).
#[derive(Debug)]
pub struct Live {
    slots: Vec<Mutex<Published>>,
    /// When measurement starts (set when the executors are released).
    start: Mutex<Option<Instant>>,
}

/// The executors' figures added up.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Seconds since measurement started (`None`: not started yet, connecting or warming up).
    pub elapsed_s: Option<f64>,
    pub counts: Counts,
    pub connect_errors: u64,
    /// Requests completed in the last complete second, and its latency percentiles (us).
    pub last_second_done: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub lag_p99_us: u64,
}

impl Live {
    /// Slots for `executors` executors.
    pub fn new(executors: usize) -> Live {
        Live {
            slots: (0..executors)
                .map(|_| {
                    Mutex::new(Published {
                        counts: Counts::default(),
                        connect_errors: 0,
                        last_second: new_window_histogram(),
                        second: None,
                        lag_p99_us: 0,
                    })
                })
                .collect(),
            start: Mutex::new(None),
        }
    }

    pub(crate) fn executors(&self) -> usize {
        self.slots.len()
    }

    /// Measurement starts at `t` (the runtime calls this when the executors are released).
    pub(crate) fn started(&self, t: Instant) {
        *self.start.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
    }

    /// Executor `i` publishes its totals and second `second`'s latencies.
    pub(crate) fn publish(&self, i: usize, stats: &Stats, second: u64) {
        let Some(slot) = self.slots.get(i) else {
            return;
        };
        let window = stats.window_of(second as usize);
        let lag = if stats.lag.is_empty() {
            0
        } else {
            stats.lag.value_at_quantile(0.99)
        };
        let mut p = slot.lock().unwrap_or_else(|e| e.into_inner());
        p.counts = stats.counts;
        p.connect_errors = stats.connect_errors;
        p.last_second.reset();
        if let Some(w) = window {
            let _ = p.last_second.add(&w.latency);
        }
        p.second = Some(second);
        p.lag_p99_us = lag;
    }

    /// Everything published so far, added up.
    pub fn read(&self) -> Progress {
        let start = *self.start.lock().unwrap_or_else(|e| e.into_inner());
        let mut counts = Counts::default();
        let mut connect_errors = 0;
        let mut last = new_window_histogram();
        let mut lag = 0;
        for slot in &self.slots {
            let p = slot.lock().unwrap_or_else(|e| e.into_inner());
            counts += &p.counts;
            connect_errors += p.connect_errors;
            if p.second.is_some() {
                let _ = last.add(&p.last_second);
            }
            lag = lag.max(p.lag_p99_us);
        }
        let q = |x| {
            if last.is_empty() {
                0
            } else {
                last.value_at_quantile(x)
            }
        };
        Progress {
            elapsed_s: start.map(|t| t.elapsed().as_secs_f64()),
            counts,
            connect_errors,
            last_second_done: last.len(),
            p50_us: q(0.5),
            p99_us: q(0.99),
            lag_p99_us: lag,
        }
    }
}
