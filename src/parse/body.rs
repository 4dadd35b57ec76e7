//! Mail body lines → the URLs in them, through the transfer encodings that hide them.
//!
//! An MTA that logs the body lines of a message (Postfix `body_checks`) logs them as they were
//! sent: a quoted-printable part wraps long lines with a soft break (`=` at the end of a line of at
//! most 76 characters) and writes `=` as `=3D`, so a link may be split across two lines; a base64
//! part shows no link at all. A [`BodyDecoder`] takes the body lines of one message in order (and
//! its logged MIME headers), joins soft breaks, decodes `=XX` escapes and base64 runs, and adds
//! every `http(s)://` URL it finds to the message's list, once each; [`extract_urls`] is the scan
//! all of them end in.
//!
//! It must never change what an ordinary body line (neither quoted-printable nor base64) yields,
//! nor allocate for one: decoding starts only on evidence (a declared `Content-Transfer-Encoding`,
//! a `=3D` escape, a soft break, a run of full-width base64 lines). What it holds between lines is
//! bounded per message; past a bound text is dropped, never a panic.

use std::borrow::Cow;

/// Postfix logs at most this many bytes of a body line; a line this long may have been cut, so
/// its last `=` is no soft break.
const LOGGED_MAX: usize = 200;
/// Lengths of a line that a soft break ends, when nothing else says quoted-printable: RFC 2045
/// allows 76 characters, and an encoder breaks a line (inside a word or URL) only when it is
/// nearly full, so a shorter line ending in `=` (`...?email=`) is taken as written.
const QP_WRAPPED: std::ops::RangeInclusive<usize> = 60..=76;
/// Decoded text held between lines waiting for the rest of its token (a URL cut by a soft break
/// or by a base64 line); an unbroken token longer than this is no URL worth keeping and is dropped.
const PENDING_MAX: usize = 8 * 1024;
/// Base64 bytes decoded per message: the HTML of a mail, not its attachments.
const BASE64_BUDGET: usize = 64 * 1024;
/// Full-width lines an undeclared base64 run needs before it is taken for one.
const BASE64_MIN_RUN: u32 = 3;
/// Widths (a multiple of 4) of the lines of an undeclared base64 run: 76 is RFC 2045's, some
/// mailers write 64 or 72.
const BASE64_WIDTHS: std::ops::RangeInclusive<usize> = 60..=76;

/// The body state of one message. Feed it the message's lines in log order: [`Self::line`] for a
/// body line, [`Self::header`] for a header or MIME part header, and [`Self::finish`] once the
/// message ends. Every URL found is pushed to the `urls` given.
#[derive(Debug, Default)]
pub struct BodyDecoder {
    /// Decoded text not scanned yet: the unfinished end of a quoted-printable line or base64 run.
    pending: Vec<u8>,
    mode: Mode,
    part: Part,
    /// Base64 bytes decoded so far in this message.
    decoded: usize,
    /// The last line was a header: the next header is of the same header block.
    in_headers: bool,
}

#[derive(Debug, Default)]
enum Mode {
    #[default]
    Text,
    /// Inside a quoted-printable line continued by a soft break; `cut` is an escape the break
    /// split (`=` or `=3`), completed by the next line.
    Qp {
        cut: Cut,
    },
    Base64(Run),
}

/// An escape split by a soft break.
#[derive(Debug, Default, Clone, Copy)]
struct Cut {
    bytes: [u8; 2],
    len: u8,
}

/// A run of base64 lines.
#[derive(Debug)]
struct Run {
    /// Length of the run's full lines (an undeclared run must keep to it).
    width: usize,
    /// Full-width lines so far.
    full: u32,
    /// Declared by its part's `Content-Transfer-Encoding`, or long enough to be sure.
    sure: bool,
    /// A padded or short line was the run's last.
    ended: bool,
    /// Decode nothing more: a part that is not text, or the budget is spent.
    skip: bool,
    /// The budget ran out inside the run, so its last token is cut.
    truncated: bool,
}

