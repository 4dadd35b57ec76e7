//! One partition on the worker that holds its lease: the same core as `scan` over the lines
//! routed to it (stage 1), and the correlation groups routed to it (stage 2).
//!
//! The broker is behind [`PartitionIo`] (NATS JetStream: `super::nats`; Kafka: `super::kafka`);
//! names below are JetStream's, the Kafka ones are in that module.
//!
//! - **Stage 1** reads `reconwatch.lines.<p>` through the durable consumer `lines-<p>`: per
//!   shipped stream a [`LineStream`] (format and framing from the message headers), one
//!   [`Worker`]; detection alerts go to `reconwatch.alerts`; each event's contributions are
//!   routed by group key ([`ContribRoute`]) into one [`Batch`] per partition, sent at the commit
//!   with this partition's progress ([`Mark`]).
//! - **Stage 2** reads `reconwatch.contrib.<p>` through `contrib-<p>` into one
//!   [`Correlating`]: each (line partition, stream) is a source of its own; its watermark is the
//!   smallest the line partitions report (one whose streams have all ended holds nothing back;
//!   when all have, everything held is correlated); an event already taken (its stream, offset
//!   and text hash) is dropped, so replayed lines never count twice.
//! - **Commit** (every `commit_interval`, and when the partition is handed over): alerts and
//!   contribution batches acknowledged by JetStream → the partition's state saved to the object
//!   store (`partition-<p>`) → line messages below their stream's checkpoint and consumed
//!   contribution messages acked. The state holds the sequences to resume both consumers at,
//!   per stream its checkpoint (the first line of the oldest mail message still being
//!   assembled, or past the last line), the correlation snapshot, the line partitions' marks
//!   and the identities of recent contributions. A new owner re-creates both consumers at the
//!   saved sequences, so the lost worker's unacknowledged lines come back first and in order.
//!
//! Alerts are published with `Nats-Msg-Id` = the first 128 bits of the SHA-256 of the document:
//! the same alert published again after a failover is stored once within the alerts stream's
//! duplicate window.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt as _;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::contrib::{BATCH_BYTES, Batch, ContribRoute, Mark};
use super::lines::{self, StreamHeader};
use super::transport::{BrokerError, Confirmation, Delivery, PartitionIo};
use crate::alert::{Alert, AlertKind};
use crate::correlate::{ContributeStats, Contribution, Snapshot, SourceId};
use crate::detect::{Correlating, Detector, Worker};
use crate::event::Event;
use crate::log;
use crate::metrics::BrokerMetrics;
use crate::pipeline::{Decided, EventSink, LineStream, PipelineConfig};
use crate::source::RawLine;
use crate::source::feed::fnv1a;

/// The version of the saved partition state.
const STATE_VERSION: u32 = 1;
const TICK: Duration = Duration::from_millis(200);

