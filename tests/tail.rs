//! The file tailer through its public interface: real files in a temporary directory, a real
//! bounded tokio channel as the feed, every line received compared with what was written.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reconwatch::daemon::config::CompressedPolicy;
use reconwatch::metrics::DaemonMetrics;
use reconwatch::source::checkpoint::FileCheckpoint;
use reconwatch::source::feed::{Feed, FileIdentity, MAX_BATCH_BYTES, SourceInfo};
use reconwatch::source::tail::{self, TailSettings};
use tokio_util::sync::CancellationToken;

/// Long enough for a loaded machine; conditions are polled, never waited for blindly.
const DEADLINE: Duration = Duration::from_secs(20);

/// One stream as the engine would see it.
#[derive(Debug, Default)]
struct Stream {
    name: String,
    start: u64,
    identity: Option<FileIdentity>,
    /// Each line and its offset.
    lines: Vec<(String, u64)>,
    /// `consumed` of the last batch.
    consumed: u64,
    closed: bool,
}

#[derive(Debug, Default)]
struct Seen {
    /// By stream id: ids grow, so this is the order streams were opened in.
    streams: BTreeMap<u64, Stream>,
    /// Broken promises of the feed contract (checked by every test).
    violations: Vec<String>,
}

impl Seen {
    fn named(&self, suffix: &str) -> Vec<&Stream> {
        self.streams.values().filter(|s| s.name.ends_with(suffix)).collect()
    }

    fn all_lines(&self) -> Vec<String> {
        self.streams
            .values()
            .flat_map(|s| s.lines.iter().map(|(l, _)| l.clone()))
            .collect()
    }

    fn count(&self) -> usize {
        self.streams.values().map(|s| s.lines.len()).sum()
    }

    fn record(&mut self, msg: Feed) {
        match msg {
            Feed::Open(o) => {
                let s = Stream {
                    name: o.name.to_string(),
                    start: o.start,
                    identity: o.file.clone(),
                    consumed: o.start,
                    ..Stream::default()
                };
                if self.streams.insert(o.stream.0, s).is_some() {
                    self.violations.push(format!("stream {} opened twice", o.stream.0));
                }
            }
            Feed::Lines(b) => {
                let Some(s) = self.streams.get_mut(&b.stream.0) else {
                    return self.violations.push(format!("lines before Open of {}", b.stream.0));
                };
                if s.closed {
                    self.violations.push(format!("lines after Close of {}", s.name));
                }
                if b.data.len() > MAX_BATCH_BYTES + 64 * 1024 || b.lines.is_empty() {
                    self.violations
                        .push(format!("batch of {} bytes, {} lines", b.data.len(), b.lines.len()));
                }
                for i in 0..b.lines.len() {
                    let off = b.lines[i].offset;
                    if off != s.consumed {
                        self.violations
                            .push(format!("{}: line at {off}, expected at {}", s.name, s.consumed));
                    }
                    let line = String::from_utf8_lossy(b.line(i)).into_owned();
                    s.consumed = off + line.len() as u64 + 1;
                    s.lines.push((line, off));
                }
                // An unterminated last line ends at the end of the data, without its newline.
                if b.consumed != s.consumed && b.consumed + 1 != s.consumed {
                    self.violations.push(format!(
                        "{}: batch consumed {} after {}",
                        s.name, b.consumed, s.consumed
                    ));
                }
                s.consumed = b.consumed;
            }
            Feed::Close { stream } => match self.streams.get_mut(&stream.0) {
                Some(s) if !s.closed => s.closed = true,
                _ => self.violations.push(format!("Close of {} unopened or twice", stream.0)),
            },
        }
    }
}

/// A running tailer and what it has sent.
struct Tail {
    seen: Arc<Mutex<Seen>>,
    cancel: CancellationToken,
    tailer: JoinHandle<()>,
    collector: JoinHandle<()>,
    metrics: DaemonMetrics,
}

