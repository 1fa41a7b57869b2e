//! The engine's `RunConfig` built once from the load options, validated: CPUs and threads,
//! the load model, the stop, the target and its connection options.

use std::time::Duration;

use ringload_engine::{Arrival, Cloning, LoadModel, MAX_RATE, MAX_RUN, RunConfig, Shape, Stop};

use crate::error::CliError;
use crate::limits::{human, number, parse_cpus, parse_stages, parse_start_at};
use crate::load_args::{Connections, LoadArgs};

impl LoadArgs {
    /// The engine's config for `target_url` (given to `flag`, e.g. `--target`) and the plan
    /// read from `plan_file` (its captured host serves `--keep-host`, its timing `--speed`).
    pub fn config(
        &self,
        flag: &str,
        target_url: &str,
        plan_file: &std::path::Path,
        plan: &ringload_formats::Plan,
    ) -> Result<RunConfig, CliError> {
        self.config_with(&self.connect, flag, target_url, plan_file, plan)
    }

    /// The same with other connection options (`compare` gives each side its own: TLS
    /// options serve the https side).
    pub fn config_with(
        &self,
        connect: &crate::connect_args::ConnectArgs,
        flag: &str,
        target_url: &str,
        plan_file: &std::path::Path,
        plan: &ringload_formats::Plan,
    ) -> Result<RunConfig, CliError> {
        crate::limits::check_ranges(self)?;
        let mut target = connect.target(target_url, flag)?;
        if self.keep_host {
            target.host_header = plan
                .meta
                .authority
                .as_deref()
                .ok_or_else(|| {
                    CliError::BadInput("--keep-host: the plan has no single captured host".into())
                })?
                .to_string();
        }
        let allowed = crate::host::allowed_cpus();
        let mut cpus = match &self.cpus {
            Some(list) => {
                let cpus = parse_cpus(list)?;
                if let Some(c) = cpus.iter().find(|c| !allowed.contains(c)) {
                    return Err(CliError::BadInput(format!(
                        "--cpus: CPU {c} is not available to this process (allowed: {allowed:?})"
                    )));
                }
                cpus
            }
            None => allowed,
        };
        if let Some(t) = self.threads {
            if t == 0 || t > cpus.len() {
                return Err(CliError::BadInput(format!(
                    "--threads {t}: between 1 and the {} CPUs available ({cpus:?})",
                    cpus.len()
                )));
            }
            // Take the highest-numbered CPUs: CPU 0 usually takes more interrupts and
            // housekeeping, which shows as late wake-ups in open-loop timing.
            cpus.drain(..cpus.len() - t);
        }
        let threads = cpus.len();
        let connections = self.connections.count();
        if connections < threads {
            if self.threads.is_some() {
                return Err(CliError::BadInput(format!(
                    "--connections {connections} is fewer than the {threads} executor threads",
                )));
            }
            // By default, no more executors than connections.
            cpus.drain(..threads - connections.max(1));
        }
        let arrival = match self.arrival.as_str() {
            "uniform" => Arrival::Uniform,
            "poisson" => Arrival::Poisson,
            a => {
                return Err(CliError::BadInput(format!(
                    "--arrival {a:?}: uniform or poisson"
                )));
            }
        };
        if self.id_seed.is_some() && self.clone.is_none() && !self.fresh_ids {
            return Err(CliError::BadInput(
                "--id-seed seeds the ids of --clone and --fresh-ids: give one of them".into(),
            ));
        }
        let captured = matches!(self.connections, Connections::Captured { .. });
        if captured && (self.rate.is_some() || self.stages.is_some()) {
            return Err(CliError::BadInput(
                "--connections captured opens each captured connection when the capture did: \
                 it replays the captured timing (--speed, 1 by default), not --rate or --stages"
                    .into(),
            ));
        }
        let kinds = &plan.meta.source_kind;
        if captured && !kinds.split('+').any(|k| k == "pcap" || k == "har") {
            eprintln!(
                "ringload: warning: --connections captured: a plan from {kinds} knows no \
                 connections; each session replays as one connection"
            );
        }
        // Captured connections replay the captured timing, as captured unless --speed says.
        let speed = self.speed.or(captured.then_some(1.0));
        let load = match (self.rate, speed, &self.stages) {
            (Some(rate), _, _) => LoadModel::Rate { rate, arrival },
            (_, Some(speed), _) => {
                let rate = ringload_engine::replay_rate(plan, speed).ok_or_else(|| {
                    CliError::BadInput(format!(
                        "{}: the plan has no captured timing to replay (every step at the same \
                         offset): use {}",
                        plan_file.display(),
                        if captured {
                            "-c N (a pool of connections)"
                        } else {
                            "--rate or the closed loop"
                        }
                    ))
                })?;
                if rate > MAX_RATE {
                    return Err(CliError::BadInput(format!(
                        "--speed {}: the plan would be sent at {} requests/s on average, \
                         more than {} (choose a speed of at most {})",
                        number(speed),
                        number(rate.round()),
                        number(MAX_RATE),
                        number(speed * MAX_RATE / rate)
                    )));
                }
                LoadModel::Replay { speed }
            }
            (_, _, Some(s)) => LoadModel::Stages {
                stages: parse_stages(s)?,
                arrival,
            },
            _ => LoadModel::Closed,
        };
        let stop = match (self.duration, self.requests) {
            (_, Some(n)) => Stop::Requests(n),
            (Some(d), None) => Stop::Duration(d),
            (None, None) => match &load {
                LoadModel::Stages { stages, .. } => {
                    Stop::Duration(stages.iter().map(|s| s.duration).sum())
                }
                _ => Stop::Duration(Duration::from_secs(10)),
            },
        };
        if let Stop::Duration(d) = stop
            && d + self.warmup > MAX_RUN
        {
            return Err(CliError::BadInput(format!(
                "--warmup {} plus {} of sending: at most {} together",
                human(self.warmup),
                human(d),
                human(MAX_RUN)
            )));
        }
        let cfg = RunConfig {
            connections,
            shape: if captured {
                Shape::Captured
            } else {
                Shape::Pool
            },
            cloning: (self.clone.is_some() || self.fresh_ids).then(|| Cloning {
                copies: self.clone.unwrap_or(1),
                fresh_ids: self.fresh_ids,
                seed: self.id_seed.unwrap_or_else(|| {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(1, |d| d.as_nanos() as u64)
                }),
            }),
            pipeline: self.pipeline,
            cpus,
            stop,
            load,
            warmup: self.warmup,
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
            give_up_after: self.give_up_after.0,
            drain: self.drain,
            max_lag: self.max_lag,
            io_memory: self.io_memory_kib << 10,
            spin: self.spin,
            precision: self.precision,
            coalesce: self.coalesce,
            requests_per_connection: self.requests_per_connection,
            source_addrs: match &connect.source_ip {
                Some(spec) => crate::addresses::parse_sources(spec)?,
                None => Vec::new(),
            },
            start_at: match &self.start_at {
                Some(s) => Some(parse_start_at(
                    s,
                    std::env::var("RINGLOAD_START_REF").ok().as_deref(),
                )?),
                None => None,
            },
            ..RunConfig::new(target)
        };
        cfg.validate()
            .map_err(|e| CliError::BadInput(e.to_string()))?;
        Ok(cfg)
    }
}
