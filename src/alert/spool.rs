//! A sink's spool: a durable first-in first-out queue of records on disk, and the task that
//! empties it into a receiver (a webhook, a syslog server over TCP/TLS).
//!
//! Every alert for such a sink is appended to the spool first ([`SpoolWriter`], on the engine's
//! thread); the delivery task ([`deliver`]) reads from the acknowledged position, hands records
//! to the receiver in order, one attempt at a time, and only after the receiver took them
//! records the new position. So a restart, even after `kill -9`, delivers again what was not
//! acknowledged: at least once, in order; never an alert skipped.
//!
//! On disk, under the sink's directory: segment files `<number>.spool` of at most
//! [`SEGMENT_MAX`] bytes, one record per line (a record never holds a newline), deleted once
//! fully delivered; and `acked.json` (`{"version":1,"segment":S,"offset":O}`), replaced
//! atomically after each delivery. A torn last line (a crash mid-write) is cut at start-up: it
//! was never committed, so its lines are read again from the source.
//!
//! The spool never drops a record. At `spool_max` the writer waits for room: detection stops
//! (backpressure to the sources), with a warning a minute naming the sink and the receiver's last
//! error.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntGauge};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::file::{Backoff, sync_dir, write_retrying};
use crate::log::{error, info, warning};
use crate::metrics::DaemonMetrics;
use crate::source::checkpoint::write_atomically;

/// A segment is closed and the next begun past this size, so delivered alerts leave the disk a
/// file at a time (deleting a file is cheap; cutting the head off one is not).
pub const SEGMENT_MAX: u64 = 16 << 20;
const ACKED: &str = "acked.json";
const VERSION: u32 = 1;
/// The writer's buffer is written out past this size even before a flush.
const BUFFER_MAX: usize = 1 << 20;

/// A place in the spool: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

#[derive(Serialize, Deserialize)]
struct AckedFile {
    version: u32,
    #[serde(flatten)]
    position: Position,
}

struct State {
    /// The segment being written and how many of its bytes are written to the OS (always
    /// whole records: the reader reads up to there).
    write_segment: u64,
    write_len: u64,
    /// Records and bytes not acknowledged yet (buffered ones included).
    records: u64,
    bytes: u64,
    /// The receiver's last error, for the writer's backpressure warning.
    last_error: Option<String>,
}

/// What the writer and the delivery task share.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Signalled when records were acknowledged: room for a waiting writer; shutdown watches it.
    acked: Condvar,
    /// Wakes the delivery task when records became readable.
    readable: Notify,
    sink: String,
    bytes_gauge: IntGauge,
    depth_gauge: IntGauge,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, st: &State) {
        self.bytes_gauge.set(st.bytes as i64);
        self.depth_gauge.set(st.records as i64);
    }

    /// Records and bytes not delivered yet.
    pub fn backlog(&self) -> (u64, u64) {
        let st = self.lock();
        (st.records, st.bytes)
    }

    /// Waits until everything is delivered or `deadline` passes; whether it was.
    pub fn wait_empty(&self, deadline: Instant) -> bool {
        let mut st = self.lock();
        while st.records > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            st = self
                .acked
                .wait_timeout(st, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:020}.spool"))
}

