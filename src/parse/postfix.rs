//! Postfix: the syslog lines of the Postfix MTA, turned into one event per message and one per
//! connection-level verdict.
//!
//! Postfix logs a message in pieces, each naming its queue id (`4A1B2C3D4E: ...`, or a long id
//! such as `4XyZ1b2cDfz9abc` with `enable_long_queue_ids`): smtpd's `client=`, cleanup's
//! `message-id=` and `header_checks`/`body_checks`/milter verdicts, qmgr's `from=, size=`, one
//! `to=..., status=...` line per delivery attempt, and finally qmgr's `removed`. Every such line is
//! folded into one message ([`Assembler`]) that is emitted on `removed` (or on timeout, eviction or
//! end of input). `NOQUEUE: reject: ...` (and `milter-reject`, `filter`, `discard`, ...) verdicts
//! never get a queue id and are single-line events. Every other line from a Postfix program
//! (connections, TLS, postscreen, anvil, warnings, ...) is recognised and absorbed.
//!
//! A line is Postfix's when its syslog program starts with `postfix` (`postfix/smtpd`,
//! `postfix/submission/smtpd`, multi-instance names such as `postfix-out/qmgr`). A line from any
//! other program (amavis, opendkim, postgrey, dovecot, ... in the same mail log) is
//! [`Parsed::OtherProgram`]: counted apart, neither an event nor an error, and worth nothing to
//! format detection, which can so tell Postfix from Sendmail or Exim. A line without a syslog
//! header is accepted only when it has the shape of a known Postfix message.
//!
//! Decisions, where the log leaves room:
//! - `email.from.address` is the header `From:` address when a `header_checks` line logged it, else
//!   the envelope sender (Elastic does the same for MTA logs); `email.sender.address` is the header
//!   `Sender:` when logged, else the envelope sender. The null sender `<>` sets neither.
//! - `email.to.address` lists every distinct recipient the message was addressed to: delivery
//!   `to=` and `orig_to=` (the address the sender wrote, before alias expansion), and recipients of
//!   checks and rejects.
//! - `event.action` is the last delivery status (`sent`, `deferred`, `bounced`, `expired`, ...), or
//!   the verdict that stopped the message (`reject`, `discard`, `milter-reject`, ...).
//!   `event.outcome` is `failure` when any recipient bounced or expired or a verdict refused the
//!   message or a recipient, `success` when every delivery was `sent` and none is left deferred,
//!   `unknown` otherwise.
//! - A verdict with a queue id (`4A1B2C: reject: RCPT from ...`) is folded into its message. At
//!   the RCPT/VRFY/ETRN stage it refuses one recipient and the message goes on; at any other
//!   stage (DATA, BDAT, END-OF-MESSAGE, or a `header_checks`/`body_checks` REJECT or DISCARD) it
//!   ends the message, which never reaches the queue and never logs `removed`, so the message is
//!   emitted then.
//! - `source.*` is the SMTP client (`client=`), or the original client behind a content filter
//!   (`orig_client=`) when logged; `destination.*` is the last relay a delivery went to.
//! - `email.direction` is left unset: Postfix does not say which networks are internal.
//! - Header values are decoded from RFC 2047 encoded words (UTF-8, US-ASCII, ISO-8859-1).
//!   URLs are taken from `body_checks` lines only, as that is where the links of a message
//!   appear: the lines of one message go through one [`BodyDecoder`], which joins quoted-printable
//!   soft breaks, decodes `=XX` escapes, base64 parts and HTML's `&amp;`, so that a link split
//!   across lines or hidden by base64 is found whole, once.
//! - An assembled message's `@timestamp` is the time of its first line that has one.
//!   `flush(Some(t))` emits the messages opened before `t`.
//!
//! Never panics; single-line events borrow every field from the line, assembled messages own their
//! strings.

use std::borrow::Cow;
use std::collections::HashMap;

use jiff::Timestamp;

use super::assemble::{Assembler, AssemblyStats};
use super::body::{BodyDecoder, decode_base64};
use super::common::{find_any, find_byte, find_str, parse_u16, parse_u64, rfind_str, strip_angle};
use super::mail::{HostSpec, mailbox_address, mailbox_name, owned, push_recipient, set_endpoint, set_owned};
use super::syslog::SyslogHeader;
use super::{FormatInfo, Line, LineParser, ParseContext, ParseError, Parsed, fail};
use crate::event::{Dataset, Endpoint, Event, Field, FieldSet};

const DATASET: Dataset = Dataset::PostfixLog;

// What the lines of a message record, for Sigma's `''` (the line is there, its value empty) as
// against `null` (no line said): the envelope sender (`from=<>` is the null sender), the SMTP
// client, a recipient, the Message-ID, the size, a logged Subject header.
const ENVELOPE_SENDER: FieldSet = FieldSet::of(&[Field::EmailFromAddress, Field::EmailSenderAddress]);
const CLIENT: FieldSet = FieldSet::of(&[Field::SourceAddress, Field::SourceIp, Field::SourceDomain]);

pub static INFO: FormatInfo = FormatInfo {
    name: "postfix",
    datasets: &[DATASET],
    line_independent: false,
    description: "Postfix MTA syslog lines: one event per message (assembled by queue id) and one per NOQUEUE reject",
    example: "Mar  4 09:12:44 mx1 postfix/smtpd[2231]: NOQUEUE: reject: RCPT from unknown[198.51.100.23]: 554 5.7.1 \
              <ceo@corp.example>: Relay access denied; from=<probe@mailer.example> to=<ceo@corp.example> \
              proto=ESMTP helo=<mailer.example>",
};

pub struct PostfixParser {
    asm: Assembler,
    /// Per-message state that has no Event field, keyed by queue id; dropped when the message is
    /// handed out.
    state: HashMap<String, MessageState>,
}

/// What a message needs beyond its Event to decide `email.from`/`email.sender` and the outcome.
#[derive(Debug, Default)]
struct MessageState {
    header_from: bool,
    header_sender: bool,
    sent: bool,
    failed: bool,
    /// Recipients whose last delivery attempt was deferred.
    deferred: Vec<String>,
    /// Quoted-printable lines joined across soft breaks, base64 runs decoded.
    body: BodyDecoder,
}

impl MessageState {
    fn outcome(&self) -> &'static str {
        if self.failed {
            "failure"
        } else if self.sent && self.deferred.is_empty() {
            "success"
        } else {
            "unknown"
        }
    }
}

impl PostfixParser {
    pub fn new(ctx: &ParseContext) -> Self {
        PostfixParser {
            asm: Assembler::new(DATASET, ctx),
            state: HashMap::new(),
        }
    }

    /// Folds one queue-id line into its message; completes the message when the line ends it.
    fn fold(&mut self, id: &str, msg: QueueMsg<'_>, line: &Line<'_>, hdr: Option<SyslogHeader<'_>>) {
        let ts = hdr.and_then(|h| h.timestamp);
        let ev = self.asm.line(id, line, ts);
        if ev.timestamp.is_none() {
            ev.timestamp = ts;
        }
        if ev.host.hostname.is_none() {
            ev.host.hostname = hdr.and_then(|h| h.hostname).map(owned);
        }
        let done = match self.state.get_mut(id) {
            Some(st) => apply(ev, st, msg),
            None => {
                let mut st = MessageState::default();
                let done = apply(ev, &mut st, msg);
                self.state.insert(id.to_owned(), st);
                done
            }
        };
        if done {
            self.asm.complete(id);
        }
    }
}

impl LineParser for PostfixParser {
    fn parse<'a>(&mut self, line: &Line<'a>, event: &mut Event<'a>) -> Result<Parsed, ParseError> {
        let (hdr, body) = (line.syslog, line.body);
        let from_postfix = match hdr.and_then(|h| h.app) {
            Some(app) if is_postfix_app(app) => true,
            Some(_) => return Ok(Parsed::OtherProgram),
            None => false,
        };
        if let Some((id, rest)) = split_queue_id(body, from_postfix) {
            let msg = match QueueMsg::parse(rest) {
                Some(m) => m,
                None if from_postfix => QueueMsg::Other,
                None => return fail("not a known Postfix message"),
            };
            // Folding the line also expires messages past the timeout.
            self.fold(id, msg, line, hdr);
            return Ok(Parsed::Absorbed);
        }
        if let Some(now) = hdr.and_then(|h| h.timestamp) {
            self.asm.expire(now);
        }
        if let Some(rest) = body.strip_prefix("NOQUEUE: ") {
            let Some(v) = Verdict::parse(rest) else {
                return Ok(Parsed::Absorbed);
            };
            event.set_dataset(DATASET);
            if let Some(h) = hdr {
                event.timestamp = h.timestamp;
                event.host.hostname = h.hostname.map(Cow::Borrowed);
                event.process.name = h.app.map(Cow::Borrowed);
                event.process.pid = h.pid;
            }
            event.event.action = Some(Cow::Borrowed(v.action));
            event.event.outcome = Some(Cow::Borrowed(if is_refusal(v.action) { "failure" } else { "unknown" }));
            if let Some(c) = &v.client {
                set_endpoint(&mut event.source, c, Cow::Borrowed);
                event.recorded |= CLIENT;
            }
            if v.env.from.is_some() {
                event.recorded |= ENVELOPE_SENDER;
            }
            if v.env.to.is_some() {
                event.recorded.insert(Field::EmailToAddress);
            }
            if let Some(from) = v.env.from.filter(|f| !f.is_empty()) {
                event.email.from.address = Some(Cow::Borrowed(from));
                event.email.sender.address = Some(Cow::Borrowed(from));
            }
            if let Some(to) = v.env.to.filter(|t| !t.is_empty()) {
                event.email.to.address.push(Cow::Borrowed(to));
            }
            return Ok(Parsed::Event);
        }
        if from_postfix || is_known_bare_message(body) {
            return Ok(Parsed::Absorbed);
        }
        fail("not a known Postfix message")
    }

    fn flush(&mut self, now: Option<Timestamp>) {
        self.asm.flush(now);
    }

    fn take_completed(&mut self) -> Option<Event<'static>> {
        let mut ev = self.asm.take()?;
        let mut st = ev.email.local_id.as_deref().and_then(|id| self.state.remove(id));
        if let Some(st) = &mut st {
            // A soft-broken line or base64 run still open at the message's end.
            st.body.finish(&mut ev.email.urls);
        }
        let outcome = st.as_ref().map_or("unknown", MessageState::outcome);
        ev.event.outcome = Some(Cow::Borrowed(outcome));
        Some(ev)
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

/// The queue id a line would be folded into a message under, if any: what keeps one message's
/// lines together when a broker spreads a mail log over workers (`broker::route`). `None` for a
/// line the parser would not fold (another program's, NOQUEUE, a connection line).
pub(crate) fn queue_id<'a>(line: &Line<'a>) -> Option<&'a str> {
    let from_postfix = match line.syslog.and_then(|h| h.app) {
        Some(app) => is_postfix_app(app),
        None => false,
    };
    if line.syslog.is_some_and(|h| h.app.is_some()) && !from_postfix {
        return None;
    }
    split_queue_id(line.body, from_postfix).map(|(id, _)| id)
}

