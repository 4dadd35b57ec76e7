//! The daemon's detection engine, fed through its queue as the tailer and the listeners feed
//! it, writes exactly the alerts `reconwatch scan` writes for the same files (as a set: the
//! daemon interleaves files), correlation alerts included; and its checkpoints and state land
//! in the state directory.

mod common;
use common::*;

use std::sync::Arc;
use std::time::Duration;

use reconwatch::alert::{Alert, AlertKind};
use reconwatch::daemon::engine::{Engine, EngineSettings, Heartbeat, STATE_FILE, load_state};
use reconwatch::detect::{ContextSpec, Detector, DetectorConfig};
use reconwatch::metrics::{DaemonMetrics, Metrics};
use reconwatch::pipeline::PipelineConfig;
use reconwatch::source::checkpoint::{self, Fingerprint};
use reconwatch::source::feed::{Feed, FileIdentity, LineBatch, OpenStream, SourceInfo, StreamId};
use reconwatch::source::{self, LineReader};

const WATCHLIST: &str = "sample-logs/.world/people.csv";

fn detector() -> Arc<Detector> {
    let (d, report) = Detector::load(&DetectorConfig {
        embedded_rules: true,
        context: ContextSpec {
            watchlists: vec![("parliament".into(), WATCHLIST.into())],
            ..ContextSpec::default()
        },
        ..DetectorConfig::default()
    })
    .unwrap();
    assert_eq!(report.rejected(), 0);
    Arc::new(d)
}

/// The alerts a finished engine returns, and how it ended.
type Finished = (Vec<Alert>, Result<(), reconwatch::daemon::engine::EngineError>);

