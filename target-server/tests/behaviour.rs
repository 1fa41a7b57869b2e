//! End-to-end behaviour of the target server over loopback, one knob per test.

mod common;

use std::time::{Duration, Instant};

use common::{Client, pattern, start, start_default};
use ringload_target::TargetConfig;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn default_answer_is_ok_and_stable_and_counted() {
    let server = start_default();
    assert_ne!(
        server.local_addr().port(),
        0,
        "port 0 is replaced by the real one"
    );
    let mut c = Client::connect(server.local_addr());
    for _ in 0..3 {
        let r = c.get("/anything?user=7");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"ok");
        assert_eq!(r.header("x-upstream-version"), Some("stable"));
    }
    let stats = server.stop().unwrap();
    assert_eq!(stats.requests, 3);
    assert_eq!(stats.status_count(200), 3);
    assert_eq!(stats.connections, 1);
}

#[test]
fn canary_segment_gets_canary_version() {
    let server = start_default();
    let mut c = Client::connect(server.local_addr());
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\nX-User-Segment: beta-testers\r\n\r\n");
    assert_eq!(
        c.read_response(false).header("x-upstream-version"),
        Some("canary-v2")
    );
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\nx-user-segment: alpha\r\n\r\n");
    assert_eq!(
        c.read_response(false).header("x-upstream-version"),
        Some("stable")
    );
}

#[test]
fn fixed_delay_is_accurate() {
    let server = start_default();
    let mut c = Client::connect(server.local_addr());
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        assert_eq!(c.get("/?delay=20ms").status, 200);
        let took = t.elapsed();
        assert!(
            took >= ms(20),
            "answered after {took:?}, before the 20ms delay"
        );
        best = best.min(took);
    }
    assert!(best < ms(40), "best of 3 took {best:?}");
    // The header form works the same way.
    let t = Instant::now();
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\nx-ringload-delay: 20ms\r\n\r\n");
    c.read_response(false);
    assert!(t.elapsed() >= ms(20));
}

#[test]
fn delay_range_is_spread_within_bounds() {
    let server = start_default();
    let mut c = Client::connect(server.local_addr());
    let mut seen = Vec::new();
    for _ in 0..12 {
        let t = Instant::now();
        c.get("/?delay=5ms..50ms");
        seen.push(t.elapsed());
    }
    assert!(seen.iter().all(|&d| d >= ms(5) && d < ms(150)), "{seen:?}");
    let (min, max) = (seen.iter().min().unwrap(), seen.iter().max().unwrap());
    assert!(*max - *min >= ms(5), "delays are not random: {seen:?}");
}

#[test]
fn fixed_status_and_status_share() {
    let server = start_default();
    let mut c = Client::connect(server.local_addr());
    assert_eq!(c.get("/?status=404").status, 404);
    // 2000 requests, pipelined 100 at a time.
    let mut errors = 0;
    for _ in 0..20 {
        let batch = "GET /?status=503:10 HTTP/1.1\r\nHost: t\r\n\r\n".repeat(100);
        c.send(batch.as_bytes());
        for _ in 0..100 {
            let r = c.read_response(false);
            assert!(r.status == 200 || r.status == 503, "{}", r.status);
            errors += usize::from(r.status == 503);
        }
    }
    assert!(
        (100..=300).contains(&errors),
        "503 share {errors}/2000 is outside 5..15%"
    );
    let stats = server.stop().unwrap();
    assert_eq!(stats.requests, 2001);
    assert_eq!(stats.status_count(503), errors as u64);
    assert_eq!(stats.status_count(404), 1);
}

#[test]
fn sized_bodies_and_size_errors() {
    let server = start_default();
    let mut c = Client::connect(server.local_addr());
    let r = c.get("/?size=4096");
    assert_eq!(r.header("content-length"), Some("4096"));
    assert_eq!(r.body, pattern(4096));
    assert_eq!(c.get("/?size=0").body, b"");
    let big = c.get("/?size=1000000");
    assert_eq!(big.body, pattern(1_000_000));
    // Over the cap: ignored in the query, rejected (but connection kept) in a header.
    assert_eq!(c.get("/?size=999999999").body, b"ok");
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\nx-ringload-size: 999999999\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.status, 400);
    assert!(
        String::from_utf8_lossy(&r.body).contains("size"),
        "{:?}",
        r.body
    );
    assert_eq!(
        c.get("/").status,
        200,
        "connection survives a bad knob header"
    );
    assert_eq!(server.stats().bad_requests, 1);
}

#[test]
fn chunked_body_decodes() {
    let server = start_default();
    let mut c = Client::connect(server.local_addr());
    let r = c.get("/?chunked=1&size=10000");
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert!(r.header("content-length").is_none());
    assert!(r.chunks >= 3, "only {} chunks", r.chunks);
    assert_eq!(r.body, pattern(10_000));
    let small = c.get("/?chunked=1");
    assert_eq!(small.body, b"ok");
    assert!(small.chunks >= 2);
    // HTTP/1.0 clients get a content-length instead.
    c.send(b"GET /?chunked=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.header("content-length"), Some("2"));
}

#[test]
fn close_param_closes_after_response() {
    let server = start_default();
    let mut c = Client::connect(server.local_addr());
    let r = c.get("/?close=1");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed_by_server());
}

