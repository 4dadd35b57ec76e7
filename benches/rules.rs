//! Events per second through [`Engine::matches`] for 10, 100 and 1,000 Sigma rules, and how the
//! cost per event grows with the number of rules (step 2 aims at no more than 3x from 10 to
//! 1,000).
//!
//! Events: real parsed events of a generated world (Squid and ProxySG access logs, the Postfix
//! maillog), parsed once and kept owned, so only matching is measured. Web and mail events are
//! measured apart, because each runs its own category's rules.
//!
//! Rules: a seeded generator writes Sigma YAML shaped like real proxy and email rules (paths,
//! IOC domain lists, tool user agents, methods and status codes, extensions, a few regexes, query
//! `contains|all`, `not filter`, `1 of selection_*`; lookalike sender domains, subjects, mail
//! URLs), drawn from realistic vocabularies. As in production almost none of them match the
//! traffic; one rule in [`HIT_EVERY`] is taken from a short list written to match some of it.
//! The 10- and 100-rule sets are the first rules of the 1,000-rule set.
//!
//! `cargo bench --bench rules` measures and prints, at the end, nanoseconds per event and the
//! ratio of 1,000 rules to 10. Under `cargo test` (no `--bench` argument) criterion runs each
//! benchmark once, on a small world.
//!
//! `rules_load` measures loading IOC-list rule files (YAML text to a compiled [`Engine`]) of
//! 20,000, 50,000 and 200,000 values in two shapes ([`Ioc`]): one rule with every value, and
//! rules of [`IOC_PER_RULE`] values each. With `RECONWATCH_IOC_RULES=DIR` set, the bench first
//! writes those files to `DIR` (`ioc-one-200000.yml` ...), to measure `reconwatch rules check`
//! on them with `/usr/bin/time -v`; they are generated, never committed.

mod common;
use common::events;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use reconwatch::event::{Event, Field, Value};
use reconwatch::rules::Engine;
use reconwatch::rules::load::Loaded;
use reconwatch::world::{GenConfig, write_world};

/// Rule set sizes measured.
const SIZES: [usize; 3] = [10, 100, 1_000];
/// One rule in this many is written to match some of the generated traffic.
const HIT_EVERY: usize = 40;
/// World size for measuring (about 7 MB of Squid log, 2.5 MB of ProxySG, 4 MB of maillog) and
/// for `cargo test`, where the benchmark runs once and setup time dominates.
const WORLD_BYTES: u64 = 16_000_000;
const TEST_WORLD_BYTES: u64 = 1_500_000;

/// Time spent matching and events matched, per (input, rule count).
type Times<'a> = BTreeMap<(&'a str, usize), (Duration, u64)>;

fn engine(rules: &[String]) -> Engine {
    let mut loaded = Loaded::default();
    for (i, text) in rules.iter().enumerate() {
        loaded.add_text(&format!("generated/{i:04}.yml"), text, &Default::default());
    }
    compile(loaded)
}

fn compile(loaded: Loaded) -> Engine {
    let problems: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
    assert!(problems.is_empty(), "generated rules must load: {problems:#?}");
    Engine::new(loaded.rules).unwrap()
}

/// Events matched between two clock reads: with their strings about 100 KB, so they stay in L2
/// next to the matcher's tables.
const CHUNK: usize = 64;

/// Matches every event once, a chunk at a time; returns the time spent in [`Engine::matches`]
/// and the number of (event, rule) matches.
///
/// Each chunk is read (untimed) before it is matched, so its events are in cache as a
/// just-parsed event is in `reconwatch scan`. Streaming through all the events instead would add
/// the cache misses of reading them back from memory (about 600 ns per event here, more than
/// matching 10 rules costs), a floor that would also flatten the ratio between rule counts.
///
/// A chunk during which the thread was preempted is left out and the time of the others is
/// scaled to every event: on a machine shared with other builds, preemption made runs of the
/// same binary differ by a third, more than the changes measured (this favours fast chunks a
/// little, the same for every build compared).
fn match_all(engine: &Engine, events: &[Event<'static>]) -> (Duration, usize) {
    let mut scratch = engine.scratch();
    let mut out = Vec::new();
    let mut matched = 0;
    let (mut all, mut kept, mut kept_events) = (Duration::ZERO, Duration::ZERO, 0);
    for chunk in events.chunks(CHUNK) {
        black_box(touch(chunk));
        let slices = timeslices();
        let start = Instant::now();
        for e in chunk {
            out.clear();
            engine.matches(e, &mut scratch, &mut out);
            matched += out.len();
        }
        let took = start.elapsed();
        all += took;
        if timeslices() == slices {
            kept += took;
            kept_events += chunk.len();
        }
    }
    if kept_events == 0 {
        return (all, matched);
    }
    (kept.mul_f64(events.len() as f64 / kept_events as f64), matched)
}

/// How many times this thread has been given a CPU (the third field of Linux's
/// `/proc/thread-self/schedstat`; 0 where there is none, so nothing is left out).
fn timeslices() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(0)
}