/// `postfix/smtpd`, `postfix`, `postfix-out/qmgr`, ...
fn is_postfix_app(app: &str) -> bool {
    app.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("postfix"))
}

/// Splits `QUEUEID: rest`. Short ids are upper-case hex; long ids are base-52 with a `z` after
/// the time part. Without a Postfix syslog header an id must also hold a digit, so that words
/// such as `DECADE:` are not taken for one (all-letter hex ids are rare but do occur).
fn split_queue_id(body: &str, from_postfix: bool) -> Option<(&str, &str)> {
    let colon = memchr::memchr(b':', &body.as_bytes()[..body.len().min(40)])?;
    let id = &body[..colon];
    if !is_queue_id(id) || !(from_postfix || id.bytes().any(|b| b.is_ascii_digit())) {
        return None;
    }
    let rest = &body[colon + 1..];
    if rest.is_empty() {
        return Some((id, rest));
    }
    Some((id, rest.strip_prefix(' ')?))
}

fn is_queue_id(id: &str) -> bool {
    let b = id.as_bytes();
    if !(5..=32).contains(&b.len()) {
        return false;
    }
    if b.iter().all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c)) {
        return true;
    }
    b.len() >= 12 && b.iter().all(u8::is_ascii_alphanumeric) && b[10..].contains(&b'z')
}

/// A Postfix message without a syslog header, for the forms that name no queue id.
fn is_known_bare_message(body: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "connect from ",
        "disconnect from ",
        "lost connection after ",
        "timeout after ",
        "too many errors after ",
        "improper command pipelining after ",
        "warning: ",
        "fatal: ",
        "panic: ",
        "error: ",
        "statistics: ",
        "daemon started -- ",
        "terminating on signal ",
        "reload -- ",
        "starting the Postfix mail system",
        "stopping the Postfix mail system",
        "refreshing the Postfix mail system",
        "CONNECT from [",
        "DISCONNECT [",
        "PASS OLD [",
        "PASS NEW [",
        "WHITELISTED [",
        "BLACKLISTED [",
        "ALLOWLISTED [",
        "DENYLISTED [",
        "WHITELIST VETO [",
        "ALLOWLIST VETO [",
        "PREGREET ",
        "DNSBL rank ",
        "HANGUP after ",
        "COMMAND TIME LIMIT from [",
        "COMMAND COUNT LIMIT from [",
        "COMMAND LENGTH LIMIT from [",
        "COMMAND PIPELINING from [",
        "NON-SMTP COMMAND from [",
        "BARE NEWLINE from [",
        "bare <LF> received after ",
        "Deleted: ",
        "Requeued: ",
        "Placed on hold: ",
        "Released from hold: ",
        "Anonymous TLS connection established ",
        "Untrusted TLS connection established ",
        "Trusted TLS connection established ",
        "Verified TLS connection established ",
        "setting up TLS connection ",
        "connect to ",
        "certificate verification failed for ",
        "SSL_connect error to ",
        "SSL_accept error from ",
        "proxy-accept: ",
        "proxy-reject: ",
        "discarding EHLO keywords: ",
    ];
    PREFIXES.iter().any(|p| body.starts_with(p))
        // dnsblog
        || (body.starts_with("addr ") && body.contains(" listed by domain "))
        // postscreen/verify cache maintenance
        || (body.starts_with("cache ") && body.contains(" cleanup: retained="))
}

/// Verdicts that refuse a message or recipient.
fn is_refusal(action: &str) -> bool {
    matches!(
        action,
        "reject" | "discard" | "milter-reject" | "milter-discard" | "proxy-reject"
    )
}

/// `word: ` at the start of `s` (an action such as `reject`, `milter-reject`, `warning`).
fn action_word(s: &str) -> Option<(&str, &str)> {
    let i = find_str(s, ": ")?;
    let word = &s[..i];
    let ok =
        !word.is_empty() && word.len() <= 32 && word.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_');
    ok.then(|| (word, &s[i + 2..]))
}

/// `s` unless it is empty or `unknown`.
fn known(s: &str) -> Option<&str> {
    (!s.is_empty() && s != "unknown").then_some(s)
}

/// Parses an SMTP client or relay as Postfix writes it at the start of `s` (`host[ip]`,
/// `host[ip]:port` or `[ip]:port`; `unknown` names nothing); returns it and the text after it.
fn parse_client(s: &str) -> Option<(HostSpec<'_>, &str)> {
    let open = find_byte(s.as_bytes(), b'[')?;
    let close = open + find_byte(&s.as_bytes()[open..], b']')?;
    let host = &s[..open];
    if find_byte(host.as_bytes(), b' ').is_some() {
        return None;
    }
    let addr = &s[open + 1..close];
    let mut rest = &s[close + 1..];
    let mut port = None;
    if let Some(after) = rest.strip_prefix(':') {
        let n = after.bytes().take_while(u8::is_ascii_digit).count();
        if n > 0 {
            port = parse_u16(&after[..n]);
            rest = &after[n..];
        }
    }
    let client = HostSpec {
        name: known(host),
        ip: known(addr),
        port,
        ..HostSpec::default()
    };
    Some((client, rest))
}

/// The `from=<...> to=<...>` envelope a verdict or check logs after `; `.
#[derive(Debug, Default, Clone, Copy)]
struct Envelope<'a> {
    from: Option<&'a str>,
    to: Option<&'a str>,
}

impl<'a> Envelope<'a> {
    /// Reads `from=<a> to=<b> proto=ESMTP helo=<h>` (space- or comma-separated, as smtpd and
    /// postscreen write it); stops at the first text that is not `key=value`.
    fn parse(mut s: &'a str) -> Self {
        let mut env = Envelope::default();
        while let Some((key, value)) = next_kv(&mut s) {
            match key {
                "from" => env.from = Some(value),
                "to" => env.to = Some(value),
                _ => {}
            }
        }
        env
    }
}

/// `key=` after any spaces and commas: the key and the text after the `=`.
fn key_at(s: &str) -> Option<(&str, &str)> {
    let t = s.trim_start_matches([' ', ',']);
    let eq = find_byte(t.as_bytes(), b'=')?;
    let key = &t[..eq];
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return None;
    }
    Some((key, &t[eq + 1..]))
}

/// The next `key=value` or `key=<value>` separated by spaces or commas.
fn next_kv<'a>(s: &mut &'a str) -> Option<(&'a str, &'a str)> {
    let (key, v) = key_at(s)?;
    if let Some(inner) = v.strip_prefix('<') {
        // The closing `>` is the one followed by a separator or the end (addresses may hold `>`
        // only in odd quoted forms).
        let b = inner.as_bytes();
        let mut from = 0;
        loop {
            let j = from + memchr::memchr(b'>', &b[from..])?;
            if matches!(b.get(j + 1), None | Some(b' ' | b',' | b':' | b';')) {
                *s = &inner[j + 1..];
                return Some((key, &inner[..j]));
            }
            from = j + 1;
        }
    }
    let end = find_any(v.as_bytes(), [b' ', b',', b';']).unwrap_or(v.len());
    *s = &v[end..];
    Some((key, &v[..end]))
}

/// The next `key=value` of a comma-separated list (`to=<a>, relay=x, delay=1`); a value runs to
/// the next `, ` (an angle-bracketed one to its `>`).
fn next_ckv<'a>(s: &mut &'a str) -> Option<(&'a str, &'a str)> {
    let (key, v) = key_at(s)?;
    if let Some(inner) = v.strip_prefix('<') {
        return match find_str(inner, ">, ") {
            Some(j) => {
                *s = &inner[j + 3..];
                Some((key, &inner[..j]))
            }
            None => {
                let j = inner.rfind('>').unwrap_or(inner.len());
                *s = inner.get(j + 1..).unwrap_or("");
                Some((key, &inner[..j]))
            }
        };
    }
    let end = find_str(v, ", ").unwrap_or(v.len());
    *s = &v[end..];
    Some((key, &v[..end]))
}

/// An smtpd/postscreen/milter verdict: `ACTION: STAGE from CLIENT: reply; from=<a> to=<b> ...`,
/// or `ACTION: STAGE: reply; ...` (before-queue proxy).
#[derive(Debug)]
struct Verdict<'a> {
    action: &'a str,
    stage: &'a str,
    client: Option<HostSpec<'a>>,
    env: Envelope<'a>,
}

impl<'a> Verdict<'a> {
    fn parse(s: &'a str) -> Option<Self> {
        let (action, rest) = action_word(s)?;
        let sp = rest.find([' ', ':'])?;
        let stage = &rest[..sp];
        if stage.is_empty() || !stage.bytes().all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'.') {
            return None;
        }
        let after = &rest[sp..];
        let (client, text) = if let Some(c) = after.strip_prefix(" from ") {
            let (client, r) = parse_client(c)?;
            (Some(client), r.strip_prefix(':')?)
        } else {
            (None, after.strip_prefix(':')?)
        };
        let tail = ["; from=<", "; to=<", "; proto="]
            .iter()
            .find_map(|m| find_str(text, m))
            .map_or("", |i| &text[i + 2..]);
        Some(Verdict {
            action,
            stage,
            client,
            env: Envelope::parse(tail),
        })
    }

    /// A verdict at these stages concerns one recipient; at any other, the whole message.
    fn is_per_recipient(&self) -> bool {
        matches!(self.stage, "RCPT" | "VRFY" | "ETRN")
    }
}

/// A cleanup `header_checks`/`body_checks`/milter line:
/// `ACTION: header NAME: VALUE from CLIENT; from=<a> to=<b> proto=P helo=<h>[: text]`.
#[derive(Debug)]
struct Check<'a> {
    action: &'a str,
    body: bool,
    content: &'a str,
    client: Option<HostSpec<'a>>,
    env: Envelope<'a>,
}

impl<'a> Check<'a> {
    fn parse(s: &'a str) -> Option<Self> {
        let (action, rest) = action_word(s)?;
        let (body, rest) = if let Some(r) = rest.strip_prefix("header ") {
            (false, r)
        } else if let Some(r) = rest.strip_prefix("body ") {
            (true, r)
        } else {
            return None;
        };
        // The logged content (up to 200 bytes, written by the sender) may itself hold `; from=<`:
        // take the first one preceded by ` from CLIENT`.
        let mut search = 0;
        while let Some(i) = find_str(&rest[search..], "; from=<") {
            let semi = search + i;
            let before = &rest[..semi];
            if let Some(f) = rfind_str(before, " from ") {
                let who = &before[f + 6..];
                let client = match parse_client(who) {
                    Some((c, "")) => Some(c),
                    _ if who == "local" => None,
                    _ => {
                        search = semi + 1;
                        continue;
                    }
                };
                return Some(Check {
                    action,
                    body,
                    content: &before[..f],
                    client,
                    env: Envelope::parse(&rest[semi + 2..]),
                });
            }
            search = semi + 1;
        }
        Some(Check {
            action,
            body,
            content: rest,
            client: None,
            env: Envelope::default(),
        })
    }
}

/// A delivery agent's `to=<a>, [orig_to=<b>,] relay=..., delay=..., ..., status=WORD (text)`.
#[derive(Debug, Default)]
struct Delivery<'a> {
    to: &'a str,
    orig_to: Option<&'a str>,
    relay: Option<&'a str>,
    delay: Option<&'a str>,
    status: &'a str,
}

