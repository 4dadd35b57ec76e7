//! The core every mode shares: one input's lines go through framing, parsing and (in later
//! stages) everything after, and the events come out through an [`EventSink`].
//!
//! [`LineStream`] is the per-line core: one line in, framing and parsing, what parsers leave to
//! the caller filled in (`event.original`, `log.*`, syslog header fields), events out to an
//! [`EventSink`], everything counted in [`InputStats`] (taken as deltas, so metrics move while
//! an input stays open), multi-line mail flushed when the caller says time has passed. A tailed
//! file or a syslog listener feeds it line by line.
//!
//! [`run_input`] opens an input, detects its format from the first lines (unless one is forced)
//! and runs a [`LineStream`] over every line to the end. Batch commands call it per input.
//!
//! [`run_stream`] is the same loop with [`RunOptions`], for the parallel batch runner
//! (`crate::batch`): a run may start at a byte offset of a file (a chunk; `log.offset` stays
//! absolute), use a format decided on the file's first chunk instead of detecting one, prime its
//! parser with the lines before the chunk, read past the chunk's end (uncounted) until the mail
//! messages that opened in the chunk are complete ([`ReadOn`]), and report [`Tick`]s (every
//! [`TICK_LINES`] lines, so the per-line path gains one comparison) through which the caller
//! counts progress or stops it. [`InputStats::absorb`] merges the statistics of consecutive
//! chunks into those of one run.
//!
//! Invariants: every line read is counted exactly once, as blank, event, absorbed, another
//! program's or error (a page line may add errors for its unreadable records); a rejected line is counted with its
//! reason and the first few are kept as examples; an input that cannot be read or recognised is
//! reported with its name and never stops the other inputs.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io;
use std::ops::ControlFlow;

use jiff::Timestamp;

use crate::event::Event;
use crate::parse::assemble::AssemblyStats;
use crate::parse::detect::{self, Framing};
use crate::parse::syslog::YearHint;
use crate::parse::{Format, Line, LineParser, ParseContext, ParseError, Parsed};
use crate::source::{Compression, Input, LineReader, Opened, RawLine, Run};

/// Lines read before detection decides on a format.
const SAMPLE_LINES: usize = 64;
/// Error examples kept per input.
const MAX_EXAMPLES: usize = 5;

/// Where events go. A sink may change the event (later stages add fields); returning an error (a
/// closed pipe, say) stops the run.
pub trait EventSink {
    fn event(&mut self, event: &mut Event<'_>) -> io::Result<()>;
}

/// A sink that only counts (for `--stats` and benchmarks).
impl EventSink for u64 {
    fn event(&mut self, _event: &mut Event<'_>) -> io::Result<()> {
        *self += 1;
        Ok(())
    }
}

/// How inputs are read and parsed.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// `None` detects the format of each input.
    pub format: Option<Format>,
    /// Template for each input's [`ParseContext`] (`reference_time` is set per input).
    pub parse: ParseContext,
    /// Lines longer than this are cut and counted.
    pub max_line: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            format: None,
            parse: ParseContext::default(),
            max_line: crate::source::DEFAULT_MAX_LINE,
        }
    }
}

/// A rejected line kept as an example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorExample {
    pub line: u64,
    pub reason: &'static str,
}

/// Why an input could not be (fully) read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputFailure {
    /// It could not be opened.
    Unreadable(String),
    /// No parser accepted its first lines.
    Unrecognised(String),
    /// Reading stopped part-way (a truncated or corrupt archive); lines before were processed.
    ReadError(String),
}

impl InputFailure {
    /// Low-cardinality label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            InputFailure::Unreadable(_) => "unreadable",
            InputFailure::Unrecognised(_) => "unrecognised",
            InputFailure::ReadError(_) => "read_error",
        }
    }
}

impl std::fmt::Display for InputFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputFailure::Unreadable(m) | InputFailure::Unrecognised(m) | InputFailure::ReadError(m) => f.write_str(m),
        }
    }
}

/// What happened to one input.
#[derive(Debug, Clone, Default)]
pub struct InputStats {
    pub input: String,
    pub format: Option<Format>,
    pub framing: Option<Framing>,
    pub compression: Option<Compression>,
    /// Decompressed bytes read.
    pub bytes: u64,
    pub lines: u64,
    /// Events emitted (single-line events plus assembled messages).
    pub events: u64,
    /// Lines recognised that carry no event of their own.
    pub absorbed: u64,
    /// Syslog lines of other programs than the format's own (amavis, opendkim in a Postfix log):
    /// neither events nor errors.
    pub other_programs: u64,
    pub blank: u64,
    /// Lines rejected, plus records inside a page line that could not be read.
    pub errors: u64,
    pub error_reasons: BTreeMap<&'static str, u64>,
    pub error_examples: Vec<ErrorExample>,
    /// Lines cut at the length cap (they are still parsed).
    pub truncated: u64,
    /// Lines with invalid UTF-8 (replaced by U+FFFD and still parsed).
    pub invalid_utf8: u64,
    pub assembly: AssemblyStats,
    pub failure: Option<InputFailure>,
}

