//! The plugin subscriptions of the service: which plugin reacts to which events.

use std::path::Path;

use eddy::subscription::SubscriptionSpec;

/// The stream every CRUD event goes to.
pub const STREAM: &str = "crud";

/// The subscriptions, with their plugins in `plugins` (the built `.wasm` files).
pub fn specs(plugins: &Path) -> Vec<SubscriptionSpec> {
    let plugin = |file: &str| plugins.join(file).display().to_string();
    let spec = |name: &str, file: &str, types: &[&str]| {
        let json = serde_json::json!({
            "name": name,
            "plugin": plugin(file),
            "streams": [STREAM],
            "types": types,
        });
        serde_json::from_value::<SubscriptionSpec>(json).expect("a valid spec")
    };
    vec![
        spec("welcome-mail", "welcome_mail.wasm", &["public.users.*"]),
        spec("audit", "audit_trail.wasm", &[]),
        spec("deletions", "audit_trail.wasm", &["*.*.delete"]),
    ]
}
