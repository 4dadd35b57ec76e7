//! The daemon's alert sinks through the library API, against real receivers on 127.0.0.1: an
//! HTTP(S) server built with hyper, TCP/TLS/UDP syslog sockets, real files, a real pipe, and
//! certificates made by the `openssl` command.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use jiff::Timestamp;
use reconwatch::alert::{Alert, AlertKind, AlertSink, Sinks};
use reconwatch::daemon::config::{SinkConfig, SuppressConfig};
use reconwatch::metrics::DaemonMetrics;
use reconwatch::rules::Level;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio_rustls::TlsAcceptor;

const DEADLINE: Duration = Duration::from_secs(20);

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn metrics() -> DaemonMetrics {
    DaemonMetrics::register(&prometheus::Registry::new())
}

/// Polls `done` until it holds, failing with `what` after [`DEADLINE`].
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alert(n: usize, rule: &str, level: Level, ip: &str, time: Option<Timestamp>) -> Alert {
    Alert {
        rule_id: rule.into(),
        title: format!("rule {rule}"),
        level,
        kind: AlertKind::Match,
        time,
        json: format!(r#"{{"n":{n},"rule":{{"id":"{rule}"}},"source":{{"ip":"{ip}"}}}}"#).into_bytes(),
    }
}

fn numbered(n: usize) -> Alert {
    alert(n, "r1", Level::High, "10.0.0.1", None)
}

fn sink(yaml: &str) -> SinkConfig {
    serde_saphyr::from_str(yaml).unwrap()
}

/// `n` of each document, in order.
fn numbers(docs: &[serde_json::Value]) -> Vec<u64> {
    docs.iter().map(|d| d["n"].as_u64().expect("n")).collect()
}

/// A port nobody listens on (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One accepted POST: its headers and the documents of its body.
type Post = (HeaderMap, Vec<serde_json::Value>);

/// What the test webhook receiver got.
#[derive(Clone, Default)]
struct Received {
    posts: Arc<Mutex<Vec<Post>>>,
    /// Requests still to answer with 500.
    fail: Arc<AtomicUsize>,
}

impl Received {
    fn documents(&self) -> Vec<serde_json::Value> {
        self.posts.lock().unwrap().iter().flat_map(|(_, d)| d.clone()).collect()
    }
}

async fn answer(req: Request<Incoming>, got: Received) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let status = if got.fail.load(Ordering::SeqCst) > 0 {
        got.fail.fetch_sub(1, Ordering::SeqCst);
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        let docs: Vec<serde_json::Value> = serde_json::from_slice(&body).expect("the body is a JSON array");
        got.posts.lock().unwrap().push((parts.headers, docs));
        StatusCode::OK
    };
    Ok(Response::builder()
        .status(status)
        .body(Full::new(Bytes::new()))
        .unwrap())
}

/// Serves HTTP (or HTTPS with `tls`) on `listener`, recording into `got`.
async fn serve_http(listener: TcpListener, tls: Option<TlsAcceptor>, got: Received) {
    while let Ok((tcp, _)) = listener.accept().await {
        let (got, tls) = (got.clone(), tls.clone());
        tokio::spawn(async move {
            let svc = service_fn(move |req| answer(req, got.clone()));
            match tls {
                Some(a) => {
                    if let Ok(s) = a.accept(tcp).await {
                        let _ = http1::Builder::new().serve_connection(TokioIo::new(s), svc).await;
                    }
                }
                None => {
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(tcp), svc).await;
                }
            }
        });
    }
}

/// Hands alerts numbered `range` to `sinks` and flushes.
fn hand_in(sinks: &mut Sinks, range: std::ops::Range<usize>) {
    for n in range {
        sinks.alert(numbered(n)).unwrap();
    }
    sinks.flush().unwrap();
}

/// Waits until the receiver holds `n` alerts, shuts `sinks` down and checks that it got exactly
/// alerts `0..n`, in order, none twice.
fn expect_all(sinks: Sinks, got: &Received, n: u64) {
    wait_for(&format!("{n} alerts at the receiver"), || {
        got.documents().len() as u64 >= n
    });
    sinks.shutdown(Instant::now() + DEADLINE);
    assert_eq!(numbers(&got.documents()), (0..n).collect::<Vec<_>>());
}

fn webhook(url: &str, extra: &str) -> SinkConfig {
    sink(&format!(
        "{{webhook: '{url}', max_backoff: 1s, headers: {{X-Token: abc}}{extra}}}"
    ))
}

