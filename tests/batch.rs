//! End-to-end tests of parallel batch runs: `reconwatch parse` must print the same bytes and
//! count the same statistics on one thread as on several with files split into small chunks;
//! for a split mail log, the same events in an order that may differ at the chunks' seams
//! (messages completed past a chunk's end come before the next chunk's), and `scan` the same
//! alerts, compared sorted.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Output;

/// The ways a run is split: one thread (never split) and several with tiny chunks.
const SINGLE: &[&str] = &["--threads", "1"];
const SPLIT: &[&str] = &["--threads", "4", "--chunk-size", "4KiB"];

/// Runs `parse` with `mode` and `args` on `paths`; returns the output.
fn parse(mode: &[&str], args: &[&str], paths: &[&Path]) -> Output {
    let mut all = vec!["parse"];
    all.extend_from_slice(mode);
    all.extend_from_slice(args);
    let paths: Vec<&str> = paths.iter().map(|p| p.to_str().unwrap()).collect();
    all.extend_from_slice(&paths);
    run(&all)
}

/// The lines of `bytes`, sorted.
fn sorted_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    lines.sort_unstable();
    lines
}

/// Asserts that events (stdout), `--stats --json`, `--stats` text and the exit status are the
/// same on one thread and split, and returns the single-threaded events and stats. With
/// `mail`, the events are compared sorted (see the module documentation).
fn same_single_and_split(paths: &[&Path], mail: bool) -> (String, Vec<serde_json::Value>) {
    let mut results = Vec::new();
    for args in [&[][..], &["--stats", "--json"], &["--stats"]] {
        let one = parse(SINGLE, args, paths);
        let split = parse(SPLIT, args, paths);
        assert_eq!(one.status.code(), split.status.code(), "{args:?}: {}", stderr(&split));
        let same = if mail && args.is_empty() {
            sorted_lines(&one.stdout) == sorted_lines(&split.stdout)
        } else {
            one.stdout == split.stdout
        };
        assert!(
            same,
            "{args:?}: output differs between one thread and split chunks on {paths:?}"
        );
        assert_eq!(stderr(&one), stderr(&split), "{args:?}");
        results.push(String::from_utf8(one.stdout).unwrap());
    }
    let stats = results[1].lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (results.swap_remove(0), stats)
}

/// A Squid native line of exactly `len` bytes (without its line ending), for the `i`-th request.
fn squid_line(i: usize, len: usize) -> String {
    let head = format!(
        "{}.{:03} {:5} 10.0.{}.{} TCP_MISS/200 {} GET http://site{}.example/p/{i}?",
        1_610_615_523 + i,
        i % 1000,
        i % 9000,
        i % 250,
        1 + i % 250,
        100 + i,
        i % 13
    );
    let tail = " alice HIER_DIRECT/198.51.100.7 text/html";
    assert!(head.len() + tail.len() < len, "line {i} does not fit in {len} bytes");
    format!("{head}{}{tail}", "q".repeat(len - head.len() - tail.len()))
}

/// Lines of `len` bytes each ending in `eol`; lines listed in `bad` are junk.
fn squid_file(lines: usize, len: usize, eol: &str, bad: &[usize]) -> String {
    (1..=lines)
        .map(|n| {
            let line = if bad.contains(&n) {
                format!("{:-<1$}", "not a squid line ", len)
            } else {
                squid_line(n, len)
            };
            format!("{line}{eol}")
        })
        .collect()
}

fn world(dir: &Path) -> PathBuf {
    gen_world(dir, "3", "2MB")
}