/// What the headers of the current MIME part (or of the message) declare.
#[derive(Debug, Default, Clone, Copy)]
struct Part {
    encoding: Encoding,
    /// Its `Content-Type` is not text (an image, an application): nothing to decode.
    not_text: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    #[default]
    Unknown,
    QuotedPrintable,
    Base64,
}

impl Part {
    /// Takes `Content-Transfer-Encoding` and `Content-Type`; ignores every other header.
    fn apply(&mut self, name: &str, value: &str) {
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-transfer-encoding") {
            self.encoding = if value.eq_ignore_ascii_case("quoted-printable") {
                Encoding::QuotedPrintable
            } else if value.eq_ignore_ascii_case("base64") {
                Encoding::Base64
            } else {
                Encoding::Unknown
            };
        } else if name.eq_ignore_ascii_case("content-type") {
            let b = value.as_bytes();
            self.not_text = !value.is_empty()
                && !["text/", "multipart/", "message/"]
                    .iter()
                    .any(|t| starts_with_ci(b, t.as_bytes()));
        }
    }
}

impl BodyDecoder {
    /// One body line as logged (Postfix cuts it at 200 bytes).
    pub fn line(&mut self, text: &str, urls: &mut Vec<Cow<'static, str>>) {
        self.in_headers = false;
        let b = text.as_bytes();
        match &mut self.mode {
            Mode::Text => {}
            // A boundary ends any part, a soft break notwithstanding.
            Mode::Qp { cut } if !is_boundary(b) => {
                let cut = std::mem::take(cut);
                let soft = b.last() == Some(&b'=') && b.len() < LOGGED_MAX;
                self.qp(b, cut, soft, urls);
                return;
            }
            Mode::Qp { .. } => self.end(urls),
            Mode::Base64(run) => {
                if run.take(b, &mut self.pending, &mut self.decoded) {
                    self.settle_run(urls);
                    return;
                }
                self.end(urls);
            }
        }
        if is_boundary(b) {
            self.part = Part::default();
        } else if let Some((name, value)) = mime_header(text) {
            // MIME part headers reach body_checks when MIME processing is off.
            self.part.apply(name, value);
        } else if let Some(mut run) = self.run_start(b)
            && run.take(b, &mut self.pending, &mut self.decoded)
        {
            self.mode = Mode::Base64(run);
            self.settle_run(urls);
            return;
        }
        if memchr::memchr(b'=', b).is_none() {
            return extract_urls(text, urls);
        }
        let declared = self.part.encoding == Encoding::QuotedPrintable;
        let escapes = has_3d(b);
        let soft = is_soft_break(b, declared || escapes);
        if !(soft || declared || escapes) {
            return extract_urls(text, urls);
        }
        self.qp(b, Cut::default(), soft, urls);
    }

    /// A logged header of the message or of one of its MIME parts (`Content-Transfer-Encoding`
    /// and `Content-Type` matter). A header after body lines starts a new part.
    pub fn header(&mut self, name: &str, value: &str, urls: &mut Vec<Cow<'static, str>>) {
        if !self.in_headers {
            self.end(urls);
            self.part = Part::default();
            self.in_headers = true;
        }
        self.part.apply(name, value);
    }

    /// The message has ended: scans what is still pending.
    pub fn finish(&mut self, urls: &mut Vec<Cow<'static, str>>) {
        self.end(urls);
    }

    /// Ends a quoted-printable line or base64 run and scans what it left.
    fn end(&mut self, urls: &mut Vec<Cow<'static, str>>) {
        match std::mem::take(&mut self.mode) {
            Mode::Text => {}
            Mode::Qp { cut } => {
                // An escape cut at the very end is kept as written.
                self.pending.extend_from_slice(&cut.bytes[..usize::from(cut.len)]);
                self.scan_all(urls);
            }
            Mode::Base64(run) if run.sure && !run.truncated => self.scan_all(urls),
            Mode::Base64(run) => {
                if run.sure {
                    self.scan_ready(urls);
                }
                self.pending.clear();
            }
        }
    }

