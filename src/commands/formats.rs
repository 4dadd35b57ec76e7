//! `reconwatch formats`: the formats reconwatch reads, with an example line each.

use std::process::ExitCode;

use super::output::Stdout;
use crate::event::Family;
use crate::parse::Format;

pub fn run() -> anyhow::Result<ExitCode> {
    let mut out = Stdout::new();
    for format in Format::ALL {
        let info = format.info();
        let has = |f: Family| info.datasets.iter().any(|d| d.family() == f);
        let family = match (has(Family::Web), has(Family::Mail)) {
            (true, true) => "web or mail",
            (true, false) => "web",
            _ => "mail",
        };
        out.line(format_args!(
            "{} ({family})\n  {}\n  example: {}\n",
            info.name, info.description, info.example
        ))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
