//! Squid access logs: the native `squid` layout, the other layouts Squid and its packagers ship,
//! and any `logformat` the user declares (`--squid-logformat`).
//!
//! Every layout, the native one included, is a compiled [`LogFormat`]: a list of literal text and
//! format codes (`%ts`, `%>a`, `%{User-Agent}>h`, ...) as squid.conf writes them. A line is matched
//! left to right: a literal must appear as written (a run of spaces matches one or more spaces,
//! since Squid pads fixed-width fields), a field runs up to the next literal. The parser keeps
//! trying the layout that matched the previous line first, so a file costs one layout per line.
//!
//! Code → ECS mapping: `%ts`/`%tu`/`%tl`/`%tg` → `@timestamp`; `%tr` → `event.duration`;
//! `%>a`/`%>p`/`%>A` → `source.ip`/`port`/`domain`; `%<a`/`%<p`/`%<A` → `destination.*`;
//! `%un`/`%ul`/`%ue`/`%ui`/`%us` → `user.name`; `%Ss` → `event.action`; `%>Hs` →
//! `http.response.status_code`; `%<st` → `http.response.bytes` (reply size including headers);
//! `%>st` → `http.request.bytes`; `%rm` → `http.request.method`; `%ru` → `url.*`; `%rv` →
//! `http.version`; `%mt` → `http.response.mime_type`; `%{Referer}>h`, `%{User-Agent}>h` and
//! `%{Host}>h` → `http.request.referrer`, `user_agent.original` and `url.domain` (when the URL has
//! none); `%>h` without a name (every request header, the `[...]` block `log_mime_hdrs on` adds
//! to the native layout) → `user_agent.original`, `http.request.referrer` and
//! `http.request.cookie`. `%<A`/`%>A` hold a host name, or an IP address when there is none, which
//! then goes to `.ip`/`.address` rather than `.domain`. A status of `000` (no reply was sent) is
//! no status and a failed transaction. Other known codes are read and ignored; an unknown code is
//! a configuration error.
//!
//! The parser never allocates for a line: every field borrows from it, except a logged header
//! value that Squid had to escape.

use std::borrow::Cow;

use jiff::Timestamp;

use super::common::{
    self, Civil, dash_none, find_byte, month_from_abbrev, parse_offset, parse_u16, parse_u64, skip_spaces,
    split_at_byte,
};
use super::{FormatInfo, Line, LineParser, ParseContext, ParseError, Parsed};
use crate::event::{Dataset, Event, Field, FieldSet, URL_PARTS};

pub static INFO: FormatInfo = FormatInfo {
    name: "squid",
    datasets: &[DATASET],
    line_independent: true,
    description: "Squid access.log: native layout (also with log_mime_hdrs), the Squid `referrer`/`useragent` logs, an extended layout \
                  with ports and headers, and any `logformat` declared with --squid-logformat",
    example: "1610615523.123    234 10.20.3.14 TCP_MISS/200 1514 GET http://news.example.net/open/pixel.gif?u=8f3a2c \
              alice HIER_DIRECT/198.51.100.7 image/gif",
};

const DATASET: Dataset = Dataset::SquidAccess;

/// Squid's native layout, which [`parse_native`] reads without the interpreter.
const NATIVE: &str = "%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt";

/// The layouts tried after the user's, most common first.
const BUILTIN: &[(&str, &str)] = &[
    ("squid", NATIVE),
    // The native layout with `log_mime_hdrs on`: the request and reply headers follow in
    // brackets (Squid's own `squidmime` logformat).
    (
        "squidmime",
        "%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt [%>h] [%<h]",
    ),
    // Squid's native layout with client port, header and body sizes, version and headers, as
    // shipped by distributions' "extended" examples and seen in Elastic's Squid fixtures.
    (
        "squid-extended",
        "%ts.%03tu %6tr %>a %>p %Ss/%03>Hs %<st %>st %<sh %>sh %<bs %rm %ru %rv %[un %Sh/%<a %<p %mt \
         %ssl::bump_mode %ssl::>sni \"%{Referer}>h\" \"%{User-Agent}>h\" \"%{Host}>h\" \"%{X-Forwarded-For}>h\" %<tt %note",
    ),
    // The same with the TLS server name (SNI) logged before the server time.
    (
        "squid-extended-sni",
        "%ts.%03tu %6tr %>a %>p %Ss/%03>Hs %<st %>st %<sh %>sh %<bs %rm %ru %rv %[un %Sh/%<a %<p %mt \
         %ssl::bump_mode %ssl::>sni \"%{Referer}>h\" \"%{User-Agent}>h\" \"%{Host}>h\" \"%{X-Forwarded-For}>h\" \
         \"%ssl::>sni\" %<tt %note",
    ),
    ("referrer", "%ts.%03tu %>a %{Referer}>h %ru"),
    ("useragent", "%>a [%tl] \"%{User-Agent}>h\""),
];

/// A compiled Squid `logformat`: optional leading text, then fields, each with what ends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFormat {
    name: Box<str>,
    leading: Box<str>,
    steps: Vec<Step>,
    /// The fields its codes record, set on every event it reads.
    recorded: FieldSet,
}

/// One field and the literal text that follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    code: Code,
    /// Squid's `%"` modifier: the value is written in double quotes.
    quoted: bool,
    then: Then,
}

/// What follows a field in the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Then {
    /// One or more spaces (Squid pads fixed-width fields, so runs are allowed).
    Spaces,
    /// One byte of literal text (`/` in `%Ss/%03>Hs`, `.` in `%ts.%03tu`).
    Byte(u8),
    /// Longer literal text, matched exactly.
    Text(Box<str>),
    /// The end of the line.
    End,
}

