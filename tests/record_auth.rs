//! `record` on logged-in traffic, end to end: auth profiles found in the real shop fixtures
//! (recorder/tests/fixtures/README.md), logins out of the steps, no minted token left anywhere
//! in the plan, tokens from outside the capture kept and explained, `--auth keep|strip`,
//! `--auth-login` by hand, `--expect-header`/`--expect-status`, and what `inspect` shows.

mod util;

use std::path::{Path, PathBuf};

use ringload_formats::{Plan, StatusRule, read_plan};
use ringload_recorder::Exchange;
use ringload_recorder::source::{har, pcap};
use util::{ringload, write};

const OAUTH: &str = "POST /auth/realms/shop/protocol/openid-connect/token";
const STATIC_TOKEN: &str = "test-jwt-token-for-loadforge";

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("recorder/tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// Records with `args` into `dir/name.plan`; returns the plan path and `record`'s stdout.
fn record(dir: &Path, name: &str, args: &[&str]) -> (String, String) {
    let plan = dir.join(format!("{name}.plan")).display().to_string();
    let mut all = vec!["record"];
    all.extend_from_slice(args);
    all.extend(["-o", &plan]);
    let r = ringload(&all);
    r.assert_ok();
    (plan, r.stdout)
}

fn load(path: &str) -> (Plan, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    (read_plan(&bytes[..]).unwrap(), bytes)
}

fn inspect_json(plan: &str) -> serde_json::Value {
    let i = ringload(["inspect", plan, "--json"]);
    i.assert_ok();
    serde_json::from_str(&i.stdout).unwrap()
}

/// Every token the shop minted in a capture, read from its responses independently of
/// detection: JSON `access_token` / `data.token`, the `shop_session` cookie, `X-Auth-Token`.
fn minted(exchanges: &[Exchange]) -> Vec<String> {
    let mut out = Vec::new();
    for e in exchanges {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&e.response_body) {
            for p in ["/access_token", "/data/token"] {
                if let Some(t) = v.pointer(p).and_then(|t| t.as_str()) {
                    out.push(t.to_string());
                }
            }
        }
        for (n, v) in &e.response_headers {
            if n.eq_ignore_ascii_case("x-auth-token") {
                out.push(v.clone());
            }
            if let Some(c) = v.strip_prefix("shop_session=")
                && n.eq_ignore_ascii_case("set-cookie")
            {
                out.push(c.split(';').next().unwrap().to_string());
            }
        }
    }
    out
}

