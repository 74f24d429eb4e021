//! The plugins folder, watched: `<name>.wasm` files are loaded into the [`PluginRegistry`] as
//! they appear, change and disappear.
//!
//! File events are debounced per name ([`DEBOUNCE`] of quiet), because `cp` and editors write
//! a file in several steps and an atomic rename shows up as two events; a half-written file is
//! never compiled. Compiling happens on a blocking thread, off the processing path. What the
//! registry did with a name is then passed to a [`FolderListener`] (the subscription host's
//! sidecar bindings), which starts and stops subscriptions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::Watcher as _;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::engine::PluginEngine;
use super::error::LoadError;
use super::instance::PluginInstance;
use super::limits::Limits;
use super::loader::Plugin;
use super::registry::{PluginRegistry, PluginVersion};
use super::sandbox::PluginConfig;

/// How long a name's files must be quiet before they are read.
pub const DEBOUNCE: Duration = Duration::from_millis(200);
/// How long stopping the watcher waits for a load in progress.
pub const WATCHER_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// What the registry did with a name after its files changed.
#[derive(Debug, Clone)]
pub enum Change {
    /// A new version serves; `previous` is the one it replaced (`None`: a new plugin).
    Installed {
        /// The version replaced, if any.
        previous: Option<Arc<PluginVersion>>,
    },
    /// The `.wasm` is the version already serving (its sidecar may have changed).
    Unchanged,
    /// The `.wasm` was rejected; the previous version, if any, goes on serving.
    Rejected,
    /// The `.wasm` was deleted and the plugin is gone from the registry.
    Removed,
}

/// Told about every change the watcher made to the registry, in order, one at a time.
#[async_trait::async_trait]
pub trait FolderListener: Send + Sync {
    /// `name`'s files in `dir` changed and the registry took `change`.
    async fn changed(&self, dir: &Path, name: &str, change: Change);
}

/// Why the folder cannot be watched. Check that it exists and is readable.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch the plugins folder {dir}: {message}")]
pub struct WatchError {
    /// The folder.
    pub dir: PathBuf,
    /// What failed.
    pub message: String,
}

/// The running watcher; stop it with [`PluginWatcher::shutdown`].
pub struct PluginWatcher {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// A plugin's name for a file of the folder: `<name>.wasm` or its sidecar `<name>.toml`.
/// Hidden files (uploads in progress, editors' temporaries) are not plugins.
pub fn plugin_name_of(path: &Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    if file.starts_with('.') {
        return None;
    }
    let stem = file
        .strip_suffix(".wasm")
        .or_else(|| file.strip_suffix(".toml"))?;
    crate::store::check_name("plugin", stem).ok()?;
    Some(stem.to_string())
}

impl PluginWatcher {
    /// Loads every plugin of `dir`, then watches it until [`PluginWatcher::shutdown`].
    /// Returns once the first load is done, so that names resolve for what starts next.
    pub async fn start(
        dir: PathBuf,
        engine: PluginEngine,
        registry: Arc<PluginRegistry>,
        listener: Arc<dyn FolderListener>,
    ) -> Result<Self, WatchError> {
        let fail = |message: String| WatchError {
            dir: dir.clone(),
            message,
        };
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        // Watch before the first scan, so that nothing written meanwhile is missed.
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let _ = events_tx.send(event);
            })
            .map_err(|e| fail(e.to_string()))?;
        watcher
            .watch(&dir, notify::RecursiveMode::NonRecursive)
            .map_err(|e| fail(e.to_string()))?;
        let names: BTreeSet<String> = std::fs::read_dir(&dir)
            .map_err(|e| fail(e.to_string()))?
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| plugin_name_of(&entry.path()))
            .collect();
        let folder = Folder {
            dir,
            engine,
            registry,
            listener,
        };
        for name in names {
            folder.sync(&name, Duration::ZERO).await;
        }
        let (stop, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            let _ = ready_tx.send(());
            // The notify watcher lives as long as the loop: dropping it stops the events.
            let _watcher = watcher;
            folder.watch(events_rx, stop_rx).await;
        });
        let _ = ready_rx.await;
        Ok(Self { stop, task })
    }

    /// Stops watching; a load in progress gets [`WATCHER_STOP_TIMEOUT`] to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let abort = self.task.abort_handle();
        if tokio::time::timeout(WATCHER_STOP_TIMEOUT, self.task)
            .await
            .is_err()
        {
            tracing::warn!("the plugins watcher did not stop in time");
            abort.abort();
        }
    }
}

struct Folder {
    dir: PathBuf,
    engine: PluginEngine,
    registry: Arc<PluginRegistry>,
    listener: Arc<dyn FolderListener>,
}

