//! Syslog over the network: UDP, TCP and TLS listeners that turn what senders write into streams
//! of lines for detection ([`feed`](super::feed)). Only the transport: the syslog header of each
//! message is read later, by `parse::syslog`.
//!
//! - **UDP** ([`serve_udp`]): a datagram is a message (several if it holds `\n`-separated
//!   lines). The listener is one stream, named by the source's label. It never drops a datagram
//!   it has read: while detection's queue is full it waits, the socket's kernel buffer fills and
//!   the kernel drops what arrives next; those drops are read from `/proc/net/udp{,6}` (the
//!   `drops` column of our socket's row, found by its inode) and counted in
//!   `reconwatch_udp_drops_total{cause="kernel"}`. Waiting rather than dropping at once keeps
//!   the kernel buffer's datagrams for when detection catches up. The buffer's size is the
//!   kernel's default (`net.core.rmem_default`): raise it for bursty senders.
//! - **TCP and TLS** ([`serve_tcp`]): each connection is a stream (`LABEL from PEER`), framed as
//!   its first byte says: a digit means RFC 6587 octet counting (`LEN SP MSG`), anything else
//!   means a message per line (ended by `\n`, or by NUL as some senders do). A message must be
//!   one line for the engine, so a newline inside an octet-counted message becomes a space (a
//!   space rather than rsyslog's `#012`, so every byte of a line stays where it was in the
//!   connection). A message over `max_line` is cut and marked truncated; an octet count that
//!   is not digits, or announces more than [`MAX_FRAME`], closes that connection (counted in
//!   `reconwatch_syslog_frame_errors_total`): after a bad count nothing says where the next
//!   frame starts. While the queue is full a connection is not read, so TCP flow control pushes
//!   back on the sender.
//!
//! Every stream opens with [`Feed::Open`] and ends with [`Feed::Close`], on shutdown too: a
//! socket has no checkpoint to keep, and the engine must emit the mail it is assembling for the
//! stream. After the cancel, what was already read is still handed over, for at most
//! [`SHUTDOWN_GRACE`]. Nothing here parses messages, and nothing here may drop a message it
//! has read without logging and counting it.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::feed::{Feed, FeedSender, LineBatch, OpenStream, SourceInfo, StreamId};
use crate::log::{debug, info, warning};
use crate::metrics::DaemonMetrics;

/// The default of `max_connections`: plenty for the relays of one site, few enough that a
/// runaway client cannot exhaust file descriptors.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// The longest octet-counted frame accepted (unless `max_line` is longer): a larger count is
/// not a syslog message but a confused or hostile sender.
pub const MAX_FRAME: usize = 1024 * 1024;

/// A TLS handshake that has not finished by then is given up, so a silent peer cannot hold one
/// of the `max_connections` slots.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// After shutdown, how long a stream may wait for detection to take what was already read.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How often the kernel's drop count of a UDP socket is read.
const DROP_POLL: Duration = Duration::from_secs(1);

/// Repeated warnings (refused connections, kernel drops) are written at most this often, with
/// the count since the last one.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Bytes read from a connection at a time.
const READ_BUF: usize = 64 * 1024;

/// Fits the largest UDP payload (65,507 bytes over IPv4).
const DATAGRAM_BUF: usize = 64 * 1024;

/// Connections waiting to be accepted (the kernel's queue; capped by `net.core.somaxconn`).
const BACKLOG: u32 = 1024;

/// What a listener needs besides its socket.
#[derive(Debug, Clone)]
pub struct ListenerSettings {
    pub source: Arc<SourceInfo>,
    /// Longer messages are cut here and marked truncated.
    pub max_line: usize,
    /// TCP: connections at once; more are accepted and closed at once.
    pub max_connections: usize,
    /// TCP: TLS with this configuration (see [`crate::tls::server_config`]).
    pub tls: Option<Arc<ServerConfig>>,
}

/// A listener could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("syslog {transport} {addr}: cannot listen: {source}{}", bind_hint(source))]
    Bind {
        transport: &'static str,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}

fn bind_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::PermissionDenied => " (ports below 1024 need root or CAP_NET_BIND_SERVICE)",
        io::ErrorKind::AddrInUse => " (another process, or another source, listens there)",
        io::ErrorKind::AddrNotAvailable => " (no interface of this host has that address)",
        _ => "",
    }
}

/// Binds a UDP socket, so that a taken port or a missing permission is an error at start-up.
pub async fn bind_udp(addr: SocketAddr) -> Result<UdpSocket, ListenError> {
    UdpSocket::bind(addr).await.map_err(|source| ListenError::Bind {
        transport: "udp",
        addr,
        source,
    })
}

