//! The proxy over real sockets: every scenario is played once straight against a scripted
//! upstream and once through the proxy, and the client must get the same bytes both times while
//! the upstream checks that it got the client's bytes exactly; a recording proxy records each
//! exchange once (keep-alive, pipelining, chunked both ways, 2 MiB bodies, 100-continue, HEAD,
//! 204/304, an upstream closing mid-response, a client gone mid-body, refused upgrades, a dead
//! upstream, TLS on both sides).

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use common::{Upstream, big, connect, forwarding_proxy, read_n, read_to_eof, recording_proxy};

/// Plays `client` against the upstream directly and through a recording proxy; returns what
/// the client got (the same both times) and the proxy's capture.
fn both_ways(
    upstream: &Upstream,
    client: impl Fn(SocketAddr) -> Vec<u8>,
) -> (Vec<u8>, ringload_recorder::Capture) {
    let direct = client(upstream.addr);
    let proxy = recording_proxy(upstream.addr);
    let through = client(proxy.local_addr());
    // Let the proxy finish its side of the connections before stopping it.
    std::thread::sleep(Duration::from_millis(100));
    let stopped = proxy.stop().expect("stop");
    assert!(
        direct == through,
        "direct and proxied answers differ:\n direct:  {:?}\n through: {:?}",
        String::from_utf8_lossy(&direct[..direct.len().min(300)]),
        String::from_utf8_lossy(&through[..through.len().min(300)])
    );
    assert_eq!(
        upstream.failures(),
        0,
        "the upstream saw other bytes than sent"
    );
    (through, stopped.capture.expect("recording"))
}

fn paths(c: &ringload_recorder::Capture) -> Vec<(String, String, Option<u16>)> {
    c.exchanges
        .iter()
        .map(|e| (e.method.clone(), e.path.clone(), e.status))
        .collect()
}

#[test]
fn keep_alive_and_pipelined_requests_come_back_in_order_byte_for_byte() {
    let reqs: &[&[u8]] = &[
        b"GET /a HTTP/1.1\r\nHost: svc\r\n\r\n",
        b"POST /b HTTP/1.1\r\nHost: svc\r\nContent-Length: 5\r\n\r\nhello",
        b"GET /c?x=1 HTTP/1.1\r\nHost: svc\r\nAccept: */*\r\n\r\n",
    ];
    let resps: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n\r\nok",
        b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n{\"c\":1}",
    ];
    let up = Upstream::exchanges(
        reqs.iter()
            .chain(reqs[..1].iter())
            .map(|r| r.to_vec())
            .collect(),
        resps
            .iter()
            .chain(resps[..1].iter())
            .map(|r| r.to_vec())
            .collect(),
    );
    let (got, capture) = both_ways(&up, |addr| {
        let mut s = connect(addr);
        // Three pipelined in one write, then one more on the same connection.
        s.write_all(&reqs.concat()).unwrap();
        let mut got = read_n(&mut s, resps.concat().len());
        s.write_all(reqs[0]).unwrap();
        got.extend(read_n(&mut s, resps[0].len()));
        got
    });
    assert_eq!(got, [resps.concat(), resps[0].to_vec()].concat());
    assert_eq!(
        paths(&capture),
        [
            ("GET".into(), "/a".into(), Some(200)),
            ("POST".into(), "/b".into(), Some(201)),
            ("GET".into(), "/c?x=1".into(), Some(200)),
            ("GET".into(), "/a".into(), Some(200)),
        ]
    );
    assert_eq!(capture.exchanges[1].body, b"hello");
    assert_eq!(capture.exchanges[2].response_body, b"{\"c\":1}");
    let conns: Vec<_> = capture.exchanges.iter().map(|e| e.connection).collect();
    assert!(
        conns.iter().all(|c| *c == conns[0]),
        "one connection: {conns:?}"
    );
}

#[test]
fn chunked_requests_and_responses_with_trailers_pass_unchanged() {
    let req = b"POST /up HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n\
                5\r\nhello\r\n6;name=v\r\n world\r\n0\r\nx-sum: 11\r\n\r\n"
        .to_vec();
    let resp =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\ncontent-type: application/json\r\n\r\n\
                 3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\nx-t: 1\r\n\r\n"
            .to_vec();
    let up = Upstream::exchanges(vec![req.clone()], vec![resp.clone()]);
    let (got, capture) = both_ways(&up, |addr| {
        let mut s = connect(addr);
        // In awkward pieces.
        for piece in req.chunks(7) {
            s.write_all(piece).unwrap();
        }
        read_n(&mut s, resp.len())
    });
    assert_eq!(got, resp);
    assert_eq!(capture.exchanges[0].body, b"hello world");
    assert_eq!(capture.exchanges[0].response_body, b"{\"a\":1}");
}

