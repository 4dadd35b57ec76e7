//! Conformance with the SigmaHQ rule set, read in place from `../shared/sigma` (or
//! `$RECONWATCH_SIGMA`): the rules are not copied into this repository, only their paths and the
//! log lines written for them (`tests/data/sigmahq/proxy-cases.yml`).
//!
//! Three checks:
//! - every proxy rule listed in the checkout's `proxy-rules.txt` loads, alerts on a hand-written
//!   log line and stays silent on a near miss of it (the same request with the one detail its
//!   detection turns on changed), each line going through the real parse → match path
//!   ([`run_reader`] with the format forced, [`Engine::matches`] on each event);
//! - every rule file under the checkout's `rules*` directories loads or is skipped for its log
//!   source: none is rejected. Counts are printed (`cargo test --test sigmahq -- --nocapture`);
//! - the listed proxy rules, run unchanged over the sample world's native Squid log, do not flood:
//!   the empty-user-agent rule stays silent (that layout records no user agent, so the field is
//!   absent, not empty), and no rule alerts on every line.
//!
//! Without the checkout both tests fail, saying where to put it; with
//! `RECONWATCH_ALLOW_MISSING_SIGMA=1` they print that they were skipped and pass.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use reconwatch::event::Event;
use reconwatch::parse::Format;
use reconwatch::pipeline::{EventSink, PipelineConfig, run_reader};
use reconwatch::rules::load::Loaded;
use reconwatch::rules::sigma::Placeholders;
use reconwatch::rules::{Engine, Scratch};

/// The cases file, relative to the crate.
const CASES: &str = "tests/data/sigmahq/proxy-cases.yml";
/// The list of proxy rules, relative to the SigmaHQ checkout.
const PROXY_RULES: &str = "proxy-rules.txt";
/// Skip reasons (log sources) printed by the loader test.
const TOP_SKIPPED: usize = 8;
/// SigmaHQ's "HTTP Request With Empty User Agent" (`c-useragent: ''`), found by its id.
const EMPTY_UA_RULE_ID: &str = "21e44d78-95e7-421b-a464-ffd8395659c4";
/// The sample world's native Squid log, relative to the crate.
const SAMPLE_ACCESS_LOG: &str = "sample-logs/web/access.log";

/// The SigmaHQ checkout, or `None` when it is absent and that is allowed. Panics when it is
/// absent and not allowed: a conformance test that silently checks nothing is worse than none.
fn sigma_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("RECONWATCH_SIGMA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/sigma"));
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("RECONWATCH_ALLOW_MISSING_SIGMA").is_ok_and(|v| v == "1") {
        println!("skipped: {test}: the SigmaHQ rules ({}) are absent", dir.display());
        return None;
    }
    panic!(
        "{test} needs a checkout of the SigmaHQ rules (github.com/SigmaHQ/sigma) at {}: put one \
         there, or point RECONWATCH_SIGMA at it, or set RECONWATCH_ALLOW_MISSING_SIGMA=1 to skip \
         this test",
        dir.display()
    );
}

/// The checkout's `proxy-rules.txt`: the proxy rules these tests cover, one path per line,
/// relative to the checkout.
fn listed_rules(sigma: &Path) -> String {
    let path = sigma.join(PROXY_RULES);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the list of the checkout's proxy rules these tests cover, one path per line, \
             relative to the checkout)",
            path.display()
        )
    })
}

/// `tests/data/sigmahq/proxy-cases.yml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    /// Named lines prepended to an excerpt (W3C `#Software:` / `#Fields:` headers).
    headers: HashMap<String, String>,
    cases: Vec<Case>,
}

/// One rule's lines.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// Relative to the SigmaHQ checkout.
    rule: String,
    format: String,
    header: Option<String>,
    #[serde(rename = "match")]
    matching: String,
    #[serde(rename = "no-match")]
    not_matching: String,
    /// What the near miss changes.
    miss: String,
    /// Why reconwatch cannot alert on `matching` yet (the test then expects no alert).
    gap: Option<String>,
}

fn read_cases() -> CaseFile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(CASES);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Counts the events the engine matches, and those whose match it cannot explain (an alert that
/// does not say what matched).
struct MatchCounter<'e> {
    engine: &'e Engine,
    scratch: Scratch,
    matched: Vec<u32>,
    alerts: u64,
    unexplained: u64,
}

impl EventSink for MatchCounter<'_> {
    fn event(&mut self, event: &mut Event<'_>) -> std::io::Result<()> {
        self.matched.clear();
        self.engine.matches(event, &mut self.scratch, &mut self.matched);
        for &r in &self.matched {
            self.alerts += 1;
            if self.engine.explain(r, event, &mut self.scratch).is_empty() {
                self.unexplained += 1;
            }
        }
        Ok(())
    }
}

