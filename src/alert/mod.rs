//! Alerts: what a rule match becomes, and how it is written.
//!
//! An alert is an ECS document: the matched event's fields at the top level (so `@timestamp`,
//! `event.original`, `log.file.path` and `log.offset` point at the evidence), plus `rule` (id,
//! title, level, tags, description, references, ...) and `matches` (for each true selection, the
//! key as the rule wrote it, the Event field, and the value that hit). `@timestamp` is the
//! event's time, never the scan's wall clock, so a rescan of the same logs writes the same bytes.

use serde::Serialize;

use crate::event::Event;
use crate::rules::{Hit, RuleMeta};

/// One rule match on one event.
#[derive(Debug, Serialize)]
pub struct Alert<'a, 'e> {
    #[serde(flatten)]
    pub event: &'a Event<'e>,
    pub rule: &'a RuleMeta,
    pub matches: &'a [Hit],
}

/// Appends `alert` as one JSON line to `out`.
pub fn write_json_line(out: &mut Vec<u8>, alert: &Alert<'_, '_>) {
    // Serializing into a Vec cannot fail for these types (string keys, no custom errors).
    if serde_json::to_writer(&mut *out, alert).is_ok() {
        out.push(b'\n');
    }
}
