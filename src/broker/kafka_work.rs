//! `reconwatch work --kafka`: one of N identical workers, whose partitions are the ones the
//! consumer group `reconwatch-work` assigns it in `reconwatch.lines`.
//!
//! The group replaces the leases of the NATS worker (`super::work`): a worker that stops
//! heartbeating for `--lease` (the group's session timeout) is dropped from the group, and the
//! group's next assignment gives its partitions to the others, which read on from the offsets
//! committed last — everything after them comes again (at least once). A joining worker makes
//! the group rebalance the same way.
//!
//! Rebalances are eager: before partitions are revoked, every partition the worker runs is
//! stopped and commits (state saved, then the lines offset committed) inside the rebalance
//! callback, so the next owner starts from that commit. After an assignment each partition's
//! queue is split off the group consumer and handed to a thread of its own running
//! [`super::partition`] on [`KafkaPartition`], which reads the partition's contributions and
//! state through consumers of its own.
//!
//! A partition whose engine fails (the broker unreachable past its timeouts) stops the worker
//! with the error: its partitions go to the others, and a supervisor restarts it.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use tokio_util::sync::CancellationToken;

use super::kafka::{self, KafkaCluster, KafkaPartition};
use super::partition::{self, PartitionSettings};
use super::transport::BrokerError;
use super::work::WorkSettings;
use crate::detect::Detector;
use crate::log;

/// A partition running on its thread.
struct Running {
    stop: CancellationToken,
    thread: std::thread::JoinHandle<Result<(), BrokerError>>,
}

/// What the rebalance callbacks need to start and stop partitions.
struct WorkContext {
    cluster: KafkaCluster,
    detector: Arc<Detector>,
    settings: WorkSettings,
    runtime: tokio::runtime::Handle,
    consumer: OnceLock<Weak<StreamConsumer<WorkContext>>>,
    running: Mutex<HashMap<u32, Running>>,
    /// Errors of partitions that ended on their own, for the main loop to report.
    failed: Mutex<Vec<(u32, BrokerError)>>,
}

impl ClientContext for WorkContext {}

impl ConsumerContext for WorkContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let revoked: Vec<u32> = tpl
                .elements_for_topic(kafka::LINES_TOPIC)
                .iter()
                .map(|e| e.partition() as u32)
                .collect();
            self.stop(&revoked);
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let assigned: Vec<u32> = tpl
                    .elements_for_topic(kafka::LINES_TOPIC)
                    .iter()
                    .map(|e| e.partition() as u32)
                    .collect();
                for p in assigned {
                    self.start(p);
                }
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => {
                log::error!("Kafka {}: group {}: rebalance: {e}", self.cluster.brokers, kafka::GROUP)
            }
        }
    }
}

impl WorkContext {
    /// Starts partition `p` on a thread of its own (its lines: the group consumer's queue).
    fn start(&self, p: u32) {
        let Some(consumer) = self.consumer.get().and_then(Weak::upgrade) else {
            return;
        };
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if running.contains_key(&p) {
            return;
        }
        let Some(queue) = consumer.split_partition_queue(kafka::LINES_TOPIC, p as i32) else {
            log::error!(
                "Kafka {}: {}[{p}]: no such partition to read",
                self.cluster.brokers,
                kafka::LINES_TOPIC
            );
            return;
        };
        let io = KafkaPartition {
            cluster: self.cluster.clone(),
            group: consumer,
            lines: Some(queue),
            partition: p,
            lines_end: Arc::new(AtomicBool::new(false)),
        };
        let settings = PartitionSettings {
            partition: p,
            partitions: self.cluster.partitions,
            pipeline: self.settings.pipeline.clone(),
            commit_interval: self.settings.commit_interval,
            idle_timeout: self.settings.idle_timeout,
            metrics: self.settings.metrics.clone(),
        };
        let stop = CancellationToken::new();
        let (handle, detector, stop2) = (self.runtime.clone(), Arc::clone(&self.detector), stop.clone());
        // The group decides who writes: a worker that lost the partition is refused in
        // `KafkaPartition::save_state`, not through this flag.
        let lost = Arc::new(AtomicBool::new(false));
        // The partition's detection runs on this thread (its parser state stays on it), its
        // I/O on the runtime.
        let thread = std::thread::Builder::new()
            .name(format!("reconwatch-p{p}"))
            .spawn(move || handle.block_on(partition::run(io, detector, settings, stop2, lost)));
        match thread {
            Ok(thread) => {
                running.insert(p, Running { stop, thread });
            }
            Err(e) => log::error!("partition {p}: cannot start its thread: {e}"),
        }
    }

