//! The += step: `Merger::add` checks one parsed file against the budgets and adds it into
//! the accumulators, its windows shifted onto the first worker's clock.

use super::First;
use super::Merger;
use super::budget::{
    MAX_GROUPS, MAX_STATUS, MAX_TOTAL_GROUPS, MAX_WINDOWS, add_histogram, check_number,
    too_many_groups,
};
use crate::model::{FORMAT, Report};
use crate::sparse::Sparse;
use ringload_engine::stats::MAX_OFFENDING;

impl Merger {
    /// Add one parsed file, whose windows start `shift` seconds after the first file's.
    pub(super) fn add(&mut self, name: &str, r: Report, shift: usize) -> Result<(), String> {
        let budget = &mut self.budget;
        if r.format != FORMAT {
            return Err(format!(
                "{name}: format: {:?} is not a ringload run result ({FORMAT})",
                r.format
            ));
        }
        let groups = r.labels.len() + r.segments.len();
        if groups > MAX_GROUPS {
            return Err(format!(
                "{name}: labels and segments: {groups} groups, more than the {MAX_GROUPS} a \
                 result may hold (merge budget)"
            ));
        }
        if r.windows.len() > MAX_WINDOWS {
            return Err(format!(
                "{name}: windows: {} seconds, more than the {MAX_WINDOWS} a result may hold \
                 (merge budget)",
                r.windows.len()
            ));
        }
        if r.summary.status.len() > MAX_STATUS {
            return Err(format!(
                "{name}: summary.status: more than {MAX_STATUS} codes"
            ));
        }
        let s = &r.summary;
        check_number(s.send_rate, name, "summary.send_rate")?;
        check_number(r.run.warmup_s, name, "run.warmup_s")?;
        check_number(r.run.timeout_s, name, "run.timeout_s")?;
        self.summary.take(&s.group, name, "summary", budget)?;
        for (i, g) in r.labels.iter().enumerate() {
            let room = self.labels.items.len() + self.segments.items.len() < MAX_TOTAL_GROUPS;
            let key = (g.label.clone(), g.segment.clone(), g.auth);
            let new = !self.labels.index.contains_key(&key);
            let Some(acc) = self.labels.entry(key, room) else {
                return Err(too_many_groups(name));
            };
            acc.take(g, name, &format!("labels[{i}]"), budget)?;
            if new {
                let n = g.label.as_ref().map_or(0, String::len)
                    + g.segment.as_ref().map_or(0, String::len);
                budget.name(n, name)?;
            }
        }
        for (i, g) in r.segments.iter().enumerate() {
            let room = self.labels.items.len() + self.segments.items.len() < MAX_TOTAL_GROUPS;
            let new = !self.segments.index.contains_key(&g.segment);
            let Some(acc) = self.segments.entry(g.segment.clone(), room) else {
                return Err(too_many_groups(name));
            };
            acc.take(g, name, &format!("segments[{i}]"), budget)?;
            if new {
                budget.name(g.segment.as_ref().map_or(0, String::len), name)?;
            }
        }
        let width = self.window_s as usize;
        for (i, w) in r.windows.iter().enumerate() {
            // Windows of every file in the widest width any of them used.
            let second = w.second.saturating_add(shift) / width * width;
            if w.second >= MAX_WINDOWS {
                return Err(format!(
                    "{name}: windows[{i}].second: {} is beyond the {MAX_WINDOWS} seconds a \
                     result may span",
                    w.second
                ));
            }
            if second >= MAX_WINDOWS {
                return Err(format!(
                    "{name}: windows[{i}].second: {} is {second} s after the first worker \
                     started, beyond the {MAX_WINDOWS} seconds a merged result may span",
                    w.second
                ));
            }
            let e = self.windows.entry(second).or_default();
            e.0 = e.0.saturating_add(w.requests);
            e.1 = e.1.saturating_add(w.ok);
            let we = &w.errors;
            for (a, b) in e.2.iter_mut().zip([
                we.connect,
                we.timeout,
                we.reset,
                we.protocol,
                we.validation,
                we.auth,
            ]) {
                *a = a.saturating_add(b);
            }
            add_histogram(
                &mut e.3,
                &w.histogram,
                ringload_engine::stats::WINDOW_DIGITS,
                name,
                &format!("windows[{i}].histogram"),
                budget,
            )?;
        }
        add_histogram(
            &mut self.service,
            &s.service_histogram,
            3,
            name,
            "summary.service_histogram",
            budget,
        )?;
        add_histogram(
            &mut self.lag,
            &s.lag_histogram,
            3,
            name,
            "summary.lag_histogram",
            budget,
        )?;
        for (k, v) in &s.status {
            if !k.parse::<u16>().is_ok_and(|c| (100..=999).contains(&c)) {
                return Err(format!(
                    "{name}: summary.status: {k:?} is not an HTTP status code"
                ));
            }
            let e = self.status.entry(k.clone()).or_default();
            *e = e.saturating_add(*v);
        }
        if !s.requests_per_connection_histogram.is_empty() {
            add_histogram(
                &mut self.per_conn,
                &s.requests_per_connection_histogram,
                3,
                name,
                "summary.requests_per_connection_histogram",
                budget,
            )?;
        }
        if !s.connect_histogram.is_empty() {
            add_histogram(
                &mut self.connect,
                &s.connect_histogram,
                3,
                name,
                "summary.connect_histogram",
                budget,
            )?;
        }
        if let Some(t) = &s.tls {
            let acc = self
                .tls
                .get_or_insert_with(|| (0, 0, Sparse::default(), Vec::new()));
            acc.0 = acc.0.saturating_add(t.resumed);
            acc.1 = acc.1.saturating_add(t.errors);
            add_histogram(
                &mut acc.2,
                &t.handshake_histogram,
                3,
                name,
                "summary.tls.handshake_histogram",
                budget,
            )?;
            for reason in t.reasons.iter().take(MAX_OFFENDING) {
                if acc.3.len() < MAX_OFFENDING && !acc.3.contains(reason) {
                    budget.name(reason.len(), name)?;
                    acc.3.push(reason.clone());
                }
            }
        }
        self.interrupted |= r.interrupted;
        for p in &r.provenance {
            budget.name(p.text_len(), name)?;
        }
        self.provenance.extend(r.provenance.iter().cloned());
        for (a, b) in [
            (&mut self.resent, s.resent),
            (&mut self.dropped, s.dropped),
            (&mut self.logins, s.logins),
            (&mut self.bytes_in, s.bytes_in),
            (&mut self.bytes_out, s.bytes_out),
            (&mut self.opened, s.connections_opened),
            (&mut self.conn_waits, s.connection_waits),
            (&mut self.closes, s.server_closes),
            (&mut self.unsolicited, s.unsolicited_responses),
        ] {
            *a = a.saturating_add(b);
        }
        self.send_rate += s.send_rate;
        self.duration = self.duration.max(s.duration_s);
        self.connections = self.connections.saturating_add(r.run.connections);
        self.threads = self.threads.saturating_add(r.run.threads);
        if !self.targets.contains(&r.run.target) {
            budget.name(r.run.target.len(), name)?;
            self.targets.push(r.run.target.clone());
        }
        if !r.valid {
            self.invalid.push(format!(
                "{name}: {}",
                r.invalid_reason.as_deref().unwrap_or("invalid")
            ));
        }
        if self.first.is_none() {
            budget.name(r.plan.len() + r.run.load.len() + r.run.stop.len(), name)?;
            self.first = Some(First {
                plan: r.plan,
                pipeline: r.run.pipeline,
                load: r.run.load,
                stop: r.run.stop,
                warmup_s: r.run.warmup_s,
                timeout_s: r.run.timeout_s,
            });
        }
        self.files += 1;
        Ok(())
    }
}