/// How a partition runs.
#[derive(Debug, Clone)]
pub struct PartitionSettings {
    pub partition: u32,
    pub partitions: u32,
    /// Parsing: time zone, line cap, mail assembly bounds (format and framing come per stream).
    pub pipeline: PipelineConfig,
    pub commit_interval: Duration,
    /// A stream with no message for this long no longer holds event time back.
    pub idle_timeout: Duration,
    /// The worker's series (partitions held, lines, events, alerts, commits).
    pub metrics: BrokerMetrics,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    version: u32,
    /// The stream sequence to resume `lines-<p>` at (0: from the start).
    lines_resume: u64,
    contrib_resume: u64,
    streams: BTreeMap<String, SavedStream>,
    /// Stage 2: the line partitions' marks, by partition.
    marks: Vec<Option<Mark>>,
    /// Stage 2: per source (`<line partition>|<stream>`), the floor and the identities above it.
    seen: BTreeMap<String, SavedSeen>,
    correlation: Option<Snapshot>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedStream {
    checkpoint: u64,
    newest: Option<i64>,
    closed: bool,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SavedSeen {
    floor: u64,
    events: Vec<(u64, u64)>,
}

/// A shipped stream in stage 1.
struct Stream {
    /// `None` once closed (or before the first message names its format).
    lines: Option<LineStream>,
    /// Lines with an offset below this were processed (skipped when they come again).
    processed: u64,
    /// The checkpoint saved at the last commit (the floor stage 2 may forget below).
    committed: u64,
    newest: Option<i64>,
    closed: bool,
    last_message: Instant,
    source: String,
    number: u64,
}

impl Stream {
    /// A stream first heard of now.
    fn fresh() -> Stream {
        Stream {
            lines: None,
            processed: 0,
            committed: 0,
            newest: None,
            closed: false,
            last_message: Instant::now(),
            source: String::new(),
            number: 0,
        }
    }

    /// Where a restart must resume this stream: the first line of the oldest message still
    /// being assembled, or past the last line processed.
    fn checkpoint(&self) -> u64 {
        let pending = self.lines.as_ref().and_then(LineStream::pending_from);
        pending.map_or(self.processed, |p| p.min(self.processed))
    }
}

/// A line message processed but not acknowledged yet.
struct Held<A> {
    ack: A,
    /// The stream and the offset past its last line; `None`: done once committed (a close, a
    /// damaged message).
    stream: Option<(String, u64)>,
}

/// An event's contributions, kept until the commit routes them.
struct Contributed {
    stream: Arc<str>,
    offset: u64,
    hash: u64,
    contributions: Vec<Contribution>,
}

/// Stage 2's record of what a source already contributed.
#[derive(Default)]
struct Seen {
    floor: u64,
    events: HashSet<(u64, u64)>,
}

struct Partition<T: PartitionIo> {
    io: T,
    settings: PartitionSettings,
    detector: Arc<Detector>,
    route: ContribRoute,
    streams: HashMap<String, Stream>,
    held: BTreeMap<u64, Held<T::Ack>>,
    next_lines: u64,
    contributed: Vec<Contributed>,
    skipped: ContributeStats,
    alerts: Vec<Alert>,
    acks: Vec<Confirmation>,
    // Stage 2.
    correlating: Correlating,
    marks: Vec<Option<Mark>>,
    seen: HashMap<String, Seen>,
    /// Messages processed already (contributions, and lines delivered again), acknowledged at
    /// the next commit.
    consumed: Vec<T::Ack>,
    next_contrib: u64,
    watermark: i64,
    /// Late contributions already logged.
    late_reported: u64,
    /// Events parsed since the last commit (added to `reconwatch_broker_events_total` there:
    /// the per-event path touches no shared counter).
    events: u64,
    /// Lines waited for this partition on the server at the last commit: a replay, not quiet
    /// sources (mail is then not flushed on quiet).
    backlog: bool,
    started: Instant,
    last_commit: Instant,
    /// Per partition, the progress last sent to it (mark, hash of the floors): an unchanged one
    /// is not sent again, so an idle cluster exchanges nothing.
    sent: Vec<Option<(Mark, u64)>>,
    /// The hash of the state saved last: an unchanged state is not written again.
    saved_hash: u64,
}

/// Runs partition `settings.partition` until `stop` (then commits, unless `lost` says another
/// worker took the partition over: then nothing more is written).
pub async fn run<T: PartitionIo>(
    mut io: T,
    detector: Arc<Detector>,
    settings: PartitionSettings,
    stop: CancellationToken,
    lost: Arc<std::sync::atomic::AtomicBool>,
) -> Result<(), BrokerError> {
    let p = settings.partition;
    let saved = load(&io, p).await?;
    let (lines_resume, contrib_resume) = saved.as_ref().map_or((0, 0), |s| (s.lines_resume, s.contrib_resume));
    let (mut lines, mut contrib) = io.open(lines_resume, contrib_resume).await?;
    let mut part = Partition::new(io, detector, settings, saved)?;
    log::info!("partition {p}: taken (lines from sequence {lines_resume}, contributions from {contrib_resume})");
    let metrics = part.settings.metrics.clone();
    metrics.partition_changes.with_label_values(&["taken"]).inc();
    let _held = HeldGauge::count(&metrics);
    let detector = Arc::clone(&part.detector);
    let mut worker = detector.worker();
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            m = lines.next() => match m {
                Some(Ok(m)) => part.lines(m, &mut worker),
                Some(Err(e)) => log::warning!("partition {p}: reading lines: {e}"),
                None => return Err(BrokerError::js(format!("partition {p}: reading lines"), "the consumer ended")),
            },
            m = contrib.next() => match m {
                Some(Ok(m)) => part.contributions(m),
                Some(Err(e)) => log::warning!("partition {p}: reading contributions: {e}"),
                None => return Err(BrokerError::js(format!("partition {p}: reading contributions"), "the consumer ended")),
            },
            _ = tick.tick() => {
                part.tick(&mut worker);
                if part.last_commit.elapsed() >= part.settings.commit_interval {
                    part.commit().await?;
                }
            }
        }
        part.publish_alerts().await?;
    }
    if lost.load(std::sync::atomic::Ordering::SeqCst) {
        log::warning!("partition {p}: taken over by another worker; stopped without saving");
        metrics.partition_changes.with_label_values(&["lost"]).inc();
        return Ok(());
    }
    part.commit().await?;
    log::info!("partition {p}: handed over (state saved)");
    metrics.partition_changes.with_label_values(&["handed_over"]).inc();
    Ok(())
}

