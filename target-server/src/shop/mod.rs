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
//!
//! Here: the shop's state ([`Shop`]: key, counters, users) and its limits. In the children:
//!
//! - `config`: [`ShopConfig`], what the shop does, and its checks
//! - `routes`: [`Route`], the endpoints, and [`route`], which paths are the shop's
//! - `message`: [`ShopRequest`] (the head fields read, the tokens presented), [`ShopResponse`]
//!   and form decoding
//! - `handlers`: [`Shop::handle`], each route's answer, the canary split
//! - `tokens`: logins, minting and checking the HMAC tokens, the 401s
//! - `stats`: [`ShopStats`], the counters' snapshot and its JSON

mod config;
mod handlers;
mod message;
mod routes;
mod stats;
mod tokens;

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use rand::Rng;

pub use config::ShopConfig;
pub use message::{ShopRequest, ShopResponse};
pub use routes::{Route, route};
pub use stats::ShopStats;

/// The password every shop account has unless configured otherwise (the guide's).
pub const DEFAULT_PASSWORD: &str = "P@ssw0rd-LoadTest!";
/// The session cookie `/api/v1/session` sets and protected routes accept.
pub const SESSION_COOKIE: &str = "shop_session";
/// Distinct user names remembered for the `users` counter.
pub const MAX_USERS: usize = 1_000_000;
/// Most request body bytes the shop reads (login bodies are tiny).
pub const MAX_SHOP_BODY: usize = 64 * 1024;

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
}

#[cfg(test)]
mod tests;
