//! SCAFFOLD: the world generator is being written; this placeholder only keeps the crate building.

use std::path::{Path, PathBuf};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    pub seed: u64,
    pub target_bytes: u64,
}

/// One file written.
#[derive(Debug, Clone)]
pub struct GenFile {
    pub path: PathBuf,
    pub lines: u64,
    pub bytes: u64,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct GenSummary {
    pub files: Vec<GenFile>,
    pub labels: PathBuf,
    pub campaign_lines: u64,
}

/// Parses `5MB`, `1GB`, `300k`, `1024` (bytes; powers of 1000).
pub fn parse_size(s: &str) -> anyhow::Result<u64> {
    let _ = s;
    anyhow::bail!("generator not written yet")
}

pub fn write_world(cfg: &GenConfig, out: &Path) -> anyhow::Result<GenSummary> {
    let _ = (cfg, out);
    anyhow::bail!("generator not written yet")
}