/// Binds and listens on a TCP socket (`:0` picks a free port: see `local_addr`).
///
/// Keepalive is set on the listener, and Linux gives it to every accepted connection: senders
/// keep connections open for days, and one whose host vanished must not hold a slot forever.
pub async fn bind_tcp(addr: SocketAddr) -> Result<TcpListener, ListenError> {
    let listen = || -> io::Result<TcpListener> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        // A restarted daemon must bind again while old connections sit in TIME_WAIT.
        socket.set_reuseaddr(true)?;
        socket.set_keepalive(true)?;
        socket.bind(addr)?;
        socket.listen(BACKLOG)
    };
    listen().map_err(|source| ListenError::Bind {
        transport: "tcp",
        addr,
        source,
    })
}

/// Receives datagrams until `cancel`, then closes the listener's stream and returns.
pub async fn serve_udp(
    socket: UdpSocket,
    settings: ListenerSettings,
    feed: FeedSender,
    metrics: DaemonMetrics,
    cancel: CancellationToken,
) {
    let label = settings.source.label.clone();
    let inode = socket_inode(&socket);
    // The socket lives until both are done, so the last reading of its drops still finds it.
    tokio::join!(
        receive_datagrams(&socket, &settings, feed, &metrics, cancel.clone()),
        count_kernel_drops(inode, &label, &metrics, cancel),
    );
}

async fn receive_datagrams(
    socket: &UdpSocket,
    settings: &ListenerSettings,
    feed: FeedSender,
    metrics: &DaemonMetrics,
    cancel: CancellationToken,
) {
    let label = &settings.source.label;
    let stream = StreamId::next();
    let mut outlet = Outlet::new(feed, cancel.clone());
    if outlet.send(open_stream(stream, settings, label.clone())).await.is_err() {
        return;
    }
    let _open = StreamGauge::open(metrics, label);
    let mut framer = Framer::lines(settings.max_line);
    let mut batch = LineBatch::new(stream);
    let mut buf = vec![0u8; DATAGRAM_BUF];
    let result: Result<(), Undelivered> = async {
        loop {
            let received = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(()),
                r = socket.recv(&mut buf) => r,
            };
            match received {
                Ok(n) => framer.datagram(&buf[..n], &mut batch, &mut outlet).await?,
                Err(e) => warning!("{label}: receiving a datagram failed: {e}; listening on"),
            }
            // A burst: take what is already waiting into the same batch.
            while !batch.is_full() {
                match socket.try_recv(&mut buf) {
                    Ok(n) => framer.datagram(&buf[..n], &mut batch, &mut outlet).await?,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        warning!("{label}: receiving a datagram failed: {e}; listening on");
                        break;
                    }
                }
            }
            outlet.flush(&mut batch).await?;
        }
    }
    .await;
    outlet.finish(result, &mut batch, label).await;
}

/// Reads the kernel's count of datagrams it dropped for our socket (receive buffer full) every
/// [`DROP_POLL`] and once more when the listener stops, and counts the increase.
async fn count_kernel_drops(inode: io::Result<u64>, label: &str, metrics: &DaemonMetrics, cancel: CancellationToken) {
    let inode = match inode {
        Ok(i) => i,
        Err(e) => {
            warning!(
                "{label}: cannot tell which /proc/net/udp row is this socket ({e}): datagrams the kernel drops will not be counted"
            );
            return;
        }
    };
    let counter = metrics.udp_drops.with_label_values(&[label, "kernel"]);
    let mut seen = 0u64;
    let mut throttle = Throttle::default();
    let mut ticks = tokio::time::interval(DROP_POLL);
    loop {
        let stopping = tokio::select! {
            _ = ticks.tick() => false,
            _ = cancel.cancelled() => true,
        };
        match kernel_drops(inode).await {
            Ok(Some(drops)) if drops > seen => {
                counter.inc_by(drops - seen);
                if let Some(n) = throttle.note(drops - seen) {
                    warn_kernel_drops(label, n);
                }
                seen = drops;
            }
            Ok(_) => {}
            Err(e) => {
                warning!(
                    "{label}: cannot read the kernel's UDP drop counts ({e}): datagrams it drops will not be counted"
                );
                return;
            }
        }
        if stopping {
            if let Some(n) = throttle.take() {
                warn_kernel_drops(label, n);
            }
            return;
        }
    }
}

fn warn_kernel_drops(label: &str, n: u64) {
    warning!(
        "{label}: the kernel dropped {n} datagrams (the socket's receive buffer was full: detection is behind or a burst outgrew net.core.rmem_default); counted in reconwatch_udp_drops_total{{cause=\"kernel\"}}"
    );
}

/// The inode of a socket, which names its row in `/proc/net/udp`.
fn socket_inode(socket: &UdpSocket) -> io::Result<u64> {
    let fd = socket.as_fd().try_clone_to_owned()?;
    Ok(std::fs::File::from(fd).metadata()?.ino())
}

