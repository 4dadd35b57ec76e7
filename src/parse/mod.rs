//! Bytes → [`Event`]: one module per log format, syslog framing, and format detection.
//!
//! A parser implements [`LineParser`]: it receives one [`Line`] at a time and an empty [`Event`]
//! to fill, and answers [`Parsed::Event`] (the line is an event), [`Parsed::Absorbed`]
//! (recognised, nothing to emit: a W3C header, a Postfix `connect from`, a line folded into a mail
//! message being assembled), [`Parsed::OtherProgram`] (a syslog line of another program inside a
//! mail log), or a [`ParseError`] that names the reason. Parsers that assemble several lines into one message hand finished
//! messages out through [`LineParser::take_completed`].
//!
//! Parsers never panic, never allocate for a field they can borrow from the line, and never format
//! a message on the hot path: a [`ParseError`] is a static reason, formatted only when reported.

use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::event::{Dataset, Event};

pub mod assemble;
pub mod body;
pub mod common;
pub mod detect;
pub mod json;
pub mod mail;
pub mod syslog;

pub mod combined;
pub mod ecs;
pub mod exchange;
pub mod exim;
pub mod m365;
pub mod mimecast;
pub mod postfix;
pub mod proofpoint;
pub mod sendmail;
pub mod squid;
pub mod w3c;
pub mod zscaler;

pub use syslog::SyslogHeader;

/// One input line, as handed to a parser.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    /// The whole line as read (invalid UTF-8 replaced by U+FFFD), without its line ending. This
    /// is what `event.original` holds.
    pub raw: &'a str,
    /// The part after any syslog header; equal to `raw` when the input has no syslog framing.
    pub body: &'a str,
    /// The syslog header in front of `body`, when the input is syslog-framed.
    pub syslog: Option<SyslogHeader<'a>>,
    /// Byte offset of the line's start in the decompressed input.
    pub offset: u64,
    /// 1-based line number in the input.
    pub number: u64,
}

impl<'a> Line<'a> {
    /// A line without syslog framing (tests, detection, formats that are never framed).
    pub fn plain(raw: &'a str) -> Self {
        Line {
            raw,
            body: raw,
            syslog: None,
            offset: 0,
            number: 1,
        }
    }
}

/// What a parser made of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// The line is one event: the one the parser filled.
    Event,
    /// The line was recognised and parsed but carries no event of its own (a header, a
    /// connection line, a line folded into a message that is still being assembled).
    Absorbed,
    /// A syslog line of another program than the format's own (amavis, opendkim or dovecot in a
    /// Postfix log): not this parser's to understand, so counted apart from errors (the error
    /// ratio then means "lines we should have understood"), and never an event. Detection counts
    /// such a line for no format.
    OtherProgram,
}

/// Why a line was rejected. `reason` is static and of low cardinality, so it can label a metric;
/// it says what was expected, as the SOC engineer reading a report needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ParseError {
    pub reason: &'static str,
}

impl ParseError {
    pub const fn new(reason: &'static str) -> Self {
        ParseError { reason }
    }
}

/// Shorthand for `Err(ParseError::new(reason))`.
pub fn fail<T>(reason: &'static str) -> Result<T, ParseError> {
    Err(ParseError::new(reason))
}

/// Settings every parser may need, fixed for one input.
#[derive(Debug, Clone)]
pub struct ParseContext {
    /// Zone of timestamps written without an offset (RFC 3164 syslog, Exim, Sendmail).
    pub timezone: TimeZone,
    /// "Now" for the input, used to infer the year of RFC 3164 timestamps (which have none): the
    /// file's modification time, or the wall clock for stdin.
    pub reference_time: Timestamp,
    /// Squid `logformat` definitions declared by the user, tried after the built-in layouts.
    pub squid_logformats: Arc<[squid::LogFormat]>,
    /// A mail message whose queue id is not seen leaving the queue within this time (in event
    /// time) is emitted as it is, so nothing waits forever.
    pub mail_timeout: SignedDuration,
    /// At most this many mail messages are assembled at once; past it the oldest is emitted.
    pub max_pending_messages: usize,
    /// Offsets of the first lines of the mail messages this parser owns: a chunk of a split mail
    /// log (`crate::batch`) counts only those in its [`assemble::AssemblyStats`] and
    /// [`LineParser::owned_pending`]. Everything for a whole input.
    pub owned: std::ops::Range<u64>,
}

