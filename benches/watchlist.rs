//! Watchlist load time, memory and lookup cost with 1,000,000 entries.
//!
//! The lists are generated in memory: `parliamentarians` and `staff` as CSV (one address, one
//! `DOMAIN\user` name and one IPv4 address per person; every 10th person also a /24, every 20th
//! an IPv6 /64), `journalists` as plain text (addresses and one `@domain` in 24 lines). Load time
//! is the parse and index of all three texts; memory is the growth of the resident set over the
//! load (`/proc/self/statm`) next to [`Watchlists::heap_bytes`]. Lookups cycle through 1,024
//! keys of each kind (hits in another case than written, misses that share the hits' shape), so
//! the tables are probed at random as events would.
//!
//! `cargo bench --bench watchlist`; under `cargo test` (no `--bench` argument) criterion runs
//! each benchmark once on 1/1000 of the size.

use std::fmt::Write as _;
use std::hint::black_box;
use std::net::IpAddr;
use std::time::Instant;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use reconwatch::enrich::watchlist::Watchlists;

/// Entries when measuring; `cargo test` uses a thousandth.
const ENTRIES: usize = 1_000_000;
/// Keys per lookup benchmark, cycled through.
const KEYS: usize = 1024;

/// The three list texts, and how many entries they hold.
struct Lists {
    parliamentarians: String,
    staff: String,
    journalists: String,
    entries: usize,
}

/// Persons in a CSV list `tag` (`p` or `s`), `count` rows starting at person `first`.
fn persons_csv(tag: char, first: usize, count: usize, entries: &mut usize) -> String {
    let mut out = String::from("email,name,group,usernames,ips\n");
    for i in first..first + count {
        let mut ips = format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255);
        *entries += 3;
        if i % 10 == 0 {
            let _ = write!(ips, ";172.{}.{}.0/24", 16 + (i >> 16 & 15), i >> 8 & 255);
            *entries += 1;
        }
        if i % 20 == 0 {
            let _ = write!(ips, ";2001:db8:{:x}:{:x}::/64", i >> 16, i & 0xffff);
            *entries += 1;
        }
        let _ = writeln!(
            out,
            "{tag}{i}.Person@Mail{}.Parliament.example,Person {i},Group {},PARL\\{tag}user{i},{ips}",
            i % 50,
            i % 12
        );
    }
    out
}

fn generate(entries: usize) -> Lists {
    // About 3.3 entries per person; the rest of the budget goes to journalists.
    let (parl, staff) = (entries / 10, entries * 15 / 100);
    let mut n = 0;
    let parliamentarians = persons_csv('p', 0, parl, &mut n);
    let staff = persons_csv('s', parl, staff, &mut n);
    let mut journalists = String::from("# journalists\n");
    for i in 0..entries.saturating_sub(n) {
        if i % 24 == 0 {
            let _ = writeln!(journalists, "@newsroom{i}.example");
        } else {
            let _ = writeln!(journalists, "reporter{i}@outlet{}.example", i % 500);
        }
        n += 1;
    }
    Lists {
        parliamentarians,
        staff,
        journalists,
        entries: n,
    }
}

fn load(lists: &Lists) -> Watchlists {
    let mut wl = Watchlists::new();
    wl.add_text("parliamentarians", "p.csv", &lists.parliamentarians)
        .unwrap();
    wl.add_text("staff", "s.csv", &lists.staff).unwrap();
    wl.add_text("journalists", "j.txt", &lists.journalists).unwrap();
    wl
}

/// Resident set size in bytes (Linux; 0 elsewhere).
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// `KEYS` values made by `f` from spread-out indexes below `n`.
fn keys<T>(n: usize, f: impl Fn(usize) -> T) -> Vec<T> {
    (0..KEYS).map(|k| f(k * 7919 % n.max(1))).collect()
}

fn addr(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Benchmarks `run` over `keys` (cycling), after checking that each key hits or misses.
fn lookups<T: std::fmt::Debug>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    wl: &Watchlists,
    name: &str,
    keys: Vec<T>,
    run: &dyn Fn(&Watchlists, &T) -> usize,
    hit: bool,
) {
    for k in &keys {
        assert_eq!(run(wl, k) > 0, hit, "{name}: {k:?}");
    }
    let mut i = 0;
    group.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            run(wl, black_box(&keys[i]))
        })
    });
}

