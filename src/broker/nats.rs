//! The JetStream objects a reconwatch cluster uses, created on first use by whichever process
//! comes first (shipper or worker) and checked by the others:
//!
//! - stream `RECONWATCH_LINES` (`reconwatch.lines.<p>`): shipped lines, work-queue retention
//!   (a message leaves the server once a worker acknowledged it);
//! - stream `RECONWATCH_CONTRIB` (`reconwatch.contrib.<q>`): correlation contributions between
//!   workers, work-queue retention;
//! - stream `RECONWATCH_ALERTS` (`reconwatch.alerts`): alerts, kept by limits (age, bytes), with
//!   a duplicate window so an alert published again after a failover is stored once;
//! - key-value bucket `reconwatch-cluster`: `partitions`, the one number every process must
//!   agree on (a process started with another is refused: lines would go where no one reads);
//! - key-value bucket `reconwatch-leases` and object store `reconwatch-state`: the workers'
//!   (`broker::work`).
//!
//! It is also the NATS side of [`super::transport`]: the shipper's publishes ([`Cluster`] is a
//! [`LinesOut`]) and a partition's messages, state and acks ([`NatsPartition`]). It never looks
//! inside lines, contributions or alerts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{self, AckPolicy, DeliverPolicy};
use async_nats::jetstream::message::{AckKind, Message, PublishMessage};
use async_nats::jetstream::object_store::ObjectStore;
use async_nats::jetstream::{self, Context, kv, stream};
use bytes::Bytes;
use futures_util::{FutureExt as _, StreamExt as _};

pub use super::transport::BrokerError;
use super::transport::{Confirmation, Deliveries, Delivery, Headers, LinesOut, PartitionIo};

pub const LINES_STREAM: &str = "RECONWATCH_LINES";
pub const LINES_SUBJECT: &str = "reconwatch.lines";
pub const CONTRIB_STREAM: &str = "RECONWATCH_CONTRIB";
pub const CONTRIB_SUBJECT: &str = "reconwatch.contrib";
pub const ALERTS_STREAM: &str = "RECONWATCH_ALERTS";
pub const ALERTS_SUBJECT: &str = "reconwatch.alerts";
pub const CLUSTER_BUCKET: &str = "reconwatch-cluster";
pub const LEASE_BUCKET: &str = "reconwatch-leases";
pub const STATE_BUCKET: &str = "reconwatch-state";

/// The default number of partitions: several per worker for a few workers, so that the load
/// evens out when one is lost.
pub const DEFAULT_PARTITIONS: u32 = 12;
/// The most partitions (subjects and consumers per partition stay few).
pub const MAX_PARTITIONS: u32 = 1024;
/// How long an alert published again is recognised as the same one.
pub const ALERT_DUPLICATE_WINDOW: Duration = Duration::from_secs(600);

/// The subject of partition `p` under `prefix` (`reconwatch.lines.3`).
pub fn subject(prefix: &str, p: u32) -> String {
    format!("{prefix}.{p}")
}

/// A JetStream context on the server at `url`.
pub async fn jetstream_at(url: &str) -> Result<Context, BrokerError> {
    let client = async_nats::ConnectOptions::new()
        .name("reconwatch")
        .connect(url)
        .await
        .map_err(|e| BrokerError::Connect {
            broker: format!("NATS {url}"),
            reason: e.to_string(),
        })?;
    Ok(jetstream::new(client))
}

/// A connection to the cluster's JetStream, with the agreed number of partitions.
#[derive(Clone)]
pub struct Cluster {
    pub js: Context,
    pub partitions: u32,
}

impl Cluster {
    /// Connects to `url`, creates the lines stream and the cluster bucket if missing, and
    /// checks that the cluster's partition count is `partitions`.
    pub async fn connect(url: &str, partitions: u32) -> Result<Cluster, BrokerError> {
        let js = jetstream_at(url).await?;
        let cluster = Cluster { js, partitions };
        cluster.agree(partitions).await?;
        cluster
            .ensure_stream(LINES_STREAM, LINES_SUBJECT, stream::RetentionPolicy::WorkQueue, None)
            .await?;
        Ok(cluster)
    }

