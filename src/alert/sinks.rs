//! The daemon's alert fan-out, [`Sinks`]: built from the `sinks:` and `suppress:` keys, it takes
//! each alert from the engine's thread (synchronously), holds back repeats ([`super::suppress`])
//! and hands it to every configured sink: standard output and files ([`super::file`]) written
//! directly; webhooks ([`super::webhook`]) and syslog over TCP/TLS ([`super::forward`]) through a
//! durable spool ([`super::spool`]) emptied by a delivery task on the tokio runtime; syslog over
//! UDP sent at once.
//!
//! It never drops an alert on its own: a local write error blocks and retries, a full spool
//! makes detection wait, a receiver that is down leaves alerts spooled (across restarts). The
//! one error handed back is a closed standard output, on which the engine stops without moving
//! its checkpoints past the alert.

use std::collections::HashSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::HeaderMap;
use tokio_rustls::rustls::ClientConfig;
use tokio_util::sync::CancellationToken;

use super::file::{Backoff, FileSink, StdoutSink, check_path};
use super::forward::{Carrier, Rfc5424, StreamForward, UdpForward, parse_target};
use super::net::{Peer, tls_client};
use super::spool::{self, Delivery, Shared, SpoolWriter, Transport};
use super::suppress::{self, Suppressor};
use super::webhook::{Webhook, parse_headers, parse_url};
use super::{Alert, AlertSink, SinkError};
use crate::daemon::config::{SinkConfig, SinkKind, SuppressConfig, duration};
use crate::log::{error, warning};
use crate::metrics::DaemonMetrics;

const DEFAULT_KEEP: usize = 5;
const DEFAULT_BATCH: usize = 100;
/// A bigger batch makes one huge request that is retried whole.
const MAX_BATCH: usize = 10_000;
/// A POST's body (or one write of syslog frames) stops growing past this, whatever `batch` says.
const BATCH_BYTES: usize = 4 << 20;
/// Syslog frames written at once over TCP/TLS.
const SYSLOG_BATCH: usize = 500;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(300);
const DEFAULT_SPOOL_MAX: u64 = 1 << 30;

/// A sink or suppression setting that cannot be used: which, and why.
#[derive(Debug, thiserror::Error)]
pub enum SinkSetupError {
    #[error("sink {sink}: {reason}")]
    Sink { sink: String, reason: String },
    #[error("suppress: {0}")]
    Suppress(String),
}

/// A sink's configuration, checked.
enum Plan {
    Stdout,
    File {
        path: PathBuf,
        max_size: Option<u64>,
        keep: usize,
    },
    Webhook {
        url: String,
        headers: HeaderMap,
        timeout: Duration,
        tls: Option<Arc<ClientConfig>>,
        batch: usize,
        backoff: Backoff,
        spool_max: u64,
    },
    SyslogUdp {
        host: String,
        port: u16,
    },
    SyslogStream {
        peer: Peer,
        backoff: Backoff,
        spool_max: u64,
    },
}

/// The keys given besides the sink's kind.
fn given(c: &SinkConfig) -> impl Iterator<Item = &'static str> {
    [
        ("max_size", c.max_size.is_some()),
        ("keep", c.keep.is_some()),
        ("batch", c.batch.is_some()),
        ("headers", !c.headers.is_empty()),
        ("timeout", c.timeout.is_some()),
        ("max_backoff", c.max_backoff.is_some()),
        ("spool_max", c.spool_max.is_some()),
        ("ca", c.ca.is_some()),
        ("cert", c.cert.is_some()),
        ("key", c.key.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, present)| present.then_some(k))
}

/// A key that does not apply to this sink is an error: it says the configuration means something
/// the daemon would not do.
fn only(c: &SinkConfig, allowed: &[&str], what: &str) -> Result<(), String> {
    match given(c).find(|k| !allowed.contains(k)) {
        Some(k) => Err(format!("{k} does not apply to {what}")),
        None => Ok(()),
    }
}

