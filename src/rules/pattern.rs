//! Sigma string values: wildcards, escapes, and the modifiers that rewrite a value before it is
//! matched (`base64`, `base64offset`, `utf16*`/`wide`, `windash`, `expand`).
//!
//! A Sigma string is text in which `*` stands for any run of characters and `?` for exactly one
//! character, and a backslash escapes them ("Escape Character" in the specification, and what
//! pySigma's `SigmaString` does):
//!
//! | written | means |
//! |---|---|
//! | `\*`, `\?` | a literal `*`, `?` |
//! | `\\` | one literal backslash (so `\\*` is a backslash then a wildcard, `\\\*` a backslash then a literal `*`) |
//! | `\` before anything else, or at the end | a literal backslash (`C:\Windows` needs no doubling) |
//!
//! [`parse_glob`] turns such text into a [`Glob`], a list of [`Piece`]s kept in a normal form
//! (no empty literal, no two literals in a row, no two `*` in a row), so that [`Glob::as_literal`]
//! and [`Glob::longest_literal`] can hand the matcher its prefilter needles directly.
//! [`Glob::matches`] tests a whole value without allocating and without exponential backtracking
//! (only the most recent `*` is ever resumed, which is enough for `*`/`?` patterns), so a hostile
//! log line costs at most O(value × pattern).
//!
//! Needles are bytes (`Vec<u8>`), not strings, because the UTF-16 encodings are not UTF-8.
//! `?` means one UTF-8 character of the value; a byte that does not start a valid UTF-8
//! character counts as one character, so matching never fails on invalid input.
//!
//! Nothing here panics on any input; the only error ([`PatternError`]) is a value whose
//! `windash` expansion would be unreasonably large.

/// One element of a [`Glob`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal bytes, never empty in a [`Glob`].
    Lit(Vec<u8>),
    /// `?`: exactly one character.
    AnyOne,
    /// `*`: any run of characters, including none.
    AnyMany,
}

/// A Sigma string value with its wildcards: the pieces in order, in normal form (no empty
/// `Lit`, no two `Lit` in a row, no two `AnyMany` in a row).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Glob {
    /// The pieces, in order. Code that builds a `Glob` by hand must keep the normal form
    /// (see [`Glob::map_literals`], which restores it).
    pub pieces: Vec<Piece>,
}

/// An error in a value that a modifier cannot turn into needles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// `windash` would produce more variants than [`WINDASH_MAX_VARIANTS`].
    #[error(
        "`windash` on {value:?}: {flags} flag characters would give 5^{flags} variants, more than the limit of {WINDASH_MAX_VARIANTS}; split the value"
    )]
    TooManyWindashVariants {
        /// The value the modifier was applied to.
        value: String,
        /// How many flag characters it has.
        flags: usize,
    },
}

/// One unescaped element of a Sigma string.
enum Token {
    Char(char),
    AnyOne,
    AnyMany,
}

/// Walks `value` applying the escape rules of the module doc, handing each element to `emit`.
fn unescape(value: &str, mut emit: impl FnMut(Token)) {
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&next @ ('*' | '?' | '\\')) => {
                    chars.next();
                    emit(Token::Char(next));
                }
                // A lone backslash is literal; what follows is read normally.
                _ => emit(Token::Char('\\')),
            },
            '*' => emit(Token::AnyMany),
            '?' => emit(Token::AnyOne),
            c => emit(Token::Char(c)),
        }
    }
}

/// Parses a Sigma string value (wildcards and escapes, see the module doc) into a [`Glob`].
pub fn parse_glob(value: &str) -> Glob {
    let mut glob = Glob::default();
    let mut utf8 = [0u8; 4];
    unescape(value, |token| match token {
        Token::Char(c) => glob.push_lit(c.encode_utf8(&mut utf8).as_bytes()),
        Token::AnyOne => glob.push(Piece::AnyOne),
        Token::AnyMany => glob.push(Piece::AnyMany),
    });
    glob
}

/// The bytes a Sigma string value stands for when wildcards do not apply: the same unescaping
/// as [`parse_glob`] (`\*` → `*`, `\\` → `\`), with `*` and `?` kept as literal characters.
pub fn literal(value: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut utf8 = [0u8; 4];
    unescape(value, |token| {
        let c = match token {
            Token::Char(c) => c,
            Token::AnyOne => '?',
            Token::AnyMany => '*',
        };
        out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
    });
    out
}

