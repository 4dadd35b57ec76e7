//! Puts the daemon together and runs it until SIGTERM/SIGINT: the state directory (locked, so
//! two daemons never share one), the sinks, the engine thread, the sources, the HTTP endpoint,
//! signals (SIGHUP reloads), and the shutdown that drains.
//!
//! Shutdown order: stop intake (sources end and drop their side of the queue) → the engine
//! processes everything queued, commits (sinks durable, state and checkpoints saved) and ends →
//! the sinks get what is left of `shutdown_timeout` to deliver their spools (what remains stays
//! spooled for the next start). Past `shutdown_timeout` the process exits anyway: nothing is
//! lost, since checkpoints only ever cover what the sinks took.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::config::{DaemonTuning, SinkConfig, SourceConfig, SourceKind, SuppressConfig, duration};
use super::engine::{Control, Engine, EngineSettings, Heartbeat, Outputs, load_state};
use super::http::{self, Status};
use super::notify::notify;
use crate::alert::SinkError;
use crate::alert::Sinks;
use crate::detect::Detector;
use crate::log;
use crate::metrics::{DaemonMetrics, Metrics};
use crate::parse::Format;
use crate::pipeline::PipelineConfig;
use crate::source::feed::SourceInfo;
use crate::source::{checkpoint, listen, tail};

/// Everything `reconwatch run` needs, already merged from the configuration file and the
/// options.
pub struct Daemon {
    pub sources: Vec<SourceConfig>,
    pub sinks: Vec<SinkConfig>,
    pub suppress: Option<SuppressConfig>,
    pub listen: String,
    pub state_dir: PathBuf,
    pub tuning: DaemonTuning,
    pub pipeline: PipelineConfig,
}

/// Builds a fresh detector from the configuration as it is on disk now (SIGHUP).
pub type Loader = Arc<dyn Fn() -> anyhow::Result<Detector> + Send + Sync>;

/// The sinks as the engine's outputs.
impl Outputs for Sinks {
    fn flush(&mut self) -> Result<(), SinkError> {
        Sinks::flush(self)
    }
    fn commit(&mut self) -> Result<(), SinkError> {
        Sinks::commit(self)
    }
}

/// A checked source, ready to start: its kind, format, TLS settings and intervals parsed once.
pub struct Planned {
    pub info: Arc<SourceInfo>,
    pub config: SourceConfig,
    pub kind: SourceKind,
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    pub poll_interval: Duration,
    pub rotate_wait: Duration,
}

/// Checks every source: one kind each, a known format, TLS files usable, intervals that parse.
/// Errors name the source.
pub fn plan_sources(sources: &[SourceConfig]) -> anyhow::Result<Vec<Planned>> {
    let mut out = Vec::new();
    for s in sources {
        let label = s.label();
        let kind = s.kind().map_err(|e| anyhow::anyhow!("source {label}: {e}"))?;
        let format = match s.format.as_deref() {
            None | Some("auto") => None,
            Some(name) => Some(Format::from_name(name).ok_or_else(|| {
                let names: Vec<_> = Format::ALL.iter().map(|f| f.name()).collect();
                anyhow::anyhow!(
                    "source {label}: format {name}: unknown; use auto or one of: {}",
                    names.join(", ")
                )
            })?),
        };
        let tls = match &s.tls {
            Some(t) => Some(
                crate::tls::server_config(&t.cert, &t.key, t.client_ca.as_deref())
                    .map_err(|e| anyhow::anyhow!("source {label}: tls: {e}"))?,
            ),
            None => None,
        };
        let interval = |key: &str, value: &Option<String>, default: Duration| {
            duration(key, value.as_deref(), default).map_err(|e| anyhow::anyhow!("source {label}: {e}"))
        };
        out.push(Planned {
            info: Arc::new(SourceInfo::new(&label, format)),
            poll_interval: interval("poll_interval", &s.poll_interval, tail::DEFAULT_POLL_INTERVAL)?,
            rotate_wait: interval("rotate_wait", &s.rotate_wait, tail::DEFAULT_ROTATE_WAIT)?,
            config: s.clone(),
            kind,
            tls,
        });
    }
    Ok(out)
}

