//! `reconwatch report`: reads alerts, writes the campaign exposure report ([`crate::report`]).
//!
//! Inputs are files (compressed ones too) and `-`; one that cannot be opened or read is named
//! with the reason and the others are still reported (exit status 2). Skipped lines are named
//! on stderr. The report goes to standard output or, with `-o`, to a file replaced atomically
//! and created with mode 0600, since it names people.

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use super::EXIT_ERROR;
use super::output::InputFiles;
use crate::cli::ReportArgs;
use crate::enrich::watchlist::Watchlists;
use crate::report::{self, Read, html, text};
use crate::source::Input;

/// The report's format: the option, else the output file's extension, else HTML.
fn format_of(args: &ReportArgs) -> &str {
    if let Some(f) = &args.format {
        return f;
    }
    match args
        .output
        .as_deref()
        .and_then(Path::extension)
        .and_then(|e| e.to_str())
    {
        Some("md" | "markdown") => "md",
        Some("json") => "json",
        Some("csv") => "csv",
        _ => "html",
    }
}

/// Loads `[NAME=]FILE` watchlists.
fn watchlists(specs: &[String]) -> anyhow::Result<Option<Watchlists>> {
    if specs.is_empty() {
        return Ok(None);
    }
    let mut w = Watchlists::new();
    for spec in specs {
        // `NAME=FILE` when the part before `=` is a plain name (not a path holding a `=`).
        let (name, file) = match spec.split_once('=') {
            Some((n, f)) if !n.is_empty() && !n.contains('/') => (n, f),
            _ => ("watchlist", spec.as_str()),
        };
        w.load(name, Path::new(file))
            .with_context(|| format!("--watchlist {spec}"))?;
    }
    Ok(Some(w))
}

/// The file a replacement renames onto: the path, or the file a symbolic link there names.
fn rename_target(path: &Path) -> PathBuf {
    match path.symlink_metadata() {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        _ => path.to_path_buf(),
    }
}

pub fn run(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let format = format_of(args);
    let watchlists = watchlists(&args.watchlists)?;
    let inputs: Vec<Input> = if args.paths.is_empty() {
        vec![Input::stdin()]
    } else {
        args.paths
            .iter()
            .map(|p| {
                if p == "-" {
                    Input::stdin()
                } else {
                    Input::file(PathBuf::from(p))
                }
            })
            .collect()
    };
    if inputs.iter().filter(|i| i.path.is_none()).count() > 1 {
        bail!("`-` (standard input) given more than once: it can be read once only");
    }
    let files = InputFiles::of(&inputs);
    match &args.output {
        Some(o) => files.refuse_textfile("--output", o)?,
        None => files.refuse_stdout()?,
    }

    let mut read = Read::default();
    let mut failed = false;
    for input in &inputs {
        match input.open() {
            Ok(opened) => read.add(&input.name, BufReader::with_capacity(256 * 1024, opened.reader)),
            Err(e) => read.unreadable(&input.name, e.to_string()),
        }
        if let Some(error) = read.inputs.last().and_then(|i| i.error.as_deref()) {
            eprintln!("reconwatch: error: {}: {error}", input.name);
            failed = true;
        }
    }
    for s in &read.skipped {
        eprintln!("reconwatch: warning: {}: skipped: {}", s.at, s.reason);
    }
    let unnamed = read.skipped_total.saturating_sub(read.skipped.len() as u64);
    if unnamed > 0 {
        eprintln!("reconwatch: warning: ... and {unnamed} more skipped line(s)");
    }
    if read.alerts.is_empty() {
        eprintln!("reconwatch: warning: no alerts read; the report says so");
    }

    let r = report::build(&read, watchlists.as_ref());
    let bytes = match format {
        "md" => text::markdown(&r).into_bytes(),
        "csv" => text::notify_csv(&r).into_bytes(),
        "json" => {
            let mut v = serde_json::to_vec_pretty(&r).context("writing the JSON report")?;
            v.push(b'\n');
            v
        }
        _ => html::render(&r).into_bytes(),
    };
    let place = match &args.output {
        Some(path) => {
            crate::source::checkpoint::write_atomically_with_mode(&rename_target(path), &bytes, 0o600)
                .with_context(|| format!("--output {}", path.display()))?;
            path.display().to_string()
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)
                .and_then(|()| out.flush())
                .context("writing to standard output")?;
            "standard output".to_owned()
        }
    };
    eprintln!(
        "reconwatch report: {} alert(s) read, {} line(s) skipped; {} campaign(s), {} watch-listed people reached, {} device(s) fetched a tracker; {format} written to {place}",
        read.alerts.len(),
        read.skipped_total,
        r.summary.campaigns,
        r.summary.people_reached,
        r.summary.people_fetched
    );
    Ok(if failed {
        ExitCode::from(EXIT_ERROR)
    } else {
        ExitCode::SUCCESS
    })
}
