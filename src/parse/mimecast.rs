//! Mimecast email security logs in JSON, one record per line, as the Mimecast API hands them out:
//!
//! - TTP URL Protect logs (`/api/ttp/url/get-logs`; dataset `mimecast.ttp_url`): one click or
//!   scan of a rewritten link (`userEmailAddress`, `fromUserEmailAddress`, `url`, `date`, ...).
//! - SIEM logs (dataset `mimecast.siem`): the v1 MTA records (receipt, process, delivery,
//!   journal, AV, impersonation, URL protect, spam; `datetime`, `acc`, `aCode`, `Sender`, `Rcpt`,
//!   ...) and the API 2.0 records (`timestamp` in ms, `type`, `accountId`, `senderEnvelope`,
//!   `recipients`, ...).
//! - An API response page (`{"meta":..,"data":[..],"fail":[..]}`): its records are emitted one
//!   by one through [`LineParser::take_completed`] (each with its own JSON as `event.original`);
//!   an empty page is absorbed, a page none of whose records can be read is an error.
//!
//! Records joined by a comma on one line (`{..},{..}`, as some exports write them) are each
//! emitted: the first as the line's event, the others through `take_completed`. A record after
//! the first (or in a page) that cannot be read is counted through [`LineParser::take_error`].
//!
//! Mapping follows Elastic's Mimecast integration where it maps to our fields, and the senders
//! as for Postfix and Proofpoint: `email.from.address` is the `From:` header (`headerFrom`,
//! `senderHeader`) when logged, else the envelope sender (`Sender`, `sender`, `senderEnvelope`),
//! else the TTP log's `fromUserEmailAddress`; `email.sender.address` is the envelope sender.
//! `aCode`/`aggregateId` is `email.local_id`, `Dir`/`route`/`direction` become `email.direction`
//! when they name one. Message ids and addresses lose their `<>`. Text such as `Internal IP` in an
//! IP field is not an address and is left out.

use std::borrow::Cow;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::event::{Dataset, Event, Field, FieldSet, Str, URL_PARTS};

use super::common::{direction, parse_ip, parse_iso_timestamp, strip_angle_cow};
use super::json::{self, PageRecords, flag, number, text, texts};
use super::{FormatInfo, Line, LineParser, ParseContext, ParseError, Parsed, fail};

pub static INFO: FormatInfo = FormatInfo {
    name: "mimecast",
    datasets: &[SIEM, TTP_URL],
    line_independent: true,
    description: "Mimecast TTP URL Protect and SIEM logs (API JSON, one record per line)",
    example: r#"{"userEmailAddress":"akowalski@corp.example","fromUserEmailAddress":"events@invite-news.example","url":"https://img.invite-news.example/o.gif?u=8f3a","ttpDefinition":"Default Inbound URL Protect Definition","subject":"Panel invitation: March 2024","action":"allow","adminOverride":"N/A","userOverride":"None","scanResult":"clean","category":"Newsletters","sendingIp":"203.0.113.25","userAwarenessAction":"N/A","date":"2024-03-12T08:15:02+0000","actions":"Allow","route":"inbound","creationMethod":"User Click","emailPartsDescription":["Body"],"messageId":"<c0ffee.42@mta.invite-news.example>"}"#,
};

const TTP_URL: Dataset = Dataset::MimecastTtpUrl;
const SIEM: Dataset = Dataset::MimecastSiem;
const NOT_MIMECAST: &str = "JSON without Mimecast SIEM or TTP URL fields";

pub struct MimecastParser {
    timezone: TimeZone,
    /// Records of an API page or of a joined line after the first, and errors of records.
    pages: PageRecords,
}

impl MimecastParser {
    pub fn new(ctx: &ParseContext) -> Self {
        MimecastParser {
            timezone: ctx.timezone.clone(),
            pages: PageRecords::default(),
        }
    }
}

