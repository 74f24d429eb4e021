//! `eddy serve`: the HTTP API over an event store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;

use crate::api::{self, ApiConfig, Auth, Closing, DEFAULT_MAX_BODY_BYTES, Role};
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
    /// The address to listen on. Without a token, only a loopback address is allowed.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// An admin token: every route but health and metrics then needs
    /// `Authorization: Bearer <token>`. More tokens, and read-only ones, go in the config's
    /// `[api] tokens`.
    #[arg(long, env = "EDDY_API_TOKEN", hide_env_values = true)]
    api_token: Option<String>,
    /// The largest request body accepted, in bytes (larger ones get 413).
    #[arg(long, default_value_t = DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// How long one request may take, in seconds, before it is answered with 503 (live
    /// streams are exempt).
    #[arg(long, default_value_t = 30)]
    request_timeout_secs: u64,
    /// A configuration file with `[[subscription]]`s to run.
    #[arg(long, env = "EDDY_CONFIG")]
    config: Option<PathBuf>,
    /// The plugins folder, watched: `<name>.wasm` files are loaded, swapped live when they
    /// change and unloaded when deleted; a sidecar `<name>.toml` binds the plugin to streams.
    /// Subscriptions name its plugins (`plugin = "order-totals"`). Created if missing; without
    /// this option, `./plugins` is watched when it exists.
    #[arg(long, env = "EDDY_PLUGINS")]
    plugins: Option<PathBuf>,
    /// This process's name in the subscriptions' consumer groups and leases. Give each
    /// instance a name that stays the same across its restarts and that no other running
    /// instance uses (a StatefulSet pod name, say): a restarted instance then takes back at
    /// once the batch it was handling when it died. Default: `local` on the embedded store
    /// (one process opens it); on Redis a new name per process, whose unfinished batch
    /// another process or the next start claims once it has been idle for 30 s.
    #[arg(long, env = "EDDY_CONSUMER")]
    consumer: Option<String>,
}

/// Runs `eddy serve` until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // Read the configuration first: a wrong file stops the start with the line at fault.
    let file = match &args.config {
        Some(path) => EddyConfig::load(path)?,
        None => EddyConfig::default(),
    };
    let mut auth = Auth::open();
    if let Some(token) = &args.api_token {
        auth = auth
            .with_token(token, Role::Admin)
            .context("--api-token (or EDDY_API_TOKEN)")?;
    }
    for spec in &file.api.tokens {
        auth = auth.with_token(&spec.token, spec.role)?;
    }
    if auth.is_open() && !args.listen.ip().is_loopback() {
        anyhow::bail!(
            "refusing to listen on {} without authentication: anyone who can reach it could \
             change or delete data. Set --api-token (or EDDY_API_TOKEN, or [api] tokens in the \
             config file), or listen on a loopback address such as 127.0.0.1:{}",
            args.listen,
            args.listen.port()
        );
    }
    let shown = StoreUrl::parse(&args.store)?.to_string();
    let store = crate::store::open(&args.store)
        .await
        .with_context(|| format!("cannot open the event store {shown}"))?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    if auth.is_open() {
        tracing::warn!(
            "no API token configured: the API is open to every user of this machine, so it listens on loopback only (set --api-token to serve beyond it)"
        );
    }
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
    if let Some(consumer) = &args.consumer {
        host = host
            .with_consumer(consumer)
            .context("--consumer (or EDDY_CONSUMER)")?;
    }
    if plugins.is_some() {
        host = host.with_registry(registry.clone());
    }
    let host = Arc::new(host);
    let started = Arc::new(AtomicBool::new(false));
    let closing = Closing::default();
    let config = ApiConfig {
        max_body_bytes: args.max_body_bytes,
        request_timeout: Duration::from_secs(args.request_timeout_secs.max(1)),
        auth,
        started: Some(started.clone()),
        closing: closing.clone(),
        ..ApiConfig::default()
    };
    // Serve at once, so that /healthz answers while plugins load; /readyz says 503 until
    // every subscription has started.
    let shutdown = async move {
        api::shutdown_signal().await;
        closing.close();
    };
    let write_stall = config.live.stall_timeout;
    let server = tokio::spawn(api::serve_app(
        listener,
        api::router_with(host.clone(), config),
        write_stall,
        shutdown,
    ));
    // The folder is loaded before the configured subscriptions start, so their names resolve.
    let watcher = match plugins {
        Some(dir) => {
            let listener = Arc::new(SidecarBindings::new(host.clone()));
            tracing::info!(dir = %dir.display(), "watching the plugins folder");
            match PluginWatcher::start(dir, engine, registry, listener).await {
                Ok(watcher) => Some(watcher),
                Err(error) => {
                    server.abort();
                    host.stop_all().await;
                    return Err(error.into());
                }
            }
        }
        None => None,
    };
    tracing::info!(listening = %address, "starting subscriptions");
    for spec in file.subscriptions {
        let name = spec.name.clone();
        if let Err(error) = host.start(spec).await {
            server.abort();
            if let Some(watcher) = watcher {
                watcher.shutdown().await;
            }
            host.stop_all().await;
            return Err(error).with_context(|| format!("cannot start subscription `{name}`"));
        }
    }
    started.store(true, Ordering::Release);
    // Tests and scripts wait for this line (`address=`): from here on, the server is ready.
    tracing::info!(%address, store = %shown, "serving the Eddy API");
    let served = server.await.context("the HTTP server task failed")?;
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
