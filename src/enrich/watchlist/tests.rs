use super::*;

const PARLIAMENTARIANS: &str = "\
email,name,group,usernames,ips,x-notes
Anna.Berg@Parliament.example,Anna Berg,Greens,PARL\\aberg;anna.berg@PARL.EXAMPLE,10.1.2.3;2001:db8:1::/48,chairs a committee
bo@parliament.example,Bo Ek,Left,bek,10.1.0.0/16,
";

const STAFF: &str = "\
# staff: every parliament address, plus a contractor
@parliament.example
Carl@Staff.example

10.0.0.0/8
";

const JOURNALISTS: &str = "\
email,name
anna.berg@parliament.example,Anna Berg
dana@news.example,Dana
";

fn world() -> Watchlists {
    let mut wl = Watchlists::new();
    wl.add_text("parliamentarians", "p.csv", PARLIAMENTARIANS).unwrap();
    wl.add_text("staff", "s.txt", STAFF).unwrap();
    wl.add_text("journalists", "j.csv", JOURNALISTS).unwrap();
    wl
}

type Got<'a> = Vec<(&'a str, Option<&'a str>, Via<'a>)>;

fn got(m: Matches<'_>) -> Got<'_> {
    m.map(|m| (m.list, m.person.map(Person::email), m.via)).collect()
}

const ANNA: Option<&str> = Some("Anna.Berg@Parliament.example");
const BO: Option<&str> = Some("bo@parliament.example");

#[test]
fn lookup_email() {
    let wl = world();
    let cases: &[(&str, Got)] = &[
        (
            "anna.berg@parliament.example",
            vec![
                ("parliamentarians", ANNA, Via::Address),
                ("journalists", Some("anna.berg@parliament.example"), Via::Address),
                ("staff", None, Via::Domain("parliament.example")),
            ],
        ),
        (
            "ANNA.BERG@PARLIAMENT.EXAMPLE",
            vec![
                ("parliamentarians", ANNA, Via::Address),
                ("journalists", Some("anna.berg@parliament.example"), Via::Address),
                ("staff", None, Via::Domain("PARLIAMENT.EXAMPLE")),
            ],
        ),
        (
            "x@sub.parliament.example",
            vec![("staff", None, Via::Domain("parliament.example"))],
        ),
        (
            "x@a.b.Parliament.Example",
            vec![("staff", None, Via::Domain("Parliament.Example"))],
        ),
        ("x@notparliament.example", vec![]),
        ("x@parliament.example.evil", vec![]),
        ("x@example", vec![]),
        ("carl@staff.example", vec![("staff", None, Via::Address)]),
        ("carl@sub.staff.example", vec![]),
        (
            "dana@news.example",
            vec![("journalists", Some("dana@news.example"), Via::Address)],
        ),
        ("parliament.example", vec![]),
        ("x@", vec![]),
        ("", vec![]),
        ("x@parliament.example.", vec![]),
    ];
    for (addr, want) in cases {
        assert_eq!(&got(wl.lookup_email(addr)), want, "{addr}");
    }
}

#[test]
fn lookup_username() {
    let wl = world();
    let anna = vec![("parliamentarians", ANNA, Via::Username)];
    let cases: &[(&str, Got)] = &[
        ("aberg", anna.clone()),
        ("ABERG", anna.clone()),
        ("PARL\\aberg", anna.clone()),
        ("other\\Aberg", anna.clone()),
        ("aberg@PARL.EXAMPLE", anna.clone()),
        ("anna.berg", anna.clone()),
        ("anna.berg@parliament.example", anna.clone()),
        ("bek", vec![("parliamentarians", BO, Via::Username)]),
        ("berg", vec![]),
        ("-", vec![]),
        ("", vec![]),
        ("PARL\\", vec![]),
    ];
    for (user, want) in cases {
        assert_eq!(&got(wl.lookup_username(user)), want, "{user}");
    }
}

#[test]
fn lookup_ip() {
    let wl = world();
    let host = vec![
        ("parliamentarians", ANNA, Via::Ip { prefix: 32 }),
        ("parliamentarians", BO, Via::Ip { prefix: 16 }),
        ("staff", None, Via::Ip { prefix: 8 }),
    ];
    let cases: &[(&str, Got)] = &[
        ("10.1.2.3", host.clone()),
        ("::ffff:10.1.2.3", host),
        (
            "10.1.9.9",
            vec![
                ("parliamentarians", BO, Via::Ip { prefix: 16 }),
                ("staff", None, Via::Ip { prefix: 8 }),
            ],
        ),
        ("10.200.0.1", vec![("staff", None, Via::Ip { prefix: 8 })]),
        ("11.0.0.1", vec![]),
        ("9.255.255.255", vec![]),
        (
            "2001:db8:1::5",
            vec![("parliamentarians", ANNA, Via::Ip { prefix: 48 })],
        ),
        (
            "2001:DB8:1:ffff::",
            vec![("parliamentarians", ANNA, Via::Ip { prefix: 48 })],
        ),
        ("2001:db8:2::1", vec![]),
        ("::1", vec![]),
    ];
    for (ip, want) in cases {
        let ip: IpAddr = ip.parse().unwrap();
        assert_eq!(&got(wl.lookup_ip(ip)), want, "{ip}");
    }
}

#[test]
fn cidr_forms() {
    let mut wl = Watchlists::new();
    let text = "0.0.0.0/0\n192.0.2.0/24\n192.0.2.7\n2001:db8::/32\n::ffff:198.51.100.0/120\n::/0\n";
    wl.add_text("nets", "n.txt", text).unwrap();
    let prefixes = |ip: &str| -> Vec<u8> {
        wl.lookup_ip(ip.parse().unwrap())
            .map(|m| match m.via {
                Via::Ip { prefix } => prefix,
                _ => 255,
            })
            .collect()
    };
    let cases: &[(&str, &[u8])] = &[
        ("192.0.2.7", &[32, 24, 0]),
        ("192.0.2.8", &[24, 0]),
        ("198.51.100.9", &[24, 0]),
        ("8.8.8.8", &[0]),
        ("2001:db8::1", &[32, 0]),
        ("2001:db9::1", &[0]),
    ];
    for (ip, want) in cases {
        assert_eq!(&prefixes(ip), want, "{ip}");
    }
}

#[test]
fn values_and_lists() {
    let wl = world();
    let cases: &[(&str, Option<&[&str]>)] = &[
        ("staff", Some(&["@parliament.example", "carl@staff.example"])),
        (
            "journalists",
            Some(&["anna.berg@parliament.example", "dana@news.example"]),
        ),
        (
            "parliamentarians",
            Some(&["anna.berg@parliament.example", "bo@parliament.example"]),
        ),
        ("nobody", None),
    ];
    for (list, want) in cases {
        let got = wl.values(list);
        let got: Option<Vec<&str>> = got.as_ref().map(|v| v.iter().map(String::as_str).collect());
        assert_eq!(got.as_deref(), *want, "{list}");
    }
    let info = |name: &str, persons, addresses, domains, usernames, ips| ListInfo {
        name: name.into(),
        persons,
        addresses,
        domains,
        usernames,
        ips,
    };
    assert_eq!(
        wl.lists(),
        &[
            info("parliamentarians", 2, 2, 0, 3, 3),
            info("staff", 0, 1, 1, 0, 1),
            info("journalists", 2, 2, 0, 0, 0),
        ]
    );
}

#[test]
fn persons() {
    let wl = world();
    let anna = wl
        .lookup_email("anna.berg@parliament.example")
        .next()
        .unwrap()
        .person
        .unwrap();
    assert_eq!(
        (anna.email(), anna.name(), anna.group()),
        ("Anna.Berg@Parliament.example", Some("Anna Berg"), Some("Greens"))
    );
    let dana = wl.lookup_email("dana@news.example").next().unwrap().person.unwrap();
    assert_eq!((dana.name(), dana.group()), (Some("Dana"), None));
}

#[test]
fn summaries() {
    let summary = |format, persons, addresses, domains, usernames, ips, duplicates| LoadSummary {
        list: "l".into(),
        format,
        persons,
        addresses,
        domains,
        usernames,
        ips,
        duplicates,
        duplicate_rows: Vec::new(),
    };
    let cases: &[(&str, LoadSummary)] = &[
        (PARLIAMENTARIANS, summary(ListFormat::Csv, 2, 2, 0, 3, 3, 0)),
        (STAFF, summary(ListFormat::Text, 0, 1, 1, 0, 1, 0)),
        ("", summary(ListFormat::Text, 0, 0, 0, 0, 0, 0)),
        ("# nothing\n\n", summary(ListFormat::Text, 0, 0, 0, 0, 0, 0)),
        ("email\n", summary(ListFormat::Csv, 0, 0, 0, 0, 0, 0)),
        // BOM, CRLF, spaces, duplicates in any case.
        (
            "\u{feff}a@x.example\r\n  A@X.EXAMPLE \r\n@X.example\r\n@x.example\r\n10.0.0.1\r\n",
            summary(ListFormat::Text, 0, 1, 1, 0, 1, 2),
        ),
        // Header in any case, quoted fields, comments before the header, x- columns.
        (
            "# exported\n\"Email\",X-Seat,\"Usernames\"\n\"a@x.example\",12,\"a;A;dom\\a\"\n",
            summary(ListFormat::Csv, 1, 1, 0, 1, 0, 2),
        ),
        // "email" only as part of a column name is not a CSV header.
        ("emails@x.example\n", summary(ListFormat::Text, 0, 1, 0, 0, 0, 0)),
    ];
    for (text, want) in cases {
        let mut wl = Watchlists::new();
        assert_eq!(&wl.add_text("l", "t", text).unwrap(), want, "{text:?}");
    }
}

#[test]
fn parse_errors_name_the_line() {
    let addr = |value: &str, why| LineError::InvalidAddress {
        value: value.into(),
        why,
    };
    let cidr = |value: &str, why| LineError::BadCidr {
        value: value.into(),
        why,
    };
    let cases: &[(&str, u64, LineError)] = &[
        (
            "a@x.example\nnot-an-address\n",
            2,
            LineError::InvalidEntry("not-an-address".into()),
        ),
        (
            "# c\n\n@bad..example\n",
            3,
            LineError::InvalidDomain {
                value: "@bad..example".into(),
                why: "empty label in the domain",
            },
        ),
        (
            "@-x.example",
            1,
            LineError::InvalidDomain {
                value: "@-x.example".into(),
                why: "domain label starts or ends with '-'",
            },
        ),
        ("a@@x.example", 1, addr("a@@x.example", "more than one '@'")),
        (
            "@x.example\na b@x.example",
            2,
            addr(
                "a b@x.example",
                "space, control character or one of \"(),:;<>[\\] in the local part",
            ),
        ),
        (
            "a@x_y!.example",
            1,
            addr(
                "a@x_y!.example",
                "domain may hold only letters, digits, '-', '_' and '.'",
            ),
        ),
        (
            "a.@x.example",
            1,
            addr("a.@x.example", "misplaced '.' in the local part"),
        ),
        (
            "@x\n10.0.0.1/8",
            2,
            cidr("10.0.0.1/8", "host bits set after the prefix"),
        ),
        ("10.0.0.0/33", 1, cidr("10.0.0.0/33", "prefix length out of range")),
        ("fe80::/129", 1, cidr("fe80::/129", "prefix length out of range")),
        ("10.0.0.0/x", 1, cidr("10.0.0.0/x", "prefix length out of range")),
        ("1.2.3", 1, cidr("1.2.3", "not an IP address")),
        ("fe80::1%eth0", 1, cidr("fe80::1%eth0", "not an IP address")),
        (
            "email,usernmes\na@x.example,jdoe\n",
            1,
            LineError::UnknownColumn("usernmes".into()),
        ),
        ("email,Email\n", 1, LineError::DuplicateColumn("Email".into())),
        (
            "email,name\na@x.example\n",
            2,
            LineError::WrongColumnCount { expected: 2, found: 1 },
        ),
        (
            "email,name\na@x.example,A\nb@x.example,B,extra\n",
            3,
            LineError::WrongColumnCount { expected: 2, found: 3 },
        ),
        (
            "email,ips\na@x.example,10.0.0.0/8;10.1.1.1/16\n",
            2,
            cidr("10.1.1.1/16", "host bits set after the prefix"),
        ),
        (
            "email,usernames\na@x.example,DOM\\\n",
            2,
            LineError::InvalidUsername {
                value: "DOM\\".into(),
                why: "empty after removing DOMAIN\\ and @realm",
            },
        ),
        (
            "email,usernames\na@x.example,-\n",
            2,
            LineError::InvalidUsername {
                value: "-".into(),
                why: "\"-\" means no user in logs",
            },
        ),
        ("email,name\n,A\n", 2, LineError::MissingEmail),
        ("email,name\n@x.example,A\n", 2, addr("@x.example", "empty local part")),
        (
            "name,group\nAlice,MPs\n",
            1,
            LineError::NoEmailColumn("name, group".into()),
        ),
        ("mail,name\na@x.example,A\n", 1, LineError::UnknownColumn("mail".into())),
        // Comments and blank lines count; a quoted field may span lines.
        (
            "# people\nemail,name\n\na@x.example,A\nbad,B\n",
            5,
            addr("bad", "no '@'"),
        ),
        (
            "email,name\n\"a@x.example\",\"two\nlines\"\nbad,B\n",
            4,
            addr("bad", "no '@'"),
        ),
    ];
    for (text, line, reason) in cases {
        let mut wl = Watchlists::new();
        wl.add_text("l", "ok.txt", "ok@x.example\n").unwrap();
        match wl.add_text("l", "list.txt", text) {
            Err(WatchlistError::Line {
                origin,
                line: l,
                reason: r,
            }) => assert_eq!((origin.as_str(), l, &r), ("list.txt", *line, reason), "{text:?}"),
            other => panic!("{text:?}: {other:?}"),
        }
        // Nothing of the bad file was added (its first lines are valid in most cases).
        assert_eq!(wl.lists()[0].addresses, 1, "{text:?}");
        assert_eq!(wl.lookup_email("a@x.example").count(), 0, "{text:?}");
        assert_eq!(wl.lookup_ip("10.0.0.1".parse().unwrap()).count(), 0, "{text:?}");
    }
}

#[test]
fn error_messages() {
    let mut wl = Watchlists::new();
    let err = wl
        .add_text(
            "staff",
            "lists/staff.csv",
            "email,name\na@x.example,A\nb@x.example,B,C\n",
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "lists/staff.csv:3: wrong column count: expected 2, found 3"
    );
    let err = wl.add_text("staff", "lists/staff.csv", "email,usernmes\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "lists/staff.csv:1: unknown column \"usernmes\" (known: email, name, group, usernames, ips; prefix others with \"x-\")"
    );
    for name in ["", "staff list", "%staff%", "stäff"] {
        assert!(
            matches!(wl.add_text(name, "t", ""), Err(WatchlistError::BadName(_))),
            "{name:?}"
        );
    }
    assert!(wl.lists().is_empty());
}

#[test]
fn load_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("staff.txt");
    std::fs::write(&good, STAFF).unwrap();
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, b"a@x.example\nb@x.example\xff\n").unwrap();
    let mut wl = Watchlists::new();
    assert_eq!(wl.load("staff", &good).unwrap().format, ListFormat::Text);
    match wl.load("staff", &bad) {
        Err(WatchlistError::Line { origin, line, reason }) => {
            assert_eq!(
                (origin, line, reason),
                (bad.display().to_string(), 2, LineError::NotUtf8)
            )
        }
        other => panic!("{other:?}"),
    }
    let missing = dir.path().join("missing.txt");
    assert!(matches!(wl.load("staff", &missing), Err(WatchlistError::Read { path, .. }) if path == missing));
    assert_eq!(wl.lists().len(), 1);
}