/// Every key any of the record kinds uses (SIEM v1 keys are capitalised, API keys camelCase).
#[derive(Deserialize, Default)]
struct Record<'a> {
    // API response page.
    #[serde(default)]
    meta: Option<IgnoredAny>,
    #[serde(default)]
    data: Option<IgnoredAny>,

    // SIEM v1.
    #[serde(borrow, default, deserialize_with = "text")]
    datetime: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    acc: Option<Str<'a>>,
    #[serde(rename = "aCode", borrow, default, deserialize_with = "text")]
    a_code: Option<Str<'a>>,
    #[serde(rename = "Act", borrow, default, deserialize_with = "text")]
    act: Option<Str<'a>>,
    #[serde(rename = "Action", borrow, default, deserialize_with = "text")]
    action_v1: Option<Str<'a>>,
    #[serde(rename = "Sender", borrow, default, deserialize_with = "text")]
    sender_v1: Option<Str<'a>>,
    #[serde(rename = "Rcpt", borrow, default, deserialize_with = "text")]
    rcpt: Option<Str<'a>>,
    #[serde(rename = "Recipient", borrow, default, deserialize_with = "text")]
    recipient_v1: Option<Str<'a>>,
    #[serde(rename = "MsgId", borrow, default, deserialize_with = "text")]
    msg_id_v1: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    msgid: Option<Str<'a>>,
    #[serde(rename = "Subject", borrow, default, deserialize_with = "text")]
    subject_v1: Option<Str<'a>>,
    #[serde(rename = "IP", borrow, default, deserialize_with = "text")]
    ip: Option<Str<'a>>,
    #[serde(rename = "SourceIP", borrow, default, deserialize_with = "text")]
    source_ip_v1: Option<Str<'a>>,
    #[serde(rename = "Dir", borrow, default, deserialize_with = "text")]
    dir: Option<Str<'a>>,
    #[serde(rename = "Route", borrow, default, deserialize_with = "text")]
    route_v1: Option<Str<'a>>,
    #[serde(rename = "Delivered", default, deserialize_with = "flag")]
    delivered_v1: Option<bool>,
    #[serde(rename = "MsgSize", default, deserialize_with = "number")]
    msg_size: Option<u64>,
    #[serde(rename = "Size", default, deserialize_with = "number")]
    size_v1: Option<u64>,
    #[serde(rename = "headerFrom", borrow, default, deserialize_with = "text")]
    header_from: Option<Str<'a>>,
    #[serde(rename = "URL", borrow, default, deserialize_with = "text")]
    url_v1: Option<Str<'a>>,

    // Lower-case keys shared by SIEM v1 URL records, TTP URL logs and API 2.0.
    #[serde(borrow, default, deserialize_with = "text")]
    action: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    sender: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    recipient: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    subject: Option<Str<'a>>,
    #[serde(rename = "sourceIp", borrow, default, deserialize_with = "text")]
    source_ip: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    route: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    url: Option<Str<'a>>,

    // TTP URL logs.
    #[serde(rename = "userEmailAddress", borrow, default, deserialize_with = "text")]
    user_email_address: Option<Str<'a>>,
    #[serde(rename = "fromUserEmailAddress", borrow, default, deserialize_with = "text")]
    from_user_email_address: Option<Str<'a>>,
    #[serde(rename = "ttpDefinition", borrow, default, deserialize_with = "text")]
    ttp_definition: Option<Str<'a>>,
    #[serde(rename = "sendingIp", borrow, default, deserialize_with = "text")]
    sending_ip: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    date: Option<Str<'a>>,
    #[serde(rename = "messageId", borrow, default, deserialize_with = "text")]
    message_id: Option<Str<'a>>,

    // SIEM API 2.0.
    #[serde(default, deserialize_with = "number")]
    timestamp: Option<u64>,
    #[serde(rename = "type", borrow, default, deserialize_with = "text")]
    kind: Option<Str<'a>>,
    #[serde(rename = "accountId", borrow, default, deserialize_with = "text")]
    account_id: Option<Str<'a>>,
    #[serde(rename = "processingId", borrow, default, deserialize_with = "text")]
    processing_id: Option<Str<'a>>,
    #[serde(rename = "aggregateId", borrow, default, deserialize_with = "text")]
    aggregate_id: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "texts")]
    recipients: Vec<Str<'a>>,
    #[serde(rename = "senderEnvelope", borrow, default, deserialize_with = "text")]
    sender_envelope: Option<Str<'a>>,
    #[serde(rename = "senderHeader", borrow, default, deserialize_with = "text")]
    sender_header: Option<Str<'a>>,
    #[serde(rename = "senderIp", borrow, default, deserialize_with = "text")]
    sender_ip: Option<Str<'a>>,
    #[serde(rename = "destinationIp", borrow, default, deserialize_with = "text")]
    destination_ip: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    direction: Option<Str<'a>>,
    #[serde(default, deserialize_with = "flag")]
    delivered: Option<bool>,
    #[serde(rename = "emailSize", default, deserialize_with = "number")]
    email_size: Option<u64>,
}

/// An API response page: its records are the elements of `data`.
#[derive(Deserialize)]
struct Page<'a> {
    #[serde(borrow)]
    data: Vec<&'a RawValue>,
}

enum Kind {
    TtpUrl,
    SiemV1,
    SiemV2,
}

impl Record<'_> {
    /// An API response page rather than a record.
    fn is_page(&self) -> bool {
        self.meta.is_some() && self.data.is_some()
    }

    fn kind(&self) -> Option<Kind> {
        if self.ttp_definition.is_some() || (self.user_email_address.is_some() && self.date.is_some()) {
            Some(Kind::TtpUrl)
        } else if self.datetime.is_some() && (self.acc.is_some() || self.a_code.is_some()) {
            Some(Kind::SiemV1)
        } else if self.timestamp.is_some()
            && self.kind.is_some()
            && (self.account_id.is_some() || self.processing_id.is_some())
        {
            Some(Kind::SiemV2)
        } else {
            None
        }
    }
}

