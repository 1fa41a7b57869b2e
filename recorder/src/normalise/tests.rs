//! `normalise` end to end on hand-built captures: sessions, offsets, segments, filters, secrets,
//! expectations, and logins that become auth profiles.

use regex::Regex;

use super::*;

fn ex(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    t: Option<i64>,
    conn: Option<u64>,
) -> Exchange {
    Exchange {
        method: method.into(),
        path: path.into(),
        headers: headers
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        time_us: t,
        connection: conn,
        authority: Some("shop:80".into()),
        ..Exchange::default()
    }
}

#[test]
fn sessions_offsets_segments_and_filters() {
    let cap = Capture {
        kind: "test",
        description: "unit".into(),
        exchanges: vec![
            ex(
                "GET",
                "/a/1",
                &[("Host", "shop"), ("Connection", "keep-alive")],
                Some(1_000_500),
                Some(1),
            ),
            ex(
                "GET",
                "/a/2",
                &[("x-user-segment", "beta-testers")],
                Some(1_000_000),
                Some(2),
            ),
            ex("GET", "/health", &[], Some(1_000_900), Some(1)),
            ex("POST", "/a/3", &[], Some(1_002_000), Some(1)),
        ],
        skipped: vec![("non-http stream".into(), 2)],
        notes: vec![],
        path: "unit.log".into(),
    };
    let opts = Options {
        segments: vec!["canary=x-user-segment:beta-testers".parse().unwrap()],
        exclude: vec![Regex::new("^/health").unwrap()],
        ..Options::default()
    };
    let (plan, sum) = normalise(vec![cap], &opts).unwrap();
    assert_eq!(plan.sessions.len(), 2);
    let s0 = &plan.sessions[0].steps;
    assert_eq!(
        s0.iter().map(|s| s.offset_us).collect::<Vec<_>>(),
        vec![500, 2000]
    );
    assert_eq!(plan.sessions[1].steps[0].offset_us, 0);
    let r0 = &plan.requests[s0[0].request as usize];
    assert!(
        r0.headers.is_empty(),
        "Host and Connection dropped: {:?}",
        r0.headers
    );
    let canary = &plan.requests[plan.sessions[1].steps[0].request as usize];
    assert_eq!(plan.segments[canary.segment.unwrap() as usize], "canary");
    assert_eq!(sum.skipped["excluded (--exclude)"], 1);
    assert_eq!(sum.skipped["non-http stream"], 2);
    assert_eq!(sum.labels["GET /a/:id"], 2);
    assert_eq!(plan.meta.authority.as_deref(), Some("shop:80"));
    assert!(!plan.meta.holds_secrets);
}

#[test]
fn connections_of_two_captures_stay_apart() {
    // Both sources number their connections from 0: connection 0 of each is its own.
    let cap = |path: &str| Capture {
        kind: "test",
        description: path.into(),
        exchanges: vec![
            ex("GET", "/a", &[], Some(1_000_000), Some(0)),
            ex("GET", "/b", &[], Some(1_000_100), Some(0)),
        ],
        skipped: vec![],
        notes: vec![],
        path: path.into(),
    };
    let (plan, _) = normalise(vec![cap("one.pcap"), cap("two.pcap")], &Options::default()).unwrap();
    assert_eq!(plan.sessions.len(), 2);
    let conns: Vec<u64> = plan
        .sessions
        .iter()
        .map(|s| s.steps[0].connection)
        .collect();
    assert_eq!(conns[0], 0, "the first capture's ids are kept");
    assert_ne!(conns[0], conns[1]);
    assert!(plan.sessions.iter().all(|s| s.steps.len() == 2));
}

#[test]
fn host_filter_and_secrets() {
    let mut other = ex("GET", "/x", &[], None, None);
    other.authority = Some("other:80".into());
    let cap = Capture {
        kind: "test",
        exchanges: vec![
            ex("GET", "/x", &[("Authorization", "Bearer abc")], None, None),
            other,
        ],
        ..Capture::default()
    };
    let opts = Options {
        hosts: vec!["SHOP".into()],
        ..Options::default()
    };
    let (plan, sum) = normalise(vec![cap.clone()], &opts).unwrap();
    assert_eq!(plan.step_count(), 1);
    assert_eq!(sum.skipped["other host (--host)"], 1);
    assert!(plan.meta.holds_secrets);
    let (plan, _) = normalise(
        vec![cap],
        &Options {
            redact: true,
            ..opts
        },
    )
    .unwrap();
    assert!(!plan.meta.holds_secrets && plan.meta.redacted);
    assert_eq!(&*plan.requests[0].headers[0].1, redact::PLACEHOLDER);
}

fn with_response(mut e: Exchange, status: u16, headers: &[(&str, &str)], body: &str) -> Exchange {
    e.status = Some(status);
    e.response_headers = headers
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    e.response_body = body.as_bytes().to_vec();
    e
}

const TOKEN: &str = "tok-5f2a9c1e7b3d4a6f8e0c";

