//! `reconwatch gen`: writes a synthetic world of logs (see [`crate::world`]).

use std::process::ExitCode;

use std::path::Path;

use anyhow::{Context, bail};

use crate::cli::GenArgs;
use crate::size::parse_size;
use crate::world::{GenConfig, write_world};

pub fn run(args: &GenArgs) -> anyhow::Result<ExitCode> {
    let target_bytes = parse_size(&args.size).with_context(|| format!("--size {}", args.size))?;
    refuse_to_overwrite(&args.out, args.force)?;
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

/// A world's files replace whatever has their names: write only into a new or empty directory
/// unless told to (`--force`).
fn refuse_to_overwrite(dir: &Path, force: bool) -> anyhow::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if !force && entries.next().is_some() {
                bail!(
                    "--out {}: the directory is not empty; name an empty or new directory, or add --force to replace the world's files in it",
                    dir.display()
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("--out {}", dir.display())),
    }
}
