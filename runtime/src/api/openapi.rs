//! `GET /api/v1/openapi.json`: an OpenAPI 3.1 document generated from the route table, so
//! it lists exactly the routes the router serves, with their parameters and auth.
//!
//! Request and response bodies are JSON Schemas generated (by `schemars`) from the very Rust
//! types the handlers deserialise and serialise, named per route in the route table
//! (`.takes::<T>()`, `.returns::<T>()`): responses in `components/schemas`, request bodies
//! inline. The CloudEvents and position schemas are written by hand next to their types
//! (`event/schema.rs`), whose JSON forms are hand-written too.

use axum::Json;
use schemars::SchemaGenerator;
use schemars::generate::{Contract, SchemaSettings};
use serde_json::{Map, Value, json};

use super::routes::{Access, Endpoint, endpoints};
use crate::event::CloudEvent;

/// `GET /api/v1/openapi.json`
pub async fn document() -> Json<Value> {
    Json(generate(&endpoints()))
}

/// The document for `endpoints`.
pub fn generate(endpoints: &[Endpoint]) -> Value {
    // Answers are what the server serialises; their named types go to `components/schemas`.
    let mut responses = SchemaGenerator::new(SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
        s.contract = Contract::Serialize;
        s.meta_schema = None;
    }));
    // Requests are what it deserialises (defaults make fields optional): inline, so that a type
    // used both ways keeps one name per meaning.
    let mut requests = SchemaGenerator::new(SchemaSettings::draft2020_12().with(|s| {
        s.contract = Contract::Deserialize;
        s.inline_subschemas = true;
        s.meta_schema = None;
    }));
    let cloud_event = responses.subschema_for::<CloudEvent>().to_value();
    let mut paths = Map::new();
    for endpoint in endpoints {
        let item = paths
            .entry(endpoint.path.to_string())
            .or_insert_with(|| json!({}));
        item[endpoint.method.as_str().to_ascii_lowercase()] =
            operation(endpoint, &mut responses, &mut requests, &cloud_event);
    }
    let mut schemas = responses.take_definitions(true);
    schemas.insert("Problem".into(), problem_schema());
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Eddy API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Publish, read and follow CloudEvents; run subscriptions of WebAssembly plugins. Every error is an application/problem+json document.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from --api-token or [api] tokens; read-only tokens may only GET.",
                }
            },
            "schemas": schemas,
            "responses": {
                "Problem": {
                    "description": "An error, saying what to do about it.",
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                }
            },
        },
    })
}

/// Every error answer: RFC 9457 problem details.
fn problem_schema() -> Value {
    json!({
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
        },
    })
}

fn operation(
    endpoint: &Endpoint,
    responses: &mut SchemaGenerator,
    requests: &mut SchemaGenerator,
    cloud_event: &Value,
) -> Value {
    let mut parameters: Vec<Value> = endpoint
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    parameters.extend(endpoint.query.iter().map(
        |name| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}}),
    ));
    let success = endpoint.success.to_string();
    let content = if endpoint.streaming {
        json!({"text/event-stream": {"schema": {"type": "string"}}})
    } else if endpoint.path == "/metrics" {
        json!({"text/plain": {"schema": {"type": "string"}}})
    } else {
        let schema = endpoint
            .response
            .map_or_else(|| json!({}), |of| of(responses).to_value());
        json!({"application/json": {"schema": schema}})
    };
    let mut answers = json!({
        success.as_str(): {"description": endpoint.summary, "content": content},
        "default": {"$ref": "#/components/responses/Problem"},
    });
    if success == "204" {
        answers[success.as_str()] = json!({"description": endpoint.summary});
    }
    let mut operation = json!({
        "summary": endpoint.summary,
        "operationId": format!("{} {}", endpoint.method, endpoint.path),
        "parameters": parameters,
        "responses": answers,
    });
    if endpoint.access() == Access::Public {
        operation["security"] = json!([]);
    } else {
        operation["security"] = json!([{"bearer": []}]);
    }
    if let Some(of) = endpoint.request {
        operation["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": of(requests).to_value()}},
        });
    } else if endpoint.path.ends_with("/events") && endpoint.method == axum::http::Method::POST {
        // The three CloudEvents HTTP content modes.
        let batch = json!({"type": "array", "items": cloud_event});
        operation["requestBody"] = json!({
            "required": true,
            "description": "Structured mode (one event), batch mode (an array), or binary mode: any other content type, with the attributes in ce-* headers and the body as data. Eddy-Expected-Version: n makes the append conditional on the subject's version.",
            "content": {
                "application/cloudevents+json": {"schema": cloud_event},
                "application/cloudevents-batch+json": {"schema": batch},
                "application/json": {"schema": {"oneOf": [cloud_event, batch]}},
                "*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}},
            },
        });
        operation["parameters"]
            .as_array_mut()
            .expect("parameters is an array")
            .extend([
                json!({"name": "Eddy-Expected-Version", "in": "header", "required": false, "schema": {"type": "integer", "minimum": 0}, "description": "Append only if the subject's version is this (409 otherwise)."}),
                json!({"name": "Eddy-Wait-For", "in": "header", "required": false, "schema": {"type": "string"}, "description": "Comma-separated subscriptions to wait for: the answer then carries each one's outcome per event (201 when all settled, 202 on timeout)."}),
                json!({"name": "Eddy-Wait-Timeout", "in": "header", "required": false, "schema": {"type": "integer", "minimum": 1}, "description": "How long to wait for Eddy-Wait-For, in milliseconds."}),
            ]);
        let mut waited = operation["responses"]["201"].clone();
        waited["description"] = json!(
            "Stored, but the subscriptions named in Eddy-Wait-For had not all settled in time: the last statuses seen"
        );
        operation["responses"]["202"] = waited;
    } else if endpoint.method == axum::http::Method::PUT {
        operation["requestBody"] = json!({
            "required": true,
            "content": {"application/wasm": {"schema": {"type": "string", "contentMediaType": "application/wasm"}}},
        });
    }
    operation
}
