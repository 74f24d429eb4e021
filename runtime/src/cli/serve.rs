//! `eddy serve`: the HTTP API over an event store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;

use crate::api::{self, ApiConfig, DEFAULT_MAX_BODY_BYTES};
use crate::config::EddyConfig;
use crate::plugin::{EngineOptions, PluginEngine, PluginRegistry, PluginWatcher};
use crate::store::{DEFAULT_STORE_URL, StoreUrl};
use crate::subscription::{SidecarBindings, SubscriptionHost};

/// Arguments of `eddy serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Where events are stored: `embedded:<directory>` or `redis://host:port/db`.
    #[arg(long, env = "EDDY_STORE", default_value = DEFAULT_STORE_URL)]
    store: String,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The largest request body accepted, in bytes (larger ones get 413).
    #[arg(long, default_value_t = DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// A configuration file with `[[subscription]]`s to run.
    #[arg(long, env = "EDDY_CONFIG")]
    config: Option<PathBuf>,
    /// The plugins folder, watched: `<name>.wasm` files are loaded, swapped live when they
    /// change and unloaded when deleted; a sidecar `<name>.toml` binds the plugin to streams.
    /// Subscriptions name its plugins (`plugin = "order-totals"`). Created if missing; without
    /// this option, `./plugins` is watched when it exists.
    #[arg(long, env = "EDDY_PLUGINS")]
    plugins: Option<PathBuf>,
}

/// Runs `eddy serve` until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let shown = StoreUrl::parse(&args.store)?.to_string();
    let store = crate::store::open(&args.store)
        .await
        .with_context(|| format!("cannot open the event store {shown}"))?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, store = %shown, "serving the Eddy API");
    let config = ApiConfig {
        max_body_bytes: args.max_body_bytes,
    };
    // Read the configuration first: a wrong file stops the start with the line at fault.
    let file = match &args.config {
        Some(path) => Some(EddyConfig::load(path)?),
        None => None,
    };
    let engine = PluginEngine::new(&EngineOptions::with_default_cache())?;
    let plugins = match args.plugins {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create the plugins folder {}", dir.display()))?;
            Some(dir)
        }
        None => Some(PathBuf::from("plugins")).filter(|d| d.is_dir()),
    };
    let registry = Arc::new(PluginRegistry::default());
    let mut host = SubscriptionHost::new(store, engine.clone(), plugins.clone());
    if plugins.is_some() {
        host = host.with_registry(registry.clone());
    }
    let host = Arc::new(host);
    // The folder is loaded before the configured subscriptions start, so their names resolve.
    let watcher = match plugins {
        Some(dir) => {
            let listener = Arc::new(SidecarBindings::new(host.clone()));
            tracing::info!(dir = %dir.display(), "watching the plugins folder");
            Some(PluginWatcher::start(dir, engine, registry, listener).await?)
        }
        None => None,
    };
    for spec in file.map(|f| f.subscriptions).unwrap_or_default() {
        let name = spec.name.clone();
        host.start(spec)
            .await
            .with_context(|| format!("cannot start subscription `{name}`"))?;
    }
    let served = api::serve_app(
        listener,
        api::router_with(host.clone(), config),
        api::shutdown_signal(),
    )
    .await;
    // No reload starts after this; in-flight batches finish (within a bound); everything else
    // stays pending for next time.
    if let Some(watcher) = watcher {
        watcher.shutdown().await;
    }
    host.stop_all().await;
    served.context("the HTTP server failed")?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
