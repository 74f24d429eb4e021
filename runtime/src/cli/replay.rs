//! `eddy replay`: fold a file of events (or a running Eddy's stream) through a plugin and
//! print the result.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::client::{Client, UrlArgs};
use crate::event::{JsonlReader, Position};
use crate::plugin::{EngineOptions, Limits, PluginConfig, PluginEngine, PluginInstance};
use crate::replay::{self, ReplayOptions, SourcedEvent, Until};

/// Arguments of `eddy replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The plugin: a WebAssembly component (`.wasm`) implementing an eddy:plugin world.
    #[arg(long)]
    plugin: PathBuf,
    /// The events: JSON Lines, one CloudEvents 1.0 structured-mode event per line.
    #[arg(long, required_unless_present = "stream", conflicts_with = "stream")]
    events: Option<PathBuf>,
    /// Instead of `--events`: the history of this stream, read from the running Eddy at
    /// `--url`.
    #[arg(long)]
    stream: Option<String>,
    #[command(flatten)]
    url: UrlArgs,
    /// Only this subject: reducers print this subject's state alone.
    #[arg(long)]
    subject: Option<String>,
    /// Stop after the event with this id, or before the first event later than this RFC 3339
    /// time.
    #[arg(long, value_name = "EVENT-ID|RFC3339")]
    until: Option<String>,
    /// Events per plugin call. The output is the same for every value.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    batch: u32,
    /// Plugin configuration, `key=value`; repeat for several keys.
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    config: Vec<(String, String)>,
    /// Write the result to this file instead of standard output.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Fuel (CPU budget) per event.
    #[arg(long, default_value_t = Limits::default().fuel)]
    fuel: u64,
    /// Memory limit of the plugin instance, in MiB.
    #[arg(long, default_value_t = Limits::default().memory_mb)]
    memory_mb: u64,
    /// Shadow replay: also fold the events through this (older) reducer and report, per
    /// subject, whether the final states match and where they first diverge. Exits 1 when any
    /// subject differs.
    #[arg(long, value_name = "OLD.wasm")]
    compare: Option<PathBuf>,
    /// With --compare: print the comparison as JSON.
    #[arg(long, requires = "compare")]
    json: bool,
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("`{text}` is not `key=value`")),
    }
}

/// Runs `eddy replay`.
pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let engine = PluginEngine::new(&EngineOptions::with_default_cache())?;
    let plugin = engine.load_file(&args.plugin)?;
    let config: PluginConfig = args.config.iter().cloned().collect();
    let limits = Limits {
        fuel: args.fuel,
        memory_mb: args.memory_mb,
    };
    let mut instance = PluginInstance::new(&plugin, config.clone(), limits)?;
    if let Some(old_path) = &args.compare {
        let old = engine.load_file(old_path)?;
        let old_instance = PluginInstance::new(&old, config, limits)?;
        return compare(&args, instance, old_instance);
    }

    let options = options_of(&args);
    let Some(events_path) = &args.events else {
        let events = stream_events(&args)?;
        let output = replay::replay(&mut instance, events.into_iter().map(Ok), &options)?;
        let text = replay::render(&output, args.subject.as_deref());
        write_output(args.output.as_ref(), &text)?;
        return Ok(ExitCode::SUCCESS);
    };
    let file_len = std::fs::metadata(events_path)
        .with_context(|| format!("{}", events_path.display()))?
        .len();
    let progress = indicatif::ProgressBar::with_draw_target(
        Some(file_len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} replaying [{bar:40}] {bytes}/{total_bytes} ({eta})",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    let file_name = events_path.display().to_string();
    let mut reader = JsonlReader::open(events_path)?;
    let events = std::iter::from_fn(|| {
        let item = reader.next()?;
        progress.set_position(reader.bytes_read());
        Some(sourced(&file_name, item))
    });
    let output = replay::replay(&mut instance, events, &options);
    progress.finish_and_clear();
    let output = output?;
    let text = replay::render(&output, args.subject.as_deref());
    write_output(args.output.as_ref(), &text)?;
    Ok(ExitCode::SUCCESS)
}

fn options_of(args: &ReplayArgs) -> ReplayOptions {
    ReplayOptions {
        batch: args.batch as usize,
        subject: args.subject.clone(),
        until: args.until.as_deref().map(Until::parse),
        stream: match (&args.stream, &args.events) {
            (Some(stream), _) => stream.clone(),
            (None, Some(events)) => events
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "replay".to_string()),
            (None, None) => "replay".to_string(),
        },
    }
}

/// `--stream`: the stream's whole history from the running Eddy, each event named
/// `<stream>@<position>` in messages.
fn stream_events(args: &ReplayArgs) -> anyhow::Result<Vec<SourcedEvent>> {
    let stream = args.stream.as_deref().unwrap_or_default();
    let client = Client::for_url(&args.url);
    Ok(client
        .events(stream, None, None, None)?
        .into_iter()
        .map(|(position, event)| SourcedEvent {
            event,
            position,
            origin: format!("{stream}@{position}"),
        })
        .collect())
}

fn sourced(
    file_name: &str,
    item: Result<(usize, crate::event::CloudEvent), crate::event::JsonlError>,
) -> anyhow::Result<SourcedEvent> {
    let (line, event) = item?;
    Ok(SourcedEvent {
        event,
        position: Position::new(0, line as u64),
        origin: format!("{file_name}:{line}"),
    })
}

fn write_output(path: Option<&PathBuf>, text: &str) -> anyhow::Result<()> {
    match path {
        Some(path) => std::fs::write(path, text).with_context(|| format!("{}", path.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
        }
    }
    Ok(())
}

/// `--compare`: shadow replay of the new plugin against the old one.
fn compare(
    args: &ReplayArgs,
    mut new: PluginInstance,
    mut old: PluginInstance,
) -> anyhow::Result<ExitCode> {
    let options = options_of(args);
    let events: Vec<SourcedEvent> = match &args.events {
        Some(path) => {
            let file_name = path.display().to_string();
            JsonlReader::open(path)?
                .map(|item| sourced(&file_name, item))
                .collect::<anyhow::Result<_>>()?
        }
        None => stream_events(args)?,
    };
    let comparison = replay::compare(&mut new, &mut old, &events, &options)?;
    let text = if args.json {
        serde_json::to_string_pretty(&comparison)? + "\n"
    } else {
        render_comparison(&comparison, new.plugin().name(), old.plugin().name())
    };
    write_output(args.output.as_ref(), &text)?;
    Ok(if comparison.differed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn render_comparison(comparison: &replay::Comparison, new: &str, old: &str) -> String {
    let mut text = String::new();
    for (subject, divergence) in &comparison.differences {
        match &divergence.event {
            Some(event) => {
                text += &format!(
                    "{subject:?}: differs, first after event `{}` ({})\n",
                    event.id, event.origin
                );
            }
            None => text += &format!("{subject:?}: differs before any event\n"),
        }
        for d in &divergence.diff {
            let show = |v: &Option<serde_json::Value>| {
                v.as_ref().map_or("(absent)".to_string(), |v| v.to_string())
            };
            let path = if d.path.is_empty() {
                "(state)"
            } else {
                &d.path
            };
            text += &format!(
                "    {path}: {old} {}, {new} {}\n",
                show(&d.left),
                show(&d.right)
            );
        }
    }
    text += &format!(
        "{} subjects: {} match, {} differ\n",
        comparison.matched + comparison.differed,
        comparison.matched,
        comparison.differed
    );
    text
}