impl<'a> Delivery<'a> {
    fn parse(mut s: &'a str) -> Option<Self> {
        let mut d = Delivery::default();
        while let Some((key, value)) = next_ckv(&mut s) {
            match key {
                "to" => d.to = value,
                "orig_to" => d.orig_to = Some(value),
                "relay" => d.relay = Some(value),
                "delay" => d.delay = Some(value),
                "status" => {
                    d.status = value.split(' ').next().unwrap_or(value);
                    break;
                }
                _ => {}
            }
        }
        (!d.status.is_empty()).then_some(d)
    }
}

/// One line that names a queue id, parsed.
#[derive(Debug)]
enum QueueMsg<'a> {
    Removed,
    Client {
        client: Option<HostSpec<'a>>,
        orig_client: Option<HostSpec<'a>>,
        sasl_username: Option<&'a str>,
    },
    MessageId(&'a str),
    ResentMessageId(&'a str),
    /// pickup `uid=N from=<a>` and qmgr `from=<a>, size=N, nrcpt=N (queue active)`.
    Sender {
        from: &'a str,
        size: Option<u64>,
    },
    /// qmgr `from=<a>, status=expired, returned to sender`.
    Expired {
        from: &'a str,
    },
    Delivery(Delivery<'a>),
    Check(Check<'a>),
    Verdict(Verdict<'a>),
    /// The SMTP/LMTP client's report on the server it delivers to (`host H[ip] said: ...`,
    /// `lost connection with H[ip] ...`).
    Remote(Option<HostSpec<'a>>),
    /// Recognised; nothing to take.
    Other,
}

impl<'a> QueueMsg<'a> {
    /// `None` when `s` is no known form (the caller decides whether to absorb it anyway).
    fn parse(s: &'a str) -> Option<Self> {
        const OTHER: &[&str] = &[
            "requeued",
            "placed on hold",
            "released from hold",
            "skipped, ",
            "sender non-delivery notification: ",
            "sender delivery status notification: ",
            "sender delay notification: ",
            "postmaster non-delivery notification: ",
        ];
        if s == "removed" {
            return Some(QueueMsg::Removed);
        }
        if let Some(v) = s.strip_prefix("message-id=") {
            return Some(QueueMsg::MessageId(strip_angle(v)));
        }
        if let Some(v) = s.strip_prefix("resent-message-id=") {
            return Some(QueueMsg::ResentMessageId(strip_angle(v)));
        }
        if s.starts_with("client=") {
            let mut rest = s;
            let (mut client, mut orig_client, mut sasl_username) = (None, None, None);
            while let Some((key, value)) = next_ckv(&mut rest) {
                match key {
                    "client" => client = parse_client(value).map(|(c, _)| c),
                    "orig_client" => orig_client = parse_client(value).map(|(c, _)| c),
                    "sasl_username" => sasl_username = Some(value),
                    _ => {}
                }
            }
            return Some(QueueMsg::Client {
                client,
                orig_client,
                sasl_username,
            });
        }
        if s.starts_with("uid=") {
            let from = s.find(" from=").map_or("", |i| strip_angle(&s[i + 6..]));
            return Some(QueueMsg::Sender { from, size: None });
        }
        if s.starts_with("from=") {
            let mut rest = s;
            let (mut from, mut size, mut expired) = ("", None, false);
            while let Some((key, value)) = next_ckv(&mut rest) {
                match key {
                    "from" => from = value,
                    "size" => size = parse_u64(value),
                    "status" => expired = value == "expired",
                    _ => {}
                }
            }
            return Some(if expired {
                QueueMsg::Expired { from }
            } else {
                QueueMsg::Sender { from, size }
            });
        }
        if s.starts_with("to=")
            && let Some(d) = Delivery::parse(s)
        {
            return Some(QueueMsg::Delivery(d));
        }
        // Comparing first bytes before whole prefixes spares most lines (cleanup's `info: header
        // ...`) a dozen calls to memcmp.
        let first = s.as_bytes().first().copied();
        let starts = |p: &&str| p.as_bytes().first().copied() == first && s.starts_with(*p);
        if OTHER.iter().any(&starts) {
            return Some(QueueMsg::Other);
        }
        const REMOTE: &[&str] = &[
            "host ",
            "lost connection with ",
            "conversation with ",
            "SASL authentication failed; server ",
        ];
        if let Some(r) = REMOTE.iter().filter(|p| starts(p)).find_map(|p| s.strip_prefix(p)) {
            return Some(QueueMsg::Remote(parse_client(r).map(|(c, _)| c)));
        }
        if let Some(r) = s.strip_prefix("enabling PIX workarounds: ") {
            let server = r.find(" for ").and_then(|i| parse_client(&r[i + 5..]));
            return Some(QueueMsg::Remote(server.map(|(c, _)| c)));
        }
        if let Some(c) = Check::parse(s) {
            return Some(QueueMsg::Check(c));
        }
        if let Some(v) = Verdict::parse(s) {
            return Some(QueueMsg::Verdict(v));
        }
        action_word(s).map(|_| QueueMsg::Other)
    }
}

/// Folds one parsed line into its message. Returns true when the line ends the message.
fn apply(ev: &mut Event<'static>, st: &mut MessageState, msg: QueueMsg<'_>) -> bool {
    match msg {
        QueueMsg::Removed => return true,
        QueueMsg::Client {
            client,
            orig_client,
            sasl_username,
        } => {
            // Behind a content filter the real client is `orig_client`.
            if let Some(c) = orig_client.or(client) {
                set_endpoint(&mut ev.source, &c, owned);
                ev.recorded |= CLIENT;
            }
            if let Some(u) = sasl_username.filter(|u| !u.is_empty()) {
                ev.user.name = Some(owned(u));
            }
        }
        QueueMsg::MessageId(id) => {
            ev.recorded.insert(Field::EmailMessageId);
            if !id.is_empty() {
                ev.email.message_id = Some(owned(id));
            }
        }
        QueueMsg::ResentMessageId(id) => {
            if ev.email.message_id.is_none() && !id.is_empty() {
                ev.email.message_id = Some(owned(id));
            }
        }
        QueueMsg::Sender { from, size } => {
            envelope_sender(ev, st, from);
            if size.is_some() {
                ev.email.size = size;
                ev.recorded.insert(Field::EmailSize);
            }
        }
        QueueMsg::Expired { from } => {
            envelope_sender(ev, st, from);
            st.failed = true;
            ev.event.action = Some(Cow::Borrowed("expired"));
        }
        QueueMsg::Delivery(d) => {
            add_recipient(ev, d.to);
            if let Some(o) = d.orig_to {
                add_recipient(ev, o);
            }
            if let Some((c, _)) = d.relay.and_then(parse_client) {
                ev.destination = Endpoint::default();
                set_endpoint(&mut ev.destination, &c, owned);
            }
            if let Some(ns) = d.delay.and_then(|s| s.parse::<f64>().ok()).and_then(seconds_to_nanos) {
                ev.event.duration = Some(ev.event.duration.map_or(ns, |d| d.max(ns)));
            }
            let to = strip_angle(d.to);
            st.deferred.retain(|r| r != to);
            match d.status {
                "sent" => st.sent = true,
                "deferred" => st.deferred.push(to.to_owned()),
                "bounced" | "expired" => st.failed = true,
                s if s.starts_with("undeliverable") => st.failed = true,
                _ => {}
            }
            set_owned(&mut ev.event.action, d.status);
        }
        QueueMsg::Check(c) => {
            envelope_and_client(ev, st, &c.env, c.client.as_ref());
            if c.body {
                st.body.line(c.content, &mut ev.email.urls);
            } else {
                header(ev, st, c.content);
            }
            if is_refusal(c.action) {
                st.failed = true;
                set_owned(&mut ev.event.action, c.action);
                return true;
            }
        }
        QueueMsg::Verdict(v) => {
            envelope_and_client(ev, st, &v.env, v.client.as_ref());
            if is_refusal(v.action) {
                st.failed = true;
                set_owned(&mut ev.event.action, v.action);
                return !v.is_per_recipient();
            }
        }
        QueueMsg::Remote(server) => {
            // The delivery line that follows names its relay, which wins.
            if let Some(c) = server.filter(|_| ev.destination.is_empty()) {
                set_endpoint(&mut ev.destination, &c, owned);
            }
        }
        QueueMsg::Other => {}
    }
    false
}

fn seconds_to_nanos(s: f64) -> Option<u64> {
    (0.0..1e9).contains(&s).then(|| (s * 1e9).round() as u64)
}

/// The envelope and client a check or verdict logged; the client only when none is known yet.
fn envelope_and_client(ev: &mut Event<'static>, st: &MessageState, env: &Envelope<'_>, client: Option<&HostSpec<'_>>) {
    if let Some(from) = env.from {
        envelope_sender(ev, st, from);
    }
    if let Some(to) = env.to {
        add_recipient(ev, to);
    }
    if let Some(c) = client.filter(|_| ev.source.is_empty()) {
        set_endpoint(&mut ev.source, c, owned);
    }
}

fn envelope_sender(ev: &mut Event<'static>, st: &MessageState, from: &str) {
    ev.recorded |= ENVELOPE_SENDER;
    let from = strip_angle(from);
    if from.is_empty() {
        return;
    }
    if !st.header_from {
        set_owned(&mut ev.email.from.address, from);
    }
    if !st.header_sender {
        set_owned(&mut ev.email.sender.address, from);
    }
}

fn add_recipient(ev: &mut Event<'static>, to: &str) {
    ev.recorded.insert(Field::EmailToAddress);
    push_recipient(ev, strip_angle(to));
}

/// One logged header (`Name: value`, value possibly cut at 200 bytes) into its email field.
fn header(ev: &mut Event<'static>, st: &mut MessageState, content: &str) {
    let Some((name, value)) = content.split_once(':') else {
        return;
    };
    let (name, value) = (name.trim(), value.trim());
    st.body.header(name, value, &mut ev.email.urls);
    let is = |n: &str| name.eq_ignore_ascii_case(n);
    if is("subject") {
        ev.email.subject = Some(Cow::Owned(decode_words(value).into_owned()));
        ev.recorded.insert(Field::EmailSubject);
    } else if is("from") {
        if let Some(a) = mailbox_address(value) {
            ev.email.from.address = Some(owned(a));
            ev.email.from.name = mailbox_name(value).map(|n| Cow::Owned(decode_words(&n).into_owned()));
            st.header_from = true;
        }
    } else if is("sender") {
        if let Some(a) = mailbox_address(value) {
            ev.email.sender.address = Some(owned(a));
            st.header_sender = true;
        }
    } else if is("reply-to") {
        if let Some(a) = mailbox_address(value) {
            ev.email.reply_to.address = Some(owned(a));
        }
    } else if is("x-mailer") || is("user-agent") {
        ev.email.x_mailer = Some(Cow::Owned(decode_words(value).into_owned()));
    } else if is("message-id") && ev.email.message_id.is_none() {
        let id = strip_angle(value);
        if !id.is_empty() {
            ev.email.message_id = Some(owned(id));
        }
    }
}

/// Decodes RFC 2047 encoded words (`=?utf-8?Q?Gr=C3=BC=C3=9Fe?=`) in UTF-8, US-ASCII and
/// ISO-8859-1; other charsets and malformed words are kept as written. Space between two encoded
/// words is dropped, and adjacent words of one charset are joined before decoding, since a
/// character may be split across them.
fn decode_words(s: &str) -> Cow<'_, str> {
    if !s.contains("=?") {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut pending: Vec<u8> = Vec::new();
    let mut pending_latin1 = false;
    let mut rest = s;
    let mut after_word = false;
    while let Some(i) = rest.find("=?") {
        let before = &rest[..i];
        match encoded_word(&rest[i..]) {
            Some((latin1, bytes, used)) => {
                let joins = after_word && before.bytes().all(|c| c == b' ' || c == b'\t');
                if !joins || latin1 != pending_latin1 {
                    flush_decoded(&mut out, &mut pending, pending_latin1);
                }
                if !joins {
                    out.push_str(before);
                }
                pending.extend_from_slice(&bytes);
                pending_latin1 = latin1;
                after_word = true;
                rest = &rest[i + used..];
            }
            None => {
                flush_decoded(&mut out, &mut pending, pending_latin1);
                out.push_str(&rest[..i + 2]);
                rest = &rest[i + 2..];
                after_word = false;
            }
        }
    }
    flush_decoded(&mut out, &mut pending, pending_latin1);
    out.push_str(rest);
    Cow::Owned(out)
}

fn flush_decoded(out: &mut String, pending: &mut Vec<u8>, latin1: bool) {
    if latin1 {
        out.extend(pending.iter().map(|&b| b as char));
    } else {
        out.push_str(&String::from_utf8_lossy(pending));
    }
    pending.clear();
}

/// One encoded word at the start of `s`: (is ISO-8859-1, decoded bytes, length used).
fn encoded_word(s: &str) -> Option<(bool, Vec<u8>, usize)> {
    let inner = s.strip_prefix("=?")?;
    let q1 = inner.find('?')?;
    // A charset may carry an RFC 2231 language (`utf-8*en`).
    let charset = inner[..q1].split('*').next().unwrap_or("");
    let latin1 = if ["utf-8", "utf8", "us-ascii"]
        .iter()
        .any(|c| charset.eq_ignore_ascii_case(c))
    {
        false
    } else if ["iso-8859-1", "latin1"].iter().any(|c| charset.eq_ignore_ascii_case(c)) {
        true
    } else {
        return None;
    };
    let after = &inner[q1 + 1..];
    let enc = *after.as_bytes().first()?;
    let text_start = after.get(1..)?.strip_prefix('?')?;
    let end = text_start.find("?=")?;
    let text = &text_start[..end];
    if text.contains([' ', '\t']) {
        return None;
    }
    let bytes = match enc.to_ascii_uppercase() {
        b'B' => {
            let mut out = Vec::with_capacity(text.len() * 3 / 4);
            decode_base64(text.as_bytes(), &mut out).then_some(out)?
        }
        b'Q' => quoted(text)?,
        _ => return None,
    };
    let used = 2 + q1 + 1 + 2 + end + 2;
    Some((latin1, bytes, used))
}

fn quoted(text: &str) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::detect::{self, Framing};
    use crate::parse::syslog::YearHint;
    use crate::parse::{Format, LineParser};

    fn ctx() -> ParseContext {
        ParseContext {
            reference_time: "2025-06-30T00:00:00Z".parse().unwrap(),
            ..Default::default()
        }
    }

    /// What the pipeline does: frame each line, parse it, drain finished messages; flush at the
    /// end. Returns each line's result and every event (single-line ones included, in order).
    fn run(lines: &[&str]) -> (Vec<Result<Parsed, ParseError>>, Vec<Event<'static>>) {
        run_with(&mut PostfixParser::new(&ctx()), lines, true)
    }

    fn run_with(
        p: &mut PostfixParser,
        lines: &[&str],
        flush: bool,
    ) -> (Vec<Result<Parsed, ParseError>>, Vec<Event<'static>>) {
        let hint = YearHint::new(&ctx());
        let (mut results, mut events) = (Vec::new(), Vec::new());
        for (i, raw) in lines.iter().enumerate() {
            let framing = Framing::sniff(raw);
            let line = framing.line(raw, i as u64 * 1000, i as u64 + 1, &hint);
            let mut ev = Event::default();
            let r = p.parse(&line, &mut ev);
            if r == Ok(Parsed::Event) {
                events.push(ev.into_owned());
            }
            results.push(r);
            events.extend(std::iter::from_fn(|| p.take_completed()));
        }
        if flush {
            p.flush(None);
            events.extend(std::iter::from_fn(|| p.take_completed()));
        }
        (results, events)
    }

    fn strs<'e>(v: &'e [Cow<'_, str>]) -> Vec<&'e str> {
        v.iter().map(|s| s.as_ref()).collect()
    }

    const LIFECYCLE: &[&str] = &[
        "Jun 12 10:01:02 mx1 postfix/smtpd[4411]: connect from mail.sender.example[203.0.113.7]",
        "Jun 12 10:01:03 mx1 postfix/smtpd[4411]: 3F2A1C0B7D: client=mail.sender.example[203.0.113.7]:51234, \
         sasl_method=PLAIN, sasl_username=alice",
        "Jun 12 10:01:03 mx1 postfix/cleanup[4413]: 3F2A1C0B7D: message-id=<20250612.abc123@sender.example>",
        "Jun 12 10:01:03 mx1 postfix/cleanup[4413]: 3F2A1C0B7D: warning: header Subject: Quarterly \
         =?utf-8?Q?r=C3=A9sum=C3=A9?= from Paris from mail.sender.example[203.0.113.7]; \
         from=<bounce-77@sender.example> to=<ceo@corp.example> proto=ESMTP helo=<mail.sender.example>",
        "Jun 12 10:01:03 mx1 postfix/cleanup[4413]: 3F2A1C0B7D: info: header From: \"Jane Roe\" \
         <jane@sender.example> from mail.sender.example[203.0.113.7]; from=<bounce-77@sender.example> \
         to=<ceo@corp.example> proto=ESMTP helo=<mail.sender.example>",
        "Jun 12 10:01:03 mx1 postfix/cleanup[4413]: 3F2A1C0B7D: info: header X-Mailer: PHPMailer 6.9.1 from \
         mail.sender.example[203.0.113.7]; from=<bounce-77@sender.example> to=<ceo@corp.example> proto=ESMTP \
         helo=<mail.sender.example>",
        "Jun 12 10:01:03 mx1 postfix/cleanup[4413]: 3F2A1C0B7D: warning: body <img \
         src=3D\"https://t.track.example/o.gif?u=3D81f2\" width=3D\"1\"> see https://docs.example/a.pdf. \
         from mail.sender.example[203.0.113.7]; from=<bounce-77@sender.example> to=<ceo@corp.example> \
         proto=ESMTP helo=<mail.sender.example>",
        "Jun 12 10:01:03 mx1 postfix/cleanup[4413]: 3F2A1C0B7D: warning: body again \
         https://t.track.example/o.gif?u=3D81f2 from mail.sender.example[203.0.113.7]; \
         from=<bounce-77@sender.example> to=<ceo@corp.example> proto=ESMTP helo=<mail.sender.example>",
        "Jun 12 10:01:04 mx1 postfix/qmgr[900]: 3F2A1C0B7D: from=<bounce-77@sender.example>, size=18231, \
         nrcpt=2 (queue active)",
        "Jun 12 10:01:04 mx1 postfix/smtpd[4411]: disconnect from mail.sender.example[203.0.113.7] ehlo=1 \
         mail=1 rcpt=2 data=1 quit=1 commands=6",
        "Jun 12 10:01:05 mx1 postfix/smtp[4420]: 3F2A1C0B7D: to=<jdoe@corp.example>, orig_to=<ceo@corp.example>, \
         relay=inbound.corp.example[192.0.2.25]:25, delay=1.6, delays=0.9/0.01/0.3/0.4, dsn=2.0.0, status=sent \
         (250 2.0.0 Ok: queued as 9D8E7F6A5B)",
        "Jun 12 10:01:05 mx1 postfix/lmtp[4421]: 3F2A1C0B7D: to=<cfo@corp.example>, \
         relay=store.corp.example[private/dovecot-lmtp], delay=1.8, delays=0.9/0.01/0.2/0.7, dsn=2.0.0, \
         status=sent (250 2.0.0 <cfo@corp.example> Saved)",
        "Jun 12 10:01:05 mx1 postfix/qmgr[900]: 3F2A1C0B7D: removed",
    ];

    #[test]
    fn full_lifecycle_is_one_event_with_every_field() {
        let mut p = PostfixParser::new(&ctx());
        let (results, events) = run_with(&mut p, LIFECYCLE, false);
        assert!(results.iter().all(|r| *r == Ok(Parsed::Absorbed)), "{results:?}");
        assert_eq!(events.len(), 1, "`removed` emits the message: {events:#?}");
        assert_eq!(p.assembly_stats(), AssemblyStats::default());
        let ev = &events[0];
        assert_eq!(ev.event.dataset.as_deref(), Some("postfix.log"));
        assert_eq!(ev.timestamp, Some("2025-06-12T10:01:03Z".parse().unwrap()));
        assert_eq!(ev.host.hostname.as_deref(), Some("mx1"));
        assert_eq!(ev.email.local_id.as_deref(), Some("3F2A1C0B7D"));
        assert_eq!(ev.source.domain.as_deref(), Some("mail.sender.example"));
        assert_eq!(ev.source.ip, Some("203.0.113.7".parse().unwrap()));
        assert_eq!(ev.source.port, Some(51234));
        assert_eq!(ev.user.name.as_deref(), Some("alice"));
        assert_eq!(ev.email.message_id.as_deref(), Some("20250612.abc123@sender.example"));
        assert_eq!(ev.email.subject.as_deref(), Some("Quarterly résumé from Paris"));
        assert_eq!(ev.email.from.address.as_deref(), Some("jane@sender.example"));
        assert_eq!(ev.email.from.name.as_deref(), Some("Jane Roe"));
        assert_eq!(ev.email.sender.address.as_deref(), Some("bounce-77@sender.example"));
        assert_eq!(ev.email.x_mailer.as_deref(), Some("PHPMailer 6.9.1"));
        assert_eq!(
            strs(&ev.email.urls),
            ["https://t.track.example/o.gif?u=81f2", "https://docs.example/a.pdf"]
        );
        assert_eq!(ev.email.size, Some(18231));
        assert_eq!(
            strs(&ev.email.to.address),
            ["ceo@corp.example", "jdoe@corp.example", "cfo@corp.example"]
        );
        assert_eq!(ev.destination.domain.as_deref(), Some("store.corp.example"));
        assert_eq!(ev.destination.address.as_deref(), Some("private/dovecot-lmtp"));
        assert_eq!(ev.destination.ip, None);
        assert_eq!(ev.event.action.as_deref(), Some("sent"));
        assert_eq!(ev.event.outcome.as_deref(), Some("success"));
        assert_eq!(ev.event.duration, Some(1_800_000_000));
        assert_eq!(ev.log.offset, Some(1000));
        let queue_lines: Vec<&str> = LIFECYCLE.iter().copied().filter(|l| l.contains("3F2A1C0B7D")).collect();
        assert_eq!(ev.event.original.as_deref(), Some(queue_lines.join("\n").as_str()));
    }

    #[test]
    fn interleaved_messages_stay_apart() {
        let lines = [
            "Jun 12 11:00:00 mx1 postfix/smtpd[1]: 1A2B3C4D5E: client=a.example[198.51.100.1]",
            "Jun 12 11:00:00 mx1 postfix/smtpd[2]: 4XyZ1b2cDfz9abc: client=b.example[198.51.100.2]",
            "Jun 12 11:00:01 mx1 postfix/qmgr[3]: 4XyZ1b2cDfz9abc: from=<b@b.example>, size=10, nrcpt=1 (queue active)",
            "Jun 12 11:00:01 mx1 postfix/qmgr[3]: 1A2B3C4D5E: from=<a@a.example>, size=20, nrcpt=1 (queue active)",
            "Jun 12 11:00:02 mx1 postfix/local[4]: 1A2B3C4D5E: to=<x@corp.example>, relay=local, delay=2, \
             delays=1/0/0/1, dsn=5.1.1, status=bounced (unknown user: \"x\")",
            "Jun 12 11:00:02 mx1 postfix/smtp[5]: 4XyZ1b2cDfz9abc: to=<y@corp.example>, relay=none, delay=2, \
             delays=1/0/1/0, dsn=4.4.1, status=deferred (connect to mx.corp.example[192.0.2.9]:25: Connection refused)",
            "Jun 12 11:00:03 mx1 postfix/qmgr[3]: 1A2B3C4D5E: removed",
        ];
        let (results, events) = run(&lines);
        assert!(results.iter().all(|r| *r == Ok(Parsed::Absorbed)));
        assert_eq!(events.len(), 2);
        let (a, b) = (&events[0], &events[1]);
        assert_eq!(a.email.local_id.as_deref(), Some("1A2B3C4D5E"));
        assert_eq!(a.email.from.address.as_deref(), Some("a@a.example"));
        assert_eq!(strs(&a.email.to.address), ["x@corp.example"]);
        assert_eq!(a.event.outcome.as_deref(), Some("failure"));
        assert_eq!(a.event.action.as_deref(), Some("bounced"));
        assert_eq!(a.email.size, Some(20));
        // Never removed: emitted at the end of input, with what it had.
        assert_eq!(b.email.local_id.as_deref(), Some("4XyZ1b2cDfz9abc"));
        assert_eq!(b.source.domain.as_deref(), Some("b.example"));
        assert_eq!(b.email.from.address.as_deref(), Some("b@b.example"));
        assert_eq!(b.event.outcome.as_deref(), Some("unknown"));
        assert_eq!(b.event.action.as_deref(), Some("deferred"));
        assert_eq!(b.event.original.as_deref().map(|o| o.lines().count()), Some(3));
    }

    #[test]
    fn deferred_then_sent_is_success() {
        let lines = [
            "Jun 12 11:00:02 mx1 postfix/smtp[5]: 0A1B2C3D4E: to=<y@corp.example>, relay=none, delay=2, \
             delays=1/0/1/0, dsn=4.4.1, status=deferred (connect to mx.corp.example[192.0.2.9]:25: Connection refused)",
            "Jun 12 11:05:02 mx1 postfix/smtp[5]: 0A1B2C3D4E: to=<y@corp.example>, \
             relay=mx.corp.example[192.0.2.9]:25, delay=300, delays=299/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)",
            "Jun 12 11:05:02 mx1 postfix/qmgr[3]: 0A1B2C3D4E: removed",
        ];
        let (_, events) = run(&lines);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event.outcome.as_deref(), Some("success"));
        assert_eq!(events[0].destination.ip, Some("192.0.2.9".parse().unwrap()));
        assert_eq!(events[0].destination.port, Some(25));
        assert_eq!(events[0].event.duration, Some(300_000_000_000));

        // One recipient sent, another still deferred when the input ends: not a success.
        let lines = [
            "Jun 12 11:00:02 mx1 postfix/smtp[5]: 1B2C3D4E5F: to=<a@corp.example>, relay=mx.corp.example[192.0.2.9]:25, \
             delay=1, delays=0.5/0/0.2/0.3, dsn=2.0.0, status=sent (250 ok)",
            "Jun 12 11:00:02 mx1 postfix/smtp[5]: 1B2C3D4E5F: to=<b@other.example>, relay=none, delay=1, \
             delays=1/0/0/0, dsn=4.4.1, status=deferred (connect to mx.other.example[192.0.2.10]:25: Connection refused)",
        ];
        let (_, events) = run(&lines);
        assert_eq!(events[0].event.outcome.as_deref(), Some("unknown"));
    }

    #[test]
    fn noqueue_reject_is_a_single_line_event() {
        let raw = "2025-03-02T08:15:30.120455+01:00 gw postfix/submission/smtpd[7781]: NOQUEUE: reject: RCPT from \
                   dyn-44.isp.example[2001:db8::44]: 554 5.7.1 <ceo@corp.example>: Relay access denied; \
                   from=<recon@lure.example> to=<ceo@corp.example> proto=ESMTP helo=<lure.example>";
        let (results, events) = run(&[raw]);
        assert_eq!(results, [Ok(Parsed::Event)]);
        let ev = &events[0];
        assert_eq!(ev.event.action.as_deref(), Some("reject"));
        assert_eq!(ev.event.outcome.as_deref(), Some("failure"));
        assert_eq!(ev.source.domain.as_deref(), Some("dyn-44.isp.example"));
        assert_eq!(ev.source.ip, Some("2001:db8::44".parse().unwrap()));
        assert_eq!(ev.email.from.address.as_deref(), Some("recon@lure.example"));
        assert_eq!(strs(&ev.email.to.address), ["ceo@corp.example"]);
        assert_eq!(ev.timestamp, Some("2025-03-02T07:15:30.120455Z".parse().unwrap()));
        assert_eq!(ev.process.name.as_deref(), Some("postfix/submission/smtpd"));
        assert_eq!(ev.email.local_id, None);
    }

    #[test]
    fn noqueue_variants() {
        // (body, action, outcome, source ip, source port, from, to)
        type Case<'c> = (
            &'c str,
            &'c str,
            &'c str,
            Option<&'c str>,
            Option<u16>,
            Option<&'c str>,
            &'c [&'c str],
        );
        let cases: &[Case] = &[
            (
                "NOQUEUE: milter-reject: RCPT from relay.example[192.0.2.80]: 451 4.7.1 Try again later; \
                 from=<n@news.example> to=<pa@corp.example> proto=ESMTP helo=<relay.example>",
                "milter-reject",
                "failure",
                Some("192.0.2.80"),
                None,
                Some("n@news.example"),
                &["pa@corp.example"],
            ),
            (
                "NOQUEUE: filter: RCPT from unknown[192.0.2.81]: <s@ads.example>: Sender address triggers FILTER \
                 smtp-amavis:[127.0.0.1]:10024; from=<s@ads.example> to=<hr@corp.example> proto=SMTP helo=<ads>",
                "filter",
                "unknown",
                Some("192.0.2.81"),
                None,
                Some("s@ads.example"),
                &["hr@corp.example"],
            ),
            (
                // postscreen: `[ip]:port` and comma-separated envelope
                "NOQUEUE: reject: RCPT from [192.0.2.82]:40211: 550 5.7.1 Service unavailable; client \
                 [192.0.2.82] blocked using bl.example; from=<x@y.example>, to=<ceo@corp.example>, proto=ESMTP, \
                 helo=<y.example>",
                "reject",
                "failure",
                Some("192.0.2.82"),
                Some(40211),
                Some("x@y.example"),
                &["ceo@corp.example"],
            ),
            (
                // null sender, VRFY without from=
                "NOQUEUE: reject: VRFY from unknown[192.0.2.83]: 550 5.1.1 <nobody@corp.example>: Recipient \
                 address rejected: User unknown; to=<nobody@corp.example> proto=SMTP helo=<probe>",
                "reject",
                "failure",
                Some("192.0.2.83"),
                None,
                None,
                &["nobody@corp.example"],
            ),
            (
                "NOQUEUE: reject: CONNECT from [192.0.2.84]:1337: too many connections",
                "reject",
                "failure",
                Some("192.0.2.84"),
                Some(1337),
                None,
                &[],
            ),
            (
                "NOQUEUE: reject_warning: RCPT from h.example[192.0.2.85]: 450 4.7.1 Client host rejected; \
                 from=<> to=<it@corp.example> proto=ESMTP helo=<h.example>",
                "reject_warning",
                "unknown",
                Some("192.0.2.85"),
                None,
                None,
                &["it@corp.example"],
            ),
            (
                "NOQUEUE: proxy-reject: END-OF-MESSAGE: 554 5.7.0 Reject, id=1234-05 - spam; \
                 from=<spam@bulk.example> to=<ceo@corp.example> proto=ESMTP helo=<bulk.example>",
                "proxy-reject",
                "failure",
                None,
                None,
                Some("spam@bulk.example"),
                &["ceo@corp.example"],
            ),
        ];
        for (body, action, outcome, ip, port, from, to) in cases {
            let (results, events) = run(&[body]);
            assert_eq!(results, [Ok(Parsed::Event)], "{body}");
            let ev = &events[0];
            assert_eq!(ev.event.action.as_deref(), Some(*action), "{body}");
            assert_eq!(ev.event.outcome.as_deref(), Some(*outcome), "{body}");
            assert_eq!(ev.source.ip, ip.map(|i| i.parse().unwrap()), "{body}");
            assert_eq!(ev.source.port, *port, "{body}");
            assert_eq!(ev.email.from.address.as_deref(), *from, "{body}");
            assert_eq!(strs(&ev.email.to.address), *to, "{body}");
        }
        // Recognised, but not a verdict.
        let (results, events) = run(&["NOQUEUE: lost connection after CONNECT from unknown[192.0.2.86]"]);
        assert_eq!(results, [Ok(Parsed::Absorbed)]);
        assert!(events.is_empty());
    }

    #[test]
    fn queued_verdicts_annotate_or_end_the_message() {
        let lines = [
            // A refused recipient: the message goes on.
            "Jun 12 12:00:00 mx1 postfix/smtpd[1]: 5E6F7A8B9C: reject: RCPT from h.example[192.0.2.5]: 550 5.1.1 \
             <gone@corp.example>: Recipient address rejected: User unknown; from=<a@h.example> \
             to=<gone@corp.example> proto=ESMTP helo=<h.example>",
            "Jun 12 12:00:01 mx1 postfix/smtp[2]: 5E6F7A8B9C: to=<ok@corp.example>, relay=x.example[192.0.2.6]:25, \
             delay=1, delays=0.5/0/0.2/0.3, dsn=2.0.0, status=sent (250 ok)",
            "Jun 12 12:00:01 mx1 postfix/qmgr[3]: 5E6F7A8B9C: removed",
            // A header_checks REJECT ends the message (no `removed` follows).
            "Jun 12 12:00:02 mx1 postfix/cleanup[4]: 6F7A8B9C0D: reject: header Subject: Invoice overdue from \
             h.example[192.0.2.5]; from=<a@h.example> to=<cfo@corp.example> proto=ESMTP helo=<h.example>: 5.7.1 \
             Message content rejected",
            // A milter reject at end of data ends the message.
            "Jun 12 12:00:03 mx1 postfix/cleanup[4]: 7A8B9C0D1E: milter-reject: END-OF-MESSAGE from \
             h.example[192.0.2.5]: 5.7.1 Spam; from=<a@h.example> to=<cfo@corp.example> proto=ESMTP helo=<h.example>",
        ];
        let mut p = PostfixParser::new(&ctx());
        let (results, events) = run_with(&mut p, &lines, false);
        assert!(results.iter().all(|r| *r == Ok(Parsed::Absorbed)));
        assert_eq!(events.len(), 3, "all three end without a flush");
        assert_eq!(p.assembly_stats(), AssemblyStats::default());
        let first = &events[0];
        assert_eq!(strs(&first.email.to.address), ["gone@corp.example", "ok@corp.example"]);
        assert_eq!(first.event.outcome.as_deref(), Some("failure"));
        assert_eq!(first.event.action.as_deref(), Some("sent"));
        let second = &events[1];
        assert_eq!(second.email.subject.as_deref(), Some("Invoice overdue"));
        assert_eq!(second.event.action.as_deref(), Some("reject"));
        assert_eq!(second.event.outcome.as_deref(), Some("failure"));
        assert_eq!(second.source.ip, Some("192.0.2.5".parse().unwrap()));
        assert_eq!(second.email.from.address.as_deref(), Some("a@h.example"));
        assert_eq!(events[2].event.action.as_deref(), Some("milter-reject"));
    }

    #[test]
    fn message_open_past_the_timeout_is_emitted() {
        let lines = [
            "Jun 12 13:00:00 mx1 postfix/smtpd[1]: 8B9C0D1E2F: client=h.example[192.0.2.5]",
            "Jun 12 13:05:00 mx1 postfix/smtpd[1]: connect from other.example[192.0.2.7]",
            "Jun 12 13:10:01 mx1 postfix/smtpd[1]: disconnect from other.example[192.0.2.7]",
        ];
        let mut p = PostfixParser::new(&ctx());
        let (_, events) = run_with(&mut p, &lines[..2], false);
        assert!(events.is_empty());
        let (_, events) = run_with(&mut p, &lines[2..], false);
        assert_eq!(events.len(), 1, "a line past the 10-minute timeout emits the message");
        assert_eq!(events[0].email.local_id.as_deref(), Some("8B9C0D1E2F"));
        assert_eq!(events[0].event.outcome.as_deref(), Some("unknown"));
        assert_eq!(p.assembly_stats().timed_out, 1);
    }

    #[test]
    fn flush_emits_pending_messages() {
        let mut p = PostfixParser::new(&ctx());
        let lines = [
            "Jun 12 13:00:00 mx1 postfix/pickup[9]: 9C0D1E2F3A: uid=1000 from=<bob>",
            "Jun 12 13:04:00 mx1 postfix/pickup[9]: 0D1E2F3A4B: uid=1000 from=<carol>",
        ];
        let (_, events) = run_with(&mut p, &lines, false);
        assert!(events.is_empty());
        // At 13:12 only the first has been open longer than the 10-minute timeout.
        p.flush(Some("2025-06-12T13:12:00Z".parse().unwrap()));
        let first: Vec<_> = std::iter::from_fn(|| p.take_completed()).collect();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].email.from.address.as_deref(), Some("bob"));
        p.flush(None);
        let rest: Vec<_> = std::iter::from_fn(|| p.take_completed()).collect();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].email.local_id.as_deref(), Some("0D1E2F3A4B"));
        assert_eq!(p.assembly_stats().flushed_at_end, 1);
    }

    #[test]
    fn other_postfix_lines_are_absorbed() {
        let lines = [
            "Jun 12 14:00:00 mx1 postfix/smtpd[1]: warning: unknown[192.0.2.9]: SASL LOGIN authentication failed: \
             UGFzc3dvcmQ6",
            "Jun 12 14:00:00 mx1 postfix/postscreen[2]: PASS NEW [192.0.2.9]:51000",
            "Jun 12 14:00:00 mx1 postfix/anvil[3]: statistics: max connection rate 3/60s for (smtp:192.0.2.9) at \
             Jun 12 13:58:00",
            "Jun 12 14:00:00 mx1 postfix-out/tlsmgr[4]: some message Postfix may write one day",
            "<22>Jun 12 14:00:00 mx1 postfix/master[5]: reload -- version 3.8.4, configuration /etc/postfix",
            "Jun 12 14:00:00 mx1 postfix/smtp[6]: Verified TLS connection established to mx.corp.example[192.0.2.9]:25: \
             TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
            // Day written without padding.
            "Jun 2 14:00:00 mx1 postfix/smtpd[7]: lost connection after AUTH from unknown[192.0.2.9]",
        ];
        let (results, events) = run(&lines);
        assert!(results.iter().all(|r| *r == Ok(Parsed::Absorbed)), "{results:?}");
        assert!(events.is_empty());
    }

    #[test]
    fn unpadded_day_keeps_header_fields() {
        let raw = "Jun 3 15:30:49 gw postfix/smtpd[1]: NOQUEUE: reject: RCPT from h.example[192.0.2.3]: 554 5.7.1 \
                   Denied; from=<a@h.example> to=<b@corp.example> proto=SMTP helo=<h>";
        let (results, events) = run(&[raw]);
        assert_eq!(results, [Ok(Parsed::Event)]);
        assert_eq!(events[0].timestamp, Some("2025-06-03T15:30:49Z".parse().unwrap()));
        assert_eq!(events[0].host.hostname.as_deref(), Some("gw"));
        assert_eq!(events[0].process.name.as_deref(), Some("postfix/smtpd"));
        assert_eq!(events[0].process.pid, Some(1));
    }

    /// Lines of other programs in a mail log (content filters, milters, policy services, the
    /// IMAP server) are not Postfix's to understand.
    const OTHER_PROGRAMS: &[&str] = &[
        "Jun 12 14:00:01 mx1 amavis[2211]: (02211-04) Passed CLEAN {RelayedInbound}, [192.0.2.5]:41000 <a@b.example> \
         -> <c@corp.example>, Queue-ID: 5A6B7C8D9E, Message-ID: <x1@b.example>, mail_id: Zx1, Hits: -1.1, size: 2048, \
         queued_as: 6B7C8D9E0F, 1234 ms",
        "Jun 12 14:00:01 mx1 clamav-milter[880]: Message 5A6B7C8D9E from <a@b.example> to <c@corp.example> with \
         subject 'hi' message-id '<x1@b.example>' infected by Eicar-Signature",
        "Jun 12 14:00:01 mx1 postgrey[990]: action=greylist, reason=new, client_name=h.example, \
         client_address=192.0.2.5, sender=a@b.example, recipient=c@corp.example",
        "Jun 12 14:00:01 mx1 opendkim[700]: 5A6B7C8D9E: DKIM-Signature field added (s=mail, d=corp.example)",
        "Jun 12 14:00:01 mx1 dovecot: lmtp(12345): Connect from local",
        "Jun 12 14:00:01 mx1 policyd-spf[1500]: prepend Received-SPF: Pass (mailfrom) identity=mailfrom; \
         client-ip=192.0.2.5; helo=h.example; envelope-from=a@b.example; receiver=c@corp.example",
        "Jun 12 14:00:00 mx1 sendmail[123]: 55CAbc12345678: from=<a@b.example>, size=100, class=0, nrcpts=1",
        "Jun 12 14:00:00 mx1 exim[55]: 1tXyZa-000123-AB <= a@b.example H=h [192.0.2.1] S=1000",
        "Jun 12 14:00:00 mx1 sshd[77]: Failed password for root from 192.0.2.1 port 22 ssh2",
    ];

    /// Gap: other programs' lines in a mail log counted as Postfix parse errors.
    #[test]
    fn other_programs_are_counted_apart() {
        for raw in OTHER_PROGRAMS {
            let (results, events) = run(&[raw]);
            assert_eq!(results, [Ok(Parsed::OtherProgram)], "{raw}");
            assert!(events.is_empty(), "{raw}");
        }
    }

    /// An assembled message keeps what its lines record: the null sender `<>` is an empty
    /// sender for Sigma's `''`; a Subject no header_checks line logged is absent (`null`).
    #[test]
    fn assembled_message_keeps_what_its_lines_record() {
        let (_, events) = run(&[
            "Jun 12 14:00:00 mx1 postfix/smtpd[10]: 5A6B7C8D9E: client=h.example[192.0.2.5]",
            "Jun 12 14:00:00 mx1 postfix/cleanup[11]: 5A6B7C8D9E: message-id=<x1@b.example>",
            "Jun 12 14:00:00 mx1 postfix/qmgr[12]: 5A6B7C8D9E: from=<>, size=2048, nrcpt=1 (queue active)",
            "Jun 12 14:00:02 mx1 postfix/local[13]: 5A6B7C8D9E: to=<c@corp.example>, relay=local, delay=2, \
             delays=0.1/0/1/0.9, dsn=2.0.0, status=sent (delivered to mailbox)",
            "Jun 12 14:00:02 mx1 postfix/qmgr[12]: 5A6B7C8D9E: removed",
        ]);
        let [ev] = &events[..] else { panic!("{events:?}") };
        assert!(ev.email.from.address.is_none() && ev.email.subject.is_none());
        for f in [
            Field::EmailFromAddress,
            Field::EmailSenderAddress,
            Field::EmailToAddress,
            Field::EmailMessageId,
            Field::EmailSize,
            Field::SourceIp,
        ] {
            assert!(ev.recorded.contains(f), "{f}");
        }
        assert!(!ev.recorded.contains(Field::EmailSubject));
    }

    #[test]
    fn junk_is_rejected() {
        let cases: &[(&str, &str)] = &[
            (
                "1718200000.123    150 192.0.2.1 TCP_MISS/200 512 GET http://a.example/ - HIER_DIRECT/1.2.3.4 text/html",
                "not a known Postfix message",
            ),
            ("hello world", "not a known Postfix message"),
            ("ehlo=1 quit=1 commands=2", "not a known Postfix message"),
            ("DECADE: something", "not a known Postfix message"),
            ("0A1B2C3D4E: lorem ipsum dolor", "not a known Postfix message"),
        ];
        for (raw, reason) in cases {
            let (results, _) = run(&[raw]);
            assert_eq!(results, [Err(ParseError::new(reason))], "{raw}");
        }
    }

    /// A mail log is still detected as Postfix's when many of its lines are other programs', and
    /// those lines are counted apart, not as errors; a log of other programs alone is no
    /// Postfix log.
    #[test]
    fn detection_and_counts_with_other_programs() {
        let postfix = [
            "Jun 12 14:00:00 mx1 postfix/smtpd[10]: connect from h.example[192.0.2.5]",
            "Jun 12 14:00:00 mx1 postfix/smtpd[10]: 5A6B7C8D9E: client=h.example[192.0.2.5]",
            "Jun 12 14:00:00 mx1 postfix/cleanup[11]: 5A6B7C8D9E: message-id=<x1@b.example>",
            "Jun 12 14:00:00 mx1 postfix/qmgr[12]: 5A6B7C8D9E: from=<a@b.example>, size=2048, nrcpt=1 (queue active)",
            "Jun 12 14:00:02 mx1 postfix/smtp[13]: 5A6B7C8D9E: to=<c@corp.example>, relay=mx.corp.example[192.0.2.9]:25, \
             delay=2, delays=0.1/0/1/0.9, dsn=2.0.0, status=sent (250 OK)",
            "Jun 12 14:00:02 mx1 postfix/qmgr[12]: 5A6B7C8D9E: removed",
            "Jun 12 14:00:03 mx1 postfix/smtpd[10]: disconnect from h.example[192.0.2.5] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5",
        ];
        // 6 of 13 lines (46%), and 6 of 9 (67%), are other programs'.
        for others in [&OTHER_PROGRAMS[..6], &[OTHER_PROGRAMS[0], OTHER_PROGRAMS[3]][..]] {
            let mut lines: Vec<&str> = postfix.to_vec();
            for (i, o) in others.iter().enumerate() {
                lines.insert(1 + 2 * i, o);
            }
            let d = detect::detect(&lines, &ctx(), &Format::ALL).expect("detected");
            assert_eq!((d.format, d.framing), (Format::Postfix, Framing::Syslog), "{lines:#?}");
            let text = lines.join("\n");
            let mut events = 0u64;
            let stats = crate::pipeline::run_reader("maillog", text.as_bytes(), None, &Default::default(), &mut events)
                .unwrap();
            assert_eq!(stats.format, Some(Format::Postfix));
            assert_eq!(
                (stats.errors, stats.other_programs, stats.events, events),
                (0, others.len() as u64, 1, 1),
                "{stats:?}"
            );
        }
        // The non-MTA programs alone (every MTA parser calls them other programs').
        assert_eq!(detect::detect(&OTHER_PROGRAMS[..6], &ctx(), &Format::ALL), None);
    }

    #[test]
    fn bare_messages_without_header() {
        let lines = [
            "connect from h.example[192.0.2.5]",
            "5A6B7C8D9E: client=h.example[192.0.2.5]:2525, orig_queue_id=1F2E3D4C5B, orig_client=real.example[198.51.100.9]",
            "5A6B7C8D9E: message-id=<x1@h.example>",
            "5A6B7C8D9E: info: header Reply-To: Helpdesk <help@lure.example> from local; from=<ops@h.example> \
             to=<ceo@corp.example>",
            "5A6B7C8D9E: hold: header Sender: <agent@lure.example> from h.example[192.0.2.5]; from=<ops@h.example> \
             to=<ceo@corp.example> proto=ESMTP helo=<h.example>: held for review",
            "5A6B7C8D9E: from=<ops@h.example>, size=999, nrcpt=1 (queue active)",
            "5A6B7C8D9E: to=<ceo@corp.example>, relay=none, delay=0.2, delays=0.1/0/0.1/0, dsn=5.4.4, status=bounced \
             (Host not found)",
            "5A6B7C8D9E: sender non-delivery notification: 6B7C8D9E0F",
            "5A6B7C8D9E: removed",
            "PASS OLD [192.0.2.5]:41000",
            "statistics: max cache size 12 at Jun 12 13:58:00",
            "addr 192.0.2.5 listed by domain bl.example as 127.0.0.2",
            "Deleted: 3 messages",
        ];
        let (results, events) = run(&lines);
        assert!(results.iter().all(|r| *r == Ok(Parsed::Absorbed)), "{results:?}");
        assert_eq!(events.len(), 1);
        let ev = &events[0];
        assert_eq!(ev.timestamp, None);
        assert_eq!(ev.source.domain.as_deref(), Some("real.example"), "orig_client wins");
        assert_eq!(ev.source.port, None);
        assert_eq!(ev.email.reply_to.address.as_deref(), Some("help@lure.example"));
        assert_eq!(ev.email.sender.address.as_deref(), Some("agent@lure.example"));
        assert_eq!(ev.email.from.address.as_deref(), Some("ops@h.example"));
        assert_eq!(ev.email.message_id.as_deref(), Some("x1@h.example"));
        assert_eq!(ev.event.outcome.as_deref(), Some("failure"));
        assert_eq!(ev.event.action.as_deref(), Some("bounced"));
    }

    #[test]
    fn smtp_client_reports_name_the_server() {
        /// A line, and the destination domain, IP and port it gives.
        type Case<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<u16>);
        let cases: &[Case] = &[
            (
                "2B3C4D5E6F: host mx.partner.example[192.0.2.40] said: 450 4.7.1 Greylisted (in reply to RCPT TO command)",
                Some("mx.partner.example"),
                Some("192.0.2.40"),
                None,
            ),
            (
                "2B3C4D5E6F: lost connection with mx.partner.example[2001:db8::40] while sending RCPT TO",
                Some("mx.partner.example"),
                Some("2001:db8::40"),
                None,
            ),
            (
                "2B3C4D5E6F: enabling PIX workarounds: disable_esmtp delay_dotcrlf for fw.partner.example[192.0.2.41]:25",
                Some("fw.partner.example"),
                Some("192.0.2.41"),
                Some(25),
            ),
            (
                "2B3C4D5E6F: conversation with nowhere timed out while receiving the initial server greeting",
                None,
                None,
                None,
            ),
        ];
        for (line, domain, ip, port) in cases {
            let (results, events) = run(&[line]);
            assert_eq!(results, [Ok(Parsed::Absorbed)], "{line}");
            let d = &events[0].destination;
            assert_eq!(d.domain.as_deref(), *domain, "{line}");
            assert_eq!(d.ip, ip.map(|i| i.parse().unwrap()), "{line}");
            assert_eq!(d.port, *port, "{line}");
        }
    }

    #[test]
    fn expired_message_fails() {
        let lines = [
            "0E1F2A3B4C: from=<>, status=expired, returned to sender",
            "0E1F2A3B4C: removed",
        ];
        let (_, events) = run(&lines);
        assert_eq!(events[0].event.action.as_deref(), Some("expired"));
        assert_eq!(events[0].event.outcome.as_deref(), Some("failure"));
        assert_eq!(events[0].email.from.address, None, "null sender sets no address");
    }

    #[test]
    fn spoofed_envelope_in_checked_content_is_not_taken() {
        let line = "1B2C3D4E5F: warning: header Subject: hi; from=<ceo@corp.example> to=<x@y> from \
                    h.example[192.0.2.5]; from=<real@h.example> to=<cfo@corp.example> proto=ESMTP helo=<h>";
        let (_, events) = run(&[line]);
        assert_eq!(
            events[0].email.subject.as_deref(),
            Some("hi; from=<ceo@corp.example> to=<x@y>")
        );
        assert_eq!(events[0].email.from.address.as_deref(), Some("real@h.example"));
        assert_eq!(strs(&events[0].email.to.address), ["cfo@corp.example"]);
    }

    #[test]
    fn a_line_names_the_queue_id_its_message_is_assembled_under() {
        let hint = YearHint::new(&ctx());
        let key = |raw: &str| {
            let line = Framing::Syslog.line(raw, 0, 1, &hint);
            queue_id(&line).map(str::to_owned)
        };
        assert_eq!(
            key("Jun 12 10:01:03 mx1 postfix/qmgr[900]: 4A1B2C3D4E: removed").as_deref(),
            Some("4A1B2C3D4E")
        );
        assert_eq!(
            key("Jun 12 10:01:03 mx1 postfix/smtpd[9]: NOQUEUE: reject: RCPT from x[1.2.3.4]: 554"),
            None
        );
        assert_eq!(key("Jun 12 10:01:03 mx1 amavis[9]: 4A1B2C3D4E: passed"), None);
    }

    #[test]
    fn queue_ids() {
        for id in [
            "4104E3D",
            "ED06590130AA1C9D6D862",
            "4XyZ1b2cDfz9abc",
            "48rT2v1hQrz1J0N",
            "DECADE",
        ] {
            assert!(is_queue_id(id), "{id}");
        }
        for id in ["NOQUEUE", "warning", "4104e3d", "statistics", "ABC1", "4XyZ1b2cDf9abc"] {
            assert!(!is_queue_id(id), "{id}");
        }
        // An all-letter hex id is taken from a Postfix program, not from a bare line.
        assert_eq!(
            split_queue_id("FACADEBEEF: removed", true),
            Some(("FACADEBEEF", "removed"))
        );
        assert_eq!(split_queue_id("FACADEBEEF: removed", false), None);
        let lines = [
            "Jun 12 15:00:00 mx1 postfix/qmgr[1]: FACADEBEEF: from=<a@b.example>, size=1, nrcpt=1 (queue active)",
            "Jun 12 15:00:01 mx1 postfix/qmgr[1]: FACADEBEEF: removed",
        ];
        let mut p = PostfixParser::new(&ctx());
        let (_, events) = run_with(&mut p, &lines, false);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].email.local_id.as_deref(), Some("FACADEBEEF"));
    }

    #[test]
    fn mime_words() {
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            (
                "=?utf-8?Q?Gr=C3=BC=C3=9Fe?= =?utf-8?Q?_=E2=80=92?= test",
                "Grüße ‒ test",
            ),
            ("=?UTF-8?B?w7xiZXI=?= alles", "über alles"),
            // A character split across two words.
            ("=?UTF-8?B?ww==?= =?UTF-8?B?qQ==?=", "é"),
            ("=?ISO-8859-1?Q?caf=E9?=", "café"),
            ("=?koi8-r?B?0KDQvtGB?= x", "=?koi8-r?B?0KDQvtGB?= x"),
            ("broken =?utf-8?Q?abc", "broken =?utf-8?Q?abc"),
            ("=?utf-8?Q?=ZZ?=", "=?utf-8?Q?=ZZ?="),
        ];
        for (input, want) in cases {
            assert_eq!(decode_words(input), *want, "{input}");
        }
    }

    #[test]
    fn urls_from_body_text() {
        let cases: &[(&str, &[&str])] = &[
            (
                "<a href=\"https://x.example/a?b=1&amp;c=2\">x</a>",
                &["https://x.example/a?b=1&c=2"],
            ),
            (
                "see HTTP://X.example/p, and http://y.example/q.",
                &["HTTP://X.example/p", "http://y.example/q"],
            ),
            (
                "src=3D\"http://t.example/p?i=3D7\" tail http://t.example/long=",
                &["http://t.example/p?i=7", "http://t.example/long"],
            ),
            ("no links, just http:// and https", &[]),
            ("émoji 🎯 https://ü.example/ä", &["https://ü.example/ä"]),
        ];
        for (text, want) in cases {
            let (mut body, mut urls) = (BodyDecoder::default(), Vec::new());
            body.line(text, &mut urls);
            body.finish(&mut urls);
            assert_eq!(strs(&urls), *want, "{text}");
        }
    }

    /// A cleanup `header_checks` or `body_checks` INFO line (`kind`: `header` or `body`) for
    /// message `qid`.
    fn check_line(qid: &str, kind: &str, text: &str) -> String {
        format!(
            "Jun 12 10:01:03 mx1 postfix/cleanup[4413]: {qid}: info: {kind} {text} from \
             mail.lure.example[203.0.113.7]; from=<news@lure.example> to=<ceo@corp.example> proto=ESMTP \
             helo=<mail.lure.example>"
        )
    }

    /// The URLs of the one message that `lines` (header and body lines of message `qid`, as
    /// `("header"|"body", text)`) build, ended by qmgr's `removed`.
    fn message_urls(qid: &str, lines: &[(&str, &str)]) -> Vec<String> {
        let mut raw: Vec<String> = lines.iter().map(|(kind, text)| check_line(qid, kind, text)).collect();
        raw.push(format!("Jun 12 10:01:04 mx1 postfix/qmgr[900]: {qid}: removed"));
        let raw: Vec<&str> = raw.iter().map(String::as_str).collect();
        let (results, events) = run(&raw);
        assert!(results.iter().all(|r| *r == Ok(Parsed::Absorbed)), "{results:?}");
        let [ev] = &events[..] else { panic!("{events:#?}") };
        ev.email.urls.iter().map(|u| u.to_string()).collect()
    }

    /// Gap: a quoted-printable HTML tag wrapped by a soft break gave two broken URLs (or none).
    #[test]
    fn quoted_printable_link_split_by_a_soft_break_is_one_url() {
        let urls = message_urls(
            "3F2A1C0B7D",
            &[
                (
                    "body",
                    "<p>Dear Minister,</p><img src=3D\"https://img.brand.example/p.gif?id=3DAb12Cd=",
                ),
                ("body", "34Ef56\" width=3D\"1\" height=3D\"1\"></p>"),
            ],
        );
        assert_eq!(urls, ["https://img.brand.example/p.gif?id=Ab12Cd34Ef56"]);
    }

    /// An escape that the soft break splits (`=3=` `D`, `==` `3D`), or a break just before one.
    #[test]
    fn quoted_printable_escape_split_by_a_soft_break() {
        let head = "<img src=3D\"https://img.brand.example/p.gif?id";
        for (first, second) in [
            ("=3=", "DAb12Cd34Ef56\" width=3D\"1\">"),
            ("==", "3DAb12Cd34Ef56\" width=3D\"1\">"),
            ("=", "=3DAb12Cd34Ef56\" width=3D\"1\">"),
        ] {
            let first = format!("{head}{first}");
            let urls = message_urls("3F2A1C0B7D", &[("body", &first), ("body", second)]);
            assert_eq!(
                urls,
                ["https://img.brand.example/p.gif?id=Ab12Cd34Ef56"],
                "{first} | {second}"
            );
        }
    }

    /// A long quoted-printable HTML line wrapped many times: every link once, whole, in order.
    #[test]
    fn quoted_printable_html_wrapped_over_many_lines() {
        let urls = message_urls(
            "3F2A1C0B7D",
            &[
                ("header", "Content-Type: text/html; charset=\"utf-8\""),
                ("header", "Content-Transfer-Encoding: quoted-printable"),
                (
                    "body",
                    "<html><body><p style=3D\"margin:0\">Dear Minister, please review the attach=",
                ),
                (
                    "body",
                    "ed brief before Tuesday.</p><a href=3D\"https://docs.lure.example/view?doc=3D7=",
                ),
                (
                    "body",
                    "781&amp;u=3Dceo\">Read</a> or https://mirror.lure.example/b.pdf<img src=3D\"h=",
                ),
                (
                    "body",
                    "ttps://px.lure.example/o.gif?t=3DZq81\" width=3D\"1\"></body></html>",
                ),
            ],
        );
        assert_eq!(
            urls,
            [
                "https://docs.lure.example/view?doc=7781&u=ceo",
                "https://mirror.lure.example/b.pdf",
                "https://px.lure.example/o.gif?t=Zq81",
            ]
        );
    }

    /// The HTML part of `<html><body><p>Dear Minister, ...` in base64, as a mailer wraps it.
    const BASE64_HTML: [&str; 4] = [
        "PGh0bWw+PGJvZHk+PHA+RGVhciBNaW5pc3RlciwgdGhlIGJyaWVmaW5nIGlzIHJlYWR5LjwvcD48",
        "YSBocmVmPSJodHRwczovL2RvY3MubHVyZS5leGFtcGxlL3ZpZXc/ZG9jPTc3ODEmYW1wO3U9Y2Vv",
        "Ij5SZWFkIHRoZSBicmllZjwvYT48aW1nIHNyYz0iaHR0cHM6Ly9weC5sdXJlLmV4YW1wbGUvby5n",
        "aWY/dD1acTgxIiB3aWR0aD0iMSIgaGVpZ2h0PSIxIj48L2JvZHk+PC9odG1sPg==",
    ];
    const BASE64_URLS: [&str; 2] = [
        "https://docs.lure.example/view?doc=7781&u=ceo",
        "https://px.lure.example/o.gif?t=Zq81",
    ];

    /// Gap: a base64 HTML part hid every link from body_checks lines.
    #[test]
    fn base64_html_part_is_decoded() {
        let part = |before: &[(&'static str, &'static str)]| {
            let mut lines = vec![
                ("body", "This is a multi-part message in MIME format."),
                ("body", "--b1"),
            ];
            lines.extend_from_slice(before);
            lines.extend(BASE64_HTML.iter().map(|l| ("body", *l)));
            lines.push(("body", "--b1--"));
            lines
        };
        // MIME part headers logged by mime_header_checks.
        let declared = part(&[
            ("header", "Content-Type: text/html; charset=utf-8"),
            ("header", "Content-Transfer-Encoding: base64"),
        ]);
        // MIME processing off: the part headers are body lines.
        let in_body = part(&[
            ("body", "Content-Type: text/html; charset=utf-8"),
            ("body", "Content-Transfer-Encoding: base64"),
        ]);
        // No header logged: a run of full-width base64 lines is enough.
        let undeclared = part(&[]);
        for lines in [declared, in_body, undeclared] {
            assert_eq!(message_urls("4XyZ1b2cDfz9abc", &lines), BASE64_URLS, "{lines:?}");
        }
        // The run ends at the message's end too.
        let lines: Vec<_> = BASE64_HTML.iter().map(|l| ("body", *l)).collect();
        assert_eq!(message_urls("4XyZ1b2cDfz9abc", &lines), BASE64_URLS);
        // A part that is not text is not decoded.
        let mut image = vec![
            ("header", "Content-Type: image/png"),
            ("header", "Content-Transfer-Encoding: base64"),
        ];
        image.extend(BASE64_HTML.iter().map(|l| ("body", *l)));
        assert!(message_urls("4XyZ1b2cDfz9abc", &image).is_empty());
    }

    /// Ordinary bodies keep what the line says: `=` in a query is no escape, and a short run of
    /// base64-looking text is no part.
    #[test]
    fn ordinary_body_urls_are_untouched() {
        let urls = message_urls(
            "3F2A1C0B7D",
            &[
                ("body", "Track: https://shop.example/item?id=20&ref=AB&x=0A0D today"),
                ("body", "Verify at https://id.example/v?token=dGVzdA=="),
                ("body", "Thanks, see https://id.example/v?sig=x9="),
                ("body", "the team"),
                ("body", "Unsubscribe: https://news.example/u?email="),
                ("body", "--"),
                ("body", BASE64_HTML[0]),
                ("body", "https://after.example/x"),
            ],
        );
        assert_eq!(
            urls,
            [
                "https://shop.example/item?id=20&ref=AB&x=0A0D",
                "https://id.example/v?token=dGVzdA==",
                "https://id.example/v?sig=x9=",
                "https://news.example/u?email=",
                "https://after.example/x",
            ]
        );
    }

    /// Many long quoted-printable lines and a huge base64 part: state stays bounded, the links
    /// within the bounds are found, nothing panics.
    #[test]
    fn body_state_is_bounded() {
        let filler = format!("{}=", "a".repeat(75));
        let mut lines = vec![("body", "<a href=3D\"https://big.example/=")];
        lines.extend(std::iter::repeat_n(("body", filler.as_str()), 500));
        lines.push(("body", "end\"> and https://next.example/ok"));
        assert_eq!(message_urls("3F2A1C0B7D", &lines), ["https://next.example/ok"]);

        // 2000 base64 lines (~114 KB decoded): the link at the start is found, the one past the
        // 64 KiB budget is not.
        let mut encoded = b"<a href=\"https://first.example/\">".to_vec();
        encoded.resize(120_000, b' ');
        encoded.extend_from_slice(b"https://late.example/ ");
        let encoded = crate::rules::pattern::base64(&encoded);
        let chunks: Vec<&str> = encoded.chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect();
        let mut lines = vec![("header", "Content-Transfer-Encoding: base64")];
        lines.extend(chunks.iter().map(|c| ("body", *c)));
        assert_eq!(message_urls("3F2A1C0B7D", &lines), ["https://first.example/"]);
    }

    /// Two messages whose body lines alternate keep their own soft breaks and base64 runs.
    #[test]
    fn interleaved_bodies_keep_separate_state() {
        let (a, b) = ("1A2B3C4D5E", "4XyZ1b2cDfz9abc");
        let mut lines = vec![
            check_line(b, "header", "Content-Transfer-Encoding: base64"),
            check_line(a, "body", "<img src=3D\"https://img.brand.example/p.gif?id=3DAb12Cd="),
            check_line(b, "body", BASE64_HTML[0]),
            check_line(
                a,
                "body",
                "34Ef56\" width=3D\"1\"><a href=3D\"https://a.example/r?k=3D1=",
            ),
            check_line(b, "body", BASE64_HTML[1]),
            check_line(a, "body", "2\">x</a>"),
        ];
        lines.extend(BASE64_HTML[2..].iter().map(|l| check_line(b, "body", l)));
        lines.push(format!("Jun 12 10:01:04 mx1 postfix/qmgr[900]: {a}: removed"));
        lines.push(format!("Jun 12 10:01:04 mx1 postfix/qmgr[900]: {b}: removed"));
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (_, events) = run(&lines);
        let [ea, eb] = &events[..] else { panic!("{events:#?}") };
        assert_eq!(ea.email.local_id.as_deref(), Some(a));
        assert_eq!(
            strs(&ea.email.urls),
            [
                "https://img.brand.example/p.gif?id=Ab12Cd34Ef56",
                "https://a.example/r?k=12"
            ]
        );
        assert_eq!(strs(&eb.email.urls), BASE64_URLS);
    }

    #[test]
    fn never_panics_on_cut_lines() {
        let full = LIFECYCLE.join("\n");
        let mut p = PostfixParser::new(&ctx());
        for (i, _) in full.char_indices() {
            let cut = &full[..i];
            if let Some(raw) = cut.lines().last() {
                let mut ev = Event::default();
                let _ = p.parse(&Line::plain(raw), &mut ev);
                let line = Framing::Syslog.line(raw, 0, 1, &YearHint::new(&ctx()));
                let _ = p.parse(&line, &mut ev);
            }
        }
        p.flush(None);
        while p.take_completed().is_some() {}
    }

    #[test]
    fn example_is_detected_as_postfix() {
        let d = detect::detect(&[INFO.example], &ctx(), &Format::ALL).unwrap();
        assert_eq!(d.format, Format::Postfix);
        assert_eq!(d.framing, Framing::Syslog);
    }
}
