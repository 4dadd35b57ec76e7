//! The syslog listeners (`source::listen`) through the library API: real sockets on 127.0.0.1,
//! real senders (`logger` from util-linux, std and tokio sockets, a rustls client with
//! certificates made by the `openssl` CLI), a real bounded channel as detection's queue.
//!
//! Nothing here waits blindly: every wait polls for what it needs, up to [`DEADLINE`], and fails
//! saying what did not arrive.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reconwatch::metrics::DaemonMetrics;
use reconwatch::source::feed::{Feed, FeedReceiver, FeedSender, MAX_BATCH_BYTES, SourceInfo, StreamId};
use reconwatch::source::listen::{self, ListenerSettings};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(20);

/// One stream as the engine saw it.
#[derive(Debug, Default)]
struct Stream {
    name: String,
    lines: Vec<String>,
    offsets: Vec<u64>,
    truncated: Vec<bool>,
    closed: bool,
}

/// Everything received on the feed, checked against the contract as it arrives.
#[derive(Debug, Default)]
struct Collected {
    streams: Vec<Stream>,
    index: HashMap<StreamId, usize>,
    /// Breaches of the feed contract.
    problems: Vec<String>,
}

impl Collected {
    fn take(&mut self, msg: Feed) {
        match msg {
            Feed::Open(o) => {
                if o.start != 0 || o.file.is_some() {
                    self.problems
                        .push(format!("{}: a socket stream starts at 0 without a file", o.name));
                }
                if self.index.insert(o.stream, self.streams.len()).is_some() {
                    self.problems.push(format!("{}: opened twice", o.name));
                }
                self.streams.push(Stream {
                    name: o.name.to_string(),
                    ..Stream::default()
                });
            }
            Feed::Lines(b) => {
                let Some(&i) = self.index.get(&b.stream) else {
                    self.problems.push("lines of a stream never opened".into());
                    return;
                };
                if b.data.len() > MAX_BATCH_BYTES && b.lines.len() > 1 {
                    self.problems.push(format!("a batch of {} bytes", b.data.len()));
                }
                let s = &mut self.streams[i];
                if s.closed {
                    self.problems.push(format!("{}: lines after Close", s.name));
                }
                for (n, l) in b.lines.iter().enumerate() {
                    if s.offsets.last().is_some_and(|&o| o >= l.offset) {
                        self.problems
                            .push(format!("{}: offsets go back at {}", s.name, l.offset));
                    }
                    s.lines.push(String::from_utf8_lossy(b.line(n)).into_owned());
                    s.offsets.push(l.offset);
                    s.truncated.push(l.truncated);
                }
            }
            Feed::Close { stream } => match self.index.get(&stream) {
                Some(&i) if !self.streams[i].closed => self.streams[i].closed = true,
                _ => self.problems.push("Close of a stream not open".into()),
            },
        }
    }

    fn lines(&self) -> usize {
        self.streams.iter().map(|s| s.lines.len()).sum()
    }

    fn closed(&self) -> usize {
        self.streams.iter().filter(|s| s.closed).count()
    }

    /// The stream whose lines include `needle`.
    fn stream_with(&self, needle: &str) -> &Stream {
        self.streams
            .iter()
            .find(|s| s.lines.iter().any(|l| l.contains(needle)))
            .unwrap_or_else(|| panic!("no stream has a line with {needle:?}"))
    }
}

#[derive(Clone)]
struct Seen(Arc<Mutex<Collected>>);

