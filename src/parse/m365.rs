//! SCAFFOLD: the m365 parser is being written; this placeholder only keeps the crate building.

use crate::event::Event;

use super::{Family, FormatInfo, Line, LineParser, ParseContext, ParseError, Parsed, fail};

pub static INFO: FormatInfo = FormatInfo {
    name: "m365",
    family: Family::Mail,
    description: "(being written)",
    example: "",
};

pub struct M365Parser;

impl M365Parser {
    pub fn new(_ctx: &ParseContext) -> Self {
        M365Parser
    }
}

impl LineParser for M365Parser {
    fn parse<'a>(&mut self, _line: &Line<'a>, _event: &mut Event<'a>) -> Result<Parsed, ParseError> {
        fail("parser not written yet")
    }
}
