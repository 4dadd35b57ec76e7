//! The correlation state: per correlation, the open groups and the events in their windows.
//!
//! [`Correlator::feed`] takes contributions in event-time order (the merge guarantees it) and
//! returns what fired. Windows slide on event time: a group's window is the timespan ending at
//! its newest event, inclusive at both ends (an event exactly one timespan before the newest is
//! still in it). A correlation fires when its condition *becomes* true for a group (edge
//! triggered): twenty-five recipients of one lure make one fan-out alert, not six; it fires again
//! for that group only after the condition has been false. A temporal_ordered sequence also fires
//! again when a newer first step completes one (a second campaign mail to the same person, then
//! its pixel), but not for every repetition of the last step (the same pixel fetched twice).
//! A rule with `reconwatch-firing: repeats` fires for exactly those repetitions, each one, and
//! never for a sequence's first completion ([`Firing::Repeats`]): a companion of a rule over
//! the same steps, so that every fetch of a fired pixel is in an alert.
//!
//! State is bounded. A group expires once its newest event is a timespan old; at most
//! `max_groups` are open per correlation, and opening one more evicts the least recently fed
//! (counted: a SOC engineer must know when state ran out). A group keeps at most
//! [`Compiled::keep`] entries: one more than the largest constant in the condition, since a
//! count above it decides every term the same way.
//!
//! Each correlation's state is known by the correlation's rule id (`State::id`): that is what
//! a snapshot writes and what a restore after a reload matches ([`super::snapshot`]). In memory
//! the states sit in the order of the loaded [`Correlations`], so that the index a contribution
//! carries finds its state without hashing a name per event.
//!
//! Memory per open group, measured (`cargo bench --bench correlate`): see ARCHITECTURE.md.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::compile::{Compiled, Correlations, From};
use super::contribution::{Contribution, Events, Evidence, KEY_SEPARATOR, Val};
use crate::rules::correlation::{Firing, Kind};

/// How much state a correlation may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open groups per correlation.
    pub max_groups: usize,
}

/// The default [`Limits::max_groups`].
pub const DEFAULT_MAX_GROUPS: usize = 100_000;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_groups: DEFAULT_MAX_GROUPS,
        }
    }
}

/// The most contributing events an alert lists; the rest are counted in it.
pub const MAX_EVIDENCE: usize = 50;

#[derive(Debug)]
pub(super) struct Entry {
    /// Position in the group's stream (identifies an entry across evictions).
    pub(super) seq: u64,
    pub(super) time: i64,
    pub(super) step: u16,
    pub(super) value: Option<Val>,
    pub(super) events: Events,
}

#[derive(Debug, Default)]
pub(super) struct Group {
    pub(super) entries: VecDeque<Entry>,
    /// The condition held at the last event (edge trigger).
    pub(super) firing: bool,
    pub(super) newest: i64,
    /// Entries fed so far.
    pub(super) fed: u64,
    /// temporal_ordered: the first entry of the sequence that fired last; a sequence that
    /// starts later (a new mail, then its pixel) fires again.
    pub(super) fired_start: Option<u64>,
}

/// Counts per correlation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrelationStats {
    /// Contributions fed.
    pub events: u64,
    pub fired: u64,
    /// Groups removed because `max_groups` were open.
    pub evicted: u64,
    /// Groups removed because their newest event was a timespan old.
    pub expired: u64,
    /// Entries dropped from a full group (the oldest first).
    pub entries_dropped: u64,
    /// The most groups open at once.
    pub peak_groups: u64,
    /// Firings held back because the correlation had not yet seen a full timespan (conditions
    /// that hold for a single event, such as `lte: 1`, cannot judge earlier).
    pub held_back: u64,
}

#[derive(Debug)]
pub(super) struct State {
    /// The correlation's rule id.
    pub(super) id: Arc<str>,
    pub(super) groups: HashMap<Arc<str>, Group>,
    /// Keys in the order their groups were last queued; stale entries are skipped lazily.
    pub(super) queue: VecDeque<(i64, Arc<str>)>,
    /// The first event time fed.
    pub(super) first: Option<i64>,
    pub(super) stats: CorrelationStats,
}

impl State {
    /// The state of a correlation that has seen nothing.
    pub(super) fn empty(id: &str) -> State {
        State {
            id: id.into(),
            groups: HashMap::new(),
            queue: VecDeque::new(),
            first: None,
            stats: CorrelationStats::default(),
        }
    }
}

/// What one firing says.
#[derive(Debug, Clone)]
pub struct Fired {
    /// The correlation's index in the [`Correlations`] that fired it (for the alert writer).
    pub correlation: u32,
    /// The correlation's rule id (what finds it in another loaded set).
    pub id: Arc<str>,
    /// The time of the event that made the condition true.
    pub time: i64,
    /// The group-by values.
    pub key: Vec<String>,
    /// The count, distinct values, sum or average the condition tested.
    pub aggregate: f64,
    /// The distinct values (value_count), at most [`MAX_EVIDENCE`].
    pub values: Vec<String>,
    /// The window's first and last event times.
    pub first: i64,
    pub last: i64,
    /// Contributing events, oldest first, at most [`MAX_EVIDENCE`].
    pub events: Vec<Arc<Evidence>>,
    pub events_omitted: usize,
}

