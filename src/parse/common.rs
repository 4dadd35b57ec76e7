//! Small, allocation-free helpers every parser shares: URL splitting, IP and address clean-up,
//! fast timestamp construction, tokenizers for space-separated and quoted fields, and a CSV
//! record splitter.
//!
//! Values that may have been unescaped (a JSON string with escapes, a CSV field with `""`) come as
//! `Cow`s; the `_cow` helpers keep a borrowed one borrowed. Everything here borrows from its input
//! and never panics on any input.

use std::borrow::Cow;
use std::net::IpAddr;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::event::{Endpoint, Event, Str, Url};

use super::ParseError;

/// `-` and the empty string mean "no value" in most access-log formats.
#[inline]
pub fn dash_none(s: &str) -> Option<&str> {
    if s.is_empty() || s == "-" { None } else { Some(s) }
}

/// Parses an IP address as logs write it: plain, `[v6]`, `IPv6:v6` (Sendmail, Postfix), or with an
/// IPv6 zone id (`fe80::1%3`, which the ECS `ip` type cannot hold, so the zone is dropped).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    if let Some(v4) = parse_ipv4(s.as_bytes()) {
        return Some(IpAddr::V4(v4));
    }
    let s = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(s);
    let s = s.strip_prefix("IPv6:").or_else(|| s.strip_prefix("ipv6:")).unwrap_or(s);
    let s = match s.find('%') {
        Some(i) if s.contains(':') => &s[..i],
        _ => s,
    };
    if let Some(v4) = parse_ipv4(s.as_bytes()) {
        return Some(IpAddr::V4(v4));
    }
    // Every IPv6 literal has a ':'; host names are spared the full parser.
    if s.contains(':') { s.parse().ok() } else { None }
}

/// Dotted-quad IPv4 without the generic parser's overhead (this runs on every web log line):
/// four groups of one to three digits, no leading zeros (`010` is ambiguous), each at most 255.
/// One pass over the bytes, so a host name fails at its first letter.
#[inline]
fn parse_ipv4(b: &[u8]) -> Option<std::net::Ipv4Addr> {
    if !(7..=15).contains(&b.len()) {
        return None;
    }
    let mut octets = [0u8; 4];
    let (mut k, mut value, mut len) = (0, 0u32, 0);
    for &c in b {
        if c == b'.' {
            if len == 0 || k == 3 || value > 255 {
                return None;
            }
            octets[k] = value as u8;
            (k, value, len) = (k + 1, 0, 0);
            continue;
        }
        let d = c.wrapping_sub(b'0');
        // A digit after a leading zero, or a fourth digit, makes no octet.
        if d > 9 || (len > 0 && value == 0) || len == 3 {
            return None;
        }
        value = value * 10 + d as u32;
        len += 1;
    }
    if k != 3 || len == 0 || value > 255 {
        return None;
    }
    octets[3] = value as u8;
    Some(octets.into())
}

/// Sets `address` and, when it is an IP literal, `ip` of an endpoint.
#[inline]
pub fn set_address<'a>(ep: &mut Endpoint<'a>, s: &'a str) {
    if let Some(s) = dash_none(s) {
        ep.ip = parse_ip(s);
        ep.address = Some(Cow::Borrowed(s));
    }
}

/// [`set_address`] of a value that may have been unescaped.
pub fn set_address_cow<'a>(ep: &mut Endpoint<'a>, s: Str<'a>) {
    match s {
        Cow::Borrowed(s) => set_address(ep, s),
        Cow::Owned(s) if !s.is_empty() && s != "-" => {
            ep.ip = parse_ip(&s);
            ep.address = Some(Cow::Owned(s));
        }
        Cow::Owned(_) => {}
    }
}

/// A column meant for a host name (W3C `s-supplier-name`, `r-dns`, `c-dns`; Squid `%<A`,
/// `%>A`) that may hold an IP address instead (a request to a bare IP, a client without reverse
/// DNS): a name goes to `domain`, an address to `ip` and `address` unless an address column set
/// them already. `-` and empty set nothing.
pub fn set_name_or_ip<'a>(ep: &mut Endpoint<'a>, s: &'a str) {
    let Some(s) = dash_none(s) else { return };
    match parse_ip(s) {
        Some(ip) => {
            ep.ip.get_or_insert(ip);
            ep.address.get_or_insert(Cow::Borrowed(s));
        }
        None => ep.domain = Some(Cow::Borrowed(s)),
    }
}

