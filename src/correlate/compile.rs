//! Correlation rules resolved against the loaded detection rules: references by name or id,
//! aliases and group-by fields turned into [`Field`]s (or positions in a chained correlation's
//! group key), chains ordered, and what each detection rule feeds.
//!
//! A correlation that cannot run is reported as a [`Problem`] naming its file, id, the
//! construct and the reason, and so is every correlation that refers to it.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::event::Field;
use crate::rules::Rule;
use crate::rules::fields;
use crate::rules::load::Problem;

use crate::rules::correlation::{CorrelationRule, Kind};

/// How correlation evidence names the detection rule an event matched (resolved once per rule,
/// shared by every evidence of that rule).
#[derive(Debug, Serialize, Deserialize)]
pub struct EvidenceRule {
    pub id: String,
    pub title: String,
    /// The fields the rule lists (`fields:`), resolved once: their values go into the evidence.
    #[serde(skip)]
    pub fields: Vec<Field>,
}

impl EvidenceRule {
    /// How evidence names `rule`.
    pub fn of(rule: &Rule) -> EvidenceRule {
        EvidenceRule {
            id: rule.meta.id.clone(),
            title: rule.meta.title.clone(),
            fields: rule
                .meta
                .fields
                .iter()
                .filter_map(|n| crate::rules::fields::resolve(n))
                .collect(),
        }
    }
}

/// The most events (or distinct values) a group keeps when no condition bounds it
/// (temporal_ordered, value_sum, value_avg); beyond it the oldest are dropped and counted.
pub const MAX_GROUP_ENTRIES: usize = 4096;

/// What feeds one step of a correlation: a detection rule (index into the engine's rules) or
/// another correlation (index into [`Correlations`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Rule(u32),
    Correlation(u32),
}

/// Where one value of a contribution comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    /// A field of the matched event.
    Field(Field),
    /// A position in the group key of the chained correlation that fired.
    Inner(usize),
}

/// One step's entry point: correlation `correlation`, step `step` (its position in `rules`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feed {
    pub correlation: u32,
    pub step: u16,
}

/// One correlation rule, resolved.
#[derive(Debug)]
pub struct Compiled {
    pub rule: CorrelationRule,
    pub steps: Vec<Source>,
    /// Per step, per `group-by` entry: where the value comes from.
    pub keys: Vec<Vec<From>>,
    /// Per step: where the condition's `field` comes from (value_* kinds).
    pub value: Vec<Option<From>>,
    /// The correlations (and steps) this one's firings feed (chaining).
    pub feeds: Vec<Feed>,
    /// Whether its firings are written as alerts.
    pub alerts: bool,
    /// The timespan in milliseconds.
    pub span_ms: i64,
    /// The most entries a group keeps.
    pub keep: usize,
    /// The condition holds for a single event (an upper bound such as `lte: 1`): the
    /// correlation cannot judge before it has seen a full timespan of events.
    pub needs_history: bool,
    /// The group-by names, as written (alias or field), for alerts.
    pub group_names: Vec<String>,
}

/// Every loaded correlation, resolved, and what each detection rule feeds.
#[derive(Debug, Default)]
pub struct Correlations {
    pub list: Vec<Compiled>,
    /// Per detection rule: the correlation steps its matches feed.
    pub rule_feeds: Vec<Vec<Feed>>,
    /// Per detection rule: whether its matches are written as alerts (a rule only referenced by
    /// correlations without `generate: true` is not).
    pub rule_alerts: Vec<bool>,
    /// Per detection rule: its id and title as evidence shows them (shared, not copied per event).
    pub rule_names: Vec<Arc<EvidenceRule>>,
}

