//! The stall schedule: every `every` (counted from server start) the whole server stops
//! answering for `length`. Responses that come due inside a window are held until it
//! ends, which is exactly the situation that exposes coordinated omission in a client.
//!
//! Pure arithmetic on instants passed in by the caller.

use std::time::{Duration, Instant};

/// Stall windows are `[start + k*every, start + k*every + length)` for `k >= 1`.
#[derive(Debug, Clone, Copy)]
pub struct StallSchedule {
    start: Instant,
    every: Duration,
    length: Duration,
}

impl StallSchedule {
    /// `None` disables stalls; callers validate `0 < length < every` beforehand.
    pub fn new(start: Instant, every: Option<Duration>, length: Duration) -> Option<StallSchedule> {
        let every = every.filter(|e| !e.is_zero() && !length.is_zero())?;
        Some(StallSchedule {
            start,
            every,
            length,
        })
    }

    /// If `now` falls inside a stall window, the instant that window ends.
    pub fn stalled_until(&self, now: Instant) -> Option<Instant> {
        let elapsed = now.checked_duration_since(self.start)?;
        let every = self.every.as_nanos();
        let k = elapsed.as_nanos() / every;
        let into = elapsed.as_nanos() % every;
        if k == 0 || into >= self.length.as_nanos() {
            return None;
        }
        let window_start = self.start + Duration::from_nanos((k * every) as u64);
        Some(window_start + self.length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_start_after_first_period() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let s = StallSchedule::new(t0, Some(ms(300)), ms(150)).unwrap();
        assert_eq!(s.stalled_until(t0), None);
        assert_eq!(s.stalled_until(t0 + ms(299)), None);
        assert_eq!(s.stalled_until(t0 + ms(300)), Some(t0 + ms(450)));
        assert_eq!(s.stalled_until(t0 + ms(449)), Some(t0 + ms(450)));
        assert_eq!(s.stalled_until(t0 + ms(450)), None);
        assert_eq!(s.stalled_until(t0 + ms(610)), Some(t0 + ms(750)));
        assert!(StallSchedule::new(t0, None, ms(1)).is_none());
        assert!(StallSchedule::new(t0, Some(ms(1)), Duration::ZERO).is_none());
    }
}
