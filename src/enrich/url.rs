//! URL analysis: splits a URL into host, registered domain, path and query tokens, and answers
//! the questions a tracking-link detector asks of it — which parts look like unique per-recipient
//! tokens, does one of them encode the recipient's address, what is the campaign's URL template,
//! is it likely a tracking pixel, is it a shortener or a redirector.
//!
//! It must never panic, whatever the input (URLs come from hostile logs), and never fetch
//! anything. It does no full RFC 3986 validation: it is lenient and takes what it can.
//!
//! # Design
//! - [`analyze`] borrows the input: the host is borrowed unless it had upper-case letters, and
//!   tokens are slices of the input. The one allocation per call is the token vector.
//! - The registered domain comes from the Public Suffix List compiled into the `psl` crate
//!   (`link.ft.com` -> `ft.com`, `a.b.co.uk` -> `b.co.uk`); an unknown TLD counts as a public
//!   suffix (`x.y.example` -> `y.example`); IP hosts and single labels have none. IDN hosts are
//!   left as given (punycode stays punycode).
//! - Tokens are path segments, the stem of a segment before a short extension
//!   (`ae85…c1.gif` -> `ae85…c1`), query values and the fragment. Each is classified on its
//!   percent-decoded bytes: [`Alphabet`], decoded length and Shannon entropy. [`is_token_like`]
//!   documents what counts as a unique token.
//! - [`RecipientKeys`] precomputes every encoding of one address once (plain, base64, base64url,
//!   hex, MD5/SHA-1/SHA-256 hex of the lower-cased address) as memchr finders, so checking many
//!   URLs against one recipient is a handful of substring searches per token.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use md5::{Digest, Md5};
use memchr::memmem;
use sha1::Sha1;
use sha2::Sha256;

/// Registered domains of URL shorteners (a link there only redirects; the target is hidden).
pub const SHORTENERS: &[&str] = &[
    "bit.ly",
    "bitly.com",
    "t.co",
    "tinyurl.com",
    "ow.ly",
    "lnkd.in",
    "goo.gl",
    "is.gd",
    "v.gd",
    "buff.ly",
    "rebrand.ly",
    "cutt.ly",
    "t.ly",
    "rb.gy",
    "tiny.cc",
    "shorturl.at",
    "bl.ink",
    "s.id",
    "amzn.to",
    "fb.me",
    "youtu.be",
    "trib.al",
    "dlvr.it",
    "ift.tt",
    "soo.gd",
    "clck.ru",
    "shorte.st",
    "adf.ly",
    "qr.net",
    "1url.com",
    "short.io",
    "tr.im",
    "x.co",
    "wp.me",
    "flip.it",
];

/// Redirectors: `(host, path prefix)`. The host matches itself and its subdomains; an empty
/// prefix matches every path. These wrap another URL in a query parameter.
pub const REDIRECTORS: &[(&str, &str)] = &[
    ("google.com", "/url"),
    ("safelinks.protection.outlook.com", ""),
    ("urldefense.proofpoint.com", ""),
    ("urldefense.com", ""),
    ("l.facebook.com", ""),
    ("lm.facebook.com", ""),
    ("l.instagram.com", ""),
    ("l.messenger.com", ""),
    ("out.reddit.com", ""),
    ("youtube.com", "/redirect"),
    ("t.umblr.com", "/redirect"),
    ("href.li", ""),
    ("slack-redir.net", ""),
    ("away.vk.com", ""),
    ("linkprotect.cudasvc.com", ""),
    ("clicktime.symantec.com", ""),
    ("protect-us.mimecast.com", ""),
    ("protect-eu.mimecast.com", ""),
    ("secure-web.cisco.com", ""),
    ("link.zhihu.com", ""),
    ("googleadservices.com", "/pagead/aclk"),
    ("bing.com", "/ck/a"),
];

/// Path-segment stems (lower-cased) that name a tracking image with or without an extension
/// (`/wf/open`, `/beacon`, `/1x1.png`).
const PIXEL_NAMES: &[&str] = &[
    "pixel",
    "open",
    "opened",
    "track",
    "tracking",
    "tracker",
    "beacon",
    "1x1",
    "spacer",
    "imp",
    "impression",
];

/// Stems too short or common to mean a pixel alone: only with an image extension (`p.gif`).
const PIXEL_NAMES_WITH_IMAGE_EXTENSION: &[&str] = &[
    "p",
    "o",
    "t",
    "b",
    "e",
    "px",
    "pix",
    "blank",
    "clear",
    "transparent",
    "trans",
    "view",
    "counter",
];

/// Image file extensions (lower-case).
const IMAGE_EXTENSIONS: &[&str] = &["gif", "png", "jpg", "jpeg", "webp", "bmp", "ico", "svg"];

/// A response body this small (bytes) is a pixel, not a picture: a 1×1 GIF is 35–43 bytes, a
/// 1×1 PNG about 68, and no useful image fits in 100.
pub const TINY_BODY_BYTES: u64 = 100;

/// Longest extension (after the last `.`) that splits a path segment into stem and extension.
const MAX_EXTENSION_LEN: usize = 5;

/// Which part of the URL a token came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenPlace {
    /// A whole path segment; the number is its index among non-empty segments.
    PathSegment(usize),
    /// The stem before a short extension of path segment `n` (`abc` of `abc.gif`).
    PathStem(usize),
    /// The value of query pair `n` (a pair without `=` is all value and no key).
    QueryValue(usize),
    /// Everything after `#`.
    Fragment,
    /// The leftmost label of a host below its registered domain (`kw3ue9` of
    /// `kw3ue9.px.brand.example`): per-recipient host names.
    HostLabel,
}

/// The alphabet a token's (percent-decoded) characters are drawn from; the first that fits in
/// this order of declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alphabet {
    /// Only `0-9`.
    Decimal,
    /// `8-4-4-4-12` hex digits with dashes.
    Uuid,
    /// Only hex digits (one case or both), with at least one letter.
    Hex,
    /// Upper-case `A-Z` and `2-7`, optional `=` padding, with at least one digit.
    Base32,
    /// Only `A-Z a-z 0-9` (also valid base64, base64url and base62).
    Alphanumeric,
    /// `A-Z a-z 0-9 + /` with optional `=` padding, with at least one of `+ / =`.
    Base64,
    /// `A-Z a-z 0-9 - _` with optional `=` padding, with at least one of `- _`.
    Base64Url,
    /// Anything else (also the empty token).
    Other,
}

impl Alphabet {
    /// The placeholder family in URL templates. Base32, alphanumeric, base64 and base64url all
    /// write `b64`: one generator's tokens fall into any of them by chance (a base64 token
    /// without `+` or `/` is alphanumeric), and one campaign must keep one template.
    pub fn placeholder(self) -> &'static str {
        match self {
            Alphabet::Decimal => "dec",
            Alphabet::Uuid => "uuid",
            Alphabet::Hex => "hex",
            Alphabet::Base32 | Alphabet::Alphanumeric | Alphabet::Base64 | Alphabet::Base64Url => "b64",
            Alphabet::Other => "tok",
        }
    }
}

