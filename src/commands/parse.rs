//! `reconwatch parse`: events as JSON lines, or per-input statistics with `--stats`.

use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use super::EXIT_ERROR;
use crate::cli::ParseArgs;
use crate::event::Event;
use crate::metrics::Metrics;
use crate::pipeline::{EventSink, InputStats, run_input};
use crate::source;

/// Writes each event as one line of JSON.
pub struct JsonLines<W: Write>(pub W);

impl<W: Write> EventSink for JsonLines<W> {
    fn event(&mut self, event: &mut Event<'_>) -> io::Result<()> {
        serde_json::to_writer(&mut self.0, &*event)?;
        self.0.write_all(b"\n")
    }
}

pub fn run(args: &ParseArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.input.build()?;
    let inputs = source::expand(&args.input.paths)?;
    let metrics = Metrics::new();
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(256 * 1024, stdout.lock());
    let mut failed = false;
    for input in &inputs {
        let stats = if args.stats {
            let mut count = 0u64;
            run_input(input, &cfg, &mut count)?
        } else {
            run_input(input, &cfg, &mut JsonLines(&mut out))?
        };
        metrics.record_input(&stats);
        if let Some(f) = &stats.failure {
            failed = true;
            // Shown at once on stderr (the data goes to stdout), and again in --stats.
            out.flush()?;
            eprintln!("reconwatch: error: {f}");
        }
        if args.stats {
            if args.json {
                serde_json::to_writer(&mut out, &stats_json(&stats))?;
                writeln!(out)?;
            } else {
                write_stats_text(&mut out, &stats)?;
            }
        }
    }
    out.flush()?;
    if let Some(path) = &args.metrics_textfile {
        write_atomically(path, metrics.encode().as_bytes())
            .with_context(|| format!("--metrics-textfile {}", path.display()))?;
    }
    Ok(if failed {
        ExitCode::from(EXIT_ERROR)
    } else {
        ExitCode::SUCCESS
    })
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
        "  lines {}  events {}  absorbed {}  blank {}  errors {}  truncated {}  invalid-utf8 {}",
        s.lines, s.events, s.absorbed, s.blank, s.errors, s.truncated, s.invalid_utf8
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

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`, so a reader
/// (node_exporter) never sees half a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
