//! The shop (`ringload target --shop`): the guide's e-commerce API with real logins, so that
//! captures of logged-in shoppers can be made with real tools and authenticated replays tested.
//!
//! Flow: `conn` asks [`route`] at each request head whether the path is the shop's. If it is,
//! it keeps the few head fields the shop reads ([`ShopRequest::from_head`]), and once the body
//! is in, calls [`Shop::handle`] with the body, the wall clock (ms since the epoch) and the
//! executor's random generator, then writes the returned [`ShopResponse`]. Nothing here does
//! I/O or reads the clock. Other paths keep the calibration behaviour (`?delay=`, `?status=`).
//!
//! Tokens are stateless: `base64url(user LF expiry-ms LF nonce) "." base64url(HMAC-SHA256)`
//! under a key drawn at each start, so every executor accepts every token it minted, a token
//! past its expiry is refused, and a restarted server refuses every old token, as a real
//! identity provider with rotated keys would.
//!
//! Counters are atomics shared by the executors; distinct user names go into one set behind a
//! mutex that only logins touch (at most [`MAX_USERS`] names are kept).

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use rand::Rng;
use ringload_http1::RequestHead;
use serde_json::{Value, json};
use sha2::Sha256;

/// The password every shop account has unless configured otherwise (the guide's).
pub const DEFAULT_PASSWORD: &str = "P@ssw0rd-LoadTest!";
/// The session cookie `/api/v1/session` sets and protected routes accept.
pub const SESSION_COOKIE: &str = "shop_session";
/// Distinct user names remembered for the `users` counter.
pub const MAX_USERS: usize = 1_000_000;
/// Most request body bytes the shop reads (login bodies are tiny).
pub const MAX_SHOP_BODY: usize = 64 * 1024;

/// What the shop does; part of [`crate::TargetConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopConfig {
    /// Lifetime of a minted token, whole seconds, 1 s ..= 24 h. Default 300 s.
    pub token_ttl: Duration,
    /// The password of every account; any other is refused. Default [`DEFAULT_PASSWORD`].
    pub password: String,
    /// Share of requests without `x-user-segment: beta-testers` that the canary answers on
    /// `/api/v1/recommendations`, parts per million. Default 0.
    pub canary_weight_ppm: u32,
    /// The version the canary answers in `x-upstream-version`. Default `canary-v2`; set
    /// another to break a replay's canary expectations on purpose.
    pub canary_version: String,
}

impl Default for ShopConfig {
    fn default() -> Self {
        ShopConfig {
            token_ttl: Duration::from_secs(300),
            password: DEFAULT_PASSWORD.to_string(),
            canary_weight_ppm: 0,
            canary_version: "canary-v2".to_string(),
        }
    }
}

impl ShopConfig {
    pub fn validate(&self) -> Result<(), &'static str> {
        let t = self.token_ttl;
        if t.subsec_nanos() != 0 || t.as_secs() == 0 || t.as_secs() > 24 * 3600 {
            return Err("shop token_ttl must be whole seconds within 1s..=24h");
        }
        if self.password.is_empty() {
            return Err("shop password must not be empty");
        }
        if self.canary_weight_ppm > 1_000_000 {
            return Err("shop canary weight must be within 0..=100%");
        }
        let v = &self.canary_version;
        if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("shop canary version must be 1..=64 visible ASCII characters");
        }
        Ok(())
    }
}

/// The shop's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /auth/realms/shop/protocol/openid-connect/token`: OAuth2 password grant (form).
    OAuthToken,
    /// `POST /api/v1/login`: JSON credentials, token in the JSON body at `/data/token`.
    JsonLogin,
    /// `POST /api/v1/session`: form or JSON credentials, token in a `Set-Cookie`.
    CookieLogin,
    /// `POST /api/v1/token`: form or JSON credentials, token in the `X-Auth-Token` header.
    HeaderLogin,
    Products,
    Cart,
    Checkout,
    Orders,
    Recommendations,
    Health,
    /// `GET /__shop/stats`: the counters as JSON.
    Stats,
}

impl Route {
    const ALL: [Route; 11] = [
        Route::OAuthToken,
        Route::JsonLogin,
        Route::CookieLogin,
        Route::HeaderLogin,
        Route::Products,
        Route::Cart,
        Route::Checkout,
        Route::Orders,
        Route::Recommendations,
        Route::Health,
        Route::Stats,
    ];

