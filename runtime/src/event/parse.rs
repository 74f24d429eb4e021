//! Parsing and validating structured-mode and batch-mode CloudEvents JSON.
//!
//! Attributes are collected first and checked one by one, so that an error names the exact
//! attribute at fault rather than a serde position.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::cloud_event::is_json_content_type;
use super::compact::compact_json;
use super::{CloudEvent, Data, EventError, EventTime, ExtensionValue};

/// The members of one JSON event object, before validation. `data` is kept as raw text.
pub(crate) struct RawFields {
    attributes: Vec<(String, Value)>,
    data: Option<Box<RawValue>>,
}

impl<'de> Deserialize<'de> for RawFields {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = RawFields;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a CloudEvent as a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFields, A::Error> {
                let mut fields = RawFields {
                    attributes: Vec::new(),
                    data: None,
                };
                while let Some(key) = map.next_key::<String>()? {
                    let duplicate = if key == "data" {
                        fields.data.is_some()
                    } else {
                        fields.attributes.iter().any(|(k, _)| *k == key)
                    };
                    if duplicate {
                        return Err(serde::de::Error::custom(format!(
                            "field `{key}`: appears twice"
                        )));
                    }
                    if key == "data" {
                        fields.data = Some(map.next_value()?);
                    } else {
                        fields.attributes.push((key, map.next_value()?));
                    }
                }
                Ok(fields)
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// Parses one structured-mode event.
pub(crate) fn parse_structured(json: &str) -> Result<CloudEvent, EventError> {
    let fields: RawFields = serde_json::from_str(json).map_err(json_error)?;
    fields.into_event()
}

/// Parses a batch: a JSON array of structured-mode events.
pub(crate) fn parse_batch(json: &str) -> Result<Vec<CloudEvent>, (Option<usize>, EventError)> {
    struct BatchVisitor;
    impl<'de> Visitor<'de> for BatchVisitor {
        type Value = Vec<RawFields>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array of CloudEvents")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<RawFields>, A::Error> {
            let mut all = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(fields) = seq.next_element()? {
                all.push(fields);
            }
            Ok(all)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let raw = serde::Deserializer::deserialize_seq(&mut deserializer, BatchVisitor)
        .and_then(|v| deserializer.end().map(|_| v))
        .map_err(|e| (None, json_error(e)))?;
    raw.into_iter()
        .enumerate()
        .map(|(i, fields)| fields.into_event().map_err(|e| (Some(i), e)))
        .collect()
}

fn json_error(error: serde_json::Error) -> EventError {
    let text = error.to_string();
    // Our visitor reports attribute problems as `field `x`: …`; keep that shape.
    if let Some(rest) = text.strip_prefix("field `")
        && let Some((field, problem)) = rest.split_once("`: ")
    {
        let problem = problem.rsplit_once(" at line ").map_or(problem, |(p, _)| p);
        return EventError::field(field, problem);
    }
    EventError::Json(text)
}

impl RawFields {
    pub(crate) fn into_event(self) -> Result<CloudEvent, EventError> {
        // A handful of members, each name at most once (checked while reading): a short list
        // searched by name costs less than building a map for every event.
        let mut attrs = self.attributes;
        // In the JSON format, a null attribute is the same as an absent one.
        attrs.retain(|(_, value)| !value.is_null());
        let specversion = required_string(&mut attrs, "specversion")?;
        if specversion != "1.0" {
            return Err(EventError::field(
                "specversion",
                format!("`{specversion}` is not supported; Eddy speaks CloudEvents `1.0`"),
            ));
        }
        let id = required_string(&mut attrs, "id")?;
        let source = required_string(&mut attrs, "source")?;
        let ty = required_string(&mut attrs, "type")?;
        let subject = optional_string(&mut attrs, "subject")?;
        let time = optional_string(&mut attrs, "time")?
            .map(|t| EventTime::parse(&t).map_err(|p| EventError::field("time", p)))
            .transpose()?;
        let datacontenttype = optional_string(&mut attrs, "datacontenttype")?;
        let dataschema = optional_string(&mut attrs, "dataschema")?;
        let data_base64 = optional_string(&mut attrs, "data_base64")?;

        let data = match (self.data, data_base64) {
            (Some(_), Some(_)) => {
                return Err(EventError::field(
                    "data_base64",
                    "an event carries either `data` or `data_base64`, not both",
                ));
            }
            (None, Some(encoded)) => {
                use base64::Engine as _;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(encoded.as_bytes())
                    .map_err(|e| EventError::field("data_base64", format!("not base64: {e}")))?;
                Some(Data::Binary(bytes))
            }
            (Some(raw), None) => Some(json_member_to_data(raw, datacontenttype.as_deref())?),
            (None, None) => None,
        };

        let mut extensions = BTreeMap::new();
        // What is left are the extensions: checked in name order, so that of several bad ones
        // the error always names the same.
        attrs.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, value) in attrs {
            check_extension_name(&name)?;
            let value = match value {
                Value::String(s) => ExtensionValue::String(s),
                Value::Bool(b) => ExtensionValue::Boolean(b),
                Value::Number(n) => ExtensionValue::Integer(n.as_i64().ok_or_else(|| {
                    EventError::field(&name, "extension numbers must be integers")
                })?),
                _ => {
                    return Err(EventError::field(
                        &name,
                        "an extension attribute must be a string, an integer or a boolean",
                    ));
                }
            };
            extensions.insert(name, value);
        }

        let event = CloudEvent {
            id,
            source,
            specversion,
            ty,
            subject,
            time,
            datacontenttype,
            dataschema,
            data,
            extensions,
        };
        Ok(event)
    }
}

/// The `data` member: JSON for JSON content types (or none); for other content types a JSON
/// string is the text itself, as the CloudEvents JSON format prescribes.
fn json_member_to_data(raw: Box<RawValue>, content_type: Option<&str>) -> Result<Data, EventError> {
    let is_json = content_type.is_none_or(is_json_content_type);
    if !is_json && raw.get().starts_with('"') {
        let text: String = serde_json::from_str(raw.get())
            .map_err(|e| EventError::field("data", e.to_string()))?;
        return Ok(Data::Text(text));
    }
    match compact_json(raw.get()) {
        std::borrow::Cow::Borrowed(_) => Ok(Data::Json(raw)),
        std::borrow::Cow::Owned(compact) => {
            let raw = RawValue::from_string(compact)
                .map_err(|e| EventError::field("data", e.to_string()))?;
            Ok(Data::Json(raw))
        }
    }
}

fn required_string(attrs: &mut Vec<(String, Value)>, name: &str) -> Result<String, EventError> {
    match optional_string(attrs, name)? {
        Some(value) => Ok(value),
        None => Err(EventError::field(name, "is required")),
    }
}

fn optional_string(
    attrs: &mut Vec<(String, Value)>,
    name: &str,
) -> Result<Option<String>, EventError> {
    let found = attrs.iter().position(|(key, _)| key == name);
    match found.map(|i| attrs.swap_remove(i).1) {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Err(EventError::field(name, "must not be empty")),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(EventError::field(
            name,
            format!("must be a string, not {}", json_type_name(&other)),
        )),
    }
}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// CloudEvents 1.0: attribute names consist of lower-case ASCII letters and digits.
fn check_extension_name(name: &str) -> Result<(), EventError> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err(EventError::field(
            name,
            "unknown attribute; extension attribute names may hold only lower-case letters \
             a-z and digits 0-9",
        ));
    }
    Ok(())
}

