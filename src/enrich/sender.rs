//! Sender analysis: does a mail's sender pose as a news outlet? It answers, for one mail's
//! From address and display name, envelope sender, Reply-To and subject, which outlet's own
//! domain the mail comes from (if any), which outlet it *claims* to come from, whether the
//! sender calls itself a journalist, whether the sending domain is a mass-mail service (ESP) or
//! free mail, whether the From domain is a lookalike of an outlet's or the operator's own
//! domain, and whether Reply-To and envelope point elsewhere. It is the pattern of APT31's 2021
//! campaign against parliamentarians: `"Sophie Lang | BBC News" <sophie.lang@bbc-worldnews.example>`.
//!
//! It only reports facts; it never decides that a mail is malicious (a newsletter through
//! Mailchimp has an envelope mismatch, and a real journalist may write from Gmail): rules
//! combine the facts. It must never panic on any input (headers come from hostile mail), never
//! resolve or fetch anything, and never half-load a list file.
//!
//! # Lists
//! Three lists are compiled in from `rules/lists/` and can be extended or replaced from files
//! of the same format ([`SenderCatalog`]): news outlets (`outlet,names,domains`), e-mail service
//! providers (`provider,domains`) and free-mail domains (one per line). Lines starting with `#`
//! are comments. A file is checked completely before anything is added; a bad, duplicate or
//! conflicting line is an error naming `file:line` and the reason. The operator's own domains
//! (a parliament's) are added with [`SenderCatalog::protect_domain`].
//!
//! # Semantics
//! - Domains are compared as *registered domains* (Public Suffix List, `psl` crate; an unknown
//!   TLD counts as a public suffix, as in [`super::url`]): `news-alerts.ft.com` is `ft.com`.
//! - A **claim** is an outlet named in the display name, else in the local part, else at the
//!   start of the subject, that is not the outlet whose own domain the From address is (an FT
//!   newsletter from `ft.com` names the FT and claims nothing). Names match case-insensitively
//!   (ASCII) on word boundaries, the leftmost and then the longest match winning ("The New York
//!   Times" over "Times"). In the local part, names are compared without spaces and
//!   punctuation at the start of a `.`/`-`/`_`/`+`-separated token (`bbcnews@`, `bbc.news@`,
//!   `reuters-desk@`); a name of five or more letters may also start a longer token
//!   (`reutersdesk@`). In the subject, only a name at the very start counts, after `Re:`/`Fwd:`
//!   prefixes, `[EXTERNAL]`-style tags and leading emoji or punctuation, and before the first `:`, `|`, dash, or `-` next
//!   to a space (`BBC News: …`, `☕ London Playbook: …`).
//! - A **lookalike** compares the registrable label (left of the public suffix) and the suffix
//!   of a domain with every protected domain (all outlets' domains and the protected ones);
//!   a domain that is itself an outlet's, ESP's, free-mail or protected domain never is one.
//!   Methods, in order of precedence: [`LookalikeMethod::Punycode`] (an `xn--` label decoded and
//!   compared by UTS #39 skeleton, or the decoded label's skeleton matching by any other
//!   method), [`LookalikeMethod::TldSwap`] (same label, other suffix),
//!   [`LookalikeMethod::Confusable`] (same skeleton, different text: `rnicrosoft`),
//!   [`LookalikeMethod::EditDistance`] (Damerau–Levenshtein ≤ 2, ≤ 1 for protected labels under
//!   six characters, never for labels under four) and [`LookalikeMethod::AddedWord`] (the
//!   protected label is a `-`-separated part of the label, or, when it has five or more
//!   characters, its prefix or suffix: `bbc-worldnews`, `theeconomist`).
//!
//! # Design
//! [`SenderCatalog`] is the plain data; [`SenderCatalog::build`] precomputes the runtime
//! [`SenderAnalyzer`] (`Send + Sync`, shared by scan threads): one hash map from registered
//! domain to what it is; Aho–Corasick automata for outlet names (as written, and compacted for
//! local parts) and journalist words; and an index of protected labels by label, by skeleton
//! hash and by length, each with a character-class bitmask and letter counts, so that the
//! Damerau–Levenshtein distance (which allocates) is only computed for the few labels of similar
//! length whose letters could be that close. ASCII labels take their skeleton from a table of
//! per-character skeletons instead of normalizing. Lookups lowercase into a stack buffer; the
//! only allocations per call are the returned registered domain of [`SenderAnalyzer::analyze`],
//! the rare distance computations and the decoding of non-ASCII (`xn--`) labels.

use std::collections::HashMap;
use std::hash::Hasher;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use std::sync::OnceLock;

use super::hash::{Mix, MixHasher};

#[cfg(test)]
mod tests;

/// The news outlets compiled in (`rules/lists/news-outlets.csv`).
pub const BUILTIN_OUTLETS: &str = include_str!("../../rules/lists/news-outlets.csv");
/// The e-mail service providers compiled in (`rules/lists/email-service-providers.csv`).
pub const BUILTIN_ESPS: &str = include_str!("../../rules/lists/email-service-providers.csv");
/// The free-mail domains compiled in (`rules/lists/freemail.txt`).
pub const BUILTIN_FREEMAIL: &str = include_str!("../../rules/lists/freemail.txt");

/// Longest host name handled (RFC 1035 allows 253 characters; a few more for a trailing dot).
const MAX_HOST: usize = 256;
/// Labels up to this many characters are indexed for edit distance (DNS labels have ≤ 63 bytes).
const MAX_LABEL_CHARS: usize = 64;
/// Character classes for the edit-distance prefilter: a–z, 0–9, `-`, anything else.
const CLASSES: usize = 38;

/// Why a list could not be loaded or a domain not protected.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    /// The file could not be read.
    #[error("{}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        error: std::io::Error,
    },
    /// A line of the file is bad; nothing of the file was loaded.
    #[error("{origin}:{line}: {reason}")]
    Line {
        /// The file (or the origin given to an `add_*_text` method).
        origin: String,
        /// 1-based line number.
        line: u64,
        /// What is wrong with the line.
        reason: LineError,
    },
    /// The domain given to [`SenderCatalog::protect_domain`] is unusable.
    #[error("cannot protect {value:?}: {why}")]
    Protect {
        /// The domain as given.
        value: String,
        /// The reason.
        why: &'static str,
    },
}

/// What is wrong with one line of a list file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The file has no header row.
    #[error("missing header row (expected {expected:?})")]
    MissingHeader {
        /// The header the format needs.
        expected: &'static str,
    },
    /// The header row is not the format's.
    #[error("header {found:?} is not {expected:?}")]
    BadHeader {
        /// The row as written.
        found: String,
        /// The header the format needs.
        expected: &'static str,
    },
    /// A row has a different number of fields than the header.
    #[error("wrong column count: expected {expected}, found {found}")]
    WrongColumnCount {
        /// Fields in the header.
        expected: usize,
        /// Fields in this row.
        found: usize,
    },
    /// The row has a `"`: the lists are plain comma-separated text without quoting.
    #[error("quotes are not supported (no commas inside a field)")]
    Quoted,
    /// A required field, or an entry of a `;`-separated list, is empty.
    #[error("empty {0}")]
    Empty(&'static str),
    /// Not a usable domain name.
    #[error("invalid domain {value:?}: {why}")]
    InvalidDomain {
        /// The text as written.
        value: String,
        /// The reason.
        why: &'static str,
    },
    /// A domain that is not a registered domain (`news.bbc.co.uk` instead of `bbc.co.uk`).
    #[error("{value:?} is not a registered domain (the registered domain is {registered:?})")]
    NotRegistered {
        /// The text as written.
        value: String,
        /// Its registered domain.
        registered: String,
    },
    /// The same outlet or provider twice in one file.
    #[error("duplicate {kind} {value:?}, first on line {first_line}")]
    DuplicateRow {
        /// `outlet`, `provider` or `domain`.
        kind: &'static str,
        /// The name as written.
        value: String,
        /// The line of the first row.
        first_line: u64,
    },
    /// A name or domain that already belongs to another outlet or provider (or twice to this).
    #[error("{kind} {value:?} already belongs to {owner:?}")]
    Taken {
        /// `name` or `domain`.
        kind: &'static str,
        /// The name or domain as written.
        value: String,
        /// The outlet or provider it belongs to.
        owner: String,
    },
    /// The line is not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
}

