//! Tails the files of one configured glob (`/var/log/squid/access.log*`) and hands their lines to
//! detection as streams ([`crate::source::feed`]): one stream per file, opened at its checkpoint
//! or at its start, closed when the file has been rotated away and read to its end.
//!
//! A file is known by device and inode, never by its name: a log renamed to `access.log.1` that
//! the glob still matches is the same stream, read once. Where a name now points at another
//! inode (rename-and-create rotation) or at nothing, the old file is read on through the
//! descriptor already open until it has been quiet for `rotate_wait` (a writer may not have
//! reopened its log yet), its unfinished last line is handed out, and its stream closed. A file
//! whose size falls below what was read, or that no longer starts with the bytes it was read
//! with, was truncated (copytruncate): its stream is closed and a new one starts at offset 0; a
//! new file whose first 1024 bytes are a tailed file's is its copy and is read only from where
//! the original had been read to when it was cut. Compressed files are recognised by their magic bytes and either
//! skipped or read once, whole, and remembered in the state directory.
//!
//! Wake-ups come from inotify (`notify`) on the glob's directories; the glob and every open file
//! are also checked every `poll_interval`, which covers missed events, file systems without
//! inotify and a watcher that could not be created. The tailer runs on a thread of its own
//! (file I/O blocks); sending into the feed's bounded queue waits while the queue is full, and
//! while it waits no file is read: that is the backpressure.
//!
//! The tailer never opens what is not a regular file (a FIFO would block it), never reads a line
//! twice in one run, never skips one, and never sends `Close` on shutdown (checkpoints stay).

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::checkpoint::{FileCheckpoint, write_atomically};
use super::feed::{
    FINGERPRINT_BYTES, Feed, FeedSender, FileIdentity, Fingerprint, LineBatch, OpenStream, SourceInfo, StreamId,
};
use super::{Compression, Input, LineReader};
use crate::daemon::config::CompressedPolicy;
use crate::log::{debug, info, warning};
use crate::metrics::DaemonMetrics;

/// How often the glob and open files are checked without a file event.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long a file that was rotated away is read on after its last new byte: a writer keeps
/// writing to the old file until it reopens its log (after logrotate's `postrotate`).
pub const DEFAULT_ROTATE_WAIT: Duration = Duration::from_secs(5);
/// Batches one file may send before the other files get their turn (4 MiB): a large backlog
/// in one file does not starve the others.
const BATCHES_PER_TURN: usize = 16;
/// The version of the compressed-files document; another version is refused with that reason.
const DONE_VERSION: u32 = 1;

/// One tail source, as the daemon's configuration gives it.
#[derive(Debug, Clone)]
pub struct TailSettings {
    /// The glob (or a plain path).
    pub pattern: String,
    pub source: Arc<SourceInfo>,
    pub compressed: CompressedPolicy,
    pub poll_interval: Duration,
    /// See [`DEFAULT_ROTATE_WAIT`].
    pub rotate_wait: Duration,
    /// The line length cap ([`LineReader`] semantics: longer lines are cut and flagged).
    pub max_line: usize,
    /// Where the list of compressed files already read is kept.
    pub state_dir: PathBuf,
}

impl TailSettings {
    /// Settings with the defaults: compressed files ignored, 1 s polls, 5 s rotate wait, 64 KiB
    /// lines.
    pub fn new(pattern: &str, source: Arc<SourceInfo>, state_dir: &Path) -> TailSettings {
        TailSettings {
            pattern: pattern.to_owned(),
            source,
            compressed: CompressedPolicy::Ignore,
            poll_interval: DEFAULT_POLL_INTERVAL,
            rotate_wait: DEFAULT_ROTATE_WAIT,
            max_line: super::DEFAULT_MAX_LINE,
            state_dir: state_dir.to_owned(),
        }
    }
}

/// Why a tailer could not start. Each names the source or the file.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("{label}: invalid glob pattern {pattern:?}: {reason}")]
    Pattern {
        label: String,
        pattern: String,
        reason: String,
    },
    #[error("{}: {reason}", path.display())]
    State { path: PathBuf, reason: String },
    #[error("{label}: cannot start the tailer: {source}")]
    Start {
        label: String,
        #[source]
        source: io::Error,
    },
}

