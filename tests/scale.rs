//! Connection scale against a real nginx: 15,000 connections on one executor open, carry
//! load for 10 s with no error, and every request is accounted for and seen by nginx once.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;

use util::nginx::Nginx;
use util::{read_json, ringload};

/// nginx's request counter (`stub_status`), this query included.
fn served(n: &Nginx) -> u64 {
    let mut s = TcpStream::connect(n.addr).unwrap();
    s.write_all(b"GET /status HTTP/1.0\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    // "server accepts handled requests\n A B C"
    let line = body
        .lines()
        .skip_while(|l| !l.starts_with("server accepts"))
        .nth(1)
        .unwrap_or_else(|| panic!("stub_status: {body}"));
    line.split_whitespace()
        .nth(2)
        .unwrap()
        .parse::<u64>()
        .unwrap()
}

#[test]
fn fifteen_thousand_connections_carry_load_with_every_request_accounted_for() {
    const CONNS: usize = 15_000;
    // SAFETY: getrlimit into a struct we own.
    let hard = unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_max
    };
    assert!(
        hard >= CONNS as u64 + 100,
        "this machine's hard open-files limit ({hard}) is below the {CONNS} connections this \
         test needs: raise it (e.g. `ulimit -Hn 20000` as root) before running the tests"
    );
    // nginx starts closing idle keep-alive connections ("worker_connections are not enough,
    // reusing connections") well before its count is reached: give it twice as many.
    let n = Nginx::start_sized(
        2 * CONNS,
        "backlog=16384",
        "keepalive_requests 1000000000; keepalive_timeout 300s;",
        "location = /ok { return 200 \"ok\"; } location = /status { stub_status; }",
    );
    let dir = tempfile::tempdir().unwrap();
    let plan = util::targets_plan(dir.path(), "GET http://x/ok");
    let before = served(&n);
    let out = dir.path().join("r.json");
    let r = ringload([
        "run",
        &plan,
        "--target",
        &n.url(),
        "-c",
        &CONNS.to_string(),
        "--threads",
        "1",
        "-d",
        "10s",
        "--timeout",
        "20s",
        "-q",
        "-o",
        out.to_str().unwrap(),
    ]);
    r.assert_ok();
    let after = served(&n);
    let v = read_json(&out);
    let s = &v["summary"];
    assert_eq!(s["connections_opened"], CONNS as u64, "{}", r.stdout);
    assert_eq!(s["errors"]["connect"], 0, "{}", r.stdout);
    assert_eq!(s["failed"], 0, "{}", r.stdout);
    assert_eq!(s["timed_out"], 0, "{}", r.stdout);
    assert_eq!(s["in_flight_at_end"], 0, "{}", r.stdout);
    let requests = s["requests"].as_u64().unwrap();
    assert_eq!(s["ok"].as_u64().unwrap(), requests);
    assert!(
        requests > CONNS as u64,
        "every connection carried load: {requests}"
    );
    // The second status query is in `after`.
    assert_eq!(after - before - 1, requests, "nginx saw every request once");
}