/// An I/O error that names the file.
fn named(path: &Path) -> impl Fn(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Opens (or creates) the spool in `dir` for sink `sink`, capped at `max` bytes.
pub(crate) fn open(
    dir: &Path,
    sink: &str,
    max: u64,
    metrics: &DaemonMetrics,
) -> io::Result<(SpoolWriter, SpoolReader)> {
    fs::create_dir_all(dir).map_err(named(dir))?;
    let acked_path = dir.join(ACKED);
    let acked = match fs::read(&acked_path) {
        Ok(bytes) => {
            let f: AckedFile = serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: not a spool position file: {e}", acked_path.display()),
                )
            })?;
            if f.version != VERSION {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: spool version {} (this reconwatch writes {VERSION})",
                        acked_path.display(),
                        f.version
                    ),
                ));
            }
            Some(f.position)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(named(&acked_path)(e)),
    };
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(named(dir))? {
        let name = entry.map_err(named(dir))?.file_name();
        if let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".spool"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            segments.push(n);
        }
    }
    segments.sort_unstable();
    let first_kept = acked.map_or(0, |a| a.segment);
    for &s in segments.iter().filter(|&&s| s < first_kept) {
        let p = segment_path(dir, s);
        fs::remove_file(&p).map_err(named(&p))?;
    }
    segments.retain(|&s| s >= first_kept);

    // The last segment may end in a torn record (a crash mid-write): it was never committed.
    let (write_segment, write_len) = match segments.last() {
        Some(&last) => (last, cut_torn_tail(&segment_path(dir, last))?),
        None => (acked.map_or(0, |a| a.segment + 1), 0),
    };
    let start = match (segments.first(), acked) {
        (Some(&s), Some(a)) if s == a.segment => Position {
            segment: s,
            offset: a.offset,
        },
        (Some(&s), _) => Position { segment: s, offset: 0 },
        (None, _) => Position {
            segment: write_segment,
            offset: 0,
        },
    };
    let (records, bytes) = count_from(dir, start, &segments)?;

    let path = segment_path(dir, write_segment);
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .map_err(named(&path))?;
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            write_segment,
            write_len,
            records,
            bytes,
            last_error: None,
        }),
        acked: Condvar::new(),
        readable: Notify::new(),
        sink: sink.to_owned(),
        bytes_gauge: metrics.sink_spool_bytes.with_label_values(&[sink]),
        depth_gauge: metrics.queue_depth.with_label_values(&[&format!("spool:{sink}")]),
    });
    shared.publish(&shared.lock());
    if records > 0 {
        info!("sink {sink}: {records} alerts ({bytes} bytes) spooled from before the start are delivered first");
    }
    let writer = SpoolWriter {
        shared: shared.clone(),
        dir: dir.to_owned(),
        file,
        segment: write_segment,
        written: write_len,
        buf: Vec::new(),
        max,
        dir_dirty: true,
        last_warning: None,
        metrics: metrics.clone(),
        refused: metrics.sink_refused.with_label_values(&[sink]),
    };
    let reader = SpoolReader {
        shared,
        dir: dir.to_owned(),
        read: start,
        file: None,
        acked: start,
    };
    Ok((writer, reader))
}

/// Cuts `path` after its last newline; its new length.
fn cut_torn_tail(path: &Path) -> io::Result<u64> {
    let bytes = fs::read(path).map_err(named(path))?;
    let whole = memchr::memrchr(b'\n', &bytes).map_or(0, |i| i + 1);
    if whole < bytes.len() {
        warning!(
            "spool {}: cut a torn record of {} bytes at its end (written when reconwatch stopped abruptly; its log lines are read again)",
            path.display(),
            bytes.len() - whole
        );
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(whole as u64).and_then(|()| f.sync_all()))
            .map_err(named(path))?;
    }
    Ok(whole as u64)
}

/// Records and bytes from `start` to the end of the spool.
fn count_from(dir: &Path, start: Position, segments: &[u64]) -> io::Result<(u64, u64)> {
    let (mut records, mut bytes) = (0u64, 0u64);
    for &s in segments.iter().filter(|&&s| s >= start.segment) {
        let p = segment_path(dir, s);
        let data = fs::read(&p).map_err(named(&p))?;
        let from = if s == start.segment {
            (start.offset as usize).min(data.len())
        } else {
            0
        };
        records += memchr::memchr_iter(b'\n', &data[from..]).count() as u64;
        bytes += (data.len() - from) as u64;
    }
    Ok((records, bytes))
}

/// Appends records (on the engine's thread).
pub(crate) struct SpoolWriter {
    shared: Arc<Shared>,
    dir: PathBuf,
    file: File,
    segment: u64,
    /// Bytes of the segment written to the OS.
    written: u64,
    buf: Vec<u8>,
    max: u64,
    /// A segment was created whose directory entry is not fsynced yet.
    dir_dirty: bool,
    last_warning: Option<Instant>,
    metrics: DaemonMetrics,
    refused: IntCounter,
}