/// One token of a URL: a path segment, a stem, a query value or the fragment.
#[derive(Clone, Debug, PartialEq)]
pub struct Token<'a> {
    /// The token as it stands in the URL (still percent-encoded).
    pub raw: &'a str,
    /// The query key for a query value (raw), else `None`.
    pub key: Option<&'a str>,
    /// Where it came from.
    pub place: TokenPlace,
    /// Length in bytes after percent-decoding.
    pub len: usize,
    /// Alphabet of the decoded bytes.
    pub alphabet: Alphabet,
    /// Decoded bytes: has an ASCII digit, lower-case letter, upper-case letter.
    kinds: Kinds,
    /// Changes of character kind (digit/lower/upper) between neighbouring letters and digits,
    /// per pair of neighbours.
    transitions: f32,
    /// [`is_token_like`], decided once at construction (its entropy test is the one costly
    /// measure, and it is asked for several times per token).
    token_like: bool,
    /// [`is_identifier`].
    identifier: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Kinds {
    digit: bool,
    lower: bool,
    upper: bool,
}

/// Whether a token looks like a unique identifier (a per-recipient or per-message token) rather
/// than a word, slug, date or small number. The rule, by alphabet:
/// - `Uuid`: always.
/// - `Hex`: at least 8 characters with a digit among them (Mailchimp's per-recipient `e=` is
///   10 hex, many trackers use 8), or at least 16 (a digit-free 16-hex string is rare and still
///   random-looking).
/// - `Decimal`: at least 16 digits; in an identifier's place (see below) at least 8. Shorter
///   numbers, and numbers elsewhere, are ids of articles, timestamps and cache busters.
/// - Others (`Base32`, `Alphanumeric`, `Base64`, `Base64Url`, `Other`): at least 12
///   characters, entropy at least 3.0 bits per character, kinds changing between at least 20%
///   of neighbouring characters (slugs and dates change rarely), and letters mixed with digits
///   — or, from 20 characters on, upper- with lower-case letters (a long random base62 string
///   may lack digits).
/// - Letters only (any case), at least 10 of them, that read like no language: at least half
///   of their neighbouring pairs are rare in English (`olfjknnzcbzhtw`; `newsletter`,
///   `subscription` and `homepage` are words); also with digits among them, from 12
///   characters on (`oo68tpuvaomn`: random letters and digits with too few digits to change
///   kind often).
/// - A shortener's path segment of 4+ letters and digits (`bit.ly/3XToDVn`).
pub fn is_token_like(t: &Token<'_>) -> bool {
    t.token_like
}

/// Whether a token identifies something — per recipient, per message, or per asset — in a
/// join: token-like ([`is_token_like`]), or, where identifiers stand (a query value under an
/// id-like key such as `id`, `uid`, `u`, `e`, `token`; the stem of an image, `/i/bfzdpv.png`;
/// the leftmost label of a sub-domain, `kw3ue9.px.brand.example`), a shorter one: 8+ digits,
/// 6+ letters and digits mixed, 6+ letters that read like no language. Such short values
/// name image assets as often as recipients (`/images/466/hv8lx780.jpg`), so they make no
/// token of their own; they only join a URL a suspicious mail carried with its fetch
/// ([`UrlAnalysis::key`]).
pub fn is_identifier(t: &Token<'_>) -> bool {
    t.identifier
}

/// The rule of [`is_token_like`], on a token's measures; `place` says the token stands where
/// identifiers stand.
fn decide_token_like(t: &Token<'_>, place: bool) -> bool {
    let letters = t.kinds.lower || t.kinds.upper;
    match t.alphabet {
        Alphabet::Uuid => true,
        Alphabet::Hex => {
            (t.len >= 8 && t.kinds.digit)
                || t.len >= 16
                || (place && t.len >= 6 && (rare_pairs(t.raw, 2, 5) || irregular_case(t.raw)))
        }
        Alphabet::Decimal => t.len >= 16 || (place && t.len >= 8),
        Alphabet::Alphanumeric if !t.kinds.digit => {
            let cases = t.kinds.lower && t.kinds.upper;
            (t.len >= 10 && unwordlike(t.raw))
                || (place && t.len >= 6 && (rare_pairs(t.raw, 2, 5) || irregular_case(t.raw)))
                || (t.len >= 20 && cases && t.entropy() >= 3.0)
        }
        Alphabet::Alphanumeric | Alphabet::Base32 if place && t.len >= 6 && letters => t.transitions >= 0.2,
        // Random letters and digits with few digits change kind rarely (`oo68tpuvaomn`: two
        // changes in eleven pairs); their letters still read like no language.
        Alphabet::Alphanumeric if t.len >= 12 && t.kinds.digit && letters && unwordlike(t.raw) => true,
        _ => {
            // Entropy last: it is the one measure computed on demand.
            t.len >= 12
                && t.transitions >= 0.2
                && ((letters && t.kinds.digit) || (t.len >= 20 && t.kinds.lower && t.kinds.upper))
                && t.entropy() >= min_entropy(t.len)
        }
    }
}

/// The entropy (bits per character) a token of `len` characters needs: 3.0, or for a short
/// one one bit under the most its length allows (log2 of it): twelve random letters and digits
/// repeat a character or two and reach about 3.2, of at most 3.58, and one in twenty stays
/// under 3.0.
fn min_entropy(len: usize) -> f32 {
    ((len as f32).log2() - 1.0).min(3.0)
}

/// Query keys under which values are identifiers (lower-case).
const ID_KEYS: &[&str] = &[
    "id",
    "uid",
    "u",
    "e",
    "r",
    "s",
    "t",
    "k",
    "m",
    "x",
    "i",
    "c",
    "rid",
    "mid",
    "sid",
    "eid",
    "lid",
    "cid",
    "tid",
    "sub",
    "subid",
    "subscriber",
    "subscriber_id",
    "recipient",
    "rcpt",
    "user",
    "userid",
    "user_id",
    "uuid",
    "token",
    "tk",
    "tok",
    "key",
    "ref",
    "trk",
    "track",
    "tracking",
    "hash",
    "h",
    "sig",
    "email_id",
    "msg",
    "msgid",
    "mail",
    "open",
    "o",
    "p",
    "z",
];

/// The most characters of an identifier a join key keeps. A mail log may cut a long line (Postfix
/// logs at most 200 bytes of a body line), which cuts a provider's long tracking token
/// (`upn=` of 150 characters) in the mail but not in the request that fetches it; the first 64
/// characters of a random token identify it as well as all of them.
pub const KEY_IDENTIFIER_MAX: usize = 64;

/// A token's length as a template writes it: at most [`KEY_IDENTIFIER_MAX`], so a long token a
/// mail log cut and the whole one fetched share the template as they share the key.
fn templated_len(t: &Token<'_>) -> usize {
    t.len.min(KEY_IDENTIFIER_MAX)
}

/// An identifier as a join key holds it: its first [`KEY_IDENTIFIER_MAX`] characters.
fn keyed(raw: &str) -> &str {
    match raw.char_indices().nth(KEY_IDENTIFIER_MAX) {
        Some((at, _)) => &raw[..at],
        None => raw,
    }
}

/// Whether a query key names an identifier.
fn id_key(key: &str) -> bool {
    key.len() <= 13 && ID_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k))
}

/// Common English letter pairs (the ~230 most frequent): a word has mostly these, random
/// letters mostly others.
const COMMON_BIGRAMS: &str = "th he in er an re on at en nd ti es or te of ed is it al ar st to nt ng \
    se ha as ou io le ve co me de hi ri ro ic ne ea ra ce li ch ll be ma si om ur ca el ta la ns di fo ho \
    pe ec pr no ct us ac ot il tr ly nc et ut ss so rs un lo wa ge ie wh ee wi em ad ol rt po we na ul ni \
    ts mo ow pa im mi ai sh ir su id os iv ia am fi ci vi pl ig tu ev ld ry mp fe bl ab gh ty op wo sa ay \
    ex ke fr oo av ag if ap gr od bo sp rd do uc bu ei ov by rm ep tt oc fa ef cu rn sc gi da yo cr cl du \
    ga qu ue ff ba ey ls va um pp ua up lu go ht ru ug ds lt pi rc rr eg au ck ew mu br bi pt ak pu ui";

