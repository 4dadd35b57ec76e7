//! Loading what the rules know about the organisation — the configuration file, watchlists,
//! placeholder values, intel, news outlets, own domains — into Sigma placeholders and the
//! enrichment stage ([`Enricher`]). Every command that runs rules starts here.
//!
//! Any unreadable or malformed file stops the run before anything is scanned, with the file,
//! line and reason: a watchlist silently half-loaded would protect only half the people.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::cli::{ContextArgs, RuleArgs};
use crate::config::Config;
use crate::enrich::intel::{DomainMatch, IndicatorType, IntelSetBuilder};
use crate::enrich::sender::SenderCatalog;
use crate::enrich::stage::Enricher;
use crate::enrich::watchlist::Watchlists;
use crate::metrics::Metrics;
use crate::rules::load::read_placeholder_file;
use crate::rules::sigma::Placeholders;

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

/// The loaded context of a run.
pub struct Context {
    pub config: Config,
    pub placeholders: Placeholders,
    pub enricher: Enricher,
}

impl Context {
    /// Loads the configuration file (if any) and every file the options and the file name.
    /// `examples` adds the shipped example watchlist and intel (for `rules test`).
    pub fn load(args: &ContextArgs, metrics: Option<&Metrics>, examples: bool) -> anyhow::Result<Context> {
        let config = match &args.config {
            Some(p) => Config::load(p).context("--config")?,
            None => Config::default(),
        };
        let mut placeholders = Placeholders::new();
        for (name, file) in named_files(config.placeholder_files(), "--placeholder", &args.placeholders)? {
            let values = read_placeholder_file(&file).with_context(|| format!("placeholder {name}"))?;
            placeholders
                .entry(name.trim_matches('%').to_owned())
                .or_default()
                .extend(values);
        }

        let mut lists = Watchlists::new();
        let mut duplicate_rows: BTreeMap<&str, usize> = BTreeMap::new();
        for (name, file) in named_files(config.watchlist_files(), "--watchlist", &args.watchlists)? {
            let summary = lists.load(name, &file).with_context(|| format!("watchlist {name}"))?;
            let rows = &summary.duplicate_rows;
            // A few lines say where to look; the count says how many.
            for d in rows.iter().take(5) {
                eprintln!(
                    "reconwatch: warning: watchlist {name}: {}:{}: address {} is already on line {} (kept as one person, with the first row's name and group)",
                    file.display(),
                    d.line,
                    d.email,
                    d.first_line
                );
            }
            if rows.len() > 5 {
                eprintln!(
                    "reconwatch: warning: watchlist {name}: {}: {} more rows repeat an earlier address",
                    file.display(),
                    rows.len() - 5
                );
            }
            *duplicate_rows.entry(name).or_default() += rows.len();
        }
        if let Some(m) = metrics {
            for (name, n) in &duplicate_rows {
                m.watchlist_duplicate_rows.with_label_values(&[name]).set(*n as i64);
            }
        }
        if examples {
            let (origin, text) = EXAMPLE_WATCHLIST;
            lists.add_text("example", origin, text)?;
        }
        for list in lists.lists() {
            if let Some(values) = lists.values(&list.name) {
                placeholders.entry(list.name.clone()).or_default().extend(values);
            }
            if let Some(m) = metrics {
                for (kind, n) in [
                    ("address", list.addresses),
                    ("domain", list.domains),
                    ("username", list.usernames),
                    ("ip", list.ips),
                ] {
                    m.watchlist_entries.with_label_values(&[&list.name, kind]).set(n as i64);
                }
            }
        }

        let mut intel = match &config.intel {
            Some(ic) => ic.builder()?,
            None => IntelSetBuilder::new(DomainMatch::Parents),
        };
        for p in &args.intel {
            add_intel_file(&mut intel, p).with_context(|| format!("--intel {}", p.display()))?;
        }
        if examples {
            let (origin, text) = EXAMPLE_INTEL;
            intel.add_zeek(origin, text.as_bytes())?;
        }
        let intel = intel.build();
        if let Some(m) = metrics {
            for t in IndicatorType::ALL {
                m.intel_indicators
                    .with_label_values(&[t.name()])
                    .set(intel.count(t) as i64);
            }
        }

        let mut catalog = SenderCatalog::builtin();
        for p in config.outlets.iter().chain(&args.outlets) {
            catalog
                .add_outlets_file(p)
                .with_context(|| format!("outlets {}", p.display()))?;
        }
        let own: Vec<String> = config
            .own_domains
            .iter()
            .chain(&args.own_domains)
            .map(|d| d.trim().to_ascii_lowercase())
            .collect();
        if let Some(bad) = own.iter().find(|d| d.is_empty() || d.contains(['@', '/', ' '])) {
            bail!("own domain `{bad}`: expected a domain name such as parliament.example");
        }
        let enricher = Enricher::new(lists, intel, catalog, &own);
        Ok(Context {
            config,
            placeholders,
            enricher,
        })
    }

    /// The rule paths and whether to add the shipped rules: `--rules` replaces the file's
    /// `rules`; the shipped rules come too when asked for or when no rule path is given.
    pub fn rule_paths(&self, args: &RuleArgs) -> (Vec<PathBuf>, bool) {
        let paths = if args.rules.is_empty() {
            self.config.rules.clone()
        } else {
            args.rules.clone()
        };
        let embedded = paths.is_empty() || args.default_rules || self.config.default_rules == Some(true);
        (paths, embedded)
    }
}

/// The configuration file's `(name, file)` pairs, then those of a repeatable `NAME=FILE` option.
fn named_files<'a>(
    from_config: impl Iterator<Item = (&'a str, &'a Path)>,
    option: &str,
    specs: &'a [String],
) -> anyhow::Result<Vec<(&'a str, PathBuf)>> {
    let mut out: Vec<(&str, PathBuf)> = from_config.map(|(n, p)| (n, p.to_path_buf())).collect();
    for spec in specs {
        match spec.split_once('=') {
            Some((name, file)) if !name.is_empty() && !file.is_empty() => out.push((name, PathBuf::from(file))),
            _ => bail!("{option} {spec}: expected NAME=FILE"),
        }
    }
    Ok(out)
}

/// Adds a Zeek Intel file (recognised by its `#fields` or `#separator` header) or a plain list
/// (source: the file name without extension).
fn add_intel_file(b: &mut IntelSetBuilder, path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read(path)?;
    let zeek = text
        .split(|&c| c == b'\n')
        .take(16)
        .any(|l| l.starts_with(b"#fields") || l.starts_with(b"#separator"));
    let name = path.display().to_string();
    if zeek {
        b.add_zeek(&name, &text)?;
    } else {
        let stem = path.file_stem().map(|s| s.to_string_lossy());
        b.add_plain(&name, &text, stem.as_deref().unwrap_or("list"), None)?;
    }
    Ok(())
}
