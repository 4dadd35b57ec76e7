//! `reconwatch formats`: the formats reconwatch reads, with an example line each.

use std::io::Write;

use anyhow::Context;
use std::process::ExitCode;

use crate::event::Family;
use crate::parse::Format;

pub fn run() -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    for format in Format::ALL {
        let info = format.info();
        let has = |f: Family| info.datasets.iter().any(|d| d.family() == f);
        let family = match (has(Family::Web), has(Family::Mail)) {
            (true, true) => "web or mail",
            (true, false) => "web",
            _ => "mail",
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
