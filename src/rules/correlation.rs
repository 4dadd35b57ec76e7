//! Sigma correlation rule documents → [`CorrelationRule`]: which rules are correlated, how their
//! events are grouped, the timespan they must fall in and the condition a group must meet.
//!
//! Like the detection loader ([`crate::rules::sigma`]) this never panics and ignores nothing
//! inside `correlation`: an unknown key, a type reconwatch cannot run (`value_percentile`), a
//! timespan outside the specification's format, a condition that does not fit the type — each
//! rejects the whole rule with the construct and the reason. Unknown top-level keys are allowed,
//! as for detection rules (the specification permits custom attributes). The referenced rules
//! are kept as written; resolving them by name or id needs every file loaded first.
//!
//! One custom attribute is reconwatch's own and read here, [`FIRING_KEY`]: which completions
//! of a temporal_ordered sequence a rule fires for ([`Firing`]).

use std::fmt;

use jiff::SignedDuration;

use crate::rules::sigma::{self, Rejection, RuleMeta, TESTS_KEY};
use crate::rules::yaml::Yaml;

/// The correlation types reconwatch runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
    ValueSum,
    ValueAvg,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::EventCount,
        Kind::ValueCount,
        Kind::Temporal,
        Kind::TemporalOrdered,
        Kind::ValueSum,
        Kind::ValueAvg,
    ];

    /// The name Sigma's `type` gives this kind (`event_count` ...).
    pub fn name(self) -> &'static str {
        match self {
            Kind::EventCount => "event_count",
            Kind::ValueCount => "value_count",
            Kind::Temporal => "temporal",
            Kind::TemporalOrdered => "temporal_ordered",
            Kind::ValueSum => "value_sum",
            Kind::ValueAvg => "value_avg",
        }
    }

    fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// What the kind does with the condition's `field`, when it takes one.
    fn field_use(self) -> Option<&'static str> {
        match self {
            Kind::ValueCount => Some("whose distinct values it counts"),
            Kind::ValueSum => Some("whose values it sums"),
            Kind::ValueAvg => Some("whose values it averages"),
            Kind::EventCount | Kind::Temporal | Kind::TemporalOrdered => None,
        }
    }
}

/// The top-level key (a Sigma custom attribute) that says when a correlation fires.
pub const FIRING_KEY: &str = "reconwatch-firing";

/// When a correlation fires for a group (`reconwatch-firing:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Firing {
    /// `first` (the default, every kind): when its condition becomes true for the group, and
    /// again only after it was false; a temporal_ordered sequence also when a newer first step
    /// completes one (a second mail, then its pixel).
    #[default]
    First,
    /// `repeats` (temporal_ordered only): for each later event of the last step that completes
    /// a sequence already completed once, and never for that first completion (another rule
    /// over the same steps, with the default, reports it): the same pixel fetched again, each
    /// time. Other Sigma tools ignore the attribute and fire the rule as they fire any.
    Repeats,
}

impl Firing {
    /// The value `reconwatch-firing` writes for it.
    pub fn name(self) -> &'static str {
        match self {
            Firing::First => "first",
            Firing::Repeats => "repeats",
        }
    }
}

/// A comparison of the condition: the group's count, sum or average against a constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Neq,
}

impl Op {
    const ALL: [Op; 6] = [Op::Gt, Op::Gte, Op::Lt, Op::Lte, Op::Eq, Op::Neq];

    /// The key Sigma writes for this comparison (`gt` ...).
    pub fn name(self) -> &'static str {
        match self {
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Eq => "eq",
            Op::Neq => "neq",
        }
    }

    fn from_name(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|o| o.name() == s)
    }

    /// Whether `x` compares with `constant` as this operator says.
    pub fn holds(self, x: f64, constant: f64) -> bool {
        match self {
            Op::Gt => x > constant,
            Op::Gte => x >= constant,
            Op::Lt => x < constant,
            Op::Lte => x <= constant,
            Op::Eq => x == constant,
            Op::Neq => x != constant,
        }
    }
}

/// `condition:` — every term must hold (a range is two terms). `field` for value_* kinds.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The comparisons, in file order.
    pub terms: Vec<(Op, f64)>,
    /// The field whose values value_count counts, value_sum sums, value_avg averages.
    pub field: Option<String>,
}

impl Condition {
    /// Whether `x` (a count, sum or average) satisfies every term.
    pub fn holds(&self, x: f64) -> bool {
        self.terms.iter().all(|&(op, c)| op.holds(x, c))
    }

    /// The largest constant among the terms (bounds how many events or values a group must keep).
    /// Negative infinity for a condition without terms, which the parser never produces.
    pub fn largest(&self) -> f64 {
        self.terms.iter().map(|&(_, c)| c).fold(f64::NEG_INFINITY, f64::max)
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (op, c)) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(" and ")?;
            }
            write!(f, "{} {c}", op.name())?;
        }
        Ok(())
    }
}

