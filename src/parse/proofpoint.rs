//! Proofpoint JSON records, one per line: Proofpoint on Demand (PoD) log API `message` and
//! `maillog` records, and TAP SIEM API `messagesDelivered`/`messagesBlocked`/`clicksPermitted`/
//! `clicksBlocked` records (and whole TAP API pages, whose records come out one event each).
//!
//! The kind of a record is told by its keys: `sm` (with `data`, `pps` or `ts`) is a PoD maillog
//! record, `envelope`/`filter` with `connection`/`msg`/`guid` a PoD message, `messageTime` with
//! `GUID`/`QID`/`threatsInfoMap` a TAP message, `clickTime` with `GUID`/`clickIP`/`url` a TAP click,
//! and `queryEndTime` or one of the four record arrays a TAP API page. Any other JSON (Mimecast,
//! Zscaler, M365, ECS) is rejected. A page record that cannot be read is counted through
//! [`LineParser::take_error`]; a page none of whose records can be read is an error.
//!
//! Records are read with serde into typed structs whose leaves (the lenient helpers of
//! [`json`]) accept any JSON type: `null`, `""`, missing keys and values of another
//! type read as "absent" (a number as its text), so one odd value never costs the event (only an
//! object key such as `sm` holding a non-object rejects the line). Strings borrow from the line
//! unless JSON escapes force a copy.
//!
//! Mapping notes:
//! - `email.local_id` is the Sendmail queue id (PoD `filter.qid`, maillog `sm.qid`, TAP `QID`) so
//!   that a PoD message and its maillog lines share it; the PPS `guid`/`GUID` stands in when no
//!   queue id is logged (always for TAP clicks).
//! - A single TAP record does not say which API list it came from. Messages carry `quarantineFolder`
//!   /`quarantineRule` only when blocked, so they read as `message_blocked` or `message_delivered`;
//!   a click reads as `click` unless it came inside an API page (`click_permitted`/`click_blocked`).
//! - TAP `threatUrl`/`threatURL` links to Proofpoint's own Threat Insight portal, not to anything in
//!   the message, so it is not one of `email.urls`; URL threats (`threat`) are.
//!
//! This module must never panic on any input and never build a `serde_json::Value`.

use std::borrow::Cow;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::common::{direction, narrow, parse_ip, parse_iso_timestamp, set_address_cow, strip_angle, strip_angle_cow};
use super::json::{self, PageRecords};
use super::mail::mailbox_address;
use super::{FormatInfo, Line, LineParser, ParseContext, ParseError, Parsed, fail};
use crate::event::{Dataset, Endpoint, Event, Field as F, FieldSet, Str, URL_PARTS};

pub static INFO: FormatInfo = FormatInfo {
    name: "proofpoint",
    datasets: &[DATASET_MESSAGE, DATASET_MAILLOG, DATASET_TAP],
    line_independent: true,
    description: "Proofpoint on Demand log API message/maillog JSON and TAP SIEM API messages/clicks JSON, one record \
                  per line",
    example: r#"{"connection":{"ip":"203.0.113.45","host":"mail-out.example.net","helo":"mail-out.example.net","country":"nl"},"envelope":{"from":"bounce-42@mail-out.example.net","rcpts":["j.doe@example.com"]},"filter":{"disposition":"continue","routeDirection":"inbound","qid":"4AB1CdEf012345","durationSecs":0.21},"guid":"hT3kZq9xWvB2LmN8pR5sYu1oAc6dEf7g","msg":{"header":{"from":["Conference Team <events@example.net>"],"subject":["Your invitation"],"message-id":["<a1b2c3@mail-out.example.net>"]},"sizeBytes":5120},"msgParts":[{"labeledName":"text.html","urls":[{"url":"https://track.example.net/o.gif?id=7f3a","src":["urldefense"]}]}],"ts":"2024-05-22T12:16:36.732104-0700"}"#,
};

const DATASET_MESSAGE: Dataset = Dataset::ProofpointPodMessage;
const DATASET_MAILLOG: Dataset = Dataset::ProofpointPodMaillog;
const DATASET_TAP: Dataset = Dataset::ProofpointTap;

const INVALID_TIME: ParseError = ParseError::new("invalid timestamp (expected ISO 8601)");

// What each kind of record records: Proofpoint writes `""`, `null`, `[]` or nothing for a value it
// does not have (a message without a subject), which the parser reads as missing; the record's
// kind says the field is there, so for Sigma's `''` it is empty, not absent.
const MESSAGE_FIELDS: FieldSet = FieldSet::of(&[
    F::Timestamp,
    F::EventAction,
    F::EmailFromAddress,
    F::EmailSenderAddress,
    F::EmailToAddress,
    F::EmailReplyToAddress,
    F::EmailSubject,
    F::EmailMessageId,
    F::EmailXMailer,
    F::EmailSize,
    F::EmailLocalId,
    F::EmailUrls,
]);
const POD_MESSAGE: FieldSet = MESSAGE_FIELDS.union(FieldSet::of(&[
    F::SourceAddress,
    F::SourceIp,
    F::SourceDomain,
    F::EmailDirection,
    F::EventDuration,
]));
const TAP_MESSAGE: FieldSet = MESSAGE_FIELDS.union(FieldSet::of(&[F::SourceAddress, F::SourceIp]));
const TAP_CLICK: FieldSet = URL_PARTS.union(FieldSet::of(&[
    F::Timestamp,
    F::EventAction,
    F::SourceAddress,
    F::SourceIp,
    F::UserAgentOriginal,
    F::UserEmail,
    F::EmailToAddress,
    F::EmailFromAddress,
    F::EmailMessageId,
    F::EmailLocalId,
    F::EmailUrls,
]));
/// A maillog record is one Sendmail line; which fields it has depends on the line.
const POD_MAILLOG: FieldSet = FieldSet::of(&[F::Timestamp, F::EmailLocalId]);

pub struct ProofpointParser {
    reader: Reader,
    /// Records of a TAP API page line, and errors of records, handed out through
    /// `take_completed` and `take_error`.
    pages: PageRecords,
}

/// Reads one record into an event.
struct Reader {
    /// Zone of timestamps without an offset.
    timezone: TimeZone,
}

impl ProofpointParser {
    pub fn new(ctx: &ParseContext) -> Self {
        ProofpointParser {
            reader: Reader {
                timezone: ctx.timezone.clone(),
            },
            pages: PageRecords::default(),
        }
    }

    /// Reads the records of a TAP API page into `pages`. A page without records (the API answers
    /// so when nothing happened) is absorbed; so is one with at least one record read.
    fn split_page<'a>(&mut self, body: &'a str, offset: u64) -> Result<Parsed, ParseError> {
        let page: TapPage<'a> =
            serde_json::from_str(body).map_err(|_| ParseError::new("TAP API page list is not an array"))?;
        let reader = &self.reader;
        self.pages
            .read_tagged(page.records(), offset, None, |list, raw, ev| {
                reader.fill(raw, Some(list), ev).map(|_| ())
            })
            .map_err(|_| ParseError::new("TAP API page holds no readable TAP record"))
    }
}

