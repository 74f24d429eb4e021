//! The plugins folder, watched: `<name>.wasm` files are loaded into the [`PluginRegistry`] as
//! they appear, change and disappear.
//!
//! A file is read as soon as its writer closed it or it was renamed into place, and never
//! while a writer still has it open; other changes wait for a quiet [`DEBOUNCE`] (see
//! [`super::settle`]). So a half-written file is never compiled, and a finished one swaps in
//! after its compile alone. Compiling happens on a blocking thread, off the processing path.
//! What the registry did with a name is then passed to a [`FolderListener`] (the subscription
//! host's sidecar bindings), which starts and stops subscriptions.

use std::collections::BTreeSet;
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
use super::settle::{Settling, Suspect, WatchOptions, signals};
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
        Self::start_with(dir, engine, registry, listener, WatchOptions::default()).await
    }

    /// [`PluginWatcher::start`] with other waiting times (tests stretch them to tell a prompt
    /// read from a debounced one).
    pub async fn start_with(
        dir: PathBuf,
        engine: PluginEngine,
        registry: Arc<PluginRegistry>,
        listener: Arc<dyn FolderListener>,
        options: WatchOptions,
    ) -> Result<Self, WatchError> {
        let shown = dir.clone();
        let fail = move |message: String| WatchError {
            dir: shown.clone(),
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
        let folder = Folder {
            dir,
            engine,
            registry,
            listener,
        };
        let names = folder.names().map_err(|e| fail(e.to_string()))?;
        for name in names {
            folder.sync(&name, Duration::ZERO, true, None).await;
        }
        let (stop, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            let _ = ready_tx.send(());
            // The notify watcher lives as long as the loop: dropping it stops the events.
            let _watcher = watcher;
            folder
                .watch(events_rx, stop_rx, Settling::new(options))
                .await;
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
        mut settling: Settling,
    ) {
        loop {
            tokio::select! {
                _ = stopped(&mut stop) => return,
                event = events.recv() => match event {
                    None => return,
                    Some(Err(error)) => tracing::warn!(dir = %self.dir.display(), "watching the plugins folder: {error}"),
                    // Events were lost (the kernel's queue overflowed): look at every name.
                    Some(Ok(event)) if event.need_rescan() => {
                        tracing::warn!(dir = %self.dir.display(), "plugins folder events were lost: rescanning it");
                        let now = Instant::now();
                        let mut names = self.names().unwrap_or_default();
                        names.extend(self.registry.list().into_iter().map(|p| p.name));
                        for name in names {
                            settling.saw(name, super::settle::Signal::Changed, now);
                        }
                    }
                    Some(Ok(event)) => {
                        let now = Instant::now();
                        for (path, signal) in signals(&event) {
                            if let Some(name) = plugin_name_of(&path) {
                                settling.saw(name, signal, now);
                            }
                        }
                    }
                },
                _ = sleep_until(settling.next_due()) => {
                    for ready in settling.take_ready(Instant::now()) {
                        let failed = self
                            .sync(&ready.name, ready.first.elapsed(), ready.settled, ready.suspect)
                            .await;
                        if let Some(suspect) = failed {
                            settling.retry_later(ready.name, ready.first, suspect, Instant::now());
                        }
                    }
                }
            }
        }
    }

    /// The names of the plugins and sidecars in the folder now.
    fn names(&self) -> std::io::Result<BTreeSet<String>> {
        Ok(std::fs::read_dir(&self.dir)?
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| plugin_name_of(&entry.path()))
            .collect())
    }

    /// Brings the registry in line with `name`'s files, then tells the listener.
    ///
    /// `settled`: the files have been quiet for the debounce, so a `.wasm` that fails to load
    /// is rejected. Otherwise (read at once after a close or a rename) the failure is
    /// returned instead, to be confirmed after a quiet debounce: another writer may still
    /// be coming. `suspect` is such an earlier failure: the same bytes are not compiled again.
    async fn sync(
        &self,
        name: &str,
        since_first_event: Duration,
        settled: bool,
        suspect: Option<Suspect>,
    ) -> Option<Suspect> {
        let started = Instant::now();
        let path = self.dir.join(format!("{name}.wasm"));
        let before = file_stamp(&path).await;
        let change = match tokio::fs::read(&path).await {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if self.registry.remove(name).is_some() {
                    tracing::info!(plugin = name, "plugin file deleted: its subscriptions stop");
                    Change::Removed
                } else {
                    // Only a sidecar without its plugin (yet), or a plugin never loaded.
                    self.registry.remove(name);
                    return None;
                }
            }
            Err(error) => self.rejected(name, format!("{}: {error}", path.display())),
            Ok(bytes) => {
                let current = self.registry.current(name);
                let hash = crate::plugin::loader::hash_of(&bytes);
                let known_failure = suspect.filter(|s| s.hash == hash);
                if current.as_ref().is_some_and(|v| v.plugin.hash() == hash) {
                    self.registry.clear_error(name);
                    Change::Unchanged
                } else if let Some(failure) = known_failure {
                    if !settled {
                        return Some(failure);
                    }
                    self.rejected(name, failure.message)
                } else {
                    let loaded = self.load(name, bytes).await;
                    // Written again while it compiled: what was read may be half of it. The
                    // events of that write are queued and bring the name back.
                    if file_stamp(&path).await != before {
                        tracing::debug!(
                            plugin = name,
                            "plugin file changed while loading: read again"
                        );
                        return loaded.err().map(|message| Suspect { hash, message });
                    }
                    match loaded {
                        Ok(plugin) => {
                            self.install(name, plugin, current, since_first_event, started)
                        }
                        Err(message) if !settled => {
                            tracing::debug!(
                                plugin = name,
                                "plugin file does not load yet; read again once it has been \
                                 quiet, in case it is still being written: {message}"
                            );
                            return Some(Suspect { hash, message });
                        }
                        Err(message) => self.rejected(name, message),
                    }
                }
            }
        };
        self.listener.changed(&self.dir, name, change).await;
        None
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

/// What tells one state of a file from another: a rewrite changes its size or its
/// modification time (nanoseconds here), a rename its inode. `None`: no file.
async fn file_stamp(path: &Path) -> Option<(u64, Option<std::time::SystemTime>, u64)> {
    let metadata = tokio::fs::metadata(path).await.ok()?;
    Some((metadata.len(), metadata.modified().ok(), inode(&metadata)))
}

#[cfg(unix)]
fn inode(metadata: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(metadata)
}

#[cfg(not(unix))]
fn inode(_metadata: &std::fs::Metadata) -> u64 {
    0
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
