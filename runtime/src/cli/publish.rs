//! `eddy publish`: one event from flags, or a JSON Lines file of events in batches.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::{Value, json};

use super::client::{Client, ClientArgs, cell, encode, print_json, print_table};
use crate::event::{CloudEvent, JsonlReader};

/// Arguments of `eddy publish`.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// The stream to publish to.
    #[arg(long)]
    stream: String,
    /// The event's type (with `--data`).
    #[arg(
        long = "type",
        required_unless_present = "file",
        conflicts_with = "file"
    )]
    ty: Option<String>,
    /// The event's subject (the aggregate key).
    #[arg(long, conflicts_with = "file")]
    subject: Option<String>,
    /// The event's source.
    #[arg(long, default_value = "/eddy-cli", conflicts_with = "file")]
    source: String,
    /// The event's id (default: generated). Publishing the same source + id twice stores
    /// it once, so pass one to make a retry safe.
    #[arg(long, conflicts_with = "file")]
    id: Option<String>,
    /// The event's data, as JSON (a string needs its quotes: '"text"').
    #[arg(long, required_unless_present = "file", conflicts_with = "file")]
    data: Option<String>,
    /// A JSON Lines file of structured-mode CloudEvents, one per line.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Events per request with `--file` (each request is stored atomically).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    batch: u64,
    #[command(flatten)]
    client: ClientArgs,
}

/// Publishes and prints each event's position (or a summary for a file).
pub fn run(args: PublishArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client);
    let path = format!("/api/v1/streams/{}/events", encode(&args.stream));
    let results = match &args.file {
        Some(file) => publish_file(&client, &path, file, args.batch as usize, args.client.json)?,
        None => {
            let event = event_from_flags(&args)?;
            let answer = client.post(
                &path,
                "application/cloudevents+json",
                event.to_json().as_bytes(),
            )?;
            answer["results"].as_array().cloned().unwrap_or_default()
        }
    };
    if args.client.json {
        print_json(&json!({ "results": results }))?;
    } else if args.file.is_some() {
        let duplicates = results.iter().filter(|r| r["duplicate"] == true).count();
        println!(
            "published {} events to `{}` ({duplicates} were duplicates and stored once)",
            results.len(),
            args.stream
        );
    } else {
        let rows: Vec<Vec<String>> = results
            .iter()
            .map(|r| vec![cell(&r["id"]), cell(&r["position"]), cell(&r["duplicate"])])
            .collect();
        print_table(&["ID", "POSITION", "DUPLICATE"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}

fn event_from_flags(args: &PublishArgs) -> anyhow::Result<CloudEvent> {
    let data: Value = serde_json::from_str(args.data.as_deref().unwrap_or("null"))
        .context("--data must be JSON (a string needs its quotes: '\"text\"')")?;
    let id = args.id.clone().unwrap_or_else(generated_id);
    let mut event = CloudEvent::new(id, args.source.clone(), args.ty.clone().unwrap_or_default())
        .with_json_data(&data)?;
    event.subject = args.subject.clone();
    event.validate()?;
    Ok(event)
}

/// A unique enough id: time, process and a hash of both, so two quick runs differ.
fn generated_id() -> String {
    use sha2::{Digest, Sha256};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let seed = format!("{}-{}", now.as_nanos(), std::process::id());
    hex::encode(&Sha256::digest(seed.as_bytes())[..12])
}

fn publish_file(
    client: &Client,
    path: &str,
    file: &std::path::Path,
    batch: usize,
    quiet: bool,
) -> anyhow::Result<Vec<Value>> {
    let total = std::fs::metadata(file)
        .with_context(|| file.display().to_string())?
        .len();
    let progress = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::stderr(),
        )
    };
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} publishing [{bar:40}] {bytes}/{total_bytes} ({eta})",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    let mut reader = JsonlReader::open(file)?;
    let mut results = Vec::new();
    let mut chunk: Vec<String> = Vec::with_capacity(batch);
    let mut first_line = 1;
    loop {
        let next = reader.next().transpose()?;
        if let Some((line, event)) = &next {
            if chunk.is_empty() {
                first_line = *line;
            }
            chunk.push(event.to_json());
        }
        if chunk.len() == batch || (next.is_none() && !chunk.is_empty()) {
            let body = format!("[{}]", chunk.join(","));
            let answer = client
                .post(path, "application/cloudevents-batch+json", body.as_bytes())
                .with_context(|| {
                    format!(
                        "{}: the batch from line {first_line} was not published ({} events before it were; publishing the file again is safe: duplicates are stored once)",
                        file.display(),
                        results.len()
                    )
                })?;
            results.extend(answer["results"].as_array().cloned().unwrap_or_default());
            chunk.clear();
            progress.set_position(reader.bytes_read());
        }
        if next.is_none() {
            break;
        }
    }
    progress.finish_and_clear();
    Ok(results)
}
