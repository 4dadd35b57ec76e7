//! The Kafka side of [`super::transport`] (feature `kafka`, through rdkafka and the librdkafka it
//! compiles): the topics of a reconwatch cluster, the shipper's publishes and one partition's
//! messages, state and offsets.
//!
//! - topic `reconwatch.lines` (P partitions): batches of lines, partition p = the line
//!   partition p; the record headers are the stream headers of [`super::lines`];
//! - topic `reconwatch.contrib` (P partitions): contribution batches, partition q = the
//!   correlation partition q;
//! - topic `reconwatch.alerts` (P partitions): alert documents, keyed by the alert's id (the
//!   same alert, the same key: a consumer deduplicates by it, a compacted topic keeps one);
//! - topic `reconwatch.state` (P partitions): partition p's state is the last complete save in
//!   partition p, in chunks of at most [`STATE_CHUNK`] bytes (header `Reconwatch-State`: save
//!   id, chunk index, chunk count).
//!
//! Every process creates the topics it needs with P partitions when they are missing and
//! refuses to run when one has another count: the topics' partition count is the cluster's
//! agreement. Who owns a partition is decided by the consumer group `reconwatch-work` (see
//! `super::kafka_work`); a partition's lines are read from its group consumer's queue, its
//! contributions and its state through consumers of their own, assigned by hand (never
//! committed: the state says where contributions resume). The lines offset is committed after
//! each commit of the engine (at least once), never automatically.
//!
//! Nothing here looks inside lines, contributions or alerts.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{FutureExt as _, StreamExt as _};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::stream_consumer::StreamPartitionQueue;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Headers as _, Message as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use super::transport::{BrokerError, Confirmation, Deliveries, Delivery, Headers, LinesOut, PartitionIo};

pub const LINES_TOPIC: &str = "reconwatch.lines";
pub const CONTRIB_TOPIC: &str = "reconwatch.contrib";
pub const ALERTS_TOPIC: &str = "reconwatch.alerts";
pub const STATE_TOPIC: &str = "reconwatch.state";
/// The consumer group of `reconwatch work`: its assignment of `reconwatch.lines` is who owns
/// which partition.
pub const GROUP: &str = "reconwatch-work";
/// A state record's largest payload: under the 1 MB a Kafka broker takes by default.
pub const STATE_CHUNK: usize = 900 * 1024;
const STATE_HEADER: &str = "Reconwatch-State";
/// How long a metadata or watermark request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a reader keeps asking again for offsets the broker skipped before it reads on
/// without them (see `InOrder`).
const HOLE_PATIENCE: Duration = Duration::from_secs(2);

/// A connection to the cluster's Kafka brokers, with the agreed number of partitions.
#[derive(Clone)]
pub struct KafkaCluster {
    pub brokers: String,
    pub partitions: u32,
    pub producer: FutureProducer,
}

impl KafkaCluster {
    /// Connects to `brokers`, creates the cluster's topics if missing (`worker`: all four;
    /// otherwise the lines topic only) and checks that each has `partitions` partitions.
    pub async fn connect(brokers: &str, partitions: u32, worker: bool) -> Result<KafkaCluster, BrokerError> {
        let producer: FutureProducer = Self::config(brokers)
            // Per partition in the order sent, each record once, even when a send is retried.
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.max.bytes", "2000000")
            .create()
            .map_err(|e| BrokerError::Connect {
                broker: format!("Kafka {brokers}"),
                reason: e.to_string(),
            })?;
        let cluster = KafkaCluster {
            brokers: brokers.to_owned(),
            partitions,
            producer,
        };
        let topics: &[&str] = if worker {
            &[LINES_TOPIC, CONTRIB_TOPIC, ALERTS_TOPIC, STATE_TOPIC]
        } else {
            &[LINES_TOPIC]
        };
        cluster.ensure_topics(topics).await?;
        Ok(cluster)
    }

    /// The settings every client of the cluster shares.
    pub fn config(brokers: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", brokers)
            .set("client.id", "reconwatch")
            // librdkafka's own log lines go through its default logger only at warning and up.
            .set("log_level", "4");
        c
    }

