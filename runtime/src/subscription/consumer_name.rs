//! This process's name in consumer groups and leases, when none is given
//! ([`super::SubscriptionHost::with_consumer`] gives one that is kept across restarts).

use crate::store::EventStore;

/// The consumer name on a store only one process can open: the same across restarts, so a
/// restarted process takes back at once what it held when it died.
const SINGLE_PROCESS_CONSUMER: &str = "local";

/// The default name for a process using `store`: [`SINGLE_PROCESS_CONSUMER`] where no other
/// process can use it; otherwise a name of this process alone.
pub(super) fn default_for(store: &dyn EventStore) -> String {
    if store.single_process() {
        SINGLE_PROCESS_CONSUMER.to_string()
    } else {
        process_consumer_name()
    }
}

/// Host, process id and start time, with the characters consumer names may not hold replaced.
fn process_consumer_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "eddy".to_string());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        crate::store::now_ms() % 100_000
    )
    .chars()
    .map(|c| {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            c
        } else {
            '_'
        }
    })
    .collect()
}
