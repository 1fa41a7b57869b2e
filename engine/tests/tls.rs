//! The engine over real TLS (rustls servers on loopback): pipelined replay over 1.2 and 1.3,
//! post-handshake messages (session tickets, KeyUpdate), records cut across TCP segments,
//! close_notify mid-pipeline, one handshake per request with and without resumption; every
//! run's accounting is exact and its connect/handshake times are counted once per connection.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::tls::{
    Behaviour, certs, client_options, serve_tls, server_config, server_config_refusing_clients,
};
use common::*;
use ringload_engine::tls::TlsVersions;
use ringload_engine::{RunConfig, Stats, run};

fn tls_config(
    addr: std::net::SocketAddr,
    c: &common::tls::Certs,
    conns: usize,
    depth: usize,
    n: u64,
) -> RunConfig {
    let mut cfg = config(addr, conns, depth, n);
    cfg.target.tls = Some(client_options(c));
    cfg.timeout = Duration::from_secs(5);
    cfg.connect_timeout = Duration::from_secs(2);
    cfg
}

fn ok_run(s: &Stats, n: u64) {
    assert_accounted(s);
    assert_eq!(s.counts.requests, n, "{:?}", s.counts);
    assert_eq!(
        s.counts.ok, n,
        "{:?} tls reasons {:?}",
        s.counts, s.tls_reasons
    );
    assert_eq!(s.tls_errors, 0, "{:?}", s.tls_reasons);
}

#[test]
fn pipelined_replay_over_tls13_and_tls12() {
    let c = certs();
    for (versions, only, tls13) in [
        (&[&rustls::version::TLS13][..], TlsVersions::Only13, true),
        (&[&rustls::version::TLS12][..], TlsVersions::Only12, false),
        (rustls::ALL_VERSIONS, TlsVersions::Only12, false),
        (rustls::ALL_VERSIONS, TlsVersions::Any, true),
    ] {
        let (addr, seen) = serve_tls(server_config(&c, versions), Behaviour::default());
        let mut cfg = tls_config(addr, &c, 4, 16, 4000);
        cfg.target.tls.as_mut().unwrap().versions = only;
        let s = run(&plan("GET", "/"), &cfg).unwrap();
        ok_run(&s, 4000);
        let hs = seen.handshakes.load(Ordering::SeqCst);
        assert_eq!(hs, 4, "one handshake per connection");
        // The server says which version was negotiated.
        let want = if tls13 { hs } else { 0 };
        assert_eq!(seen.tls13.load(Ordering::SeqCst), want, "{only:?}");
        assert_eq!(s.tls_handshake.len(), 4);
    }
}

/// Caught: the shell recorded a TLS connection's connect time twice, the second time as 0 when
/// the handshake completed, so half the connect histogram read "1 us".
#[test]
fn connect_time_is_recorded_once_per_tls_connection() {
    let c = certs();
    let (addr, _) = serve_tls(
        server_config(&c, rustls::ALL_VERSIONS),
        Behaviour::default(),
    );
    let s = run(&plan("GET", "/"), &tls_config(addr, &c, 4, 1, 400)).unwrap();
    ok_run(&s, 400);
    assert_eq!(s.connects, 4);
    assert_eq!(
        s.connect_time.len(),
        s.connects,
        "one connect time per connection"
    );
    assert_eq!(
        s.tls_handshake.len(),
        s.connects,
        "one handshake time per connection"
    );
    assert!(
        s.connect_time.min() > 1,
        "no zero connect time: {}",
        s.connect_time.min()
    );
}

/// TLS 1.3 KeyUpdate messages between responses, each asking the client to update its own
/// keys: the client answers them and no response is lost or misread.
#[test]
fn key_updates_mid_pipeline_lose_nothing() {
    let c = certs();
    let b = Behaviour {
        key_update_every: Some(7),
        ..Behaviour::default()
    };
    let (addr, seen) = serve_tls(server_config(&c, &[&rustls::version::TLS13]), b);
    let s = run(&plan("GET", "/"), &tls_config(addr, &c, 2, 16, 3000)).unwrap();
    ok_run(&s, 3000);
    assert!(seen.key_updates.load(Ordering::SeqCst) > 100);
    assert_eq!(s.connects, 2, "no reconnect");
}