/// One outlet or provider of a catalog.
#[derive(Debug, Clone)]
struct Entry {
    name: Box<str>,
    /// Brand names (outlets only).
    names: Vec<Box<str>>,
    /// Registered domains, lowercase.
    domains: Vec<Box<str>>,
}

/// The lists a [`SenderAnalyzer`] is built from: news outlets, e-mail service providers,
/// free-mail domains and the operator's protected domains. Plain data; [`SenderCatalog::build`]
/// precomputes the lookups.
#[derive(Debug, Clone, Default)]
pub struct SenderCatalog {
    outlets: Vec<Entry>,
    esps: Vec<Entry>,
    freemail: Vec<Box<str>>,
    /// (registered domain, label) pairs from [`SenderCatalog::protect_domain`].
    /// (registered domain, owner label, whether an added word makes a lookalike of it).
    protected: Vec<(Box<str>, Box<str>, bool)>,
}

/// The two CSV formats: their header, what a row is called, and whether it has a names column.
#[derive(Clone, Copy)]
struct Format {
    header: &'static str,
    kind: &'static str,
    has_names: bool,
}

const OUTLETS: Format = Format {
    header: "outlet,names,domains",
    kind: "outlet",
    has_names: true,
};
const ESPS: Format = Format {
    header: "provider,domains",
    kind: "provider",
    has_names: false,
};

impl SenderCatalog {
    /// An empty catalog: no outlets, providers or free-mail domains (to load only one's own
    /// lists).
    pub fn empty() -> SenderCatalog {
        SenderCatalog::default()
    }

    /// The catalog of the three lists compiled in from `rules/lists/`.
    pub fn builtin() -> SenderCatalog {
        let mut c = SenderCatalog::default();
        // The compiled-in lists are checked by the tests; a bad one loads as empty rather than
        // panicking.
        let _ = c.add_outlets_text("rules/lists/news-outlets.csv", BUILTIN_OUTLETS);
        let _ = c.add_esps_text("rules/lists/email-service-providers.csv", BUILTIN_ESPS);
        let _ = c.add_freemail_text("rules/lists/freemail.txt", BUILTIN_FREEMAIL);
        c
    }

    /// Adds the outlets of a `outlet,names,domains` file; a row naming an outlet already in
    /// the catalog replaces it. Returns the number of rows. On error nothing is added.
    pub fn add_outlets_file(&mut self, path: &Path) -> Result<usize, SenderError> {
        let text = read_list(path)?;
        self.add_outlets_text(&path.display().to_string(), &text)
    }

    /// Adds the outlets of `text` (the format of [`SenderCatalog::add_outlets_file`]); `origin`
    /// names it in errors. Returns the number of rows. On error nothing is added.
    pub fn add_outlets_text(&mut self, origin: &str, text: &str) -> Result<usize, SenderError> {
        merge(origin, text, OUTLETS, &mut self.outlets)
    }

    /// Adds the providers of a `provider,domains` file; a row naming a provider already in the
    /// catalog replaces it. Returns the number of rows. On error nothing is added.
    pub fn add_esps_file(&mut self, path: &Path) -> Result<usize, SenderError> {
        let text = read_list(path)?;
        self.add_esps_text(&path.display().to_string(), &text)
    }

    /// Adds the providers of `text` (the format of [`SenderCatalog::add_esps_file`]); `origin`
    /// names it in errors. Returns the number of rows. On error nothing is added.
    pub fn add_esps_text(&mut self, origin: &str, text: &str) -> Result<usize, SenderError> {
        merge(origin, text, ESPS, &mut self.esps)
    }

    /// Adds the free-mail domains of a file (one registered domain per line). Returns the
    /// number of domains. On error nothing is added.
    pub fn add_freemail_file(&mut self, path: &Path) -> Result<usize, SenderError> {
        let text = read_list(path)?;
        self.add_freemail_text(&path.display().to_string(), &text)
    }

    /// Adds the free-mail domains of `text` (the format of
    /// [`SenderCatalog::add_freemail_file`]); `origin` names it in errors. Returns the number
    /// of domains. On error nothing is added.
    pub fn add_freemail_text(&mut self, origin: &str, text: &str) -> Result<usize, SenderError> {
        let err = |line: u64, reason| SenderError::Line {
            origin: origin.to_owned(),
            line,
            reason,
        };
        let mut seen: HashMap<Box<str>, u64> = HashMap::new();
        for d in &self.freemail {
            seen.insert(d.clone(), 0);
        }
        let mut added = Vec::new();
        for (line, raw) in content_lines(text) {
            let d = registered_domain_entry(raw).map_err(|r| err(line, r))?;
            if let Some(&first_line) = seen.get(&d) {
                let reason = if first_line == 0 {
                    LineError::Taken {
                        kind: "domain",
                        value: raw.to_owned(),
                        owner: "free mail".to_owned(),
                    }
                } else {
                    LineError::DuplicateRow {
                        kind: "domain",
                        value: raw.to_owned(),
                        first_line,
                    }
                };
                return Err(err(line, reason));
            }
            seen.insert(d.clone(), line);
            added.push(d);
        }
        let n = added.len();
        self.freemail.extend(added);
        Ok(n)
    }

    /// The user's own domains (a parliament's, such as `parliament.uk`) to protect from
    /// lookalikes; `label` names the owner in [`Lookalike::owner`] (for example `own`). A
    /// subdomain protects its registered domain; an IDN is given in `xn--` form. Protecting a
    /// domain twice keeps the first label.
    pub fn protect_domain(&mut self, domain: &str, label: &str) -> Result<(), SenderError> {
        self.protect_with(domain, label, true)
    }

    /// As [`SenderCatalog::protect_domain`], for the organisation's own domains: every method
    /// but an added word makes a lookalike of them, since partners, suppliers and local news
    /// reuse the organisation's name all the time (`elmaria-chamber` of `elmaria.example`).
    pub fn protect_own_domain(&mut self, domain: &str, label: &str) -> Result<(), SenderError> {
        self.protect_with(domain, label, false)
    }

    fn protect_with(&mut self, domain: &str, label: &str, added_word: bool) -> Result<(), SenderError> {
        let err = |why| SenderError::Protect {
            value: domain.to_owned(),
            why,
        };
        let host = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        check_domain_syntax(&host).map_err(err)?;
        let Some(parts) = registered(&host) else {
            return Err(err("it has no registered domain (a public suffix or a single label)"));
        };
        if label.trim().is_empty() {
            return Err(err("the label is empty"));
        }
        if !self.protected.iter().any(|(d, _, _)| **d == *parts.domain) {
            self.protected
                .push((parts.domain.into(), label.trim().into(), added_word));
        }
        Ok(())
    }

