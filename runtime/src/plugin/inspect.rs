//! What a component asks for and offers, without instantiating it: `eddy plugin check`.

use wasmtime::component::Component;
use wasmtime::component::types::{ComponentExtern, ComponentItem};

use super::engine::PluginEngine;
use super::error::LoadError;

/// The imports and exports of a component, by name, as its type declares them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Interface {
    /// What it imports, e.g. `wasi:cli/environment@0.2.6` or `eddy:plugin/log@0.1.0`.
    pub imports: Vec<String>,
    /// What it exports, e.g. `apply-event` (functions) or `wasi:cli/run@0.2.6` (interfaces).
    pub exports: Vec<String>,
    /// The imports that can make a plugin nondeterministic: anything but the WASI interfaces
    /// the host denies or makes deterministic and the `eddy:plugin` interfaces. Empty for a
    /// plugin that is deterministic-safe.
    pub unsafe_imports: Vec<String>,
}

/// Import namespaces whose every interface the sandbox denies (filesystem, sockets,
/// environment) or makes deterministic (clocks read the event's time, randomness is seeded
/// from its id), and the plugin contract itself.
const SAFE_IMPORT_PREFIXES: &[&str] = &[
    "wasi:cli/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:filesystem/",
    "wasi:sockets/",
    "eddy:plugin/",
];

impl PluginEngine {
    /// Compiles a component (or takes it from the cache) and lists its imports and exports.
    ///
    /// Unlike [`PluginEngine::load`], this succeeds for any valid component, whatever world it
    /// implements, so that a tool can say what a refused plugin is.
    pub fn inspect(&self, name: &str, bytes: &[u8]) -> Result<Interface, LoadError> {
        let component = Component::new(&self.engine, bytes).map_err(|e| LoadError::Compile {
            plugin: name.to_string(),
            message: format!("{e:#}"),
        })?;
        let ty = component.component_type();
        let describe = |(name, item): (&str, ComponentExtern)| match item.ty {
            ComponentItem::ComponentFunc(_)
            | ComponentItem::CoreFunc(_)
            | ComponentItem::ComponentInstance(_) => name.to_string(),
            ComponentItem::Type(_) | ComponentItem::Resource(_) => format!("type {name}"),
            ComponentItem::Module(_) => format!("module {name}"),
            ComponentItem::Component(_) => format!("component {name}"),
        };
        let imports: Vec<String> = ty.imports(&self.engine).map(describe).collect();
        let exports = ty.exports(&self.engine).map(describe).collect();
        let unsafe_imports = imports
            .iter()
            .filter(|name| !SAFE_IMPORT_PREFIXES.iter().any(|p| name.starts_with(p)))
            .cloned()
            .collect();
        Ok(Interface {
            imports,
            exports,
            unsafe_imports,
        })
    }
}
