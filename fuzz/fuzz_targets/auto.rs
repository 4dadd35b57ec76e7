#![no_main]
//! Fuzzes format detection and whichever parser it picks (see common.rs).

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run(None, data));
