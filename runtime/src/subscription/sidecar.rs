//! Sidecar bindings: `<name>.toml` beside `<name>.wasm` in the plugins folder binds the plugin
//! to streams, so that dropping the two files is enough to start processing.
//!
//! The sidecar holds the fields of one subscription, bare (no `[[subscription]]` header):
//!
//! ```toml
//! streams = ["orders"]
//! types = ["order.*"]      # and any other field of a subscription
//! ```
//!
//! `name` defaults to the plugin's name and `plugin` is the plugin beside it. The bindings
//! follow the folder: a changed sidecar restarts its subscription, a deleted one stops it,
//! a deleted plugin parks every subscription using it and its return resumes them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Mutex;

use super::{SubscriptionError, SubscriptionHost, SubscriptionSpec};
use crate::plugin::{Change, FolderListener};

/// A sidecar file that cannot be used; the message names the file, the line and the key.
/// Fix the file: the subscription it had started (if any) goes on unchanged meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}:{line}: {message}")]
pub struct SidecarError {
    /// The sidecar file.
    pub path: PathBuf,
    /// The line at fault (1-based).
    pub line: usize,
    /// What is wrong, naming the key.
    pub message: String,
}

/// Parses the sidecar of plugin `name`: one subscription's fields, bare.
pub fn parse_sidecar(
    path: &Path,
    name: &str,
    text: &str,
) -> Result<SubscriptionSpec, SidecarError> {
    let fail = |line: usize, message: String| SidecarError {
        path: path.to_path_buf(),
        line,
        message,
    };
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
        fail(line, e.message().trim_end().to_string())
    })?;
    if let Some(plugin) = table.get("plugin")
        && plugin.as_str() != Some(name)
    {
        return Err(fail(
            key_line(text, "plugin"),
            format!("`plugin` must be `{name}` (a sidecar binds the plugin beside it) or left out"),
        ));
    }
    // The defaults go in front, as text, so that serde reports every other problem with its
    // place in the user's file (offsets are shifted back by the prefix's length).
    let mut prefix = String::new();
    if !table.contains_key("name") {
        prefix += &format!("name = {:?}\n", name);
    }
    if !table.contains_key("plugin") {
        prefix += &format!("plugin = {:?}\n", name);
    }
    let full = format!("{prefix}{text}");
    let spec: SubscriptionSpec = toml::from_str(&full).map_err(|e| {
        let line = e
            .span()
            .map(|s| line_of(text, s.start.saturating_sub(prefix.len())))
            .unwrap_or(1);
        fail(line, e.message().trim_end().to_string())
    })?;
    spec.validate().map_err(|e| {
        let key = e.key.rsplit('.').next().unwrap_or(e.key);
        fail(key_line(text, key), e.to_string())
    })?;
    Ok(spec)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where `key` is set (`key =` at the start of a line), else 1.
fn key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|line| {
            line.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map_or(1, |i| i + 1)
}

/// Starts, restarts and stops subscriptions as the plugins folder changes.
pub struct SidecarBindings {
    host: Arc<SubscriptionHost>,
    /// Plugin name → the subscription its sidecar started.
    bound: Mutex<BTreeMap<String, String>>,
}

impl SidecarBindings {
    /// Bindings that run their subscriptions on `host` (which has the registry).
    pub fn new(host: Arc<SubscriptionHost>) -> Self {
        Self {
            host,
            bound: Mutex::new(BTreeMap::new()),
        }
    }

    fn reject(&self, name: &str, message: String) {
        tracing::error!(plugin = name, "{message}");
        if let Some(registry) = self.host.registry() {
            registry.reject(name, message);
        }
    }

