//! The correlation stage's state as data: what [`Stage::snapshot`](super::Stage::snapshot) takes and [`Stage::restore`](super::Stage::restore)
//! continues from, so that open groups outlive a restart (written to the daemon's state
//! directory) and a reload of the rules (in memory).
//!
//! The format is JSON through serde_json, versioned ([`SNAPSHOT_VERSION`]); a snapshot of
//! another version is an error that says so, never a guess:
//!
//! ```text
//! {"version": 1,
//!  "evidence": [<an evidence as alerts show it>, ...],     each once; referred to by index
//!  "merge": {"released": ms, "newest": [[source, ms], ...], "stats": {...}, "last_late": [ms, text]},
//!  "correlations": [{"id", "shape": {...}, "first": ms, "stats": {...},
//!                    "groups": [{"key", "queued", "newest", "fed", "firing", "fired_start",
//!                                "entries": [{"seq", "time", "step", "value", "events"}]}],
//!                    "held": [{"time", "step", "key", "value", "events"}]}]}
//! ```
//!
//! `events` is an evidence index, or a list of them (a chained correlation's firing); evidence
//! shared by several entries is written once and shared again when read, which alerts rely on
//! (an event is listed once per alert). An evidence's rule is written as alerts show it (id and
//! title) and linked on restore to the loaded detection rule with that id; a rule no longer
//! loaded keeps the id and title written. A value is `{"text": ...}` or `{"num": "41.5"}` (a
//! number as text: JSON numbers do not come back bit for bit through serde_json's default
//! parser). Groups are written in the order they queue for expiry and eviction, and
//! contributions still held in the merge are written with their correlation, in release order.
//!
//! **What survives a reload.** State belongs to a correlation's rule id. It is kept whole — open
//! groups, first event time, counts, held contributions — when a correlation with that id is
//! still loaded with the same *shape*: the same type, the same referenced rules in the same
//! order (so the same steps), the same group-by names, the same timespan, and group-by and
//! condition fields that resolve to the same fields (aliases and chained correlations included).
//! Anything else changes what the kept entries mean, so the state is discarded whole and the
//! [`RestoreReport`] says which correlation lost how many groups and why. The condition's
//! constants, level, title and the rest may change: a group keeps what the old condition needed
//! (at most [`super::compile::Compiled::keep`] entries), so a raised threshold counts from what was
//! kept. More open groups than the new `max_groups` are evicted (and counted) as new ones open.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

use super::compile::{Compiled, Correlations, Feed, From};
use super::contribution::{Contribution, Events, Evidence, EvidenceRule, Val, evidence_list};
use super::merge::{Held, MergeStats, SourceId, TimeMerge};
use super::state::{CorrelationStats, Correlator, Entry, Group, Limits, State};

/// The snapshot format this build writes and reads.
pub const SNAPSHOT_VERSION: u64 = 1;

