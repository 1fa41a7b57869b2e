//! The shop answered in memory: routes, the logins and where their tokens go, expiry, forgery
//! and restarts, the canary split, config checks.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;

use super::message::decode;
use super::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

const NOW: u64 = 1_700_000_000_000;

fn req(route: &str, method: &str) -> ShopRequest {
    let (path, query) = route.split_once('?').unwrap_or((route, ""));
    ShopRequest {
        route: super::route(path),
        method: method.into(),
        path: path.into(),
        query: query.into(),
        ..ShopRequest::default()
    }
}

fn form(route: &str, body: &str) -> (ShopRequest, Vec<u8>) {
    let mut r = req(route, "POST");
    r.content_type = "application/x-www-form-urlencoded".into();
    (r, body.as_bytes().to_vec())
}

fn body(r: &ShopResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

fn header<'r>(r: &'r ShopResponse, name: &str) -> Option<&'r str> {
    r.headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

const OAUTH: &str = "/auth/realms/shop/protocol/openid-connect/token";
const GOOD: &str =
    "grant_type=password&username=alice&password=P%40ssw0rd-LoadTest%21&client_id=web";

#[test]
fn routes() {
    assert_eq!(route(OAUTH), Some(Route::OAuthToken));
    assert_eq!(route("/api/v1/cart"), Some(Route::Cart));
    assert_eq!(route("/api/v1/cart/items"), Some(Route::Cart));
    assert_eq!(route("/api/v1/cartx"), None);
    assert_eq!(route("/api/v1/orders/7"), Some(Route::Orders));
    assert_eq!(route("/api/v1/products/SKU-1"), Some(Route::Products));
    assert_eq!(route("/"), None);
    assert_eq!(decode("a+b%21%zz%4"), "a b!%zz%4");
}

