//! Auth detection on hand-built exchanges: where a token was handed out and sent back, which
//! exchanges are logins, slots, strips and tokens from outside. (What counts as a token, option
//! parsing and user fields are tested next to their code, in `token`, `manual` and `profile`.)

use super::manual::bearer;
use super::*;

const T1: &str = "eyJhbGciOiJIUzI1NiJ9.dXNlcjE.c2lnbmF0dXJlMQ";
const T2: &str = "eyJhbGciOiJIUzI1NiJ9.dXNlcjI.c2lnbmF0dXJlMg";

pub(super) fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

pub(super) fn req(method: &str, path: &str, headers: &[(&str, &str)]) -> Exchange {
    Exchange {
        method: method.into(),
        path: path.into(),
        headers: h(headers),
        status: Some(200),
        ..Exchange::default()
    }
}

fn login(path: &str, token_json: &str) -> Exchange {
    Exchange {
        body: b"username=alice&password=pw&client_id=web".to_vec(),
        response_headers: h(&[("Content-Type", "application/json")]),
        response_body: token_json.as_bytes().to_vec(),
        ..req(
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
        )
    }
}

fn run(exchanges: &[Exchange], opts: &AuthOptions) -> Detection {
    detect(exchanges, opts, &[]).expect("detects")
}

fn detect_default(exchanges: &[Exchange]) -> Detection {
    run(exchanges, &AuthOptions::default())
}

