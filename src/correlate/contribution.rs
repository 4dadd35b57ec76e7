//! What one event brings to the correlations: built on the scan threads, right after the rules
//! matched, from the event's fields; carried to the time-ordered merge ([`super::merge`]) and the
//! [`super::Correlator`].
//!
//! Only events that match a rule some correlation refers to make contributions, so ordinary
//! traffic costs nothing here. The event itself does not survive the scan thread: what an alert
//! will show of it is copied once into an [`Evidence`] shared by all its contributions.
//!
//! Evidence and values also (de)serialize for the state snapshot ([`super::snapshot`]):
//! evidence in the form alerts show it, a number as the text Rust prints for it (JSON numbers
//! would not come back bit for bit through serde_json's default float parser).

use std::fmt::{self, Write as _};
use std::sync::Arc;

use jiff::Timestamp;
use serde::de::{Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::event::{Event, Field, Value};
use crate::targets::Targets;

pub use super::compile::EvidenceRule;
use super::compile::{Correlations, Feed, From};
use crate::rules::correlation::Kind;

/// The most bytes of `event.original` an [`Evidence`] keeps (an assembled mail message can be
/// long); the cut is marked.
pub const MAX_ORIGINAL: usize = 2048;

/// The most group keys one event may open (the product of list-valued group-by fields, such as
/// the recipients of one message); the rest are counted as dropped.
pub const MAX_KEYS_PER_EVENT: usize = 64;

/// Separates the values of a multi-field group key.
pub const KEY_SEPARATOR: char = '\u{1f}';

/// What a correlation alert shows of one contributing event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evidence {
    #[serde(rename = "@timestamp")]
    pub timestamp: Timestamp,
    /// The detection rule it matched (shared by every evidence of that rule). Read back, it is
    /// a rule of its own until a restore links it to the loaded one by id.
    #[serde(serialize_with = "shared", deserialize_with = "unlinked")]
    pub rule: Arc<EvidenceRule>,
    pub event: EvidenceEvent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<EvidenceEmail>,
    pub log: EvidenceLog,
    /// The values of the fields the matched rule lists under `fields`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "pairs",
        deserialize_with = "field_pairs"
    )]
    pub fields: Vec<(&'static str, String)>,
    /// The watchlist groups the event concerns and whether it fetched a tracking pixel.
    #[serde(default, skip_serializing_if = "Targets::is_empty")]
    pub targets: Targets,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvidenceEvent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvidenceEmail {
    pub message_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvidenceLog {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<EvidenceFile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvidenceFile {
    pub path: String,
}

fn shared<S: Serializer>(r: &Arc<EvidenceRule>, s: S) -> Result<S::Ok, S::Error> {
    r.serialize(s)
}

fn unlinked<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<EvidenceRule>, D::Error> {
    EvidenceRule::deserialize(d).map(Arc::new)
}

fn pairs<S: Serializer>(v: &[(&'static str, String)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(v.len()))?;
    for (k, val) in v {
        m.serialize_entry(k, val)?;
    }
    m.end()
}

/// The `fields` map read back: each name must be a field reconwatch knows (its name is kept as
/// the field's own `&'static str`).
fn field_pairs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(&'static str, String)>, D::Error> {
    struct Pairs;
    impl<'de> Visitor<'de> for Pairs {
        type Value = Vec<(&'static str, String)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map from field names to values")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((name, value)) = map.next_entry::<String, String>()? {
                let field = Field::from_name(&name)
                    .ok_or_else(|| A::Error::custom(format_args!("`{name}` is not a field reconwatch events have")))?;
                out.push((field.name(), value));
            }
            Ok(out)
        }
    }
    d.deserialize_map(Pairs)
}

/// Writes a list of shared evidence as the list of the evidence itself.
pub(super) fn evidence_list<S: Serializer>(events: &[Arc<Evidence>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(events.iter().map(|e| &**e))
}

impl Evidence {
    /// What an alert shows of `event`, which matched `rule` at `timestamp`.
    pub fn of(event: &Event<'_>, rule: &Arc<EvidenceRule>, timestamp: Timestamp) -> Evidence {
        let fields = rule
            .fields
            .iter()
            .filter_map(|&f| event.get(f).map(|v| (f.name(), v.to_string())))
            .collect();
        Evidence {
            timestamp,
            rule: Arc::clone(rule),
            event: EvidenceEvent {
                dataset: event.event.dataset.as_deref().map(str::to_owned),
                original: event.event.original.as_deref().map(cut),
            },
            email: event.email.message_id.as_deref().map(|m| EvidenceEmail {
                message_id: m.to_owned(),
            }),
            log: EvidenceLog {
                file: event
                    .log
                    .file
                    .path
                    .as_deref()
                    .map(|p| EvidenceFile { path: p.to_owned() }),
                offset: event.log.offset,
            },
            fields,
            targets: Targets::of(event),
        }
    }

    /// The text the merge breaks time ties with (so that order never depends on which file
    /// or thread an event came from).
    pub fn tie(&self) -> &str {
        self.event.original.as_deref().unwrap_or("")
    }
}

fn cut(s: &str) -> String {
    if s.len() <= MAX_ORIGINAL {
        return s.to_owned();
    }
    let mut end = MAX_ORIGINAL;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[{} bytes cut]", &s[..end], s.len() - end)
}

/// The events behind one contribution: one matched event, or the events of a chained
/// correlation's firing.
#[derive(Debug, Clone)]
pub enum Events {
    One(Arc<Evidence>),
    Many(Arc<[Arc<Evidence>]>),
}

impl Events {
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Evidence>> {
        let (one, many): (Option<&Arc<Evidence>>, &[Arc<Evidence>]) = match self {
            Events::One(e) => (Some(e), &[]),
            Events::Many(m) => (None, m),
        };
        one.into_iter().chain(many.iter())
    }

    /// The first event's text (see [`Evidence::tie`]).
    pub fn tie(&self) -> &str {
        self.iter().next().map_or("", |e| e.tie())
    }
}

/// A value the condition's `field` contributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Val {
    Text(Box<str>),
    Num(#[serde(with = "exact")] f64),
}

/// An `f64` as the shortest text that reads back as the same number.
mod exact {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(n: &f64, s: S) -> Result<S::Ok, S::Error> {
        // Debug: the shortest digits that read back, with an exponent when very large or small.
        s.collect_str(&format_args!("{n:?}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|_| D::Error::custom(format_args!("`{text}` is not a number")))
    }
}

/// One event's (or one chained firing's) contribution to one step of one correlation, under
/// one group key.
#[derive(Debug, Clone)]
pub struct Contribution {
    /// Event time in milliseconds since the Unix epoch.
    pub time: i64,
    pub feed: Feed,
    /// The group-by values, joined by [`KEY_SEPARATOR`].
    pub key: Box<str>,
    pub value: Option<Val>,
    pub events: Events,
}

impl Contribution {
    /// The order the merge releases contributions in: time, then the event's text (so ties do
    /// not depend on input order or splitting), then correlation, step and key.
    pub fn order(&self, other: &Contribution) -> std::cmp::Ordering {
        self.time
            .cmp(&other.time)
            .then_with(|| self.events.tie().cmp(other.events.tie()))
            .then_with(|| self.feed.correlation.cmp(&other.feed.correlation))
            .then_with(|| self.feed.step.cmp(&other.feed.step))
            .then_with(|| self.key.cmp(&other.key))
    }
}

/// Why an event matched a referenced rule and still made no contribution; counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The event has no `@timestamp`: it has no place in time.
    NoTimestamp,
    /// A group-by field (or the condition's field) is missing.
    NoGroupField,
    /// More group keys than [`MAX_KEYS_PER_EVENT`]; the rest were dropped.
    TooManyKeys,
}

impl Skip {
    pub fn name(self) -> &'static str {
        match self {
            Skip::NoTimestamp => "no_timestamp",
            Skip::NoGroupField => "no_group_field",
            Skip::TooManyKeys => "too_many_keys",
        }
    }
}

/// Counts of what contributions were made and skipped, per scan thread; summed at the end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContributeStats {
    pub made: u64,
    pub no_timestamp: u64,
    pub no_group_field: u64,
    pub too_many_keys: u64,
}

impl ContributeStats {
    pub fn add(&mut self, o: &ContributeStats) {
        self.made += o.made;
        self.no_timestamp += o.no_timestamp;
        self.no_group_field += o.no_group_field;
        self.too_many_keys += o.too_many_keys;
    }

    fn skip(&mut self, s: Skip) {
        match s {
            Skip::NoTimestamp => self.no_timestamp += 1,
            Skip::NoGroupField => self.no_group_field += 1,
            Skip::TooManyKeys => self.too_many_keys += 1,
        }
    }
}

impl Correlations {
    /// Whether matches of detection rule `rule` feed a correlation.
    #[inline]
    pub fn feeds(&self, rule: u32) -> bool {
        self.rule_feeds.get(rule as usize).is_some_and(|f| !f.is_empty())
    }

    /// Every field of an event that [`Correlations::contribute`] reads for a match of detection
    /// rule `rule`: the group-by and condition fields of the steps it feeds and the fields its
    /// evidence lists (a field may come more than once).
    pub fn fields_read(&self, rule: u32) -> impl Iterator<Item = Field> + '_ {
        let feeds = self.rule_feeds.get(rule as usize).map_or(&[][..], Vec::as_slice);
        let steps = feeds.iter().flat_map(move |feed| {
            let c = &self.list[feed.correlation as usize];
            let step = feed.step as usize;
            c.keys[step].iter().chain(c.value[step].iter())
        });
        let evidence = self
            .rule_names
            .get(rule as usize)
            .filter(|_| !feeds.is_empty())
            .map_or(&[][..], |n| n.fields.as_slice());
        steps
            .filter_map(|from| match from {
                From::Field(f) => Some(*f),
                From::Inner(_) => None,
            })
            .chain(evidence.iter().copied())
    }

    /// Whether matches of detection rule `rule` are written as alerts of their own.
    #[inline]
    pub fn alerts(&self, rule: u32) -> bool {
        self.rule_alerts.get(rule as usize).copied().unwrap_or(true)
    }

    /// Appends to `out` what `event`, which matched detection rule `rule` (an index into the
    /// engine's rules), contributes to the correlations; what it could not contribute is counted in
    /// `stats`. `out[event_start..]` holds what the same event contributed through other rules:
    /// a count or value correlation counts one event once, whichever of its rules it matched.
    pub fn contribute(
        &self,
        rule: u32,
        event: &Event<'_>,
        event_start: usize,
        out: &mut Vec<Contribution>,
        stats: &mut ContributeStats,
    ) {
        let Some(feeds) = self.rule_feeds.get(rule as usize).filter(|f| !f.is_empty()) else {
            return;
        };
        let Some(ts) = event.timestamp else {
            stats.skip(Skip::NoTimestamp);
            return;
        };
        let time = ts.as_millisecond();
        let mut evidence: Option<Arc<Evidence>> = None;
        let mut keys = Vec::new();
        for &feed in feeds {
            let c = &self.list[feed.correlation as usize];
            let step = feed.step as usize;
            let value = match c.value[step] {
                Some(From::Field(f)) => match event.get(f) {
                    Some(v) => Some(v),
                    None => {
                        stats.skip(Skip::NoGroupField);
                        continue;
                    }
                },
                _ => None,
            };
            keys.clear();
            if let Err(s) = group_keys(&c.keys[step], |f| event.get(f), &mut keys) {
                stats.skip(s);
                if keys.is_empty() {
                    continue;
                }
            }
            let ev = evidence.get_or_insert_with(|| Arc::new(Evidence::of(event, &self.rule_names[rule as usize], ts)));
            let numeric = matches!(c.rule.kind, Kind::ValueSum | Kind::ValueAvg);
            let once = !matches!(c.rule.kind, Kind::Temporal | Kind::TemporalOrdered);
            // A list-valued condition field contributes each of its values.
            let values: Vec<Option<Val>> = match value {
                None => vec![None],
                Some(Value::List(l)) => l.iter().map(|s| Some(to_val(Value::Str(s), numeric))).collect(),
                Some(v) => vec![Some(to_val(v, numeric))],
            };
            for key in &keys {
                for v in &values {
                    if numeric && !matches!(v, Some(Val::Num(_))) {
                        stats.skip(Skip::NoGroupField);
                        continue;
                    }
                    if once
                        && out[event_start.min(out.len())..]
                            .iter()
                            .any(|o| o.feed.correlation == feed.correlation && *o.key == **key && o.value == *v)
                    {
                        continue;
                    }
                    out.push(Contribution {
                        time,
                        feed,
                        key: key.as_str().into(),
                        value: v.clone(),
                        events: Events::One(Arc::clone(ev)),
                    });
                    stats.made += 1;
                }
            }
        }
    }
}

fn to_val(v: Value<'_>, numeric: bool) -> Val {
    match v {
        Value::Int(n) if numeric => Val::Num(n as f64),
        Value::Str(s) if numeric => match s.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => Val::Num(n),
            _ => Val::Text(s.into()),
        },
        v => Val::Text(v.to_string().into()),
    }
}

/// The group keys of one contribution: every combination of the group-by fields' values (a list
/// field gives one key per value), at most [`MAX_KEYS_PER_EVENT`]. A missing field gives none.
pub fn group_keys<'e>(
    from: &[From],
    mut get: impl FnMut(crate::event::Field) -> Option<Value<'e>>,
    out: &mut Vec<String>,
) -> Result<(), Skip> {
    out.push(String::new());
    for (i, f) in from.iter().enumerate() {
        let From::Field(f) = *f else {
            continue;
        };
        let Some(v) = get(f) else {
            out.clear();
            return Err(Skip::NoGroupField);
        };
        let mut texts: Vec<String> = match v {
            Value::List(l) => l.iter().map(|s| s.to_string()).collect(),
            v => vec![v.to_string()],
        };
        texts.sort_unstable();
        texts.dedup();
        let prefixes = std::mem::take(out);
        let mut cut = false;
        'outer: for p in &prefixes {
            for t in &texts {
                if out.len() == MAX_KEYS_PER_EVENT {
                    cut = true;
                    break 'outer;
                }
                let mut k = p.clone();
                if i > 0 {
                    k.push(KEY_SEPARATOR);
                }
                let _ = write!(k, "{t}");
                out.push(k);
            }
        }
        if cut {
            return Err(Skip::TooManyKeys);
        }
    }
    Ok(())
}
