//! Microsoft 365 / Exchange Online message trace (dataset `m365.message_trace`), one event per
//! traced message and recipient.
//!
//! Two shapes are read:
//! - **JSON lines**, as the Reporting Web Service `MessageTrace` report and `ConvertTo-Json` of
//!   `Get-MessageTrace`/`Get-MessageTraceV2` give them (`Received`, `SenderAddress`,
//!   `RecipientAddress`, `Subject`, `Status`, `FromIP`, `ToIP`, `Size`, `MessageId`,
//!   `MessageTraceId`, ...; the Graph camelCase names `receivedDateTime`, `senderAddress`, ... are
//!   accepted too; `null` means absent). A whole OData page (`{"odata.metadata": ..., "value":
//!   [...]}`, or Graph's `@odata.context`) is also accepted: an empty page is absorbed; a page of
//!   records gives one event per record, the first as the line's event and the others through
//!   [`LineParser::take_completed`]; each of them keeps its own record's JSON text as
//!   `event.original`. A record that cannot be read is counted through
//!   [`LineParser::take_error`]; a page none of whose records can be read is an error.
//! - **CSV**, as `Get-MessageTrace | Export-Csv` and the admin center's downloaded reports write
//!   it: an optional `#TYPE ...` line (absorbed), a header row naming the columns in any order
//!   (absorbed; it fixes the columns until the next header row), then one row per record. Column
//!   names are matched without case, spaces or `_` (`Received`, `date_time_utc`, `Sender address`,
//!   ...), see `column`. Rows before any header row are rejected.
//!
//! Mapping: `Received` → `@timestamp` (Exchange Online writes UTC; a time without offset is UTC,
//! whatever `--timezone` says), `SenderAddress` → `email.from.address`, `RecipientAddress` →
//! `email.to.address`, `Subject` → `email.subject`, `Status` → `event.action` and
//! `event.outcome` (see `outcome`), `FromIP` → `source.*`, `ToIP` → `destination.*`, `Size` →
//! `email.size`, `MessageId` → `email.message_id` without `<>`, `MessageTraceId` (the network
//! message id) → `email.local_id`, `directionality` (admin-center reports) → `email.direction`.
//! `Organization` (the tenant's domain), `StartDate`, `EndDate` and `Index` describe the query,
//! not the message, and are not kept.
//!
//! `Received` is read as ISO 8601, as Windows PowerShell's `\/Date(ms)\/`, or as `Export-Csv`
//! writes a date in the session's culture: `M/d/yyyy h:mm:ss AM` (en-US), `d/M/yyyy HH:mm:ss`
//! (no AM/PM: en-GB, fr-FR, ...) or `d.M.yyyy HH:mm:ss` (de-DE, ...).

use std::borrow::Cow;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use memchr::memmem::Finder;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::event::{Dataset, Event, Field, FieldSet, Str};

use super::common::{
    Civil, CsvFields, digits, direction, non_empty, parse_iso_timestamp, parse_u64, push_addresses, set_address_cow,
    strip_angle_cow,
};
use super::json::{self, PageRecords};
use super::{FormatInfo, Line, LineParser, ParseContext, ParseError, Parsed, fail};

pub static INFO: FormatInfo = FormatInfo {
    name: "m365",
    datasets: &[DATASET],
    line_independent: false,
    description: "Microsoft 365 / Exchange Online message trace (Reporting Web Service / Graph JSON lines \
                  and OData pages, Get-MessageTrace Export-Csv)",
    example: r#"{"Organization":"corp.example","MessageId":"<DB9PR04MB8412C3E1@DB9PR04MB8412.eurprd04.prod.outlook.com>","Received":"2024-03-11T08:15:42.1273346","SenderAddress":"news@partner.example","RecipientAddress":"j.doe@corp.example","Subject":"Quarterly report","Status":"Delivered","ToIP":null,"FromIP":"203.0.113.25","Size":48211,"MessageTraceId":"6a1f4e2b-93c7-4d0e-8a1b-08dc41a7b3c2","StartDate":"2024-03-10T00:00:00Z","EndDate":"2024-03-12T00:00:00Z","Index":0}"#,
};

const DATASET: Dataset = Dataset::M365MessageTrace;

/// One message-trace record, whichever shape it came in.
#[derive(Debug, Default)]
struct Trace<'a> {
    received: Option<Str<'a>>,
    sender: Option<Str<'a>>,
    recipient: Option<Str<'a>>,
    subject: Option<Str<'a>>,
    status: Option<Str<'a>>,
    from_ip: Option<Str<'a>>,
    to_ip: Option<Str<'a>>,
    size: Option<u64>,
    message_id: Option<Str<'a>>,
    trace_id: Option<Str<'a>>,
    direction: Option<Str<'a>>,
}