/// Runs every correlation over contributions fed in event-time order.
pub struct Correlator {
    pub(super) set: Arc<Correlations>,
    pub(super) limits: Limits,
    /// One per correlation, in the order of `set.list`.
    pub(super) states: Vec<State>,
}

impl Correlator {
    pub fn new(set: Arc<Correlations>, limits: Limits) -> Self {
        let states = set.list.iter().map(|c| State::empty(&c.rule.meta.id)).collect();
        Correlator { set, limits, states }
    }

    /// The correlations it runs.
    pub fn correlations(&self) -> &Arc<Correlations> {
        &self.set
    }

    /// Statistics of correlation `i`.
    pub fn stats(&self, i: usize) -> CorrelationStats {
        self.states[i].stats
    }

    /// Groups open now, per correlation.
    pub fn open_groups(&self, i: usize) -> usize {
        self.states[i].groups.len()
    }

    /// Feeds one contribution; every firing (including those of chained correlations it
    /// causes) is appended to `out`, whether or not the correlation writes alerts.
    pub fn feed(&mut self, c: Contribution, out: &mut Vec<Fired>) {
        let mut queue = vec![c];
        while let Some(c) = queue.pop() {
            if let Some(f) = self.feed_one(c) {
                let compiled = &self.set.list[f.correlation as usize];
                for feed in &compiled.feeds {
                    let outer = &self.set.list[feed.correlation as usize];
                    let step = feed.step as usize;
                    let key: Vec<&str> = outer.keys[step]
                        .iter()
                        .map(|k| match k {
                            From::Inner(i) => f.key.get(*i).map_or("", String::as_str),
                            From::Field(_) => "",
                        })
                        .collect();
                    let value = match outer.value[step] {
                        Some(From::Inner(i)) => f.key.get(i).map(|s| Val::Text(s.as_str().into())),
                        _ => None,
                    };
                    queue.push(Contribution {
                        time: f.time,
                        feed: *feed,
                        key: key.join(&KEY_SEPARATOR.to_string()).into(),
                        value,
                        events: Events::Many(f.events.clone().into()),
                    });
                }
                out.push(f);
            }
        }
    }

    fn feed_one(&mut self, c: Contribution) -> Option<Fired> {
        let ci = c.feed.correlation as usize;
        let comp = &self.set.list[ci];
        let state = &mut self.states[ci];
        state.stats.events += 1;
        let first = *state.first.get_or_insert(c.time);
        let horizon = c.time.saturating_sub(comp.span_ms);
        expire(state, horizon);

        if !state.groups.contains_key(&*c.key) {
            // A later step of an ordered sequence cannot start one.
            if comp.rule.kind == Kind::TemporalOrdered && c.feed.step != 0 {
                return None;
            }
            while state.groups.len() >= self.limits.max_groups.max(1) {
                let Some((_, k)) = state.queue.pop_front() else { break };
                if state.groups.remove(&k).is_some() {
                    state.stats.evicted += 1;
                }
            }
            let key: Arc<str> = Arc::from(&*c.key);
            // Most groups hold one or two events (a mail and its pixel): no spare room.
            let group = Group {
                entries: VecDeque::with_capacity(1),
                ..Group::default()
            };
            state.groups.insert(Arc::clone(&key), group);
            state.queue.push_back((c.time, key));
            state.stats.peak_groups = state.stats.peak_groups.max(state.groups.len() as u64);
        }
        let group = state.groups.get_mut(&*c.key).expect("inserted above");
        group.newest = c.time;
        while group.entries.front().is_some_and(|e| e.time < horizon) {
            group.entries.pop_front();
        }
        group.fed += 1;
        let entry = Entry {
            seq: group.fed,
            time: c.time,
            step: c.feed.step,
            value: c.value,
            events: c.events,
        };
        match comp.rule.kind {
            Kind::ValueCount => {
                if let Some(i) = group.entries.iter().position(|e| e.value == entry.value) {
                    group.entries.remove(i);
                }
            }
            Kind::Temporal => {
                if let Some(i) = group.entries.iter().position(|e| e.step == entry.step) {
                    group.entries.remove(i);
                }
            }
            _ => {}
        }
        group.entries.push_back(entry);
        while group.entries.len() > comp.keep {
            group.entries.pop_front();
            state.stats.entries_dropped += 1;
        }

        let (holds, aggregate, chain) = evaluate(comp, group);
        let was = std::mem::replace(&mut group.firing, holds);
        let start = chain.as_ref().map(|c| group.entries[c[0]].seq);
        let new_sequence = start.is_some() && start > group.fired_start;
        match comp.rule.firing {
            Firing::First if !holds || (was && !new_sequence) => return None,
            // Only a last step completing a sequence that was completed before: its first
            // completion is remembered (the rule with the default firing reports it), a first
            // step that keeps an old sequence alive is no repeat.
            Firing::Repeats if !holds || new_sequence || usize::from(c.feed.step) + 1 != comp.steps.len() => {
                if new_sequence {
                    group.fired_start = start;
                }
                return None;
            }
            _ => {}
        }
        if start.is_some() {
            group.fired_start = start;
        }
        if comp.needs_history && c.time - first < comp.span_ms {
            state.stats.held_back += 1;
            return None;
        }
        state.stats.fired += 1;
        let who = (ci as u32, &state.id);
        Some(fired(who, c.time, &c.key, aggregate, group, chain, comp))
    }
}