/// The request headers Squid logs with `log_mime_hdrs on` (a `[...]` block's text, without the
/// brackets): fills `user_agent.original`, `http.request.referrer` and `http.request.cookie`
/// where the event has none yet. Squid writes CR and LF as `\r` and `\n`, a backslash as `\\`,
/// and control bytes, bytes from 0x7F, `%`, `[` and `]` as `%XX`; a value without escapes is
/// borrowed.
pub fn fill_from_mime_headers<'a>(block: &'a str, ev: &mut Event<'a>) {
    for header in mime_header_lines(block) {
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let slot = match name.trim() {
            n if n.eq_ignore_ascii_case("User-Agent") => &mut ev.user_agent.original,
            n if n.eq_ignore_ascii_case("Referer") => &mut ev.http.request.referrer,
            n if n.eq_ignore_ascii_case("Cookie") => &mut ev.http.request.cookie,
            _ => continue,
        };
        if slot.is_none() {
            *slot = non_empty(unescape_mime(value.trim_matches(' ')));
        }
    }
}

/// The header lines of a `log_mime_hdrs` block: split at the escaped line ends (`\r\n`, or a
/// bare `\n`), never inside an escaped backslash.
fn mime_header_lines(block: &str) -> impl Iterator<Item = &str> {
    let mut rest = block;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let b = rest.as_bytes();
        let (mut i, mut cr_at) = (0, None);
        while let Some(j) = b.get(i..).and_then(|tail| memchr::memchr(b'\\', tail)) {
            let k = i + j;
            match b.get(k + 1) {
                Some(b'n') => {
                    // `k` and `k - 2` index ASCII backslashes: char boundaries.
                    let end = if cr_at == Some(k.wrapping_sub(2)) { k - 2 } else { k };
                    let line = &rest[..end];
                    rest = &rest[k + 2..];
                    return Some(line);
                }
                Some(b'r') => cr_at = Some(k),
                _ => {}
            }
            i = k + 2;
        }
        Some(std::mem::take(&mut rest))
    })
    .filter(|l| !l.is_empty())
}

/// Undoes Squid's `log_mime_hdrs` escaping of one value (see [`fill_from_mime_headers`]).
fn unescape_mime(v: &str) -> Str<'_> {
    if !v.bytes().any(|b| b == b'%' || b == b'\\') {
        return Cow::Borrowed(v);
    }
    let b = v.as_bytes();
    let hex = |c: &u8| (*c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (b.get(i + 1).and_then(hex), b.get(i + 2).and_then(hex))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        let unescaped = match (b[i], b.get(i + 1)) {
            (b'\\', Some(b'r')) => b'\r',
            (b'\\', Some(b'n')) => b'\n',
            (b'\\', Some(b't')) => b'\t',
            (b'\\', Some(b'\\')) => b'\\',
            (c, _) => {
                out.push(c);
                i += 1;
                continue;
            }
        };
        out.push(unescaped);
        i += 2;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// `<a@b.example>` → `a@b.example`; also trims spaces. `<>` (the null sender) → `""`.
#[inline]
pub fn strip_angle(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('<').and_then(|s| s.strip_suffix('>')).unwrap_or(s)
}

/// [`strip_angle`] of a value that may have been unescaped.
pub fn strip_angle_cow(s: Str<'_>) -> Str<'_> {
    narrow(s, strip_angle)
}

/// The part of `s` that `f` picks (a slice of its argument): borrowed from the line when `s` is,
/// and copied from an owned `s` only when `f` cut something off.
pub fn narrow<'a>(s: Str<'a>, f: impl FnOnce(&str) -> &str) -> Str<'a> {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(f(b)),
        Cow::Owned(o) => {
            let part = f(&o);
            if part.len() == o.len() {
                Cow::Owned(o)
            } else {
                Cow::Owned(part.to_owned())
            }
        }
    }
}

/// `None` for an empty string.
#[inline]
pub fn non_empty<'a>(s: impl Into<Str<'a>>) -> Option<Str<'a>> {
    let s = s.into();
    (!s.is_empty()).then_some(s)
}

/// Appends the addresses of a `;`-separated list (`<>` stripped, empty entries skipped), as
/// Exchange and Microsoft 365 write recipients.
pub fn push_addresses<'a>(to: &mut Vec<Str<'a>>, v: Str<'a>) {
    match v {
        Cow::Borrowed(s) => to.extend(
            s.split(';')
                .map(strip_angle)
                .filter(|a| !a.is_empty())
                .map(Cow::Borrowed),
        ),
        Cow::Owned(s) => to.extend(
            s.split(';')
                .map(strip_angle)
                .filter(|a| !a.is_empty())
                .map(|a| Cow::Owned(a.to_owned())),
        ),
    }
}

/// `email.direction` from a gateway's word for it: `inbound`, `outbound`, `internal`, and
/// Exchange's `Incoming`, `Originating`/`Outgoing` and `Intra-org` (any case, spaces trimmed).
pub fn direction(s: &str) -> Option<&'static str> {
    let s = s.trim();
    let is = |w: &str| s.eq_ignore_ascii_case(w);
    if is("inbound") || is("incoming") {
        Some("inbound")
    } else if is("outbound") || is("originating") || is("outgoing") {
        Some("outbound")
    } else if is("internal") || is("intra-org") || is("intraorg") {
        Some("internal")
    } else {
        None
    }
}