    /// Number of outlets, providers and free-mail domains.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.outlets.len(), self.esps.len(), self.freemail.len())
    }

    /// Precomputes the lookups (automata, skeletons, indexes) into a [`SenderAnalyzer`].
    pub fn build(self) -> SenderAnalyzer {
        SenderAnalyzer::new(self)
    }
}

fn read_list(path: &Path) -> Result<String, SenderError> {
    let bytes = std::fs::read(path).map_err(|error| SenderError::Read {
        path: path.to_owned(),
        error,
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() as u64;
        SenderError::Line {
            origin: path.display().to_string(),
            line,
            reason: LineError::NotUtf8,
        }
    })
}

/// The lines that are neither blank nor `#` comments, trimmed, with 1-based numbers.
fn content_lines(text: &str) -> impl Iterator<Item = (u64, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// Parses a CSV list and merges it into `list`: rows naming an existing entry replace it, others
/// are appended. Returns the number of rows; on error `list` is unchanged.
fn merge(origin: &str, text: &str, format: Format, list: &mut Vec<Entry>) -> Result<usize, SenderError> {
    let err = |line: u64, reason| SenderError::Line {
        origin: origin.to_owned(),
        line,
        reason,
    };
    let columns = format.header.split(',').count();
    let mut lines = content_lines(text);
    match lines.next() {
        None => {
            return Err(err(
                1,
                LineError::MissingHeader {
                    expected: format.header,
                },
            ));
        }
        Some((line, h)) => {
            let normalized: Vec<String> = h.split(',').map(|f| f.trim().to_lowercase()).collect();
            if normalized.join(",") != format.header {
                let reason = LineError::BadHeader {
                    found: h.to_owned(),
                    expected: format.header,
                };
                return Err(err(line, reason));
            }
        }
    }
    let mut rows: Vec<(u64, Entry)> = Vec::new();
    let mut row_names: HashMap<String, u64> = HashMap::new();
    for (line, l) in lines {
        if l.contains('"') {
            return Err(err(line, LineError::Quoted));
        }
        let fields: Vec<&str> = l.split(',').map(str::trim).collect();
        if fields.len() != columns {
            let reason = LineError::WrongColumnCount {
                expected: columns,
                found: fields.len(),
            };
            return Err(err(line, reason));
        }
        let name = fields[0];
        if name.is_empty() {
            return Err(err(line, LineError::Empty(format.kind)));
        }
        if let Some(&first_line) = row_names.get(&name.to_lowercase()) {
            let reason = LineError::DuplicateRow {
                kind: format.kind,
                value: name.to_owned(),
                first_line,
            };
            return Err(err(line, reason));
        }
        row_names.insert(name.to_lowercase(), line);
        let names = if format.has_names {
            split_list(fields[1], "name").map_err(|r| err(line, r))?
        } else {
            Vec::new()
        };
        let domains = split_list(fields[columns - 1], "domain")
            .map_err(|r| err(line, r))?
            .iter()
            .map(|d| registered_domain_entry(d))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|r| err(line, r))?;
        let entry = Entry {
            name: name.into(),
            names,
            domains,
        };
        rows.push((line, entry));
    }
    let replaced = |e: &Entry| row_names.contains_key(&e.name.to_lowercase());
    let mut merged: Vec<Entry> = list.iter().filter(|e| !replaced(e)).cloned().collect();
    // Names and domains must each belong to one entry: check the kept entries, then each row.
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut domains: HashMap<Box<str>, usize> = HashMap::new();
    for (i, e) in merged.iter().enumerate() {
        for n in &e.names {
            names.insert(n.to_lowercase(), i);
        }
        for d in &e.domains {
            domains.insert(d.clone(), i);
        }
    }
    let n = rows.len();
    for (line, e) in rows {
        let i = merged.len();
        let taken = |kind, value: &str, owner: usize, merged: &[Entry], e: &Entry| {
            let owner = merged.get(owner).map_or(&e.name, |o| &o.name).to_string();
            err(
                line,
                LineError::Taken {
                    kind,
                    value: value.to_owned(),
                    owner,
                },
            )
        };
        for name in &e.names {
            if let Some(&o) = names.get(&name.to_lowercase()) {
                return Err(taken("name", name, o, &merged, &e));
            }
            names.insert(name.to_lowercase(), i);
        }
        for d in &e.domains {
            if let Some(&o) = domains.get(d) {
                return Err(taken("domain", d, o, &merged, &e));
            }
            domains.insert(d.clone(), i);
        }
        merged.push(e);
    }
    *list = merged;
    Ok(n)
}

fn split_list(field: &str, what: &'static str) -> Result<Vec<Box<str>>, LineError> {
    let items: Vec<Box<str>> = field.split(';').map(|s| s.trim().into()).collect();
    if items.iter().any(|s| s.is_empty()) {
        return Err(LineError::Empty(what));
    }
    Ok(items)
}

/// A list entry that must be a registered domain, returned lowercase.
fn registered_domain_entry(raw: &str) -> Result<Box<str>, LineError> {
    let d = raw.trim().to_ascii_lowercase();
    check_domain_syntax(&d).map_err(|why| LineError::InvalidDomain {
        value: raw.to_owned(),
        why,
    })?;
    match registered(&d) {
        Some(p) if p.domain == d => Ok(d.into()),
        Some(p) => Err(LineError::NotRegistered {
            value: raw.to_owned(),
            registered: p.domain.to_owned(),
        }),
        None => Err(LineError::InvalidDomain {
            value: raw.to_owned(),
            why: "a public suffix or a single label, not a registered domain",
        }),
    }
}

/// ASCII host-name syntax (IDNs as `xn--`): letters, digits, `-` and dots between labels.
fn check_domain_syntax(d: &str) -> Result<(), &'static str> {
    if d.is_empty() || d.len() > 253 {
        return Err("empty or longer than 253 characters");
    }
    if !d
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return Err("only letters, digits, '-' and '.' (IDNs in xn-- form)");
    }
    if d.split('.').any(|l| l.is_empty() || l.len() > 63) {
        return Err("empty label or label longer than 63 characters");
    }
    if d.split('.').any(|l| l.starts_with('-') || l.ends_with('-')) {
        return Err("a label starts or ends with '-'");
    }
    Ok(())
}

/// A registered domain split into its registrable label and public suffix, all slices of the
/// host they came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parts<'a> {
    /// `bbc-worldnews.co.uk`.
    domain: &'a str,
    /// `bbc-worldnews`.
    label: &'a str,
    /// `co.uk`.
    suffix: &'a str,
}

/// The registered domain of a lowercase host; `None` for IP addresses, single labels and
/// public suffixes.
fn registered(host: &str) -> Option<Parts<'_>> {
    if host.contains(':') || host.parse::<IpAddr>().is_ok() {
        return None;
    }
    let d = psl::domain(host.as_bytes())?;
    let at = host.len().checked_sub(d.as_bytes().len())?;
    let domain = host.get(at..)?;
    let suffix_len = d.suffix().as_bytes().len();
    let label_len = domain.len().checked_sub(suffix_len + 1)?;
    if label_len == 0 || domain.as_bytes().get(label_len) != Some(&b'.') {
        return None;
    }
    Some(Parts {
        domain,
        label: domain.get(..label_len)?,
        suffix: domain.get(label_len + 1..)?,
    })
}

