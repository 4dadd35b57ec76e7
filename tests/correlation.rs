//! Correlation end to end, through the binary on real files: the two APT31 correlations on
//! `sample-logs/` (campaign fan-out, tracking pixel fired), the same alerts from one file per
//! log and from hourly files in any argument order and thread count, lateness, and state limits.

mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

const FANOUT_SENDER: &str = "7c2a9e14-3b6d-4f51-8e0a-2d9f4b7c1e36";
const FANOUT_TEMPLATE: &str = "0f4d8b63-2a7e-4c19-b5d6-9e3a1c7f2b48";
const PIXEL_TOKEN: &str = "4e8b1d27-9f3c-4a65-b0e2-6c7d9a1f3e58";
/// The person-joined pixel-fired rule for mail logs without URLs (Exchange).
const PIXEL_DEVICE: &str = "0c5d7e92-4a1b-4f3c-8d6e-9b2a7f1c3e84";

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs")
}

fn watchlist() -> String {
    format!("parliament={}", sample().join(".world/people.csv").display())
}

/// Scans `inputs` with the sample watchlist and `extra` options; returns the alerts and stderr.
fn scan(inputs: &[&Path], extra: &[&str]) -> (Vec<Value>, String) {
    let wl = watchlist();
    let mut args = vec!["scan", "--watchlist", &wl];
    args.extend_from_slice(extra);
    let paths: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));
    let o = run(&args);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
    let alerts = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every alert is one JSON line"))
        .collect();
    (alerts, stderr(&o))
}

fn correlation_alerts<'a>(alerts: &'a [Value], id: &str) -> Vec<&'a Value> {
    alerts
        .iter()
        .filter(|a| a["event"]["dataset"] == "reconwatch.correlation" && a["rule"]["id"] == id)
        .collect()
}

#[test]
fn both_apt31_correlations_fire_on_the_sample_logs() {
    let (alerts, err) = scan(&[&sample()], &[]);
    // Fan-out: the lure reached the lower house through its Postfix gateway (From: the lookalike
    // domain) and the upper house through Exchange (envelope sender: the mass-mail service).
    let fanout = correlation_alerts(&alerts, FANOUT_SENDER);
    let domains: Vec<&str> = fanout
        .iter()
        .map(|a| a["correlation"]["group"]["reconwatch.sender.domain"].as_str().unwrap())
        .collect();
    assert!(domains.contains(&"bbc-worldnews.example"), "{domains:?}\n{err}");
    assert!(domains.contains(&"postblast.example"), "{domains:?}");
    for a in &fanout {
        let c = &a["correlation"];
        assert_eq!(c["type"], "value_count");
        assert_eq!(c["timespan"], "24h");
        assert!(c["value"].as_f64().unwrap() >= 5.0);
        assert!(
            c["values"].as_array().unwrap().len() >= 5,
            "the people reached are listed"
        );
        let events = c["events"].as_array().unwrap();
        assert!(events.len() >= 5);
        for e in events {
            assert!(
                e["email"]["message_id"]
                    .as_str()
                    .unwrap()
                    .ends_with("@postblast.example")
            );
            assert!(e["event"]["original"].as_str().unwrap().contains("postblast"));
            assert!(e["log"]["file"]["path"].as_str().unwrap().contains("mail"));
            assert!(e["@timestamp"].as_str().is_some());
        }
    }
    assert!(!correlation_alerts(&alerts, FANOUT_TEMPLATE).is_empty());

    // Pixel fired, joined by token: a mail and the web request with its token, in that order.
    let pixel = correlation_alerts(&alerts, PIXEL_TOKEN);
    assert!(pixel.len() >= 5, "{} pixel-fired alerts\n{err}", pixel.len());
    for a in &pixel {
        assert_eq!(a["rule"]["level"], "critical");
        let c = &a["correlation"];
        // The key is the URL's site, path and identifiers: `site/path#token`.
        let key = c["group"]["url_key"].as_str().unwrap();
        let token = key.rsplit('#').next().unwrap();
        let events = c["events"].as_array().unwrap();
        assert_eq!(events.len(), 2, "{a}");
        assert_eq!(events[0]["event"]["dataset"], "postfix.log");
        assert!(events[1]["event"]["dataset"].as_str().unwrap().starts_with("squid"));
        // The mail shows the token in its log lines, or (a quoted-printable or base64 body)
        // in the URLs decoded from them.
        assert!(
            events[0]["event"]["original"].as_str().unwrap().contains(token)
                || events[0]["fields"]["email.urls"].to_string().contains(token),
            "{a}"
        );
        assert!(events[1]["event"]["original"].as_str().unwrap().contains(token));
        assert!(events[0]["@timestamp"].as_str() <= events[1]["@timestamp"].as_str());
        assert!(events[1]["fields"]["source.ip"].as_str().is_some(), "the device: {a}");
    }
    // By person: the upper house's Exchange logs carry no URLs; its members' opens still show.
    let device = correlation_alerts(&alerts, PIXEL_DEVICE);
    assert!(
        device.iter().any(|a| a["correlation"]["group"]["person"]
            .as_str()
            .unwrap()
            .ends_with("@senate.elmaria.example")),
        "{device:?}"
    );
    // The inputs of the correlations raise no alerts of their own.
    assert!(!alerts.iter().any(|a| a["rule"]["name"] == "tracking_url_fetched"));
    assert!(
        !alerts
            .iter()
            .any(|a| a["rule"]["name"] == "suspicious_mail_to_high_risk")
    );
    assert!(err.contains("correlation rules"), "{err}");
}