/// Splits a URL into ECS parts, borrowing each from `original`.
///
/// Accepts absolute URLs (`scheme://host[:port]/path?query#fragment`), the authority form of
/// CONNECT requests (`host:port`) and origin-form targets (`/path?query`). Never fails: text that
/// is none of these is kept in `url.original` only.
pub fn split_url(original: &str) -> Url<'_> {
    // Word-at-a-time searches for the separators (`find_any`) rather than a byte loop or the
    // generic string searchers: this runs on every web log line.
    let mut url = Url {
        original: Some(Cow::Borrowed(original)),
        ..Url::default()
    };
    let b = original.as_bytes();
    let path_start = match scheme_len(b) {
        Some(n) => {
            url.scheme = Some(Cow::Borrowed(&original[..n]));
            let start = n + 3;
            // One pass over the authority: it ends at the first `/`, `?` or `#`; the host starts
            // after its last `@`, and a port follows the host's last `:`.
            let (mut host_start, mut colon, mut colons) = (start, None, 0);
            let mut i = start;
            let end = loop {
                let Some(j) = find_any(&b[i..], [b'/', b'?', b'#', b'@', b':']) else {
                    break b.len();
                };
                let k = i + j;
                match b[k] {
                    b'@' => (host_start, colon, colons) = (k + 1, None, 0),
                    b':' => (colon, colons) = (Some(k), colons + 1),
                    _ => break k,
                }
                i = k + 1;
            };
            set_host_port(&mut url, original, host_start, colon.filter(|_| colons == 1), end);
            end
        }
        None if b.first() == Some(&b'/') => 0,
        None => {
            // Authority form (`host:port`, as in CONNECT) or a bare host name; anything else (a
            // Squid `error:...` pseudo-URL, say) stays in `url.original` only.
            if find_any(b, [b'/', b' ', b'?', b'@']).is_none() {
                let colon = b.iter().rposition(|&c| c == b':');
                let is_authority = match colon {
                    Some(i) => i > 0 && parse_u16(&original[i + 1..]).is_some(),
                    None => b.contains(&b'.'),
                };
                if is_authority {
                    let one_colon = colon.filter(|&c| !b[..c].contains(&b':'));
                    set_host_port(&mut url, original, 0, one_colon, b.len());
                }
            }
            return url;
        }
    };
    let path_end = find_any(&b[path_start..], [b'?', b'#']).map_or(b.len(), |i| path_start + i);
    let mut end = b.len();
    if path_end < b.len() {
        let fragment = if b[path_end] == b'#' {
            Some(path_end)
        } else {
            find_byte(&b[path_end..], b'#').map(|i| path_end + i)
        };
        if let Some(f) = fragment {
            url.fragment = non_empty(&original[f + 1..]);
            end = f;
        }
        if b[path_end] == b'?' {
            url.query = non_empty(&original[path_end + 1..end]);
        }
    }
    if path_end > path_start {
        let path = &original[path_start..path_end];
        url.path = Some(Cow::Borrowed(path));
        url.extension = extension(path).map(Cow::Borrowed);
    }
    url
}

/// The length of the scheme of an absolute URL (`https` of `https://...`), or `None` when `b`
/// does not start with `scheme://`.
#[inline]
fn scheme_len(b: &[u8]) -> Option<usize> {
    // The two schemes of nearly every proxy log line, before the general rule.
    if b.starts_with(b"https://") {
        return Some(5);
    }
    if b.starts_with(b"http://") {
        return Some(4);
    }
    let n = b
        .iter()
        .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')))?;
    (n > 0 && b[n..].starts_with(b"://")).then_some(n)
}

/// The extension of the last path segment (`/a/b.gif` → `gif`), if it has one.
pub fn extension(path: &str) -> Option<&str> {
    // Walk back to the segment's start, remembering the last dot: segments are short, and a
    // SIMD reverse search costs more to set up than this loop takes.
    let b = path.as_bytes();
    let mut dot = None;
    let mut i = b.len();
    while i > 0 {
        i -= 1;
        match b[i] {
            b'/' => {
                i += 1;
                break;
            }
            b'.' if dot.is_none() => dot = Some(i),
            _ => {}
        }
    }
    let dot = dot?;
    let ext = &path[dot + 1..];
    (dot > i && !ext.is_empty() && ext.len() <= 16).then_some(ext)
}