#[test]
fn lists_grow_and_reload_idempotently() {
    let mut wl = Watchlists::new();
    wl.add_text("staff", "a", STAFF).unwrap();
    let again = wl.add_text("staff", "a", STAFF).unwrap();
    assert_eq!(
        (again.addresses, again.domains, again.ips, again.duplicates),
        (0, 0, 0, 3)
    );
    // A CSV person added to a text list: the address now matches twice (entry and person).
    let more = wl
        .add_text("staff", "b", "email,name\ncarl@staff.example,Carl\n")
        .unwrap();
    assert_eq!((more.persons, more.addresses, more.duplicates), (1, 1, 0));
    assert_eq!(
        got(wl.lookup_email("carl@staff.example")),
        vec![
            ("staff", None, Via::Address),
            ("staff", Some("carl@staff.example"), Via::Address)
        ]
    );
    assert_eq!(wl.lists().len(), 1);
    assert_eq!(
        wl.values("staff").unwrap(),
        ["@parliament.example", "carl@staff.example"]
    );
}

#[test]
fn many_keys_all_found_in_any_case() {
    let mut text = String::new();
    for i in 0..5000 {
        text.push_str(&format!("User{i}@Host{}.example\n@d{i}.example\n", i % 97));
    }
    let mut wl = Watchlists::new();
    wl.add_text("l", "t", &text).unwrap();
    for i in 0..5000 {
        let addr = format!("uSER{i}@hOST{}.EXAMPLE", i % 97);
        assert_eq!(got(wl.lookup_email(&addr)), vec![("l", None, Via::Address)], "{addr}");
        let sub = format!("x@mail.d{i}.example");
        assert_eq!(got(wl.lookup_email(&sub)).len(), 1, "{sub}");
        assert_eq!(
            wl.lookup_email(&format!("user{i}@host{}.example", (i + 1) % 97))
                .count(),
            0
        );
    }
}

