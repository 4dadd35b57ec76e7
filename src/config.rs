//! The configuration file (`--config reconwatch.yml`): which rules, watchlists, intel and lists a
//! run uses, so a deployment does not repeat a dozen options in every unit file. Command-line
//! options add to it (`--watchlist`, `--intel`, ...), and `--rules` on the command line replaces
//! its `rules`.
//!
//! Relative paths are relative to the file's directory. Unknown keys are errors (a misspelt key
//! would otherwise silently drop a watchlist). Example, as shipped in `deploy/reconwatch.yml`:
//!
//! ```yaml
//! rules: [/etc/reconwatch/rules]      # files or directories
//! default_rules: true                 # also the rules built into reconwatch
//! watchlists:                         # name -> file(s); rules test them as %name%
//!   parliamentarians: members.csv
//!   staff: [staff.csv, contractors.txt]
//! placeholders:                       # Sigma expand placeholders: name -> file(s)
//!   admin_hosts: admin-hosts.txt
//! intel:
//!   zeek: [/var/lib/intel/apt31.dat]
//!   lists: [{path: bad-domains.txt, source: ncsc, type: domain}]
//! outlets: [extra-outlets.csv]        # more news outlets (news-outlets.csv format)
//! timezone: Europe/London             # log times written without an offset
//! lateness: 5m                        # correlation: how late an event may come
//! max_groups: 100000                  # correlation: open groups per rule
//! own_domains: [parliament.uk]        # protected from lookalikes besides the watchlists' domains
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::daemon::config::{DaemonTuning, SinkConfig, SourceConfig, SuppressConfig};
use crate::enrich::intel::IntelConfig;

/// Why a configuration file could not be used. Both variants name the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    /// Bad YAML, an unknown key (the message names it and its line), a value of the wrong type.
    #[error("{}: {reason}", path.display())]
    Syntax { path: PathBuf, reason: String },
}

/// One file or several.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Files {
    One(PathBuf),
    Many(Vec<PathBuf>),
}

impl Files {
    fn iter(&self) -> impl Iterator<Item = &PathBuf> {
        match self {
            Files::One(p) => std::slice::from_ref(p).iter(),
            Files::Many(v) => v.iter(),
        }
    }
}

/// The parsed configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Rule files or directories.
    #[serde(default)]
    pub rules: Vec<PathBuf>,
    /// Also load the rules built into reconwatch (default: only when `rules` is empty).
    #[serde(default)]
    pub default_rules: Option<bool>,
    /// Watchlists by name.
    #[serde(default)]
    pub watchlists: BTreeMap<String, Files>,
    /// Sigma `expand` placeholder values by name: files with one value per line.
    #[serde(default)]
    pub placeholders: BTreeMap<String, Files>,
    /// Intel sets.
    #[serde(default)]
    pub intel: Option<IntelConfig>,
    /// Extra news-outlet lists.
    #[serde(default)]
    pub outlets: Vec<PathBuf>,
    /// Domains to protect from lookalikes besides those of the watch-listed addresses.
    #[serde(default)]
    pub own_domains: Vec<String>,
    /// Time zone of log times written without an offset (IANA name; default UTC).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Correlation: how far behind its source's newest event an event may be and still be
    /// correlated (`30s`, `5m`, `2h`, `1d`; default 5m).
    #[serde(default)]
    pub lateness: Option<String>,
    /// Correlation: open groups per correlation rule (default 100000).
    #[serde(default)]
    pub max_groups: Option<usize>,
    /// `reconwatch run`: where lines come from (see [`crate::daemon::config`]).
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// `reconwatch run`: where alerts go.
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
    /// `reconwatch run`: the address of `/metrics`, `/healthz`, `/readyz`.
    #[serde(default)]
    pub listen: Option<String>,
    /// `reconwatch run`: checkpoints, correlation state and sink spools.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// `reconwatch run`: repeats of an alert suppressed within a window.
    #[serde(default)]
    pub suppress: Option<SuppressConfig>,
    /// `reconwatch run`: intervals and bounds.
    #[serde(default)]
    pub daemon: DaemonTuning,
}