#[test]
fn webhook_receiver_down_then_up_gets_every_alert_in_order_once_in_batches() {
    let rt = runtime();
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let m = metrics();
    let mut sinks = Sinks::new(
        &[webhook(&url, ", batch: 7")],
        None,
        state.path(),
        m.clone(),
        rt.handle().clone(),
    )
    .unwrap();
    hand_in(&mut sinks, 0..30);
    let label = format!("webhook:{url}");
    wait_for("a failed delivery while the receiver is down", || {
        m.sink_failures.with_label_values(&[&label]).get() > 0
    });
    assert!(m.sink_spool_bytes.with_label_values(&[&label]).get() > 0);

    let got = Received::default();
    let listener = rt.block_on(TcpListener::bind(("127.0.0.1", port))).unwrap();
    rt.spawn(serve_http(listener, None, got.clone()));
    expect_all(sinks, &got, 30);
    for (headers, docs) in got.posts.lock().unwrap().iter() {
        assert!(docs.len() <= 7, "a POST of {} alerts (batch: 7)", docs.len());
        assert_eq!(headers["x-token"], "abc");
        assert_eq!(headers["content-type"], "application/json");
    }
    assert_eq!(m.sink_deliveries.with_label_values(&[&label]).get(), 30);
    assert!(m.sink_retries.with_label_values(&[&label]).get() > 0);
    assert_eq!(m.sink_spool_bytes.with_label_values(&[&label]).get(), 0);
}

#[test]
fn webhook_errors_are_retried_until_every_alert_arrives() {
    let rt = runtime();
    let state = tempfile::tempdir().unwrap();
    let got = Received::default();
    got.fail.store(3, Ordering::SeqCst);
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    rt.spawn(serve_http(listener, None, got.clone()));
    let m = metrics();
    let mut sinks = Sinks::new(&[webhook(&url, "")], None, state.path(), m.clone(), rt.handle().clone()).unwrap();
    hand_in(&mut sinks, 0..10);
    expect_all(sinks, &got, 10);
    let label = format!("webhook:{url}");
    assert_eq!(m.sink_failures.with_label_values(&[&label]).get(), 3);
    assert!(m.sink_retries.with_label_values(&[&label]).get() >= 3);
}

#[test]
fn spooled_alerts_are_delivered_by_the_next_start_after_a_crash() {
    let rt = runtime();
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    {
        let mut sinks = Sinks::new(&[webhook(&url, "")], None, state.path(), metrics(), rt.handle().clone()).unwrap();
        hand_in(&mut sinks, 0..12);
        sinks.commit().unwrap();
        // Dropped without shutdown: as if the process had died.
    }
    let got = Received::default();
    let listener = rt.block_on(TcpListener::bind(("127.0.0.1", port))).unwrap();
    rt.spawn(serve_http(listener, None, got.clone()));
    let m = metrics();
    let mut sinks = Sinks::new(&[webhook(&url, "")], None, state.path(), m.clone(), rt.handle().clone()).unwrap();
    hand_in(&mut sinks, 12..13);
    expect_all(sinks, &got, 13);
    // And nothing is left to deliver a third time.
    let again = Sinks::new(&[webhook(&url, "")], None, state.path(), metrics(), rt.handle().clone()).unwrap();
    again.shutdown(Instant::now() + DEADLINE);
    assert_eq!(got.documents().len(), 13);
}

/// The test PKI of `common::make_pki` in `dir`: (ca.pem, server.pem, server.key).
fn pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    common::make_pki(dir);
    (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"))
}

fn acceptor(cert: &Path, key: &Path) -> TlsAcceptor {
    TlsAcceptor::from(reconwatch::tls::server_config(cert, key, None).unwrap())
}

#[test]
fn https_webhook_trusts_the_configured_ca() {
    let rt = runtime();
    let state = tempfile::tempdir().unwrap();
    let (ca, cert, key) = pki(state.path());
    let got = Received::default();
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("https://{}/alerts", listener.local_addr().unwrap());
    rt.spawn(serve_http(listener, Some(acceptor(&cert, &key)), got.clone()));
    let config = webhook(&url, &format!(", ca: {}", ca.display()));
    let mut sinks = Sinks::new(&[config], None, state.path(), metrics(), rt.handle().clone()).unwrap();
    hand_in(&mut sinks, 0..5);
    expect_all(sinks, &got, 5);
}

#[test]
fn a_file_rotates_by_size_and_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let rt = runtime();
    let config = sink(&format!("{{file: {}, max_size: 1KiB, keep: 2}}", path.display()));
    let mut sinks = Sinks::new(&[config], None, dir.path(), metrics(), rt.handle().clone()).unwrap();
    // 100 bytes a line: ten to a file of at most 1024.
    let line = |n: usize| format!(r#"{{"n":{n:03},"pad":"{}"}}"#, "x".repeat(81));
    assert_eq!(line(0).len() + 1, 100);
    for n in 0..40 {
        let mut a = numbered(n);
        a.json = line(n).into_bytes();
        sinks.alert(a).unwrap();
    }
    sinks.commit().unwrap();
    let read = |suffix: &str| {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        std::fs::read_to_string(p).unwrap()
    };
    let expect = |range: std::ops::Range<usize>| range.map(|n| line(n) + "\n").collect::<String>();
    assert_eq!(read(""), expect(30..40));
    assert_eq!(read(".1"), expect(20..30));
    assert_eq!(read(".2"), expect(10..20));
    assert!(
        !dir.path().join("alerts.jsonl.3").exists(),
        "only keep: 2 rotated files"
    );
    sinks.shutdown(Instant::now());
}