fn minted_in_pcap(name: &str) -> Vec<String> {
    let c = pcap::read(Path::new(&fixture(name)), &pcap::PcapOptions::default()).unwrap();
    minted(&c.exchanges)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Steps whose request has an auth slot, and the requests of all steps.
fn slotted_steps(plan: &Plan) -> usize {
    plan.steps()
        .filter(|s| plan.requests[s.request as usize].auth.is_some())
        .count()
}

#[test]
fn shoppers_pcap_logins_become_one_bearer_profile_and_no_minted_token_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let (path, out) = record(
        dir.path(),
        "shoppers",
        &["--pcap", &fixture("shop_shoppers.pcap")],
    );
    assert!(out.contains("recorded 27 steps in 5 sessions"), "{out}");
    assert!(
        out.contains(&format!(
            "auth profile {OAUTH} -> Authorization: Bearer (found in the capture)"
        )),
        "{out}"
    );
    assert!(
        out.contains("20 steps slotted; 3 captured logins removed from the steps"),
        "{out}"
    );
    assert!(
        out.contains("2 steps in 1 session carry a token no captured login handed out")
            && out.contains("--auth-login FILE")
            && out.contains("--auth-token-path /access_token"),
        "{out}"
    );
    let (plan, bytes) = load(&path);
    assert_eq!(plan.step_count(), 27);
    assert_eq!(plan.auth_profiles.len(), 1);
    let login = plan.auth_profiles[0].login;
    assert!(
        plan.steps().all(|s| s.request != login),
        "the login has no step"
    );
    assert_eq!(slotted_steps(&plan), 20);
    for r in plan.requests.iter().filter(|r| r.auth.is_some()) {
        assert!(
            !r.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("authorization")),
            "{r:?}"
        );
    }
    let tokens = minted_in_pcap("shop_shoppers.pcap");
    assert_eq!(tokens.len(), 3, "three logins");
    for t in &tokens {
        assert!(!contains(&bytes, t), "minted token left in the plan: {t}");
    }
    assert!(
        contains(&bytes, STATIC_TOKEN),
        "a token from outside the capture keeps its literal"
    );
    // Without the static-token user's requests, every token is minted at replay.
    let (_, out) = record(
        dir.path(),
        "minted-only",
        &[
            "--pcap",
            &fixture("shop_shoppers.pcap"),
            "--exclude",
            "user_id=u-(2044|3310)",
        ],
    );
    assert!(out.contains("recorded 25 steps in 4 sessions"), "{out}");
    assert!(!out.contains("no captured login handed out"), "{out}");

    let v = inspect_json(&path);
    let profiles = v["auth_profiles"].as_array().unwrap();
    assert_eq!(profiles.len(), 1);
    let p = &profiles[0];
    assert_eq!(p["login"], OAUTH);
    assert_eq!(p["login_content_type"], "application/x-www-form-urlencoded");
    assert_eq!(p["token_at"], "json /access_token");
    assert_eq!(p["send_as"], "header Authorization: Bearer <token>");
    assert_eq!(p["expires_at"], "/expires_in");
    assert_eq!(p["expires_in_s"], 300);
    assert_eq!(
        p["user_fields"],
        serde_json::json!(["username", "password"])
    );
    assert_eq!(p["slots"], 20);
    assert_eq!(p["sessions"], 3);
    let text = ringload(["inspect", &path]);
    text.assert_ok();
    for needle in [
        &format!("auth 0      {OAUTH} -> Authorization: Bearer"),
        "token     json /access_token -> header Authorization: Bearer <token>",
        "expiry    300 s as captured; read from /expires_in at each login",
        "users     username, password (filled by run --users)",
        "covers    20 steps in 3 sessions",
        &format!("0  {OAUTH}  (auth login)"),
    ] {
        assert!(
            text.stdout.contains(needle),
            "{needle:?} in\n{}",
            text.stdout
        );
    }
}

#[test]
fn cookie_header_and_query_tokens_each_get_their_profile() {
    let dir = tempfile::tempdir().unwrap();
    let (path, out) = record(
        dir.path(),
        "styles",
        &["--pcap", &fixture("shop_token_styles.pcap")],
    );
    assert!(out.contains("recorded 7 steps in 3 sessions"), "{out}");
    assert!(!out.contains("no captured login handed out"), "{out}");
    let v = inspect_json(&path);
    let got: Vec<(String, String, String, u64)> = v["auth_profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["login"].as_str().unwrap().to_string(),
                p["token_at"].as_str().unwrap().to_string(),
                p["send_as"].as_str().unwrap().to_string(),
                p["slots"].as_u64().unwrap(),
            )
        })
        .collect();
    let want = |l: &str, at: &str, to: &str, n| (l.to_string(), at.to_string(), to.to_string(), n);
    assert_eq!(
        got,
        [
            want(
                "POST /api/v1/session",
                "cookie shop_session",
                "cookie shop_session",
                3
            ),
            want(
                "POST /api/v1/token",
                "header x-auth-token",
                "header X-Auth-Token: <token>",
                2
            ),
            want(
                "POST /api/v1/login",
                "json /data/token",
                "query access_token",
                2
            ),
        ]
    );
    let (plan, bytes) = load(&path);
    assert_eq!(slotted_steps(&plan), 7);
    for t in minted_in_pcap("shop_token_styles.pcap") {
        assert!(!contains(&bytes, &t), "minted token left in the plan: {t}");
    }
    // Only the token is taken out: the other cookie and query parameter stay.
    let cookies: Vec<&str> = plan
        .requests
        .iter()
        .flat_map(|r| r.headers.iter())
        .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
        .map(|(_, v)| &**v)
        .collect();
    assert_eq!(cookies, ["theme=dark"; 3]);
    assert!(
        plan.requests
            .iter()
            .any(|r| &*r.target == "/api/v1/cart?view=full")
    );
    assert!(plan.requests.iter().any(|r| &*r.target == "/api/v1/orders"));
    // The cookie's Max-Age and the header's X-Auth-Expires-In are the captured lifetimes.
    assert!(
        plan.auth_profiles
            .iter()
            .all(|p| p.expires_in_s == Some(300))
    );
}

