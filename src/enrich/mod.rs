//! Enrichment: computed fields (URL/token analysis, ...) that rules can test.

pub mod url;
