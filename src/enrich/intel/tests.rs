use std::net::IpAddr;

use super::*;

const ZEEK: &str = "\
#separator \\x09
# a comment
#fields\tmeta.desc\tindicator_type\tmeta.url\tindicator\tmeta.do_notice\tmeta.source
Phishing kit\tIntel::DOMAIN\thttps://feed.example/1\tEvil.Example.\tT\tfeedA
-\tIntel::URL\t-\thttp://Bad.Example/Login.php?u=1#frag\tF\tfeedA

(empty)\tIntel::EMAIL\t-\tCEO@Spoof.Example\t-\tfeedA
C2\tIntel::ADDR\t-\t192.0.2.7\t-\tfeedA
Cloud range\tIntel::SUBNET\t-\t2001:db8:1::/48\t-\tfeedA
v4 range\tIntel::SUBNET\t-\t198.51.100.77/24\t-\tfeedA
-\tIntel::FILE_HASH\t-\td41d8cd98f00b204e9800998ecf8427e\t-\tfeedA
-\tIntel::SOFTWARE\t-\tEvilBrowser\t-\tfeedA
-\tIntel::FILE_HASH\t-\tffff\t-\tfeedA
";

fn zeek_set(domain_match: DomainMatch) -> IntelSet {
    let mut b = IntelSetBuilder::new(domain_match);
    b.add_zeek("a.intel", ZEEK.as_bytes()).unwrap();
    b.add_plain(
        "b.txt",
        b"# second feed\nevil.example\nother.example  # trailing comment\n10.0.0.0/8\n",
        "feedB",
        None,
    )
    .unwrap();
    b.build()
}

/// Indicators with how they matched.
type Found = Vec<(String, MatchKind)>;

/// The indicators (with how they matched) an observed value finds.
fn found(set: &IntelSet, o: Observed<'_>) -> Found {
    let mut out = Vec::new();
    set.lookup(o, &mut out);
    out.iter().map(|m| (m.indicator().to_owned(), m.how)).collect()
}

#[test]
fn zeek_file_reordered_columns_dash_comments_unsupported() {
    let mut b = IntelSetBuilder::new(DomainMatch::Parents);
    let stats = b.add_zeek("a.intel", ZEEK.as_bytes()).unwrap();
    assert_eq!(stats.format, "zeek");
    assert_eq!(stats.lines, 13);
    assert_eq!(stats.loaded, [1, 1, 1, 1, 2]);
    assert_eq!(stats.duplicates, 0);
    let unsupported: Vec<_> = stats.unsupported.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(unsupported, [("Intel::FILE_HASH", 2), ("Intel::SOFTWARE", 1)]);
    let set = b.build();
    assert_eq!(set.len(), 6);
    assert_eq!(set.count(IndicatorType::Subnet), 2);

    let mut out = Vec::new();
    set.lookup_domain("evil.example", &mut out);
    let metas: Vec<_> = out[0].sources().collect();
    assert_eq!(
        metas,
        [Meta {
            source: "feedA",
            desc: Some("Phishing kit"),
            url: Some("https://feed.example/1"),
        }]
    );
    out.clear();
    set.lookup_email("ceo@spoof.example", &mut out);
    let metas: Vec<_> = out[0].sources().collect();
    assert_eq!(metas[0].desc, None, "`(empty)` is unset");
    // Stored forms: lowercased, normalised.
    out.clear();
    set.lookup_url("bad.example/login.php?u=1", &mut out);
    assert_eq!(out[0].indicator(), "bad.example/login.php?u=1");
    out.clear();
    set.lookup_ip("198.51.100.1".parse().unwrap(), &mut out);
    assert_eq!(out[0].indicator(), "198.51.100.0/24", "host bits masked");
}

