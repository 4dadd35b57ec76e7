//! The engine: the daemon's detection thread. It takes [`Feed`] messages from the sources' one
//! bounded queue and runs every stream through the same core as `scan` — a
//! [`LineStream`] per stream (format detected from its first lines unless configured), one
//! [`Worker`] for enrichment and matching, one [`Correlating`] for correlation rules — and hands
//! alerts to the [`Outputs`] (the sinks).
//!
//! **Event time.** Each configured source (a tail glob, a listener) is a correlation source with
//! its own newest event time. The watermark is the oldest of the newest times of the sources
//! that have a stream open and delivered a batch within `idle_timeout`; a quiet source does not
//! hold correlation back. Right after the start, a configured source that has not opened a
//! stream yet holds it back too, for at most `idle_timeout` ([`Engine::expect_sources`]): a
//! small file read first must not carry event time past a big one the tailer reaches second.
//! When every source is quiet, event time is taken to move on with the clock from the newest
//! event seen (so a burst of old events is correlated once the sources have been quiet for the
//! allowed lateness). The correlation stage releases up to the watermark minus the lateness.
//!
//! **Commits.** Every `commit_interval`, and at the end, the engine makes the sinks durable
//! ([`Outputs::commit`]), then saves the correlation state (`correlation.json`), then the file
//! checkpoints (`checkpoints.json`), each atomically. A checkpoint therefore never passes a line
//! whose alerts are not in a sink or whose contributions are not in the saved state; for mail
//! being assembled it stays at the first line of the oldest open message
//! ([`LineStream::pending_from`]). After a crash, the lines after the checkpoints are read
//! again: at least once, never skipped. Multi-line mail assembly is not saved: it is rebuilt by
//! re-reading from that first line (messages completed after it are emitted again).
//!
//! **Reload.** [`Control::Reload`] swaps the detector between two batches: the correlation
//! state moves to the new rules (what no longer fits is discarded and logged), streams and their
//! parsers (and mail being assembled) carry on, so no event is lost or seen twice.
//!
//! The engine never reads a socket or a file of logs itself and never blocks on anything but
//! its queue and its outputs: a slow sink slows detection, which fills the queue, which stops
//! the sources (backpressure).

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use jiff::Timestamp;
use tokio::sync::mpsc;

use crate::alert::{Alert, AlertSink, SinkError};
use crate::correlate::{Snapshot, SourceId};
use crate::detect::{Correlating, Detector, Worker};
use crate::event::Event;
use crate::log;
use crate::metrics::{DaemonMetrics, Metrics};
use crate::pipeline::{self, EventSink, LineStream, PipelineConfig};
use crate::source::checkpoint::{self, FileCheckpoint};
use crate::source::feed::{Feed, FeedReceiver, FileIdentity, LineBatch, OpenStream, SourceInfo, StreamId};
use crate::source::{RawLine, checkpoint::write_atomically};

/// The correlation state's file name in the state directory.
pub const STATE_FILE: &str = "correlation.json";
/// Lines a stream gathers before its format is decided (as `scan` decides on an input's first
/// lines); fewer when the stream goes quiet first.
pub const SAMPLE_LINES: usize = 64;
/// How long a stream may wait for its detection sample before the format is decided on what it
/// has: a file of three lines must not wait forever.
pub const SAMPLE_WAIT: Duration = Duration::from_millis(500);
/// The engine's tick: detection of quiet streams, watermarks of quiet sources, commits.
const TICK: Duration = Duration::from_millis(200);

/// The alert sinks as the engine sees them.
pub trait Outputs: AlertSink {
    /// What was handed in reaches the OS (buffers written, delivery woken). After every batch.
    fn flush(&mut self) -> Result<(), SinkError>;
    /// What was handed in is durable. Before checkpoints move.
    fn commit(&mut self) -> Result<(), SinkError>;
}

