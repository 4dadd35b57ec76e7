//! End-to-end tests of the `reconwatch` binary on real files, archives, pipes and stdin.

mod common;
use common::*;

use std::io::Write;
use std::process::{Output, Stdio};

/// `n` distinct Squid native lines, one second apart.
fn squid_lines(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{}.{:03} {:6} 10.20.{}.{} TCP_MISS/200 {} GET http://site{}.example.net/p/{i}.gif?t={:08x} user{} \
                 HIER_DIRECT/198.51.100.{} image/gif\n",
                1_610_615_523 + i,
                i % 1000,
                i % 5000,
                i % 200,
                1 + i % 250,
                100 + i,
                i % 17,
                i * 2_654_435_761 % (1 << 32),
                i % 9,
                1 + i % 250
            )
        })
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn stats_json(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("--stats --json prints JSON lines"))
        .collect()
}

/// The events of a `parse` run with `log.file.path` removed (it differs between copies).
fn events_without_path(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["log"]["file"].as_object_mut().unwrap().remove("path");
            v
        })
        .collect()
}

#[test]
fn compressed_inputs_are_recognised_by_content_not_name() {
    let dir = tempfile::tempdir().unwrap();
    let text = squid_lines(500);
    let plain = write(dir.path(), "plain.log", text.as_bytes());
    let gz = write(dir.path(), "rotated-1", gzip(text.as_bytes()));
    let zst = write(
        dir.path(),
        "rotated-2.gz",
        zstd::encode_all(text.as_bytes(), 3).unwrap(),
    );
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(text.as_bytes()).unwrap();
    let bz2 = write(dir.path(), "rotated-3.txt", bz.finish().unwrap());

    let expected = run(&["parse", plain.to_str().unwrap()]);
    assert!(expected.status.success(), "{}", stderr(&expected));
    let expected = events_without_path(&expected);
    assert_eq!(expected.len(), 500);
    for (file, compression) in [(&gz, "gzip"), (&zst, "zstd"), (&bz2, "bzip2")] {
        let o = run(&["parse", file.to_str().unwrap()]);
        assert!(o.status.success(), "{file:?}: {}", stderr(&o));
        assert_eq!(events_without_path(&o), expected, "{file:?}");
        let s = stats_json(&run(&["parse", "--stats", "--json", file.to_str().unwrap()]));
        assert_eq!(s[0]["compression"], compression);
        assert_eq!(s[0]["lines"], 500);
    }
}

#[test]
fn truncated_archive_names_the_file_and_keeps_the_lines_before_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    let full = gzip(squid_lines(20_000).as_bytes());
    let cut = write(dir.path(), "access.log.2.gz", &full[..full.len() / 2]);
    let good = write(dir.path(), "good.log", squid_lines(3).as_bytes());
    let o = run(&["parse", cut.to_str().unwrap(), good.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "a damaged input is an error");
    let err = stderr(&o);
    assert!(err.contains("access.log.2.gz"), "the error names the file: {err}");
    let events = stdout(&o).lines().count();
    assert!(
        events > 1000 && events < 20_000 + 3,
        "lines before the damage are processed: {events}"
    );
    assert!(stdout(&o).contains("good.log"), "the next input is still read");

    let s = stats_json(&run(&["parse", "--stats", "--json", cut.to_str().unwrap()]));
    assert_eq!(s[0]["failure"]["kind"], "read_error");
    assert_eq!(s[0]["events"], s[0]["lines"]);
}

