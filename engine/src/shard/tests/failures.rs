//! A server or target that fails: stalled requests time out at their deadline and their
//! connections are renewed, a target that refuses every connection is given up with everything
//! counted, and reconnects back off until it comes back.

use super::{MS, Reply, S, Server, Setup, Sim, always, assert_accounted, ok, plan};

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
