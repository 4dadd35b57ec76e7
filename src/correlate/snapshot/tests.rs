//! Snapshots of the correlation stage: a run cut by a snapshot (through JSON, into a new stage
//! over newly loaded rules) fires exactly as a run that was not cut; a reload keeps the state
//! that still fits and reports the rest; a snapshot of another version or a damaged one is
//! refused and says why.

use std::sync::Arc;

use super::super::alert::write_json_line;
use super::super::compile::{Correlations, Feed};
use super::super::contribution::{Contribution, Events, Evidence, Val};
use super::super::merge::SourceId;
use super::super::stage::Stage;
use super::super::state::{Fired, Limits};
use super::super::tests::{S, evidence_of, set};
use super::{Discard, Snapshot, SnapshotError};

/// Pixel fired: a mail (rule a) carrying a token, then a web request (rule b) for it.
const PIXEL: &str = "title: pixel\nid: pixel-fired\ncorrelation:\n  type: temporal_ordered\n  rules: [a, b]\n  group-by: [token]\n  aliases:\n    token:\n      a: user.name\n      b: source.ip\n  timespan: 1h\n";
/// Fan-out: one domain's mails reach twelve people.
const FANOUT: &str = "title: fan-out\nid: fan-out\ncorrelation:\n  type: value_count\n  rules: [a]\n  group-by: [url.domain]\n  timespan: 1h\n  condition:\n    field: user.name\n    gte: 12\n";
/// One person's mail matching both rules: an event that feeds two steps is listed once, which
/// needs its evidence shared again after a restore.
const BOTH: &str =
    "title: both\nid: both\ncorrelation:\n  type: temporal\n  rules: [a, b]\n  group-by: [user.name]\n  timespan: 1h\n";
/// Chained on the pixel: its groups hold the pixel firings' events (`Events::Many`).
const MANY: &str = "title: many pixels\nid: many-pixels\ngenerate: true\ncorrelation:\n  type: event_count\n  rules: [pixel-fired]\n  group-by: []\n  timespan: 1h\n  condition:\n    gte: 3\n";

const LATENESS: i64 = 60 * S;
const MAIL: SourceId = SourceId(0);
const WEB: SourceId = SourceId(1);
/// A source far ahead of the others in time (a tailed file of another time zone's clock).
const AHEAD: SourceId = SourceId(2);
/// A source that first speaks after the cut, of a time already correlated.
const LATECOMER: SourceId = SourceId(3);

/// A contribution of `ev` to step `step` of correlation `id` of `set`.
fn to(set: &Correlations, id: &str, step: u16, key: &str, value: Option<&str>, ev: &Arc<Evidence>) -> Contribution {
    Contribution {
        time: ev.timestamp.as_millisecond(),
        feed: Feed {
            correlation: set.find(id).unwrap(),
            step,
        },
        key: key.into(),
        value: value.map(|v| Val::Text(v.into())),
        events: Events::One(Arc::clone(ev)),
    }
}

/// Mail `i` at `10 i` s: token `t{i}` to person `p{i}`, from domain `d0` or `d1`; every tenth
/// also feeds both steps of [`BOTH`] when that is loaded.
fn mail(set: &Correlations, i: i64) -> Vec<Contribution> {
    let ev = evidence_of(&set.rule_names[0], 10 * S * i, &format!("mail {i}"));
    let mut out = vec![
        to(set, "pixel-fired", 0, &format!("t{i}"), None, &ev),
        to(set, "fan-out", 0, &format!("d{}", i % 2), Some(&format!("p{i}")), &ev),
    ];
    if i % 10 == 0 && set.find("both").is_some() {
        out.extend((0..2).map(|step| to(set, "both", step, &format!("p{i}"), None, &ev)));
    }
    out
}

/// A web request for token `t{j}` at `time`.
fn fetch(set: &Correlations, j: i64, time: i64) -> Contribution {
    let ev = evidence_of(&set.rule_names[1], time, &format!("fetch {j}"));
    to(set, "pixel-fired", 1, &format!("t{j}"), None, &ev)
}

/// What one source brings at once, and the watermark after it.
struct Batch {
    tick: i64,
    source: SourceId,
    contributions: Vec<Contribution>,
    watermark: i64,
}

