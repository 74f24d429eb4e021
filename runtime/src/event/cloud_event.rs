//! The CloudEvents 1.0 envelope.

use std::collections::BTreeMap;
use std::fmt;

use serde::ser::SerializeMap;
use serde_json::value::RawValue;

use super::EventError;

/// One CloudEvents 1.0 event, validated.
///
/// Build one by parsing JSON ([`CloudEvent::from_json`]) or with [`CloudEvent::new`] and the
/// builder methods. Serialising gives the structured-mode JSON form, attributes in a fixed
/// order, so the same event always prints the same bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudEvent {
    /// Identifies the event; `source` + `id` is unique (Eddy deduplicates on it).
    pub id: String,
    /// Identifies the context in which the event happened.
    pub source: String,
    /// The CloudEvents version: always `1.0`.
    pub specversion: String,
    /// The kind of event, e.g. `order.created`.
    pub ty: String,
    /// The thing the event is about: the aggregate key (an order, a workflow execution).
    pub subject: Option<String>,
    /// When the event happened.
    pub time: Option<EventTime>,
    /// The media type of `data`.
    pub datacontenttype: Option<String>,
    /// A URI of the schema `data` adheres to.
    pub dataschema: Option<String>,
    /// The payload.
    pub data: Option<Data>,
    /// Extension attributes, by name.
    pub extensions: BTreeMap<String, ExtensionValue>,
}

/// An event's payload, kept as it came so that it passes through without re-encoding.
#[derive(Debug, Clone)]
pub enum Data {
    /// JSON (compact text): the `data` member of a JSON-typed event.
    Json(Box<RawValue>),
    /// Text: a string `data` member of an event whose content type is not JSON.
    Text(String),
    /// Bytes: the decoded `data_base64` member, or a binary-mode body.
    Binary(Vec<u8>),
}

impl PartialEq for Data {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
            && std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

impl Data {
    /// The payload bytes as plugins see them: JSON text, UTF-8 text, or raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Data::Json(raw) => raw.get().as_bytes(),
            Data::Text(text) => text.as_bytes(),
            Data::Binary(bytes) => bytes,
        }
    }

    /// JSON data from any serialisable value.
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Data, serde_json::Error> {
        Ok(Data::Json(serde_json::value::to_raw_value(value)?))
    }

    /// Payload bytes with their content type, the way a handler plugin or a binary-mode
    /// request delivers them: JSON content types must hold valid JSON; text is kept as text
    /// when it is UTF-8; anything else is binary.
    pub fn from_bytes(bytes: Vec<u8>, content_type: Option<&str>) -> Result<Data, EventError> {
        if content_type.is_none_or(is_json_content_type) {
            let text = String::from_utf8(bytes)
                .map_err(|_| EventError::field("data", "JSON data must be UTF-8 text"))?;
            let compact = match super::compact::compact_json(&text) {
                std::borrow::Cow::Borrowed(_) => text,
                std::borrow::Cow::Owned(compact) => compact,
            };
            let raw = RawValue::from_string(compact)
                .map_err(|e| EventError::field("data", format!("not valid JSON: {e}")))?;
            return Ok(Data::Json(raw));
        }
        if content_type.is_some_and(|ct| ct.trim_start().starts_with("text/"))
            && let Ok(text) = String::from_utf8(bytes.clone())
        {
            return Ok(Data::Text(text));
        }
        Ok(Data::Binary(bytes))
    }
}

/// The essence of a media type: `Application/JSON; charset=utf-8` → `application/json`.
pub fn media_type_essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether a media type means JSON: `application/json`, `text/json`, or any `…+json`.
pub(crate) fn is_json_content_type(content_type: &str) -> bool {
    let essence = media_type_essence(content_type);
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

/// The `time` attribute: the text as given (kept for byte-exact output) and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTime {
    text: String,
    unix_nanos: i64,
}