/// Whether letters read like no language: half or more of their neighbouring letter pairs are
/// outside [`COMMON_BIGRAMS`]. Digits and other bytes break pairs.
fn unwordlike(raw: &str) -> bool {
    rare_pairs(raw, 1, 2)
}

/// Whether letters are cased as no word is: not all lower, all upper, or capitalised
/// (`tnavpI`, `aBcDeF`; not `banner`, `Banner`, `BANNER`).
fn irregular_case(raw: &str) -> bool {
    let mut later = raw.bytes().skip(1);
    let (upper_later, lower) = (
        later.any(|b| b.is_ascii_uppercase()),
        raw.bytes().any(|b| b.is_ascii_lowercase()),
    );
    upper_later && lower
}

/// Whether at least `num/den` of the letter pairs of `raw` are outside [`COMMON_BIGRAMS`]
/// (words have a quarter or fewer; random letters about 70%).
fn rare_pairs(raw: &str, num: u32, den: u32) -> bool {
    static TABLE: std::sync::LazyLock<[bool; 26 * 26]> = std::sync::LazyLock::new(|| {
        let mut t = [false; 26 * 26];
        for p in COMMON_BIGRAMS.split_whitespace().map(str::as_bytes) {
            t[usize::from(p[0] - b'a') * 26 + usize::from(p[1] - b'a')] = true;
        }
        t
    });
    let (mut pairs, mut rare) = (0u32, 0u32);
    let mut prev: Option<u8> = None;
    for c in raw.bytes() {
        let l = c.to_ascii_lowercase();
        if !l.is_ascii_lowercase() {
            prev = None;
            continue;
        }
        if let Some(p) = prev {
            pairs += 1;
            if !TABLE[usize::from(p - b'a') * 26 + usize::from(l - b'a')] {
                rare += 1;
            }
        }
        prev = Some(l);
    }
    pairs >= 4 && rare * den >= pairs * num
}

/// Whether a token is replaced by a placeholder in the URL template: identifiers
/// ([`is_identifier`]) and numbers of at least 6 digits (per-recipient numeric ids; shorter numbers are kept so that
/// `c=1` and `c=2` campaigns stay apart).
fn templated(t: &Token<'_>) -> bool {
    is_identifier(t) || (t.alphabet == Alphabet::Decimal && t.len >= 6)
}

/// What kind of host a URL has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKind {
    /// No host (origin-form without a given host, or unparseable input).
    None,
    /// A domain name (any label syntax, IDN left as given).
    Domain,
    /// An IPv4 literal.
    Ipv4,
    /// An IPv6 literal (bracketed in the URL; the host is without brackets).
    Ipv6,
}

/// Tracking-pixel signals of one URL (and, when known, its response). See
/// [`UrlAnalysis::pixel`] for what makes it `likely`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PixelSignals {
    /// The last path segment ends in an image extension (gif, png, jpg, webp, bmp, ...).
    pub image_extension: bool,
    /// The last segment's stem is a pixel name (pixel, open, track, beacon, 1x1, spacer; p, o,
    /// blank, ... only with an image extension), or the last segment is token-like under a
    /// directory of one of the long names (`/open/<token>`).
    pub pixel_name: bool,
    /// The last segment is an image (by its extension, or the response's content type when it
    /// has none) whose stem is token-like (a per-recipient open pixel).
    pub token_image: bool,
    /// The query asks for 1×1 (`w=1&h=1`, `width=1&height=1`, `size=1x1`).
    pub one_by_one: bool,
    /// The response's content type is `image/*`.
    pub image_content_type: bool,
    /// The response body is under [`TINY_BODY_BYTES`].
    pub tiny_body: bool,
    /// The verdict: a pixel name, a token-named image, a 1×1 request, or a tiny body that is an
    /// image (by extension or content type).
    pub likely: bool,
}

/// A URL split into its parts and tokens. Built by [`analyze`] or [`analyze_with_host`].
#[derive(Clone, Debug)]
pub struct UrlAnalysis<'a> {
    input: &'a str,
    scheme: Option<&'a str>,
    host: Cow<'a, str>,
    host_kind: HostKind,
    port: Option<&'a str>,
    /// Byte offset of the registered domain in `host`.
    registered_at: Option<usize>,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
    tokens: Vec<Token<'a>>,
}

/// Analyzes an absolute URL (`https://host/path?query`), a scheme-relative one (`//host/...`),
/// a scheme-less `host/path`, or an origin-form `/path?query` (then without host; see
/// [`analyze_with_host`]). Never fails: junk gives an analysis with whatever parts it has.
pub fn analyze(url: &str) -> UrlAnalysis<'_> {
    analyze_with_host(url, None)
}

/// As [`analyze`], with the host known separately (a proxy log's origin-form request line plus
/// its `Host`): `host` is used when the URL itself has none.
pub fn analyze_with_host<'a>(url: &'a str, host: Option<&'a str>) -> UrlAnalysis<'a> {
    let (mut a, host_raw) = site_parts(url, host);
    a.tokens = tokens(a.path, a.query, a.fragment);
    if a.is_shortener() {
        // A shortener's path is the identifier of one link (`bit.ly/3XToDVn`).
        for t in &mut a.tokens {
            if matches!(t.place, TokenPlace::PathSegment(_)) {
                // Any letters and digits: a random code may be all digits, hex or base32 by
                // chance (`bit.ly/7FOA7NS`).
                t.token_like = t.len >= 4 && !matches!(t.alphabet, Alphabet::Other | Alphabet::Base64);
                t.identifier = t.token_like;
            }
        }
    } else if let Some(label) = host_label(host_raw, a.registered_at) {
        // Pushed last: the template walks path, query and fragment tokens in order.
        let t = Token::new(label, None, TokenPlace::HostLabel);
        if t.identifier {
            a.tokens.push(t);
        }
    }
    a
}

/// A URL split into its parts as [`analyze_with_host`] splits it, without tokens: its host and
/// registered domain for a fraction of the cost (no allocation unless the host has capitals).
pub fn site<'a>(url: &'a str, host: Option<&'a str>) -> UrlAnalysis<'a> {
    site_parts(url, host).0
}

/// A URL cut into its parts as written, before any normalisation: [`parts`].
#[derive(Clone, Copy, Debug)]
pub struct Parts<'a> {
    pub input: &'a str,
    pub scheme: Option<&'a str>,
    /// The host as written (the URL's own, else the separate one), port and brackets off.
    pub host: &'a str,
    pub port: Option<&'a str>,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub fragment: Option<&'a str>,
}

/// Cuts a URL as [`analyze_with_host`] does, without looking at the host (no allocation, a few
/// byte scans). Everything [`analyze_with_host`] says of the host (its kind, its registered
/// domain) is a function of [`Parts::host`] alone.
pub fn parts<'a>(url: &'a str, host: Option<&'a str>) -> Parts<'a> {
    let url = url.trim();
    let (scheme, rest) = split_scheme(url);
    let (authority, rest) = if scheme.is_some() || rest.starts_with("//") {
        let r = rest.strip_prefix("//").unwrap_or(rest);
        let end = authority_end(r);
        (Some(&r[..end]), &r[end..])
    } else if !rest.starts_with(['/', '?', '#']) && looks_like_authority(rest) {
        let end = authority_end(rest);
        (Some(&rest[..end]), &rest[end..])
    } else {
        (None, rest)
    };
    let (host_raw, port) = match authority {
        Some(a) => split_authority(a),
        None => (host.map(|h| split_authority(h.trim()).0).unwrap_or(""), None),
    };
    let port = port.or_else(|| {
        authority
            .is_none()
            .then(|| host.and_then(|h| split_authority(h.trim()).1))
            .flatten()
    });
    let (rest, fragment) = match memchr::memchr(b'#', rest.as_bytes()) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (path, query) = match memchr::memchr(b'?', rest.as_bytes()) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    Parts {
        input: url,
        scheme,
        host: host_raw,
        port,
        path,
        query,
        fragment,
    }
}