/// `s` with ASCII upper case lowered, borrowed when it has none, else copied into `buf`.
/// `None` when a copy is needed and does not fit (no host name is that long).
fn lower<'a>(s: &'a str, buf: &'a mut [u8; MAX_HOST]) -> Option<&'a str> {
    if !s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Some(s);
    }
    let out = buf.get_mut(..s.len())?;
    out.copy_from_slice(s.as_bytes());
    out.make_ascii_lowercase();
    std::str::from_utf8(out).ok()
}

/// An address as found in headers, without a display name and angle brackets:
/// `Jane <jane@x.example>` -> `jane@x.example`.
fn bare_address(s: &str) -> &str {
    let s = s.rsplit_once('<').map_or(s, |(_, a)| a);
    s.split('>').next().unwrap_or(s).trim()
}

/// The host of an address or domain as found in headers: `<a@b.example.>` -> `b.example`.
fn host_part(s: &str) -> Option<&str> {
    let s = bare_address(s);
    let host = s.rsplit_once('@').map_or(s, |(_, h)| h);
    let host = host.trim().trim_end_matches('.');
    (!host.is_empty()).then_some(host)
}

/// (local part, host) of an address; `None` without an `@`.
fn split_address(s: &str) -> Option<(&str, &str)> {
    let (local, host) = bare_address(s).rsplit_once('@')?;
    let local = local.trim().trim_matches('"');
    let host = host.trim().trim_end_matches('.');
    (!host.is_empty()).then_some((local, host))
}

/// Where the sender named an outlet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimVia {
    /// In the From display name (`"Sophie Lang | BBC News"`).
    DisplayName,
    /// In the From local part (`bbcnews@`).
    LocalPart,
    /// At the start of the subject (`BBC News: …`).
    Subject,
}

impl ClaimVia {
    /// The name used in event fields: `display_name`, `local_part`, `subject`.
    pub fn name(self) -> &'static str {
        match self {
            ClaimVia::DisplayName => "display_name",
            ClaimVia::LocalPart => "local_part",
            ClaimVia::Subject => "subject",
        }
    }
}

/// An outlet a mail claims to come from, though it does not come from the outlet's domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim<'s> {
    /// The outlet's name (first column of the outlets list).
    pub outlet: &'s str,
    /// Where it was named.
    pub via: ClaimVia,
}

/// How a domain imitates a protected one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LookalikeMethod {
    /// An internationalized (`xn--`) label whose decoded text looks like the protected label.
    Punycode,
    /// Different text with the same UTS #39 skeleton (`rnicrosoft` for `microsoft`).
    Confusable,
    /// A Damerau–Levenshtein distance of 1 or 2 (`politlco` for `politico`).
    EditDistance,
    /// The protected label plus words (`bbc-worldnews`, `theeconomist`).
    AddedWord,
    /// The protected label under another suffix (`reuters.example`, `bbc.net`).
    TldSwap,
    /// The protected domain, or its distinctive label, as labels below another registered
    /// domain (`bbc.co.uk.world-briefing.example`, `reuters.global-wire.example`).
    Subdomain,
}

impl LookalikeMethod {
    /// The name used in event fields: `punycode`, `confusable`, `edit_distance`, `added_word`,
    /// `tld_swap`.
    pub fn name(self) -> &'static str {
        match self {
            LookalikeMethod::Punycode => "punycode",
            LookalikeMethod::Confusable => "confusable",
            LookalikeMethod::EditDistance => "edit_distance",
            LookalikeMethod::AddedWord => "added_word",
            LookalikeMethod::TldSwap => "tld_swap",
            LookalikeMethod::Subdomain => "subdomain",
        }
    }
}

/// A domain that imitates a protected domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lookalike<'s> {
    /// The protected registered domain imitated (`bbc.co.uk`).
    pub imitates: &'s str,
    /// Its owner: the outlet's name, or the label given to [`SenderCatalog::protect_domain`].
    pub owner: &'s str,
    /// How.
    pub method: LookalikeMethod,
}

/// The headers of one mail that [`SenderAnalyzer::analyze`] looks at. Addresses may keep
/// their angle brackets.
#[derive(Debug, Clone, Copy, Default)]
pub struct SenderInput<'a> {
    /// The header From address (or the envelope sender when there is no header).
    pub from: Option<&'a str>,
    /// The From display name, already unquoted.
    pub from_name: Option<&'a str>,
    /// The envelope sender (Return-Path).
    pub envelope: Option<&'a str>,
    /// The Reply-To address.
    pub reply_to: Option<&'a str>,
    /// The subject.
    pub subject: Option<&'a str>,
}

/// What [`SenderAnalyzer::analyze`] found about one mail's sender.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SenderAnalysis<'s> {
    /// The registered domain of `from` (Public Suffix List), lowercase.
    pub domain: Option<String>,
    /// The outlet whose own domain that is.
    pub outlet: Option<&'s str>,
    /// The sending domain (from, else envelope) is an e-mail service provider's.
    pub esp: bool,
    /// The sending domain (from, else envelope) is a free-mail provider's.
    pub freemail: bool,
    /// The first outlet named — display name, then local part, then subject — that is not the
    /// outlet whose domain the mail comes from.
    pub claim: Option<Claim<'s>>,
    /// The display name or local part says journalist, reporter, correspondent, editor,
    /// newsroom, press or news desk.
    pub journalist: bool,
    /// The from domain imitates a protected domain.
    pub lookalike: Option<Lookalike<'s>>,
    /// The Reply-To registered domain differs from the From one (both present).
    pub reply_to_mismatch: bool,
    /// The envelope registered domain differs from the From one (both present; normal for
    /// mail sent through an ESP).
    pub envelope_mismatch: bool,
    /// The from domain is on none of the catalog's lists, has a news word in its name
    /// (`westminster-briefing`, `globalaffairsdispatch`), and the mail wears a persona: a
    /// person's name in the display name ([`person_name`]: `Mark Sheldon | The Briefing`), a
    /// journalist's title, or a press pretext in the subject ([`press_pretext`]). Whether the
    /// domain is known elsewhere (well-known sites, the organisation's) is the caller's to add.
    pub invented_outlet: bool,
}

/// What a registered domain is known to be.
#[derive(Debug, Clone, Copy, Default)]
struct Known {
    /// Index of the outlet whose own domain it is.
    outlet: Option<u32>,
    esp: bool,
    freemail: bool,
}

/// Outlet labels that are ordinary English words: another TLD or an added word makes no
/// lookalike of them (`mirror.net`, `ubuntu-mirror`, `standard-chartered`); only punycode,
/// confusables and edit distance do.
const COMMON_WORDS: &[&str] = &[
    "atlantic",
    "chronicle",
    "daily",
    "express",
    "globe",
    "guardian",
    "herald",
    "hill",
    "independent",
    "journal",
    "local",
    "metro",
    "mirror",
    "nation",
    "national",
    "news",
    "observer",
    "post",
    "record",
    "review",
    "spectator",
    "standard",
    "star",
    "sun",
    "telegraph",
    "times",
    "today",
    "tribune",
    "week",
    "world",
];

fn is_common_word(label: &str) -> bool {
    COMMON_WORDS.contains(&label)
}

