//! Correlation over time: Sigma correlation rules (event_count, value_count, temporal,
//! temporal_ordered, value_sum, value_avg; chaining, aliases, `generate`) run on event time.
//!
//! The stages, in the order data flows through them:
//! - [`rule`] reads a correlation document; [`compile`] resolves it against the loaded
//!   detection rules ([`Correlations`]): references, aliases, group-by fields, chains, and which
//!   detection rules alert on their own;
//! - on the scan threads, an event that matched a referenced rule becomes [`Contribution`]s
//!   ([`Correlations::contribute`]): its time, group key(s), value, and the [`Evidence`] an
//!   alert will show;
//! - [`merge`] puts the contributions of all sources into event-time order, with an allowed
//!   lateness;
//! - [`state`] slides each group's window and fires ([`Correlator::feed`]);
//! - [`alert`] writes a firing as one JSON line.
//!
//! The merge and the correlator run as one [`Stage`] ([`stage`]) that every mode drives the same
//! way: push contributions per source, advance a watermark, finish. Its state (de)serializes
//! ([`snapshot`]), keyed by correlation rule id, to outlive a restart or a reload of the rules.
//! The correlation side never sees an `Event`, a file or a batch unit: only contributions and
//! times.

pub mod alert;
pub mod compile;
pub mod contribution;
pub mod merge;
pub mod snapshot;
pub mod stage;
pub mod state;

pub use compile::Correlations;
pub use contribution::{ContributeStats, Contribution, Evidence};
pub use merge::{MergeStats, SourceId, TimeMerge};
pub use snapshot::{Discard, RestoreReport, Snapshot, SnapshotError, StateCount};
pub use stage::Stage;
pub use state::{CorrelationStats, Correlator, Fired, Limits};

#[cfg(test)]
mod tests;