/// The parts of [`analyze_with_host`] before tokens, and the host as written.
fn site_parts<'a>(url: &'a str, host: Option<&'a str>) -> (UrlAnalysis<'a>, &'a str) {
    let p = parts(url, host);
    let host_raw = p.host;
    let host_trimmed = host_raw.strip_suffix('.').unwrap_or(host_raw);
    let host: Cow<'a, str> = if host_trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host_trimmed.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host_trimmed)
    };
    let host_kind = host_kind(&host);
    let registered_at = match host_kind {
        HostKind::Domain => psl::domain(host.as_bytes())
            .map(|d| host.len() - d.as_bytes().len())
            .filter(|&at| host.is_char_boundary(at)),
        _ => None,
    };
    let a = UrlAnalysis {
        input: p.input,
        scheme: p.scheme,
        host,
        host_kind,
        port: p.port,
        registered_at,
        path: p.path,
        query: p.query,
        fragment: p.fragment,
        tokens: Vec::new(),
    };
    (a, host_raw)
}

/// The leftmost label of `host` (as written) when it is below the registered domain, which
/// starts at byte `registered_at` of the (equally long) lower-cased host.
fn host_label(host: &str, registered_at: Option<usize>) -> Option<&str> {
    let host = host.strip_suffix('.').unwrap_or(host);
    let below = host.get(..registered_at?.checked_sub(1)?)?;
    let label = below.split('.').next()?;
    (label.len() >= 6 && label.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(label)
}

/// The URL another one wraps in a query value (an open redirector's or a click tracker's
/// target: `?url=https%3A%2F%2Fx.example%2Fp.gif%3Fid%3D…`, `?u=https://…`), percent-decoded;
/// the first one only.
pub fn wrapped_url(a: &UrlAnalysis<'_>) -> Option<String> {
    wrapped_in_query(a.query)
}

/// Whether [`wrapped_url`] could find a URL in one with this query: it holds `http` in any case.
/// Cheap (a byte scan, no split), for skipping the wrapped-URL analysis soundly.
pub fn may_wrap(query: Option<&str>) -> bool {
    let Some(q) = query else { return false };
    let b = q.as_bytes();
    memchr::memchr2_iter(b'h', b'H', b).any(|i| b.len() >= i + 4 && b[i + 1..i + 4].eq_ignore_ascii_case(b"ttp"))
}

/// [`UrlAnalysis::pixel`] from a URL's path and query alone ([`Parts::path`], [`Parts::query`]):
/// the pixel signals need no tokens but the stem of the last segment, judged as the tokens
/// judge it, so a stage can settle them without the whole analysis.
pub fn pixel(path: &str, query: Option<&str>, content_type: Option<&str>, body_bytes: Option<u64>) -> PixelSignals {
    let mut segments = path.rsplit('/').filter(|s| !s.is_empty());
    let last = segments.next().unwrap_or("");
    let (stem, ext) = split_extension(last).unwrap_or((last, ""));
    let image_extension = IMAGE_EXTENSIONS.iter().any(|e| ext.eq_ignore_ascii_case(e));
    let named = |names: &[&str], s: &str| names.iter().any(|n| s.eq_ignore_ascii_case(n));
    // The last segment's stem token (`tokens` makes one for a segment with an extension; being
    // token-like does not depend on its place).
    let token_last =
        (ext.is_empty() || image_extension) && Token::in_place(stem, None, TokenPlace::PathStem(0), true).token_like;
    // A pixel name is the last segment's stem (`/p.gif`, `/wf/open`), or the directory of a
    // token that ends the path: the tracker's route with the recipient's token under it
    // (`/open/<token>`, `/track/<token>`).
    let pixel_name = named(PIXEL_NAMES, stem)
        || (image_extension && named(PIXEL_NAMES_WITH_IMAGE_EXTENSION, stem))
        || (token_last && segments.next().is_some_and(|dir| named(PIXEL_NAMES, dir)));
    // One pass over the query: `w=1` / `width=1`, `h=1` / `height=1`, `size=1x1`.
    let (mut w1, mut h1, mut size1x1) = (false, false, false);
    for (k, v) in query_pairs(query) {
        let is = |n: &str| k.eq_ignore_ascii_case(n);
        if v == "1" {
            w1 |= is("w") || is("width");
            h1 |= is("h") || is("height");
        } else if v.eq_ignore_ascii_case("1x1") {
            size1x1 |= is("size");
        }
    }
    let one_by_one = (w1 && h1) || size1x1;
    let image_content_type = content_type.is_some_and(|c| {
        c.trim_start()
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("image/"))
    });
    let tiny_body = body_bytes.is_some_and(|b| b < TINY_BODY_BYTES);
    // An image named by a token: by its extension, or by the response's type where the path
    // has none (`/i/<token>` answered with `image/png`).
    let token_image = token_last && (image_extension || image_content_type);
    let likely = pixel_name || token_image || one_by_one || (tiny_body && (image_extension || image_content_type));
    PixelSignals {
        image_extension,
        pixel_name,
        token_image,
        one_by_one,
        image_content_type,
        tiny_body,
        likely,
    }
}

/// A query's `key=value` pairs in order (a pair without `=` is a value with an empty key).
fn query_pairs(query: Option<&str>) -> impl Iterator<Item = (&str, &str)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|p| p.split_once('=').unwrap_or(("", p)))
}

/// [`wrapped_url`] from a URL's query alone.
pub fn wrapped_in_query(query: Option<&str>) -> Option<String> {
    query_pairs(query).find_map(|(_, v)| {
        let b = v.as_bytes();
        let wraps = ["http://", "https://", "http%3a%2f", "https%3a%2"]
            .iter()
            .any(|p| b.len() > p.len() && b[..p.len()].eq_ignore_ascii_case(p.as_bytes()));
        if !wraps {
            return None;
        }
        let bytes: Vec<u8> = decoded(v).collect();
        String::from_utf8(bytes).ok()
    })
}

/// The host of an absolute or scheme-relative URL, as written (no analysis, no allocation):
/// `https://user@Mail.Example:8443/x` -> `Mail.Example`.
pub fn host_of(url: &str) -> Option<&str> {
    let (scheme, rest) = split_scheme(url.trim());
    let rest = match scheme {
        Some(_) => rest.strip_prefix("//").unwrap_or(rest),
        None => rest.strip_prefix("//")?,
    };
    let authority = &rest[..authority_end(rest)];
    let host = split_authority(authority).0;
    (!host.is_empty()).then_some(host)
}

/// Where the authority after `//` ends: the first `/`, `?` or `#`, else the end.
fn authority_end(s: &str) -> usize {
    memchr::memchr3(b'/', b'?', b'#', s.as_bytes()).unwrap_or(s.len())
}

fn split_scheme(url: &str) -> (Option<&str>, &str) {
    // A scheme has no `:`, so its `://` is at the first colon.
    if let Some(i) = memchr::memchr(b':', url.as_bytes()).filter(|&i| url[i..].starts_with("://")) {
        let s = &url[..i];
        let ok = s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if ok {
            return (Some(s), &url[i + 3..]);
        }
    }
    (None, url)
}