    /// An error of this cluster.
    pub fn error(&self, what: impl Into<String>, reason: impl std::fmt::Display) -> BrokerError {
        BrokerError::Kafka {
            brokers: self.brokers.clone(),
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    /// Creates `topics` with the cluster's partition count where missing; checks the count of
    /// those that exist.
    async fn ensure_topics(&self, topics: &[&str]) -> Result<(), BrokerError> {
        let admin: AdminClient<DefaultClientContext> = Self::config(&self.brokers)
            .create()
            .map_err(|e| self.error("creating the admin client", e))?;
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|t| NewTopic::new(t, self.partitions as i32, TopicReplication::Fixed(1)))
            .collect();
        let results = admin
            .create_topics(&new, &AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT)))
            .await
            .map_err(|e| self.error("creating the topics", e))?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => return Err(self.error(format!("creating topic {topic}"), code)),
            }
        }
        for topic in topics {
            let count = self.partition_count(topic).await?;
            if count != self.partitions {
                return Err(BrokerError::Partitions {
                    existing: count,
                    given: self.partitions,
                    objects: "reconwatch.* topics",
                });
            }
        }
        Ok(())
    }

    /// How many partitions `topic` has (waiting a little for a topic just created to show).
    async fn partition_count(&self, topic: &str) -> Result<u32, BrokerError> {
        let producer = self.producer.clone();
        let topic = topic.to_owned();
        let mut tries = 0;
        loop {
            let (p, t) = (producer.clone(), topic.clone());
            let metadata = tokio::task::spawn_blocking(move || {
                use rdkafka::producer::Producer as _;
                p.client().fetch_metadata(Some(&t), REQUEST_TIMEOUT)
            })
            .await
            .map_err(|e| self.error(format!("reading the metadata of topic {topic}"), e))?
            .map_err(|e| self.error(format!("reading the metadata of topic {topic}"), e))?;
            let count = metadata
                .topics()
                .iter()
                .find(|t| t.name() == topic)
                .filter(|t| t.error().is_none())
                .map_or(0, |t| t.partitions().len() as u32);
            tries += 1;
            if count > 0 || tries >= 50 {
                return if count > 0 {
                    Ok(count)
                } else {
                    Err(self.error(format!("topic {topic}"), "it has no partitions (or does not exist)"))
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Hands a record to the producer; the confirmation resolves when the broker stored it.
    fn send(
        &self,
        topic: &'static str,
        partition: Option<u32>,
        key: Option<&str>,
        headers: Option<OwnedHeaders>,
        payload: &[u8],
    ) -> Result<Confirmation, BrokerError> {
        let mut record: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic).payload(payload);
        if let Some(p) = partition {
            record = record.partition(p as i32);
        }
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(h) = headers {
            record = record.headers(h);
        }
        let where_ = match partition {
            Some(p) => format!("{topic}[{p}]"),
            None => topic.to_owned(),
        };
        let delivery = self
            .producer
            .send_result(record)
            .map_err(|(e, _)| self.error(format!("publishing to {where_}"), e))?;
        let cluster = self.clone();
        Ok(async move {
            match delivery.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err((e, _))) => Err(cluster.error(format!("publishing to {where_}"), e)),
                Err(_) => Err(cluster.error(format!("publishing to {where_}"), "the producer was dropped")),
            }
        }
        .boxed())
    }

    /// A consumer that reads what it is assigned by hand (no group membership, no commits).
    fn reader(&self, purpose: &str) -> Result<StreamConsumer, BrokerError> {
        Self::config(&self.brokers)
            .set("group.id", format!("reconwatch-{purpose}"))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            // The end of a partition is where a fetch found nothing past the broker's high
            // watermark (see `InOrder`).
            .set("enable.partition.eof", "true")
            .create()
            .map_err(|e| self.error(format!("creating the {purpose} consumer"), e))
    }

    /// The low and high watermarks of `topic` partition `p`.
    async fn watermarks<C: ConsumerContext + 'static>(
        &self,
        consumer: &Arc<StreamConsumer<C>>,
        topic: &'static str,
        p: u32,
    ) -> Result<(i64, i64), BrokerError> {
        let c = Arc::clone(consumer);
        tokio::task::spawn_blocking(move || c.fetch_watermarks(topic, p as i32, REQUEST_TIMEOUT))
            .await
            .map_err(|e| self.error(format!("watermarks of {topic}[{p}]"), e))?
            .map_err(|e| self.error(format!("watermarks of {topic}[{p}]"), e))
    }

    /// The last complete state saved in `reconwatch.state` partition `p`.
    pub async fn load_state(&self, p: u32) -> Result<Option<Vec<u8>>, BrokerError> {
        let what = format!("reading the state in {STATE_TOPIC}[{p}]");
        let consumer = Arc::new(self.reader("state")?);
        // Only where to start looking: tansu 0.6 answers ListOffsets with the first offset of
        // the last batch it stored plus one, short of the end; the reading below goes on to
        // the end the fetches report.
        let (low, high) = self.watermarks(&consumer, STATE_TOPIC, p).await?;
        if high <= low {
            return Ok(None);
        }
        // The latest save is normally the last few records: read a window back from the end,
        // wider until a complete save is in it.
        let mut window = 16i64;
        loop {
            let start = (high - window).max(low);
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(STATE_TOPIC, p as i32, Offset::Offset(start))
                .map_err(|e| self.error(&what, e))?;
            consumer.assign(&tpl).map_err(|e| self.error(&what, e))?;
            let mut records: Vec<StateRecord> = Vec::new();
            loop {
                let m = tokio::time::timeout(REQUEST_TIMEOUT, consumer.recv())
                    .await
                    .map_err(|_| self.error(&what, "neither a record nor the partition's end within 10 s"))?;
                match m {
                    Ok(m) => records.extend(StateRecord::read(&m)),
                    Err(KafkaError::PartitionEOF(_)) => break,
                    Err(e) => return Err(self.error(&what, e)),
                }
            }
            if let Some(state) = latest_save(&records) {
                return Ok(Some(state));
            }
            if start == low {
                return Err(self.error(&what, "no complete save in the partition"));
            }
            window *= 4;
        }
    }

    /// Appends a save of partition `p`'s state to `reconwatch.state` partition `p` and waits
    /// until the broker stored every chunk.
    pub async fn save_state(&self, p: u32, state: &[u8]) -> Result<(), BrokerError> {
        let id = format!(
            "{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let chunks: Vec<&[u8]> = if state.is_empty() {
            vec![state]
        } else {
            state.chunks(STATE_CHUNK).collect()
        };
        let key = format!("partition-{p}");
        let mut confirmations = Vec::with_capacity(chunks.len());
        for (i, chunk) in chunks.iter().enumerate() {
            let value = format!("{id} {i} {}", chunks.len());
            let headers = OwnedHeaders::new().insert(Header {
                key: STATE_HEADER,
                value: Some(&value),
            });
            confirmations.push(self.send(STATE_TOPIC, Some(p), Some(&key), Some(headers), chunk)?);
        }
        for c in confirmations {
            c.await?;
        }
        Ok(())
    }
}