/// Alerts kept in memory (tests, `config check`).
impl Outputs for Vec<Alert> {
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    fn commit(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// What the engine is told besides the feed.
pub enum Control {
    /// Use these rules and this context from the next batch on.
    Reload(Arc<Detector>),
}

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Parsing: time zone, line cap, mail assembly bounds (`format` is ignored: it is per
    /// source).
    pub pipeline: PipelineConfig,
    pub state_dir: PathBuf,
    pub commit_interval: Duration,
    pub idle_timeout: Duration,
    /// When the feed ends, correlate everything still held (a one-shot run over files that are
    /// complete). A daemon leaves it `false`: what is held is saved for the next start, where
    /// it may still meet events that arrive late.
    pub finish_at_end: bool,
}

/// Shared with the HTTP endpoint: the engine is alive and how far it got.
#[derive(Debug, Default)]
pub struct Heartbeat {
    /// Unix milliseconds of the engine's last loop.
    pub last_loop_ms: AtomicU64,
    /// Batches processed.
    pub batches: AtomicU64,
}

impl Heartbeat {
    /// Records that the loop it watches is alive now.
    pub fn beat(&self) {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.last_loop_ms.store(now, Ordering::Relaxed);
    }
}

/// Why the engine stopped.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A sink cannot go on (standard output closed, say): detection stops; checkpoints stay at
    /// the last batch the sinks took.
    #[error("alerts could not be delivered: {0}")]
    Sink(#[from] SinkError),
    #[error("{0}")]
    State(String),
}

/// A stream's state in the engine.
struct Stream {
    info: Arc<SourceInfo>,
    name: Arc<str>,
    file: Option<FileIdentity>,
    reference_time: Timestamp,
    /// Offset up to which every line is fully processed.
    processed: u64,
    /// Lines so far (line numbers of error examples).
    lines: u64,
    last_batch: Instant,
    state: StreamState,
}

enum StreamState {
    /// Gathering the first lines to decide the format: (bytes, offset, truncated, next offset).
    Sampling(Vec<(Vec<u8>, u64, bool, u64)>),
    Running(Box<LineStream>),
    /// No parser recognised its first lines: its lines are counted as errors.
    Unrecognised,
}

/// Per configured source: the watermark's inputs.
struct SourceClock {
    last_batch: Instant,
    /// The newest event time seen from the source (milliseconds), whether or not the event
    /// matched anything.
    newest: Option<i64>,
}

/// Runs the engine until the feed closes (every source has stopped): then everything queued is
/// processed, the sinks committed, the state and checkpoints saved. `checkpoints` are the ones
/// loaded at start: kept until their file's stream opens, so a file the tailer has not reached
/// yet keeps its place. `restored` is the correlation state loaded at start.
pub struct Engine<O: Outputs> {
    settings: EngineSettings,
    detector: Arc<Detector>,
    correlating: Correlating,
    outputs: O,
    metrics: Arc<Metrics>,
    daemon: DaemonMetrics,
    heartbeat: Arc<Heartbeat>,
    streams: HashMap<StreamId, Stream>,
    sources: HashMap<SourceId, SourceClock>,
    /// The configured sources ([`Engine::expect_sources`]) and when the engine started: until
    /// each has opened a stream, or `idle_timeout` has passed, event time does not move (a
    /// source the tailer has not reached yet could bring anything).
    expected: Vec<SourceId>,
    started: Instant,
    carried: Vec<FileCheckpoint>,
    /// The highest watermark passed to the correlation stage.
    watermark: i64,
    last_commit: Instant,
    /// Something changed since the last commit.
    dirty: bool,
    /// Alerts already counted in metrics, per detection rule of the current worker and per
    /// correlation (the counts the core keeps are totals).
    counted_rules: Vec<u64>,
    counted_correlations: Vec<u64>,
    evictions_counted: Vec<u64>,
}

impl<O: Outputs> Engine<O> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: EngineSettings,
        detector: Arc<Detector>,
        restored: Option<Snapshot>,
        checkpoints: Vec<FileCheckpoint>,
        outputs: O,
        metrics: Arc<Metrics>,
        daemon: DaemonMetrics,
        heartbeat: Arc<Heartbeat>,
    ) -> Engine<O> {
        let correlating = match restored {
            Some(snapshot) => restore(&detector, snapshot),
            None => detector.correlating(),
        };
        // A restored state carries the previous process's totals: count only what is new.
        let evictions_counted = evictions(&correlating);
        Engine {
            settings,
            detector,
            correlating,
            outputs,
            metrics,
            daemon,
            heartbeat,
            streams: HashMap::new(),
            sources: HashMap::new(),
            expected: Vec::new(),
            started: Instant::now(),
            carried: checkpoints,
            watermark: i64::MIN,
            last_commit: Instant::now(),
            dirty: false,
            counted_rules: Vec::new(),
            counted_correlations: Vec::new(),
            evictions_counted,
        }
    }