#[test]
fn two_mib_bodies_stream_both_ways() {
    let body = big(2 << 20);
    let mut req = format!(
        "PUT /blob HTTP/1.1\r\nHost: svc\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let mut resp =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    resp.extend_from_slice(&body);
    // And a chunked 2 MiB answer on the same connection.
    let get = b"GET /blob HTTP/1.1\r\nHost: svc\r\n\r\n".to_vec();
    let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for c in body.chunks(100_000) {
        chunked.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        chunked.extend_from_slice(c);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let up = Upstream::exchanges(
        vec![req.clone(), get.clone()],
        vec![resp.clone(), chunked.clone()],
    );
    let (got, capture) = both_ways(&up, |addr| {
        let mut s = connect(addr);
        // Write the upload from another thread while reading (the upstream answers only
        // once it has the whole body, but a client must not rely on that).
        let mut w = s.try_clone().unwrap();
        let (r2, g2) = (req.clone(), get.clone());
        let writer = std::thread::spawn(move || {
            w.write_all(&r2).unwrap();
            w.write_all(&g2).unwrap();
        });
        let got = read_n(&mut s, resp.len() + chunked.len());
        writer.join().unwrap();
        got
    });
    assert_eq!(got.len(), resp.len() + chunked.len());
    assert!(got == [resp, chunked].concat());
    assert_eq!(capture.exchanges.len(), 2);
    assert_eq!(
        capture.exchanges[0].body.len(),
        2 << 20,
        "recorded whole (cap 8 MiB)"
    );
}

#[test]
fn expect_100_continue_waits_for_the_upstream_go_ahead() {
    let head =
        b"POST /form HTTP/1.1\r\nHost: svc\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
    let cont = b"HTTP/1.1 100 Continue\r\n\r\n";
    let fin = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let up = Upstream::script(move |s, check| {
        check(read_n(s, head.len()) == head);
        s.write_all(cont).unwrap();
        check(read_n(s, 4) == b"data");
        s.write_all(fin).unwrap();
        let _ = read_to_eof(s);
    });
    let (got, capture) = both_ways(&up, |addr| {
        let mut s = connect(addr);
        s.write_all(head).unwrap();
        // The body goes only after the 100 came back through the proxy.
        let mut got = read_n(&mut s, cont.len());
        s.write_all(b"data").unwrap();
        got.extend(read_n(&mut s, fin.len()));
        got
    });
    assert_eq!(got, [&cont[..], &fin[..]].concat());
    assert_eq!(capture.exchanges[0].body, b"data");
    assert_eq!(capture.exchanges[0].status, Some(200));
}

#[test]
fn head_204_and_304_answers_have_no_body_and_keep_the_framing() {
    let reqs: Vec<Vec<u8>> = [
        &b"HEAD /big HTTP/1.1\r\nHost: svc\r\n\r\n"[..],
        b"DELETE /x HTTP/1.1\r\nHost: svc\r\n\r\n",
        b"GET /etag HTTP/1.1\r\nHost: svc\r\nIf-None-Match: \"v1\"\r\n\r\n",
        b"GET /after HTTP/1.1\r\nHost: svc\r\n\r\n",
    ]
    .iter()
    .map(|r| r.to_vec())
    .collect();
    let resps: Vec<Vec<u8>> = [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"[..],
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 100\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nafter",
    ]
    .iter()
    .map(|r| r.to_vec())
    .collect();
    let up = Upstream::exchanges(reqs.clone(), resps.clone());
    let (got, capture) = both_ways(&up, |addr| {
        let mut s = connect(addr);
        s.write_all(&reqs.concat()).unwrap();
        read_n(&mut s, resps.concat().len())
    });
    assert_eq!(got, resps.concat());
    assert_eq!(
        capture
            .exchanges
            .iter()
            .map(|e| e.status)
            .collect::<Vec<_>>(),
        [Some(200), Some(204), Some(304), Some(200)]
    );
}

#[test]
fn an_upstream_closing_mid_response_cuts_that_answer_only() {
    let req = b"GET /cut HTTP/1.1\r\nHost: svc\r\n\r\n";
    let partial = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly this";
    let up = Upstream::script(move |s, check| {
        check(read_n(s, req.len()) == req);
        s.write_all(partial).unwrap();
        // Closes mid-body.
    });
    let (got, capture) = both_ways(&up, |addr| {
        let mut s = connect(addr);
        s.write_all(req).unwrap();
        read_to_eof(&mut s)
    });
    assert_eq!(got, partial, "the client sees the same cut answer");
    assert!(capture.exchanges.is_empty());
    assert!(
        capture
            .skipped
            .iter()
            .any(|(r, n)| r.contains("not answered") && *n == 1),
        "{:?}",
        capture.skipped
    );
}

#[test]
fn a_client_gone_mid_body_ends_its_exchange_and_the_proxy_goes_on() {
    let head = b"POST /upload HTTP/1.1\r\nHost: svc\r\nContent-Length: 100000\r\n\r\n";
    let (tx, rx) = std::sync::mpsc::channel();
    let up = Upstream::script(move |s, _| {
        // The upstream sees the head, part of the body, then the end of the stream.
        let got = read_to_eof(s);
        let _ = tx.send(got.len());
    });
    let proxy = recording_proxy(up.addr);
    let mut s = connect(proxy.local_addr());
    s.write_all(head).unwrap();
    s.write_all(&[b'x'; 5000]).unwrap();
    drop(s);
    let seen = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the proxy closed the upstream connection");
    assert_eq!(seen, head.len() + 5000);
    // The proxy still serves the next client.
    let ok = Upstream::exchanges(
        vec![b"GET / HTTP/1.1\r\n\r\n".to_vec()],
        vec![b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()],
    );
    let second = recording_proxy(ok.addr);
    let mut s = connect(second.local_addr());
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let want = b"HTTP/1.1 204 No Content\r\n\r\n";
    assert_eq!(read_n(&mut s, want.len()), want);
    let stopped = proxy.stop().unwrap();
    let c = stopped.capture.unwrap();
    assert!(c.exchanges.is_empty());
    assert!(
        c.skipped.iter().any(|(r, _)| r.contains("cut off")),
        "{:?}",
        c.skipped
    );
    assert_eq!(stopped.stats.cut, 1);
}

#[test]
fn upgrades_and_connect_are_refused_with_501_and_never_reach_the_upstream() {
    let up = Upstream::script(|_, check| check(false));
    let proxy = forwarding_proxy(up.addr);
    for head in [
        &b"GET /chat HTTP/1.1\r\nHost: svc\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
           Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"[..],
        b"CONNECT svc:443 HTTP/1.1\r\nHost: svc:443\r\n\r\n",
    ] {
        let mut s = connect(proxy.local_addr());
        s.write_all(head).unwrap();
        let got = String::from_utf8(read_to_eof(&mut s)).unwrap();
        assert!(got.starts_with("HTTP/1.1 501 Not Implemented\r\n"), "{got}");
        assert!(
            got.contains("connection: close") && got.contains("upgrades"),
            "{got}"
        );
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(up.connections(), 0);
    let stats = proxy.stop().unwrap().stats;
    assert_eq!(stats.refused, 2);
}

#[test]
fn a_dead_upstream_gets_each_client_a_502() {
    // A port nobody listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = forwarding_proxy(dead);
    let mut s = connect(proxy.local_addr());
    s.write_all(b"GET / HTTP/1.1\r\nHost: svc\r\n\r\n").unwrap();
    let got = String::from_utf8(read_to_eof(&mut s)).unwrap();
    assert!(got.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{got}");
    assert_eq!(proxy.stop().unwrap().stats.connect_errors, 1);
}

#[test]
fn a_malformed_request_gets_400() {
    let up = Upstream::script(|_, check| check(false));
    let proxy = forwarding_proxy(up.addr);
    let mut s = connect(proxy.local_addr());
    s.write_all(b"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n")
        .unwrap();
    let got = String::from_utf8(read_to_eof(&mut s)).unwrap();
    assert!(got.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{got}");
    drop(proxy);
}

#[test]
fn the_request_limit_ends_the_recording_and_wakes_the_waiter() {
    let n = 5;
    let reqs = vec![b"GET /n HTTP/1.1\r\n\r\n".to_vec(); n + 2];
    let resps = vec![b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec(); n + 2];
    let up = Upstream::exchanges(reqs.clone(), resps.clone());
    let proxy = ringload_proxy::spawn(ringload_proxy::ProxyConfig {
        upstream: up.addr,
        record: Some(ringload_proxy::RecordConfig {
            max_requests: Some(n as u64),
            ..Default::default()
        }),
        ..Default::default()
    })
    .unwrap();
    let mut s = connect(proxy.local_addr());
    for (q, a) in reqs.iter().zip(&resps) {
        s.write_all(q).unwrap();
        assert_eq!(&read_n(&mut s, a.len()), a);
    }
    let ended = proxy
        .wait(Some(std::time::Instant::now() + Duration::from_secs(5)))
        .unwrap();
    assert_eq!(ended, ringload_proxy::Ended::Limit);
    let c = proxy.stop().unwrap().capture.unwrap();
    assert_eq!(c.exchanges.len(), n);
}

#[test]
fn added_latency_delays_each_request_by_about_that_much() {
    let reqs = vec![b"GET / HTTP/1.1\r\n\r\n".to_vec(); 20];
    let resps = vec![b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(); 20];
    let up = Upstream::exchanges(reqs.clone(), resps.clone());
    let proxy = ringload_proxy::spawn(ringload_proxy::ProxyConfig {
        upstream: up.addr,
        added_latency: Duration::from_millis(5),
        ..Default::default()
    })
    .unwrap();
    let mut s = connect(proxy.local_addr());
    let started = std::time::Instant::now();
    for (q, a) in reqs.iter().zip(&resps) {
        s.write_all(q).unwrap();
        assert_eq!(&read_n(&mut s, a.len()), a);
    }
    let per = started.elapsed() / 20;
    assert!(
        per >= Duration::from_millis(5) && per < Duration::from_millis(50),
        "{per:?} per request"
    );
}

#[test]
fn tls_from_clients_and_to_an_https_upstream() {
    let (cert, key, ca) = common::tls_identity();
    let req = b"GET /secure HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9\r\n\r\n{\"ok\":1}\n";
    let up = Upstream::tls(
        common::tls_server(&cert, &key),
        vec![req.to_vec(), req.to_vec()],
        vec![resp.to_vec(), resp.to_vec()],
    );
    let client_cfg = common::tls_client(&ca);
    let proxy = ringload_proxy::spawn(ringload_proxy::ProxyConfig {
        upstream: up.addr,
        upstream_tls: Some(ringload_proxy::UpstreamTls {
            config: client_cfg.clone(),
            server_name: "localhost".try_into().unwrap(),
        }),
        tls: Some(ringload_proxy::tls::server_config(&cert, &key).unwrap()),
        record: Some(Default::default()),
        ..Default::default()
    })
    .unwrap();
    let through = common::tls_get(proxy.local_addr(), &client_cfg, &[req, req]);
    let direct = common::tls_get(up.addr, &client_cfg, &[req, req]);
    assert_eq!(through, direct);
    assert_eq!(through, [&resp[..], &resp[..]].concat());
    std::thread::sleep(Duration::from_millis(100));
    let c = proxy.stop().unwrap().capture.unwrap();
    assert_eq!(c.exchanges.len(), 2);
    assert_eq!(c.exchanges[0].scheme.as_deref(), Some("https"));
    assert_eq!(up.failures(), 0);
}

#[test]
fn a_client_that_fails_the_tls_handshake_costs_nothing_else() {
    let (cert, key, _) = common::tls_identity();
    let up = Upstream::script(|_, check| check(false));
    let proxy = ringload_proxy::spawn(ringload_proxy::ProxyConfig {
        upstream: up.addr,
        tls: Some(ringload_proxy::tls::server_config(&cert, &key).unwrap()),
        ..Default::default()
    })
    .unwrap();
    let mut s = connect(proxy.local_addr());
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let _ = read_to_eof(&mut s);
    std::thread::sleep(Duration::from_millis(50));
    let stats = proxy.stop().unwrap().stats;
    assert_eq!((stats.tls_failures, stats.requests), (1, 0));
    assert_eq!(up.connections(), 0);
}

#[test]
fn server_config_errors_name_what_is_wrong() {
    let e = ringload_proxy::tls::server_config(b"not pem", b"").unwrap_err();
    assert!(e.to_string().contains("certificate"), "{e}");
    let (cert, _, _) = common::tls_identity();
    let e = ringload_proxy::tls::server_config(&cert, b"nope").unwrap_err();
    assert!(e.to_string().contains("key"), "{e}");
}
