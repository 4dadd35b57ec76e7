//! Batch runs on every core: inputs read in parallel, large files split into chunks, and results
//! handed back in a fixed order (the inputs' order, or their event-time order), so that output
//! and statistics are those of a single-threaded run.
//!
//! [`run_batch`] plans the work as [`Unit`]s: a whole input, or one chunk of a split file. A
//! file is split only when its chunks can give what one run gives: it is a regular file, larger
//! than the chunk size, not compressed, and either read by a parser that keeps no state between
//! lines ([`FormatInfo::line_independent`](crate::parse::FormatInfo::line_independent)) and not
//! syslog-framed, or a mail log whose messages are assembled by queue id (Postfix, Exim,
//! Sendmail; below). Chunks start on line starts; each reads with the format decided on the
//! file's first lines, reports absolute `log.offset`s, and primes its parser with the lines just
//! before it ([`RunOptions::warmup`]). A file is cut into several chunks per thread where it can,
//! so that the threads finish together.
//!
//! A split mail log: chunk k *owns* the messages whose first line lies in its byte range
//! ([`ParseContext::owned`](crate::parse::ParseContext::owned)), and it alone emits and counts
//! them. It learns which queue ids are already open at its start (the previous chunks' messages)
//! by replaying, uncounted, a look-behind of at least two mail timeouts of event time before its
//! start; later lines of those ids fold into them and are discarded with them. At its end it
//! reads on ([`RunOptions::read_on`]), uncounted, folding lines as one run would, until each
//! message it owns has completed or timed out, so a message that straddles a seam is emitted
//! whole, by the chunk it opened in. Every line is counted by the chunk whose range holds it,
//! whatever message it belongs to (connect and disconnect lines without an id, `NOQUEUE`
//! rejects and errors included), so lines, events, errors and their examples, and the assembly
//! counts add up to one run's. The look-behind is found by sampling event times at doubling
//! steps back; a chunk whose first lines carry no time replays from the file's start (exact, only
//! slower). This design was chosen over hash partitions by queue id after one framing pass: it
//! fits the chunk units as they are (each with its own sink, order and statistics), keeps the
//! parser's state one run's (expiry is driven by every line's time, not by a partition's own),
//! and needs no single reader that every partition waits for; in exchange it does not spread a
//! compressed maillog over several cores (it is read whole, on one).
//!
//! What a split mail log guarantees, against one run of the same file: the same events (each
//! byte for byte: the same lines, `log.offset`, fields) and the same statistics, provided (1) a
//! message's lines are never more than the mail timeout of event time behind the lines around
//! them in the file (a syslog file's lines are in time order, give or take a few seconds), so
//! that a message open at a chunk's start opened within the look-behind's first timeout; (2) no
//! queue id keeps logging lines without completing for longer than the look-behind (a message
//! the replay opens from the later lines of an older message times out within it: the second
//! timeout is its margin); (3) the cap on messages assembled at once is never reached (an
//! eviction depends on the messages of the other chunks, which a chunk does not hold in full).
//! Alerts and events come in unit order: within a chunk in one run's order, but a message a chunk
//! completes past its end comes before the next chunk's messages, where one run would have
//! interleaved them; compare them sorted. For correlation this order can only help: every
//! message a chunk owns is older (by its first line's time) than any the next chunk owns, so no
//! event becomes late that one run correlates (it may correlate a message completed past a seam
//! that one run, having seen newer events first, counted late by more than `--lateness`).
//!
//! Units run on `threads` scoped threads that take them from a shared counter in order. Each
//! unit has its own sink; when it finishes, the sink and the unit's statistics go to the calling
//! thread, which hands them to `on_done` strictly in unit order (a reorder buffer) and merges the
//! chunks of each input into one [`InputStats`] exactly as one run would have counted them.
//!
//! Memory stays bounded: a thread does not start a unit more than [`BatchConfig::window`] units
//! ahead of the oldest unfinished one, and [`UnitOutput`] (an ordered output buffer for sinks that
//! write) writes through as soon as its unit's turn has come and otherwise waits for it once it
//! holds its limit. An input that fails is reported in its statistics and never stops the others;
//! a sink error stops the batch (the units after it stop at their next tick) and is returned.
//!
//! With [`BatchConfig::time_order`], the inputs are handed on in event-time order instead of
//! argument order, so that a day given as one file or as 24 hourly files in any order is
//! processed in the same time order (correlation needs it). Planning then reads each input's
//! first lines ([`pipeline::first_event_time`]: the detection sample, decompressed; never
//! standard input) and orders the inputs by (first event time, inputs without one first; name;
//! argument index), which does not depend on the order of the arguments. All chunks of an input
//! still follow each other. Each [`Unit`] carries its input's first time and
//! [`Unit::later_start`], the earliest first time of the inputs planned after it: a watermark
//! before which no later input starts. [`run_batch`] still returns statistics in argument order.
//! Without it, nothing is read ahead and units follow argument order.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};

use jiff::Timestamp;

use crate::parse::Format;
use crate::parse::detect::Framing;
use crate::pipeline::{
    self, Decided, EventSink, InputFailure, InputStats, PipelineConfig, ReadOn, RunOptions, Tick, Warmup, run_opened,
    run_stream,
};
use crate::progress::Progress;
use crate::source::{Compression, Input};

/// Default chunk size: large enough that per-chunk costs (an open, a seek, the warm-up lines)
/// vanish, small enough that a few hundred MB keep every core busy.
pub const DEFAULT_CHUNK_BYTES: u64 = 64 << 20;

/// Chunks per thread a split file is cut into at least, so that the threads finish together
/// (a file in a few large chunks leaves threads idle while the last one is read)...
const CHUNKS_PER_THREAD: u64 = 4;

/// ...as long as chunks stay at least this large (per-chunk costs stay negligible).
const MIN_BALANCED_CHUNK: u64 = 4 << 20;

/// Bytes before a chunk whose complete lines prime its parser (a few dozen lines).
const WARMUP_BYTES: u64 = 16 << 10;

/// Read size when looking for the newline that ends a chunk, and when sampling event times.
const SCAN_BYTES: usize = 64 << 10;

/// A chunk of a mail log replays at least this many mail timeouts of event time before its
/// start: one covers every message still open at its start that has a time (older ones have
/// timed out), the second lets the messages that the replay wrongly opens from the later lines
/// of older messages time out as well (see the module documentation).
const LOOK_BEHIND_TIMEOUTS: i32 = 2;

/// The first step back when looking for the look-behind's start; it doubles at each step. (Small
/// in tests, so that their logs of a few hundred KB exercise the search.)
const LOOK_BEHIND_STEP: u64 = if cfg!(test) { 4 << 10 } else { 256 << 10 };

/// How a batch runs.
#[derive(Debug, Clone)]
pub struct BatchConfig {
    /// Worker threads; 0 means one per available core. With 1, units run on the calling thread
    /// and no file is split.
    pub threads: usize,
    /// Plain files larger than this are split into chunks of at most about this size (at
    /// least 1): smaller when that gives each thread several chunks of at least 4 MiB.
    pub chunk_bytes: u64,
    /// Hand inputs on in event-time order rather than argument order (see the module
    /// documentation); costs one extra open and sample read per input while planning.
    pub time_order: bool,
    /// How each input is read and parsed.
    pub pipeline: PipelineConfig,
}

impl BatchConfig {
    /// Every core, [`DEFAULT_CHUNK_BYTES`], argument order.
    pub fn new(pipeline: PipelineConfig) -> Self {
        BatchConfig {
            threads: 0,
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            time_order: false,
            pipeline,
        }
    }

