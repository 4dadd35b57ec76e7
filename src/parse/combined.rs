//! SCAFFOLD: the combined parser is being written; this placeholder only keeps the crate building.

use crate::event::Event;

use super::{Family, FormatInfo, Line, LineParser, ParseContext, ParseError, Parsed, fail};

pub static INFO: FormatInfo = FormatInfo {
    name: "combined",
    family: Family::Web,
    description: "(being written)",
    example: "",
};

pub struct CombinedParser;

impl CombinedParser {
    pub fn new(_ctx: &ParseContext) -> Self {
        CombinedParser
    }
}

impl LineParser for CombinedParser {
    fn parse<'a>(&mut self, _line: &Line<'a>, _event: &mut Event<'a>) -> Result<Parsed, ParseError> {
        fail("parser not written yet")
    }
}
