//! Cost of URL analysis on the per-event hot path: `analyze` on typical URLs (an article link,
//! an ESP click link with a base64 token, a hex open pixel, the campaign pixel shape), building
//! the template, and one recipient's `encoded_in` check (a miss scans every token; a hit stops
//! early). `cargo bench --bench url`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use reconwatch::enrich::url::{RecipientKeys, analyze};

const URLS: &[(&str, &str)] = &[
    (
        "article",
        "https://www.news.example.co.uk/world/2024/11/26/story-title?utm_source=newsletter&utm_medium=email",
    ),
    (
        "esp_click",
        "https://click.e.esp.example/ls/click?upn=u001.Qk9iL2pYb3lmR3pwV0x5dzRPQUpkQT09-2FxZ&e=amFuZS5kb2VAZXhhbXBsZS5vcmc%3D",
    ),
    (
        "hex_pixel",
        "https://open.esp.example/o/ae85f3c09b1d4e2a8c7f6b5d4e3a2c10.gif",
    ),
    (
        "campaign_pixel",
        "https://bbc-worldnews.example/p.gif?id=H6jS30rkoIEXXK3A&c=w1",
    ),
];

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("analyze");
    for (name, url) in URLS {
        g.bench_function(*name, |b| b.iter(|| analyze(black_box(url)).tokens().len()));
    }
    g.finish();

    // The Public Suffix List lookup alone, the part of `analyze` this module does not own.
    let mut g = c.benchmark_group("psl_domain");
    for host in ["www.news.example.co.uk", "open.esp.example", "link.ft.com"] {
        g.bench_function(host, |b| b.iter(|| psl::domain(black_box(host.as_bytes()))));
    }
    g.finish();

    let mut g = c.benchmark_group("template");
    for (name, url) in URLS {
        let a = analyze(url);
        g.bench_function(*name, |b| b.iter(|| black_box(&a).template()));
    }
    g.finish();

    let keys = RecipientKeys::new("jane.doe@example.org");
    let other = RecipientKeys::new("john.smith@example.net");
    let mut g = c.benchmark_group("encoded_in");
    for (name, url) in URLS {
        let a = analyze(url);
        g.bench_function(format!("{name}/jane"), |b| b.iter(|| keys.encoded_in(black_box(&a))));
        g.bench_function(format!("{name}/miss"), |b| b.iter(|| other.encoded_in(black_box(&a))));
    }
    g.finish();

    c.bench_function("recipient_keys_new", |b| {
        b.iter(|| RecipientKeys::new(black_box("jane.doe@example.org")))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