impl InputStats {
    fn error(&mut self, line: u64, e: ParseError) {
        self.errors += 1;
        *self.error_reasons.entry(e.reason).or_default() += 1;
        if self.error_examples.len() < MAX_EXAMPLES {
            self.error_examples.push(ErrorExample { line, reason: e.reason });
        }
    }

    /// The statistics of an input that failed before a line was read.
    pub fn failed(name: &str, failure: InputFailure) -> InputStats {
        InputStats {
            input: name.to_owned(),
            failure: Some(failure),
            ..Default::default()
        }
    }

    /// Adds the statistics of the chunk of the same input that follows the one(s) already in
    /// `self`: counts are summed, error reasons merged, the later chunk's error examples
    /// renumbered past the lines already counted (a chunk numbers its lines from 1) and kept up
    /// to the cap a single run keeps, and its failure kept when there was none before.
    pub fn absorb(&mut self, later: InputStats) {
        let before = self.lines;
        self.bytes += later.bytes;
        self.lines += later.lines;
        self.events += later.events;
        self.absorbed += later.absorbed;
        self.other_programs += later.other_programs;
        self.blank += later.blank;
        self.errors += later.errors;
        for (reason, n) in later.error_reasons {
            *self.error_reasons.entry(reason).or_default() += n;
        }
        let room = MAX_EXAMPLES.saturating_sub(self.error_examples.len());
        self.error_examples
            .extend(later.error_examples.into_iter().take(room).map(|e| ErrorExample {
                line: e.line + before,
                reason: e.reason,
            }));
        self.truncated += later.truncated;
        self.invalid_utf8 += later.invalid_utf8;
        self.assembly.timed_out += later.assembly.timed_out;
        self.assembly.evicted += later.assembly.evicted;
        self.assembly.flushed_at_end += later.assembly.flushed_at_end;
        if self.failure.is_none() {
            self.failure = later.failure;
        }
    }
}

/// A format and framing decided before a run (on a split file's first lines), so that the run
/// skips detection: a chunk in the middle of a file cannot tell its format from its own lines as
/// reliably as the file's first lines do, and must agree with the other chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decided {
    pub format: Format,
    pub framing: Framing,
}

/// Lines between two [`Tick`]s: rare enough to cost nothing per line, frequent enough (a few
/// milliseconds of work) for a progress display and a prompt stop.
pub const TICK_LINES: u64 = 4096;

/// What a run has read since its previous tick; reported every [`TICK_LINES`] lines and once at
/// the end of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Bytes read from the stream (decompressed, for a compressed input).
    pub bytes: u64,
    pub lines: u64,
}

/// How one run differs from reading a whole input from its start. The default is a whole input.
#[derive(Default)]
pub struct RunOptions<'r> {
    /// Offset in the input of the stream's first byte, added to every `log.offset`; a chunk of a
    /// file starts at a line start. Line numbers (error examples) stay relative to the stream.
    pub start: u64,
    /// Skip detection and use this format and framing.
    pub decided: Option<Decided>,
    /// Complete lines that precede the stream in the input. The parser reads them first and
    /// everything it makes of them is discarded: a line-independent parser may keep a hint
    /// (Squid's last matching layout) that decides which of its attempts reports a rejection,
    /// and priming it makes that hint what it would have been in a single run; a mail parser
    /// learns which queue ids are open at the stream's start (messages it does not own).
    pub warmup: Option<Warmup<'r>>,
    /// The stream is a chunk that ends before the input does: the mail messages whose first
    /// line lies in it are its own ([`ParseContext::owned`]), and it reads on past its end until
    /// they are all emitted.
    pub read_on: Option<ReadOn<'r>>,
    /// Called with every [`Tick`]; `Break` stops the run, which then returns an error of kind
    /// `Interrupted`.
    pub on_tick: Option<&'r mut dyn FnMut(Tick) -> ControlFlow<()>>,
}

/// Lines that precede a stream (see [`RunOptions::warmup`]).
pub struct Warmup<'r> {
    /// Offset in the input of the first byte of `lines`, a line start.
    pub from: u64,
    /// The input from `from` up to the stream's start.
    pub lines: &'r mut dyn io::Read,
}

/// What follows a chunk (see [`RunOptions::read_on`]). The lines read from `rest` are parsed as
/// a single run would parse them, so that messages fold, complete and time out as they would
/// there, but they are not counted and their own events and errors are discarded: they belong to
/// the next chunk. Only messages the chunk owns come out, and reading stops once none is open.
pub struct ReadOn<'r> {
    /// Offset in the input where the stream ends and `rest` begins (a line start).
    pub end: u64,
    pub rest: &'r mut dyn io::Read,
}

