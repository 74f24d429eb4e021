//! The plugins-folder watcher as a library: when a replaced file is read. A finished file
//! (closed by its writer, or renamed into place) swaps in at once; a file still open for
//! writing is never read, however long its writer pauses; a failure to load a file that a
//! second writer completes right after is never reported.
//!
//! The waiting times are stretched (a debounce of seconds) so that "at once" and "after the
//! debounce" cannot be confused on a loaded machine.

#![cfg(target_os = "linux")]

mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use eddy::plugin::{
    Change, FolderListener, PluginRegistry, PluginWatcher, ReloadMetrics, WatchOptions,
};
use sha2::{Digest, Sha256};
use support::plugins::{engine, plugin_path};

const NAME: &str = "tagger";

struct Ignore;

#[async_trait::async_trait]
impl FolderListener for Ignore {
    async fn changed(&self, _dir: &Path, _name: &str, _change: Change) {}
}

/// A watched folder serving `fx_tag_a` as `tagger`.
struct Folder {
    _dir: tempfile::TempDir,
    target: PathBuf,
    registry: Arc<PluginRegistry>,
    watcher: Option<PluginWatcher>,
}

impl Folder {
    async fn start(options: WatchOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join(format!("{NAME}.wasm"));
        std::fs::copy(plugin_path("fx_tag_a"), &target).unwrap();
        let registry = Arc::new(PluginRegistry::default());
        let watcher = PluginWatcher::start_with(
            dir.path().to_path_buf(),
            engine().clone(),
            registry.clone(),
            Arc::new(Ignore),
            options,
        )
        .await
        .unwrap();
        assert_eq!(self_hash(&registry), Some(hash(&read("fx_tag_a"))));
        Self {
            _dir: dir,
            target,
            registry,
            watcher: Some(watcher),
        }
    }

    fn serving(&self) -> Option<String> {
        self_hash(&self.registry)
    }

    fn metrics(&self) -> ReloadMetrics {
        self.registry.metrics()
    }

    /// Waits until `hash` serves; fails after `within`.
    async fn wait_serving(&self, hash: &str, within: Duration) {
        let mut changes = self.registry.subscribe();
        let wait = async {
            while self.serving().as_deref() != Some(hash) {
                changes.changed().await.unwrap();
            }
        };
        tokio::time::timeout(within, wait)
            .await
            .unwrap_or_else(|_| panic!("{hash} did not serve within {within:?}"));
    }

    /// Waits until the registry records an error for the plugin.
    async fn wait_error(&self, within: Duration) -> String {
        let mut changes = self.registry.subscribe();
        let wait = async {
            loop {
                if let Some(error) = self.registry.slot(NAME).and_then(|s| s.last_error()) {
                    return error;
                }
                changes.changed().await.unwrap();
            }
        };
        tokio::time::timeout(within, wait)
            .await
            .unwrap_or_else(|_| panic!("no error recorded within {within:?}"))
    }

    fn last_error(&self) -> Option<String> {
        self.registry.slot(NAME).and_then(|s| s.last_error())
    }

    async fn stop(mut self) {
        self.watcher.take().unwrap().shutdown().await;
    }
}

fn self_hash(registry: &PluginRegistry) -> Option<String> {
    registry.slot(NAME).and_then(|s| s.current_hash())
}

fn read(plugin: &str) -> Vec<u8> {
    std::fs::read(plugin_path(plugin)).unwrap()
}

fn hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `wasm` with a custom section appended: the same code under another hash. `wasm` alone is
/// then a valid prefix of the result — the worst case of a half-written file.
fn with_custom_section(wasm: &[u8], payload: &[u8]) -> Vec<u8> {
    let name = b"eddy-test";
    let mut content = vec![name.len() as u8];
    content.extend_from_slice(name);
    content.extend_from_slice(payload);
    assert!(content.len() < 128, "one-byte LEB128 length");
    let mut out = wasm.to_vec();
    out.push(0);
    out.push(content.len() as u8);
    out.extend(content);
    out
}

