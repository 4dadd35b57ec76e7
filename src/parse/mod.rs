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

use crate::event::Event;

pub mod assemble;
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
}

impl Default for ParseContext {
    fn default() -> Self {
        ParseContext {
            timezone: TimeZone::UTC,
            reference_time: Timestamp::now(),
            squid_logformats: Arc::from(Vec::new()),
            mail_timeout: SignedDuration::from_mins(10),
            max_pending_messages: 100_000,
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
}

/// Which side of the organisation a format describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Web,
    Mail,
    /// Formats that can carry either (ECS JSON).
    Any,
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
    pub family: Family,
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
            let produced = got == Ok(Parsed::Event) || parser.take_completed().is_some();
            assert!(
                produced,
                "{format}: example did not produce an event: {got:?}\n{}",
                info.example
            );
            assert_eq!(Format::from_name(info.name), Some(format));
        }
    }
}
