//! `reconwatch ship`: the daemon's sources (tailed files, syslog listeners) or files read once,
//! into the broker (NATS JetStream or Kafka: [`LinesOut`]), so that gateways feed a cluster of
//! workers with nothing else installed.
//!
//! The sources hand [`Feed`] messages to one bounded queue, as they do in the daemon. Per stream
//! the shipper decides the format from its first lines exactly as the daemon's engine does (or
//! takes the configured one), then routes every line to a partition ([`super::route`]) and
//! publishes batches of at most `batch_bytes` per partition to `reconwatch.lines` partition p
//! ([`super::lines`]), at the latest one tick after their first line arrived.
//!
//! **At least once.** Publishes are pipelined; at every commit (`commit_interval`, and at the
//! end) the shipper waits for the broker to acknowledge every one (republishing what failed),
//! and only then saves the tailed files' checkpoints: a restart sends again at most what was
//! sent since the last commit, and workers skip lines of a stream below what they processed.
//! While the broker is unreachable the shipper retries and stops reading (the queue fills).
//!
//! It never parses beyond what routing needs (the format, and a Postfix line's queue id).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use jiff::Timestamp;

use super::lines::{self, StreamHeader};
use super::route::Router;
use super::transport::{BrokerError, Confirmation, Headers, LinesOut};
use crate::daemon::engine::{Heartbeat, SAMPLE_LINES, SAMPLE_WAIT};
use crate::log;
use crate::metrics::ShipMetrics;
use crate::pipeline::{self, PipelineConfig};
use crate::source::checkpoint::{self, FileCheckpoint};
use crate::source::feed::{Feed, FeedReceiver, FileIdentity, LineBatch, OpenStream, SourceInfo, StreamId};

/// Publishes awaiting the broker's acknowledgement at once (each at most `batch_bytes`).
const IN_FLIGHT: usize = 64;
/// The wait before a failed publish is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// How the shipper runs.
#[derive(Debug, Clone)]
pub struct ShipSettings {
    /// This shipper's name in stream keys (two gateways' `/var/log/mail.log` are two streams).
    pub host: String,
    /// Detection of each stream's format: time zone, line cap, mail bounds.
    pub pipeline: PipelineConfig,
    /// Where tailed files' checkpoints are kept (none for files read once).
    pub state_dir: Option<PathBuf>,
    pub commit_interval: Duration,
    /// A partition's batch is published when it reaches this size.
    pub batch_bytes: usize,
    /// A partition's batch is published at the latest this long after its first line.
    pub linger: Duration,
    /// Its series (served by `ship --listen`).
    pub metrics: ShipMetrics,
    /// Beaten by its loop (`/healthz`).
    pub heartbeat: Arc<Heartbeat>,
}

/// What a shipper did (the end-of-run summary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShipStats {
    pub streams: u64,
    /// Lines shipped (of streams whose format was recognised), and their bytes.
    pub lines: u64,
    pub bytes: u64,
    /// Messages published (batches and close messages).
    pub messages: u64,
    /// Lines of streams no parser recognised: not shipped (logged per stream).
    pub unrecognised: u64,
    /// PATHS that could not be opened or read to their end (logged each; the rest shipped).
    pub failed_inputs: u64,
}

/// A line kept while a stream's format is being decided: bytes, offset, truncated, next offset.
type Sampled = (Vec<u8>, u64, bool, u64);

enum State {
    Sampling(Vec<Sampled>),
    Routing {
        header: StreamHeader,
        router: Router,
        /// Per partition: the batch being filled, and when its first line came.
        bodies: Vec<(Vec<u8>, Option<Instant>)>,
    },
    Unrecognised,
}

struct Shipped {
    info: Arc<SourceInfo>,
    name: Arc<str>,
    file: Option<FileIdentity>,
    key: String,
    reference_time: Timestamp,
    last_batch: Instant,
    /// The offset after the last line handed to a publish (or counted as unrecognised).
    sent: u64,
    state: State,
}

/// A publish the broker has not acknowledged yet, kept to be sent again if it fails.
struct InFlight {
    partition: u32,
    headers: Headers,
    body: Bytes,
    ack: Confirmation,
}

/// The ship loop: see the module documentation.
pub struct Shipper<O: LinesOut> {
    out: O,
    settings: ShipSettings,
    streams: HashMap<StreamId, Shipped>,
    in_flight: VecDeque<InFlight>,
    /// Checkpoints loaded at start whose file has not been opened yet: kept as they are.
    carried: Vec<FileCheckpoint>,
    last_commit: Instant,
    stats: ShipStats,
}

