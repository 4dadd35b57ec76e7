//! The correlation state: cost per contribution fed, and memory per open group.
//!
//! The shipped pixel-fired correlation's shape (temporal_ordered, group by token, 14 days) fed
//! with mails that each open a group (a token and a 300-byte assembled message as evidence,
//! like a Postfix message), then with web requests for some of those tokens. `cargo bench
//! --bench correlate` first builds 1,000,000 open groups and prints the resident memory they
//! take (from /proc/self/statm), per group; then criterion measures `Correlator::feed`, and the
//! same contributions through the whole `Stage` (pushed by two sources, the time-ordered merge,
//! a watermark every thousand). Under `cargo test` (no `--bench`) it builds 10,000 groups and
//! runs each benchmark once.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jiff::Timestamp;
use reconwatch::correlate::compile::{Correlations, Feed};
use reconwatch::correlate::contribution::{
    Contribution, Events, Evidence, EvidenceEmail, EvidenceEvent, EvidenceLog, EvidenceRule,
};
use reconwatch::correlate::{Correlator, Limits, SourceId, Stage};
use reconwatch::rules::correlation::parse_correlation;
use reconwatch::rules::sigma::{Placeholders, parse_rule};
use reconwatch::rules::yaml::parse_documents;

const GROUPS: usize = 1_000_000;
const TEST_GROUPS: usize = 10_000;

fn pixel_fired() -> Arc<Correlations> {
    let rules = ["mail", "web"]
        .iter()
        .map(|n| {
            let text = format!(
                "title: {n}\nname: {n}\nlogsource:\n  category: proxy\ndetection:\n  s:\n    url.domain: x\n  condition: s\n"
            );
            parse_rule(&parse_documents(&text).unwrap()[0], "b.yml", &Placeholders::new()).unwrap()
        })
        .collect::<Vec<_>>();
    let corr = "title: fired\ncorrelation:\n  type: temporal_ordered\n  rules: [mail, web]\n  group-by: [token]\n  aliases:\n    token:\n      mail: reconwatch.url.tokens\n      web: reconwatch.url.tokens\n  timespan: 14d\n";
    let c = parse_correlation(&parse_documents(corr).unwrap()[0], "c.yml").unwrap();
    let (set, problems) = Correlations::new(&rules, vec![c]);
    assert!(problems.is_empty(), "{problems:?}");
    Arc::new(set)
}

fn token(i: usize) -> String {
    format!("tok{i:013x}")
}

/// A mail's contribution at `t` ms: a token, and evidence the size of an assembled message.
fn mail(i: usize, t: i64, rule: &Arc<EvidenceRule>) -> Contribution {
    let tok = token(i);
    Contribution {
        time: t,
        feed: Feed {
            correlation: 0,
            step: 0,
        },
        key: tok.as_str().into(),
        value: None,
        events: Events::One(Arc::new(Evidence {
            timestamp: Timestamp::from_millisecond(t).unwrap(),
            rule: Arc::clone(rule),
            event: EvidenceEvent {
                dataset: Some("postfix".into()),
                original: Some(format!(
                    "{t} mx2 postfix/cleanup[7526]: CE4C8E23A9B: info: body <img src=\"https://bbc-worldnews.example/p.gif?id={tok}&c=w1\"> from smtp5.postblast.example[203.0.113.109]; from=<bounce@mailer.postblast.example> to=<someone@parliament.example>"
                )),
            },
            email: Some(EvidenceEmail {
                message_id: format!("{i:x}@postblast.example"),
            }),
            log: EvidenceLog {
                file: None,
                offset: Some(i as u64 * 300),
            },
            fields: Vec::new(),
            targets: Default::default(),
        })),
    }
}

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn memory(groups: usize) {
    let set = pixel_fired();
    let before = rss_bytes();
    let mut correlator = Correlator::new(Arc::clone(&set), Limits { max_groups: groups });
    let mut out = Vec::new();
    for i in 0..groups {
        correlator.feed(mail(i, i as i64, &set.rule_names[0]), &mut out);
    }
    let after = rss_bytes();
    assert_eq!(correlator.open_groups(0), groups);
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "correlation state: {groups} open groups (one mail each, ~300-byte evidence): {:.1} MB resident, {} bytes per group",
            (a - b) as f64 / 1e6,
            (a - b) / groups as u64
        );
    }
    black_box(&correlator);
}

fn bench(c: &mut Criterion) {
    let full = std::env::args().any(|a| a == "--bench");
    let groups = if full { GROUPS } else { TEST_GROUPS };
    memory(groups);

    let set = pixel_fired();
    let mut g = c.benchmark_group("correlate");
    const BATCH: usize = 10_000;
    g.throughput(Throughput::Elements(BATCH as u64));
    let rule = &set.rule_names[0];
    let mails: Vec<Contribution> = (0..BATCH).map(|i| mail(i, i as i64, rule)).collect();
    let mut fetches: Vec<Contribution> = (0..BATCH).map(|i| mail(i, (BATCH + i) as i64, rule)).collect();
    for f in &mut fetches {
        f.feed.step = 1;
    }
    g.bench_function("feed 10k mails (new groups) then 10k fetches (fire)", |b| {
        b.iter_batched(
            || (mails.clone(), fetches.clone()),
            |(m, f)| {
                let mut correlator = Correlator::new(Arc::clone(&set), Limits::default());
                let mut out = Vec::new();
                for x in m.into_iter().chain(f) {
                    correlator.feed(x, &mut out);
                }
                assert_eq!(out.len(), BATCH);
                out
            },
            criterion::BatchSize::LargeInput,
        );
    });
    g.bench_function(
        "stage: push 10k mails, 10k fetches from two sources, advance per 1k",
        |b| {
            b.iter_batched(
                || (mails.clone(), fetches.clone()),
                |(m, f)| {
                    let mut stage = Stage::new(Arc::clone(&set), Limits::default(), 0);
                    let mut out = Vec::new();
                    let (mail_source, web_source) = (SourceId(0), SourceId(1));
                    for (source, list) in [(mail_source, m), (web_source, f)] {
                        for (i, x) in list.into_iter().enumerate() {
                            let time = x.time;
                            stage.push(source, x);
                            if i % 1000 == 999 {
                                stage.advance(time, &mut out);
                            }
                        }
                    }
                    stage.finish(&mut out);
                    assert_eq!(out.len(), BATCH);
                    out
                },
                criterion::BatchSize::LargeInput,
            );
        },
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
