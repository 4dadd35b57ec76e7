//! SCAFFOLD: the exchange parser is being written; this placeholder only keeps the crate building.

use crate::event::Event;

use super::{Family, FormatInfo, Line, LineParser, ParseContext, ParseError, Parsed, fail};

pub static INFO: FormatInfo = FormatInfo {
    name: "exchange",
    family: Family::Mail,
    description: "(being written)",
    example: "",
};

pub struct ExchangeParser;

impl ExchangeParser {
    pub fn new(_ctx: &ParseContext) -> Self {
        ExchangeParser
    }
}

impl LineParser for ExchangeParser {
    fn parse<'a>(&mut self, _line: &Line<'a>, _event: &mut Event<'a>) -> Result<Parsed, ParseError> {
        fail("parser not written yet")
    }
}