/// Removes the groups whose newest event is older than `horizon`; checks the oldest queued
/// groups only, so the cost per event stays constant.
fn expire(state: &mut State, horizon: i64) {
    while let Some((t, _)) = state.queue.front() {
        if *t >= horizon {
            break;
        }
        let (_, key) = state.queue.pop_front().expect("front exists");
        match state.groups.get(&key) {
            Some(g) if g.newest < horizon => {
                state.groups.remove(&key);
                state.stats.expired += 1;
            }
            // Fed since it was queued: queue it again at its newest event.
            Some(g) => state.queue.push_back((g.newest, key)),
            None => {}
        }
    }
}

/// Whether the condition holds, the aggregate it tested, and (temporal_ordered) the indexes of
/// the entries that form the sequence.
fn evaluate(comp: &Compiled, group: &Group) -> (bool, f64, Option<Vec<usize>>) {
    let e = &group.entries;
    let cond = comp.rule.condition.as_ref();
    match comp.rule.kind {
        Kind::EventCount | Kind::ValueCount => {
            let n = e.len() as f64;
            (cond.is_some_and(|c| c.holds(n)), n, None)
        }
        Kind::ValueSum | Kind::ValueAvg => {
            let sum: f64 = e
                .iter()
                .map(|x| match x.value {
                    Some(Val::Num(n)) => n,
                    _ => 0.0,
                })
                .sum();
            let agg = if comp.rule.kind == Kind::ValueSum {
                sum
            } else {
                sum / e.len().max(1) as f64
            };
            (cond.is_some_and(|c| c.holds(agg)), agg, None)
        }
        Kind::Temporal => {
            let n = e.len() as f64;
            let holds = match cond {
                Some(c) => c.holds(n),
                None => e.len() == comp.steps.len(),
            };
            (holds, n, None)
        }
        Kind::TemporalOrdered => {
            // Backwards from the newest entry of the last step: for each earlier step, the
            // newest entry not after the one chosen for the step after it. Choosing the newest
            // keeps the sequence's start as late as possible, so if any sequence fits in the
            // window, this one does (the window already holds only entries in the timespan).
            let last = comp.steps.len() as u16 - 1;
            let Some(mut at) = e.iter().rposition(|x| x.step == last) else {
                return (false, 0.0, None);
            };
            let mut chain = vec![at];
            for step in (0..last).rev() {
                let bound = e[at].time;
                match e.iter().take(at).rposition(|x| x.step == step && x.time <= bound) {
                    Some(i) => {
                        at = i;
                        chain.push(i);
                    }
                    None => return (false, 0.0, None),
                }
            }
            chain.reverse();
            (true, comp.steps.len() as f64, Some(chain))
        }
    }
}

/// The firing of correlation `who` (index and id) for `group`.
fn fired(
    (correlation, id): (u32, &Arc<str>),
    time: i64,
    key: &str,
    aggregate: f64,
    group: &Group,
    chain: Option<Vec<usize>>,
    comp: &Compiled,
) -> Fired {
    let picked: Vec<&Entry> = match &chain {
        Some(idx) => idx.iter().map(|&i| &group.entries[i]).collect(),
        None => group.entries.iter().collect(),
    };
    let mut events: Vec<Arc<Evidence>> = Vec::new();
    let mut total = 0;
    for entry in &picked {
        for ev in entry.events.iter() {
            if events.iter().any(|e| Arc::ptr_eq(e, ev)) {
                continue;
            }
            total += 1;
            if events.len() < MAX_EVIDENCE {
                events.push(Arc::clone(ev));
            }
        }
    }
    let values = if comp.rule.kind == Kind::ValueCount {
        picked
            .iter()
            .filter_map(|e| match &e.value {
                Some(Val::Text(t)) => Some(t.to_string()),
                Some(Val::Num(n)) => Some(n.to_string()),
                None => None,
            })
            .take(MAX_EVIDENCE)
            .collect()
    } else {
        Vec::new()
    };
    let key = if comp.group_names.is_empty() {
        Vec::new()
    } else {
        key.split(KEY_SEPARATOR).map(str::to_owned).collect()
    };
    Fired {
        correlation,
        id: Arc::clone(id),
        time,
        key,
        aggregate,
        values,
        first: picked.first().map_or(time, |e| e.time),
        last: picked.last().map_or(time, |e| e.time),
        events_omitted: total - events.len(),
        events,
    }
}