impl SpoolWriter {
    /// Appends one record (buffered until [`flush`](Self::flush)). Waits while the spool is at
    /// its cap.
    pub fn append(&mut self, record: &[u8]) {
        let len = record.len() as u64 + 1;
        self.wait_for_room(len);
        if self.written + self.buf.len() as u64 > 0 && self.written + self.buf.len() as u64 + len > SEGMENT_MAX {
            self.roll();
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(record);
        // A record is one line. Alert documents are compact JSON (a newline inside a string is
        // escaped), so this never fires for them; were one to slip in, a space keeps the JSON
        // equivalent and the framing intact.
        if memchr::memchr(b'\n', record).is_some() {
            self.buf[start..]
                .iter_mut()
                .filter(|b| **b == b'\n')
                .for_each(|b| *b = b' ');
        }
        self.buf.push(b'\n');
        let mut st = self.shared.lock();
        st.records += 1;
        st.bytes += len;
        self.shared.publish(&st);
        drop(st);
        if self.buf.len() >= BUFFER_MAX {
            self.flush();
        }
    }

    /// The spool at its cap: make what is buffered readable, then wait until the receiver took
    /// enough. One record larger than the cap is let in alone, or it would wait forever.
    fn wait_for_room(&mut self, len: u64) {
        let max = self.max;
        let full = |st: &State| st.bytes > 0 && st.bytes + len > max;
        if !full(&self.shared.lock()) {
            return;
        }
        self.flush();
        self.refused.inc();
        let mut st = self.shared.lock();
        while full(&st) {
            if self.last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                warning!(
                    "sink {}: spool full ({} bytes, spool_max {}); detection waits until the receiver takes alerts (its last error: {})",
                    self.shared.sink,
                    st.bytes,
                    self.max,
                    st.last_error.as_deref().unwrap_or("none yet")
                );
                self.last_warning = Some(Instant::now());
            }
            st = self
                .shared
                .acked
                .wait_timeout(st, Duration::from_secs(60))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Closes the current segment (fsynced: the reader reads a closed segment to its end) and
    /// begins the next.
    fn roll(&mut self) {
        self.flush();
        let path = segment_path(&self.dir, self.segment);
        let (sink, metrics) = (&self.shared.sink, &self.metrics);
        let file = &self.file;
        super::file::retry(sink, &path, metrics, Backoff::LOCAL, || file.sync_data());
        let next = segment_path(&self.dir, self.segment + 1);
        self.file = super::file::retry(sink, &next, metrics, Backoff::LOCAL, || {
            OpenOptions::new().append(true).create(true).open(&next)
        });
        self.segment += 1;
        self.written = 0;
        self.dir_dirty = true;
        let mut st = self.shared.lock();
        st.write_segment = self.segment;
        st.write_len = 0;
    }

    /// Writes the buffered records to the OS and wakes the delivery task. A write error (a full
    /// disk) is retried until it succeeds: no record is dropped.
    pub fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let path = segment_path(&self.dir, self.segment);
        write_retrying(
            &mut self.file,
            &self.buf,
            &self.shared.sink,
            &path,
            &self.metrics,
            Backoff::LOCAL,
        );
        self.written += self.buf.len() as u64;
        self.buf.clear();
        self.shared.lock().write_len = self.written;
        self.shared.readable.notify_one();
    }

    /// Flushes and fsyncs: every record appended is on disk.
    pub fn commit(&mut self) -> io::Result<()> {
        self.flush();
        let path = segment_path(&self.dir, self.segment);
        self.file.sync_data().map_err(named(&path))?;
        if self.dir_dirty {
            sync_dir(&self.dir).map_err(named(&self.dir))?;
            self.dir_dirty = false;
        }
        Ok(())
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

/// Records read for one delivery attempt, and where the spool stands after them.
pub(crate) struct Batch {
    pub records: Vec<Vec<u8>>,
    end: Position,
    bytes: u64,
}

/// Reads records for the delivery task and acknowledges them.
pub(crate) struct SpoolReader {
    shared: Arc<Shared>,
    dir: PathBuf,
    /// After the last record read.
    read: Position,
    /// Open on `read.segment`, positioned at `read.offset`.
    file: Option<BufReader<File>>,
    acked: Position,
}

impl SpoolReader {
    /// Up to `max_records` records and about `max_bytes` (at least one record); `None` when
    /// nothing is readable yet.
    pub fn read_batch(&mut self, max_records: usize, max_bytes: usize) -> io::Result<Option<Batch>> {
        let mut records = Vec::new();
        let mut bytes = 0u64;
        while records.len() < max_records && (bytes as usize) < max_bytes {
            let (write_segment, write_len) = {
                let st = self.shared.lock();
                (st.write_segment, st.write_len)
            };
            let closed = self.read.segment < write_segment;
            if !closed && self.read.offset >= write_len {
                break;
            }
            let path = segment_path(&self.dir, self.read.segment);
            let file = match &mut self.file {
                Some(f) => f,
                None => match File::open(&path) {
                    Ok(mut f) => {
                        f.seek(SeekFrom::Start(self.read.offset)).map_err(named(&path))?;
                        self.file.insert(BufReader::new(f))
                    }
                    Err(e) if closed && e.kind() == io::ErrorKind::NotFound => {
                        warning!(
                            "sink {}: spool segment {} is missing (deleted by hand?); going on with the next",
                            self.shared.sink,
                            path.display()
                        );
                        self.next_segment();
                        continue;
                    }
                    Err(e) => return Err(named(&path)(e)),
                },
            };
            let mut line = Vec::new();
            let n = file.read_until(b'\n', &mut line).map_err(named(&path))?;
            if n == 0 && closed {
                self.next_segment();
                continue;
            }
            if line.pop() != Some(b'\n') {
                // Only whole records are ever below `write_len` or in a closed segment.
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: damaged at offset {} (a record without its end)",
                        path.display(),
                        self.read.offset
                    ),
                ));
            }
            self.read.offset += n as u64;
            bytes += n as u64;
            records.push(line);
        }
        Ok((!records.is_empty()).then_some(Batch {
            records,
            end: self.read,
            bytes,
        }))
    }

