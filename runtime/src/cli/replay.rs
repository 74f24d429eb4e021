//! `eddy replay`: fold a file of events through a plugin and print the result.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

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
    #[arg(long)]
    events: PathBuf,
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
    let config: PluginConfig = args.config.into_iter().collect();
    let limits = Limits {
        fuel: args.fuel,
        memory_mb: args.memory_mb,
    };
    let mut instance = PluginInstance::new(&plugin, config, limits)?;

    let file_len = std::fs::metadata(&args.events)
        .with_context(|| format!("{}", args.events.display()))?
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
    let file_name = args.events.display().to_string();
    let mut reader = JsonlReader::open(&args.events)?;
    let events = std::iter::from_fn(|| {
        let item = reader.next()?;
        progress.set_position(reader.bytes_read());
        Some(
            item.map_err(anyhow::Error::from)
                .map(|(line, event)| SourcedEvent {
                    event,
                    position: Position::new(0, line as u64),
                    origin: format!("{file_name}:{line}"),
                }),
        )
    });
    let options = ReplayOptions {
        batch: args.batch as usize,
        subject: args.subject.clone(),
        until: args.until.as_deref().map(Until::parse),
        stream: args
            .events
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "replay".to_string()),
    };
    let output = replay::replay(&mut instance, events, &options);
    progress.finish_and_clear();
    let output = output?;
    let text = replay::render(&output, args.subject.as_deref());
    match &args.output {
        Some(path) => std::fs::write(path, text).with_context(|| format!("{}", path.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