/// A loaded correlation rule.
#[derive(Debug, Clone)]
pub struct CorrelationRule {
    /// The same metadata as a detection rule (title, id or title, level, status, ... name).
    pub meta: RuleMeta,
    pub kind: Kind,
    /// The referenced rules, by name or id, as written.
    pub rules: Vec<String>,
    /// The fields (or aliases) whose values together make a group; empty (`group-by: []`) puts
    /// every event in one group.
    pub group_by: Vec<String>,
    pub timespan: SignedDuration,
    /// The timespan as the rule wrote it (`24h`), for alerts.
    pub timespan_text: String,
    /// Required for every kind but temporal (optional) and temporal_ordered (none).
    pub condition: Option<Condition>,
    /// alias -> [(rule name, field)], in file order
    pub aliases: Vec<(String, Vec<(String, String)>)>,
    /// Whether the referenced rules also alert on their own (Sigma `generate`, default false).
    pub generate: bool,
    /// When it fires ([`FIRING_KEY`]).
    pub firing: Firing,
    /// The file the rule came from.
    pub file: String,
}

type Result<T> = std::result::Result<T, Rejection>;

/// The keys a `correlation` section may hold (`generate` belongs at the top level by the
/// specification; rules in the wild put it here too).
const KEYS: [&str; 7] = [
    "type",
    "rules",
    "group-by",
    "timespan",
    "condition",
    "aliases",
    "generate",
];

/// Reads one YAML document that has a `correlation` key. `file` is kept for reports.
pub fn parse_correlation(doc: &Yaml, file: &str) -> Result<CorrelationRule> {
    let Yaml::Map(_) = doc else {
        return Err(Rejection::new(
            "document",
            format!("a rule is a map, this document is {}", doc.kind()),
        ));
    };
    for key in ["detection", "logsource"] {
        if doc.get(key).is_some() {
            return Err(Rejection::new(
                key,
                format!(
                    "a correlation rule has no {key}; put the detection in its own document and \
                     reference it by name or id"
                ),
            ));
        }
    }
    if doc.get(TESTS_KEY).is_some() {
        return Err(Rejection::new(
            TESTS_KEY,
            "test lines are not supported on correlation rules yet",
        ));
    }
    let meta = sigma::parse_meta(doc)?;
    let corr = match doc.get("correlation") {
        Some(c @ Yaml::Map(entries)) => {
            if let Some((k, _)) = entries.iter().find(|(k, _)| !KEYS.contains(&k.as_str())) {
                return Err(Rejection::new(
                    format!("correlation.{k}"),
                    format!("unknown key (expected {})", KEYS.join(", ")),
                ));
            }
            c
        }
        Some(other) => {
            return Err(Rejection::new(
                "correlation",
                format!("must be a map, is {}", other.kind()),
            ));
        }
        None => {
            return Err(Rejection::new(
                "correlation",
                "a correlation rule needs a correlation section",
            ));
        }
    };
    let kind = parse_kind(corr.get("type"))?;
    let rules = texts(corr, "rules")?;
    if rules.is_empty() {
        return Err(Rejection::new(
            "correlation.rules",
            "needs at least one rule (by name or id)",
        ));
    }
    let group_by = match corr.get("group-by") {
        None | Some(Yaml::Null) => {
            return Err(Rejection::new(
                "correlation.group-by",
                "group-by is required (use [] for one group)",
            ));
        }
        Some(_) => texts(corr, "group-by")?,
    };
    let timespan = parse_timespan(corr.get("timespan"))?;
    let condition = parse_condition(kind, corr.get("condition"))?;
    let aliases = parse_aliases(corr.get("aliases"))?;
    let generate = match (
        flag(doc, "generate", "generate")?,
        flag(corr, "generate", "correlation.generate")?,
    ) {
        (Some(_), Some(_)) => {
            return Err(Rejection::new(
                "correlation.generate",
                "given both at the top level and inside correlation; keep the top-level one (Sigma spec)",
            ));
        }
        (Some(g), None) | (None, Some(g)) => g,
        (None, None) => false,
    };
    let firing = parse_firing(doc.get(FIRING_KEY), kind)?;
    Ok(CorrelationRule {
        meta,
        kind,
        rules,
        group_by,
        timespan,
        timespan_text: corr.get("timespan").and_then(Yaml::scalar_text).unwrap_or_default(),
        condition,
        aliases,
        generate,
        firing,
        file: file.to_owned(),
    })
}

