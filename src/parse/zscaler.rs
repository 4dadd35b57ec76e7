//! Zscaler Internet Access (ZIA) web logs, as an NSS or Cloud NSS feed writes them in JSON: the
//! Splunk-style wrapper `{"sourcetype":"zscalernss-web","event":{...}}`, or a bare event object
//! from a custom feed template. One JSON object per line.
//!
//! Field names are the NSS feed variables (`%s{login}` → `"login"`). Both the classic names
//! (`cip`, `sip`, `eurl`, `ua`, `ereferer`) and the Cloud NSS v9 ones (`cltip`, `serverip`,
//! `b64url`, `useragent`, `b64referer`) are read. NSS writes URLs without their scheme
//! (`www.example.com/path`): `url.original` gets `http://` for `proto` HTTP and `https://`
//! otherwise (as Elastic's integration does); it is the one value this parser has to build.
//! Base64 fields are decoded only when the plain field is absent. `None`, `NA` and empty values
//! mean "no value".
//!
//! Time: `epochtime` when present (it needs no zone); otherwise `time`
//! (`Fri Dec 31 07:07:07 2021`), which NSS writes in the zone configured on the feed: read as UTC
//! when the record's `tz` says `GMT`/`UTC`, else in the input's `--timezone` (`ctx.timezone`).
//!
//! Only the web feed is accepted; other NSS feeds (`zscalernss-fw`, `-dns`, ...) are rejected by
//! name, and a bare object must carry a time, a URL or host, and a client/server/request field.

use std::borrow::Cow;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::event::{Dataset, Event, Field, FieldSet, Str, URL_PARTS};

use super::common::{Civil, month_from_abbrev, parse_iso_civil, parse_offset};
use super::json::{self, number, text};
use super::{FormatInfo, Line, LineParser, ParseContext, ParseError, Parsed, fail};

pub static INFO: FormatInfo = FormatInfo {
    name: "zscaler",
    datasets: &[DATASET],
    line_independent: true,
    description: "Zscaler ZIA NSS web log feed in JSON (wrapped `zscalernss-web` or a bare custom feed object)",
    example: r#"{"sourcetype":"zscalernss-web","event":{"time":"Tue Mar 12 08:15:02 2024","tz":"GMT","login":"akowalski@corp.example","proto":"HTTPS","eurl":"img.news-tracker.example/p.gif?u=8f3a","action":"Allowed","reqmethod":"GET","respcode":"200","reqsize":"512","respsize":"1043","cip":"10.20.4.17","sip":"203.0.113.80","ua":"Mozilla/5.0 (Windows NT 10.0; Win64; x64)","ereferer":"None","contenttype":"image/gif","urlcat":"Web Advertisements","devicehostname":"LT-AKOWALSKI"}}"#,
};

const DATASET: Dataset = Dataset::ZscalerWeb;
const WEB_SOURCETYPE: &str = "zscalernss-web";
const NOT_NSS_WEB: &str = "JSON without Zscaler NSS web fields";

pub struct ZscalerParser {
    timezone: TimeZone,
}

impl ZscalerParser {
    pub fn new(ctx: &ParseContext) -> Self {
        ZscalerParser {
            timezone: ctx.timezone.clone(),
        }
    }
}

/// One NSS web record: the wrapper and the event share this type, so either shape is read in one
/// pass (the wrapper's `event` holds the record; a bare record has none).
#[derive(Deserialize, Default)]
struct Nss<'a> {
    #[serde(borrow, default, deserialize_with = "text")]
    sourcetype: Option<Str<'a>>,
    #[serde(borrow, default)]
    event: Option<Box<Nss<'a>>>,

    #[serde(borrow, default, deserialize_with = "text")]
    time: Option<Str<'a>>,
    #[serde(default, deserialize_with = "number")]
    epochtime: Option<u64>,
    #[serde(borrow, default, deserialize_with = "text")]
    tz: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    login: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    proto: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    url: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    eurl: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    b64url: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    host: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    reqmethod: Option<Str<'a>>,
    #[serde(default, deserialize_with = "number")]
    respcode: Option<u64>,
    #[serde(borrow, default, deserialize_with = "text")]
    reqversion: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    ua: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    useragent: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    referer: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    ereferer: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    b64referer: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    cip: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    cltip: Option<Str<'a>>,
    #[serde(default, deserialize_with = "number")]
    cltsourceport: Option<u64>,
    #[serde(borrow, default, deserialize_with = "text")]
    sip: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    serverip: Option<Str<'a>>,
    #[serde(default, deserialize_with = "number")]
    reqsize: Option<u64>,
    #[serde(default, deserialize_with = "number")]
    respsize: Option<u64>,
    #[serde(borrow, default, deserialize_with = "text")]
    contenttype: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    action: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    devicehostname: Option<Str<'a>>,
}