/// Runs `text` through the real pipeline and reports whether the engine's one rule alerted, or
/// why the text was not read as exactly one event.
fn alerts(engine: &Engine, name: &str, text: &str, cfg: &PipelineConfig) -> Result<bool, String> {
    let mut sink = MatchCounter {
        engine,
        scratch: engine.scratch(),
        matched: Vec::new(),
        alerts: 0,
        unexplained: 0,
    };
    let stats = run_reader(name, text.as_bytes(), None, cfg, &mut sink).map_err(|e| e.to_string())?;
    if let Some(f) = &stats.failure {
        return Err(format!("input not read: {f}"));
    }
    if stats.errors > 0 || stats.events != 1 {
        let reasons: Vec<&str> = stats.error_reasons.keys().copied().collect();
        return Err(format!(
            "expected one event, the parser gave {} ({} line(s) rejected: {})",
            stats.events,
            stats.errors,
            reasons.join("; ")
        ));
    }
    if sink.unexplained > 0 {
        return Err("an alert whose explanation lists no match".into());
    }
    Ok(sink.alerts > 0)
}

/// Checks one case; returns its failures, and the gap it documents if it still holds.
fn check_case(sigma: &Path, file: &CaseFile, case: &Case, failures: &mut Vec<String>) -> Option<String> {
    let fail = |failures: &mut Vec<String>, what: String| failures.push(format!("{}: {what}", case.rule));
    let mut loaded = Loaded::default();
    loaded.add_path(&sigma.join(&case.rule), &Placeholders::new());
    if !loaded.problems.is_empty() || loaded.rules.len() != 1 {
        let problems: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
        fail(
            failures,
            format!(
                "expected one rule loaded without problems, got {} rule(s) and: {}",
                loaded.rules.len(),
                problems.join("; ")
            ),
        );
        return None;
    }
    let engine = match Engine::new(loaded.rules) {
        Ok(e) => e,
        Err(e) => {
            fail(failures, format!("does not compile: {e}"));
            return None;
        }
    };
    let Some(format) = Format::from_name(&case.format) else {
        fail(failures, format!("unknown format `{}`", case.format));
        return None;
    };
    let header = match &case.header {
        None => "",
        Some(h) => match file.headers.get(h) {
            Some(text) => text.as_str(),
            None => {
                fail(failures, format!("unknown header `{h}`"));
                return None;
            }
        },
    };
    let cfg = PipelineConfig {
        format: Some(format),
        ..PipelineConfig::default()
    };
    // A gap turns the expected alert into none, so the test notices when the gap closes.
    let want_match = case.gap.is_none();
    for (kind, line, want) in [
        ("match", &case.matching, want_match),
        ("no-match", &case.not_matching, false),
    ] {
        let text = format!("{header}{line}");
        match alerts(&engine, &format!("{}#{kind}", case.rule), &text, &cfg) {
            Err(e) => fail(failures, format!("{kind} line: {e}\n    {}", line.trim_end())),
            Ok(got) if got == want => {}
            Ok(_) => {
                let why = match (kind, &case.gap) {
                    ("match", Some(_)) => "the documented gap is closed: remove `gap:` from the case".to_owned(),
                    ("match", None) => "expected an alert, got none".to_owned(),
                    _ => format!("expected no alert ({}), got one", case.miss),
                };
                fail(failures, format!("{kind} line: {why}\n    {}", line.trim_end()));
            }
        }
    }
    case.gap.as_ref().map(|g| format!("{}: {g}", case.rule))
}

