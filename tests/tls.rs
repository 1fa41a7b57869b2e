//! `ringload run` against TLS servers made in the test (rcgen certificates; the built-in target
//! with `tls`, or raw TCP servers misbehaving): versions as asked and as the server saw them,
//! mTLS, every certificate failure with its reason, --cacert/--insecure/--sni/--resolve, a
//! stalled or garbled handshake ending the run by itself, one handshake per request with and
//! without resumption; the accounting identity holds and every run ends in bounded time.

mod util;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use util::tls::{Ca, target};
use util::{Run, ringload};

/// Run the one-request plan against `url` with `extra` flags; returns the run and its JSON.
fn run_tls(dir: &Path, url: &str, extra: &[&str]) -> (Run, serde_json::Value, Duration) {
    let plan = dir.join("p.plan");
    if !plan.exists() {
        util::targets_plan(dir, "GET http://x/ok");
    }
    let out = dir.join("r.json");
    let _ = std::fs::remove_file(&out);
    let mut args = vec![
        "run",
        plan.to_str().unwrap(),
        "--target",
        url,
        "--threads",
        "1",
        "--timeout",
        "3s",
        "--connect-timeout",
        "500ms",
        "--give-up-after",
        "1s",
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let t = Instant::now();
    let r = ringload(&args);
    let took = t.elapsed();
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let v = if out.exists() {
        util::read_json(&out)
    } else {
        serde_json::Value::Null
    };
    (r, v, took)
}

/// The accounting identity of a result.
fn accounted(v: &serde_json::Value) {
    let s = &v["summary"];
    let n = |k: &str| s[k].as_u64().unwrap();
    assert_eq!(
        n("requests"),
        n("ok") + n("failed") + n("timed_out") + n("in_flight_at_end"),
        "{s}"
    );
}

/// A run that completed `n` requests over TLS without an error.
fn all_ok(r: &Run, v: &serde_json::Value, n: u64) {
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    accounted(v);
    let s = &v["summary"];
    assert_eq!(s["ok"], n, "{}", r.stdout);
    assert_eq!(s["tls"]["errors"], 0, "{}", r.stdout);
    assert!(s["tls"]["handshakes"].as_u64().unwrap() >= 1);
}

/// A run refused in TLS: exit 1 with the give-up message, `tls` errors with `reason`, nothing
/// answered or charged, and it ended by itself within `--give-up-after` plus margins.
fn refused(r: &Run, v: &serde_json::Value, took: Duration, reason: &str) {
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("could be opened"), "{}", r.stderr);
    assert!(
        r.stderr.contains(reason),
        "stderr names {reason:?}: {}",
        r.stderr
    );
    assert!(took < Duration::from_secs(8), "ended by itself: {took:?}");
    accounted(v);
    let s = &v["summary"];
    assert_eq!(s["ok"], 0, "{}", r.stdout);
    assert_eq!(
        s["failed"], 0,
        "a refused connection charges no request: {s}"
    );
    let tls = &s["tls"];
    assert!(tls["errors"].as_u64().unwrap() >= 1, "{tls}");
    let reasons = tls["reasons"].to_string();
    assert!(reasons.contains(reason), "{reason:?} in {reasons}");
    assert!(r.stdout.contains("tls errors"), "{}", r.stdout);
}

