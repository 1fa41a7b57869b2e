//! What received bytes mean: responses decoded and recorded, server closes, resets, and
//! protocol errors, each ending its request in exactly one outcome (or sending it again: after
//! a close mid-pipeline, or once after a 401 that needed a new token).

use std::fmt::Write as _;

use ringload_http1::{KeptResponse, ResponseSummary, ResponseTo};

use super::auth::Rejected;
use super::{Kind, Req, Shard, login_req, second_of};
use crate::requests::Offence;
use crate::stats::ErrorClass;

/// Most body bytes kept of a login response (tokens live in small JSON bodies).
const LOGIN_BODY_CAP: usize = 64 << 10;

impl Shard {
    /// Bytes arrived on connection `i`: decode them, complete requests, handle framing errors
    /// and server closes.
    pub fn on_bytes(&mut self, i: u32, data: &[u8], now: u64) {
        enum End {
            More,
            Close,
            Protocol,
            Unsolicited,
        }
        let i = i as usize;
        // Bytes after a `Connection: close` answer are not the server's to send: ignored.
        if !self.conns[i].is_open() || self.conns[i].ending_by().is_some() {
            return;
        }
        self.stats.bytes_in += data.len() as u64;
        let mut kept = std::mem::take(&mut self.conns[i].rbuf);
        let from_kept = !kept.is_empty();
        if from_kept {
            kept.extend_from_slice(data);
        }
        let mut off = 0;
        let mut end = End::More;
        loop {
            let src: &[u8] = if from_kept { &kept } else { data };
            if off >= src.len() {
                break;
            }
            let c = &mut self.conns[i];
            let Some(head) = c.head() else {
                end = End::Unsolicited;
                break;
            };
            let (to, login) = match head.kind {
                Kind::Step if self.wire.req(head.req).is_head => (ResponseTo::Head, false),
                Kind::Step => (ResponseTo::NonHead, false),
                Kind::Login(_) => (ResponseTo::NonHead, true),
            };
            let decoded = if login {
                let keep = c
                    .keep
                    .get_or_insert_with(|| Box::new(KeptResponse::new(LOGIN_BODY_CAP)));
                c.decoder.decode_keeping(&src[off..], to, keep)
            } else {
                c.decoder.decode(&src[off..], to)
            };
            match decoded {
                Ok(d) => {
                    off += d.consumed;
                    match d.message {
                        Some(sum) => {
                            let r = c.answered_head().expect("head exists");
                            // With per-request timeouts the new head may be due before the
                            // next planned check.
                            if self.wire.has_own_timeouts()
                                && let Some(h) = c.head().copied()
                            {
                                let t = h.sent.saturating_add(self.timeout_of(&h));
                                self.check_at = self.check_at.min(t);
                            }
                            self.complete(i, r, &sum, now);
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
        let c = &mut self.conns[i];
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
            End::More if c.spent() => {
                // `--requests-per-connection`: every request it was to carry is answered.
                self.close(i, now, false);
            }
            End::More => {
                if c.in_flight() < self.cfg.depth {
                    self.wake.push(i as u32);
                }
            }
            End::Close => {
                // A close the client asked for is not counted as the server's.
                if !self.conns[i].asked_close(self.cfg.requests_per_connection) {
                    self.stats.server_closes += 1;
                }
                self.ending(i, now);
            }
            End::Protocol => {
                let r = self.conns[i].pop_head().expect("a response was expected");
                self.failed(r, ErrorClass::Protocol, now);
                self.close(i, now, true);
            }
            End::Unsolicited => {
                self.stats.unsolicited += 1;
                self.close(i, now, true);
            }
        }
    }

    /// The server closed connection `i`: a read-until-close body ends here; a cut response
    /// fails.
    pub fn on_eof(&mut self, i: u32, now: u64) {
        let i = i as usize;
        if !self.conns[i].is_open() {
            return;
        }
        if self.conns[i].ending_by().is_some() {
            // The close it announced (and was counted for, if not asked).
            self.close(i, now, false);
            return;
        }
        self.stats.server_closes += 1;
        // A login's read-until-close body was kept as it arrived.
        let c = &mut self.conns[i];
        match c.decoder.finish_eof() {
            Ok(Some(sum)) => {
                if let Some(r) = c.answered_head() {
                    self.complete(i, r, &sum, now);
                }
            }
            Ok(None) => {}
            Err(_) => self.fail_head(i, ErrorClass::Reset, now),
        }
        self.close(i, now, false);
    }

    /// Reset or send failure on connection `i`: a response being received fails; the rest is
    /// re-sent.
    pub fn on_reset(&mut self, i: u32, now: u64) {
        let i = i as usize;
        if !self.conns[i].is_open() {
            return;
        }
        if self.conns[i].ending_by().is_some() {
            // Reset instead of the announced close: nothing was lost.
            self.close(i, now, false);
            return;
        }
        if !self.conns[i].decoder.is_idle() {
            self.fail_head(i, ErrorClass::Reset, now);
        }
        self.close(i, now, true);
    }

    fn fail_head(&mut self, i: usize, class: ErrorClass, now: u64) {
        if let Some(r) = self.conns[i].pop_head() {
            self.failed(r, class, now);
        }
    }

    /// A response completed request `r` on connection `i` (the decoder still holds its
    /// captured header values).
    fn complete(&mut self, i: usize, mut r: Req, sum: &ResponseSummary, now: u64) {
        let latency_from_send = now.saturating_sub(r.sent) / 1000;
        // The target answers: it is up (a TLS connection is confirmed by this).
        self.down_since = None;
        match r.kind {
            Kind::Login(p) => {
                let keep = self.conns[i].keep.take();
                let ok = self.login_outcome(r, p, Some(sum.status), keep.as_deref(), now);
                let key = self.wire.profiles[p as usize].key;
                self.stats
                    .login_done(key, ok, false, Some(latency_from_send));
                // The allocation is reused for the next login response on this connection.
                self.conns[i].keep = keep;
            }
            Kind::Step => {
                let w = self.wire.req(r.req);
                if sum.status == 401
                    && let Some(sp) = w.splice
                    && !r.reauthed
                {
                    r.reauthed = true;
                    let key = w.key;
                    match self.auth.rejected(r, sp.profile) {
                        (Rejected::Relogin, _) => {
                            self.requeue(login_req(sp.profile, &r, now), now);
                            self.stats
                                .login_sent(self.wire.profiles[sp.profile as usize].key);
                            if r.measured {
                                self.stats.reauthed(key);
                            }
                        }
                        (Rejected::Parked, _) => {}
                        (Rejected::Resend, Some(r)) => self.requeue(r, now),
                        (Rejected::Resend, None) => {}
                    }
                    return;
                }
                let (key, check) = (w.key, w.check);
                self.settle(&r);
                if !r.measured {
                    return;
                }
                let check = &self.wire.checks[check as usize];
                let decoder = &self.conns[i].decoder;
                let captured = |idx: usize| decoder.captured(idx).map(|v| v.value);
                let offence = check.offence(sum.status, captured);
                // What the hops say: how long the upstream took, and who answered a failure.
                let mesh = &self.wire.mesh;
                if let Some(up) = mesh.upstream_us(|idx| decoder.captured(idx)) {
                    self.stats.upstream_time(key, up, latency_from_send);
                }
                if offence.is_some() {
                    let body = decoder.error_body_prefix();
                    let origin = mesh.origin(sum.status, |idx| decoder.captured(idx), body);
                    self.stats.origin(key, origin);
                }
                let segment = self.wire.layout.segment_slot(key);
                for (h, &idx) in self.wire.split_captures.iter().enumerate() {
                    self.stats.split(segment, h, captured(idx));
                }
                if let Some(o) = offence {
                    let text = &mut self.scratch;
                    text.clear();
                    match o {
                        Offence::Status(s) => {
                            let _ = write!(text, "status {s}");
                        }
                        Offence::Header(idx, v) => {
                            text.push_str(&self.wire.capture_names[idx]);
                            text.push_str(": ");
                            match v {
                                Some(v) => push_lossy(text, v),
                                None => text.push_str("(missing)"),
                            }
                        }
                    }
                    self.stats.offending(key, text);
                }
                let second = second_of(r.intended, self.cfg.measure_from_ns);
                self.stats.answered(
                    key,
                    second,
                    sum.status,
                    offence.is_none(),
                    (now - r.intended) / 1000,
                    latency_from_send,
                );
            }
        }
    }
}

/// `v` as text, invalid UTF-8 replaced (as `String::from_utf8_lossy`, without allocating).
fn push_lossy(text: &mut String, v: &[u8]) {
    for chunk in v.utf8_chunks() {
        text.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            text.push(char::REPLACEMENT_CHARACTER);
        }
    }
}
