//! Syslog forwarding of alerts (`syslog: udp://H:P | tcp://H:P | tls://H:P`): each alert is one
//! RFC 5424 message, `<PRI>1 TIMESTAMP HOST reconwatch PID ALERT - {alert JSON}`, facility
//! local0, severity from the rule's level (critical 2, high 3, medium 4, low 5, informational 6).
//! TIMESTAMP is when reconwatch forwarded the alert (the event's time is in the JSON).
//!
//! Over TCP and TLS messages are octet-counted (RFC 6587: `LEN SP MSG`), spooled first and sent
//! by the spool's delivery task, which reconnects with backoff. Over UDP there is no spool: a
//! datagram is sent at once and nobody says whether it arrived, so a send that fails is counted
//! in `sink_failures` and logged, and the alert is not sent again — use TCP or TLS where every
//! alert must arrive. A message written to a TCP socket counts as delivered; one the peer's
//! kernel took just before the connection broke is lost without a trace (syslog has no
//! acknowledgements), which is why a closed connection is noticed and replaced before writing.

use std::io::Write as _;
use std::net::{ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt, WriteHalf};
use tokio::task::JoinHandle;

use super::Alert;
use super::net::{Io, Peer, host_port};
use super::spool::{DeliveryError, Transport};
use crate::metrics::DaemonMetrics;
use crate::rules::Level;

/// local0: the facility sites leave to local applications.
const FACILITY_LOCAL0: u8 = 16;
/// Connecting plus writing one batch.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// How a syslog sink reaches its receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carrier {
    Udp,
    Tcp,
    Tls,
}

/// A syslog sink's URL, checked: transport, host, port.
pub(crate) fn parse_target(url: &str) -> Result<(Carrier, String, u16), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT"))?;
    let transport = match scheme {
        "udp" => Carrier::Udp,
        "tcp" => Carrier::Tcp,
        "tls" => Carrier::Tls,
        _ => return Err(format!("unknown transport {scheme:?}: use udp://, tcp:// or tls://")),
    };
    let (host, port) = host_port(rest.trim_end_matches('/'))?;
    Ok((transport, host, port))
}

fn severity(level: Level) -> u8 {
    match level {
        Level::Critical => 2,
        Level::High => 3,
        Level::Medium => 4,
        Level::Low => 5,
        Level::Informational => 6,
    }
}

/// Renders alerts as RFC 5424 messages.
#[derive(Debug, Clone)]
pub(crate) struct Rfc5424 {
    hostname: String,
    pid: u32,
}

impl Rfc5424 {
    pub fn new() -> Rfc5424 {
        // HOSTNAME is printable ASCII without spaces, or `-` when unknown.
        let hostname: String = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(255)
            .collect();
        Rfc5424 {
            hostname: if hostname.is_empty() { "-".into() } else { hostname },
            pid: std::process::id(),
        }
    }

    /// The message for `alert` sent at `now`, into `out` (cleared first).
    pub fn render(&self, alert: &Alert, now: Timestamp, out: &mut Vec<u8>) {
        out.clear();
        let pri = FACILITY_LOCAL0 * 8 + severity(alert.level);
        // RFC 5424 allows at most six digits of a second.
        let time = now.strftime("%Y-%m-%dT%H:%M:%S%.6fZ");
        let _ = write!(
            out,
            "<{pri}>1 {time} {} reconwatch {} ALERT - ",
            self.hostname, self.pid
        );
        out.extend_from_slice(&alert.json);
    }
}

/// Sends each alert as one UDP datagram, at once.
pub(crate) struct UdpForward {
    socket: UdpSocket,
    label: String,
    render: Rfc5424,
    buf: Vec<u8>,
    metrics: DaemonMetrics,
    last_log: Option<Instant>,
}

impl UdpForward {
    /// Resolves `host` once, now: a name that stops resolving later does not stop alerts.
    pub fn open(host: &str, port: u16, label: String, metrics: DaemonMetrics) -> Result<UdpForward, String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addr = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("resolving {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("{host} has no address"))?;
        let local = if addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
        let socket = UdpSocket::bind(local)
            .and_then(|s| s.connect(addr).map(|()| s))
            .map_err(|e| format!("a UDP socket to {addr}: {e}"))?;
        Ok(UdpForward {
            socket,
            label,
            render: Rfc5424::new(),
            buf: Vec::new(),
            metrics,
            last_log: None,
        })
    }

