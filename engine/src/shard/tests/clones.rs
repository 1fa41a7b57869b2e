//! Cloned sessions in memory: N copies of each session, each with fresh header ids per request,
//! its own item ids when asked, and its own `--users` row.

use std::collections::{HashMap, HashSet};

use super::*;
use crate::config::Cloning;

/// One session on connection 1: `GET /orders/{uuid}` then `GET /orders/{uuid}/items`, 10 ms
/// apart, both in one captured trace, each with a captured `x-request-id`.
fn orders_plan() -> Plan {
    let mut b = PlanBuilder::new(Metadata::default());
    let label = b.label("GET /orders/:id");
    let uuid = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let steps = ["", "/items"]
        .iter()
        .enumerate()
        .map(|(k, tail)| Step {
            request: b.request(Request {
                method: "GET".into(),
                target: format!("/orders/{uuid}{tail}").into(),
                headers: vec![
                    ("x-request-id".into(), format!("captured-{k}").into()),
                    (
                        "traceparent".into(),
                        format!("00-{trace}-00f067aa0ba902b{k}-01").into(),
                    ),
                ],
                label,
                ..Request::default()
            }),
            offset_us: k as u64 * 10_000,
            connection: 1,
        })
        .collect();
    b.session(Session { steps });
    b.finish()
}

fn cloned(plan: &Plan, copies: u32, fresh_ids: bool) -> Plan {
    crate::clone::expand(
        plan,
        &Cloning {
            copies,
            fresh_ids,
            seed: 11,
        },
    )
    .unwrap()
}

#[test]
fn three_copies_send_three_times_with_fresh_ids_consistent_within_each() {
    let plan = cloned(&orders_plan(), 3, true);
    let setup = Setup {
        model: LoadModel::Replay { speed: 1.0 },
        budget: Some(6),
        captured: true,
        fresh_ids: true,
        ..Setup::default()
    };
    let mut sim = Sim::new(&plan, setup, always(ok(""), MS));
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!(s.counts.ok, 6);
    assert_eq!(s.connects, 3, "each copy on its own connection");
    let request_ids: HashSet<&str> = sim
        .seen
        .iter()
        .map(|x| x.header("x-request-id").unwrap())
        .collect();
    assert_eq!(request_ids.len(), 6, "no request id repeated");
    assert!(request_ids.iter().all(|id| id.len() == 36));
    // Per copy (socket): one order id and one trace in both steps; none shared between copies.
    let mut per_copy: HashMap<u64, (HashSet<String>, HashSet<String>)> = HashMap::new();
    for x in &sim.seen {
        let e = per_copy.entry(x.socket).or_default();
        e.0.insert(x.target.split('/').nth(2).unwrap().to_string());
        e.1.insert(x.header("traceparent").unwrap()[3..35].to_string());
    }
    assert_eq!(per_copy.len(), 3);
    let mut orders = HashSet::new();
    let mut traces = HashSet::new();
    for (ids, ts) in per_copy.values() {
        assert_eq!((ids.len(), ts.len()), (1, 1), "{ids:?} {ts:?}");
        assert!(orders.insert(ids.iter().next().unwrap().clone()));
        assert!(traces.insert(ts.iter().next().unwrap().clone()));
    }
    // The copies start a third of the session's 10 ms span apart.
    let firsts: Vec<u64> = sim
        .seen
        .iter()
        .filter(|x| !x.target.ends_with("/items"))
        .map(|x| x.at / 100_000)
        .collect();
    assert_eq!(firsts, vec![1, 34, 67], "in 0.1 ms");
}

#[test]
fn each_copy_logs_in_as_its_own_user() {
    let plan = cloned(&auth_plan(2, 2, bearer()), 3, false);
    let users = Users {
        columns: vec!["username".into()],
        rows: (0..6).map(|i| vec![format!("user{i}")]).collect(),
    };
    let setup = Setup {
        budget: Some(12),
        users: Some(users),
        ..Setup::default()
    };
    let mut sim = Sim::new(&plan, setup, shop(3600));
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!(s.counts.ok, 12, "{:?}", s.counts);
    let logged_in: HashSet<String> = sim
        .seen
        .iter()
        .filter(|x| x.target == "/auth/token")
        .map(|x| String::from_utf8_lossy(&x.body).to_string())
        .collect();
    assert_eq!(logged_in.len(), 6, "{logged_in:?}");
}
