//! Elastic Common Schema (ECS) documents, one JSON object per line: reconwatch's own `parse`
//! output, Elastic Agent/Filebeat output, or anything else already in ECS.
//!
//! Objects may be nested (`{"url":{"original":..}}`), use dotted keys (`{"url.original":..}`), or
//! mix both. The document is walked once with a serde visitor that keeps the dotted path of the
//! current key in a reused buffer and stores every leaf whose path names a [`Field`]; there is no
//! intermediate `serde_json::Value` and strings without escapes are borrowed from the line. Keys
//! that name no field are skipped. `log.*` is left to the pipeline: it describes where *this* line
//! was read, not where the document was first read.
//!
//! Every field path the document has with a value other than `null` is recorded
//! (`Event::recorded`), so a rule's `''` tells an empty `""` or `[]` apart from a key the document
//! lacks.
//!
//! A line is accepted only if it looks like ECS: it has `@timestamp`, or `ecs.version`, or at
//! least two known field paths. Other vendors' JSON (Zscaler NSS, Mimecast, Proofpoint, M365)
//! shares at most one path by accident (Zscaler's `event.action`) and is rejected.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::event::{Dataset, Event, Field, Str};

use super::common::{parse_ip, parse_iso_timestamp, parse_u64};
use super::json;
use super::{FormatInfo, Line, LineParser, ParseContext, ParseError, Parsed, fail};

pub static INFO: FormatInfo = FormatInfo {
    name: "ecs",
    // Its own dataset when the document names one of reconwatch's, else placed by its fields.
    datasets: Dataset::ALL,
    line_independent: true,
    description: "Elastic Common Schema JSON lines (nested or dotted keys), such as `reconwatch parse` output",
    example: r#"{"@timestamp":"2024-03-12T08:15:02.117Z","event":{"dataset":"squid.access","action":"TCP_MISS"},"source":{"ip":"10.20.4.17"},"url":{"original":"http://img.news-tracker.example/p.gif?u=8f3a"},"http":{"request":{"method":"GET"},"response":{"status_code":200,"bytes":43}},"user":{"name":"akowalski"}}"#,
};

/// Dataset of a document that names none.
const DEFAULT_DATASET: &str = "ecs";

pub struct EcsParser {
    timezone: TimeZone,
    /// Dotted path of the key being visited; reused across lines so the walk does not allocate.
    path: String,
}

impl EcsParser {
    pub fn new(ctx: &ParseContext) -> Self {
        EcsParser {
            timezone: ctx.timezone.clone(),
            path: String::with_capacity(64),
        }
    }
}

impl LineParser for EcsParser {
    fn parse<'a>(&mut self, line: &Line<'a>, event: &mut Event<'a>) -> Result<Parsed, ParseError> {
        let body = json::object_text(line.body)?;
        self.path.clear();
        let mut seen = Seen::default();
        let mut de = serde_json::Deserializer::from_str(body);
        let walk = Node {
            event: &mut *event,
            path: &mut self.path,
            seen: &mut seen,
            timezone: &self.timezone,
        };
        walk.deserialize(&mut de)
            .and_then(|()| de.end())
            .map_err(|e| json::error(e, "not an ECS document"))?;
        if let Some(reason) = seen.invalid {
            return fail(reason);
        }
        if !(seen.timestamp || seen.ecs_version || seen.fields >= 2) {
            return fail("JSON without ECS fields (@timestamp, ecs.version or two ECS field paths)");
        }
        event.dataset = place(event);
        if event.event.dataset.is_none() {
            event.event.dataset = Some(Cow::Borrowed(DEFAULT_DATASET));
        }
        Ok(Parsed::Event)
    }
}

/// What kind of record an ECS document is: the dataset it names when that is one of reconwatch's
/// own, else mail or web by the fields it carries (mail first: a message's links are URLs too),
/// else none (no rule routes to it, and enrichment treats it as neither).
fn place(event: &Event<'_>) -> Option<Dataset> {
    if let Some(d) = event.event.dataset.as_deref().and_then(Dataset::from_name) {
        return Some(d);
    }
    let e = &event.email;
    if e.message_id.is_some()
        || e.local_id.is_some()
        || !e.to.address.is_empty()
        || e.from.address.is_some()
        || e.sender.address.is_some()
    {
        Some(Dataset::EcsMail)
    } else if event.url.original.is_some() || event.url.domain.is_some() || event.http.request.method.is_some() {
        Some(Dataset::EcsWeb)
    } else {
        None
    }
}

