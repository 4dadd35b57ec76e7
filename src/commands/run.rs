//! `reconwatch run` and `reconwatch config check`: the configuration file and the options
//! merged into the daemon's plain settings (`daemon::start::Daemon`), and the check of a
//! configuration file without running it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};

use super::context::{SkipReport, correlation_settings, load_detector};
use super::{EXIT_ERROR, chain};
use crate::cli::{RuleArgs, RunArgs, SourceArgs};
use crate::config::Config;
use crate::daemon::config::{DEFAULT_LISTEN, SinkConfig, SourceConfig};
use crate::daemon::start::{self, Daemon, Loader};
use crate::detect::Detector;
use crate::metrics::Metrics;
use crate::parse::Format;
use crate::pipeline::PipelineConfig;

/// `GLOB[:FORMAT]` / `ADDR[:FORMAT]`: the part after the last `:` is a format only when it names
/// one (a port or a path keeps its colons).
fn split_format(spec: &str) -> (String, Option<String>) {
    match spec.rsplit_once(':') {
        Some((head, tail)) if tail == "auto" || Format::from_name(tail).is_some() => {
            (head.to_owned(), Some(tail.to_owned()))
        }
        _ => (spec.to_owned(), None),
    }
}

/// The sources of the configuration file, then the options' (`--tail`, `--syslog-udp`,
/// `--syslog-tcp`: `run` and `ship` take the same).
pub(super) fn sources(config: &Config, args: &SourceArgs) -> Vec<SourceConfig> {
    let mut out = config.sources.clone();
    for spec in &args.tail {
        let (glob, format) = split_format(spec);
        out.push(SourceConfig {
            tail: Some(glob),
            format,
            ..SourceConfig::default()
        });
    }
    for spec in &args.syslog_udp {
        let (addr, format) = split_format(spec);
        out.push(SourceConfig {
            syslog_udp: Some(addr),
            format,
            ..SourceConfig::default()
        });
    }
    for spec in &args.syslog_tcp {
        let (addr, format) = split_format(spec);
        out.push(SourceConfig {
            syslog_tcp: Some(addr),
            format,
            ..SourceConfig::default()
        });
    }
    out
}

/// The sinks of the configuration file, then the options'; standard output when none.
fn sinks(config: &Config, args: &RunArgs) -> Vec<SinkConfig> {
    let mut out = config.sinks.clone();
    if let Some(p) = &args.alerts {
        out.push(SinkConfig {
            file: Some(p.clone()),
            ..SinkConfig::default()
        });
    }
    for url in &args.webhook {
        out.push(SinkConfig {
            webhook: Some(url.clone()),
            ..SinkConfig::default()
        });
    }
    for url in &args.syslog_forward {
        out.push(SinkConfig {
            syslog: Some(url.clone()),
            ..SinkConfig::default()
        });
    }
    if out.is_empty() {
        out.push(SinkConfig {
            stdout: Some(true),
            ..SinkConfig::default()
        });
    }
    out
}