/// Validates an event built in code with the same rules as a parsed one.
pub(crate) fn validate(event: &CloudEvent) -> Result<(), EventError> {
    if event.specversion != "1.0" {
        return Err(EventError::field("specversion", "must be `1.0`"));
    }
    for (name, value) in [
        ("id", &event.id),
        ("source", &event.source),
        ("type", &event.ty),
    ] {
        if value.is_empty() {
            return Err(EventError::field(name, "is required"));
        }
    }
    for (name, value) in [
        ("subject", &event.subject),
        ("datacontenttype", &event.datacontenttype),
        ("dataschema", &event.dataschema),
    ] {
        if value.as_deref() == Some("") {
            return Err(EventError::field(name, "must not be empty"));
        }
    }
    for name in event.extensions.keys() {
        if matches!(
            name.as_str(),
            "id" | "source"
                | "specversion"
                | "type"
                | "subject"
                | "time"
                | "datacontenttype"
                | "dataschema"
                | "data"
                | "data_base64"
        ) {
            return Err(EventError::field(name, "is a reserved attribute name"));
        }
        check_extension_name(name)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<CloudEvent, EventError> {
        CloudEvent::from_json(json)
    }

    #[test]
    fn a_full_structured_event_round_trips_byte_for_byte() {
        let json = r#"{"specversion":"1.0","id":"e-1","source":"/shop","type":"order.created","subject":"o-1","time":"2026-01-01T00:00:00Z","datacontenttype":"application/json","dataschema":"https://example.com/s","priority":5,"tenant":"acme","urgent":true,"data":{"customer":"ada","n":12345678901234567890123}}"#;
        let event = parse(json).unwrap();
        assert_eq!(event.ty, "order.created");
        assert_eq!(event.subject.as_deref(), Some("o-1"));
        assert_eq!(event.extensions["priority"], ExtensionValue::Integer(5));
        assert_eq!(event.to_json(), json);
    }

    #[test]
    fn json_data_is_compacted_but_not_reparsed() {
        let event = parse(
            "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\",\n \"data\": { \"a\" : [1, 2.50] }}",
        )
        .unwrap();
        assert_eq!(event.data.unwrap().as_bytes(), br#"{"a":[1,2.50]}"#);
    }

    #[test]
    fn text_and_binary_data_follow_the_content_type() {
        let text = parse(r#"{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"text/plain","data":"hello"}"#).unwrap();
        assert!(matches!(text.data, Some(Data::Text(ref t)) if t == "hello"));
        let binary =
            parse(r#"{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"AAEC"}"#)
                .unwrap();
        assert_eq!(binary.data.as_ref().unwrap().as_bytes(), &[0, 1, 2]);
        assert!(binary.to_json().contains(r#""data_base64":"AAEC""#));
    }

    #[test]
    fn errors_name_the_attribute_at_fault() {
        let cases = [
            (r#"{"id":"1","source":"s","type":"t"}"#, "specversion"),
            (
                r#"{"specversion":"0.3","id":"1","source":"s","type":"t"}"#,
                "specversion",
            ),
            (r#"{"specversion":"1.0","source":"s","type":"t"}"#, "id"),
            (
                r#"{"specversion":"1.0","id":"","source":"s","type":"t"}"#,
                "id",
            ),
            (r#"{"specversion":"1.0","id":"1","type":"t"}"#, "source"),
            (r#"{"specversion":"1.0","id":"1","source":"s"}"#, "type"),
            (
                r#"{"specversion":"1.0","id":"1","source":"s","type":7}"#,
                "type",
            ),
            (
                r#"{"specversion":"1.0","id":"1","source":"s","type":"t","time":"yesterday"}"#,
                "time",
            ),
            (
                r#"{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"!!"}"#,
                "data_base64",
            ),
            (
                r#"{"specversion":"1.0","id":"1","source":"s","type":"t","data":1,"data_base64":"AA=="}"#,
                "data_base64",
            ),
            (
                r#"{"specversion":"1.0","id":"1","source":"s","type":"t","Bad-Name":"x"}"#,
                "Bad-Name",
            ),
            (
                r#"{"specversion":"1.0","id":"1","source":"s","type":"t","ext":{"a":1}}"#,
                "ext",
            ),
            (
                r#"{"specversion":"1.0","id":"1","id":"2","source":"s","type":"t"}"#,
                "id",
            ),
        ];
        for (json, field) in cases {
            match parse(json) {
                Err(EventError::Field { field: f, .. }) => assert_eq!(f, field, "{json}"),
                other => panic!("{json}: expected an error on `{field}`, got {other:?}"),
            }
        }
    }

    #[test]
    fn non_objects_and_broken_json_are_json_errors() {
        for json in ["[]", "42", "{", "", "{\"id\": }"] {
            assert!(matches!(parse(json), Err(EventError::Json(_))), "{json}");
        }
    }

    #[test]
    fn a_batch_error_names_the_index_of_the_bad_event() {
        let batch = r#"[{"specversion":"1.0","id":"1","source":"s","type":"t"},{"specversion":"1.0","id":"2","source":"s"}]"#;
        match CloudEvent::batch_from_json(batch) {
            Err((Some(1), EventError::Field { field, .. })) => assert_eq!(field, "type"),
            other => panic!("{other:?}"),
        }
        assert_eq!(CloudEvent::batch_from_json("[]").unwrap(), vec![]);
        assert!(matches!(CloudEvent::batch_from_json("{}"), Err((None, _))));
    }
}