#[test]
fn chromium_har_login_and_bearer_calls() {
    let dir = tempfile::tempdir().unwrap();
    let har_path = fixture("shop_chromium.har");
    let (path, out) = record(dir.path(), "har", &["--har", &har_path]);
    assert!(out.contains("recorded 6 steps in 1 sessions"), "{out}");
    let (plan, bytes) = load(&path);
    assert_eq!(plan.auth_profiles.len(), 1);
    assert_eq!(slotted_steps(&plan), 6);
    let c = har::read(Path::new(&har_path)).unwrap();
    let tokens = minted(&c.exchanges);
    assert_eq!(tokens.len(), 1);
    assert!(!contains(&bytes, &tokens[0]));
    let login = &plan.requests[plan.auth_profiles[0].login as usize];
    assert!(
        login
            .body
            .starts_with(b"username=browser_user_4004&password="),
        "{:?}",
        String::from_utf8_lossy(&login.body)
    );
}

#[test]
fn auth_keep_leaves_tokens_and_strip_removes_them_without_slots() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = fixture("shop_shoppers.pcap");
    let tokens = minted_in_pcap("shop_shoppers.pcap");
    let (path, out) = record(dir.path(), "keep", &["--pcap", &pcap, "--auth", "keep"]);
    assert!(out.contains("recorded 30 steps"), "{out}");
    assert!(
        !out.contains("auth profile") && !out.contains("  auth:"),
        "keep says nothing about auth: {out}"
    );
    let (plan, bytes) = load(&path);
    assert!(plan.auth_profiles.is_empty() && slotted_steps(&plan) == 0);
    assert!(tokens.iter().all(|t| contains(&bytes, t)));

    let (path, out) = record(dir.path(), "strip", &["--pcap", &pcap, "--auth", "strip"]);
    assert!(out.contains("recorded 30 steps"), "{out}");
    assert!(
        out.contains("credentials stripped from 22 steps (--auth strip)"),
        "{out}"
    );
    let (plan, bytes) = load(&path);
    assert!(plan.auth_profiles.is_empty() && slotted_steps(&plan) == 0);
    assert!(tokens.iter().all(|t| !contains(&bytes, t)));
    assert!(!contains(&bytes, STATIC_TOKEN));
    assert!(plan.requests.iter().all(|r| {
        r.headers
            .iter()
            .all(|(n, _)| !n.eq_ignore_ascii_case("authorization"))
    }));
}

const LOGIN: &str = "\
POST http://shop.local/auth/realms/shop/protocol/openid-connect/token
Content-Type: application/x-www-form-urlencoded
@login.form
";

const TARGETS: &str = "\
GET http://shop.local/api/v1/products?page=1

POST http://shop.local/api/v1/cart/items
Authorization: Bearer eyJyesterdays.token.long-dead
Content-Type: application/json
@cart.json

GET http://shop.local/api/v1/orders
Authorization: Bearer eyJyesterdays.token.long-dead
";