impl LineParser for ProofpointParser {
    fn parse<'a>(&mut self, line: &Line<'a>, event: &mut Event<'a>) -> Result<Parsed, ParseError> {
        let body = line.body.trim_ascii();
        if !body.starts_with('{') {
            return fail("not a JSON object (Proofpoint records are JSON objects, one per line)");
        }
        match self.reader.fill(body, None, event)? {
            Filled::Event => Ok(Parsed::Event),
            Filled::Page => self.split_page(body, line.offset),
        }
    }

    fn take_completed(&mut self) -> Option<Event<'static>> {
        self.pages.take()
    }

    fn take_error(&mut self) -> Option<ParseError> {
        self.pages.take_error()
    }
}

/// What [`Reader::fill`] made of a record.
enum Filled {
    Event,
    /// A TAP API page: its records are still to be read.
    Page,
}

/// The four record lists of a TAP SIEM API page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageList {
    MessagesDelivered,
    MessagesBlocked,
    ClicksPermitted,
    ClicksBlocked,
}

/// A TAP SIEM API page: four lists of records (a list may be missing or `null`).
#[derive(Deserialize, Default)]
#[serde(default)]
struct TapPage<'a> {
    #[serde(rename = "messagesDelivered", borrow)]
    messages_delivered: Option<Vec<&'a RawValue>>,
    #[serde(rename = "messagesBlocked", borrow)]
    messages_blocked: Option<Vec<&'a RawValue>>,
    #[serde(rename = "clicksPermitted", borrow)]
    clicks_permitted: Option<Vec<&'a RawValue>>,
    #[serde(rename = "clicksBlocked", borrow)]
    clicks_blocked: Option<Vec<&'a RawValue>>,
}

impl<'a> TapPage<'a> {
    /// Every record, with the list it came in.
    fn records(self) -> impl Iterator<Item = (PageList, &'a RawValue)> {
        [
            (PageList::MessagesDelivered, self.messages_delivered),
            (PageList::MessagesBlocked, self.messages_blocked),
            (PageList::ClicksPermitted, self.clicks_permitted),
            (PageList::ClicksBlocked, self.clicks_blocked),
        ]
        .into_iter()
        .flat_map(|(list, records)| records.into_iter().flatten().map(move |r| (list, r)))
    }
}

/// The record kinds, told apart by their keys (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    PodMaillog,
    PodMessage,
    TapMessage,
    TapClick,
    Page,
}

impl Kind {
    fn of(rec: &Record<'_>) -> Option<Kind> {
        Some(
            if rec.sm.is_some() && (rec.data.is_some() || rec.pps.is_some() || rec.ts.is_some()) {
                Kind::PodMaillog
            } else if (rec.envelope.is_some() || rec.filter.is_some())
                && (rec.connection.is_some() || rec.msg.is_some() || rec.guid.is_some())
            {
                Kind::PodMessage
            } else if rec.message_time.is_some()
                && (rec.tap_guid.is_some() || rec.tap_qid.is_some() || rec.threats.is_some())
            {
                Kind::TapMessage
            } else if rec.click_time.is_some()
                && (rec.tap_guid.is_some() || rec.click_ip.is_some() || rec.url.is_some())
            {
                Kind::TapClick
            } else if rec.query_end_time.is_some()
                || rec.messages_delivered.is_some()
                || rec.messages_blocked.is_some()
                || rec.clicks_permitted.is_some()
                || rec.clicks_blocked.is_some()
            {
                Kind::Page
            } else {
                return None;
            },
        )
    }
}

