//! Reading events out of a publish request, in the three CloudEvents HTTP content modes:
//! structured (`application/cloudevents+json`, or `application/json` holding an object), batch
//! (`application/cloudevents-batch+json`, or `application/json` holding an array) and binary
//! (attributes in `ce-*` headers, the body is the data).

use axum::body::Bytes;
use axum::http::{HeaderMap, header};

use super::ApiError;
use crate::event::{CloudEvent, Data, EventError, EventTime, ExtensionValue};

/// The events a publish request carries, in order.
pub(super) fn events_from_request(
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Vec<CloudEvent>, ApiError> {
    if headers.keys().any(|name| name.as_str().starts_with("ce-")) {
        return binary_event(headers, body).map(|event| vec![event]);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .ok_or_else(|| {
            ApiError::unsupported_media_type(
                "a Content-Type is required: application/cloudevents+json, \
                 application/cloudevents-batch+json, application/json, or binary mode with ce-* headers",
            )
        })?
        .to_str()
        .map_err(|_| ApiError::unsupported_media_type("the Content-Type is not readable text"))?;
    let essence = crate::event::media_type_essence(content_type);
    let batch = match essence.as_str() {
        "application/cloudevents+json" => false,
        "application/cloudevents-batch+json" => true,
        "application/json" => body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'['),
        _ => {
            return Err(ApiError::unsupported_media_type(format!(
                "`{essence}` is not a CloudEvents content type: use application/cloudevents+json, \
                 application/cloudevents-batch+json, application/json, or binary mode with ce-* headers"
            )));
        }
    };
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::invalid_event("the body is not UTF-8 JSON"))?;
    if batch {
        let events = CloudEvent::batch_from_json(text).map_err(|(index, error)| match index {
            Some(index) => ApiError::invalid_event(format!("event {index}: {error}")),
            None => ApiError::invalid_event(error.to_string()),
        })?;
        if events.is_empty() {
            return Err(ApiError::invalid_event("the batch is empty"));
        }
        Ok(events)
    } else {
        CloudEvent::from_json(text)
            .map(|event| vec![event])
            .map_err(|error| ApiError::invalid_event(error.to_string()))
    }
}

/// A binary-mode event: attributes from `ce-*` headers (percent-decoded, as the HTTP binding
/// asks), `datacontenttype` from Content-Type, the body as data.
fn binary_event(headers: &HeaderMap, body: Bytes) -> Result<CloudEvent, ApiError> {
    let invalid = |error: EventError| ApiError::invalid_event(error.to_string());
    let value = |name: &str| -> Result<Option<String>, ApiError> {
        headers
            .get(name)
            .map(|v| {
                percent_decode(v.as_bytes()).ok_or_else(|| {
                    ApiError::invalid_event(format!(
                        "header `{name}` is not valid percent-encoded UTF-8"
                    ))
                })
            })
            .transpose()
    };
    let required = |name: &str| -> Result<String, ApiError> {
        value(name)?.ok_or_else(|| {
            ApiError::invalid_event(format!("binary mode: header `{name}` is required"))
        })
    };
    let mut event = CloudEvent::new(
        required("ce-id")?,
        required("ce-source")?,
        required("ce-type")?,
    );
    event.specversion = required("ce-specversion")?;
    event.subject = value("ce-subject")?;
    event.dataschema = value("ce-dataschema")?;
    if let Some(time) = value("ce-time")? {
        event.time =
            Some(EventTime::parse(&time).map_err(|p| invalid(EventError::field("time", p)))?);
    }
    let content_type = value(header::CONTENT_TYPE.as_str())?;
    for name in headers.keys().map(|n| n.as_str()) {
        let Some(attribute) = name.strip_prefix("ce-") else {
            continue;
        };
        if matches!(
            attribute,
            "id" | "source" | "type" | "specversion" | "subject" | "dataschema" | "time"
        ) {
            continue;
        }
        if attribute == "datacontenttype" || attribute == "data" || attribute == "data_base64" {
            return Err(ApiError::invalid_event(format!(
                "binary mode: `{name}` is not a header attribute (the body is the data, Content-Type its type)"
            )));
        }
        if let Some(value) = value(name)? {
            event
                .extensions
                .insert(attribute.to_string(), ExtensionValue::String(value));
        }
    }
    if !body.is_empty() || content_type.is_some() {
        event.data =
            Some(Data::from_bytes(body.to_vec(), content_type.as_deref()).map_err(invalid)?);
        event.datacontenttype = content_type;
    }
    event.validate().map_err(invalid)?;
    Ok(event)
}

/// Decodes `%XX` escapes into UTF-8 text; `None` if an escape is broken or the text is not UTF-8.
fn percent_decode(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = std::str::from_utf8(raw.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn header_values_are_percent_decoded() {
        assert_eq!(percent_decode(b"Zo%C3%AB%20x").as_deref(), Some("Zoë x"));
        assert_eq!(percent_decode(b"plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode(b"bad%2"), None);
        assert_eq!(percent_decode(b"%FF"), None);
    }
}