/// What the walk found, for the acceptance test and error reporting.
#[derive(Default)]
struct Seen {
    timestamp: bool,
    ecs_version: bool,
    /// Leaves stored into a field (`@timestamp` included).
    fields: usize,
    /// A value that names a field but cannot be one (reported after the walk).
    invalid: Option<&'static str>,
}

/// One JSON value at `path`, visited in place.
struct Node<'w, 'a> {
    event: &'w mut Event<'a>,
    path: &'w mut String,
    seen: &'w mut Seen,
    timezone: &'w TimeZone,
}

/// A scalar found at a path.
enum Leaf<'a> {
    Str(Cow<'a, str>),
    Int(u64),
    Float(f64),
}

impl<'a> Node<'_, 'a> {
    fn leaf(self, leaf: Leaf<'a>) {
        if self.path == "ecs.version" {
            self.seen.ecs_version = true;
            return;
        }
        let Some(field) = Field::from_name(self.path) else {
            return;
        };
        record(self.event, field);
        match store(self.event, field, leaf, self.timezone) {
            Stored::Yes => {
                self.seen.fields += 1;
                self.seen.timestamp |= field == Field::Timestamp;
            }
            Stored::No => {}
            Stored::Invalid(reason) => {
                self.seen.invalid.get_or_insert(reason);
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an ECS JSON document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let base = self.path.len();
        while map.next_key_seed(PathKey(&mut *self.path))?.is_some() {
            map.next_value_seed(Node {
                event: &mut *self.event,
                path: &mut *self.path,
                seen: &mut *self.seen,
                timezone: self.timezone,
            })?;
            self.path.truncate(base);
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // ECS allows an array for any field: a list field takes every string, a single-valued
        // one the first; arrays of objects (`email.attachments`) name no field of ours.
        match Field::from_name(self.path) {
            Some(field) if list_slot(self.event, field).is_some() || str_slot(self.event, field).is_some() => {
                record(self.event, field);
                while let Some(s) = seq.next_element_seed(json::OptText)? {
                    let Some(s) = s else { continue };
                    if let Some(list) = list_slot(self.event, field) {
                        list.push(s);
                        self.seen.fields += 1;
                    } else if let Some(slot) = str_slot(self.event, field)
                        && slot.is_none()
                    {
                        *slot = Some(s);
                        self.seen.fields += 1;
                    }
                }
            }
            _ => while seq.next_element::<IgnoredAny>()?.is_some() {},
        }
        Ok(())
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        self.leaf(Leaf::Str(Cow::Borrowed(v)));
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.leaf(Leaf::Str(Cow::Owned(v.to_owned())));
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.leaf(Leaf::Int(v));
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        // Every numeric field of ours is unsigned; a negative value is kept as text where text
        // is allowed and dropped elsewhere.
        match u64::try_from(v) {
            Ok(v) => self.leaf(Leaf::Int(v)),
            Err(_) => self.leaf(Leaf::Float(v as f64)),
        }
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.leaf(Leaf::Float(v));
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.leaf(Leaf::Str(Cow::Borrowed(if v { "true" } else { "false" })));
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Notes that the document has `field` (with any value but `null`, an empty string or list
/// included): the document records it, so a missing value is an empty one for Sigma's `''`.
/// Computed fields are never read from input, and `log.*` is the pipeline's.
fn record(ev: &mut Event<'_>, field: Field) {
    if !(field.is_computed() || matches!(field, Field::LogFilePath | Field::LogOffset)) {
        ev.recorded.insert(field);
    }
}

/// Appends the next object key to the path (`a` + `b` → `a.b`).
struct PathKey<'p>(&'p mut String);

impl<'de> DeserializeSeed<'de> for PathKey<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for PathKey<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<(), E> {
        if !self.0.is_empty() {
            self.0.push('.');
        }
        self.0.push_str(key);
        Ok(())
    }
}

enum Stored {
    Yes,
    No,
    Invalid(&'static str),
}

/// Stores one leaf into `field`, converting between text and numbers where ECS producers differ.
fn store<'a>(ev: &mut Event<'a>, field: Field, leaf: Leaf<'a>, tz: &TimeZone) -> Stored {
    if field == Field::Timestamp {
        let ts = match &leaf {
            Leaf::Str(s) => parse_iso_timestamp(s, tz),
            // Epoch milliseconds, as Elasticsearch's `date` type also accepts.
            Leaf::Int(ms) => i64::try_from(*ms)
                .ok()
                .and_then(|ms| Timestamp::from_millisecond(ms).ok()),
            Leaf::Float(_) => None,
        };
        return match ts {
            Some(ts) => {
                ev.timestamp = Some(ts);
                Stored::Yes
            }
            None => Stored::Invalid("invalid @timestamp (expected RFC 3339)"),
        };
    }
    if let Some(slot) = str_slot(ev, field) {
        *slot = Some(match leaf {
            Leaf::Str(s) => s,
            Leaf::Int(n) => Cow::Owned(n.to_string()),
            Leaf::Float(x) => Cow::Owned(x.to_string()),
        });
        return Stored::Yes;
    }
    if let Some(list) = list_slot(ev, field) {
        match leaf {
            Leaf::Str(s) => list.push(s),
            Leaf::Int(n) => list.push(Cow::Owned(n.to_string())),
            Leaf::Float(_) => return Stored::No,
        }
        return Stored::Yes;
    }
    if let Some(slot) = ip_slot(ev, field) {
        return match leaf {
            Leaf::Str(s) => match parse_ip(&s) {
                Some(ip) => {
                    *slot = Some(ip);
                    Stored::Yes
                }
                None => Stored::No,
            },
            _ => Stored::No,
        };
    }
    if let Some(slot) = num_slot(ev, field) {
        let n = match leaf {
            Leaf::Int(n) => Some(n),
            Leaf::Str(s) => parse_u64(s.trim()),
            Leaf::Float(x) if x >= 0.0 && x.fract() == 0.0 && x < u64::MAX as f64 => Some(x as u64),
            Leaf::Float(_) => None,
        };
        let Some(n) = n else { return Stored::No };
        let fits = match slot {
            NumSlot::U64(s) => {
                *s = Some(n);
                true
            }
            NumSlot::U32(s) => u32::try_from(n).map(|n| *s = Some(n)).is_ok(),
            NumSlot::U16(s) => u16::try_from(n).map(|n| *s = Some(n)).is_ok(),
        };
        return if fits { Stored::Yes } else { Stored::No };
    }
    Stored::No
}

/// The text field `f` names, if it is one.
fn str_slot<'e, 'a>(ev: &'e mut Event<'a>, f: Field) -> Option<&'e mut Option<Str<'a>>> {
    use Field as F;
    Some(match f {
        F::EventDataset => &mut ev.event.dataset,
        F::EventAction => &mut ev.event.action,
        F::EventOutcome => &mut ev.event.outcome,
        F::EventReason => &mut ev.event.reason,
        F::EventOriginal => &mut ev.event.original,
        F::HostHostname => &mut ev.host.hostname,
        F::ProcessName => &mut ev.process.name,
        F::SourceAddress => &mut ev.source.address,
        F::SourceDomain => &mut ev.source.domain,
        F::DestinationAddress => &mut ev.destination.address,
        F::DestinationDomain => &mut ev.destination.domain,
        F::UserName => &mut ev.user.name,
        F::UserEmail => &mut ev.user.email,
        F::UrlOriginal => &mut ev.url.original,
        F::UrlScheme => &mut ev.url.scheme,
        F::UrlDomain => &mut ev.url.domain,
        F::UrlPath => &mut ev.url.path,
        F::UrlQuery => &mut ev.url.query,
        F::UrlFragment => &mut ev.url.fragment,
        F::UrlExtension => &mut ev.url.extension,
        F::HttpRequestMethod => &mut ev.http.request.method,
        F::HttpRequestReferrer => &mut ev.http.request.referrer,
        F::HttpRequestCookie => &mut ev.http.request.cookie,
        F::HttpRequestMimeType => &mut ev.http.request.mime_type,
        F::HttpResponseMimeType => &mut ev.http.response.mime_type,
        F::HttpVersion => &mut ev.http.version,
        F::UserAgentOriginal => &mut ev.user_agent.original,
        F::EmailFromAddress => &mut ev.email.from.address,
        F::EmailFromName => &mut ev.email.from.name,
        F::EmailSenderAddress => &mut ev.email.sender.address,
        F::EmailReplyToAddress => &mut ev.email.reply_to.address,
        F::EmailSubject => &mut ev.email.subject,
        F::EmailMessageId => &mut ev.email.message_id,
        F::EmailLocalId => &mut ev.email.local_id,
        F::EmailXMailer => &mut ev.email.x_mailer,
        F::EmailDirection => &mut ev.email.direction,
        _ => return None,
    })
}

fn list_slot<'e, 'a>(ev: &'e mut Event<'a>, f: Field) -> Option<&'e mut Vec<Str<'a>>> {
    match f {
        Field::EmailToAddress => Some(&mut ev.email.to.address),
        Field::EmailUrls => Some(&mut ev.email.urls),
        _ => None,
    }
}

fn ip_slot<'e>(ev: &'e mut Event<'_>, f: Field) -> Option<&'e mut Option<IpAddr>> {
    match f {
        Field::SourceIp => Some(&mut ev.source.ip),
        Field::DestinationIp => Some(&mut ev.destination.ip),
        Field::NetworkForwardedIp => Some(&mut ev.network.forwarded_ip),
        _ => None,
    }
}

enum NumSlot<'e> {
    U64(&'e mut Option<u64>),
    U32(&'e mut Option<u32>),
    U16(&'e mut Option<u16>),
}

fn num_slot<'e>(ev: &'e mut Event<'_>, f: Field) -> Option<NumSlot<'e>> {
    use Field as F;
    use NumSlot::*;
    Some(match f {
        F::EventDuration => U64(&mut ev.event.duration),
        F::ProcessPid => U32(&mut ev.process.pid),
        F::SourcePort => U16(&mut ev.source.port),
        F::SourceBytes => U64(&mut ev.source.bytes),
        F::DestinationPort => U16(&mut ev.destination.port),
        F::DestinationBytes => U64(&mut ev.destination.bytes),
        F::UrlPort => U16(&mut ev.url.port),
        F::HttpRequestBytes => U64(&mut ev.http.request.bytes),
        F::HttpResponseStatusCode => U16(&mut ev.http.response.status_code),
        F::HttpResponseBytes => U64(&mut ev.http.response.bytes),
        F::EmailSize => U64(&mut ev.email.size),
        // `log.*` belongs to the pipeline (see the module documentation).
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ECS input is placed once, by the parser: its own dataset when it names one of
    /// reconwatch's, else mail or web by its fields.
    #[test]
    fn documents_are_placed_by_dataset_then_by_fields() {
        let placed = |doc: &str| {
            let line = format!(r#"{{"@timestamp":"2021-01-11T08:00:00Z",{doc}}}"#);
            let ev = parse(&line).unwrap();
            (ev.dataset, ev.event.dataset.as_deref().map(str::to_owned))
        };
        assert_eq!(
            placed(r#""event":{"dataset":"squid.access"},"url":{"original":"http://a/"}"#),
            (Some(Dataset::SquidAccess), Some("squid.access".into()))
        );
        assert_eq!(
            placed(r#""event":{"dataset":"custom.gateway"},"url":{"original":"http://a/"}"#),
            (Some(Dataset::EcsWeb), Some("custom.gateway".into()))
        );
        assert_eq!(
            placed(r#""url":{"original":"http://a/"},"email":{"to":{"address":"a@b.example"}}"#),
            (Some(Dataset::EcsMail), Some("ecs".into()))
        );
        assert_eq!(placed(r#""host":{"hostname":"h"},"user":{"name":"u"}"#).0, None);
    }

    use crate::event::Value;

    fn parse(line: &str) -> Result<Event<'_>, ParseError> {
        let mut p = EcsParser::new(&ParseContext::default());
        let mut ev = Event::default();
        p.parse(&Line::plain(line), &mut ev).map(|r| {
            assert_eq!(r, Parsed::Event);
            ev
        })
    }

    fn get(ev: &Event<'_>, name: &str) -> Option<String> {
        let f = Field::from_name(name).unwrap_or_else(|| panic!("no field {name}"));
        ev.get(f).map(|v| match v {
            Value::List(l) => l.join(","),
            v => v.to_string(),
        })
    }

    #[test]
    fn nested_dotted_and_mixed_documents() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                r#"{"@timestamp":"2024-03-12T08:15:02.117Z","event":{"dataset":"squid.access","action":"TCP_MISS"},"source":{"ip":"10.20.4.17","port":51234},"url":{"original":"http://img.tracker.example/p.gif?u=8f3a","domain":"img.tracker.example"},"http":{"request":{"method":"GET"},"response":{"status_code":200,"bytes":43}}}"#,
                &[
                    ("@timestamp", "2024-03-12T08:15:02.117Z"),
                    ("event.dataset", "squid.access"),
                    ("event.action", "TCP_MISS"),
                    ("source.ip", "10.20.4.17"),
                    ("source.port", "51234"),
                    ("url.original", "http://img.tracker.example/p.gif?u=8f3a"),
                    ("url.domain", "img.tracker.example"),
                    ("http.request.method", "GET"),
                    ("http.response.status_code", "200"),
                    ("http.response.bytes", "43"),
                ],
            ),
            (
                r#"{"@timestamp":"2024-03-12T09:15:02+01:00","url.original":"https://a.example/x","user.name":"jdoe","http.response.status_code":"404","destination.ip":"2001:db8::7"}"#,
                &[
                    ("@timestamp", "2024-03-12T08:15:02Z"),
                    ("event.dataset", "ecs"),
                    ("url.original", "https://a.example/x"),
                    ("user.name", "jdoe"),
                    ("http.response.status_code", "404"),
                    ("destination.ip", "2001:db8::7"),
                ],
            ),
            (
                // Mixed: a dotted key inside a nested object; email.to.address as a string.
                r#"{"ecs":{"version":"8.11.0"},"email":{"from.address":"a@x.example","to":{"address":"b@y.example"},"subject":"Gr\u00fc\u00dfe \"Q3\""},"event.dataset":"mail.custom"}"#,
                &[
                    ("email.from.address", "a@x.example"),
                    ("email.to.address", "b@y.example"),
                    ("email.subject", "Grüße \"Q3\""),
                    ("event.dataset", "mail.custom"),
                ],
            ),
            (
                // Arrays: every recipient and URL; first value of a single-valued field.
                r#"{"@timestamp":"2024-03-12T08:15:02Z","email":{"to":{"address":["b@y.example","c@y.example"]},"from":{"address":["a@x.example"]},"urls":["http://t.example/o.gif"]},"process":{"pid":4711},"event":{"original":"raw line"}}"#,
                &[
                    ("email.to.address", "b@y.example,c@y.example"),
                    ("email.from.address", "a@x.example"),
                    ("email.urls", "http://t.example/o.gif"),
                    ("process.pid", "4711"),
                    ("event.original", "raw line"),
                ],
            ),
            (
                // Epoch milliseconds; unknown keys and objects skipped; bad IP left out.
                r#"{"@timestamp":1710231302117,"source":{"ip":"not-an-ip","geo":{"country_iso_code":"DE"}},"tags":["a"],"observer":{"vendor":"x"}}"#,
                &[("@timestamp", "2024-03-12T08:15:02.117Z"), ("source.ip", "")],
            ),
        ];
        for (line, want) in cases {
            let ev = parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            for (name, value) in *want {
                let expected = (!value.is_empty()).then(|| value.to_string());
                assert_eq!(get(&ev, name), expected, "{line}: {name}");
            }
        }
    }

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let line = r#"{"@timestamp":"2024-03-12T08:15:02Z","url":{"original":"http://a.example/p.gif"},"user":{"name":"j\"d"}}"#;
        let ev = parse(line).unwrap();
        assert!(matches!(ev.url.original, Some(Cow::Borrowed(_))));
        assert!(matches!(ev.user.name, Some(Cow::Owned(_))));
    }

    #[test]
    fn rejections() {
        let cases: &[(&str, &str)] = &[
            ("Mar 12 08:15:02 gw squid[1]: hello", "not a JSON object"),
            (r#"{"@timestamp":"2024-03-12T08:15:02Z","#, "invalid JSON"),
            (r#"{"a":1} trailing"#, "invalid JSON"),
            (
                r#"{"@timestamp":"yesterday","url.original":"x"}"#,
                "invalid @timestamp (expected RFC 3339)",
            ),
            (
                r#"{"user":{"name":"jdoe"},"tags":["x"]}"#,
                "JSON without ECS fields (@timestamp, ecs.version or two ECS field paths)",
            ),
            ("[1,2]", "not a JSON object"),
        ];
        for (line, reason) in cases {
            assert_eq!(parse(line).err().map(|e| e.reason), Some(*reason), "{line}");
        }
    }

    #[test]
    fn other_vendors_json_is_not_ecs() {
        let lines = [
            // Zscaler NSS web, wrapped: only `event.action` is an ECS path.
            r#"{"sourcetype":"zscalernss-web","event":{"time":"Tue Mar 12 08:15:02 2024","login":"jdoe@corp.example","proto":"HTTPS","eurl":"img.tracker.example/p.gif","action":"Allowed","cip":"10.20.4.17","sip":"203.0.113.9","reqmethod":"GET","respcode":"200"}}"#,
            // Mimecast TTP URL log: `url` is a string, not the ECS object.
            r#"{"userEmailAddress":"jdoe@corp.example","fromUserEmailAddress":"news@promo.example","url":"https://t.example/o.gif","ttpDefinition":"Default Inbound","subject":"Hi","action":"allow","date":"2024-03-12T08:15:02+0000","route":"inbound"}"#,
            // Mimecast SIEM receipt log.
            r#"{"acc":"C0A0","datetime":"2024-03-12T08:15:02+0000","aCode":"x1","Sender":"a@x.example","Rcpt":"b@y.example","Act":"Acc","IP":"203.0.113.5","Dir":"Inbound"}"#,
            // Proofpoint TAP message.
            r#"{"GUID":"abc","QID":"r2FNwRHF004109","messageTime":"2024-03-12T08:15:02.000Z","sender":"a@x.example","recipient":["b@y.example"],"subject":"Hi","senderIP":"203.0.113.5","messageParts":[]}"#,
            // Microsoft 365 message trace.
            r#"{"Received":"2024-03-12T08:15:02.1234567","SenderAddress":"a@x.example","RecipientAddress":"b@y.example","Subject":"Hi","Status":"Delivered","MessageId":"<m@x.example>","FromIP":"203.0.113.5"}"#,
        ];
        for line in lines {
            assert!(parse(line).is_err(), "accepted as ECS: {line}");
        }
    }

    /// Every field of [`Event`] has exactly one place the ECS walk stores into, except the
    /// timestamp (parsed separately) and `log.*` (the pipeline's).
    #[test]
    fn every_field_has_one_slot() {
        let mut ev = Event::default();
        for &f in Field::ALL {
            let slots = str_slot(&mut ev, f).is_some() as u8
                + list_slot(&mut ev, f).is_some() as u8
                + ip_slot(&mut ev, f).is_some() as u8
                + num_slot(&mut ev, f).is_some() as u8;
            let expected =
                !(f.is_computed() || matches!(f, Field::Timestamp | Field::LogFilePath | Field::LogOffset)) as u8;
            assert_eq!(slots, expected, "{f}");
        }
    }

    #[test]
    fn cut_lines_never_panic() {
        let doc = serde_json::to_string(&full_event()).unwrap();
        for (i, _) in doc.char_indices() {
            let _ = parse(&doc[..i]);
        }
    }

    /// An event with every field set, as another parser could produce it.
    fn full_event() -> Event<'static> {
        let mut ev = Event::new(Dataset::PostfixLog);
        ev.timestamp = Some("2024-03-12T08:15:02.123456789Z".parse().unwrap());
        ev.event.action = Some("reject".into());
        ev.event.outcome = Some("failure".into());
        ev.event.reason = Some("Relay access denied".into());
        ev.event.duration = Some(1_500_000);
        ev.event.original = Some(r#"Mar 12 08:15:02 mx postfix/smtpd[4711]: NOQUEUE: reject: "quoted" \ é"#.into());
        ev.host.hostname = Some("mx1.corp.example".into());
        ev.process.name = Some("postfix/smtpd".into());
        ev.process.pid = Some(4711);
        ev.source.address = Some("2001:db8::25".into());
        ev.source.ip = Some("2001:db8::25".parse().unwrap());
        ev.source.port = Some(40123);
        ev.source.domain = Some("mail.sender.example".into());
        ev.source.bytes = Some(512);
        ev.destination.address = Some("198.51.100.7".into());
        ev.destination.ip = Some("198.51.100.7".parse().unwrap());
        ev.network.forwarded_ip = Some("203.0.113.9".parse().unwrap());
        ev.destination.port = Some(25);
        ev.destination.domain = Some("mx.corp.example".into());
        ev.destination.bytes = Some(2048);
        ev.user.name = Some("jdoe".into());
        ev.user.email = Some("jdoe@corp.example".into());
        ev.url.original = Some("https://t.example:8443/o.gif?id=7#f".into());
        ev.url.scheme = Some("https".into());
        ev.url.domain = Some("t.example".into());
        ev.url.port = Some(8443);
        ev.url.path = Some("/o.gif".into());
        ev.url.query = Some("id=7".into());
        ev.url.fragment = Some("f".into());
        ev.url.extension = Some("gif".into());
        ev.http.request.method = Some("GET".into());
        ev.http.request.referrer = Some("https://mail.example/".into());
        ev.http.request.cookie = Some("sid=1".into());
        ev.http.request.mime_type = Some("text/plain".into());
        ev.http.request.bytes = Some(321);
        ev.http.response.status_code = Some(200);
        ev.http.response.bytes = Some(43);
        ev.http.response.mime_type = Some("image/gif".into());
        ev.http.version = Some("1.1".into());
        ev.user_agent.original = Some("Mozilla/5.0 (Windows NT 10.0)".into());
        ev.email.from.address = Some("news@promo.example".into());
        ev.email.from.name = Some("Promo \"News\"".into());
        ev.email.sender.address = Some("bounce@promo.example".into());
        ev.email.reply_to.address = Some("reply@promo.example".into());
        ev.email.to.address = vec!["jdoe@corp.example".into(), "ceo@corp.example".into()];
        ev.email.subject = Some("Invitation — 2024".into());
        ev.email.message_id = Some("m.123@promo.example".into());
        ev.email.local_id = Some("4TvVbq1x2Zz".into());
        ev.email.x_mailer = Some("Mailer 1.0".into());
        ev.email.direction = Some("inbound".into());
        ev.email.size = Some(48213);
        ev.email.urls = vec!["https://t.example/o.gif".into()];
        ev
    }

    /// A key with an empty value is recorded, a missing or `null` one is not: Sigma's `''`
    /// matches the first and `null` the others.
    #[test]
    fn keys_present_are_recorded() {
        let ev = parse(
            r#"{"@timestamp":"2024-03-12T08:15:02Z","user_agent":{"original":""},"http.request.referrer":null,"email":{"to":{"address":[]}},"url":{"original":"http://a.example/"}}"#,
        )
        .unwrap();
        assert!(ev.recorded.contains(Field::UserAgentOriginal));
        assert!(ev.recorded.contains(Field::EmailToAddress));
        assert!(ev.recorded.contains(Field::UrlOriginal));
        assert!(!ev.recorded.contains(Field::HttpRequestReferrer));
        assert!(!ev.recorded.contains(Field::HttpRequestCookie));
    }

    #[test]
    fn parse_output_round_trips() {
        let mut original = full_event();
        // Every field is set, so the test notices a field added to Event but not to the walk.
        for &f in Field::ALL {
            if !(f.is_computed() || matches!(f, Field::LogFilePath | Field::LogOffset)) {
                assert!(original.get(f).is_some(), "test event lacks {f}");
            }
        }
        // The document records every field it has.
        for &f in Field::ALL {
            if original.get(f).is_some() {
                original.recorded.insert(f);
            }
        }
        let nested = serde_json::to_string(&original).unwrap();
        let got = parse(&nested).unwrap();
        assert_eq!(got, original, "{nested}");

        // The same document with dotted keys, as some shippers flatten it.
        fn flatten(prefix: &str, v: &serde_json::Value, out: &mut serde_json::Map<String, serde_json::Value>) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, v) in m {
                        let p = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        };
                        flatten(&p, v, out);
                    }
                }
                v => {
                    out.insert(prefix.to_owned(), v.clone());
                }
            }
        }
        let mut flat = serde_json::Map::new();
        flatten("", &serde_json::to_value(&original).unwrap(), &mut flat);
        let dotted = serde_json::Value::Object(flat).to_string();
        assert_eq!(parse(&dotted).unwrap(), original, "{dotted}");

        // log.* describes where this line is read and is left to the pipeline.
        original.log.offset = Some(77);
        original.log.file.path = Some("/var/log/old.log".into());
        let with_log = serde_json::to_string(&original).unwrap();
        assert!(parse(&with_log).unwrap().log.is_empty());
    }
}
