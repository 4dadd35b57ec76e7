//! Enrichment: computed fields (indicator-of-compromise sets, ...) that rules can test.

pub mod intel;
