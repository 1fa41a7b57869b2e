//! Production-shaped traffic against a real nginx that logs `$connection`: a capture of many
//! short connections replayed with `--connections captured` reaches nginx as the same
//! connections carrying the same number of requests, and `--clone 3` sends three times the
//! requests with fresh request ids and ids rewritten consistently within each copy.
//! `--requests-per-connection N` asks for the close on each connection's last request, so nginx
//! closes first and keeps the TIME_WAIT, not ringload's ephemeral port.

mod util;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use util::nginx::Nginx;
use util::ringload;

/// The capture (see recorder/tests/fixtures/README.md): 75 requests on 30 connections, 8 with
/// one request, 7 with two, 7 with three, 8 with four (tshark's and nginx's counts).
const FIXTURE: &str = "recorder/tests/fixtures/churn_short_connections.pcap";
const REQUESTS: usize = 75;
const CONNECTIONS: usize = 30;
const SHAPE: [usize; 5] = [0, 8, 7, 7, 8];

/// nginx logging, per request, its connection's serial number and request count, the URI and
/// the `x-request-id`.
fn nginx() -> Nginx {
    Nginx::start(
        "log_format shape '$connection $connection_requests $request_uri $http_x_request_id';",
        "access_log shape.log shape; location / { default_type text/plain; return 200 'ok'; }",
    )
}

struct Line {
    connection: u64,
    requests: usize,
    uri: String,
    request_id: String,
}

fn log(ng: &Nginx) -> Vec<Line> {
    std::fs::read_to_string(ng.dir.path().join("shape.log"))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Line {
                connection: f[0].parse().unwrap(),
                requests: f[1].parse().unwrap(),
                uri: f[2].to_string(),
                request_id: f[3].to_string(),
            }
        })
        .collect()
}

/// Connections by the number of requests they carried (`shape[n]`: connections with n).
fn shape(lines: &[Line]) -> Vec<usize> {
    let mut per: HashMap<u64, usize> = HashMap::new();
    for l in lines {
        let e = per.entry(l.connection).or_default();
        *e = (*e).max(l.requests);
    }
    let mut s = vec![0; 5];
    for n in per.values() {
        s[*n] += 1;
    }
    s
}

fn plan(dir: &Path) -> String {
    let p = dir.join("churn.plan");
    ringload([
        "record",
        "--pcap",
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(FIXTURE)
            .display()
            .to_string(),
        "-o",
        p.to_str().unwrap(),
    ])
    .assert_ok();
    p.display().to_string()
}

fn run(ng: &Nginx, plan: &str, out: &Path, extra: &[&str]) -> serde_json::Value {
    let url = ng.url();
    let mut args = vec![
        "run",
        plan,
        "--target",
        &url,
        "--speed",
        "4",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ];
    args.extend_from_slice(extra);
    let r = ringload(&args);
    r.assert_ok();
    let v = util::read_json(out);
    util::assert_result_schema(&v);
    v
}

#[test]
fn captured_connections_reach_nginx_as_they_were_captured() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(dir.path());
    let n = REQUESTS.to_string();
    // Two executors; then one connection open at a time (the second of each pair waits).
    for (cap, threads) in [("captured", "2"), ("captured:1", "1")] {
        let ng = nginx();
        let out = dir.path().join("r.json");
        let v = run(
            &ng,
            &plan,
            &out,
            &["-c", cap, "--threads", threads, "-n", &n],
        );
        let lines = log(&ng);
        assert_eq!(lines.len(), REQUESTS, "{cap}");
        assert_eq!(
            shape(&lines),
            SHAPE,
            "{cap}: connections by requests carried"
        );
        let s = &v["summary"];
        assert_eq!(s["ok"], REQUESTS as u64, "{cap}: {s}");
        assert_eq!(s["connections_opened"], CONNECTIONS as u64, "{cap}");
        assert_eq!(s["requests_per_connection"]["max"], 4, "{cap}");
        assert_eq!(s["requests_per_connection"]["mean"], 2.5, "{cap}");
        assert!(s["connections_per_s"].as_f64().unwrap() > 0.0, "{cap}");
        let waits = s["connection_waits"].as_u64().unwrap();
        if cap == "captured:1" {
            assert!(waits > 0, "pairs overlap: the second waits ({s})");
        } else {
            assert_eq!(waits, 0, "{s}");
        }
        assert!(
            v["run"]["load"]
                .as_str()
                .unwrap()
                .contains("captured connections")
        );
    }
}

