//! Cost per event of the enrichment stage ([`Enricher::enrich`]): the `reconwatch.*` fields and
//! `threat.enrichments` computed before the rules run.
//!
//! Events: real parsed events of a generated world (web: Squid and ProxySG; mail: the Postfix
//! maillog and Exchange tracking logs), parsed once and kept owned, so only enrichment is
//! measured. Two contexts: `plain` (no watchlist, no intel: URL and sender analysis only) and
//! `loaded` (the world's people plus generated fictional entries up to 1,000,000 watchlist
//! entries, and 100,000 generated intel indicators, with the campaign's domains among them), so
//! lookups miss and hit as in production.
//!
//! `cargo bench --bench enrich` prints nanoseconds per event at the end. Under `cargo test` (no
//! `--bench` argument) criterion runs each benchmark once, on a small world and small lists.

mod common;
use common::events;

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use reconwatch::enrich::intel::{DomainMatch, IntelSetBuilder};
use reconwatch::enrich::sender::SenderCatalog;
use reconwatch::enrich::stage::Enricher;
use reconwatch::enrich::watchlist::Watchlists;
use reconwatch::world::{GenConfig, write_world};

const WORLD_BYTES: u64 = 16_000_000;
const TEST_WORLD_BYTES: u64 = 1_500_000;
const WATCHLIST_ENTRIES: usize = 1_000_000;
const INTEL_INDICATORS: usize = 100_000;

/// The world's people, then fictional people up to `entries` entries (each row: an address, a
/// user name and an IP address: three entries).
fn watchlists(people_csv: &str, entries: usize) -> Watchlists {
    let mut text = String::from(people_csv);
    let mut i = 0;
    while i * 3 < entries {
        let _ = writeln!(
            text,
            "person{i}@assembly{}.example,Person {i},staff,user{i},10.{}.{}.{}",
            i % 97,
            100 + (i >> 16 & 127),
            i >> 8 & 255,
            i & 255
        );
        i += 1;
    }
    let mut w = Watchlists::new();
    w.add_text("parliament", "bench", &text).unwrap();
    w
}

/// `count` indicators: domains, URLs, addresses and IPs of fictional hosts, plus the campaign's
/// domains (from the world's labels) so some events hit.
fn intel(count: usize, labels: &str) -> reconwatch::enrich::intel::IntelSet {
    let mut text = String::from("#fields\tindicator\tindicator_type\tmeta.source\n");
    let mut campaign: Vec<String> = labels
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["domain"].as_str().map(str::to_owned))
        .collect();
    campaign.sort();
    campaign.dedup();
    for d in campaign {
        let _ = writeln!(text, "{d}\tIntel::DOMAIN\tbench");
    }
    for i in 0..count {
        let _ = match i % 4 {
            0 => writeln!(text, "c2-{i}.bad.example\tIntel::DOMAIN\tbench"),
            1 => writeln!(text, "track-{i}.bad.example/p.gif\tIntel::URL\tbench"),
            2 => writeln!(text, "sender{i}@bad.example\tIntel::EMAIL\tbench"),
            _ => writeln!(text, "198.18.{}.{}\tIntel::ADDR\tbench", i >> 8 & 255, i & 255),
        };
    }
    let mut b = IntelSetBuilder::new(DomainMatch::Parents);
    b.add_zeek("bench.dat", text.as_bytes()).unwrap();
    b.build()
}

fn bench(c: &mut Criterion) {
    let measuring = std::env::args().any(|a| a == "--bench");
    let dir = tempfile::tempdir().unwrap();
    let cfg = GenConfig {
        seed: 2021,
        target_bytes: if measuring { WORLD_BYTES } else { TEST_WORLD_BYTES },
    };
    let files = write_world(&cfg, dir.path()).unwrap().files;
    let web = events(&files, &["web/"]);
    let mail = events(&files, &["mail/"]);
    let people = std::fs::read_to_string(dir.path().join(".world/people.csv")).unwrap();
    let labels = std::fs::read_to_string(dir.path().join(".world/labels.jsonl")).unwrap();
    let scale = if measuring { 1 } else { 1000 };

    let started = Instant::now();
    let loaded = Enricher::new(
        watchlists(&people, WATCHLIST_ENTRIES / scale),
        intel(INTEL_INDICATORS / scale, &labels),
        SenderCatalog::builtin(),
        &[],
    );
    let load = started.elapsed();
    let plain = Enricher::new(Watchlists::new(), Default::default(), SenderCatalog::builtin(), &[]);

    let mut results = Vec::new();
    let mut group = c.benchmark_group("enrich");
    for (context, enricher) in [("plain", &plain), ("loaded", &loaded)] {
        for (kind, evs) in [("web", &web), ("mail", &mail)] {
            group.throughput(Throughput::Elements(evs.len() as u64));
            let mut work = evs.to_vec();
            let mut scratch = enricher.scratch();
            let mut total = std::time::Duration::ZERO;
            let mut rounds = 0u32;
            group.bench_function(format!("{kind}/{context}"), |b| {
                b.iter(|| {
                    let t = Instant::now();
                    for ev in work.iter_mut() {
                        enricher.enrich(ev, &mut scratch);
                    }
                    total += t.elapsed();
                    rounds += 1;
                    black_box(&work);
                })
            });
            results.push((kind, context, evs.len(), total / rounds.max(1)));
        }
    }
    group.finish();
    println!(
        "\nenrichment context: {} watchlist entries, {} intel indicators, built in {:.2} s",
        WATCHLIST_ENTRIES / scale,
        INTEL_INDICATORS / scale,
        load.as_secs_f64()
    );
    for (kind, context, n, per_round) in results {
        println!(
            "enrich {kind:<4} {context:<6}: {:>7.0} ns/event over {n} events",
            per_round.as_nanos() as f64 / n as f64
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
