//! The run as a time series: one [`Window`] per second after warm-up, merged in pairs as a long
//! run goes on, so a day keeps at most [`MAX_WINDOWS`] small histograms.

use hdrhistogram::Histogram;

use super::counts::Counts;
use super::{MAX_LATENCY_US, Stats};

/// Most time windows kept (an hour at one second each); beyond, windows widen (see
/// `Stats::window`).
pub const MAX_WINDOWS: usize = 3600;

/// Significant digits of the per-second window histograms: 1 keeps each at ~3.7 KiB (464
/// counters; 2 digits would take ~26 KiB, 2 GiB per executor for a 24 h soak) while per-second
/// p50/p99 stay within ~6%. Whole-run figures use `new_histogram` (3 digits).
pub const WINDOW_DIGITS: u8 = 1;

/// A per-second window's latency histogram.
pub fn new_window_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, WINDOW_DIGITS).expect("static bounds are valid")
}

/// One second of the run (after warm-up), for time series.
#[derive(Debug, Clone)]
pub struct Window {
    pub counts: Counts,
    pub latency: Histogram<u64>,
    /// Failed connection attempts in this window (no request is charged for them).
    pub connect_errors: u64,
}

impl Stats {
    /// The window holding `second` of the run. Windows are `window_s` seconds wide: one second
    /// while the run is short; when more than [`MAX_WINDOWS`] would be needed, neighbouring
    /// windows are merged in pairs and the width doubles, so a day at any rate keeps at most
    /// `MAX_WINDOWS` small histograms (~13 MiB per executor) instead of one per second.
    #[inline]
    pub(super) fn window(&mut self, second: usize) -> &mut Window {
        let mut i = second / self.window_s as usize;
        while i >= MAX_WINDOWS {
            self.coarsen();
            i = second / self.window_s as usize;
        }
        while self.windows.len() <= i {
            self.windows.push(Window {
                counts: Counts::default(),
                latency: new_window_histogram(),
                connect_errors: 0,
            });
        }
        &mut self.windows[i]
    }

    /// Count a failed connection attempt, in the window of `second` when it happened while
    /// measuring.
    pub fn connect_failed(&mut self, second: Option<usize>) {
        self.connect_errors += 1;
        if let Some(s) = second {
            self.window(s).connect_errors += 1;
        }
    }

    /// Merge windows in pairs: twice as wide, half as many.
    fn coarsen(&mut self) {
        let old = std::mem::take(&mut self.windows);
        let mut it = old.into_iter();
        while let Some(mut a) = it.next() {
            if let Some(b) = it.next() {
                a.counts += &b.counts;
                a.latency.add(&b.latency).expect("same bounds");
                a.connect_errors += b.connect_errors;
            }
            self.windows.push(a);
        }
        self.window_s *= 2;
    }

    /// The window holding `second`, if it exists.
    pub fn window_of(&self, second: usize) -> Option<&Window> {
        self.windows.get(second / self.window_s as usize)
    }

    /// Make `self`'s windows at least `window_s` wide (to add windows of that width).
    pub(super) fn widen_to(&mut self, window_s: u32) {
        while self.window_s < window_s {
            self.coarsen();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_of_run_time_costs_a_few_kib() {
        let h = new_window_histogram();
        assert!(
            h.distinct_values() <= 512,
            "{} counters",
            h.distinct_values()
        );
        let mut h = h;
        h.record(6_500).unwrap();
        let p = h.value_at_quantile(0.99) as f64;
        assert!((p / 6_500.0 - 1.0).abs() < 0.07, "{p}");
    }

    /// A day of run time at 50,000 requests/s keeps a few MiB of windows, not one histogram per
    /// second (simulated: the windows a day of responses would fill, without running a day).
    #[test]
    fn a_day_of_windows_stays_within_its_budget() {
        let mut s = Stats::new(1);
        for second in 0..86_400usize {
            // A few latencies per second are enough to touch every window like real traffic.
            for lat in [180, 240, 900, 12_000] {
                s.answered(0, second, 200, true, lat, lat);
            }
        }
        assert!(
            s.windows.len() <= MAX_WINDOWS,
            "{} windows",
            s.windows.len()
        );
        assert_eq!(s.window_s, 32, "86,400 s in windows of 32 s");
        let bytes: usize = s
            .windows
            .iter()
            .map(|w| w.latency.distinct_values() * std::mem::size_of::<u64>() + 128)
            .sum();
        assert!(bytes < 64 << 20, "{bytes} bytes of windows");
        assert!(bytes < 16 << 20, "{bytes} bytes of windows");
        let total: u64 = s.windows.iter().map(|w| w.counts.ok).sum();
        assert_eq!(total, 86_400 * 4, "coarsening loses no response");
        // Merging a 1 s-window result into a coarse one widens it to match.
        let mut short = Stats::new(1);
        short.answered(0, 70, 200, true, 100, 100);
        let mut m = Stats::new(1);
        m += &s;
        m += &short;
        assert_eq!(m.window_s, 32);
        assert_eq!(
            m.windows[2].counts.ok,
            4 * 32 + 1,
            "second 70 is in window 64..96"
        );
    }
}
