//! `GET /api/v1/openapi.json`: an OpenAPI 3.1 document generated from the route table, so
//! it lists exactly the routes the router serves, with their parameters and auth.
//!
//! Bodies are described by content type and the problem schema rather than per-route
//! schemas: the route table is the single source, and a schema generator (utoipa) would cost
//! a proc-macro per handler type for little a client cannot read in `docs/STORAGE.md`.

use axum::Json;
use serde_json::{Map, Value, json};

use super::routes::{Access, Endpoint, endpoints};

/// `GET /api/v1/openapi.json`
pub async fn document() -> Json<Value> {
    Json(generate(&endpoints()))
}

/// The document for `endpoints`.
pub fn generate(endpoints: &[Endpoint]) -> Value {
    let mut paths = Map::new();
    for endpoint in endpoints {
        let item = paths
            .entry(endpoint.path.to_string())
            .or_insert_with(|| json!({}));
        item[endpoint.method.as_str().to_ascii_lowercase()] = operation(endpoint);
    }
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
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "detail"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                    },
                }
            },
            "responses": {
                "Problem": {
                    "description": "An error, saying what to do about it.",
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                }
            },
        },
    })
}

fn operation(endpoint: &Endpoint) -> Value {
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
        json!({"text/event-stream": {}})
    } else if endpoint.path == "/metrics" {
        json!({"text/plain": {}})
    } else {
        json!({"application/json": {}})
    };
    let mut responses = json!({
        success.as_str(): {"description": endpoint.summary, "content": content},
        "default": {"$ref": "#/components/responses/Problem"},
    });
    if success == "204" {
        responses[success.as_str()] = json!({"description": endpoint.summary});
    }
    let mut operation = json!({
        "summary": endpoint.summary,
        "operationId": format!("{} {}", endpoint.method, endpoint.path),
        "parameters": parameters,
        "responses": responses,
    });
    if endpoint.access() == Access::Public {
        operation["security"] = json!([]);
    } else {
        operation["security"] = json!([{"bearer": []}]);
    }
    if endpoint.method == axum::http::Method::POST {
        operation["requestBody"] = json!({
            "required": false,
            "content": {
                "application/cloudevents+json": {},
                "application/cloudevents-batch+json": {},
                "application/json": {},
            },
        });
    }
    operation
}
