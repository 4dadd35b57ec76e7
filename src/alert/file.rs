//! The local sinks: JSON lines on standard output, and JSON lines appended to a file that is
//! rotated by size (`alerts.jsonl` → `alerts.jsonl.1` → … → `.keep`, the oldest deleted).
//!
//! Both buffer alerts in memory between [`flush`](FileSink::flush) calls (the engine flushes after
//! every batch of lines) and never drop one: a file that cannot be written (a full disk) is
//! retried with a growing pause, blocking detection until it can be written again, so a
//! checkpoint never moves past an alert that is not on disk. Standard output is different: a
//! closed pipe (EPIPE) is an error handed back to the engine, which shuts down rather than
//! write into nothing. Neither ever opens anything but a regular file (a FIFO would block the
//! daemon, a device like `/dev/full` would swallow or refuse everything).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Alert, SinkError};
use crate::metrics::DaemonMetrics;

/// Alerts buffered past this many bytes are written at once, so memory stays bounded when a
/// batch raises many alerts.
const BUFFER_MAX: usize = 1 << 20;

/// Pauses between attempts: doubling from `min` to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub min: Duration,
    pub max: Duration,
}

impl Backoff {
    /// A local write error: from 1 s to 30 s (a disk filling up is usually fixed within minutes).
    pub const LOCAL: Backoff = Backoff {
        min: Duration::from_secs(1),
        max: Duration::from_secs(30),
    };

    pub fn next(self, current: Duration) -> Duration {
        (current * 2).clamp(self.min, self.max)
    }
}

/// Runs `op` until it succeeds, pausing after each failure (blocking this thread): for writes to
/// a local file that must not lose data. Each failure is counted in `sink_failures{sink}`; the
/// first of a run and then one a minute are logged with `file` and the OS error.
pub(crate) fn retry<T>(
    sink: &str,
    file: &Path,
    metrics: &DaemonMetrics,
    backoff: Backoff,
    mut op: impl FnMut() -> io::Result<T>,
) -> T {
    let mut pause = backoff.min;
    let mut failures = 0u64;
    let mut logged: Option<std::time::Instant> = None;
    loop {
        match op() {
            Ok(v) => {
                if failures > 0 {
                    crate::log::info!(
                        "sink {sink}: {} is written again after {failures} failed attempts; no alert was lost",
                        file.display()
                    );
                }
                return v;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                failures += 1;
                metrics.sink_failures.with_label_values(&[sink]).inc();
                if logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                    crate::log::error!(
                        "sink {sink}: cannot write {}: {e}; detection waits and retries in {pause:?} \
                         (attempt {failures}); no alert is dropped",
                        file.display()
                    );
                    logged = Some(std::time::Instant::now());
                }
                std::thread::sleep(pause);
                metrics.sink_retries.with_label_values(&[sink]).inc();
                pause = backoff.next(pause);
            }
        }
    }
}

/// Writes `bytes` to `out` whole, resuming after the bytes a failed write did take (so a retry
/// never writes anything twice); see [`retry`].
pub(crate) fn write_retrying(
    out: &mut impl Write,
    bytes: &[u8],
    sink: &str,
    file: &Path,
    metrics: &DaemonMetrics,
    backoff: Backoff,
) {
    let mut done = 0;
    while done < bytes.len() {
        done += retry(sink, file, metrics, backoff, || match out.write(&bytes[done..]) {
            Ok(0) => Err(io::Error::new(io::ErrorKind::WriteZero, "the write took no bytes")),
            r => r,
        });
    }
}

/// Why `path` cannot be a file sink (checked at start-up, without side effects).
pub(crate) fn check_path(path: &Path) -> Result<(), String> {
    let parent = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(format!("the directory {} does not exist", parent.display()));
    }
    match fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(m) => Err(format!(
            "{} is not a regular file (it is {}); alerts go to regular files only",
            path.display(),
            crate::source::file_kind(&m.file_type())
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Fsyncs a directory, so that files created or renamed in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)?.sync_all()
}

/// JSON lines appended to a file, rotated by size.
pub(crate) struct FileSink {
    label: String,
    path: PathBuf,
    file: File,
    /// The file's size, the buffered bytes included.
    size: u64,
    buf: Vec<u8>,
    /// Alerts in `buf`.
    pending: u64,
    max_size: Option<u64>,
    keep: usize,
    metrics: DaemonMetrics,
    backoff: Backoff,
    /// A rotation renamed or created files whose directory is not fsynced yet.
    dir_dirty: bool,
}

impl FileSink {
    pub fn open(
        label: String,
        path: &Path,
        max_size: Option<u64>,
        keep: usize,
        metrics: DaemonMetrics,
    ) -> Result<FileSink, String> {
        check_path(path)?;
        let file = open_append(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // The path may have been replaced between the check and the open.
        let meta = file.metadata().map_err(|e| format!("{}: {e}", path.display()))?;
        if !meta.is_file() {
            return Err(format!("{} is not a regular file", path.display()));
        }
        Ok(FileSink {
            label,
            path: path.to_owned(),
            file,
            size: meta.len(),
            buf: Vec::new(),
            pending: 0,
            max_size,
            keep,
            metrics,
            backoff: Backoff::LOCAL,
            dir_dirty: false,
        })
    }

    pub fn alert(&mut self, alert: &Alert) {
        let len = alert.json.len() as u64 + 1;
        if let Some(max) = self.max_size
            && self.size > 0
            && self.size + len > max
        {
            self.rotate();
        }
        self.buf.extend_from_slice(&alert.json);
        self.buf.push(b'\n');
        self.size += len;
        self.pending += 1;
        if self.buf.len() >= BUFFER_MAX {
            self.flush();
        }
    }

    /// Writes the buffered alerts to the file (retrying until it can).
    pub fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let (label, path, metrics) = (&self.label, &self.path, &self.metrics);
        write_retrying(&mut self.file, &self.buf, label, path, metrics, self.backoff);
        self.buf.clear();
        metrics.sink_deliveries.with_label_values(&[label]).inc_by(self.pending);
        self.pending = 0;
    }

