//! The steady state allocates nothing per request: two runs that differ only in their request
//! count make the same number of heap allocations (to within a few), so the cost per extra
//! request is zero. Allocations of the test server's threads are not counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ringload_engine::{RunConfig, Stop, Target, run};
use ringload_formats::{Metadata, PlanBuilder, Request, Session, Step};

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

/// A keep-alive server that answers every request head without allocating per request.
fn server() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        IGNORED.with(|c| c.set(true));
        for s in l.incoming().take(64) {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                IGNORED.with(|c| c.set(true));
                let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
                const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                let mut buf = [0u8; 16384];
                let mut out = [0u8; 16384];
                let mut tail = 0u32; // last bytes seen, to find \r\n\r\n across reads
                loop {
                    let n = match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let mut k = 0;
                    for &b in &buf[..n] {
                        tail = (tail << 8) | u32::from(b);
                        if tail == 0x0d0a_0d0a {
                            out[k * RESP.len()..(k + 1) * RESP.len()].copy_from_slice(RESP);
                            k += 1;
                            if (k + 1) * RESP.len() > out.len() {
                                if s.write_all(&out[..k * RESP.len()]).is_err() {
                                    return;
                                }
                                k = 0;
                            }
                        }
                    }
                    if k > 0 && s.write_all(&out[..k * RESP.len()]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn allocations_for(n: u64, addr: std::net::SocketAddr) -> u64 {
    let mut b = PlanBuilder::new(Metadata::default());
    let label = b.label("GET /");
    let canary = b.segment("canary");
    let ids: Vec<u32> = (0..4)
        .map(|i| {
            b.request(Request {
                method: "GET".into(),
                target: format!("/r/{i}").into(),
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
        tls: None,
    });
    cfg.connections = 4;
    cfg.pipeline = 8;
    cfg.cpus = vec![ringload_engine::allowed_cpus()[0]];
    cfg.stop = Stop::Requests(n);
    let before = ALLOCS.load(Ordering::SeqCst);
    let s = run(&plan, &cfg).unwrap();
    assert_eq!(s.counts.ok, n);
    ALLOCS.load(Ordering::SeqCst) - before
}

#[test]
fn no_allocation_per_request_in_steady_state() {
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
