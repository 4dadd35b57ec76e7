//! Format detection (`--format auto`) and syslog framing per input.
//!
//! Detection runs every candidate parser, fresh, over the first lines of an input, with and
//! without syslog framing, and keeps the pairing that accepts the most lines (an event counts
//! twice, a recognised line without event once). Ties go to the earlier format in
//! [`Format::ALL`], then to "no framing". An input where the best pairing accepts fewer than half
//! of the sampled lines is reported as unrecognised rather than guessed at. Lines a parser calls
//! [`Parsed::OtherProgram`] (amavis in a Postfix log) score nothing and are left out of that
//! half: a mail log is still its MTA's when most of it is other programs' lines, and a syslog
//! file of other programs alone is recognised by no mail parser, since it needs one line the
//! parser understood.

use super::syslog::{self, YearHint};
use super::{Format, Line, ParseContext, Parsed};

/// Whether lines of an input carry a syslog header in front of the format's own text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Syslog,
}

impl Framing {
    /// `Syslog` when `line` starts with a syslog header.
    pub fn sniff(line: &str) -> Framing {
        let hint = YearHint::new(&ParseContext::default());
        if syslog::split(line, &hint).is_some() {
            Framing::Syslog
        } else {
            Framing::None
        }
    }

    /// Builds the [`Line`] a parser sees. With syslog framing, a line that lacks a header is
    /// passed whole, and the parser decides.
    pub fn line<'a>(self, raw: &'a str, offset: u64, number: u64, hint: &YearHint) -> Line<'a> {
        let (syslog, body) = match self {
            Framing::Syslog => match syslog::split(raw, hint) {
                Some((h, body)) => (Some(h), body),
                None => (None, raw),
            },
            Framing::None => (None, raw),
        };
        Line {
            raw,
            body,
            syslog,
            offset,
            number,
        }
    }
}

/// The outcome of detection for one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detection {
    pub format: Format,
    pub framing: Framing,
    /// Sampled lines the chosen parser accepted, and how many were sampled (blank lines and other
    /// programs' lines aside).
    pub accepted: usize,
    pub sampled: usize,
}

/// Picks the format and framing of an input from its first lines (see the module documentation).
/// `candidates` restricts the choice (one format for `--format NAME`, all for `auto`).
pub fn detect(sample: &[&str], ctx: &ParseContext, candidates: &[Format]) -> Option<Detection> {
    let hint = YearHint::new(ctx);
    let lines: Vec<&str> = sample.iter().copied().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return None;
    }
    let any_header = lines.iter().any(|l| syslog::split(l, &hint).is_some());
    let framings: &[Framing] = if any_header {
        &[Framing::None, Framing::Syslog]
    } else {
        &[Framing::None]
    };
    let mut best: Option<(usize, Detection)> = None;
    for &format in candidates {
        for &framing in framings {
            let mut parser = format.parser(ctx);
            let (mut score, mut accepted, mut others) = (0, 0, 0);
            for (i, raw) in lines.iter().enumerate() {
                let line = framing.line(raw, 0, i as u64 + 1, &hint);
                let mut event = crate::event::Event::default();
                match parser.parse(&line, &mut event) {
                    Ok(Parsed::Event) => {
                        score += 2;
                        accepted += 1;
                    }
                    Ok(Parsed::Absorbed) => {
                        score += 1;
                        accepted += 1;
                    }
                    // Neither for nor against: it is the format's to ignore, but any syslog
                    // line would be one for every mail parser.
                    Ok(Parsed::OtherProgram) => others += 1,
                    Err(_) => {}
                }
            }
            let d = Detection {
                format,
                framing,
                accepted,
                sampled: lines.len() - others,
            };
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, d));
            }
        }
    }
    let (_, d) = best?;
    (d.accepted > 0 && d.accepted * 2 >= d.sampled).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_each_format_from_its_example() {
        let ctx = ParseContext::default();
        for format in Format::ALL {
            let example = format.info().example;
            let d =
                detect(&[example], &ctx, &Format::ALL).unwrap_or_else(|| panic!("{format}: example not recognised"));
            assert_eq!(d.format, format, "example of {format} detected as {}", d.format);
        }
    }

    #[test]
    fn unrecognised_input_is_none() {
        let ctx = ParseContext::default();
        assert_eq!(detect(&["hello world", "this is not a log"], &ctx, &Format::ALL), None);
        assert_eq!(detect(&["", "  "], &ctx, &Format::ALL), None);
    }
}
