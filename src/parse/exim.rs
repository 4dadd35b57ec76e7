//! Exim main log (`exim.main`): messages assembled by message id, rejections and authenticator
//! failures as events of their own.
//!
//! A line is `YYYY-MM-DD hh:mm:ss[.fff] [+zzzz] [host exim[pid]: ][[pid] ][message-id ]text`,
//! read in `ParseContext::timezone` unless an offset follows the time; lines that came through
//! syslog may lack Exim's own time. A message opens with its first line (normally the arrival,
//! `<=`), gathers its deliveries (`=>`, `->`, `>>`, `*>`), failures (`**`) and deferrals (`==`),
//! and is emitted at `Completed` (or by the assembler's timeout or cap).
//!
//! Rejections and SMTP protocol verdicts are events of their own (`event.action` the verdict,
//! `event.outcome: failure`, `event.reason` the text Exim gives, `source.*` the client): those
//! that lead with the client's fields (`H=`, `F=`, or `U=` for a client without a host), and
//! those that name the client after the verdict (`rejected MAIL from [192.0.2.1]: no HELO/EHLO
//! given`, `SMTP protocol synchronization error (...): rejected connection from H=...`, `SMTP call
//! from ... dropped: ...`, `Connection from ... refused: ...`), as scanners cause them.
//!
//! W3C and many application logs also start with a date and a time, so a line is only Exim's when
//! what follows the time is a message id, a `[pid]`, an `exim` tag, a host/sender field (`H=`,
//! `F=`, `U=`), an authenticator failure or a message Exim is known to write; anything else is
//! rejected. Over syslog, a line of another program than Exim is [`Parsed::OtherProgram`].
//! Never panics; single-line events borrow every field from the line except an unescaped subject.

use std::borrow::Cow;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::assemble::{Assembler, AssemblyStats};
use super::common::{Civil, next_quoted, parse_iso_civil, parse_offset, parse_u64, strip_angle};
use super::mail::{Disposition, HostSpec, advance, owned, push_recipient, set_endpoint};
use super::syslog;
use super::{FormatInfo, Line, LineParser, ParseContext, ParseError, Parsed, fail};
use crate::event::{Dataset, Event, Field, FieldSet};

pub static INFO: FormatInfo = FormatInfo {
    name: "exim",
    datasets: &[DATASET],
    line_independent: false,
    description: "Exim mainlog: messages assembled by message id (<= => -> ** == Completed), \
                  rejections and authenticator failures",
    example: "2024-03-05 09:14:27 H=mx.example.net (helo.example.net) [198.51.100.23]:52814 \
              F=<news@example.net> rejected RCPT <alice@example.org>: relay not permitted",
};

const DATASET: Dataset = Dataset::EximMain;

/// What a host field (`H=`, or the host after `from`) records.
const CLIENT: FieldSet = FieldSet::of(&[Field::SourceAddress, Field::SourceIp, Field::SourceDomain]);

/// Messages Exim writes without a message id that carry no event of their own. Matched at the
/// start of the text after the time (and `[pid]`); kept specific so that other logs that start
/// with a date and time are not taken for Exim's.
const ABSORBED: &[&str] = &[
    "SMTP ",
    "no host name found",
    "no IP address found",
    "no MAIL in SMTP connection",
    "no immediate delivery",
    "Start queue run",
    "End queue run",
    "TLS error",
    "TLS session",
    "TLS client",
    "TLS send error",
    "TLS recv error",
    "exim ",
    "daemon ",
    "unexpected disconnection",
    "Connection from ",
    "connection count",
    "rejected EHLO",
    "rejected HELO",
    "ident connection",
    "host name alias list",
    "Warning: ",
    "DKIM: ",
    "cwd=",
    "pid ",
    "Spool file",
    "unqualified ",
    "spam acceptance",
    "malware acl condition",
    "SIGHUP received",
    "Failed to get user name",
    "remote host address is the local host",
    "LOG: ",
    "*** Frozen",
];

/// Rejection phrases (after an optional `temporarily `), in the text after the `H=`/`F=` fields;
/// the matched phrase becomes `event.action`.
const REJECTS: &[(&str, Target)] = &[
    ("rejected RCPT", Target::To),
    ("rejected MAIL", Target::From),
    ("rejected after DATA", Target::None),
    ("rejected DATA", Target::None),
    ("rejected connection", Target::None),
    ("rejected by local_scan", Target::None),
    ("rejected VRFY", Target::To),
    ("rejected EXPN", Target::To),
    ("rejected AUTH", Target::None),
    ("rejected EHLO or HELO", Target::None),
    ("rejected ETRN", Target::None),
    ("sender verify fail", Target::From),
    ("sender verify defer", Target::From),
    ("recipient verify fail", Target::To),
    ("dropped", Target::None),
    ("refused relay", Target::To),
];

/// Which address a rejection phrase is followed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    To,
    From,
    None,
}

pub struct EximParser {
    clock: LocalClock,
    asm: Assembler,
}

impl EximParser {
    pub fn new(ctx: &ParseContext) -> Self {
        EximParser {
            clock: LocalClock::new(ctx.timezone.clone()),
            asm: Assembler::new(DATASET, ctx),
        }
    }
}

impl LineParser for EximParser {
    fn parse<'a>(&mut self, line: &Line<'a>, event: &mut Event<'a>) -> Result<Parsed, ParseError> {
        let mut rest = line.body;
        let mut proven = false;
        if let Some(h) = &line.syslog {
            match h.app {
                Some(app) if is_exim_app(app) => proven = true,
                Some(_) => return Ok(Parsed::OtherProgram),
                None => return fail("not an Exim line: syslog program is not exim"),
            }
        }
        // `host exim[pid]: ` may come before the time or after it.
        let mut tag = None;
        if !rest.as_bytes().first().is_some_and(u8::is_ascii_digit)
            && let Some((t, after)) = exim_tag(rest)
        {
            tag = Some(t);
            rest = after;
        }
        let ts = match self.timestamp(rest) {
            Some((ts, used)) => {
                rest = &rest[used..];
                Some(ts)
            }
            None if proven || tag.is_some() => line.syslog.as_ref().and_then(|h| h.timestamp),
            None => return fail("expected an Exim line starting with YYYY-MM-DD hh:mm:ss"),
        };
        if let Some(t) = ts {
            // Before anything is folded in, so that a message this line times out is gone.
            self.asm.expire(t);
        }
        if tag.is_none()
            && let Some((t, after)) = exim_tag(rest)
        {
            tag = Some(t);
            rest = after;
        }
        proven |= tag.is_some();
        let mut pid = tag.and_then(|t| t.pid);
        if let Some((p, after)) = bracketed_pid(rest) {
            pid = Some(p);
            rest = after;
            proven = true;
        }
        let id = match rest.split_once(' ') {
            Some((first, after)) if is_message_id(first) => {
                rest = after.trim_start_matches(' ');
                Some(first)
            }
            None if is_message_id(rest) => return fail("Exim message id without text"),
            _ => None,
        };

