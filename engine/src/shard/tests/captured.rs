//! Captured connections in memory: each captured connection gets a socket of its own, opened
//! when its first step is due and closed right after its last answer, with its steps in order;
//! a cap on open connections makes the rest wait (counted), never lose a request.

use super::*;

/// Captured connections: `(session, connection id, offsets in ms)`; each step requests
/// `/s{session}/c{connection}/k{n}`.
fn flows_plan(flows: &[(usize, u64, &[u64])]) -> Plan {
    let mut b = PlanBuilder::new(Metadata::default());
    let label = b.label("GET /x");
    let sessions = flows.iter().map(|f| f.0).max().map_or(0, |m| m + 1);
    for s in 0..sessions {
        let mut steps: Vec<Step> = flows
            .iter()
            .filter(|f| f.0 == s)
            .flat_map(|&(_, c, offsets)| {
                offsets
                    .iter()
                    .enumerate()
                    .map(move |(k, &ms)| (c, k, ms))
                    .collect::<Vec<_>>()
            })
            .map(|(c, k, ms)| Step {
                request: b.request(Request {
                    method: "GET".into(),
                    target: format!("/s{s}/c{c}/k{k}").into(),
                    label,
                    ..Request::default()
                }),
                offset_us: ms * 1000,
                connection: c,
            })
            .collect();
        steps.sort_by_key(|st| st.offset_us);
        b.session(Session { steps });
    }
    b.finish()
}

fn captured(connections: usize, budget: u64) -> Setup {
    Setup {
        model: LoadModel::Replay { speed: 1.0 },
        connections,
        budget: Some(budget),
        captured: true,
        ..Setup::default()
    }
}

/// The requests each socket carried, in order, by socket.
fn by_socket(sim: &Sim) -> std::collections::BTreeMap<u64, Vec<String>> {
    let mut m: std::collections::BTreeMap<u64, Vec<String>> = Default::default();
    for x in &sim.seen {
        m.entry(x.socket).or_default().push(x.target.clone());
    }
    m
}

