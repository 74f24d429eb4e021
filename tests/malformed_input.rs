//! Bounded fuzzing (proptest, in every CI run) of the parsers of what users write and send:
//! the JSON Lines events reader, the config file, plugin sidecars, and structured and batched
//! CloudEvents. Whatever the bytes, they give events or an error naming the file (and the
//! line) or the field, and never panic.

mod support;

use std::path::Path;

use eddy::config::EddyConfig;
use eddy::event::{CloudEvent, JsonlError, JsonlReader};
use eddy::subscription::parse_sidecar;
use proptest::prelude::*;
use support::orders::config;

/// Cases per property: enough to shake the parsers, cheap enough for CI (well under a second
/// each).
const CASES: u32 = 256;

const EVENT: &str = r#"{"specversion":"1.0","id":"e-1","source":"/shop","type":"order.paid","subject":"o-1","time":"2026-01-01T00:00:00Z","data":{"amount_cents":1250}}"#;

const CONFIG: &str = "[api]\nlisten = \"127.0.0.1:8080\"\n\n[[subscription]]\nname = \"totals\"\nplugin = \"order-totals\"\nstreams = [\"orders\"]\nbatch = 64\n\n[subscription.retry]\nmax_attempts = 3\n\n[subscription.limits]\nfuel = 1000\n";

const SIDECAR: &str = "streams = [\"orders\"]\ntypes = [\"order.*\"]\npartitions = 2\nquarantine_after = 3\n\n[retry]\nmax_attempts = 3\n";

/// An edit of a valid text: cut it, or overwrite, insert or delete bytes at some places.
#[derive(Debug, Clone)]
enum Edit {
    Truncate(usize),
    Overwrite(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Overwrite(at, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Insert(at, b)),
        any::<usize>().prop_map(Edit::Delete),
    ]
}

fn mutate(text: &str, edits: &[Edit]) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for edit in edits {
        let len = bytes.len().max(1);
        match *edit {
            Edit::Truncate(at) => bytes.truncate(at % len),
            Edit::Overwrite(at, b) if !bytes.is_empty() => bytes[at % len] = b,
            Edit::Insert(at, b) => bytes.insert(at % (bytes.len() + 1), b),
            Edit::Delete(at) if !bytes.is_empty() => {
                bytes.remove(at % len);
            }
            _ => {}
        }
    }
    bytes
}

/// A file's text: mostly a mutated valid one, sometimes bytes from nowhere.
fn text_like(valid: &'static str) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::vec(edit(), 1..8).prop_map(move |edits| mutate(valid, &edits)),
        1 => proptest::collection::vec(any::<u8>(), 0..300),
    ]
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn any_events_file_gives_events_or_an_error_naming_its_line(
        lines in proptest::collection::vec(text_like(EVENT), 1..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, lines.join(&b'\n')).unwrap();
        match JsonlReader::read_all(&path) {
            Ok(events) => prop_assert!(events.len() <= lines.len()),
            Err(JsonlError::Event { line, .. }) => {
                prop_assert!((1..=lines.len()).contains(&line));
            }
            // Bytes that are not UTF-8 are refused by the reader while reading.
            Err(error @ JsonlError::Io { .. }) => {
                prop_assert!(error.to_string().contains("events.jsonl"), "{}", error);
            }
        }
    }

    #[test]
    fn any_config_file_parses_or_names_the_file(bytes in text_like(CONFIG)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(error) = EddyConfig::parse(Path::new("eddy.toml"), &text) {
            prop_assert!(error.to_string().starts_with("eddy.toml"), "{}", error);
        }
    }

    #[test]
    fn any_sidecar_parses_or_names_the_file_and_line(bytes in text_like(SIDECAR)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(error) = parse_sidecar(Path::new("p/totals.toml"), "totals", &text) {
            prop_assert!(error.line >= 1 && error.line <= text.lines().count().max(1) + 1, "{}", error);
            prop_assert!(error.to_string().starts_with("p/totals.toml"), "{}", error);
        }
    }

    #[test]
    fn any_structured_event_parses_to_an_event_that_round_trips_or_is_refused(
        bytes in text_like(EVENT),
    ) {
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(event) = CloudEvent::from_json(&text) {
            let again = CloudEvent::from_json(&event.to_json()).expect("what it wrote parses");
            prop_assert_eq!(again, event);
        }
    }

    #[test]
    fn any_batch_parses_or_names_the_event_at_fault(
        events in proptest::collection::vec(text_like(EVENT), 0..5),
    ) {
        let mut text = b"[".to_vec();
        text.extend(events.join(&b',')[..].iter());
        text.push(b']');
        let text = String::from_utf8_lossy(&text);
        if let Err((index, _)) = CloudEvent::batch_from_json(&text) {
            prop_assert!(index.is_none_or(|i| i < events.len().max(1)), "{:?}", index);
        }
    }
}

#[test]
fn deeply_nested_data_is_kept_as_bytes_without_overflowing_the_stack() {
    // The host keeps `data` as the JSON text it was sent (it never builds a tree of it), so a
    // 100,000-deep nesting costs its bytes, not a stack frame per level.
    let depth = 100_000;
    let data = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let text = EVENT.replace(r#"{"amount_cents":1250}"#, &data);
    let event = CloudEvent::from_json(&text).expect("valid JSON");
    assert_eq!(event.data.as_ref().unwrap().as_bytes(), data.as_bytes());
    assert_eq!(CloudEvent::from_json(&event.to_json()).unwrap(), event);
    let batch = format!("[{text},{text}]");
    assert_eq!(CloudEvent::batch_from_json(&batch).unwrap().len(), 2);
}
