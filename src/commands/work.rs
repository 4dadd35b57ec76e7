//! `reconwatch work`: the options turned into a worker's settings (`broker::work`), its
//! detector, runtime and signals.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use super::run::{load, pipeline_config};
use crate::broker::work::{self, WorkSettings};
use crate::cli::WorkArgs;
use crate::daemon::config::duration;
use crate::daemon::engine::Heartbeat;
use crate::daemon::http;
use crate::log;
use crate::metrics::{BrokerMetrics, Metrics};

pub fn run(args: &WorkArgs) -> anyhow::Result<ExitCode> {
    args.broker.check()?;
    let metrics = Metrics::new();
    let (config, detector) = load(
        &args.rules,
        args.live.lateness.as_deref(),
        args.live.max_groups,
        &metrics,
    )?;
    let pipeline = pipeline_config(args.live.timezone.as_deref().or(config.timezone.as_deref()))?;
    let d = |key: &str, text: &str| duration(key, Some(text), Duration::ZERO).map_err(anyhow::Error::msg);
    let lease = d("--lease", &args.lease)?;
    if lease < Duration::from_secs(1) {
        anyhow::bail!("--lease {}: must be at least 1s", args.lease);
    }
    let metrics = Arc::new(metrics);
    let broker_metrics = BrokerMetrics::register(&metrics);
    let heartbeat = Arc::new(Heartbeat::default());
    let listen = http::optional_address(args.listen.as_deref())?;
    let settings = WorkSettings {
        id: args.id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            format!("{}-{}", host.trim(), std::process::id())
        }),
        pipeline,
        lease,
        commit_interval: d("--checkpoint-interval", &args.checkpoint_interval)?,
        idle_timeout: d("--idle-timeout", &args.idle_timeout)?,
        ack_wait: d("--ack-wait", &args.ack_wait)?,
        metrics: broker_metrics,
        heartbeat: Arc::clone(&heartbeat),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("reconwatch-io")
        .build()
        .context("starting the I/O runtime")?;
    let detector = Arc::new(detector);
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let status = Arc::new(http::Status {
            metrics: Arc::clone(&metrics),
            heartbeat,
            ready: AtomicBool::new(false),
        });
        if let Some(addr) = listen {
            tokio::spawn(
                http::listen(addr, &status, &shutdown)
                    .await
                    .map_err(anyhow::Error::msg)?,
            );
        }
        let mut worker = match &args.broker.kafka {
            None => {
                let cluster = args.broker.connect().await?;
                tokio::spawn(work::run(cluster, detector, settings, shutdown.clone()))
            }
            #[cfg(feature = "kafka")]
            Some(brokers) => {
                let cluster = args.broker.connect_kafka(brokers, true).await?;
                tokio::spawn(crate::broker::kafka_work::run(
                    cluster,
                    detector,
                    settings,
                    shutdown.clone(),
                ))
            }
            #[cfg(not(feature = "kafka"))]
            Some(_) => unreachable!("BrokerArgs::check refuses --kafka without the feature"),
        };
        status.ready.store(true, Ordering::Relaxed);
        let mut term = signal(SignalKind::terminate()).context("signal handlers")?;
        let mut int = signal(SignalKind::interrupt()).context("signal handlers")?;
        tokio::select! {
            _ = term.recv() => log::info!("SIGTERM: handing the partitions over"),
            _ = int.recv() => log::info!("SIGINT: handing the partitions over"),
            r = &mut worker => return r.context("the worker panicked")?.map_err(anyhow::Error::from),
        }
        status.ready.store(false, Ordering::Relaxed);
        shutdown.cancel();
        worker.await.context("the worker panicked")??;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
