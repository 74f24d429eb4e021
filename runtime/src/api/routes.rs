//! The table of every endpoint the API serves.
//!
//! The router, the auth matrix test and the OpenAPI document are all built from
//! [`endpoints`], so nothing can be served without being documented and guarded. Adding a
//! route is one line here.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodFilter, MethodRouter, on};

use schemars::{JsonSchema, Schema, SchemaGenerator};

use super::status;
use super::{ApiConfig, ApiError, AppState};
use super::{
    auth, events, health, limits, live, metrics, openapi, plugins, projections, replays, streams,
    subscriptions,
};

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token (health and metrics, for probes and scrapers).
    Public,
    /// Any valid token (reads: `GET`).
    Read,
    /// An admin token (every other method).
    Admin,
}

/// One method on one path.
pub struct Endpoint {
    /// The HTTP method.
    pub method: Method,
    /// The path, with `{name}` parameters as axum writes them.
    pub path: &'static str,
    /// One line saying what it does (the OpenAPI summary).
    pub summary: &'static str,
    /// The query parameters it reads (for the OpenAPI document).
    pub query: &'static [&'static str],
    /// Answers without a token.
    pub public: bool,
    /// A long-lived answer (a live stream): exempt from the request timeout.
    pub streaming: bool,
    /// The status of a successful answer.
    pub success: u16,
    /// The JSON body it takes, if it takes one (publishing takes CloudEvents, see `openapi`).
    pub request: Option<SchemaOf>,
    /// The JSON body of a successful answer, if it has one.
    pub response: Option<SchemaOf>,
    handler: MethodRouter<AppState>,
}

/// Makes the JSON Schema of a Rust type: the type whose (de)serialisation is the body, so
/// the document cannot drift from what the server reads and writes.
pub type SchemaOf = fn(&mut SchemaGenerator) -> Schema;

impl Endpoint {
    /// `method path` served by `handler`; needs a token, and an admin one unless it is a `GET`.
    pub fn new<H, T>(method: Method, path: &'static str, summary: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a standard HTTP method");
        let success = match method {
            Method::POST => 201,
            Method::DELETE => 204,
            _ => 200,
        };
        Self {
            success,
            method,
            path,
            summary,
            query: &[],
            request: None,
            response: None,
            public: false,
            streaming: false,
            handler: on(filter, handler),
        }
    }

    /// Answers without a token.
    fn public(mut self) -> Self {
        self.public = true;
        self
    }

    /// Long-lived: no request timeout.
    fn streaming(mut self) -> Self {
        self.streaming = true;
        self
    }

    /// Answers success with `status` instead of the method's usual one.
    fn answers(mut self, status: u16) -> Self {
        self.success = status;
        self
    }

    /// Names the query parameters it reads.
    fn query(mut self, names: &'static [&'static str]) -> Self {
        self.query = names;
        self
    }

    /// Takes a JSON body of type `T`.
    fn takes<T: JsonSchema>(mut self) -> Self {
        self.request = Some(|generator| generator.subschema_for::<T>());
        self
    }

    /// Answers success with a JSON body of type `T`.
    fn returns<T: JsonSchema>(mut self) -> Self {
        self.response = Some(|generator| generator.subschema_for::<T>());
        self
    }

    /// Who may call it.
    pub fn access(&self) -> Access {
        if self.public {
            Access::Public
        } else if auth::is_read(&self.method) {
            Access::Read
        } else {
            Access::Admin
        }
    }
}

