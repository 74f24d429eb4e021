//! `eddy tail`: follow a stream live, reconnecting after a disconnect without missing an
//! event (the server's live stream resumes after the last position seen).

use std::io::{BufRead, BufReader, Write};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use super::client::{ApiFailure, Client, ClientArgs, encode};

/// Arguments of `eddy tail`.
#[derive(Debug, clap::Args)]
pub struct TailArgs {
    /// The stream to follow.
    #[arg(long)]
    stream: String,
    /// Only events whose type matches this pattern (such as `order.*`).
    #[arg(long = "type")]
    ty: Option<String>,
    /// Start after this position (`0` for the whole stream); default: new events only.
    #[arg(long)]
    from: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Prints events as they arrive until interrupted.
pub fn run(args: TailArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client);
    let stream = encode(&args.stream);
    // Pin the starting point now, so that events published before the first connection
    // succeeds (or while reconnecting) are not missed.
    let mut cursor = match &args.from {
        Some(from) => from.clone(),
        None => match client.get(&format!("/api/v1/streams/{stream}")) {
            Ok(info) => info["last"].as_str().unwrap_or("0").to_string(),
            Err(error) if ApiFailure::status_of(&error) == Some(404) => "0".to_string(),
            Err(error) => return Err(error),
        },
    };
    let mut path = format!("/api/v1/streams/{stream}/events/live");
    if let Some(ty) = &args.ty {
        path += &format!("?type={}", encode(ty));
    }
    let mut backoff = Duration::from_millis(250);
    loop {
        match client.stream(&path, &[("last-event-id", &cursor)]) {
            Ok(response) => {
                backoff = Duration::from_millis(250);
                let reader = BufReader::new(response.into_body().into_reader());
                follow(reader, &mut cursor, args.client.json)?;
            }
            // A refusal (bad token, bad pattern) will not change by retrying.
            Err(error) if ApiFailure::status_of(&error).is_some_and(|s| s < 500) => {
                return Err(error);
            }
            Err(error) => eprintln!("eddy tail: {error:#}"),
        }
        eprintln!("eddy tail: disconnected; reconnecting after {cursor} in {backoff:?}");
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Prints the events of one connection, moving `cursor` along; returns when it ends.
fn follow(reader: impl BufRead, cursor: &mut String, json: bool) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let (mut name, mut id, mut data) = (String::new(), String::new(), String::new());
    for line in reader.lines() {
        let Ok(line) = line else { return Ok(()) };
        if line.is_empty() {
            if name == "end" {
                let end: Value = serde_json::from_str(&data).unwrap_or_default();
                eprintln!(
                    "eddy tail: the server ended the stream: {}",
                    end["detail"].as_str().unwrap_or(&data)
                );
            } else if !data.is_empty() {
                print_event(&mut stdout.lock(), &data, json)?;
                if !id.is_empty() {
                    *cursor = id.clone();
                }
            }
            (name, id, data) = (String::new(), String::new(), String::new());
        } else if let Some(v) = line.strip_prefix("event:") {
            name = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("id:") {
            id = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    Ok(())
}

fn print_event(out: &mut impl Write, data: &str, json: bool) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{data}")?;
    } else {
        let value: Value = serde_json::from_str(data)?;
        let event = &value["event"];
        let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
        let mut payload = event.get("data").map(Value::to_string).unwrap_or_default();
        if payload.chars().count() > 100 {
            payload = payload.chars().take(99).collect::<String>() + "…";
        }
        writeln!(
            out,
            "{}  {}  {}  {}  {payload}",
            text(&value["position"]),
            text(&event["type"]),
            text(&event["subject"]),
            text(&event["id"]),
        )?;
    }
    out.flush()?;
    Ok(())
}
