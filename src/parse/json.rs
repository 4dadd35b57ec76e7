//! Lenient serde helpers for the JSON formats (Zscaler NSS, Mimecast, Proofpoint, Microsoft 365,
//! ECS): typed records whose text fields borrow from the line, and that never fail on a value of
//! an unexpected JSON type (they read it as absent), so only the presence of a format's own keys
//! decides whether a line is accepted.
//!
//! [`PageRecords`] holds what the vendors' API pages share: a page (`{"value":[...]}`,
//! `{"data":[...]}`, ...) is read into a small struct of `&RawValue`s, and each record becomes an
//! event of its own, or an error that is counted, never dropped.
//!
//! Nothing here builds a `serde_json::Value`, allocates for a string without escapes, or panics
//! on any input.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::error::Category;
use serde_json::value::RawValue;

use super::common::{extension, non_empty, parse_ip, parse_u64, split_url};
use super::{ParseError, Parsed, fail};
use crate::event::{Endpoint, Event, Str, Url};

/// The line without surrounding blanks, if it is a JSON object.
pub fn object_text(body: &str) -> Result<&str, ParseError> {
    let body = body.trim_matches(|c: char| c.is_ascii_whitespace());
    if body.starts_with('{') {
        Ok(body)
    } else {
        fail("not a JSON object")
    }
}

/// Maps a serde_json error to a reason: broken JSON, or JSON of another shape (`shape`).
pub fn error(e: serde_json::Error, shape: &'static str) -> ParseError {
    match e.classify() {
        Category::Data => ParseError::new(shape),
        Category::Syntax | Category::Eof | Category::Io => ParseError::new("invalid JSON"),
    }
}

/// `deserialize_with` for `Option<Cow<'a, str>>` fields (with `#[serde(borrow, default)]`):
/// borrows strings without escapes (serde's own `Cow` impl always copies inside an `Option`),
/// reads numbers and booleans as text, and any other value as absent.
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Str<'de>>, D::Error> {
    d.deserialize_any(TextVisitor)
}

/// [`text`] for fields where an empty string means "absent" as well (Proofpoint writes `""` for
/// values it does not know).
pub fn non_empty_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Str<'de>>, D::Error> {
    Ok(text(d)?.filter(|s| !s.is_empty()))
}

/// `deserialize_with` for `Option<u64>` fields: a non-negative integer, as a JSON number or as
/// a decimal string (Zscaler and Mimecast write both); anything else is absent.
pub fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match text(d)? {
        Some(s) => parse_u64(s.trim()),
        None => None,
    })
}

/// `deserialize_with` for `Option<f64>` fields: a non-negative decimal (`0.184301`), as a JSON
/// number or as a string of digits and a point (Proofpoint writes both); anything else is absent.
pub fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(text(d)?.and_then(|s| {
        let s = s.trim();
        // Only plain decimals: `str::parse` would also take `inf`, `-1` and `1e400`.
        let plain = s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        plain.then(|| s.parse::<f64>().ok()).flatten().filter(|n| n.is_finite())
    }))
}

/// `deserialize_with` for `Option<bool>` fields: `true`/`false` as JSON or as text, `yes`/`no`.
pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(text(d)?.and_then(|s| {
        if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("yes") {
            Some(true)
        } else if s.eq_ignore_ascii_case("false") || s.eq_ignore_ascii_case("no") {
            Some(false)
        } else {
            None
        }
    }))
}

/// `deserialize_with` for `Vec<Cow<'a, str>>` fields: one string, or an array of them (numbers
/// read as text; empty strings and elements of other types skipped).
pub fn texts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Str<'de>>, D::Error> {
    d.deserialize_any(TextsVisitor)
}

/// An array element as text: strings and numbers; anything else is skipped as `None`.
pub struct OptText;

