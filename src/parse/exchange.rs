//! Microsoft Exchange Server message tracking logs (`MSGTRK*.LOG`, dataset
//! `exchange.message_tracking`).
//!
//! The files are CSV. `#Software:`, `#Version:`, `#Log-type:` and `#Date:` header lines are
//! absorbed; a `#Fields:` line names the columns (it may change mid-file). Without one, the Exchange
//! 2013+ default order ([`DEFAULT_FIELDS`], 30 columns) is assumed. Every data row is one event:
//!
//! | column | field |
//! |---|---|
//! | `date-time` | `@timestamp` |
//! | `client-ip`, `client-hostname` | `source.address`/`source.ip`, `source.domain` |
//! | `server-ip`, `server-hostname` | `destination.address`/`destination.ip`, `destination.domain` |
//! | `event-id` | `event.action`; `event.outcome` from `outcome` |
//! | `message-id` | `email.message_id` (without `<>`) |
//! | `network-message-id` | `email.local_id` (`internal-message-id` when it is empty) |
//! | `recipient-address` (`;`-separated) | `email.to.address` |
//! | `total-bytes` | `email.size` |
//! | `message-subject` | `email.subject` |
//! | `sender-address` (From/Sender header) | `email.from.address` |
//! | `return-path` (SMTP `MAIL FROM`) | `email.sender.address`; `<>` is left out |
//! | `directionality` | `email.direction`: `Incoming` → `inbound`, `Originating`/`Outgoing` → `outbound` |
//!
//! `email.local_id` takes the network message id rather than the internal one: it is the same on
//! every server a message passes through and equals Exchange Online's `MessageTraceId`, so it joins
//! on-premises and cloud events of one message (the internal id is a per-server counter). The
//! `source` column (SMTP, STOREDRIVER, AGENT, ...) has no Event field yet and is not kept.
//!
//! The CSV splitter ([`CsvFields`]) borrows every field and only allocates for a quoted field that
//! holds a doubled quote (`""`). Rows of other formats are rejected on their first column (an ISO
//! timestamp is required), then on `event-id` (an upper-case word) and the column count.

use std::borrow::Cow;

use jiff::tz::TimeZone;

use crate::event::{Dataset, Event, Field, FieldSet, Str};

use super::common::{
    CsvFields, direction, non_empty, parse_iso_timestamp, parse_u64, push_addresses, set_address_cow, strip_angle_cow,
};
use super::{FormatInfo, Line, LineParser, ParseContext, ParseError, Parsed, fail};

pub static INFO: FormatInfo = FormatInfo {
    name: "exchange",
    datasets: &[DATASET],
    line_independent: false,
    description: "Microsoft Exchange Server message tracking log (MSGTRK*.LOG, CSV; #Fields header or \
                  the Exchange 2013+ default columns)",
    example: "2024-03-11T08:15:42.127Z,203.0.113.25,mail.partner.example,10.20.0.15,EXCH01,\
              08DC41A7B3C2D1E0;2024-03-11T08:15:41.902Z;0,EXCH01\\Default Frontend EXCH01,SMTP,RECEIVE,\
              41231686042119,<CAF3x9q7Lk@mail.partner.example>,6a1f4e2b-93c7-4d0e-8a1b-08dc41a7b3c2,\
              j.doe@corp.example,,48211,1,,,\"Quarterly report, draft \"\"v2\"\"\",news@partner.example,\
              bounce@partner.example,,Incoming,,203.0.113.25,10.20.0.15,S:FromEntity=Internet,Email,\
              9f2e4c1a-0b3d-4e5f-a6b7-08dc41a7b3c9,15.02.1544.004",
};

const DATASET: Dataset = Dataset::ExchangeMessageTracking;