    /// The sources that will feed it. Until each has opened its first stream (or
    /// `idle_timeout` has passed since the start), correlation does not move on: otherwise a
    /// file read first would carry event time past the hours another, not yet opened, still
    /// has to deliver, and those events would all be late.
    pub fn expect_sources(mut self, sources: impl IntoIterator<Item = SourceId>) -> Self {
        self.expected = sources.into_iter().collect();
        self.started = Instant::now();
        self
    }

    /// Runs on the calling thread (the engine's own) until the feed closes; returns the outputs
    /// for the caller to shut down.
    pub fn run(
        mut self,
        mut feed: FeedReceiver,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) -> (O, Result<(), EngineError>) {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_time().build() {
            Ok(r) => r,
            Err(e) => return (self.outputs, Err(EngineError::State(format!("engine runtime: {e}")))),
        };
        let result = runtime.block_on(self.serve(&mut feed, &mut control));
        // Whatever happened, save what was fully processed.
        let saved = self.commit();
        let result = result.and(saved);
        (self.outputs, result)
    }

    async fn serve(
        &mut self,
        feed: &mut FeedReceiver,
        control: &mut mpsc::UnboundedReceiver<Control>,
    ) -> Result<(), EngineError> {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut control_open = true;
        loop {
            // One detector per pass; a reload ends the pass and starts the next with the new one.
            let detector = Arc::clone(&self.detector);
            let mut worker = detector.worker();
            let reload = loop {
                self.heartbeat.beat();
                tokio::select! {
                    biased;
                    c = control.recv(), if control_open => match c {
                        Some(Control::Reload(d)) => break Some(d),
                        None => control_open = false,
                    },
                    msg = feed.recv() => match msg {
                        Some(msg) => self.feed(msg, &mut worker)?,
                        None => {
                            self.end(&mut worker)?;
                            return Ok(());
                        }
                    },
                    _ = tick.tick() => {
                        self.daemon.queue_depth.with_label_values(&["feed"]).set(feed.len() as i64);
                        self.tick(&mut worker)?;
                    }
                }
            };
            if let Some(new) = reload {
                self.reload(new);
            }
        }
    }

    fn feed(&mut self, msg: Feed, worker: &mut Worker<'_>) -> Result<(), EngineError> {
        match msg {
            Feed::Open(open) => self.open(open),
            Feed::Lines(batch) => {
                self.heartbeat.batches.fetch_add(1, Ordering::Relaxed);
                self.lines(batch, worker)?;
            }
            Feed::Close { stream } => self.close(stream, worker)?,
        }
        Ok(())
    }

    fn open(&mut self, open: OpenStream) {
        if let Some(f) = &open.file {
            self.carried.retain(|c| !(c.dev == f.dev && c.ino == f.ino));
        }
        log::debug!(
            "{}: stream {} opened at offset {}",
            open.source.label,
            open.name,
            open.start
        );
        let now = Instant::now();
        self.sources.entry(open.source.id).or_insert(SourceClock {
            last_batch: now,
            newest: None,
        });
        let state = StreamState::Sampling(Vec::new());
        self.streams.insert(
            open.stream,
            Stream {
                info: open.source,
                name: open.name,
                file: open.file,
                reference_time: open.reference_time,
                processed: open.start,
                lines: 0,
                last_batch: now,
                state,
            },
        );
        self.dirty = true;
    }

