//! `reconwatch rules check|test`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;

use super::context::load_context;
use super::output::Stdout;
use crate::cli::{RulesCheckArgs, RulesCommand};
use crate::config::Config;
use crate::correlate::Correlations;
use crate::detect::{Context, Detecting, Detector, load_rules};
use crate::parse::Format;
use crate::pipeline::{PipelineConfig, run_reader};
use crate::rules::Engine;
use crate::rules::sigma::Rule;

/// Exit code of `rules check` and `rules test` when a rule is rejected or a test fails.
const EXIT_FAILED: u8 = 1;

pub fn run(cmd: &RulesCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RulesCommand::Check(args) => check(args),
        RulesCommand::Test(args) => test(args),
    }
}

/// The rule files `rules check` and `rules test` read: the paths given, else the configuration
/// file's `rules` (with the shipped rules when it asks for them), else the shipped rules.
fn checked_paths(args: &RulesCheckArgs, config: &Config) -> (Vec<PathBuf>, bool) {
    if !args.paths.is_empty() {
        return (args.paths.clone(), false);
    }
    let from_config = &config.rules;
    let embedded = from_config.is_empty() || config.default_rules == Some(true);
    (from_config.clone(), embedded)
}

fn check(args: &RulesCheckArgs) -> anyhow::Result<ExitCode> {
    let (config, spec) = args.context.spec(false)?;
    let context = load_context(&spec, None)?;
    let (paths, embedded) = checked_paths(args, &config);
    let (loaded, correlations) = load_rules(&paths, embedded, &context.placeholders);
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
fn test_rule(rule: &Rule, context: &Arc<Context>) -> anyhow::Result<TestReport> {
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
    // The rule alone: its correlations are tested end to end (tests/correlation.rs).
    let rules = vec![rule.clone()];
    let alone = Correlations::none(&rules);
    let detector = Detector::new(rules, alone, Arc::clone(context))?;
    for (want, excerpts) in [(true, &tests.matching), (false, &tests.not_matching)] {
        for (i, text) in excerpts.iter().enumerate() {
            let kind = if want { "match" } else { "no-match" };
            let name = format!("{}#{kind}[{i}]", rule.file);
            let mut sink = Detecting {
                worker: detector.worker(),
                sink: Vec::new(),
            };
            let stats = run_reader(&name, text.as_bytes(), None, &cfg, &mut sink)?;
            let alerted = !sink.sink.is_empty();
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
    let (config, spec) = args.context.spec(true)?;
    let context = load_context(&spec, None)?;
    // Correlation rules are checked for what they refer to; their behaviour over time is
    // tested end to end (tests/correlation.rs).
    let (paths, embedded) = checked_paths(args, &config);
    let (loaded, correlations) = load_rules(&paths, embedded, &context.placeholders);
    let context = Arc::new(context);
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
        let r = test_rule(rule, &context)?;
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