/// What a column holds, as far as the Event cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    DateTime,
    ClientIp,
    ClientHostname,
    ServerIp,
    ServerHostname,
    EventId,
    InternalMessageId,
    MessageId,
    NetworkMessageId,
    RecipientAddress,
    TotalBytes,
    MessageSubject,
    SenderAddress,
    ReturnPath,
    Directionality,
    /// Kept in `event.original` only.
    Other,
}

impl Col {
    fn from_name(name: &str) -> Col {
        match name {
            "date-time" => Col::DateTime,
            "client-ip" => Col::ClientIp,
            "client-hostname" => Col::ClientHostname,
            "server-ip" => Col::ServerIp,
            "server-hostname" => Col::ServerHostname,
            "event-id" => Col::EventId,
            "internal-message-id" => Col::InternalMessageId,
            "message-id" => Col::MessageId,
            "network-message-id" => Col::NetworkMessageId,
            "recipient-address" => Col::RecipientAddress,
            "total-bytes" => Col::TotalBytes,
            "message-subject" => Col::MessageSubject,
            "sender-address" => Col::SenderAddress,
            "return-path" => Col::ReturnPath,
            "directionality" => Col::Directionality,
            _ => Col::Other,
        }
    }

    /// The fields a column records: an empty value in it (a message without a subject, the
    /// null return path `<>`) is an empty value for Sigma's `''`, not an absent field.
    fn recorded(self) -> FieldSet {
        use Field as F;
        match self {
            Col::DateTime => FieldSet::of(&[F::Timestamp]),
            Col::ClientIp => FieldSet::of(&[F::SourceAddress, F::SourceIp]),
            Col::ClientHostname => FieldSet::of(&[F::SourceDomain]),
            Col::ServerIp => FieldSet::of(&[F::DestinationAddress, F::DestinationIp]),
            Col::ServerHostname => FieldSet::of(&[F::DestinationDomain]),
            Col::EventId => FieldSet::of(&[F::EventAction]),
            Col::InternalMessageId | Col::NetworkMessageId => FieldSet::of(&[F::EmailLocalId]),
            Col::MessageId => FieldSet::of(&[F::EmailMessageId]),
            Col::RecipientAddress => FieldSet::of(&[F::EmailToAddress]),
            Col::TotalBytes => FieldSet::of(&[F::EmailSize]),
            Col::MessageSubject => FieldSet::of(&[F::EmailSubject]),
            Col::SenderAddress => FieldSet::of(&[F::EmailFromAddress]),
            Col::ReturnPath => FieldSet::of(&[F::EmailSenderAddress]),
            Col::Directionality => FieldSet::of(&[F::EmailDirection]),
            Col::Other => FieldSet::EMPTY,
        }
    }
}

/// The columns of a header and what they record (summed once per header).
struct Columns {
    cols: Vec<Col>,
    recorded: FieldSet,
}

impl Columns {
    fn new(cols: Vec<Col>) -> Columns {
        let recorded = cols.iter().fold(FieldSet::EMPTY, |set, c| set | c.recorded());
        Columns { cols, recorded }
    }
}

/// The Exchange 2013+ column order, used until a `#Fields:` line says otherwise.
pub const DEFAULT_FIELDS: [&str; 30] = [
    "date-time",
    "client-ip",
    "client-hostname",
    "server-ip",
    "server-hostname",
    "source-context",
    "connector-id",
    "source",
    "event-id",
    "internal-message-id",
    "message-id",
    "network-message-id",
    "recipient-address",
    "recipient-status",
    "total-bytes",
    "recipient-count",
    "related-recipient-address",
    "reference",
    "message-subject",
    "sender-address",
    "return-path",
    "message-info",
    "directionality",
    "tenant-id",
    "original-client-ip",
    "original-server-ip",
    "custom-data",
    "transport-traffic-type",
    "log-id",
    "schema-version",
];

pub struct ExchangeParser {
    tz: TimeZone,
    /// Columns of the current `#Fields:` line, or of [`DEFAULT_FIELDS`].
    cols: Columns,
    /// Whether `cols` comes from a `#Fields:` line (only changes the rejection reason).
    from_header: bool,
}