    /// The key of this route in the stats' `routes` object.
    pub fn name(self) -> &'static str {
        match self {
            Route::OAuthToken => "oauth_token",
            Route::JsonLogin => "json_login",
            Route::CookieLogin => "cookie_login",
            Route::HeaderLogin => "header_login",
            Route::Products => "products",
            Route::Cart => "cart",
            Route::Checkout => "checkout",
            Route::Orders => "orders",
            Route::Recommendations => "recommendations",
            Route::Health => "health",
            Route::Stats => "stats",
        }
    }

    fn index(self) -> usize {
        Route::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }

    fn is_login(self) -> bool {
        matches!(
            self,
            Route::OAuthToken | Route::JsonLogin | Route::CookieLogin | Route::HeaderLogin
        )
    }

    fn protected(self) -> bool {
        matches!(self, Route::Cart | Route::Checkout | Route::Orders)
    }
}

/// The shop's route for a path (query excluded), or `None` for the calibration behaviour.
pub fn route(path: &str) -> Option<Route> {
    let under = |p: &str, base: &str| {
        p.strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    Some(match path {
        "/auth/realms/shop/protocol/openid-connect/token" => Route::OAuthToken,
        "/api/v1/login" => Route::JsonLogin,
        "/api/v1/session" => Route::CookieLogin,
        "/api/v1/token" => Route::HeaderLogin,
        "/api/v1/recommendations" => Route::Recommendations,
        "/health" => Route::Health,
        "/__shop/stats" => Route::Stats,
        p if under(p, "/api/v1/products") => Route::Products,
        p if under(p, "/api/v1/cart") => Route::Cart,
        p if under(p, "/api/v1/checkout") => Route::Checkout,
        p if under(p, "/api/v1/orders") => Route::Orders,
        _ => return None,
    })
}

/// The head fields the shop reads, owned (the body arrives after the head's borrow ends).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShopRequest {
    pub route: Option<Route>,
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub x_auth_token: Option<String>,
    /// Every `Cookie` field, joined with `; `.
    pub cookies: String,
    pub content_type: String,
    /// `x-user-segment: beta-testers` was sent.
    pub beta: bool,
}

impl ShopRequest {
    pub fn from_head(head: &RequestHead<'_>, route: Route) -> ShopRequest {
        let text = |v: &[u8]| String::from_utf8_lossy(v.trim_ascii()).into_owned();
        let mut r = ShopRequest {
            route: Some(route),
            method: head.method().to_string(),
            path: head.path().to_string(),
            query: head.query().unwrap_or("").to_string(),
            ..ShopRequest::default()
        };
        for (name, value) in head.headers() {
            if name.eq_ignore_ascii_case("authorization") {
                r.authorization = Some(text(value));
            } else if name.eq_ignore_ascii_case("x-auth-token") {
                r.x_auth_token = Some(text(value));
            } else if name.eq_ignore_ascii_case("cookie") {
                if !r.cookies.is_empty() {
                    r.cookies.push_str("; ");
                }
                r.cookies.push_str(&text(value));
            } else if name.eq_ignore_ascii_case("content-type") {
                r.content_type = text(value).to_ascii_lowercase();
            } else if name.eq_ignore_ascii_case("x-user-segment") {
                r.beta |= value.trim_ascii().eq_ignore_ascii_case(b"beta-testers");
            }
        }
        r
    }

    /// Every token the request presents: bearer header, `X-Auth-Token`, session cookie,
    /// `access_token` query parameter.
    fn tokens(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(a) = &self.authorization
            && let Some((scheme, t)) = a.split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
        {
            out.push(t.trim().to_string());
        }
        out.extend(self.x_auth_token.clone());
        for kv in self.cookies.split(';') {
            if let Some((k, v)) = kv.trim().split_once('=')
                && k == SESSION_COOKIE
            {
                out.push(v.to_string());
            }
        }
        out.extend(
            form_pairs(&self.query)
                .filter(|(k, _)| k == "access_token")
                .map(|(_, v)| v),
        );
        out
    }
}

