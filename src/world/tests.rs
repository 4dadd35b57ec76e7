//! Whole-world tests: determinism, size, labels, layout, time order, and the committed sample.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::path::Path;

use super::*;

fn gen_into(dir: &Path, seed: u64, size: u64) -> GenSummary {
    write_world(
        &GenConfig {
            seed,
            target_bytes: size,
        },
        dir,
    )
    .expect("generation succeeds")
}

/// Every generated file's content (decompressed), by relative path.
fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    for sub in [SIDE_DIR, "mail", "web", "mail/exchange", "web/proxysg", "web/branch"] {
        let Ok(rd) = fs::read_dir(dir.join(sub)) else { continue };
        for e in rd {
            let e = e.unwrap();
            if !e.file_type().unwrap().is_file() {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = if sub.is_empty() {
                name.clone()
            } else {
                format!("{sub}/{name}")
            };
            m.insert(rel, read_text(&e.path()));
        }
    }
    m
}

fn read_text(path: &Path) -> Vec<u8> {
    let raw = fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).unwrap();
        out
    } else {
        raw
    }
}

fn labels(dir: &Path) -> Vec<serde_json::Value> {
    fs::read_to_string(dir.join(SIDE_DIR).join("labels.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each label is one JSON object"))
        .collect()
}

#[test]
fn same_seed_and_size_give_the_same_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    gen_into(a.path(), 7, 600_000);
    gen_into(b.path(), 7, 600_000);
    let (ca, cb) = (contents(a.path()), contents(b.path()));
    assert_eq!(ca.keys().collect::<Vec<_>>(), cb.keys().collect::<Vec<_>>());
    for (k, v) in &ca {
        assert!(v == &cb[k], "{k} differs between two runs");
    }
    // The compressed bytes too, not only their content.
    let ga = fs::read(a.path().join("mail/maillog.1.gz")).unwrap();
    let gb = fs::read(b.path().join("mail/maillog.1.gz")).unwrap();
    assert_eq!(ga, gb);
    // And another seed gives another world.
    let c = tempfile::tempdir().unwrap();
    gen_into(c.path(), 8, 600_000);
    assert_ne!(contents(c.path())["web/access.log"], ca["web/access.log"]);
}

#[test]
fn size_is_roughly_honoured() {
    for size in [1_500_000u64, 12_000_000] {
        let d = tempfile::tempdir().unwrap();
        let s = gen_into(d.path(), 3, size);
        let total: u64 = s.files.iter().map(|f| f.bytes).sum();
        let ratio = total as f64 / size as f64;
        let by = |p: &str| {
            s.files
                .iter()
                .filter(|f| f.rel.starts_with(p))
                .map(|f| f.bytes)
                .sum::<u64>() as f64
        };
        let mail = (by("mail/")) / total as f64;
        eprintln!(
            "size {size}: wrote {total} ({ratio:.3}); postfix {:.3} exchange {:.3} squid {:.3} proxysg {:.3}",
            by("mail/maillog") / size as f64,
            by("mail/exchange") / size as f64,
            by("web/access") / size as f64,
            by("web/proxysg") / size as f64
        );
        assert!(
            (0.85..=1.15).contains(&ratio),
            "size {size}: wrote {total} bytes ({ratio:.2}x)"
        );
        assert!((0.25..=0.45).contains(&mail), "mail share {mail:.2}");
    }
}