#[test]
fn proxy_rules_alert_on_their_lines_and_not_on_near_misses() {
    let Some(sigma) = sigma_dir("proxy rule cases") else {
        return;
    };
    let listed_text = listed_rules(&sigma);
    let listed: Vec<&str> = listed_text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let file = read_cases();

    let mut failures = Vec::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for case in &file.cases {
        *seen.entry(case.rule.as_str()).or_default() += 1;
    }
    for rule in &listed {
        match seen.get(rule) {
            None => failures.push(format!("{rule}: listed in {PROXY_RULES} but has no case in {CASES}")),
            Some(&n) if n > 1 => failures.push(format!("{rule}: {n} cases in {CASES}, expected one")),
            Some(_) => {}
        }
    }
    for rule in seen.keys() {
        if !listed.contains(rule) {
            failures.push(format!(
                "{rule}: has a case in {CASES} but is not listed in {PROXY_RULES}"
            ));
        }
    }

    let mut gaps = Vec::new();
    for case in &file.cases {
        gaps.extend(check_case(&sigma, &file, case, &mut failures));
    }
    println!(
        "{} proxy rules, {} cases, {} known gap(s)",
        listed.len(),
        file.cases.len(),
        gaps.len()
    );
    for g in &gaps {
        println!("  gap: {g}");
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_sigmahq_rule_loads_or_is_skipped_for_its_log_source() {
    let Some(sigma) = sigma_dir("SigmaHQ loader") else {
        return;
    };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&sigma)
        .unwrap_or_else(|e| panic!("{}: {e}", sigma.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("rules"))
        })
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "{}: no rules* directory", sigma.display());

    let mut loaded = Loaded::default();
    for d in &dirs {
        loaded.add_path(d, &Placeholders::new());
    }
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut rejected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &loaded.problems {
        if p.skipped {
            *skipped.entry(p.category()).or_default() += 1;
        } else {
            rejected.entry(p.category()).or_default().push(p.to_string());
        }
    }
    let n_skipped: usize = skipped.values().sum();
    let n_rejected: usize = rejected.values().map(Vec::len).sum();
    println!(
        "{} rule files in {}: {} rules loaded, {n_rejected} rejected, {n_skipped} skipped",
        loaded.files,
        dirs.iter()
            .filter_map(|d| d.file_name()?.to_str())
            .collect::<Vec<_>>()
            .join(", "),
        loaded.rules.len()
    );
    for (category, n) in &skipped {
        println!("{n:>6}  skipped   {category}");
    }
    // The log sources skipped most, to show what reconwatch does not read.
    let mut by_source: HashMap<&str, usize> = HashMap::new();
    for p in loaded.problems.iter().filter(|p| p.skipped) {
        let source = p.reason.split(" is not a log").next().unwrap_or(&p.reason);
        *by_source.entry(source).or_default() += 1;
    }
    let mut by_source: Vec<(&str, usize)> = by_source.into_iter().collect();
    by_source.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (reason, n) in by_source.iter().take(TOP_SKIPPED) {
        println!("{n:>10}  {reason}");
    }
    if by_source.len() > TOP_SKIPPED {
        println!("{:>10}  ... {} other log sources", "", by_source.len() - TOP_SKIPPED);
    }
    let mut by_logsource: BTreeMap<String, usize> = BTreeMap::new();
    for r in &loaded.rules {
        let l = &r.logsource;
        let name = format!(
            "category {} product {}",
            l.category.as_deref().unwrap_or("-"),
            l.product.as_deref().unwrap_or("-")
        );
        *by_logsource.entry(name).or_default() += 1;
    }
    for (name, n) in &by_logsource {
        println!("{n:>6}  loaded    {name}");
    }
    for (category, list) in &rejected {
        println!("{:>6}  rejected  {category}", list.len());
    }

    assert!(!loaded.rules.is_empty(), "no SigmaHQ rule loaded");
    // Compiling catches what only shows across rules (automaton or regex-set limits).
    let loaded_count = loaded.rules.len();
    if let Err(e) = Engine::new(loaded.rules) {
        panic!("the {loaded_count} loaded rules do not compile together: {e}");
    }
    let detail: Vec<String> = rejected.values().flatten().cloned().collect();
    assert!(
        detail.is_empty(),
        "{n_rejected} SigmaHQ rule(s) rejected (every rule must load or be skipped for its log source):\n{}",
        detail.join("\n")
    );
}