/// Counts a partition in `reconwatch_broker_partitions_held` while it runs, whichever way its
/// run ends.
struct HeldGauge<'m>(&'m BrokerMetrics);

impl<'m> HeldGauge<'m> {
    fn count(metrics: &'m BrokerMetrics) -> HeldGauge<'m> {
        metrics.partitions_held.inc();
        HeldGauge(metrics)
    }
}

impl Drop for HeldGauge<'_> {
    fn drop(&mut self) {
        self.0.partitions_held.dec();
    }
}

/// The saved state of partition `p`, if any.
async fn load<T: PartitionIo>(io: &T, p: u32) -> Result<Option<Saved>, BrokerError> {
    let Some(bytes) = io.load_state().await? else {
        return Ok(None);
    };
    let what = || format!("partition {p}: reading the saved state");
    let saved: Saved = serde_json::from_slice(&bytes).map_err(|e| BrokerError::js(what(), e))?;
    if saved.version != STATE_VERSION {
        return Err(BrokerError::js(
            what(),
            format!("state version {} (this build reads {STATE_VERSION})", saved.version),
        ));
    }
    Ok(Some(saved))
}

/// The alert's message id: the same document, the same id.
fn message_id(alert: &Alert) -> String {
    super::alerts::document_id(&alert.json)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl<T: PartitionIo> Partition<T> {
    fn new(
        io: T,
        detector: Arc<Detector>,
        settings: PartitionSettings,
        saved: Option<Saved>,
    ) -> Result<Partition<T>, BrokerError> {
        let route = ContribRoute::new(detector.correlations());
        let n = settings.partitions as usize;
        let mut part = Partition {
            correlating: detector.correlating(),
            route,
            io,
            detector,
            streams: HashMap::new(),
            held: BTreeMap::new(),
            next_lines: 0,
            contributed: Vec::new(),
            skipped: ContributeStats::default(),
            alerts: Vec::new(),
            acks: Vec::new(),
            marks: vec![None; n],
            seen: HashMap::new(),
            consumed: Vec::new(),
            next_contrib: 0,
            watermark: i64::MIN,
            late_reported: 0,
            events: 0,
            backlog: true,
            started: Instant::now(),
            last_commit: Instant::now(),
            sent: vec![None; n],
            saved_hash: 0,
            settings,
        };
        let Some(saved) = saved else { return Ok(part) };
        part.next_lines = saved.lines_resume;
        part.next_contrib = saved.contrib_resume;
        for (key, s) in saved.streams {
            part.streams.insert(
                key,
                Stream {
                    processed: s.checkpoint,
                    committed: s.checkpoint,
                    newest: s.newest,
                    closed: s.closed,
                    ..Stream::fresh()
                },
            );
        }
        for (i, m) in saved.marks.into_iter().enumerate().take(n) {
            part.marks[i] = m;
        }
        for (source, s) in saved.seen {
            part.seen.insert(
                source,
                Seen {
                    floor: s.floor,
                    events: s.events.into_iter().collect(),
                },
            );
        }
        if let Some(snapshot) = saved.correlation {
            match part.detector.restore_correlating(snapshot) {
                Ok((c, report)) => {
                    if !report.discarded.is_empty() {
                        log::warning!(
                            "partition {}: correlation state that no longer fits the rules was discarded: {report}",
                            part.settings.partition
                        );
                    }
                    part.correlating = c;
                }
                Err(e) => log::error!(
                    "partition {}: the saved correlation state could not be restored ({e}); correlation starts afresh",
                    part.settings.partition
                ),
            }
        }
        Ok(part)
    }

    /// Stage 1: a batch of lines (or a stream's end).
    fn lines(&mut self, message: Delivery<T::Ack>, worker: &mut Worker<'_>) {
        let p = self.settings.partition;
        let seq = message.seq;
        if seq < self.next_lines {
            // Delivered again (an ack that came late, or a saved state newer than the broker's
            // committed position: the last owner saved it and stopped before its acks):
            // processed already; acknowledged at the commit, with the held lines if it is one.
            match self.held.get_mut(&seq) {
                Some(h) => h.ack = message.ack,
                None => self.consumed.push(message.ack),
            }
            return;
        }
        self.next_lines = seq + 1;
        if let Some(key) = lines::announced(&message.headers) {
            self.streams.entry(key.to_owned()).or_insert_with(Stream::fresh);
            self.hold(seq, message.ack, None);
            return;
        }
        let header = match StreamHeader::read(&message.headers) {
            Ok(h) => h,
            Err(e) => {
                log::error!("partition {p}: line message {seq}: {e}; skipped");
                self.hold(seq, message.ack, None);
                return;
            }
        };
        let (header, close) = header;
        let ctx = {
            let mut c = self.settings.pipeline.parse.clone();
            c.reference_time = Timestamp::from_millisecond(header.reference_ms).unwrap_or_else(|_| Timestamp::now());
            c
        };
        let stream = self.streams.entry(header.stream.clone()).or_insert_with(Stream::fresh);
        stream.last_message = Instant::now();
        if stream.source.is_empty() {
            stream.source = header.source.clone();
        }
        if stream.lines.is_none() && !stream.closed {
            let decided = Decided {
                format: header.format,
                framing: header.framing,
            };
            stream.lines = Some(LineStream::new(decided, &ctx, &header.name, 0));
        }
        let key: Arc<str> = header.stream.as_str().into();
        let mut sink = Detect {
            worker,
            alerts: &mut self.alerts,
            contributed: &mut self.contributed,
            skipped: &mut self.skipped,
            stream: &key,
            newest: &mut stream.newest,
            events: &mut self.events,
        };
        let mut done = None;
        if close {
            if let Some(mut ls) = stream.lines.take() {
                // Only the sink's error stops a flush; ours never fails.
                let _ = ls.flush(None, &mut sink);
            }
            stream.closed = true;
        } else if let Some(ls) = &mut stream.lines {
            let mut count = 0u64;
            for line in lines::lines(&message.payload) {
                let line = match line {
                    Ok(l) => l,
                    Err(e) => {
                        log::error!("partition {p}: line message {seq}: {e}; the rest of it is skipped");
                        break;
                    }
                };
                if line.offset < stream.processed {
                    continue;
                }
                stream.number += 1;
                let raw = RawLine {
                    bytes: line.bytes,
                    offset: line.offset,
                    number: stream.number,
                    truncated: line.truncated,
                };
                let _ = ls.line(raw, &mut sink);
                stream.processed = line.offset + 1;
                count += 1;
            }
            self.settings.metrics.lines.inc_by(count);
            done = Some((header.stream.clone(), stream.processed));
        }
        self.hold(seq, message.ack, done);
    }

    /// Keeps a line message until a commit acknowledges it: `stream` is the stream and the
    /// offset past its last line (`None`: done once committed — an announcement, a close, a
    /// damaged message).
    fn hold(&mut self, seq: u64, ack: T::Ack, stream: Option<(String, u64)>) {
        self.held.insert(seq, Held { ack, stream });
    }

    /// Stage 2: one line partition's batch of contributions and progress.
    fn contributions(&mut self, message: Delivery<T::Ack>) {
        let p = self.settings.partition;
        let seq = message.seq;
        if seq < self.next_contrib {
            self.consumed.push(message.ack);
            return;
        }
        self.next_contrib = seq + 1;
        let batch: Batch = match serde_json::from_slice(&message.payload) {
            Ok(b) => b,
            Err(e) => {
                log::error!("partition {p}: contribution message {seq} cannot be read ({e}); skipped");
                self.consumed.push(message.ack);
                return;
            }
        };
        if let (Some(m), Some(mark)) = (self.marks.get_mut(batch.from as usize), batch.mark) {
            *m = Some(mark);
        }
        for (stream, floor) in &batch.floors {
            let seen = self.seen.entry(format!("{}|{stream}", batch.from)).or_default();
            if *floor > seen.floor {
                seen.floor = *floor;
                let f = *floor;
                seen.events.retain(|(o, _)| *o >= f);
            }
        }
        let set = Arc::clone(self.detector.correlations());
        for event in &batch.events {
            let source = format!("{}|{}", batch.from, event.stream);
            let seen = self.seen.entry(source.clone()).or_default();
            if !seen.events.insert((event.offset, event.hash)) {
                continue;
            }
            match batch.contributions(event, &set) {
                Ok(c) => self
                    .correlating
                    .push(SourceId(fnv1a(source.as_bytes())), c, &ContributeStats::default()),
                Err(e) => log::warning!(
                    "partition {p}: a contribution from partition {} left out: {e}",
                    batch.from
                ),
            }
        }
        self.consumed.push(message.ack);
        self.advance();
    }

    /// Stage 2's watermark (see the module documentation); correlates what it allows.
    fn advance(&mut self) {
        let idle = self.settings.idle_timeout;
        let (mut hold, mut all_ended) = (false, true);
        let (mut low, mut newest): (Option<i64>, Option<i64>) = (None, None);
        for m in &self.marks {
            let Some(m) = m else {
                // Never heard from: it may be about to start.
                hold |= self.started.elapsed() < idle;
                continue;
            };
            newest = newest.max(m.newest);
            if m.ended {
                continue;
            }
            all_ended = false;
            match m.watermark {
                Some(w) => low = Some(low.map_or(w, |l| l.min(w))),
                None => hold = true,
            }
        }
        if hold {
            return;
        }
        let lateness = self.correlating.stage().lateness_ms();
        let target = if all_ended {
            newest.map(|n| n.saturating_add(lateness).saturating_add(1))
        } else {
            low
        };
        if let Some(t) = target
            && t > self.watermark
        {
            self.watermark = t;
            log::debug!(
                "partition {}: watermark {t} from {:?}",
                self.settings.partition,
                self.marks
            );
            let _ = self.correlating.advance(t, &mut self.alerts);
        }
    }

    /// Quiet streams emit mail whose assembly timed out (in event time moved on with the clock
    /// from their newest event, as in the daemon); stage 2 moves on.
    fn tick(&mut self, worker: &mut Worker<'_>) {
        let idle = self.settings.idle_timeout;
        for (key, s) in self.streams.iter_mut().filter(|_| !self.backlog) {
            let quiet = s.last_message.elapsed();
            let (Some(ls), Some(newest)) = (&mut s.lines, s.newest) else {
                continue;
            };
            if quiet < idle {
                continue;
            }
            let Ok(until) = Timestamp::from_millisecond(newest.saturating_add(quiet.as_millis() as i64)) else {
                continue;
            };
            let key: Arc<str> = key.as_str().into();
            let mut sink = Detect {
                worker: &mut *worker,
                alerts: &mut self.alerts,
                contributed: &mut self.contributed,
                skipped: &mut self.skipped,
                stream: &key,
                newest: &mut s.newest,
                events: &mut self.events,
            };
            let _ = ls.flush(Some(until), &mut sink);
        }
        self.advance();
    }

    /// This partition's progress as stage 2 sees it: the daemon's watermark over its open
    /// streams (the oldest newest event of those that delivered within `idle_timeout`; when all
    /// are quiet, event time moves on with the clock), except that while lines wait for it on
    /// the server nothing is taken to be quiet (a replay is not a quiet source).
    async fn mark(&mut self) -> Mark {
        let backlog = self.io.backlog(self.next_lines).await;
        self.backlog = backlog;
        let idle = self.settings.idle_timeout;
        let newest = self.streams.values().filter_map(|s| s.newest).max();
        let open: Vec<&Stream> = self.streams.values().filter(|s| !s.closed).collect();
        if open.is_empty() {
            // Ended when every stream it heard of has; never heard of one: nothing was shipped
            // yet (every stream is announced to every partition), so it cannot say.
            return Mark {
                watermark: None,
                ended: !backlog && !self.streams.is_empty(),
                newest,
            };
        }
        // A stream announced but without events here yet holds time back while lines wait
        // (they may be its) and for `idle_timeout` after its last message.
        let active: Vec<&&Stream> = open
            .iter()
            .filter(|s| backlog || s.last_message.elapsed() < idle)
            .collect();
        let watermark = if active.is_empty() {
            let quiet = open.iter().map(|s| s.last_message.elapsed()).min().unwrap_or_default();
            open.iter()
                .filter_map(|s| s.newest)
                .max()
                .map(|n| n.saturating_add(quiet.as_millis() as i64))
        } else if active.iter().any(|s| s.newest.is_none()) {
            None
        } else {
            active.iter().filter_map(|s| s.newest).min()
        };
        Mark {
            watermark,
            ended: false,
            newest,
        }
    }

    /// Publishes the alerts written since the last call (their acks are awaited at the commit).
    async fn publish_alerts(&mut self) -> Result<(), BrokerError> {
        for alert in std::mem::take(&mut self.alerts) {
            let kind = match alert.kind {
                AlertKind::Match => "match",
                AlertKind::Correlation => "correlation",
            };
            self.settings
                .metrics
                .alerts
                .with_label_values(&[&alert.rule_id, alert.level.name()])
                .inc();
            let id = message_id(&alert);
            let ack = self
                .io
                .publish_alert(&id, &alert.rule_id, alert.level.name(), kind, Bytes::from(alert.json))
                .await?;
            self.acks.push(ack);
        }
        Ok(())
    }

    async fn publish_batch(&mut self, q: u32, batch: &Batch) -> Result<(), BrokerError> {
        let body = serde_json::to_vec(batch).expect("batches serialize");
        let ack = self.io.publish_contributions(q, body).await?;
        self.acks.push(ack);
        Ok(())
    }

    /// See the module documentation; counted in `reconwatch_broker_commits_total`.
    async fn commit(&mut self) -> Result<(), BrokerError> {
        let result = self.commit_all().await;
        let metrics = &self.settings.metrics;
        match &result {
            Ok(()) => {
                metrics.commits.with_label_values(&["success"]).inc();
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                metrics.last_commit.set(now);
            }
            Err(_) => metrics.commits.with_label_values(&["failure"]).inc(),
        }
        result
    }

    async fn commit_all(&mut self) -> Result<(), BrokerError> {
        self.last_commit = Instant::now();
        self.settings.metrics.events.inc_by(std::mem::take(&mut self.events));
        let late = self.correlating.stage().merge_stats().late;
        if late > self.late_reported {
            self.settings
                .metrics
                .late_contributions
                .inc_by(late - self.late_reported);
            log::warning!(
                "partition {}: {} contributions came later than the allowed lateness and were not correlated (watermark {})",
                self.settings.partition,
                late - self.late_reported,
                self.watermark
            );
            self.late_reported = late;
        }
        let p = self.settings.partition;
        let n = self.settings.partitions;
        // Stage 1's contributions, by the partition that runs their groups.
        let mark = self.mark().await;
        let floors: Vec<(String, u64)> = self.streams.iter().map(|(k, s)| (k.clone(), s.committed)).collect();
        let mut batches: Vec<Batch> = (0..n)
            .map(|_| Batch {
                from: p,
                ..Batch::default()
            })
            .collect();
        let set = Arc::clone(self.detector.correlations());
        for c in std::mem::take(&mut self.contributed) {
            let mut by: BTreeMap<u32, Vec<Contribution>> = BTreeMap::new();
            for one in c.contributions {
                by.entry(self.route.partition(&set, &one, n)).or_default().push(one);
            }
            for (q, list) in by {
                let batch = &mut batches[q as usize];
                batch.push(&c.stream, c.offset, c.hash, &set, &list);
                if batch.size >= BATCH_BYTES {
                    let full = std::mem::replace(
                        batch,
                        Batch {
                            from: p,
                            ..Batch::default()
                        },
                    );
                    self.publish_batch(q, &full).await?;
                }
            }
        }
        // The last message to each partition carries the progress; nothing is sent where
        // there is neither a contribution nor news.
        let floors_hash = {
            let mut sorted: Vec<String> = floors.iter().map(|(k, f)| format!("{k}\u{0}{f}")).collect();
            sorted.sort_unstable();
            fnv1a(sorted.join("\u{1}").as_bytes())
        };
        for (q, mut batch) in batches.into_iter().enumerate() {
            if batch.events.is_empty() && self.sent[q] == Some((mark, floors_hash)) {
                continue;
            }
            batch.mark = Some(mark);
            batch.floors = floors.clone();
            self.publish_batch(q as u32, &batch).await?;
            self.sent[q] = Some((mark, floors_hash));
        }
        self.publish_alerts().await?;
        for ack in std::mem::take(&mut self.acks) {
            ack.await?;
        }
        // The state, then the acks.
        let checkpoints: HashMap<String, u64> = self.streams.iter().map(|(k, s)| (k.clone(), s.checkpoint())).collect();
        let lines_resume = self
            .held
            .iter()
            .find(|(_, h)| match &h.stream {
                Some((s, end)) => checkpoints.get(s.as_str()).is_some_and(|c| end > c),
                None => false,
            })
            .map_or(self.next_lines, |(seq, _)| *seq);
        let saved = Saved {
            version: STATE_VERSION,
            lines_resume,
            contrib_resume: self.next_contrib,
            streams: self
                .streams
                .iter()
                .map(|(k, s)| {
                    (
                        k.clone(),
                        SavedStream {
                            checkpoint: checkpoints[k],
                            newest: s.newest,
                            closed: s.closed,
                        },
                    )
                })
                .collect(),
            marks: self.marks.clone(),
            seen: self
                .seen
                .iter()
                .map(|(k, s)| {
                    let mut events: Vec<(u64, u64)> = s.events.iter().copied().collect();
                    events.sort_unstable();
                    (k.clone(), SavedSeen { floor: s.floor, events })
                })
                .collect(),
            correlation: Some(self.correlating.snapshot()),
        };
        let json = serde_json::to_vec(&saved).expect("the state serializes");
        let hash = fnv1a(&json);
        if hash != self.saved_hash {
            self.io.save_state(&json).await?;
            self.saved_hash = hash;
        }
        for s in self.streams.values_mut() {
            s.committed = s.checkpoint();
        }
        let mut done = std::mem::take(&mut self.consumed);
        for (seq, h) in std::mem::take(&mut self.held) {
            let finished = match &h.stream {
                Some((s, end)) => checkpoints.get(s.as_str()).is_none_or(|c| end <= c),
                None => true,
            };
            if finished {
                done.push(h.ack);
            } else {
                // Still needed (mail being assembled).
                self.held.insert(seq, h);
            }
        }
        let held = self.held.values().map(|h| &h.ack).collect();
        self.io.acknowledge(done, held, lines_resume, self.next_contrib).await;
        Ok(())
    }
}

/// Stage 1's pipeline sink: detection, alerts kept to publish, contributions kept per event.
struct Detect<'a, 'd> {
    worker: &'a mut Worker<'d>,
    alerts: &'a mut Vec<Alert>,
    contributed: &'a mut Vec<Contributed>,
    skipped: &'a mut ContributeStats,
    stream: &'a Arc<str>,
    newest: &'a mut Option<i64>,
    events: &'a mut u64,
}

impl EventSink for Detect<'_, '_> {
    fn event(&mut self, event: &mut Event<'_>) -> std::io::Result<()> {
        *self.events += 1;
        if let Some(t) = event.timestamp {
            let t = t.as_millisecond();
            *self.newest = Some(self.newest.map_or(t, |n| n.max(t)));
        }
        self.worker.event(event, self.alerts)?;
        let (contributions, skipped) = self.worker.take_contributions();
        self.skipped.add(&skipped);
        if !contributions.is_empty() {
            self.contributed.push(Contributed {
                stream: Arc::clone(self.stream),
                offset: event.log.offset.unwrap_or(0),
                hash: fnv1a(event.event.original.as_deref().unwrap_or("").as_bytes()),
                contributions,
            });
        }
        Ok(())
    }
}
