//! Sendmail (`sendmail.log`): syslog lines of `sendmail`, `sm-mta`, `sm-msp-queue` and the other
//! `sm-*` process names, messages assembled by queue id; policy rejections (`ruleset=...,
//! reject=`), `AUTH failure`, SMTP attack warnings and EXPN/VRFY probes are events of their own.
//!
//! A message line is `QID: key=value, key=value, ...`. The `from=` line gives the sender, size,
//! Message-ID, client and `nrcpts`; each `to=` line gives recipients (several, comma-separated)
//! and a status. The message is emitted once `nrcpts` recipients have a final status (sent or a
//! permanent failure); deferred messages wait for the assembler's timeout or the end of input.
//!
//! Only lines whose syslog program is Sendmail's are read; a line of another program in the same
//! log (a milter, the IMAP server, Postfix) is [`Parsed::OtherProgram`], which format detection
//! counts for no format. Every line of a Sendmail program that is not an event is absorbed: a
//! message's other notes (TLS, milter, DSN) join its message, and the daemon's own notices, which
//! name no queue id (`starting daemon`, `File descriptors missing on startup`, `alias database
//! rebuilt`, `SYSERR(root): ...`), stand alone. Never panics; single-line events borrow every
//! field from the line.

use std::borrow::Cow;
use std::collections::HashMap;

use jiff::Timestamp;

use super::assemble::{Assembler, AssemblyStats};
use super::common::{parse_u64, strip_angle};
use super::mail::{Disposition, HostSpec, advance, owned, push_recipient, set_endpoint};
use super::syslog::SyslogHeader;
use super::{FormatInfo, Line, LineParser, ParseContext, ParseError, Parsed, fail};
use crate::event::{Dataset, Event, Field, FieldSet};

pub static INFO: FormatInfo = FormatInfo {
    name: "sendmail",
    datasets: &[DATASET],
    line_independent: false,
    description: "Sendmail syslog (sendmail, sm-mta, sm-msp-queue): messages assembled by queue id \
                  (from=/to=), ruleset rejections, AUTH failures",
    example: "Mar  5 09:14:27 mx1 sm-mta[4711]: 425ELRtN004711: ruleset=check_rcpt, arg1=<alice@example.org>, \
              relay=client.example.net [198.51.100.23], reject=550 5.7.1 <alice@example.org>... Relaying denied",
};

const DATASET: Dataset = Dataset::SendmailLog;

pub struct SendmailParser {
    asm: Assembler,
    /// Recipient counts of the messages being assembled (entries of messages the assembler has
    /// since emitted are pruned in bulk).
    progress: HashMap<String, Progress>,
}

/// How many recipients a message has (`nrcpts=`, once its `from=` line is seen) and how many of
/// them have a final status.
#[derive(Debug, Default, Clone, Copy)]
struct Progress {
    nrcpts: Option<u64>,
    finals: u64,
}

impl SendmailParser {
    pub fn new(ctx: &ParseContext) -> Self {
        SendmailParser {
            asm: Assembler::new(DATASET, ctx),
            progress: HashMap::new(),
        }
    }
}

/// Message lines folded into the message of their queue id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    From,
    To,
    /// `AUTH=server, relay=..., authid=user, mech=...`.
    AuthServer,
    /// `<rcpt>... User unknown` (a recipient refused at RCPT time).
    Refused,
}