/// Loads the detector as the options and the configuration file say now; returns the file's
/// contents too (the daemon's own keys).
pub(super) fn load(
    rules: &RuleArgs,
    lateness: Option<&str>,
    max_groups: Option<usize>,
    metrics: &Metrics,
) -> anyhow::Result<(Config, Detector)> {
    let (config, mut detector_config) = rules.detector_config()?;
    detector_config.correlation = correlation_settings(lateness, max_groups, &config)?.0;
    let (detector, rejected) = load_detector(&detector_config, metrics, SkipReport::Count)?;
    if rejected > 0 {
        bail!("{rejected} rules cannot run (each is listed above); fix or remove them");
    }
    metrics.record_rules(&detector);
    Ok((config, detector))
}

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let metrics = Arc::new(Metrics::new());
    let (config, detector) = load(
        &args.rules,
        args.live.lateness.as_deref(),
        args.live.max_groups,
        &metrics,
    )?;
    let loader: Loader = {
        let (rules, lateness, max_groups) = (args.rules.clone(), args.live.lateness.clone(), args.live.max_groups);
        let metrics = Arc::clone(&metrics);
        Arc::new(move || load(&rules, lateness.as_deref(), max_groups, &metrics).map(|(_, d)| d))
    };
    let state_dir = args
        .state_dir
        .clone()
        .or_else(|| config.state_dir.clone())
        .or_else(|| {
            std::env::var_os("STATE_DIRECTORY")
                .map(|v| PathBuf::from(v.to_string_lossy().split(':').next().unwrap_or_default()))
        })
        .context("no state directory: give --state-dir DIR or `state_dir:` in --config (checkpoints and correlation state are kept there)")?;
    let pipeline = pipeline_config(args.live.timezone.as_deref().or(config.timezone.as_deref()))?;
    let daemon = Daemon {
        sources: sources(&config, &args.sources),
        sinks: sinks(&config, args),
        suppress: config.suppress.clone(),
        listen: args
            .listen
            .clone()
            .or_else(|| config.listen.clone())
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
        state_dir,
        tuning: config.daemon.clone(),
        pipeline,
    };
    start::run(daemon, detector, loader, metrics)?;
    Ok(ExitCode::SUCCESS)
}

pub(super) fn pipeline_config(timezone: Option<&str>) -> anyhow::Result<PipelineConfig> {
    let mut p = PipelineConfig::default();
    if let Some(tz) = timezone {
        p.parse.timezone =
            jiff::tz::TimeZone::get(tz).with_context(|| format!("timezone {tz}: not a time zone this system knows"))?;
    }
    Ok(p)
}

/// `reconwatch config check FILE`.
pub fn check(file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(file).context("config check")?;
    let mut problems: Vec<String> = Vec::new();
    let rules = RuleArgs {
        rules: Vec::new(),
        default_rules: false,
        eager_enrichment: false,
        context: crate::cli::ContextArgs {
            config: Some(file.to_owned()),
            ..Default::default()
        },
    };
    let metrics = Metrics::new();
    match load(&rules, None, None, &metrics) {
        Ok((_, d)) => println!(
            "rules: {} detection and {} correlation rules load; watchlists: {}; intel indicators: {}",
            d.engine().rules().len(),
            d.correlations().list.len(),
            d.enricher()
                .watchlists()
                .lists()
                .iter()
                .map(|l| format!("{} ({} addresses, {} domains)", l.name, l.addresses, l.domains))
                .collect::<Vec<_>>()
                .join(", "),
            d.enricher().intel().len()
        ),
        Err(e) => problems.push(chain(&e)),
    }
    match start::plan_sources(&config.sources) {
        Ok(s) if s.is_empty() => {
            println!("sources: none (`reconwatch run` then needs --tail, --syslog-udp or --syslog-tcp)")
        }
        Ok(s) => {
            for p in s {
                println!(
                    "source {}: ok ({})",
                    p.info.label,
                    p.info.format.map_or("format detected per stream", |f| f.name())
                );
            }
        }
        Err(e) => problems.push(chain(&e)),
    }
    match crate::alert::Sinks::check(&config.sinks, config.suppress.as_ref()) {
        Ok(()) => {
            for s in &config.sinks {
                println!("sink {}: ok", s.label());
            }
            if config.sinks.is_empty() {
                println!("sinks: none (alerts go to standard output)");
            }
        }
        Err(e) => problems.push(e.to_string()),
    }
    if let Some(l) = &config.listen
        && l.parse::<std::net::SocketAddr>().is_err()
    {
        problems.push(format!("listen {l}: not an address:port"));
    }
    if let Err(e) = start::check_tuning(&config.daemon) {
        problems.push(e);
    }
    if let Some(tz) = &config.timezone
        && jiff::tz::TimeZone::get(tz).is_err()
    {
        problems.push(format!("timezone {tz}: not a time zone this system knows"));
    }
    if problems.is_empty() {
        println!("{}: ok", file.display());
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &problems {
            eprintln!("reconwatch: error: {}: {p}", file.display());
        }
        Ok(ExitCode::from(EXIT_ERROR))
    }
}
