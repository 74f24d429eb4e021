//! A real `eddy serve` process for whole-system tests: port 0, its own data folder, stopped
//! (SIGKILL) when dropped.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::get;

pub struct Server {
    pub addr: SocketAddr,
    child: Child,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `eddy serve` and waits until it listens.
    pub fn start(
        data: &Path,
        store: Option<&str>,
        config: Option<&Path>,
        plugins: Option<&Path>,
    ) -> Self {
        Self::start_with(data, store, config, plugins, &[])
    }

    /// Starts `eddy serve` with more command-line `args` and waits until it listens.
    pub fn start_with(
        data: &Path,
        store: Option<&str>,
        config: Option<&Path>,
        plugins: Option<&Path>,
        args: &[&str],
    ) -> Self {
        let store = store
            .map(str::to_string)
            .unwrap_or_else(|| format!("embedded:{}", data.display()));
        let mut command = Command::new(env!("CARGO_BIN_EXE_eddy"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--store", &store])
            .env("EDDY_CACHE_DIR", super::cache_dir())
            .env("RUST_LOG", "warn,eddy=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        if let Some(plugins) = plugins {
            command.arg("--plugins").arg(plugins);
        }
        command.args(args);
        let mut child = command.spawn().expect("eddy serve starts");
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("address=").nth(1) {
                    let addr = addr.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(addr);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr.parse().expect("a socket address"),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "eddy serve did not start:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        Server { addr, child, log }
    }

    /// Kills the process with SIGKILL (no shutdown at all) and waits for it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the process with SIGTERM and waits for it to exit; returns whether it exited 0.
    pub fn terminate(mut self) -> bool {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        false
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `check` is true, polling; panics with `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// A config file with the given `[[subscription]]` tables.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("eddy.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The reducer subscription `name` lists exactly the subjects of `expected` (e.g. `eddy
/// replay` of the same events) and serves each one's state, through the HTTP API.
pub fn assert_states_equal_replay(server: &Server, name: &str, expected: &BTreeMap<String, Value>) {
    let subjects = get(
        server.addr,
        &format!("/api/v1/projections/{name}?limit=1000"),
    )
    .json();
    let listed: Vec<&str> = subjects["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        expected.keys().map(String::as_str).collect::<Vec<_>>(),
        "the same subjects"
    );
    for (subject, state) in expected {
        if subject.is_empty() {
            continue; // not addressable in a URL path; checked through the listing above
        }
        let projection = get(
            server.addr,
            &format!("/api/v1/projections/{name}/{subject}"),
        )
        .json();
        assert_eq!(&projection["state"], state, "subject {subject}");
    }
}
