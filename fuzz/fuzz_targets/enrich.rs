#![no_main]
//! Fuzzes the enrichment loaders and lookups with arbitrary files and inputs: a watchlist (CSV or
//! plain), a Zeek intel file and a plain intel list must load or fail with an error, never panic;
//! lookups and URL analysis of arbitrary text must not panic either.

use reconwatch::enrich::intel::{DomainMatch, IntelSetBuilder, Observed};
use reconwatch::enrich::url::{RecipientKeys, analyze};
use reconwatch::enrich::watchlist::Watchlists;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lists = Watchlists::new();
    let _ = lists.add_text("fuzz", "fuzz.csv", &text);
    let mut b = IntelSetBuilder::new(DomainMatch::Parents);
    let _ = b.add_zeek("fuzz.intel", data);
    let _ = b.add_plain("fuzz.txt", data, "fuzz", None);
    let intel = b.build();
    let mut out = Vec::new();
    for line in text.lines().take(64) {
        let _ = lists.lookup_email(line).count();
        let _ = lists.lookup_username(line).count();
        if let Ok(ip) = line.trim().parse() {
            let _ = lists.lookup_ip(ip).count();
            intel.lookup(Observed::Ip(ip), &mut out);
        }
        intel.lookup(Observed::Domain(line), &mut out);
        intel.lookup(Observed::Url(line), &mut out);
        intel.lookup(Observed::Email(line), &mut out);
        out.clear();
        let a = analyze(line);
        let _ = a.template();
        let _ = a.pixel(Some("image/gif"), Some(43));
        let _ = RecipientKeys::new("anna.berg@parliament.example").encoded_in(&a);
    }
});