#[test]
fn three_clones_send_three_times_with_fresh_consistent_ids() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(dir.path());
    // The captured request ids, as sent without clones.
    let ng = nginx();
    let n = REQUESTS.to_string();
    run(
        &ng,
        &plan,
        &dir.path().join("a.json"),
        &["-c", "captured", "-n", &n],
    );
    let captured_ids: HashSet<String> = log(&ng).into_iter().map(|l| l.request_id).collect();
    assert_eq!(captured_ids.len(), REQUESTS);
    let ng = nginx();
    let n = (3 * REQUESTS).to_string();
    let v = run(
        &ng,
        &plan,
        &dir.path().join("b.json"),
        // A fixed seed: ids keep their length, and 30 draws of a 4-digit user id collide about
        // one run in twenty; this seed's draws are distinct.
        &[
            "-c",
            "captured",
            "--clone",
            "3",
            "--fresh-ids",
            "--id-seed",
            "1",
            "-n",
            &n,
        ],
    );
    assert_eq!(v["summary"]["ok"], 3 * REQUESTS as u64);
    let lines = log(&ng);
    assert_eq!(lines.len(), 3 * REQUESTS, "three times the requests");
    assert_eq!(
        shape(&lines),
        SHAPE.iter().map(|n| 3 * n).collect::<Vec<_>>(),
        "each copy of each captured connection on a connection of its own"
    );
    let ids: HashSet<&str> = lines.iter().map(|l| l.request_id.as_str()).collect();
    assert_eq!(ids.len(), 3 * REQUESTS, "no request id repeated");
    assert!(
        ids.iter()
            .all(|id| id.len() == 36 && !captured_ids.contains(*id))
    );
    // Per connection: one order UUID and one user id (the copy's); each order in one
    // connection only (90 in all), each user in the three connections of its copy.
    let mut orders: BTreeMap<u64, HashSet<String>> = BTreeMap::new();
    let mut users: BTreeMap<u64, HashSet<String>> = BTreeMap::new();
    for l in &lines {
        let parts: Vec<&str> = l.uri.split('/').collect();
        match parts.as_slice() {
            ["", "api", "v1", "users", user, "orders", order] => {
                users
                    .entry(l.connection)
                    .or_default()
                    .insert(user.to_string());
                orders
                    .entry(l.connection)
                    .or_default()
                    .insert(order.to_string());
            }
            ["", "api", "v1", "orders", order, "items"] => {
                orders
                    .entry(l.connection)
                    .or_default()
                    .insert(order.to_string());
            }
            _ => panic!("unexpected {}", l.uri),
        }
    }
    assert!(orders.values().all(|o| o.len() == 1), "{orders:?}");
    assert!(users.values().all(|u| u.len() == 1), "{users:?}");
    let distinct_orders: HashSet<&String> = orders.values().flatten().collect();
    assert_eq!(distinct_orders.len(), 3 * CONNECTIONS);
    let mut connections_of_user: HashMap<&String, usize> = HashMap::new();
    for u in users.values().flatten() {
        *connections_of_user.entry(u).or_default() += 1;
    }
    assert_eq!(connections_of_user.len(), 3 * 10, "10 users x 3 copies");
    assert!(
        connections_of_user.values().all(|&n| n == 3),
        "{connections_of_user:?}"
    );
}