    /// Decodes one quoted-printable line (`cut`: an escape the previous line's soft break split);
    /// with a soft break it continues on the next line, else the logical line is complete.
    fn qp(&mut self, b: &[u8], cut: Cut, soft: bool, urls: &mut Vec<Cow<'static, str>>) {
        let text = if soft { &b[..b.len() - 1] } else { b };
        let next = if cut.len == 0 {
            decode_qp(text, soft, &mut self.pending)
        } else {
            // Rare (a mailer that breaks inside an escape): join the pieces.
            let mut joined = cut.bytes[..usize::from(cut.len)].to_vec();
            joined.extend_from_slice(text);
            decode_qp(&joined, soft, &mut self.pending)
        };
        if soft {
            self.mode = Mode::Qp { cut: next };
            self.scan_ready(urls);
        } else {
            self.mode = Mode::Text;
            self.scan_all(urls);
        }
    }

    /// A base64 run that `b` would start: any base64 line in a part declared base64, else a line
    /// of a usual full width (such a run is only believed once it is long).
    fn run_start(&self, b: &[u8]) -> Option<Run> {
        let declared = self.part.encoding == Encoding::Base64;
        // The width first: it turns away nearly every ordinary line without reading it.
        if !declared && (!b.len().is_multiple_of(4) || !BASE64_WIDTHS.contains(&b.len())) {
            return None;
        }
        if base64_shape(b)?.padded && !declared {
            return None;
        }
        Some(Run {
            width: b.len(),
            full: 0,
            sure: declared,
            ended: false,
            skip: self.part.not_text || self.decoded >= BASE64_BUDGET,
            truncated: false,
        })
    }

    /// After a base64 line: scans what is complete once the run is sure.
    fn settle_run(&mut self, urls: &mut Vec<Cow<'static, str>>) {
        let Mode::Base64(run) = &mut self.mode else {
            return;
        };
        if !run.sure && run.full >= BASE64_MIN_RUN {
            run.sure = true;
        }
        let sure = run.sure;
        if sure {
            self.scan_ready(urls);
        }
    }

    /// Scans the pending text up to its last delimiter (no URL runs across one) and keeps the
    /// rest; drops an unbroken rest longer than any URL worth keeping.
    fn scan_ready(&mut self, urls: &mut Vec<Cow<'static, str>>) {
        if let Some(d) = self.pending.iter().rposition(|&c| is_url_end(c)) {
            extract_urls(&String::from_utf8_lossy(&self.pending[..=d]), urls);
            self.pending.drain(..=d);
        }
        if self.pending.len() > PENDING_MAX {
            self.pending.clear();
        }
    }

    fn scan_all(&mut self, urls: &mut Vec<Cow<'static, str>>) {
        extract_urls(&String::from_utf8_lossy(&self.pending), urls);
        self.pending.clear();
    }
}

impl Run {
    /// Takes `b` when it continues the run, decoding it into `out` within the message's budget.
    fn take(&mut self, b: &[u8], out: &mut Vec<u8>, decoded: &mut usize) -> bool {
        if self.ended {
            return false;
        }
        let Some(shape) = base64_shape(b) else {
            return false;
        };
        if !self.sure {
            // An undeclared run keeps to its width; a padded or shorter line is its last.
            if b.len() > self.width || !b.len().is_multiple_of(4) {
                return false;
            }
            if b.len() == self.width && !shape.padded {
                self.full += 1;
            } else {
                self.ended = true;
            }
        } else {
            self.full += 1;
            self.ended = shape.padded;
        }
        if self.skip {
            return true;
        }
        let start = out.len();
        decode_base64(b, out);
        *decoded += out.len() - start;
        if *decoded > BASE64_BUDGET {
            out.truncate(out.len() - (*decoded - BASE64_BUDGET));
            *decoded = BASE64_BUDGET;
            self.skip = true;
            self.truncated = true;
        }
        true
    }
}

/// A line's shape as base64: `None` unless it is made of the base64 alphabet only, with at most
/// two `=` of padding at its end.
struct Shape {
    padded: bool,
}

