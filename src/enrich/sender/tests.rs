use std::cell::Cell;
use std::sync::OnceLock;

use super::*;
use LookalikeMethod::*;

thread_local! {
    /// Damerau–Levenshtein computations on this thread (the index must keep them few).
    pub(super) static DISTANCES: Cell<usize> = const { Cell::new(0) };
}

fn builtin() -> &'static SenderAnalyzer {
    static A: OnceLock<SenderAnalyzer> = OnceLock::new();
    A.get_or_init(|| {
        let mut c = SenderCatalog::builtin();
        c.protect_domain("parliament.elmaria.example", "own").unwrap();
        c.protect_domain("microsoft.com", "vendor").unwrap();
        c.build()
    })
}

fn mail<'a>(
    name: Option<&'a str>,
    from: &'a str,
    envelope: Option<&'a str>,
    subject: Option<&'a str>,
) -> SenderInput<'a> {
    SenderInput {
        from: Some(from),
        from_name: name,
        envelope,
        reply_to: None,
        subject,
    }
}

fn line_error(r: Result<usize, SenderError>) -> (u64, LineError) {
    match r {
        Err(SenderError::Line { line, reason, .. }) => (line, reason),
        other => panic!("expected a line error, got {other:?}"),
    }
}

#[test]
fn analyzer_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<SenderAnalyzer>();
}

#[test]
fn builtin_lists_load_completely() {
    let mut c = SenderCatalog::empty();
    let outlets = c.add_outlets_text("outlets", BUILTIN_OUTLETS).unwrap();
    let esps = c.add_esps_text("esps", BUILTIN_ESPS).unwrap();
    let free = c.add_freemail_text("freemail", BUILTIN_FREEMAIL).unwrap();
    assert!(outlets >= 40, "{outlets} outlets");
    assert!(esps >= 20, "{esps} providers");
    assert!(free >= 100, "{free} free-mail domains");
    assert_eq!(SenderCatalog::builtin().counts(), (outlets, esps, free));
    let a = builtin();
    for d in [
        "theguardian.com",
        "reuters.com",
        "thomsonreuters.com",
        "politico.eu",
        "politico.com",
        "ft.com",
        "bbc.co.uk",
        "economist.com",
        "nytimes.com",
        "nyt.com",
    ] {
        assert!(a.outlet_of_domain(d).is_some(), "{d} is no outlet's");
    }
    for d in [
        "sendgrid.net",
        "mcsv.net",
        "rsgsv.net",
        "list-manage.com",
        "mailgun.org",
        "mailgun.net",
        "sailthru.com",
        "exacttarget.com",
        "mktomail.com",
        "amazonses.com",
        "sparkpostmail.com",
        "mandrillapp.com",
        "createsend.com",
        "cmail19.com",
        "cmail20.com",
        "constantcontact.com",
        "hubspotemail.net",
        "klaviyomail.com",
        "mailjet.com",
        "sendinblue.com",
    ] {
        assert!(a.is_esp(d), "{d} is no ESP");
    }
    for d in [
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.co.uk",
        "yahoo.fr",
        "aol.com",
        "gmx.de",
        "web.de",
        "mail.ru",
        "yandex.ru",
        "proton.me",
        "protonmail.com",
        "icloud.com",
        "qq.com",
        "163.com",
        "zoho.com",
        "tutanota.com",
    ] {
        assert!(a.is_freemail(d), "{d} is no free mail");
    }
}

#[test]
fn domain_lookups_use_the_registered_domain() {
    let a = builtin();
    let cases: &[(&str, Option<&str>, bool, bool)] = &[
        ("news-alerts.ft.com", Some("Financial Times"), false, false),
        ("FT@News-Alerts.FT.com", Some("Financial Times"), false, false),
        ("www.bbc.co.uk.", Some("BBC"), false, false),
        ("feeds.bbci.co.uk", Some("BBC"), false, false),
        ("mail185.atl12.mcsv.net", None, true, false),
        ("<bounce@sendgrid.net>", None, true, false),
        ("jane@googlemail.com", None, false, true),
        ("ft.com.evil.example", None, false, false),
        ("notft.com", None, false, false),
        ("co.uk", None, false, false),
        ("192.0.2.1", None, false, false),
        ("", None, false, false),
    ];
    for &(d, outlet, esp, free) in cases {
        assert_eq!(a.outlet_of_domain(d), outlet, "{d}");
        assert_eq!(a.is_esp(d), esp, "{d}");
        assert_eq!(a.is_freemail(d), free, "{d}");
    }
}