    fn next_segment(&mut self) {
        self.file = None;
        self.read = Position {
            segment: self.read.segment + 1,
            offset: 0,
        };
    }

    /// Records `batch` as delivered: the position is saved, fully delivered segments are
    /// deleted, and a waiting writer is woken. The counts move even when saving fails (the
    /// records were delivered; a restart would deliver them again, which at-least-once allows).
    pub fn ack(&mut self, batch: &Batch) -> io::Result<()> {
        {
            let mut st = self.shared.lock();
            st.records -= batch.records.len() as u64;
            st.bytes -= batch.bytes;
            self.shared.publish(&st);
        }
        self.shared.acked.notify_all();
        let doc = AckedFile {
            version: VERSION,
            position: batch.end,
        };
        let path = self.dir.join(ACKED);
        let json = serde_json::to_vec(&doc).expect("a position serializes");
        write_atomically(&path, &json).map_err(named(&path))?;
        for s in self.acked.segment..batch.end.segment {
            let p = segment_path(&self.dir, s);
            match fs::remove_file(&p) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(named(&p)(e)),
                _ => {}
            }
        }
        self.acked = batch.end;
        Ok(())
    }
}

/// Why a delivery attempt failed.
#[derive(Debug)]
pub(crate) struct DeliveryError {
    pub reason: String,
    /// The receiver refused the content (an HTTP 4xx other than 408/429): retried like any
    /// failure, but logged as an error, since waiting will not fix it.
    pub rejected: bool,
}

impl DeliveryError {
    pub fn failed(reason: impl Into<String>) -> DeliveryError {
        DeliveryError {
            reason: reason.into(),
            rejected: false,
        }
    }
}