/// Reads every field of `events` (a sum, so the reads are not optimised away).
fn touch(events: &[Event<'static>]) -> usize {
    let mut sum = 0;
    for e in events {
        for &f in Field::ALL {
            sum += match e.get(f) {
                Some(Value::Str(s)) => s.bytes().map(usize::from).sum(),
                Some(Value::List(items)) => items.iter().flat_map(|s| s.bytes()).map(usize::from).sum(),
                Some(_) => 1,
                None => 0,
            };
        }
    }
    sum
}

fn rules(c: &mut Criterion) {
    // criterion measures only when cargo passes `--bench`; otherwise it runs each bench once.
    let measuring = std::env::args().any(|a| a == "--bench");
    let world = tempfile::tempdir().unwrap();
    let summary = write_world(
        &GenConfig {
            seed: 7,
            target_bytes: if measuring { WORLD_BYTES } else { TEST_WORLD_BYTES },
        },
        world.path(),
    )
    .unwrap();
    let inputs = [
        ("web", events(&summary.files, &["web/access.log", "web/proxysg/"])),
        ("mail", events(&summary.files, &["mail/maillog"])),
    ];
    let all_rules = generate(SIZES[SIZES.len() - 1], 0x5167_6d61);

    // Mean time per event of each (input, size), from every timed batch criterion ran.
    let times: RefCell<Times> = RefCell::default();
    let mut group = c.benchmark_group("rules");
    group.sample_size(20);
    for size in SIZES {
        let engine = engine(&all_rules[..size]);
        for (name, events) in &inputs {
            let (_, matched) = match_all(&engine, events);
            eprintln!(
                "{name}: {} events, {size} rules: {matched} matches ({:.3} per event)",
                events.len(),
                matched as f64 / events.len().max(1) as f64
            );
            group.throughput(Throughput::Elements(events.len() as u64));
            group.bench_with_input(BenchmarkId::new(*name, size), events, |b, events| {
                b.iter_custom(|iters| {
                    let mut took = Duration::ZERO;
                    for _ in 0..iters {
                        let (t, matched) = match_all(&engine, events);
                        took += t;
                        black_box(matched);
                    }
                    let mut t = times.borrow_mut();
                    let e = t.entry((name, size)).or_default();
                    e.0 += took;
                    e.1 += iters * events.len() as u64;
                    took
                })
            });
        }
    }
    group.finish();
    if measuring {
        report(&times.into_inner());
    }
}

/// Prints nanoseconds per event per size and the ratio of the largest set to the smallest.
fn report(times: &Times) {
    let ns = |k: &(&str, usize)| times.get(k).map(|(d, n)| d.as_nanos() as f64 / (*n).max(1) as f64);
    let (small, large) = (SIZES[0], SIZES[SIZES.len() - 1]);
    for name in ["web", "mail"] {
        let mut line = format!("{name}: ns/event");
        for size in SIZES {
            if let Some(t) = ns(&(name, size)) {
                let _ = write!(line, "  {size} rules {t:.0}");
            }
        }
        if let (Some(a), Some(b)) = (ns(&(name, small)), ns(&(name, large))) {
            let _ = write!(line, "  cost({large})/cost({small}) = {:.2}", b / a);
        }
        eprintln!("{line}");
    }
}

// ---------------------------------------------------------------------------------------------
// The rule generator.

/// SplitMix64: a tiny seeded generator, the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// `lo..=hi` distinct items of `items` (all of them when there are fewer).
    fn some(&mut self, items: &[&str], lo: usize, hi: usize) -> Vec<String> {
        let n = self.range(lo, hi);
        let mut pool: Vec<&str> = items.to_vec();
        let mut out = Vec::new();
        while out.len() < n && !pool.is_empty() {
            out.push(pool.swap_remove(self.below(pool.len())).to_owned());
        }
        out
    }

    /// `lo..=hi` values made by `f`, without repeats.
    fn unique(&mut self, lo: usize, hi: usize, mut f: impl FnMut(&mut Rng) -> String) -> Vec<String> {
        let n = self.range(lo, hi);
        let mut out: Vec<String> = Vec::with_capacity(n);
        for _ in 0..n * 4 {
            if out.len() == n {
                break;
            }
            let v = f(self);
            if !out.contains(&v) {
                out.push(v);
            }
        }
        out
    }
}