impl Seen {
    /// Drains the feed from now on.
    fn collect(mut rx: FeedReceiver) -> Seen {
        let seen = Seen(Arc::default());
        let s = seen.clone();
        tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                s.0.lock().unwrap().take(msg);
            }
        });
        seen
    }

    /// Polls until `cond` holds; fails naming `what` and what did arrive.
    async fn wait(&self, what: &str, cond: impl Fn(&Collected) -> bool) {
        let start = Instant::now();
        loop {
            {
                let c = self.0.lock().unwrap();
                assert!(c.problems.is_empty(), "feed contract broken: {:?}", c.problems);
                if cond(&c) {
                    return;
                }
                if start.elapsed() > DEADLINE {
                    panic!(
                        "waited {DEADLINE:?} for {what}; got {} streams, {} lines, {} closed",
                        c.streams.len(),
                        c.lines(),
                        c.closed()
                    );
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn with<T>(&self, f: impl FnOnce(&Collected) -> T) -> T {
        f(&self.0.lock().unwrap())
    }
}

/// Polls until `cond` holds (for conditions outside the feed: metrics, sockets).
async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "waited {DEADLINE:?} for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A listener running on 127.0.0.1 with its own metrics and queue.
struct Harness {
    addr: SocketAddr,
    label: String,
    metrics: DaemonMetrics,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    rx: Option<FeedReceiver>,
}

impl Harness {
    async fn tcp(
        max_connections: usize,
        tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
        queue: usize,
    ) -> Harness {
        let listener = listen::bind_tcp("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let kind = if tls.is_some() { "syslog_tls" } else { "syslog_tcp" };
        Harness::start(
            addr,
            kind,
            max_connections,
            tls,
            queue,
            |settings, tx, metrics, cancel| tokio::spawn(listen::serve_tcp(listener, settings, tx, metrics, cancel)),
        )
    }

    async fn udp(queue: usize) -> Harness {
        let socket = listen::bind_udp("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = socket.local_addr().unwrap();
        Harness::start(addr, "syslog_udp", 1, None, queue, |settings, tx, metrics, cancel| {
            tokio::spawn(listen::serve_udp(socket, settings, tx, metrics, cancel))
        })
    }

    fn start(
        addr: SocketAddr,
        kind: &str,
        max_connections: usize,
        tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
        queue: usize,
        serve: impl FnOnce(ListenerSettings, FeedSender, DaemonMetrics, CancellationToken) -> tokio::task::JoinHandle<()>,
    ) -> Harness {
        let label = format!("{kind}:{addr}");
        let (tx, rx) = tokio::sync::mpsc::channel(queue);
        let metrics = DaemonMetrics::register(&prometheus::Registry::new());
        let cancel = CancellationToken::new();
        let settings = ListenerSettings {
            source: Arc::new(SourceInfo::new(&label, None)),
            max_line: 64 * 1024,
            max_connections,
            tls,
        };
        let task = serve(settings, tx, metrics.clone(), cancel.clone());
        Harness {
            addr,
            label,
            metrics,
            cancel,
            task,
            rx: Some(rx),
        }
    }

    fn collect(&mut self) -> Seen {
        Seen::collect(self.rx.take().expect("collected once"))
    }

    fn connections(&self, outcome: &str) -> u64 {
        self.metrics
            .syslog_connections
            .with_label_values(&[&self.label, outcome])
            .get()
    }

    fn frame_errors(&self, reason: &str) -> u64 {
        self.metrics
            .syslog_frame_errors
            .with_label_values(&[&self.label, reason])
            .get()
    }

    fn open_streams(&self) -> i64 {
        self.metrics.source_streams.with_label_values(&[&self.label]).get()
    }

    /// Cancels and waits for the listener to return (each stream closed).
    async fn stop(self) {
        self.cancel.cancel();
        let open = self.metrics.source_streams.with_label_values(&[&self.label]);
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("the listener returns once cancelled")
            .unwrap();
        assert_eq!(open.get(), 0, "no stream left open");
    }
}

/// Runs `logger` with `args`, one message per line of `lines` (logger sends each line of its
/// standard input as a message).
fn logger(args: &[&str], port: u16, lines: &[String]) {
    let mut child = Command::new("logger")
        .args(args)
        .args([
            "-n",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "--rfc5424",
            "-t",
            "postfix/smtp",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .expect("logger (util-linux) is installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.join("\n").as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "logger {args:?} failed");
}

fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix} {i}")).collect()
}

/// `lines` ends with the messages of `expected`, in order (logger adds its header in front).
fn assert_messages(lines: &[String], expected: &[String]) {
    assert_eq!(lines.len(), expected.len(), "{lines:?}");
    for (l, e) in lines.iter().zip(expected) {
        assert!(
            l.starts_with("<13>1 ") && l.contains(" postfix/smtp ") && l.ends_with(e.as_str()),
            "{l:?} is not {e:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_datagrams_from_logger_and_a_socket_are_lines_of_one_stream() {
    let mut h = Harness::udp(16).await;
    let seen = h.collect();
    let expected = numbered("msg", 20);
    logger(&["--udp"], h.addr.port(), &expected);
    seen.wait("20 datagrams from logger", |c| c.lines() == 20).await;

    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // Several lines in one datagram, line endings and a trailing NUL dropped.
    sock.send_to(b"<14>first\n<14>second\n", h.addr).unwrap();
    sock.send_to(b"<14>third\r\n\0", h.addr).unwrap();
    seen.wait("three lines from two datagrams", |c| c.lines() == 23).await;
    seen.with(|c| {
        assert_eq!(c.streams.len(), 1, "one stream per listener");
        let s = &c.streams[0];
        assert_eq!(s.name, h.label);
        assert_messages(&s.lines[..20], &expected);
        assert_eq!(s.lines[20..], ["<14>first", "<14>second", "<14>third"]);
    });
    assert_eq!(h.open_streams(), 1);
    h.stop().await;
    seen.wait("the stream closed on shutdown", |c| c.closed() == 1).await;
}

/// A burst far beyond what the queue and the socket buffer hold, while detection is stuck:
/// every datagram is either delivered or counted as dropped by the kernel. Exact: the kernel
/// counts each datagram it drops for our socket (`drops` in /proc/net/udp), and the listener
/// drops none it has read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_udp_burst_is_delivered_or_counted_as_dropped() {
    const SENT: usize = 50_000;
    let mut h = Harness::udp(1).await;
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let pad = "x".repeat(80);
    for i in 0..SENT {
        sock.send_to(format!("<13>burst {i} {pad}").as_bytes(), h.addr).unwrap();
    }
    // Only now does detection start taking lines.
    let seen = h.collect();
    let drops = h.metrics.udp_drops.with_label_values(&[&h.label, "kernel"]);
    let d = drops.clone();
    let s = seen.clone();
    wait_until("every datagram delivered or counted as dropped", move || {
        s.with(|c| c.lines()) + d.get() as usize == SENT
    })
    .await;
    assert!(
        drops.get() > 0,
        "the burst should overflow the socket buffer (is net.core.rmem_default huge?)"
    );
    assert_eq!(
        h.metrics.udp_drops.with_label_values(&[&h.label, "queue_full"]).get(),
        0
    );
    seen.with(|c| {
        // What arrived arrived whole and in order.
        let numbers: Vec<usize> = c.streams[0]
            .lines
            .iter()
            .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
            .collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "out of order");
    });
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_from_logger_with_either_framing() {
    let mut h = Harness::tcp(8, None, 16).await;
    let seen = h.collect();
    let lf = numbered("lf", 100);
    let counted = numbered("counted", 100);
    logger(&["--tcp"], h.addr.port(), &lf);
    logger(&["--tcp", "--octet-count"], h.addr.port(), &counted);
    seen.wait("both connections read and closed", |c| {
        c.closed() == 2 && c.lines() == 200
    })
    .await;
    seen.with(|c| {
        for (expected, needle) in [(&lf, "lf 0"), (&counted, "counted 0")] {
            let s = c.stream_with(needle);
            assert!(
                s.name.starts_with(&format!("{} from 127.0.0.1:", h.label)),
                "{}",
                s.name
            );
            assert_messages(&s.lines, expected);
        }
        // Octet counting: a message's offset is that of its first byte, after `LEN `.
        assert_eq!(c.stream_with("counted 0").offsets[0], 4);
        assert_eq!(c.stream_with("lf 0").offsets[0], 0);
    });
    assert_eq!(h.connections("accepted"), 2);
    h.stop().await;
}

/// Writes `bytes` one byte per write (no coalescing: `TCP_NODELAY`).
async fn dribble(conn: &mut TcpStream, bytes: &[u8]) {
    conn.set_nodelay(true).unwrap();
    for b in bytes {
        conn.write_all(std::slice::from_ref(b)).await.unwrap();
        conn.flush().await.unwrap();
    }
}

fn counted(msg: &str) -> String {
    format!("{} {msg}", msg.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_split_into_single_bytes_arrive_whole() {
    let mut h = Harness::tcp(8, None, 16).await;
    let seen = h.collect();
    let mut a = TcpStream::connect(h.addr).await.unwrap();
    let frames = [
        counted("<13>1 - host app - - - first"),
        // A newline inside an octet-counted message: still one line, the newline a space.
        counted("<13>1 - host app - - - line one\nline two"),
        counted("<13>1 - host app - - - last\n"),
    ]
    .concat();
    dribble(&mut a, frames.as_bytes()).await;
    let mut b = TcpStream::connect(h.addr).await.unwrap();
    dribble(&mut b, b"<13>lf one\n<13>lf two\r\n<13>lf three").await;
    drop((a, b));
    seen.wait("two connections closed", |c| c.closed() == 2).await;
    seen.with(|c| {
        assert_eq!(
            c.stream_with("first").lines,
            [
                "<13>1 - host app - - - first",
                "<13>1 - host app - - - line one line two",
                "<13>1 - host app - - - last"
            ]
        );
        // A last line without its newline is still a line.
        assert_eq!(
            c.stream_with("lf one").lines,
            ["<13>lf one", "<13>lf two", "<13>lf three"]
        );
        assert!(c.streams.iter().all(|s| s.truncated.iter().all(|t| !t)));
    });
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_octet_count_closes_only_its_connection() {
    let mut h = Harness::tcp(8, None, 16).await;
    let seen = h.collect();
    let mut good = TcpStream::connect(h.addr).await.unwrap();
    good.write_all(counted("<13>good 1").as_bytes()).await.unwrap();
    let mut bad = TcpStream::connect(h.addr).await.unwrap();
    bad.write_all(format!("{}x9 <13>never", counted("<13>before")).as_bytes())
        .await
        .unwrap();
    seen.wait("the bad connection closed", |c| c.closed() == 1).await;
    // The listener closed it: the sender reads the end.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(DEADLINE, tokio::io::AsyncReadExt::read_to_end(&mut bad, &mut rest)).await;
    assert!(read.is_ok(), "the bad connection is closed by the listener");
    assert_eq!(h.frame_errors("bad_octet_count"), 1);

    good.write_all(counted("<13>good 2").as_bytes()).await.unwrap();
    seen.wait("the good connection goes on", |c| c.lines() == 3).await;
    seen.with(|c| {
        assert_eq!(c.stream_with("before").lines, ["<13>before"]);
        let g = c.stream_with("good 1");
        assert_eq!(g.lines, ["<13>good 1", "<13>good 2"]);
        assert!(!g.closed);
    });
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_connections_of_a_thousand_messages_each() {
    const CONNS: usize = 50;
    const MSGS: usize = 1_000;
    let mut h = Harness::tcp(64, None, 8).await;
    let seen = h.collect();
    let mut senders = Vec::new();
    for c in 0..CONNS {
        let addr = h.addr;
        senders.push(tokio::spawn(async move {
            let mut conn = TcpStream::connect(addr).await.unwrap();
            let mut out = String::new();
            for m in 0..MSGS {
                let msg = format!("<13>conn {c} msg {m}");
                // Half the senders count octets, half end lines.
                if c % 2 == 0 {
                    out.push_str(&counted(&msg));
                } else {
                    out.push_str(&msg);
                    out.push('\n');
                }
            }
            conn.write_all(out.as_bytes()).await.unwrap();
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    seen.wait("every connection read to its end", |c| c.closed() == CONNS)
        .await;
    seen.with(|c| {
        assert_eq!(c.lines(), CONNS * MSGS);
        for s in &c.streams {
            let conn: usize = s.lines[0].split(' ').nth(1).unwrap().parse().unwrap();
            let expected: Vec<String> = (0..MSGS).map(|m| format!("<13>conn {conn} msg {m}")).collect();
            assert_eq!(s.lines, expected, "connection {conn} in order");
        }
    });
    assert_eq!(h.connections("accepted"), CONNS as u64);
    assert_eq!(h.open_streams(), 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_refused() {
    let mut h = Harness::tcp(2, None, 16).await;
    let seen = h.collect();
    let mut first = TcpStream::connect(h.addr).await.unwrap();
    let second = TcpStream::connect(h.addr).await.unwrap();
    seen.wait("two connections open", |c| c.streams.len() == 2).await;
    let mut third = TcpStream::connect(h.addr).await.unwrap();
    // Accepted by the kernel, closed by the listener.
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(DEADLINE, tokio::io::AsyncReadExt::read(&mut third, &mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the third connection is closed: {read:?}"
    );
    assert_eq!(h.connections("refused"), 1);
    assert_eq!(h.open_streams(), 2);

    // A slot freed is a slot for the next.
    first.write_all(b"<13>bye\n").await.unwrap();
    drop(first);
    seen.wait("the first connection closed", |c| c.closed() == 1).await;
    let mut fourth = TcpStream::connect(h.addr).await.unwrap();
    fourth.write_all(b"<13>fourth\n").await.unwrap();
    seen.wait("the fourth connection read", |c| c.lines() == 2).await;
    assert_eq!(h.connections("accepted"), 3);
    drop(second);
    h.stop().await;
}

/// Detection stuck (a queue of one batch, not drained): the listener stops reading, so the
/// sender's writes stop going through; once detection drains, every message arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_pushes_back_on_the_tcp_sender() {
    // Far more than the socket buffers (tcp_rmem/tcp_wmem max) hold: reaching it means the
    // listener kept reading with nowhere to put the lines.
    const CAP: usize = 128 * 1024 * 1024;
    let mut h = Harness::tcp(8, None, 1).await;
    let addr = h.addr;
    let (blocked_after, conn) = tokio::task::spawn_blocking(move || {
        let mut conn = StdTcpStream::connect(addr).unwrap();
        conn.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
        let (mut sent, mut written, mut n) = (0usize, 0usize, 0usize);
        let mut msg = message(0);
        loop {
            match conn.write(&msg.as_bytes()[written..]) {
                Ok(k) => {
                    written += k;
                    sent += k;
                    if written == msg.len() {
                        n += 1;
                        msg = message(n);
                        written = 0;
                    }
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    break;
                }
                Err(e) => panic!("write: {e}"),
            }
            assert!(sent < CAP, "{sent} bytes written and the sender never blocked");
        }
        // Finish the message cut by the block, later.
        (n, (conn, msg, written))
    })
    .await
    .unwrap();
    assert_eq!(h.rx.as_ref().unwrap().len(), 1, "the queue is full");

    let seen = h.collect();
    let total = blocked_after + 1000;
    tokio::task::spawn_blocking(move || {
        let (mut conn, msg, written) = conn;
        conn.set_write_timeout(None).unwrap();
        conn.write_all(&msg.as_bytes()[written..]).unwrap();
        for n in blocked_after + 1..total {
            conn.write_all(message(n).as_bytes()).unwrap();
        }
    })
    .await
    .unwrap();
    seen.wait("every message after draining", |c| c.closed() == 1).await;
    seen.with(|c| {
        let lines = &c.streams[0].lines;
        assert_eq!(lines.len(), total);
        assert!(
            lines.iter().enumerate().all(|(i, l)| *l == message(i).trim_end()),
            "all in order"
        );
    });
    h.stop().await;
}

fn message(n: usize) -> String {
    format!("<13>1 2024-05-01T10:00:00Z gw postfix/smtp 1 - - backpressure message {n:09}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_stream() {
    let mut tcp = Harness::tcp(8, None, 16).await;
    let seen = tcp.collect();
    let mut conns = Vec::new();
    for i in 0..3 {
        let mut c = TcpStream::connect(tcp.addr).await.unwrap();
        c.write_all(format!("<13>idle {i}\n").as_bytes()).await.unwrap();
        conns.push(c);
    }
    // A message still without its end when the daemon stops: handed over as it is.
    conns[0].write_all(b"<13>half").await.unwrap();
    seen.wait("three connections with a line each", |c| c.lines() == 3)
        .await;
    let stop = tokio::spawn(tcp.stop());
    tokio::time::timeout(DEADLINE, stop).await.unwrap().unwrap();
    seen.wait("every stream closed", |c| c.closed() == 3).await;
    seen.with(|c| assert_eq!(c.stream_with("idle 0").lines, ["<13>idle 0", "<13>half"]));
    // The listener let go of the connections.
    let mut buf = [0u8; 1];
    for c in &mut conns {
        let read = tokio::time::timeout(DEADLINE, tokio::io::AsyncReadExt::read(c, &mut buf)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    }
}

/// The test PKI of `common::make_pki` in a directory of its own.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        common::make_pki(dir.path());
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn server(&self, client_ca: bool) -> Arc<tokio_rustls::rustls::ServerConfig> {
        let ca = self.path("ca.pem");
        reconwatch::tls::server_config(
            &self.path("server.pem"),
            &self.path("server.key"),
            client_ca.then_some(ca.as_path()),
        )
        .unwrap()
    }

    fn client(&self, with_cert: bool) -> tokio_rustls::TlsConnector {
        let (cert, key) = (self.path("client.pem"), self.path("client.key"));
        let config = reconwatch::tls::client_config(
            Some(&self.path("ca.pem")),
            with_cert.then_some(cert.as_path()),
            with_cert.then_some(key.as_path()),
        )
        .unwrap();
        tokio_rustls::TlsConnector::from(config)
    }
}

/// Connects over TLS and sends `bytes`; the error if the handshake or the write failed.
async fn send_tls(connector: &tokio_rustls::TlsConnector, addr: SocketAddr, bytes: &[u8]) -> std::io::Result<()> {
    let tcp = TcpStream::connect(addr).await?;
    let name = pki_types::ServerName::IpAddress(addr.ip().into());
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(bytes).await?;
    tls.shutdown().await?;
    // Wait for the listener to close its side, so its verdict on us is in. It closes without
    // a TLS close_notify (it only ever reads), which rustls reports as an unexpected end.
    let mut rest = Vec::new();
    match tokio::io::AsyncReadExt::read_to_end(&mut tls, &mut rest).await {
        Err(e) if e.kind() != std::io::ErrorKind::UnexpectedEof => Err(e),
        _ => Ok(()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_either_framing() {
    let pki = Pki::new();
    let mut h = Harness::tcp(8, Some(pki.server(false)), 16).await;
    let seen = h.collect();
    let client = pki.client(false);
    let frames = [counted("<13>tls counted 1"), counted("<13>tls counted 2\n")].concat();
    send_tls(&client, h.addr, frames.as_bytes()).await.unwrap();
    send_tls(&client, h.addr, b"<13>tls lf 1\n<13>tls lf 2\n")
        .await
        .unwrap();
    seen.wait("both TLS connections read and closed", |c| c.closed() == 2)
        .await;
    seen.with(|c| {
        assert_eq!(
            c.stream_with("tls counted 1").lines,
            ["<13>tls counted 1", "<13>tls counted 2"]
        );
        assert_eq!(c.stream_with("tls lf 1").lines, ["<13>tls lf 1", "<13>tls lf 2"]);
        assert!(c.streams[0].name.starts_with("syslog_tls:127.0.0.1:"));
    });
    assert_eq!(h.connections("accepted"), 2);
    assert_eq!(h.connections("tls_failed"), 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_certificates_are_required_when_configured() {
    let pki = Pki::new();
    let mut h = Harness::tcp(8, Some(pki.server(true)), 16).await;
    let seen = h.collect();
    // TLS 1.3: the client may finish its side of the handshake before the server rejects it,
    // so only the listener's count tells.
    let _ = send_tls(&pki.client(false), h.addr, b"<13>anonymous\n").await;
    wait_until("the certificate-less client counted as tls_failed", || {
        h.connections("tls_failed") == 1
    })
    .await;
    // A plain-text sender on a TLS port fails the same way.
    let mut plain = StdTcpStream::connect(h.addr).unwrap();
    plain.write_all(b"<13>plain text\n").unwrap();
    let _ = plain.read(&mut [0u8; 64]);
    wait_until("the plain-text sender counted as tls_failed", || {
        h.connections("tls_failed") == 2
    })
    .await;

    send_tls(&pki.client(true), h.addr, b"<13>with a certificate\n")
        .await
        .unwrap();
    seen.wait("the certified client's line", |c| c.closed() == 1).await;
    seen.with(|c| {
        assert_eq!(c.streams.len(), 1, "only the certified client got a stream");
        assert_eq!(c.streams[0].lines, ["<13>with a certificate"]);
    });
    assert_eq!(h.connections("accepted"), 1);
    h.stop().await;
}

#[test]
fn binding_a_taken_address_names_it() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let taken = listen::bind_tcp("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = taken.local_addr().unwrap();
        let e = listen::bind_tcp(addr).await.unwrap_err().to_string();
        assert!(e.contains(&addr.to_string()) && e.contains("in use"), "{e}");
        let udp = listen::bind_udp("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = udp.local_addr().unwrap();
        let e = listen::bind_udp(addr).await.unwrap_err().to_string();
        assert!(e.starts_with(&format!("syslog udp {addr}: cannot listen")), "{e}");
    });
}