    fn lines(&mut self, batch: LineBatch, worker: &mut Worker<'_>) -> Result<(), EngineError> {
        let Some(stream) = self.streams.get_mut(&batch.stream) else {
            log::error!(
                "a batch of {} lines arrived for a stream that was never opened (an internal error); counted as lost",
                batch.lines.len()
            );
            return Ok(());
        };
        let now = Instant::now();
        stream.last_batch = now;
        if let Some(clock) = self.sources.get_mut(&stream.info.id) {
            clock.last_batch = now;
        }
        let label = Arc::clone(&stream.info.label);
        let bytes: u64 = batch.lines.iter().map(|l| u64::from(l.end - l.start) + 1).sum();
        self.daemon
            .source_lines
            .with_label_values(&[&label])
            .inc_by(batch.lines.len() as u64);
        self.daemon.source_bytes.with_label_values(&[&label]).inc_by(bytes);
        self.daemon
            .source_last_line
            .with_label_values(&[&label])
            .set(Timestamp::now().as_millisecond() as f64 / 1000.0);
        if let StreamState::Sampling(sample) = &mut stream.state {
            for (i, l) in batch.lines.iter().enumerate() {
                let next = batch.lines.get(i + 1).map_or(batch.consumed, |n| n.offset);
                sample.push((batch.line(i).to_vec(), l.offset, l.truncated, next));
            }
            // A configured format needs the first line only (to tell syslog framing).
            if sample.len() >= SAMPLE_LINES || stream.info.format.is_some() {
                self.decide(batch.stream, worker)?;
            }
        } else {
            self.run_lines(batch.stream, &batch, worker)?;
        }
        self.after_batch(batch.stream, worker)?;
        self.daemon
            .processing_latency
            .with_label_values(&[&label])
            .observe(batch.received.elapsed().as_secs_f64());
        Ok(())
    }

    /// Runs a batch's lines through a stream that has its format.
    fn run_lines(&mut self, id: StreamId, batch: &LineBatch, worker: &mut Worker<'_>) -> Result<(), EngineError> {
        let stream = self.streams.get_mut(&id).expect("the caller checked");
        let mut newest = None;
        match &mut stream.state {
            StreamState::Running(ls) => {
                let mut sink = Detect::new(worker, &mut self.outputs, &self.daemon, &stream.info.label);
                for (i, l) in batch.lines.iter().enumerate() {
                    stream.lines += 1;
                    let raw = RawLine {
                        bytes: batch.line(i),
                        offset: l.offset,
                        number: stream.lines,
                        truncated: l.truncated,
                    };
                    ls.line(raw, &mut sink).map_err(sink_error)?;
                }
                newest = sink.finish();
            }
            StreamState::Unrecognised => {
                stream.lines += batch.lines.len() as u64;
                self.metrics
                    .parse_errors
                    .with_label_values(&["unknown", "unrecognised input"])
                    .inc_by(batch.lines.len() as u64);
            }
            StreamState::Sampling(_) => unreachable!("sampling streams are handled by the caller"),
        }
        stream.processed = batch.consumed;
        let source = stream.info.id;
        self.seen(source, newest);
        Ok(())
    }

    /// Events of `source` up to `newest` (event time) were seen.
    fn seen(&mut self, source: SourceId, newest: Option<i64>) {
        if let (Some(t), Some(clock)) = (newest, self.sources.get_mut(&source)) {
            clock.newest = Some(clock.newest.map_or(t, |n| n.max(t)));
        }
    }