/// One protected domain, indexed for lookalike tests.
#[derive(Debug)]
struct Protected {
    domain: Box<str>,
    /// Byte length of the registrable label (`domain[..label_len]`).
    label_len: usize,
    /// Index into `owners`.
    owner: u32,
    /// Whether the label with a word added is a lookalike of it.
    added_word: bool,
    skeleton: Box<str>,
    chars: usize,
    mask: u64,
    counts: [u8; CLASSES],
}

impl Protected {
    fn label(&self) -> &str {
        self.domain.get(..self.label_len).unwrap_or("")
    }
    fn suffix(&self) -> &str {
        self.domain.get(self.label_len + 1..).unwrap_or("")
    }
}

/// An automaton and, for each pattern, the outlet it names.
#[derive(Debug)]
struct Names {
    ac: Option<AhoCorasick>,
    outlet: Vec<u32>,
}

/// Journalist words in display names; `s` plurals also match.
const ROLE_WORDS: &[&str] = &[
    "journalist",
    "journaliste",
    "journalistin",
    "reporter",
    "correspondent",
    "korrespondent",
    "corresponsal",
    "editor",
    "editorial",
    "redakteur",
    "redaktion",
    "rédaction",
    "newsroom",
    "press",
    "presse",
    "news desk",
    "newsdesk",
    "giornalista",
    "periodista",
];

/// Journalist words at the start of a local-part token (`press.office@`, `newsdesk@`).
const ROLE_LOCAL: &[&str] = &[
    "journalist",
    "reporter",
    "correspondent",
    "editor",
    "redaktion",
    "newsroom",
    "press",
    "newsdesk",
];

/// Reply and forward prefixes stripped from subjects (English, German, French, Nordic, ...).
const REPLY_PREFIXES: &[&str] = &["re", "fwd", "fw", "aw", "wg", "tr", "sv", "vs", "rv", "réf"];

/// Looks up senders and domains; built by [`SenderCatalog::build`]. `Send + Sync`.
#[derive(Debug)]
pub struct SenderAnalyzer {
    /// Outlet names, then protect labels: what [`Lookalike::owner`] and claims borrow.
    owners: Vec<Box<str>>,
    known: HashMap<Box<str>, Known, Mix>,
    names: Names,
    compact: Names,
    roles: Option<AhoCorasick>,
    roles_local: Option<AhoCorasick>,
    protected: Vec<Protected>,
    by_label: HashMap<Box<str>, Vec<u32>, Mix>,
    /// Bit `n` set: some protected label has `n` bytes (skips impossible prefix lookups).
    label_lengths: u128,
    by_skeleton: HashMap<u64, Vec<u32>, Mix>,
    /// Protected indexes by label length in characters (edit-distance candidates).
    by_chars: Vec<Vec<u32>>,
}

fn automaton<I, P>(patterns: I) -> Option<AhoCorasick>
where
    I: IntoIterator<Item = P>,
    P: AsRef<[u8]>,
{
    // Standard semantics for overlapping search: the caller picks the leftmost-longest match
    // that also sits on word boundaries (a leftmost-longest automaton would hide "BBC" behind
    // a longer "BBC News" that fails the boundary test in "BBC Newsletter").
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .build(patterns)
        .ok()
}

/// Lowercase letters and digits only: `BBC News` -> `bbcnews`.
fn compact(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn class(c: char) -> usize {
    match c {
        'a'..='z' => c as usize - 'a' as usize,
        '0'..='9' => 26 + (c as usize - '0' as usize),
        '-' => 36,
        _ => 37,
    }
}

/// Character-class bitmask and counts of a label (edit-distance prefilter).
fn signature(label: &str) -> (u64, [u8; CLASSES]) {
    let mut mask = 0u64;
    let mut counts = [0u8; CLASSES];
    for c in label.chars() {
        let k = class(c);
        mask |= 1 << k;
        counts[k] = counts[k].saturating_add(1);
    }
    (mask, counts)
}

/// The UTS #39 skeleton of each ASCII character (`m` -> `rn`, `0` -> `O`). NFD leaves ASCII
/// alone, so an ASCII label's skeleton is the concatenation, found without normalizing.
fn ascii_skeletons() -> &'static [String] {
    static TABLE: OnceLock<Vec<String>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0u8..128)
            .map(|b| unicode_security::skeleton(char::from(b).encode_utf8(&mut [0; 4])).collect())
            .collect()
    })
}

fn ascii_skeleton(s: &str) -> impl Iterator<Item = char> + '_ {
    let table = ascii_skeletons();
    s.bytes()
        .flat_map(|b| table.get(usize::from(b)).map_or("", |k| k.as_str()).chars())
}

/// Hash of the UTS #39 skeleton of `s`, computed without collecting it.
fn skeleton_hash(s: &str) -> u64 {
    let mut h = MixHasher::default();
    if s.is_ascii() {
        ascii_skeleton(s).for_each(|c| h.write_u32(c as u32));
    } else {
        unicode_security::skeleton(s).for_each(|c| h.write_u32(c as u32));
    }
    h.finish()
}

/// Whether the skeleton of `s` is `skeleton`.
fn skeleton_is(s: &str, skeleton: &str) -> bool {
    if s.is_ascii() {
        ascii_skeleton(s).eq(skeleton.chars())
    } else {
        unicode_security::skeleton(s).eq(skeleton.chars())
    }
}

impl SenderAnalyzer {
    fn new(c: SenderCatalog) -> SenderAnalyzer {
        let mut owners: Vec<Box<str>> = c.outlets.iter().map(|o| o.name.clone()).collect();
        let mut known: HashMap<Box<str>, Known, Mix> = HashMap::default();
        for (i, o) in c.outlets.iter().enumerate() {
            for d in &o.domains {
                known.entry(d.clone()).or_default().outlet = Some(i as u32);
            }
        }
        for e in &c.esps {
            for d in &e.domains {
                known.entry(d.clone()).or_default().esp = true;
            }
        }
        for d in &c.freemail {
            known.entry(d.clone()).or_default().freemail = true;
        }

        let mut patterns = Vec::new();
        let mut outlet = Vec::new();
        let mut compact_patterns: Vec<String> = Vec::new();
        let mut compact_outlet = Vec::new();
        for (i, o) in c.outlets.iter().enumerate() {
            for n in &o.names {
                patterns.push(n.to_string());
                outlet.push(i as u32);
                let k = compact(n);
                if !k.is_empty() && !compact_patterns.contains(&k) {
                    compact_patterns.push(k);
                    compact_outlet.push(i as u32);
                }
            }
        }
        let names = Names {
            ac: automaton(&patterns),
            outlet,
        };
        let compact_names = Names {
            ac: automaton(&compact_patterns),
            outlet: compact_outlet,
        };

        let mut a = SenderAnalyzer {
            owners: Vec::new(),
            known,
            names,
            compact: compact_names,
            roles: automaton(ROLE_WORDS),
            roles_local: automaton(ROLE_LOCAL),
            protected: Vec::new(),
            by_label: HashMap::default(),
            label_lengths: 0,
            by_skeleton: HashMap::default(),
            by_chars: vec![Vec::new(); MAX_LABEL_CHARS + 1],
        };
        for (i, o) in c.outlets.iter().enumerate() {
            for d in &o.domains {
                a.protect(d, i as u32, true);
            }
        }
        for (d, label, added_word) in &c.protected {
            if a.known.get(d).is_some_and(|k| k.outlet.is_some()) {
                continue; // already protected as the outlet's
            }
            let owner = match owners.iter().position(|o| o == label) {
                Some(p) => p as u32,
                None => {
                    owners.push(label.clone());
                    owners.len() as u32 - 1
                }
            };
            a.protect(d, owner, *added_word);
        }
        a.owners = owners;
        a
    }