fn base64_shape(b: &[u8]) -> Option<Shape> {
    let body = b.strip_suffix(b"==").or_else(|| b.strip_suffix(b"=")).unwrap_or(b);
    let ok = !body.is_empty()
        && body
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/');
    ok.then_some(Shape {
        padded: body.len() < b.len(),
    })
}

/// Appends the decoded base64 `text` to `out`; stops at the first `=` (padding). False, with
/// `out` holding what came before, at a byte outside the alphabet.
pub fn decode_base64(text: &[u8], out: &mut Vec<u8>) -> bool {
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in text {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return false,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    true
}

/// Appends decoded quoted-printable `text` (its soft break removed) to `out`. With `more` (a soft
/// break follows) an escape cut at its end is returned for the next line to complete; `=` that
/// begins no escape is kept as written.
fn decode_qp(text: &[u8], more: bool, out: &mut Vec<u8>) -> Cut {
    let mut i = 0;
    while let Some(j) = memchr::memchr(b'=', &text[i..]).map(|j| i + j) {
        out.extend_from_slice(&text[i..j]);
        let rest = &text[j..];
        if let Some(v) = rest.get(1..3).and_then(|h| hex_pair(h[0], h[1])) {
            out.push(v);
            i = j + 3;
        } else if more && rest.len() <= 2 && rest[1..].iter().all(u8::is_ascii_hexdigit) {
            let mut cut = Cut {
                len: rest.len() as u8,
                ..Cut::default()
            };
            cut.bytes[..rest.len()].copy_from_slice(rest);
            return cut;
        } else {
            out.push(b'=');
            i = j + 1;
        }
    }
    out.extend_from_slice(&text[i..]);
    Cut::default()
}

fn hex_pair(hi: u8, lo: u8) -> Option<u8> {
    let d = |c: u8| (c as char).to_digit(16);
    Some((d(hi)? * 16 + d(lo)?) as u8)
}

/// A `=3D` escape (any case), as a quoted-printable HTML attribute always has.
fn has_3d(b: &[u8]) -> bool {
    memchr::memmem::find_iter(b, b"=3").any(|i| b.get(i + 2).is_some_and(|c| c.eq_ignore_ascii_case(&b'd')))
}

/// Whether `b` ends in a quoted-printable soft break. A line that may have been cut never does;
/// without other evidence (`qp`) the line must also have the length of a wrapped one, and every
/// other `=` in it must begin an escape (`?id=Ab12&x=` does not).
fn is_soft_break(b: &[u8], qp: bool) -> bool {
    let Some((&b'=', text)) = b.split_last() else {
        return false;
    };
    if b.len() >= LOGGED_MAX {
        return false;
    }
    qp || (QP_WRAPPED.contains(&b.len())
        && memchr::memchr_iter(b'=', text).all(|j| {
            text.get(j + 1..j + 3)
                .is_some_and(|h| h.iter().all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c)))
        }))
}

/// A MIME boundary line (`--` and a boundary, or its closing form), not a `-- ` signature.
fn is_boundary(b: &[u8]) -> bool {
    b.len() > 2 && b.starts_with(b"--") && !b[2].is_ascii_whitespace()
}

/// `Content-Transfer-Encoding: v` or `Content-Type: v` at the start of a body line.
fn mime_header(text: &str) -> Option<(&str, &str)> {
    if !text.as_bytes().first().is_some_and(|c| c.eq_ignore_ascii_case(&b'c')) {
        return None;
    }
    let (name, value) = text.split_once(':')?;
    (name.eq_ignore_ascii_case("content-transfer-encoding") || name.eq_ignore_ascii_case("content-type"))
        .then_some((name, value))
}

/// Bytes that end a URL in text.
fn is_url_end(c: u8) -> bool {
    c.is_ascii_whitespace() || matches!(c, b'"' | b'\'' | b'<' | b'>' | b'`')
}