    /// The number of worker threads `threads` stands for.
    pub fn thread_count(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// How many units may be started or finished but not yet handed to `on_done`: enough that
    /// one slow unit does not idle the other threads, few enough that buffered output stays
    /// small.
    pub fn window(&self) -> usize {
        2 * self.thread_count()
    }
}

/// One unit of work: a whole input, or one chunk of a split file.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Index of the input in the slice given to [`run_batch`].
    pub input: usize,
    /// Index of the chunk in its input (0 for a whole input).
    pub chunk: usize,
    /// Number of chunks of the input (1 for a whole input).
    pub chunks: usize,
    /// The input's first event time ([`pipeline::first_event_time`]); `None` without
    /// [`BatchConfig::time_order`].
    pub first_time: Option<Timestamp>,
    /// The earliest `first_time` of the inputs planned after this unit's input: no later input
    /// starts before it. `None` when no later input has a time (or there is none), and without
    /// [`BatchConfig::time_order`].
    pub later_start: Option<Timestamp>,
    /// Position in the order of `on_done`.
    seq: usize,
    /// `None` for a whole input.
    span: Option<Span>,
    /// Size on disk, for progress.
    disk_bytes: u64,
    order: Arc<Order>,
}

impl Unit {
    /// Whether this unit is a chunk of a split file (rather than a whole input).
    pub fn is_chunk(&self) -> bool {
        self.span.is_some()
    }

    /// Whether this is the last (or only) unit of its input.
    pub fn is_last_chunk(&self) -> bool {
        self.chunk + 1 == self.chunks
    }

    /// The unit's place in the output order; see [`Turn`].
    pub fn turn(&self) -> Turn {
        Turn {
            order: Arc::clone(&self.order),
            seq: self.seq,
        }
    }
}

/// A chunk of a plain file.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u64,
    /// `None` for the last chunk, which reads to the end of the file (as a single run would if
    /// the file grew).
    end: Option<u64>,
    decided: Decided,
    modified: Option<Timestamp>,
}

/// A unit's place in the order in which `on_done` receives units. A sink that writes to a
/// shared output may write directly once its turn has come, because every earlier unit's
/// output has then been written.
#[derive(Debug, Clone)]
pub struct Turn {
    order: Arc<Order>,
    seq: usize,
}

impl Turn {
    /// Whether every earlier unit has been handed to `on_done` (and this one is still to be
    /// written). Cheap: two atomic loads.
    pub fn has_come(&self) -> bool {
        self.order.turn.load(Ordering::Acquire) >= self.seq && !self.order.is_stopped(self.seq)
    }

    /// Blocks until the turn has come. Fails when the batch stopped first (a sink failed at an
    /// earlier unit), so that a unit waiting to write gives up instead of waiting forever.
    pub fn wait(&self) -> io::Result<()> {
        if self.order.wait(self.seq, |turn| turn >= self.seq) {
            Ok(())
        } else {
            Err(stopped())
        }
    }
}

fn stopped() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "the batch stopped at an earlier error")
}

/// The shared ordering state: whose turn it is, and where the batch stops.
#[derive(Debug)]
struct Order {
    /// `seq` of the next unit to hand to `on_done`. Changed under `lock`.
    turn: AtomicUsize,
    /// Units after this one stop (a sink failed at it). Changed under `lock`.
    cutoff: AtomicUsize,
    /// Units that are not to be run or written: the chunks after one where reading failed.
    /// Changed under `lock`.
    cancelled: Vec<AtomicBool>,
    lock: Mutex<()>,
    changed: Condvar,
}

impl Order {
    fn new(units: usize) -> Self {
        Order {
            turn: AtomicUsize::new(0),
            cutoff: AtomicUsize::new(usize::MAX),
            cancelled: (0..units).map(|_| AtomicBool::new(false)).collect(),
            lock: Mutex::new(()),
            changed: Condvar::new(),
        }
    }

    fn is_stopped(&self, seq: usize) -> bool {
        seq > self.cutoff.load(Ordering::Acquire) || self.is_cancelled(seq)
    }

    fn is_cancelled(&self, seq: usize) -> bool {
        self.cancelled.get(seq).is_some_and(|c| c.load(Ordering::Acquire))
    }

    fn cancel(&self, seqs: std::ops::Range<usize>) {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        for c in self.cancelled.get(seqs).unwrap_or_default() {
            c.store(true, Ordering::Release);
        }
        self.changed.notify_all();
    }