impl Reader {
    /// Reads one record (a whole line, or one record of a TAP page when `list` is given) into `ev`.
    fn fill<'a>(&self, text: &'a str, list: Option<PageList>, ev: &mut Event<'a>) -> Result<Filled, ParseError> {
        let rec: Record<'a> = serde_json::from_str(text).map_err(json_error)?;
        let Some(kind) = Kind::of(&rec) else {
            return fail("JSON object without the keys of a Proofpoint PoD or TAP record");
        };
        match (kind, list) {
            (Kind::PodMaillog, None) => self.pod_maillog(rec, ev)?,
            (Kind::PodMessage, None) => self.pod_message(rec, ev)?,
            (Kind::TapMessage, None | Some(PageList::MessagesDelivered | PageList::MessagesBlocked)) => {
                let blocked = match list {
                    Some(l) => l == PageList::MessagesBlocked,
                    None => rec.quarantine_folder.is_some() || rec.quarantine_rule.is_some(),
                };
                let action = if blocked {
                    "message_blocked"
                } else {
                    "message_delivered"
                };
                self.tap_message(rec, action, ev)?;
            }
            (Kind::TapClick, None | Some(PageList::ClicksPermitted | PageList::ClicksBlocked)) => {
                let action = match list {
                    Some(PageList::ClicksPermitted) => "click_permitted",
                    Some(_) => "click_blocked",
                    None => "click",
                };
                self.tap_click(rec, action, ev)?;
            }
            (Kind::Page, None) => return Ok(Filled::Page),
            _ => return fail("TAP API page list holds a record of another kind"),
        }
        Ok(Filled::Event)
    }

    fn time(&self, s: Option<&str>) -> Result<Option<Timestamp>, ParseError> {
        match s {
            None => Ok(None),
            Some(s) => parse_iso_timestamp(s, &self.timezone).map(Some).ok_or(INVALID_TIME),
        }
    }

    /// PoD `message`: one message as the filter saw it.
    fn pod_message<'a>(&self, rec: Record<'a>, ev: &mut Event<'a>) -> Result<(), ParseError> {
        ev.set_dataset(DATASET_MESSAGE);
        ev.recorded = POD_MESSAGE;
        ev.timestamp = self.time(rec.ts.as_deref())?;
        if let Some(c) = rec.connection {
            if let Some(ip) = c.ip {
                set_address_cow(&mut ev.source, ip);
            }
            ev.source.domain = c.host.or(c.helo);
        }
        let (size, header, normalized, parsed) = match rec.msg {
            Some(m) => (
                m.size,
                m.header.unwrap_or_default(),
                m.normalized.unwrap_or_default(),
                m.parsed.unwrap_or_default(),
            ),
            None => (None, Header::default(), Header::default(), Addresses::default()),
        };
        let mut envelope_from = None;
        if let Some(env) = rec.envelope {
            envelope_from = env.from.map(strip_angle_cow);
            for to in env.rcpts {
                push_unique(&mut ev.email.to.address, strip_angle_cow(to));
            }
        }
        if ev.email.to.address.is_empty() {
            for to in parsed.to {
                push_unique(&mut ev.email.to.address, to);
            }
        }
        ev.email.from.address = first(parsed.from)
            .or_else(|| first(header.from).map(|f| narrow(f, header_address)))
            .or_else(|| envelope_from.clone());
        ev.email.sender.address = envelope_from;
        ev.email.reply_to.address =
            first(parsed.reply_to).or_else(|| first(header.reply_to).map(|f| narrow(f, header_address)));
        // The normalized header holds decoded text (RFC 2047 words); the raw one is the fallback.
        ev.email.subject = first(normalized.subject).or_else(|| first(header.subject));
        ev.email.message_id = first(header.message_id)
            .or_else(|| first(normalized.message_id))
            .map(strip_angle_cow);
        ev.email.x_mailer = first(header.x_mailer).or_else(|| first(normalized.x_mailer));
        ev.email.size = size;
        let mut rewritten = Vec::new();
        if let Some(f) = rec.filter {
            ev.event.action = f.disposition;
            ev.email.direction = f.route_direction.as_deref().and_then(direction).map(Cow::Borrowed);
            ev.event.duration = f.duration_secs.map(|s| (s * 1e9).round() as u64);
            ev.email.size = ev.email.size.or(f.msg_size_bytes);
            ev.email.local_id = f.qid;
            if let Some(ud) = f.modules.and_then(|m| m.urldefense) {
                rewritten = ud.rewritten_urls;
            }
        }
        if ev.event.action.is_none() {
            ev.event.action = rec.final_action;
        }
        if ev.email.local_id.is_none() {
            ev.email.local_id = rec.guid;
        }
        for url in rec
            .msg_parts
            .into_iter()
            .flatten()
            .flat_map(|p| p.urls.into_iter().flatten())
        {
            if let Some(u) = url.url {
                push_unique(&mut ev.email.urls, u);
            }
        }
        // URL Defense lists the links it rewrote; most are in msgParts already.
        for u in rewritten {
            push_unique(&mut ev.email.urls, u);
        }
        Ok(())
    }

    /// PoD `maillog`: one Sendmail line, already split into `sm` by Proofpoint.
    fn pod_maillog<'a>(&self, rec: Record<'a>, ev: &mut Event<'a>) -> Result<(), ParseError> {
        ev.set_dataset(DATASET_MAILLOG);
        ev.recorded = POD_MAILLOG;
        ev.timestamp = self.time(rec.ts.as_deref())?;
        let Some(sm) = rec.sm else { return Ok(()) };
        ev.email.local_id = sm.qid;
        ev.email.from.address = sm.from.map(strip_angle_cow);
        for to in sm.to {
            push_comma_list(&mut ev.email.to.address, to);
        }
        ev.email.message_id = sm.msgid.map(strip_angle_cow);
        ev.email.size = sm.size_bytes.or(sm.size);
        if let Some(relay) = sm.relay {
            // A delivery line names the next hop; any other line the client that connected.
            let ep = if ev.email.to.address.is_empty() {
                &mut ev.source
            } else {
                &mut ev.destination
            };
            set_relay(ep, relay);
        }
        if let Some(stat) = sm.stat {
            let word = narrow(stat, stat_word);
            ev.event.outcome = Some(Cow::Borrowed(stat_outcome(&word)));
            ev.event.action = Some(word);
        } else if sm.reject.is_some() {
            ev.event.action = Some(Cow::Borrowed("reject"));
            ev.event.outcome = Some(Cow::Borrowed("failure"));
        }
        Ok(())
    }

    /// TAP `messagesDelivered`/`messagesBlocked`: a message that carried a threat.
    fn tap_message<'a>(&self, rec: Record<'a>, action: &'static str, ev: &mut Event<'a>) -> Result<(), ParseError> {
        ev.set_dataset(DATASET_TAP);
        ev.recorded = TAP_MESSAGE;
        ev.event.action = Some(Cow::Borrowed(action));
        ev.timestamp = self.time(rec.message_time.as_deref())?;
        if let Some(ip) = rec.sender_ip {
            set_address_cow(&mut ev.source, ip);
        }
        let sender = rec.sender.map(strip_angle_cow);
        ev.email.from.address = first(rec.from_address)
            .or_else(|| rec.header_from.map(|f| narrow(f, header_address)))
            .or_else(|| sender.clone());
        ev.email.sender.address = sender;
        let to = if rec.recipient.is_empty() {
            rec.to_addresses
        } else {
            rec.recipient
        };
        for to in to {
            push_unique(&mut ev.email.to.address, strip_angle_cow(to));
        }
        ev.email.reply_to.address =
            first(rec.reply_to_address).or_else(|| rec.header_reply_to.map(|f| narrow(f, header_address)));
        ev.email.subject = rec.subject;
        ev.email.message_id = rec.message_id.map(strip_angle_cow);
        ev.email.x_mailer = rec.xmailer;
        // TAP writes 0 when it does not know the size; no real message is empty.
        ev.email.size = rec.message_size.filter(|&n| n > 0);
        ev.email.local_id = rec.tap_qid.or(rec.tap_guid);
        for t in rec.threats.into_iter().flatten() {
            let is_url = t.threat_type.as_deref().is_none_or(|k| k.eq_ignore_ascii_case("url"));
            if let Some(u) = t.threat.filter(|u| is_url && looks_like_url(u)) {
                push_unique(&mut ev.email.urls, u);
            }
        }
        Ok(())
    }

    /// TAP `clicksPermitted`/`clicksBlocked`: a recipient clicked a rewritten link.
    fn tap_click<'a>(&self, rec: Record<'a>, action: &'static str, ev: &mut Event<'a>) -> Result<(), ParseError> {
        ev.set_dataset(DATASET_TAP);
        ev.recorded = TAP_CLICK;
        ev.event.action = Some(Cow::Borrowed(action));
        ev.timestamp = self.time(rec.click_time.as_deref())?;
        if let Some(ip) = rec.click_ip {
            set_address_cow(&mut ev.source, ip);
        }
        ev.user_agent.original = rec.user_agent;
        if let Some(to) = first(rec.recipient).map(strip_angle_cow) {
            ev.user.email = Some(to.clone());
            ev.email.to.address.push(to);
        }
        ev.email.from.address = rec.sender.map(strip_angle_cow);
        ev.email.message_id = rec.message_id.map(strip_angle_cow);
        ev.email.local_id = rec.tap_guid;
        if let Some(url) = rec.url {
            ev.email.urls.push(url.clone());
            ev.url = json::url(url);
        }
        Ok(())
    }
}

fn json_error(e: serde_json::Error) -> ParseError {
    use serde_json::error::Category;
    ParseError::new(match e.classify() {
        Category::Eof => "truncated JSON (the line ends inside the record)",
        Category::Data => "JSON values of unexpected types (not a Proofpoint record)",
        Category::Syntax | Category::Io => "invalid JSON",
    })
}

/// `Sent (Ok: queued as 12345)` → `Sent`; `Deferred: Connection refused` → `Deferred`.
fn stat_word(s: &str) -> &str {
    let end = s.find(['(', ':']).unwrap_or(s.len());
    s[..end].trim()
}

fn stat_outcome(word: &str) -> &'static str {
    if word.eq_ignore_ascii_case("sent") {
        "success"
    } else if word.eq_ignore_ascii_case("deferred") || word.eq_ignore_ascii_case("queued") {
        "unknown"
    } else {
        "failure"
    }
}

/// The address of a header value (`"Name" <a@b.example>`, `a@b.example (Name)`); `""` when it
/// names none.
fn header_address(s: &str) -> &str {
    mailbox_address(s).unwrap_or("")
}

/// TAP lists URL threats by their URL, but also writes bare hashes under `threatType: url`.
fn looks_like_url(s: &str) -> bool {
    s.contains("://") || s.contains('.')
}

fn first(list: Vec<Str<'_>>) -> Option<Str<'_>> {
    list.into_iter().next()
}

fn push_unique<'a>(list: &mut Vec<Cow<'a, str>>, s: Cow<'a, str>) {
    if !s.is_empty() && !list.contains(&s) {
        list.push(s);
    }
}

