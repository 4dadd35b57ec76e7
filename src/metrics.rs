//! Every metric the process exports, declared in one place.
//!
//! Names follow `reconwatch_<what>_<unit>_total`; labels are of low cardinality only (format,
//! reason, cause), never an address, URL or user name. The hot path never touches these: stages
//! count in plain local integers ([`InputStats`](crate::pipeline::InputStats)) and add them here
//! once per input.

use prometheus::{
    Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use std::sync::Mutex;

use crate::detect::Detector;
use crate::pipeline::InputStats;
use crate::rules::RuleMeta;
use crate::targets::GroupCount;

/// The most distinct `group` label values the process exports; see [`Metrics::record_targets`].
pub const MAX_GROUP_LABELS: usize = 50;

/// The `group` label of groups past [`MAX_GROUP_LABELS`].
pub const OTHER_GROUP: &str = "other";

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
    pub alerts_by_group: IntCounterVec,
    pub pixel_alerts: IntCounterVec,
    /// The `group` label values used so far (at most [`MAX_GROUP_LABELS`]).
    groups: Mutex<Vec<String>>,
    pub rules_loaded: IntGauge,
    pub rule_info: IntGaugeVec,
    pub rule_problems: IntCounterVec,
    pub watchlist_entries: IntGaugeVec,
    pub watchlist_duplicate_rows: IntGaugeVec,
    pub intel_indicators: IntGaugeVec,
    pub correlation_contributions: IntCounterVec,
    pub correlation_open_groups: IntGaugeVec,
    pub correlation_evictions: IntCounterVec,
    pub build_info: IntGaugeVec,
}

/// What the daemon adds (registered by `reconwatch run` and `reconwatch ship`, in the same registry as
/// [`Metrics`]): per source, per sink, its queues, lag, reloads and saved state. The
/// `source` label is the configured source's name (`tail:GLOB`, `syslog_tcp:ADDR`), `sink` the
/// sink's (`file:PATH`, `webhook:URL` without credentials): both as few as the configuration
/// has entries.
#[derive(Clone)]
pub struct DaemonMetrics {
    pub source_lines: IntCounterVec,
    pub source_bytes: IntCounterVec,
    pub source_events: IntCounterVec,
    pub source_streams: IntGaugeVec,
    pub source_last_line: prometheus::GaugeVec,
    pub tail_rotations: IntCounterVec,
    pub syslog_connections: IntCounterVec,
    pub syslog_frame_errors: IntCounterVec,
    pub udp_drops: IntCounterVec,
    pub queue_depth: IntGaugeVec,
    pub queue_capacity: IntGaugeVec,
    pub ingest_lag: HistogramVec,
    pub processing_latency: HistogramVec,
    pub sink_deliveries: IntCounterVec,
    pub sink_failures: IntCounterVec,
    pub sink_retries: IntCounterVec,
    pub sink_refused: IntCounterVec,
    pub sink_spool_bytes: IntGaugeVec,
    pub alerts_suppressed: IntCounterVec,
    pub reloads: IntCounterVec,
    pub reload_last_success: Gauge,
    pub state_writes: IntCounterVec,
    pub started: Gauge,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("metric definitions are valid");
    registry
        .register(Box::new(c.clone()))
        .expect("each metric is registered once");
    c
}

fn histogram(r: &Registry, name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels)
        .expect("metric definitions are valid");
    r.register(Box::new(h.clone())).expect("each metric is registered once");
    h
}

fn float_gauge(r: &Registry, name: &str, help: &str) -> Gauge {
    let g = Gauge::new(name, help).expect("metric definitions are valid");
    r.register(Box::new(g.clone())).expect("each metric is registered once");
    g
}

/// Seconds, from a millisecond to a day: ingest lag and processing latency.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 86400.0,
];

