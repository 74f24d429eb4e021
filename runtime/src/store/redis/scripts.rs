//! The Lua scripts that make multi-key operations atomic. Each is loaded once per connection
//! (EVALSHA, falling back to EVAL after a restart of Redis flushed the script cache).

use redis::Script;

/// The scripts, compiled once per store.
pub(super) struct Scripts {
    /// Dedupe, version check, XADD and index updates for one batch.
    pub(super) append: Script,
    /// Safe trimming with index clean-up.
    pub(super) trim: Script,
    /// Deleting a stream and its keys.
    pub(super) delete: Script,
    /// Removing a consumer without losing its pending entries.
    pub(super) remove_consumer: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            append: Script::new(include_str!("append.lua")),
            trim: Script::new(include_str!("trim.lua")),
            delete: Script::new(include_str!("delete.lua")),
            remove_consumer: Script::new(include_str!("remove_consumer.lua")),
        }
    }
}