#[test]
fn a_generated_world_parses_the_same_on_one_thread_and_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let w = world(dir.path());
    let squid = w.join("web/access.log");
    let gz = w.join("web/access.log.1.gz");
    let postfix = w.join("mail/maillog");
    let w3c = std::fs::read_dir(w.join("web/proxysg"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    assert!(std::fs::metadata(&squid).unwrap().len() > 100 * 4096, "many chunks");
    assert!(std::fs::metadata(&w3c).unwrap().len() > 4096, "larger than a chunk");
    assert!(std::fs::metadata(&postfix).unwrap().len() > 4096, "larger than a chunk");

    for one in [&squid, &gz, &postfix, &w3c] {
        let (events, stats) = same_single_and_split(&[one], one == &postfix);
        assert!(stats[0]["events"].as_u64().unwrap() > 0, "{one:?}");
        assert_eq!(events.lines().count() as u64, stats[0]["events"].as_u64().unwrap());
    }
    // Everything at once, in the order the directory walk gives.
    let (_, stats) = same_single_and_split(&[&w], true);
    assert!(stats.len() > 10);
    let formats: Vec<_> = stats.iter().map(|s| s["format"].as_str().unwrap()).collect();
    for f in ["squid", "postfix", "w3c", "exchange"] {
        assert!(formats.contains(&f), "{f} in {formats:?}");
    }
}

#[test]
fn an_unreadable_input_is_reported_alike_and_the_others_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.log", squid_file(300, 150, "\n", &[]).as_bytes());
    let b = write(dir.path(), "b.log", squid_file(200, 150, "\n", &[]).as_bytes());
    // Opens, but every read fails (EIO), even for root; an ordinary unreadable file cannot be
    // made when the tests run as root.
    let unreadable = Path::new("/proc/self/mem");
    let (events, stats) = same_single_and_split(&[&a, unreadable, &b], false);
    assert_eq!(events.lines().count(), 500);
    assert_eq!(stats[1]["failure"]["kind"], "unreadable");
    assert_eq!(stats[2]["events"], 200);
    let o = parse(SPLIT, &[], &[&a, unreadable, &b]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/proc/self/mem"), "{}", stderr(&o));
}

#[test]
fn errors_in_later_chunks_keep_their_absolute_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    // 140-byte lines in 4096-byte chunks: about 29 lines a chunk. The bad lines sit in the
    // 1st, 11th, 12th, 25th... chunks; only the first five are kept as examples.
    let bad = [3, 300, 333, 334, 700, 1190, 1500, 1999];
    let f = write(dir.path(), "errors.log", squid_file(2000, 139, "\n", &bad).as_bytes());
    let (_, stats) = same_single_and_split(&[&f], false);
    let s = &stats[0];
    assert_eq!(s["lines"], 2000);
    assert_eq!(s["errors"], bad.len());
    assert_eq!(s["events"], 2000 - bad.len());
    let lines: Vec<u64> = s["error_examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 300, 333, 334, 700]);
}

#[test]
fn offsets_are_absolute_in_every_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let text = squid_file(1000, 139, "\n", &[]);
    let f = write(dir.path(), "offsets.log", text.as_bytes());
    let o = parse(SPLIT, &[], &[&f]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut offsets = Vec::new();
    for line in String::from_utf8(o.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let offset = v["log"]["offset"].as_u64().unwrap() as usize;
        let original = v["event"]["original"].as_str().unwrap();
        assert_eq!(&text[offset..offset + original.len()], original);
        offsets.push(offset);
    }
    let want: Vec<usize> = (0..1000).map(|i| i * 140).collect();
    assert_eq!(offsets, want);
}

#[test]
fn chunk_boundaries_at_newlines_inside_lines_without_final_newline_and_crlf() {
    let dir = tempfile::tempdir().unwrap();
    // (name, file text): every case is larger than several 4096-byte chunks.
    let exact = squid_file(300, 127, "\n", &[]); // 128-byte lines: boundaries on newlines
    let inside = squid_file(300, 150, "\n", &[]);
    let mut no_final = squid_file(300, 127, "\n", &[]);
    no_final.pop();
    let crlf = squid_file(300, 126, "\r\n", &[]); // 128 bytes with CRLF
    let crlf_split = squid_file(300, 127, "\r\n", &[]); // a boundary between \r and \n
    let blank_lines = squid_file(300, 127, "\n\n", &[]);
    let cases = [
        ("exact.log", exact),
        ("inside.log", inside),
        ("no-final-newline.log", no_final),
        ("crlf.log", crlf),
        ("crlf-split.log", crlf_split),
        ("blank-lines.log", blank_lines),
    ];
    for (name, text) in cases {
        let f = write(dir.path(), name, text.as_bytes());
        let (events, stats) = same_single_and_split(&[&f], false);
        assert_eq!(stats[0]["events"], 300, "{name}");
        assert_eq!(stats[0]["errors"], 0, "{name}");
        assert_eq!(events.lines().count(), 300, "{name}");
        assert!(!events.contains("\\r"), "{name}: a \\r stays with its line ending");
    }
}

#[test]
fn chunks_report_rejections_as_the_layout_in_use_does() {
    // Squid's referrer log is not the first layout the parser tries. A bad line at the start of
    // a chunk is reported with the reason of the layout the lines before it used, as on one
    // thread: the chunk's parser is primed with those lines.
    let dir = tempfile::tempdir().unwrap();
    let line = |i: usize| {
        let head = format!(
            "{}.{:03} 10.0.0.{} http://ref.example/",
            1_610_615_523 + i,
            i % 1000,
            i % 250
        );
        let tail = format!(" http://site.example/{i}");
        format!("{head}{}{tail}\n", "r".repeat(127 - head.len() - tail.len()))
    };
    // 128-byte lines, 32 to a 4096-byte chunk: lines 33 and 97 open a chunk.
    let text: String = (1..=200)
        .map(|n| match n {
            33 | 97 => format!("{:-<127}\n", "junk"),
            n => line(n),
        })
        .collect();
    let f = write(dir.path(), "referrer.log", text.as_bytes());
    let (_, stats) = same_single_and_split(&[&f], false);
    assert_eq!(stats[0]["format"], "squid");
    assert_eq!(stats[0]["errors"], 2);
}

#[test]
fn ecs_json_lines_split_too() {
    let dir = tempfile::tempdir().unwrap();
    let squid = write(dir.path(), "s.log", squid_file(400, 140, "\n", &[]).as_bytes());
    let o = parse(SINGLE, &[], &[&squid]);
    let ecs = write(dir.path(), "events.json", &o.stdout);
    let (events, stats) = same_single_and_split(&[&ecs], false);
    assert_eq!(stats[0]["format"], "ecs");
    assert_eq!(events.lines().count(), 400);
}

#[test]
fn a_closed_pipe_stops_every_thread_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "big.log", squid_file(20_000, 139, "\n", &[]).as_bytes());
    for args in [&["--threads", "4", "--chunk-size", "4KiB"][..], &["--threads", "3"]] {
        let mut all = vec!["parse"];
        all.extend_from_slice(args);
        all.push(f.to_str().unwrap());
        let (code, err) = run_until_output_closed(&all);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
}

