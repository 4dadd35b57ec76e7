//! Shared by every fuzz target: feeds arbitrary bytes through the whole parse path (line
//! splitting, syslog framing, the parser, mail assembly, JSON serialization of every event). Any
//! panic is a bug: parsers must answer bad input with an error value.

use std::io;

use reconwatch::event::Event;
use reconwatch::parse::Format;
use reconwatch::pipeline::{EventSink, PipelineConfig, run_reader};

/// Serializes every event, so serialization is fuzzed too.
struct Serialize;

impl EventSink for Serialize {
    fn event(&mut self, event: &mut Event<'_>) -> io::Result<()> {
        serde_json::to_writer(io::sink(), &*event).map_err(io::Error::from)
    }
}

/// Runs `data` as one input of `format` (`None`: auto-detection).
pub fn run(format: Option<Format>, data: &[u8]) {
    // A small line cap exercises the truncation path too.
    let cfg = PipelineConfig { format, max_line: 4096, ..PipelineConfig::default() };
    let _ = run_reader("fuzz", data, None, &cfg, &mut Serialize);
}