/// What a format code means to reconwatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    Seconds,
    Millis,
    /// `dd/Mon/yyyy:hh:mm:ss +zzzz`.
    ClockTime,
    DurationMs,
    SrcAddr,
    SrcPort,
    SrcFqdn,
    DstAddr,
    DstPort,
    DstFqdn,
    User,
    Action,
    Status,
    ReplyBytes,
    RequestBytes,
    Method,
    Url,
    Version,
    MimeType,
    Referer,
    UserAgent,
    HostHeader,
    /// `%>h` without a header name: every request header, as `log_mime_hdrs` writes them.
    RequestHeaders,
    Ignore,
}

impl Code {
    /// The fields a code records: a field whose code is in the layout but which a line leaves
    /// empty (`-`) was logged empty (Sigma's `''`); one without a code is not logged at all
    /// (Sigma's `null`: the native layout has no user agent).
    const fn recorded(self) -> FieldSet {
        use Field as F;
        match self {
            Code::Seconds | Code::Millis | Code::ClockTime => FieldSet::of(&[F::Timestamp]),
            Code::DurationMs => FieldSet::of(&[F::EventDuration]),
            Code::SrcAddr => FieldSet::of(&[F::SourceAddress, F::SourceIp]),
            Code::SrcPort => FieldSet::of(&[F::SourcePort]),
            Code::SrcFqdn => FieldSet::of(&[F::SourceDomain]),
            Code::DstAddr => FieldSet::of(&[F::DestinationAddress, F::DestinationIp]),
            Code::DstPort => FieldSet::of(&[F::DestinationPort]),
            Code::DstFqdn => FieldSet::of(&[F::DestinationDomain]),
            Code::User => FieldSet::of(&[F::UserName]),
            Code::Action => FieldSet::of(&[F::EventAction]),
            Code::Status => FieldSet::of(&[F::HttpResponseStatusCode]),
            Code::ReplyBytes => FieldSet::of(&[F::HttpResponseBytes]),
            Code::RequestBytes => FieldSet::of(&[F::HttpRequestBytes]),
            Code::Method => FieldSet::of(&[F::HttpRequestMethod]),
            Code::Url => URL_PARTS,
            Code::Version => FieldSet::of(&[F::HttpVersion]),
            Code::MimeType => FieldSet::of(&[F::HttpResponseMimeType]),
            Code::Referer => FieldSet::of(&[F::HttpRequestReferrer]),
            Code::UserAgent => FieldSet::of(&[F::UserAgentOriginal]),
            Code::HostHeader => FieldSet::of(&[F::UrlDomain]),
            // A header the client did not send was sent empty: the request's headers are all here.
            Code::RequestHeaders => FieldSet::of(&[F::UserAgentOriginal, F::HttpRequestReferrer, F::HttpRequestCookie]),
            Code::Ignore => FieldSet::EMPTY,
        }
    }
}

/// What [`NATIVE`] records (its codes' fields, as [`LogFormat::compile`] would sum them; a test
/// holds the two to agreeing).
const NATIVE_RECORDED: FieldSet = {
    const CODES: [Code; 12] = [
        Code::Seconds,
        Code::Millis,
        Code::DurationMs,
        Code::SrcAddr,
        Code::Action,
        Code::Status,
        Code::ReplyBytes,
        Code::Method,
        Code::Url,
        Code::User,
        Code::DstAddr,
        Code::MimeType,
    ];
    let mut set = FieldSet::EMPTY;
    let mut i = 0;
    while i < CODES.len() {
        set = set.union(CODES[i].recorded());
        i += 1;
    }
    set
};

/// Why a `logformat` could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogFormatError {
    #[error("empty logformat")]
    Empty,
    #[error("unknown Squid format code %{0} (see squid.conf.documented, `logformat`)")]
    UnknownCode(String),
    #[error("unterminated {{...}} argument after %")]
    UnterminatedArg,
    #[error("two fields with no text between them (%{0} follows another field); the line could not be split")]
    AdjacentFields(String),
}

/// Codes with a meaning; longer codes first so that the longest match wins.
const CODES: &[(&str, Code)] = &[
    ("ts", Code::Seconds),
    ("tu", Code::Millis),
    ("tl", Code::ClockTime),
    ("tg", Code::ClockTime),
    ("tr", Code::DurationMs),
    (">a", Code::SrcAddr),
    (">p", Code::SrcPort),
    (">A", Code::SrcFqdn),
    ("<a", Code::DstAddr),
    ("<p", Code::DstPort),
    ("<A", Code::DstFqdn),
    ("un", Code::User),
    ("ul", Code::User),
    ("ue", Code::User),
    ("ui", Code::User),
    ("us", Code::User),
    ("Ss", Code::Action),
    (">Hs", Code::Status),
    ("<st", Code::ReplyBytes),
    (">st", Code::RequestBytes),
    (">rm", Code::Method),
    ("rm", Code::Method),
    (">ru", Code::Url),
    ("ru", Code::Url),
    (">rv", Code::Version),
    ("rv", Code::Version),
    ("mt", Code::MimeType),
];

/// Codes Squid knows that reconwatch reads past without using.
const IGNORED: &[&str] = &[
    "<Hs",
    "Sh",
    "st",
    "<sh",
    ">sh",
    "<bs",
    ">bs",
    "<rm",
    "<ru",
    "rp",
    ">rp",
    "<rp",
    "<rv",
    "rs",
    ">rs",
    "<rs",
    "rd",
    ">rd",
    "<rd",
    ">rP",
    "<rP",
    "h",
    ">h",
    "<h",
    ">ha",
    "la",
    "lp",
    ">la",
    ">lp",
    "<la",
    "<lp",
    "<lA",
    "ea",
    "et",
    "tt",
    "<tt",
    "<pt",
    "tS",
    "dt",
    "busy_time",
    "err_code",
    "err_detail",
    "sn",
    "note",
    "master_xaction",
    ">eui",
    ">qos",
    ">nfmark",
    "<qos",
    "<nfmark",
    "credentials",
    ">handshake",
];

