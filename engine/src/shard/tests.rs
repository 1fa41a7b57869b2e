//! The shard in memory with a virtual clock: a simulated network and server answer its actions,
//! so accounting, re-sends, timeouts, reconnects, give-up, load models and token minting are
//! tested without a socket, exactly and fast (quinn-proto's `tests/util.rs` is the model).
//!
//! This file is the harness (the simulated network and server, `Setup`, plans, a token-minting
//! shop); the tests are in its child modules, by theme:
//!
//! - `accounting`: one outcome per request, re-sends counted, the identity under random events
//! - `failures`: timeouts, connections renewed, give-up, reconnect back-off
//! - `models`: open loop, stages, replay, warm-up, and an interrupt's drain
//! - `logins`: tokens minted at replay: logins, refreshes, re-logins, back-off, `--users`
//! - `captured`: captured connections, each on a socket of its own
//! - `clones`: cloned sessions with fresh ids and their own accounts
//! - `mesh`: failures counted under the hop that caused them, upstream time and overhead

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use ringload_formats::{
    AuthProfile, AuthSlot, Metadata, Plan, PlanBuilder, Request, Session, Step, TokenLocation,
    TokenPlace,
};

use super::{Action, Shard, ShardConfig};
use crate::config::{LoadModel, Users};
use crate::requests::{EncodeOptions, WireRequests};
use crate::schedule::{PlanTiming, Schedule, ScheduleConfig, Steps};
use crate::stats::Stats;

mod accounting;
mod captured;
mod clones;
mod failures;
mod logins;
mod mesh;
mod models;

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

/// One request as the simulated server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub conn: u32,
    /// Which socket (numbered in order of connects over the whole run).
    pub socket: u64,
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: u64,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the simulated server does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Answer after `delay` with these bytes.
    Bytes { delay: u64, bytes: Vec<u8> },
    /// Answer, then close the connection (`Connection: close` in the bytes, or plain EOF).
    ThenClose { delay: u64, bytes: Vec<u8> },
    /// Never answer.
    Stall,
    /// Reset the connection after `delay`.
    Reset { delay: u64 },
}

pub fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub fn status(code: u16) -> Vec<u8> {
    format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n").into_bytes()
}

#[derive(Debug)]
enum Event {
    Connected(u32, u32),
    ConnectFailed(u32, u32),
    Bytes(u32, u32, Vec<u8>),
    Eof(u32, u32),
    Reset(u32, u32),
}

type Server = Box<dyn FnMut(&Seen, u64) -> Reply>;

/// A shard wired to a simulated network: connects take `connect_delay` (or fail when
/// `refuse` says so), sends arrive at once, the server answers each request.
pub struct Sim {
    pub shard: Shard,
    pub now: u64,
    events: BinaryHeap<Reverse<(u64, u64, usize)>>,
    payloads: HashMap<usize, Event>,
    seq: u64,
    server: Server,
    /// Generation of each connection's simulated socket (events of an old one are dropped).
    gens: Vec<u32>,
    open: Vec<bool>,
    /// Bytes received per connection not yet parsed into requests.
    inbox: Vec<Vec<u8>>,
    pub seen: Vec<Seen>,
    pub refuse: Box<dyn FnMut(u32, u64) -> bool>,
    pub connect_delay: u64,
    actions: Vec<Action>,
    /// The socket each connection has now, and the last socket number given.
    sockets: Vec<u64>,
    last_socket: u64,
    /// Sockets open at once, at most.
    pub max_open: usize,
    /// When the shard closed each socket: (socket, time).
    pub closes: Vec<(u64, u64)>,
}

/// A plan: `n` sessions, each with `steps` GET requests of one label; session `s` step `k`
/// goes to `/s{s}/k{k}` (so the server can tell them apart), at 10 ms apart.
pub fn plan(sessions: usize, steps: usize) -> Plan {
    let mut b = PlanBuilder::new(Metadata::default());
    let label = b.label("GET /x");
    for s in 0..sessions {
        let steps = (0..steps)
            .map(|k| Step {
                request: b.request(Request {
                    method: "GET".into(),
                    target: format!("/s{s}/k{k}").into(),
                    label,
                    ..Request::default()
                }),
                offset_us: (s * steps + k) as u64 * 10_000,
                connection: 0,
            })
            .collect();
        b.session(Session { steps });
    }
    b.finish()
}

