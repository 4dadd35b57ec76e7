//! `reconwatch scan`: logs in, alerts out (JSON lines), a summary on stderr.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context as _;

use super::EXIT_ERROR;
use super::context::Context;
use super::parse::{lock, parse_chunk_size, write_atomically};
use super::rules::load_rules;
use crate::alert::{Alert, write_json_line};
use crate::batch::{BatchConfig, UnitOutput, run_batch};
use crate::cli::ScanArgs;
use crate::enrich::stage::{EnrichScratch, Enricher};
use crate::event::Event;
use crate::metrics::Metrics;
use crate::pipeline::{EventSink, InputStats};
use crate::progress::{self, Progress};
use crate::rules::{Engine, Level, Scratch};
use crate::source;

/// Exit code when at least one alert was written.
const EXIT_ALERTS: u8 = 1;

/// Enriches each event, matches it, and writes an alert (a JSON line) to `out` for each rule
/// that matches.
pub struct AlertSink<'e, W: Write> {
    engine: &'e Engine,
    enricher: &'e Enricher,
    enrich_scratch: EnrichScratch<'e>,
    scratch: Scratch,
    matched: Vec<u32>,
    line: Vec<u8>,
    pub out: W,
    /// Alerts per rule (indexed like [`Engine::rules`]).
    pub counts: Vec<u64>,
}

impl<'e, W: Write> AlertSink<'e, W> {
    pub fn new(engine: &'e Engine, enricher: &'e Enricher, out: W) -> Self {
        AlertSink {
            engine,
            enricher,
            enrich_scratch: enricher.scratch(),
            scratch: engine.scratch(),
            matched: Vec::new(),
            line: Vec::new(),
            out,
            counts: vec![0; engine.rules().len()],
        }
    }
}

impl<W: Write> EventSink for AlertSink<'_, W> {
    fn event(&mut self, event: &mut Event<'_>) -> io::Result<()> {
        self.matched.clear();
        self.enricher.enrich(event, &mut self.enrich_scratch);
        self.engine.matches(event, &mut self.scratch, &mut self.matched);
        for &r in &self.matched {
            let hits = self.engine.explain(r, event, &self.scratch);
            let rule = &self.engine.rules()[r as usize];
            self.line.clear();
            write_json_line(
                &mut self.line,
                &Alert {
                    event,
                    rule: &rule.meta,
                    matches: &hits,
                },
            );
            self.out.write_all(&self.line)?;
            self.counts[r as usize] += 1;
        }
        Ok(())
    }
}

pub fn run(args: &ScanArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let pipeline = args.input.build()?;
    let chunk_bytes =
        parse_chunk_size(&args.chunk_size).with_context(|| format!("--chunk-size {}", args.chunk_size))?;
    let batch = BatchConfig {
        threads: args.threads,
        chunk_bytes,
        time_order: false,
        pipeline,
    };
    let metrics = Metrics::new();
    let context = Context::load(&args.rules.context, Some(&metrics), false)?;
    let (engine, rule_errors) = load_rules(&args.rules, &context, &metrics)?;
    let enricher = &context.enricher;
    let inputs = source::expand(&args.input.paths)?;
    let (writer, to_terminal): (Box<dyn Write + Send>, bool) = match &args.output {
        Some(path) => (
            Box::new(File::create(path).with_context(|| format!("--output {}", path.display()))?),
            false,
        ),
        None => (Box::new(io::stdout()), io::stdout().is_terminal()),
    };
    let out = Mutex::new(io::BufWriter::with_capacity(256 * 1024, writer));
    let progress = Progress::new();
    // Not over alerts printed on the same terminal.
    let show = progress::stderr_is_terminal() && !to_terminal && !args.quiet;
    let mut counts = vec![0u64; engine.rules().len()];
    let stats = progress::report_while(&progress, show, || {
        run_batch(
            &inputs,
            &batch,
            Some(&progress),
            |unit| AlertSink::new(&engine, enricher, UnitOutput::new(&out, unit)),
            |_, sink, stats| {
                sink.out.finish()?;
                for (c, n) in counts.iter_mut().zip(&sink.counts) {
                    *c += n;
                }
                if let Some(stats) = stats {
                    metrics.record_input(stats);
                    if let Some(f) = &stats.failure {
                        progress.suspended(|| eprintln!("reconwatch: error: {f}"));
                    }
                }
                Ok(())
            },
        )
    })?;
    lock(&out).flush()?;
    for (r, &n) in counts.iter().enumerate() {
        if n > 0 {
            let meta = &engine.rules()[r].meta;
            metrics
                .alerts
                .with_label_values(&[&meta.id, meta.level.name()])
                .inc_by(n);
        }
    }
    if !args.quiet {
        let summary = Summary {
            engine: &engine,
            enricher,
            stats: &stats,
            counts: &counts,
            seconds: started.elapsed().as_secs_f64(),
        };
        eprint!("{summary}");
    }
    if let Some(path) = &args.metrics_textfile {
        write_atomically(path, metrics.encode().as_bytes())
            .with_context(|| format!("--metrics-textfile {}", path.display()))?;
    }
    let failed = rule_errors > 0 || stats.iter().any(|s| s.failure.is_some());
    let alerts: u64 = counts.iter().sum();
    Ok(if failed {
        ExitCode::from(EXIT_ERROR)
    } else if alerts > 0 {
        ExitCode::from(EXIT_ALERTS)
    } else {
        ExitCode::SUCCESS
    })
}