/// The kernel's drop count for the socket with this inode, from `/proc/net/udp` or
/// `/proc/net/udp6`; `None` when neither lists it.
async fn kernel_drops(inode: u64) -> io::Result<Option<u64>> {
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        match tokio::fs::read_to_string(table).await {
            Ok(text) => {
                if let Some(d) = drops_in(&text, inode) {
                    return Ok(Some(d));
                }
            }
            // No IPv6 in this kernel.
            Err(e) if e.kind() == io::ErrorKind::NotFound && table.ends_with('6') => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("{table}: {e}"))),
        }
    }
    Ok(None)
}

/// The `drops` column of the row whose `inode` column is `inode`. The columns have stood in this
/// order since Linux 2.6.27 (`sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref
/// pointer drops`); the header cannot be used to find them, as it names some pairs apart that
/// rows join with a colon.
fn drops_in(table: &str, inode: u64) -> Option<u64> {
    table.lines().skip(1).find_map(|row| {
        let cols: Vec<&str> = row.split_whitespace().collect();
        if cols.get(9)?.parse::<u64>().ok()? != inode {
            return None;
        }
        cols.get(12)?.parse().ok()
    })
}

/// Accepts connections until `cancel`; returns once every connection has closed its stream.
pub async fn serve_tcp(
    listener: TcpListener,
    settings: ListenerSettings,
    feed: FeedSender,
    metrics: DaemonMetrics,
    cancel: CancellationToken,
) {
    let label = settings.source.label.clone();
    let max = settings.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max));
    let tracker = TaskTracker::new();
    let acceptor = settings.tls.clone().map(TlsAcceptor::from);
    let conn = Arc::new(Connections {
        settings,
        feed,
        metrics: metrics.clone(),
        cancel: cancel.clone(),
    });
    let mut refused = Throttle::default();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            r = listener.accept() => r,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                warning!("{label}: accepting a connection failed: {e}; trying again");
                // Out of file descriptors repeats until a connection closes: pause, don't spin.
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(tcp);
            metrics.syslog_connections.with_label_values(&[&label, "refused"]).inc();
            if let Some(n) = refused.note(1) {
                warning!(
                    "{label}: refused {n} connection(s), the latest from {peer}: max_connections ({max}) are open; counted in reconwatch_syslog_connections_total{{outcome=\"refused\"}}"
                );
            }
            continue;
        };
        let conn = conn.clone();
        let acceptor = acceptor.clone();
        tracker.spawn(async move {
            conn.serve(tcp, peer, acceptor).await;
            drop(slot);
        });
    }
    // Stop accepting before waiting for the connections to end.
    drop(listener);
    tracker.close();
    tracker.wait().await;
}

/// What every connection of one listener shares.
struct Connections {
    settings: ListenerSettings,
    feed: FeedSender,
    metrics: DaemonMetrics,
    cancel: CancellationToken,
}

impl Connections {
    async fn serve(&self, tcp: TcpStream, peer: SocketAddr, acceptor: Option<TlsAcceptor>) {
        let Some(acceptor) = acceptor else {
            return self.read(tcp, peer).await;
        };
        let handshake = tokio::select! {
            _ = self.cancel.cancelled() => return,
            r = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)) => r,
        };
        match handshake {
            Ok(Ok(tls)) => self.read(tls, peer).await,
            Ok(Err(e)) => self.tls_failed(peer, &e.to_string()),
            Err(_) => self.tls_failed(
                peer,
                &format!("no TLS handshake within {}s", HANDSHAKE_TIMEOUT.as_secs()),
            ),
        }
    }

    fn tls_failed(&self, peer: SocketAddr, reason: &str) {
        let label = &self.settings.source.label;
        self.metrics
            .syslog_connections
            .with_label_values(&[label, "tls_failed"])
            .inc();
        warning!("{label}: TLS handshake with {peer} failed: {reason}; connection closed");
    }

    /// One connection, from `Open` to `Close`.
    async fn read<R: AsyncRead + Unpin>(&self, mut reader: R, peer: SocketAddr) {
        let label = &self.settings.source.label;
        self.metrics
            .syslog_connections
            .with_label_values(&[label, "accepted"])
            .inc();
        let stream = StreamId::next();
        let mut outlet = Outlet::new(self.feed.clone(), self.cancel.clone());
        let name: Arc<str> = format!("{label} from {peer}").into();
        if outlet
            .send(open_stream(stream, &self.settings, name.clone()))
            .await
            .is_err()
        {
            return;
        }
        let _open = StreamGauge::open(&self.metrics, label);
        debug!("{label}: connection from {peer}");
        let mut framer = Framer::new(self.settings.max_line);
        let mut batch = LineBatch::new(stream);
        let mut buf = vec![0u8; READ_BUF];
        let result: Result<(), Undelivered> = async {
            loop {
                let read = tokio::select! {
                    biased;
                    _ = self.cancel.cancelled() => break,
                    r = reader.read(&mut buf) => r,
                };
                match read {
                    Ok(0) => break,
                    Ok(n) => {
                        if let Err(e) = framer.bytes(&buf[..n], &mut batch, &mut outlet).await? {
                            self.frame_error(peer, &e);
                            return outlet.flush(&mut batch).await;
                        }
                        outlet.flush(&mut batch).await?;
                    }
                    Err(e) => {
                        info!("{label}: connection from {peer} broke: {e}; its stream ends here");
                        break;
                    }
                }
            }
            if let Some(e) = framer.end_of_input(&mut batch) {
                self.frame_error(peer, &e);
            }
            outlet.flush(&mut batch).await
        }
        .await;
        debug!("{label}: connection from {peer} closed");
        outlet.finish(result, &mut batch, &name).await;
    }

    fn frame_error(&self, peer: SocketAddr, e: &FrameError) {
        let label = &self.settings.source.label;
        self.metrics
            .syslog_frame_errors
            .with_label_values(&[label, e.reason()])
            .inc();
        match e {
            FrameError::Incomplete { .. } => {
                warning!("{label}: connection from {peer}: {e}; what arrived of its message is kept, marked truncated")
            }
            _ => warning!(
                "{label}: connection from {peer}: {e}; closing the connection (the messages before it were kept)"
            ),
        }
    }
}