#[test]
fn tls_versions_as_asked_and_as_the_server_saw_them() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let t = target(&ca.server("srv", &["localhost"]), None);
    let url = format!("https://localhost:{}", t.local_addr().port());
    let mut tls13 = 0;
    for version in ["1.3", "1.2"] {
        let (r, v, _) = run_tls(
            dir.path(),
            &url,
            &[
                "--cacert",
                ca.cert(),
                "--tls-version",
                version,
                "-c",
                "2",
                "-p",
                "16",
                "-n",
                "2000",
            ],
        );
        all_ok(&r, &v, 2000);
        let s = t.stats();
        assert_eq!(
            s.tls_handshakes,
            2 * if version == "1.3" { 1 } else { 2 },
            "{s:?}"
        );
        if version == "1.3" {
            tls13 = s.tls13;
        }
        assert!(r.stdout.contains("tls: 2 handshakes"), "{}", r.stdout);
    }
    assert_eq!(tls13, 2, "the 1.3 run negotiated 1.3");
    assert_eq!(t.stats().tls13, 2, "the 1.2 run negotiated 1.2");
    let plan = dir.path().join("p.plan");
    let r = ringload([
        "run",
        plan.to_str().unwrap(),
        "--target",
        &url,
        "--tls-version",
        "1.1",
    ]);
    r.assert_bad_input("--tls-version");
}

#[test]
fn mtls_passes_with_the_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let clients = Ca::new(dir.path(), "clients");
    let t = target(&ca.server("srv", &["localhost"]), Some(&clients));
    let me = clients.client("me");
    let url = format!("https://localhost:{}", t.local_addr().port());
    let (r, v, _) = run_tls(
        dir.path(),
        &url,
        &[
            "--cacert",
            ca.cert(),
            "--cert",
            me.cert(),
            "--key",
            me.key(),
            "-c",
            "2",
            "-p",
            "8",
            "-n",
            "1000",
        ],
    );
    all_ok(&r, &v, 1000);
    let s = t.stats();
    assert_eq!((s.tls_client_certs, s.tls_handshakes), (2, 2), "{s:?}");
}

/// No client certificate, or one from another CA: the target refuses the handshake; every
/// connection is a `tls` error with the alert as its reason and the run gives up by itself.
#[test]
fn mtls_refuses_a_missing_or_foreign_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let clients = Ca::new(dir.path(), "clients");
    let strangers = Ca::new(dir.path(), "strangers");
    let t = target(&ca.server("srv", &["localhost"]), Some(&clients));
    let url = format!("https://localhost:{}", t.local_addr().port());
    let stranger = strangers.client("stranger");
    for (extra, reason) in [
        (vec![], "CertificateRequired"),
        (
            vec!["--cert", stranger.cert(), "--key", stranger.key()],
            "UnknownCA",
        ),
    ] {
        for version in ["1.3", "1.2"] {
            let mut args = vec![
                "--cacert",
                ca.cert(),
                "-c",
                "2",
                "-n",
                "100",
                "--tls-version",
                version,
            ];
            args.extend_from_slice(&extra);
            let (r, v, took) = run_tls(dir.path(), &url, &args);
            refused(&r, &v, took, reason);
        }
    }
    assert_eq!(t.stats().requests, 0);
}

#[test]
fn untrusted_server_certificate_fails_without_cacert_or_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let t = target(&ca.server("srv", &["localhost"]), None);
    let url = format!("https://localhost:{}", t.local_addr().port());
    let (r, v, took) = run_tls(dir.path(), &url, &["-c", "2", "-n", "100"]);
    refused(&r, &v, took, "unknown CA");
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);

    let (r, v, _) = run_tls(
        dir.path(),
        &url,
        &["--cacert", ca.cert(), "-c", "2", "-n", "100"],
    );
    all_ok(&r, &v, 100);

    let (r, v, _) = run_tls(dir.path(), &url, &["--insecure", "-c", "2", "-n", "100"]);
    all_ok(&r, &v, 100);
    assert!(
        r.stderr
            .contains("warning: --insecure: the server certificate is not verified"),
        "{}",
        r.stderr
    );
}

/// A self-signed CA certificate serving as the server's (what `openssl req -x509` makes by
/// default) is refused by webpki even when trusted: the reason says why in words.
#[test]
fn a_ca_certificate_serving_as_the_server_certificate_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let pair = util::tls::Pair {
        cert: util::write(dir.path(), "self.pem", p.self_signed(&key).unwrap().pem()),
        key: util::write(dir.path(), "self.key", key.serialize_pem()),
    };
    let t = target(&pair, None);
    let url = format!("https://localhost:{}", t.local_addr().port());
    let (r, v, took) = run_tls(
        dir.path(),
        &url,
        &["--cacert", pair.cert(), "-c", "1", "-n", "10"],
    );
    refused(&r, &v, took, "is a CA certificate");
}

