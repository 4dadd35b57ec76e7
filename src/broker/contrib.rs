//! Correlation contributions between workers: which partition runs a correlation group, and
//! the message that carries a line partition's contributions and progress to it.
//!
//! Lines are parsed wherever they were routed; a contribution (time, group key, value,
//! evidence) goes to the partition of its *group*, so that every event of one group meets in
//! one [`crate::detect::Correlating`] whatever worker parsed it ([`ContribRoute`]):
//! - a correlation that neither feeds nor is fed by another: fnv1a of its rule id and the
//!   group key (the pixel join by URL key, the fan-outs by sender domain or URL template, the
//!   mail→web joins by person and site, all spread by group);
//! - correlations chained together (`first_seen_domain_among_high_risk` → the burst, whose
//!   steps group by different keys): the whole chain on one partition, fnv1a of its smallest
//!   rule id.
//!
//! At every commit each line partition sends every partition one [`Batch`]: the contributions
//! routed there, grouped by event, and its progress ([`Mark`]: watermark, whether its streams
//! have ended, whether lines wait for it) and per stream the checkpoint it last saved (so the
//! receiver can forget the identities of events that will never be sent again). An event's
//! identity is its stream, `log.offset` and a hash of `event.original`: lines replayed after a
//! worker's loss re-emit events already sent, and the receiver drops them by it.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::route::partition_of;
use crate::correlate::compile::{Correlations, Feed, Source};
use crate::correlate::contribution::{Events, Val};
use crate::correlate::{Contribution, Evidence};
use crate::source::feed::fnv1a;

/// Where each correlation's contributions go (see the module documentation).
pub struct ContribRoute {
    /// Per correlation: the fixed hash of its chain, or `None` to route by group key.
    chain: Vec<Option<u64>>,
}

impl ContribRoute {
    pub fn new(set: &Correlations) -> ContribRoute {
        let n = set.list.len();
        let mut parent: Vec<usize> = (0..n).collect();
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        let mut chained = vec![false; n];
        for (i, c) in set.list.iter().enumerate() {
            for s in &c.steps {
                if let Source::Correlation(j) = *s {
                    let (a, b) = (root(&mut parent, i), root(&mut parent, j as usize));
                    parent[a] = b;
                    chained[i] = true;
                    chained[j as usize] = true;
                }
            }
        }
        let mut smallest: HashMap<usize, &str> = HashMap::new();
        for (i, c) in set.list.iter().enumerate() {
            let r = root(&mut parent, i);
            let id = c.rule.meta.id.as_str();
            let e = smallest.entry(r).or_insert(id);
            if id < *e {
                *e = id;
            }
        }
        let chain = (0..n)
            .map(|i| chained[i].then(|| fnv1a(smallest[&root(&mut parent, i)].as_bytes())))
            .collect();
        ContribRoute { chain }
    }

    /// The partition that runs the group `c` contributes to.
    pub fn partition(&self, set: &Correlations, c: &Contribution, partitions: u32) -> u32 {
        let i = c.feed.correlation as usize;
        let hash = match self.chain.get(i).copied().flatten() {
            Some(h) => h,
            None => {
                let id = set.list[i].rule.meta.id.as_bytes();
                let mut bytes = Vec::with_capacity(id.len() + 1 + c.key.len());
                bytes.extend_from_slice(id);
                bytes.push(0x1f);
                bytes.extend_from_slice(c.key.as_bytes());
                fnv1a(&bytes)
            }
        };
        partition_of(hash, partitions)
    }
}

/// A line partition's progress, as the correlation side needs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// No event earlier than this (event time, ms) will come from it; `None`: it cannot say yet.
    pub watermark: Option<i64>,
    /// Every stream it has seen has ended, and no line waits for it: it holds nothing back.
    pub ended: bool,
    /// The newest event time it has seen.
    pub newest: Option<i64>,
}