impl DaemonMetrics {
    /// Declares the daemon's series in `r` (once per registry).
    pub fn register(r: &Registry) -> Self {
        DaemonMetrics {
            source_lines: counter(
                r,
                "reconwatch_source_lines_total",
                "Lines received per configured source (tailed glob or syslog listener).",
                &["source"],
            ),
            source_bytes: counter(
                r,
                "reconwatch_source_bytes_total",
                "Bytes of lines received per configured source (line endings included).",
                &["source"],
            ),
            source_events: counter(
                r,
                "reconwatch_source_events_total",
                "Events parsed per configured source.",
                &["source"],
            ),
            source_streams: gauge(
                r,
                "reconwatch_source_streams",
                "Streams open per source: files being tailed, TCP connections, UDP listeners.",
                &["source"],
            ),
            source_last_line: {
                let g = prometheus::GaugeVec::new(
                    Opts::new(
                        "reconwatch_source_last_line_timestamp_seconds",
                        "When the source last delivered a line (Unix time): alert when it stays silent.",
                    ),
                    &["source"],
                )
                .expect("metric definitions are valid");
                r.register(Box::new(g.clone())).expect("each metric is registered once");
                g
            },
            tail_rotations: counter(
                r,
                "reconwatch_tail_rotations_total",
                "Tailed files rotated, by kind: rename (moved away and recreated; the old file is read to its end), truncate (copytruncate or truncation: read again from the start), removed (deleted while tailed).",
                &["source", "kind"],
            ),
            syslog_connections: counter(
                r,
                "reconwatch_syslog_connections_total",
                "TCP/TLS syslog connections by outcome: accepted, refused (over max_connections), tls_failed (handshake or client certificate rejected).",
                &["source", "outcome"],
            ),
            syslog_frame_errors: counter(
                r,
                "reconwatch_syslog_frame_errors_total",
                "Syslog frames that could not be read, by reason (bad octet count, frame over the line cap, ...); the connection is closed after a framing error it cannot recover from.",
                &["source", "reason"],
            ),
            udp_drops: counter(
                r,
                "reconwatch_udp_drops_total",
                "UDP datagrams lost, by cause: queue_full (detection could not keep up; counted by reconwatch), kernel (the socket's receive buffer overflowed; read from /proc/net/udp).",
                &["source", "cause"],
            ),
            queue_depth: gauge(
                r,
                "reconwatch_queue_depth",
                "Items waiting in each internal queue (batches of lines before detection, alerts in a sink's spool).",
                &["queue"],
            ),
            queue_capacity: gauge(
                r,
                "reconwatch_queue_capacity",
                "Capacity of each internal queue; a queue at capacity is pushing back on its sources.",
                &["queue"],
            ),
            ingest_lag: histogram(
                r,
                "reconwatch_ingest_lag_seconds",
                "Event time to detection: how far behind the logs detection runs, per source.",
                &["source"],
                LATENCY_BUCKETS,
            ),
            processing_latency: histogram(
                r,
                "reconwatch_processing_latency_seconds",
                "From reading a batch of lines to its alerts handed to the sinks, per source.",
                &["source"],
                LATENCY_BUCKETS,
            ),
            sink_deliveries: counter(
                r,
                "reconwatch_sink_deliveries_total",
                "Alerts delivered per sink (written to a file or stdout, accepted by the webhook or syslog receiver).",
                &["sink"],
            ),
            sink_failures: counter(
                r,
                "reconwatch_sink_failures_total",
                "Failed delivery attempts per sink (the alerts stay spooled and are retried).",
                &["sink"],
            ),
            sink_retries: counter(
                r,
                "reconwatch_sink_retries_total",
                "Delivery retries per sink.",
                &["sink"],
            ),
            sink_refused: counter(
                r,
                "reconwatch_sink_refused_total",
                "Alerts that had to wait because their sink's spool was at spool_max: detection paused until the receiver took alerts (backpressure; a warning a minute names the sink and the receiver's last error). Nothing is dropped.",
                &["sink"],
            ),
            sink_spool_bytes: gauge(
                r,
                "reconwatch_sink_spool_bytes",
                "Bytes of alerts spooled on disk per sink, waiting for the receiver.",
                &["sink"],
            ),
            alerts_suppressed: counter(
                r,
                "reconwatch_alerts_suppressed_total",
                "Repeats of an alert suppressed within the suppress window, by rule id.",
                &["rule"],
            ),
            reloads: counter(
                r,
                "reconwatch_reloads_total",
                "Reloads (SIGHUP) by result: success, failure (the old configuration and rules stay; the reason is logged).",
                &["result"],
            ),
            reload_last_success: float_gauge(
                r,
                "reconwatch_reload_last_success_timestamp_seconds",
                "When rules, watchlists and intel were last loaded successfully (Unix time; start-up included).",
            ),
            state_writes: counter(
                r,
                "reconwatch_state_writes_total",
                "Writes of the state directory by what (checkpoints, correlation) and result (success, failure).",
                &["what", "result"],
            ),
            started: float_gauge(
                r,
                "reconwatch_start_timestamp_seconds",
                "When the daemon started (Unix time).",
            ),
        }
    }
}