#[test]
fn a_file_sink_is_a_regular_file_only() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for (path, what) in [
        (PathBuf::from("/dev/full"), "a character device"),
        (dir.path().to_owned(), "a directory"),
        (fifo, "a FIFO"),
    ] {
        let config = sink(&format!("{{file: {}}}", path.display()));
        let e = Sinks::new(&[config], None, dir.path(), metrics(), rt.handle().clone())
            .err()
            .expect("refused")
            .to_string();
        assert!(
            e.starts_with(&format!("sink file:{}: ", path.display())) && e.contains(what),
            "{e}"
        );
    }
}

#[test]
fn stdout_writes_json_lines_on_flush_and_a_closed_pipe_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let (mut reader, writer) = std::io::pipe().unwrap();
    let m = metrics();
    let mut sinks = Sinks::with_stdout(
        &[sink("{stdout: true}")],
        None,
        dir.path(),
        m.clone(),
        rt.handle().clone(),
        Box::new(writer),
    )
    .unwrap();
    let alerts: Vec<Alert> = (0..3).map(numbered).collect();
    for a in &alerts {
        sinks.alert(a.clone()).unwrap();
    }
    sinks.flush().unwrap();
    let expect: Vec<u8> = alerts.iter().flat_map(|a| [&a.json[..], b"\n"].concat()).collect();
    let mut got = vec![0; expect.len()];
    reader.read_exact(&mut got).unwrap();
    assert_eq!(got, expect);
    assert_eq!(m.sink_deliveries.with_label_values(&["stdout"]).get(), 3);

    drop(reader);
    sinks.alert(numbered(3)).unwrap();
    let e = sinks.flush().unwrap_err();
    assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::BrokenPipe);
    assert_eq!(m.sink_failures.with_label_values(&["stdout"]).get(), 1);
}

/// The RFC 6587 octet-counted frames in `bytes`, and whatever incomplete frame trails them.
fn frames(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(sp) = rest.iter().position(|&b| b == b' ') {
        let len: usize = std::str::from_utf8(&rest[..sp])
            .unwrap()
            .parse()
            .expect("an octet count");
        if rest.len() < sp + 1 + len {
            break;
        }
        out.push(String::from_utf8(rest[sp + 1..sp + 1 + len].to_vec()).unwrap());
        rest = &rest[sp + 1 + len..];
    }
    out
}

/// Checks one RFC 5424 message: PRI (local0 and the level's severity), version, app name, PID,
/// MSGID, no structured data; returns its MSG.
fn check_5424(msg: &str, level: Level) -> serde_json::Value {
    let severity = match level {
        Level::Critical => 2,
        Level::High => 3,
        Level::Medium => 4,
        Level::Low => 5,
        Level::Informational => 6,
    };
    let parts: Vec<&str> = msg.splitn(8, ' ').collect();
    assert_eq!(parts[0], format!("<{}>1", 16 * 8 + severity), "{msg}");
    assert!(parts[1].parse::<Timestamp>().is_ok(), "{msg}");
    assert_eq!(
        &parts[3..7],
        ["reconwatch", &std::process::id().to_string(), "ALERT", "-"],
        "{msg}"
    );
    serde_json::from_str(parts[7]).expect("MSG is the alert JSON")
}

const LEVELS: [Level; 5] = [
    Level::Critical,
    Level::High,
    Level::Medium,
    Level::Low,
    Level::Informational,
];