/// Reads one input to the end. Returns its statistics, or the sink's error (which stops the run).
pub fn run_input(input: &Input, cfg: &PipelineConfig, sink: &mut dyn EventSink) -> io::Result<InputStats> {
    match input.open() {
        Ok(opened) => run_opened(&input.name, opened, cfg, RunOptions::default(), sink),
        Err(e) => Ok(InputStats::failed(&input.name, InputFailure::Unreadable(e.to_string()))),
    }
}

/// [`run_stream`] on an opened input, recording its compression in the statistics.
pub fn run_opened(
    name: &str,
    opened: Opened,
    cfg: &PipelineConfig,
    opts: RunOptions<'_>,
    sink: &mut dyn EventSink,
) -> io::Result<InputStats> {
    let mut stats = run_stream(name, opened.reader, opened.modified, cfg, opts, sink)?;
    stats.compression = Some(opened.compression);
    Ok(stats)
}

/// Reads an already opened (and decompressed) stream to the end; `name` is reported as
/// `log.file.path`, and `modified` is the reference time for RFC 3164 years (now when `None`).
pub fn run_reader(
    name: &str,
    input: impl io::Read,
    modified: Option<Timestamp>,
    cfg: &PipelineConfig,
    sink: &mut dyn EventSink,
) -> io::Result<InputStats> {
    run_stream(name, input, modified, cfg, RunOptions::default(), sink)
}

/// One line of the detection sample: bytes, offset, number, truncated.
type SampleLine = (Vec<u8>, u64, u64, bool);

/// What detection made of an input's first lines.
enum Verdict {
    Use(Decided),
    /// Only blank lines.
    Empty,
    /// No parser accepts enough of them; the first non-blank line.
    Unrecognised(String),
}

/// Reads the detection sample: up to [`SAMPLE_LINES`] lines, and the read error that cut it short.
fn read_sample<R: io::Read>(reader: &mut LineReader<R>) -> (Vec<SampleLine>, Option<io::Error>) {
    let mut sample = Vec::with_capacity(SAMPLE_LINES);
    while sample.len() < SAMPLE_LINES {
        match reader.next() {
            Some(Ok(l)) => sample.push((l.bytes.to_vec(), l.offset, l.number, l.truncated)),
            Some(Err(e)) => return (sample, Some(e)),
            None => break,
        }
    }
    (sample, None)
}

fn decide(sample: &[SampleLine], ctx: &ParseContext, cfg: &PipelineConfig) -> Verdict {
    let texts: Vec<Cow<'_, str>> = sample.iter().map(|(b, ..)| String::from_utf8_lossy(b)).collect();
    let refs: Vec<&str> = texts.iter().map(|t| t.as_ref()).collect();
    let candidates: &[Format] = match &cfg.format {
        Some(f) => std::slice::from_ref(f),
        None => &Format::ALL,
    };
    let first = refs.iter().copied().find(|l| !l.trim().is_empty());
    match (detect::detect(&refs, ctx, candidates), cfg.format) {
        (Some(d), _) => Verdict::Use(Decided {
            format: d.format,
            framing: d.framing,
        }),
        // A forced format is used even when it accepts nothing: every line is then an error
        // with its reason, which is what the user asked to see.
        (None, Some(format)) => Verdict::Use(Decided {
            format,
            framing: first.map_or(Framing::None, Framing::sniff),
        }),
        (None, None) => match first {
            None => Verdict::Empty,
            Some(l) => Verdict::Unrecognised(l.to_owned()),
        },
    }
}

/// Detects the format and framing of a stream from its first lines exactly as a run would,
/// without running it; `None` when the run would report the input empty or unrecognised. (The
/// batch runner decides from this whether a file may be split.)
pub fn detect_stream(input: impl io::Read, modified: Option<Timestamp>, cfg: &PipelineConfig) -> Option<Decided> {
    let mut ctx = cfg.parse.clone();
    ctx.reference_time = modified.unwrap_or_else(Timestamp::now);
    let mut reader = LineReader::with_max_line(input, cfg.max_line);
    let (sample, _) = read_sample(&mut reader);
    match decide(&sample, &ctx, cfg) {
        Verdict::Use(d) => Some(d),
        Verdict::Empty | Verdict::Unrecognised(_) => None,
    }
}

/// [`detect_stream`] over lines already read (a live stream's first lines: `cfg.format`, when
/// set, is taken, and the sample only tells the framing).
pub fn detect_sample<'l>(
    lines: impl Iterator<Item = &'l [u8]>,
    reference_time: Timestamp,
    cfg: &PipelineConfig,
) -> Option<Decided> {
    let mut text = Vec::new();
    for bytes in lines {
        text.extend_from_slice(bytes);
        text.push(b'\n');
    }
    detect_stream(&text[..], Some(reference_time), cfg)
}

