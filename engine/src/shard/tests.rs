//! The shard in memory with a virtual clock: a simulated network and server answer its actions,
//! so accounting, re-sends, timeouts, reconnects, give-up, load models and token minting are
//! tested without a socket, exactly and fast (quinn-proto's `tests/util.rs` is the model).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use ringload_formats::{
    AuthProfile, AuthSlot, Metadata, Plan, PlanBuilder, Request, Session, Step, TokenLocation,
    TokenPlace,
};

use super::*;
use crate::config::{Arrival, LoadModel, Stage, Users};
use crate::requests::EncodeOptions;
use crate::schedule::{PlanTiming, ScheduleConfig, Steps};
use crate::stats::ErrorClass;

mod captured;
mod clones;
mod mesh;

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
            precision: Duration::ZERO,
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

#[test]
fn closed_loop_sends_the_budget_and_every_request_is_answered_once() {
    let mut sim = Sim::new(&plan(3, 4), Setup::default(), always(ok("ok"), MS));
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!((s.counts.requests, s.counts.ok), (100, 100));
    assert_eq!(sim.seen.len(), 100, "nothing sent twice");
    assert_eq!(s.resent, 0);
    assert_eq!(s.connects, 4);
}

#[test]
fn a_close_mid_pipeline_resends_the_unanswered_requests() {
    // Depth 4: every connection's third response says `Connection: close`.
    let mut count: HashMap<u32, u32> = HashMap::new();
    let server: Server = Box::new(move |seen, _| {
        let n = count.entry(seen.conn).or_default();
        *n += 1;
        if (*n).is_multiple_of(3) {
            Reply::ThenClose {
                delay: MS,
                bytes: b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
                    .to_vec(),
            }
        } else {
            Reply::Bytes {
                delay: MS,
                bytes: ok("ok"),
            }
        }
    });
    let setup = Setup {
        depth: 4,
        connections: 2,
        budget: Some(60),
        ..Setup::default()
    };
    let mut sim = Sim::new(&plan(1, 5), setup, server);
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!(
        s.counts.ok, 60,
        "every request answered in the end: {:?}",
        s.counts
    );
    assert!(s.resent > 0, "requests behind a close were re-sent");
    assert_eq!(
        sim.seen.len() as u64,
        s.counts.requests + s.resent,
        "every write is a first write or a counted re-send"
    );
}

#[test]
fn a_stalled_server_times_requests_out_and_connections_are_renewed() {
    let mut n = 0;
    let server: Server = Box::new(move |_, _| {
        n += 1;
        if n % 5 == 0 {
            Reply::Stall
        } else {
            Reply::Bytes {
                delay: MS,
                bytes: ok(""),
            }
        }
    });
    let mut sim = Sim::new(&plan(1, 3), Setup::default(), server);
    let s = sim.run(120 * S);
    assert_accounted(&s);
    assert!(s.counts.timed_out >= 15, "{:?}", s.counts);
    assert_eq!(s.counts.ok + s.counts.timed_out, 100);
    assert!(s.connects > 4, "timed-out connections are replaced");
    // A timeout fires at its deadline, not a tick later: the slowest answered request plus
    // the timeout bounds the latency histogram of the others.
    assert!(s.latency.max() < 600_000, "{}", s.latency.max());
}

#[test]
fn a_target_that_refuses_every_connection_is_given_up_with_everything_counted() {
    let mut sim = Sim::new(&plan(1, 2), Setup::default(), always(ok(""), MS));
    sim.refuse = Box::new(|_, _| true);
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert!(s.gave_up);
    assert_eq!(s.connects, 0);
    assert!(
        s.connect_errors > 8,
        "back-off keeps retrying: {}",
        s.connect_errors
    );
    // Closed loop: nothing is released while no connection is open.
    assert_eq!(s.counts.requests, 0);
    // Each failed attempt is in the window of the second it failed in, too (measuring from 0).
    let per_window: Vec<u64> = s.windows.iter().map(|w| w.connect_errors).collect();
    assert_eq!(
        per_window.iter().sum::<u64>(),
        s.connect_errors,
        "{per_window:?}"
    );
    assert!(
        per_window.len() >= 2 && per_window.iter().all(|&n| n > 0),
        "{per_window:?}"
    );
    // Given up after `give_up_after` (2 s), not before.
    assert!((2 * S..3 * S).contains(&sim.now), "{}", sim.now);
}