    pub fn alert(&mut self, alert: &Alert) {
        self.render.render(alert, Timestamp::now(), &mut self.buf);
        match self.socket.send(&self.buf) {
            Ok(_) => self.metrics.sink_deliveries.with_label_values(&[&self.label]).inc(),
            Err(e) => {
                self.metrics.sink_failures.with_label_values(&[&self.label]).inc();
                if self.last_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                    crate::log::warning!(
                        "sink {}: sending an alert over UDP failed: {e}; UDP keeps no spool, so it is not sent again (failures are counted in reconwatch_sink_failures_total; use tcp:// or tls:// to keep every alert)",
                        self.label
                    );
                    self.last_log = Some(Instant::now());
                }
            }
        }
    }
}

/// One open TCP/TLS connection. A task reads (and discards) what the receiver sends, so that a
/// closed connection is seen before the next write, not after.
struct Connection {
    write: WriteHalf<Box<dyn Io>>,
    closed: Arc<AtomicBool>,
    reader: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Sends spooled messages over TCP or TLS, octet-counted.
pub(crate) struct StreamForward {
    peer: Peer,
    conn: Option<Connection>,
}

impl StreamForward {
    pub fn new(peer: Peer) -> StreamForward {
        StreamForward { peer, conn: None }
    }

    async fn send(&mut self, frames: &[u8]) -> Result<(), String> {
        if self.conn.as_ref().is_none_or(|c| c.closed.load(Ordering::Acquire)) {
            self.conn = None;
            let io = self.peer.connect(SEND_TIMEOUT).await?;
            let (mut read, write) = tokio::io::split(io);
            let closed = Arc::new(AtomicBool::new(false));
            let flag = closed.clone();
            let reader = tokio::spawn(async move {
                let mut sink = [0u8; 1024];
                while let Ok(n) = read.read(&mut sink).await
                    && n > 0
                {}
                flag.store(true, Ordering::Release);
            });
            self.conn = Some(Connection { write, closed, reader });
        }
        let c = self.conn.as_mut().expect("connected above");
        let written = async {
            c.write.write_all(frames).await?;
            c.write.flush().await
        };
        written
            .await
            .map_err(|e| format!("writing to {}:{}: {e}", self.peer.host, self.peer.port))
    }
}

impl Transport for StreamForward {
    async fn deliver(&mut self, records: &[Vec<u8>]) -> Result<(), DeliveryError> {
        let mut frames = Vec::with_capacity(records.iter().map(|r| r.len() + 8).sum());
        for r in records {
            let _ = write!(frames, "{} ", r.len());
            frames.extend_from_slice(r);
        }
        let result = match tokio::time::timeout(SEND_TIMEOUT, self.send(&frames)).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "{}:{}: not written within {SEND_TIMEOUT:?}",
                self.peer.host, self.peer.port
            )),
        };
        result.map_err(|e| {
            self.conn = None;
            DeliveryError::failed(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::AlertKind;

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("tls://siem.example:6514"),
            Ok((Carrier::Tls, "siem.example".into(), 6514))
        );
        assert_eq!(parse_target("udp://[::1]:514").unwrap().0, Carrier::Udp);
        assert!(parse_target("syslog.example:514").unwrap_err().contains("udp://"));
        assert!(parse_target("http://x:1").unwrap_err().contains("unknown transport"));
        assert!(parse_target("tcp://x").unwrap_err().contains("HOST:PORT"));
    }

    #[test]
    fn messages_are_rfc5424_with_the_level_as_severity() {
        let alert = Alert {
            rule_id: "r".into(),
            title: "t".into(),
            level: Level::High,
            kind: AlertKind::Match,
            time: None,
            json: b"{\"a\":1}".to_vec(),
        };
        let r = Rfc5424 {
            hostname: "gw1".into(),
            pid: 42,
        };
        let now: Timestamp = "2024-05-01T12:00:00.123456789Z".parse().unwrap();
        let mut out = Vec::new();
        r.render(&alert, now, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<131>1 2024-05-01T12:00:00.123456Z gw1 reconwatch 42 ALERT - {\"a\":1}"
        );
    }
}