    /// Stops partitions `ps` (each commits) and waits for them.
    fn stop(&self, ps: &[u32]) {
        let stopped: Vec<(u32, Running)> = {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            ps.iter().filter_map(|p| running.remove(p).map(|r| (*p, r))).collect()
        };
        if stopped.is_empty() {
            return;
        }
        let started = std::time::Instant::now();
        for (_, r) in &stopped {
            r.stop.cancel();
        }
        let n = stopped.len();
        for (p, r) in stopped {
            match r.thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => log::error!("partition {p}: {e} while handing it over"),
                Err(_) => log::error!("partition {p}: its thread panicked"),
            }
        }
        // The group waits for this (a member slower than the session timeout is dropped).
        log::info!(
            "group {}: {n} partitions committed and stopped in {} ms",
            kafka::GROUP,
            started.elapsed().as_millis()
        );
    }

    /// Partitions whose thread ended on its own: an error each.
    fn reap(&self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let ended: Vec<u32> = running
            .iter()
            .filter(|(_, r)| r.thread.is_finished())
            .map(|(p, _)| *p)
            .collect();
        for p in ended {
            let r = running.remove(&p).expect("listed");
            let error = match r.thread.join() {
                Ok(Err(e)) => e,
                Ok(Ok(())) => continue,
                Err(_) => BrokerError::Kafka {
                    brokers: self.cluster.brokers.clone(),
                    what: format!("partition {p}"),
                    reason: "its thread panicked".into(),
                },
            };
            self.failed.lock().unwrap_or_else(|e| e.into_inner()).push((p, error));
        }
    }
}

/// Runs the worker until `shutdown`: then every partition commits and the worker leaves the
/// group (its partitions go to the others).
pub async fn run(
    cluster: KafkaCluster,
    detector: Arc<Detector>,
    settings: WorkSettings,
    shutdown: CancellationToken,
) -> Result<(), BrokerError> {
    let session = settings.lease.as_millis().max(1);
    let context = WorkContext {
        cluster: cluster.clone(),
        detector,
        settings: settings.clone(),
        runtime: tokio::runtime::Handle::current(),
        consumer: OnceLock::new(),
        running: Mutex::new(HashMap::new()),
        failed: Mutex::new(Vec::new()),
    };
    let consumer: StreamConsumer<WorkContext> = KafkaCluster::config(&cluster.brokers)
        .set("group.id", kafka::GROUP)
        .set("client.id", format!("reconwatch-{}", settings.id))
        // Offsets move only when a partition commits, after its state is saved.
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // A partition's reader knows it is at the end from this (see `KafkaPartition::backlog`).
        .set("enable.partition.eof", "true")
        .set("session.timeout.ms", session.to_string())
        .set("heartbeat.interval.ms", (session / 4).max(1).to_string())
        .create_with_context(context)
        .map_err(|e| cluster.error(format!("joining group {}", kafka::GROUP), e))?;
    let consumer = Arc::new(consumer);
    let _ = consumer.context().consumer.set(Arc::downgrade(&consumer));
    consumer
        .subscribe(&[kafka::LINES_TOPIC])
        .map_err(|e| cluster.error(format!("subscribing to {}", kafka::LINES_TOPIC), e))?;
    log::info!(
        "worker {}: joining group {} ({} partitions)",
        settings.id,
        kafka::GROUP,
        cluster.partitions
    );
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let result = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            // Serves the group's events (rebalances); every partition's records go to its own
            // queue, so a record here is one fetched before its queue was split off.
            m = consumer.recv() => match m {
                Ok(m) => log::error!(
                    "Kafka {}: {}[{}] offset {}: read outside its partition's queue and not processed (a bug: please report it)",
                    cluster.brokers,
                    kafka::LINES_TOPIC,
                    rdkafka::Message::partition(&m),
                    rdkafka::Message::offset(&m)
                ),
                // The end of a partition before its queue was split off.
                Err(rdkafka::error::KafkaError::PartitionEOF(_)) => {}
                Err(e) => log::warning!("Kafka {}: group {}: {e}", cluster.brokers, kafka::GROUP),
            },
            _ = tick.tick() => {
                settings.heartbeat.beat();
                consumer.context().reap();
                let failed = std::mem::take(&mut *consumer.context().failed.lock().unwrap_or_else(|e| e.into_inner()));
                if let Some((p, e)) = failed.into_iter().next() {
                    log::error!("partition {p}: {e}; the worker stops (its partitions go to the others)");
                    break Err(e);
                }
            }
        }
    };
    log::info!("worker {}: stopping; handing the partitions over", settings.id);
    let held: Vec<u32> = consumer
        .context()
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .keys()
        .copied()
        .collect();
    let context_consumer = Arc::clone(&consumer);
    tokio::task::spawn_blocking(move || {
        context_consumer.context().stop(&held);
        context_consumer.unsubscribe();
    })
    .await
    .map_err(|e| cluster.error("stopping the partitions", e))?;
    result
}