#[test]
fn normalize_usernames() {
    let cases = [
        ("jdoe", "jdoe"),
        ("PARL\\jdoe", "jdoe"),
        ("a\\b\\jdoe", "jdoe"),
        ("jdoe@PARL.EXAMPLE", "jdoe"),
        ("PARL\\jdoe@realm", "jdoe"),
        ("", ""),
        ("\\", ""),
        ("@realm", ""),
    ];
    for (input, want) in cases {
        assert_eq!(normalize_username(input), want, "{input:?}");
    }
}

#[test]
fn keys_with_the_same_hash_are_told_apart() {
    let mut table = KeyTable::default();
    for (i, key) in ["a@x.example", "b@x.example", "c@x.example"].into_iter().enumerate() {
        *table.head_mut_hashed(7, key).unwrap() = i as u32;
    }
    // Found again, not added twice.
    assert_eq!(*table.head_mut_hashed(7, "c@x.example").unwrap(), 2);
    let cases = [
        ("a@x.example", 0),
        ("B@X.example", 1),
        ("c@x.EXAMPLE", 2),
        ("d@x.example", NONE),
    ];
    for (key, want) in cases {
        assert_eq!(table.get_hashed(7, key), want, "{key}");
        assert_eq!(table.get_hashed(8, key), NONE, "{key}");
    }
    let mut keys: Vec<_> = table.iter().collect();
    keys.sort_unstable();
    assert_eq!(keys, [("a@x.example", 0), ("b@x.example", 1), ("c@x.example", 2)]);
    assert_eq!(table.len(), 3);
}