/// The earliest event time among the first lines of an input: the detection sample a run reads
/// ([`SAMPLE_LINES`] lines, decompressed), its format decided exactly as a run decides it, and
/// its lines parsed by a fresh parser, messages still being assembled at the end of the sample
/// included. The batch runner orders inputs by it
/// ([`BatchConfig::time_order`](crate::batch::BatchConfig::time_order)).
///
/// `None` for standard input and anything else that is not a regular file (never read here:
/// its lines would be lost to the run), an input that cannot be opened, is empty or unrecognised, or whose sample carries no time.
pub fn first_event_time(input: &Input, cfg: &PipelineConfig) -> Option<Timestamp> {
    // A pipe, FIFO or device can be read once only: the sample read here would be lost to the
    // run (or a FIFO whose writer is done would block the run's open forever).
    if !input.is_regular_file() {
        return None;
    }
    let opened = input.open().ok()?;
    let mut ctx = cfg.parse.clone();
    ctx.reference_time = opened.modified.unwrap_or_else(Timestamp::now);
    let mut reader = LineReader::with_max_line(opened.reader, cfg.max_line);
    // A read error that cuts the sample short leaves the lines before it, as in a run.
    let (sample, _) = read_sample(&mut reader);
    let Verdict::Use(decided) = decide(&sample, &ctx, cfg) else {
        return None;
    };
    earliest_in(&sample, decided, &ctx)
}

/// The earliest event time among the first lines (a detection sample) of a stream that starts at a
/// line start inside an input of the `decided` format (whose modification time is `modified`),
/// parsed as [`first_event_time`] parses an input's first lines. The batch runner finds with it
/// how far before a chunk of a mail log its look-behind must start.
pub fn sample_time(
    input: impl io::Read,
    decided: Decided,
    modified: Option<Timestamp>,
    cfg: &PipelineConfig,
) -> Option<Timestamp> {
    let mut ctx = cfg.parse.clone();
    ctx.reference_time = modified.unwrap_or_else(Timestamp::now);
    let mut reader = LineReader::with_max_line(input, cfg.max_line);
    let (sample, _) = read_sample(&mut reader);
    earliest_in(&sample, decided, &ctx)
}

/// The earliest event time a fresh parser makes of `sample`, messages still being assembled at
/// its end included.
fn earliest_in(sample: &[SampleLine], decided: Decided, ctx: &ParseContext) -> Option<Timestamp> {
    let mut run = LineStream::new(decided, ctx, "", 0);
    let mut earliest = Earliest(None);
    run.replay(sample, &mut earliest).ok()?;
    run.flush(None, &mut earliest).ok()?;
    earliest.0
}

/// A sink that drops what it is given.
struct Discard;

impl EventSink for Discard {
    fn event(&mut self, _event: &mut Event<'_>) -> io::Result<()> {
        Ok(())
    }
}

/// A sink that keeps the earliest `@timestamp` it sees.
struct Earliest(Option<Timestamp>);

impl EventSink for Earliest {
    fn event(&mut self, event: &mut Event<'_>) -> io::Result<()> {
        if let Some(t) = event.timestamp {
            self.0 = Some(self.0.map_or(t, |e| e.min(t)));
        }
        Ok(())
    }
}