/// Families of codes (`%ssl::>sni`, `%adapt::<last_h`, ...) read past without using.
const IGNORED_PREFIXES: &[&str] = &[
    "ssl::",
    "adapt::",
    "icap::",
    "proxy_protocol::",
    "transport::",
    "cache::",
];

impl LogFormat {
    /// Compiles a squid.conf `logformat` line (`logformat NAME SPEC`) or a bare SPEC.
    pub fn compile(text: &str) -> Result<LogFormat, LogFormatError> {
        let text = text.trim();
        let (name, spec) = match text.strip_prefix("logformat ") {
            Some(rest) => rest.trim_start().split_once(' ').unwrap_or((rest, "")),
            None => ("custom", text),
        };
        Self::compile_named(name, spec.trim())
    }

    fn compile_named(name: &str, spec: &str) -> Result<LogFormat, LogFormatError> {
        if spec.is_empty() {
            return Err(LogFormatError::Empty);
        }
        let mut leading = None;
        let mut steps: Vec<Step> = Vec::new();
        let mut lit = String::new();
        let mut rest = spec;
        while let Some(c) = rest.chars().next() {
            if c != '%' {
                lit.push(c);
                rest = &rest[c.len_utf8()..];
                continue;
            }
            if let Some(after) = rest.strip_prefix("%%") {
                lit.push('%');
                rest = after;
                continue;
            }
            let (field, after) = parse_code(&rest[1..])?;
            match steps.last_mut() {
                None => leading = Some(std::mem::take(&mut lit)),
                Some(prev) => {
                    if lit.is_empty() {
                        return Err(LogFormatError::AdjacentFields(
                            rest[1..rest.len() - after.len()].to_owned(),
                        ));
                    }
                    prev.then = then_for(&std::mem::take(&mut lit));
                }
            }
            steps.push(field);
            rest = after;
        }
        if let Some(last) = steps.last_mut() {
            let trailing = lit.trim_end();
            last.then = if trailing.is_empty() {
                Then::End
            } else {
                then_for(trailing)
            };
        }
        let leading = leading.unwrap_or(lit);
        Ok(LogFormat {
            name: name.into(),
            leading: leading.trim_start().into(),
            recorded: steps.iter().fold(FieldSet::EMPTY, |set, s| set | s.code.recorded()),
            steps,
        })
    }

    /// The name from `logformat NAME ...` (or the built-in layout's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Matches `line` against the layout and fills `event`. Fields are validated (numbers must
    /// be numbers, times must be times), so a line of another format fails here.
    fn parse_into<'a>(&self, line: &'a str, event: &mut Event<'a>) -> Result<(), ParseError> {
        let mut rest = skip_spaces(line);
        if !rest.as_bytes().starts_with(self.leading.as_bytes()) {
            return Err(ParseError::new("literal text of the layout not found"));
        }
        rest = &rest[self.leading.len()..];
        let mut secs: Option<i64> = None;
        let mut millis: u32 = 0;
        for step in &self.steps {
            rest = skip_spaces(rest);
            let value = if step.quoted {
                take_quoted(&mut rest)?
            } else {
                take_until(&mut rest, &step.then)?
            };
            apply(step.code, value, event, &mut secs, &mut millis)?;
            match &step.then {
                Then::Spaces => {
                    if rest.is_empty() {
                        return Err(ParseError::new("line ends before the layout does"));
                    }
                    if !rest.starts_with(' ') {
                        return Err(ParseError::new("expected a space between fields"));
                    }
                }
                Then::Byte(b) => {
                    if rest.as_bytes().first() != Some(b) {
                        return Err(ParseError::new("literal text of the layout not found"));
                    }
                    rest = &rest[1..];
                }
                Then::Text(t) => {
                    if !rest.as_bytes().starts_with(t.as_bytes()) {
                        return Err(ParseError::new("literal text of the layout not found"));
                    }
                    rest = &rest[t.len()..];
                }
                Then::End => {}
            }
        }
        if !rest.trim().is_empty() {
            return Err(ParseError::new("text left over after the last field of the layout"));
        }
        event.recorded = self.recorded;
        if let Some(s) = secs {
            event.timestamp =
                Some(Timestamp::new(s, millis as i32 * 1_000_000).map_err(|_| ParseError::new("time out of range"))?);
        }
        Ok(())
    }
}

/// What a literal between two fields becomes.
fn then_for(lit: &str) -> Then {
    if lit.bytes().all(|b| b == b' ') {
        Then::Spaces
    } else if lit.len() == 1 {
        Then::Byte(lit.as_bytes()[0])
    } else {
        // Leading spaces are skipped before every field anyway; match the rest exactly.
        Then::Text(lit.trim_end().into())
    }
}

/// Parses one format code after its `%`: `[modifiers][-][width][{arg}]code[{arg}]`.
fn parse_code(s: &str) -> Result<(Step, &str), LogFormatError> {
    let mut rest = s;
    let mut quoted = false;
    while let Some(c) = rest
        .chars()
        .next()
        .filter(|c| matches!(c, '"' | '[' | '#' | '\'' | '/'))
    {
        quoted |= c == '"';
        rest = &rest[1..];
    }
    rest = rest.strip_prefix('-').unwrap_or(rest);
    rest = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    let mut arg = None;
    if let Some(after) = rest.strip_prefix('{') {
        let end = after.find('}').ok_or(LogFormatError::UnterminatedArg)?;
        arg = Some(&after[..end]);
        rest = &after[end + 1..];
    }
    let (name, code, after) = match_code(rest).ok_or_else(|| {
        let shown: String = rest.chars().take_while(|c| !c.is_whitespace()).take(24).collect();
        LogFormatError::UnknownCode(shown)
    })?;
    rest = after;
    if arg.is_none()
        && let Some(after) = rest.strip_prefix('{')
    {
        let end = after.find('}').ok_or(LogFormatError::UnterminatedArg)?;
        arg = Some(&after[..end]);
        rest = &after[end + 1..];
    }
    let code = match (name, arg) {
        // A request header: `%{Name}>h` or `%>h{Name}` (`h` alone is the same in old Squids).
        (">h" | "h", Some(header)) => header_code(header),
        (">h" | "h", None) => Code::RequestHeaders,
        _ => code,
    };
    Ok((
        Step {
            code,
            quoted,
            then: Then::End,
        },
        rest,
    ))
}

