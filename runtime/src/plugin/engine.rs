//! The one wasmtime engine and linker that every plugin shares.

use std::path::PathBuf;

use wasmtime::component::Linker;
use wasmtime::{Cache, CacheConfig, Config, Engine, ProfilingStrategy};

use super::error::LoadError;
use super::sandbox::{self, Sandbox};

/// How to set up the engine.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Where compiled plugins are cached, keyed by a hash of their bytes and of the engine's
    /// settings, so that a restart does not recompile. `None`: no disk cache.
    pub cache_dir: Option<PathBuf>,
}

impl EngineOptions {
    /// The default cache: `$EDDY_CACHE_DIR`, else `$XDG_CACHE_HOME/eddy`, else
    /// `~/.cache/eddy`; no disk cache when none of them is set.
    pub fn with_default_cache() -> Self {
        let dir = std::env::var_os("EDDY_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("eddy")))
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("eddy"))
            });
        Self {
            cache_dir: dir.map(|d| d.join("compiled")),
        }
    }
}

/// The profiler `EDDY_WASM_PROFILER` asks for: `perfmap` (writes `/tmp/perf-<pid>.map`, so
/// `perf report` names the functions of plugins) or `jitdump` (for `perf inject --jit`);
/// none when unset. For finding where a plugin spends its time, not for production.
fn profiler_from_env() -> Result<ProfilingStrategy, LoadError> {
    match std::env::var("EDDY_WASM_PROFILER").as_deref() {
        Err(_) | Ok("") | Ok("none") => Ok(ProfilingStrategy::None),
        Ok("perfmap") => Ok(ProfilingStrategy::PerfMap),
        Ok("jitdump") => Ok(ProfilingStrategy::JitDump),
        Ok(other) => Err(LoadError::Engine(format!(
            "EDDY_WASM_PROFILER=`{other}` is not a profiler: use `perfmap`, `jitdump` or `none`"
        ))),
    }
}

/// The WebAssembly engine: compiles plugins and links them against the host.
///
/// Cheap to clone; create one per process and share it.
#[derive(Clone)]
pub struct PluginEngine {
    pub(crate) engine: Engine,
    pub(crate) linker: std::sync::Arc<Linker<Sandbox>>,
}

impl PluginEngine {
    /// Creates the engine: component model, fuel metering, NaN canonicalisation, no threads.
    pub fn new(options: &EngineOptions) -> Result<Self, LoadError> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            // Deterministic floating point: NaN bit patterns are canonicalised.
            .cranelift_nan_canonicalization(true)
            .relaxed_simd_deterministic(true)
            // No component-model async: halves the cost of a bare call.
            .concurrency_support(false)
            .profiler(profiler_from_env()?);
        if let Some(dir) = &options.cache_dir {
            std::fs::create_dir_all(dir).map_err(|e| {
                LoadError::Engine(format!("cache directory {}: {e}", dir.display()))
            })?;
            let mut cache_config = CacheConfig::new();
            cache_config.with_directory(dir);
            let cache =
                Cache::new(cache_config).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
            config.cache(Some(cache));
        }
        let engine = Engine::new(&config).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        // WASI is linked so that guests built with `std` instantiate, but nothing is granted:
        // no preopened directories, no sockets, no environment, event-driven clocks.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        sandbox::add_to_linker(&mut linker).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        Ok(Self {
            engine,
            linker: std::sync::Arc::new(linker),
        })
    }
}