/// [`run_reader`] with [`RunOptions`]: a run that starts inside an input (a chunk of a split
/// file), skips detection, or reports its progress.
pub fn run_stream(
    name: &str,
    input: impl io::Read,
    modified: Option<Timestamp>,
    cfg: &PipelineConfig,
    opts: RunOptions<'_>,
    sink: &mut dyn EventSink,
) -> io::Result<InputStats> {
    let mut stats = InputStats {
        input: name.to_owned(),
        ..Default::default()
    };
    let mut ctx = cfg.parse.clone();
    ctx.reference_time = modified.unwrap_or_else(Timestamp::now);
    ctx.owned = opts.start..opts.read_on.as_ref().map_or(u64::MAX, |r| r.end);
    let mut reader = LineReader::with_max_line(input, cfg.max_line);
    let mut ticker = Ticker {
        on_tick: opts.on_tick,
        bytes: 0,
        lines: 0,
        next_tick: TICK_LINES,
    };

    // Sample the first lines for detection; they are replayed to the parser afterwards.
    let (decided, sample, read_error) = match opts.decided {
        Some(d) => (d, Vec::new(), None),
        None => {
            let (sample, read_error) = read_sample(&mut reader);
            match decide(&sample, &ctx, cfg) {
                Verdict::Use(d) => (d, sample, read_error),
                Verdict::Empty if read_error.is_none() => {
                    // An empty input is not an error: there is nothing to recognise.
                    stats.lines = sample.len() as u64;
                    stats.blank = stats.lines;
                    stats.bytes = reader.bytes_read();
                    ticker.tick(stats.bytes, stats.lines)?;
                    return Ok(stats);
                }
                verdict => {
                    stats.failure = Some(match (verdict, read_error) {
                        // Damage before enough lines to recognise (a compressed file cut short):
                        // the damage is the news, not the format.
                        (_, Some(e)) => InputFailure::ReadError(format!(
                            "{name}: {e} (after {} lines, too few to recognise the format)",
                            sample.len()
                        )),
                        (verdict, None) => {
                            let first = match verdict {
                                Verdict::Unrecognised(l) => l,
                                _ => String::new(),
                            };
                            let shown: String = first.chars().take(120).collect();
                            InputFailure::Unrecognised(format!(
                                "{name}: no parser recognises this input (use --format to force one); first line: {shown:?}"
                            ))
                        }
                    });
                    stats.bytes = reader.bytes_read();
                    ticker.tick(stats.bytes, sample.len() as u64)?;
                    return Ok(stats);
                }
            }
        }
    };
    stats.format = Some(decided.format);
    stats.framing = Some(decided.framing);

    let mut run = LineStream::with_stats(decided, &ctx, name, opts.start, stats);
    if let Some(warmup) = opts.warmup {
        let mut lines = LineReader::with_max_line(warmup.lines, cfg.max_line);
        // Best effort, like the lines themselves: a read error ends the warm-up.
        while let Some(Ok(line)) = lines.next() {
            run.uncounted(line, warmup.from, &mut Discard)?;
        }
    }
    run.replay(&sample, sink)?;
    if let Some(e) = read_error {
        run.stats.failure = Some(InputFailure::ReadError(format!("{}: {e}", name)));
    } else {
        while let Some(next) = reader.next_run() {
            match next {
                Ok(Run::Lines(lines)) => {
                    let bytes = lines.bytes_read();
                    for (line, text) in lines {
                        run.checked_line(line, text, sink)?;
                        ticker.every(bytes, run.stats.lines)?;
                    }
                }
                Ok(Run::Line(line)) => {
                    run.line(line, sink)?;
                    ticker.every(reader.bytes_read(), run.stats.lines)?;
                }
                Err(e) => {
                    run.stats.failure = Some(InputFailure::ReadError(format!("{}: {e}", name)));
                    break;
                }
            }
        }
    }
    if let Some(read_on) = opts.read_on
        && run.stats.failure.is_none()
    {
        let mut lines = LineReader::with_max_line(read_on.rest, cfg.max_line);
        // A read error past the end is the next chunk's to report; here it ends the input, as
        // it would end a single run, which then emits what is still open.
        while run.parser.owned_pending() > 0
            && let Some(Ok(line)) = lines.next()
        {
            run.uncounted(line, read_on.end, sink)?;
        }
    }
    run.flush(None, sink)?;
    let mut stats = run.take_stats();
    stats.bytes = reader.bytes_read();
    ticker.tick(stats.bytes, stats.lines)?;
    Ok(stats)
}

/// Turns a run's running totals into [`Tick`]s of what was read since the previous one.
struct Ticker<'r> {
    on_tick: Option<&'r mut dyn FnMut(Tick) -> ControlFlow<()>>,
    bytes: u64,
    lines: u64,
    /// The line count at which [`every`](Ticker::every) ticks next.
    next_tick: u64,
}

impl Ticker<'_> {
    /// Ticks once every [`TICK_LINES`] lines.
    #[inline]
    fn every(&mut self, bytes: u64, lines: u64) -> io::Result<()> {
        if lines < self.next_tick {
            return Ok(());
        }
        self.next_tick += TICK_LINES;
        self.tick(bytes, lines)
    }

    fn tick(&mut self, bytes: u64, lines: u64) -> io::Result<()> {
        let Some(on_tick) = &mut self.on_tick else {
            return Ok(());
        };
        let tick = Tick {
            bytes: bytes - self.bytes,
            lines: lines - self.lines,
        };
        (self.bytes, self.lines) = (bytes, lines);
        match on_tick(tick) {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(()) => Err(io::Error::new(io::ErrorKind::Interrupted, "the run was stopped")),
        }
    }
}

/// One input's lines through framing and parsing: the per-line core every mode shares. The
/// batch runner ([`run_stream`]) drives it over a whole stream; a tailed file or a syslog
/// listener feeds it one line at a time as lines arrive, [`flush`](LineStream::flush)es mail
/// still being assembled when the source goes quiet, and takes its statistics as deltas
/// ([`take_stats`](LineStream::take_stats)) so metrics move while the source stays open.
///
/// It never reads, opens or waits for anything: the caller owns the source.
pub struct LineStream {
    parser: Box<dyn LineParser>,
    framing: Framing,
    hint: YearHint,
    /// `log.file.path` of its events.
    path: Box<str>,
    /// Offset of the stream in the input (see [`RunOptions::start`]).
    start: u64,
    /// Assembled events whose first line lies outside are dropped ([`ParseContext::owned`]).
    owned: std::ops::Range<u64>,
    stats: InputStats,
    /// The parser's assembly counts already reported by [`LineStream::take_stats`].
    assembly_reported: AssemblyStats,
}

