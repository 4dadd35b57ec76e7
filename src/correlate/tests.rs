//! The correlation stages on hand-made contributions: window edges, edge triggering, every
//! type, chaining, aliases, state limits and the time-ordered merge.

use std::sync::Arc;

use jiff::Timestamp;

use super::compile::{Correlations, Feed};
use super::contribution::{
    Contribution, Events, Evidence, EvidenceEvent, EvidenceLog, EvidenceRule, KEY_SEPARATOR, Val,
};
use super::merge::{SourceId, TimeMerge};
use super::state::{Correlator, Fired, Limits};
use crate::rules::Rule;
use crate::rules::correlation::parse_correlation;
use crate::rules::sigma::{Placeholders, parse_rule};
use crate::rules::yaml::parse_documents;

pub(super) const S: i64 = 1000;

/// Detection rules named a, b, c (proxy rules; their detection does not matter here).
pub(super) fn base_rules() -> Vec<Rule> {
    ["a", "b", "c"]
        .iter()
        .map(|n| {
            let text = format!(
                "title: {n}\nname: {n}\nlogsource:\n  category: proxy\ndetection:\n  s:\n    url.domain: {n}.example\n  condition: s\n"
            );
            let docs = parse_documents(&text).unwrap();
            parse_rule(&docs[0], "t.yml", &Placeholders::new()).unwrap()
        })
        .collect()
}

/// The correlations in `yaml`, resolved against [`base_rules`].
pub(super) fn set(yaml: &str) -> Arc<Correlations> {
    let docs = parse_documents(yaml).unwrap();
    let corrs = docs.iter().map(|d| parse_correlation(d, "c.yml").unwrap()).collect();
    let (set, problems) = Correlations::new(&base_rules(), corrs);
    assert!(problems.is_empty(), "{problems:?}");
    Arc::new(set)
}

fn evidence(time: i64, text: &str) -> Arc<Evidence> {
    let rule = Arc::new(EvidenceRule {
        id: "r".into(),
        title: "r".into(),
        fields: Vec::new(),
    });
    evidence_of(&rule, time, text)
}

/// An event of `rule` at `time` whose text is `text`.
pub(super) fn evidence_of(rule: &Arc<EvidenceRule>, time: i64, text: &str) -> Arc<Evidence> {
    Arc::new(Evidence {
        timestamp: Timestamp::from_millisecond(time).unwrap(),
        rule: Arc::clone(rule),
        event: EvidenceEvent {
            dataset: None,
            original: Some(text.into()),
        },
        email: None,
        log: EvidenceLog {
            file: None,
            offset: None,
        },
        fields: Vec::new(),
        targets: Default::default(),
    })
}

fn c(time: i64, correlation: u32, step: u16, key: &str, value: Option<&str>) -> Contribution {
    Contribution {
        time,
        feed: Feed { correlation, step },
        key: key.into(),
        value: value.map(|v| Val::Text(v.into())),
        events: Events::One(evidence(time, &format!("{time} {key} {step}"))),
    }
}

/// Feeds in order; returns the times of the firings of correlation `which`.
fn run(set: &Arc<Correlations>, limits: Limits, input: Vec<Contribution>, which: u32) -> (Vec<i64>, Vec<Fired>) {
    let mut correlator = Correlator::new(Arc::clone(set), limits);
    let mut out = Vec::new();
    for x in input {
        correlator.feed(x, &mut out);
    }
    let times = out.iter().filter(|f| f.correlation == which).map(|f| f.time).collect();
    (times, out)
}

const COUNT3: &str = "title: n\ncorrelation:\n  type: event_count\n  rules: [a]\n  group-by: [user.name]\n  timespan: 10s\n  condition:\n    gte: 3\n";

#[test]
fn a_window_includes_an_event_exactly_one_timespan_old() {
    let s = set(COUNT3);
    let (at_edge, _) = run(
        &s,
        Limits::default(),
        vec![
            c(0, 0, 0, "u", None),
            c(5 * S, 0, 0, "u", None),
            c(10 * S, 0, 0, "u", None),
        ],
        0,
    );
    assert_eq!(at_edge, vec![10 * S]);
    let (past, _) = run(
        &s,
        Limits::default(),
        vec![
            c(0, 0, 0, "u", None),
            c(5 * S, 0, 0, "u", None),
            c(10 * S + 1, 0, 0, "u", None),
        ],
        0,
    );
    assert!(past.is_empty(), "the first event is 1 ms outside the window");
}

