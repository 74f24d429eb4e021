//! `eddy plugin build`: build a plugin folder with its language's toolchain.
//!
//! The language is told by the folder's manifest: `Cargo.toml` (Rust: cargo), `package.json`
//! (JavaScript: componentize-js, installed by npm into `node_modules/`) or `pyproject.toml`
//! with a `[tool.eddy]` table (Python: componentize-py, installed by pip into `target/venv`).
//! The tools' output goes to standard error; standard output gets one line, the path of the
//! built component, so that `eddy plugin check "$(eddy plugin build .)"` works.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, bail};

/// Arguments of `eddy plugin build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The plugin's folder (the one with its `Cargo.toml`, `package.json` or `pyproject.toml`).
    #[arg(default_value = ".")]
    path: PathBuf,
}

/// The componentize-py a Python plugin is built with when its `[tool.eddy]` names none.
const COMPONENTIZE_PY: &str = "0.25.1";

/// Runs `eddy plugin build`.
pub fn run(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.path;
    let wasm = if dir.join("Cargo.toml").is_file() {
        build_rust(dir)?
    } else if dir.join("package.json").is_file() {
        build_js(dir)?
    } else if dir.join("pyproject.toml").is_file() {
        build_python(dir)?
    } else {
        bail!(
            "{} has no Cargo.toml, package.json or pyproject.toml: not a plugin folder \
             (create one with `eddy plugin new`)",
            dir.display()
        );
    };
    println!("{}", wasm.display());
    Ok(ExitCode::SUCCESS)
}

/// Runs `command`, its output on our standard error; fails naming the tool.
fn run_tool(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = command
        .stdout(std::io::stderr())
        .status()
        .with_context(|| format!("could not run {what} (is it installed and on PATH?)"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

fn build_rust(dir: &Path) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // The JSON messages name the artifact wherever the target directory is (CARGO_TARGET_DIR).
    let output = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(dir)
        .stderr(Stdio::inherit())
        .output()
        .context("could not run cargo (is Rust installed?)")?;
    if !output.status.success() {
        bail!(
            "cargo build failed ({}); if the target is missing: rustup target add wasm32-wasip2",
            output.status
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let wasm = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .flat_map(|message| message["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|file| file.as_str().map(PathBuf::from))
        .rfind(|file| file.extension().is_some_and(|e| e == "wasm"))
        .context("cargo built no .wasm: is the crate a `cdylib` (see `eddy plugin new`)?")?;
    Ok(wasm)
}

fn build_js(dir: &Path) -> anyhow::Result<PathBuf> {
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("package.json")).context("package.json")?,
    )
    .context("package.json is not JSON")?;
    let name = manifest["name"]
        .as_str()
        .context("package.json has no `name`")?;
    let eddy = &manifest["eddy"];
    let (Some(world), Some(source)) = (eddy["world"].as_str(), eddy["source"].as_str()) else {
        bail!(
            "package.json needs an `eddy` object with `world` (e.g. \"reducer\") and `source` \
             (e.g. \"plugin.js\")"
        );
    };
    let cli = dir.join("node_modules/@bytecodealliance/componentize-js/src/cli.js");
    if !cli.is_file() {
        // `npm ci` installs exactly the committed lock file; the first build writes it.
        let install = if dir.join("package-lock.json").is_file() {
            "ci"
        } else {
            "install"
        };
        run_tool(
            Command::new("npm")
                .args([install, "--no-audit", "--no-fund"])
                .current_dir(dir),
            &format!("npm {install}"),
        )?;
    }
    let wasm = dir
        .join("target")
        .join(format!("{}.wasm", name.replace('-', "_")));
    std::fs::create_dir_all(dir.join("target"))?;
    run_tool(
        Command::new("node")
            .arg("node_modules/@bytecodealliance/componentize-js/src/cli.js")
            .arg(source)
            .args(["--wit", "wit", "--world-name", world])
            // No wasi:http: Eddy does not provide it.
            .args(["--disable", "http", "fetch-event"])
            .arg("--out")
            .arg(wasm.strip_prefix(dir).expect("inside the folder"))
            .current_dir(dir),
        "componentize-js",
    )?;
    Ok(wasm)
}

fn build_python(dir: &Path) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(dir.join("pyproject.toml")).context("pyproject.toml")?;
    let manifest: toml::Table = text.parse().context("pyproject.toml is not TOML")?;
    let name = manifest
        .get("project")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .context("pyproject.toml has no [project] name")?;
    let eddy = manifest
        .get("tool")
        .and_then(|t| t.get("eddy"))
        .context("pyproject.toml has no [tool.eddy] table (world, module)")?;
    let field = |key: &str| eddy.get(key).and_then(|v| v.as_str());
    let world = field("world").context("[tool.eddy] needs `world`, e.g. \"reducer\"")?;
    let module = field("module").unwrap_or("app");
    let version = field("componentize-py").unwrap_or(COMPONENTIZE_PY);

    let venv = dir.join("target/venv");
    let componentize = venv.join("bin/componentize-py");
    let installed = Command::new(&componentize)
        .arg("--version")
        .output()
        .is_ok_and(|out| {
            String::from_utf8_lossy(&out.stdout).trim() == format!("componentize-py {version}")
        });
    if !installed {
        run_tool(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "python3 -m venv",
        )?;
        run_tool(
            Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .arg(format!("componentize-py=={version}")),
            "pip install componentize-py",
        )?;
    }
    let wasm = dir
        .join("target")
        .join(format!("{}.wasm", name.replace('-', "_")));
    run_tool(
        Command::new(std::path::absolute(&componentize)?)
            .args(["-d", "wit", "-w", world, "componentize", module, "-o"])
            .arg(wasm.strip_prefix(dir).expect("inside the folder"))
            .current_dir(dir),
        "componentize-py",
    )?;
    Ok(wasm)
}
