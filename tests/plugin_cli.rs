//! `eddy plugin new | build | check` as a plugin author uses them: a scaffold builds with its
//! language's toolchain, `check` describes it, and its golden case passes.
//!
//! The scaffolds are created under the repository's `target/tmp/` (so that a Rust scaffold
//! finds `guest-sdk` by a relative path, as in a checkout). Building them runs real
//! toolchains: cargo for wasm32-wasip2, npm + componentize-js, pip + componentize-py.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::plugins::plugin_path;
use support::{cache_dir, repo_root};

/// A fresh folder for one test's scaffolds.
fn scratch(test: &str) -> PathBuf {
    let dir = repo_root().join("target/tmp/plugin-cli").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `eddy` in `dir`. A nested cargo must not build into the outer test run's target
/// directory (whose lock the outer cargo may hold): `target_dir` chooses its own.
fn eddy_in(dir: &Path, args: &[&str], target_dir: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_eddy"));
    command
        .args(args)
        .current_dir(dir)
        .env("EDDY_CACHE_DIR", cache_dir())
        .env("RUST_LOG", "warn")
        .env_remove("CARGO_TARGET_DIR");
    if let Some(target_dir) = target_dir {
        command.env("CARGO_TARGET_DIR", target_dir);
    }
    command.output().expect("the eddy binary runs")
}

fn success(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// `eddy plugin check --json` of `wasm`: the report, and whether it exited 0.
fn check(wasm: &Path) -> (serde_json::Value, bool) {
    let output = eddy_in(
        &repo_root(),
        &["plugin", "check", "--json", &wasm.display().to_string()],
        None,
    );
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "check printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (report, output.status.success())
}

/// Scaffolds `name` of `kind` in `lang` under `dir`, builds it, checks it, and replays its
/// golden case through the built component. Returns the component's path.
fn scaffold_build_and_replay(
    dir: &Path,
    name: &str,
    kind: &str,
    lang: &str,
    target_dir: Option<&Path>,
) -> PathBuf {
    success(
        &eddy_in(
            dir,
            &["plugin", "new", name, "--kind", kind, "--lang", lang],
            None,
        ),
        "plugin new",
    );
    let plugin = dir.join(name);
    let built = success(
        &eddy_in(dir, &["plugin", "build", name], target_dir),
        "plugin build",
    );
    let lines: Vec<&str> = built.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "build prints only the component's path: {built}"
    );
    let wasm = dir.join(lines[0]);
    assert!(wasm.is_file(), "{} was not built", wasm.display());

    let (report, ok) = check(&wasm);
    assert!(ok, "{report:#}");
    let form = match (lang, kind) {
        ("rust", "reducer") => "-packed",
        ("rust", _) => "-batch",
        _ => "",
    };
    assert_eq!(report["world"], format!("{kind}{form}"), "{report:#}");
    assert_eq!(report["deterministic_safe"], true);

    let case = plugin.join("cases/basic");
    let expected = std::fs::read_to_string(case.join("expected.json")).unwrap();
    let output = eddy_in(
        dir,
        &[
            "replay",
            "--plugin",
            &wasm.display().to_string(),
            "--events",
            &case.join("events.jsonl").display().to_string(),
        ],
        None,
    );
    assert_eq!(
        success(&output, "replay"),
        expected,
        "{name}: its golden case"
    );
    wasm
}

/// The commands of `docs/writing-plugins.md`'s block for `lang`: the `sh` block after the
/// marker `<!-- ci: <lang> `.
fn guide_commands(lang: &str) -> Vec<String> {
    let guide = std::fs::read_to_string(repo_root().join("docs/writing-plugins.md")).unwrap();
    let marker = format!("<!-- ci: {lang} ");
    let after = &guide[guide.find(&marker).expect("the guide has the block")..];
    let block = after
        .split("```sh\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    block.lines().map(str::to_string).collect()
}

/// Runs the guide's block for `lang` in a fresh folder, as a user would type it: `cd` changes
/// folder, every other line is an `eddy` command that must succeed. Returns the folder the
/// block ended in (the plugin's).
fn follow_the_guide(lang: &str) -> PathBuf {
    let mut dir = scratch(&format!("guide-{lang}"));
    for line in guide_commands(lang) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["cd", folder] => dir = dir.join(folder),
            ["eddy", args @ ..] => {
                success(&eddy_in(&dir, args, None), &line);
            }
            _ => panic!("the guide's {lang} block has a line that is not an eddy command: {line}"),
        }
    }
    dir
}

/// The component named by a case's `case.toml`, relative to the case folder.
fn case_plugin_of(case: &Path) -> PathBuf {
    let text = std::fs::read_to_string(case.join("case.toml")).unwrap();
    let table: toml::Table = text.parse().unwrap();
    case.join(
        table["plugin"]
            .as_str()
            .expect("case.toml names the plugin"),
    )
}

/// After the guide: the case's component is deterministic-safe and of `world`.
fn assert_checked(plugin: &Path, world: &str) {
    let (report, ok) = check(&case_plugin_of(&plugin.join("cases/basic")));
    assert!(ok, "{report:#}");
    assert_eq!(report["world"], world, "{report:#}");
    assert_eq!(report["deterministic_safe"], true);
}

