//! `reconwatch run`, the daemon, end to end: the real binary tailing real files and listening on
//! real sockets on 127.0.0.1, stopped with real signals (SIGTERM, SIGHUP, SIGKILL). Every wait
//! polls for a condition with a deadline; nothing asserts a time.

mod common;
use common::daemon::*;
use common::*;

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A rule that alerts on every Squid line whose URL has `/marker/`: one alert per line, so the
/// alerts say exactly which lines were processed and how often.
const MARKER_RULE: &str = "title: Test marker
id: 5f0c1f4e-0d6a-4d37-9a58-3f7b4d2a9e01
status: test
logsource: {category: proxy}
detection:
  sel: {c-uri|contains: '/marker/'}
  condition: sel
level: low
";

/// A Squid line whose URL carries `/marker/N`.
fn marker_line(n: u64) -> String {
    format!(
        "{}.{:03}     12 10.9.8.7 TCP_MISS/200 512 GET http://news.example/marker/{n} - HIER_DIRECT/192.0.2.1 text/html\n",
        1_700_000_000 + n / 1000,
        n % 1000
    )
}

/// The marker numbers in an alerts file (or files), with how often each appears.
fn markers(paths: &[PathBuf]) -> BTreeMap<u64, usize> {
    let mut seen = BTreeMap::new();
    for p in paths {
        let Ok(f) = fs::File::open(p) else { continue };
        for line in BufReader::new(f).lines() {
            let line = line.unwrap();
            if let Some(i) = line.find("/marker/") {
                let n: String = line[i + 8..].chars().take_while(char::is_ascii_digit).collect();
                *seen.entry(n.parse().unwrap()).or_default() += 1;
            }
        }
    }
    seen
}

fn rules_dir(dir: &Path) -> PathBuf {
    let rules = dir.join("rules");
    fs::create_dir_all(&rules).unwrap();
    fs::write(rules.join("marker.yml"), MARKER_RULE).unwrap();
    rules
}

