//! `ringload proxy` and `record --proxy` end to end against the built-in target: answers through
//! the proxy are the target's byte for byte, signals end both as documented, and under load
//! (`ringload run`, 64 connections for 5 s) every request the target served is one recorded
//! step, while the proxy's memory stays bounded with 2 MiB bodies streaming both ways.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use util::{Background, ringload, write};

fn target(shop: bool) -> ringload_target::TargetHandle {
    ringload_target::spawn(ringload_target::TargetConfig {
        shop: shop.then(ringload_target::ShopConfig::default),
        ..Default::default()
    })
    .expect("target")
}

/// Sends `raw` (one or more pipelined requests) on a new connection and reads `answers` whole
/// responses, framed by the shared decoder; returns their bytes.
fn exchange(addr: &str, raw: &[u8], answers: usize, head: bool) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw).unwrap();
    let mut dec = ringload_http1::ResponseDecoder::new(Default::default());
    let to = if head {
        ringload_http1::ResponseTo::Head
    } else {
        ringload_http1::ResponseTo::NonHead
    };
    let (mut buf, mut out, mut done) = (Vec::new(), Vec::new(), 0);
    let mut chunk = vec![0u8; 65536];
    while done < answers {
        let n = s.read(&mut chunk).expect("read");
        assert!(n > 0, "closed after {done} answers");
        buf.extend_from_slice(&chunk[..n]);
        loop {
            let d = dec.decode(&buf, to).expect("valid answer");
            out.extend_from_slice(&buf[..d.consumed]);
            buf.drain(..d.consumed);
            if d.message.is_some() {
                done += 1;
            } else if d.consumed == 0 || buf.is_empty() {
                break;
            }
        }
    }
    out
}