/// Every endpoint, in the order the documentation lists them. One line per route (kept so
/// by `rustfmt::skip`, so that adding a route is a one-line change).
#[rustfmt::skip]
pub fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    use events::{EventAt, EventPage, Published};
    use crate::subscription::{ReplayInfo, ReplayRequest, ShadowReport, SubscriptionInfo, SubscriptionSpec};
    const READ: &[&str] = &["from", "limit", "direction", "subject", "type"];
    vec![
        Endpoint::new(M::GET, "/healthz", "Liveness: the process is up", health::live).public().returns::<health::Health>(),
        Endpoint::new(M::GET, "/readyz", "Readiness: the store answers and subscriptions run", health::ready).public().returns::<health::Health>(),
        Endpoint::new(M::GET, "/metrics", "Metrics in the Prometheus text format", metrics::scrape).public(),
        Endpoint::new(M::GET, "/api/v1/openapi.json", "This API as an OpenAPI 3.1 document", openapi::document),
        Endpoint::new(M::GET, "/api/v1/streams", "List streams", streams::list).returns::<streams::StreamList>(),
        Endpoint::new(M::GET, "/api/v1/streams/{stream}", "Inspect a stream", streams::info).returns::<crate::store::StreamInfo>(),
        Endpoint::new(M::DELETE, "/api/v1/streams/{stream}", "Delete a stream", streams::delete),
        Endpoint::new(M::POST, "/api/v1/streams/{stream}/events", "Publish one event or a batch", events::publish).returns::<Published>(),
        Endpoint::new(M::GET, "/api/v1/streams/{stream}/events", "Read a page of events", events::read).query(READ).returns::<EventPage>(),
        Endpoint::new(M::GET, "/api/v1/streams/{stream}/events/live", "Follow a stream live (server-sent events)", live::sse).query(&["from", "type"]).streaming(),
        Endpoint::new(M::GET, "/api/v1/streams/{stream}/ws", "Follow a stream live (WebSocket)", live::ws).query(&["from", "type"]).streaming(),
        Endpoint::new(M::GET, "/api/v1/streams/{stream}/events/{id}", "Get one event by id", events::get).query(&["source"]).returns::<EventAt>(),
        Endpoint::new(M::GET, "/api/v1/streams/{stream}/events/{id}/status", "An event's processing status in each subscription", status::get).query(&["source", "subscription"]).returns::<status::EventStatus>(),
        Endpoint::new(M::POST, "/api/v1/events", "Publish to the default stream", events::publish_default).returns::<Published>(),
        Endpoint::new(M::GET, "/api/v1/events", "Read the default stream", events::read_default).query(READ).returns::<EventPage>(),
        Endpoint::new(M::GET, "/api/v1/events/{id}", "Get one event of the default stream", events::get_default).query(&["source"]).returns::<EventAt>(),
        Endpoint::new(M::GET, "/api/v1/subscriptions", "List running subscriptions", subscriptions::list).returns::<subscriptions::SubscriptionList>(),
        Endpoint::new(M::POST, "/api/v1/subscriptions", "Start a subscription", subscriptions::create).takes::<SubscriptionSpec>().returns::<SubscriptionInfo>(),
        Endpoint::new(M::GET, "/api/v1/subscriptions/{name}", "Inspect a subscription", subscriptions::info).returns::<SubscriptionInfo>(),
        Endpoint::new(M::DELETE, "/api/v1/subscriptions/{name}", "Stop a subscription", subscriptions::delete),
        Endpoint::new(M::POST, "/api/v1/subscriptions/{name}/resume", "Resume a quarantined subscription", subscriptions::resume).returns::<SubscriptionInfo>(),
        Endpoint::new(M::GET, "/api/v1/subscriptions/{name}/dlq", "List dead letters", subscriptions::dead_letters).query(&["from", "limit"]).returns::<subscriptions::DeadLetterPage>(),
        Endpoint::new(M::POST, "/api/v1/subscriptions/{name}/dlq/redrive", "Redrive dead letters", subscriptions::redrive).answers(202).takes::<subscriptions::RedriveRequest>().returns::<subscriptions::Redriven>(),
        Endpoint::new(M::POST, "/api/v1/subscriptions/{name}/shadow", "Start a shadow subscription (a candidate reducer beside the live one)", subscriptions::start_shadow).answers(201).takes::<subscriptions::ShadowRequest>().returns::<SubscriptionInfo>(),
        Endpoint::new(M::GET, "/api/v1/subscriptions/{name}/shadow", "Subjects whose live and shadow states differ", subscriptions::shadow_report).query(&["after", "limit"]).returns::<ShadowReport>(),
        Endpoint::new(M::DELETE, "/api/v1/subscriptions/{name}/shadow", "Stop the shadow subscription", subscriptions::stop_shadow).answers(204),
        Endpoint::new(M::POST, "/api/v1/replays", "Start a replay job: a range of a stream through a handler subscription again, or a plugin's dry run", replays::start).answers(202).takes::<ReplayRequest>().returns::<ReplayInfo>(),
        Endpoint::new(M::GET, "/api/v1/replays", "List replay jobs", replays::list).returns::<replays::ReplayList>(),
        Endpoint::new(M::GET, "/api/v1/replays/{id}", "A replay job's status, progress and counts", replays::get).returns::<ReplayInfo>(),
        Endpoint::new(M::DELETE, "/api/v1/replays/{id}", "Cancel a replay job", replays::cancel).answers(202).returns::<ReplayInfo>(),
        Endpoint::new(M::GET, "/api/v1/plugins", "List the plugins of the watched folder", plugins::list).returns::<plugins::PluginList>(),
        Endpoint::new(M::GET, "/api/v1/plugins/{name}", "Inspect a plugin", plugins::info).returns::<crate::plugin::PluginInfo>(),
        Endpoint::new(M::PUT, "/api/v1/plugins/{name}", "Upload a plugin (the component's bytes)", plugins::put).returns::<crate::plugin::PluginInfo>(),
        Endpoint::new(M::DELETE, "/api/v1/plugins/{name}", "Delete a plugin", plugins::delete),
        Endpoint::new(M::GET, "/api/v1/projections/{subscription}", "List a reducer's subjects", projections::subjects).query(&["after", "limit"]).returns::<projections::SubjectPage>(),
        Endpoint::new(M::GET, "/api/v1/projections/{subscription}/{subject}", "A subject's reducer state, now or at a point of its past", projections::get).query(&["at"]).returns::<projections::Projection>(),
    ]
}

/// The router of `endpoints`: public ones bare, the others behind auth, and all but the
/// streaming ones under the request timeout.
pub(super) fn build(endpoints: Vec<Endpoint>, config: &ApiConfig) -> Router<AppState> {
    let mut public = Router::new();
    let mut guarded = Router::new();
    let mut streaming = Router::new();
    for endpoint in endpoints {
        let group = if endpoint.public {
            &mut public
        } else if endpoint.streaming {
            &mut streaming
        } else {
            &mut guarded
        };
        *group = std::mem::take(group).route(endpoint.path, endpoint.handler);
    }
    let auth = std::sync::Arc::new(config.auth.clone());
    let guarded = guarded
        .route_layer(from_fn_with_state(config.request_timeout, limits::timeout))
        .route_layer(from_fn_with_state(auth.clone(), auth::require));
    let streaming = streaming.route_layer(from_fn_with_state(auth, auth::require));
    public
        .merge(guarded)
        .merge(streaming)
        .fallback(|| async {
            ApiError::not_found("no such route; the routes are listed at /api/v1/openapi.json")
        })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(axum::middleware::map_response(super::error::as_problem))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(from_fn_with_state(
            config.max_body_bytes,
            limits::declared_length,
        ))
        .layer(axum::middleware::from_fn(limits::header_size))
}
