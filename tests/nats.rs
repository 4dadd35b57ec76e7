//! The NATS JetStream scale-out against a real `nats-server -js` (Debian's `nats-server`, which
//! `.ci/test` installs): each test starts its own server on 127.0.0.1 with a free port and a
//! temporary store. Without the server the tests fail and say so.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt as _;

use common::broker::{assert_same_alerts, lines_of, postfix_queue_id, scan_alerts};
use common::{gen_world, run, stderr};
use reconwatch::broker::lines::{self, StreamHeader};
use reconwatch::broker::nats::from_header_map;

/// A `nats-server -js` of its own, stopped when dropped.
struct NatsServer {
    child: Child,
    port: u16,
    _store: tempfile::TempDir,
}

fn nats_server_binary() -> PathBuf {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/usr/bin"])
    {
        let p = Path::new(dir).join("nats-server");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "nats-server is not installed: these tests need Debian's nats-server (JetStream); .ci/test installs it (apt-get install nats-server)"
    );
}

impl NatsServer {
    fn start() -> NatsServer {
        let bin = nats_server_binary();
        let store = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(bin)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on port {port} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        NatsServer {
            child,
            port,
            _store: store,
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One shipped line as a worker would see it.
#[derive(Debug, Clone)]
struct Shipped {
    partition: u32,
    header: StreamHeader,
    offset: u64,
    bytes: Vec<u8>,
}

/// (partition, stream) of each close or announcement.
type Marks = Vec<(u32, String)>;

/// Everything in the lines stream (acknowledged, so the work queue empties), the closes and
/// the announcements.
fn drain_lines(url: &str) -> (Vec<Shipped>, Marks, Marks) {
    runtime().block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = jetstream::new(client);
        let stream = js.get_stream("RECONWATCH_LINES").await.unwrap();
        let consumer: consumer::PullConsumer = stream
            .create_consumer(consumer::pull::Config {
                durable_name: Some("test-drain".into()),
                ack_policy: consumer::AckPolicy::Explicit,
                ..Default::default()
            })
            .await
            .unwrap();
        let (mut out, mut closes, mut opens) = (Vec::new(), Vec::new(), Vec::new());
        loop {
            let mut batch = consumer
                .fetch()
                .max_messages(500)
                .expires(Duration::from_millis(500))
                .messages()
                .await
                .unwrap();
            let mut got = 0;
            while let Some(m) = batch.next().await {
                let m = m.unwrap();
                got += 1;
                let partition: u32 = m.subject.rsplit('.').next().unwrap().parse().unwrap();
                let headers = from_header_map(m.headers.as_ref());
                if let Some(stream) = lines::announced(&headers) {
                    opens.push((partition, stream.to_owned()));
                    m.ack().await.unwrap();
                    continue;
                }
                let (header, close) = StreamHeader::read(&headers).unwrap();
                if close {
                    assert!(m.payload.is_empty());
                    closes.push((partition, header.stream.clone()));
                }
                for l in lines::lines(&m.payload) {
                    let l = l.unwrap();
                    out.push(Shipped {
                        partition,
                        header: header.clone(),
                        offset: l.offset,
                        bytes: l.bytes.to_vec(),
                    });
                }
                m.ack().await.unwrap();
            }
            if got == 0 {
                break;
            }
        }
        (out, closes, opens)
    })
}

#[test]
fn ship_once_puts_every_line_of_a_world_into_its_partition_once() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let world = gen_world(dir.path(), "11", "3MB");
    let o = run(&[
        "ship",
        "--nats",
        &nats.url(),
        "--partitions",
        "4",
        "--name",
        "gw1",
        world.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "ship failed: {}", stderr(&o));
    assert!(stderr(&o).contains("shipped "), "{}", stderr(&o));

    let (shipped, closes, opens) = drain_lines(&nats.url());
    let expected = lines_of(&world);
    let mut seen: HashMap<(String, u64), &Shipped> = HashMap::new();
    for s in &shipped {
        let key = (s.header.name.clone(), s.offset);
        assert!(seen.insert(key.clone(), s).is_none(), "line {key:?} shipped twice");
        assert_eq!(
            expected.get(&key),
            Some(&s.bytes),
            "line {key:?} differs from the file's"
        );
    }
    assert_eq!(seen.len(), expected.len(), "every line of the world is shipped");

    // Every stream is announced to every partition before its lines, and closed on every one.
    let streams: HashSet<&str> = shipped.iter().map(|s| s.header.stream.as_str()).collect();
    for stream in &streams {
        assert!(stream.starts_with("gw1|files|"), "{stream}");
        for (what, list) in [("announced", &opens), ("closed", &closes)] {
            let parts: HashSet<u32> = list.iter().filter(|c| c.1 == *stream).map(|c| c.0).collect();
            assert_eq!(parts.len(), 4, "{stream} {what} on every partition");
        }
    }

    // A Postfix message's lines share a partition; the maillog spreads over all of them.
    let mut by_queue_id: HashMap<String, HashSet<u32>> = HashMap::new();
    let mut mail_parts = HashSet::new();
    let mut formats = HashSet::new();
    for s in &shipped {
        formats.insert(s.header.format.name());
        if s.header.format.name() != "postfix" {
            continue;
        }
        mail_parts.insert(s.partition);
        let text = String::from_utf8_lossy(&s.bytes);
        // `... postfix/qmgr[900]: 4A1B2C3D4E: removed`
        if let Some(id) = postfix_queue_id(&text) {
            by_queue_id.entry(id.to_owned()).or_default().insert(s.partition);
        }
    }
    assert!(formats.contains("postfix") && formats.contains("squid"), "{formats:?}");
    assert!(by_queue_id.len() > 50, "the world's maillog has messages");
    for (id, parts) in &by_queue_id {
        assert_eq!(parts.len(), 1, "message {id} on partitions {parts:?}");
    }
    assert_eq!(mail_parts.len(), 4, "mail spreads over the partitions");
}

#[test]
fn a_shipper_with_another_partition_count_is_refused() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let f = common::write(
        dir.path(),
        "a.log",
        "1610356086.534    169 10.20.1.15 TCP_MISS/200 447 GET https://x.example/ - HIER_DIRECT/198.51.100.183 text/html\n",
    );
    let ship = |n: &str| run(&["ship", "--nats", &nats.url(), "--partitions", n, f.to_str().unwrap()]);
    assert!(ship("3").status.success());
    let o = ship("5");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("set up with 3 partitions") && stderr(&o).contains("--partitions 3"),
        "{}",
        stderr(&o)
    );
}