/// A receiver: takes records in order, all of a call or none.
pub(crate) trait Transport: Send + 'static {
    fn deliver(&mut self, records: &[Vec<u8>]) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

/// How the delivery task batches and retries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delivery {
    pub max_records: usize,
    pub max_bytes: usize,
    pub backoff: Backoff,
}

/// `pause` less up to half of it at random, so that many daemons do not retry in step.
fn jittered(pause: Duration) -> Duration {
    use std::hash::BuildHasher;
    let r = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    pause.mul_f64(1.0 - (r % 1000) as f64 / 2000.0)
}

/// The delivery task: until `cancel`, reads batches from the spool, delivers them (retrying one
/// batch until the receiver takes it, so order is kept) and acknowledges them.
pub(crate) async fn deliver<T: Transport>(
    mut reader: SpoolReader,
    mut transport: T,
    policy: Delivery,
    cancel: CancellationToken,
    metrics: DaemonMetrics,
) {
    let shared = reader.shared.clone();
    let sink = shared.sink.clone();
    let deliveries = metrics.sink_deliveries.with_label_values(&[&sink]);
    let failures = metrics.sink_failures.with_label_values(&[&sink]);
    let retries = metrics.sink_retries.with_label_values(&[&sink]);
    loop {
        // Disk reads and the fsync of an acknowledgement stay off the runtime's workers.
        let read = tokio::task::spawn_blocking(move || {
            let r = reader.read_batch(policy.max_records, policy.max_bytes);
            (reader, r)
        });
        let batch = match read.await {
            Err(_) => return, // the runtime is shutting down
            Ok((r, result)) => {
                reader = r;
                match result {
                    Ok(Some(batch)) => batch,
                    Ok(None) => {
                        tokio::select! {
                            () = shared.readable.notified() => continue,
                            () = cancel.cancelled() => return,
                        }
                    }
                    Err(e) => {
                        error!("sink {sink}: cannot read its spool: {e}; retrying in 30s");
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_secs(30)) => continue,
                            () = cancel.cancelled() => return,
                        }
                    }
                }
            }
        };
        let mut pause = policy.backoff.min;
        let mut attempts = 0u64;
        let mut logged: Option<Instant> = None;
        loop {
            let result = tokio::select! {
                r = transport.deliver(&batch.records) => r,
                () = cancel.cancelled() => return,
            };
            let Err(e) = result else { break };
            attempts += 1;
            failures.inc();
            shared.lock().last_error = Some(e.reason.clone());
            if logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                let (records, _) = shared.backlog();
                if e.rejected {
                    error!(
                        "sink {sink}: the receiver rejected {} alerts: {}; they stay spooled and are sent again in {pause:?} (attempt {attempts}); fix the receiver or the sink's configuration",
                        batch.records.len(),
                        e.reason
                    );
                } else {
                    warning!(
                        "sink {sink}: delivery failed: {}; {records} alerts stay spooled, retrying in {pause:?} (attempt {attempts})",
                        e.reason
                    );
                }
                logged = Some(Instant::now());
            }
            tokio::select! {
                () = tokio::time::sleep(jittered(pause)) => {}
                () = cancel.cancelled() => return,
            }
            retries.inc();
            pause = policy.backoff.next(pause);
        }
        if attempts > 0 {
            info!("sink {sink}: the receiver takes alerts again (after {attempts} failed attempts)");
            shared.lock().last_error = None;
        }
        deliveries.inc_by(batch.records.len() as u64);
        let ack = tokio::task::spawn_blocking(move || {
            let r = reader.ack(&batch);
            (reader, r)
        });
        match ack.await {
            Err(_) => return,
            Ok((r, result)) => {
                reader = r;
                if let Err(e) = result {
                    error!(
                        "sink {sink}: cannot record the delivered position: {e}; after a restart those alerts are delivered again"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn metrics() -> DaemonMetrics {
        DaemonMetrics::register(&prometheus::Registry::new())
    }

    fn read_all(r: &mut SpoolReader) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(b) = r.read_batch(3, 1 << 20).unwrap() {
            out.extend(b.records.iter().map(|r| String::from_utf8(r.clone()).unwrap()));
            r.ack(&b).unwrap();
        }
        out
    }

    #[test]
    fn records_come_back_in_order_once_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let m = metrics();
        let (mut w, mut r) = open(dir.path(), "s", 1 << 30, &m).unwrap();
        for i in 0..5 {
            w.append(format!("r{i}").as_bytes());
        }
        // Buffered records are not readable before a flush.
        assert!(r.read_batch(10, 1 << 20).unwrap().is_none());
        w.flush();
        let b = r.read_batch(2, 1 << 20).unwrap().unwrap();
        assert_eq!(b.records, vec![b"r0".to_vec(), b"r1".to_vec()]);
        r.ack(&b).unwrap();
        w.commit().unwrap();
        drop((w, r));
        // A reopen starts at the acknowledged position.
        let (_w, mut r) = open(dir.path(), "s", 1 << 30, &m).unwrap();
        assert_eq!(r.shared.backlog().0, 3);
        assert_eq!(read_all(&mut r), ["r2", "r3", "r4"]);
        assert_eq!(m.sink_spool_bytes.with_label_values(&["s"]).get(), 0);
    }

    #[test]
    fn a_torn_last_record_is_cut_and_newlines_cannot_split_a_record() {
        let dir = tempfile::tempdir().unwrap();
        let m = metrics();
        let (mut w, r) = open(dir.path(), "s", 1 << 30, &m).unwrap();
        w.append(b"{\"a\":\n1}");
        w.commit().unwrap();
        drop((w, r));
        let seg = segment_path(dir.path(), 0);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(b"{\"torn\":").unwrap();
        let (_w, mut r) = open(dir.path(), "s", 1 << 30, &m).unwrap();
        assert_eq!(read_all(&mut r), ["{\"a\": 1}"]);
    }

    #[test]
    fn delivered_segments_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let m = metrics();
        let (mut w, mut r) = open(dir.path(), "s", 1 << 40, &m).unwrap();
        let big = vec![b'x'; 1 << 20];
        for _ in 0..20 {
            w.append(&big); // 20 MiB: two segments
        }
        w.flush();
        assert!(segment_path(dir.path(), 1).exists());
        let mut n = 0;
        while let Some(b) = r.read_batch(100, 4 << 20).unwrap() {
            n += b.records.len();
            r.ack(&b).unwrap();
        }
        assert_eq!(n, 20);
        // One more acknowledgement after moving on deletes the first segment.
        w.append(b"last");
        w.flush();
        let b = r.read_batch(100, 1 << 20).unwrap().unwrap();
        r.ack(&b).unwrap();
        assert!(!segment_path(dir.path(), 0).exists());
        assert_eq!(r.shared.backlog(), (0, 0));
    }

    #[test]
    fn a_full_spool_waits_for_the_receiver() {
        let dir = tempfile::tempdir().unwrap();
        let m = metrics();
        let (mut w, mut r) = open(dir.path(), "s", 10, &m).unwrap();
        w.append(b"12345678"); // 9 bytes: fits
        let t = std::thread::spawn(move || {
            w.append(b"abc"); // would pass 10: waits until the first is acknowledged
            w.flush();
            w
        });
        // The writer flushed before waiting, so the first record is readable.
        let deadline = Instant::now() + Duration::from_secs(20);
        let b = loop {
            if let Some(b) = r.read_batch(10, 1 << 20).unwrap() {
                break b;
            }
            assert!(Instant::now() < deadline, "the waiting writer never flushed");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(b.records, vec![b"12345678".to_vec()]);
        r.ack(&b).unwrap();
        let _w = t.join().unwrap();
        assert_eq!(read_all(&mut r), ["abc"]);
        assert_eq!(m.sink_refused.with_label_values(&["s"]).get(), 1);
    }
}