/// An alert with what depends on how the logs were cut into files removed: file names and
/// offsets, top-level and in the contributing events.
fn normalized(a: &Value) -> String {
    let mut a = a.clone();
    if let Some(o) = a.as_object_mut() {
        o.remove("log");
    }
    if let Some(events) = a["correlation"]["events"].as_array_mut() {
        for e in events {
            e.as_object_mut().unwrap().remove("log");
        }
    }
    a.to_string()
}

/// The hour a line belongs to, from its leading timestamp (Squid: epoch seconds; syslog with
/// RFC 3339 time: `2021-01-11T09`).
fn hour_of(line: &str) -> String {
    let first = line.split_whitespace().next().unwrap_or("");
    if let Ok(epoch) = first.split('.').next().unwrap_or("").parse::<i64>() {
        return format!("{}", epoch / 3600);
    }
    first.get(..13).unwrap_or("none").replace(':', "")
}

/// Cuts a log into hourly files in `dir` (named so that their names sort in reverse time
/// order). A Postfix message stays whole, in the hour of its first line, as rotation by time
/// would leave it only if it waited for the message (assembly across files is not what this
/// test is about).
fn split_hourly(log: &Path, dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let text = String::from_utf8(read_log(log)).unwrap();
    let queue_id = regex::Regex::new(r"\]: ([0-9A-F]{8,12}): ").unwrap();
    let mut message_hour: BTreeMap<String, String> = BTreeMap::new();
    let mut hours: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        let mut hour = hour_of(line);
        if let Some(id) = queue_id.captures(line).map(|c| c[1].to_owned()) {
            hour = message_hour.entry(id).or_insert(hour).clone();
        }
        let out = hours.entry(hour).or_default();
        out.push_str(line);
        out.push('\n');
    }
    assert!(hours.len() >= 24, "{} has {} hours", log.display(), hours.len());
    let n = hours.len();
    hours
        .into_iter()
        .enumerate()
        .map(|(i, (_, body))| write(dir, &format!("{prefix}-{:03}.log", n - i), body))
        .collect()
}

