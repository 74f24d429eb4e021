//! The `eddy` command line: one file per command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
pub mod client;
mod dlq;
mod plugin;
mod plugins;
mod publish;
mod record;
mod replay;
mod serve;
mod state;
mod streams;
mod subscriptions;
mod tail;
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
    /// Publish an event (from flags) or a JSON Lines file of events to a server.
    Publish(publish::PublishArgs),
    /// Follow a stream live; reconnects without missing an event.
    Tail(tail::TailArgs),
    /// List a server's streams.
    Streams(streams::StreamsArgs),
    /// List a server's running subscriptions.
    Subscriptions(subscriptions::SubscriptionsArgs),
    /// List a server's plugins.
    Plugins(plugins::PluginsArgs),
    /// List a subscription's dead letters, or redrive them.
    Dlq(dlq::DlqArgs),
    /// Benchmarks: each scenario beside its baseline (native code, plain Redis, raw reads),
    /// with the ratio.
    Bench(bench::BenchArgs),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // A benchmark's output is its report: the runtime's own progress logs would bury it.
    init_logging(if matches!(cli.command, Command::Bench(_)) {
        "warn"
    } else {
        "warn,eddy=info"
    });
    let outcome = match cli.command {
        Command::Replay(args) => replay::run(args),
        Command::Test(args) => test::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Plugin(args) => plugin::run(args),
        Command::State(args) => state::run(args),
        Command::Record(args) => record::run(args),
        Command::Publish(args) => publish::run(args),
        Command::Tail(args) => tail::run(args),
        Command::Streams(args) => streams::run(args),
        Command::Subscriptions(args) => subscriptions::run(args),
        Command::Plugins(args) => plugins::run(args),
        Command::Dlq(args) => dlq::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr; `RUST_LOG` selects what (default: `default`, for most commands info
/// for eddy and warnings otherwise).
fn init_logging(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