/// A whole answer: status, header fields beyond the framing ones, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl ShopResponse {
    fn json(status: u16, v: &Value) -> ShopResponse {
        ShopResponse {
            status,
            headers: vec![("content-type", "application/json".to_string())],
            body: serde_json::to_vec(v).unwrap_or_default(),
        }
    }

    fn header(mut self, name: &'static str, value: String) -> ShopResponse {
        self.headers.push((name, value));
        self
    }
}

/// A snapshot of the shop's counters (`GET /__shop/stats` serves it as JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShopStats {
    /// Successful logins on any login endpoint.
    pub logins: u64,
    /// Refused logins (wrong password, missing fields, unsupported grant).
    pub login_failures: u64,
    /// Distinct user names that logged in (at most [`MAX_USERS`]).
    pub users: u64,
    /// 401 answers on protected routes (no token, unknown token, expired token).
    pub unauthorized: u64,
    /// Of those, tokens refused because they had expired.
    pub expired: u64,
    /// Requests per route, by [`Route::name`], in a fixed order.
    pub routes: Vec<(&'static str, u64)>,
    /// `/api/v1/recommendations` answers by the stable version and by the canary.
    pub stable: u64,
    pub canary: u64,
}

impl ShopStats {
    pub fn route(&self, name: &str) -> u64 {
        self.routes
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, c)| *c)
    }

    /// The JSON `GET /__shop/stats` serves.
    pub fn to_json(&self, cfg: &ShopConfig) -> Value {
        let routes: serde_json::Map<String, Value> = self
            .routes
            .iter()
            .map(|(n, c)| (n.to_string(), json!(c)))
            .collect();
        json!({
            "logins": self.logins,
            "login_failures": self.login_failures,
            "users": self.users,
            "unauthorized": self.unauthorized,
            "expired": self.expired,
            "routes": routes,
            "versions": { "stable": self.stable, cfg.canary_version.clone(): self.canary },
            "token_ttl_s": cfg.token_ttl.as_secs(),
            "canary_weight_pct": f64::from(cfg.canary_weight_ppm) / 10_000.0,
            "canary_version": cfg.canary_version,
        })
    }
}

type HmacSha256 = Hmac<Sha256>;

/// The shop's state, shared by every executor.
#[derive(Debug)]
pub struct Shop {
    cfg: ShopConfig,
    key: [u8; 32],
    logins: AtomicU64,
    login_failures: AtomicU64,
    unauthorized: AtomicU64,
    expired: AtomicU64,
    routes: [AtomicU64; Route::ALL.len()],
    stable: AtomicU64,
    canary: AtomicU64,
    users: Mutex<HashSet<String>>,
}

enum Check {
    Valid,
    Expired,
    Invalid,
}

impl Shop {
    /// A shop with a fresh signing key drawn from `rng` (so tokens die with the server).
    pub fn new(cfg: ShopConfig, rng: &mut impl Rng) -> Shop {
        let mut key = [0u8; 32];
        rng.fill(&mut key);
        Shop {
            cfg,
            key,
            logins: AtomicU64::new(0),
            login_failures: AtomicU64::new(0),
            unauthorized: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            routes: [const { AtomicU64::new(0) }; Route::ALL.len()],
            stable: AtomicU64::new(0),
            canary: AtomicU64::new(0),
            users: Mutex::new(HashSet::new()),
        }
    }

    pub fn stats(&self) -> ShopStats {
        ShopStats {
            logins: self.logins.load(Relaxed),
            login_failures: self.login_failures.load(Relaxed),
            users: self.users.lock().map_or(0, |u| u.len() as u64),
            unauthorized: self.unauthorized.load(Relaxed),
            expired: self.expired.load(Relaxed),
            routes: Route::ALL
                .iter()
                .map(|r| (r.name(), self.routes[r.index()].load(Relaxed)))
                .collect(),
            stable: self.stable.load(Relaxed),
            canary: self.canary.load(Relaxed),
        }
    }