#[test]
fn auth_login_by_hand_slots_targets_and_outside_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "cart.json",
        br#"{"product_id":"SKU-200112","quantity":2}"#,
    );
    write(
        d,
        "login.form",
        "grant_type=password&username=loadtest_user_1001&password=P%40ssw0rd-LoadTest%21&client_id=web-frontend",
    );
    let login = write(d, "login.txt", LOGIN).display().to_string();
    let targets = write(d, "t.txt", TARGETS).display().to_string();

    // Without a login: the message, and the literal stays.
    let (path, out) = record(d, "plain", &["--targets", &targets]);
    assert!(
        out.contains("2 steps in 1 session carry a token no captured login handed out"),
        "{out}"
    );
    assert!(contains(&load(&path).1, "eyJyesterdays.token.long-dead"));

    let (path, out) = record(
        d,
        "byhand",
        &["--targets", &targets, "--auth-login", &login],
    );
    assert!(
        out.contains(&format!(
            "auth profile {OAUTH} -> Authorization: Bearer (defined by --auth-login)"
        )),
        "{out}"
    );
    assert!(!out.contains("no captured login handed out"), "{out}");
    let (plan, bytes) = load(&path);
    assert_eq!(plan.step_count(), 3);
    assert_eq!(slotted_steps(&plan), 2);
    assert!(!contains(&bytes, "eyJyesterdays.token.long-dead"));
    let p = &plan.auth_profiles[0];
    assert_eq!(p.user_fields, ["username", "password"]);
    assert_eq!(p.expires_at.as_deref(), Some("/expires_in"));
    let login_req = &plan.requests[p.login as usize];
    assert_eq!(
        &*login_req.target,
        "/auth/realms/shop/protocol/openid-connect/token"
    );
    assert!(
        login_req
            .body
            .starts_with(b"grant_type=password&username=loadtest_user_1001")
    );

    // Redacted: the login keeps its shape, with placeholders in its user fields.
    let (path, _) = record(
        d,
        "redacted",
        &["--targets", &targets, "--auth-login", &login, "--redact"],
    );
    let (plan, _) = load(&path);
    assert!(plan.meta.redacted && !plan.meta.holds_secrets);
    assert_eq!(
        &*plan.requests[plan.auth_profiles[0].login as usize].body,
        b"grant_type=password&username=REDACTED&password=REDACTED&client_id=web-frontend"
    );

    // A targets file holding the login request itself: it is the login, not a step.
    let with_login = write(
        d,
        "with-login.txt",
        format!("{LOGIN}\n{TARGETS}").replace("@login.form", "@login.form\n"),
    )
    .display()
    .to_string();
    let (path, out) = record(
        d,
        "withlogin",
        &["--targets", &with_login, "--auth-login", &login],
    );
    assert!(
        out.contains("2 steps slotted; 1 captured login removed from the steps"),
        "{out}"
    );
    assert_eq!(load(&path).0.step_count(), 3);

    // On the shoppers capture: the detected logins fold into the hand-made profile, and the
    // static token of the resilience user is slotted too.
    let (path, out) = record(
        d,
        "shoppers",
        &[
            "--pcap",
            &fixture("shop_shoppers.pcap"),
            "--auth-login",
            &login,
            "--auth-token-path",
            "/access_token",
            "--auth-send-as",
            "bearer",
        ],
    );
    assert!(
        out.contains("22 steps slotted; 3 captured logins removed"),
        "{out}"
    );
    let (plan, bytes) = load(&path);
    assert_eq!(plan.auth_profiles.len(), 1);
    assert_eq!((plan.step_count(), slotted_steps(&plan)), (27, 22));
    assert!(!contains(&bytes, STATIC_TOKEN));
}