impl<'de> DeserializeSeed<'de> for OptText {
    type Value = Option<Str<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        text(deserializer)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Option<Str<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(if v { "true" } else { "false" })))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        text(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

struct TextsVisitor;

impl<'de> Visitor<'de> for TextsVisitor {
    type Value = Vec<Str<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(non_empty(v).into_iter().collect())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(non_empty(v.to_owned()).into_iter().collect())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(s) = seq.next_element_seed(OptText)? {
            out.extend(s.filter(|s| !s.is_empty()));
        }
        Ok(out)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Vec::new())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
}

/// Splits a URL that may have been unescaped from JSON (an owned `Cow`): parts borrow from
/// the line when the URL does, and are copied otherwise.
pub fn url(original: Str<'_>) -> Url<'_> {
    match original {
        Cow::Borrowed(s) => split_url(s),
        Cow::Owned(s) => {
            let mut u = {
                let p = split_url(&s);
                Url {
                    original: None,
                    scheme: owned(p.scheme),
                    domain: owned(p.domain),
                    port: p.port,
                    path: owned(p.path),
                    query: owned(p.query),
                    fragment: owned(p.fragment),
                    extension: owned(p.extension),
                }
            };
            u.original = Some(Cow::Owned(s));
            u
        }
    }
}

fn owned(s: Option<Str<'_>>) -> Option<Str<'static>> {
    s.map(|s| Cow::Owned(s.into_owned()))
}

/// A URL logged without its scheme (`host[:port]/path?query`, as Zscaler NSS writes it): the
/// parts borrow from `rest`, `url.original` is `scheme://rest` (the one copy).
pub fn url_without_scheme<'a>(rest: Str<'a>, scheme: &'static str) -> Url<'a> {
    let s = match rest {
        Cow::Borrowed(s) => s,
        Cow::Owned(s) => {
            let mut full = String::with_capacity(scheme.len() + 3 + s.len());
            full.push_str(scheme);
            full.push_str("://");
            full.push_str(&s);
            return url(Cow::Owned(full));
        }
    };
    let end = s.find(['/', '?', '#']).unwrap_or(s.len());
    // An authority alone (`host:port`) is what `split_url` reads as CONNECT's target.
    let mut u = if end > 0 { split_url(&s[..end]) } else { Url::default() };
    let mut tail = &s[end..];
    if let Some(i) = tail.find('#') {
        u.fragment = non_empty(&tail[i + 1..]);
        tail = &tail[..i];
    }
    if let Some(i) = tail.find('?') {
        u.query = non_empty(&tail[i + 1..]);
        tail = &tail[..i];
    }
    if !tail.is_empty() {
        u.path = Some(Cow::Borrowed(tail));
        u.extension = extension(tail).map(Cow::Borrowed);
    }
    let mut full = String::with_capacity(scheme.len() + 3 + s.len());
    full.push_str(scheme);
    full.push_str("://");
    full.push_str(s);
    u.original = Some(Cow::Owned(full));
    u.scheme = Some(Cow::Borrowed(scheme));
    u
}

/// Sets `ip` and `address` of an endpoint when `s` is an IP address; other text (Mimecast's
/// `Internal IP`) is not an address and is left out. (Where a field may name a host instead,
/// [`set_address_cow`](super::common::set_address_cow) keeps any text as the address.)
pub fn set_ip<'a>(ep: &mut Endpoint<'a>, s: Str<'a>) {
    if let Some(ip) = parse_ip(s.trim()) {
        ep.ip = Some(ip);
        ep.address = Some(s);
    }
}

/// The records of API pages (and of records joined on one line) that do not stand for the line
/// itself, waiting for [`LineParser::take_completed`](super::LineParser::take_completed); and the
/// errors of records that could not be read, for
/// [`LineParser::take_error`](super::LineParser::take_error).
///
/// A record is read into an event borrowed from the line; it is queued owned, with the record's own
/// JSON text as `event.original` and the page line's offset as `log.offset`.
#[derive(Default)]
pub struct PageRecords {
    events: VecDeque<Event<'static>>,
    errors: VecDeque<ParseError>,
}

impl PageRecords {
    /// Reads the records of one page with `read` (see [`read_tagged`](Self::read_tagged)).
    pub fn read_page<'a>(
        &mut self,
        records: &[&'a RawValue],
        offset: u64,
        line_event: Option<&mut Event<'a>>,
        mut read: impl FnMut(&'a str, &mut Event<'a>) -> Result<(), ParseError>,
    ) -> Result<Parsed, ParseError> {
        let tagged = records.iter().map(|r| ((), *r));
        self.read_tagged(tagged, offset, line_event, |(), raw, ev| read(raw, ev))
    }

    /// Reads the records of one page, each with a tag `read` is given too (the list of the page it
    /// came in). With `line_event`, the first record read fills it instead of being queued, and the
    /// line is then [`Parsed::Event`] rather than [`Parsed::Absorbed`].
    ///
    /// An unreadable record is queued as an error when some other record of the page could be
    /// read. When none could, the page line itself is the error (the last record's), and nothing is
    /// queued for it; a page without records is absorbed.
    pub fn read_tagged<'a, T>(
        &mut self,
        records: impl IntoIterator<Item = (T, &'a RawValue)>,
        offset: u64,
        mut line_event: Option<&mut Event<'a>>,
        mut read: impl FnMut(T, &'a str, &mut Event<'a>) -> Result<(), ParseError>,
    ) -> Result<Parsed, ParseError> {
        let errors_before = self.errors.len();
        let (mut any_read, mut parsed) = (false, Parsed::Absorbed);
        for (tag, raw) in records {
            let raw = raw.get();
            let mut ev = Event::default();
            if let Err(e) = read(tag, raw, &mut ev) {
                self.errors.push_back(e);
                continue;
            }
            any_read = true;
            match line_event.take() {
                Some(line_event) => {
                    ev.event.original = Some(Cow::Borrowed(raw));
                    *line_event = ev;
                    parsed = Parsed::Event;
                }
                None => self.queue(ev, raw, offset),
            }
        }
        if !any_read {
            // The line's own error stands for the page's records.
            if let Some(last) = self.errors.drain(errors_before..).next_back() {
                return Err(last);
            }
        }
        Ok(parsed)
    }

    /// Queues a record read apart from a page (`raw` is its JSON text in the line at `offset`).
    pub fn queue<'a>(&mut self, mut ev: Event<'a>, raw: &'a str, offset: u64) {
        ev.event.original = Some(Cow::Borrowed(raw));
        ev.log.offset = Some(offset);
        self.events.push_back(ev.into_owned());
    }

    /// Queues the error of a record that could not be read while the line's own event could.
    pub fn error(&mut self, e: ParseError) {
        self.errors.push_back(e);
    }

    pub fn take(&mut self) -> Option<Event<'static>> {
        self.events.pop_front()
    }

    pub fn take_error(&mut self) -> Option<ParseError> {
        self.errors.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Default, Debug)]
    #[serde(default)]
    struct Leaves<'a> {
        #[serde(borrow, deserialize_with = "text")]
        text: Option<Str<'a>>,
        #[serde(borrow, deserialize_with = "non_empty_text")]
        filled: Option<Str<'a>>,
        #[serde(borrow, deserialize_with = "texts")]
        list: Vec<Str<'a>>,
        #[serde(deserialize_with = "number")]
        number: Option<u64>,
        #[serde(deserialize_with = "decimal")]
        decimal: Option<f64>,
        #[serde(deserialize_with = "flag")]
        flag: Option<bool>,
    }

    fn leaves(json: &str) -> Leaves<'_> {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    #[test]
    fn leaves_read_any_type_without_failing() {
        let l = leaves(
            r#"{"text":"a","filled":"b","list":["x","",7,null,{"o":1},"y"],"number":"42","decimal":"0.25","flag":"yes"}"#,
        );
        assert_eq!(l.text.as_deref(), Some("a"));
        assert!(matches!(l.text, Some(Cow::Borrowed(_))));
        assert_eq!(l.filled.as_deref(), Some("b"));
        assert_eq!(l.list, ["x", "7", "y"]);
        assert_eq!((l.number, l.decimal, l.flag), (Some(42), Some(0.25), Some(true)));

        let l = leaves(r#"{"text":"","filled":"","list":"one","number":1.5,"decimal":0.184301,"flag":false}"#);
        assert_eq!(l.text.as_deref(), Some(""));
        assert_eq!(l.filled, None);
        assert_eq!(l.list, ["one"]);
        assert_eq!((l.number, l.decimal, l.flag), (None, Some(0.184301), Some(false)));

        let l = leaves(r#"{"text":[1],"filled":{"a":"b"},"list":"","number":-3,"decimal":"1e400","flag":"maybe"}"#);
        assert_eq!((l.text, l.filled), (None, None));
        assert!(l.list.is_empty());
        assert_eq!((l.number, l.decimal, l.flag), (None, None, None));

        let l = leaves(r#"{"text":12,"filled":true,"list":{"a":1},"number":7,"decimal":"-1","flag":null}"#);
        assert_eq!(l.text.as_deref(), Some("12"));
        assert_eq!(l.filled.as_deref(), Some("true"));
        assert!(l.list.is_empty());
        assert_eq!((l.number, l.decimal, l.flag), (Some(7), None, None));
    }

    #[test]
    fn escaped_text_is_owned() {
        let l = leaves(r#"{"text":"a\"b","list":["c\u00e9"]}"#);
        assert!(matches!(l.text, Some(Cow::Owned(_))));
        assert_eq!(l.text.as_deref(), Some("a\"b"));
        assert_eq!(l.list, ["cé"]);
    }

    #[test]
    fn page_records_queue_events_and_errors() {
        #[derive(Deserialize)]
        struct Page<'a> {
            #[serde(borrow)]
            data: Vec<&'a RawValue>,
        }
        let read = |raw: &str, ev: &mut Event<'_>| match raw {
            "1" | "2" => {
                ev.event.action = Some(Cow::Borrowed("read"));
                Ok(())
            }
            _ => fail("not 1 or 2"),
        };
        let body = r#"{"data":[ 1 ,"x", 2 ,3]}"#;
        let page: Page = serde_json::from_str(body).unwrap();
        let mut pages = PageRecords::default();
        assert_eq!(pages.read_page(&page.data, 7, None, read), Ok(Parsed::Absorbed));
        let originals: Vec<_> = std::iter::from_fn(|| pages.take())
            .map(|e| (e.event.original.unwrap(), e.log.offset))
            .collect();
        assert_eq!(originals, [("1".into(), Some(7)), ("2".into(), Some(7))]);
        assert_eq!(pages.take_error(), Some(ParseError::new("not 1 or 2")));
        assert_eq!(pages.take_error(), Some(ParseError::new("not 1 or 2")));
        assert_eq!(pages.take_error(), None);

        // The first record read stands for the line.
        let mut line_event = Event::default();
        assert_eq!(
            pages.read_page(&page.data, 7, Some(&mut line_event), read),
            Ok(Parsed::Event)
        );
        assert_eq!(line_event.event.original.as_deref(), Some("1"));
        assert_eq!(line_event.log.offset, None);
        assert_eq!(pages.take().and_then(|e| e.event.original).as_deref(), Some("2"));

        // Nothing readable: the line's error, nothing queued; nothing at all: absorbed.
        let page: Page = serde_json::from_str(r#"{"data":["a","b"]}"#).unwrap();
        let mut pages = PageRecords::default();
        assert_eq!(pages.read_page(&page.data, 0, None, read), fail("not 1 or 2"));
        assert_eq!((pages.take(), pages.take_error()), (None, None));
        assert_eq!(pages.read_page(&[], 0, None, read), Ok(Parsed::Absorbed));
    }
}
