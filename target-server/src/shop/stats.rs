//! The shop's counters: [`ShopStats`], a snapshot of the atomics [`Shop`] keeps, and the JSON
//! `GET /__shop/stats` serves.

use std::sync::atomic::Ordering::Relaxed;

use serde_json::{Value, json};

use super::Shop;
use super::config::ShopConfig;
use super::routes::Route;

/// A snapshot of the shop's counters (`GET /__shop/stats` serves it as JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShopStats {
    /// Successful logins on any login endpoint.
    pub logins: u64,
    /// Refused logins (wrong password, missing fields, unsupported grant).
    pub login_failures: u64,
    /// Distinct user names that logged in (at most [`MAX_USERS`](super::MAX_USERS)).
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

impl Shop {
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
}