    fn protect(&mut self, domain: &str, owner: u32, added_word: bool) {
        let Some(p) = registered(domain) else { return };
        let idx = self.protected.len() as u32;
        let skeleton: String = unicode_security::skeleton(p.label).collect();
        let chars = p.label.chars().count();
        let (mask, counts) = signature(p.label);
        self.by_label.entry(p.label.into()).or_default().push(idx);
        if p.label.len() < 128 {
            self.label_lengths |= 1 << p.label.len();
        }
        self.by_skeleton.entry(skeleton_hash(p.label)).or_default().push(idx);
        if let Some(b) = self.by_chars.get_mut(chars) {
            b.push(idx);
        }
        self.known.entry(domain.into()).or_default();
        self.protected.push(Protected {
            domain: domain.into(),
            label_len: p.label.len(),
            owner,
            added_word,
            skeleton: skeleton.into(),
            chars,
            mask,
            counts,
        });
    }

    fn owner(&self, i: u32) -> &str {
        self.owners.get(i as usize).map_or("", |s| s)
    }

    fn hit(&self, idx: u32, method: LookalikeMethod) -> Option<Lookalike<'_>> {
        let p = self.protected.get(idx as usize)?;
        Some(Lookalike {
            imitates: &p.domain,
            owner: self.owner(p.owner),
            method,
        })
    }

    /// The outlet whose own domain `domain` (a host or address) is, by registered domain:
    /// `news-alerts.ft.com` -> `Financial Times`.
    pub fn outlet_of_domain(&self, domain: &str) -> Option<&str> {
        let mut buf = [0u8; MAX_HOST];
        let k = self.known_of(domain, &mut buf)?;
        k.outlet.map(|i| self.owner(i))
    }

    /// Whether `domain` (a host or address) belongs to an e-mail service provider.
    pub fn is_esp(&self, domain: &str) -> bool {
        let mut buf = [0u8; MAX_HOST];
        self.known_of(domain, &mut buf).is_some_and(|k| k.esp)
    }

    /// Whether `domain` (a host or address) belongs to a free-mail provider.
    pub fn is_freemail(&self, domain: &str) -> bool {
        let mut buf = [0u8; MAX_HOST];
        self.known_of(domain, &mut buf).is_some_and(|k| k.freemail)
    }

    fn known_of(&self, domain: &str, buf: &mut [u8; MAX_HOST]) -> Option<Known> {
        let host = lower(host_part(domain)?, buf)?;
        self.known.get(registered(host)?.domain).copied()
    }

    /// Whether `domain` (a host, a URL's host or an address) imitates a protected domain: an
    /// outlet's or one given to [`SenderCatalog::protect_domain`]. Known domains (outlets',
    /// providers', free mail, protected) never do.
    pub fn lookalike(&self, domain: &str) -> Option<Lookalike<'_>> {
        let mut buf = [0u8; MAX_HOST];
        let host = lower(host_part(domain)?, &mut buf)?;
        self.lookalike_of(registered(host)?)
    }

    /// Whether a host (or an address's domain) carries a protected domain as labels below
    /// another registered domain (`bbc.co.uk.world-briefing.example`), or a protected label of
    /// five or more characters that is no common word as one of them
    /// (`reuters.global-wire.example`). Known domains never do. The caller decides whether the
    /// registered domain is one where such names are ordinary (vanity subdomains of
    /// well-known services: `reuters.zoom.us`).
    pub fn subdomain_lookalike(&self, domain: &str) -> Option<Lookalike<'_>> {
        let mut buf = [0u8; MAX_HOST];
        let host = lower(host_part(domain)?, &mut buf)?;
        let p = registered(host)?;
        if self.known.contains_key(p.domain) {
            return None;
        }
        let below = host.strip_suffix(p.domain)?.strip_suffix('.')?;
        self.protected_in_labels(below)
    }

    /// [`SenderAnalyzer::subdomain_lookalike`] on the labels below a registered domain that is
    /// known to be none of the catalog's, already lower-case (`bbc.co.uk` of
    /// `bbc.co.uk.world-briefing.example`).
    pub fn protected_in_labels(&self, below: &str) -> Option<Lookalike<'_>> {
        let mut at = 0;
        for label in below.split('.') {
            let rest = &below[at..];
            at += label.len() + 1;
            let Some(candidates) = self.by_label.get(label) else {
                continue;
            };
            for &idx in candidates {
                let q = &self.protected[idx as usize];
                let d: &str = &q.domain;
                let whole = rest == d || rest.strip_prefix(d).is_some_and(|r| r.starts_with('.'));
                let distinctive = q.chars >= 5 && !is_common_word(label);
                if whole || distinctive {
                    return self.hit(idx, LookalikeMethod::Subdomain);
                }
            }
        }
        None
    }

    fn lookalike_of(&self, p: Parts<'_>) -> Option<Lookalike<'_>> {
        if self.known.contains_key(p.domain) {
            return None;
        }
        if let Some(encoded) = p.label.strip_prefix("xn--") {
            let decoded = idna::punycode::decode_to_string(encoded)?.to_lowercase();
            return self.unicode_label(&decoded, p.suffix, LookalikeMethod::Punycode);
        }
        if !p.label.is_ascii() {
            let decoded = p.label.to_lowercase();
            return self.unicode_label(&decoded, p.suffix, LookalikeMethod::Confusable);
        }
        let (idx, method) = self.match_label(p.label, p.suffix)?;
        self.hit(idx, method)
    }

    /// A decoded internationalized label: compared as it is, then as its skeleton (so that
    /// `bbс-news` with a Cyrillic `с` is `bbc-news`, an added word); any hit is `method`.
    fn unicode_label(&self, label: &str, suffix: &str, method: LookalikeMethod) -> Option<Lookalike<'_>> {
        let hit = self.match_label(label, suffix).or_else(|| {
            let skeleton: String = unicode_security::skeleton(label).collect();
            self.match_label(&skeleton, suffix)
        });
        hit.and_then(|(idx, _)| self.hit(idx, method))
    }

    /// The first protected label `label` imitates, by method precedence.
    fn match_label(&self, label: &str, suffix: &str) -> Option<(u32, LookalikeMethod)> {
        if let Some(&idx) = self.by_label.get(label).and_then(|v| {
            v.iter().find(|&&i| {
                let p = &self.protected[i as usize];
                // `cnn.de`, `bbc.in`, `mirror.net`: short and common-word labels exist
                // under many TLDs without imitating anyone.
                p.suffix() != suffix && p.chars >= 4 && !is_common_word(p.label())
            })
        }) {
            return Some((idx, LookalikeMethod::TldSwap));
        }
        if let Some(v) = self.by_skeleton.get(&skeleton_hash(label)) {
            let same = |i: &&u32| {
                let p = &self.protected[**i as usize];
                p.label() != label && skeleton_is(label, &p.skeleton)
            };
            if let Some(&idx) = v.iter().find(same) {
                return Some((idx, LookalikeMethod::Confusable));
            }
        }
        if let Some(idx) = self.edit_distance(label) {
            return Some((idx, LookalikeMethod::EditDistance));
        }
        self.added_word(label).map(|idx| (idx, LookalikeMethod::AddedWord))
    }

    /// The nearest protected label within the distance bound (lowest index on ties).
    fn edit_distance(&self, label: &str) -> Option<u32> {
        let chars = label.chars().count();
        if !(4..=MAX_LABEL_CHARS).contains(&chars) {
            return None;
        }
        let (mask, counts) = signature(label);
        let mut best: Option<(usize, u32)> = None;
        for len in chars.saturating_sub(2)..=(chars + 2).min(MAX_LABEL_CHARS) {
            let Some(bucket) = self.by_chars.get(len) else { continue };
            for &idx in bucket {
                let p = &self.protected[idx as usize];
                // Short labels are too easily a few edits from an ordinary word (`axiom` /
                // `axios`, `elpaso` / `elpais`, `spiel` / `spiegel`): none under six
                // characters, one up to eight, two from nine (`politlco` / `politico` is one).
                if p.chars < 6 {
                    continue;
                }
                let bound = if p.chars < 9 { 1 } else { 2 };
                if chars.abs_diff(p.chars) > bound
                    // An edit changes at most two classes present (a substitution), a
                    // transposition none.
                    || ((mask ^ p.mask).count_ones() as usize) > 2 * bound
                    || bag_distance(&counts, &p.counts) > bound
                {
                    continue;
                }
                #[cfg(test)]
                tests::DISTANCES.with(|n| n.set(n.get() + 1));
                let d = strsim::damerau_levenshtein(label, p.label());
                if (1..=bound).contains(&d) && best.is_none_or(|(bd, bi)| (d, idx) < (bd, bi)) {
                    best = Some((d, idx));
                }
            }
        }
        best.map(|(_, idx)| idx)
    }

    /// A protected label that is a `-`-separated part of `label`, or (five or more characters)
    /// its prefix or suffix; never a common English word (`ubuntu-mirror`,
    /// `standard-chartered`, `independent-review` imitate nobody).
    fn added_word(&self, label: &str) -> Option<u32> {
        let first = |part: &str| {
            self.by_label
                .get(part)
                .and_then(|v| v.iter().copied().find(|&i| self.protected[i as usize].added_word))
                .filter(|_| !is_common_word(part))
        };
        if label.contains('-')
            && let Some(idx) = label.split('-').find_map(first)
        {
            return Some(idx);
        }
        // Longest first, only lengths some protected label has; `get` skips positions inside
        // a multi-byte character.
        let present = |k: usize| k < 128 && self.label_lengths & (1 << k) != 0;
        for k in (5..label.len()).rev().filter(|&k| present(k)) {
            if let Some(idx) = label.get(..k).and_then(first) {
                return Some(idx);
            }
        }
        for k in (1..label.len().saturating_sub(4)).filter(|&k| present(label.len() - k)) {
            if let Some(idx) = label.get(k..).and_then(first) {
                return Some(idx);
            }
        }
        None
    }
}