impl Trace<'_> {
    /// The fields the record has a value for, empty ones included (a message without a subject
    /// is an empty subject for Sigma's `''`); a JSON `null` or a missing key records nothing.
    fn recorded(&self) -> FieldSet {
        use Field as F;
        let given = [
            (self.status.is_some(), FieldSet::of(&[F::EventAction])),
            (self.sender.is_some(), FieldSet::of(&[F::EmailFromAddress])),
            (self.recipient.is_some(), FieldSet::of(&[F::EmailToAddress])),
            (self.subject.is_some(), FieldSet::of(&[F::EmailSubject])),
            (self.from_ip.is_some(), FieldSet::of(&[F::SourceAddress, F::SourceIp])),
            (
                self.to_ip.is_some(),
                FieldSet::of(&[F::DestinationAddress, F::DestinationIp]),
            ),
            (self.size.is_some(), FieldSet::of(&[F::EmailSize])),
            (self.message_id.is_some(), FieldSet::of(&[F::EmailMessageId])),
            (self.trace_id.is_some(), FieldSet::of(&[F::EmailLocalId])),
            (self.direction.is_some(), FieldSet::of(&[F::EmailDirection])),
        ];
        FieldSet::of(&[F::Timestamp]) | FieldSet::given(given)
    }
}

/// A JSON string borrowed from the line when it has no escapes. (serde borrows a `Cow<str>` only
/// when it is the field's whole type, so `Option<Cow>` needs this wrapper.) Unlike the lenient
/// [`json::text`], a value of another type makes the record invalid.
#[derive(Debug, Deserialize)]
struct S<'a>(#[serde(borrow)] Cow<'a, str>);

/// A record as JSON. Unknown keys (`Organization`, `StartDate`, `Index`, ...) are skipped.
#[derive(Debug, Deserialize)]
struct JsonTrace<'a> {
    #[serde(rename = "Received", alias = "receivedDateTime", borrow)]
    received: Option<S<'a>>,
    #[serde(rename = "SenderAddress", alias = "senderAddress", borrow)]
    sender: Option<S<'a>>,
    #[serde(rename = "RecipientAddress", alias = "recipientAddress", borrow)]
    recipient: Option<S<'a>>,
    #[serde(rename = "Subject", alias = "subject", borrow)]
    subject: Option<S<'a>>,
    #[serde(rename = "Status", alias = "status", borrow)]
    status: Option<S<'a>>,
    #[serde(rename = "FromIP", alias = "fromIP", borrow)]
    from_ip: Option<S<'a>>,
    #[serde(rename = "ToIP", alias = "toIP", borrow)]
    to_ip: Option<S<'a>>,
    #[serde(rename = "Size", alias = "size", default, deserialize_with = "json::number")]
    size: Option<u64>,
    #[serde(rename = "MessageId", alias = "messageId", borrow)]
    message_id: Option<S<'a>>,
    #[serde(rename = "MessageTraceId", borrow)]
    trace_id: Option<S<'a>>,
}

impl<'a> From<JsonTrace<'a>> for Trace<'a> {
    fn from(j: JsonTrace<'a>) -> Self {
        let s = |v: Option<S<'a>>| v.map(|s| s.0);
        Trace {
            received: s(j.received),
            sender: s(j.sender),
            recipient: s(j.recipient),
            subject: s(j.subject),
            status: s(j.status),
            from_ip: s(j.from_ip),
            to_ip: s(j.to_ip),
            size: j.size,
            message_id: s(j.message_id),
            trace_id: s(j.trace_id),
            direction: None,
        }
    }
}

/// An OData page of records (`{"odata.metadata": ..., "value": [...]}`, or Graph's `@odata.context`).
#[derive(Deserialize)]
struct ODataPage<'a> {
    #[serde(borrow)]
    value: Vec<&'a RawValue>,
}

/// What a CSV column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Received,
    Sender,
    Recipient,
    Subject,
    Status,
    FromIp,
    ToIp,
    Size,
    MessageId,
    TraceId,
    Direction,
    Other,
}