/// `reconwatch-firing:` — `first` or `repeats`; repeats need an ordered sequence (only there
/// does "the same sequence, completed again" have a meaning).
fn parse_firing(v: Option<&Yaml>, kind: Kind) -> Result<Firing> {
    let firing = match v {
        None | Some(Yaml::Null) => return Ok(Firing::First),
        Some(Yaml::Str(s)) if s == "first" => Firing::First,
        Some(Yaml::Str(s)) if s == "repeats" => Firing::Repeats,
        Some(other) => {
            let what = match other {
                Yaml::Str(s) => format!("`{s}`"),
                other => other.kind().to_owned(),
            };
            return Err(Rejection::new(
                FIRING_KEY,
                format!("must be first or repeats, is {what}"),
            ));
        }
    };
    if firing == Firing::Repeats && kind != Kind::TemporalOrdered {
        return Err(Rejection::new(
            FIRING_KEY,
            format!("repeats needs type temporal_ordered, not {}", kind.name()),
        ));
    }
    Ok(firing)
}

/// A list of non-empty text under `correlation.<key>` (a single text is a list of one).
fn texts(corr: &Yaml, key: &str) -> Result<Vec<String>> {
    let construct = format!("correlation.{key}");
    let items = sigma::texts(corr, key).map_err(|r| Rejection::new(&construct, r.reason))?;
    if items.iter().any(String::is_empty) {
        return Err(Rejection::new(construct, "holds an empty name"));
    }
    Ok(items)
}