impl Nss<'_> {
    /// The fields the record has a key for, `None` and `NA` included (the feed records them, so
    /// a missing value is an empty one for Sigma's `''`); numbers count where they are numbers.
    fn recorded(&self) -> FieldSet {
        use Field as F;
        let given = [
            (
                self.time.is_some() || self.epochtime.is_some(),
                FieldSet::of(&[F::Timestamp]),
            ),
            (self.action.is_some(), FieldSet::of(&[F::EventAction, F::EventOutcome])),
            (self.login.is_some(), FieldSet::of(&[F::UserName])),
            (self.devicehostname.is_some(), FieldSet::of(&[F::HostHostname])),
            (
                self.url.is_some() || self.eurl.is_some() || self.b64url.is_some(),
                URL_PARTS,
            ),
            (
                self.cip.is_some() || self.cltip.is_some(),
                FieldSet::of(&[F::SourceAddress, F::SourceIp]),
            ),
            (self.cltsourceport.is_some(), FieldSet::of(&[F::SourcePort])),
            (
                self.sip.is_some() || self.serverip.is_some(),
                FieldSet::of(&[F::DestinationAddress, F::DestinationIp]),
            ),
            (self.host.is_some(), FieldSet::of(&[F::DestinationDomain])),
            (self.reqmethod.is_some(), FieldSet::of(&[F::HttpRequestMethod])),
            (
                self.referer.is_some() || self.ereferer.is_some() || self.b64referer.is_some(),
                FieldSet::of(&[F::HttpRequestReferrer]),
            ),
            (self.reqsize.is_some(), FieldSet::of(&[F::HttpRequestBytes])),
            (self.respcode.is_some(), FieldSet::of(&[F::HttpResponseStatusCode])),
            (self.respsize.is_some(), FieldSet::of(&[F::HttpResponseBytes])),
            (self.contenttype.is_some(), FieldSet::of(&[F::HttpResponseMimeType])),
            (self.reqversion.is_some(), FieldSet::of(&[F::HttpVersion])),
            (
                self.ua.is_some() || self.useragent.is_some(),
                FieldSet::of(&[F::UserAgentOriginal]),
            ),
        ];
        FieldSet::given(given)
    }

    /// A bare object is an NSS web record when it has a time, a URL (or host), and one of the
    /// client, server or request fields: the combination no other vendor's JSON has.
    fn looks_like_web_record(&self) -> bool {
        let time = self.time.is_some() || self.epochtime.is_some();
        let target = self.url.is_some() || self.eurl.is_some() || self.b64url.is_some() || self.host.is_some();
        let request = self.cip.is_some()
            || self.cltip.is_some()
            || self.sip.is_some()
            || self.serverip.is_some()
            || self.reqmethod.is_some()
            || self.respcode.is_some();
        time && target && request
    }
}

