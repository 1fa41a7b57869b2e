//! Load models and the run's window: open loop on schedule (and queueing against a slow
//! server), stages, replay at the captured offsets, warm-up sent but not counted, and an
//! interrupt that stops sending and drains what is in flight.

use std::sync::Arc;
use std::time::Duration;

use super::{MS, Reply, S, Server, Setup, Sim, always, assert_accounted, ok, plan};
use crate::config::{Arrival, LoadModel, Stage};

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

/// `--precision`: due sends wait until the earliest is `precision` late, then go out together,
/// whether the shard is awake for responses or not (they arrive all the time here): every send
/// is late by at most the window, about half of it on average. Without the window, each send
/// goes out when due.
#[test]
fn open_loop_sends_due_within_the_precision_window_go_out_together() {
    let lag_of = |precision: Duration| {
        let setup = Setup {
            model: LoadModel::Rate {
                rate: 20_000.0,
                arrival: Arrival::Uniform,
            },
            connections: 64,
            end_ns: S,
            budget: None,
            precision,
            ..Setup::default()
        };
        // 370 us per answer: responses arrive between the windows' ends.
        let mut sim = Sim::new(&plan(2, 3), setup, always(ok(""), 370 * MS / 1000));
        let s = sim.run(60 * S);
        assert_accounted(&s);
        assert_eq!((s.counts.requests, s.counts.ok), (20_000, 20_000));
        (s.lag.value_at_quantile(0.5), s.lag.max())
    };
    let (p50, max) = lag_of(Duration::from_micros(500));
    assert!((200..=300).contains(&p50), "lag p50 {p50} us");
    assert!((490..=501).contains(&max), "lag max {max} us");
    assert_eq!(lag_of(Duration::ZERO), (1, 1));
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
