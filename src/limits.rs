//! Load options checked and parsed: ranges the engine can honour (each message names the
//! flag), `--stages`, `--cpus`, `--start-at`, `--give-up-after`.

use std::time::Duration;

use ringload_engine::{
    MAX_CLONES, MAX_RATE, MAX_REQUESTS, MAX_RUN, MAX_SPIN, MAX_STAGES, MAX_WAIT, Stage,
};

use crate::error::CliError;
use crate::load_args::{Connections, LoadArgs};

/// Refuse numbers no run can honour, naming the flag and the allowed range (the engine
/// checks the same limits; here the message names the option).
pub fn check_ranges(a: &LoadArgs) -> Result<(), CliError> {
    let bad = |m: String| Err(CliError::BadInput(m));
    if let Some(rate) = a.rate
        && !(rate.is_finite() && rate > 0.0 && rate <= MAX_RATE)
    {
        return bad(format!(
            "--rate {}: between 0 (excluded) and {} requests/s (no machine sends more)",
            number(rate),
            number(MAX_RATE)
        ));
    }
    if let Some(speed) = a.speed
        && !(speed.is_finite() && speed > 0.0)
    {
        return bad(format!("--speed {}: must be more than 0", number(speed)));
    }
    if let Some(n) = a.requests
        && !(1..=MAX_REQUESTS).contains(&n)
    {
        return bad(format!("--requests {n}: between 1 and {MAX_REQUESTS}"));
    }
    if !(1..=100_000).contains(&a.connections.count()) {
        return bad(match a.connections {
            Connections::Count(n) => format!("--connections {n}: between 1 and 100000"),
            Connections::Captured { max_open } => {
                format!("--connections captured:{max_open}: at most 1 to 100000 open at once")
            }
        });
    }
    if let Some(n) = a.clone
        && !(1..=MAX_CLONES).contains(&n)
    {
        return bad(format!("--clone {n}: between 1 and {MAX_CLONES}"));
    }
    if !(1..=1024).contains(&a.pipeline) {
        return bad(format!("--pipeline {}: between 1 and 1024", a.pipeline));
    }
    let at_most = |flag: &str, d: Duration, max: Duration| {
        if d > max {
            bad(format!("{flag} {}: at most {}", human(d), human(max)))
        } else {
            Ok(())
        }
    };
    if let Some(d) = a.duration {
        at_most("--duration", d, MAX_RUN)?;
        if d.is_zero() {
            return bad("--duration 0s: must be positive".into());
        }
    }
    at_most("--warmup", a.warmup, MAX_RUN)?;
    if let Some(d) = a.duration
        && d + a.warmup > MAX_RUN
    {
        return bad(format!(
            "--warmup {} plus --duration {}: at most {} together",
            human(a.warmup),
            human(d),
            human(MAX_RUN)
        ));
    }
    at_most("--timeout", a.timeout, MAX_WAIT)?;
    at_most("--connect-timeout", a.connect_timeout, MAX_WAIT)?;
    at_most("--drain", a.drain, MAX_WAIT)?;
    at_most("--max-lag", a.max_lag, MAX_WAIT)?;
    if let Some(g) = a.give_up_after.0 {
        at_most("--give-up-after", g, MAX_WAIT)?;
    }
    at_most("--spin", a.spin, MAX_SPIN)?;
    at_most("--precision", a.precision, MAX_SPIN)?;
    at_most("--coalesce", a.coalesce, MAX_SPIN)?;
    if !(64..=1 << 20).contains(&a.io_memory_kib) {
        return bad(format!(
            "--io-memory-kib {}: between 64 and 1048576",
            a.io_memory_kib
        ));
    }
    Ok(())
}

/// `--start-at`: an RFC 3339 time, or `+DURATION` after `reference` (or now).
pub fn parse_start_at(s: &str, reference: Option<&str>) -> Result<std::time::SystemTime, CliError> {
    let bad = |why: String| CliError::BadInput(format!("--start-at {s:?}: {why}"));
    if let Some(d) = s.strip_prefix('+') {
        let d = humantime::parse_duration(d.trim()).map_err(|e| bad(e.to_string()))?;
        let base = match reference {
            Some(r) => humantime::parse_rfc3339_weak(r.trim()).map_err(|e| {
                CliError::BadInput(format!("RINGLOAD_START_REF {r:?}: {e} (RFC 3339 expected)"))
            })?,
            None => std::time::SystemTime::now(),
        };
        return Ok(base + d);
    }
    let t = humantime::parse_rfc3339_weak(s.trim()).map_err(|e| {
        bad(format!(
            "{e} (RFC 3339, e.g. 2026-11-27T20:30:00Z, or +30s)"
        ))
    })?;
    if let Ok(ahead) = t.duration_since(std::time::SystemTime::now())
        && ahead > Duration::from_secs(24 * 3600)
    {
        return Err(bad("more than a day ahead".into()));
    }
    Ok(t)
}

/// Parse `0,2-3` into CPU numbers.
pub fn parse_cpus(s: &str) -> Result<Vec<usize>, CliError> {
    let bad = || CliError::BadInput(format!("--cpus {s:?}: expected e.g. 1 or 0,2-3"));
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b || b > 4095 {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    out.sort_unstable();
    out.dedup();
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// Parse `30s:1000,60s:5000`, each rate and duration within the engine's limits.
pub fn parse_stages(s: &str) -> Result<Vec<Stage>, CliError> {
    let stages = s
        .split(',')
        .map(|part| {
            let bad = |why: &str| CliError::BadInput(format!("--stages: {part:?} {why}"));
            let (d, l) = part
                .trim()
                .split_once(':')
                .ok_or_else(|| bad("is not DURATION:RATE"))?;
            let duration =
                humantime::parse_duration(d.trim()).map_err(|_| bad("is not DURATION:RATE"))?;
            let level: f64 = l.trim().parse().map_err(|_| bad("is not DURATION:RATE"))?;
            if !(level.is_finite() && (0.0..=MAX_RATE).contains(&level)) {
                return Err(bad(&format!(
                    "has a rate outside 0..={} requests/s",
                    number(MAX_RATE)
                )));
            }
            if duration > MAX_RUN {
                return Err(bad(&format!("is longer than {}", human(MAX_RUN))));
            }
            Ok(Stage { duration, level })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if stages.len() > MAX_STAGES {
        return Err(CliError::BadInput(format!(
            "--stages: {} stages, at most {MAX_STAGES}",
            stages.len()
        )));
    }
    let total: Duration = stages.iter().map(|s| s.duration).sum();
    if total > MAX_RUN {
        return Err(CliError::BadInput(format!(
            "--stages: {} in total, at most {}",
            human(total),
            human(MAX_RUN)
        )));
    }
    Ok(stages)
}

/// A rate for messages: `100000000`, `1e30`.
pub fn number(x: f64) -> String {
    if x.abs() >= 1e12 {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// `24h`, `90s`, `1h 30m`: whole hours as hours (humantime would say `1day`).
pub fn human(d: Duration) -> String {
    match d.as_secs() {
        s if s >= 3600 && s % 3600 == 0 && d.subsec_nanos() == 0 => format!("{}h", s / 3600),
        _ => humantime::format_duration(d).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_stages_and_targets() {
        assert_eq!(parse_cpus("0,2-3,2").unwrap(), vec![0, 2, 3]);
        assert!(parse_cpus("3-1").is_err());
        assert!(parse_cpus("x").is_err());
        let s = parse_stages("30s:1000, 1m:0").unwrap();
        assert_eq!(s[1].duration, Duration::from_secs(60));
        assert!(parse_stages("30s").is_err());
    }
}
