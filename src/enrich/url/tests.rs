use super::*;

const JANE: &str = "jane.doe@example.org";

#[test]
fn parts_and_registered_domain() {
    // (url, host, registered domain, path, query)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, Option<&'a str>);
    let cases: &[Case] = &[
        (
            "https://link.ft.com/r/abc?x=1",
            "link.ft.com",
            Some("ft.com"),
            "/r/abc",
            Some("x=1"),
        ),
        ("http://a.b.co.uk/", "a.b.co.uk", Some("b.co.uk"), "/", None),
        ("https://co.uk/x", "co.uk", None, "/x", None),
        (
            "https://Mail.Example.COM./x#f",
            "mail.example.com",
            Some("example.com"),
            "/x",
            None,
        ),
        (
            "https://x.y.bbc-worldnews.example/p.gif",
            "x.y.bbc-worldnews.example",
            Some("bbc-worldnews.example"),
            "/p.gif",
            None,
        ),
        (
            "https://news.unknowntld/a",
            "news.unknowntld",
            Some("news.unknowntld"),
            "/a",
            None,
        ),
        (
            "http://192.0.2.7:8080/p.gif?id=1",
            "192.0.2.7",
            None,
            "/p.gif",
            Some("id=1"),
        ),
        ("http://[2001:db8::1]:443/a", "2001:db8::1", None, "/a", None),
        (
            "https://xn--bcher-kva.example/k",
            "xn--bcher-kva.example",
            Some("xn--bcher-kva.example"),
            "/k",
            None,
        ),
        (
            "https://user:pw@host.example.net:8443/a?b",
            "host.example.net",
            Some("example.net"),
            "/a",
            Some("b"),
        ),
        (
            "//cdn.example.com/i.png",
            "cdn.example.com",
            Some("example.com"),
            "/i.png",
            None,
        ),
        (
            "www.example.com/path?q=1",
            "www.example.com",
            Some("example.com"),
            "/path",
            Some("q=1"),
        ),
        (
            "mail.example.com:443",
            "mail.example.com",
            Some("example.com"),
            "",
            None,
        ),
        ("http://localhost/x", "localhost", None, "/x", None),
        ("/open/abc?e=1", "", None, "/open/abc", Some("e=1")),
        ("index.html?x=1", "", None, "index.html", Some("x=1")),
        ("", "", None, "", None),
        ("https://", "", None, "", None),
        ("://nohost", "", None, "://nohost", None),
        ("ht tp://a b/c", "", None, "ht tp://a b/c", None),
        // The PSL's private section: these hosting suffixes are public suffixes themselves.
        (
            "https://s3.amazonaws.com/bucket/x",
            "s3.amazonaws.com",
            None,
            "/bucket/x",
            None,
        ),
        (
            "https://b.s3.amazonaws.com/x",
            "b.s3.amazonaws.com",
            Some("b.s3.amazonaws.com"),
            "/x",
            None,
        ),
        (
            "https://foo.github.io/x",
            "foo.github.io",
            Some("foo.github.io"),
            "/x",
            None,
        ),
    ];
    for &(url, host, reg, path, query) in cases {
        let a = analyze(url);
        assert_eq!(a.host(), host, "host of {url:?}");
        assert_eq!(a.registered_domain(), reg, "registered domain of {url:?}");
        assert_eq!(a.path(), path, "path of {url:?}");
        assert_eq!(a.query(), query, "query of {url:?}");
    }
}

#[test]
fn host_kinds_and_ports() {
    let cases: &[(&str, HostKind, Option<&str>)] = &[
        ("https://a.example/", HostKind::Domain, None),
        ("https://a.example:8443/", HostKind::Domain, Some("8443")),
        ("http://10.1.2.3/", HostKind::Ipv4, None),
        ("http://[::1]:80/", HostKind::Ipv6, Some("80")),
        ("/x", HostKind::None, None),
    ];
    for &(url, kind, port) in cases {
        let a = analyze(url);
        assert_eq!(a.host_kind(), kind, "{url:?}");
        assert_eq!(a.port(), port, "{url:?}");
    }
}