#[test]
fn expired_server_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let t = target(&ca.expired_server("old", &["localhost"]), None);
    let url = format!("https://localhost:{}", t.local_addr().port());
    let (r, v, took) = run_tls(
        dir.path(),
        &url,
        &["--cacert", ca.cert(), "-c", "2", "-n", "100"],
    );
    refused(&r, &v, took, "server certificate expired");
    // --insecure is the way past it, and says so.
    let (r, v, _) = run_tls(dir.path(), &url, &["--insecure", "-c", "2", "-n", "100"]);
    all_ok(&r, &v, 100);
}

/// A certificate for shop.test reached by address: the name does not match, until --sni names
/// it, or the URL names it and --resolve gives the address.
#[test]
fn name_mismatch_and_sni_or_resolve_making_it_match() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let t = target(&ca.server("shop", &["shop.test"]), None);
    let port = t.local_addr().port();
    let by_addr = format!("https://127.0.0.1:{port}");
    let common = ["--cacert", ca.cert(), "-c", "2", "-n", "100"];
    let (r, v, took) = run_tls(dir.path(), &by_addr, &common);
    refused(&r, &v, took, "does not match the name");

    let mut args = common.to_vec();
    args.extend(["--sni", "shop.test"]);
    let (r, v, _) = run_tls(dir.path(), &by_addr, &args);
    all_ok(&r, &v, 100);

    let resolve = format!("shop.test:{port}:127.0.0.1");
    let mut args = common.to_vec();
    args.extend(["--resolve", &resolve]);
    let (r, v, _) = run_tls(dir.path(), &format!("https://shop.test:{port}"), &args);
    all_ok(&r, &v, 100);
    assert_eq!(v["run"]["target"], format!("https://shop.test:{port}"));
}

/// Serve raw TCP with `handler` for each connection (until the test ends).
fn raw_server(handler: fn(std::net::TcpStream)) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().take(200) {
            let Ok(s) = s else { return };
            std::thread::spawn(move || handler(s));
        }
    });
    port
}

/// A server that reads the ClientHello and then answers nothing, or half a record: the
/// connect timeout ends each attempt and the run gives up by itself.
#[test]
fn a_handshake_stalled_by_the_server_times_out() {
    let dir = tempfile::tempdir().unwrap();
    for handler in [
        (|mut s: std::net::TcpStream| {
            let mut b = [0u8; 4096];
            let _ = s.read(&mut b);
            std::thread::sleep(Duration::from_secs(10));
        }) as fn(std::net::TcpStream),
        |mut s| {
            let mut b = [0u8; 4096];
            let _ = s.read(&mut b);
            // A handshake record header announcing 64 bytes, and 10 of them.
            let _ = s.write_all(&[
                0x16, 0x03, 0x03, 0x00, 0x40, 2, 0, 0, 0x3c, 3, 3, 0, 0, 0, 0,
            ]);
            std::thread::sleep(Duration::from_secs(10));
        },
    ] {
        let port = raw_server(handler);
        let url = format!("https://localhost:{port}");
        let (r, v, took) = run_tls(dir.path(), &url, &["--insecure", "-c", "2", "-n", "100"]);
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        assert!(took < Duration::from_secs(8), "no hang: {took:?}");
        assert!(r.stderr.contains("timed out"), "{}", r.stderr);
        accounted(&v);
        assert_eq!(v["summary"]["ok"], 0);
        assert_eq!(v["summary"]["failed"], 0);
    }
}

