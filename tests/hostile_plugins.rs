//! The hostile-plugin zoo: plugins that recurse without end, return huge outputs, import what
//! Eddy does not provide, or are huge themselves. Each gets a clear, bounded failure, and the
//! host — and the next call of the same instance — goes on.
//!
//! (The endless loop, the memory bomb, a trap in the middle of a batch, and reading the clock,
//! randomness, environment, files and network are in `plugin_host.rs`; quarantining a plugin
//! that keeps failing is in `quarantine.rs`.)

mod support;

use eddy::event::{CloudEvent, Position};
use eddy::plugin::{
    CallError, EventBatch, Limits, LoadError, MAX_EMITTED_PER_EVENT, MAX_STATE_BYTES, PluginConfig,
    PluginInstance,
};
use support::plugins::{engine, load, plugin_path};

fn event(id: &str, ty: &str) -> CloudEvent {
    CloudEvent::new(id, "/test", ty)
        .with_subject("s")
        .with_time("2026-01-01T00:00:00Z")
        .unwrap()
}

fn batch(events: &[CloudEvent]) -> EventBatch {
    let mut batch = EventBatch::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        batch.push(e, "test", Position::new(0, i as u64 + 1));
    }
    batch
}

fn config(pairs: &[(&str, &str)]) -> PluginConfig {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn count(state: &[u8]) -> u64 {
    let state: serde_json::Value = serde_json::from_slice(state).expect("JSON state");
    state["count"].as_u64().expect("a count")
}

#[test]
fn endless_recursion_overflows_the_stack_as_a_trap_and_the_next_call_works() {
    let mut reducer = PluginInstance::new(&load("fx_recursion"), config(&[]), Limits::default())
        .expect("instantiates");
    let state = reducer.init().unwrap();
    let events = [
        event("1", "count"),
        event("2", "recurse"),
        event("3", "count"),
    ];
    let failure = reducer.apply(state, &batch(&events)).unwrap_err();
    assert_eq!(failure.index, 1, "the recursing event is named");
    match &failure.error {
        // Depending on which stack runs out first: wasmtime's guard, or the guest's own
        // stack in linear memory running into its data.
        CallError::Trap { plugin, .. } | CallError::OutOfMemory { plugin, .. } => {
            assert_eq!(plugin, "fx_recursion")
        }
        other => panic!("expected a trap, got {other}"),
    }
    assert_eq!(count(&failure.before), 1, "the event before it was applied");
    let after = reducer.apply(failure.before, &batch(&events[2..])).unwrap();
    assert_eq!(count(&after), 2);
}

#[test]
fn a_one_gib_state_is_stopped_by_the_memory_limit_and_the_next_call_works() {
    let mut reducer = PluginInstance::new(&load("fx_huge_state"), config(&[]), Limits::default())
        .expect("instantiates");
    let state = reducer.init().unwrap();
    let failure = reducer
        .apply(state.clone(), &batch(&[event("1", "grow")]))
        .unwrap_err();
    assert!(
        matches!(failure.error, CallError::OutOfMemory { limit_mb: 64, .. }),
        "{}",
        failure.error
    );
    let after = reducer
        .apply(state, &batch(&[event("2", "count")]))
        .unwrap();
    assert_eq!(count(&after), 1);
}

#[test]
fn a_state_over_the_size_bound_is_refused_even_when_memory_allows_it() {
    // Room (memory, and fuel to encode it) for a state just over the bound.
    let limits = Limits {
        memory_mb: 256,
        fuel: 5_000_000_000,
    };
    let size_mb = (MAX_STATE_BYTES >> 20) + 8;
    let mut reducer = PluginInstance::new(
        &load("fx_huge_state"),
        config(&[("size_mb", &size_mb.to_string())]),
        limits,
    )
    .expect("instantiates");
    let state = reducer.init().unwrap();
    let events = [event("1", "count"), event("2", "grow"), event("3", "count")];
    let failure = reducer.apply(state, &batch(&events)).unwrap_err();
    assert_eq!(failure.index, 1, "the growing event is named");
    assert!(
        matches!(&failure.error, CallError::BadOutput { message, .. } if message.contains("more than the limit")),
        "{}",
        failure.error
    );
    assert!(
        !failure.error.is_retryable(),
        "it would fail again: dead-letter it"
    );
    let after = reducer.apply(failure.before, &batch(&events[2..])).unwrap();
    assert_eq!(count(&after), 2);
}

#[test]
fn a_million_emitted_events_are_refused_and_the_next_call_works() {
    let mut handler = PluginInstance::new(&load("fx_flood"), config(&[]), Limits::default())
        .expect("instantiates");
    let events = [event("1", "one"), event("2", "flood"), event("3", "one")];
    let failure = handler.handle(&batch(&events)).unwrap_err();
    assert_eq!(failure.index, 1, "the flooding event is named");
    // A million events do not even fit in the plugin's memory; whichever bound stops them
    // first, nothing of them reaches the host's output.
    assert!(
        matches!(
            failure.error,
            CallError::OutOfMemory { .. }
                | CallError::OutOfFuel { .. }
                | CallError::BadOutput { .. }
        ),
        "{}",
        failure.error
    );
    assert_eq!(failure.before.len(), 1, "the first event's output is kept");
    let after = handler.handle(&batch(&events[2..])).unwrap();
    assert_eq!(after[0].len(), 1);
}

#[test]
fn more_emitted_events_than_the_bound_are_refused_even_when_memory_allows_them() {
    let count = (MAX_EMITTED_PER_EVENT * 2).to_string();
    let mut handler = PluginInstance::new(
        &load("fx_flood"),
        config(&[("count", &count)]),
        Limits::default(),
    )
    .expect("instantiates");
    let failure = handler.handle(&batch(&[event("1", "flood")])).unwrap_err();
    match &failure.error {
        CallError::BadOutput { plugin, message } => {
            assert_eq!(plugin, "fx_flood");
            assert!(
                message.contains(&format!("{count} events emitted")),
                "{message}"
            );
        }
        other => panic!("expected the output bound, got {other}"),
    }
    let fine = PluginInstance::new(
        &load("fx_flood"),
        config(&[("count", "100")]),
        Limits::default(),
    )
    .unwrap()
    .handle(&batch(&[event("2", "flood")]))
    .unwrap();
    assert_eq!(
        fine[0].len(),
        100,
        "under the bound, every event is emitted"
    );
}

#[test]
fn a_component_importing_an_interface_eddy_does_not_provide_is_refused_naming_it() {
    let error = engine()
        .load_file(plugin_path("fx_unknown_import"))
        .unwrap_err();
    assert!(
        matches!(error, LoadError::UnsupportedImport { .. }),
        "{error}"
    );
    let text = error.to_string();
    assert!(
        text.contains("fx_unknown_import") && text.contains("fx:vault/secrets"),
        "{text}"
    );
}

#[test]
fn a_100_mb_component_loads_and_runs() {
    // A real plugin padded with a 100 MB custom section: as big as a component gets, and
    // valid. Made here rather than committed.
    let mut bytes = std::fs::read(plugin_path("fx_per_event_reducer")).unwrap();
    let name = b"padding";
    let payload = 100 << 20;
    bytes.push(0); // custom section
    leb128(&mut bytes, (1 + name.len() + payload) as u64);
    leb128(&mut bytes, name.len() as u64);
    bytes.extend_from_slice(name);
    bytes.resize(bytes.len() + payload, b'x');
    let plugin = engine()
        .load("huge", &bytes)
        .expect("a valid component loads");
    assert_eq!(plugin.size(), bytes.len());
    let mut reducer = PluginInstance::new(&plugin, config(&[]), Limits::default()).unwrap();
    let state = reducer.init().unwrap();
    let state = reducer
        .apply(state, &batch(&[event("1", "count")]))
        .unwrap();
    assert_eq!(count(&state), 1);
}

fn leb128(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}
