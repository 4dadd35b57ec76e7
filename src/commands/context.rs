//! From the command line and the configuration file to the detection core's plain
//! configuration ([`DetectorConfig`]), and back: what loading found, said on stderr and counted
//! in metrics. Every command that runs rules starts here.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::cli::{ContextArgs, RuleArgs};
use crate::config::Config;
use crate::correlate::Limits;
use crate::correlate::state::DEFAULT_MAX_GROUPS;
use crate::detect::{
    Context, ContextNotes, ContextSpec, CorrelationSettings, DEFAULT_LATENESS, Detector, DetectorConfig, LoadReport,
};
use crate::enrich::intel::IndicatorType;
use crate::enrich::stage::Enricher;
use crate::metrics::Metrics;

impl ContextArgs {
    /// The configuration file (if any), and the context it and the options name: the file's
    /// entries first, then the options' (`NAME=FILE` options add to the file's lists).
    pub fn spec(&self, examples: bool) -> anyhow::Result<(Config, ContextSpec)> {
        let config = match &self.config {
            Some(p) => Config::load(p).context("--config")?,
            None => Config::default(),
        };
        let spec = ContextSpec {
            watchlists: named_files(config.watchlist_files(), "--watchlist", &self.watchlists)?,
            placeholders: named_files(config.placeholder_files(), "--placeholder", &self.placeholders)?,
            intel: config.intel.clone(),
            intel_files: self.intel.clone(),
            outlets: config.outlets.iter().chain(&self.outlets).cloned().collect(),
            own_domains: config.own_domains.iter().chain(&self.own_domains).cloned().collect(),
            examples,
        };
        Ok((config, spec))
    }
}

impl RuleArgs {
    /// The detector's configuration: `--rules` replaces the file's `rules`; the shipped rules
    /// come too when asked for or when no rule path is given.
    pub fn detector_config(&self) -> anyhow::Result<(Config, DetectorConfig)> {
        let (config, context) = self.context.spec(false)?;
        let rules = if self.rules.is_empty() {
            config.rules.clone()
        } else {
            self.rules.clone()
        };
        let embedded_rules = rules.is_empty() || self.default_rules || config.default_rules == Some(true);
        let detector = DetectorConfig {
            rules,
            embedded_rules,
            context,
            correlation: CorrelationSettings::default(),
            eager_enrichment: self.eager_enrichment,
        };
        Ok((config, detector))
    }
}

/// Correlation lateness and limits: the option, else the configuration file's value, else the
/// default. Returns the settings and the lateness as written (for summaries).
pub fn correlation_settings(
    lateness: Option<&str>,
    max_groups: Option<usize>,
    config: &Config,
) -> anyhow::Result<(CorrelationSettings, String)> {
    let (text, option) = match (lateness, &config.lateness) {
        (Some(l), _) => (l.to_owned(), "--lateness"),
        (None, Some(l)) => (l.clone(), "--config: lateness"),
        (None, None) => (DEFAULT_LATENESS.to_owned(), "--lateness"),
    };
    let parsed =
        crate::rules::correlation::parse_duration(&text).map_err(|e| anyhow::anyhow!("{option} {text}: {e}"))?;
    let settings = CorrelationSettings {
        lateness_ms: i64::try_from(parsed.as_millis()).unwrap_or(i64::MAX),
        limits: Limits {
            max_groups: max_groups.or(config.max_groups).unwrap_or(DEFAULT_MAX_GROUPS),
        },
    };
    Ok((settings, text))
}

/// The configuration file's `(name, file)` pairs, then those of a repeatable `NAME=FILE` option.
fn named_files<'a>(
    from_config: impl Iterator<Item = (&'a str, &'a Path)>,
    option: &str,
    specs: &[String],
) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut out: Vec<(String, PathBuf)> = from_config.map(|(n, p)| (n.to_owned(), p.to_path_buf())).collect();
    for spec in specs {
        match spec.split_once('=') {
            Some((name, file)) if !name.is_empty() && !file.is_empty() => {
                out.push((name.to_owned(), PathBuf::from(file)));
            }
            _ => bail!("{option} {spec}: expected NAME=FILE"),
        }
    }
    Ok(out)
}