/// What a test sets besides the plan.
pub struct Setup {
    pub model: LoadModel,
    pub connections: usize,
    pub depth: usize,
    pub end_ns: u64,
    pub budget: Option<u64>,
    pub warmup_ns: u64,
    pub timeout: Duration,
    pub give_up_after: Option<Duration>,
    pub drain: Duration,
    pub users: Option<Users>,
    pub queue_limit: usize,
    pub requests_per_connection: Option<u32>,
    pub interrupt: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// Each captured connection on its own connection (`connections` open at most).
    pub captured: bool,
    /// Fresh header ids (`--clone`), from `seed`.
    pub fresh_ids: bool,
    pub seed: u64,
    /// `--origin-rule`, `--server-timing`.
    pub mesh: crate::mesh::MeshOptions,
    /// `--precision` (0: every send at its due time).
    pub precision: Duration,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            model: LoadModel::Closed,
            connections: 4,
            depth: 1,
            end_ns: u64::MAX,
            budget: Some(100),
            warmup_ns: 0,
            timeout: Duration::from_millis(500),
            give_up_after: Some(Duration::from_secs(2)),
            drain: Duration::from_secs(2),
            users: None,
            queue_limit: 10_000,
            requests_per_connection: None,
            interrupt: None,
            captured: false,
            fresh_ids: false,
            seed: 1,
            mesh: crate::mesh::MeshOptions::default(),
            precision: Duration::ZERO,
        }
    }
}

impl Sim {
    pub fn new(plan: &Plan, setup: Setup, server: Server) -> Sim {
        let wire = Arc::new(
            WireRequests::encode(
                plan,
                &EncodeOptions {
                    host: "sim",
                    users: setup.users.as_ref(),
                    fresh_ids: setup.fresh_ids,
                    mesh: Some(&setup.mesh),
                    ..EncodeOptions::default()
                },
            )
            .unwrap(),
        );
        let mut requests = Vec::new();
        let mut sessions = Vec::new();
        let mut offsets = Vec::new();
        for (si, s) in plan.sessions.iter().enumerate() {
            for st in &s.steps {
                requests.push(st.request);
                sessions.push(si as u32);
                offsets.push(st.offset_us);
            }
        }
        let timing = PlanTiming::of(&offsets).unwrap_or_default();
        let (steps, flows) = if setup.captured {
            let (steps, _, n) = crate::runtime::shard_flows(plan, 1).remove(0);
            (steps, Some(n))
        } else {
            let steps = Steps {
                requests: requests.into(),
                sessions: sessions.into(),
                offsets_us: offsets.into(),
                ..Steps::default()
            };
            (steps, None)
        };
        let schedule = Schedule::new(
            &setup.model,
            steps,
            &ScheduleConfig {
                share: 1.0,
                measure_from_ns: setup.warmup_ns,
                end_ns: setup.end_ns,
                budget: setup.budget,
                seed: 7,
                timing,
            },
        );
        let cfg = ShardConfig {
            cpu: 0,
            connections: setup.connections,
            depth: setup.depth,
            addr: "127.0.0.1:1".parse().unwrap(),
            timeout: setup.timeout,
            connect_timeout: Duration::from_millis(200),
            give_up_after: setup.give_up_after,
            drain: setup.drain,
            queue_limit: setup.queue_limit,
            measure_from_ns: setup.warmup_ns,
            max_wall: Duration::from_secs(3600),
            spin: Duration::ZERO,
            precision: setup.precision,
            coalesce: Duration::ZERO,
            sessions: (0..plan.sessions.len() as u32).collect::<Vec<_>>().into(),
            user_rows: (0..plan.sessions.len() as u32).collect::<Vec<_>>().into(),
            segments: plan.segments.len(),
            requests_per_connection: setup.requests_per_connection,
            flows,
            ids: crate::ids::IdGen::new(setup.seed, 0),
            source_addrs: Vec::new().into(),
            index: 0,
            interrupt: setup.interrupt.clone(),
            live: None,
        };
        let n = setup.connections;
        Sim {
            shard: Shard::new(cfg, wire, schedule),
            now: 0,
            events: BinaryHeap::new(),
            payloads: HashMap::new(),
            seq: 0,
            server,
            gens: vec![0; n],
            open: vec![false; n],
            inbox: vec![Vec::new(); n],
            seen: Vec::new(),
            refuse: Box::new(|_, _| false),
            connect_delay: 100_000,
            actions: Vec::new(),
            sockets: vec![0; n],
            last_socket: 0,
            max_open: 0,
            closes: Vec::new(),
        }
    }

    fn at(&mut self, t: u64, e: Event) {
        self.seq += 1;
        let id = self.seq as usize;
        self.payloads.insert(id, e);
        self.events.push(Reverse((t, self.seq, id)));
    }