    /// Writes the partition count if no one has, else checks it.
    async fn agree(&self, partitions: u32) -> Result<(), BrokerError> {
        let kv = self.bucket(CLUSTER_BUCKET, Duration::ZERO).await?;
        let value = partitions.to_string();
        match kv.create("partitions", value.clone().into()).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                let existing = kv
                    .get("partitions")
                    .await
                    .map_err(|e| BrokerError::js("reading the partition count", e))?
                    .and_then(|v| std::str::from_utf8(&v).ok()?.parse::<u32>().ok())
                    .ok_or_else(|| BrokerError::js("reading the partition count", "missing or not a number"))?;
                if existing == partitions {
                    Ok(())
                } else {
                    Err(BrokerError::Partitions {
                        existing,
                        given: partitions,
                        objects: "JetStream objects",
                    })
                }
            }
            Err(e) => Err(BrokerError::js("writing the partition count", e)),
        }
    }

    /// A key-value bucket (`history` 1; entries older than `max_age` expire, zero: never),
    /// created when missing. The bucket's stream is created here with the layout the client's
    /// own `create_key_value` uses: that call first reads the account's information, whose
    /// reply from nats-server 2.9 (Debian's) async-nats 0.52 cannot read.
    pub async fn bucket(&self, bucket: &str, max_age: Duration) -> Result<kv::Store, BrokerError> {
        self.js
            .get_or_create_stream(stream::Config {
                name: format!("KV_{bucket}"),
                subjects: vec![format!("$KV.{bucket}.>")],
                max_messages_per_subject: 1,
                max_age,
                storage: stream::StorageType::File,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                discard: stream::DiscardPolicy::New,
                ..Default::default()
            })
            .await
            .map_err(|e| BrokerError::js(format!("bucket {bucket}"), e))?;
        self.js
            .get_key_value(bucket)
            .await
            .map_err(|e| BrokerError::js(format!("bucket {bucket}"), e))
    }

    /// A stream of the cluster (`name`, subjects `<subject>.*` or `<subject>` when `exact`),
    /// created when missing.
    pub async fn ensure_stream(
        &self,
        name: &str,
        subject: &str,
        retention: stream::RetentionPolicy,
        duplicate_window: Option<Duration>,
    ) -> Result<stream::Stream, BrokerError> {
        let subjects = if retention == stream::RetentionPolicy::Limits {
            vec![subject.to_owned()]
        } else {
            vec![format!("{subject}.*")]
        };
        let mut config = stream::Config {
            name: name.to_owned(),
            subjects,
            retention,
            storage: stream::StorageType::File,
            ..Default::default()
        };
        if let Some(w) = duplicate_window {
            config.duplicate_window = w;
        }
        self.js
            .get_or_create_stream(config)
            .await
            .map_err(|e| BrokerError::js(format!("stream {name}"), e))
    }
}

/// Headers as async-nats carries them.
pub fn to_header_map(h: &Headers) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in h.iter() {
        map.insert(name, value);
    }
    map
}

/// A message's headers as the engine reads them (none: an empty list).
pub fn from_header_map(map: Option<&HeaderMap>) -> Headers {
    let mut h = Headers::new();
    for (name, values) in map.into_iter().flat_map(|m| m.iter()) {
        if let Some(v) = values.first() {
            h.insert(name.as_ref(), v.as_str());
        }
    }
    h
}

fn confirmation(ack: jetstream::context::PublishAckFuture, what: String) -> Confirmation {
    async move { ack.await.map(|_| ()).map_err(|e| BrokerError::js(what, e)) }.boxed()
}

impl LinesOut for Cluster {
    fn partitions(&self) -> u32 {
        self.partitions
    }