fn size(key: &str, text: Option<&str>) -> Result<Option<u64>, String> {
    text.map(|t| crate::size::parse_chunk_size(t).map_err(|e| format!("{key}: {t:?}: {e:#}")))
        .transpose()
}

fn backoff(c: &SinkConfig) -> Result<Backoff, String> {
    let max = duration("max_backoff", c.max_backoff.as_deref(), DEFAULT_MAX_BACKOFF)?;
    let min = Duration::from_secs(1);
    if max < min {
        return Err("max_backoff: must be at least 1s (retries start at 1s)".into());
    }
    Ok(Backoff { min, max })
}

fn spool_max(c: &SinkConfig) -> Result<u64, String> {
    Ok(size("spool_max", c.spool_max.as_deref())?.unwrap_or(DEFAULT_SPOOL_MAX))
}

fn tls(c: &SinkConfig) -> Result<Arc<ClientConfig>, String> {
    tls_client(c.ca.as_deref(), c.cert.as_deref(), c.key.as_deref())
}

const TLS_KEYS: [&str; 3] = ["ca", "cert", "key"];
const WEBHOOK_KEYS: [&str; 5] = ["batch", "headers", "timeout", "max_backoff", "spool_max"];
const SPOOL_KEYS: [&str; 2] = ["max_backoff", "spool_max"];

fn plan(c: &SinkConfig) -> Result<Plan, String> {
    Ok(match c.kind()? {
        SinkKind::Stdout => {
            only(c, &[], "a stdout sink")?;
            Plan::Stdout
        }
        SinkKind::File(path) => {
            only(c, &["max_size", "keep"], "a file sink")?;
            check_path(&path)?;
            Plan::File {
                path,
                max_size: size("max_size", c.max_size.as_deref())?,
                keep: c.keep.unwrap_or(DEFAULT_KEEP),
            }
        }
        SinkKind::Webhook(url) => {
            let parsed = parse_url(&url)?;
            let tls = if parsed.https {
                only(c, &[&WEBHOOK_KEYS[..], &TLS_KEYS].concat(), "a webhook")?;
                Some(tls(c)?)
            } else {
                only(c, &WEBHOOK_KEYS, "an http:// webhook (TLS settings need https://)")?;
                None
            };
            let batch = c.batch.unwrap_or(DEFAULT_BATCH);
            if !(1..=MAX_BATCH).contains(&batch) {
                return Err(format!("batch: {batch} is not between 1 and {MAX_BATCH}"));
            }
            let timeout = duration("timeout", c.timeout.as_deref(), DEFAULT_TIMEOUT)?;
            if timeout.is_zero() {
                return Err("timeout: must be longer than 0".into());
            }
            Plan::Webhook {
                headers: parse_headers(&c.headers)?,
                url,
                timeout,
                tls,
                batch,
                backoff: backoff(c)?,
                spool_max: spool_max(c)?,
            }
        }
        SinkKind::Syslog(url) => {
            let (carrier, host, port) = parse_target(&url)?;
            match carrier {
                Carrier::Udp => {
                    only(c, &[], "a udp:// syslog sink (no spool, no TLS)")?;
                    Plan::SyslogUdp { host, port }
                }
                Carrier::Tcp | Carrier::Tls => {
                    let tls = if carrier == Carrier::Tls {
                        only(c, &[&SPOOL_KEYS[..], &TLS_KEYS].concat(), "a tls:// syslog sink")?;
                        Some(tls(c)?)
                    } else {
                        only(c, &SPOOL_KEYS, "a tcp:// syslog sink (TLS settings need tls://)")?;
                        None
                    };
                    Plan::SyslogStream {
                        peer: Peer::new(&host, port, tls)?,
                        backoff: backoff(c)?,
                        spool_max: spool_max(c)?,
                    }
                }
            }
        }
    })
}

/// The name of sink `i` in messages: its label, or its place when it has no valid kind.
fn name(i: usize, c: &SinkConfig) -> String {
    match c.kind() {
        Ok(_) => c.label(),
        Err(_) => format!("#{} of sinks", i + 1),
    }
}

