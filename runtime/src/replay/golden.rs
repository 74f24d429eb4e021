//! Golden-state tests: a folder of events, the plugin to fold them with, and the states they
//! must give (`eddy test`). For a filter or a handler, `expected.json` holds the JSON Lines
//! `eddy replay` prints (the kept or emitted events), compared line by line.
//!
//! A case is a folder with `events.jsonl`, `expected.json` (the states, exactly as
//! `eddy replay` prints them) and `case.toml`:
//!
//! ```toml
//! plugin = "../../target/wasm32-wasip2/release/order_totals.wasm"  # relative to the case
//! config = { threshold = "10000" }   # optional
//! until = "e-17"                     # optional: an event id or an RFC 3339 time
//! subject = "o-1"                    # optional: expected.json then holds that state alone
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::diff::{Difference, diff, render as render_diff, value_at};
use super::trace::trace_states;
use super::{ReplayOptions, ReplayOutput, SourcedEvent, Until, render, replay};
use crate::event::{JsonlReader, Position};
use crate::plugin::{Limits, PluginConfig, PluginEngine, PluginInstance, PluginKind};

/// The file that marks a folder as a case.
pub const CASE_FILE: &str = "case.toml";

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    plugin: PathBuf,
    #[serde(default)]
    config: PluginConfig,
    until: Option<String>,
    subject: Option<String>,
}

/// How one case went.
#[derive(Debug)]
pub enum CaseOutcome {
    /// The states were as expected.
    Passed,
    /// `expected.json` was rewritten from the actual states (`--update`).
    Updated,
    /// The states differ; the report says where and how.
    Failed(String),
    /// The case could not run (a missing file, a bad `case.toml`, a plugin that fails).
    Broken(String),
}

/// Every case at or below `paths`, sorted. A path that is a case is taken as it is.
pub fn find_cases(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut cases = Vec::new();
    for path in paths {
        if !path.exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{}: no such file or folder", path.display()),
            ));
        }
        collect(path, &mut cases)?;
    }
    cases.sort();
    cases.dedup();
    Ok(cases)
}

fn collect(dir: &Path, cases: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if dir.join(CASE_FILE).is_file() {
        cases.push(dir.to_path_buf());
        return Ok(());
    }
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let hidden_or_build = path.file_name().is_some_and(|n| {
            n == "target" || n == "node_modules" || n.to_string_lossy().starts_with('.')
        });
        if path.is_dir() && !hidden_or_build {
            collect(&path, cases)?;
        }
    }
    Ok(())
}

/// Runs one case; with `update`, rewrites `expected.json` instead of failing.
pub fn run_case(engine: &PluginEngine, dir: &Path, update: bool) -> CaseOutcome {
    match try_run_case(engine, dir, update) {
        Ok(outcome) => outcome,
        Err(message) => CaseOutcome::Broken(message),
    }
}

fn try_run_case(engine: &PluginEngine, dir: &Path, update: bool) -> Result<CaseOutcome, String> {
    let case_path = dir.join(CASE_FILE);
    let text =
        std::fs::read_to_string(&case_path).map_err(|e| format!("{}: {e}", case_path.display()))?;
    let case: CaseFile =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", case_path.display()))?;
    let plugin_path = dir.join(&case.plugin);
    let plugin = engine.load_file(&plugin_path).map_err(|e| e.to_string())?;
    let events = read_events(&dir.join("events.jsonl"))?;
    let options = ReplayOptions {
        subject: case.subject.clone(),
        until: case.until.as_deref().map(Until::parse),
        ..ReplayOptions::default()
    };
    let mut instance = PluginInstance::new(&plugin, case.config.clone(), Limits::default())
        .map_err(|e| e.to_string())?;
    let output = replay(&mut instance, events.iter().cloned().map(Ok), &options)
        .map_err(|e| e.to_string())?;
    let actual_text = render(&output, case.subject.as_deref());

    let expected_path = dir.join("expected.json");
    let expected_text = match std::fs::read_to_string(&expected_path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && update => None,
        Err(e) => return Err(format!("{}: {e}", expected_path.display())),
    };
    if plugin.kind() != PluginKind::Reducer {
        // Filters and handlers: expected.json holds the JSON Lines `eddy replay` prints.
        let expected_lines = expected_text
            .as_deref()
            .map(json_lines)
            .transpose()
            .map_err(|e| format!("{}: {e}", expected_path.display()))?;
        let actual_lines = json_lines(&actual_text).expect("render prints JSON Lines");
        if expected_lines.as_ref() == Some(&actual_lines) {
            return Ok(CaseOutcome::Passed);
        }
        if update {
            std::fs::write(&expected_path, &actual_text)
                .map_err(|e| format!("{}: {e}", expected_path.display()))?;
            return Ok(CaseOutcome::Updated);
        }
        return Ok(CaseOutcome::Failed(explain_lines(
            &expected_lines.unwrap_or_default(),
            &actual_lines,
        )));
    }
    let expected: Option<Value> = match &expected_text {
        Some(text) => Some(
            serde_json::from_str(text)
                .map_err(|e| format!("{}: not valid JSON: {e}", expected_path.display()))?,
        ),
        None => None,
    };
    let actual: Value = serde_json::from_str(&actual_text).expect("render prints JSON");
    if expected.as_ref() == Some(&actual) {
        return Ok(CaseOutcome::Passed);
    }
    if update {
        std::fs::write(&expected_path, &actual_text)
            .map_err(|e| format!("{}: {e}", expected_path.display()))?;
        return Ok(CaseOutcome::Updated);
    }
    let expected = expected.unwrap_or(Value::Null);
    let ReplayOutput::States(_) = output else {
        unreachable!("a reducer replay gives states")
    };
    let report =
        explain(&mut instance, &events, &options, &expected, &actual).map_err(|e| e.to_string())?;
    Ok(CaseOutcome::Failed(report))
}