#[test]
fn every_label_points_at_a_line_that_shows_it() {
    let d = tempfile::tempdir().unwrap();
    let s = gen_into(d.path(), 11, 1_200_000);
    let files: HashMap<String, Vec<String>> = contents(d.path())
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v).unwrap().lines().map(str::to_string).collect()))
        .collect();
    let labels = labels(d.path());
    assert!(!labels.is_empty());
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for l in &labels {
        let file = l["file"].as_str().unwrap();
        let n = l["line"].as_u64().unwrap() as usize;
        let kind = l["kind"].as_str().unwrap();
        *kinds.entry(kind.to_string()).or_default() += 1;
        let line = &files[file][n - 1];
        let has = |k: &str| l[k].as_str().is_some_and(|v| line.contains(v));
        match kind {
            "campaign_open" | "campaign_click" | "newsletter_open" | "newsletter_click" | "tracker_beacon" => {
                // Through the branch proxy the token is hidden (CONNECT only, or the query
                // stripped); the label says so, and the host still shows.
                if l["via"].is_string() {
                    assert!(file == "web/branch/access.log", "{file}:{n}");
                    assert!(has("host"), "{kind} line {file}:{n} lacks its host: {line}");
                } else {
                    assert!(has("token"), "{kind} line {file}:{n} lacks its token: {line}");
                }
                assert!(has("client_ip"), "{file}:{n}: {line}");
                assert!(l["class"].is_string(), "{file}:{n} has no class");
            }
            "campaign_web" => assert!(has("host"), "{file}:{n}: {line}"),
            _ => assert!(
                has("recipient") || has("queue_id") || has("message_id") || has("client_ip"),
                "{kind} line {file}:{n} shows neither recipient, ids nor the sending relay: {line}"
            ),
        }
    }
    let campaign = kinds
        .iter()
        .filter(|(k, _)| k.starts_with("campaign"))
        .map(|(_, v)| v)
        .sum::<usize>();
    assert_eq!(campaign as u64, s.campaign_lines);
    for k in ["campaign_mail", "campaign_open", "newsletter_mail", "newsletter_open"] {
        assert!(kinds.contains_key(k), "no {k} in {kinds:?}");
    }
    // Each campaign message is labelled on every line that carries its queue id.
    let mut qids: HashMap<&str, usize> = HashMap::new();
    for l in labels.iter().filter(|l| l["kind"] == "campaign_mail") {
        let file = l["file"].as_str().unwrap();
        let line = &files[file][l["line"].as_u64().unwrap() as usize - 1];
        if let Some(q) = l["queue_id"]
            .as_str()
            .filter(|q| file.starts_with("mail/maillog") && line.contains(q))
        {
            *qids.entry(q).or_default() += 1;
        }
    }
    for (q, n) in qids {
        let carrying = files
            .iter()
            .filter(|(k, _)| k.starts_with("mail/maillog"))
            .flat_map(|(_, v)| v.iter())
            .filter(|l| l.contains(&format!(" {q}: ")))
            .count();
        assert_eq!(carrying, n, "queue id {q}");
    }
}

#[test]
fn a_tiny_world_still_holds_a_complete_campaign() {
    let d = tempfile::tempdir().unwrap();
    gen_into(d.path(), 1, 150_000);
    let labels = labels(d.path());
    let count = |k: &str| labels.iter().filter(|l| l["kind"] == k).count();
    assert!(count("campaign_mail") >= 8, "a whole message lifecycle");
    assert!(count("campaign_open") >= 1);
    assert!(count("campaign_click") >= 1);
    // The open happens after the message was delivered to the same recipient.
    let open = labels.iter().find(|l| l["kind"] == "campaign_open").unwrap();
    let rcpt = open["recipient"].as_str().unwrap();
    assert!(
        labels
            .iter()
            .any(|l| l["kind"] == "campaign_mail" && l["recipient"] == rcpt)
    );
}

#[test]
fn layout_and_headers() {
    let d = tempfile::tempdir().unwrap();
    let s = gen_into(d.path(), 5, 800_000);
    let rels: Vec<&str> = s.files.iter().map(|f| f.rel.as_str()).collect();
    for want in [
        "mail/maillog",
        "mail/maillog.1.gz",
        "web/access.log",
        "web/access.log.1.gz",
    ] {
        assert!(rels.contains(&want), "{want} missing from {rels:?}");
    }
    let ex = rels
        .iter()
        .find(|r| r.starts_with("mail/exchange/MSGTRK2021"))
        .expect("an MSGTRK file");
    assert!(rels.iter().any(|r| r.starts_with("mail/exchange/MSGTRKMD2021")));
    let text = String::from_utf8(read_text(&d.path().join(ex))).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("#Software: Microsoft Exchange Server"));
    assert!(lines.next().unwrap().starts_with("#Version: 15.01."));
    assert_eq!(lines.next(), Some("#Log-type: Message Tracking Log"));
    assert!(lines.next().unwrap().starts_with("#Date: 2021-"));
    assert_eq!(
        lines.next(),
        Some(format!("#Fields: {}", sink::EXCHANGE_FIELDS).as_str())
    );
    let row = lines.next().unwrap();
    let mut rdr = csv::ReaderBuilder::new().has_headers(false).from_reader(row.as_bytes());
    let rec = rdr.records().next().unwrap().unwrap();
    assert_eq!(rec.len(), 30, "{row}");
    let sg = rels
        .iter()
        .find(|r| r.starts_with("web/proxysg/SG_main_"))
        .expect("a ProxySG file");
    let text = String::from_utf8(read_text(&d.path().join(sg))).unwrap();
    assert!(text.starts_with("#Software: SGOS 6.7"));
    assert!(text.contains(&format!("#Fields: {}\n", sink::PROXYSG_FIELDS)));
    let csv = fs::read_to_string(d.path().join(SIDE_DIR).join("people.csv")).unwrap();
    assert!(csv.starts_with("email,name,group,usernames,ips\n"));
    for g in ["parliamentarian", "staff", "family", "journalist", "employee"] {
        assert!(csv.contains(&format!(",{g},")), "no {g} in people.csv");
    }
}

