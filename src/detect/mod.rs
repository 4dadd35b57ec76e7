//! The detection core every mode shares — batch scan, `rules test`, the daemon, broker workers:
//! a parsed [`Event`] in, alerts out.
//!
//! - [`Detector`] is built once from a [`DetectorConfig`] (plain data: rule paths, the context
//!   files, correlation lateness and limits — everything the YAML configuration can say, no
//!   command-line types). It holds the compiled rules, the enrichment stage and the resolved
//!   correlations, is read-only, and is shared by every thread (a reload builds a new one and
//!   swaps one `Arc`).
//! - [`Worker`] is one thread's state (scratch space, counts). [`Worker::event`] enriches an
//!   event, asks the rules which match, writes an [`Alert`] for each rule that alerts on its own
//!   through a fallible [`AlertSink`], and keeps what the matches contribute to correlations.
//! - [`Correlating`] is the serial side: contributions pushed per source, released in event time
//!   when the caller says time has passed ([`Correlating::advance`]) or the input has ended
//!   ([`Correlating::finish`]); firings become alerts through the same sink. The caller decides
//!   when time has passed: the batch runner from its inputs' first times, a tail from its
//!   sources' progress.
//!
//! Nothing here reads input, parses, or knows about files, threads or the command line.

use std::path::PathBuf;
use std::sync::Arc;

use crate::alert::{Alert, AlertSink, SinkError};
use crate::correlate::compile::From;
use crate::correlate::{
    ContributeStats, Contribution, Correlations, Fired, Limits, RestoreReport, Snapshot, SnapshotError, SourceId, Stage,
};
use crate::enrich::stage::{EnrichScratch, Enricher};
use crate::event::{EnrichStage, Event, Field, FieldSet};
use crate::pipeline::EventSink;
use crate::rules::load::{Loaded, Problem};
use crate::rules::sigma::{Check, Placeholders, Rule};
use crate::rules::{CompileError, Engine, Scratch};
use crate::targets::{Tally, Targets};

pub mod context;

pub use context::{Context, ContextError, ContextNotes, ContextSpec};

/// What a [`Detector`] is built from.
#[derive(Debug, Clone, Default)]
pub struct DetectorConfig {
    /// Rule files and directories (`*.yml`, `*.yaml`, recursively).
    pub rules: Vec<PathBuf>,
    /// Also the rules embedded in the binary (the shipped pack).
    pub embedded_rules: bool,
    /// What the rules know about the organisation.
    pub context: ContextSpec,
    pub correlation: CorrelationSettings,
    /// Compute every computed field of every event before matching, rather than the ones the
    /// rules read (the alerts are the same; for checking that, and for timing).
    pub eager_enrichment: bool,
}

/// How correlation runs.
#[derive(Debug, Clone, Copy)]
pub struct CorrelationSettings {
    /// How far behind the newest event of its source an event may be and still be correlated
    /// (milliseconds; older ones are counted as late).
    pub lateness_ms: i64,
    pub limits: Limits,
}

/// The default allowed lateness, as the options and the configuration file write it, and in
/// milliseconds.
pub const DEFAULT_LATENESS: &str = "5m";
pub const DEFAULT_LATENESS_MS: i64 = 5 * 60 * 1000;

impl Default for CorrelationSettings {
    fn default() -> Self {
        CorrelationSettings {
            lateness_ms: DEFAULT_LATENESS_MS,
            limits: Limits::default(),
        }
    }
}

/// Why a detector could not be built. Problems with single rules are not errors: they are in
/// the [`LoadReport`], and the other rules run.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error("no rule could be loaded (rule files read: {files})")]
    NoRules { files: usize },
    #[error("compiling the rules: {0}")]
    Compile(#[from] CompileError),
}

/// What loading found besides the rules that run.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Rule files read.
    pub rule_files: usize,
    /// Rules skipped (log sources reconwatch does not read) or rejected (constructs it cannot
    /// run), each with file, rule, construct and reason.
    pub problems: Vec<Problem>,
    pub context: ContextNotes,
}

impl LoadReport {
    /// Rules rejected (not merely skipped).
    pub fn rejected(&self) -> usize {
        self.problems.iter().filter(|p| !p.skipped).count()
    }
}