/// A plain HTTP server on the https port answers the ClientHello with an HTTP error: a `tls`
/// error naming what rustls saw, and the run gives up by itself.
#[test]
fn garbage_instead_of_a_server_hello() {
    let dir = tempfile::tempdir().unwrap();
    let port = raw_server(|mut s| {
        let mut b = [0u8; 4096];
        let _ = s.read(&mut b);
        let _ = s.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    });
    let url = format!("https://localhost:{port}");
    let (r, v, took) = run_tls(dir.path(), &url, &["--insecure", "-c", "2", "-n", "100"]);
    refused(&r, &v, took, "corrupt message");
}

/// `--requests-per-connection 1`: a handshake per request; resumed after the first ones, or
/// never with --no-tls-resume; the server counts the same.
#[test]
fn one_handshake_per_request_resumed_unless_told_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    for resume in [true, false] {
        let t = target(&ca.server("srv", &["localhost"]), None);
        let url = format!("https://localhost:{}", t.local_addr().port());
        let mut args = vec![
            "--cacert",
            ca.cert(),
            "-c",
            "2",
            "-n",
            "300",
            "--requests-per-connection",
            "1",
        ];
        if !resume {
            args.push("--no-tls-resume");
        }
        let (r, v, took) = run_tls(dir.path(), &url, &args);
        all_ok(&r, &v, 300);
        assert!(took < Duration::from_secs(30));
        let tls = &v["summary"]["tls"];
        let hs = tls["handshakes"].as_u64().unwrap();
        assert!(
            (300..=302).contains(&hs),
            "one handshake per request: {tls}"
        );
        let share = tls["resumed_share"].as_f64().unwrap();
        let s = t.stats();
        assert_eq!(
            tls["resumed"].as_u64().unwrap(),
            s.tls_resumed,
            "client and server agree"
        );
        if resume {
            assert!(share > 0.9, "{tls}");
        } else {
            assert_eq!(share, 0.0, "{tls}");
            assert_eq!(s.tls_resumed, 0);
        }
        assert!(tls["handshake_us"]["p50"].as_u64().unwrap() > 0);
        assert_eq!(v["summary"]["connections_opened"].as_u64().unwrap(), hs);
    }
}

/// Caught: `compare` gave both sides the same TLS options, so a plain baseline against an mTLS
/// candidate stopped at "TLS options ... need an https:// target". The options now serve the
/// https side: "plain vs mTLS" is one command.
#[test]
fn compare_a_plain_baseline_with_an_mtls_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let clients = Ca::new(dir.path(), "clients");
    let me = clients.client("me");
    let plain = ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap();
    let mtls = target(&ca.server("srv", &["localhost"]), Some(&clients));
    let plan = util::targets_plan(dir.path(), "GET http://x/ok");
    let out = dir.path().join("c.json");
    let baseline = format!("http://127.0.0.1:{}", plain.local_addr().port());
    let candidate = format!("https://localhost:{}", mtls.local_addr().port());
    let r = ringload([
        "compare",
        &plan,
        "--baseline",
        &baseline,
        "--candidate",
        &candidate,
        "--rounds",
        "2",
        "-d",
        "300ms",
        "-c",
        "2",
        "--threads",
        "1",
        "--cacert",
        ca.cert(),
        "--cert",
        me.cert(),
        "--key",
        me.key(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = util::read_json(&out);
    for side in ["baseline", "candidate"] {
        let s = &v[side]["summary"];
        assert_eq!(s["failed"], 0, "{side}: {s}");
        assert!(s["ok"].as_u64().unwrap() > 0, "{side}: {s}");
    }
    assert!(mtls.stats().tls_client_certs >= 2, "{:?}", mtls.stats());
    assert_eq!(plain.stats().tls_handshakes, 0);
    // Neither side https: the TLS options are a mistake, said as such.
    let r = ringload([
        "compare",
        &plan,
        "--baseline",
        &baseline,
        "--candidate",
        &baseline,
        "--cert",
        me.cert(),
        "--key",
        me.key(),
    ]);
    r.assert_bad_input("need an https:// target");
}