fn header_code(name: &str) -> Code {
    let name = name.split(':').next().unwrap_or(name);
    if name.eq_ignore_ascii_case("Referer") {
        Code::Referer
    } else if name.eq_ignore_ascii_case("User-Agent") {
        Code::UserAgent
    } else if name.eq_ignore_ascii_case("Host") {
        Code::HostHeader
    } else {
        Code::Ignore
    }
}

/// The longest known code at the start of `s`: its name, meaning, and the text after it.
fn match_code(s: &str) -> Option<(&str, Code, &str)> {
    for prefix in IGNORED_PREFIXES {
        if let Some(after) = s.strip_prefix(prefix) {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '<' | '>' | ':' | '-')))
                .map_or(s.len(), |i| i + prefix.len());
            return Some((&s[..end], Code::Ignore, &s[end..]));
        }
    }
    let known = CODES
        .iter()
        .copied()
        .chain(IGNORED.iter().map(|name| (*name, Code::Ignore)));
    let (name, code) = known
        .filter(|(name, _)| s.starts_with(name))
        .max_by_key(|(name, _)| name.len())?;
    Some((name, code, &s[name.len()..]))
}

/// Takes a field up to where the literal after it starts.
#[inline]
fn take_until<'a>(rest: &mut &'a str, then: &Then) -> Result<&'a str, ParseError> {
    let s = *rest;
    let end = match then {
        // Squid escapes spaces in unquoted values, so a field ends at a space, and the last
        // field is one token (anything after it is reported as left over).
        Then::Spaces | Then::End => find_byte(s.as_bytes(), b' ').unwrap_or(s.len()),
        Then::Byte(b) => find_byte(s.as_bytes(), *b).ok_or(ParseError::new("line ends before the layout does"))?,
        Then::Text(text) => {
            let first = text.as_bytes()[0];
            let mut from = 0;
            loop {
                let Some(i) = find_byte(&s.as_bytes()[from..], first) else {
                    return Err(ParseError::new("line ends before the layout does"));
                };
                if s.as_bytes()[from + i..].starts_with(text.as_bytes()) {
                    break from + i;
                }
                from += i + 1;
            }
        }
    };
    *rest = &s[end..];
    Ok(&s[..end])
}

/// Takes a `"quoted"` value (backslash escapes kept as written).
fn take_quoted<'a>(rest: &mut &'a str) -> Result<&'a str, ParseError> {
    if !rest.starts_with('"') {
        return Err(ParseError::new("expected a quoted field"));
    }
    common::next_quoted_or_token(rest).ok_or(ParseError::new("expected a quoted field"))
}

#[inline(always)]
fn apply<'a>(
    code: Code,
    value: &'a str,
    ev: &mut Event<'a>,
    secs: &mut Option<i64>,
    millis: &mut u32,
) -> Result<(), ParseError> {
    match code {
        Code::Seconds => {
            let n = parse_u64(value).ok_or(ParseError::new("invalid Unix time (%ts)"))?;
            *secs = Some(i64::try_from(n).map_err(|_| ParseError::new("invalid Unix time (%ts)"))?);
        }
        Code::Millis => {
            let n = parse_u64(value)
                .filter(|n| *n < 1000)
                .ok_or(ParseError::new("invalid milliseconds (%tu)"))?;
            *millis = n as u32;
        }
        Code::ClockTime => ev.timestamp = Some(clock_time(value).ok_or(ParseError::new("invalid time (%tl/%tg)"))?),
        Code::DurationMs => {
            let ms = parse_u64(value).ok_or(ParseError::new("invalid response time (%tr)"))?;
            ev.event.duration = ms.checked_mul(1_000_000);
        }
        Code::SrcAddr => {
            // An address or a host name; a bare number is neither (it is a misaligned field).
            // An IP address is no bare number, so only what is none is looked at twice.
            let ip = dash_none(value).and_then(common::parse_ip);
            if ip.is_none() && (dash_none(value).is_none() || value.bytes().all(|b| b.is_ascii_digit())) {
                return Err(ParseError::new("invalid client address (%>a)"));
            }
            ev.source.ip = ip;
            ev.source.address = Some(Cow::Borrowed(value));
        }
        Code::SrcPort => ev.source.port = number(value, parse_u16, "invalid client port (%>p)")?,
        Code::SrcFqdn => common::set_name_or_ip(&mut ev.source, value),
        Code::DstAddr => common::set_address(&mut ev.destination, value),
        Code::DstPort => ev.destination.port = number(value, parse_u16, "invalid server port (%<p)")?,
        Code::DstFqdn => common::set_name_or_ip(&mut ev.destination, value),
        Code::User => {
            if ev.user.name.is_none() {
                ev.user.name = dash_none(value).map(Cow::Borrowed);
            }
        }
        Code::Action => {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
                return Err(ParseError::new("invalid Squid result code (%Ss)"));
            }
            ev.event.action = Some(Cow::Borrowed(value));
        }
        Code::Status => {
            let status = number(value, parse_u16, "invalid HTTP status (%>Hs)")?;
            // Squid logs 000 when no HTTP reply was sent (a denied CONNECT, a client that left
            // before its request was read or answered): the transaction failed.
            ev.http.response.status_code = status.filter(|s| *s != 0);
            ev.event.outcome = status.map(|s| Cow::Borrowed(if 0 < s && s < 400 { "success" } else { "failure" }));
        }
        Code::ReplyBytes => ev.http.response.bytes = number(value, parse_u64, "invalid reply size (%<st)")?,
        Code::RequestBytes => ev.http.request.bytes = number(value, parse_u64, "invalid request size (%>st)")?,
        Code::Method => {
            if !value.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'-') || value.is_empty() {
                return Err(ParseError::new("invalid request method (%rm)"));
            }
            ev.http.request.method = dash_none(value).map(Cow::Borrowed);
        }
        Code::Url => {
            if let Some(u) = dash_none(value) {
                ev.url = common::split_url(u);
            }
        }
        Code::Version => {
            let v = value.strip_prefix("HTTP/").unwrap_or(value);
            ev.http.version = dash_none(v).map(Cow::Borrowed);
        }
        Code::MimeType => ev.http.response.mime_type = dash_none(value).map(Cow::Borrowed),
        Code::Referer => ev.http.request.referrer = dash_none(value).map(Cow::Borrowed),
        Code::UserAgent => ev.user_agent.original = dash_none(value).map(Cow::Borrowed),
        Code::RequestHeaders => common::fill_from_mime_headers(value, ev),
        Code::HostHeader => {
            if ev.url.domain.is_none()
                && let Some(h) = dash_none(value)
            {
                ev.url.domain = Some(Cow::Borrowed(h.rsplit_once(':').map_or(h, |(host, _)| host)));
            }
        }
        Code::Ignore => {}
    }
    Ok(())
}

