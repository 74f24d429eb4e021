//! `eddy plugin check`: what a component is, before anyone deploys it.
//!
//! Exits 0 when the file is a component of an eddy:plugin world that imports nothing that
//! could make it nondeterministic; 1 otherwise, saying why.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::plugin::{CallForm, EngineOptions, Interface, LoadError, PluginEngine, WIT_VERSION};

/// Arguments of `eddy plugin check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The component (`.wasm`).
    file: PathBuf,
    /// Print one JSON object instead of text, for scripts.
    #[arg(long)]
    json: bool,
}

/// What `check` found, as `--json` prints it.
#[derive(Debug, serde::Serialize)]
struct Report {
    file: String,
    /// The eddy:plugin world, e.g. `reducer-batch`; `null` when it implements none.
    world: Option<String>,
    kind: Option<crate::plugin::PluginKind>,
    form: Option<CallForm>,
    size: usize,
    sha256: String,
    imports: Vec<String>,
    exports: Vec<String>,
    deterministic_safe: bool,
    /// The imports that make it not deterministic-safe.
    unsafe_imports: Vec<String>,
    /// Why Eddy would refuse to load it, if it would.
    error: Option<String>,
}

/// Runs `eddy plugin check`.
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&args.file).with_context(|| format!("{}", args.file.display()))?;
    let name = args
        .file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let engine = PluginEngine::new(&EngineOptions::with_default_cache())?;
    let mut report = Report {
        file: args.file.display().to_string(),
        world: None,
        kind: None,
        form: None,
        size: bytes.len(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        imports: Vec::new(),
        exports: Vec::new(),
        deterministic_safe: false,
        unsafe_imports: Vec::new(),
        error: None,
    };
    let loaded = engine.load(&name, &bytes);
    // Not WebAssembly, or a core module: the loader's error says so better than the compiler's.
    let inspected = match &loaded {
        Err(error @ (LoadError::NotWasm { .. } | LoadError::CoreModule { .. })) => {
            Err(error.to_string())
        }
        _ => engine.inspect(&name, &bytes).map_err(|e| e.to_string()),
    };
    match inspected {
        Ok(Interface {
            imports,
            exports,
            unsafe_imports,
        }) => {
            report.deterministic_safe = unsafe_imports.is_empty();
            report.imports = imports;
            report.exports = exports;
            report.unsafe_imports = unsafe_imports;
            match loaded {
                Ok(plugin) => {
                    report.world = Some(plugin.world().to_string());
                    report.kind = Some(plugin.kind());
                    report.form = Some(plugin.world().form);
                }
                Err(error) => report.error = Some(error.to_string()),
            }
        }
        Err(error) => report.error = Some(error),
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", human(&report));
    }
    let ok = report.error.is_none() && report.deterministic_safe;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn human(report: &Report) -> String {
    let mut out = format!("{}\n", report.file);
    let world = match (&report.world, report.form) {
        (Some(world), Some(form)) => {
            let form = match form {
                CallForm::PerEvent => "one event per call",
                CallForm::Batched => "many events per call",
                CallForm::Packed => "many events per call, packed in one buffer",
            };
            format!("eddy:plugin/{world}@{WIT_VERSION} ({form})")
        }
        _ => "none: Eddy would refuse it".to_string(),
    };
    out += &format!("  world:   {world}\n");
    out += &format!(
        "  size:    {} bytes ({:.1} MiB)\n",
        report.size,
        report.size as f64 / (1024.0 * 1024.0)
    );
    out += &format!("  sha256:  {}\n", report.sha256);
    let list = |items: &[String]| {
        if items.is_empty() {
            " (none)\n".to_string()
        } else {
            items
                .iter()
                .map(|i| format!("\n    {i}"))
                .collect::<String>()
                + "\n"
        }
    };
    out += &format!("  imports:{}", list(&report.imports));
    out += &format!("  exports:{}", list(&report.exports));
    if let Some(error) = &report.error {
        out += &format!("  error:   {error}\n");
    }
    if report.error.is_some() && report.imports.is_empty() && report.exports.is_empty() {
        out += "  deterministic-safe: unknown (not a component Eddy can read)\n";
    } else if report.deterministic_safe {
        out += "  deterministic-safe: yes: it imports only the eddy:plugin interfaces and WASI \
                 interfaces that Eddy denies (filesystem, sockets, environment) or makes \
                 deterministic (clocks read the event's time, randomness is seeded from its id)\n";
    } else {
        out += &format!(
            "  deterministic-safe: no: it imports {}, which Eddy does not provide or cannot make \
             deterministic\n",
            report.unsafe_imports.join(", ")
        );
    }
    out
}
