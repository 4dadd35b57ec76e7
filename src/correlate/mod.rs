//! Sigma correlation rules.

pub mod rule;
