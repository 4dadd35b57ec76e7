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
//! Nothing here reads or writes lines or alerts.

use std::time::Duration;

use async_nats::jetstream::{self, Context, kv, stream};

/// A JetStream operation that failed, with what it was doing.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("NATS {url}: cannot connect: {reason}")]
    Connect { url: String, reason: String },
    #[error("JetStream: {what}: {reason}")]
    JetStream { what: String, reason: String },
    #[error(
        "the cluster was set up with {existing} partitions and this process was started with {given}: give --partitions {existing} (or remove the JetStream objects to start a new cluster)"
    )]
    Partitions { existing: u32, given: u32 },
}

impl BrokerError {
    pub fn js(what: impl Into<String>, reason: impl std::fmt::Display) -> BrokerError {
        BrokerError::JetStream {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

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
            url: url.to_owned(),
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