/// Sendmail may list several recipients in one `to=`, separated by commas (Exchange and M365
/// separate theirs with `;`: [`common::push_addresses`](super::common::push_addresses)).
fn push_comma_list<'a>(list: &mut Vec<Cow<'a, str>>, s: Cow<'a, str>) {
    if !s.contains(',') {
        push_unique(list, strip_angle_cow(s));
        return;
    }
    match s {
        Cow::Borrowed(b) => b
            .split(',')
            .for_each(|a| push_unique(list, Cow::Borrowed(strip_angle(a)))),
        Cow::Owned(o) => o
            .split(',')
            .for_each(|a| push_unique(list, Cow::Owned(strip_angle(a).to_owned()))),
    }
}

/// Sendmail `relay=`: `host.example. [192.0.2.1]`, `[IPv6:2001:db8::1]`, `host [ip] (may be forged)`
/// or a bare name.
fn set_relay<'a>(ep: &mut Endpoint<'a>, relay: Cow<'a, str>) {
    fn bracket(s: &str) -> &str {
        match s.find('[') {
            Some(i) => {
                let rest = &s[i + 1..];
                rest[..rest.find(']').unwrap_or(rest.len())].trim()
            }
            None => s.trim(),
        }
    }
    fn host(s: &str) -> &str {
        let h = s[..s.find('[').unwrap_or(s.len())].trim();
        h.strip_suffix('.').unwrap_or(h)
    }
    let h = narrow(relay.clone(), host);
    if !h.is_empty() && parse_ip(&h).is_none() {
        ep.domain = Some(h);
    }
    let a = narrow(relay, bracket);
    if !a.is_empty() {
        set_address_cow(ep, a);
    }
}

// ---- The record shapes. Every leaf is lenient (see the module documentation). ----

/// Every top-level key any supported record kind uses; the kind is decided from which are set.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Record<'a> {
    // PoD, both kinds.
    #[serde(borrow, deserialize_with = "json::non_empty_text")]
    ts: Option<Str<'a>>,
    // PoD message.
    #[serde(borrow)]
    connection: Option<Connection<'a>>,
    #[serde(borrow)]
    envelope: Option<Envelope<'a>>,
    #[serde(borrow)]
    filter: Option<Filter<'a>>,
    #[serde(borrow)]
    msg: Option<Msg<'a>>,
    #[serde(rename = "msgParts", borrow)]
    msg_parts: Option<Vec<MsgPart<'a>>>,
    #[serde(borrow, deserialize_with = "json::non_empty_text")]
    guid: Option<Str<'a>>,
    #[serde(borrow, deserialize_with = "json::non_empty_text")]
    final_action: Option<Str<'a>>,
    // PoD maillog.
    #[serde(borrow)]
    sm: Option<Sm<'a>>,
    data: Option<IgnoredAny>,
    pps: Option<IgnoredAny>,
    // TAP, both kinds.
    #[serde(rename = "GUID", borrow, deserialize_with = "json::non_empty_text")]
    tap_guid: Option<Str<'a>>,
    #[serde(rename = "messageID", borrow, deserialize_with = "json::non_empty_text")]
    message_id: Option<Str<'a>>,
    #[serde(borrow, deserialize_with = "json::non_empty_text")]
    sender: Option<Str<'a>>,
    /// A list in message records, one address in click records.
    #[serde(borrow, deserialize_with = "json::texts")]
    recipient: Vec<Str<'a>>,
    // TAP message.
    #[serde(rename = "messageTime", borrow, deserialize_with = "json::non_empty_text")]
    message_time: Option<Str<'a>>,
    #[serde(rename = "QID", borrow, deserialize_with = "json::non_empty_text")]
    tap_qid: Option<Str<'a>>,
    #[serde(rename = "senderIP", borrow, deserialize_with = "json::non_empty_text")]
    sender_ip: Option<Str<'a>>,
    #[serde(rename = "fromAddress", borrow, deserialize_with = "json::texts")]
    from_address: Vec<Str<'a>>,
    #[serde(rename = "toAddresses", borrow, deserialize_with = "json::texts")]
    to_addresses: Vec<Str<'a>>,
    #[serde(rename = "replyToAddress", borrow, deserialize_with = "json::texts")]
    reply_to_address: Vec<Str<'a>>,
    #[serde(rename = "headerFrom", borrow, deserialize_with = "json::non_empty_text")]
    header_from: Option<Str<'a>>,
    #[serde(rename = "headerReplyTo", borrow, deserialize_with = "json::non_empty_text")]
    header_reply_to: Option<Str<'a>>,
    #[serde(borrow, deserialize_with = "json::non_empty_text")]
    subject: Option<Str<'a>>,
    #[serde(borrow, deserialize_with = "json::non_empty_text")]
    xmailer: Option<Str<'a>>,
    #[serde(rename = "messageSize", deserialize_with = "json::number")]
    message_size: Option<u64>,
    #[serde(rename = "threatsInfoMap", borrow)]
    threats: Option<Vec<Threat<'a>>>,
    #[serde(rename = "quarantineFolder", borrow, deserialize_with = "json::non_empty_text")]
    quarantine_folder: Option<Str<'a>>,
    #[serde(rename = "quarantineRule", borrow, deserialize_with = "json::non_empty_text")]
    quarantine_rule: Option<Str<'a>>,
    // TAP click.
    #[serde(rename = "clickTime", borrow, deserialize_with = "json::non_empty_text")]
    click_time: Option<Str<'a>>,
    #[serde(rename = "clickIP", borrow, deserialize_with = "json::non_empty_text")]
    click_ip: Option<Str<'a>>,
    #[serde(borrow, deserialize_with = "json::non_empty_text")]
    url: Option<Str<'a>>,
    #[serde(rename = "userAgent", borrow, deserialize_with = "json::non_empty_text")]
    user_agent: Option<Str<'a>>,
    // TAP API page.
    #[serde(rename = "queryEndTime")]
    query_end_time: Option<IgnoredAny>,
    #[serde(rename = "messagesDelivered")]
    messages_delivered: Option<IgnoredAny>,
    #[serde(rename = "messagesBlocked")]
    messages_blocked: Option<IgnoredAny>,
    #[serde(rename = "clicksPermitted")]
    clicks_permitted: Option<IgnoredAny>,
    #[serde(rename = "clicksBlocked")]
    clicks_blocked: Option<IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Connection<'a> {
    #[serde(borrow, deserialize_with = "json::non_empty_text")]
    ip: Option<Str<'a>>,
    #[serde(borrow, deserialize_with = "json::non_empty_text")]
    host: Option<Str<'a>>,
    #[serde(borrow, deserialize_with = "json::non_empty_text")]
    helo: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Envelope<'a> {
    #[serde(borrow, deserialize_with = "json::non_empty_text")]
    from: Option<Str<'a>>,
    #[serde(borrow, deserialize_with = "json::texts")]
    rcpts: Vec<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Filter<'a> {
    #[serde(borrow, deserialize_with = "json::non_empty_text")]
    disposition: Option<Str<'a>>,
    #[serde(rename = "routeDirection", borrow, deserialize_with = "json::non_empty_text")]
    route_direction: Option<Str<'a>>,
    #[serde(borrow, deserialize_with = "json::non_empty_text")]
    qid: Option<Str<'a>>,
    #[serde(rename = "durationSecs", deserialize_with = "json::decimal")]
    duration_secs: Option<f64>,
    #[serde(rename = "msgSizeBytes", deserialize_with = "json::number")]
    msg_size_bytes: Option<u64>,
    #[serde(borrow)]
    modules: Option<Modules<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Modules<'a> {
    #[serde(borrow)]
    urldefense: Option<UrlDefense<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UrlDefense<'a> {
    #[serde(rename = "rewrittenUrls", borrow, deserialize_with = "json::texts")]
    rewritten_urls: Vec<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Msg<'a> {
    #[serde(borrow)]
    header: Option<Header<'a>>,
    #[serde(rename = "normalizedHeader", borrow)]
    normalized: Option<Header<'a>>,
    #[serde(rename = "parsedAddresses", borrow)]
    parsed: Option<Addresses<'a>>,
    #[serde(rename = "sizeBytes", deserialize_with = "json::number")]
    size: Option<u64>,
}