impl Glob {
    /// Appends a piece, keeping the normal form.
    fn push(&mut self, piece: Piece) {
        match (self.pieces.last_mut(), piece) {
            (_, Piece::Lit(bytes)) if bytes.is_empty() => {}
            (Some(Piece::Lit(last)), Piece::Lit(bytes)) => last.extend_from_slice(&bytes),
            (Some(Piece::AnyMany), Piece::AnyMany) => {}
            (_, piece) => self.pieces.push(piece),
        }
    }

    /// Appends literal bytes, keeping the normal form.
    fn push_lit(&mut self, bytes: &[u8]) {
        match self.pieces.last_mut() {
            Some(Piece::Lit(last)) => last.extend_from_slice(bytes),
            _ if bytes.is_empty() => {}
            _ => self.pieces.push(Piece::Lit(bytes.to_vec())),
        }
    }

    /// The value's bytes when it has no wildcard (`Some(b"")` for the empty value).
    pub fn as_literal(&self) -> Option<&[u8]> {
        match self.pieces.as_slice() {
            [] => Some(b""),
            [Piece::Lit(bytes)] => Some(bytes),
            _ => None,
        }
    }

    /// The longest literal piece (the first of equal length): every value this glob matches
    /// contains it, so it is the best prefilter needle. `None` when the glob is only wildcards.
    pub fn longest_literal(&self) -> Option<&[u8]> {
        let mut best: Option<&[u8]> = None;
        for piece in &self.pieces {
            if let Piece::Lit(bytes) = piece
                && best.is_none_or(|b| bytes.len() > b.len())
            {
                best = Some(bytes);
            }
        }
        best
    }

    /// Adds `*` at the start and/or the end (unless already there): `contains` is
    /// `surround(true, true)`, `endswith` is `surround(true, false)`, `startswith` is
    /// `surround(false, true)`.
    pub fn surround(mut self, start: bool, end: bool) -> Glob {
        if start && self.pieces.first() != Some(&Piece::AnyMany) {
            self.pieces.insert(0, Piece::AnyMany);
        }
        if end && self.pieces.last() != Some(&Piece::AnyMany) {
            self.pieces.push(Piece::AnyMany);
        }
        self
    }

    /// Rewrites every literal piece with `f`, keeping the wildcards, as pySigma does for the
    /// encoding modifiers (`wide|contains: 'a*b'` is utf16le("a"), `*`, utf16le("b")). The
    /// result is in normal form again (a literal mapped to nothing disappears).
    pub fn map_literals(self, mut f: impl FnMut(&[u8]) -> Vec<u8>) -> Glob {
        let mut out = Glob::default();
        for piece in self.pieces {
            match piece {
                Piece::Lit(bytes) => out.push(Piece::Lit(f(&bytes))),
                other => out.push(other),
            }
        }
        out
    }

    /// Whether the whole of `hay` matches. `ignore_ascii_case` folds ASCII letters only (other
    /// characters compare exactly). Allocates nothing; O(hay × pattern) at worst.
    pub fn matches(&self, hay: &[u8], ignore_ascii_case: bool) -> bool {
        let pieces = self.pieces.as_slice();
        // Where to resume after a mismatch: the piece after the most recent `*`, and the hay
        // position that `*` currently stops at. Earlier stars never need revisiting: a later
        // star can absorb whatever an earlier one would have.
        let mut resume: Option<(usize, usize)> = None;
        let (mut p, mut h) = (0, 0);
        loop {
            let advanced = match pieces.get(p) {
                None if h == hay.len() => return true,
                None => false,
                Some(Piece::AnyMany) => {
                    if p + 1 == pieces.len() {
                        return true; // a trailing `*` takes the rest, whatever it is
                    }
                    resume = Some((p + 1, h));
                    p += 1;
                    true
                }
                Some(Piece::AnyOne) if h < hay.len() => {
                    h += char_len(&hay[h..]);
                    p += 1;
                    true
                }
                Some(Piece::AnyOne) => false,
                Some(Piece::Lit(lit)) => match hay.get(h..h + lit.len()) {
                    Some(window) if bytes_eq(window, lit, ignore_ascii_case) => {
                        h += lit.len();
                        p += 1;
                        true
                    }
                    _ => false,
                },
            };
            if advanced {
                continue;
            }
            // Mismatch: let the most recent `*` take one more character and retry after it.
            let Some((after_star, star_end)) = resume else {
                return false;
            };
            if star_end >= hay.len() {
                return false;
            }
            let mut next = star_end + char_len(&hay[star_end..]);
            if let Some(Piece::Lit(lit)) = pieces.get(after_star) {
                // Skip straight to the next place the literal can start.
                match find_start(&hay[next..], lit, ignore_ascii_case) {
                    Some(offset) => next += offset,
                    None => return false,
                }
            }
            resume = Some((after_star, next));
            p = after_star;
            h = next;
        }
    }
}

