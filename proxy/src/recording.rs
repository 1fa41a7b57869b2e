//! Where the exchanges of every connection meet: the capture-wide budgets and the request
//! limit, then a [`Capture`] for the recorder's normalisation.

use std::path::PathBuf;

use ringload_recorder::exchange::{BodyBudget, Capture, Exchange, Position};

/// Request body bytes a recording keeps in all; later requests with bodies are not recorded.
pub const REQUEST_BODY_BUDGET: usize = 256 << 20;
/// Exchanges a recording keeps at most (about half a KiB each): reaching it ends the recording
/// as `--max-requests` would.
pub const MAX_EXCHANGES: u64 = 1_000_000;

const SKIP_BODY_BUDGET: &str =
    "request body beyond the recording's 256 MiB budget for request bodies (not recorded)";

/// What became of an offered exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    /// Kept, or counted as skipped (over a budget).
    Taken,
    /// Kept, and it was the last one the limit allows: end the recording.
    LimitReached,
    /// The recording is full; not kept.
    Full,
}

#[derive(Debug)]
pub(crate) struct Recording {
    exchanges: Vec<Exchange>,
    skipped: Vec<(String, u64)>,
    responses: BodyBudget,
    request_body_left: usize,
    limit: u64,
}

impl Recording {
    pub(crate) fn new(max_requests: Option<u64>) -> Recording {
        Recording {
            exchanges: Vec::new(),
            skipped: Vec::new(),
            responses: BodyBudget::default(),
            request_body_left: REQUEST_BODY_BUDGET,
            limit: max_requests.unwrap_or(MAX_EXCHANGES).min(MAX_EXCHANGES),
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.exchanges.len() as u64
    }

    pub(crate) fn skip(&mut self, reason: &str, n: u64) {
        match self.skipped.iter_mut().find(|(r, _)| r == reason) {
            Some((_, c)) => *c += n,
            None => self.skipped.push((reason.to_string(), n)),
        }
    }

    pub(crate) fn offer(&mut self, mut ex: Exchange) -> Offered {
        if self.len() >= self.limit {
            return Offered::Full;
        }
        if ex.body.len() > self.request_body_left {
            self.skip(SKIP_BODY_BUDGET, 1);
            return Offered::Taken;
        }
        self.request_body_left -= ex.body.len();
        let body = std::mem::take(&mut ex.response_body);
        ex.response_body = self.responses.keep(&ex.response_headers, body, false);
        ex.position = Some(Position::Request(self.len() + 1));
        self.exchanges.push(ex);
        if self.len() == self.limit {
            Offered::LimitReached
        } else {
            Offered::Taken
        }
    }

    /// The capture, in the order requests were sent (head times; ties in recording order).
    pub(crate) fn into_capture(self, description: String, path: PathBuf) -> Capture {
        let mut exchanges = self.exchanges;
        exchanges.sort_by_key(|e| e.time_us);
        let mut notes = Vec::new();
        notes.extend(self.responses.note());
        Capture {
            kind: "proxy",
            description,
            path,
            exchanges,
            skipped: self.skipped,
            notes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_ends_the_recording_and_positions_count_requests() {
        let mut r = Recording::new(Some(2));
        let ex = |t| Exchange {
            time_us: Some(t),
            method: "GET".into(),
            path: "/".into(),
            ..Exchange::default()
        };
        assert_eq!(r.offer(ex(20)), Offered::Taken);
        assert_eq!(r.offer(ex(10)), Offered::LimitReached);
        assert_eq!(r.offer(ex(30)), Offered::Full);
        let c = r.into_capture("d".into(), "p".into());
        assert_eq!(c.kind, "proxy");
        let got: Vec<_> = c
            .exchanges
            .iter()
            .map(|e| (e.time_us, e.position.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (Some(10), Some(Position::Request(2))),
                (Some(20), Some(Position::Request(1)))
            ]
        );
    }

    #[test]
    fn request_bodies_share_one_budget() {
        let mut r = Recording::new(None);
        r.request_body_left = 5;
        let ex = |n| Exchange {
            body: vec![b'x'; n],
            ..Exchange::default()
        };
        r.offer(ex(4));
        r.offer(ex(4));
        r.offer(ex(1));
        assert_eq!(r.len(), 2);
        assert_eq!(r.skipped, vec![(SKIP_BODY_BUDGET.to_string(), 1)]);
    }
}