    /// Decides a sampling stream's format from its sample and runs the sample through it.
    fn decide(&mut self, id: StreamId, worker: &mut Worker<'_>) -> Result<(), EngineError> {
        let stream = self.streams.get_mut(&id).expect("the caller checked");
        let StreamState::Sampling(sample) = std::mem::replace(&mut stream.state, StreamState::Unrecognised) else {
            return Ok(());
        };
        if sample.is_empty() {
            stream.state = StreamState::Sampling(sample);
            return Ok(());
        }
        let cfg = PipelineConfig {
            format: stream.info.format,
            ..self.settings.pipeline.clone()
        };
        let decided = pipeline::detect_sample(sample.iter().map(|l| &l.0[..]), stream.reference_time, &cfg);
        let mut batch = LineBatch::new(id);
        for (bytes, offset, truncated, next) in &sample {
            batch.push(bytes, *offset, *next, *truncated);
        }
        match decided {
            Some(d) => {
                log::info!(
                    "{}: {} is {} ({} framing)",
                    stream.info.label,
                    stream.name,
                    d.format.name(),
                    if d.framing == crate::parse::detect::Framing::Syslog {
                        "syslog"
                    } else {
                        "plain"
                    }
                );
                let mut ctx = self.settings.pipeline.parse.clone();
                ctx.reference_time = stream.reference_time;
                stream.state = StreamState::Running(Box::new(LineStream::new(d, &ctx, &stream.name, 0)));
            }
            None => {
                let first: String = String::from_utf8_lossy(&sample[0].0).chars().take(120).collect();
                log::error!(
                    "{}: {}: no parser recognises its first {} lines; its lines are counted as parse errors (format \"unknown\") until it reopens — set `format:` for this source. First line: {first:?}",
                    stream.info.label,
                    stream.name,
                    sample.len()
                );
                self.metrics.input_failures.with_label_values(&["unrecognised"]).inc();
            }
        }
        self.run_lines(id, &batch, worker)
    }

    /// After a batch: statistics, contributions, watermark, sinks flushed.
    fn after_batch(&mut self, id: StreamId, worker: &mut Worker<'_>) -> Result<(), EngineError> {
        self.collect(id, worker);
        self.settle(worker)
    }

    /// Takes what a stream's lines produced: statistics into metrics, contributions to the
    /// correlation side.
    fn collect(&mut self, id: StreamId, worker: &mut Worker<'_>) {
        if let Some(stream) = self.streams.get_mut(&id)
            && let StreamState::Running(ls) = &mut stream.state
        {
            let stats = ls.take_stats();
            self.metrics.record_counts(&stats);
            self.daemon
                .source_events
                .with_label_values(&[&stream.info.label])
                .inc_by(stats.events);
            let source = stream.info.id;
            let (contributions, skipped) = worker.take_contributions();
            if !contributions.is_empty() {
                self.dirty = true;
            }
            self.correlating.push(source, contributions, &skipped);
        }
    }

    /// After new events: the watermark moves, the sinks flush, alerts are counted, and a commit
    /// is made when it is due.
    fn settle(&mut self, worker: &mut Worker<'_>) -> Result<(), EngineError> {
        self.advance()?;
        self.outputs.flush()?;
        self.count_alerts(worker);
        if self.last_commit.elapsed() >= self.settings.commit_interval {
            self.commit()?;
        }
        Ok(())
    }

    /// Emits what a running stream's parser holds: messages opened before `before` (event
    /// time), or everything (`None`: the stream ended).
    fn flush_stream(
        &mut self,
        id: StreamId,
        before: Option<Timestamp>,
        worker: &mut Worker<'_>,
    ) -> Result<(), EngineError> {
        let Some(s) = self.streams.get_mut(&id) else {
            return Ok(());
        };
        let StreamState::Running(ls) = &mut s.state else {
            return Ok(());
        };
        let mut sink = Detect::new(worker, &mut self.outputs, &self.daemon, &s.info.label);
        ls.flush(before, &mut sink).map_err(sink_error)?;
        let newest = sink.finish();
        let source = s.info.id;
        self.seen(source, newest);
        self.collect(id, worker);
        Ok(())
    }

