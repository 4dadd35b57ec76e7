#![no_main]
//! Fuzzes the enrichment stage on every event the pipeline parses from arbitrary bytes (format
//! auto-detected, as `auto` does), with the shipped example watchlist and intel loaded, then
//! serializes the enriched event: computed fields, sender and URL analysis of hostile values
//! must never panic. Each line is also analysed directly as a sender and a lookalike candidate.

use std::io;
use std::sync::OnceLock;

use reconwatch::enrich::intel::{DomainMatch, IntelSetBuilder};
use reconwatch::enrich::sender::{SenderCatalog, SenderInput};
use reconwatch::enrich::stage::{EnrichScratch, Enricher};
use reconwatch::enrich::watchlist::Watchlists;
use reconwatch::event::Event;
use reconwatch::pipeline::{EventSink, PipelineConfig, run_reader};

fn enricher() -> &'static Enricher {
    static E: OnceLock<Enricher> = OnceLock::new();
    E.get_or_init(|| {
        let mut w = Watchlists::new();
        w.add_text("example", "watchlist.csv", include_str!("../../rules/examples/watchlist.csv"))
            .unwrap();
        let mut b = IntelSetBuilder::new(DomainMatch::Parents);
        b.add_zeek("intel.dat", include_bytes!("../../rules/examples/intel.dat")).unwrap();
        Enricher::new(w, b.build(), SenderCatalog::builtin(), &["parliament.example".into()])
    })
}

struct Enrich(EnrichScratch<'static>);

impl EventSink for Enrich {
    fn event(&mut self, event: &mut Event<'_>) -> io::Result<()> {
        enricher().enrich(event, &mut self.0);
        serde_json::to_writer(io::sink(), &*event).map_err(io::Error::from)
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let e = enricher();
    let cfg = PipelineConfig { max_line: 4096, ..PipelineConfig::default() };
    let _ = run_reader("fuzz", data, None, &cfg, &mut Enrich(e.scratch()));
    let text = String::from_utf8_lossy(data);
    static SENDER: OnceLock<reconwatch::enrich::sender::SenderAnalyzer> = OnceLock::new();
    let sender = SENDER.get_or_init(|| SenderCatalog::builtin().build());
    for line in text.lines().take(16) {
        let (name, addr) = line.split_once('<').unwrap_or(("", line));
        let _ = sender.analyze(&SenderInput {
            from: Some(addr),
            from_name: Some(name),
            envelope: Some(line),
            reply_to: Some(line),
            subject: Some(line),
        });
        let _ = sender.lookalike(line);
    }
});
