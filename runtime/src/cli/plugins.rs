//! `eddy plugins`: the plugins the server has loaded.

use std::process::ExitCode;

use super::client::{Client, ClientArgs, cell, print_json, print_table};

/// Arguments of `eddy plugins`.
#[derive(Debug, clap::Args)]
pub struct PluginsArgs {
    #[command(flatten)]
    client: ClientArgs,
}

/// Lists plugins: name, kind, version hash.
pub fn run(args: PluginsArgs) -> anyhow::Result<ExitCode> {
    let answer = Client::new(&args.client).get("/api/v1/plugins")?;
    if args.client.json {
        print_json(&answer)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = answer["plugins"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| vec![cell(&p["name"]), cell(&p["kind"]), cell(&p["hash"])])
        .collect();
    print_table(&["NAME", "KIND", "HASH"], &rows);
    Ok(ExitCode::SUCCESS)
}
