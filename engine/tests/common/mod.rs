//! Small in-process HTTP servers for loopback tests (plain, and TLS in `tls`), and a one-request
//! plan.
#![allow(dead_code)]

pub mod tls;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ringload_engine::{RunConfig, Stats, Stop, Target};
use ringload_formats::{Metadata, Plan, PlanBuilder, Request, Session, Step};

/// A plan of one request repeated.
pub fn plan(method: &str, target: &str) -> Plan {
    let mut b = PlanBuilder::new(Metadata::default());
    let label = b.label(&format!("{method} {target}"));
    let id = b.request(Request {
        method: method.into(),
        target: target.into(),
        label,
        ..Request::default()
    });
    b.session(Session {
        steps: vec![Step {
            request: id,
            offset_us: 0,
            connection: 0,
        }],
    });
    b.finish()
}

/// A closed-loop config for `n` requests on `conns` connections against `addr`.
pub fn config(addr: SocketAddr, conns: usize, depth: usize, n: u64) -> RunConfig {
    let mut c = RunConfig::new(Target {
        addr,
        host_header: "test".into(),
        tls: None,
    });
    c.connections = conns;
    c.pipeline = depth;
    c.cpus = vec![ringload_host::allowed_cpus()[0]];
    c.stop = Stop::Requests(n);
    c.timeout = Duration::from_millis(500);
    c.connect_timeout = Duration::from_millis(500);
    c.drain = Duration::from_secs(2);
    c.max_wall = Duration::from_secs(20);
    c
}

/// The accounting identity every run must satisfy.
pub fn assert_accounted(s: &Stats) {
    let c = s.counts;
    assert_eq!(
        c.requests,
        c.ok + c.failed() + c.timed_out + c.in_flight_at_end,
        "requests must equal ok + failed + timed_out + in_flight_at_end: {c:?}"
    );
    let per_key: u64 = s.keys.iter().flatten().map(|k| k.counts.requests).sum();
    assert_eq!(per_key, c.requests, "per-label counts add up to the total");
}

/// Serve each accepted connection with `handler(stream, connection_index)` on its own thread.
/// The acceptor gives up after 30 s so no test can leave it running forever.
pub fn serve<F>(handler: F) -> SocketAddr
where
    F: Fn(TcpStream, usize) + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let handler = Arc::new(handler);
    let count = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    let h = handler.clone();
                    let i = count.fetch_add(1, Ordering::SeqCst);
                    std::thread::spawn(move || h(s, i));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    addr
}

/// Read one request head (our test plans have no bodies); `None` at EOF.
pub fn read_request(s: &mut TcpStream, pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let req: Vec<u8> = pending.drain(..end + 4).collect();
            return Some(req);
        }
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
}

/// Answer every request on the connection with `response`.
pub fn answer_all(mut s: TcpStream, response: &'static [u8]) {
    let mut pending = Vec::new();
    while read_request(&mut s, &mut pending).is_some() {
        if s.write_all(response).is_err() {
            return;
        }
    }
}
