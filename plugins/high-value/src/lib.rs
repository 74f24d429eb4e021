//! `high-value`: an Eddy handler that raises an alert for large payments.
//!
//! On each `order.paid` event whose `amount_cents` is at least the config `threshold`
//! (integer cents, default 100000), it emits one `order.high_value` event to the stream named
//! by the config `stream` (default `alerts`), with the same subject and the data
//! `{"order": <subject>, "amount_cents": n, "threshold": t}`. Other event types emit nothing.
//!
//! Rejected (dead-lettered, not retried): an `order.paid` whose data has no integer
//! `amount_cents`, and any `order.paid` while `threshold` is not an integer.

use guest_sdk::{Error, Event, Handler, Outgoing, config};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// The threshold when `threshold` is not configured, in cents.
pub const DEFAULT_THRESHOLD: i64 = 100_000;
/// The stream alerts go to when `stream` is not configured.
pub const DEFAULT_STREAM: &str = "alerts";

/// The handler's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Payments of at least this many cents raise an alert.
    pub threshold: i64,
    /// Where alerts are published.
    pub stream: String,
}

impl Settings {
    /// Settings from the raw config values (`None`: not configured).
    pub fn from_config(threshold: Option<&str>, stream: Option<&str>) -> Result<Self, Error> {
        let threshold = match threshold {
            None => DEFAULT_THRESHOLD,
            Some(raw) => raw.trim().parse().map_err(|err| {
                Error::reject(format!(
                    "high-value: config `threshold` must be an integer number of cents, got {raw:?} ({err})"
                ))
            })?,
        };
        let stream = stream
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(DEFAULT_STREAM)
            .to_owned();
        Ok(Self { threshold, stream })
    }
}

#[derive(Deserialize)]
struct Paid {
    amount_cents: i64,
}

/// The data of an `order.high_value` event.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct HighValue<'a> {
    /// The order (the paid event's subject).
    pub order: Option<&'a str>,
    /// The payment's amount.
    pub amount_cents: i64,
    /// The threshold it reached.
    pub threshold: i64,
}

/// What to emit for `event` under `settings`: the alert, or nothing.
pub fn alerts_for(event: &Event, settings: &Settings) -> Result<Vec<Outgoing>, Error> {
    if event.ty != "order.paid" {
        return Ok(Vec::new());
    }
    let Paid { amount_cents } = event.data_json().map_err(|err| {
        Error::reject(format!(
            "high-value: order.paid {} has no integer amount_cents: {err}",
            event.id
        ))
    })?;
    if amount_cents < settings.threshold {
        return Ok(Vec::new());
    }
    let subject = event.subject.as_deref();
    let mut alert = Outgoing::new(settings.stream.as_str(), "order.high_value");
    if let Some(subject) = subject {
        alert = alert.subject(subject);
    }
    let alert = alert.json(&HighValue {
        order: subject,
        amount_cents,
        threshold: settings.threshold,
    })?;
    Ok(vec![alert])
}

/// The high-value payment handler; configure it with `threshold` and `stream`.
pub struct HighValueHandler;

impl Handler for HighValueHandler {
    fn handle_event(event: &Event) -> Result<Vec<Outgoing>, Error> {
        // Fixed for the life of the instance: read and check the config once.
        static SETTINGS: OnceLock<Result<Settings, Error>> = OnceLock::new();
        if event.ty != "order.paid" {
            return Ok(Vec::new());
        }
        let settings = SETTINGS.get_or_init(|| {
            Settings::from_config(
                config::get("threshold").as_deref(),
                config::get("stream").as_deref(),
            )
        });
        alerts_for(event, settings.as_ref().map_err(Clone::clone)?)
    }
}

guest_sdk::export!(HighValueHandler: Handler);

#[cfg(test)]
mod tests {
    use super::*;

    fn paid(subject: Option<&str>, data: &str) -> Event {
        Event {
            id: "e-1".into(),
            ty: "order.paid".into(),
            subject: subject.map(str::to_owned),
            data: Some(data.as_bytes().to_vec()),
            ..Event::default()
        }
    }

    fn defaults() -> Settings {
        Settings::from_config(None, None).unwrap()
    }

    #[test]
    fn defaults_are_100000_cents_to_alerts() {
        assert_eq!(
            defaults(),
            Settings {
                threshold: 100_000,
                stream: "alerts".into()
            }
        );
    }

    #[test]
    fn a_payment_at_the_threshold_raises_one_alert() {
        let out = alerts_for(
            &paid(Some("o-1"), r#"{"amount_cents":100000}"#),
            &defaults(),
        )
        .unwrap();
        let [alert] = out.as_slice() else {
            panic!("one alert expected, got {out:?}")
        };
        assert_eq!(
            (alert.stream.as_str(), alert.ty.as_str()),
            ("alerts", "order.high_value")
        );
        assert_eq!(alert.subject.as_deref(), Some("o-1"));
        assert_eq!(
            alert.data_json::<serde_json::Value>().unwrap(),
            serde_json::json!({"order": "o-1", "amount_cents": 100000, "threshold": 100000})
        );
    }

    #[test]
    fn smaller_payments_and_other_types_emit_nothing() {
        assert!(
            alerts_for(&paid(Some("o-1"), r#"{"amount_cents":99999}"#), &defaults())
                .unwrap()
                .is_empty()
        );
        let other = Event {
            ty: "order.created".into(),
            ..Event::default()
        };
        assert!(alerts_for(&other, &defaults()).unwrap().is_empty());
    }

    #[test]
    fn configured_threshold_and_stream_are_used() {
        let settings = Settings::from_config(Some(" 500 "), Some("vip")).unwrap();
        let out = alerts_for(&paid(None, r#"{"amount_cents":500}"#), &settings).unwrap();
        let [alert] = out.as_slice() else {
            panic!("one alert expected, got {out:?}")
        };
        assert_eq!(
            (alert.stream.as_str(), alert.subject.as_deref()),
            ("vip", None)
        );
        assert_eq!(
            alert.data_json::<serde_json::Value>().unwrap(),
            serde_json::json!({"order": null, "amount_cents": 500, "threshold": 500})
        );
    }

    #[test]
    fn an_invalid_threshold_is_a_clear_reject() {
        let err = Settings::from_config(Some("10k"), None).unwrap_err();
        assert!(!err.is_retry());
        assert!(
            err.message()
                .contains("`threshold` must be an integer number of cents, got \"10k\""),
            "{err}"
        );
    }

    #[test]
    fn a_payment_without_an_integer_amount_is_rejected() {
        let err = alerts_for(
            &paid(Some("o-1"), r#"{"amount_cents":"lots"}"#),
            &defaults(),
        )
        .unwrap_err();
        assert!(!err.is_retry());
        assert!(
            err.message()
                .starts_with("high-value: order.paid e-1 has no integer amount_cents"),
            "{err}"
        );
    }
}
