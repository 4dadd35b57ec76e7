//! SCAFFOLD: the squid parser is being written; this placeholder only keeps the crate building.

use crate::event::Event;

use super::{Family, FormatInfo, Line, LineParser, ParseContext, ParseError, Parsed, fail};

pub static INFO: FormatInfo = FormatInfo {
    name: "squid",
    family: Family::Web,
    description: "(being written)",
    example: "",
};

pub struct SquidParser;

impl SquidParser {
    pub fn new(_ctx: &ParseContext) -> Self {
        SquidParser
    }
}

impl LineParser for SquidParser {
    fn parse<'a>(&mut self, _line: &Line<'a>, _event: &mut Event<'a>) -> Result<Parsed, ParseError> {
        fail("parser not written yet")
    }
}

/// A compiled Squid `logformat` (placeholder).
#[derive(Debug, Clone)]
pub struct LogFormat;

impl LogFormat {
    pub fn compile(_s: &str) -> Result<LogFormat, ParseError> {
        fail("not written yet")
    }
}