/// Accepts connections on `listener` (TLS with `tls`) and appends all they send to `got`.
async fn serve_syslog(listener: TcpListener, tls: Option<TlsAcceptor>, got: Arc<Mutex<Vec<u8>>>) {
    while let Ok((tcp, _)) = listener.accept().await {
        let (got, tls) = (got.clone(), tls.clone());
        tokio::spawn(async move {
            let mut stream: Box<dyn tokio::io::AsyncRead + Unpin + Send> = match tls {
                Some(a) => match a.accept(tcp).await {
                    Ok(s) => Box::new(s),
                    Err(_) => return,
                },
                None => Box::new(tcp),
            };
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf).await
                && n > 0
            {
                got.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
    }
}

fn syslog_stream(tls: bool) {
    let rt = runtime();
    let state = tempfile::tempdir().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let (config, acceptor) = if tls {
        let (ca, cert, key) = pki(state.path());
        let c = sink(&format!(
            "{{syslog: 'tls://{addr}', ca: {}, max_backoff: 1s}}",
            ca.display()
        ));
        (c, Some(acceptor(&cert, &key)))
    } else {
        (sink(&format!("{{syslog: 'tcp://{addr}', max_backoff: 1s}}")), None)
    };
    rt.spawn(serve_syslog(listener, acceptor, got.clone()));
    let mut sinks = Sinks::new(&[config], None, state.path(), metrics(), rt.handle().clone()).unwrap();
    for n in 0..20 {
        sinks.alert(alert(n, "r1", LEVELS[n % 5], "10.0.0.1", None)).unwrap();
    }
    sinks.flush().unwrap();
    wait_for("20 syslog frames", || frames(&got.lock().unwrap()).len() >= 20);
    sinks.shutdown(Instant::now() + DEADLINE);
    let frames = frames(&got.lock().unwrap());
    assert_eq!(frames.len(), 20);
    for (n, msg) in frames.iter().enumerate() {
        assert_eq!(check_5424(msg, LEVELS[n % 5])["n"], n);
    }
}

#[test]
fn syslog_over_tcp_is_octet_counted_rfc5424() {
    syslog_stream(false);
}

#[test]
fn syslog_over_tls() {
    syslog_stream(true);
}

#[test]
fn syslog_over_udp_sends_a_datagram_per_alert() {
    let rt = runtime();
    let state = tempfile::tempdir().unwrap();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    let addr = socket.local_addr().unwrap();
    let m = metrics();
    let config = sink(&format!("{{syslog: 'udp://{addr}'}}"));
    let mut sinks = Sinks::new(&[config], None, state.path(), m.clone(), rt.handle().clone()).unwrap();
    for (n, level) in LEVELS.into_iter().enumerate() {
        sinks.alert(alert(n, "r1", level, "10.0.0.1", None)).unwrap();
    }
    let mut buf = [0u8; 65536];
    for (n, level) in LEVELS.into_iter().enumerate() {
        let len = socket.recv(&mut buf).expect("a datagram within the deadline");
        let msg = std::str::from_utf8(&buf[..len]).unwrap();
        assert_eq!(check_5424(msg, level)["n"], n);
    }
    assert_eq!(
        m.sink_deliveries
            .with_label_values(&[&format!("syslog:udp://{addr}")])
            .get(),
        5
    );
    sinks.shutdown(Instant::now());
}

#[test]
fn repeats_are_suppressed_within_the_window_of_event_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let rt = runtime();
    let m = metrics();
    let suppress = SuppressConfig {
        window: "10m".into(),
        fields: Some(vec!["source.ip".into()]),
    };
    let config = sink(&format!("{{file: {}}}", path.display()));
    let mut sinks = Sinks::new(&[config], Some(&suppress), dir.path(), m.clone(), rt.handle().clone()).unwrap();
    let t0: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
    let at = |minutes: i64| Some(t0 + jiff::SignedDuration::from_mins(minutes));
    let correlation = |n: usize, minutes: i64| Alert {
        kind: AlertKind::Correlation,
        ..alert(n, "r1", Level::High, "10.0.0.1", at(minutes))
    };
    let alerts = [
        alert(1, "r1", Level::High, "10.0.0.1", at(0)),
        alert(2, "r1", Level::High, "10.0.0.1", at(1)), // a repeat: suppressed
        alert(3, "r1", Level::High, "10.0.0.2", at(2)), // another source.ip
        alert(4, "r2", Level::High, "10.0.0.1", at(3)), // another rule
        correlation(5, 4),                              // correlations are never suppressed
        correlation(6, 4),
        alert(7, "r1", Level::High, "10.0.0.1", at(11)), // after the window
        alert(8, "r1", Level::High, "10.0.0.1", at(12)), // a repeat of 7: suppressed
    ];
    for a in alerts {
        sinks.alert(a).unwrap();
    }
    sinks.commit().unwrap();
    let docs: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(numbers(&docs), [1, 3, 4, 5, 6, 7]);
    assert_eq!(m.alerts_suppressed.with_label_values(&["r1"]).get(), 2);
    assert_eq!(m.alerts_suppressed.with_label_values(&["r2"]).get(), 0);
    sinks.shutdown(Instant::now());
}

#[test]
fn the_settings_are_checked_without_side_effects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let configs = [
        sink(&format!("{{file: {}, max_size: 100MB}}", path.display())),
        sink("{webhook: 'https://soar.example/hook', batch: 50, headers: {Authorization: 'Bearer x'}}"),
    ];
    Sinks::check(&configs, None).unwrap();
    assert!(!path.exists(), "check created the file");
}
