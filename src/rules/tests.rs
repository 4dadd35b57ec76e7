//! Data-driven tests of the whole engine: a detection (YAML), an event, whether the rule matches.
//! Every modifier and condition form of the Sigma appendix, with the specification's edge cases.

use std::borrow::Cow;
use std::collections::BTreeSet;

use super::sigma::{Placeholders, parse_rule};
use super::yaml::parse_documents;
use super::*;
use crate::event::Dataset;
use crate::event::Field;

/// Builds an event from `field=value` pairs (ECS names; `@timestamp` RFC 3339).
fn event(pairs: &[(&str, &str)]) -> Event<'static> {
    let mut e = Event::new(Dataset::SquidAccess);
    for &(k, v) in pairs {
        let s = || Some(Cow::Owned(v.to_owned()));
        match k {
            "dataset" => e.set_dataset(Dataset::from_name(v).expect("a dataset reconwatch makes")),
            "@timestamp" => e.timestamp = Some(v.parse().expect("test timestamp")),
            "event.original" => e.event.original = s(),
            "url.original" => e.url.original = s(),
            "url.domain" => e.url.domain = s(),
            "url.query" => e.url.query = s(),
            "url.path" => e.url.path = s(),
            "http.request.method" => e.http.request.method = s(),
            "http.request.cookie" => e.http.request.cookie = s(),
            "http.response.status_code" => e.http.response.status_code = Some(v.parse().expect("status")),
            "user_agent.original" => e.user_agent.original = s(),
            "source.ip" => e.source.ip = Some(v.parse().expect("ip")),
            "email.from.address" => e.email.from.address = s(),
            "email.reply_to.address" => e.email.reply_to.address = s(),
            "email.to.address" => e.email.to.address.push(Cow::Owned(v.to_owned())),
            "email.subject" => e.email.subject = s(),
            // The event's format records this field (a missing value was logged empty).
            "recorded" => e
                .recorded
                .insert(Field::from_name(v).expect("a field name after `recorded`")),
            other => panic!("test helper does not set {other}"),
        }
    }
    e
}

fn placeholders() -> Placeholders {
    let mut p = Placeholders::new();
    p.insert(
        "vips".into(),
        vec!["alice@parliament.example".into(), "*bob@parliament.example".into()],
    );
    p.insert("houses".into(), vec!["@senate.example".into()]);
    p
}

fn engine(category: &str, detection: &str) -> Engine {
    let text = format!("title: t\nid: t-1\nlevel: high\nlogsource:\n  category: {category}\ndetection:\n{detection}");
    let docs = parse_documents(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let rule = parse_rule(&docs[0], "test.yml", &placeholders()).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    Engine::new(vec![rule]).expect("compiles")
}

fn matches(e: &Engine, ev: &Event<'_>) -> bool {
    let mut out = Vec::new();
    e.matches(ev, &mut e.scratch(), &mut out);
    out == [0]
}

/// An event as `field=value` pairs, and whether the rule must match it.
type Case<'a> = (&'a [(&'a str, &'a str)], bool);