/// Every alert document in the alerts stream, sorted, duplicates removed (JetStream drops a
/// re-published alert within its duplicate window; past it a failover may repeat one).
fn alerts_in_stream(url: &str) -> Vec<String> {
    runtime().block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = jetstream::new(client);
        let Ok(stream) = js.get_stream("RECONWATCH_ALERTS").await else {
            return Vec::new();
        };
        let consumer: consumer::PullConsumer = stream
            .create_consumer(consumer::pull::Config {
                ack_policy: consumer::AckPolicy::None,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut out = Vec::new();
        loop {
            let mut batch = consumer
                .fetch()
                .max_messages(1000)
                .expires(Duration::from_millis(300))
                .messages()
                .await
                .unwrap();
            let mut got = 0;
            while let Some(m) = batch.next().await {
                got += 1;
                out.push(String::from_utf8(m.unwrap().payload.to_vec()).unwrap());
            }
            if got == 0 {
                break;
            }
        }
        out.sort();
        out.dedup();
        out
    })
}

/// Messages of the lines stream not yet acknowledged by a worker.
fn lines_left(url: &str) -> u64 {
    messages_left(url, "RECONWATCH_LINES")
}

/// Messages of a work-queue stream not yet acknowledged.
fn messages_left(url: &str, stream: &str) -> u64 {
    runtime().block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = jetstream::new(client);
        let mut stream = js.get_stream(stream).await.unwrap();
        stream.info().await.unwrap().state.messages
    })
}

struct Worker(Child);