impl SenderAnalyzer {
    /// Analyzes one mail's sender. Allocates only the returned registered domain (and, rarely,
    /// for a lookalike test: see the module's design notes).
    pub fn analyze(&self, input: &SenderInput<'_>) -> SenderAnalysis<'_> {
        let (mut from_buf, mut env_buf, mut reply_buf) = ([0u8; MAX_HOST], [0u8; MAX_HOST], [0u8; MAX_HOST]);
        let from = input.from.and_then(split_address);
        let from_parts = from.and_then(|(_, h)| lower(h, &mut from_buf)).and_then(registered);
        let env_parts = host_parts(input.envelope, &mut env_buf);
        let reply_parts = host_parts(input.reply_to, &mut reply_buf);
        let known = |p: Option<Parts<'_>>| p.and_then(|p| self.known.get(p.domain).copied());
        let from_known = known(from_parts);
        let own = from_known.and_then(|k| k.outlet);
        let sending = if from_parts.is_some() {
            from_known
        } else {
            known(env_parts)
        };
        let local = from.map(|(l, _)| l);
        let differs = |o: Option<Parts<'_>>| matches!((from_parts, o), (Some(f), Some(o)) if f.domain != o.domain);
        let journalist =
            input.from_name.is_some_and(|n| self.role_in_name(n)) || local.is_some_and(|l| self.role_in_local(l));
        let invented_outlet = from_parts.is_some_and(|p| {
            from_known.is_none()
                && news_brand(p.label)
                && (journalist || input.from_name.is_some_and(person_name) || input.subject.is_some_and(press_pretext))
        });
        SenderAnalysis {
            domain: from_parts.map(|p| p.domain.to_owned()),
            outlet: own.map(|i| self.owner(i)),
            esp: sending.is_some_and(|k| k.esp),
            freemail: sending.is_some_and(|k| k.freemail),
            claim: self.claim(input.from_name, local, input.subject, own),
            journalist,
            lookalike: from_parts.and_then(|p| self.lookalike_of(p)),
            reply_to_mismatch: differs(reply_parts),
            envelope_mismatch: differs(env_parts),
            invented_outlet,
        }
    }

    fn claim(
        &self,
        name: Option<&str>,
        local: Option<&str>,
        subject: Option<&str>,
        own: Option<u32>,
    ) -> Option<Claim<'_>> {
        let other = |o: u32| Some(o) != own;
        let (outlet, via) = if let Some(o) = name.and_then(|n| self.name_in(n, false, other)) {
            (o, ClaimVia::DisplayName)
        } else if let Some(o) = local.and_then(|l| self.compact_in(l, other)) {
            (o, ClaimVia::LocalPart)
        } else {
            let head = subject_head(subject?);
            (self.name_in(head, true, other)?, ClaimVia::Subject)
        };
        Some(Claim {
            outlet: self.owner(outlet),
            via,
        })
    }

    /// The leftmost, then longest, outlet name in `hay` on word boundaries whose outlet is
    /// accepted (at offset 0 only when `at_start`).
    fn name_in(&self, hay: &str, at_start: bool, accept: impl Fn(u32) -> bool) -> Option<u32> {
        let ac = self.names.ac.as_ref()?;
        let mut best: Option<(usize, usize, u32)> = None;
        for m in ac.find_overlapping_iter(hay) {
            let (s, e) = (m.start(), m.end());
            let Some(&o) = self.names.outlet.get(m.pattern().as_usize()) else {
                continue;
            };
            if (at_start && s != 0) || !accept(o) || !word_at(hay, s, e, false) {
                continue;
            }
            if best.is_none_or(|(bs, be, _)| s < bs || (s == bs && e > be)) {
                best = Some((s, e, o));
            }
        }
        best.map(|b| b.2)
    }

    /// Like [`SenderAnalyzer::name_in`] for a local part, with names compacted (`bbcnews`):
    /// a name starts a token, and ends it unless it has five or more characters.
    fn compact_in(&self, local: &str, accept: impl Fn(u32) -> bool) -> Option<u32> {
        let ac = self.compact.ac.as_ref()?;
        let b = local.as_bytes();
        let mut best: Option<(usize, usize, u32)> = None;
        for m in ac.find_overlapping_iter(local) {
            let (s, e) = (m.start(), m.end());
            let Some(&o) = self.compact.outlet.get(m.pattern().as_usize()) else {
                continue;
            };
            let starts = s == 0 || !b[s - 1].is_ascii_alphanumeric();
            let ends = e == b.len() || !b[e].is_ascii_alphanumeric() || e - s >= 5;
            if !starts || !ends || !accept(o) {
                continue;
            }
            if best.is_none_or(|(bs, be, _)| s < bs || (s == bs && e > be)) {
                best = Some((s, e, o));
            }
        }
        best.map(|b| b.2)
    }

