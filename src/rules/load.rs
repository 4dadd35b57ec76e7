//! Finding and reading rule files: paths (files, directories walked recursively for `*.yml` and
//! `*.yaml`, hidden entries skipped), the rules embedded in the binary, or text.
//!
//! Every document of every file is either a [`Rule`], a [`CorrelationRule`] (a document with a
//! `correlation` key) or a [`Problem`]: nothing is dropped silently. A rule whose `id` repeats an
//! earlier rule's, detection or correlation, is a problem too (alerts and metrics are keyed by
//! id), and so is one whose `name` repeats an earlier rule's (correlations refer to rules by name).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::sigma::{self, Placeholders, Rule, RuleMeta};
use super::yaml;
use crate::rules::correlation::{self, CorrelationRule};

/// The rules shipped in `rules/`, embedded at build time (path relative to the crate, text).
pub const EMBEDDED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/embedded_rules.rs"));

/// A rule (or file) that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    /// The rule's id, else its title, when the document got that far.
    pub rule: Option<String>,
    /// The construct at fault: a key, a modifier, the condition, the document.
    pub construct: String,
    pub reason: String,
    /// The rule is valid but its log source is not one reconwatch reads: skipped, not rejected.
    pub skipped: bool,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(r) = &self.rule {
            write!(f, ": rule {r}")?;
        }
        write!(f, ": {}: {}", self.construct, self.reason)
    }
}

impl Problem {
    /// A short, low-cardinality name of the reason, for counts and metrics.
    pub fn category(&self) -> String {
        if self.skipped {
            return "unsupported logsource".into();
        }
        // The construct's leading word (`|modifier`, `condition`, `title` ...), without values.
        let c = self.construct.rsplit(": ").next().unwrap_or(&self.construct);
        let c = c.split(['(', '`', ' ']).find(|s| !s.is_empty()).unwrap_or(c);
        let reason: String = self.reason.split([':', '`', '(']).next().unwrap_or("").trim().into();
        format!("{c}: {reason}")
    }
}

/// What a load produced.
#[derive(Debug, Default)]
pub struct Loaded {
    pub rules: Vec<Rule>,
    pub correlations: Vec<CorrelationRule>,
    pub problems: Vec<Problem>,
    /// Rule files read.
    pub files: usize,
    /// The file that defined each id and each name, detection and correlation rules alike.
    ids: HashMap<String, String>,
    names: HashMap<String, String>,
}

impl Loaded {
    /// Problems that reject a rule (not skipped log sources).
    pub fn rejected(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| !p.skipped)
    }

    /// Reads every rule in `text` (one or more YAML documents); `file` names it in reports.
    pub fn add_text(&mut self, file: &str, text: &str, placeholders: &Placeholders) {
        self.files += 1;
        let docs = match yaml::parse_documents(text) {
            Ok(d) => d,
            Err(reason) => {
                self.problems.push(Problem {
                    file: file.to_owned(),
                    rule: None,
                    construct: "YAML".into(),
                    reason,
                    skipped: false,
                });
                return;
            }
        };
        for doc in &docs {
            let name = doc
                .get("id")
                .or_else(|| doc.get("title"))
                .and_then(yaml::Yaml::scalar_text);
            let parsed = if doc.get("correlation").is_some() {
                correlation::parse_correlation(doc, file).and_then(|c| {
                    self.claim(&c.meta, file)?;
                    self.correlations.push(c);
                    Ok(())
                })
            } else {
                sigma::parse_rule(doc, file, placeholders).and_then(|r| {
                    self.claim(&r.meta, file)?;
                    self.rules.push(r);
                    Ok(())
                })
            };
            if let Err(r) = parsed {
                self.problems.push(Problem {
                    file: file.to_owned(),
                    rule: name,
                    construct: r.construct,
                    reason: r.reason,
                    skipped: r.unsupported_logsource,
                });
            }
        }
    }

    /// Records the rule's id and name as defined in `file`, unless an earlier rule has either.
    fn claim(&mut self, meta: &RuleMeta, file: &str) -> Result<(), sigma::Rejection> {
        if let Some(first) = self.ids.get(&meta.id) {
            return Err(sigma::Rejection::new(
                "id",
                format!("duplicate id, first defined in {first}"),
            ));
        }
        if let Some(first) = meta.name.as_ref().and_then(|n| self.names.get(n)) {
            return Err(sigma::Rejection::new(
                "name",
                format!("duplicate name, first defined in {first}"),
            ));
        }
        self.ids.insert(meta.id.clone(), file.to_owned());
        if let Some(n) = &meta.name {
            self.names.insert(n.clone(), file.to_owned());
        }
        Ok(())
    }

    /// Reads the rules at `path`: a file, or a directory walked recursively.
    pub fn add_path(&mut self, path: &Path, placeholders: &Placeholders) {
        let mut files = Vec::new();
        if let Err(e) = rule_files(path, &mut files) {
            self.problems.push(Problem {
                file: path.display().to_string(),
                rule: None,
                construct: "path".into(),
                reason: e.to_string(),
                skipped: false,
            });
        }
        for f in files {
            let name = f.display().to_string();
            match std::fs::read_to_string(&f) {
                Ok(text) => self.add_text(&name, &text, placeholders),
                Err(e) => self.problems.push(Problem {
                    file: name,
                    rule: None,
                    construct: "file".into(),
                    reason: e.to_string(),
                    skipped: false,
                }),
            }
        }
    }

    /// Reads the rules embedded in the binary.
    pub fn add_embedded(&mut self, placeholders: &Placeholders) {
        for (name, text) in EMBEDDED {
            self.add_text(name, text, placeholders);
        }
    }
}

/// The rule files under `path`, sorted (so load order, and alert order, never depend on the
/// directory listing).
fn rule_files(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_dir() {
        out.push(path.to_owned());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rule_files(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads placeholder values: one per line, blank lines and `#` comments ignored.
pub fn read_placeholder_file(path: &Path) -> std::io::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}
