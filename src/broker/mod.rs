//! Scale-out on a broker (NATS JetStream, or Kafka with the `kafka` feature): `reconwatch ship`
//! puts the daemon's sources' lines into the broker; `reconwatch work` (identical workers) runs
//! the same core as `scan` over partitions of them and publishes alerts back.
//!
//! In the order data flows: [`ship`] (sources → batches of lines per partition, at least once),
//! [`route`] (which partition a line goes to: what a parser reads together stays together),
//! [`lines`] (the message that carries a batch), [`transport`] (what the engine needs from a
//! broker), [`nats`] (the streams, buckets and the partition count every process agrees on, and
//! JetStream's side of the transport), `kafka` (the topics and Kafka's side), [`work`] and
//! `kafka_work` (who runs which partition: leases in NATS KV, or Kafka's consumer group),
//! [`partition`] (the engine of one partition) and [`contrib`]. The cluster's design — why correlation contributions, not
//! lines, are routed by key, and how acks, leases and state work — is in ARCHITECTURE.md
//! ("The broker").
//!
//! Nothing here parses beyond routing, matches or correlates: that is the core's.

pub mod alerts;
pub mod contrib;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "kafka")]
pub mod kafka_work;
pub mod lines;
pub mod nats;
pub mod partition;
pub mod route;
pub mod ship;
pub mod transport;
pub mod work;
