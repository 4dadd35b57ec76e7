//! `reconwatch scan` and `reconwatch rules` end to end: real rule files, real logs, the binary.

mod common;
use common::*;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

fn alerts(o: &Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs")
}

const LOOKALIKE: &str = "5d1c9a3e-7f0b-4c55-9a61-2f8e0d4b7a10";

#[test]
fn sample_world_alerts_on_every_campaign_mail_and_only_on_them() {
    let o = run(&["scan", sample().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "alerts mean exit 1; stderr: {}", stderr(&o));
    let alerts = alerts(&o);
    // Postfix campaign messages, by queue id, from the generator's labels: those of the story's
    // lookalike wave (class `lookalike`, wave 1: "Sophie Lang | BBC News"), and those of any
    // class (the variation waves; some of them send from lookalikes too).
    let labels = std::fs::read_to_string(sample().join(".world/labels.jsonl")).unwrap();
    let mut campaign: BTreeSet<String> = BTreeSet::new();
    let mut any_campaign: BTreeSet<String> = BTreeSet::new();
    for l in labels.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        if v["kind"] == "campaign_mail"
            && let Some(mid) = v["message_id"].as_str()
        {
            any_campaign.insert(mid.to_owned());
        }
        // Messages refused at the gateway have no queue id: no message event to alert on.
        if v["kind"] == "campaign_mail"
            && v["class"] == "lookalike"
            && v["file"].as_str().unwrap().starts_with("mail/maillog")
            && let Some(qid) = v["queue_id"].as_str()
        {
            campaign.insert(qid.to_owned());
        }
    }
    assert!(!campaign.is_empty());
    let mut alerted: BTreeSet<String> = BTreeSet::new();
    for a in alerts.iter().filter(|a| a["rule"]["id"] == LOOKALIKE) {
        let qid = a["email"]["local_id"]
            .as_str()
            .expect("a mail alert carries the queue id");
        let mid = a["email"]["message_id"].as_str().unwrap_or_default();
        assert!(
            any_campaign.contains(mid),
            "an alert on a message outside the campaign: {a}"
        );
        if !campaign.contains(qid) {
            // A variation wave from another lookalike (or its Exchange rows).
            continue;
        }
        assert_eq!(a["rule"]["level"], "high");
        // The alert carries the evidence: the lines, where they are, and what matched.
        assert!(a["event"]["original"].as_str().unwrap().contains(qid));
        assert!(a["log"]["file"]["path"].as_str().unwrap().contains("maillog"));
        assert!(a["log"]["offset"].is_u64());
        assert_eq!(a["matches"][0]["selection"], "selection");
        assert_eq!(a["matches"][0]["field"], "reconwatch.sender.lookalike");
        // The computed fields that made it are in the alert.
        assert_eq!(a["reconwatch"]["sender"]["lookalike"], "bbc.co.uk");
        assert_eq!(a["reconwatch"]["sender"]["lookalike_method"], "added_word");
        assert_eq!(a["email"]["from"]["name"], "Sophie Lang | BBC News");
        assert!(a["@timestamp"].as_str().unwrap().starts_with("2021-01-"));
        alerted.insert(qid.to_owned());
    }
    assert_eq!(
        alerted, campaign,
        "lookalike-sender alerts vs labelled campaign messages"
    );
    // The summary names the rule with its count.
    let err = stderr(&o);
    assert!(err.contains("reconwatch scan summary"), "{err}");
    assert!(
        err.contains(&format!(
            "high {}",
            alerts.iter().filter(|a| a["rule"]["level"] == "high").count()
        )),
        "{err}"
    );
    assert!(err.contains(LOOKALIKE), "{err}");
}

fn rule(id: &str, uri_contains: &str) -> String {
    format!(
        "title: rule {id}\nid: {id}\nlevel: medium\nlogsource:\n  category: proxy\n\
         detection:\n  sel:\n    c-uri|contains: '{uri_contains}'\n  condition: sel\n"
    )
}

