//! `eddy plugin new | build | check`: from nothing to a checked component.
//!
//! - `new` — [`new`]: scaffold a plugin in Rust, JavaScript or Python, with a golden case.
//! - `build` — [`build`]: build it with its language's toolchain.
//! - `check` — [`check`]: what a `.wasm` is: world, imports, exports, size, determinism.

use std::process::ExitCode;

mod build;
mod check;
mod new;
mod templates;

/// Arguments of `eddy plugin`.
#[derive(Debug, clap::Args)]
pub struct PluginArgs {
    #[command(subcommand)]
    command: PluginCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PluginCommand {
    /// Create a plugin that builds and passes its own replay test out of the box.
    New(new::NewArgs),
    /// Build a plugin folder into a component; prints the path of the `.wasm`.
    Build(build::BuildArgs),
    /// Say what a component is: its world, imports, exports, size, and whether it is
    /// deterministic-safe.
    Check(check::CheckArgs),
}

/// The languages a plugin can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust, on the guest-sdk crate (cargo, target wasm32-wasip2).
    Rust,
    /// JavaScript, built with componentize-js (npm).
    Js,
    /// Python, built with componentize-py (pip).
    Python,
}

/// Runs `eddy plugin …`.
pub fn run(args: PluginArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        PluginCommand::New(args) => new::run(args),
        PluginCommand::Build(args) => build::run(args),
        PluginCommand::Check(args) => check::run(args),
    }
}