impl LineParser for ZscalerParser {
    fn parse<'a>(&mut self, line: &Line<'a>, event: &mut Event<'a>) -> Result<Parsed, ParseError> {
        let body = json::object_text(line.body)?;
        let mut outer: Nss<'a> = serde_json::from_str(body).map_err(|e| json::error(e, NOT_NSS_WEB))?;
        let rec = match outer.event.take() {
            Some(inner) => {
                match outer.sourcetype.as_deref() {
                    Some(WEB_SOURCETYPE) => {}
                    Some(st) if st.starts_with("zscalernss-") => return fail("Zscaler NSS feed other than web"),
                    Some(_) => return fail("not a Zscaler NSS web record (sourcetype)"),
                    None if inner.looks_like_web_record() => {}
                    None => return fail(NOT_NSS_WEB),
                }
                *inner
            }
            None if outer.looks_like_web_record() => outer,
            None => return fail(NOT_NSS_WEB),
        };
        self.fill(rec, event)?;
        Ok(Parsed::Event)
    }
}

impl ZscalerParser {
    fn fill<'a>(&self, r: Nss<'a>, ev: &mut Event<'a>) -> Result<(), ParseError> {
        ev.set_dataset(DATASET);
        ev.recorded = r.recorded();
        ev.timestamp = match (r.epochtime, value(r.time)) {
            (Some(secs), _) => match i64::try_from(secs).ok().and_then(|s| Timestamp::from_second(s).ok()) {
                Some(ts) => Some(ts),
                None => return fail("invalid Zscaler epochtime"),
            },
            (None, Some(time)) => {
                let utc =
                    value(r.tz).is_some_and(|tz| tz.eq_ignore_ascii_case("GMT") || tz.eq_ignore_ascii_case("UTC"));
                let zone = if utc { &TimeZone::UTC } else { &self.timezone };
                match parse_nss_time(&time, zone) {
                    Some(ts) => Some(ts),
                    None => return fail("invalid Zscaler time (expected `Fri Dec 31 07:07:07 2021`)"),
                }
            }
            (None, None) => None,
        };

        if let Some(action) = value(r.action) {
            ev.event.outcome = outcome(&action).map(Cow::Borrowed);
            ev.event.action = Some(action);
        }
        if let Some(login) = value(r.login) {
            if login.contains('@') {
                ev.user.email = Some(login.clone());
            }
            ev.user.name = Some(login);
        }
        ev.host.hostname = value(r.devicehostname);

        let scheme = match value(r.proto) {
            Some(p) if p.eq_ignore_ascii_case("HTTP") => "http",
            _ => "https",
        };
        let url = value(r.url)
            .or(value(r.eurl))
            .or_else(|| value(r.b64url).and_then(decoded));
        if let Some(url) = url {
            ev.url = if has_scheme(&url) {
                json::url(url)
            } else {
                json::url_without_scheme(url, scheme)
            };
        }

        if let Some(ip) = value(r.cip).or(value(r.cltip)) {
            json::set_ip(&mut ev.source, ip);
        }
        ev.source.port = r.cltsourceport.and_then(|p| u16::try_from(p).ok());
        if let Some(ip) = value(r.sip).or(value(r.serverip)) {
            json::set_ip(&mut ev.destination, ip);
        }
        ev.destination.domain = value(r.host);

        ev.http.request.method = value(r.reqmethod);
        ev.http.request.referrer = value(r.referer)
            .or(value(r.ereferer))
            .or_else(|| value(r.b64referer).and_then(decoded));
        ev.http.request.bytes = r.reqsize;
        ev.http.response.status_code = r.respcode.and_then(|c| u16::try_from(c).ok());
        ev.http.response.bytes = r.respsize;
        ev.http.response.mime_type = value(r.contenttype);
        ev.http.version = value(r.reqversion);
        ev.user_agent.original = value(r.ua).or(value(r.useragent));
        Ok(())
    }
}

/// True when `url` starts with `scheme://` (a query may hold `://` of its own).
fn has_scheme(url: &str) -> bool {
    url.find("://").is_some_and(|i| {
        i > 0
            && url.as_bytes()[..i]
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
    })
}

/// NSS writes `None` (and sometimes `NA`) for a field without value.
fn value(s: Option<Str<'_>>) -> Option<Str<'_>> {
    s.filter(|s| !(s.is_empty() || *s == "None" || *s == "NA" || *s == "N/A"))
}

fn outcome(action: &str) -> Option<&'static str> {
    if action.eq_ignore_ascii_case("Allowed") {
        Some("success")
    } else if action.eq_ignore_ascii_case("Blocked") || action.eq_ignore_ascii_case("Denied") {
        Some("failure")
    } else {
        None
    }
}