/// Starts tailing `settings.pattern` on a thread of its own; it runs until `cancel` and returns
/// then. `checkpoints` may be every checkpoint of the state directory: the tailer takes those
/// whose path its glob matches.
pub fn spawn(
    settings: TailSettings,
    checkpoints: Vec<FileCheckpoint>,
    feed: FeedSender,
    metrics: DaemonMetrics,
    cancel: CancellationToken,
) -> Result<JoinHandle<()>, TailError> {
    let label = settings.source.label.to_string();
    let glob = glob::Pattern::new(&settings.pattern).map_err(|e| TailError::Pattern {
        label: label.clone(),
        pattern: settings.pattern.clone(),
        reason: e.msg.to_owned(),
    })?;
    let done_path = settings
        .state_dir
        .join(format!("tail-compressed-done-{:016x}.json", settings.source.id.0));
    let done = load_done(&done_path)?;
    let resume = checkpoints
        .into_iter()
        .filter(|c| glob.matches_path(&c.path))
        .map(|c| ((c.dev, c.ino), c))
        .collect();
    let start = |source| TailError::Start {
        label: label.clone(),
        source,
    };
    // A runtime of the thread's own, for the only two things that are async: sending into the
    // feed and waiting for a wake-up, each raced against the cancellation.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(start)?;
    std::thread::Builder::new()
        .name("reconwatch-tail".into())
        .spawn(move || {
            let out = Out {
                rt,
                feed,
                cancel,
                label: settings.source.label.clone(),
                metrics,
            };
            let mut tailer = Tailer {
                settings,
                out,
                resume,
                done,
                done_path,
                tracked: HashMap::new(),
                skipped: HashSet::new(),
                seen: HashSet::new(),
                compressed_waiting: HashMap::new(),
                reported: HashMap::new(),
                copied: Truncated::default(),
                wake: Arc::new(Wake::default()),
                watcher: None,
                watched: HashSet::new(),
            };
            tailer.run();
        })
        .map_err(start)
}

/// A file's device and inode.
type Key = (u64, u64);

fn key_of(m: &Metadata) -> Key {
    (m.dev(), m.ino())
}

/// Why the tailer stops: cancelled, or the engine's queue is gone.
struct Stop;

/// What the tailer sends through, and what it counts.
struct Out {
    rt: tokio::runtime::Runtime,
    feed: FeedSender,
    cancel: CancellationToken,
    label: Arc<str>,
    metrics: DaemonMetrics,
}

impl Out {
    /// Sends one message, waiting while the queue is full, unless cancelled first.
    fn send(&self, msg: Feed) -> Result<(), Stop> {
        self.rt.block_on(async {
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => Err(Stop),
                sent = self.feed.send(msg) => sent.map_err(|_| {
                    debug!("{}: the detection queue is closed; the tailer stops", self.label);
                    Stop
                }),
            }
        })
    }

    fn rotated(&self, kind: &str) {
        self.metrics
            .tail_rotations
            .with_label_values(&[&self.label, kind])
            .inc();
    }

    fn streams(&self) -> prometheus::IntGauge {
        self.metrics.source_streams.with_label_values(&[&self.label])
    }
}

/// What a tailed file's reader and the tailer share.
struct Shared {
    file: Rc<File>,
    /// Where the next read starts.
    pos: Cell<u64>,
    /// Reads stop here: the file's size at the last check, so a truncated file is not read
    /// past the point where it was cut, and a fast writer does not keep one file's turn going.
    limit: Cell<u64>,
    /// The head of what was read: taken from the first read at offset 0, or from the file
    /// when resuming at a checkpoint (it matched the checkpoint's).
    fingerprint: Cell<Option<Fingerprint>>,
    /// A read found the file no longer starting with `fingerprint`: truncated and written
    /// again (copytruncate) since the last check. What that read returned was dropped.
    cut: Cell<bool>,
}

/// The reader a tailed file's [`LineReader`] reads through: `pread` at our own position.
struct Window(Rc<Shared>);

impl Read for Window {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let s = &self.0;
        let room = s.limit.get().saturating_sub(s.pos.get());
        let n = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        if n == 0 || s.cut.get() {
            return Ok(0);
        }
        let pos = s.pos.get();
        let got = s.file.read_at(&mut buf[..n], pos)?;
        if pos == 0 && s.fingerprint.get().is_none() {
            // Nothing read yet gives no fingerprint (an empty one would match any file).
            if got > 0 {
                s.fingerprint.set(Some(Fingerprint::of(&buf[..got])));
            }
        } else if let Some(fp) = s.fingerprint.get() {
            // Checked after the read: if the file still starts as it did, what was read
            // belongs to it (a truncation after the read cuts nothing already read).
            if !fp.matches(&head(&s.file)?) {
                s.cut.set(true);
                return Ok(0);
            }
        }
        s.pos.set(pos + got as u64);
        Ok(got)
    }
}

/// Reads up to [`FINGERPRINT_BYTES`] from the start of `file`.
fn head(file: &File) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; FINGERPRINT_BYTES];
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    Ok(buf)
}

fn mtime(m: &Metadata) -> Timestamp {
    m.modified()
        .ok()
        .and_then(|t| Timestamp::try_from(t).ok())
        .unwrap_or_else(Timestamp::now)
}

/// One tailed file.
struct Tracked {
    /// The name it was last seen under.
    path: PathBuf,
    key: Key,
    shared: Rc<Shared>,
    reader: LineReader<Window>,
    /// Offset of the reader's first byte in the file (the checkpoint it resumed at).
    start: u64,
    stream: StreamId,
    /// `Open` was sent. A file read from its start opens its stream with its first line, so its
    /// fingerprint covers at least that line (an empty file's would match any file).
    opened: bool,
    /// When it left the glob (rotated away or deleted); it is closed once quiet for
    /// `rotate_wait`.
    gone: Option<Instant>,
    last_data: Instant,
    /// A read error was reported (once, until a read succeeds again).
    read_error: bool,
}

