//! Writing to the host's log, tagged with the plugin's name.
//!
//! ```
//! guest_sdk::log::info("order reducer started");
//! guest_sdk::log::warn(format_args!("unknown sku {}", "X-1"));
//! ```
//!
//! Outside a host (natively, in a plugin's unit tests) lines go to standard error.

use std::fmt::{self, Display};

/// How important a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Useful when debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the plugin could handle.
    Warn,
    /// Something failed.
    Error,
}

impl Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        })
    }
}

/// Writes one line at `level`; pass a `&str`, a `String` or `format_args!(..)`.
pub fn log(level: Level, message: impl Display) {
    let message = message.to_string();
    match crate::host::host() {
        Some(host) => (host.log)(level, &message),
        None => eprintln!("[{level}] {message}"),
    }
}

/// Writes a very detailed tracing line.
pub fn trace(message: impl Display) {
    log(Level::Trace, message);
}

/// Writes a line useful when debugging.
pub fn debug(message: impl Display) {
    log(Level::Debug, message);
}

/// Writes a line about normal operation.
pub fn info(message: impl Display) {
    log(Level::Info, message);
}

/// Writes a line about something unexpected that the plugin could handle.
pub fn warn(message: impl Display) {
    log(Level::Warn, message);
}

/// Writes a line about something that failed.
pub fn error(message: impl Display) {
    log(Level::Error, message);
}