impl LineParser for SendmailParser {
    fn parse<'a>(&mut self, line: &Line<'a>, event: &mut Event<'a>) -> Result<Parsed, ParseError> {
        let (hdr, body) = match line.syslog {
            Some(h) => (h, line.body),
            None => return fail("expected a syslog line from sendmail"),
        };
        match hdr.app {
            Some(app) if is_sendmail_app(app) => {}
            Some(_) => return Ok(Parsed::OtherProgram),
            None => return fail("not a Sendmail line: syslog program is not sendmail or sm-*"),
        }
        if let Some(t) = hdr.timestamp {
            // Before anything is folded in, so that a message this line times out is gone.
            self.asm.expire(t);
        }
        let (qid, text) = split_qid(body);
        if let Some(q) = qid.filter(|q| *q != "NOQUEUE") {
            let kind = if text.starts_with("from=") {
                Some(Kind::From)
            } else if text.starts_with("to=") {
                Some(Kind::To)
            } else if text.starts_with("AUTH=server,") {
                Some(Kind::AuthServer)
            } else if refused_rcpt(text).is_some() {
                Some(Kind::Refused)
            } else {
                None
            };
            if let Some(kind) = kind {
                self.message_line(q, kind, text, line, &hdr);
                return Ok(Parsed::Absorbed);
            }
        }
        if single(text, event) {
            event.set_dataset(DATASET);
            event.timestamp = hdr.timestamp;
            event.host.hostname = hdr.hostname.map(Cow::Borrowed);
            event.process.name = hdr.app.map(Cow::Borrowed);
            event.process.pid = hdr.pid;
            event.email.local_id = qid.filter(|q| *q != "NOQUEUE").map(Cow::Borrowed);
            return Ok(Parsed::Event);
        }
        // Other lines of a message (TLS, milter, DSN notes) stay with it if it is open; lines
        // without a queue id are the daemon's own notices (`starting daemon`, `File descriptors
        // missing on startup`, `alias database rebuilt`, `SYSERR`), recognised by the program.
        if let Some(q) = qid
            && self.asm.get_mut(q).is_some()
        {
            self.asm.line(q, line, hdr.timestamp);
        }
        Ok(Parsed::Absorbed)
    }

    fn flush(&mut self, before: Option<Timestamp>) {
        self.asm.flush(before);
        self.prune();
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

impl SendmailParser {
    fn message_line(&mut self, q: &str, kind: Kind, text: &str, line: &Line<'_>, hdr: &SyslogHeader<'_>) {
        let is_new = self.asm.get_mut(q).is_none();
        if is_new {
            // The queue id was used before (a message emitted at its timeout, retried later).
            self.progress.remove(q);
        }
        let ev = self.asm.line(q, line, hdr.timestamp);
        if is_new {
            ev.host.hostname = hdr.hostname.map(owned);
            ev.process.name = hdr.app.map(owned);
            ev.process.pid = hdr.pid;
        }
        let mut progress = self.progress.get(q).copied().unwrap_or_default();
        match kind {
            Kind::From => from_line(ev, text, &mut progress),
            Kind::To => to_line(ev, text, &mut progress),
            Kind::AuthServer => {
                for (k, v) in Kv::new(text) {
                    match k {
                        "authid" if !v.is_empty() => ev.user.name = Some(owned(v)),
                        "relay" if ev.source.is_empty() => set_endpoint(&mut ev.source, &relay(v), owned),
                        _ => {}
                    }
                }
            }
            Kind::Refused => {
                if let Some((rcpt, reason)) = refused_rcpt(text) {
                    push_recipient(ev, rcpt);
                    let d = if reason.starts_with("Deferred") {
                        Disposition::Deferred
                    } else {
                        Disposition::Rejected
                    };
                    advance(ev, d);
                }
            }
        }
        if progress.nrcpts.is_some_and(|n| progress.finals >= n) {
            self.progress.remove(q);
            self.asm.complete(q);
        } else if progress.nrcpts.is_some() || progress.finals > 0 {
            match self.progress.get_mut(q) {
                Some(p) => *p = progress,
                None => {
                    self.progress.insert(q.to_owned(), progress);
                }
            }
            if self.progress.len() > 2 * self.asm.pending() + 1024 {
                self.prune();
            }
        }
    }

    /// Drops counts of messages the assembler has emitted (timeout, cap, end of input).
    fn prune(&mut self) {
        let asm = &mut self.asm;
        self.progress.retain(|id, _| asm.get_mut(id).is_some());
    }
}

/// `from=<a>, size=N, class=0, nrcpts=N, msgid=<...>, proto=ESMTP, daemon=MTA, relay=host [ip]`
fn from_line(ev: &mut Event<'static>, text: &str, progress: &mut Progress) {
    for (k, v) in Kv::new(text) {
        ev.recorded |= recorded_by(k);
        match k {
            "from" => {
                let from = strip_angle(v);
                if !from.is_empty() {
                    ev.email.from.address = Some(owned(from));
                }
            }
            "size" => ev.email.size = parse_u64(v).or(ev.email.size),
            "nrcpts" => progress.nrcpts = parse_u64(v),
            "msgid" => {
                let id = strip_angle(v);
                if !id.is_empty() {
                    ev.email.message_id = Some(owned(id));
                }
            }
            "relay" => set_endpoint(&mut ev.source, &relay(v), owned),
            _ => {}
        }
    }
    if progress.nrcpts == Some(0) {
        // Every recipient was refused: no message was accepted.
        advance(ev, Disposition::Rejected);
    }
}

/// `to=<a>,<b>, ctladdr=, delay=, xdelay=, mailer=, pri=, relay=host [ip], dsn=2.0.0, stat=Sent (...)`
fn to_line(ev: &mut Event<'static>, text: &str, progress: &mut Progress) {
    let (mut count, mut dsn, mut stat) = (0u64, None, None);
    for (k, v) in Kv::new(text) {
        ev.recorded |= recorded_by(k);
        match k {
            "to" => {
                for rcpt in split_list(v) {
                    push_recipient(ev, strip_angle(rcpt));
                    count += 1;
                }
            }
            "relay" if ev.destination.is_empty() => set_endpoint(&mut ev.destination, &relay(v), owned),
            "delay" => {
                if let Some(d) = parse_delay(v) {
                    ev.event.duration = Some(ev.event.duration.map_or(d, |old| old.max(d)));
                }
            }
            "dsn" => dsn = Some(v),
            "stat" => stat = Some(v),
            _ => {}
        }
    }
    if let Some(d) = status(dsn, stat) {
        advance(ev, d);
        if matches!(d, Disposition::Delivered | Disposition::Bounced) {
            progress.finals += count.max(1);
        }
    }
}

/// What a key of a message line records: `from=<>` is the null sender, `msgid=<>` an empty id.
fn recorded_by(key: &str) -> FieldSet {
    use Field as F;
    match key {
        "from" => FieldSet::of(&[F::EmailFromAddress]),
        "to" => FieldSet::of(&[F::EmailToAddress]),
        "size" => FieldSet::of(&[F::EmailSize]),
        "msgid" => FieldSet::of(&[F::EmailMessageId]),
        _ => FieldSet::EMPTY,
    }
}

/// What a `to=` line's status means: the DSN code's class when there is one, else the `stat=`
/// text (`Sent`, `Deferred: ...`, `queued`, or a permanent error such as `User unknown`).
fn status(dsn: Option<&str>, stat: Option<&str>) -> Option<Disposition> {
    match dsn.and_then(|d| d.bytes().next()) {
        Some(b'2') => return Some(Disposition::Delivered),
        Some(b'4') => return Some(Disposition::Deferred),
        Some(b'5') => return Some(Disposition::Bounced),
        _ => {}
    }
    let stat = stat?.trim();
    Some(if stat.starts_with("Sent") {
        Disposition::Delivered
    } else if stat.starts_with("Deferred") || stat.eq_ignore_ascii_case("queued") || stat.is_empty() {
        Disposition::Deferred
    } else {
        Disposition::Bounced
    })
}

/// `<rcpt>... reason`: the recipient and the reason.
fn refused_rcpt(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('<')?;
    let (rcpt, reason) = inner.split_once(">... ")?;
    Some((rcpt, reason))
}

/// The lines that stand alone: true when `text` is one and `event` was filled.
fn single<'a>(text: &'a str, event: &mut Event<'a>) -> bool {
    if text.starts_with("ruleset=") {
        return ruleset(text, event);
    }
    if text.starts_with("AUTH failure") {
        auth_failure(text, event);
        return true;
    }
    if let Some((client, _)) = text.split_once(": possible SMTP attack: ") {
        event.event.action = Some(Cow::Borrowed("possible SMTP attack"));
        set_endpoint(&mut event.source, &relay(client), Cow::Borrowed);
        return true;
    }
    if let Some(rest) = text.strip_prefix("rejecting commands from ") {
        let client = rest.split_once(" due to ").map_or(rest, |(c, _)| c);
        event.event.action = Some(Cow::Borrowed("reject"));
        event.event.outcome = Some(Cow::Borrowed("failure"));
        set_endpoint(&mut event.source, &relay(client), Cow::Borrowed);
        return true;
    }
    if let Some((client, command)) = text.split_once("]: ")
        && probe(command, event)
    {
        // The client ends at the `]` the split consumed.
        set_endpoint(&mut event.source, &relay(&text[..client.len() + 1]), Cow::Borrowed);
        return true;
    }
    false
}

