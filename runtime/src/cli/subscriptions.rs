//! `eddy subscriptions`: the server's running subscriptions and how far along they are.

use std::process::ExitCode;

use super::client::{Client, ClientArgs, cell, print_json, print_table};

/// Arguments of `eddy subscriptions`.
#[derive(Debug, clap::Args)]
pub struct SubscriptionsArgs {
    #[command(flatten)]
    client: ClientArgs,
}

/// Lists subscriptions: kind, counts, lag over all streams, plugin version.
pub fn run(args: SubscriptionsArgs) -> anyhow::Result<ExitCode> {
    let answer = Client::new(&args.client).get("/api/v1/subscriptions")?;
    if args.client.json {
        print_json(&answer)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = answer["subscriptions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let lag: u64 = s["streams"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["lag"].as_u64())
                .sum();
            let plugin = cell(&s["plugin"]);
            vec![
                cell(&s["name"]),
                cell(&s["kind"]),
                cell(&s["status"]),
                cell(&s["stats"]["processed"]),
                cell(&s["stats"]["failed"]),
                cell(&s["stats"]["dead_lettered"]),
                lag.to_string(),
                plugin.chars().take(12).collect(),
            ]
        })
        .collect();
    print_table(
        &[
            "NAME",
            "KIND",
            "STATUS",
            "PROCESSED",
            "FAILED",
            "DEAD",
            "LAG",
            "PLUGIN",
        ],
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}