#[test]
fn a_day_as_one_file_or_as_hourly_files_in_any_order_gives_the_same_alerts() {
    let d = tempfile::tempdir().unwrap();
    let whole = d.path().join("whole");
    std::fs::create_dir(&whole).unwrap();
    let mail = write(&whole, "maillog", read_log(&sample().join("mail/maillog.1.gz")));
    let web = write(&whole, "access.log", read_log(&sample().join("web/access.log.1.gz")));
    let (one, _) = scan(&[&mail, &web], &["-j", "1"]);
    let correlated = |alerts: &[Value]| {
        alerts
            .iter()
            .filter(|a| a["event"]["dataset"] == "reconwatch.correlation")
            .map(normalized)
            .collect::<Vec<_>>()
    };
    let reference = correlated(&one);
    assert!(
        reference.iter().any(|a| a.contains(PIXEL_TOKEN)) && reference.iter().any(|a| a.contains(FANOUT_SENDER)),
        "the day holds both correlations: {reference:?}"
    );
    let mut all_one: Vec<String> = one.iter().map(normalized).collect();
    all_one.sort();

    let hourly = d.path().join("hourly");
    std::fs::create_dir(&hourly).unwrap();
    let mut files = split_hourly(&mail, &hourly, "mail");
    files.extend(split_hourly(&web, &hourly, "web"));
    let mut orders = vec![files.clone()];
    let mut reversed = files.clone();
    reversed.reverse();
    orders.push(reversed);
    let mut interleaved = files.clone();
    interleaved.sort_by_key(|p| {
        p.file_name()
            .unwrap()
            .to_string_lossy()
            .chars()
            .rev()
            .collect::<String>()
    });
    orders.push(interleaved);
    for (i, order) in orders.iter().enumerate() {
        let refs: Vec<&Path> = order.iter().map(PathBuf::as_path).collect();
        for threads in ["1", "3"] {
            let (alerts, _) = scan(&refs, &["-j", threads]);
            assert_eq!(correlated(&alerts), reference, "order {i}, {threads} threads");
            let mut all: Vec<String> = alerts.iter().map(normalized).collect();
            all.sort();
            assert_eq!(all, all_one, "order {i}, {threads} threads");
        }
    }
}

/// The sample's first pixel fetch whose token a mail carried, and the Squid file it is in.
fn first_token_fetch() -> (String, String) {
    let (alerts, _) = scan(&[&sample()], &[]);
    let a = correlation_alerts(&alerts, PIXEL_TOKEN)[0].clone();
    let token = a["correlation"]["group"]["url_key"].as_str().unwrap().to_owned();
    let line = a["correlation"]["events"][1]["event"]["original"]
        .as_str()
        .unwrap()
        .to_owned();
    (token, line)
}

#[test]
fn a_web_request_later_than_the_lateness_is_counted_and_not_correlated() {
    let (key, fetch) = first_token_fetch();
    // The key is `site/path#token`.
    let token = key.rsplit('#').next().unwrap().to_owned();
    let d = tempfile::tempdir().unwrap();
    let mail = write(d.path(), "maillog", read_log(&sample().join("mail/maillog.1.gz")));
    let epoch: f64 = fetch.split_whitespace().next().unwrap().parse().unwrap();
    // The fetch, then (in the file) a line 2 minutes or 10 minutes after it: the fetch moved
    // behind a newer line, as a web gateway writing from several workers may do.
    let web_with = |later_by: f64| {
        let newer = fetch
            .replacen(
                fetch.split_whitespace().next().unwrap(),
                &format!("{:.3}", epoch + later_by),
                1,
            )
            .replace(&token, "NotTheTokenAtAll1");
        write(
            d.path(),
            &format!("access-{later_by}.log"),
            format!("{newer}\n{fetch}\n"),
        )
    };
    let fired = |web: &Path, extra: &[&str]| {
        let (alerts, err) = scan(&[&mail, web], extra);
        let hit = correlation_alerts(&alerts, PIXEL_TOKEN)
            .iter()
            .any(|a| a["correlation"]["group"]["url_key"] == key.as_str());
        (hit, err)
    };
    let within = web_with(120.0);
    let (hit, err) = fired(&within, &[]);
    assert!(hit, "2 minutes out of order is within the default 5m lateness\n{err}");
    assert!(err.contains("late events 0"), "{err}");

    let beyond = web_with(600.0);
    let metrics = d.path().join("metrics.prom");
    let (hit, err) = fired(&beyond, &["--metrics-textfile", metrics.to_str().unwrap()]);
    assert!(!hit, "10 minutes out of order is beyond it");
    assert!(err.contains("late events 1 (--lateness 5m)"), "{err}");
    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        // Its contributions to the five correlations fed by web requests: pixel fired and
        // fetched again, pixel after mail without URLs and its repeats, first-seen domain.
        prom.contains("reconwatch_correlation_contributions_total{outcome=\"late\"} 5"),
        "{prom}"
    );
    let (hit, err) = fired(&beyond, &["--lateness", "15m"]);
    assert!(hit, "a larger lateness takes it\n{err}");
}

