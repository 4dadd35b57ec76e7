//! Sizes given on the command line: `gen --size` (decimal units) and `--chunk-size` (decimal or
//! binary units). Messages do not repeat the input: callers add the option and value as context.

use anyhow::{Context as _, bail};

/// Parses `5MB`, `1GB`, `300k`, `1024`, `1.5GB` (bytes; decimal units, powers of 1000).
pub fn parse_size(s: &str) -> anyhow::Result<u64> {
    // Messages do not repeat the input: callers add it as context (`--size 5XB: ...`).
    let t = s.trim();
    if t.is_empty() {
        bail!("empty size; expected a number with an optional unit, such as 300k, 5MB or 1GB");
    }
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim();
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "kib" | "mib" | "gib" | "tib" => {
            bail!("binary units ({unit}) are not supported; use decimal ones (k, MB, GB)")
        }
        _ => bail!("unknown unit {unit:?}; use B, k, MB, GB or TB (powers of 1000)"),
    };
    if num.is_empty() {
        bail!("no number before the unit {unit:?}; expected e.g. 5MB");
    }
    let value: f64 = num.parse().with_context(|| format!("{num:?} is not a number"))?;
    let bytes = value * mult as f64;
    if bytes.is_nan() || bytes < 1.0 {
        bail!("must be at least one byte");
    }
    if bytes > 1e15 {
        bail!("larger than 1 PB");
    }
    Ok(bytes as u64)
}

/// `--chunk-size`: a decimal size as `gen --size` takes it (4MB, 300k) or a binary one (4KiB,
/// 64MiB); at least 1KiB.
pub fn parse_chunk_size(s: &str) -> anyhow::Result<u64> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let binary = [
        ("kib", 1u64 << 10),
        ("mib", 1 << 20),
        ("gib", 1 << 30),
        ("tib", 1 << 40),
    ];
    let bytes = match binary
        .iter()
        .find_map(|(unit, mult)| lower.strip_suffix(unit).map(|num| (num.trim(), *mult)))
    {
        Some((num, mult)) => {
            let value: f64 = num.parse().with_context(|| format!("{num:?} is not a number"))?;
            if !value.is_finite() || value < 0.0 {
                bail!("{num:?} is not a size");
            }
            (value * mult as f64) as u64
        }
        None => parse_size(t)?,
    };
    if bytes < 1024 {
        bail!("must be at least 1KiB");
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_size_accepts_decimal_units_and_explains_errors() {
        let ok = [
            ("1024", 1024),
            ("300k", 300_000),
            ("300kB", 300_000),
            ("5MB", 5_000_000),
            ("5mb", 5_000_000),
            ("1GB", 1_000_000_000),
            ("1.5GB", 1_500_000_000),
            (" 2 MB ", 2_000_000),
            ("7B", 7),
        ];
        for (s, want) in ok {
            assert_eq!(parse_size(s).unwrap(), want, "{s}");
        }
        let bad = [
            ("", "empty size"),
            ("MB", "no number"),
            ("5XB", "unknown unit"),
            ("5MiB", "binary units"),
            ("0", "at least one byte"),
            ("1.2.3MB", "not a number"),
            ("-5MB", "unknown unit"),
            ("2000TB", "larger than"),
        ];
        for (s, want) in bad {
            let e = parse_size(s).unwrap_err().to_string();
            assert!(e.contains(want), "{s:?}: {e}");
        }
    }

    #[test]
    fn chunk_sizes_take_decimal_and_binary_units() {
        let ok = [
            ("4KiB", 4096),
            ("64MiB", 64 << 20),
            ("1.5 KiB", 1536),
            ("4MB", 4_000_000),
            ("2048", 2048),
        ];
        for (s, want) in ok {
            assert_eq!(parse_chunk_size(s).unwrap(), want, "{s}");
        }
        let bad = [
            ("512", "at least 1KiB"),
            ("xKiB", "not a number"),
            ("-4KiB", "not a size"),
            ("4XB", "unknown unit"),
        ];
        for (s, want) in bad {
            let e = format!("{:#}", parse_chunk_size(s).unwrap_err());
            assert!(e.contains(want), "{s}: {e}");
        }
    }
}
