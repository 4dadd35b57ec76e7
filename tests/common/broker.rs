//! What the broker tests (`nats.rs`, `kafka.rs`) share: the lines a world should ship, the
//! alerts one `scan` gives, and the comparison of a cluster's alerts with them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{run, stderr, stdout};

/// Every line of every file under `dir` (not hidden, decompressed), by file and offset.
pub fn lines_of(dir: &Path) -> BTreeMap<(String, u64), Vec<u8>> {
    let mut out = BTreeMap::new();
    for input in reconwatch::source::expand(&[dir.to_str().unwrap().to_owned()]) {
        let opened = input.open().unwrap();
        let mut reader = reconwatch::source::LineReader::new(opened.reader);
        while let Some(l) = reader.next() {
            let l = l.unwrap();
            out.insert((input.name.clone(), l.offset), l.bytes.to_vec());
        }
    }
    out
}

/// The queue id of a Postfix line (`... postfix/qmgr[900]: 4A1B2C3D4E: removed`).
pub fn postfix_queue_id(text: &str) -> Option<&str> {
    let id = text.split("]: ").nth(1)?.split_once(": ")?.0;
    (id.len() >= 5 && id.bytes().any(|b| b.is_ascii_digit()) && id.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some(id)
}

/// The alerts of one `scan` of `world` with `watchlist`, sorted, duplicates removed; the world
/// must fire correlations.
pub fn scan_alerts(world: &Path, watchlist: &str) -> Vec<String> {
    let scan = run(&["scan", "--watchlist", watchlist, world.to_str().unwrap()]);
    assert_eq!(scan.status.code(), Some(1), "{}", stderr(&scan));
    let mut expected: Vec<String> = stdout(&scan).lines().map(str::to_owned).collect();
    expected.sort();
    expected.dedup();
    let correlations = expected.iter().filter(|a| a.contains("\"correlation\":{")).count();
    assert!(correlations > 10, "the world fires correlations ({correlations})");
    expected
}

/// Fails unless `got` (sorted) equals `expected`, naming the rules of what is missing or extra.
/// With `$<dump_var>` set to a directory, the workers' `logs`, `missing.jsonl` and `extra.jsonl`
/// are written there.
pub fn assert_same_alerts(expected: &[String], got: &[String], logs: &[PathBuf], dump_var: &str) {
    let missing: Vec<&String> = expected.iter().filter(|a| got.binary_search(a).is_err()).collect();
    let extra: Vec<&String> = got.iter().filter(|a| expected.binary_search(a).is_err()).collect();
    if let Some(dump) = std::env::var_os(dump_var) {
        let dump = PathBuf::from(dump);
        for log in logs {
            let _ = std::fs::copy(log, dump.join(log.file_name().unwrap()));
        }
        let write = |name: &str, list: &[&String]| {
            std::fs::write(
                dump.join(name),
                list.iter().map(|a| format!("{a}\n")).collect::<String>(),
            )
            .unwrap()
        };
        write("missing.jsonl", &missing);
        write("extra.jsonl", &extra);
    }
    let titles = |list: &[&String]| {
        let mut by: BTreeMap<String, usize> = BTreeMap::new();
        for a in list {
            let v: serde_json::Value = serde_json::from_str(a).unwrap();
            *by.entry(v["rule"]["title"].as_str().unwrap_or("?").to_owned())
                .or_default() += 1;
        }
        by
    };
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} alerts missing ({:?}), {} extra ({:?}); first missing: {:?}; first extra: {:?}",
        missing.len(),
        titles(&missing),
        extra.len(),
        titles(&extra),
        missing.first().map(|a| &a[..a.len().min(400)]),
        extra.first().map(|a| &a[..a.len().min(400)])
    );
}