    /// Waits until `ready(turn)`; false when unit `seq` is stopped first.
    fn wait(&self, seq: usize, ready: impl Fn(usize) -> bool) -> bool {
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if self.is_stopped(seq) {
                return false;
            }
            if ready(self.turn.load(Ordering::Acquire)) {
                return true;
            }
            guard = self.changed.wait(guard).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn advance(&self) {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.turn.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_all();
    }

    /// Stops every unit after `seq`.
    fn stop_after(&self, seq: usize) {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.cutoff.fetch_min(seq, Ordering::AcqRel);
        self.changed.notify_all();
    }
}

/// Runs every input through the pipeline on `cfg.threads` threads and returns one
/// [`InputStats`] per input, in input order, chunks merged (see the module documentation).
///
/// `make_sink` is called on a worker thread when a unit starts. `on_done` is called on the
/// calling thread, strictly in planned order (inputs in argument order, or in event-time order
/// with [`BatchConfig::time_order`]; the chunks of an input consecutively, in order), as soon as
/// the unit and all earlier ones are done, with the unit's sink and, when the unit completes its
/// input, the input's merged statistics (on its last chunk, or on the chunk where reading stopped
/// with an error: the chunks after it are then discarded, as a single run would never have read
/// them). An error from a sink or from `on_done` stops the batch and is returned.
pub fn run_batch<S, M, D>(
    inputs: &[Input],
    cfg: &BatchConfig,
    progress: Option<&Progress>,
    make_sink: M,
    mut on_done: D,
) -> io::Result<Vec<InputStats>>
where
    S: EventSink + Send,
    M: Fn(&Unit) -> S + Sync,
    D: FnMut(&Unit, S, Option<&InputStats>) -> io::Result<()>,
{
    let threads = cfg.thread_count().max(1);
    let (units, order, disk_bytes) = plan(inputs, cfg, threads);
    if let Some(p) = progress {
        p.add_total(inputs.len() as u64, disk_bytes);
    }
    let mut merger = Merger::new(inputs.len(), progress);

    if threads == 1 || units.len() <= 1 {
        for unit in &units {
            let mut sink = make_sink(unit);
            let stats = run_unit(inputs, unit, cfg, progress, &mut sink)?;
            merger.done(unit, stats, sink, &mut on_done)?;
            order.advance();
        }
        return Ok(merger.finish());
    }

    let next = AtomicUsize::new(0);
    let window = cfg.window();
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, io::Result<(InputStats, S)>)>();
        for _ in 0..threads.min(units.len()) {
            let tx = tx.clone();
            let (units, next, order, make_sink) = (&units, &next, &order, &make_sink);
            scope.spawn(move || {
                loop {
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    let Some(unit) = units.get(seq) else { break };
                    if !order.wait(seq, |turn| seq < turn + window) {
                        break;
                    }
                    let mut sink = make_sink(unit);
                    let result = run_unit(inputs, unit, cfg, progress, &mut sink).map(|stats| (stats, sink));
                    if tx.send((seq, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);

        // The reorder buffer: results wait here until every earlier unit has been handed on.
        let mut pending = BTreeMap::new();
        let mut turn = 0;
        for (seq, result) in rx {
            // An error is acted on in order too: the units before it still finish, and a unit
            // that turns out to be cancelled (after a chunk that failed) is ignored.
            pending.insert(seq, result);
            while let Some(result) = pending.remove(&turn) {
                let unit = &units[turn];
                let result = if order.is_cancelled(turn) {
                    Ok(())
                } else {
                    result.and_then(|(stats, sink)| merger.done(unit, stats, sink, &mut on_done))
                };
                if let Err(e) = result {
                    order.stop_after(turn);
                    return Err(e);
                }
                order.advance();
                turn += 1;
            }
        }
        Ok(())
    })?;
    Ok(merger.finish())
}

/// Merges each input's chunks, in order, and calls `on_done`.
struct Merger<'p> {
    inputs: Vec<Merging>,
    progress: Option<&'p Progress>,
}

enum Merging {
    /// No unit of the input is done yet.
    Pending,
    /// Some chunks are merged; more follow.
    Open(InputStats),
    /// Complete (its last unit, or a chunk that failed: later chunks are discarded).
    Done(InputStats),
}

impl<'p> Merger<'p> {
    fn new(inputs: usize, progress: Option<&'p Progress>) -> Self {
        Merger {
            inputs: (0..inputs).map(|_| Merging::Pending).collect(),
            progress,
        }
    }

    fn done<S>(
        &mut self,
        unit: &Unit,
        stats: InputStats,
        sink: S,
        on_done: &mut impl FnMut(&Unit, S, Option<&InputStats>) -> io::Result<()>,
    ) -> io::Result<()> {
        let slot = &mut self.inputs[unit.input];
        let merged = match std::mem::replace(slot, Merging::Pending) {
            Merging::Pending => stats,
            Merging::Open(mut merged) => {
                merged.absorb(stats);
                merged
            }
            done @ Merging::Done(_) => {
                // After a chunk that failed (on one thread, where nothing is cancelled).
                *slot = done;
                return Ok(());
            }
        };
        let last = unit.is_last_chunk();
        if !last && merged.failure.is_some() {
            // Reading stopped inside this chunk: a single run would never have read the chunks
            // after it, so they are cancelled (they may be running) and their output dropped.
            unit.order.cancel(unit.seq + 1..unit.seq + unit.chunks - unit.chunk);
        }
        if last || merged.failure.is_some() {
            if let Some(p) = self.progress {
                p.input_done();
            }
            let result = on_done(unit, sink, Some(&merged));
            *slot = Merging::Done(merged);
            result
        } else {
            *slot = Merging::Open(merged);
            on_done(unit, sink, None)
        }
    }

    fn finish(self) -> Vec<InputStats> {
        self.inputs
            .into_iter()
            .map(|m| match m {
                Merging::Done(s) | Merging::Open(s) => s,
                // Only when the batch stopped early, which returns an error instead.
                Merging::Pending => InputStats::default(),
            })
            .collect()
    }
}

/// Plans the units: each input whole, or, when there are several threads and the file
/// qualifies, in chunks; inputs in argument order, or in event-time order with
/// [`BatchConfig::time_order`]. Returns them with their shared order and the inputs' total size
/// on disk.
fn plan(inputs: &[Input], cfg: &BatchConfig, threads: usize) -> (Vec<Unit>, Arc<Order>, u64) {
    let (sequence, first_times) = input_order(inputs, cfg);
    let later_starts = later_starts(&sequence, &first_times);
    let planned: Vec<(u64, Vec<Span>)> = sequence.iter().map(|&i| plan_input(&inputs[i], cfg, threads)).collect();
    let count = planned.iter().map(|(_, spans)| spans.len().max(1)).sum();
    let order = Arc::new(Order::new(count));
    let mut units = Vec::with_capacity(count);
    let mut disk_total = 0;
    for ((&input, later_start), (disk_bytes, spans)) in sequence.iter().zip(later_starts).zip(planned) {
        disk_total += disk_bytes;
        let chunks = spans.len().max(1);
        let first_time = first_times[input];
        let mut add = |chunk, span: Option<Span>, disk_bytes| {
            units.push(Unit {
                input,
                chunk,
                chunks,
                first_time,
                later_start,
                seq: units.len(),
                span,
                disk_bytes,
                order: Arc::clone(&order),
            })
        };
        if spans.is_empty() {
            add(0, None, disk_bytes);
        }
        for (chunk, span) in spans.into_iter().enumerate() {
            add(
                chunk,
                Some(span),
                span.end.unwrap_or(disk_bytes).saturating_sub(span.start),
            );
        }
    }
    (units, order, disk_total)
}

/// The order in which the inputs are planned (indices into `inputs`) and each input's first
/// event time (by input index). In argument order with no time and nothing read unless
/// [`BatchConfig::time_order`]; then by (first time, `None` first; name; index), an order that
/// does not depend on the order of the arguments.
fn input_order(inputs: &[Input], cfg: &BatchConfig) -> (Vec<usize>, Vec<Option<Timestamp>>) {
    let mut sequence: Vec<usize> = (0..inputs.len()).collect();
    if !cfg.time_order {
        return (sequence, vec![None; inputs.len()]);
    }
    let first_times: Vec<Option<Timestamp>> = inputs
        .iter()
        .map(|i| pipeline::first_event_time(i, &cfg.pipeline))
        .collect();
    sequence.sort_by(|&a, &b| (first_times[a], &inputs[a].name, a).cmp(&(first_times[b], &inputs[b].name, b)));
    (sequence, first_times)
}

/// For each input in `sequence`, the earliest first time of the inputs after it (a suffix
/// minimum).
fn later_starts(sequence: &[usize], first_times: &[Option<Timestamp>]) -> Vec<Option<Timestamp>> {
    let mut later = vec![None; sequence.len()];
    let mut min: Option<Timestamp> = None;
    for (pos, &input) in sequence.iter().enumerate().rev() {
        later[pos] = min;
        if let Some(t) = first_times[input] {
            min = Some(min.map_or(t, |m| m.min(t)));
        }
    }
    later
}

/// An input's size on disk and its chunks (empty when it is read whole).
fn plan_input(input: &Input, cfg: &BatchConfig, threads: usize) -> (u64, Vec<Span>) {
    let Some(path) = &input.path else {
        return (0, Vec::new());
    };
    let Ok(meta) = std::fs::metadata(path) else {
        // Reported when the unit opens it.
        return (0, Vec::new());
    };
    if !meta.is_file() {
        return (0, Vec::new());
    }
    let len = meta.len();
    let chunk_bytes = cfg.chunk_bytes.max(1);
    if threads < 2 || len <= chunk_bytes {
        return (len, Vec::new());
    }
    let Ok(opened) = input.open() else {
        return (len, Vec::new());
    };
    if opened.compression != Compression::None {
        return (len, Vec::new());
    }
    let modified = opened.modified;
    let Some(decided) = pipeline::detect_stream(opened.reader, modified, &cfg.pipeline) else {
        return (len, Vec::new());
    };
    if !splittable(decided) {
        return (len, Vec::new());
    }
    let chunk_bytes = balanced_chunk(len, chunk_bytes, threads);
    let starts = match File::open(path).and_then(|mut f| chunk_starts(&mut f, len, chunk_bytes)) {
        Ok(s) if s.len() > 1 => s,
        _ => return (len, Vec::new()),
    };
    let spans = starts
        .iter()
        .enumerate()
        .map(|(i, &start)| Span {
            start,
            end: starts.get(i + 1).copied(),
            decided,
            modified,
        })
        .collect();
    (len, spans)
}

/// Whether a file of this format and framing may be split: a line-independent format without
/// syslog framing, or a mail log assembled by queue id (see the module documentation). Syslog
/// framing is no obstacle to mail chunks: RFC 3164 year inference depends only on the reference
/// time, the file's modification time, which every chunk shares.
fn splittable(decided: Decided) -> bool {
    if assembles_mail(decided.format) {
        return true;
    }
    decided.format.info().line_independent && decided.framing == Framing::None
}

/// The formats whose parsers assemble messages with [`crate::parse::assemble::Assembler`] and
/// keep no other state than per-queue-id state: their chunks own messages by their first line.
fn assembles_mail(format: Format) -> bool {
    matches!(format, Format::Postfix | Format::Exim | Format::Sendmail)
}

/// The chunk size for a file of `len` bytes: `chunk_bytes`, or less when that gives every thread
/// [`CHUNKS_PER_THREAD`] chunks of at least [`MIN_BALANCED_CHUNK`].
fn balanced_chunk(len: u64, chunk_bytes: u64, threads: usize) -> u64 {
    let balanced = (len / (CHUNKS_PER_THREAD * threads.max(1) as u64)).max(MIN_BALANCED_CHUNK);
    chunk_bytes.min(balanced)
}

/// The start offsets of the chunks of a stream of `len` bytes: 0, then, about every
/// `chunk_bytes`, the offset just after the first newline at or after the nominal boundary's
/// last byte. Every chunk therefore starts at a line start and ends with a newline (the last
/// one possibly without), and a line longer than a chunk stays whole in one chunk.
pub fn chunk_starts<R: Read + Seek>(stream: &mut R, len: u64, chunk_bytes: u64) -> io::Result<Vec<u64>> {
    let chunk_bytes = chunk_bytes.max(1);
    let mut starts = vec![0];
    let mut start = 0u64;
    let mut buf = vec![0u8; SCAN_BYTES];
    loop {
        let nominal = start.saturating_add(chunk_bytes);
        if nominal >= len {
            break;
        }
        // The newline ending the chunk may be the byte just before the nominal boundary.
        match find_newline(stream, nominal - 1, &mut buf)? {
            Some(nl) if nl + 1 < len => {
                start = nl + 1;
                starts.push(start);
            }
            _ => break,
        }
    }
    Ok(starts)
}

/// Offset of the first `\n` at or after `from`, or `None` before the end of the stream.
fn find_newline<R: Read + Seek>(stream: &mut R, from: u64, buf: &mut [u8]) -> io::Result<Option<u64>> {
    stream.seek(SeekFrom::Start(from))?;
    let mut pos = from;
    loop {
        let n = match stream.read(buf) {
            Ok(0) => return Ok(None),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            return Ok(Some(pos + i as u64));
        }
        pos += n as u64;
    }
}

/// Runs one unit with its own sink, reporting to `progress` and stopping when the batch does.
fn run_unit<S: EventSink>(
    inputs: &[Input],
    unit: &Unit,
    cfg: &BatchConfig,
    progress: Option<&Progress>,
    sink: &mut S,
) -> io::Result<InputStats> {
    let input = &inputs[unit.input];
    // Bytes count as progress while read only for plain files, where they are bytes on disk.
    let ticker = |live: bool| {
        move |t: Tick| {
            if let Some(p) = progress {
                p.add_read(if live { t.bytes } else { 0 }, t.lines);
            }
            if unit.order.is_stopped(unit.seq) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
    };
    let Some(span) = unit.span else {
        let opened = match input.open() {
            Ok(o) => o,
            Err(e) => return Ok(InputStats::failed(&input.name, InputFailure::Unreadable(e.to_string()))),
        };
        let live = opened.compression == Compression::None && input.path.is_some();
        let mut on_tick = ticker(live);
        let opts = RunOptions {
            on_tick: Some(&mut on_tick),
            ..RunOptions::default()
        };
        let stats = run_opened(&input.name, opened, &cfg.pipeline, opts, sink)?;
        if !live && let Some(p) = progress {
            p.add_read(unit.disk_bytes, 0);
        }
        return Ok(stats);
    };
    let Some(path) = &input.path else {
        return Err(io::Error::other("a chunk of standard input"));
    };
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            let failure = InputFailure::Unreadable(format!("{}: {e}", input.name));
            return Ok(InputStats::failed(&input.name, failure));
        }
    };
    let surroundings = surroundings(path, &mut file, unit, span, &cfg.pipeline)
        .and_then(|around| file.seek(SeekFrom::Start(span.start)).map(|_| around));
    let (warmup_from, mut before, mut after) = match surroundings {
        Ok(around) => around,
        Err(e) => {
            let failure = InputFailure::ReadError(format!("{}: {e}", input.name));
            return Ok(InputStats::failed(&input.name, failure));
        }
    };
    let limit = span.end.map_or(u64::MAX, |end| end - span.start);
    let mut on_tick = ticker(true);
    let opts = RunOptions {
        start: span.start,
        decided: Some(span.decided),
        warmup: (warmup_from < span.start).then_some(Warmup {
            from: warmup_from,
            lines: &mut before,
        }),
        read_on: after.as_mut().map(|(end, f)| ReadOn { end: *end, rest: f }),
        on_tick: Some(&mut on_tick),
    };
    let mut stats = run_stream(&input.name, file.take(limit), span.modified, &cfg.pipeline, opts, sink)?;
    stats.compression = Some(Compression::None);
    Ok(stats)
}

/// What a chunk reads besides its range: where its warm-up starts, the warm-up (a mail log's
/// look-behind, or the few lines before a chunk of a line-independent format), and, for a chunk
/// of a mail log that ends before its file, the file from the chunk's end on (its read-on, with
/// that offset). A mail log's are streamed from handles of their own: a look-behind may be long.
type Surroundings = (u64, Box<dyn Read>, Option<(u64, File)>);

/// The [`Surroundings`] of the chunk `span` of the file at `path`, open as `file`.
fn surroundings(
    path: &Path,
    file: &mut File,
    unit: &Unit,
    span: Span,
    cfg: &PipelineConfig,
) -> io::Result<Surroundings> {
    let mail = assembles_mail(span.decided.format);
    let (from, before): (u64, Box<dyn Read>) = if unit.chunk == 0 {
        (span.start, Box::new(io::empty()))
    } else if mail {
        let mut f = File::open(path)?;
        let from = mail_lookbehind(&mut f, span, cfg)?;
        f.seek(SeekFrom::Start(from))?;
        (from, Box::new(f.take(span.start - from)))
    } else {
        let warmup = read_warmup(file, span.start);
        (span.start - warmup.len() as u64, Box::new(io::Cursor::new(warmup)))
    };
    let after = match span.end {
        Some(end) if mail => {
            let mut f = File::open(path)?;
            f.seek(SeekFrom::Start(end))?;
            Some((end, f))
        }
        _ => None,
    };
    Ok((from, before, after))
}

/// Where the look-behind of a chunk of a mail log starts: the first line start at least
/// [`LOOK_BEHIND_TIMEOUTS`] mail timeouts of event time before the chunk's first times (found by
/// stepping back in doubling steps and sampling the times there), or the file's start when no
/// such line is found (the chunk's start has no time, or the file is younger): replaying from
/// the start is always exact, only slower.
fn mail_lookbehind(file: &mut File, span: Span, cfg: &PipelineConfig) -> io::Result<u64> {
    let window = cfg.parse.mail_timeout.saturating_mul(LOOK_BEHIND_TIMEOUTS);
    let Some(horizon) = time_at(file, span.start, span, cfg)?.and_then(|t| t.checked_sub(window).ok()) else {
        return Ok(0);
    };
    let mut buf = vec![0u8; SCAN_BYTES];
    let mut back = LOOK_BEHIND_STEP;
    loop {
        let Some(nominal) = span.start.checked_sub(back).filter(|&n| n > 0) else {
            return Ok(0);
        };
        // The line start after `nominal`; the newline before the chunk's start is always found.
        let from = match find_newline(file, nominal - 1, &mut buf)? {
            Some(nl) if nl < span.start => nl + 1,
            _ => span.start,
        };
        if time_at(file, from, span, cfg)?.is_some_and(|t| t <= horizon) {
            return Ok(from);
        }
        back = back.saturating_mul(2);
    }
}

/// The earliest event time of the lines from `offset` (a line start) on, sampled as
/// [`pipeline::sample_time`] does, within [`SCAN_BYTES`].
fn time_at(file: &mut File, offset: u64, span: Span, cfg: &PipelineConfig) -> io::Result<Option<Timestamp>> {
    file.seek(SeekFrom::Start(offset))?;
    Ok(pipeline::sample_time(
        (&mut *file).take(SCAN_BYTES as u64),
        span.decided,
        span.modified,
        cfg,
    ))
}

/// The complete lines in the [`WARMUP_BYTES`] before `start` (a line start). Best effort: a read
/// error gives none.
fn read_warmup(file: &mut File, start: u64) -> Vec<u8> {
    let from = start.saturating_sub(WARMUP_BYTES);
    let mut buf = vec![0; (start - from) as usize];
    if file
        .seek(SeekFrom::Start(from))
        .and_then(|_| file.read_exact(&mut buf))
        .is_err()
    {
        return Vec::new();
    }
    complete_lines(buf, from == 0)
}

/// Drops the partial line at the front of `buf` unless it starts at the start of the file.
fn complete_lines(mut buf: Vec<u8>, at_file_start: bool) -> Vec<u8> {
    if !at_file_start {
        match memchr::memchr(b'\n', &buf) {
            Some(i) => drop(buf.drain(..=i)),
            None => buf.clear(),
        }
    }
    buf
}

/// Bytes a [`UnitOutput`] gathers before it writes through when its turn has come.
const WRITE_THROUGH: usize = 256 << 10;

/// The default limit of a [`UnitOutput`]: past it, a unit whose turn has not come waits.
pub const DEFAULT_OUTPUT_LIMIT: usize = 64 << 20;

/// A unit's share of an output that all units write to, in unit order. Bytes are gathered in
/// memory; once the unit's turn has come (every earlier unit's output is written) they are
/// written through; before that, a unit that holds `limit` bytes waits for its turn. Give it to
/// the sink in `make_sink`, and call [`finish`](Self::finish) in `on_done`.
pub struct UnitOutput<'w, W: Write> {
    out: &'w Mutex<W>,
    turn: Turn,
    buf: Vec<u8>,
    limit: usize,
    /// `min(WRITE_THROUGH, limit)`: past it, [`Self::full`] decides.
    spill: usize,
}