impl LineParser for MimecastParser {
    fn parse<'a>(&mut self, line: &Line<'a>, event: &mut Event<'a>) -> Result<Parsed, ParseError> {
        let body = json::object_text(line.body)?;
        let mut stream = serde_json::Deserializer::from_str(body).into_iter::<Record<'a>>();
        let record = match stream.next() {
            Some(Ok(r)) => r,
            Some(Err(e)) => return Err(json::error(e, NOT_MIMECAST)),
            None => return fail("not a JSON object"),
        };
        let end = stream.byte_offset();
        let rest = body[end..].trim_start();
        if rest.is_empty() {
            return self.record(body, record, line.offset, event);
        }
        // `{..},{..}`: more records joined by commas. The first stands for the line.
        if !rest.starts_with(',') {
            return fail("text after the JSON object");
        }
        let first = &body[..end];
        let parsed = self.record(first, record, line.offset, event)?;
        if parsed == Parsed::Event {
            event.event.original = Some(Cow::Borrowed(first));
        }
        self.joined(rest, line.offset);
        Ok(parsed)
    }

    fn take_completed(&mut self) -> Option<Event<'static>> {
        self.pages.take()
    }

    fn take_error(&mut self) -> Option<ParseError> {
        self.pages.take_error()
    }
}

impl MimecastParser {
    /// Parses one record (`raw` is its JSON text) into `ev`; the records of an API page are
    /// queued instead.
    fn record<'a>(
        &mut self,
        raw: &'a str,
        r: Record<'a>,
        offset: u64,
        ev: &mut Event<'a>,
    ) -> Result<Parsed, ParseError> {
        if r.is_page() {
            let page: Page<'a> =
                serde_json::from_str(raw).map_err(|_| ParseError::new("Mimecast API page without a data array"))?;
            let tz = &self.timezone;
            return self
                .pages
                .read_page(&page.data, offset, None, |raw, ev| page_record(tz, raw, ev));
        }
        match r.kind() {
            Some(kind) => {
                fill(&self.timezone, kind, r, ev)?;
                Ok(Parsed::Event)
            }
            None => fail(NOT_MIMECAST),
        }
    }

    /// Queues the records after the first of a joined line (`rest` starts at the comma after it);
    /// those that cannot be read, and text that is no record, are counted as errors. A trailing
    /// comma (a JSON array written one element a line) is no record.
    fn joined<'a>(&mut self, mut rest: &'a str, offset: u64) {
        while let Some(next) = rest.strip_prefix(',').map(str::trim_start) {
            let mut stream = serde_json::Deserializer::from_str(next).into_iter::<Record<'a>>();
            let record = match stream.next() {
                Some(Ok(r)) => r,
                Some(Err(e)) => return self.pages.error(json::error(e, NOT_MIMECAST)),
                None => return,
            };
            let end = stream.byte_offset();
            let raw = &next[..end];
            let mut ev = Event::default();
            match self.record(raw, record, offset, &mut ev) {
                Ok(Parsed::Event) => self.pages.queue(ev, raw, offset),
                Ok(Parsed::Absorbed | Parsed::OtherProgram) => {}
                Err(e) => self.pages.error(e),
            }
            rest = next[end..].trim_start();
        }
        if !rest.is_empty() {
            self.pages.error(ParseError::new("text after the JSON object"));
        }
    }
}

/// One record of an API page's `data`.
fn page_record<'a>(tz: &TimeZone, raw: &'a str, ev: &mut Event<'a>) -> Result<(), ParseError> {
    let r: Record<'a> = serde_json::from_str(raw).map_err(|e| json::error(e, NOT_MIMECAST))?;
    match r.kind() {
        Some(kind) => fill(tz, kind, r, ev),
        None => fail(NOT_MIMECAST),
    }
}

