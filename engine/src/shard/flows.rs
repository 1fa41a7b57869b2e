//! Captured connections ("flows"): the steps of one captured connection wait in a queue of
//! their own and go out in order on one connection slot. A flow takes a free slot when its first
//! step is released and gives it back once its last step has an outcome; while every slot is
//! taken, flows wait for one in order of arrival (each wait counted). The shard owns the
//! sockets' lifecycle; this module only keeps the books of which flow is on which slot.
//!
//! ```text
//!   Idle --first step--> Waiting --slot free--> On{slot} --last step settled--> Idle
//!     \_________________ slot free ___________/^
//! ```
//!
//! A flow released again before its previous lap is settled (a plan shorter than its own
//! responses) continues on the slot it has rather than opening a second connection.

use std::collections::VecDeque;

use super::Req;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not started, or settled and its slot given back.
    Idle,
    /// Started; every slot was taken.
    Waiting,
    /// On connection slot `slot`.
    On { slot: u32 },
}

#[derive(Debug)]
struct Flow {
    state: State,
    /// Released requests (and logins) waiting to be written, in order.
    queue: VecDeque<Req>,
    /// Released steps without an outcome yet: queued, on the wire, or waiting for a token.
    outstanding: u32,
    /// Its last step has been released: once nothing is outstanding, the flow is over.
    last_released: bool,
}

/// What starting a flow needs from the shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Started {
    /// It already had a slot, or is already waiting for one.
    Continues,
    /// It took slot `i`: connect it.
    Took(u32),
    /// Every slot is taken: it waits.
    Waits,
}

pub(super) struct Flows {
    captured: bool,
    flows: Vec<Flow>,
    /// The flow on each slot.
    on_slot: Vec<Option<u32>>,
    free: Vec<u32>,
    waiting: VecDeque<u32>,
    /// Requests in every flow's queue (bounded by the shard's queue limit).
    queued: usize,
}

impl Flows {
    /// `flows` captured connections sharing `slots` connection slots (`None`: connections
    /// are not captured).
    pub(super) fn new(flows: Option<usize>, slots: usize) -> Flows {
        let captured = flows.is_some();
        let (flows, slots) = if captured {
            (flows.unwrap_or(0), slots)
        } else {
            (0, 0)
        };
        Flows {
            captured,
            flows: (0..flows)
                .map(|_| Flow {
                    state: State::Idle,
                    queue: VecDeque::new(),
                    outstanding: 0,
                    last_released: false,
                })
                .collect(),
            on_slot: vec![None; slots],
            free: (0..slots as u32).rev().collect(),
            waiting: VecDeque::with_capacity(flows),
            queued: 0,
        }
    }

    /// Connections are captured (requests go to their flow's queue, not the shared one).
    pub(super) fn captured(&self) -> bool {
        self.captured
    }

    pub(super) fn queued(&self) -> usize {
        self.queued
    }

    /// Flow `f`'s first step is released.
    pub(super) fn start(&mut self, f: u32) -> Started {
        let fl = &mut self.flows[f as usize];
        fl.last_released = false;
        match fl.state {
            State::On { .. } | State::Waiting => Started::Continues,
            State::Idle => match self.free.pop() {
                Some(slot) => {
                    fl.state = State::On { slot };
                    self.on_slot[slot as usize] = Some(f);
                    Started::Took(slot)
                }
                None => {
                    fl.state = State::Waiting;
                    self.waiting.push_back(f);
                    Started::Waits
                }
            },
        }
    }

    /// Flow `f`'s last step is released. Returns its slot if the flow is over already (every
    /// step settled: the last one was dropped, or failed before it was sent).
    pub(super) fn last_released(&mut self, f: u32) -> Option<u32> {
        self.flows[f as usize].last_released = true;
        self.over(f)
    }

    /// A released step of flow `f` will be sent (it has an outcome to come).
    pub(super) fn add(&mut self, r: Req) -> Option<u32> {
        let fl = &mut self.flows[r.flow as usize];
        fl.outstanding += 1;
        self.push_back(r)
    }

