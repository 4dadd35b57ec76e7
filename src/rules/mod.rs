//! Sigma rules: the condition language and string values (the loader, compiler and matcher join here).

pub mod condition;
pub mod pattern;