    fn role_in_name(&self, name: &str) -> bool {
        self.roles.as_ref().is_some_and(|ac| {
            ac.find_overlapping_iter(name)
                .any(|m| word_at(name, m.start(), m.end(), true))
        })
    }

    fn role_in_local(&self, local: &str) -> bool {
        let b = local.as_bytes();
        self.roles_local.as_ref().is_some_and(|ac| {
            ac.find_overlapping_iter(local)
                .any(|m| m.start() == 0 || !b[m.start() - 1].is_ascii_alphanumeric())
        })
    }
}

/// The registered domain of an optional address or host, lowered into `buf` if need be.
fn host_parts<'a>(a: Option<&'a str>, buf: &'a mut [u8; MAX_HOST]) -> Option<Parts<'a>> {
    registered(lower(host_part(a?)?, buf)?)
}

/// Whether `hay[s..e]` is a whole word (`plural`: or a word plus `s`).
fn word_at(hay: &str, s: usize, e: usize, plural: bool) -> bool {
    let (Some(before), Some(after)) = (hay.get(..s), hay.get(e..)) else {
        return false;
    };
    let word_char = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    if word_char(before.chars().next_back()) {
        return false;
    }
    let mut rest = after.chars();
    match rest.next() {
        Some('s' | 'S') if plural => !word_char(rest.next()),
        c => !word_char(c),
    }
}

/// Words news brands are made of, distinctive enough to count anywhere in a domain's
/// registrable label (`globalaffairsdispatch`, `harbourgazette`).
const NEWS_WORDS: &[&str] = &[
    "news",
    "herald",
    "gazette",
    "tribune",
    "journal",
    "briefing",
    "dispatch",
    "chronicle",
    "observer",
    "digest",
    "bulletin",
    "monitor",
    "insider",
    "weekly",
    "affairs",
    "courier",
    "telegraph",
    "inquirer",
    "sentinel",
    "examiner",
    "correspondent",
    "politics",
    "magazine",
    "ledger",
    "insight",
    "broadcast",
    "editorial",
    "newswire",
    "spectator",
    "reporter",
];

/// News words that are also parts of ordinary names (`postbox`, `expressvpn`, `mediamarkt`):
/// they count only as a whole `-`-separated part of the label or at its end (`capital-post`,
/// `eveningpost`, `westminster-today`).
const NEWS_WORDS_AT_END: &[&str] = &[
    "post", "times", "daily", "press", "media", "wire", "report", "review", "world", "global", "brief", "today",
    "radio", "agenda", "current", "standard", "express", "mirror", "star", "tv",
];

/// Whether a registrable label is made like a news brand's ([`NEWS_WORDS`] anywhere,
/// [`NEWS_WORDS_AT_END`] as a part or at the end).
pub fn news_brand(label: &str) -> bool {
    NEWS_WORDS.iter().any(|w| label.contains(w))
        || NEWS_WORDS_AT_END
            .iter()
            .any(|w| label.ends_with(w) || label.split('-').any(|part| part == *w))
}

/// Whether a display name names a person: two or three capitalised words before any `|`, `,`,
/// ` - `, `–`, `—`, ` at `, ` from ` or `(` (`Mark Sheldon | The Westminster Briefing`,
/// `Laura Kingsley`), none of them an organisation's word (`Council`, `Team`, `The` ...) or a
/// news word (`Westminster Briefing` is a brand).
pub fn person_name(name: &str) -> bool {
    let name = name.trim().trim_matches('"');
    let cut = ["|", ",", " - ", "–", "—", " at ", " from ", "("]
        .iter()
        .filter_map(|sep| name.find(sep))
        .min()
        .unwrap_or(name.len());
    let words: Vec<&str> = name[..cut].split_whitespace().collect();
    (2..=3).contains(&words.len())
        && words.iter().all(|w| {
            let lower = w.to_lowercase();
            let mut c = w.chars();
            c.next().is_some_and(char::is_uppercase)
                && c.all(|c| c.is_alphabetic() || matches!(c, '\'' | '-' | '.'))
                && !ORG_WORDS.contains(&lower.as_str())
                && !news_brand(&lower)
        })
}

/// Words that make a capitalised name an organisation's, not a person's.
const ORG_WORDS: &[&str] = &[
    "council",
    "office",
    "team",
    "department",
    "committee",
    "society",
    "association",
    "institute",
    "foundation",
    "group",
    "services",
    "service",
    "support",
    "newsletter",
    "news",
    "club",
    "network",
    "centre",
    "center",
    "trust",
    "union",
    "party",
    "ministry",
    "agency",
    "board",
    "the",
    "and",
    "of",
];

/// Press pretexts in a subject (lower-case): how a journalist persona asks for a reply.
const PRETEXTS: &[&str] = &[
    "interview request",
    "request for an interview",
    "request for comment",
    "comment request",
    "for comment",
    "press inquiry",
    "press enquiry",
    "media inquiry",
    "media enquiry",
    "interview with",
    "your comment",
    "your views",
    "quote for",
];

/// Whether a subject carries a press pretext ([`PRETEXTS`], any case).
pub fn press_pretext(subject: &str) -> bool {
    let s = subject.to_lowercase();
    PRETEXTS.iter().any(|p| s.contains(p))
}

/// The part of a subject where an outlet's name counts: after reply/forward prefixes,
/// `[EXTERNAL]`-style tags and leading emoji or punctuation, and before the first `:`, `|`, en
/// or em dash, or `-` next to a space.
fn subject_head(subject: &str) -> &str {
    let mut s = subject;
    loop {
        s = s.trim_start_matches(|c: char| !c.is_alphanumeric() && c != '[');
        if let Some(tagged) = s.strip_prefix('[') {
            match tagged.split_once(']') {
                Some((_, rest)) => s = rest,
                None => s = tagged,
            }
            continue;
        }
        match strip_reply_prefix(s) {
            Some(rest) => s = rest,
            None => break,
        }
    }
    let bytes = s.as_bytes();
    let end = s
        .char_indices()
        .find(|&(i, c)| {
            matches!(c, ':' | '|' | '–' | '—')
                || (c == '-'
                    && (i > 0 && bytes[i - 1].is_ascii_whitespace()
                        || bytes.get(i + 1).is_some_and(u8::is_ascii_whitespace)))
        })
        .map_or(s.len(), |(i, _)| i);
    s[..end].trim_end()
}

/// `s` after a `Re:`-style prefix (any ASCII case, spaces before the colon allowed).
fn strip_reply_prefix(s: &str) -> Option<&str> {
    REPLY_PREFIXES.iter().find_map(|p| {
        let head = s.get(..p.len())?;
        if !head.eq_ignore_ascii_case(p) {
            return None;
        }
        s.get(p.len()..)?.trim_start().strip_prefix(':')
    })
}

fn bag_distance(a: &[u8; CLASSES], b: &[u8; CLASSES]) -> usize {
    let (mut more, mut fewer) = (0usize, 0usize);
    for (&x, &y) in a.iter().zip(b) {
        if x > y {
            more += usize::from(x - y);
        } else {
            fewer += usize::from(y - x);
        }
    }
    more.max(fewer)
}
