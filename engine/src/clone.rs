//! `--clone N` (and `--fresh-ids`): the plan as N copies of every session, before anything is
//! encoded, within a memory budget.
//!
//! Copy `k` of session `s` starts `k * span / N` after `s` does (its span: its first to its last
//! step), so the copies spread over the time the session took instead of landing together. It
//! is session `k * S + s` of the expanded plan: copy 0 is the plan's own order, and `--users`
//! rows go in turn to the sessions that log in, copies included, so each copy logs in as its
//! own user. A copy keeps its steps' captured connection ids; being a session of its own, its
//! connections are its own too.
//!
//! With fresh ids, every step of copy `k` has its item ids rewritten (see `ids`): each UUID in
//! its target or body and each id-like path segment (`ringload_http1::url::is_id_like`) becomes
//! the id that [`crate::ids::fresh_id`] gives it under the run's seed and `k`, so the same
//! captured id is the same new id in every step of the copy and another in every other copy.
//! Rewritten requests keep their label (their rows are the captured ones') and their length.
//! Header ids (`x-request-id`, `traceparent`, B3) are not in the plan: they are written fresh
//! at every send (see `requests`).

use std::collections::HashMap;
use std::sync::Arc;

use ringload_formats::{Plan, Request, RequestId, Session, Step};
use ringload_http1::url::is_id_like;

use crate::config::Cloning;
use crate::ids::{fresh_id, mix, rewrite_uuids};

/// The most steps an expanded plan may have: each costs about 64 bytes once dealt to the
/// executors (the step, its executor's copy, the dealing), so this is about 1 GiB.
pub const MAX_CLONED_STEPS: u64 = 16 << 20;
/// The most bytes of targets and bodies that fresh ids may rewrite into new requests.
pub const MAX_REWRITTEN_BYTES: u64 = 256 << 20;

/// `plan` with every session copied `c.copies` times (see the module docs). Errors say which
/// budget a clone count would exceed and the largest count that fits.
pub fn expand(plan: &Plan, c: &Cloning) -> Result<Plan, String> {
    let n = u64::from(c.copies);
    let steps = plan.step_count();
    let total = steps.saturating_mul(n);
    if total > MAX_CLONED_STEPS {
        return Err(format!(
            "--clone {n}: {steps} steps x {n} copies = {total} steps, beyond the budget of \
             {MAX_CLONED_STEPS} (about 1 GiB of memory); at most --clone {}",
            (MAX_CLONED_STEPS / steps.max(1)).max(1)
        ));
    }
    let mut out = Plan {
        meta: plan.meta.clone(),
        requests: plan.requests.clone(),
        labels: plan.labels.clone(),
        segments: plan.segments.clone(),
        auth_profiles: plan.auth_profiles.clone(),
        sessions: Vec::with_capacity(plan.sessions.len() * c.copies as usize),
    };
    let mut rewritten_bytes = 0u64;
    // Equal rewritten requests are stored once (a copy that sends the same request twice).
    let mut interned: HashMap<Request, RequestId> = HashMap::new();
    for k in 0..n {
        let key = mix(c.seed ^ mix(k + 1));
        // This copy's new id of each captured request (itself when it holds no id).
        let mut of_copy: HashMap<RequestId, RequestId> = HashMap::new();
        for s in &plan.sessions {
            let first = s.steps.first().map_or(0, |st| st.offset_us);
            let span = s.steps.last().map_or(0, |st| st.offset_us) - first;
            let shift = (u128::from(span) * u128::from(k) / u128::from(n)) as u64;
            let mut steps = Vec::with_capacity(s.steps.len());
            for st in &s.steps {
                let request = if c.fresh_ids {
                    match of_copy.get(&st.request) {
                        Some(&id) => id,
                        None => {
                            let original = &plan.requests[st.request as usize];
                            let id = match with_fresh_ids(original, key) {
                                None => st.request,
                                Some(r) => {
                                    rewritten_bytes += (r.target.len() + r.body.len()) as u64;
                                    if rewritten_bytes > MAX_REWRITTEN_BYTES {
                                        return Err(format!(
                                            "--clone {n} --fresh-ids: the copies' requests with \
                                             new ids take more than {} MiB; fewer copies",
                                            MAX_REWRITTEN_BYTES >> 20
                                        ));
                                    }
                                    *interned.entry(r).or_insert_with_key(|r| {
                                        out.requests.push(r.clone());
                                        (out.requests.len() - 1) as RequestId
                                    })
                                }
                            };
                            of_copy.insert(st.request, id);
                            id
                        }
                    }
                } else {
                    st.request
                };
                steps.push(Step {
                    request,
                    offset_us: st.offset_us.saturating_add(shift),
                    connection: st.connection,
                });
            }
            out.sessions.push(Session { steps });
        }
    }
    Ok(out)
}

