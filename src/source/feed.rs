//! What sources hand the engine: the one contract between the tailer, the syslog listeners and
//! detection.
//!
//! A source (a tailed file, a TCP connection, a UDP listener) is a *stream*: it is opened with
//! [`Feed::Open`], sends complete lines in [`LineBatch`]es, in order, and ends with
//! [`Feed::Close`] (a file rotated away and drained, a connection closed). Streams belong to a
//! configured *source* ([`SourceInfo`]): its name labels metrics and its [`SourceId`] is the
//! unit of the correlation watermark. Everything travels through one bounded channel
//! ([`FeedSender`]); a source that cannot send waits, and so stops reading its file or socket:
//! that is the backpressure.
//!
//! A batch carries complete lines only (a tailed file's half-written last line stays with the
//! tailer until its newline arrives or the file is closed), at most [`MAX_BATCH_BYTES`] of them,
//! each with its offset in the stream, so the engine can say up to where a file has been fully
//! processed: [`LineBatch::consumed`] is the offset just after the batch's last line.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use jiff::Timestamp;

use crate::correlate::SourceId;
use crate::parse::Format;

/// Bytes of line data in one batch at most (a source cuts a batch there).
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// One stream of lines: a tailed file (a file after rotation is a new stream), a TCP
/// connection, a UDP listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u64);

impl StreamId {
    /// A process-wide unique id.
    pub fn next() -> StreamId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        StreamId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// A configured source (one `sources:` entry or flag), shared by its streams.
#[derive(Debug)]
pub struct SourceInfo {
    /// Stable across restarts (derived from the label), so restored correlation state keeps
    /// each source's newest event time.
    pub id: SourceId,
    /// `tail:GLOB`, `syslog_udp:ADDR`, ...: the `source` label of metrics and the name in logs.
    pub label: Arc<str>,
    /// The configured format; `None` detects it per stream from its first lines.
    pub format: Option<Format>,
}

impl SourceInfo {
    pub fn new(label: &str, format: Option<Format>) -> SourceInfo {
        SourceInfo {
            id: SourceId(fnv1a(label.as_bytes())),
            label: label.into(),
            format,
        }
    }
}

/// FNV-1a, 64 bits: a hash that stays the same across builds and platforms (for ids and
/// fingerprints written to disk).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Bytes of a file's head its fingerprint covers (fewer while the file is shorter).
pub const FINGERPRINT_BYTES: usize = 1024;

/// A hash of a file's first `len` bytes (`len` ≤ [`FINGERPRINT_BYTES`]): with device and inode,
/// it tells a file from a new one that reuses the inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fingerprint {
    pub len: u32,
    pub hash: u64,
}

impl Fingerprint {
    /// The fingerprint of `head` (a file's first bytes, at most [`FINGERPRINT_BYTES`] used).
    pub fn of(head: &[u8]) -> Fingerprint {
        let head = &head[..head.len().min(FINGERPRINT_BYTES)];
        Fingerprint {
            len: head.len() as u32,
            hash: fnv1a(head),
        }
    }

    /// Reads the head of a file (the caller passes a handle positioned at its start).
    pub fn read(file: &mut impl std::io::Read) -> std::io::Result<Fingerprint> {
        use std::io::Read;
        let mut head = Vec::with_capacity(FINGERPRINT_BYTES);
        file.take(FINGERPRINT_BYTES as u64).read_to_end(&mut head)?;
        Ok(Fingerprint::of(&head))
    }

    /// Whether a file whose head is `head` can be the file this fingerprint was taken of (it
    /// may have grown since: only the first `self.len` bytes are compared).
    pub fn matches(&self, head: &[u8]) -> bool {
        let n = self.len as usize;
        head.len() >= n && fnv1a(&head[..n]) == self.hash
    }
}

/// A tailed file's identity, for its checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIdentity {
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    pub fingerprint: Fingerprint,
}

/// A stream begins.
#[derive(Debug)]
pub struct OpenStream {
    pub stream: StreamId,
    pub source: Arc<SourceInfo>,
    /// What events name as `log.file.path`: the file's path, or for a socket the listener and
    /// peer (`syslog_tcp:0.0.0.0:6514 from 10.1.2.3:50112`).
    pub name: Arc<str>,
    /// Offset in the file of the stream's first byte (a resumed file starts at its checkpoint);
    /// 0 for sockets. Batch offsets are absolute, like `log.offset`.
    pub start: u64,
    /// A tailed file's identity; `None` for sockets (nothing to checkpoint).
    pub file: Option<FileIdentity>,
    /// Dates RFC 3164 lines, which carry no year: the file's modification time, or now.
    pub reference_time: Timestamp,
}

/// One line inside a [`LineBatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRef {
    /// The line's bytes are `data[start..end]`, without the line ending.
    pub start: u32,
    pub end: u32,
    /// The line's offset in the stream (absolute in the file).
    pub offset: u64,
    /// The line was longer than the cap and has been cut.
    pub truncated: bool,
}

/// Complete lines of one stream, in order.
#[derive(Debug)]
pub struct LineBatch {
    pub stream: StreamId,
    pub data: Vec<u8>,
    pub lines: Vec<LineRef>,
    /// The stream offset just after the last line (what is fully consumed once the batch is
    /// processed: a file's checkpoint).
    pub consumed: u64,
    /// When the source read the batch's first bytes (ingest latency).
    pub received: Instant,
}

impl LineBatch {
    pub fn new(stream: StreamId) -> LineBatch {
        LineBatch {
            stream,
            data: Vec::new(),
            lines: Vec::new(),
            consumed: 0,
            received: Instant::now(),
        }
    }

    /// Appends one line (without its ending) that starts at stream offset `offset`; `next` is
    /// the offset just after it (its ending included).
    pub fn push(&mut self, bytes: &[u8], offset: u64, next: u64, truncated: bool) {
        if self.lines.is_empty() {
            self.received = Instant::now();
        }
        let start = self.data.len() as u32;
        self.data.extend_from_slice(bytes);
        self.lines.push(LineRef {
            start,
            end: self.data.len() as u32,
            offset,
            truncated,
        });
        self.consumed = next;
    }

    /// The batch is full: send it before pushing more.
    pub fn is_full(&self) -> bool {
        self.data.len() >= MAX_BATCH_BYTES
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The bytes of line `i`.
    pub fn line(&self, i: usize) -> &[u8] {
        let l = &self.lines[i];
        &self.data[l.start as usize..l.end as usize]
    }
}

/// A message from a source to the engine.
#[derive(Debug)]
pub enum Feed {
    Open(OpenStream),
    Lines(LineBatch),
    /// The stream has ended: multi-line mail it holds is emitted, a file's checkpoint is dropped
    /// (it was read to its end).
    Close {
        stream: StreamId,
    },
}

/// The sending side of the engine's bounded queue. Sending waits while the queue is full.
pub type FeedSender = tokio::sync::mpsc::Sender<Feed>;
/// The engine's side.
pub type FeedReceiver = tokio::sync::mpsc::Receiver<Feed>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_records_lines_and_where_it_ends() {
        let mut b = LineBatch::new(StreamId(1));
        b.push(b"first", 100, 106, false);
        b.push(b"second", 106, 114, false);
        assert_eq!(b.line(0), b"first");
        assert_eq!(b.line(1), b"second");
        assert_eq!(b.consumed, 114);
        assert!(!b.is_full());
    }

    #[test]
    fn source_ids_are_stable() {
        // Written to disk in correlation state: must never change between builds.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(SourceInfo::new("tail:x", None).id, SourceInfo::new("tail:x", None).id);
    }
}
