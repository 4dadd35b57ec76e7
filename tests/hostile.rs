//! End-to-end tests of careless and hostile invocations (issue "Step 5 · Nothing lost, nothing
//! clobbered"): an output that is also an input, pipes, FIFOs and `/dev/stdin` as inputs (read
//! once), a bad path among good ones, a closed pipe, a full disk (`/dev/full`), a FIFO or a
//! directory where a file would be replaced, two runs writing one file. Everything runs the
//! real binary on real files, pipes and FIFOs.

mod common;
use common::*;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The sample world's Squid log (3,758 lines).
fn access_log() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs/web/access.log")
}

fn access_lines() -> usize {
    std::fs::read(access_log())
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// A copy of the sample Squid log in `dir`.
fn copy_of_access_log(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::copy(access_log(), &p).unwrap();
    p
}

/// The number after `key ` in a scan summary (`lines 3758`).
fn summary_number(stderr: &str, key: &str) -> u64 {
    let at = stderr
        .find(&format!("  {key} "))
        .unwrap_or_else(|| panic!("no `{key}` in the summary:\n{stderr}"));
    let rest = &stderr[at + key.len() + 3..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().unwrap()
}

/// Waits for a child, failing the test (and killing it) if it has not ended in a minute.
fn wait_bounded(mut child: Child, what: &str) -> Output {
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{what}: still running after a minute (blocked?)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A child process killed when the test ends early (a failed assertion), so that a run left
/// waiting on a FIFO does not hold the test harness's output pipe open forever.
struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    fn take(mut self) -> Child {
        self.0.take().unwrap()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(made.success(), "mkfifo {path:?}");
}

/// Writes `bytes` into the FIFO at `path` from another thread (opening it blocks until the
/// reader opens its end).
fn feed_fifo(path: &Path, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let mut f = File::options().write(true).open(&path).unwrap();
        // The reader may stop early (a test that fails); a broken pipe then is not this
        // thread's failure.
        let _ = f.write_all(&bytes);
    })
}

#[test]
fn an_output_that_is_an_input_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let log = copy_of_access_log(dir.path(), "a.log");
    let original = std::fs::read(&log).unwrap();
    std::fs::hard_link(&log, dir.path().join("hard.log")).unwrap();
    std::os::unix::fs::symlink(&log, dir.path().join("soft.log")).unwrap();
    let l = log.to_str().unwrap();
    for output in ["a.log", "hard.log", "soft.log"] {
        let out = dir.path().join(output);
        let o = run(&["scan", "-o", out.to_str().unwrap(), l]);
        assert_eq!(o.status.code(), Some(2), "{output}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains(&format!("--output {}", out.display())) && err.contains(&format!("also the input {l}")),
            "{output}: the error names both: {err}"
        );
        assert_eq!(std::fs::read(&log).unwrap(), original, "{output}: the log is untouched");
    }
    let o = run(&["parse", "--stats", "--metrics-textfile", l, l]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--metrics-textfile"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&log).unwrap(), original);

    // Standard output appended onto an input would read its own alerts back.
    for command in ["scan", "parse"] {
        let appended = File::options().append(true).open(&log).unwrap();
        let o = bin().args([command, l]).stdout(appended).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{command}");
        assert!(
            stderr(&o).contains(&format!("standard output is redirected to {l}")),
            "{command}: {}",
            stderr(&o)
        );
        assert_eq!(std::fs::read(&log).unwrap(), original, "{command}");
    }
}

/// Regression: with correlation rules loaded (the default), a pipe or FIFO input was opened
/// twice (once to peek at its first event time): `cat access.log | scan /dev/stdin` lost 428
/// lines, `scan <(head -200 access.log)` read none, and a FIFO hung.
#[test]
fn pipes_fifos_and_dev_stdin_are_read_once() {
    let total = access_lines() as u64;
    let log = access_log();
    let expected = run(&["scan", log.to_str().unwrap()]);
    let alerts = stdout(&expected).lines().count();
    assert!(alerts > 0, "the sample log raises alerts: {}", stderr(&expected));

    let mut child = bin()
        .args(["scan", "/dev/stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let bytes = std::fs::read(&log).unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&bytes).unwrap());
    let o = wait_bounded(child, "scan /dev/stdin");
    writer.join().unwrap();
    let err = stderr(&o);
    assert_eq!(summary_number(&err, "lines"), total, "{err}");
    assert!(err.contains("inputs 1 (0 failed)"), "{err}");
    assert_eq!(stdout(&o).lines().count(), alerts, "the same alerts as from the file");

    let script = format!(
        "exec {} scan <(head -200 {})",
        env!("CARGO_BIN_EXE_reconwatch"),
        log.display()
    );
    let o = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert_eq!(summary_number(&stderr(&o), "lines"), 200, "{}", stderr(&o));

    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("access.fifo");
    mkfifo(&fifo);
    let writer = feed_fifo(&fifo, std::fs::read(&log).unwrap());
    let child = KillOnDrop(Some(
        bin()
            .args(["scan", fifo.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let o = wait_bounded(child.take(), "scan FIFO");
    writer.join().unwrap();
    assert_eq!(summary_number(&stderr(&o), "lines"), total, "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), alerts);
}

/// Regression: one missing path stopped the whole run before any input was read.
#[test]
fn a_bad_path_among_good_ones_is_reported_and_the_rest_processed() {
    let total = access_lines();
    let log = access_log();
    let o = run(&["parse", "--stats", log.to_str().unwrap(), "/nonexistent.log"]);
    assert_eq!(o.status.code(), Some(2));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("lines {total} ")),
        "the good input is parsed: {out}"
    );
    assert!(
        stderr(&o).contains("reconwatch: error: /nonexistent.log: No such file or directory"),
        "{}",
        stderr(&o)
    );

    let dir = tempfile::tempdir().unwrap();
    let pattern = format!("{}/none-*.log", dir.path().display());
    let o = run(&["scan", "/nonexistent.log", &pattern, log.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "an incomplete scan exits 2 even with alerts");
    let err = stderr(&o);
    assert!(err.contains("/nonexistent.log: No such file or directory"), "{err}");
    assert!(
        err.contains(&format!("{pattern}: the pattern matches no file")),
        "{err}"
    );
    assert!(err.contains("inputs 3 (2 failed)"), "{err}");
    assert_eq!(summary_number(&err, "lines"), total as u64);
    assert!(stdout(&o).lines().count() > 0, "alerts from the good input");
}

/// Regression: an unreadable subdirectory stopped a directory walk (and its message repeated
/// the OS error twice). Run as an unprivileged user: root reads any directory.
#[test]
fn an_unreadable_subdirectory_is_reported_once_and_the_walk_goes_on() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("logs");
    std::fs::create_dir_all(root.join("b-locked")).unwrap();
    copy_of_access_log(&root, "a.log");
    copy_of_access_log(&root, "c.log");
    copy_of_access_log(&root.join("b-locked"), "hidden.log");
    for p in [dir.path(), &root] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(root.join("b-locked"), std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut command = if running_as_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_reconwatch"));
        c
    } else {
        bin()
    };
    let o = command
        .args(["parse", "--stats", "--json", root.to_str().unwrap()])
        .output()
        .unwrap();
    std::fs::set_permissions(root.join("b-locked"), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    let locked = format!("{}/b-locked: Permission denied", root.display());
    assert!(err.contains(&locked), "{err}");
    assert_eq!(err.matches("Permission denied").count(), 1, "said once: {err}");
    let stats: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let paths: Vec<&str> = stats.iter().map(|s| s["path"].as_str().unwrap()).collect();
    let a = format!("{}/a.log", root.display());
    let b = format!("{}/b-locked", root.display());
    let c = format!("{}/c.log", root.display());
    assert_eq!(paths, [a.as_str(), b.as_str(), c.as_str()], "in walk order");
    assert_eq!(stats[2]["lines"], access_lines(), "the walk went on past it");
    assert_eq!(stats[1]["failure"]["kind"], "unreadable");
}

/// True when the tests run as root (CI containers do).
fn running_as_root() -> bool {
    let o = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim() == "0"
}

/// Regression: `rules test | head -1` and `rules check > /dev/full` panicked (exit 101).
#[test]
fn closed_pipes_end_quietly_and_write_errors_name_the_output() {
    for args in [&["rules", "test"][..], &["rules", "check"], &["formats"]] {
        let (code, err) = run_until_output_closed(args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: nothing said about a closed pipe: {err}");
    }
    let log = access_log();
    let l = log.to_str().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (&["rules", "test"], "writing to standard output"),
        (&["rules", "check", "--summary"], "writing to standard output"),
        (&["formats"], "writing to standard output"),
        (&["parse", l], "writing to standard output"),
        (&["parse", "--stats", l], "writing to standard output"),
        (&["scan", l], "writing alerts to standard output"),
    ];
    for (args, said) in cases {
        let full = File::options().write(true).open("/dev/full").unwrap();
        let o = bin().args(args).stdout(full).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains(said) && err.contains("No space left on device") && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
    let o = run(&["scan", "-o", "/dev/full", l]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("writing alerts to /dev/full: No space left on device"),
        "{}",
        stderr(&o)
    );
}

/// Regression: `--metrics-textfile PATH` replaced whatever was at PATH (a FIFO, a device node)
/// with a regular file.
#[test]
fn the_metrics_textfile_replaces_only_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("metrics.prom");
    mkfifo(&fifo);
    let log = access_log();
    for command in ["parse", "scan"] {
        let o = run(&[
            command,
            "--metrics-textfile",
            fifo.to_str().unwrap(),
            log.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{command}");
        assert!(
            stderr(&o).contains("is a FIFO, not a regular file: refusing to replace it"),
            "{command}: {}",
            stderr(&o)
        );
        assert!(stdout(&o).is_empty(), "{command}: refused before the run");
        use std::os::unix::fs::FileTypeExt;
        assert!(fifo.symlink_metadata().unwrap().file_type().is_fifo(), "{command}");
    }
    let o = run(&[
        "parse",
        "--stats",
        "--metrics-textfile",
        dir.path().to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is a directory"), "{}", stderr(&o));

    let file = dir.path().join("reconwatch.prom");
    std::fs::write(&file, "old\n").unwrap();
    let o = run(&[
        "parse",
        "--stats",
        "--metrics-textfile",
        file.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("reconwatch_input_lines_total"), "{text}");
}

/// Regression: two runs writing the same `-o` file interleaved into invalid JSON. The second is
/// refused while the first holds the file.
#[test]
fn a_second_run_writing_the_same_output_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("alerts.jsonl");
    let fifo = dir.path().join("slow.fifo");
    mkfifo(&fifo);
    // The first run holds its output while it waits for its (FIFO) input.
    let first = KillOnDrop(Some(
        bin()
            .args(["scan", "-o", out.to_str().unwrap(), fifo.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    // The FIFO's write end opens (without blocking) only once the first run has opened the
    // read end, which it does after locking its output.
    let deadline = Instant::now() + Duration::from_secs(60);
    let write_end = loop {
        use std::os::unix::fs::OpenOptionsExt;
        const O_NONBLOCK: i32 = 0o4000; // Linux
        if File::options().write(true).custom_flags(O_NONBLOCK).open(&fifo).is_ok() {
            // The reader is there: a blocking handle opens at once.
            break File::options().write(true).open(&fifo).unwrap();
        }
        assert!(Instant::now() < deadline, "the first run never opened its input");
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = access_log();
    let second = run(&["scan", "-o", out.to_str().unwrap(), log.to_str().unwrap()]);
    assert_eq!(second.status.code(), Some(2));
    assert!(stderr(&second).contains("is writing this file"), "{}", stderr(&second));

    let bytes = std::fs::read(&log).unwrap();
    let writer = std::thread::spawn(move || {
        let mut w = write_end;
        w.write_all(&bytes).unwrap();
    });
    let first = wait_bounded(first.take(), "first scan");
    writer.join().unwrap();
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.is_empty());
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("every line is one alert");
    }
}

/// Regression: a compressed file cut before its first full line was reported as "no parser
/// recognises this input; first line: \"\"".
#[test]
fn a_compressed_file_cut_before_its_first_line_is_reported_as_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&std::fs::read(access_log()).unwrap()).unwrap();
    let gz = e.finish().unwrap();
    let cut = write(dir.path(), "access.log.3.gz", &gz[..40]);
    let o = run(&["parse", "--stats", "--json", cut.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let s: serde_json::Value = serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(s["failure"]["kind"], "read_error", "{s}");
    let message = s["failure"]["message"].as_str().unwrap();
    assert!(
        message.contains("too few to recognise the format") && !message.contains("no parser"),
        "{message}"
    );
}

/// Regression: `gen --out DIR` silently overwrote the logs in DIR.
#[test]
fn gen_refuses_a_directory_that_is_not_empty_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let precious = write(dir.path(), "web/access.log", "my real log\n");
    let o = run(&["gen", "--size", "50k", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is not empty"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "my real log\n");
    let o = run(&["gen", "--size", "50k", "--force", "--out", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(std::fs::read_to_string(&precious).unwrap(), "my real log\n");
    let fresh = dir.path().join("new");
    let o = run(&["gen", "--size", "50k", "--out", fresh.to_str().unwrap()]);
    assert!(o.status.success(), "a new directory needs no --force: {}", stderr(&o));
}

/// A watchlist given as a pipe, `/dev/stdin` or a FIFO is read once and loaded whole, as a file
/// is: the same number of addresses.
#[test]
fn a_watchlist_from_a_pipe_or_fifo_is_loaded_like_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = access_log();
    let csv =
        "email,name,group\na@parliament.example,A,MPs\nb@parliament.example,B,MPs\nc@parliament.example,C,staff\n";
    let loaded = |o: &Output| {
        assert_eq!(o.status.code().map(|c| c < 2), Some(true), "{}", stderr(o));
        assert!(stderr(o).contains("watchlists mps (3 addresses"), "{}", stderr(o));
    };
    let mut child = bin()
        .args([
            "scan",
            "--watchlist",
            "mps=/dev/stdin",
            "-o",
            "/dev/null",
            log.to_str().unwrap(),
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(csv.as_bytes()).unwrap();
    loaded(&wait_bounded(child, "scan with the watchlist on stdin"));
    let fifo = dir.path().join("people.fifo");
    mkfifo(&fifo);
    let feeder = feed_fifo(&fifo, csv.as_bytes().to_vec());
    let o = run(&[
        "scan",
        "--watchlist",
        &format!("mps={}", fifo.display()),
        "-o",
        "/dev/null",
        log.to_str().unwrap(),
    ]);
    feeder.join().unwrap();
    loaded(&o);
}

#[test]
fn watchlist_csv_problems_are_explained_and_duplicates_only_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let log = access_log();
    let no_email = write(dir.path(), "people.csv", "name,group\nAlice,MPs\n");
    let o = run(&[
        "scan",
        "--watchlist",
        &format!("mps={}", no_email.display()),
        log.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("people.csv:1: the CSV header has no `email` column (columns: name, group)"),
        "{}",
        stderr(&o)
    );
    let twice = write(
        dir.path(),
        "twice.csv",
        "email,name\na@parliament.example,A\nb@parliament.example,B\nA@parliament.example,A\n",
    );
    let metrics = dir.path().join("m.prom");
    let o = run(&[
        "scan",
        "--watchlist",
        &format!("mps={}", twice.display()),
        "--metrics-textfile",
        metrics.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "the scan runs: {}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: watchlist mps: ")
            && stderr(&o).contains("twice.csv:4: address A@parliament.example is already on line 2"),
        "{}",
        stderr(&o)
    );
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        text.contains("reconwatch_watchlist_duplicate_rows{list=\"mps\"} 1"),
        "{text}"
    );
    assert!(stderr(&o).contains("mps (2 addresses"), "{}", stderr(&o));
}

#[test]
fn skipped_rules_are_counted_in_one_line_and_listed_with_verbose() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    write(
        &rules,
        "proxy.yml",
        "title: a proxy rule\nid: 6c0c6a0e-0000-4000-8000-000000000001\nlogsource: {category: proxy}\n\
         detection: {sel: {c-uri|contains: 'never-there-xyz'}, condition: sel}\nlevel: low\n",
    );
    for i in 0..3 {
        write(
            &rules,
            &format!("win{i}.yml"),
            format!(
                "title: windows {i}\nid: 6c0c6a0e-0000-4000-8000-00000000001{i}\nlogsource: {{product: windows, category: process_creation}}\n\
                 detection: {{sel: {{Image|endswith: 'x{i}.exe'}}, condition: sel}}\nlevel: low\n"
            ),
        );
    }
    let log = access_log();
    let base = ["scan", "--rules", rules.to_str().unwrap(), log.to_str().unwrap()];
    let o = run(&base);
    let err = stderr(&o);
    assert_eq!(err.matches("skipped").count(), 1, "{err}");
    assert!(
        err.contains("skipped 3 rules for log sources reconwatch does not read"),
        "{err}"
    );
    let o = run(&[&base[..], &["-q"]].concat());
    assert!(stderr(&o).is_empty(), "-q: {}", stderr(&o));
    let o = run(&[&base[..], &["-v"]].concat());
    assert_eq!(
        stderr(&o).matches("reconwatch: skipped rule: ").count(),
        3,
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("loading rules and context took"),
        "load time apart: {}",
        stderr(&o)
    );
}

#[test]
fn rules_test_summary_prints_failures_and_totals_only() {
    let full = run(&["rules", "test"]);
    assert!(full.status.success(), "{}", stdout(&full));
    let passing = stdout(&full).lines().filter(|l| l.starts_with("ok ")).count();
    assert!(passing > 10);
    let o = run(&["rules", "test", "--summary"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with(&format!("{passing} rules passed")), "{out}");
}

/// A FIFO named by `-o` is written as it is (a reader at the other end gets every alert): it
/// is neither locked nor emptied like a file.
#[test]
fn a_fifo_as_the_output_gets_every_alert() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("alerts.fifo");
    mkfifo(&fifo);
    let path = fifo.clone();
    let reader = std::thread::spawn(move || std::fs::read_to_string(path).unwrap());
    let log = access_log();
    let o = run(&["scan", "-q", "-o", fifo.to_str().unwrap(), log.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let through_fifo = reader.join().unwrap();
    let expected = stdout(&run(&["scan", "-q", log.to_str().unwrap()]));
    assert!(!expected.is_empty());
    assert_eq!(through_fifo, expected);
}