/// Refuses an alerts file that a tail source would read back (an output that is also an input
/// would feed on itself).
fn refuse_feedback(sources: &[SourceConfig], sinks: &[SinkConfig]) -> anyhow::Result<()> {
    for sink in sinks {
        let Some(out) = &sink.file else { continue };
        let out_id = std::fs::metadata(out).ok().map(|m| {
            use std::os::unix::fs::MetadataExt;
            (m.dev(), m.ino())
        });
        for source in sources {
            let Some(pattern) = &source.tail else { continue };
            let by_name = glob::Pattern::new(pattern).is_ok_and(|p| p.matches_path(out));
            let by_inode = out_id.is_some()
                && glob::glob(pattern).is_ok_and(|paths| {
                    paths.flatten().any(|p| {
                        std::fs::metadata(&p).ok().map(|m| {
                            use std::os::unix::fs::MetadataExt;
                            (m.dev(), m.ino())
                        }) == out_id
                    })
                });
            if by_name || by_inode {
                bail!(
                    "the alerts file {} is also tailed by the source tail:{pattern}: reconwatch would read its own alerts back; write alerts elsewhere",
                    out.display()
                );
            }
        }
    }
    Ok(())
}

/// Checks the `daemon:` durations.
pub fn check_tuning(t: &DaemonTuning) -> Result<(), String> {
    duration(
        "daemon: checkpoint_interval",
        t.checkpoint_interval.as_deref(),
        Duration::ZERO,
    )?;
    duration("daemon: idle_timeout", t.idle_timeout.as_deref(), Duration::ZERO)?;
    duration(
        "daemon: shutdown_timeout",
        t.shutdown_timeout.as_deref(),
        Duration::ZERO,
    )?;
    if t.queue == Some(0) {
        return Err("daemon: queue must be at least 1".into());
    }
    Ok(())
}

