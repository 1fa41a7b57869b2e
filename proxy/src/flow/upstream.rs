//! The upstream half: [`Flow::upstream_bytes`] frames the responses in the order of the
//! requests, hands local replies out in their turn and completes what is recorded; the ends
//! of the upstream (EOF, a failed connect, a timeout) become a 502 or 504 for the client, or
//! a close once part of the answer went out.

// A fresh `BodyBudget` per response: the flow keeps every JSON-looking body that fits
// `MAX_RESPONSE_BODY`; the capture-wide budget applies where the exchanges of all connections
// meet (`Recording`).
use ringload_recorder::exchange::BodyBudget;

use super::Flow;
use super::reply::Reply;
use super::steps::{UpstreamNext, UpstreamStep};

impl Flow {
    /// Decodes upstream bytes: at most one whole response per call. Also the way to ask what
    /// to do next after the client side changed (call with no bytes).
    pub fn upstream_bytes(&mut self, buf: &[u8]) -> UpstreamStep {
        let step = |consumed, then| UpstreamStep { consumed, then };
        let Some(front) = self.pending.front() else {
            if !buf.is_empty() {
                // Bytes nobody asked for: no framing to forward them with.
                self.counts.upstream_errors += 1;
                return step(0, UpstreamNext::Close);
            }
            return step(
                0,
                if self.client_done() {
                    UpstreamNext::Close
                } else {
                    UpstreamNext::Read
                },
            );
        };
        if let Some(reply) = front.local {
            self.pending.pop_front();
            return step(0, UpstreamNext::Reply(reply));
        }
        let to = front.to;
        let decoded = if self.cfg.record {
            self.responses.decode_keeping(buf, to, &mut self.kept)
        } else {
            self.responses.decode(buf, to)
        };
        let d = match decoded {
            Ok(d) => d,
            Err(_) => {
                self.counts.upstream_errors += 1;
                return self.fail_front(Reply::BadGateway);
            }
        };
        if d.consumed > 0
            && let Some(f) = self.pending.front_mut()
        {
            f.started = true;
        }
        let Some(summary) = d.message else {
            let then = if d.consumed == 0 {
                UpstreamNext::Read
            } else {
                UpstreamNext::More
            };
            return step(d.consumed, then);
        };
        self.counts.answered += 1;
        if let Some(mut p) = self.pending.pop_front() {
            if let Some(ex) = p.exchange.as_mut() {
                ex.attach_response(summary.status, &mut self.kept, &mut BodyBudget::default());
            }
            self.kept.clear();
            if p.body_done {
                self.record(p);
            } else {
                self.answered_early = Some(p);
            }
        }
        // 101: the upstream switched protocols although the proxy never forwards an upgrade.
        let close = summary.close
            || summary.status == 101
            || (self.pending.is_empty() && self.client_done());
        step(
            d.consumed,
            if close {
                UpstreamNext::Close
            } else {
                UpstreamNext::More
            },
        )
    }

    /// The upstream's stream ended (EOF or a read error other than a timeout).
    pub fn upstream_eof(&mut self) -> UpstreamNext {
        if self.pending.front().is_some_and(|p| p.local.is_none()) {
            // A response read until close ends here.
            if let Ok(Some(summary)) = self.responses.finish_eof() {
                self.counts.answered += 1;
                if let Some(mut p) = self.pending.pop_front() {
                    if let Some(ex) = p.exchange.as_mut() {
                        ex.attach_response(
                            summary.status,
                            &mut self.kept,
                            &mut BodyBudget::default(),
                        );
                    }
                    self.kept.clear();
                    if p.body_done {
                        self.record(p);
                    } else {
                        self.answered_early = Some(p);
                    }
                }
                return UpstreamNext::Close;
            }
        }
        match self.pending.front() {
            None => UpstreamNext::Close,
            Some(p) if p.local.is_some() => self.upstream_bytes(&[]).then,
            Some(_) => {
                self.counts.upstream_errors += 1;
                self.fail_front(Reply::BadGateway).then
            }
        }
    }

    /// The upstream could not be connected (or its TLS handshake failed).
    /// (The driver counts it as a connect error.)
    pub fn upstream_failed(&mut self) -> UpstreamNext {
        self.fail_front(Reply::BadGateway).then
    }

    /// No upstream byte for the timeout: ends a waiting exchange, not an idle connection.
    pub fn upstream_timeout(&mut self) -> UpstreamNext {
        match self.pending.front() {
            None => UpstreamNext::Read,
            Some(p) if p.local.is_some() => self.upstream_bytes(&[]).then,
            Some(_) => {
                self.counts.upstream_errors += 1;
                self.fail_front(Reply::GatewayTimeout).then
            }
        }
    }

    /// The oldest exchange failed on the upstream side: the client gets `reply` if nothing of
    /// the answer went out yet, else the connection closes (it sees the cut, as it would have
    /// without the proxy).
    fn fail_front(&mut self, reply: Reply) -> UpstreamStep {
        let started = self.pending.front().is_some_and(|p| p.started);
        if started {
            self.counts.cut += 1;
        }
        UpstreamStep {
            consumed: 0,
            then: if started {
                UpstreamNext::Close
            } else {
                UpstreamNext::Reply(reply)
            },
        }
    }
}