#[test]
fn origin_form_takes_the_given_host() {
    let a = analyze_with_host("/p.gif?id=H6jS30rkoIEXXK3A&c=w1", Some("News.Example.co.uk:8080"));
    assert_eq!(a.host(), "news.example.co.uk");
    assert_eq!(a.port(), Some("8080"));
    assert_eq!(a.registered_domain(), Some("example.co.uk"));
    assert_eq!(a.template(), "news.example.co.uk:8080/p.gif?id={b64:16}&c=w1");
    // A URL with its own host ignores the given one.
    let b = analyze_with_host("https://a.example/x", Some("other.example"));
    assert_eq!(b.host(), "a.example");
}

#[test]
fn segments_and_pairs() {
    let a = analyze("https://h.example//a/b.gif/?k=v&flag&&x=&=y#frag");
    assert_eq!(a.path_segments().collect::<Vec<_>>(), ["a", "b.gif"]);
    assert_eq!(
        a.query_pairs().collect::<Vec<_>>(),
        [("k", "v"), ("", "flag"), ("x", ""), ("", "y")]
    );
    let places: Vec<_> = a.tokens().iter().map(|t| (t.place, t.raw, t.key)).collect();
    assert_eq!(
        places,
        [
            (TokenPlace::PathSegment(0), "a", None),
            (TokenPlace::PathSegment(1), "b.gif", None),
            (TokenPlace::PathStem(1), "b", None),
            (TokenPlace::QueryValue(0), "v", Some("k")),
            (TokenPlace::QueryValue(1), "flag", None),
            (TokenPlace::QueryValue(2), "", Some("x")),
            (TokenPlace::QueryValue(3), "y", Some("")),
            (TokenPlace::Fragment, "frag", None),
        ]
    );
}

#[test]
fn alphabets_and_token_likeness() {
    // (token, alphabet, token-like)
    let cases: &[(&str, Alphabet, bool)] = &[
        ("H6jS30rkoIEXXK3A", Alphabet::Alphanumeric, true),
        ("ae85f3c09b1d4e2a8c7f6b5d4e3a2c1", Alphabet::Hex, true),
        ("AE85F3C09B1D", Alphabet::Hex, true),
        ("1a2b3c4d5e", Alphabet::Hex, true),
        ("deadbeef", Alphabet::Hex, false),
        ("facade", Alphabet::Hex, false),
        ("123e4567-e89b-12d3-a456-426614174000", Alphabet::Uuid, true),
        ("1732590000", Alphabet::Decimal, false),
        ("1234567890123456", Alphabet::Decimal, true),
        ("JBSWY3DPEHPK3PXP", Alphabet::Base32, true),
        ("amFuZS5kb2VAZXhhbXBsZS5vcmc=", Alphabet::Base64, true),
        ("amFuZS5kb2VAZXhhbXBsZS5vcmc%3D", Alphabet::Base64, true),
        ("dXNlcj4/QHguZXhhbXBsZQ", Alphabet::Base64, true),
        ("dXNlcj4_QHguZXhhbXBsZQ", Alphabet::Base64Url, true),
        ("my-article-title", Alphabet::Base64Url, false),
        ("2024-11-26-newsletter", Alphabet::Base64Url, false),
        ("subscription", Alphabet::Alphanumeric, false),
        ("MyArticleTitle", Alphabet::Alphanumeric, false),
        ("newsletter2024", Alphabet::Alphanumeric, false),
        // Random letters and digits with few digits (few changes of kind) read like no word.
        ("oo68tpuvaomn", Alphabet::Alphanumeric, true),
        ("kjchjygedr2i", Alphabet::Alphanumeric, true),
        ("budgetreport2021", Alphabet::Alphanumeric, false),
        // Twelve random letters and digits that repeat characters (entropy 2.69 of at most
        // 3.58 bits): short tokens are held to one bit under their length's most.
        ("1krm81imcim8", Alphabet::Alphanumeric, true),
        ("xy12xy12xy12", Alphabet::Alphanumeric, false),
        ("parliament2021", Alphabet::Alphanumeric, false),
        ("index.html", Alphabet::Other, false),
        ("a%40b.example", Alphabet::Other, false),
        ("w1", Alphabet::Alphanumeric, false),
        ("", Alphabet::Other, false),
        ("%zz%", Alphabet::Other, false),
    ];
    for &(raw, alphabet, like) in cases {
        let t = Token::new(raw, None, TokenPlace::Fragment);
        assert_eq!(t.alphabet, alphabet, "alphabet of {raw:?}");
        assert_eq!(is_token_like(&t), like, "token-likeness of {raw:?} ({t:?})");
    }
}