    /// Answers one shop request. `now_ms`: wall clock, ms since the Unix epoch.
    pub fn handle(
        &self,
        req: &ShopRequest,
        body: &[u8],
        now_ms: u64,
        rng: &mut impl Rng,
    ) -> ShopResponse {
        let Some(route) = req.route else {
            return ShopResponse::json(404, &json!({"error": "not found"}));
        };
        self.routes[route.index()].fetch_add(1, Relaxed);
        let method = req.method.as_str();
        if route.is_login() {
            if method != "POST" {
                return not_allowed("POST");
            }
            return self.login(route, req, body, now_ms, rng);
        }
        if route.protected() {
            if let Some(refused) = self.authorize(req, now_ms) {
                return refused;
            }
            return match (route, method) {
                (Route::Cart, "GET") => ShopResponse::json(
                    200,
                    &json!({"cart_id": "cart-active", "items": [], "currency": "USD"}),
                ),
                (Route::Cart, "POST" | "PUT") => {
                    ShopResponse::json(201, &json!({"cart_id": "cart-active", "updated": true}))
                }
                (Route::Cart, "DELETE") => ShopResponse {
                    status: 204,
                    headers: Vec::new(),
                    body: Vec::new(),
                },
                (Route::Checkout, "POST") => ShopResponse::json(
                    201,
                    &json!({"order_id": format!("ord-{}", rng.gen_range(100_000..1_000_000)),
                            "status": "confirmed"}),
                ),
                (Route::Orders, "GET") => ShopResponse::json(
                    200,
                    &json!({"orders": [{"order_id": "ord-100001", "status": "shipped"}]}),
                ),
                _ => not_allowed("GET, POST, PUT, DELETE"),
            };
        }
        if method != "GET" && method != "HEAD" {
            return not_allowed("GET");
        }
        match route {
            Route::Products => {
                let id = req.path.strip_prefix("/api/v1/products/").unwrap_or("");
                if id.is_empty() {
                    ShopResponse::json(
                        200,
                        &json!({"items": [
                            {"id": "SKU-100045", "name": "Headphones", "price": 199.0},
                            {"id": "SKU-200112", "name": "Lamp", "price": 49.5}],
                            "page": 1}),
                    )
                } else {
                    ShopResponse::json(200, &json!({"id": id, "name": "Product", "price": 10.0}))
                }
            }
            Route::Recommendations => {
                let canary = req.beta || rng.gen_range(0..1_000_000) < self.cfg.canary_weight_ppm;
                let version = if canary {
                    self.canary.fetch_add(1, Relaxed);
                    self.cfg.canary_version.clone()
                } else {
                    self.stable.fetch_add(1, Relaxed);
                    "stable".to_string()
                };
                let product = form_pairs(&req.query)
                    .find(|(k, _)| k == "product_id")
                    .map(|(_, v)| v);
                ShopResponse::json(
                    200,
                    &json!({"product_id": product, "version": version,
                            "items": ["SKU-100045", "SKU-300778"]}),
                )
                .header("x-upstream-version", version)
            }
            Route::Health => ShopResponse::json(200, &json!({"status": "UP"})),
            Route::Stats => ShopResponse::json(200, &self.stats().to_json(&self.cfg)),
            _ => ShopResponse::json(404, &json!({"error": "not found"})),
        }
    }

