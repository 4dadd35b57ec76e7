//! `reconwatch formats`: the formats reconwatch reads, with an example line each.

use std::io::Write;

use anyhow::Context;
use std::process::ExitCode;

use crate::parse::{Family, Format};

pub fn run() -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    for format in Format::ALL {
        let info = format.info();
        let family = match info.family {
            Family::Web => "web",
            Family::Mail => "mail",
            Family::Any => "web or mail",
        };
        writeln!(
            out,
            "{} ({family})\n  {}\n  example: {}\n",
            info.name, info.description, info.example
        )
        .context("writing to standard output")?;
    }
    Ok(ExitCode::SUCCESS)
}
