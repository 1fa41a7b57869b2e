//! The steady state allocates nothing per request: two runs that differ only in their request
//! count make the same number of heap allocations (to within a few), so the cost per extra
//! request is zero. Allocations of the test server's threads are not counted.
//!
//! Over TLS, rustls 0.23 itself allocates once per record it encrypts
//! (`CommonState::write_fragments` encodes each record into a fresh `Vec`) and once per record
//! it decrypts (even the unbuffered `ReadTraffic::next_record` pops a `Vec` that
//! `take_received_plaintext` filled). Nothing ringload controls can avoid those: the test
//! measures them on rustls alone and asserts ringload adds nothing per request on top (measured
//! here: 2.00 per request at depth 1, one record each way; 0.125 at depth 16, one each way per
//! batch of 16).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ringload_engine::{RunConfig, Stop, Target, run};
use ringload_formats::{Metadata, PlanBuilder, Request, Session, Step};

mod common;

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static IGNORED: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if !IGNORED.try_with(Cell::get).unwrap_or(true) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if !IGNORED.try_with(Cell::get).unwrap_or(true) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// The counter is global: one measuring test at a time.
static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A keep-alive server that answers every request head without allocating per request.
fn server() -> std::net::SocketAddr {
    server_with(&[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
}

/// The same, answering with `replies` in turn on each connection.
fn server_with(replies: &'static [&'static [u8]]) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        IGNORED.with(|c| c.set(true));
        for s in l.incoming().take(64) {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                IGNORED.with(|c| c.set(true));
                let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
                let longest = replies.iter().map(|r| r.len()).max().unwrap_or(0);
                let mut buf = [0u8; 16384];
                let mut out = [0u8; 16384];
                let mut tail = 0u32; // last bytes seen, to find \r\n\r\n across reads
                let mut next = 0;
                loop {
                    let n = match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let mut k = 0;
                    for &b in &buf[..n] {
                        tail = (tail << 8) | u32::from(b);
                        if tail == 0x0d0a_0d0a {
                            let r = replies[next % replies.len()];
                            next += 1;
                            out[k..k + r.len()].copy_from_slice(r);
                            k += r.len();
                            if k + longest > out.len() {
                                if s.write_all(&out[..k]).is_err() {
                                    return;
                                }
                                k = 0;
                            }
                        }
                    }
                    if k > 0 && s.write_all(&out[..k]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Records a TLS server received and sent.
#[derive(Default)]
struct Records {
    received: AtomicU64,
    sent: AtomicU64,
}

/// The same server over TLS (rustls, blocking), counting records: each piece of plaintext
/// read is one record received (a read may join two, so this can only undercount), each batch
/// of answers written is one record sent (a batch is far below the 16 KiB record limit).
fn tls_server(
    config: std::sync::Arc<rustls::ServerConfig>,
) -> (std::net::SocketAddr, std::sync::Arc<Records>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let records = std::sync::Arc::new(Records::default());
    let counted = records.clone();
    std::thread::spawn(move || {
        IGNORED.with(|c| c.set(true));
        for s in l.incoming().take(64) {
            let Ok(mut s) = s else { return };
            let (config, counted) = (config.clone(), counted.clone());
            std::thread::spawn(move || {
                IGNORED.with(|c| c.set(true));
                let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
                let _ = s.set_nodelay(true);
                let mut conn = rustls::ServerConnection::new(config).unwrap();
                const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                let mut plain = [0u8; 16384];
                let mut out = Vec::new();
                let mut tail = 0u32;
                let mut cipher = Vec::new();
                loop {
                    if conn.read_tls(&mut s).map_or(true, |n| n == 0) {
                        return;
                    }
                    let Ok(st) = conn.process_new_packets() else {
                        return;
                    };
                    let _ = st;
                    loop {
                        let n = match conn.reader().read(&mut plain) {
                            Ok(0) => return,
                            Ok(n) => n,
                            Err(_) => break,
                        };
                        counted.received.fetch_add(1, Ordering::Relaxed);
                        for &b in &plain[..n] {
                            tail = (tail << 8) | u32::from(b);
                            if tail == 0x0d0a_0d0a {
                                out.extend_from_slice(RESP);
                            }
                        }
                    }
                    if !out.is_empty() {
                        let _ = conn.writer().write_all(&out);
                        counted.sent.fetch_add(1, Ordering::Relaxed);
                        out.clear();
                    }
                    cipher.clear();
                    while conn.wants_write() {
                        let _ = conn.write_tls(&mut cipher);
                    }
                    if !cipher.is_empty() && s.write_all(&cipher).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, records)
}

fn allocations_for(n: u64, addr: std::net::SocketAddr) -> u64 {
    allocations_with(n, addr, None, 8)
}

fn allocations_with(
    n: u64,
    addr: std::net::SocketAddr,
    tls: Option<ringload_engine::tls::TlsOptions>,
    depth: usize,
) -> u64 {
    allocations_of(n, addr, tls, depth, None)
}

/// Allocations of a run of `n` requests that all succeed; with `cloning`, the requests carry
/// request and trace ids that are written fresh at every send.
fn allocations_of(
    n: u64,
    addr: std::net::SocketAddr,
    tls: Option<ringload_engine::tls::TlsOptions>,
    depth: usize,
    cloning: Option<ringload_engine::Cloning>,
) -> u64 {
    let (allocs, s) = run_counting(n, addr, tls, depth, cloning);
    assert_eq!(s.counts.ok, n);
    allocs
}

/// Allocations of a run of `n` requests, and its stats.
fn run_counting(
    n: u64,
    addr: std::net::SocketAddr,
    tls: Option<ringload_engine::tls::TlsOptions>,
    depth: usize,
    cloning: Option<ringload_engine::Cloning>,
) -> (u64, ringload_engine::Stats) {
    let mut b = PlanBuilder::new(Metadata::default());
    let label = b.label("GET /");
    let canary = b.segment("canary");
    let ids: Vec<u32> = (0..4)
        .map(|i| {
            b.request(Request {
                method: "GET".into(),
                target: format!("/r/{i}").into(),
                headers: vec![
                    ("x-request-id".into(), format!("r{i}").into()),
                    (
                        "traceparent".into(),
                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
                    ),
                ],
                label,
                segment: (i % 2 == 0).then_some(canary),
                ..Request::default()
            })
        })
        .collect();
    b.session(Session {
        steps: ids
            .iter()
            .map(|&request| Step {
                request,
                offset_us: 0,
                connection: 0,
            })
            .collect(),
    });
    let plan = b.finish();
    let mut cfg = RunConfig::new(Target {
        addr,
        host_header: "t".into(),
        tls,
    });
    cfg.connections = 4;
    cfg.pipeline = depth;
    cfg.cpus = vec![ringload_host::allowed_cpus()[0]];
    cfg.stop = Stop::Requests(n);
    cfg.cloning = cloning;
    let before = ALLOCS.load(Ordering::SeqCst);
    let s = run(&plan, &cfg).unwrap();
    (ALLOCS.load(Ordering::SeqCst) - before, s)
}

#[test]
fn no_allocation_per_request_in_steady_state() {
    let _one = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let addr = server();
    // Warm up once (lazy statics, thread pools), then compare a short and a long run.
    allocations_for(1_000, addr);
    let short = allocations_for(2_000, addr);
    let long = allocations_for(40_000, addr);
    let per_request = long.saturating_sub(short) as f64 / 38_000.0;
    eprintln!(
        "allocations: {short} for 2,000 requests, {long} for 40,000 ({per_request:.5} per extra request)"
    );
    assert!(per_request < 0.001, "{per_request} allocations per request");
}

#[test]
fn fresh_ids_at_each_send_allocate_nothing_per_request() {
    let _one = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let addr = server();
    let cloning = Some(ringload_engine::Cloning {
        copies: 2,
        fresh_ids: true,
        seed: 5,
    });
    allocations_of(1_000, addr, None, 8, cloning);
    let short = allocations_of(2_000, addr, None, 8, cloning);
    let long = allocations_of(40_000, addr, None, 8, cloning);
    let per_request = long.saturating_sub(short) as f64 / 38_000.0;
    eprintln!(
        "with fresh ids: {short} allocations for 2,000 requests, {long} for 40,000 ({per_request:.5} per extra request)"
    );
    assert!(per_request < 0.001, "{per_request} allocations per request");
}

/// Responses as a mesh answers them cost nothing per request either: upstream times read from
/// `x-envoy-upstream-service-time` and joined `Server-Timing` fields into their histograms, and
/// failed responses classified by their headers and the first bytes of their bodies (Envoy's
/// texts, nginx's page, a chunked body).
#[test]
fn mesh_answers_allocate_nothing_per_request() {
    let _one = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    const REPLIES: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\nserver: envoy\r\nx-envoy-upstream-service-time: 2\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 503 Service Unavailable\r\nserver: envoy\r\ncontent-length: 19\r\n\r\nno healthy upstream",
        b"HTTP/1.1 200 OK\r\nServer-Timing: db;dur=0.5\r\nServer-Timing: app;dur=1.25\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 502 Bad Gateway\r\nServer: nginx\r\nTransfer-Encoding: chunked\r\n\r\n\
          20\r\n<html><head><title>502</title></\r\n2c\r\nhead><body><hr><center>nginx</center></body>\r\n\
          0\r\n\r\n",
    ];
    let addr = server_with(REPLIES);
    let counted = |n: u64| {
        let (allocs, s) = run_counting(n, addr, None, 8, None);
        // Every other answer fails, and a proxy said so; every other one said its upstream time.
        let failed = s.counts.errors[ringload_engine::ErrorClass::Validation as usize];
        assert_eq!((s.counts.requests, s.counts.ok + failed), (n, n));
        assert!(failed.abs_diff(n / 2) <= 4, "{failed} of {n}");
        assert_eq!(s.origins.proxy, failed, "{:?}", s.origins);
        assert_eq!(s.upstream.as_ref().unwrap().upstream.len(), s.counts.ok);
        allocs
    };
    counted(1_000);
    let short = counted(2_000);
    let long = counted(40_000);
    let per_request = long.saturating_sub(short) as f64 / 38_000.0;
    eprintln!(
        "mesh answers: allocations: {short} for 2,000 requests, {long} for 40,000 ({per_request:.5} per extra request)"
    );
    assert!(per_request < 0.001, "{per_request} allocations per request");
}

/// What rustls allocates per record on its own, measured in memory: a client (ringload's
/// configuration, the unbuffered API ringload uses) and a server past the handshake; the
/// client encrypts 1000 small records, then receives and decrypts 1000. Returns allocations
/// per record (encrypted, decrypted). The server's allocations are not counted.
fn rustls_allocations_per_record(certs: &common::tls::Certs) -> (f64, f64) {
    use rustls::client::UnbufferedClientConnection;
    use rustls::unbuffered::ConnectionState;
    const N: u64 = 1000;
    let server_side = |f: &mut dyn FnMut()| {
        IGNORED.with(|c| c.set(true));
        f();
        IGNORED.with(|c| c.set(false));
    };
    let client_cfg =
        ringload_engine::tls::client_config(&common::tls::client_options(certs), 1).unwrap();
    let server_cfg = common::tls::server_config(certs, rustls::ALL_VERSIONS);
    let mut client =
        UnbufferedClientConnection::new(client_cfg, "localhost".try_into().unwrap()).unwrap();
    let mut server = rustls::ServerConnection::new(server_cfg).unwrap();
    let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
    let mut out = vec![0u8; 1 << 16];
    let request = b"GET /r/0 HTTP/1.1\r\nHost: t\r\n\r\n";
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let mut encrypt = None;
    let mut decrypt = None;
    let mut received = 0u64;
    let mut decrypt_from = 0;
    for _ in 0..10_000 {
        let st = client.process_tls_records(&mut to_client);
        let discard = st.discard;
        match st.state.unwrap() {
            ConnectionState::EncodeTlsData(mut e) => {
                let n = e.encode(&mut out).unwrap();
                to_server.extend_from_slice(&out[..n]);
            }
            ConnectionState::TransmitTlsData(t) => t.done(),
            ConnectionState::WriteTraffic(mut w) if encrypt.is_none() => {
                // Warm up once, then count.
                w.encrypt(request, &mut out).unwrap();
                let before = ALLOCS.load(Ordering::SeqCst);
                for _ in 0..N {
                    w.encrypt(request, &mut out).unwrap();
                }
                encrypt = Some((ALLOCS.load(Ordering::SeqCst) - before) as f64 / N as f64);
                // Now the other way: N + 1 records from the server, one per write.
                server_side(&mut || {
                    for _ in 0..=N {
                        server.writer().write_all(response).unwrap();
                        server.write_tls(&mut to_client).unwrap();
                    }
                });
                decrypt_from = ALLOCS.load(Ordering::SeqCst);
            }
            ConnectionState::ReadTraffic(mut r) => {
                while let Some(rec) = r.next_record() {
                    let rec = rec.unwrap();
                    received += u64::from(rec.payload == response);
                }
            }
            _ if encrypt.is_some() => {
                decrypt =
                    Some((ALLOCS.load(Ordering::SeqCst) - decrypt_from) as f64 / received as f64);
                break;
            }
            _ => {}
        }
        to_client.drain(..discard);
        if encrypt.is_none() {
            // The server's side of the handshake, in memory.
            server_side(&mut || {
                if !to_server.is_empty() {
                    server.read_tls(&mut &to_server[..]).unwrap();
                    to_server.clear();
                    server.process_new_packets().unwrap();
                }
                while server.wants_write() {
                    server.write_tls(&mut to_client).unwrap();
                }
            });
        }
    }
    assert!(received > N, "received {received}");
    (
        encrypt.unwrap(),
        decrypt.expect("the in-memory exchange completed"),
    )
}

/// Over TLS at depth 1 and 16, allocations per request are rustls's per-record allocations
/// for the records the client encrypts, and nothing more: ringload's own TLS path (ciphertext
/// buffers, decrypted bytes, the shard) allocates nothing per request.
#[test]
fn over_tls_only_rustls_allocates_per_record() {
    let _one = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let certs = common::tls::certs();
    let (per_encrypt, per_decrypt) = rustls_allocations_per_record(&certs);
    eprintln!(
        "rustls alone: {per_encrypt:.3} allocations per record encrypted, {per_decrypt:.3} per record decrypted"
    );
    let (addr, records) = tls_server(common::tls::server_config(&certs, rustls::ALL_VERSIONS));
    let opts = common::tls::client_options(&certs);
    allocations_with(1_000, addr, Some(opts.clone()), 1);
    for depth in [1, 16] {
        let count = || {
            (
                records.received.load(Ordering::SeqCst),
                records.sent.load(Ordering::SeqCst),
            )
        };
        let r0 = count();
        let short = allocations_with(2_000, addr, Some(opts.clone()), depth);
        let r1 = count();
        let long = allocations_with(22_000, addr, Some(opts.clone()), depth);
        let r2 = count();
        let extra = 20_000.0;
        let per_request = long.saturating_sub(short) as f64 / extra;
        // Records per extra request: the client's (the server received) and the server's.
        let more = |a: u64, b: u64, c: u64| ((c - b) as f64 - (b - a) as f64) / extra;
        let encrypted = more(r0.0, r1.0, r2.0);
        let decrypted = more(r0.1, r1.1, r2.1);
        let allowed = per_encrypt * encrypted + per_decrypt * decrypted;
        eprintln!(
            "TLS depth {depth}: {per_request:.3} allocations per request; per request the client \
             encrypted {encrypted:.3} records and decrypted {decrypted:.3}, which cost rustls \
             {allowed:.3} allocations"
        );
        assert!(
            per_request <= allowed + 0.02,
            "depth {depth}: {per_request} allocations per request, rustls's records account for {allowed}"
        );
    }
}