    /// Adds the alerts written since the last call to `reconwatch_alerts_total{rule,level}`,
    /// and by watchlist group.
    fn count_alerts(&mut self, worker: &mut Worker<'_>) {
        for (rule, group, n) in worker.take_targets().take() {
            let meta = &self.detector.engine().rules()[rule as usize].meta;
            self.metrics.record_targets(meta, &group, n);
        }
        for (correlation, group, n) in self.correlating.take_targets().take() {
            let meta = &self.detector.correlations().list[correlation as usize].rule.meta;
            self.metrics.record_targets(meta, &group, n);
        }
        let rules = self.detector.engine().rules();
        let counts = worker.alert_counts();
        self.counted_rules.resize(counts.len(), 0);
        for (i, (&n, seen)) in counts.iter().zip(&mut self.counted_rules).enumerate() {
            if n > *seen {
                let meta = &rules[i].meta;
                self.metrics
                    .alerts
                    .with_label_values(&[&meta.id, meta.level.name()])
                    .inc_by(n - *seen);
                *seen = n;
            }
        }
        let correlations = &self.detector.correlations().list;
        let counts = self.correlating.alert_counts();
        self.counted_correlations.resize(counts.len(), 0);
        for (i, (&n, seen)) in counts.iter().zip(&mut self.counted_correlations).enumerate() {
            if n > *seen {
                let meta = &correlations[i].rule.meta;
                self.metrics
                    .alerts
                    .with_label_values(&[&meta.id, meta.level.name()])
                    .inc_by(n - *seen);
                *seen = n;
            }
        }
    }

    /// The correlation state's size in metrics (open groups, evictions).
    fn count_correlation(&mut self) {
        let stage = self.correlating.stage();
        let list = &stage.correlations().list;
        self.evictions_counted.resize(list.len(), 0);
        for (i, comp) in list.iter().enumerate() {
            let id = comp.rule.meta.id.as_str();
            self.metrics
                .correlation_open_groups
                .with_label_values(&[id])
                .set(stage.open_groups(i) as i64);
            let evicted = stage.stats(i).evicted;
            if evicted > self.evictions_counted[i] {
                self.metrics
                    .correlation_evictions
                    .with_label_values(&[id])
                    .inc_by(evicted - self.evictions_counted[i]);
                self.evictions_counted[i] = evicted;
            }
        }
    }

    /// Moves the correlation watermark (see the module documentation).
    fn advance(&mut self) -> Result<(), EngineError> {
        let idle = self.settings.idle_timeout;
        let mut active_min: Option<i64> = None;
        let mut newest: Option<(i64, Instant)> = None;
        let mut blocked = false;
        for (id, clock) in &self.sources {
            // A source with no stream open brings nothing until one opens.
            let open = self.streams.values().any(|s| s.info.id == *id);
            let active = open && clock.last_batch.elapsed() < idle;
            let Some(t) = clock.newest else {
                // An active source whose first event is still to come could bring anything.
                blocked |= active;
                continue;
            };
            if active {
                active_min = Some(active_min.map_or(t, |a| a.min(t)));
            }
            if newest.is_none_or(|(n, _)| t > n) {
                newest = Some((t, clock.last_batch));
            }
        }
        // A configured source not heard from yet, shortly after the start.
        blocked |= self.started.elapsed() < idle && self.expected.iter().any(|id| !self.sources.contains_key(id));
        if blocked {
            return Ok(());
        }
        let watermark = match (active_min, newest) {
            (Some(a), _) => a,
            // Every source quiet: event time moves on with the clock from the newest event.
            (None, Some((t, _))) => {
                let quiet = self
                    .sources
                    .values()
                    .map(|c| c.last_batch.elapsed())
                    .min()
                    .unwrap_or_default();
                t.saturating_add(quiet.as_millis().min(i64::MAX as u128) as i64)
            }
            (None, None) => return Ok(()),
        };
        if watermark > self.watermark {
            self.watermark = watermark;
            self.correlating.advance(watermark, &mut self.outputs)?;
        }
        Ok(())
    }