#[test]
fn reconnects_back_off_and_recover_when_the_target_comes_back() {
    let mut sim = Sim::new(&plan(1, 2), Setup::default(), always(ok(""), MS));
    // Refused for the first 500 ms of the run, then accepted.
    sim.refuse = Box::new(|_, now| now < 500 * MS);
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert!(!s.gave_up);
    assert_eq!(s.counts.ok, 100);
    assert!(s.connect_errors >= 4);
}

#[test]
fn open_loop_rate_sends_on_schedule_with_latency_from_the_intended_time() {
    let setup = Setup {
        model: LoadModel::Rate {
            rate: 1000.0,
            arrival: Arrival::Uniform,
        },
        end_ns: 2 * S,
        budget: None,
        ..Setup::default()
    };
    let mut sim = Sim::new(&plan(2, 3), setup, always(ok(""), 2 * MS));
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!(s.counts.requests, 2000);
    assert_eq!(s.counts.ok, 2000);
    // 2 ms service, sent at the intended time: latency is the service time.
    assert!((1900..2200).contains(&s.latency.value_at_quantile(0.5)));
    assert_eq!(s.dropped, 0);
}

#[test]
fn open_loop_against_a_slow_server_queues_and_the_wait_is_in_the_latency() {
    // 4 connections x 1, 20 ms per answer: 200/s possible, 400/s asked for 1 s.
    let setup = Setup {
        model: LoadModel::Rate {
            rate: 400.0,
            arrival: Arrival::Uniform,
        },
        end_ns: S,
        budget: None,
        drain: Duration::from_secs(10),
        ..Setup::default()
    };
    let mut sim = Sim::new(&plan(1, 1), setup, always(ok(""), 20 * MS));
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!(s.counts.ok, 400);
    // The last requests waited about a second for a connection: coordinated omission shows.
    assert!(s.latency.max() > 900_000, "{}", s.latency.max());
    assert!(s.service.max() < 25_000, "{}", s.service.max());
}

#[test]
fn stages_ramp_what_is_sent_per_second() {
    let setup = Setup {
        model: LoadModel::Stages {
            stages: vec![
                Stage {
                    duration: Duration::from_secs(1),
                    level: 200.0,
                },
                Stage {
                    duration: Duration::from_secs(1),
                    level: 200.0,
                },
            ],
            arrival: Arrival::Uniform,
        },
        end_ns: 2 * S,
        budget: None,
        ..Setup::default()
    };
    let mut sim = Sim::new(&plan(1, 2), setup, always(ok(""), MS));
    let s = sim.run(60 * S);
    assert_accounted(&s);
    let per_second: Vec<u64> = s.windows.iter().map(|w| w.counts.requests).collect();
    assert!((99..=101).contains(&per_second[0]), "{per_second:?}");
    assert!((199..=201).contains(&per_second[1]), "{per_second:?}");
}

#[test]
fn replay_follows_the_captured_offsets() {
    let setup = Setup {
        model: LoadModel::Replay { speed: 1.0 },
        budget: Some(6),
        ..Setup::default()
    };
    let mut sim = Sim::new(&plan(2, 3), setup, always(ok(""), MS));
    let s = sim.run(60 * S);
    assert_accounted(&s);
    let at: Vec<u64> = sim.seen.iter().map(|x| x.at / MS).collect();
    assert_eq!(at, vec![0, 10, 20, 30, 40, 50]);
}

#[test]
fn warm_up_requests_are_sent_but_not_counted() {
    let setup = Setup {
        model: LoadModel::Rate {
            rate: 100.0,
            arrival: Arrival::Uniform,
        },
        warmup_ns: 500 * MS,
        end_ns: 1500 * MS,
        budget: None,
        ..Setup::default()
    };
    let mut sim = Sim::new(&plan(1, 1), setup, always(ok(""), MS));
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!(s.counts.requests, 100);
    assert_eq!(sim.seen.len(), 150);
}