#[test]
fn entropy_and_decoded_length() {
    let t = Token::new("aaaa", None, TokenPlace::Fragment);
    assert_eq!(t.entropy(), 0.0);
    let t = Token::new("abcd", None, TokenPlace::Fragment);
    assert!((t.entropy() - 2.0).abs() < 1e-6);
    let t = Token::new("a%40b", None, TokenPlace::Fragment);
    assert_eq!(t.len, 3);
    assert!((t.entropy() - 3f32.log2()).abs() < 1e-6);
}

#[test]
fn templates() {
    let cases: &[(&str, &str)] = &[
        (
            "https://bbc-worldnews.example/p.gif?id=H6jS30rkoIEXXK3A&c=w1",
            "https://bbc-worldnews.example/p.gif?id={b64:16}&c=w1",
        ),
        (
            "HTTPS://Click.ESP.example/ls/click?upn=amFuZS5kb2VAZXhhbXBsZS5vcmc%3D&s=2",
            "https://click.esp.example/ls/click?upn={b64:28}&s=2",
        ),
        (
            "https://open.esp.example/o/ae85f3c09b1d4e2a8c7f6b5d4e3a2c10.gif",
            "https://open.esp.example/o/{hex:32}.gif",
        ),
        (
            "https://t.esp.example/r/eyJlIjoiamFuZS5kb2VAZXhhbXBsZS5vcmciLCJjIjo3fQ==/",
            "https://t.esp.example/r/{b64:48}/",
        ),
        (
            "https://news.example/article/2024/11/my-article-title?utm_source=nl&uid=48213377",
            "https://news.example/article/2024/11/my-article-title?utm_source=nl&uid={dec:8}",
        ),
        (
            "https://x.example/u/123e4567-e89b-12d3-a456-426614174000#H6jS30rkoIEXXK3A",
            "https://x.example/u/{uuid:36}#{b64:16}",
        ),
        ("/plain?&a", "/plain?&a"),
        ("http://[::1]:80/x", "http://[::1]:80/x"),
        ("junk", "junk"),
    ];
    for &(url, want) in cases {
        assert_eq!(analyze(url).template(), want, "template of {url:?}");
    }
    // Two recipients of one campaign share a template.
    let a = analyze("https://bbc-worldnews.example/p.gif?id=H6jS30rkoIEXXK3A&c=w1");
    let b = analyze("https://bbc-worldnews.example/p.gif?id=Zq81mXw0aPLtR7c2&c=w1");
    assert_eq!(a.template(), b.template());
    // Varying-length tokens group by shape only.
    let c = analyze("https://e.example/c?u=amFuZS5kb2VAZXhhbXBsZS5vcmc");
    let d = analyze("https://e.example/c?u=Ym9iQGV4YW1wbGUub3JnMTIzNDU2");
    assert_eq!(c.template_shape(), "https://e.example/c?u={b64}");
    assert_eq!(c.template_shape(), d.template_shape());
}

