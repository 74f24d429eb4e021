//! The plugin host as a library: loading and checking components, the sandbox, limits,
//! determinism, and the three kinds in both call forms.

mod support;

use eddy::event::{CloudEvent, Position};
use eddy::plugin::{
    CallError, CallForm, EventBatch, Limits, LoadError, PluginInstance, PluginKind,
};
use support::plugins::{engine, load, plugin_path};

fn event(id: &str, ty: &str, subject: &str) -> CloudEvent {
    CloudEvent::new(id, "/test", ty)
        .with_subject(subject)
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

fn instance(name: &str) -> PluginInstance {
    PluginInstance::new(&load(name), Default::default(), Limits::default()).unwrap()
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).expect("JSON state")
}

#[test]
fn each_example_plugin_is_detected_as_its_world() {
    let cases = [
        ("order_totals", PluginKind::Reducer, CallForm::Packed),
        ("workflow_state", PluginKind::Reducer, CallForm::Packed),
        ("fx_echo_v010", PluginKind::Reducer, CallForm::Batched),
        ("type_filter", PluginKind::Filter, CallForm::Batched),
        ("high_value", PluginKind::Handler, CallForm::Batched),
        (
            "fx_per_event_reducer",
            PluginKind::Reducer,
            CallForm::PerEvent,
        ),
        (
            "fx_per_event_filter",
            PluginKind::Filter,
            CallForm::PerEvent,
        ),
        (
            "fx_per_event_handler",
            PluginKind::Handler,
            CallForm::PerEvent,
        ),
    ];
    for (name, kind, form) in cases {
        let plugin = load(name);
        assert_eq!((plugin.kind(), plugin.world().form), (kind, form), "{name}");
        assert_eq!(plugin.hash().len(), 64, "a SHA-256 in hex");
        assert_eq!(plugin.name(), name);
    }
}

/// Events that use every field, every absent optional, extensions, binary data and non-ASCII.
fn varied_events() -> Vec<CloudEvent> {
    use eddy::event::{Data, ExtensionValue};
    let mut full = event("ü-1", "order.created", "order-ß");
    full.extensions
        .insert("tenant".into(), ExtensionValue::String("acme".into()));
    full.extensions
        .insert("attempt".into(), ExtensionValue::Integer(3));
    full.datacontenttype = Some("application/json".into());
    full.data = Some(
        Data::from_bytes(
            r#"{"qty":2,"note":"ñ"}"#.as_bytes().to_vec(),
            Some("application/json"),
        )
        .unwrap(),
    );
    full.dataschema = Some("https://example.com/order.json".into());
    let bare = CloudEvent::new("2", "/bare", "order.paid");
    let mut binary = CloudEvent::new("3", "/bin", "blob");
    binary.datacontenttype = Some("application/octet-stream".into());
    binary.data = Some(Data::Binary(vec![0, 159, 255, 10]));
    vec![full, bare.clone(), binary, bare]
}

#[test]
fn the_packed_and_record_forms_hand_a_reducer_the_same_events_field_for_field() {
    let events = varied_events();
    let packed = instance("fx_echo");
    let records = instance("fx_echo_v010");
    assert_eq!(packed.plugin().world().to_string(), "reducer-packed");
    assert_eq!(records.plugin().world().to_string(), "reducer-batch");
    let (mut packed, mut records) = (packed, records);
    let all = batch(&events);
    let init = packed.init().unwrap();
    let from_packed = packed.apply(init, &all).unwrap();
    let init = records.init().unwrap();
    let from_records = records.apply(init, &all).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&from_packed),
        String::from_utf8_lossy(&from_records)
    );
    let seen = json(&from_packed);
    assert_eq!(seen.as_array().unwrap().len(), events.len());
    let first = &seen[0];
    assert_eq!(first["id"], "ü-1");
    assert_eq!(first["source"], "/test");
    assert_eq!(first["type"], "order.created");
    assert_eq!(first["specversion"], "1.0");
    assert_eq!(first["subject"], "order-ß");
    assert_eq!(first["time"], "2026-01-01T00:00:00Z");
    assert_eq!(first["datacontenttype"], "application/json");
    assert_eq!(first["dataschema"], "https://example.com/order.json");
    let data: Vec<u8> = serde_json::from_value(first["data"].clone()).unwrap();
    assert_eq!(data, r#"{"qty":2,"note":"ñ"}"#.as_bytes());
    let mut extensions: Vec<(String, String)> =
        serde_json::from_value(first["extensions"].clone()).unwrap();
    extensions.sort();
    assert_eq!(
        extensions,
        [
            ("attempt".to_string(), "3".to_string()),
            ("tenant".to_string(), "acme".to_string())
        ]
    );
    assert_eq!(first["stream"], "test");
    assert_eq!(first["position"], "0-1");
    // After a full event, a bare one carries nothing over from it.
    let bare = &seen[1];
    for absent in ["subject", "time", "datacontenttype", "dataschema", "data"] {
        assert!(bare[absent].is_null(), "{absent}: {bare}");
    }
    assert_eq!(bare["extensions"], serde_json::json!([]));
    let binary: Vec<u8> = serde_json::from_value(seen[2]["data"].clone()).unwrap();
    assert_eq!(binary, [0, 159, 255, 10]);
    assert_eq!(seen[3]["position"], "0-4");

    // One event per call gives the same state as the whole batch in one call.
    let mut one_by_one = packed.init().unwrap();
    for (i, e) in events.iter().enumerate() {
        let mut single = EventBatch::with_capacity(1);
        single.push(e, "test", Position::new(0, i as u64 + 1));
        one_by_one = packed.apply(one_by_one, &single).unwrap();
    }
    assert_eq!(one_by_one, from_packed);
}

