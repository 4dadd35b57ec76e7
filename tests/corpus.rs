//! Conformance against real log lines published by other projects, kept outside this repository
//! in `../shared/corpus` (or `$RECONWATCH_CORPUS`); their licences forbid copying them here, so
//! this test reads them in place and says so clearly when they are absent.
//!
//! For each family it runs the real binary with `--format auto` on every log file and checks that
//! at least 95% of the log lines are accepted (an event, or recognised without one) by the
//! family's parser. Where Elastic publishes its ECS output beside an input (`*-expected.json`), it
//! compares every field both sides fill and checks that at least 95% agree. Both tables are
//! printed (`cargo test --test corpus -- --nocapture`).
//!
//! Test-framework noise is not log data and is removed before parsing: fail2ban fixtures' `#`
//! comment lines, and the YAML around postfix-grok-patterns messages (their `data:` value is the
//! log message).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Corpus family → the format that must read it.
const FAMILIES: &[(&str, &str)] = &[
    ("squid", "squid"),
    ("combined", "combined"),
    ("w3c", "w3c"),
    ("zscaler", "zscaler"),
    ("postfix", "postfix"),
    ("exim", "exim"),
    ("sendmail", "sendmail"),
    ("exchange-tracking", "exchange"),
    ("m365-trace", "m365"),
    ("proofpoint", "proofpoint"),
    ("mimecast", "mimecast"),
];

/// Our field names that Elastic writes under another ECS name (the field means the same).
const ALIASES: &[(&str, &str)] = &[("user.name", "source.user.name")];

/// Deliberate differences from Elastic, left out of the normalized score (and printed): (corpus
/// family, field, why).
const DELIBERATE: &[(&str, &str, &str)] = &[(
    "w3c",
    "url.original",
    "Elastic's IIS pipeline keeps cs-uri-stem alone; reconwatch keeps stem?query, the request \
     target as its nginx/Apache/Squid parsers (and Elastic's) do",
)];

/// Fields not compared: they describe the input or the pipeline, not the log record.
const NOT_COMPARED: &[&str] = &["event.original", "event.dataset", "log.file.path", "log.offset"];

/// The corpus, or `None` when it is absent and that is allowed
/// (`RECONWATCH_ALLOW_MISSING_CORPUS=1`). Panics when it is absent and not allowed: a
/// conformance test that passes having checked nothing is worse than none.
fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("RECONWATCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("RECONWATCH_ALLOW_MISSING_CORPUS").is_ok_and(|v| v == "1") {
        println!(
            "CORPUS ABSENT: {} not found; conformance NOT checked in this run (allowed by RECONWATCH_ALLOW_MISSING_CORPUS)",
            dir.display()
        );
        return None;
    }
    panic!(
        "the parser conformance test needs the third-party corpus at {}: put it there, point \
         RECONWATCH_CORPUS at it, or set RECONWATCH_ALLOW_MISSING_CORPUS=1 to skip this test",
        dir.display()
    );
}

fn files_below(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_below(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The YAML value of a `data:` line (plain, single- or double-quoted).
fn yaml_data(line: &str) -> Option<String> {
    let v = line.strip_prefix("data:")?.trim();
    if let Some(inner) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        // Only the quote and the backslash are unescaped: Postfix writes control characters as
        // visible escapes (`...: RSET\r\n`), and the fixtures spell those the same way.
        Some(
            inner
                .replace("\\\\", "\u{0}")
                .replace("\\\"", "\"")
                .replace('\u{0}', "\\"),
        )
    } else if let Some(inner) = v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner.replace("''", "'"))
    } else {
        Some(v.to_owned())
    }
}

/// The log lines of one corpus file, or `None` when the file is not a log (notes, expectations).
fn log_text(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    if name.ends_with("-expected.json") || name == "parser.assert" || name.ends_with(".md") {
        return None;
    }
    let text = String::from_utf8_lossy(&std::fs::read(path).ok()?).into_owned();
    let parent = path.parent()?.file_name()?.to_str()?;
    if parent == "fail2ban" {
        return Some(
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| format!("{l}\n"))
                .collect(),
        );
    }
    if name.ends_with(".yaml") {
        return Some(text.lines().filter_map(yaml_data).map(|l| l + "\n").collect());
    }
    Some(text)
}

