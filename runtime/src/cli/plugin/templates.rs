//! The files of a new plugin, embedded in the binary (`runtime/templates/`).
//!
//! `{{name}}` (the plugin's name), `{{crate_name}}` (its name with underscores: the `.wasm`'s
//! stem), `{{kind}}`, `{{world}}`, `{{guest_sdk}}`, `{{guest_sdk_note}}` and `{{receipt_id}}`
//! (in the handler's golden case) are replaced when the files are written.

use super::Lang;
use crate::plugin::PluginKind;

/// The WIT contract, copied into JavaScript and Python plugins (their toolchains read it).
pub const WIT: &str = include_str!("../../../../wit/plugin.wit");

/// The events of every new plugin's golden case.
pub const CASE_EVENTS: &str = include_str!("../../../templates/cases/events.jsonl");

/// `(path in the plugin folder, contents)` of the files common to every kind of `lang`.
pub fn common(lang: Lang) -> &'static [(&'static str, &'static str)] {
    match lang {
        Lang::Rust => &[
            (
                "Cargo.toml",
                include_str!("../../../templates/rust/common/Cargo.toml"),
            ),
            (
                "README.md",
                include_str!("../../../templates/rust/common/README.md"),
            ),
            (
                ".gitignore",
                include_str!("../../../templates/rust/common/gitignore"),
            ),
        ],
        Lang::Js => &[
            (
                "package.json",
                include_str!("../../../templates/js/common/package.json"),
            ),
            (
                "README.md",
                include_str!("../../../templates/js/common/README.md"),
            ),
            (
                ".gitignore",
                include_str!("../../../templates/js/common/gitignore"),
            ),
        ],
        Lang::Python => &[
            (
                "pyproject.toml",
                include_str!("../../../templates/python/common/pyproject.toml"),
            ),
            (
                "README.md",
                include_str!("../../../templates/python/common/README.md"),
            ),
            (
                ".gitignore",
                include_str!("../../../templates/python/common/gitignore"),
            ),
        ],
    }
}

/// `(path in the plugin folder, contents)` of the source of a `kind` in `lang`.
pub fn source(lang: Lang, kind: PluginKind) -> (&'static str, &'static str) {
    use PluginKind::{Filter, Handler, Reducer};
    match (lang, kind) {
        (Lang::Rust, Reducer) => (
            "src/lib.rs",
            include_str!("../../../templates/rust/reducer/lib.rs"),
        ),
        (Lang::Rust, Filter) => (
            "src/lib.rs",
            include_str!("../../../templates/rust/filter/lib.rs"),
        ),
        (Lang::Rust, Handler) => (
            "src/lib.rs",
            include_str!("../../../templates/rust/handler/lib.rs"),
        ),
        (Lang::Js, Reducer) => (
            "plugin.js",
            include_str!("../../../templates/js/reducer/plugin.js"),
        ),
        (Lang::Js, Filter) => (
            "plugin.js",
            include_str!("../../../templates/js/filter/plugin.js"),
        ),
        (Lang::Js, Handler) => (
            "plugin.js",
            include_str!("../../../templates/js/handler/plugin.js"),
        ),
        (Lang::Python, Reducer) => (
            "app.py",
            include_str!("../../../templates/python/reducer/app.py"),
        ),
        (Lang::Python, Filter) => (
            "app.py",
            include_str!("../../../templates/python/filter/app.py"),
        ),
        (Lang::Python, Handler) => (
            "app.py",
            include_str!("../../../templates/python/handler/app.py"),
        ),
    }
}

/// What `eddy replay` prints for [`CASE_EVENTS`] through the new plugin of `kind`: the same
/// in every language, since the three templates of a kind do the same thing. For filters and
/// handlers that is one line of JSON Lines, so the file is also valid JSON.
pub fn case_expected(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::Reducer => include_str!("../../../templates/cases/reducer.json"),
        PluginKind::Filter => include_str!("../../../templates/cases/filter.json"),
        PluginKind::Handler => include_str!("../../../templates/cases/handler.json"),
    }
}

/// Replaces every `{{key}}` of `vars` in `text`.
pub fn render(text: &str, vars: &[(&str, &str)]) -> String {
    vars.iter().fold(text.to_string(), |text, (key, value)| {
        text.replace(&format!("{{{{{key}}}}}"), value)
    })
}
