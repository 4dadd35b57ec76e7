//! Every metric the process exports, declared in one place.
//!
//! Names follow `reconwatch_<what>_<unit>_total`; labels are of low cardinality only (format,
//! reason, cause), never an address, URL or user name. The hot path never touches these: stages
//! count in plain local integers ([`InputStats`](crate::pipeline::InputStats)) and add them here
//! once per input.

use prometheus::{IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::pipeline::InputStats;

/// The process's metrics and the registry that exports them.
pub struct Metrics {
    pub registry: Registry,
    pub inputs: IntCounterVec,
    pub input_failures: IntCounterVec,
    pub bytes: IntCounterVec,
    pub lines: IntCounterVec,
    pub events: IntCounterVec,
    pub parse_errors: IntCounterVec,
    pub other_program_lines: IntCounterVec,
    pub lines_truncated: IntCounterVec,
    pub lines_invalid_utf8: IntCounterVec,
    pub mail_incomplete: IntCounterVec,
    pub alerts: IntCounterVec,
    pub rules_loaded: IntGauge,
    pub rule_problems: IntCounterVec,
    pub watchlist_entries: IntGaugeVec,
    pub watchlist_duplicate_rows: IntGaugeVec,
    pub intel_indicators: IntGaugeVec,
    pub correlation_contributions: IntCounterVec,
    pub correlation_open_groups: IntGaugeVec,
    pub correlation_evictions: IntCounterVec,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("metric definitions are valid");
    registry
        .register(Box::new(c.clone()))
        .expect("each metric is registered once");
    c
}

fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("metric definitions are valid");
    r.register(Box::new(g.clone())).expect("each metric is registered once");
    g
}

impl Metrics {
    pub fn new() -> Self {
        let r = Registry::new();
        Metrics {
            inputs: counter(
                &r,
                "reconwatch_inputs_total",
                "Inputs (files, stdin) read, by detected format.",
                &["format"],
            ),
            input_failures: counter(
                &r,
                "reconwatch_input_failures_total",
                "Inputs that could not be opened, were not recognised, or stopped with a read error part-way (lines before the damage were processed).",
                &["reason"],
            ),
            bytes: counter(
                &r,
                "reconwatch_input_bytes_total",
                "Decompressed bytes read, by format.",
                &["format"],
            ),
            lines: counter(
                &r,
                "reconwatch_input_lines_total",
                "Lines read, by format (blank lines included).",
                &["format"],
            ),
            events: counter(
                &r,
                "reconwatch_events_total",
                "Normalized events produced, by format.",
                &["format"],
            ),
            parse_errors: counter(
                &r,
                "reconwatch_parse_errors_total",
                "Lines a parser rejected, by format and reason. Each one is reported with file and line in --stats.",
                &["format", "reason"],
            ),
            other_program_lines: counter(
                &r,
                "reconwatch_other_program_lines_total",
                "Syslog lines of other programs than the format's own (amavis, opendkim, dovecot in a Postfix log), by format: neither events nor parse errors.",
                &["format"],
            ),
            lines_truncated: counter(
                &r,
                "reconwatch_lines_truncated_total",
                "Lines longer than --max-line-bytes, cut at the cap and still parsed.",
                &["format"],
            ),
            lines_invalid_utf8: counter(
                &r,
                "reconwatch_lines_invalid_utf8_total",
                "Lines with invalid UTF-8, parsed with U+FFFD in place of the bad bytes.",
                &["format"],
            ),
            mail_incomplete: counter(
                &r,
                "reconwatch_mail_messages_incomplete_total",
                "Mail messages emitted before the log said they left the queue, by cause (timeout, evicted, end_of_input).",
                &["format", "cause"],
            ),
            alerts: counter(
                &r,
                "reconwatch_alerts_total",
                "Alerts written, by rule id and level.",
                &["rule", "level"],
            ),
            rules_loaded: {
                let g = IntGauge::new("reconwatch_rules_loaded", "Detection rules loaded and compiled.")
                    .expect("metric definitions are valid");
                r.register(Box::new(g.clone())).expect("each metric is registered once");
                g
            },
            rule_problems: counter(
                &r,
                "reconwatch_rule_problems_total",
                "Rules not loaded: rejected (a construct the engine cannot run; reported with file, rule and reason) or skipped (a log source reconwatch does not read).",
                &["kind"],
            ),
            watchlist_entries: gauge(
                &r,
                "reconwatch_watchlist_entries",
                "Entries loaded per watchlist and kind (address, domain, username, ip). A list at 0 protects nobody.",
                &["list", "kind"],
            ),
            watchlist_duplicate_rows: gauge(
                &r,
                "reconwatch_watchlist_duplicate_rows",
                "CSV rows per watchlist that repeat an earlier row's address (kept as one person; each is warned about with file and line). Harmless, but a sign the export is not what you think.",
                &["list"],
            ),
            intel_indicators: gauge(
                &r,
                "reconwatch_intel_indicators",
                "Intel indicators loaded, by type (domain, url, email, addr, subnet).",
                &["type"],
            ),
            correlation_contributions: counter(
                &r,
                "reconwatch_correlation_contributions_total",
                "Matches of rules that correlation rules refer to, by outcome: correlated; late (older than --lateness behind its input's newest event: not correlated, its own alerts unaffected); no_timestamp, no_group_field (the event lacks a group-by or condition field); too_many_keys (list fields gave more than 64 group keys).",
                &["outcome"],
            ),
            correlation_open_groups: gauge(
                &r,
                "reconwatch_correlation_open_groups",
                "Groups open per correlation rule (by id) at the end of the run; each holds the events of one group-by key inside the rule's timespan.",
                &["correlation"],
            ),
            correlation_evictions: counter(
                &r,
                "reconwatch_correlation_evictions_total",
                "Groups a correlation rule (by id) dropped because --max-groups were open: the least recently fed goes, and what it had counted is lost. Raise --max-groups if this grows.",
                &["correlation"],
            ),
            registry: r,
        }
    }

