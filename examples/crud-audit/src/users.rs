//! The users resource: create, update and delete publish CRUD events; reads come from the
//! audit projection and from the events themselves, with their processing statuses.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use eddy::client::{ClientError, Eddy, WaitFor};
use eddy::event::{CloudEvent, ExtensionValue};
use eddy::store::{Append, Read, StoreError};
use serde_json::{Value, json};

use crate::subscriptions::STREAM;

/// How long a create or delete waits for its subscriptions before answering anyway.
const WAIT: Duration = Duration::from_secs(10);

/// What the handlers share.
pub struct Service {
    eddy: Eddy,
    instance: String,
    next: AtomicU64,
}

/// An error answer: a status and a message.
type Failure = (StatusCode, Json<Value>);

fn failure(status: StatusCode, message: impl Into<String>) -> Failure {
    (status, Json(json!({ "error": message.into() })))
}

fn from_eddy(error: ClientError) -> Failure {
    match error {
        ClientError::Store(StoreError::VersionConflict { .. }) => failure(
            StatusCode::CONFLICT,
            "the user changed meanwhile (or exists already): read it and try again",
        ),
        ClientError::Store(StoreError::InvalidRequest(message)) => {
            failure(StatusCode::BAD_REQUEST, message)
        }
        other => failure(StatusCode::SERVICE_UNAVAILABLE, other.to_string()),
    }
}

/// The body of a create or an update.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The user's id (creates only; an update takes it from the path).
    #[serde(default, skip_serializing)]
    id: Option<String>,
    name: String,
    email: String,
}

impl Service {
    /// A service publishing as `instance`.
    pub fn new(eddy: Eddy, instance: String) -> Self {
        Self {
            eddy,
            instance,
            next: AtomicU64::new(0),
        }
    }

    /// A `public.users.<operation>` event about user `id`, with who did it.
    fn event(&self, operation: &str, id: &str, headers: &HeaderMap, data: Value) -> CloudEvent {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let now = chrono::Utc::now();
        // Unique across restarts too: publishing dedupes on source + id, so a reused id would
        // be taken for a retry and not stored.
        let event_id = format!("{}-{}-{n}", self.instance, now.timestamp_micros());
        let mut event = CloudEvent::new(
            event_id,
            format!("/crud-audit/{}", self.instance),
            format!("public.users.{operation}"),
        )
        .with_subject(subject(id))
        .with_time(&now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .expect("an RFC 3339 time")
        .with_json_data(&data)
        .expect("JSON data");
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("anonymous")
                .to_string()
        };
        let mut extend = |name: &str, value: String| {
            event
                .extensions
                .insert(name.to_string(), ExtensionValue::String(value));
        };
        extend("userid", header("x-user-id"));
        extend("sessionid", header("x-session-id"));
        extend("instanceid", self.instance.clone());
        event
    }

    /// The subject's version (its number of events) if the user exists and is not deleted.
    async fn live_version(&self, id: &str) -> Result<u64, Failure> {
        let store = self.eddy.store();
        let last = store
            .read(STREAM, Read::backward(1).subject(subject(id)))
            .await
            .map_err(|e| from_eddy(e.into()))?;
        match last.first() {
            Some(stored) if !stored.event.ty.ends_with(".delete") => store
                .subject_version(STREAM, &subject(id))
                .await
                .map_err(|e| from_eddy(e.into())),
            _ => Err(failure(StatusCode::NOT_FOUND, format!("no user `{id}`"))),
        }
    }

    /// Publishes `event` expecting `version`, waiting for `subscriptions`.
    async fn publish(
        &self,
        event: CloudEvent,
        version: u64,
        subscriptions: &[&str],
    ) -> Result<Value, Failure> {
        let append = Append::one(event).expecting(version);
        let wait = WaitFor::new(subscriptions.iter().copied(), WAIT);
        let processed = self
            .eddy
            .publish_and_wait(STREAM, append, &wait)
            .await
            .map_err(from_eddy)?;
        let (appended, statuses) = &processed.events[0];
        Ok(json!({
            "event": appended.id,
            "position": appended.position,
            "subscriptions": statuses,
            "timed_out": processed.timed_out,
        }))
    }
}

/// The aggregate key of user `id`.
fn subject(id: &str) -> String {
    format!("users/{id}")
}

/// The service's routes.
pub fn routes(service: Arc<Service>) -> Router {
    Router::new()
        .route("/users", post(create))
        .route("/users/{id}", get(read).put(update).delete(delete))
        .route("/users/{id}/events", get(events))
        .with_state(service)
}

/// `POST /users`: creates a user; answers once the welcome mail and the audit are done.
async fn create(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Json(user): Json<User>,
) -> Result<(StatusCode, Json<Value>), Failure> {
    let Some(id) = user.id.clone().filter(|id| !id.is_empty()) else {
        return Err(failure(StatusCode::BAD_REQUEST, "a user needs an `id`"));
    };
    let data = json!({ "id": id, "name": user.name, "email": user.email });
    let event = service.event("create", &id, &headers, data);
    // Expected version 0: the subject must be new, so a second create is a 409.
    let answer = service
        .publish(event, 0, &["welcome-mail", "audit"])
        .await?;
    Ok((StatusCode::CREATED, Json(answer)))
}

/// `PUT /users/{id}`: changes a user (asynchronously: answers once the event is stored).
async fn update(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(user): Json<User>,
) -> Result<Json<Value>, Failure> {
    let version = service.live_version(&id).await?;
    let data = json!({ "id": id, "name": user.name, "email": user.email });
    let event = service.event("update", &id, &headers, data);
    let appended = service
        .eddy
        .append(STREAM, Append::one(event).expecting(version))
        .await
        .map_err(from_eddy)?;
    Ok(Json(
        json!({ "event": appended[0].id, "position": appended[0].position }),
    ))
}

/// `DELETE /users/{id}`: deletes a user; answers once both audits have recorded it.
async fn delete(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, Failure> {
    let version = service.live_version(&id).await?;
    let event = service.event("delete", &id, &headers, json!({ "id": id }));
    let answer = service
        .publish(event, version, &["audit", "deletions"])
        .await?;
    Ok(Json(answer))
}

/// `GET /users/{id}`: the user's audit: last data, deleted or not, and the trail.
async fn read(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Failure> {
    let saved = service
        .eddy
        .store()
        .load_state("audit", &subject(&id))
        .await
        .map_err(|e| from_eddy(e.into()))?
        .ok_or_else(|| failure(StatusCode::NOT_FOUND, format!("no user `{id}`")))?;
    let state: Value = serde_json::from_slice(&saved.state)
        .map_err(|e| failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(state))
}

/// `GET /users/{id}/events`: the user's events, each with its status per subscription.
async fn events(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Failure> {
    let stored = service
        .eddy
        .read(STREAM, Read::forward(1_000).subject(subject(&id)))
        .await
        .map_err(from_eddy)?;
    let mut events = Vec::new();
    for stored in stored {
        let statuses = service
            .eddy
            .status(STREAM, &stored.event.id)
            .await
            .map_err(from_eddy)?;
        events.push(json!({
            "id": stored.event.id,
            "type": stored.event.ty,
            "position": stored.position,
            "subscriptions": statuses,
        }));
    }
    Ok(Json(json!({ "events": events })))
}