#[test]
fn oauth_login_then_bearer_token_opens_the_cart() {
    let mut rng = StdRng::seed_from_u64(1);
    let shop = Shop::new(ShopConfig::default(), &mut rng);
    let (r, b) = form(OAUTH, GOOD);
    let login = shop.handle(&r, &b, NOW, &mut rng);
    assert_eq!(login.status, 200);
    let v = body(&login);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 300);
    let token = v["access_token"].as_str().unwrap().to_string();
    assert!(token.len() > 40, "{token}");

    let mut cart = req("/api/v1/cart/items", "POST");
    assert_eq!(shop.handle(&cart, b"{}", NOW, &mut rng).status, 401);
    cart.authorization = Some(format!("Bearer {token}"));
    assert_eq!(shop.handle(&cart, b"{}", NOW + 1000, &mut rng).status, 201);
    // Expired after the TTL.
    let late = shop.handle(&cart, b"{}", NOW + 300_000, &mut rng);
    assert_eq!(late.status, 401);
    assert!(
        header(&late, "www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    // Forged: another user's name with the same tag.
    let (payload, tag) = token.split_once('.').unwrap();
    let forged = B64.encode(
        String::from_utf8(B64.decode(payload).unwrap())
            .unwrap()
            .replace("alice", "mallory"),
    );
    cart.authorization = Some(format!("Bearer {forged}.{tag}"));
    assert_eq!(shop.handle(&cart, b"{}", NOW, &mut rng).status, 401);
    // A restarted shop (new key) refuses the old token.
    let restarted = Shop::new(ShopConfig::default(), &mut rng);
    cart.authorization = Some(format!("Bearer {token}"));
    assert_eq!(restarted.handle(&cart, b"{}", NOW, &mut rng).status, 401);

    let s = shop.stats();
    assert_eq!((s.logins, s.users, s.unauthorized, s.expired), (1, 1, 3, 1));
    assert_eq!(s.route("cart"), 4);
    assert_eq!(s.route("oauth_token"), 1);
}

#[test]
fn login_failures() {
    let mut rng = StdRng::seed_from_u64(2);
    let shop = Shop::new(ShopConfig::default(), &mut rng);
    let (r, b) = form(OAUTH, "grant_type=password&username=a&password=nope");
    assert_eq!(shop.handle(&r, &b, NOW, &mut rng).status, 401);
    let (r, b) = form(OAUTH, "grant_type=client_credentials&username=a&password=x");
    assert_eq!(shop.handle(&r, &b, NOW, &mut rng).status, 400);
    let mut j = req("/api/v1/login", "POST");
    j.content_type = "application/json".into();
    assert_eq!(
        shop.handle(&j, b"{\"username\":\"a\"}", NOW, &mut rng)
            .status,
        400
    );
    assert_eq!(shop.handle(&j, b"not json", NOW, &mut rng).status, 400);
    assert_eq!(
        shop.handle(&req(OAUTH, "GET"), b"", NOW, &mut rng).status,
        405
    );
    let s = shop.stats();
    assert_eq!((s.logins, s.login_failures, s.users), (0, 4, 0));
}

#[test]
fn json_cookie_and_header_logins_and_their_token_places() {
    let mut rng = StdRng::seed_from_u64(3);
    let shop = Shop::new(ShopConfig::default(), &mut rng);
    let creds = br#"{"username":"bob","password":"P@ssw0rd-LoadTest!"}"#;
    let mut j = req("/api/v1/login", "POST");
    j.content_type = "application/json".into();
    let v = body(&shop.handle(&j, creds, NOW, &mut rng));
    let t1 = v["data"]["token"].as_str().unwrap().to_string();
    assert_eq!(v["data"]["expires_in"], 300);

    let mut c = req("/api/v1/session", "POST");
    c.content_type = "application/json".into();
    let resp = shop.handle(&c, creds, NOW, &mut rng);
    let cookie = header(&resp, "set-cookie").unwrap().to_string();
    assert!(
        cookie.starts_with("shop_session=") && cookie.contains("Max-Age=300"),
        "{cookie}"
    );
    let t2 = cookie["shop_session=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string();

    let (h, b) = form(
        "/api/v1/token",
        "username=carol&password=P%40ssw0rd-LoadTest%21",
    );
    let resp = shop.handle(&h, &b, NOW, &mut rng);
    let t3 = header(&resp, "x-auth-token").unwrap().to_string();
    assert_eq!(header(&resp, "x-auth-expires-in"), Some("300"));
    assert!(t1 != t2 && t2 != t3);

    let mut o = req("/api/v1/orders", "GET");
    o.cookies = format!("theme=dark; shop_session={t2}");
    assert_eq!(shop.handle(&o, b"", NOW, &mut rng).status, 200);
    let mut o = req("/api/v1/orders", "GET");
    o.x_auth_token = Some(t3);
    assert_eq!(shop.handle(&o, b"", NOW, &mut rng).status, 200);
    let o = req(&format!("/api/v1/checkout?access_token={t1}"), "POST");
    assert_eq!(shop.handle(&o, b"{}", NOW, &mut rng).status, 201);
    let s = shop.stats();
    assert_eq!((s.logins, s.users, s.unauthorized), (3, 2, 0));
}

#[test]
fn canary_routing_and_weighted_split() {
    let mut rng = StdRng::seed_from_u64(4);
    let cfg = ShopConfig {
        canary_weight_ppm: 250_000,
        canary_version: "canary-v3".into(),
        ..ShopConfig::default()
    };
    let shop = Shop::new(cfg, &mut rng);
    let mut beta = req("/api/v1/recommendations?product_id=SKU-1", "GET");
    beta.beta = true;
    for _ in 0..100 {
        let r = shop.handle(&beta, b"", NOW, &mut rng);
        assert_eq!(header(&r, "x-upstream-version"), Some("canary-v3"));
    }
    let plain = req("/api/v1/recommendations", "GET");
    let canary = (0..20_000)
        .filter(|_| {
            header(
                &shop.handle(&plain, b"", NOW, &mut rng),
                "x-upstream-version",
            ) == Some("canary-v3")
        })
        .count();
    assert!((4_600..5_400).contains(&canary), "{canary} of 20000 at 25%");
    let s = shop.stats();
    assert_eq!(s.canary as usize, 100 + canary);
    assert_eq!(s.stable as usize, 20_000 - canary);
    let v = body(&shop.handle(&req("/__shop/stats", "GET"), b"", NOW, &mut rng));
    assert_eq!(v["versions"]["canary-v3"], s.canary);
    assert_eq!(v["canary_weight_pct"], 25.0);
    assert_eq!(v["routes"]["recommendations"], 20_100);
}

#[test]
fn config_validation() {
    assert!(ShopConfig::default().validate().is_ok());
    let bad = |c: ShopConfig| c.validate().is_err();
    assert!(bad(ShopConfig {
        token_ttl: Duration::from_millis(1500),
        ..Default::default()
    }));
    assert!(bad(ShopConfig {
        token_ttl: Duration::ZERO,
        ..Default::default()
    }));
    assert!(bad(ShopConfig {
        canary_weight_ppm: 1_000_001,
        ..Default::default()
    }));
    assert!(bad(ShopConfig {
        canary_version: "a b".into(),
        ..Default::default()
    }));
}