#[test]
fn lookalikes_of_outlet_and_protected_domains() {
    let a = builtin();
    let bbc_cyrillic = format!(
        "xn--{}.com",
        idna::punycode::encode_str("bbс").unwrap() // Cyrillic es
    );
    let reuters_cyrillic = format!(
        "news.xn--{}.example",
        idna::punycode::encode_str("rеuters-world").unwrap() // Cyrillic ie
    );
    assert!(bbc_cyrillic.starts_with("xn--bb-"), "{bbc_cyrillic}");
    let cases: &[(&str, &str, LookalikeMethod)] = &[
        (&bbc_cyrillic, "bbc.co.uk", Punycode),
        (&reuters_cyrillic, "reuters.com", Punycode),
        ("bbс.example", "bbc.co.uk", Confusable),
        ("rnicrosoft.com", "microsoft.com", Confusable),
        ("politlco.example", "politico.eu", EditDistance),
        ("mail.reutres.com", "reuters.com", EditDistance),
        ("nytimse.com", "nytimes.com", EditDistance),
        ("theguardlan.co", "theguardian.com", EditDistance),
        ("elmarla.example", "elmaria.example", EditDistance),
        ("bbc-worldnews.example", "bbc.co.uk", AddedWord),
        ("ft-newsroom.com", "ft.com", AddedWord),
        ("theguardian-news.org", "theguardian.com", AddedWord),
        ("nytimes-intl.com", "nytimes.com", AddedWord),
        ("reuters-world.net", "reuters.com", AddedWord),
        ("theeconomist.com", "economist.com", AddedWord),
        ("politicoeurope.eu", "politico.eu", AddedWord),
        ("elmaria-parliament.example", "elmaria.example", AddedWord),
        ("reuters.example", "reuters.com", TldSwap),
        ("POLITICO.ORG", "politico.eu", TldSwap),
    ];
    for (d, imitates, method) in cases {
        let l = a.lookalike(d);
        assert_eq!(l.map(|l| (l.imitates, l.method)), Some((*imitates, *method)), "{d}");
    }
    assert_eq!(a.lookalike("bbc-worldnews.example").unwrap().owner, "BBC");
    assert_eq!(a.lookalike("elmaria.org").unwrap().owner, "own");
}

#[test]
fn no_lookalike_for_own_known_or_unrelated_domains() {
    let a = builtin();
    for d in [
        // Ordinary domains a few edits from a short outlet label, another TLD of a short or
        // common-word label, a common word with a word added.
        "axois.com",
        "axiom.com",
        "elmail.example",
        "elpaso.com",
        "spiel.de",
        "minor.com",
        "times.example",
        // Labels under four characters exist under many TLDs (`nrc.gov` is no `nrc.nl`).
        "cnn.de",
        "bbc.net",
        "www.ft.co.uk",
        "mirror.net",
        "ubuntu-mirror.example",
        "standard-chartered.com",
        "independent-review.org",
        "nyt.com",
        "nytimes.com",
        "ft.com",
        "news-alerts.ft.com",
        "bbci.co.uk",
        "bbc.com",
        "mcsv.net",
        "mail185.atl12.mcsv.net",
        "gmail.com",
        "thomsonreuters.com",
        "sailthru.com",
        "sendgrid.net",
        "example.org",
        "parliament.elmaria.example",
        "elmaria.example",
        "microsoft.com",
        // Short labels: no edit distance under four characters.
        "bbd.com",
        "fy.com",
        // Under six characters, one edit only.
        "axxxs.com",
        // Short protected labels are parts only when `-`-separated.
        "bbcworld.com",
        "softball.com",
        "xn--invalid-punycode-Ω.com",
        "xn--.com",
        "localhost",
        "2001:db8::1",
        "",
    ] {
        assert_eq!(a.lookalike(d), None, "{d}");
    }
}

#[test]
fn lookalike_methods_have_names() {
    let names: Vec<_> = [Punycode, Confusable, EditDistance, AddedWord, TldSwap]
        .iter()
        .map(|m| m.name())
        .collect();
    assert_eq!(
        names,
        ["punycode", "confusable", "edit_distance", "added_word", "tld_swap"]
    );
    let via: Vec<_> = [ClaimVia::DisplayName, ClaimVia::LocalPart, ClaimVia::Subject]
        .iter()
        .map(|v| v.name())
        .collect();
    assert_eq!(via, ["display_name", "local_part", "subject"]);
}