    fn lines_destination(&self, p: u32) -> String {
        subject(LINES_SUBJECT, p)
    }

    async fn publish_lines(&self, p: u32, headers: &Headers, body: Bytes) -> Result<Confirmation, BrokerError> {
        let subject = subject(LINES_SUBJECT, p);
        let ack = self
            .js
            .publish_with_headers(subject.clone(), to_header_map(headers), body)
            .await
            .map_err(|e| BrokerError::js(format!("publishing to {subject}"), e))?;
        Ok(confirmation(
            ack,
            format!("JetStream did not acknowledge a batch on {subject}"),
        ))
    }
}

/// Unacknowledged messages a consumer may have out at once: a mail message being assembled
/// holds its first line's message (and those after it) until it completes.
const MAX_ACK_PENDING: i64 = 100_000;

/// The object a partition's state is saved under.
pub fn state_name(p: u32) -> String {
    format!("partition-{p}")
}

/// The consumer names of partition `p`.
fn consumer_name(kind: &str, p: u32) -> String {
    format!("{kind}-{p}")
}

/// Partition `p` on JetStream: durable pull consumers `lines-<p>` and `contrib-<p>` (explicit
/// acks, re-created by each new owner so that what the last one did not acknowledge comes back
/// first, in order), state in the object store `reconwatch-state`, alerts with `Nats-Msg-Id`.
pub struct NatsPartition {
    pub cluster: Cluster,
    pub store: ObjectStore,
    pub partition: u32,
    /// How long JetStream waits for an ack before it delivers a message again.
    pub ack_wait: Duration,
    /// The consumer sequence of the last line message handed to the partition: the server's
    /// delivered count beyond it is lines pulled into this client that the partition has not
    /// reached yet.
    pub lines_handed: Arc<AtomicU64>,
}

impl NatsPartition {
    /// The partition's durable consumer on `stream`, re-created so that it delivers again, in
    /// order, everything not acknowledged.
    async fn consumer(&self, stream: &str, prefix: &str, kind: &str) -> Result<Deliveries<Message>, BrokerError> {
        let p = self.partition;
        let name = consumer_name(kind, p);
        let s = self
            .cluster
            .js
            .get_stream(stream)
            .await
            .map_err(|e| BrokerError::js(format!("stream {stream}"), e))?;
        // Whatever the last owner had delivered and not acked comes back now, in order.
        let _ = s.delete_consumer(&name).await;
        let consumer: consumer::PullConsumer = s
            .create_consumer(consumer::pull::Config {
                durable_name: Some(name.clone()),
                filter_subject: subject(prefix, p),
                ack_policy: AckPolicy::Explicit,
                ack_wait: self.ack_wait,
                max_ack_pending: MAX_ACK_PENDING,
                max_deliver: -1,
                // A work-queue stream keeps only what was not acknowledged: delivering all of
                // it is resuming at the first unacknowledged message (the saved resume sequence
                // is that one's or earlier; lines below a stream's checkpoint are skipped by
                // offset).
                deliver_policy: DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|e| BrokerError::js(format!("consumer {name}"), e))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| BrokerError::js(format!("consumer {name}"), e))?;
        let handed = (kind == "lines").then(|| Arc::clone(&self.lines_handed));
        if let Some(h) = &handed {
            h.store(0, Ordering::SeqCst);
        }
        Ok(messages
            .filter_map(move |m| {
                let name = name.clone();
                let handed = handed.clone();
                async move {
                    let m = match m {
                        Ok(m) => m,
                        Err(e) => return Some(Err(BrokerError::js(format!("consumer {name}"), e))),
                    };
                    // A message without JetStream metadata cannot be acknowledged: skipped.
                    let info = m.info().ok()?;
                    let seq = info.stream_sequence;
                    if let Some(h) = &handed {
                        h.fetch_max(info.consumer_sequence, Ordering::SeqCst);
                    }
                    Some(Ok(Delivery {
                        seq,
                        headers: from_header_map(m.headers.as_ref()),
                        payload: m.payload.clone(),
                        ack: m,
                    }))
                }
            })
            .boxed())
    }
}

