//! `eddy state`: a reducer subscription's state of one subject, now or as of a point in its
//! history (time travel), from a running Eddy.

use std::process::ExitCode;

use super::client::{Client, UrlArgs, encode};

/// Arguments of `eddy state`.
#[derive(Debug, clap::Args)]
pub struct StateArgs {
    /// The reducer subscription.
    subscription: String,
    /// The subject.
    subject: String,
    /// The state as of this position (`1767225600000-0`) or RFC 3339 time, recomputed from
    /// the nearest earlier snapshot; absent: the live state.
    #[arg(long, value_name = "POSITION|RFC3339")]
    at: Option<String>,
    #[command(flatten)]
    url: UrlArgs,
}

/// Runs `eddy state`: prints the API's answer (`state`, `position`, `plugin`, `events`, and
/// with `--at` also `from_snapshot` and `replayed`) as indented JSON.
pub fn run(args: StateArgs) -> anyhow::Result<ExitCode> {
    let client = Client::for_url(&args.url);
    let mut path = format!(
        "/api/v1/projections/{}/{}",
        encode(&args.subscription),
        encode(&args.subject)
    );
    if let Some(at) = &args.at {
        path += &format!("?at={}", encode(at));
    }
    let answer = client.get_json(&path)?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(ExitCode::SUCCESS)
}
