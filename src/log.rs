//! The daemon's log: one line per message on stderr, `reconwatch: LEVEL: message`. Under systemd
//! (`JOURNAL_STREAM` set) each line starts with its syslog priority (`<3>`, `<4>`, `<6>`, `<7>`),
//! which journald reads as the message's level. `RECONWATCH_LOG=debug` adds debug messages.
//!
//! Messages are written for the person on call: what happened, to which file, source or sink,
//! and what reconwatch does about it.

use std::fmt;
use std::io::Write;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 3,
    Warn = 4,
    Info = 6,
    Debug = 7,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

struct Settings {
    journal: bool,
    max: Level,
}

fn settings() -> &'static Settings {
    static S: OnceLock<Settings> = OnceLock::new();
    S.get_or_init(|| Settings {
        journal: std::env::var_os("JOURNAL_STREAM").is_some(),
        max: match std::env::var("RECONWATCH_LOG").as_deref() {
            Ok("debug") => Level::Debug,
            Ok("warn") | Ok("warning") => Level::Warn,
            Ok("error") => Level::Error,
            _ => Level::Info,
        },
    })
}

/// Whether messages of `level` are written.
pub fn enabled(level: Level) -> bool {
    level <= settings().max
}

/// Writes one message (use the `error!`, `warning!`, `info!`, `debug!` macros).
pub fn write(level: Level, args: fmt::Arguments<'_>) {
    let s = settings();
    if level > s.max {
        return;
    }
    let line = if s.journal {
        format!("<{}>reconwatch: {}: {args}\n", level as u8, level.name())
    } else {
        format!("reconwatch: {}: {args}\n", level.name())
    };
    // One write per message, so lines of different threads never interleave; a closed stderr
    // is not a reason to stop detecting.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[allow(unused_macros)]
macro_rules! error {
    ($($t:tt)*) => { $crate::log::write($crate::log::Level::Error, format_args!($($t)*)) };
}
#[allow(unused_macros)]
macro_rules! warning {
    ($($t:tt)*) => { $crate::log::write($crate::log::Level::Warn, format_args!($($t)*)) };
}
#[allow(unused_macros)]
macro_rules! info {
    ($($t:tt)*) => { $crate::log::write($crate::log::Level::Info, format_args!($($t)*)) };
}
#[allow(unused_macros)]
macro_rules! debug {
    ($($t:tt)*) => { $crate::log::write($crate::log::Level::Debug, format_args!($($t)*)) };
}
#[allow(unused_imports)]
pub(crate) use {debug, error, info, warning};