fn open_stream(stream: StreamId, settings: &ListenerSettings, name: Arc<str>) -> Feed {
    Feed::Open(OpenStream {
        stream,
        source: settings.source.clone(),
        name,
        start: 0,
        file: None,
        reference_time: Timestamp::now(),
    })
}

/// `reconwatch_source_streams{source}` while a stream is open.
struct StreamGauge(prometheus::IntGauge);

impl StreamGauge {
    fn open(metrics: &DaemonMetrics, label: &str) -> StreamGauge {
        let g = metrics.source_streams.with_label_values(&[label]);
        g.inc();
        StreamGauge(g)
    }
}

impl Drop for StreamGauge {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A message the engine did not take.
#[derive(Debug)]
enum Undelivered {
    /// The engine is gone (it stopped receiving).
    Closed,
    /// Shutdown, and the engine did not take it within [`SHUTDOWN_GRACE`].
    Late { lines: usize },
}

/// The sending side of one stream: waits while the queue is full (backpressure); once shut
/// down, waits at most [`SHUTDOWN_GRACE`] in all.
struct Outlet {
    feed: FeedSender,
    cancel: CancellationToken,
    deadline: Option<Instant>,
}

impl Outlet {
    fn new(feed: FeedSender, cancel: CancellationToken) -> Outlet {
        Outlet {
            feed,
            cancel,
            deadline: None,
        }
    }

    async fn send(&mut self, msg: Feed) -> Result<(), Undelivered> {
        if self.deadline.is_none() {
            // Reserve first: a cancel while waiting must not lose the message.
            let permit = tokio::select! {
                biased;
                p = self.feed.reserve() => Some(p),
                _ = self.cancel.cancelled() => None,
            };
            match permit {
                Some(Ok(p)) => {
                    p.send(msg);
                    return Ok(());
                }
                Some(Err(_)) => return Err(Undelivered::Closed),
                None => self.deadline = Some(Instant::now() + SHUTDOWN_GRACE),
            }
        }
        let lines = match &msg {
            Feed::Lines(b) => b.lines.len(),
            _ => 0,
        };
        let deadline = self.deadline.expect("set above");
        match tokio::time::timeout_at(deadline, self.feed.send(msg)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Undelivered::Closed),
            Err(_) => Err(Undelivered::Late { lines }),
        }
    }

    /// Sends the batch if it holds lines, leaving an empty one in its place.
    async fn flush(&mut self, batch: &mut LineBatch) -> Result<(), Undelivered> {
        if batch.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(batch, LineBatch::new(batch.stream));
        self.send(Feed::Lines(full)).await
    }

