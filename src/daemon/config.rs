//! The daemon's part of the configuration file (`reconwatch run --config`): where lines come
//! from (`sources`), where alerts go (`sinks`), the HTTP endpoint (`listen`), the state directory
//! (`state_dir`), repeat suppression (`suppress`) and timing (`daemon`). The same file holds the
//! detection settings `scan --config` reads (see [`crate::config`]); `scan` ignores these keys.
//!
//! Every struct rejects unknown keys, so a misspelt key is an error naming it and its line.
//! Each source and sink is one map whose first key says its kind:
//!
//! ```yaml
//! sources:
//!   - tail: /var/log/squid/access.log*     # a glob; new files are picked up
//!     format: squid                        # optional: detected from the first lines
//!   - syslog_udp: 0.0.0.0:5514
//!     format: postfix
//!   - syslog_tcp: 0.0.0.0:6514             # LF framing or RFC 6587 octet counting, per connection
//!     tls: {cert: server.pem, key: server.key, client_ca: clients.pem}
//! sinks:
//!   - stdout: true
//!   - file: /var/log/reconwatch/alerts.jsonl
//!     max_size: 100MB                      # then alerts.jsonl.1 ... .keep
//!     keep: 5
//!   - webhook: https://soar.example/hooks/reconwatch
//!     batch: 100
//!     headers: {Authorization: "Bearer ..."}
//!   - syslog: tls://siem.example:6514      # udp:// tcp:// tls://; RFC 5424, octet counted on TCP
//!     ca: siem-ca.pem
//! suppress: {window: 10m, fields: [source.ip, user.name, url.domain, email.to.address]}
//! listen: 127.0.0.1:9717                   # /metrics /healthz /readyz
//! state_dir: /var/lib/reconwatch           # checkpoints, correlation state, spools
//! daemon: {checkpoint_interval: 5s, idle_timeout: 30s, shutdown_timeout: 10s, queue: 64}
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The default address of the HTTP endpoint: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9717";

/// One source of lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// A glob of files to tail.
    #[serde(default)]
    pub tail: Option<String>,
    /// A UDP syslog listener address.
    #[serde(default)]
    pub syslog_udp: Option<String>,
    /// A TCP (or, with `tls`, TLS) syslog listener address.
    #[serde(default)]
    pub syslog_tcp: Option<String>,
    /// The log format (a name from `reconwatch formats`); detected when absent or `auto`.
    #[serde(default)]
    pub format: Option<String>,
    /// TLS for a `syslog_tcp` listener.
    #[serde(default)]
    pub tls: Option<TlsServerConfig>,
    /// Tail: compressed files the glob matches (rotated and compressed logs): `ignore` (the
    /// default) or `read` (each read once, whole, and remembered).
    #[serde(default)]
    pub compressed: Option<CompressedPolicy>,
    /// Tail: how often the glob and open files are checked when no file event arrives
    /// (default 1s). Also the only mechanism where inotify is unavailable.
    #[serde(default)]
    pub poll_interval: Option<String>,
    /// Tail: how long a file renamed away by rotation is still read after its last new line
    /// (writers keep writing to it until they reopen their log; default 5s).
    #[serde(default)]
    pub rotate_wait: Option<String>,
    /// TCP: connections at once (default 1024); more are refused and counted.
    #[serde(default)]
    pub max_connections: Option<usize>,
}

/// What the tailer does with compressed files its glob matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompressedPolicy {
    #[default]
    Ignore,
    Read,
}

/// A TLS listener's certificate and key (PEM), and optionally the CA whose client certificates
/// it requires.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Require client certificates signed by this CA (PEM).
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

/// The kind of a source, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    Tail(String),
    SyslogUdp(SocketAddr),
    SyslogTcp(SocketAddr),
}

