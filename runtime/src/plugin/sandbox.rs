//! The per-instance host state: WASI with nothing granted, the deterministic environment,
//! limits, and the `eddy:plugin` host imports (log, config, batch-context).

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use wasmtime::StoreContextMut;
use wasmtime::component::{HasSelf, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{config, log, types};
use super::convert::EventBatch;
use super::determinism::{
    EventContext, EventMonotonicClock, EventRandom, EventWallClock, OUTSIDE_SEED,
};
use super::kind::WIT_VERSION;
use super::limits::{Limits, MemoryLimiter};
use super::output::LogOutput;

/// A plugin's configuration: string keys and values, fixed for the life of an instance.
pub type PluginConfig = BTreeMap<String, String>;

/// Everything one plugin instance's store holds.
pub(crate) struct Sandbox {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    config: Arc<PluginConfig>,
    context: Arc<EventContext>,
    /// The events of the batch in flight, for `enter-event`: each one's time, and its id
    /// (the ids one after another in `batch_ids`, each ending at its `batch_id_ends`).
    batch_times: Vec<i64>,
    batch_ids: String,
    batch_id_ends: Vec<usize>,
    /// The next index `enter-event` may enter: indices only move forward, so a plugin cannot
    /// refill its fuel by entering the same event again.
    next_index: usize,
    fuel_per_event: u64,
    /// Fuel used in the current call up to the last refill (see `enter_event`).
    pub(crate) fuel_used: u64,
    plugin: Arc<str>,
}

impl Sandbox {
    /// A sandbox with no filesystem, network, environment or arguments; clocks and randomness
    /// follow the current event.
    pub(crate) fn new(plugin: Arc<str>, config: Arc<PluginConfig>, limits: &Limits) -> Self {
        let context = EventContext::new();
        let wasi = WasiCtx::builder()
            .wall_clock(EventWallClock(context.clone()))
            .monotonic_clock(EventMonotonicClock(context.clone()))
            .secure_random(EventRandom(context.clone()))
            .insecure_random(EventRandom(context.clone()))
            .insecure_random_seed(u128::from(OUTSIDE_SEED))
            .stdout(LogOutput::new(plugin.clone(), "stdout"))
            .stderr(LogOutput::new(plugin.clone(), "stderr"))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(limits.memory_bytes()),
            config,
            context,
            batch_times: Vec::new(),
            batch_ids: String::new(),
            batch_id_ends: Vec::new(),
            next_index: 0,
            fuel_per_event: limits.fuel,
            fuel_used: 0,
            plugin,
        }
    }

    /// Prepares a call over `batch[range]`: the clock starts at the first event (the only one
    /// of a per-event call), and `enter-event` moves on through the others.
    pub(crate) fn begin_batch(&mut self, batch: &EventBatch, range: Range<usize>) {
        self.batch_times.clear();
        self.batch_ids.clear();
        self.batch_id_ends.clear();
        for i in range {
            let (time_nanos, id) = batch.stamp(i);
            self.batch_times.push(time_nanos);
            self.batch_ids.push_str(id);
            self.batch_id_ends.push(self.batch_ids.len());
        }
        self.next_index = 0;
        self.enter_index(0);
    }

    /// Makes event `index` of the batch in flight current (outside any event past its end).
    fn enter_index(&mut self, index: usize) {
        match self.batch_times.get(index) {
            Some(&time_nanos) => {
                let start = index.checked_sub(1).map_or(0, |i| self.batch_id_ends[i]);
                let id = &self.batch_ids[start..self.batch_id_ends[index]];
                self.context.enter(time_nanos, id);
            }
            None => self.context.leave(),
        }
    }

    /// Outside any event (e.g. `init`).
    pub(crate) fn leave(&mut self) {
        self.batch_times.clear();
        self.batch_ids.clear();
        self.batch_id_ends.clear();
        self.next_index = 0;
        self.context.leave();
    }

    pub(crate) fn fuel_per_event(&self) -> u64 {
        self.fuel_per_event
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl log::Host for Sandbox {
    fn log(&mut self, level: log::Level, message: String) {
        let plugin = &*self.plugin;
        let message = &message[..message.len().min(8 * 1024)];
        match level {
            log::Level::Trace => tracing::trace!(target: "eddy::plugin", plugin, "{message}"),
            log::Level::Debug => tracing::debug!(target: "eddy::plugin", plugin, "{message}"),
            log::Level::Info => tracing::info!(target: "eddy::plugin", plugin, "{message}"),
            log::Level::Warn => tracing::warn!(target: "eddy::plugin", plugin, "{message}"),
            log::Level::Error => tracing::error!(target: "eddy::plugin", plugin, "{message}"),
        }
    }
}

impl config::Host for Sandbox {
    fn get(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }

    fn get_all(&mut self) -> Vec<(String, String)> {
        self.config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// `batch-context.enter-event`, linked by hand because it needs the store: entering an event
/// refills the fuel budget for that event.
fn enter_event(mut store: StoreContextMut<'_, Sandbox>, index: u32) {
    let sandbox = store.data_mut();
    let index = index as usize;
    if index < sandbox.next_index || index >= sandbox.batch_times.len() {
        return;
    }
    sandbox.next_index = index + 1;
    sandbox.enter_index(index);
    let fuel = sandbox.fuel_per_event;
    // Account for what was used since the last fill before refilling.
    let left = store.get_fuel().unwrap_or(0);
    let sandbox = store.data_mut();
    sandbox.fuel_used += fuel.saturating_sub(left);
    // Refilling per event makes running out of fuel independent of the batch size.
    let _ = store.set_fuel(fuel);
}

impl types::Host for Sandbox {}

/// Adds the `eddy:plugin` host interfaces to a linker.
pub(crate) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<Sandbox>,
) -> wasmtime::Result<()> {
    log::add_to_linker::<Sandbox, HasSelf<Sandbox>>(linker, |s| s)?;
    config::add_to_linker::<Sandbox, HasSelf<Sandbox>>(linker, |s| s)?;
    linker
        .instance(&format!("eddy:plugin/batch-context@{WIT_VERSION}"))?
        .func_wrap("enter-event", |store, (index,): (u32,)| {
            enter_event(store, index);
            Ok(())
        })?;
    types::add_to_linker::<Sandbox, HasSelf<Sandbox>>(linker, |s| s)?;
    Ok(())
}
