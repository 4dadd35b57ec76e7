//! `reconwatch rules check|test`, and rule loading for every command that runs rules.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use super::context::Context;
use super::output::Stdout;
use super::scan::AlertSink;
use crate::cli::{RuleArgs, RulesCheckArgs, RulesCommand};
use crate::correlate::Correlations;
use crate::enrich::stage::Enricher;
use crate::metrics::Metrics;
use crate::parse::Format;
use crate::pipeline::{PipelineConfig, run_reader};
use crate::rules::Engine;
use crate::rules::load::Loaded;
use crate::rules::sigma::{Placeholders, Rule};

/// Exit code of `rules check` and `rules test` when a rule is rejected or a test fails.
const EXIT_FAILED: u8 = 1;

pub fn run(cmd: &RulesCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RulesCommand::Check(args) => check(args),
        RulesCommand::Test(args) => test(args),
    }
}

/// Reads the rule files (and the embedded rules) and resolves the correlation rules against the
/// detection rules; a correlation that cannot run joins the other problems.
fn load(paths: &[PathBuf], embedded: bool, placeholders: &Placeholders) -> (Loaded, Correlations) {
    let mut loaded = Loaded::default();
    if embedded {
        loaded.add_embedded(placeholders);
    }
    for p in paths {
        loaded.add_path(p, placeholders);
    }
    let (correlations, problems) = Correlations::new(&loaded.rules, std::mem::take(&mut loaded.correlations));
    loaded.problems.extend(problems);
    (loaded, correlations)
}

/// How much a scan says about the rules it skipped (rules for log sources reconwatch does not
/// read, such as most of SigmaHQ's): nothing, one line with the count, or one line per rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReport {
    Quiet,
    Count,
    EachRule,
}

/// Loads the rules a scan runs, reports every rejected rule (and the skipped ones as `skips`
/// says) on stderr, counts them in `metrics`, and compiles the engine and the correlations.
/// Returns them and the number of rejected rules.
pub fn load_rules(
    args: &RuleArgs,
    context: &Context,
    metrics: &Metrics,
    skips: SkipReport,
) -> anyhow::Result<(Engine, Correlations, usize)> {
    let (paths, embedded) = context.rule_paths(args);
    let (loaded, correlations) = load(&paths, embedded, &context.placeholders);
    let mut rejected = 0;
    let mut skipped = 0;
    for p in &loaded.problems {
        if p.skipped {
            skipped += 1;
            if skips == SkipReport::EachRule {
                eprintln!("reconwatch: skipped rule: {p}");
            }
            metrics.rule_problems.with_label_values(&["skipped"]).inc();
        } else {
            eprintln!("reconwatch: error: rejected rule: {p}");
            metrics.rule_problems.with_label_values(&["rejected"]).inc();
            rejected += 1;
        }
    }
    if skipped > 0 && skips == SkipReport::Count {
        eprintln!(
            "reconwatch: skipped {skipped} rules for log sources reconwatch does not read (-v lists them; `reconwatch rules check` explains each)"
        );
    }
    if loaded.rules.is_empty() {
        bail!("no rule could be loaded (rule files read: {})", loaded.files);
    }
    metrics
        .rules_loaded
        .set((loaded.rules.len() + correlations.list.len()) as i64);
    let engine = Engine::new(loaded.rules).context("compiling the rules")?;
    Ok((engine, correlations, rejected))
}

/// The rule files `rules check` and `rules test` read: the paths given, else the configuration
/// file's `rules` (with the shipped rules when it asks for them), else the shipped rules.
fn checked_paths(args: &RulesCheckArgs, context: &Context) -> (Vec<PathBuf>, bool) {
    if !args.paths.is_empty() {
        return (args.paths.clone(), false);
    }
    let from_config = &context.config.rules;
    let embedded = from_config.is_empty() || context.config.default_rules == Some(true);
    (from_config.clone(), embedded)
}

