//! What the rules know about the organisation — watchlists, placeholder values, intel, news
//! outlets, own domains — loaded into Sigma placeholders and the enrichment stage
//! ([`Enricher`]) from a [`ContextSpec`]: plain data that the configuration file and the command
//! line both fill (nothing here knows about either).
//!
//! Any unreadable or malformed file stops the load with the file, line and reason: a watchlist
//! silently half-loaded would protect only half the people. What is worth a warning but not a
//! refusal (the same person twice in a CSV watchlist) comes back as [`ContextNotes`], for the
//! caller to show and count.

use std::path::{Path, PathBuf};

use crate::enrich::intel::{DomainMatch, IntelConfig, IntelError, IntelSetBuilder};
use crate::enrich::sender::{SenderCatalog, SenderError};
use crate::enrich::stage::Enricher;
use crate::enrich::watchlist::{DuplicateRow, ListEntry, WatchlistError, Watchlists};
use crate::rules::load::read_placeholder_file;
use crate::rules::sigma::{MAX_VARIANTS, Placeholders};

/// The fictional example watchlist `rules test` adds as the list `example` (the shipped rules'
/// test excerpts mail and browse as these people).
pub const EXAMPLE_WATCHLIST: (&str, &str) = (
    "rules/examples/watchlist.csv",
    include_str!("../../rules/examples/watchlist.csv"),
);
/// The example Zeek intel file `rules test` loads.
pub const EXAMPLE_INTEL: (&str, &str) = (
    "rules/examples/intel.dat",
    include_str!("../../rules/examples/intel.dat"),
);

/// Which files make up the context, in the order they are loaded (a watchlist's position in
/// `watchlists` is its order among the lists).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextSpec {
    /// `(list name, file)`.
    pub watchlists: Vec<(String, PathBuf)>,
    /// `(placeholder name, file)`: Sigma `expand` values, one per line.
    pub placeholders: Vec<(String, PathBuf)>,
    /// Intel files named by kind (Zeek, plain lists with a source and type).
    pub intel: Option<IntelConfig>,
    /// Intel files of either kind, recognised by content (a Zeek header, else a plain list
    /// whose source is the file name).
    pub intel_files: Vec<PathBuf>,
    /// More news outlets (CSV `outlet,names,domains`).
    pub outlets: Vec<PathBuf>,
    /// The organisation's own domains, protected from lookalikes.
    pub own_domains: Vec<String>,
    /// Add the shipped example watchlist (as `example`) and intel (`rules test`).
    pub examples: bool,
}

/// Why the context could not be loaded. Every variant names the file (and line) at fault.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("watchlist {name}: {source}")]
    Watchlist {
        name: String,
        #[source]
        source: WatchlistError,
    },
    #[error("placeholder {name}: {reason}")]
    Placeholder { name: String, reason: String },
    /// The intel error names the file and line.
    #[error("intel: {0}")]
    Intel(#[from] IntelError),
    /// The outlets error names the file and line.
    #[error("outlets: {0}")]
    Outlets(#[from] SenderError),
    #[error("own domain `{0}`: expected a domain name such as parliament.example")]
    OwnDomain(String),
}

/// Warnings from a load that went through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextNotes {
    /// Per watchlist file: the CSV rows that repeat an earlier row's address.
    pub duplicate_rows: Vec<(String, PathBuf, Vec<DuplicateRow>)>,
}

/// The loaded context of a run: read-only, shared by every thread.
pub struct Context {
    pub placeholders: Placeholders,
    pub enricher: Enricher,
}