/// What a `reconwatch work` worker adds (in the same registry as [`Metrics`]): the partitions
/// it holds and how they move, what its partitions process, and its commits. Alerts are
/// counted in [`Metrics::alerts`] (`reconwatch_alerts_total`), as `scan` and `run` count them.
#[derive(Clone)]
pub struct BrokerMetrics {
    pub partitions_held: IntGauge,
    pub partition_changes: IntCounterVec,
    pub lines: prometheus::IntCounter,
    pub events: prometheus::IntCounter,
    pub alerts: IntCounterVec,
    pub commits: IntCounterVec,
    pub last_commit: Gauge,
    pub late_contributions: prometheus::IntCounter,
}

impl std::fmt::Debug for BrokerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BrokerMetrics")
    }
}

impl BrokerMetrics {
    /// Declares the worker's series in `metrics`' registry (once per registry).
    pub fn register(metrics: &Metrics) -> Self {
        let r = &metrics.registry;
        let plain = |name: &str, help: &str| {
            let c = prometheus::IntCounter::new(name, help).expect("metric definitions are valid");
            r.register(Box::new(c.clone())).expect("each metric is registered once");
            c
        };
        let held = IntGauge::new(
            "reconwatch_broker_partitions_held",
            "Partitions this worker holds now (their lines and correlation groups are processed here).",
        )
        .expect("metric definitions are valid");
        r.register(Box::new(held.clone()))
            .expect("each metric is registered once");
        BrokerMetrics {
            partitions_held: held,
            partition_changes: counter(
                r,
                "reconwatch_broker_partition_changes_total",
                "Partitions taken (from their saved state), handed over (committed, then released) and lost (taken over by another worker before this one could commit: what it had not committed is processed again there).",
                &["change"],
            ),
            lines: plain(
                "reconwatch_broker_lines_total",
                "Lines received from the broker and processed by this worker's partitions (lines delivered again after a failover and skipped are not counted).",
            ),
            events: plain("reconwatch_broker_events_total", "Events parsed from those lines."),
            alerts: metrics.alerts.clone(),
            commits: counter(
                r,
                "reconwatch_broker_commits_total",
                "Commits of a partition (alerts and contributions confirmed by the broker, state saved, lines acknowledged), by result: success, failure (the partition is released and taken again from its last saved state).",
                &["result"],
            ),
            last_commit: float_gauge(
                r,
                "reconwatch_broker_last_commit_timestamp_seconds",
                "When a partition of this worker last committed (Unix time): alert when it stops moving while lines wait.",
            ),
            late_contributions: plain(
                "reconwatch_broker_late_contributions_total",
                "Correlation contributions that came later than the allowed lateness and were not correlated.",
            ),
        }
    }
}

