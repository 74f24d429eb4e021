//! `crud-audit-service`: a small REST service for users that runs Eddy in-process as a
//! library (`eddy::client`). Every create, update and delete publishes a
//! `public.users.<operation>` CloudEvent to the `crud` stream, with the caller's user and
//! session ids and this instance's id as extensions (`userid`, `sessionid`, `instanceid`).
//! Plugin subscriptions with type patterns react to them:
//!
//! - `welcome-mail` (`public.users.*`, handler): a `mail.welcome.requested` event per created
//!   user (mails are simulated by events on the `mails` stream);
//! - `audit` (every type, reducer): each entity's audit trail;
//! - `deletions` (`*.*.delete`, reducer): the same, for deleted entities only.
//!
//! Eddy's own HTTP API is served beside the service's routes (`/api/v1/...`), so each
//! event's processing status is at `/api/v1/streams/crud/events/{id}/status`.

mod subscriptions;
mod users;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use eddy::api::ApiConfig;
use eddy::client::Eddy;

/// The command line.
#[derive(Debug, Parser)]
#[command(about = "A REST service for users whose every change is an audited Eddy event")]
struct Args {
    /// Where events are stored: `embedded:<directory>` or `redis://host:port/db`.
    #[arg(long, default_value = "embedded:./crud-audit-data")]
    store: String,
    /// The address to listen on (loopback: the service has no authentication).
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// The folder of the built plugins (`welcome_mail.wasm`, `audit_trail.wasm`).
    #[arg(long, default_value = "plugins/target/wasm32-wasip2/release")]
    plugins: PathBuf,
    /// This instance's id, recorded in every event it publishes.
    #[arg(long)]
    instance: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,crud_audit_service=info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    anyhow::ensure!(
        args.listen.ip().is_loopback(),
        "the service has no authentication: listen on a loopback address"
    );
    let eddy = Eddy::open(&args.store)
        .await
        .with_context(|| format!("cannot open the store {}", args.store))?;
    for spec in subscriptions::specs(&args.plugins) {
        let name = spec.name.clone();
        eddy.start_subscription(spec)
            .await
            .with_context(|| format!("cannot start the subscription `{name}`"))?;
    }
    let instance = args
        .instance
        .unwrap_or_else(|| format!("crud-audit-{}", std::process::id()));
    let state = Arc::new(users::Service::new(eddy.clone(), instance));
    let app = users::routes(state).merge(eddy.router(ApiConfig::default()));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    // Scripts and tests wait for this line.
    tracing::info!(%address, "crud-audit listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(eddy::api::shutdown_signal())
        .await?;
    eddy.close().await;
    Ok(())
}