/// A number or `-`.
#[inline]
fn number<T>(value: &str, parse: fn(&str) -> Option<T>, reason: &'static str) -> Result<Option<T>, ParseError> {
    if value == "-" {
        Ok(None)
    } else {
        parse(value).map(Some).ok_or(ParseError::new(reason))
    }
}

/// `10/Oct/2000:13:55:36 -0700`.
fn clock_time(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return None;
    }
    let civil = Civil {
        year: common::digits(&b[7..], 4)? as i16,
        month: month_from_abbrev(s.get(3..6)?)?,
        day: common::digits(b, 2)? as u8,
        hour: common::digits(&b[12..], 2)? as u8,
        minute: common::digits(&b[15..], 2)? as u8,
        second: common::digits(&b[18..], 2)? as u8,
        nanos: 0,
    };
    let (offset, used) = parse_offset(s.get(21..)?)?;
    (21 + used == s.len()).then_some(())?;
    civil.at_offset(offset)
}

/// Squid's native layout ([`NATIVE`]) read field by field: the default of every Squid install
/// and the bulk of proxy logs, so it skips the interpreter's per-field dispatch. It applies the
/// same per-code checks ([`apply`]) and must agree with the interpreter on every line (a test
/// holds them to it).
fn parse_native<'a>(line: &'a str, ev: &mut Event<'a>) -> Result<(), ParseError> {
    const SHORT: ParseError = ParseError::new("line ends before the layout does");
    let mut rest = line;
    let mut next = || common::next_token(&mut rest).ok_or(SHORT);
    let (mut secs, mut millis) = (None, 0);
    let time = next()?;
    let (s, ms) = split_at_byte(time, b'.').ok_or(ParseError::new("invalid Unix time (%ts)"))?;
    apply(Code::Seconds, s, ev, &mut secs, &mut millis)?;
    apply(Code::Millis, ms, ev, &mut secs, &mut millis)?;
    apply(Code::DurationMs, next()?, ev, &mut secs, &mut millis)?;
    apply(Code::SrcAddr, next()?, ev, &mut secs, &mut millis)?;
    let (action, status) = split_at_byte(next()?, b'/').ok_or(SHORT)?;
    apply(Code::Action, action, ev, &mut secs, &mut millis)?;
    apply(Code::Status, status, ev, &mut secs, &mut millis)?;
    apply(Code::ReplyBytes, next()?, ev, &mut secs, &mut millis)?;
    apply(Code::Method, next()?, ev, &mut secs, &mut millis)?;
    apply(Code::Url, next()?, ev, &mut secs, &mut millis)?;
    apply(Code::User, next()?, ev, &mut secs, &mut millis)?;
    let (_hierarchy, peer) = split_at_byte(next()?, b'/').ok_or(SHORT)?;
    apply(Code::DstAddr, peer, ev, &mut secs, &mut millis)?;
    apply(Code::MimeType, next()?, ev, &mut secs, &mut millis)?;
    if common::next_token(&mut rest).is_some() {
        return Err(ParseError::new("text left over after the last field of the layout"));
    }
    let secs = secs.ok_or(SHORT)?;
    ev.recorded = NATIVE_RECORDED;
    ev.timestamp =
        Some(Timestamp::new(secs, millis as i32 * 1_000_000).map_err(|_| ParseError::new("time out of range"))?);
    Ok(())
}

/// A layout the parser tries: the native one (read by [`parse_native`]) or a compiled one.
enum Layout {
    Native,
    Compiled(LogFormat),
}

impl Layout {
    #[inline]
    fn parse_into<'a>(&self, line: &'a str, event: &mut Event<'a>) -> Result<(), ParseError> {
        match self {
            Layout::Native => parse_native(line, event),
            Layout::Compiled(f) => f.parse_into(line, event),
        }
    }
}

/// The Squid parser: the user's layouts, then the built-in ones.
pub struct SquidParser {
    layouts: Vec<Layout>,
    /// Index of the layout that matched last; tried first.
    last: usize,
}

impl SquidParser {
    pub fn new(ctx: &ParseContext) -> Self {
        // Declared layouts go first: a site that declares one logs with it.
        let declared = ctx.squid_logformats.iter().cloned().map(Layout::Compiled);
        let builtin = BUILTIN.iter().map(|(name, spec)| match *spec {
            NATIVE => Layout::Native,
            _ => Layout::Compiled(LogFormat::compile_named(name, spec).expect("built-in layouts compile")),
        });
        SquidParser {
            layouts: declared.chain(builtin).collect(),
            last: 0,
        }
    }
}