/// The column a header name stands for. Names are compared lower-cased and without anything but
/// letters and digits, so `Received`, `"received"` and `Sender address` all match; the second
/// names are those of the admin center's extended/enhanced reports.
fn column(name: &str) -> Col {
    const NAMES: &[(&str, Col)] = &[
        ("received", Col::Received),
        ("receiveddatetime", Col::Received),
        ("datetimeutc", Col::Received),
        ("dateutc", Col::Received),
        ("origintimestamputc", Col::Received),
        ("senderaddress", Col::Sender),
        ("sender", Col::Sender),
        ("recipientaddress", Col::Recipient),
        ("recipient", Col::Recipient),
        ("subject", Col::Subject),
        ("messagesubject", Col::Subject),
        ("status", Col::Status),
        ("deliverystatus", Col::Status),
        ("eventid", Col::Status),
        ("fromip", Col::FromIp),
        ("originalclientip", Col::FromIp),
        ("toip", Col::ToIp),
        ("size", Col::Size),
        ("messagesize", Col::Size),
        ("totalbytes", Col::Size),
        ("messageid", Col::MessageId),
        ("messagetraceid", Col::TraceId),
        ("networkmessageid", Col::TraceId),
        ("directionality", Col::Direction),
        ("direction", Col::Direction),
    ];
    NAMES
        .iter()
        .find(|(n, _)| same_name(name, n))
        .map_or(Col::Other, |&(_, c)| c)
}

/// `raw` equals `want` (lower-case letters and digits) once lower-cased and stripped of other
/// characters.
fn same_name(raw: &str, want: &str) -> bool {
    let mut w = want.bytes();
    raw.bytes()
        .filter(u8::is_ascii_alphanumeric)
        .all(|b| w.next() == Some(b.to_ascii_lowercase()))
        && w.next().is_none()
}

pub struct M365Parser {
    /// Columns of the last CSV header row.
    csv: Option<Vec<Col>>,
    /// Records of an OData page after the first, and errors of its records.
    pages: PageRecords,
    /// Built once: building a finder costs more than searching one line.
    odata: Finder<'static>,
    /// Matches both `Received` and Graph's `receivedDateTime`.
    received: Finder<'static>,
}

impl M365Parser {
    pub fn new(_ctx: &ParseContext) -> Self {
        // No use for `ctx.timezone`: Exchange Online writes UTC (see the module documentation).
        M365Parser {
            csv: None,
            pages: PageRecords::default(),
            odata: Finder::new("odata"),
            received: Finder::new("eceived"),
        }
    }

    fn json<'a>(&mut self, line: &Line<'a>, body: &'a str, event: &mut Event<'a>) -> Result<Parsed, ParseError> {
        if self.odata.find(body.as_bytes()).is_some()
            && let Ok(page) = serde_json::from_str::<ODataPage<'a>>(body)
        {
            return self.pages.read_page(&page.value, line.offset, Some(event), |raw, ev| {
                let rec: JsonTrace<'a> = serde_json::from_str(raw)
                    .map_err(|_| ParseError::new("invalid message-trace JSON record in an OData page"))?;
                fill(rec.into(), ev)
            });
        }
        if self.received.find(body.as_bytes()).is_none() {
            return fail("JSON without Received: not a message-trace record");
        }
        let rec: JsonTrace<'a> =
            serde_json::from_str(body).map_err(|_| ParseError::new("invalid message-trace JSON record"))?;
        fill(rec.into(), event)?;
        Ok(Parsed::Event)
    }

    fn csv<'a>(&mut self, body: &'a str, event: &mut Event<'a>) -> Result<Parsed, ParseError> {
        let row_err = match &self.csv {
            Some(cols) => match csv_row(cols, body, event) {
                Ok(()) => return Ok(Parsed::Event),
                Err(e) => e,
            },
            None => ParseError::new("CSV row before a header row naming Received, SenderAddress, RecipientAddress"),
        };
        // Not a row of the current layout: perhaps a (new) header row.
        let mut cols = Vec::new();
        for name in CsvFields::new(body) {
            let Ok(name) = name else { return Err(row_err) };
            cols.push(column(&name));
        }
        let known = cols.iter().filter(|c| **c != Col::Other).count();
        let has = |c: Col| cols.contains(&c);
        if has(Col::Received) && (has(Col::Sender) || has(Col::Recipient)) && known >= 3 {
            self.csv = Some(cols);
            Ok(Parsed::Absorbed)
        } else {
            Err(row_err)
        }
    }
}

impl LineParser for M365Parser {
    fn parse<'a>(&mut self, line: &Line<'a>, event: &mut Event<'a>) -> Result<Parsed, ParseError> {
        let body = line.body.trim();
        if body.starts_with('{') {
            self.json(line, body, event)
        } else if body.starts_with("#TYPE ") {
            // Windows PowerShell's Export-Csv names the exported type first.
            Ok(Parsed::Absorbed)
        } else if body.starts_with(['#', '[']) || body.is_empty() {
            fail("not a message-trace JSON record or CSV row")
        } else {
            self.csv(body, event)
        }
    }

    fn take_completed(&mut self) -> Option<Event<'static>> {
        self.pages.take()
    }

    fn take_error(&mut self) -> Option<ParseError> {
        self.pages.take_error()
    }
}