/// Gap: SigmaHQ's empty-user-agent rule (`c-useragent: ''`) alerted on every line of a native
/// Squid log (3,758 of 3,758 in sample-logs), because `''` also matched a field the layout does
/// not record. All listed proxy rules run together, unchanged, over that log.
#[test]
fn proxy_rules_do_not_flood_a_native_squid_log() {
    let Some(sigma) = sigma_dir("proxy rules over sample-logs") else {
        return;
    };
    let listed = listed_rules(&sigma);
    let mut loaded = Loaded::default();
    for rule in listed.lines().map(str::trim).filter(|l| !l.is_empty()) {
        loaded.add_path(&sigma.join(rule), &Placeholders::new());
    }
    let rules = loaded.rules.len();
    let empty_ua = loaded
        .rules
        .iter()
        .position(|r| r.meta.id == EMPTY_UA_RULE_ID)
        .unwrap_or_else(|| panic!("{PROXY_RULES} lists no rule with id {EMPTY_UA_RULE_ID} (empty user agent)"));
    let engine = Engine::new(loaded.rules).expect("the proxy rules compile together");

    /// Alerts per rule.
    struct PerRule<'e> {
        engine: &'e Engine,
        scratch: Scratch,
        matched: Vec<u32>,
        alerts: Vec<u64>,
    }
    impl EventSink for PerRule<'_> {
        fn event(&mut self, event: &mut Event<'_>) -> std::io::Result<()> {
            self.matched.clear();
            self.engine.matches(event, &mut self.scratch, &mut self.matched);
            for &r in &self.matched {
                self.alerts[r as usize] += 1;
            }
            Ok(())
        }
    }
    let mut sink = PerRule {
        engine: &engine,
        scratch: engine.scratch(),
        matched: Vec::new(),
        alerts: vec![0; rules],
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SAMPLE_ACCESS_LOG);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let stats = run_reader(SAMPLE_ACCESS_LOG, file, None, &PipelineConfig::default(), &mut sink).unwrap();
    assert_eq!(stats.format, Some(Format::Squid), "{stats:?}");
    assert!(stats.events > 1000 && stats.errors == 0, "{stats:?}");

    println!("{} events of {SAMPLE_ACCESS_LOG}, {rules} proxy rules", stats.events);
    for (r, &n) in sink.alerts.iter().enumerate().filter(|(_, n)| **n > 0) {
        println!("{n:>8}  {}", engine.rules()[r].meta.title);
    }
    assert_eq!(
        sink.alerts[empty_ua], 0,
        "the empty-user-agent rule alerted on a log whose layout records no user agent"
    );
    let flooding: Vec<&str> = (0..rules)
        .filter(|&r| sink.alerts[r] == stats.events)
        .map(|r| engine.rules()[r].meta.title.as_str())
        .collect();
    assert!(flooding.is_empty(), "rules alerting on every event: {flooding:?}");
}

/// The SigmaHQ proxy rules and the shipped ones together, over the cases' lines (matches and
/// near misses, one file per format) and the sample world, with enrichment on demand (`scan`'s
/// default: a rule's tests on the log's own fields run before any computed field is computed,
/// and a field is scanned only when a test reads it) and in full (`--eager-enrichment`): the
/// same alerts, byte for byte.
#[test]
fn proxy_rules_alert_the_same_with_enrichment_on_demand() {
    let Some(sigma) = sigma_dir("proxy rules with enrichment on demand") else {
        return;
    };
    let listed = listed_rules(&sigma);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    // The cases' lines, per format (and W3C header).
    let cases = read_cases();
    let mut files: BTreeMap<(String, Option<String>), String> = BTreeMap::new();
    for c in &cases.cases {
        let text = files
            .entry((c.format.clone(), c.header.clone()))
            .or_insert_with(|| c.header.as_ref().map(|h| cases.headers[h].clone()).unwrap_or_default());
        text.push_str(&c.matching);
        text.push_str(&c.not_matching);
    }
    let mut outputs = Vec::new();
    for eager in [false, true] {
        let mut all = String::new();
        let mut inputs: Vec<(Option<&str>, PathBuf)> = vec![(None, root.join("sample-logs"))];
        for (i, ((format, _), text)) in files.iter().enumerate() {
            let path = dir.path().join(format!("case-{i}.log"));
            std::fs::write(&path, text).unwrap();
            inputs.push((Some(format), path));
        }
        for (format, input) in inputs {
            let out = dir.path().join("alerts.jsonl");
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_reconwatch"));
            cmd.args(["scan", "-q", "--default-rules", "-o"]).arg(&out);
            cmd.arg("--watchlist").arg(format!(
                "parliament={}",
                root.join("sample-logs/.world/people.csv").display()
            ));
            for rule in listed.lines().map(str::trim).filter(|l| !l.is_empty()) {
                cmd.arg("--rules").arg(sigma.join(rule));
            }
            if let Some(f) = format {
                cmd.args(["--format", f]);
            }
            if eager {
                cmd.arg("--eager-enrichment");
            }
            let o = cmd.arg(&input).output().unwrap();
            assert!(
                o.status.code().is_some_and(|c| c <= 1),
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
            all.push_str(&std::fs::read_to_string(&out).unwrap());
        }
        outputs.push(all);
    }
    let (lazy, eager) = (&outputs[0], &outputs[1]);
    let shipped = lazy.lines().filter(|l| l.contains("\"author\":\"reconwatch\"")).count();
    let total = lazy.lines().count();
    println!("{total} alerts, {shipped} of the shipped rules");
    assert!(
        shipped > 0 && total > shipped + 40,
        "alerts of both rule sets ({total}, {shipped} shipped)"
    );
    assert!(lazy == eager, "the alerts differ with --eager-enrichment");
}
