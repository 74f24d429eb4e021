//! What can go wrong when loading or calling a plugin.

use std::path::PathBuf;

/// A plugin could not be loaded. Nothing was loaded; the previous version (if any) is
/// unaffected. The message names the plugin and what is wrong; fix the file and load again.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The plugin file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The bytes are not WebAssembly at all.
    #[error("plugin `{plugin}` is not a WebAssembly file (it does not start with `\\0asm`)")]
    NotWasm {
        /// The plugin's name.
        plugin: String,
    },
    /// A core WebAssembly module, where a component is needed.
    #[error(
        "plugin `{plugin}` is a core WebAssembly module, not a component: build it for \
         `wasm32-wasip2` (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule {
        /// The plugin's name.
        plugin: String,
    },
    /// The component is malformed or could not be compiled.
    #[error("plugin `{plugin}` could not be compiled: {message}")]
    Compile {
        /// The plugin's name.
        plugin: String,
        /// The compiler's explanation.
        message: String,
    },
    /// The component imports something the host does not provide (only WASI 0.2 and the
    /// `eddy:plugin` interfaces are available).
    #[error("plugin `{plugin}` needs an import Eddy does not provide: {message}")]
    UnsupportedImport {
        /// The plugin's name.
        plugin: String,
        /// Which import is missing.
        message: String,
    },
    /// The component implements none of the `eddy:plugin@0.1` worlds.
    #[error(
        "plugin `{plugin}` does not implement any eddy:plugin@0.1 world (filter, handler, \
         reducer, or their -batch or -packed forms); it exports [{exports}]{details}"
    )]
    WrongWorld {
        /// The plugin's name.
        plugin: String,
        /// The names the component exports.
        exports: String,
        /// Why the closest world did not match, when one was close.
        details: String,
    },
    /// The WebAssembly engine could not be set up (e.g. the cache directory is unusable).
    #[error("the WebAssembly engine could not be set up: {0}")]
    Engine(String),
}

/// Why a plugin call failed for one event.
///
/// `Retry` and `Trap` may succeed later (retry with backoff); the others will fail again
/// for the same event (dead-letter it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The plugin asked for a retry (a transient failure).
    #[error("plugin `{plugin}` asked to retry: {message}")]
    Retry {
        /// The plugin's name.
        plugin: String,
        /// The plugin's message.
        message: String,
    },
    /// The plugin rejected the event (a permanent failure).
    #[error("plugin `{plugin}` rejected the event: {message}")]
    Reject {
        /// The plugin's name.
        plugin: String,
        /// The plugin's message.
        message: String,
    },
    /// The event used more fuel than the limit allows (e.g. an endless loop).
    #[error("plugin `{plugin}` ran out of fuel: the limit is {fuel} per event")]
    OutOfFuel {
        /// The plugin's name.
        plugin: String,
        /// The fuel limit.
        fuel: u64,
    },
    /// The plugin tried to grow its memory past the limit.
    #[error("plugin `{plugin}` exceeded its memory limit of {limit_mb} MiB")]
    OutOfMemory {
        /// The plugin's name.
        plugin: String,
        /// The limit.
        limit_mb: u64,
    },
    /// The plugin trapped (a panic, an `unreachable`, a stack overflow, …).
    #[error("plugin `{plugin}` trapped: {message}")]
    Trap {
        /// The plugin's name.
        plugin: String,
        /// What wasmtime reported.
        message: String,
    },
    /// The plugin returned something the host cannot use (e.g. invalid JSON data in an
    /// emitted event, or a wrong number of verdicts).
    #[error("plugin `{plugin}` returned an invalid result: {message}")]
    BadOutput {
        /// The plugin's name.
        plugin: String,
        /// What is wrong.
        message: String,
    },
}

impl CallError {
    /// Whether trying the same event again later could succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, CallError::Retry { .. } | CallError::Trap { .. })
    }

    /// Whether the plugin itself misbehaved (trapped, ran out of fuel or memory, returned
    /// something unusable) rather than answering `retry` or `reject`: what quarantine counts.
    pub fn is_fault(&self) -> bool {
        !matches!(self, CallError::Retry { .. } | CallError::Reject { .. })
    }
}

/// A batched call that failed at one event.
///
/// Events before `index` succeeded, and `before` holds their results (the state after them,
/// their verdicts, or their emitted events); the event at `index` failed with `error`; events
/// after it were not processed.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchFailure<T> {
    /// The index, within the call's events, of the event that failed.
    pub index: usize,
    /// Why it failed.
    pub error: CallError,
    /// The results of the events before `index`.
    pub before: T,
}