/// Sets `url.domain` and `url.port` from `s[start..end]`, where `colon` is the position of the
/// `:` before a port when the host part holds exactly one (more means a bare IPv6 address).
/// Handles `[v6]:port`.
fn set_host_port<'a>(url: &mut Url<'a>, s: &'a str, start: usize, colon: Option<usize>, end: usize) {
    let hostport = &s[start..end];
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, rest)) => (h, rest.strip_prefix(':')),
            None => (hostport, None),
        }
    } else {
        match colon {
            Some(c) if c < end => (&s[start..c], Some(&s[c + 1..end])),
            _ => (hostport, None),
        }
    };
    if !host.is_empty() {
        url.domain = Some(Cow::Borrowed(host));
    }
    url.port = port.and_then(parse_u16);
}

/// Splits `"METHOD target HTTP/x.y"` into its three parts; missing parts are `None`.
pub fn split_request_line(s: &str) -> (Option<&str>, Option<&str>, Option<&str>) {
    let mut it = s.splitn(2, ' ');
    let method = it.next().filter(|m| !m.is_empty());
    let rest = it.next().unwrap_or("");
    let (target, version) = match rest.rsplit_once(' ') {
        Some((t, v)) if v.starts_with("HTTP/") => (t, Some(&v[5..])),
        _ => (rest, None),
    };
    (method, (!target.is_empty()).then_some(target), version)
}

/// Parses an unsigned decimal integer, rejecting signs, spaces and overflow.
#[inline]
pub fn parse_u64(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    // 19 digits cannot overflow: only a 20th is checked.
    let (head, last) = b.split_at(b.len().min(19));
    let digit = |c: u8| Some(c.wrapping_sub(b'0')).filter(|d| *d <= 9).map(u64::from);
    let mut n: u64 = 0;
    for &c in head {
        n = n * 10 + digit(c)?;
    }
    for &c in last {
        n = n.checked_mul(10)?.checked_add(digit(c)?)?;
    }
    Some(n)
}

/// Parses `s` as a 16-bit unsigned number (ports, status codes).
#[inline]
pub fn parse_u16(s: &str) -> Option<u16> {
    parse_u64(s).and_then(|n| u16::try_from(n).ok())
}

/// Parses a Unix time with an optional fraction, as Squid writes it (`1157689312.049`).
pub fn parse_epoch(s: &str) -> Option<Timestamp> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs = i64::try_from(parse_u64(secs)?).ok()?;
    let mut nanos: i32 = 0;
    if !frac.is_empty() {
        if frac.len() > 9 {
            return None;
        }
        let f = parse_u64(frac)? as i32;
        nanos = f * 10i32.pow(9 - frac.len() as u32);
    }
    Timestamp::new(secs, nanos).ok()
}

/// Month abbreviation (`Jan`..`Dec`, any case) to 1..=12.
pub fn month_from_abbrev(s: &str) -> Option<u8> {
    let b = s.as_bytes();
    if b.len() < 3 {
        return None;
    }
    let m = [
        b[0].to_ascii_lowercase(),
        b[1].to_ascii_lowercase(),
        b[2].to_ascii_lowercase(),
    ];
    Some(match &m {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    })
}

/// A calendar date and time of day as written in a log, before its time zone is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub nanos: u32,
}

impl Civil {
    /// The instant this civil time names at a fixed UTC offset (seconds east of UTC).
    ///
    /// Pure arithmetic (days-from-civil), so it costs a few nanoseconds; used on every line of
    /// formats that carry their own offset or are UTC by definition.
    pub fn at_offset(self, offset_secs: i32) -> Option<Timestamp> {
        if !(1..=12).contains(&self.month)
            || self.day == 0
            || self.day > days_in_month(self.year, self.month)
            || self.hour > 23
            || self.minute > 59
            || self.second > 60
            || self.nanos >= 1_000_000_000
        {
            return None;
        }
        let days = days_from_civil(self.year as i64, self.month as i64, self.day as i64);
        // A leap second (:60) is folded into the next second, as most log tools do.
        let secs =
            days * 86_400 + self.hour as i64 * 3600 + self.minute as i64 * 60 + self.second as i64 - offset_secs as i64;
        Timestamp::new(secs, self.nanos as i32).ok()
    }

    /// The instant this civil time names in a time zone (DST gaps and folds resolved the way
    /// `jiff`'s "compatible" strategy does, like most schedulers).
    pub fn in_zone(self, tz: &TimeZone) -> Option<Timestamp> {
        if tz == &TimeZone::UTC {
            return self.at_offset(0);
        }
        let dt = jiff::civil::DateTime::new(
            self.year,
            self.month as i8,
            self.day as i8,
            self.hour as i8,
            self.minute as i8,
            self.second.min(59) as i8,
            self.nanos as i32,
        )
        .ok()?;
        tz.to_ambiguous_timestamp(dt).compatible().ok()
    }
}

