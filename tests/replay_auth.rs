//! Replaying logged-in and canary traffic against the built-in shop (`target --shop`), end to
//! end: captures made by real tools (recorder/tests/fixtures) replay against a freshly started
//! shop, whose key differs from the one that minted the captured tokens, with no 401; tokens
//! expire and are refreshed mid-run; a restarted shop leads to re-logins, not failures; a wrong
//! password gives `auth` errors without a storm of logins; `--users` logs in as distinct users;
//! a broken canary expectation is a `validation` failure in the canary row only; the split of
//! responses per segment matches the shop's weights.

mod util;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ringload_target::{ShopConfig, TargetConfig, TargetHandle};
use serde_json::Value;
use util::{read_json, ringload, write};

const OAUTH: &str = "POST /auth/realms/shop/protocol/openid-connect/token";

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("recorder/tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn shop(cfg: ShopConfig) -> TargetHandle {
    shop_at(cfg, "127.0.0.1:0".parse().unwrap())
}

fn shop_at(cfg: ShopConfig, listen: std::net::SocketAddr) -> TargetHandle {
    ringload_target::spawn(TargetConfig {
        listen,
        shop: Some(cfg),
        ..TargetConfig::default()
    })
    .expect("start the shop")
}

/// Record `args` into `dir/name.plan`.
fn record(dir: &Path, name: &str, args: &[&str]) -> String {
    let plan = dir.join(format!("{name}.plan")).display().to_string();
    let mut all = vec!["record"];
    all.extend_from_slice(args);
    all.extend(["-o", &plan]);
    ringload(&all).assert_ok();
    plan
}

/// Run `plan` against `url` with `args`; returns the result JSON (and the run's stdout).
fn run(dir: &Path, plan: &str, url: &str, args: &[&str]) -> (Value, String) {
    let out = dir.join("r.json").display().to_string();
    let mut all = vec!["run", plan, "--target", url, "-o", &out, "-t", "1"];
    all.extend_from_slice(args);
    let r = ringload(&all);
    assert!(
        r.code == 0 || r.code == 3,
        "exit {}: {}\n{}",
        r.code,
        r.stdout,
        r.stderr
    );
    (read_json(&out), r.stdout)
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// The labels[] rows of `label` that are not logins.
fn rows<'a>(v: &'a Value, label: &str) -> Vec<&'a Value> {
    v["labels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["label"] == label && l["auth"] != true)
        .collect()
}