    /// Ends the stream: `Close` unless the engine is gone; says what was lost if anything was.
    async fn finish(&mut self, result: Result<(), Undelivered>, batch: &mut LineBatch, name: &str) {
        let mut lost = batch.lines.len();
        let mut closed = false;
        match result {
            Ok(()) => {}
            Err(Undelivered::Closed) => closed = true,
            Err(Undelivered::Late { lines }) => lost += lines,
        }
        if !closed {
            match self.send(Feed::Close { stream: batch.stream }).await {
                Ok(()) | Err(Undelivered::Late { .. }) => {}
                Err(Undelivered::Closed) => closed = true,
            }
        }
        if closed {
            debug!("{name}: detection has stopped; the stream ends");
        } else if lost > 0 {
            warning!(
                "{name}: {lost} lines received before shutdown were not taken by detection within {}s and are lost",
                SHUTDOWN_GRACE.as_secs()
            );
        }
    }
}

/// Counts repeats of a warning and says when to write it: at the first, then at most once per
/// [`WARN_EVERY`], with the count since the last one.
#[derive(Debug, Default)]
struct Throttle {
    last: Option<Instant>,
    pending: u64,
}

impl Throttle {
    /// `n` more; `Some(count)` when a warning is due.
    fn note(&mut self, n: u64) -> Option<u64> {
        self.pending += n;
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < WARN_EVERY) {
            return None;
        }
        self.last = Some(now);
        self.take()
    }

    /// What has not been reported yet.
    fn take(&mut self) -> Option<u64> {
        (self.pending > 0).then(|| std::mem::take(&mut self.pending))
    }
}

/// A connection's byte stream could not be cut into messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error(
        "byte {offset}: an RFC 6587 octet count (digits, a space, the message) was expected, found {}",
        std::ascii::escape_default(*found)
    )]
    BadOctetCount { offset: u64, found: u8 },
    #[error("byte {offset}: a frame of more than {max} bytes was announced")]
    FrameTooLong { offset: u64, max: usize },
    /// `missing`: bytes of the message that never came (`None`: it ended inside the count).
    #[error("the connection ended inside an octet-counted frame{}", missing.map(|n| format!(", {n} bytes short")).unwrap_or_default())]
    Incomplete { missing: Option<usize> },
}

impl FrameError {
    /// The `reason` label of `reconwatch_syslog_frame_errors_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::BadOctetCount { .. } => "bad_octet_count",
            FrameError::FrameTooLong { .. } => "frame_too_long",
            FrameError::Incomplete { .. } => "incomplete_frame",
        }
    }
}

/// How a connection frames messages, known from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Unknown,
    /// A message per line, ended by `\n` (or NUL).
    Lines,
    /// RFC 6587 octet counting.
    Counted,
}

/// Where octet counting is within a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counted {
    Between,
    Length(usize),
    Body(usize),
}

/// RFC 6587 octet counting is `MSG-LEN SP <PRI>...`; digits alone do not say it, since a Squid
/// or W3C line without a syslog header starts with digits too. `None`: not decidable yet.
fn decide_framing(head: &[u8]) -> Option<Framing> {
    let digits = head.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return (!head.is_empty()).then_some(Framing::Lines);
    }
    if digits > 20 {
        return Some(Framing::Lines);
    }
    match (head.get(digits), head.get(digits + 1)) {
        (Some(b' '), Some(b'<')) => Some(Framing::Counted),
        (Some(b' '), None) | (None, _) => None,
        _ => Some(Framing::Lines),
    }
}

/// Cuts a byte stream into messages, one line each, and pushes them into batches. Bytes may
/// arrive in pieces of any size; a message begun in one piece is kept until its end arrives
/// (at most `max_line` and a line ending of it).
#[derive(Debug)]
pub struct Framer {
    framing: Framing,
    counted: Counted,
    max_line: usize,
    max_frame: usize,
    /// Stream offset of the next byte.
    offset: u64,
    /// A message begun in an earlier piece: its head and the stream offset of its first byte.
    in_message: bool,
    partial: Vec<u8>,
    partial_offset: u64,
    /// The message in `partial` outgrew what is kept: the rest is skipped.
    overflow: bool,
    /// The connection's first bytes while they do not yet say which framing it uses.
    head: Vec<u8>,
}

impl Framer {
    /// A TCP connection's framer: octet counting or lines, as the first byte says.
    pub fn new(max_line: usize) -> Framer {
        let max_line = max_line.max(1);
        Framer {
            framing: Framing::Unknown,
            counted: Counted::Between,
            max_line,
            max_frame: MAX_FRAME.max(max_line),
            offset: 0,
            in_message: false,
            partial: Vec::new(),
            partial_offset: 0,
            overflow: false,
            head: Vec::new(),
        }
    }

    /// Lines only (UDP: a datagram's first byte may be a digit of a header-less line).
    pub fn lines(max_line: usize) -> Framer {
        Framer {
            framing: Framing::Lines,
            ..Framer::new(max_line)
        }
    }

