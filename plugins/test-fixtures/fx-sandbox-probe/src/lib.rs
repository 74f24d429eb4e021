//! Test fixture `fx-sandbox-probe`: a reducer that, on every event, tries to reach outside its
//! sandbox and records what happened, so a test can assert that nothing was reachable.
//!
//! State: `{"events": n, "probe": {...}}` with the latest probe's results, each `"ok"` or the
//! `std::io::ErrorKind` (e.g. `"NotFound"`, `"Unsupported"`): `read_passwd`
//! (`fs::read("/etc/passwd")`), `read_dir_dot` / `read_dir_root` (`fs::read_dir(".")` / `"/"`),
//! `write_escape` (`fs::write("escape.txt", ..)`), `tcp_connect`
//! (`TcpStream::connect("127.0.0.1:6379")`); and the counts `env_vars` and `args`.

use guest_sdk::{Error, Event, Reducer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The probe's results.
#[derive(Serialize, Deserialize)]
pub struct Probed {
    /// Events probed on.
    pub events: u64,
    /// The latest probe: capability → `"ok"`, an error kind, or a count.
    pub probe: BTreeMap<String, serde_json::Value>,
}

fn outcome<T>(result: std::io::Result<T>) -> serde_json::Value {
    match result {
        Ok(_) => "ok".into(),
        Err(err) => format!("{:?}", err.kind()).into(),
    }
}

/// Probes the sandbox on every event.
pub struct SandboxProbe;

impl Reducer for SandboxProbe {
    type State = Probed;

    fn init() -> Probed {
        Probed {
            events: 0,
            probe: BTreeMap::new(),
        }
    }

    fn apply_event(state: &mut Probed, _event: &Event) -> Result<(), Error> {
        let probe = &mut state.probe;
        probe.insert("read_passwd".into(), outcome(std::fs::read("/etc/passwd")));
        probe.insert("read_dir_dot".into(), outcome(std::fs::read_dir(".")));
        probe.insert("read_dir_root".into(), outcome(std::fs::read_dir("/")));
        probe.insert(
            "write_escape".into(),
            outcome(std::fs::write("escape.txt", b"escaped")),
        );
        probe.insert(
            "tcp_connect".into(),
            outcome(std::net::TcpStream::connect("127.0.0.1:6379")),
        );
        probe.insert("env_vars".into(), std::env::vars().count().into());
        probe.insert("args".into(), std::env::args().count().into());
        state.events += 1;
        Ok(())
    }
}

guest_sdk::export!(SandboxProbe: Reducer);