    /// Carry out the shard's actions at the current time.
    fn apply(&mut self) {
        loop {
            self.shard.take_actions(&mut self.actions);
            if self.actions.is_empty() {
                return;
            }
            for a in std::mem::take(&mut self.actions) {
                match a {
                    Action::Connect(i) => {
                        let iu = i as usize;
                        self.gens[iu] += 1;
                        self.inbox[iu].clear();
                        self.last_socket += 1;
                        self.sockets[iu] = self.last_socket;
                        let g = self.gens[iu];
                        let t = self.now + self.connect_delay;
                        if (self.refuse)(i, self.now) {
                            self.at(t, Event::ConnectFailed(i, g));
                        } else {
                            self.at(t, Event::Connected(i, g));
                        }
                    }
                    Action::Send(i) => {
                        let bytes = self.shard.unsent(i).to_vec();
                        let n = bytes.len();
                        self.receive(i, &bytes);
                        self.shard.on_sent(i, n as i32, self.now);
                    }
                    Action::Close(i) => {
                        let iu = i as usize;
                        if self.open[iu] {
                            self.closes.push((self.sockets[iu], self.now));
                        }
                        self.open[iu] = false;
                        self.gens[iu] += 1;
                        self.shard.on_closed(i, self.now);
                    }
                }
            }
        }
    }

    /// The server reads what connection `i` sent and schedules its answers.
    fn receive(&mut self, i: u32, bytes: &[u8]) {
        let iu = i as usize;
        if !self.open[iu] {
            return;
        }
        self.inbox[iu].extend_from_slice(bytes);
        // Answers on one connection leave in order: never before the previous one.
        let mut not_before = self.now;
        while let Some(seen) = parse(&mut self.inbox[iu], i, self.sockets[iu], self.now) {
            self.seen.push(seen.clone());
            let g = self.gens[iu];
            match (self.server)(&seen, self.now) {
                Reply::Bytes { delay, bytes } => {
                    not_before = not_before.max(self.now + delay);
                    self.at(not_before, Event::Bytes(i, g, bytes));
                }
                Reply::ThenClose { delay, bytes } => {
                    not_before = not_before.max(self.now + delay);
                    self.at(not_before, Event::Bytes(i, g, bytes));
                    self.at(not_before, Event::Eof(i, g));
                }
                Reply::Stall => {}
                Reply::Reset { delay } => {
                    self.at(self.now + delay, Event::Reset(i, g));
                }
            }
        }
    }

    /// Run until the shard is done (or `limit` of virtual time); returns the final stats.
    pub fn run(&mut self, limit: u64) -> Stats {
        self.shard.connect_all(self.now);
        self.apply();
        // Connect phase, as the driver does before the start line.
        while self.shard.connecting() {
            if !self.step_events(u64::MAX) {
                break;
            }
        }
        self.now = 0;
        // Events scheduled during the connect phase keep their order on the run's clock.
        let pending: Vec<_> = std::mem::take(&mut self.events).into_vec();
        for Reverse((_, s, id)) in pending {
            self.events.push(Reverse((0, s, id)));
        }
        self.shard.begin();
        loop {
            self.shard.poll(self.now);
            self.apply();
            if self.shard.is_done() || self.now >= limit {
                break;
            }
            let wake = self.shard.wakeup_at().max(self.now + 1);
            if !self.step_events(wake) {
                self.now = wake;
            }
        }
        self.shard.finish(self.now)
    }

    /// Deliver the next event if it comes before `until`; false if none does.
    fn step_events(&mut self, until: u64) -> bool {
        let Some(&Reverse((t, _, id))) = self.events.peek() else {
            return false;
        };
        if t > until {
            return false;
        }
        self.events.pop();
        self.now = self.now.max(t);
        let now = self.now;
        match self.payloads.remove(&id).expect("payload") {
            Event::Connected(i, g) if g == self.gens[i as usize] => {
                self.open[i as usize] = true;
                self.max_open = self.max_open.max(self.open.iter().filter(|o| **o).count());
                self.shard.on_connected(i, now, true);
            }
            Event::ConnectFailed(i, g) if g == self.gens[i as usize] => {
                self.shard.on_connect_failed(i, libc::ECONNREFUSED, now);
            }
            Event::Bytes(i, g, b) if g == self.gens[i as usize] && self.open[i as usize] => {
                self.shard.on_bytes(i, &b, now);
            }
            Event::Eof(i, g) if g == self.gens[i as usize] && self.open[i as usize] => {
                self.open[i as usize] = false;
                self.shard.on_eof(i, now);
            }
            Event::Reset(i, g) if g == self.gens[i as usize] && self.open[i as usize] => {
                self.open[i as usize] = false;
                self.shard.on_reset(i, now);
            }
            _ => {}
        }
        self.apply();
        true
    }
}

