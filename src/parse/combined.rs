//! Apache httpd and nginx access logs: NCSA common and combined, and the layouts built on them.
//!
//! One parser reads every variant, anchored on the `[dd/Mon/yyyy:hh:mm:ss +zzzz]` time field:
//!
//! - common `client ident user [time] "request" status bytes` and combined (`+ "referer" "agent"`);
//! - a virtual host in front (`vhost[:port] client ...`: Apache `vhost_combined`, nginx `$host`),
//!   which becomes `destination.*` (and `url.domain` when the request names no host);
//! - a forwarded-for list in place of the client (`10.0.0.2, 10.0.0.1, 203.0.113.9 - - [...]`, or
//!   a quoted list followed by the peer, as CloudFront setups write it);
//! - extras after the size: a request time (`0.012` seconds becomes `event.duration`), trailing
//!   quoted fields (nginx `"$http_x_forwarded_for"`), Apache `X-Forwarded-For="..."`, and Squid's
//!   `common`/`combined` logformats, whose `%Ss:%Sh` suffix gives `event.action` (and, with
//!   `log_mime_hdrs on`, bracketed request headers the cookie is read from);
//! - the mod_ssl request log (`[time] client TLSv1.2 cipher "request" bytes`).
//!
//! The status is three digits, or Squid's unpadded `0`; `0`/`000` say no reply was sent (a client
//! that left before its request was read), which is no status and `event.outcome: failure`.
//! Old Apache wrote the client's request text unescaped, so a `"` may sit inside the request:
//! when the text after the first closing quote is no status and size, the request is read up to
//! the first `"` that follows ` HTTP/x.y` and is followed by a status.
//!
//! `source.*` is the client. With a forwarded-for list it is, as in Elastic's nginx pipeline, the
//! first address that is not private, loopback or link-local (else the first one): the original
//! client, not the proxy that connected. Apache's trailing `X-Forwarded-For="..."` is not used,
//! again as Elastic does: there `source` stays the connecting peer `%h`.
//!
//! Every field borrows from the line; the parser never allocates and never panics. A line
//! without a `[time]` field is rejected at once, with a reason naming what it looks like instead.

use std::borrow::Cow;
use std::net::IpAddr;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::event::{Dataset, Endpoint, Event, Field, FieldSet, URL_PARTS};

use super::common::{
    Civil, dash_none, digits, fill_from_mime_headers, month_from_abbrev, next_quoted, next_token, parse_ip, parse_u64,
    set_address, skip_spaces, split_request_line, split_url,
};
use super::{FormatInfo, Line, LineParser, ParseContext, ParseError, Parsed, fail};

pub static INFO: FormatInfo = FormatInfo {
    name: "combined",
    datasets: &[DATASET],
    line_independent: true,
    description: "Apache/nginx access log: NCSA common and combined, vhost_combined, nginx host and \
                  X-Forwarded-For prefixes, Squid's combined logformat, mod_ssl request log",
    example: "203.0.113.45 - alice [14/Mar/2024:09:26:53 +0100] \"GET /newsletter/open.gif?uid=8c41f2 HTTP/1.1\" \
              200 43 \"https://webmail.example.org/\" \"Mozilla/5.0 (Windows NT 10.0; Win64; x64) \
              AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36\"",
};

const DATASET: Dataset = Dataset::CombinedAccess;

const EMPTY: &str = "empty line";
const JSON: &str = "JSON object, not an access log line";
const COMMENT: &str = "header or comment line, not an access log line";
const STARTS_WITH_DATE: &str = "line starts with a date (W3C/IIS or error log?), expected client ident user [time]";
const STARTS_WITH_EPOCH: &str = "line starts with an epoch time (Squid native log?), expected client ident user [time]";
const STARTS_WITH_SYSLOG: &str = "line starts with a syslog timestamp, expected client ident user [time]";
const ERROR_LOG: &str = "Apache error log line, not an access log line";
const NO_TIME: &str = "no [dd/Mon/yyyy:hh:mm:ss +zzzz] time field";
const BAD_TIME: &str = "invalid date or time in the [time] field";
const NO_IDENT_USER: &str = "expected client, ident and user before the [time]";
const TOO_MANY_HOSTS: &str = "unexpected fields before the [time] (expected [vhost] client ident user)";
const BAD_HOST: &str = "invalid client or vhost address before the [time]";
const OPEN_QUOTE: &str = "unterminated quoted address list before the [time]";
const NO_REQUEST: &str = "expected a quoted \"request\" after the [time]";
const BAD_STATUS: &str = "expected a 3-digit status code after the request";
const BAD_BYTES: &str = "expected the response size (a number or -) after the status code";
const BAD_SSL: &str = "expected [time] client protocol cipher \"request\" bytes (mod_ssl request log)";

/// What the request line records: a `-` or junk request has no method, URL or version.
const REQUEST: FieldSet = URL_PARTS.union(FieldSet::of(&[Field::HttpRequestMethod, Field::HttpVersion]));
/// What a common log line records (`client ident user [time] "request" status bytes`); a
/// combined one adds the referrer and user agent (`"-"` in them is recorded empty).
const COMMON: FieldSet = REQUEST.union(FieldSet::of(&[
    Field::Timestamp,
    Field::SourceAddress,
    Field::SourceIp,
    Field::UserName,
    Field::HttpResponseStatusCode,
    Field::HttpResponseBytes,
]));
/// What the mod_ssl request log records.
const SSL_REQUEST: FieldSet = REQUEST.union(FieldSet::of(&[
    Field::Timestamp,
    Field::SourceAddress,
    Field::SourceIp,
    Field::HttpResponseBytes,
]));
/// The request headers Squid logs with `log_mime_hdrs on`.
const MIME_HEADERS: FieldSet = FieldSet::of(&[
    Field::UserAgentOriginal,
    Field::HttpRequestReferrer,
    Field::HttpRequestCookie,
]);

pub struct CombinedParser {
    /// For the rare time field written without an offset.
    timezone: TimeZone,
}

impl CombinedParser {
    pub fn new(ctx: &ParseContext) -> Self {
        CombinedParser {
            timezone: ctx.timezone.clone(),
        }
    }
}