impl ExchangeParser {
    pub fn new(ctx: &ParseContext) -> Self {
        ExchangeParser {
            tz: ctx.timezone.clone(),
            cols: Columns::new(DEFAULT_FIELDS.iter().map(|n| Col::from_name(n)).collect()),
            from_header: false,
        }
    }

    fn header(&mut self, h: &str) -> Result<Parsed, ParseError> {
        if let Some(fields) = h.strip_prefix("Fields:") {
            let cols: Vec<Col> = fields.split(',').map(|n| Col::from_name(n.trim())).collect();
            if !cols.contains(&Col::DateTime) || !cols.contains(&Col::EventId) {
                return fail("#Fields line does not name message-tracking columns (date-time, event-id)");
            }
            self.cols = Columns::new(cols);
            self.from_header = true;
            Ok(Parsed::Absorbed)
        } else if let Some(s) = h.strip_prefix("Software:") {
            if s.contains("Exchange") {
                Ok(Parsed::Absorbed)
            } else {
                fail("#Software is not Microsoft Exchange")
            }
        } else if let Some(s) = h.strip_prefix("Log-type:") {
            // Mailbox servers' delivery and submission logs (MSGTRKMD, MSGTRKMS) name their kind
            // after it: `Message Tracking Log (Mailbox Delivery)`.
            if s.trim().starts_with("Message Tracking Log") {
                Ok(Parsed::Absorbed)
            } else {
                fail("#Log-type is not Message Tracking Log")
            }
        } else if h.starts_with("Version:") || h.starts_with("Date:") {
            Ok(Parsed::Absorbed)
        } else {
            fail("unknown # header line (expected #Software, #Version, #Log-type, #Date or #Fields)")
        }
    }

    fn column<'a>(&self, col: Col, v: Str<'a>, event: &mut Event<'a>) -> Result<(), ParseError> {
        match col {
            Col::DateTime => match parse_iso_timestamp(&v, &self.tz) {
                Some(ts) => event.timestamp = Some(ts),
                None => return fail("invalid date-time (expected an ISO 8601 timestamp)"),
            },
            Col::EventId => {
                if !is_event_id(&v) {
                    return fail("invalid event-id (expected an upper-case word such as RECEIVE)");
                }
                event.event.outcome = outcome(&v).map(Cow::Borrowed);
                event.event.action = Some(v);
            }
            _ if v.is_empty() => {}
            Col::ClientIp => set_address_cow(&mut event.source, v),
            Col::ClientHostname => event.source.domain = Some(v),
            Col::ServerIp => set_address_cow(&mut event.destination, v),
            Col::ServerHostname => event.destination.domain = Some(v),
            Col::InternalMessageId => {
                if event.email.local_id.is_none() {
                    event.email.local_id = Some(v);
                }
            }
            Col::NetworkMessageId => event.email.local_id = Some(v),
            Col::MessageId => event.email.message_id = non_empty(strip_angle_cow(v)),
            Col::RecipientAddress => push_addresses(&mut event.email.to.address, v),
            Col::TotalBytes => event.email.size = parse_u64(&v),
            Col::MessageSubject => event.email.subject = Some(v),
            Col::SenderAddress => event.email.from.address = non_empty(strip_angle_cow(v)),
            Col::ReturnPath => event.email.sender.address = non_empty(strip_angle_cow(v)),
            Col::Directionality => event.email.direction = direction(&v).map(Cow::Borrowed),
            Col::Other => {}
        }
        Ok(())
    }
}