    /// Pushes the messages completed by `input` into `out`, up to where `out` becomes full;
    /// returns how many bytes of `input` it took. After an error the stream is unusable.
    pub fn push(&mut self, input: &[u8], out: &mut LineBatch) -> Result<usize, FrameError> {
        if self.framing != Framing::Unknown {
            return self.push_framed(input, out);
        }
        let mut i = 0;
        if self.head.is_empty() {
            // Blank lines before the first message decide nothing.
            while i < input.len() && matches!(input[i], b'\n' | b'\r' | 0) {
                i += 1;
            }
            self.offset += i as u64;
        }
        // The first bytes (at most a count, a space and `<`) are kept until they decide.
        let earlier = std::mem::take(&mut self.head);
        let mut probe = earlier.clone();
        probe.extend_from_slice(&input[i..input.len().min(i + 24)]);
        let Some(framing) = decide_framing(&probe) else {
            self.head = probe;
            return Ok(input.len());
        };
        self.framing = framing;
        if !earlier.is_empty() {
            // A new connection's batch has room for these few bytes.
            self.push_framed(&earlier, out)?;
        }
        Ok(i + self.push_framed(&input[i..], out)?)
    }

    fn push_framed(&mut self, input: &[u8], out: &mut LineBatch) -> Result<usize, FrameError> {
        match self.framing {
            Framing::Counted => self.push_counted(input, out),
            _ => Ok(self.push_lines(input, out)),
        }
    }

    fn push_lines(&mut self, input: &[u8], out: &mut LineBatch) -> usize {
        let mut i = 0;
        while i < input.len() && !out.is_full() {
            let here = self.offset + i as u64;
            match memchr::memchr2(b'\n', 0, &input[i..]) {
                Some(j) => {
                    let end = i + j;
                    let next = self.offset + end as u64 + 1;
                    if self.in_message {
                        self.keep(&input[i..end], here, 1);
                        self.emit_partial(out, next);
                    } else {
                        self.emit(out, &input[i..end], here, next, false);
                    }
                    i = end + 1;
                }
                None => {
                    // A `\r` may still come before the `\n`: keep one byte more than a line.
                    self.keep(&input[i..], here, 1);
                    i = input.len();
                }
            }
        }
        self.offset += i as u64;
        i
    }

    fn push_counted(&mut self, input: &[u8], out: &mut LineBatch) -> Result<usize, FrameError> {
        let mut i = 0;
        while i < input.len() && !out.is_full() {
            let here = self.offset + i as u64;
            match self.counted {
                Counted::Between => match input[i] {
                    // Some senders end frames with a newline anyway.
                    b'\n' | b'\r' | 0 => i += 1,
                    b @ b'1'..=b'9' => {
                        self.counted = Counted::Length(usize::from(b - b'0'));
                        i += 1;
                    }
                    found => return Err(FrameError::BadOctetCount { offset: here, found }),
                },
                Counted::Length(len) => {
                    match input[i] {
                        b @ b'0'..=b'9' => {
                            let len = len
                                .checked_mul(10)
                                .and_then(|l| l.checked_add(usize::from(b - b'0')))
                                .filter(|&l| l <= self.max_frame)
                                .ok_or(FrameError::FrameTooLong {
                                    offset: here,
                                    max: self.max_frame,
                                })?;
                            self.counted = Counted::Length(len);
                        }
                        b' ' => {
                            self.counted = Counted::Body(len);
                            self.in_message = true;
                            self.partial_offset = here + 1;
                        }
                        found => return Err(FrameError::BadOctetCount { offset: here, found }),
                    }
                    i += 1;
                }
                Counted::Body(remaining) => {
                    let take = remaining.min(input.len() - i);
                    let chunk = &input[i..i + take];
                    i += take;
                    if take < remaining {
                        // A `\r\n` may end the frame: keep two bytes more than a line.
                        self.keep(chunk, here, 2);
                        self.counted = Counted::Body(remaining - take);
                    } else {
                        let next = self.offset + i as u64;
                        if self.partial.is_empty() && !self.overflow {
                            let start = self.partial_offset;
                            self.in_message = false;
                            self.emit(out, chunk, start, next, false);
                        } else {
                            self.keep(chunk, here, 2);
                            self.emit_partial(out, next);
                        }
                        self.counted = Counted::Between;
                    }
                }
            }
        }
        self.offset += i as u64;
        Ok(i)
    }

