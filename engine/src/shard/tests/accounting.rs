//! The accounting identity: every request released ends in exactly one outcome, a close
//! mid-pipeline re-sends what it left unanswered (counted), and random servers under random load
//! models never break `requests == ok + failed + timed_out + in_flight_at_end`.

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;

use super::{MS, Reply, S, Server, Setup, Sim, always, assert_accounted, ok, plan, status};
use crate::config::{Arrival, LoadModel, Stage};

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
        ok_or_close((*n).is_multiple_of(3))
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

/// An answer after 1 ms; with `close`, saying `Connection: close`, then the server's close.
fn ok_or_close(close: bool) -> Reply {
    if close {
        Reply::ThenClose {
            delay: MS,
            bytes: b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".to_vec(),
        }
    } else {
        Reply::Bytes {
            delay: MS,
            bytes: ok("ok"),
        }
    }
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

/// `--requests-per-connection 2`: the second request on each socket says `Connection: close`,
/// the server answers and closes, and the client never closes first (so the server, not the
/// client's ephemeral port, keeps the TIME_WAIT).
#[test]
fn the_last_request_per_connection_asks_the_server_to_close_first() {
    let server: Server =
        Box::new(|seen, _| ok_or_close(seen.header("connection") == Some("close")));
    let setup = Setup {
        connections: 2,
        budget: Some(40),
        requests_per_connection: Some(2),
        ..Setup::default()
    };
    let mut sim = Sim::new(&plan(1, 5), setup, server);
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!(s.counts.ok, 40, "{:?}", s.counts);
    let closing: Vec<bool> = sim
        .seen
        .iter()
        .map(|r| r.header("connection") == Some("close"))
        .collect();
    assert_eq!(
        closing.iter().filter(|c| **c).count(),
        20,
        "every second one"
    );
    assert_eq!(
        s.connects, 20,
        "no connection opened once the budget was out"
    );
    assert_eq!(s.server_closes, 0, "asked for: not the server's doing");
    assert_eq!(s.resent, 0);
    // The run's end closes what is still open; before it, no socket was closed by the client.
    let end = sim.closes.iter().map(|c| c.1).max().unwrap_or(0);
    assert!(
        sim.closes.iter().all(|c| c.1 == end),
        "the client closed first: {:?}",
        sim.closes
    );
}

/// A server that says `Connection: close` and never closes: the client closes after the grace
/// (half the request timeout here); the pipelined requests behind the answer are sent again on
/// another connection, none timed out.
#[test]
fn an_announced_close_that_never_comes_is_done_by_the_client() {
    let mut count: HashMap<u32, u32> = HashMap::new();
    let server: Server = Box::new(move |seen, _| {
        let n = count.entry(seen.conn).or_default();
        *n += 1;
        let close = if *n == 2 { "Connection: close\r\n" } else { "" };
        Reply::Bytes {
            delay: MS,
            bytes: format!("HTTP/1.1 200 OK\r\n{close}Content-Length: 0\r\n\r\n").into_bytes(),
        }
    });
    let setup = Setup {
        depth: 4,
        connections: 2,
        budget: Some(30),
        timeout: Duration::from_millis(400),
        ..Setup::default()
    };
    let mut sim = Sim::new(&plan(1, 5), setup, server);
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!(s.counts.ok, 30, "{:?}", s.counts);
    assert_eq!(s.counts.timed_out, 0);
    assert!(
        s.resent > 0,
        "requests behind the announcing answer were sent again"
    );
    assert!(s.server_closes > 0);
    // The first announcing answer came at ~2 ms; its socket was closed by the client at the
    // grace, 200 ms (half the timeout), not at once.
    let first = sim
        .closes
        .iter()
        .map(|c| c.1)
        .min()
        .expect("the client closed");
    assert!((200 * MS..210 * MS).contains(&first), "{first}");
}

/// A connection ending after a `Connection: close` answer leaves the open count at once: the
/// closed loop releases no request that must wait for the server's close, a reconnect and a
/// 5 ms connect (latency would be ~6 ms instead of the 1 ms service time).
#[test]
fn an_ending_connection_is_not_counted_as_room_for_new_requests() {
    let server: Server =
        Box::new(|seen, _| ok_or_close(seen.header("connection") == Some("close")));
    let setup = Setup {
        connections: 4,
        budget: Some(40),
        requests_per_connection: Some(1),
        ..Setup::default()
    };
    let mut sim = Sim::new(&plan(1, 5), setup, server);
    sim.connect_delay = 5 * MS;
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!(s.counts.ok, 40, "{:?}", s.counts);
    assert_eq!(s.connects, 40, "one per request, none left over");
    assert!(
        s.latency.max() <= 1_100,
        "latency max {} us, service max {} us",
        s.latency.max(),
        s.service.max()
    );
}