/// One chunk of a saved state.
struct StateRecord {
    id: String,
    index: usize,
    count: usize,
    payload: Vec<u8>,
}

impl StateRecord {
    fn read(m: &BorrowedMessage<'_>) -> Option<StateRecord> {
        let headers = m.headers()?;
        let value = headers
            .iter()
            .find(|h| h.key == STATE_HEADER)?
            .value
            .and_then(|v| std::str::from_utf8(v).ok())?;
        let mut parts = value.split(' ');
        let id = parts.next()?.to_owned();
        let index = parts.next()?.parse().ok()?;
        let count = parts.next()?.parse().ok()?;
        Some(StateRecord {
            id,
            index,
            count,
            payload: m.payload().unwrap_or_default().to_vec(),
        })
    }
}

/// The state of the newest save whose every chunk is among `records` (in offset order).
fn latest_save(records: &[StateRecord]) -> Option<Vec<u8>> {
    for last in records.iter().rev() {
        if last.index + 1 != last.count {
            continue;
        }
        let chunks: Vec<&StateRecord> = records.iter().filter(|r| r.id == last.id).collect();
        if chunks.len() == last.count && chunks.iter().enumerate().all(|(i, r)| r.index == i) {
            return Some(chunks.iter().flat_map(|r| r.payload.iter().copied()).collect());
        }
    }
    None
}

/// Headers as rdkafka carries them.
pub fn to_owned_headers(h: &Headers) -> OwnedHeaders {
    let mut out = OwnedHeaders::new_with_capacity(h.0.len());
    for (name, value) in h.iter() {
        out = out.insert(Header {
            key: name,
            value: Some(value),
        });
    }
    out
}

/// A record's headers as the engine reads them (a value that is not UTF-8 is left out).
pub fn from_kafka_headers(m: &BorrowedMessage<'_>) -> Headers {
    let mut h = Headers::new();
    if let Some(headers) = m.headers() {
        for header in headers.iter() {
            if let Some(v) = header.value.and_then(|v| std::str::from_utf8(v).ok()) {
                h.insert(header.key, v);
            }
        }
    }
    h
}