/// Each non-empty line parsed as JSON.
fn json_lines(text: &str) -> Result<Vec<Value>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| format!("line {}: not valid JSON: {e}", i + 1))
        })
        .collect()
}

/// Names the first line where a filter's or handler's output differs.
fn explain_lines(expected: &[Value], actual: &[Value]) -> String {
    let mut report = format!(
        "output differs: {} line(s) expected, {} produced\n",
        expected.len(),
        actual.len()
    );
    if let Some(i) =
        (0..expected.len().max(actual.len())).find(|&i| expected.get(i) != actual.get(i))
    {
        let show = |v: Option<&Value>| v.map_or("(none)".to_string(), Value::to_string);
        report += &format!("  first difference at line {}:\n", i + 1);
        report += &format!("    expected {}\n", show(expected.get(i)));
        report += &format!("    actual   {}\n", show(actual.get(i)));
    }
    report
}

fn read_events(path: &Path) -> Result<Vec<SourcedEvent>, String> {
    let name = path.display().to_string();
    JsonlReader::open(path)
        .map_err(|e| e.to_string())?
        .map(|item| {
            item.map(|(line, event)| SourcedEvent {
                event,
                position: Position::new(0, line as u64),
                origin: format!("{name}:{line}"),
            })
            .map_err(|e| e.to_string())
        })
        .collect()
}

/// Says, per differing subject, what differs and after which event it went wrong.
fn explain(
    instance: &mut PluginInstance,
    events: &[SourcedEvent],
    options: &ReplayOptions,
    expected: &Value,
    actual: &Value,
) -> Result<String, super::ReplayError> {
    // With `subject`, both sides are that subject's state alone.
    let as_map = |value: &Value| -> BTreeMap<String, Value> {
        match (&options.subject, value) {
            (Some(subject), v) => BTreeMap::from([(subject.clone(), v.clone())]),
            (None, Value::Object(map)) => map.clone().into_iter().collect(),
            (None, other) => BTreeMap::from([("(expected.json)".to_string(), other.clone())]),
        }
    };
    let expected = as_map(expected);
    let actual = as_map(actual);
    let mut subjects: Vec<&String> = expected.keys().chain(actual.keys()).collect();
    subjects.sort();
    subjects.dedup();
    let mut report = String::new();
    for subject in subjects {
        match (expected.get(subject), actual.get(subject)) {
            (Some(e), Some(a)) if e == a => {}
            (Some(_), None) => {
                report += &format!("subject {subject:?}: expected, but no event has it\n");
            }
            (None, Some(_)) => {
                report += &format!("subject {subject:?}: not in expected.json\n");
            }
            (Some(e), Some(a)) => {
                let differences = diff(e, a);
                let own: Vec<SourcedEvent> = events_until(events, options)
                    .filter(|s| s.event.subject.as_deref().unwrap_or("") == subject)
                    .cloned()
                    .collect();
                let states = trace_states(instance, &own, &options.stream)?;
                report += &format!("subject {subject:?}: state differs\n");
                match first_divergence(&states, e, &differences) {
                    Some(i) => {
                        let sourced = &own[i];
                        report += &format!(
                            "  first differs after event `{}` ({})\n",
                            sourced.event.id, sourced.origin
                        );
                    }
                    None => report += "  (no event after which it starts to differ was found)\n",
                }
                for line in render_diff(&differences, "expected", "actual").lines() {
                    report += &format!("  {line}\n");
                }
            }
            (None, None) => {}
        }
    }
    Ok(report)
}

/// The events a replay with `options` reads (up to `until`).
fn events_until<'a>(
    events: &'a [SourcedEvent],
    options: &'a ReplayOptions,
) -> impl Iterator<Item = &'a SourcedEvent> {
    let mut done = false;
    events.iter().filter(move |s| {
        if done {
            return false;
        }
        match &options.until {
            Some(Until::Time(limit))
                if s.event
                    .time
                    .as_ref()
                    .is_some_and(|t| t.unix_nanos() > *limit) =>
            {
                done = true;
                false
            }
            Some(Until::EventId(id)) if *id == s.event.id => {
                done = true;
                true
            }
            _ => true,
        }
    })
}

/// The index of the event after which the state left the expected final value for good: for
/// each differing path, the last state that still agreed with `expected` there; the earliest
/// such point over all paths. `None` when no state ever agreed.
fn first_divergence(
    states: &[Value],
    expected: &Value,
    differences: &[Difference],
) -> Option<usize> {
    differences
        .iter()
        .filter_map(|d| {
            let want = value_at(expected, &d.path);
            states
                .iter()
                .rposition(|state| value_at(state, &d.path) == want)
        })
        .filter(|&agreed| agreed < states.len() - 1)
        .min()
}
