//! `reconwatch scan`: logs in, alerts out (JSON lines), a summary on stderr.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context as _;

use super::EXIT_ERROR;
use super::context::{SkipReport, load_detector};
use super::output::{self, InputFiles};
use super::parse::lock;
use crate::alert::JsonLines;
use crate::batch::{BatchConfig, Unit, UnitOutput, run_batch};
use crate::cli::ScanArgs;
use crate::correlate::SourceId;
use crate::detect::{Correlating, Detecting};
use crate::enrich::stage::Enricher;
use crate::metrics::Metrics;
use crate::pipeline::InputStats;
use crate::progress::{self, Progress};
use crate::rules::{Level, RuleMeta};
use crate::size::parse_chunk_size;
use crate::source;
use crate::targets::Tally;

/// Exit code when at least one alert was written.
const EXIT_ALERTS: u8 = 1;

/// The batch's watermark once `unit` is done, given the newest event time of its input so far:
/// no later input starts before `later_start`; the input's own later chunks continue from its
/// newest event.
fn unit_watermark(unit: &Unit, newest: Option<i64>) -> i64 {
    let mut watermark = unit.later_start.map(|t| t.as_millisecond());
    if !unit.is_last_chunk() {
        let newest = newest.unwrap_or(i64::MIN);
        watermark = Some(watermark.map_or(newest, |w| w.min(newest)));
    }
    watermark.unwrap_or(i64::MAX)
}

/// The correlation metrics at the end of a scan.
fn record_correlation(correlating: &Correlating, metrics: &Metrics) {
    let c = correlating.contributed();
    let stage = correlating.stage();
    let late = stage.merge_stats().late;
    for (outcome, n) in [
        ("correlated", c.made - late),
        ("late", late),
        ("no_timestamp", c.no_timestamp),
        ("no_group_field", c.no_group_field),
        ("too_many_keys", c.too_many_keys),
    ] {
        metrics
            .correlation_contributions
            .with_label_values(&[outcome])
            .inc_by(n);
    }
    for (i, comp) in stage.correlations().list.iter().enumerate() {
        let id = comp.rule.meta.id.as_str();
        metrics
            .correlation_open_groups
            .with_label_values(&[id])
            .set(stage.open_groups(i) as i64);
        metrics
            .correlation_evictions
            .with_label_values(&[id])
            .inc_by(stage.stats(i).evicted);
    }
}

pub fn run(args: &ScanArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (config, mut detector_config) = args.rules.detector_config()?;
    let pipeline = args.input.build(config.timezone.as_deref())?;
    let chunk_bytes =
        parse_chunk_size(&args.chunk_size).with_context(|| format!("--chunk-size {}", args.chunk_size))?;
    let (correlation, lateness_text) =
        super::context::correlation_settings(args.lateness.as_deref(), args.max_groups, &config)?;
    detector_config.correlation = correlation;
    let metrics = Metrics::new();
    let skips = match (args.quiet, args.verbose) {
        (_, true) => SkipReport::EachRule,
        (true, false) => SkipReport::Quiet,
        (false, false) => SkipReport::Count,
    };
    let (detector, rule_errors) = load_detector(&detector_config, &metrics, skips)?;
    metrics.record_rules(&detector);
    let (engine, correlations) = (detector.engine(), detector.correlations());
    let batch = BatchConfig {
        threads: args.threads,
        chunk_bytes,
        pipeline,
        // Correlation needs the inputs in event-time order.
        time_order: !correlations.is_empty(),
    };
    let enricher = detector.enricher();
    let inputs = source::expand(&args.input.paths);
    // Before anything is opened for writing: no output may be one of the logs.
    let input_files = InputFiles::of(&inputs);
    if let Some(path) = &args.metrics_textfile {
        input_files.refuse_textfile("--metrics-textfile", path)?;
    }
    let (writer, to_terminal): (Box<dyn Write + Send>, bool) = match &args.output {
        Some(path) => (Box::new(output::create("--output", path, &input_files)?), false),
        None => {
            input_files.refuse_stdout()?;
            (Box::new(io::stdout()), io::stdout().is_terminal())
        }
    };
    let output_name = args
        .output
        .as_ref()
        .map_or_else(|| "standard output".to_owned(), |p| p.display().to_string());
    let out = Mutex::new(io::BufWriter::with_capacity(256 * 1024, writer));
    // Loading rules, watchlists and intel is reported apart from the scan's rate.
    let scan_started = Instant::now();
    let progress = Progress::new();
    // Not over alerts printed on the same terminal.
    let show = progress::stderr_is_terminal() && !to_terminal && !args.quiet;
    let mut counts = vec![0u64; engine.rules().len()];
    let mut targets = Tally::default();
    let mut correlating = detector.correlating();
    let stats = progress::report_while(&progress, show, || {
        let stats = run_batch(
            &inputs,
            &batch,
            Some(&progress),
            |unit| Detecting {
                worker: detector.worker(),
                sink: JsonLines {
                    out: UnitOutput::new(&out, unit),
                },
            },
            |unit, mut unit_sink, stats| {
                unit_sink.sink.out.finish()?;
                for (c, n) in counts.iter_mut().zip(unit_sink.worker.alert_counts()) {
                    *c += n;
                }
                targets.merge(unit_sink.worker.take_targets());
                // Each input is a source of its own; after each unit, what no later unit can
                // precede is correlated.
                let (contributions, skipped) = unit_sink.worker.take_contributions();
                let source = SourceId(unit.input as u64);
                correlating.push(source, contributions, &skipped);
                let watermark = unit_watermark(unit, correlating.newest(source));
                correlating.advance(watermark, &mut JsonLines { out: &mut *lock(&out) })?;
                if let Some(stats) = stats {
                    metrics.record_input(stats);
                    if let Some(f) = &stats.failure {
                        progress.suspended(|| eprintln!("reconwatch: error: {f}"));
                    }
                }
                Ok(())
            },
        )?;
        correlating.finish(&mut JsonLines { out: &mut *lock(&out) })?;
        lock(&out).flush()?;
        Ok::<_, io::Error>(stats)
    })
    .with_context(|| format!("writing alerts to {output_name}"))?;
    // Every alert written, detection rules then correlations: (rule, count).
    let mut written: Vec<(&RuleMeta, u64)> = engine
        .rules()
        .iter()
        .map(|r| &r.meta)
        .zip(counts.iter().copied())
        .collect();
    written.extend(
        correlations
            .list
            .iter()
            .map(|c| &c.rule.meta)
            .zip(correlating.alert_counts().iter().copied()),
    );
    for (meta, n) in &written {
        if *n > 0 {
            metrics
                .alerts
                .with_label_values(&[&meta.id, meta.level.name()])
                .inc_by(*n);
        }
    }
    for (rule, group, n) in targets.take() {
        metrics.record_targets(&engine.rules()[rule as usize].meta, &group, n);
    }
    for (correlation, group, n) in correlating.take_targets().take() {
        metrics.record_targets(&correlations.list[correlation as usize].rule.meta, &group, n);
    }
    record_correlation(&correlating, &metrics);
    if !args.quiet {
        let summary = Summary {
            rules: engine.rules().len() + correlations.list.len(),
            enricher,
            stats: &stats,
            written: &written,
            correlating: &correlating,
            lateness: &lateness_text,
            load_seconds: (scan_started - started).as_secs_f64(),
            seconds: scan_started.elapsed().as_secs_f64(),
        };
        eprint!("{summary}");
    }
    if let Some(path) = &args.metrics_textfile {
        output::write_atomically(path, metrics.encode().as_bytes())
            .with_context(|| format!("--metrics-textfile {}", path.display()))?;
    }
    let failed = rule_errors > 0 || stats.iter().any(|s| s.failure.is_some());
    let alerts: u64 = written.iter().map(|(_, n)| n).sum();
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
    /// Detection and correlation rules loaded.
    rules: usize,
    enricher: &'a Enricher,
    stats: &'a [InputStats],
    /// Alerts written per rule (detection rules, then correlations).
    written: &'a [(&'a RuleMeta, u64)],
    correlating: &'a Correlating,
    lateness: &'a str,
    /// Seconds spent loading the context (watchlists, intel) and compiling the rules.
    load_seconds: f64,
    /// Seconds spent scanning.
    seconds: f64,
}