    /// Makes the subscription of `name`'s sidecar match the file.
    async fn reconcile(&self, dir: &Path, name: &str) {
        let serving = self
            .host
            .registry()
            .is_some_and(|r| r.current(name).is_some());
        if !serving {
            return; // started when a good version of the plugin arrives
        }
        let mut bound = self.bound.lock().await;
        let path = dir.join(format!("{name}.toml"));
        let text = match tokio::fs::read_to_string(&path).await {
            Ok(text) => Some(text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => {
                self.reject(name, format!("{}: {error}", path.display()));
                return;
            }
        };
        let spec = match text.map(|t| parse_sidecar(&path, name, &t)).transpose() {
            Ok(spec) => spec,
            Err(error) => {
                self.reject(
                    name,
                    format!("{error}; the running subscription is unchanged"),
                );
                return;
            }
        };
        if let Some(previous) = bound.get(name).cloned() {
            if spec.is_some() && self.host.spec(&previous).await == spec {
                return;
            }
            match self.host.stop(&previous).await {
                Ok(()) | Err(SubscriptionError::NotFound(_)) => {}
                Err(error) => tracing::warn!(subscription = %previous, "stopping: {error}"),
            }
            bound.remove(name);
            tracing::info!(subscription = %previous, plugin = name, "sidecar subscription stopped");
        }
        let Some(spec) = spec else { return };
        let subscription = spec.name.clone();
        match self.host.start(spec).await {
            Ok(()) => {
                bound.insert(name.to_string(), subscription);
            }
            Err(error) => self.reject(
                name,
                format!(
                    "{}: cannot start subscription `{subscription}`: {error}",
                    path.display()
                ),
            ),
        }
    }
}

#[async_trait::async_trait]
impl FolderListener for SidecarBindings {
    async fn changed(&self, dir: &Path, name: &str, change: Change) {
        match change {
            Change::Removed => {
                // Every subscription using it stops, checkpoints kept; its return resumes them.
                self.host.park(name).await;
                return;
            }
            Change::Installed { previous: None } => {
                for (subscription, error) in self.host.unpark(name).await {
                    self.reject(
                        name,
                        format!("cannot resume subscription `{subscription}`: {error}"),
                    );
                }
            }
            Change::Installed { previous: Some(_) } => {
                for (subscription, error) in self.host.resume_quarantined_using(name).await {
                    self.reject(
                        name,
                        format!("cannot resume quarantined subscription `{subscription}`: {error}"),
                    );
                }
            }
            Change::Unchanged | Change::Rejected => {}
        }
        self.reconcile(dir, name).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SubscriptionSpec, SidecarError> {
        parse_sidecar(Path::new("p/totals.toml"), "totals", text)
    }

    #[test]
    fn name_and_plugin_default_to_the_plugin_beside_it() {
        let spec = parse("streams = [\"orders\"]\nbatch = 10\n").unwrap();
        assert_eq!(spec.name, "totals");
        assert_eq!(spec.plugin, "totals");
        assert_eq!(spec.batch, 10);
        let named = parse("name = \"live-totals\"\nstreams = [\"orders\"]\n").unwrap();
        assert_eq!(named.name, "live-totals");
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_key() {
        let unknown = parse("streams = [\"orders\"]\n\nbtach = 5\n").unwrap_err();
        assert_eq!(unknown.line, 3, "{unknown}");
        assert!(unknown.message.contains("btach"), "{unknown}");
        assert!(
            unknown.to_string().starts_with("p/totals.toml:3:"),
            "{unknown}"
        );
        let invalid = parse("streams = [\"orders\"]\nbatch = 0\n").unwrap_err();
        assert_eq!(invalid.line, 2, "{invalid}");
        assert!(invalid.message.contains("`batch`"), "{invalid}");
        let syntax = parse("streams = [\"orders\"\n").unwrap_err();
        assert!(syntax.line >= 1, "{syntax}");
        let other = parse("plugin = \"other\"\nstreams = [\"orders\"]\n").unwrap_err();
        assert_eq!(other.line, 1, "{other}");
    }

    #[test]
    fn keep_state_is_read() {
        let spec = parse("streams = [\"orders\"]\nkeep_state = true\n").unwrap();
        assert!(spec.keep_state);
    }
}