/// The timestamp of a line as microseconds, per format.
fn line_time(rel: &str, line: &str) -> Option<i64> {
    if line.starts_with('#') {
        return None;
    }
    let digits = |s: &str| -> i64 { s.parse().unwrap() };
    if rel.starts_with("mail/maillog") {
        // 2021-01-14T10:12:03.123456+01:00
        let (d, t) = (&line[..10], &line[11..26]);
        let days = clock::days_from_civil(digits(&d[..4]), digits(&d[5..7]) as u32, digits(&d[8..10]) as u32);
        let us = digits(&t[..2]) * 3_600_000_000
            + digits(&t[3..5]) * 60_000_000
            + digits(&t[6..8]) * 1_000_000
            + digits(&t[9..15]);
        Some(days * DAY + us - clock::LOCAL_OFFSET)
    } else if rel.starts_with("web/access") || rel.starts_with("web/branch") {
        let (s, ms) = line[..14].split_once('.').unwrap();
        Some(digits(s) * 1_000_000 + digits(ms) * 1000)
    } else {
        // 2021-01-14T09:12:03.123Z or 2021-01-14 09:12:03
        let days = clock::days_from_civil(
            digits(&line[..4]),
            digits(&line[5..7]) as u32,
            digits(&line[8..10]) as u32,
        );
        let mut us = digits(&line[11..13]) * 3_600_000_000
            + digits(&line[14..16]) * 60_000_000
            + digits(&line[17..19]) * 1_000_000;
        if line.as_bytes()[19] == b'.' {
            us += digits(&line[20..23]) * 1000;
        }
        Some(days * DAY + us)
    }
}

#[test]
fn lines_are_in_time_order_and_inside_january_february() {
    let d = tempfile::tempdir().unwrap();
    gen_into(d.path(), 9, 900_000);
    let start = clock::days_from_civil(2021, 1, 1) * DAY - clock::LOCAL_OFFSET;
    let end = clock::days_from_civil(2021, 3, 1) * DAY - clock::LOCAL_OFFSET;
    for (rel, data) in contents(d.path()) {
        if rel.starts_with(SIDE_DIR) {
            continue;
        }
        let text = String::from_utf8(data).unwrap();
        let mut last = i64::MIN;
        for (i, line) in text.lines().enumerate() {
            let Some(t) = line_time(&rel, line) else { continue };
            assert!(t >= last, "{rel}:{}: out of order: {line}", i + 1);
            assert!((start..end).contains(&t), "{rel}:{}: outside Jan-Feb 2021", i + 1);
            last = t;
        }
    }
}

/// The seed and size of the committed `sample-logs/` (see sample-logs/README.md).
pub const SAMPLE_SEED: u64 = 2021;
pub const SAMPLE_SIZE: &str = "2500k";
const SAMPLE_BYTES: u64 = 2_500_000;

#[test]
fn sample_logs_are_reproduced_exactly() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
    let d = tempfile::tempdir().unwrap();
    gen_into(d.path(), SAMPLE_SEED, SAMPLE_BYTES);
    let fresh = contents(d.path());
    let mut old = contents(&committed);
    old.remove(&format!("{SIDE_DIR}/README.md"));
    assert_eq!(
        fresh.keys().collect::<Vec<_>>(),
        old.keys().collect::<Vec<_>>(),
        "sample-logs/ holds other files than the generator writes; regenerate it: \
         cargo run --release -- gen --seed {SAMPLE_SEED} --size {SAMPLE_SIZE} --force --out sample-logs"
    );
    // The README tells the sample's story: it must name the campaign's lookalike domain.
    let readme = fs::read_to_string(committed.join(SIDE_DIR).join("README.md")).unwrap();
    let first = labels(d.path())
        .into_iter()
        .find(|l| l["kind"] == "campaign_mail")
        .expect("the sample has a campaign");
    let domain = first["domain"].as_str().unwrap();
    assert!(
        readme.contains(domain),
        "sample-logs/.world/README.md does not mention {domain}; update its story"
    );
    for (k, v) in &fresh {
        // Compressed parts are compared by content: a newer zlib may compress differently.
        assert!(
            v == &old[k],
            "sample-logs/{k} differs from the generator's output; regenerate it: \
             cargo run --release -- gen --seed {SAMPLE_SEED} --size {SAMPLE_SIZE} --force --out sample-logs"
        );
    }
}

/// The world `tests/detection.rs` scans.
const DETECTION_SEED: u64 = 7;
const DETECTION_BYTES: u64 = 12_000_000;