/// Reads rule files (and the embedded rules) and resolves the correlation rules against the
/// detection rules; a correlation that cannot run joins the other problems.
pub fn load_rules(paths: &[PathBuf], embedded: bool, placeholders: &Placeholders) -> (Loaded, Correlations) {
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

/// The compiled detection: see the module documentation.
pub struct Detector {
    engine: Engine,
    settings: CorrelationSettings,
    context: Arc<Context>,
    correlations: Arc<Correlations>,
    /// Every field a loaded rule or correlation reads (computed `reconwatch.*` ones included).
    fields_read: FieldSet,
    /// See [`DetectorConfig::eager_enrichment`].
    eager_enrichment: bool,
    /// Per detection rule that writes no alert of its own (a correlation's input): the
    /// enrichment stages its contributions read (group-by and condition fields, the fields
    /// its evidence lists), so a match computes those and not every field.
    contribution_stages: Vec<Vec<EnrichStage>>,
}

impl Detector {
    /// Loads the context and the rules `config` names and compiles them.
    pub fn load(config: &DetectorConfig) -> Result<(Detector, LoadReport), DetectError> {
        let (context, notes) = Context::load(&config.context)?;
        let (loaded, correlations) = load_rules(&config.rules, config.embedded_rules, &context.placeholders);
        let report = LoadReport {
            rule_files: loaded.files,
            problems: loaded.problems,
            context: notes,
        };
        if loaded.rules.is_empty() {
            return Err(DetectError::NoRules {
                files: report.rule_files,
            });
        }
        let mut detector = Detector::new(loaded.rules, correlations, Arc::new(context))?;
        detector.settings = config.correlation;
        detector.eager_enrichment = config.eager_enrichment;
        Ok((detector, report))
    }

    /// A detector of `rules` and their resolved `correlations` over an already loaded context
    /// (`rules test` builds one per rule, sharing the context), with the default
    /// [`CorrelationSettings`].
    pub fn new(rules: Vec<Rule>, correlations: Correlations, context: Arc<Context>) -> Result<Detector, DetectError> {
        let fields_read = fields_read(&rules, &correlations);
        let contribution_stages = (0..rules.len() as u32)
            .map(|r| {
                let mut stages: Vec<EnrichStage> = correlations.fields_read(r).filter_map(Field::computed_by).collect();
                // The evidence names the groups of the people concerned and a pixel fetch
                // (`Targets`), for the alert and its metrics.
                if correlations.feeds(r) {
                    stages.extend([EnrichStage::Person, EnrichStage::UrlPixel]);
                }
                stages.sort_unstable();
                stages.dedup();
                stages
            })
            .collect();
        Ok(Detector {
            engine: Engine::new(rules)?,
            settings: CorrelationSettings::default(),
            context,
            correlations: Arc::new(correlations),
            fields_read,
            eager_enrichment: false,
            contribution_stages,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn enricher(&self) -> &Enricher {
        &self.context.enricher
    }

    pub fn context(&self) -> &Arc<Context> {
        &self.context
    }

    pub fn correlations(&self) -> &Arc<Correlations> {
        &self.correlations
    }

    /// Every event field the loaded rules and correlations read: the fields their selections
    /// test, the fields their correlations group by or aggregate, the fields their alerts list.
    /// Enrichment needs to compute only the `reconwatch.*` fields in it.
    pub fn fields_read(&self) -> FieldSet {
        self.fields_read
    }

    /// The serial correlation side, fresh.
    pub fn correlating(&self) -> Correlating {
        Correlating::with_stage(Stage::new(
            Arc::clone(&self.correlations),
            self.settings.limits,
            self.settings.lateness_ms,
        ))
    }

    /// The serial correlation side, resumed from a snapshot taken by
    /// [`Correlating::snapshot`] (perhaps by a detector of other rules: what no longer fits is
    /// discarded and reported).
    pub fn restore_correlating(&self, snapshot: Snapshot) -> Result<(Correlating, RestoreReport), SnapshotError> {
        let (stage, report) = Stage::restore(
            Arc::clone(&self.correlations),
            snapshot,
            self.settings.limits,
            self.settings.lateness_ms,
        )?;
        Ok((Correlating::with_stage(stage), report))
    }

    /// One thread's state.
    pub fn worker(&self) -> Worker<'_> {
        Worker {
            detector: self,
            enrich_scratch: self.context.enricher.scratch(),
            scratch: self.engine.scratch(),
            matched: Vec::new(),
            counts: vec![0; self.engine.rules().len()],
            targets: Tally::default(),
            contributions: Vec::new(),
            contribute_stats: ContributeStats::default(),
        }
    }
}

fn fields_read(rules: &[Rule], correlations: &Correlations) -> FieldSet {
    let mut set = FieldSet::EMPTY;
    for rule in rules {
        for selection in &rule.detection.selections {
            for test in selection.groups.iter().flatten() {
                set.insert(test.field);
                for v in &test.values {
                    if let Check::FieldRef { field, .. } = v.check {
                        set.insert(field);
                    }
                }
            }
        }
        for name in &rule.meta.fields {
            if let Some(f) = crate::rules::fields::resolve(name) {
                set.insert(f);
            }
        }
    }
    for c in &correlations.list {
        for from in c.keys.iter().flatten().chain(c.value.iter().flatten()) {
            if let From::Field(f) = from {
                set.insert(*f);
            }
        }
    }
    set
}

/// One thread's detection state: see the module documentation.
pub struct Worker<'d> {
    detector: &'d Detector,
    enrich_scratch: EnrichScratch<'d>,
    scratch: Scratch,
    matched: Vec<u32>,
    /// Alerts written per detection rule (indexed like [`Engine::rules`]).
    counts: Vec<u64>,
    /// Alerts written per detection rule and watchlist group, until taken.
    targets: Tally,
    /// Contributions to correlations, in event order, until taken.
    contributions: Vec<Contribution>,
    contribute_stats: ContributeStats,
}

impl<'d> Worker<'d> {
    pub fn detector(&self) -> &'d Detector {
        self.detector
    }

    /// Enriches `event`, matches it, writes an alert to `sink` for every matching rule that
    /// alerts on its own, and keeps what the matches contribute to correlations. Only the
    /// sink's error stops it.
    pub fn event(&mut self, event: &mut Event<'_>, sink: &mut dyn AlertSink) -> Result<(), SinkError> {
        let d = self.detector;
        self.matched.clear();
        // Enrichment as the rules read it; in full for an event that matched a rule that alerts
        // (its alert shows everything reconwatch knows of it), and for one that matched only
        // correlations' inputs, what their contributions read.
        let mut enrichment = d.context.enricher.lazy(event, &mut self.enrich_scratch);
        if d.eager_enrichment {
            enrichment.complete(event);
        }
        d.engine
            .matches_computing(event, &mut enrichment, &mut self.scratch, &mut self.matched);
        if self.matched.iter().any(|&r| d.correlations.alerts(r)) {
            enrichment.complete(event);
        } else {
            for &r in &self.matched {
                for &stage in &d.contribution_stages[r as usize] {
                    enrichment.run(event, stage);
                }
            }
        }
        let event_start = self.contributions.len();
        for &r in &self.matched {
            if d.correlations.feeds(r) {
                d.correlations.contribute(
                    r,
                    event,
                    event_start,
                    &mut self.contributions,
                    &mut self.contribute_stats,
                );
            }
            if !d.correlations.alerts(r) {
                continue;
            }
            let hits = d.engine.explain(r, event, &mut self.scratch);
            let rule = &d.engine.rules()[r as usize];
            sink.alert(Alert::of_match(event, &rule.meta, &hits))?;
            self.counts[r as usize] += 1;
            self.targets.add(r, std::iter::once(&Targets::of(event)));
        }
        Ok(())
    }

    /// The contributions made since the previous call, in event order, and what could not be
    /// contributed (counted).
    pub fn take_contributions(&mut self) -> (Vec<Contribution>, ContributeStats) {
        (
            std::mem::take(&mut self.contributions),
            std::mem::take(&mut self.contribute_stats),
        )
    }

    /// Alerts written per detection rule (indexed like [`Engine::rules`]).
    pub fn alert_counts(&self) -> &[u64] {
        &self.counts
    }

    /// Alerts written per detection rule (its index in [`Engine::rules`]) and watchlist group
    /// since the previous call.
    pub fn take_targets(&mut self) -> Tally {
        std::mem::take(&mut self.targets)
    }
}

/// The serial correlation side of a [`Detector`]: see the module documentation. One per
/// detection run (it holds the correlation state); fed from any number of workers' contributions,
/// each tagged with the source they came from.
pub struct Correlating {
    stage: Stage,
    fired: Vec<Fired>,
    /// Alerts written per correlation (indexed like [`Correlations::list`]).
    counts: Vec<u64>,
    /// Alerts written per correlation and watchlist group, until taken.
    targets: Tally,
    contributed: ContributeStats,
}

impl Correlating {
    fn with_stage(stage: Stage) -> Correlating {
        Correlating {
            counts: vec![0; stage.correlations().list.len()],
            stage,
            fired: Vec::new(),
            targets: Tally::default(),
            contributed: ContributeStats::default(),
        }
    }

    /// Takes contributions of `source` (in that source's event order) and the counts of what
    /// its events could not contribute ([`Worker::take_contributions`]).
    pub fn push(&mut self, source: SourceId, contributions: Vec<Contribution>, skipped: &ContributeStats) {
        self.contributed.add(skipped);
        for c in contributions {
            self.stage.push(source, c);
        }
    }

    /// No source will bring an event earlier than `watermark_ms` (event time, milliseconds):
    /// correlates what is held up to it, minus the allowed lateness, and writes the firings of
    /// correlations that alert to `sink`.
    pub fn advance(&mut self, watermark_ms: i64, sink: &mut dyn AlertSink) -> Result<(), SinkError> {
        self.stage.advance(watermark_ms, &mut self.fired);
        self.write(sink)
    }

    /// The input has ended: correlates everything held and writes the firings.
    pub fn finish(&mut self, sink: &mut dyn AlertSink) -> Result<(), SinkError> {
        self.stage.finish(&mut self.fired);
        self.write(sink)
    }

    fn write(&mut self, sink: &mut dyn AlertSink) -> Result<(), SinkError> {
        let set = Arc::clone(self.stage.correlations());
        for f in self.fired.drain(..) {
            let c = &set.list[f.correlation as usize];
            if !c.alerts {
                continue;
            }
            sink.alert(Alert::of_correlation(c, &f))?;
            self.counts[f.correlation as usize] += 1;
            self.targets.add(f.correlation, f.events.iter().map(|e| &e.targets));
        }
        Ok(())
    }

    /// The state, to save and [`Detector::restore_correlating`] later. Take it between events
    /// (never between two contributions of one event).
    pub fn snapshot(&self) -> Snapshot {
        self.stage.snapshot()
    }

    /// The stage, for its statistics.
    pub fn stage(&self) -> &Stage {
        &self.stage
    }

    /// The newest event time pushed from `source`.
    pub fn newest(&self, source: SourceId) -> Option<i64> {
        self.stage.newest(source)
    }

    /// Alerts written per correlation.
    pub fn alert_counts(&self) -> &[u64] {
        &self.counts
    }

    /// Alerts written per correlation (its index in [`Correlations::list`]) and watchlist group
    /// since the previous call.
    pub fn take_targets(&mut self) -> Tally {
        std::mem::take(&mut self.targets)
    }

    /// What matched events contributed, and could not, so far.
    pub fn contributed(&self) -> &ContributeStats {
        &self.contributed
    }
}

/// A pipeline [`EventSink`] that runs every event through a [`Worker`] into an [`AlertSink`]:
/// how a line source (a batch unit, a tailed file) feeds detection.
pub struct Detecting<'d, S: AlertSink> {
    pub worker: Worker<'d>,
    pub sink: S,
}

impl<S: AlertSink> EventSink for Detecting<'_, S> {
    fn event(&mut self, event: &mut Event<'_>) -> std::io::Result<()> {
        self.worker.event(event, &mut self.sink).map_err(std::io::Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_lateness_is_the_same_written_and_in_milliseconds() {
        let parsed = crate::rules::correlation::parse_duration(DEFAULT_LATENESS).unwrap();
        assert_eq!(parsed.as_millis() as i64, DEFAULT_LATENESS_MS);
    }
}