fn reconwatch(args: &[&str], file: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_reconwatch"))
        .args(args)
        .arg(file)
        .output()
        .expect("the binary runs")
}

#[derive(Default)]
struct Tally {
    files: usize,
    lines: u64,
    accepted: u64,
    misdetected: Vec<String>,
}

#[test]
fn corpus_lines_parse_and_fields_agree_with_elastic() {
    let Some(corpus) = corpus_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut agreement: Vec<(String, usize, usize, usize)> = Vec::new();
    let mut failures = Vec::new();

    for &(family, format) in FAMILIES {
        let tally = tallies.entry(family).or_default();
        let mut files = Vec::new();
        files_below(&corpus.join(family), &mut files);
        // The grok YAML cases are one message each: read them as one input, as a log would be.
        let mut grok = String::new();
        let mut inputs: Vec<(String, String)> = Vec::new();
        for f in &files {
            let Some(text) = log_text(f) else { continue };
            let shown = f.strip_prefix(&corpus).unwrap().display().to_string();
            if f.extension().is_some_and(|e| e == "yaml") {
                grok.push_str(&text);
            } else {
                inputs.push((shown, text));
            }
        }
        if !grok.is_empty() {
            inputs.push((format!("{family}/postfix-grok-patterns/*.yaml data:"), grok));
        }
        for (i, (shown, text)) in inputs.iter().enumerate() {
            let file = tmp.path().join(format!("{family}-{i}.log"));
            std::fs::write(&file, text).unwrap();
            let out = reconwatch(&["parse", "--stats", "--json", "--format", "auto"], &file);
            let stats: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                panic!(
                    "{shown}: --stats --json output: {e}: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
            let lines = stats["lines"].as_u64().unwrap() - stats["blank"].as_u64().unwrap();
            let errors = stats["errors"].as_u64().unwrap().min(lines);
            tally.files += 1;
            tally.lines += lines;
            if stats["format"] == format {
                tally.accepted += lines - errors;
            } else {
                tally.misdetected.push(format!("{shown} read as {}", stats["format"]));
            }

            let expected = corpus.join(shown.replace(" data:", "")).with_file_name(format!(
                "{}-expected.json",
                Path::new(shown).file_name().unwrap().to_string_lossy()
            ));
            if expected.is_file() {
                let (shared, raw, normalized) = compare_with_elastic(family, &file, &expected);
                agreement.push((shown.clone(), shared, raw, normalized));
            }
        }
    }

    println!(
        "\n{:<20} {:>5} {:>7} {:>9} {:>8}  detection",
        "family", "files", "lines", "accepted", "share"
    );
    for (family, t) in &tallies {
        let share = if t.lines == 0 {
            0.0
        } else {
            t.accepted as f64 / t.lines as f64
        };
        println!(
            "{family:<20} {:>5} {:>7} {:>9} {:>7.1}%  {}",
            t.files,
            t.lines,
            t.accepted,
            share * 100.0,
            if t.misdetected.is_empty() {
                "ok".to_owned()
            } else {
                t.misdetected.join("; ")
            }
        );
        if t.lines == 0 || share < 0.95 {
            failures.push(format!(
                "{family}: {:.1}% of {} lines accepted (need 95%)",
                share * 100.0,
                t.lines
            ));
        }
    }
    println!(
        "\n{:<62} {:>6} {:>9} {:>11}",
        "file with Elastic expected output", "shared", "as-is", "normalized"
    );
    for (file, shared, raw, normalized) in &agreement {
        let pct = |n: usize| {
            if *shared == 0 {
                0.0
            } else {
                n as f64 * 100.0 / *shared as f64
            }
        };
        println!("{file:<62} {shared:>6} {:>8.1}% {:>10.1}%", pct(*raw), pct(*normalized));
        if *shared == 0 || pct(*normalized) < 95.0 {
            failures.push(format!(
                "{file}: {:.1}% of {shared} shared fields agree (need 95%)",
                pct(*normalized)
            ));
        }
    }
    println!(
        "(normalized: `<>` around email message ids and addresses are ignored (Elastic keeps them), \
         Exchange's Incoming/Originating equal ECS inbound/outbound, and url.query is compared \
         percent- and plus-decoded (Elastic decodes it, reconwatch keeps it as logged))"
    );
    for (family, field, why) in DELIBERATE {
        println!("not compared: {family} {field}: {why}");
    }
    println!();
    assert!(failures.is_empty(), "corpus conformance:\n{}", failures.join("\n"));
}

/// Parses `input` and compares its events with Elastic's, matched by `event.original`. Returns
/// (shared fields, equal as written, equal after normalization).
fn compare_with_elastic(family: &str, input: &Path, expected: &Path) -> (usize, usize, usize) {
    let out = reconwatch(&["parse", "--format", "auto"], input);
    let ours: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let theirs: Value = serde_json::from_str(&std::fs::read_to_string(expected).unwrap()).unwrap();
    let (mut shared, mut raw, mut normalized) = (0, 0, 0);
    for doc in theirs["expected"].as_array().unwrap() {
        let theirs = flatten(doc);
        let Some(original) = theirs.get("event.original").and_then(Value::as_str) else {
            continue;
        };
        let Some(ours) = ours.iter().find(|e| e["event"]["original"] == original) else {
            println!("  no event of ours for Elastic's: {original}");
            continue;
        };
        for (name, value) in flatten(ours) {
            if NOT_COMPARED.contains(&name.as_str()) {
                continue;
            }
            let their_name = ALIASES
                .iter()
                .find(|(o, _)| *o == name)
                .map_or(name.as_str(), |(_, t)| t);
            let Some(their_value) = theirs.get(their_name).or_else(|| theirs.get(&name)) else {
                continue;
            };
            if DELIBERATE.iter().any(|(f, field, _)| *f == family && *field == name) {
                continue;
            }
            shared += 1;
            if same(&name, &value, their_value, false) {
                raw += 1;
            }
            if same(&name, &value, their_value, true) {
                normalized += 1;
            } else {
                println!("  {name}: ours {value} vs Elastic {their_value}  ({original:.60})");
            }
        }
    }
    (shared, raw, normalized)
}

fn flatten(v: &Value) -> BTreeMap<String, Value> {
    fn walk(v: &Value, prefix: &str, out: &mut BTreeMap<String, Value>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(v, &p, out);
                }
            }
            other => {
                out.insert(prefix.to_owned(), other.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(v, "", &mut out);
    out
}

/// Equal as values: numbers and numeric strings, IPs and times by meaning, a one-element list
/// and its element, lists as sets.
fn same(field: &str, a: &Value, b: &Value, normalize: bool) -> bool {
    let texts = |v: &Value| -> Vec<String> {
        match v {
            Value::Array(items) => items.iter().map(text).collect(),
            other => vec![text(other)],
        }
    };
    let (mut x, mut y) = (texts(a), texts(b));
    x.sort();
    y.sort();
    x.len() == y.len() && x.iter().zip(&y).all(|(x, y)| same_text(field, x, y, normalize))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn same_text(field: &str, a: &str, b: &str, normalize: bool) -> bool {
    if a == b {
        return true;
    }
    if let (Ok(x), Ok(y)) = (a.parse::<f64>(), b.parse::<f64>()) {
        return x == y;
    }
    if let (Ok(x), Ok(y)) = (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        return x == y;
    }
    if let (Ok(x), Ok(y)) = (a.parse::<jiff::Timestamp>(), b.parse::<jiff::Timestamp>()) {
        return x == y;
    }
    if !normalize {
        return false;
    }
    if field == "url.query" {
        return url_decode(a) == url_decode(b);
    }
    if field == "email.direction" {
        let direction = |s: &str| match s.to_ascii_lowercase().as_str() {
            "incoming" => "inbound".to_owned(),
            "originating" | "outgoing" => "outbound".to_owned(),
            other => other.to_owned(),
        };
        return direction(a) == direction(b);
    }
    let strip = |s: &str| s.trim().trim_start_matches('<').trim_end_matches('>').to_owned();
    field.starts_with("email.") && strip(a) == strip(b)
}

/// Percent- and plus-decoding, as form data is decoded.
fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() && s.is_char_boundary(i + 3) => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(v) => {
                    out.push(v);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