/// Paths probed by scanners and used by web shells, exploit kits and C2 panels.
const WEB_PATHS: &[&str] = &[
    "/wp-admin/",
    "/wp-login.php",
    "/wp-content/plugins/",
    "/wp-includes/",
    "/xmlrpc.php",
    "/phpmyadmin/",
    "/pma/",
    "/.env",
    "/.git/",
    "/.svn/",
    "/cgi-bin/",
    "/api/v1/",
    "/api/v2/",
    "/api/graphql",
    "/administrator/",
    "/actuator/",
    "/solr/admin",
    "/owa/auth/",
    "/ecp/",
    "/autodiscover/autodiscover.xml",
    "/remote/login",
    "/dana-na/",
    "/manager/html",
    "/jmx-console/",
    "/invoker/",
    "/struts2-",
    "/HNAP1",
    "/boaform/",
    "/vendor/phpunit/",
    "/server-status",
    "/shell.php",
    "/cmd.jsp",
    "/upload.aspx",
    "/config.php",
    "/setup.php",
    "/install.php",
    "/login.action",
    "/Telerik.Web.UI.WebResource.axd",
    "/mifs/",
    "/tmui/",
    "/sslvpn",
    "/global-protect/",
    "/+CSCOE+/",
    "/webtools/",
    "/jenkins/script",
    "/bin/sh",
    "/etc/passwd",
    "/proc/self/",
    "/..%2f",
    "/%2e%2e/",
    "/gate.php",
    "/panel/login",
    "/bot.php",
    "/submit.php",
    "/c99.php",
    "/r57.php",
    "/eval-stdin.php",
    "/wso.php",
    "/index.php?option=com_",
    "/console/login/",
    "/ReportServer",
    "/vpn/index.html",
];
const DIRS: &[&str] = &[
    "images",
    "img",
    "css",
    "js",
    "includes",
    "wp-content/uploads",
    "files",
    "upload",
    "static",
    "assets",
    "tmp",
    "media",
    "cache",
    "lib",
    "modules",
    "templates",
    "themes",
    "plugins",
];
const WORDS: &[&str] = &[
    "gate", "panel", "admin", "login", "update", "config", "install", "shell", "cmd", "upload", "bot", "check",
    "connect", "loader", "main", "post", "submit", "track", "stat", "beacon", "report", "auth", "session", "secure",
    "verify", "account", "invoice", "document", "payment", "office", "cloud", "mail", "portal", "service", "support",
    "sync", "backup", "download", "file", "image", "cdn", "web", "app", "online", "global", "system", "data", "host",
];
const SCRIPT_EXTS: &[&str] = &["php", "jsp", "aspx", "asp", "cgi", "pl", "do", "action", "ashx", "cfm"];
const DROP_EXTS: &[&str] = &[
    "exe", "dll", "scr", "ps1", "hta", "vbs", "bat", "msi", "jar", "lnk", "iso",
];
const TLDS: &[&str] = &[
    "top", "xyz", "info", "online", "site", "club", "ru", "cn", "tk", "pw", "cc", "biz", "live", "icu", "buzz", "su",
    "ws", "me", "io", "net", "org", "com",
];
const UA_PREFIXES: &[&str] = &[
    "sqlmap/",
    "Nikto/",
    "curl/",
    "Wget/",
    "python-requests/",
    "Python-urllib/",
    "Go-http-client/",
    "Java/",
    "okhttp/",
    "libwww-perl/",
    "Mozilla/4.0 (compatible; MSIE",
    "Mozilla/5.0 (compatible; Nmap",
    "Mozilla/3.0",
    "WinHTTP",
    "Apache-HttpClient/",
    "PycURL/",
    "aiohttp/",
    "axios/",
    "node-fetch/",
    "masscan/",
    "zgrab/",
    "fasthttp",
    "HTTPie/",
];
const UA_WORDS: &[&str] = &[
    "sqlmap",
    "Nikto",
    "Nmap Scripting Engine",
    "masscan",
    "zgrab",
    "Nuclei",
    "WPScan",
    "Acunetix",
    "Netsparker",
    "gobuster",
    "DirBuster",
    "feroxbuster",
    "Fuzz Faster U Fool",
    "Hydra",
    "Havij",
    "HTTrack",
    "ZmEu",
    "Morfeus",
    "BlackWidow",
    "WinHttpRequest",
    "WindowsPowerShell",
    "CertUtil URL Agent",
    "Microsoft BITS",
    "MSIE 6.0",
    "Windows NT 5.1",
    "Trident/4.0",
    "Windows 98",
    "zmeu",
    "Baiduspider-render",
    "Mozilla/5.0 zgrab",
];
const METHODS: &[&str] = &["POST", "PUT", "DELETE", "PROPFIND", "OPTIONS", "TRACE", "PATCH"];
const STATUSES: &[&str] = &["401", "403", "404", "405", "500", "501", "502", "503"];
/// Query-string pairs that must occur together (`|contains|all`).
const QUERY_PAIRS: &[[&str; 2]] = &[
    ["cmd=", "whoami"],
    ["cmd=", "exec"],
    ["action=", "upload"],
    ["file=", "../"],
    ["id=", "union+select"],
    ["union+all", "select+"],
    ["q=", "<script"],
    ["url=", "file://"],
    ["page=", "php://"],
    ["lang=", "../../"],
    ["c=", "powershell"],
    ["exec=", "cmd.exe"],
    ["x=", "${jndi:"],
    ["cmd=", "/bin/bash"],
    ["path=", "/etc/"],
    ["debug=", "true&cmd"],
];
/// Legitimate domains used in filters.
const LEGIT: &[&str] = &[
    ".microsoft.com",
    ".windowsupdate.com",
    ".adobe.com",
    ".google.com",
    ".apple.com",
    ".mozilla.org",
    ".office.com",
    ".office365.com",
    ".akamaized.net",
    ".cloudfront.net",
    ".digicert.com",
    ".symantec.com",
    ".zoom.us",
    ".gov.elmaria.example",
];
const OUTLETS: &[&str] = &[
    "bbc",
    "reuters",
    "nytimes",
    "guardian",
    "ft",
    "economist",
    "bloomberg",
    "cnn",
    "apnews",
    "aljazeera",
    "washingtonpost",
    "wsj",
    "politico",
    "dw",
    "france24",
    "euronews",
    "skynews",
    "lemonde",
    "spiegel",
    "elpais",
    "corriere",
    "nhk",
    "scmp",
    "telegraph",
    "independent",
    "axios",
    "herald",
    "tribune",
    "gazette",
    "observer",
];
const NEWS_WORDS: &[&str] = &[
    "news", "world", "press", "media", "newsroom", "daily", "today", "online", "live", "alerts", "briefing", "digest",
    "report", "update", "journal", "insider", "weekly", "desk", "wire",
];
const SUBJECTS: &[&str] = &[
    "Interview request",
    "Request for comment",
    "Invitation to speak",
    "Your account",
    "Password expir",
    "Verify your",
    "Action required",
    "Urgent:",
    "Confidential:",
    "Invoice",
    "Payment advice",
    "Shared document",
    "has shared a file",
    "DocuSign",
    "Voicemail",
    "Delivery failure",
    "Security alert",
    "Unusual sign-in",
    "conference on",
    "Roundtable",
    "Panel discussion",
    "Exclusive:",
    "Op-ed",
    "Press accreditation",
    "Embargoed",
    "Question from",
    "Your opinion on",
    "Survey",
    "Remittance",
    "Wire transfer",
    "Mailbox full",
    "Quarantined message",
    "Re: Re: Fw:",
    "Final notice",
    "Secure message",
];
const MAIL_URLS: &[&str] = &[
    "/wp-content/",
    ".php?id=",
    "/redirect?url=",
    "bit.ly/",
    "tinyurl.com/",
    "/login/",
    "/track/open",
    "/1x1.gif",
    "/beacon.gif",
    "docs.google.com/forms",
    "/drive/folders/",
    "onedrive.live.com",
    "sharepoint.com/:",
    "dropbox.com/s/",
    "/download?file=",
    ".zip",
    ".iso",
    ".lnk",
    ".hta",
    "/invoice",
    "ipfs.io/ipfs/",
    "firebasestorage.googleapis.com",
    "web.app/",
    "ngrok.io",
    "workers.dev",
    "glitch.me",
    "000webhostapp.com",
    "/owa/",
];
const LEVELS: &[&str] = &["low", "medium", "medium", "high", "high", "critical"];