    fn tick(&mut self, worker: &mut Worker<'_>) -> Result<(), EngineError> {
        // Streams whose sample waited long enough are decided on what they have; quiet streams
        // emit mail whose assembly timed out.
        let ids: Vec<StreamId> = self.streams.keys().copied().collect();
        let now = Timestamp::now();
        for id in ids {
            let s = &self.streams[&id];
            match &s.state {
                StreamState::Sampling(sample) if !sample.is_empty() && s.last_batch.elapsed() >= SAMPLE_WAIT => {
                    self.decide(id, worker)?;
                    self.collect(id, worker);
                }
                StreamState::Running(_) if s.last_batch.elapsed() >= self.settings.idle_timeout => {
                    // Event time of a quiet stream moves on with the clock from its source's
                    // newest event (never the wall clock itself: replayed old logs would have
                    // every open message cut short).
                    let quiet = s.last_batch.elapsed();
                    let Some(newest) = self.sources.get(&s.info.id).and_then(|c| c.newest) else {
                        continue;
                    };
                    let Ok(until) = Timestamp::from_millisecond(newest.saturating_add(quiet.as_millis() as i64)) else {
                        continue;
                    };
                    let s = self.streams.get_mut(&id).expect("present");
                    if let (StreamState::Running(ls), None) = (&mut s.state, &s.file) {
                        // A live socket's RFC 3164 lines are dated by the clock's year.
                        ls.set_reference_time(now);
                    }
                    self.flush_stream(id, Some(until), worker)?;
                }
                _ => {}
            }
        }
        self.settle(worker)
    }

    fn close(&mut self, id: StreamId, worker: &mut Worker<'_>) -> Result<(), EngineError> {
        if matches!(self.streams.get(&id).map(|s| &s.state), Some(StreamState::Sampling(_))) {
            self.decide(id, worker)?;
        }
        self.flush_stream(id, None, worker)?;
        self.settle(worker)?;
        if let Some(s) = self.streams.remove(&id) {
            log::debug!("{}: stream {} closed after {} lines", s.info.label, s.name, s.lines);
        }
        self.dirty = true;
        Ok(())
    }

    /// The feed closed: decide what is still sampling, then save.
    fn end(&mut self, worker: &mut Worker<'_>) -> Result<(), EngineError> {
        let sampling: Vec<StreamId> = self
            .streams
            .iter()
            .filter(|(_, s)| matches!(s.state, StreamState::Sampling(_)))
            .map(|(id, _)| *id)
            .collect();
        for id in sampling {
            self.decide(id, worker)?;
            self.after_batch(id, worker)?;
        }
        if self.settings.finish_at_end {
            self.correlating.finish(&mut self.outputs)?;
        } else {
            self.advance()?;
        }
        self.outputs.flush()?;
        Ok(())
    }

    fn reload(&mut self, new: Arc<Detector>) {
        let snapshot = self.correlating.snapshot();
        match new.restore_correlating(snapshot) {
            Ok((correlating, report)) => {
                if !report.discarded.is_empty() {
                    log::warning!(
                        "reload: correlation state that no longer fits the new rules was discarded: {report}"
                    );
                }
                self.correlating = correlating;
            }
            Err(e) => {
                log::error!(
                    "reload: the correlation state could not move to the new rules ({e}); correlation starts afresh"
                );
                self.correlating = new.correlating();
            }
        }
        self.detector = new;
        self.dirty = true;
        // A new worker and correlation side count from zero.
        self.counted_rules.clear();
        self.counted_correlations = self.correlating.alert_counts().to_vec();
        self.evictions_counted = evictions(&self.correlating);
        log::info!(
            "reload: {} detection rules and {} correlation rules now in use",
            self.detector.engine().rules().len(),
            self.detector.correlations().list.len()
        );
    }

