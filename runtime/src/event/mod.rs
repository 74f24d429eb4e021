//! Events: the CloudEvents 1.0 envelope, its validation, stream positions, and JSON Lines files.
//!
//! Every event that enters Eddy — over HTTP, from a file or from a handler plugin — is parsed
//! and validated here, so the rest of the runtime can trust a [`CloudEvent`].

mod cloud_event;
mod compact;
mod error;
mod jsonl;
mod parse;
mod pattern;
mod position;
mod schema;

pub use cloud_event::{CloudEvent, Data, EventTime, ExtensionValue, media_type_essence};
pub use error::EventError;
pub use jsonl::{JsonlError, JsonlReader};
pub use pattern::{TypePattern, glob_matches};
pub use position::{Position, PositionError};
