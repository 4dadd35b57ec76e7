//! SCAFFOLD: the w3c parser is being written; this placeholder only keeps the crate building.

use crate::event::Event;

use super::{Family, FormatInfo, Line, LineParser, ParseContext, ParseError, Parsed, fail};

pub static INFO: FormatInfo = FormatInfo {
    name: "w3c",
    family: Family::Web,
    description: "(being written)",
    example: "",
};

pub struct W3cParser;

impl W3cParser {
    pub fn new(_ctx: &ParseContext) -> Self {
        W3cParser
    }
}

impl LineParser for W3cParser {
    fn parse<'a>(&mut self, _line: &Line<'a>, _event: &mut Event<'a>) -> Result<Parsed, ParseError> {
        fail("parser not written yet")
    }
}