/// A shipper's series (`reconwatch ship --listen`): its sources', as the daemon counts them
/// ([`DaemonMetrics`]: lines, bytes and last line read per source, streams, syslog and tail
/// events), and its own: what it published to the broker, what it could not ship, and
/// whether the broker keeps up.
#[derive(Clone)]
pub struct ShipMetrics {
    pub sources: DaemonMetrics,
    pub lines: IntCounterVec,
    pub unrecognised: IntCounterVec,
    pub messages: prometheus::IntCounter,
    pub retries: prometheus::IntCounter,
    pub unconfirmed: IntGauge,
    pub last_confirmed: Gauge,
}

impl std::fmt::Debug for ShipMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShipMetrics")
    }
}

impl ShipMetrics {
    /// Declares the shipper's series, its sources' among them, in `registry` (once per
    /// registry).
    pub fn register(r: &Registry) -> Self {
        let sources = DaemonMetrics::register(r);
        let messages = prometheus::IntCounter::new(
            "reconwatch_ship_messages_total",
            "Messages published to the broker (batches of lines, stream announcements and closes), each counted once however often it was sent.",
        )
        .expect("metric definitions are valid");
        let retries = prometheus::IntCounter::new(
            "reconwatch_ship_publish_retries_total",
            "Publishes sent again because the broker could not be reached or did not confirm one: rising means the broker is down or overloaded (tailed files wait; syslog queues, then drops).",
        )
        .expect("metric definitions are valid");
        let unconfirmed = IntGauge::new(
            "reconwatch_ship_unconfirmed_messages",
            "Messages published and not yet confirmed by the broker (at most 64; at the limit the shipper waits).",
        )
        .expect("metric definitions are valid");
        for m in [&messages, &retries] {
            r.register(Box::new(m.clone())).expect("each metric is registered once");
        }
        r.register(Box::new(unconfirmed.clone()))
            .expect("each metric is registered once");
        ShipMetrics {
            sources,
            lines: counter(
                r,
                "reconwatch_ship_lines_total",
                "Lines shipped to the broker, by source.",
                &["source"],
            ),
            unrecognised: counter(
                r,
                "reconwatch_ship_unrecognised_lines_total",
                "Lines not shipped because no parser recognises their stream (each stream is named in the log once), by source: set `format:` for that source.",
                &["source"],
            ),
            messages,
            retries,
            unconfirmed,
            last_confirmed: float_gauge(
                r,
                "reconwatch_ship_last_confirmed_timestamp_seconds",
                "When the broker last confirmed a message of this shipper (Unix time): alert when it stops moving while sources have lines.",
            ),
        }
    }
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
            alerts_by_group: counter(
                &r,
                "reconwatch_alerts_by_group_total",
                "Alerts that concern watch-listed people, by their watchlist group (the CSV's group column; ungrouped without one), rule id and level: who is being targeted, never by name. An alert about people of two groups counts once in each.",
                &["group", "rule", "level"],
            ),
            pixel_alerts: counter(
                &r,
                "reconwatch_pixel_alerts_total",
                "Alerts in which a device fetched a tracking pixel (the sender learned its IP address, network and browser), by the watchlist group of the person whose device it was (unlisted: nobody on a watchlist) and rule id.",
                &["group", "rule"],
            ),
            groups: Mutex::new(Vec::new()),
            rules_loaded: {
                let g = IntGauge::new("reconwatch_rules_loaded", "Detection rules loaded and compiled.")
                    .expect("metric definitions are valid");
                r.register(Box::new(g.clone())).expect("each metric is registered once");
                g
            },
            rule_info: gauge(
                &r,
                "reconwatch_rule_info",
                "Always 1 per loaded rule: its id, title, level and kind (detection, correlation). Join on rule to show titles: sum by (rule) (...) * on (rule) group_left (title) reconwatch_rule_info.",
                &["rule", "title", "level", "kind"],
            ),
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
            build_info: {
                let g = gauge(
                    &r,
                    "reconwatch_build_info",
                    "Always 1; the labels say which reconwatch is running.",
                    &["version"],
                );
                g.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
                g
            },
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