/// A received record as a delivery of the engine.
fn delivery(m: &BorrowedMessage<'_>) -> Delivery<()> {
    Delivery {
        seq: m.offset().max(0) as u64,
        headers: from_kafka_headers(m),
        payload: Bytes::copy_from_slice(m.payload().unwrap_or_default()),
        ack: (),
    }
}

impl LinesOut for KafkaCluster {
    fn partitions(&self) -> u32 {
        self.partitions
    }

    fn lines_destination(&self, p: u32) -> String {
        format!("{LINES_TOPIC}[{p}]")
    }

    async fn publish_lines(&self, p: u32, headers: &Headers, body: Bytes) -> Result<Confirmation, BrokerError> {
        self.send(LINES_TOPIC, Some(p), None, Some(to_owned_headers(headers)), &body)
    }
}

/// Partition `p` on the worker the group assigned it to: lines from the group consumer's queue
/// of `reconwatch.lines[p]`, contributions from `reconwatch.contrib[p]` through a consumer of
/// its own, state in `reconwatch.state[p]`, the lines offset committed in the group.
pub struct KafkaPartition<C: ConsumerContext + 'static> {
    pub cluster: KafkaCluster,
    pub group: Arc<StreamConsumer<C>>,
    /// The group consumer's queue of this partition (taken when the partition opens).
    pub lines: Option<StreamPartitionQueue<C>>,
    pub partition: u32,
    /// Set while the lines reader is at the end of the partition (see [`InOrder`]).
    pub lines_end: Arc<AtomicBool>,
}

impl<C: ConsumerContext + 'static> KafkaPartition<C> {
    fn what(&self, topic: &str) -> String {
        format!("{topic}[{}]", self.partition)
    }
}

/// One partition's records as a consumer receives them, and a way to ask again from an offset.
trait PartitionSource: Send + Sync + 'static {
    fn recv(&self) -> impl Future<Output = KafkaResult<BorrowedMessage<'_>>> + Send;
    /// Fetches again from `offset` (asynchronously: what was fetched before is dropped).
    fn seek(&self, offset: i64) -> KafkaResult<()>;
}

/// A partition's lines: its queue, split off the group consumer that seeks it.
struct LinesQueue<C: ConsumerContext + 'static> {
    queue: StreamPartitionQueue<C>,
    group: Arc<StreamConsumer<C>>,
    partition: u32,
}

impl<C: ConsumerContext + 'static> PartitionSource for LinesQueue<C> {
    async fn recv(&self) -> KafkaResult<BorrowedMessage<'_>> {
        self.queue.recv().await
    }

    fn seek(&self, offset: i64) -> KafkaResult<()> {
        self.group.seek(
            LINES_TOPIC,
            self.partition as i32,
            Offset::Offset(offset),
            Duration::ZERO,
        )
    }
}

/// A consumer assigned one partition by hand.
struct Assigned {
    consumer: StreamConsumer,
    topic: &'static str,
    partition: u32,
}

impl PartitionSource for Assigned {
    async fn recv(&self) -> KafkaResult<BorrowedMessage<'_>> {
        self.consumer.recv().await
    }

    fn seek(&self, offset: i64) -> KafkaResult<()> {
        self.consumer.seek(
            self.topic,
            self.partition as i32,
            Offset::Offset(offset),
            Duration::ZERO,
        )
    }
}

/// Reads a partition strictly in offset order from a resume point, and says when it is at the
/// partition's end.
///
/// reconwatch's topics are neither compacted nor written in transactions, so their offsets have
/// no holes: the record after offset o is o + 1. A broker that hands over a later one instead
/// skipped records; tansu 0.6 does (asked to fetch from an offset inside a stored batch, it
/// starts at the next batch; a fetch that runs while another producer's batch is being stored
/// can pass over it). The reader then asks again from the missing offset, and further back
/// each time (a batch's first offset is not known), dropping what it already delivered; only
/// when even a read from offset 0 does not bring the missing offsets (they were deleted, say)
/// does it say so and read on.
///
/// The end is librdkafka's partition EOF: a fetch found nothing past the high watermark that
/// the broker's fetch response gives (not ListOffsets, which tansu 0.6 answers short of the
/// end).
struct InOrder<S: PartitionSource> {
    source: S,
    cluster: KafkaCluster,
    /// `reconwatch.lines[3]`, for messages.
    what: String,
    /// The offset to deliver next.
    next: i64,
    /// How many times the current hole was asked again for, from where last, since when.
    retries: u32,
    retried_from: i64,
    hole_since: Option<Instant>,
    end: Option<Arc<AtomicBool>>,
}