impl Tail {
    fn start(settings: TailSettings, checkpoints: Vec<FileCheckpoint>) -> Tail {
        let metrics = DaemonMetrics::register(&prometheus::Registry::new());
        // A small queue, so backpressure is part of every test.
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let cancel = CancellationToken::new();
        let tailer = tail::spawn(settings, checkpoints, tx, metrics.clone(), cancel.clone()).unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let into = seen.clone();
        let collector = std::thread::spawn(move || {
            while let Some(msg) = rx.blocking_recv() {
                into.lock().unwrap().record(msg);
            }
        });
        Tail {
            seen,
            cancel,
            tailer,
            collector,
            metrics,
        }
    }

    /// Waits until `cond` holds for what was received, or fails naming `what`.
    fn wait(&self, what: &str, cond: impl Fn(&Seen) -> bool) {
        let until = Instant::now() + DEADLINE;
        loop {
            {
                let seen = self.seen.lock().unwrap();
                assert!(seen.violations.is_empty(), "{:?}", seen.violations);
                if cond(&seen) {
                    return;
                }
                if Instant::now() > until {
                    let summary: Vec<_> = seen
                        .streams
                        .values()
                        .map(|s| (&s.name, s.start, s.lines.len(), s.closed))
                        .collect();
                    panic!("timed out waiting for {what}; streams (name, start, lines, closed): {summary:?}");
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn rotations(&self, kind: &str) -> u64 {
        let label = self.label();
        self.metrics.tail_rotations.with_label_values(&[&label, kind]).get()
    }

    fn open_streams(&self) -> i64 {
        self.metrics.source_streams.with_label_values(&[&self.label()]).get()
    }

    fn label(&self) -> String {
        "tail:test".to_owned()
    }

    /// Cancels, checks the tailer stops by itself, and returns what it sent.
    fn stop(self) -> Seen {
        self.cancel.cancel();
        let until = Instant::now() + DEADLINE;
        while !self.tailer.is_finished() {
            assert!(Instant::now() < until, "the tailer did not stop after cancel");
            std::thread::sleep(Duration::from_millis(10));
        }
        self.tailer.join().unwrap();
        self.collector.join().unwrap();
        let seen = Arc::into_inner(self.seen).unwrap().into_inner().unwrap();
        assert!(seen.violations.is_empty(), "{:?}", seen.violations);
        seen
    }
}

fn settings(pattern: &Path, state: &Path) -> TailSettings {
    let source = Arc::new(SourceInfo::new("tail:test", None));
    let mut s = TailSettings::new(pattern.to_str().unwrap(), source, state);
    s.poll_interval = Duration::from_millis(200);
    s.rotate_wait = Duration::from_millis(300);
    s
}

/// Line `n` of a test log: numbered, long enough that a few thousand fill several batches.
fn line(n: usize) -> String {
    format!("n={n:07} {}", "x".repeat(90))
}

fn number(l: &str) -> usize {
    l[2..9].parse().unwrap()
}

fn append(path: &Path, from: usize, to: usize) {
    let mut f = OpenOptions::new().create(true).append(true).open(path).unwrap();
    let text: String = (from..to).map(|n| line(n) + "\n").collect();
    f.write_all(text.as_bytes()).unwrap();
}

/// Every number in `0..total` exactly once, and in order within each stream.
fn assert_exactly_once(seen: &Seen, total: usize) {
    for s in seen.streams.values() {
        let nums: Vec<usize> = s.lines.iter().map(|(l, _)| number(l)).collect();
        assert!(nums.windows(2).all(|w| w[0] < w[1]), "{} out of order", s.name);
    }
    let mut all: Vec<usize> = seen.all_lines().iter().map(|l| number(l)).collect();
    all.sort_unstable();
    let expected: Vec<usize> = (0..total).collect();
    if all != expected {
        let dup = all.windows(2).find(|w| w[0] == w[1]).map(|w| w[0]);
        let missing = (0..total).find(|n| all.binary_search(n).is_err());
        panic!(
            "{} lines received for {total} written; first repeated {dup:?}, first missing {missing:?}",
            all.len()
        );
    }
}

/// A writer that rotates its own log by rename-and-create, as logrotate and a daemon do
/// together: renames `app.log` → `app.log.1` (shifting older ones), writes a few lines more
/// to the old file (the daemon has not reopened yet), then creates a new `app.log`.
fn rename_rotating_writer(dir: &Path, from: usize, total: usize, every: usize) -> JoinHandle<()> {
    let dir = dir.to_owned();
    std::thread::spawn(move || {
        let log = dir.join("app.log");
        let mut f = OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let mut rotations = 0;
        let mut reopen_after = None;
        for n in from..total {
            writeln!(f, "{}", line(n)).unwrap();
            if reopen_after == Some(n) {
                f = OpenOptions::new().create(true).append(true).open(&log).unwrap();
                reopen_after = None;
            }
            if (n + 1) % every == 0 && n + 1 < total {
                for i in (1..=rotations).rev() {
                    fs::rename(dir.join(format!("app.log.{i}")), dir.join(format!("app.log.{}", i + 1))).unwrap();
                }
                fs::rename(&log, dir.join("app.log.1")).unwrap();
                rotations += 1;
                // The late reopen: the next lines still go to the renamed file.
                reopen_after = Some(n + 5);
            }
            if n % 200 == 0 {
                // Pace the writer so rotations happen while the tailer is reading.
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    })
}

#[test]
fn rename_and_create_rotation_loses_and_repeats_nothing() {
    // A plain path (the rotated files leave the glob and are closed) and a glob that matches
    // the rotated names too (the same files must not be read twice).
    for pattern in ["app.log", "app.log*"] {
        let dir = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let total = 30_000;
        let tail = Tail::start(settings(&dir.path().join(pattern), state.path()), vec![]);
        // The tailer is running before the rotations start.
        append(&dir.path().join("app.log"), 0, 100);
        tail.wait("the first lines", |s| s.count() == 100);
        let writer = rename_rotating_writer(dir.path(), 100, total, 6_000);
        writer.join().unwrap();
        tail.wait("every line", |s| s.count() >= total);
        if pattern == "app.log" {
            tail.wait("the four rotated files closed", |s| {
                s.streams.values().filter(|s| s.closed).count() == 4
            });
            assert_eq!(tail.rotations("rename"), 4, "{pattern}");
            assert_eq!(tail.open_streams(), 1);
        } else {
            // Renamed and still matched: counted when a scan sees a file under a new name
            // (several renames between two scans are seen as one, a file renamed before the
            // tailer first read it is simply a file).
            assert!(tail.rotations("rename") <= 1 + 2 + 3 + 4, "{pattern}");
            assert_eq!(tail.open_streams(), 5);
        }
        let seen = tail.stop();
        assert_exactly_once(&seen, total);
        assert_eq!(seen.streams.len(), 5, "{pattern}: one stream per file");
        assert!(seen.streams.values().all(|s| s.start == 0));
    }
}

#[test]
fn copytruncate_repeats_nothing() {
    // A plain path (the copies are not tailed: the test lets the tailer catch up before each
    // copy) and a glob that matches the copies too (a copy is read from where its original
    // had been read to when it was cut, so the tailer need not catch up).
    for pattern in ["app.log", "app.log*"] {
        let dir = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        let tail = Tail::start(settings(&dir.path().join(pattern), state.path()), vec![]);
        // The daemon writing its log keeps one descriptor, in append mode, through the
        // truncations.
        let mut f = OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let (rounds, per_round) = (5, 3_000);
        for r in 0..rounds {
            let text: String = (r * per_round..(r + 1) * per_round).map(|n| line(n) + "\n").collect();
            // In pieces, so the tailer reads while the writer writes.
            for piece in text.as_bytes().chunks(64 * 1024) {
                f.write_all(piece).unwrap();
            }
            if pattern == "app.log" {
                tail.wait("the round's lines before the copy", |s| {
                    s.count() == (r + 1) * per_round
                });
            } else {
                // The original was read from, maybe not to its end.
                tail.wait("a line of the round before the copy", |s| s.count() > r * per_round);
            }
            // The writer pauses for the copy and the truncation (lines written in between are
            // lost by copytruncate itself, not by the tailer).
            fs::copy(&log, dir.path().join(format!("app.log.{r}"))).unwrap();
            File::options().write(true).open(&log).unwrap().set_len(0).unwrap();
        }
        // The last truncation is seen once something new arrives (or by size at the next poll).
        writeln!(f, "{}", line(rounds * per_round)).unwrap();
        let total = rounds * per_round + 1;
        tail.wait("every line", |s| s.count() == total);
        let truncations = tail.rotations("truncate");
        let seen = tail.stop();
        assert_exactly_once(&seen, total);
        let originals = seen.named("app.log");
        assert!(originals.iter().rev().skip(1).all(|s| s.closed));
        assert_eq!(truncations, rounds as u64, "{pattern}");
        assert_eq!(
            originals.len(),
            rounds + 1,
            "{pattern}: a new stream after each truncation"
        );
    }
}

#[test]
fn files_present_at_start_are_read_whole_and_new_ones_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    append(&dir.path().join("a.log"), 0, 100);
    let tail = Tail::start(settings(&dir.path().join("*.log"), state.path()), vec![]);
    tail.wait("a.log", |s| s.count() == 100);
    append(&dir.path().join("b.log"), 100, 250);
    append(&dir.path().join("a.log"), 250, 260);
    // Not matched by the glob.
    append(&dir.path().join("c.txt"), 1000, 1001);
    tail.wait("b.log and the new lines of a.log", |s| s.count() == 260);
    assert_eq!(tail.open_streams(), 2);
    let seen = tail.stop();
    assert_exactly_once(&seen, 260);
    let b = seen.named("b.log")[0];
    assert_eq!((b.start, b.lines[0].1), (0, 0), "a new file is read from its start");
    let id = b.identity.as_ref().unwrap();
    let meta = fs::metadata(dir.path().join("b.log")).unwrap();
    assert_eq!((id.dev, id.ino), (meta.dev(), meta.ino()));
    assert!(id.fingerprint.matches(&fs::read(dir.path().join("b.log")).unwrap()));
}

/// The checkpoint the engine would write after processing the lines before `n` of `s`.
fn checkpoint_before(s: &Stream, n: usize) -> FileCheckpoint {
    let offset = s.lines.iter().find(|(l, _)| number(l) == n).unwrap().1;
    FileCheckpoint::new(s.identity.as_ref().unwrap(), offset)
}

#[test]
fn a_restart_resumes_at_the_checkpoint_even_across_a_rotation_while_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let other = dir.path().join("other.log");
    append(&log, 0, 1_000);
    append(&other, 10_000, 10_100);
    let pattern = dir.path().join("*.log");
    let tail = Tail::start(settings(&pattern, state.path()), vec![]);
    tail.wait("both files", |s| s.count() == 1_100);
    let seen = tail.stop();
    // The engine had processed app.log up to line 700 and all of other.log.
    let checkpoints = vec![
        checkpoint_before(seen.named("app.log")[0], 700),
        FileCheckpoint::new(seen.named("other.log")[0].identity.as_ref().unwrap(), 100 * 101),
    ];

    // While stopped: more lines, then app.log rotated away (no longer matched), a new app.log.
    append(&log, 1_000, 1_200);
    fs::rename(&log, dir.path().join("app.log-rotated")).unwrap();
    append(&log, 1_200, 1_300);

    let tail = Tail::start(settings(&pattern, state.path()), checkpoints);
    tail.wait("the rest of the rotated file and the new one", |s| {
        s.count() == 600 && s.named("rotated").iter().all(|s| s.closed)
    });
    let seen = tail.stop();
    let rotated = seen.named("app.log-rotated");
    assert_eq!(rotated.len(), 1, "the rotated file was found by its inode");
    assert_eq!(rotated[0].start, rotated[0].lines[0].1, "offsets stay absolute");
    assert_eq!(number(&rotated[0].lines[0].0), 700);
    let all: Vec<usize> = seen.all_lines().iter().map(|l| number(l)).collect();
    let mut sorted = all.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (700..1_300).collect::<Vec<_>>(),
        "nothing lost, nothing repeated"
    );
    assert!(seen.named("other.log")[0].lines.is_empty(), "other.log was done");
}

#[test]
fn a_checkpoint_of_another_file_or_a_longer_one_means_reading_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    append(&a, 0, 10);
    append(&b, 10, 20);
    let ident = |p: &Path| {
        let m = fs::metadata(p).unwrap();
        FileIdentity {
            path: p.to_owned(),
            dev: m.dev(),
            ino: m.ino(),
            fingerprint: reconwatch::source::feed::Fingerprint::of(&fs::read(p).unwrap()),
        }
    };
    // a.log: its inode, but other first bytes (an inode reused by a new file).
    let mut reused = ident(&a);
    reused.fingerprint = reconwatch::source::feed::Fingerprint::of(b"n=9999999 another file\n");
    // b.log: its own, but an offset past its end (truncated while stopped).
    let checkpoints = vec![
        FileCheckpoint::new(&reused, 505),
        FileCheckpoint::new(&ident(&b), 1_000_000),
    ];
    let tail = Tail::start(settings(&dir.path().join("*.log"), state.path()), checkpoints);
    tail.wait("both files from their start", |s| s.count() == 20);
    assert_eq!(tail.rotations("truncate"), 1);
    let seen = tail.stop();
    assert_exactly_once(&seen, 20);
}

#[test]
fn a_half_written_line_waits_for_its_newline_and_is_handed_out_at_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    fs::write(&log, "first\nhalf").unwrap();
    let tail = Tail::start(settings(&log, state.path()), vec![]);
    // "half" was read together with "first" and is held.
    tail.wait("the first line", |s| s.count() == 1);
    OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(b"-written\nlast, unterminated")
        .unwrap();
    tail.wait("the completed line", |s| s.count() == 2);
    fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    tail.wait("the unterminated line at the close", |s| {
        s.streams.values().any(|s| s.closed)
    });
    assert_eq!(tail.rotations("rename"), 1);
    assert_eq!(tail.open_streams(), 0);
    let seen = tail.stop();
    let lines: Vec<&str> = seen
        .streams
        .values()
        .flat_map(|s| s.lines.iter().map(|(l, _)| l.as_str()))
        .collect();
    assert_eq!(lines, ["first", "half-written", "last, unterminated"]);
}

#[test]
fn a_fifo_and_a_directory_in_the_glob_are_skipped_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("a-fifo.log");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success(), "mkfifo");
    fs::create_dir(dir.path().join("b-dir.log")).unwrap();
    append(&dir.path().join("c.log"), 0, 50);
    let tail = Tail::start(settings(&dir.path().join("*.log"), state.path()), vec![]);
    tail.wait("the regular file", |s| s.count() == 50);
    // A new file after them is still picked up: the tailer is not stuck on the FIFO.
    append(&dir.path().join("d.log"), 50, 60);
    tail.wait("a file created later", |s| s.count() == 60);
    let seen = tail.stop();
    assert!(seen.named("fifo.log").is_empty() && seen.named("dir.log").is_empty());
}