#[test]
fn a_file_that_is_not_wasm_is_rejected_with_its_name() {
    let error = engine().load("notes", b"hello, world").unwrap_err();
    assert!(matches!(error, LoadError::NotWasm { .. }));
    assert!(
        error
            .to_string()
            .contains("`notes` is not a WebAssembly file"),
        "{error}"
    );
}

#[test]
fn a_core_module_is_rejected_with_advice() {
    let error = engine().load("core", b"\0asm\x01\0\0\0").unwrap_err();
    assert!(matches!(error, LoadError::CoreModule { .. }));
    assert!(error.to_string().contains("wasm32-wasip2"), "{error}");
}

#[test]
fn a_component_of_another_world_is_rejected_naming_its_exports() {
    let error = engine()
        .load_file(plugin_path("fx_wrong_world"))
        .unwrap_err();
    assert!(matches!(error, LoadError::WrongWorld { .. }), "{error}");
    let text = error.to_string();
    assert!(
        text.contains("fx_wrong_world") && text.contains("[hello]"),
        "{text}"
    );
}

#[test]
fn a_truncated_component_fails_to_compile_with_a_clear_error() {
    let bytes = std::fs::read(plugin_path("order_totals")).unwrap();
    let error = engine().load("cut", &bytes[..bytes.len() / 2]).unwrap_err();
    assert!(matches!(error, LoadError::Compile { .. }), "{error}");
}

#[test]
fn compiled_plugins_are_cached_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let options = eddy::plugin::EngineOptions {
        cache_dir: Some(cache.clone()),
    };
    // A private copy: its bytes cannot change under the test.
    let plugin = dir.path().join("plugin.wasm");
    std::fs::copy(plugin_path("type_filter"), &plugin).unwrap();
    let engine = eddy::plugin::PluginEngine::new(&options).unwrap();
    engine.load_file(&plugin).unwrap();
    let artifacts = compiled_artifacts(&cache);
    assert_eq!(
        artifacts.len(),
        1,
        "the compiled artifact was written: {artifacts:?}"
    );
    // A second engine (as after a restart) loads the same plugin from the cache.
    let again = eddy::plugin::PluginEngine::new(&options).unwrap();
    again.load_file(&plugin).unwrap();
    assert_eq!(
        compiled_artifacts(&cache),
        artifacts,
        "nothing new was compiled"
    );
}

