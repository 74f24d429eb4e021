//! Checking answers against the OpenAPI document: the schema documented for a route and
//! status must accept what the server actually sent.

use serde_json::{Value, json};

/// The OpenAPI document of this build.
pub struct OpenApi {
    document: Value,
}

impl OpenApi {
    /// The document the server serves at `/api/v1/openapi.json`.
    pub fn of_this_build() -> Self {
        Self {
            document: eddy::api::openapi::generate(&eddy::api::endpoints()),
        }
    }

    /// The document itself.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// Panics, naming the route and the mismatch, unless `body` fits the schema documented for
    /// `method path` (the route's template, such as `/api/v1/replays/{id}`) answering
    /// `status`: the success schema, or the problem schema for an error.
    pub fn check(&self, method: &str, path: &str, status: u16, body: &Value) {
        if let Err(errors) = self.fits(method, path, status, body) {
            panic!(
                "{method} {path} answered {status} with a body its documented schema refuses:\n{errors}\nbody: {body}"
            );
        }
    }

    /// Whether `body` fits the schema documented for `method path` answering `status`; the
    /// errors if not.
    pub fn fits(&self, method: &str, path: &str, status: u16, body: &Value) -> Result<(), String> {
        let operation = &self.document["paths"][path][method.to_ascii_lowercase()];
        assert!(
            operation.is_object(),
            "{method} {path} is not in the OpenAPI document"
        );
        let answer = &operation["responses"][status.to_string()];
        let schema = if answer.is_object() {
            answer["content"]["application/json"]["schema"].clone()
        } else {
            assert!(
                status >= 400,
                "{method} {path} answered {status}, which the document does not list"
            );
            json!({"$ref": "#/components/schemas/Problem"})
        };
        // The schema's `$ref`s point into the document's components.
        let mut root = json!({"allOf": [schema]});
        root["components"] = self.document["components"].clone();
        let validator = jsonschema::draft202012::new(&root)
            .unwrap_or_else(|e| panic!("the schema of {method} {path} {status} is invalid: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n"))
        }
    }
}