#[test]
fn a_group_fires_when_its_condition_becomes_true_and_again_only_after_it_was_false() {
    let s = set(COUNT3);
    let times = [0, 1, 2, 3, 4, 30, 31, 32].map(|t| t * S);
    let input = times.iter().map(|&t| c(t, 0, 0, "u", None)).collect();
    let (fired, all) = run(&s, Limits::default(), input, 0);
    assert_eq!(fired, vec![2 * S, 32 * S]);
    assert_eq!(all[0].events.len(), 3);
    assert_eq!(all[0].key, vec!["u".to_string()]);
    // Other groups are separate.
    let (fired, _) = run(
        &s,
        Limits::default(),
        vec![
            c(0, 0, 0, "u", None),
            c(1, 0, 0, "v", None),
            c(2, 0, 0, "u", None),
            c(3, 0, 0, "v", None),
        ],
        0,
    );
    assert!(fired.is_empty());
}

#[test]
fn value_count_counts_distinct_values() {
    let s = set(
        "title: v\ncorrelation:\n  type: value_count\n  rules: [a]\n  group-by: [user.name]\n  timespan: 1h\n  condition:\n    field: url.domain\n    gte: 3\n",
    );
    let input = ["x", "x", "y", "y", "x", "z"]
        .iter()
        .enumerate()
        .map(|(i, v)| c(i as i64 * S, 0, 0, "k", Some(v)))
        .collect();
    let (fired, all) = run(&s, Limits::default(), input, 0);
    assert_eq!(fired, vec![5 * S]);
    let mut values = all[0].values.clone();
    values.sort();
    assert_eq!(values, ["x", "y", "z"]);
    assert_eq!(all[0].aggregate, 3.0);
}

const ORDERED: &str = "title: o\ncorrelation:\n  type: temporal_ordered\n  rules: [a, b]\n  group-by: [k]\n  aliases:\n    k:\n      a: user.name\n      b: source.ip\n  timespan: 14d\n";

#[test]
fn temporal_ordered_needs_the_rules_in_order_within_the_timespan() {
    let s = set(ORDERED);
    let day = 86_400 * S;
    let (fired, all) = run(
        &s,
        Limits::default(),
        vec![c(0, 0, 0, "t", None), c(3 * day, 0, 1, "t", None)],
        0,
    );
    assert_eq!(fired, vec![3 * day]);
    assert_eq!(all[0].events.len(), 2);
    let (fired, _) = run(
        &s,
        Limits::default(),
        vec![c(0, 0, 1, "t", None), c(day, 0, 0, "t", None)],
        0,
    );
    assert!(fired.is_empty(), "the web request came before the mail");
    let (fired, _) = run(
        &s,
        Limits::default(),
        vec![c(0, 0, 0, "t", None), c(14 * day, 0, 1, "t", None)],
        0,
    );
    assert_eq!(fired, vec![14 * day], "exactly at the timespan");
    let (fired, _) = run(
        &s,
        Limits::default(),
        vec![c(0, 0, 0, "t", None), c(14 * day + 1, 0, 1, "t", None)],
        0,
    );
    assert!(fired.is_empty(), "just past the timespan");
    // A second fetch does not fire again, a fetch for another token not at all; a newer first
    // step re-arms the sequence (a second mail, then its pixel).
    let (fired, _) = run(
        &s,
        Limits::default(),
        vec![
            c(0, 0, 0, "t", None),
            c(S, 0, 1, "t", None),
            c(2 * S, 0, 1, "t", None),
            c(2 * S, 0, 1, "u", None),
            c(3 * S, 0, 0, "t", None),
            c(4 * S, 0, 1, "t", None),
            c(5 * S, 0, 1, "t", None),
        ],
        0,
    );
    assert_eq!(fired, vec![S, 4 * S]);
}

