//! A scripted shopper for the built-in shop (`ringload demo` records it through the recording
//! proxy): the four scenarios of our users' guide (browse, authenticated shopper, canary,
//! resilience), played once, each virtual user on its own keep-alive connection, with std TCP and the shared HTTP/1.1 decoder. It checks what the guide's Locust
//! scripts check (a token from the login, the canary's `x-upstream-version`, 5xx on the
//! resilience calls) and counts what it saw; it stands for whatever tool a user records with.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ringload_http1::{KeptResponse, Limits, ResponseDecoder, ResponseTo};

/// The guide's host; the proxy forwards it as sent, and the plan records it.
const HOST: &str = "shop.example.com";
const SOURCE: (&str, &str) = ("x-request-source", "ringload-demo");
const JSON: (&str, &str) = ("Accept", "application/json");
const BETA: (&str, &str) = ("x-user-segment", "beta-testers");

/// What the scripted users did.
#[derive(Debug, Default)]
pub struct Played {
    pub users: u64,
    pub requests: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub logins: u64,
    /// Canary checks passed, of those made (the guide's `x-upstream-version` check).
    pub canary_checks: (u64, u64),
}

impl Played {
    /// One line: requests, statuses, logins, canary checks.
    pub fn line(&self) -> String {
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s} x{n}"))
            .collect();
        format!(
            "{} virtual users sent {} requests ({}); {} logins; canary checks passed {}/{}",
            self.users,
            self.requests,
            statuses.join(", "),
            self.logins,
            self.canary_checks.0,
            self.canary_checks.1
        )
    }
}

struct Answer {
    status: u16,
    kept: KeptResponse,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.kept
            .values(name)
            .next()
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

/// One virtual user: a keep-alive connection and the token it logged in with.
struct User<'a> {
    stream: TcpStream,
    buf: Vec<u8>,
    token: Option<String>,
    played: &'a mut Played,
}

impl<'a> User<'a> {
    fn connect(addr: SocketAddr, played: &'a mut Played) -> std::io::Result<User<'a>> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        played.users += 1;
        Ok(User {
            stream,
            buf: Vec::new(),
            token: None,
            played,
        })
    }