fn login_row(v: &Value) -> &Value {
    v["labels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["auth"] == true)
        .unwrap_or_else(|| panic!("no login row in {}", v["labels"]))
}

fn status(v: &Value, code: &str) -> u64 {
    v["summary"]["status"][code].as_u64().unwrap_or(0)
}

/// The shoppers capture without the user whose token came from outside it: every token is
/// minted at replay.
fn shoppers_plan(dir: &Path, extra: &[&str]) -> String {
    let f = fixture("shop_shoppers.pcap");
    let mut args = vec!["--pcap", &f, "--exclude", "user_id=u-(2044|3310)"];
    args.extend_from_slice(extra);
    record(dir, "shoppers", &args)
}

#[test]
fn captured_shoppers_replay_against_a_restarted_shop_with_no_401() {
    let dir = tempfile::tempdir().unwrap();
    // The fixtures' tokens were minted by another shop (another key): all of them are dead.
    let t = shop(ShopConfig::default());
    let url = format!("http://{}", t.local_addr());

    // The problem first: captured tokens kept as they were.
    let f = fixture("shop_shoppers.pcap");
    let keep = record(dir.path(), "keep", &["--pcap", &f, "--auth", "keep"]);
    let (v, _) = run(dir.path(), &keep, &url, &["-c", "4", "-n", "300"]);
    assert!(
        status(&v, "401") > 0,
        "captured tokens are dead: {}",
        v["summary"]
    );
    let logins_before = t.shop_stats().unwrap().logins;

    // Minted per session: no 401, every cart and checkout call succeeds.
    let plan = shoppers_plan(dir.path(), &[]);
    let (v, stdout) = run(dir.path(), &plan, &url, &["-c", "4", "-n", "400"]);
    assert_eq!(status(&v, "401"), 0, "{stdout}");
    for label in [
        "POST /api/v1/cart/items",
        "POST /api/v1/checkout",
        "GET /api/v1/orders",
    ] {
        let r = rows(&v, label);
        assert!(!r.is_empty(), "{label} replayed");
        for row in r {
            assert!(u(&row["requests"]) > 0);
            assert_eq!(row["ok"], row["requests"], "{label}: {row}");
        }
    }
    // One login per session that needs a token (3 logged-in shoppers), in its own row.
    assert_eq!(u(&v["summary"]["logins"]), 3);
    let login = login_row(&v);
    assert_eq!(login["label"], OAUTH);
    assert_eq!((u(&login["requests"]), u(&login["ok"])), (3, 3));
    assert_eq!(
        u(&v["summary"]["requests"]),
        400,
        "logins are not in the steps' total"
    );
    assert_eq!(t.shop_stats().unwrap().logins - logins_before, 3);
    assert!(
        stdout.contains("(auth)") && stdout.contains("logins 3"),
        "{stdout}"
    );

    // The Chromium HAR too.
    let h = fixture("shop_chromium.har");
    let har = record(dir.path(), "har", &["--har", &h]);
    let (v, _) = run(dir.path(), &har, &url, &["-c", "2", "-n", "100"]);
    assert_eq!(status(&v, "401"), 0, "{}", v["summary"]);
    assert_eq!(u(&v["summary"]["ok"]), 100);
    t.stop().unwrap();
}

#[test]
fn tokens_that_expire_mid_run_are_refreshed_without_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let t = shop(ShopConfig {
        token_ttl: Duration::from_secs(2),
        ..ShopConfig::default()
    });
    let url = format!("http://{}", t.local_addr());
    let plan = shoppers_plan(dir.path(), &[]);
    let (v, stdout) = run(
        dir.path(),
        &plan,
        &url,
        &["-c", "4", "--rate", "150", "-d", "10s"],
    );
    let s = &v["summary"];
    assert_eq!(u(&s["failed"]) + u(&s["timed_out"]), 0, "{stdout}");
    assert_eq!(status(&v, "401"), 0);
    // Each of the 3 sessions refreshes at 80% of its 2 s tokens: about 6 logins in 10 s.
    let logins = u(&s["logins"]);
    assert!((12..=24).contains(&logins), "{logins} logins\n{stdout}");
    assert_eq!(
        t.shop_stats().unwrap().expired,
        0,
        "no request used an expired token"
    );
    t.stop().unwrap();
}

#[test]
fn a_shop_restarted_mid_run_leads_to_relogins_not_failures() {
    let dir = tempfile::tempdir().unwrap();
    let t = shop(ShopConfig::default());
    let addr = t.local_addr();
    let url = format!("http://{addr}");
    let plan = shoppers_plan(dir.path(), &[]);
    let p2 = plan.clone();
    let d2 = dir.path().to_path_buf();
    let runner =
        std::thread::spawn(move || run(&d2, &p2, &url, &["-c", "4", "--rate", "200", "-d", "6s"]));
    std::thread::sleep(Duration::from_secs(2));
    // A restart: every token it minted is dead, the connections go.
    t.stop().unwrap();
    let t2 = shop_at(ShopConfig::default(), addr);
    let (v, stdout) = runner.join().unwrap();
    let s = &v["summary"];
    assert!(u(&s["reauth"]) > 0, "a 401 led to a re-login\n{stdout}");
    assert_eq!(
        u(&s["errors"]["validation"]) + u(&s["errors"]["auth"]),
        0,
        "no 401 is an answer\n{stdout}"
    );
    assert_eq!(u(&s["logins"]), 3 + u(&s["reauth"]));
    assert!(t2.shop_stats().unwrap().logins >= 3);
    t2.stop().unwrap();
}

#[test]
fn a_wrong_password_gives_auth_errors_and_backs_off() {
    let dir = tempfile::tempdir().unwrap();
    let t = shop(ShopConfig::default());
    let url = format!("http://{}", t.local_addr());
    let plan = shoppers_plan(dir.path(), &[]);
    let users = write(dir.path(), "users.csv", "username,password\nann,wrong\n");
    let (v, stdout) = run(
        dir.path(),
        &plan,
        &url,
        &[
            "-c",
            "4",
            "--rate",
            "300",
            "-d",
            "5s",
            "--users",
            users.to_str().unwrap(),
        ],
    );
    let s = &v["summary"];
    let auth = u(&s["errors"]["auth"]);
    assert!(auth > 500, "slotted steps fail as auth: {auth}\n{stdout}");
    // 3 sessions backing off 1, 2, 4 s: at most 4 logins each in 5 s, not one per request.
    let shop = t.shop_stats().unwrap();
    assert!(
        (3..=12).contains(&shop.login_failures),
        "{} logins",
        shop.login_failures
    );
    assert_eq!(
        shop.unauthorized, 0,
        "no slotted request went out without a token"
    );
    let login = login_row(&v);
    assert_eq!(u(&login["errors"]["auth"]), shop.login_failures);
    assert!(
        login["offending"][0].as_str().unwrap().contains("refused"),
        "{login}"
    );
    assert!(stdout.contains("auth="), "{stdout}");
    t.stop().unwrap();
}