    /// Flushes and fsyncs: every alert handed in is on disk.
    pub fn commit(&mut self) -> Result<(), SinkError> {
        self.flush();
        let named = |e: io::Error| io::Error::new(e.kind(), format!("fsync of {}: {e}", self.path.display()));
        self.file.sync_data().map_err(named)?;
        if self.dir_dirty {
            sync_dir(self.path.parent().unwrap_or(Path::new("."))).map_err(named)?;
            self.dir_dirty = false;
        }
        Ok(())
    }

    /// `path` → `path.1` → … → `path.keep` (the oldest deleted), then a new, empty `path`. A
    /// rename that fails is logged and the current file grows on: its size cap is the lesser
    /// good compared with losing alerts.
    fn rotate(&mut self) {
        self.flush();
        let rotated = |i: usize| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{i}"));
            PathBuf::from(p)
        };
        let shifted = (|| {
            if self.keep == 0 {
                return remove_if_exists(&self.path);
            }
            remove_if_exists(&rotated(self.keep))?;
            for i in (1..self.keep).rev() {
                match fs::rename(rotated(i), rotated(i + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            fs::rename(&self.path, rotated(1))
        })();
        self.dir_dirty = true;
        if let Err(e) = shifted {
            self.metrics.sink_failures.with_label_values(&[&self.label]).inc();
            crate::log::error!(
                "sink {}: cannot rotate {}: {e}; alerts are appended to it beyond max_size until a rotation succeeds",
                self.label,
                self.path.display()
            );
            // Only a file that was moved away is replaced.
            if self.path.exists() {
                return;
            }
        }
        // The old file is moved away: a new one must be opened whatever it takes.
        let path = self.path.clone();
        self.file = retry(&self.label, &path, &self.metrics, self.backoff, || open_append(&path));
        self.size = 0;
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).create(true).open(path)
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// JSON lines on standard output (or, in tests, any writer).
pub(crate) struct StdoutSink {
    out: Box<dyn Write + Send>,
    buf: Vec<u8>,
    pending: u64,
    metrics: DaemonMetrics,
}

impl StdoutSink {
    pub const LABEL: &str = "stdout";

    pub fn new(out: Box<dyn Write + Send>, metrics: DaemonMetrics) -> StdoutSink {
        StdoutSink {
            out,
            buf: Vec::new(),
            pending: 0,
            metrics,
        }
    }

    pub fn alert(&mut self, alert: &Alert) -> Result<(), SinkError> {
        self.buf.extend_from_slice(&alert.json);
        self.buf.push(b'\n');
        self.pending += 1;
        if self.buf.len() >= BUFFER_MAX {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the buffered alerts. A closed pipe is an error (kept buffered: nothing was
    /// delivered).
    pub fn flush(&mut self) -> Result<(), SinkError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let written = self.out.write_all(&self.buf).and_then(|()| self.out.flush());
        if let Err(e) = written {
            self.metrics.sink_failures.with_label_values(&[Self::LABEL]).inc();
            return Err(io::Error::new(e.kind(), format!("writing alerts to standard output: {e}")).into());
        }
        self.buf.clear();
        self.metrics
            .sink_deliveries
            .with_label_values(&[Self::LABEL])
            .inc_by(self.pending);
        self.pending = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> DaemonMetrics {
        DaemonMetrics::register(&prometheus::Registry::new())
    }

    /// A writer that fails `failures` times (taking nothing) and takes at most 3 bytes a write,
    /// so that partial writes and failures interleave.
    struct Flaky {
        failures: usize,
        got: Vec<u8>,
    }

    impl Write for Flaky {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.failures > 0 && self.got.len() % 2 == 1 {
                self.failures -= 1;
                return Err(io::Error::from_raw_os_error(28)); // ENOSPC
            }
            let n = b.len().min(3);
            self.got.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failing_write_is_retried_without_losing_or_repeating_a_byte() {
        let m = metrics();
        let mut w = Flaky {
            failures: 4,
            got: Vec::new(),
        };
        let fast = Backoff {
            min: Duration::from_millis(1),
            max: Duration::from_millis(4),
        };
        let data = b"{\"a\":1}\n{\"b\":2}\n";
        write_retrying(&mut w, data, "file:x", Path::new("x"), &m, fast);
        assert_eq!(w.got, data);
        assert_eq!(m.sink_failures.with_label_values(&["file:x"]).get(), 4);
        assert_eq!(m.sink_retries.with_label_values(&["file:x"]).get(), 4);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let b = Backoff::LOCAL;
        assert_eq!(b.next(Duration::from_secs(1)), Duration::from_secs(2));
        assert_eq!(b.next(Duration::from_secs(20)), Duration::from_secs(30));
    }
}
