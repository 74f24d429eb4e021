//! Test support: a private `redis-server` per test, and a fresh store of either backend.
#![allow(dead_code)]

pub mod api;
pub mod openapi;
pub mod wire;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use eddy::event::CloudEvent;
use eddy::store::EventStore;
use eddy::store::embedded::EmbeddedStore;
use eddy::store::redis::RedisStore;

/// A `redis-server` of our own on a free loopback port, without persistence unless asked,
/// killed on drop. Never the machine's Redis on 6379.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    /// Arguments beyond port, bind and dir (persistence settings).
    args: Vec<String>,
    dir: tempfile::TempDir,
}

/// The persistence settings of a Redis whose data is lost when it stops.
const NO_PERSISTENCE: [&str; 4] = ["--save", "", "--appendonly", "no"];

impl RedisServer {
    /// Starts one, waiting for its "Ready to accept connections" line. Panics (failing the
    /// test, not skipping it) if `redis-server` cannot be started.
    pub fn start() -> Self {
        Self::start_with(&NO_PERSISTENCE)
    }

    /// Like [`RedisServer::start`], with other persistence arguments (such as
    /// `--appendonly yes --appendfsync always`); its files go in a folder of its own, kept
    /// across [`RedisServer::stop`] and [`RedisServer::start_again`].
    pub fn start_with(args: &[&str]) -> Self {
        let mut last_error = String::new();
        // The free port is found by binding port 0 and releasing it; another process may grab
        // it in between, so try a few.
        for _ in 0..5 {
            let mut server = Self {
                child: None,
                port: free_port(),
                args: args.iter().map(|a| a.to_string()).collect(),
                dir: tempfile::tempdir().expect("a temporary directory"),
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(error) => last_error = error,
            }
        }
        panic!("could not start redis-server (is it installed?): {last_error}");
    }

    /// Kills the server (SIGKILL: no shutdown, no final save) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same folder and arguments. Panics if it
    /// cannot.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "redis-server is still running");
        let mut last_error = String::new();
        // The port may linger for a moment after the kill.
        for _ in 0..20 {
            match self.spawn() {
                Ok(()) => return,
                Err(error) => last_error = error,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("could not start redis-server again: {last_error}");
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(&self.args)
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run redis-server: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (ready_tx, ready_rx) = mpsc::channel();
        // Reads the log until the server exits, so the pipe never fills.
        std::thread::spawn(move || {
            let mut log = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("Ready to accept connections") {
                    let _ = ready_tx.send(Ok(()));
                }
                log.push(line);
            }
            let _ = ready_tx.send(Err(log.join("\n")));
        });
        match ready_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(())) => {
                self.child = Some(child);
                Ok(())
            }
            Ok(Err(log)) => {
                let _ = child.wait();
                Err(format!("redis-server exited: {log}"))
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err("redis-server did not become ready in 20 s".to_string())
            }
        }
    }

    /// The URL of its database 0.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where a test's store lives; open it again to simulate a restart.
pub enum Target {
    /// An embedded store in a temporary directory.
    Embedded(tempfile::TempDir),
    /// A private Redis.
    Redis(RedisServer),
}

impl Target {
    /// A fresh embedded store.
    pub fn embedded() -> Self {
        Target::Embedded(tempfile::tempdir().expect("a temporary directory"))
    }

    /// A fresh Redis.
    pub fn redis() -> Self {
        Target::Redis(RedisServer::start())
    }

    /// The store URL.
    pub fn url(&self) -> String {
        match self {
            Target::Embedded(dir) => format!("embedded:{}", dir.path().display()),
            Target::Redis(server) => server.url(),
        }
    }

    /// Opens the store (again). The embedded store must be dropped before it is reopened.
    pub async fn open(&self) -> Arc<dyn EventStore> {
        match self {
            Target::Embedded(dir) => Arc::new(
                EmbeddedStore::open(dir.path())
                    .await
                    .expect("embedded store opens"),
            ),
            Target::Redis(server) => Arc::new(
                RedisStore::connect(&server.url())
                    .await
                    .expect("redis store connects"),
            ),
        }
    }
}

/// An `order.created` event with JSON data, from `/test`.
pub fn event(id: &str) -> CloudEvent {
    CloudEvent::new(id, "/test", "order.created")
        .with_json_data(&serde_json::json!({ "n": id }))
        .expect("valid data")
}

/// The same, about `subject`.
pub fn event_about(id: &str, subject: &str) -> CloudEvent {
    event(id).with_subject(subject)
}