/// See the module documentation. Serialize it with serde_json; read it with
/// [`Snapshot::from_json`] (or serde_json directly).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// Written first, so that serde meets it before any field whose layout may have changed.
    #[serde(deserialize_with = "known_version")]
    version: u64,
    #[serde(serialize_with = "evidence_list", deserialize_with = "evidence_read")]
    evidence: Vec<Arc<Evidence>>,
    merge: MergeSnap,
    correlations: Vec<CorrelationSnap>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MergeSnap {
    released: i64,
    /// Per source, its newest event time (sorted by source).
    newest: Vec<(SourceId, i64)>,
    stats: MergeStats,
    last_late: Option<(i64, String)>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CorrelationSnap {
    id: String,
    shape: Shape,
    first: Option<i64>,
    stats: CorrelationStats,
    /// In the order they queue for expiry and eviction.
    groups: Vec<GroupSnap>,
    /// Its contributions still in the merge, in release order.
    held: Vec<HeldSnap>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupSnap {
    key: String,
    /// The time it is queued at for expiry (its newest event when it was queued).
    queued: i64,
    newest: i64,
    fed: u64,
    firing: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    fired_start: Option<u64>,
    entries: Vec<EntrySnap>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntrySnap {
    seq: u64,
    time: i64,
    step: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<Val>,
    events: EventsSnap,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeldSnap {
    time: i64,
    step: u16,
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<Val>,
    events: EventsSnap,
}

/// [`Events`] as indexes into the snapshot's evidence.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum EventsSnap {
    One(u32),
    Many(Vec<u32>),
}

/// What a correlation's kept state depends on (see the module documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Shape {
    kind: String,
    rules: Vec<String>,
    group_by: Vec<String>,
    /// As written, for reports; compared in milliseconds.
    timespan: String,
    timespan_ms: i64,
    /// Per step, where each group-by value comes from: a field's name, or `#i` for position
    /// `i` of a chained correlation's group.
    keys: Vec<Vec<String>>,
    /// Per step, where the condition's field comes from.
    values: Vec<Option<String>>,
}

impl Shape {
    fn of(c: &Compiled) -> Shape {
        let from = |f: &From| match f {
            From::Field(f) => f.name().to_owned(),
            From::Inner(i) => format!("#{i}"),
        };
        Shape {
            kind: c.rule.kind.name().to_owned(),
            rules: c.rule.rules.clone(),
            group_by: c.group_names.clone(),
            timespan: c.rule.timespan_text.clone(),
            timespan_ms: c.span_ms,
            keys: c.keys.iter().map(|k| k.iter().map(from).collect()).collect(),
            values: c.value.iter().map(|v| v.as_ref().map(from)).collect(),
        }
    }

    /// Why state kept under this shape cannot continue under `now`; `None` when it can.
    fn change(&self, now: &Shape) -> Option<String> {
        let list = |v: &[String]| format!("[{}]", v.join(", "));
        if self.kind != now.kind {
            Some(format!("its type changed from {} to {}", self.kind, now.kind))
        } else if self.rules != now.rules {
            Some(format!(
                "its rules changed from {} to {}",
                list(&self.rules),
                list(&now.rules)
            ))
        } else if self.group_by != now.group_by {
            Some(format!(
                "its group-by changed from {} to {}",
                list(&self.group_by),
                list(&now.group_by)
            ))
        } else if self.timespan_ms != now.timespan_ms {
            Some(format!(
                "its timespan changed from {} to {}",
                self.timespan, now.timespan
            ))
        } else if self.keys != now.keys || self.values != now.values {
            Some(
                "its group-by or condition field now reads other fields (an alias or a chained correlation changed)"
                    .into(),
            )
        } else {
            None
        }
    }
}

/// Why a restore could not use a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(
        "correlation state snapshot version {found} is not one this reconwatch reads (it reads version {SNAPSHOT_VERSION})"
    )]
    Version { found: u64 },
    #[error("correlation state snapshot: {0}")]
    Json(#[from] serde_json::Error),
    /// Well-formed JSON whose parts do not fit together (a hand-edited or damaged file).
    #[error("correlation state snapshot: correlation `{id}`: {reason}")]
    Inconsistent { id: String, reason: String },
}

fn known_version<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let found = u64::deserialize(d)?;
    if found != SNAPSHOT_VERSION {
        return Err(D::Error::custom(SnapshotError::Version { found }));
    }
    Ok(found)
}

fn evidence_read<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Arc<Evidence>>, D::Error> {
    Ok(Vec::<Evidence>::deserialize(d)?.into_iter().map(Arc::new).collect())
}

impl Snapshot {
    /// Reads a snapshot written as JSON; a snapshot of another version is
    /// [`SnapshotError::Version`], wherever its `version` key stands.
    pub fn from_json(text: &str) -> Result<Snapshot, SnapshotError> {
        #[derive(Deserialize)]
        struct Probe {
            version: u64,
        }
        let Probe { version } = serde_json::from_str(text)?;
        if version != SNAPSHOT_VERSION {
            return Err(SnapshotError::Version { found: version });
        }
        Ok(serde_json::from_str(text)?)
    }

    /// Open groups in the snapshot, over every correlation.
    pub fn open_groups(&self) -> usize {
        self.correlations.iter().map(|c| c.groups.len()).sum()
    }

    /// Contributions held in the merge, over every correlation.
    pub fn held(&self) -> usize {
        self.correlations.iter().map(|c| c.held.len()).sum()
    }
}

/// How much state one correlation had in the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateCount {
    /// The correlation's rule id.
    pub id: String,
    pub groups: usize,
    /// Its contributions held in the merge.
    pub held: usize,
}

/// Why a correlation's state was discarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discard {
    /// No loaded correlation has its id.
    Removed,
    /// The correlation with its id has another shape; says what changed.
    Changed(String),
    /// The snapshot holds its id twice (the first was used).
    Duplicate,
}

impl fmt::Display for Discard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Discard::Removed => f.write_str("it is no longer loaded"),
            Discard::Changed(what) => f.write_str(what),
            Discard::Duplicate => f.write_str("the snapshot holds its id twice"),
        }
    }
}

/// What a restore kept and discarded, per correlation (a SOC engineer must be told when a
/// reload dropped open groups: their alerts can no longer fire).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Correlations whose state continues.
    pub kept: Vec<StateCount>,
    /// Correlations whose state was dropped, with the reason; their held contributions are
    /// not correlated.
    pub discarded: Vec<(StateCount, Discard)>,
    /// Loaded correlations the snapshot had no state for (they start empty).
    pub new: Vec<String>,
}