/// A label made a directory name: anything but letters, digits, `.`, `_` and `-` becomes `_`.
fn spool_dir_name(label: &str) -> String {
    let mut s: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Well below a file name's 255 bytes; collisions are refused in `plans`.
    s.truncate(200);
    s
}

/// Every sink checked, with its name; two sinks that would write the same target or spool are
/// refused.
fn plans(configs: &[SinkConfig]) -> Result<Vec<(String, Plan)>, SinkSetupError> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(configs.len());
    for (i, c) in configs.iter().enumerate() {
        let sink = name(i, c);
        let fail = |reason: String| SinkSetupError::Sink {
            sink: sink.clone(),
            reason,
        };
        let plan = plan(c).map_err(fail)?;
        if !seen.insert(spool_dir_name(&sink)) {
            return Err(fail(
                "configured twice (or a sink whose name differs only in punctuation); each target once".into(),
            ));
        }
        out.push((sink, plan));
    }
    Ok(out)
}

/// One configured sink.
enum Target {
    Stdout(StdoutSink),
    File(FileSink),
    Udp(UdpForward),
    Spooled {
        writer: SpoolWriter,
        /// For syslog: the message is rendered before it is spooled.
        syslog: Option<(Rfc5424, Vec<u8>)>,
    },
}

impl Target {
    fn alert(&mut self, alert: &Alert) -> Result<(), SinkError> {
        match self {
            Target::Stdout(s) => return s.alert(alert),
            Target::File(f) => f.alert(alert),
            Target::Udp(u) => u.alert(alert),
            Target::Spooled {
                writer,
                syslog: Some((render, buf)),
            } => {
                render.render(alert, jiff::Timestamp::now(), buf);
                writer.append(buf);
            }
            Target::Spooled { writer, syslog: None } => writer.append(&alert.json),
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        match self {
            Target::Stdout(s) => return s.flush(),
            Target::File(f) => f.flush(),
            Target::Udp(_) => {}
            Target::Spooled { writer, .. } => writer.flush(),
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), SinkError> {
        match self {
            Target::Stdout(s) => s.flush(),
            Target::File(f) => f.commit(),
            Target::Udp(_) => Ok(()),
            Target::Spooled { writer, .. } => Ok(writer.commit()?),
        }
    }
}

/// What building the sinks needs besides their settings.
struct Env<'a> {
    state_dir: &'a Path,
    metrics: &'a DaemonMetrics,
    runtime: &'a tokio::runtime::Handle,
}

/// Every configured sink, behind one [`AlertSink`]: repeat suppression, then standard output,
/// files, webhooks and syslog. Never drops an alert on its own (a local write error blocks and
/// retries, a full spool makes detection wait, an unreachable receiver leaves alerts spooled
/// across restarts); the one error handed back is a closed standard output.
pub struct Sinks {
    targets: Vec<Target>,
    suppress: Option<Suppressor>,
    /// The spooled sinks' names and queues, for shutdown.
    spools: Vec<(String, Arc<Shared>)>,
    /// Stops the delivery tasks (at shutdown's deadline, or when dropped).
    cancel: CancellationToken,
}

impl Sinks {
    /// Builds every sink: opens files (appending; their directory must exist), opens spools
    /// under `state_dir/spool/<sink name>/` (delivering first what an earlier run left), loads
    /// TLS files and spawns the delivery tasks on `runtime`. Errors name the sink and the reason.
    pub fn new(
        configs: &[SinkConfig],
        suppress: Option<&SuppressConfig>,
        state_dir: &Path,
        metrics: DaemonMetrics,
        runtime: tokio::runtime::Handle,
    ) -> Result<Sinks, SinkSetupError> {
        Self::with_stdout(configs, suppress, state_dir, metrics, runtime, Box::new(io::stdout()))
    }