fn is_leap(y: i16) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i16, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Reads exactly `n` ASCII digits from the front of `s`.
#[inline]
pub fn digits(s: &[u8], n: usize) -> Option<u32> {
    if s.len() < n {
        return None;
    }
    let mut v = 0u32;
    for &b in &s[..n] {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as u32;
    }
    Some(v)
}

/// Parses `YYYY-MM-DD?hh:mm:ss[.fff...]` (any single separator between date and time) at the
/// start of `s`. Returns the civil time and the number of bytes consumed.
pub fn parse_iso_civil(s: &str) -> Option<(Civil, usize)> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let mut c = Civil {
        year: digits(b, 4)? as i16,
        month: digits(&b[5..], 2)? as u8,
        day: digits(&b[8..], 2)? as u8,
        hour: digits(&b[11..], 2)? as u8,
        minute: digits(&b[14..], 2)? as u8,
        second: digits(&b[17..], 2)? as u8,
        nanos: 0,
    };
    let mut used = 19;
    if b.len() > 20 && (b[19] == b'.' || b[19] == b',') {
        let frac_len = b[20..].iter().take_while(|b| b.is_ascii_digit()).count();
        if frac_len == 0 {
            return None;
        }
        let take = frac_len.min(9);
        let f = digits(&b[20..], take)?;
        c.nanos = f * 10u32.pow(9 - take as u32);
        used = 20 + frac_len;
    }
    Some((c, used))
}

/// Parses a UTC offset at the start of `s`: `Z`, `+hh:mm`, `+hhmm` or `+hh`. Returns seconds east
/// of UTC and bytes consumed.
pub fn parse_offset(s: &str) -> Option<(i32, usize)> {
    let b = s.as_bytes();
    match b.first()? {
        b'Z' | b'z' => Some((0, 1)),
        sign @ (b'+' | b'-') => {
            let h = digits(&b[1..], 2)? as i32;
            let (m, used) = if b.get(3) == Some(&b':') {
                (digits(&b[4..], 2)? as i32, 6)
            } else if let Some(m) = digits(&b[3..], 2) {
                (m as i32, 5)
            } else {
                (0, 3)
            };
            if h > 23 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            Some((if *sign == b'-' { -secs } else { secs }, used))
        }
        _ => None,
    }
}

/// Parses an RFC 3339 / ISO 8601 timestamp (`2024-01-25T15:16:09.843Z`, `... 15:16:09+01:00`);
/// without an offset the time is read in `tz`. Trailing text is rejected.
pub fn parse_iso_timestamp(s: &str, tz: &TimeZone) -> Option<Timestamp> {
    let (civil, used) = parse_iso_civil(s)?;
    let rest = &s[used..];
    if rest.is_empty() {
        return civil.in_zone(tz);
    }
    let (offset, n) = parse_offset(rest)?;
    if n != rest.len() {
        return None;
    }
    civil.at_offset(offset)
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Flags (high bit per byte) the bytes of `chunk` equal to the byte repeated in `pattern`. The
/// lowest flag is exact; borrows may flag bytes above a real match, never below.
#[inline(always)]
fn eq_bytes(chunk: u64, pattern: u64) -> u64 {
    let v = chunk ^ pattern;
    v.wrapping_sub(LO) & !v & HI
}

/// Position of the first byte of `hay` that is one of `needles` (at most a few). Log fields are
/// short, so this scans eight bytes at a time in a register (the classic "has zero byte" trick)
/// and hands long fields to `memchr`, whose SIMD set-up only pays off after a few dozen bytes.
#[inline(always)]
pub fn find_any<const N: usize>(hay: &[u8], needles: [u8; N]) -> Option<usize> {
    let patterns = needles.map(|n| LO * n as u64);
    let mut i = 0;
    while let Some(chunk) = hay.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let hit = patterns.iter().fold(0, |acc, &p| acc | eq_bytes(word, p));
        if hit != 0 {
            return Some(i + (hit.trailing_zeros() / 8) as usize);
        }
        i += 8;
        if i >= 64 {
            let rest = &hay[i..];
            let found = match needles.as_slice() {
                [a] => memchr::memchr(*a, rest),
                [a, b] => memchr::memchr2(*a, *b, rest),
                [a, b, c] => memchr::memchr3(*a, *b, *c, rest),
                _ => rest.iter().position(|c| needles.contains(c)),
            };
            return found.map(|j| i + j);
        }
    }
    hay[i..].iter().position(|c| needles.contains(c)).map(|j| i + j)
}

/// Position of the first `needle` in `hay` (see [`find_any`]).
#[inline]
pub fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    find_any(hay, [needle])
}