/// A scheme-less `host/path` or `host:port` (a CONNECT target): the part before the first `/`
/// has a dot or a colon and no space, and is not itself a file name like `index.html`.
fn looks_like_authority(s: &str) -> bool {
    let end = authority_end(s);
    let a = &s[..end];
    a.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'[')
        && !a.contains([' ', '=', '&'])
        && (a.contains(':') || (a.contains('.') && !ends_with_web_extension(a)))
}

fn ends_with_web_extension(a: &str) -> bool {
    let ext = a.rsplit('.').next().unwrap_or("");
    ["html", "htm", "php", "asp", "aspx", "jsp", "gif", "png", "jpg"]
        .iter()
        .any(|e| ext.eq_ignore_ascii_case(e))
}

/// `user@host:port` -> (`host`, `port`); `[v6]:port` -> (`v6`, `port`).
fn split_authority(a: &str) -> (&str, Option<&str>) {
    // One pass over the bytes (an authority is short, where searchers cost their setup): the
    // last `@`, and the colons after it.
    let (mut at, mut colons, mut last_colon) = (None, 0u32, 0usize);
    for (i, b) in a.bytes().enumerate() {
        match b {
            b'@' => (at, colons) = (Some(i), 0),
            b':' => (colons, last_colon) = (colons + 1, i),
            _ => {}
        }
    }
    let start = at.map_or(0, |i| i + 1);
    let a = &a[start..];
    if let Some(r) = a.strip_prefix('[') {
        return match r.bytes().position(|b| b == b']') {
            Some(i) => (&r[..i], r[i + 1..].strip_prefix(':').filter(|p| !p.is_empty())),
            None => (r, None),
        };
    }
    match colons {
        0 => (a, None),
        1 => {
            let i = last_colon - start;
            (&a[..i], Some(&a[i + 1..]).filter(|p| !p.is_empty()))
        }
        // More than one colon and no brackets: a bare IPv6 address, not host:port.
        _ => (a, None),
    }
}

fn host_kind(h: &str) -> HostKind {
    if h.is_empty() {
        HostKind::None
    } else if h.parse::<Ipv4Addr>().is_ok() {
        HostKind::Ipv4
    } else if h.contains(':') && h.parse::<Ipv6Addr>().is_ok() {
        HostKind::Ipv6
    } else {
        HostKind::Domain
    }
}

fn tokens<'a>(path: &'a str, query: Option<&'a str>, fragment: Option<&'a str>) -> Vec<Token<'a>> {
    // Enough for typical URLs without regrowing.
    let mut out = Vec::with_capacity(12);
    for (i, seg) in path.split('/').filter(|s| !s.is_empty()).enumerate() {
        let mut whole = Token::new(seg, None, TokenPlace::PathSegment(i));
        if let Some((stem, ext)) = split_extension(seg) {
            // A file name is judged by its stem: `hv8lx780.jpg` is no 12-character token.
            (whole.token_like, whole.identifier) = (false, false);
            out.push(whole);
            let image = IMAGE_EXTENSIONS.iter().any(|e| ext.eq_ignore_ascii_case(e));
            out.push(Token::in_place(stem, None, TokenPlace::PathStem(i), image));
        } else {
            out.push(whole);
        }
    }
    if let Some(q) = query {
        for (i, pair) in q.split('&').filter(|s| !s.is_empty()).enumerate() {
            let (key, value) = match pair.split_once('=') {
                Some((k, v)) => (Some(k), v),
                None => (None, pair),
            };
            out.push(Token::new(value, key, TokenPlace::QueryValue(i)));
        }
    }
    if let Some(f) = fragment.filter(|f| !f.is_empty()) {
        out.push(Token::new(f, None, TokenPlace::Fragment));
    }
    out
}

/// `stem.ext` with a non-empty stem and a 1–5 character alphanumeric extension.
fn split_extension(seg: &str) -> Option<(&str, &str)> {
    let (stem, ext) = seg.rsplit_once('.')?;
    (!stem.is_empty()
        && !ext.is_empty()
        && ext.len() <= MAX_EXTENSION_LEN
        && ext.bytes().all(|b| b.is_ascii_alphanumeric()))
    .then_some((stem, ext))
}

/// Percent-decodes `s` byte by byte (`%zz` and a cut-off `%` stay as they are; `+` stays `+`,
/// since base64 uses it).
fn decoded(s: &str) -> impl Iterator<Item = u8> + '_ {
    let b = s.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        let c = *b.get(i)?;
        if c == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|&x| hex_val(x)),
                b.get(i + 2).and_then(|&x| hex_val(x)),
            )
        {
            i += 3;
            return Some(h << 4 | l);
        }
        i += 1;
        Some(c)
    })
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

// Byte classes of [`Token::classify`], one bit each.
const DIGIT: u16 = 1;
const LOWER: u16 = 1 << 1;
const UPPER: u16 = 1 << 2;
const HEX: u16 = 1 << 3;
/// `A-Z`, `2-7`.
const B32: u16 = 1 << 4;
const ALNUM: u16 = 1 << 5;
/// Alphanumeric, `+`, `/`.
const B64: u16 = 1 << 6;
/// Alphanumeric, `-`, `_`.
const B64URL: u16 = 1 << 7;
/// `+`, `/`.
const B64_SPECIAL: u16 = 1 << 8;
/// `-`, `_`.
const URL_SPECIAL: u16 = 1 << 9;
const KINDS: u16 = DIGIT | LOWER | UPPER;
const ALPHABETS: u16 = HEX | B32 | ALNUM | B64 | B64URL;

/// The classes of every byte value.
static CLASS: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        let mut bits = 0;
        if c.is_ascii_digit() {
            bits |= DIGIT;
        }
        if c.is_ascii_lowercase() {
            bits |= LOWER;
        }
        if c.is_ascii_uppercase() {
            bits |= UPPER;
        }
        if c.is_ascii_hexdigit() {
            bits |= HEX;
        }
        if c.is_ascii_uppercase() || (c >= b'2' && c <= b'7') {
            bits |= B32;
        }
        if c.is_ascii_alphanumeric() {
            bits |= ALNUM | B64 | B64URL;
        }
        if c == b'+' || c == b'/' {
            bits |= B64 | B64_SPECIAL;
        }
        if c == b'-' || c == b'_' {
            bits |= B64URL | URL_SPECIAL;
        }
        t[b] = bits;
        b += 1;
    }
    t
};

impl<'a> Token<'a> {
    fn new(raw: &'a str, key: Option<&'a str>, place: TokenPlace) -> Self {
        let id_place = match place {
            TokenPlace::QueryValue(_) => key.is_some_and(id_key),
            TokenPlace::HostLabel => true,
            _ => false,
        };
        Self::in_place(raw, key, place, id_place)
    }

    /// As [`Token::new`]; `id_place` says it stands where identifiers stand (see
    /// [`is_token_like`]).
    fn in_place(raw: &'a str, key: Option<&'a str>, place: TokenPlace, id_place: bool) -> Self {
        // Most tokens have no percent escape: their bytes are their decoded bytes.
        let mut t = if memchr::memchr(b'%', raw.as_bytes()).is_none() {
            Self::classify(raw, key, place, raw.bytes())
        } else {
            Self::classify(raw, key, place, decoded(raw))
        };
        t.token_like = decide_token_like(&t, false);
        t.identifier = t.token_like || (id_place && decide_token_like(&t, true));
        t
    }