    /// [`new`](Self::new), with `stdout` in place of the process's standard output (tests).
    pub fn with_stdout(
        configs: &[SinkConfig],
        suppress: Option<&SuppressConfig>,
        state_dir: &Path,
        metrics: DaemonMetrics,
        runtime: tokio::runtime::Handle,
        stdout: Box<dyn Write + Send>,
    ) -> Result<Sinks, SinkSetupError> {
        let suppress = suppress
            .map(|s| Suppressor::new(s, metrics.clone()))
            .transpose()
            .map_err(SinkSetupError::Suppress)?;
        let mut sinks = Sinks {
            targets: Vec::new(),
            suppress,
            spools: Vec::new(),
            cancel: CancellationToken::new(),
        };
        let mut stdout = Some(stdout);
        let env = Env {
            state_dir,
            metrics: &metrics,
            runtime: &runtime,
        };
        for (sink, plan) in plans(configs)? {
            let fail = |reason: String| SinkSetupError::Sink {
                sink: sink.clone(),
                reason,
            };
            let target = match plan {
                Plan::Stdout => Target::Stdout(StdoutSink::new(
                    stdout.take().expect("a second stdout sink is refused in plans"),
                    metrics.clone(),
                )),
                Plan::File { path, max_size, keep } => {
                    Target::File(FileSink::open(sink.clone(), &path, max_size, keep, metrics.clone()).map_err(fail)?)
                }
                Plan::SyslogUdp { host, port } => {
                    Target::Udp(UdpForward::open(&host, port, sink.clone(), metrics.clone()).map_err(fail)?)
                }
                Plan::Webhook {
                    url,
                    headers,
                    timeout,
                    tls,
                    batch,
                    backoff,
                    spool_max,
                } => {
                    let webhook = Webhook::new(&url, headers, timeout, tls).map_err(fail)?;
                    let policy = Delivery {
                        max_records: batch,
                        max_bytes: BATCH_BYTES,
                        backoff,
                    };
                    let writer = sinks.spooled(&env, &sink, spool_max, webhook, policy)?;
                    Target::Spooled { writer, syslog: None }
                }
                Plan::SyslogStream {
                    peer,
                    backoff,
                    spool_max,
                } => {
                    let policy = Delivery {
                        max_records: SYSLOG_BATCH,
                        max_bytes: BATCH_BYTES,
                        backoff,
                    };
                    let writer = sinks.spooled(&env, &sink, spool_max, StreamForward::new(peer), policy)?;
                    Target::Spooled {
                        writer,
                        syslog: Some((Rfc5424::new(), Vec::new())),
                    }
                }
            };
            sinks.targets.push(target);
        }
        Ok(sinks)
    }

    /// Opens the spool of `sink` and spawns the task that delivers from it through `transport`.
    fn spooled<T: Transport>(
        &mut self,
        env: &Env<'_>,
        sink: &str,
        max: u64,
        transport: T,
        policy: Delivery,
    ) -> Result<SpoolWriter, SinkSetupError> {
        let dir = env.state_dir.join("spool").join(spool_dir_name(sink));
        let (writer, reader) = spool::open(&dir, sink, max, env.metrics).map_err(|e| SinkSetupError::Sink {
            sink: sink.to_owned(),
            reason: format!("its spool: {e}"),
        })?;
        let task = spool::deliver(reader, transport, policy, self.cancel.clone(), env.metrics.clone());
        env.runtime.spawn(task);
        self.spools.push((sink.to_owned(), writer.shared().clone()));
        Ok(writer)
    }

    /// Checks the settings without side effects (`reconwatch config check`): kinds, keys that
    /// apply, URLs, sizes, durations, files' directories, TLS files.
    pub fn check(configs: &[SinkConfig], suppress: Option<&SuppressConfig>) -> Result<(), SinkSetupError> {
        plans(configs)?;
        if let Some(s) = suppress {
            suppress::parse(s).map_err(SinkSetupError::Suppress)?;
        }
        Ok(())
    }

    /// Hands everything taken so far to the OS (standard output and file buffers written, spool
    /// appends written) and wakes the delivery tasks: called after every batch of lines.
    pub fn flush(&mut self) -> Result<(), SinkError> {
        self.each(Target::flush)
    }