impl LineParser for CombinedParser {
    fn parse<'a>(&mut self, line: &Line<'a>, event: &mut Event<'a>) -> Result<Parsed, ParseError> {
        let body = line.body.trim_start_matches(' ');
        let bytes = body.as_bytes();
        match bytes.first() {
            None => return fail(EMPTY),
            Some(b'{') => return fail(JSON),
            Some(b'#') => return fail(COMMENT),
            _ => {}
        }
        let Some(time) = find_time(bytes) else {
            return fail(unrecognised(bytes));
        };
        event.set_dataset(DATASET);
        event.timestamp = Some(self.timestamp(&time)?);
        // `close` is the index of an ASCII `]`, so both slices fall on char boundaries.
        let after = &body[time.close + 1..];
        if time.open == 0 {
            return ssl_request(after, event);
        }
        clients(&body[..time.open], event)?;
        access(after, event)
    }
}

impl CombinedParser {
    fn timestamp(&self, t: &TimeField) -> Result<Timestamp, ParseError> {
        let ts = match t.offset {
            Some(offset) => t.civil.at_offset(offset),
            None => t.civil.in_zone(&self.timezone),
        };
        ts.ok_or(ParseError::new(BAD_TIME))
    }
}

/// The `[time]` field: where it opens and closes in the line, and what it says.
struct TimeField {
    open: usize,
    close: usize,
    civil: Civil,
    /// Seconds east of UTC; `None` when the field has no offset.
    offset: Option<i32>,
}

/// Finds the first `[` that starts a field and holds an access-log time.
fn find_time(b: &[u8]) -> Option<TimeField> {
    for open in memchr::memchr_iter(b'[', b) {
        if open > 0 && b[open - 1] != b' ' {
            continue;
        }
        if let Some((civil, offset, len)) = parse_time(&b[open + 1..]) {
            return Some(TimeField {
                open,
                close: open + 1 + len,
                civil,
                offset,
            });
        }
    }
    None
}

/// Parses `dd/Mon/yyyy:hh:mm:ss[.frac][ +zzzz]]` at the start of `b`; returns the civil time, the
/// offset and the index of the closing `]`. Only the shape is checked here: an impossible date
/// is caught when the timestamp is built, so that it is reported as a bad time.
fn parse_time(b: &[u8]) -> Option<(Civil, Option<i32>, usize)> {
    if b.len() < 21 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[14] != b':' || b[17] != b':' {
        return None;
    }
    let month = std::str::from_utf8(&b[3..6]).ok().and_then(month_from_abbrev)?;
    let mut civil = Civil {
        year: digits(&b[7..], 4)? as i16,
        month,
        day: digits(b, 2)? as u8,
        hour: digits(&b[12..], 2)? as u8,
        minute: digits(&b[15..], 2)? as u8,
        second: digits(&b[18..], 2)? as u8,
        nanos: 0,
    };
    let mut i = 20;
    if b[i] == b'.' {
        let frac = b.get(i + 1..)?;
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let take = n.min(9);
        civil.nanos = digits(frac, take)? * 10u32.pow(9 - take as u32);
        i += 1 + n;
    }
    match *b.get(i)? {
        b']' => Some((civil, None, i)),
        b' ' => {
            let sign = *b.get(i + 1)?;
            let hhmm = digits(b.get(i + 2..)?, 4)? as i32;
            let (h, m) = (hhmm / 100, hhmm % 100);
            if !matches!(sign, b'+' | b'-') || h > 23 || m > 59 || b.get(i + 6) != Some(&b']') {
                return None;
            }
            let secs = h * 3600 + m * 60;
            Some((civil, Some(if sign == b'-' { -secs } else { secs }), i + 6))
        }
        _ => None,
    }
}

/// Says what a line without a `[time]` field looks like, for the rejection reason. Only runs on
/// lines that are rejected anyway.
fn unrecognised(b: &[u8]) -> &'static str {
    let digit_run = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if digit_run == 4 && matches!(b.get(4), Some(b'-' | b'/')) && digits(&b[5..], 2).is_some() {
        STARTS_WITH_DATE
    } else if digit_run >= 9 && b.get(digit_run) == Some(&b'.') {
        STARTS_WITH_EPOCH
    } else if b.first() == Some(&b'[') && b.get(4) == Some(&b' ') && b.get(1).is_some_and(u8::is_ascii_uppercase) {
        // `[Wed Oct 11 14:32:52.123456 2000] [core:error] ...`
        ERROR_LOG
    } else if b.get(3) == Some(&b' ') && std::str::from_utf8(&b[..3]).ok().and_then(month_from_abbrev).is_some() {
        STARTS_WITH_SYSLOG
    } else {
        NO_TIME
    }
}