fn watchlist(c: &mut Criterion) {
    let measuring = std::env::args().any(|a| a == "--bench");
    let entries = if measuring { ENTRIES } else { ENTRIES / 1000 };
    let lists = generate(entries);
    let (parl, staff) = (entries / 10, entries * 15 / 100);
    let persons = parl + staff;
    let journalists = lists.entries - persons * 3 - persons / 10 - persons / 20;

    let before = rss();
    let started = Instant::now();
    let wl = load(&lists);
    let load_time = started.elapsed();
    let grown = rss().saturating_sub(before);

    let mut group = c.benchmark_group("watchlist");
    group.sample_size(10);
    group.bench_function("load", |b| b.iter(|| load(black_box(&lists))));
    group.sample_size(50);

    let email = |wl: &Watchlists, k: &String| wl.lookup_email(k).count();
    let user = |wl: &Watchlists, k: &String| wl.lookup_username(k).count();
    let ip = |wl: &Watchlists, k: &IpAddr| wl.lookup_ip(*k).count();
    let email_of = |i: usize| format!("P{i}.person@mail{}.parliament.EXAMPLE", i % 50);
    lookups(
        &mut group,
        &wl,
        "email hit (address)",
        keys(parl, email_of),
        &email,
        true,
    );
    lookups(
        &mut group,
        &wl,
        "email hit (@domain, subdomain)",
        keys(journalists, |i| format!("x{i}@Mail.Newsroom{}.example", i / 24 * 24)),
        &email,
        true,
    );
    lookups(
        &mut group,
        &wl,
        "email miss",
        keys(parl, |i| format!("q{i}.person@mail{}.parliament.example", i % 50)),
        &email,
        false,
    );
    lookups(
        &mut group,
        &wl,
        "username hit (DOMAIN\\user)",
        keys(parl, |i| format!("parl\\PUSER{i}")),
        &user,
        true,
    );
    lookups(
        &mut group,
        &wl,
        "username hit (user@realm)",
        keys(parl, |i| format!("puser{i}@PARL.EXAMPLE")),
        &user,
        true,
    );
    lookups(
        &mut group,
        &wl,
        "username miss",
        keys(parl, |i| format!("quser{i}")),
        &user,
        false,
    );
    let v4 = |i: usize| addr(&format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255));
    lookups(&mut group, &wl, "ipv4 hit (address)", keys(persons, v4), &ip, true);
    lookups(
        &mut group,
        &wl,
        "ipv4 hit (/24)",
        keys(persons, |i| {
            // The /24 of the nearest person with one (every 10th).
            let p = i / 10 * 10;
            addr(&format!("172.{}.{}.99", 16 + (p >> 16 & 15), p >> 8 & 255))
        }),
        &ip,
        true,
    );
    lookups(
        &mut group,
        &wl,
        "ipv4 miss",
        keys(persons, |i| {
            addr(&format!("11.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255))
        }),
        &ip,
        false,
    );
    lookups(
        &mut group,
        &wl,
        "ipv6 hit (/64)",
        keys(persons, |i| {
            // The /64 of the nearest person with one (every 20th).
            let p = i / 20 * 20;
            addr(&format!("2001:db8:{:x}:{:x}::1", p >> 16, p & 0xffff))
        }),
        &ip,
        true,
    );
    lookups(
        &mut group,
        &wl,
        "ipv6 miss",
        keys(persons, |i| addr(&format!("2001:db9::{:x}:{:x}", i >> 16, i & 0xffff))),
        &ip,
        false,
    );
    group.finish();

    println!(
        "watchlist: {} entries ({persons} persons) loaded in {:.2} s; resident set grew {:.1} MiB, \
         heap_bytes() {:.1} MiB ({:.0} B/entry)",
        lists.entries,
        load_time.as_secs_f64(),
        grown as f64 / 1048576.0,
        wl.heap_bytes() as f64 / 1048576.0,
        wl.heap_bytes() as f64 / lists.entries.max(1) as f64,
    );
}

criterion_group!(benches, watchlist);
criterion_main!(benches);
