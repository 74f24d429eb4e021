//! The example and fixture plugins, built once per test run.
//!
//! `.ci/run` builds them before the tests, so this only checks that they are fresh. Run alone
//! (`cargo test`), the first test that needs them builds them, under a file lock so parallel
//! test processes build once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

use super::repo_root;

/// The path of a built plugin, by crate name with underscores (`order_totals`).
pub fn plugin_path(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(ensure_built);
    let path = artifacts_dir().join(format!("{name}.wasm"));
    assert!(path.exists(), "no plugin artifact {}", path.display());
    path
}

/// Loads a plugin with a fresh engine (cache in the test run's cache directory).
pub fn load(name: &str) -> eddy::plugin::Plugin {
    engine()
        .load_file(plugin_path(name))
        .expect("the plugin loads")
}

/// One engine per test process.
pub fn engine() -> &'static eddy::plugin::PluginEngine {
    static ENGINE: OnceLock<eddy::plugin::PluginEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let options = eddy::plugin::EngineOptions {
            cache_dir: Some(super::cache_dir()),
        };
        eddy::plugin::PluginEngine::new(&options).expect("the engine starts")
    })
}

fn artifacts_dir() -> PathBuf {
    repo_root().join("plugins/target/wasm32-wasip2/release")
}

fn ensure_built() {
    let root = repo_root();
    let sources = ["plugins", "guest-sdk", "wit"].map(|d| root.join(d));
    let newest_source = sources.iter().filter_map(|d| newest_mtime(d)).max();
    let oldest_artifact = std::fs::read_dir(artifacts_dir())
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "wasm"))
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .min();
    if let (Some(source), Some(artifact)) = (newest_source, oldest_artifact)
        && artifact >= source
    {
        return;
    }
    let lock_path = root.join("plugins/target/.test-build.lock");
    std::fs::create_dir_all(lock_path.parent().unwrap()).unwrap();
    let lock = std::fs::File::create(&lock_path).unwrap();
    lock.lock().unwrap();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet"])
        .current_dir(root.join("plugins"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the plugins failed");
}

fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            let path = entry.path();
            if path
                .file_name()
                .is_some_and(|n| n == "target" || n == "cases")
            {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(path);
            } else if let Ok(modified) = meta.modified() {
                newest = newest.max(Some(modified));
            }
        }
    }
    newest
}