/// One group of the address fields before `ident user [time]`.
#[derive(Clone, Copy)]
enum Hosts<'a> {
    /// One address, possibly with a port (`203.0.113.9`, `www.example.org:443`, `unix:`).
    One(&'a str),
    /// A forwarded-for list: comma-separated, possibly written inside quotes.
    List(&'a str),
}

/// Reads `[vhost] client|list[ peer] ident user` (the text before the `[time]`) into `user.name`,
/// `source.*` and `destination.*`.
fn clients<'a>(prefix: &'a str, event: &mut Event<'a>) -> Result<(), ParseError> {
    let prefix = prefix.trim_end_matches(' ');
    let (rest, user) = prefix.rsplit_once(' ').ok_or(ParseError::new(NO_IDENT_USER))?;
    let (hosts, _ident) = rest
        .trim_end_matches(' ')
        .rsplit_once(' ')
        .ok_or(ParseError::new(NO_IDENT_USER))?;
    if let Some(user) = dash_none(user) {
        event.user.name = Some(Cow::Borrowed(user));
    }
    let mut groups = [Hosts::One(""); 3];
    let mut n = 0;
    let mut s = hosts;
    loop {
        s = s.trim_start_matches(' ');
        if s.is_empty() {
            break;
        }
        if n == groups.len() {
            return fail(TOO_MANY_HOSTS);
        }
        if let Some(quoted) = s.strip_prefix('"') {
            let end = quoted.find('"').ok_or(ParseError::new(OPEN_QUOTE))?;
            groups[n] = Hosts::List(&quoted[..end]);
            s = &quoted[end + 1..];
        } else {
            // Tokens ending in `,` continue a list: `10.0.0.2, 10.0.0.1, 203.0.113.9`.
            let mut end = 0;
            loop {
                let tok_end = s[end..].find(' ').map_or(s.len(), |i| end + i);
                end = tok_end;
                if !s[..tok_end].ends_with(',') {
                    break;
                }
                let next = s[tok_end..].trim_start_matches(' ');
                if next.is_empty() {
                    break;
                }
                end = s.len() - next.len();
            }
            let group = &s[..end];
            groups[n] = if group.contains(',') {
                Hosts::List(group)
            } else {
                Hosts::One(group)
            };
            s = &s[end..];
        }
        n += 1;
    }
    let (vhost, list, peer) = match groups[..n] {
        [Hosts::One(client)] => (None, None, Some(client)),
        [Hosts::List(list)] => (None, Some(list), None),
        [Hosts::One(vhost), Hosts::One(client)] => (Some(vhost), None, Some(client)),
        [Hosts::One(vhost), Hosts::List(list)] => (Some(vhost), Some(list), None),
        [Hosts::List(list), Hosts::One(peer)] => (None, Some(list), Some(peer)),
        [Hosts::One(vhost), Hosts::List(list), Hosts::One(peer)] => (Some(vhost), Some(list), Some(peer)),
        _ => return fail(TOO_MANY_HOSTS),
    };
    if let Some(vhost) = vhost {
        set_host_port(&mut event.destination, checked_host(vhost)?);
        if event.destination.ip.is_none() {
            event.destination.domain = event.destination.address.clone();
        }
    }
    let client = match list {
        None => peer.map_or(Ok(""), checked_host)?,
        Some(list) => {
            let mut all = list
                .split(',')
                .map(|a| a.trim_matches(' '))
                .filter(|a| !a.is_empty())
                .chain(peer);
            let first = checked_host(all.next().ok_or(ParseError::new(BAD_HOST))?)?;
            let mut client = None;
            if !is_internal(first) {
                client = Some(first);
            }
            for a in all {
                let a = checked_host(a)?;
                if client.is_none() && !is_internal(a) {
                    client = Some(a);
                }
            }
            client.unwrap_or(first)
        }
    };
    set_host_port(&mut event.source, client);
    Ok(())
}

/// Rejects address fields with characters no host, IP or socket name has (so junk in front of a
/// bracket that merely looks like a time is not read as an access log).
fn checked_host(s: &str) -> Result<&str, ParseError> {
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'-' | b'_' | b'%' | b'[' | b']' | b'/'));
    if ok { Ok(s) } else { fail(BAD_HOST) }
}

/// Splits `host:port` / `[v6]:port` (a bare IPv6 address has no port) and sets the endpoint.
fn set_host_port<'a>(ep: &mut Endpoint<'a>, s: &'a str) {
    let (host, port) = split_port(s);
    set_address(ep, host);
    ep.port = port;
}

fn split_port(s: &str) -> (&str, Option<u16>) {
    if let Some(v6) = s.strip_prefix('[') {
        return match v6.split_once(']') {
            Some((h, rest)) => (h, rest.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (s, None),
        };
    }
    let b = s.as_bytes();
    match memchr::memchr(b':', b) {
        // One colon, not a bare IPv6 address; `i` indexes an ASCII `:`, a char boundary.
        Some(i) if i > 0 && memchr::memchr(b':', &b[i + 1..]).is_none() => match s[i + 1..].parse() {
            Ok(port) => (&s[..i], Some(port)),
            Err(_) => (s, None),
        },
        _ => (s, None),
    }
}

/// True for private, loopback and link-local IP literals: hops of a forwarded-for list that are
/// the site's own proxies rather than the client. Names count as clients, as in Elastic.
fn is_internal(s: &str) -> bool {
    match parse_ip(split_port(s).0) {
        Some(IpAddr::V4(ip)) => ip.is_private() || ip.is_loopback() || ip.is_link_local(),
        Some(IpAddr::V6(ip)) => {
            let first = ip.segments()[0];
            // fc00::/7 unique local, fe80::/10 link-local.
            ip.is_loopback() || first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfe80
        }
        None => false,
    }
}

/// Reads `"request" status bytes [request-time] ["referer" ["agent"]] [extras]` after the `[time]`.
fn access<'a>(after_time: &'a str, event: &mut Event<'a>) -> Result<Parsed, ParseError> {
    let mut s = after_time;
    let request = next_quoted(&mut s).ok_or(ParseError::new(NO_REQUEST))?;
    let (request, mut s) = match status_and_size(s, event) {
        Ok(rest) => (request, rest),
        // A `"` inside the request (old Apache wrote the client's text unescaped) ended it
        // early: the request really ends at ` HTTP/x.y"` followed by a status.
        Err(e) => match request_through_version(after_time) {
            Some((request, rest)) => (request, status_and_size(rest, event)?),
            None => return Err(e),
        },
    };
    request_line(request, event);
    event.recorded = COMMON;
    // Request time (nginx `$request_time`, Apache `%D`/`%T`) between the size and the referer.
    for _ in 0..3 {
        let mut peek = s;
        match next_token(&mut peek) {
            Some(t) if is_number(t) => {
                if let Some(ns) = seconds_to_nanos(t) {
                    event.event.duration = Some(ns);
                }
                s = peek;
            }
            _ => break,
        }
    }
    if let Some(referer) = next_quoted(&mut s) {
        event.recorded.insert(Field::HttpRequestReferrer);
        if let Some(r) = dash_none(referer) {
            event.http.request.referrer = Some(Cow::Borrowed(r));
        }
        if let Some(agent) = next_quoted(&mut s) {
            event.recorded.insert(Field::UserAgentOriginal);
            if let Some(agent) = dash_none(agent) {
                event.user_agent.original = Some(Cow::Borrowed(agent));
            }
        }
    }
    // Squid's `common` and `combined` logformats end with `%Ss:%Sh` (`TCP_MISS:HIER_DIRECT`),
    // then, with `log_mime_hdrs on`, the request and reply headers in brackets.
    if let Some(action) = next_token(&mut s).and_then(squid_result) {
        event.event.action = Some(Cow::Borrowed(action));
        if let Some(block) = skip_spaces(s).strip_prefix('[').and_then(|b| b.split_once(']')) {
            fill_from_mime_headers(block.0, event);
            event.recorded |= MIME_HEADERS;
        }
    }
    Ok(Parsed::Event)
}