impl Context {
    /// Loads every file `spec` names. See the module documentation for what stops a load.
    pub fn load(spec: &ContextSpec) -> Result<(Context, ContextNotes), ContextError> {
        let mut notes = ContextNotes::default();
        let mut placeholders = Placeholders::new();
        for (name, file) in &spec.placeholders {
            let values = read_placeholder_file(file).map_err(|e| ContextError::Placeholder {
                name: name.clone(),
                reason: format!("{}: {e}", file.display()),
            })?;
            placeholders
                .entry(name.trim_matches('%').to_owned())
                .or_default()
                .extend(values);
        }

        let mut lists = Watchlists::new();
        let watchlist_err = |name: &str| {
            let name = name.to_owned();
            move |source| ContextError::Watchlist { name, source }
        };
        for (name, file) in &spec.watchlists {
            let summary = lists.load(name, file).map_err(watchlist_err(name))?;
            if !summary.duplicate_rows.is_empty() {
                notes
                    .duplicate_rows
                    .push((name.clone(), file.clone(), summary.duplicate_rows));
            }
        }
        if spec.examples {
            let (origin, text) = EXAMPLE_WATCHLIST;
            lists
                .add_text("example", origin, text)
                .map_err(watchlist_err("example"))?;
        }
        for list in lists.lists() {
            if let Some(entries) = lists.entries(&list.name) {
                // A rule refuses a placeholder of more than MAX_VARIANTS values, so one more
                // than that refuses it alike, and a list of a million people does not become a
                // million strings that no rule can use.
                let mut values: Vec<String> = entries.take(MAX_VARIANTS + 1).map(ListEntry::value).collect();
                values.sort_unstable();
                placeholders.entry(list.name.clone()).or_default().extend(values);
            }
        }

        let mut intel = match &spec.intel {
            Some(ic) => ic.builder()?,
            None => IntelSetBuilder::new(DomainMatch::Parents),
        };
        for p in &spec.intel_files {
            add_intel_file(&mut intel, p)?;
        }
        if spec.examples {
            let (origin, text) = EXAMPLE_INTEL;
            intel.add_zeek(origin, text.as_bytes())?;
        }
        let intel = intel.build();

        let mut catalog = SenderCatalog::builtin();
        for p in &spec.outlets {
            catalog.add_outlets_file(p)?;
        }
        let own: Vec<String> = spec.own_domains.iter().map(|d| d.trim().to_ascii_lowercase()).collect();
        if let Some(bad) = own.iter().find(|d| d.is_empty() || d.contains(['@', '/', ' '])) {
            return Err(ContextError::OwnDomain(bad.clone()));
        }
        let enricher = Enricher::new(lists, intel, catalog, &own);
        Ok((Context { placeholders, enricher }, notes))
    }
}

/// Adds a Zeek Intel file (recognised by its `#fields` or `#separator` header) or a plain list
/// (source: the file name without extension).
fn add_intel_file(b: &mut IntelSetBuilder, path: &Path) -> Result<(), IntelError> {
    let name = path.display().to_string();
    let text = std::fs::read(path).map_err(|source| IntelError::Io {
        file: name.clone(),
        source,
    })?;
    let zeek = text
        .split(|&c| c == b'\n')
        .take(16)
        .any(|l| l.starts_with(b"#fields") || l.starts_with(b"#separator"));
    if zeek {
        b.add_zeek(&name, &text)?;
    } else {
        let stem = path.file_stem().map(|s| s.to_string_lossy());
        b.add_plain(&name, &text, stem.as_deref().unwrap_or("list"), None)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::load::Loaded;

    /// A watchlist is a placeholder's values: all of them up to the most a rule may expand to,
    /// and one more past that, which refuses the rule as the whole list would (a list of a
    /// million people is not turned into a million strings).
    #[test]
    fn watchlists_are_placeholders_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let list = |name: &str, n: usize| {
            let path = dir.path().join(format!("{name}.txt"));
            let text: String = (0..n).map(|i| format!("P{i}@x.example\n")).collect();
            std::fs::write(&path, text + "@Y.example\n").unwrap();
            (name.to_owned(), path)
        };
        let spec = ContextSpec {
            watchlists: vec![
                list("small", 2),
                list("limit", MAX_VARIANTS - 2),
                list("big", 2 * MAX_VARIANTS),
            ],
            ..ContextSpec::default()
        };
        let (context, _) = Context::load(&spec).unwrap();
        let values = |name: &str| context.placeholders.get(name).map(Vec::len);
        assert_eq!(
            context.placeholders.get("small").unwrap(),
            &["@y.example", "p0@x.example", "p1@x.example"]
        );
        // A domain entry expands to two values (the domain and its subdomains).
        assert_eq!(
            (values("limit"), values("big")),
            (Some(MAX_VARIANTS - 1), Some(MAX_VARIANTS + 1))
        );
        let rule = |id: &str| {
            format!(
                "title: {id}\nid: {id}\nlogsource: {{category: email}}\ndetection:\n  sel:\n    email.to.address|expand: '%{id}%'\n  condition: sel\n"
            )
        };
        let mut loaded = Loaded::default();
        for id in ["small", "limit", "big"] {
            loaded.add_text(&format!("{id}.yml"), &rule(id), &context.placeholders);
        }
        let ids: Vec<&str> = loaded.rules.iter().map(|r| r.meta.id.as_str()).collect();
        assert_eq!(ids, ["small", "limit"]);
        let refused: Vec<&str> = loaded.rejected().map(|p| p.reason.as_str()).collect();
        assert_eq!(refused, [format!("expands to more than {MAX_VARIANTS} values")]);
    }
}