#[test]
fn recipient_encodings() {
    let keys = RecipientKeys::new("  Jane.Doe@Example.org ");
    assert_eq!(keys.address(), JANE);
    // (url, expected (kind, exact))
    let cases: &[(&str, Option<(EncodingKind, bool)>)] = &[
        (
            "https://esp.example/c?e=jane.doe%40example.org",
            Some((EncodingKind::Plain, true)),
        ),
        (
            "https://esp.example/c?e=JANE.DOE%40EXAMPLE.ORG&x=1",
            Some((EncodingKind::Plain, true)),
        ),
        (
            "https://esp.example/u/jane.doe@example.org/x",
            Some((EncodingKind::Plain, true)),
        ),
        (
            "https://esp.example/c?to=mailto%3Ajane.doe%40example.org",
            Some((EncodingKind::Plain, false)),
        ),
        (
            "https://esp.example/c?u=amFuZS5kb2VAZXhhbXBsZS5vcmc",
            Some((EncodingKind::Base64, true)),
        ),
        (
            "https://esp.example/c?u=amFuZS5kb2VAZXhhbXBsZS5vcmc=",
            Some((EncodingKind::Base64, true)),
        ),
        (
            "https://esp.example/c?u=amFuZS5kb2VAZXhhbXBsZS5vcmc%3D",
            Some((EncodingKind::Base64, true)),
        ),
        (
            "https://esp.example/c/amFuZS5kb2VAZXhhbXBsZS5vcmd8Yz03",
            Some((EncodingKind::Base64, false)),
        ),
        (
            "https://esp.example/o/b49be4c6d5b60918bf27d1189d8f326d.gif",
            Some((EncodingKind::Md5, false)),
        ),
        (
            "https://esp.example/o?h=B49BE4C6D5B60918BF27D1189D8F326D",
            Some((EncodingKind::Md5, true)),
        ),
        (
            "https://esp.example/o?h=395059822cad73bf29f93d7f70738e7b72b79cfb",
            Some((EncodingKind::Sha1, true)),
        ),
        (
            "https://esp.example/o?h=7f73355bf032dcbb8e5a3f51f1e4a8ba92ef1344de2d95382634cf91da6d6181",
            Some((EncodingKind::Sha256, true)),
        ),
        (
            "https://esp.example/x?a=6a616e652e646f65406578616d706c652e6f7267",
            Some((EncodingKind::Hex, true)),
        ),
        // Base64 of the address as given (mixed case) also counts.
        (
            "https://esp.example/c?u=SmFuZS5Eb2VARXhhbXBsZS5vcmc",
            Some((EncodingKind::Base64, true)),
        ),
        ("https://esp.example/c?u=am9obkBleGFtcGxlLm9yZw", None),
        ("https://bbc-worldnews.example/p.gif?id=H6jS30rkoIEXXK3A&c=w1", None),
        ("https://esp.example/", None),
        ("", None),
    ];
    for &(url, want) in cases {
        let got = keys.encoded_in(&analyze(url)).map(|e| (e.kind, e.exact));
        assert_eq!(got, want, "encoding in {url:?}");
    }
    // The token index points at the token.
    let a = analyze("https://esp.example/c?x=1&u=amFuZS5kb2VAZXhhbXBsZS5vcmc");
    let e = keys.encoded_in(&a).expect("found");
    assert_eq!(a.tokens()[e.token].key, Some("u"));
}

#[test]
fn base64url_differs_from_base64() {
    let keys = RecipientKeys::new("user>?@x.example");
    let cases: &[(&str, Option<EncodingKind>)] = &[
        (
            "https://e.example/c?u=dXNlcj4_QHguZXhhbXBsZQ",
            Some(EncodingKind::Base64Url),
        ),
        (
            "https://e.example/c?u=dXNlcj4_QHguZXhhbXBsZQ==",
            Some(EncodingKind::Base64Url),
        ),
        (
            "https://e.example/c?u=dXNlcj4%2FQHguZXhhbXBsZQ%3D%3D",
            Some(EncodingKind::Base64),
        ),
        ("https://e.example/c?u=dXNlcj4-QHguZXhhbXBsZQ", None),
    ];
    for &(url, want) in cases {
        assert_eq!(keys.encoded_in(&analyze(url)).map(|e| e.kind), want, "{url:?}");
    }
}

#[test]
fn encodes_recipient_on_urls_and_bare_tokens() {
    let cases: &[(&str, &str, Option<EncodingKind>)] = &[
        ("amFuZS5kb2VAZXhhbXBsZS5vcmc", JANE, Some(EncodingKind::Base64)),
        ("b49be4c6d5b60918bf27d1189d8f326d", JANE, Some(EncodingKind::Md5)),
        (
            "https://a.example/?e=a%40b.example",
            "a@b.example",
            Some(EncodingKind::Plain),
        ),
        ("https://a.example/?e=a%40b.example", "c@b.example", None),
        // Too short an address is never looked for.
        ("https://a.example/?e=a@b", "a@b", None),
        ("", "", None),
    ];
    for &(url, rcpt, want) in cases {
        assert_eq!(encodes_recipient(url, rcpt).map(|e| e.kind), want, "{url:?} / {rcpt:?}");
    }
}

#[test]
fn long_tokens_take_the_heap_path() {
    let long = format!("https://e.example/c?u={}{}", "x".repeat(600), "jane.doe%40example.org");
    let keys = RecipientKeys::new(JANE);
    let e = keys.encoded_in(&analyze(&long)).expect("found");
    assert_eq!((e.kind, e.exact), (EncodingKind::Plain, false));
    // Long and upper-case, nothing to decode.
    let long = format!("https://e.example/c?u={}JANE.DOE@EXAMPLE.ORG", "X".repeat(600));
    let e = keys.encoded_in(&analyze(&long)).expect("found");
    assert_eq!((e.kind, e.exact), (EncodingKind::Plain, false));
}