/// `Fri Dec 31 07:07:07 2021` (also with a space-padded day), or `2021-12-31 07:07:07` as custom
/// feeds may write it; read in `zone` unless it carries an offset.
fn parse_nss_time(s: &str, zone: &TimeZone) -> Option<Timestamp> {
    let s = s.trim();
    if s.as_bytes().first()?.is_ascii_digit() {
        let (civil, used) = parse_iso_civil(s)?;
        let rest = &s[used..];
        if rest.is_empty() {
            return civil.in_zone(zone);
        }
        let (offset, n) = parse_offset(rest)?;
        return (n == rest.len()).then(|| civil.at_offset(offset))?;
    }
    let mut it = s.split_ascii_whitespace();
    let _weekday = it.next()?;
    let month = month_from_abbrev(it.next()?)?;
    let day: u8 = it.next()?.parse().ok()?;
    let hms = it.next()?.as_bytes();
    let year: i16 = it.next()?.parse().ok()?;
    if it.next().is_some() || hms.len() != 8 || hms[2] != b':' || hms[5] != b':' {
        return None;
    }
    let two = |i: usize| -> Option<u8> {
        let (a, b) = (hms[i].wrapping_sub(b'0'), hms[i + 1].wrapping_sub(b'0'));
        (a < 10 && b < 10).then(|| a * 10 + b)
    };
    Civil {
        year,
        month,
        day,
        hour: two(0)?,
        minute: two(3)?,
        second: two(6)?,
        nanos: 0,
    }
    .in_zone(zone)
}

