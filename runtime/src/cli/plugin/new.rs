//! `eddy plugin new`: scaffold a plugin that builds and passes its own replay test.

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use super::{Lang, templates};
use crate::plugin::PluginKind;

/// Arguments of `eddy plugin new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The plugin's name (lowercase letters, digits, `-`), which is also the folder created; a
    /// path is fine (`plugins/my-reducer`): its last part is the name.
    name: PathBuf,
    /// What kind of plugin.
    #[arg(long, value_parser = parse_kind)]
    kind: PluginKind,
    /// The language.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
}

fn parse_kind(text: &str) -> Result<PluginKind, String> {
    match text {
        "reducer" => Ok(PluginKind::Reducer),
        "filter" => Ok(PluginKind::Filter),
        "handler" => Ok(PluginKind::Handler),
        _ => Err(format!(
            "`{text}` is not a kind: reducer, filter or handler"
        )),
    }
}

/// Runs `eddy plugin new`.
pub fn run(args: NewArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.name;
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .context("the plugin needs a name")?;
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!(
            "`{name}` is not a plugin name: use lowercase letters, digits and `-`, starting with a letter"
        );
    }
    if dir.exists() {
        bail!(
            "{} already exists: choose another name or remove it",
            dir.display()
        );
    }
    let crate_name = name.replace('-', "_");
    let world = args.kind.to_string();
    let (guest_sdk, guest_sdk_note) = guest_sdk_dependency(dir)?;
    // The handler's golden case names the id Eddy derives for its one emitted event.
    let receipt_id = crate::plugin::emitted_id(&crate_name, "/shop", "e-3", 0);
    let vars = [
        ("receipt_id", receipt_id.as_str()),
        ("name", name),
        ("crate_name", crate_name.as_str()),
        ("kind", world.as_str()),
        ("world", world.as_str()),
        ("guest_sdk", guest_sdk.as_str()),
        ("guest_sdk_note", guest_sdk_note.as_str()),
    ];

    let artifact = match args.lang {
        Lang::Rust => format!("target/wasm32-wasip2/release/{crate_name}.wasm"),
        Lang::Js | Lang::Python => format!("target/{crate_name}.wasm"),
    };
    let case_toml = format!(
        "# A golden replay case: `eddy test cases/` replays events.jsonl through the plugin and\n\
         # compares the output with expected.json. Build the plugin first: `eddy plugin build .`\n\
         plugin = \"../../{artifact}\"\n"
    );
    let mut files: Vec<(String, String)> = templates::common(args.lang)
        .iter()
        .chain([&templates::source(args.lang, args.kind)])
        .map(|(path, text)| (path.to_string(), templates::render(text, &vars)))
        .collect();
    if args.lang != Lang::Rust {
        files.push(("wit/plugin.wit".into(), templates::WIT.into()));
    }
    files.push((
        "cases/basic/events.jsonl".into(),
        templates::CASE_EVENTS.into(),
    ));
    files.push((
        "cases/basic/expected.json".into(),
        templates::render(templates::case_expected(args.kind), &vars),
    ));
    files.push(("cases/basic/case.toml".into(), case_toml));

    for (path, text) in &files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("files are inside the folder"))
            .with_context(|| format!("{}", path.display()))?;
        std::fs::write(&path, text).with_context(|| format!("{}", path.display()))?;
    }
    let lang = match args.lang {
        Lang::Rust => "Rust",
        Lang::Js => "JavaScript",
        Lang::Python => "Python",
    };
    println!("created {} ({world} in {lang})", dir.display());
    println!("next:");
    println!("  eddy plugin build {}", dir.display());
    println!("  eddy test {}", dir.join("cases").display());
    Ok(ExitCode::SUCCESS)
}

/// The `guest-sdk` dependency line of a Rust plugin created in `dir`, and a note for its README.
///
/// Inside a checkout of Eddy (the SDK found in a parent folder): a relative path, so that the
/// folder can move with the repository. Elsewhere, the SDK this `eddy` was built from, by
/// absolute path, when it still exists; else a placeholder to edit.
fn guest_sdk_dependency(dir: &Path) -> anyhow::Result<(String, String)> {
    // Canonical, so that `..` in the path given cannot fool the search below.
    std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    let parent = std::fs::canonicalize(dir)?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let in_repo = parent
        .ancestors()
        .find(|a| a.join("guest-sdk/Cargo.toml").is_file() && a.join("wit/plugin.wit").is_file());
    if let Some(repo) = in_repo {
        let relative = relative_path(&parent, repo).join("guest-sdk");
        let path = format!("../{}", relative.display());
        return Ok((
            format!("guest-sdk = {{ path = \"{path}\" }}"),
            format!(
                "`{path}`, the SDK of the Eddy checkout this plugin was created in (a relative \
                 path: moving the plugin out of the checkout breaks it; point it at your copy of \
                 Eddy's `guest-sdk` folder)."
            ),
        ));
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk");
    if built_from.join("Cargo.toml").is_file() {
        let path = std::fs::canonicalize(&built_from)?;
        return Ok((
            format!("guest-sdk = {{ path = \"{}\" }}", path.display()),
            format!(
                "`{}`, the SDK of the Eddy source tree this `eddy` was built from. To use another \
                 copy, change the path to its `guest-sdk` folder.",
                path.display()
            ),
        ));
    }
    Ok((
        "guest-sdk = { path = \"path/to/eddy/guest-sdk\" } # edit: the guest-sdk folder of an Eddy checkout".into(),
        "a placeholder: `eddy` could not find the SDK. Clone Eddy and set the `path` of \
         `guest-sdk` in `Cargo.toml` to its `guest-sdk` folder."
            .into(),
    ))
}

/// The path from `from` to `to` (both absolute; `to` an ancestor of `from`): `../..`.
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let depth = from
        .strip_prefix(to)
        .map(|rest| {
            rest.components()
                .filter(|c| matches!(c, Component::Normal(_)))
                .count()
        })
        .unwrap_or(0);
    let mut path = PathBuf::new();
    for _ in 0..depth {
        path.push("..");
    }
    path
}
