//! What the benchmarks share: the events of a generated world, parsed once and kept owned, so a
//! benchmark measures only the stage it is about.

use std::io;

use reconwatch::event::Event;
use reconwatch::pipeline::{EventSink, PipelineConfig, run_input};
use reconwatch::source::Input;
use reconwatch::world::GenFile;

/// Keeps every event, owned.
struct Collect(Vec<Event<'static>>);

impl EventSink for Collect {
    fn event(&mut self, event: &mut Event<'_>) -> io::Result<()> {
        self.0.push(event.clone().into_owned());
        Ok(())
    }
}

/// The events of the world's files whose paths (relative to the world) start with one of
/// `prefixes`. Every file must parse cleanly.
pub fn events(files: &[GenFile], prefixes: &[&str]) -> Vec<Event<'static>> {
    let cfg = PipelineConfig::default();
    let mut sink = Collect(Vec::new());
    for f in files.iter().filter(|f| prefixes.iter().any(|p| f.rel.starts_with(p))) {
        let stats = run_input(&Input::file(f.path.clone()), &cfg, &mut sink).unwrap();
        assert!(stats.failure.is_none(), "{}: {:?}", f.rel, stats.failure);
        assert_eq!(stats.errors, 0, "{}: the bench input must parse cleanly", f.rel);
    }
    sink.0
}