/// Rules written to match some of the generated traffic: (category, title, detection).
const HITS: &[(&str, &str, &str)] = &[
    (
        "proxy",
        "Tracking Pixel Fetch",
        "  selection_pixel:\n    c-uri|contains:\n      - '/p.gif?'\n      - '/o.gif?'\n      - '/open.gif?'\n  selection_get:\n    cs-method: 'GET'\n  condition: all of selection_*\n",
    ),
    (
        "email",
        "Mail From News Lookalike Domains",
        "  selection:\n    email.from.address|endswith:\n      - '@bbc-worldnews.example'\n      - '@ft-newsroom.example'\n      - '@politlco.example'\n      - '@reuters-world.example'\n  condition: selection\n",
    ),
    (
        "proxy",
        "Executable Download Outside Update Hosts",
        "  selection:\n    c-uri|endswith: '.exe'\n  filter:\n    cs-host|endswith:\n      - 'download.windowsupdate.com'\n      - '.microsoft.com'\n  condition: selection and not filter\n",
    ),
    (
        "proxy",
        "Document Fetched From EU Institutions",
        "  selection:\n    c-uri|endswith: '.pdf'\n    cs-host|endswith: '.europa.eu'\n  condition: selection\n",
    ),
    (
        "email",
        "Newsletter Briefing Subject",
        "  selection:\n    email.subject|contains: 'FirstFT'\n  condition: selection\n",
    ),
    (
        "proxy",
        "Mailing-List Open Tracking",
        "  selection:\n    cs-host|endswith: '.list-manage.com'\n    c-uri|contains: '/track/open'\n  condition: selection\n",
    ),
];

