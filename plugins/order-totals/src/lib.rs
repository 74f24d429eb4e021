//! `order-totals`: Eddy's reference reducer. Per order (the event's subject) it keeps the
//! customer, the status, the items, the total and the payments; see [`rules`] for every rule.
//!
//! State (JSON), before the first event:
//! `{"customer": null, "status": "none", "items": {}, "total_cents": 0, "paid_cents": 0, "ignored": 0}`.
//!
//! Golden replay cases live in `cases/`: `eddy test` (or `eddy replay`) runs each
//! `events.jsonl` through the built component and compares with `expected.json`.

pub mod rules;

use guest_sdk::{Error, Event, Reducer};

/// The order reducer; the rules are in [`rules`].
pub struct OrderTotals;

impl Reducer for OrderTotals {
    type State = rules::Order;

    fn init() -> rules::Order {
        rules::Order::new()
    }

    fn apply_event(order: &mut rules::Order, event: &Event) -> Result<(), Error> {
        // Bad events are counted in the state, never errors: a reducer's history is fixed.
        rules::apply(order, &event.ty, event.data.as_deref());
        Ok(())
    }
}

guest_sdk::export!(OrderTotals: Reducer);

#[cfg(test)]
mod golden {
    //! Runs every golden case natively (same rules, no host): a cross-check of the hand-written
    //! `expected.json` files. The host's `eddy test` runs them through the component.

    use super::*;
    use std::collections::BTreeMap;
    use std::path::Path;

    /// The events of `events.jsonl`, folded per subject (no subject: key `""`), as `eddy replay`
    /// prints them.
    fn replay(events_jsonl: &str) -> String {
        let mut states: BTreeMap<String, rules::Order> = BTreeMap::new();
        for line in events_jsonl.lines().filter(|l| !l.trim().is_empty()) {
            let event: serde_json::Value = serde_json::from_str(line).expect("a JSON event");
            let subject = event["subject"].as_str().unwrap_or("").to_owned();
            let data = event.get("data").map(|d| serde_json::to_vec(d).unwrap());
            let event = Event {
                ty: event["type"].as_str().expect("a type").to_owned(),
                data,
                ..Event::default()
            };
            let state = states.entry(subject).or_insert_with(OrderTotals::init);
            OrderTotals::apply_event(state, &event).unwrap();
        }
        let values: BTreeMap<String, serde_json::Value> = states
            .into_iter()
            .map(|(subject, state)| (subject, serde_json::to_value(state).unwrap()))
            .collect();
        serde_json::to_string_pretty(&values).unwrap() + "\n"
    }

    #[test]
    fn every_golden_case_matches_its_expected_state() {
        let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
        let mut checked = 0;
        for case in std::fs::read_dir(&cases).unwrap() {
            let dir = case.unwrap().path();
            let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
            let expected = std::fs::read_to_string(dir.join("expected.json")).unwrap();
            assert_eq!(replay(&events), expected, "case {}", dir.display());
            checked += 1;
        }
        assert!(checked >= 5, "only {checked} cases found");
    }
}
