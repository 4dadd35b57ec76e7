//! `reconwatch parse`: events as JSON lines, or per-input statistics with `--stats`.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Mutex, MutexGuard, PoisonError};

use anyhow::Context as _;
use serde_json::json;

use super::EXIT_ERROR;
use super::context::load_context;
use super::output::{self, InputFiles};
use crate::batch::{BatchConfig, DEFAULT_CHUNK_BYTES, UnitOutput, run_batch};
use crate::cli::ParseArgs;
use crate::enrich::stage::{EnrichScratch, Enricher};
use crate::event::Event;
use crate::metrics::Metrics;
use crate::pipeline::{EventSink, InputStats};
use crate::progress::{self, Progress};
use crate::size::parse_chunk_size;
use crate::source;

/// Writes each event as one line of JSON, after the enrichment stage when there is one.
pub struct JsonLines<'e, W: Write> {
    pub out: W,
    enrich: Option<(&'e Enricher, EnrichScratch<'e>)>,
}

impl<W: Write> EventSink for JsonLines<'_, W> {
    fn event(&mut self, event: &mut Event<'_>) -> io::Result<()> {
        if let Some((enricher, scratch)) = &mut self.enrich {
            enricher.enrich(event, scratch);
        }
        serde_json::to_writer(&mut self.out, &*event)?;
        self.out.write_all(b"\n")
    }
}

/// Chunk size when events are printed: a chunk's events (about five times its size in JSON) wait
/// in memory until the chunks before it are written, so chunks are smaller than for `--stats`.
const EVENTS_CHUNK_BYTES: u64 = 4 << 20;

pub fn run(args: &ParseArgs) -> anyhow::Result<ExitCode> {
    let (config, spec) = args.context.spec(false)?;
    let pipeline = args.input.build(config.timezone.as_deref())?;
    let chunk_bytes = match &args.chunk_size {
        Some(s) => parse_chunk_size(s).with_context(|| format!("--chunk-size {s}"))?,
        None if args.stats => DEFAULT_CHUNK_BYTES,
        None => EVENTS_CHUNK_BYTES,
    };
    let batch = BatchConfig {
        threads: args.threads,
        chunk_bytes,
        time_order: false,
        pipeline,
    };
    let inputs = source::expand(&args.input.paths);
    // Before anything is opened for writing: no output may be one of the logs.
    let input_files = InputFiles::of(&inputs);
    input_files.refuse_stdout()?;
    if let Some(path) = &args.metrics_textfile {
        input_files.refuse_textfile("--metrics-textfile", path)?;
    }
    let metrics = Metrics::new();
    let context = if args.enrich || !args.context.is_empty() {
        Some(load_context(&spec, Some(&metrics))?)
    } else {
        None
    };
    let enricher = context.as_ref().map(|c| &c.enricher);
    let out = Mutex::new(BufWriter::with_capacity(256 * 1024, io::stdout()));
    let progress = Progress::new();
    // Not over events printed on the same terminal; --stats output is written at the end or
    // after clearing the line.
    let show = progress::stderr_is_terminal() && (args.stats || !io::stdout().is_terminal());
    let mut failed = false;
    let mut input_done = |stats: &InputStats| -> io::Result<()> {
        metrics.record_input(stats);
        if let Some(f) = &stats.failure {
            failed = true;
            // Shown at once on stderr (the data goes to stdout), and again in --stats.
            progress.suspended(|| {
                lock(&out).flush()?;
                eprintln!("reconwatch: error: {f}");
                io::Result::Ok(())
            })?;
        }
        if args.stats {
            let mut out = lock(&out);
            if args.json {
                serde_json::to_writer(&mut *out, &stats_json(stats))?;
                writeln!(out)?;
            } else {
                write_stats_text(&mut *out, stats)?;
            }
        }
        Ok(())
    };
    progress::report_while(&progress, show, || {
        if args.stats {
            run_batch(
                &inputs,
                &batch,
                Some(&progress),
                |_| 0u64,
                |_, _, stats| stats.map_or(Ok(()), &mut input_done),
            )
        } else {
            run_batch(
                &inputs,
                &batch,
                Some(&progress),
                |unit| JsonLines {
                    out: UnitOutput::new(&out, unit),
                    enrich: enricher.map(|e| (e, e.scratch())),
                },
                |_, sink, stats| {
                    sink.out.finish()?;
                    stats.map_or(Ok(()), &mut input_done)
                },
            )
        }
        .and_then(|_| lock(&out).flush())
    })
    .context("writing to standard output")?;
    if let Some(path) = &args.metrics_textfile {
        output::write_atomically(path, metrics.encode().as_bytes())
            .with_context(|| format!("--metrics-textfile {}", path.display()))?;
    }
    Ok(if failed {
        ExitCode::from(EXIT_ERROR)
    } else {
        ExitCode::SUCCESS
    })
}