impl Folder {
    async fn watch(
        &self,
        mut events: mpsc::UnboundedReceiver<notify::Result<notify::Event>>,
        mut stop: watch::Receiver<bool>,
    ) {
        // Per name: when its first unprocessed event came, and when its latest did.
        let mut pending: BTreeMap<String, (Instant, Instant)> = BTreeMap::new();
        loop {
            let due = pending.values().map(|(_, last)| *last + DEBOUNCE).min();
            tokio::select! {
                _ = stopped(&mut stop) => return,
                event = events.recv() => match event {
                    None => return,
                    Some(Err(error)) => tracing::warn!(dir = %self.dir.display(), "watching the plugins folder: {error}"),
                    // Reads (ours included: loading a file opens it) change nothing.
                    Some(Ok(event)) if matches!(event.kind, notify::EventKind::Access(_)) => {}
                    Some(Ok(event)) => {
                        let now = Instant::now();
                        for name in event.paths.iter().filter_map(|p| plugin_name_of(p)) {
                            pending.entry(name).and_modify(|(_, last)| *last = now).or_insert((now, now));
                        }
                    }
                },
                _ = sleep_until(due) => {
                    let now = Instant::now();
                    let ready: Vec<(String, Instant)> = pending
                        .iter()
                        .filter(|(_, (_, last))| *last + DEBOUNCE <= now)
                        .map(|(name, (first, _))| (name.clone(), *first))
                        .collect();
                    for (name, first) in ready {
                        pending.remove(&name);
                        self.sync(&name, first.elapsed()).await;
                    }
                }
            }
        }
    }

    /// Brings the registry in line with `name`'s files, then tells the listener.
    async fn sync(&self, name: &str, since_first_event: Duration) {
        let started = Instant::now();
        let path = self.dir.join(format!("{name}.wasm"));
        let change = match tokio::fs::read(&path).await {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if self.registry.remove(name).is_some() {
                    tracing::info!(plugin = name, "plugin file deleted: its subscriptions stop");
                    Change::Removed
                } else {
                    // Only a sidecar without its plugin (yet), or a plugin never loaded.
                    self.registry.remove(name);
                    return;
                }
            }
            Err(error) => self.rejected(name, format!("{}: {error}", path.display())),
            Ok(bytes) => {
                let current = self.registry.current(name);
                let hash = crate::plugin::loader::hash_of(&bytes);
                if current.as_ref().is_some_and(|v| v.plugin.hash() == hash) {
                    self.registry.clear_error(name);
                    Change::Unchanged
                } else {
                    match self.load(name, bytes).await {
                        Ok(plugin) => {
                            self.install(name, plugin, current, since_first_event, started)
                        }
                        Err(message) => self.rejected(name, message),
                    }
                }
            }
        };
        self.listener.changed(&self.dir, name, change).await;
    }

    /// Compiles (or takes from the cache), checks the world and instantiates once, off the
    /// async threads: a file that cannot serve is refused before it replaces anything.
    async fn load(&self, name: &str, bytes: Vec<u8>) -> Result<Plugin, String> {
        let engine = self.engine.clone();
        let owned = name.to_string();
        let loaded = tokio::task::spawn_blocking(move || {
            let plugin = engine
                .load(&owned, &bytes)
                .map_err(|e: LoadError| e.to_string())?;
            PluginInstance::new(&plugin, PluginConfig::default(), Limits::default())
                .map_err(|e| format!("plugin `{owned}` fails to instantiate: {e}"))?;
            Ok(plugin)
        })
        .await;
        match loaded {
            Ok(result) => result,
            Err(panic) => Err(format!("plugin `{name}`: loading panicked: {panic}")),
        }
    }

    fn install(
        &self,
        name: &str,
        plugin: Plugin,
        current: Option<Arc<PluginVersion>>,
        since_first_event: Duration,
        started: Instant,
    ) -> Change {
        if let Some(old) = &current
            && old.plugin.kind() != plugin.kind()
        {
            return self.rejected(
                name,
                format!(
                    "plugin `{name}` was a {} and the new file is a {}: a version cannot change \
                     kind; delete the plugin first, then add the new file",
                    old.plugin.kind(),
                    plugin.kind()
                ),
            );
        }
        let hash = plugin.hash().to_string();
        let world = plugin.world();
        let previous = self
            .registry
            .install(plugin, since_first_event + started.elapsed());
        tracing::info!(
            plugin = name,
            %hash,
            %world,
            previous = previous.as_ref().map(|v| v.plugin.hash()).unwrap_or("none"),
            "plugin version serving"
        );
        Change::Installed { previous }
    }

    fn rejected(&self, name: &str, message: String) -> Change {
        tracing::error!(
            plugin = name,
            "plugin file rejected; the previous version, if any, keeps serving: {message}"
        );
        self.registry.reject(name, message);
        Change::Rejected
    }
}

/// Completes when the stop signal is set (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plugin_files_and_their_sidecars_have_names() {
        let name = |p: &str| plugin_name_of(Path::new(p));
        assert_eq!(
            name("/p/order-totals.wasm").as_deref(),
            Some("order-totals")
        );
        assert_eq!(
            name("/p/order-totals.toml").as_deref(),
            Some("order-totals")
        );
        assert_eq!(name("/p/.order-totals.wasm.upload"), None);
        assert_eq!(name("/p/order-totals.wasm~"), None);
        assert_eq!(name("/p/notes.txt"), None);
        assert_eq!(name("/p/bad name.wasm"), None);
    }
}