/// Fills `ev` from a record of `kind`; times without an offset are read in `tz`.
fn fill<'a>(tz: &TimeZone, kind: Kind, r: Record<'a>, ev: &mut Event<'a>) -> Result<(), ParseError> {
    ev.timestamp = match kind {
        Kind::TtpUrl => r.date.as_deref().and_then(|d| parse_iso_timestamp(d, tz)),
        Kind::SiemV1 => r.datetime.as_deref().and_then(|d| parse_iso_timestamp(d, tz)),
        Kind::SiemV2 => r
            .timestamp
            .and_then(|ms| i64::try_from(ms).ok())
            .and_then(|ms| Timestamp::from_millisecond(ms).ok()),
    };
    if ev.timestamp.is_none() {
        return fail("invalid Mimecast date (expected ISO 8601 or epoch milliseconds)");
    }
    ev.set_dataset(match kind {
        Kind::TtpUrl => TTP_URL,
        Kind::SiemV1 | Kind::SiemV2 => SIEM,
    });

    ev.recorded = r.recorded();
    ev.event.action = value(r.act).or(value(r.action_v1)).or(value(r.action));
    ev.event.outcome = r
        .delivered_v1
        .or(r.delivered)
        .map(|d| Cow::Borrowed(if d { "success" } else { "failure" }));

    // The null sender `<>` stays as an empty address: a bounce is worth seeing.
    let envelope = r.sender_v1.or(r.sender).or(r.sender_envelope).map(strip_angle_cow);
    let header = value(r.header_from)
        .or(value(r.sender_header))
        .map(strip_angle_cow)
        .filter(|a| !a.is_empty());
    ev.email.from.address = header
        .or_else(|| envelope.clone())
        .or_else(|| r.from_user_email_address.map(strip_angle_cow));
    ev.email.sender.address = envelope;
    let to = &mut ev.email.to.address;
    for rcpt in [r.rcpt, r.recipient_v1, r.recipient, r.user_email_address]
        .into_iter()
        .flatten()
    {
        to.push(strip_angle_cow(rcpt));
    }
    to.extend(r.recipients.into_iter().map(strip_angle_cow));
    to.retain(|a| !a.is_empty());
    ev.email.subject = value(r.subject_v1).or(value(r.subject));
    ev.email.message_id = value(r.msg_id_v1.or(r.msgid).or(r.message_id).map(strip_angle_cow));
    ev.email.local_id = value(r.a_code).or(value(r.aggregate_id));
    ev.email.size = r.msg_size.or(r.size_v1).or(r.email_size);
    ev.email.direction = [r.dir, r.direction, r.route_v1, r.route]
        .into_iter()
        .flatten()
        .find_map(|d| direction(&d))
        .map(Cow::Borrowed);

    if let Some(ip) = [r.ip, r.source_ip_v1, r.source_ip, r.sending_ip, r.sender_ip]
        .into_iter()
        .flatten()
        .find(|ip| parse_ip(ip.trim()).is_some())
    {
        json::set_ip(&mut ev.source, ip);
    }
    if let Some(ip) = r.destination_ip {
        json::set_ip(&mut ev.destination, ip);
    }

    if let Some(url) = value(r.url).or(value(r.url_v1)) {
        ev.email.urls.push(url.clone());
        ev.url = json::url(url);
    }
    Ok(())
}

impl Record<'_> {
    /// The fields the record has a key for, `N/A` and `""` included (the log records them, so a
    /// missing value is an empty one for Sigma's `''`; a message without a subject has an empty
    /// subject). A JSON `null` records nothing.
    fn recorded(&self) -> FieldSet {
        use Field as F;
        let given = [
            (true, FieldSet::of(&[F::Timestamp])),
            (
                self.act.is_some() || self.action_v1.is_some() || self.action.is_some(),
                FieldSet::of(&[F::EventAction]),
            ),
            (
                self.sender_v1.is_some() || self.sender.is_some() || self.sender_envelope.is_some(),
                FieldSet::of(&[F::EmailSenderAddress, F::EmailFromAddress]),
            ),
            (
                self.header_from.is_some() || self.sender_header.is_some() || self.from_user_email_address.is_some(),
                FieldSet::of(&[F::EmailFromAddress]),
            ),
            (
                self.rcpt.is_some()
                    || self.recipient_v1.is_some()
                    || self.recipient.is_some()
                    || self.user_email_address.is_some(),
                FieldSet::of(&[F::EmailToAddress]),
            ),
            (
                self.subject_v1.is_some() || self.subject.is_some(),
                FieldSet::of(&[F::EmailSubject]),
            ),
            (
                self.msg_id_v1.is_some() || self.msgid.is_some() || self.message_id.is_some(),
                FieldSet::of(&[F::EmailMessageId]),
            ),
            (
                self.a_code.is_some() || self.aggregate_id.is_some(),
                FieldSet::of(&[F::EmailLocalId]),
            ),
            (
                self.ip.is_some()
                    || self.source_ip_v1.is_some()
                    || self.source_ip.is_some()
                    || self.sending_ip.is_some()
                    || self.sender_ip.is_some(),
                FieldSet::of(&[F::SourceAddress, F::SourceIp]),
            ),
            (
                self.url.is_some() || self.url_v1.is_some(),
                URL_PARTS.union(FieldSet::of(&[F::EmailUrls])),
            ),
        ];
        FieldSet::given(given)
    }
}