pub(super) fn lock<W>(out: &Mutex<W>) -> MutexGuard<'_, W> {
    out.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The `--stats --json` object for one input.
pub fn stats_json(s: &InputStats) -> serde_json::Value {
    let examples: Vec<_> = s
        .error_examples
        .iter()
        .map(|e| json!({"line": e.line, "reason": e.reason, "at": format!("{}:{}", s.input, e.line)}))
        .collect();
    json!({
        "path": s.input,
        "format": s.format.map(|f| f.name()),
        "framing": s.framing.map(|f| match f {
            crate::parse::detect::Framing::None => "none",
            crate::parse::detect::Framing::Syslog => "syslog",
        }),
        "compression": s.compression.map(|c| c.name()),
        "bytes": s.bytes,
        "lines": s.lines,
        "events": s.events,
        "absorbed": s.absorbed,
        "other_programs": s.other_programs,
        "blank": s.blank,
        "errors": s.errors,
        "error_reasons": s.error_reasons,
        "error_examples": examples,
        "truncated": s.truncated,
        "invalid_utf8": s.invalid_utf8,
        "mail_incomplete": {
            "timeout": s.assembly.timed_out,
            "evicted": s.assembly.evicted,
            "end_of_input": s.assembly.flushed_at_end,
        },
        "failure": s.failure.as_ref().map(|f| json!({"kind": f.kind(), "message": f.to_string()})),
    })
}

fn write_stats_text(out: &mut impl Write, s: &InputStats) -> io::Result<()> {
    let format = s.format.map_or("-", |f| f.name());
    let framing = match s.framing {
        Some(crate::parse::detect::Framing::Syslog) => " over syslog",
        _ => "",
    };
    let compression = match s.compression {
        Some(c) if c != source::Compression::None => format!(", {}", c.name()),
        _ => String::new(),
    };
    writeln!(out, "{}: {format}{framing}{compression}", s.input)?;
    writeln!(
        out,
        "  lines {}  events {}  absorbed {}  other-programs {}  blank {}  errors {}  truncated {}  invalid-utf8 {}",
        s.lines, s.events, s.absorbed, s.other_programs, s.blank, s.errors, s.truncated, s.invalid_utf8
    )?;
    let a = s.assembly;
    if a.timed_out + a.evicted > 0 {
        writeln!(
            out,
            "  mail messages emitted incomplete: {} timed out, {} evicted",
            a.timed_out, a.evicted
        )?;
    }
    for (reason, n) in &s.error_reasons {
        writeln!(out, "  {n} x {reason}")?;
    }
    for e in &s.error_examples {
        writeln!(out, "  {}:{}: {}", s.input, e.line, e.reason)?;
    }
    if let Some(f) = &s.failure {
        writeln!(out, "  FAILED ({}): {f}", f.kind())?;
    }
    Ok(())
}
#[cfg(test)]
mod tests {
    use super::*;

    /// Other programs' lines (amavis in a Postfix log) are shown in `--stats`, text and JSON.
    #[test]
    fn stats_show_other_programs() {
        let stats = InputStats {
            input: "maillog".into(),
            format: Some(crate::parse::Format::Postfix),
            lines: 10,
            events: 2,
            absorbed: 5,
            other_programs: 3,
            ..InputStats::default()
        };
        assert_eq!(stats_json(&stats)["other_programs"], 3);
        let mut text = Vec::new();
        write_stats_text(&mut text, &stats).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains("absorbed 5  other-programs 3  blank 0  errors 0"),
            "{text}"
        );
    }
}
