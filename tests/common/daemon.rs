//! A running `reconwatch run` for the end-to-end tests: started on `127.0.0.1:0` with its stderr
//! in a file, waited on through its log and its /metrics, stopped by signals, killed when dropped
//! (a failing test leaves no daemon behind).

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::bin;

/// How long any wait on the daemon may take before the test fails (a loaded CI machine is slow).
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A running daemon, its stderr collected in a file.
pub struct Daemon {
    child: Child,
    log: PathBuf,
    /// The address of its HTTP endpoint (`127.0.0.1:PORT`), as it logged it.
    pub http: String,
}

impl Daemon {
    pub fn start(dir: &Path, args: &[&str]) -> Daemon {
        Self::start_with(dir, args, |_| {})
    }

    pub fn start_with(dir: &Path, args: &[&str], f: impl FnOnce(&mut std::process::Command)) -> Daemon {
        let log = dir.join(format!(
            "daemon-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut cmd = bin();
        cmd.arg("run")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap());
        f(&mut cmd);
        let child = cmd.spawn().expect("the binary starts");
        let mut d = Daemon {
            child,
            log,
            http: String::new(),
        };
        let line = d.wait_log("serving /metrics");
        d.http = line.rsplit("http://").next().unwrap().trim().to_owned();
        d.wait_log("running:");
        d
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The first log line containing `what`, waiting for it.
    pub fn wait_log(&mut self, what: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(l) = self.stderr().lines().find(|l| l.contains(what)) {
                return l.to_owned();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the daemon exited ({status}) before logging {what:?}:\n{}",
                    self.stderr()
                );
            }
            assert!(start.elapsed() < DEADLINE, "no {what:?} in the log:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The address a listener logged (`... on 127.0.0.1:PORT`) for `label`.
    pub fn listening(&mut self, label: &str) -> String {
        let line = self.wait_log(label);
        line.rsplit(" on ").next().unwrap().trim().to_owned()
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.http, path)
    }

    /// The value of the series `name{labels}` (0 when absent).
    pub fn metric(&self, series: &str) -> f64 {
        let (_, text) = self.get("/metrics");
        metric(&text, series)
    }

    pub fn wait_metric(&self, series: &str, ok: impl Fn(f64) -> bool) -> f64 {
        let start = Instant::now();
        loop {
            let v = self.metric(series);
            if ok(v) {
                return v;
            }
            assert!(start.elapsed() < DEADLINE, "{series} stayed at {v}:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// SIGTERM, then the exit status and the log.
    pub fn stop(mut self) -> (Option<i32>, String) {
        self.signal("TERM");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), self.stderr());
            }
            assert!(start.elapsed() < DEADLINE, "no exit after SIGTERM:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill9(mut self) {
        self.signal("KILL");
        self.child.wait().unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    http_get_as(addr, path, "HTTP/1.1")
}

/// `GET path` in HTTP `version`: "HTTP/1.0" for a server that would answer a long body to 1.1 in
/// chunks (Prometheus), which this reader does not undo.
pub fn http_get_as(addr: &str, path: &str, version: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} {version}\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |b| b.1).to_owned();
    (status, body)
}

pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().unwrap())
        })
        .unwrap_or(0.0)
}
