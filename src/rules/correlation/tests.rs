//! Correlation documents: the specification's examples load, every malformed construct is
//! rejected with its construct and reason, and the loader routes and de-duplicates them.

use super::*;
use crate::rules::load::Loaded;
use crate::rules::sigma::{Level, Placeholders};
use crate::rules::yaml::parse_documents;

fn parse(text: &str) -> Result<CorrelationRule> {
    let docs = parse_documents(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    parse_correlation(&docs[0], "c.yml")
}

fn ok(text: &str) -> CorrelationRule {
    parse(text).unwrap_or_else(|r| panic!("{r:?}\n{text}"))
}

fn cond(terms: &[(Op, f64)], field: Option<&str>) -> Option<Condition> {
    Some(Condition {
        terms: terms.to_vec(),
        field: field.map(str::to_owned),
    })
}

#[test]
fn spec_event_count() {
    let c = ok("title: Many failed logins
id: 0e95725d-7320-415d-80f7-004da920fc11
correlation:
    type: event_count
    rules:
        - 5638f7c0-ac70-491d-8465-2a65075e0d86
    group-by:
        - ComputerName
    timespan: 1h
    condition:
        gte: 100
");
    assert_eq!(c.meta.id, "0e95725d-7320-415d-80f7-004da920fc11");
    assert_eq!(c.meta.title, "Many failed logins");
    assert_eq!(c.meta.level, Level::Informational);
    assert_eq!(c.kind, Kind::EventCount);
    assert_eq!(c.kind.name(), "event_count");
    assert_eq!(c.rules, ["5638f7c0-ac70-491d-8465-2a65075e0d86"]);
    assert_eq!(c.group_by, ["ComputerName"]);
    assert_eq!(c.timespan, SignedDuration::from_hours(1));
    assert_eq!(c.condition, cond(&[(Op::Gte, 100.0)], None));
    assert!(c.aliases.is_empty());
    assert!(!c.generate);
    assert_eq!(c.file, "c.yml");
}

#[test]
fn spec_value_count() {
    let c = ok("title: Failed login
id: 0e95725d-7320-415d-80f7-004da920fc12
correlation:
    type: value_count
    rules:
        - 5638f7c0-ac70-491d-8465-2a65075e0d86
    group-by:
        - ComputerName
        - WorkstationName
    timespan: 1d
    condition:
        field: User
        gte: 100
");
    assert_eq!(c.kind, Kind::ValueCount);
    assert_eq!(c.group_by, ["ComputerName", "WorkstationName"]);
    assert_eq!(c.timespan, SignedDuration::from_hours(24));
    assert_eq!(c.condition, cond(&[(Op::Gte, 100.0)], Some("User")));
}

#[test]
fn spec_temporal() {
    // The specification's example has no title; reconwatch (and the spec) require one.
    let c = ok("title: Recon
correlation:
    type: temporal
    rules:
        - recon_cmd_a
        - recon_cmd_b
        - recon_cmd_c
    group-by:
        - ComputerName
        - User
    timespan: 5m
");
    assert_eq!(c.kind, Kind::Temporal);
    assert_eq!(c.meta.id, "Recon", "the title stands in for a missing id");
    assert_eq!(c.rules, ["recon_cmd_a", "recon_cmd_b", "recon_cmd_c"]);
    assert_eq!(c.timespan, SignedDuration::from_mins(5));
    assert_eq!(c.condition, None);

    // A temporal condition counts the rules that matched.
    let c = ok(
        "title: t\ncorrelation: {type: temporal, rules: [a, b, c], group-by: [], timespan: 5m, \
                condition: {gte: 2}}\n",
    );
    assert_eq!(c.condition, cond(&[(Op::Gte, 2.0)], None));
    assert!(c.group_by.is_empty());
}

#[test]
fn spec_temporal_ordered() {
    let c = ok("title: Brute force
correlation:
    type: temporal_ordered
    rules:
        - many_failed_logins
        - successful_login
    group-by:
        - User
    timespan: 1h
");
    assert_eq!(c.kind, Kind::TemporalOrdered);
    assert_eq!(c.rules, ["many_failed_logins", "successful_login"]);
    assert_eq!(c.condition, None);
}

#[test]
fn spec_value_sum_and_avg() {
    let c = ok("title: Possible Exfiltration to Website
correlation:
    type: value_sum
    rules:
        - website_access
    group-by:
        - SourceIP
        - User
    timespan: 1h
    condition:
        field: bytes_sent
        gt: 1000000
");
    assert_eq!(c.kind, Kind::ValueSum);
    assert_eq!(c.condition, cond(&[(Op::Gt, 1_000_000.0)], Some("bytes_sent")));

    let c = ok("title: Suspicious average network traffic
correlation:
    type: value_avg
    rules: 
        - rule_a_id
    group-by:
        - SourceIP
        - User
    timespan: 24h
    condition:
        field: BytesOut
        gt: 500
");
    assert_eq!(c.kind, Kind::ValueAvg);
    assert_eq!(c.timespan, SignedDuration::from_hours(24));
    assert_eq!(c.condition, cond(&[(Op::Gt, 500.0)], Some("BytesOut")));
}

#[test]
fn spec_aliases() {
    let c = ok("title: —
id: —
correlation:
    type: temporal
    rules:
        - internal_error
        - new_network_connection
    group-by:
        - internal_ip
        - remote_ip
    timespan: 10s
    aliases:
        internal_ip:
            internal_error: destination.ip
            new_network_connection: source.ip
        remote_ip:
            internal_error: source.ip
            new_network_connection: destination.ip
");
    assert_eq!(c.timespan, SignedDuration::from_secs(10));
    let pair = |r: &str, f: &str| (r.to_owned(), f.to_owned());
    assert_eq!(
        c.aliases,
        [
            (
                "internal_ip".to_owned(),
                vec![
                    pair("internal_error", "destination.ip"),
                    pair("new_network_connection", "source.ip")
                ]
            ),
            (
                "remote_ip".to_owned(),
                vec![
                    pair("internal_error", "source.ip"),
                    pair("new_network_connection", "destination.ip")
                ]
            ),
        ]
    );
}

#[test]
fn accepted_variants() {
    // A single string for rules and group-by, a float, a range, a field as a list of one,
    // generate at the top level (spec) or inside correlation (seen in the wild).
    let c = ok(
        "title: t\nname: n1\nlevel: high\ngenerate: true\ncorrelation:\n  type: value_avg\n  rules: r\n  \
                group-by: user.name\n  timespan: 2d\n  condition: {field: [http.response.bytes], gt: 1.5, lte: 200}\n",
    );
    assert_eq!(c.rules, ["r"]);
    assert_eq!(c.group_by, ["user.name"]);
    assert_eq!(c.timespan, SignedDuration::from_hours(48));
    assert_eq!(
        c.condition,
        cond(&[(Op::Gt, 1.5), (Op::Lte, 200.0)], Some("http.response.bytes"))
    );
    assert!(c.generate);
    assert_eq!(c.meta.name.as_deref(), Some("n1"));
    assert_eq!(c.meta.level, Level::High);

    let c = ok(
        "title: t\ncorrelation: {type: event_count, rules: [r], group-by: [], timespan: 30s, \
                condition: {neq: 0}, generate: true}\n",
    );
    assert!(c.generate);
    assert_eq!(c.timespan, SignedDuration::from_secs(30));
}

#[test]
fn condition_holds_largest_and_display() {
    let range = Condition {
        terms: vec![(Op::Gt, 100.0), (Op::Lte, 200.0)],
        field: None,
    };
    assert!(!range.holds(100.0));
    assert!(range.holds(100.5));
    assert!(range.holds(200.0));
    assert!(!range.holds(201.0));
    assert_eq!(range.largest(), 200.0);
    assert_eq!(range.to_string(), "gt 100 and lte 200");

    let neq = Condition {
        terms: vec![(Op::Neq, 3.0)],
        field: Some("user.name".into()),
    };
    assert!(neq.holds(2.0) && neq.holds(4.0) && !neq.holds(3.0));
    assert_eq!(neq.to_string(), "neq 3");

    for (op, x, holds) in [
        (Op::Gte, 5.0, true),
        (Op::Gte, 4.0, false),
        (Op::Lt, 4.0, true),
        (Op::Lt, 5.0, false),
        (Op::Eq, 5.0, true),
        (Op::Eq, 6.0, false),
    ] {
        let c = Condition {
            terms: vec![(op, 5.0)],
            field: None,
        };
        assert_eq!(c.holds(x), holds, "{c} on {x}");
    }
    assert_eq!(
        Condition {
            terms: vec![(Op::Gte, 1.5)],
            field: None
        }
        .to_string(),
        "gte 1.5"
    );
}

#[test]
fn firing_is_first_unless_a_sequence_asks_for_repeats() {
    let ordered = "correlation: {type: temporal_ordered, rules: [a, b], group-by: [u], timespan: 14d}\n";
    assert_eq!(ok(&format!("title: t\n{ordered}")).firing, Firing::First);
    assert_eq!(
        ok(&format!("title: t\nreconwatch-firing: first\n{ordered}")).firing,
        Firing::First
    );
    let r = ok(&format!("title: t\nreconwatch-firing: repeats\n{ordered}"));
    assert_eq!(r.firing, Firing::Repeats);
    assert_eq!(r.firing.name(), "repeats");
}

#[test]
fn rejections_name_the_construct_and_reason() {
    // Whole documents.
    let valid = "correlation: {type: event_count, rules: [r], group-by: [u], timespan: 5m, condition: {gte: 1}}\n";
    let temporal = "correlation: {type: temporal, rules: [a], group-by: [u], timespan: 5m";
    let documents = [
        (
            "title: t\ncorrelation: [a]\n".to_owned(),
            "correlation",
            "must be a map",
        ),
        (
            format!("title: t\nlogsource: {{category: proxy}}\n{valid}"),
            "logsource",
            "no logsource",
        ),
        (
            format!("title: t\ndetection: {{sel: {{a: b}}, condition: sel}}\n{valid}"),
            "detection",
            "no detection",
        ),
        (valid.to_owned(), "title", "needs a title"),
        (
            format!("title: t\ngenerate: 1\n{temporal}}}\n"),
            "generate",
            "true or false",
        ),
        (
            format!("title: t\ngenerate: true\n{temporal}, generate: true}}\n"),
            "correlation.generate",
            "both",
        ),
        (
            format!("title: t\nreconwatch-firing: each\n{temporal}}}\n"),
            "reconwatch-firing",
            "must be first or repeats, is `each`",
        ),
        (
            format!("title: t\nreconwatch-firing: repeats\n{temporal}}}\n"),
            "reconwatch-firing",
            "repeats needs type temporal_ordered, not temporal",
        ),
        // Test lines are not run for correlations yet: refused rather than ignored.
        (
            format!("title: t\nreconwatch-tests: {{match: [x]}}\n{temporal}}}\n"),
            "reconwatch-tests",
            "not supported",
        ),
    ];
    // The `correlation` map's contents, in flow style.
    let sections = [
        (
            "type: event_count, rules: [r], group-by: [u], timespan: 5m, condition: {gte: 1}, severity: high",
            "correlation.severity",
            "unknown key",
        ),
        // type
        (
            "rules: [r], group-by: [u], timespan: 5m, condition: {gte: 1}",
            "correlation.type",
            "required",
        ),
        (
            "type: value_percentile, rules: [r], group-by: [u], timespan: 5m, condition: {field: f, lte: 1}",
            "correlation.type",
            "value_percentile is not supported (its condition's meaning is not defined precisely enough to implement)",
        ),
        (
            "type: event_cnt, rules: [r], group-by: [u], timespan: 5m, condition: {gte: 1}",
            "correlation.type",
            "`event_cnt` is not a correlation type (expected event_count, value_count, temporal, temporal_ordered, value_sum, value_avg)",
        ),
        // rules
        (
            "type: temporal, group-by: [u], timespan: 5m",
            "correlation.rules",
            "at least one rule",
        ),
        (
            "type: temporal, rules: [], group-by: [u], timespan: 5m",
            "correlation.rules",
            "at least one rule",
        ),
        (
            "type: temporal, rules: [a, {b: c}], group-by: [u], timespan: 5m",
            "correlation.rules",
            "list of text",
        ),
        (
            "type: temporal, rules: [a, ''], group-by: [u], timespan: 5m",
            "correlation.rules",
            "empty name",
        ),
        // group-by
        (
            "type: temporal, rules: [a], timespan: 5m",
            "correlation.group-by",
            "group-by is required (use [] for one group)",
        ),
        (
            "type: temporal, rules: [a], group-by: , timespan: 5m",
            "correlation.group-by",
            "group-by is required",
        ),
        (
            "type: temporal, rules: [a], group-by: {u: v}, timespan: 5m",
            "correlation.group-by",
            "list of text",
        ),
        // timespan
        (
            "type: temporal, rules: [a], group-by: [u]",
            "correlation.timespan",
            "required",
        ),
        (
            "type: temporal, rules: [a], group-by: [u], timespan: 0m",
            "correlation.timespan",
            "not zero",
        ),
        (
            "type: temporal, rules: [a], group-by: [u], timespan: 2w",
            "correlation.timespan",
            "number followed by s, m, h or d",
        ),
        (
            "type: temporal, rules: [a], group-by: [u], timespan: 1H",
            "correlation.timespan",
            "`1H` is not a timespan",
        ),
        (
            "type: temporal, rules: [a], group-by: [u], timespan: 1.5h",
            "correlation.timespan",
            "`1.5h` is not a timespan",
        ),
        (
            "type: temporal, rules: [a], group-by: [u], timespan: -5m",
            "correlation.timespan",
            "`-5m` is not a timespan",
        ),
        (
            "type: temporal, rules: [a], group-by: [u], timespan: ' 5m'",
            "correlation.timespan",
            "is not a timespan",
        ),
        (
            "type: temporal, rules: [a], group-by: [u], timespan: m",
            "correlation.timespan",
            "`m` is not a timespan",
        ),
        (
            "type: temporal, rules: [a], group-by: [u], timespan: 300",
            "correlation.timespan",
            "`300` is not a timespan",
        ),
        (
            "type: temporal, rules: [a], group-by: [u], timespan: 99999999999999999999d",
            "correlation.timespan",
            "too long",
        ),
        // condition
        (
            "type: event_count, rules: [r], group-by: [u], timespan: 5m",
            "correlation.condition",
            "event_count requires a condition",
        ),
        (
            "type: event_count, rules: [r], group-by: [u], timespan: 5m, condition: {}",
            "correlation.condition",
            "at least one of gt, gte, lt, lte, eq, neq",
        ),
        (
            "type: event_count, rules: [r], group-by: [u], timespan: 5m, condition: 5",
            "correlation.condition",
            "must be a map",
        ),
        (
            "type: event_count, rules: [r], group-by: [u], timespan: 5m, condition: {gte: '5'}",
            "correlation.condition.gte",
            "write the number unquoted",
        ),
        (
            "type: event_count, rules: [r], group-by: [u], timespan: 5m, condition: {gte: true}",
            "correlation.condition.gte",
            "finite number",
        ),
        (
            "type: event_count, rules: [r], group-by: [u], timespan: 5m, condition: {gte: [5]}",
            "correlation.condition.gte",
            "number",
        ),
        (
            "type: event_count, rules: [r], group-by: [u], timespan: 5m, condition: {ge: 5}",
            "correlation.condition.ge",
            "unknown operator",
        ),
        (
            "type: event_count, rules: [r], group-by: [u], timespan: 5m, condition: {field: u, gte: 5}",
            "correlation.condition.field",
            "event_count counts events",
        ),
        (
            "type: value_count, rules: [r], group-by: [u], timespan: 5m, condition: {gte: 5}",
            "correlation.condition.field",
            "value_count requires a field",
        ),
        (
            "type: value_sum, rules: [r], group-by: [u], timespan: 5m, condition: {gte: 5}",
            "correlation.condition.field",
            "value_sum requires a field",
        ),
        (
            "type: value_avg, rules: [r], group-by: [u], timespan: 5m, condition: {gte: 5}",
            "correlation.condition.field",
            "value_avg requires a field",
        ),
        (
            "type: value_count, rules: [r], group-by: [u], timespan: 5m, condition: {field: f}",
            "correlation.condition",
            "at least one of",
        ),
        (
            "type: value_count, rules: [r], group-by: [u], timespan: 5m, condition: {field: [a, b], gte: 5}",
            "correlation.condition.field",
            "exactly one field",
        ),
        (
            "type: value_count, rules: [r], group-by: [u], timespan: 5m, condition: {field: {a: b}, gte: 5}",
            "correlation.condition.field",
            "field name",
        ),
        (
            "type: temporal, rules: [a, b], group-by: [u], timespan: 5m, condition: {field: f, gte: 2}",
            "correlation.condition.field",
            "temporal counts the referenced rules",
        ),
        (
            "type: temporal_ordered, rules: [a, b], group-by: [u], timespan: 5m, condition: {gte: 2}",
            "correlation.condition",
            "temporal_ordered requires every rule, in order; it takes no condition",
        ),
        // aliases
        (
            "type: temporal, rules: [a], group-by: [u], timespan: 5m, aliases: [u]",
            "correlation.aliases",
            "must be a map",
        ),
        (
            "type: temporal, rules: [a], group-by: [u], timespan: 5m, aliases: {u: a}",
            "correlation.aliases.u",
            "rule name -> field",
        ),
        (
            "type: temporal, rules: [a], group-by: [u], timespan: 5m, aliases: {u: {}}",
            "correlation.aliases.u",
            "at least one rule name",
        ),
        (
            "type: temporal, rules: [a], group-by: [u], timespan: 5m, aliases: {u: {a: [x]}}",
            "correlation.aliases.u.a",
            "field name",
        ),
        // generate
        (
            "type: temporal, rules: [a], group-by: [u], timespan: 5m, generate: 'yes'",
            "correlation.generate",
            "true or false",
        ),
    ];
    let sections = sections.map(|(s, c, r)| (format!("title: t\ncorrelation: {{{s}}}\n"), c, r));
    for (text, construct, reason) in documents.into_iter().chain(sections) {
        let r = parse(&text).expect_err(&text);
        assert_eq!(r.construct, construct, "{text}\n{r:?}");
        assert!(r.reason.contains(reason), "{text}\nreason: {}", r.reason);
        assert!(!r.unsupported_logsource, "{text}");
    }
}

/// The specification's "Failed Logins Followed by Successful Login" file, whole.
const FAILED_LOGINS: &str = "title: Correlation - Multiple Failed Logins Followed by Successful Login
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
status: experimental
description: Detects multiple failed logins by a single user followed by a successful login of that user
references:
    - https://reference.com
author: Florian Roth (Nextron Systems)
date: 2023-06-16
correlation:
    type: temporal_ordered
    rules:
        - multiple_failed_login
        - successful_login
    group-by:
        - User
    timespan: 10m
falsepositives:
    - Unlikely
level: high
---
title: Multiple failed logons
id: a8418a5a-5fc4-46b5-b23b-6c73beb19d41
description: Detects multiple failed logins within a certain amount of time
name: multiple_failed_login
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - User
    timespan: 10m
    condition:
        gte: 10
---
title: Single failed login
id: 53ba33fd-3a50-4468-a5ef-c583635cfa92
name: failed_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID:
            - 529
            - 4625
    condition: selection
---
title: Successful login
id: 4d0a2c83-c62c-4ed4-b475-c7e23a9269b8
description: Detects a successful login
name: successful_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID:
            - 528
            - 4624
    condition: selection
";

#[test]
fn loader_reads_the_spec_multi_document_example() {
    let mut loaded = Loaded::default();
    loaded.add_text("mr_failed_logins.yml", FAILED_LOGINS, &Placeholders::new());
    // The two Windows detection rules are skipped (a log source reconwatch does not read); the
    // correlations load regardless.
    assert!(loaded.rules.is_empty());
    assert_eq!(loaded.problems.len(), 2, "{:?}", loaded.problems);
    assert!(loaded.problems.iter().all(|p| p.skipped), "{:?}", loaded.problems);
    assert_eq!(loaded.correlations.len(), 2);

    let outer = &loaded.correlations[0];
    assert_eq!(outer.meta.id, "b180ead8-d58f-40b2-ae54-c8940995b9b6");
    assert_eq!(outer.meta.level, Level::High);
    assert_eq!(outer.meta.status.as_deref(), Some("experimental"));
    assert_eq!(outer.meta.author.as_deref(), Some("Florian Roth (Nextron Systems)"));
    assert_eq!(outer.meta.references, ["https://reference.com"]);
    assert_eq!(outer.meta.falsepositives, ["Unlikely"]);
    assert_eq!(outer.meta.name, None);
    assert_eq!(outer.kind, Kind::TemporalOrdered);
    assert_eq!(outer.rules, ["multiple_failed_login", "successful_login"]);
    assert_eq!(outer.timespan, SignedDuration::from_mins(10));
    assert_eq!(outer.file, "mr_failed_logins.yml");

    let inner = &loaded.correlations[1];
    assert_eq!(inner.meta.name.as_deref(), Some("multiple_failed_login"));
    assert_eq!(inner.kind, Kind::EventCount);
    assert_eq!(inner.rules, ["failed_login"]);
    assert_eq!(inner.condition, cond(&[(Op::Gte, 10.0)], None));
}

#[test]
fn loader_ids_and_names_are_unique_across_detection_and_correlation() {
    let detection = |id: &str, name: &str| {
        format!(
            "title: d\nid: {id}\nname: {name}\nlogsource: {{category: proxy}}\n\
             detection: {{sel: {{c-uri|contains: /open}}, condition: sel}}\n"
        )
    };
    let correlation = |id: &str, name: &str| {
        format!(
            "title: c\nid: {id}\nname: {name}\n\
             correlation: {{type: event_count, rules: [d], group-by: [], timespan: 1m, condition: {{gt: 1}}}}\n"
        )
    };
    let mut loaded = Loaded::default();
    let none = Placeholders::new();
    loaded.add_text("a.yml", &detection("1", "open"), &none);
    loaded.add_text("b.yml", &correlation("1", "many_opens"), &none);
    loaded.add_text("c.yml", &correlation("2", "open"), &none);
    loaded.add_text("d.yml", &correlation("4", "corr_ok"), &none);
    loaded.add_text("e.yml", &detection("4", "other"), &none);
    loaded.add_text("f.yml", &detection("5", "corr_ok"), &none);
    let got: Vec<(&str, &str, &str)> = loaded
        .problems
        .iter()
        .map(|p| (p.file.as_str(), p.construct.as_str(), p.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("b.yml", "id", "duplicate id, first defined in a.yml"),
            ("c.yml", "name", "duplicate name, first defined in a.yml"),
            ("e.yml", "id", "duplicate id, first defined in d.yml"),
            ("f.yml", "name", "duplicate name, first defined in d.yml"),
        ]
    );
    assert!(loaded.problems.iter().all(|p| !p.skipped));
    assert_eq!(loaded.rules.len(), 1);
    assert_eq!(loaded.correlations.len(), 1);

    // A rejected correlation is a problem like any other rule, named by its id.
    let mut loaded = Loaded::default();
    loaded.add_text(
        "g.yml",
        "title: g\nid: g-1\ncorrelation: {type: value_percentile}\n",
        &none,
    );
    assert_eq!(loaded.problems.len(), 1);
    assert_eq!(loaded.problems[0].rule.as_deref(), Some("g-1"));
    assert_eq!(loaded.problems[0].construct, "correlation.type");
}
