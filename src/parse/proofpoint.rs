//! SCAFFOLD: the proofpoint parser is being written; this placeholder only keeps the crate building.

use crate::event::Event;

use super::{Family, FormatInfo, Line, LineParser, ParseContext, ParseError, Parsed, fail};

pub static INFO: FormatInfo = FormatInfo {
    name: "proofpoint",
    family: Family::Mail,
    description: "(being written)",
    example: "",
};

pub struct ProofpointParser;

impl ProofpointParser {
    pub fn new(_ctx: &ParseContext) -> Self {
        ProofpointParser
    }
}

impl LineParser for ProofpointParser {
    fn parse<'a>(&mut self, _line: &Line<'a>, _event: &mut Event<'a>) -> Result<Parsed, ParseError> {
        fail("parser not written yet")
    }
}