impl Tracked {
    /// `fingerprint`: the file's head when resuming at `start` > 0.
    fn new(
        path: PathBuf,
        key: Key,
        file: Rc<File>,
        start: u64,
        fingerprint: Option<Fingerprint>,
        max_line: usize,
    ) -> Tracked {
        let shared = Rc::new(Shared {
            file,
            pos: Cell::new(start),
            limit: Cell::new(start),
            fingerprint: Cell::new(fingerprint),
            cut: Cell::new(false),
        });
        Tracked {
            path,
            key,
            reader: LineReader::following(Window(shared.clone()), max_line),
            shared,
            start,
            stream: StreamId::next(),
            opened: false,
            gone: None,
            last_data: Instant::now(),
            read_error: false,
        }
    }

    fn open_stream(&mut self, out: &Out, source: &Arc<SourceInfo>) -> Result<(), Stop> {
        if self.opened {
            return Ok(());
        }
        // A stream is opened with its first line read, so the head of what was read is known.
        let fingerprint = self
            .shared
            .fingerprint
            .get()
            .unwrap_or_else(|| Fingerprint::of(&head(&self.shared.file).unwrap_or_default()));
        let reference_time = self
            .shared
            .file
            .metadata()
            .map(|m| mtime(&m))
            .unwrap_or_else(|_| Timestamp::now());
        out.send(Feed::Open(OpenStream {
            stream: self.stream,
            source: source.clone(),
            name: self.path.display().to_string().into(),
            start: self.start,
            file: Some(FileIdentity {
                path: self.path.clone(),
                dev: self.key.0,
                ino: self.key.1,
                fingerprint,
            }),
            reference_time,
        }))?;
        self.opened = true;
        out.streams().inc();
        Ok(())
    }

    /// Sends the complete lines read so far, at most `budget` batches; true when the budget ran
    /// out before the data did.
    fn forward(&mut self, out: &Out, source: &Arc<SourceInfo>, budget: usize) -> Result<bool, Stop> {
        let mut batch = LineBatch::new(self.stream);
        let mut sent = 0;
        loop {
            match self.reader.next() {
                Some(Ok(line)) => {
                    self.read_error = false;
                    let offset = self.start + line.offset;
                    batch.push(line.bytes, offset, offset, line.truncated);
                    batch.consumed = self.start + self.reader.consumed();
                }
                Some(Err(e)) => {
                    // The lines before the error have been handed out; the next check reads on
                    // from the same position.
                    if !self.read_error {
                        warning!(
                            "{}: cannot read {}: {e}; trying again at each check",
                            out.label,
                            self.path.display()
                        );
                        self.read_error = true;
                    }
                    break;
                }
                None => break,
            }
            if batch.is_full() {
                self.send_batch(out, source, std::mem::replace(&mut batch, LineBatch::new(self.stream)))?;
                sent += 1;
                if sent >= budget {
                    return Ok(true);
                }
            }
        }
        if !batch.is_empty() {
            self.send_batch(out, source, batch)?;
        }
        Ok(false)
    }

    fn send_batch(&mut self, out: &Out, source: &Arc<SourceInfo>, batch: LineBatch) -> Result<(), Stop> {
        self.open_stream(out, source)?;
        // Lines, bytes and the last line's time are counted by the engine, for every source.
        out.send(Feed::Lines(batch))
    }

    /// Reads the file to the end of what it holds, hands out an unfinished last line when
    /// `unfinished` (a file rotated away: nothing more will come) and closes the stream.
    fn finish(&mut self, out: &Out, source: &Arc<SourceInfo>, unfinished: bool) -> Result<(), Stop> {
        self.forward(out, source, usize::MAX)?;
        if unfinished {
            self.reader.end_of_input();
            self.forward(out, source, usize::MAX)?;
        }
        if self.opened {
            out.send(Feed::Close { stream: self.stream })?;
            self.opened = false;
            out.streams().dec();
        }
        Ok(())
    }
}

/// What a new file is, next to the files tailed.
enum Copy {
    No,
    /// A copy of a file truncated since: read from where the original had been read to.
    OfTruncated(u64),
    /// A copy of a file still tailed (copytruncate between its copy and its truncation, or a
    /// backup copy): not read while the original is read.
    OfTailed,
}

/// Files truncated lately (the last few): their full-length fingerprint and how far they had
/// been read.
#[derive(Default)]
struct Truncated(std::collections::VecDeque<(Fingerprint, u64)>);

impl Truncated {
    /// Enough for every file of a glob truncated in the same logrotate run.
    const KEEP: usize = 64;

    fn truncated(&mut self, fp: Fingerprint, read: u64) {
        if fp.len as usize != FINGERPRINT_BYTES {
            return;
        }
        if self.0.len() == Self::KEEP {
            self.0.pop_front();
        }
        self.0.push_back((fp, read));
    }

    fn find(&self, head: &[u8]) -> Option<u64> {
        self.0
            .iter()
            .rev()
            .find(|(fp, _)| fp.matches(head))
            .map(|&(_, read)| read)
    }
}

/// What the inotify thread tells the tailer.
#[derive(Default)]
struct Wake {
    notify: tokio::sync::Notify,
    /// A name changed in a watched directory (created, renamed, removed, permissions): the glob
    /// must be scanned again, not only the open files read.
    rescan: AtomicBool,
}

