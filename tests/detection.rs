//! Detection quality of the shipped rules, measured per class of the tradecraft on a generated
//! world whose lines the generator labelled (`.world/labels.jsonl`: `kind`, `class`,
//! `message_id`, `recipient`).
//!
//! What is asserted (issue "Step 8"):
//! - every malicious class is found at medium or above — half or more of its messages to
//!   watch-listed people, or of its logged opens — and every class but the low-and-slow
//!   free-mail persona at high or above; the original lookalike waves at medium for 95% of
//!   their messages (the step-3 figure);
//! - no critical and no high alert on anything that is not the campaign: benign tracking
//!   (real outlets' newsletters, self-hosted newsletters, personal mail trackers, SaaS mail,
//!   analytics beacons) and ordinary traffic; every event a critical or high correlation alert
//!   lists is the campaign's;
//! - a pixel-fired or host-contacted alert (or its "again" companion) lists one message and
//!   requests caused by that message only, and each logged open is in exactly one of them;
//! - every logged open of a message an alert of medium level or above names — the first fetch
//!   and every later one (issue 16: the report lists every open) — is in an alert that proves
//!   it: joined on the mail's URL or site where the mail log shows URLs, on the person where it
//!   shows none (Exchange).
//!
//! `cargo test --test detection -- --nocapture` prints recall per class and level, and the
//! alerts per rule with their precision.

mod common;
use common::*;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use serde_json::Value;

/// The world: fixed seed, big enough for several waves and every class.
const SEED: &str = "7";
const SIZE: &str = "12MB";

/// Rule ids of the correlations that say a mail was opened, and of their companions that
/// report each later fetch (`reconwatch-firing: repeats`).
const PIXEL_FIRED: &str = "4e8b1d27-9f3c-4a65-b0e2-6c7d9a1f3e58";
const PIXEL_FIRED_AGAIN: &str = "a3970aaf-f549-4d1d-99e8-6e10cddacd9b";
const HOST_CONTACTED: &str = "2a6c9f41-8e3b-4d72-a1f5-0b7e4c2d9a86";
const HOST_CONTACTED_AGAIN: &str = "fd48ab95-96e9-4c81-b388-e741433de8bb";
const NO_URL_PIXEL: &str = "0c5d7e92-4a1b-4f3c-8d6e-9b2a7f1c3e84";
const NO_URL_PIXEL_AGAIN: &str = "563c1d99-9149-4ea7-9282-23c6ecf397b7";

/// The malicious class that need only reach medium.
const LOW_AND_SLOW: &str = "low_and_slow";

/// What a labelled line or message is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Truth {
    Campaign(String),
    Benign(String),
    Other,
}

impl Truth {
    fn is_campaign(&self) -> bool {
        matches!(self, Truth::Campaign(_))
    }
}

fn rank(level: &str) -> u8 {
    match level {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        _ => 0,
    }
}

/// One labelled line.
struct Label {
    kind: String,
    class: String,
    message_id: Option<String>,
    recipient: String,
}

fn truth_of(l: &Label) -> Truth {
    if l.kind.starts_with("campaign") {
        Truth::Campaign(l.class.clone())
    } else {
        Truth::Benign(l.class.clone())
    }
}

#[derive(Default)]
struct RuleStats {
    level: String,
    title: String,
    alerts: u64,
    campaign: u64,
    benign: u64,
    other: u64,
}

/// Per malicious class: its units and what was found at which level.
#[derive(Default)]
struct ClassStats {
    /// `message_id recipient` of messages to watch-listed people.
    messages: BTreeSet<String>,
    /// `file:line` of its opens.
    opens: BTreeSet<String>,
    /// The best level each unit was found at.
    best: HashMap<String, u8>,
}

impl ClassStats {
    fn recall(&self, units: &BTreeSet<String>, level: u8) -> f64 {
        let found = units
            .iter()
            .filter(|u| self.best.get(*u).is_some_and(|&l| l >= level))
            .count();
        found as f64 / units.len().max(1) as f64
    }
    /// The better of message recall and open recall at `level` (a class is found when half its
    /// messages or half its logged opens are).
    fn found(&self, level: u8) -> f64 {
        let m = self.recall(&self.messages, level);
        if self.opens.is_empty() {
            m
        } else {
            m.max(self.recall(&self.opens, level))
        }
    }
}

