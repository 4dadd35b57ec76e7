//! Syslog framing: the RFC 3164 and RFC 5424 headers that relays put in front of any log line.
//!
//! Accepted header forms (each with or without a leading `<PRI>`):
//! - RFC 3164: `Mmm dd hh:mm:ss HOST TAG[PID]: MSG` (also `Mmm dd yyyy hh:mm:ss`), and the
//!   RFC 3339 variant rsyslog writes by default (`2024-08-26T01:33:38.572449+00:00 HOST TAG: MSG`);
//! - RFC 5424: `<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD...] MSG`, with `-` for nil values.
//!
//! **Year inference.** RFC 3164 timestamps carry no year. reconwatch takes the year of the
//! input's reference time (the file's modification time, or now for stdin) in the configured time
//! zone, and steps back one year when the month lies more than one month after the reference
//! month: a file last written in January 2025 that says `Dec 31` means December 2024, while
//! `Feb 1` read in January is taken as slightly in the future (clock skew) rather than 11 months
//! old. Times without offset are read in the configured zone (`--timezone`, default UTC).
//!
//! This module only splits the header off; it never looks at the message.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::ParseContext;
use super::common::{Civil, digits, month_from_abbrev, parse_iso_civil, parse_offset, parse_u64, split_at_byte};

/// The fields of a syslog header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyslogHeader<'a> {
    /// Facility * 8 + severity, when the line has a `<PRI>`.
    pub priority: Option<u8>,
    pub timestamp: Option<Timestamp>,
    pub hostname: Option<&'a str>,
    /// The program (`postfix/smtpd`, `sm-mta`, `exim`), from the tag or APP-NAME.
    pub app: Option<&'a str>,
    pub pid: Option<u32>,
}

/// The reference for RFC 3164 year inference and the zone for times written without an offset.
#[derive(Debug, Clone)]
pub struct YearHint {
    year: i16,
    month: u8,
    tz: TimeZone,
}

impl YearHint {
    pub fn new(ctx: &ParseContext) -> Self {
        Self::at(ctx.reference_time, &ctx.timezone)
    }

    /// The same zone's hint for a later reference time (a live source moves it with the clock).
    pub fn moved_to(&self, now: Timestamp) -> Self {
        Self::at(now, &self.tz)
    }

    fn at(now: Timestamp, tz: &TimeZone) -> Self {
        let now = now.to_zoned_datetime(tz.clone());
        YearHint {
            year: now.year(),
            month: now.month() as u8,
            tz: tz.clone(),
        }
    }

    fn year_for(&self, month: u8) -> i16 {
        if month > self.month + 1 {
            self.year - 1
        } else {
            self.year
        }
    }
}

/// Splits a syslog header off `line`. Returns the header and the message after it, or `None`
/// when `line` does not start with a header this module knows.
pub fn split<'a>(line: &'a str, hint: &YearHint) -> Option<(SyslogHeader<'a>, &'a str)> {
    let mut h = SyslogHeader::default();
    let mut rest = line;
    if let Some(after) = rest.strip_prefix('<') {
        let end = after.find('>')?;
        let pri = parse_u64(&after[..end])?;
        if end > 3 || pri > 191 {
            return None;
        }
        h.priority = Some(pri as u8);
        rest = &after[end + 1..];
        if let Some(after_version) = rest.strip_prefix("1 ") {
            return rfc5424(h, after_version);
        }
    }
    rfc3164(h, rest, hint)
}

fn rfc5424<'a>(mut h: SyslogHeader<'a>, s: &'a str) -> Option<(SyslogHeader<'a>, &'a str)> {
    let mut parts = s.splitn(6, ' ');
    let ts = parts.next()?;
    if ts != "-" {
        let (civil, used) = parse_iso_civil(ts)?;
        let (offset, n) = parse_offset(&ts[used..])?;
        if used + n != ts.len() {
            return None;
        }
        h.timestamp = Some(civil.at_offset(offset)?);
    }
    h.hostname = nil(parts.next()?);
    h.app = nil(parts.next()?);
    h.pid = nil(parts.next()?)
        .and_then(parse_u64)
        .and_then(|p| u32::try_from(p).ok());
    let _msgid = parts.next()?;
    let rest = parts.next().unwrap_or("");
    let msg = skip_structured_data(rest)?;
    // A UTF-8 byte order mark may precede the message (RFC 5424 section 6.4).
    Some((h, msg.strip_prefix('\u{feff}').unwrap_or(msg)))
}

fn nil(s: &str) -> Option<&str> {
    (s != "-" && !s.is_empty()).then_some(s)
}

