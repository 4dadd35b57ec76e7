//! Repeat suppression (`suppress: {window, fields}`): an alert whose rule and values of `fields`
//! were already passed on within `window` of event time is held back and counted in
//! `alerts_suppressed{rule}`, so one noisy sender does not page the SOC a thousand times.
//!
//! Fields are read from the alert document by dotted ECS name (`source.ip` as nested objects or
//! as one key); an absent field counts as empty. Time is the alert's event time (the wall clock
//! for an alert without one), so a replay of old logs suppresses as the live run did. A
//! correlation alert is never suppressed: it already summarizes many events. Memory is bounded:
//! entries older than the window (behind the newest time seen) are pruned, and past
//! [`MAX_KEYS`] the oldest are forgotten first (a forgotten key only means one repeat more).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use super::{Alert, AlertKind};
use crate::daemon::config::{DEFAULT_SUPPRESS_FIELDS, SuppressConfig, duration};
use crate::metrics::DaemonMetrics;

/// Keys remembered at most.
pub const MAX_KEYS: usize = 100_000;

/// The window and fields of a `suppress` setting, checked.
pub(crate) fn parse(config: &SuppressConfig) -> Result<(Duration, Vec<String>), String> {
    let window = duration("window", Some(&config.window), Duration::ZERO)?;
    if window.is_zero() {
        return Err("window: must be longer than 0".into());
    }
    let fields = match &config.fields {
        Some(f) => f.clone(),
        None => DEFAULT_SUPPRESS_FIELDS.iter().map(|s| (*s).to_owned()).collect(),
    };
    if let Some(bad) = fields.iter().find(|f| f.is_empty() || f.split('.').any(str::is_empty)) {
        return Err(format!("fields: {bad:?} is not a dotted field name (like source.ip)"));
    }
    Ok((window, fields))
}

pub struct Suppressor {
    window_ms: i64,
    fields: Vec<String>,
    /// Key → event time (ms) it was last passed on.
    seen: HashMap<Arc<str>, i64>,
    /// Keys in the order they were passed on; an entry whose time differs from `seen` is stale.
    order: VecDeque<(i64, Arc<str>)>,
    newest: i64,
    metrics: DaemonMetrics,
}

impl Suppressor {
    pub fn new(config: &SuppressConfig, metrics: DaemonMetrics) -> Result<Suppressor, String> {
        let (window, fields) = parse(config)?;
        Ok(Suppressor {
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
            fields,
            seen: HashMap::new(),
            order: VecDeque::new(),
            newest: i64::MIN,
            metrics,
        })
    }

    /// Whether `alert` goes on to the sinks (counted when it does not).
    pub fn pass(&mut self, alert: &Alert) -> bool {
        if alert.kind == AlertKind::Correlation {
            return true;
        }
        let t = alert.time.unwrap_or_else(Timestamp::now).as_millisecond();
        self.prune(t);
        let key = self.key(alert);
        if let Some(&last) = self.seen.get(key.as_str())
            && (t - last).abs() < self.window_ms
        {
            self.metrics
                .alerts_suppressed
                .with_label_values(&[&alert.rule_id])
                .inc();
            return false;
        }
        let key: Arc<str> = key.into();
        self.seen.insert(key.clone(), t);
        self.order.push_back((t, key));
        true
    }

    /// The rule id and the fields' values, joined by a separator no value carries unescaped.
    fn key(&self, alert: &Alert) -> String {
        let doc: Value = serde_json::from_slice(&alert.json).unwrap_or(Value::Null);
        let mut key = alert.rule_id.clone();
        for f in &self.fields {
            key.push('\u{1f}');
            match lookup(&doc, f) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => key.push_str(s),
                Some(v) => key.push_str(&v.to_string()),
            }
        }
        key
    }

    fn prune(&mut self, t: i64) {
        self.newest = self.newest.max(t);
        let horizon = self.newest.saturating_sub(self.window_ms);
        while let Some((time, key)) = self.order.front() {
            let expired = *time < horizon;
            // Stale entries (the key was passed on again later) also bound the queue.
            let over = self.seen.len() > MAX_KEYS || self.order.len() > 2 * MAX_KEYS;
            if !expired && !over {
                break;
            }
            if self.seen.get(key) == Some(time) {
                self.seen.remove(key);
            }
            self.order.pop_front();
        }
    }
}

/// The value at a dotted `path`: nested objects, or a key that holds dots itself.
fn lookup<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    let obj = v.as_object()?;
    if let Some(found) = obj.get(path) {
        return Some(found);
    }
    path.match_indices('.')
        .find_map(|(i, _)| obj.get(&path[..i]).and_then(|inner| lookup(inner, &path[i + 1..])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_names_find_nested_and_flat_keys() {
        let v: Value = serde_json::from_str(r#"{"source":{"ip":"10.0.0.1"},"url.domain":"x.example"}"#).unwrap();
        assert_eq!(lookup(&v, "source.ip"), Some(&Value::from("10.0.0.1")));
        assert_eq!(lookup(&v, "url.domain"), Some(&Value::from("x.example")));
        assert_eq!(lookup(&v, "user.name"), None);
    }

    #[test]
    fn memory_is_bounded_by_the_key_cap() {
        let m = DaemonMetrics::register(&prometheus::Registry::new());
        let config = SuppressConfig {
            window: "1h".into(),
            fields: Some(vec!["n".into()]),
        };
        let mut s = Suppressor::new(&config, m).unwrap();
        let t = Timestamp::from_second(1_700_000_000).unwrap();
        for i in 0..MAX_KEYS + 10 {
            let a = Alert {
                rule_id: "r".into(),
                title: String::new(),
                level: crate::rules::Level::Low,
                kind: AlertKind::Match,
                time: Some(t),
                json: format!("{{\"n\":{i}}}").into_bytes(),
            };
            assert!(s.pass(&a));
        }
        assert!(s.seen.len() <= MAX_KEYS + 1);
    }

    #[test]
    fn bad_settings_are_named() {
        let bad = |w: &str, f: Option<Vec<String>>| {
            parse(&SuppressConfig {
                window: w.into(),
                fields: f,
            })
            .unwrap_err()
        };
        assert!(bad("0s", None).contains("window"));
        assert!(bad("ten minutes", None).starts_with("window"));
        assert!(bad("10m", Some(vec!["source..ip".into()])).starts_with("fields"));
    }
}
