//! `reconwatch ship`: the options and the configuration file turned into the shipper's sources
//! and settings (`broker::ship`), its runtime and its signals.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::run::{pipeline_config, sources};
use crate::broker::nats::{Cluster, MAX_PARTITIONS};
use crate::broker::ship::{ShipSettings, ShipStats, Shipper, read_once};
use crate::broker::transport::LinesOut;
use crate::cli::{BrokerArgs, ShipArgs};
use crate::config::Config;
use crate::daemon::engine::Heartbeat;
use crate::daemon::http;
use crate::daemon::start::{plan_sources, spawn_sources};
use crate::log;
use crate::metrics::{Metrics, ShipMetrics};
use crate::parse::Format;
use crate::source::checkpoint;
use crate::source::feed::SourceInfo;

/// Batches queued between the sources and the shipper (each at most 256 KiB).
const QUEUE: usize = 64;
/// A partition's batch is published at this size (well under NATS's 1 MiB message limit).
const BATCH_BYTES: usize = 128 * 1024;

/// This machine's host name (the default shipper name).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

impl BrokerArgs {
    /// Checks the options that do not need the broker: the partition count, and that Kafka
    /// was built in when `--kafka` is given.
    pub(super) fn check(&self) -> anyhow::Result<()> {
        if !(1..=MAX_PARTITIONS).contains(&self.partitions) {
            bail!(
                "--partitions {}: must be between 1 and {MAX_PARTITIONS}",
                self.partitions
            );
        }
        if let Some(brokers) = &self.kafka
            && !cfg!(feature = "kafka")
        {
            bail!(
                "--kafka {brokers}: this reconwatch was built without Kafka; build it with `cargo build --release --features kafka`"
            );
        }
        Ok(())
    }

    /// Connects to the NATS cluster (creating its streams and buckets on first use).
    pub(super) async fn connect(&self) -> anyhow::Result<Cluster> {
        self.check()?;
        Ok(Cluster::connect(&self.nats, self.partitions).await?)
    }

    /// Connects to the Kafka cluster (creating its topics on first use: all of them for a
    /// worker, the lines topic for a shipper).
    #[cfg(feature = "kafka")]
    pub(super) async fn connect_kafka(
        &self,
        brokers: &str,
        worker: bool,
    ) -> anyhow::Result<crate::broker::kafka::KafkaCluster> {
        self.check()?;
        Ok(crate::broker::kafka::KafkaCluster::connect(brokers, self.partitions, worker).await?)
    }
}

pub fn run(args: &ShipArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(p) => Config::load(p).context("--config")?,
        None => Config::default(),
    };
    let pipeline = pipeline_config(args.timezone.as_deref().or(config.timezone.as_deref()))?;
    let metrics = Arc::new(Metrics::new());
    let settings = ShipSettings {
        metrics: ShipMetrics::register(&metrics.registry),
        heartbeat: Arc::new(Heartbeat::default()),
        host: args.name.clone().unwrap_or_else(host_name),
        pipeline,
        state_dir: args.state_dir.clone().or_else(|| config.state_dir.clone()),
        commit_interval: Duration::from_secs(1),
        batch_bytes: BATCH_BYTES,
        linger: Duration::from_millis(200),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("reconwatch-ship")
        .build()
        .context("starting the I/O runtime")?;
    args.broker.check()?;
    let stats = match &args.broker.kafka {
        None => ship(args, &config, settings, &metrics, &runtime, |rt| {
            rt.block_on(args.broker.connect())
        })?,
        #[cfg(feature = "kafka")]
        Some(brokers) => ship(args, &config, settings, &metrics, &runtime, |rt| {
            rt.block_on(args.broker.connect_kafka(brokers, false))
        })?,
        #[cfg(not(feature = "kafka"))]
        Some(_) => unreachable!("BrokerArgs::check refuses --kafka without the feature"),
    };
    log::info!(
        "shipped {} lines ({} bytes) of {} streams in {} messages{}",
        stats.lines,
        stats.bytes,
        stats.streams,
        stats.messages,
        if stats.unrecognised > 0 {
            format!("; {} lines of unrecognised streams not shipped", stats.unrecognised)
        } else {
            String::new()
        }
    );
    if stats.failed_inputs > 0 {
        log::error!(
            "{} of the inputs could not be read to their end (each named above); the rest was shipped",
            stats.failed_inputs
        );
        return Ok(ExitCode::from(super::EXIT_ERROR));
    }
    Ok(ExitCode::SUCCESS)
}

