//! Intel sets: load time and memory of 100,000 mixed indicators (a Zeek Intel file generated
//! in-process), and nanoseconds per lookup, hits and misses, for each kind.
//!
//! `cargo bench --bench intel`. Load time and memory are printed once (memory as resident-set
//! growth from `/proc/self/statm` and as the set's own capacity estimate); lookups are
//! criterion groups with one element per observed value. Under `cargo test` (no `--bench`)
//! the set is small and each benchmark runs once.
//!
//! Measured 2026-11-26 (2 shared cores, other builds running; release): 100,000 indicators
//! (99,688 distinct, 8.5 MB of text) load in 158 ms (criterion: 224 ms), RSS +19.7 MiB, set
//! estimate 15.1 MiB (100,000 distinct `meta.url` values dominate the string pool). Per lookup:
//! domain hit 93 ns, parent-domain hit 155 ns, miss 84 ns; URL hit 282 ns, miss 226 ns;
//! e-mail hit 64 ns, miss 111 ns; IP address hit 144 ns, subnet hit 137 ns, miss 113 ns
//! (7 subnet prefix lengths probed).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use reconwatch::enrich::intel::{DomainMatch, IntelSet, IntelSetBuilder, Match};

/// Observed values per lookup benchmark iteration.
const PROBES: usize = 1_000;

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn word(&mut self, len: usize) -> String {
        (0..len).map(|_| (b'a' + (self.next() % 26) as u8) as char).collect()
    }
}

/// The indicator values of one kind, and the Zeek file holding all of them.
struct Generated {
    text: String,
    domains: Vec<String>,
    urls: Vec<String>,
    emails: Vec<String>,
    addrs: Vec<IpAddr>,
    subnets: Vec<(IpAddr, u8)>,
}

fn generate(n: usize) -> Generated {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let mut g = Generated {
        text: String::from("#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url\n"),
        domains: Vec::new(),
        urls: Vec::new(),
        emails: Vec::new(),
        addrs: Vec::new(),
        subnets: Vec::new(),
    };
    let tlds = ["com", "net", "org", "info", "xyz"];
    // Mix: 40% domains, 25% URLs, 10% e-mail, 20% addresses, 5% subnets.
    for i in 0..n {
        let source = ["feedA", "feedB", "feedC"][i % 3];
        let (value, kind) = match i * 100 / n.max(1) {
            0..40 => {
                let d = format!("{}.{}", r.word(8 + i % 7), tlds[i % 5]);
                g.domains.push(d.clone());
                (d, "DOMAIN")
            }
            40..65 => {
                let u = format!(
                    "{}.{}/{}/{}.php?id={}",
                    r.word(7),
                    tlds[i % 5],
                    r.word(6),
                    r.word(5),
                    r.next() % 100_000
                );
                g.urls.push(u.clone());
                (u, "URL")
            }
            65..75 => {
                let e = format!("{}@{}.{}", r.word(6), r.word(8), tlds[i % 5]);
                g.emails.push(e.clone());
                (e, "EMAIL")
            }
            75..95 => {
                let ip = if i % 4 == 0 {
                    IpAddr::V6(Ipv6Addr::from((0x2001_0db8_u128 << 96) | u128::from(r.next())))
                } else {
                    IpAddr::V4(Ipv4Addr::from(r.next() as u32))
                };
                g.addrs.push(ip);
                (ip.to_string(), "ADDR")
            }
            _ => {
                let (ip, len) = if i % 4 == 0 {
                    let len = [32u8, 48, 56, 64][(i / 4) % 4];
                    let a = (0x2001_0db8_u128 << 96) | (u128::from(r.next()) << 32);
                    (IpAddr::V6(Ipv6Addr::from(a)), len)
                } else {
                    let len = [16u8, 20, 24, 28][i % 4];
                    (IpAddr::V4(Ipv4Addr::from(r.next() as u32)), len)
                };
                g.subnets.push((ip, len));
                (format!("{ip}/{len}"), "SUBNET")
            }
        };
        g.text.push_str(&format!(
            "{value}\tIntel::{kind}\t{source}\tgenerated {kind}\thttps://intel.example/{i}\n"
        ));
    }
    g
}

/// Resident set size in bytes (Linux), 0 elsewhere.
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn load(text: &str) -> IntelSet {
    let mut b = IntelSetBuilder::new(DomainMatch::Parents);
    b.add_zeek("generated.intel", text.as_bytes()).unwrap();
    b.build()
}

/// Probe values: the first `PROBES` hits (made to look observed) and as many misses.
fn probes<T: Clone>(hits: &[T], miss: impl FnMut(usize) -> T) -> (Vec<T>, Vec<T>) {
    let h = hits.iter().cycle().take(PROBES).cloned().collect();
    let m = (0..PROBES).map(miss).collect();
    (h, m)
}

/// How many matches `f` finds over `values`.
fn hits<'s, T>(set: &'s IntelSet, values: &[T], f: impl Fn(&'s IntelSet, &T, &mut Vec<Match<'s>>) -> usize) -> usize {
    let mut out = Vec::new();
    values.iter().map(|v| f(set, v, &mut out)).sum()
}