/// `msg.header` / `msg.normalizedHeader`: header name → list of values.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Header<'a> {
    #[serde(borrow, deserialize_with = "json::texts")]
    from: Vec<Str<'a>>,
    #[serde(rename = "reply-to", borrow, deserialize_with = "json::texts")]
    reply_to: Vec<Str<'a>>,
    #[serde(borrow, deserialize_with = "json::texts")]
    subject: Vec<Str<'a>>,
    #[serde(rename = "message-id", borrow, deserialize_with = "json::texts")]
    message_id: Vec<Str<'a>>,
    #[serde(rename = "x-mailer", borrow, deserialize_with = "json::texts")]
    x_mailer: Vec<Str<'a>>,
}

/// `msg.parsedAddresses`: bare addresses taken from the header.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Addresses<'a> {
    #[serde(borrow, deserialize_with = "json::texts")]
    from: Vec<Str<'a>>,
    #[serde(borrow, deserialize_with = "json::texts")]
    to: Vec<Str<'a>>,
    #[serde(rename = "replyTo", borrow, deserialize_with = "json::texts")]
    reply_to: Vec<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MsgPart<'a> {
    #[serde(borrow)]
    urls: Option<Vec<PartUrl<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PartUrl<'a> {
    #[serde(borrow, deserialize_with = "json::non_empty_text")]
    url: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Sm<'a> {
    #[serde(borrow, deserialize_with = "json::non_empty_text")]
    qid: Option<Str<'a>>,
    #[serde(borrow, deserialize_with = "json::non_empty_text")]
    from: Option<Str<'a>>,
    #[serde(borrow, deserialize_with = "json::texts")]
    to: Vec<Str<'a>>,
    #[serde(borrow, deserialize_with = "json::non_empty_text")]
    msgid: Option<Str<'a>>,
    #[serde(borrow, deserialize_with = "json::non_empty_text")]
    stat: Option<Str<'a>>,
    #[serde(borrow, deserialize_with = "json::non_empty_text")]
    relay: Option<Str<'a>>,
    #[serde(borrow, deserialize_with = "json::non_empty_text")]
    reject: Option<Str<'a>>,
    #[serde(rename = "sizeBytes", deserialize_with = "json::number")]
    size_bytes: Option<u64>,
    #[serde(deserialize_with = "json::number")]
    size: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Threat<'a> {
    #[serde(borrow, deserialize_with = "json::non_empty_text")]
    threat: Option<Str<'a>>,
    #[serde(rename = "threatType", borrow, deserialize_with = "json::non_empty_text")]
    threat_type: Option<Str<'a>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Field;

    fn parser() -> ProofpointParser {
        ProofpointParser::new(&ParseContext::default())
    }

    /// Asserts each `(field, value)`; an empty value means the field must be absent.
    fn check(ev: &Event<'_>, want: &[(&str, &str)], line: &str) {
        for (name, value) in want {
            let field = Field::from_name(name).unwrap_or_else(|| panic!("no field {name}"));
            let got = ev.get(field).map(|v| v.to_string()).unwrap_or_default();
            assert_eq!(got, *value, "{name} of {line}");
        }
    }

    const POD_MESSAGE: &str = r#"{"connection":{"country":"de","helo":"mx2.partner-mail.example","host":"mx2.partner-mail.example","ip":"198.51.100.23","protocol":"smtp:smtp","sid":"3zq81hk2m0","tls":{"inbound":{"cipher":"ECDHE-RSA-AES256-GCM-SHA384","cipherBits":256,"version":"TLSv1.2"}}},"envelope":{"from":"<bounces+8812@partner-mail.example>","rcpts":["a.ivanova@example.org","<a.ivanova@example.org>","m.chen@example.org"]},"filter":{"actions":[{"action":"quarantine","isFinal":true,"module":"spam","rule":"phish"}],"disposition":"quarantine","durationSecs":0.184301,"msgSizeBytes":48211,"qid":"4B7KpQ2x019233","routeDirection":"Inbound","routes":["default_inbound"],"modules":{"spam":{"scores":{"overall":100}}}},"guid":"Zt7qLw0PmN3vX9bC2kR5sJ8yA1dF4gH6","msg":{"header":{"from":["\"Parliament Events\" <events@partner-mail.example>"],"reply-to":["Events Desk <rsvp@partner-reply.example>"],"subject":["Invitation: round table"],"message-id":["<5f2c9a1e.77@partner-mail.example>"],"x-mailer":["PHPMailer 6.8.0"],"to":["a.ivanova@example.org"]},"normalizedHeader":{"subject":["Invitation: round table (decoded)"]},"parsedAddresses":{},"sizeBytes":47960},"msgParts":[{"labeledName":"text.html","detectedMime":"text/html","urls":[{"url":"https://img.partner-mail.example/open.gif?u=8812&m=77","isRewritten":false,"src":["urldefense"]},{"url":"https://www.partner-mail.example/agenda","isRewritten":true}]},{"labeledName":"text.txt","urls":[{"url":"https://www.partner-mail.example/agenda"}]},{"labeledName":"logo.png","urls":[]},{"labeledName":"sig.txt"}],"ts":"2024-05-22T12:16:36.732104-0700"}"#;

    #[test]
    fn pod_message_fields() {
        let mut p = parser();
        let mut ev = Event::default();
        assert_eq!(p.parse(&Line::plain(POD_MESSAGE), &mut ev), Ok(Parsed::Event));
        check(
            &ev,
            &[
                ("@timestamp", "2024-05-22T19:16:36.732104Z"),
                ("event.dataset", "proofpoint.pod_message"),
                ("event.action", "quarantine"),
                ("event.duration", "184301000"),
                ("source.ip", "198.51.100.23"),
                ("source.address", "198.51.100.23"),
                ("source.domain", "mx2.partner-mail.example"),
                ("email.from.address", "events@partner-mail.example"),
                ("email.sender.address", "bounces+8812@partner-mail.example"),
                ("email.reply_to.address", "rsvp@partner-reply.example"),
                ("email.to.address", "a.ivanova@example.org,m.chen@example.org"),
                ("email.subject", "Invitation: round table (decoded)"),
                ("email.message_id", "5f2c9a1e.77@partner-mail.example"),
                ("email.x_mailer", "PHPMailer 6.8.0"),
                ("email.size", "47960"),
                ("email.direction", "inbound"),
                ("email.local_id", "4B7KpQ2x019233"),
                (
                    "email.urls",
                    "https://img.partner-mail.example/open.gif?u=8812&m=77,https://www.partner-mail.example/agenda",
                ),
            ],
            POD_MESSAGE,
        );
        // Unescaped strings are borrowed, even when cut (`<...>`); the escaped From is copied.
        assert!(matches!(ev.email.urls[0], Cow::Borrowed(_)));
        assert!(matches!(ev.email.sender.address, Some(Cow::Borrowed(_))));
        assert!(matches!(ev.email.message_id, Some(Cow::Borrowed(_))));
        assert!(matches!(ev.email.from.address, Some(Cow::Owned(_))));
    }

    #[test]
    fn pod_message_escapes_and_fallbacks() {
        // Escaped strings (as the PoD API writes `<`, `>` and `&`), parsedAddresses, no filter
        // disposition (final_action instead), no qid (guid instead), URL Defense's rewritten list.
        let line = r#"{"connection":{"ip":"2001:db8:4::19","helo":"relay.example.net"},"envelope":{"from":"\u003cnews@list.example.net\u003e","rcpts":["k.tan@example.org"]},"filter":{"routeDirection":"outbound","modules":{"urldefense":{"counts":{"total":3},"rewrittenUrls":["https://list.example.net/u?a=1\u0026b=2","https://list.example.net/new"]}}},"final_action":"continue","guid":"Qm3vT8pL1xZ0","msg":{"header":{"from":["List \u003cnews@list.example.net\u003e"],"subject":["Caf\u00e9 \u2014 weekly"]},"parsedAddresses":{"from":["news@list.example.net"],"replyTo":["replies@list.example.net"]},"sizeBytes":"5120"},"msgParts":[{"urls":[{"url":"https://list.example.net/u?a=1\u0026b=2"}]}],"ts":"2024-01-09T08:00:00Z"}"#;
        let mut p = parser();
        let mut ev = Event::default();
        assert_eq!(p.parse(&Line::plain(line), &mut ev), Ok(Parsed::Event));
        check(
            &ev,
            &[
                ("@timestamp", "2024-01-09T08:00:00Z"),
                ("event.action", "continue"),
                ("event.duration", ""),
                ("source.ip", "2001:db8:4::19"),
                ("source.domain", "relay.example.net"),
                ("email.from.address", "news@list.example.net"),
                ("email.sender.address", "news@list.example.net"),
                ("email.reply_to.address", "replies@list.example.net"),
                ("email.to.address", "k.tan@example.org"),
                ("email.subject", "Café — weekly"),
                ("email.message_id", ""),
                ("email.size", "5120"),
                ("email.direction", "outbound"),
                ("email.local_id", "Qm3vT8pL1xZ0"),
                (
                    "email.urls",
                    "https://list.example.net/u?a=1&b=2,https://list.example.net/new",
                ),
            ],
            line,
        );
        assert!(matches!(ev.email.urls[0], Cow::Owned(_)));
        assert!(matches!(ev.email.urls[1], Cow::Borrowed(_)));
    }

    #[test]
    fn pod_message_header_forms() {
        let cases: &[(&str, &str)] = &[
            // RFC 822 comment form.
            (
                r#"{"envelope":{"from":"root@gw1.example.org","rcpts":["ops@example.org"]},"filter":{"disposition":"accept"},"msg":{"header":{"from":["root@gw1.example.org (Cron Daemon)"]}},"ts":"2024-02-01T10:00:00+01:00"}"#,
                "root@gw1.example.org",
            ),
            // No header at all: the envelope sender stands in.
            (
                r#"{"envelope":{"from":"alerts@monitor.example.org","rcpts":[]},"filter":{"disposition":"accept"},"guid":"abc","ts":null}"#,
                "alerts@monitor.example.org",
            ),
            // Quoted display name holding a `<`.
            (
                r#"{"envelope":{"from":"x@y.example"},"filter":{},"msg":{"header":{"from":["\"a <b\" <real@sender.example>"]}}}"#,
                "real@sender.example",
            ),
        ];
        for (line, from) in cases {
            let mut ev = Event::default();
            assert_eq!(parser().parse(&Line::plain(line), &mut ev), Ok(Parsed::Event), "{line}");
            check(&ev, &[("email.from.address", from)], line);
        }
    }

    #[test]
    fn pod_maillog_records() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                r#"{"data":"2024-06-19T05:25:41.855197-07:00 m0201922 sendmail[17965]: 45JCPf3x017965: to=<k.tan@example.org>, delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=120812, relay=mx1.example.org. [IPv6:2001:db8:7::25], dsn=4.0.0, stat=Deferred: Connection timed out","id":"uY3kQ0bXr2/1234","pps":{"agent":"m0201922.ppops.net","cid":"example_hosted"},"sm":{"delay":"00:00:01","dsn":"4.0.0","mailer":"esmtp","pri":120812,"qid":"45JCPf3x017965","relay":"mx1.example.org. [IPv6:2001:db8:7::25]","stat":"Deferred: Connection timed out","to":["<k.tan@example.org>"]},"ts":"2024-06-19T05:25:41.855197-0700"}"#,
                &[
                    ("@timestamp", "2024-06-19T12:25:41.855197Z"),
                    ("event.dataset", "proofpoint.pod_maillog"),
                    ("event.action", "Deferred"),
                    ("event.outcome", "unknown"),
                    ("email.local_id", "45JCPf3x017965"),
                    ("email.to.address", "k.tan@example.org"),
                    ("destination.address", "IPv6:2001:db8:7::25"),
                    ("destination.ip", "2001:db8:7::25"),
                    ("destination.domain", "mx1.example.org"),
                    ("source.address", ""),
                ],
            ),
            (
                r#"{"data":"...","sm":{"auth":"NONE","class":"0","daemon":"MTA","from":"<bounces@partner-mail.example>","msgid":"<5f2c9a1e.77@partner-mail.example>","nrcpts":"2","proto":"ESMTP","qid":"45ABx91k004411","relay":"mx2.partner-mail.example [198.51.100.23] (may be forged)","sizeBytes":"48211"},"ts":"2024-06-19T05:28:32.325542-07:00"}"#,
                &[
                    ("email.from.address", "bounces@partner-mail.example"),
                    ("email.message_id", "5f2c9a1e.77@partner-mail.example"),
                    ("email.size", "48211"),
                    ("email.local_id", "45ABx91k004411"),
                    ("source.ip", "198.51.100.23"),
                    ("source.domain", "mx2.partner-mail.example"),
                    ("event.action", ""),
                    ("destination.address", ""),
                ],
            ),
            (
                r#"{"pps":{"agent":"m0201922.ppops.net"},"sm":{"qid":"45AC0r7p011002","ruleset":"check_rcpt","arg1":"<nobody@example.org>","relay":"[203.0.113.77]","reject":"550 5.1.1 <nobody@example.org>... User unknown"},"ts":"2024-06-19T06:00:00.000001-07:00"}"#,
                &[
                    ("event.action", "reject"),
                    ("event.outcome", "failure"),
                    ("source.ip", "203.0.113.77"),
                    ("source.domain", ""),
                ],
            ),
            (
                r#"{"data":"...","sm":{"qid":"45AD1a2b003300","to":["a@example.org,<b@example.org>","a@example.org"],"stat":"Sent (Ok: queued as 4VxYz1)","relay":"localhost"},"ts":"2024-06-19T06:00:00Z"}"#,
                &[
                    ("email.to.address", "a@example.org,b@example.org"),
                    ("event.action", "Sent"),
                    ("event.outcome", "success"),
                    ("destination.address", "localhost"),
                    ("destination.domain", "localhost"),
                ],
            ),
        ];
        for (line, want) in cases {
            let mut ev = Event::default();
            assert_eq!(parser().parse(&Line::plain(line), &mut ev), Ok(Parsed::Event), "{line}");
            check(&ev, want, line);
        }
    }

    #[test]
    fn tap_messages() {
        let blocked = r#"{"GUID":"pL0x9QmZ2vT7","QID":"r7KLs02x991823","messageTime":"2024-03-04T09:12:44.000Z","quarantineFolder":"Phish","quarantineRule":"inbound_phish","sender":"billing@invoices-portal.example","senderIP":"203.0.113.9","fromAddress":["billing@invoices-portal.example"],"headerFrom":"\"Billing\" <billing@invoices-portal.example>","recipient":["p.moreau@example.org","p.moreau@example.org"],"toAddresses":["p.moreau@example.org"],"replyToAddress":[],"headerReplyTo":"Billing <pay@invoices-portal.example>","subject":"Overdue invoice","messageID":"<inv-9921@invoices-portal.example>","xmailer":null,"messageSize":0,"messageParts":[{"filename":"invoice.html","contentType":"text/html"}],"threatsInfoMap":[{"threat":"https://invoices-portal.example/pay?id=9921","threatType":"url","threatUrl":"https://threatinsight.proofpoint.com/0d1e/threat/email/ab12","classification":"phish"},{"threat":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","threatType":"attachment"},{"threat":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","threatType":"url"},{"threat":"https://invoices-portal.example/pay?id=9921","threatType":"URL"}]}"#;
        let delivered = r#"{"GUID":"aa11bb22","QID":null,"messageTime":"2024-03-04T09:13:00Z","quarantineFolder":null,"sender":"","senderIP":"192.0.2.44","fromAddress":null,"headerFrom":"News <news@weekly.example>","recipient":null,"toAddresses":["r.silva@example.org"],"messageID":"","messageSize":91234,"threatsInfoMap":null}"#;
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                blocked,
                &[
                    ("@timestamp", "2024-03-04T09:12:44Z"),
                    ("event.dataset", "proofpoint.tap"),
                    ("event.action", "message_blocked"),
                    ("source.ip", "203.0.113.9"),
                    ("email.from.address", "billing@invoices-portal.example"),
                    ("email.sender.address", "billing@invoices-portal.example"),
                    ("email.reply_to.address", "pay@invoices-portal.example"),
                    ("email.to.address", "p.moreau@example.org"),
                    ("email.subject", "Overdue invoice"),
                    ("email.message_id", "inv-9921@invoices-portal.example"),
                    ("email.x_mailer", ""),
                    ("email.size", ""),
                    ("email.local_id", "r7KLs02x991823"),
                    ("email.urls", "https://invoices-portal.example/pay?id=9921"),
                ],
            ),
            (
                delivered,
                &[
                    ("event.action", "message_delivered"),
                    ("email.from.address", "news@weekly.example"),
                    ("email.sender.address", ""),
                    ("email.to.address", "r.silva@example.org"),
                    ("email.message_id", ""),
                    ("email.size", "91234"),
                    ("email.local_id", "aa11bb22"),
                    ("email.urls", ""),
                ],
            ),
        ];
        for (line, want) in cases {
            let mut ev = Event::default();
            assert_eq!(parser().parse(&Line::plain(line), &mut ev), Ok(Parsed::Event), "{line}");
            check(&ev, want, line);
        }
    }

    const TAP_CLICK: &str = r#"{"campaignId":null,"classification":"phish","clickIP":"2001:db8:99::7","clickTime":"2024-03-04T10:01:02.000Z","GUID":"pL0x9QmZ2vT7","id":"5e1f0c3a-0000-4000-8000-1a2b3c4d5e6f","messageID":"<inv-9921@invoices-portal.example>","recipient":"p.moreau@example.org","sender":"billing@invoices-portal.example","senderIP":"203.0.113.9","threatID":"ab12","threatTime":"2024-03-04T09:30:00.000Z","threatURL":"https://threatinsight.proofpoint.com/0d1e/threat/email/ab12","threatStatus":"active","url":"https://invoices-portal.example/pay/track.gif?id=9921","userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36"}"#;

    #[test]
    fn tap_click() {
        let mut ev = Event::default();
        assert_eq!(parser().parse(&Line::plain(TAP_CLICK), &mut ev), Ok(Parsed::Event));
        check(
            &ev,
            &[
                ("@timestamp", "2024-03-04T10:01:02Z"),
                ("event.dataset", "proofpoint.tap"),
                ("event.action", "click"),
                ("source.ip", "2001:db8:99::7"),
                ("url.original", "https://invoices-portal.example/pay/track.gif?id=9921"),
                ("url.domain", "invoices-portal.example"),
                ("url.path", "/pay/track.gif"),
                ("url.query", "id=9921"),
                ("url.extension", "gif"),
                ("email.urls", "https://invoices-portal.example/pay/track.gif?id=9921"),
                (
                    "user_agent.original",
                    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 \
                     Safari/537.36",
                ),
                ("user.email", "p.moreau@example.org"),
                ("email.to.address", "p.moreau@example.org"),
                ("email.from.address", "billing@invoices-portal.example"),
                ("email.message_id", "inv-9921@invoices-portal.example"),
                ("email.local_id", "pL0x9QmZ2vT7"),
            ],
            TAP_CLICK,
        );
        assert!(matches!(ev.url.path, Some(Cow::Borrowed(_))));
    }

    #[test]
    fn tap_click_with_escaped_url() {
        let line = r#"{"clickTime":"2024-03-04T10:01:02Z","GUID":"g1","url":"https://t.example/p?a=1\u0026b=\u00e9"}"#;
        let mut ev = Event::default();
        assert_eq!(parser().parse(&Line::plain(line), &mut ev), Ok(Parsed::Event));
        check(
            &ev,
            &[
                ("url.original", "https://t.example/p?a=1&b=é"),
                ("url.query", "a=1&b=é"),
                ("url.domain", "t.example"),
            ],
            line,
        );
    }

    #[test]
    fn tap_pages() {
        let mut p = parser();
        let mut ev = Event::default();
        let empty = r#"{"queryEndTime":"2024-10-11T14:34:53Z","clicksPermitted":[]}"#;
        assert_eq!(p.parse(&Line::plain(empty), &mut ev), Ok(Parsed::Absorbed));
        assert!(p.take_completed().is_none());

        let page = format!(
            r#"{{"queryEndTime":"2024-03-04T11:00:00Z","messagesDelivered":[{{"GUID":"m1","messageTime":"2024-03-04T10:00:00Z","recipient":["a@example.org"],"threatsInfoMap":[{{"threat":"http://x.example/a","threatType":"url"}}]}}],"messagesBlocked":[],"clicksPermitted":[],"clicksBlocked":[ {TAP_CLICK} , {{"GUID":"c2","clickTime":"2024-03-04T10:05:00Z","url":"http://y.example/\"q\"]}}"}}]}}"#
        );
        let mut line = Line::plain(&page);
        line.offset = 4096;
        assert_eq!(p.parse(&line, &mut Event::default()), Ok(Parsed::Absorbed));
        let events: Vec<_> = std::iter::from_fn(|| p.take_completed()).collect();
        let actions: Vec<_> = events.iter().map(|e| e.event.action.as_deref().unwrap_or("")).collect();
        assert_eq!(actions, ["message_delivered", "click_blocked", "click_blocked"]);
        assert_eq!(events[0].email.urls, ["http://x.example/a"]);
        assert_eq!(events[1].event.original.as_deref(), Some(TAP_CLICK));
        assert_eq!(events[2].url.original.as_deref(), Some(r#"http://y.example/"q"]}"#));
        assert!(events.iter().all(|e| e.log.offset == Some(4096)));

        // A page whose list holds something other than TAP records.
        let bad = r#"{"queryEndTime":"2024-03-04T11:00:00Z","clicksPermitted":[{"messageTime":"2024-03-04T10:00:00Z","GUID":"m1"},{"x":1}]}"#;
        assert_eq!(
            p.parse(&Line::plain(bad), &mut Event::default()),
            fail("TAP API page holds no readable TAP record")
        );
        assert!(p.take_completed().is_none());
    }

    #[test]
    fn unreadable_page_records_are_errors() {
        let mut p = parser();
        let page = format!(
            r#"{{"queryEndTime":"2024-03-04T11:00:00Z","clicksBlocked":[{{"GUID":"c1","clickTime":"yesterday","url":"http://y.example/"}},{TAP_CLICK}],"messagesDelivered":[{{"x":1}}]}}"#
        );
        let mut line = Line::plain(&page);
        line.offset = 512;
        assert_eq!(p.parse(&line, &mut Event::default()), Ok(Parsed::Absorbed));
        let events: Vec<_> = std::iter::from_fn(|| p.take_completed()).collect();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event.original.as_deref(), Some(TAP_CLICK));
        assert_eq!(events[0].log.offset, Some(512));
        let errors: Vec<_> = std::iter::from_fn(|| p.take_error()).collect();
        assert_eq!(
            errors,
            [
                ParseError::new("JSON object without the keys of a Proofpoint PoD or TAP record"),
                INVALID_TIME
            ]
        );
        // A list that is not an array.
        assert_eq!(
            p.parse(
                &Line::plain(r#"{"queryEndTime":"2024-03-04T11:00:00Z","clicksBlocked":{"GUID":"c"}}"#),
                &mut Event::default()
            ),
            fail("TAP API page list is not an array")
        );
        assert!(p.take_error().is_none());
    }

    #[test]
    fn rejections() {
        let cases: &[(&str, &str)] = &[
            (
                "Jun 19 05:25:41 m0201922 sendmail[17965]: 45JCPf3x017965: to=<k.tan@example.org>, stat=Sent",
                "not a JSON object (Proofpoint records are JSON objects, one per line)",
            ),
            (
                r#"[{"GUID":"x","clickTime":"2024-03-04T10:01:02Z"}]"#,
                "not a JSON object (Proofpoint records are JSON objects, one per line)",
            ),
            // Mimecast SIEM receipt log.
            (
                r#"{"datetime":"2024-03-04T10:00:00+0000","aCode":"fz5cJxQ5","acc":"C0A0","IP":"198.51.100.7","Dir":"Inbound","Subject":"Invoice","MsgId":"<abc@mail.example.org>","headerFrom":"alice@example.org","Sender":"alice@example.org","Rcpt":"bob@example.com","Act":"Acc","logType":"receipt"}"#,
                "JSON object without the keys of a Proofpoint PoD or TAP record",
            ),
            // Zscaler NSS web log as JSON.
            (
                r#"{"sourcetype":"zscalernss-web","event":{"datetime":"Mon Mar  4 10:00:00 2024","url":"www.example.com/a","action":"Allowed","cip":"10.1.2.3"}}"#,
                "JSON object without the keys of a Proofpoint PoD or TAP record",
            ),
            // Microsoft 365 message trace.
            (
                r#"{"Received":"2024-03-04T10:00:00Z","SenderAddress":"a@example.net","RecipientAddress":"b@example.org","Subject":"Hi","Status":"Delivered","MessageId":"<m1@example.net>","MessageTraceId":"0b1c2d3e-0000-4000-8000-000000000000"}"#,
                "JSON object without the keys of a Proofpoint PoD or TAP record",
            ),
            // ECS JSON (url and email are objects there).
            (
                r#"{"@timestamp":"2024-03-04T10:00:00Z","event":{"dataset":"squid.access"},"url":{"original":"http://a.example/x"},"email":{"from":{"address":["a@example.net"]}},"source":{"ip":"10.0.0.1"}}"#,
                "JSON object without the keys of a Proofpoint PoD or TAP record",
            ),
            (
                r#"{"GUID":"x","clickTime":"2024-03-04T10:01:02Z","url":"http://a.exam"#,
                "truncated JSON (the line ends inside the record)",
            ),
            (r#"{"GUID":"x",,}"#, "invalid JSON"),
            (
                r#"{"sm":"45AC0r7p011002","data":"x"}"#,
                "JSON values of unexpected types (not a Proofpoint record)",
            ),
            (
                r#"{"GUID":"x","clickTime":"yesterday","url":"http://a.example/"}"#,
                "invalid timestamp (expected ISO 8601)",
            ),
            (
                r#"{"sm":{"qid":"q1"},"ts":"2024-13-01T00:00:00Z"}"#,
                "invalid timestamp (expected ISO 8601)",
            ),
        ];
        for (line, reason) in cases {
            let got = parser().parse(&Line::plain(line), &mut Event::default());
            assert_eq!(got, fail(reason), "{line}");
        }
    }

    #[test]
    fn detected_as_proofpoint() {
        let ctx = ParseContext::default();
        let sample = [
            INFO.example,
            POD_MESSAGE,
            TAP_CLICK,
            r#"{"queryEndTime":"2024-10-11T14:34:53Z","clicksPermitted":[]}"#,
        ];
        let d = super::super::detect::detect(&sample, &ctx, &super::super::Format::ALL).expect("recognised");
        assert_eq!(d.format, super::super::Format::Proofpoint);
        assert_eq!(d.accepted, 4);
    }

    #[test]
    fn cut_lines_never_panic() {
        for line in [POD_MESSAGE, TAP_CLICK, INFO.example] {
            for (i, _) in line.char_indices() {
                let mut p = parser();
                let _ = p.parse(&Line::plain(&line[..i]), &mut Event::default());
            }
        }
        let page = r#"{"clicksBlocked":[{"GUID":"c","clickTime":"2024-03-04T10:05:00Z","url":"http://y.example/\"]"}],"messagesBlocked":[]}"#;
        for (i, _) in page.char_indices() {
            let _ = parser().parse(&Line::plain(&page[..i]), &mut Event::default());
        }
    }
}