#[test]
fn pixel_signals() {
    // (url, content type, body bytes, likely)
    let cases: &[(&str, Option<&str>, Option<u64>, bool)] = &[
        (
            "https://bbc-worldnews.example/p.gif?id=H6jS30rkoIEXXK3A&c=w1",
            None,
            None,
            true,
        ),
        (
            "https://open.esp.example/o/ae85f3c09b1d4e2a8c7f6b5d4e3a2c10.gif",
            None,
            None,
            true,
        ),
        ("https://esp.example/track/open?u=1", None, None, true),
        ("https://esp.example/wf/open?upn=abc", None, None, true),
        ("https://esp.example/img/1x1.png", None, None, true),
        ("https://esp.example/beacon", None, None, true),
        ("https://cdn.example/img/spacer.GIF", None, None, true),
        ("https://cdn.example/img/o.png", None, None, true),
        ("https://esp.example/e", None, None, false),
        ("https://news.example/view", None, None, false),
        ("https://esp.example/open.php?u=1", None, None, true),
        ("https://cdn.example/i?w=1&h=1", None, None, true),
        ("https://cdn.example/i?size=1x1", None, None, true),
        ("https://cdn.example/img/header.png", None, None, false),
        (
            "https://cdn.example/img/header.png",
            Some("image/png"),
            Some(48_213),
            false,
        ),
        ("https://cdn.example/img/header.png", None, Some(43), true),
        ("https://cdn.example/x", Some("Image/gif"), Some(43), true),
        ("https://cdn.example/x", Some("text/html"), Some(43), false),
        ("https://news.example/open-letter-to-readers", None, None, false),
        // A token under a pixel-named directory, and a token answered with an image.
        (
            "http://newsmetrics-cdn.example/open/iMf5JVKbH0axiMntosr3",
            None,
            None,
            true,
        ),
        ("https://t.esp.example/track/ae85f3c09b1d4e2a8c7f", None, None, true),
        ("https://news.example/open/letters-to-the-editor", None, None, false),
        ("https://news.example/open/iMf5JVKbH0axiMntosr3.html", None, None, false),
        (
            "https://cdn.example/i/iMf5JVKbH0axiMntosr3",
            Some("image/png"),
            Some(922),
            true,
        ),
        (
            "https://cdn.example/i/iMf5JVKbH0axiMntosr3",
            Some("text/html"),
            Some(922),
            false,
        ),
        ("https://news.example/", None, None, false),
        ("", None, None, false),
    ];
    for &(url, ct, body, likely) in cases {
        let p = analyze(url).pixel(ct, body);
        assert_eq!(p.likely, likely, "pixel {url:?} {ct:?} {body:?}: {p:?}");
    }
    let p = analyze("https://cdn.example/p.gif").pixel(Some("image/gif"), Some(43));
    assert!(p.image_extension && p.pixel_name && p.image_content_type && p.tiny_body);
    assert!(!p.token_image && !p.one_by_one);
}

#[test]
fn shorteners_and_redirectors() {
    // (url, shortener, redirector)
    let cases: &[(&str, bool, bool)] = &[
        ("https://bit.ly/3xYzAbC", true, false),
        ("https://t.co/AbCdEf123", true, false),
        ("https://www.tinyurl.com/y3k", true, false),
        ("https://lnkd.in/eXyZ", true, false),
        ("https://tco.example/x", false, false),
        ("https://notbit.ly/x", false, false),
        ("https://www.google.com/url?q=https://x.example", false, true),
        ("https://google.com/search?q=x", false, false),
        (
            "https://nam12.safelinks.protection.outlook.com/?url=https%3A%2F%2Fx.example",
            false,
            true,
        ),
        (
            "https://urldefense.proofpoint.com/v2/url?u=https-3A__x.example",
            false,
            true,
        ),
        ("https://l.facebook.com/l.php?u=https%3A%2F%2Fx.example", false, true),
        ("https://evil-l.facebook.com.example/l.php", false, false),
        ("https://www.youtube.com/redirect?q=x", false, true),
        ("https://www.youtube.com/watch?v=x", false, false),
        ("/url?q=x", false, false),
    ];
    for &(url, short, redir) in cases {
        let a = analyze(url);
        assert_eq!(a.is_shortener(), short, "shortener {url:?}");
        assert_eq!(a.is_redirector(), redir, "redirector {url:?}");
    }
}

