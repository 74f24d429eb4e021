//! `eddy streams`: the server's streams.

use std::process::ExitCode;

use super::client::{Client, ClientArgs, cell, print_json, print_table};

/// Arguments of `eddy streams`.
#[derive(Debug, clap::Args)]
pub struct StreamsArgs {
    #[command(flatten)]
    client: ClientArgs,
}

/// Lists streams: name, length, first and last position.
pub fn run(args: StreamsArgs) -> anyhow::Result<ExitCode> {
    let answer = Client::new(&args.client).get("/api/v1/streams")?;
    if args.client.json {
        print_json(&answer)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = answer["streams"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            ["name", "length", "first", "last"]
                .map(|k| cell(&s[k]))
                .to_vec()
        })
        .collect();
    print_table(&["STREAM", "LENGTH", "FIRST", "LAST"], &rows);
    Ok(ExitCode::SUCCESS)
}