impl LineStream {
    /// A stream of `decided` format whose events name `path` as `log.file.path`, starting at
    /// byte `start` of its input. `ctx.reference_time` dates RFC 3164 lines (they carry no year):
    /// a file's modification time, or now for a live source (see
    /// [`set_reference_time`](LineStream::set_reference_time)).
    pub fn new(decided: Decided, ctx: &ParseContext, path: &str, start: u64) -> Self {
        let stats = InputStats {
            input: path.to_owned(),
            format: Some(decided.format),
            framing: Some(decided.framing),
            ..InputStats::default()
        };
        Self::with_stats(decided, ctx, path, start, stats)
    }

    fn with_stats(decided: Decided, ctx: &ParseContext, path: &str, start: u64, stats: InputStats) -> Self {
        LineStream {
            parser: decided.format.parser(ctx),
            framing: decided.framing,
            hint: YearHint::new(ctx),
            path: path.into(),
            start,
            owned: ctx.owned.clone(),
            stats,
            assembly_reported: AssemblyStats::default(),
        }
    }

    /// Moves the reference for RFC 3164 year inference: a live source calls it with the clock
    /// now and then (a daemon started in November must date January's lines in the new year).
    pub fn set_reference_time(&mut self, now: Timestamp) {
        self.hint = self.hint.moved_to(now);
    }

    /// Feeds the detection sample to the parser, as the run's first lines.
    fn replay(&mut self, sample: &[SampleLine], sink: &mut dyn EventSink) -> io::Result<()> {
        for (bytes, offset, number, truncated) in sample {
            self.line(
                RawLine {
                    bytes,
                    offset: *offset,
                    number: *number,
                    truncated: *truncated,
                },
                sink,
            )?;
        }
        Ok(())
    }

    /// Parses one line; its events (and messages it completes) go to `sink`. Only the sink's
    /// error stops it: a bad line is counted with its reason.
    #[inline]
    pub fn line(&mut self, raw: RawLine<'_>, sink: &mut dyn EventSink) -> io::Result<()> {
        self.checked_line(raw, None, sink)
    }

    /// [`line`](LineStream::line) of a line whose text may already be known to be valid UTF-8
    /// (a reader's [`Lines`](crate::source::Lines) checks a whole run at once).
    #[inline]
    fn checked_line(&mut self, raw: RawLine<'_>, text: Option<&str>, sink: &mut dyn EventSink) -> io::Result<()> {
        self.stats.lines += 1;
        self.stats.truncated += raw.truncated as u64;
        let text = match text.map_or_else(|| std::str::from_utf8(raw.bytes), Ok) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => {
                self.stats.invalid_utf8 += 1;
                String::from_utf8_lossy(raw.bytes)
            }
        };
        if text.bytes().all(|b| b.is_ascii_whitespace()) {
            self.stats.blank += 1;
            return Ok(());
        }
        let line = self
            .framing
            .line(&text, self.start + raw.offset, raw.number, &self.hint);
        let mut event = Event::default();
        match self.parser.parse(&line, &mut event) {
            Ok(Parsed::Event) => {
                fill_from_line(&mut event, &line, &self.path);
                self.stats.events += 1;
                sink.event(&mut event)?;
            }
            Ok(Parsed::Absorbed) => self.stats.absorbed += 1,
            Ok(Parsed::OtherProgram) => self.stats.other_programs += 1,
            Err(e) => self.stats.error(raw.number, e),
        }
        while let Some(e) = self.parser.take_error() {
            self.stats.error(raw.number, e);
        }
        self.drain(sink)
    }

    /// Emits what multi-line assembly holds: every message whose first line is older than
    /// `before` (event time; a source gone quiet), or everything (`None`: the end of the input).
    pub fn flush(&mut self, before: Option<Timestamp>, sink: &mut dyn EventSink) -> io::Result<()> {
        self.parser.flush(before);
        self.drain(sink)
    }

    /// The statistics gathered since the previous call (all of them, the first time): counts
    /// are deltas, the input's name, format and framing are repeated. Lines number from the
    /// stream's start, so error examples keep their line numbers.
    pub fn take_stats(&mut self) -> InputStats {
        let assembly = self.parser.assembly_stats();
        let fresh = InputStats {
            input: self.stats.input.clone(),
            format: self.stats.format,
            framing: self.stats.framing,
            ..InputStats::default()
        };
        let mut delta = std::mem::replace(&mut self.stats, fresh);
        delta.assembly = AssemblyStats {
            timed_out: assembly.timed_out - self.assembly_reported.timed_out,
            evicted: assembly.evicted - self.assembly_reported.evicted,
            flushed_at_end: assembly.flushed_at_end - self.assembly_reported.flushed_at_end,
        };
        self.assembly_reported = assembly;
        delta
    }

    /// The offset of the first line not yet fully processed when multi-line mail is still
    /// being assembled (the first line of the oldest open message), or `None` when every line
    /// handed in is done with. A tailed file's checkpoint is the smaller of this and the offset
    /// after the last line: a restart there re-reads the open messages' lines (at least once).
    pub fn pending_from(&self) -> Option<u64> {
        self.parser.oldest_pending_offset()
    }

    /// Feeds a line outside the stream (before it: [`RunOptions::warmup`]; after it:
    /// [`RunOptions::read_on`]) to the parser, `base` being the offset in the input of the
    /// reader the line comes from. The line is not counted and its own event and errors are
    /// discarded; messages it completes go to `sink` when they are owned.
    fn uncounted(&mut self, raw: RawLine<'_>, base: u64, sink: &mut dyn EventSink) -> io::Result<()> {
        let text = String::from_utf8_lossy(raw.bytes);
        if text.bytes().all(|b| b.is_ascii_whitespace()) {
            return Ok(());
        }
        let line = self.framing.line(&text, base + raw.offset, raw.number, &self.hint);
        let _ = self.parser.parse(&line, &mut Event::default());
        while self.parser.take_error().is_some() {}
        self.drain(sink)
    }

    fn drain(&mut self, sink: &mut dyn EventSink) -> io::Result<()> {
        while let Some(mut event) = self.parser.take_completed() {
            // A message opened before a chunk, or past its end, is another chunk's to emit.
            if event.log.offset.is_some_and(|o| !self.owned.contains(&o)) {
                continue;
            }
            event.log.file.path = Some(Cow::Borrowed(&self.path));
            self.stats.events += 1;
            sink.event(&mut event)?;
        }
        Ok(())
    }
}

