//! What the shop does: [`ShopConfig`] (token lifetime, password, canary weight and version)
//! and its checks.

use std::time::Duration;

use super::DEFAULT_PASSWORD;

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