    /// An input done: its failure (if any), one more input of its format, and its counts.
    pub fn record_input(&self, s: &InputStats) {
        if let Some(f) = &s.failure {
            self.input_failures.with_label_values(&[f.kind()]).inc();
        }
        if let Some(format) = s.format {
            self.inputs.with_label_values(&[format.name()]).inc();
        }
        self.record_counts(s);
    }

    /// Adds the counts of `s` — a whole input's, or the delta of one still open
    /// ([`LineStream::take_stats`](crate::pipeline::LineStream::take_stats)), so that a tailed
    /// file's series move while it is read — without counting an input.
    pub fn record_counts(&self, s: &InputStats) {
        let Some(format) = s.format else { return };
        let f = format.name();
        self.bytes.with_label_values(&[f]).inc_by(s.bytes);
        self.lines.with_label_values(&[f]).inc_by(s.lines);
        self.events.with_label_values(&[f]).inc_by(s.events);
        for (reason, n) in &s.error_reasons {
            self.parse_errors.with_label_values(&[f, reason]).inc_by(*n);
        }
        self.other_program_lines
            .with_label_values(&[f])
            .inc_by(s.other_programs);
        self.lines_truncated.with_label_values(&[f]).inc_by(s.truncated);
        self.lines_invalid_utf8.with_label_values(&[f]).inc_by(s.invalid_utf8);
        let a = s.assembly;
        for (cause, n) in [
            ("timeout", a.timed_out),
            ("evicted", a.evicted),
            ("end_of_input", a.flushed_at_end),
        ] {
            if n > 0 {
                self.mail_incomplete.with_label_values(&[f, cause]).inc_by(n);
            }
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .expect("text encoding of valid metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Format;

    /// Gap: other programs' lines in a mail log were counted as parse errors; they have their own
    /// counter, labelled by format only.
    #[test]
    fn other_programs_lines_have_their_own_counter() {
        let m = Metrics::new();
        m.record_input(&InputStats {
            format: Some(Format::Postfix),
            lines: 10,
            other_programs: 3,
            ..InputStats::default()
        });
        let text = m.encode();
        assert!(
            text.contains("reconwatch_other_program_lines_total{format=\"postfix\"} 3"),
            "{text}"
        );
        assert!(!text.contains("reconwatch_parse_errors_total{"), "{text}");
    }
}
