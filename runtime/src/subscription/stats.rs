//! Live counters of a running subscription.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// What a subscription has done since it started in this process.
#[derive(Debug, Default)]
pub struct Stats {
    processed: AtomicU64,
    failed: AtomicU64,
    dead_lettered: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Events in a row given up on because the plugin faulted (see `quarantine_after`).
    fault_streak: AtomicU32,
    /// Why the subscription was quarantined, once it was.
    quarantine: Mutex<Option<String>>,
    /// Batches in flight and events being retried (for processing status).
    pub(crate) in_progress: super::in_progress::InProgress,
}

/// A copy of the counters, for the API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct StatsSnapshot {
    /// Events handled successfully (or deliberately skipped by type or filter).
    pub processed: u64,
    /// Failed attempts (each retry that failed counts).
    pub failed: u64,
    /// Events given up on and sent to the dead-letter stream.
    pub dead_lettered: u64,
    /// The most recent error, if any.
    pub last_error: Option<String>,
}

impl Stats {
    pub(crate) fn processed(&self, n: u64) {
        self.processed.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self, error: &str) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.set_error(error);
    }

    pub(crate) fn dead_lettered(&self) {
        self.dead_lettered.fetch_add(1, Ordering::Relaxed);
    }

    /// The plugin handled an event (or answered retry or reject): the fault streak ends.
    pub(crate) fn plugin_answered(&self) {
        self.fault_streak.store(0, Ordering::Relaxed);
    }

    /// An event was given up on because the plugin faulted; returns the streak so far.
    pub(crate) fn plugin_faulted(&self) -> u32 {
        self.fault_streak.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Marks the subscription quarantined; false if it was already.
    pub(crate) fn quarantine(&self, reason: String) -> bool {
        let mut quarantine = self.quarantine.lock().unwrap_or_else(|e| e.into_inner());
        if quarantine.is_some() {
            return false;
        }
        *quarantine = Some(reason);
        true
    }

    /// Why the subscription is quarantined, if it is.
    pub fn quarantined(&self) -> Option<String> {
        self.quarantine
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set_error(&self, error: &str) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_string());
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            processed: self.processed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}