/// Ten ticks of 50 s: mails every 10 s, a fetch 95 s after every third mail; in tick 5 a new
/// source's fetch of a time already released, in tick 6 a fetch later than the lateness; a
/// source ahead in time (tick 1) that falls back beyond the lateness and within it in tick 7.
fn stream(set: &Correlations) -> Vec<Batch> {
    let mut out = Vec::new();
    for tick in 0..10 {
        let (from, to) = (50 * S * tick, 50 * S * (tick + 1));
        let early = match tick {
            1 => Some((AHEAD, vec![fetch(set, 100, 2000 * S)])),
            // First thing after the cut: only the released mark tells it is late.
            5 => Some((LATECOMER, vec![fetch(set, 6, 150 * S)])),
            7 => Some((AHEAD, vec![fetch(set, 101, 1900 * S), fetch(set, 102, 1950 * S)])),
            _ => None,
        };
        if let Some((source, contributions)) = early {
            out.push(Batch {
                tick,
                source,
                contributions,
                watermark: from,
            });
        }
        let mails = (0..45)
            .filter(|i| (from..to).contains(&(10 * S * i)))
            .flat_map(|i| mail(set, i));
        out.push(Batch {
            tick,
            source: MAIL,
            contributions: mails.collect(),
            watermark: from,
        });
        let mut fetches: Vec<Contribution> = (0..45)
            .filter(|j| j % 3 == 0)
            .map(|j| (j, 10 * S * j + 95 * S))
            .filter(|(_, t)| (from..to).contains(t))
            .map(|(j, t)| fetch(set, j, t))
            .collect();
        if tick == 6 {
            fetches.push(fetch(set, 3, 200 * S));
        }
        out.push(Batch {
            tick,
            source: WEB,
            contributions: fetches,
            watermark: to,
        });
    }
    out
}

fn feed(stage: &mut Stage, batches: Vec<Batch>, fired: &mut Vec<Fired>) {
    for b in batches {
        for c in b.contributions {
            stage.push(b.source, c);
        }
        stage.advance(b.watermark, fired);
    }
}

/// The firings as alert lines (every correlation's, whether or not it writes alerts).
fn lines(set: &Correlations, fired: &[Fired]) -> Vec<String> {
    fired
        .iter()
        .map(|f| {
            assert_eq!(set.find(&f.id), Some(f.correlation), "a firing names its correlation");
            let mut out = Vec::new();
            write_json_line(&mut out, &set.list[f.correlation as usize], f);
            String::from_utf8(out).unwrap()
        })
        .collect()
}

fn four() -> String {
    format!("{PIXEL}---\n{FANOUT}---\n{MANY}---\n{BOTH}")
}

/// Through JSON text, as a daemon writes it to its state directory and reads it back.
fn through_json(snapshot: &Snapshot) -> (String, Snapshot) {
    let json = serde_json::to_string(snapshot).unwrap();
    let back = Snapshot::from_json(&json).unwrap();
    (json, back)
}

