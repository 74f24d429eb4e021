//! The native baseline of `eddy bench reduce`: the order-totals rules compiled into the host.
//!
//! The rules are not copied: the plugin's own `rules.rs` (plain Rust over serde_json, no host
//! and no guest bindings) is compiled here as a module, so the baseline runs exactly the
//! code the component runs. The fold around it does what the guest SDK's batched reducer
//! does per call — decode the JSON state once, apply each event, encode once — so the two
//! differ only by the WebAssembly boundary and the engine.

#[allow(dead_code, missing_docs)]
#[path = "../../../../plugins/order-totals/src/rules.rs"]
mod rules;

use crate::event::CloudEvent;

/// The initial state, encoded as the plugin's `init` encodes it.
pub fn init() -> Vec<u8> {
    serde_json::to_vec(&rules::Order::new()).expect("the state always encodes")
}

/// Folds `events` (one subject's, in order) into the encoded `state`.
pub fn apply(state: &[u8], events: &[CloudEvent]) -> Vec<u8> {
    let mut order: rules::Order = serde_json::from_slice(state).expect("a state this fold made");
    for event in events {
        rules::apply(
            &mut order,
            &event.ty,
            event.data.as_ref().map(|data| data.as_bytes()),
        );
    }
    serde_json::to_vec(&order).expect("the state always encodes")
}