/// A compressed file already read whole (or skipped), remembered across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct DoneFile {
    dev: u64,
    ino: u64,
    fingerprint: Fingerprint,
}

#[derive(Serialize, Deserialize)]
struct DoneDocument {
    version: u32,
    files: Vec<DoneFile>,
}

fn load_done(path: &Path) -> Result<Vec<DoneFile>, TailError> {
    let err = |reason: String| TailError::State {
        path: path.to_owned(),
        reason,
    };
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(err(e.to_string())),
    };
    let doc: DoneDocument =
        serde_json::from_str(&text).map_err(|e| err(format!("not a list of compressed files read: {e}")))?;
    if doc.version != DONE_VERSION {
        return Err(err(format!(
            "version {} (this reconwatch writes {DONE_VERSION})",
            doc.version
        )));
    }
    Ok(doc.files)
}

struct Tailer {
    settings: TailSettings,
    out: Out,
    /// Checkpoints not yet matched with a file.
    resume: HashMap<Key, FileCheckpoint>,
    done: Vec<DoneFile>,
    done_path: PathBuf,
    tracked: HashMap<Key, Tracked>,
    /// Compressed files ignored (said once) or already read.
    skipped: HashSet<Key>,
    /// The files the last scan found.
    seen: HashSet<Key>,
    /// Compressed files to read once their size and time stop changing (a compressor may still
    /// be writing them): what they were when first seen.
    compressed_waiting: HashMap<Key, (u64, Timestamp, Instant)>,
    /// Problems already reported, by path: a file that stays unreadable is named once.
    reported: HashMap<PathBuf, String>,
    copied: Truncated,
    wake: Arc<Wake>,
    watcher: Option<notify::RecommendedWatcher>,
    watched: HashSet<PathBuf>,
}

impl Tailer {
    fn run(&mut self) {
        self.start_watcher();
        let _ = self.work();
        // On shutdown the streams stay open for the engine (no `Close`: checkpoints stay).
        let open = self.tracked.values().filter(|t| t.opened).count();
        self.out.streams().sub(open as i64);
    }

    fn work(&mut self) -> Result<(), Stop> {
        let mut more = self.check(true)?;
        self.resume_rotated()?;
        let mut next_poll = Instant::now() + self.settings.poll_interval;
        loop {
            if more {
                if self.out.cancel.is_cancelled() {
                    return Err(Stop);
                }
            } else {
                let wake = self.wake.clone();
                let deadline = tokio::time::Instant::from_std(next_poll);
                let cancelled = self.out.rt.block_on(async {
                    tokio::select! {
                        biased;
                        _ = self.out.cancel.cancelled() => true,
                        _ = wake.notify.notified() => false,
                        _ = tokio::time::sleep_until(deadline) => false,
                    }
                });
                if cancelled {
                    return Err(Stop);
                }
            }
            let now = Instant::now();
            let poll = now >= next_poll;
            if poll {
                next_poll = now + self.settings.poll_interval;
            }
            let rescan = self.wake.rescan.swap(false, Ordering::Relaxed);
            more = self.check(poll || rescan)?;
        }
    }

    fn start_watcher(&mut self) {
        let wake = self.wake.clone();
        let handler = move |event: notify::Result<notify::Event>| {
            use notify::EventKind;
            use notify::event::ModifyKind;
            match event {
                // Opens and closes (our own reads among them) change nothing.
                Ok(e) if matches!(e.kind, EventKind::Access(_)) => return,
                Ok(e) if matches!(e.kind, EventKind::Modify(ModifyKind::Data(_))) => {}
                _ => wake.rescan.store(true, Ordering::Relaxed),
            }
            wake.notify.notify_one();
        };
        match notify::recommended_watcher(handler) {
            Ok(w) => self.watcher = Some(w),
            Err(e) => warning!(
                "{}: cannot watch for file events ({e}); checking {} every {:?} instead",
                self.out.label,
                self.settings.pattern,
                self.settings.poll_interval
            ),
        }
        self.watch(&literal_dir(&self.settings.pattern));
    }

    /// Watches `dir` for file events (once; a directory that does not exist yet is tried again
    /// at the next scan).
    fn watch(&mut self, dir: &Path) {
        let Some(watcher) = &mut self.watcher else { return };
        if self.watched.contains(dir) {
            return;
        }
        use notify::Watcher;
        match watcher.watch(dir, notify::RecursiveMode::NonRecursive) {
            Ok(()) => {
                self.watched.insert(dir.to_owned());
            }
            Err(e) if matches!(e.kind, notify::ErrorKind::PathNotFound) => {}
            Err(e) => {
                // Most often the inotify watch limit (fs.inotify.max_user_watches).
                warning!(
                    "{}: cannot watch {} for file events ({e}); it is checked every {:?} instead",
                    self.out.label,
                    dir.display(),
                    self.settings.poll_interval
                );
                self.watched.insert(dir.to_owned());
            }
        }
    }

    /// Reports a problem with `path` once (again only after it went away and came back).
    fn report(&mut self, path: &Path, reason: String, problems: &mut HashSet<PathBuf>) {
        problems.insert(path.to_owned());
        if self.reported.get(path) != Some(&reason) {
            warning!("{}: {}: {reason}", self.out.label, path.display());
            self.reported.insert(path.to_owned(), reason);
        }
    }