/// A random domain an IOC feed could list.
fn domain(rng: &mut Rng) -> String {
    let (a, b, tld) = (rng.pick(WORDS), rng.pick(WORDS), rng.pick(TLDS));
    match rng.below(3) {
        0 => format!("{a}-{b}.{tld}"),
        1 => format!("{a}{b}{}.{tld}", rng.below(100)),
        _ => format!("{a}.{b}-{}.{tld}", rng.pick(WORDS)),
    }
}

/// A path a rule might list: from the shared list, or a script under a common directory.
fn path(rng: &mut Rng) -> String {
    match rng.below(3) {
        0 => rng.pick(WEB_PATHS).to_owned(),
        1 => format!("/{}/{}.{}", rng.pick(DIRS), rng.pick(WORDS), rng.pick(SCRIPT_EXTS)),
        _ => format!(
            "/{:08x}/{}.{}",
            rng.next() as u32,
            rng.pick(WORDS),
            rng.pick(SCRIPT_EXTS)
        ),
    }
}

/// A lookalike sender domain of a news outlet, as `@domain`.
fn news_sender(rng: &mut Rng) -> String {
    let (o, w, tld) = (rng.pick(OUTLETS), rng.pick(NEWS_WORDS), rng.pick(TLDS));
    match rng.below(3) {
        0 => format!("@{o}-{w}.{tld}"),
        1 => format!("@{o}{w}.{tld}"),
        _ => format!("@{w}-{o}.{tld}"),
    }
}

/// Writes `key:` with one value or a list, single-quoted.
fn key(out: &mut String, key: &str, values: &[String]) {
    let q = |v: &str| format!("'{}'", v.replace('\'', "''"));
    match values {
        [one] => {
            let _ = writeln!(out, "    {key}: {}", q(one));
        }
        many => {
            let _ = writeln!(out, "    {key}:");
            for v in many {
                let _ = writeln!(out, "      - {}", q(v));
            }
        }
    }
}