impl Config {
    /// Reads and checks a configuration file; relative paths in it become relative to its
    /// directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let mut c = Config::from_yaml(&text).map_err(|reason| ConfigError::Syntax {
            path: path.to_owned(),
            reason,
        })?;
        c.rebase(path.parent().unwrap_or(Path::new(".")));
        Ok(c)
    }

    /// Parses the YAML text of a configuration file (paths left as written); errors name the
    /// file as `-`.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_yaml(text).map_err(|reason| ConfigError::Syntax {
            path: PathBuf::from("-"),
            reason,
        })
    }

    fn from_yaml(text: &str) -> Result<Config, String> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    }

    fn rebase(&mut self, dir: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        self.rules.iter_mut().for_each(fix);
        self.outlets.iter_mut().for_each(fix);
        for files in self.watchlists.values_mut().chain(self.placeholders.values_mut()) {
            match files {
                Files::One(p) => fix(p),
                Files::Many(v) => v.iter_mut().for_each(fix),
            }
        }
        if let Some(intel) = &mut self.intel {
            intel.zeek.iter_mut().for_each(fix);
            intel.lists.iter_mut().for_each(|l| fix(&mut l.path));
        }
        crate::daemon::config::rebase(dir, &mut self.state_dir, &mut self.sources, &mut self.sinks);
    }

    /// `(name, file)` for every watchlist file.
    pub fn watchlist_files(&self) -> impl Iterator<Item = (&str, &Path)> {
        self.watchlists
            .iter()
            .flat_map(|(n, f)| f.iter().map(move |p| (n.as_str(), p.as_path())))
    }

    /// `(name, file)` for every placeholder file.
    pub fn placeholder_files(&self) -> impl Iterator<Item = (&str, &Path)> {
        self.placeholders
            .iter()
            .flat_map(|(n, f)| f.iter().map(move |p| (n.as_str(), p.as_path())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example_and_rebases_paths() {
        let doc = include_str!("config.rs")
            .lines()
            .skip_while(|l| !l.starts_with("//! ```yaml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| l.strip_prefix("//! ").unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let mut c = Config::parse(&doc).unwrap();
        c.rebase(Path::new("/etc/reconwatch"));
        assert_eq!(c.rules, [PathBuf::from("/etc/reconwatch/rules")]);
        assert_eq!(c.default_rules, Some(true));
        let lists: Vec<(&str, &Path)> = c.watchlist_files().collect();
        assert_eq!(
            lists,
            [
                ("parliamentarians", Path::new("/etc/reconwatch/members.csv")),
                ("staff", Path::new("/etc/reconwatch/staff.csv")),
                ("staff", Path::new("/etc/reconwatch/contractors.txt")),
            ]
        );
        let intel = c.intel.as_ref().unwrap();
        assert_eq!(intel.zeek, [PathBuf::from("/var/lib/intel/apt31.dat")]);
        assert_eq!(intel.lists[0].path, PathBuf::from("/etc/reconwatch/bad-domains.txt"));
        assert_eq!(intel.lists[0].source.as_deref(), Some("ncsc"));
        assert_eq!(c.outlets, [PathBuf::from("/etc/reconwatch/extra-outlets.csv")]);
        assert_eq!(c.own_domains, ["parliament.uk"]);
    }

    #[test]
    fn the_shipped_deployment_file_parses() {
        let c = Config::parse(include_str!("../deploy/reconwatch.yml")).unwrap();
        assert_eq!(c.watchlist_files().count(), 3);
        assert_eq!(c.default_rules, Some(true));
        assert!(c.intel.unwrap().parent_domains);
    }

    #[test]
    fn rejects_unknown_keys_and_wrong_types() {
        for bad in [
            "watchlist: {a: b.csv}",
            "rules: 3",
            "intel: {zeeek: [a]}",
            "own_domains: x",
        ] {
            assert!(Config::parse(bad).is_err(), "accepted: {bad}");
        }
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }
}
