//! The generated order history every scenario uses: deterministic, and the same mix of
//! events as the integration tests' `tests/support/histories.rs` (valid lifecycles,
//! disallowed transitions, bad data, overflows, unknown types), so that every order-totals
//! rule is on the measured path.

use crate::event::{CloudEvent, Data};

/// A linear congruential generator: no dependency, the same history on every machine.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// `events` order events spread over `orders` subjects (`o-0`, `o-1`, …), one second apart.
pub fn order_events(events: usize, orders: u64, seed: u64) -> Vec<CloudEvent> {
    let mut rng = Lcg(seed);
    let mut out = Vec::with_capacity(events);
    for i in 0..events {
        let order = rng.below(orders.max(1));
        let (ty, data) = match rng.below(20) {
            0..=2 => (
                "order.created",
                format!(r#"{{"customer":"c-{}"}}"#, rng.below(50)),
            ),
            3..=8 => (
                "order.item_added",
                format!(
                    r#"{{"sku":"sku-{}","qty":{},"unit_cents":{}}}"#,
                    rng.below(8),
                    1 + rng.below(5),
                    rng.below(5000)
                ),
            ),
            9..=10 => (
                "order.item_removed",
                format!(
                    r#"{{"sku":"sku-{}","qty":{}}}"#,
                    rng.below(9),
                    1 + rng.below(4)
                ),
            ),
            11..=13 => (
                "order.paid",
                format!(r#"{{"amount_cents":{}}}"#, 1 + rng.below(20_000)),
            ),
            14 => ("order.shipped", "{}".to_string()),
            15 => ("order.cancelled", "{}".to_string()),
            16 => (
                "order.item_added",
                r#"{"sku":"x","qty":1.5,"unit_cents":1}"#.to_string(),
            ),
            17 => (
                "order.item_added",
                r#"{"sku":"big","qty":9223372036854775807,"unit_cents":2}"#.to_string(),
            ),
            18 => ("order.paid", r#"{"amount_cents":"12"}"#.to_string()),
            _ => ("order.note_added", r#"{"text":"hello"}"#.to_string()),
        };
        let second = 1_767_225_600 + i as i64;
        let time = chrono::DateTime::from_timestamp(second, 0)
            .expect("a valid second")
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut event = CloudEvent::new(format!("e-{i}"), "/bench", ty)
            .with_subject(format!("o-{order}"))
            .with_time(&time)
            .expect("a valid time");
        event.datacontenttype = Some("application/json".to_string());
        event.data = Some(
            Data::from_bytes(data.into_bytes(), Some("application/json")).expect("valid JSON"),
        );
        out.push(event);
    }
    out
}

/// Events with a JSON payload of about `payload` bytes each, over 1,000 subjects: what the
/// ingest and end-to-end scenarios publish.
pub fn padded_events(prefix: &str, count: usize, payload: usize) -> Vec<CloudEvent> {
    let padding = "x".repeat(payload.saturating_sub(12));
    (0..count)
        .map(|i| {
            let mut event = CloudEvent::new(format!("{prefix}-{i}"), "/bench", "bench.event")
                .with_subject(format!("s-{}", i % 1000));
            event.datacontenttype = Some("application/json".to_string());
            event.data = Some(
                Data::json(&serde_json::json!({ "p": padding })).expect("JSON always serialises"),
            );
            event
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_is_deterministic_and_uses_every_order() {
        let a = order_events(500, 5, 7);
        let b = order_events(500, 5, 7);
        assert_eq!(a, b);
        let subjects: std::collections::BTreeSet<_> =
            a.iter().filter_map(|e| e.subject.clone()).collect();
        assert_eq!(subjects.len(), 5);
    }

    #[test]
    fn padded_events_carry_about_the_payload_asked_for() {
        let events = padded_events("p", 3, 200);
        let size = events[0].data.as_ref().unwrap().as_bytes().len();
        assert!((195..=205).contains(&size), "{size}");
    }
}
