//! The Kafka scale-out (feature `kafka`) against a real Kafka-protocol broker: tansu, which each
//! test starts on a free port of 127.0.0.1 with in-memory storage. `.ci/test` installs it;
//! where it is missing each test says SKIPPED and returns.
#![cfg(feature = "kafka")]

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use common::broker::{assert_same_alerts, lines_of, postfix_queue_id, scan_alerts};
use common::{gen_world, run, stderr};
use reconwatch::broker::kafka::{self, from_kafka_headers};
use reconwatch::broker::lines::{self, StreamHeader};

const INSTALL: &str = "cargo install tansu --version 0.6.0 --locked --features dynostore";

/// `tansu` on PATH or in ~/.cargo/bin.
fn tansu_binary() -> Option<PathBuf> {
    let home = std::env::var("HOME").unwrap_or_default();
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(PathBuf::from)
        .chain([Path::new(&home).join(".cargo/bin")])
        .map(|d| d.join("tansu"))
        .find(|p| p.is_file())
}

/// A tansu broker of its own, stopped when dropped.
struct Tansu {
    child: Child,
    port: u16,
}

impl Tansu {
    /// `None` (after saying SKIPPED) when tansu is not installed.
    fn start(test: &str) -> Option<Tansu> {
        let Some(bin) = tansu_binary() else {
            println!("SKIPPED {test}: tansu is not installed ({INSTALL})");
            eprintln!("SKIPPED {test}: tansu is not installed ({INSTALL})");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .env(
                "RUST_LOG",
                std::env::var("RECONWATCH_TANSU_LOG").unwrap_or_else(|_| "warn".into()),
            )
            // tansu logs to stdout.
            .stdout(match std::env::var_os("RECONWATCH_KAFKA_DUMP") {
                Some(d) => Stdio::from(std::fs::File::create(Path::new(&d).join("tansu.log")).unwrap()),
                None => Stdio::null(),
            })
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on port {port} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Tansu { child, port })
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A consumer that reports the end of each partition it reads (librdkafka's partition EOF:
    /// a fetch found nothing past the high watermark of the broker's fetch response). Not
    /// ListOffsets: tansu 0.6.0 answers it with the first offset of the last batch it stored
    /// plus one, short of the end.
    fn consumer(&self, group: &str) -> BaseConsumer {
        ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .set("log_level", "3")
            .create()
            .unwrap()
    }

    /// Every record of `topic` (all `partitions` of it) from the start up to its end now.
    fn read_all(&self, topic: &str, partitions: u32) -> Vec<(u32, rdkafka::message::OwnedMessage)> {
        let mut reader = Reader::new(self, topic, partitions);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut out = Vec::new();
        while !reader.at_end() {
            assert!(
                Instant::now() < deadline,
                "{topic}: not read to its end within 60 s: {:?}",
                reader.ends
            );
            out.extend(reader.read(Duration::from_millis(500)));
        }
        out
    }

    /// The group's committed offset of each lines partition.
    fn committed(&self, partitions: u32) -> BTreeMap<u32, i64> {
        let c = self.consumer(kafka::GROUP);
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(kafka::LINES_TOPIC, p as i32);
        }
        let committed = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
        (0..partitions)
            .map(|p| {
                let at = match committed
                    .find_partition(kafka::LINES_TOPIC, p as i32)
                    .map(|e| e.offset())
                {
                    Some(Offset::Offset(o)) => o,
                    _ => 0,
                };
                (p, at)
            })
            .collect()
    }
}

/// Reads every partition of a topic from the start and knows where each ends so far.
struct Reader {
    consumer: BaseConsumer,
    /// Per partition, the offset after the last record read.
    ends: BTreeMap<u32, i64>,
    /// Partitions whose end was reached and nothing came since.
    ended: HashSet<u32>,
    partitions: u32,
}

impl Reader {
    fn new(tansu: &Tansu, topic: &str, partitions: u32) -> Reader {
        let consumer = tansu.consumer("reconwatch-test-reader");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p as i32, Offset::Beginning).unwrap();
        }
        consumer.assign(&tpl).unwrap();
        Reader {
            consumer,
            ends: (0..partitions).map(|p| (p, 0)).collect(),
            ended: HashSet::new(),
            partitions,
        }
    }

    /// The records that come within `wait` and any right after them.
    fn read(&mut self, wait: Duration) -> Vec<(u32, rdkafka::message::OwnedMessage)> {
        let mut out = Vec::new();
        let mut wait = wait;
        while let Some(m) = self.consumer.poll(wait) {
            wait = Duration::ZERO;
            match m {
                Ok(m) => {
                    let p = m.partition() as u32;
                    self.ended.remove(&p);
                    self.ends.insert(p, m.offset() + 1);
                    out.push((p, m.detach()));
                }
                Err(rdkafka::error::KafkaError::PartitionEOF(p)) => {
                    self.ended.insert(p as u32);
                }
                Err(e) => panic!("reading: {e}"),
            }
        }
        out
    }

    fn at_end(&self) -> bool {
        self.ended.len() == self.partitions as usize
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ship_once_puts_every_line_of_a_world_into_its_partition_once() {
    let Some(tansu) = Tansu::start("ship_once_puts_every_line_of_a_world_into_its_partition_once") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let world = gen_world(dir.path(), "11", "3MB");
    let o = run(&[
        "ship",
        "--kafka",
        &tansu.brokers(),
        "--partitions",
        "4",
        "--name",
        "gw1",
        world.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "ship failed: {}", stderr(&o));
    assert!(stderr(&o).contains("shipped "), "{}", stderr(&o));

    let expected = lines_of(&world);
    let mut seen: HashSet<(String, u64)> = HashSet::new();
    let (mut opens, mut closes) = (Vec::new(), Vec::new());
    let mut by_queue_id: HashMap<String, HashSet<u32>> = HashMap::new();
    let mut formats = HashSet::new();
    let mut mail_parts = HashSet::new();
    for (p, m) in tansu.read_all(kafka::LINES_TOPIC, 4) {
        let headers = owned_headers(&m);
        if let Some(stream) = lines::announced(&headers) {
            opens.push((p, stream.to_owned()));
            continue;
        }
        let (header, close) = StreamHeader::read(&headers).unwrap();
        if close {
            assert!(m.payload().unwrap_or_default().is_empty());
            closes.push((p, header.stream.clone()));
        }
        formats.insert(header.format.name());
        for l in lines::lines(m.payload().unwrap_or_default()) {
            let l = l.unwrap();
            let key = (header.name.clone(), l.offset);
            assert_eq!(
                expected.get(&key).map(Vec::as_slice),
                Some(l.bytes),
                "line {key:?} differs"
            );
            assert!(seen.insert(key.clone()), "line {key:?} shipped twice");
            if header.format.name() == "postfix" {
                mail_parts.insert(p);
                let text = String::from_utf8_lossy(l.bytes);
                if let Some(id) = postfix_queue_id(&text) {
                    by_queue_id.entry(id.to_owned()).or_default().insert(p);
                }
            }
        }
    }
    assert_eq!(seen.len(), expected.len(), "every line of the world is shipped");
    let streams: HashSet<&str> = opens.iter().map(|o| o.1.as_str()).collect();
    assert!(streams.len() >= 2, "{streams:?}");
    for stream in &streams {
        assert!(stream.starts_with("gw1|files|"), "{stream}");
        for (what, list) in [("announced", &opens), ("closed", &closes)] {
            let parts: HashSet<u32> = list.iter().filter(|c| c.1 == *stream).map(|c| c.0).collect();
            assert_eq!(parts.len(), 4, "{stream} {what} on every partition");
        }
    }
    assert!(formats.contains("postfix") && formats.contains("squid"), "{formats:?}");
    assert!(by_queue_id.len() > 50, "the world's maillog has messages");
    for (id, parts) in &by_queue_id {
        assert_eq!(parts.len(), 1, "message {id} on partitions {parts:?}");
    }
    assert_eq!(mail_parts.len(), 4, "mail spreads over the partitions");

    // Another partition count than the topics' is refused.
    let o = run(&[
        "ship",
        "--kafka",
        &tansu.brokers(),
        "--partitions",
        "5",
        world.join("web/access.log").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("set up with 4 partitions") && stderr(&o).contains("--partitions 4"),
        "{}",
        stderr(&o)
    );
}

/// A record's headers as the engine reads them.
fn owned_headers(m: &rdkafka::message::OwnedMessage) -> reconwatch::broker::transport::Headers {
    use rdkafka::message::Headers as _;
    let mut h = reconwatch::broker::transport::Headers::new();
    if let Some(headers) = m.headers() {
        for x in headers.iter() {
            h.insert(x.key, String::from_utf8_lossy(x.value.unwrap_or_default()));
        }
    }
    h
}

struct Worker(Child);

impl Worker {
    fn start(tansu: &Tansu, id: &str, watchlist: &str, log: &Path) -> Worker {
        let child = common::bin()
            .args([
                "work",
                "--kafka",
                &tansu.brokers(),
                "--partitions",
                "6",
                "--id",
                id,
                "--watchlist",
                watchlist,
                // tansu drops a member that is silent this long even while the group
                // rebalances (a worker commits its partitions then).
                "--lease",
                "10s",
                "--idle-timeout",
                "2s",
                "--checkpoint-interval",
                "500ms",
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

/// The partitions a worker's log says it holds now (taken and not handed over since).
fn held_now(log: &Path) -> Vec<u32> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut held = Vec::new();
    for l in text.lines() {
        let Some((_, rest)) = l.split_once("partition ") else {
            continue;
        };
        let Some((p, what)) = rest.split_once(": ") else {
            continue;
        };
        let Ok(p) = p.parse::<u32>() else { continue };
        if what.starts_with("taken") {
            held.push(p);
        } else if what.starts_with("handed over") {
            held.retain(|x| *x != p);
        }
    }
    held.sort_unstable();
    held
}

/// Every alert document in the alerts topic, sorted, duplicates removed (a failover publishes
/// again what the lost worker had published after its last commit).
fn alerts_in_topic(tansu: &Tansu) -> Vec<String> {
    let mut out: Vec<String> = tansu
        .read_all(kafka::ALERTS_TOPIC, 6)
        .into_iter()
        .map(|(_, m)| String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
#[ignore = "tansu 0.6.0 never reassigns a dead member's partitions: the survivor whose heartbeat expires it is told to rejoin and is handed its old assignment in the same generation, the other is never told (tansu-broker 0.6.0, coordinator/group/administrator.rs); run with --ignored"]
fn three_workers_one_killed_mid_stream_alert_exactly_like_one_scan() {
    workers_alert_like_scan("three_workers_one_killed_mid_stream_alert_exactly_like_one_scan", true);
}

#[test]
fn three_workers_alert_exactly_like_one_scan() {
    // Through the rebalances of the group forming (the first worker takes all six partitions,
    // then hands four over), without a kill.
    workers_alert_like_scan("three_workers_alert_exactly_like_one_scan", false);
}

/// Three workers and a shipper; with `kill`, w2 dies mid-stream. The alerts must be one scan's.
fn workers_alert_like_scan(test: &str, kill: bool) {
    let Some(tansu) = Tansu::start(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let world = gen_world(dir.path(), "7", "30MB");
    let watchlist = format!("parliament={}", world.join(".world/people.csv").display());
    let expected = scan_alerts(&world, &watchlist);

    let log = |id: &str| dir.path().join(format!("{id}.log"));
    let mut workers: Vec<Option<Worker>> = ["w1", "w2", "w3"]
        .iter()
        .map(|id| Some(Worker::start(&tansu, id, &watchlist, &log(id))))
        .collect();
    // The group settles with 2 partitions each before lines arrive (and stays so for 3 s).
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut settled: Option<Instant> = None;
    loop {
        let held = ["w1", "w2", "w3"].map(|id| held_now(&log(id)));
        if held.iter().all(|h| h.len() == 2) {
            if settled.get_or_insert_with(Instant::now).elapsed() > Duration::from_secs(3) {
                break;
            }
        } else {
            settled = None;
        }
        assert!(
            Instant::now() < deadline,
            "the workers did not share the partitions within 90 s: {held:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let victim = held_now(&log("w2"));
    let ship = common::bin()
        .args(["ship", "--kafka", &tansu.brokers(), "--partitions", "6", "--name", "gw"])
        .arg(&world)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Mid-stream: once w2 has committed some lines of its partitions and lines wait past its
    // commit (delivered to it or about to be), it dies without a word.
    let mut lines = Reader::new(&tansu, kafka::LINES_TOPIC, 6);
    let deadline = Instant::now() + Duration::from_secs(90);
    if kill {
        loop {
            lines.read(Duration::from_millis(20));
            let committed = tansu.committed(6);
            let done: i64 = victim.iter().map(|p| committed[p]).sum();
            let waiting: i64 = victim.iter().map(|p| lines.ends[p] - committed[p]).sum();
            if done > 0 && waiting > 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "w2 never committed lines with more waiting within 90 s: committed {committed:?}, ends {:?}",
                lines.ends
            );
        }
        drop(workers[1].take());
    }
    let shipped = ship.wait_with_output().unwrap();
    assert!(shipped.status.success(), "{}", stderr(&shipped));

    let deadline = Instant::now() + Duration::from_secs(180);
    let got = loop {
        let got = alerts_in_topic(&tansu);
        if got == expected || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let logs: Vec<PathBuf> = ["w1", "w2", "w3"].iter().map(|id| log(id)).collect();
    assert_same_alerts(&expected, &got, &logs, "RECONWATCH_KAFKA_DUMP");
    // Every line was processed and its offset committed.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        lines.read(Duration::from_millis(200));
        let committed = tansu.committed(6);
        if lines.at_end() && committed == lines.ends {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "lines left uncommitted: committed {committed:?}, ends {:?}",
            lines.ends
        );
    }
    if !kill {
        return;
    }
    // The survivors took w2's partitions over.
    let survivors: HashSet<u32> = held_now(&log("w1")).into_iter().chain(held_now(&log("w3"))).collect();
    for p in &victim {
        assert!(
            survivors.contains(p),
            "partition {p} of the killed worker was not taken over: {survivors:?}"
        );
    }
}

#[test]
fn headers_of_a_record_read_back_as_written() {
    // The conversion the partitions use, on a record that went through the broker.
    let Some(tansu) = Tansu::start("headers_of_a_record_read_back_as_written") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let f = common::write(
        dir.path(),
        "a.log",
        "1610356086.534    169 10.20.1.15 TCP_MISS/200 447 GET https://x.example/ - HIER_DIRECT/198.51.100.183 text/html\n",
    );
    let o = run(&[
        "ship",
        "--kafka",
        &tansu.brokers(),
        "--partitions",
        "2",
        f.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = tansu.consumer("reconwatch-test-headers");
    let mut tpl = TopicPartitionList::new();
    for p in 0..2 {
        tpl.add_partition_offset(kafka::LINES_TOPIC, p, Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let header = loop {
        assert!(Instant::now() < deadline, "no batch of lines within 30 s");
        let Some(m) = c.poll(Duration::from_millis(500)) else {
            continue;
        };
        let m = m.unwrap();
        let h = from_kafka_headers(&m);
        if lines::announced(&h).is_none() {
            break StreamHeader::read(&h).unwrap().0;
        }
    };
    assert_eq!(header.format.name(), "squid");
    assert!(header.name.ends_with("a.log"), "{header:?}");
}