/// How much a run says about the rules it skipped (rules for log sources reconwatch does not
/// read, such as most of SigmaHQ's): nothing, one line with the count, or one line per rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReport {
    Quiet,
    Count,
    EachRule,
}

/// Loads the detector `config` names, says on stderr what loading found (rejected rules always,
/// skipped ones as `skips` says, watchlist warnings) and counts it in `metrics` (the rules
/// themselves are recorded by the caller that puts them in use: [`Metrics::record_rules`]). Returns the
/// detector and the number of rejected rules.
pub fn load_detector(
    config: &DetectorConfig,
    metrics: &Metrics,
    skips: SkipReport,
) -> anyhow::Result<(Detector, usize)> {
    let (detector, report) = Detector::load(config)?;
    report_rules(&report, metrics, skips);
    report_context(&report.context, Some(metrics));
    record_context(detector.enricher(), metrics);
    Ok((detector, report.rejected()))
}

/// Loads the context alone (`parse --enrich`, `rules check/test`), saying what it found.
pub fn load_context(spec: &ContextSpec, metrics: Option<&Metrics>) -> anyhow::Result<Context> {
    let (context, notes) = Context::load(spec)?;
    report_context(&notes, metrics);
    if let Some(m) = metrics {
        record_context(&context.enricher, m);
    }
    Ok(context)
}

fn report_rules(report: &LoadReport, metrics: &Metrics, skips: SkipReport) {
    let mut skipped = 0;
    for p in &report.problems {
        if p.skipped {
            skipped += 1;
            if skips == SkipReport::EachRule {
                eprintln!("reconwatch: skipped rule: {p}");
            }
            metrics.rule_problems.with_label_values(&["skipped"]).inc();
        } else {
            eprintln!("reconwatch: error: rejected rule: {p}");
            metrics.rule_problems.with_label_values(&["rejected"]).inc();
        }
    }
    if skipped > 0 && skips == SkipReport::Count {
        eprintln!(
            "reconwatch: skipped {skipped} rules for log sources reconwatch does not read (-v lists them; `reconwatch rules check` explains each)"
        );
    }
}

/// Warnings from loading the context, on stderr and (with `metrics`) counted.
fn report_context(notes: &ContextNotes, metrics: Option<&Metrics>) {
    let mut duplicate_rows: Vec<(&str, usize)> = Vec::new();
    for (name, file, rows) in &notes.duplicate_rows {
        // A few lines say where to look; the count says how many.
        for d in rows.iter().take(5) {
            eprintln!(
                "reconwatch: warning: watchlist {name}: {}:{}: address {} is already on line {} (kept as one person, with the first row's name and group)",
                file.display(),
                d.line,
                d.email,
                d.first_line
            );
        }
        if rows.len() > 5 {
            eprintln!(
                "reconwatch: warning: watchlist {name}: {}: {} more rows repeat an earlier address",
                file.display(),
                rows.len() - 5
            );
        }
        match duplicate_rows.iter_mut().find(|(n, _)| n == name) {
            Some((_, n)) => *n += rows.len(),
            None => duplicate_rows.push((name, rows.len())),
        }
    }
    if let Some(m) = metrics {
        for (name, n) in duplicate_rows {
            m.watchlist_duplicate_rows.with_label_values(&[name]).set(n as i64);
        }
    }
}

/// The watchlist and intel gauges.
fn record_context(enricher: &Enricher, metrics: &Metrics) {
    for list in enricher.watchlists().lists() {
        for (kind, n) in [
            ("address", list.addresses),
            ("domain", list.domains),
            ("username", list.usernames),
            ("ip", list.ips),
        ] {
            metrics
                .watchlist_entries
                .with_label_values(&[&list.name, kind])
                .set(n as i64);
        }
    }
    for t in IndicatorType::ALL {
        metrics
            .intel_indicators
            .with_label_values(&[t.name()])
            .set(enricher.intel().count(t) as i64);
    }
}
