//! `eddy test`: run golden-state test cases.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::plugin::{EngineOptions, PluginEngine};
use crate::replay::golden::{CaseOutcome, find_cases, run_case};

/// Arguments of `eddy test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Cases, or folders searched for cases (a case is a folder with `case.toml`,
    /// `events.jsonl` and `expected.json`).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Rewrite `expected.json` from the actual states (after a deliberate change).
    #[arg(long)]
    update: bool,
}

/// Runs `eddy test`: one line per case, then `N passed, N failed`.
pub fn run(args: TestArgs) -> anyhow::Result<ExitCode> {
    let cases = find_cases(&args.paths)?;
    if cases.is_empty() {
        let paths: Vec<String> = args.paths.iter().map(|p| p.display().to_string()).collect();
        anyhow::bail!(
            "no test cases (folders with case.toml) under {}",
            paths.join(", ")
        );
    }
    let engine = PluginEngine::new(&EngineOptions::with_default_cache())?;
    let (mut passed, mut failed) = (0, 0);
    for case in &cases {
        let name = case.display();
        match run_case(&engine, case, args.update) {
            CaseOutcome::Passed => {
                passed += 1;
                println!("PASS {name}");
            }
            CaseOutcome::Updated => {
                passed += 1;
                println!("UPDATED {name}");
            }
            CaseOutcome::Failed(report) => {
                failed += 1;
                println!("FAIL {name}");
                for line in report.lines() {
                    println!("    {line}");
                }
            }
            CaseOutcome::Broken(message) => {
                failed += 1;
                println!("FAIL {name}");
                println!("    {message}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