impl<O: LinesOut> Shipper<O> {
    pub fn new(out: O, settings: ShipSettings, carried: Vec<FileCheckpoint>) -> Shipper<O> {
        Shipper {
            out,
            settings,
            streams: HashMap::new(),
            in_flight: VecDeque::new(),
            carried,
            last_commit: Instant::now(),
            stats: ShipStats::default(),
        }
    }

    /// Ships until the feed closes (every source has stopped), then commits.
    pub async fn run(mut self, mut feed: FeedReceiver) -> Result<ShipStats, BrokerError> {
        let tick = self.settings.linger.min(Duration::from_millis(200));
        loop {
            match tokio::time::timeout(tick, feed.recv()).await {
                Ok(Some(Feed::Open(open))) => self.open(open).await?,
                Ok(Some(Feed::Lines(batch))) => self.lines(batch).await?,
                Ok(Some(Feed::Close { stream })) => self.close(stream).await?,
                Ok(None) => break,
                Err(_) => {}
            }
            self.settings.heartbeat.beat();
            self.tick().await?;
        }
        let open: Vec<StreamId> = self.streams.keys().copied().collect();
        for id in open {
            self.decide_if_sampling(id).await?;
        }
        self.commit().await?;
        Ok(self.stats)
    }

    async fn open(&mut self, open: OpenStream) -> Result<(), BrokerError> {
        if let Some(f) = &open.file {
            self.carried.retain(|c| !(c.dev == f.dev && c.ino == f.ino));
        }
        let key = match &open.file {
            // Stable across restarts: a resumed file continues its stream on the workers.
            Some(f) => format!(
                "{}|{}|{}|{}:{}:{:x}",
                self.settings.host,
                open.source.label,
                f.path.display(),
                f.dev,
                f.ino,
                f.fingerprint.hash
            ),
            // A connection's offsets start at 0: its key must never be reused.
            None => format!(
                "{}|{}|{}|{}.{}",
                self.settings.host,
                open.source.label,
                open.name,
                Timestamp::now().as_microsecond(),
                open.stream.0
            ),
        };
        self.stats.streams += 1;
        let headers = lines::announcement(&key, &open.source.label);
        for p in 0..self.out.partitions() {
            self.publish(p, headers.clone(), Bytes::new()).await?;
        }
        self.streams.insert(
            open.stream,
            Shipped {
                info: open.source,
                name: open.name,
                file: open.file,
                key,
                reference_time: open.reference_time,
                last_batch: Instant::now(),
                sent: open.start,
                state: State::Sampling(Vec::new()),
            },
        );
        Ok(())
    }

    async fn lines(&mut self, batch: LineBatch) -> Result<(), BrokerError> {
        let Some(s) = self.streams.get_mut(&batch.stream) else {
            log::error!(
                "a batch of {} lines arrived for a stream that was never opened (an internal error); not shipped",
                batch.lines.len()
            );
            return Ok(());
        };
        s.last_batch = Instant::now();
        let read = &self.settings.metrics.sources;
        let label: &str = &s.info.label;
        read.source_lines
            .with_label_values(&[label])
            .inc_by(batch.lines.len() as u64);
        read.source_bytes
            .with_label_values(&[label])
            .inc_by(batch.lines.iter().map(|l| u64::from(l.end - l.start) + 1).sum());
        read.source_last_line
            .with_label_values(&[label])
            .set(Timestamp::now().as_millisecond() as f64 / 1000.0);
        if let State::Sampling(sample) = &mut s.state {
            for (i, l) in batch.lines.iter().enumerate() {
                let next = batch.lines.get(i + 1).map_or(batch.consumed, |n| n.offset);
                sample.push((batch.line(i).to_vec(), l.offset, l.truncated, next));
            }
            if sample.len() >= SAMPLE_LINES || s.info.format.is_some() {
                self.decide(batch.stream).await?;
            }
            return Ok(());
        }
        let lines = (0..batch.lines.len()).map(|i| {
            let l = &batch.lines[i];
            (batch.line(i), l.offset, l.truncated)
        });
        self.route(batch.stream, lines, batch.consumed).await
    }

