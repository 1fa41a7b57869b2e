//! `ringload target`: the built-in calibration server, in the foreground.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::error::CliError;

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Address to listen on (port 0 picks a free one and prints it).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Executor threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Stop answering every so often (coordinated-omission demos), e.g. 10s.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub stall_every: Option<Duration>,
    /// How long each stall lasts.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "500ms")]
    pub stall_for: Duration,
    /// Serve the guide's shop API with logins and tokens (see the paths below).
    #[arg(long)]
    pub shop: bool,
    /// With --shop: how long a minted token lives (whole seconds, 1s..=24h).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5m", requires = "shop")]
    pub token_ttl: Duration,
    /// With --shop: the password of every account (others get 401).
    #[arg(long, default_value = ringload_target::DEFAULT_PASSWORD, requires = "shop")]
    pub shop_password: String,
    /// With --shop: percent of non-beta-tester recommendation requests the canary answers.
    #[arg(long, value_name = "PCT", default_value_t = 0.0, requires = "shop")]
    pub canary_weight: f64,
    /// With --shop: the x-upstream-version the canary answers (another value breaks canary
    /// expectations on purpose).
    #[arg(
        long,
        value_name = "NAME",
        default_value = "canary-v2",
        requires = "shop"
    )]
    pub canary_version: String,
    /// Serve https: this certificate chain (PEM, leaf first); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// With --tls-cert: require a client certificate issued by this CA (PEM), i.e. mTLS.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
}

impl TargetArgs {
    fn tls_config(&self) -> Result<Option<ringload_target::TlsConfig>, CliError> {
        let read = |p: &PathBuf, flag: &str| {
            std::fs::read(p).map_err(|e| CliError::BadInput(format!("{flag} {}: {e}", p.display())))
        };
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        Ok(Some(ringload_target::TlsConfig {
            cert_pem: read(cert, "--tls-cert")?,
            key_pem: read(key, "--tls-key")?,
            client_ca_pem: self
                .client_ca
                .as_ref()
                .map(|p| read(p, "--client-ca"))
                .transpose()?,
        }))
    }

    fn shop_config(&self) -> Result<Option<ringload_target::ShopConfig>, CliError> {
        if !self.shop {
            return Ok(None);
        }
        if !(0.0..=100.0).contains(&self.canary_weight) {
            return Err(CliError::BadInput(format!(
                "--canary-weight {}: expected a percentage within 0..=100",
                self.canary_weight
            )));
        }
        Ok(Some(ringload_target::ShopConfig {
            token_ttl: self.token_ttl,
            password: self.shop_password.clone(),
            canary_weight_ppm: (self.canary_weight * 10_000.0).round() as u32,
            canary_version: self.canary_version.clone(),
        }))
    }
}

/// Serve until SIGINT/SIGTERM; returns the exit code (130/143 after a signal, as documented).
pub fn serve(args: &TargetArgs) -> Result<u8, CliError> {
    let cfg = ringload_target::TargetConfig {
        listen: args.listen,
        threads: args.threads,
        stall_every: args.stall_every,
        stall_for: args.stall_for,
        shop: args.shop_config()?,
        tls: args.tls_config()?,
        ..ringload_target::TargetConfig::default()
    };
    cfg.validate()
        .map_err(|e| CliError::BadInput(e.to_string()))?;
    let shop = cfg.shop.is_some();
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    let mtls = cfg.tls.as_ref().is_some_and(|t| t.client_ca_pem.is_some());
    let stats = ringload_target::run(cfg, |addr| {
        // Nowhere to report a failed write from inside the callback; the server runs anyway.
        let _ = crate::out::emit(&format!(
            "ringload target listening on {scheme}://{addr}{}\n",
            if mtls { " (client certificates required)" } else { "" }
        ));
        if shop {
            let _ = crate::out::emit(&format!(
                "shop: login at POST {scheme}://{addr}/auth/realms/shop/protocol/openid-connect/token, \
                 counters at {scheme}://{addr}/__shop/stats\n"
            ));
        }
    })
    .map_err(|e| CliError::Runtime(e.to_string()))?;
    crate::out::emit(&format!(
        "served {} requests on {} connections\n",
        stats.requests, stats.connections
    ))?;
    if stats.tls_handshakes + stats.tls_failures > 0 {
        crate::out::emit(&format!(
            "tls: {} handshakes ({} TLS 1.3, {} resumed, {} with a client certificate), {} failed\n",
            stats.tls_handshakes,
            stats.tls13,
            stats.tls_resumed,
            stats.tls_client_certs,
            stats.tls_failures
        ))?;
    }
    Ok(ringload_target::stopped_by_signal().map_or(crate::error::EXIT_OK, |s| (128 + s) as u8))
}
