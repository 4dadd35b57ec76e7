//! The core every mode shares: one input's lines go through framing, parsing and (in later
//! stages) everything after, and the events come out through an [`EventSink`].
//!
//! [`run_input`] opens an input, detects its format from the first lines (unless one is forced),
//! feeds every line to the parser, fills in what parsers leave to the caller (`event.original`,
//! `log.*`, syslog header fields), and counts everything in [`InputStats`]. Batch commands call it
//! per input; the daemon will call the same function on tailed files and sockets.
//!
//! Invariants: every line read is counted exactly once, as blank, event, absorbed or error (a
//! page line may add errors for its unreadable records); a rejected line is counted with its reason and the first few are kept as examples; an input that
//! cannot be read or recognised is reported with its name and never stops the other inputs.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io;

use jiff::Timestamp;

use crate::event::Event;
use crate::parse::assemble::AssemblyStats;
use crate::parse::detect::{self, Framing};
use crate::parse::syslog::YearHint;
use crate::parse::{Format, Line, LineParser, ParseContext, ParseError, Parsed};
use crate::source::{Compression, Input, LineReader, RawLine};

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
}

/// Reads one input to the end. Returns its statistics, or the sink's error (which stops the run).
pub fn run_input(input: &Input, cfg: &PipelineConfig, sink: &mut dyn EventSink) -> io::Result<InputStats> {
    match input.open() {
        Ok(opened) => {
            let mut stats = run_reader(&input.name, opened.reader, opened.modified, cfg, sink)?;
            stats.compression = Some(opened.compression);
            Ok(stats)
        }
        Err(e) => Ok(InputStats {
            input: input.name.clone(),
            failure: Some(InputFailure::Unreadable(e.to_string())),
            ..Default::default()
        }),
    }
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
    let mut stats = InputStats {
        input: name.to_owned(),
        ..Default::default()
    };
    let mut ctx = cfg.parse.clone();
    ctx.reference_time = modified.unwrap_or_else(Timestamp::now);
    let mut reader = LineReader::with_max_line(input, cfg.max_line);

    // Sample the first lines for detection; they are replayed to the parser afterwards.
    let mut sample: Vec<(Vec<u8>, u64, u64, bool)> = Vec::with_capacity(SAMPLE_LINES);
    let mut read_error = None;
    while sample.len() < SAMPLE_LINES {
        match reader.next() {
            Some(Ok(l)) => sample.push((l.bytes.to_vec(), l.offset, l.number, l.truncated)),
            Some(Err(e)) => {
                read_error = Some(e);
                break;
            }
            None => break,
        }
    }
    let texts: Vec<Cow<'_, str>> = sample.iter().map(|(b, ..)| String::from_utf8_lossy(b)).collect();
    let refs: Vec<&str> = texts.iter().map(|t| t.as_ref()).collect();
    let candidates: &[Format] = match &cfg.format {
        Some(f) => std::slice::from_ref(f),
        None => &Format::ALL,
    };
    let detection = detect::detect(&refs, &ctx, candidates);
    let (format, framing) = match (detection, cfg.format) {
        (Some(d), _) => (d.format, d.framing),
        // A forced format is used even when it accepts nothing: every line is then an error
        // with its reason, which is what the user asked to see.
        (None, Some(f)) => (
            f,
            refs.iter()
                .copied()
                .find(|l| !l.trim().is_empty())
                .map_or(Framing::None, Framing::sniff),
        ),
        (None, None) => {
            if refs.iter().all(|l| l.trim().is_empty()) && read_error.is_none() {
                // An empty input is not an error: there is nothing to recognise.
                stats.lines = sample.len() as u64;
                stats.blank = stats.lines;
                stats.bytes = reader.bytes_read();
                return Ok(stats);
            }
            let first = refs.iter().find(|l| !l.trim().is_empty()).copied().unwrap_or("");
            let shown: String = first.chars().take(120).collect();
            stats.failure = Some(InputFailure::Unrecognised(format!(
                "{}: no parser recognises this input (use --format to force one); first line: {shown:?}",
                name
            )));
            stats.bytes = reader.bytes_read();
            return Ok(stats);
        }
    };
    stats.format = Some(format);
    stats.framing = Some(framing);

    let mut run = Run {
        parser: format.parser(&ctx),
        framing,
        hint: YearHint::new(&ctx),
        path: name,
        stats,
    };
    for (bytes, offset, number, truncated) in &sample {
        run.line(
            RawLine {
                bytes,
                offset: *offset,
                number: *number,
                truncated: *truncated,
            },
            sink,
        )?;
    }
    if let Some(e) = read_error {
        run.stats.failure = Some(InputFailure::ReadError(format!("{}: {e}", name)));
    } else {
        while let Some(next) = reader.next() {
            match next {
                Ok(line) => run.line(line, sink)?,
                Err(e) => {
                    run.stats.failure = Some(InputFailure::ReadError(format!("{}: {e}", name)));
                    break;
                }
            }
        }
    }
    run.parser.flush(None);
    run.drain(sink)?;
    run.stats.assembly = run.parser.assembly_stats();
    run.stats.bytes = reader.bytes_read();
    Ok(run.stats)
}

struct Run<'p> {
    parser: Box<dyn LineParser>,
    framing: Framing,
    hint: YearHint,
    path: &'p str,
    stats: InputStats,
}

impl Run<'_> {
    #[inline]
    fn line(&mut self, raw: RawLine<'_>, sink: &mut dyn EventSink) -> io::Result<()> {
        self.stats.lines += 1;
        self.stats.truncated += raw.truncated as u64;
        let text = match std::str::from_utf8(raw.bytes) {
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
        let line = self.framing.line(&text, raw.offset, raw.number, &self.hint);
        let mut event = Event::default();
        match self.parser.parse(&line, &mut event) {
            Ok(Parsed::Event) => {
                fill_from_line(&mut event, &line, self.path);
                self.stats.events += 1;
                sink.event(&mut event)?;
            }
            Ok(Parsed::Absorbed) => self.stats.absorbed += 1,
            Err(e) => self.stats.error(raw.number, e),
        }
        while let Some(e) = self.parser.take_error() {
            self.stats.error(raw.number, e);
        }
        self.drain(sink)
    }

    fn drain(&mut self, sink: &mut dyn EventSink) -> io::Result<()> {
        while let Some(mut event) = self.parser.take_completed() {
            event.log.file.path = Some(Cow::Borrowed(self.path));
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