/// Writes `path` compressed with gzip(1), made elsewhere and moved in whole (the plain file
/// gzip starts from is no business of the tailer's).
fn gzip(path: &Path, from: usize, to: usize) {
    let scratch = tempfile::tempdir().unwrap();
    let plain = scratch.path().join("plain");
    append(&plain, from, to);
    let status = Command::new("gzip").arg("-f").arg(&plain).status().unwrap();
    assert!(status.success(), "gzip");
    fs::rename(scratch.path().join("plain.gz"), path).unwrap();
}

#[test]
fn compressed_files_are_ignored_or_read_once_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let pattern = dir.path().join("app.log*");
    append(&dir.path().join("app.log"), 0, 10);
    gzip(&dir.path().join("app.log.2.gz"), 100, 200);

    // Ignored: decided when the glob is first listed, before app.log is read.
    let tail = Tail::start(settings(&pattern, state.path()), vec![]);
    tail.wait("app.log", |s| s.count() == 10);
    let seen = tail.stop();
    assert!(seen.named(".gz").is_empty(), "compressed: ignore");

    let read = |s: &Path| {
        let mut st = settings(&pattern, s);
        st.compressed = CompressedPolicy::Read;
        st
    };
    let tail = Tail::start(read(state.path()), vec![]);
    tail.wait("the compressed file, whole and closed", |s| {
        s.named(".gz").first().is_some_and(|g| g.closed)
    });
    let seen = tail.stop();
    let gz = seen.named(".gz")[0];
    let nums: Vec<usize> = gz.lines.iter().map(|(l, _)| number(l)).collect();
    assert_eq!(nums, (100..200).collect::<Vec<_>>());
    assert!(
        gz.identity.is_none(),
        "a compressed file is remembered, not checkpointed"
    );

    // After a restart it is not read again; a compressed file added now is, which shows the
    // first one had its turn.
    let tail = Tail::start(read(state.path()), vec![]);
    gzip(&dir.path().join("app.log.3.gz"), 300, 310);
    tail.wait("the new compressed file", |s| {
        s.named(".3.gz").first().is_some_and(|g| g.closed)
    });
    let seen = tail.stop();
    assert!(seen.named(".2.gz").is_empty(), "read once");
    assert_eq!(seen.named(".3.gz")[0].lines.len(), 10);
}

