//! The engine's API: starting an execution publishes its first events; everything after that
//! happens through events (the worker, the executor, the timers).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use eddy::client::{ClientError, Eddy};
use eddy::event::CloudEvent;
use eddy::store::{Append, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::subscriptions::STREAM;

/// The one workflow this engine knows: reserve, wait for the payment window, ship.
pub const WORKFLOW: &str = "fulfil-order";

/// What `POST /executions` takes.
#[derive(Debug, Deserialize)]
pub struct StartExecution {
    /// The execution's id (the subject of its events).
    pub id: String,
    /// Whatever the workflow should work on.
    #[serde(default)]
    pub input: Value,
}

type Reply = (StatusCode, Json<Value>);

/// The routes: `POST /executions`.
pub fn routes(eddy: Eddy) -> Router {
    Router::new()
        .route("/executions", post(start))
        .with_state(Arc::new(eddy))
}

/// Publishes `io.flunq.workflow.started` and `io.flunq.execution.started` for a new execution,
/// atomically and only if the execution has no events yet (409 otherwise). The event ids
/// derive from the execution id, so a start sent again is a duplicate, stored once.
async fn start(State(eddy): State<Arc<Eddy>>, Json(body): Json<StartExecution>) -> Reply {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let event = |ty: &str, data: Value| {
        CloudEvent::new(
            format!("{}/{ty}", body.id),
            "/flunq/api",
            format!("io.flunq.{ty}"),
        )
        .with_subject(body.id.clone())
        .with_time(&now)
        .expect("an RFC 3339 time")
        .with_json_data(&data)
        .expect("JSON data")
    };
    let events = vec![
        event(
            "workflow.started",
            json!({ "workflow": WORKFLOW, "input": body.input }),
        ),
        event("execution.started", json!({ "workflow": WORKFLOW })),
    ];
    match eddy.append(STREAM, Append::new(events).expecting(0)).await {
        Ok(appended) if appended[0].duplicate => exists(&body.id),
        Ok(appended) => (
            StatusCode::CREATED,
            Json(json!({ "execution": body.id, "position": appended[0].position })),
        ),
        Err(ClientError::Store(StoreError::VersionConflict { .. })) => exists(&body.id),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": error.to_string() })),
        ),
    }
}

fn exists(execution: &str) -> Reply {
    (
        StatusCode::CONFLICT,
        Json(json!({ "error": format!("execution `{execution}` exists") })),
    )
}
