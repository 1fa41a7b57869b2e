//! Steps 3 to 5 of the demo: the recorded plan replayed in closed loop, in open loop with the
//! canary checks, and direct vs through the sidecar stand-in; each adds its page to the report.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ringload_engine::{LoadModel, RunConfig, Stop, Target};
use ringload_formats::Plan;
use ringload_results::Names;

use super::{Pace, runtime, step};
use crate::error::CliError;
use crate::lifecycle::Interrupt;

/// A closed-loop or open-loop run of the demo plan against `addr` on the last CPU (the target
/// and the proxies float on the others).
fn config(addr: SocketAddr, connections: usize, load: LoadModel, d: Duration) -> RunConfig {
    let cpus = crate::host::allowed_cpus();
    RunConfig {
        connections,
        pipeline: 1,
        cpus: vec![*cpus.last().unwrap_or(&0)],
        stop: Stop::Duration(d),
        load,
        drain: Duration::from_secs(2),
        max_wall: (d + Duration::from_secs(20)).min(ringload_engine::MAX_RUN),
        ..RunConfig::new(Target {
            addr,
            host_header: addr.to_string(),
            tls: None,
        })
    }
}

/// The guide's canary check as `--expect` rules, and the version split as `--split`:
/// recommendations may come from either version (10% of stable users reach the canary), beta
/// testers' only from canary-v2 (a later rule replaces an earlier one on the same header).
fn canary_checks() -> Result<ringload_engine::Replay, CliError> {
    Ok(ringload_engine::Replay {
        expect: vec![
            crate::replay::parse_expect(
                "label=GET /api/v1/recommendations:x-upstream-version=stable|canary-v2",
            )?,
            crate::replay::parse_expect("segment=canary:x-upstream-version=canary-v2")?,
        ],
        split: vec!["x-upstream-version".into()],
        ..ringload_engine::Replay::default()
    })
}

/// What the replays share, and what they found: pages for the report, whether any run was
/// invalid.
pub(super) struct Replays<'a> {
    pub names: Names,
    pub plan_name: String,
    pub plan: &'a Plan,
    pub plan_path: &'a Path,
    pub taddr: SocketAddr,
    pub turl: String,
    pub interrupt: &'a Interrupt,
    pub pace: &'a Pace,
    pub invalid: bool,
    pub pages: Vec<(String, String)>,
}

