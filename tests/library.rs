//! The detection core through the library's public interface only, as a daemon or a broker
//! worker would drive it: lines in one at a time (no batch code), event time advanced by the
//! caller, correlation state saved and restored. Checked against what `reconwatch scan` writes
//! for the same inputs.

mod common;
use common::*;

use reconwatch::alert::{Alert, AlertKind, AlertSink, SinkError};
use reconwatch::correlate::{Snapshot, SourceId};
use reconwatch::detect::{ContextSpec, Correlating, Detecting, Detector, DetectorConfig};
use reconwatch::pipeline::{self, LineStream, PipelineConfig};
use reconwatch::source::{self, Input, LineReader};

const WATCHLIST: &str = "sample-logs/.world/people.csv";

fn config() -> DetectorConfig {
    DetectorConfig {
        embedded_rules: true,
        context: ContextSpec {
            watchlists: vec![("parliament".into(), WATCHLIST.into())],
            ..ContextSpec::default()
        },
        ..DetectorConfig::default()
    }
}

/// Every alert line, as the JSON the binary writes.
fn lines(alerts: &[Alert]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| String::from_utf8(a.json.clone()).unwrap())
        .collect()
}

/// The sample world's inputs in the order `scan` reads them with correlation rules loaded (by
/// their first event time, then name), with those times.
fn inputs_in_time_order(cfg: &PipelineConfig) -> Vec<(Input, Option<i64>)> {
    let mut inputs: Vec<(Input, Option<i64>)> = source::expand(&["sample-logs/".to_owned()])
        .into_iter()
        .map(|i| {
            let t = pipeline::first_event_time(&i, cfg).map(|t| t.as_millisecond());
            (i, t)
        })
        .collect();
    inputs.sort_by(|a, b| (a.1, &a.0.name).cmp(&(b.1, &b.0.name)));
    inputs
}

/// A sink that fails on demand: the core must hand the error back, not swallow it.
struct Failing;

impl AlertSink for Failing {
    fn alert(&mut self, _: Alert) -> Result<(), SinkError> {
        Err(SinkError::Io(std::io::Error::other("receiver down")))
    }
}

/// Drives the detector over the inputs, line by line, advancing event time after each input to
/// the earliest first time of the inputs after it (as a caller that knows its sources would).
/// `cut` is called between inputs and may replace the correlating side (a restart).
fn drive(
    detector: &Detector,
    inputs: &[(Input, Option<i64>)],
    cfg: &PipelineConfig,
    mut cut: impl FnMut(usize, Correlating) -> Correlating,
) -> Vec<Alert> {
    let mut alerts = Vec::new();
    let mut correlating = detector.correlating();
    for (n, (input, _)) in inputs.iter().enumerate() {
        // The format is decided on the input's first lines; then every line is fed, one at a
        // time, to the per-line core.
        let opened = input.open().unwrap();
        let decided = pipeline::detect_stream(opened.reader, opened.modified, cfg).expect("recognised");
        let opened = input.open().unwrap();
        let mut ctx = cfg.parse.clone();
        if let Some(t) = opened.modified {
            ctx.reference_time = t;
        }
        let mut stream = LineStream::new(decided, &ctx, &input.name, 0);
        let mut detecting = Detecting {
            worker: detector.worker(),
            sink: Vec::new(),
        };
        let mut reader = LineReader::new(opened.reader);
        while let Some(line) = reader.next() {
            stream.line(line.unwrap(), &mut detecting).unwrap();
        }
        stream.flush(None, &mut detecting).unwrap();
        let stats = stream.take_stats();
        assert_eq!(stats.errors, 0, "{}: {stats:?}", input.name);
        alerts.append(&mut detecting.sink);
        let (contributions, skipped) = detecting.worker.take_contributions();
        let source = SourceId(n as u64);
        correlating.push(source, contributions, &skipped);
        let later = inputs[n + 1..].iter().filter_map(|(_, t)| *t).min();
        correlating.advance(later.unwrap_or(i64::MAX), &mut alerts).unwrap();
        correlating = cut(n, correlating);
    }
    correlating.finish(&mut alerts).unwrap();
    alerts
}

