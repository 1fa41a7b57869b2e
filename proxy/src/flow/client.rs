//! The client half: [`Flow::client_bytes`] frames requests, queues each forwarded one for its
//! answer (or a local [`Reply`] for one the proxy refuses), starts what is recorded of it and
//! attaches its body; [`Flow::client_eof`] tells a clean half-close from a cut request.

use ringload_http1::{RequestEvent, ResponseTo};
use ringload_recorder::exchange::Exchange;

use super::counts::{SKIP_BIG_BODY, SKIP_NOT_PATH, SKIP_REFUSED};
use super::reply::Reply;
use super::steps::{ClientEnd, ClientNext, ClientStep, ToUpstream};
use super::{ClientSide, Flow, Now, Pending};

impl Flow {
    /// Decodes client bytes: at most one head, or body bytes, per call.
    pub fn client_bytes(&mut self, buf: &[u8], now: Now) -> ClientStep {
        let stop = |then| ClientStep {
            consumed: 0,
            bytes: ToUpstream::Drop,
            then,
        };
        match self.side {
            ClientSide::Open => {}
            ClientSide::Last | ClientSide::Closed => return stop(ClientNext::Stop),
            ClientSide::Broken => return stop(ClientNext::Abort),
        }
        let forward = ToUpstream::Forward { not_before: None };
        let d = match self.requests.decode(buf) {
            Ok(d) => d,
            Err(_) if self.in_body => return self.break_request(),
            Err(_) => {
                // Nothing of this head was forwarded: answer 400 in its turn.
                self.counts.requests += 1;
                self.counts.refused += 1;
                if self.cfg.record {
                    self.skip(SKIP_REFUSED);
                }
                self.queue_local(Reply::BadRequest);
                return stop(ClientNext::Stop);
            }
        };
        let consumed = d.consumed;
        match d.message {
            None => ClientStep {
                consumed,
                bytes: forward,
                then: if consumed == 0 {
                    ClientNext::Read
                } else {
                    ClientNext::More
                },
            },
            Some(RequestEvent::Head(head)) => {
                self.counts.requests += 1;
                let refuse = head.header("upgrade").is_some()
                    || head.method().eq_ignore_ascii_case("CONNECT");
                let to = if head.method().eq_ignore_ascii_case("HEAD") {
                    ResponseTo::Head
                } else {
                    ResponseTo::NonHead
                };
                let keep_alive = head.keep_alive();
                let exchange = (self.cfg.record && !refuse)
                    .then(|| Exchange::from_request_head(&head, self.cfg.scheme))
                    .map(|ex| {
                        ex.map(|mut ex| {
                            ex.time_us = Some(now.unix_us);
                            ex.connection = Some(self.connection);
                            ex.client.clone_from(&self.client);
                            Box::new(ex)
                        })
                    });
                if refuse {
                    self.counts.refused += 1;
                    if self.cfg.record {
                        self.skip(SKIP_REFUSED);
                    }
                    self.queue_local(Reply::UpgradeRefused);
                    return ClientStep {
                        consumed,
                        bytes: ToUpstream::Drop,
                        then: ClientNext::Stop,
                    };
                }
                let exchange = match exchange {
                    Some(None) => {
                        self.skip(SKIP_NOT_PATH);
                        None
                    }
                    Some(Some(ex)) => Some(ex),
                    None => None,
                };
                self.counts.forwarded += 1;
                self.pending.push_back(Pending {
                    to,
                    local: None,
                    started: false,
                    body_done: false,
                    exchange,
                });
                self.in_body = true;
                self.last_request = !keep_alive;
                let not_before =
                    (!self.cfg.added_latency.is_zero()).then(|| now.mono + self.cfg.added_latency);
                ClientStep {
                    consumed,
                    bytes: ToUpstream::Forward { not_before },
                    then: ClientNext::More,
                }
            }
            Some(RequestEvent::Complete(summary)) => {
                self.in_body = false;
                let body = if self.cfg.record {
                    self.requests.take_body()
                } else {
                    Vec::new()
                };
                let too_big = summary.body_truncated || body.len() > self.cfg.max_body;
                // The request whose body just ended: answered already, or the newest one.
                let early = self.answered_early.is_some();
                let p = match self.answered_early.as_mut() {
                    Some(p) => Some(p),
                    None => self.pending.back_mut(),
                };
                let mut big = false;
                if let Some(p) = p {
                    p.body_done = true;
                    if let Some(ex) = p.exchange.as_mut() {
                        if too_big {
                            p.exchange = None;
                            big = true;
                        } else {
                            ex.body = body;
                        }
                    }
                }
                if big {
                    self.skip(SKIP_BIG_BODY);
                }
                if early && let Some(p) = self.answered_early.take() {
                    self.record(p);
                }
                let then = if self.last_request {
                    self.side = ClientSide::Last;
                    ClientNext::Stop
                } else {
                    ClientNext::More
                };
                ClientStep {
                    consumed,
                    bytes: forward,
                    then,
                }
            }
        }
    }

    /// The client's stream ended (EOF or a read error).
    pub fn client_eof(&mut self) -> ClientEnd {
        if self.side != ClientSide::Open {
            return if self.side == ClientSide::Broken {
                ClientEnd::Abort
            } else {
                ClientEnd::HalfClose
            };
        }
        match self.requests.finish_eof() {
            Ok(_) if !self.in_body => {
                self.side = ClientSide::Closed;
                ClientEnd::HalfClose
            }
            // A head cut by the end of the stream is a malformed request, as one that failed to
            // parse (whether the bytes showed it before the end depends on how they came):
            // nothing of it went upstream, and the client, which may still read, gets a 400.
            Err(_) if !self.in_body => {
                self.counts.requests += 1;
                self.counts.refused += 1;
                if self.cfg.record {
                    self.skip(SKIP_REFUSED);
                }
                self.queue_local(Reply::BadRequest);
                ClientEnd::HalfClose
            }
            // A body that ends exactly at EOF cannot be: requests are length-delimited.
            _ => {
                self.break_request();
                ClientEnd::Abort
            }
        }
    }

    /// A request was cut or garbled mid-message.
    fn break_request(&mut self) -> ClientStep {
        self.side = ClientSide::Broken;
        self.counts.cut += 1;
        ClientStep {
            consumed: 0,
            bytes: ToUpstream::Drop,
            then: ClientNext::Abort,
        }
    }

    fn queue_local(&mut self, reply: Reply) {
        self.side = ClientSide::Last;
        self.pending.push_back(Pending {
            to: ResponseTo::NonHead,
            local: Some(reply),
            started: false,
            body_done: true,
            exchange: None,
        });
    }
}