/// Random servers, random load models: the accounting identity always holds, and every write
/// the server sees is a first write or a counted re-send.
fn random_server(seed: u64) -> Server {
    let mut x = seed | 1;
    Box::new(move |_, _| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let delay = (x >> 8) % (5 * MS);
        match x % 20 {
            0 => Reply::Stall,
            1 => Reply::Reset { delay },
            2 => Reply::ThenClose {
                delay,
                bytes: ok(""),
            },
            3 => Reply::Bytes {
                delay,
                bytes: b"HTTP/1.1 garbage\r\n\r\n".to_vec(),
            },
            4 => Reply::Bytes {
                delay,
                bytes: status(503),
            },
            _ => Reply::Bytes {
                delay,
                bytes: ok("fine"),
            },
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn accounting_holds_under_random_events(
        seed in any::<u64>(),
        model in 0u8..4,
        conns in 1usize..6,
        depth in 1usize..5,
        refuse_every in 0u32..4,
    ) {
        let model = match model {
            0 => LoadModel::Closed,
            1 => LoadModel::Rate { rate: 300.0, arrival: Arrival::Poisson },
            2 => LoadModel::Stages {
                stages: vec![Stage { duration: Duration::from_millis(800), level: 400.0 }],
                arrival: Arrival::Uniform,
            },
            _ => LoadModel::Replay { speed: 4.0 },
        };
        // Model 4: each session's steps on two captured connections, one after the other.
        let captured = matches!(model, LoadModel::Replay { .. }) && seed % 2 == 0;
        let mut plan = plan(3, 4);
        for st in plan.sessions.iter_mut().flat_map(|s| s.steps.iter_mut()) {
            st.connection = st.offset_us / 20_000;
        }
        let setup = Setup {
            model,
            captured,
            connections: conns,
            depth,
            end_ns: 800 * MS,
            budget: None,
            timeout: Duration::from_millis(50),
            ..Setup::default()
        };
        let mut sim = Sim::new(&plan, setup, random_server(seed));
        let mut k = 0u32;
        if refuse_every > 0 {
            sim.refuse = Box::new(move |_, _| { k += 1; k.is_multiple_of(refuse_every + 1) });
        }
        let s = sim.run(120 * S);
        let c = s.counts;
        prop_assert_eq!(c.requests, c.ok + c.failed() + c.timed_out + c.in_flight_at_end);
        let per_key: u64 = s.keys.iter().flatten().map(|k| k.counts.requests).sum();
        prop_assert_eq!(per_key, c.requests);
        prop_assert!(sim.seen.len() as u64 <= c.requests + s.resent,
            "{} writes for {} requests and {} re-sends", sim.seen.len(), c.requests, s.resent);
        prop_assert!(sim.shard.is_done());
    }
}

#[test]
fn an_interrupt_stops_sending_and_drains_what_is_in_flight() {
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let setup = Setup {
        budget: None,
        end_ns: 3600 * S,
        depth: 4,
        interrupt: Some(flag.clone()),
        ..Setup::default()
    };
    let f = flag.clone();
    let at = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let at2 = at.clone();
    // 20 ms answers; the interrupt comes with the 200th request.
    let mut n = 0;
    let server: Server = Box::new(move |_, now| {
        n += 1;
        if n == 200 {
            f.store(true, std::sync::atomic::Ordering::Relaxed);
            at2.store(now, std::sync::atomic::Ordering::Relaxed);
        }
        Reply::Bytes {
            delay: 20 * MS,
            bytes: ok(""),
        }
    });
    let mut sim = Sim::new(&plan(1, 3), setup, server);
    let s = sim.run(3600 * S);
    assert_accounted(&s);
    assert!(s.interrupted);
    assert_eq!(s.counts.in_flight_at_end, 0, "everything in flight drained");
    assert_eq!(
        s.counts.ok,
        sim.seen.len() as u64,
        "nothing was sent after the stop"
    );
    assert!(sim.seen.len() <= 200 + 16, "{} requests", sim.seen.len());
    let stop = at.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        sim.now <= stop + 45 * MS,
        "ended once drained: {} ms after the interrupt",
        (sim.now - stop) / MS
    );
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

fn logins(sim: &Sim) -> usize {
    sim.seen
        .iter()
        .filter(|s| s.method == "POST" && s.target == "/auth/token")
        .count()
}

#[test]
fn each_session_logs_in_once_before_its_first_slotted_step() {
    for place in [
        bearer(),
        TokenPlace::Cookie("sid".into()),
        TokenPlace::Query("access_token".into()),
    ] {
        let setup = Setup {
            budget: Some(60),
            ..Setup::default()
        };
        let mut sim = Sim::new(&auth_plan(3, 4, place.clone()), setup, shop(3600));
        let s = sim.run(60 * S);
        assert_accounted(&s);
        assert_eq!(s.counts.ok, 60, "{place:?}: {:?}", s.counts);
        assert_eq!(logins(&sim), 3, "{place:?}: one login per session");
        assert_eq!(s.logins, 3);
        assert_eq!(s.reauth, 0);
        assert_eq!(s.counts.requests, 60, "logins are not in the steps' totals");
        let login_row = s.keys[s.keys.len() - 1].as_ref().expect("login row");
        assert_eq!((login_row.counts.requests, login_row.counts.ok), (3, 3));
        // Every slotted request went out after its session's login answered.
        let first_login_answer = sim
            .seen
            .iter()
            .find(|x| x.target == "/auth/token")
            .unwrap()
            .at;
        assert!(
            sim.seen
                .iter()
                .filter(|x| x.target != "/auth/token")
                .all(|x| x.at >= first_login_answer + MS)
        );
    }
}

#[test]
fn tokens_are_refreshed_ahead_of_expiry_without_a_single_401() {
    // 2 s tokens, 10 s of open loop at 50/s over 2 sessions.
    let setup = Setup {
        model: LoadModel::Rate {
            rate: 50.0,
            arrival: Arrival::Uniform,
        },
        end_ns: 10 * S,
        budget: None,
        ..Setup::default()
    };
    let mut sim = Sim::new(&auth_plan(2, 5, bearer()), setup, shop(2));
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!(s.counts.ok, 500, "{:?}", s.counts);
    assert_eq!(s.status[401], 0);
    // About one login per session per 1.6 s (refresh at 80% of 2 s) over 10 s.
    assert!((10..=16).contains(&s.logins), "{} logins", s.logins);
}

#[test]
fn a_401_leads_to_one_relogin_and_one_resend() {
    // The server forgets every token after 1 s though it announced an hour.
    let server = shop_with(1, 3600);
    let setup = Setup {
        model: LoadModel::Rate {
            rate: 20.0,
            arrival: Arrival::Uniform,
        },
        end_ns: 3 * S,
        budget: None,
        connections: 1,
        ..Setup::default()
    };
    let mut sim = Sim::new(&auth_plan(1, 3, bearer()), setup, server);
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!(s.counts.ok, 60, "{:?}", s.counts);
    assert!(
        (2..=3).contains(&s.reauth),
        "a re-login per forgotten token: {}",
        s.reauth
    );
    assert_eq!(s.logins, 1 + s.reauth);
    assert_eq!(s.keys[0].as_ref().unwrap().reauth, s.reauth);
}

#[test]
fn a_wrong_password_fails_as_auth_and_backs_off_instead_of_storming() {
    let mut plan = auth_plan(2, 3, bearer());
    plan.requests[0].body = b"username=demo&password=wrong".as_slice().into();
    let setup = Setup {
        model: LoadModel::Rate {
            rate: 200.0,
            arrival: Arrival::Uniform,
        },
        end_ns: 10 * S,
        budget: None,
        ..Setup::default()
    };
    let mut sim = Sim::new(&plan, setup, shop(60));
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!(s.counts.ok, 0);
    assert_eq!(s.counts.errors[ErrorClass::Auth as usize], 2000);
    // Back-off 1, 2, 4, 8 s per session: at most 5 logins each in 10 s, not one per request.
    assert!(logins(&sim) <= 10, "{} logins", logins(&sim));
    assert!(
        sim.seen.iter().all(|x| x.target == "/auth/token"),
        "no slotted request goes out without a token"
    );
    let login_row = s.keys[s.keys.len() - 1].as_ref().unwrap();
    assert_eq!(
        login_row.counts.errors[ErrorClass::Auth as usize],
        logins(&sim) as u64
    );
    assert_eq!(
        login_row.offending,
        vec!["the login was refused".to_string()]
    );
}

#[test]
fn users_rows_give_each_session_its_own_account() {
    let mut plan = auth_plan(4, 2, bearer());
    plan.requests[0].body = b"username=x&password=y".as_slice().into();
    let users = Users {
        columns: vec!["username".into(), "password".into()],
        rows: vec![
            vec!["ann".into(), "right".into()],
            vec!["bob".into(), "right".into()],
        ],
    };
    let setup = Setup {
        users: Some(users),
        budget: Some(8),
        ..Setup::default()
    };
    let mut sim = Sim::new(&plan, setup, shop(60));
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!(s.counts.ok, 8);
    let mut bodies: Vec<String> = sim
        .seen
        .iter()
        .filter(|x| x.target == "/auth/token")
        .map(|x| String::from_utf8(x.body.clone()).unwrap())
        .collect();
    bodies.sort();
    assert_eq!(
        bodies,
        [
            "username=ann&password=right",
            "username=ann&password=right",
            "username=bob&password=right",
            "username=bob&password=right"
        ]
    );
}