/// Regression: a CSV watchlist listing the same person twice refused the whole run. The second
/// row is reported and joins the first row's person (its user names and IPs are kept).
#[test]
fn a_repeated_address_is_reported_not_refused() {
    let mut wl = Watchlists::new();
    let text = "email,name,group,usernames\na@x.example,Alice,MPs,alice\nb@x.example,Bob,,\nA@X.example,Alice C,Staff,PARL\\ac\n";
    let summary = wl.add_text("l", "people.csv", text).unwrap();
    assert_eq!(
        summary.duplicate_rows,
        [DuplicateRow {
            line: 4,
            first_line: 2,
            email: "A@X.example".into()
        }]
    );
    assert_eq!(
        (
            summary.persons,
            summary.addresses,
            summary.usernames,
            summary.duplicates
        ),
        (2, 2, 2, 1)
    );
    let by_user = wl.lookup_username("ac").next().unwrap().person.unwrap();
    assert_eq!(
        (by_user.email(), by_user.name(), by_user.group()),
        ("a@x.example", Some("Alice"), Some("MPs"))
    );
}

/// Everything a caller can see of the watchlists, for comparing before and after a load.
fn seen(wl: &Watchlists, emails: &[String], users: &[String], ips: &[IpAddr]) -> String {
    let mut out = format!("{:?}\n", wl.lists());
    for list in wl.lists() {
        out += &format!("{}: {:?}\n", list.name, wl.values(&list.name));
    }
    let show = |m: Matches<'_>| format!("{:?}\n", m.map(|m| (m.list, m.person, m.via)).collect::<Vec<_>>());
    for e in emails {
        out += &show(wl.lookup_email(e));
    }
    for u in users {
        out += &show(wl.lookup_username(u));
    }
    for ip in ips {
        out += &show(wl.lookup_ip(*ip));
    }
    out
}

