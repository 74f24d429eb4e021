//! `eddy dlq SUB [--redrive]`: a subscription's dead letters, and sending them back.

use std::process::ExitCode;

use serde_json::{Value, json};

use super::client::{Client, ClientArgs, cell, encode, print_json, print_table};

/// Arguments of `eddy dlq`.
#[derive(Debug, clap::Args)]
pub struct DlqArgs {
    /// The subscription.
    subscription: String,
    /// Send the dead letters back to the subscription (all, or those of `--id`).
    #[arg(long)]
    redrive: bool,
    /// With `--redrive`: only the dead letters of these event ids (repeatable).
    #[arg(long = "id", requires = "redrive")]
    ids: Vec<String>,
    #[command(flatten)]
    client: ClientArgs,
}

/// Lists dead letters (every page), or redrives them.
pub fn run(args: DlqArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client);
    let base = format!("/api/v1/subscriptions/{}/dlq", encode(&args.subscription));
    if args.redrive {
        let body = if args.ids.is_empty() {
            json!({})
        } else {
            json!({ "ids": args.ids })
        };
        let answer = client.post(
            &format!("{base}/redrive"),
            "application/json",
            body.to_string().as_bytes(),
        )?;
        if args.client.json {
            print_json(&answer)?;
        } else {
            println!(
                "redriven: {} (a dead letter that fails again stays in the list)",
                cell(&answer["redriven"])
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut letters: Vec<Value> = Vec::new();
    let mut path = format!("{base}?limit=1000");
    loop {
        let page = client.get(&path)?;
        letters.extend(page["dead_letters"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(next) => path = format!("{base}?limit=1000&from={}", encode(next)),
            None => break,
        }
    }
    if args.client.json {
        print_json(&json!({ "dead_letters": letters }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = letters
        .iter()
        .map(|d| {
            vec![
                cell(&d["position"]),
                cell(&d["event"]["id"]),
                cell(&d["event"]["type"]),
                cell(&d["attempts"]),
                cell(&d["error"]),
            ]
        })
        .collect();
    print_table(&["POSITION", "EVENT", "TYPE", "ATTEMPTS", "ERROR"], &rows);
    Ok(ExitCode::SUCCESS)
}