#[test]
fn a_run_cut_by_a_snapshot_and_a_restore_fires_exactly_as_one_run() {
    let limits = Limits::default();
    let whole = set(&four());
    let mut one = Stage::new(Arc::clone(&whole), limits, LATENESS);
    let mut fired = Vec::new();
    feed(&mut one, stream(&whole), &mut fired);
    one.finish(&mut fired);
    let reference = lines(&whole, &fired);

    let first = set(&four());
    let (before, _) = stream(&first).into_iter().partition(|b| b.tick < 5);
    let mut cut = Stage::new(Arc::clone(&first), limits, LATENESS);
    let mut fired = Vec::new();
    feed(&mut cut, before, &mut fired);
    let mut got = lines(&first, &fired);
    let snapshot = cut.snapshot();
    assert!(snapshot.held() > 0, "contributions wait in the merge at the cut");
    assert!(snapshot.open_groups() > 0);
    let (json, snapshot) = through_json(&snapshot);
    drop(cut);

    // The rules loaded anew, as after a restart.
    let second = set(&four());
    let (mut restored, report) = Stage::restore(Arc::clone(&second), snapshot, limits, LATENESS).unwrap();
    assert!(report.discarded.is_empty() && report.new.is_empty(), "{report:?}");
    assert_eq!(report.kept.len(), 4);
    let (again, _) = through_json(&restored.snapshot());
    assert_eq!(again, json, "a restored stage snapshots as the one it came from");
    let (_, after): (Vec<Batch>, _) = stream(&second).into_iter().partition(|b| b.tick < 5);
    let mut fired = Vec::new();
    feed(&mut restored, after, &mut fired);
    restored.finish(&mut fired);
    let after_cut = lines(&second, &fired);
    got.extend(after_cut.iter().cloned());

    assert_eq!(got, reference);
    // The cut fell inside what the test is about: after the restore, pixels fired whose mail
    // (and fetch, held in the merge) came before the cut, and so did a fan-out with people
    // reached before it.
    let cut_at = 250 * S;
    let crossing = |id: &str| {
        fired
            .iter()
            .any(|f| &*f.id == id && f.events.iter().any(|e| e.timestamp.as_millisecond() < cut_at))
    };
    assert!(crossing("pixel-fired"), "{after_cut:#?}");
    assert!(crossing("fan-out"), "{after_cut:#?}");
    assert!(crossing("both"), "{after_cut:#?}");
    assert!(reference.iter().any(|l| l.contains("\"many-pixels\"")));
    let both: Vec<&Fired> = fired.iter().filter(|f| &*f.id == "both").collect();
    assert!(
        both.iter().all(|f| f.events.len() == 1),
        "one event, both steps: {both:?}"
    );
    assert_eq!(restored.merge_stats(), one.merge_stats());
    assert_eq!(
        one.merge_stats().late,
        3,
        "the late fetch, the latecomer and the source that fell back"
    );
    for i in 0..whole.list.len() {
        assert_eq!(restored.stats(i), one.stats(i), "{}", whole.list[i].rule.meta.id);
        assert_eq!(restored.open_groups(i), one.open_groups(i));
    }
}

const REMOVED: &str = "title: removed\nid: removed\ncorrelation:\n  type: event_count\n  rules: [b]\n  group-by: [source.ip]\n  timespan: 1h\n  condition:\n    gte: 5\n";
const NEW: &str = "title: new\nid: new\ncorrelation:\n  type: event_count\n  rules: [c]\n  group-by: [source.ip]\n  timespan: 1h\n  condition:\n    gte: 5\n";

#[test]
fn a_reload_keeps_the_groups_of_unchanged_correlations_and_reports_the_others() {
    let limits = Limits::default();
    let old = set(&format!("{PIXEL}---\n{FANOUT}---\n{REMOVED}"));
    let mut stage = Stage::new(Arc::clone(&old), limits, LATENESS);
    let mut fired = Vec::new();
    for i in 0..6 {
        let mut contributions = mail(&old, i);
        let web = evidence_of(&old.rule_names[1], 10 * S * i, &format!("other fetch {i}"));
        contributions.push(to(&old, "removed", 0, "192.0.2.1", None, &web));
        for c in contributions {
            stage.push(MAIL, c);
        }
        stage.advance(10 * S * i + LATENESS, &mut fired);
    }
    let pixel_groups = stage.open_groups(old.find("pixel-fired").unwrap() as usize);
    assert_eq!(pixel_groups, 5, "the sixth mail is still held");
    let (_, snapshot) = through_json(&stage.snapshot());

    let changed = FANOUT.replace("timespan: 1h", "timespan: 2h");
    let reloaded = set(&format!("{NEW}---\n{changed}---\n{PIXEL}"));
    let (mut restored, report) = Stage::restore(Arc::clone(&reloaded), snapshot, limits, LATENESS).unwrap();

    let kept: Vec<(&str, usize)> = report.kept.iter().map(|c| (c.id.as_str(), c.groups)).collect();
    assert_eq!(kept, vec![("pixel-fired", 5)]);
    let discarded: Vec<(&str, &Discard)> = report.discarded.iter().map(|(c, why)| (c.id.as_str(), why)).collect();
    assert_eq!(
        discarded,
        vec![
            (
                "fan-out",
                &Discard::Changed("its timespan changed from 1h to 2h".into())
            ),
            ("removed", &Discard::Removed),
        ]
    );
    assert_eq!(report.discarded[0].0.groups, 2, "d0 and d1");
    assert_eq!(
        report.held_ignored(),
        2,
        "the sixth mail's fan-out and the removed one's"
    );
    assert_eq!(report.new, vec!["new".to_string()]);
    let text = report.to_string();
    assert!(
        text.contains(
            "correlation fan-out: 2 open groups and 1 held contributions discarded: its timespan changed from 1h to 2h"
        ),
        "{text}"
    );
    assert!(
        text.contains("correlation removed: 1 open groups and 1 held contributions discarded: it is no longer loaded")
    );

    let pixel = reloaded.find("pixel-fired").unwrap() as usize;
    let fanout = reloaded.find("fan-out").unwrap() as usize;
    assert_eq!(restored.open_groups(pixel), 5);
    assert_eq!(restored.open_groups(fanout), 0);
    assert_eq!(restored.held(), 1, "the sixth mail's pixel contribution");
    // The kept groups still fire: a fetch for a token mailed before the reload.
    let mut fired = Vec::new();
    restored.push(WEB, fetch(&reloaded, 2, 100 * S));
    restored.finish(&mut fired);
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(
        (&*fired[0].id, fired[0].key.as_slice()),
        ("pixel-fired", ["t2".to_string()].as_slice())
    );
    assert_eq!(fired[0].correlation as usize, pixel);
    assert_eq!(restored.open_groups(pixel), 6);
}