#[test]
fn bearer_token_from_a_json_login_is_slotted_across_connections() {
    let mut l = login(
        "/auth/token",
        &format!(r#"{{"access_token":"{T1}","token_type":"Bearer","expires_in":300}}"#),
    );
    l.connection = Some(1);
    let mut use1 = req(
        "GET",
        "/api/v1/cart",
        &[("Authorization", &format!("Bearer {T1}"))],
    );
    use1.connection = Some(2);
    let plain = req("GET", "/api/v1/products", &[("Accept", "*/*")]);
    let det = detect_default(&[l, plain, use1]);
    assert_eq!(det.profiles.len(), 1);
    let p = &det.profiles[0];
    assert_eq!(p.name, "POST /auth/token -> Authorization: Bearer");
    assert_eq!(
        p.token_at,
        TokenLocation::JsonPointer("/access_token".into())
    );
    assert_eq!(p.send_as, bearer());
    assert_eq!(p.expires_at.as_deref(), Some("/expires_in"));
    assert_eq!(p.expires_in_s, Some(300));
    assert_eq!(p.user_fields, ["username", "password"]);
    assert_eq!((p.logins, p.steps), (1, 1));
    assert_eq!(det.logins, [true, false, false]);
    assert_eq!(det.slots, [None, None, Some(0)]);
    assert_eq!(det.outside, [false, false, false]);
}

#[test]
fn one_profile_per_login_shape_and_every_login_of_it_leaves_the_steps() {
    let body = |t: &str| format!(r#"{{"data":{{"token":"{t}","expires_in":"60"}}}}"#);
    let exchanges = [
        login("/login", &body(T1)),
        req("GET", "/a", &[("Authorization", &format!("Bearer {T1}"))]),
        login("/login", &body(T2)),
        req("GET", "/b", &[("Authorization", &format!("Bearer {T2}"))]),
        // Same login shape, its token never used: still a login, not a step.
        login(
            "/login",
            &body("eyJhbGciOiJIUzI1NiJ9.dXNlcjM.c2lnbmF0dXJlMw"),
        ),
    ];
    let det = detect_default(&exchanges);
    assert_eq!(det.profiles.len(), 1);
    let p = &det.profiles[0];
    assert_eq!(p.token_at, TokenLocation::JsonPointer("/data/token".into()));
    assert_eq!(p.expires_at.as_deref(), Some("/data/expires_in"));
    assert_eq!(p.expires_in_s, Some(60));
    assert_eq!((p.logins, p.steps), (3, 2));
    assert_eq!(det.logins, [true, false, true, false, true]);
}

#[test]
fn cookie_header_and_query_tokens() {
    let mut cookie_login = req("POST", "/session", &[]);
    cookie_login.response_headers = h(&[
        ("Set-Cookie", "theme=dark; Path=/"),
        ("Set-Cookie", &format!("sid={T1}; Max-Age=120; HttpOnly")),
    ]);
    let mut header_login = req("POST", "/token", &[]);
    header_login.response_headers = h(&[("X-Auth-Token", T2), ("X-Auth-Expires-In", "30")]);
    let t3 = "q9Zt-7xYk_Lm3Np8Rs2Vw";
    let query_login = login("/json", &format!(r#"{{"jwt":"{t3}"}}"#));
    let exchanges = [
        cookie_login,
        header_login,
        query_login,
        req("GET", "/c", &[("Cookie", &format!("theme=dark; sid={T1}"))]),
        req("GET", "/h", &[("x-auth-token", T2)]),
        req("GET", &format!("/q?access_token={t3}&page=2"), &[]),
    ];
    let det = detect_default(&exchanges);
    let shapes: Vec<(&TokenLocation, &TokenPlace, Option<u64>)> = det
        .profiles
        .iter()
        .map(|p| (&p.token_at, &p.send_as, p.expires_in_s))
        .collect();
    assert_eq!(
        shapes,
        [
            (
                &TokenLocation::Cookie("sid".into()),
                &TokenPlace::Cookie("sid".into()),
                Some(120)
            ),
            (
                &TokenLocation::Header("X-Auth-Token".into()),
                &TokenPlace::Header {
                    name: "x-auth-token".into(),
                    prefix: String::new()
                },
                Some(30)
            ),
            (
                &TokenLocation::JsonPointer("/jwt".into()),
                &TokenPlace::Query("access_token".into()),
                None
            ),
        ]
    );
    assert_eq!(det.slots[3..], [Some(0), Some(1), Some(2)]);
    assert_eq!(det.logins[..3], [true, true, true]);

    // Removing each literal keeps everything else.
    let mut headers = h(&[("Cookie", &format!("theme=dark; sid={T1}")), ("A", "1")]);
    let mut target = format!("/q?access_token={t3}&page=2");
    remove_credential(&mut headers, &mut target, &det.profiles[0].send_as);
    remove_credential(&mut headers, &mut target, &det.profiles[2].send_as);
    assert_eq!(headers, h(&[("Cookie", "theme=dark"), ("A", "1")]));
    assert_eq!(target, "/q?page=2");
    let mut only = h(&[("Cookie", &format!("sid={T1}"))]);
    let mut t = format!("/q?access_token={t3}");
    remove_credential(&mut only, &mut t, &TokenPlace::Cookie("sid".into()));
    remove_credential(&mut only, &mut t, &TokenPlace::Query("access_token".into()));
    assert!(only.is_empty(), "an emptied Cookie header goes: {only:?}");
    assert_eq!(t, "/q");
}

#[test]
fn values_must_be_handed_out_before_and_look_like_credentials() {
    let short = login("/login", r#"{"token":"abc"}"#);
    let failed = Exchange {
        status: Some(401),
        ..login("/login", &format!(r#"{{"token":"{T2}"}}"#))
    };
    let exchanges = [
        // Sent before any response handed it out: not a use.
        req(
            "GET",
            "/early",
            &[("Authorization", &format!("Bearer {T1}"))],
        ),
        login("/login", &format!(r#"{{"token":"{T1}"}}"#)),
        short,
        req("GET", "/short", &[("Authorization", "Bearer abc")]),
        failed,
        req(
            "GET",
            "/failed",
            &[("Authorization", &format!("Bearer {T2}"))],
        ),
    ];
    let det = detect_default(&exchanges);
    assert!(det.profiles.is_empty(), "{:?}", det.profiles);
    assert_eq!(det.slots, [None; 6]);
    assert_eq!(det.logins, [false; 6]);
    // Bearer tokens nobody handed out are counted, not slotted.
    assert_eq!(det.outside, [true, false, false, true, false, true]);
}

#[test]
fn a_refresh_made_with_a_token_is_not_a_login() {
    let refresh = Exchange {
        headers: h(&[("Authorization", &format!("Bearer {T1}"))]),
        ..login("/refresh", &format!(r#"{{"access_token":"{T2}"}}"#))
    };
    let exchanges = [
        login("/login", &format!(r#"{{"access_token":"{T1}"}}"#)),
        refresh,
        req("GET", "/a", &[("Authorization", &format!("Bearer {T2}"))]),
    ];
    let det = detect_default(&exchanges);
    assert_eq!(det.profiles.len(), 1);
    assert_eq!(det.slots, [None, Some(0), None]);
    assert_eq!(det.logins, [true, false, false]);
    assert_eq!(det.outside, [false, false, true]);
}

#[test]
fn a_login_by_hand_slots_every_request_with_its_credential() {
    let manual = ManualLogin {
        request: Exchange {
            body: br#"{"user":"a","pass":"b","remember":true}"#.to_vec(),
            ..req("POST", "/login", &[("Content-Type", "application/json")])
        },
        token_at: TokenLocation::JsonPointer("/access_token".into()),
        send_as: bearer(),
    };
    let opts = AuthOptions {
        mode: AuthMode::Detect,
        manual: Some(manual),
    };
    let exchanges = [
        req(
            "GET",
            "/a",
            &[("Authorization", "Bearer captured-long-ago-1")],
        ),
        req("GET", "/b", &[("Authorization", "Basic dXNlcjpwdw==")]),
        req("GET", "/c", &[("Cookie", "sid=from-elsewhere-42")]),
        // The same login captured, with its token used: folded into the hand-made profile.
        login("/login", &format!(r#"{{"access_token":"{T1}"}}"#)),
        req("GET", "/d", &[("Authorization", &format!("Bearer {T1}"))]),
    ];
    let det = run(&exchanges, &opts);
    assert_eq!(det.profiles.len(), 1);
    let p = &det.profiles[0];
    assert!(p.by_hand);
    assert_eq!(p.user_fields, ["user", "pass"]);
    assert_eq!(p.expires_at.as_deref(), Some("/expires_in"));
    assert_eq!((p.logins, p.steps), (1, 2));
    assert_eq!(det.slots, [Some(0), None, None, None, Some(0)]);
    assert_eq!(det.logins, [false, false, false, true, false]);
    assert_eq!(det.outside, [false, false, true, false, false]);

    let keep = AuthOptions {
        mode: AuthMode::Keep,
        ..opts
    };
    assert!(detect(&exchanges, &keep, &[]).is_err());
}

#[test]
fn strip_removes_credentials_and_keep_leaves_them() {
    let exchanges = [
        login("/login", &format!(r#"{{"access_token":"{T1}"}}"#)),
        req(
            "GET",
            "/a?token=zzz&x=1",
            &[
                ("Authorization", &format!("Bearer {T1}")),
                ("Cookie", "theme=dark; JSESSIONID=abc"),
            ],
        ),
        req("GET", "/b", &[("X-Custom", T1)]),
    ];
    let det = run(
        &exchanges,
        &AuthOptions {
            mode: AuthMode::Strip,
            manual: None,
        },
    );
    assert!(det.profiles.is_empty());
    assert_eq!(det.logins, [false; 3]);
    assert_eq!(
        det.strip[1],
        [
            bearer(),
            TokenPlace::Cookie("JSESSIONID".into()),
            TokenPlace::Query("token".into())
        ]
    );
    // Found by value only: a custom header with a handed-out token.
    assert_eq!(
        det.strip[2],
        [TokenPlace::Header {
            name: "X-Custom".into(),
            prefix: String::new()
        }]
    );
    let det = run(
        &exchanges,
        &AuthOptions {
            mode: AuthMode::Keep,
            manual: None,
        },
    );
    assert!(det.profiles.is_empty() && det.slots.iter().all(Option::is_none));
    assert!(det.strip.iter().all(Vec::is_empty) && det.outside.iter().all(|o| !o));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Values from a small pool (so handed-out tokens do come back), mixed with noise.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("tokn-5f2a9c1e7b".to_string()),
            Just("Bearer tokn-5f2a9c1e7b".to_string()),
            Just("theme=dark; sid=tokn-5f2a9c1e7b".to_string()),
            Just("eyJ0eXAi.eyJzdWIi.c2ln".to_string()),
            "[ -~\u{e9}\u{4e2d}]{0,24}",
        ]
    }

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("Authorization".to_string()),
            Just("Cookie".to_string()),
            Just("X-Auth-Token".to_string()),
            Just("Set-Cookie".to_string()),
            "[a-zA-Z-]{1,12}",
        ]
    }

    fn exchange() -> impl Strategy<Value = Exchange> {
        (
            prop_oneof![
                Just("/q?access_token=tokn-5f2a9c1e7b&x=1".to_string()),
                "/[ -~\u{e9}]{0,24}",
            ],
            proptest::collection::vec((name(), value()), 0..4),
            proptest::collection::vec((name(), value()), 0..3),
            value(),
            any::<bool>(),
        )
            .prop_map(|(path, headers, response_headers, token, json)| Exchange {
                method: "GET".into(),
                path,
                headers,
                response_body: if json {
                    serde_json::json!({"token": token, "expires_in": 5})
                        .to_string()
                        .into_bytes()
                } else {
                    token.into_bytes()
                },
                response_headers,
                ..Exchange::default()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Hostile headers, targets and bodies never panic detection or removal, and a slotted
        /// request no longer carries a credential at its profile's place.
        #[test]
        fn detection_never_panics(exchanges in proptest::collection::vec(exchange(), 0..8)) {
            for mode in [AuthMode::Detect, AuthMode::Strip] {
                let det = detect(&exchanges, &AuthOptions { mode, manual: None }, &[]).unwrap();
                for (i, ex) in exchanges.iter().enumerate() {
                    let mut headers = ex.headers.clone();
                    let mut target = ex.path.clone();
                    let places: Vec<&TokenPlace> = det.strip[i]
                        .iter()
                        .chain(det.slots[i].map(|p| &det.profiles[p].send_as))
                        .collect();
                    for p in &places {
                        remove_credential(&mut headers, &mut target, p);
                    }
                    let after = Exchange { headers, path: target, ..ex.clone() };
                    for p in places {
                        prop_assert!(!carries_at(&after, p), "{p:?} left in {after:?}");
                    }
                }
            }
        }
    }
}
