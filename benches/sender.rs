//! Cost of sender analysis on the per-event hot path: `analyze` on a campaign-like mail (claim,
//! lookalike, mismatches) and on newsletters (an outlet's own mail, an outlet through an ESP),
//! and `lookalike` on link domains that hit and miss, with the built-in lists plus a protected
//! parliament domain, and again with 500 protected domains. Building the analyzer is measured
//! once as well.
//! `cargo bench --bench sender`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use reconwatch::enrich::sender::{SenderAnalyzer, SenderCatalog, SenderInput};

const MAILS: &[(&str, SenderInput<'static>)] = &[
    (
        "campaign",
        SenderInput {
            from: Some("sophie.lang@bbc-worldnews.example"),
            from_name: Some("Sophie Lang | BBC News"),
            envelope: Some("bounce-4f2a9c@mailer.postblast.example"),
            reply_to: Some("sophie.lang.bbc@gmail.com"),
            subject: Some("BBC News: New trade rules for the region"),
        },
    ),
    (
        "newsletter_own",
        SenderInput {
            from: Some("FT@news-alerts.ft.com"),
            from_name: Some("FT"),
            envelope: Some("bounce-1234@bounce.news-alerts.ft.com"),
            reply_to: None,
            subject: Some("FT: Europe Express — the day ahead"),
        },
    ),
    (
        "newsletter_esp",
        SenderInput {
            from: Some("politicoeurope@politico.eu"),
            from_name: Some("POLITICO"),
            envelope: Some("bounce-mc.us4_123.456-jane=parliament.example@mail185.atl12.mcsv.net"),
            reply_to: Some("politicoeurope@politico.eu"),
            subject: Some("POLITICO Brussels Playbook: Summit day"),
        },
    ),
    (
        "ordinary",
        SenderInput {
            from: Some("j.smith@consultancy.example.co.uk"),
            from_name: Some("John Smith"),
            envelope: Some("j.smith@consultancy.example.co.uk"),
            reply_to: None,
            subject: Some("Re: Agenda for Thursday"),
        },
    ),
];

const DOMAINS: &[(&str, &str)] = &[
    ("hit_added_word", "bbc-worldnews.example"),
    ("hit_edit_distance", "politlco.example"),
    ("hit_punycode", "xn--bb-eka.com"),
    ("miss_known", "click.news-alerts.ft.com"),
    ("miss_unknown", "www.consultancy.example.co.uk"),
    ("miss_long", "static.content-delivery-network.example.net"),
];

fn analyzer() -> SenderAnalyzer {
    let mut c = SenderCatalog::builtin();
    c.protect_domain("parliament.uk", "own").expect("valid domain");
    c.build()
}

/// The built-in lists plus 500 protected domains with pseudo-random labels of 5 to 12 letters
/// (a parliament's own and its members' domains), to show what the index saves.
fn analyzer_500() -> SenderAnalyzer {
    let mut c = SenderCatalog::builtin();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..500 {
        let mut label = String::new();
        for _ in 0..5 + i % 8 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            label.push(char::from(b'a' + (x >> 59) as u8 % 26));
        }
        c.protect_domain(&format!("{label}.example"), "own")
            .expect("valid domain");
    }
    c.build()
}

fn bench(c: &mut Criterion) {
    c.bench_function("build", |b| b.iter(analyzer));
    let a = analyzer();
    let mut g = c.benchmark_group("analyze");
    for (name, input) in MAILS {
        g.bench_function(*name, |b| b.iter(|| a.analyze(black_box(input))));
    }
    g.finish();
    let mut g = c.benchmark_group("lookalike");
    for (name, domain) in DOMAINS {
        g.bench_function(*name, |b| b.iter(|| a.lookalike(black_box(domain))));
    }
    g.finish();
    let a = analyzer_500();
    let mut g = c.benchmark_group("lookalike_500_protected");
    for (name, domain) in DOMAINS {
        g.bench_function(*name, |b| b.iter(|| a.lookalike(black_box(domain))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