/// Take one whole request off the front of `buf`.
fn parse(buf: &mut Vec<u8>, conn: u32, socket: u64, at: u64) -> Option<Seen> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8(buf[..end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let mut start = lines.next().unwrap().split(' ');
    let method = start.next().unwrap().to_string();
    let target = start.next().unwrap().to_string();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(": ").unwrap();
            (n.to_string(), v.to_string())
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    if buf.len() < end + len {
        return None;
    }
    let body = buf[end..end + len].to_vec();
    buf.drain(..end + len);
    Some(Seen {
        conn,
        socket,
        method,
        target,
        headers,
        body,
        at,
    })
}

fn assert_accounted(s: &Stats) {
    let c = s.counts;
    assert_eq!(
        c.requests,
        c.ok + c.failed() + c.timed_out + c.in_flight_at_end,
        "requests == ok + failed + timed_out + in_flight_at_end: {c:?}"
    );
}

fn always(bytes: Vec<u8>, delay: u64) -> Server {
    Box::new(move |_, _| Reply::Bytes {
        delay,
        bytes: bytes.clone(),
    })
}

// ---- tokens minted at replay ----

/// A plan whose sessions log in (form POST, token in `/access_token`, `expires_in`) and then
/// send `steps` slotted GETs with the token where `place` says.
fn auth_plan(sessions: usize, steps: usize, place: TokenPlace) -> Plan {
    let mut b = PlanBuilder::new(Metadata::default());
    let label = b.label("GET /api/v1/cart");
    let login_label = b.label("POST /auth/token");
    let login = b.request(Request {
        method: "POST".into(),
        target: "/auth/token".into(),
        headers: vec![(
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: b"username=demo&password=right".as_slice().into(),
        label: login_label,
        ..Request::default()
    });
    let profile = b.auth_profile(AuthProfile {
        name: "shopper".into(),
        login,
        token_at: TokenLocation::JsonPointer("/access_token".into()),
        send_as: place,
        expires_at: Some("/expires_in".into()),
        expires_in_s: None,
        user_fields: vec!["username".into(), "password".into()],
    });
    for s in 0..sessions {
        let steps = (0..steps)
            .map(|k| Step {
                request: b.request(Request {
                    method: "GET".into(),
                    target: format!("/api/v1/cart?s={s}&k={k}").into(),
                    label,
                    auth: Some(AuthSlot { profile }),
                    ..Request::default()
                }),
                offset_us: 0,
                connection: 0,
            })
            .collect();
        b.session(Session { steps });
    }
    b.finish()
}

/// A shop: `/auth/token` hands out `tok-N` living `ttl_s` (virtual) seconds to the password
/// `right`; everything else needs a live token (in the bearer header, a `sid` cookie or an
/// `access_token` parameter) or gets 401.
fn shop(ttl_s: u64) -> Server {
    shop_with(ttl_s, ttl_s)
}

/// [`shop`] whose tokens live `real_s` while the login response announces `announced_s`.
fn shop_with(real_s: u64, announced_s: u64) -> Server {
    let mut issued: HashMap<String, u64> = HashMap::new();
    let mut n = 0;
    Box::new(move |seen, now| {
        if seen.target == "/auth/token" {
            let body = String::from_utf8_lossy(&seen.body).to_string();
            if !body.contains("password=right") {
                return Reply::Bytes {
                    delay: MS,
                    bytes: status(400),
                };
            }
            n += 1;
            let tok = format!("tok-{n}");
            issued.insert(tok.clone(), now + real_s * S);
            return Reply::Bytes {
                delay: MS,
                bytes: ok(&format!(
                    "{{\"access_token\":\"{tok}\",\"token_type\":\"bearer\",\"expires_in\":{announced_s}}}"
                )),
            };
        }
        let token = seen
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string)
            .or_else(|| {
                seen.header("cookie").and_then(|c| {
                    c.split("; ")
                        .find_map(|p| p.strip_prefix("sid=").map(str::to_string))
                })
            })
            .or_else(|| {
                seen.target
                    .split(['?', '&'])
                    .find_map(|p| p.strip_prefix("access_token=").map(str::to_string))
            });
        let live = token
            .and_then(|t| issued.get(&t).copied())
            .is_some_and(|exp| now < exp);
        Reply::Bytes {
            delay: MS,
            bytes: if live { ok("cart") } else { status(401) },
        }
    })
}

fn bearer() -> TokenPlace {
    TokenPlace::Header {
        name: "Authorization".into(),
        prefix: "Bearer ".into(),
    }
}