impl RestoreReport {
    /// Open groups discarded.
    pub fn groups_discarded(&self) -> usize {
        self.discarded.iter().map(|(c, _)| c.groups).sum()
    }

    /// Held contributions ignored because their correlation's state was discarded.
    pub fn held_ignored(&self) -> usize {
        self.discarded.iter().map(|(c, _)| c.held).sum()
    }
}

/// One line per discarded correlation.
impl fmt::Display for RestoreReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (c, why) in &self.discarded {
            writeln!(
                f,
                "correlation {}: {} open groups and {} held contributions discarded: {why}",
                c.id, c.groups, c.held
            )?;
        }
        Ok(())
    }
}

/// Evidence written once, by the address of its shared allocation.
#[derive(Default)]
struct EvidenceTable {
    index: HashMap<*const Evidence, u32>,
    list: Vec<Arc<Evidence>>,
}

impl EvidenceTable {
    fn add(&mut self, events: &Events) -> EventsSnap {
        match events {
            Events::One(e) => EventsSnap::One(self.index_of(e)),
            Events::Many(m) => EventsSnap::Many(m.iter().map(|e| self.index_of(e)).collect()),
        }
    }

    fn index_of(&mut self, e: &Arc<Evidence>) -> u32 {
        *self.index.entry(Arc::as_ptr(e)).or_insert_with(|| {
            self.list.push(Arc::clone(e));
            (self.list.len() - 1) as u32
        })
    }
}

/// The snapshot of a stage's merge and correlator.
pub(super) fn save(merge: &TimeMerge, correlator: &Correlator) -> Snapshot {
    let mut table = EvidenceTable::default();
    let mut held: Vec<Vec<HeldSnap>> = correlator.states.iter().map(|_| Vec::new()).collect();
    let mut in_order: Vec<&Contribution> = merge.heap.iter().map(|h| &h.0).collect();
    in_order.sort_by(|a, b| a.order(b));
    for c in in_order {
        held[c.feed.correlation as usize].push(HeldSnap {
            time: c.time,
            step: c.feed.step,
            key: c.key.to_string(),
            value: c.value.clone(),
            events: table.add(&c.events),
        });
    }
    let correlations = correlator
        .states
        .iter()
        .zip(&correlator.set.list)
        .zip(held)
        .map(|((state, comp), held)| CorrelationSnap {
            id: state.id.to_string(),
            shape: Shape::of(comp),
            first: state.first,
            stats: state.stats,
            groups: save_groups(state, &mut table),
            held,
        })
        .collect();
    let mut newest: Vec<(SourceId, i64)> = merge.newest.iter().map(|(&s, &t)| (s, t)).collect();
    newest.sort_unstable();
    Snapshot {
        version: SNAPSHOT_VERSION,
        evidence: table.list,
        merge: MergeSnap {
            released: merge.released,
            newest,
            stats: merge.stats,
            last_late: merge.last_late.clone(),
        },
        correlations,
    }
}

/// The open groups in the order the expiry queue holds them (each open group is queued once).
fn save_groups(state: &State, table: &mut EvidenceTable) -> Vec<GroupSnap> {
    let mut written: HashSet<&str> = HashSet::with_capacity(state.groups.len());
    let queued = state.queue.iter().map(|(t, k)| (*t, k));
    // A group the queue missed would still be written, queued at its newest event.
    let missed = state.groups.iter().map(|(k, g)| (g.newest, k));
    let mut out = Vec::with_capacity(state.groups.len());
    for (queued, key) in queued.chain(missed) {
        let Some(g) = state.groups.get(key) else { continue };
        if !written.insert(key) {
            continue;
        }
        out.push(GroupSnap {
            key: key.to_string(),
            queued,
            newest: g.newest,
            fed: g.fed,
            firing: g.firing,
            fired_start: g.fired_start,
            entries: g
                .entries
                .iter()
                .map(|e| EntrySnap {
                    seq: e.seq,
                    time: e.time,
                    step: e.step,
                    value: e.value.clone(),
                    events: table.add(&e.events),
                })
                .collect(),
        });
    }
    out
}