impl SourceConfig {
    /// The one kind this source is, or why not.
    pub fn kind(&self) -> Result<SourceKind, String> {
        let given: Vec<&str> = [
            self.tail.as_ref().map(|_| "tail"),
            self.syslog_udp.as_ref().map(|_| "syslog_udp"),
            self.syslog_tcp.as_ref().map(|_| "syslog_tcp"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if given.len() != 1 {
            return Err(format!(
                "a source needs exactly one of tail, syslog_udp, syslog_tcp (found {})",
                if given.is_empty() {
                    "none".to_owned()
                } else {
                    given.join(", ")
                }
            ));
        }
        if self.tls.is_some() && self.syslog_tcp.is_none() {
            return Err("tls applies to a syslog_tcp source only".into());
        }
        let addr = |key: &str, a: &str| {
            a.parse::<SocketAddr>()
                .map_err(|e| format!("{key} {a}: not an address:port ({e})"))
        };
        Ok(match (&self.tail, &self.syslog_udp, &self.syslog_tcp) {
            (Some(t), _, _) => SourceKind::Tail(t.clone()),
            (_, Some(a), _) => SourceKind::SyslogUdp(addr("syslog_udp", a)?),
            (_, _, Some(a)) => SourceKind::SyslogTcp(addr("syslog_tcp", a)?),
            _ => unreachable!("exactly one kind was checked above"),
        })
    }

    /// The source's name in logs and in the `source` label of metrics: `tail:GLOB`,
    /// `syslog_udp:ADDR`, `syslog_tcp:ADDR` (`syslog_tls:ADDR` with TLS).
    pub fn label(&self) -> String {
        match (&self.tail, &self.syslog_udp, &self.syslog_tcp) {
            (Some(t), _, _) => format!("tail:{t}"),
            (_, Some(a), _) => format!("syslog_udp:{a}"),
            (_, _, Some(a)) if self.tls.is_some() => format!("syslog_tls:{a}"),
            (_, _, Some(a)) => format!("syslog_tcp:{a}"),
            _ => "invalid".into(),
        }
    }
}

/// One alert sink.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// JSON lines on standard output.
    #[serde(default)]
    pub stdout: Option<bool>,
    /// JSON lines appended to this file.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// File: rotate when the file would grow past this size (`100MB`, `1GiB`; default: never).
    #[serde(default)]
    pub max_size: Option<String>,
    /// File: rotated files kept (default 5).
    #[serde(default)]
    pub keep: Option<usize>,
    /// An HTTP(S) URL alerts are POSTed to as a JSON array.
    #[serde(default)]
    pub webhook: Option<String>,
    /// Webhook: alerts per POST (default 100).
    #[serde(default)]
    pub batch: Option<usize>,
    /// Webhook: extra request headers (an authorization token, say).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Webhook: time allowed per request (default 10s).
    #[serde(default)]
    pub timeout: Option<String>,
    /// Webhook, syslog: the longest wait between retries (default 5m); retries start at 1s.
    #[serde(default)]
    pub max_backoff: Option<String>,
    /// Webhook, syslog over TCP/TLS: the on-disk spool's cap (default 1GiB); alerts beyond it
    /// are refused, counted and logged, never dropped silently.
    #[serde(default)]
    pub spool_max: Option<String>,
    /// RFC 5424 syslog forwarding: `udp://HOST:PORT`, `tcp://HOST:PORT` or `tls://HOST:PORT`.
    #[serde(default)]
    pub syslog: Option<String>,
    /// TLS client (webhook over https, syslog over tls): the CA to trust (PEM; default: the
    /// system's bundle).
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// TLS client certificate and key (PEM), for receivers that require one.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    #[serde(default)]
    pub key: Option<PathBuf>,
}

/// The kind of a sink, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkKind {
    Stdout,
    File(PathBuf),
    Webhook(String),
    Syslog(String),
}

impl SinkConfig {
    /// The one kind this sink is, or why not.
    pub fn kind(&self) -> Result<SinkKind, String> {
        let mut kinds = Vec::new();
        if self.stdout == Some(true) {
            kinds.push(SinkKind::Stdout);
        }
        if let Some(p) = &self.file {
            kinds.push(SinkKind::File(p.clone()));
        }
        if let Some(u) = &self.webhook {
            kinds.push(SinkKind::Webhook(u.clone()));
        }
        if let Some(u) = &self.syslog {
            kinds.push(SinkKind::Syslog(u.clone()));
        }
        match kinds.len() {
            1 => Ok(kinds.pop().expect("one")),
            0 => Err("a sink needs exactly one of stdout: true, file, webhook, syslog (found none)".into()),
            _ => Err("a sink needs exactly one of stdout, file, webhook, syslog (found several)".into()),
        }
    }

    /// The sink's name in logs and in the `sink` label of metrics: `stdout`, `file:PATH`,
    /// `webhook:URL` (without credentials or query), `syslog:URL`.
    pub fn label(&self) -> String {
        match self.kind() {
            Ok(SinkKind::Stdout) => "stdout".into(),
            Ok(SinkKind::File(p)) => format!("file:{}", p.display()),
            Ok(SinkKind::Webhook(u)) => format!("webhook:{}", redact_url(&u)),
            Ok(SinkKind::Syslog(u)) => format!("syslog:{u}"),
            Err(_) => "invalid".into(),
        }
    }
}

/// A URL without user information, query or fragment (which may carry secrets), for logs and
/// labels.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let rest = match rest.split_once('/') {
        Some((auth, path)) => format!("{}/{path}", auth.rsplit('@').next().unwrap_or(auth)),
        None => rest.rsplit('@').next().unwrap_or(rest).to_owned(),
    };
    if scheme.is_empty() {
        rest
    } else {
        format!("{scheme}://{rest}")
    }
}