/// The detection of one rule that should match nothing: (category, title, detection body).
fn miss(rng: &mut Rng) -> (&'static str, String, String) {
    let mut d = String::new();
    let roll = rng.below(100);
    if roll >= 75 {
        return mail_miss(rng, roll);
    }
    let (title, condition) = match roll {
        0..=14 => {
            d.push_str("  selection:\n");
            key(&mut d, "c-uri|contains", &rng.unique(3, 12, path));
            if rng.below(3) == 0 {
                key(&mut d, "cs-method", &[rng.pick(METHODS).to_owned()]);
            }
            ("Suspicious Web Path Requested", "selection")
        }
        15..=29 => {
            d.push_str("  selection:\n");
            let domains = rng.unique(5, 40, |r| {
                let d = domain(r);
                if r.below(2) == 0 { format!(".{d}") } else { d }
            });
            key(&mut d, "cs-host|endswith", &domains);
            ("Request to Known Malicious Domain", "selection")
        }
        30..=37 => {
            d.push_str("  selection:\n");
            if rng.below(2) == 0 {
                key(&mut d, "c-useragent|startswith", &rng.some(UA_PREFIXES, 1, 6));
            } else {
                key(&mut d, "c-useragent|contains", &rng.some(UA_WORDS, 1, 6));
            }
            ("Hacking Tool User Agent", "selection")
        }
        38..=43 => {
            d.push_str("  selection:\n");
            key(&mut d, "cs-method", &["POST".to_owned()]);
            key(&mut d, "c-uri-extension", &rng.some(SCRIPT_EXTS, 1, 4));
            key(&mut d, "sc-status", &[rng.pick(STATUSES).to_owned()]);
            let dir = rng.pick(DIRS);
            key(&mut d, "c-uri|contains", &[format!("/{dir}/{}", rng.pick(WORDS))]);
            ("Script Posted Under Static Directory", "selection")
        }
        44..=51 => {
            d.push_str("  selection:\n");
            let exts: Vec<String> = rng.some(DROP_EXTS, 2, 6).iter().map(|e| format!(".{e}")).collect();
            key(&mut d, "c-uri|endswith", &exts);
            key(&mut d, "cs-host|endswith", &rng.unique(3, 15, domain));
            d.push_str("  filter:\n");
            key(&mut d, "cs-host|endswith", &rng.some(LEGIT, 2, 6));
            ("Payload Download From Suspicious Host", "selection and not filter")
        }
        52..=59 => {
            d.push_str("  selection_path:\n");
            key(&mut d, "c-uri|contains", &rng.unique(2, 6, path));
            d.push_str("  selection_ua:\n");
            key(&mut d, "c-useragent|contains", &rng.some(UA_WORDS, 1, 4));
            ("Scanner Activity", "1 of selection_*")
        }
        60..=66 => {
            d.push_str("  selection:\n");
            let [a, b] = QUERY_PAIRS[rng.below(QUERY_PAIRS.len())];
            key(&mut d, "cs-uri-query|contains|all", &[a.to_owned(), b.to_owned()]);
            ("Command Injection in Query", "selection")
        }
        67..=70 => {
            d.push_str("  selection:\n");
            let re = match rng.below(3) {
                0 => format!(
                    "/[a-f0-9]{{{}}}/{}\\.{}$",
                    rng.range(16, 40),
                    rng.pick(WORDS),
                    rng.pick(SCRIPT_EXTS)
                ),
                1 => format!(
                    "^https?://[0-9]{{1,3}}(\\.[0-9]{{1,3}}){{3}}(:[0-9]+)?/{}",
                    rng.pick(WORDS)
                ),
                _ => format!(
                    "/({}|{})/[A-Za-z0-9+/]{{40,}}={{0,2}}$",
                    rng.pick(WORDS),
                    rng.pick(WORDS)
                ),
            };
            key(&mut d, "c-uri|re", &[re]);
            ("Suspicious URL Pattern", "selection")
        }
        _ => {
            d.push_str("  selection:\n");
            key(&mut d, "cs-host|endswith", &rng.unique(2, 10, domain));
            key(&mut d, "c-useragent|contains", &rng.some(UA_WORDS, 1, 3));
            d.push_str("  filter:\n");
            key(&mut d, "cs-method", &["CONNECT".to_owned()]);
            ("Tool Traffic to Suspicious Host", "selection and not filter")
        }
    };
    let _ = writeln!(d, "  condition: {condition}");
    ("proxy", title.to_owned(), d)
}