impl LineParser for ExchangeParser {
    fn parse<'a>(&mut self, line: &Line<'a>, event: &mut Event<'a>) -> Result<Parsed, ParseError> {
        let body = line.body;
        if let Some(h) = body.strip_prefix('#') {
            return self.header(h);
        }
        // Every row starts with its date-time; this rejects most other formats on one byte.
        if !body.as_bytes().first().is_some_and(u8::is_ascii_digit) {
            return fail("not a message-tracking row (expected an ISO date-time first)");
        }
        event.set_dataset(DATASET);
        let mut n = 0;
        for field in CsvFields::new(body) {
            let field = field?;
            let Some(&col) = self.cols.cols.get(n) else {
                return fail(self.count_reason());
            };
            self.column(col, field, event)?;
            n += 1;
        }
        if n != self.cols.cols.len() {
            return fail(self.count_reason());
        }
        event.recorded = self.cols.recorded;
        Ok(Parsed::Event)
    }
}

impl ExchangeParser {
    fn count_reason(&self) -> &'static str {
        if self.from_header {
            "column count differs from the #Fields line"
        } else {
            "expected the 30 columns of an Exchange 2013+ message-tracking row (no #Fields line seen)"
        }
    }
}

/// `event.outcome` for an Exchange event id: failures are the events that report a message (or a
/// copy of it) not getting through; delivery and hand-over events are successes; the rest
/// (DEFER, NOTIFYMAPI, AGENTINFO, ...) say nothing about an outcome.
fn outcome(event_id: &str) -> Option<&'static str> {
    match event_id {
        "FAIL" | "DSN" | "BADMAIL" | "POISONMESSAGE" | "DROP" | "MODERATORREJECT" => Some("failure"),
        s if s.ends_with("FAIL") => Some("failure"),
        "DELIVER" | "DUPLICATEDELIVER" | "SEND" | "SENDEXTERNAL" | "RECEIVE" | "HARECEIVE" | "SUBMIT" | "TRANSFER"
        | "EXPAND" | "REDIRECT" | "RESOLVE" => Some("success"),
        _ => None,
    }
}