impl<'w, W: Write> UnitOutput<'w, W> {
    pub fn new(out: &'w Mutex<W>, unit: &Unit) -> Self {
        Self::with_limit(out, unit, DEFAULT_OUTPUT_LIMIT)
    }

    /// With a limit other than [`DEFAULT_OUTPUT_LIMIT`].
    pub fn with_limit(out: &'w Mutex<W>, unit: &Unit, limit: usize) -> Self {
        UnitOutput {
            out,
            turn: unit.turn(),
            buf: Vec::new(),
            limit: limit.max(1),
            spill: WRITE_THROUGH.min(limit.max(1)),
        }
    }

    /// Writes what is left. Call it from `on_done`, where the unit's turn has come.
    pub fn finish(mut self) -> io::Result<()> {
        self.write_out()
    }

    fn write_out(&mut self) -> io::Result<()> {
        self.turn.wait()?;
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

impl<W: Write> UnitOutput<'_, W> {
    /// Writes through when the turn has come, or waits for it at the limit.
    #[cold]
    fn full(&mut self) -> io::Result<()> {
        if self.buf.len() >= self.limit || self.turn.has_come() {
            self.write_out()?;
        }
        Ok(())
    }
}

impl<W: Write> Write for UnitOutput<'_, W> {
    #[inline]
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_all(data)?;
        Ok(data.len())
    }

    /// Serializers write in small pieces: the common case is one copy and one comparison.
    #[inline]
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= self.spill {
            self.full()?;
        }
        Ok(())
    }

    /// Nothing to do: the bytes are written when the turn comes.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::parse::Format;
    use std::io::Cursor;
    use std::path::Path;

    fn config(threads: usize, chunk_bytes: u64) -> BatchConfig {
        BatchConfig {
            threads,
            chunk_bytes,
            time_order: false,
            pipeline: PipelineConfig::default(),
        }
    }

    /// `line` repeated until the file holds at least `bytes`.
    fn repeated(dir: &Path, name: &str, line: &str, bytes: usize) -> Input {
        let path = dir.join(name);
        std::fs::write(&path, format!("{line}\n").repeat(bytes / (line.len() + 1) + 1)).unwrap();
        Input::file(path)
    }

    #[test]
    fn only_plain_large_line_independent_unframed_or_mail_files_are_split() {
        let dir = tempfile::tempdir().unwrap();
        // (format whose example line fills the file, split into chunks?)
        let cases = [
            (Format::Squid, true),
            (Format::Combined, true),
            (Format::Zscaler, true),
            (Format::Proofpoint, true),
            (Format::Mimecast, true),
            (Format::Ecs, true),
            (Format::W3c, false),
            (Format::Exchange, false),
            (Format::M365, false),
            // Assembling messages: chunks own the messages that open in them.
            (Format::Postfix, true),
            (Format::Exim, true),
            (Format::Sendmail, true),
        ];
        let cfg = config(4, 4096);
        for (format, split) in cases {
            let example = format.info().example;
            let big = repeated(dir.path(), format.name(), example, 20_000);
            let (units, _, _) = plan(std::slice::from_ref(&big), &cfg, 4);
            assert_eq!(units.len() > 1, split, "{format}: {} units", units.len());
            assert!(
                !split || format.info().line_independent || assembles_mail(format),
                "{format}"
            );
        }
        let squid = Format::Squid.info().example;
        let small = repeated(dir.path(), "small", squid, 4000);
        let big = repeated(dir.path(), "big", squid, 20_000);
        let framed = repeated(
            dir.path(),
            "framed",
            &format!("Jan 11 10:00:00 proxy squid[1]: {squid}"),
            20_000,
        );
        let gz = gzipped(dir.path(), "big.gz", &big);
        let junk = repeated(dir.path(), "junk", "nothing anyone logs", 20_000);
        let inputs = [
            small,
            big.clone(),
            framed,
            gz,
            junk,
            Input::stdin(),
            Input::file(dir.path().join("missing")),
        ];
        let (units, _, _) = plan(&inputs, &cfg, 4);
        let chunks: Vec<(usize, usize)> = units.iter().map(|u| (u.input, u.chunks)).collect();
        let big_chunks = chunks.iter().filter(|c| c.0 == 1).count();
        assert!(big_chunks >= 4, "{chunks:?}");
        let mut want = vec![(0, 1)];
        want.extend((0..big_chunks).map(|_| (1, big_chunks)));
        want.extend([(2, 1), (3, 1), (4, 1), (5, 1), (6, 1)]);
        assert_eq!(chunks, want);
        // One thread splits nothing.
        let (units, _, _) = plan(std::slice::from_ref(&big), &config(1, 4096), 1);
        assert_eq!(units.len(), 1);
    }

    /// Counts events and keeps their offsets; fails at event `fail_at`.
    struct Recorder {
        offsets: Vec<u64>,
        fail_at: Option<usize>,
    }

    impl EventSink for Recorder {
        fn event(&mut self, event: &mut Event<'_>) -> io::Result<()> {
            if self.fail_at == Some(self.offsets.len()) {
                return Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"));
            }
            self.offsets.push(event.log.offset.unwrap_or(u64::MAX));
            Ok(())
        }
    }

    /// What a batch handed on: the units in the order `on_done` saw them, every event's
    /// offset, and the statistics (`None` when an error stopped the batch).
    struct Recorded {
        order: Vec<(usize, usize)>,
        offsets: Vec<u64>,
        stats: Option<Vec<InputStats>>,
    }

    /// Runs the batch; the sink of unit `fail.0`, chunk `fail.1` fails at its event `fail.2`.
    fn record(inputs: &[Input], cfg: &BatchConfig, fail: Option<(usize, usize, usize)>) -> Recorded {
        let mut order = Vec::new();
        let mut offsets = Vec::new();
        let result = run_batch(
            inputs,
            cfg,
            None,
            |u| Recorder {
                offsets: Vec::new(),
                fail_at: fail.filter(|f| (f.0, f.1) == (u.input, u.chunk)).map(|f| f.2),
            },
            |u, sink, stats| {
                order.push((u.input, u.chunk));
                offsets.extend(sink.offsets);
                assert_eq!(stats.is_some(), u.chunk + 1 == u.chunks);
                Ok(())
            },
        );
        Recorded {
            order,
            offsets,
            stats: result.ok(),
        }
    }

    #[test]
    fn units_are_handed_on_in_order_and_chunks_merge_into_one_run() {
        let dir = tempfile::tempdir().unwrap();
        let squid = Format::Squid.info().example;
        let inputs: Vec<Input> = (0..4)
            .map(|i| repeated(dir.path(), &format!("{i}.log"), squid, 3000 + i * 5000))
            .collect();
        let one = record(&inputs, &config(1, 1024), None);
        let split = record(&inputs, &config(3, 1024), None);
        assert_eq!(one.order.len(), 4);
        let order = &split.order;
        assert!(order.len() > 20, "{order:?}");
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        assert_eq!(split.offsets, one.offsets);
        let summary = |s: Option<Vec<InputStats>>| -> Vec<_> {
            s.unwrap()
                .iter()
                .map(|s| (s.lines, s.events, s.bytes, s.format, s.failure.clone()))
                .collect()
        };
        assert_eq!(summary(split.stats), summary(one.stats));
    }

    #[test]
    fn a_sink_error_stops_the_batch_after_the_units_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let squid = Format::Squid.info().example;
        let inputs: Vec<Input> = (0..3)
            .map(|i| repeated(dir.path(), &format!("{i}.log"), squid, 20_000))
            .collect();
        let all = record(&inputs, &config(3, 4096), None);
        let first_input: Vec<_> = all.order.iter().copied().filter(|u| u.0 == 0).collect();
        assert!(first_input.len() > 1);
        for threads in [1, 3] {
            let got = record(&inputs, &config(threads, 4096), Some((1, 0, 2)));
            assert!(got.stats.is_none(), "{threads} threads: the error is returned");
            let want = if threads == 1 { &[(0, 0)][..] } else { &first_input };
            assert_eq!(got.order, want, "{threads} threads");
        }
    }

    #[test]
    fn a_chunk_that_fails_ends_its_input_and_cancels_the_chunks_after_it() {
        let order = Arc::new(Order::new(4));
        let span = Span {
            start: 0,
            end: None,
            decided: Decided {
                format: Format::Squid,
                framing: Framing::None,
            },
            modified: None,
        };
        let unit = |input, chunk, chunks, seq| Unit {
            input,
            chunk,
            chunks,
            first_time: None,
            later_start: None,
            seq,
            span: Some(span),
            disk_bytes: 0,
            order: Arc::clone(&order),
        };
        let units = [unit(0, 0, 3, 0), unit(0, 1, 3, 1), unit(0, 2, 3, 2), unit(1, 0, 1, 3)];
        let chunk = |lines, failure: Option<&str>| InputStats {
            input: "f".into(),
            lines,
            errors: 1,
            error_examples: vec![pipeline::ErrorExample {
                line: lines,
                reason: "bad",
            }],
            failure: failure.map(|f| InputFailure::ReadError(f.into())),
            ..Default::default()
        };
        let results = [
            chunk(10, None),
            chunk(7, Some("f: Input/output error")),
            chunk(5, None),
            chunk(3, None),
        ];
        let mut merger = Merger::new(2, None);
        let mut seen = Vec::new();
        for (u, stats) in units.iter().zip(results) {
            if order.is_cancelled(u.seq) {
                seen.push((u.seq, None));
                continue;
            }
            merger
                .done(u, stats, (), &mut |u: &Unit, (), s: Option<&InputStats>| {
                    seen.push((u.seq, s.map(|s| (s.lines, s.errors, s.error_examples.clone()))));
                    Ok(())
                })
                .unwrap();
        }
        let example = |line| pipeline::ErrorExample { line, reason: "bad" };
        let want = vec![
            (0, None),
            (1, Some((17, 2, vec![example(10), example(17)]))),
            (2, None),
            (3, Some((3, 1, vec![example(3)]))),
        ];
        assert_eq!(seen, want);
        assert!(order.is_cancelled(2) && !order.is_cancelled(3));
        let stats = merger.finish();
        assert_eq!(stats[0].failure.as_ref().map(|f| f.kind()), Some("read_error"));
    }

    /// Writes each event's offset as a line to a [`UnitOutput`].
    struct Lines<'w>(UnitOutput<'w, Vec<u8>>);

    impl EventSink for Lines<'_> {
        fn event(&mut self, event: &mut Event<'_>) -> io::Result<()> {
            writeln!(self.0, "{}", event.log.offset.unwrap_or(u64::MAX))
        }
    }

    #[test]
    fn unit_outputs_write_in_unit_order_whatever_their_limit() {
        let dir = tempfile::tempdir().unwrap();
        let squid = Format::Squid.info().example;
        let inputs: Vec<Input> = (0..3)
            .map(|i| repeated(dir.path(), &format!("{i}.log"), squid, 30_000 + 70_000 * i))
            .collect();
        let mut outputs = Vec::new();
        // A limit of a few bytes makes every unit but the oldest wait for its turn at once.
        for (threads, limit) in [(1, DEFAULT_OUTPUT_LIMIT), (3, 10), (4, 1000), (2, DEFAULT_OUTPUT_LIMIT)] {
            let out = Mutex::new(Vec::new());
            run_batch(
                &inputs,
                &config(threads, 2048),
                None,
                |u| Lines(UnitOutput::with_limit(&out, u, limit)),
                |_, sink, _| sink.0.finish(),
            )
            .unwrap();
            outputs.push(out.into_inner().unwrap());
        }
        let lines = outputs[0].iter().filter(|&&b| b == b'\n').count();
        assert!(lines > 500, "{lines}");
        for o in &outputs[1..] {
            assert!(*o == outputs[0]);
        }
    }

    #[test]
    fn chunks_start_after_the_newline_at_or_past_each_boundary() {
        // (stream, chunk size, expected starts)
        let cases: &[(&str, u64, &[u64])] = &[
            // Boundaries exactly after a newline: the newline is the boundary's last byte.
            ("aaa\nbbb\nccc\n", 4, &[0, 4, 8]),
            // A boundary inside a line moves to the next line start.
            ("aaaaa\nbb\ncccccc\nd\n", 4, &[0, 6, 16]),
            // No trailing newline: the last chunk is the unfinished line.
            ("aaa\nbbb\nccc", 4, &[0, 4, 8]),
            // CRLF: the \r stays with its line.
            ("aa\r\nbb\r\ncc\r\n", 4, &[0, 4, 8]),
            ("aa\r\nbb\r\ncc\r\n", 3, &[0, 4, 8]),
            // A line longer than several chunks stays whole.
            ("a\nbbbbbbbbbbbbbbbbbbbb\ncc\n", 3, &[0, 23]),
            // The only newline is the last byte: one chunk.
            ("aaaaaaaaaa\n", 4, &[0]),
            // No newline at all: one chunk.
            ("aaaaaaaaaa", 4, &[0]),
            // Smaller than a chunk, or empty.
            ("a\nb\n", 64, &[0]),
            ("", 4, &[0]),
            // One-byte chunks: every line is a chunk.
            ("a\nb\nc\n", 1, &[0, 2, 4]),
            ("\n\n\n", 1, &[0, 1, 2]),
        ];
        for &(text, chunk, want) in cases {
            let mut c = Cursor::new(text.as_bytes());
            let got = chunk_starts(&mut c, text.len() as u64, chunk).unwrap();
            assert_eq!(got, want, "{text:?} in chunks of {chunk}");
            for &s in &got[1..] {
                assert_eq!(text.as_bytes()[s as usize - 1], b'\n', "{text:?}: {s} is a line start");
            }
        }
    }

    #[test]
    fn large_files_are_cut_into_several_chunks_per_thread() {
        const MIB: u64 = 1 << 20;
        // (file size, chunk size asked, threads, chunk size used)
        let cases = [
            (218 * MIB, 64 * MIB, 2, 27 * MIB + 256 * 1024),
            (218 * MIB, 64 * MIB, 16, 4 * MIB),
            (10 * 1024 * MIB, 64 * MIB, 8, 64 * MIB),
            (218 * MIB, 4096, 2, 4096),
            (10 * MIB, 4 * MIB, 2, 4 * MIB),
        ];
        for (len, asked, threads, want) in cases {
            assert_eq!(balanced_chunk(len, asked, threads), want, "{len} {asked} {threads}");
        }
    }

    #[test]
    fn newline_search_crosses_read_buffers() {
        let mut text = vec![b'x'; 3 * SCAN_BYTES + 10];
        text.extend_from_slice(b"\nlast\n");
        let got = chunk_starts(&mut Cursor::new(&text), text.len() as u64, 100).unwrap();
        assert_eq!(got, [0, 3 * SCAN_BYTES as u64 + 11]);
    }

    #[test]
    fn warmup_keeps_only_complete_lines() {
        let cases: &[(&str, bool, &str)] = &[
            ("rt of a line\nfull\nlines\n", false, "full\nlines\n"),
            ("first\nsecond\n", true, "first\nsecond\n"),
            ("no newline at all", false, ""),
            ("only the tail\n", false, ""),
        ];
        for &(buf, at_start, want) in cases {
            assert_eq!(
                complete_lines(buf.as_bytes().to_vec(), at_start),
                want.as_bytes(),
                "{buf:?}"
            );
        }
    }

    /// A Squid native line at `epoch` seconds.
    fn squid_at(epoch: i64) -> String {
        format!(
            "{epoch}.534    169 10.20.1.15 TCP_MISS/200 447 GET http://a.example/ - HIER_DIRECT/198.51.100.1 text/html"
        )
    }

    fn time(epoch: i64) -> Option<Timestamp> {
        Some(Timestamp::new(epoch, 534_000_000).unwrap())
    }

    /// Gzips `input` into `name`.
    fn gzipped(dir: &Path, name: &str, input: &Input) -> Input {
        let path = dir.join(name);
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&std::fs::read(input.path.as_ref().unwrap()).unwrap())
            .unwrap();
        std::fs::write(&path, enc.finish().unwrap()).unwrap();
        Input::file(path)
    }

    /// What `on_done` saw of each unit: (input, chunk, chunks, first time, later start, last?).
    type Seen = (usize, usize, usize, Option<Timestamp>, Option<Timestamp>, bool);

    /// Runs the batch with counting sinks; the units as `on_done` saw them, and the statistics.
    fn handed_on(inputs: &[Input], cfg: &BatchConfig) -> (Vec<Seen>, Vec<InputStats>) {
        let mut seen = Vec::new();
        let stats = run_batch(
            inputs,
            cfg,
            None,
            |_| 0u64,
            |u, _, stats| {
                assert_eq!(stats.is_some(), u.is_last_chunk());
                seen.push((
                    u.input,
                    u.chunk,
                    u.chunks,
                    u.first_time,
                    u.later_start,
                    u.is_last_chunk(),
                ));
                Ok(())
            },
        )
        .unwrap();
        (seen, stats)
    }

    fn timed(cfg: BatchConfig) -> BatchConfig {
        BatchConfig {
            time_order: true,
            ..cfg
        }
    }

    const T: i64 = 1_610_356_086;

    #[test]
    fn time_order_hands_inputs_on_by_their_first_event_time() {
        let dir = tempfile::tempdir().unwrap();
        let late = repeated(dir.path(), "c.log", &squid_at(T + 300), 2000);
        let middle = repeated(dir.path(), "b.log", &squid_at(T + 200), 2000);
        // Compressed: its first lines are read through the decompressor.
        let middle = gzipped(dir.path(), "b.log.gz", &middle);
        let early = repeated(dir.path(), "a.log", &squid_at(T + 100), 2000);
        let junk = repeated(dir.path(), "junk", "nothing anyone logs", 2000);
        // In reverse time order, the input without a time last.
        let inputs = [late, middle, early, junk];
        for threads in [1, 3] {
            let (seen, stats) = handed_on(&inputs, &timed(config(threads, DEFAULT_CHUNK_BYTES)));
            let want: Vec<Seen> = vec![
                (3, 0, 1, None, time(T + 100), true),
                (2, 0, 1, time(T + 100), time(T + 200), true),
                (1, 0, 1, time(T + 200), time(T + 300), true),
                (0, 0, 1, time(T + 300), None, true),
            ];
            assert_eq!(seen, want, "{threads} threads");
            // Statistics stay in argument order.
            let names: Vec<&str> = stats.iter().map(|s| s.input.as_str()).collect();
            let want_names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
            assert_eq!(names, want_names);
            assert_eq!(stats[1].compression, Some(Compression::Gzip));
            assert!(stats[..3].iter().all(|s| s.events > 0 && s.failure.is_none()));
            assert_eq!(stats[3].failure.as_ref().map(|f| f.kind()), Some("unrecognised"));

            // Without time order: argument order, nothing read ahead.
            let (seen, _) = handed_on(&inputs, &config(threads, DEFAULT_CHUNK_BYTES));
            let want: Vec<Seen> = (0..4).map(|i| (i, 0, 1, None, None, true)).collect();
            assert_eq!(seen, want, "{threads} threads");
        }
        // Standard input is never read while planning: no time, first.
        let with_stdin = [inputs[2].clone(), Input::stdin()];
        let (units, _, _) = plan(&with_stdin, &timed(config(2, DEFAULT_CHUNK_BYTES)), 2);
        let got: Vec<_> = units.iter().map(|u| (u.input, u.first_time, u.later_start)).collect();
        assert_eq!(got, [(1, None, time(T + 100)), (0, time(T + 100), None)]);
    }

    #[test]
    fn time_order_does_not_depend_on_the_order_of_the_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = [
            repeated(dir.path(), "h02.log", &squid_at(T + 7200), 500),
            repeated(dir.path(), "h00.log", &squid_at(T), 500),
            // Same first time as h02: by name.
            repeated(dir.path(), "g02.log", &squid_at(T + 7200), 500),
            repeated(dir.path(), "h01.log", &squid_at(T + 3600), 500),
            // No time: first, by name.
            repeated(dir.path(), "x-junk", "nothing anyone logs", 500),
            repeated(dir.path(), "w-junk", "nothing anyone logs either", 500),
        ];
        let names = |inputs: &[Input]| -> Vec<String> {
            let (seen, _) = handed_on(inputs, &timed(config(2, DEFAULT_CHUNK_BYTES)));
            seen.iter().map(|s| inputs[s.0].name.clone()).collect()
        };
        let forward = names(&inputs);
        let mut reversed = inputs.clone();
        reversed.reverse();
        let mut rotated = inputs.clone();
        rotated.rotate_left(2);
        assert_eq!(names(&reversed), forward);
        assert_eq!(names(&rotated), forward);
        let file_names: Vec<&str> = forward
            .iter()
            .map(|n| Path::new(n).file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(
            file_names,
            ["w-junk", "x-junk", "h00.log", "h01.log", "g02.log", "h02.log"]
        );
    }

    #[test]
    fn the_chunks_of_a_time_ordered_file_stay_together() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = [
            repeated(dir.path(), "late.log", &squid_at(T + 400), 2000),
            repeated(dir.path(), "big.log", &squid_at(T + 300), 40_000),
            repeated(dir.path(), "early.log", &squid_at(T + 100), 2000),
        ];
        let (seen, stats) = handed_on(&inputs, &timed(config(2, 4096)));
        let chunks = seen[1].2;
        assert!(chunks > 4, "{seen:?}");
        let mut want = vec![(2, 0, 1, time(T + 100), time(T + 300), true)];
        want.extend((0..chunks).map(|c| (1, c, chunks, time(T + 300), time(T + 400), c + 1 == chunks)));
        want.push((0, 0, 1, time(T + 400), None, true));
        assert_eq!(seen, want);
        // One thread: the same order, the big file whole, the same statistics in argument order.
        let (one, one_stats) = handed_on(&inputs, &timed(config(1, 4096)));
        let inputs_of = |s: &[Seen]| -> Vec<usize> { s.iter().filter(|u| u.1 == 0).map(|u| u.0).collect() };
        assert_eq!(inputs_of(&one), [2, 1, 0]);
        assert_eq!(inputs_of(&seen), [2, 1, 0]);
        let summary = |s: &[InputStats]| -> Vec<_> {
            s.iter()
                .map(|s| (s.input.clone(), s.lines, s.events, s.bytes))
                .collect()
        };
        assert_eq!(summary(&stats), summary(&one_stats));
        assert!(stats[1].input.ends_with("big.log"));
    }

    #[test]
    fn later_start_is_the_earliest_first_time_after_each_input() {
        type Times<'a> = &'a [Option<Timestamp>];
        let t = |s: i64| Some(Timestamp::new(s, 0).unwrap());
        // (planned order, first times by input, later starts by position)
        let cases: &[(&[usize], Times, Times)] = &[
            (&[], &[], &[]),
            (&[0], &[t(5)], &[None]),
            (&[2, 0, 1], &[t(5), None, t(3)], &[t(5), None, None]),
            (&[0, 1, 2, 3], &[t(9), t(4), None, t(7)], &[t(4), t(7), t(7), None]),
            (&[1, 0], &[None, None], &[None, None]),
        ];
        for &(sequence, firsts, want) in cases {
            assert_eq!(later_starts(sequence, firsts), want, "{sequence:?} {firsts:?}");
        }
    }

    /// A hand-made Postfix log of `messages` messages, one opening every 20 s, whose lines
    /// interleave as a busy server's do: most complete within minutes; every 9th never logs
    /// `removed` (it times out, 10 minutes after its first line); every 11th logs `removed` 12
    /// minutes after its first line (after its timeout: the last line opens a new message with
    /// the same id); queue ids are reused every 50 messages; every message has connect and
    /// disconnect lines without a queue id, every 7th a `NOQUEUE` reject (a single-line event)
    /// and every 13th a line no parser understands (an error).
    fn postfix_log(messages: u32) -> String {
        let t0 = Timestamp::new(1_610_323_200, 0).unwrap();
        let mut lines: Vec<(i64, u32, String)> = Vec::new();
        for i in 0..messages {
            let start = i64::from(i) * 20;
            let id = format!("{:X}", 0xA0000 + i % 50);
            let ip = format!("198.51.100.{}", i % 250);
            let mut at = |secs: i64, text: String| lines.push((start + secs, i, text));
            at(0, format!("postfix/smtpd[100]: connect from unknown[{ip}]"));
            at(1, format!("postfix/smtpd[100]: {id}: client=unknown[{ip}]"));
            at(2, format!("postfix/cleanup[101]: {id}: message-id=<{i}@example.org>"));
            let span = i64::from(i % 5) * 40;
            at(
                3 + span / 2,
                format!("postfix/qmgr[102]: {id}: from=<a{i}@example.org>, size=1234, nrcpt=1 (queue active)"),
            );
            at(
                4 + span,
                format!(
                    "postfix/smtp[103]: {id}: to=<b{i}@example.net>, relay=mx.example.net[203.0.113.5]:25, \
                     delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)"
                ),
            );
            if i % 9 != 0 {
                let removed = if i % 11 == 0 { 720 } else { 5 + span };
                at(removed, format!("postfix/qmgr[102]: {id}: removed"));
            }
            at(
                6 + span,
                format!("postfix/smtpd[100]: disconnect from unknown[{ip}] ehlo=1 quit=1 commands=2"),
            );
            if i % 7 == 0 {
                at(
                    7,
                    format!(
                        "postfix/smtpd[104]: NOQUEUE: reject: RCPT from unknown[{ip}]: 554 5.7.1 Service \
                         unavailable; from=<x{i}@spam.example> to=<c{i}@example.net> proto=ESMTP helo=<spam>"
                    ),
                );
            }
            if i % 13 == 0 {
                at(8, "a line no parser understands".into());
            }
        }
        lines.sort_by_key(|l| (l.0, l.1));
        let mut log = String::new();
        for (secs, _, text) in lines {
            if !text.starts_with("postfix/") {
                log.push_str(&text);
            } else {
                let ts = t0 + jiff::SignedDuration::from_secs(secs);
                log.push_str(&format!("{} mx1 {text}", ts.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00")));
            }
            log.push('\n');
        }
        log
    }

    /// Keeps every event as text.
    struct Texts(Vec<String>);

    impl EventSink for Texts {
        fn event(&mut self, event: &mut Event<'_>) -> io::Result<()> {
            self.0.push(format!("{event:?}"));
            Ok(())
        }
    }

    /// Every event as text (in the order `on_done` saw them), the statistics, and the units.
    fn mail_run(input: &Input, cfg: &BatchConfig) -> (Vec<String>, InputStats, usize) {
        let mut events = Vec::new();
        let mut units = 0;
        let stats = run_batch(
            std::slice::from_ref(input),
            cfg,
            None,
            |_| Texts(Vec::new()),
            |_, sink, _| {
                units += 1;
                events.extend(sink.0);
                Ok(())
            },
        )
        .unwrap();
        (events, stats.into_iter().next().unwrap(), units)
    }

    /// The counts a run must agree on, with the error examples and the assembly counts.
    fn mail_summary(s: &InputStats) -> impl PartialEq + std::fmt::Debug {
        (
            (
                s.lines,
                s.events,
                s.absorbed,
                s.other_programs,
                s.blank,
                s.errors,
                s.bytes,
            ),
            s.error_reasons.clone(),
            s.error_examples.clone(),
            s.assembly,
            s.failure.clone(),
        )
    }

    #[test]
    fn a_split_mail_log_gives_the_events_and_statistics_of_one_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("maillog");
        std::fs::write(&path, postfix_log(400)).unwrap();
        let input = Input::file(path);
        let (one, one_stats, _) = mail_run(&input, &config(1, 1024));
        // The log exercises what it should: timeouts, single-line events, errors.
        assert!(one_stats.assembly.timed_out >= 40, "{:?}", one_stats.assembly);
        assert!(one_stats.events > 400 && one_stats.errors >= 30, "{one_stats:?}");
        assert_eq!(one_stats.format, Some(Format::Postfix));
        let mut sorted_one = one.clone();
        sorted_one.sort();
        for (threads, chunk) in [(2, 1024), (3, 2048), (2, 4096), (4, 8192), (2, 64 << 10)] {
            let (split, stats, units) = mail_run(&input, &config(threads, chunk));
            assert!(units > 4, "{threads} threads, chunks of {chunk}: {units} units");
            assert_eq!(mail_summary(&stats), mail_summary(&one_stats), "{threads} × {chunk}");
            // The same events; only messages completed past a chunk's end come earlier.
            let mut sorted = split.clone();
            sorted.sort();
            assert!(sorted == sorted_one, "{threads} threads, chunks of {chunk}");
        }
    }

    #[test]
    fn every_mail_format_splits_to_one_runs_events_on_one_reused_id() {
        // Each format's example line over and over: one queue id reused by every message, all at
        // one time, so no look-behind is found and chunks replay from the file's start.
        let dir = tempfile::tempdir().unwrap();
        for format in [Format::Postfix, Format::Exim, Format::Sendmail] {
            let input = repeated(dir.path(), format.name(), format.info().example, 30_000);
            let (one, one_stats, _) = mail_run(&input, &config(1, 2048));
            assert!(one_stats.events > 0, "{format}: {one_stats:?}");
            for (threads, chunk) in [(2, 2048), (3, 5000)] {
                let (mut split, stats, units) = mail_run(&input, &config(threads, chunk));
                assert!(units > 4, "{format}: {units} units");
                assert_eq!(mail_summary(&stats), mail_summary(&one_stats), "{format}");
                let mut sorted_one = one.clone();
                sorted_one.sort();
                split.sort();
                assert!(split == sorted_one, "{format}: {threads} threads, chunks of {chunk}");
            }
        }
    }

    #[test]
    fn the_look_behind_covers_two_mail_timeouts_before_a_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("maillog");
        let log = postfix_log(400);
        std::fs::write(&path, &log).unwrap();
        let cfg = PipelineConfig::default();
        let decided = Decided {
            format: Format::Postfix,
            framing: Framing::Syslog,
        };
        let mut file = File::open(&path).unwrap();
        let len = log.len() as u64;
        let starts = chunk_starts(&mut file, len, len / 4).unwrap();
        let span = |start| Span {
            start,
            end: None,
            decided,
            modified: None,
        };
        let window = cfg.parse.mail_timeout * LOOK_BEHIND_TIMEOUTS;
        for &start in &starts[1..] {
            let from = mail_lookbehind(&mut file, span(start), &cfg).unwrap();
            let at = time_at(&mut file, start, span(start), &cfg).unwrap().unwrap();
            assert!(from == 0 || log.as_bytes()[from as usize - 1] == b'\n', "{from}");
            let back = time_at(&mut file, from, span(from), &cfg).unwrap().unwrap();
            assert!(back <= at - window, "{start}: {from}");
            // Not the whole file: the search stops within two steps of the window.
            if at - window > time_at(&mut file, 0, span(0), &cfg).unwrap().unwrap() + window {
                assert!(from > 0, "{start}");
            }
        }
        // A chunk whose first lines carry no time replays from the file's start.
        let untimed = dir.path().join("untimed");
        std::fs::write(
            &untimed,
            format!("{}\n{log}", "a line no parser understands\n".repeat(100)),
        )
        .unwrap();
        let mut file = File::open(&untimed).unwrap();
        assert_eq!(mail_lookbehind(&mut file, span(29 * 10), &cfg).unwrap(), 0);
    }
}