#[test]
fn expect_header_values_per_segment_and_expect_status() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = fixture("shop_shoppers.pcap");
    let seg = [
        "--segment",
        "canary=x-user-segment:beta-testers",
        "--default-segment",
        "stable",
    ];
    let mut args = vec!["--pcap", pcap.as_str()];
    args.extend(seg);
    let (path, _) = record(dir.path(), "none", &args);
    let (plan, _) = load(&path);
    assert!(
        plan.requests.iter().all(|r| r.expect.is_none()),
        "expectations are opt-in"
    );

    args.extend(["--expect-header", "x-upstream-version", "--expect-status"]);
    let (path, out) = record(dir.path(), "expect", &args);
    assert!(
        out.contains("expect x-upstream-version in canary: {canary-v2} (3 requests)"),
        "{out}"
    );
    assert!(
        out.contains("expect x-upstream-version in stable: {stable} (3 requests)"),
        "{out}"
    );
    let (plan, _) = load(&path);
    let mut per_segment: Vec<(String, Vec<String>)> = Vec::new();
    for st in plan.steps() {
        let r = &plan.requests[st.request as usize];
        let e = r.expect.as_ref().expect("every step has an expectation");
        let class = e.status.clone();
        let want = if r.target.starts_with("/api/v1/orders?user_id=u-") && r.auth.is_none() {
            StatusRule::Class(4)
        } else {
            StatusRule::Class(2)
        };
        assert_eq!(class, [want], "{r:?}");
        for (name, values) in &e.headers {
            assert_eq!(&**name, "x-upstream-version");
            assert!(r.target.starts_with("/api/v1/recommendations"));
            per_segment.push((
                plan.segments[r.segment.unwrap() as usize].clone(),
                values.iter().map(|v| v.to_string()).collect(),
            ));
        }
    }
    per_segment.sort();
    per_segment.dedup();
    assert_eq!(
        per_segment,
        [
            ("canary".to_string(), vec!["canary-v2".to_string()]),
            ("stable".to_string(), vec!["stable".to_string()])
        ]
    );
    // A source without responses has nothing to learn from, and says so.
    let t = write(dir.path(), "t.txt", "GET http://h/api/v1/recommendations\n");
    let (_, out) = record(
        dir.path(),
        "targets",
        &[
            "--targets",
            t.to_str().unwrap(),
            "--expect-header",
            "x-upstream-version",
        ],
    );
    assert!(
        out.contains("expect x-upstream-version: no captured response had it"),
        "{out}"
    );
}

#[test]
fn bad_auth_options_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t = write(d, "t.txt", "GET http://h/\n").display().to_string();
    let two = write(d, "two.txt", "POST http://h/a\n\nPOST http://h/b\n")
        .display()
        .to_string();
    let one = write(d, "one.txt", "POST http://h/login\n")
        .display()
        .to_string();
    let o = d.join("o.plan").display().to_string();
    let run = |extra: &[&str]| {
        let mut a = vec!["record", "--targets", &t, "-o", &o];
        a.extend_from_slice(extra);
        ringload(a)
    };
    run(&["--auth", "maybe"]).assert_bad_input("--auth \"maybe\"");
    run(&["--auth-login", &two])
        .assert_bad_input("two.txt: --auth-login expects one login request, found 2");
    run(&["--auth-login", &one, "--auth-token-path", "token"])
        .assert_bad_input("--auth-token-path \"token\"");
    run(&["--auth-login", &one, "--auth-send-as", "header:Bad Name"])
        .assert_bad_input("--auth-send-as");
    run(&["--auth-login", &one, "--auth", "keep"]).assert_bad_input("needs --auth detect");
    run(&["--expect-header", "x y"]).assert_bad_input("--expect-header");
    let missing = d.join("missing.txt").display().to_string();
    run(&["--auth-login", &missing]).assert_bad_input("missing.txt");
    // clap's own errors (a flag that needs --auth-login) exit 2 too.
    assert_eq!(run(&["--auth-token-path", "/t"]).code, 2);
    assert_eq!(
        ringload(["target", "--shop", "--canary-weight", "150"]).code,
        2
    );
    ringload([
        "target",
        "--shop",
        "--token-ttl",
        "1500ms",
        "--listen",
        "127.0.0.1:0",
    ])
    .assert_bad_input("token_ttl");
}