impl<S: PartitionSource> InOrder<S> {
    fn new(source: S, cluster: KafkaCluster, what: String, from: u64, end: Option<Arc<AtomicBool>>) -> InOrder<S> {
        InOrder {
            source,
            cluster,
            what,
            next: from as i64,
            retries: 0,
            retried_from: -1,
            hole_since: None,
            end,
        }
    }

    fn at_end(&self, end: bool) {
        if let Some(flag) = &self.end {
            flag.store(end, Ordering::SeqCst);
        }
    }

    /// The next record in offset order.
    async fn next(&mut self) -> Result<Delivery<()>, BrokerError> {
        loop {
            let m = match self.source.recv().await {
                Ok(m) => m,
                Err(KafkaError::PartitionEOF(_)) => {
                    self.at_end(true);
                    continue;
                }
                Err(e) => return Err(self.cluster.error(format!("reading {}", self.what), e)),
            };
            let offset = m.offset();
            if offset < self.next {
                // Before the resume point, or delivered already before asking again.
                continue;
            }
            if offset > self.next {
                let since = *self.hole_since.get_or_insert_with(Instant::now);
                if self.retried_from != 0 || since.elapsed() < HOLE_PATIENCE {
                    // First from the missing offset itself (a batch still being stored), then
                    // twice as far back each time.
                    let back = if self.retries == 0 {
                        0
                    } else {
                        1i64 << (self.retries - 1).min(62)
                    };
                    let from = self.next.saturating_sub(back).max(0);
                    self.retries += 1;
                    self.retried_from = from;
                    self.at_end(false);
                    if let Err(e) = self.source.seek(from) {
                        return Err(self.cluster.error(
                            format!(
                                "reading {} again from offset {from} (the broker skipped offsets {} to {})",
                                self.what,
                                self.next,
                                offset - 1
                            ),
                            e,
                        ));
                    }
                    continue;
                }
                crate::log::warning!(
                    "Kafka {}: {}: offsets {} to {} never came, even read again from offset 0 (deleted by retention?); reading on at {offset}",
                    self.cluster.brokers,
                    self.what,
                    self.next,
                    offset - 1
                );
            }
            self.retries = 0;
            self.retried_from = -1;
            self.hole_since = None;
            self.next = offset + 1;
            self.at_end(false);
            return Ok(delivery(&m));
        }
    }

    fn into_deliveries(self) -> Deliveries<()> {
        futures_util::stream::unfold(self, |mut reader| async move {
            let item = reader.next().await;
            Some((item, reader))
        })
        .boxed()
    }
}

