//! The WebAssembly plugin host.
//!
//! A plugin is a component implementing one world of `wit/plugin.wit`. The flow:
//! [`PluginEngine::load`] compiles it (cached on disk by content hash), links it against a
//! sandbox that grants nothing, and detects its world; [`PluginInstance`] instantiates it with
//! a configuration and [`Limits`], and offers typed calls — [`PluginInstance::filter`],
//! [`PluginInstance::handle`], [`PluginInstance::init`] and [`PluginInstance::apply`] — over
//! an [`EventBatch`]. Whatever the plugin does, a call returns: a trap, an endless loop or a
//! memory bomb becomes a [`CallError`] naming the plugin and the limit.
//!
//! Hot reload: [`PluginWatcher`] watches a plugins folder and keeps a [`PluginRegistry`] (name →
//! the version serving now, swapped lock-free) in line with its `.wasm` files; workers move to
//! a new version between batches.

pub mod bindings;
mod convert;
mod determinism;
mod engine;
mod error;
mod inspect;
mod instance;
mod kind;
mod limits;
mod loader;
mod output;
mod packed;
mod registry;
mod sandbox;
mod settle;
mod watcher;

pub(crate) use convert::emitted_id;
pub use convert::{Emitted, EventBatch};
pub use engine::{EngineOptions, PluginEngine};
pub use error::{BatchFailure, CallError, LoadError};
pub use inspect::Interface;
pub use instance::PluginInstance;
pub use kind::{CallForm, PluginKind, WIT_VERSION, World};
pub use limits::{Limits, MAX_EMITTED_PER_EVENT, MAX_STATE_BYTES};
pub use loader::Plugin;
pub(crate) use loader::hash_of;
pub use registry::{PluginInfo, PluginRegistry, PluginSlot, PluginVersion, ReloadMetrics};
pub use sandbox::PluginConfig;
pub use settle::{DEBOUNCE, WRITER_TIMEOUT, WatchOptions};
pub use watcher::{Change, FolderListener, PluginWatcher, WatchError, plugin_name_of};
