//! `reconwatch gen`: writes a synthetic world of logs (see [`crate::world`]).

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::GenArgs;
use crate::world::{GenConfig, parse_size, write_world};

pub fn run(args: &GenArgs) -> anyhow::Result<ExitCode> {
    let target_bytes = parse_size(&args.size).with_context(|| format!("--size {}", args.size))?;
    let summary = write_world(
        &GenConfig {
            seed: args.seed,
            target_bytes,
        },
        &args.out,
    )
    .with_context(|| format!("writing the world into {}", args.out.display()))?;
    for f in &summary.files {
        eprintln!("{}: {} lines, {} bytes", f.path.display(), f.lines, f.bytes);
    }
    eprintln!(
        "campaign lines labelled: {} (in {})",
        summary.campaign_lines,
        summary.labels.display()
    );
    Ok(ExitCode::SUCCESS)
}