/// [`miss`] for category email (`roll` in 75..100).
fn mail_miss(rng: &mut Rng, roll: usize) -> (&'static str, String, String) {
    let mut d = String::new();
    let (title, condition) = match roll {
        75..=83 => {
            d.push_str("  selection:\n");
            key(&mut d, "email.from.address|endswith", &rng.unique(3, 20, news_sender));
            ("Mail From News Lookalike Domain", "selection")
        }
        84..=89 => {
            d.push_str("  selection:\n");
            key(&mut d, "email.subject|contains", &rng.some(SUBJECTS, 1, 4));
            key(&mut d, "email.from.address|endswith", &rng.unique(2, 8, news_sender));
            d.push_str("  filter:\n");
            key(
                &mut d,
                "email.from.address|endswith",
                &["@parliament.elmaria.example".to_owned()],
            );
            ("Lure Subject From Lookalike Sender", "selection and not filter")
        }
        90..=95 => {
            d.push_str("  selection_url:\n");
            key(&mut d, "email.urls|contains", &rng.some(MAIL_URLS, 2, 6));
            d.push_str("  selection_domain:\n");
            let domains: Vec<String> = rng
                .unique(3, 12, domain)
                .into_iter()
                .map(|d| format!("//{d}/"))
                .collect();
            key(&mut d, "email.urls|contains", &domains);
            ("Mail Linking to Suspicious Host", "all of selection_*")
        }
        96..=97 => {
            d.push_str("  selection:\n");
            let re = format!(
                "https?://[^/]*{}-[^/]*\\.({}|{})/",
                rng.pick(OUTLETS),
                rng.pick(TLDS),
                rng.pick(TLDS)
            );
            key(&mut d, "email.urls|re", &[re]);
            ("Link to News Lookalike Domain", "selection")
        }
        _ => {
            d.push_str("  selection_subject:\n");
            key(&mut d, "email.subject|contains", &rng.some(SUBJECTS, 1, 3));
            d.push_str("  selection_url:\n");
            key(&mut d, "email.urls|contains", &rng.some(MAIL_URLS, 1, 3));
            d.push_str("  selection_sender:\n");
            key(&mut d, "email.from.address|endswith", &rng.unique(1, 4, news_sender));
            (
                "Lure With Link",
                "selection_sender and (selection_subject or selection_url)",
            )
        }
    };
    let _ = writeln!(d, "  condition: {condition}");
    ("email", title.to_owned(), d)
}

/// `n` rules as Sigma YAML documents (one per file), the same for the same seed.
fn generate(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| {
            let (category, title, detection) = if i % HIT_EVERY == 0 {
                let (c, t, d) = HITS[(i / HIT_EVERY) % HITS.len()];
                (c, t.to_owned(), d.to_owned())
            } else {
                miss(&mut rng)
            };
            let level = rng.pick(LEVELS);
            format!(
                "title: {title} {i}\n\
                 id: 6e0b4a2c-0000-4000-8000-{i:012x}\n\
                 status: experimental\n\
                 description: Generated for benches/rules.rs ({category} rule {i}).\n\
                 author: reconwatch bench\n\
                 date: 2026-11-26\n\
                 tags:\n  - attack.initial_access\n  - attack.t1190\n\
                 logsource:\n  category: {category}\n\
                 detection:\n{detection}\
                 falsepositives:\n  - Unknown\n\
                 level: {level}\n"
            )
        })
        .collect()
}

/// Values per IOC-list file whose loading is measured.
const IOC_SIZES: [usize; 3] = [20_000, 50_000, 200_000];
/// Values per rule in [`Ioc::Many`] files: "tens of thousands".
const IOC_PER_RULE: usize = 25_000;

/// Load time of IOC-list rule files, text to a compiled engine (what `rules check` and the
/// start of `scan` do), per file size and [`Ioc`] shape.
fn load(c: &mut Criterion) {
    let measuring = std::env::args().any(|a| a == "--bench");
    if let Some(dir) = std::env::var_os("RECONWATCH_IOC_RULES") {
        write_ioc_files(Path::new(&dir));
    }
    // Under `cargo test` only the smallest file: the run is a check that the bench works.
    let sizes = if measuring { &IOC_SIZES[..] } else { &IOC_SIZES[..1] };
    let mut group = c.benchmark_group("rules_load");
    group.sample_size(10);
    for shape in [Ioc::One, Ioc::Many] {
        for &values in sizes {
            let text = ioc_file(shape, values);
            group.throughput(Throughput::Bytes(text.len() as u64));
            group.bench_with_input(BenchmarkId::new(shape.name(), values), &text, |b, text| {
                b.iter(|| {
                    let mut loaded = Loaded::default();
                    loaded.add_text("ioc.yml", text, &Default::default());
                    compile(loaded)
                })
            });
        }
    }
    group.finish();
}

/// Writes every measured IOC-list file into `dir`.
fn write_ioc_files(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for shape in [Ioc::One, Ioc::Many] {
        for values in IOC_SIZES {
            let path = dir.join(format!("ioc-{}-{values}.yml", shape.name()));
            std::fs::write(&path, ioc_file(shape, values)).unwrap();
            eprintln!("wrote {}", path.display());
        }
    }
}

/// How the values of an IOC-list file are arranged.
#[derive(Clone, Copy)]
enum Ioc {
    /// One rule: URLs (`c-uri|contains`, 70%), hosts (`cs-host`, exact, 20%), file paths
    /// (`c-uri|endswith`, 10%) and a few regexes, `1 of selection_*`: a threat-intel export.
    One,
    /// Rules of [`IOC_PER_RULE`] values, one list each, taking turns: host suffixes, URLs, exact
    /// hosts, paths; every fourth rule with a filter of legitimate hosts.
    Many,
}