/// An event id is an upper-case word (`RECEIVE`, `SENDEXTERNAL`, `HAREDIRECTFAIL`).
fn is_event_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.first().is_some_and(u8::is_ascii_uppercase)
        && b.len() <= 32
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Field, Value};
    use crate::parse::{Format, detect};

    /// Builds a headerless Exchange 2013+ row from (column, value) pairs; other columns are empty.
    fn row(values: &[(&str, &str)]) -> String {
        DEFAULT_FIELDS
            .iter()
            .map(|name| {
                let v = values.iter().find(|(n, _)| n == name).map_or("", |(_, v)| *v);
                if v.contains([',', '"']) {
                    format!("\"{}\"", v.replace('"', "\"\""))
                } else {
                    v.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    fn parse_all(lines: &[&str]) -> Vec<Result<(Parsed, Event<'static>), ParseError>> {
        let mut p = ExchangeParser::new(&ParseContext::default());
        lines
            .iter()
            .map(|l| {
                let line = Line::plain(l);
                let mut ev = Event::default();
                p.parse(&line, &mut ev).map(|r| (r, ev.into_owned()))
            })
            .collect()
    }

    fn get(ev: &Event<'_>, name: &str) -> Option<String> {
        ev.get(Field::from_name(name).unwrap()).map(|v| match v {
            Value::Time(t) => t.to_string(),
            other => other.to_string(),
        })
    }

    fn check(ev: &Event<'_>, want: &[(&str, &str)], line: &str) {
        for (name, value) in want {
            assert_eq!(get(ev, name).as_deref(), Some(*value), "{name} of {line}");
        }
    }

    #[test]
    fn headerless_rows() {
        let receive = INFO.example;
        let deliver = row(&[
            ("date-time", "2024-03-11T08:15:43.560Z"),
            ("server-hostname", "EXCH01"),
            (
                "source-context",
                "MDB:2b8c0e4f-1d2a-4b3c-9e8f-7a6b5c4d3e2f, Mailbox:0d9e8f7a",
            ),
            ("connector-id", ""),
            ("source", "STOREDRIVER"),
            ("event-id", "DELIVER"),
            ("internal-message-id", "41231686042119"),
            ("message-id", "<CAF3x9q7Lk@mail.partner.example>"),
            ("recipient-address", "j.doe@corp.example;m.roe@corp.example"),
            ("total-bytes", "48211"),
            ("recipient-count", "2"),
            ("message-subject", "Réunion: «budget», Q2"),
            ("sender-address", "news@partner.example"),
            ("return-path", "<>"),
            ("directionality", "Incoming"),
        ]);
        let fail_row = row(&[
            ("date-time", "2024-03-11T09:01:07.004Z"),
            ("client-ip", "2001:db8:10::25"),
            ("server-ip", "198.51.100.7"),
            ("server-hostname", "mx.far.example"),
            ("source", "SMTP"),
            ("event-id", "FAIL"),
            ("internal-message-id", "41231686042190"),
            ("message-id", "20240311090105.3F2A1@corp.example"),
            ("recipient-address", "nobody@far.example"),
            (
                "recipient-status",
                "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found, \"nobody\"",
            ),
            ("sender-address", "j.doe@corp.example"),
            ("return-path", "j.doe@corp.example"),
            ("directionality", "Originating"),
        ]);
        let lines = [receive, deliver.as_str(), fail_row.as_str()];
        let got = parse_all(&lines);
        let ev = |i: usize| match &got[i] {
            Ok((Parsed::Event, ev)) => ev.clone(),
            other => panic!("line {i}: {other:?}\n{}", lines[i]),
        };
        check(
            &ev(0),
            &[
                ("event.dataset", DATASET.name()),
                ("@timestamp", "2024-03-11T08:15:42.127Z"),
                ("source.ip", "203.0.113.25"),
                ("source.address", "203.0.113.25"),
                ("source.domain", "mail.partner.example"),
                ("destination.ip", "10.20.0.15"),
                ("destination.domain", "EXCH01"),
                ("event.action", "RECEIVE"),
                ("event.outcome", "success"),
                ("email.message_id", "CAF3x9q7Lk@mail.partner.example"),
                ("email.local_id", "6a1f4e2b-93c7-4d0e-8a1b-08dc41a7b3c2"),
                ("email.to.address", "j.doe@corp.example"),
                ("email.size", "48211"),
                ("email.subject", "Quarterly report, draft \"v2\""),
                ("email.from.address", "news@partner.example"),
                ("email.sender.address", "bounce@partner.example"),
                ("email.direction", "inbound"),
            ],
            lines[0],
        );
        let deliver = ev(1);
        check(
            &deliver,
            &[
                ("event.action", "DELIVER"),
                ("email.to.address", "j.doe@corp.example,m.roe@corp.example"),
                ("email.subject", "Réunion: «budget», Q2"),
                // No network-message-id: the internal id stands in.
                ("email.local_id", "41231686042119"),
            ],
            lines[1],
        );
        assert_eq!(deliver.email.to.address.len(), 2);
        assert_eq!(
            deliver.email.sender.address, None,
            "the null return path <> is left out"
        );
        assert_eq!(deliver.source.ip, None);
        check(
            &ev(2),
            &[
                ("event.action", "FAIL"),
                ("event.outcome", "failure"),
                ("source.ip", "2001:db8:10::25"),
                ("destination.ip", "198.51.100.7"),
                ("email.message_id", "20240311090105.3F2A1@corp.example"),
                ("email.direction", "outbound"),
            ],
            lines[2],
        );
    }

    #[test]
    fn fields_header_sets_columns_and_may_change() {
        let lines = [
            "#Software: Microsoft Exchange Server",
            "#Version: 15.02.1544.004",
            "#Log-type: Message Tracking Log (Mailbox Delivery)",
            "#Date: 2024-03-11T08:00:02.118Z",
            "#Fields: date-time,client-ip,client-hostname,server-ip,server-hostname,source-context,connector-id,\
             source,event-id,internal-message-id,message-id,network-message-id,recipient-address,recipient-status,\
             total-bytes,recipient-count,related-recipient-address,reference,message-subject,sender-address,\
             return-path,message-info,directionality,tenant-id,original-client-ip,original-server-ip,custom-data,\
             transport-traffic-type,log-id,schema-version",
            INFO.example,
            // A shorter, reordered layout (Exchange 2010 had no network-message-id).
            "#Fields: date-time,event-id,message-id,recipient-address,sender-address,message-subject",
            "2011-05-02T10:11:12.013Z,EXPAND,<old@corp.example>,a@corp.example;b@corp.example,c@corp.example,\"Hi, all\"",
            // A row of the old layout no longer fits.
            "2011-05-02T10:11:12.013Z,EXPAND,<old@corp.example>,a@corp.example,c@corp.example,Hi,extra",
        ];
        let got = parse_all(&lines);
        for (i, r) in got.iter().take(5).enumerate() {
            assert_eq!(r.as_ref().map(|r| r.0), Ok(Parsed::Absorbed), "{}", lines[i]);
        }
        assert_eq!(got[5].as_ref().map(|r| r.0), Ok(Parsed::Event));
        assert_eq!(got[6].as_ref().map(|r| r.0), Ok(Parsed::Absorbed));
        let (_, ev) = got[7].as_ref().unwrap();
        check(
            ev,
            &[
                ("@timestamp", "2011-05-02T10:11:12.013Z"),
                ("event.action", "EXPAND"),
                ("email.message_id", "old@corp.example"),
                ("email.to.address", "a@corp.example,b@corp.example"),
                ("email.from.address", "c@corp.example"),
                ("email.subject", "Hi, all"),
            ],
            lines[7],
        );
        assert_eq!(
            got[8],
            Err(ParseError::new("column count differs from the #Fields line"))
        );
    }

    /// A column the header names records its field (an empty subject is `''` for Sigma); one it
    /// does not name is absent (`null`).
    #[test]
    fn header_columns_are_recorded() {
        let got = parse_all(&[
            "#Fields: date-time,event-id,message-subject",
            "2024-03-11T08:15:42.127Z,RECEIVE,",
            "#Fields: date-time,event-id",
            "2024-03-11T08:15:42.127Z,RECEIVE",
        ]);
        let recorded: Vec<bool> = got
            .iter()
            .filter_map(|r| match r {
                Ok((Parsed::Event, ev)) => Some(ev.recorded.contains(Field::EmailSubject)),
                _ => None,
            })
            .collect();
        assert_eq!(recorded, [true, false], "{got:?}");
    }

    #[test]
    fn rejections() {
        let short = "2024-03-11T08:15:42.127Z,1.2.3.4,host,,,ctx,conn,SMTP,RECEIVE";
        let long = format!("{},extra", INFO.example);
        let bad_event = row(&[("date-time", "2024-03-11T08:15:42.127Z"), ("event-id", "Receive")]);
        let bad_time = row(&[("date-time", "2024-13-11T08:15:42.127Z"), ("event-id", "RECEIVE")]);
        let cases: &[(&str, &str)] = &[
            (
                short,
                "expected the 30 columns of an Exchange 2013+ message-tracking row (no #Fields line seen)",
            ),
            (
                &long,
                "expected the 30 columns of an Exchange 2013+ message-tracking row (no #Fields line seen)",
            ),
            (
                &bad_event,
                "invalid event-id (expected an upper-case word such as RECEIVE)",
            ),
            (&bad_time, "invalid date-time (expected an ISO 8601 timestamp)"),
            (
                "2024-03-11T08:15:42.127Z,\"unterminated",
                "unterminated quoted CSV field",
            ),
            (
                "2024-03-11T08:15:42.127Z,\"a\"b,c",
                "text after the closing quote of a CSV field",
            ),
            (
                "#Software: Microsoft Internet Information Services 10.0",
                "#Software is not Microsoft Exchange",
            ),
            (
                "#Log-type: SMTP Receive Protocol Log",
                "#Log-type is not Message Tracking Log",
            ),
            (
                "#Fields: date time s-ip cs-method cs-uri-stem",
                "#Fields line does not name message-tracking columns (date-time, event-id)",
            ),
            (
                "#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data",
                "#Fields line does not name message-tracking columns (date-time, event-id)",
            ),
            (
                "#Remark: hello",
                "unknown # header line (expected #Software, #Version, #Log-type, #Date or #Fields)",
            ),
            ("", "not a message-tracking row (expected an ISO date-time first)"),
        ];
        for (line, reason) in cases {
            assert_eq!(
                parse_all(&[line])[0].as_ref().err(),
                Some(&ParseError::new(reason)),
                "{line}"
            );
        }
    }

    #[test]
    fn other_formats_are_rejected() {
        for line in [
            // Squid native
            "1157689312.049   5006 10.105.21.199 TCP_MISS/200 19763 CONNECT login.yahoo.com:443 badeyek DIRECT/209.73.177.115 -",
            // IIS W3C
            "2024-03-11 08:15:42 10.0.0.5 GET /owa/ - 443 - 203.0.113.9 Mozilla/5.0 - 200 0 0 15",
            // Exchange SMTP receive protocol log (9 columns)
            "2024-03-11T08:15:42.127Z,EXCH01\\Default EXCH01,08DC41A7B3C2D1E0,3,10.20.0.15:25,203.0.113.25:51234,<,EHLO mail.partner.example,",
            // Postfix via syslog
            "Mar 11 08:15:42 mx1 postfix/smtpd[1234]: connect from unknown[203.0.113.25]",
            // M365 message trace JSON and CSV
            r#"{"Received":"2024-03-11T08:15:42.127","SenderAddress":"a@b.example","Status":"Delivered"}"#,
            r#""Received","SenderAddress","RecipientAddress","Subject","Status""#,
        ] {
            assert!(parse_all(&[line])[0].is_err(), "accepted: {line}");
        }
    }

    #[test]
    fn detected_as_exchange() {
        let ctx = ParseContext::default();
        let lines = [
            "#Software: Microsoft Exchange Server",
            "#Log-type: Message Tracking Log",
            INFO.example,
            INFO.example,
        ];
        let d = detect::detect(&lines, &ctx, &Format::ALL).unwrap();
        assert_eq!(d.format, Format::Exchange);
        assert_eq!(d.accepted, 4);
    }

    #[test]
    fn cut_lines_never_panic() {
        let header = "#Fields: date-time,event-id,message-subject,recipient-address";
        let row = "2024-03-11T08:15:42.127Z,RECEIVE,\"Réunion, «Q2» \"\"draft\"\"\",a@corp.example;<b@corp.example>";
        for line in [INFO.example, header, row] {
            for (cut, _) in line.char_indices() {
                parse_all(&[header, &line[..cut]]);
                parse_all(&[&line[..cut]]);
            }
        }
        let got = parse_all(&[header, row]);
        let (_, ev) = got[1].as_ref().unwrap();
        assert_eq!(ev.email.subject.as_deref(), Some("Réunion, «Q2» \"draft\""));
        assert_eq!(ev.email.to.address, ["a@corp.example", "b@corp.example"]);
    }

    #[test]
    fn event_id_outcomes() {
        assert_eq!(outcome("DSN"), Some("failure"));
        assert_eq!(outcome("HAREDIRECTFAIL"), Some("failure"));
        assert_eq!(outcome("SENDEXTERNAL"), Some("success"));
        assert_eq!(outcome("NOTIFYMAPI"), None);
        assert_eq!(outcome("DEFER"), None);
        assert!(is_event_id("SENDEXTERNAL"));
        assert!(!is_event_id(""));
        assert!(!is_event_id("Delivered"));
        assert!(!is_event_id("1FAIL"));
    }
}
