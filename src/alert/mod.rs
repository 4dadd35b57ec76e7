//! Alerts: what a rule match or a correlation firing becomes, and where it goes.
//!
//! One owned model for both kinds, [`Alert`]: the rule that raised it (id, title, level), its
//! kind, its time, and the document itself, rendered once as one line of JSON. A sink routes,
//! counts and queues alerts by the first fields and writes the document as it is, so an alert
//! never borrows from the line or the rule set that produced it (a daemon may hold it while a
//! receiver is down, across a reload).
//!
//! A rule match's document is an ECS document: the matched event's fields at the top level (so
//! `@timestamp`, `event.original`, `log.file.path` and `log.offset` point at the evidence), plus
//! `rule` (id, title, level, tags, description, references, ...) and `matches` (for each true
//! selection, the key as the rule wrote it, the Event field, and the value that hit). A
//! correlation's is described in [`crate::correlate::alert`]. `@timestamp` is always the log's
//! time, never the scan's wall clock, so a rescan of the same logs writes the same bytes.
//!
//! Sinks implement [`AlertSink`]; [`JsonLines`] writes one document per line to any writer.
//!
//! The daemon's sinks: [`Sinks`] fans each alert out to the configured sinks after repeat
//! suppression (`suppress`): standard output and size-rotated files (`file`), webhooks
//! (`webhook`) and RFC 5424 syslog forwarding (`forward`), the network ones through a durable
//! on-disk spool (`spool`) so that a receiver that is down loses nothing, across restarts too.

mod file;
mod forward;
mod net;
mod sinks;
mod spool;
mod suppress;
mod webhook;

pub use sinks::{SinkSetupError, Sinks};

use std::io::{self, Write};

use jiff::Timestamp;
use serde::Serialize;

use crate::correlate::Fired;
use crate::correlate::compile::Compiled;
use crate::event::Event;
use crate::rules::{Hit, Level, RuleMeta};

/// What raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// A detection rule matched one event.
    Match,
    /// A correlation rule's condition became true.
    Correlation,
}

/// One alert, owned. See the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub rule_id: String,
    pub title: String,
    pub level: Level,
    pub kind: AlertKind,
    /// The log time of the event that raised it.
    pub time: Option<Timestamp>,
    /// The alert document: one line of JSON, without the newline.
    pub json: Vec<u8>,
}

/// A rule match as its document is written.
#[derive(Serialize)]
struct MatchDocument<'a, 'e> {
    #[serde(flatten)]
    event: &'a Event<'e>,
    rule: &'a RuleMeta,
    matches: &'a [Hit],
}

impl Alert {
    fn new(rule: &RuleMeta, kind: AlertKind, time: Option<Timestamp>, json: Vec<u8>) -> Alert {
        Alert {
            rule_id: rule.id.clone(),
            title: rule.title.clone(),
            level: rule.level,
            kind,
            time,
            json,
        }
    }

    /// The alert for `rule` matching `event`, with the selections that hit.
    pub fn of_match(event: &Event<'_>, rule: &RuleMeta, matches: &[Hit]) -> Alert {
        let mut json = Vec::with_capacity(1024);
        // Serializing into a Vec cannot fail for these types (string keys, no custom errors).
        let _ = serde_json::to_writer(&mut json, &MatchDocument { event, rule, matches });
        Alert::new(rule, AlertKind::Match, event.timestamp, json)
    }

    /// The alert for correlation `c` firing.
    pub fn of_correlation(c: &Compiled, fired: &Fired) -> Alert {
        let mut json = Vec::with_capacity(2048);
        crate::correlate::alert::write_json(&mut json, c, fired);
        let time = Timestamp::from_millisecond(fired.time).ok();
        Alert::new(&c.rule.meta, AlertKind::Correlation, time, json)
    }
}

/// Why a sink could not take an alert.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Writing failed (a full disk, a closed pipe: the kind tells which).
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<SinkError> for io::Error {
    fn from(e: SinkError) -> io::Error {
        match e {
            SinkError::Io(e) => e,
        }
    }
}

/// Where alerts go. A sink that fails returns the error; what the caller does about it (stop a
/// batch run, retry or spool in a daemon) is the caller's policy.
pub trait AlertSink {
    fn alert(&mut self, alert: Alert) -> Result<(), SinkError>;
}

/// Keeps every alert (tests, and callers that sort or report them afterwards).
impl AlertSink for Vec<Alert> {
    fn alert(&mut self, alert: Alert) -> Result<(), SinkError> {
        self.push(alert);
        Ok(())
    }
}

/// Writes each alert's document as one line.
pub struct JsonLines<W: Write> {
    pub out: W,
}

impl<W: Write> AlertSink for JsonLines<W> {
    fn alert(&mut self, alert: Alert) -> Result<(), SinkError> {
        self.out.write_all(&alert.json)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }
}