#[test]
fn users_log_in_as_distinct_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let t = shop(ShopConfig::default());
    let url = format!("http://{}", t.local_addr());
    let plan = shoppers_plan(dir.path(), &[]);
    let users = write(
        dir.path(),
        "users.csv",
        "username,password\nann,P@ssw0rd-LoadTest!\nbob,P@ssw0rd-LoadTest!\n\"carol, jr\",P@ssw0rd-LoadTest!\n",
    );
    let (v, _) = run(
        dir.path(),
        &plan,
        &url,
        &["-c", "4", "-n", "200", "--users", users.to_str().unwrap()],
    );
    assert_eq!(u(&v["summary"]["ok"]), 200);
    let s = t.shop_stats().unwrap();
    assert_eq!(
        (s.logins, s.users),
        (3, 3),
        "three sessions, three accounts"
    );
    // Cloned sessions (#16): each copy is a session of its own and logs in as its own user.
    let six = write(
        dir.path(),
        "six.csv",
        (0..6).fold("username,password\n".to_string(), |acc, i| {
            acc + &format!("user{i},P@ssw0rd-LoadTest!\n")
        }),
    );
    let before = t.shop_stats().unwrap();
    let (v, _) = run(
        dir.path(),
        &plan,
        &url,
        &[
            "-c",
            "6",
            "-n",
            "300",
            "--clone",
            "2",
            "--users",
            six.to_str().unwrap(),
        ],
    );
    assert_eq!(u(&v["summary"]["ok"]), 300);
    let s = t.shop_stats().unwrap();
    assert_eq!(
        (s.logins - before.logins, s.users - before.users),
        (6, 6),
        "three sessions cloned twice: six sessions, six accounts"
    );
    // A column that is not a login field is refused before anything is sent.
    let bad = write(dir.path(), "bad.csv", "email,password\na@b,x\n");
    let r = ringload([
        "run",
        &plan,
        "--target",
        &format!("http://{}", t.local_addr()),
        "-n",
        "10",
        "--users",
        bad.to_str().unwrap(),
    ]);
    r.assert_bad_input("\"email\" is not a field of the login body");
    assert_eq!(t.shop_stats().unwrap().logins, 3 + 6);
    t.stop().unwrap();
}

/// The canary recommendations of the capture, segmented, with the captured versions expected.
fn canary_plan(dir: &Path) -> String {
    shoppers_plan(
        dir,
        &[
            "--segment",
            "canary=x-user-segment:beta-testers",
            "--default-segment",
            "stable",
            "--expect-header",
            "x-upstream-version",
            "--label-rule",
            "^GET /api/v1/recommendations.*=GET /api/v1/recommendations",
        ],
    )
}