    /// Sends one request and reads its whole answer.
    fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> std::io::Result<Answer> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        if let Some(t) = &self.token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        let mut bytes = match body {
            Some((content_type, b)) => {
                req.push_str(&format!(
                    "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                    b.len()
                ));
                let mut v = req.into_bytes();
                v.extend_from_slice(b);
                v
            }
            None => {
                req.push_str("\r\n");
                req.into_bytes()
            }
        };
        self.stream.write_all(&bytes)?;
        bytes.clear();
        let mut dec = ResponseDecoder::new(Limits::default());
        let mut kept = KeptResponse::new(64 * 1024);
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let d = dec
                .decode_keeping(&self.buf, ResponseTo::NonHead, &mut kept)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            self.buf.drain(..d.consumed);
            if let Some(s) = d.message {
                self.played.requests += 1;
                *self.played.statuses.entry(s.status).or_default() += 1;
                return Ok(Answer {
                    status: s.status,
                    kept,
                });
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn get(&mut self, path: &str, extra: &[(&str, &str)]) -> std::io::Result<Answer> {
        let mut h = vec![JSON, SOURCE];
        h.extend_from_slice(extra);
        self.send("GET", path, &h, None)
    }

    fn post_json(&mut self, path: &str, body: &str) -> std::io::Result<Answer> {
        self.send(
            "POST",
            path,
            &[JSON, SOURCE],
            Some(("application/json", body.as_bytes())),
        )
    }

    /// The guide's OAuth2 password grant; keeps the token for the following requests.
    fn login(&mut self, user: &str) -> std::io::Result<()> {
        let form = format!(
            "username={user}&password={}&client_id=web-frontend&grant_type=password",
            form_escape(crate::DEFAULT_PASSWORD)
        );
        let a = self.send(
            "POST",
            "/auth/realms/shop/protocol/openid-connect/token",
            &[SOURCE],
            Some(("application/x-www-form-urlencoded", form.as_bytes())),
        )?;
        let token = serde_json::from_slice::<serde_json::Value>(&a.kept.body)
            .ok()
            .and_then(|v| v["access_token"].as_str().map(str::to_string));
        if a.status != 200 || token.is_none() {
            return Err(std::io::Error::other(format!(
                "login answered {} without a token",
                a.status
            )));
        }
        self.token = token;
        self.played.logins += 1;
        Ok(())
    }
}

fn form_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Scenario 1: users browsing products and checking health through the ingress.
fn browse(u: &mut User<'_>, page: u32) -> std::io::Result<()> {
    let list = format!("/api/v1/products?category=electronics&page={page}&limit=20&delay=4ms");
    u.get(&list, &[])?;
    u.get("/api/v1/products/SKU-100045?delay=2ms", &[])?;
    u.get(&list, &[])?;
    u.get("/api/v1/products/SKU-200112?delay=2ms", &[])?;
    u.get("/health", &[])?;
    Ok(())
}

/// Scenario 2: a shopper logs in, browses, fills the cart and checks out.
fn shopper(u: &mut User<'_>, name: &str) -> std::io::Result<()> {
    u.login(name)?;
    u.get(
        "/api/v1/products?category=home&page=1&limit=12&delay=4ms",
        &[],
    )?;
    for sku in ["SKU-200112", "SKU-100045"] {
        u.post_json(
            "/api/v1/cart/items?delay=6ms",
            &format!(r#"{{"product_id":"{sku}","quantity":2,"currency":"USD"}}"#),
        )?;
    }
    u.post_json(
        "/api/v1/checkout?delay=15ms",
        r#"{"cart_id":"cart-active","shipping_address":{"city":"San Francisco","country":"US"},"payment_method":{"type":"card_token","token":"tok_visa_simulated_4242"}}"#,
    )?;
    Ok(())
}

/// Scenario 3: recommendations for stable users and for beta testers, checking which version
/// answered (the guide's canary check).
fn canary(u: &mut User<'_>, beta: bool) -> std::io::Result<()> {
    for sku in ["SKU-100045", "SKU-200112", "SKU-300778"] {
        let path = format!("/api/v1/recommendations?product_id={sku}&delay=3ms");
        let a = if beta {
            u.get(&path, &[BETA])?
        } else {
            u.get(&path, &[])?
        };
        let v = a.header("x-upstream-version").unwrap_or_default();
        let ok = a.status == 200
            && if beta {
                v == "canary-v2"
            } else {
                v == "stable" || v == "canary-v2"
            };
        u.played.canary_checks.1 += 1;
        u.played.canary_checks.0 += u64::from(ok);
    }
    Ok(())
}

/// Scenario 4: order history and inventory reservations against a flaky downstream (the
/// target answers 10% of reservations 503, after 5 to 30 ms). The other calls take a fixed
/// time (`?delay=`), so the comparison of step 5 resolves a hop's cost at the middle
/// percentiles while the reservations spread the tail.
fn resilience(u: &mut User<'_>) -> std::io::Result<()> {
    u.login("loadtest_user_3310")?;
    for user in ["u-1021", "u-2044", "u-3310"] {
        u.get(
            &format!("/api/v1/orders?user_id={user}&limit=10&delay=8ms"),
            &[],
        )?;
    }
    for order in ["ord-100045", "ord-200112"] {
        u.post_json(
            "/api/v1/inventory/reservations?status=503:10&delay=5ms..30ms",
            &format!(
                r#"{{"order_id":"{order}","items":[{{"product_id":"SKU-100045","quantity":1}}],"warehouse_region":"us-central1"}}"#
            ),
        )?;
    }
    Ok(())
}

/// Plays every scenario once against `addr`; an error names the scenario.
pub fn play(addr: SocketAddr) -> Result<Played, String> {
    let mut played = Played::default();
    let run =
        |name: &str, played: &mut Played, f: &dyn Fn(&mut User<'_>) -> std::io::Result<()>| {
            let mut u = User::connect(addr, played).map_err(|e| format!("{name}: {e}"))?;
            f(&mut u).map_err(|e| format!("{name}: {e}"))
        };
    run("browse", &mut played, &|u| browse(u, 1))?;
    run("browse", &mut played, &|u| browse(u, 2))?;
    run("authenticated shopper", &mut played, &|u| {
        shopper(u, "loadtest_user_1021")
    })?;
    run("authenticated shopper", &mut played, &|u| {
        shopper(u, "loadtest_user_2044")
    })?;
    run("canary", &mut played, &|u| canary(u, false))?;
    run("canary", &mut played, &|u| canary(u, true))?;
    run("resilience", &mut played, &resilience)?;
    Ok(played)
}
