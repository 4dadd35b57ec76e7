//! Lines per second of each parser through the real parse path (line splitting, UTF-8 check,
//! syslog framing, parsing, mail assembly), on in-memory input.
//!
//! Input: the formats the world generator writes (Squid, Postfix, Exchange, ProxySG W3C) come
//! from a generated world, so lines vary as in life; the other formats repeat their own
//! `reconwatch formats` example line (the cost of one realistic line, with a warm branch
//! predictor). `cargo bench --bench parsers`; the end-to-end figures next to `wc -l` come from
//! `benches/throughput.sh`.

use std::hint::black_box;
use std::io::Read;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use reconwatch::parse::Format;
use reconwatch::pipeline::{PipelineConfig, run_reader};
use reconwatch::source::Input;
use reconwatch::world::{GenConfig, write_world};

/// Lines per benchmark input: enough to amortise detection's 64-line sample.
const LINES: usize = 20_000;

/// A generated log's bytes, decompressed (by magic, as reconwatch reads it) when gzip.
fn read_all(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    Input::file(path.to_path_buf())
        .open()
        .unwrap()
        .reader
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The first `LINES` lines of the generated files under `dir` whose names start with `prefix`.
fn generated(dir: &Path, sub: &str, prefix: &str) -> Vec<u8> {
    let mut names: Vec<_> = std::fs::read_dir(dir.join(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for n in names {
        out.extend(read_all(&n));
    }
    let end = out
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(LINES - 1)
        .map_or(out.len(), |(i, _)| i + 1);
    out.truncate(end);
    out
}

fn repeated_example(format: Format) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..LINES {
        out.extend_from_slice(format.info().example.as_bytes());
        out.push(b'\n');
    }
    out
}

fn parsers(c: &mut Criterion) {
    // criterion measures only when cargo passes `--bench`; under `cargo test` each bench runs
    // once, and a small world keeps that quick (the inputs are then shorter than LINES).
    let measuring = std::env::args().any(|a| a == "--bench");
    let world = tempfile::tempdir().unwrap();
    write_world(
        &GenConfig {
            seed: 7,
            target_bytes: if measuring { 30_000_000 } else { 2_000_000 },
        },
        world.path(),
    )
    .unwrap();
    let w = world.path();
    let inputs: Vec<(Format, &str, Vec<u8>)> = Format::ALL
        .into_iter()
        .map(|f| match f {
            Format::Squid => (f, "generated", generated(w, "web", "access.log")),
            Format::Postfix => (f, "generated", generated(w, "mail", "maillog")),
            Format::Exchange => (f, "generated", generated(w, "mail/exchange", "MSGTRK")),
            Format::W3c => (f, "generated", generated(w, "web/proxysg", "SG_main")),
            other => (other, "example", repeated_example(other)),
        })
        .collect();

    let mut group = c.benchmark_group("parse");
    group.sample_size(20);
    for (format, source, bytes) in &inputs {
        let lines = bytecount(bytes);
        group.throughput(Throughput::Elements(lines));
        let cfg = PipelineConfig {
            format: Some(*format),
            ..PipelineConfig::default()
        };
        group.bench_function(format!("{format}/{source}"), |b| {
            b.iter(|| {
                let mut events = 0u64;
                let stats = run_reader("bench", &bytes[..], None, &cfg, &mut events).unwrap();
                assert_eq!(stats.errors, 0, "{format}: the bench input must parse cleanly");
                black_box(events)
            })
        });
    }
    group.finish();
}

fn bytecount(b: &[u8]) -> u64 {
    b.iter().filter(|c| **c == b'\n').count() as u64
}

criterion_group!(benches, parsers);
criterion_main!(benches);