    /// Makes everything taken so far durable (files and spools fsynced): called before the engine
    /// writes its checkpoints.
    pub fn commit(&mut self) -> Result<(), SinkError> {
        self.each(Target::commit)
    }

    /// Every target, even after one failed; the first error.
    fn each(&mut self, mut op: impl FnMut(&mut Target) -> Result<(), SinkError>) -> Result<(), SinkError> {
        let mut first = None;
        for t in &mut self.targets {
            if let Err(e) = op(t) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Shutdown: flush and commit, then let the delivery tasks empty their spools until
    /// `deadline`. What is left stays spooled for the next start (logged with its count).
    pub fn shutdown(mut self, deadline: Instant) {
        if let Err(e) = self.commit() {
            error!("at shutdown: {e}; alerts taken since the last checkpoint may be missing from that sink");
        }
        for (sink, queue) in &self.spools {
            if !queue.wait_empty(deadline) {
                let (records, bytes) = queue.backlog();
                warning!(
                    "sink {sink}: {records} alerts ({bytes} bytes) not delivered before shutdown; they stay spooled and are delivered after the next start"
                );
            }
        }
        self.cancel.cancel();
    }
}

/// Without [`Sinks::shutdown`], as after a crash: delivery stops, nothing more is written; what
/// was committed is delivered after the next start.
impl Drop for Sinks {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl AlertSink for Sinks {
    /// Suppression, then every sink (each gets the alert even when another failed).
    fn alert(&mut self, alert: Alert) -> Result<(), SinkError> {
        if let Some(s) = &mut self.suppress
            && !s.pass(&alert)
        {
            return Ok(());
        }
        self.each(|t| t.alert(&alert))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(yaml: &str) -> SinkConfig {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn settings_are_checked_and_errors_name_the_sink() {
        let err = |yaml: &str| Sinks::check(&[sink(yaml)], None).unwrap_err().to_string();
        let e = err("{webhook: 'ftp://x/'}");
        assert!(e.starts_with("sink webhook:ftp://x/: ") && e.contains("http://"), "{e}");
        let e = err("{file: /tmp/a.jsonl, batch: 5}");
        assert!(e.contains("batch does not apply to a file sink"), "{e}");
        let e = err("{file: /tmp/a.jsonl, max_size: 10XB}");
        assert!(e.contains("max_size") && e.contains("unit"), "{e}");
        let e = err("{webhook: 'http://127.0.0.1:1/', ca: /x.pem}");
        assert!(e.contains("ca does not apply"), "{e}");
        let e = err("{syslog: 'udp://127.0.0.1:514', spool_max: 1GiB}");
        assert!(e.contains("spool_max does not apply"), "{e}");
        let e = err("{syslog: 'tls://127.0.0.1:6514', ca: /nonexistent/ca.pem}");
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        let e = err("{webhook: 'http://127.0.0.1:1/', max_backoff: 500ms}");
        assert!(e.contains("max_backoff"), "{e}");
        let e = err("{file: /nonexistent-dir/a.jsonl}");
        assert!(e.contains("directory /nonexistent-dir does not exist"), "{e}");
        let e = err("{stdout: false}");
        assert!(e.starts_with("sink #1 of sinks: ") && e.contains("found none"), "{e}");
        let twice = [sink("{stdout: true}"), sink("{stdout: true}")];
        let e = Sinks::check(&twice, None).unwrap_err().to_string();
        assert!(e.contains("configured twice"), "{e}");
        let bad = SuppressConfig {
            window: "soon".into(),
            fields: None,
        };
        let e = Sinks::check(&[], Some(&bad)).unwrap_err().to_string();
        assert!(e.starts_with("suppress: window"), "{e}");
    }

    /// The engine moves its sinks to its own thread.
    #[test]
    fn sinks_can_move_to_the_engine_thread() {
        fn send<T: Send>() {}
        send::<Sinks>();
    }

    #[test]
    fn spool_directories_are_plain_names() {
        assert_eq!(
            spool_dir_name("webhook:https://soar.example/hooks/rw"),
            "webhook_https___soar.example_hooks_rw"
        );
    }
}