/// Records cut into 7-byte TCP segments, and bodies spanning several records: every byte is
/// decrypted in order, whatever the receive boundaries.
#[test]
fn records_cut_into_tiny_segments_and_bodies_across_records() {
    let c = certs();
    for (segment, body) in [(7, 100), (1000, 40_000), (5, 20_000)] {
        let b = Behaviour {
            body,
            segment: Some(segment),
            ..Behaviour::default()
        };
        let (addr, seen) = serve_tls(server_config(&c, rustls::ALL_VERSIONS), b);
        let n = 300;
        let s = run(&plan("GET", "/"), &tls_config(addr, &c, 2, 8, n)).unwrap();
        ok_run(&s, n);
        assert_eq!(seen.responses.load(Ordering::SeqCst), n);
        assert!(s.bytes_in >= n * body as u64, "{segment}/{body}");
    }
}

/// close_notify after 50 answers with 16 pipelined: the rest are re-sent on a new connection
/// (which resumes the session), nothing is lost or charged.
#[test]
fn close_notify_mid_pipeline_resends_the_rest() {
    let c = certs();
    let b = Behaviour {
        close_after: Some(50),
        ..Behaviour::default()
    };
    let (addr, seen) = serve_tls(server_config(&c, rustls::ALL_VERSIONS), b);
    let s = run(&plan("GET", "/"), &tls_config(addr, &c, 2, 16, 2000)).unwrap();
    ok_run(&s, 2000);
    assert!(s.resent > 0, "requests behind the close were re-sent");
    assert!(s.server_closes >= 2000 / 50 - 2, "{}", s.server_closes);
    assert!(seen.resumed.load(Ordering::SeqCst) > 0, "reconnects resume");
    assert_eq!(s.tls_resumed, seen.resumed.load(Ordering::SeqCst));
}

/// `--requests-per-connection 1`: one handshake per request, resumed after the first ones
/// unless resumption is off; the client's count of resumed handshakes matches the server's.
#[test]
fn one_handshake_per_request_resumed_unless_disabled() {
    let c = certs();
    for resume in [true, false] {
        let (addr, seen) = serve_tls(
            server_config(&c, rustls::ALL_VERSIONS),
            Behaviour::default(),
        );
        let mut cfg = tls_config(addr, &c, 2, 1, 200);
        cfg.requests_per_connection = Some(1);
        cfg.target.tls.as_mut().unwrap().resume = resume;
        let t = Instant::now();
        let s = run(&plan("GET", "/"), &cfg).unwrap();
        ok_run(&s, 200);
        assert!(t.elapsed() < Duration::from_secs(20));
        let hs = s.tls_handshake.len();
        assert!((200..=202).contains(&hs), "one handshake per request: {hs}");
        let resumed = seen.resumed.load(Ordering::SeqCst);
        assert_eq!(s.tls_resumed, resumed, "client and server agree");
        if resume {
            assert!(resumed >= 190, "resumed {resumed} of {hs}");
        } else {
            assert_eq!(resumed, 0);
        }
    }
}

/// Caught: a TLS 1.3 server refusing the client certificate does so after the client's side of
/// the handshake is done, so the connection had "opened", which reset its reconnect back-off:
/// each connection retried every 5 ms (nginx saw ~430 handshakes/s from 4 connections for as
/// long as the run kept trying). Refusals now back off like failed connects (10 ms doubling
/// to 1 s), and the run still gives up by itself with nothing charged.
#[test]
fn refused_client_certificate_backs_off_and_gives_up() {
    let c = certs();
    let (addr, seen) = serve_tls(server_config_refusing_clients(&c), Behaviour::default());
    let mut cfg = tls_config(addr, &c, 2, 4, 100);
    cfg.give_up_after = Some(Duration::from_secs(2));
    let t = Instant::now();
    let s = run(&plan("GET", "/"), &cfg).unwrap();
    assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
    assert!(s.gave_up);
    assert_accounted(&s);
    assert_eq!((s.counts.ok, s.counts.failed()), (0, 0), "{:?}", s.counts);
    assert!(
        s.tls_reasons
            .iter()
            .any(|r| r.contains("CertificateRequired")),
        "{:?}",
        s.tls_reasons
    );
    let attempts = seen.attempts.load(Ordering::SeqCst);
    // Per connection over 2 s: 10+20+40+...+1000 ms of back-off is 8 attempts or so.
    assert!(
        attempts <= 2 * 10,
        "{attempts} handshakes in 2 s from 2 connections"
    );
    assert!(
        (1..=attempts).contains(&s.tls_errors),
        "{} of {attempts}",
        s.tls_errors
    );
}