#[test]
fn file_events_wake_the_tailer_between_polls() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut s = settings(&dir.path().join("*.log"), state.path());
    // No poll within the test's deadline: only inotify can bring these lines.
    s.poll_interval = Duration::from_secs(3600);
    let tail = Tail::start(s, vec![]);
    append(&dir.path().join("new.log"), 0, 5);
    tail.wait("a file created after the start", |s| s.count() == 5);
    append(&dir.path().join("new.log"), 5, 6);
    tail.wait("a line appended", |s| s.count() == 6);
    fs::rename(dir.path().join("new.log"), dir.path().join("new.log.1")).unwrap();
    append(&dir.path().join("new.log"), 6, 7);
    tail.wait("the file created by a rotation", |s| s.count() == 7);
    assert_exactly_once(&tail.stop(), 7);
}

#[test]
fn cancel_stops_the_tailer_without_closing_its_streams() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    append(&dir.path().join("a.log"), 0, 10);
    let mut s = settings(&dir.path().join("a.log"), state.path());
    // Cancellation does not wait for the next poll.
    s.poll_interval = Duration::from_secs(3600);
    let tail = Tail::start(s, vec![]);
    tail.wait("a.log", |s| s.count() == 10);
    let metrics = tail.metrics.clone();
    let seen = tail.stop();
    assert!(seen.streams.values().all(|s| !s.closed), "no Close on shutdown");
    assert_eq!(metrics.source_streams.with_label_values(&["tail:test"]).get(), 0);
}