    /// One pass over the decoded bytes: length, alphabet, kinds and transitions. (Entropy,
    /// which needs a count per byte value, is computed on demand by [`Token::entropy`].) Each
    /// byte is one lookup in [`CLASS`]: the alphabets a token can still be are the classes all
    /// its bytes share.
    fn classify(raw: &'a str, key: Option<&'a str>, place: TokenPlace, bytes: impl Iterator<Item = u8>) -> Self {
        let mut len = 0usize;
        let mut transitions = 0u32;
        let mut prev = 0u16;
        // Classes every byte had (alphabets still possible), and classes any byte had.
        let (mut all, mut any) = (ALPHABETS, 0u16);
        let mut padding = 0usize;
        let mut uuid = raw.len() == 36;
        for b in bytes {
            let c = CLASS[b as usize];
            any |= c;
            // Changes between digit, lower and upper; separators (`-`, `_`, `.`) are not
            // transitions: `2024-11-26-news` has none.
            let k = c & KINDS;
            if k != 0 && prev != 0 && prev != k {
                transitions += 1;
            }
            prev = k;
            if uuid {
                uuid = if matches!(len, 8 | 13 | 18 | 23) {
                    b == b'-'
                } else {
                    c & HEX != 0
                };
            }
            len += 1;
            if b == b'=' {
                padding += 1;
                all &= !(HEX | ALNUM);
                continue;
            }
            if padding > 0 {
                // Padding only at the end.
                all &= !(B32 | B64 | B64URL);
            }
            all &= c | !ALPHABETS;
        }
        let kinds = Kinds {
            digit: any & DIGIT != 0,
            lower: any & LOWER != 0,
            upper: any & UPPER != 0,
        };
        let (hex, b32, alnum, b64, b64url) = (
            all & HEX != 0,
            all & B32 != 0,
            all & ALNUM != 0,
            all & B64 != 0,
            all & B64URL != 0,
        );
        let (b64_special, url_special) = (any & B64_SPECIAL != 0, any & URL_SPECIAL != 0);
        let alphabet = if len == 0 {
            Alphabet::Other
        } else if kinds.digit && !kinds.lower && !kinds.upper && padding == 0 && alnum {
            Alphabet::Decimal
        } else if uuid && len == 36 {
            Alphabet::Uuid
        } else if hex && padding == 0 {
            Alphabet::Hex
        } else if b32 && kinds.digit && padding <= 6 && !kinds.lower {
            Alphabet::Base32
        } else if alnum {
            Alphabet::Alphanumeric
        } else if b64 && padding <= 2 && (b64_special || padding > 0) {
            Alphabet::Base64
        } else if b64url && padding <= 2 && (url_special || padding > 0) {
            Alphabet::Base64Url
        } else {
            Alphabet::Other
        };
        Token {
            raw,
            key,
            place,
            len,
            alphabet,
            kinds,
            transitions: if len > 1 {
                transitions as f32 / (len - 1) as f32
            } else {
                0.0
            },
            token_like: false,
            identifier: false,
        }
    }

    /// Shannon entropy of the decoded bytes, bits per character (0 for the empty token).
    pub fn entropy(&self) -> f32 {
        // u16 counts and a list of the distinct bytes keep this O(len), not O(256).
        let mut counts = [0u16; 256];
        let mut seen = [0u8; 256];
        let mut distinct = 0usize;
        for b in decoded(self.raw) {
            let c = &mut counts[b as usize];
            if *c == 0 {
                seen[distinct] = b;
                distinct += 1;
            }
            *c = c.saturating_add(1);
        }
        entropy(&counts, &seen[..distinct], self.len)
    }

    /// Whether this token looks like a unique identifier; see [`is_token_like`].
    pub fn is_token_like(&self) -> bool {
        is_token_like(self)
    }
}

/// Shannon entropy in bits per character: `log2(n) - (1/n) Σ c·log2(c)` over the counts `c`
/// of the distinct bytes (counts saturate at `u16::MAX`, harmless for an estimate).
fn entropy(counts: &[u16; 256], seen: &[u8], len: usize) -> f32 {
    if len == 0 {
        return 0.0;
    }
    let n = len as f32;
    let sum: f32 = seen.iter().map(|&b| c_log2_c(counts[b as usize])).sum();
    (n.log2() - sum / n).max(0.0)
}

/// `c·log2(c)`, from a table for the small counts tokens have.
fn c_log2_c(c: u16) -> f32 {
    static TABLE: std::sync::LazyLock<[f32; 64]> =
        std::sync::LazyLock::new(|| std::array::from_fn(|c| if c < 2 { 0.0 } else { c as f32 * (c as f32).log2() }));
    match TABLE.get(c as usize) {
        Some(&v) => v,
        None => c as f32 * (c as f32).log2(),
    }
}