fn append(path: &Path, text: &str) {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

/// The set-up most tests share: a directory with the marker rule, an empty Squid log to tail at
/// `log` (relative to the directory), a state directory and an alerts file.
struct Marked {
    dir: tempfile::TempDir,
    log: PathBuf,
    alerts: PathBuf,
    rules: PathBuf,
}

impl Marked {
    fn new(log: &str) -> Marked {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join(log);
        fs::create_dir_all(log.parent().unwrap()).unwrap();
        fs::write(&log, "").unwrap();
        let alerts = dir.path().join("alerts.jsonl");
        let rules = rules_dir(dir.path());
        Marked {
            dir,
            log,
            alerts,
            rules,
        }
    }

    /// `reconwatch run`'s options: the marker rule, the log as Squid, the state directory and
    /// the alerts file.
    fn args(&self) -> Vec<String> {
        let state = self.dir.path().join("state");
        [
            "--rules",
            self.rules.to_str().unwrap(),
            "--tail",
            &format!("{}:squid", self.log.display()),
            "--state-dir",
            state.to_str().unwrap(),
            "--alerts",
            self.alerts.to_str().unwrap(),
        ]
        .map(str::to_owned)
        .to_vec()
    }

    fn start(&self) -> Daemon {
        let args = self.args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Daemon::start(self.dir.path(), &args)
    }
}

/// The series counting the lines read from a tailed `path`.
fn lines_of(path: &Path) -> String {
    format!("reconwatch_source_lines_total{{source=\"tail:{}\"}}", path.display())
}

#[test]
fn rotation_by_rename_and_by_copytruncate_under_writes_loses_and_repeats_nothing() {
    let m = Marked::new("logs/access.log");
    let (logs, log, alerts) = (m.log.parent().unwrap().to_owned(), m.log.clone(), m.alerts.clone());
    let d = m.start();
    let lines = |d: &Daemon| d.metric(&lines_of(&log));
    let mut n = 0u64;
    let write = |n: &mut u64, count: u64, path: &Path| {
        let mut text = String::new();
        for _ in 0..count {
            text.push_str(&marker_line(*n));
            *n += 1;
        }
        append(path, &text);
    };
    // Three renames while lines keep coming: some lines land in the old file after the rename
    // (a writer that has not reopened yet), which must still be read.
    let read = |n: u64| d.wait_metric(&lines_of(&log), |v| v as u64 == n);
    for round in 0..3 {
        // Rotations hours apart in real life: the new file has been found before the next one.
        write(&mut n, 500, &log);
        read(n);
        let rotated = logs.join(format!("access.log.{round}"));
        fs::rename(&log, &rotated).unwrap();
        write(&mut n, 100, &rotated);
        write(&mut n, 400, &log);
    }
    // copytruncate: copy, then truncate in place; the writer pauses meanwhile (logrotate's own
    // race, lines written between copy and truncate, is not reconwatch's to fix), and the
    // daemon has read what was there.
    let before = n;
    d.wait_metric(&lines_of(&log), |v| v as u64 == before);
    fs::copy(&log, logs.join("access.log.copy")).unwrap();
    OpenOptions::new().write(true).open(&log).unwrap().set_len(0).unwrap();
    write(&mut n, 700, &log);
    let total = n;
    d.wait_metric(&lines_of(&log), |v| v as u64 == total);
    assert!(lines(&d) as u64 == total);
    let rotations = d.metric(&format!(
        "reconwatch_tail_rotations_total{{kind=\"truncate\",source=\"tail:{}\"}}",
        log.display()
    ));
    assert!(rotations >= 1.0, "the truncation was noticed: {rotations}");
    let (code, stderr) = d.stop();
    assert_eq!(code, Some(0), "{stderr}");
    let seen = markers(&[alerts]);
    let missing: Vec<u64> = (0..total).filter(|i| !seen.contains_key(i)).collect();
    let twice: Vec<(&u64, &usize)> = seen.iter().filter(|(_, c)| **c != 1).collect();
    assert!(missing.is_empty(), "lines lost: {missing:?}");
    assert!(twice.is_empty(), "lines processed twice: {twice:?}");
}

#[test]
fn sigterm_drains_what_was_read_and_a_restart_resumes_exactly_there() {
    let m = Marked::new("access.log");
    let (log, alerts, state) = (m.log.clone(), m.alerts.clone(), m.dir.path().join("state"));
    let mut text = String::new();
    for n in 0..20_000 {
        text.push_str(&marker_line(n));
    }
    let d = m.start();
    append(&log, &text);
    // Stop while lines are in flight.
    std::thread::sleep(Duration::from_millis(30));
    let (code, stderr) = d.stop();
    assert_eq!(code, Some(0), "{stderr}");
    let first = markers(std::slice::from_ref(&alerts));
    assert!(first.values().all(|c| *c == 1), "no line twice before the restart");
    // Whatever was processed is a prefix of the file, and the checkpoint is right after it.
    let done = first.len() as u64;
    assert!((0..done).all(|i| first.contains_key(&i)), "a prefix was processed");
    let cp = fs::read_to_string(state.join("checkpoints.json")).unwrap();
    let offset: u64 = (0..done).map(|i| marker_line(i).len() as u64).sum();
    assert!(
        cp.contains(&format!("\"offset\": {offset}")),
        "checkpoint at {offset}: {cp}"
    );

    let d = m.start();
    d.wait_metric(&lines_of(&log), |v| v as u64 == 20_000 - done);
    let (code, stderr) = d.stop();
    assert_eq!(code, Some(0), "{stderr}");
    let all = markers(&[alerts]);
    assert_eq!(all.len(), 20_000);
    assert!(
        all.values().all(|c| *c == 1),
        "every line exactly once across a clean restart"
    );
}

#[test]
fn config_check_accepts_the_shipped_example_and_names_what_is_wrong() {
    let ok = run(&["config", "check", "deploy/sample-world.yml"]);
    assert_eq!(ok.status.code(), Some(0), "{}{}", stdout(&ok), stderr(&ok));
    assert!(stdout(&ok).contains("rules:"), "{}", stdout(&ok));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    fs::write(&bad, "sources:\n  - tail: /var/log/x.log\n    formatt: squid\n").unwrap();
    let o = run(&["config", "check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("bad.yml") && stderr(&o).contains("formatt"),
        "{}",
        stderr(&o)
    );

    fs::write(
        &bad,
        "sources:\n  - syslog_udp: nowhere\n  - tail: a.log\n    format: nosuchformat\nsinks:\n  - webhook: ftp://x\n",
    )
    .unwrap();
    let o = run(&["config", "check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("nowhere") && e.contains("not an address"), "{e}");

    fs::write(&bad, "sources:\n  - tail: a.log\n    rotate_wait: soon\n").unwrap();
    let o = run(&["config", "check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("rotate_wait: \"soon\" is not a duration"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_systemd_unit_verifies() {
    let unit = fs::read_to_string("deploy/systemd/reconwatch.service").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reconwatch.service");
    fs::write(
        &path,
        unit.replace("/usr/local/bin/reconwatch", env!("CARGO_BIN_EXE_reconwatch")),
    )
    .unwrap();
    let o = std::process::Command::new("systemd-analyze")
        .args(["verify", path.to_str().unwrap()])
        .output()
        .expect("systemd-analyze (Debian's systemd package; .ci/test installs it)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stderr.is_empty(), "warnings: {}", String::from_utf8_lossy(&o.stderr));
    assert!(
        unit.contains("Type=notify") && unit.contains("ProtectSystem=strict") && unit.contains("NoNewPrivileges=yes")
    );
}

#[test]
fn systemd_hears_ready_and_stopping_and_the_endpoint_answers() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("notify");
    let server = std::os::unix::net::UnixDatagram::bind(&sock).unwrap();
    server.set_read_timeout(Some(DEADLINE)).unwrap();
    let log = dir.path().join("access.log");
    fs::write(&log, "").unwrap();
    let state = dir.path().join("state");
    let tail = format!("{}:squid", log.display());
    let d = Daemon::start_with(
        dir.path(),
        &["--tail", &tail, "--state-dir", state.to_str().unwrap()],
        |c| {
            c.env("NOTIFY_SOCKET", &sock);
        },
    );
    let mut buf = [0u8; 256];
    let n = server.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
    assert_eq!(d.get("/healthz").0, 200);
    assert_eq!(d.get("/readyz").0, 200);
    assert_eq!(d.get("/nope").0, 404);
    let (_, metrics) = d.get("/metrics");
    assert!(metrics.contains("reconwatch_build_info{version="), "{metrics}");
    // The exposition is valid for Prometheus itself.
    let file = dir.path().join("metrics.prom");
    fs::write(&file, &metrics).unwrap();
    let check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(fs::File::open(&file).unwrap())
        .output()
        .expect("promtool (Debian's prometheus package; .ci/test installs it)");
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let (code, _) = d.stop();
    assert_eq!(code, Some(0));
    let n = server.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1"));
}

#[test]
fn a_second_daemon_on_the_same_state_directory_is_refused_and_an_alerts_file_that_is_tailed_too() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    fs::write(&log, "").unwrap();
    let state = dir.path().join("state");
    let tail = format!("{}:squid", log.display());
    let d = Daemon::start(dir.path(), &["--tail", &tail, "--state-dir", state.to_str().unwrap()]);
    let o = run(&[
        "run",
        "--listen",
        "127.0.0.1:0",
        "--tail",
        &tail,
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("another reconwatch run is using it"),
        "{}",
        stderr(&o)
    );
    drop(d);
    let glob = format!("{}/*.log", dir.path().display());
    let alerts = dir.path().join("alerts.log");
    let o = run(&[
        "run",
        "--listen",
        "127.0.0.1:0",
        "--tail",
        &glob,
        "--alerts",
        alerts.to_str().unwrap(),
        "--state-dir",
        dir.path().join("state2").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("would read its own alerts back"), "{}", stderr(&o));
}

/// The event time of a line of the two test logs: ISO at the start (Postfix) or Unix seconds
/// (Squid).
fn line_time(line: &str) -> i64 {
    let first = line.split_whitespace().next().unwrap();
    match first.parse::<jiff::Timestamp>() {
        Ok(t) => t.as_millisecond(),
        Err(_) => (first.parse::<f64>().unwrap() * 1000.0) as i64,
    }
}

/// What identifies an alert across runs: a match by its whole document; a correlation firing by
/// rule, group and span (a re-read line may add a duplicate event to its evidence).
fn alert_identity(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    match v.get("correlation") {
        Some(c) => format!("{} {} {} {}", v["rule"]["id"], c["group"], c["first"], c["last"]),
        None => line.to_owned(),
    }
}

#[test]
fn kill_9_mid_stream_then_restart_processes_every_line_and_a_lure_before_meets_its_pixel_after() {
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mail.log");
    let web = dir.path().join("access.log");
    let gunzip = |p: &str| {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(fs::File::open(p).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        s
    };
    let mail_lines: Vec<String> = gunzip("sample-logs/mail/maillog.1.gz")
        .lines()
        .map(|l| format!("{l}\n"))
        .collect();
    let web_lines: Vec<String> = gunzip("sample-logs/web/access.log.1.gz")
        .lines()
        .map(|l| format!("{l}\n"))
        .collect();
    // What scan finds in the complete files, with the lateness the daemon will use.
    fs::write(&mail, mail_lines.concat()).unwrap();
    fs::write(&web, web_lines.concat()).unwrap();
    let watchlist = fs::canonicalize("sample-logs/.world/people.csv").unwrap();
    let scan = run(&[
        "scan",
        "--lateness",
        "2s",
        "--watchlist",
        &format!("parliament={}", watchlist.display()),
        mail.to_str().unwrap(),
        web.to_str().unwrap(),
    ]);
    let expected: Vec<String> = stdout(&scan).lines().map(alert_identity).collect();
    let pixel_fired = "4e8b1d27-9f3c-4a65-b0e2-6c7d9a1f3e58";
    // The crash falls between a lure and its pixel fetch.
    let firing: serde_json::Value = stdout(&scan)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["rule"]["id"] == pixel_fired)
        .expect("scan finds a token-joined pixel firing");
    let t = |k: &str| {
        firing["correlation"][k]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond()
    };
    let (lure, pixel) = (t("first"), t("last"));
    assert!(lure < pixel);
    let cut = lure + (pixel - lure) / 2;

    // Both logs written in event-time order, as the gateways write them, the first part before
    // the crash.
    let mut merged: Vec<(i64, bool, &String)> = mail_lines
        .iter()
        .map(|l| (line_time(l), true, l))
        .chain(web_lines.iter().map(|l| (line_time(l), false, l)))
        .collect();
    merged.sort_by_key(|m| m.0);
    fs::write(&mail, "").unwrap();
    fs::write(&web, "").unwrap();
    let config = dir.path().join("reconwatch.yml");
    fs::write(
        &config,
        format!(
            "watchlists: {{parliament: {}}}\nlateness: 2s\ndaemon: {{checkpoint_interval: 200ms, idle_timeout: 1s}}\n",
            watchlist.display()
        ),
    )
    .unwrap();
    let alerts = dir.path().join("alerts.jsonl");
    let state = dir.path().join("state");
    let (mail_tail, web_tail) = (
        format!("{}:postfix", mail.display()),
        format!("{}:squid", web.display()),
    );
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--tail",
        &mail_tail,
        "--tail",
        &web_tail,
        "--state-dir",
        state.to_str().unwrap(),
        "--alerts",
        alerts.to_str().unwrap(),
    ];
    let write_until = |from: usize, until: i64| {
        let mut i = from;
        while i < merged.len() && merged[i].0 < until {
            append(if merged[i].1 { &mail } else { &web }, merged[i].2);
            i += 1;
        }
        i
    };
    let d = Daemon::start(dir.path(), &args);
    let written = write_until(0, cut);
    let (m1, w1) = (
        merged[..written].iter().filter(|m| m.1).count(),
        merged[..written].iter().filter(|m| !m.1).count(),
    );
    d.wait_metric(&lines_of(&mail), |v| v as usize == m1);
    d.wait_metric(&lines_of(&web), |v| v as usize == w1);
    d.kill9();

    let d = Daemon::start(dir.path(), &args);
    write_until(written, i64::MAX);
    // At least the rest of each file is read (more when the last checkpoint was older).
    d.wait_metric(&lines_of(&mail), |v| v as usize >= mail_lines.len() - m1);
    d.wait_metric(&lines_of(&web), |v| v as usize >= web_lines.len() - w1);
    // Correlation releases once the sources have been quiet for the lateness.
    let start = Instant::now();
    let got = loop {
        let got: std::collections::BTreeSet<String> = fs::read_to_string(&alerts)
            .unwrap_or_default()
            .lines()
            .map(alert_identity)
            .collect();
        if expected.iter().all(|e| got.contains(e)) {
            break got;
        }
        if start.elapsed() > DEADLINE {
            let missing: Vec<&String> = expected.iter().filter(|e| !got.contains(*e)).collect();
            let (_, metrics) = d.get("/metrics");
            let state: Vec<&str> = metrics
                .lines()
                .filter(|l| l.starts_with("reconwatch_correlation_"))
                .collect();
            let extra: Vec<&String> = got.iter().filter(|g| !expected.contains(*g)).collect();
            panic!(
                "{} of {} alerts missing: {missing:#?}\nnot expected: {extra:#?}\n{state:#?}\n{}",
                missing.len(),
                expected.len(),
                d.stderr()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (code, stderr) = d.stop();
    assert_eq!(code, Some(0), "{stderr}");
    let fired = got
        .iter()
        .filter(|g| g.starts_with(&format!("\"{pixel_fired}\"")))
        .count();
    assert!(fired >= 1, "the lure before the crash and the pixel after it correlate");
}

/// Squid marker lines in a file, for `logger -f` / `openssl s_client`.
fn marker_file(dir: &Path, name: &str, range: std::ops::Range<u64>) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, range.map(marker_line).collect::<String>()).unwrap();
    p
}

#[test]
fn syslog_over_tcp_both_framings_tls_and_udp_with_drops_counted() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path());
    let state = dir.path().join("state");
    let alerts = dir.path().join("alerts.jsonl");
    make_pki(dir.path());
    let config = dir.path().join("reconwatch.yml");
    fs::write(
        &config,
        "sources:\n  - syslog_tcp: 127.0.0.1:0\n    format: squid\n    tls: {cert: server.pem, key: server.key}\n",
    )
    .unwrap();
    let mut d = Daemon::start(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--syslog-tcp",
            "127.0.0.1:0:squid",
            "--syslog-udp",
            "127.0.0.1:0:squid",
            "--state-dir",
            state.to_str().unwrap(),
            "--alerts",
            alerts.to_str().unwrap(),
        ],
    );
    let tcp = d.listening("syslog_tcp:127.0.0.1:0: receiving syslog over TCP");
    let tls = d.listening("over TLS");
    let udp = d.listening("over UDP");
    let (tcp_host, tcp_port) = tcp.rsplit_once(':').unwrap();
    let logger = |extra: &[&str], file: &Path| {
        let o = std::process::Command::new("logger")
            .args(extra)
            .args([
                "-n",
                tcp_host,
                "-P",
                tcp_port,
                "-t",
                "squid",
                "-f",
                file.to_str().unwrap(),
            ])
            .output()
            .expect("logger (util-linux)");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    // LF framing, then RFC 6587 octet counting, each on its own connection.
    logger(&["--tcp"], &marker_file(dir.path(), "lf.txt", 0..1000));
    logger(
        &["--tcp", "--octet-count"],
        &marker_file(dir.path(), "oc.txt", 1000..2000),
    );
    // TLS with openssl as the client (LF framing).
    let input = marker_file(dir.path(), "tls.txt", 2000..3000);
    let o = std::process::Command::new("sh")
        .args([
            "-c",
            &format!(
                "(cat {}; sleep 2) | openssl s_client -quiet -no_ign_eof -CAfile ca.pem -verify_return_error -connect {tls} 2>&1",
                input.display()
            ),
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    // s_client reports the listener's close without close_notify as an error: what matters is
    // what arrived.
    let _ = o;
    let start = Instant::now();
    loop {
        let seen = markers(std::slice::from_ref(&alerts));
        if (0..3000).all(|n| seen.get(&n) == Some(&1)) {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{} of 3000 arrived:\n{}",
            seen.len(),
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // UDP: a burst far beyond what one queue holds. Every datagram is a line or a counted drop.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sent = 100_000u64;
    for n in 0..sent {
        let msg = format!("<14>Dec  6 17:00:00 proxy squid: {}", marker_line(3000 + n));
        sock.send_to(msg.as_bytes(), &udp).unwrap();
    }
    let label = "syslog_udp:127.0.0.1:0";
    let start = Instant::now();
    loop {
        let (_, text) = d.get("/metrics");
        let lines = metric(&text, &format!("reconwatch_source_lines_total{{source=\"{label}\"}}"));
        let drops = metric(
            &text,
            &format!("reconwatch_udp_drops_total{{cause=\"queue_full\",source=\"{label}\"}}"),
        ) + metric(
            &text,
            &format!("reconwatch_udp_drops_total{{cause=\"kernel\",source=\"{label}\"}}"),
        );
        if (lines + drops) as u64 == sent {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{sent} datagrams sent, {lines} lines + {drops} drops counted:\n{}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, stderr) = d.stop();
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn reload_with_a_good_then_a_broken_rule_set_while_lines_flow() {
    let m = Marked::new("access.log");
    let (log, alerts, rules) = (m.log.clone(), m.alerts.clone(), m.rules.clone());
    let d = m.start();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, log) = (stop.clone(), log.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                append(&log, &(n..n + 50).map(marker_line).collect::<String>());
                n += 50;
                std::thread::sleep(Duration::from_millis(5));
            }
            n
        })
    };
    let second = MARKER_RULE.replace("Test marker", "Test marker, second rule").replace(
        "5f0c1f4e-0d6a-4d37-9a58-3f7b4d2a9e01",
        "6a1d2e5f-1e7b-4e48-8b69-4a8c5e3b0f12",
    );
    fs::write(rules.join("second.yml"), second).unwrap();
    d.signal("HUP");
    d.wait_metric("reconwatch_reloads_total{result=\"success\"}", |v| v == 1.0);
    let start = Instant::now();
    while !fs::read_to_string(&alerts)
        .unwrap_or_default()
        .contains("Test marker, second rule")
    {
        assert!(
            start.elapsed() < DEADLINE,
            "the new rule never alerted:\n{}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    fs::write(
        rules.join("broken.yml"),
        "title: broken\ndetection: {condition: nope and}\n",
    )
    .unwrap();
    d.signal("HUP");
    d.wait_metric("reconwatch_reloads_total{result=\"failure\"}", |v| v == 1.0);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let total = writer.join().unwrap();
    d.wait_metric(&lines_of(&log), |v| v as u64 == total);
    // Every line has been through detection once the first rule's alert count says so.
    d.wait_metric(
        "reconwatch_alerts_total{level=\"low\",rule=\"5f0c1f4e-0d6a-4d37-9a58-3f7b4d2a9e01\"}",
        |v| v as u64 == total,
    );
    let final_metrics = d.get("/metrics").1;
    let (code, stderr) = d.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("reload refused") && stderr.contains("broken.yml"),
        "{stderr}"
    );
    // Every line alerted by the first rule exactly once, across both reloads; the second rule
    // alerted on the lines after the first reload, up to the end (the broken set changed nothing).
    let text = fs::read_to_string(&alerts).unwrap();
    let mut first = BTreeMap::new();
    let mut second = 0;
    for line in text.lines() {
        let n: u64 = line[line.find("/marker/").unwrap() + 8..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap();
        if line.contains("Test marker, second rule") {
            second += 1;
        } else {
            *first.entry(n).or_insert(0) += 1;
        }
    }
    assert_eq!(first.len() as u64, total, "no line lost across the reloads");
    assert!(first.values().all(|c| *c == 1), "no line twice");
    assert!(second > 0);
    assert_eq!(
        metric(
            &final_metrics,
            "reconwatch_alerts_total{level=\"low\",rule=\"6a1d2e5f-1e7b-4e48-8b69-4a8c5e3b0f12\"}"
        ) as u64,
        second,
        "the daemon counts alerts per rule"
    );
    let last: u64 = *first.keys().last().unwrap();
    assert!(
        text.lines()
            .rev()
            .take(2)
            .any(|l| l.contains("second rule") && l.contains(&format!("/marker/{last}"))),
        "the second rule still runs after the refused reload"
    );
}

#[test]
fn a_webhook_down_then_up_receives_every_alert_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    fs::write(&log, "").unwrap();
    let rules = rules_dir(dir.path());
    let state = dir.path().join("state");
    // A port nobody listens on yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let tail = format!("{}:squid", log.display());
    let d = Daemon::start(
        dir.path(),
        &[
            "--rules",
            rules.to_str().unwrap(),
            "--tail",
            &tail,
            "--state-dir",
            state.to_str().unwrap(),
            "--webhook",
            &url,
        ],
    );
    append(&log, &(0..500).map(marker_line).collect::<String>());
    let sink = format!("webhook:{url}");
    d.wait_metric(&format!("reconwatch_sink_failures_total{{sink=\"{sink}\"}}"), |v| {
        v >= 1.0
    });
    // The receiver: Python's http.server, appending each POSTed body as one line.
    let received = dir.path().join("received.jsonl");
    let server = format!(
        "import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers['Content-Length']))
        with open(sys.argv[1], 'ab') as f:
            f.write(body + b'\\n')
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(('127.0.0.1', {port}), H).serve_forever()
"
    );
    let mut receiver = std::process::Command::new("python3")
        .args(["-c", &server, received.to_str().unwrap()])
        .spawn()
        .unwrap();
    let start = Instant::now();
    let order = loop {
        let text = fs::read_to_string(&received).unwrap_or_default();
        let mut order = Vec::new();
        for body in text.lines() {
            let batch: Vec<serde_json::Value> = serde_json::from_str(body).unwrap();
            for a in batch {
                let url = a["url"]["original"].as_str().unwrap().to_owned();
                order.push(url.rsplit('/').next().unwrap().parse::<u64>().unwrap());
            }
        }
        if order.len() >= 500 {
            break order;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{} of 500 alerts arrived:\n{}",
            order.len(),
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = receiver.kill();
    let _ = receiver.wait();
    assert_eq!(order, (0..500).collect::<Vec<u64>>(), "every alert, once, in order");
    let (code, stderr) = d.stop();
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn alerts_to_a_closed_standard_output_stop_the_daemon_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    fs::write(&log, (0..2000).map(marker_line).collect::<String>()).unwrap();
    let rules = rules_dir(dir.path());
    let tail = format!("{}:squid", log.display());
    let mut child = bin()
        .args([
            "run",
            "--listen",
            "127.0.0.1:0",
            "--rules",
            rules.to_str().unwrap(),
            "--tail",
            &tail,
        ])
        .args(["--state-dir", dir.path().join("state").to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one alert, then close the pipe as `| head -1` does.
    let mut first = [0u8; 16];
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    drop(child.stdout.take());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the daemon kept running with nowhere to deliver"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("standard output") && err.contains("Broken pipe"), "{err}");
}