    /// Routes lines of a decided stream into its partitions' batches; `end` is the offset after
    /// the last.
    async fn route<'l>(
        &mut self,
        id: StreamId,
        lines: impl Iterator<Item = (&'l [u8], u64, bool)>,
        end: u64,
    ) -> Result<(), BrokerError> {
        let limit = self.settings.batch_bytes;
        let mut full = Vec::new();
        {
            let s = self.streams.get_mut(&id).expect("the caller checked");
            let (mut shipped, mut shipped_bytes) = (0, 0);
            match &mut s.state {
                State::Routing { router, bodies, .. } => {
                    for (bytes, offset, truncated) in lines {
                        shipped += 1;
                        shipped_bytes += bytes.len() as u64 + 1;
                        let p = router.partition(bytes, offset) as usize;
                        let (body, since) = &mut bodies[p];
                        since.get_or_insert_with(Instant::now);
                        lines::push(body, offset, truncated, bytes);
                        if body.len() >= limit {
                            full.push(p);
                        }
                    }
                }
                State::Unrecognised => {
                    let n = lines.count() as u64;
                    self.stats.unrecognised += n;
                    self.settings
                        .metrics
                        .unrecognised
                        .with_label_values(&[&*s.info.label])
                        .inc_by(n);
                }
                State::Sampling(_) => unreachable!("sampling streams are handled by the caller"),
            }
            if shipped > 0 {
                self.stats.lines += shipped;
                self.stats.bytes += shipped_bytes;
                self.settings
                    .metrics
                    .lines
                    .with_label_values(&[&*s.info.label])
                    .inc_by(shipped);
            }
            s.sent = end;
        }
        full.dedup();
        for p in full {
            self.publish_body(id, p).await?;
        }
        Ok(())
    }

    async fn decide_if_sampling(&mut self, id: StreamId) -> Result<(), BrokerError> {
        if matches!(self.streams.get(&id).map(|s| &s.state), Some(State::Sampling(_))) {
            self.decide(id).await?;
        }
        Ok(())
    }

    /// Decides a sampling stream's format from its sample and routes the sample.
    async fn decide(&mut self, id: StreamId) -> Result<(), BrokerError> {
        let partitions = self.out.partitions();
        let s = self.streams.get_mut(&id).expect("the caller checked");
        let State::Sampling(sample) = std::mem::replace(&mut s.state, State::Unrecognised) else {
            return Ok(());
        };
        if sample.is_empty() {
            s.state = State::Sampling(sample);
            return Ok(());
        }
        let cfg = PipelineConfig {
            format: s.info.format,
            ..self.settings.pipeline.clone()
        };
        match pipeline::detect_sample(sample.iter().map(|l| &l.0[..]), s.reference_time, &cfg) {
            Some(decided) => {
                log::info!(
                    "{}: {} is {}; shipping to {partitions} partitions",
                    s.info.label,
                    s.name,
                    decided.format.name()
                );
                let mut ctx = self.settings.pipeline.parse.clone();
                ctx.reference_time = s.reference_time;
                let header = StreamHeader {
                    stream: s.key.clone(),
                    source: s.info.label.to_string(),
                    format: decided.format,
                    framing: decided.framing,
                    name: s.name.to_string(),
                    reference_ms: s.reference_time.as_millisecond(),
                };
                s.state = State::Routing {
                    header,
                    router: Router::new(&s.key, decided, partitions, &ctx),
                    bodies: vec![(Vec::new(), None); partitions as usize],
                };
            }
            None => {
                let first: String = String::from_utf8_lossy(&sample[0].0).chars().take(120).collect();
                log::error!(
                    "{}: {}: no parser recognises its first {} lines; its lines are not shipped — set `format:` for this source. First line: {first:?}",
                    s.info.label,
                    s.name,
                    sample.len()
                );
            }
        }
        let end = sample.last().map_or(s.sent, |l| l.3);
        let lines = sample.iter().map(|(b, o, t, _)| (b.as_slice(), *o, *t));
        self.route(id, lines, end).await
    }

    /// Publishes partition `p`'s batch of stream `id`, if it has lines.
    async fn publish_body(&mut self, id: StreamId, p: usize) -> Result<(), BrokerError> {
        let Some(Shipped {
            state: State::Routing { header, bodies, .. },
            ..
        }) = self.streams.get_mut(&id)
        else {
            return Ok(());
        };
        let (body, since) = &mut bodies[p];
        if body.is_empty() {
            return Ok(());
        }
        let body = Bytes::from(std::mem::take(body));
        *since = None;
        let headers = header.headers(false);
        self.publish(p as u32, headers, body).await
    }

