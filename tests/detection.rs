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
//! - a pixel-fired or host-contacted alert lists one message and requests caused by that
//!   message only, and raises one alert per opened URL;
//! - every message whose log shows its URLs and whose pixel was fetched is in a pixel-fired or
//!   host-contacted alert, but the low-and-slow persona's (not suspicious enough to prove an
//!   open); opens of messages whose log shows none (Exchange) are reported, joined on the
//!   person only by a medium rule.
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

/// Rule ids of the correlations that say a mail was opened.
const PIXEL_FIRED: &str = "4e8b1d27-9f3c-4a65-b0e2-6c7d9a1f3e58";
const HOST_CONTACTED: &str = "2a6c9f41-8e3b-4d72-a1f5-0b7e4c2d9a86";
const NO_URL_PIXEL: &str = "0c5d7e92-4a1b-4f3c-8d6e-9b2a7f1c3e84";

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
    // Opens shown by an open-proving correlation, and how many alerts showed each.
    let mut shown: HashMap<String, u32> = HashMap::new();
    // Messages an open-proving alert showed opened (a second fetch of the same URL, from
    // another device, makes no second alert: the message is known opened).
    let mut opened: HashSet<String> = HashSet::new();
    let mut shown_no_url: HashSet<String> = HashSet::new();
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
        if id == PIXEL_FIRED || id == HOST_CONTACTED || id == NO_URL_PIXEL {
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
                if id == NO_URL_PIXEL {
                    if same {
                        shown_no_url.insert(caused_by.unwrap().to_owned());
                    }
                } else if same {
                    *shown.entry(at).or_default() += 1;
                    opened.insert(caused_by.unwrap().to_owned());
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
    // Opens of messages whose log shows URLs must be proven by the joins on those URLs.
    let mut unproven = Vec::new();
    let mut twice = Vec::new();
    for (at, mid) in &opens {
        if let Some(n) = shown.get(at).filter(|n| **n > 1) {
            twice.push(format!("{at}: {n} alerts"));
        }
        if exchange_messages.contains(mid) {
            if !shown_no_url.contains(mid) && !opened.contains(mid) {
                unproven.push(format!("{at} (Exchange, {mid})"));
            }
        } else if !opened.contains(mid) {
            unproven.push(format!("{at} ({mid})"));
        }
    }
    println!(
        "opens: {} logged, {} not in an open-proving alert, {} in more than one",
        opens.len(),
        unproven.len(),
        twice.len()
    );
    for u in &unproven {
        let at = u.split(' ').next().unwrap();
        let l = &lines[at];
        println!("  not proven: {u} [{}]", l.class);
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
    // Every open of a suspicious message whose mail log shows its URLs is proven by a join on
    // them (the low-and-slow persona's mail is no suspicious one: its opens raise no
    // open-proving alert by design). Mail logs without URLs (Exchange) can only be joined on
    // the person: reported above, not required.
    let must: Vec<&String> = unproven
        .iter()
        .filter(|u| !u.contains("(Exchange,"))
        .filter(|u| lines[u.split(' ').next().unwrap()].class != LOW_AND_SLOW)
        .collect();
    assert!(
        must.is_empty(),
        "opens of suspicious messages whose log shows URLs, in no open-proving alert: {must:#?}"
    );
}
