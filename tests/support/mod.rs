//! Shared helpers for the integration tests: plugin artifacts, generated histories, and
//! running the `eddy` binary.

#![allow(dead_code, missing_docs)]

pub mod histories;
pub mod http;
pub mod load;
pub mod orders;
pub mod plugins;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::Output;

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime/ sits in the repository")
        .to_path_buf()
}

/// Runs the `eddy` binary built for these tests, with the compiled-plugin cache in a
/// per-test-run directory (so tests never touch the user's cache).
pub fn eddy(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(args)
        .env("EDDY_CACHE_DIR", cache_dir())
        .env("RUST_LOG", "warn")
        .output()
        .expect("the eddy binary runs")
}

/// The compiled-plugin cache shared by the tests of one `target/` directory.
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("eddy-cache")
}

/// Standard output of a successful run; panics with stderr otherwise.
pub fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "eddy failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}