    /// The rules `detector` runs: `reconwatch_rules_loaded`, one `reconwatch_rule_info` each
    /// (those of rules a reload removed go), and `reconwatch_alerts_total` at 0 for each rule
    /// that alerts.
    pub fn record_rules(&self, detector: &Detector) {
        let set = detector.correlations();
        let rules =
            (detector.engine().rules().iter().enumerate()).map(|(i, r)| (&r.meta, "detection", set.alerts(i as u32)));
        let correlations = set.list.iter().map(|c| (&c.rule.meta, "correlation", c.alerts));
        self.rule_info.reset();
        let mut n = 0;
        for (meta, kind, alerts) in rules.chain(correlations) {
            self.rule_info
                .with_label_values(&[&meta.id, &meta.title, meta.level.name(), kind])
                .set(1);
            if alerts {
                // At 0 from the start, so that Prometheus sees the first alert as an increase.
                self.alerts.with_label_values(&[&meta.id, meta.level.name()]);
            }
            n += 1;
        }
        self.rules_loaded.set(n);
    }

    /// Adds alerts of `rule` counted by group ([`Tally`]). Past [`MAX_GROUP_LABELS`] distinct
    /// groups (a watchlist whose group column holds names, say), further ones are counted as
    /// `other`, so that a bad export cannot explode the series.
    pub fn record_targets(&self, rule: &RuleMeta, group: &str, counts: GroupCount) {
        let group = {
            let mut known = self.groups.lock().unwrap_or_else(|e| e.into_inner());
            if known.iter().any(|g| g == group) {
                group
            } else if known.len() < MAX_GROUP_LABELS {
                known.push(group.to_owned());
                group
            } else {
                OTHER_GROUP
            }
        };
        if counts.alerts > 0 {
            self.alerts_by_group
                .with_label_values(&[group, &rule.id, rule.level.name()])
                .inc_by(counts.alerts);
        }
        if counts.pixel > 0 {
            self.pixel_alerts
                .with_label_values(&[group, &rule.id])
                .inc_by(counts.pixel);
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

    /// A group column holding something else than groups (names, say) cannot make a series per
    /// value: past the cap, groups are counted together as `other`.
    #[test]
    fn group_labels_are_capped_and_the_rest_counted_as_other() {
        let m = Metrics::new();
        let rule = RuleMeta {
            id: "r1".into(),
            title: "A rule".into(),
            level: crate::rules::Level::Informational,
            status: None,
            description: None,
            tags: Vec::new(),
            references: Vec::new(),
            author: None,
            falsepositives: Vec::new(),
            fields: Vec::new(),
            name: None,
        };
        let one = GroupCount { alerts: 1, pixel: 1 };
        for i in 0..MAX_GROUP_LABELS + 5 {
            m.record_targets(&rule, &format!("g{i}"), one);
        }
        m.record_targets(&rule, "g0", one);
        let text = m.encode();
        let series = |name: &str| text.lines().filter(|l| l.starts_with(name)).count();
        assert_eq!(
            series("reconwatch_alerts_by_group_total{"),
            MAX_GROUP_LABELS + 1,
            "{text}"
        );
        assert_eq!(series("reconwatch_pixel_alerts_total{"), MAX_GROUP_LABELS + 1, "{text}");
        assert!(
            text.contains("reconwatch_alerts_by_group_total{group=\"other\",level=\"informational\",rule=\"r1\"} 5"),
            "{text}"
        );
        assert!(
            text.contains("reconwatch_pixel_alerts_total{group=\"g0\",rule=\"r1\"} 2"),
            "{text}"
        );
    }
}