#[test]
fn a_snapshot_of_another_version_is_refused_and_says_so() {
    let json = serde_json::to_string(&Stage::new(set(PIXEL), Limits::default(), LATENESS).snapshot()).unwrap();
    assert!(json.starts_with(r#"{"version":1,"#), "{json}");
    let v2 = json.replacen(r#""version":1"#, r#""version":2"#, 1);
    let err = Snapshot::from_json(&v2).err().unwrap();
    assert!(matches!(err, SnapshotError::Version { found: 2 }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "correlation state snapshot version 2 is not one this reconwatch reads (it reads version 1)"
    );
    // A layout to come is not mistaken for damage, through serde_json directly too.
    let err = serde_json::from_str::<Snapshot>(r#"{"version":2,"windows":{"x":[1]}}"#)
        .err()
        .unwrap();
    assert!(err.to_string().contains("snapshot version 2 is not one"), "{err}");
    let err = Snapshot::from_json(r#"{"windows":{"x":[1]},"version":3}"#)
        .err()
        .unwrap();
    assert!(matches!(err, SnapshotError::Version { found: 3 }), "{err:?}");
}

#[test]
fn a_damaged_snapshot_is_an_error_naming_the_correlation() {
    let s = set(PIXEL);
    let mut stage = Stage::new(Arc::clone(&s), Limits::default(), LATENESS);
    let ev = evidence_of(&s.rule_names[0], 0, "mail 0");
    stage.push(MAIL, to(&s, "pixel-fired", 0, "t0", None, &ev));
    stage.finish(&mut Vec::new());
    let mut json: serde_json::Value = serde_json::to_value(stage.snapshot()).unwrap();
    json["evidence"] = serde_json::json!([]);
    let snapshot = Snapshot::from_json(&json.to_string()).unwrap();
    let err = Stage::restore(s, snapshot, Limits::default(), LATENESS).err().unwrap();
    assert_eq!(
        err.to_string(),
        "correlation state snapshot: correlation `pixel-fired`: evidence 0 of 0"
    );
}

#[test]
fn numbers_and_evidence_fields_come_back_exactly() {
    let v = [
        Val::Num(0.1 + 0.2),
        Val::Num(1e300),
        Val::Num(-5e-324),
        Val::Text("0.3".into()),
    ];
    let json = serde_json::to_string(&v).unwrap();
    assert_eq!(
        json,
        r#"[{"num":"0.30000000000000004"},{"num":"1e300"},{"num":"-5e-324"},{"text":"0.3"}]"#
    );
    let back: Vec<Val> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, v);

    let rule = Arc::clone(&set(PIXEL).rule_names[0]);
    let mut ev = (*evidence_of(&rule, 1_610_000_000_123, "line")).clone();
    ev.fields = vec![("user.name", "harta".into()), ("source.ip", "192.0.2.1".into())];
    let json = serde_json::to_string(&ev).unwrap();
    let back: Evidence = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
    assert_eq!(back.fields, ev.fields);
    let bad = json.replace("user.name", "user.nam");
    let err = serde_json::from_str::<Evidence>(&bad).err().unwrap();
    assert!(err.to_string().contains("`user.nam` is not a field"), "{err}");
}