/// Position of the first `needle` in `hay`: `memchr` to each place its first byte occurs, then a
/// comparison. For the short separators of log lines (`": "`, `", "`, `"; from=<"`) this costs
/// less than building a substring searcher per call, which `str::find` does.
#[inline]
pub fn find_str(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let (&first, rest) = n.split_first()?;
    let mut from = 0;
    while let Some(i) = memchr::memchr(first, h.get(from..)?) {
        let at = from + i;
        if h[at + 1..].starts_with(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Position of the last `needle` in `hay` (see [`find_str`]).
#[inline]
pub fn rfind_str(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let (&first, rest) = n.split_first()?;
    let mut to = h.len().checked_sub(n.len())? + 1;
    while let Some(at) = memchr::memrchr(first, &h[..to]) {
        if h[at + 1..].starts_with(rest) {
            return Some(at);
        }
        to = at;
    }
    None
}

/// `str::split_once` for one ASCII byte, without the generic pattern searcher's set-up cost.
#[inline]
pub fn split_at_byte(s: &str, b: u8) -> Option<(&str, &str)> {
    find_byte(s.as_bytes(), b).map(|i| (&s[..i], &s[i + 1..]))
}

/// `s` without its leading spaces.
#[inline]
pub fn skip_spaces(s: &str) -> &str {
    let n = s.bytes().take_while(|&c| c == b' ').count();
    &s[n..]
}

/// Splits off the next space-separated token, skipping runs of spaces.
#[inline]
pub fn next_token<'a>(s: &mut &'a str) -> Option<&'a str> {
    let t = skip_spaces(s);
    if t.is_empty() {
        *s = t;
        return None;
    }
    let end = find_byte(t.as_bytes(), b' ').unwrap_or(t.len());
    *s = &t[end..];
    Some(&t[..end])
}

/// Splits off the next field if it is `"quoted"` (after any spaces) and returns the text inside
/// the quotes, backslash escapes kept as written; a field cut short by the line's end takes the
/// rest. `None`, and `s` untouched, when the next field is not quoted.
///
/// Jumps between quotes and backslashes with `memchr2`: quoted referers and user agents are most
/// of a web log line, and a byte loop here was a third of the Combined parse time.
#[inline]
pub fn next_quoted<'a>(s: &mut &'a str) -> Option<&'a str> {
    let body = skip_spaces(s).strip_prefix('"')?;
    let b = body.as_bytes();
    let mut i = 0;
    while let Some(j) = b.get(i..).and_then(|rest| memchr::memchr2(b'"', b'\\', rest)) {
        let k = i + j;
        if b[k] == b'"' {
            // `k` is the index of an ASCII quote: a char boundary.
            *s = &body[k + 1..];
            return Some(&body[..k]);
        }
        i = k + 2;
    }
    *s = "";
    Some(body)
}

/// Splits off the next token that is either `"quoted"` (see [`next_quoted`]) or a plain
/// space-separated word. Returns the text inside the quotes.
pub fn next_quoted_or_token<'a>(s: &mut &'a str) -> Option<&'a str> {
    next_quoted(s).or_else(|| next_token(s))
}

/// The fields of one CSV record (RFC 4180 quoting: `"..."` with `""` for a quote inside), each
/// borrowed from the line unless it holds a `""`. A field with an unterminated quote, or text after
/// its closing quote, is an error; a quote inside an unquoted field is kept as written.
pub struct CsvFields<'a> {
    rest: &'a str,
    done: bool,
}

impl<'a> CsvFields<'a> {
    pub fn new(line: &'a str) -> Self {
        CsvFields {
            rest: line,
            done: false,
        }
    }
}

