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
    let daemon = DaemonMetrics::register(&metrics.registry);
    let settings = EngineSettings {
        pipeline: PipelineConfig::default(),
        state_dir: state.path().to_owned(),
        commit_interval: Duration::from_millis(1),
        idle_timeout: Duration::from_secs(3600),
        finish_at_end: true,
    };
    let engine = Engine::new(
        settings,
        detector(),
        None,
        Vec::new(),
        Vec::<Alert>::new(),
        Arc::clone(&metrics),
        daemon,
        Arc::new(Heartbeat::default()),
    );
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let (_control_tx, control_rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = std::thread::spawn(move || engine.run(rx, control_rx));

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