/// `EXPN root [rejected]` / `VRFY info`: probing for mailbox names.
fn probe<'a>(command: &'a str, event: &mut Event<'a>) -> bool {
    let (verb, arg) = command.split_once(' ').unwrap_or((command, ""));
    let action = if verb.eq_ignore_ascii_case("EXPN") {
        "EXPN"
    } else if verb.eq_ignore_ascii_case("VRFY") {
        "VRFY"
    } else {
        return false;
    };
    event.event.action = Some(Cow::Borrowed(action));
    let (arg, rejected) = match arg.strip_suffix(" [rejected]") {
        Some(a) => (a, true),
        None => (arg, false),
    };
    if rejected {
        event.event.outcome = Some(Cow::Borrowed("failure"));
    }
    let arg = strip_angle(arg);
    if !arg.is_empty() {
        event.email.to.address.push(Cow::Borrowed(arg));
    }
    true
}

/// `ruleset=check_rcpt, arg1=<b>, relay=host [ip], reject=550 5.7.1 <b>... Relaying denied`
fn ruleset<'a>(text: &'a str, event: &mut Event<'a>) -> bool {
    let (mut name, mut arg1, mut arg2, mut client) = ("", None, None, None);
    let mut action = None;
    for (k, v) in Kv::new(text) {
        match k {
            "ruleset" => name = v,
            "arg1" => arg1 = Some(v),
            "arg2" => arg2 = Some(v),
            "relay" => client = Some(v),
            "reject" => action = Some("reject"),
            "quarantine" => action = Some("quarantine"),
            _ => {}
        }
    }
    if action.is_none() && text.ends_with(", discard") {
        action = Some("discard");
    }
    let Some(action) = action else {
        return false;
    };
    event.event.action = Some(Cow::Borrowed(action));
    if action == "reject" {
        event.event.outcome = Some(Cow::Borrowed("failure"));
    }
    if let Some(c) = client {
        set_endpoint(&mut event.source, &relay(c), Cow::Borrowed);
    }
    let addr = |a: Option<&'a str>| a.map(strip_angle).filter(|a| !a.is_empty()).map(Cow::Borrowed);
    if name.ends_with("check_rcpt") {
        event.email.to.address.extend(addr(arg1));
    } else if name.ends_with("check_mail") {
        event.email.from.address = addr(arg1);
    } else if name.ends_with("check_compat") {
        event.email.from.address = addr(arg1);
        event.email.to.address.extend(addr(arg2));
    } else if name.ends_with("check_relay") && client.is_none() {
        // arg1 is the client's name, arg2 its address.
        let h = HostSpec {
            name: arg1.filter(|a| !a.starts_with('[')),
            ip: arg2,
            ..HostSpec::default()
        };
        set_endpoint(&mut event.source, &h, Cow::Borrowed);
    }
    true
}

/// `AUTH failure (LOGIN): authentication failure (-13) SASL(-13): ..., user=u, relay=host [ip]`.
/// The last `relay=` is the client's (an earlier one can be injected through the user name).
fn auth_failure<'a>(text: &'a str, event: &mut Event<'a>) {
    event.event.action = Some(Cow::Borrowed("AUTH failure"));
    event.event.outcome = Some(Cow::Borrowed("failure"));
    let Some(start) = text.find(", user=").or_else(|| text.find(", relay=")) else {
        return;
    };
    let mut client = None;
    for (k, v) in Kv::new(&text[start + 2..]) {
        match k {
            "user" if !v.is_empty() => event.user.name = Some(Cow::Borrowed(v)),
            "relay" => client = Some(v),
            _ => {}
        }
    }
    if let Some(c) = client {
        set_endpoint(&mut event.source, &relay(c), Cow::Borrowed);
    }
}

/// A `relay=` value: `host [ip] (may be forged)`, `[ip]`, `host`, `user@host [ip]`,
/// `[IPv6:2001:db8::1]`.
fn relay(s: &str) -> HostSpec<'_> {
    let mut h = HostSpec::default();
    let s = s.trim_start_matches(' ');
    let (first, rest) = s.split_once(' ').unwrap_or((s, ""));
    if first.starts_with('[') {
        h.ip = bracketed(first);
        return h;
    }
    let host = first.rsplit_once('@').map_or(first, |(_, h)| h);
    let host = host.strip_suffix('.').unwrap_or(host);
    h.name = (!host.is_empty()).then_some(host);
    h.ip = bracketed(rest.trim_start_matches(' '));
    h
}