/// One event's contributions on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireEvent {
    pub stream: String,
    pub offset: u64,
    /// fnv1a of `event.original` (events of one line, such as an API page's records, differ).
    pub hash: u64,
    pub time: i64,
    pub contributions: Vec<WireContribution>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireContribution {
    /// The correlation's rule id (indexes differ between rule sets).
    pub correlation: String,
    pub step: u16,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Val>,
    /// Index into [`Batch::evidence`].
    pub evidence: u32,
}

/// What a line partition sends a correlation partition at a commit.
///
/// A commit's contributions for one partition may take several messages (a message is at most
/// 1 MiB): only the last carries the mark and the floors, so the receiver never moves event
/// time past contributions still on their way.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Batch {
    pub from: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<Mark>,
    /// Per stream: the checkpoint its line partition last saved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub floors: Vec<(String, u64)>,
    pub evidence: Vec<Evidence>,
    pub events: Vec<WireEvent>,
    /// About how many bytes the batch serializes to.
    #[serde(skip)]
    pub size: usize,
}

/// A batch is sent once it reaches about this size (NATS's default message limit is 1 MiB).
pub const BATCH_BYTES: usize = 512 * 1024;

impl Batch {
    /// Adds an event's contributions (all routed to this batch's partition). Each keeps its own
    /// evidence (an event that matched two referenced rules shows each rule in its own);
    /// evidence shared by several is written once.
    pub fn push(&mut self, stream: &str, offset: u64, hash: u64, set: &Correlations, contributions: &[Contribution]) {
        let Some(first) = contributions.first() else { return };
        let mut written: Vec<(*const Evidence, u32)> = Vec::new();
        let mut wire = Vec::with_capacity(contributions.len());
        for c in contributions {
            let Some(e) = c.events.iter().next() else { continue };
            let ptr = Arc::as_ptr(e);
            let index = match written.iter().find(|(p, _)| *p == ptr) {
                Some((_, i)) => *i,
                None => {
                    self.size += serde_json::to_vec(&**e).map_or(1024, |v| v.len());
                    self.evidence.push((**e).clone());
                    let i = (self.evidence.len() - 1) as u32;
                    written.push((ptr, i));
                    i
                }
            };
            self.size += 64 + c.key.len();
            wire.push(WireContribution {
                correlation: set.list[c.feed.correlation as usize].rule.meta.id.clone(),
                step: c.feed.step,
                key: c.key.to_string(),
                value: c.value.clone(),
                evidence: index,
            });
        }
        self.events.push(WireEvent {
            stream: stream.to_owned(),
            offset,
            hash,
            time: first.time,
            contributions: wire,
        });
    }

    /// The contributions of one event, resolved against `set`; `None` for a correlation or
    /// step this rule set does not have (a reload on one side: counted by the caller).
    pub fn contributions(&self, event: &WireEvent, set: &Correlations) -> Result<Vec<Contribution>, String> {
        let mut shared: HashMap<u32, Arc<Evidence>> = HashMap::new();
        event
            .contributions
            .iter()
            .map(|w| {
                let correlation = set
                    .find(&w.correlation)
                    .ok_or_else(|| format!("correlation {} is not loaded here", w.correlation))?;
                if usize::from(w.step) >= set.list[correlation as usize].steps.len() {
                    return Err(format!("correlation {} has no step {}", w.correlation, w.step));
                }
                let evidence = match shared.get(&w.evidence) {
                    Some(e) => Arc::clone(e),
                    None => {
                        let e = Arc::new(
                            self.evidence
                                .get(w.evidence as usize)
                                .ok_or_else(|| format!("evidence {} out of range", w.evidence))?
                                .clone(),
                        );
                        shared.insert(w.evidence, Arc::clone(&e));
                        e
                    }
                };
                Ok(Contribution {
                    time: event.time,
                    feed: Feed {
                        correlation,
                        step: w.step,
                    },
                    key: w.key.as_str().into(),
                    value: w.value.clone(),
                    events: Events::One(evidence),
                })
            })
            .collect()
    }
}