/// The requests-per-connection histogram as (value, count) pairs.
fn per_connection(s: &Stats) -> Vec<(u64, u64)> {
    s.conn_requests
        .iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

#[test]
fn each_captured_connection_opens_at_its_first_step_and_closes_after_its_last_answer() {
    // Session 0 used two connections one after the other; session 1 reused id 7, which is
    // its own connection all the same.
    let plan = flows_plan(&[
        (0, 7, &[0, 10, 20]),
        (0, 8, &[100, 110]),
        (1, 7, &[5]),
        (2, 9, &[200, 300, 400, 500]),
    ]);
    let mut sim = Sim::new(&plan, captured(8, 10), always(ok("ok"), MS));
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!((s.counts.requests, s.counts.ok), (10, 10));
    assert_eq!(s.connects, 4, "one connection per captured connection");
    assert_eq!(s.conn_waits, 0);
    let sockets: Vec<Vec<String>> = by_socket(&sim).into_values().collect();
    let path = |s: u64, c: u64, k: u64| format!("/s{s}/c{c}/k{k}");
    assert_eq!(
        sockets,
        vec![
            vec![path(0, 7, 0), path(0, 7, 1), path(0, 7, 2)],
            vec![path(1, 7, 0)],
            vec![path(0, 8, 0), path(0, 8, 1)],
            vec![path(2, 9, 0), path(2, 9, 1), path(2, 9, 2), path(2, 9, 3)],
        ]
    );
    // Opened when its first step was due (the connect takes 0.1 ms here), not before.
    let first: Vec<u64> = sim
        .seen
        .iter()
        .filter(|x| x.target.ends_with("/k0"))
        .map(|x| x.at)
        .collect();
    let connect = 100_000;
    assert_eq!(
        first,
        vec![0, 5 * MS, 100 * MS, 200 * MS]
            .into_iter()
            .map(|t| t + connect)
            .collect::<Vec<_>>()
    );
    // Closed right after its last answer (the server takes 1 ms).
    let mut closes = sim.closes.clone();
    closes.sort();
    let last_sent: Vec<u64> = by_socket(&sim)
        .keys()
        .map(|&sock| sim.seen.iter().rev().find(|x| x.socket == sock).unwrap().at)
        .collect();
    assert_eq!(closes.len(), 4, "{closes:?}");
    for ((_, closed), sent) in closes.iter().zip(&last_sent) {
        assert_eq!(*closed, sent + MS, "{closes:?} {last_sent:?}");
    }
    assert_eq!(per_connection(&s), vec![(1, 1), (2, 1), (3, 1), (4, 1)]);
}

#[test]
fn beyond_the_cap_captured_connections_wait_for_a_free_one() {
    // Four connections overlapping in time, two allowed open at once.
    let plan = flows_plan(&[
        (0, 1, &[0, 50]),
        (1, 1, &[10, 60]),
        (2, 1, &[20, 70]),
        (3, 1, &[30]),
    ]);
    let mut sim = Sim::new(&plan, captured(2, 7), always(ok(""), MS));
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!(s.counts.ok, 7, "{:?}", s.counts);
    assert_eq!(s.dropped, 0);
    assert_eq!(s.conn_waits, 2, "the third and fourth waited");
    assert!(sim.max_open <= 2, "{} open at once", sim.max_open);
    assert_eq!(s.connects, 4);
    // Each still carried its own steps, in order, on one socket.
    for reqs in by_socket(&sim).values() {
        let session = reqs[0].split('/').nth(1).unwrap().to_string();
        assert!(reqs.iter().all(|r| r.contains(&format!("/{session}/"))));
        let mut sorted = reqs.clone();
        sorted.sort();
        assert_eq!(&sorted, reqs);
    }
    // The waiting ones were late, and their latency shows it (from the intended time).
    assert!(s.latency.max() >= 20_000, "{}", s.latency.max());
}

#[test]
fn a_server_close_mid_connection_reopens_it_for_the_rest() {
    let server: Server = Box::new(|_, _| Reply::ThenClose {
        delay: MS,
        bytes: b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".to_vec(),
    });
    let plan = flows_plan(&[(0, 3, &[0, 10, 20])]);
    let mut sim = Sim::new(&plan, captured(4, 3), server);
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!(s.counts.ok, 3);
    assert_eq!(
        s.connects, 3,
        "the client reconnects as the captured one would have"
    );
    assert_eq!(s.resent, 0);
}

#[test]
fn past_the_queue_limit_steps_are_dropped_and_counted_and_connections_still_close() {
    // A slow server, one request in flight: the connection's queue fills up.
    let offsets: Vec<u64> = (0..50).collect();
    let plan = flows_plan(&[(0, 1, &offsets)]);
    let setup = Setup {
        queue_limit: 3,
        ..captured(1, 50)
    };
    let mut sim = Sim::new(&plan, setup, always(ok(""), 20 * MS));
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert!(s.dropped > 30, "{}", s.dropped);
    assert_eq!(
        s.counts.requests + s.dropped,
        50,
        "every step accounted once"
    );
    assert_eq!(s.counts.ok, s.counts.requests);
    assert_eq!(sim.closes.len(), 1, "closed after its last answer");
}

#[test]
fn a_session_logs_in_on_its_own_captured_connection() {
    let mut plan = auth_plan(2, 3, bearer());
    for (s, sess) in plan.sessions.iter_mut().enumerate() {
        for (k, st) in sess.steps.iter_mut().enumerate() {
            st.offset_us = (s as u64 * 5 + k as u64 * 10) * 1000;
            st.connection = 40 + s as u64;
        }
    }
    let mut sim = Sim::new(&plan, captured(4, 6), shop(3600));
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!(s.counts.ok, 6, "{:?}", s.counts);
    assert_eq!(s.connects, 2);
    for reqs in by_socket(&sim).values() {
        assert_eq!(reqs[0], "/auth/token", "{reqs:?}");
        assert_eq!(reqs.len(), 4, "{reqs:?}");
    }
}

#[test]
fn an_unreachable_target_is_given_up_with_every_captured_step_accounted() {
    let plan = flows_plan(&[(0, 1, &[0, 10]), (1, 2, &[5])]);
    let mut sim = Sim::new(&plan, captured(4, 3), always(ok(""), MS));
    sim.refuse = Box::new(|_, _| true);
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert!(s.gave_up);
    assert_eq!(s.counts.requests, 3);
    assert_eq!(s.counts.in_flight_at_end, 3);
    assert_eq!(s.connects, 0);
}