impl Correlations {
    /// No correlation: every detection rule alerts on its own.
    pub fn none(rules: &[Rule]) -> Correlations {
        Correlations {
            list: Vec::new(),
            rule_feeds: vec![Vec::new(); rules.len()],
            rule_alerts: vec![true; rules.len()],
            rule_names: rules.iter().map(|r| Arc::new(EvidenceRule::of(r))).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The index of the correlation whose rule id is `id` (ids are unique: the loader rejects
    /// a second rule with an id already taken).
    pub fn find(&self, id: &str) -> Option<u32> {
        self.list.iter().position(|c| c.rule.meta.id == id).map(|i| i as u32)
    }

    /// Resolves `correlations` against `rules` (in engine order). Correlations that cannot
    /// run are returned as problems.
    pub fn new(rules: &[Rule], correlations: Vec<CorrelationRule>) -> (Correlations, Vec<Problem>) {
        let mut problems = Vec::new();
        // References resolve by name first, then id.
        let mut rule_by: HashMap<&str, u32> = HashMap::new();
        for (i, r) in rules.iter().enumerate().rev() {
            rule_by.insert(&r.meta.id, i as u32);
        }
        for (i, r) in rules.iter().enumerate().rev() {
            if let Some(n) = &r.meta.name {
                rule_by.insert(n, i as u32);
            }
        }
        let mut corr_by: HashMap<String, usize> = HashMap::new();
        for (i, c) in correlations.iter().enumerate().rev() {
            corr_by.insert(c.meta.id.clone(), i);
        }
        for (i, c) in correlations.iter().enumerate().rev() {
            if let Some(n) = &c.meta.name {
                corr_by.insert(n.clone(), i);
            }
        }

        // Resolve references; a reference to a correlation waits for that one (chains are
        // resolved inner first, so a cycle never resolves).
        let n = correlations.len();
        let mut steps: Vec<Option<Resolved>> = vec![None; n];
        for (i, c) in correlations.iter().enumerate() {
            let mut out = Vec::new();
            for r in &c.rules {
                if let Some(&j) = corr_by.get(r.as_str()) {
                    if j == i {
                        steps[i] = Some(Err((
                            "correlation.rules".into(),
                            format!("`{r}` refers to this correlation itself"),
                        )));
                        break;
                    }
                    out.push(Source::Correlation(j as u32));
                } else if let Some(&k) = rule_by.get(r.as_str()) {
                    out.push(Source::Rule(k));
                } else {
                    steps[i] = Some(Err((
                        "correlation.rules".into(),
                        format!("no loaded rule has the name or id `{r}` (was it rejected or skipped?)"),
                    )));
                    break;
                }
            }
            if steps[i].is_none() {
                steps[i] = Some(Ok(out));
            }
        }
        // Order: a correlation after every correlation it refers to; a cycle or a reference to
        // a rejected correlation rejects.
        let mut state = vec![0u8; n]; // 0 new, 1 visiting, 2 done
        let mut order = Vec::with_capacity(n);
        let mut failed: Vec<Option<(String, String)>> = vec![None; n];
        for i in 0..n {
            visit(i, &steps, &mut state, &mut order, &mut failed, &correlations);
        }

        let mut set = Correlations::none(rules);
        // Index in `correlations` -> index in `set.list`.
        let mut placed: Vec<Option<u32>> = vec![None; n];
        let mut pending: Vec<Option<CorrelationRule>> = correlations.into_iter().map(Some).collect();
        for i in order {
            let rule = pending[i].take().expect("each correlation is placed once");
            if let Some((construct, reason)) = failed[i].take() {
                problems.push(problem(&rule, construct, reason));
                continue;
            }
            let Some(Ok(sources)) = &steps[i] else { continue };
            // Map correlation references to their place in the set.
            let mut resolved = Vec::with_capacity(sources.len());
            let mut missing = None;
            for s in sources {
                match *s {
                    Source::Rule(k) => resolved.push(Source::Rule(k)),
                    Source::Correlation(j) => match placed[j as usize] {
                        Some(p) => resolved.push(Source::Correlation(p)),
                        None => missing = Some(j as usize),
                    },
                }
            }
            if missing.is_some() {
                problems.push(problem(
                    &rule,
                    "correlation.rules".into(),
                    "refers to a correlation that was rejected".into(),
                ));
                continue;
            }
            match compile(rule, resolved, rules, &set) {
                Ok(c) => {
                    placed[i] = Some(set.list.len() as u32);
                    set.list.push(c);
                }
                Err((rule, construct, reason)) => problems.push(problem(&rule, construct, reason)),
            }
        }

        // What feeds what, and who alerts.
        let mut referenced_rule = vec![false; rules.len()];
        let mut generated_rule = vec![false; rules.len()];
        let mut referenced_corr = vec![false; set.list.len()];
        let mut generated_corr = vec![false; set.list.len()];
        for ci in 0..set.list.len() {
            let generate = set.list[ci].rule.generate;
            for (step, s) in set.list[ci].steps.clone().into_iter().enumerate() {
                let feed = Feed {
                    correlation: ci as u32,
                    step: step as u16,
                };
                match s {
                    Source::Rule(k) => {
                        set.rule_feeds[k as usize].push(feed);
                        referenced_rule[k as usize] = true;
                        generated_rule[k as usize] |= generate;
                    }
                    Source::Correlation(j) => {
                        set.list[j as usize].feeds.push(feed);
                        referenced_corr[j as usize] = true;
                        generated_corr[j as usize] |= generate;
                    }
                }
            }
        }
        for k in 0..rules.len() {
            set.rule_alerts[k] = !referenced_rule[k] || generated_rule[k];
        }
        for (ci, c) in set.list.iter_mut().enumerate() {
            c.alerts = !referenced_corr[ci] || generated_corr[ci];
        }
        (set, problems)
    }
}

fn problem(rule: &CorrelationRule, construct: String, reason: String) -> Problem {
    Problem {
        file: rule.file.clone(),
        rule: Some(rule.meta.id.clone()),
        construct,
        reason,
        skipped: false,
    }
}

fn visit(
    i: usize,
    steps: &[Option<Resolved>],
    state: &mut [u8],
    order: &mut Vec<usize>,
    failed: &mut [Option<(String, String)>],
    all: &[CorrelationRule],
) {
    if state[i] != 0 {
        if state[i] == 1 {
            failed[i] = Some((
                "correlation.rules".into(),
                format!("the chain through `{}` refers back to itself", all[i].meta.id),
            ));
        }
        return;
    }
    state[i] = 1;
    match &steps[i] {
        Some(Ok(sources)) => {
            for s in sources {
                if let Source::Correlation(j) = *s {
                    visit(j as usize, steps, state, order, failed, all);
                    if failed[j as usize].is_some() && failed[i].is_none() {
                        failed[i] = Some((
                            "correlation.rules".into(),
                            format!("refers to correlation `{}`, which cannot run", all[j as usize].meta.id),
                        ));
                    }
                }
            }
        }
        Some(Err(e)) => failed[i] = Some(e.clone()),
        None => {}
    }
    state[i] = 2;
    order.push(i);
}

/// Why a correlation cannot run: the construct and the reason.
type Flaw = (String, String);

/// A correlation's references, resolved, or why they cannot be.
type Resolved = Result<Vec<Source>, Flaw>;

/// A correlation that cannot run, with the construct and the reason.
type CompileError = (Box<CorrelationRule>, String, String);

fn compile(
    rule: CorrelationRule,
    steps: Vec<Source>,
    rules: &[Rule],
    set: &Correlations,
) -> Result<Compiled, CompileError> {
    let span_ms = rule.timespan.as_millis().min(i64::MAX as i128) as i64;
    // The names a step's rule answers to in `aliases`: as referenced, its name, its id.
    let names = |step: usize| -> Vec<&str> {
        let mut v = vec![rule.rules[step].as_str()];
        let meta = match steps[step] {
            Source::Rule(k) => &rules[k as usize].meta,
            Source::Correlation(j) => &set.list[j as usize].rule.meta,
        };
        v.push(&meta.id);
        if let Some(n) = &meta.name {
            v.push(n);
        }
        v
    };
    let resolve = |step: usize, name: &str, what: &str| -> Result<From, (String, String)> {
        // An alias names, per rule, the field to read.
        let field = match rule.aliases.iter().find(|(a, _)| a == name) {
            Some((alias, map)) => {
                let ns = names(step);
                match map.iter().find(|(r, _)| ns.contains(&r.as_str())) {
                    Some((_, f)) => f.as_str(),
                    None => {
                        return Err((
                            format!("correlation.aliases.{alias}"),
                            format!("no field for rule `{}`", rule.rules[step]),
                        ));
                    }
                }
            }
            None => name,
        };
        match steps[step] {
            Source::Rule(_) => fields::resolve(field).map(From::Field).ok_or_else(|| {
                (
                    what.to_owned(),
                    format!("`{field}` is not a field reconwatch events have (see rules/README.md)"),
                )
            }),
            Source::Correlation(j) => {
                let inner = &set.list[j as usize];
                inner
                    .group_names
                    .iter()
                    .position(|g| g == field)
                    .map(From::Inner)
                    .ok_or_else(|| {
                        (
                            what.to_owned(),
                            format!(
                                "correlation `{}` passes on only its group-by fields ({}), not `{field}`",
                                inner.rule.meta.id,
                                inner.group_names.join(", ")
                            ),
                        )
                    })
            }
        }
    };
    let mut keys = Vec::with_capacity(steps.len());
    let mut value = Vec::with_capacity(steps.len());
    let value_field = match rule.kind {
        Kind::ValueCount | Kind::ValueSum | Kind::ValueAvg => rule.condition.as_ref().and_then(|c| c.field.clone()),
        _ => None,
    };
    for step in 0..steps.len() {
        let mut k = Vec::with_capacity(rule.group_by.len());
        for g in &rule.group_by {
            match resolve(step, g, "correlation.group-by") {
                Ok(f) => k.push(f),
                Err((c, r)) => return Err((Box::new(rule), c, r)),
            }
        }
        keys.push(k);
        value.push(match &value_field {
            Some(f) => match resolve(step, f, "correlation.condition.field") {
                Ok(f) => Some(f),
                Err((c, r)) => return Err((Box::new(rule), c, r)),
            },
            None => None,
        });
    }
    let (keep, needs_history) = match (&rule.condition, rule.kind) {
        (Some(c), Kind::EventCount | Kind::ValueCount) => {
            // A count above every constant decides every term the same way.
            let bound = c.largest().max(0.0).floor() as usize + 1;
            (bound.clamp(1, MAX_GROUP_ENTRIES), c.holds(1.0))
        }
        (Some(c), Kind::Temporal) => (steps.len(), c.holds(1.0)),
        (None, Kind::Temporal) => (steps.len(), steps.len() == 1),
        _ => (MAX_GROUP_ENTRIES, false),
    };
    Ok(Compiled {
        group_names: rule.group_by.clone(),
        steps,
        keys,
        value,
        feeds: Vec::new(),
        alerts: true,
        span_ms,
        keep,
        needs_history,
        rule,
    })
}