    /// Publishes one message to partition `p`, keeping it until the broker acknowledges it;
    /// waits for the oldest acknowledgements while too many are outstanding.
    async fn publish(&mut self, partition: u32, headers: Headers, body: Bytes) -> Result<(), BrokerError> {
        while self.in_flight.len() >= IN_FLIGHT {
            self.settle_one().await?;
        }
        let ack = send(&self.out, partition, &headers, &body, &self.settings.metrics).await;
        self.stats.messages += 1;
        self.settings.metrics.messages.inc();
        self.in_flight.push_back(InFlight {
            partition,
            headers,
            body,
            ack,
        });
        self.settings.metrics.unconfirmed.set(self.in_flight.len() as i64);
        Ok(())
    }

    /// Waits for the oldest publish's acknowledgement, sending it again until one comes.
    async fn settle_one(&mut self) -> Result<(), BrokerError> {
        let Some(mut f) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let m = &self.settings.metrics;
        loop {
            match f.ack.await {
                Ok(()) => {
                    m.unconfirmed.set(self.in_flight.len() as i64);
                    m.last_confirmed.set(Timestamp::now().as_millisecond() as f64 / 1000.0);
                    return Ok(());
                }
                Err(e) => {
                    log::warning!("{e} ({}); sending it again", self.out.lines_destination(f.partition));
                    m.retries.inc();
                    tokio::time::sleep(RETRY).await;
                    f.ack = send(&self.out, f.partition, &f.headers, &f.body, m).await;
                }
            }
        }
    }

    async fn close(&mut self, id: StreamId) -> Result<(), BrokerError> {
        self.decide_if_sampling(id).await?;
        self.flush_stream(id, true).await?;
        if let Some(Shipped {
            state: State::Routing { header, .. },
            ..
        }) = self.streams.get(&id)
        {
            let headers = header.headers(true);
            for p in 0..self.out.partitions() {
                self.publish(p, headers.clone(), Bytes::new()).await?;
            }
        }
        // A closed file is read to its end: its checkpoint goes (as in the daemon).
        if let Some(s) = self.streams.remove(&id) {
            log::debug!("{}: stream {} closed", s.info.label, s.name);
        }
        Ok(())
    }

    /// Publishes a stream's batches: all (`all`), or those that waited longer than `linger`.
    async fn flush_stream(&mut self, id: StreamId, all: bool) -> Result<(), BrokerError> {
        let linger = self.settings.linger;
        let due: Vec<usize> = match self.streams.get(&id).map(|s| &s.state) {
            Some(State::Routing { bodies, .. }) => bodies
                .iter()
                .enumerate()
                .filter(|(_, (b, since))| !b.is_empty() && (all || since.is_some_and(|t| t.elapsed() >= linger)))
                .map(|(p, _)| p)
                .collect(),
            _ => Vec::new(),
        };
        for p in due {
            self.publish_body(id, p).await?;
        }
        Ok(())
    }

    async fn tick(&mut self) -> Result<(), BrokerError> {
        let ids: Vec<StreamId> = self.streams.keys().copied().collect();
        for id in ids {
            let waited = self.streams[&id].last_batch.elapsed() >= SAMPLE_WAIT;
            if waited {
                self.decide_if_sampling(id).await?;
            }
            self.flush_stream(id, false).await?;
        }
        if self.last_commit.elapsed() >= self.settings.commit_interval {
            self.commit().await?;
        }
        Ok(())
    }

    /// Everything routed is published and acknowledged; then the checkpoints move.
    async fn commit(&mut self) -> Result<(), BrokerError> {
        self.last_commit = Instant::now();
        let ids: Vec<StreamId> = self.streams.keys().copied().collect();
        for id in ids {
            self.flush_stream(id, true).await?;
        }
        while !self.in_flight.is_empty() {
            self.settle_one().await?;
        }
        let Some(dir) = &self.settings.state_dir else {
            return Ok(());
        };
        let mut files = self.carried.clone();
        for s in self.streams.values() {
            let Some(f) = &s.file else { continue };
            let offset = match &s.state {
                State::Sampling(sample) => sample.first().map_or(s.sent, |l| l.1),
                _ => s.sent,
            };
            files.push(FileCheckpoint::new(f, offset));
        }
        files.sort_by(|a, b| (&a.path, a.ino).cmp(&(&b.path, b.ino)));
        checkpoint::save(dir, &files).map_err(|e| BrokerError::js("saving the checkpoints", e))
    }
}

