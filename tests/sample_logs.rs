//! The shipped `sample-logs/` world, end to end through the binary: every file is read with the
//! right format and without a rejected line, and every line the generator labelled as part of
//! the campaign (`sample-logs/.world/labels.jsonl`) comes out as an event that carries what
//! detection needs: the recipient, the tracking token, the device that fetched it.

mod common;
use common::line_offsets;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs")
}

fn reconwatch(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_reconwatch"))
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "reconwatch {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn expected_format(rel: &str) -> &'static str {
    match rel {
        r if r.starts_with("mail/maillog") => "postfix",
        r if r.starts_with("mail/exchange/") => "exchange",
        r if r.starts_with("web/access.log") => "squid",
        r if r.starts_with("web/branch/") => "squid",
        r if r.starts_with("web/proxysg/") => "w3c",
        other => panic!("unexpected file in sample-logs: {other}"),
    }
}

#[test]
fn every_sample_file_parses_with_its_format_and_no_rejected_line() {
    let root = root();
    let out = reconwatch(&["parse", "--stats", "--json", root.to_str().unwrap()]);
    let stats = json_lines(&out.stdout);
    assert!(
        stats.len() >= 6,
        "sample-logs holds the mail and web logs: {}",
        stats.len()
    );
    let mut lines = 0;
    for s in &stats {
        let path = s["path"].as_str().unwrap();
        let rel = Path::new(path)
            .strip_prefix(&root)
            .unwrap()
            .to_str()
            .unwrap()
            .replace('\\', "/");
        assert_eq!(s["format"], expected_format(&rel), "{rel}");
        assert_eq!(s["errors"], 0, "{rel}: {s}");
        assert!(s["failure"].is_null(), "{rel}: {s}");
        lines += s["lines"].as_u64().unwrap();
    }
    assert!(lines > 10_000, "a few thousand lines per family: {lines}");
}

#[test]
fn every_labelled_campaign_line_becomes_an_event_carrying_its_evidence() {
    let root = root();
    let events = json_lines(&reconwatch(&["parse", root.to_str().unwrap()]).stdout);
    // Single-line events by (file, offset); assembled Postfix messages by queue id.
    let mut by_line: HashMap<(String, u64), &Value> = HashMap::new();
    let mut by_queue_id: HashMap<&str, &Value> = HashMap::new();
    for e in &events {
        let path = e["log"]["file"]["path"].as_str().unwrap();
        let rel = Path::new(path)
            .strip_prefix(&root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        by_line.insert((rel, e["log"]["offset"].as_u64().unwrap()), e);
        if e["event"]["dataset"] == "postfix.log"
            && let Some(id) = e["email"]["local_id"].as_str()
        {
            by_queue_id.insert(id, e);
        }
    }
    let labels = std::fs::read_to_string(root.join(".world/labels.jsonl")).unwrap();
    let mut offsets: HashMap<String, Vec<u64>> = HashMap::new();
    let mut checked: HashMap<String, usize> = HashMap::new();
    for label in labels.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()) {
        let kind = label["kind"].as_str().unwrap();
        let file = label["file"].as_str().unwrap().to_owned();
        let line = label["line"].as_u64().unwrap() as usize;
        let token = label["token"].as_str().unwrap_or("");
        let recipient = label["recipient"].as_str().unwrap_or("");
        let offs = offsets
            .entry(file.clone())
            .or_insert_with(|| line_offsets(&root.join(&file)));
        let offset = offs[line];
        let at = format!("{file}:{line} ({kind})");
        match kind {
            "campaign_open" | "campaign_click" => {
                let e = by_line
                    .get(&(file.clone(), offset))
                    .unwrap_or_else(|| panic!("{at}: no event"));
                let url = e["url"]["original"].as_str().unwrap_or_default();
                if label["via"].is_string() {
                    // The branch proxy shows only the tunnel's host or the URL without its query.
                    let host = label["host"].as_str().unwrap();
                    assert!(url.contains(host), "{at}: host {host} not in url.original {url}");
                } else {
                    assert!(url.contains(token), "{at}: token {token} not in url.original {url}");
                }
                assert_eq!(
                    e["source"]["ip"].as_str(),
                    label["client_ip"].as_str(),
                    "{at}: the device"
                );
                if let Some(user) = label["user"].as_str() {
                    assert_eq!(e["user"]["name"].as_str(), Some(user), "{at}: the proxy user");
                }
            }
            "campaign_mail" if file.starts_with("mail/maillog") && label["queue_id"].is_null() => {
                // A copy the gateway refused (NOQUEUE reject) is a single-line event; the
                // session's connect/disconnect lines are recognised without an event.
                let Some(e) = by_line.get(&(file.clone(), offset)) else {
                    continue;
                };
                let to = e["email"]["to"]["address"].to_string();
                assert!(to.contains(recipient), "{at}: recipient {recipient} not in {to}");
                assert_eq!(e["event"]["action"], "reject", "{at}");
            }
            "campaign_mail" if file.starts_with("mail/maillog") => {
                let id = label["queue_id"].as_str().unwrap();
                let Some(e) = by_queue_id.get(id) else {
                    // Session lines (connect/disconnect) are labelled too; they carry no queue id
                    // of their own but the message they belong to must exist.
                    panic!("{at}: no assembled message with queue id {id}");
                };
                let to: Vec<&str> = e["email"]["to"]["address"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                assert!(to.contains(&recipient), "{at}: recipient {recipient} not in {to:?}");
                let urls = e["email"]["urls"]
                    .as_array()
                    .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>());
                let class = label["class"].as_str().unwrap_or_default();
                // Encoded bodies hide or split the URL (quoted-printable soft breaks, base64).
                if !matches!(class, "qp_body" | "base64_body") {
                    assert!(
                        urls.as_ref().is_some_and(|u| u.iter().any(|u| u.contains(token))),
                        "{at}: the per-recipient token {token} is not in email.urls {urls:?}"
                    );
                }
                let from = e["email"]["from"]["address"].as_str().unwrap_or_default();
                // The low-and-slow persona writes from free mail, not from her site's domain.
                if class != "low_and_slow" {
                    assert!(from.ends_with(label["domain"].as_str().unwrap()), "{at}: sender {from}");
                }
            }
            "campaign_mail" => {
                let e = by_line
                    .get(&(file.clone(), offset))
                    .unwrap_or_else(|| panic!("{at}: no event"));
                let to = e["email"]["to"]["address"].to_string();
                assert!(to.contains(recipient), "{at}: recipient {recipient} not in {to}");
            }
            _ => continue,
        }
        *checked.entry(kind.to_owned()).or_default() += 1;
    }
    println!("labelled lines checked: {checked:?}");
    for kind in ["campaign_open", "campaign_click", "campaign_mail"] {
        assert!(checked.get(kind).copied().unwrap_or(0) > 0, "the sample shows {kind}");
    }
}
