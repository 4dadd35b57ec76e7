//! `reconwatch work`: one of N identical workers. Each takes partitions through leases and runs
//! every partition it holds ([`super::partition`]) on a thread of its own.
//!
//! **Leases** live in the key-value bucket `reconwatch-leases`, whose entries expire after
//! `lease` (the bucket's `max_age`): a worker renews `worker.<id>` (it is alive) and
//! `partition.<p>` for each partition it holds, by a compare-and-set update of the revision it
//! wrote last, every `lease / 4`. A worker that stops renewing (killed, frozen, cut off) loses its
//! leases when they expire; another worker then creates the key and takes the partition. A
//! worker holds at most ceil(P / live workers) partitions: when one joins, the others hand
//! surplus partitions over (commit, then delete the lease), so the load evens out.
//!
//! A renewal that fails (the key was taken meanwhile) means the partition is someone else's: it
//! is stopped at once without saving. A partition whose thread fails (JetStream unreachable) is
//! released and taken again, by this or another worker, from its last saved state.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::kv;
use async_nats::jetstream::object_store;
use futures_util::StreamExt as _;
use tokio_util::sync::CancellationToken;

use super::nats::{self, BrokerError, Cluster, NatsPartition};
use super::partition::{self, PartitionSettings};
use crate::daemon::engine::Heartbeat;
use crate::detect::Detector;
use crate::log;
use crate::metrics::BrokerMetrics;
use crate::pipeline::PipelineConfig;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkSettings {
    /// Unique among the workers (default: host name and process id).
    pub id: String,
    pub pipeline: PipelineConfig,
    /// How long a lease lasts without renewal: how soon a lost worker's partitions move.
    pub lease: Duration,
    pub commit_interval: Duration,
    pub idle_timeout: Duration,
    pub ack_wait: Duration,
    /// The worker's series, served on `--listen`.
    pub metrics: BrokerMetrics,
    /// Beaten by the worker's loop (`/healthz`).
    pub heartbeat: Arc<Heartbeat>,
}

struct Held {
    revision: u64,
    stop: CancellationToken,
    lost: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Result<(), BrokerError>>,
}

