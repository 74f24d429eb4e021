//! `eddy record`: capture real history from a running Eddy as a golden-state test case.
//!
//! Writes `events.jsonl` (the stream's events, optionally of one subject and between two
//! positions) and `case.toml`. With `--plugin`, `expected.json` is computed right away by
//! that reducer (as `eddy test --update` would); without it, `case.toml` names a placeholder
//! plugin to fill in before running `eddy test --update <folder>`.

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use super::client::{Client, UrlArgs};
use crate::event::Position;
use crate::plugin::{EngineOptions, PluginEngine};
use crate::replay::golden::{CASE_FILE, CaseOutcome, run_case};

/// What `case.toml` names when no `--plugin` is given.
const PLACEHOLDER: &str = "CHANGE-ME.wasm";

/// Arguments of `eddy record`.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// The stream to record.
    #[arg(long)]
    stream: String,
    /// Only this subject's events (the case then checks that subject's state alone).
    #[arg(long)]
    subject: Option<String>,
    /// Only events after this position (exclusive, like the API's `from`).
    #[arg(long, value_name = "POSITION")]
    from: Option<Position>,
    /// Only events up to this position (inclusive).
    #[arg(long, value_name = "POSITION")]
    to: Option<Position>,
    /// The reducer that computes `expected.json` now; without it, fill in `case.toml` and run
    /// `eddy test --update <folder>`.
    #[arg(long)]
    plugin: Option<PathBuf>,
    /// The new case's folder (created; an existing case is not overwritten).
    folder: PathBuf,
    #[command(flatten)]
    url: UrlArgs,
}

/// Runs `eddy record`.
pub fn run(args: RecordArgs) -> anyhow::Result<ExitCode> {
    if args.folder.join(CASE_FILE).exists() {
        bail!(
            "{}: a case exists there already; record into a new folder",
            args.folder.display()
        );
    }
    let client = Client::for_url(&args.url);
    let events = client.events(&args.stream, args.subject.as_deref(), args.from, args.to)?;
    if events.is_empty() {
        bail!("no events to record in stream `{}`", args.stream);
    }
    std::fs::create_dir_all(&args.folder).with_context(|| format!("{}", args.folder.display()))?;
    let mut lines = String::new();
    for (_, event) in &events {
        lines += &event.to_json();
        lines.push('\n');
    }
    std::fs::write(args.folder.join("events.jsonl"), lines)?;

    let plugin = match &args.plugin {
        Some(path) => relative_to(&args.folder, path)?,
        None => PathBuf::from(PLACEHOLDER),
    };
    let first = events.first().map(|(p, _)| *p).unwrap_or_default();
    let last = events.last().map(|(p, _)| *p).unwrap_or_default();
    let mut case = format!(
        "# Recorded by `eddy record` from stream `{}`: {} events, positions {first} to {last}.\n",
        args.stream,
        events.len()
    );
    if args.plugin.is_none() {
        case +=
            "# Name the reducer (relative to this folder), then run `eddy test --update` here.\n";
    }
    case += &format!("plugin = {}\n", toml_string(&plugin.to_string_lossy()));
    if let Some(subject) = &args.subject {
        case += &format!("subject = {}\n", toml_string(subject));
    }
    std::fs::write(args.folder.join(CASE_FILE), case)?;

    if args.plugin.is_none() {
        println!(
            "recorded {} events into {}; set `plugin` in its case.toml, then run `eddy test --update {}`",
            events.len(),
            args.folder.display(),
            args.folder.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let engine = PluginEngine::new(&EngineOptions::with_default_cache())?;
    match run_case(&engine, &args.folder, true) {
        CaseOutcome::Passed | CaseOutcome::Updated => {
            println!(
                "recorded {} events and their expected states into {}",
                events.len(),
                args.folder.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        CaseOutcome::Failed(report) | CaseOutcome::Broken(report) => {
            bail!("recorded the events, but computing expected.json failed: {report}")
        }
    }
}

/// `target` as a path relative to `dir` (both made absolute), as `case.toml` wants it.
fn relative_to(dir: &Path, target: &Path) -> anyhow::Result<PathBuf> {
    let dir = std::path::absolute(dir)?;
    let target =
        std::fs::canonicalize(target).with_context(|| format!("--plugin {}", target.display()))?;
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let dir_parts: Vec<Component> = dir.components().collect();
    let target_parts: Vec<Component> = target.components().collect();
    let common = dir_parts
        .iter()
        .zip(&target_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = PathBuf::new();
    for _ in common..dir_parts.len() {
        out.push("..");
    }
    for part in &target_parts[common..] {
        out.push(part);
    }
    Ok(out)
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}