impl<'a> UrlAnalysis<'a> {
    /// The trimmed input.
    pub fn input(&self) -> &'a str {
        self.input
    }

    /// The scheme as written (`https`), if any.
    pub fn scheme(&self) -> Option<&'a str> {
        self.scheme
    }

    /// The host, lower-cased, without port, brackets, user info or trailing dot; empty if none.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// What kind of host it is.
    pub fn host_kind(&self) -> HostKind {
        self.host_kind
    }

    /// The port as written, if any.
    pub fn port(&self) -> Option<&'a str> {
        self.port
    }

    /// The registered (registrable) domain by the Public Suffix List: `link.ft.com` -> `ft.com`.
    /// `None` for IP hosts, a bare public suffix (`co.uk`) or a single label (`localhost`).
    pub fn registered_domain(&self) -> Option<&str> {
        self.registered_at.map(|at| &self.host[at..])
    }

    /// The path (`/a/b.gif`), possibly empty.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The query after `?`, if any.
    pub fn query(&self) -> Option<&'a str> {
        self.query
    }

    /// The fragment after `#`, if any.
    pub fn fragment(&self) -> Option<&'a str> {
        self.fragment
    }

    /// Every token: path segments (each followed by its stem, if it has an extension), query
    /// values in order, then the fragment.
    pub fn tokens(&self) -> &[Token<'a>] {
        &self.tokens
    }

    /// The non-empty path segments, raw.
    pub fn path_segments(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.path.split('/').filter(|s| !s.is_empty())
    }

    /// The query pairs, raw, in order: `(key, value)`; a pair without `=` has an empty key.
    pub fn query_pairs(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        query_pairs(self.query)
    }

    /// Whether any token is token-like ([`is_token_like`]).
    pub fn has_token(&self) -> bool {
        self.tokens.iter().any(is_token_like)
    }

    /// The identifiers ([`is_identifier`]), each once: a file name counts by its stem (`x` of
    /// `x.gif`; the whole segment never identifies, see `tokens`).
    pub fn identifiers(&self) -> impl Iterator<Item = &Token<'a>> + '_ {
        self.tokens.iter().filter(|t| t.identifier)
    }

    /// What identifies this URL wherever it is logged: its registered domain (else its host),
    /// its path with each identifier replaced by `{}`, then `#` and its identifiers
    /// ([`UrlAnalysis::identifiers`]) `/`-separated in URL order, a host label first
    /// (`brand.example/t/{}.gif#kw3ue9/H6jS30rkoIEXXK3A`, `bit.ly/{}#3XToDVn`). The same for the
    /// copy in a mail and the request a mail client makes for it, whatever the scheme, the
    /// order of other query pairs or the case of the host; a mail's pixel and its link carrying
    /// the same identifier have two keys (an open and a click are two events). `None` without
    /// identifiers.
    pub fn key(&self) -> Option<String> {
        let label = self.tokens.iter().filter(|t| t.place == TokenPlace::HostLabel);
        let mut ids = label
            .chain(self.identifiers().filter(|t| t.place != TokenPlace::HostLabel))
            .peekable();
        ids.peek()?;
        let site = self.registered_domain().unwrap_or(&self.host);
        let mut key = String::with_capacity(site.len() + self.path.len() + 24);
        key.push_str(site);
        let is_id = |place: TokenPlace| self.tokens.iter().find(|t| t.place == place).filter(|t| t.identifier);
        for (i, seg) in self.path.split('/').filter(|s| !s.is_empty()).enumerate() {
            key.push('/');
            if let Some(stem) = is_id(TokenPlace::PathStem(i)) {
                key.push_str("{}");
                key.push_str(&seg[stem.raw.len()..]);
            } else if is_id(TokenPlace::PathSegment(i)).is_some() {
                key.push_str("{}");
            } else {
                key.push_str(seg);
            }
        }
        key.push('#');
        for (n, t) in ids.enumerate() {
            if n > 0 {
                key.push('/');
            }
            if t.place == TokenPlace::HostLabel {
                key.extend(t.raw.chars().map(|c| c.to_ascii_lowercase()));
            } else {
                key.push_str(keyed(t.raw));
            }
        }
        Some(key)
    }

    /// Whether the host is a URL shortener (its registered domain, or the host itself, is in
    /// [`SHORTENERS`]).
    pub fn is_shortener(&self) -> bool {
        let reg = self.registered_domain();
        SHORTENERS.iter().any(|s| *s == self.host() || reg == Some(*s))
    }

    /// Whether the URL is a redirector's (host or a subdomain of it, and path prefix, in
    /// [`REDIRECTORS`]; `google.com/url`, `*.safelinks.protection.outlook.com`, ...).
    pub fn is_redirector(&self) -> bool {
        let host = self.host();
        REDIRECTORS.iter().any(|(h, p)| {
            let host_ok = host == *h || host.strip_suffix(h).is_some_and(|rest| rest.ends_with('.'));
            host_ok && self.path.starts_with(p)
        })
    }

    /// The campaign template: scheme and host lower-cased, every path segment (or only its
    /// stem, keeping the extension), query value and fragment that is token-like
    /// ([`is_token_like`]) or a number of 6+ digits replaced by `{family:len}`
    /// ([`Alphabet::placeholder`], decoded length, at most [`KEY_IDENTIFIER_MAX`]), the rest
    /// kept verbatim: `https://bbc-worldnews.example/p.gif?id={b64:16}&c=w1`.
    pub fn template(&self) -> String {
        self.write_template(true)
    }

    /// As [`UrlAnalysis::template`] without lengths (`{b64}`): groups a campaign whose tokens
    /// vary in length, as base64 of addresses does.
    pub fn template_shape(&self) -> String {
        self.write_template(false)
    }

    fn write_template(&self, with_len: bool) -> String {
        let mut out = String::with_capacity(self.input.len());
        if let Some(s) = self.scheme {
            for c in s.chars() {
                out.push(c.to_ascii_lowercase());
            }
            out.push_str("://");
        }
        let label = self.tokens.iter().rfind(|t| t.place == TokenPlace::HostLabel);
        match (self.host_kind, label) {
            (HostKind::Ipv6, _) => {
                let _ = write!(out, "[{}]", self.host);
            }
            (_, Some(t)) if templated(t) => {
                out.push('{');
                out.push_str(t.alphabet.placeholder());
                if with_len {
                    let _ = write!(out, ":{}", templated_len(t));
                }
                out.push('}');
                out.push_str(self.host.get(t.raw.len()..).unwrap_or(""));
            }
            _ => out.push_str(&self.host),
        }
        if let Some(p) = self.port {
            out.push(':');
            out.push_str(p);
        }
        let placeholder = |out: &mut String, t: &Token<'_>| {
            out.push('{');
            out.push_str(t.alphabet.placeholder());
            if with_len {
                let _ = write!(out, ":{}", templated_len(t));
            }
            out.push('}');
        };
        let mut toks = self.tokens.iter().peekable();
        // Path: walk the raw path so empty segments and a trailing slash survive.
        let mut seg_index = 0;
        for (n, seg) in self.path.split('/').enumerate() {
            if n > 0 {
                out.push('/');
            }
            if seg.is_empty() {
                continue;
            }
            let whole = toks.next_if(|t| t.place == TokenPlace::PathSegment(seg_index));
            let stem = toks.next_if(|t| t.place == TokenPlace::PathStem(seg_index));
            seg_index += 1;
            match (whole, stem) {
                (_, Some(s)) if templated(s) => {
                    placeholder(&mut out, s);
                    out.push_str(&seg[s.raw.len()..]);
                }
                (Some(w), _) if templated(w) => placeholder(&mut out, w),
                _ => out.push_str(seg),
            }
        }
        if let Some(q) = self.query {
            out.push('?');
            let mut first = true;
            for pair in q.split('&') {
                if !first {
                    out.push('&');
                }
                first = false;
                if pair.is_empty() {
                    continue;
                }
                let Some(t) = toks.next_if(|t| matches!(t.place, TokenPlace::QueryValue(_))) else {
                    out.push_str(pair);
                    continue;
                };
                if let Some(k) = t.key {
                    out.push_str(k);
                    out.push('=');
                }
                if templated(t) {
                    placeholder(&mut out, t);
                } else {
                    out.push_str(t.raw);
                }
            }
        }
        if let Some(f) = self.fragment {
            out.push('#');
            match toks.next_if(|t| t.place == TokenPlace::Fragment) {
                Some(t) if templated(t) => placeholder(&mut out, t),
                _ => out.push_str(f),
            }
        }
        out
    }

    /// Pixel signals from the URL and, when known, the response's content type and body size.
    /// `likely` when the last path segment's stem is a pixel name (`p.gif`, `open`, `1x1.png`,
    /// `beacon`), or it is an image named by a token (`ae85….gif`), or the query asks for 1×1,
    /// or the body is under [`TINY_BODY_BYTES`] and an image by extension or content type. An
    /// image extension or an `image/*` type alone is not enough: newsletters carry real images.
    pub fn pixel(&self, content_type: Option<&str>, body_bytes: Option<u64>) -> PixelSignals {
        pixel(self.path, self.query, content_type, body_bytes)
    }
}

/// How a URL token encodes the recipient's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodingKind {
    /// The address itself (case-insensitive, after percent-decoding: `a%40b.example` counts).
    Plain,
    /// Standard base64 of the address (with or without padding).
    Base64,
    /// Base64url of the address (with or without padding), where it differs from base64.
    Base64Url,
    /// Hex of the address bytes (case-insensitive).
    Hex,
    /// MD5 hex of the lower-cased address.
    Md5,
    /// SHA-1 hex of the lower-cased address.
    Sha1,
    /// SHA-256 hex of the lower-cased address.
    Sha256,
}

/// A found encoding of the recipient in a URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecipientEncoding {
    /// Which encoding.
    pub kind: EncodingKind,
    /// Index of the token in [`UrlAnalysis::tokens`].
    pub token: usize,
    /// The (decoded) token is exactly the encoding, not merely containing it.
    pub exact: bool,
}

/// One encoded form of the address, searched for in tokens.
#[derive(Clone, Debug)]
struct Needle {
    kind: EncodingKind,
    /// Searched in the lower-cased decoded token (needle lower-case) or in the decoded token.
    case_insensitive: bool,
    /// Finds the part of the encoding that does not depend on what follows the address: all of
    /// it, except for base64, whose last partial group changes when more bytes follow.
    finder: memmem::Finder<'static>,
    /// The whole encoding (unpadded): a token equal to it, or to it plus `=` padding up to
    /// `padded_len`, is `exact`.
    full: Vec<u8>,
    padded_len: usize,
}