fn intel(c: &mut Criterion) {
    let measuring = std::env::args().any(|a| a == "--bench");
    let n = if measuring { 100_000 } else { 2_000 };
    let g = generate(n);

    let before = rss();
    let t = Instant::now();
    let set = load(&g.text);
    let elapsed = t.elapsed();
    let after = rss();
    eprintln!(
        "intel: {n} indicators ({} distinct; {} bytes of Zeek text) loaded in {:.1} ms; \
         RSS +{:.1} MiB; set estimate {:.1} MiB",
        set.len(),
        g.text.len(),
        elapsed.as_secs_f64() * 1e3,
        after.saturating_sub(before) as f64 / 1048576.0,
        set.heap_bytes() as f64 / 1048576.0,
    );

    let mut group = c.benchmark_group("intel_load");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("zeek_text", |b| b.iter(|| black_box(load(&g.text))));
    group.finish();

    let mut r = Rng(42);
    let (dom_hit, dom_miss) = probes(&g.domains, |i| format!("{}.example", r.word(8 + i % 5)));
    // Parent-domain hits: a subdomain of a listed domain.
    let dom_parent: Vec<String> = dom_hit.iter().map(|d| format!("www.cdn.{d}")).collect();
    let mut r = Rng(43);
    let (url_hit, url_miss) = probes(&g.urls, |_| format!("{}.com/{}/index.php?id=1", r.word(7), r.word(6)));
    let url_hit: Vec<String> = url_hit
        .iter()
        .map(|u| format!("https://{}", u.to_uppercase()))
        .collect();
    let mut r = Rng(44);
    let (mail_hit, mail_miss) = probes(&g.emails, |_| format!("{}@{}.com", r.word(6), r.word(8)));
    let mut r = Rng(45);
    let (ip_hit, ip_miss) = probes(&g.addrs, |i| {
        if i % 4 == 0 {
            IpAddr::V6(Ipv6Addr::from((0xfd00_u128 << 112) | u128::from(r.next())))
        } else {
            // 0.0.0.0/8 .. 9.x: outside the generated ranges only by chance; counted below.
            IpAddr::V4(Ipv4Addr::from(r.next() as u32))
        }
    });
    let subnet_hit: Vec<IpAddr> = g.subnets.iter().cycle().take(PROBES).map(|(ip, _)| *ip).collect();

    // Misses are random values: a few may fall in a generated subnet by chance.
    eprintln!(
        "intel: of {PROBES} miss probes matched: domain {}, URL {}, e-mail {}, IP {}",
        hits(&set, &dom_miss, |s, d, o| s.lookup_domain(d, o)),
        hits(&set, &url_miss, |s, u, o| s.lookup_url(u, o)),
        hits(&set, &mail_miss, |s, m, o| s.lookup_email(m, o)),
        hits(&set, &ip_miss, |s, i, o| s.lookup_ip(*i, o)),
    );
    eprintln!(
        "intel: of {PROBES} hit probes matched: domain {}, parent domain {}, URL {}, e-mail {}, \
         address {}, subnet {}",
        hits(&set, &dom_hit, |s, d, o| s.lookup_domain(d, o)),
        hits(&set, &dom_parent, |s, d, o| s.lookup_domain(d, o)),
        hits(&set, &url_hit, |s, u, o| s.lookup_url(u, o)),
        hits(&set, &mail_hit, |s, m, o| s.lookup_email(m, o)),
        hits(&set, &ip_hit, |s, i, o| s.lookup_ip(*i, o)),
        hits(&set, &subnet_hit, |s, i, o| s.lookup_ip(*i, o)),
    );

    let mut group = c.benchmark_group("intel_lookup");
    group.throughput(Throughput::Elements(PROBES as u64));
    let mut out: Vec<Match<'_>> = Vec::with_capacity(16);
    macro_rules! bench {
        ($name:expr, $values:expr, $f:ident, $conv:expr) => {
            let conv = $conv;
            group.bench_function($name, |b| {
                b.iter(|| {
                    let mut n = 0;
                    for v in $values.iter() {
                        out.clear();
                        n += set.$f(conv(v), &mut out);
                    }
                    black_box(n)
                })
            });
        };
    }
    bench!("domain_hit_exact", dom_hit, lookup_domain, String::as_str);
    bench!("domain_hit_parent", dom_parent, lookup_domain, String::as_str);
    bench!("domain_miss", dom_miss, lookup_domain, String::as_str);
    bench!("url_hit", url_hit, lookup_url, String::as_str);
    bench!("url_miss", url_miss, lookup_url, String::as_str);
    bench!("email_hit", mail_hit, lookup_email, String::as_str);
    bench!("email_miss", mail_miss, lookup_email, String::as_str);
    bench!("ip_hit_addr", ip_hit, lookup_ip, |v: &IpAddr| *v);
    bench!("ip_hit_subnet", subnet_hit, lookup_ip, |v: &IpAddr| *v);
    bench!("ip_miss", ip_miss, lookup_ip, |v: &IpAddr| *v);
    group.finish();
}

criterion_group!(benches, intel);
criterion_main!(benches);