/// `scan` on `paths` with `mode`: the alerts (sorted lines) and the summary without its timings.
fn scan_sorted(mode: &[&str], paths: &[&Path], out: &Path) -> (Option<i32>, Vec<String>, String) {
    let mut all = vec!["scan", "--output", out.to_str().unwrap()];
    all.extend_from_slice(mode);
    all.extend(paths.iter().map(|p| p.to_str().unwrap()));
    let o = run(&all);
    let mut alerts: Vec<String> = std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    alerts.sort_unstable();
    let summary = stderr(&o)
        .lines()
        .filter(|l| !l.contains(" MB in "))
        .collect::<Vec<_>>()
        .join("\n");
    (o.status.code(), alerts, summary)
}

#[test]
fn a_split_maillog_scans_to_the_same_alerts_and_summary_as_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    let w = gen_world(dir.path(), "11", "12MB");
    let maillog = w.join("mail/maillog");
    assert!(
        std::fs::metadata(&maillog).unwrap().len() > 16 * 64 * 1024,
        "many chunks"
    );
    let out = dir.path().join("alerts.json");
    // The maillog alone, then the mail and web directories together (mail→web correlations).
    for paths in [vec![maillog.clone()], vec![w.join("mail"), w.join("web")]] {
        let paths: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        let one = scan_sorted(&["--threads", "1"], &paths, &out);
        assert_eq!(one.0, Some(1), "{}", one.2);
        assert!(one.1.len() > 10, "{paths:?}: {} alerts", one.1.len());
        assert!(one.2.contains("late events 0"), "{}", one.2);
        for chunk in ["64KiB", "256KiB"] {
            let split = scan_sorted(&["--threads", "2", "--chunk-size", chunk], &paths, &out);
            assert_eq!(split.0, one.0, "{paths:?} in chunks of {chunk}");
            assert_eq!(split.2, one.2, "{paths:?} in chunks of {chunk}");
            assert!(split.1 == one.1, "alerts differ on {paths:?} in chunks of {chunk}");
        }
    }
}
