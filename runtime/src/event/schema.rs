//! JSON Schemas of the event types whose JSON form is written by hand (for the OpenAPI
//! document, `GET /api/v1/openapi.json`).

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::{CloudEvent, Position};

impl JsonSchema for Position {
    fn schema_name() -> Cow<'static, str> {
        "Position".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[0-9]+(-[0-9]+)?$",
            "description": "Where an event sits in its stream: `<milliseconds>-<sequence>`, such as `1732450000000-0`; the first part is when it was appended.",
        })
    }
}

impl JsonSchema for CloudEvent {
    fn schema_name() -> Cow<'static, str> {
        "CloudEvent".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "description": "A CloudEvents 1.0 event in structured JSON form. Extension attributes are further members: lower-case letters and digits, with string, integer or boolean values.",
            "required": ["specversion", "id", "source", "type"],
            "properties": {
                "specversion": {"const": "1.0"},
                "id": {"type": "string", "minLength": 1},
                "source": {"type": "string", "minLength": 1},
                "type": {"type": "string", "minLength": 1},
                "subject": {"type": "string"},
                "time": {"type": "string", "format": "date-time"},
                "datacontenttype": {"type": "string"},
                "dataschema": {"type": "string"},
                "data": {},
                "data_base64": {"type": "string", "contentEncoding": "base64"},
            },
            "additionalProperties": {"type": ["string", "integer", "boolean"]},
        })
    }
}
