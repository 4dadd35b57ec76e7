//! Rule documents the loader must reject (or skip), each with the construct and reason it names.

use super::*;
use crate::rules::yaml::parse_documents;

fn load(detection: &str, logsource: &str) -> Result<Rule> {
    let text = format!("title: t\nid: r-1\nlogsource:\n{logsource}\ndetection:\n{detection}");
    let docs = parse_documents(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    parse_rule(&docs[0], "r.yml", &Placeholders::new())
}

#[test]
fn rejections_name_the_construct_and_reason() {
    let proxy = "  category: proxy";
    for (detection, construct, reason) in [
        (
            "  sel:\n    c-uri|foo: x\n  condition: sel",
            "c-uri|foo (|foo)",
            "unknown modifier",
        ),
        (
            "  sel:\n    c-uri|contains|all: x\n  condition: sel",
            "|all",
            "more than one value",
        ),
        (
            "  sel:\n    c-uri:\n      - ''\n      - null\n  condition: sel",
            "c-uri",
            "null cannot be part of a list",
        ),
        (
            "  sel:\n    c-uri|base64offset: x\n  condition: sel",
            "|base64offset",
            "|contains",
        ),
        (
            "  sel:\n    c-uri|re: '(?=x)y'\n  condition: sel",
            "|re",
            "not supported",
        ),
        (
            "  sel:\n    c-uri|re: '(unclosed'\n  condition: sel",
            "|re",
            "not supported",
        ),
        (
            "  sel:\n    Image: x.exe\n  condition: sel",
            "Image",
            "unknown field `Image`",
        ),
        (
            "  sel:\n    c-uri: x\n  condition: sel and other",
            "condition `sel and other`",
            "other",
        ),
        (
            "  sel:\n    c-uri: x\n  condition: sel | count() > 5",
            "condition",
            "aggregations",
        ),
        (
            "  sel:\n    src_ip|cidr: 10.0.0.0/33\n  condition: sel",
            "|cidr",
            "not an IPv4 or IPv6 network",
        ),
        (
            "  sel:\n    email.to.address|expand: '%vips%'\n  condition: sel",
            "|expand",
            "%vips% has no values",
        ),
        ("  sel:\n    c-uri: x", "condition", "no condition"),
        (
            "  sel:\n    c-uri|exists: maybe\n  condition: sel",
            "|exists",
            "true or false",
        ),
        (
            "  sel:\n    sc-status|gt: abc\n  condition: sel",
            "sc-status|gt",
            "need a number",
        ),
        ("  sel:\n    c-uri|i: x\n  condition: sel", "|i", "sub-modifier of |re"),
        (
            "  sel:\n    c-uri|contains|startswith: x\n  condition: sel",
            "|startswith",
            "cannot be combined with |contains",
        ),
        (
            "  sel:\n    c-uri|base64|contains: 'a*b'\n  condition: sel",
            "|base64",
            "wildcards",
        ),
        (
            "  sel:\n    c-uri|hour: 3\n  condition: sel",
            "c-uri|hour",
            "@timestamp only",
        ),
        (
            "  sel:\n    c-uri: x\n  timeframe: 5m\n  condition: sel",
            "timeframe",
            "correlation rule",
        ),
        (
            "  sel:\n    c-uri|re|contains: x\n  condition: sel",
            "|re",
            "cannot be combined",
        ),
        ("  sel: []\n  condition: sel", "detection.sel", "empty list"),
        (
            "  sel:\n    - a\n    - c-uri: x\n  condition: sel",
            "list",
            "mixes maps and keywords",
        ),
    ] {
        let r = load(detection, proxy).expect_err(detection);
        assert!(!r.unsupported_logsource, "{detection}");
        assert!(
            r.construct.contains(construct),
            "{detection}\nconstruct: {}",
            r.construct
        );
        assert!(r.reason.contains(reason), "{detection}\nreason: {}", r.reason);
    }
}

#[test]
fn other_documents_and_log_sources() {
    let docs = parse_documents("title: c\ncorrelation:\n  type: event_count\n").unwrap();
    // The loader routes correlation documents to the correlation parser; this one refuses them.
    let r = parse_rule(&docs[0], "c.yml", &Placeholders::new()).unwrap_err();
    assert_eq!(
        (r.construct.as_str(), r.reason.as_str()),
        ("correlation", "a correlation rule")
    );

    let r = load(
        "  sel:\n    c-uri: x\n  condition: sel",
        "  category: proxy\n  produkt: squid",
    )
    .expect_err("typo");
    assert_eq!(r.construct, "logsource.produkt", "{r:?}");
    assert!(!r.unsupported_logsource);

    // A Windows rule is skipped for its log source, not rejected for its Windows fields.
    let r = load(
        "  sel:\n    Image: x\n  condition: sel",
        "  product: windows\n  category: process_creation",
    )
    .expect_err("windows");
    assert!(r.unsupported_logsource, "{r:?}");
    assert!(r.reason.contains("process_creation"), "{r:?}");
}

#[test]
fn a_valid_rule_keeps_its_metadata() {
    let text = "title: Pixel\nid: 1234\nname: pixel_open\nstatus: test\nlevel: high\ndescription: d\ntags: [attack.t1598.003]\n\
                references: [https://x]\nfalsepositives: [newsletters]\nauthor: me\ncustom-field: kept out\n\
                logsource: {category: proxy}\ndetection: {sel: {c-uri|contains: /open}, condition: sel}\n\
                reconwatch-tests:\n  format: squid\n  match: ['a']\n  no-match: ['b']\n";
    let docs = parse_documents(text).unwrap();
    let r = parse_rule(&docs[0], "p.yml", &Placeholders::new()).unwrap();
    assert_eq!(r.meta.id, "1234");
    assert_eq!(r.meta.name.as_deref(), Some("pixel_open"));
    assert_eq!(r.meta.level, Level::High);
    assert_eq!(r.meta.tags, ["attack.t1598.003"]);
    assert_eq!(r.meta.falsepositives, ["newsletters"]);
    assert_eq!(
        r.tests,
        Some(RuleTests {
            format: Some("squid".into()),
            matching: vec!["a".into()],
            not_matching: vec!["b".into()],
        })
    );
}
