//! Correlation as one self-contained stage: the time-ordered merge and the correlator behind a
//! push interface that a batch scan, a daemon tailing files or listening for syslog, and a
//! broker worker all drive the same way.
//!
//! A caller pushes each source's contributions in the source's line order ([`Stage::push`]),
//! says how far event time has safely progressed ([`Stage::advance`]: no event earlier than the
//! watermark can still come from any source) and, at the end of a batch run, releases the rest
//! ([`Stage::finish`]). Which watermark is safe is the caller's policy (the batch scan's is in
//! `commands::scan`); the stage never learns how its input was cut, so it knows nothing of batch
//! units, files or sockets.
//!
//! Its state outlives a process or a rule reload through [`Stage::snapshot`] and
//! [`Stage::restore`] ([`super::snapshot`]).

use std::sync::Arc;

use super::compile::Correlations;
use super::contribution::Contribution;
use super::merge::{MergeStats, SourceId, TimeMerge};
use super::snapshot::{self, RestoreReport, Snapshot, SnapshotError};
use super::state::{CorrelationStats, Correlator, Fired, Limits};

/// See the module documentation.
pub struct Stage {
    pub(super) merge: TimeMerge,
    /// Owns the loaded correlations (an `Arc`, shared with the scan threads).
    pub(super) correlator: Correlator,
}

impl Stage {
    /// A stage that has seen nothing; `lateness_ms` is how far behind its source's newest event
    /// an event may be and still be correlated.
    pub fn new(set: Arc<Correlations>, limits: Limits, lateness_ms: i64) -> Stage {
        Stage {
            merge: TimeMerge::new(lateness_ms),
            correlator: Correlator::new(set, limits),
        }
    }

    /// The correlations it runs (a [`Fired::correlation`] indexes their `list`).
    pub fn correlations(&self) -> &Arc<Correlations> {
        self.correlator.correlations()
    }

    /// The allowed lateness in milliseconds.
    pub fn lateness_ms(&self) -> i64 {
        self.merge.lateness_ms()
    }

    /// Takes one contribution of `source`, in the source's line order. Returns false when it is
    /// late (counted in [`MergeStats`]; it is not correlated).
    pub fn push(&mut self, source: SourceId, c: Contribution) -> bool {
        self.merge.push(source, c)
    }

    /// The newest event time pushed from `source`.
    pub fn newest(&self, source: SourceId) -> Option<i64> {
        self.merge.newest(source)
    }

    /// Forgets an ended source's newest event time (see [`TimeMerge::forget`]).
    pub fn forget(&mut self, source: SourceId) {
        self.merge.forget(source);
    }

    /// No event earlier than `watermark_ms` can still come from any source: correlates what is
    /// held up to the watermark minus the lateness, and appends the firings to `out`.
    pub fn advance(&mut self, watermark_ms: i64, out: &mut Vec<Fired>) {
        self.release(Some(watermark_ms), out);
    }

    /// Correlates everything held (the end of a batch run) and appends the firings to `out`.
    pub fn finish(&mut self, out: &mut Vec<Fired>) {
        self.release(None, out);
    }

    fn release(&mut self, watermark: Option<i64>, out: &mut Vec<Fired>) {
        let correlator = &mut self.correlator;
        self.merge.release(watermark, |c| correlator.feed(c, out));
    }

    /// What the merge counted: late contributions and events, the most held at once.
    pub fn merge_stats(&self) -> MergeStats {
        self.merge.stats
    }

    /// Contributions held in the merge, waiting for the watermark.
    pub fn held(&self) -> usize {
        self.merge.held()
    }

    /// The counts of correlation `i` (an index into [`Stage::correlations`]).
    pub fn stats(&self, i: usize) -> CorrelationStats {
        self.correlator.stats(i)
    }

    /// The groups correlation `i` has open now.
    pub fn open_groups(&self, i: usize) -> usize {
        self.correlator.open_groups(i)
    }

    /// Everything the stage holds, in a form that (de)serializes: open groups, the held
    /// contributions, per-source marks and counts. Evidence is shared with the live state,
    /// not copied.
    pub fn snapshot(&self) -> Snapshot {
        snapshot::save(&self.merge, &self.correlator)
    }

    /// A stage running `set` that continues from `snapshot`: the state of each correlation
    /// still loaded with a compatible shape is kept, the rest is dropped and reported. An
    /// inconsistent snapshot (an evidence or step out of range, a key twice) is an error.
    pub fn restore(
        set: Arc<Correlations>,
        snapshot: Snapshot,
        limits: Limits,
        lateness_ms: i64,
    ) -> Result<(Stage, RestoreReport), SnapshotError> {
        let (merge, correlator, report) = snapshot::load(set, snapshot, limits, lateness_ms)?;
        Ok((Stage { merge, correlator }, report))
    }
}