impl Default for ParseContext {
    fn default() -> Self {
        ParseContext {
            timezone: TimeZone::UTC,
            reference_time: Timestamp::now(),
            squid_logformats: Arc::from(Vec::new()),
            mail_timeout: SignedDuration::from_mins(10),
            max_pending_messages: 100_000,
            owned: 0..u64::MAX,
        }
    }
}

/// A parser for one log format. See the module documentation.
pub trait LineParser: Send {
    /// Parses one line into `event`, which the caller passes in empty (`Event::default()`); the
    /// parser sets at least `event.dataset`. The caller fills what the parser leaves empty:
    /// `event.original`, `log.*`, and the syslog header's time, host and program. On
    /// [`Parsed::Absorbed`] or an error the caller discards `event`.
    fn parse<'a>(&mut self, line: &Line<'a>, event: &mut Event<'a>) -> Result<Parsed, ParseError>;

    /// Emits messages still being assembled: with `Some(now)`, those that have timed out by
    /// `now` (event time; the daemon passes the wall clock when a source goes quiet); with
    /// `None`, all of them (end of input). They become available through
    /// [`take_completed`](Self::take_completed).
    fn flush(&mut self, _now: Option<Timestamp>) {}

    /// Hands out one finished multi-line event, if any is ready.
    fn take_completed(&mut self) -> Option<Event<'static>> {
        None
    }

    /// Hands out one error found apart from the line's own result: a record inside an API page
    /// that could not be read while its siblings could. The caller counts it against the current
    /// line, so a bad record is reported, never silently dropped.
    fn take_error(&mut self) -> Option<ParseError> {
        None
    }

    /// Counts of assembly state the parser had to give up early (timeouts, evictions), for
    /// metrics and `--stats`.
    fn assembly_stats(&self) -> assemble::AssemblyStats {
        assemble::AssemblyStats::default()
    }

    /// The offset (`log.offset`) of the first line of the oldest message still being
    /// assembled, if any: lines from there on are not yet fully processed.
    fn oldest_pending_offset(&self) -> Option<u64> {
        None
    }

    /// Messages still being assembled whose first line lies in [`ParseContext::owned`]: a chunk
    /// of a split mail log reads past its end until this is 0.
    fn owned_pending(&self) -> usize {
        0
    }
}

/// Every format reconwatch reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    Squid,
    Combined,
    W3c,
    Zscaler,
    Postfix,
    Exim,
    Sendmail,
    Exchange,
    M365,
    Proofpoint,
    Mimecast,
    Ecs,
}

/// What `reconwatch formats` shows about a format.
#[derive(Debug)]
pub struct FormatInfo {
    pub name: &'static str,
    /// The datasets its events carry (their family: web, mail, or both for ECS JSON).
    pub datasets: &'static [Dataset],
    pub description: &'static str,
    /// The parser's result for a line depends only on that line (and the [`ParseContext`]): no
    /// header, message assembly or other state carries from one line to the next. Such a file may
    /// be split into chunks read in parallel (`crate::batch`). A parser marked so may keep a hint
    /// that only orders its attempts (Squid's last matching layout); a chunk's parser is primed
    /// with the lines before the chunk so that the hint, too, is what a single run would have.
    pub line_independent: bool,
    /// A realistic line the parser accepts (checked by a test).
    pub example: &'static str,
}

impl Format {
    /// All formats, in the order detection prefers them when two score the same.
    pub const ALL: [Format; 12] = [
        Format::Squid,
        Format::Combined,
        Format::W3c,
        Format::Zscaler,
        Format::Postfix,
        Format::Exim,
        Format::Sendmail,
        Format::Exchange,
        Format::M365,
        Format::Proofpoint,
        Format::Mimecast,
        Format::Ecs,
    ];

