//! Tokens minted at replay: one per session and auth profile, sans-IO.
//!
//! A session's first slotted request finds no token: it waits while the profile's login request
//! goes out (ahead of other work). The login response yields the token (a JSON pointer into its
//! body, a response header, or a `Set-Cookie` cookie) and its lifetime (a JSON pointer such as
//! `/expires_in`, a cookie's `Max-Age`, else the lifetime the capture gave); the waiting
//! requests then go out with it, spliced into their heads from bytes built once per token.
//! Before the token expires (at 80% of its life) the next slotted request starts a refresh
//! while the old token is still used. A 401 on a slotted request invalidates the token it
//! carried: one re-login (counted `reauth`) and the request is sent again with the new token,
//! once. A failed login (an error status, no token in the response, a timeout) puts the session
//! in a back-off (1 s doubling to 30 s) during which its slotted requests fail at once as
//! `auth`, so a wrong password cannot turn into a storm of logins.

use ringload_formats::TokenLocation;
use ringload_http1::KeptResponse;

use crate::requests::{LoginProfile, token_inserts};

use super::Req;

/// Back-off after a failed login: first, and the most.
const BACKOFF_FIRST_NS: u64 = 1_000_000_000;
const BACKOFF_MAX_NS: u64 = 30_000_000_000;
/// Share of a token's lifetime after which a refresh starts.
const REFRESH_AT: f64 = 0.8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No token yet (or it expired or was refused).
    None,
    /// A login is in flight and no usable token exists: slotted requests wait.
    LoggingIn,
    /// A token is usable (until `expires_at`); a refresh may be in flight.
    Valid,
    /// The last login failed: slotted requests fail until then.
    BackingOff { until: u64 },
}

/// One session's token for one profile.
#[derive(Debug)]
struct Token {
    phase: Phase,
    /// Bumped for every new token; requests remember the one they carried.
    generation: u32,
    expires_at: u64,
    refresh_at: u64,
    /// A login (first or refresh) is in flight.
    login_in_flight: bool,
    /// The bytes spliced into requests, per insert form.
    inserts: [Vec<u8>; 2],
    /// Requests waiting for a token, in order.
    waiting: Vec<Req>,
    backoff_ns: u64,
}

impl Token {
    fn new() -> Token {
        Token {
            phase: Phase::None,
            generation: 0,
            expires_at: 0,
            refresh_at: 0,
            login_in_flight: false,
            inserts: [Vec::new(), Vec::new()],
            waiting: Vec::new(),
            backoff_ns: 0,
        }
    }
}

/// What to do with a slotted request about to be written.
pub(super) enum Ready<'a> {
    /// Send it with these bytes spliced in, remembering the token generation; with `refresh`,
    /// also send a login now (the token is near its end).
    Send {
        insert: &'a [Vec<u8>; 2],
        generation: u32,
        refresh: bool,
    },
    /// It waits for a token (taken, it comes back through [`Auth::on_login`]); with `login`,
    /// send the login now.
    Wait { login: bool },
    /// The session is backing off after a failed login: fail it as `auth`.
    Fail,
}

/// What a 401 on a slotted request leads to.
pub(super) enum Rejected {
    /// The token it carried is gone: send a re-login (the request waits for it).
    Relogin,
    /// A login is already under way: the request waits for it.
    Parked,
    /// A newer token exists: resend the request at once.
    Resend,
}

/// The tokens of every session of a shard.
pub(super) struct Auth {
    profiles: usize,
    /// `session * profiles + profile`, created on first use.
    tokens: Vec<Option<Box<Token>>>,
}

/// What a login response meant.
pub(super) enum LoginOutcome {
    Ok,
    /// Why it failed, for the report.
    Failed(&'static str),
}

impl Auth {
    pub(super) fn new(sessions: usize, profiles: usize) -> Auth {
        let n = if profiles == 0 {
            0
        } else {
            sessions * profiles
        };
        Auth {
            profiles,
            tokens: (0..n).map(|_| None).collect(),
        }
    }

    fn token(&mut self, session: u32, profile: u16) -> &mut Token {
        let i = session as usize * self.profiles + profile as usize;
        self.tokens[i].get_or_insert_with(|| Box::new(Token::new()))
    }

    /// Is request `r` (slotted with `profile`) ready to go at `now`? A request that must wait
    /// is taken (`Ready::Wait`), to come back from [`Auth::on_login`]; a failing one is handed
    /// back.
    pub(super) fn ready(&mut self, r: Req, profile: u16, now: u64) -> (Ready<'_>, Option<Req>) {
        let t = self.token(r.session, profile);
        if let Phase::BackingOff { until } = t.phase {
            if now < until {
                return (Ready::Fail, Some(r));
            }
            t.phase = Phase::None;
        }
        if t.phase == Phase::Valid && now >= t.expires_at {
            t.phase = if t.login_in_flight {
                Phase::LoggingIn
            } else {
                Phase::None
            };
        }
        match t.phase {
            Phase::Valid => {
                let refresh = now >= t.refresh_at && !t.login_in_flight;
                if refresh {
                    t.login_in_flight = true;
                }
                let send = Ready::Send {
                    insert: &t.inserts,
                    generation: t.generation,
                    refresh,
                };
                (send, None)
            }
            Phase::LoggingIn => {
                t.waiting.push(r);
                (Ready::Wait { login: false }, None)
            }
            _ => {
                t.waiting.push(r);
                t.phase = Phase::LoggingIn;
                let login = !t.login_in_flight;
                t.login_in_flight = true;
                (Ready::Wait { login }, None)
            }
        }
    }

