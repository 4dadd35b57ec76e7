//! `reconwatch run`: the daemon beside the gateways.
//!
//! Sources (`source::tail` for files, `source::listen` for UDP/TCP/TLS syslog listeners) read lines and
//! send them through one bounded queue (`source::feed`) to the [`engine`], which runs the same per-line core as
//! `scan` (`pipeline::LineStream`, `detect::Worker`, `detect::Correlating`) and hands alerts to
//! the sinks (`alert::*`). Checkpoints (`source::checkpoint`) and the correlation state are written to the state
//! directory at an interval and at shutdown, only for what the sinks have taken: a restart
//! resumes there, at least once, never skipping a line. `http` serves `/metrics`, `/healthz`
//! and `/readyz`. The daemon's configuration keys are in [`config`].

pub mod config;
pub mod engine;
pub mod http;
pub mod notify;
pub mod start;