    /// One round: scans the glob when `scan` (new files, rotations), then reads every open file.
    /// True when a file has more to read than its turn allowed.
    fn check(&mut self, scan: bool) -> Result<bool, Stop> {
        if scan {
            self.scan()?;
        }
        let mut more = false;
        let keys: Vec<Key> = self.tracked.keys().copied().collect();
        for key in keys {
            more |= self.pump(key)?;
        }
        Ok(more)
    }

    /// Lists the glob: starts new files, notices files that left it.
    fn scan(&mut self) -> Result<(), Stop> {
        let mut seen: HashMap<Key, PathBuf> = HashMap::new();
        let mut problems = HashSet::new();
        let entries = match glob::glob(&self.settings.pattern) {
            Ok(entries) => entries,
            // Checked by `spawn`.
            Err(_) => return Ok(()),
        };
        for entry in entries {
            let path = match entry {
                Ok(path) => path,
                Err(e) => {
                    let path = e.path().to_owned();
                    self.report(&path, format!("cannot be listed: {}", e.error()), &mut problems);
                    continue;
                }
            };
            let meta = match fs::metadata(&path) {
                Ok(m) => m,
                // Renamed or removed between the listing and now: the next scan sees it.
                Err(e) if e.kind() == io::ErrorKind::NotFound && !path.is_symlink() => continue,
                Err(e) => {
                    self.report(&path, format!("cannot be read: {e}; trying again"), &mut problems);
                    continue;
                }
            };
            if !meta.is_file() {
                let what = super::file_kind(&meta.file_type());
                self.report(&path, format!("{what}, not a regular file: not tailed"), &mut problems);
                continue;
            }
            let key = key_of(&meta);
            if seen.contains_key(&key) {
                continue; // another name (a link) of a file already seen
            }
            seen.insert(key, path.clone());
            if let Some(dir) = path.parent() {
                self.watch(dir);
            }
            if let Some(t) = self.tracked.get_mut(&key) {
                if t.path != path {
                    info!(
                        "{}: {} was renamed to {}; it is still tailed (the glob matches the new name)",
                        self.out.label,
                        t.path.display(),
                        path.display()
                    );
                    self.out.rotated("rename");
                    t.path = path;
                }
                t.gone = None;
                continue;
            }
            if self.skipped.contains(&key) {
                continue;
            }
            self.discover(path, key, &meta, &mut problems)?;
        }
        // Compressed files and problems of names that are gone are forgotten, so a new file
        // under the name is judged afresh.
        self.skipped.retain(|k| seen.contains_key(k));
        self.done.retain(|d| seen.contains_key(&(d.dev, d.ino)));
        self.compressed_waiting.retain(|k, _| seen.contains_key(k));
        self.reported.retain(|p, _| problems.contains(p));
        self.seen = seen.keys().copied().collect();

        let now = Instant::now();
        for t in self.tracked.values_mut() {
            if seen.contains_key(&t.key) || t.gone.is_some() {
                continue;
            }
            t.gone = Some(now);
            t.last_data = now;
            let removed = t.shared.file.metadata().map(|m| m.nlink() == 0).unwrap_or(false);
            if removed {
                info!(
                    "{}: {} was deleted while tailed; reading what is left of it, then closing it",
                    self.out.label,
                    t.path.display()
                );
                self.out.rotated("removed");
            } else {
                let now_named = t
                    .path
                    .parent()
                    .and_then(|d| find_in_dir(d, t.key))
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "a name outside its directory".into());
                info!(
                    "{}: {} was rotated (renamed to {now_named}); reading it to its end, then following the new {}",
                    self.out.label,
                    t.path.display(),
                    t.path.display()
                );
                self.out.rotated("rename");
            }
        }
        Ok(())
    }

    /// A file the glob matches for the first time.
    fn discover(
        &mut self,
        path: PathBuf,
        key: Key,
        meta: &Metadata,
        problems: &mut HashSet<PathBuf>,
    ) -> Result<(), Stop> {
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                let reason = format!(
                    "cannot be opened: {e}; trying again every {:?}",
                    self.settings.poll_interval
                );
                self.report(&path, reason, problems);
                return Ok(());
            }
        };
        // The name may have been replaced between the listing and the open.
        match file.metadata() {
            Ok(m) if key_of(&m) == key && m.is_file() => {}
            _ => return Ok(()),
        }
        let head = match head(&file) {
            Ok(h) => h,
            Err(e) => {
                self.report(&path, format!("cannot be read: {e}; trying again"), problems);
                return Ok(());
            }
        };
        let compression = Compression::sniff(&head);
        if compression != Compression::None {
            return self.compressed(path, key, meta, compression, &head);
        }
        let start = match self.resume.remove(&key) {
            Some(cp) => self.resume_at(&cp, &path, &head, meta.len()),
            // Whether it is a copy of a tailed file is decided when it is first read (a copy
            // being made is empty at first).
            None => 0,
        };
        self.track(path, key, Rc::new(file), start, &head)
    }

    /// Whether a new file is a copy of a tailed file (its first [`FINGERPRINT_BYTES`] are the
    /// same): copytruncate copies a log, then truncates it. Reading the copy from its start
    /// would repeat every line already read from the original.
    fn copy_of(&self, head: &[u8]) -> Copy {
        if head.len() < FINGERPRINT_BYTES {
            return Copy::No;
        }
        if let Some(offset) = self.copied.find(head) {
            return Copy::OfTruncated(offset);
        }
        let full = |fp: Option<Fingerprint>| fp.is_some_and(|f| f.len as usize == FINGERPRINT_BYTES && f.matches(head));
        if self.tracked.values().any(|t| full(t.shared.fingerprint.get())) {
            return Copy::OfTailed;
        }
        Copy::No
    }

    /// Before a file found new is first read: whether it is a copy of a tailed file
    /// (copytruncate). A copy of a file truncated since is moved on to where its original had
    /// been read to; a copy of a file still tailed waits (false).
    fn first_read_allowed(&mut self, key: Key) -> Result<bool, Stop> {
        let Some(t) = self.tracked.get(&key) else {
            return Ok(true);
        };
        if t.start > 0 || t.opened || t.shared.pos.get() > 0 {
            return Ok(true);
        }
        let Ok(head) = head(&t.shared.file) else {
            return Ok(true);
        };
        match self.copy_of(&head) {
            Copy::No => Ok(true),
            Copy::OfTailed => Ok(false),
            Copy::OfTruncated(offset) => {
                let size = t.shared.file.metadata().map(|m| m.len()).unwrap_or(0);
                let offset = offset.min(size);
                info!(
                    "{}: {} is a copy of a file truncated after {offset} bytes had been read (copytruncate): reading the copy from there",
                    self.out.label,
                    t.path.display()
                );
                let (path, file) = (t.path.clone(), t.shared.file.clone());
                self.track(path, key, file, offset, &head)?;
                Ok(true)
            }
        }
    }

    /// Where a file that has a checkpoint resumes.
    fn resume_at(&mut self, cp: &FileCheckpoint, path: &Path, head: &[u8], size: u64) -> u64 {
        if !cp.fingerprint.matches(head) {
            info!(
                "{}: {} is a new file under a reused inode (its first bytes differ from the checkpoint's); reading it from the start",
                self.out.label,
                path.display()
            );
            return 0;
        }
        if cp.offset > size {
            info!(
                "{}: {} is shorter ({size} bytes) than its checkpoint ({}): it was truncated while reconwatch was stopped; reading it from the start",
                self.out.label,
                path.display(),
                cp.offset
            );
            self.out.rotated("truncate");
            self.copied.truncated(cp.fingerprint, cp.offset);
            return 0;
        }
        cp.offset
    }

    /// Tails `file` from `start`; `head` is its head now.
    fn track(&mut self, path: PathBuf, key: Key, file: Rc<File>, start: u64, head: &[u8]) -> Result<(), Stop> {
        let resumed = (start > 0).then(|| Fingerprint::of(head));
        let mut t = Tracked::new(path, key, file, start, resumed, self.settings.max_line);
        if start > 0 {
            // A resumed file opens its stream now, so its checkpoint is kept even when no new
            // line comes.
            t.open_stream(&self.out, &self.settings.source)?;
        }
        self.tracked.insert(key, t);
        Ok(())
    }

    /// Checkpoints whose file the first scan did not find: a rotation while reconwatch was
    /// stopped. The file is looked for by inode in its directory and read from the checkpoint to
    /// its end.
    fn resume_rotated(&mut self) -> Result<(), Stop> {
        // Files the scan found but could not open yet keep their checkpoint for later.
        let left: Vec<Key> = self.resume.keys().filter(|k| !self.seen.contains(k)).copied().collect();
        for key in left {
            let Some(cp) = self.resume.remove(&key) else { continue };
            let found = cp.path.parent().and_then(|d| find_in_dir(d, key));
            let opened = found.as_ref().map(|p| (p, File::open(p)));
            let (path, file) = match opened {
                Some((p, Ok(f))) => (p.clone(), f),
                Some((p, Err(e))) => {
                    warning!(
                        "{}: {} (rotated from {} while reconwatch was stopped) cannot be opened: {e}; lines after offset {} of it are not read",
                        self.out.label,
                        p.display(),
                        cp.path.display(),
                        cp.offset
                    );
                    continue;
                }
                None => {
                    warning!(
                        "{}: {} (checkpointed at offset {}) is gone and no file in its directory has its inode: lines written to it after that offset, if any, were not read",
                        self.out.label,
                        cp.path.display(),
                        cp.offset
                    );
                    continue;
                }
            };
            let Ok(meta) = file.metadata() else { continue };
            let head = head(&file).unwrap_or_default();
            if !meta.is_file() || !cp.fingerprint.matches(&head) {
                info!(
                    "{}: {} has {}'s inode but not its first bytes: another file; nothing to resume",
                    self.out.label,
                    path.display(),
                    cp.path.display()
                );
                continue;
            }
            info!(
                "{}: {} was rotated to {} while reconwatch was stopped; reading it from offset {} to its end",
                self.out.label,
                cp.path.display(),
                path.display(),
                cp.offset
            );
            let start = self.resume_at(&cp, &path, &head, meta.len());
            self.track(path, key, Rc::new(file), start, &head)?;
            if let Some(t) = self.tracked.get_mut(&key) {
                t.gone = Some(Instant::now());
            }
        }
        Ok(())
    }

    /// Reads one tailed file's new lines; closes it when it was rotated away and has been quiet
    /// for `rotate_wait`; restarts it when it was truncated. True when it has more to read.
    fn pump(&mut self, key: Key) -> Result<bool, Stop> {
        if !self.first_read_allowed(key)? {
            return Ok(false);
        }
        let Some(t) = self.tracked.get_mut(&key) else {
            return Ok(false);
        };
        let source = &self.settings.source;
        let shared = t.shared.clone();
        let size = match shared.file.metadata() {
            Ok(m) => m.len(),
            Err(_) => shared.limit.get(),
        };
        let read = shared.pos.get();
        let mut rewritten = shared.cut.get();
        if let Some(fp) = shared.fingerprint.get()
            && !rewritten
            && size >= read
            && let Ok(h) = head(&shared.file)
        {
            rewritten = !fp.matches(&h);
            if !rewritten && h.len() > fp.len as usize {
                // Grown to its full length (in memory only: the checkpoint keeps the fingerprint
                // the stream was opened with), so that a copy of the file is recognised.
                shared.fingerprint.set(Some(Fingerprint::of(&h)));
            }
        }
        if size < read || rewritten {
            info!(
                "{}: {} was truncated ({read} bytes had been read, it now has {size}{}; copytruncate?): reading it again from the start as a new stream",
                self.out.label,
                t.path.display(),
                if rewritten { " and starts with other bytes" } else { "" }
            );
            self.out.rotated("truncate");
            // Nothing of the new content is taken for the old stream.
            shared.limit.set(read);
            // An unfinished last line is not handed out: its end went with the truncation (into
            // copytruncate's copy, which is read from that line's start when tailed).
            t.finish(&self.out, source, false)?;
            let consumed = t.start + t.reader.consumed();
            if read > consumed {
                info!(
                    "{}: {}: the {} bytes of a line being written when it was truncated are dropped with it",
                    self.out.label,
                    t.path.display(),
                    read - consumed
                );
            }
            if let Some(fp) = shared.fingerprint.get() {
                self.copied.truncated(fp, consumed);
            }
            // copytruncate's copy may be in the glob: look at it now that its original is cut.
            self.wake.rescan.store(true, Ordering::Relaxed);
            let fresh = Tracked::new(
                t.path.clone(),
                key,
                shared.file.clone(),
                0,
                None,
                self.settings.max_line,
            );
            self.tracked.insert(key, fresh);
            return Ok(true);
        }
        if size > read {
            t.last_data = Instant::now();
        }
        shared.limit.set(size);
        if let Some(gone) = t.gone
            && size == read
            && t.last_data.max(gone).elapsed() >= self.settings.rotate_wait
        {
            t.finish(&self.out, source, true)?;
            debug!(
                "{}: closed {} (rotated away, read to its end)",
                self.out.label,
                t.path.display()
            );
            self.tracked.remove(&key);
            return Ok(false);
        }
        // A read that found the file cut: handled by the next turn, at once.
        Ok(t.forward(&self.out, source, BATCHES_PER_TURN)? || shared.cut.get())
    }

    /// A compressed file the glob matches.
    fn compressed(
        &mut self,
        path: PathBuf,
        key: Key,
        meta: &Metadata,
        kind: Compression,
        head: &[u8],
    ) -> Result<(), Stop> {
        let id = DoneFile {
            dev: key.0,
            ino: key.1,
            fingerprint: Fingerprint::of(head),
        };
        if self.settings.compressed == CompressedPolicy::Ignore {
            info!(
                "{}: {} is compressed ({}): not read (set `compressed: read` on the source to read rotated, compressed logs once)",
                self.out.label,
                path.display(),
                kind.name()
            );
            self.skipped.insert(key);
            return Ok(());
        }
        if self.done.contains(&id) {
            self.skipped.insert(key);
            return Ok(());
        }
        // Read it only once a compressor has finished writing it: same size and time as one
        // poll earlier.
        let now = (meta.len(), mtime(meta), Instant::now());
        match self.compressed_waiting.get(&key) {
            Some(&(size, time, since))
                if size == now.0 && time == now.1 && since.elapsed() >= self.settings.poll_interval => {}
            Some(&(size, time, _)) if size == now.0 && time == now.1 => return Ok(()),
            _ => {
                self.compressed_waiting.insert(key, now);
                return Ok(());
            }
        }
        self.compressed_waiting.remove(&key);
        self.read_compressed(&path, meta)?;
        self.done.push(id);
        self.skipped.insert(key);
        self.save_done();
        Ok(())
    }

    /// Reads a compressed file whole as one stream.
    fn read_compressed(&mut self, path: &Path, meta: &Metadata) -> Result<(), Stop> {
        info!("{}: reading compressed {} once, whole", self.out.label, path.display());
        let stream = StreamId::next();
        let mut opened = match Input::file(path.to_owned()).open() {
            Ok(o) => o,
            Err(e) => {
                warning!("{}: {e}; the compressed file is skipped", self.out.label);
                return Ok(());
            }
        };
        let source = &self.settings.source;
        self.out.send(Feed::Open(OpenStream {
            stream,
            source: source.clone(),
            name: path.display().to_string().into(),
            start: 0,
            // Offsets are in the decompressed stream; the file is remembered as read instead of
            // checkpointed.
            file: None,
            reference_time: mtime(meta),
        }))?;
        self.out.streams().inc();
        let result = (|| {
            let mut reader = LineReader::with_max_line(&mut opened.reader, self.settings.max_line);
            let mut batch = LineBatch::new(stream);
            loop {
                match reader.next() {
                    Some(Ok(line)) => {
                        batch.push(line.bytes, line.offset, line.offset, line.truncated);
                        batch.consumed = reader.consumed();
                    }
                    Some(Err(e)) => {
                        warning!(
                            "{}: {}: {e}; the lines before it were read, the rest of the file is skipped",
                            self.out.label,
                            path.display()
                        );
                        break;
                    }
                    None => break,
                }
                if batch.is_full() {
                    self.out
                        .send(Feed::Lines(std::mem::replace(&mut batch, LineBatch::new(stream))))?;
                }
            }
            if !batch.is_empty() {
                self.out.send(Feed::Lines(batch))?;
            }
            self.out.send(Feed::Close { stream })
        })();
        self.out.streams().dec();
        result
    }

    /// Writes the compressed files read (only those the glob still matched at the last scan:
    /// the list does not grow with every rotation).
    fn save_done(&mut self) {
        let doc = DoneDocument {
            version: DONE_VERSION,
            files: self.done.clone(),
        };
        let json = serde_json::to_vec_pretty(&doc).expect("the list serializes");
        if let Err(e) = write_atomically(&self.done_path, &json) {
            warning!(
                "{}: cannot record the compressed files read in {}: {e}; after a restart they are read again",
                self.out.label,
                self.done_path.display()
            );
        }
    }
}

