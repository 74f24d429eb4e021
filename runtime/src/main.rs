//! The `eddy` command: see `eddy --help`, and [`eddy::cli`] for each command.

fn main() -> std::process::ExitCode {
    eddy::cli::main()
}
