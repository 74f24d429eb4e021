//! The order-totals rules as a Fluvio `aggregate` SmartModule, for the side-by-side run of
//! `scripts/bench-fluvio` (issue #9).
//!
//! The rules are not copied: the plugin's own `rules.rs` is compiled here as a module, as
//! Eddy's native baseline does, so every side runs the same code.
//!
//! Input records: key = the event's subject, value = the event's type, then `\n` and its data
//! (no `\n`: no data). Types never contain a newline, so the split is exact and costs no JSON
//! parse of an envelope; the data reaches the rules as the bytes Eddy hands its reducer.
//!
//! Fluvio's aggregate keeps one accumulator for the whole stream, not one per key, so each
//! subject's order lives here, in the module's memory, decoded, between calls. Each output
//! record carries the updated subject's state, encoded as Eddy's reducer encodes it; the last
//! output of a subject is its final state.
//!
//! The crate has no `#![forbid(unsafe_code)]`: the `#[smartmodule]` macro expands to the
//! `unsafe` ABI glue (raw input pointer, `copy_records` import). Nothing here is unsafe.

#[allow(dead_code, missing_docs)]
#[path = "../../../../plugins/order-totals/src/rules.rs"]
mod rules;

use std::collections::BTreeMap;
use std::sync::Mutex;

use fluvio_smartmodule::{RecordData, Result, SmartModuleRecord, eyre, smartmodule};

/// Each subject's order, for the life of the instance. The instance is single-threaded; the
/// mutex is only what makes a mutable static safe to write.
static ORDERS: Mutex<BTreeMap<Vec<u8>, rules::Order>> = Mutex::new(BTreeMap::new());

/// Applies one event to its subject's order and returns that order's new state.
///
/// The accumulator the engine passes in is the previous record's output (another subject's
/// state, most of the time): unused, since the state is per subject.
#[smartmodule(aggregate)]
pub fn aggregate(_accumulator: RecordData, current: &SmartModuleRecord) -> Result<RecordData> {
    let subject = current.key().map_or(&[][..], |key| key.as_ref());
    let value: &[u8] = current.value.as_ref();
    let (ty, data) = match value.iter().position(|&b| b == b'\n') {
        Some(at) => (&value[..at], Some(&value[at + 1..])),
        None => (value, None),
    };
    let ty = std::str::from_utf8(ty).map_err(|_| eyre!("the event type is not UTF-8"))?;

    let mut orders = ORDERS.lock().map_err(|_| eyre!("poisoned state"))?;
    let order = match orders.get_mut(subject) {
        Some(order) => order,
        None => orders.entry(subject.to_vec()).or_default(),
    };
    rules::apply(order, ty, data);
    Ok(serde_json::to_vec(order)?.into())
}