#[test]
fn newsletter_links_have_tokens() {
    // (url, has a token-like token)
    let cases: &[(&str, bool)] = &[
        (
            "https://click.e.ft.com/ls/click?upn=u001.Qk9iL2pYb3lmR3pwV0x5dzRPQUpkQT09-2FxZ",
            true,
        ),
        (
            "https://us20.list-manage.com/track/click?u=8f3a9b2c1d4e5f60718293a4b&id=0a1b2c3d4e&e=5f6e7d8c9b",
            true,
        ),
        ("https://news.example/world/2024/11/26/story-title", false),
        ("https://news.example/search?q=election+results&page=2", false),
    ];
    for &(url, want) in cases {
        assert_eq!(analyze(url).has_token(), want, "{url:?}");
    }
}

#[test]
fn junk_never_panics() {
    let junk = [
        "",
        " ",
        "?",
        "#",
        "/",
        "//",
        ":///",
        "[",
        "http://[",
        "http://[::1",
        "http://a:b:c/",
        "%",
        "%%%",
        "%e2%82",
        "é://ü",
        "https://ü.example/ä?ö=ß#€",
        "http://.",
        "http://..",
        "http://a..b/",
        "?&&==&",
        "http://@/",
        "http://:80/",
        "\u{0}\u{1}",
        "a=b&c",
        "http://x.example/.gif",
        "http://x.example/a.",
        "http://1.2.3.4.5/",
        "http://[zz]/",
    ];
    let keys = RecipientKeys::new(JANE);
    for j in junk {
        let a = analyze(j);
        let _ = (a.template(), a.template_shape(), a.pixel(Some("é"), Some(0)));
        let _ = (
            a.registered_domain(),
            a.is_shortener(),
            a.is_redirector(),
            a.has_token(),
        );
        let _ = keys.encoded_in(&a);
        let _ = analyze_with_host(j, Some(j)).template();
        let _ = encodes_recipient(j, j);
    }
}

#[test]
fn host_of_absolute_and_scheme_relative_urls() {
    let cases: &[(&str, Option<&str>)] = &[
        ("https://user@Mail.Example:8443/x?y#z", Some("Mail.Example")),
        ("http://a.example", Some("a.example")),
        ("//cdn.example/p.gif", Some("cdn.example")),
        ("https://[2001:db8::1]:443/", Some("2001:db8::1")),
        ("/path/only", None),
        ("https:///nohost", None),
        ("", None),
    ];
    for (u, want) in cases {
        assert_eq!(host_of(u), *want, "{u}");
    }
}

/// The table-driven classification agrees with the alphabets' definitions, written out
/// plainly, on every token of a sample of shapes (including padding in the middle).
#[test]
fn classification_matches_the_definitions() {
    fn reference(d: &[u8]) -> Alphabet {
        let pad = d.iter().rev().take_while(|&&b| b == b'=').count();
        let body = &d[..d.len() - pad];
        let all = |f: fn(u8) -> bool| body.iter().all(|&b| f(b));
        let has = |f: fn(u8) -> bool| d.iter().any(|&b| f(b));
        let clean_pad = !body.contains(&b'=');
        if d.is_empty() {
            Alphabet::Other
        } else if pad == 0 && all(|b| b.is_ascii_digit()) {
            Alphabet::Decimal
        } else if d.len() == 36
            && d.iter().enumerate().all(|(i, &b)| {
                if matches!(i, 8 | 13 | 18 | 23) {
                    b == b'-'
                } else {
                    b.is_ascii_hexdigit()
                }
            })
        {
            Alphabet::Uuid
        } else if pad == 0 && all(|b| b.is_ascii_hexdigit()) {
            Alphabet::Hex
        } else if clean_pad
            && pad <= 6
            && all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
            && has(|b| b.is_ascii_digit())
        {
            Alphabet::Base32
        } else if pad == 0 && all(|b| b.is_ascii_alphanumeric()) {
            Alphabet::Alphanumeric
        } else if clean_pad
            && pad <= 2
            && all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
            && (has(|b| b == b'+' || b == b'/') || pad > 0)
        {
            Alphabet::Base64
        } else if clean_pad
            && pad <= 2
            && all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && (has(|b| b == b'-' || b == b'_') || pad > 0)
        {
            Alphabet::Base64Url
        } else {
            Alphabet::Other
        }
    }
    let samples = [
        "",
        "0",
        "12345",
        "abc",
        "ABC",
        "deadBEEF",
        "a1b2c3d4e5f6",
        "MZXW6YTBOI",
        "MZXW6YTB====",
        "MZXW6===YTB",
        "aGVsbG8=",
        "aGVs=bG8",
        "a+b/c==",
        "a-b_c=",
        "a-b_c===",
        "uuid",
        "123e4567-e89b-12d3-a456-426614174000",
        "123e4567-e89b-12d3-a456-42661417400g",
        "H6jS30rkoIEXXK3A",
        "x.y",
        "2021-01-11",
        "ÿé",
        "A2345672",
        "====",
    ];
    for s in samples {
        let url = format!("https://h.example/?v={s}");
        let a = analyze(&url);
        let t = a.tokens().last().expect("a query value");
        assert_eq!(t.alphabet, reference(s.as_bytes()), "{s:?}");
    }
}

