//! The shell's TLS path: a TCP connection comes up, the handshake runs on the same ring
//! (`TlsConn::pump` encodes, the shell sends and receives), and once it is done the shard sees
//! an open connection whose bytes are plaintext: its batches are encrypted into one send each,
//! and what multishot receives hand over is decrypted before `Shard::on_bytes`.
//!
//! One ciphertext send is in the kernel at most per connection (`tls_sending`), from the
//! session's `in_flight` buffer, which the pump never touches: received records are decrypted
//! as they arrive, whether or not a send is under way, and what the pump encodes meanwhile
//! waits in `outgoing` for the next send.

use super::*;
use crate::tls::TlsConn;

impl Driver {
    /// TCP is up on connection `i`: plain, it is open; over TLS, the handshake starts.
    pub(super) fn tcp_up(&mut self, i: usize, now: u64) -> Result<(), EngineError> {
        let s = &mut self.socks[i];
        s.tcp_up = now;
        let connect_us = now.saturating_sub(s.started) / 1000;
        let Some((config, name)) = &self.tls else {
            s.state = SockState::Open;
            self.arm_recv(i)?;
            self.core.on_tcp_up(connect_us);
            self.core.on_connected(i as u32, now, true);
            return Ok(());
        };
        match TlsConn::new(config.clone(), name.clone()) {
            Ok(t) => {
                s.tls = Some(Box::new(t));
                s.tls_off = 0;
                s.tls_sending = false;
                s.want_send = false;
                s.plain_pending = 0;
                s.plain_in_flight = 0;
                s.state = SockState::Handshaking;
                self.core.on_tcp_up(connect_us);
                self.arm_recv(i)?;
                self.tls_drive(i, now)
            }
            Err(e) => {
                self.core
                    .on_tls_failed(i as u32, crate::tls::reason(&e), now);
                Ok(())
            }
        }
    }

    /// Let rustls work on connection `i`: finish the handshake, decrypt what arrived for the
    /// shard, encrypt the shard's batch, send (after the send under way, if any).
    pub(super) fn tls_drive(&mut self, i: usize, now: u64) -> Result<(), EngineError> {
        let ci = i as u32;
        let s = &mut self.socks[i];
        let Some(t) = s.tls.as_mut() else {
            return Ok(());
        };
        let handshaking = s.state == SockState::Handshaking;
        let plaintext = (s.want_send && s.state == SockState::Open)
            .then(|| self.core.unsent(ci))
            .filter(|p| !p.is_empty());
        let plain_len = plaintext.map_or(0, <[u8]>::len);
        self.plain.clear();
        let pumped = t.pump(plaintext, &mut self.plain);
        let resumed = t.resumed();
        let p = match pumped {
            Ok(p) => p,
            Err(e) => {
                let reason = crate::tls::reason(&e);
                self.core.on_tls_failed(ci, reason, now);
                return Ok(());
            }
        };
        if p.encrypted {
            s.want_send = false;
            s.plain_pending = plain_len;
        }
        if p.established && handshaking {
            s.state = SockState::Open;
            let us = now.saturating_sub(s.tcp_up) / 1000;
            self.core.on_handshake(us, resumed);
            self.core.on_connected(ci, now, false);
        }
        if !self.plain.is_empty() && self.socks[i].state == SockState::Open {
            self.core.on_bytes(ci, &self.plain, now);
        }
        if p.peer_closed {
            if handshaking {
                self.core.on_tls_failed(
                    ci,
                    "the server closed the TLS session during the handshake".into(),
                    now,
                );
            } else {
                self.core.on_eof(ci, now);
            }
        }
        self.tls_send(i)
    }

    /// Start sending what the TLS session has encoded, unless a send is under way (its
    /// completion sends the rest); `tls_off` of it is sent already.
    fn tls_send(&mut self, i: usize) -> Result<(), EngineError> {
        let s = &mut self.socks[i];
        if s.tls_sending || !matches!(s.state, SockState::Open | SockState::Handshaking) {
            return Ok(());
        }
        let (Some(fd), Some(t)) = (s.fd(), s.tls.as_mut()) else {
            return Ok(());
        };
        if s.tls_off == 0 && t.in_flight().is_empty() {
            if !t.start_send() {
                return Ok(());
            }
            // The batch encrypted into `outgoing` is in this send now.
            s.plain_in_flight = std::mem::take(&mut s.plain_pending);
        }
        let rest = &t.in_flight()[s.tls_off.min(t.in_flight().len())..];
        if rest.is_empty() {
            return Ok(());
        }
        s.tls_sending = true;
        s.ops += 1;
        let e = super::uring::send_entry(fd, rest, s.generation, i);
        self.push(e)
    }

    /// A ciphertext send of connection `i` completed with `res`.
    pub(super) fn tls_sent(&mut self, i: usize, res: i32, now: u64) -> Result<(), EngineError> {
        let ci = i as u32;
        let s = &mut self.socks[i];
        s.tls_sending = false;
        if res < 0 {
            if s.state == SockState::Handshaking {
                let e = std::io::Error::from_raw_os_error(-res);
                self.core
                    .on_tls_failed(ci, format!("the TLS handshake failed: {e}"), now);
            } else {
                self.core.on_reset(ci, now);
            }
            return Ok(());
        }
        s.tls_off += res as usize;
        let Some(t) = s.tls.as_mut() else {
            return Ok(());
        };
        if s.tls_off < t.in_flight().len() {
            return self.tls_send(i);
        }
        t.sent();
        s.tls_off = 0;
        let plain = std::mem::take(&mut s.plain_in_flight);
        if plain > 0 {
            self.core.on_sent(ci, plain as i32, now);
        }
        // What the pump encoded meanwhile goes next.
        self.tls_send(i)
    }
}