#[test]
fn groups_over_the_limit_are_evicted_and_counted() {
    let d = tempfile::tempdir().unwrap();
    let metrics = d.path().join("metrics.prom");
    let m = metrics.to_str().unwrap();
    let (unlimited, _) = scan(&[&sample()], &[]);
    let (limited, err) = scan(&[&sample()], &["--max-groups", "1", "--metrics-textfile", m]);
    let count = |alerts: &[Value]| correlation_alerts(alerts, PIXEL_TOKEN).len();
    assert!(
        count(&limited) < count(&unlimited),
        "one open group per correlation cannot remember every mailed token: {} vs {}",
        count(&limited),
        count(&unlimited)
    );
    let prom = std::fs::read_to_string(&metrics).unwrap();
    let evicted = prom
        .lines()
        .find(|l| {
            l.starts_with(&format!(
                "reconwatch_correlation_evictions_total{{correlation=\"{PIXEL_TOKEN}\"}}"
            ))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(evicted > 0, "{prom}");
    assert!(!err.contains("evicted 0"), "{err}");
}

#[test]
fn rules_check_reports_a_correlation_that_refers_to_nothing() {
    let d = tempfile::tempdir().unwrap();
    let rule = write(
        d.path(),
        "mr_broken.yml",
        "title: Broken\nid: broken-1\ncorrelation:\n  type: event_count\n  rules: [no_such_rule]\n  group-by: [user.name]\n  timespan: 1h\n  condition:\n    gte: 2\n",
    );
    let o = run(&["rules", "check", rule.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains(
            "mr_broken.yml: rule broken-1: correlation.rules: no loaded rule has the name or id `no_such_rule`"
        ),
        "{out}"
    );
}

/// A Squid access line: `epoch` seconds, the watch-listed user `harta` (rules/examples/watchlist.csv)
/// fetching `url`.
fn squid(epoch: i64, url: &str) -> String {
    format!("{epoch}.000    120 10.20.1.15 TCP_MISS/200 512 GET {url} harta HIER_DIRECT/198.51.100.7 text/html\n")
}

fn examples_watchlist() -> String {
    format!(
        "p={}",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("rules/examples/watchlist.csv")
            .display()
    )
}

#[test]
fn a_burst_of_domains_unseen_for_a_week_fires_once_the_week_has_been_watched() {
    const BURST: &str = "5f7a2c86-1e4b-4d39-a0c8-3b6e9d2f7a14";
    const DAY: i64 = 86_400;
    let t0 = 1_610_000_000;
    let d = tempfile::tempdir().unwrap();
    let wl = examples_watchlist();
    let burst = |new_domains: usize, history_days: i64| {
        let mut log = String::new();
        // Every day, the same two sites.
        for day in 0..history_days {
            log.push_str(&squid(t0 + day * DAY, "http://old-one.example/"));
            log.push_str(&squid(t0 + day * DAY + 60, "http://old-two.example/a"));
        }
        let at = t0 + history_days * DAY;
        for i in 0..new_domains {
            log.push_str(&squid(at + 120 * i as i64, &format!("http://new-{i}.example/x")));
            log.push_str(&squid(at + 120 * i as i64 + 30, "http://old-one.example/again"));
        }
        let f = write(d.path(), &format!("access-{new_domains}-{history_days}.log"), log);
        let o = run(&["scan", "--watchlist", &wl, f.to_str().unwrap()]);
        let alerts: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let fired: Vec<Value> = correlation_alerts(&alerts, BURST).into_iter().cloned().collect();
        (fired, stderr(&o))
    };
    let (fired, err) = burst(10, 8);
    assert_eq!(fired.len(), 1, "{err}");
    let c = &fired[0]["correlation"];
    assert_eq!(c["value"], 10.0);
    let mut values: Vec<&str> = c["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    values.sort_unstable();
    assert_eq!(values.len(), 10);
    assert!(values.iter().all(|v| v.starts_with("new-")), "{values:?}");
    assert_eq!(c["events"].as_array().unwrap().len(), 10, "one request per new domain");

    let (fired, _) = burst(9, 8);
    assert!(fired.is_empty(), "nine new domains are not ten");
    // Three days of history cannot tell what is new in a week: held back, and said so.
    let (fired, err) = burst(10, 3);
    assert!(fired.is_empty());
    assert!(err.contains("held back before a full timespan"), "{err}");
}

/// One Exim message (four lines, `Completed` last) from `from` to `to`, starting at `sec`
/// seconds after 10:00; its lines are returned separately so that messages can be interleaved.
fn exim_message(n: usize, sec: u32, from: &str, to: &str) -> Vec<String> {
    let id = format!("1rhQa{n}-00000000xYz-1AbC");
    let at = |s: u32| format!("2024-03-05 10:{:02}:{:02}", s / 60, s % 60);
    vec![
        format!(
            "{} {id} <= {from} H=smtp7.postblast.example [203.0.113.9]:52814 I=[192.0.2.10]:25 P=esmtps S=48211 id={n}.lure@postblast.example T=\"Request for comment\" for {to}",
            at(sec)
        ),
        format!("{} {id} => {to} R=localuser T=local_delivery", at(sec + 1)),
        format!("{} {id} Completed", at(sec + 2)),
    ]
}

#[test]
fn assembled_exim_messages_feed_the_fan_out_as_whole_messages() {
    let d = tempfile::tempdir().unwrap();
    let wl_file = write(
        d.path(),
        "watch.txt",
        (0..6)
            .map(|i| format!("member{i}@parliament.example\n"))
            .collect::<String>(),
    );
    let wl = format!("p={}", wl_file.display());
    let scan_messages = |n: usize| {
        // Messages overlap: every message's lines are interleaved with the next one's.
        let msgs: Vec<Vec<String>> = (0..n)
            .map(|i| {
                exim_message(
                    i,
                    10 * i as u32,
                    "sophie.lang@bbc-worldnews.example",
                    &format!("member{i}@parliament.example"),
                )
            })
            .collect();
        let mut lines = Vec::new();
        for pair in msgs.chunks(2) {
            for k in 0..3 {
                for m in pair {
                    lines.push(m[k].clone());
                }
            }
        }
        let f = write(d.path(), &format!("mainlog-{n}"), lines.join("\n") + "\n");
        let o = run(&[
            "scan",
            "--watchlist",
            &wl,
            "--own-domain",
            "parliament.example",
            f.to_str().unwrap(),
        ]);
        let alerts: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let fanout: Vec<Value> = correlation_alerts(&alerts, FANOUT_SENDER)
            .into_iter()
            .cloned()
            .collect();
        (fanout, stderr(&o))
    };
    let (fanout, err) = scan_messages(6);
    assert_eq!(fanout.len(), 1, "{err}");
    let c = &fanout[0]["correlation"];
    assert_eq!(c["group"]["reconwatch.sender.domain"], "bbc-worldnews.example");
    assert_eq!(c["value"], 5.0, "fires at the fifth person");
    for e in c["events"].as_array().unwrap() {
        assert_eq!(e["event"]["dataset"], "exim.main");
        let original = e["event"]["original"].as_str().unwrap();
        assert_eq!(original.lines().count(), 3, "the whole message: {original}");
        assert!(original.ends_with("Completed"), "{original}");
    }
    let (fanout, _) = scan_messages(4);
    assert!(fanout.is_empty(), "four people are not five");
}

#[test]
fn a_lateness_that_is_no_timespan_is_a_usage_error_naming_the_option() {
    let o = run(&["scan", "--lateness", "5 minutes", sample().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("--lateness 5 minutes: `5 minutes` is not a timespan"),
        "{err}"
    );
    assert!(stdout(&o).is_empty(), "nothing scanned");
}
