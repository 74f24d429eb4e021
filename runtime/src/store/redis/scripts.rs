//! The Lua scripts that make multi-key operations atomic. Each is loaded once per connection
//! (EVALSHA, falling back to EVAL after a restart of Redis flushed the script cache).

use redis::Script;

/// A script built on the batch steps of `batch.lua`: `#!lua` first (so Redis 7 refuses the whole script up front
/// when out of memory, rather than failing half-way through a batch), then the batch steps
/// shared by every such script, then the script's own body.
macro_rules! appending_script {
    ($body:literal) => {
        Script::new(concat!(
            "#!lua\n",
            include_str!("batch.lua"),
            include_str!($body)
        ))
    };
}

/// The scripts, compiled once per store.
pub(super) struct Scripts {
    /// Dedupe, version check, XADD and index updates for one batch.
    pub(super) append: Script,
    /// A commit: fence check, appends, acks, states and checkpoints.
    pub(super) commit: Script,
    /// A subject's version, read from its index stream the way appends check it.
    pub(super) version: Script,
    /// Safe trimming with index clean-up.
    pub(super) trim: Script,
    /// Deleting a stream and its keys.
    pub(super) delete: Script,
    /// Removing a consumer without losing its pending entries.
    pub(super) remove_consumer: Script,
    /// Taking over the entries pending on one consumer.
    pub(super) claim_from: Script,
    /// Taking or renewing a lease with its fencing token.
    pub(super) lease_acquire: Script,
    /// Releasing a lease its owner holds.
    pub(super) lease_release: Script,
    /// Listing live leases by prefix.
    pub(super) leases: Script,
    /// Checking (and on a new Redis, recording) the key layout.
    pub(super) layout: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            append: appending_script!("append.lua"),
            commit: appending_script!("commit.lua"),
            version: appending_script!("version.lua"),
            trim: Script::new(include_str!("trim.lua")),
            delete: Script::new(include_str!("delete.lua")),
            remove_consumer: Script::new(include_str!("remove_consumer.lua")),
            claim_from: Script::new(include_str!("claim_from.lua")),
            lease_acquire: Script::new(include_str!("lease_acquire.lua")),
            lease_release: Script::new(include_str!("lease_release.lua")),
            leases: Script::new(include_str!("leases.lua")),
            layout: Script::new(include_str!("layout.lua")),
        }
    }
}
