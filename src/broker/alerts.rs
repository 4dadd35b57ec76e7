//! `reconwatch alerts`: the cluster's alerts, read back from the stream `RECONWATCH_ALERTS` as
//! JSON lines — for a terminal, `reconwatch report -`, or a SIEM's file input. The stream keeps
//! each alert once within its duplicate window; a failover past it can repeat one (at least
//! once), so the reader drops a document it has already written in this run.

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use async_nats::jetstream::consumer;
use futures_util::StreamExt as _;

use super::nats::{self, BrokerError};

/// How the alerts are read.
#[derive(Debug, Clone, Copy)]
pub struct ReadSettings {
    /// Keep reading as alerts come (until the connection ends), instead of stopping at the end.
    pub follow: bool,
}

/// Writes every alert of the stream at `url` to `out`, one per line; returns how many.
pub async fn read(url: &str, settings: ReadSettings, out: &mut dyn Write) -> Result<u64, ReadError> {
    let js = nats::jetstream_at(url).await?;
    let stream = js
        .get_stream(nats::ALERTS_STREAM)
        .await
        .map_err(|e| BrokerError::js(format!("stream {} (no worker has run yet?)", nats::ALERTS_STREAM), e))?;
    // An ordered consumer: ephemeral, in stream order, nothing to acknowledge.
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| BrokerError::js("reading alerts", e))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| BrokerError::js("reading alerts", e))?;
    let mut seen: HashSet<[u8; 16]> = HashSet::new();
    let mut written = 0;
    loop {
        let next = if settings.follow {
            messages.next().await
        } else {
            match tokio::time::timeout(Duration::from_millis(500), messages.next()).await {
                Ok(m) => m,
                // Nothing for half a second: the end, unless the stream says more is pending.
                Err(_) => break,
            }
        };
        let Some(message) = next else { break };
        let message = message.map_err(|e| BrokerError::js("reading alerts", e))?;
        if !settings.follow
            && let Ok(info) = message.info()
            && info.pending == 0
        {
            written += write_once(&mut seen, &message.payload, out)?;
            break;
        }
        written += write_once(&mut seen, &message.payload, out)?;
    }
    out.flush()?;
    Ok(written)
}

/// Writes `doc` unless an identical one was written; 1 when written.
fn write_once(seen: &mut HashSet<[u8; 16]>, doc: &[u8], out: &mut dyn Write) -> std::io::Result<u64> {
    if !seen.insert(document_id(doc)) {
        return Ok(0);
    }
    out.write_all(doc)?;
    out.write_all(b"\n")?;
    Ok(1)
}

/// An alert document's identity: the first 128 bits of its SHA-256. The workers publish it
/// (hex) as the message id JetStream deduplicates by; the reader drops repeats by it.
pub fn document_id(doc: &[u8]) -> [u8; 16] {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(doc);
    digest[..16].try_into().expect("16 bytes")
}

/// Why reading stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("writing alerts: {0}")]
    Io(#[from] std::io::Error),
}