/// A boolean under `key`; `construct` names it in a rejection.
fn flag(map: &Yaml, key: &str, construct: &str) -> Result<Option<bool>> {
    match map.get(key) {
        None => Ok(None),
        Some(Yaml::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(Rejection::new(
            construct,
            format!("must be true or false, is {}", other.kind()),
        )),
    }
}

fn parse_kind(v: Option<&Yaml>) -> Result<Kind> {
    const C: &str = "correlation.type";
    let expected = || Kind::ALL.map(Kind::name).join(", ");
    let name = match v {
        Some(Yaml::Str(s)) => s,
        None | Some(Yaml::Null) => {
            return Err(Rejection::new(C, format!("is required (one of {})", expected())));
        }
        Some(other) => {
            return Err(Rejection::new(
                C,
                format!("must be one of {}, is {}", expected(), other.kind()),
            ));
        }
    };
    if name == "value_percentile" {
        return Err(Rejection::new(
            C,
            "value_percentile is not supported (its condition's meaning is not defined precisely enough to implement)",
        ));
    }
    Kind::from_name(name).ok_or_else(|| {
        Rejection::new(
            C,
            format!("`{name}` is not a correlation type (expected {})", expected()),
        )
    })
}

/// `<positive integer><s|m|h|d>`, exactly as the specification writes it.
fn parse_timespan(v: Option<&Yaml>) -> Result<SignedDuration> {
    const C: &str = "correlation.timespan";
    let s = match v {
        Some(Yaml::Str(s)) => s,
        None | Some(Yaml::Null) => return Err(Rejection::new(C, format!("is required: {DURATION_FORMAT}"))),
        Some(other) => {
            let shown = other.scalar_text().unwrap_or_else(|| other.kind().to_owned());
            return Err(Rejection::new(
                C,
                format!("`{shown}` is not a timespan: {DURATION_FORMAT}"),
            ));
        }
    };
    match parse_duration(s) {
        Ok(d) if d.is_zero() => Err(Rejection::new(
            C,
            format!("`{s}` is not a timespan: {DURATION_FORMAT}, not zero"),
        )),
        Ok(d) => Ok(d),
        Err(reason) => Err(Rejection::new(C, reason)),
    }
}

/// How a timespan is written (the specification's format).
pub const DURATION_FORMAT: &str = "a timespan is a positive whole number followed by s, m, h or d (e.g. 90m)";

/// Reads a duration in the specification's timespan format (`30s`, `90m`, `24h`, `14d`); zero
/// is allowed here (a correlation's timespan rejects it). Also used for `scan --lateness`.
pub fn parse_duration(s: &str) -> std::result::Result<SignedDuration, String> {
    let bad = || format!("`{s}` is not a timespan: {DURATION_FORMAT}");
    let (digits, unit_secs) = match s.as_bytes().last() {
        Some(b's') => (&s[..s.len() - 1], 1),
        Some(b'm') => (&s[..s.len() - 1], 60),
        Some(b'h') => (&s[..s.len() - 1], 3600),
        Some(b'd') => (&s[..s.len() - 1], 86_400),
        _ => return Err(bad()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    digits
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_secs))
        .map(SignedDuration::from_secs)
        .ok_or_else(|| format!("`{s}` is too long a timespan"))
}

fn parse_condition(kind: Kind, v: Option<&Yaml>) -> Result<Option<Condition>> {
    const C: &str = "correlation.condition";
    let ops = || Op::ALL.map(Op::name).join(", ");
    let Some(v) = v.filter(|v| !matches!(v, Yaml::Null)) else {
        return match kind {
            Kind::Temporal | Kind::TemporalOrdered => Ok(None),
            _ => Err(Rejection::new(
                C,
                format!("{} requires a condition (one or more of {})", kind.name(), ops()),
            )),
        };
    };
    if kind == Kind::TemporalOrdered {
        return Err(Rejection::new(
            C,
            "temporal_ordered requires every rule, in order; it takes no condition",
        ));
    }
    let Yaml::Map(entries) = v else {
        return Err(Rejection::new(
            C,
            format!("must be a map of {} and field, is {}", ops(), v.kind()),
        ));
    };
    let mut terms = Vec::new();
    let mut field = None;
    for (k, value) in entries {
        if k == "field" {
            field = Some(parse_field(value)?);
            continue;
        }
        let construct = format!("{C}.{k}");
        let op = Op::from_name(k)
            .ok_or_else(|| Rejection::new(&construct, format!("unknown operator (expected {} or field)", ops())))?;
        let constant = match value {
            Yaml::Int(n) => *n as f64,
            Yaml::Float(f) if f.is_finite() => *f,
            Yaml::Str(s) => {
                return Err(Rejection::new(
                    construct,
                    format!("must be a number, is the text `{s}` (write the number unquoted)"),
                ));
            }
            other => {
                let shown = other.scalar_text().unwrap_or_else(|| other.kind().to_owned());
                return Err(Rejection::new(
                    construct,
                    format!("must be a finite number, is `{shown}`"),
                ));
            }
        };
        terms.push((op, constant));
    }
    if terms.is_empty() {
        return Err(Rejection::new(C, format!("needs at least one of {}", ops())));
    }
    match (kind.field_use(), &field) {
        (Some(what), None) => {
            return Err(Rejection::new(
                format!("{C}.field"),
                format!("{} requires a field ({what})", kind.name()),
            ));
        }
        (None, Some(_)) => {
            let counts = if kind == Kind::EventCount {
                "event_count counts events (value_count counts a field's distinct values)"
            } else {
                "temporal counts the referenced rules that matched"
            };
            return Err(Rejection::new(
                format!("{C}.field"),
                format!("{counts}; it takes no field"),
            ));
        }
        _ => {}
    }
    Ok(Some(Condition { terms, field }))
}

/// `field: name`, or a list of one name.
fn parse_field(v: &Yaml) -> Result<String> {
    const C: &str = "correlation.condition.field";
    let one = match v {
        Yaml::Seq(items) => match items.as_slice() {
            [one] => one,
            _ => {
                return Err(Rejection::new(
                    C,
                    format!("a list of {} fields; reconwatch takes exactly one field", items.len()),
                ));
            }
        },
        v => v,
    };
    match one {
        Yaml::Str(s) if !s.is_empty() => Ok(s.clone()),
        other => Err(Rejection::new(
            C,
            format!("must be a field name (text), is {}", other.kind()),
        )),
    }
}

/// alias -> [(rule name, field)], as [`CorrelationRule::aliases`] holds them.
type Aliases = Vec<(String, Vec<(String, String)>)>;

/// `aliases: {alias: {rule name: field}}`.
fn parse_aliases(v: Option<&Yaml>) -> Result<Aliases> {
    const C: &str = "correlation.aliases";
    let entries = match v {
        None | Some(Yaml::Null) => return Ok(Vec::new()),
        Some(Yaml::Map(entries)) => entries,
        Some(other) => {
            return Err(Rejection::new(
                C,
                format!("must be a map of alias -> (rule name -> field), is {}", other.kind()),
            ));
        }
    };
    let mut out = Vec::with_capacity(entries.len());
    for (alias, per_rule) in entries {
        let construct = format!("{C}.{alias}");
        let Yaml::Map(per_rule) = per_rule else {
            return Err(Rejection::new(
                construct,
                format!("must be a map of rule name -> field, is {}", per_rule.kind()),
            ));
        };
        if alias.is_empty() || per_rule.is_empty() {
            return Err(Rejection::new(
                construct,
                "an alias needs a name and at least one rule name -> field",
            ));
        }
        let mut fields = Vec::with_capacity(per_rule.len());
        for (rule, field) in per_rule {
            match field {
                Yaml::Str(f) if !f.is_empty() => fields.push((rule.clone(), f.clone())),
                other => {
                    return Err(Rejection::new(
                        format!("{construct}.{rule}"),
                        format!("must be a field name (text), is {}", other.kind()),
                    ));
                }
            }
        }
        out.push((alias.clone(), fields));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