#[test]
fn unrecognised_input_is_an_error_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let junk = write(dir.path(), "notes.txt", b"dear diary\nnothing to see here\n");
    let good = write(dir.path(), "good.log", squid_lines(2).as_bytes());
    let o = run(&["parse", junk.to_str().unwrap(), good.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("notes.txt: no parser recognises this input"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stdout(&o).lines().count(), 2, "the recognised input is still parsed");
}

#[test]
fn stdin_directories_and_globs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
    write(dir.path(), "a/one.log", squid_lines(2).as_bytes());
    write(dir.path(), "a/b/two.log", squid_lines(3).as_bytes());

    let o = run(&["parse", dir.path().join("a").to_str().unwrap()]);
    assert!(o.status.success());
    assert_eq!(stdout(&o).lines().count(), 5);

    let pattern = format!("{}/a/*.log", dir.path().display());
    let o = run(&["parse", &pattern]);
    assert_eq!(stdout(&o).lines().count(), 2);

    let mut child = bin()
        .args(["parse", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(squid_lines(4).as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    let first: serde_json::Value = serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(first["log"]["file"]["path"], "-");
    assert_eq!(first["log"]["offset"], 0);
    assert_eq!(stdout(&o).lines().count(), 4);
}

#[test]
fn over_long_and_invalid_utf8_lines_are_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = squid_lines(1).into_bytes();
    bytes.extend(vec![b'x'; 5000]);
    bytes.push(b'\n');
    let mut bad = squid_lines(1).into_bytes();
    let user = bad.windows(5).position(|w| w == b"user0").unwrap();
    bad[user + 1] = 0xff;
    bytes.extend(bad);
    bytes.extend(squid_lines(2).into_bytes());
    let f = write(dir.path(), "mixed.log", &bytes);
    let o = run(&[
        "parse",
        "--stats",
        "--json",
        "--max-line-bytes",
        "1024",
        f.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = &stats_json(&o)[0];
    assert_eq!(s["lines"], 5);
    assert_eq!(s["truncated"], 1);
    assert_eq!(s["invalid_utf8"], 1);
    assert_eq!(s["errors"], 1, "the cut line is rejected with a reason: {s}");
    assert_eq!(s["events"], 4);
    assert_eq!(s["error_examples"][0]["line"], 2);

    let o = run(&["parse", "--max-line-bytes", "1024", f.to_str().unwrap()]);
    let events: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events[1]["user"]["name"], "u\u{fffd}er0", "invalid bytes become U+FFFD");
}

#[test]
fn offsets_point_at_line_starts_in_the_decompressed_input() {
    let dir = tempfile::tempdir().unwrap();
    let text = squid_lines(50);
    let f = write(dir.path(), "x.gz", gzip(text.as_bytes()));
    let o = run(&["parse", f.to_str().unwrap()]);
    for line in stdout(&o).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let offset = v["log"]["offset"].as_u64().unwrap() as usize;
        let original = v["event"]["original"].as_str().unwrap();
        assert_eq!(&text[offset..offset + original.len()], original);
    }
}

#[test]
fn stats_text_names_file_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = squid_lines(3);
    text.push_str("1610615523.123    234 10.20.3.14 TCP_MISS/2x0 1514 GET http://a.example/ - HIER_DIRECT/1.2.3.4 -\n");
    let f = write(dir.path(), "access.log", text.as_bytes());
    let o = run(&["parse", "--stats", f.to_str().unwrap()]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(
        out.contains(&format!("{}:4: invalid HTTP status (%>Hs)", f.display())),
        "{out}"
    );
    assert!(out.contains("lines 4  events 3"), "{out}");
}

#[test]
fn usage_errors_exit_2_with_the_reason() {
    let o = run(&["parse", "--format", "nonesuch", "x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--format nonesuch: unknown format"),
        "{}",
        stderr(&o)
    );
    let o = run(&["parse", "--timezone", "Mars/Olympus", "x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--timezone Mars/Olympus"));
    let o = run(&["parse", "--squid-logformat", "%ts %nonsense", "x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown Squid format code %nonsense"),
        "{}",
        stderr(&o)
    );
    let o = run(&["parse", "/no/such/file.log"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/no/such/file.log: No such file or directory"));
}

#[test]
fn closed_output_pipe_ends_quietly_with_success() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "big.log", squid_lines(200_000).as_bytes());
    let (code, err) = run_until_output_closed(&["parse", f.to_str().unwrap()]);
    assert_eq!(code, Some(0), "stderr: {err}");
    assert!(err.is_empty(), "no error message for a closed pipe: {err}");
}

#[test]
fn formats_lists_every_format_with_an_example() {
    let o = run(&["formats"]);
    assert!(o.status.success());
    let out = stdout(&o);
    for format in reconwatch::parse::Format::ALL {
        let info = format.info();
        assert!(out.contains(&format!("{} (", info.name)), "{}", info.name);
        assert!(out.contains(info.example), "{}", info.name);
    }
}

#[test]
fn declared_squid_logformat_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "custom.log",
        b"10.1.2.3 bob [14/Jan/2021:09:12:03 +0000] GET http://t.example/p.png 200 43 TCP_MISS\n",
    );
    let logformat = "logformat mine %>a %un [%tl] %rm %ru %>Hs %<st %Ss";
    let o = run(&["parse", "--squid-logformat", logformat, f.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["user"]["name"], "bob");
    assert_eq!(v["event"]["dataset"], "squid.access");
    assert_eq!(v["url"]["domain"], "t.example");
}

#[test]
fn parse_shows_the_computed_fields_with_a_context() {
    let d = tempfile::tempdir().unwrap();
    let log = write(
        d.path(),
        "access.log",
        "1610356022.503    224 10.20.9.10 TCP_MISS/200 464 GET https://bbc-worldnews.example/p.gif?id=H6jS30rkoIEXXK3A&c=w1 bennettf HIER_DIRECT/198.51.100.183 image/gif\n",
    );
    let people = write(
        d.path(),
        "people.csv",
        "email,name,group,usernames,ips\nfiona.bennett.mp@parliament.example,Fiona Bennett,parliamentarian,bennettf,\n",
    );
    let log = log.to_str().unwrap();
    let event = |o: &Output| -> serde_json::Value {
        assert!(o.status.success(), "{}", stderr(o));
        serde_json::from_str(stdout(o).trim()).unwrap()
    };
    // Plain parse: ECS only.
    assert!(event(&run(&["parse", log])).get("reconwatch").is_none());
    // A watchlist implies enrichment: the person behind the proxy user name, the pixel.
    let ev = event(&run(&[
        "parse",
        "--watchlist",
        &format!("vip={}", people.display()),
        log,
    ]));
    let rw = &ev["reconwatch"];
    assert_eq!(rw["person"]["email"][0], "fiona.bennett.mp@parliament.example");
    assert_eq!(rw["url"]["pixel"], true);
    assert_eq!(rw["url"]["lookalike"][0], "bbc.co.uk");
    // --enrich alone: URL analysis, no person.
    let ev = event(&run(&["parse", "--enrich", log]));
    assert_eq!(ev["reconwatch"]["url"]["tokens"][0], "H6jS30rkoIEXXK3A");
    assert!(ev["reconwatch"].get("person").is_none());
}
