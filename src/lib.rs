//! reconwatch: finds reconnaissance against high-risk people in mail- and web-gateway logs.
//!
//! Data flows through the modules in this order (see ARCHITECTURE.md):
//! [`source`] (bytes in) → [`parse`] (bytes → [`event::Event`]) → [`pipeline`] (the loop that
//! joins them and counts) → [`rules`] (Sigma: which rules match an event) → [`alert`]. [`broker`] spreads it over workers through NATS JetStream; [`batch`] runs the pipeline over many inputs and chunks of
//! large files on every core, handing results back in input order; [`progress`] counts and
//! shows how far it is. [`metrics`] declares every exported metric ([`targets`]: who alerts concern, by group); [`cli`] and [`commands`] are
//! the binary's interface; [`world`] writes synthetic test worlds.

#![forbid(unsafe_code)]

pub mod alert;
pub mod batch;
pub mod broker;
pub mod cli;
pub mod commands;
pub mod config;
pub mod correlate;
pub mod daemon;
pub mod detect;
pub mod enrich;
pub mod event;
pub mod log;
pub mod metrics;
pub mod parse;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod rules;
pub mod size;
pub mod source;
pub mod targets;
pub mod tls;
/// The synthetic test-world generator (`reconwatch gen`, `sample-logs/`, tests and benchmarks):
/// behind the default `gen` feature, since a production build (the daemon) needs none of it.
#[cfg(feature = "gen")]
pub mod world;