/// Runs the worker until `shutdown`: then every partition commits and its lease is released.
pub async fn run(
    cluster: Cluster,
    detector: Arc<Detector>,
    settings: WorkSettings,
    shutdown: CancellationToken,
) -> Result<(), BrokerError> {
    let leases = cluster.bucket(nats::LEASE_BUCKET, settings.lease).await?;
    cluster
        .ensure_stream(
            nats::CONTRIB_STREAM,
            nats::CONTRIB_SUBJECT,
            async_nats::jetstream::stream::RetentionPolicy::WorkQueue,
            None,
        )
        .await?;
    cluster
        .ensure_stream(
            nats::ALERTS_STREAM,
            nats::ALERTS_SUBJECT,
            async_nats::jetstream::stream::RetentionPolicy::Limits,
            Some(nats::ALERT_DUPLICATE_WINDOW),
        )
        .await?;
    let store = match cluster.js.get_object_store(nats::STATE_BUCKET).await {
        Ok(s) => s,
        Err(_) => cluster
            .js
            .create_object_store(object_store::Config {
                bucket: nats::STATE_BUCKET.into(),
                storage: async_nats::jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| BrokerError::js(format!("object store {}", nats::STATE_BUCKET), e))?,
    };
    let member = format!("worker.{}", sanitize(&settings.id));
    let mut member_rev: Option<u64> = None;
    let mut held: HashMap<u32, Held> = HashMap::new();
    let runtime = tokio::runtime::Handle::current();
    let mut tick = tokio::time::interval(settings.lease / 4);
    log::info!("worker {}: joining ({} partitions)", settings.id, cluster.partitions);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        settings.heartbeat.beat();
        // Alive.
        member_rev = Some(renew(&leases, &member, member_rev, &settings.id).await);
        // Partitions whose thread ended on its own (an error): released, to be taken again.
        let failed: Vec<u32> = held
            .iter()
            .filter(|(_, h)| h.thread.is_finished())
            .map(|(p, _)| *p)
            .collect();
        for p in failed {
            let h = held.remove(&p).expect("listed");
            if let Ok(Err(e)) = h.thread.join() {
                log::error!("partition {p}: {e}; released, to be taken again from its last saved state");
            }
            let _ = leases.delete(lease_key(p)).await;
        }
        // Renew what is held; what cannot be renewed was taken over.
        for (p, h) in held.iter_mut() {
            match leases
                .update(lease_key(*p), settings.id.clone().into(), h.revision)
                .await
            {
                Ok(r) => h.revision = r,
                // Expired (renewed too late: a busy machine) but no one took it: still ours.
                Err(_) if let Ok(r) = leases.create(lease_key(*p), settings.id.clone().into()).await => {
                    log::warning!("partition {p}: lease renewed late (raise --lease on a busy machine)");
                    h.revision = r;
                }
                Err(e) => {
                    log::warning!("partition {p}: lease lost ({e}); stopping it without saving");
                    h.lost.store(true, Ordering::SeqCst);
                    h.stop.cancel();
                }
            }
        }
        let lost: Vec<u32> = held
            .iter()
            .filter(|(_, h)| h.lost.load(Ordering::SeqCst))
            .map(|(p, _)| *p)
            .collect();
        for p in lost {
            let h = held.remove(&p).expect("listed");
            let _ = tokio::task::spawn_blocking(move || h.thread.join()).await;
        }
        // Fair share.
        let live = live_workers(&leases).await.max(1);
        let share = cluster.partitions.div_ceil(live as u32) as usize;
        if held.len() > share {
            // Hand one over (the highest); the next tick may hand over another.
            if let Some(&p) = held.keys().max() {
                let h = held.remove(&p).expect("present");
                release(p, h, &leases).await;
            }
        } else if held.len() < share {
            for p in 0..cluster.partitions {
                if held.len() >= share {
                    break;
                }
                if held.contains_key(&p) {
                    continue;
                }
                let Ok(revision) = leases.create(lease_key(p), settings.id.clone().into()).await else {
                    continue;
                };
                let stop = CancellationToken::new();
                let lost = Arc::new(AtomicBool::new(false));
                let part = PartitionSettings {
                    partition: p,
                    partitions: cluster.partitions,
                    pipeline: settings.pipeline.clone(),
                    commit_interval: settings.commit_interval,
                    idle_timeout: settings.idle_timeout,
                    metrics: settings.metrics.clone(),
                };
                let io = NatsPartition {
                    cluster: cluster.clone(),
                    store: store.clone(),
                    partition: p,
                    ack_wait: settings.ack_wait,
                    lines_handed: Arc::default(),
                };
                let (handle, detector) = (runtime.clone(), Arc::clone(&detector));
                let (stop2, lost2) = (stop.clone(), Arc::clone(&lost));
                // The partition's detection runs on this thread (built here: its parser state
                // stays on it), its I/O on the runtime.
                let thread = std::thread::Builder::new()
                    .name(format!("reconwatch-p{p}"))
                    .spawn(move || handle.block_on(partition::run(io, detector, part, stop2, lost2)))
                    .map_err(|e| BrokerError::js(format!("partition {p}"), e))?;
                held.insert(
                    p,
                    Held {
                        revision,
                        stop,
                        lost,
                        thread,
                    },
                );
            }
        }
    }
    log::info!(
        "worker {}: stopping; handing over {} partitions",
        settings.id,
        held.len()
    );
    for (p, h) in held.drain() {
        release(p, h, &leases).await;
    }
    let _ = leases.delete(&member).await;
    Ok(())
}

/// Stops a partition (it commits), then lets the lease go.
async fn release(p: u32, h: Held, leases: &kv::Store) {
    h.stop.cancel();
    match tokio::task::spawn_blocking(move || h.thread.join()).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => log::error!("partition {p}: {e} while handing it over"),
        _ => log::error!("partition {p}: its thread panicked"),
    }
    let _ = leases.delete(lease_key(p)).await;
}

fn lease_key(p: u32) -> String {
    format!("partition.{p}")
}

/// A worker id as a key-value key (letters, digits, `-`, `_`).
fn sanitize(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes `key` (creating it, or updating the revision written last).
async fn renew(leases: &kv::Store, key: &str, revision: Option<u64>, value: &str) -> u64 {
    if let Some(r) = revision
        && let Ok(r) = leases.update(key, value.to_owned().into(), r).await
    {
        return r;
    }
    leases.put(key, value.to_owned().into()).await.unwrap_or(0)
}

/// Workers whose membership has not expired.
async fn live_workers(leases: &kv::Store) -> usize {
    let Ok(mut keys) = leases.keys().await else { return 1 };
    let mut n = 0;
    while let Some(k) = keys.next().await {
        if k.is_ok_and(|k| k.starts_with("worker.")) {
            n += 1;
        }
    }
    n
}
