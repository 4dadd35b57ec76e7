//! The time-ordered merge: contributions from many sources (the inputs of a batch scan and the
//! chunks of a split file, tailed files, listeners) arrive source by source; the correlator must
//! see them in event-time order across all sources.
//!
//! [`TimeMerge`] holds contributions in a heap until the caller says no earlier event can still
//! come (a *watermark*), then releases them in order of (time, event text, ...), so that ties never
//! depend on which file or thread an event came from. Lines are often mildly out of order (a
//! rotated file's last lines, a message assembled from lines spread over minutes): within a
//! source, an event may be up to the *allowed lateness* older than the newest event before it.
//! One older than that — or older than what has already been released — is *late*: it is not
//! correlated (its single-event alerts are unaffected), and it is counted, so the user can rerun
//! with a larger `--lateness`.
//!
//! Which watermark is safe is the caller's policy: the batch scan processes inputs in the order
//! of their first event times (`batch::BatchConfig::time_order`) and, after each unit, releases
//! up to the earliest time a later input or chunk could still bring, minus the lateness. A day
//! scanned as one file or as 24 hourly files, in any argument order, is therefore correlated
//! identically.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use serde::{Deserialize, Serialize};

use super::contribution::Contribution;

/// Who a contribution came from: an id the caller gives each input, chunk owner, tailed file
/// or listener. The merge keeps each source's newest event time to tell a late event; a caller
/// that restores a snapshot gives each source the id it had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SourceId(pub u64);

/// What the merge counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeStats {
    /// Contributions dropped as late.
    pub late: u64,
    /// Events dropped as late (one event may contribute to several correlations).
    pub late_events: u64,
    /// The most contributions held at once.
    pub peak_held: usize,
}

pub(super) struct Held(pub(super) Contribution);

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    /// Reversed: the heap's top is the earliest.
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.order(&self.0)
    }
}

/// See the module documentation.
pub struct TimeMerge {
    lateness_ms: i64,
    pub(super) heap: BinaryHeap<Held>,
    /// Per source: the newest event time seen.
    pub(super) newest: HashMap<SourceId, i64>,
    /// Everything before this has been released.
    pub(super) released: i64,
    pub stats: MergeStats,
    /// The time and text of the last late event (its other contributions follow it).
    pub(super) last_late: Option<(i64, String)>,
}

impl TimeMerge {
    pub fn new(lateness_ms: i64) -> Self {
        TimeMerge {
            lateness_ms: lateness_ms.max(0),
            heap: BinaryHeap::new(),
            newest: HashMap::new(),
            released: i64::MIN,
            stats: MergeStats::default(),
            last_late: None,
        }
    }

    /// The allowed lateness in milliseconds.
    pub fn lateness_ms(&self) -> i64 {
        self.lateness_ms
    }

    /// Takes one contribution of `source`, in the source's line order. Returns false (and counts
    /// it) when it is late.
    pub fn push(&mut self, source: SourceId, c: Contribution) -> bool {
        let time = c.time;
        let newest = self.newest.entry(source).or_insert(time);
        let late = time < newest.saturating_sub(self.lateness_ms) || time < self.released;
        *newest = (*newest).max(time);
        if late {
            self.stats.late += 1;
            let tie = c.events.tie();
            if self
                .last_late
                .as_ref()
                .is_none_or(|(t, text)| *t != time || text != tie)
            {
                self.stats.late_events += 1;
                self.last_late = Some((time, tie.to_owned()));
            }
        } else {
            self.heap.push(Held(c));
            self.stats.peak_held = self.stats.peak_held.max(self.heap.len());
        }
        !late
    }

    /// The newest event time seen from `source`.
    pub fn newest(&self, source: SourceId) -> Option<i64> {
        self.newest.get(&source).copied()
    }

    /// Forgets `source`'s newest event time (it has ended: a tailed file removed, a listener
    /// closed), so that the marks of sources long gone do not pile up.
    pub fn forget(&mut self, source: SourceId) {
        self.newest.remove(&source);
    }

    /// Releases, in order, every contribution earlier than `watermark - lateness` (`None`:
    /// everything, at the end of a run).
    pub fn release(&mut self, watermark: Option<i64>, mut f: impl FnMut(Contribution)) {
        let limit = watermark.map_or(i64::MAX, |w| w.saturating_sub(self.lateness_ms));
        while let Some(top) = self.heap.peek() {
            if watermark.is_some() && top.0.time >= limit {
                break;
            }
            let Held(c) = self.heap.pop().expect("peeked");
            self.released = self.released.max(c.time);
            f(c);
        }
        if watermark.is_some() {
            self.released = self.released.max(limit);
        }
    }

    /// Contributions held.
    pub fn held(&self) -> usize {
        self.heap.len()
    }
}