/// Adds every `http://` or `https://` URL in `text` to `urls`, once each, with the HTML entities
/// an attribute may write in it decoded (`&amp;`, `&#61;`, ...).
pub fn extract_urls(text: &str, urls: &mut Vec<Cow<'static, str>>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let Some(p) = memchr::memchr2(b'h', b'H', &b[i..]).map(|p| p + i) else {
            break;
        };
        let scheme = if starts_with_ci(&b[p..], b"https://") {
            8
        } else if starts_with_ci(&b[p..], b"http://") {
            7
        } else {
            i = p + 1;
            continue;
        };
        let end = b[p..].iter().position(|&c| is_url_end(c)).map_or(b.len(), |n| p + n);
        // `end` is at an ASCII byte or the end, so it is a char boundary.
        let url = text[p..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '}']);
        if url.len() > scheme {
            let owned = decode_entities(url);
            if !urls.iter().any(|u| *u == owned) {
                urls.push(Cow::Owned(owned));
            }
        }
        i = end.max(p + 1);
    }
}

/// `url` with the entities HTML writes for `&` and `=` decoded.
fn decode_entities(url: &str) -> String {
    // (entity, its character, matched in any case)
    const ENTITIES: &[(&str, char, bool)] = &[
        ("&amp;", '&', false),
        ("&#38;", '&', false),
        ("&#x26;", '&', true),
        ("&#61;", '=', false),
        ("&#x3d;", '=', true),
    ];
    let Some(first) = memchr::memchr(b'&', url.as_bytes()) else {
        return url.to_owned();
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(&url[..first]);
    let mut rest = &url[first..];
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let hit = ENTITIES.iter().find(|(e, _, ci)| {
            if *ci {
                starts_with_ci(rest.as_bytes(), e.as_bytes())
            } else {
                rest.starts_with(e)
            }
        });
        match hit {
            Some((e, c, _)) => {
                out.push(*c);
                rest = &rest[e.len()..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn starts_with_ci(b: &[u8], prefix: &[u8]) -> bool {
    b.len() >= prefix.len() && b[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The URLs `lines` (one message's body lines) give.
    fn urls(lines: &[&str]) -> Vec<String> {
        let (mut d, mut urls) = (BodyDecoder::default(), Vec::new());
        for l in lines {
            d.line(l, &mut urls);
        }
        d.finish(&mut urls);
        urls.into_iter().map(Cow::into_owned).collect()
    }

    #[test]
    fn quoted_printable_decoding() {
        // (line, a soft break follows, decoded, escape left for the next line)
        let cases: &[(&str, bool, &str, &str)] = &[
            ("a=3Db=20c=0Ad", false, "a=b c\nd", ""),
            ("lower=3d case", false, "lower= case", ""),
            ("not=an=escape=", false, "not=an=escape=", ""),
            ("cut=3", true, "cut", "=3"),
            ("cut=", true, "cut", "="),
            ("cut=3", false, "cut=3", ""),
            ("bad=Z", true, "bad=Z", ""),
            ("Gr=C3=BC=C3=9Fe", false, "Grüße", ""),
        ];
        for (line, more, want, want_cut) in cases {
            let mut out = Vec::new();
            let cut = decode_qp(line.as_bytes(), *more, &mut out);
            assert_eq!(String::from_utf8_lossy(&out), *want, "{line}");
            assert_eq!(&cut.bytes[..usize::from(cut.len)], want_cut.as_bytes(), "{line}");
        }
    }

    #[test]
    fn soft_breaks() {
        let long = format!("{}=", "x".repeat(*QP_WRAPPED.end()));
        let wrapped = format!("see https://a.example/{}=", "p".repeat(50));
        let escaped = format!("caf=C3=A9 https://a.example/{}=", "p".repeat(40));
        let cut = format!("{}=3D=", "x".repeat(LOGGED_MAX));
        // (line, other evidence of quoted-printable, is a soft break)
        let cases: &[(&str, bool, bool)] = &[
            (&wrapped, false, true),
            (&escaped, false, true),
            ("see https://a.example/unsubscribe?email=", false, false),
            ("see https://a.example/unsubscribe?email=", true, true),
            ("https://a.example/?t=dGVzdA==", false, false),
            ("https://a.example/?sig=x9=", false, false),
            ("https://a.example/?sig=x9=", true, true),
            ("no break", true, false),
            (&long, false, false),
            (&long, true, true),
            (&cut, true, false),
            ("", true, false),
        ];
        for (line, qp, want) in cases {
            assert_eq!(is_soft_break(line.as_bytes(), *qp), *want, "{line}");
        }
    }

    #[test]
    fn entities_in_urls() {
        let got = urls(&[
            "<a href=\"https://a.example/?x&#61;1&#x3D;2&#X3d;3&amp;y&#38;z&#x26;w&lt;&\">",
            "https://b.example/q?a=1&amp;b=2",
        ]);
        assert_eq!(
            got,
            ["https://a.example/?x=1=2=3&y&z&w&lt;&", "https://b.example/q?a=1&b=2"]
        );
    }

    /// `=20`, `=0A` ... in an ordinary query stay as written without a `=3D` or a soft break.
    #[test]
    fn query_that_looks_escaped_is_untouched() {
        assert_eq!(
            urls(&["https://a.example/?w=20&h=0A&c=FF more"]),
            ["https://a.example/?w=20&h=0A&c=FF"]
        );
        // With a `=3D` on the line it is quoted-printable: `=20` is a space.
        assert_eq!(
            urls(&["href=3D\"https://a.example/?q=3Da=20b\""]),
            ["https://a.example/?q=a"]
        );
    }

    #[test]
    fn short_base64_runs_are_not_decoded() {
        // "<a href="https://a.example/x"> padding padding padding" in 76-character lines.
        let enc =
            crate::rules::pattern::base64(format!("<a href=\"https://a.example/x\">{}", " pad".repeat(40)).as_bytes());
        let lines: Vec<&str> = enc.chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect();
        assert!(lines.len() > BASE64_MIN_RUN as usize);
        assert_eq!(urls(&lines), ["https://a.example/x"]);
        // Two full lines and the end of the run: too short to be believed without a header.
        assert!(urls(&[lines[0], lines[1], "--b1--"]).is_empty());
        // A declared part is decoded from its first line.
        let (mut d, mut found) = (BodyDecoder::default(), Vec::new());
        d.header("Content-Transfer-Encoding", "base64", &mut found);
        d.line(lines[0], &mut found);
        d.line(lines[1], &mut found);
        d.line("--b1--", &mut found);
        assert_eq!(found, ["https://a.example/x"]);
    }

    #[test]
    fn pending_text_is_bounded() {
        let (mut d, mut found) = (BodyDecoder::default(), Vec::new());
        d.line("x=3D\"https://a.example/=", &mut found);
        let filler = format!("{}=", "=41".repeat(25));
        for _ in 0..10_000 {
            d.line(&filler, &mut found);
            assert!(d.pending.len() <= PENDING_MAX + filler.len());
        }
        d.line("end https://b.example/", &mut found);
        d.finish(&mut found);
        assert_eq!(found, ["https://b.example/"]);
    }

    /// Arbitrary lines of the bytes that matter here (`=`, hex, base64, delimiters, a scheme),
    /// with headers between them: no panic, and the pending text stays bounded.
    #[test]
    fn never_panics_on_arbitrary_lines() {
        const PIECES: &[&str] = &[
            "=", "3", "D", "A", "a", "0", "+", "/", " ", "\"", "<", "-", "--", "https://", "h", "=3D", "=C3", "é",
            "PGh0bWw+",
        ];
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let (mut d, mut found) = (BodyDecoder::default(), Vec::new());
        for i in 0..20_000 {
            let mut line = String::new();
            let target = next(LOGGED_MAX + 10);
            while line.len() < target {
                line.push_str(PIECES[next(PIECES.len())]);
            }
            match next(50) {
                0 => d.header(
                    "Content-Transfer-Encoding",
                    ["base64", "quoted-printable", "7bit"][i % 3],
                    &mut found,
                ),
                1 => d.finish(&mut found),
                _ => d.line(&line, &mut found),
            }
            assert!(d.pending.len() <= PENDING_MAX + LOGGED_MAX, "{}", d.pending.len());
            found.clear();
        }
        d.finish(&mut found);
    }
}
