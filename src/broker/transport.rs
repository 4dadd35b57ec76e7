//! What the shipper and a partition need from a broker, whichever it is (NATS JetStream in
//! [`super::nats`], Kafka in `super::kafka`): publish a batch of lines to partition p, receive a
//! partition's line and contribution messages in order with a sequence number and headers,
//! publish contribution batches and alerts, wait for the broker's confirmations, keep a
//! partition's state, acknowledge what is done and say whether lines wait.
//!
//! The engine (`super::partition`, `super::ship`) is written once against these traits; a
//! transport only maps them onto its broker. Nothing here knows a broker's client types.

use std::future::Future;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

/// A broker operation that failed, with the broker, topic (or subject) and partition it was on.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("{broker}: cannot connect: {reason}")]
    Connect { broker: String, reason: String },
    #[error("JetStream: {what}: {reason}")]
    JetStream { what: String, reason: String },
    #[error("Kafka {brokers}: {what}: {reason}")]
    Kafka {
        brokers: String,
        what: String,
        reason: String,
    },
    #[error(
        "the cluster was set up with {existing} partitions and this process was started with {given}: give --partitions {existing} (or remove the {objects} to start a new cluster)"
    )]
    Partitions {
        existing: u32,
        given: u32,
        objects: &'static str,
    },
}

impl BrokerError {
    pub fn js(what: impl Into<String>, reason: impl std::fmt::Display) -> BrokerError {
        BrokerError::JetStream {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

/// Message headers as both brokers carry them: (name, value) pairs, names compared exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    /// Sets `name` (replacing an earlier value).
    pub fn insert(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_owned(), value)),
        }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// One message of a partition as the engine sees it.
pub struct Delivery<A> {
    /// Increases along the partition (JetStream: the stream sequence; Kafka: the offset).
    pub seq: u64,
    pub headers: Headers,
    pub payload: Bytes,
    /// What acknowledging it takes (JetStream: the message; Kafka: nothing, offsets are
    /// committed per partition).
    pub ack: A,
}

/// A partition's messages, in order. An `Err` item is logged and the stream goes on; the end of
/// the stream is an error of the partition.
pub type Deliveries<A> = BoxStream<'static, Result<Delivery<A>, BrokerError>>;

/// The broker's confirmation that it stored a message.
pub type Confirmation = BoxFuture<'static, Result<(), BrokerError>>;

/// What the shipper needs: batches of lines into their partitions.
pub trait LinesOut: Send + Sync + 'static {
    fn partitions(&self) -> u32;
    /// Where partition `p`'s lines go, for messages (`reconwatch.lines.3`, `reconwatch.lines[3]`).
    fn lines_destination(&self, p: u32) -> String;
    /// Hands a batch to the broker; `Err` when the broker cannot take it now (retried).
    fn publish_lines(
        &self,
        p: u32,
        headers: &Headers,
        body: Bytes,
    ) -> impl Future<Output = Result<Confirmation, BrokerError>> + Send;
}

/// What one partition's engine needs, on the worker that holds the partition.
pub trait PartitionIo: Send + 'static {
    type Ack: Send + Sync + 'static;

    /// The partition's saved state (`None`: never saved).
    fn load_state(&self) -> impl Future<Output = Result<Option<Vec<u8>>, BrokerError>> + Send;
    /// Replaces the partition's saved state.
    fn save_state(&self, state: &[u8]) -> impl Future<Output = Result<(), BrokerError>> + Send;
    /// The partition's lines from the first not acknowledged (`lines_resume`: the sequence the
    /// state says, at or before it) and the contributions routed to it from `contrib_resume`.
    #[allow(clippy::type_complexity)]
    fn open(
        &mut self,
        lines_resume: u64,
        contrib_resume: u64,
    ) -> impl Future<Output = Result<(Deliveries<Self::Ack>, Deliveries<Self::Ack>), BrokerError>> + Send;
    /// Publishes an alert; `id` is the same for the same alert (JetStream drops a repeat within
    /// its duplicate window; Kafka keys the record with it).
    fn publish_alert(
        &self,
        id: &str,
        rule: &str,
        level: &str,
        kind: &str,
        document: Bytes,
    ) -> impl Future<Output = Result<Confirmation, BrokerError>> + Send;
    /// Publishes a batch of contributions to partition `q`.
    fn publish_contributions(
        &self,
        q: u32,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<Confirmation, BrokerError>> + Send;
    /// Whether line messages wait for this partition on the broker (`next_lines`: the sequence
    /// after the last one received). When it cannot tell: yes.
    fn backlog(&self, next_lines: u64) -> impl Future<Output = bool> + Send;
    /// After a commit: `done` are line and contribution messages fully processed, `held` line
    /// messages still needed (a mail message being assembled), `lines_resume` the lowest line
    /// sequence still needed (or the next to come) and `contrib_resume` the next contribution.
    fn acknowledge(
        &mut self,
        done: Vec<Self::Ack>,
        held: Vec<&Self::Ack>,
        lines_resume: u64,
        contrib_resume: u64,
    ) -> impl Future<Output = ()> + Send;
}
