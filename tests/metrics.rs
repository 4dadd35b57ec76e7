//! The metrics a batch run exports, checked with Debian's real `promtool` (package `prometheus`,
//! installed by `.ci/test`). Without promtool this test fails and says how to get it: a skipped
//! check must never look like a passing one.

use std::process::Command;

fn promtool() -> &'static str {
    let found = Command::new("promtool")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "promtool not found: install Debian's `prometheus` package (`.ci/test` does it)"
    );
    "promtool"
}

/// `promtool check metrics` on a textfile.
fn check_metrics(promtool: &str, prom: &std::path::Path, text: &str) {
    let check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(prom).unwrap())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "promtool check metrics failed:\n{}{}\n{text}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn textfile_metrics_pass_promtool_and_count_what_happened() {
    let promtool = promtool();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(
        &log,
        "1610615523.123    234 10.20.3.14 TCP_MISS/200 1514 GET http://a.example/x.gif - HIER_DIRECT/198.51.100.7 image/gif\n\
         1610615524.123    234 10.20.3.14 TCP_MISS/2x0 1514 GET http://a.example/x.gif - HIER_DIRECT/198.51.100.7 image/gif\n",
    )
    .unwrap();
    let junk = dir.path().join("junk.txt");
    std::fs::write(&junk, "not a log at all\n").unwrap();
    let prom = dir.path().join("reconwatch.prom");
    let o = Command::new(env!("CARGO_BIN_EXE_reconwatch"))
        .args(["parse", "--stats", "--metrics-textfile"])
        .arg(&prom)
        .arg(&log)
        .arg(&junk)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "the unrecognised input makes the run fail");
    let text = std::fs::read_to_string(&prom).unwrap();

    check_metrics(promtool, &prom, &text);
    for expected in [
        "reconwatch_input_lines_total{format=\"squid\"} 2",
        "reconwatch_events_total{format=\"squid\"} 1",
        "reconwatch_parse_errors_total{format=\"squid\",reason=\"invalid HTTP status (%>Hs)\"} 1",
        "reconwatch_input_failures_total{reason=\"unrecognised\"} 1",
        "reconwatch_inputs_total{format=\"squid\"} 1",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
}

#[test]
fn scan_metrics_pass_promtool_and_count_alerts_by_rule_and_level() {
    let promtool = promtool();
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("reconwatch.prom");
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
    let o = Command::new(env!("CARGO_BIN_EXE_reconwatch"))
        .args(["scan", "-q", "--metrics-textfile"])
        .arg(&prom)
        .arg(&sample)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "the sample world alerts");
    let alerts = String::from_utf8_lossy(&o.stdout).lines().count();
    let text = std::fs::read_to_string(&prom).unwrap();
    check_metrics(promtool, &prom, &text);
    // The per-rule counters add up to the alerts written.
    let counted: u64 = text
        .lines()
        .filter(|l| l.starts_with("reconwatch_alerts_total{"))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    assert_eq!(counted, alerts as u64, "{text}");
    assert!(
        text.contains("reconwatch_alerts_total{level=\"high\",rule=\"5d1c9a3e-7f0b-4c55-9a61-2f8e0d4b7a10\"}"),
        "{text}"
    );
}

#[test]
fn shipped_alerting_rules_pass_promtool_unit_tests() {
    let promtool = promtool();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let check = Command::new(promtool)
        .args(["check", "rules"])
        .arg(root.join("deploy/prometheus/reconwatch.rules.yml"))
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    // The rule tests feed series shaped like reconwatch's own metrics and expect each alert.
    let test = Command::new(promtool)
        .args(["test", "rules", "reconwatch.rules.test.yml"])
        .current_dir(root.join("tests/promtool"))
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "promtool test rules failed:\n{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
}