/// The directory of a glob below which nothing is a pattern: where new files appear.
fn literal_dir(pattern: &str) -> PathBuf {
    let parts: Vec<_> = Path::new(pattern).components().collect();
    let mut dir = PathBuf::new();
    for c in &parts[..parts.len().saturating_sub(1)] {
        if c.as_os_str().to_string_lossy().contains(['*', '?', '[']) {
            break;
        }
        dir.push(c);
    }
    if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    }
}

/// The entry of `dir` that is the file `key` (a rotated log under its new name).
fn find_in_dir(dir: &Path, key: Key) -> Option<PathBuf> {
    fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .find(|e| e.metadata().is_ok_and(|m| key_of(&m) == key))
        .map(|e| e.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(t: &mut Tracked) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        while let Some(l) = t.reader.next() {
            let l = l.unwrap();
            out.push((String::from_utf8_lossy(l.bytes).into_owned(), t.start + l.offset));
        }
        out
    }

    #[test]
    fn a_window_never_reads_past_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        fs::write(&path, b"one\ntwo\nthree\n").unwrap();
        let file = Rc::new(File::open(&path).unwrap());
        let fp = Fingerprint::of(b"one\ntwo\nthree\n");
        let mut t = Tracked::new(path, (0, 0), file, 4, Some(fp), 100);
        t.shared.limit.set(8);
        assert_eq!(lines(&mut t), [("two".to_owned(), 4)]);
        assert_eq!(t.shared.pos.get(), 8);
        t.shared.limit.set(14);
        assert_eq!(lines(&mut t), [("three".to_owned(), 8)]);
    }

    #[test]
    fn a_read_from_a_file_cut_and_written_again_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        fs::write(&path, b"one\n").unwrap();
        let file = Rc::new(File::open(&path).unwrap());
        let mut t = Tracked::new(path.clone(), (0, 0), file, 0, None, 100);
        t.shared.limit.set(4);
        assert_eq!(lines(&mut t), [("one".to_owned(), 0)]);
        assert_eq!(t.shared.fingerprint.get(), Some(Fingerprint::of(b"one\n")));
        // copytruncate, and the writer goes on past where the tailer was.
        fs::write(&path, b"new\nlines\n").unwrap();
        t.shared.limit.set(10);
        assert_eq!(lines(&mut t), []);
        assert!(t.shared.cut.get());
        assert_eq!(t.shared.pos.get(), 4, "nothing of the new content was taken");
    }

    #[test]
    fn the_watched_directory_is_the_glob_s_literal_part() {
        assert_eq!(literal_dir("/var/log/squid/access.log*"), Path::new("/var/log/squid"));
        assert_eq!(literal_dir("/var/log/squid/access.log"), Path::new("/var/log/squid"));
        assert_eq!(literal_dir("/var/log/*/access.log"), Path::new("/var/log"));
        assert_eq!(literal_dir("access.log"), Path::new("."));
    }

    #[test]
    fn a_damaged_list_of_compressed_files_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("done.json");
        assert!(load_done(&path).unwrap().is_empty());
        fs::write(&path, "{\"version\": 7, \"files\": []}").unwrap();
        let e = load_done(&path).unwrap_err().to_string();
        assert!(e.contains("done.json") && e.contains("version 7"), "{e}");
    }
}