/// (detection, cases); `category: email` when the detection tests `email.*`, else `proxy`.
fn check(cases: &[(&str, &[Case<'_>])]) {
    for (detection, events) in cases {
        let category = if detection.contains("email.") { "email" } else { "proxy" };
        let e = engine(category, detection);
        for (pairs, want) in events.iter() {
            let mut pairs = pairs.to_vec();
            if category == "email" {
                pairs.insert(0, ("dataset", "postfix.log"));
            }
            let ev = event(&pairs);
            assert_eq!(matches(&e, &ev), *want, "\n{detection}\nevent: {pairs:?}");
        }
    }
}

const GET: &[(&str, &str)] = &[("http.request.method", "GET")];

#[test]
fn equality_case_and_wildcards() {
    check(&[
        (
            "  sel:\n    cs-method: get\n  condition: sel",
            &[(GET, true), (&[("http.request.method", "GETX")], false)],
        ),
        (
            "  sel:\n    cs-method|cased: get\n  condition: sel",
            &[(GET, false), (&[("http.request.method", "get")], true)],
        ),
        (
            "  sel:\n    c-uri: '*evil*.php'\n  condition: sel",
            &[
                (&[("url.original", "http://a/EVIL/x.php")], true),
                (&[("url.original", "http://a/evil/x.phps")], false),
            ],
        ),
        (
            "  sel:\n    c-uri: 'http://?.example/'\n  condition: sel",
            &[
                (&[("url.original", "http://a.example/")], true),
                (&[("url.original", "http://é.example/")], true),
                (&[("url.original", "http://ab.example/")], false),
            ],
        ),
        // Escaped wildcards are literal characters.
        (
            "  sel:\n    c-uri|contains: 'a\\*b'\n  condition: sel",
            &[
                (&[("url.original", "xa*bx")], true),
                (&[("url.original", "xaZZbx")], false),
            ],
        ),
        (
            "  sel:\n    c-uri|endswith: 'x\\?'\n  condition: sel",
            &[
                (&[("url.original", "/ax?")], true),
                (&[("url.original", "/axy")], false),
            ],
        ),
        // A plain backslash not before a wildcard is itself.
        (
            "  sel:\n    c-uri|contains: 'a\\b'\n  condition: sel",
            &[(&[("url.original", "a\\b")], true)],
        ),
        // Numbers compare with the field's text.
        (
            "  sel:\n    sc-status: 404\n  condition: sel",
            &[
                (&[("http.response.status_code", "404")], true),
                (&[("http.response.status_code", "4040")], false),
            ],
        ),
    ]);
}

#[test]
fn positions_lists_and_all() {
    let uri = |u: &'static str| -> Vec<(&'static str, &'static str)> { vec![("url.original", u)] };
    for (detection, u, want) in [
        ("    c-uri|contains: /track/", "http://x/track/open", true),
        ("    c-uri|startswith: http://x/", "http://x/track/open", true),
        ("    c-uri|startswith: /track", "http://x/track/open", false),
        ("    c-uri|endswith: .GIF", "http://x/p.gif", true),
        ("    c-uri|endswith: .gif", "http://x/p.gif?x", false),
        (
            "    c-uri|contains:\n      - /nope/\n      - /open",
            "http://x/track/open",
            true,
        ),
        (
            "    c-uri|contains|all:\n      - /track/\n      - /open",
            "http://x/track/open",
            true,
        ),
        (
            "    c-uri|contains|all:\n      - /track/\n      - /nope",
            "http://x/track/open",
            false,
        ),
    ] {
        let d = format!("  sel:\n{detection}\n  condition: sel");
        let e = engine("proxy", &d);
        assert_eq!(matches(&e, &event(&uri(u))), want, "{d} on {u}");
    }
}

#[test]
fn needles_inside_other_needles_all_hit() {
    // Overlapping search: `bc` sits inside `abcd`, both rules must fire.
    let docs = parse_documents(
        "title: a\nid: a\nlogsource: {category: proxy}\ndetection: {s: {c-uri|contains: abcd}, condition: s}\n---\n\
         title: b\nid: b\nlogsource: {category: proxy}\ndetection: {s: {c-uri|contains: bc}, condition: s}\n---\n\
         title: c\nid: c\nlogsource: {category: proxy}\ndetection: {s: {c-uri|endswith: cdx}, condition: s}\n",
    )
    .unwrap();
    let rules = docs
        .iter()
        .map(|d| parse_rule(d, "t", &Placeholders::new()).unwrap())
        .collect();
    let e = Engine::new(rules).unwrap();
    let mut out = Vec::new();
    e.matches(&event(&[("url.original", "xABCDX")]), &mut e.scratch(), &mut out);
    assert_eq!(out, [0, 1, 2]);
}

#[test]
fn keywords_search_the_original_line() {
    check(&[
        (
            "  keywords:\n    - 'evil.example'\n    - 'other'\n  condition: keywords",
            &[
                (&[("event.original", "1 GET http://EVIL.example/x")], true),
                (&[("event.original", "x")], false),
            ],
        ),
        (
            "  keywords:\n    '|all':\n      - 'evil'\n      - 'pixel'\n  condition: keywords",
            &[
                (&[("event.original", "evil pixel")], true),
                (&[("event.original", "evil only")], false),
            ],
        ),
    ]);
}

#[test]
fn null_empty_missing_and_exists() {
    // `-` in a user-agent column the format records; a user agent the format does not record
    // (Squid's native layout); an empty one as JSON writes it; a real one.
    let ua_dash: &[(&str, &str)] = &[("recorded", "user_agent.original"), ("http.request.method", "GET")];
    let ua_unrecorded = GET;
    let ua_empty: &[(&str, &str)] = &[("user_agent.original", ""), ("http.request.method", "GET")];
    let ua_set: &[(&str, &str)] = &[
        ("recorded", "user_agent.original"),
        ("user_agent.original", "curl/8"),
        ("http.request.method", "GET"),
    ];
    check(&[
        // `null`: the field is absent, not merely empty.
        (
            "  sel:\n    c-useragent: null\n  condition: sel",
            &[
                (ua_unrecorded, true),
                (ua_dash, false),
                (ua_empty, false),
                (ua_set, false),
            ],
        ),
        // `''`: the field is there and empty (a missing value of a recorded field is one).
        (
            "  sel:\n    c-useragent: ''\n  condition: sel",
            &[
                (ua_unrecorded, false),
                (ua_dash, true),
                (ua_empty, true),
                (ua_set, false),
            ],
        ),
        // `exists` asks whether the field is there, "be it empty or null" (the modifiers appendix).
        (
            "  sel:\n    c-useragent|exists: true\n  condition: sel",
            &[
                (ua_unrecorded, false),
                (ua_dash, true),
                (ua_empty, true),
                (ua_set, true),
            ],
        ),
        (
            "  sel:\n    c-useragent|exists: false\n  condition: sel",
            &[(ua_unrecorded, true), (ua_dash, false), (ua_set, false)],
        ),
        // `not null` is a negated selection.
        (
            "  sel:\n    cs-method: GET\n  filter:\n    c-useragent: null\n  condition: sel and not filter",
            &[(ua_unrecorded, false), (ua_dash, true), (ua_set, true)],
        ),
    ]);
}

#[test]
fn regex_flags() {
    let u = |s: &'static str| -> Vec<(&'static str, &'static str)> { vec![("url.original", s)] };
    for (detection, text, want) in [
        (
            "c-uri|re: '/[a-f0-9]{32}\\.gif$'",
            "http://x/0123456789abcdef0123456789abcdef.gif",
            true,
        ),
        // Case-sensitive by default...
        (
            "c-uri|re: '/[a-f0-9]{32}\\.gif$'",
            "http://x/0123456789ABCDEF0123456789ABCDEF.gif",
            false,
        ),
        // ...unless `i`.
        (
            "c-uri|re|i: '/[a-f0-9]{32}\\.gif$'",
            "http://x/0123456789ABCDEF0123456789ABCDEF.gif",
            true,
        ),
        ("c-uri|re: '^b$'", "a\nb", false),
        ("c-uri|re|m: '^b$'", "a\nb", true),
        ("c-uri|re: 'a.b'", "a\nb", false),
        ("c-uri|re|s: 'a.b'", "a\nb", true),
    ] {
        let d = format!("  sel:\n    {detection}\n  condition: sel");
        assert_eq!(matches(&engine("proxy", &d), &event(&u(text))), want, "{d} on {text:?}");
    }
}

#[test]
fn cidr_v4_and_v6() {
    check(&[
        (
            "  sel:\n    src_ip|cidr:\n      - 10.0.0.0/8\n      - 2001:db8::/32\n  condition: sel",
            &[
                (&[("source.ip", "10.1.2.3")], true),
                (&[("source.ip", "11.1.2.3")], false),
                (&[("source.ip", "2001:db8:1::7")], true),
                (&[("source.ip", "2001:db9::1")], false),
                (&[("source.ip", "::ffff:10.0.0.1")], true),
                (&[("http.request.method", "GET")], false),
            ],
        ),
        (
            "  sel:\n    src_ip|cidr: 0.0.0.0/0\n  condition: sel",
            &[(&[("source.ip", "203.0.113.9")], true)],
        ),
    ]);
}

#[test]
fn encodings() {
    // base64("admin@parl") = YWRtaW5AcGFybA==
    check(&[
        (
            "  sel:\n    c-uri|base64|contains: 'admin@parl'\n  condition: sel",
            &[
                (&[("url.original", "http://t/?u=YWRtaW5AcGFybA==")], true),
                (&[("url.original", "http://t/?u=ywrtaw5acgfybA==")], false),
            ],
        ),
        (
            "  sel:\n    c-uri|base64offset|contains: '/bin/bash'\n  condition: sel",
            &[
                (&[("url.original", "x=L2Jpbi9iYXNo")], true),
                (&[("url.original", "x=IC9iaW4vYmFzaA")], true),
                (&[("url.original", "x=ICAvYmluL2Jhc2g")], true),
                (&[("url.original", "x=/bin/bash")], false),
            ],
        ),
        // utf16le("ab") = 61 00 62 00, base64 = YQBiAA==
        (
            "  sel:\n    c-uri|wide|base64|contains: 'ab'\n  condition: sel",
            &[(&[("url.original", "?q=YQBiAA==")], true)],
        ),
        (
            "  sel:\n    c-uri|utf16le|base64offset|contains: 'ab'\n  condition: sel",
            &[(&[("url.original", "?q=YQBiAA")], true)],
        ),
        // UTF-16 alone keeps wildcards: only the literal parts are encoded.
        (
            "  sel:\n    c-uri|wide: 'a*z'\n  condition: sel",
            &[
                (&[("url.original", "a\0b\0z\0")], true),
                (&[("url.original", "a\0b\0y\0")], false),
            ],
        ),
        // A two-byte value leaves an empty base64offset variant, which must not match everything.
        (
            "  sel:\n    c-uri|base64offset|contains: 'ab'\n  condition: sel",
            &[(&[("url.original", "YWI")], true), (&[("url.original", "zzzz")], false)],
        ),
        // utf16 adds the byte order mark: FF FE 61 00 62 00 = //5hAGIA
        (
            "  sel:\n    c-uri|utf16|base64|contains: 'ab'\n  condition: sel",
            &[
                (&[("url.original", "x//5hAGIAx")], true),
                (&[("url.original", "YQBiAA")], false),
            ],
        ),
        // utf16be("ab") = 00 61 00 62 = AGEAYg==
        (
            "  sel:\n    c-uri|utf16be|base64|contains: 'ab'\n  condition: sel",
            &[(&[("url.original", "AGEAYg==")], true)],
        ),
    ]);
}

#[test]
fn windash_and_expand() {
    check(&[
        (
            "  sel:\n    c-uri|windash|contains: ' -enc '\n  condition: sel",
            &[
                (&[("url.original", "x -enc y")], true),
                (&[("url.original", "x /enc y")], true),
                (&[("url.original", "x –enc y")], true),
                (&[("url.original", "x enc y")], false),
            ],
        ),
        (
            "  sel:\n    email.to.address|expand: '%vips%'\n  condition: sel",
            &[
                (
                    &[
                        ("email.to.address", "other@x"),
                        ("email.to.address", "ALICE@parliament.example"),
                    ],
                    true,
                ),
                (&[("email.to.address", "*bob@parliament.example")], true),
                // Placeholder values are literal: their `*` is not a wildcard.
                (&[("email.to.address", "xbob@parliament.example")], false),
                (&[("email.to.address", "carol@parliament.example")], false),
            ],
        ),
        // A watchlist's `@domain` entry: the domain's addresses and its subdomains'.
        (
            "  sel:\n    email.to.address|expand: '%houses%'\n  condition: sel",
            &[
                (&[("email.to.address", "Ann@SENATE.example")], true),
                (&[("email.to.address", "ann@staff.senate.example")], true),
                (&[("email.to.address", "ann@notsenate.example")], false),
                (&[("email.to.address", "senate.example")], false),
            ],
        ),
    ]);
}

#[test]
fn numbers_neq_and_fieldref() {
    let s = |code: &'static str| -> Vec<(&'static str, &'static str)> { vec![("http.response.status_code", code)] };
    for (detection, code, want) in [
        ("sc-status|gt: 399", "400", true),
        ("sc-status|gt: 400", "400", false),
        ("sc-status|gte: 400", "400", true),
        ("sc-status|lt: 300", "200", true),
        ("sc-status|lte: 199", "200", false),
        ("sc-status|neq: 200", "200", false),
        ("sc-status|neq: 200", "404", true),
        ("sc-status|neq:\n      - 200\n      - 404", "404", false),
    ] {
        let d = format!("  sel:\n    {detection}\n  condition: sel");
        assert_eq!(matches(&engine("proxy", &d), &event(&s(code))), want, "{d} on {code}");
    }
    check(&[
        (
            "  sel:\n    email.reply_to.address|fieldref|neq: email.from.address\n    email.reply_to.address|exists: true\n  condition: sel",
            &[
                (
                    &[
                        ("email.from.address", "a@news.example"),
                        ("email.reply_to.address", "A@NEWS.example"),
                    ],
                    false,
                ),
                (
                    &[
                        ("email.from.address", "a@news.example"),
                        ("email.reply_to.address", "x@free.example"),
                    ],
                    true,
                ),
                (&[("email.from.address", "a@news.example")], false),
            ],
        ),
        (
            "  sel:\n    email.subject|fieldref|contains: email.from.address\n  condition: sel",
            &[(
                &[("email.from.address", "a@b"), ("email.subject", "hi a@b there")],
                true,
            )],
        ),
    ]);
}

#[test]
fn time_parts() {
    check(&[
        (
            "  sel:\n    '@timestamp|hour|gte': 22\n  condition: sel",
            &[
                (&[("@timestamp", "2024-03-05T23:10:00Z")], true),
                (&[("@timestamp", "2024-03-05T21:10:00Z")], false),
            ],
        ),
        (
            "  sel:\n    '@timestamp|week': 10\n    '@timestamp|year': 2024\n  condition: sel",
            &[
                (&[("@timestamp", "2024-03-05T23:10:00Z")], true),
                (&[("@timestamp", "2024-03-15T23:10:00Z")], false),
            ],
        ),
    ]);
}

#[test]
fn conditions() {
    let d = "  sel_a:\n    cs-method: GET\n  sel_b:\n    cs-host: a.example\n  filter_x:\n    c-useragent|contains: bot\n  _hidden:\n    url.query: q\n";
    let ev = |m: &'static str, h: &'static str, ua: &'static str| -> Vec<(&'static str, &'static str)> {
        vec![
            ("http.request.method", m),
            ("url.domain", h),
            ("user_agent.original", ua),
        ]
    };
    for (cond, m, h, ua, want) in [
        ("sel_a and sel_b", "GET", "a.example", "x", true),
        ("sel_a and sel_b", "GET", "b.example", "x", false),
        ("sel_a or sel_b", "POST", "a.example", "x", true),
        ("sel_a and not filter_x", "GET", "z", "googlebot", false),
        ("sel_a and not filter_x", "GET", "z", "firefox", true),
        ("not filter_x", "POST", "z", "firefox", true),
        ("sel_a or sel_b and filter_x", "GET", "z", "x", true),
        ("(sel_a or sel_b) and filter_x", "GET", "z", "x", false),
        ("1 of sel_*", "POST", "a.example", "x", true),
        ("all of sel_*", "POST", "a.example", "x", false),
        ("all of sel_*", "GET", "a.example", "x", true),
        ("1 of sel_* and not 1 of filter*", "GET", "q", "bot", false),
        ("1 of them", "PUT", "q", "bot", true),
        // `them` leaves out identifiers starting with `_`.
        ("all of them", "GET", "a.example", "bot", true),
        ("NOT sel_a AND sel_b", "POST", "a.example", "x", true),
    ] {
        let text = format!("{d}  condition: {cond}");
        assert_eq!(
            matches(&engine("proxy", &text), &event(&ev(m, h, ua))),
            want,
            "{cond} on {m} {h} {ua}"
        );
    }
    // A list of conditions is their OR.
    let e = engine(
        "proxy",
        &format!("{d}  condition:\n    - sel_a and sel_b\n    - filter_x"),
    );
    assert!(matches(&e, &event(&ev("POST", "z", "bot"))));
}

#[test]
fn rules_only_see_their_log_source() {
    let e = engine("proxy", "  sel:\n    cs-method: GET\n  condition: sel");
    let mut ev = event(GET);
    assert!(matches(&e, &ev));
    ev.set_dataset(Dataset::PostfixLog);
    assert!(!matches(&e, &ev), "a proxy rule must not run on mail events");
    let e = engine(
        "email",
        "  sel:\n    email.subject|contains: interview\n  condition: sel",
    );
    let mut ev = event(&[("email.subject", "Interview request")]);
    assert!(!matches(&e, &ev), "an email rule must not run on proxy events");
    ev.set_dataset(Dataset::ExchangeMessageTracking);
    assert!(matches(&e, &ev));
}

#[test]
fn explain_names_selection_field_and_value() {
    let e = engine(
        "proxy",
        "  sel:\n    c-uri|contains:\n      - /nope\n      - /open\n    cs-method: GET\n  filter:\n    c-useragent: bot\n  condition: sel and not filter",
    );
    let ev = event(&[("url.original", "http://x/open"), ("http.request.method", "GET")]);
    let mut s = e.scratch();
    let mut out = Vec::new();
    e.matches(&ev, &mut s, &mut out);
    assert_eq!(out, [0]);
    let hits = e.explain(0, &ev, &mut s);
    assert_eq!(
        hits,
        [
            Hit {
                selection: "sel".into(),
                key: "c-uri|contains".into(),
                field: "url.original",
                value: "/open".into()
            },
            Hit {
                selection: "sel".into(),
                key: "cs-method".into(),
                field: "http.request.method",
                value: "GET".into()
            },
        ]
    );
}

#[test]
fn candidate_selection_never_misses_a_match() {
    // Rules of every condition shape; on every event, matching through candidates must give
    // what evaluating every rule gives.
    let detections = [
        "{s: {c-uri|contains: /track/}, condition: s}",
        "{s: {c-uri|contains: /track/, cs-method: GET}, condition: s}",
        "{s: {c-uri|contains: /track/}, f: {c-useragent|contains: bot}, condition: s and not f}",
        "{f: {c-useragent|contains: bot}, condition: not f}",
        "{s_a: {cs-method: POST}, s_b: {cs-host|endswith: .example}, condition: all of s_*}",
        "{s_a: {cs-method: POST}, s_b: {cs-host|endswith: .example}, condition: 1 of s_*}",
        "{s: {c-uri|contains|all: [id=, /open]}, condition: s}",
        "{s: [{cs-method: PUT}, {c-uri|endswith: .gif}], condition: s}",
        "{s: {c-uri|re: '[0-9]{6}'}, t: {sc-status|gte: 400}, condition: s or t}",
        "{s: {c-uri|contains: a}, t: {c-useragent: null}, condition: s and t}",
        "{s: {sc-status|neq: 200}, condition: s}",
        "{s: {c-uri|contains: /x/}, t: {cs-method: GET}, u: {c-useragent|contains: bot}, condition: (s or t) and not u}",
    ];
    let text: String = detections
        .iter()
        .enumerate()
        .map(|(i, d)| format!("title: r{i}\nid: r{i}\nlogsource: {{category: proxy}}\ndetection: {d}\n---\n"))
        .collect();
    let rules = parse_documents(&text)
        .unwrap()
        .iter()
        .map(|d| parse_rule(d, "t", &Placeholders::new()).unwrap())
        .collect();
    let e = Engine::new(rules).unwrap();
    let uris = [
        "http://a.example/track/open?id=1",
        "http://b/x/123456.gif",
        "http://c/",
        "http://a/open",
    ];
    let methods = ["GET", "POST", "PUT"];
    let agents = ["", "googlebot", "firefox"];
    let statuses = ["200", "404"];
    let mut seen = BTreeSet::new();
    let mut scratch = e.scratch();
    for u in uris {
        for m in methods {
            for a in agents {
                for st in statuses {
                    let mut pairs = vec![
                        ("url.original", u),
                        ("http.request.method", m),
                        ("http.response.status_code", st),
                    ];
                    pairs.push(("url.domain", u.split('/').nth(2).unwrap()));
                    if !a.is_empty() {
                        pairs.push(("user_agent.original", a));
                    }
                    let ev = event(&pairs);
                    let (mut fast, mut all) = (Vec::new(), Vec::new());
                    e.matches(&ev, &mut scratch, &mut fast);
                    e.matches_exhaustive(&ev, &mut scratch, &mut all);
                    assert_eq!(fast, all, "{pairs:?}");
                    seen.extend(fast);
                }
            }
        }
    }
    // The events exercise every rule.
    assert_eq!(seen.len(), detections.len(), "{seen:?}");
}

#[test]
fn an_ioc_list_of_200_000_values_loads_and_matches() {
    // Step 5 item 7: such a rule took 1.4 GB to load (a DFA built only to be thrown away).
    // Correctness only; `cargo bench --bench rules -- rules_load` measures loading.
    let mut text = String::from("title: iocs\nid: iocs\nlogsource: {category: proxy}\ndetection:\n");
    let mut list = |selection: &str, key: &str, n: usize, value: &dyn Fn(usize) -> String| {
        text.push_str(&format!("  {selection}:\n    {key}:\n"));
        for i in 0..n {
            text.push_str(&format!("      - '{}'\n", value(i)));
        }
    };
    list("url", "c-uri|contains", 140_000, &|i| {
        format!("h{i}.bad.example/p{i}/gate.php")
    });
    list("host", "cs-host", 40_000, &|i| format!("{i}.c2.example"));
    list("path", "c-uri|endswith", 19_998, &|i| format!("/drop/{i}/x.exe"));
    list("re", "c-uri|re", 2, &|i| format!("^https?://[0-9]+\\.re{i}\\.example/"));
    text.push_str("  condition: url or host or path or re\n");
    // A needle inside one of the list's: both rules must match.
    text.push_str("---\ntitle: inner\nid: inner\nlogsource: {category: proxy}\ndetection:\n  s:\n    c-uri|contains: 'p123456/gate'\n  condition: s\n");
    let rules: Vec<Rule> = parse_documents(&text)
        .unwrap()
        .iter()
        .map(|d| parse_rule(d, "iocs.yml", &Placeholders::new()).unwrap())
        .collect();
    let values: usize = rules[0]
        .detection
        .selections
        .iter()
        .map(|s| s.groups[0][0].values.len())
        .sum();
    assert_eq!(values, 200_000);
    let e = Engine::new(rules).unwrap();
    let mut scratch = e.scratch();
    for (pairs, want) in [
        (
            &[("url.original", "http://h0.bad.example/p0/gate.php?x=1")][..],
            &[0][..],
        ),
        (
            &[("url.original", "http://H123456.BAD.example/P123456/Gate.php")],
            &[0, 1],
        ),
        (&[("url.original", "http://h139999.bad.example/p139999/gate.php")], &[0]),
        (&[("url.original", "http://h140000.bad.example/p140000/gate.php")], &[]),
        (&[("url.original", "http://h7.bad.example/p8/gate.php")], &[]),
        (&[("url.domain", "39999.c2.example")], &[0]),
        (&[("url.domain", "42.C2.Example")], &[0]),
        (&[("url.domain", "x42.c2.example")], &[]),
        (&[("url.domain", "40000.c2.example")], &[]),
        (&[("url.original", "http://x/drop/19997/x.exe")], &[0]),
        (&[("url.original", "http://x/drop/19997/x.exe?")], &[]),
        (&[("url.original", "http://12.re1.example/")], &[0]),
        (&[("url.original", "http://12.re2.example/")], &[]),
    ] {
        let (mut got, mut all) = (Vec::new(), Vec::new());
        let ev = event(pairs);
        e.matches(&ev, &mut scratch, &mut got);
        assert_eq!(got, want, "{pairs:?}");
        e.matches_exhaustive(&ev, &mut scratch, &mut all);
        assert_eq!(all, want, "{pairs:?}");
    }
}

/// Computes fields as a fake enrichment would, recording which stages were asked for.
struct Recording {
    asked: Vec<crate::event::EnrichStage>,
    high_risk: bool,
}

impl crate::event::Compute for Recording {
    fn compute(&mut self, event: &mut Event<'_>, stage: crate::event::EnrichStage) {
        use crate::event::EnrichStage;
        if self.asked.contains(&stage) {
            return;
        }
        self.asked.push(stage);
        match stage {
            EnrichStage::Person => event.reconwatch.person.high_risk = Some(self.high_risk),
            EnrichStage::Url => event.reconwatch.url.has_token = Some(true),
            _ => {}
        }
    }
}

/// A rule's tests run cheapest first (the log's own fields, then computed fields by stage), and
/// a computed field is computed only when a test reads it: an event that fails the person test
/// costs no URL analysis; one that fails the method test costs no enrichment at all. The
/// answer is the one full enrichment gives.
#[test]
fn computed_fields_are_computed_only_when_a_test_reads_them() {
    use crate::event::EnrichStage;
    let e = engine(
        "proxy",
        "  sel:\n    reconwatch.url.has_token: true\n    reconwatch.person.high_risk: true\n    http.request.method: GET\n  condition: sel",
    );
    let run = |method: &str, high_risk: bool| {
        let mut ev = event(&[("http.request.method", method)]);
        let mut rec = Recording {
            asked: Vec::new(),
            high_risk,
        };
        let mut out = Vec::new();
        e.matches_computing(&mut ev, &mut rec, &mut e.scratch(), &mut out);
        (out == [0], rec.asked)
    };
    assert_eq!(run("POST", true), (false, vec![]));
    assert_eq!(run("GET", false), (false, vec![EnrichStage::Person]));
    assert_eq!(run("GET", true), (true, vec![EnrichStage::Person, EnrichStage::Url]));
    // With every field computed beforehand, the same answers.
    for (method, high_risk, want) in [("POST", true, false), ("GET", false, false), ("GET", true, true)] {
        let mut ev = event(&[("http.request.method", method)]);
        ev.reconwatch.person.high_risk = Some(high_risk);
        ev.reconwatch.url.has_token = Some(true);
        assert_eq!(matches(&e, &ev), want, "{method} {high_risk}");
    }
}

/// Needles at the start, at the end and anywhere of one field are searched by three automata
/// (anchored at the start, anchored on the reversed text, unanchored): needles inside others and
/// sharing ends all count, in either case.
#[test]
fn anchored_needles_of_one_field_all_count() {
    let e = engine(
        "proxy",
        "  a:\n    url.domain|endswith: '.co.uk'\n  b:\n    url.domain|endswith: '.uk'\n  c:\n    url.domain|startswith: 'www.'\n  d:\n    url.domain: 'www.bbc.co.uk'\n  e:\n    url.domain|contains: 'bbc'\n  condition: a and b and c and d and e",
    );
    assert!(matches(&e, &event(&[("url.domain", "WWW.BBC.CO.UK")])));
    for miss in ["www.bbc.co.uk.example", "bbc.co.uk", "www.bbc.co.ukx", "www.bbc.org.uk"] {
        assert!(!matches(&e, &event(&[("url.domain", miss)])), "{miss}");
    }
}

/// Gap: an anchored search still reports, at the end of a long needle, a shorter needle that is
/// its suffix (the automaton's state carries the matches of its suffixes), so SigmaHQ's
/// "Malware User Agent" (`c-useragent: 'Safari/537.36'`, an exact value) alerted on every
/// Chrome user agent once another rule listed a whole Chrome user agent. Each anchored hit must
/// start at the text's start.
#[test]
fn an_exact_value_that_ends_another_does_not_match_inside_it() {
    let ua = "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 Chrome/36.0 Safari/537.36";
    let e = engine(
        "proxy",
        &format!(
            "  short:\n    user_agent.original: 'Safari/537.36'\n  long:\n    user_agent.original: '{ua}'\n  \
             starts:\n    user_agent.original|startswith: 'AppleWebKit'\n  ends:\n    \
             user_agent.original|endswith: 'Mozilla/5.0'\n  condition: short or starts or ends or (long and not long)"
        ),
    );
    assert!(!matches(&e, &event(&[("user_agent.original", ua)])));
    assert!(matches(&e, &event(&[("user_agent.original", "Safari/537.36")])));
}