/// Reads `status size` after the request; returns the text after them.
fn status_and_size<'a>(mut s: &'a str, event: &mut Event<'a>) -> Result<&'a str, ParseError> {
    let status = next_token(&mut s)
        .and_then(status_code)
        .ok_or(ParseError::new(BAD_STATUS))?;
    event.http.response.status_code = status;
    if status.is_none() {
        // No reply was sent: the client left before its request was read or answered (Squid's
        // `error:transaction-end-before-headers`, nginx's 000).
        event.event.outcome = Some(Cow::Borrowed("failure"));
    }
    let size = next_token(&mut s).ok_or(ParseError::new(BAD_BYTES))?;
    event.http.response.bytes = match size {
        "-" => None,
        n => Some(parse_u64(n).ok_or(ParseError::new(BAD_BYTES))?),
    };
    Ok(s)
}

/// A status code: three digits, or Squid's unpadded `0`; `000` and `0` mean no reply was sent
/// (`Some(None)`).
fn status_code(t: &str) -> Option<Option<u16>> {
    let code = match t.len() {
        1 if t == "0" => 0,
        3 => digits(t.as_bytes(), 3)? as u16,
        _ => return None,
    };
    Some((code != 0).then_some(code))
}

/// The quoted request after the `[time]` when it holds an unescaped `"`: it runs to the first
/// `"` that follows `HTTP/x.y` and is followed by a status code. Returns the request and the text
/// after its closing quote.
fn request_through_version(s: &str) -> Option<(&str, &str)> {
    let body = skip_spaces(s).strip_prefix('"')?;
    memchr::memchr_iter(b'"', body.as_bytes()).find_map(|q| {
        // `q` indexes an ASCII quote: a char boundary.
        let (request, after) = (&body[..q], &body[q + 1..]);
        let version = request.rsplit_once(' ')?.1.strip_prefix("HTTP/")?;
        let is_version = !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        let mut rest = after.strip_prefix(' ')?;
        let status = next_token(&mut rest)?;
        (is_version && status_code(status).is_some()).then_some((request, after))
    })
}

/// The mod_ssl request log: `[time] client protocol cipher "request" bytes`.
fn ssl_request<'a>(mut s: &'a str, event: &mut Event<'a>) -> Result<Parsed, ParseError> {
    let client = next_token(&mut s).ok_or(ParseError::new(BAD_SSL))?;
    let protocol = next_token(&mut s).ok_or(ParseError::new(BAD_SSL))?;
    let _cipher = next_token(&mut s).ok_or(ParseError::new(BAD_SSL))?;
    if !(protocol.starts_with("TLS") || protocol.starts_with("SSL") || protocol == "-") {
        return fail(BAD_SSL);
    }
    set_host_port(
        &mut event.source,
        checked_host(client).map_err(|_| ParseError::new(BAD_SSL))?,
    );
    let request = next_quoted(&mut s).ok_or(ParseError::new(BAD_SSL))?;
    request_line(request, event);
    let size = next_token(&mut s).ok_or(ParseError::new(BAD_SSL))?;
    if size != "-" {
        event.http.response.bytes = Some(parse_u64(size).ok_or(ParseError::new(BAD_SSL))?);
    }
    event.recorded = SSL_REQUEST;
    Ok(Parsed::Event)
}

/// Fills method, URL and version from the request line. Requests that are not `METHOD target
/// [HTTP/x.y]` (`-`, empty, TLS bytes sent to a plain port, scanner junk) leave the URL empty.
fn request_line<'a>(request: &'a str, event: &mut Event<'a>) {
    let (method, target, version) = split_request_line(request);
    if let Some(v) = version.filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')) {
        event.http.version = Some(Cow::Borrowed(v));
    }
    if let (Some(method), Some(target)) = (method, target)
        && is_method(method)
    {
        event.http.request.method = Some(Cow::Borrowed(method));
        event.url = split_url(target);
        if event.url.domain.is_none() {
            event.url.domain = event.destination.domain.clone();
        }
    }
}

fn is_method(m: &str) -> bool {
    let b = m.as_bytes();
    b.len() <= 32
        && b.first().is_some_and(u8::is_ascii_alphabetic)
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_'))
}

fn is_number(t: &str) -> bool {
    t.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && t.bytes().filter(|&b| b == b'.').count() <= 1
}

/// `0.012` (seconds, as nginx writes `$request_time`) in nanoseconds. Whole numbers are left
/// alone: Apache writes `%D` (microseconds) and `%T` (seconds) alike, so their unit is unknown.
fn seconds_to_nanos(t: &str) -> Option<u64> {
    let (secs, frac) = t.split_once('.')?;
    if frac.is_empty() {
        return None;
    }
    let take = frac.len().min(9);
    let f = parse_u64(&frac[..take])? * 10u64.pow(9 - take as u32);
    parse_u64(secs)?.checked_mul(1_000_000_000)?.checked_add(f)
}