/// The shapes per-recipient identifiers take besides long random strings: letters only, short
/// ones where identifiers stand, 8 hex, ids of 8+ digits under id keys, a host label, a
/// shortener's path, a path segment on cloud storage — and one identifier per segment.
#[test]
fn identifiers_of_every_shape() {
    // (url, its key)
    let cases: &[(&str, Option<&str>)] = &[
        (
            "https://t.brand.example/o.gif?id=olfjknnzcbzhtw",
            Some("brand.example/o.gif#olfjknnzcbzhtw"),
        ),
        (
            "https://t.brand.example/p.gif?uid=a8K3x2",
            Some("brand.example/p.gif#a8K3x2"),
        ),
        (
            "https://t.brand.example/p.gif?e=48213377",
            Some("brand.example/p.gif#48213377"),
        ),
        (
            "https://t.brand.example/open?r=9f3a0c7e",
            Some("brand.example/open#9f3a0c7e"),
        ),
        (
            "http://kw3ue9.px.brand.example/1x1.gif",
            Some("brand.example/1x1.gif#kw3ue9"),
        ),
        (
            "http://KW3UE9.px.brand.example/1x1.gif",
            Some("brand.example/1x1.gif#kw3ue9"),
        ),
        (
            "https://storage.googleapis.com/press-kit/i/bfzdpv.png",
            Some("storage.googleapis.com/press-kit/i/{}.png#bfzdpv"),
        ),
        ("https://bit.ly/3XToDVn", Some("bit.ly/{}#3XToDVn")),
        // A shortener's code of any letters and digits: base32, hex or digits by chance.
        ("https://bit.ly/7FOA7NS", Some("bit.ly/{}#7FOA7NS")),
        ("https://bit.ly/3a9fc1e", Some("bit.ly/{}#3a9fc1e")),
        ("https://bit.ly/3145926", Some("bit.ly/{}#3145926")),
        (
            "https://img.brand.example/t/H6jS30rkoIEXXK3A.gif",
            Some("brand.example/t/{}.gif#H6jS30rkoIEXXK3A"),
        ),
        (
            "https://u1234567.ct.sendgrid.net/wf/open?upn=Qk9iL2pYb3lmR3pwV0x5dzRPQUpkQT09",
            Some("sendgrid.net/wf/open#Qk9iL2pYb3lmR3pwV0x5dzRPQUpkQT09"),
        ),
        // Words, slugs, dates, versions and small numbers identify no one.
        ("https://news.example/world/2021/01/11/trade-rules-border", None),
        ("https://news.example/search?q=election&page=2", None),
        ("https://www.news.example/newsletter/subscription?ref=homepage", None),
        ("https://cdn.example/static/img/logo.png", None),
        (
            "https://news.example/a?utm_source=newsletter&utm_medium=email&utm_campaign=weekly",
            None,
        ),
        ("https://www.example.com/images/banner.jpg", None),
        ("https://shop.example/product/12345?s=politics", None),
    ];
    for &(url, want) in cases {
        assert_eq!(analyze(url).key().as_deref(), want, "{url}");
    }
    // A long token keyed by its first 64 characters: the mail log that cut it at its 200-byte
    // line limit and the request that fetched it whole join.
    let upn = "TDPJAhas4PjqP1pk9vpkt7cF7P0WkQfbtUibR8hNkUiANILVminigiwGAzbtzkWop_H2JpdYdiRNIwNnpHf0uguaVQjj5ofe8W3e4mtUVqN6D_FTIXT0ezIGHqcgxDvrvtMzC-FJ-jb2s3C8X_nvxK";
    let whole = analyze(&format!("https://u28598849.ct.sendgrid.net/wf/open?upn={upn}")).key();
    let cut = analyze(&format!(
        "https://u28598849.ct.sendgrid.net/wf/open?upn={}",
        &upn[..100]
    ))
    .key();
    assert_eq!(whole, cut);
    assert_eq!(whole.as_deref(), Some(&*format!("sendgrid.net/wf/open#{}", &upn[..64])));
    // And so is its template.
    let template = |u: &str| analyze(&format!("https://u28598849.ct.sendgrid.net/wf/open?upn={u}")).template();
    assert_eq!(template(upn), template(&upn[..100]));
    assert_eq!(template(upn), "https://u28598849.ct.sendgrid.net/wf/open?upn={b64:64}");
    assert_eq!(
        analyze("http://kw3ue9.px.brand.example/1x1.gif").template(),
        "http://{b64:6}.px.brand.example/1x1.gif"
    );
    // Random letters are no words; words are.
    for w in ["olfjknnzcbzhtw", "bfzdpv", "xqzvkwjh", "pzjtvr", "mkgwbdxn"] {
        assert!(unwordlike(w), "{w}");
    }
    for w in [
        "newsletter",
        "subscription",
        "homepage",
        "unsubscribe",
        "politics",
        "election",
        "images",
    ] {
        assert!(!unwordlike(w), "{w}");
    }
}