impl EventTime {
    /// Parses an RFC 3339 timestamp (`2026-11-24T10:00:00Z`, `2026-11-24T11:00:00.5+01:00`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let parsed = chrono::DateTime::parse_from_rfc3339(text)
            .map_err(|e| format!("`{text}` is not an RFC 3339 timestamp ({e})"))?;
        let unix_nanos = parsed
            .timestamp_nanos_opt()
            .ok_or_else(|| format!("`{text}` is outside the years 1677–2262"))?;
        Ok(Self {
            text: text.to_string(),
            unix_nanos,
        })
    }

    /// The timestamp as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Nanoseconds since the Unix epoch.
    pub fn unix_nanos(&self) -> i64 {
        self.unix_nanos
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The value of an extension attribute: in JSON a string, an integer or a boolean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionValue {
    /// A string (also used for URI, timestamp and binary-as-base64 extensions).
    String(String),
    /// An integer.
    Integer(i64),
    /// A boolean.
    Boolean(bool),
}

impl fmt::Display for ExtensionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtensionValue::String(s) => f.write_str(s),
            ExtensionValue::Integer(i) => write!(f, "{i}"),
            ExtensionValue::Boolean(b) => write!(f, "{b}"),
        }
    }
}

impl CloudEvent {
    /// A new event with the three required attributes besides `specversion` (set to `1.0`).
    pub fn new(id: impl Into<String>, source: impl Into<String>, ty: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            source: source.into(),
            specversion: "1.0".to_string(),
            ty: ty.into(),
            subject: None,
            time: None,
            datacontenttype: None,
            dataschema: None,
            data: None,
            extensions: BTreeMap::new(),
        }
    }

    /// Sets the subject.
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets the time, which must be RFC 3339.
    pub fn with_time(mut self, time: &str) -> Result<Self, EventError> {
        self.time = Some(EventTime::parse(time).map_err(|p| EventError::field("time", p))?);
        Ok(self)
    }

    /// Sets JSON data (and the content type `application/json`).
    pub fn with_json_data<T: serde::Serialize + ?Sized>(
        mut self,
        value: &T,
    ) -> Result<Self, EventError> {
        let data = Data::json(value).map_err(|e| EventError::field("data", e.to_string()))?;
        self.data = Some(data);
        self.datacontenttype = Some("application/json".to_string());
        Ok(self)
    }

    /// Parses and validates one structured-mode JSON event.
    pub fn from_json(json: &str) -> Result<Self, EventError> {
        super::parse::parse_structured(json)
    }

    /// Parses and validates a batch-mode JSON array of structured events. The error names the
    /// index of the first bad event.
    pub fn batch_from_json(json: &str) -> Result<Vec<Self>, (Option<usize>, EventError)> {
        super::parse::parse_batch(json)
    }

    /// The structured-mode JSON text of this event, on one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a CloudEvent always serialises")
    }

    /// Checks every attribute against CloudEvents 1.0 (for events built in code).
    pub fn validate(&self) -> Result<(), EventError> {
        super::parse::validate(self)
    }
}

impl serde::Serialize for CloudEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("specversion", &self.specversion)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("source", &self.source)?;
        map.serialize_entry("type", &self.ty)?;
        if let Some(subject) = &self.subject {
            map.serialize_entry("subject", subject)?;
        }
        if let Some(time) = &self.time {
            map.serialize_entry("time", time.as_str())?;
        }
        if let Some(ct) = &self.datacontenttype {
            map.serialize_entry("datacontenttype", ct)?;
        }
        if let Some(schema) = &self.dataschema {
            map.serialize_entry("dataschema", schema)?;
        }
        for (name, value) in &self.extensions {
            match value {
                ExtensionValue::String(s) => map.serialize_entry(name, s)?,
                ExtensionValue::Integer(i) => map.serialize_entry(name, i)?,
                ExtensionValue::Boolean(b) => map.serialize_entry(name, b)?,
            }
        }
        match &self.data {
            None => {}
            Some(Data::Json(raw)) => map.serialize_entry("data", raw)?,
            Some(Data::Text(text)) => map.serialize_entry("data", text)?,
            Some(Data::Binary(bytes)) => {
                use base64::Engine as _;
                let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
                map.serialize_entry("data_base64", &encoded)?;
            }
        }
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for CloudEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = super::parse::RawFields::deserialize(deserializer)?;
        fields.into_event().map_err(serde::de::Error::custom)
    }
}