impl Worker {
    /// A worker whose log goes to `log`.
    fn start(nats: &NatsServer, id: &str, watchlist: &str, log: &Path) -> Worker {
        let child = common::bin()
            .args([
                "work",
                "--nats",
                &nats.url(),
                "--partitions",
                "6",
                "--id",
                id,
                "--watchlist",
                watchlist,
                "--lease",
                "2s",
                "--idle-timeout",
                "2s",
                "--checkpoint-interval",
                "100ms",
                "--listen",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        Worker(child)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn three_workers_one_killed_mid_stream_alert_exactly_like_one_scan() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let world = gen_world(dir.path(), "7", "30MB");
    let watchlist = format!("parliament={}", world.join(".world/people.csv").display());
    let expected = scan_alerts(&world, &watchlist);

    let mut workers: Vec<Option<Worker>> = ["w1", "w2", "w3"]
        .iter()
        .map(|id| {
            Some(Worker::start(
                &nats,
                id,
                &watchlist,
                &dir.path().join(format!("{id}.log")),
            ))
        })
        .collect();
    // Every worker holds its share (6 partitions, 2 each) before lines arrive.
    let held = |id: &str| taken_partitions(&dir.path().join(format!("{id}.log")));
    let deadline = Instant::now() + Duration::from_secs(30);
    while ["w1", "w2", "w3"].iter().any(|id| held(id).len() < 2) {
        assert!(
            Instant::now() < deadline,
            "the workers did not share the partitions within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let victim = held("w2");
    // The shipper feeds the world while the workers run.
    let ship = common::bin()
        .args(["ship", "--nats", &nats.url(), "--partitions", "6", "--name", "gw"])
        .arg(&world)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Mid-stream: once w2 has lines delivered and not yet acknowledged (it is working on
    // them, and has committed some before: 100 ms commits), it dies without a word.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (in_flight, acked) = progress(&nats.url(), &victim);
        if in_flight > 0 && acked > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "w2 never had lines in flight after a commit within 60 s (in flight {in_flight}, acknowledged {acked})"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let killed = workers[1].take().unwrap();
    drop(killed);
    let shipped = ship.wait_with_output().unwrap();
    assert!(shipped.status.success(), "{}", stderr(&shipped));

    let deadline = Instant::now() + Duration::from_secs(120);
    let got = loop {
        let got = alerts_in_stream(&nats.url());
        if got == expected || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let logs: Vec<PathBuf> = ["w1", "w2", "w3"]
        .iter()
        .map(|id| dir.path().join(format!("{id}.log")))
        .collect();
    assert_same_alerts(&expected, &got, &logs, "RECONWATCH_NATS_DUMP");
    // Alerts are confirmed before the lines they came from are acknowledged (the next commit).
    let deadline = Instant::now() + Duration::from_secs(30);
    while lines_left(&nats.url()) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(lines_left(&nats.url()), 0, "every line was processed and acknowledged");
    // The survivors take w2's partitions over from their saved state, once its leases expire
    // (a partition with nothing left to do may be taken after the last alert is out).
    let deadline = Instant::now() + Duration::from_secs(30);
    let survivors = loop {
        let survivors: HashSet<u32> = held("w1").into_iter().chain(held("w3")).collect();
        if victim.iter().all(|p| survivors.contains(p)) || Instant::now() > deadline {
            break survivors;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for p in &victim {
        assert!(
            survivors.contains(p),
            "partition {p} of the killed worker was not taken over: {survivors:?}"
        );
    }
    // Their /metrics say so too, in a form Prometheus takes (Debian's promtool); a partition
    // the survivors pass between them (the leases even out) is held by neither for a moment.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (held_now, alerts) = loop {
        let (mut held_now, mut alerts) = (0.0, 0.0);
        for id in ["w1", "w3"] {
            let text = scrape(
                id,
                &std::fs::read_to_string(dir.path().join(format!("{id}.log"))).unwrap(),
            );
            held_now += common::daemon::metric(&text, "reconwatch_broker_partitions_held");
            alerts += sum_of(&text, "reconwatch_alerts_total{");
            assert!(common::daemon::metric(&text, "reconwatch_broker_commits_total{result=\"success\"}") > 0.0);
            assert!(
                common::daemon::metric(&text, "reconwatch_broker_partition_changes_total{change=\"taken\"}") >= 1.0
            );
            assert!(
                common::daemon::metric(&text, "reconwatch_broker_lines_total") > 0.0,
                "{id}: {text}"
            );
        }
        if held_now == 6.0 || Instant::now() > deadline {
            break (held_now, alerts);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(held_now, 6.0, "the survivors hold every partition");
    assert!(alerts > 0.0, "the survivors counted the alerts they published");
}

/// The `/metrics` of the process whose log is `log` (it logs where it serves), after checking
/// that `/healthz` and `/readyz` answer 200 and that Prometheus takes the text (Debian's
/// promtool).
fn scrape(id: &str, log: &str) -> String {
    let addr = log
        .lines()
        .find_map(|l| l.split_once("serving /metrics, /healthz and /readyz on http://"))
        .map(|(_, a)| a.trim().to_owned())
        .unwrap_or_else(|| panic!("{id} logged no endpoint:\n{log}"));
    let (status, text) = common::daemon::http_get(&addr, "/metrics");
    assert_eq!(status, 200);
    assert_eq!(common::daemon::http_get(&addr, "/healthz").0, 200);
    assert_eq!(common::daemon::http_get(&addr, "/readyz").0, 200);
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; .ci/test installs it)");
    std::io::Write::write_all(check.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    let o = check.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "{id}: promtool: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    text
}

/// The sum of the series whose name and labels start with `prefix`.
fn sum_of(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// The partitions a worker's log says it took.
fn taken_partitions(log: &Path) -> Vec<u32> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once("partition ")?.1.split_once(": taken")?.0.parse().ok())
        .collect()
}

/// Of the line messages of `partitions`: how many are delivered and not acknowledged, and the
/// sequence below which all were acknowledged.
fn progress(url: &str, partitions: &[u32]) -> (u64, u64) {
    runtime().block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = jetstream::new(client);
        let stream = js.get_stream("RECONWATCH_LINES").await.unwrap();
        let (mut in_flight, mut acked) = (0, 0);
        for p in partitions {
            if let Ok(info) = stream.consumer_info(format!("lines-{p}")).await {
                in_flight += info.num_ack_pending as u64;
                acked += info.ack_floor.stream_sequence;
            }
        }
        (in_flight, acked)
    })
}

/// A process whose stderr goes to a file, waited on through that file.
struct Logged {
    child: Child,
    log: PathBuf,
}

impl Logged {
    fn spawn(args: &[&str], log: PathBuf) -> Logged {
        let child = common::bin()
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Logged { child, log }
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The first log line containing `what`, waiting up to 30 s for it.
    fn wait_log(&mut self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(l) = self.text().lines().find(|l| l.contains(what)) {
                return l.to_owned();
            }
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "exited before logging {what:?}:\n{}",
                self.text()
            );
            assert!(Instant::now() < deadline, "no {what:?} in the log:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the exit code.
    fn stop(mut self) -> Option<i32> {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        self.child.wait().unwrap().code()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The (rule id, `event.original`) of each detection (not correlation) alert.
fn matches(alerts: &[String]) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for a in alerts {
        let v: serde_json::Value = serde_json::from_str(a).unwrap();
        if v.get("correlation").is_some() {
            continue;
        }
        let key = (
            v["rule"]["id"].as_str().unwrap().to_owned(),
            v["event"]["original"].as_str().unwrap().to_owned(),
        );
        *out.entry(key).or_default() += 1;
    }
    out
}

#[test]
fn live_ship_tails_a_file_and_receives_syslog_and_a_restart_loses_nothing() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let world = gen_world(dir.path(), "5", "2MB");
    let watchlist = format!("parliament={}", world.join(".world/people.csv").display());
    let web = std::fs::read_to_string(world.join("web/access.log")).unwrap();
    let mail = std::fs::read_to_string(world.join("mail/maillog")).unwrap();
    let scan = run(&[
        "scan",
        "--watchlist",
        &watchlist,
        world.join("web/access.log").to_str().unwrap(),
        world.join("mail/maillog").to_str().unwrap(),
    ]);
    assert_eq!(scan.status.code(), Some(1), "{}", stderr(&scan));
    let scanned: Vec<String> = common::stdout(&scan).lines().map(str::to_owned).collect();
    let expected: BTreeSet<_> = matches(&scanned).into_keys().collect();
    assert!(expected.len() > 20, "the world fires detections ({})", expected.len());

    let _worker = Worker::start(&nats, "w1", &watchlist, &dir.path().join("w1.log"));
    let live = dir.path().join("live");
    std::fs::create_dir(&live).unwrap();
    let lines: Vec<&str> = web.lines().collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    let tailed = live.join("access.log");
    std::fs::write(&tailed, first.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let state = dir.path().join("state");
    let glob = format!("{}/*.log:squid", live.display());
    let ship_args = [
        "ship",
        "--nats",
        &nats.url(),
        "--partitions",
        "6",
        "--name",
        "gw",
        "--state-dir",
        state.to_str().unwrap(),
        "--tail",
        &glob,
        "--syslog-tcp",
        "127.0.0.1:0:postfix",
        "--listen",
        "127.0.0.1:0",
    ];
    let mut ship = Logged::spawn(&ship_args, dir.path().join("ship1.log"));
    let addr = ship.wait_log("receiving syslog over TCP on");
    let addr = addr.rsplit(" on ").next().unwrap().trim().to_owned();
    // The mail gateway's syslog over a real TCP connection, LF framing.
    let mut conn = TcpStream::connect(&addr).unwrap();
    std::io::Write::write_all(&mut conn, mail.as_bytes()).unwrap();
    drop(conn);
    // Part of the tailed file is out as alerts: the shipper stops (SIGTERM), the gateway writes
    // on, a new shipper resumes from the checkpoint.
    let deadline = Instant::now() + Duration::from_secs(60);
    while matches(&alerts_in_stream(&nats.url())).len() < 5 {
        assert!(Instant::now() < deadline, "no alerts within 60 s:\n{}", ship.text());
        std::thread::sleep(Duration::from_millis(100));
    }
    let log1 = ship.log.clone();
    assert_eq!(ship.stop(), Some(0), "{}", std::fs::read_to_string(&log1).unwrap());
    let mut f = std::fs::OpenOptions::new().append(true).open(&tailed).unwrap();
    std::io::Write::write_all(
        &mut f,
        second.iter().map(|l| format!("{l}\n")).collect::<String>().as_bytes(),
    )
    .unwrap();
    drop(f);
    let ship = Logged::spawn(&ship_args, dir.path().join("ship2.log"));

    let deadline = Instant::now() + Duration::from_secs(60);
    let got = loop {
        let got: BTreeSet<_> = matches(&alerts_in_stream(&nats.url())).into_keys().collect();
        if got == expected || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let missing: Vec<_> = expected.difference(&got).collect();
    let extra: Vec<_> = got.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} detections missing, {} extra; first missing {:?}; first extra {:?}\nshipper:\n{}",
        missing.len(),
        extra.len(),
        missing.first(),
        extra.first(),
        ship.text()
    );
    // `reconwatch alerts` prints the stream's alerts, each once.
    let printed = run(&["alerts", "--nats", &nats.url()]);
    assert!(printed.status.success(), "{}", stderr(&printed));
    let mut printed: Vec<String> = common::stdout(&printed).lines().map(str::to_owned).collect();
    let count = printed.len();
    printed.sort();
    printed.dedup();
    assert_eq!(printed.len(), count, "reconwatch alerts printed an alert twice");
    assert_eq!(printed, alerts_in_stream(&nats.url()));
    // Its /metrics: what it read from its sources and what it shipped.
    // (The time of the last confirmation is set at the shipper's next commit, once a second.)
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = scrape("ship2", &ship.text());
        let confirmed = common::daemon::metric(&text, "reconwatch_ship_last_confirmed_timestamp_seconds");
        if confirmed > 0.0 || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let metrics_shipped = sum_of(&text, "reconwatch_ship_lines_total{");
    assert!(
        sum_of(&text, "reconwatch_source_lines_total{") >= metrics_shipped,
        "{text}"
    );
    assert!(
        common::daemon::metric(&text, "reconwatch_ship_messages_total") > 0.0,
        "{text}"
    );
    assert!(common::daemon::metric(&text, "reconwatch_ship_last_confirmed_timestamp_seconds") > 0.0);
    // The second shipper resumed past what the first had shipped (not from the file's start).
    let first_run = std::fs::read_to_string(&log1).unwrap();
    assert!(first_run.contains("shipped "), "{first_run}");
    assert_eq!(ship.stop(), Some(0));
    let second_run = std::fs::read_to_string(dir.path().join("ship2.log")).unwrap();
    let shipped = |text: &str| -> u64 {
        let l = text.lines().find(|l| l.contains("shipped ")).unwrap();
        l.split("shipped ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        shipped(&second_run) as f64,
        metrics_shipped,
        "the log's count and the metric's"
    );
    assert!(
        shipped(&second_run) <= second.len() as u64 + 64,
        "the restarted shipper sent {} lines, the file grew by {}:\n{second_run}",
        shipped(&second_run),
        second.len()
    );
}

#[test]
fn the_worker_and_shipper_systemd_units_verify() {
    for name in ["reconwatch-work.service", "reconwatch-ship.service"] {
        let unit = std::fs::read_to_string(Path::new("deploy/systemd").join(name)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            unit.replace("/usr/local/bin/reconwatch", env!("CARGO_BIN_EXE_reconwatch")),
        )
        .unwrap();
        let o = Command::new("systemd-analyze")
            .args(["verify", path.to_str().unwrap()])
            .output()
            .expect("systemd-analyze (Debian's systemd package; .ci/test installs it)");
        assert!(o.status.success(), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(
            o.stderr.is_empty(),
            "{name}: warnings: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            unit.contains("ProtectSystem=strict") && unit.contains("NoNewPrivileges=yes"),
            "{name} is hardened"
        );
    }
}

#[test]
fn a_missing_path_among_good_ones_is_reported_and_the_rest_shipped() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let line = "1610356086.534    169 10.20.1.15 TCP_MISS/200 447 GET https://x.example/ - HIER_DIRECT/198.51.100.183 text/html\n";
    let good = common::write(dir.path(), "a.log", line.repeat(3));
    // A FIFO as a path, written once by another process (read once, never waited for again).
    let fifo = dir.path().join("pipe.log");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let writer = {
        let (fifo, text) = (fifo.clone(), line.repeat(2));
        std::thread::spawn(move || std::fs::write(fifo, text).unwrap())
    };
    let missing = dir.path().join("gone.log");
    let o = run(&[
        "ship",
        "--nats",
        &nats.url(),
        "--partitions",
        "2",
        missing.to_str().unwrap(),
        good.to_str().unwrap(),
        fifo.to_str().unwrap(),
    ]);
    writer.join().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("gone.log") && err.contains("No such file"), "{err}");
    assert!(err.contains("1 of the inputs could not be read"), "{err}");
    let (shipped, _, _) = drain_lines(&nats.url());
    assert_eq!(shipped.len(), 5, "the good file's and the FIFO's lines are shipped");
}

/// The state objects of every partition a worker saved (`reconwatch-state`).
fn saved_states(url: &str) -> Vec<(String, Vec<u8>)> {
    use tokio::io::AsyncReadExt as _;
    runtime().block_on(async {
        let js = jetstream::new(async_nats::connect(url).await.unwrap());
        let store = js.get_object_store("reconwatch-state").await.unwrap();
        let mut out = Vec::new();
        for p in 0..6 {
            let name = format!("partition-{p}");
            let mut bytes = Vec::new();
            store.get(&name).await.unwrap().read_to_end(&mut bytes).await.unwrap();
            out.push((name, bytes));
        }
        out
    })
}

/// A worker that saved its state and died before acknowledging the lines that state covers:
/// the next owner is given those lines again, below where the state resumes. It must not
/// process them twice and must acknowledge them (regression: they were dropped unacknowledged
/// and stayed in the work queue for ever).
#[test]
fn lines_a_saved_state_covers_but_nobody_acknowledged_are_acknowledged_by_the_next_owner() {
    let dir = tempfile::tempdir().unwrap();
    let world = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
    let watchlist = format!("parliament={}", world.join(".world/people.csv").display());
    let ship = |nats: &NatsServer| {
        let o = run(&[
            "ship",
            "--nats",
            &nats.url(),
            "--partitions",
            "6",
            "--name",
            "gw",
            world.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    };
    let until_acknowledged = |nats: &NatsServer| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while lines_left(&nats.url()) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        lines_left(&nats.url())
    };
    // One server: the world processed to its end, every line acknowledged, the state saved.
    let first = NatsServer::start();
    ship(&first);
    let worker = Worker::start(&first, "w1", &watchlist, &dir.path().join("w1.log"));
    assert_eq!(
        until_acknowledged(&first),
        0,
        "the first worker acknowledged every line"
    );
    assert!(!alerts_in_stream(&first.url()).is_empty(), "the sample world alerts");
    // Its contributions correlated too (each commit saves the state, then acknowledges).
    let deadline = Instant::now() + Duration::from_secs(60);
    while messages_left(&first.url(), "RECONWATCH_CONTRIB") > 0 {
        assert!(
            Instant::now() < deadline,
            "the contributions were never all acknowledged"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(worker);
    let states = saved_states(&first.url());
    drop(first);

    // Another server with the same lines, none acknowledged, and those states: as if the
    // worker had died between saving them and its acknowledgements.
    let second = NatsServer::start();
    ship(&second);
    runtime().block_on(async {
        let js = jetstream::new(async_nats::connect(second.url()).await.unwrap());
        let store = js
            .create_object_store(jetstream::object_store::Config {
                bucket: "reconwatch-state".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        for (name, bytes) in &states {
            store.put(name.as_str(), &mut bytes.as_slice()).await.unwrap();
        }
    });
    assert!(lines_left(&second.url()) > 0);
    let log = dir.path().join("w2.log");
    let _worker = Worker::start(&second, "w2", &watchlist, &log);
    let left = until_acknowledged(&second);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        left, 0,
        "the next owner acknowledged the lines its state covers; its log:\n{text}"
    );
    assert_eq!(
        alerts_in_stream(&second.url()),
        Vec::<String>::new(),
        "nothing was processed twice; its log:\n{text}"
    );
}