fn running_as_root() -> bool {
    fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// Set when this test binary runs itself again as an unprivileged user.
const AS_NOBODY: &str = "RECONWATCH_TAIL_TEST_AS_NOBODY";

#[test]
fn an_unreadable_file_is_retried_and_the_others_go_on() {
    if running_as_root() && std::env::var_os(AS_NOBODY).is_none() {
        // root reads a file of mode 000: run this test again as nobody.
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "an_unreadable_file_is_retried_and_the_others_go_on",
                "--nocapture",
            ])
            .env(AS_NOBODY, "1")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "as nobody: {text}");
        assert!(text.contains("1 passed"), "the test ran as nobody: {text}");
        assert_eq!(
            text.matches("Permission denied").count(),
            1,
            "the unreadable file is named once: {text}"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let (a, locked, c) = (
        dir.path().join("a.log"),
        dir.path().join("b.log"),
        dir.path().join("c.log"),
    );
    append(&a, 0, 10);
    append(&locked, 10, 20);
    append(&c, 20, 30);
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    let tail = Tail::start(settings(&dir.path().join("*.log"), state.path()), vec![]);
    tail.wait("the readable files", |s| s.count() == 20);
    // A few polls go by with the file still locked (it is named once, not at each).
    append(&a, 30, 31);
    tail.wait("a line after", |s| s.count() == 21);
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o644)).unwrap();
    tail.wait("the file once readable", |s| s.count() == 31);
    let seen = tail.stop();
    assert_exactly_once(&seen, 31);
}
