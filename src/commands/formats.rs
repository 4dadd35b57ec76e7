//! `reconwatch formats`: the formats reconwatch reads, with an example line each.

use std::io::Write;
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
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
