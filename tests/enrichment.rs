//! Enrichment on demand gives the alerts of enrichment in full.
//!
//! `scan` computes a `reconwatch.*` field only when a rule reads it after its cheaper tests
//! passed (and everything for an event that matched, so alerts show all of it);
//! `--eager-enrichment` computes every field of every event first. On a generated world (its
//! own seed, so not the sample the rules were written against), with a watchlist and intel,
//! both must write the same alerts byte for byte: detection, correlation and intel alerts. The
//! SigmaHQ proxy rules, whose tests read the log's own fields, are checked in `sigmahq.rs`.

mod common;
use common::*;

use std::path::Path;

/// Scans `inputs` with `extra` options, with and without `--eager-enrichment`, and returns
/// both outputs.
pub fn both_ways(dir: &Path, extra: &[&str], inputs: &[&str]) -> (String, String) {
    let mut outs = Vec::new();
    for (name, eager) in [("lazy", false), ("eager", true)] {
        let out = dir.join(format!("{name}.jsonl"));
        let mut args = vec!["scan", "-q", "-o", out.to_str().unwrap()];
        if eager {
            args.push("--eager-enrichment");
        }
        args.extend(extra);
        args.extend(inputs);
        let o = run(&args);
        assert_eq!(
            o.status.code(),
            Some(1),
            "scan {args:?} raised no alert: {}",
            stderr(&o)
        );
        outs.push(std::fs::read_to_string(&out).unwrap());
    }
    let eager = outs.pop().unwrap();
    (outs.pop().unwrap(), eager)
}

#[test]
fn enrichment_on_demand_gives_the_alerts_of_enrichment_in_full() {
    let d = tempfile::tempdir().unwrap();
    let world = gen_world(d.path(), "11", "6MB");
    // Intel: the first two campaign domains the labels name.
    let labels = std::fs::read_to_string(world.join(".world/labels.jsonl")).unwrap();
    let mut domains: Vec<String> = labels
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"].as_str().is_some_and(|k| k.starts_with("campaign")))
        .filter_map(|v| v["domain"].as_str().map(str::to_owned))
        .collect();
    domains.dedup();
    domains.truncate(2);
    assert!(!domains.is_empty(), "the world has campaign domains");
    let intel = d.path().join("intel.txt");
    std::fs::write(&intel, domains.join("\n") + "\n").unwrap();
    let watchlist = format!("parliament={}", world.join(".world/people.csv").display());
    let extra = ["--watchlist", &watchlist, "--intel", intel.to_str().unwrap()];
    let (lazy, eager) = both_ways(d.path(), &extra, &[world.to_str().unwrap()]);

    // The comparison means something only if every kind of alert is there.
    let count = |needle: &str| lazy.lines().filter(|l| l.contains(needle)).count();
    assert!(lazy.lines().count() > 100, "{} alerts", lazy.lines().count());
    assert!(count("\"correlation\"") > 0, "correlation alerts");
    assert!(count("reconwatch.intel.hit") > 0, "intel alerts");
    assert!(count("\"recipient_encoding\"") > 0, "URL analysis in alerts");
    if lazy != eager {
        let first = lazy.lines().zip(eager.lines()).position(|(a, b)| a != b);
        panic!(
            "alerts differ ({} on demand, {} in full); first difference at alert {first:?}:\n{}\n{}",
            lazy.lines().count(),
            eager.lines().count(),
            first.and_then(|i| lazy.lines().nth(i)).unwrap_or("-"),
            first.and_then(|i| eager.lines().nth(i)).unwrap_or("-"),
        );
    }
}