#[test]
fn answers_through_ringload_proxy_are_the_targets_byte_for_byte_and_sigint_prints_counters() {
    let t = target(true);
    let url = format!("http://{}", t.local_addr());
    let p = Background::start(["proxy", "--upstream", &url]);
    let direct = t.local_addr().to_string();
    let body = "x".repeat(300_000);
    let cases: Vec<(Vec<u8>, usize, bool)> = vec![
        (b"GET /?size=100000 HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), 1, false),
        (b"GET /?size=70000&chunked=1 HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), 1, false),
        (b"HEAD /?size=4096 HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), 1, true),
        (b"GET /?status=404 HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), 1, false),
        (
            format!("POST /?delay=1ms HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}", body.len())
                .into_bytes(),
            1,
            false,
        ),
        (
            b"GET /api/v1/products HTTP/1.1\r\nHost: t\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n\
              GET /api/v1/recommendations?product_id=1 HTTP/1.1\r\nx-user-segment: beta-testers\r\n\r\n"
                .to_vec(),
            3,
            false,
        ),
        (b"GET /?close=1 HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), 1, false),
    ];
    for (raw, n, head) in &cases {
        let a = exchange(&direct, raw, *n, *head);
        let b = exchange(&p.addr, raw, *n, *head);
        assert!(
            a == b,
            "{:?}: direct {:?} vs proxied {:?}",
            String::from_utf8_lossy(&raw[..raw.len().min(60)]),
            String::from_utf8_lossy(&a[..a.len().min(200)]),
            String::from_utf8_lossy(&b[..b.len().min(200)])
        );
    }
    p.signal(libc::SIGINT);
    let (code, out) = p.finish();
    assert_eq!(code, 130, "{out}");
    assert!(
        out.contains("proxy: 9 requests on 7 connections: 9 forwarded, 9 answered"),
        "{out}"
    );
}

#[test]
fn record_through_the_proxy_until_ctrl_c_finds_the_login_and_the_canary() {
    let t = target(true);
    let url = format!("http://{}", t.local_addr());
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("shop.plan");
    let p = Background::start([
        "record",
        "--proxy",
        "127.0.0.1:0",
        "--upstream",
        &url,
        "-o",
        plan.to_str().unwrap(),
        "--segment",
        "canary=x-user-segment:beta-testers",
        "--default-segment",
        "stable",
        "--expect-header",
        "x-upstream-version",
    ]);
    let form = "username=ada&password=P@ssw0rd-LoadTest!&grant_type=password&client_id=web";
    let login = format!(
        "POST /auth/realms/shop/protocol/openid-connect/token HTTP/1.1\r\nHost: shop\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    let answer = String::from_utf8(exchange(&p.addr, login.as_bytes(), 1, false)).unwrap();
    let token = answer
        .split("\"access_token\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a token");
    let shopper = format!(
        "GET /api/v1/cart HTTP/1.1\r\nHost: shop\r\nAuthorization: Bearer {token}\r\n\r\n\
         POST /api/v1/checkout HTTP/1.1\r\nHost: shop\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: 2\r\n\r\n{{}}"
    );
    // The token goes on another connection, as a browser would do it.
    exchange(&p.addr, shopper.as_bytes(), 2, false);
    let canary = b"GET /api/v1/recommendations?product_id=SKU-1 HTTP/1.1\r\nHost: shop\r\n\r\n\
        GET /api/v1/recommendations?product_id=SKU-1 HTTP/1.1\r\nHost: shop\r\nx-user-segment: beta-testers\r\n\r\n";
    exchange(&p.addr, canary, 2, false);
    p.signal(libc::SIGINT);
    let (code, out) = p.finish();
    assert_eq!(code, 0, "{out}");
    for needle in [
        "recording proxy stopped (interrupted): 5 exchanges recorded",
        "recorded 4 steps",
        "from proxy: 5 requests",
        "auth profile",
        "POST /auth/realms/shop/protocol/openid-connect/token",
        "expect x-upstream-version in canary: {canary-v2}",
        "expect x-upstream-version in stable: {stable}",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    let i = ringload(["inspect", plan.to_str().unwrap(), "--json"]);
    i.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&i.stdout).unwrap();
    assert_eq!(v["steps"], 4, "{}", i.stdout);
}

#[test]
fn record_through_the_proxy_options_are_checked_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("p.plan");
    let p = plan.to_str().unwrap();
    let base = ["record", "-o", p, "--proxy", "127.0.0.1:0"];
    let with = |extra: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(extra);
        ringload(a)
    };
    with(&[]).assert_bad_input("--upstream URL is needed");
    with(&["--upstream", "ftp://x"]).assert_bad_input("--upstream \"ftp://x\"");
    with(&["--upstream", "http://127.0.0.1:9", "--max-requests", "0"])
        .assert_bad_input("--max-requests 0");
    with(&["--upstream", "http://127.0.0.1:9", "--max-body", "1GiB"])
        .assert_bad_input("--max-body");
    with(&[
        "--upstream",
        "http://127.0.0.1:9",
        "--tls-cert",
        "/nonexistent.pem",
        "--tls-key",
        "/nonexistent.key",
    ])
    .assert_bad_input("--tls-cert /nonexistent.pem");
    ringload(["record", "-o", p, "--upstream", "http://127.0.0.1:9"])
        .assert_bad_input("--upstream goes with --proxy");
    ringload([
        "proxy",
        "--upstream",
        "http://127.0.0.1:9",
        "--add-latency",
        "1h",
    ])
    .assert_bad_input("--add-latency 1h");
    assert!(!plan.exists());
}

#[test]
fn tls_on_both_sides_through_the_cli() {
    // client --plain--> record --proxy --TLS--> ringload proxy --tls-cert (terminates) --> target
    let t = target(false);
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = write(dir.path(), "cert.pem", ck.cert.pem());
    let key = write(dir.path(), "key.pem", ck.signing_key.serialize_pem());
    let front = Background::start([
        "proxy",
        "--upstream",
        &format!("http://{}", t.local_addr()),
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let port = front.addr.rsplit(':').next().unwrap().to_string();
    let plan = dir.path().join("tls.plan");
    let rec = Background::start([
        "record",
        "--proxy",
        "127.0.0.1:0",
        "--upstream",
        &format!("https://localhost:{port}"),
        "--cacert",
        cert.to_str().unwrap(),
        "-o",
        plan.to_str().unwrap(),
        "--max-requests",
        "2",
    ]);
    let got = exchange(
        &rec.addr,
        b"GET /?size=10 HTTP/1.1\r\nHost: t\r\n\r\nGET /?size=20 HTTP/1.1\r\nHost: t\r\n\r\n",
        2,
        false,
    );
    let direct = exchange(
        &t.local_addr().to_string(),
        b"GET /?size=10 HTTP/1.1\r\nHost: t\r\n\r\nGET /?size=20 HTTP/1.1\r\nHost: t\r\n\r\n",
        2,
        false,
    );
    assert_eq!(got, direct);
    let (code, out) = rec.finish();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("(the request limit was reached): 2 exchanges recorded"),
        "{out}"
    );
    front.signal(libc::SIGTERM);
    let (code, out) = front.finish();
    assert_eq!(code, 143, "{out}");
    assert!(
        out.starts_with("ringload proxy listening on https://"),
        "{out}"
    );
    assert!(out.contains("0 TLS handshake failures"), "{out}");
}

/// A plan of one request, recorded from a targets line (`@body` files in `dir`).
fn plan(dir: &std::path::Path, name: &str, targets: &str) -> String {
    let t = write(dir, &format!("{name}.targets"), targets);
    let p = dir.join(format!("{name}.plan"));
    ringload([
        "record",
        "--targets",
        t.to_str().unwrap(),
        "-o",
        p.to_str().unwrap(),
    ])
    .assert_ok();
    p.to_str().unwrap().to_string()
}

fn recorded(out: &str) -> u64 {
    out.split("): ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {out}"))
}

#[test]
fn under_load_every_request_the_target_served_is_one_recorded_step() {
    let t = target(false);
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "cart.json",
        r#"{"sku":"SKU-100045","quantity":1}"#,
    );
    let load = plan(
        dir.path(),
        "load",
        "GET http://x/api/v1/products?size=512\n\nPOST http://x/api/v1/cart/items\n@cart.json\n",
    );
    let out = dir.path().join("recorded.plan");
    let p = Background::start([
        "record",
        "--proxy",
        "127.0.0.1:0",
        "--upstream",
        &format!("http://{}", t.local_addr()),
        "-o",
        out.to_str().unwrap(),
    ]);
    let before = t.stats().requests;
    let r = ringload([
        "run",
        &load,
        "--target",
        &format!("http://{}", p.addr),
        "-c",
        "64",
        "-d",
        "5s",
        "--threads",
        "1",
        "-q",
    ]);
    r.assert_ok();
    let served = t.stats().requests - before;
    let rss = p.peak_rss_kib();
    p.signal(libc::SIGTERM);
    let (code, text) = p.finish();
    assert_eq!(code, 0, "{text}");
    let n = recorded(&text);
    assert_eq!(
        n, served,
        "recorded exchanges vs requests the target served\n{text}"
    );
    let i = ringload(["inspect", out.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&i.stdout).unwrap();
    assert_eq!(v["steps"].as_u64(), Some(served), "{}", i.stdout);
    assert_eq!(
        v["sessions"].as_u64(),
        Some(64),
        "one session per connection"
    );
    assert!(served > 1000, "only {served} requests in 5 s");
    eprintln!(
        "64 connections, 5 s: {served} requests served and recorded; proxy peak RSS {rss} KiB"
    );
}

#[test]
fn proxy_memory_stays_bounded_with_2_mib_bodies_streaming_both_ways() {
    let t = target(false);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "blob", vec![b'b'; 2 << 20]);
    let load = plan(
        dir.path(),
        "blob",
        "POST http://x/upload?size=2097152\n@blob\n",
    );
    let upstream = format!("http://{}", t.local_addr());
    let out = dir.path().join("r.plan");
    // Forwarding only, and recording with bodies beyond 64 KiB forwarded but not kept.
    for args in [
        vec!["proxy", "--upstream", &upstream],
        vec![
            "record",
            "--proxy",
            "127.0.0.1:0",
            "--upstream",
            &upstream,
            "--max-body",
            "64KiB",
            "-o",
            out.to_str().unwrap(),
        ],
    ] {
        let p = Background::start(&args);
        let before = t.stats().requests;
        let r = ringload([
            "run",
            &load,
            "--target",
            &format!("http://{}", p.addr),
            "-c",
            "64",
            "-d",
            "3s",
            "--threads",
            "1",
            "--timeout",
            "20s",
            "-q",
        ]);
        r.assert_ok();
        let rss_mib = p.peak_rss_kib() / 1024;
        p.signal(libc::SIGINT);
        let (code, text) = p.finish();
        if args[0] == "record" {
            // Every body was over the cap: forwarded, counted, none recorded.
            assert_eq!(code, 2, "{text}");
        }
        let served = t.stats().requests - before;
        eprintln!(
            "{}: {served} exchanges of 2 MiB each way in 3 s; peak RSS {rss_mib} MiB\n{text}",
            args[0]
        );
        assert!(served >= 64, "{served} exchanges");
        // Two 80 KiB buffers per connection (10 MiB for 64) plus the runtime: far below one
        // body per connection (128 MiB each way).
        assert!(rss_mib < 48, "{}: peak RSS {rss_mib} MiB", args[0]);
    }
}