/// Repeats of an alert suppressed within a window: same rule and same values of `fields` (dotted
/// ECS names read from the alert document; absent fields count as empty).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressConfig {
    /// `10m`, `1h`, ... (event time of the alerts).
    pub window: String,
    /// The fields that make two alerts of one rule the same (default: source.ip, user.name,
    /// url.domain, email.to.address, email.from.address).
    #[serde(default)]
    pub fields: Option<Vec<String>>,
}

/// The fields that make two alerts of a rule repeats when `suppress.fields` is not given.
pub const DEFAULT_SUPPRESS_FIELDS: &[&str] = &[
    "source.ip",
    "user.name",
    "url.domain",
    "email.to.address",
    "email.from.address",
];

/// Timing and bounds of the daemon.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonTuning {
    /// How often file checkpoints and the correlation state are saved, together (default
    /// 5s): a checkpoint never passes a line whose correlation contributions are not saved.
    #[serde(default)]
    pub checkpoint_interval: Option<String>,
    /// A source with no new event for this long no longer holds correlation back (default 30s).
    #[serde(default)]
    pub idle_timeout: Option<String>,
    /// SIGTERM: the longest the drain may take before the process exits anyway (default 10s).
    #[serde(default)]
    pub shutdown_timeout: Option<String>,
    /// Batches of lines queued between the sources and detection (default 64, each at most
    /// 256 KiB): the bound behind backpressure.
    #[serde(default)]
    pub queue: Option<usize>,
}

/// Parses a duration (`500ms`, `30s`, `5m`, `2h`, `1d`) into a [`Duration`]; `what` names the
/// key in the error.
pub fn duration(what: &str, text: Option<&str>, default: Duration) -> Result<Duration, String> {
    let Some(text) = text else { return Ok(default) };
    let t = text.trim();
    if let Some(ms) = t.strip_suffix("ms") {
        return ms
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| format!("{what}: {text:?} is not a duration (like 500ms, 30s, 5m, 2h, 1d)"));
    }
    let (n, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{what}: {text:?} is not a duration (like 500ms, 30s, 5m, 2h, 1d)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => {
            return Err(format!(
                "{what}: {text:?} is not a duration (like 500ms, 30s, 5m, 2h, 1d)"
            ));
        }
    };
    Ok(Duration::from_secs(secs))
}

/// Makes the daemon keys' relative paths relative to `dir` (the configuration file's directory).
pub fn rebase(dir: &Path, state_dir: &mut Option<PathBuf>, sources: &mut [SourceConfig], sinks: &mut [SinkConfig]) {
    let fix = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = dir.join(&*p);
        }
    };
    if let Some(p) = state_dir {
        fix(p);
    }
    for s in sources {
        if let Some(t) = &mut s.tail
            && Path::new(t.as_str()).is_relative()
        {
            *t = dir.join(t.as_str()).to_string_lossy().into_owned();
        }
        if let Some(tls) = &mut s.tls {
            fix(&mut tls.cert);
            fix(&mut tls.key);
            if let Some(ca) = &mut tls.client_ca {
                fix(ca);
            }
        }
    }
    for s in sinks {
        for p in [&mut s.file, &mut s.ca, &mut s.cert, &mut s.key].into_iter().flatten() {
            fix(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_exactly_one_kind() {
        let s = SourceConfig {
            syslog_tcp: Some("127.0.0.1:6514".into()),
            ..Default::default()
        };
        assert_eq!(s.kind(), Ok(SourceKind::SyslogTcp("127.0.0.1:6514".parse().unwrap())));
        assert_eq!(s.label(), "syslog_tcp:127.0.0.1:6514");
        let none = SourceConfig::default();
        assert!(none.kind().unwrap_err().contains("found none"));
        let two = SourceConfig {
            tail: Some("a".into()),
            syslog_udp: Some("127.0.0.1:1".into()),
            ..Default::default()
        };
        assert!(two.kind().unwrap_err().contains("tail, syslog_udp"));
        let bad = SourceConfig {
            syslog_udp: Some("localhost".into()),
            ..Default::default()
        };
        assert!(bad.kind().unwrap_err().contains("not an address:port"));
    }

    #[test]
    fn urls_lose_their_secrets_in_labels() {
        assert_eq!(
            redact_url("https://user:pw@soar.example/hook?token=x"),
            "https://soar.example/hook"
        );
        assert_eq!(redact_url("http://127.0.0.1:80"), "http://127.0.0.1:80");
    }

    #[test]
    fn durations() {
        let d = Duration::from_secs(7);
        assert_eq!(duration("x", None, d), Ok(d));
        assert_eq!(duration("x", Some("250ms"), d), Ok(Duration::from_millis(250)));
        assert_eq!(duration("x", Some("2m"), d), Ok(Duration::from_secs(120)));
        assert!(duration("x", Some("2 weeks"), d).unwrap_err().starts_with("x: "));
    }
}