#[test]
fn zeek_errors_name_file_and_line() {
    let h = "#fields\tindicator\tindicator_type\tmeta.source\n";
    let cases: &[(&str, usize, &str)] = &[
        ("1.2.3.4\tIntel::ADDR\tx\n", 1, "before the `#fields` header"),
        ("#fields indicator indicator_type meta.source\n", 1, "tabs, not spaces"),
        ("#fields\tindicator\tmeta.source\n", 1, "no `indicator_type` column"),
        ("#fields\tindicator\tindicator\n", 1, "appears twice"),
        (
            &format!("{h}1.2.3.4\tIntel::ADDR\n"),
            2,
            "expected 3 tab-separated fields as in `#fields`, found 2",
        ),
        (&format!("{h}1.2.3.4 Intel::ADDR src\n"), 2, "tabs, not spaces"),
        (&format!("{h}#c\n-\tIntel::ADDR\tsrc\n"), 3, "indicator is empty"),
        (&format!("{h}1.2.3.4\t-\tsrc\n"), 2, "indicator_type is empty"),
        (&format!("{h}1.2.3.4\tADDR\tsrc\n"), 2, "unknown indicator_type `ADDR`"),
        (&format!("{h}1.2.3.4\tIntel::ADDR\t-\n"), 2, "meta.source is empty"),
        (&format!("{h}1.2.3.400\tIntel::ADDR\tsrc\n"), 2, "not an IP address"),
        (&format!("{h}10.0.0.0/33\tIntel::SUBNET\tsrc\n"), 2, "not 0..=32"),
        (&format!("{h}10.0.0.0\tIntel::SUBNET\tsrc\n"), 2, "no `/prefix-length`"),
        (&format!("{h}*.evil.example\tIntel::DOMAIN\tsrc\n"), 2, "wildcard"),
        (
            &format!("{h}evil..example\tIntel::DOMAIN\tsrc\n"),
            2,
            "not a domain name",
        ),
        (
            &format!("{h}ceo.example\tIntel::EMAIL\tsrc\n"),
            2,
            "not an e-mail address",
        ),
        (&format!("{h}http:///path\tIntel::URL\tsrc\n"), 2, "has no host"),
    ];
    for (text, line, reason) in cases {
        let mut b = IntelSetBuilder::new(DomainMatch::Parents);
        let err = b.add_zeek("feed.intel", text.as_bytes()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("feed.intel:{line}: ")) && msg.contains(reason),
            "{text:?}: got {msg:?}, want line {line} and {reason:?}"
        );
        assert!(b.build().is_empty(), "{text:?}: a failed file adds nothing");
    }
    let mut text = format!("{h}ok.example\tIntel::DOMAIN\tsrc\r\n").into_bytes();
    text.extend_from_slice(b"\xff\n");
    let err = IntelSetBuilder::new(DomainMatch::Parents)
        .add_zeek("f", &text)
        .unwrap_err();
    assert_eq!(err.to_string(), "f:3: the line is not valid UTF-8");
}

