//! Loading a plugin: bytes → a checked component, ready to instantiate.

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, InstancePre};

use super::bindings::{
    filter, filter_batch, handler, handler_batch, reducer, reducer_batch, reducer_packed,
};
use super::engine::PluginEngine;
use super::error::LoadError;
use super::kind::{CallForm, PluginKind, World};
use super::sandbox::Sandbox;

/// A loaded plugin: compiled, linked and checked against its world. Instantiate it with
/// [`crate::plugin::PluginInstance::new`]. Cheap to clone.
#[derive(Clone)]
pub struct Plugin {
    pub(crate) name: Arc<str>,
    hash: Arc<str>,
    size: usize,
    pub(crate) world: World,
    pub(crate) pre: WorldPre,
}

/// The pre-instantiated component with the typed export indices of its world.
#[derive(Clone)]
pub(crate) enum WorldPre {
    Filter(filter::FilterPre<Sandbox>),
    FilterBatch(filter_batch::FilterBatchPre<Sandbox>),
    Handler(handler::HandlerPre<Sandbox>),
    HandlerBatch(handler_batch::HandlerBatchPre<Sandbox>),
    Reducer(reducer::ReducerPre<Sandbox>),
    ReducerBatch(reducer_batch::ReducerBatchPre<Sandbox>),
    ReducerPacked(reducer_packed::ReducerPackedPre<Sandbox>),
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("world", &self.world.to_string())
            .field("hash", &self.hash)
            .field("size", &self.size)
            .finish()
    }
}

impl Plugin {
    /// The plugin's name (for a file, its stem: `order_totals.wasm` → `order_totals`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The SHA-256 of the component's bytes, in hex: the identity of this version.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The size of the component in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The world the component implements.
    pub fn world(&self) -> World {
        self.world
    }

    /// The kind of plugin.
    pub fn kind(&self) -> PluginKind {
        self.world.kind
    }
}

impl PluginEngine {
    /// Loads a plugin file; its name is the file's stem.
    pub fn load_file(&self, path: impl AsRef<Path>) -> Result<Plugin, LoadError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        self.load(&name, &bytes)
    }

    /// Compiles (or fetches from the cache), links and checks a component.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<Plugin, LoadError> {
        let plugin = name.to_string();
        match bytes.get(..8) {
            Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => {
                return Err(LoadError::CoreModule { plugin });
            }
            Some([0, b'a', b's', b'm', ..]) => {}
            _ => return Err(LoadError::NotWasm { plugin }),
        }
        let component = Component::new(&self.engine, bytes).map_err(|e| LoadError::Compile {
            plugin: plugin.clone(),
            message: format!("{e:#}"),
        })?;
        let pre =
            self.linker
                .instantiate_pre(&component)
                .map_err(|e| LoadError::UnsupportedImport {
                    plugin: plugin.clone(),
                    message: format!("{e:#}"),
                })?;
        let (world, pre) = detect_world(&plugin, &self.engine, &component, pre)?;
        Ok(Plugin {
            name: name.into(),
            hash: hash_of(bytes).into(),
            size: bytes.len(),
            world,
            pre,
        })
    }
}

/// The identity of a version: the SHA-256 of its bytes, in hex.
pub(crate) fn hash_of(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Finds the world whose exports (with their exact types) the component has. The fastest
/// forms are tried first: a component that somehow had several is called the fast way.
fn detect_world(
    plugin: &str,
    engine: &wasmtime::Engine,
    component: &Component,
    pre: InstancePre<Sandbox>,
) -> Result<(World, WorldPre), LoadError> {
    let world = |kind, form| World { kind, form };
    let mut mismatches = Vec::new();
    macro_rules! try_world {
        ($module:ident :: $pre:ident, $variant:ident, $kind:expr, $form:expr, $export:literal) => {
            match $module::$pre::new(pre.clone()) {
                Ok(p) => return Ok((world($kind, $form), WorldPre::$variant(p))),
                Err(e)
                    if component_exports(engine, component)
                        .iter()
                        .any(|n| n == $export) =>
                {
                    mismatches.push(format!("{}: {e:#}", world($kind, $form)))
                }
                Err(_) => {}
            }
        };
    }
    try_world!(
        reducer_packed::ReducerPackedPre,
        ReducerPacked,
        PluginKind::Reducer,
        CallForm::Packed,
        "apply-packed-events"
    );
    try_world!(
        reducer_batch::ReducerBatchPre,
        ReducerBatch,
        PluginKind::Reducer,
        CallForm::Batched,
        "apply-events"
    );
    try_world!(
        filter_batch::FilterBatchPre,
        FilterBatch,
        PluginKind::Filter,
        CallForm::Batched,
        "filter-events"
    );
    try_world!(
        handler_batch::HandlerBatchPre,
        HandlerBatch,
        PluginKind::Handler,
        CallForm::Batched,
        "handle-events"
    );
    try_world!(
        reducer::ReducerPre,
        Reducer,
        PluginKind::Reducer,
        CallForm::PerEvent,
        "apply-event"
    );
    try_world!(
        filter::FilterPre,
        Filter,
        PluginKind::Filter,
        CallForm::PerEvent,
        "filter-event"
    );
    try_world!(
        handler::HandlerPre,
        Handler,
        PluginKind::Handler,
        CallForm::PerEvent,
        "handle-event"
    );
    let details = if mismatches.is_empty() {
        String::new()
    } else {
        format!("; closest: {}", mismatches.join("; "))
    };
    Err(LoadError::WrongWorld {
        plugin: plugin.to_string(),
        exports: component_exports(engine, component).join(", "),
        details,
    })
}

fn component_exports(engine: &wasmtime::Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect()
}