        let fill = |event: &mut Event<'a>| {
            event.set_dataset(DATASET);
            event.timestamp = ts;
            if let Some(t) = tag {
                event.host.hostname = t.host.map(Cow::Borrowed);
                event.process.name = Some(Cow::Borrowed(t.app));
            }
            event.process.pid = pid;
            event.email.local_id = id.map(Cow::Borrowed);
        };

        // `U=` leads where the client has no host (local SMTP, `-bs`): `U=unknown rejected ...`.
        let fields_first = rest.starts_with("H=") || rest.starts_with("F=") || rest.starts_with("U=");
        if let Some(id) = id {
            // A rejection after the message id was allocated (`rejected after DATA`, `rejected by
            // local_scan()`) is an event of its own, not part of a message.
            if fields_first && reject(rest, event) {
                fill(event);
                return Ok(Parsed::Event);
            }
            self.message_line(id, rest, line, ts, tag);
            return Ok(Parsed::Absorbed);
        }
        if fields_first {
            fill(event);
            return Ok(if reject(rest, event) {
                Parsed::Event
            } else {
                Parsed::Absorbed
            });
        }
        if protocol_verdict(rest, event) {
            fill(event);
            return Ok(Parsed::Event);
        }
        if let Some((driver, after)) = rest.split_once(' ')
            && let Some(after) = after.strip_prefix("authenticator failed for ")
            && !driver.is_empty()
            && !driver.contains('=')
        {
            fill(event);
            auth_failure(after, event);
            return Ok(Parsed::Event);
        }
        if proven || ABSORBED.iter().any(|p| rest.starts_with(p)) {
            return Ok(Parsed::Absorbed);
        }
        fail("not an Exim line: no message id, [pid] or known Exim message after the time")
    }

    fn flush(&mut self, before: Option<Timestamp>) {
        self.asm.flush(before);
    }

    fn take_completed(&mut self) -> Option<Event<'static>> {
        self.asm.take()
    }

    fn assembly_stats(&self) -> AssemblyStats {
        self.asm.stats()
    }

    fn oldest_pending_offset(&self) -> Option<u64> {
        self.asm.oldest_offset()
    }

    fn owned_pending(&self) -> usize {
        self.asm.owned_pending()
    }
}

impl EximParser {
    /// `YYYY-MM-DD hh:mm:ss[.fff][ +zzzz] ` at the start of `s`: the instant and the bytes used,
    /// the space after included.
    fn timestamp(&mut self, s: &str) -> Option<(Timestamp, usize)> {
        let b = s.as_bytes();
        if b.len() < 20 || b[10] != b' ' {
            return None;
        }
        let (civil, mut used) = parse_iso_civil(s)?;
        if b.get(used) != Some(&b' ') {
            return None;
        }
        used += 1;
        // `log_timezone = true` adds the offset after the time.
        if matches!(b.get(used), Some(b'+' | b'-'))
            && let Some((off, n)) = parse_offset(&s[used..])
            && n == 5
            && b.get(used + n) == Some(&b' ')
        {
            return Some((civil.at_offset(off)?, used + n + 1));
        }
        Some((self.clock.resolve(civil)?, used))
    }

    /// A line of a message being assembled.
    fn message_line(&mut self, id: &str, text: &str, line: &Line<'_>, ts: Option<Timestamp>, tag: Option<Tag<'_>>) {
        let flag = text.get(..3).unwrap_or("");
        match flag {
            "<= " | "(= " => {
                let ev = self.open(id, line, ts, tag);
                arrival(ev, &text[3..]);
                if flag == "(= " {
                    // A "fake reject": the client was told the message was refused.
                    advance(ev, Disposition::Rejected);
                }
            }
            "=> " | "-> " | ">> " | "*> " => {
                let ev = self.open(id, line, ts, tag);
                delivery(ev, &text[3..], Disposition::Delivered);
            }
            "** " => {
                let ev = self.open(id, line, ts, tag);
                delivery(ev, &text[3..], Disposition::Bounced);
            }
            "== " => {
                let ev = self.open(id, line, ts, tag);
                delivery(ev, &text[3..], Disposition::Deferred);
            }
            _ if text.starts_with("Completed") => {
                // A message seen only from its end has nothing worth an event.
                if self.asm.get_mut(id).is_some() {
                    self.asm.line(id, line, ts);
                    self.asm.complete(id);
                }
            }
            _ => {
                // Other lines of a message (`Frozen`, `SA:`, `SMTP connection ... closed`) are kept
                // with it; a message seen only from such a line is not opened.
                if self.asm.get_mut(id).is_some() {
                    self.asm.line(id, line, ts);
                }
            }
        }
    }

    /// The message `id`, opened if new, with `line` recorded in it.
    fn open(&mut self, id: &str, line: &Line<'_>, ts: Option<Timestamp>, tag: Option<Tag<'_>>) -> &mut Event<'static> {
        let is_new = self.asm.get_mut(id).is_none();
        let ev = self.asm.line(id, line, ts);
        if is_new {
            fill_header(ev, line, tag);
        }
        ev
    }
}

/// Host and program of an assembled message, which the pipeline does not fill.
fn fill_header(ev: &mut Event<'static>, line: &Line<'_>, tag: Option<Tag<'_>>) {
    let (host, app, pid) = match (&line.syslog, tag) {
        (_, Some(t)) => (t.host, Some(t.app), t.pid),
        (Some(h), None) => (h.hostname, h.app, h.pid),
        (None, None) => (None, None, None),
    };
    ev.host.hostname = host.map(owned);
    ev.process.name = app.map(owned);
    ev.process.pid = pid;
}

/// `<= sender fields... [for rcpt...]`
fn arrival(ev: &mut Event<'static>, s: &str) {
    // The sender is always there (`<>` for a bounce); the fields Exim may leave out count where
    // they are logged (`T=""` is an empty subject).
    ev.recorded.insert(Field::EmailFromAddress);
    let mut s = s;
    let sender = next_word(&mut s).map(strip_angle).unwrap_or("");
    if !sender.is_empty() && ev.email.from.address.is_none() {
        ev.email.from.address = Some(owned(sender));
    }
    let (mut auth_user, mut local_user) = (None, None);
    while let Some(item) = next_item(&mut s) {
        match item {
            Item::Host(h) => {
                set_endpoint(&mut ev.source, &h, owned);
                ev.recorded |= CLIENT;
            }
            Item::Field("S", v) => {
                ev.email.size = parse_u64(v).or(ev.email.size);
                ev.recorded.insert(Field::EmailSize);
            }
            Item::Field("id", v) => {
                ev.email.message_id = Some(owned(strip_angle(v)));
                ev.recorded.insert(Field::EmailMessageId);
            }
            Item::Field("T", v) => {
                ev.email.subject = Some(Cow::Owned(unescape(v).into_owned()));
                ev.recorded.insert(Field::EmailSubject);
            }
            Item::Field("A", v) => auth_user = v.split_once(':').map(|(_, u)| u).filter(|u| !u.is_empty()),
            Item::Field("U", v) => local_user = Some(v),
            Item::Word("for") => {
                while let Some(rcpt) = next_word(&mut s) {
                    push_recipient(ev, strip_angle(rcpt));
                }
            }
            _ => {}
        }
    }
    if let Some(u) = auth_user.or(local_user) {
        ev.user.name = Some(owned(u));
    }
}

