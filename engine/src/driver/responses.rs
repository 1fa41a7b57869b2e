//! What received bytes mean: responses decoded and recorded, server closes, resets, and
//! protocol errors, each ending its request in exactly one outcome.

use ringload_http1::{ResponseSummary, ResponseTo};

use super::*;
use crate::conn::{Conn, InFlight};
use crate::stats::ErrorClass;

impl Driver {
    /// Decode received bytes; complete requests; handle framing errors and server closes.
    pub(super) fn on_bytes(
        &mut self,
        i: usize,
        bid: u16,
        len: usize,
        now: u64,
    ) -> Result<(), EngineError> {
        enum End {
            More,
            Close,
            Protocol,
            Unsolicited,
        }
        self.stats.bytes_in += len as u64;
        let data = self.bufs.data(bid, len);
        let Driver {
            conns,
            stats,
            wire,
            cfg,
            check_at,
            ..
        } = self;
        let c = &mut conns[i];
        let mut kept = std::mem::take(&mut c.rbuf);
        let from_kept = !kept.is_empty();
        let src: &[u8] = if !from_kept {
            data
        } else {
            kept.extend_from_slice(data);
            &kept
        };
        let mut off = 0;
        let mut end = End::More;
        while off < src.len() {
            let Some(head) = c.inflight.front() else {
                end = End::Unsolicited;
                break;
            };
            let to = if wire.head[head.req as usize] {
                ResponseTo::Head
            } else {
                ResponseTo::NonHead
            };
            match c.decoder.decode(&src[off..], to) {
                Ok(d) => {
                    off += d.consumed;
                    match d.message {
                        Some(sum) => {
                            let f = c.inflight.pop_front().expect("head exists");
                            c.answered += 1;
                            record(stats, wire, cfg, c, f, &sum, now);
                            // With per-request timeouts the new head may be due before the
                            // next planned check.
                            if wire.has_own_timeouts()
                                && let Some(h) = c.inflight.front()
                            {
                                let t = wire.timeout_ns(h.req, cfg.timeout.as_nanos() as u64);
                                *check_at = (*check_at).min(h.sent.saturating_add(t));
                            }
                            if sum.close {
                                end = End::Close;
                                break;
                            }
                        }
                        None => break,
                    }
                }
                Err(_) => {
                    end = End::Protocol;
                    break;
                }
            }
        }
        if matches!(end, End::More) {
            if from_kept {
                kept.drain(..off);
            } else {
                kept.extend_from_slice(&data[off..]);
            }
        } else {
            kept.clear();
        }
        c.rbuf = kept;
        match end {
            End::More => {
                if c.inflight.len() < cfg.depth {
                    self.wake_conn(i);
                }
                Ok(())
            }
            End::Close => {
                self.stats.server_closes += 1;
                self.close(i, now, false)
            }
            End::Protocol => {
                let f = self.conns[i]
                    .inflight
                    .pop_front()
                    .expect("a response was expected");
                if f.measured {
                    let s = self.second(f.intended);
                    self.stats
                        .error(self.wire.key[f.req as usize], s, ErrorClass::Protocol);
                }
                self.close(i, now, true)
            }
            End::Unsolicited => {
                self.stats.unsolicited += 1;
                self.close(i, now, true)
            }
        }
    }

    /// The server closed the connection: a read-until-close body ends here; a cut response fails.
    pub(super) fn on_eof(&mut self, i: usize, now: u64) -> Result<(), EngineError> {
        self.stats.server_closes += 1;
        let c = &mut self.conns[i];
        match c.decoder.finish_eof() {
            Ok(Some(sum)) => {
                if let Some(f) = c.inflight.pop_front() {
                    c.answered += 1;
                    let Driver {
                        conns,
                        stats,
                        wire,
                        cfg,
                        ..
                    } = self;
                    record(stats, wire, cfg, &conns[i], f, &sum, now);
                }
            }
            Ok(None) => {}
            Err(_) => self.fail_head(i, ErrorClass::Reset),
        }
        self.close(i, now, false)
    }

    /// Reset or send failure: a response being received fails; the rest is re-sent.
    pub(super) fn on_reset(&mut self, i: usize, now: u64) -> Result<(), EngineError> {
        if !self.conns[i].decoder.is_idle() {
            self.fail_head(i, ErrorClass::Reset);
        }
        self.close(i, now, true)
    }

    pub(super) fn fail_head(&mut self, i: usize, class: ErrorClass) {
        if let Some(f) = self.conns[i].inflight.pop_front()
            && f.measured
        {
            let s = self.second(f.intended);
            self.stats.error(self.wire.key[f.req as usize], s, class);
        }
    }
}

/// Record a completed request in the stats (if measured).
fn record(
    stats: &mut Stats,
    wire: &WireRequests,
    cfg: &ShardConfig,
    c: &Conn,
    f: InFlight,
    sum: &ResponseSummary,
    now: u64,
) {
    if !f.measured {
        return;
    }
    let check = &wire.checks[wire.check[f.req as usize] as usize];
    let passed = check.passes(sum.status, |idx| c.decoder.captured(idx).map(|v| v.value));
    let second = second_of(f.intended, cfg.measure_from_ns);
    stats.answered(
        wire.key[f.req as usize],
        second,
        sum.status,
        passed,
        (now - f.intended) / 1000,
        now.saturating_sub(f.sent) / 1000,
    );
}