/// Only a close or a rename can make a file serve within this: the debounce is longer.
const LONG: WatchOptions = WatchOptions {
    debounce: Duration::from_secs(60),
    writer_timeout: Duration::from_secs(120),
};
const PROMPT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_closed_by_its_writer_or_renamed_into_place_serves_without_the_debounce() {
    let folder = Folder::start(LONG).await;

    // `cp`-like: truncate, write, close.
    let b = read("fx_tag_b");
    std::fs::write(&folder.target, &b).unwrap();
    folder.wait_serving(&hash(&b), PROMPT).await;

    // An atomic `mv` of a finished file over the plugin.
    let renamed = with_custom_section(&b, b"renamed");
    let temporary = folder.target.with_file_name(".incoming");
    std::fs::write(&temporary, &renamed).unwrap();
    std::fs::rename(&temporary, &folder.target).unwrap();
    folder.wait_serving(&hash(&renamed), PROMPT).await;

    let metrics = folder.metrics();
    assert_eq!(metrics.failures, 0, "{metrics:?}");
    assert!(
        metrics.last_reload_ms.unwrap() < LONG.debounce.as_millis() as u64,
        "{metrics:?}"
    );
    folder.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_still_open_for_writing_is_never_read_however_long_the_writer_pauses() {
    // A short debounce: before close events were used, each pause below would have
    // loaded the file half-written.
    let options = WatchOptions {
        debounce: Duration::from_millis(50),
        writer_timeout: Duration::from_secs(120),
    };
    let folder = Folder::start(options).await;
    let a = hash(&read("fx_tag_a"));
    let b = read("fx_tag_b");
    let full = with_custom_section(&b, b"written slowly");
    let before = folder.metrics();

    let mut file = std::fs::File::create(&folder.target).unwrap();
    // Half of it: not a valid component.
    file.write_all(&b[..b.len() / 2]).unwrap();
    file.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(folder.serving(), Some(a.clone()));
    assert_eq!(
        folder.last_error(),
        None,
        "a file being written is no error"
    );
    // All of fx-tag-b: a valid component, yet only a prefix of the file being written.
    file.write_all(&b[b.len() / 2..]).unwrap();
    file.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        folder.serving(),
        Some(a.clone()),
        "a valid prefix was loaded"
    );
    file.write_all(&full[b.len()..]).unwrap();
    drop(file);

    folder.wait_serving(&hash(&full), PROMPT).await;
    let after = folder.metrics();
    assert_eq!(after.reloads, before.reloads + 1, "one swap: {after:?}");
    assert_eq!(after.failures, before.failures, "{after:?}");
    assert_eq!(folder.last_error(), None);
    folder.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_finished_by_a_second_writer_is_not_reported_broken_but_a_broken_one_is() {
    let options = WatchOptions {
        debounce: Duration::from_secs(3),
        writer_timeout: Duration::from_secs(120),
    };
    let folder = Folder::start(options).await;
    let a = hash(&read("fx_tag_a"));
    let b = read("fx_tag_b");

    // `cat first > f; cat rest >> f`: the first close leaves a file that does not load.
    std::fs::write(&folder.target, &b[..b.len() / 2]).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&folder.target)
        .unwrap();
    file.write_all(&b[b.len() / 2..]).unwrap();
    drop(file);
    folder.wait_serving(&hash(&b), PROMPT).await;
    // Past the debounce of the first, failed read: still nothing reported.
    tokio::time::sleep(options.debounce + Duration::from_millis(500)).await;
    assert_eq!(folder.metrics().failures, 0, "{:?}", folder.metrics());
    assert_eq!(folder.last_error(), None);

    // A file that stays broken is rejected after the debounce; the version serving stays.
    std::fs::write(&folder.target, b"not wasm").unwrap();
    let error = folder.wait_error(options.debounce * 5).await;
    assert!(error.contains("not a WebAssembly file"), "{error}");
    assert_eq!(folder.serving(), Some(hash(&b)));
    assert_eq!(folder.metrics().failures, 1);
    assert_ne!(folder.serving(), Some(a));
    folder.stop().await;
}
