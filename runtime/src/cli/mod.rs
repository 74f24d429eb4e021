//! The `eddy` command line: one file per command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod client;
mod plugin;
mod record;
mod replay;
mod serve;
mod state;
mod test;

/// Eddy: a WebAssembly-extensible event processing runtime.
#[derive(Debug, Parser)]
#[command(name = "eddy", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fold a file of events through a plugin and print the result.
    Replay(replay::ReplayArgs),
    /// Run golden-state test cases: events, a reducer, and the states they must give.
    Test(test::TestArgs),
    /// Serve the HTTP API: publish and read events.
    Serve(serve::ServeArgs),
    /// Create, build and check plugins.
    Plugin(plugin::PluginArgs),
    /// Show a reducer subscription's state of one subject, now or `--at` a point in its past.
    State(state::StateArgs),
    /// Record a stream's history from a running Eddy as a golden-state test case.
    Record(record::RecordArgs),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Replay(args) => replay::run(args),
        Command::Test(args) => test::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Plugin(args) => plugin::run(args),
        Command::State(args) => state::run(args),
        Command::Record(args) => record::run(args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr; `RUST_LOG` selects what (default: info for eddy, warnings otherwise).
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,eddy=info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
