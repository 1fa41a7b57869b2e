//! The shop's endpoints: [`Route`], and [`route`], which tells a shop path from one that
//! keeps the calibration behaviour.

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
    pub(super) const ALL: [Route; 11] = [
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

    pub(super) fn index(self) -> usize {
        Route::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }

    pub(super) fn is_login(self) -> bool {
        matches!(
            self,
            Route::OAuthToken | Route::JsonLogin | Route::CookieLogin | Route::HeaderLogin
        )
    }

    pub(super) fn protected(self) -> bool {
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