/// Skips `-` or one or more `[id k="v" ...]` elements (with `\]` and `\"` escapes in values).
fn skip_structured_data(s: &str) -> Option<&str> {
    if let Some(rest) = s.strip_prefix('-') {
        return Some(rest.strip_prefix(' ').unwrap_or(rest));
    }
    let b = s.as_bytes();
    let mut i = 0;
    while b.get(i) == Some(&b'[') {
        let mut in_quotes = false;
        i += 1;
        loop {
            match *b.get(i)? {
                b'\\' if in_quotes => i += 1,
                b'"' => in_quotes = !in_quotes,
                b']' if !in_quotes => break,
                _ => {}
            }
            i += 1;
        }
        i += 1;
    }
    if i == 0 {
        return None;
    }
    let rest = &s[i..];
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

fn rfc3164<'a>(mut h: SyslogHeader<'a>, s: &'a str, hint: &YearHint) -> Option<(SyslogHeader<'a>, &'a str)> {
    let b = s.as_bytes();
    let rest;
    if b.len() > 16 && b[3] == b' ' && b.first().is_some_and(u8::is_ascii_alphabetic) {
        // `Mmm dd hh:mm:ss` or `Mmm dd yyyy hh:mm:ss`; the day may be space-padded (`Aug  3`)
        // or, from some relays, unpadded (`Aug 3`). `d` is the position of the space after it.
        let month = month_from_abbrev(&s[..3])?;
        let (day, d) = if b[4] == b' ' {
            (digits(&b[5..], 1)?, 6)
        } else if b[5] == b' ' {
            (digits(&b[4..], 1)?, 5)
        } else {
            (digits(&b[4..], 2)?, 6)
        };
        if b[d] != b' ' {
            return None;
        }
        let (year, t) = if b.len() > d + 15 && b[d + 5] == b' ' && b[d + 3] != b':' {
            (digits(&b[d + 1..], 4)? as i16, d + 6)
        } else {
            (hint.year_for(month), d + 1)
        };
        if b.len() < t + 9 || b[t + 2] != b':' || b[t + 5] != b':' || (b[t + 8] != b' ' && b[t + 8] != b'.') {
            return None;
        }
        let mut civil = Civil {
            year,
            month,
            day: day as u8,
            hour: digits(&b[t..], 2)? as u8,
            minute: digits(&b[t + 3..], 2)? as u8,
            second: digits(&b[t + 6..], 2)? as u8,
            nanos: 0,
        };
        let mut end = t + 8;
        if b[end] == b'.' {
            // Some relays add fractional seconds to the BSD format.
            let n = b[end + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            let take = n.clamp(1, 9);
            civil.nanos = digits(&b[end + 1..], take)? * 10u32.pow(9 - take as u32);
            end += 1 + n;
        }
        h.timestamp = Some(civil.in_zone(&hint.tz)?);
        rest = s.get(end..)?.strip_prefix(' ')?;
    } else if b.len() > 20 && b[10] == b'T' {
        let (civil, used) = parse_iso_civil(s)?;
        let after = &s[used..];
        let (ts, used_off) = match parse_offset(after) {
            Some((off, n)) => (civil.at_offset(off)?, n),
            None => (civil.in_zone(&hint.tz)?, 0),
        };
        h.timestamp = Some(ts);
        rest = after[used_off..].strip_prefix(' ')?;
    } else {
        return None;
    }
    // Some daemons, told to print the priority as text, put `<facility.level>` before the host.
    let rest = skip_text_priority(rest);
    // HOSTNAME then TAG. A tag ends with `:`; a word that does not is the host name.
    let (first, after_first) = split_at_byte(rest, b' ')?;
    if let Some((app, pid)) = parse_tag(first) {
        // No host name in the header (messages logged locally by some daemons).
        h.app = Some(app);
        h.pid = pid;
        return Some((h, after_first));
    }
    h.hostname = Some(first);
    let (tag, msg) = match split_at_byte(after_first, b' ') {
        Some((tag, msg)) => (tag, msg),
        None => (after_first, ""),
    };
    let (app, pid) = parse_tag(tag)?;
    h.app = Some(app);
    h.pid = pid;
    Some((h, msg))
}

/// `<mail.notice> rest` → `rest`; anything else unchanged.
fn skip_text_priority(s: &str) -> &str {
    let Some(inner) = s.strip_prefix('<') else { return s };
    let Some((pri, rest)) = inner.split_once("> ") else {
        return s;
    };
    let is_pri = (3..=24).contains(&pri.len())
        && pri.contains('.')
        && pri.bytes().all(|c| c.is_ascii_lowercase() || c == b'.' || c == b'*');
    if is_pri { rest } else { s }
}

/// `app[pid]:` or `app:` → (app, pid). Also used by parsers that find a tag inside the message
/// (Exim lines written through a logging wrapper).
pub(crate) fn parse_tag(tag: &str) -> Option<(&str, Option<u32>)> {
    let tag = tag.strip_suffix(':')?;
    let (app, pid) = match tag.strip_suffix(']').and_then(|t| t.split_once('[')) {
        Some((app, pid)) => (app, Some(u32::try_from(parse_u64(pid)?).ok()?)),
        None => (tag, None),
    };
    let valid =
        !app.is_empty() && app.len() <= 64 && app.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.@".contains(&b));
    valid.then_some((app, pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(reference: &str) -> YearHint {
        let ctx = ParseContext {
            reference_time: reference.parse().unwrap(),
            ..Default::default()
        };
        YearHint::new(&ctx)
    }

    #[test]
    fn header_forms() {
        let h = hint("2025-06-01T00:00:00Z");
        // line, priority, time, host, app, pid, message
        type Case<'a> = (
            &'a str,
            Option<u8>,
            &'a str,
            Option<&'a str>,
            &'a str,
            Option<u32>,
            &'a str,
        );
        let cases: &[Case] = &[
            (
                "May 11 04:02:36 host1 postfix/smtpd[26897]: warning: x",
                None,
                "2025-05-11T04:02:36Z",
                Some("host1"),
                "postfix/smtpd",
                Some(26897),
                "warning: x",
            ),
            (
                "<22>Jun  4 22:24:28 machine postfix/qmgr[1]: ABC: removed",
                Some(22),
                "2025-06-04T22:24:28Z",
                Some("machine"),
                "postfix/qmgr",
                Some(1),
                "ABC: removed",
            ),
            (
                "2024-08-26T01:33:38.572449+00:00 machine postfix/submission/smtpd[60203]: NOQUEUE: reject",
                None,
                "2024-08-26T01:33:38.572449Z",
                Some("machine"),
                "postfix/submission/smtpd",
                Some(60203),
                "NOQUEUE: reject",
            ),
            (
                "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"App]\"] An application event",
                Some(165),
                "2003-10-11T22:14:15.003Z",
                Some("mymachine.example.com"),
                "evntslog",
                None,
                "An application event",
            ),
            (
                "<34>1 2003-10-11T22:14:15+02:00 proxy squid 42 - - 1157689312.049 5006 ...",
                Some(34),
                "2003-10-11T20:14:15Z",
                Some("proxy"),
                "squid",
                Some(42),
                "1157689312.049 5006 ...",
            ),
            (
                "Jun 3 15:30:49 relay postfix/smtpd[7]: connect from x",
                None,
                "2025-06-03T15:30:49Z",
                Some("relay"),
                "postfix/smtpd",
                Some(7),
                "connect from x",
            ),
            (
                "Jun 17 14:37:39 <mail.notice> robin sm-mta[2794]: x",
                None,
                "2025-06-17T14:37:39Z",
                Some("robin"),
                "sm-mta",
                Some(2794),
                "x",
            ),
            (
                "Dec 31 2024 23:59:59 gw sendmail[5]: x",
                None,
                "2024-12-31T23:59:59Z",
                Some("gw"),
                "sendmail",
                Some(5),
                "x",
            ),
        ];
        for (line, pri, ts, host, app, pid, msg) in cases {
            let (hdr, body) = split(line, &h).unwrap_or_else(|| panic!("no header: {line}"));
            assert_eq!(hdr.priority, *pri, "{line}");
            assert_eq!(hdr.timestamp.unwrap().to_string(), *ts, "{line}");
            assert_eq!(hdr.hostname, *host, "{line}");
            assert_eq!(hdr.app, Some(*app), "{line}");
            assert_eq!(hdr.pid, *pid, "{line}");
            assert_eq!(body, *msg, "{line}");
        }
    }

    #[test]
    fn not_a_header() {
        let h = hint("2025-06-01T00:00:00Z");
        for line in [
            "1157689312.049   5006 10.105.21.199 TCP_MISS/200 19763 CONNECT login.yahoo.com:443 - DIRECT/1.2.3.4 -",
            "2022-06-29 16:04:19 H=test.com [1.2.3.4]:53343 F=<info@test.com> rejected RCPT",
            "127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 2326",
            "<999>Jan  1 00:00:00 h a: m",
            "Foo 11 04:02:36 host1 postfix/smtpd[26897]: x",
            "",
            "<",
            "May 11 04:02:36",
        ] {
            assert!(split(line, &h).is_none(), "{line}");
        }
    }

    #[test]
    fn year_inference_steps_back_only_past_the_next_month() {
        let jan = hint("2025-01-05T10:00:00Z");
        let (dec, _) = split("Dec 31 23:59:59 h a: m", &jan).unwrap();
        assert_eq!(dec.timestamp.unwrap().to_string(), "2024-12-31T23:59:59Z");
        let (feb, _) = split("Feb  1 00:00:00 h a: m", &jan).unwrap();
        assert_eq!(feb.timestamp.unwrap().to_string(), "2025-02-01T00:00:00Z");
        let (jan1, _) = split("Jan  1 00:00:00 h a: m", &jan).unwrap();
        assert_eq!(jan1.timestamp.unwrap().to_string(), "2025-01-01T00:00:00Z");
    }

    #[test]
    fn local_zone_applies_to_bsd_timestamps() {
        let ctx = ParseContext {
            reference_time: "2025-07-01T00:00:00Z".parse().unwrap(),
            timezone: TimeZone::get("Europe/London").unwrap(),
            ..Default::default()
        };
        let (hdr, _) = split("Jul  1 12:00:00 h a: m", &YearHint::new(&ctx)).unwrap();
        assert_eq!(hdr.timestamp.unwrap().to_string(), "2025-07-01T11:00:00Z");
    }
}