/// Fills `event` from one CSV row laid out as `cols`.
fn csv_row<'a>(cols: &[Col], body: &'a str, event: &mut Event<'a>) -> Result<(), ParseError> {
    let mut t = Trace::default();
    let mut n = 0;
    for field in CsvFields::new(body) {
        let v = non_empty(field?);
        match cols.get(n) {
            None => return fail("column count differs from the CSV header row"),
            Some(Col::Received) => t.received = v,
            Some(Col::Sender) => t.sender = v,
            Some(Col::Recipient) => t.recipient = v,
            Some(Col::Subject) => t.subject = v,
            Some(Col::Status) => t.status = v,
            Some(Col::FromIp) => t.from_ip = v,
            Some(Col::ToIp) => t.to_ip = v,
            Some(Col::Size) => t.size = v.and_then(|v| parse_u64(v.trim())),
            Some(Col::MessageId) => t.message_id = v,
            Some(Col::TraceId) => t.trace_id = v,
            Some(Col::Direction) => t.direction = v,
            Some(Col::Other) => {}
        }
        n += 1;
    }
    if n != cols.len() {
        return fail("column count differs from the CSV header row");
    }
    fill(t, event)
}

/// Fills `event` from a record; `Received` must be a date.
fn fill<'a>(t: Trace<'a>, event: &mut Event<'a>) -> Result<(), ParseError> {
    let Some(ts) = t.received.as_deref().and_then(parse_received) else {
        return fail("Received missing or not a date");
    };
    event.timestamp = Some(ts);
    event.set_dataset(DATASET);
    event.recorded = t.recorded();
    if let Some(status) = t.status.and_then(non_empty) {
        event.event.outcome = outcome(&status).map(Cow::Borrowed);
        event.event.action = Some(status);
    }
    event.email.from.address = t.sender.map(strip_angle_cow).and_then(non_empty);
    if let Some(r) = t.recipient {
        push_addresses(&mut event.email.to.address, r);
    }
    event.email.subject = t.subject.and_then(non_empty);
    if let Some(ip) = t.from_ip {
        set_address_cow(&mut event.source, ip);
    }
    if let Some(ip) = t.to_ip {
        set_address_cow(&mut event.destination, ip);
    }
    event.email.size = t.size;
    event.email.message_id = t.message_id.map(strip_angle_cow).and_then(non_empty);
    event.email.local_id = t.trace_id.and_then(non_empty);
    event.email.direction = t.direction.as_deref().and_then(direction).map(Cow::Borrowed);
    Ok(())
}

/// `event.outcome` for a trace status (or an event id of the extended report): delivered or
/// handed on is a success; failed, quarantined or filtered as spam (not in the inbox) is a
/// failure; pending and unknown statuses say nothing.
fn outcome(status: &str) -> Option<&'static str> {
    const SUCCESS: &[&str] = &["Delivered", "Expanded", "Resolved", "Deliver", "Send", "Receive"];
    const FAILURE: &[&str] = &["Failed", "FilteredAsSpam", "Quarantined", "Fail", "Dsn"];
    if SUCCESS.iter().any(|s| s.eq_ignore_ascii_case(status)) {
        Some("success")
    } else if FAILURE.iter().any(|s| s.eq_ignore_ascii_case(status)) {
        Some("failure")
    } else {
        None
    }
}

/// Parses `Received` in the forms listed in the module documentation, as UTC when it has no offset.
fn parse_received(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Some(ms) = s.strip_prefix("/Date(") {
        // `/Date(1710144942127)/`, possibly with an offset that only tells the writer's zone.
        let end = ms.find(|c: char| !c.is_ascii_digit() && c != '-').unwrap_or(ms.len());
        let ms: i64 = ms[..end].parse().ok()?;
        return Timestamp::from_millisecond(ms).ok();
    }
    if s.as_bytes().get(4) == Some(&b'-') {
        return parse_iso_timestamp(s, &TimeZone::UTC);
    }
    parse_culture_date(s)?.at_offset(0)
}

