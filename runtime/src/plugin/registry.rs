//! The plugin registry: plugin name → the version serving now, swapped without locks.
//!
//! Each name has a [`PluginSlot`]. Workers keep an `Arc` of their slot and, at the start of
//! every batch, compare the slot's hash with their instance's: a batch in flight finishes on
//! the version it started with, and every later batch runs on the new one. A version that
//! fails to load never enters a slot; its error is kept beside the version that goes on
//! serving, for the API and the log.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use serde::Serialize;
use tokio::sync::watch;

use super::kind::PluginKind;
use super::loader::Plugin;

/// One version of a plugin: the loaded component (known by its hash) and when it was loaded.
#[derive(Debug, Clone)]
pub struct PluginVersion {
    /// The loaded component.
    pub plugin: Plugin,
    /// When it started serving (RFC 3339, UTC).
    pub loaded_at: String,
}

/// Where one plugin name's current version lives.
#[derive(Debug, Default)]
pub struct PluginSlot {
    current: ArcSwapOption<PluginVersion>,
    last_error: Mutex<Option<String>>,
}

impl PluginSlot {
    /// The version serving now, if any.
    pub fn current(&self) -> Option<Arc<PluginVersion>> {
        self.current.load_full()
    }

    /// The hash of the version serving now, if any.
    pub fn current_hash(&self) -> Option<String> {
        self.current
            .load()
            .as_ref()
            .map(|v| v.plugin.hash().to_string())
    }

    /// The error of the latest rejected file (or sidecar), cleared by the next success.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_error(&self, error: Option<String>) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }
}

/// A plugin as the API shows it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PluginInfo {
    /// The name (the file's stem).
    pub name: String,
    /// `filter`, `handler` or `reducer`, when a version serves.
    pub kind: Option<PluginKind>,
    /// The WIT world, e.g. `handler-batch`.
    pub world: Option<String>,
    /// The SHA-256 of the serving version's bytes.
    pub hash: Option<String>,
    /// The serving version's size in bytes.
    pub size: Option<usize>,
    /// When the serving version was loaded.
    pub loaded_at: Option<String>,
    /// `serving`; `serving-previous` when the latest file was rejected and the previous
    /// version goes on; `rejected` when no version serves.
    pub status: &'static str,
    /// Why the latest file was rejected.
    pub last_error: Option<String>,
}

/// Reload counters of the whole registry.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct ReloadMetrics {
    /// Versions that started serving (first loads and swaps).
    pub reloads: u64,
    /// Files (or sidecars) rejected.
    pub failures: u64,
    /// For the latest reload: milliseconds from the first file event to the new version
    /// serving (debounce and compilation included).
    pub last_reload_ms: Option<u64>,
}

/// Name → current version, for every plugin of the plugins folder.
#[derive(Debug)]
pub struct PluginRegistry {
    slots: RwLock<BTreeMap<String, Arc<PluginSlot>>>,
    reloads: AtomicU64,
    failures: AtomicU64,
    /// `u64::MAX`: no reload yet.
    last_reload_ms: AtomicU64,
    /// Bumped on every change, so that callers can wait for one without polling.
    changed: watch::Sender<u64>,
}

impl Default for PluginRegistry {
    fn default() -> Self {
        Self {
            slots: RwLock::default(),
            reloads: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last_reload_ms: AtomicU64::new(u64::MAX),
            changed: watch::channel(0).0,
        }
    }
}

impl PluginRegistry {
    /// The slot of `name`, if the registry knows it (serving or rejected).
    pub fn slot(&self, name: &str) -> Option<Arc<PluginSlot>> {
        self.read().get(name).cloned()
    }

    /// The version of `name` serving now.
    pub fn current(&self, name: &str) -> Option<Arc<PluginVersion>> {
        self.slot(name).and_then(|s| s.current())
    }

    /// Makes `plugin` the serving version of its name; returns the version it replaced.
    /// `since` is how long ago the change that led to it was first seen.
    pub fn install(&self, plugin: Plugin, since: Duration) -> Option<Arc<PluginVersion>> {
        let slot = self.slot_or_new(plugin.name());
        crate::metrics::plugin_reloaded(plugin.name(), "ok");
        let version = PluginVersion {
            plugin,
            loaded_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        let previous = slot.current.swap(Some(Arc::new(version)));
        slot.set_error(None);
        self.reloads.fetch_add(1, Ordering::Relaxed);
        self.last_reload_ms
            .store(since.as_millis() as u64, Ordering::Relaxed);
        self.bump();
        previous
    }

    /// Records that the latest file of `name` was rejected; the serving version stays.
    pub fn reject(&self, name: &str, error: String) {
        crate::metrics::plugin_reloaded(name, "rejected");
        self.slot_or_new(name).set_error(Some(error));
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.bump();
    }

    /// Clears a recorded error of `name` (its files are fine again).
    pub fn clear_error(&self, name: &str) {
        if let Some(slot) = self.slot(name)
            && slot.last_error().is_some()
        {
            slot.set_error(None);
            self.bump();
        }
    }

    /// Forgets `name` (its file was deleted); returns the version that was serving.
    pub fn remove(&self, name: &str) -> Option<Arc<PluginVersion>> {
        let slot = self
            .slots
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        self.bump();
        slot.and_then(|s| s.current.swap(None))
    }

    /// Every plugin, by name.
    pub fn list(&self) -> Vec<PluginInfo> {
        self.read()
            .iter()
            .map(|(name, slot)| info(name, slot))
            .collect()
    }

    /// One plugin.
    pub fn info(&self, name: &str) -> Option<PluginInfo> {
        self.slot(name).map(|slot| info(name, &slot))
    }

    /// The reload counters.
    pub fn metrics(&self) -> ReloadMetrics {
        let last = self.last_reload_ms.load(Ordering::Relaxed);
        ReloadMetrics {
            reloads: self.reloads.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            last_reload_ms: (last != u64::MAX).then_some(last),
        }
    }

    /// A receiver that sees a new value after every change of the registry.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn slot_or_new(&self, name: &str) -> Arc<PluginSlot> {
        if let Some(slot) = self.slot(name) {
            return slot;
        }
        self.slots
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<PluginSlot>>> {
        self.slots.read().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }
}

fn info(name: &str, slot: &PluginSlot) -> PluginInfo {
    let current = slot.current();
    let last_error = slot.last_error();
    let status = match (&current, &last_error) {
        (Some(_), None) => "serving",
        (Some(_), Some(_)) => "serving-previous",
        (None, _) => "rejected",
    };
    let plugin = current.as_ref().map(|v| &v.plugin);
    PluginInfo {
        name: name.to_string(),
        kind: plugin.map(|p| p.kind()),
        world: plugin.map(|p| p.world().to_string()),
        hash: plugin.map(|p| p.hash().to_string()),
        size: plugin.map(|p| p.size()),
        loaded_at: current.as_ref().map(|v| v.loaded_at.clone()),
        status,
        last_error,
    }
}