/// Short identifiers where identifiers stand join, but make no token (and no pixel) of their
/// own: image assets are named the same way.
#[test]
fn short_identifiers_join_but_make_no_token() {
    for url in [
        "https://static.shop.example/images/466/hv8lx780.jpg",
        "http://t.brand.example/i/AbQxTe.gif",
        "https://t.brand.example/p.gif?sid=48213377",
    ] {
        let a = analyze(url);
        assert!(a.key().is_some(), "{url}");
        assert!(!a.has_token(), "{url}");
        assert!(!a.pixel(Some("image/jpeg"), Some(40_000)).token_image, "{url}");
    }
    // Mixed-case letters in an identifier's place, and words that are not.
    assert!(analyze("http://t.brand.example/i/AbQxTe.gif").key().is_some());
    assert!(analyze("http://t.brand.example/i/Banner.gif").key().is_none());
    assert!(analyze("http://t.brand.example/i/banner.gif").key().is_none());
}

#[test]
fn short_random_letters_in_an_identifiers_place() {
    for stem in ["tnavpI", "aBcDeF", "qkzvxb", "AbQxTe"] {
        let url = format!("http://media.brand.example/i/{stem}.gif");
        assert!(analyze(&url).key().is_some(), "{url}");
    }
    for stem in [
        "banner", "Banner", "BANNER", "header", "spacer", "footer", "twitter", "linkedin",
    ] {
        let url = format!("http://media.brand.example/i/{stem}.gif");
        assert!(analyze(&url).key().is_none(), "{url}");
    }
}

/// The last `@` ends the user part; one colon after it parts host and port, several are a bare
/// IPv6 address; brackets hold an IPv6 address and an empty port is none.
#[test]
fn authorities_split_into_host_and_port() {
    for (authority, host, port) in [
        ("mail.example", "mail.example", None),
        ("Mail.Example:8443", "Mail.Example", Some("8443")),
        ("user@mail.example:8443", "mail.example", Some("8443")),
        ("user:secret@mail.example", "mail.example", None),
        ("a@b:1@mail.example:25", "mail.example", Some("25")),
        ("mail.example:", "mail.example", None),
        ("2001:db8::1", "2001:db8::1", None),
        ("u:p@2001:db8::1", "2001:db8::1", None),
        ("[2001:db8::1]:443", "2001:db8::1", Some("443")),
        ("u@[2001:db8::1]", "2001:db8::1", None),
        ("[2001:db8::1", "2001:db8::1", None),
        ("", "", None),
        ("@", "", None),
    ] {
        assert_eq!(split_authority(authority), (host, port), "{authority}");
    }
}
