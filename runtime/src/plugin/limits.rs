//! Per-call limits on what a plugin may consume: fuel (CPU) and memory.

/// Limits applied to every plugin call.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Fuel (roughly, WebAssembly instructions) one event may use. The budget is refilled at
    /// each event boundary, so an event runs out at the same place whatever the batch size;
    /// a batched plugin that does not report event boundaries gets it once per call.
    #[serde(default = "default_fuel")]
    pub fuel: u64,
    /// Linear memory one plugin instance may grow to, in MiB.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u64,
}

fn default_fuel() -> u64 {
    Limits::default().fuel
}

fn default_memory_mb() -> u64 {
    Limits::default().memory_mb
}

impl Default for Limits {
    /// 100 million fuel per event and 64 MiB of memory: far above what a sane reducer needs,
    /// low enough that a runaway plugin fails within a second.
    fn default() -> Self {
        Self {
            fuel: 100_000_000,
            memory_mb: 64,
        }
    }
}

impl Limits {
    /// The memory limit in bytes.
    pub fn memory_bytes(&self) -> usize {
        usize::try_from(self.memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
    }
}

/// The most events a handler may emit for one input event. A handler that fans out wider is
/// almost certainly looping; its output is refused (the event fails) rather than appended.
pub const MAX_EMITTED_PER_EVENT: usize = 10_000;

/// The largest state a reducer may return, in bytes. States are stored whole at every commit,
/// so a state this big is already a design problem; a bigger one is refused (the event fails)
/// rather than written. The memory limit usually stops a runaway state earlier.
pub const MAX_STATE_BYTES: usize = 32 << 20;

/// Enforces the memory limit and remembers whether it was hit, so that the trap that follows
/// (a Rust guest aborts when allocation fails) is reported as what it is.
pub(crate) struct MemoryLimiter {
    max_bytes: usize,
    pub(crate) exceeded: bool,
}

impl MemoryLimiter {
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            exceeded: false,
        }
    }
}

/// Tables are small in practice; this bound only stops a table-growth bomb.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
