//! The table of host imports that the `export!` expansion installs into the SDK.
//!
//! The imports (`log`, `config`, `batch-context`) are generated inside the plugin crate, because
//! only one world's bindings may exist per component. The SDK's public functions reach them
//! through this table of plain function pointers. Wasm guests are single-threaded and the table
//! never changes, so the first installation wins and later ones are no-ops.

use crate::log::Level;
use std::sync::OnceLock;

/// The host imports, as plain functions; filled in by the `export!` expansion.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct HostFns {
    /// `eddy:plugin/log.log`.
    pub log: fn(Level, &str),
    /// `eddy:plugin/config.get`.
    pub config_get: fn(&str) -> Option<String>,
    /// `eddy:plugin/config.get-all`.
    pub config_all: fn() -> Vec<(String, String)>,
    /// `eddy:plugin/batch-context.enter-event`.
    pub enter_event: fn(u32),
}

static HOST: OnceLock<HostFns> = OnceLock::new();

/// Makes the host imports available to the SDK; called at the top of every export.
#[doc(hidden)]
pub fn install_host(fns: HostFns) {
    HOST.get_or_init(|| fns);
}

/// The installed host, or `None` when running natively (unit tests of a plugin).
pub(crate) fn host() -> Option<&'static HostFns> {
    HOST.get()
}

/// Tells the host which event of the batch is being processed (clock and randomness follow it).
pub(crate) fn enter_event(index: u32) {
    if let Some(host) = host() {
        (host.enter_event)(index);
    }
}
