//! The reference final states: the order-totals rules compiled into this runner and folded
//! per subject, encoded as Eddy's reducer and native baseline encode them. The SmartModule's
//! final states must equal these byte for byte (and Eddy's report says whether its own do).

#[allow(dead_code, missing_docs)]
#[path = "../../../plugins/order-totals/src/rules.rs"]
mod rules;

use std::collections::BTreeMap;

use crate::history::Event;

/// Each subject's final state, encoded.
pub fn final_states(events: &[Event]) -> BTreeMap<String, Vec<u8>> {
    let mut orders: BTreeMap<&str, rules::Order> = BTreeMap::new();
    for event in events {
        let order = orders.entry(&event.subject).or_default();
        rules::apply(order, &event.ty, event.data());
    }
    orders
        .into_iter()
        .map(|(subject, order)| {
            let state = serde_json::to_vec(&order).expect("the state always encodes");
            (subject.to_owned(), state)
        })
        .collect()
}