    /// Sinks durable, then correlation state, then checkpoints (see the module documentation).
    fn commit(&mut self) -> Result<(), EngineError> {
        self.last_commit = Instant::now();
        self.count_correlation();
        self.outputs.commit()?;
        if !self.dirty && self.streams.values().all(|s| s.file.is_none()) {
            return Ok(());
        }
        let dir = &self.settings.state_dir;
        let json = serde_json::to_vec(&self.correlating.snapshot()).expect("snapshots serialize");
        if let Err(e) = write_atomically(&dir.join(STATE_FILE), &json) {
            self.daemon
                .state_writes
                .with_label_values(&["correlation", "failure"])
                .inc();
            // Checkpoints must not move past state that was not saved.
            return Err(EngineError::State(format!(
                "{}: the correlation state could not be saved: {e}",
                dir.join(STATE_FILE).display()
            )));
        }
        self.daemon
            .state_writes
            .with_label_values(&["correlation", "success"])
            .inc();
        let mut files: Vec<FileCheckpoint> = self.carried.clone();
        for s in self.streams.values() {
            let Some(f) = &s.file else { continue };
            let offset = match &s.state {
                StreamState::Running(ls) => ls.pending_from().map_or(s.processed, |p| p.min(s.processed)),
                StreamState::Sampling(sample) => sample.first().map_or(s.processed, |l| l.1),
                StreamState::Unrecognised => s.processed,
            };
            files.push(FileCheckpoint::new(f, offset));
        }
        files.sort_by(|a, b| (&a.path, a.ino).cmp(&(&b.path, b.ino)));
        match checkpoint::save(dir, &files) {
            Ok(()) => self
                .daemon
                .state_writes
                .with_label_values(&["checkpoints", "success"])
                .inc(),
            Err(e) => {
                self.daemon
                    .state_writes
                    .with_label_values(&["checkpoints", "failure"])
                    .inc();
                return Err(EngineError::State(format!("checkpoints could not be saved: {e}")));
            }
        }
        self.dirty = false;
        Ok(())
    }
}

/// Groups evicted so far, per correlation.
fn evictions(c: &Correlating) -> Vec<u64> {
    let stage = c.stage();
    (0..stage.correlations().list.len())
        .map(|i| stage.stats(i).evicted)
        .collect()
}

/// The correlation state restored into `detector`, or a fresh one when it does not fit.
fn restore(detector: &Detector, snapshot: Snapshot) -> Correlating {
    match detector.restore_correlating(snapshot) {
        Ok((c, report)) => {
            if !report.discarded.is_empty() {
                log::warning!("correlation state restored; what no longer fits the rules was discarded: {report}");
            }
            c
        }
        Err(e) => {
            log::error!("the saved correlation state could not be restored ({e}); correlation starts afresh");
            detector.correlating()
        }
    }
}

/// The saved correlation state in `state_dir`, if any. A damaged file is an error naming it.
pub fn load_state(state_dir: &std::path::Path) -> Result<Option<Snapshot>, String> {
    let path = state_dir.join(STATE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Snapshot::from_json(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The sink's error behind an `io::Error` from the pipeline.
fn sink_error(e: io::Error) -> EngineError {
    EngineError::Sink(SinkError::Io(e))
}

/// A pipeline sink that runs events through the worker into the outputs, observing ingest lag.
struct Detect<'a, 'd, O: Outputs> {
    worker: &'a mut Worker<'d>,
    outputs: &'a mut O,
    lag: prometheus::local::LocalHistogram,
    now_ms: i64,
    /// The newest event time seen.
    newest: Option<i64>,
}

impl<'a, 'd, O: Outputs> Detect<'a, 'd, O> {
    fn new(worker: &'a mut Worker<'d>, outputs: &'a mut O, daemon: &DaemonMetrics, source: &str) -> Self {
        Detect {
            worker,
            outputs,
            lag: daemon.ingest_lag.with_label_values(&[source]).local(),
            now_ms: Timestamp::now().as_millisecond(),
            newest: None,
        }
    }

    /// Publishes the observed lag; the newest event time seen.
    fn finish(self) -> Option<i64> {
        self.lag.flush();
        self.newest
    }
}

impl<O: Outputs> EventSink for Detect<'_, '_, O> {
    fn event(&mut self, event: &mut Event<'_>) -> io::Result<()> {
        if let Some(t) = event.timestamp {
            let t = t.as_millisecond();
            self.lag.observe((self.now_ms - t).max(0) as f64 / 1000.0);
            self.newest = Some(self.newest.map_or(t, |n| n.max(t)));
        }
        self.worker.event(event, self.outputs).map_err(io::Error::from)
    }
}