#[test]
fn client_connection_close_and_http10() {
    let server = start_default();
    let mut c = Client::connect(server.local_addr());
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(c.read_response(false).header("connection"), Some("close"));
    assert!(c.closed_by_server());

    let mut c = Client::connect(server.local_addr());
    c.send(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(c.read_response(false).body, b"ok");
    assert!(c.closed_by_server(), "HTTP/1.0 without keep-alive closes");

    let mut c = Client::connect(server.local_addr());
    c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(
        c.read_response(false).header("connection"),
        Some("keep-alive")
    );
    assert_eq!(
        c.get("/").status,
        200,
        "HTTP/1.0 keep-alive keeps the connection"
    );
}

#[test]
fn head_has_headers_but_no_body() {
    let server = start_default();
    let mut c = Client::connect(server.local_addr());
    c.send(b"HEAD /?size=4096 HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response(true);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("4096"));
    // If a body had been sent, this would read it as a (malformed) response head.
    let next = c.get("/?size=3");
    assert_eq!((next.status, next.body), (200, b"abc".to_vec()));
}

#[test]
fn expect_100_continue_is_answered_before_the_body() {
    let server = start_default();
    let mut c = Client::connect(server.local_addr());
    c.send(
        b"POST /upload HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n",
    );
    assert_eq!(c.read_response(false).status, 100);
    c.send(b"0123456789");
    assert_eq!(c.read_response(false).status, 200);
    assert_eq!(
        server.stop().unwrap().requests,
        1,
        "100 Continue is not a served request"
    );
}

#[test]
fn request_bodies_are_discarded() {
    let server = start_default();
    let mut c = Client::connect(server.local_addr());
    let body = vec![b'x'; 100_000];
    let mut raw = format!(
        "POST /?size=1 HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    raw.extend_from_slice(
        b"POST /?size=2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    raw.extend_from_slice(b"GET /?size=3 HTTP/1.1\r\n\r\n");
    c.send(&raw);
    for n in 1..=3 {
        assert_eq!(c.read_response(false).body, pattern(n));
    }
}

#[test]
fn pipelined_mixed_delays_keep_order() {
    let server = start_default();
    let mut c = Client::connect(server.local_addr());
    let t = Instant::now();
    c.send(
        b"GET /?delay=60ms&size=1 HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /?size=2 HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /?delay=30ms&size=3 HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /?delay=1ms&size=4 HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    for n in 1..=4 {
        let r = c.read_response(false);
        assert_eq!(r.body, pattern(n), "response {n} out of order");
        assert!(
            t.elapsed() >= ms(60),
            "response {n} overtook the delayed first one"
        );
    }
    // Delays overlap (due = arrival + delay) rather than add up (60+30+1 ms).
    assert!(t.elapsed() < ms(91 + 200), "{:?}", t.elapsed());
}

#[test]
fn malformed_request_gets_400_and_close() {
    let server = start_default();
    let mut c = Client::connect(server.local_addr());
    assert_eq!(c.get("/").status, 200);
    c.send(b"THIS IS NOT HTTP\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.status, 400);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed_by_server());

    let mut c = Client::connect(server.local_addr());
    let mut raw = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    raw.extend(std::iter::repeat_n(b'a', 20_000));
    raw.extend_from_slice(b"\r\n\r\n");
    c.send(&raw);
    let r = c.read_response(false);
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.body).contains("too large"));
    assert!(c.closed_by_server());

    let mut c = Client::connect(server.local_addr());
    c.send(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    assert_eq!(c.read_response(false).status, 400);
    assert!(c.closed_by_server());
    let stats = server.stop().unwrap();
    assert_eq!(stats.bad_requests, 3);
    assert_eq!(stats.status_count(400), 3);
}

#[test]
fn stall_holds_answers_until_it_ends() {
    let every = ms(300);
    let stall_for = ms(150);
    let before = Instant::now();
    let server = start(TargetConfig {
        stall_every: Some(every),
        stall_for,
        ..TargetConfig::default()
    });
    let after = Instant::now();
    // The schedule starts somewhere in [before, after].
    let mut c = Client::connect(server.local_addr());
    let t = Instant::now();
    c.get("/");
    assert!(
        t.elapsed() < ms(100) || t >= before + every,
        "no stall before the first period"
    );

    // Send inside the first stall window [start+300ms, start+450ms).
    let send_at = after + ms(320);
    std::thread::sleep(send_at.saturating_duration_since(Instant::now()));
    let sent = Instant::now();
    assert!(
        sent < before + every + stall_for,
        "test thread woke too late to hit the stall"
    );
    c.get("/");
    let answered = Instant::now();
    assert!(
        answered >= before + every + stall_for,
        "answered {:?} after start, inside the stall",
        answered - before
    );
    assert!(
        answered < after + every + stall_for + ms(100),
        "answered long after the stall ended"
    );
    // Right after the stall the server is responsive again.
    let t = Instant::now();
    c.get("/");
    assert!(t.elapsed() < ms(100));
}

#[test]
fn two_executors_serve_many_connections() {
    let server = start(TargetConfig {
        threads: 2,
        ..TargetConfig::default()
    });
    let addr = server.local_addr();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                for _ in 0..50 {
                    assert_eq!(c.get("/?size=100").body.len(), 100);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let stats = server.stop().unwrap();
    assert_eq!(stats.requests, 200);
    assert_eq!(stats.connections, 4);
}
