//! Runs the commands defined in [`crate::cli`]: turns arguments into validated configuration,
//! drives the pipeline, and maps outcomes to exit codes.
//!
//! Exit codes: 0 success; 2 usage, configuration or input errors (clap uses 2 for usage errors
//! too). A closed output pipe (`reconwatch parse x | head`) ends the run quietly with 0.

use std::io;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Parser;
use jiff::SignedDuration;
use jiff::tz::TimeZone;

use crate::cli::{Cli, Command, InputArgs};
use crate::parse::{Format, ParseContext, squid};
use crate::pipeline::PipelineConfig;

mod alerts;
mod context;
mod formats;
#[cfg(feature = "gen")]
mod generate;
mod output;
mod parse;
mod report;
mod rules;
mod run;
mod scan;
mod ship;
mod work;

/// Exit code for usage, configuration and input errors.
pub const EXIT_ERROR: u8 = 2;

/// The binary's entry point.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Parse(args) => parse::run(&args),
        Command::Scan(args) => scan::run(&args),
        Command::Rules(cmd) => rules::run(&cmd),
        Command::Run(args) => run::run(&args),
        Command::Ship(args) => ship::run(&args),
        Command::Work(args) => work::run(&args),
        Command::Alerts(args) => alerts::run(&args),
        Command::Config(crate::cli::ConfigCommand::Check { file }) => run::check(&file),
        Command::Formats => formats::run(),
        Command::Report(args) => report::run(&args),
        #[cfg(feature = "gen")]
        Command::Gen(args) => generate::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reconwatch: error: {}", chain(&e));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// An error and its causes, each said once (a cause whose text the message already holds is
/// left out).
pub(crate) fn chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

impl InputArgs {
    /// Validates the input options and builds the pipeline configuration.
    /// `config_timezone` is the configuration file's `timezone`, used when `--timezone` is not
    /// given.
    pub fn build(&self, config_timezone: Option<&str>) -> anyhow::Result<PipelineConfig> {
        let format = match self.format.as_str() {
            "auto" => None,
            name => match Format::from_name(name) {
                Some(f) => Some(f),
                None => {
                    let names: Vec<_> = Format::ALL.iter().map(|f| f.name()).collect();
                    bail!(
                        "--format {name}: unknown format; use auto or one of: {}",
                        names.join(", ")
                    )
                }
            },
        };
        let timezone = match (&self.timezone, config_timezone) {
            (Some(tz), _) => {
                TimeZone::get(tz).with_context(|| format!("--timezone {tz}: not a time zone this system knows"))?
            }
            (None, Some(tz)) => TimeZone::get(tz)
                .with_context(|| format!("--config: timezone {tz}: not a time zone this system knows"))?,
            (None, None) => TimeZone::UTC,
        };
        let logformats = self
            .squid_logformats
            .iter()
            .map(|s| squid::LogFormat::compile(s).with_context(|| format!("--squid-logformat {s:?}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if self.max_line_bytes < 256 {
            bail!("--max-line-bytes {}: must be at least 256", self.max_line_bytes);
        }
        Ok(PipelineConfig {
            format,
            parse: ParseContext {
                timezone,
                squid_logformats: Arc::from(logformats),
                mail_timeout: SignedDuration::from_secs(self.mail_timeout.min(i64::MAX as u64) as i64),
                max_pending_messages: self.max_pending_messages.max(1),
                ..ParseContext::default()
            },
            max_line: self.max_line_bytes,
        })
    }
}
