//! `eddy replay`.
use std::process::ExitCode;

/// Arguments of `eddy replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {}

/// Runs `eddy replay`.
pub fn run(_args: ReplayArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