    /// Appends to the message being collected, up to `max_line + slack` bytes.
    fn keep(&mut self, bytes: &[u8], offset: u64, slack: usize) {
        if !self.in_message {
            self.in_message = true;
            self.partial_offset = offset;
        }
        let room = (self.max_line + slack).saturating_sub(self.partial.len());
        if bytes.len() > room {
            self.overflow = true;
        }
        self.partial.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn emit_partial(&mut self, out: &mut LineBatch, next: u64) {
        let partial = std::mem::take(&mut self.partial);
        self.emit(out, &partial, self.partial_offset, next, self.overflow);
        self.partial = partial;
        self.partial.clear();
        self.in_message = false;
        self.overflow = false;
    }

    /// Pushes one message: without its line ending, at most `max_line` bytes, newlines inside
    /// it turned into spaces; an empty one carries nothing and is left out.
    fn emit(&self, out: &mut LineBatch, bytes: &[u8], offset: u64, next: u64, cut: bool) {
        let mut line = bytes;
        if !cut {
            line = line.strip_suffix(b"\n").unwrap_or(line);
            line = line.strip_suffix(b"\r").unwrap_or(line);
        }
        let truncated = cut || line.len() > self.max_line;
        let line = &line[..line.len().min(self.max_line)];
        if line.is_empty() {
            return;
        }
        let start = out.data.len();
        out.push(line, offset, next, truncated);
        if self.framing == Framing::Counted {
            let pushed = &mut out.data[start..];
            let mut at = 0;
            while let Some(j) = memchr::memchr(b'\n', &pushed[at..]) {
                pushed[at + j] = b' ';
                at += j + 1;
            }
        }
    }

    /// The input has ended (a connection closed, a datagram read whole): a message without its
    /// line ending is still a message; an octet-counted frame cut short is pushed marked
    /// truncated, and reported.
    pub fn end_of_input(&mut self, out: &mut LineBatch) -> Option<FrameError> {
        if self.framing == Framing::Unknown && !self.head.is_empty() {
            // A connection that ended inside its first few bytes: they are a line.
            self.framing = Framing::Lines;
            let head = std::mem::take(&mut self.head);
            self.push_lines(&head, out);
        }
        match (self.framing, self.counted) {
            (Framing::Counted, Counted::Length(_)) => {
                self.counted = Counted::Between;
                Some(FrameError::Incomplete { missing: None })
            }
            (Framing::Counted, Counted::Body(missing)) => {
                self.overflow = true;
                self.emit_partial(out, self.offset);
                self.counted = Counted::Between;
                Some(FrameError::Incomplete { missing: Some(missing) })
            }
            _ => {
                if self.in_message {
                    self.emit_partial(out, self.offset);
                }
                None
            }
        }
    }

    /// Pushes all of `input`, handing full batches to `outlet`; `Ok(Err(_))` is a framing
    /// error (what was complete before it is in `out`).
    async fn bytes(
        &mut self,
        mut input: &[u8],
        out: &mut LineBatch,
        outlet: &mut Outlet,
    ) -> Result<Result<(), FrameError>, Undelivered> {
        while !input.is_empty() {
            match self.push(input, out) {
                Ok(used) => input = &input[used..],
                Err(e) => return Ok(Err(e)),
            }
            if out.is_full() {
                outlet.flush(out).await?;
            }
        }
        Ok(Ok(()))
    }

    /// One datagram: its lines, the last one ended by the datagram's end.
    async fn datagram(&mut self, datagram: &[u8], out: &mut LineBatch, outlet: &mut Outlet) -> Result<(), Undelivered> {
        // Lines framing never fails.
        let _ = self.bytes(datagram, out, outlet).await?;
        if out.is_full() {
            outlet.flush(out).await?;
        }
        self.end_of_input(out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines of `input` fed in pieces of `step` bytes, and the framing error if any.
    fn frame(framer: &mut Framer, input: &[u8], step: usize) -> (Vec<(String, u64, bool)>, Option<FrameError>) {
        let mut out = LineBatch::new(StreamId(1));
        let mut err = None;
        for piece in input.chunks(step) {
            let mut rest = piece;
            while !rest.is_empty() {
                match framer.push(rest, &mut out) {
                    Ok(n) => rest = &rest[n..],
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                }
            }
            if err.is_some() {
                break;
            }
        }
        if err.is_none() {
            err = framer.end_of_input(&mut out);
        }
        let lines = (0..out.lines.len())
            .map(|i| {
                let l = out.lines[i];
                (String::from_utf8_lossy(out.line(i)).into_owned(), l.offset, l.truncated)
            })
            .collect();
        (lines, err)
    }

    fn line(text: &str, offset: u64) -> (String, u64, bool) {
        (text.to_owned(), offset, false)
    }

    /// Each input fed in pieces of every size gives the same messages.
    #[test]
    fn messages_end_where_the_framing_says_in_pieces_of_any_size() {
        let cases: [(&[u8], _); 3] = [
            // A message per line, ended by `\n` or NUL; the last without its ending.
            (
                b"<13>a b\r\n<13>c\0\n<13>d",
                [line("<13>a b", 0), line("<13>c", 9), line("<13>d", 16)],
            ),
            // A line without a syslog header that starts with digits (Squid) is a line.
            (
                b"1700000000.001 12 10.0.0.1 TCP_MISS/200\n1 2\n3x",
                [
                    line("1700000000.001 12 10.0.0.1 TCP_MISS/200", 0),
                    line("1 2", 40),
                    line("3x", 44),
                ],
            ),
            // Octet counting, known by the count, a space and `<`. The newline inside the second frame is
            // a space; its `\r\n` ending is dropped, and so is the newline between frames.
            (
                b"5 <1>ab9 <13>x\ny\r\n\n3 <2>",
                [line("<1>ab", 2), line("<13>x y", 9), line("<2>", 21)],
            ),
        ];
        for (input, expected) in cases {
            for step in 1..=input.len() {
                let (lines, err) = frame(&mut Framer::new(100), input, step);
                assert_eq!(err, None);
                assert_eq!(lines, expected, "{} in steps of {step}", input.escape_ascii());
            }
        }
    }

    #[test]
    fn long_messages_are_cut_and_marked() {
        for step in [1, 3, 100] {
            let (lines, _) = frame(&mut Framer::new(4), b"<1>abcdef\n<2>x\n", step);
            assert_eq!(lines, [("<1>a".to_owned(), 0, true), line("<2>x", 10)]);
            let (lines, _) = frame(&mut Framer::new(4), b"9 <1>abcdef6 <2>x\r\n", step);
            assert_eq!(lines, [("<1>a".to_owned(), 2, true), line("<2>x", 13)]);
            // Exactly the cap, with its line ending: not cut.
            let (lines, _) = frame(&mut Framer::new(4), b"<1>a\r\n", step);
            assert_eq!(lines, [line("<1>a", 0)]);
        }
    }

    #[test]
    fn bad_octet_counts_are_errors() {
        let (lines, err) = frame(&mut Framer::new(100), b"3 <1>12x <2>", 1);
        assert_eq!(lines, [line("<1>", 2)]);
        assert_eq!(err, Some(FrameError::BadOctetCount { offset: 7, found: b'x' }));
        let (_, err) = frame(&mut Framer::new(100), b"0 <1>", 1);
        assert_eq!(err.unwrap().reason(), "bad_octet_count");
        let (_, err) = frame(&mut Framer::new(100), b"999999999 <1>", 4);
        assert!(
            matches!(err, Some(FrameError::FrameTooLong { max: MAX_FRAME, .. })),
            "{err:?}"
        );
        let (lines, err) = frame(&mut Framer::new(100), b"10 <1>ab", 1);
        assert_eq!(lines, [("<1>ab".to_owned(), 3, true)]);
        assert_eq!(err, Some(FrameError::Incomplete { missing: Some(5) }));
        let (lines, err) = frame(&mut Framer::new(100), b"3 <1>12", 1);
        assert_eq!(lines, [line("<1>", 2)]);
        assert_eq!(
            err.unwrap().to_string(),
            "the connection ended inside an octet-counted frame"
        );
    }

    #[test]
    fn a_datagram_framer_never_counts_octets() {
        let (lines, err) = frame(&mut Framer::lines(100), b"2024-05-01 x\n\n", 100);
        assert_eq!(err, None);
        assert_eq!(lines, [line("2024-05-01 x", 0)]);
    }

    #[test]
    fn a_full_batch_stops_the_framer() {
        let big = vec![b'a'; super::super::feed::MAX_BATCH_BYTES];
        let mut input = big.clone();
        input.extend_from_slice(b"\n<1>next\n");
        let mut f = Framer::new(usize::MAX / 2);
        let mut out = LineBatch::new(StreamId(1));
        let used = f.push(&input, &mut out).unwrap();
        assert_eq!(used, big.len() + 1);
        assert!(out.is_full());
        let mut out = LineBatch::new(StreamId(1));
        f.push(&input[used..], &mut out).unwrap();
        assert_eq!(out.line(0), b"<1>next");
        assert_eq!(out.lines[0].offset, used as u64);
    }

    #[test]
    fn kernel_drops_are_read_from_the_row_of_our_inode() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 0100007F:1F90 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 4242 2 0000000000000000 17
  124: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 99 2 0000000000000000 0
";
        assert_eq!(drops_in(table, 4242), Some(17));
        assert_eq!(drops_in(table, 99), Some(0));
        assert_eq!(drops_in(table, 5), None);
    }

    #[test]
    fn a_throttled_warning_reports_the_count_since_the_last() {
        let mut t = Throttle::default();
        assert_eq!(t.note(1), Some(1));
        assert_eq!(t.note(2), None);
        assert_eq!(t.note(3), None);
        assert_eq!(t.take(), Some(5));
        assert_eq!(t.take(), None);
    }
}
