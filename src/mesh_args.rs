//! What the hops' answers mean (shared by `run` and `compare`): `--origin-rule` for gateways
//! ringload does not know, `--server-timing` for the upstream time an application reports.

use clap::Args;
use ringload_engine::{MeshOptions, OriginRule};

use crate::error::CliError;

#[derive(Debug, Args, Default)]
pub struct MeshArgs {
    /// Who answered a failed response carrying this header: `header:NAME=proxy` (a gateway's
    /// own error), `header:NAME=upstream`, or `header:NAME:VALUE=...` (a value starting with
    /// VALUE, e.g. `header:server:kong=proxy`); tried first, in order (repeatable). Envoy,
    /// Istio, Consul, Linkerd and nginx are known without rules.
    #[arg(
        long = "origin-rule",
        value_name = "header:NAME[:VALUE]=proxy|upstream"
    )]
    pub origin_rules: Vec<String>,
    /// Take the upstream's own time from this Server-Timing entry's `dur=` (and nothing else).
    /// By default: `x-envoy-upstream-service-time`, else the Server-Timing entry `total`, else
    /// `app`, else the header's only entry.
    #[arg(long, value_name = "NAME")]
    pub server_timing: Option<String>,
}

impl MeshArgs {
    pub fn options(&self) -> Result<MeshOptions, CliError> {
        let origin_rules = self
            .origin_rules
            .iter()
            .map(|r| {
                OriginRule::parse(r)
                    .map_err(|why| CliError::BadInput(format!("--origin-rule {r:?}: {why}")))
            })
            .collect::<Result<_, _>>()?;
        if let Some(n) = &self.server_timing
            && (n.is_empty()
                || n.bytes()
                    .any(|b| b.is_ascii_whitespace() || b",;=\"".contains(&b)))
        {
            return Err(CliError::BadInput(format!(
                "--server-timing {n:?}: not a Server-Timing entry name"
            )));
        }
        Ok(MeshOptions {
            origin_rules,
            server_timing: self.server_timing.clone(),
        })
    }
}