/// The text inside `[...]` at the start of `t`.
fn bracketed(t: &str) -> Option<&str> {
    let inner = t.strip_prefix('[')?;
    let inner = &inner[..inner.find(']').unwrap_or(inner.len())];
    (!inner.is_empty()).then_some(inner)
}

/// `a,<b>,c` → the items, splitting only at commas outside `<...>`.
fn split_list(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = s;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut depth = 0u32;
        let mut end = rest.len();
        for (i, b) in rest.bytes().enumerate() {
            match b {
                b'<' => depth += 1,
                b'>' => depth = depth.saturating_sub(1),
                b',' if depth == 0 => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let item = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
        Some(item.trim())
    })
    .filter(|a| !a.is_empty())
}

/// `delay=[days+]hh:mm:ss` → nanoseconds.
fn parse_delay(s: &str) -> Option<u64> {
    let (days, hms) = match s.split_once('+') {
        Some((d, r)) => (parse_u64(d)?, r),
        None => (0, s),
    };
    let mut it = hms.split(':');
    let (h, m, sec) = (parse_u64(it.next()?)?, parse_u64(it.next()?)?, parse_u64(it.next()?)?);
    if it.next().is_some() || m > 59 || sec > 59 {
        return None;
    }
    let secs = days
        .checked_mul(24)?
        .checked_add(h)?
        .checked_mul(3600)?
        .checked_add(m * 60 + sec)?;
    secs.checked_mul(1_000_000_000)
}

/// Sendmail's `key=value, key=value` lists. A value runs to the next `, key=` outside `<...>`,
/// `(...)` and `[...]`; `stat=`, `reject=` and `quarantine=` take the rest of the line (they come
/// last and their text may hold anything).
struct Kv<'a> {
    rest: &'a str,
}

impl<'a> Kv<'a> {
    fn new(s: &'a str) -> Self {
        Kv { rest: s }
    }
}

impl<'a> Iterator for Kv<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let s = self.rest;
        let n = key_len(s)?;
        let key = &s[..n];
        let v = &s[n + 1..];
        if matches!(key, "stat" | "reject" | "quarantine") {
            self.rest = "";
            return Some((key, v));
        }
        let b = v.as_bytes();
        let mut depth = 0u32;
        let mut start = 0;
        // Jump from comma to comma; only the stretches that hold brackets are scanned byte by
        // byte (most values have none).
        while let Some(off) = memchr::memchr(b',', &b[start..]) {
            let comma = start + off;
            let stretch = &b[start..comma];
            if depth > 0 || memchr::memchr3(b'<', b'(', b'[', stretch).is_some() {
                for &c in stretch {
                    match c {
                        b'<' | b'(' | b'[' => depth += 1,
                        b'>' | b')' | b']' => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                }
            }
            if depth == 0 && b.get(comma + 1) == Some(&b' ') && key_len(&v[comma + 2..]).is_some() {
                self.rest = &v[comma + 2..];
                return Some((key, &v[..comma]));
            }
            start = comma + 1;
        }
        self.rest = "";
        Some((key, v))
    }
}

/// Length of the `key` when `s` starts with `key=`.
fn key_len(s: &str) -> Option<usize> {
    let n = s
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    ((1..=32).contains(&n) && s.as_bytes().get(n) == Some(&b'=')).then_some(n)
}

/// `QID: text` → (Some(QID), text); `NOQUEUE: text` is kept as an id that opens no message.
fn split_qid(body: &str) -> (Option<&str>, &str) {
    if let Some((q, rest)) = body.split_once(": ")
        && (q == "NOQUEUE" || is_qid(q))
    {
        return (Some(q), rest);
    }
    (None, body)
}

/// A queue id: letters and digits (`425ELRtN004711`, old `JAA12345`); words such as `STARTTLS`
/// have no digit.
fn is_qid(q: &str) -> bool {
    (7..=20).contains(&q.len()) && q.bytes().all(|b| b.is_ascii_alphanumeric()) && q.bytes().any(|b| b.is_ascii_digit())
}

