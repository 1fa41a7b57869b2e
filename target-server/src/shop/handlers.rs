//! [`Shop::handle`]: one request answered by its route: logins (see `tokens`), the protected
//! cart, checkout and orders behind a token, the public catalogue, the canary split of
//! `/api/v1/recommendations`, health and the stats.

use std::sync::atomic::Ordering::Relaxed;

use rand::Rng;
use serde_json::json;

use super::Shop;
use super::message::{ShopRequest, ShopResponse, form_pairs};
use super::routes::Route;

impl Shop {
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
}

fn not_allowed(allow: &'static str) -> ShopResponse {
    ShopResponse::json(405, &json!({"error": "method not allowed"})).header("allow", allow.into())
}