/// [`ORDERED`] with `reconwatch-firing: repeats`.
const REPEATS: &str = "title: r\ncorrelation:\n  type: temporal_ordered\n  rules: [a, b]\n  group-by: [k]\n  aliases:\n    k:\n      a: user.name\n      b: source.ip\n  timespan: 14d\nreconwatch-firing: repeats\n";

#[test]
fn a_repeats_rule_fires_for_each_later_last_step_of_a_completed_sequence_only() {
    let s = set(&format!("{ORDERED}---\n{REPEATS}"));
    let input = || {
        vec![
            c(0, 0, 0, "t", None),
            c(0, 1, 0, "t", None),
            // The first fetch: the ordered rule's alert, none of the repeats rule.
            c(S, 0, 1, "t", None),
            c(S, 1, 1, "t", None),
            // Each later fetch: a repeat, listing the mail and that fetch.
            c(2 * S, 0, 1, "t", None),
            c(2 * S, 1, 1, "t", None),
            c(3 * S, 0, 1, "t", None),
            c(3 * S, 1, 1, "t", None),
            // Another token, without a mail: nothing.
            c(3 * S, 1, 1, "u", None),
            // A second mail keeps the group alive but is no fetch; its first fetch is the
            // ordered rule's again, the next one a repeat.
            c(4 * S, 0, 0, "t", None),
            c(4 * S, 1, 0, "t", None),
            c(5 * S, 0, 1, "t", None),
            c(5 * S, 1, 1, "t", None),
            c(6 * S, 0, 1, "t", None),
            c(6 * S, 1, 1, "t", None),
        ]
    };
    let (first, _) = run(&s, Limits::default(), input(), 0);
    assert_eq!(first, vec![S, 5 * S]);
    let (repeats, all) = run(&s, Limits::default(), input(), 1);
    assert_eq!(repeats, vec![2 * S, 3 * S, 6 * S]);
    let texts = |f: &Fired| f.events.iter().map(|e| e.tie().to_owned()).collect::<Vec<_>>();
    let repeated: Vec<&Fired> = all.iter().filter(|f| f.correlation == 1).collect();
    assert_eq!(texts(repeated[0]), ["0 t 0", "2000 t 1"]);
    assert_eq!(texts(repeated[2]), ["4000 t 0", "6000 t 1"]);
    // Past the timespan the sequence is gone: a fetch is nothing, not a repeat.
    let day = 86_400 * S;
    let (repeats, _) = run(
        &s,
        Limits::default(),
        vec![
            c(0, 1, 0, "t", None),
            c(S, 1, 1, "t", None),
            c(15 * day, 1, 1, "t", None),
        ],
        1,
    );
    assert!(repeats.is_empty(), "{repeats:?}");
}

#[test]
fn temporal_needs_every_rule_in_any_order() {
    let s =
        set("title: t\ncorrelation:\n  type: temporal\n  rules: [a, b, c]\n  group-by: [user.name]\n  timespan: 5m\n");
    let (fired, _) = run(
        &s,
        Limits::default(),
        vec![
            c(0, 0, 2, "u", None),
            c(S, 0, 0, "u", None),
            c(S, 0, 0, "u", None),
            c(2 * S, 0, 1, "u", None),
        ],
        0,
    );
    assert_eq!(fired, vec![2 * S]);
    let (fired, _) = run(
        &s,
        Limits::default(),
        vec![c(0, 0, 2, "u", None), c(S, 0, 0, "u", None)],
        0,
    );
    assert!(fired.is_empty());
}

#[test]
fn value_sum_and_avg_test_the_numbers() {
    let s = set(
        "title: s\ncorrelation:\n  type: value_sum\n  rules: [a]\n  group-by: [user.name]\n  timespan: 1h\n  condition:\n    field: http.response.bytes\n    gt: 100\n---\ntitle: v\ncorrelation:\n  type: value_avg\n  rules: [a]\n  group-by: [user.name]\n  timespan: 1h\n  condition:\n    field: http.response.bytes\n    gte: 50\n",
    );
    let num = |t: i64, corr: u32, n: f64| Contribution {
        value: Some(Val::Num(n)),
        ..c(t, corr, 0, "u", None)
    };
    let (fired, all) = run(&s, Limits::default(), vec![num(0, 0, 60.0), num(S, 0, 41.0)], 0);
    assert_eq!(fired, vec![S]);
    assert_eq!(all[0].aggregate, 101.0);
    let (fired, _) = run(
        &s,
        Limits::default(),
        vec![num(0, 1, 20.0), num(S, 1, 70.0), num(2 * S, 1, 90.0)],
        1,
    );
    assert_eq!(fired, vec![2 * S], "avg 45 then 60");
}

