//! Wire-exact loopback tests of the engine: each framing case, server closes mid-pipeline,
//! and the accounting identity after every run.

mod common;

use std::io::Write;

use common::*;
use ringload_engine::{ErrorClass, run};

#[test]
fn request_bytes_are_exact_and_content_length_responses_complete() {
    let addr = serve(|mut s, _| {
        let mut pending = Vec::new();
        while let Some(req) = read_request(&mut s, &mut pending) {
            assert_eq!(
                req,
                b"GET /api/v1/products?page=1 HTTP/1.1\r\nHost: test\r\n\r\n"
            );
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                .unwrap();
        }
    });
    let s = run(
        &plan("GET", "/api/v1/products?page=1"),
        &config(addr, 2, 1, 200),
    )
    .unwrap();
    assert_accounted(&s);
    assert_eq!(s.counts.requests, 200);
    assert_eq!(s.counts.ok, 200);
    assert_eq!(s.status[200], 200);
    assert_eq!(s.latency.len(), 200);
}

/// The closed loop's `spin` polls for responses instead of sleeping: every request still
/// completes once, counted once.
#[test]
fn closed_loop_polling_for_responses_keeps_the_accounting() {
    let addr = serve(|mut s, _| {
        let mut pending = Vec::new();
        while read_request(&mut s, &mut pending).is_some() {
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
        }
    });
    let mut cfg = config(addr, 2, 1, 2_000);
    cfg.spin = std::time::Duration::from_micros(50);
    let s = run(&plan("GET", "/ok"), &cfg).unwrap();
    assert_accounted(&s);
    assert_eq!((s.counts.requests, s.counts.ok), (2_000, 2_000));
}

fn framing_case(response: &'static [u8], method: &str) {
    let addr = serve(move |s, _| answer_all(s, response));
    let s = run(&plan(method, "/"), &config(addr, 1, 4, 100)).unwrap();
    assert_accounted(&s);
    assert_eq!((s.counts.ok, s.counts.failed()), (100, 0), "{:?}", s.counts);
}

#[test]
fn chunked_with_extensions_and_trailers() {
    framing_case(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: yes\r\n\r\n",
        "GET",
    );
}