fn is_sendmail_app(app: &str) -> bool {
    app.starts_with("sendmail") || app.starts_with("sm-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Format;
    use crate::parse::detect::{self, Framing};
    use crate::parse::syslog::YearHint;

    fn ctx() -> ParseContext {
        ParseContext {
            reference_time: "2024-06-01T00:00:00Z".parse().unwrap(),
            ..Default::default()
        }
    }

    fn s<'e>(v: &'e Option<Cow<'_, str>>) -> Option<&'e str> {
        v.as_deref()
    }

    /// Feeds syslog lines; returns the messages emitted along the way and each line's result.
    fn run(p: &mut SendmailParser, lines: &[&str]) -> (Vec<Event<'static>>, Vec<Result<Parsed, ParseError>>) {
        let hint = YearHint::new(&ctx());
        let mut out = Vec::new();
        let mut results = Vec::new();
        for (i, raw) in lines.iter().enumerate() {
            let line = Framing::Syslog.line(raw, i as u64 * 100, i as u64 + 1, &hint);
            results.push(p.parse(&line, &mut Event::default()));
            while let Some(e) = p.take_completed() {
                out.push(e);
            }
        }
        (out, results)
    }

    fn parse_one(raw: &str) -> Result<(Parsed, Event<'_>), ParseError> {
        let hint = YearHint::new(&ctx());
        let line = Framing::Syslog.line(raw, 0, 1, &hint);
        let mut p = SendmailParser::new(&ctx());
        let mut ev = Event::default();
        p.parse(&line, &mut ev).map(|r| (r, ev))
    }

    #[test]
    fn message_with_two_recipients_is_one_event() {
        let lines = [
            "Mar  5 09:14:27 mx1 sm-mta[4711]: 425ELRtN004711: AUTH=server, relay=laptop.example.net [198.51.100.7], authid=alice, mech=PLAIN, bits=0",
            "Mar  5 09:14:27 mx1 sm-mta[4711]: 425ELRtN004711: from=<alice@example.net>, size=48211, class=0, nrcpts=2, msgid=<20240305.abc123@example.net>, bodytype=8BITMIME, proto=ESMTPSA, daemon=MTA, relay=laptop.example.net [198.51.100.7]",
            "Mar  5 09:14:28 mx1 sm-mta[4712]: 425ELRtN004711: to=<bob@example.org>, delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=168211, relay=mx.example.org. [203.0.113.5], dsn=2.0.0, stat=Sent (OK, id=1rhQaB-000, queued)",
            "Mar  5 09:14:29 mx1 sm-mta[4712]: 425ELRtN004711: to=<carol@example.org>, delay=00:00:02, xdelay=00:00:01, mailer=esmtp, pri=168211, relay=mx.example.org. [203.0.113.5], dsn=2.0.0, stat=Sent (OK)",
        ];
        let mut p = SendmailParser::new(&ctx());
        let (out, results) = run(&mut p, &lines);
        assert!(results.iter().all(|r| *r == Ok(Parsed::Absorbed)), "{results:?}");
        assert_eq!(out.len(), 1);
        let ev = &out[0];
        assert_eq!(s(&ev.event.dataset), Some("sendmail.log"));
        assert_eq!(ev.timestamp.unwrap().to_string(), "2024-03-05T09:14:27Z");
        assert_eq!(s(&ev.email.local_id), Some("425ELRtN004711"));
        assert_eq!(s(&ev.email.from.address), Some("alice@example.net"));
        assert_eq!(ev.email.to.address, vec!["bob@example.org", "carol@example.org"]);
        assert_eq!(ev.email.size, Some(48211));
        assert_eq!(s(&ev.email.message_id), Some("20240305.abc123@example.net"));
        assert_eq!(s(&ev.user.name), Some("alice"));
        assert_eq!(s(&ev.source.domain), Some("laptop.example.net"));
        assert_eq!(ev.source.ip, Some("198.51.100.7".parse().unwrap()));
        assert_eq!(s(&ev.destination.domain), Some("mx.example.org"));
        assert_eq!(ev.destination.ip, Some("203.0.113.5".parse().unwrap()));
        assert_eq!(s(&ev.event.action), Some("delivered"));
        assert_eq!(s(&ev.event.outcome), Some("success"));
        assert_eq!(ev.event.duration, Some(2_000_000_000));
        assert_eq!(s(&ev.host.hostname), Some("mx1"));
        assert_eq!(s(&ev.process.name), Some("sm-mta"));
        assert_eq!(ev.log.offset, Some(0));
        assert_eq!(s(&ev.event.original), Some(lines.join("\n").as_str()));
        assert!(p.progress.is_empty());
        p.flush(None);
        assert!(p.take_completed().is_none());
        assert_eq!(p.assembly_stats(), AssemblyStats::default());
    }

    #[test]
    fn interleaved_messages_one_to_line_many_recipients_and_deferral() {
        let lines = [
            "Mar  5 10:00:00 mx1 sendmail[100]: 425A0000000100: from=<a@example.net>, size=10, class=0, nrcpts=3, msgid=<m1@example.net>, proto=SMTP, daemon=MTA, relay=[198.51.100.1]",
            "Mar  5 10:00:00 mx1 sendmail[101]: 425A0000000101: from=bob, size=20, class=0, nrcpts=1, msgid=<m2@example.net>, relay=bob@localhost",
            "Mar  5 10:00:01 mx1 sendmail[100]: 425A0000000100: to=<x@example.org>,<y@example.org>, delay=00:00:01, mailer=esmtp, pri=1, relay=mx.example.org. [203.0.113.5], dsn=2.0.0, stat=Sent (ok)",
            "Mar  5 10:00:01 mx1 sendmail[101]: 425A0000000101: to=dave@example.com, ctladdr=bob (1000/1000), delay=00:00:01, mailer=relay, pri=1, relay=[127.0.0.1] [127.0.0.1], dsn=4.0.0, stat=Deferred: Connection refused by [127.0.0.1]",
            "Mar  5 10:00:02 mx1 sendmail[100]: 425A0000000100: to=<z@example.org>, delay=00:00:02, mailer=esmtp, pri=1, relay=mx.example.org. [203.0.113.5], dsn=5.1.1, stat=User unknown",
        ];
        let mut p = SendmailParser::new(&ctx());
        let (out, _) = run(&mut p, &lines);
        assert_eq!(out.len(), 1, "the deferred message waits");
        let first = &out[0];
        assert_eq!(s(&first.email.local_id), Some("425A0000000100"));
        assert_eq!(
            first.email.to.address,
            vec!["x@example.org", "y@example.org", "z@example.org"]
        );
        assert_eq!(
            s(&first.event.action),
            Some("delivered"),
            "delivery to some recipients wins"
        );
        assert_eq!(first.source.ip, Some("198.51.100.1".parse().unwrap()));
        assert_eq!(first.source.domain, None);

        let (out, _) = run(
            &mut p,
            &[
                "Mar  5 10:30:00 mx1 sendmail[200]: 425A0000000101: to=dave@example.com, delay=00:30:00, mailer=relay, pri=2, relay=[127.0.0.1] [127.0.0.1], dsn=2.0.0, stat=Sent (425B000 Message accepted for delivery)",
            ],
        );
        // The first line at 10:30 expires the 10:00 message before folding in, so the retry
        // becomes a message of its own, completed by its own count.
        assert_eq!(out.len(), 1);
        assert_eq!(s(&out[0].email.from.address), Some("bob"));
        assert_eq!(s(&out[0].event.action), Some("deferred"));
        assert_eq!(p.assembly_stats().timed_out, 1);
        p.flush(None);
        let retry = p.take_completed().unwrap();
        assert_eq!(s(&retry.event.action), Some("delivered"));
        assert_eq!(retry.email.from.address, None);
        assert_eq!(retry.destination.ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(p.assembly_stats().flushed_at_end, 1);
        assert!(p.progress.is_empty(), "counts of emitted messages are pruned");
    }

    #[test]
    fn refused_recipients_and_zero_nrcpts_complete_at_from() {
        let lines = [
            "Mar  5 11:00:00 mx1 sm-mta[300]: 425B000000300: <ghost@example.org>... User unknown",
            "Mar  5 11:00:01 mx1 sm-mta[300]: 425B000000300: from=<spam@bad.example>, size=0, class=0, nrcpts=0, proto=ESMTP, daemon=MTA, relay=bad.example [203.0.113.66] (may be forged)",
        ];
        let mut p = SendmailParser::new(&ctx());
        let (out, _) = run(&mut p, &lines);
        assert_eq!(out.len(), 1);
        let ev = &out[0];
        assert_eq!(ev.email.to.address, vec!["ghost@example.org"]);
        assert_eq!(s(&ev.email.from.address), Some("spam@bad.example"));
        assert_eq!(s(&ev.event.action), Some("rejected"));
        assert_eq!(s(&ev.event.outcome), Some("failure"));
        assert_eq!(s(&ev.source.domain), Some("bad.example"));
        assert_eq!(ev.source.ip, Some("203.0.113.66".parse().unwrap()));
    }

    #[test]
    fn timeout_and_flush() {
        let mut p = SendmailParser::new(&ctx());
        let (out, _) = run(
            &mut p,
            &[
                "Mar  5 12:00:00 mx1 sm-mta[1]: 425C000000001: from=<a@example.net>, size=1, class=0, nrcpts=1, relay=[198.51.100.1]",
                "Mar  5 12:10:00 mx1 sm-mta[2]: 425C000000002: from=<b@example.net>, size=1, class=0, nrcpts=1, relay=[198.51.100.2]",
            ],
        );
        assert!(out.is_empty());
        p.flush(Some("2024-03-05T12:10:00.5Z".parse().unwrap()));
        let timed_out = p.take_completed().unwrap();
        assert_eq!(s(&timed_out.email.from.address), Some("a@example.net"));
        assert_eq!(timed_out.event.action, None);
        assert!(p.take_completed().is_none());
        p.flush(None);
        assert_eq!(
            s(&p.take_completed().unwrap().email.from.address),
            Some("b@example.net")
        );
        let stats = p.assembly_stats();
        assert_eq!((stats.timed_out, stats.flushed_at_end), (1, 1));
        assert!(p.progress.is_empty());
    }

    #[test]
    fn single_line_events() {
        // (line, action, outcome, ip, domain, from, to, user, local id)
        type Case<'c> = (
            &'c str,
            &'c str,
            Option<&'c str>,
            &'c str,
            Option<&'c str>,
            Option<&'c str>,
            Option<&'c str>,
            Option<&'c str>,
            Option<&'c str>,
        );
        let cases: &[Case] = &[
            (
                INFO.example,
                "reject",
                Some("failure"),
                "198.51.100.23",
                Some("client.example.net"),
                None,
                Some("alice@example.org"),
                None,
                Some("425ELRtN004711"),
            ),
            (
                "Mar  5 09:14:27 mx1 sendmail[4711]: 425ELRtN004711: ruleset=check_mail, arg1=<x@nonexistent.example>, relay=[198.51.100.24] (may be forged), reject=553 5.1.8 <x@nonexistent.example>... Domain of sender address x@nonexistent.example does not exist",
                "reject",
                Some("failure"),
                "198.51.100.24",
                None,
                Some("x@nonexistent.example"),
                None,
                None,
                Some("425ELRtN004711"),
            ),
            (
                "Mar  5 09:14:27 mx1 sm-mta[4711]: ruleset=check_relay, arg1=[198.51.100.25], arg2=198.51.100.25, relay=[198.51.100.25], reject=421 4.3.2 Connection rate limit exceeded.",
                "reject",
                Some("failure"),
                "198.51.100.25",
                None,
                None,
                None,
                None,
                None,
            ),
            (
                "Mar  5 09:14:27 mx1 sm-mta[4711]: NOQUEUE: ruleset=check_relay, arg1=dyn.example.net, arg2=198.51.100.26, reject=550 5.7.1 Access denied",
                "reject",
                Some("failure"),
                "198.51.100.26",
                Some("dyn.example.net"),
                None,
                None,
                None,
                None,
            ),
            (
                "Mar  5 09:14:27 mx1 sendmail[4711]: 425ELRtN004712: AUTH failure (LOGIN): authentication failure (-13) SASL(-13): authentication failure: checkpass failed, user=bob, relay=[203.0.113.1], relay=client.example.net [198.51.100.27] (may be forged)",
                "AUTH failure",
                Some("failure"),
                "198.51.100.27",
                Some("client.example.net"),
                None,
                None,
                Some("bob"),
                Some("425ELRtN004712"),
            ),
            (
                "Mar  5 09:14:27 mx1 sm-mta[4711]: 425ELRtN004713: client.example.net [198.51.100.28] (may be forged): possible SMTP attack: command=AUTH, count=5",
                "possible SMTP attack",
                None,
                "198.51.100.28",
                Some("client.example.net"),
                None,
                None,
                None,
                Some("425ELRtN004713"),
            ),
            (
                "Mar  5 09:14:27 mx1 sm-mta[4711]: 425ELRtN004714: rejecting commands from  [198.51.100.29] due to pre-greeting traffic after 0 seconds",
                "reject",
                Some("failure"),
                "198.51.100.29",
                None,
                None,
                None,
                None,
                Some("425ELRtN004714"),
            ),
            (
                "Mar  5 09:14:27 mx1 sm-mta[4711]: 425ELRtN004715: probe.example.net [IPv6:2001:db8::30]: vrfy root [rejected]",
                "VRFY",
                Some("failure"),
                "2001:db8::30",
                Some("probe.example.net"),
                None,
                Some("root"),
                None,
                Some("425ELRtN004715"),
            ),
        ];
        for (raw, action, outcome, ip, domain, from, to, user, qid) in cases {
            let (r, ev) = parse_one(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(r, Parsed::Event, "{raw}");
            assert_eq!(s(&ev.event.dataset), Some(DATASET.name()), "{raw}");
            assert_eq!(s(&ev.event.action), Some(*action), "{raw}");
            assert_eq!(s(&ev.event.outcome), *outcome, "{raw}");
            assert_eq!(ev.source.ip, Some(ip.parse().unwrap()), "{raw}");
            assert_eq!(s(&ev.source.address), Some(*ip), "{raw}");
            assert_eq!(s(&ev.source.domain), *domain, "{raw}");
            assert_eq!(s(&ev.email.from.address), *from, "{raw}");
            assert_eq!(ev.email.to.address.first().map(|a| a.as_ref()), *to, "{raw}");
            assert_eq!(s(&ev.user.name), *user, "{raw}");
            assert_eq!(s(&ev.email.local_id), *qid, "{raw}");
            assert!(ev.timestamp.is_some(), "{raw}");
        }
    }

    #[test]
    fn recognised_lines_are_absorbed() {
        for raw in [
            "Mar  5 09:14:27 mx1 sm-mta[1]: 425ELRtN004711: STARTTLS=server, relay=client.example.net [198.51.100.7], version=TLSv1.3, verify=NO, cipher=TLS_AES_256_GCM_SHA384, bits=256/256",
            "Mar  5 09:14:27 mx1 sm-mta[1]: 425ELRtN004711: lost input channel from client.example.net [198.51.100.7] to MTA after rcpt",
            "Mar  5 09:14:27 mx1 sm-mta[1]: 425ELRtN004711: client.example.net [198.51.100.7] (may be forged) did not issue MAIL/EXPN/VRFY/ETRN during connection to MTA",
            "Mar  5 09:14:27 mx1 sm-mta[1]: 425ELRtN004711: 425ELRtN004799: DSN: User unknown",
            "Mar  5 09:14:27 mx1 sm-mta[1]: 425ELRtN004711: collect: premature EOM: Connection reset by client.example.net",
            "Mar  5 09:14:27 mx1 sm-msp-queue[1]: starting daemon (8.17.1): queueing@00:20:00",
            "Mar  5 09:14:27 mx1 sm-mta[1]: STARTTLS=client, relay=mx.example.org., version=TLSv1.3, verify=OK",
            "Mar  5 09:14:27 mx1 sm-mta[1]: ruleset=check_rcpt, arg1=<a@example.org>, relay=[198.51.100.7]",
            "Mar  5 09:14:27 mx1 sm-mta[1]: NOQUEUE: from=<a@example.org>, size=0, class=0, nrcpts=0, relay=[198.51.100.7]",
            // Gap: the daemon's notices (no queue id) were errors while `starting daemon` was
            // absorbed; every such line of a Sendmail program is absorbed.
            "Mar  5 09:14:27 mx1 sendmail[4711]: File descriptors missing on startup: stdin; /dev/null: No such file or directory",
            "Mar  5 09:14:27 mx1 sm-mta[4711]: starting daemon (8.17.1): SMTP+queueing@00:10:00",
            "Mar  5 09:14:27 mx1 sm-mta[4711]: My unqualified host name (mx1) unknown; sleeping for retry",
            "Mar  5 09:14:27 mx1 sm-mta[4711]: unable to qualify my own domain name (mx1) -- using short name",
            "Mar  5 09:14:27 mx1 sm-mta[4711]: daemon MTA-v4: problem creating SMTP socket",
            "Mar  5 09:14:27 mx1 sm-mta[4711]: NOQUEUE: SYSERR(root): opendaemonsocket: daemon MTA-v4: cannot bind: Address already in use",
            "Mar  5 09:14:27 mx1 sm-mta[4711]: alias database /etc/mail/aliases rebuilt by root",
            "Mar  5 09:14:27 mx1 sm-mta[4711]: /etc/mail/aliases: 12 aliases, longest 10 bytes, 180 bytes total",
            "Mar  5 09:14:27 mx1 sm-msp-queue[4712]: unable to write pid to /var/run/sm-client.pid: Permission denied",
            "Mar  5 09:14:27 mx1 sm-mta[1]: something else entirely",
            "Mar  5 09:14:27 mx1 sm-mta[1]: from <a@b>",
        ] {
            let mut p = SendmailParser::new(&ctx());
            let (out, results) = run(&mut p, &[raw]);
            assert_eq!(results, vec![Ok(Parsed::Absorbed)], "{raw}");
            p.flush(None);
            assert!(
                out.is_empty() && p.take_completed().is_none(),
                "no message opened: {raw}"
            );
        }
    }

    #[test]
    fn text_priority_before_the_host() {
        let raw = "Jun 17 14:37:39 <mail.notice> mx2 sm-mta[2794]: 55HIbcGI002794: ruleset=check_rcpt, arg1=<a@example.org>, relay=[198.51.100.9], reject=450 4.4.0 <a@example.org>... Relaying temporarily denied";
        let (r, ev) = parse_one(raw).unwrap();
        assert_eq!(r, Parsed::Event);
        assert_eq!(ev.timestamp.unwrap().to_string(), "2024-06-17T14:37:39Z");
        assert_eq!(s(&ev.host.hostname), Some("mx2"));
        assert_eq!(s(&ev.process.name), Some("sm-mta"));
        assert_eq!(ev.process.pid, Some(2794));
        assert_eq!(ev.source.ip, Some("198.51.100.9".parse().unwrap()));
    }

    #[test]
    fn other_programs_and_unframed_lines() {
        // Gap: other programs' lines in a Sendmail log were errors.
        for raw in [
            "May 11 04:02:36 host1 postfix/smtpd[26897]: NOQUEUE: reject: RCPT from x[1.2.3.4]: 554 5.7.1",
            "Mar  5 09:14:27 mx1 exim[4411]: 2024-03-05 09:14:27 1rhQaB-00000000xYz-1AbC <= a@b",
            "Mar  5 09:14:27 <mail.info> mx1 postfix/smtpd[1]: connect from x",
            "Mar  5 09:14:27 mx1 milter-greylist[812]: 425ELRtN004711: addr 192.0.2.1 from <a@b> to <c@d> delayed for 00:30:00",
            "Mar  5 09:14:27 mx1 spamd[900]: spamd: result: . 0 - BAYES_00 scantime=0.4,size=2048",
        ] {
            assert_eq!(parse_one(raw).map(|r| r.0), Ok(Parsed::OtherProgram), "{raw}");
        }
        for (raw, reason) in [
            (
                "2024-03-05 09:14:27 H=[192.0.2.1] rejected RCPT <a@b>: no",
                "expected a syslog line from sendmail",
            ),
            ("", "expected a syslog line from sendmail"),
        ] {
            assert_eq!(parse_one(raw).err(), Some(ParseError::new(reason)), "{raw}");
        }
    }

    #[test]
    fn key_value_lists() {
        let got: Vec<_> = Kv::new(
            "to=<a@x>,<b@y>, ctladdr=<u> (1/1), relay=h. [192.0.2.1] (may be forged), stat=Sent (OK, id=1, done)",
        )
        .collect();
        assert_eq!(
            got,
            vec![
                ("to", "<a@x>,<b@y>"),
                ("ctladdr", "<u> (1/1)"),
                ("relay", "h. [192.0.2.1] (may be forged)"),
                ("stat", "Sent (OK, id=1, done)"),
            ]
        );
        assert_eq!(
            split_list("<a@x>,<\"b,c\"@y>, d").collect::<Vec<_>>(),
            vec!["<a@x>", "<\"b,c\"@y>", "d"]
        );
        assert_eq!(parse_delay("1+02:03:04"), Some(93_784_000_000_000));
        assert_eq!(parse_delay("00:61:00"), None);
        assert_eq!(
            relay("root@localhost"),
            HostSpec {
                name: Some("localhost"),
                ..HostSpec::default()
            }
        );
    }

    #[test]
    fn odd_input_never_panics() {
        let mut p = SendmailParser::new(&ctx());
        let (_, results) = run(
            &mut p,
            &[
                "Mar  5 09:14:27 mx1 sm-mta[1]: 425ELRtN004711: to=",
                "Mar  5 09:14:27 mx1 sm-mta[1]: 425ELRtN004711: from=, nrcpts=x, relay=[",
                "Mar  5 09:14:27 mx1 sm-mta[1]: 425ELRtN004711: to=<, stat=",
                "Mar  5 09:14:27 mx1 sm-mta[1]: 425ELRtN004711: <>... ",
                "Mar  5 09:14:27 mx1 sm-mta[1]: AUTH failure, relay=",
                "Mar  5 09:14:27 mx1 sm-mta[1]: é]: VRFY",
                "Mar  5 09:14:27 mx1 sm-mta[1]: ruleset=, discard",
                "Mar  5 09:14:27 <é.é> mx1 sm-mta[1]: x",
                "Mar  5 09:14:27 <mail.info> ",
                "Mar  5 09:14:27 <mail.info> h",
                "Mar  5 09:14:27 <mail.info> h sm-mta[x]: y",
            ],
        );
        assert_eq!(results.len(), 11);
        p.flush(None);
        while p.take_completed().is_some() {}
    }

    #[test]
    fn detected_as_sendmail() {
        let lines = [
            INFO.example,
            "Mar  5 09:14:27 mx1 sm-mta[4711]: 425ELRtN004716: from=<a@example.net>, size=10, class=0, nrcpts=1, relay=[198.51.100.1]",
            "Mar  5 09:14:28 mx1 sm-mta[4712]: 425ELRtN004716: to=<b@example.org>, delay=00:00:01, mailer=esmtp, pri=1, relay=mx.example.org. [203.0.113.5], dsn=2.0.0, stat=Sent (ok)",
        ];
        let alone = detect::detect(&[INFO.example], &ParseContext::default(), &Format::ALL).unwrap();
        assert_eq!(alone.format, Format::Sendmail);
        let d = detect::detect(&lines, &ctx(), &Format::ALL).unwrap();
        assert_eq!(d.format, Format::Sendmail);
        assert_eq!(d.accepted, 3);
    }
}