#[test]
fn a_chained_correlation_sees_the_inner_firings() {
    // Three events of rule a for one user within 10 s, then rule b from that user's IP.
    let s = set(&format!(
        "{COUNT3}name: many_a\n---\ntitle: outer\ncorrelation:\n  type: temporal_ordered\n  rules: [many_a, b]\n  group-by: [who]\n  aliases:\n    who:\n      many_a: user.name\n      b: source.ip\n  timespan: 1h\n"
    ));
    assert_eq!(s.list.len(), 2);
    let (inner, outer) = (0u32, 1u32);
    assert!(
        !s.list[inner as usize].alerts,
        "an inner correlation alerts only when generate says so"
    );
    assert!(s.list[outer as usize].alerts);
    let input = vec![
        c(0, inner, 0, "u", None),
        c(S, inner, 0, "u", None),
        c(2 * S, inner, 0, "u", None),
        c(60 * S, outer, 1, "u", None),
    ];
    let (fired, all) = run(&s, Limits::default(), input, outer);
    assert_eq!(fired, vec![60 * S]);
    let f = all.iter().find(|f| f.correlation == outer).unwrap();
    assert_eq!(f.events.len(), 4, "the inner firing's three events and the outer one");
}

#[test]
fn an_upper_bound_waits_for_a_full_timespan_of_history() {
    // First sighting: `lte: 1` holds for the first event of every group; before the correlation
    // has seen a full timespan it cannot know the value is new.
    let s = set(
        "title: f\ncorrelation:\n  type: event_count\n  rules: [a]\n  group-by: [url.domain]\n  timespan: 1h\n  condition:\n    lte: 1\n",
    );
    let h = 3600 * S;
    let mut correlator = Correlator::new(Arc::clone(&s), Limits::default());
    let mut out = Vec::new();
    for (t, k) in [(0, "x"), (h / 2, "y"), (h, "z"), (h + 1, "z"), (2 * h, "x")] {
        correlator.feed(c(t, 0, 0, k, None), &mut out);
    }
    let got: Vec<(i64, String)> = out.iter().map(|f| (f.time, f.key[0].clone())).collect();
    assert_eq!(got, vec![(h, "z".to_string()), (2 * h, "x".to_string())]);
    assert_eq!(correlator.stats(0).held_back, 2);
}

#[test]
fn groups_are_evicted_oldest_first_at_the_limit_and_expire_after_the_timespan() {
    let s = set(COUNT3);
    let mut correlator = Correlator::new(Arc::clone(&s), Limits { max_groups: 2 });
    let mut out = Vec::new();
    for (t, k) in [(0, "a"), (S, "b"), (2 * S, "c"), (3 * S, "a")] {
        correlator.feed(c(t, 0, 0, k, None), &mut out);
    }
    let st = correlator.stats(0);
    assert_eq!(st.evicted, 2, "c evicts a, then a evicts b");
    assert_eq!(correlator.open_groups(0), 2);
    assert_eq!(st.peak_groups, 2);
    correlator.feed(c(20 * S, 0, 0, "z", None), &mut out);
    assert_eq!(correlator.stats(0).expired, 2, "c and a are more than 10 s old");
    assert_eq!(correlator.open_groups(0), 1);
}

#[test]
fn group_keys_join_several_fields_and_list_values() {
    use super::compile::From;
    use super::contribution::group_keys;
    use crate::event::{Field, Value};
    let to: Vec<crate::event::Str<'static>> = vec!["x@a".into(), "y@a".into(), "x@a".into()];
    let mut keys = Vec::new();
    group_keys(
        &[From::Field(Field::UserName), From::Field(Field::EmailToAddress)],
        |f| match f {
            Field::UserName => Some(Value::Str("u")),
            Field::EmailToAddress => Some(Value::List(&to)),
            _ => None,
        },
        &mut keys,
    )
    .unwrap();
    assert_eq!(
        keys,
        vec![format!("u{KEY_SEPARATOR}x@a"), format!("u{KEY_SEPARATOR}y@a")]
    );
    let missing = group_keys(&[From::Field(Field::SourceIp)], |_| None, &mut keys);
    assert!(missing.is_err() && keys.is_empty());
}