/// Mimecast writes `N/A` and empty strings for fields without value.
fn value(s: Option<Str<'_>>) -> Option<Str<'_>> {
    s.filter(|s| !(s.is_empty() || *s == "N/A"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Field, Value};

    fn get(ev: &Event<'_>, name: &str) -> Option<String> {
        let f = Field::from_name(name).unwrap_or_else(|| panic!("no field {name}"));
        ev.get(f).map(|v| match v {
            Value::List(l) => l.join(","),
            v => v.to_string(),
        })
    }

    /// `""` expects no value, `"\"\""` an empty one.
    fn check_event(ev: &Event<'_>, want: &[(&str, &str)], what: &str) {
        for (name, value) in want {
            let expected = match *value {
                "" => None,
                "\"\"" => Some(String::new()),
                v => Some(v.to_owned()),
            };
            assert_eq!(get(ev, name), expected, "{what}: {name}");
        }
    }

    fn parse(line: &str) -> Result<Event<'_>, ParseError> {
        let mut p = MimecastParser::new(&ParseContext::default());
        let mut ev = Event::default();
        p.parse(&Line::plain(line), &mut ev).map(|r| {
            assert_eq!(r, Parsed::Event);
            assert!(p.take_completed().is_none());
            ev
        })
    }

    fn check(line: &str, want: &[(&str, &str)]) {
        let ev = parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        check_event(&ev, want, line);
    }

    #[test]
    fn ttp_url_log() {
        check(
            INFO.example,
            &[
                ("@timestamp", "2024-03-12T08:15:02Z"),
                ("event.dataset", "mimecast.ttp_url"),
                ("event.action", "allow"),
                ("email.to.address", "akowalski@corp.example"),
                ("email.from.address", "events@invite-news.example"),
                ("email.sender.address", ""),
                ("email.subject", "Panel invitation: March 2024"),
                ("email.message_id", "c0ffee.42@mta.invite-news.example"),
                ("email.direction", "inbound"),
                ("email.urls", "https://img.invite-news.example/o.gif?u=8f3a"),
                ("url.original", "https://img.invite-news.example/o.gif?u=8f3a"),
                ("url.domain", "img.invite-news.example"),
                ("url.extension", "gif"),
                ("url.query", "u=8f3a"),
                ("source.ip", "203.0.113.25"),
            ],
        );
        // Escaped slashes (as PHP-style encoders write them) and an internal sender.
        check(
            r#"{"userEmailAddress":"b.nowak@corp.example","fromUserEmailAddress":"it@corp.example","url":"https:\/\/intranet.corp.example\/login?next=%2F","ttpDefinition":"Default Internal URL Protect Definition","subject":"Passwort l\u00e4uft ab","action":"warn","scanResult":"malicious","sendingIp":"Internal IP","date":"2024-03-12T09:00:00+0100","route":"internal","messageId":""}"#,
            &[
                ("@timestamp", "2024-03-12T08:00:00Z"),
                ("url.original", "https://intranet.corp.example/login?next=%2F"),
                ("url.domain", "intranet.corp.example"),
                ("url.path", "/login"),
                ("email.urls", "https://intranet.corp.example/login?next=%2F"),
                ("email.subject", "Passwort läuft ab"),
                ("email.direction", "internal"),
                ("source.ip", ""),
                ("source.address", ""),
                ("email.message_id", ""),
            ],
        );
    }

    #[test]
    fn siem_v1_records() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                // Receipt.
                r#"{"acc":"C1X9","datetime":"2024-03-12T08:15:02+0000","aCode":"q1w2e3r4t5y6","Sender":"news@promo.example","Rcpt":"akowalski@corp.example","Act":"Acc","IP":"198.51.100.23","Dir":"Inbound","Subject":"Invitation","MsgId":"<a1b2@promo.example>","headerFrom":"events@promo.example","TlsVer":"TLSv1.3","SpamScore":0}"#,
                &[
                    ("event.dataset", "mimecast.siem"),
                    ("@timestamp", "2024-03-12T08:15:02Z"),
                    ("event.action", "Acc"),
                    ("email.from.address", "events@promo.example"),
                    ("email.sender.address", "news@promo.example"),
                    ("email.to.address", "akowalski@corp.example"),
                    ("email.subject", "Invitation"),
                    ("email.message_id", "a1b2@promo.example"),
                    ("email.local_id", "q1w2e3r4t5y6"),
                    ("email.direction", "inbound"),
                    ("source.ip", "198.51.100.23"),
                ],
            ),
            (
                // Process (held as spam): size, no recipient.
                r#"{"Act":"Hld","AttCnt":1,"AttNames":"\"agenda.docx\"","AttSize":20480,"Hld":"Spm","MsgId":"<z9@promo.example>","MsgSize":48213,"aCode":"p0o9i8","acc":"C1X9","datetime":"2024-03-12T08:15:03+0000"}"#,
                &[
                    ("event.action", "Hld"),
                    ("email.size", "48213"),
                    ("email.to.address", ""),
                    ("email.from.address", ""),
                ],
            ),
            (
                // Delivery failure with the null sender; Route is a connector, not a direction.
                r#"{"acc":"C1X9","Delivered":false,"IP":"2001:db8::25","RejType":"Recipient email address is possibly incorrect","RejCode":"550","Dir":"Outbound","Sender":"<>","datetime":"2024-03-12T09:15:02+0100","Rcpt":"<someone@partner.example>","Route":"Office365","aCode":"d3l1v3r","Latency":505}"#,
                &[
                    ("event.outcome", "failure"),
                    ("email.from.address", "\"\""),
                    ("email.sender.address", "\"\""),
                    ("email.to.address", "someone@partner.example"),
                    ("email.direction", "outbound"),
                    ("source.ip", "2001:db8::25"),
                    ("@timestamp", "2024-03-12T08:15:02Z"),
                ],
            ),
            (
                // URL protect (SIEM): lower-case keys.
                r#"{"acc":"C1X9","reason":"malicious","subject":"Contract","msgid":null,"url":"http://docs-share.example/view.php","datetime":"2024-03-12T08:15:02+0000","route":"inbound","sourceIp":"203.0.113.9","sender":"hr@look-alike.example","recipient":"akowalski@corp.example","action":"Block","urlCategory":"Phishing & Fraud"}"#,
                &[
                    ("event.action", "Block"),
                    ("url.original", "http://docs-share.example/view.php"),
                    ("email.urls", "http://docs-share.example/view.php"),
                    ("email.from.address", "hr@look-alike.example"),
                    ("email.sender.address", "hr@look-alike.example"),
                    ("email.to.address", "akowalski@corp.example"),
                    ("email.subject", "Contract"),
                    ("email.message_id", ""),
                    ("source.ip", "203.0.113.9"),
                ],
            ),
            (
                // Impersonation protect: `Action`, `Recipient`, `Route` as the direction.
                r#"{"Action":"Hold","Definition":"Default Impersonation Definition","Hits":"1","IP":"203.0.113.77","MsgId":"<imp@look-alike.example>","Recipient":"ceo@corp.example","Route":"Inbound","Sender":"ceo@c0rp.example","Subject":"Urgent wire","TaggedMalicious":"true","acc":"C1X9","aCode":"imp1","datetime":"2024-03-12T08:15:02+0000"}"#,
                &[
                    ("event.action", "Hold"),
                    ("email.to.address", "ceo@corp.example"),
                    ("email.direction", "inbound"),
                    ("email.from.address", "ceo@c0rp.example"),
                ],
            ),
            (
                // The header From in angle brackets; `N/A` names no header sender.
                r#"{"acc":"C1X9","datetime":"2024-03-12T08:15:02+0000","aCode":"h1","Sender":"<bounce-7@list.example>","headerFrom":"<news@list.example>","Rcpt":"ap@corp.example"}"#,
                &[
                    ("email.from.address", "news@list.example"),
                    ("email.sender.address", "bounce-7@list.example"),
                ],
            ),
            (
                r#"{"acc":"C1X9","datetime":"2024-03-12T08:15:02+0000","aCode":"h2","Sender":"bounce-7@list.example","headerFrom":"N/A","Rcpt":"ap@corp.example"}"#,
                &[
                    ("email.from.address", "bounce-7@list.example"),
                    ("email.sender.address", "bounce-7@list.example"),
                ],
            ),
            (
                // AV: `Size` and `SourceIP`.
                r#"{"IP":"0.0.0.0","Recipient":"ap@corp.example","Route":"Inbound","Sender":"billing@vendor.example","Size":1648832,"Subject":"Invoice","Virus":"Anomali:Phishing","acc":"C1X9","datetime":"2024-03-12T08:15:02+0000","fileName":"invoice.xlsm"}"#,
                &[("email.size", "1648832"), ("source.ip", "0.0.0.0")],
            ),
        ];
        for (line, want) in cases {
            check(line, want);
        }
    }

    #[test]
    fn siem_api_v2_record() {
        check(
            r#"{"_offset":70901,"_partition":60,"accountId":"CUS1X9","aggregateId":"agg-77_1710231302","delivered":"true","destinationIp":"192.0.2.10","direction":"Inbound","emailSize":"31363","messageId":"<v2.1@promo.example>","processingId":"proc-1","recipients":["akowalski@corp.example","b.nowak@corp.example"],"route":"Accept","senderEnvelope":"news@promo.example","senderHeader":"events@promo.example","subject":"Hello","timestamp":1710231302117,"type":"delivery"}"#,
            &[
                ("event.dataset", "mimecast.siem"),
                ("@timestamp", "2024-03-12T08:15:02.117Z"),
                ("event.outcome", "success"),
                ("email.from.address", "events@promo.example"),
                ("email.sender.address", "news@promo.example"),
                ("email.to.address", "akowalski@corp.example,b.nowak@corp.example"),
                ("email.local_id", "agg-77_1710231302"),
                ("email.size", "31363"),
                ("email.direction", "inbound"),
                ("destination.ip", "192.0.2.10"),
                ("email.message_id", "v2.1@promo.example"),
            ],
        );
    }

    #[test]
    fn api_pages_and_joined_records() {
        let mut p = MimecastParser::new(&ParseContext::default());
        let empty =
            r#"{"meta":{"status":200,"pagination":{"pageSize":0,"totalCount":0,"next":"n"}},"data":[],"fail":[]}"#;
        let mut ev = Event::default();
        assert_eq!(p.parse(&Line::plain(empty), &mut ev), Ok(Parsed::Absorbed));
        assert!(p.take_completed().is_none());

        let r1 = r#"{"userEmailAddress":"a@corp.example","url":"https://t.example/1 ,]}","date":"2024-03-12T08:15:02+0000","route":"inbound","fromUserEmailAddress":"x@y.example"}"#;
        let r2 = r#"{"userEmailAddress":"b@corp.example","url":"https://t.example/2","date":"2024-03-12T08:15:03+0000","tagMap":{"k":["[v]"]}}"#;
        let page = format!(r#"{{"fail":[],"meta":{{"status":200}}, "data": [ {r1} , {r2} ]}}"#);
        let line = Line {
            offset: 4096,
            ..Line::plain(&page)
        };
        let mut ev = Event::default();
        assert_eq!(p.parse(&line, &mut ev), Ok(Parsed::Absorbed));
        let a = p.take_completed().unwrap();
        let b = p.take_completed().unwrap();
        assert!(p.take_completed().is_none());
        check_event(
            &a,
            &[
                ("url.original", "https://t.example/1 ,]}"),
                ("email.to.address", "a@corp.example"),
            ],
            "page 1",
        );
        check_event(
            &b,
            &[
                ("url.original", "https://t.example/2"),
                ("event.original", r2),
                ("log.offset", "4096"),
            ],
            "page 2",
        );
        assert_eq!(a.event.original.as_deref(), Some(r1));

        // Two SIEM records joined by a comma: both are events.
        let s1 = r#"{"acc":"C1","datetime":"2024-03-12T08:15:02+0000","Delivered":true,"Rcpt":"a@corp.example","aCode":"x"}"#;
        let s2 = r#"{"acc":"C1","datetime":"2024-03-12T08:15:03+0000","Delivered":false,"Rcpt":"b@corp.example","aCode":"x"}"#;
        let joined = format!("{s1},{s2}");
        let mut ev = Event::default();
        assert_eq!(p.parse(&Line::plain(&joined), &mut ev), Ok(Parsed::Event));
        check_event(
            &ev,
            &[("email.to.address", "a@corp.example"), ("event.original", s1)],
            "joined 1",
        );
        let second = p.take_completed().unwrap();
        check_event(
            &second,
            &[
                ("email.to.address", "b@corp.example"),
                ("event.outcome", "failure"),
                ("event.original", s2),
            ],
            "joined 2",
        );
        assert!(p.take_completed().is_none());
    }

    #[test]
    fn rejections() {
        let cases: &[(&str, &str)] = &[
            ("2024-03-12 08:15:02 mimecast receipt", "not a JSON object"),
            (r#"{"acc":"C1","datetime":"#, "invalid JSON"),
            (
                r#"{"acc":"C1","datetime":"2024-03-12T08:15:02+0000"} x"#,
                "text after the JSON object",
            ),
            (
                r#"{"acc":"C1","datetime":"12/03/2024 08:15"}"#,
                "invalid Mimecast date (expected ISO 8601 or epoch milliseconds)",
            ),
            (
                r#"{"Sender":"a@x.example","Rcpt":"b@corp.example","Subject":"Hi"}"#,
                NOT_MIMECAST,
            ),
            (
                r#"{"meta":{"status":200},"data":{"x":1}}"#,
                "Mimecast API page without a data array",
            ),
            (r#"{"meta":1,"acc":{"nested":true},"datetime":["x"]}"#, NOT_MIMECAST),
        ];
        for (line, reason) in cases {
            assert_eq!(parse(line).err().map(|e| e.reason), Some(*reason), "{line}");
        }
    }

    #[test]
    fn other_vendors_json_is_rejected() {
        let lines = [
            r#"{"@timestamp":"2024-03-12T08:15:02Z","event":{"dataset":"postfix.log"},"email":{"from":{"address":"a@x.example"},"to":{"address":["b@corp.example"]}},"url":{"original":"http://t.example/"}}"#,
            r#"{"sourcetype":"zscalernss-web","event":{"time":"Tue Mar 12 08:15:02 2024","login":"jdoe@corp.example","eurl":"t.example/o.gif","cip":"10.0.0.1","action":"Allowed"}}"#,
            r#"{"GUID":"abc","QID":"r2FNwRHF004109","messageTime":"2024-03-12T08:15:02.000Z","sender":"a@x.example","recipient":["b@corp.example"],"subject":"Hi","senderIP":"203.0.113.5","messageID":"<m@x.example>"}"#,
            r#"{"Received":"2024-03-12T08:15:02.1234567","SenderAddress":"a@x.example","RecipientAddress":"b@corp.example","Subject":"Hi","Status":"Delivered","MessageId":"<m@x.example>","FromIP":"203.0.113.5"}"#,
        ];
        for line in lines {
            assert!(parse(line).is_err(), "accepted as Mimecast: {line}");
        }
    }

    #[test]
    fn cut_lines_never_panic() {
        let joined = format!("{},{}", INFO.example, INFO.example);
        for line in [INFO.example, joined.as_str()] {
            for (i, _) in line.char_indices() {
                let mut p = MimecastParser::new(&ParseContext::default());
                let _ = p.parse(&Line::plain(&line[..i]), &mut Event::default());
                while p.take_completed().is_some() {}
            }
        }
    }

    /// Runs one line; returns its result, the events queued and the errors queued.
    fn run(p: &mut MimecastParser, line: &str) -> (Result<Parsed, ParseError>, Vec<Event<'static>>, Vec<&'static str>) {
        let got = p.parse(&Line::plain(line), &mut Event::default());
        let events = std::iter::from_fn(|| p.take_completed()).collect();
        let errors = std::iter::from_fn(|| p.take_error()).map(|e| e.reason).collect();
        (got, events, errors)
    }

    #[test]
    fn cut_pages_never_panic() {
        let page = r#"{"meta":{"a":"\"}"},"data":[{"x":"\\"},{"y":[1,{"z":"]"}]}, 3, "s"],"fail":[]}"#;
        let mut p = MimecastParser::new(&ParseContext::default());
        for cut in 0..page.len() {
            let _ = run(&mut p, &page[..cut]);
        }
        assert_eq!(
            run(&mut p, r#"{"meta":{},"data":"none"}"#).0,
            fail("Mimecast API page without a data array")
        );
    }

    #[test]
    fn unreadable_records_are_errors() {
        let mut p = MimecastParser::new(&ParseContext::default());
        let good = r#"{"acc":"C1","datetime":"2024-03-12T08:15:02+0000","Rcpt":"a@corp.example","aCode":"x"}"#;
        let bad_date = r#"{"acc":"C1","datetime":"yesterday","Rcpt":"b@corp.example","aCode":"y"}"#;
        // A page: every record that cannot be read beside one that can is an error.
        let page = format!(r#"{{"meta":{{"status":200}},"data":[{bad_date},{good},3,{{"x":1}}],"fail":[]}}"#);
        let (got, events, errors) = run(&mut p, &page);
        assert_eq!(got, Ok(Parsed::Absorbed));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event.original.as_deref(), Some(good));
        assert_eq!(
            errors,
            [
                "invalid Mimecast date (expected ISO 8601 or epoch milliseconds)",
                NOT_MIMECAST,
                NOT_MIMECAST
            ]
        );
        // A page none of whose records can be read is the line's error, counted once.
        let page = format!(r#"{{"meta":{{}},"data":[{{"x":1}},{bad_date}]}}"#);
        let (got, events, errors) = run(&mut p, &page);
        assert_eq!(
            got,
            fail("invalid Mimecast date (expected ISO 8601 or epoch milliseconds)")
        );
        assert!(events.is_empty() && errors.is_empty());
        // Joined records: a second record that cannot be read, or text after the records.
        let (got, events, errors) = run(&mut p, &format!("{good},{bad_date}"));
        assert_eq!((got, events.len()), (Ok(Parsed::Event), 0));
        assert_eq!(
            errors,
            ["invalid Mimecast date (expected ISO 8601 or epoch milliseconds)"]
        );
        let (got, events, errors) = run(&mut p, &format!("{good}, {good} ,{{\"acc\":"));
        assert_eq!((got, events.len()), (Ok(Parsed::Event), 1));
        assert_eq!(errors, ["invalid JSON"]);
        let (_, events, errors) = run(&mut p, &format!("{good},{good} trailing"));
        assert_eq!((events.len(), errors), (1, vec!["text after the JSON object"]));
        // A trailing comma (an array written one element a line) is no error.
        let (got, events, errors) = run(&mut p, &format!("{good},"));
        assert_eq!((got, events.len(), errors.len()), (Ok(Parsed::Event), 0, 0));
    }
}
