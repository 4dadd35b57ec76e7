//! The time-ordered merge: contributions from many inputs (and the chunks of a split file)
//! arrive input by input; the correlator must see them in event-time order across all inputs.
//!
//! [`TimeMerge`] holds contributions in a heap until the caller says no earlier event can still
//! come (a *watermark*), then releases them in order of (time, event text, ...), so that ties never
//! depend on which file or thread an event came from. Lines are often mildly out of order (a
//! rotated file's last lines, a message assembled from lines spread over minutes): within an
//! input, an event may be up to the *allowed lateness* older than the newest event before it.
//! One older than that — or older than what has already been released — is *late*: it is not
//! correlated (its single-event alerts are unaffected), and it is counted, so the user can rerun
//! with a larger `--lateness`.
//!
//! The batch scan processes inputs in the order of their first event times
//! (`batch::BatchConfig::time_order`); after each unit it releases up to the earliest time a
//! later input or chunk could still bring, minus the lateness. A day scanned as one file or as 24
//! hourly files, in any argument order, is therefore correlated identically.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use super::contribution::Contribution;

struct Held(Contribution);

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
    heap: BinaryHeap<Held>,
    /// Per input: the newest event time seen.
    newest: HashMap<usize, i64>,
    /// Everything before this has been released.
    released: i64,
    /// Contributions dropped as late.
    pub late: u64,
    /// Events dropped as late (one event may contribute to several correlations).
    pub late_events: u64,
    /// The time and text of the last late event (its other contributions follow it).
    last_late: Option<(i64, String)>,
    /// The most contributions held at once.
    pub peak_held: usize,
}

impl TimeMerge {
    pub fn new(lateness_ms: i64) -> Self {
        TimeMerge {
            lateness_ms: lateness_ms.max(0),
            heap: BinaryHeap::new(),
            newest: HashMap::new(),
            released: i64::MIN,
            late: 0,
            late_events: 0,
            last_late: None,
            peak_held: 0,
        }
    }

    /// The allowed lateness in milliseconds.
    pub fn lateness_ms(&self) -> i64 {
        self.lateness_ms
    }

    /// Takes one contribution of `input`, in the input's line order. Returns false (and counts
    /// it) when it is late.
    pub fn push(&mut self, input: usize, c: Contribution) -> bool {
        let time = c.time;
        let newest = self.newest.entry(input).or_insert(time);
        let late = time < newest.saturating_sub(self.lateness_ms) || time < self.released;
        *newest = (*newest).max(time);
        if late {
            self.late += 1;
            let tie = c.events.tie();
            if self
                .last_late
                .as_ref()
                .is_none_or(|(t, text)| *t != time || text != tie)
            {
                self.late_events += 1;
                self.last_late = Some((time, tie.to_owned()));
            }
        } else {
            self.heap.push(Held(c));
            self.peak_held = self.peak_held.max(self.heap.len());
        }
        !late
    }

    /// The newest event time seen in `input`.
    pub fn newest(&self, input: usize) -> Option<i64> {
        self.newest.get(&input).copied()
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