#[test]
fn plain_lists_infer_or_take_the_type() {
    let cases: &[(&str, Option<IndicatorType>, Result<IndicatorType, &str>)] = &[
        ("evil.example", None, Ok(IndicatorType::Domain)),
        ("192.0.2.1", None, Ok(IndicatorType::Addr)),
        ("2001:db8::1", None, Ok(IndicatorType::Addr)),
        ("192.0.2.0/24", None, Ok(IndicatorType::Subnet)),
        ("2001:db8::/32", None, Ok(IndicatorType::Subnet)),
        ("a@evil.example", None, Ok(IndicatorType::Email)),
        ("evil.example/x", None, Ok(IndicatorType::Url)),
        ("https://evil.example", None, Ok(IndicatorType::Url)),
        ("evil.example?q", None, Ok(IndicatorType::Url)),
        ("evil.example", Some(IndicatorType::Url), Ok(IndicatorType::Url)),
        ("not a domain!", None, Err(":1: unexpected text")),
        (
            "bad!name",
            None,
            Err(":1: `bad!name` is not an IP address, CIDR subnet"),
        ),
        (
            "evil.example",
            Some(IndicatorType::Addr),
            Err(":1: `evil.example` is not an IP"),
        ),
        ("192.0.2.0/99", None, Err("prefix length `99`")),
    ];
    for (line, given, want) in cases {
        let mut b = IntelSetBuilder::new(DomainMatch::Parents);
        let text = format!("# header\n\n{line}\n");
        let got = b.add_plain("l.txt", text.as_bytes(), "src", *given);
        match (got, want) {
            (Ok(stats), Ok(t)) => {
                assert_eq!(stats.loaded_of(*t), 1, "{line}");
                assert_eq!(stats.lines, 3);
            }
            (Err(e), Err(reason)) => {
                let msg = e.to_string();
                let reason = reason.replace(":1:", "l.txt:3:");
                assert!(msg.contains(&reason), "{line}: got {msg:?}, want {reason:?}");
            }
            (got, want) => panic!("{line}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn domains_exact_and_parents_ignore_case() {
    let parents = zeek_set(DomainMatch::Parents);
    let exact = zeek_set(DomainMatch::Exact);
    let e = |s: &str| (s.to_owned(), MatchKind::Exact);
    let p = |s: &str| (s.to_owned(), MatchKind::ParentDomain);
    let cases: &[(&str, Found, Found)] = &[
        ("evil.example", vec![e("evil.example")], vec![e("evil.example")]),
        ("EVIL.Example.", vec![e("evil.example")], vec![e("evil.example")]),
        ("a.b.evil.example", vec![p("evil.example")], vec![]),
        ("x.other.example", vec![p("other.example")], vec![]),
        ("notevil.example", vec![], vec![]),
        ("evil.example.com", vec![], vec![]),
        ("example", vec![], vec![]),
        ("", vec![], vec![]),
        (".", vec![], vec![]),
    ];
    for (d, want_parents, want_exact) in cases {
        assert_eq!(&found(&parents, Observed::Domain(d)), want_parents, "parents: {d}");
        assert_eq!(&found(&exact, Observed::Domain(d)), want_exact, "exact: {d}");
    }
    // A parent and a child both listed: both reported, most specific first.
    let mut b = IntelSetBuilder::new(DomainMatch::Parents);
    b.add_plain("l", b"example.net\nb.example.net\n", "s", None).unwrap();
    let set = b.build();
    assert_eq!(
        found(&set, Observed::Domain("a.b.example.net")),
        [p("b.example.net"), p("example.net")]
    );
    assert_eq!(
        found(&set, Observed::Domain("b.example.net")),
        [e("b.example.net"), p("example.net")]
    );
}

#[test]
fn urls_normalised_without_scheme() {
    let mut b = IntelSetBuilder::new(DomainMatch::Parents);
    b.add_plain(
        "u.txt",
        b"bad.example/login.php?u=1\nHTTPS://Secure.Example/\nport.example:8080/a\nbare.example:80\n\
          [2001:db8::1]/x\n",
        "s",
        Some(IndicatorType::Url),
    )
    .unwrap();
    let set = b.build();
    let hit = |u: &str| -> Option<String> {
        let mut out = Vec::new();
        set.lookup_url(u, &mut out);
        out.first().map(|m| m.indicator().to_owned())
    };
    let cases: &[(&str, Option<&str>)] = &[
        ("http://bad.example/login.php?u=1", Some("bad.example/login.php?u=1")),
        ("https://BAD.example/Login.PHP?u=1", Some("bad.example/login.php?u=1")),
        ("bad.example/login.php?u=1#top", Some("bad.example/login.php?u=1")),
        (
            "http://user:pw@bad.example:80/login.php?u=1",
            Some("bad.example/login.php?u=1"),
        ),
        ("http://bad.example./login.php?u=1", Some("bad.example/login.php?u=1")),
        ("//bad.example/login.php?u=1", Some("bad.example/login.php?u=1")),
        ("http://bad.example/login.php?u=2", None),
        ("http://bad.example/login.php", None),
        ("http://bad.example/login.php/?u=1", None),
        ("http://bad.example:8080/login.php?u=1", None),
        ("http://bad.example/login.php%3Fu=1", None),
        ("https://secure.example", Some("secure.example/")),
        ("https://secure.example:443/", Some("secure.example/")),
        ("http://secure.example:443/", None),
        ("http://port.example:8080/a", Some("port.example:8080/a")),
        ("port.example/a", None),
        ("http://bare.example", Some("bare.example/")),
        ("http://[2001:db8::1]:80/x", Some("[2001:db8::1]/x")),
        ("", None),
        ("http://", None),
    ];
    for (u, want) in cases {
        assert_eq!(hit(u).as_deref(), *want, "{u}");
    }
}

#[test]
fn emails_exact_ignoring_case() {
    let set = zeek_set(DomainMatch::Parents);
    let cases: &[(&str, bool)] = &[
        ("ceo@spoof.example", true),
        ("CEO@SPOOF.EXAMPLE", true),
        (" ceo@spoof.example ", true),
        ("ceo@sub.spoof.example", false),
        ("xceo@spoof.example", false),
        ("spoof.example", false),
    ];
    for (a, want) in cases {
        assert_eq!(!found(&set, Observed::Email(a)).is_empty(), *want, "{a}");
    }
}

#[test]
fn ips_exact_and_subnets_v4_v6() {
    let mut b = IntelSetBuilder::new(DomainMatch::Parents);
    b.add_zeek("a.intel", ZEEK.as_bytes()).unwrap();
    b.add_plain(
        "n.txt",
        b"10.0.0.0/8\n10.1.0.0/16\n2001:db8:1:2::/64\n::ffff:203.0.113.9\n0.0.0.0/0\n",
        "feedB",
        None,
    )
    .unwrap();
    let set = b.build();
    let e = |s: &str| (s.to_owned(), MatchKind::Exact);
    let n = |s: &str| (s.to_owned(), MatchKind::Subnet);
    let cases: &[(&str, Found)] = &[
        ("192.0.2.7", vec![e("192.0.2.7"), n("0.0.0.0/0")]),
        ("::ffff:192.0.2.7", vec![e("192.0.2.7"), n("0.0.0.0/0")]),
        ("203.0.113.9", vec![e("203.0.113.9"), n("0.0.0.0/0")]),
        ("10.1.2.3", vec![n("10.1.0.0/16"), n("10.0.0.0/8"), n("0.0.0.0/0")]),
        ("10.2.2.3", vec![n("10.0.0.0/8"), n("0.0.0.0/0")]),
        ("198.51.100.255", vec![n("198.51.100.0/24"), n("0.0.0.0/0")]),
        ("11.0.0.1", vec![n("0.0.0.0/0")]),
        ("2001:db8:1:2::99", vec![n("2001:db8:1:2::/64"), n("2001:db8:1::/48")]),
        ("2001:DB8:1:ffff::1", vec![n("2001:db8:1::/48")]),
        ("2001:db8:2::1", vec![]),
        ("::1", vec![]),
    ];
    for (ip, want) in cases {
        let ip: IpAddr = ip.parse().unwrap();
        assert_eq!(&found(&set, Observed::Ip(ip)), want, "{ip}");
    }
}

#[test]
fn two_sources_keep_both_and_same_source_updates() {
    let set = zeek_set(DomainMatch::Parents);
    let mut out = Vec::new();
    set.lookup_domain("evil.example", &mut out);
    let sources: Vec<_> = out[0].sources().map(|m| m.source).collect();
    assert_eq!(sources, ["feedA", "feedB"]);

    let h = "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\n";
    let mut b = IntelSetBuilder::new(DomainMatch::Parents);
    let text = format!("{h}x.example\tIntel::DOMAIN\ts\told\nX.example\tIntel::DOMAIN\ts\tnew\n");
    let stats = b.add_zeek("d", text.as_bytes()).unwrap();
    assert_eq!(stats.duplicates, 1);
    let set = b.build();
    assert_eq!(set.len(), 1);
    let mut out = Vec::new();
    set.lookup_domain("x.example", &mut out);
    let metas: Vec<_> = out[0].sources().collect();
    assert_eq!(metas.len(), 1);
    assert_eq!(metas[0].desc, Some("new"));
}

#[test]
fn enrichments_serialise_to_ecs_names() {
    let set = zeek_set(DomainMatch::Parents);
    let mut out = Vec::new();
    set.lookup_domain("a.evil.example", &mut out);
    let e: Vec<_> = out[0].enrichments("url.domain", "a.evil.example").collect();
    assert_eq!(e.len(), 2);
    let json = serde_json::to_value(&e[0]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "indicator": {
                "type": "domain-name",
                "provider": "feedA",
                "description": "Phishing kit",
                "reference": "https://feed.example/1",
                "name": "evil.example",
                "url": {"domain": "evil.example"}
            },
            "matched": {
                "atomic": "a.evil.example",
                "field": "url.domain",
                "type": "indicator_match_rule"
            }
        })
    );
    assert_eq!(e[1].indicator.provider, "feedB");

    out.clear();
    set.lookup_ip("2001:db8:1::5".parse().unwrap(), &mut out);
    let e: Vec<_> = out[0].enrichments("destination.ip", "2001:db8:1::5").collect();
    assert_eq!(e[0].indicator.kind, "ipv6-addr");
    assert_eq!(e[0].indicator.ip, None, "a subnet is not an address");
    out.clear();
    set.lookup_ip("192.0.2.7".parse().unwrap(), &mut out);
    let e: Vec<_> = out[0].enrichments("source.ip", "192.0.2.7").collect();
    assert_eq!(e[0].indicator.kind, "ipv4-addr");
    assert_eq!(e[0].indicator.ip, Some("192.0.2.7".parse().unwrap()));
    out.clear();
    set.lookup_email("ceo@spoof.example", &mut out);
    let e: Vec<_> = out[0].enrichments("email.from.address", "CEO@spoof.example").collect();
    assert_eq!(e[0].indicator.kind, "email-addr");
    assert_eq!(e[0].indicator.email.as_ref().unwrap().address, "ceo@spoof.example");
}

#[test]
fn long_inputs_spill_to_the_heap_and_still_match() {
    let long_path = "a".repeat(2 * KEY_STACK);
    let url = format!("long.example/{long_path}");
    let mut b = IntelSetBuilder::new(DomainMatch::Parents);
    b.add_plain("u", url.as_bytes(), "s", None).unwrap();
    let set = b.build();
    let mut out = Vec::new();
    assert_eq!(set.lookup_url(&format!("http://LONG.example/{long_path}"), &mut out), 1);
    assert_eq!(
        set.lookup_url(&format!("http://long.example/{long_path}b"), &mut out),
        0
    );
    let long_domain = format!("{}.evil.example", "x.".repeat(400));
    let set = zeek_set(DomainMatch::Parents);
    assert_eq!(set.lookup_domain(&long_domain, &mut out), 1);
}

#[test]
fn files_are_read_and_io_errors_name_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.intel");
    std::fs::write(&path, ZEEK).unwrap();
    let mut b = IntelSetBuilder::new(DomainMatch::Parents);
    assert_eq!(b.add_zeek_file(&path).unwrap().loaded_of(IndicatorType::Url), 1);
    let missing = dir.path().join("missing.txt");
    let err = b.add_plain_file(&missing, "s", None).unwrap_err();
    assert!(err.to_string().starts_with(&missing.display().to_string()), "{err}");
    let set = b.build();
    assert_eq!(set.files().len(), 1);
    assert!(set.heap_bytes() > 0);
}

#[test]
fn config_builds_and_rejects_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let zeek = dir.path().join("feed.intel");
    std::fs::write(&zeek, ZEEK).unwrap();
    let list = dir.path().join("phishers.txt");
    std::fs::write(&list, "a.example\n").unwrap();
    let json = serde_json::json!({
        "parent_domains": false,
        "zeek": [zeek],
        "lists": [{"path": list, "type": "domain"}],
    });
    let config: IntelConfig = serde_json::from_value(json).unwrap();
    let set = config.build().unwrap();
    assert_eq!(set.domain_match(), DomainMatch::Exact);
    assert_eq!(set.files().len(), 2);
    let mut out = Vec::new();
    set.lookup_domain("A.example", &mut out);
    assert_eq!(out[0].sources().next().unwrap().source, "phishers");
    assert_eq!(set.lookup_domain("x.a.example", &mut out), 0);

    let typo = serde_json::json!({"zeek": [], "parent_domain": true});
    let err = serde_json::from_value::<IntelConfig>(typo).unwrap_err();
    assert!(err.to_string().contains("unknown field `parent_domain`"), "{err}");
}