/// Creates and locks the state directory (one daemon per directory).
fn lock_state_dir(dir: &Path) -> anyhow::Result<File> {
    std::fs::create_dir_all(dir).with_context(|| format!("state directory {}", dir.display()))?;
    let path = dir.join("lock");
    let file = File::create(&path).with_context(|| format!("state directory {}: cannot write there", dir.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "state directory {}: another reconwatch run is using it (its lock file {} is held)",
            dir.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}

/// Runs the daemon until SIGTERM/SIGINT (or a sink that cannot go on).
pub fn run(d: Daemon, detector: Detector, loader: Loader, metrics: Arc<Metrics>) -> anyhow::Result<()> {
    let daemon_metrics = DaemonMetrics::register(&metrics.registry);
    daemon_metrics
        .started
        .set(jiff::Timestamp::now().as_millisecond() as f64 / 1000.0);
    daemon_metrics
        .reload_last_success
        .set(jiff::Timestamp::now().as_millisecond() as f64 / 1000.0);
    let t = &d.tuning;
    let commit_interval = duration(
        "daemon: checkpoint_interval",
        t.checkpoint_interval.as_deref(),
        Duration::from_secs(5),
    )
    .map_err(anyhow::Error::msg)?;
    let idle_timeout = duration(
        "daemon: idle_timeout",
        t.idle_timeout.as_deref(),
        Duration::from_secs(30),
    )
    .map_err(anyhow::Error::msg)?;
    let shutdown_timeout = duration(
        "daemon: shutdown_timeout",
        t.shutdown_timeout.as_deref(),
        Duration::from_secs(10),
    )
    .map_err(anyhow::Error::msg)?;
    let queue = t.queue.unwrap_or(64).max(1);
    let listen = http::address(&d.listen).map_err(anyhow::Error::msg)?;
    let planned = plan_sources(&d.sources)?;
    if planned.is_empty() {
        bail!("no sources: give --tail, --syslog-udp or --syslog-tcp, or `sources:` in --config");
    }
    refuse_feedback(&d.sources, &d.sinks)?;
    let _lock = lock_state_dir(&d.state_dir)?;
    let checkpoints = checkpoint::load(&d.state_dir)?;
    let restored = load_state(&d.state_dir).map_err(anyhow::Error::msg)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("reconwatch-io")
        .build()
        .context("starting the I/O runtime")?;
    let sinks = Sinks::new(
        &d.sinks,
        d.suppress.as_ref(),
        &d.state_dir,
        daemon_metrics.clone(),
        runtime.handle().clone(),
    )?;

    let heartbeat = Arc::new(Heartbeat::default());
    let (feed_tx, feed_rx) = mpsc::channel(queue);
    daemon_metrics
        .queue_capacity
        .with_label_values(&["feed"])
        .set(queue as i64);
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let engine = Engine::new(
        EngineSettings {
            pipeline: d.pipeline.clone(),
            state_dir: d.state_dir.clone(),
            commit_interval,
            idle_timeout,
            finish_at_end: false,
        },
        Arc::new(detector),
        restored,
        checkpoints.clone(),
        sinks,
        Arc::clone(&metrics),
        daemon_metrics.clone(),
        Arc::clone(&heartbeat),
    )
    .expect_sources(planned.iter().map(|p| p.info.id));
    let engine = std::thread::Builder::new()
        .name("reconwatch-detect".into())
        .spawn(move || engine.run(feed_rx, control_rx))
        .context("starting the detection thread")?;

    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    let status = Arc::new(Status {
        metrics: Arc::clone(&metrics),
        heartbeat,
        ready: false.into(),
    });
    let mut tail_threads = Vec::new();
    let started: anyhow::Result<()> = runtime.block_on(async {
        tasks.spawn(
            http::listen(listen, &status, &cancel)
                .await
                .map_err(anyhow::Error::msg)?,
        );
        spawn_sources(
            &planned,
            d.pipeline.max_line,
            &d.state_dir,
            &checkpoints,
            &feed_tx,
            &daemon_metrics,
            &cancel,
            &tasks,
            &mut tail_threads,
        )
        .await?;
        Ok(())
    });
    // The sources hold the only senders: the engine ends when they all have.
    drop(feed_tx);
    if let Err(e) = started {
        cancel.cancel();
        let _ = stop(
            &runtime,
            &tasks,
            tail_threads,
            engine,
            Instant::now() + shutdown_timeout,
        );
        return Err(e);
    }
    status.ready.store(true, Ordering::Relaxed);
    notify("READY=1\nSTATUS=detecting");
    log::info!(
        "running: {} sources, state in {}; SIGHUP reloads, SIGTERM stops",
        planned.len(),
        d.state_dir.display()
    );

    // Signals: SIGHUP reloads; SIGTERM/SIGINT, or the engine ending on its own, stop.
    let stopped_by = runtime.block_on(async {
        let mut hup = signal(SignalKind::hangup()).expect("signal handlers install");
        let mut term = signal(SignalKind::terminate()).expect("signal handlers install");
        let mut int = signal(SignalKind::interrupt()).expect("signal handlers install");
        let mut check = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = term.recv() => return "SIGTERM",
                _ = int.recv() => return "SIGINT",
                _ = hup.recv() => {
                    notify("RELOADING=1");
                    log::info!("SIGHUP: reloading configuration, rules, watchlists and intel");
                    let loader = Arc::clone(&loader);
                    match tokio::task::spawn_blocking(move || loader()).await {
                        Ok(Ok(new)) => {
                            if control_tx.send(Control::Reload(Arc::new(new))).is_ok() {
                                daemon_metrics.reloads.with_label_values(&["success"]).inc();
                                daemon_metrics.reload_last_success.set(jiff::Timestamp::now().as_millisecond() as f64 / 1000.0);
                            }
                        }
                        Ok(Err(e)) => {
                            daemon_metrics.reloads.with_label_values(&["failure"]).inc();
                            log::error!("reload refused, the running rules stay in use: {e:#}");
                        }
                        Err(e) => {
                            daemon_metrics.reloads.with_label_values(&["failure"]).inc();
                            log::error!("reload failed, the running rules stay in use: {e}");
                        }
                    }
                    notify("READY=1");
                }
                _ = check.tick() => if engine.is_finished() { return "detection ended (its error follows)"; },
            }
        }
    });
    status.ready.store(false, Ordering::Relaxed);
    notify("STOPPING=1");
    log::info!("{stopped_by}: stopping intake, draining what was read");
    cancel.cancel();
    let deadline = Instant::now() + shutdown_timeout;
    stop(&runtime, &tasks, tail_threads, engine, deadline)
}