#[test]
fn a_broken_canary_expectation_fails_in_the_canary_row_only() {
    let dir = tempfile::tempdir().unwrap();
    let plan = canary_plan(dir.path());
    let t = shop(ShopConfig {
        canary_version: "canary-v3".into(),
        ..ShopConfig::default()
    });
    let url = format!("http://{}", t.local_addr());
    let (v, stdout) = run(dir.path(), &plan, &url, &["-c", "4", "-n", "600"]);
    let recs = rows(&v, "GET /api/v1/recommendations");
    let canary = recs.iter().find(|r| r["segment"] == "canary").unwrap();
    let stable = recs.iter().find(|r| r["segment"] == "stable").unwrap();
    assert!(u(&canary["requests"]) > 0 && u(&stable["requests"]) > 0);
    assert_eq!(
        u(&canary["errors"]["validation"]),
        u(&canary["requests"]),
        "{stdout}"
    );
    assert_eq!(u(&stable["failed"]), 0);
    assert_eq!(canary["offending"][0], "x-upstream-version: canary-v3");
    assert!(
        stdout.contains("x-upstream-version: canary-v3"),
        "the report shows what was seen: {stdout}"
    );
    // The same check stated at replay on a plan recorded without it.
    let bare = shoppers_plan(
        dir.path(),
        &["--segment", "canary=x-user-segment:beta-testers"],
    );
    let (v, _) = run(
        dir.path(),
        &bare,
        &url,
        &[
            "-c",
            "4",
            "-n",
            "300",
            "--expect",
            "segment=canary:x-upstream-version=canary-v2",
        ],
    );
    let failed: u64 = v["labels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["segment"] != "canary")
        .map(|l| u(&l["failed"]))
        .sum();
    assert_eq!(failed, 0, "only the canary segment is checked");
    assert!(u(&v["summary"]["errors"]["validation"]) > 0);
    t.stop().unwrap();
}

#[test]
fn the_split_per_segment_matches_the_shops_weights() {
    let dir = tempfile::tempdir().unwrap();
    let plan = canary_plan(dir.path());
    // A quarter of stable traffic goes to the canary; beta testers always do.
    let t = shop(ShopConfig {
        canary_weight_ppm: 250_000,
        ..ShopConfig::default()
    });
    let url = format!("http://{}", t.local_addr());
    let (v, stdout) = run(
        dir.path(),
        &plan,
        &url,
        &[
            "-c",
            "8",
            "-n",
            "48000",
            "--split",
            "x-upstream-version",
            "--expect",
            "segment=stable:x-upstream-version=stable|canary-v2",
        ],
    );
    let seg = |name: &str| {
        v["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["segment"] == name)
            .unwrap()["split"]["x-upstream-version"]
            .clone()
    };
    let stable = seg("stable");
    let (st, ca) = (
        stable["values"]["stable"].as_u64().unwrap_or(0),
        stable["values"]["canary-v2"].as_u64().unwrap_or(0),
    );
    assert!(st + ca >= 5000, "{st} + {ca} stable responses");
    let share = ca as f64 * 100.0 / (st + ca) as f64;
    assert!(
        (23.0..=27.0).contains(&share),
        "canary share {share:.1}%\n{stdout}"
    );
    // The shop's own count agrees with what ringload saw.
    let shop = t.shop_stats().unwrap();
    let beta = seg("canary")["values"]["canary-v2"].as_u64().unwrap();
    assert_eq!(shop.canary, ca + beta);
    assert!(
        stdout.contains("split segment stable by x-upstream-version"),
        "{stdout}"
    );
    t.stop().unwrap();
}

#[test]
fn a_redacted_plan_needs_users_or_a_token_and_overrides_reach_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let t = shop(ShopConfig::default());
    let url = format!("http://{}", t.local_addr());
    let redacted = shoppers_plan(dir.path(), &["--redact"]);
    // Without accounts nothing is sent: the login holds placeholders.
    let r = ringload(["run", &redacted, "--target", &url, "-n", "10"]);
    r.assert_bad_input("recorded with --redact");
    assert!(r.stderr.contains("--users"), "{}", r.stderr);
    assert_eq!(t.stats().requests, 0, "nothing was sent");
    // With --users it logs in as those accounts.
    let users = write(
        dir.path(),
        "users.csv",
        "username,password\nann,P@ssw0rd-LoadTest!\n",
    );
    let (v, _) = run(
        dir.path(),
        &redacted,
        &url,
        &["-c", "2", "-n", "100", "--users", users.to_str().unwrap()],
    );
    assert_eq!(u(&v["summary"]["ok"]), 100);
    assert_eq!(status(&v, "401"), 0);
    // --auth-token: one token in every slot, no login at all.
    let before = t.shop_stats().unwrap().logins;
    let token = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(t.local_addr()).unwrap();
        let body = "grant_type=password&username=ann&password=P%40ssw0rd-LoadTest%21";
        write!(
            s,
            "POST /auth/realms/shop/protocol/openid-connect/token HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let json: Value = serde_json::from_str(resp.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        json["access_token"].as_str().unwrap().to_string()
    };
    let (v, _) = run(
        dir.path(),
        &redacted,
        &url,
        &["-c", "2", "-n", "100", "--auth-token", &token],
    );
    assert_eq!(u(&v["summary"]["ok"]), 100);
    assert_eq!(u(&v["summary"]["logins"]), 0);
    assert_eq!(
        t.shop_stats().unwrap().logins,
        before + 1,
        "only the test's own login"
    );
    // -H replaces the slot's header for everyone: a dead token fails every protected call.
    let (v, _) = run(
        dir.path(),
        &redacted,
        &url,
        &["-c", "2", "-n", "100", "-H", "Authorization: Bearer nope"],
    );
    assert!(status(&v, "401") > 0);
    assert_eq!(u(&v["summary"]["logins"]), 0);
    t.stop().unwrap();
}