impl<C: ConsumerContext + 'static> PartitionIo for KafkaPartition<C> {
    type Ack = ();

    async fn load_state(&self) -> Result<Option<Vec<u8>>, BrokerError> {
        self.cluster.load_state(self.partition).await
    }

    async fn save_state(&self, state: &[u8]) -> Result<(), BrokerError> {
        // A worker that lost the partition (the group moved it) must not write over the new
        // owner's state.
        let assigned = self
            .group
            .assignment()
            .map(|tpl| tpl.find_partition(LINES_TOPIC, self.partition as i32).is_some())
            .unwrap_or(false);
        if !assigned {
            return Err(self.cluster.error(
                format!("saving the state of {}", self.what(LINES_TOPIC)),
                "the partition is no longer assigned to this worker",
            ));
        }
        self.cluster.save_state(self.partition, state).await
    }

    async fn open(
        &mut self,
        lines_resume: u64,
        contrib_resume: u64,
    ) -> Result<(Deliveries<()>, Deliveries<()>), BrokerError> {
        let p = self.partition;
        let queue = self.lines.take().ok_or_else(|| {
            self.cluster
                .error(format!("opening {}", self.what(LINES_TOPIC)), "opened twice")
        })?;
        // The group positions the lines at the committed offset; the state's own resume point
        // is at or after it, and what lies between is skipped as already processed.
        let lines = LinesQueue {
            queue,
            group: Arc::clone(&self.group),
            partition: p,
        };
        let lines = InOrder::new(
            lines,
            self.cluster.clone(),
            self.what(LINES_TOPIC),
            lines_resume,
            Some(Arc::clone(&self.lines_end)),
        );
        let contrib = self.cluster.reader(&format!("contrib-{p}"))?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(CONTRIB_TOPIC, p as i32, Offset::Offset(contrib_resume as i64))
            .and_then(|()| contrib.assign(&tpl))
            .map_err(|e| self.cluster.error(format!("reading {}", self.what(CONTRIB_TOPIC)), e))?;
        let contrib = Assigned {
            consumer: contrib,
            topic: CONTRIB_TOPIC,
            partition: p,
        };
        let contrib = InOrder::new(
            contrib,
            self.cluster.clone(),
            self.what(CONTRIB_TOPIC),
            contrib_resume,
            None,
        );
        Ok((lines.into_deliveries(), contrib.into_deliveries()))
    }

    async fn publish_alert(
        &self,
        id: &str,
        rule: &str,
        level: &str,
        kind: &str,
        document: Bytes,
    ) -> Result<Confirmation, BrokerError> {
        let mut h = Headers::new();
        h.insert("Reconwatch-Rule", rule);
        h.insert("Reconwatch-Level", level);
        h.insert("Reconwatch-Kind", kind);
        self.cluster
            .send(ALERTS_TOPIC, None, Some(id), Some(to_owned_headers(&h)), &document)
    }

    async fn publish_contributions(&self, q: u32, body: Vec<u8>) -> Result<Confirmation, BrokerError> {
        self.cluster.send(CONTRIB_TOPIC, Some(q), None, None, &body)
    }

    async fn backlog(&self, _next_lines: u64) -> bool {
        // What this partition's own reader saw, not ListOffsets (see `InOrder`): it is at the
        // end once a fetch found nothing more and no record came since.
        !self.lines_end.load(Ordering::SeqCst)
    }

    async fn acknowledge(&mut self, _done: Vec<()>, _held: Vec<&()>, lines_resume: u64, _contrib: u64) {
        let mut tpl = TopicPartitionList::new();
        if tpl
            .add_partition_offset(LINES_TOPIC, self.partition as i32, Offset::Offset(lines_resume as i64))
            .is_err()
        {
            return;
        }
        let group = Arc::clone(&self.group);
        let result = tokio::task::spawn_blocking(move || group.commit(&tpl, CommitMode::Sync)).await;
        match result {
            Ok(Ok(())) => {}
            // The next commit tries again; a new owner skips what the saved state says is done.
            Ok(Err(e)) => crate::log::warning!(
                "Kafka {}: {}: committing offset {lines_resume}: {e}",
                self.cluster.brokers,
                self.what(LINES_TOPIC)
            ),
            Err(e) => crate::log::warning!(
                "Kafka {}: {}: committing offset {lines_resume}: {e}",
                self.cluster.brokers,
                self.what(LINES_TOPIC)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, index: usize, count: usize, payload: &str) -> StateRecord {
        StateRecord {
            id: id.into(),
            index,
            count,
            payload: payload.as_bytes().to_vec(),
        }
    }

    #[test]
    fn the_newest_complete_save_is_the_state() {
        let records = vec![
            record("a", 0, 2, "old-"),
            record("a", 1, 2, "state"),
            record("b", 0, 3, "new-"),
            record("b", 1, 3, "sta"),
            record("b", 2, 3, "te"),
        ];
        assert_eq!(latest_save(&records).unwrap(), b"new-state");
        // A save cut short (its writer died) leaves the one before it in force.
        let cut = vec![record("a", 0, 1, "whole"), record("b", 0, 2, "half")];
        assert_eq!(latest_save(&cut).unwrap(), b"whole");
        // A window that begins inside a save finds nothing complete in it.
        assert!(latest_save(&[record("b", 1, 2, "x")]).is_none());
    }

    #[test]
    fn headers_round_trip_through_rdkafka() {
        let mut h = Headers::new();
        h.insert("Reconwatch-Stream", "gw|files|/x|1:2:3");
        h.insert("Reconwatch-Close", "1");
        let owned = to_owned_headers(&h);
        let back: Vec<(String, String)> = owned
            .iter()
            .map(|x| (x.key.to_owned(), String::from_utf8(x.value.unwrap().to_vec()).unwrap()))
            .collect();
        assert_eq!(back, h.0);
    }
}
