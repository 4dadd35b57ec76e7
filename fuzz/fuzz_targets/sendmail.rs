#![no_main]
//! Fuzzes the `sendmail` parser through the whole parse path (see common.rs).

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run(Some(reconwatch::parse::Format::Sendmail), data));