/// Mail classes (malicious and benign) that must each reach watch-listed people with at least
/// 8 delivered messages and show at least 4 opens in the detection world.
const MAIL_CLASSES: &[&str] = &[
    "lookalike",
    "esp_invented_brand",
    "token_letters",
    "token_short",
    "token_numeric",
    "token_hex8",
    "token_host_label",
    "token_cloud_path",
    "token_shortener",
    "subdomain_lookalike",
    "qp_body",
    "base64_body",
    "low_and_slow",
    "outlet_newsletter",
    "listmonk",
    "sendy_ses",
    "mailtrack",
    "saas_reset",
];

#[test]
fn every_class_reaches_watch_listed_people_in_the_detection_world() {
    let d = tempfile::tempdir().unwrap();
    gen_into(d.path(), DETECTION_SEED, DETECTION_BYTES);
    let watched: std::collections::HashSet<String> = fs::read_to_string(d.path().join(SIDE_DIR).join("people.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_ascii_lowercase())
        .collect();
    let files: HashMap<String, Vec<String>> = contents(d.path())
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v).unwrap().lines().map(str::to_string).collect()))
        .collect();
    let mut messages: BTreeMap<String, std::collections::BTreeSet<(String, String)>> = BTreeMap::new();
    let mut opens: BTreeMap<String, usize> = BTreeMap::new();
    let mut beacons: BTreeMap<String, usize> = BTreeMap::new();
    let mut branch_opens = 0;
    let mut bodies: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in labels(d.path()) {
        let kind = l["kind"].as_str().unwrap();
        let file = l["file"].as_str().unwrap();
        let line = &files[file][l["line"].as_u64().unwrap() as usize - 1];
        let class = l["class"].as_str().map(str::to_string);
        if kind.starts_with("campaign") || kind.starts_with("newsletter") || kind == "tracker_beacon" {
            assert!(class.is_some(), "{kind} at {file}:{} has no class", l["line"]);
        }
        let class = class.unwrap_or_default();
        let rcpt = l["recipient"].as_str().unwrap_or("").to_ascii_lowercase();
        match kind {
            "campaign_mail" | "newsletter_mail" => {
                if let Some(mid) = l["message_id"].as_str()
                    && watched.contains(&rcpt)
                    && file.starts_with("mail/")
                {
                    messages
                        .entry(class.clone())
                        .or_default()
                        .insert((mid.to_string(), rcpt));
                }
                if line.contains(": info: body ") {
                    bodies.entry(class).or_default().push(line.clone());
                }
            }
            "campaign_open" | "newsletter_open" => {
                *opens.entry(class).or_default() += 1;
                let host = l["host"].as_str().expect("an open names its pixel's host");
                assert!(line.contains(host), "{file}:{}: {line}", l["line"]);
                match l["via"].as_str() {
                    Some(via) => {
                        assert_eq!(file, "web/branch/access.log");
                        assert!(via == "connect" || via == "stripped", "{via}");
                        if via == "connect" {
                            assert!(line.contains(&format!(" CONNECT {host}:443 ")), "{line}");
                        }
                    }
                    None => {
                        let token = l["token"].as_str().unwrap();
                        assert!(
                            line.contains(token),
                            "{file}:{}: token {token} not in {line}",
                            l["line"]
                        );
                    }
                }
                if kind == "campaign_open" && file == "web/branch/access.log" {
                    branch_opens += 1;
                }
            }
            "tracker_beacon" => *beacons.entry(class).or_default() += 1,
            _ => {}
        }
    }
    for c in MAIL_CLASSES {
        let n = messages.get(*c).map_or(0, |m| m.len());
        let o = opens.get(*c).copied().unwrap_or(0);
        eprintln!("{c:22} messages {n:4} opens {o:4}");
        assert!(n >= 8, "{c}: {n} messages to watch-listed people");
        assert!(o >= 4, "{c}: {o} opens");
    }
    for c in ["matomo", "collect"] {
        assert!(beacons.get(c).copied().unwrap_or(0) >= 4, "{c} beacons: {beacons:?}");
    }
    assert!(
        branch_opens >= 4,
        "{branch_opens} campaign opens in the branch proxy's log"
    );
    // The encodings show in the gateway's body lines.
    let qp = &bodies["qp_body"];
    assert!(
        qp.iter()
            .any(|l| l.contains("src=3D\"") && l.contains("=3D") && l.contains("= from "))
    );
    let b64 = &bodies["base64_body"];
    assert!(
        b64.iter()
            .any(|l| l.contains("body Content-Transfer-Encoding: base64 from "))
    );
    assert!(b64.iter().all(|l| !l.contains("://")), "no URL in a base64 body");
}
