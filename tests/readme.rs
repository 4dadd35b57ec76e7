//! Every command the READMEs show runs as written from a clone. This test extracts the fenced
//! `sh` blocks of README.md, rules/README.md and deploy/README.md, joins continued lines, and
//! runs each command that needs only the repository with `bash -o pipefail`, in a scratch
//! directory that holds links to the repository's folders (so outputs such as `-o alerts.jsonl`
//! land there, not in the checkout), with the binary under test first on `PATH`.
//!
//! Not run, and listed with the reason: commands that name a gateway's own paths that do not
//! exist here (`/var/log/...`, `/archive/...`, `members.csv`), and the build and test tooling
//! itself (`cargo test`, `.ci/test`, `sudo install`: CI runs those). `cargo run --release --`
//! is run as the binary under test (the same program; building it again inside a test would
//! double the build). A command fails the test when it exits with anything but 0 (or 1 for
//! `scan`, which means "alerts were written"), or says `error:` or `panicked` on stderr.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const READMES: &[&str] = &["README.md", "rules/README.md", "deploy/README.md"];

/// Options whose value has a `/` without being a path.
const NOT_PATH_OPTIONS: &[&str] = &["--timezone", "--squid-logformat", "--format", "-f"];

/// Options whose value is a file or directory reconwatch writes.
const OUTPUT_OPTIONS: &[&str] = &["-o", "--output", "--out", "--metrics-textfile", "--state-dir"];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The commands of a Markdown file's fenced `sh` blocks: comments dropped, `\` continuations
/// joined.
fn commands(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in markdown.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_sh = !in_sh && trimmed == "```sh";
            continue;
        }
        if !in_sh || (pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#'))) {
            continue;
        }
        let code = strip_comment(trimmed);
        match code.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head);
                pending.push(' ');
            }
            None => {
                pending.push_str(code);
                out.push(std::mem::take(&mut pending).trim().to_owned());
            }
        }
    }
    out
}

/// The line without a trailing `# comment` (a `#` outside quotes, after whitespace).
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\'' if !double => single = !single,
            b'"' if !single => double = !double,
            b'#' if !single && !double && i > 0 && bytes[i - 1].is_ascii_whitespace() => {
                return line[..i].trim_end();
            }
            _ => {}
        }
    }
    line
}

/// Shell words of one command up to its first unquoted `|`, quotes removed.
fn first_segment_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut single, mut double, mut started) = (false, false, false);
    for c in command.chars() {
        match c {
            '\'' if !double => {
                single = !single;
                started = true;
            }
            '"' if !single => {
                double = !double;
                started = true;
            }
            '|' if !single && !double => break,
            c if c.is_whitespace() && !single && !double => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

/// Why a command cannot run from a clone, or `None` when it can.
fn needs_more_than_the_repository(command: &str, scratch: &Path) -> Option<String> {
    let tooling = ["cargo ", ".ci/", "RUSTC_BOOTSTRAP=", "benches/"];
    if tooling.iter().any(|t| command.starts_with(t)) && !command.starts_with("cargo run --release -- ") {
        return Some("build and test tooling (CI runs it)".into());
    }
    if command.starts_with("sudo ") {
        return Some("installs onto this host".into());
    }
    let words = first_segment_words(command);
    let (mut output_next, mut not_a_path_next) = (false, false);
    for word in words.iter().skip(1) {
        let is_output = std::mem::take(&mut output_next) || word.starts_with('>');
        if std::mem::take(&mut not_a_path_next) {
            continue;
        }
        if OUTPUT_OPTIONS.contains(&word.as_str()) {
            output_next = true;
            continue;
        }
        if NOT_PATH_OPTIONS.contains(&word.as_str()) {
            not_a_path_next = true;
            continue;
        }
        if word.starts_with('-') && !word.contains('=') {
            continue;
        }
        // NAME=FILE and --option=value name a file after the `=`.
        let value = word.rsplit_once('=').map_or(word.as_str(), |(_, v)| v);
        let value = value.trim_start_matches('>');
        let path_like = value.contains('/')
            || [".log", ".csv", ".txt", ".yml", ".dat", ".jsonl", ".prom", ".gz"]
                .iter()
                .any(|e| value.ends_with(e));
        if !path_like || value.is_empty() {
            continue;
        }
        let path = scratch.join(value);
        let exists = if is_output {
            path.parent().is_none_or(|p| p.as_os_str().is_empty() || p.exists())
        } else if value.contains(['*', '?', '[']) {
            glob::glob(path.to_str().unwrap()).is_ok_and(|mut g| g.next().is_some())
        } else {
            path.exists()
        };
        if !exists {
            return Some(format!("needs {value}"));
        }
    }
    None
}

/// Runs `command` with bash in `dir`, killing it after `limit`.
fn run_bounded(command: &str, dir: &Path, path_env: &str, limit: Duration) -> std::process::Output {
    let mut child = Command::new("bash")
        .args(["-o", "pipefail", "-c", command])
        .current_dir(dir)
        .env("PATH", path_env)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    // Drain stdout on a thread so that a large output cannot fill the pipe and stall the child.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut buf).map(|_| buf)
    });
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{command}: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut o = child.wait_with_output().unwrap();
    o.stdout = reader.join().unwrap().unwrap();
    o
}

