//! Against a real nginx: keep-alive limits that close connections mid-pipeline lose nothing.

mod util;

use util::nginx::Nginx;
use util::ringload;

#[test]
fn nginx_keepalive_limit_mid_pipeline_loses_no_request() {
    let ng = Nginx::start(
        "keepalive_requests 100; keepalive_timeout 30s;",
        "location = /ok { default_type text/plain; return 200 \"ok\"; }",
    );
    let dir = tempfile::tempdir().unwrap();
    let plan = util::targets_plan(dir.path(), "GET http://x/ok");
    let out = dir.path().join("r.json");
    let r = ringload([
        "run",
        &plan,
        "--target",
        &ng.url(),
        "-c",
        "4",
        "-p",
        "16",
        "--threads",
        "1",
        "-n",
        "20000",
        "--timeout",
        "5s",
        "-o",
        out.to_str().unwrap(),
    ]);
    r.assert_ok();
    let v = util::read_json(&out);
    util::assert_result_schema(&v);
    let s = &v["summary"];
    let n = |k: &str| s[k].as_u64().unwrap();
    assert_eq!(n("requests"), 20000, "{s}");
    assert_eq!(n("ok"), 20000, "{}", r.stdout);
    assert_eq!(n("failed") + n("timed_out") + n("in_flight_at_end"), 0);
    assert!(
        n("resent") > 0,
        "nginx closed every 100 requests under 16 pipelined: {}",
        r.stdout
    );
    assert!(n("server_closes") >= 20000 / 100 - 4, "{}", r.stdout);
    assert_eq!(s["status"]["200"], 20000);
    assert!(s["histogram"].as_str().unwrap().len() > 10);
    assert!(v["valid"].as_bool().unwrap());
}