#[test]
fn shipped_rules_find_every_class_and_stay_quiet_on_benign_tracking() {
    let d = tempfile::tempdir().unwrap();
    let world = gen_world(d.path(), SEED, SIZE);
    let people = world.join(".world/people.csv");
    let alerts_path = d.path().join("alerts.jsonl");
    let o = run(&[
        "scan",
        "-q",
        "--watchlist",
        &format!("parliament={}", people.display()),
        "-o",
        alerts_path.to_str().unwrap(),
        world.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));

    let watched: HashSet<String> = std::fs::read_to_string(&people)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_ascii_lowercase())
        .collect();

    // Ground truth.
    let mut lines: HashMap<String, Label> = HashMap::new();
    let mut message_truth: HashMap<String, Truth> = HashMap::new();
    let mut classes: BTreeMap<String, ClassStats> = BTreeMap::new();
    // Opened campaign pixels: file:line -> (message id, whether its mail log shows URLs).
    let mut opens: BTreeMap<String, String> = BTreeMap::new();
    let mut exchange_messages: HashSet<String> = HashSet::new();
    for l in std::fs::read_to_string(world.join(".world/labels.jsonl"))
        .unwrap()
        .lines()
    {
        let v: Value = serde_json::from_str(l).unwrap();
        let s = |k: &str| v[k].as_str().map(str::to_owned);
        let kind = s("kind").unwrap();
        let default_class = if kind.starts_with("campaign") {
            "lookalike"
        } else {
            "outlet_newsletter"
        };
        let label = Label {
            class: s("class").unwrap_or_else(|| default_class.to_owned()),
            message_id: s("message_id"),
            recipient: s("recipient").unwrap_or_default().to_ascii_lowercase(),
            kind,
        };
        let at = format!("{}:{}", s("file").unwrap(), v["line"].as_u64().unwrap());
        let truth = truth_of(&label);
        if let Some(mid) = &label.message_id
            && label.kind.ends_with("_mail")
        {
            message_truth.insert(mid.clone(), truth.clone());
            if at.starts_with("mail/exchange") {
                exchange_messages.insert(mid.clone());
            }
        }
        if let Truth::Campaign(class) = &truth {
            let c = classes.entry(class.clone()).or_default();
            if label.kind == "campaign_mail" && watched.contains(&label.recipient) {
                c.messages
                    .insert(format!("{} {}", label.message_id.clone().unwrap(), label.recipient));
            }
            if label.kind == "campaign_open" {
                c.opens.insert(at.clone());
                opens.insert(at.clone(), label.message_id.clone().unwrap_or_default());
            }
        }
        lines.insert(at, label);
    }
    assert!(classes.len() >= 2, "too few malicious classes: {:?}", classes.keys());

    let mut starts: HashMap<String, Vec<u64>> = HashMap::new();
    let mut line_of = |path: &str, offset: u64| -> String {
        let rel = Path::new(path)
            .strip_prefix(&world)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let offsets = starts
            .entry(rel.clone())
            .or_insert_with(|| line_offsets(Path::new(path)));
        let line = offsets[1..].binary_search(&offset).expect("a line start") + 1;
        format!("{rel}:{line}")
    };
    let text = std::fs::read_to_string(&alerts_path).unwrap();
    let alerts: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();

    let mut rules: BTreeMap<String, RuleStats> = BTreeMap::new();
    let mut bad = Vec::new();
    let mut bad_join = Vec::new();
    // Opens shown by an open-proving correlation joined on the URL or site, and how many
    // alerts showed each; opens shown by one joined on the person (mail logs without URLs).
    let mut shown: HashMap<String, u32> = HashMap::new();
    let mut shown_no_url: HashSet<String> = HashSet::new();
    // The highest level of the alerts naming each message.
    let mut message_level: HashMap<String, u8> = HashMap::new();
    let credit = |classes: &mut BTreeMap<String, ClassStats>, truth: &Truth, unit: &str, level: u8| {
        if let Truth::Campaign(class) = truth
            && let Some(c) = classes.get_mut(class)
        {
            let best = c.best.entry(unit.to_owned()).or_default();
            *best = (*best).max(level);
        }
    };
    for a in &alerts {
        let id = a["rule"]["id"].as_str().unwrap().to_owned();
        let level_name = a["rule"]["level"].as_str().unwrap().to_owned();
        let level = rank(&level_name);
        let r = rules.entry(id.clone()).or_default();
        r.level.clone_from(&level_name);
        r.title = a["rule"]["title"].as_str().unwrap_or("").to_owned();
        r.alerts += 1;
        // The units this alert names, with their truth.
        let mut named: Vec<(Truth, String)> = Vec::new();
        let correlation = a["event"]["dataset"] == "reconwatch.correlation";
        let events: Vec<Value> = if correlation {
            a["correlation"]["events"].as_array().unwrap().clone()
        } else {
            vec![a.clone()]
        };
        for e in &events {
            if let Some(mid) = e["email"]["message_id"].as_str() {
                let best = message_level.entry(mid.to_owned()).or_default();
                *best = (*best).max(level);
                let truth = message_truth.get(mid).cloned().unwrap_or(Truth::Other);
                // A message's units: each watch-listed recipient (the alert's own list, or every
                // labelled one for a correlation's evidence).
                let rcpts: Vec<String> = match e["email"]["to"]["address"].as_array() {
                    Some(to) => to.iter().map(|r| r.as_str().unwrap().to_ascii_lowercase()).collect(),
                    None => watched.iter().cloned().collect(),
                };
                let mut any = false;
                if let Truth::Campaign(class) = &truth {
                    for r in rcpts {
                        let u = format!("{mid} {r}");
                        if classes.get(class).is_some_and(|c| c.messages.contains(&u)) {
                            named.push((truth.clone(), u));
                            any = true;
                        }
                    }
                }
                if !any {
                    named.push((truth, mid.to_owned()));
                }
            } else {
                let at = line_of(
                    e["log"]["file"]["path"].as_str().unwrap(),
                    e["log"]["offset"].as_u64().unwrap(),
                );
                let truth = lines.get(&at).map_or(Truth::Other, truth_of);
                named.push((truth, at));
            }
        }
        let all_campaign = named.iter().all(|(t, _)| t.is_campaign());
        if all_campaign {
            r.campaign += 1;
        } else if named.iter().any(|(t, _)| matches!(t, Truth::Benign(_))) {
            r.benign += 1;
        } else {
            r.other += 1;
        }
        // High and critical alerts: only the campaign, every event of it.
        if level >= 3 && !all_campaign {
            bad.push(format!(
                "{level_name} {} ({id}): {:?}",
                r.title,
                named.iter().filter(|(t, _)| !t.is_campaign()).collect::<Vec<_>>()
            ));
        }
        for (t, u) in &named {
            credit(&mut classes, t, u, level);
        }
        // Open-proving correlations: one message, and requests that message caused.
        if [
            PIXEL_FIRED,
            PIXEL_FIRED_AGAIN,
            HOST_CONTACTED,
            HOST_CONTACTED_AGAIN,
            NO_URL_PIXEL,
            NO_URL_PIXEL_AGAIN,
        ]
        .contains(&id.as_str())
        {
            let mids: BTreeSet<&str> = events
                .iter()
                .filter_map(|e| e["email"]["message_id"].as_str())
                .collect();
            for e in events.iter().filter(|e| e["email"].is_null()) {
                let at = line_of(
                    e["log"]["file"]["path"].as_str().unwrap(),
                    e["log"]["offset"].as_u64().unwrap(),
                );
                let caused_by = lines.get(&at).and_then(|l| l.message_id.as_deref());
                let same = mids.len() == 1 && caused_by.is_some_and(|m| mids.contains(m));
                if id == NO_URL_PIXEL || id == NO_URL_PIXEL_AGAIN {
                    // Joined on the person only: shown with whichever suspicious mail of that
                    // person came last (the report tells the lures' trackers apart).
                    shown_no_url.insert(at);
                } else if same {
                    *shown.entry(at).or_default() += 1;
                } else {
                    bad_join.push(format!(
                        "{} ({id}): messages {mids:?}, request {at} caused by {caused_by:?}",
                        r.title
                    ));
                }
            }
        }
    }

    println!("world: seed {SEED}, size {SIZE}");
    println!(
        "{:<22} {:>8} {:>6} {:>8} {:>8} {:>8}",
        "class", "messages", "opens", ">=medium", ">=high", "critical"
    );
    for (class, c) in &classes {
        println!(
            "{class:<22} {:>8} {:>6} {:>8.3} {:>8.3} {:>8.3}",
            c.messages.len(),
            c.opens.len(),
            c.found(2),
            c.found(3),
            c.found(4)
        );
    }
    println!(
        "{:<8} {:>7} {:>9} {:>7} {:>7} {:>9}  rule",
        "level", "alerts", "campaign", "benign", "other", "precision"
    );
    for (id, r) in &rules {
        println!(
            "{:<8} {:>7} {:>9} {:>7} {:>7} {:>9.3}  {} ({id})",
            r.level,
            r.alerts,
            r.campaign,
            r.benign,
            r.other,
            r.campaign as f64 / r.alerts as f64,
            r.title
        );
    }
    // Every open, the first fetch and each later one, per class: proven by a join on the
    // mail's URL or site, or (mail logs without URLs) on the person.
    let mut unproven = Vec::new();
    let mut twice = Vec::new();
    let mut proven_by_class: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (at, mid) in &opens {
        if let Some(n) = shown.get(at).filter(|n| **n > 1) {
            twice.push(format!("{at}: {n} alerts"));
        }
        let exchange = exchange_messages.contains(mid);
        let proven = shown.contains_key(at) || (exchange && shown_no_url.contains(at));
        let counts = proven_by_class.entry(&lines[at].class).or_default();
        counts.0 += 1;
        if proven {
            counts.1 += 1;
        } else {
            let level = message_level.get(mid).copied().unwrap_or(0);
            let log = if exchange { "Exchange, " } else { "" };
            unproven.push((format!("{at} ({log}{mid})"), level));
        }
    }
    println!("{:<22} {:>6} {:>7}", "class", "opens", "proven");
    for (class, (n, p)) in &proven_by_class {
        println!("{class:<22} {n:>6} {p:>7}");
    }
    println!(
        "opens: {} logged, {} not in an open-proving alert, {} in more than one",
        opens.len(),
        unproven.len(),
        twice.len()
    );
    for (u, level) in &unproven {
        let at = u.split(' ').next().unwrap();
        let l = &lines[at];
        println!("  not proven: {u} [{}; its mail named at level {level}]", l.class);
    }

    assert!(
        bad.is_empty(),
        "high or critical alerts on what is not the campaign:\n{}",
        bad.join("\n")
    );
    assert!(
        bad_join.is_empty(),
        "open-proving alerts that join another message's requests:\n{}",
        bad_join.join("\n")
    );
    assert!(twice.is_empty(), "one open, several alerts: {twice:#?}");
    for (class, c) in &classes {
        assert!(
            c.messages.len() + c.opens.len() >= 4,
            "class {class}: too few units to judge"
        );
        assert!(
            c.found(2) >= 0.5,
            "class {class}: found at medium {:.3} < 0.5",
            c.found(2)
        );
        if class != LOW_AND_SLOW {
            assert!(
                c.found(3) >= 0.5,
                "class {class}: found at high {:.3} < 0.5",
                c.found(3)
            );
        }
    }
    let lookalike = &classes["lookalike"];
    let r = lookalike.recall(&lookalike.messages, 2);
    assert!(r >= 0.95, "lookalike waves: message recall at medium {r:.3} < 0.95");
    // Every open of a message an alert of medium level or above names (the detector knew it
    // suspicious) is proven, re-opens included: the report lists every open. What no rule can
    // know suspicious (a free-mail persona's mail whose log shows no URLs, a plain news headline
    // mass-mailed through a gateway that logs none) is reported above, not required.
    let must: Vec<&String> = unproven
        .iter()
        .filter(|(_, level)| *level >= 2)
        .map(|(u, _)| u)
        .collect();
    assert!(
        must.is_empty(),
        "opens of suspicious messages in no open-proving alert: {must:#?}"
    );
}
