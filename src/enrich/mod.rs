//! Enrichment: computed fields that rules can test (see ARCHITECTURE.md).

pub mod watchlist;