impl<'a> Iterator for CsvFields<'a> {
    type Item = Result<Str<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let s = self.rest;
        let Some(quoted) = s.strip_prefix('"') else {
            return Some(Ok(Cow::Borrowed(match memchr::memchr(b',', s.as_bytes()) {
                Some(i) => {
                    self.rest = &s[i + 1..];
                    &s[..i]
                }
                None => {
                    self.done = true;
                    s
                }
            })));
        };
        let b = quoted.as_bytes();
        let mut from = 0;
        let mut doubled = false;
        loop {
            let Some(i) = memchr::memchr(b'"', &b[from..]).map(|i| from + i) else {
                self.done = true;
                return Some(Err(ParseError::new("unterminated quoted CSV field")));
            };
            if b.get(i + 1) == Some(&b'"') {
                doubled = true;
                from = i + 2;
                continue;
            }
            let inner = &quoted[..i];
            match b.get(i + 1) {
                None => self.done = true,
                Some(b',') => self.rest = &quoted[i + 2..],
                Some(_) => {
                    self.done = true;
                    return Some(Err(ParseError::new("text after the closing quote of a CSV field")));
                }
            }
            return Some(Ok(if doubled {
                Cow::Owned(inner.replace("\"\"", "\""))
            } else {
                Cow::Borrowed(inner)
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                "http://user:pw@www.example.com:8080/a/b/pixel.gif?id=abc&x=1#top",
                &[
                    ("scheme", "http"),
                    ("domain", "www.example.com"),
                    ("port", "8080"),
                    ("path", "/a/b/pixel.gif"),
                    ("query", "id=abc&x=1"),
                    ("fragment", "top"),
                    ("extension", "gif"),
                ],
            ),
            ("login.yahoo.com:443", &[("domain", "login.yahoo.com"), ("port", "443")]),
            ("www.example.com", &[("domain", "www.example.com")]),
            ("error:method-not-allowed", &[]),
            ("[2001:db8::1]:443", &[("domain", "2001:db8::1"), ("port", "443")]),
            (
                "/index.html?q=1",
                &[("path", "/index.html"), ("query", "q=1"), ("extension", "html")],
            ),
            (
                "https://[2001:db8::1]:8443/",
                &[
                    ("scheme", "https"),
                    ("domain", "2001:db8::1"),
                    ("port", "8443"),
                    ("path", "/"),
                ],
            ),
            ("http://example.com", &[("scheme", "http"), ("domain", "example.com")]),
            ("/dir.d/file", &[("path", "/dir.d/file")]),
            // Two colons after the user part: a bare IPv6 host, no port.
            (
                "ftp://u:p@2001:db8::1/x",
                &[("scheme", "ftp"), ("domain", "2001:db8::1"), ("path", "/x")],
            ),
            (
                "HTTPS://h.example:8/",
                &[
                    ("scheme", "HTTPS"),
                    ("domain", "h.example"),
                    ("port", "8"),
                    ("path", "/"),
                ],
            ),
            ("/.hidden", &[("path", "/.hidden")]),
        ];
        for (input, want) in cases {
            let u = split_url(input);
            let got = |k: &str| -> Option<String> {
                match k {
                    "scheme" => u.scheme.as_deref().map(str::to_owned),
                    "domain" => u.domain.as_deref().map(str::to_owned),
                    "port" => u.port.map(|p| p.to_string()),
                    "path" => u.path.as_deref().map(str::to_owned),
                    "query" => u.query.as_deref().map(str::to_owned),
                    "fragment" => u.fragment.as_deref().map(str::to_owned),
                    "extension" => u.extension.as_deref().map(str::to_owned),
                    _ => unreachable!(),
                }
            };
            for k in ["scheme", "domain", "port", "path", "query", "fragment", "extension"] {
                let expected = want.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
                assert_eq!(got(k), expected, "{input}: {k}");
            }
            assert_eq!(u.original.as_deref(), Some(*input));
        }
    }

    #[test]
    fn ip_forms() {
        assert_eq!(parse_ip("10.1.2.3"), Some("10.1.2.3".parse().unwrap()));
        assert_eq!(parse_ip("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(parse_ip("IPv6:2a02:cf40::"), Some("2a02:cf40::".parse().unwrap()));
        assert_eq!(
            parse_ip("fe81::63ae:94c0:196e:8adf%3"),
            Some("fe81::63ae:94c0:196e:8adf".parse().unwrap())
        );
        assert_eq!(parse_ip("monitoring-server"), None);
        assert_eq!(parse_ip("deadbeef.example"), None);
        assert_eq!(parse_ip("0.0.0.0"), Some("0.0.0.0".parse().unwrap()));
        assert_eq!(parse_ip("255.255.255.255"), Some("255.255.255.255".parse().unwrap()));
        for bad in [
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1..2.3",
            "1.2.3.",
            "1.2.3.4 ",
            "1234.1.1.1",
        ] {
            assert_eq!(parse_ip(bad), None, "{bad}");
        }
        assert_eq!(parse_ip(""), None);
    }

    #[test]
    fn timestamps() {
        let ts = parse_epoch("1157689312.049").unwrap();
        assert_eq!(ts.to_string(), "2006-09-08T04:21:52.049Z");
        assert_eq!(parse_epoch("1157689312").unwrap().as_second(), 1157689312);
        assert!(parse_epoch("11576x").is_none());
        assert!(parse_epoch("-5").is_none());
        let utc = TimeZone::UTC;
        assert_eq!(
            parse_iso_timestamp("2024-01-25T15:16:09.843Z", &utc)
                .unwrap()
                .to_string(),
            "2024-01-25T15:16:09.843Z"
        );
        assert_eq!(
            parse_iso_timestamp("2023-08-17T14:54:12.949180-07:00", &utc)
                .unwrap()
                .to_string(),
            "2023-08-17T21:54:12.94918Z"
        );
        assert_eq!(
            parse_iso_timestamp("2021-10-16T14:45:34+0000", &utc)
                .unwrap()
                .to_string(),
            "2021-10-16T14:45:34Z"
        );
        assert!(parse_iso_timestamp("2021-02-30T00:00:00Z", &utc).is_none());
        assert!(parse_iso_timestamp("2021-10-16T14:45:34+0000 trailing", &utc).is_none());
        // Days-from-civil agrees with jiff across leap years and eras.
        for (y, m, d) in [(1970, 1, 1), (2000, 2, 29), (2024, 12, 31), (1900, 3, 1), (2100, 2, 28)] {
            let c = Civil {
                year: y,
                month: m,
                day: d,
                hour: 12,
                minute: 34,
                second: 56,
                nanos: 7,
            };
            let via_jiff = jiff::civil::date(y, m as i8, d as i8)
                .at(12, 34, 56, 7)
                .to_zoned_datetime(TimeZone::UTC)
                .unwrap()
                .timestamp();
            assert_eq!(c.at_offset(0), Some(via_jiff), "{y}-{m}-{d}");
        }
    }

    #[test]
    fn tokens_and_quotes() {
        let mut s = r#"  a  "b \"c\" d" e"#;
        assert_eq!(next_token(&mut s), Some("a"));
        assert_eq!(next_quoted_or_token(&mut s), Some(r#"b \"c\" d"#));
        assert_eq!(next_quoted_or_token(&mut s), Some("e"));
        assert_eq!(next_quoted_or_token(&mut s), None);
        let mut cut = r#""unterminated"#;
        assert_eq!(next_quoted_or_token(&mut cut), Some("unterminated"));
        let mut s = r#"plain "q\\" "#;
        assert_eq!(next_quoted(&mut s), None);
        assert_eq!(s, r#"plain "q\\" "#);
        assert_eq!(next_token(&mut s), Some("plain"));
        assert_eq!(next_quoted(&mut s), Some(r#"q\\"#));
        assert_eq!(s, " ");
        let mut trailing_escape = "\"ab\\";
        assert_eq!(next_quoted(&mut trailing_escape), Some("ab\\"));
        assert_eq!(trailing_escape, "");
    }

    #[test]
    fn find_byte_agrees_with_a_plain_search() {
        let hay: Vec<u8> = (0..200u32).map(|i| (i * 7 % 251) as u8).collect();
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 100, 200] {
            for needle in [0u8, 7, 14, 200, 250, 255, b' '] {
                let h = &hay[..len];
                assert_eq!(
                    find_byte(h, needle),
                    h.iter().position(|&c| c == needle),
                    "len {len} needle {needle}"
                );
            }
        }
        assert_eq!(find_byte(b"aaaaaaaa\x80 b", b' '), Some(9));
        assert_eq!(find_byte(b"\x01\x00 x", b' '), Some(2));
    }

    #[test]
    fn find_str_agrees_with_the_std_searchers() {
        let hay = "a: b, c>, d; from=<x> from y from z; from=<";
        for needle in [
            ": ",
            ", ",
            ">, ",
            "; from=<",
            " from ",
            "z",
            "<",
            "a",
            "nowhere",
            "a: b, c>, d; from=<x> from y from z; from=<!",
        ] {
            assert_eq!(find_str(hay, needle), hay.find(needle), "{needle}");
            assert_eq!(rfind_str(hay, needle), hay.rfind(needle), "{needle}");
        }
        assert_eq!(rfind_str("ab", "abc"), None);
    }

    #[test]
    fn u64_limits() {
        assert_eq!(parse_u64("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64("18446744073709551616"), None);
        assert_eq!(parse_u64("9999999999999999999"), Some(9_999_999_999_999_999_999));
        assert_eq!(parse_u64("99999999999999999999"), None);
        assert_eq!(parse_u64("1x"), None);
        assert_eq!(parse_u64(""), None);
    }

    #[test]
    fn request_line() {
        assert_eq!(
            split_request_line("GET /a b HTTP/1.1"),
            (Some("GET"), Some("/a b"), Some("1.1"))
        );
        assert_eq!(split_request_line("-"), (Some("-"), None, None));
        assert_eq!(split_request_line(""), (None, None, None));
    }

    #[test]
    fn quoted_fields_borrow_unless_escaped() {
        let got: Vec<_> = CsvFields::new(r#"a,"b,c","say ""hi""",,"""",x"y,"""#)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got, ["a", "b,c", "say \"hi\"", "", "\"", "x\"y", ""]);
        assert!(matches!(got[1], Cow::Borrowed(_)));
        assert!(matches!(got[2], Cow::Owned(_)));
        let trailing: Vec<_> = CsvFields::new("a,").collect::<Result<_, _>>().unwrap();
        assert_eq!(trailing, ["a", ""]);
        assert_eq!(
            CsvFields::new(r#"a,"open"#).last(),
            Some(Err(ParseError::new("unterminated quoted CSV field")))
        );
        assert_eq!(
            CsvFields::new(r#""a"b,c"#).next(),
            Some(Err(ParseError::new("text after the closing quote of a CSV field")))
        );
    }
}
