//! `/api/v1/plugins`: the plugins of the watched folder — list, inspect, upload, delete.
//!
//! The folder is the single source of truth: an upload is checked, then written into the
//! folder atomically (a hidden temporary file renamed into place) and taken up by the watcher
//! like any other file; a delete removes the file. Both answer once the watcher has acted.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::{ApiError, AppState};
use crate::plugin::{PluginInfo, PluginRegistry, ReloadMetrics};

/// How long an upload or a delete waits for the watcher to take it up.
const TAKE_UP_TIMEOUT: Duration = Duration::from_secs(30);

/// Every plugin, with the registry's reload counters.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct PluginList {
    /// The plugins of the folder, by name.
    pub plugins: Vec<PluginInfo>,
    /// Reloads, failures and the latency of the latest reload.
    pub metrics: ReloadMetrics,
}

fn folder(state: &AppState) -> Result<(Arc<PluginRegistry>, PathBuf), ApiError> {
    let host = &state.subscriptions;
    match (host.registry(), host.plugins_dir()) {
        (Some(registry), Some(dir)) => Ok((registry.clone(), dir.to_path_buf())),
        _ => Err(ApiError::not_found(
            "no plugins folder is watched by this server (start it with `--plugins <dir>`)",
        )),
    }
}

fn check_plugin_name(name: &str) -> Result<(), ApiError> {
    crate::store::check_name("plugin", name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    // The watcher ignores hidden files (uploads in progress are written as such), so a name
    // starting with `.` (`.x`, `.`, `..`) could never serve: refuse it up front.
    if name.starts_with('.') {
        return Err(ApiError::bad_request(format!(
            "plugin name `{name}` starts with `.`: hidden files in the plugins folder are ignored"
        )));
    }
    Ok(())
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("no plugin `{name}`"))
}

/// `GET /api/v1/plugins`
pub async fn list(State(state): State<AppState>) -> Result<Json<PluginList>, ApiError> {
    let (registry, _) = folder(&state)?;
    Ok(Json(PluginList {
        plugins: registry.list(),
        metrics: registry.metrics(),
    }))
}

/// `GET /api/v1/plugins/{name}`: kind, world, hash, size, loaded at, status, last error.
pub async fn info(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<PluginInfo>, ApiError> {
    let (registry, _) = folder(&state)?;
    registry
        .info(&name)
        .map(Json)
        .ok_or_else(|| not_found(&name))
}

/// `PUT /api/v1/plugins/{name}` with the component's bytes: 201 for a new plugin, 200 for a
/// new version, once it serves; 422 (nothing written) for a file that cannot serve.
pub async fn put(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<PluginInfo>), ApiError> {
    check_plugin_name(&name)?;
    let (registry, dir) = folder(&state)?;
    // Check first, so that a broken upload never reaches the folder (the compiled artifact
    // lands in the cache, so the watcher's load is then instant).
    let engine = state.subscriptions.engine().clone();
    let bytes = body.to_vec();
    let owned = name.clone();
    let (checked, bytes) = tokio::task::spawn_blocking(move || {
        let checked = engine.load(&owned, &bytes);
        (checked, bytes)
    })
    .await
    .map_err(|e| ApiError::unprocessable(format!("plugin `{name}`: {e}")))?;
    let plugin = checked.map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let current = registry.current(&name);
    if let Some(current) = &current
        && current.plugin.kind() != plugin.kind()
    {
        return Err(ApiError::conflict(format!(
            "plugin `{name}` is a {} and the upload is a {}: a version cannot change kind; \
             delete the plugin first",
            current.plugin.kind(),
            plugin.kind()
        )));
    }
    let mut changes = registry.subscribe();
    let failures_before = registry.metrics().failures;
    write_atomically(&dir, &name, &bytes).await.map_err(|e| {
        tracing::error!(plugin = %name, "writing an upload: {e}");
        ApiError::unprocessable(format!(
            "plugin `{name}` could not be written to the plugins folder"
        ))
    })?;
    let hash = plugin.hash().to_string();
    let taken = wait_for(&mut changes, || match registry.info(&name) {
        Some(info) if info.hash.as_deref() == Some(hash.as_str()) => Some(Ok(info)),
        // The watcher refused it after all (e.g. it cannot be instantiated).
        Some(PluginInfo {
            last_error: Some(error),
            ..
        }) if registry.metrics().failures > failures_before => Some(Err(error)),
        _ => None,
    })
    .await;
    match taken {
        Some(Ok(info)) => {
            let status = if current.is_some() {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            Ok((status, Json(info)))
        }
        Some(Err(error)) => Err(ApiError::unprocessable(error)),
        None => Err(ApiError::unprocessable(format!(
            "plugin `{name}` was written but the watcher did not take it up within {TAKE_UP_TIMEOUT:?}"
        ))),
    }
}

/// `DELETE /api/v1/plugins/{name}`: removes the file; its subscriptions stop (checkpoints
/// kept, so uploading it again resumes them). 204 once done.
pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    check_plugin_name(&name)?;
    let (registry, dir) = folder(&state)?;
    let mut changes = registry.subscribe();
    match tokio::fs::remove_file(dir.join(format!("{name}.wasm"))).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found(&name)),
        Err(e) => {
            tracing::error!(plugin = %name, "deleting a plugin file: {e}");
            return Err(ApiError::unprocessable(format!(
                "plugin `{name}` could not be deleted from the plugins folder"
            )));
        }
    }
    let gone = wait_for(&mut changes, || {
        registry.slot(&name).is_none().then_some(())
    })
    .await;
    gone.map(|()| StatusCode::NO_CONTENT).ok_or_else(|| {
        ApiError::unprocessable(format!(
            "plugin `{name}` was deleted but the watcher did not take it up within {TAKE_UP_TIMEOUT:?}"
        ))
    })
}

/// Writes `<dir>/<name>.wasm` atomically: a hidden temporary file (which the watcher ignores),
/// synced, then renamed over the plugin.
async fn write_atomically(dir: &FsPath, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = dir.join(format!(
        ".{name}.wasm.upload-{}-{}",
        std::process::id(),
        crate::store::now_ms()
    ));
    let target = dir.join(format!("{name}.wasm"));
    let bytes = bytes.to_vec();
    tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &target).inspect_err(|_| {
            let _ = std::fs::remove_file(&temporary);
        })
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Re-checks `check` after every registry change until it gives an answer or time runs out.
async fn wait_for<T>(
    changes: &mut tokio::sync::watch::Receiver<u64>,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = tokio::time::Instant::now() + TAKE_UP_TIMEOUT;
    loop {
        if let Some(answer) = check() {
            return Some(answer);
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            _ => return check(),
        }
    }
}
