//! Tokens minted at replay, against the simulated shop: one login per session before its
//! first slotted step, refreshes ahead of expiry, one re-login after a 401, a back-off instead
//! of a login storm on a wrong password, and `--users` rows as each session's account.

use ringload_formats::TokenPlace;

use super::{MS, S, Setup, Sim, assert_accounted, auth_plan, bearer, shop, shop_with};
use crate::config::{Arrival, LoadModel, Users};
use crate::stats::ErrorClass;

fn logins(sim: &Sim) -> usize {
    sim.seen
        .iter()
        .filter(|s| s.method == "POST" && s.target == "/auth/token")
        .count()
}

#[test]
fn each_session_logs_in_once_before_its_first_slotted_step() {
    for place in [
        bearer(),
        TokenPlace::Cookie("sid".into()),
        TokenPlace::Query("access_token".into()),
    ] {
        let setup = Setup {
            budget: Some(60),
            ..Setup::default()
        };
        let mut sim = Sim::new(&auth_plan(3, 4, place.clone()), setup, shop(3600));
        let s = sim.run(60 * S);
        assert_accounted(&s);
        assert_eq!(s.counts.ok, 60, "{place:?}: {:?}", s.counts);
        assert_eq!(logins(&sim), 3, "{place:?}: one login per session");
        assert_eq!(s.logins, 3);
        assert_eq!(s.reauth, 0);
        assert_eq!(s.counts.requests, 60, "logins are not in the steps' totals");
        let login_row = s.keys[s.keys.len() - 1].as_ref().expect("login row");
        assert_eq!((login_row.counts.requests, login_row.counts.ok), (3, 3));
        // Every slotted request went out after its session's login answered.
        let first_login_answer = sim
            .seen
            .iter()
            .find(|x| x.target == "/auth/token")
            .unwrap()
            .at;
        assert!(
            sim.seen
                .iter()
                .filter(|x| x.target != "/auth/token")
                .all(|x| x.at >= first_login_answer + MS)
        );
    }
}

#[test]
fn tokens_are_refreshed_ahead_of_expiry_without_a_single_401() {
    // 2 s tokens, 10 s of open loop at 50/s over 2 sessions.
    let setup = Setup {
        model: LoadModel::Rate {
            rate: 50.0,
            arrival: Arrival::Uniform,
        },
        end_ns: 10 * S,
        budget: None,
        ..Setup::default()
    };
    let mut sim = Sim::new(&auth_plan(2, 5, bearer()), setup, shop(2));
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!(s.counts.ok, 500, "{:?}", s.counts);
    assert_eq!(s.status[401], 0);
    // About one login per session per 1.6 s (refresh at 80% of 2 s) over 10 s.
    assert!((10..=16).contains(&s.logins), "{} logins", s.logins);
}

#[test]
fn a_401_leads_to_one_relogin_and_one_resend() {
    // The server forgets every token after 1 s though it announced an hour.
    let server = shop_with(1, 3600);
    let setup = Setup {
        model: LoadModel::Rate {
            rate: 20.0,
            arrival: Arrival::Uniform,
        },
        end_ns: 3 * S,
        budget: None,
        connections: 1,
        ..Setup::default()
    };
    let mut sim = Sim::new(&auth_plan(1, 3, bearer()), setup, server);
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!(s.counts.ok, 60, "{:?}", s.counts);
    assert!(
        (2..=3).contains(&s.reauth),
        "a re-login per forgotten token: {}",
        s.reauth
    );
    assert_eq!(s.logins, 1 + s.reauth);
    assert_eq!(s.keys[0].as_ref().unwrap().reauth, s.reauth);
}

#[test]
fn a_wrong_password_fails_as_auth_and_backs_off_instead_of_storming() {
    let mut plan = auth_plan(2, 3, bearer());
    plan.requests[0].body = b"username=demo&password=wrong".as_slice().into();
    let setup = Setup {
        model: LoadModel::Rate {
            rate: 200.0,
            arrival: Arrival::Uniform,
        },
        end_ns: 10 * S,
        budget: None,
        ..Setup::default()
    };
    let mut sim = Sim::new(&plan, setup, shop(60));
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!(s.counts.ok, 0);
    assert_eq!(s.counts.errors[ErrorClass::Auth as usize], 2000);
    // Back-off 1, 2, 4, 8 s per session: at most 5 logins each in 10 s, not one per request.
    assert!(logins(&sim) <= 10, "{} logins", logins(&sim));
    assert!(
        sim.seen.iter().all(|x| x.target == "/auth/token"),
        "no slotted request goes out without a token"
    );
    let login_row = s.keys[s.keys.len() - 1].as_ref().unwrap();
    assert_eq!(
        login_row.counts.errors[ErrorClass::Auth as usize],
        logins(&sim) as u64
    );
    assert_eq!(
        login_row.offending,
        vec!["the login was refused".to_string()]
    );
}

#[test]
fn users_rows_give_each_session_its_own_account() {
    let mut plan = auth_plan(4, 2, bearer());
    plan.requests[0].body = b"username=x&password=y".as_slice().into();
    let users = Users {
        columns: vec!["username".into(), "password".into()],
        rows: vec![
            vec!["ann".into(), "right".into()],
            vec!["bob".into(), "right".into()],
        ],
    };
    let setup = Setup {
        users: Some(users),
        budget: Some(8),
        ..Setup::default()
    };
    let mut sim = Sim::new(&plan, setup, shop(60));
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!(s.counts.ok, 8);
    let mut bodies: Vec<String> = sim
        .seen
        .iter()
        .filter(|x| x.target == "/auth/token")
        .map(|x| String::from_utf8(x.body.clone()).unwrap())
        .collect();
    bodies.sort();
    assert_eq!(
        bodies,
        [
            "username=ann&password=right",
            "username=ann&password=right",
            "username=bob&password=right",
            "username=bob&password=right"
        ]
    );
}