#[test]
fn readme_commands_run_as_written_from_a_clone() {
    let scratch = tempfile::tempdir().unwrap();
    for entry in ["sample-logs", "rules", "deploy", "benches", "tests"] {
        std::os::unix::fs::symlink(repo().join(entry), scratch.path().join(entry)).unwrap();
    }
    let bin_dir = scratch.path().join(".bin");
    std::fs::create_dir(&bin_dir).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_reconwatch"), bin_dir.join("reconwatch")).unwrap();
    let path_env = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());

    let mut ran = Vec::new();
    let mut skipped = Vec::new();
    let mut failures = Vec::new();
    for readme in READMES {
        let text = std::fs::read_to_string(repo().join(readme)).unwrap();
        for command in commands(&text) {
            if let Some(why) = needs_more_than_the_repository(&command, scratch.path()) {
                skipped.push(format!("{readme}: {command}\n      ({why})"));
                continue;
            }
            let runnable = command.replace("cargo run --release -- ", "reconwatch ");
            let o = run_bounded(&runnable, scratch.path(), &path_env, Duration::from_secs(300));
            let err = String::from_utf8_lossy(&o.stderr);
            let scan = first_segment_words(&runnable).get(1).is_some_and(|w| w == "scan");
            let status_ok = o.status.code() == Some(0) || (scan && o.status.code() == Some(1));
            if !status_ok || err.contains("error:") || err.contains("panicked") {
                failures.push(format!(
                    "{readme}: {command}\n  exit {:?}\n  stderr: {err}",
                    o.status.code()
                ));
            } else {
                ran.push(format!("{readme}: {command}"));
            }
        }
    }
    println!("ran {} commands:\n  {}", ran.len(), ran.join("\n  "));
    println!("not run ({}):\n  {}", skipped.len(), skipped.join("\n  "));
    assert!(failures.is_empty(), "README commands failed:\n{}", failures.join("\n"));
    // The set-up command and the sample-world examples must be among those run.
    let setup = ran
        .iter()
        .any(|c| c.contains("cargo run --release -- scan --watchlist parliament=sample-logs/.world/people.csv"));
    assert!(setup, "the set-up command was not run");
    assert!(ran.len() >= 15, "only {} README commands ran", ran.len());
}

#[test]
fn commands_are_extracted_with_continuations_and_without_comments() {
    let md = "text\n```sh\n# a comment\nreconwatch scan a \\\n  b   # trailing\n\necho '# not a comment'\n```\n```json\n{}\n```\n";
    assert_eq!(commands(md), ["reconwatch scan a  b", "echo '# not a comment'"]);
    assert_eq!(
        first_segment_words("reconwatch parse --x 'a b' x.log | jq '.a | .b'"),
        ["reconwatch", "parse", "--x", "a b", "x.log"]
    );
    let dir = tempfile::tempdir().unwrap();
    let why = needs_more_than_the_repository("reconwatch scan --watchlist a=members.csv x", dir.path());
    assert_eq!(why.as_deref(), Some("needs members.csv"));
    assert_eq!(
        needs_more_than_the_repository("reconwatch scan -o out.jsonl", dir.path()),
        None
    );
    assert!(needs_more_than_the_repository("reconwatch parse '/archive/m-2021*'", dir.path()).is_some());
    assert!(needs_more_than_the_repository("cargo test --release", dir.path()).is_some());
}