/// Sends until the broker takes the message (retrying while it cannot be reached).
async fn send<O: LinesOut>(
    out: &O,
    partition: u32,
    headers: &Headers,
    body: &Bytes,
    metrics: &ShipMetrics,
) -> Confirmation {
    let mut warned = false;
    loop {
        match out.publish_lines(partition, headers, body.clone()).await {
            Ok(ack) => return ack,
            Err(e) => {
                if !warned {
                    log::warning!("{e}; retrying every second");
                    warned = true;
                }
                metrics.retries.inc();
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// Reads `inputs` (files, compressed or not) once, whole, into `feed` as streams of `source`:
/// `reconwatch ship PATHS`. Every input is opened first and they are read in turns, a batch
/// each, as a tail of live logs would read them: a stream read after another had been shipped
/// whole would arrive with events older than everything correlated by then (and be late).
/// Runs on the calling thread (file reads block); stops early when the feed closes. An input
/// that cannot be opened or read to its end is logged and skipped (what it gave before the
/// error is shipped); returns how many.
pub fn read_once(
    inputs: &[crate::source::Input],
    source: &Arc<SourceInfo>,
    max_line: usize,
    feed: &crate::source::feed::FeedSender,
) -> Result<u64, String> {
    use crate::source::LineReader;
    use crate::source::feed::Fingerprint;
    use std::os::unix::fs::MetadataExt;
    let send = |msg: Feed| feed.blocking_send(msg).map_err(|_| "the shipper stopped".to_owned());
    let mut open = Vec::new();
    let mut failed = 0;
    for input in inputs {
        let opened = match input.open() {
            Ok(o) => o,
            Err(e) => {
                // The error names the input.
                log::error!("{e}; skipped");
                failed += 1;
                continue;
            }
        };
        let stream = StreamId::next();
        // Only a regular file has an identity: a FIFO's or a device's bytes are read once, by
        // the reader above (opening one again would wait for a writer that is gone).
        let file = input.path.as_ref().and_then(|p| {
            let meta = std::fs::metadata(p).ok().filter(std::fs::Metadata::is_file)?;
            let mut head = std::fs::File::open(p).ok()?;
            let reopened = head.metadata().ok()?;
            if (reopened.dev(), reopened.ino()) != (meta.dev(), meta.ino()) {
                return None;
            }
            Some(FileIdentity {
                path: p.clone(),
                dev: meta.dev(),
                ino: meta.ino(),
                fingerprint: Fingerprint::read(&mut head).ok()?,
            })
        });
        send(Feed::Open(OpenStream {
            stream,
            source: Arc::clone(source),
            name: input.name.as_str().into(),
            start: 0,
            file,
            reference_time: opened.modified.unwrap_or_else(Timestamp::now),
        }))?;
        let reader = LineReader::with_max_line(opened.reader, max_line);
        open.push((stream, input.name.as_str(), reader, None::<(Vec<u8>, u64, bool)>));
    }
    while !open.is_empty() {
        let mut i = 0;
        while i < open.len() {
            let (stream, name, reader, previous) = &mut open[i];
            let mut batch = LineBatch::new(*stream);
            let mut ended = false;
            while !batch.is_full() {
                let line = match reader.next() {
                    None => None,
                    Some(Ok(l)) => Some((l.bytes.to_vec(), l.offset, l.truncated)),
                    Some(Err(e)) => {
                        log::error!("{name}: read error: {e}; the lines before it are shipped");
                        failed += 1;
                        None
                    }
                };
                // A line's end is the next line's start (or what the reader consumed at the end).
                if let Some((bytes, offset, truncated)) = previous.take() {
                    let next = line.as_ref().map_or(reader.consumed(), |l| l.1);
                    batch.push(&bytes, offset, next, truncated);
                }
                match line {
                    Some(l) => *previous = Some(l),
                    None => {
                        ended = true;
                        break;
                    }
                }
            }
            let stream = *stream;
            if !batch.is_empty() {
                send(Feed::Lines(batch))?;
            }
            if ended {
                send(Feed::Close { stream })?;
                open.swap_remove(i);
            } else {
                i += 1;
            }
        }
    }
    Ok(failed)
}