/// `M/d/yyyy h:mm:ss AM|PM`, `d/M/yyyy H:mm:ss` or `d.M.yyyy H:mm:ss` (optionally `.fff` seconds).
fn parse_culture_date(s: &str) -> Option<Civil> {
    let b = s.as_bytes();
    let mut i = 0;
    let num = |max_len: usize, i: &mut usize| -> Option<u32> {
        let len = b[*i..].iter().take(max_len).take_while(|c| c.is_ascii_digit()).count();
        let v = digits(&b[*i..], len).filter(|_| len > 0)?;
        *i += len;
        Some(v)
    };
    let expect = |c: u8, i: &mut usize| -> Option<()> { (b.get(*i) == Some(&c)).then(|| *i += 1) };
    let a = num(2, &mut i)?;
    let sep = *b.get(i).filter(|c| matches!(c, b'/' | b'.'))?;
    i += 1;
    let c = num(2, &mut i)?;
    expect(sep, &mut i)?;
    let year = num(4, &mut i).filter(|y| *y >= 1000)?;
    expect(b' ', &mut i)?;
    let mut hour = num(2, &mut i)?;
    expect(b':', &mut i)?;
    let minute = num(2, &mut i)?;
    expect(b':', &mut i)?;
    let second = num(2, &mut i)?;
    let mut nanos = 0;
    if expect(b'.', &mut i).is_some() {
        let len = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        let take = len.min(9);
        nanos = digits(&b[i..], take).filter(|_| len > 0)? * 10u32.pow(9 - take as u32);
        i += len;
    }
    let rest = &s[i..];
    let (month, day) = match rest.trim_start() {
        "" => (c, a),
        ampm if sep == b'/' => {
            let pm = if ampm.eq_ignore_ascii_case("PM") {
                true
            } else if ampm.eq_ignore_ascii_case("AM") {
                false
            } else {
                return None;
            };
            if !(1..=12).contains(&hour) {
                return None;
            }
            hour = hour % 12 + if pm { 12 } else { 0 };
            (a, c)
        }
        _ => return None,
    };
    Some(Civil {
        year: year as i16,
        month: month as u8,
        day: day as u8,
        hour: hour as u8,
        minute: minute as u8,
        second: second as u8,
        nanos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Field, Value};
    use crate::parse::{Format, detect};

    fn run(lines: &[&str]) -> Vec<Result<(Parsed, Vec<Event<'static>>), ParseError>> {
        let mut p = M365Parser::new(&ParseContext::default());
        lines
            .iter()
            .map(|l| {
                let line = Line::plain(l);
                let mut ev = Event::default();
                let r = p.parse(&line, &mut ev)?;
                let mut evs = Vec::new();
                if r == Parsed::Event {
                    evs.push(ev.into_owned());
                }
                evs.extend(std::iter::from_fn(|| p.take_completed()));
                Ok((r, evs))
            })
            .collect()
    }

    fn one(line: &str) -> Event<'static> {
        match run(&[line]).remove(0) {
            Ok((Parsed::Event, mut evs)) if evs.len() == 1 => evs.remove(0),
            other => panic!("{other:?}\n{line}"),
        }
    }

    fn get(ev: &Event<'_>, name: &str) -> Option<String> {
        ev.get(Field::from_name(name).unwrap()).map(|v| match v {
            Value::Time(t) => t.to_string(),
            other => other.to_string(),
        })
    }

    fn check(ev: &Event<'_>, want: &[(&str, Option<&str>)]) {
        for (name, value) in want {
            assert_eq!(get(ev, name).as_deref(), *value, "{name}");
        }
    }

    #[test]
    fn json_record() {
        let ev = one(INFO.example);
        check(
            &ev,
            &[
                ("event.dataset", Some(DATASET.name())),
                ("@timestamp", Some("2024-03-11T08:15:42.1273346Z")),
                ("email.from.address", Some("news@partner.example")),
                ("email.to.address", Some("j.doe@corp.example")),
                ("email.subject", Some("Quarterly report")),
                ("event.action", Some("Delivered")),
                ("event.outcome", Some("success")),
                ("source.ip", Some("203.0.113.25")),
                ("destination.ip", None),
                ("email.size", Some("48211")),
                (
                    "email.message_id",
                    Some("DB9PR04MB8412C3E1@DB9PR04MB8412.eurprd04.prod.outlook.com"),
                ),
                ("email.local_id", Some("6a1f4e2b-93c7-4d0e-8a1b-08dc41a7b3c2")),
                ("host.hostname", None),
            ],
        );
    }

    #[test]
    fn json_escapes_nulls_offsets_and_graph_names() {
        // Escaped <> (as the Reporting Web Service writes them), a quoted, non-ASCII subject, an
        // explicit offset, nulls.
        let ev = one(
            r#"{"MessageId":"\u003cCAK7f2@mail.far.example\u003e","Received":"2024-03-11T09:15:42+01:00","SenderAddress":"x@far.example","RecipientAddress":"a.b@corp.example","Subject":"Facture \"n°42\", à régler","Status":"FilteredAsSpam","ToIP":"2001:db8::25","FromIP":null,"Size":"1024","MessageTraceId":null}"#,
        );
        check(
            &ev,
            &[
                ("@timestamp", Some("2024-03-11T08:15:42Z")),
                ("email.message_id", Some("CAK7f2@mail.far.example")),
                ("email.subject", Some("Facture \"n°42\", à régler")),
                ("event.outcome", Some("failure")),
                ("destination.ip", Some("2001:db8::25")),
                ("source.ip", None),
                ("email.size", Some("1024")),
                ("email.local_id", None),
            ],
        );
        // Plain strings stay borrowed from the line.
        let line = r#"{"Received":"2024-03-11T08:15:42Z","SenderAddress":"x@far.example","Status":"Pending"}"#;
        let mut ev = Event::default();
        M365Parser::new(&ParseContext::default())
            .parse(&Line::plain(line), &mut ev)
            .unwrap();
        assert!(matches!(ev.email.from.address, Some(Cow::Borrowed(_))));
        assert_eq!(ev.event.outcome, None);
        // Graph's camelCase names; Windows PowerShell's /Date(ms)/.
        let ev = one(
            r#"{"receivedDateTime":"\/Date(1710144942127)\/","senderAddress":"x@far.example","recipientAddress":"a@corp.example","status":"Failed","fromIP":"198.51.100.9","size":77}"#,
        );
        check(
            &ev,
            &[
                ("@timestamp", Some("2024-03-11T08:15:42.127Z")),
                ("email.to.address", Some("a@corp.example")),
                ("event.outcome", Some("failure")),
                ("source.ip", Some("198.51.100.9")),
                ("email.size", Some("77")),
            ],
        );
    }

    #[test]
    fn odata_pages() {
        let empty = r#"{"odata.metadata":"https://reports.office365.com/ecp/ReportingWebService/Reporting.svc/$metadata#MessageTrace","value":[]}"#;
        assert_eq!(run(&[empty])[0].as_ref().map(|r| r.0), Ok(Parsed::Absorbed));
        let graph_empty = r#"{ "@odata.context" : "https://graph.microsoft.com/beta/$metadata#x", "value" : [ ] }"#;
        assert_eq!(run(&[graph_empty])[0].as_ref().map(|r| r.0), Ok(Parsed::Absorbed));

        let rec1 = r#"{"Received":"2024-03-11T08:15:42.127","SenderAddress":"a@far.example","RecipientAddress":"x@corp.example","Status":"Delivered","Subject":"[value]: {\"odata\"}"}"#;
        let rec2 = r#"{"Received":"2024-03-11T08:16:00","SenderAddress":"b@far.example","RecipientAddress":"y@corp.example","Status":"Quarantined"}"#;
        let page = format!(
            r#"{{"odata.metadata":"https://reports.office365.com/x","odata.nextLink":"https://reports.office365.com/x?$skiptoken=5","value":[{rec1}, {rec2}]}}"#
        );
        let (r, evs) = run(&[&page]).remove(0).unwrap();
        assert_eq!(r, Parsed::Event);
        assert_eq!(evs.len(), 2);
        check(
            &evs[0],
            &[
                ("email.from.address", Some("a@far.example")),
                ("email.subject", Some("[value]: {\"odata\"}")),
                ("event.original", Some(rec1)),
            ],
        );
        check(
            &evs[1],
            &[
                ("email.from.address", Some("b@far.example")),
                ("event.outcome", Some("failure")),
                ("event.original", Some(rec2)),
            ],
        );
        // A page whose records are all invalid is an error, not silence.
        let bad = r#"{"odata.metadata":"x","value":[{"Received":"yesterday","SenderAddress":"a@b.example"}]}"#;
        assert_eq!(
            run(&[bad])[0].as_ref().err(),
            Some(&ParseError::new("Received missing or not a date"))
        );
    }

    #[test]
    fn csv_export() {
        let lines = [
            "#TYPE Deserialized.Microsoft.Exchange.Management.FfoReporting.MessageTrace",
            r#""PSComputerName","RunspaceId","PSShowComputerName","Organization","MessageId","Received","SenderAddress","RecipientAddress","Subject","Status","ToIP","FromIP","Size","MessageTraceId","StartDate","EndDate","Index""#,
            r#""outlook.office365.com","0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6","False","corp.example","<CAK7f2@mail.far.example>","3/11/2024 8:15:42 PM","x@far.example","a.b@corp.example","Invoice, ""urgent""","Delivered","","198.51.100.9","30512","6a1f4e2b-93c7-4d0e-8a1b-08dc41a7b3c2","3/10/2024 12:00:00 AM","3/12/2024 12:00:00 AM","0""#,
            // Admin-center download: other names, unquoted, ISO dates, directionality.
            "date_time_utc,sender_address,recipient_address,message_subject,event_id,total_bytes,network_message_id,directionality",
            "2024-03-11T08:15:42.127Z,j.doe@corp.example,x@far.example;y@far.example,Hello,SEND,2048,9f2e4c1a-0b3d-4e5f-a6b7-08dc41a7b3c9,Originating",
        ];
        let got = run(&lines);
        assert_eq!(got[0].as_ref().map(|r| r.0), Ok(Parsed::Absorbed));
        assert_eq!(got[1].as_ref().map(|r| r.0), Ok(Parsed::Absorbed));
        let (_, evs) = got[2].as_ref().unwrap();
        check(
            &evs[0],
            &[
                ("@timestamp", Some("2024-03-11T20:15:42Z")),
                ("email.message_id", Some("CAK7f2@mail.far.example")),
                ("email.from.address", Some("x@far.example")),
                ("email.to.address", Some("a.b@corp.example")),
                ("email.subject", Some("Invoice, \"urgent\"")),
                ("event.action", Some("Delivered")),
                ("destination.ip", None),
                ("source.ip", Some("198.51.100.9")),
                ("email.size", Some("30512")),
                ("email.local_id", Some("6a1f4e2b-93c7-4d0e-8a1b-08dc41a7b3c2")),
            ],
        );
        assert_eq!(got[3].as_ref().map(|r| r.0), Ok(Parsed::Absorbed));
        let (_, evs) = got[4].as_ref().unwrap();
        check(
            &evs[0],
            &[
                ("@timestamp", Some("2024-03-11T08:15:42.127Z")),
                ("email.to.address", Some("x@far.example,y@far.example")),
                ("event.action", Some("SEND")),
                ("event.outcome", Some("success")),
                ("email.size", Some("2048")),
                ("email.direction", Some("outbound")),
            ],
        );
    }

    #[test]
    fn culture_dates() {
        let cases = [
            ("3/11/2024 8:15:42 PM", Some("2024-03-11T20:15:42Z")),
            ("3/11/2024 12:05:00 AM", Some("2024-03-11T00:05:00Z")),
            ("3/11/2024 12:05:00 PM", Some("2024-03-11T12:05:00Z")),
            ("11/03/2024 20:15:42", Some("2024-03-11T20:15:42Z")),
            ("11.03.2024 20:15:42", Some("2024-03-11T20:15:42Z")),
            ("11.03.2024 20:15:42.5", Some("2024-03-11T20:15:42.5Z")),
            ("2024-03-11 20:15:42", Some("2024-03-11T20:15:42Z")),
            ("3/11/2024 13:15:42 PM", None),
            ("11.03.2024 8:15:42 PM", None),
            ("3/11/24 8:15:42 PM", None),
            ("3/31/2024 8:15:42", None),
            ("Received", None),
            ("", None),
            ("/Date(abc)/", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_received(s).map(|t| t.to_string()).as_deref(), want, "{s}");
        }
    }

    #[test]
    fn rejections() {
        let header = r#""Received","SenderAddress","RecipientAddress","Subject","Status""#;
        let cases: &[(&[&str], &str)] = &[
            (
                &[r#""3/11/2024 8:15:42 PM","x@far.example","a@corp.example","Hi","Delivered""#],
                "CSV row before a header row naming Received, SenderAddress, RecipientAddress",
            ),
            (
                &[
                    header,
                    r#""3/11/2024 8:15:42 PM","x@far.example","a@corp.example","Hi""#,
                ],
                "column count differs from the CSV header row",
            ),
            (
                &[header, r#""soon","x@far.example","a@corp.example","Hi","Delivered""#],
                "Received missing or not a date",
            ),
            (
                &[header, r#""3/11/2024 8:15:42 PM","x@far"#],
                "unterminated quoted CSV field",
            ),
            (
                &[r#"{"@timestamp":"2024-03-11T08:15:42Z","message":"hello"}"#],
                "JSON without Received: not a message-trace record",
            ),
            (
                &[r#"{"Received":"2024-03-11T08:15:42Z","#],
                "invalid message-trace JSON record",
            ),
            (&[r#"{"Received":5}"#], "invalid message-trace JSON record"),
            (
                &[r#"{"SenderAddress":"a@b.example","Received":null}"#],
                "Received missing or not a date",
            ),
            (&["#Fields: date time"], "not a message-trace JSON record or CSV row"),
        ];
        for (lines, reason) in cases {
            let got = run(lines);
            assert_eq!(
                got.last().unwrap().as_ref().err(),
                Some(&ParseError::new(reason)),
                "{lines:?}"
            );
        }
    }

    #[test]
    fn other_formats_are_rejected() {
        for line in [
            "1157689312.049   5006 10.105.21.199 TCP_MISS/200 19763 CONNECT login.yahoo.com:443 badeyek DIRECT/209.73.177.115 -",
            "Mar 11 08:15:42 mx1 postfix/smtpd[1234]: connect from unknown[203.0.113.25]",
            super::super::exchange::INFO.example,
            r#"{"datetime":"2024-03-11T08:15:42+0000","aCode":"abc","Sender":"x@far.example","Rcpt":"a@corp.example"}"#,
            r#"{"@timestamp":"2024-03-11T08:15:42Z","value":[],"event":{"dataset":"x"}}"#,
            "#Software: Microsoft Exchange Server",
            "date,time,sender,subject",
        ] {
            assert!(run(&[line])[0].is_err(), "accepted: {line}");
        }
    }

    #[test]
    fn detected_as_m365() {
        let ctx = ParseContext::default();
        let page = r#"{"odata.metadata":"https://reports.office365.com/x","value":[]}"#;
        let d = detect::detect(&[INFO.example, INFO.example, page], &ctx, &Format::ALL).unwrap();
        assert_eq!((d.format, d.accepted), (Format::M365, 3));
        let csv = [
            r#""Received","SenderAddress","RecipientAddress","Subject","Status","ToIP","FromIP","Size","MessageId","MessageTraceId""#,
            r#""3/11/2024 8:15:42 PM","x@far.example","a@corp.example","Hi","Delivered","","198.51.100.9","100","<m@far.example>","6a1f4e2b-93c7-4d0e-8a1b-08dc41a7b3c2""#,
        ];
        let d = detect::detect(&csv, &ctx, &Format::ALL).unwrap();
        assert_eq!((d.format, d.accepted), (Format::M365, 2));
    }

    #[test]
    fn cut_lines_never_panic() {
        let header = r#""Received","SenderAddress","RecipientAddress","Subject""#;
        let row = r#""11.03.2024 20:15:42","x@far.example","a@corp.example","Réunion, «Q2» ""draft""""#;
        let page = r#"{"odata.metadata":"x","value":[{"Received":"2024-03-11T08:15:42Z","Subject":"é\"]}"}]}"#;
        for line in [INFO.example, header, row, page] {
            for (cut, _) in line.char_indices() {
                run(&[header, &line[..cut]]);
            }
        }
        let (_, evs) = run(&[header, row]).remove(1).unwrap();
        check(&evs[0], &[("email.subject", Some("Réunion, «Q2» \"draft\""))]);
        let (_, evs) = run(&[page]).remove(0).unwrap();
        check(&evs[0], &[("email.subject", Some("é\"]}"))]);
    }

    #[test]
    fn cut_pages_never_panic() {
        let page = r#"{"odata.metadata":"x\"y","n":-1.5e3,"o":{"a":[1,{"b":"]"}]},"value":[{"Received":"2024-03-11T08:15:42Z"}]}"#;
        let (r, evs) = run(&[page]).remove(0).unwrap();
        assert_eq!((r, evs.len()), (Parsed::Event, 1));
        for cut in 0..page.len() {
            let _ = run(&[&page[..cut]]);
        }
        // A `value` that is no array makes no page: the object is read as a record.
        assert_eq!(
            run(&[r#"{"odata.metadata":"x","value":{}}"#])[0].as_ref().err(),
            Some(&ParseError::new("JSON without Received: not a message-trace record"))
        );
    }

    #[test]
    fn unreadable_page_records_are_errors() {
        let good = r#"{"Received":"2024-03-11T08:15:42Z","SenderAddress":"a@far.example","Status":"Delivered"}"#;
        let no_date = r#"{"Received":"soon","SenderAddress":"b@far.example"}"#;
        let page = |records: &[&str]| format!(r#"{{"odata.metadata":"x","value":[{}]}}"#, records.join(","));
        let mut p = M365Parser::new(&ParseContext::default());
        let mut read = |records: &[&str]| {
            let text = page(records);
            let mut ev = Event::default();
            let got = p
                .parse(&Line::plain(&text), &mut ev)
                .map(|r| (r, ev.email.from.address.clone().map(Cow::into_owned)));
            let events = std::iter::from_fn(|| p.take_completed()).count();
            let errors: Vec<_> = std::iter::from_fn(|| p.take_error()).map(|e| e.reason).collect();
            (got, events, errors)
        };
        // A bad record beside a good one is counted; the good one stands for the line.
        let (got, events, errors) = read(&[no_date, good, "7"]);
        assert_eq!(got, Ok((Parsed::Event, Some("a@far.example".to_owned()))));
        assert_eq!(events, 0);
        assert_eq!(
            errors,
            [
                "Received missing or not a date",
                "invalid message-trace JSON record in an OData page"
            ]
        );
        let (got, events, errors) = read(&[good, good, no_date]);
        assert_eq!(got.map(|g| g.0), Ok(Parsed::Event));
        assert_eq!((events, errors.len()), (1, 1));
        // No record readable: the line is the error (the last record's), counted once.
        let (got, events, errors) = read(&[no_date, "[]"]);
        assert_eq!(
            got,
            Err(ParseError::new("invalid message-trace JSON record in an OData page"))
        );
        assert_eq!((events, errors.len()), (0, 0));
    }
}
