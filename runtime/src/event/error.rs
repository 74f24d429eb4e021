//! What can be wrong with an event.

/// Why an event was refused. The message names the attribute at fault.
///
/// A caller reports it to whoever sent the event (HTTP 400, or a CLI error with the file and
/// line); retrying the same event cannot succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The text is not JSON, or not a JSON object.
    #[error("not a valid JSON event: {0}")]
    Json(String),
    /// One attribute is missing, of the wrong type, or has a value CloudEvents 1.0 forbids.
    #[error("field `{field}`: {problem}")]
    Field {
        /// The attribute's name, as written in the JSON (`type`, `time`, `data_base64`, …).
        field: String,
        /// What is wrong with it, in words a user can act on.
        problem: String,
    },
}

impl EventError {
    /// An error about one attribute.
    pub fn field(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Field {
            field: field.into(),
            problem: problem.into(),
        }
    }
}