/// `=> rcpt [<orig>] [(parent)] fields...`, and the same shape for `->`, `**` and `==`.
fn delivery(ev: &mut Event<'static>, s: &str, d: Disposition) {
    let mut s = s;
    let Some(rcpt) = next_word(&mut s) else {
        return;
    };
    let rcpt = strip_angle(rcpt.strip_suffix(':').unwrap_or(rcpt));
    let mut alt = None;
    loop {
        let t = s.trim_start_matches(' ');
        let close = match t.as_bytes().first() {
            Some(b'<') => '>',
            Some(b'(') => ')',
            _ => break,
        };
        let inner = &t[1..];
        let end = inner.find(close).unwrap_or(inner.len());
        alt = alt.or(Some(&inner[..end]).filter(|a| !a.is_empty()));
        let after = inner.get(end + 1..).unwrap_or("");
        s = after.strip_prefix(':').unwrap_or(after);
    }
    ev.recorded.insert(Field::EmailToAddress);
    // A delivery to a local user, file or pipe names the address it came from beside it.
    let address = match alt {
        Some(a) if !rcpt.contains('@') && a.contains('@') => a,
        _ => rcpt,
    };
    push_recipient(ev, address);
    while let Some(item) = next_item(&mut s) {
        match item {
            Item::Host(h) if ev.destination.is_empty() => set_endpoint(&mut ev.destination, &h, owned),
            Item::Field("F", v) if ev.email.from.address.is_none() => {
                let from = strip_angle(v);
                if !from.is_empty() {
                    ev.email.from.address = Some(owned(from));
                }
            }
            // The reason of a failure or deferral follows the fields.
            Item::Word(w) if w.starts_with(':') || w.ends_with(':') => break,
            _ => {}
        }
    }
    advance(ev, d);
}

/// A rejection line's text: `H=... F=<a> [temporarily ]rejected RCPT <b>: reason` and kin.
/// Fills `event` and returns true when the text is a rejection.
fn reject<'a>(text: &'a str, event: &mut Event<'a>) -> bool {
    let mut s = text;
    let mut from = None;
    let mut host = None;
    let verb = loop {
        let before = s;
        match next_item(&mut s) {
            Some(Item::Host(h)) => host = Some(h),
            Some(Item::Field("F", v)) => from = Some(strip_angle(v)),
            Some(Item::Field(..)) => {}
            Some(Item::Word(_)) => break before.trim_start_matches(' '),
            None => return false,
        }
    };
    let plain = verb.strip_prefix("temporarily ").unwrap_or(verb);
    let (phrase_len, target) = match REJECTS.iter().find(|(p, _)| plain.starts_with(p)) {
        Some((phrase, target)) => (phrase.len(), *target),
        None => match rejected_command(plain) {
            Some(len) => (len, Target::None),
            None => return false,
        },
    };
    let action_len = verb.len() - plain.len() + phrase_len;
    if from.is_some() || target == Target::From {
        event.recorded.insert(Field::EmailFromAddress);
    }
    if target == Target::To {
        event.recorded.insert(Field::EmailToAddress);
    }
    if host.is_some() {
        event.recorded |= CLIENT;
    }
    event.event.action = Some(Cow::Borrowed(&verb[..action_len]));
    event.event.outcome = Some(Cow::Borrowed("failure"));
    if let Some(h) = &host {
        set_endpoint(&mut event.source, h, Cow::Borrowed);
    }
    let after = plain[phrase_len..].trim_start_matches(' ');
    event.event.reason = after
        .split_once(": ")
        .map(|(_, r)| r.trim())
        .filter(|r| !r.is_empty())
        .map(Cow::Borrowed);
    let after = after.strip_prefix("for ").unwrap_or(after);
    let target_addr = address_at(after);
    match target {
        Target::To => {
            if let Some(a) = target_addr {
                event.email.to.address.push(Cow::Borrowed(a));
            }
        }
        Target::From => from = target_addr.or(from),
        Target::None => {}
    }
    if let Some(f) = from.filter(|f| !f.is_empty()) {
        event.email.from.address = Some(Cow::Borrowed(f));
    }
    true
}

/// `rejected VERB` with an SMTP command Exim has no phrase for (`rejected ATRN`, `rejected
/// STARTTLS`) or `rejected connection`: the phrase's length.
fn rejected_command(plain: &str) -> Option<usize> {
    let rest = plain.strip_prefix("rejected ")?;
    let n = match rest.strip_prefix("connection") {
        Some(_) => "connection".len(),
        None => rest.bytes().take_while(u8::is_ascii_uppercase).count(),
    };
    let ends = matches!(rest.as_bytes().get(n), None | Some(b' ' | b':'));
    (n > 0 && ends).then_some("rejected ".len() + n)
}

/// SMTP-level verdicts written with the verdict first and the client after it, as `from HOST`
/// or a later `H=HOST` (scanners and broken clients cause most of them):
///
/// - `[temporarily ]rejected MAIL from [192.0.2.1]: no HELO/EHLO given` (any command, and
///   `rejected connection from HOST (tcp wrappers)`), `refused connection from HOST ...`;
/// - `SMTP protocol synchronization error (input sent without waiting for greeting): rejected
///   connection from H=[192.0.2.1] input="..."`;
/// - `SMTP protocol error in "AUTH LOGIN" H=(User) [192.0.2.1] AUTH command used when not
///   advertised`, `SMTP syntax error in "..." H=[192.0.2.1] unrecognized command` (the last
///   `H=`: the quoted command is the client's and may forge one);
/// - `SMTP call from [192.0.2.1] dropped: too many syntax or protocol errors (...)`;
/// - `Connection from [192.0.2.1] refused: too many connections`.
///
/// Fills `event` (action, `failure`, the client, the reason) and returns true when `text` is one.
fn protocol_verdict<'a>(text: &'a str, event: &mut Event<'a>) -> bool {
    const ERRORS: [&str; 3] = [
        "SMTP protocol synchronization error",
        "SMTP protocol error",
        "SMTP syntax error",
    ];
    let plain = text.strip_prefix("temporarily ").unwrap_or(text);
    // The verdict, the text the client starts at, and the reason.
    let (action, host, reason) = if let Some(len) = rejected_command(plain) {
        let Some(host) = plain[len..].strip_prefix(" from ") else {
            return false;
        };
        let (h, rest) = HostSpec::parse(host);
        let reason = match h.name {
            // A lone name (`unknown: no HELO/EHLO given`) took the colon with it.
            Some(n) if n.ends_with(':') && h.ip.is_none() => Some(rest),
            _ => rest.split_once(": ").map(|(_, r)| r),
        };
        (&text[..text.len() - plain.len() + len], host, reason)
    } else if let Some(host) = text.strip_prefix("refused connection from ") {
        ("refused connection", host, None)
    } else if let Some((host, reason)) = text
        .strip_prefix("SMTP call from ")
        .and_then(|t| t.split_once(" dropped"))
    {
        ("SMTP call dropped", host, reason.strip_prefix(": "))
    } else if let Some((host, reason)) = text
        .strip_prefix("Connection from ")
        .and_then(|t| t.split_once(" refused"))
    {
        ("connection refused", host, reason.strip_prefix(": "))
    } else if let Some(&action) = ERRORS.iter().find(|e| text.starts_with(*e)) {
        let after = &text[action.len()..];
        let (host, reason) = if action == ERRORS[0] {
            // The parenthesis says what the client did wrong.
            let reason = after
                .trim_start()
                .strip_prefix('(')
                .and_then(|r| r.split_once(')'))
                .map(|(r, _)| r);
            (host_before_input(after), reason)
        } else {
            // The client's command comes first, unescaped, and may hold a forged `H=`; only
            // Exim's own words follow the real one.
            let host = after.rfind(" H=").map(|i| &after[i + 3..]);
            (host, host.map(|h| skip_fields(HostSpec::parse(h).1)))
        };
        let Some(host) = host else {
            return false;
        };
        (action, host, reason)
    } else {
        return false;
    };
    let (mut h, _) = HostSpec::parse(host);
    // `unknown` (Exim knows no host) names nothing; a name runs to the `:` before the reason.
    h.name = h
        .name
        .map(|n| n.strip_suffix(':').unwrap_or(n))
        .filter(|n| !n.is_empty() && *n != "unknown");
    set_endpoint(&mut event.source, &h, Cow::Borrowed);
    event.recorded |= CLIENT;
    event.event.action = Some(Cow::Borrowed(action));
    event.event.outcome = Some(Cow::Borrowed("failure"));
    event.event.reason = reason.map(str::trim).filter(|r| !r.is_empty()).map(Cow::Borrowed);
    true
}