/// `r` with its item ids replaced under `key`, or `None` if it holds none.
fn with_fresh_ids(r: &Request, key: u64) -> Option<Request> {
    let (path, query) = match r.target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (&*r.target, None),
    };
    let mut changed = false;
    let mut target = String::with_capacity(r.target.len());
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            target.push('/');
        }
        if is_id_like(seg) {
            target.push_str(&fresh_id(seg, key));
            changed = true;
        } else {
            let mut b = seg.as_bytes().to_vec();
            changed |= rewrite_uuids(&mut b, key);
            target.push_str(std::str::from_utf8(&b).expect("UUIDs are ASCII"));
        }
    }
    if let Some(q) = query {
        let mut b = q.as_bytes().to_vec();
        changed |= rewrite_uuids(&mut b, key);
        target.push('?');
        target.push_str(std::str::from_utf8(&b).expect("UUIDs are ASCII"));
    }
    let mut body = r.body.to_vec();
    let body_changed = rewrite_uuids(&mut body, key);
    if !changed && !body_changed {
        return None;
    }
    Some(Request {
        target: target.into(),
        body: if body_changed {
            Arc::from(body)
        } else {
            r.body.clone()
        },
        ..r.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringload_formats::{Metadata, PlanBuilder};

    fn plan() -> Plan {
        let mut b = PlanBuilder::new(Metadata::default());
        let l = b.label("GET /orders/:id");
        let mut req = |target: &str, body: &[u8]| {
            b.request(Request {
                method: "POST".into(),
                target: target.into(),
                body: body.into(),
                label: l,
                ..Request::default()
            })
        };
        let uuid = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
        let a = req(&format!("/orders/{uuid}"), b"");
        let b2 = req(
            &format!("/users/1042/cart?order={uuid}"),
            format!("{{\"order\":\"{uuid}\",\"qty\":2}}").as_bytes(),
        );
        let c = req("/health", b"");
        let steps = |offs: &[u64], reqs: &[u32]| Session {
            steps: offs
                .iter()
                .zip(reqs)
                .map(|(&o, &r)| Step {
                    request: r,
                    offset_us: o,
                    connection: 5,
                })
                .collect(),
        };
        b.session(steps(&[1000, 2000, 4000], &[a, b2, c]));
        b.session(steps(&[0], &[a]));
        b.finish()
    }

    fn cloning(copies: u32, fresh_ids: bool) -> Cloning {
        Cloning {
            copies,
            fresh_ids,
            seed: 7,
        }
    }

    #[test]
    fn copies_are_staggered_over_the_session_span() {
        let p = expand(&plan(), &cloning(3, false)).unwrap();
        assert_eq!(p.sessions.len(), 6);
        let offs =
            |s: usize| -> Vec<u64> { p.sessions[s].steps.iter().map(|x| x.offset_us).collect() };
        // Span 3 ms: copies 1 ms apart; the one-step session (span 0) is not moved.
        assert_eq!(offs(0), vec![1000, 2000, 4000]);
        assert_eq!(offs(2), vec![2000, 3000, 5000]);
        assert_eq!(offs(4), vec![3000, 4000, 6000]);
        assert_eq!(offs(5), vec![0]);
        assert_eq!(p.requests.len(), 3, "no fresh ids: the same requests");
        assert_eq!(p.step_count(), 12);
        p.validate().unwrap();
    }

    #[test]
    fn fresh_ids_are_consistent_within_a_copy_and_differ_between_copies() {
        let p = expand(&plan(), &cloning(3, true)).unwrap();
        p.validate().unwrap();
        let target = |s: usize, k: usize| {
            p.requests[p.sessions[s].steps[k].request as usize]
                .target
                .to_string()
        };
        let uuid_of = |t: &str| t.split('/').nth(2).unwrap().to_string();
        let mut seen = std::collections::HashSet::new();
        for copy in 0..3 {
            let s = copy * 2;
            let id = uuid_of(&target(s, 0));
            assert_eq!(id.len(), 36);
            assert_ne!(id, "3f2504e0-4f89-41d3-9a0c-0305e82c3301");
            assert_eq!(&id[14..15], "4", "the version is kept");
            // The same captured UUID in the path, the query and the body of the copy's steps,
            // and in the other session's step of the same copy.
            assert!(
                target(s, 1).ends_with(&format!("?order={id}")),
                "{}",
                target(s, 1)
            );
            let body = &p.requests[p.sessions[s].steps[1].request as usize].body;
            assert_eq!(
                std::str::from_utf8(body).unwrap(),
                format!("{{\"order\":\"{id}\",\"qty\":2}}")
            );
            assert_eq!(uuid_of(&target(s + 1, 0)), id);
            let user = target(s, 1).split('/').nth(2).unwrap().to_string();
            assert_eq!(user.len(), 4);
            assert!(user.bytes().all(|b| b.is_ascii_digit()) && !user.starts_with('0'));
            assert_eq!(target(s, 2), "/health", "no id: unchanged");
            assert!(seen.insert(id), "copies get different ids");
        }
        // Per copy: the order, the cart-with-body request (the health check is shared).
        assert_eq!(p.requests.len(), 3 + 3 * 2);
    }

    #[test]
    fn beyond_the_budget_the_count_that_fits_is_named() {
        let mut p = plan();
        let many: Vec<Step> = (0..(1u64 << 20))
            .map(|i| Step {
                request: 2,
                offset_us: i,
                connection: 0,
            })
            .collect();
        p.sessions.push(Session { steps: many });
        let e = expand(&p, &cloning(1000, false)).unwrap_err();
        assert!(e.contains("beyond the budget"), "{e}");
        assert!(e.contains("at most --clone 15"), "{e}");
    }
}