/// Every encoding of one recipient address, computed once. Build with [`RecipientKeys::new`],
/// then check URLs with [`RecipientKeys::encoded_in`].
#[derive(Clone, Debug)]
pub struct RecipientKeys {
    address: String,
    needles: Vec<Needle>,
}

/// Addresses shorter than this are not looked for (`a@b` would match too much).
const MIN_ADDRESS_LEN: usize = 5;

/// Tokens longer than this are checked through a heap buffer instead of the stack one.
const STACK_TOKEN: usize = 512;

impl RecipientKeys {
    /// Precomputes the encodings of `address` (trimmed; hashes of its lower-cased form; plain,
    /// base64 and hex of both the lower-cased and, if different, the given form).
    pub fn new(address: &str) -> Self {
        let given = address.trim();
        let lower = given.to_ascii_lowercase();
        let mut needles = Vec::new();
        if lower.len() >= MIN_ADDRESS_LEN {
            let mut push = |kind, case_insensitive, text: String, core: usize, padded_len| {
                if !needles
                    .iter()
                    .any(|n: &Needle| n.kind == kind && n.full == text.as_bytes())
                {
                    needles.push(Needle {
                        kind,
                        case_insensitive,
                        finder: memmem::Finder::new(&text.as_bytes()[..core]).into_owned(),
                        full: text.into_bytes(),
                        padded_len,
                    });
                }
            };
            // Most telling first: a hash or the plain address beats a base64 coincidence.
            let l = lower.len();
            push(EncodingKind::Plain, true, lower.clone(), l, l);
            push(EncodingKind::Md5, true, hex(&Md5::digest(lower.as_bytes())), 32, 32);
            push(EncodingKind::Sha1, true, hex(&Sha1::digest(lower.as_bytes())), 40, 40);
            let sha256 = hex(&Sha256::digest(lower.as_bytes()));
            push(EncodingKind::Sha256, true, sha256, 64, 64);
            for form in [lower.as_str(), given] {
                let b = form.as_bytes();
                push(EncodingKind::Hex, true, hex(b), 2 * b.len(), 2 * b.len());
                let std = base64(b, STD_ALPHABET);
                let url = base64(b, URL_ALPHABET);
                let padded = b.len().div_ceil(3) * 4;
                let core = b.len() / 3 * 4;
                if url != std {
                    push(EncodingKind::Base64Url, false, url, core, padded);
                }
                push(EncodingKind::Base64, false, std, core, padded);
            }
        }
        RecipientKeys {
            address: lower,
            needles,
        }
    }

    /// The lower-cased address the keys were built from.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The first token of `url` (in token order; per token, the most telling encoding) that
    /// equals or contains an encoding of the address, after percent-decoding. Base64 is matched
    /// whole or as a substring starting the encoded block (a base64 blob in which the address
    /// starts at another byte offset than a multiple of 3 is not found).
    pub fn encoded_in(&self, url: &UrlAnalysis<'_>) -> Option<RecipientEncoding> {
        url.tokens.iter().enumerate().find_map(|(i, t)| {
            self.encoded_in_raw(t.raw)
                .map(|(kind, exact)| RecipientEncoding { kind, token: i, exact })
        })
    }

    /// As [`RecipientKeys::encoded_in`] for one raw (possibly percent-encoded) token: the
    /// encoding and whether the token is exactly it.
    pub fn encoded_in_token(&self, token: &str) -> Option<(EncodingKind, bool)> {
        self.encoded_in_raw(token)
    }

    /// Whether some encoding of the address could be in a token of `url` (the URL as analysed,
    /// or a URL it wraps): the part every encoding's match needs occurs somewhere in the
    /// percent-decoded URL. A token's decoded bytes are a piece of the decoded URL (tokens end
    /// at `/ ? & = # .`, which no escape holds), so `false` means [`RecipientKeys::encoded_in`]
    /// finds nothing in its analysis: a check of a few byte searches that spares the analysis.
    pub fn occurs_in(&self, url: &str) -> bool {
        self.encoded_in_raw(url).is_some()
    }

    fn encoded_in_raw(&self, raw: &str) -> Option<(EncodingKind, bool)> {
        let shortest = self.needles.iter().map(|n| n.finder.needle().len()).min()?;
        if raw.len() < shortest {
            return None;
        }
        let b = raw.as_bytes();
        let has_upper = b.iter().any(u8::is_ascii_uppercase);
        if memchr::memchr(b'%', b).is_none() {
            // Common case: nothing to decode; lower-case only if needed.
            if !has_upper {
                return self.search(b, b);
            }
            if b.len() <= STACK_TOKEN {
                let mut low = [0u8; STACK_TOKEN];
                low[..b.len()].copy_from_slice(b);
                low[..b.len()].make_ascii_lowercase();
                return self.search(b, &low[..b.len()]);
            }
            return self.search(b, &b.to_ascii_lowercase());
        }
        if raw.len() <= STACK_TOKEN {
            let mut dec = [0u8; STACK_TOKEN];
            let mut low = [0u8; STACK_TOKEN];
            let n = fill(raw, &mut dec, &mut low);
            self.search(&dec[..n], &low[..n])
        } else {
            let dec: Vec<u8> = decoded(raw).collect();
            let low = dec.to_ascii_lowercase();
            self.search(&dec, &low)
        }
    }

    fn search(&self, dec: &[u8], low: &[u8]) -> Option<(EncodingKind, bool)> {
        self.needles.iter().find_map(|n| {
            let hay = if n.case_insensitive { low } else { dec };
            n.finder.find(hay)?;
            let exact = hay == n.full.as_slice()
                || (hay.len() == n.padded_len
                    && hay.starts_with(&n.full)
                    && hay[n.full.len()..].iter().all(|&b| b == b'='));
            Some((n.kind, exact))
        })
    }
}

/// Percent-decodes `raw` into `dec` and its ASCII lower-case into `low`; returns the length.
fn fill(raw: &str, dec: &mut [u8], low: &mut [u8]) -> usize {
    let mut n = 0;
    for (i, b) in decoded(raw).enumerate().take(dec.len()) {
        dec[i] = b;
        low[i] = b.to_ascii_lowercase();
        n = i + 1;
    }
    n
}

/// Whether `url_or_token` (a URL, or a bare token if it does not parse to any token) encodes
/// `recipient`. Builds the keys each call: for many URLs, build [`RecipientKeys`] once.
pub fn encodes_recipient(url_or_token: &str, recipient: &str) -> Option<RecipientEncoding> {
    let keys = RecipientKeys::new(recipient);
    let a = analyze(url_or_token);
    keys.encoded_in(&a).or_else(|| {
        keys.encoded_in_token(url_or_token.trim())
            .map(|(kind, exact)| RecipientEncoding { kind, token: 0, exact })
    })
}

const STD_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded base64 of `b` in `alphabet`.
fn base64(b: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let v = (chunk[0] as u32) << 16
            | (chunk.get(1).copied().unwrap_or(0) as u32) << 8
            | chunk.get(2).copied().unwrap_or(0) as u32;
        for i in 0..=chunk.len() {
            out.push(alphabet[(v >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Lower-case hex of `b`.
fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(b.len() * 2);
    for &x in b {
        out.push(DIGITS[(x >> 4) as usize] as char);
        out.push(DIGITS[(x & 15) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests;