impl std::fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sum = |g: fn(&InputStats) -> u64| self.stats.iter().map(g).sum::<u64>();
        let bytes = sum(|s| s.bytes);
        let failed = self.stats.iter().filter(|s| s.failure.is_some()).count();
        let alerts: u64 = self.written.iter().map(|(_, n)| n).sum();
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
            "  inputs {} ({failed} failed)  lines {}  events {}  parse errors {}  other programs' lines {}  rules {}",
            self.stats.len(),
            sum(|s| s.lines),
            sum(|s| s.events),
            sum(|s| s.errors),
            sum(|s| s.other_programs),
            self.rules
        )?;
        writeln!(
            f,
            "  {:.1} MB in {:.2} s: {:.1} MB/s, {:.0} lines/s (loading rules and context took {:.2} s more)",
            bytes as f64 / 1e6,
            self.seconds,
            bytes as f64 / 1e6 / secs,
            sum(|s| s.lines) as f64 / secs,
            self.load_seconds
        )?;
        let stage = self.correlating.stage();
        let set = stage.correlations();
        if !set.is_empty() {
            let c = self.correlating.contributed();
            let (open, evicted, held) = (0..set.list.len()).fold((0, 0, 0), |(o, e, h), i| {
                let s = stage.stats(i);
                (o + stage.open_groups(i), e + s.evicted, h + s.held_back)
            });
            writeln!(
                f,
                "  correlation rules {}  contributions {}  late events {} (--lateness {})  groups open {open}  evicted {evicted}{}",
                set.list.len(),
                c.made,
                stage.merge_stats().late_events,
                self.lateness,
                if held > 0 {
                    format!("  held back before a full timespan {held}")
                } else {
                    String::new()
                }
            )?;
            if c.no_timestamp + c.no_group_field + c.too_many_keys > 0 {
                writeln!(
                    f,
                    "  not correlated: {} without @timestamp, {} without a group-by field, {} over 64 group keys",
                    c.no_timestamp, c.no_group_field, c.too_many_keys
                )?;
            }
        }
        let mut by_level = [0u64; Level::ALL.len()];
        for (meta, n) in self.written {
            by_level[meta.level as usize] += n;
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
        let mut by_rule: Vec<&(&RuleMeta, u64)> = self.written.iter().filter(|(_, n)| *n > 0).collect();
        by_rule.sort_by(|a, b| b.0.level.cmp(&a.0.level).then(b.1.cmp(&a.1)).then(a.0.id.cmp(&b.0.id)));
        for (m, n) in by_rule {
            writeln!(f, "  {n:>9}  {:<13} {}  ({})", m.level.name(), m.title, m.id)?;
        }
        Ok(())
    }
}