/// Caught: with more connections than rustls's in-memory cache keeps TLS 1.3 tickets per
/// server (8, each single-use), most reconnects found no ticket and made a full handshake:
/// nginx resumed 45% of ringload's handshakes at 64 connections against 98% of wrk's. Each
/// executor now keeps up to two tickets per connection.
#[test]
fn many_connections_reconnecting_at_once_still_resume() {
    let c = certs();
    let (addr, seen) = serve_tls(
        server_config(&c, &[&rustls::version::TLS13]),
        Behaviour::default(),
    );
    let mut cfg = tls_config(addr, &c, 32, 1, 1600);
    cfg.requests_per_connection = Some(1);
    let s = run(&plan("GET", "/"), &cfg).unwrap();
    ok_run(&s, 1600);
    // The server counts a handshake when the client's Finished arrives; the client may have
    // finished (and counted) a handshake for a request the run no longer sends, and closed
    // before the server read that Finished: at most one per connection, at the end.
    let settled = || {
        let mut last = (0, 0);
        for _ in 0..50 {
            let now = (
                seen.handshakes.load(Ordering::SeqCst),
                seen.resumed.load(Ordering::SeqCst),
            );
            if now == last {
                break;
            }
            last = now;
            std::thread::sleep(Duration::from_millis(20));
        }
        last
    };
    let (hs, resumed) = settled();
    assert!(
        (resumed..=resumed + 32).contains(&s.tls_resumed),
        "client counted {} resumed, server {resumed}",
        s.tls_resumed
    );
    // The first 32 are full handshakes; nearly every later one resumes.
    assert!(resumed * 100 >= (hs - 32) * 95, "{resumed} of {hs} resumed");
}

/// Caught: an answer and the server's close (close_notify, FIN) arriving while a large
/// request was still being sent: the received records waited, undecrypted, for the send to
/// finish, but the end of stream was handled at once, so the answered request was taken as
/// cut off and sent again (three times, then failed as `reset`).
#[test]
fn an_answer_and_a_close_arriving_during_a_long_send_are_read_first() {
    use std::io::{Read, Write};
    let c = certs();
    let config = server_config(&c, rustls::ALL_VERSIONS);
    let addr = serve(move |mut sock, _| {
        let mut conn = rustls::ServerConnection::new(config.clone()).unwrap();
        while conn.is_handshaking() {
            if conn.complete_io(&mut sock).is_err() {
                return;
            }
        }
        // Read the request head only: the body stays unread, so the client's send blocks.
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.reader().read(&mut buf) {
                Ok(0) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if conn.read_tls(&mut sock).map_or(true, |n| n == 0)
                        || conn.process_new_packets().is_err()
                    {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
        let _ = conn
            .writer()
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        conn.send_close_notify();
        while conn.wants_write() {
            if conn.write_tls(&mut sock).is_err() {
                return;
            }
        }
        let _ = sock.flush();
        let _ = sock.shutdown(std::net::Shutdown::Write);
        std::thread::sleep(Duration::from_secs(3));
    });
    let mut b = ringload_formats::PlanBuilder::new(ringload_formats::Metadata::default());
    let label = b.label("POST /upload");
    let id = b.request(ringload_formats::Request {
        method: "POST".into(),
        target: "/upload".into(),
        body: vec![b'x'; 32 << 20].into(),
        label,
        ..ringload_formats::Request::default()
    });
    b.session(ringload_formats::Session {
        steps: vec![ringload_formats::Step {
            request: id,
            offset_us: 0,
            connection: 0,
        }],
    });
    let mut cfg = tls_config(addr, &c, 1, 1, 3);
    cfg.max_wall = Duration::from_secs(30);
    let s = run(&b.finish(), &cfg).unwrap();
    assert_accounted(&s);
    assert_eq!(s.counts.ok, 3, "{:?} resent {}", s.counts, s.resent);
    assert_eq!(s.resent, 0, "nothing sent twice");
}