/// The groups of the watch-listed people an alert document concerns: `reconwatch.person.group`
/// of a match (or `ungrouped` for a high-risk person without one), the evidence's
/// `targets.groups` of a correlation; and the groups whose devices fetched a pixel.
fn groups_of(alert: &serde_json::Value) -> (Vec<String>, Vec<String>) {
    let names = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().filter_map(|g| g.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let (mut groups, mut pixel) = (Vec::new(), Vec::new());
    if let Some(events) = alert["correlation"]["events"].as_array() {
        for e in events {
            let g = names(&e["targets"]["groups"]);
            if e["targets"]["pixel_fetch"] == true {
                pixel.extend(if g.is_empty() {
                    vec!["unlisted".to_owned()]
                } else {
                    g.clone()
                });
            }
            groups.extend(g);
        }
    } else {
        let person = &alert["reconwatch"]["person"];
        groups = names(&person["group"]);
        if groups.is_empty() && person["high_risk"] == true {
            groups.push("ungrouped".to_owned());
        }
        // A web request: a URL of its own, no mail.
        let web = alert["url"]["original"].is_string() && alert["email"].is_null();
        if web && alert["reconwatch"]["url"]["pixel"] == true {
            pixel = if groups.is_empty() {
                vec!["unlisted".to_owned()]
            } else {
                groups.clone()
            };
        }
    }
    for v in [&mut groups, &mut pixel] {
        v.sort();
        v.dedup();
    }
    (groups, pixel)
}

/// Targeting by group, recounted from the alerts themselves, is what the metrics say; no label
/// names a person; and the group label cannot grow past its cap.
#[test]
fn scan_metrics_count_alerts_by_watchlist_group_and_pixel_fetches_never_by_person() {
    use std::collections::BTreeMap;
    let promtool = promtool();
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("reconwatch.prom");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = Command::new(env!("CARGO_BIN_EXE_reconwatch"))
        .args(["scan", "-q", "--config"])
        .arg(root.join("deploy/sample-world.yml"))
        .arg("--metrics-textfile")
        .arg(&prom)
        .arg(root.join("sample-logs"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&prom).unwrap();
    check_metrics(promtool, &prom, &text);

    // Expected, from the alert documents: (metric, group, rule) -> alerts.
    let mut expected: BTreeMap<(&str, String, String), u64> = BTreeMap::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let alert: serde_json::Value = serde_json::from_str(line).unwrap();
        let rule = alert["rule"]["id"].as_str().unwrap().to_owned();
        let (groups, pixel) = groups_of(&alert);
        for g in groups {
            *expected
                .entry(("reconwatch_alerts_by_group_total", g, rule.clone()))
                .or_default() += 1;
        }
        for g in pixel {
            *expected
                .entry(("reconwatch_pixel_alerts_total", g, rule.clone()))
                .or_default() += 1;
        }
    }
    let mut counted: BTreeMap<(&str, String, String), u64> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(metric) = ["reconwatch_alerts_by_group_total", "reconwatch_pixel_alerts_total"]
            .into_iter()
            .find(|m| line.starts_with(&format!("{m}{{")))
        else {
            continue;
        };
        let label = |name: &str| {
            let start = line.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            line[start..start + line[start..].find('"').unwrap()].to_owned()
        };
        let n: u64 = line.rsplit_once(' ').unwrap().1.parse().unwrap();
        counted.insert((metric, label("group"), label("rule")), n);
    }
    assert_eq!(counted, expected);
    let groups: std::collections::BTreeSet<&str> = counted.keys().map(|(_, g, _)| g.as_str()).collect();
    assert!(
        ["parliamentarian", "staff", "family"]
            .iter()
            .all(|g| groups.contains(g)),
        "the sample world targets these groups: {groups:?}"
    );
    assert!(
        counted.keys().any(|(m, _, _)| *m == "reconwatch_pixel_alerts_total"),
        "the sample world's pixels fire"
    );
    // Never a person: no address, name or user name of the watchlist appears in any label.
    let people = std::fs::read_to_string(root.join("sample-logs/.world/people.csv")).unwrap();
    for row in people.lines().skip(1) {
        let cols: Vec<&str> = row.split(',').collect();
        for who in [cols[0], cols[1], cols[3]] {
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                assert!(!line.contains(&format!("\"{who}\"")), "{who} in a label: {line}");
            }
        }
    }
}