const SQUID: &str = "1610356086.534    169 10.21.2.161 TCP_MISS/200 447 GET https://a.example/p.gif?id=NpYeoCp5W054t2a6 walkers HIER_DIRECT/198.51.100.183 image/gif\n\
1610356087.534    169 10.21.2.162 TCP_MISS/200 447 GET https://b.example/index.html walkers HIER_DIRECT/198.51.100.183 text/html\n";

#[test]
fn rules_replace_or_add_to_the_shipped_ones_and_exit_codes_follow_alerts() {
    let d = tempfile::tempdir().unwrap();
    let log = write(d.path(), "access.log", SQUID);
    let mine = d.path().join("mine");
    write(&mine, "a.yml", rule("mine-a", "b.example/index"));
    let log_s = log.to_str().unwrap();
    let mine_s = mine.to_str().unwrap();

    // --rules replaces the shipped rules.
    let o = run(&["scan", "-q", "--rules", mine_s, log_s]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let ids: Vec<Value> = alerts(&o).iter().map(|a| a["rule"]["id"].clone()).collect();
    assert_eq!(ids, ["mine-a"]);
    let second_line = SQUID.find('\n').unwrap() + 1;
    assert_eq!(
        alerts(&o)[0]["log"]["offset"],
        second_line,
        "the second line's byte offset"
    );

    // --default-rules adds them back: the shipped pixel rule fires on the first line.
    let o = run(&["scan", "-q", "--rules", mine_s, "--default-rules", log_s]);
    let ids: BTreeSet<String> = alerts(&o)
        .iter()
        .map(|a| a["rule"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        ids.contains("mine-a") && ids.contains("2f7a4d19-9e3b-4b61-8c0d-5a7e3f1b9c24"),
        "{ids:?}"
    );

    // No alert: exit 0, nothing on stdout; -o writes the alerts to a file.
    let quiet = d.path().join("quiet");
    write(&quiet, "q.yml", rule("never", "no-such-path"));
    let o = run(&["scan", "-q", "--rules", quiet.to_str().unwrap(), log_s]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    let out = d.path().join("alerts.jsonl");
    let o = run(&["scan", "-q", "--rules", mine_s, "-o", out.to_str().unwrap(), log_s]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 1);
}

#[test]
fn a_rule_that_cannot_run_is_reported_and_makes_the_scan_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let log = write(d.path(), "access.log", SQUID);
    let rules = d.path().join("rules");
    write(&rules, "good.yml", rule("good", "b.example"));
    write(
        &rules,
        "bad.yml",
        "title: bad\nid: bad-1\nlogsource: {category: proxy}\ndetection: {sel: {c-uri|sometimes: x}, condition: sel}\n",
    );
    let o = run(&["scan", "--rules", rules.to_str().unwrap(), log.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "an incomplete scan is an error");
    let err = stderr(&o);
    assert!(
        err.contains("bad.yml: rule bad-1: detection.sel: c-uri|sometimes (|sometimes): unknown modifier"),
        "{err}"
    );
    // The good rule still ran.
    assert_eq!(alerts(&o).len(), 1);

    // `rules check` names the same problem and exits 1; a clean set exits 0.
    let o = run(&["rules", "check", rules.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("rejected: "), "{}", stdout(&o));
    assert!(stdout(&o).contains("1 rules loaded, 1 rejected"), "{}", stdout(&o));
    std::fs::remove_file(rules.join("bad.yml")).unwrap();
    let o = run(&["rules", "check", rules.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn rules_test_runs_each_rules_own_lines() {
    // The shipped rules pass their own tests.
    let o = run(&["rules", "test"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let shipped = stdout(&o).lines().filter(|l| l.starts_with("ok ")).count();
    assert!(shipped >= 3, "{}", stdout(&o));

    // A rule whose test line does not match fails, and so does a rule without tests.
    let d = tempfile::tempdir().unwrap();
    let line = SQUID.lines().next().unwrap();
    write(
        d.path(),
        "wrong.yml",
        format!(
            "{}reconwatch-tests:\n  match: ['{line}']\n  no-match: ['{line}']\n",
            rule("wrong", "p.gif")
        ),
    );
    write(d.path(), "untested.yml", rule("untested", "x"));
    let o = run(&["rules", "test", d.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("FAIL wrong") && out.contains("no-match[0]: expected no alert, got one"),
        "{out}"
    );
    assert!(
        out.contains("FAIL untested") && out.contains("has no reconwatch-tests"),
        "{out}"
    );
}

#[test]
fn alert_metrics_are_exported_by_rule_and_level() {
    let d = tempfile::tempdir().unwrap();
    let log = write(d.path(), "access.log", SQUID.repeat(3));
    let rules = d.path().join("rules");
    write(&rules, "a.yml", rule("count-me", "b.example"));
    let prom = d.path().join("m.prom");
    let o = run(&[
        "scan",
        "-q",
        "--rules",
        rules.to_str().unwrap(),
        "--metrics-textfile",
        prom.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let m = std::fs::read_to_string(&prom).unwrap();
    let values: HashMap<&str, &str> = m
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .collect();
    assert_eq!(
        values.get(r#"reconwatch_alerts_total{level="medium",rule="count-me"}"#),
        Some(&"3"),
        "{m}"
    );
    assert_eq!(values.get("reconwatch_rules_loaded"), Some(&"1"), "{m}");
}

#[test]
fn parallel_scan_writes_the_same_alerts_as_one_thread() {
    // The sample world's plain Squid log, split into many small chunks on four threads: alerts
    // byte-identical to a single-threaded scan. The whole world (inputs in parallel, its plain
    // maillog split too): the same alerts, sorted, since a split mail log hands on the messages
    // completed past a chunk's end before the next chunk's (`reconwatch::batch`).
    let access = sample().join("web/access.log");
    for target in [access.to_str().unwrap(), sample().to_str().unwrap()] {
        let one = run(&["scan", "-q", "--threads", "1", target]);
        let many = run(&["scan", "-q", "--threads", "4", "--chunk-size", "4KiB", target]);
        assert_eq!(one.status.code(), Some(1), "{}", stderr(&one));
        assert_eq!(many.status.code(), one.status.code());
        assert!(!one.stdout.is_empty());
        let same = if target == access.to_str().unwrap() {
            one.stdout == many.stdout
        } else {
            sorted(&one.stdout) == sorted(&many.stdout)
        };
        assert!(same, "alerts differ between 1 and 4 threads on {target}");
    }
}

/// The lines of `out`, sorted.
fn sorted(out: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = out.split(|&b| b == b'\n').collect();
    lines.sort_unstable();
    lines
}

/// One delivered Postfix message to `to`.
fn postfix_message(qid: &str, to: &str) -> String {
    format!(
        "2021-01-11T09:41:01.124842+01:00 mx2 postfix/smtpd[6460]: {qid}: client=smtp5.mailer.example[203.0.113.109]\n\
         2021-01-11T09:41:01.317598+01:00 mx2 postfix/cleanup[7526]: {qid}: info: header From: <news@mailer.example> from smtp5.mailer.example[203.0.113.109]; from=<b@mailer.example> to=<{to}> proto=ESMTP helo=<smtp5.mailer.example>\n\
         2021-01-11T09:41:01.420000+01:00 mx2 postfix/qmgr[924]: {qid}: from=<b@mailer.example>, size=2327, nrcpt=1 (queue active)\n\
         2021-01-11T09:41:01.830000+01:00 mx2 postfix/lmtp[9454]: {qid}: to=<{to}>, relay=store.example[10.20.0.25]:24, delay=0.7, delays=0.3/0/0.1/0.3, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n\
         2021-01-11T09:41:01.831000+01:00 mx2 postfix/qmgr[924]: {qid}: removed\n"
    )
}

#[test]
fn watchlists_feed_expand_placeholders() {
    let d = tempfile::tempdir().unwrap();
    let log = write(
        d.path(),
        "maillog",
        &(postfix_message("AAAA1111", "Fiona.Bennett@staff.parliament.example")
            + &postfix_message("BBBB2222", "someone@elsewhere.example")
            + &postfix_message("CCCC3333", "j.doe@press.example")),
    );
    let rules = d.path().join("rules");
    write(
        &rules,
        "vip.yml",
        "title: mail to a watch-listed person\nid: vip-mail\nlevel: medium\nlogsource: {category: email}\n\
         detection:\n  sel:\n    email.to.address|expand:\n      - '%parliamentarians%'\n      - '%journalists%'\n  condition: sel\n",
    );
    // A plain list with a domain entry, and a CSV list of people.
    let parl = write(d.path(), "parliament.txt", "# both houses\n@parliament.example\n");
    let press = write(
        d.path(),
        "press.csv",
        "email,name,group\nj.doe@press.example,Jane Doe,journalists\n",
    );
    let o = run(&[
        "scan",
        "-q",
        "--rules",
        rules.to_str().unwrap(),
        "--watchlist",
        &format!("parliamentarians={}", parl.display()),
        "--watchlist",
        &format!("journalists={}", press.display()),
        log.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let qids: Vec<Value> = alerts(&o).iter().map(|a| a["email"]["local_id"].clone()).collect();
    assert_eq!(qids, ["AAAA1111", "CCCC3333"]);

    // A bad watchlist line is an error naming the file and line; nothing is scanned.
    let bad = write(d.path(), "bad.txt", "a@parliament.example\nnot an address\n");
    let o = run(&[
        "scan",
        "--rules",
        rules.to_str().unwrap(),
        "--watchlist",
        &format!("parliamentarians={}", bad.display()),
        "--watchlist",
        &format!("journalists={}", press.display()),
        log.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("bad.txt:2"), "{err}");
    assert!(o.stdout.is_empty());
}

/// A watch-listed user's phone fetching a campaign pixel, through Squid.
const PIXEL_FETCH: &str = "1610356022.503    224 10.20.9.10 TCP_MISS/200 464 GET https://bbc-worldnews.example/p.gif?id=H6jS30rkoIEXXK3A&c=w1 bennettf HIER_DIRECT/198.51.100.183 image/gif\n";

#[test]
fn config_file_and_options_feed_the_enrichment_stage() {
    let d = tempfile::tempdir().unwrap();
    let log = write(d.path(), "access.log", PIXEL_FETCH);
    write(
        d.path(),
        "etc/people.csv",
        "email,name,group,usernames,ips\nfiona.bennett.mp@parliament.example,Fiona Bennett,parliamentarian,bennettf,\n",
    );
    write(
        d.path(),
        "etc/intel.dat",
        "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\nbbc-worldnews.example\tIntel::DOMAIN\tncsc\tAPT31 lookalike news domain\n",
    );
    // Relative paths in the file are relative to it.
    let cfg = write(
        d.path(),
        "etc/reconwatch.yml",
        "watchlists:\n  parliamentarians: people.csv\nintel:\n  zeek: [intel.dat]\n",
    );
    let plain = write(
        d.path(),
        "hosting.txt",
        "# fictional hosting of the lookalikes\n198.51.100.0/24\n",
    );
    let prom = d.path().join("m.prom");
    let o = run(&[
        "scan",
        "-q",
        "--config",
        cfg.to_str().unwrap(),
        "--intel",
        plain.to_str().unwrap(),
        "--metrics-textfile",
        prom.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let found = alerts(&o);
    let by_rule: HashMap<&str, &Value> = found.iter().map(|a| (a["rule"]["id"].as_str().unwrap(), a)).collect();
    // The web intel rule: the domain from the Zeek file, the server address from the plain list.
    let intel = by_rule["5f2b8d4e-6a1c-4e3f-9b7d-1c5e8a2f6d39"];
    assert_eq!(intel["rule"]["level"], "high");
    let providers: BTreeSet<&str> = intel["threat"]["enrichments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["indicator"]["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, BTreeSet::from(["ncsc", "hosting"]), "{intel}");
    assert_eq!(intel["reconwatch"]["intel"]["indicator"][0], "bbc-worldnews.example");
    // The watch-listed person, found by the proxy user name, named by their address.
    let pixel = by_rule["8a4c6e2b-1f3d-4b5a-9c7e-2d4f6a8b0c15"];
    assert_eq!(
        pixel["reconwatch"]["person"]["email"][0],
        "fiona.bennett.mp@parliament.example"
    );
    assert_eq!(pixel["reconwatch"]["person"]["watchlist"][0], "parliamentarians");
    assert_eq!(pixel["reconwatch"]["url"]["pixel"], true);
    assert_eq!(
        pixel["reconwatch"]["url"]["template"][0],
        "https://bbc-worldnews.example/p.gif?id={b64:16}&c=w1"
    );
    let m = std::fs::read_to_string(&prom).unwrap();
    assert!(
        m.contains(r#"reconwatch_watchlist_entries{kind="address",list="parliamentarians"} 1"#),
        "{m}"
    );
    assert!(m.contains(r#"reconwatch_intel_indicators{type="domain"} 1"#), "{m}");
    assert!(m.contains(r#"reconwatch_intel_indicators{type="subnet"} 1"#), "{m}");

    // Without the context the same line raises only the generic pixel rule.
    let o = run(&["scan", "-q", log.to_str().unwrap()]);
    let ids: Vec<Value> = alerts(&o).iter().map(|a| a["rule"]["id"].clone()).collect();
    assert_eq!(ids, ["2f7a4d19-9e3b-4b61-8c0d-5a7e3f1b9c24"]);

    // A misspelt key and a bad intel line stop the run before anything is scanned, naming the file.
    let bad_cfg = write(d.path(), "bad.yml", "watchlist:\n  x: people.csv\n");
    let o = run(&[
        "scan",
        "-q",
        "--config",
        bad_cfg.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("bad.yml") && stderr(&o).contains("watchlist"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());
    let bad_intel = write(d.path(), "bad-intel.txt", "evil.example\nnot a valid indicator!\n");
    let o = run(&[
        "scan",
        "-q",
        "--intel",
        bad_intel.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bad-intel.txt"), "{}", stderr(&o));
}

/// The configuration file can say what the options say (time zone, correlation lateness and
/// limits); an option wins over the file, and a bad value names where it came from.
#[test]
fn config_file_sets_timezone_and_correlation_settings() {
    let dir = tempfile::tempdir().unwrap();
    let log = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs/web/access.log");
    let log = log.to_str().unwrap();
    let bad = write(dir.path(), "bad.yml", "lateness: soon\n");
    let o = run(&["scan", "--config", bad.to_str().unwrap(), log]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--config: lateness soon"), "{}", stderr(&o));
    let o = run(&["scan", "--config", bad.to_str().unwrap(), "--lateness", "10m", log]);
    assert!(o.status.code() != Some(2), "the option wins: {}", stderr(&o));
    assert!(stderr(&o).contains("(--lateness 10m)"), "{}", stderr(&o));
    let tz = write(dir.path(), "tz.yml", "timezone: Mars/Olympus\n");
    let o = run(&["parse", "--config", tz.to_str().unwrap(), log]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--config: timezone Mars/Olympus"), "{}", stderr(&o));
    let good = write(dir.path(), "good.yml", "lateness: 2h\nmax_groups: 7\n");
    let o = run(&["scan", "--config", good.to_str().unwrap(), log]);
    assert!(stderr(&o).contains("(--lateness 2h)"), "{}", stderr(&o));
}