/// A failed load, wherever it stops, leaves the watchlists exactly as they were: the keys,
/// persons and hits the file added before its bad line are taken out again (the tables grew
/// on the way: past 16 keys, their slots were rebuilt), and the lists work as before after it.
#[test]
fn a_failed_load_leaves_the_lists_as_they_were() {
    let mut good = String::from("email,name,group,usernames,ips\n");
    let mut bad_csv = good.clone();
    for i in 0..300 {
        good += &format!(
            "p{i}@Old.example,Old {i},g{},old{i},10.0.{}.{}\n",
            i % 3,
            i / 200,
            i % 200
        );
        // Rows that add to old keys (an old person's address, user name and IP on another
        // person of the same list) and rows of new keys, new prefix lengths and IPv6 tables.
        bad_csv += &format!(
            "n{i}@New.example,New {i},,new{i};old{i},10.0.0.{};10.{}.0.0/16;2001:db8:{i:x}::/48\n",
            i % 200,
            i % 250
        );
    }
    // An old person's address (another load: not a repeated row), and a row of this file again.
    bad_csv += "p7@old.example,Again,,,\nN5@new.example,Dup,,,\n";
    let bad_text = "@new.example\np1@old.example\n192.0.2.0/24\nfe80::/10\nnot-an-entry\n";
    let mut emails: Vec<String> = (0..300)
        .flat_map(|i| [format!("p{i}@old.example"), format!("N{i}@new.example")])
        .collect();
    emails.push("x@sub.new.example".into());
    let users: Vec<String> = (0..300).flat_map(|i| [format!("old{i}"), format!("new{i}")]).collect();
    let ips: Vec<IpAddr> = [
        "10.0.0.7",
        "10.0.1.7",
        "10.250.3.3",
        "192.0.2.9",
        "2001:db8:a::1",
        "fe80::1",
    ]
    .iter()
    .map(|ip| ip.parse().unwrap())
    .collect();

    let mut wl = Watchlists::new();
    wl.add_text("people", "good.csv", &good).unwrap();
    wl.add_text("other", "s.txt", STAFF).unwrap();
    let before = seen(&wl, &emails, &users, &ips);
    let mut bad_csv_line = bad_csv.clone();
    bad_csv_line += "bad,B,,,\n";
    for (list, text, line) in [
        ("people", bad_csv_line.as_str(), 304),
        ("newlist", bad_csv_line.as_str(), 304),
        ("people", bad_text, 5),
        ("other", bad_text, 5),
    ] {
        match wl.add_text(list, "bad", text) {
            Err(WatchlistError::Line { line: l, .. }) => assert_eq!(l, line, "{list}"),
            other => panic!("{list}: {other:?}"),
        }
        assert_eq!(seen(&wl, &emails, &users, &ips), before, "{list}");
    }
    // The same rows without the bad one load, and as into fresh lists.
    let summary = wl.add_text("people", "more", &bad_csv).unwrap();
    assert_eq!(
        summary.duplicate_rows,
        [DuplicateRow {
            line: 303,
            first_line: 7,
            email: "N5@new.example".into()
        }]
    );
    let mut fresh = Watchlists::new();
    fresh.add_text("people", "good.csv", &good).unwrap();
    fresh.add_text("other", "s.txt", STAFF).unwrap();
    fresh.add_text("people", "more", &bad_csv).unwrap();
    assert_eq!(seen(&wl, &emails, &users, &ips), seen(&fresh, &emails, &users, &ips));
    assert_ne!(seen(&wl, &emails, &users, &ips), before);
}