/// `TCP_MISS:HIER_DIRECT` → `TCP_MISS`.
fn squid_result(t: &str) -> Option<&str> {
    let (code, hier) = t.split_once(':')?;
    let word = |s: &str| {
        s.as_bytes().first().is_some_and(u8::is_ascii_uppercase)
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    };
    (word(code) && word(hier)).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Field;
    use crate::parse::{Format, detect};

    fn parse(raw: &str) -> Result<Event<'_>, ParseError> {
        let mut parser = CombinedParser::new(&ParseContext::default());
        let mut event = Event::default();
        let line = Line::plain(raw);
        assert_eq!(parser.parse(&line, &mut event)?, Parsed::Event);
        Ok(event)
    }

    /// Every field the parser set, as `name=value`, sorted (so a test also fails on extra fields).
    fn fields(event: &Event<'_>) -> Vec<String> {
        let mut v: Vec<String> = Field::ALL
            .iter()
            .filter(|&&f| f != Field::EventDataset)
            .filter_map(|&f| event.get(f).map(|val| format!("{}={val}", f.name())))
            .collect();
        v.sort();
        v
    }

    fn check(name: &str, raw: &str, want: &[&str]) {
        let event = parse(raw).unwrap_or_else(|e| panic!("{name}: rejected ({e}): {raw}"));
        assert_eq!(event.event.dataset.as_deref(), Some(DATASET.name()), "{name}");
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(fields(&event), want, "{name}: {raw}");
    }

    macro_rules! ua {
        () => {
            "Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0"
        };
    }

    #[test]
    fn variants() {
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "common",
                r#"198.51.100.23 - bob [03/Feb/2024:23:59:01 -0500] "GET /docs/guide.pdf HTTP/1.0" 200 48213"#,
                &[
                    "@timestamp=2024-02-04T04:59:01Z",
                    "source.address=198.51.100.23",
                    "source.ip=198.51.100.23",
                    "user.name=bob",
                    "http.request.method=GET",
                    "url.original=/docs/guide.pdf",
                    "url.path=/docs/guide.pdf",
                    "url.extension=pdf",
                    "http.version=1.0",
                    "http.response.status_code=200",
                    "http.response.bytes=48213",
                ],
            ),
            (
                "combined",
                concat!(
                    r#"203.0.113.45 - - [14/Mar/2024:09:26:53 +0100] "GET /n/open.gif?uid=8c41f2&c=7 HTTP/1.1" 200 43 "https://webmail.example.org/inbox" ""#,
                    ua!(),
                    r#"""#
                ),
                &[
                    "@timestamp=2024-03-14T08:26:53Z",
                    "source.address=203.0.113.45",
                    "source.ip=203.0.113.45",
                    "http.request.method=GET",
                    "url.original=/n/open.gif?uid=8c41f2&c=7",
                    "url.path=/n/open.gif",
                    "url.query=uid=8c41f2&c=7",
                    "url.extension=gif",
                    "http.version=1.1",
                    "http.response.status_code=200",
                    "http.response.bytes=43",
                    "http.request.referrer=https://webmail.example.org/inbox",
                    concat!("user_agent.original=", ua!()),
                ],
            ),
            (
                "bytes dash, request dash",
                r#"::1 - - [26/Dec/2023:16:16:48 +0200] "-" 408 -"#,
                &[
                    "@timestamp=2023-12-26T14:16:48Z",
                    "source.address=::1",
                    "source.ip=::1",
                    "http.response.status_code=408",
                ],
            ),
            (
                "squid combined logformat",
                concat!(
                    r#"10.20.0.7 - - [05/Jan/2024:10:00:00 +0000] "GET http://tracker.example.net:8080/p.png?id=42 HTTP/1.1" 200 512 "-" ""#,
                    ua!(),
                    r#"" TCP_MISS:HIER_DIRECT"#
                ),
                &[
                    "@timestamp=2024-01-05T10:00:00Z",
                    "source.address=10.20.0.7",
                    "source.ip=10.20.0.7",
                    "http.request.method=GET",
                    "url.original=http://tracker.example.net:8080/p.png?id=42",
                    "url.scheme=http",
                    "url.domain=tracker.example.net",
                    "url.port=8080",
                    "url.path=/p.png",
                    "url.query=id=42",
                    "url.extension=png",
                    "http.version=1.1",
                    "http.response.status_code=200",
                    "http.response.bytes=512",
                    concat!("user_agent.original=", ua!()),
                    "event.action=TCP_MISS",
                ],
            ),
            (
                "squid common logformat, CONNECT",
                r#"10.20.0.7 - jdoe [05/Jan/2024:10:00:01 +0000] "CONNECT login.example.com:443 HTTP/1.1" 200 6120 TCP_TUNNEL:HIER_DIRECT"#,
                &[
                    "@timestamp=2024-01-05T10:00:01Z",
                    "source.address=10.20.0.7",
                    "source.ip=10.20.0.7",
                    "user.name=jdoe",
                    "http.request.method=CONNECT",
                    "url.original=login.example.com:443",
                    "url.domain=login.example.com",
                    "url.port=443",
                    "http.version=1.1",
                    "http.response.status_code=200",
                    "http.response.bytes=6120",
                    "event.action=TCP_TUNNEL",
                ],
            ),
            (
                "apache vhost_combined with ports",
                r#"shop.example.com:443 192.0.2.10 - - [01/Apr/2024:12:00:00 +0000] "POST /cart HTTP/2.0" 302 0 "-" "-""#,
                &[
                    "@timestamp=2024-04-01T12:00:00Z",
                    "destination.address=shop.example.com",
                    "destination.domain=shop.example.com",
                    "destination.port=443",
                    "source.address=192.0.2.10",
                    "source.ip=192.0.2.10",
                    "http.request.method=POST",
                    "url.original=/cart",
                    "url.path=/cart",
                    "url.domain=shop.example.com",
                    "http.version=2.0",
                    "http.response.status_code=302",
                    "http.response.bytes=0",
                ],
            ),
            (
                "vhost is an IP, client a name with a port",
                r#"192.0.2.80:8080 gw.example.net:51234 - - [01/Apr/2024:12:00:00 +0000] "GET / HTTP/1.1" 404 12"#,
                &[
                    "@timestamp=2024-04-01T12:00:00Z",
                    "destination.address=192.0.2.80",
                    "destination.ip=192.0.2.80",
                    "destination.port=8080",
                    "source.address=gw.example.net",
                    "source.port=51234",
                    "http.request.method=GET",
                    "url.original=/",
                    "url.path=/",
                    "http.version=1.1",
                    "http.response.status_code=404",
                    "http.response.bytes=12",
                ],
            ),
            (
                "forwarded-for list: first public address",
                r#"10.1.1.5, 198.51.100.77, 127.0.0.1 - - [07/Jun/2024:11:05:07 +0200] "GET /a HTTP/1.1" 200 5 "-" "-""#,
                &[
                    "@timestamp=2024-06-07T09:05:07Z",
                    "source.address=198.51.100.77",
                    "source.ip=198.51.100.77",
                    "http.request.method=GET",
                    "url.original=/a",
                    "url.path=/a",
                    "http.version=1.1",
                    "http.response.status_code=200",
                    "http.response.bytes=5",
                ],
            ),
            (
                "forwarded-for list, all internal: the first",
                r#"www.example.org 10.1.1.5, 192.168.7.1, 127.0.0.1 - - [07/Jun/2024:11:05:07 +0200] "GET /a HTTP/1.1" 200 5"#,
                &[
                    "@timestamp=2024-06-07T09:05:07Z",
                    "destination.address=www.example.org",
                    "destination.domain=www.example.org",
                    "source.address=10.1.1.5",
                    "source.ip=10.1.1.5",
                    "http.request.method=GET",
                    "url.original=/a",
                    "url.path=/a",
                    "url.domain=www.example.org",
                    "http.version=1.1",
                    "http.response.status_code=200",
                    "http.response.bytes=5",
                ],
            ),
            (
                "quoted list then peer, behind a CDN, with vhost",
                r#"cdn.example.com:80 "10.9.8.7, 2001:db8:77::5, 203.0.113.200" 10.2.1.185 - - [22/Jan/2024:13:18:29 +0000] "GET /img/x.png HTTP/1.1" 200 25507 "-" "Amazon CloudFront""#,
                &[
                    "@timestamp=2024-01-22T13:18:29Z",
                    "destination.address=cdn.example.com",
                    "destination.domain=cdn.example.com",
                    "destination.port=80",
                    "source.address=2001:db8:77::5",
                    "source.ip=2001:db8:77::5",
                    "http.request.method=GET",
                    "url.original=/img/x.png",
                    "url.path=/img/x.png",
                    "url.extension=png",
                    "url.domain=cdn.example.com",
                    "http.version=1.1",
                    "http.response.status_code=200",
                    "http.response.bytes=25507",
                    "user_agent.original=Amazon CloudFront",
                ],
            ),
            (
                "unquoted IPv6 list then peer",
                r#"2001:db8:1::9, 10.225.1.17 10.2.2.121 - - [30/Dec/2023:06:47:09 +0000] "GET /t.html HTTP/1.1" 404 85"#,
                &[
                    "@timestamp=2023-12-30T06:47:09Z",
                    "source.address=2001:db8:1::9",
                    "source.ip=2001:db8:1::9",
                    "http.request.method=GET",
                    "url.original=/t.html",
                    "url.path=/t.html",
                    "url.extension=html",
                    "http.version=1.1",
                    "http.response.status_code=404",
                    "http.response.bytes=85",
                ],
            ),
            (
                "unix socket client, request without version",
                r#"intranet.example:80 unix: - - [26/Feb/2024:15:39:42 +0100] "hello" 400 173 "-" "-""#,
                &[
                    "@timestamp=2024-02-26T14:39:42Z",
                    "destination.address=intranet.example",
                    "destination.domain=intranet.example",
                    "destination.port=80",
                    "source.address=unix:",
                    "http.response.status_code=400",
                    "http.response.bytes=173",
                ],
            ),
            (
                "host name client, nginx trailing \"-\"",
                concat!(
                    r#"probe-01 - - [29/May/2024:19:02:48 +0000] "GET /status HTTP/1.1" 200 612 "-" ""#,
                    ua!(),
                    r#"" "-""#
                ),
                &[
                    "@timestamp=2024-05-29T19:02:48Z",
                    "source.address=probe-01",
                    "http.request.method=GET",
                    "url.original=/status",
                    "url.path=/status",
                    "http.version=1.1",
                    "http.response.status_code=200",
                    "http.response.bytes=612",
                    concat!("user_agent.original=", ua!()),
                ],
            ),
            (
                "apache X-Forwarded-For suffix and %D between size and referer",
                r#"2001:db8:add::6fc6 - - [29/May/2024:19:02:48 +0000] "GET /v/clip%20one.mp4 HTTP/1.1" 200 612 3413 "-" "curl/8.5.0" X-Forwarded-For="10.225.1.17, 10.2.2.121""#,
                &[
                    "@timestamp=2024-05-29T19:02:48Z",
                    "source.address=2001:db8:add::6fc6",
                    "source.ip=2001:db8:add::6fc6",
                    "http.request.method=GET",
                    "url.original=/v/clip%20one.mp4",
                    "url.path=/v/clip%20one.mp4",
                    "url.extension=mp4",
                    "http.version=1.1",
                    "http.response.status_code=200",
                    "http.response.bytes=612",
                    "user_agent.original=curl/8.5.0",
                ],
            ),
            (
                "nginx $request_time becomes the duration",
                r#"192.0.2.33 - - [02/Jul/2024:08:00:00 +0000] "GET /api HTTP/1.1" 200 99 0.125 "-" "-""#,
                &[
                    "@timestamp=2024-07-02T08:00:00Z",
                    "source.address=192.0.2.33",
                    "source.ip=192.0.2.33",
                    "http.request.method=GET",
                    "url.original=/api",
                    "url.path=/api",
                    "http.version=1.1",
                    "http.response.status_code=200",
                    "http.response.bytes=99",
                    "event.duration=125000000",
                ],
            ),
            (
                "TLS handshake on a plain port, vhost and client",
                r#"127.0.1.1:80 127.0.0.1 - - [13/Nov/2023:10:44:31 +0000] "\x16\x03\x01\x02\x00\x01" 400 483 "-" "-""#,
                &[
                    "@timestamp=2023-11-13T10:44:31Z",
                    "destination.address=127.0.1.1",
                    "destination.ip=127.0.1.1",
                    "destination.port=80",
                    "source.address=127.0.0.1",
                    "source.ip=127.0.0.1",
                    "http.response.status_code=400",
                    "http.response.bytes=483",
                ],
            ),
            (
                "scanner junk as method, empty request, client with port",
                r#"127.0.0.1:80 - - [13/Nov/2023:10:44:01 +0000] "<SCRIPT>x</SCRIPT> / HTTP/1.1" 400 3386 "" """#,
                &[
                    "@timestamp=2023-11-13T10:44:01Z",
                    "source.address=127.0.0.1",
                    "source.ip=127.0.0.1",
                    "source.port=80",
                    "http.version=1.1",
                    "http.response.status_code=400",
                    "http.response.bytes=3386",
                ],
            ),
            (
                "empty request, bracketed IPv6 client, escaped quote, non-ASCII",
                r#"[2001:db8::2]:4711 - - [12/Apr/2024:09:48:40 +0200] "" 400 0 "https://例え.jp/\"x\"" "-""#,
                &[
                    "@timestamp=2024-04-12T07:48:40Z",
                    "source.address=2001:db8::2",
                    "source.ip=2001:db8::2",
                    "source.port=4711",
                    "http.response.status_code=400",
                    "http.response.bytes=0",
                    r#"http.request.referrer=https://例え.jp/\"x\""#,
                ],
            ),
            (
                "fractional seconds, HTTP/0.9 style request",
                r#"192.0.2.1 ident-x - [10/Oct/2023:13:55:36.250 -0700] "GET /old" 200 10"#,
                &[
                    "@timestamp=2023-10-10T20:55:36.25Z",
                    "source.address=192.0.2.1",
                    "source.ip=192.0.2.1",
                    "http.request.method=GET",
                    "url.original=/old",
                    "url.path=/old",
                    "http.response.status_code=200",
                    "http.response.bytes=10",
                ],
            ),
            (
                "mod_ssl request log",
                r#"[16/Oct/2023:11:53:47 +0200] 198.51.100.4 TLSv1.3 TLS_AES_256_GCM_SHA384 "GET /portal/x.php?cmd=1 HTTP/1.1" 1375"#,
                &[
                    "@timestamp=2023-10-16T09:53:47Z",
                    "source.address=198.51.100.4",
                    "source.ip=198.51.100.4",
                    "http.request.method=GET",
                    "url.original=/portal/x.php?cmd=1",
                    "url.path=/portal/x.php",
                    "url.query=cmd=1",
                    "url.extension=php",
                    "http.version=1.1",
                    "http.response.bytes=1375",
                ],
            ),
            (
                "mod_ssl request log, size dash",
                r#"[16/Oct/2023:11:53:47 +0200] 198.51.100.4 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 "GET / HTTP/1.1" -"#,
                &[
                    "@timestamp=2023-10-16T09:53:47Z",
                    "source.address=198.51.100.4",
                    "source.ip=198.51.100.4",
                    "http.request.method=GET",
                    "url.original=/",
                    "url.path=/",
                    "http.version=1.1",
                ],
            ),
            // Third-party line shapes that were rejected or misread, each naming its gap.
            (
                "gap: Squid combined, aborted transaction (status 0, no request line) was rejected",
                r#"192.0.2.44 - - [14/Mar/2024:12:00:00 +0000] "- error:transaction-end-before-headers NONE/0.0" 0 0 "-" "-" NONE_NONE:HIER_NONE"#,
                &[
                    "@timestamp=2024-03-14T12:00:00Z",
                    "source.address=192.0.2.44",
                    "source.ip=192.0.2.44",
                    "http.response.bytes=0",
                    "event.action=NONE_NONE",
                    "event.outcome=failure",
                ],
            ),
            (
                "gap: status 000 (nginx, a client that left) was read as status 0",
                r#"192.0.2.44 - - [14/Mar/2024:12:00:00 +0000] "GET / HTTP/1.1" 000 0 "-" "-""#,
                &[
                    "@timestamp=2024-03-14T12:00:00Z",
                    "source.address=192.0.2.44",
                    "source.ip=192.0.2.44",
                    "http.request.method=GET",
                    "url.original=/",
                    "url.path=/",
                    "http.version=1.1",
                    "http.response.bytes=0",
                    "event.outcome=failure",
                ],
            ),
            (
                "gap: an unescaped quote inside the request line was rejected",
                r#"198.51.100.7 - - [14/Mar/2024:12:00:01 +0000] "GET /search?q="><script>alert(1)</script> HTTP/1.1" 404 209 "-" "sqlmap/1.7""#,
                &[
                    "@timestamp=2024-03-14T12:00:01Z",
                    "source.address=198.51.100.7",
                    "source.ip=198.51.100.7",
                    "http.request.method=GET",
                    r#"url.original=/search?q="><script>alert(1)</script>"#,
                    "url.path=/search",
                    r#"url.query=q="><script>alert(1)</script>"#,
                    "http.version=1.1",
                    "http.response.status_code=404",
                    "http.response.bytes=209",
                    "user_agent.original=sqlmap/1.7",
                ],
            ),
            (
                "gap: several unescaped quotes, and a quote right before the version",
                r#"198.51.100.7 - - [14/Mar/2024:12:00:02 +0000] "GET /a"b" "c" HTTP/1.0" 400 - "-" "-""#,
                &[
                    "@timestamp=2024-03-14T12:00:02Z",
                    "source.address=198.51.100.7",
                    "source.ip=198.51.100.7",
                    "http.request.method=GET",
                    r#"url.original=/a"b" "c""#,
                    r#"url.path=/a"b" "c""#,
                    "http.version=1.0",
                    "http.response.status_code=400",
                ],
            ),
            (
                "gap: Squid combined with log_mime_hdrs: the cookie in the request headers was lost",
                r#"10.20.0.7 - - [05/Jan/2024:10:00:00 +0000] "GET http://a.example/ HTTP/1.1" 200 512 "-" "curl/8.5.0" TCP_MISS:HIER_DIRECT [Host: a.example\r\nUser-Agent: curl/8.5.0\r\nCookie: sid=42\r\n] [HTTP/1.1 200 OK\r\n]"#,
                &[
                    "@timestamp=2024-01-05T10:00:00Z",
                    "source.address=10.20.0.7",
                    "source.ip=10.20.0.7",
                    "http.request.method=GET",
                    "url.original=http://a.example/",
                    "url.scheme=http",
                    "url.domain=a.example",
                    "url.path=/",
                    "http.version=1.1",
                    "http.response.status_code=200",
                    "http.response.bytes=512",
                    "user_agent.original=curl/8.5.0",
                    "http.request.cookie=sid=42",
                    "event.action=TCP_MISS",
                ],
            ),
        ];
        for (name, raw, want) in cases {
            check(name, raw, want);
        }
    }

    #[test]
    fn time_without_offset_is_read_in_the_context_zone() {
        let ctx = ParseContext {
            timezone: TimeZone::get("Europe/Berlin").unwrap(),
            ..ParseContext::default()
        };
        let mut parser = CombinedParser::new(&ctx);
        let mut event = Event::default();
        let raw = r#"192.0.2.1 - - [01/Jul/2024:12:00:00] "GET / HTTP/1.1" 200 1"#;
        parser.parse(&Line::plain(raw), &mut event).unwrap();
        assert_eq!(event.timestamp.unwrap().to_string(), "2024-07-01T10:00:00Z");
    }

    #[test]
    fn rejections() {
        let cases: &[(&str, &str)] = &[
            ("", EMPTY),
            ("   ", EMPTY),
            (r#"{"@timestamp":"2024-01-01T00:00:00Z","message":"x"}"#, JSON),
            ("#Fields: date time c-ip cs-method cs-uri-stem sc-status", COMMENT),
            (
                "2024-01-05 10:00:00 192.0.2.5 GET /default.htm - 80 - 198.51.100.1 Mozilla/5.0 200 0 0 15",
                STARTS_WITH_DATE,
            ),
            (
                "2024/01/05 10:00:00 [error] 811#811: *1 open() \"/srv/x\" failed (2: No such file or directory)",
                STARTS_WITH_DATE,
            ),
            (
                "1704448800.123    412 10.20.0.7 TCP_MISS/200 5120 GET http://a.example/ - HIER_DIRECT/192.0.2.9 text/html",
                STARTS_WITH_EPOCH,
            ),
            (
                "Jan  5 10:00:01 mx1 postfix/smtpd[4211]: connect from unknown[192.0.2.44]",
                STARTS_WITH_SYSLOG,
            ),
            (
                "[Fri Jan 05 10:00:01.123456 2024] [core:error] [pid 4211:tid 1399] [client 192.0.2.44:5123] AH00126: Invalid URI",
                ERROR_LOG,
            ),
            ("hello world, this is not a log", NO_TIME),
            (
                r#"192.0.2.1 - -[01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1"#,
                NO_TIME,
            ),
            (
                r#"192.0.2.1 - - [31/Feb/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1"#,
                BAD_TIME,
            ),
            (
                r#"192.0.2.1 - - [01/Jan/2024:25:00:00 +0000] "GET / HTTP/1.1" 200 1"#,
                BAD_TIME,
            ),
            (
                r#"192.0.2.1 - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1"#,
                NO_IDENT_USER,
            ),
            (
                r#"Jan 5 10:00:01 web1 nginx: 192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1"#,
                TOO_MANY_HOSTS,
            ),
            (
                r#"a, b "c, d" - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1"#,
                TOO_MANY_HOSTS,
            ),
            (
                r#"cli=192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1"#,
                BAD_HOST,
            ),
            (
                r#""10.0.0.1, 10.0.0.2 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1"#,
                OPEN_QUOTE,
            ),
            (
                r#"192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] GET / HTTP/1.1 200 1"#,
                NO_REQUEST,
            ),
            (r#"192.0.2.1 - - [01/Jan/2024:00:00:00 +0000]"#, NO_REQUEST),
            (
                r#"192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" OK 1"#,
                BAD_STATUS,
            ),
            // A quote inside the request that no ` HTTP/x.y"` and status follow is not recovered.
            (
                r#"192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] "GET /a"b 200 1"#,
                BAD_STATUS,
            ),
            (
                r#"192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 2000 1"#,
                BAD_STATUS,
            ),
            (
                r#"192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1""#,
                BAD_STATUS,
            ),
            (
                r#"192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200"#,
                BAD_BYTES,
            ),
            (
                r#"192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 "-" "-""#,
                BAD_BYTES,
            ),
            (
                r#"[01/Jan/2024:00:00:00 +0000] 192.0.2.1 ECDHE "GET / HTTP/1.1" 12"#,
                BAD_SSL,
            ),
            (
                r#"[01/Jan/2024:00:00:00 +0000] 192.0.2.1 TLSv1.2 AES "GET / HTTP/1.1""#,
                BAD_SSL,
            ),
        ];
        for (raw, reason) in cases {
            let got = parse(raw).err();
            assert_eq!(got, Some(ParseError::new(reason)), "{raw}");
        }
    }

    #[test]
    fn odd_input_never_panics() {
        let mut parser = CombinedParser::new(&ParseContext::default());
        let base = r#"[2001:db8::1] x, "é, ü" - - [01/Jan/2024:00:00:00.5 +0000] "GET /é HTTP/1.1" 200 1 0. "\"#;
        for end in 0..=base.len() {
            if let Some(cut) = base.get(..end) {
                let mut event = Event::default();
                let _ = parser.parse(&Line::plain(cut), &mut event);
            }
        }
        for raw in [
            "[",
            "[0",
            "[01/Jan/2024:00:00:00 +",
            "é [01/Jan/2024:00:00:00 +0000]",
            " - - [",
            "\"",
        ] {
            let mut event = Event::default();
            let _ = parser.parse(&Line::plain(raw), &mut event);
        }
        // Mutations of valid lines: every byte position replaced by characters the parser splits
        // on, or by a multibyte character (a cheap stand-in for the fuzz target).
        let seeds = [
            INFO.example,
            r#"vh.example:80 "10.0.0.1, 2001:db8::1" 10.0.0.9 - - [01/Jan/2024:00:00:00 +0000] "GET /a HTTP/1.1" 200 1 0.5 "-" "-" TCP_MISS:HIER_NONE"#,
            r#"[16/Oct/2023:11:53:47 +0200] 198.51.100.4 TLSv1.3 X "GET / HTTP/1.1" 9"#,
        ];
        for seed in seeds {
            for (i, _) in seed.char_indices() {
                for sub in ["[", "]", "\"", "\\", " ", ",", ":", "-", "é", ""] {
                    let next = seed[i..].chars().next().map_or(i, |c| i + c.len_utf8());
                    let raw = format!("{}{sub}{}", &seed[..i], &seed[next..]);
                    let mut event = Event::default();
                    let _ = parser.parse(&Line::plain(&raw), &mut event);
                }
            }
        }
    }

    #[test]
    fn example_is_detected_as_combined() {
        let d = detect::detect(&[INFO.example], &ParseContext::default(), &Format::ALL).unwrap();
        assert_eq!(d.format, Format::Combined);
    }

    #[test]
    fn a_mix_of_variants_is_detected_and_fully_accepted() {
        let lines = [
            INFO.example,
            r#"shop.example.com:443 192.0.2.10 - - [01/Apr/2024:12:00:00 +0000] "POST /cart HTTP/2.0" 302 0 "-" "-""#,
            r#"10.1.1.5, 198.51.100.77 - - [07/Jun/2024:11:05:07 +0200] "GET /a HTTP/1.1" 200 5 "-" "-" "-""#,
            r#"::1 - - [26/Dec/2023:16:16:48 +0200] "-" 408 -"#,
            r#"[16/Oct/2023:11:53:47 +0200] 198.51.100.4 TLSv1.3 TLS_AES_128_GCM_SHA256 "GET / HTTP/1.1" -"#,
        ];
        let d = detect::detect(&lines, &ParseContext::default(), &Format::ALL).unwrap();
        assert_eq!((d.format, d.accepted), (Format::Combined, lines.len()));
    }
}