/// nginx as a gateway in front of the built-in target (keep-alive upstream, as gateways run):
/// `compare` sees the extra hop as a positive median p50 overhead.
#[test]
fn compare_measures_an_nginx_gateway_hop() {
    let t = ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap();
    let gw = Nginx::start(
        &format!(
            "upstream app {{ server {}; keepalive 16; }}",
            t.local_addr()
        ),
        "location / { proxy_pass http://app; proxy_http_version 1.1; \
         proxy_set_header Connection \"\"; }",
    );
    let dir = tempfile::tempdir().unwrap();
    let plan = util::targets_plan(dir.path(), "GET http://x/api/products");
    let out = dir.path().join("c.json");
    let r = ringload([
        "compare",
        &plan,
        "--baseline",
        &format!("http://{}", t.local_addr()),
        "--candidate",
        &gw.url(),
        "--rounds",
        "6",
        "-d",
        "300ms",
        "-c",
        "2",
        "--threads",
        "1",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    println!("{}", r.stdout);
    let v = util::read_json(&out);
    // The hop costs tens of microseconds at p50 on loopback: the median over rounds shows it
    // (a single noisy round may not, so the sign test is not asserted here).
    let p50 = &v["overhead"][0];
    assert!(p50["overhead_us"].as_f64().unwrap() > 0.0, "{}", r.stdout);
    for side in ["baseline", "candidate"] {
        let s = &v[side]["summary"];
        assert_eq!(s["failed"], 0, "{side}: {s}");
        assert_eq!(s["status"]["200"], s["requests"], "{side}: {s}");
    }
}

/// A run of `n` requests against `url` with `extra` flags; the run and its JSON.
fn run_against(
    dir: &std::path::Path,
    url: &str,
    n: &str,
    extra: &[&str],
) -> (util::Run, serde_json::Value) {
    let plan = util::targets_plan(dir, "GET http://x/ok");
    let out = dir.join("r.json");
    let _ = std::fs::remove_file(&out);
    let mut args = vec![
        "run",
        &plan,
        "--target",
        url,
        "-c",
        "4",
        "-p",
        "16",
        "--threads",
        "1",
        "-n",
        n,
        "--timeout",
        "5s",
        "--connect-timeout",
        "1s",
        "--give-up-after",
        "2s",
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let r = ringload(&args);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let v = if out.exists() {
        util::read_json(&out)
    } else {
        serde_json::Value::Null
    };
    (r, v)
}

fn accounting_exact(v: &serde_json::Value) {
    let s = &v["summary"];
    let n = |k: &str| s[k].as_u64().unwrap();
    assert_eq!(
        n("requests"),
        n("ok") + n("failed") + n("timed_out") + n("in_flight_at_end"),
        "{s}"
    );
}

/// nginx with TLS (rcgen certificate), 1.3 and 1.2, and a keep-alive limit of 100 that closes
/// connections (close_notify) under 16 pipelined requests: nothing lost, nothing failed.
#[test]
fn nginx_tls_pipelined_depth16_loses_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let ca = util::tls::Ca::new(dir.path(), "ca");
    let srv = ca.server("nginx", &["localhost", "127.0.0.1"]);
    let ng = Nginx::start_tls(
        &format!(
            "ssl_certificate {}; ssl_certificate_key {}; ssl_protocols TLSv1.2 TLSv1.3;",
            srv.cert(),
            srv.key()
        ),
        "keepalive_requests 100; keepalive_timeout 30s;",
        "location = /ok { default_type text/plain; return 200 \"ok\"; }",
    );
    for version in ["1.3", "1.2"] {
        let (r, v) = run_against(
            dir.path(),
            &ng.url(),
            "20000",
            &["--cacert", ca.cert(), "--tls-version", version],
        );
        r.assert_ok();
        util::assert_result_schema(&v);
        accounting_exact(&v);
        let s = &v["summary"];
        assert_eq!(s["ok"], 20000, "{}", r.stdout);
        assert_eq!(
            s["failed"].as_u64().unwrap() + s["timed_out"].as_u64().unwrap(),
            0
        );
        assert_eq!(s["status"]["200"], 20000);
        assert!(s["resent"].as_u64().unwrap() > 0, "{}", r.stdout);
        let tls = &s["tls"];
        assert_eq!(tls["errors"], 0, "{tls}");
        // One handshake per 100 requests, most of them resumed.
        assert!(tls["handshakes"].as_u64().unwrap() >= 200, "{tls}");
        assert!(tls["resumed_share"].as_f64().unwrap() > 0.5, "{tls}");
    }
}

/// nginx requiring client certificates (`ssl_verify_client on`): with --cert/--key a depth-16
/// replay is clean. Without one, stock nginx completes the handshake and answers every request
/// `400 No required SSL certificate was sent` (then closes): ringload counts 400s, not TLS
/// errors. Told to refuse in the handshake, as mesh sidecars do (OpenSSL's `VerifyMode
/// Require`), nginx refuses every connection and the run ends by itself with `tls` errors.
#[test]
fn nginx_mtls_with_and_without_the_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = util::tls::Ca::new(dir.path(), "ca");
    let clients = util::tls::Ca::new(dir.path(), "clients");
    let srv = ca.server("nginx", &["localhost", "127.0.0.1"]);
    let me = clients.client("me");
    let tls = format!(
        "ssl_certificate {}; ssl_certificate_key {}; ssl_protocols TLSv1.2 TLSv1.3; \
         ssl_verify_client on; ssl_client_certificate {};",
        srv.cert(),
        srv.key(),
        clients.cert()
    );
    let location =
        "location = /ok { default_type text/plain; return 200 \"ok $ssl_client_verify\"; }";
    let ng = Nginx::start_tls(&tls, "", location);
    let (r, v) = run_against(
        dir.path(),
        &ng.url(),
        "20000",
        &[
            "--cacert",
            ca.cert(),
            "--cert",
            me.cert(),
            "--key",
            me.key(),
        ],
    );
    r.assert_ok();
    accounting_exact(&v);
    let s = &v["summary"];
    assert_eq!(s["ok"], 20000, "{}", r.stdout);
    assert_eq!(s["status"]["200"], 20000);
    assert_eq!(s["tls"]["errors"], 0);
    assert!(s["bytes_in"].as_u64().unwrap() > 20000 * "ok SUCCESS".len() as u64);

    // Stock nginx: HTTP 400 for every request, no TLS error.
    let (r, v) = run_against(dir.path(), &ng.url(), "200", &["--cacert", ca.cert()]);
    accounting_exact(&v);
    let s = &v["summary"];
    assert_eq!(s["status"]["400"], 200, "{}", r.stdout);
    assert_eq!(s["tls"]["errors"], 0, "{}", r.stdout);

    // Refusing in the handshake: TLS errors, exit 1, over by itself.
    let strict = Nginx::start_tls(
        &format!("{tls} ssl_conf_command VerifyMode Require;"),
        "",
        location,
    );
    for version in ["1.3", "1.2"] {
        let t = std::time::Instant::now();
        let (r, v) = run_against(
            dir.path(),
            &strict.url(),
            "1000",
            &["--cacert", ca.cert(), "--tls-version", version],
        );
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "ended by itself"
        );
        assert_eq!(
            r.code,
            1,
            "{}\n{}\n{}",
            r.stdout,
            r.stderr,
            strict.error_log()
        );
        accounting_exact(&v);
        assert!(
            r.stderr.contains("in TLS: the server sent alert"),
            "{}",
            r.stderr
        );
        let s = &v["summary"];
        // Refusals back off like failed connects: a few per connection, not one per 5 ms.
        let errors = s["tls"]["errors"].as_u64().unwrap();
        assert!(
            (1..=4 * 10).contains(&errors),
            "{errors} refused handshakes in 2 s"
        );
        assert_eq!(
            (s["ok"].as_u64(), s["failed"].as_u64()),
            (Some(0), Some(0)),
            "{s}"
        );
        println!("TLS {version}: {}", r.stderr.trim());
    }
}