/// Length of the character starting `bytes` (non-empty): its UTF-8 length, or 1 for a byte that
/// does not start a valid UTF-8 character.
fn char_len(bytes: &[u8]) -> usize {
    let head = &bytes[..bytes.len().min(4)];
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or(""),
    };
    valid.chars().next().map_or(1, char::len_utf8)
}

fn bytes_eq(a: &[u8], b: &[u8], ignore_ascii_case: bool) -> bool {
    if ignore_ascii_case {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

/// Offset in `hay` of the first byte where `lit` could start, when `lit` starts with a byte that
/// begins a character (so every such position is a character boundary of `hay`); `Some(0)`
/// (no skipping) otherwise.
fn find_start(hay: &[u8], lit: &[u8], ignore_ascii_case: bool) -> Option<usize> {
    let Some(&first) = lit.first() else {
        return Some(0);
    };
    if first & 0xC0 == 0x80 {
        return Some(0); // a continuation byte (UTF-16 needles): step character by character
    }
    if ignore_ascii_case && first.is_ascii_alphabetic() {
        memchr::memchr2(first.to_ascii_lowercase(), first.to_ascii_uppercase(), hay)
    } else {
        memchr::memchr(first, hay)
    }
}

const BASE64_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Base64 of `bytes`: standard alphabet, with `=` padding (the `base64` modifier).
pub fn base64(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64_ALPHABET[(n >> (18 - 6 * i) & 0x3F) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

/// The `base64offset` modifier: for the value placed at offset 0, 1 and 2 (mod 3) of a longer
/// string, the part of the longer string's Base64 that depends only on the value. As pySigma:
/// encode the value behind 0, 1 or 2 filler bytes, drop the 0, 2 or 3 leading characters that
/// depend on the filler, and drop the trailing characters that depend on what follows the value
/// (none, 3 or 2, by where the value ends). For "/bin/bash": `L2Jpbi9iYXNo`, `9iaW4vYmFza`,
/// `vYmluL2Jhc2`. A value shorter than 3 bytes can give an empty variant (pySigma does too);
/// the caller decides what an empty needle means.
pub fn base64_offsets(bytes: &[u8]) -> [Vec<u8>; 3] {
    const DROP_START: [usize; 3] = [0, 2, 3];
    // Indexed by (filler + value length) % 3: the trailing characters that depend on what
    // follows, including the padding.
    const DROP_END: [usize; 3] = [0, 3, 2];
    std::array::from_fn(|shift| {
        let mut shifted = vec![b' '; shift];
        shifted.extend_from_slice(bytes);
        let encoded = base64(&shifted);
        let end = encoded.len().saturating_sub(DROP_END[shifted.len() % 3]);
        encoded
            .get(DROP_START[shift]..end)
            .map_or_else(Vec::new, <[u8]>::to_vec)
    })
}

/// Code units of `s` (UTF-8; an invalid sequence becomes U+FFFD) in UTF-16.
fn utf16_units(s: &[u8]) -> impl Iterator<Item = u16> + '_ {
    s.utf8_chunks().flat_map(|chunk| {
        let bad = if chunk.invalid().is_empty() {
            None
        } else {
            Some(char::REPLACEMENT_CHARACTER)
        };
        chunk.valid().chars().chain(bad).flat_map(|c| {
            let mut buf = [0u16; 2];
            let len = c.encode_utf16(&mut buf).len();
            buf.into_iter().take(len)
        })
    })
}

/// The `utf16le` (and `wide`) modifier: `cmd` → `63 00 6d 00 64 00`. Input is UTF-8; an
/// invalid sequence is encoded as U+FFFD.
pub fn utf16le(s: &[u8]) -> Vec<u8> {
    utf16_units(s).flat_map(u16::to_le_bytes).collect()
}

/// The `utf16be` modifier: `cmd` → `00 63 00 6d 00 64`.
pub fn utf16be(s: &[u8]) -> Vec<u8> {
    utf16_units(s).flat_map(u16::to_be_bytes).collect()
}

/// The `utf16` modifier: a little-endian byte order mark then UTF-16LE:
/// `cmd` → `FF FE 63 00 6d 00 64 00`.
pub fn utf16_bom(s: &[u8]) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    out.extend(utf16_units(s).flat_map(u16::to_le_bytes));
    out
}

/// The characters `windash` substitutes for each other, in the order variants are produced:
/// hyphen-minus, slash, en dash, em dash, horizontal bar.
pub const WINDASH_CHARS: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// The most variants [`windash`] produces: 5^5 = 3125 fit, six flags (15625) do not.
pub const WINDASH_MAX_VARIANTS: usize = 4096;

/// A word character as Python's `\w` on text: a letter, a digit or `_`.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The `windash` modifier: every variant of `s` in which each flag character takes each of
/// [`WINDASH_CHARS`].
///
/// A flag character is one of [`WINDASH_CHARS`] that begins a word: it is not preceded by a
/// word character (letter, digit, `_`) and is followed by one — pySigma's `\B[-/]\b`, so in
/// `-param-name` only the first dash varies, and `a-b`, `- x` and a trailing `-` do not.
/// pySigma only varies `-` and `/` found in the rule; here the three long dashes in a rule vary
/// too, so a rule copied from a document with typographic dashes still matches `-`.
/// The result has 5^n entries for n flags, the first with every flag as `-`, the last flag
/// varying fastest; it contains `s` itself. Works on the written value (before escapes are
/// read): a backslash or wildcard next to a dash is a non-word character either way.
pub fn windash(s: &str) -> Result<Vec<String>, PatternError> {
    let chars: Vec<char> = s.chars().collect();
    let flags: Vec<usize> = (0..chars.len())
        .filter(|&i| {
            WINDASH_CHARS.contains(&chars[i])
                && (i == 0 || !is_word(chars[i - 1]))
                && chars.get(i + 1).is_some_and(|&c| is_word(c))
        })
        .collect();
    let too_many = || PatternError::TooManyWindashVariants {
        value: s.to_owned(),
        flags: flags.len(),
    };
    let count = u32::try_from(flags.len())
        .ok()
        .and_then(|n| WINDASH_CHARS.len().checked_pow(n))
        .filter(|&n| n <= WINDASH_MAX_VARIANTS)
        .ok_or_else(too_many)?;
    let mut variants = Vec::with_capacity(count);
    let mut variant = chars;
    for k in 0..count {
        // k written in base 5, one digit per flag, the last flag the least significant.
        let mut rest = k;
        for &at in flags.iter().rev() {
            variant[at] = WINDASH_CHARS[rest % WINDASH_CHARS.len()];
            rest /= WINDASH_CHARS.len();
        }
        variants.push(variant.iter().collect());
    }
    Ok(variants)
}

/// A piece of a value under the `expand` modifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part<'a> {
    /// Text between placeholders, still in Sigma string syntax (wildcards and escapes other
    /// than `\%` are left for [`parse_glob`] once the placeholders are replaced).
    Lit(String),
    /// The name of a `%name%` placeholder, without the percent signs.
    Placeholder(&'a str),
}

/// Splits a value of the `expand` modifier into literal text and `%name%` placeholders
/// (a name is one or more letters, digits or `_`, as pySigma's `%\w+%`).
///
/// `\%` is a literal percent sign (it is unescaped here, as the specification's
/// `\%plain%name%` example shows); `\\` is kept as written so that [`parse_glob`] reads it as
/// one backslash later; a `%` that does not open a placeholder is literal. Consecutive literal
/// text is one `Lit`; there is no empty `Lit`.
pub fn placeholders(value: &str) -> Vec<Part<'_>> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = value;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("\\%") {
            lit.push('%');
            rest = after;
            continue;
        }
        if let Some(after) = rest.strip_prefix("\\\\") {
            lit.push_str("\\\\");
            rest = after;
            continue;
        }
        if let Some(after) = rest.strip_prefix('%') {
            let name_len = after.find(|c: char| !is_word(c)).unwrap_or(after.len());
            if name_len > 0 && after[name_len..].starts_with('%') {
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(Part::Placeholder(&after[..name_len]));
                rest = &after[name_len + 1..];
                continue;
            }
        }
        lit.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !lit.is_empty() {
        parts.push(Part::Lit(lit));
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Piece {
        Piece::Lit(s.as_bytes().to_vec())
    }

    #[test]
    fn parse_glob_escapes() {
        use Piece::{AnyMany as Many, AnyOne as One};
        // (written in the rule, after YAML, expected pieces)
        let cases: &[(&str, Vec<Piece>)] = &[
            ("", vec![]),
            ("abc", vec![lit("abc")]),
            ("prog?.exe", vec![lit("prog"), One, lit(".exe")]),
            ("antivirus_V*.exe", vec![lit("antivirus_V"), Many, lit(".exe")]),
            ("*something*", vec![Many, lit("something"), Many]),
            ("a**b", vec![lit("a"), Many, lit("b")]),
            ("a*?*b", vec![lit("a"), Many, One, Many, lit("b")]),
            ("??", vec![One, One]),
            // Specification, "Escape Character":
            // plain backslash not followed by a wildcard: single or double.
            (r"C:\Windows", vec![lit(r"C:\Windows")]),
            (r"C:\\Windows", vec![lit(r"C:\Windows")]),
            // a wildcard escaped is a plain character.
            (r"\*", vec![lit("*")]),
            (r"\?", vec![lit("?")]),
            (r"a\*b\?c", vec![lit("a*b?c")]),
            // the backslash before a wildcard escaped: backslash then wildcard.
            (r"\\*", vec![lit(r"\"), Many]),
            (r"\\?", vec![lit(r"\"), One]),
            // three backslashes: plain backslash and plain wildcard.
            (r"\\\*", vec![lit(r"\*")]),
            (r"\\\?", vec![lit(r"\?")]),
            // three or four backslashes are a double backslash.
            (r"\\\", vec![lit(r"\\")]),
            (r"\\\\", vec![lit(r"\\")]),
            (r"a\\\b", vec![lit(r"a\\b")]),
            (r"a\\\\b", vec![lit(r"a\\b")]),
            // a trailing lone backslash is literal.
            (r"dir\", vec![lit(r"dir\")]),
            (r"\", vec![lit(r"\")]),
            // SigmaHQ-style values.
            (r"\cmd.exe", vec![lit(r"\cmd.exe")]),
            // `\*` is an escaped star even after a path: a literal `*`, no wildcard.
            (r"*\AppData\Local\Temp\*", vec![Many, lit(r"\AppData\Local\Temp*")]),
            (
                r"*\AppData\Local\Temp\\*",
                vec![Many, lit(r"\AppData\Local\Temp\"), Many],
            ),
            (r"C:\Program Files\\*", vec![lit(r"C:\Program Files\"), Many]),
            ("über*ß", vec![lit("über"), Many, lit("ß")]),
        ];
        for (value, pieces) in cases {
            assert_eq!(&parse_glob(value).pieces, pieces, "parse_glob({value:?})");
        }
    }

    #[test]
    fn literal_keeps_wildcards_as_characters() {
        let cases = [
            ("", ""),
            ("a*b?c", "a*b?c"),
            (r"a\*b", "a*b"),
            (r"a\\*b", r"a\*b"),
            (r"C:\Windows", r"C:\Windows"),
            (r"C:\\Windows", r"C:\Windows"),
            (r"\\\\", r"\\"),
            ("**", "**"),
            (r"end\", r"end\"),
        ];
        for (value, expected) in cases {
            assert_eq!(literal(value), expected.as_bytes(), "literal({value:?})");
        }
    }

    #[test]
    fn as_literal_and_longest_literal() {
        // (value, as_literal, longest_literal)
        let cases: &[(&str, Option<&str>, Option<&str>)] = &[
            ("", Some(""), None),
            ("abc", Some("abc"), Some("abc")),
            (r"a\*", Some("a*"), Some("a*")),
            ("*", None, None),
            ("?*?", None, None),
            ("ab*cde*fg", None, Some("cde")),
            ("abc*def", None, Some("abc")),
            ("*x?yz*", None, Some("yz")),
        ];
        for (value, as_lit, longest) in cases {
            let glob = parse_glob(value);
            assert_eq!(glob.as_literal(), as_lit.map(str::as_bytes), "as_literal({value:?})");
            assert_eq!(
                glob.longest_literal(),
                longest.map(str::as_bytes),
                "longest_literal({value:?})"
            );
        }
    }

    #[test]
    fn surround_adds_stars_once() {
        let cases = [
            ("abc", true, true, "*abc*"),
            ("abc", true, false, "*abc"),
            ("abc", false, true, "abc*"),
            ("abc", false, false, "abc"),
            ("*abc*", true, true, "*abc*"),
            ("", true, true, "*"),
            ("", true, false, "*"),
            ("?", true, true, "*?*"),
        ];
        for (value, start, end, expected) in cases {
            assert_eq!(
                parse_glob(value).surround(start, end),
                parse_glob(expected),
                "surround({value:?}, {start}, {end})"
            );
        }
    }

    #[test]
    fn map_literals_keeps_wildcards_and_normal_form() {
        let glob = parse_glob("ab*c").map_literals(utf16le);
        assert_eq!(
            glob.pieces,
            vec![
                Piece::Lit(b"a\0b\0".to_vec()),
                Piece::AnyMany,
                Piece::Lit(b"c\0".to_vec())
            ]
        );
        // A literal that maps to nothing disappears, and the stars around it merge.
        let glob = parse_glob("*x*y").map_literals(|b| if b == b"x" { vec![] } else { b.to_vec() });
        assert_eq!(glob, parse_glob("*y"));
    }

    #[test]
    fn matches_table() {
        // (pattern, value, case-insensitive, expected)
        let cases: &[(&str, &str, bool, bool)] = &[
            ("", "", false, true),
            ("", "a", false, false),
            ("*", "", false, true),
            ("*", "anything", false, true),
            ("abc", "abc", false, true),
            ("abc", "abcd", false, false),
            ("abc", "ab", false, false),
            ("abc", "ABC", false, false),
            ("abc", "ABC", true, true),
            ("a?c", "abc", false, true),
            ("a?c", "ac", false, false),
            ("a?c", "abbc", false, false),
            ("*.exe", r"C:\cmd.exe", false, true),
            ("*.exe", r"C:\cmd.EXE", true, true),
            ("*.exe", r"C:\cmd.exe2", false, false),
            (r"*\cmd.exe", r"C:\Windows\System32\cmd.exe", true, true),
            ("prog?.exe", "progA.exe", false, true),
            ("prog?.exe", "progAB.exe", false, false),
            ("antivirus_V*.exe", "antivirus_V21.2.1.exe", false, true),
            ("*abc*", "xxabcxx", false, true),
            ("*abc*", "xxabxcxx", false, false),
            ("a*b*c", "abc", false, true),
            ("a*b*c", "aXbYc", false, true),
            ("a*b*c", "acb", false, false),
            ("*aab", "aaab", false, true),
            ("*ab*ab", "abxabab", false, true),
            ("a*", "a", false, true),
            ("*a", "", false, false),
            ("?*", "", false, false),
            ("*?", "x", false, true),
            // `?` is one character, not one byte.
            ("?", "é", false, true),
            ("??", "é", false, false),
            ("?", "€", false, true),
            ("*??", "€", false, false),
            ("*??", "€x", false, true),
            ("a?c", "a€c", false, true),
            ("a??c", "a€c", false, false),
            ("?", "😀", false, true),
            ("caf?", "café", false, true),
            // Only ASCII letters fold.
            ("é", "É", true, false),
            ("straße", "STRAßE", true, true),
            // Escaped wildcards are literal.
            (r"a\*b", "a*b", false, true),
            (r"a\*b", "axb", false, false),
            (r"\\*", r"\anything", false, true),
        ];
        for &(pattern, value, ic, expected) in cases {
            assert_eq!(
                parse_glob(pattern).matches(value.as_bytes(), ic),
                expected,
                "{pattern:?} on {value:?} (ignore case: {ic})"
            );
        }
    }

    #[test]
    fn matches_invalid_utf8_one_byte_per_character() {
        let cases: &[(&str, &[u8], bool)] = &[
            ("?", b"\xff", true),
            ("??", b"\xff\xfe", true),
            ("a?b", b"a\xc3b", true), // a lead byte without its continuation
            ("a??b", b"a\xc3b", false),
            ("*b", b"\xe2\x82b", true),
            ("*?b", b"\xe2\x82b", true),
        ];
        for &(pattern, value, expected) in cases {
            assert_eq!(
                parse_glob(pattern).matches(value, false),
                expected,
                "{pattern:?} on {value:?}"
            );
        }
    }

    #[test]
    fn matches_long_values_without_blowup() {
        // Exponential backtracking would never finish these.
        let long_a = "a".repeat(20_000);
        let glob = parse_glob("*a*a*a*a*a*a*a*a*b");
        assert!(!glob.matches(long_a.as_bytes(), false));
        assert!(glob.matches(format!("{long_a}b").as_bytes(), false));
        let glob = parse_glob("*a*b*c");
        let mut value = "ab".repeat(10_000);
        assert!(!glob.matches(value.as_bytes(), true));
        value.push('C');
        assert!(glob.matches(value.as_bytes(), true));
        assert!(!glob.matches(value.as_bytes(), false));
        let glob = parse_glob("*?a?*b");
        assert!(!glob.matches("€a".repeat(10_000).as_bytes(), false));
    }

    /// A slow, obviously right matcher over characters, to cross-check `matches`.
    fn reference(pattern: &[Piece], hay: &[char], ic: bool) -> bool {
        match pattern.split_first() {
            None => hay.is_empty(),
            Some((Piece::AnyMany, rest)) => (0..=hay.len()).any(|i| reference(rest, &hay[i..], ic)),
            Some((Piece::AnyOne, rest)) => !hay.is_empty() && reference(rest, &hay[1..], ic),
            Some((Piece::Lit(lit), rest)) => {
                let lit: Vec<char> = String::from_utf8_lossy(lit).chars().collect();
                hay.len() >= lit.len()
                    && hay
                        .iter()
                        .zip(&lit)
                        .all(|(a, b)| if ic { a.eq_ignore_ascii_case(b) } else { a == b })
                    && reference(rest, &hay[lit.len()..], ic)
            }
        }
    }

    #[test]
    fn matches_agrees_with_reference_on_all_small_cases() {
        let alphabet = ["a", "B", "é", "*", "?"];
        let hays = [
            "", "a", "A", "b", "ab", "aB", "ba", "aé", "éa", "aab", "abab", "aéB", "Béa",
        ];
        // Every pattern of up to four symbols over the alphabet.
        let mut patterns = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = patterns
                .iter()
                .flat_map(|p| alphabet.iter().map(move |s| format!("{p}{s}")))
                .collect();
            patterns.extend(longer);
        }
        patterns.sort();
        patterns.dedup();
        for pattern in &patterns {
            let glob = parse_glob(pattern);
            for hay in hays {
                let chars: Vec<char> = hay.chars().collect();
                for ic in [false, true] {
                    assert_eq!(
                        glob.matches(hay.as_bytes(), ic),
                        reference(&glob.pieces, &chars, ic),
                        "{pattern:?} on {hay:?} (ignore case: {ic})"
                    );
                }
            }
        }
    }

    #[test]
    fn base64_known_answers() {
        let cases: &[(&[u8], &str)] = &[
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
            (b"/bin/bash", "L2Jpbi9iYXNo"),
            (b"\xff\xfe\x00", "//4A"),
        ];
        for (bytes, expected) in cases {
            assert_eq!(base64(bytes), expected.as_bytes(), "base64({bytes:?})");
        }
    }

    #[test]
    fn base64_offsets_known_answers() {
        // Computed with pySigma's slicing of b64encode(shift * b" " + value).
        let cases: &[(&str, [&str; 3])] = &[
            ("/bin/bash", ["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]),
            ("http://", ["aHR0cDovL", "h0dHA6Ly", "odHRwOi8v"]),
            ("cmd", ["Y21k", "NtZ", "jbW"]),
            ("abcd", ["YWJjZ", "FiY2", "hYmNk"]),
            ("ab", ["YW", "Fi", "hY"]),
            ("a", ["Y", "", "h"]),
            ("", ["", "", ""]),
        ];
        for (value, expected) in cases {
            let got = base64_offsets(value.as_bytes());
            let expected = expected.map(|s| s.as_bytes().to_vec());
            assert_eq!(got, expected, "base64_offsets({value:?})");
        }
    }

    #[test]
    fn base64_offsets_occur_in_the_encoding_of_a_longer_string() {
        let value = b"IEX (New-Object Net.WebClient)";
        let variants = base64_offsets(value);
        for prefix in 0..9 {
            for suffix in 0..4 {
                let mut whole = b"xyzzy-prefix"[..prefix].to_vec();
                whole.extend_from_slice(value);
                whole.extend_from_slice(&b"!tail"[..suffix]);
                let encoded = base64(&whole);
                let needle = &variants[prefix % 3];
                assert!(
                    encoded.windows(needle.len()).any(|w| w == needle.as_slice()),
                    "variant {} not in base64 of {}",
                    prefix % 3,
                    String::from_utf8_lossy(&whole)
                );
            }
        }
    }

    type Bytes<'a> = &'a [u8];

    #[test]
    fn utf16_encodings() {
        // (value, le, be, with bom)
        let cases: &[(&str, Bytes, Bytes, Bytes)] = &[
            ("", b"", b"", b"\xff\xfe"),
            ("cmd", b"c\0m\0d\0", b"\0c\0m\0d", b"\xff\xfec\0m\0d\0"),
            ("é", b"\xe9\x00", b"\x00\xe9", b"\xff\xfe\xe9\x00"),
            ("€", b"\xac\x20", b"\x20\xac", b"\xff\xfe\xac\x20"),
            (
                "😀",
                b"\x3d\xd8\x00\xde",
                b"\xd8\x3d\xde\x00",
                b"\xff\xfe\x3d\xd8\x00\xde",
            ),
        ];
        for (value, le, be, bom) in cases {
            assert_eq!(utf16le(value.as_bytes()), *le, "utf16le({value:?})");
            assert_eq!(utf16be(value.as_bytes()), *be, "utf16be({value:?})");
            assert_eq!(utf16_bom(value.as_bytes()), *bom, "utf16_bom({value:?})");
        }
        // The specification's example, as written there.
        assert_eq!(utf16le(b"cmd"), [0x63, 0x00, 0x6d, 0x00, 0x64, 0x00]);
        assert_eq!(utf16be(b"cmd"), [0x00, 0x63, 0x00, 0x6d, 0x00, 0x64]);
        assert_eq!(utf16_bom(b"cmd"), [0xFF, 0xFE, 0x63, 0x00, 0x6d, 0x00, 0x64, 0x00]);
        // Invalid UTF-8 becomes U+FFFD.
        assert_eq!(utf16le(b"a\xffb"), b"a\0\xfd\xffb\0");
    }

    #[test]
    fn windash_variants() {
        // (value, number of variants, some expected members)
        let cases: &[(&str, usize, &[&str])] = &[
            ("", 1, &[""]),
            ("whoami", 1, &["whoami"]),
            (
                "-enc",
                5,
                &["-enc", "/enc", "\u{2013}enc", "\u{2014}enc", "\u{2015}enc"],
            ),
            ("/enc", 5, &["-enc", "/enc"]),
            ("\u{2013}enc", 5, &["-enc", "/enc"]),
            (
                " -s -i cmd",
                25,
                &[" -s -i cmd", " /s -i cmd", " -s /i cmd", " /s /i cmd"],
            ),
            // Only the dash that begins a word varies.
            ("-param-name", 5, &["-param-name", "/param-name"]),
            ("a-b", 1, &["a-b"]),
            ("- x", 1, &["- x"]),
            ("x -", 1, &["x -"]),
            ("--long", 5, &["--long", "-/long"]),
            ("1-2", 1, &["1-2"]),
            ("_-x", 1, &["_-x"]),
            ("é-x", 1, &["é-x"]),
            ("(-x", 5, &["(/x"]),
            ("*-x", 5, &["*/x"]),
            (r"C:\Windows\system32/x", 1, &[r"C:\Windows\system32/x"]),
            ("-a -b -c -d -e", 3125, &["/a /b /c /d /e", "-a -b -c -d -e"]),
        ];
        for (value, count, members) in cases {
            let variants = windash(value).unwrap_or_else(|e| panic!("windash({value:?}): {e}"));
            assert_eq!(variants.len(), *count, "windash({value:?}): {variants:?}");
            let mut unique = variants.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), variants.len(), "windash({value:?}) has duplicates");
            for member in *members {
                assert!(
                    variants.iter().any(|v| v == member),
                    "windash({value:?}) lacks {member:?}"
                );
            }
        }
        // Order: every flag `-` first, the last flag varying fastest.
        assert_eq!(
            windash(" -s -i").ok().map(|v| v[..3].to_vec()),
            Some(vec![
                " -s -i".to_owned(),
                " -s /i".to_owned(),
                " -s \u{2013}i".to_owned()
            ])
        );
    }

    #[test]
    fn windash_refuses_too_many_variants() {
        let err = windash("-a -b -c -d -e -f").err();
        assert_eq!(
            err,
            Some(PatternError::TooManyWindashVariants {
                value: "-a -b -c -d -e -f".to_owned(),
                flags: 6
            })
        );
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("6 flag characters"), "{message}");
        assert!(windash(&"-x ".repeat(1000)).is_err());
    }

    #[test]
    fn placeholders_table() {
        use Part::{Lit as L, Placeholder as P};
        let l = |s: &str| L(s.to_owned());
        let cases: &[(&str, Vec<Part<'_>>)] = &[
            ("", vec![]),
            ("plain", vec![l("plain")]),
            ("%Servers%", vec![P("Servers")]),
            ("srv-%Servers%.corp", vec![l("srv-"), P("Servers"), l(".corp")]),
            ("%a%%b%", vec![P("a"), P("b")]),
            // Specification: `\%plain%name%` is `%plain` then the placeholder `name`.
            (r"\%plain%name%", vec![l("%plain"), P("name")]),
            (r"\%x\%", vec![l("%x%")]),
            // Not placeholders: an empty name, a name with other characters, no closing `%`.
            ("100%", vec![l("100%")]),
            ("%%", vec![l("%%")]),
            ("%a b%", vec![l("%a b%")]),
            ("%open", vec![l("%open")]),
            ("50% of %x%", vec![l("50% of "), P("x")]),
            // Other escapes are left for parse_glob.
            (r"\\%x%", vec![l(r"\\"), P("x")]),
            (r"a\*%x%", vec![l(r"a\*"), P("x")]),
            ("*%Admins%*", vec![l("*"), P("Admins"), l("*")]),
            ("%über_1%", vec![P("über_1")]),
        ];
        for (value, expected) in cases {
            assert_eq!(&placeholders(value), expected, "placeholders({value:?})");
        }
    }
}
