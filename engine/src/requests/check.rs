//! Expectations compiled once per distinct rule set ([`Check`]), and the response headers the
//! decoders capture for them, for `--split` and for the hops (by capture index).

use ringload_formats::{Plan, Request, StatusRule};

use super::WireRequests;
use crate::config::{ExpectRule, ExpectScope};

/// Compiled expectation: status rules and required header values (by capture index).
#[derive(Debug, Clone, Default)]
pub struct Check {
    pub status: Vec<StatusRule>,
    pub headers: Vec<(usize, Vec<Vec<u8>>)>,
}

/// Why a response failed its check, for the report's first offending values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offence<'a> {
    Status(u16),
    /// Capture index, and the value seen (`None`: the header was missing).
    Header(usize, Option<&'a [u8]>),
}

impl Check {
    /// Does a response with `status` and the decoder's captures pass?
    #[cfg(test)]
    pub fn passes<'a>(&self, status: u16, captured: impl Fn(usize) -> Option<&'a [u8]>) -> bool {
        self.offence(status, captured).is_none()
    }

    /// The first thing a response breaks, if any.
    pub fn offence<'a>(
        &self,
        status: u16,
        captured: impl Fn(usize) -> Option<&'a [u8]>,
    ) -> Option<Offence<'a>> {
        let status_ok = if self.status.is_empty() {
            (200..400).contains(&status)
        } else {
            self.status.iter().any(|r| r.matches(status))
        };
        if !status_ok {
            return Some(Offence::Status(status));
        }
        self.headers.iter().find_map(|(i, allowed)| {
            let v = captured(*i);
            match v {
                Some(v) if allowed.iter().any(|a| a.as_slice() == v) => None,
                _ => Some(Offence::Header(*i, v)),
            }
        })
    }
}

impl WireRequests {
    /// The capture index of `name` (its first value, up to the decoder's default size).
    pub(super) fn capture(&mut self, name: &str) -> usize {
        self.capture_with(name, ringload_http1::CAPTURE_VALUE_CAP, false)
    }

    /// The capture index of `name`, keeping at least `cap` bytes (joined when repeated if any
    /// user of it asks).
    pub(super) fn capture_with(&mut self, name: &str, cap: usize, join: bool) -> usize {
        match self
            .capture_names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
        {
            Some(i) => {
                let shape = &mut self.capture_shapes[i];
                shape.0 = shape.0.max(cap);
                shape.1 |= join;
                i
            }
            None => {
                self.capture_names.push(name.to_string());
                self.capture_shapes.push((cap, join));
                self.capture_names.len() - 1
            }
        }
    }

    /// What the decoders must capture, by index.
    pub fn capture_specs(&self) -> Vec<ringload_http1::CaptureSpec<'_>> {
        self.capture_names
            .iter()
            .zip(&self.capture_shapes)
            .map(|(name, &(cap, join))| ringload_http1::CaptureSpec { name, cap, join })
            .collect()
    }

    pub(super) fn compile_check(
        &mut self,
        plan: &Plan,
        r: &Request,
        rules: &[ExpectRule],
    ) -> Result<u16, String> {
        let label = &plan.labels[r.label as usize];
        let segment = r.segment.map(|s| plan.segments[s as usize].as_str());
        let applies = |rule: &ExpectRule| match &rule.scope {
            ExpectScope::All => true,
            ExpectScope::Label(l) => l == label,
            ExpectScope::Segment(s) => Some(s.as_str()) == segment,
        };
        let mut status: Vec<StatusRule> = r
            .expect
            .as_ref()
            .map(|e| e.status.clone())
            .unwrap_or_default();
        let mut headers: Vec<(String, Vec<String>)> = r
            .expect
            .as_ref()
            .map(|e| {
                e.headers
                    .iter()
                    .map(|(n, vs)| (n.to_string(), vs.iter().map(|v| v.to_string()).collect()))
                    .collect()
            })
            .unwrap_or_default();
        for rule in rules.iter().filter(|r| applies(r)) {
            if let Some(s) = &rule.status {
                status = s.clone();
            }
            if let Some((name, values)) = &rule.header {
                headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                headers.push((name.clone(), values.clone()));
            }
        }
        if status.is_empty() && headers.is_empty() {
            return Ok(0);
        }
        let headers = headers
            .into_iter()
            .map(|(n, vs)| {
                let idx = self.capture(&n);
                if !self.split_captures.contains(&idx) {
                    self.split_captures.push(idx);
                }
                (idx, vs.into_iter().map(String::into_bytes).collect())
            })
            .collect();
        self.checks.push(Check { status, headers });
        if self.checks.len() > u16::MAX as usize {
            return Err("more than 65535 distinct expectations".into());
        }
        Ok((self.checks.len() - 1) as u16)
    }
}