#[test]
fn compare_replays_captured_connections_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(dir.path());
    let ng = nginx();
    let out = dir.path().join("c.json");
    let n = REQUESTS.to_string();
    let r = ringload([
        "compare",
        &plan,
        "--baseline",
        &ng.url(),
        "--candidate",
        &ng.url(),
        "--rounds",
        "2",
        "-c",
        "captured",
        "--speed",
        "4",
        "-n",
        &n,
        "-q",
        "-o",
        out.to_str().unwrap(),
    ]);
    r.assert_ok();
    let v = util::read_json(&out);
    for side in ["baseline", "candidate"] {
        let s = &v[side]["summary"];
        assert_eq!(
            s["connections_opened"],
            2 * CONNECTIONS as u64,
            "{side}: {s}"
        );
        assert_eq!(s["requests_per_connection"]["max"], 4, "{side}");
    }
    assert_eq!(
        shape(&log(&ng)),
        SHAPE.iter().map(|n| 4 * n).collect::<Vec<_>>()
    );
}

#[test]
fn shape_options_are_refused_where_they_cannot_apply() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(dir.path());
    let go = |extra: &[&str]| {
        let mut args = vec!["run", &plan, "--target", "http://127.0.0.1:9"];
        args.extend_from_slice(extra);
        ringload(args)
    };
    go(&["-c", "captured", "--rate", "10"]).assert_bad_input("not --rate or --stages");
    go(&["--clone", "1001"]).assert_bad_input("--clone 1001: between 1 and 1000");
    go(&["-c", "captured:0"]).assert_bad_input("--connections captured:0");
    go(&["--id-seed", "1"]).assert_bad_input("--id-seed seeds the ids of --clone");
    let r = go(&["-c", "many"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("\"many\" is not a number"),
        "{}",
        r.stderr
    );
}

/// TIME_WAIT sockets of connections to `port` on loopback: (the server's side, the clients').
fn time_waits(port: u16) -> (usize, usize) {
    let hex = format!(":{port:04X}");
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let (mut server, mut client) = (0, 0);
    for l in tcp.lines().skip(1) {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() > 3 && f[3] == "06" {
            server += usize::from(f[1].ends_with(&hex));
            client += usize::from(f[2].ends_with(&hex));
        }
    }
    (server, client)
}

#[test]
fn the_last_request_of_each_connection_asks_nginx_to_close() {
    let ng = Nginx::start(
        "log_format close '$connection $connection_requests $http_connection';",
        "access_log close.log close; location / { return 200 'ok'; }",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let url = format!("{}/x", ng.url());
    let r = ringload([
        "run",
        &url,
        "-c",
        "4",
        "-n",
        "300",
        "--requests-per-connection",
        "3",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    r.assert_ok();
    let v = util::read_json(&out);
    let s = &v["summary"];
    assert_eq!(s["ok"], 300, "{s}");
    // A connection closed while the last requests were still queued reopens, and may then
    // find them taken by the others: up to one such per connection.
    let opened = s["connections_opened"].as_u64().unwrap();
    assert!((100..=104).contains(&opened), "{s}");
    assert_eq!(
        s["server_closes"], 0,
        "asked for, so not counted as the server's: {s}"
    );
    // Each connection's third request, and only it, says `Connection: close`; at the end of the
    // budget the last connections carry fewer and are closed by ringload.
    let log = std::fs::read_to_string(ng.dir.path().join("close.log")).unwrap();
    let mut thirds = 0;
    for l in log.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        let want = if f[1] == "3" { "close" } else { "-" };
        assert_eq!(f[2], want, "{l}");
        thirds += usize::from(f[1] == "3");
    }
    assert_eq!(log.lines().count(), 300);
    assert!(thirds >= 95, "{thirds} connections carried 3 requests");
    // nginx closed first: the TIME_WAITs are on its port's side (a close racing the server's
    // FIN may leave a few on ringload's).
    let (server, client) = time_waits(ng.addr.port());
    assert!(
        server >= thirds - 5 && client <= 10,
        "TIME_WAIT server {server}, client {client}"
    );
}