impl PartitionIo for NatsPartition {
    type Ack = Message;

    async fn load_state(&self) -> Result<Option<Vec<u8>>, BrokerError> {
        use tokio::io::AsyncReadExt as _;
        let name = state_name(self.partition);
        let mut object = match self.store.get(&name).await {
            Ok(o) => o,
            Err(e) if e.kind() == jetstream::object_store::GetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(BrokerError::js(format!("reading {name}"), e)),
        };
        let mut bytes = Vec::new();
        object
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| BrokerError::js(format!("reading {name}"), e))?;
        Ok(Some(bytes))
    }

    async fn save_state(&self, state: &[u8]) -> Result<(), BrokerError> {
        let name = state_name(self.partition);
        self.store
            .put(name.as_str(), &mut &state[..])
            .await
            .map_err(|e| BrokerError::js(format!("saving {name}"), e))?;
        Ok(())
    }

    async fn open(
        &mut self,
        _lines: u64,
        _contrib: u64,
    ) -> Result<(Deliveries<Message>, Deliveries<Message>), BrokerError> {
        let lines = self.consumer(LINES_STREAM, LINES_SUBJECT, "lines").await?;
        let contrib = self.consumer(CONTRIB_STREAM, CONTRIB_SUBJECT, "contrib").await?;
        Ok((lines, contrib))
    }

    async fn publish_alert(
        &self,
        id: &str,
        rule: &str,
        level: &str,
        kind: &str,
        document: Bytes,
    ) -> Result<Confirmation, BrokerError> {
        let publish = PublishMessage::build()
            .header("Nats-Msg-Id", id)
            .header("Reconwatch-Rule", rule)
            .header("Reconwatch-Level", level)
            .header("Reconwatch-Kind", kind)
            .payload(document);
        let ack = self
            .cluster
            .js
            .send_publish(ALERTS_SUBJECT, publish)
            .await
            .map_err(|e| BrokerError::js(format!("publishing an alert to {ALERTS_SUBJECT}"), e))?;
        Ok(confirmation(
            ack,
            format!("JetStream did not acknowledge an alert on {ALERTS_SUBJECT}"),
        ))
    }

    async fn publish_contributions(&self, q: u32, body: Vec<u8>) -> Result<Confirmation, BrokerError> {
        let subject = subject(CONTRIB_SUBJECT, q);
        let ack = self
            .cluster
            .js
            .publish(subject.clone(), body.into())
            .await
            .map_err(|e| BrokerError::js(format!("publishing contributions to {subject}"), e))?;
        Ok(confirmation(
            ack,
            format!("JetStream did not acknowledge contributions on {subject}"),
        ))
    }

    async fn backlog(&self, _next_lines: u64) -> bool {
        let name = consumer_name("lines", self.partition);
        let Ok(stream) = self.cluster.js.get_stream(LINES_STREAM).await else {
            return true;
        };
        match stream.consumer_info(&name).await {
            // `num_pending` counts only what the server has not delivered yet: lines the client
            // already pulled and the partition has not reached (a busy or stalled worker) wait
            // too. Without them, a partition that falls behind calls its streams quiet and
            // moves event time past its own unread lines (they then reach stage 2 late).
            Ok(info) => {
                info.num_pending > 0 || info.delivered.consumer_sequence > self.lines_handed.load(Ordering::SeqCst)
            }
            Err(_) => true,
        }
    }

    async fn acknowledge(&mut self, done: Vec<Message>, held: Vec<&Message>, _lines: u64, _contrib: u64) {
        for m in done {
            let _ = m.ack().await;
        }
        // Still needed (mail being assembled): not delivered again meanwhile.
        for m in held {
            let _ = m.ack_with(AckKind::Progress).await;
        }
    }
}