/// The client of a synchronization error: the text after the first `H=` whose host (and
/// `I=`/`U=` fields) is followed by `input="` or `next input="`. What the client sent is quoted
/// around it unescaped; without a command before it (`rejected connection from H=...`), only
/// Exim's words precede the real one.
fn host_before_input(s: &str) -> Option<&str> {
    let mut from = 0;
    while let Some(i) = s[from..].find(" H=") {
        let host = &s[from + i + 3..];
        let rest = skip_fields(HostSpec::parse(host).1);
        if rest.starts_with("input=\"") || rest.starts_with("next input=\"") {
            return Some(host);
        }
        from += i + 3;
    }
    None
}

/// `s` after the fields Exim writes after a host (`I=[ip]:port`, `U=ident`, `Ci=connection`):
/// words of a short key, `=` and a value.
fn skip_fields(s: &str) -> &str {
    let mut rest = s.trim_start_matches(' ');
    loop {
        let key = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        if !(1..=3).contains(&key) || rest.as_bytes().get(key) != Some(&b'=') {
            return rest;
        }
        rest = rest.find(' ').map_or("", |i| rest[i..].trim_start_matches(' '));
    }
}

/// The address at the start of `s`: `<a@b>` or a bare word ending at `:` or a space.
fn address_at(s: &str) -> Option<&str> {
    let a = if let Some(inner) = s.strip_prefix('<') {
        &inner[..inner.find('>')?]
    } else {
        let end = s.find([':', ' ']).unwrap_or(s.len());
        &s[..end]
    };
    (!a.is_empty()).then_some(a)
}

/// `host (helo) [ip]:port [I=...]: 535 Incorrect authentication data (set_id=user)`
fn auth_failure<'a>(s: &'a str, event: &mut Event<'a>) {
    event.event.action = Some(Cow::Borrowed("authenticator failed"));
    event.event.outcome = Some(Cow::Borrowed("failure"));
    let (h, _) = HostSpec::parse(s);
    set_endpoint(&mut event.source, &h, Cow::Borrowed);
    if let Some(i) = s.rfind("(set_id=") {
        let user = &s[i + 8..];
        let user = &user[..user.rfind(')').unwrap_or(user.len())];
        if !user.is_empty() {
            event.user.name = Some(Cow::Borrowed(user));
        }
    }
}

/// One item of an Exim field list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item<'a> {
    /// `H=name (helo) [ip]:port`.
    Host(HostSpec<'a>),
    /// `KEY=value`, a `"quoted value"` given without its quotes (escapes kept).
    Field(&'a str, &'a str),
    /// Anything else (flags such as `K`, or the text after the fields).
    Word(&'a str),
}

fn next_item<'a>(s: &mut &'a str) -> Option<Item<'a>> {
    let t = s.trim_start_matches(' ');
    if t.is_empty() {
        *s = t;
        return None;
    }
    let key_len = t.bytes().take_while(u8::is_ascii_alphanumeric).count();
    if (1..=5).contains(&key_len) && t.as_bytes().get(key_len) == Some(&b'=') {
        let key = &t[..key_len];
        let v = &t[key_len + 1..];
        if key == "H" {
            let (h, rest) = HostSpec::parse(v);
            *s = rest;
            return Some(Item::Host(h));
        }
        let mut rest = v;
        if v.starts_with('"')
            && let Some(inner) = next_quoted(&mut rest)
        {
            *s = rest;
            return Some(Item::Field(key, inner));
        }
        let end = v.find(' ').unwrap_or(v.len());
        *s = &v[end..];
        return Some(Item::Field(key, &v[..end]));
    }
    let end = t.find(' ').unwrap_or(t.len());
    *s = &t[end..];
    Some(Item::Word(&t[..end]))
}

fn next_word<'a>(s: &mut &'a str) -> Option<&'a str> {
    match next_item(s)? {
        Item::Word(w) => Some(w),
        // A word that happens to look like a field is still the word (an address with `=`).
        Item::Field(..) | Item::Host(_) => None,
    }
}