#[test]
fn the_library_driven_line_by_line_writes_exactly_what_scan_writes() {
    let scan = run(&[
        "scan",
        "--watchlist",
        &format!("parliament={WATCHLIST}"),
        "sample-logs/",
    ]);
    assert_eq!(scan.status.code(), Some(1), "{}", stderr(&scan));
    let expected: Vec<String> = stdout(&scan).lines().map(str::to_owned).collect();

    let (detector, report) = Detector::load(&config()).unwrap();
    assert_eq!(report.rejected(), 0);
    let cfg = PipelineConfig::default();
    let inputs = inputs_in_time_order(&cfg);
    let alerts = drive(&detector, &inputs, &cfg, |_, c| c);
    let correlations = alerts.iter().filter(|a| a.kind == AlertKind::Correlation).count();
    assert!(
        correlations > 10,
        "the sample world's correlations fire: {correlations}"
    );
    assert_eq!(lines(&alerts), expected, "the same alerts, in the same order");

    // A sink's failure comes back to the caller.
    let mut worker = detector.worker();
    let line = std::fs::read_to_string("sample-logs/web/access.log").unwrap();
    let mut failed = None;
    for text in line.lines() {
        let mut event = reconwatch::event::Event::default();
        let parsed = reconwatch::parse::Format::Squid
            .parser(&cfg.parse)
            .parse(&reconwatch::parse::Line::plain(text), &mut event);
        if parsed.is_ok()
            && let Err(e) = worker.event(&mut event, &mut Failing)
        {
            failed = Some(e.to_string());
            break;
        }
    }
    assert_eq!(failed.as_deref(), Some("receiver down"));
}

#[test]
fn correlation_state_saved_mid_stream_and_restored_in_a_new_detector_fires_the_same() {
    let cfg = PipelineConfig::default();
    let inputs = inputs_in_time_order(&cfg);
    let (detector, _) = Detector::load(&config()).unwrap();
    let whole = drive(&detector, &inputs, &cfg, |_, c| c);

    // Cut after every third input: save, drop the detector's correlating side, build a new
    // detector (a restart), restore.
    let mut held_at_cut = 0;
    let mut restored_groups = 0;
    let cut_run = drive(&detector, &inputs, &cfg, |n, correlating| {
        if n % 3 != 2 {
            return correlating;
        }
        let json = serde_json::to_string(&correlating.snapshot()).unwrap();
        drop(correlating);
        let snapshot = Snapshot::from_json(&json).unwrap();
        held_at_cut += snapshot.held();
        restored_groups += snapshot.open_groups();
        let (fresh, _) = Detector::load(&config()).unwrap();
        let (resumed, report) = fresh.restore_correlating(snapshot).unwrap();
        assert!(report.discarded.is_empty(), "same rules: nothing discarded: {report}");
        resumed
    });
    assert!(restored_groups > 0, "the cuts carried open groups");
    let correlation_alerts = |a: &[Alert]| {
        lines(a)
            .into_iter()
            .zip(a)
            .filter(|(_, a)| a.kind == AlertKind::Correlation)
            .map(|(l, _)| l)
            .collect::<Vec<_>>()
    };
    let (before, after) = (correlation_alerts(&whole), correlation_alerts(&cut_run));
    assert!(!before.is_empty());
    assert_eq!(
        after,
        before,
        "cut {} times, {held_at_cut} contributions held",
        inputs.len() / 3
    );
    assert_eq!(lines(&cut_run), lines(&whole));
}

#[test]
fn the_detector_knows_which_computed_fields_its_rules_read() {
    let (detector, _) = Detector::load(&config()).unwrap();
    let computed: Vec<&str> = detector
        .fields_read()
        .iter()
        .filter(|f| f.is_computed())
        .map(|f| f.name())
        .collect();
    for f in [
        "reconwatch.person.high_risk",
        "reconwatch.url.has_token",
        "reconwatch.sender.lookalike",
    ] {
        assert!(computed.contains(&f), "{f} not in {computed:?}");
    }
    // A rule set that reads no computed field needs no enrichment.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "r.yml",
        "title: plain\nid: 1b7e0000-0000-4000-8000-000000000001\nlogsource: {category: proxy}\n\
         detection: {sel: {c-uri|contains: 'x'}, condition: sel}\nlevel: low\n",
    );
    let plain = DetectorConfig {
        rules: vec![dir.path().to_path_buf()],
        ..DetectorConfig::default()
    };
    let (detector, _) = Detector::load(&plain).unwrap();
    assert!(detector.fields_read().iter().all(|f| !f.is_computed()));
}