#[test]
fn head_responses_have_no_body_whatever_content_length_says() {
    framing_case(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", "HEAD");
}

#[test]
fn no_content_and_not_modified_have_no_body() {
    let addr = serve(|s, i| {
        answer_all(
            s,
            if i % 2 == 0 {
                b"HTTP/1.1 204 No Content\r\n\r\n"
            } else {
                b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"
            },
        )
    });
    let s = run(&plan("GET", "/"), &config(addr, 2, 4, 100)).unwrap();
    assert_accounted(&s);
    assert_eq!(s.counts.ok, 100);
    assert_eq!(s.status[204] + s.status[304], 100);
}

#[test]
fn continue_before_the_final_response() {
    framing_case(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "GET",
    );
}

#[test]
fn read_until_close_and_http10_responses() {
    // HTTP/1.0 without keep-alive: one response per connection, body until EOF.
    let addr = serve(|mut s, _| {
        let mut pending = Vec::new();
        if read_request(&mut s, &mut pending).is_some() {
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close");
        }
    });
    let s = run(&plan("GET", "/"), &config(addr, 2, 1, 30)).unwrap();
    assert_accounted(&s);
    assert_eq!(s.counts.ok, 30);
    assert!(
        s.connects >= 30,
        "one connection per response: {}",
        s.connects
    );
}

#[test]
fn server_connection_close_mid_pipeline_resends_the_rest() {
    // Like nginx's keepalive_requests: 5 answers, the 5th with Connection: close, then FIN.
    let addr = serve(|mut s, _| {
        let mut pending = Vec::new();
        for k in 1..=5 {
            if read_request(&mut s, &mut pending).is_none() {
                return;
            }
            let r: &[u8] = if k == 5 {
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
            } else {
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
            };
            if s.write_all(r).is_err() {
                return;
            }
        }
        let _ = s.shutdown(std::net::Shutdown::Write);
        // Drain what the client pipelined so the close is a FIN, not a reset.
        while read_request(&mut s, &mut pending).is_some() {}
    });
    let s = run(&plan("GET", "/"), &config(addr, 2, 8, 300)).unwrap();
    assert_accounted(&s);
    assert_eq!(s.counts.ok, 300, "{:?}", s.counts);
    assert!(
        s.resent > 0,
        "pipelined requests after the close were re-sent"
    );
    assert!(s.server_closes >= 300 / 5 - 1);
}

#[test]
fn eof_mid_pipeline_without_close_header_resends() {
    let addr = serve(|mut s, _| {
        let mut pending = Vec::new();
        for _ in 0..3 {
            if read_request(&mut s, &mut pending).is_none() {
                return;
            }
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        }
        let _ = s.shutdown(std::net::Shutdown::Write);
        while read_request(&mut s, &mut pending).is_some() {}
    });
    let s = run(&plan("GET", "/"), &config(addr, 1, 8, 60)).unwrap();
    assert_accounted(&s);
    assert_eq!(
        s.counts.ok, 60,
        "{:?} resent {} closes {} connects {}",
        s.counts, s.resent, s.server_closes, s.connects
    );
    assert!(s.resent > 0);
}

#[test]
fn validation_failures_are_counted_by_status() {
    let addr = serve(|s, i| {
        answer_all(
            s,
            if i == 0 {
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
            } else {
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
            },
        )
    });
    let mut cfg = config(addr, 2, 1, 100);
    cfg.cpus = vec![ringload_host::allowed_cpus()[0]];
    let s = run(&plan("GET", "/"), &cfg).unwrap();
    assert_accounted(&s);
    let v = s.counts.errors[ErrorClass::Validation as usize];
    assert_eq!(v, s.status[503]);
    assert_eq!(s.counts.ok, s.status[200]);
    assert!(v > 0 && s.counts.ok > 0);
}

#[test]
fn connection_refused_is_a_connect_error_not_a_request() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut cfg = config(addr, 1, 1, 5);
    cfg.stop = ringload_engine::Stop::Duration(std::time::Duration::from_millis(300));
    let s = run(&plan("GET", "/"), &cfg).unwrap();
    assert_accounted(&s);
    assert_eq!(s.counts.requests, 0);
    assert!(
        s.connect_errors >= 2,
        "retried with backoff: {}",
        s.connect_errors
    );
}

#[test]
fn a_request_budget_against_a_dead_target_gives_up() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut cfg = config(addr, 2, 1, 5);
    cfg.give_up_after = Some(std::time::Duration::from_millis(300));
    let t = std::time::Instant::now();
    let s = run(&plan("GET", "/"), &cfg).unwrap();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
    assert_accounted(&s);
    assert!(s.gave_up);
    assert_eq!(s.last_connect_error, Some(libc::ECONNREFUSED));
    assert_eq!(s.counts.ok, 0);
}

#[test]
fn a_target_that_goes_away_mid_run_stops_the_run_with_everything_counted() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // One connection answered 50 times, then the server is gone: connection and listener.
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut pending = Vec::new();
        for _ in 0..50 {
            if read_request(&mut s, &mut pending).is_none() {
                return;
            }
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
        }
        drop(listener);
    });
    let mut cfg = config(addr, 1, 1, 10_000);
    cfg.give_up_after = Some(std::time::Duration::from_millis(300));
    let s = run(&plan("GET", "/"), &cfg).unwrap();
    assert_accounted(&s);
    assert!(s.gave_up, "{:?}", s.counts);
    assert_eq!(s.counts.ok, 50);
    assert!(s.connects >= 1 && s.connect_errors >= 1);
    assert!(s.counts.requests < 10_000, "{:?}", s.counts);
}