/// Decodes a `b64url`/`b64referer` value (standard or URL-safe alphabet, padding optional).
fn decoded(s: Str<'_>) -> Option<Str<'static>> {
    let bytes = base64_decode(s.trim().as_bytes())?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    (!text.is_empty()).then_some(Cow::Owned(text))
}

fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    }
    let data = match input.iter().position(|&c| c == b'=') {
        Some(i) if input[i..].iter().all(|&c| c == b'=') && input.len() - i <= 2 => &input[..i],
        Some(_) => return None,
        None => input,
    };
    if data.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 2);
    for chunk in data.chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = acc << 6 | sextet(c)?;
        }
        // A chunk of n sextets holds n*6 bits: n-1 whole bytes.
        acc <<= 6 * (4 - chunk.len() as u32);
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Field, Value};

    fn parse_with<'a>(line: &'a str, ctx: &ParseContext) -> Result<Event<'a>, ParseError> {
        let mut p = ZscalerParser::new(ctx);
        let mut ev = Event::default();
        p.parse(&Line::plain(line), &mut ev).map(|r| {
            assert_eq!(r, Parsed::Event);
            ev
        })
    }

    fn parse(line: &str) -> Result<Event<'_>, ParseError> {
        parse_with(line, &ParseContext::default())
    }

    fn get(ev: &Event<'_>, name: &str) -> Option<String> {
        let f = Field::from_name(name).unwrap_or_else(|| panic!("no field {name}"));
        ev.get(f).map(|v| match v {
            Value::List(l) => l.join(","),
            v => v.to_string(),
        })
    }

    fn check(line: &str, want: &[(&str, &str)]) {
        let ev = parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        for (name, value) in want {
            let expected = (!value.is_empty()).then(|| value.to_string());
            assert_eq!(get(&ev, name), expected, "{line}: {name}");
        }
    }

    /// Regression (found by `cargo fuzz run auto`): a non-digit in the clock made the
    /// two-digit reader multiply before checking, which overflowed.
    #[test]
    fn clock_with_non_digits_is_rejected_without_overflow() {
        for t in [
            "Fri Dec 31 z7:07:07 2021",
            "Fri Dec 31 07:\u{ff}7:07 2021",
            "Fri Dec 31 99:99:99 2021",
        ] {
            assert_eq!(parse_nss_time(t, &TimeZone::UTC), None, "{t}");
        }
        assert!(parse_nss_time("Fri Dec 31 07:07:07 2021", &TimeZone::UTC).is_some());
    }

    #[test]
    fn wrapped_classic_feed() {
        check(
            INFO.example,
            &[
                ("@timestamp", "2024-03-12T08:15:02Z"),
                ("event.dataset", "zscaler.web"),
                ("event.action", "Allowed"),
                ("event.outcome", "success"),
                ("user.name", "akowalski@corp.example"),
                ("user.email", "akowalski@corp.example"),
                ("url.original", "https://img.news-tracker.example/p.gif?u=8f3a"),
                ("url.scheme", "https"),
                ("url.domain", "img.news-tracker.example"),
                ("url.path", "/p.gif"),
                ("url.query", "u=8f3a"),
                ("url.extension", "gif"),
                ("http.request.method", "GET"),
                ("http.request.referrer", ""),
                ("http.request.bytes", "512"),
                ("http.response.status_code", "200"),
                ("http.response.bytes", "1043"),
                ("http.response.mime_type", "image/gif"),
                ("source.ip", "10.20.4.17"),
                ("destination.ip", "203.0.113.80"),
                ("user_agent.original", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"),
                ("host.hostname", "LT-AKOWALSKI"),
            ],
        );
    }

    /// A key the feed writes `None` for is recorded (an empty user agent for Sigma's `''`); a key
    /// the feed template lacks is not.
    #[test]
    fn keys_present_are_recorded() {
        let ev = parse(
            r#"{"sourcetype":"zscalernss-web","event":{"time":"Wed Mar  6 23:59:59 2024","eurl":"a.example/x","cip":"10.9.8.7","ua":"None","action":"Allowed"}}"#,
        )
        .unwrap();
        assert!(ev.user_agent.original.is_none());
        assert!(ev.recorded.contains(Field::UserAgentOriginal));
        assert!(ev.recorded.contains(Field::UrlQuery) && ev.recorded.contains(Field::SourceIp));
        assert!(!ev.recorded.contains(Field::HttpRequestReferrer));
        assert!(!ev.recorded.contains(Field::HttpRequestMethod));
    }

    #[test]
    fn connect_and_blocked() {
        check(
            r#"{ "sourcetype" : "zscalernss-web", "event" :{"time":"Wed Mar  6 23:59:59 2024","login":"svc-backup","proto":"HTTP_PROXY","eurl":"files.example.net:443","action":"Blocked","reqmethod":"CONNECT","respcode":"403","cip":"10.9.8.7","sip":"198.51.100.20","ereferer":"None","contenttype":"Other"}}"#,
            &[
                ("@timestamp", "2024-03-06T23:59:59Z"),
                ("event.action", "Blocked"),
                ("event.outcome", "failure"),
                ("user.name", "svc-backup"),
                ("user.email", ""),
                ("url.original", "https://files.example.net:443"),
                ("url.domain", "files.example.net"),
                ("url.port", "443"),
                ("url.path", ""),
                ("http.request.method", "CONNECT"),
                ("http.response.status_code", "403"),
                ("http.response.mime_type", "Other"),
            ],
        );
    }

    #[test]
    fn bare_custom_feed_with_numbers_and_full_url() {
        // A custom NSS template: numbers unquoted (%d{...}), a full URL, ISO time, IPv6 client.
        check(
            r#"{"time":"2024-03-12 08:15:02","login":"jdoe@corp.example","proto":"HTTP","url":"http://cdn.example.org/a/b.js?v=3#x","reqmethod":"GET","respcode":304,"respsize":0,"reqsize":388,"cip":"2001:db8:10::17","sip":"192.0.2.44","ua":"curl/8.4.0","referer":"http://portal.example.org/","action":"Allowed"}"#,
            &[
                ("@timestamp", "2024-03-12T08:15:02Z"),
                ("url.original", "http://cdn.example.org/a/b.js?v=3#x"),
                ("url.fragment", "x"),
                ("url.scheme", "http"),
                ("url.extension", "js"),
                ("http.response.status_code", "304"),
                ("http.response.bytes", "0"),
                ("http.request.bytes", "388"),
                ("source.ip", "2001:db8:10::17"),
                ("http.request.referrer", "http://portal.example.org/"),
                ("user_agent.original", "curl/8.4.0"),
            ],
        );
    }

    #[test]
    fn cloud_nss_v9_with_base64_and_epoch() {
        // b64url = "news.example.com/track/o.gif?id=42", b64referer = "mail.example.com/inbox".
        check(
            r#"{"version":"v9","sourcetype":"zscalernss-web","event":{"time":"Tue Mar 12 08:15:02 2024","tz":"GMT","epochtime":"1710231302","host":"news.example.com","serverip":"203.0.113.81","cltip":"10.1.2.3","cltsourceport":"52114","reqmethod":"GET","respcode":"200","reqversion":"1.1","proto":"HTTPS","b64url":"bmV3cy5leGFtcGxlLmNvbS90cmFjay9vLmdpZj9pZD00Mg==","b64referer":"bWFpbC5leGFtcGxlLmNvbS9pbmJveA","useragent":"Mozilla/5.0","login":"jdoe@corp.example","action":"Allowed","deviceowner":"jdoe","devicehostname":"LT-0042","urlcat":"News and Media"}}"#,
            &[
                ("@timestamp", "2024-03-12T08:15:02Z"),
                ("url.original", "https://news.example.com/track/o.gif?id=42"),
                ("url.domain", "news.example.com"),
                ("url.path", "/track/o.gif"),
                ("url.query", "id=42"),
                ("http.request.referrer", "mail.example.com/inbox"),
                ("http.version", "1.1"),
                ("source.ip", "10.1.2.3"),
                ("source.port", "52114"),
                ("destination.ip", "203.0.113.81"),
                ("destination.domain", "news.example.com"),
                ("user_agent.original", "Mozilla/5.0"),
                ("host.hostname", "LT-0042"),
            ],
        );
    }

    #[test]
    fn plain_url_wins_over_base64_and_escapes_are_unescaped() {
        check(
            r#"{"sourcetype":"zscalernss-web","event":{"time":"Tue Mar 12 08:15:02 2024","proto":"HTTP","eurl":"a.example\/x?q=\"1\"","b64url":"Yi5leGFtcGxl","login":"J\u00f6rg@corp.example","cip":"10.0.0.1"}}"#,
            &[
                ("url.original", "http://a.example/x?q=\"1\""),
                ("url.domain", "a.example"),
                ("url.query", "q=\"1\""),
                ("user.name", "Jörg@corp.example"),
            ],
        );
    }

    #[test]
    fn scheme_is_added_even_when_the_query_holds_a_url() {
        check(
            r#"{"sourcetype":"zscalernss-web","event":{"time":"Tue Mar 12 08:15:02 2024","proto":"HTTPS","eurl":"ads.example/r?to=https://shop.example/x","cip":"10.0.0.1"}}"#,
            &[
                ("url.original", "https://ads.example/r?to=https://shop.example/x"),
                ("url.domain", "ads.example"),
                ("url.path", "/r"),
                ("url.query", "to=https://shop.example/x"),
            ],
        );
    }

    #[test]
    fn time_is_read_in_the_feed_zone() {
        let line = r#"{"sourcetype":"zscalernss-web","event":{"time":"Tue Mar 12 08:15:02 2024","eurl":"a.example/","cip":"10.0.0.1"}}"#;
        let ctx = ParseContext {
            timezone: TimeZone::fixed(jiff::tz::offset(1)),
            ..ParseContext::default()
        };
        let ev = parse_with(line, &ctx).unwrap();
        assert_eq!(get(&ev, "@timestamp").as_deref(), Some("2024-03-12T07:15:02Z"));
        // `tz: GMT` overrides the input's zone.
        let gmt = line.replace(r#""cip""#, r#""tz":"GMT","cip""#);
        let ev = parse_with(&gmt, &ctx).unwrap();
        assert_eq!(get(&ev, "@timestamp").as_deref(), Some("2024-03-12T08:15:02Z"));
    }

    #[test]
    fn rejections() {
        let cases: &[(&str, &str)] = &[
            ("Mar 12 08:15:02 gw zscaler: Allowed", "not a JSON object"),
            (r#"{"sourcetype":"zscalernss-web","event":{"time":"#, "invalid JSON"),
            (
                r#"{"sourcetype":"zscalernss-fw","event":{"time":"Tue Mar 12 08:15:02 2024","csip":"10.0.0.1"}}"#,
                "Zscaler NSS feed other than web",
            ),
            (
                r#"{"sourcetype":"access_combined","event":{"time":"Tue Mar 12 08:15:02 2024"}}"#,
                "not a Zscaler NSS web record (sourcetype)",
            ),
            (
                r#"{"sourcetype":"zscalernss-web","event":{"time":"12/03/2024 08:15","eurl":"a.example/"}}"#,
                "invalid Zscaler time (expected `Fri Dec 31 07:07:07 2021`)",
            ),
            (
                r#"{"sourcetype":"zscalernss-web","event":{"time":"Tue Foo 12 08:15:02 2024","eurl":"a.example/"}}"#,
                "invalid Zscaler time (expected `Fri Dec 31 07:07:07 2021`)",
            ),
            (r#"{"time":"Tue Mar 12 08:15:02 2024","login":"jdoe"}"#, NOT_NSS_WEB),
            (r#"{"sourcetype":"zscalernss-web","event":"text"}"#, NOT_NSS_WEB),
        ];
        for (line, reason) in cases {
            assert_eq!(parse(line).err().map(|e| e.reason), Some(*reason), "{line}");
        }
    }

    #[test]
    fn other_vendors_json_is_rejected() {
        let lines = [
            // ECS (reconwatch's own output).
            r#"{"@timestamp":"2024-03-12T08:15:02Z","event":{"dataset":"squid.access","action":"TCP_MISS"},"url":{"original":"http://a.example/"},"source":{"ip":"10.0.0.1"},"host":{"hostname":"proxy1"}}"#,
            // Mimecast TTP URL and SIEM.
            r#"{"userEmailAddress":"jdoe@corp.example","fromUserEmailAddress":"news@promo.example","url":"https://t.example/o.gif","ttpDefinition":"Default Inbound","action":"allow","sendingIp":"203.0.113.5","date":"2024-03-12T08:15:02+0000","route":"inbound"}"#,
            r#"{"acc":"C0A0","datetime":"2024-03-12T08:15:02+0000","url":"http://t.example/","sourceIp":"203.0.113.5","sender":"a@x.example","recipient":"b@y.example"}"#,
            // Proofpoint TAP click.
            r#"{"GUID":"abc","clickIP":"10.0.0.9","clickTime":"2024-03-12T08:15:02.000Z","url":"http://t.example/","recipient":"b@y.example","sender":"a@x.example","userAgent":"Mozilla/5.0"}"#,
            // Microsoft 365 message trace.
            r#"{"Received":"2024-03-12T08:15:02.1234567","SenderAddress":"a@x.example","RecipientAddress":"b@y.example","Subject":"Hi","Status":"Delivered","FromIP":"203.0.113.5"}"#,
        ];
        for line in lines {
            assert!(parse(line).is_err(), "accepted as Zscaler: {line}");
        }
    }

    #[test]
    fn cut_lines_never_panic() {
        for (i, _) in INFO.example.char_indices() {
            let _ = parse(&INFO.example[..i]);
        }
    }

    #[test]
    fn base64() {
        assert_eq!(base64_decode(b"aGVsbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode(b"aGVsbG8").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode(b"aGk").as_deref(), Some(&b"hi"[..]));
        assert_eq!(base64_decode(b"").as_deref(), Some(&b""[..]));
        assert_eq!(base64_decode(b"-_8="), Some(vec![0xfb, 0xff]));
        assert_eq!(base64_decode(b"a"), None);
        assert_eq!(base64_decode(b"aG=Vs"), None);
        assert_eq!(base64_decode(b"a b="), None);
        assert_eq!(base64_decode("é".as_bytes()), None);
    }
}
