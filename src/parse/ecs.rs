//! SCAFFOLD: the ecs parser is being written; this placeholder only keeps the crate building.

use crate::event::Event;

use super::{Family, FormatInfo, Line, LineParser, ParseContext, ParseError, Parsed, fail};

pub static INFO: FormatInfo = FormatInfo {
    name: "ecs",
    family: Family::Any,
    description: "(being written)",
    example: "",
};

pub struct EcsParser;

impl EcsParser {
    pub fn new(_ctx: &ParseContext) -> Self {
        EcsParser
    }
}

impl LineParser for EcsParser {
    fn parse<'a>(&mut self, _line: &Line<'a>, _event: &mut Event<'a>) -> Result<Parsed, ParseError> {
        fail("parser not written yet")
    }
}