/// A file is streamed (in buffers far smaller than a large list): read from disk it gives what
/// the same text in memory gives, byte order mark and CRLF included.
#[test]
fn a_file_loads_as_its_text() {
    let mut csv = String::from("\u{feff}# exported\r\nemail,name,group,usernames,ips,x-notes\r\n");
    let mut text = String::from("\u{feff}# staff\n");
    for i in 0..20_000 {
        csv += &format!(
            "\"Person.{i}@Host{}.example\",\"Name, {i}\",Group {},PARL\\u{i};u{i}@realm,10.{}.{}.{},\"a\nb\"\r\n",
            i % 7,
            i % 5,
            i / 65536,
            (i / 256) % 256,
            i % 256
        );
        text += &format!(
            "t{i}@Host.example\n@d{i}.example\n192.168.{}.{}\n",
            (i / 256) % 256,
            i % 256
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let emails: Vec<String> = (0..20_000)
        .map(|i| format!("person.{i}@host{}.EXAMPLE", i % 7))
        .collect();
    let users: Vec<String> = (0..20_000).map(|i| format!("U{i}")).collect();
    let ips: Vec<IpAddr> = (0..2000)
        .map(|i| format!("10.0.{}.{}", i / 256, i % 256).parse().unwrap())
        .collect();
    for (name, content) in [("people.csv", &csv), ("staff.txt", &text)] {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let (mut from_file, mut from_text) = (Watchlists::new(), Watchlists::new());
        let a = from_file.load("l", &path).unwrap();
        let b = from_text.add_text("l", "t", content).unwrap();
        assert_eq!(a, b, "{name}");
        assert_eq!(
            seen(&from_file, &emails, &users, &ips),
            seen(&from_text, &emails, &users, &ips),
            "{name}"
        );
    }
    let wl = {
        let mut wl = Watchlists::new();
        wl.load("l", &dir.path().join("people.csv")).unwrap();
        wl
    };
    let p = wl.lookup_username("u19999").next().unwrap().person.unwrap();
    assert_eq!(
        (p.email(), p.name(), p.group()),
        ("Person.19999@Host0.example", Some("Name, 19999"), Some("Group 4"))
    );
}

/// A file that is not UTF-8 is refused at the bad byte's line even when an earlier line has
/// another fault (as when the whole file was checked before parsing).
#[test]
fn not_utf8_is_found_before_other_faults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.txt");
    std::fs::write(&path, b"a@x.example\nnot-an-entry\nb@x.example\n\xc3\n").unwrap();
    match Watchlists::new().load("l", &path) {
        Err(WatchlistError::Line { line, reason, .. }) => assert_eq!((line, reason), (4, LineError::NotUtf8)),
        other => panic!("{other:?}"),
    }
    // A directory is a read error, as before.
    assert!(matches!(
        Watchlists::new().load("l", dir.path()),
        Err(WatchlistError::Read { .. })
    ));
}

/// `entries` lists what `values` holds, borrowed.
#[test]
fn entries_are_the_values() {
    let wl = world();
    for list in wl.lists() {
        let mut entries: Vec<String> = wl.entries(&list.name).unwrap().map(ListEntry::value).collect();
        entries.sort_unstable();
        assert_eq!(Some(entries), wl.values(&list.name), "{}", list.name);
    }
    assert!(wl.entries("nobody").is_none());
}