/// Ships PATHS once or the live sources into the broker `connect` connects to.
fn ship<O: LinesOut>(
    args: &ShipArgs,
    config: &Config,
    settings: ShipSettings,
    metrics: &Arc<Metrics>,
    runtime: &tokio::runtime::Runtime,
    connect: impl FnOnce(&tokio::runtime::Runtime) -> anyhow::Result<O>,
) -> anyhow::Result<ShipStats> {
    if args.paths.is_empty() {
        ship_live(args, config, settings, metrics, runtime, connect)
    } else {
        ship_once(args, settings, runtime, connect)
    }
}

/// PATHS read once: every file its own stream, closed at its end.
fn ship_once<O: LinesOut>(
    args: &ShipArgs,
    settings: ShipSettings,
    runtime: &tokio::runtime::Runtime,
    connect: impl FnOnce(&tokio::runtime::Runtime) -> anyhow::Result<O>,
) -> anyhow::Result<ShipStats> {
    let format = match args.format.as_str() {
        "auto" => None,
        name => Some(Format::from_name(name).with_context(|| format!("--format {name}: unknown format"))?),
    };
    let inputs = crate::source::expand(&args.paths);
    let source = Arc::new(SourceInfo::new("files", format));
    let max_line = settings.pipeline.max_line;
    let cluster = connect(runtime)?;
    let (tx, rx) = mpsc::channel(QUEUE);
    let reader = std::thread::Builder::new()
        .name("reconwatch-read".into())
        .spawn(move || read_once(&inputs, &source, max_line, &tx))
        .context("starting the reader")?;
    let mut stats = runtime.block_on(Shipper::new(cluster, settings, Vec::new()).run(rx))?;
    stats.failed_inputs = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader panicked"))?
        .map_err(anyhow::Error::msg)?;
    Ok(stats)
}

/// The daemon's sources, until SIGTERM or SIGINT; with `--listen`, their metrics and the
/// shipper's served meanwhile.
fn ship_live<O: LinesOut>(
    args: &ShipArgs,
    config: &Config,
    settings: ShipSettings,
    metrics: &Arc<Metrics>,
    runtime: &tokio::runtime::Runtime,
    connect: impl FnOnce(&tokio::runtime::Runtime) -> anyhow::Result<O>,
) -> anyhow::Result<ShipStats> {
    let listen = http::optional_address(args.listen.as_deref())?;
    let planned = plan_sources(&sources(config, &args.sources))?;
    if planned.is_empty() {
        bail!("nothing to ship: give PATHS, --tail, --syslog-udp or --syslog-tcp, or `sources:` in --config");
    }
    let state_dir: PathBuf = settings
        .state_dir
        .clone()
        .context("no state directory: give --state-dir DIR (tailed files' checkpoints are kept there)")?;
    std::fs::create_dir_all(&state_dir).with_context(|| format!("state directory {}", state_dir.display()))?;
    let checkpoints = checkpoint::load(&state_dir)?;
    let source_metrics = settings.metrics.sources.clone();
    let status = Arc::new(http::Status {
        metrics: Arc::clone(metrics),
        heartbeat: Arc::clone(&settings.heartbeat),
        ready: false.into(),
    });
    let cluster = connect(runtime)?;
    let (tx, rx) = mpsc::channel(QUEUE);
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    let mut tail_threads = Vec::new();
    let max_line = settings.pipeline.max_line;
    let shipper = Shipper::new(cluster, settings, checkpoints.clone());
    let result = runtime.block_on(async {
        if let Some(addr) = listen {
            tasks.spawn(http::listen(addr, &status, &cancel).await.map_err(anyhow::Error::msg)?);
        }
        spawn_sources(
            &planned,
            max_line,
            &state_dir,
            &checkpoints,
            &tx,
            &source_metrics,
            &cancel,
            &tasks,
            &mut tail_threads,
        )
        .await?;
        // The sources hold the only senders: the shipper ends when they all have.
        drop(tx);
        let mut shipping = tokio::spawn(shipper.run(rx));
        let mut term = signal(SignalKind::terminate()).context("signal handlers")?;
        let mut int = signal(SignalKind::interrupt()).context("signal handlers")?;
        status.ready.store(true, std::sync::atomic::Ordering::Relaxed);
        log::info!("shipping from {} sources; SIGTERM stops", planned.len());
        tokio::select! {
            _ = term.recv() => log::info!("SIGTERM: stopping intake, shipping what was read"),
            _ = int.recv() => log::info!("SIGINT: stopping intake, shipping what was read"),
            // The shipper stopped on its own: an error.
            r = &mut shipping => {
                cancel.cancel();
                return r.context("the shipper panicked")?.map_err(anyhow::Error::from);
            }
        }
        status.ready.store(false, std::sync::atomic::Ordering::Relaxed);
        cancel.cancel();
        tasks.close();
        tasks.wait().await;
        let stats = shipping.await.context("the shipper panicked")??;
        anyhow::Ok(stats)
    });
    for t in tail_threads {
        let _ = t.join();
    }
    result
}