#[test]
fn the_guides_rust_steps_give_a_reducer_that_passes_its_case_and_other_kinds_build_too() {
    let plugin = follow_the_guide("rust");
    assert_checked(&plugin, "reducer-packed");
    let manifest = std::fs::read_to_string(plugin.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(r#"guest-sdk = { path = "../../../../../guest-sdk" }"#),
        "inside the repository the SDK is found by a relative path:\n{manifest}"
    );
    // The filter and handler scaffolds share the reducer's target/, so the SDK compiles once.
    let dir = plugin.parent().unwrap();
    let target = plugin.join("target");
    for kind in ["filter", "handler"] {
        scaffold_build_and_replay(dir, &format!("my-{kind}"), kind, "rust", Some(&target));
    }
}

#[test]
fn the_guides_javascript_steps_give_a_reducer_that_passes_its_case() {
    let plugin = follow_the_guide("js");
    assert_checked(&plugin, "reducer");
    assert!(
        plugin.join("package-lock.json").is_file(),
        "the first build writes the lock file to commit"
    );
}

#[test]
fn the_guides_python_steps_give_a_reducer_that_passes_its_case() {
    let plugin = follow_the_guide("python");
    assert_checked(&plugin, "reducer");
}

#[test]
fn python_filter_and_handler_scaffolds_build_and_pass_their_cases() {
    let dir = scratch("python-kinds");
    for kind in ["filter", "handler"] {
        scaffold_build_and_replay(&dir, &format!("py-{kind}"), kind, "python", None);
    }
}

#[test]
fn new_refuses_bad_names_unknown_kinds_and_existing_folders() {
    let dir = scratch("refusals");
    let refused = |args: &[&str], message: &str| {
        let output = eddy_in(&dir, args, None);
        assert!(!output.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    };
    refused(
        &["plugin", "new", "My_Plugin", "--kind", "reducer"],
        "not a plugin name",
    );
    refused(
        &["plugin", "new", "ok", "--kind", "projector"],
        "not a kind",
    );
    refused(
        &[
            "plugin", "new", "ok", "--kind", "reducer", "--lang", "cobol",
        ],
        "invalid value",
    );
    std::fs::create_dir(dir.join("taken")).unwrap();
    refused(
        &["plugin", "new", "taken", "--kind", "reducer"],
        "already exists",
    );
    refused(&["plugin", "build", "."], "not a plugin folder");
}

#[test]
fn check_names_the_world_imports_and_exports_of_the_example_plugins() {
    for (name, world) in [
        ("order_totals", "reducer-packed"),
        ("workflow_state", "reducer-packed"),
        ("fx_echo_v010", "reducer-batch"),
        ("type_filter", "filter-batch"),
        ("high_value", "handler-batch"),
        ("fx_per_event_reducer", "reducer"),
        ("fx_per_event_filter", "filter"),
        ("fx_per_event_handler", "handler"),
    ] {
        let wasm = plugin_path(name);
        let (report, ok) = check(&wasm);
        assert!(ok, "{name}: {report:#}");
        assert_eq!(report["world"], world, "{name}");
        assert_eq!(report["deterministic_safe"], true, "{name}");
        assert_eq!(
            report["size"],
            std::fs::metadata(&wasm).unwrap().len(),
            "{name}"
        );
        let imports = report["imports"].as_array().unwrap();
        assert!(
            imports
                .iter()
                .any(|i| i.as_str().unwrap().starts_with("eddy:plugin/")),
            "{name}: {imports:?}"
        );
        assert!(report["error"].is_null(), "{name}");
    }
    let (report, _) = check(&plugin_path("order_totals"));
    assert_eq!(
        report["exports"],
        serde_json::json!(["init", "apply-packed-events"])
    );

    // The sandbox probe imports filesystem and sockets: denied by the host, so still safe.
    let (report, ok) = check(&plugin_path("fx_sandbox_probe"));
    assert!(ok, "{report:#}");
    let imports = report["imports"].to_string();
    assert!(imports.contains("wasi:filesystem/") && imports.contains("wasi:sockets/"));

    let human = eddy_in(
        &repo_root(),
        &[
            "plugin",
            "check",
            &plugin_path("order_totals").display().to_string(),
        ],
        None,
    );
    let text = success(&human, "check");
    for line in [
        "world:   eddy:plugin/reducer-packed@0.1.1 (many events per call, packed in one buffer)",
        "apply-packed-events",
        "deterministic-safe: yes",
    ] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
}

#[test]
fn check_refuses_fx_wrong_world_and_files_that_are_not_components() {
    let (report, ok) = check(&plugin_path("fx_wrong_world"));
    assert!(!ok);
    assert!(report["world"].is_null());
    assert_eq!(report["exports"], serde_json::json!(["hello"]));
    let error = report["error"].as_str().unwrap();
    assert!(
        error.contains("does not implement any eddy:plugin"),
        "{error}"
    );

    let (report, ok) = check(&repo_root().join("Cargo.toml"));
    assert!(!ok);
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("not a WebAssembly file"),
        "{report:#}"
    );
}