/// The end-of-scan summary written to stderr.
struct Summary<'a> {
    engine: &'a Engine,
    enricher: &'a Enricher,
    stats: &'a [InputStats],
    counts: &'a [u64],
    seconds: f64,
}

impl std::fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sum = |g: fn(&InputStats) -> u64| self.stats.iter().map(g).sum::<u64>();
        let bytes = sum(|s| s.bytes);
        let failed = self.stats.iter().filter(|s| s.failure.is_some()).count();
        let alerts: u64 = self.counts.iter().sum();
        let secs = self.seconds.max(1e-9);
        writeln!(f, "reconwatch scan summary")?;
        // What the rules knew: a watchlist that did not load protects nobody.
        let lists: Vec<String> = self
            .enricher
            .watchlists()
            .lists()
            .iter()
            .map(|l| format!("{} ({} addresses, {} domains)", l.name, l.addresses, l.domains))
            .collect();
        let mut own: Vec<&str> = self.enricher.own_domains().collect();
        own.sort_unstable();
        writeln!(
            f,
            "  watchlists {}  intel indicators {}  own domains {}",
            if lists.is_empty() {
                "none".into()
            } else {
                lists.join(", ")
            },
            self.enricher.intel().len(),
            if own.is_empty() { "none".into() } else { own.join(", ") }
        )?;
        writeln!(
            f,
            "  inputs {} ({failed} failed)  lines {}  events {}  parse errors {}  rules {}",
            self.stats.len(),
            sum(|s| s.lines),
            sum(|s| s.events),
            sum(|s| s.errors),
            self.engine.rules().len()
        )?;
        writeln!(
            f,
            "  {:.1} MB in {:.2} s: {:.1} MB/s, {:.0} lines/s",
            bytes as f64 / 1e6,
            self.seconds,
            bytes as f64 / 1e6 / secs,
            sum(|s| s.lines) as f64 / secs
        )?;
        let mut by_level = [0u64; Level::ALL.len()];
        for (r, &n) in self.counts.iter().enumerate() {
            by_level[self.engine.rules()[r].meta.level as usize] += n;
        }
        let levels: Vec<String> = Level::ALL
            .iter()
            .rev()
            .filter(|l| by_level[**l as usize] > 0)
            .map(|l| format!("{} {}", l.name(), by_level[*l as usize]))
            .collect();
        writeln!(
            f,
            "  alerts {alerts}{}{}",
            if levels.is_empty() { "" } else { ": " },
            levels.join(", ")
        )?;
        let mut by_rule: Vec<(usize, u64)> = self
            .counts
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, n)| *n > 0)
            .collect();
        by_rule.sort_by(|a, b| {
            let (ra, rb) = (&self.engine.rules()[a.0].meta, &self.engine.rules()[b.0].meta);
            rb.level.cmp(&ra.level).then(b.1.cmp(&a.1)).then(ra.id.cmp(&rb.id))
        });
        for (r, n) in by_rule {
            let m = &self.engine.rules()[r].meta;
            writeln!(f, "  {n:>9}  {:<13} {}  ({})", m.level.name(), m.title, m.id)?;
        }
        Ok(())
    }
}