    /// A 401 came back for `r`, which carried token `r.token_generation`.
    pub(super) fn rejected(&mut self, r: Req, profile: u16) -> (Rejected, Option<Req>) {
        let t = self.token(r.session, profile);
        if t.phase == Phase::Valid && t.generation != r.token_generation {
            return (Rejected::Resend, Some(r));
        }
        if t.phase == Phase::Valid {
            t.phase = Phase::LoggingIn;
        }
        if let Phase::BackingOff { .. } | Phase::None = t.phase {
            t.phase = Phase::LoggingIn;
        }
        t.waiting.push(r);
        if t.login_in_flight {
            (Rejected::Parked, None)
        } else {
            t.login_in_flight = true;
            (Rejected::Relogin, None)
        }
    }

    /// A login response arrived (`status` and what was kept of it), or the login failed
    /// without one (`None`). Returns the outcome and the requests that waited for it: to send
    /// now (with the new token) when it is `Ok`, to fail as `auth` otherwise.
    pub(super) fn on_login(
        &mut self,
        session: u32,
        profile: u16,
        p: &LoginProfile,
        status: Option<u16>,
        kept: Option<&KeptResponse>,
        now: u64,
    ) -> (LoginOutcome, Vec<Req>) {
        let t = self.token(session, profile);
        t.login_in_flight = false;
        let extracted = match (status, kept) {
            (Some(s), Some(k)) if (200..300).contains(&s) => extract(p, k),
            (Some(_), _) => Err("the login was refused"),
            (None, _) => Err("the login got no response"),
        };
        match extracted {
            Ok((token, lifetime_s)) => {
                t.inserts = token_inserts(&p.place, &token);
                t.generation = t.generation.wrapping_add(1).max(1);
                t.phase = Phase::Valid;
                t.backoff_ns = 0;
                match lifetime_s.or(p.expires_in_s) {
                    Some(s) => {
                        let life = s.saturating_mul(1_000_000_000);
                        t.expires_at = now.saturating_add(life);
                        t.refresh_at = now.saturating_add((life as f64 * REFRESH_AT) as u64);
                    }
                    None => {
                        t.expires_at = u64::MAX;
                        t.refresh_at = u64::MAX;
                    }
                }
                (LoginOutcome::Ok, std::mem::take(&mut t.waiting))
            }
            Err(why) => {
                // A refresh that fails while the old token still works keeps the old token
                // until it expires.
                if t.phase == Phase::Valid && now < t.expires_at {
                    t.refresh_at = u64::MAX;
                    return (LoginOutcome::Failed(why), Vec::new());
                }
                t.backoff_ns = (t.backoff_ns * 2).clamp(BACKOFF_FIRST_NS, BACKOFF_MAX_NS);
                t.phase = Phase::BackingOff {
                    until: now.saturating_add(t.backoff_ns),
                };
                (LoginOutcome::Failed(why), std::mem::take(&mut t.waiting))
            }
        }
    }

    /// Requests still waiting for a token (at the end of the run they are in flight).
    pub(super) fn waiting(&self) -> impl Iterator<Item = &Req> {
        self.tokens.iter().flatten().flat_map(|t| t.waiting.iter())
    }
}

/// The token and its lifetime (seconds) from a login response.
fn extract(p: &LoginProfile, k: &KeptResponse) -> Result<(Vec<u8>, Option<u64>), &'static str> {
    let json = || serde_json::from_slice::<serde_json::Value>(&k.body).ok();
    let mut lifetime = None;
    let token = match &p.token_at {
        TokenLocation::JsonPointer(ptr) => {
            let v = json().ok_or("the login response is not JSON")?;
            if let Some(e) = &p.expires_at {
                lifetime = v.pointer(e).and_then(seconds);
            }
            match v.pointer(ptr) {
                Some(serde_json::Value::String(s)) if !s.is_empty() => s.as_bytes().to_vec(),
                Some(n @ serde_json::Value::Number(_)) => n.to_string().into_bytes(),
                _ => return Err("the login response has no token"),
            }
        }
        TokenLocation::Header(name) => k
            .values(name)
            .next()
            .filter(|v| !v.is_empty())
            .ok_or("the login response has no token header")?
            .to_vec(),
        TokenLocation::Cookie(name) => {
            let (value, max_age) = k
                .values("set-cookie")
                .find_map(|v| cookie(v, name))
                .ok_or("the login response sets no token cookie")?;
            lifetime = max_age;
            value
        }
    };
    if lifetime.is_none()
        && let (Some(e), TokenLocation::Header(_) | TokenLocation::Cookie(_)) =
            (&p.expires_at, &p.token_at)
    {
        lifetime = json().and_then(|v| v.pointer(e).and_then(seconds));
    }
    if token.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Err("the login response's token holds a line break");
    }
    Ok((token, lifetime))
}

fn seconds(v: &serde_json::Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// The value of cookie `name` in a `Set-Cookie` field, and its `Max-Age`.
fn cookie(field: &[u8], name: &str) -> Option<(Vec<u8>, Option<u64>)> {
    let text = std::str::from_utf8(field).ok()?;
    let mut parts = text.split(';');
    let (n, v) = parts.next()?.split_once('=')?;
    if n.trim() != name {
        return None;
    }
    let max_age = parts.find_map(|a| {
        let (k, v) = a.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| v.trim().parse().ok())
            .flatten()
    });
    Some((v.trim().as_bytes().to_vec(), max_age))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_max_age() {
        assert_eq!(
            cookie(b"sid=abc; Path=/; Max-Age=60; HttpOnly", "sid"),
            Some((b"abc".to_vec(), Some(60)))
        );
        assert_eq!(cookie(b"theme=dark", "sid"), None);
        assert_eq!(cookie(b"sid=x", "sid"), Some((b"x".to_vec(), None)));
    }
}