    /// Queue `r` behind its flow's requests; returns the flow's slot if it has one.
    fn push_back(&mut self, r: Req) -> Option<u32> {
        let fl = &mut self.flows[r.flow as usize];
        fl.queue.push_back(r);
        self.queued += 1;
        slot_of(fl.state)
    }

    /// Put `r` back at the front of its flow's queue (a re-send, a login, a request that got
    /// its token); returns the flow's slot if it has one.
    pub(super) fn push_front(&mut self, r: Req) -> Option<u32> {
        let fl = &mut self.flows[r.flow as usize];
        fl.queue.push_front(r);
        self.queued += 1;
        slot_of(fl.state)
    }

    /// The queue of the flow on slot `i`, if any (requests taken from it or put back are
    /// accounted by [`Flows::recount`]).
    pub(super) fn queue_on(&mut self, i: u32) -> Option<&mut VecDeque<Req>> {
        let f = self.on_slot.get(i as usize).copied().flatten()?;
        Some(&mut self.flows[f as usize].queue)
    }

    /// A flow queue went from `before` to `after` requests outside these methods.
    pub(super) fn recount(&mut self, before: usize, after: usize) {
        self.queued = self.queued + after - before;
    }

    /// Does the flow on slot `i` have requests waiting to be written?
    pub(super) fn has_work(&self, i: u32) -> bool {
        self.flow_on(i)
            .is_some_and(|f| !self.flows[f as usize].queue.is_empty())
    }

    fn flow_on(&self, i: u32) -> Option<u32> {
        self.on_slot.get(i as usize).copied().flatten()
    }

    /// A step of flow `f` has its outcome. Returns the flow's slot if the flow is now over.
    pub(super) fn settled(&mut self, f: u32) -> Option<u32> {
        let fl = &mut self.flows[f as usize];
        fl.outstanding = fl.outstanding.saturating_sub(1);
        self.over(f)
    }

    /// The slot of flow `f` if the flow is over (its last step released and settled, nothing
    /// queued).
    fn over(&self, f: u32) -> Option<u32> {
        let fl = &self.flows[f as usize];
        if fl.last_released && fl.outstanding == 0 && fl.queue.is_empty() {
            slot_of(fl.state)
        } else {
            None
        }
    }

    /// Is the flow on slot `i` over (or is the slot free)?
    pub(super) fn slot_done(&self, i: u32) -> bool {
        self.flow_on(i)
            .is_none_or(|f| self.over(f).is_some() || self.flows[f as usize].state == State::Idle)
    }

    /// Slot `i` closed with its flow over: the flow is idle again, and the slot goes to the
    /// oldest waiting flow (returned: connect it) or back to the free list.
    pub(super) fn release(&mut self, i: u32) -> Option<u32> {
        if let Some(f) = self.on_slot[i as usize].take() {
            let fl = &mut self.flows[f as usize];
            fl.state = State::Idle;
            // Memory follows the connections open or waiting, not every one of the plan.
            fl.queue = VecDeque::new();
        }
        while let Some(f) = self.waiting.pop_front() {
            let fl = &mut self.flows[f as usize];
            if fl.last_released && fl.outstanding == 0 && fl.queue.is_empty() {
                // Over before it got a slot (its steps were dropped).
                fl.state = State::Idle;
                fl.queue = VecDeque::new();
                continue;
            }
            fl.state = State::On { slot: i };
            self.on_slot[i as usize] = Some(f);
            return Some(f);
        }
        self.free.push(i);
        None
    }

    /// Every request waiting in a flow queue.
    pub(super) fn queued_reqs(&self) -> impl Iterator<Item = &Req> {
        self.flows.iter().flat_map(|f| f.queue.iter())
    }
}

fn slot_of(s: State) -> Option<u32> {
    match s {
        State::On { slot } => Some(slot),
        _ => None,
    }
}