impl LineParser for SquidParser {
    fn parse<'a>(&mut self, line: &Line<'a>, event: &mut Event<'a>) -> Result<Parsed, ParseError> {
        let first_error = match self.layouts[self.last].parse_into(line.body, event) {
            Ok(()) => return Ok(finish(event)),
            Err(e) => e,
        };
        for i in 0..self.layouts.len() {
            if i == self.last {
                continue;
            }
            *event = Event::default();
            if self.layouts[i].parse_into(line.body, event).is_ok() {
                self.last = i;
                return Ok(finish(event));
            }
        }
        // Report why the layout in use failed: that is the one the file was written with.
        Err(first_error)
    }
}

fn finish(event: &mut Event<'_>) -> Parsed {
    event.set_dataset(DATASET);
    Parsed::Event
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Field, Value};
    use std::sync::Arc;

    fn parse_with(ctx: &ParseContext, line: &str) -> Result<serde_json::Value, ParseError> {
        let mut p = SquidParser::new(ctx);
        let mut ev = Event::default();
        p.parse(&Line::plain(line), &mut ev)?;
        Ok(serde_json::to_value(&ev).unwrap())
    }

    fn parse(line: &str) -> Result<serde_json::Value, ParseError> {
        parse_with(&ParseContext::default(), line)
    }

    fn flat(v: &serde_json::Value, prefix: &str, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flat(v, &p, out);
                }
            }
            serde_json::Value::String(s) => out.push((prefix.to_owned(), s.clone())),
            other => out.push((prefix.to_owned(), other.to_string())),
        }
    }

    /// Asserts exactly the given fields (and no others) are set.
    fn check(line: &str, want: &[(&str, &str)]) {
        let v = parse(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let mut got = Vec::new();
        flat(&v, "", &mut got);
        got.sort();
        let mut want: Vec<(String, String)> = want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        want.push(("event.dataset".into(), DATASET.name().into()));
        want.sort();
        assert_eq!(got, want, "{line}");
    }

    /// A line of the native layout and every field it gives.
    const NATIVE_LINE: &str = "1610615523.123    234 10.20.3.14 TCP_MISS/200 1514 GET \
                               http://news.example.net/o/p.gif?u=8f3a alice HIER_DIRECT/198.51.100.7 image/gif";
    const NATIVE_FIELDS: &[(&str, &str)] = &[
        ("@timestamp", "2021-01-14T09:12:03.123Z"),
        ("event.duration", "234000000"),
        ("event.action", "TCP_MISS"),
        ("event.outcome", "success"),
        ("source.address", "10.20.3.14"),
        ("source.ip", "10.20.3.14"),
        ("http.response.status_code", "200"),
        ("http.response.bytes", "1514"),
        ("http.request.method", "GET"),
        ("url.original", "http://news.example.net/o/p.gif?u=8f3a"),
        ("url.scheme", "http"),
        ("url.domain", "news.example.net"),
        ("url.path", "/o/p.gif"),
        ("url.query", "u=8f3a"),
        ("url.extension", "gif"),
        ("user.name", "alice"),
        ("destination.address", "198.51.100.7"),
        ("destination.ip", "198.51.100.7"),
        ("http.response.mime_type", "image/gif"),
    ];

    #[test]
    fn native_layout() {
        check(NATIVE_LINE, NATIVE_FIELDS);
    }

    #[test]
    fn native_connect_denied_and_dashes() {
        check(
            "1386543500.000      5 192.0.2.44 NONE/405 3364 CONNECT error:method-not-allowed - HIER_NONE/- text/html",
            &[
                ("@timestamp", "2013-12-08T22:58:20Z"),
                ("event.duration", "5000000"),
                ("event.action", "NONE"),
                ("event.outcome", "failure"),
                ("source.address", "192.0.2.44"),
                ("source.ip", "192.0.2.44"),
                ("http.response.status_code", "405"),
                ("http.response.bytes", "3364"),
                ("http.request.method", "CONNECT"),
                ("url.original", "error:method-not-allowed"),
                ("http.response.mime_type", "text/html"),
            ],
        );
        check(
            "1610615523.001     12 10.20.3.14 TCP_TUNNEL/200 5120 CONNECT mail.example.org:443 - \
             HIER_DIRECT/203.0.113.9 -",
            &[
                ("@timestamp", "2021-01-14T09:12:03.001Z"),
                ("event.duration", "12000000"),
                ("event.action", "TCP_TUNNEL"),
                ("event.outcome", "success"),
                ("source.address", "10.20.3.14"),
                ("source.ip", "10.20.3.14"),
                ("http.response.status_code", "200"),
                ("http.response.bytes", "5120"),
                ("http.request.method", "CONNECT"),
                ("url.original", "mail.example.org:443"),
                ("url.domain", "mail.example.org"),
                ("url.port", "443"),
                ("destination.address", "203.0.113.9"),
                ("destination.ip", "203.0.113.9"),
            ],
        );
    }

    #[test]
    fn status_000_is_no_status_and_a_failure() {
        let v = parse("1610615523.001      0 10.0.0.1 TCP_DENIED/000 0 GET http://x.example/ - HIER_NONE/- -").unwrap();
        assert!(v["http"]["response"].get("status_code").is_none(), "{v}");
        // Gap: a transaction without a reply had no outcome.
        assert_eq!(v["event"]["outcome"], "failure", "{v}");
    }

    /// Gap: the native layout with `log_mime_hdrs on` (request and reply headers appended in
    /// brackets, escaped by Squid) was rejected as "text left over"; the request headers give the
    /// user agent, referrer and cookie.
    #[test]
    fn native_layout_with_mime_headers() {
        // What the case is about, the header blocks, the fields they add.
        type Case<'c> = (&'c str, &'c str, &'c [(&'c str, &'c str)]);
        let cases: &[Case<'_>] = &[
            (
                "user agent, referrer and cookie from the request headers",
                r"[Host: a.example\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\nAccept: */*\r\nReferer: https://news.example.org/a\r\nCookie: sid=abc; theme=dark\r\n] [HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: x=1\r\n]",
                &[
                    ("user_agent.original", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"),
                    ("http.request.referrer", "https://news.example.org/a"),
                    ("http.request.cookie", "sid=abc; theme=dark"),
                ],
            ),
            ("empty blocks", "[] []", &[]),
            (
                "no user agent; a reply's Set-Cookie is no request cookie",
                r"[Host: a.example\r\n] [HTTP/1.1 200 OK\r\nSet-Cookie: x=1\r\n]",
                &[],
            ),
            (
                "names in any case, Squid's escapes undone, LF-only line ends",
                r"[user-agent: a%5Bb%5D %25 caf%C3%A9 \\ z\nREFERER: http://r.example/\n] []",
                &[
                    ("user_agent.original", r"a[b] % café \ z"),
                    ("http.request.referrer", "http://r.example/"),
                ],
            ),
        ];
        for (name, blocks, want) in cases {
            let line = format!("{NATIVE_LINE} {blocks}");
            let all: Vec<(&str, &str)> = NATIVE_FIELDS.iter().chain(*want).copied().collect();
            assert!(parse(&line).is_ok(), "{name}");
            check(&line, &all);
        }
        // A value without escapes is borrowed from the line.
        let line = format!("{NATIVE_LINE} [User-Agent: curl/8.5.0\\r\\n] []");
        let mut ev = Event::default();
        SquidParser::new(&ParseContext::default())
            .parse(&Line::plain(&line), &mut ev)
            .unwrap();
        assert!(
            matches!(ev.user_agent.original, Some(Cow::Borrowed("curl/8.5.0"))),
            "{ev:?}"
        );
    }

    /// Gap: `%<A`/`%>A` holding an IP address (no reverse DNS) went to `.domain`.
    #[test]
    fn fqdn_codes_holding_an_address() {
        let lf = LogFormat::compile("%ts.%03tu %>A %<A %ru").unwrap();
        let ctx = ParseContext {
            squid_logformats: Arc::from(vec![lf]),
            ..Default::default()
        };
        let v = parse_with(&ctx, "1610615523.123 pc7.corp.example 203.0.113.9 http://203.0.113.9/x").unwrap();
        assert_eq!(v["source"]["domain"], "pc7.corp.example", "{v}");
        assert_eq!(v["destination"]["ip"], "203.0.113.9", "{v}");
        assert_eq!(v["destination"]["address"], "203.0.113.9", "{v}");
        assert!(v["destination"].get("domain").is_none(), "{v}");
        let v = parse_with(&ctx, "1610615523.123 10.1.2.3 - http://a.example/").unwrap();
        assert_eq!(v["source"]["ip"], "10.1.2.3", "{v}");
        assert!(
            v["source"].get("domain").is_none() && v.get("destination").is_none(),
            "{v}"
        );
    }

    #[test]
    fn extended_layout() {
        let line = "1610615523.391    104 10.20.3.14 58938 TCP_MISS/200 904 123 364 123 528 GET http://example.com/ \
                    1.1 carol HIER_DIRECT/203.0.113.10 80 text/html - - \"http://ref.example/\" \"curl/8.14.1\" \
                    \"example.com\" \"-\" 53 -";
        let v = parse(line).unwrap();
        assert_eq!(v["source"]["port"], 58938);
        assert_eq!(v["http"]["request"]["bytes"], 123);
        assert_eq!(v["http"]["response"]["bytes"], 904);
        assert_eq!(v["http"]["version"], "1.1");
        assert_eq!(v["destination"]["port"], 80);
        assert_eq!(v["http"]["request"]["referrer"], "http://ref.example/");
        assert_eq!(v["user_agent"]["original"], "curl/8.14.1");
        assert_eq!(v["user"]["name"], "carol");
    }

    #[test]
    fn declared_logformat_with_clock_time_and_quoted_headers() {
        let lf = LogFormat::compile(
            "logformat withua %>a %[ui %[un [%tl] \"%rm %ru HTTP/%rv\" %>Hs %<st \"%{Referer}>h\" \
             \"%{User-Agent}>h\" %Ss:%Sh",
        )
        .unwrap();
        assert_eq!(lf.name(), "withua");
        let ctx = ParseContext {
            squid_logformats: Arc::from(vec![lf]),
            ..Default::default()
        };
        let v = parse_with(
            &ctx,
            "10.1.2.3 - bob [14/Jan/2021:09:12:03 +0100] \"GET http://t.example/p.png HTTP/1.1\" 200 43 \"-\" \
             \"Mozilla/5.0 (iPhone; CPU iPhone OS 14_3 like Mac OS X)\" TCP_MISS:HIER_DIRECT",
        )
        .unwrap();
        assert_eq!(v["@timestamp"], "2021-01-14T08:12:03Z");
        assert_eq!(v["user"]["name"], "bob");
        assert_eq!(v["url"]["domain"], "t.example");
        assert_eq!(
            v["user_agent"]["original"],
            "Mozilla/5.0 (iPhone; CPU iPhone OS 14_3 like Mac OS X)"
        );
        assert_eq!(v["event"]["action"], "TCP_MISS");
        assert!(v["http"]["request"].get("referrer").is_none());
    }

    #[test]
    fn logformat_errors_name_the_problem() {
        assert_eq!(
            LogFormat::compile("%ts %bogus").unwrap_err(),
            LogFormatError::UnknownCode("bogus".into())
        );
        assert_eq!(
            LogFormat::compile("%{Referer >h").unwrap_err(),
            LogFormatError::UnterminatedArg
        );
        assert_eq!(LogFormat::compile("logformat x ").unwrap_err(), LogFormatError::Empty);
        assert!(matches!(
            LogFormat::compile("%ts%tr"),
            Err(LogFormatError::AdjacentFields(_))
        ));
        // Known but unused codes compile.
        LogFormat::compile("%ts %ssl::>sni %adapt::<last_h %<tt %note %{X-Forwarded-For}>h").unwrap();
    }

    #[test]
    fn rejects_other_formats_with_reasons() {
        let cases = [
            (
                "127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 2326",
                "invalid milliseconds (%tu)",
            ),
            (
                "2021-01-14 09:12:03 10.0.0.1 GET / - 80 - 10.0.0.2 UA - 200 0 0 1",
                "invalid Unix time (%ts)",
            ),
            (
                "1610615523.123    234 10.20.3.14 TCP_MISS/abc 1514 GET http://x/ - DIRECT/1.2.3.4 -",
                "invalid HTTP status (%>Hs)",
            ),
            (
                "1610615523.123    234 10.20.3.14 TCP_MISS/200 1514 GET http://x/",
                "line ends before the layout does",
            ),
            (
                "1610615523.123    234 10.20.3.14 tcp_miss/200 1514 GET http://x/ - DIRECT/1.2.3.4 -",
                "invalid Squid result code (%Ss)",
            ),
            ("{\"json\": true}", "invalid Unix time (%ts)"),
        ];
        for (line, reason) in cases {
            assert_eq!(parse(line).unwrap_err().reason, reason, "{line}");
        }
    }

    #[test]
    fn non_ascii_and_replacement_chars_never_panic() {
        for line in [
            "1610615523.123 \u{fffd}\u{fffd} 10.0.0.1 TCP_MISS/200 1 GET http://é/ - DIRECT/1.2.3.4 -",
            "1610615523.123    1 10.0.0.1 TCP_MISS/200 1 GET http://ü.example/ä?ö=1 - HIER_DIRECT/1.2.3.4 text/html ü",
            "1.1 1 \u{fffd} TCP/1 1 G \u{fffd} - \u{fffd}/\u{fffd} \u{fffd}",
        ] {
            let _ = parse(line);
        }
    }

    /// The native fast path and the interpreter running the same layout must agree on every
    /// line, accepted or not (the reasons may differ in wording, not in verdict).
    #[test]
    fn native_fast_path_agrees_with_the_interpreter() {
        let interpreted = LogFormat::compile_named("squid", NATIVE).unwrap();
        let dir = tempfile::tempdir().unwrap();
        crate::world::write_world(
            &crate::world::GenConfig {
                seed: 3,
                target_bytes: 2_000_000,
            },
            dir.path(),
        )
        .unwrap();
        let generated = std::fs::read_to_string(dir.path().join("web/access.log")).unwrap();
        let tricky = [
            "1610615523.123    234 10.20.3.14 TCP_MISS/200 1514 GET http://a.example/ alice HIER_DIRECT/198.51.100.7 image/gif",
            "1610615523.123 234 10.20.3.14 TCP_MISS/200 1514 GET http://a.example/ - HIER_NONE/- -",
            "  1610615523.123    234 10.20.3.14 NONE_NONE/000 0 CONNECT a.example:443 - HIER_NONE/- -",
            "1610615523.123    234 10.20.3.14 TCP_MISS/200 1514 GET http://a.example/ alice HIER_DIRECT/198.51.100.7",
            "1610615523.123    234 10.20.3.14 TCP_MISS/200 1514 GET http://a.example/ alice HIER_DIRECT/198.51.100.7 a b",
            "1610615523    234 10.20.3.14 TCP_MISS/200 1514 GET http://a.example/ alice HIER_DIRECT/198.51.100.7 -",
            "1610615523.1234    234 10.20.3.14 TCP_MISS/200 1514 GET http://a.example/ alice HIER_DIRECT/1.2.3.4 -",
            "1610615523.123    234 10.20.3.14 TCP_MISS200 1514 GET http://a.example/ alice HIER_DIRECT/1.2.3.4 -",
            "1610615523.123    234 10.20.3.14 TCP_MISS/200 - GET http://a.example/ alice DIRECT 1.2.3.4 -",
            "1610615523.123    x 10.20.3.14 TCP_MISS/200 1 GET http://a.example/ alice DIRECT/1.2.3.4 -",
            "1610615523.123    1 10.20.3.14 TCP_MISS/200 1 G3T http://a.example/ alice DIRECT/1.2.3.4 -",
            "99999999999999999999.123    1 10.20.3.14 TCP_MISS/200 1 GET http://a.example/ alice DIRECT/1.2.3.4 -",
            "",
        ];
        let mut compared = 0;
        for line in generated.lines().chain(tricky) {
            let (mut fast, mut slow) = (Event::default(), Event::default());
            let (a, b) = (parse_native(line, &mut fast), interpreted.parse_into(line, &mut slow));
            assert_eq!(a.is_ok(), b.is_ok(), "{line}\nfast: {a:?}\ninterpreter: {b:?}");
            if a.is_ok() {
                assert_eq!(fast, slow, "{line}");
            }
            compared += 1;
        }
        assert!(compared > 1000, "{compared}");
    }

    #[test]
    fn field_access_by_ecs_name() {
        let mut p = SquidParser::new(&ParseContext::default());
        let mut ev = Event::default();
        let line = INFO.example;
        p.parse(&Line::plain(line), &mut ev).unwrap();
        assert_eq!(ev.get(Field::UrlExtension), Some(Value::Str("gif")));
        assert_eq!(ev.get(Field::HttpResponseStatusCode), Some(Value::Int(200)));
    }
}