    pub fn info(self) -> &'static FormatInfo {
        match self {
            Format::Squid => &squid::INFO,
            Format::Combined => &combined::INFO,
            Format::W3c => &w3c::INFO,
            Format::Zscaler => &zscaler::INFO,
            Format::Postfix => &postfix::INFO,
            Format::Exim => &exim::INFO,
            Format::Sendmail => &sendmail::INFO,
            Format::Exchange => &exchange::INFO,
            Format::M365 => &m365::INFO,
            Format::Proofpoint => &proofpoint::INFO,
            Format::Mimecast => &mimecast::INFO,
            Format::Ecs => &ecs::INFO,
        }
    }

    /// The name used on the command line and in metrics labels.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// A fresh parser for one input.
    pub fn parser(self, ctx: &ParseContext) -> Box<dyn LineParser> {
        match self {
            Format::Squid => Box::new(squid::SquidParser::new(ctx)),
            Format::Combined => Box::new(combined::CombinedParser::new(ctx)),
            Format::W3c => Box::new(w3c::W3cParser::new(ctx)),
            Format::Zscaler => Box::new(zscaler::ZscalerParser::new(ctx)),
            Format::Postfix => Box::new(postfix::PostfixParser::new(ctx)),
            Format::Exim => Box::new(exim::EximParser::new(ctx)),
            Format::Sendmail => Box::new(sendmail::SendmailParser::new(ctx)),
            Format::Exchange => Box::new(exchange::ExchangeParser::new(ctx)),
            Format::M365 => Box::new(m365::M365Parser::new(ctx)),
            Format::Proofpoint => Box::new(proofpoint::ProofpointParser::new(ctx)),
            Format::Mimecast => Box::new(mimecast::MimecastParser::new(ctx)),
            Format::Ecs => Box::new(ecs::EcsParser::new(ctx)),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_parses_its_own_example() {
        let ctx = ParseContext::default();
        for format in Format::ALL {
            let info = format.info();
            let mut parser = format.parser(&ctx);
            let framing = detect::Framing::sniff(info.example);
            let line = framing.line(info.example, 0, 1, &syslog::YearHint::new(&ctx));
            let mut event = Event::default();
            let got = parser.parse(&line, &mut event);
            parser.flush(None);
            let produced = match got {
                Ok(Parsed::Event) => Some(event),
                _ => parser.take_completed(),
            };
            let Some(event) = produced else {
                panic!("{format}: example did not produce an event: {got:?}\n{}", info.example);
            };
            // Routing and enrichment read the dataset the parser sets: it must be set, and be
            // one the format declares.
            let dataset = event
                .dataset
                .unwrap_or_else(|| panic!("{format}: the parser set no dataset"));
            assert!(info.datasets.contains(&dataset), "{format}: {dataset:?}");
            assert_eq!(event.event.dataset.as_deref(), Some(dataset.name()), "{format}");
            assert_eq!(Format::from_name(info.name), Some(format));
        }
    }

    /// Counts the events a rule engine matches.
    struct Alerts<'e> {
        engine: &'e crate::rules::Engine,
        scratch: crate::rules::Scratch,
        matched: u64,
    }

    impl crate::pipeline::EventSink for Alerts<'_> {
        fn event(&mut self, event: &mut Event<'_>) -> std::io::Result<()> {
            let mut out = Vec::new();
            self.engine.matches(event, &mut self.scratch, &mut out);
            self.matched += !out.is_empty() as u64;
            Ok(())
        }
    }

    /// Gap: Sigma's `''` matched every event whose format does not record the field at all
    /// (SigmaHQ's empty-user-agent rule alerted on every line of a native Squid log), because
    /// parsers store `-` and absent alike. A field the layout records but the line leaves `-` or
    /// empty is `''`; one the layout does not record is `null`.
    #[test]
    fn empty_versus_absent_for_sigma_rules() {
        let engine = |value: &str| {
            let mut loaded = crate::rules::load::Loaded::default();
            let rule = format!(
                "title: t\nid: t-{value}\nlogsource:\n  category: proxy\ndetection:\n  sel:\n    \
                 c-useragent: {value}\n  condition: sel\n"
            );
            loaded.add_text("t.yml", &rule, &crate::rules::sigma::Placeholders::new());
            assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
            crate::rules::Engine::new(loaded.rules).unwrap()
        };
        let (empty, null) = (engine("''"), engine("null"));
        const SQUID: &str = "1610615523.123    234 10.20.3.14 TCP_MISS/200 1514 GET http://a.example/x - \
                             HIER_DIRECT/198.51.100.7 text/html";
        const COMBINED: &str =
            r#"10.20.3.14 - - [14/Mar/2024:12:01:00 +0000] "GET http://a.example/x HTTP/1.1" 200 4096"#;
        const W3C_UA: &str = "#Fields: date time c-ip cs-method cs-uri-stem sc-status cs(User-Agent)\n";
        const W3C_NO_UA: &str = "#Fields: date time c-ip cs-method cs-uri-stem sc-status\n";
        // (what, format, text, `''` matches, `null` matches)
        let cases: &[(&str, Format, String, bool, bool)] = &[
            ("Squid native: no user agent recorded", Format::Squid, SQUID.into(), false, true),
            (
                "Squid log_mime_hdrs: request headers without User-Agent",
                Format::Squid,
                format!(r"{SQUID} [Host: a.example\r\n] []"),
                true,
                false,
            ),
            (
                "Squid log_mime_hdrs: a User-Agent",
                Format::Squid,
                format!(r"{SQUID} [User-Agent: curl/8\r\n] []"),
                false,
                false,
            ),
            ("combined, user agent `-`", Format::Combined, format!(r#"{COMBINED} "-" "-""#), true, false),
            ("combined, user agent `\"\"`", Format::Combined, format!(r#"{COMBINED} "-" """#), true, false),
            ("combined, a user agent", Format::Combined, format!(r#"{COMBINED} "-" "curl/8""#), false, false),
            ("common log: no user agent recorded", Format::Combined, COMBINED.into(), false, true),
            (
                "W3C, cs(User-Agent) `-`",
                Format::W3c,
                format!("{W3C_UA}2024-03-14 12:01:00 10.20.3.14 GET /x 200 -"),
                true,
                false,
            ),
            (
                "W3C, cs(User-Agent) quoted empty",
                Format::W3c,
                format!("{W3C_UA}2024-03-14 12:01:00 10.20.3.14 GET /x 200 \"\""),
                true,
                false,
            ),
            (
                "W3C without a cs(User-Agent) column",
                Format::W3c,
                format!("{W3C_NO_UA}2024-03-14 12:01:00 10.20.3.14 GET /x 200"),
                false,
                true,
            ),
            (
                "Zscaler, ua `None`",
                Format::Zscaler,
                r#"{"sourcetype":"zscalernss-web","event":{"time":"Thu Mar 14 12:01:00 2024","tz":"GMT","eurl":"a.example/x","cip":"10.20.3.14","ua":"None"}}"#.into(),
                true,
                false,
            ),
            (
                "ECS, user_agent.original empty",
                Format::Ecs,
                r#"{"@timestamp":"2024-03-14T12:01:00Z","event":{"dataset":"squid.access"},"url":{"original":"http://a.example/x"},"user_agent":{"original":""}}"#.into(),
                true,
                false,
            ),
            (
                "ECS without user_agent",
                Format::Ecs,
                r#"{"@timestamp":"2024-03-14T12:01:00Z","event":{"dataset":"squid.access"},"url":{"original":"http://a.example/x"}}"#.into(),
                false,
                true,
            ),
        ];
        for (what, format, text, want_empty, want_null) in cases {
            let cfg = crate::pipeline::PipelineConfig {
                format: Some(*format),
                ..Default::default()
            };
            let got = [&empty, &null].map(|engine| {
                let mut sink = Alerts {
                    engine,
                    scratch: engine.scratch(),
                    matched: 0,
                };
                let stats = crate::pipeline::run_reader(what, text.as_bytes(), None, &cfg, &mut sink).unwrap();
                assert_eq!((stats.events, stats.errors), (1, 0), "{what}: {stats:?}");
                sink.matched == 1
            });
            assert_eq!(got, [*want_empty, *want_null], "{what}: [`''`, `null`]");
        }
    }
}