#[test]
fn the_merge_releases_in_time_order_and_counts_events_beyond_the_lateness() {
    let mut m = TimeMerge::new(60 * S);
    let [s0, s1, s2] = [0, 1, 2].map(SourceId);
    // Source 0: 100 s, then 50 s (50 s behind: within the lateness), then 30 s (70 s behind: late).
    assert!(m.push(s0, c(100 * S, 0, 0, "k", None)));
    assert!(m.push(s0, c(50 * S, 0, 0, "k", None)));
    assert!(!m.push(s0, c(30 * S, 0, 0, "k", None)));
    assert_eq!(m.stats.late, 1);
    // Source 1 is behind source 0 in time: its own lateness is measured against itself.
    assert!(m.push(s1, c(20 * S, 0, 0, "k", None)));
    let mut got = Vec::new();
    // Later inputs start at 120 s: everything before 60 s may go.
    m.release(Some(120 * S), |x| got.push(x.time));
    assert_eq!(got, vec![20 * S, 50 * S]);
    // What was released can no longer be preceded.
    assert!(!m.push(s2, c(40 * S, 0, 0, "k", None)));
    m.release(None, |x| got.push(x.time));
    assert_eq!(got, vec![20 * S, 50 * S, 100 * S]);
    assert_eq!(m.held(), 0);
}

#[test]
fn a_forgotten_source_starts_afresh() {
    let mut m = TimeMerge::new(60 * S);
    let s = SourceId(7);
    assert!(m.push(s, c(100 * S, 0, 0, "k", None)));
    assert_eq!(m.newest(s), Some(100 * S));
    m.forget(s);
    assert_eq!(m.newest(s), None);
    assert!(m.push(s, c(30 * S, 0, 0, "k", None)), "70 s behind a mark that is gone");
    assert_eq!(m.stats.late, 0);
}

#[test]
fn problems_name_the_correlation_and_the_reason() {
    let bad = [
        (
            "title: x\ncorrelation:\n  type: temporal\n  rules: [a, nope]\n  group-by: [user.name]\n  timespan: 1m\n",
            "nope",
        ),
        (
            "title: x\ncorrelation:\n  type: temporal\n  rules: [a, b]\n  group-by: [k]\n  aliases:\n    k:\n      a: user.name\n  timespan: 1m\n",
            "no field for rule `b`",
        ),
        (
            "title: x\ncorrelation:\n  type: event_count\n  rules: [a]\n  group-by: [Image]\n  timespan: 1m\n  condition:\n    gte: 1\n",
            "`Image` is not a field",
        ),
        (
            "title: x\nname: x\ncorrelation:\n  type: event_count\n  rules: [y]\n  group-by: []\n  timespan: 1m\n  condition:\n    gte: 1\n---\ntitle: y\nname: y\ncorrelation:\n  type: event_count\n  rules: [x]\n  group-by: []\n  timespan: 1m\n  condition:\n    gte: 1\n",
            "refers back",
        ),
        (
            "title: x\nname: in\ncorrelation:\n  type: event_count\n  rules: [a]\n  group-by: [user.name]\n  timespan: 1m\n  condition:\n    gte: 1\n---\ntitle: y\ncorrelation:\n  type: event_count\n  rules: [in]\n  group-by: [source.ip]\n  timespan: 1m\n  condition:\n    gte: 1\n",
            "passes on only its group-by fields",
        ),
    ];
    for (yaml, want) in bad {
        let docs = parse_documents(yaml).unwrap();
        let corrs = docs.iter().map(|d| parse_correlation(d, "c.yml").unwrap()).collect();
        let (_, problems) = Correlations::new(&base_rules(), corrs);
        assert!(
            problems
                .iter()
                .any(|p| p.to_string().contains(want) && p.file == "c.yml"),
            "{want}: {problems:?}"
        );
    }
}