pub(super) fn load(
    set: Arc<Correlations>,
    snapshot: Snapshot,
    limits: Limits,
    lateness_ms: i64,
) -> Result<(TimeMerge, Correlator, RestoreReport), SnapshotError> {
    let evidence = relink(snapshot.evidence, &set);
    let mut report = RestoreReport::default();
    let mut merge = TimeMerge::new(lateness_ms);
    merge.released = snapshot.merge.released;
    merge.newest = snapshot.merge.newest.into_iter().collect();
    merge.stats = snapshot.merge.stats;
    merge.last_late = snapshot.merge.last_late;
    let mut states: Vec<Option<State>> = set.list.iter().map(|_| None).collect();
    // Loaded correlations the snapshot has state for, kept or not.
    let mut known = vec![false; set.list.len()];
    for c in snapshot.correlations {
        let count = StateCount {
            id: c.id.clone(),
            groups: c.groups.len(),
            held: c.held.len(),
        };
        let Some(i) = set.find(&c.id) else {
            report.discarded.push((count, Discard::Removed));
            continue;
        };
        if std::mem::replace(&mut known[i as usize], true) {
            report.discarded.push((count, Discard::Duplicate));
            continue;
        }
        let comp = &set.list[i as usize];
        if let Some(what) = c.shape.change(&Shape::of(comp)) {
            report.discarded.push((count, Discard::Changed(what)));
            continue;
        }
        let read = Reader {
            id: &c.id,
            steps: comp.steps.len(),
            evidence: &evidence,
        };
        for h in c.held {
            merge.heap.push(Held(Contribution {
                time: h.time,
                feed: Feed {
                    correlation: i,
                    step: read.step(h.step)?,
                },
                key: h.key.into(),
                value: h.value,
                events: read.events(&h.events)?,
            }));
        }
        states[i as usize] = Some(State {
            id: c.id.as_str().into(),
            first: c.first,
            stats: c.stats,
            ..read.groups(c.groups)?
        });
        report.kept.push(count);
    }
    for (comp, _) in set.list.iter().zip(known).filter(|(_, known)| !known) {
        report.new.push(comp.rule.meta.id.clone());
    }
    let states = states
        .into_iter()
        .zip(&set.list)
        .map(|(s, comp)| s.unwrap_or_else(|| State::empty(&comp.rule.meta.id)))
        .collect();
    Ok((merge, Correlator { set, limits, states }, report))
}

/// Links each evidence's rule to the loaded detection rule with its id; a rule no longer
/// loaded is kept as written, one shared copy per id.
fn relink(evidence: Vec<Arc<Evidence>>, set: &Correlations) -> Vec<Arc<Evidence>> {
    let mut rules: HashMap<String, Arc<EvidenceRule>> =
        set.rule_names.iter().map(|r| (r.id.clone(), Arc::clone(r))).collect();
    evidence
        .into_iter()
        .map(|mut e| {
            let linked = match rules.get(&e.rule.id) {
                Some(r) => Arc::clone(r),
                None => {
                    rules.insert(e.rule.id.clone(), Arc::clone(&e.rule));
                    Arc::clone(&e.rule)
                }
            };
            if !Arc::ptr_eq(&e.rule, &linked) {
                Arc::make_mut(&mut e).rule = linked;
            }
            e
        })
        .collect()
}

/// Reads one kept correlation's parts, checking that they fit together.
struct Reader<'a> {
    id: &'a str,
    steps: usize,
    evidence: &'a [Arc<Evidence>],
}

impl Reader<'_> {
    fn inconsistent(&self, reason: String) -> SnapshotError {
        SnapshotError::Inconsistent {
            id: self.id.to_owned(),
            reason,
        }
    }

    fn step(&self, step: u16) -> Result<u16, SnapshotError> {
        if usize::from(step) < self.steps {
            Ok(step)
        } else {
            Err(self.inconsistent(format!("step {step} of {} steps", self.steps)))
        }
    }

    fn one(&self, i: u32) -> Result<Arc<Evidence>, SnapshotError> {
        self.evidence
            .get(i as usize)
            .map(Arc::clone)
            .ok_or_else(|| self.inconsistent(format!("evidence {i} of {}", self.evidence.len())))
    }

    fn events(&self, e: &EventsSnap) -> Result<Events, SnapshotError> {
        Ok(match e {
            EventsSnap::One(i) => Events::One(self.one(*i)?),
            EventsSnap::Many(m) => Events::Many(m.iter().map(|&i| self.one(i)).collect::<Result<_, _>>()?),
        })
    }

    /// The groups and their expiry queue, in the written order.
    fn groups(&self, groups: Vec<GroupSnap>) -> Result<State, SnapshotError> {
        let mut state = State::empty(self.id);
        state.groups.reserve(groups.len());
        for g in groups {
            let entries = g
                .entries
                .into_iter()
                .map(|e| {
                    Ok(Entry {
                        seq: e.seq,
                        time: e.time,
                        step: self.step(e.step)?,
                        value: e.value,
                        events: self.events(&e.events)?,
                    })
                })
                .collect::<Result<_, SnapshotError>>()?;
            let key: Arc<str> = g.key.into();
            let group = Group {
                entries,
                firing: g.firing,
                newest: g.newest,
                fed: g.fed,
                fired_start: g.fired_start,
            };
            if state.groups.insert(Arc::clone(&key), group).is_some() {
                return Err(self.inconsistent(format!("the group `{key}` is written twice")));
            }
            state.queue.push_back((g.queued, key));
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests;
