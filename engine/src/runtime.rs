//! Executors: one glommio executor per CPU, each with its own driver, started together behind a
//! barrier and merged at the end. Shards never share state while running.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ringload_formats::Plan;

use crate::EngineError;
use crate::config::{LoadModel, RunConfig, Shape, Stop};
use crate::driver::Driver;
use crate::requests::{EncodeOptions, WireRequests};
use crate::schedule::{Edge, PlanTiming, Schedule, ScheduleConfig, Steps};
use crate::shard::ShardConfig;
use crate::stats::Stats;

/// The start line: every executor arrives (ready or failed) and waits; the coordinator then
/// releases them all with one common start time, or tells them to stop when one failed or
/// died before arriving. Unlike a plain barrier, a missing executor cannot hang the others.
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    cv: Condvar,
}

#[derive(Default)]
struct GateState {
    arrived: usize,
    failed: bool,
    /// `Some(Some(t0))`: go; `Some(None)`: stop.
    go: Option<Option<Instant>>,
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Arrive (`ok` = ready to run) and wait for the verdict: the start time, or `None`.
    fn arrive(&self, ok: bool) -> Option<Instant> {
        let mut s = self.lock();
        s.arrived += 1;
        s.failed |= !ok;
        self.cv.notify_all();
        loop {
            if let Some(go) = s.go {
                return go;
            }
            s = self.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn release(&self, go: Option<Instant>) {
        self.lock().go = Some(go);
        self.cv.notify_all();
    }

    /// Wait until `n` executors arrived or one of `handles` ended without arriving, then
    /// release them: together if all are ready (at `start_at` if given, sooner if
    /// `interrupt` is set meanwhile), else with a stop. `started` learns the start time.
    fn start(
        &self,
        n: usize,
        handles: &[(usize, std::thread::JoinHandle<Result<Stats, EngineError>>)],
        start_at: Option<std::time::SystemTime>,
        interrupt: Option<&AtomicBool>,
        started: impl FnOnce(Instant),
    ) {
        let mut s = self.lock();
        while s.arrived < n {
            if handles.iter().any(|(_, h)| h.is_finished()) {
                s.failed = true;
                break;
            }
            s = self
                .cv
                .wait_timeout(s, Duration::from_millis(20))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        if !s.failed
            && let Some(at) = start_at
        {
            drop(s);
            // Short sleeps, so an interrupt while waiting is seen at once.
            while let Ok(left) = at.duration_since(std::time::SystemTime::now()) {
                if interrupt.is_some_and(|f| f.load(Ordering::Relaxed)) {
                    break;
                }
                std::thread::sleep(left.min(Duration::from_millis(20)));
            }
            s = self.lock();
        }
        let go = (!s.failed).then(Instant::now);
        if let Some(t0) = go {
            started(t0);
        }
        s.go = Some(go);
        self.cv.notify_all();
    }
}

/// Deal the plan's sessions to `k` shards: whole sessions, each to the shard with the fewest
/// steps so far, so a session's token, cart and order stay on one executor. With fewer sessions
/// than shards, every session's steps are dealt round-robin instead (each shard then replays its
/// part as its own session). Steps stay in session order, or in offset order for replay.
/// Returns each shard's steps and the plan index of each of its sessions.
fn shard_steps(plan: &Plan, k: usize, replay: bool) -> Vec<(Steps, Vec<u32>)> {
    // Per shard: (offset, request, local session) of each step, and the plan index of each
    // local session.
    type Dealt = (Vec<(u64, u32, u32)>, Vec<u32>);
    let mut out: Vec<Dealt> = vec![(Vec::new(), Vec::new()); k];
    if plan.sessions.len() >= k {
        for ((mine, locals), dealt) in out.iter_mut().zip(deal_sessions(plan, k)) {
            for (local, g) in dealt.into_iter().enumerate() {
                let steps = &plan.sessions[g as usize].steps;
                mine.extend(
                    steps
                        .iter()
                        .map(|st| (st.offset_us, st.request, local as u32)),
                );
                locals.push(g);
            }
        }
    } else {
        let total = plan.step_count() as usize;
        for (g, sess) in plan.sessions.iter().enumerate() {
            for (n, st) in sess.steps.iter().enumerate() {
                // Fewer steps than shards: every shard cycles over all of them.
                let shards: Vec<usize> = if total < k {
                    (0..k).collect()
                } else {
                    vec![n % k]
                };
                for i in shards {
                    let local = match out[i].1.iter().position(|&x| x == g as u32) {
                        Some(l) => l as u32,
                        None => {
                            out[i].1.push(g as u32);
                            (out[i].1.len() - 1) as u32
                        }
                    };
                    out[i].0.push((st.offset_us, st.request, local));
                }
            }
        }
    }
    out.into_iter()
        .map(|(mut mine, sessions)| {
            if replay {
                mine.sort_by_key(|s| s.0);
            }
            let steps = Steps {
                requests: mine.iter().map(|s| s.1).collect::<Vec<_>>().into(),
                sessions: mine.iter().map(|s| s.2).collect::<Vec<_>>().into(),
                offsets_us: mine.iter().map(|s| s.0).collect::<Vec<_>>().into(),
                ..Steps::default()
            };
            (steps, sessions)
        })
        .collect()
}

/// Each plan session's place among the sessions that log in (those with a step carrying an
/// auth slot), which picks its `--users` row: N rows give N such sessions N accounts, whatever
/// the sessions without a login between them. Sessions without a login get their plan index
/// (they never use a row).
fn login_ordinals(plan: &Plan) -> Vec<u32> {
    let mut next = 0u32;
    plan.sessions
        .iter()
        .enumerate()
        .map(|(g, sess)| {
            let logs_in = sess.steps.iter().any(|st| {
                plan.requests
                    .get(st.request as usize)
                    .is_some_and(|r| r.auth.is_some())
            });
            if logs_in {
                next += 1;
                next - 1
            } else {
                g as u32
            }
        })
        .collect()
}

/// Whole sessions to `k` shards, each to the shard with the fewest steps so far: each shard's
/// plan indices of its sessions, in plan order.
fn deal_sessions(plan: &Plan, k: usize) -> Vec<Vec<u32>> {
    let mut steps = vec![0usize; k];
    let mut out = vec![Vec::new(); k];
    for (g, sess) in plan.sessions.iter().enumerate() {
        let i = (0..k).min_by_key(|&i| (steps[i], i)).unwrap_or(0);
        steps[i] += sess.steps.len();
        out[i].push(g as u32);
    }
    out
}

/// Deal the plan's captured connections to `k` shards for `Shape::Captured`: whole sessions,
/// as [`shard_steps`] does (a shard may get none), steps in offset order, each step with its
/// shard's index of its captured connection (the steps of one session with one captured
/// connection id) and whether it opens or closes it. Also returns each shard's count of
/// captured connections.
pub(crate) fn shard_flows(plan: &Plan, k: usize) -> Vec<(Steps, Vec<u32>, usize)> {
    // Per shard: (offset, request, local session, captured connection id) of each step, and
    // the plan index of each local session.
    deal_sessions(plan, k)
        .into_iter()
        .map(|sessions| {
            let mut mine: Vec<(u64, u32, u32, u64)> = Vec::new();
            for (local, &g) in sessions.iter().enumerate() {
                let steps = &plan.sessions[g as usize].steps;
                let local = local as u32;
                mine.extend(
                    steps
                        .iter()
                        .map(|st| (st.offset_us, st.request, local, st.connection)),
                );
            }
            // Stable: equal offsets keep their session's order.
            mine.sort_by_key(|s| s.0);
            let mut ids: std::collections::HashMap<(u32, u64), u32> = Default::default();
            let flows: Vec<u32> = mine
                .iter()
                .map(|s| {
                    let n = ids.len() as u32;
                    *ids.entry((s.2, s.3)).or_insert(n)
                })
                .collect();
            let mut edges = vec![Edge::default(); mine.len()];
            let mut seen = vec![false; ids.len()];
            for (e, &f) in edges.iter_mut().zip(&flows) {
                e.opens = !std::mem::replace(&mut seen[f as usize], true);
            }
            seen.fill(false);
            for (e, &f) in edges.iter_mut().zip(&flows).rev() {
                e.closes = !std::mem::replace(&mut seen[f as usize], true);
            }
            let steps = Steps {
                requests: mine.iter().map(|s| s.1).collect::<Vec<_>>().into(),
                sessions: mine.iter().map(|s| s.2).collect::<Vec<_>>().into(),
                offsets_us: mine.iter().map(|s| s.0).collect::<Vec<_>>().into(),
                flows: flows.into(),
                edges: edges.into(),
            };
            (steps, sessions, ids.len())
        })
        .collect()
}

/// Shard `i`'s part of `total` when each shard's part follows `weights` (its steps): the
/// parts add up to `total`, and a total of one lap gives each shard exactly its own steps.
fn share_by(total: u64, weights: &[u64], i: usize) -> u64 {
    let all: u64 = weights.iter().sum();
    if all == 0 {
        return share(total, weights.len(), i);
    }
    let upto = |j: usize| -> u64 {
        let w: u64 = weights[..j].iter().sum();
        (u128::from(total) * u128::from(w) / u128::from(all)) as u64
    };
    upto(i + 1) - upto(i)
}

fn share(total: u64, k: usize, i: usize) -> u64 {
    total / k as u64 + u64::from((i as u64) < total % k as u64)
}

/// Replay `plan` as configured; returns every executor's stats merged.
pub fn run(plan: &Plan, cfg: &RunConfig) -> Result<Stats, EngineError> {
    cfg.validate()?;
    if plan.step_count() == 0 {
        return Err(EngineError::Config("the plan has no steps".into()));
    }
    let cloned;
    let plan = match &cfg.cloning {
        Some(c) => {
            cloned = crate::clone::expand(plan, c).map_err(EngineError::Config)?;
            &cloned
        }
        None => plan,
    };
    let r = &cfg.replay;
    let wire = Arc::new(
        WireRequests::encode(
            plan,
            &EncodeOptions {
                host: &cfg.target.host_header,
                headers: &r.headers,
                auth_token: r.auth_token.as_deref(),
                users: r.users.as_ref(),
                expect: &r.expect,
                split: &r.split,
                fresh_ids: cfg.cloning.is_some(),
                mesh: Some(&r.mesh),
            },
        )
        .map_err(EngineError::Plan)?,
    );
    // TLS settings are checked once here; each executor builds its own configuration (its own
    // session cache) from them.
    let tls = match &cfg.target.tls {
        Some(o) => {
            crate::tls::client_config(o, 1).map_err(EngineError::Config)?;
            Some((
                o.clone(),
                crate::tls::server_name(&o.server_name).map_err(EngineError::Config)?,
            ))
        }
        None => None,
    };
    let k = cfg.cpus.len();
    let replay = matches!(cfg.load, LoadModel::Replay { .. });
    let steps: Vec<(Steps, Vec<u32>, Option<usize>)> = match cfg.shape {
        Shape::Pool => shard_steps(plan, k, replay)
            .into_iter()
            .map(|(st, se)| (st, se, None))
            .collect(),
        Shape::Captured => shard_flows(plan, k)
            .into_iter()
            .map(|(st, se, n)| (st, se, Some(n)))
            .collect(),
    };
    let timing = if replay {
        let offsets: Vec<u64> = plan.steps().map(|s| s.offset_us).collect();
        PlanTiming::of(&offsets).ok_or_else(|| {
            EngineError::Config(
                "the plan has no captured timing to replay (every step at the same offset): \
                 use --rate or the closed loop"
                    .into(),
            )
        })?
    } else {
        PlanTiming::default()
    };
    if let LoadModel::Replay { speed } = cfg.load
        && let Some(rate) = replay_rate(plan, speed)
        && rate > crate::config::MAX_RATE
    {
        return Err(EngineError::Config(format!(
            "replaying the plan at speed {speed} sends {rate:.0} requests/s on average, more \
             than {} (a slower speed)",
            crate::config::MAX_RATE
        )));
    }
    let warmup_ns = cfg.warmup.as_nanos() as u64;
    let (end_ns, budget) = match cfg.stop {
        Stop::Duration(d) => (warmup_ns + d.as_nanos() as u64, None),
        Stop::Requests(n) => (u64::MAX, Some(n)),
    };
    let gate = Arc::new(Gate::default());
    let mut handles = Vec::with_capacity(k);
    // A replay's shards share one clock through the plan: `--requests` goes to each in
    // proportion to its steps, so one lap of the plan is each step once.
    let weights: Vec<u64> = steps.iter().map(|s| s.0.requests.len() as u64).collect();
    let logins = login_ordinals(plan);
    for (i, (steps, sessions, flows)) in steps.into_iter().enumerate() {
        let user_rows: Arc<[u32]> = sessions.iter().map(|&g| logins[g as usize]).collect();
        let cpu = cfg.cpus[i];
        let shard = ShardConfig {
            cpu,
            connections: share(cfg.connections as u64, k, i) as usize,
            depth: cfg.pipeline,
            addr: cfg.target.addr,
            timeout: cfg.timeout,
            connect_timeout: cfg.connect_timeout,
            give_up_after: cfg.give_up_after,
            drain: cfg.drain,
            queue_limit: cfg.queue_limit,
            measure_from_ns: warmup_ns,
            max_wall: cfg.max_wall,
            spin: cfg.spin,
            precision: cfg.precision,
            coalesce: cfg.coalesce,
            sessions: sessions.into(),
            user_rows,
            segments: plan.segments.len(),
            requests_per_connection: cfg.requests_per_connection,
            flows,
            ids: crate::ids::IdGen::new(cfg.cloning.map_or(0, |c| c.seed), i),
            source_addrs: cfg.source_addrs.clone().into(),
            index: i,
            interrupt: cfg.interrupt.clone(),
            live: cfg.live.clone(),
        };
        let schedule = Schedule::new(
            &cfg.load,
            steps,
            &ScheduleConfig {
                share: 1.0 / k as f64,
                measure_from_ns: warmup_ns,
                end_ns,
                budget: budget.map(|b| {
                    if replay {
                        share_by(b, &weights, i)
                    } else {
                        share(b, k, i)
                    }
                }),
                seed: 0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1),
                timing,
            },
        );
        let (wire, gate_t, tls) = (wire.clone(), gate.clone(), tls.clone());
        let io_memory = cfg.io_memory;
        let h = std::thread::Builder::new()
            .name(format!("ringload-{i}"))
            .spawn(move || {
                // Open-loop sends wake on timers: the default 50 us timer slack would make
                // every send that late.
                // SAFETY: PR_SET_TIMERSLACK only changes this thread's timer slack.
                unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1u64, 0u64, 0u64, 0u64) };
                let setup = (|| {
                    let ex = ringload_host::executor("ringload", Some(cpu), io_memory)
                        .make()
                        .map_err(|e| EngineError::Executor {
                            cpu,
                            message: ringload_host::executor_error(e, io_memory),
                        })?;
                    Ok::<_, EngineError>(ex)
                })();
                let ex = match setup {
                    Ok(ex) => ex,
                    Err(e) => {
                        gate_t.arrive(false);
                        return Err(e);
                    }
                };
                ex.run(async move {
                    let tls = match tls {
                        Some((o, name)) => Some((
                            crate::tls::client_config(&o, shard.connections)
                                .map_err(EngineError::Config)?,
                            name,
                        )),
                        None => None,
                    };
                    let driver = Driver::new(shard, wire, schedule, tls).and_then(|mut d| {
                        d.connect_all()?;
                        Ok(d)
                    });
                    let start = gate_t.arrive(driver.is_ok());
                    let driver = driver?;
                    match start {
                        Some(t0) => driver.run(t0).await,
                        None => Ok(Stats::new(0)),
                    }
                })
            })
            .map_err(|e| EngineError::Executor {
                cpu,
                message: e.to_string(),
            });
        match h {
            Ok(h) => handles.push((cpu, h)),
            Err(e) => {
                // The executors already started must not wait for this one.
                gate.release(None);
                for (_, h) in handles {
                    let _ = h.join();
                }
                return Err(e);
            }
        }
    }
    gate.start(k, &handles, cfg.start_at, cfg.interrupt.as_deref(), |t0| {
        if let Some(live) = &cfg.live {
            live.started(t0 + cfg.warmup);
        }
    });
    let mut merged =
        Stats::with_layout(wire.layout).with_splits(plan.segments.len(), wire.split_captures.len());
    merged.split_names = wire
        .split_captures
        .iter()
        .map(|&i| wire.capture_names[i].clone())
        .collect();
    let mut first_err = None;
    for (cpu, h) in handles {
        match h.join() {
            Ok(Ok(s)) => merged += &s,
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(_) => {
                first_err.get_or_insert(EngineError::Panicked(cpu));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(merged),
    }
}

/// The mean rate, requests per second, of replaying `plan`'s captured timing at `speed`: its
/// steps per repeat period (`None` when it has no timing to replay).
pub fn replay_rate(plan: &Plan, speed: f64) -> Option<f64> {
    let offsets: Vec<u64> = plan.steps().map(|s| s.offset_us).collect();
    let timing = PlanTiming::of(&offsets)?;
    Some(offsets.len() as f64 / (timing.period_us as f64 / 1e6) * speed)
}

/// How long a run can take at most, for callers that bound it.
pub fn expected_wall(cfg: &RunConfig) -> Option<Duration> {
    match cfg.stop {
        Stop::Duration(d) => Some(cfg.warmup + d + cfg.drain),
        Stop::Requests(_) => None,
    }
}

/// Did the generator keep its schedule? `Err` names why the run is invalid (exit code 4):
/// requests dropped because too many were already waiting, a p99 send lag beyond `max_lag`, or
/// an executor that gave up on an unreachable target (the CLI exits 1 for that one).
pub fn check_validity(stats: &Stats, cfg: &RunConfig) -> Result<(), String> {
    if stats.gave_up {
        return Err(format!(
            "stopped early: no connection to the target could be opened for {:?}",
            cfg.give_up_after.unwrap_or_default()
        ));
    }
    let q = |x| {
        if stats.lag.is_empty() {
            0
        } else {
            stats.lag.value_at_quantile(x)
        }
    };
    let (p99, max) = (
        q(0.99),
        if stats.lag.is_empty() {
            0
        } else {
            stats.lag.max()
        },
    );
    let allowed = cfg.max_lag.as_micros() as u64;
    let lagging = cfg.load.is_open() && p99 > allowed;
    if stats.dropped == 0 && !lagging {
        return Ok(());
    }
    let mut why = format!(
        "the generator fell behind its schedule: p99 send lag {:.1} ms (max {:.1} ms, {:.1} ms allowed)",
        p99 as f64 / 1e3,
        max as f64 / 1e3,
        allowed as f64 / 1e3
    );
    if stats.dropped > 0 {
        why.push_str(&format!(
            "; {} requests dropped with {} already waiting per executor",
            stats.dropped, cfg.queue_limit
        ));
    }
    Err(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_budget_follows_each_shards_steps() {
        let w = [36, 39, 0];
        let parts: Vec<u64> = (0..3).map(|i| share_by(75, &w, i)).collect();
        assert_eq!(parts, vec![36, 39, 0], "one lap: each shard its own steps");
        let parts: Vec<u64> = (0..3).map(|i| share_by(1000, &w, i)).collect();
        assert_eq!(parts.iter().sum::<u64>(), 1000);
        assert_eq!(parts, vec![480, 520, 0]);
        assert_eq!(share_by(7, &[0, 0], 0) + share_by(7, &[0, 0], 1), 7);
    }

    #[test]
    fn captured_connections_are_dealt_whole_with_their_edges() {
        use ringload_formats::{Metadata, PlanBuilder, Request, Session, Step};
        let mut b = PlanBuilder::new(Metadata::default());
        let label = b.label("GET /");
        let r = b.request(Request {
            method: "GET".into(),
            target: "/".into(),
            label,
            ..Request::default()
        });
        let step = |offset_us, connection| Step {
            request: r,
            offset_us,
            connection,
        };
        // Session 0: connection 1 twice around connection 2 once; session 1: connection 1.
        b.session(Session {
            steps: vec![step(0, 1), step(5, 2), step(9, 1)],
        });
        b.session(Session {
            steps: vec![step(3, 1)],
        });
        let dealt = shard_flows(&b.finish(), 1);
        let (steps, sessions, n) = &dealt[0];
        assert_eq!((sessions.clone(), *n), (vec![0, 1], 3));
        assert_eq!(&*steps.offsets_us, &[0, 3, 5, 9]);
        assert_eq!(&*steps.flows, &[0, 1, 2, 0]);
        let e = |opens, closes| Edge { opens, closes };
        assert_eq!(
            &*steps.edges,
            &[e(true, false), e(true, true), e(true, true), e(false, true)]
        );
    }
}