/// Undoes Exim's escaping of logged strings: `\"`, `\\`, `\n`-style escapes and `\ooo` octal
/// bytes (which may spell UTF-8 together).
fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let c = b[i + 1];
        i += 2;
        match c {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'b' => out.push(0x08),
            b'v' => out.push(0x0b),
            b'f' => out.push(0x0c),
            b'0'..=b'7' => {
                let mut v = (c - b'0') as u32;
                let mut n = 1;
                while n < 3 && i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                    v = v * 8 + (b[i] - b'0') as u32;
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            other => out.push(other),
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// `exim`, `exim4`, `exim-4.98`... (the syslog tag or a logger-written prefix).
fn is_exim_app(app: &str) -> bool {
    app.len() >= 4 && app.as_bytes()[..4].eq_ignore_ascii_case(b"exim")
}

/// A `host exim[pid]: ` (or `exim[pid]: `) prefix written by a logging wrapper.
#[derive(Debug, Clone, Copy)]
struct Tag<'a> {
    host: Option<&'a str>,
    app: &'a str,
    pid: Option<u32>,
}

fn exim_tag(s: &str) -> Option<(Tag<'_>, &str)> {
    let (first, after) = s.split_once(' ')?;
    if let Some((app, pid)) = parse_tag(first) {
        return Some((Tag { host: None, app, pid }, after));
    }
    let (second, after) = after.split_once(' ')?;
    let (app, pid) = parse_tag(second)?;
    Some((
        Tag {
            host: Some(first).filter(|h| !h.is_empty()),
            app,
            pid,
        },
        after,
    ))
}

/// `exim[pid]:` or `exim:` → (app, pid).
fn parse_tag(t: &str) -> Option<(&str, Option<u32>)> {
    syslog::parse_tag(t).filter(|&(app, _)| is_exim_app(app))
}

/// `[1234] ` (log_selector `+pid`).
fn bracketed_pid(s: &str) -> Option<(u32, &str)> {
    let inner = s.strip_prefix('[')?;
    let end = inner.find("] ")?;
    let pid = u32::try_from(parse_u64(&inner[..end])?).ok()?;
    Some((pid, &inner[end + 2..]))
}

/// An Exim message id: `tttttt-pppppp-ss` (16 characters, up to 4.96) or
/// `tttttt-ppppppppppp-ssss` (23 characters, 4.97 and later), base 62 or base 36.
fn is_message_id(s: &str) -> bool {
    let b = s.as_bytes();
    let second_dash = match b.len() {
        16 => 13,
        23 => 18,
        _ => return false,
    };
    b.iter().enumerate().all(|(i, c)| {
        if i == 6 || i == second_dash {
            *c == b'-'
        } else {
            c.is_ascii_alphanumeric()
        }
    })
}

/// Local civil time → instant, resolving the zone once per minute (log lines come in time order,
/// so almost every line hits the cache).
struct LocalClock {
    tz: TimeZone,
    utc: bool,
    /// Civil minute of `base`, packed.
    key: u64,
    base: Option<Timestamp>,
}

impl LocalClock {
    fn new(tz: TimeZone) -> Self {
        LocalClock {
            utc: tz == TimeZone::UTC,
            tz,
            key: u64::MAX,
            base: None,
        }
    }

    fn resolve(&mut self, c: Civil) -> Option<Timestamp> {
        if self.utc {
            return c.at_offset(0);
        }
        if c.second > 60 || c.nanos >= 1_000_000_000 {
            return None;
        }
        let key = (c.year as u16 as u64) << 32
            | (c.month as u64) << 24
            | (c.day as u64) << 16
            | (c.hour as u64) << 8
            | c.minute as u64;
        if key != self.key || self.base.is_none() {
            self.base = Civil {
                second: 0,
                nanos: 0,
                ..c
            }
            .in_zone(&self.tz);
            self.key = key;
        }
        self.base?
            .checked_add(SignedDuration::new(c.second as i64, c.nanos as i32))
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::detect::{self, Framing};
    use crate::parse::syslog::YearHint;
    use crate::parse::{Format, SyslogHeader};

    fn ctx() -> ParseContext {
        ParseContext {
            reference_time: "2024-06-01T00:00:00Z".parse().unwrap(),
            ..Default::default()
        }
    }

    fn parse_one(raw: &str) -> Result<(Parsed, Event<'_>), ParseError> {
        let mut p = EximParser::new(&ctx());
        let mut ev = Event::default();
        let line = Line::plain(raw);
        p.parse(&line, &mut ev).map(|r| (r, ev))
    }

    /// Feeds lines, then flushes; returns the emitted messages and how each line parsed.
    fn run(parser: &mut EximParser, lines: &[&str]) -> (Vec<Event<'static>>, Vec<Result<Parsed, ParseError>>) {
        let mut results = Vec::new();
        let mut out = Vec::new();
        for (i, raw) in lines.iter().enumerate() {
            let line = Line {
                offset: i as u64 * 100,
                number: i as u64 + 1,
                ..Line::plain(raw)
            };
            let mut ev = Event::default();
            results.push(parser.parse(&line, &mut ev));
            while let Some(e) = parser.take_completed() {
                out.push(e);
            }
        }
        (out, results)
    }

    fn s<'e>(v: &'e Option<Cow<'_, str>>) -> Option<&'e str> {
        v.as_deref()
    }

    #[test]
    fn full_message_lifecycle_is_one_event() {
        let lines = [
            "2024-03-05 09:14:27 1rhQaB-00000000xYz-1AbC <= news@example.net H=mx.example.net (helo.example.net) [198.51.100.23]:52814 I=[192.0.2.10]:25 P=esmtps X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no K S=48211 id=20240305.abc123@example.net T=\"Your \\\"invoice\\\" caf\\303\\251\" for alice@example.org bob@example.org",
            "2024-03-05 09:14:27 1rhQaB-00000000xYz-1AbC => alice <alice@example.org> R=localuser T=local_delivery",
            "2024-03-05 09:14:28 1rhQaB-00000000xYz-1AbC => bob@example.org R=dnslookup T=remote_smtp H=mail.example.org [203.0.113.5]:25 X=TLS1.2:ECDHE-RSA-AES256-GCM-SHA384:256 CV=yes C=\"250 2.0.0 OK H=fake [1.1.1.1]\" QT=1s DT=0.4s",
            "2024-03-05 09:14:28 1rhQaB-00000000xYz-1AbC -> carol@example.org R=dnslookup T=remote_smtp H=mail.example.org [203.0.113.5]:25",
            "2024-03-05 09:14:28 1rhQaB-00000000xYz-1AbC Completed QT=1s",
        ];
        let mut p = EximParser::new(&ctx());
        let (out, results) = run(&mut p, &lines);
        assert!(results.iter().all(|r| *r == Ok(Parsed::Absorbed)), "{results:?}");
        assert_eq!(out.len(), 1);
        let ev = &out[0];
        assert_eq!(s(&ev.event.dataset), Some("exim.main"));
        assert_eq!(ev.timestamp.unwrap().to_string(), "2024-03-05T09:14:27Z");
        assert_eq!(s(&ev.email.local_id), Some("1rhQaB-00000000xYz-1AbC"));
        assert_eq!(s(&ev.email.from.address), Some("news@example.net"));
        assert_eq!(
            ev.email.to.address,
            vec!["alice@example.org", "bob@example.org", "carol@example.org"]
        );
        assert_eq!(ev.email.size, Some(48211));
        assert_eq!(s(&ev.email.message_id), Some("20240305.abc123@example.net"));
        assert_eq!(s(&ev.email.subject), Some("Your \"invoice\" café"));
        assert_eq!(s(&ev.source.domain), Some("mx.example.net"));
        assert_eq!(ev.source.ip, Some("198.51.100.23".parse().unwrap()));
        assert_eq!(ev.source.port, Some(52814));
        assert_eq!(s(&ev.destination.domain), Some("mail.example.org"));
        assert_eq!(ev.destination.ip, Some("203.0.113.5".parse().unwrap()));
        assert_eq!(ev.destination.port, Some(25));
        assert_eq!(s(&ev.event.action), Some("delivered"));
        assert_eq!(s(&ev.event.outcome), Some("success"));
        assert_eq!(ev.log.offset, Some(0));
        assert_eq!(s(&ev.event.original), Some(lines.join("\n").as_str()));
        p.flush(None);
        assert!(p.take_completed().is_none(), "nothing left after Completed");
        assert_eq!(p.assembly_stats(), AssemblyStats::default());
    }

    #[test]
    fn old_ids_interleave_and_failures_bounce() {
        let lines = [
            "2013-06-02 10:00:00 1Ui7gX-0003Ab-Q1 <= <> R=1Ui7fA-0003AA-Zz U=Debian-exim P=local S=1820",
            "2013-06-02 10:00:01 1Ui7gY-0003Ac-R2 <= bob@example.com U=bob P=local S=310 T=\"hi\"",
            "2013-06-02 10:00:02 1Ui7gX-0003Ab-Q1 ** nosuch@example.org: Unrouteable address",
            "2013-06-02 10:00:03 1Ui7gY-0003Ac-R2 == carol@example.org R=dnslookup T=remote_smtp defer (-53): retry time not reached for any host",
            "2013-06-02 10:00:04 1Ui7gX-0003Ab-Q1 Completed",
        ];
        let mut p = EximParser::new(&ctx());
        let (out, _) = run(&mut p, &lines);
        assert_eq!(out.len(), 1);
        let bounce = &out[0];
        assert_eq!(s(&bounce.email.local_id), Some("1Ui7gX-0003Ab-Q1"));
        assert_eq!(bounce.email.from.address, None, "null sender");
        assert_eq!(bounce.email.to.address, vec!["nosuch@example.org"]);
        assert_eq!(s(&bounce.event.action), Some("bounced"));
        assert_eq!(s(&bounce.event.outcome), Some("failure"));
        assert_eq!(s(&bounce.user.name), Some("Debian-exim"));
        p.flush(None);
        let deferred = p.take_completed().unwrap();
        assert_eq!(s(&deferred.email.local_id), Some("1Ui7gY-0003Ac-R2"));
        assert_eq!(s(&deferred.event.action), Some("deferred"));
        assert_eq!(deferred.event.outcome, None);
        assert_eq!(deferred.email.to.address, vec!["carol@example.org"]);
        assert_eq!(p.assembly_stats().flushed_at_end, 1);
    }

    #[test]
    fn timeout_emits_in_event_time() {
        let lines = [
            "2024-03-05 09:00:00 1rhQaB-00000000xYz-1AbC <= a@example.net H=[198.51.100.1] P=smtp S=10",
            "2024-03-05 09:10:00 1rhQaC-00000000xZ0-2AbC <= b@example.net H=[198.51.100.2] P=smtp S=10",
        ];
        let mut p = EximParser::new(&ctx());
        let (out, _) = run(&mut p, &lines);
        assert!(out.is_empty(), "exactly at the timeout nothing expires");
        let (out, _) = run(
            &mut p,
            &["2024-03-05 09:10:01 1rhQaD-00000000xZ1-3AbC <= c@example.net P=local S=1"],
        );
        assert_eq!(out.len(), 1);
        assert_eq!(s(&out[0].email.from.address), Some("a@example.net"));
        assert_eq!(p.assembly_stats().timed_out, 1);
        p.flush(Some("2024-03-05T09:30:00Z".parse().unwrap()));
        assert_eq!(std::iter::from_fn(|| p.take_completed()).count(), 2);
        assert_eq!(p.assembly_stats().timed_out, 3);
    }

    #[test]
    fn authenticated_submission_and_offsets() {
        let lines = [
            "2024-03-05 09:14:27.512 +0100 [4411] 1rhQaB-00000000xYz-1AbC <= alice@example.org H=(laptop) [2001:db8::7]:50123 P=esmtpsa A=dovecot_plain:alice@example.org U=mail S=900",
        ];
        let mut p = EximParser::new(&ctx());
        let _ = run(&mut p, &lines);
        p.flush(None);
        let ev = p.take_completed().unwrap();
        assert_eq!(ev.timestamp.unwrap().to_string(), "2024-03-05T08:14:27.512Z");
        assert_eq!(s(&ev.user.name), Some("alice@example.org"));
        assert_eq!(s(&ev.source.domain), Some("laptop"));
        assert_eq!(ev.source.ip, Some("2001:db8::7".parse().unwrap()));
        assert_eq!(ev.source.port, Some(50123));
    }

    #[test]
    fn local_time_uses_the_context_zone() {
        let ctx = ParseContext {
            timezone: TimeZone::get("Europe/Berlin").unwrap(),
            ..ctx()
        };
        let mut p = EximParser::new(&ctx);
        for (raw, want) in [
            (
                "2024-07-01 12:00:00 H=[192.0.2.1] dropped by 'connect' ACL: x",
                "2024-07-01T10:00:00Z",
            ),
            (
                "2024-07-01 12:00:59 H=[192.0.2.1] dropped by 'connect' ACL: x",
                "2024-07-01T10:00:59Z",
            ),
            (
                "2024-12-01 12:00:00 H=[192.0.2.1] dropped by 'connect' ACL: x",
                "2024-12-01T11:00:00Z",
            ),
        ] {
            let mut ev = Event::default();
            assert_eq!(p.parse(&Line::plain(raw), &mut ev), Ok(Parsed::Event));
            assert_eq!(ev.timestamp.unwrap().to_string(), want, "{raw}");
        }
    }

    #[test]
    fn single_line_events() {
        // (line, action, source ip, port, domain, from, to, user)
        type Case<'c> = (
            &'c str,
            &'c str,
            &'c str,
            Option<u16>,
            Option<&'c str>,
            Option<&'c str>,
            Option<&'c str>,
            Option<&'c str>,
        );
        let cases: &[Case] = &[
            (
                "2024-03-05 09:14:27 H=mx.example.net (helo.example.net) [198.51.100.23]:52814 I=[192.0.2.10]:25 X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no F=<news@example.net> rejected RCPT <alice@example.org>: \"Listed at zen [198.51.100.23]:52814\"",
                "rejected RCPT",
                "198.51.100.23",
                Some(52814),
                Some("mx.example.net"),
                Some("news@example.net"),
                Some("alice@example.org"),
                None,
            ),
            (
                "2013-06-10 18:33:32 [10099] H=(spammer.test) [203.0.113.8]:3755 I=[192.0.2.1]:25 F=bulk@list.example rejected RCPT dest@example.org: relay not permitted",
                "rejected RCPT",
                "203.0.113.8",
                Some(3755),
                Some("spammer.test"),
                Some("bulk@list.example"),
                Some("dest@example.org"),
                None,
            ),
            (
                "2024-03-05 09:14:27 H=client.example.net [198.51.100.40]:1234 temporarily rejected connection in \"connect\" ACL: \"too fast\"",
                "temporarily rejected connection",
                "198.51.100.40",
                Some(1234),
                Some("client.example.net"),
                None,
                None,
                None,
            ),
            (
                "2024-03-05 09:14:27 H=client.example.net [198.51.100.41] sender verify fail for <ghost@client.example.net>: Unrouteable address",
                "sender verify fail",
                "198.51.100.41",
                None,
                Some("client.example.net"),
                Some("ghost@client.example.net"),
                None,
                None,
            ),
            (
                "2024-03-05 09:14:27 H=(x) [198.51.100.42]:40000 rejected MAIL <a@b.example>: Access denied",
                "rejected MAIL",
                "198.51.100.42",
                Some(40000),
                Some("x"),
                Some("a@b.example"),
                None,
                None,
            ),
            (
                "2024-03-05 09:14:27 dovecot_login authenticator failed for client.example.net ([10.0.0.5]) [198.51.100.50]:61000 I=[192.0.2.1]:587 Ci=4411: 535 Incorrect authentication data (set_id=alice@example.org)",
                "authenticator failed",
                "198.51.100.50",
                Some(61000),
                Some("client.example.net"),
                None,
                None,
                Some("alice@example.org"),
            ),
            (
                "2024-03-05 09:14:27 plain authenticator failed for (WIN-PC) [198.51.100.51]: 535 Incorrect authentication data",
                "authenticator failed",
                "198.51.100.51",
                None,
                Some("WIN-PC"),
                None,
                None,
                None,
            ),
            (
                "2024-03-05 09:14:27 plain authenticator failed for ([10.0.0.5]) [198.51.100.53]:1: 535 Incorrect authentication data",
                "authenticator failed",
                "198.51.100.53",
                Some(1),
                None,
                None,
                None,
                None,
            ),
            (
                "mx1.example.org exim[3751]: 2024-03-05 09:14:27 login authenticator failed for [198.51.100.52]:99: 535 Incorrect authentication data (set_id=admin)",
                "authenticator failed",
                "198.51.100.52",
                Some(99),
                None,
                None,
                None,
                Some("admin"),
            ),
            (
                "2024-03-05 09:14:27 mx1.example.org exim[3751]: H=[2001:db8::5]:2525 dropped by 'connect' ACL: banned",
                "dropped",
                "2001:db8::5",
                Some(2525),
                None,
                None,
                None,
                None,
            ),
        ];
        for (raw, action, ip, port, domain, from, to, user) in cases {
            let (r, ev) = parse_one(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(r, Parsed::Event, "{raw}");
            assert_eq!(s(&ev.event.dataset), Some(DATASET.name()), "{raw}");
            assert_eq!(s(&ev.event.action), Some(*action), "{raw}");
            assert_eq!(s(&ev.event.outcome), Some("failure"), "{raw}");
            assert_eq!(ev.source.ip, Some(ip.parse().unwrap()), "{raw}");
            assert_eq!(s(&ev.source.address), Some(*ip), "{raw}");
            assert_eq!(ev.source.port, *port, "{raw}");
            assert_eq!(s(&ev.source.domain), *domain, "{raw}");
            assert_eq!(s(&ev.email.from.address), *from, "{raw}");
            assert_eq!(ev.email.to.address.first().map(|a| a.as_ref()), *to, "{raw}");
            assert_eq!(s(&ev.user.name), *user, "{raw}");
            assert!(ev.timestamp.is_some(), "{raw}");
        }
    }

    #[test]
    fn logger_prefix_sets_host_and_process() {
        let (_, ev) = parse_one(
            "2024-03-05 09:14:27 mx1.example.org exim[3751]: [3751] H=[192.0.2.9] rejected EHLO or HELO x: syntactically invalid",
        )
        .unwrap();
        assert_eq!(s(&ev.host.hostname), Some("mx1.example.org"));
        assert_eq!(s(&ev.process.name), Some("exim"));
        assert_eq!(ev.process.pid, Some(3751));
    }

    #[test]
    fn rejection_after_data_with_id_is_an_event_of_its_own() {
        let mut p = EximParser::new(&ctx());
        let raw = "2024-03-05 09:14:27 [2516] 1rhQaB-00000000xYz-1AbC H=bad.example [203.0.113.9]:32706 I=[192.0.2.1]:25 F=<x@bad.example> rejected after DATA: This message contains a virus (Eicar-Test-Signature)";
        let mut ev = Event::default();
        assert_eq!(p.parse(&Line::plain(raw), &mut ev), Ok(Parsed::Event));
        assert_eq!(s(&ev.event.action), Some("rejected after DATA"));
        assert_eq!(s(&ev.email.local_id), Some("1rhQaB-00000000xYz-1AbC"));
        assert_eq!(s(&ev.email.from.address), Some("x@bad.example"));
        assert_eq!(ev.source.ip, Some("203.0.113.9".parse().unwrap()));
        assert_eq!(ev.process.pid, Some(2516));
        assert_eq!(p.asm.pending(), 0, "no message is opened");
    }

    /// Gap: rejections and SMTP protocol verdicts that do not lead with `H=` (typical of scanners)
    /// were absorbed or rejected; they are events with the client, the verdict and its reason.
    #[test]
    fn verdicts_without_a_leading_host_field() {
        // (line, action, source ip, source domain, reason)
        type Case<'c> = (&'c str, &'c str, Option<&'c str>, Option<&'c str>, Option<&'c str>);
        let cases: &[Case] = &[
            (
                "2024-03-05 09:14:27 rejected MAIL from [127.0.0.1]: no HELO/EHLO given",
                "rejected MAIL",
                Some("127.0.0.1"),
                None,
                Some("no HELO/EHLO given"),
            ),
            (
                "2024-03-05 09:14:27 U=unknown temporarily rejected ATRN mail.example.org: ATRN not permitted",
                "temporarily rejected ATRN",
                None,
                None,
                Some("ATRN not permitted"),
            ),
            (
                "2024-03-05 09:14:27 rejected EHLO from scan.example.net (xxx) [198.51.100.7]:41022 I=[192.0.2.1]:25: syntactically invalid argument(s): a b",
                "rejected EHLO",
                Some("198.51.100.7"),
                Some("scan.example.net"),
                Some("syntactically invalid argument(s): a b"),
            ),
            (
                "2024-03-05 09:14:27 rejected MAIL from unknown: no HELO/EHLO given",
                "rejected MAIL",
                None,
                None,
                Some("no HELO/EHLO given"),
            ),
            (
                "2024-03-05 09:14:27 SMTP protocol synchronization error (input sent without waiting for greeting): rejected connection from H=[198.51.100.7]:50001 input=\"GET / HTTP/1.1\\r\\n\"",
                "SMTP protocol synchronization error",
                Some("198.51.100.7"),
                None,
                Some("input sent without waiting for greeting"),
            ),
            (
                "2024-03-05 09:14:27 SMTP protocol error in \"AUTH LOGIN\" H=(User) [198.51.100.7]:50002 I=[192.0.2.1]:25 Ci=8003 AUTH command used when not advertised",
                "SMTP protocol error",
                Some("198.51.100.7"),
                Some("User"),
                Some("AUTH command used when not advertised"),
            ),
            (
                "2024-03-05 09:14:27 SMTP syntax error in \"H=[203.0.113.1] \\\\x16\\\\x03\" H=[198.51.100.7]:50003 unrecognized command",
                "SMTP syntax error",
                Some("198.51.100.7"),
                None,
                Some("unrecognized command"),
            ),
            // A forged `H=` inside the client's quoted command (Exim does not escape the quote).
            (
                "2024-03-05 09:14:27 SMTP protocol error in \"auth login\" H=(x) [203.0.113.66]\" H=(y) [198.51.100.7] AUTH command used when not advertised",
                "SMTP protocol error",
                Some("198.51.100.7"),
                Some("y"),
                Some("AUTH command used when not advertised"),
            ),
            (
                "2024-03-05 09:14:27 SMTP protocol synchronization error (next input sent too soon: pipelining was not advertised): rejected \"EHLO x\" H=[198.51.100.7]:50006 next input=\"QUIT H=[203.0.113.66] input=\\r\\n\"",
                "SMTP protocol synchronization error",
                Some("198.51.100.7"),
                None,
                Some("next input sent too soon: pipelining was not advertised"),
            ),
            (
                "2024-03-05 09:14:27 SMTP call from (x) [198.51.100.7]:50004 dropped: too many syntax or protocol errors (last command was \"RSET\", C=EHLO,RSET)",
                "SMTP call dropped",
                Some("198.51.100.7"),
                Some("x"),
                Some("too many syntax or protocol errors (last command was \"RSET\", C=EHLO,RSET)"),
            ),
            (
                "2024-03-05 09:14:27 Connection from [198.51.100.7]:50005 refused: too many connections from that IP address",
                "connection refused",
                Some("198.51.100.7"),
                None,
                Some("too many connections from that IP address"),
            ),
            (
                "2024-03-05 09:14:27 refused connection from [198.51.100.7] (tcp wrappers)",
                "refused connection",
                Some("198.51.100.7"),
                None,
                None,
            ),
            // The `H=` form reports its reason too.
            (
                "2024-03-05 09:14:27 H=(x) [198.51.100.7] F=<a@b.example> rejected RCPT <c@d.example>: relay not permitted",
                "rejected RCPT",
                Some("198.51.100.7"),
                Some("x"),
                Some("relay not permitted"),
            ),
        ];
        for &(raw, action, ip, domain, reason) in cases {
            let (r, ev) = parse_one(raw).unwrap_or_else(|e| panic!("{e}: {raw}"));
            assert_eq!(r, Parsed::Event, "{raw}");
            assert_eq!(s(&ev.event.dataset), Some(DATASET.name()), "{raw}");
            assert_eq!(s(&ev.event.action), Some(action), "{raw}");
            assert_eq!(s(&ev.event.outcome), Some("failure"), "{raw}");
            assert_eq!(ev.source.ip, ip.map(|i| i.parse().unwrap()), "{raw}");
            assert_eq!(s(&ev.source.domain), domain, "{raw}");
            assert_eq!(s(&ev.event.reason), reason, "{raw}");
            assert!(ev.timestamp.is_some(), "{raw}");
        }
    }

    #[test]
    fn recognised_lines_are_absorbed() {
        for raw in [
            "2024-03-05 09:14:27 SMTP connection from [198.51.100.7]:50000 (TCP/IP connection count = 3)",
            "2024-03-05 09:14:27 SMTP protocol error in \"AUTH LOGIN\" AUTH command used when not advertised",
            "2024-03-05 09:14:27 SMTP connection from [198.51.100.7] lost",
            "2024-03-05 09:14:27 no MAIL in SMTP connection from (x) [198.51.100.7] D=0s C=EHLO,QUIT",
            "2024-03-05 09:14:27 no host name found for IP address 198.51.100.7",
            "2024-03-05 09:14:27 Start queue run: pid=12345",
            "2024-03-05 09:14:27 End queue run: pid=12345",
            "2024-03-05 09:14:27 TLS error on connection from (x) [198.51.100.7] (SSL_accept): error:0A000126",
            "2024-03-05 09:14:27 [12345] anything at all after a pid",
            "2024-03-05 09:14:27 1rhQaB-00000000xYz-1AbC SA: Action: scanned but message isn't spam",
            "2024-03-05 09:14:27 1rhQaB-00000000xYz-1AbC Completed",
            "2024-03-05 09:14:27 H=(x) [198.51.100.7] Warning: some ACL warning",
        ] {
            assert_eq!(parse_one(raw).map(|r| r.0), Ok(Parsed::Absorbed), "{raw}");
        }
    }

    #[test]
    fn syslog_framed_lines_without_exim_time() {
        let hint = YearHint::new(&ctx());
        let raw = "Mar  5 09:14:27 mx1 exim[4411]: 1rhQaB-00000000xYz-1AbC <= alice@example.org H=(laptop) [198.51.100.7] P=esmtpa A=plain:alice S=10";
        let line = Framing::Syslog.line(raw, 0, 1, &hint);
        let mut p = EximParser::new(&ctx());
        assert_eq!(p.parse(&line, &mut Event::default()), Ok(Parsed::Absorbed));
        p.flush(None);
        let ev = p.take_completed().unwrap();
        assert_eq!(ev.timestamp.unwrap().to_string(), "2024-03-05T09:14:27Z");
        assert_eq!(s(&ev.host.hostname), Some("mx1"));
        assert_eq!(s(&ev.process.name), Some("exim"));
        assert_eq!(s(&ev.user.name), Some("alice"));

        let other = Line {
            syslog: Some(SyslogHeader {
                app: Some("postfix/smtpd"),
                ..Default::default()
            }),
            ..Line::plain("2024-03-05 09:14:27 1rhQaB-00000000xYz-1AbC <= a@b")
        };
        assert_eq!(p.parse(&other, &mut Event::default()), Ok(Parsed::OtherProgram));
    }

    #[test]
    fn non_exim_lines_are_rejected() {
        for (raw, reason) in [
            (
                "2024-03-05 09:14:27 W3SVC1 192.0.2.1 GET /index.html - 80 - 198.51.100.7 Mozilla/5.0 200 0 0 15",
                "not an Exim line: no message id, [pid] or known Exim message after the time",
            ),
            (
                "2024-03-05 09:14:27 192.0.2.1 GET /pixel.gif - 443 - 198.51.100.7 - 200 0 0 1",
                "not an Exim line: no message id, [pid] or known Exim message after the time",
            ),
            (
                "2024-03-05 09:14:27,123 INFO Starting server",
                "not an Exim line: no message id, [pid] or known Exim message after the time",
            ),
            (
                "2024-03-05T09:14:27Z 1rhQaB-00000000xYz-1AbC <= a@b",
                "expected an Exim line starting with YYYY-MM-DD hh:mm:ss",
            ),
            (
                "May 11 04:02:36 host1 postfix/smtpd[26897]: connect from x[1.2.3.4]",
                "expected an Exim line starting with YYYY-MM-DD hh:mm:ss",
            ),
            (
                "1157689312.049   5006 10.105.21.199 TCP_MISS/200 19763 CONNECT login.yahoo.com:443 - DIRECT/1.2.3.4 -",
                "expected an Exim line starting with YYYY-MM-DD hh:mm:ss",
            ),
            (
                "2024-13-05 09:14:27 1rhQaB-00000000xYz-1AbC <= a@b",
                "expected an Exim line starting with YYYY-MM-DD hh:mm:ss",
            ),
            (
                "2024-03-05 09:14:27 1rhQaB-00000000xYz-1AbC",
                "Exim message id without text",
            ),
            ("", "expected an Exim line starting with YYYY-MM-DD hh:mm:ss"),
            (
                "2024-03-05 09:14:27 ",
                "not an Exim line: no message id, [pid] or known Exim message after the time",
            ),
        ] {
            assert_eq!(parse_one(raw).err(), Some(ParseError::new(reason)), "{raw}");
        }
    }

    #[test]
    fn message_ids() {
        for id in ["1ahr79-0006jK-G9", "1rhQaB-00000000xYz-1AbC", "1RHQAB-00000000XYZ-1ABC"] {
            assert!(is_message_id(id), "{id}");
        }
        for id in [
            "1ahr79-0006jK-G",
            "1ahr79_0006jK-G9",
            "1rhQaB-0000000xYz-1AbC",
            "1ahr79-0006jK-G\u{e9}",
        ] {
            assert!(!is_message_id(id), "{id}");
        }
    }

    #[test]
    fn unescaping() {
        assert_eq!(unescape("plain"), "plain");
        assert_eq!(unescape(r#"a \"b\" c\\d"#), r#"a "b" c\d"#);
        assert_eq!(unescape(r"caf\303\251\ttab\n"), "café\ttab\n");
        assert_eq!(unescape(r"bad \377 end\"), "bad \u{fffd} end\\");
    }

    #[test]
    fn odd_input_never_panics() {
        let mut p = EximParser::new(&ctx());
        for raw in [
            "2024-03-05 09:14:27 1rhQaB-00000000xYz-1AbC => ",
            "2024-03-05 09:14:27 1rhQaB-00000000xYz-1AbC <= ",
            "2024-03-05 09:14:27 1rhQaB-00000000xYz-1AbC ** (",
            "2024-03-05 09:14:27 1rhQaB-00000000xYz-1AbC => x <",
            "2024-03-05 09:14:27 1rhQaB-00000000xYz-1AbC <= a T=\"unterminated \\",
            "2024-03-05 09:14:27 H=",
            "2024-03-05 09:14:27 H=( [",
            "2024-03-05 09:14:27 H=[::1]: rejected RCPT <",
            "2024-03-05 09:14:27 x authenticator failed for ",
            "2024-03-05 09:14:27 x authenticator failed for é (set_id=",
            "2024-03-05 09:14:27 [",
            "2024-03-05 09:14:27 é",
            "é exim[1]: é",
            "2024-03-05 09:14:27 +01",
        ] {
            let _ = p.parse(&Line::plain(raw), &mut Event::default());
        }
        p.flush(None);
        while p.take_completed().is_some() {}
    }

    #[test]
    fn detected_as_exim() {
        let lines = [
            INFO.example,
            "2024-03-05 09:14:27 1rhQaB-00000000xYz-1AbC <= a@example.net H=[198.51.100.1] P=smtp S=10",
            "2024-03-05 09:14:28 1rhQaB-00000000xYz-1AbC => b@example.org R=r T=t",
            "2024-03-05 09:14:28 1rhQaB-00000000xYz-1AbC Completed",
        ];
        let alone = detect::detect(&[INFO.example], &ParseContext::default(), &Format::ALL).unwrap();
        assert_eq!(alone.format, Format::Exim);
        let d = detect::detect(&lines, &ctx(), &Format::ALL).unwrap();
        assert_eq!(d.format, Format::Exim);
        assert_eq!(d.accepted, 4);
    }
}