/// The cache's compiled artifacts: wasmtime also keeps `.stats` and `.wip-*` files of its own.
fn compiled_artifacts(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(compiled_artifacts(&path));
        } else if !path.to_string_lossy().contains('.') || path.extension().is_none() {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.contains(".stats") && !name.contains(".wip") && !name.starts_with('.') {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn an_endless_loop_runs_out_of_fuel_and_the_next_call_works() {
    let mut reducer = instance("fx_loop");
    let state = reducer.init().unwrap();
    let events = [
        event("1", "count", "s"),
        event("2", "loop", "s"),
        event("3", "count", "s"),
    ];
    let failure = reducer.apply(state.clone(), &batch(&events)).unwrap_err();
    assert_eq!(failure.index, 1, "the looping event is named");
    assert!(
        matches!(failure.error, CallError::OutOfFuel { .. }),
        "{}",
        failure.error
    );
    assert_eq!(
        json(&failure.before)["count"],
        1,
        "the event before it was applied"
    );
    let after = reducer.apply(failure.before, &batch(&events[2..])).unwrap();
    assert_eq!(json(&after)["count"], 2);
}

#[test]
fn a_memory_bomb_hits_the_memory_limit_and_the_next_call_works() {
    let limits = Limits {
        memory_mb: 16,
        ..Limits::default()
    };
    let mut reducer =
        PluginInstance::new(&load("fx_memory_bomb"), Default::default(), limits).unwrap();
    let state = reducer.init().unwrap();
    let failure = reducer
        .apply(state.clone(), &batch(&[event("1", "bomb", "s")]))
        .unwrap_err();
    match &failure.error {
        CallError::OutOfMemory { plugin, limit_mb } => {
            assert_eq!((plugin.as_str(), *limit_mb), ("fx_memory_bomb", 16));
        }
        other => panic!("expected a memory error, got {other}"),
    }
    let after = reducer
        .apply(state, &batch(&[event("2", "count", "s")]))
        .unwrap();
    assert_eq!(json(&after)["count"], 1);
}

#[test]
fn a_panic_in_the_middle_of_a_batch_is_pinned_to_its_event() {
    let mut reducer = instance("fx_trap");
    let state = reducer.init().unwrap();
    let events: Vec<_> = (0..10)
        .map(|i| event(&i.to_string(), if i == 6 { "trap" } else { "count" }, "s"))
        .collect();
    let failure = reducer.apply(state, &batch(&events)).unwrap_err();
    assert_eq!(failure.index, 6);
    assert!(
        matches!(failure.error, CallError::Trap { .. }),
        "{}",
        failure.error
    );
    assert!(failure.error.is_retryable());
    assert_eq!(json(&failure.before)["count"], 6);
    let next = reducer.apply(failure.before, &batch(&events[7..])).unwrap();
    assert_eq!(json(&next)["count"], 9);
}

#[test]
fn the_sandbox_grants_no_files_sockets_environment_or_arguments() {
    let mut reducer = instance("fx_sandbox_probe");
    let state = reducer.init().unwrap();
    let state = json(
        &reducer
            .apply(state, &batch(&[event("1", "probe", "s")]))
            .unwrap(),
    );
    let probe = &state["probe"];
    for key in [
        "read_passwd",
        "read_dir_dot",
        "read_dir_root",
        "write_escape",
        "tcp_connect",
    ] {
        assert_ne!(
            probe[key], "ok",
            "{key} must fail inside the sandbox: {state}"
        );
        assert!(probe[key].is_string(), "{key}: {state}");
    }
    assert_eq!(probe["env_vars"], 0);
    assert_eq!(probe["args"], 0);
    assert!(
        std::fs::metadata("escape.txt").is_err(),
        "no file was written"
    );
}

#[test]
fn clock_and_randomness_follow_the_event_whatever_the_batch() {
    let events: Vec<_> = (0..9)
        .map(|i| {
            CloudEvent::new(format!("id-{i}"), "/t", "tick")
                .with_subject("s")
                .with_time(&format!("2026-01-01T00:00:0{i}Z"))
                .unwrap()
        })
        .collect();
    let run = |chunk: usize| {
        let mut reducer = instance("fx_clock_random");
        let mut state = reducer.init().unwrap();
        for part in events.chunks(chunk) {
            state = reducer.apply(state, &batch(part)).unwrap();
        }
        json(&state)
    };
    let one = run(1);
    assert_eq!(one, run(4));
    assert_eq!(one, run(9));
    let ticks = one.as_array().unwrap();
    assert_eq!(ticks.len(), 9);
    for (i, tick) in ticks.iter().enumerate() {
        let expected = (1_767_225_600 + i as u64) * 1_000_000_000;
        assert_eq!(tick["now_ns"], expected, "the clock reads the event's time");
    }
    assert_ne!(
        ticks[0]["random"], ticks[1]["random"],
        "each event has its own seed"
    );
}

#[test]
fn a_filter_keeps_events_by_configured_patterns() {
    let config = [("patterns".to_string(), "order.*,*.created".to_string())].into();
    let mut filter = PluginInstance::new(&load("type_filter"), config, Limits::default()).unwrap();
    let events = [
        event("1", "order.paid", "a"),
        event("2", "user.created", "a"),
        event("3", "user.deleted", "a"),
        event("4", "orders.paid", "a"),
    ];
    assert_eq!(
        filter.filter(&batch(&events)).unwrap(),
        [true, true, false, false]
    );
}

#[test]
fn per_event_worlds_work_like_batched_ones() {
    let events = [
        event("1", "keep.a", "s"),
        event("2", "drop.b", "s"),
        event("3", "keep.c", "s"),
    ];
    let mut filter = instance("fx_per_event_filter");
    assert_eq!(filter.filter(&batch(&events)).unwrap(), [true, false, true]);

    let mut reducer = instance("fx_per_event_reducer");
    let state = reducer.init().unwrap();
    let state = json(&reducer.apply(state, &batch(&events)).unwrap());
    assert_eq!(state["count"], 3);
    assert_eq!(state["types"]["keep.a"], 1);

    let mut handler = instance("fx_per_event_handler");
    let outputs = handler.handle(&batch(&events)).unwrap();
    assert_eq!(outputs.len(), 3);
    assert!(
        outputs
            .iter()
            .all(|o| o.len() == 1 && o[0].stream == "echo")
    );
    assert_eq!(outputs[0][0].event.ty, "fx.echo");
    assert_eq!(outputs[0][0].event.subject.as_deref(), Some("s"));
}

#[test]
fn a_handler_emits_events_with_ids_derived_from_the_input() {
    let config = [("threshold".to_string(), "1000".to_string())].into();
    let mut handler = PluginInstance::new(&load("high_value"), config, Limits::default()).unwrap();
    let paid = |id: &str, cents: i64| {
        event(id, "order.paid", "o-1")
            .with_json_data(&serde_json::json!({ "amount_cents": cents }))
            .unwrap()
    };
    let events = [
        paid("p1", 999),
        paid("p2", 1000),
        event("x", "order.created", "o-1"),
    ];
    let outputs = handler.handle(&batch(&events)).unwrap();
    assert_eq!(outputs.iter().map(Vec::len).collect::<Vec<_>>(), [0, 1, 0]);
    let emitted = &outputs[1][0];
    assert_eq!(emitted.stream, "alerts");
    assert_eq!(emitted.event.ty, "order.high_value");
    assert_eq!(emitted.event.source, "eddy://plugin/high_value");
    assert_eq!(
        emitted.event.time, events[1].time,
        "the output carries the input's time"
    );
    let data: serde_json::Value =
        serde_json::from_slice(emitted.event.data.as_ref().unwrap().as_bytes()).unwrap();
    assert_eq!(data["amount_cents"], 1000);
    // A retry of the same input gives the same id, so the store deduplicates it.
    let again = handler.handle(&batch(&events)).unwrap();
    assert_eq!(again[1][0].event.id, emitted.event.id);
}

#[test]
fn retry_and_reject_errors_name_the_event_and_keep_earlier_results() {
    let mut handler = instance("fx_reject");
    let events = [
        event("1", "ok", "s"),
        event("2", "bad", "s"),
        event("3", "ok", "s"),
    ];
    let failure = handler.handle(&batch(&events)).unwrap_err();
    assert_eq!(failure.index, 1);
    assert!(
        matches!(failure.error, CallError::Reject { .. }),
        "{}",
        failure.error
    );
    assert!(!failure.error.is_retryable());
    assert_eq!(failure.before.len(), 1, "the first event's output is kept");
    assert_eq!(failure.before[0][0].event.ty, "fx.ok");

    let failure = handler
        .handle(&batch(&[event("4", "flaky", "s")]))
        .unwrap_err();
    assert!(
        matches!(failure.error, CallError::Retry { .. }),
        "{}",
        failure.error
    );
    assert!(failure.error.is_retryable());
}

#[test]
fn the_fuel_a_plugin_uses_is_counted_and_grows_with_the_work() {
    let mut reducer = instance("order_totals");
    let state = reducer.init().unwrap();
    reducer.take_fuel_used();
    let one = [event("1", "order.created", "o")];
    let state = reducer.apply(state, &batch(&one)).unwrap();
    let fuel_one = reducer.take_fuel_used();
    assert!(fuel_one > 0, "a call uses fuel");
    let many: Vec<_> = (0..50)
        .map(|i| event(&i.to_string(), "order.paid", "o"))
        .collect();
    reducer.apply(state, &batch(&many)).unwrap();
    assert!(
        reducer.take_fuel_used() > fuel_one,
        "fifty events use more than one"
    );
    assert_eq!(reducer.take_fuel_used(), 0, "taking resets the count");
}

#[test]
fn a_reducer_called_as_a_filter_is_refused_not_run() {
    let mut reducer = instance("order_totals");
    let failure = reducer.filter(&batch(&[event("1", "t", "s")])).unwrap_err();
    assert!(
        failure
            .error
            .to_string()
            .contains("is a reducer, not a filter")
    );
}