/// An engine on its own thread, alerts kept in memory, everything held correlated at the end,
/// expecting `sources`; its feed.
fn start(
    state: &std::path::Path,
    metrics: &Arc<Metrics>,
    commit_interval: Duration,
    sources: &[Arc<SourceInfo>],
) -> (tokio::sync::mpsc::Sender<Feed>, std::thread::JoinHandle<Finished>) {
    let settings = EngineSettings {
        pipeline: PipelineConfig::default(),
        state_dir: state.to_owned(),
        commit_interval,
        idle_timeout: Duration::from_secs(3600),
        finish_at_end: true,
    };
    let engine = Engine::new(
        settings,
        detector(),
        None,
        Vec::new(),
        Vec::<Alert>::new(),
        Arc::clone(metrics),
        DaemonMetrics::register(&metrics.registry),
        Arc::new(Heartbeat::default()),
    )
    .expect_sources(sources.iter().map(|s| s.id));
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let (control_tx, control_rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = std::thread::spawn(move || {
        // The control channel stays open while the engine runs.
        let _control = control_tx;
        engine.run(rx, control_rx)
    });
    (tx, engine)
}

/// A line: its bytes, its offset, the offset after it.
type Line = (Vec<u8>, u64, u64);

/// Every file of the sample world as (name, its lines cut into batches of `per` lines).
fn world_batches(per: usize) -> Vec<(String, Vec<Vec<Line>>)> {
    source::expand(&["sample-logs/".to_owned()])
        .into_iter()
        .map(|input| {
            let opened = input.open().unwrap();
            let mut reader = LineReader::new(opened.reader);
            let mut lines = Vec::new();
            while let Some(l) = reader.next() {
                let l = l.unwrap();
                lines.push((l.bytes.to_vec(), l.offset));
            }
            let ends: Vec<u64> = lines.iter().skip(1).map(|l| l.1).chain([reader.consumed()]).collect();
            let lines: Vec<Line> = lines.into_iter().zip(ends).map(|((b, o), e)| (b, o, e)).collect();
            (input.name.clone(), lines.chunks(per).map(|c| c.to_vec()).collect())
        })
        .collect()
}

#[test]
fn the_engine_fed_file_by_file_interleaved_alerts_like_scan() {
    let scan = run(&[
        "scan",
        "--watchlist",
        &format!("parliament={WATCHLIST}"),
        "sample-logs/",
    ]);
    assert_eq!(scan.status.code(), Some(1), "{}", stderr(&scan));
    let mut expected: Vec<String> = stdout(&scan).lines().map(str::to_owned).collect();
    expected.sort();

    let state = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let (tx, engine) = start(state.path(), &metrics, Duration::from_millis(1), &[]);

    // Every file is a stream of its own source, all open at once, batches sent round-robin
    // (as concurrent tailers would), in batches of 7 lines.
    let files = world_batches(7);
    let ids: Vec<StreamId> = files.iter().map(|_| StreamId::next()).collect();
    for ((name, _), id) in files.iter().zip(&ids) {
        let file = FileIdentity {
            path: name.into(),
            dev: 1,
            ino: id.0,
            fingerprint: Fingerprint::of(b""),
        };
        tx.blocking_send(Feed::Open(OpenStream {
            stream: *id,
            source: Arc::new(SourceInfo::new(&format!("tail:{name}"), None)),
            name: name.as_str().into(),
            start: 0,
            file: Some(file),
            reference_time: std::fs::metadata(name).unwrap().modified().unwrap().try_into().unwrap(),
        }))
        .unwrap();
    }
    let most = files.iter().map(|f| f.1.len()).max().unwrap();
    for round in 0..most {
        for ((_, batches), id) in files.iter().zip(&ids) {
            if let Some(lines) = batches.get(round) {
                let mut b = LineBatch::new(*id);
                for (bytes, offset, next) in lines {
                    b.push(bytes, *offset, *next, false);
                }
                tx.blocking_send(Feed::Lines(b)).unwrap();
            }
        }
    }
    // Half the streams end (their files rotated away); the rest stay open at the shutdown.
    for id in ids.iter().step_by(2) {
        tx.blocking_send(Feed::Close { stream: *id }).unwrap();
    }
    drop(tx);
    let (alerts, result) = engine.join().unwrap();
    result.unwrap();

    let mut got: Vec<String> = alerts
        .iter()
        .map(|a| String::from_utf8(a.json.clone()).unwrap())
        .collect();
    got.sort();
    let correlations = alerts.iter().filter(|a| a.kind == AlertKind::Correlation).count();
    assert!(correlations > 10, "correlations fire: {correlations}");
    assert_eq!(got.len(), expected.len());
    assert_eq!(got, expected, "the same alerts as scan");

    // The state directory holds the correlation state and a checkpoint for every stream still
    // open, at its end.
    assert!(load_state(state.path()).unwrap().is_some(), "{STATE_FILE} saved");
    let cps = checkpoint::load(state.path()).unwrap();
    assert_eq!(cps.len(), files.len() / 2, "{cps:?}");
    for cp in &cps {
        // The end of the stream (decompressed, for an archive).
        let (_, batches) = files.iter().find(|f| cp.path.as_os_str() == f.0.as_str()).unwrap();
        let end = batches.last().unwrap().last().unwrap().2;
        assert_eq!(cp.offset, end, "{}: checkpoint at its end", cp.path.display());
    }
    let text = metrics.encode();
    assert!(
        text.contains("reconwatch_source_lines_total{source=\"tail:sample-logs/web/access.log\"}"),
        "{text}"
    );
}

/// A configured source the tailer reaches only after another was read to its end (a big
/// directory listed first, a slow disk) must not find event time moved past it: until every
/// expected source has opened a stream (or the idle timeout has passed), correlation waits.
/// Fed the rotated maillog in full before the access log's stream even opens, the engine still
/// joins every lure with its pixel as `scan` of the two files does.
#[test]
fn a_source_that_opens_late_still_correlates() {
    let (mail_name, web_name) = ("sample-logs/mail/maillog.1.gz", "sample-logs/web/access.log.1.gz");
    let pixel_fired = "4e8b1d27-9f3c-4a65-b0e2-6c7d9a1f3e58";
    let fired = |jsons: &mut dyn Iterator<Item = String>| -> Vec<String> {
        let mut v: Vec<String> = jsons
            .filter_map(|j| {
                let v: serde_json::Value = serde_json::from_str(&j).unwrap();
                (v["rule"]["id"] == pixel_fired).then(|| v["correlation"]["group"].to_string())
            })
            .collect();
        v.sort();
        v
    };
    let scan = run(&[
        "scan",
        "--watchlist",
        &format!("parliament={WATCHLIST}"),
        mail_name,
        web_name,
    ]);
    let expected = fired(&mut stdout(&scan).lines().map(str::to_owned));
    assert!(expected.len() >= 5, "{expected:?}");

    let sources: Vec<Arc<SourceInfo>> = [mail_name, web_name]
        .iter()
        .map(|n| Arc::new(SourceInfo::new(&format!("tail:{n}"), None)))
        .collect();
    let state = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let (tx, engine) = start(state.path(), &metrics, Duration::from_secs(3600), &sources);
    let files = world_batches(50);
    // The mail file first, to its end, then the web file.
    for (source, name) in sources.iter().zip([mail_name, web_name]) {
        let (_, batches) = files.iter().find(|f| f.0 == name).unwrap();
        let id = StreamId::next();
        tx.blocking_send(Feed::Open(OpenStream {
            stream: id,
            source: Arc::clone(source),
            name: name.into(),
            start: 0,
            file: None,
            reference_time: std::fs::metadata(name).unwrap().modified().unwrap().try_into().unwrap(),
        }))
        .unwrap();
        for lines in batches {
            let mut b = LineBatch::new(id);
            for (bytes, offset, next) in lines {
                b.push(bytes, *offset, *next, false);
            }
            tx.blocking_send(Feed::Lines(b)).unwrap();
        }
    }
    drop(tx);
    let (alerts, result) = engine.join().unwrap();
    result.unwrap();
    let got = fired(&mut alerts.iter().map(|a| String::from_utf8(a.json.clone()).unwrap()));
    assert_eq!(got, expected, "every lure meets its pixel");
}
