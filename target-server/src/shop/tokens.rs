//! Logins and tokens: a login checks the credentials and mints a token (HMAC-SHA256 under
//! the shop's key, see the module docs of `shop`), which a protected route checks before
//! answering (401 with a `WWW-Authenticate` challenge when none is valid).

use std::sync::atomic::Ordering::Relaxed;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use rand::Rng;
use serde_json::{Value, json};
use sha2::Sha256;

use super::message::{ShopRequest, ShopResponse, form_pairs};
use super::routes::Route;
use super::{MAX_USERS, SESSION_COOKIE, Shop};

type HmacSha256 = Hmac<Sha256>;

enum Check {
    Valid,
    Expired,
    Invalid,
}

impl Shop {
    pub(super) fn login(
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
    pub(super) fn authorize(&self, req: &ShopRequest, now_ms: u64) -> Option<ShopResponse> {
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