#[test]
fn claims_need_a_named_outlet_and_a_foreign_domain() {
    let a = builtin();
    // (display name, from, subject, expected claim)
    type Case<'a> = (Option<&'a str>, &'a str, Option<&'a str>, Option<(&'a str, ClaimVia)>);
    let cases: &[Case] = &[
        // The APT31 pattern.
        (
            Some("Sophie Lang | BBC News"),
            "sophie.lang@bbc-worldnews.example",
            Some("BBC News: New trade rules for the region"),
            Some(("BBC", ClaimVia::DisplayName)),
        ),
        // The outlet's own newsletters claim nothing.
        (Some("FT"), "FT@news-alerts.ft.com", Some("FT: Europe Express"), None),
        (Some("BBC News"), "newsletter@bbc.co.uk", None, None),
        (
            Some("POLITICO"),
            "politicoeurope@politico.eu",
            Some("POLITICO Brussels Playbook: Summit day"),
            None,
        ),
        // Local parts.
        (None, "bbcnews@mailer.example", None, Some(("BBC", ClaimVia::LocalPart))),
        (
            Some("Desk"),
            "bbc.news@mailer.example",
            None,
            Some(("BBC", ClaimVia::LocalPart)),
        ),
        (
            None,
            "reuters-desk@wire.example",
            None,
            Some(("Reuters", ClaimVia::LocalPart)),
        ),
        (
            None,
            "reutersdesk@wire.example",
            None,
            Some(("Reuters", ClaimVia::LocalPart)),
        ),
        (None, "abbcd@mailer.example", None, None),
        (None, "bbcx@mailer.example", None, None),
        // Subjects: only a name at the start of the first segment.
        (
            None,
            "a@mailer.example",
            Some("Re: FW: BBC News: New trade rules"),
            Some(("BBC", ClaimVia::Subject)),
        ),
        (
            None,
            "a@mailer.example",
            Some("☕ London Playbook: Budget day"),
            Some(("POLITICO", ClaimVia::Subject)),
        ),
        (
            None,
            "a@mailer.example",
            Some("[EXTERNAL] Reuters | Exclusive"),
            Some(("Reuters", ClaimVia::Subject)),
        ),
        (
            None,
            "a@mailer.example",
            Some("The Economist - Weekly edition"),
            Some(("The Economist", ClaimVia::Subject)),
        ),
        (None, "a@mailer.example", Some("Comment on BBC News: a request"), None),
        (None, "a@mailer.example", Some("Meeting notes: BBC News"), None),
        (None, "a@mailer.example", Some("Reuterswire: x"), None),
        (
            None,
            "a@mailer.example",
            Some("Reuters-style report"),
            Some(("Reuters", ClaimVia::Subject)),
        ),
        // Word boundaries and case.
        (Some("abbcd"), "x@mailer.example", None, None),
        (
            Some("the bbc"),
            "x@mailer.example",
            None,
            Some(("BBC", ClaimVia::DisplayName)),
        ),
        (
            Some("BBC Newsletter"),
            "x@mailer.example",
            None,
            Some(("BBC", ClaimVia::DisplayName)),
        ),
        (
            Some("Anna Berg (Wall Street Journal)"),
            "anna@gmail.com",
            None,
            Some(("The Wall Street Journal", ClaimVia::DisplayName)),
        ),
        (Some("Dr. Economist"), "x@mailer.example", None, None),
        // Display name before local part before subject.
        (
            Some("Reuters"),
            "bbcnews@mailer.example",
            Some("CNN: Breaking"),
            Some(("Reuters", ClaimVia::DisplayName)),
        ),
        // Another outlet named by an outlet's own sender is still a claim.
        (
            Some("Reuters via FT"),
            "alerts@ft.com",
            None,
            Some(("Reuters", ClaimVia::DisplayName)),
        ),
    ];
    for &(name, from, subject, want) in cases {
        let got = a.analyze(&mail(name, from, None, subject)).claim;
        assert_eq!(got.map(|c| (c.outlet, c.via)), want, "{name:?} <{from}> {subject:?}");
    }
}

#[test]
fn longest_name_wins() {
    let mut c = SenderCatalog::empty();
    let text = "outlet,names,domains\n\
                The Times,The Times;Times,thetimes.co.uk\n\
                The New York Times,The New York Times;New York Times,nytimes.com\n";
    assert_eq!(c.add_outlets_text("t", text).unwrap(), 2);
    let a = c.build();
    for (name, want) in [
        ("The New York Times", "The New York Times"),
        ("Jane Doe, New York Times", "The New York Times"),
        ("Jane Doe, The Times", "The Times"),
        ("Times of London", "The Times"),
    ] {
        let got = a.analyze(&mail(Some(name), "j@x.example", None, None)).claim;
        assert_eq!(got.map(|c| c.outlet), Some(want), "{name}");
    }
}

#[test]
fn journalist_words() {
    let a = builtin();
    let cases: &[(Option<&str>, &str, bool)] = &[
        (Some("Sophie Lang, Senior Correspondent"), "s@x.example", true),
        (Some("Editor-in-Chief"), "s@x.example", true),
        (Some("BBC Newsroom"), "s@x.example", true),
        (Some("Press Office"), "s@x.example", true),
        (Some("The News Desk"), "s@x.example", true),
        (Some("Reporters Without Borders"), "s@x.example", true),
        (Some("Redaktion Berlin"), "s@x.example", true),
        (None, "press.office@x.example", true),
        (None, "newsdesk@x.example", true),
        (None, "editors@x.example", true),
        (None, "jane.reporter@x.example", true),
        (Some("WordPress"), "s@x.example", false),
        (Some("Compression team"), "s@x.example", false),
        (Some("Sophie Lang | BBC News"), "sophie.lang@x.example", false),
        (None, "expressdelivery@x.example", false),
        (None, "s@x.example", false),
    ];
    for &(name, from, want) in cases {
        assert_eq!(
            a.analyze(&mail(name, from, None, None)).journalist,
            want,
            "{name:?} <{from}>"
        );
    }
}

#[test]
fn campaign_and_newsletters() {
    let a = builtin();
    let campaign = a.analyze(&SenderInput {
        from: Some("sophie.lang@bbc-worldnews.example"),
        from_name: Some("Sophie Lang | BBC News"),
        envelope: Some("bounce-4f2a@mailer.postblast.example"),
        reply_to: Some("sophie.lang.bbc@gmail.com"),
        subject: Some("BBC News: New trade rules for the region"),
    });
    assert_eq!(
        campaign,
        SenderAnalysis {
            domain: Some("bbc-worldnews.example".into()),
            outlet: None,
            esp: false,
            freemail: false,
            claim: Some(Claim {
                outlet: "BBC",
                via: ClaimVia::DisplayName
            }),
            journalist: false,
            lookalike: Some(Lookalike {
                imitates: "bbc.co.uk",
                owner: "BBC",
                method: AddedWord
            }),
            reply_to_mismatch: true,
            envelope_mismatch: true,
            // A news word in an unknown domain, and a person with a brand.
            invented_outlet: true,
        }
    );

    let ft = a.analyze(&SenderInput {
        from: Some("FT@news-alerts.ft.com"),
        from_name: Some("FT"),
        envelope: Some("bounce-123@bounce.news-alerts.ft.com"),
        reply_to: None,
        subject: Some("FT: Europe Express"),
    });
    assert_eq!(
        ft,
        SenderAnalysis {
            domain: Some("ft.com".into()),
            outlet: Some("Financial Times"),
            ..SenderAnalysis::default()
        }
    );

    let politico = a.analyze(&SenderInput {
        from: Some("<politicoeurope@politico.eu>"),
        from_name: Some("POLITICO"),
        envelope: Some("bounce-mc.us4_123.456-jane=parliament.example@mail185.atl12.mcsv.net"),
        reply_to: Some("politicoeurope@politico.eu"),
        subject: Some("POLITICO Brussels Playbook: Summit day"),
    });
    assert_eq!(politico.outlet, Some("POLITICO"));
    assert_eq!((politico.esp, politico.claim, politico.lookalike), (false, None, None));
    assert!(politico.envelope_mismatch && !politico.reply_to_mismatch);

    // No From: the envelope is the sending domain.
    let bare = a.analyze(&SenderInput {
        envelope: Some("bounces@sendgrid.net"),
        subject: Some("Reuters: Exclusive"),
        ..SenderInput::default()
    });
    assert_eq!(bare.domain, None);
    assert!(bare.esp && !bare.envelope_mismatch);
    assert_eq!(bare.claim.map(|c| c.via), Some(ClaimVia::Subject));

    let freemail = a.analyze(&mail(Some("Anna Berg, reporter"), "Anna.Berg@GMAIL.com", None, None));
    assert_eq!(freemail.domain.as_deref(), Some("gmail.com"));
    assert!(freemail.freemail && freemail.journalist && freemail.lookalike.is_none());
}

#[test]
fn subject_heads() {
    for (subject, head) in [
        ("BBC News: New trade rules", "BBC News"),
        ("Re: Fwd: FW:  BBC News | x", "BBC News"),
        ("RE : AW: Reuters", "Reuters"),
        ("☕ London Playbook: Budget", "London Playbook"),
        ("[EXT] [SPAM?] Reuters — Exclusive", "Reuters"),
        ("The Economist - Weekly", "The Economist"),
        ("Deutsche Presse-Agentur meldet", "Deutsche Presse-Agentur meldet"),
        ("Reuters: x", "Reuters"),
        ("Trade: x", "Trade"),
        ("[unclosed", "unclosed"),
        ("", ""),
        ("::: ", ""),
    ] {
        assert_eq!(subject_head(subject), head, "{subject:?}");
    }
}

#[test]
fn outlet_file_errors_name_the_line_and_load_nothing() {
    const H: &str = "outlet,names,domains\n";
    let cases: &[(&str, u64, LineError)] = &[
        (
            "",
            1,
            LineError::MissingHeader {
                expected: "outlet,names,domains",
            },
        ),
        (
            "# only a comment\noutlet,domains\n",
            2,
            LineError::BadHeader {
                found: "outlet,domains".into(),
                expected: "outlet,names,domains",
            },
        ),
        ("X,X News\n", 2, LineError::WrongColumnCount { expected: 3, found: 2 }),
        ("\"X, Inc\",X,x.example\n", 2, LineError::Quoted),
        (",X,x.example\n", 2, LineError::Empty("outlet")),
        ("X,X;;Y,x.example\n", 2, LineError::Empty("name")),
        ("X,X,\n", 2, LineError::Empty("domain")),
        (
            "X,X,x_y.example\n",
            2,
            LineError::InvalidDomain {
                value: "x_y.example".into(),
                why: "only letters, digits, '-' and '.' (IDNs in xn-- form)",
            },
        ),
        (
            "X,X,news.x.co.uk\n",
            2,
            LineError::NotRegistered {
                value: "news.x.co.uk".into(),
                registered: "x.co.uk".into(),
            },
        ),
        (
            "X,X,co.uk\n",
            2,
            LineError::InvalidDomain {
                value: "co.uk".into(),
                why: "a public suffix or a single label, not a registered domain",
            },
        ),
        (
            "X,X,x.example\n\n# c\nx,Y,y.example\n",
            5,
            LineError::DuplicateRow {
                kind: "outlet",
                value: "x".into(),
                first_line: 2,
            },
        ),
        (
            "X,X,x.example\nY,Y;x,y.example\n",
            3,
            LineError::Taken {
                kind: "name",
                value: "x".into(),
                owner: "X".into(),
            },
        ),
        (
            "X,X,x.example;X.example\n",
            2,
            LineError::Taken {
                kind: "domain",
                value: "x.example".into(),
                owner: "X".into(),
            },
        ),
    ];
    for (body, line, reason) in cases {
        let mut c = SenderCatalog::builtin();
        let before = c.counts();
        let text = if body.is_empty() || body.starts_with('#') {
            body.to_string()
        } else {
            format!("{H}{body}")
        };
        assert_eq!(
            line_error(c.add_outlets_text("o", &text)),
            (*line, reason.clone()),
            "{body:?}"
        );
        assert_eq!(c.counts(), before, "{body:?}");
    }
    // Conflicts with the built-in outlets.
    let mut c = SenderCatalog::builtin();
    let (line, reason) = line_error(c.add_outlets_text("o", &format!("{H}Fake,Fake,bbc.com\n")));
    assert_eq!(line, 2);
    assert!(
        matches!(&reason, LineError::Taken { kind: "domain", owner, .. } if owner == "BBC"),
        "{reason:?}"
    );
    let e = c
        .add_outlets_text("extra.csv", &format!("{H}Fake,BBC,fake.example\n"))
        .unwrap_err();
    assert_eq!(e.to_string(), "extra.csv:2: name \"BBC\" already belongs to \"BBC\"");
}

#[test]
fn outlet_rows_add_and_replace() {
    let mut c = SenderCatalog::builtin();
    let (outlets, _, _) = c.counts();
    let text = "# ours\noutlet,names,domains\n\
                Elmaria Herald,Elmaria Herald;The Herald,elmariaherald.example\n\
                bbc,BBC;BBC News,bbc.co.uk\n";
    assert_eq!(c.add_outlets_text("ours", text).unwrap(), 2);
    assert_eq!(c.counts().0, outlets + 1);
    let a = c.build();
    assert_eq!(a.outlet_of_domain("elmariaherald.example"), Some("Elmaria Herald"));
    // The replaced BBC keeps only bbc.co.uk.
    assert_eq!(a.outlet_of_domain("bbc.co.uk"), Some("bbc"));
    assert_eq!(a.outlet_of_domain("bbci.co.uk"), None);
    assert_eq!(
        a.lookalike("elmariaherald-news.example").map(|l| l.owner),
        Some("Elmaria Herald")
    );
    let claim = a.analyze(&mail(Some("The Herald"), "x@y.example", None, None)).claim;
    assert_eq!(claim.map(|c| c.outlet), Some("Elmaria Herald"));
}

#[test]
fn esp_and_freemail_files() {
    let mut c = SenderCatalog::empty();
    assert_eq!(
        c.add_esps_text("e", "provider,domains\nPostblast,postblast.example\n")
            .unwrap(),
        1
    );
    let (line, reason) = line_error(c.add_esps_text("e", "provider,domains\nOther,postblast.example\n"));
    assert_eq!(line, 2);
    assert!(matches!(reason, LineError::Taken { kind: "domain", .. }), "{reason:?}");
    let (line, reason) = line_error(c.add_esps_text("e", "provider,names,domains\n"));
    assert_eq!(line, 1);
    assert!(matches!(reason, LineError::BadHeader { .. }), "{reason:?}");

    assert_eq!(
        c.add_freemail_text("f", "# free\n\nmail.example\nMail2.Example\n")
            .unwrap(),
        2
    );
    let (line, reason) = line_error(c.add_freemail_text("f", "x.example\nmail.example\n"));
    assert_eq!(line, 2);
    assert!(matches!(reason, LineError::Taken { owner, .. } if owner == "free mail"));
    let (line, reason) = line_error(c.add_freemail_text("f", "a.example\n# dup\nA.example\n"));
    assert_eq!(
        (line, reason.clone()),
        (
            3,
            LineError::DuplicateRow {
                kind: "domain",
                value: "A.example".into(),
                first_line: 1
            }
        ),
        "{reason:?}"
    );
    assert!(matches!(
        line_error(c.add_freemail_text("f", "www.gmail.com\n")).1,
        LineError::NotRegistered { .. }
    ));
    assert_eq!(c.counts(), (0, 1, 2));
    let a = c.build();
    assert!(a.is_esp("bounce.postblast.example") && a.is_freemail("x@mail2.example"));
}

#[test]
fn list_files_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("outlets.csv");
    std::fs::write(&good, "outlet,names,domains\nHerald,Herald,herald.example\n").unwrap();
    let mut c = SenderCatalog::empty();
    assert_eq!(c.add_outlets_file(&good).unwrap(), 1);

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, b"outlet,names,domains\nHerald2,H\xff,h2.example\n").unwrap();
    let e = c.add_outlets_file(&bad).unwrap_err();
    assert!(
        matches!(
            e,
            SenderError::Line {
                line: 2,
                reason: LineError::NotUtf8,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().ends_with("bad.csv:2: not UTF-8"), "{e}");

    let missing = dir.path().join("missing.txt");
    assert!(matches!(c.add_freemail_file(&missing), Err(SenderError::Read { .. })));
    let esp = dir.path().join("esp.csv");
    std::fs::write(&esp, "provider,domains\nP,p.example\n").unwrap();
    assert_eq!(c.add_esps_file(&esp).unwrap(), 1);
    assert_eq!(c.counts(), (1, 1, 0));
}

#[test]
fn protect_domain_checks_its_input() {
    let mut c = SenderCatalog::empty();
    c.protect_domain("Parliament.UK.", "own").unwrap();
    c.protect_domain("www.parliament.uk", "again").unwrap();
    for bad in ["", "uk", "co.uk", "a b.example", "-x.example"] {
        assert!(
            matches!(c.protect_domain(bad, "own"), Err(SenderError::Protect { .. })),
            "{bad:?}"
        );
    }
    assert!(c.protect_domain("x.example", " ").is_err());
    let a = c.build();
    let l = a.lookalike("parliament-uk.org").unwrap();
    assert_eq!((l.imitates, l.owner, l.method), ("parliament.uk", "own", AddedWord));
    assert_eq!(a.lookalike("parliament.uk"), None);
    assert_eq!(a.lookalike("parliarnent.uk").map(|l| l.method), Some(Confusable));
}

#[test]
fn own_domains_take_no_added_word() {
    let mut c = SenderCatalog::empty();
    c.protect_own_domain("elmaria.example", "own").unwrap();
    c.protect_domain("haldennews.example", "watchlist").unwrap();
    let a = c.build();
    // Partners reuse the organisation's name; a journalist's outlet gets the full protection.
    assert_eq!(a.lookalike("elmaria-chamber.example"), None);
    assert_eq!(a.lookalike("elmariaherald.example"), None);
    assert_eq!(
        a.lookalike("haldennews-daily.example").map(|l| l.method),
        Some(AddedWord)
    );
    // Every other method still applies to the organisation's own.
    assert_eq!(
        a.lookalike("elmaria.org").map(|l| (l.owner, l.method)),
        Some(("own", TldSwap))
    );
    assert_eq!(a.lookalike("elmarla.example").map(|l| l.method), Some(EditDistance));
}

#[test]
fn hostile_input_never_panics() {
    let a = builtin();
    let long = "a".repeat(300);
    let long_label = format!("{}.example", "b".repeat(200));
    let nasty = [
        "",
        "@",
        "@@",
        "<>",
        "<@>",
        ".",
        "..",
        "xn--",
        "xn--.xn--",
        "xn--zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz.com",
        "ÄÖÜ.DE",
        "İ.example",
        "a@İSTANBUL.example",
        "\u{0}",
        "🙂@🙂.🙂",
        "re:",
        "[",
        "-",
        " - ",
        "Re: ",
        "RÉF: x",
        long.as_str(),
        long_label.as_str(),
    ];
    for s in nasty {
        let _ = a.lookalike(s);
        let _ = a.outlet_of_domain(s);
        let _ = a.analyze(&SenderInput {
            from: Some(s),
            from_name: Some(s),
            envelope: Some(s),
            reply_to: Some(s),
            subject: Some(s),
        });
        let _ = subject_head(s);
        let mut c = SenderCatalog::empty();
        let _ = c.add_outlets_text("x", s);
        let _ = c.add_freemail_text("x", s);
        let _ = c.protect_domain(s, s);
    }
}

#[test]
fn edit_distance_prefilter_never_rejects_a_match() {
    // The class mask and letter counts must be lower bounds of the Damerau–Levenshtein
    // distance, or a real lookalike would be skipped unseen.
    let words = [
        "politico",
        "politlco",
        "pol1tico",
        "oplitico",
        "politic",
        "politicos",
        "reuters",
        "reutres",
        "ruters",
        "guardian",
        "gaurdian",
        "economist",
        "econornist",
        "nytimes",
        "nytime",
        "ntyimes",
        "axios",
        "axois",
        "a-xios",
        "bbci",
        "bcbi",
        "elmaria",
        "elmarla",
        "xn-elmaria",
        "ab",
        "ba",
        "abc",
        "ca",
    ];
    for a in words {
        for b in words {
            let d = strsim::damerau_levenshtein(a, b);
            let (ma, ca) = signature(a);
            let (mb, cb) = signature(b);
            assert!(bag_distance(&ca, &cb) <= d, "{a} {b}");
            assert!((ma ^ mb).count_ones() as usize <= 2 * d, "{a} {b}");
        }
    }
}

#[test]
fn addresses_with_display_names_and_brackets() {
    for (raw, host) in [
        ("Sophie <sophie@bbc-worldnews.example>", Some("bbc-worldnews.example")),
        ("<bounce@Mail.Example.>", Some("Mail.Example")),
        ("\"a@b\" <c@d.example>", Some("d.example")),
        ("d.example", Some("d.example")),
        ("<>", None),
        ("", None),
    ] {
        assert_eq!(host_part(raw), host, "{raw:?}");
    }
    assert_eq!(
        split_address("\"Jane Doe\" <\"jane\"@x.example>"),
        Some(("jane", "x.example"))
    );
    assert_eq!(split_address("x.example"), None);
    let a = builtin();
    let r = a.analyze(&mail(None, "Reuters Desk <reuters-desk@wire.example>", None, None));
    assert_eq!(r.domain.as_deref(), Some("wire.example"));
    assert_eq!(
        r.claim.map(|c| (c.outlet, c.via)),
        Some(("Reuters", ClaimVia::LocalPart))
    );
}

#[test]
fn ascii_skeletons_match_the_unicode_algorithm() {
    for s in [
        "microsoft",
        "rnicrosoft",
        "g00gle",
        "l1I|",
        "bbc-worldnews",
        "politico",
        "0123456789-abcxyz",
        "",
    ] {
        let full: String = unicode_security::skeleton(s).collect();
        assert_eq!(ascii_skeleton(s).collect::<String>(), full, "{s}");
        assert!(skeleton_is(s, &full), "{s}");
    }
    assert_eq!(skeleton_hash("rnicrosoft"), skeleton_hash("microsoft"));
    assert_eq!(skeleton_hash("bbс"), skeleton_hash("bbc")); // Cyrillic es
    assert_ne!(skeleton_hash("bbc"), skeleton_hash("bbd"));
}

/// 500 protected domains whose labels join two words (`parliamentgroup`, `senateoffice`).
fn many_protected() -> SenderAnalyzer {
    const A: [&str; 20] = [
        "parliament",
        "senate",
        "assembly",
        "council",
        "bundestag",
        "riksdag",
        "sejm",
        "cortes",
        "camera",
        "seimas",
        "eduskunta",
        "folketing",
        "storting",
        "saeima",
        "oireachtas",
        "althing",
        "knesset",
        "diet",
        "duma",
        "rada",
    ];
    const B: [&str; 25] = [
        "group", "office", "press", "staff", "member", "party", "union", "green", "labour", "liberal", "left", "right",
        "centre", "north", "south", "east", "west", "europe", "nation", "people", "media", "policy", "trade",
        "defence", "health",
    ];
    let mut c = SenderCatalog::builtin();
    for a in A {
        for b in B {
            c.protect_domain(&format!("{a}{b}.example"), "own").unwrap();
        }
    }
    c.build()
}

#[test]
fn the_length_and_letter_index_keeps_distance_computations_few() {
    let a = many_protected();
    assert!(a.protected.len() >= 590, "{}", a.protected.len());
    for d in [
        "www.consultancy.example.co.uk",
        "static.content-delivery-network.example.net",
        "politlco.example",
    ] {
        DISTANCES.with(|n| n.set(0));
        let _ = a.lookalike(d);
        let n = DISTANCES.with(Cell::get);
        assert!(n <= 5, "{d}: {n} distance computations");
    }
    DISTANCES.with(|n| n.set(0));
    assert_eq!(a.lookalike("politlco.example").map(|l| l.method), Some(EditDistance));
    assert!(DISTANCES.with(Cell::get) >= 1);
}

/// An invented outlet: an unknown domain named like a news brand, with a persona (a person's
/// name with a brand, a journalist's title, a press pretext); a newsletter of an organisation,
/// a person on free mail or a brand without a persona is none.
#[test]
fn invented_outlets_need_a_news_name_and_a_persona() {
    let a = builtin();
    let invented = |name: Option<&str>, from: &str, subject: &str| {
        a.analyze(&SenderInput {
            from: Some(from),
            from_name: name,
            subject: Some(subject),
            ..SenderInput::default()
        })
        .invented_outlet
    };
    assert!(invented(
        Some("Laura Kingsley | The Westminster Briefing"),
        "laura.kingsley@westminster-briefing.example",
        "Your view on the committee report"
    ));
    assert!(invented(
        Some("Daniel Hart, Global Affairs Dispatch"),
        "daniel.hart@globalaffairsdispatch.example",
        "Question"
    ));
    assert!(invented(
        None,
        "desk@harbourgazette.example",
        "Interview request: the China debate"
    ));
    assert!(invented(
        Some("Political Correspondent"),
        "office@eurowire.example",
        "Hello"
    ));
    // No persona, no news name, or a known domain.
    assert!(!invented(
        Some("The Westminster Briefing"),
        "news@westminster-briefing.example",
        "This week"
    ));
    assert!(!invented(
        Some("Constituency News from Harbour District Council"),
        "news@harbourdistrict.example",
        "Constituency News: gritting routes"
    ));
    assert!(!invented(
        Some("Mark Sheldon | Acme Tools"),
        "mark@acmetools.example",
        "Quote"
    ));
    assert!(!invented(
        Some("Capitol Insight"),
        "hello@capitolinsight.example",
        "This week in the Capitol"
    ));
    assert!(!invented(
        Some("Jane Doe | BBC News"),
        "jane.doe@bbc.co.uk",
        "Interview request"
    ));
    assert!(!invented(
        Some("Jane Doe, reporter"),
        "jane.doe@gmail.com",
        "Interview request"
    ));

    assert!(person_name("Mark Sheldon | The Westminster Briefing"));
    assert!(person_name("\"Anna O'Neill - Eurowire\""));
    assert!(person_name("Laura Kingsley"));
    assert!(!person_name("The Westminster Briefing"));
    assert!(!person_name("Westminster Briefing"));
    assert!(!person_name("Global Affairs Dispatch"));
    assert!(!person_name("mark sheldon | briefing"));
    assert!(!person_name("Harbour District Council | News"));
    assert!(!person_name("Madonna"));
    // A person's name alone on a news-brand domain is a persona too.
    assert!(invented(
        Some("Laura Kingsley"),
        "laura@capitolinsight.example",
        "Quick question"
    ));
    assert!(press_pretext("Re: Request for comment - trade"));
    assert!(!press_pretext("Weekly digest"));
}

/// A protected domain as labels of another one, or a distinctive protected label as one of
/// them; known domains never.
#[test]
fn subdomain_lookalikes() {
    let a = builtin();
    let sub = |h: &str| a.subdomain_lookalike(h).map(|l| (l.imitates, l.method));
    assert_eq!(
        sub("bbc.co.uk.world-briefing.example"),
        Some(("bbc.co.uk", LookalikeMethod::Subdomain))
    );
    assert_eq!(
        sub("news@www.bbc.co.uk.world-briefing.example").map(|l| l.0),
        Some("bbc.co.uk")
    );
    assert_eq!(sub("reuters.global-wire.example").map(|l| l.0), Some("reuters.com"));
    assert_eq!(sub("www.bbc.co.uk"), None);
    assert_eq!(
        sub("bbc.world-briefing.example"),
        None,
        "three letters are no distinctive label"
    );
    assert_eq!(sub("mirror.cdn.example"), None, "a common word");
    assert_eq!(sub("world-briefing.example"), None);
}

#[test]
fn news_brand_names() {
    for l in [
        "westminster-briefing",
        "globalaffairsdispatch",
        "harbourgazette",
        "capital-post",
        "eveningpost",
        "eurowire",
        "westminster-today",
        "bbc-worldnews",
    ] {
        assert!(news_brand(l), "{l}");
    }
    for l in [
        "postbox",
        "expressvpn",
        "mediamarkt",
        "wordsmith",
        "harbourdistrict",
        "acmetools",
    ] {
        assert!(!news_brand(l), "{l}");
    }
}