    fn login(
        &self,
        route: Route,
        req: &ShopRequest,
        body: &[u8],
        now_ms: u64,
        rng: &mut impl Rng,
    ) -> ShopResponse {
        let fail = |status: u16, v: Value| {
            self.login_failures.fetch_add(1, Relaxed);
            ShopResponse::json(status, &v)
        };
        let form = req
            .content_type
            .starts_with("application/x-www-form-urlencoded");
        let fields = if form {
            Some(
                form_pairs(std::str::from_utf8(body).unwrap_or(""))
                    .collect::<Vec<(String, String)>>(),
            )
        } else if req.content_type.contains("json") && route != Route::OAuthToken {
            serde_json::from_slice::<Value>(body).ok().and_then(|v| {
                v.as_object().map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
            })
        } else {
            None
        };
        let Some(fields) = fields else {
            let expect = if route == Route::OAuthToken {
                "a form body (application/x-www-form-urlencoded)"
            } else {
                "a form or JSON body"
            };
            return fail(
                400,
                json!({"error": "invalid_request", "error_description": format!("expected {expect}")}),
            );
        };
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        if route == Route::OAuthToken && get("grant_type") != Some("password") {
            return fail(400, json!({"error": "unsupported_grant_type"}));
        }
        let (Some(user), Some(password)) =
            (get("username").filter(|u| !u.is_empty()), get("password"))
        else {
            return fail(
                400,
                json!({"error": "invalid_request", "error_description": "username and password required"}),
            );
        };
        if password != self.cfg.password {
            return fail(
                401,
                json!({"error": "invalid_grant", "error_description": "Invalid user credentials"}),
            );
        }
        self.logins.fetch_add(1, Relaxed);
        if let Ok(mut users) = self.users.lock()
            && users.len() < MAX_USERS
        {
            users.insert(user.to_string());
        }
        let token = self.mint(user, now_ms, rng);
        let ttl = self.cfg.token_ttl.as_secs();
        match route {
            Route::OAuthToken => ShopResponse::json(
                200,
                &json!({"access_token": token, "token_type": "Bearer", "expires_in": ttl,
                        "scope": "openid"}),
            ),
            Route::JsonLogin => ShopResponse::json(
                200,
                &json!({"user": {"name": user}, "data": {"token": token, "expires_in": ttl}}),
            ),
            Route::CookieLogin => ShopResponse::json(200, &json!({"user": user})).header(
                "set-cookie",
                format!("{SESSION_COOKIE}={token}; Max-Age={ttl}; Path=/; HttpOnly; SameSite=Lax"),
            ),
            _ => ShopResponse::json(200, &json!({"user": user}))
                .header("x-auth-token", token)
                .header("x-auth-expires-in", ttl.to_string()),
        }
    }

    /// `None` when the request presents a valid token, else the 401 to send.
    fn authorize(&self, req: &ShopRequest, now_ms: u64) -> Option<ShopResponse> {
        let tokens = req.tokens();
        let mut expired = false;
        for t in &tokens {
            match self.check(t, now_ms) {
                Check::Valid => return None,
                Check::Expired => expired = true,
                Check::Invalid => {}
            }
        }
        self.unauthorized.fetch_add(1, Relaxed);
        let (why, challenge) = if tokens.is_empty() {
            ("missing token", "Bearer realm=\"shop\"".to_string())
        } else {
            let why = if expired {
                self.expired.fetch_add(1, Relaxed);
                "token expired"
            } else {
                "invalid token"
            };
            (
                why,
                format!(
                    "Bearer realm=\"shop\", error=\"invalid_token\", error_description=\"{why}\""
                ),
            )
        };
        Some(ShopResponse::json(401, &json!({"error": why})).header("www-authenticate", challenge))
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length; 32 bytes cannot fail.
        HmacSha256::new_from_slice(&self.key).expect("HMAC accepts any key length")
    }

    fn mint(&self, user: &str, now_ms: u64, rng: &mut impl Rng) -> String {
        let expiry = now_ms.saturating_add(self.cfg.token_ttl.as_millis() as u64);
        let payload = format!("{user}\n{expiry}\n{:016x}", rng.r#gen::<u64>());
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("{}.{}", B64.encode(payload), B64.encode(tag))
    }

    fn check(&self, token: &str, now_ms: u64) -> Check {
        let Some((payload, tag)) = token.split_once('.') else {
            return Check::Invalid;
        };
        let (Ok(payload), Ok(tag)) = (B64.decode(payload), B64.decode(tag)) else {
            return Check::Invalid;
        };
        let mut mac = self.mac();
        mac.update(&payload);
        if mac.verify_slice(&tag).is_err() {
            return Check::Invalid;
        }
        let expiry = std::str::from_utf8(&payload)
            .ok()
            .and_then(|p| p.split('\n').nth(1))
            .and_then(|e| e.parse::<u64>().ok());
        match expiry {
            Some(e) if now_ms < e => Check::Valid,
            Some(_) => Check::Expired,
            None => Check::Invalid,
        }
    }
}

fn not_allowed(allow: &'static str) -> ShopResponse {
    ShopResponse::json(405, &json!({"error": "method not allowed"})).header("allow", allow.into())
}

/// `a=1&b=x+y%21` as decoded pairs (`+` is a space; a bad `%` escape is kept as it is).
fn form_pairs(s: &str) -> impl Iterator<Item = (String, String)> + '_ {
    s.split('&').filter(|kv| !kv.is_empty()).map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (decode(k), decode(v))
    })
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 3 <= b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
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
}