fn check(args: &RulesCheckArgs) -> anyhow::Result<ExitCode> {
    let context = Context::load(&args.context, None, false)?;
    let (paths, embedded) = checked_paths(args, &context);
    let (loaded, correlations) = load(&paths, embedded, &context.placeholders);
    let rejected = loaded.rejected().count();
    let skipped = loaded.problems.len() - rejected;
    let mut out = Stdout::new();
    if args.summary {
        let mut by: BTreeMap<(bool, String), usize> = BTreeMap::new();
        for p in &loaded.problems {
            *by.entry((p.skipped, p.category())).or_default() += 1;
        }
        for ((skipped, cat), n) in by {
            out.line(format_args!(
                "{n:>6}  {}  {cat}",
                if skipped { "skipped " } else { "rejected" }
            ))?;
        }
    } else {
        for p in &loaded.problems {
            out.line(format_args!("{}: {p}", if p.skipped { "skipped" } else { "rejected" }))?;
        }
    }
    let (files, loaded_rules) = (loaded.files, loaded.rules.len() + correlations.list.len());
    // Compiling catches what only shows across rules (automaton or regex-set limits).
    let compiled = Engine::new(loaded.rules).map(|_| ());
    if let Err(e) = &compiled {
        out.line(format_args!("rejected: {e}"))?;
    }
    out.line(format_args!(
        "{files} rule files: {loaded_rules} rules loaded, {rejected} rejected, {skipped} skipped (log sources reconwatch does not read)"
    ))?;
    out.flush()?;
    Ok(if rejected > 0 || compiled.is_err() {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// The outcome of one rule's tests.
struct TestReport {
    failures: Vec<String>,
    passed: usize,
}

/// Runs one rule's test excerpts.
fn test_rule(rule: &Rule, enricher: &Enricher) -> anyhow::Result<TestReport> {
    let mut report = TestReport {
        failures: Vec::new(),
        passed: 0,
    };
    let Some(tests) = &rule.tests else {
        report.failures.push(format!(
            "has no {} (match / no-match lines)",
            crate::rules::sigma::TESTS_KEY
        ));
        return Ok(report);
    };
    if tests.matching.is_empty() || tests.not_matching.is_empty() {
        report
            .failures
            .push("needs at least one `match` and one `no-match` excerpt".into());
    }
    let mut cfg = PipelineConfig::default();
    if let Some(name) = &tests.format {
        cfg.format = Some(Format::from_name(name).with_context(|| format!("unknown test format `{name}`"))?);
    }
    let engine = Engine::new(vec![rule.clone()])?;
    let alone = Correlations::none(engine.rules());
    for (want, excerpts) in [(true, &tests.matching), (false, &tests.not_matching)] {
        for (i, text) in excerpts.iter().enumerate() {
            let kind = if want { "match" } else { "no-match" };
            let name = format!("{}#{kind}[{i}]", rule.file);
            let mut sink = AlertSink::new(&engine, enricher, &alone, io::sink());
            let stats = run_reader(&name, text.as_bytes(), None, &cfg, &mut sink)?;
            let alerted = sink.counts[0] > 0;
            if let Some(f) = &stats.failure {
                report.failures.push(format!("{kind}[{i}]: input not read: {f}"));
            } else if stats.errors > 0 {
                let reasons: Vec<&str> = stats.error_reasons.keys().copied().collect();
                report.failures.push(format!(
                    "{kind}[{i}]: {} line(s) rejected by the parser: {}",
                    stats.errors,
                    reasons.join("; ")
                ));
            } else if alerted != want {
                report.failures.push(format!(
                    "{kind}[{i}]: expected {}, got {} ({} events parsed)",
                    if want { "an alert" } else { "no alert" },
                    if alerted { "one" } else { "none" },
                    stats.events
                ));
            } else {
                report.passed += 1;
            }
        }
    }
    Ok(report)
}

fn test(args: &RulesCheckArgs) -> anyhow::Result<ExitCode> {
    let context = Context::load(&args.context, None, true)?;
    // Correlation rules are checked for what they refer to; their behaviour over time is
    // tested end to end (tests/correlation.rs).
    let (paths, embedded) = checked_paths(args, &context);
    let (loaded, correlations) = load(&paths, embedded, &context.placeholders);
    let mut out = Stdout::new();
    // --summary: the failures and the totals, without a line per passing rule.
    let each = !args.summary;
    let mut failed = 0;
    for p in loaded.rejected() {
        out.line(format_args!("FAIL {p}"))?;
        failed += 1;
    }
    let mut passed = 0;
    let mut excerpts = 0;
    for rule in &loaded.rules {
        let r = test_rule(rule, &context.enricher)?;
        excerpts += r.passed;
        if r.failures.is_empty() {
            if each {
                out.line(format_args!(
                    "ok   {} ({}): {} excerpts",
                    rule.meta.id, rule.file, r.passed
                ))?;
            }
            passed += 1;
        } else {
            failed += 1;
            for f in &r.failures {
                out.line(format_args!("FAIL {} ({}): {f}", rule.meta.id, rule.file))?;
            }
        }
    }
    for c in &correlations.list {
        if each {
            out.line(format_args!(
                "ok   {} ({}): correlation ({}) of {} rules resolved",
                c.rule.meta.id,
                c.rule.file,
                c.rule.kind.name(),
                c.steps.len()
            ))?;
        }
        passed += 1;
    }
    out.line(format_args!(
        "{passed} rules passed ({excerpts} test excerpts), {failed} failed"
    ))?;
    out.flush()?;
    Ok(if failed > 0 {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}