fn shop_capture() -> Capture {
    let mut login = ex(
        "POST",
        "/auth/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(1_000),
        Some(1),
    );
    login.body = b"username=alice&password=s3cret&client_id=web".to_vec();
    let bearer = format!("Bearer {TOKEN}");
    let canary = [
        ("Authorization", bearer.as_str()),
        ("x-user-segment", "beta-testers"),
    ];
    let version = |v| [("x-upstream-version", v)];
    Capture {
        kind: "test",
        exchanges: vec![
            with_response(
                login,
                200,
                &[("Content-Type", "application/json")],
                &format!(r#"{{"access_token":"{TOKEN}","expires_in":300}}"#),
            ),
            with_response(
                ex(
                    "GET",
                    "/api/v1/cart",
                    &[("Authorization", &bearer)],
                    Some(2_000),
                    Some(1),
                ),
                200,
                &[],
                "",
            ),
            with_response(
                ex("GET", "/reco?p=1", &canary, Some(3_000), Some(1)),
                200,
                &version("canary-v2"),
                "",
            ),
            with_response(
                ex("GET", "/reco?p=2", &[], Some(4_000), Some(2)),
                200,
                &version("stable"),
                "",
            ),
            with_response(
                ex("GET", "/reco?p=3", &[], Some(5_000), Some(2)),
                200,
                &version("canary-v2"),
                "",
            ),
            with_response(
                ex("GET", "/missing", &[], Some(6_000), Some(2)),
                404,
                &[],
                "",
            ),
        ],
        ..Capture::default()
    }
}

fn canary_opts() -> Options {
    Options {
        segments: vec!["canary=x-user-segment:beta-testers".parse().unwrap()],
        default_segment: Some("stable".into()),
        ..Options::default()
    }
}

#[test]
fn expectations_are_opt_in() {
    let (plan, sum) = normalise(vec![shop_capture()], &canary_opts()).unwrap();
    assert!(
        plan.requests.iter().all(|r| r.expect.is_none()),
        "no --expect-*: none stored"
    );
    assert!(sum.expected_headers.is_empty());
    let opts = Options {
        expect_status: true,
        expect_headers: vec!["X-Upstream-Version".into()],
        ..canary_opts()
    };
    let (plan, sum) = normalise(vec![shop_capture()], &opts).unwrap();
    let expect_of = |target: &str| {
        plan.requests
            .iter()
            .find(|r| &*r.target == target)
            .unwrap()
            .expect
            .clone()
            .unwrap()
    };
    assert_eq!(expect_of("/missing").status, [StatusRule::Class(4)]);
    assert!(
        expect_of("/missing").headers.is_empty(),
        "its response had no version"
    );
    let values = |target: &str| -> Vec<String> {
        let e = expect_of(target);
        assert_eq!(e.headers.len(), 1);
        assert_eq!(&*e.headers[0].0, "X-Upstream-Version");
        e.headers[0].1.iter().map(|v| v.to_string()).collect()
    };
    assert_eq!(values("/reco?p=1"), ["canary-v2"]);
    // Stable saw both (a weighted split): both are allowed for each stable request.
    assert_eq!(values("/reco?p=2"), ["canary-v2", "stable"]);
    assert_eq!(values("/reco?p=3"), ["canary-v2", "stable"]);
    let e = &sum.expected_headers[0];
    let seen: Vec<(Option<&str>, Vec<&str>, u64)> = e
        .segments
        .iter()
        .map(|s| {
            (
                s.segment.as_deref(),
                s.values.iter().map(String::as_str).collect(),
                s.requests,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (Some("canary"), vec!["canary-v2"], 1),
            (Some("stable"), vec!["canary-v2", "stable"], 2)
        ]
    );
}

#[test]
fn login_becomes_a_profile_and_slotted_steps_lose_the_token() {
    let (plan, sum) = normalise(vec![shop_capture()], &canary_opts()).unwrap();
    plan.validate().unwrap();
    assert_eq!(plan.step_count(), 5, "the login is not a step");
    assert_eq!(plan.auth_profiles.len(), 1);
    let p = &plan.auth_profiles[0];
    let login = &plan.requests[p.login as usize];
    assert_eq!((&*login.method, &*login.target), ("POST", "/auth/token"));
    assert!(plan.steps().all(|s| s.request != p.login));
    assert_eq!(p.user_fields, ["username", "password"]);
    let slotted: Vec<&Request> = plan.requests.iter().filter(|r| r.auth.is_some()).collect();
    assert_eq!(slotted.len(), 2);
    for r in &slotted {
        assert!(
            r.headers
                .iter()
                .all(|(n, v)| !n.eq_ignore_ascii_case("authorization") && !v.contains(TOKEN))
        );
    }
    assert_eq!(sum.auth.profiles[0].steps, 2);
    assert_eq!(sum.auth.profiles[0].logins, 1);
    assert_eq!(sum.auth.outside_steps, 0);
    // The segment header stays; the plan still holds the login's password.
    assert!(plan.meta.holds_secrets);

    let (plan, _) = normalise(
        vec![shop_capture()],
        &Options {
            redact: true,
            ..canary_opts()
        },
    )
    .unwrap();
    let login = &plan.requests[plan.auth_profiles[0].login as usize];
    assert_eq!(
        &*login.body, b"username=REDACTED&password=REDACTED&client_id=web",
        "the login keeps its shape with placeholders in its user fields"
    );
    assert!(!plan.meta.holds_secrets);
}
