//! A correlation alert as one JSON line: `@timestamp` (the event that made the condition true),
//! `rule` (the correlation's metadata, like a detection alert's), and `correlation`: its type,
//! timespan, condition, the group it fired for (group-by names and values), the count, distinct
//! values, sum or average it tested, the window's first and last event times, and the
//! contributing events (time, rule, dataset, message id, file and offset, the fields the rule
//! lists, the watchlist groups concerned and a pixel fetch ([`crate::alert::Targets`]),
//! `event.original`).

use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;

use super::compile::Compiled;
use super::contribution::{Evidence, evidence_list};
use super::state::Fired;
use crate::rules::RuleMeta;

#[derive(Serialize)]
struct Line<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: Timestamp,
    event: Kind,
    rule: &'a RuleMeta,
    correlation: Body<'a>,
}

#[derive(Serialize)]
struct Kind {
    kind: &'static str,
    dataset: &'static str,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timespan: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    condition: Option<String>,
    #[serde(serialize_with = "group")]
    group: (&'a [String], &'a [String]),
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    /// The count, distinct values, sum or average the condition tested.
    value: f64,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    values: &'a [String],
    first: Timestamp,
    last: Timestamp,
    #[serde(serialize_with = "evidence")]
    events: &'a [Arc<Evidence>],
    #[serde(skip_serializing_if = "is_zero")]
    events_omitted: usize,
}

fn evidence<S: serde::Serializer>(events: &&[Arc<Evidence>], s: S) -> Result<S::Ok, S::Error> {
    evidence_list(events, s)
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn group<S: serde::Serializer>(g: &(&[String], &[String]), s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(g.0.len()))?;
    for (k, v) in g.0.iter().zip(g.1) {
        m.serialize_entry(k, v)?;
    }
    m.end()
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Appends the alert for `fired` (of correlation `c`) as one JSON line to `out`.
pub fn write_json_line(out: &mut Vec<u8>, c: &Compiled, fired: &Fired) {
    write_json(out, c, fired);
    out.push(b'\n');
}

/// Appends the alert document for `fired` (of correlation `c`) to `out`, without a newline.
pub fn write_json(out: &mut Vec<u8>, c: &Compiled, fired: &Fired) {
    let line = Line {
        timestamp: ts(fired.time),
        event: Kind {
            kind: "alert",
            dataset: "reconwatch.correlation",
        },
        rule: &c.rule.meta,
        correlation: Body {
            kind: c.rule.kind.name(),
            timespan: c.rule.timespan_text.clone(),
            condition: c.rule.condition.as_ref().map(|c| c.to_string()),
            group: (&c.group_names, &fired.key),
            field: c.rule.condition.as_ref().and_then(|c| c.field.as_deref()),
            value: fired.aggregate,
            values: &fired.values,
            first: ts(fired.first),
            last: ts(fired.last),
            events: &fired.events,
            events_omitted: fired.events_omitted,
        },
    };
    // Serializing into a Vec cannot fail for these types (string keys, no custom errors).
    let _ = serde_json::to_writer(&mut *out, &line);
}
