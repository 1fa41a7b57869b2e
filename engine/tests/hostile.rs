//! Hostile servers: every misbehaviour ends in its error class, with no panic, no hang and
//! bounded memory, and every request is still accounted for exactly once.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;
use ringload_engine::{ErrorClass, Stats, run};

fn against<F>(n: u64, handler: F) -> Stats
where
    F: Fn(std::net::TcpStream, usize) + Send + Sync + 'static,
{
    let addr = serve(handler);
    let started = Instant::now();
    let s = run(&plan("GET", "/"), &config(addr, 1, 1, n)).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "bounded in time"
    );
    assert_accounted(&s);
    assert_eq!(s.counts.requests, n);
    s
}

/// Reply to each request with `bytes`, then keep the connection open until the client leaves.
fn reply_with(bytes: Vec<u8>) -> impl Fn(std::net::TcpStream, usize) + Send + Sync + 'static {
    move |mut s, _| {
        let mut pending = Vec::new();
        while read_request(&mut s, &mut pending).is_some() {
            if s.write_all(&bytes).is_err() {
                return;
            }
        }
    }
}

fn protocol_errors(s: &Stats) -> u64 {
    s.counts.errors[ErrorClass::Protocol as usize]
}

#[test]
fn headers_that_never_end_hit_the_head_limit() {
    let mut r = b"HTTP/1.1 200 OK\r\n".to_vec();
    for _ in 0..10_000 {
        r.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaa\r\n"); // 280 KB, no blank line
    }
    let s = against(3, reply_with(r));
    assert_eq!(protocol_errors(&s), 3);
}

#[test]
fn one_header_larger_than_the_cap() {
    let mut r = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
    r.extend(std::iter::repeat_n(b'a', 100_000));
    r.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(protocol_errors(&against(2, reply_with(r))), 2);
}

#[test]
fn invalid_chunk_size() {
    let r =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".to_vec();
    assert_eq!(protocol_errors(&against(2, reply_with(r))), 2);
}

#[test]
fn negative_and_huge_content_length() {
    let r = b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n".to_vec();
    assert_eq!(protocol_errors(&against(2, reply_with(r))), 2);
    let r = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n".to_vec();
    assert_eq!(protocol_errors(&against(2, reply_with(r))), 2);
}

#[test]
fn garbage_bytes() {
    let r = b"\x00\x01\x02garbage that is not http\r\n\r\n".to_vec();
    assert_eq!(protocol_errors(&against(2, reply_with(r))), 2);
}

#[test]
fn response_with_no_request_in_flight_closes_the_connection() {
    // Two responses for each request: the second has no request to answer.
    let r =
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
            .to_vec();
    let s = against(3, reply_with(r));
    assert_eq!(s.counts.ok, 3);
    assert!(
        s.unsolicited >= 1,
        "unsolicited bytes counted: {}",
        s.unsolicited
    );
}

#[test]
fn reset_in_the_middle_of_a_body() {
    let s = against(2, |mut s, _| {
        let mut pending = Vec::new();
        if read_request(&mut s, &mut pending).is_some() {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
            let _ = s.flush();
            std::thread::sleep(Duration::from_millis(20));
            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
        }
        // Dropping with linger 0 sends RST.
    });
    assert_eq!(
        s.counts.errors[ErrorClass::Reset as usize],
        2,
        "{:?}",
        s.counts
    );
}

#[test]
fn a_server_that_stalls_forever_times_out() {
    let s = against(2, |mut s, _| {
        let mut pending = Vec::new();
        while read_request(&mut s, &mut pending).is_some() {
            // Never answer; wait for the client to give up.
        }
    });
    assert_eq!(s.counts.timed_out, 2);
}

#[test]
fn pipelined_timeouts_resend_the_requests_behind() {
    // The first connection stalls; later ones answer. Requests behind the stalled one are
    // re-sent on the next connection, not lost.
    let addr = serve(|mut s, i| {
        let mut pending = Vec::new();
        while read_request(&mut s, &mut pending).is_some() {
            if i > 0
                && s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    .is_err()
            {
                return;
            }
        }
    });
    let s = run(&plan("GET", "/"), &config(addr, 1, 4, 40)).unwrap();
    assert_accounted(&s);
    assert_eq!(s.counts.timed_out, 1);
    assert_eq!(s.counts.ok, 39);
    assert_eq!(s.resent, 3);
}
