//! `workflow-engine`: a small workflow engine whose parts share one Eddy event store, each
//! using Eddy as a library (`eddy::client`):
//!
//! - the **API** (`POST /executions`) publishes `io.flunq.workflow.started` and
//!   `io.flunq.execution.started` for a new execution;
//! - the **worker**, a handler plugin subscription ([`workflow-worker`]), advances each
//!   execution a step per event: it requests tasks (`io.flunq.task.requested`) and schedules
//!   timers (`io.flunq.timer.scheduled`), and ends the workflow (`io.flunq.workflow.completed`);
//! - the **executor** completes tasks (`io.flunq.task.completed`) and fires timers when due
//!   (`io.flunq.timer.fired`), reading through consumer groups and acknowledging each event
//!   once its outcome is published;
//! - the **`executions`** reducer subscription ([`workflow-state`]) keeps each execution's
//!   state, served with the rest of Eddy's HTTP API at `/api/v1/...`.
//!
//! `--role all` runs every part in this process (the only way on the embedded store, which
//! one process opens at a time); on Redis, `--role api` and `--role executor` run them in
//! separate processes, any number of executors sharing the work.
//!
//! [`workflow-worker`]: ../../plugins/workflow-worker
//! [`workflow-state`]: ../../plugins/workflow-state

mod api;
mod executor;
mod subscriptions;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use eddy::api::ApiConfig;
use eddy::client::Eddy;

/// Which parts of the engine this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Role {
    /// The API, the worker and the reducer, and the executor.
    All,
    /// The API, the worker and the reducer.
    Api,
    /// The executor alone.
    Executor,
}

/// The command line.
#[derive(Debug, Parser)]
#[command(about = "A workflow engine whose API, worker and executor share one Eddy store")]
struct Args {
    /// Where events are stored: `embedded:<directory>` or `redis://host:port/db`.
    #[arg(long, default_value = "embedded:./workflow-engine-data")]
    store: String,
    /// What this process runs.
    #[arg(long, value_enum, default_value = "all")]
    role: Role,
    /// The address the API listens on (loopback: there is no authentication).
    #[arg(long, default_value = "127.0.0.1:8091")]
    listen: SocketAddr,
    /// The folder of the built plugins (`workflow_worker.wasm`, `workflow_state.wasm`).
    #[arg(long, default_value = "plugins/target/wasm32-wasip2/release")]
    plugins: PathBuf,
    /// How long the payment-window timer waits, in milliseconds.
    #[arg(long, default_value_t = 200)]
    timer_ms: u64,
    /// The executor's consumer name (a restarted executor with the same name resumes its
    /// unacknowledged events).
    #[arg(long, default_value = "executor-1")]
    consumer: String,
    /// This process's name in the worker's and the reducer's consumer groups and leases: a
    /// process restarted under the same name takes back at once the events it was handling
    /// when it died. No two running processes may share it.
    #[arg(long, default_value = "engine-1")]
    engine_consumer: String,
    /// How long an event may stay unacknowledged before an executor takes it again, in ms.
    #[arg(long, default_value_t = 1000)]
    claim_idle_ms: u64,
    /// The executor exits abruptly right after publishing this many task completions, before
    /// acknowledging the last (a crash mid-run, for the example).
    #[arg(long)]
    crash_after: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,workflow_engine=info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let eddy = match args.role {
        Role::Executor => Eddy::open(&args.store).await,
        Role::Api | Role::All => Eddy::open_as(&args.store, &args.engine_consumer).await,
    }
    .with_context(|| format!("cannot open the store {}", args.store))?;
    let executor = executor::Options {
        consumer: args.consumer.clone(),
        claim_idle: Duration::from_millis(args.claim_idle_ms),
        crash_after: args.crash_after,
    };
    match args.role {
        Role::Executor => {
            tracing::info!(consumer = %executor.consumer, "executor running");
            executor::run(eddy, executor).await
        }
        Role::Api => serve(eddy, &args).await,
        Role::All => {
            let engine = tokio::spawn(executor::run(eddy.clone(), executor));
            tokio::select! {
                served = serve(eddy, &args) => served,
                ended = engine => ended.context("the executor panicked")?,
            }
        }
    }
}

/// Starts the plugin subscriptions and serves the API and Eddy's HTTP API.
async fn serve(eddy: Eddy, args: &Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.listen.ip().is_loopback(),
        "the engine has no authentication: listen on a loopback address"
    );
    for spec in subscriptions::specs(&args.plugins, args.timer_ms) {
        let name = spec.name.clone();
        eddy.start_subscription(spec)
            .await
            .with_context(|| format!("cannot start the subscription `{name}`"))?;
    }
    let app = api::routes(eddy.clone()).merge(eddy.router(ApiConfig::default()));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    // Scripts and tests wait for this line.
    tracing::info!(%address, "workflow-engine listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(eddy::api::shutdown_signal())
        .await?;
    eddy.close().await;
    Ok(())
}