impl Ioc {
    fn name(self) -> &'static str {
        match self {
            Ioc::One => "one",
            Ioc::Many => "many",
        }
    }
}

/// An IOC-list file of `values` values (about 48 bytes of YAML each), the same for the same
/// arguments.
fn ioc_file(shape: Ioc, values: usize) -> String {
    let mut rng = Rng(0x10c5_0000 ^ values as u64);
    let mut out = String::with_capacity(values * 50);
    match shape {
        Ioc::One => {
            let regexes = 8;
            let (urls, hosts) = (values * 7 / 10, values * 2 / 10);
            let paths = values - urls - hosts - regexes;
            let mut d = String::new();
            d.push_str("  selection_url:\n");
            key(&mut d, "c-uri|contains", &ioc_values(&mut rng, urls, ioc_url));
            d.push_str("  selection_host:\n");
            key(&mut d, "cs-host", &ioc_values(&mut rng, hosts, ioc_host));
            d.push_str("  selection_path:\n");
            key(&mut d, "c-uri|endswith", &ioc_values(&mut rng, paths, ioc_path));
            d.push_str("  selection_re:\n");
            key(&mut d, "c-uri|re", &ioc_values(&mut rng, regexes, ioc_regex));
            d.push_str("  condition: 1 of selection_*\n");
            ioc_rule(&mut out, 0, &d);
        }
        Ioc::Many => {
            for (i, start) in (0..values).step_by(IOC_PER_RULE).enumerate() {
                let n = IOC_PER_RULE.min(values - start);
                let (k, f): (&str, fn(&mut Rng) -> String) = match i % 4 {
                    0 => ("cs-host|endswith", |r| format!(".{}", ioc_host(r))),
                    1 => ("c-uri|contains", ioc_url),
                    2 => ("cs-host", ioc_host),
                    _ => ("c-uri|endswith", ioc_path),
                };
                let mut d = String::from("  selection:\n");
                key(&mut d, k, &ioc_values(&mut rng, n, f));
                if i % 4 == 3 {
                    d.push_str("  filter:\n");
                    key(&mut d, "cs-host|endswith", &rng.some(LEGIT, 2, 6));
                    d.push_str("  condition: selection and not filter\n");
                } else {
                    d.push_str("  condition: selection\n");
                }
                if i > 0 {
                    out.push_str("---\n");
                }
                ioc_rule(&mut out, i, &d);
            }
        }
    }
    out
}

/// Appends one IOC-list rule document with detection `detection`.
fn ioc_rule(out: &mut String, i: usize, detection: &str) {
    let _ = write!(
        out,
        "title: Threat Intel IOC List {i}\n\
         id: 10c00000-0000-4000-8000-{i:012x}\n\
         status: experimental\n\
         logsource:\n  category: proxy\n\
         detection:\n{detection}\
         level: high\n"
    );
}

/// `n` values made by `f` (random enough that repeats are rare; a repeat is harmless).
fn ioc_values(rng: &mut Rng, n: usize, f: fn(&mut Rng) -> String) -> Vec<String> {
    (0..n).map(|_| f(rng)).collect()
}

/// A malicious URL as a feed lists it: host and path, no scheme.
fn ioc_url(rng: &mut Rng) -> String {
    format!(
        "{}/{:08x}/{}.{}",
        domain(rng),
        rng.next() as u32,
        rng.pick(WORDS),
        rng.pick(SCRIPT_EXTS)
    )
}

/// A malicious host name: a random label under a feed-style domain.
fn ioc_host(rng: &mut Rng) -> String {
    format!("{:06x}.{}", rng.next() & 0xff_ffff, domain(rng))
}

/// A payload path (`c-uri|endswith`).
fn ioc_path(rng: &mut Rng) -> String {
    format!(
        "/{}/{:010x}/{}.{}",
        rng.pick(DIRS),
        rng.next() & 0xff_ffff_ffff,
        rng.pick(WORDS),
        rng.pick(DROP_EXTS)
    )
}

/// A URL pattern a feed gives as a regex.
fn ioc_regex(rng: &mut Rng) -> String {
    format!(
        "^https?://[a-z0-9-]+\\.{}/[a-f0-9]{{{}}}/{}\\.{}$",
        rng.pick(TLDS),
        rng.range(16, 40),
        rng.pick(WORDS),
        rng.pick(SCRIPT_EXTS)
    )
}

criterion_group!(benches, rules, load);
criterion_main!(benches);