/// Starts every planned source: a tailer thread per glob (pushed to `tail_threads`, to be
/// joined), a task per listener on the current runtime (in `tasks`). Each sends into `feed_tx`
/// and stops at `cancel`. On an error, the sources started before it are in `tail_threads` and
/// `tasks`.
#[allow(clippy::too_many_arguments)]
pub async fn spawn_sources(
    planned: &[Planned],
    max_line: usize,
    state_dir: &Path,
    checkpoints: &[checkpoint::FileCheckpoint],
    feed_tx: &mpsc::Sender<crate::source::feed::Feed>,
    metrics: &DaemonMetrics,
    cancel: &CancellationToken,
    tasks: &TaskTracker,
    tail_threads: &mut Vec<std::thread::JoinHandle<()>>,
) -> anyhow::Result<()> {
    for p in planned {
        match &p.kind {
            SourceKind::Tail(pattern) => {
                let settings = tail::TailSettings {
                    compressed: p.config.compressed.unwrap_or_default(),
                    poll_interval: p.poll_interval,
                    rotate_wait: p.rotate_wait,
                    max_line,
                    ..tail::TailSettings::new(pattern, Arc::clone(&p.info), state_dir)
                };
                log::info!("{}: tailing", p.info.label);
                tail_threads.push(tail::spawn(
                    settings,
                    checkpoints.to_vec(),
                    feed_tx.clone(),
                    metrics.clone(),
                    cancel.clone(),
                )?);
            }
            SourceKind::SyslogUdp(addr) => {
                let socket = listen::bind_udp(*addr).await?;
                log::info!(
                    "{}: receiving syslog over UDP on {}",
                    p.info.label,
                    socket.local_addr().map_or(*addr, |a| a)
                );
                let settings = listen::ListenerSettings {
                    source: Arc::clone(&p.info),
                    max_line,
                    max_connections: p.config.max_connections.unwrap_or(1024),
                    tls: None,
                };
                tasks.spawn(listen::serve_udp(
                    socket,
                    settings,
                    feed_tx.clone(),
                    metrics.clone(),
                    cancel.clone(),
                ));
            }
            SourceKind::SyslogTcp(addr) => {
                let tls = p.tls.clone();
                let listener = listen::bind_tcp(*addr).await?;
                log::info!(
                    "{}: receiving syslog over {} on {}",
                    p.info.label,
                    if tls.is_some() { "TLS" } else { "TCP" },
                    listener.local_addr().map_or(*addr, |a| a)
                );
                let settings = listen::ListenerSettings {
                    source: Arc::clone(&p.info),
                    max_line,
                    max_connections: p.config.max_connections.unwrap_or(1024),
                    tls,
                };
                tasks.spawn(listen::serve_tcp(
                    listener,
                    settings,
                    feed_tx.clone(),
                    metrics.clone(),
                    cancel.clone(),
                ));
            }
        }
    }
    Ok(())
}

/// Stops the sources, waits for the engine to drain and save, shuts the sinks down.
fn stop(
    runtime: &tokio::runtime::Runtime,
    tasks: &TaskTracker,
    tail_threads: Vec<std::thread::JoinHandle<()>>,
    engine: std::thread::JoinHandle<(Sinks, Result<(), super::engine::EngineError>)>,
    deadline: Instant,
) -> anyhow::Result<()> {
    tasks.close();
    let remaining = deadline.saturating_duration_since(Instant::now());
    if runtime
        .block_on(async { tokio::time::timeout(remaining, tasks.wait()).await })
        .is_err()
    {
        log::warning!(
            "sources did not stop within the shutdown timeout; exiting anyway (checkpoints cover only what was processed)"
        );
    }
    for t in tail_threads {
        // Tailers stop within their poll interval.
        while !t.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if t.is_finished() {
            let _ = t.join();
        }
    }
    while !engine.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if !engine.is_finished() {
        log::warning!(
            "detection did not drain within the shutdown timeout; exiting with the last saved checkpoints (the rest is read again at the next start)"
        );
        return Ok(());
    }
    let (sinks, result) = engine
        .join()
        .map_err(|_| anyhow::anyhow!("the detection thread panicked"))?;
    let _enter = runtime.enter();
    sinks.shutdown(deadline);
    match result {
        Ok(()) => {
            log::info!("stopped: everything read was processed, delivered or spooled, and saved");
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!("detection stopped: {e}")),
    }
}