impl Replays<'_> {
    /// Step 3; `Some(exit code)` when interrupted.
    pub fn closed(&mut self) -> Result<Option<u8>, CliError> {
        // 3. Closed loop at the maximum rate.
        step(
            3,
            &format!(
                "closed loop: the plan replayed as fast as the shop answers, 16 connections for {}; \
                 shows the capacity, each session logging in with the recorded user and refreshing \
                 its token before it expires",
                humantime::format_duration(self.pace.closed)
            ),
        )?;
        let mut closed = config(self.taddr, 16, LoadModel::Closed, self.pace.closed);
        closed.interrupt = Some(self.interrupt.flag());
        closed.replay = canary_checks()?;
        let stats = crate::launch::engine_run(self.plan, self.plan_path, &closed)?;
        crate::launch::check_connected(&stats, &self.turl, &closed)?;
        let validity = ringload_engine::check_validity(&stats, &closed);
        self.invalid |= validity.is_err();
        let report = ringload_results::build(
            &stats,
            &closed,
            &self.names,
            &self.plan_name,
            &self.turl,
            &validity,
        );
        crate::out::emit(&ringload_results::render::text::render_text(&report))?;
        self.pages.push((
            "ringload demo, step 3: the recorded plan in closed loop at the maximum rate"
                .to_string(),
            ringload_results::render::html::run_page(&report),
        ));
        if let Some(code) = self.interrupt.exit_code() {
            return Ok(Some(code));
        }
        Ok(None)
    }

    /// Step 4; `Some(exit code)` when interrupted.
    pub fn open(&mut self, output: Option<&Path>) -> Result<Option<u8>, CliError> {
        // 4. Open loop at a fixed rate, with the canary checks.
        step(
            4,
            &format!(
                "open loop: {} requests/s (Poisson arrivals) for {}, with the canary checks \
                 (recommendations from stable or canary-v2, beta testers' from canary-v2 only) and \
                 the split by x-upstream-version; shows latency from each request's intended send \
                 time and whether the rollout routes as it should",
                self.pace.rate,
                humantime::format_duration(self.pace.open)
            ),
        )?;
        let mut open = config(
            self.taddr,
            32,
            LoadModel::Rate {
                rate: self.pace.rate,
                arrival: ringload_engine::Arrival::Poisson,
            },
            self.pace.open,
        );
        open.interrupt = Some(self.interrupt.flag());
        open.replay = canary_checks()?;
        open.validate()
            .map_err(|e| CliError::BadInput(e.to_string()))?;
        let stats = crate::launch::engine_run(self.plan, self.plan_path, &open)?;
        crate::launch::check_connected(&stats, &self.turl, &open)?;
        let validity = ringload_engine::check_validity(&stats, &open);
        self.invalid |= validity.is_err();
        let open_report = ringload_results::build(
            &stats,
            &open,
            &self.names,
            &self.plan_name,
            &self.turl,
            &validity,
        );
        crate::out::emit(&ringload_results::render::text::render_text(&open_report))?;
        crate::out::write_result(&open_report, output, None)?;
        self.pages.insert(
            0,
            (
                format!(
                    "ringload demo, step 4: the recorded plan in open loop at {} requests/s with the \
                     canary checks",
                    self.pace.rate
                ),
                ringload_results::render::html::run_page(&open_report),
            ),
        );
        if let Some(code) = self.interrupt.exit_code() {
            return Ok(Some(code));
        }
        Ok(None)
    }

    /// Step 5; `Some(exit code)` when interrupted.
    pub fn sidecar(&mut self, add_latency: Duration) -> Result<Option<u8>, CliError> {
        // 5. Direct vs through the sidecar stand-in.
        let sidecar = ringload_proxy::spawn(ringload_proxy::ProxyConfig {
            upstream: self.taddr,
            added_latency: add_latency,
            ..ringload_proxy::ProxyConfig::default()
        })
        .map_err(|e| runtime("sidecar stand-in")(e.to_string()))?;
        let saddr = sidecar.local_addr();
        let surl = format!("http://{saddr}");
        step(
            5,
            &format!(
                "sidecar: the plan direct ({}) vs through `ringload proxy --add-latency \
                 {}` (http://{saddr}), {} rounds of {} a side at {} requests/s, order alternating; \
                 shows what one more hop costs at each percentile, against the noise",
                self.turl,
                humantime::format_duration(add_latency),
                self.pace.rounds,
                humantime::format_duration(self.pace.round),
                self.pace.compare_rate
            ),
        )?;
        let side = |addr| {
            let mut c = config(
                addr,
                8,
                LoadModel::Rate {
                    rate: self.pace.compare_rate,
                    arrival: ringload_engine::Arrival::Uniform,
                },
                self.pace.round,
            );
            c.interrupt = Some(self.interrupt.flag());
            c.drain = Duration::from_millis(500);
            c
        };
        let (mut base, mut cand) = (side(self.taddr), side(saddr));
        let comparison = crate::rounds::compare_rounds(
            self.plan,
            self.plan_path,
            (&mut base, &self.turl),
            (&mut cand, &surl),
            self.pace.rounds,
            true,
        )?;
        let hop = sidecar
            .stop()
            .map_err(|e| runtime("sidecar stand-in")(e.to_string()))?;
        let Some(comparison) = comparison else {
            return Ok(Some(
                self.interrupt
                    .exit_code()
                    .unwrap_or(crate::error::EXIT_RUNTIME),
            ));
        };
        self.invalid |= !comparison.valid;
        crate::out::emit(&ringload_results::render::text::render_compare(&comparison))?;
        crate::out::emit(&format!(
            "sidecar: {}\n",
            crate::proxy::counters(&hop.stats)
        ))?;
        self.pages.push((
            format!(
                "ringload demo, step 5: direct vs through the sidecar stand-in (added latency {})",
                humantime::format_duration(add_latency)
            ),
            ringload_results::render::html::compare_page(&comparison),
        ));
        Ok(None)
    }
}