/// Fills what a single-line event takes from its line rather than from the parser.
fn fill_from_line<'a>(event: &mut Event<'a>, line: &Line<'a>, path: &'a str) {
    if event.event.original.is_none() {
        event.event.original = Some(Cow::Borrowed(line.raw));
    }
    event.log.file.path = Some(Cow::Borrowed(path));
    if event.log.offset.is_none() {
        event.log.offset = Some(line.offset);
    }
    if let Some(h) = &line.syslog {
        if event.timestamp.is_none() {
            event.timestamp = h.timestamp;
        }
        if event.host.hostname.is_none() {
            event.host.hostname = h.hostname.map(Cow::Borrowed);
        }
        if event.process.name.is_none() {
            event.process.name = h.app.map(Cow::Borrowed);
            event.process.pid = event.process.pid.or(h.pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn file(dir: &Path, name: &str, text: &str) -> Input {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        Input::file(path)
    }

    fn at(s: &str) -> Option<Timestamp> {
        Some(s.parse().unwrap())
    }

    /// Keeps the events it is given (owned), for tests that look at them.
    #[derive(Default)]
    struct Kept(Vec<Event<'static>>);

    impl EventSink for Kept {
        fn event(&mut self, event: &mut Event<'_>) -> io::Result<()> {
            self.0.push(event.clone().into_owned());
            Ok(())
        }
    }

    /// The per-line core as a tail drives it: lines one at a time, a message still being
    /// assembled emitted by `flush(before)` when the source goes quiet, statistics as deltas.
    #[test]
    fn a_line_stream_is_fed_line_by_line_and_flushed_when_quiet() {
        let decided = Decided {
            format: Format::Postfix,
            framing: Framing::Syslog,
        };
        let ctx = ParseContext::default();
        let mut stream = LineStream::new(decided, &ctx, "maillog", 0);
        let mut kept = Kept::default();
        let lines = [
            "2021-01-13T06:04:00.500000+01:00 mx1 postfix/smtpd[9790]: 612B0EBAA83: client=mx4.example[203.0.113.126]",
            "2021-01-13T06:04:00.831886+01:00 mx1 postfix/cleanup[9792]: 612B0EBAA83: message-id=<a@mx4.example>",
            "2021-01-13T06:04:00.900000+01:00 mx1 amavis[1200]: (01234-01) Passed CLEAN",
            "not a syslog line",
        ];
        let mut offset = 0;
        for (n, text) in lines.iter().enumerate() {
            let raw = RawLine {
                bytes: text.as_bytes(),
                offset,
                number: n as u64 + 1,
                truncated: false,
            };
            stream.line(raw, &mut kept).unwrap();
            offset += text.len() as u64 + 1;
        }
        assert!(kept.0.is_empty(), "the message is still being assembled");
        let first = stream.take_stats();
        assert_eq!(
            (
                first.lines,
                first.events,
                first.absorbed,
                first.other_programs,
                first.errors
            ),
            (4, 0, 2, 1, 1)
        );
        // Quiet: nothing before an earlier time is pending; then the message goes out.
        stream.flush(at("2021-01-13T05:04:00Z"), &mut kept).unwrap();
        assert!(kept.0.is_empty());
        stream.flush(at("2021-01-13T05:30:00Z"), &mut kept).unwrap();
        assert_eq!(kept.0.len(), 1);
        assert_eq!(kept.0[0].email.message_id.as_deref(), Some("a@mx4.example"));
        let second = stream.take_stats();
        assert_eq!((second.lines, second.events, second.errors), (0, 1, 0), "a delta");
        assert_eq!(second.input, "maillog");
    }

    /// RFC 3164 lines carry no year: a live source's reference time follows the clock.
    #[test]
    fn a_live_stream_dates_rfc3164_lines_by_the_reference_time_it_is_given() {
        let decided = Decided {
            format: Format::Postfix,
            framing: Framing::Syslog,
        };
        let ctx = ParseContext {
            reference_time: "2021-11-20T00:00:00Z".parse().unwrap(),
            ..ParseContext::default()
        };
        let mut stream = LineStream::new(decided, &ctx, "live", 0);
        let line = "Jan  3 10:00:00 mx1 postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[198.18.230.20]: 550 5.1.1 <a@b.example>: Recipient address rejected: User unknown; from=<x@y.example> to=<a@b.example> proto=ESMTP helo=<h>";
        let raw = RawLine {
            bytes: line.as_bytes(),
            offset: 0,
            number: 1,
            truncated: false,
        };
        let mut kept = Kept::default();
        stream.line(raw, &mut kept).unwrap();
        stream.set_reference_time("2022-01-03T10:00:05Z".parse().unwrap());
        stream.line(raw, &mut kept).unwrap();
        let years: Vec<i16> = kept
            .0
            .iter()
            .map(|e| e.timestamp.unwrap().to_zoned_datetime(jiff::tz::TimeZone::UTC).year())
            .collect();
        assert_eq!(
            years,
            [2021, 2022],
            "started in November: January was last January; then the clock moved on"
        );
    }

    #[test]
    fn first_event_time_includes_messages_assembled_at_the_end_of_the_sample() {
        let dir = tempfile::tempdir().unwrap();
        // The connect line carries no event of its own; the message is only complete when the
        // sample is flushed, and takes the time of its first line.
        let postfix = file(
            dir.path(),
            "maillog",
            "2021-01-13T06:03:59.000000+01:00 mx1 postfix/smtpd[9790]: connect from mx4.example[203.0.113.126]\n\
             2021-01-13T06:04:00.500000+01:00 mx1 postfix/smtpd[9790]: 612B0EBAA83: client=mx4.example[203.0.113.126]\n\
             2021-01-13T06:04:00.831886+01:00 mx1 postfix/cleanup[9792]: 612B0EBAA83: message-id=<a@mx4.example>\n\
             2021-01-13T06:04:00.900000+01:00 mx1 postfix/qmgr[1200]: 612B0EBAA83: from=<a@mx4.example>, size=1000, nrcpt=1 (queue active)\n",
        );
        let cfg = PipelineConfig::default();
        let mut events = 0u64;
        let stats = run_input(&postfix, &cfg, &mut events).unwrap();
        assert_eq!((stats.format, events), (Some(Format::Postfix), 1), "{stats:?}");
        assert_eq!(first_event_time(&postfix, &cfg), at("2021-01-13T05:04:00.5Z"));
    }

    #[test]
    fn first_event_time_is_the_earliest_in_the_sample() {
        let dir = tempfile::tempdir().unwrap();
        let squid = |t: &str| {
            format!(
                "{t}    169 10.20.1.15 TCP_MISS/200 447 GET http://a.example/ - HIER_DIRECT/198.51.100.1 text/html\n"
            )
        };
        let cfg = PipelineConfig::default();
        // Not in time order; a blank line and a rejected line in between.
        let text = [
            squid("1610356090.000"),
            "\n".into(),
            "garbage\n".into(),
            squid("1610356086.534"),
        ]
        .concat();
        let plain = file(dir.path(), "access.log", &text);
        assert_eq!(first_event_time(&plain, &cfg), at("2021-01-11T09:08:06.534Z"));
        // Syslog-framed: the squid line's own time is the event's.
        let framed = file(
            dir.path(),
            "framed.log",
            &format!("<13>Jan 11 10:00:00 proxy squid[1]: {}", squid("1610356086.534")),
        );
        assert_eq!(first_event_time(&framed, &cfg), at("2021-01-11T09:08:06.534Z"));
        // Lines past the sample are not read.
        let late = [squid("1610356090.000").repeat(SAMPLE_LINES), squid("1610356086.534")].concat();
        let late = file(dir.path(), "late.log", &late);
        assert_eq!(first_event_time(&late, &cfg), at("2021-01-11T09:08:10Z"));
    }

    #[test]
    fn first_event_time_is_none_without_a_time_to_tell() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = PipelineConfig::default();
        let cases = [
            Input::stdin(),
            Input::file(dir.path().join("missing")),
            file(dir.path(), "empty", ""),
            file(dir.path(), "blank", "\n\n"),
            file(dir.path(), "junk", "nothing anyone logs\n"),
        ];
        for input in &cases {
            assert_eq!(first_event_time(input, &cfg), None, "{}", input.name);
        }
        // A forced format that accepts nothing gives errors, not times.
        let forced = PipelineConfig {
            format: Some(Format::Squid),
            ..PipelineConfig::default()
        };
        assert_eq!(first_event_time(&cases[4], &forced), None);
    }
}
