//! A live plugin instance and the typed calls into it.
//!
//! One instance serves many calls (instantiating per call would cost more than the call). A
//! call that traps — a panic, running out of fuel or memory — poisons the instance, so it is
//! dropped and the next call gets a fresh one from the pre-instantiated component.

use std::ops::Range;
use std::sync::Arc;

use wasmtime::Store;

use super::bindings::{
    filter, filter_batch, handler, handler_batch, reducer, reducer_batch, reducer_packed, types,
};
use super::convert::{Emitted, EventBatch, emitted_event};
use super::error::{BatchFailure, CallError};
use super::kind::PluginKind;
use super::limits::{Limits, MAX_EMITTED_PER_EVENT, MAX_STATE_BYTES};
use super::loader::{Plugin, WorldPre};
use super::sandbox::{PluginConfig, Sandbox};

/// An instantiated plugin with its configuration and limits. Not shared between threads:
/// give each worker its own.
pub struct PluginInstance {
    plugin: Plugin,
    config: Arc<PluginConfig>,
    limits: Limits,
    live: Option<Live>,
    init_state: Option<Vec<u8>>,
    /// Fuel used by calls since [`PluginInstance::take_fuel_used`] was last asked.
    fuel_used: u64,
}

struct Live {
    store: Store<Sandbox>,
    exports: Exports,
}

enum Exports {
    Filter(filter::Filter),
    FilterBatch(filter_batch::FilterBatch),
    Handler(handler::Handler),
    HandlerBatch(handler_batch::HandlerBatch),
    Reducer(reducer::Reducer),
    ReducerBatch(reducer_batch::ReducerBatch),
    ReducerPacked(reducer_packed::ReducerPacked),
}

/// What a run over some events has produced so far.
#[derive(Clone)]
enum Acc {
    State(Vec<u8>),
    Verdicts(Vec<bool>),
    Outputs(Vec<Vec<Emitted>>),
}

impl Acc {
    /// Adds the results of the next events.
    fn extend(self, next: Acc) -> Acc {
        match (self, next) {
            (Acc::Verdicts(mut a), Acc::Verdicts(b)) => {
                a.extend(b);
                Acc::Verdicts(a)
            }
            (Acc::Outputs(mut a), Acc::Outputs(b)) => {
                a.extend(b);
                Acc::Outputs(a)
            }
            (_, next) => next,
        }
    }
}

/// The index reported for a failure that concerns a whole call, not one of its events.
const WHOLE_CALL: usize = usize::MAX;

/// A call's outcome before classification: the guest either finished (possibly reporting a
/// failed event) or trapped.
type RawOutcome = Result<Result<Acc, (usize, CallError)>, CallError>;

impl PluginInstance {
    /// Instantiates `plugin` with its configuration and limits. Fails if instantiation itself
    /// traps (e.g. a start function that panics).
    pub fn new(plugin: &Plugin, config: PluginConfig, limits: Limits) -> Result<Self, CallError> {
        let mut instance = Self {
            plugin: plugin.clone(),
            config: Arc::new(config),
            limits,
            live: None,
            init_state: None,
            fuel_used: 0,
        };
        instance.live()?;
        Ok(instance)
    }

    /// The plugin this instance runs.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// The fuel (roughly, WebAssembly instructions) the plugin used since the last time this
    /// was asked; for metrics.
    pub fn take_fuel_used(&mut self) -> u64 {
        std::mem::take(&mut self.fuel_used)
    }

    /// Adds the fuel the call that just ended used to the total (before the store can be
    /// dropped by a trap).
    fn settle_fuel(&mut self) {
        let per_event = self.limits.fuel;
        if let Some(live) = self.live.as_mut() {
            let left = live.store.get_fuel().unwrap_or(0);
            let sandbox = live.store.data_mut();
            let used = sandbox.fuel_used + per_event.saturating_sub(left);
            sandbox.fuel_used = 0;
            self.fuel_used = self.fuel_used.saturating_add(used);
        }
    }

    /// The reducer's initial state (computed once per instance: `init` is deterministic).
    pub fn init(&mut self) -> Result<Vec<u8>, CallError> {
        if let Some(state) = &self.init_state {
            return Ok(state.clone());
        }
        self.expect_kind(PluginKind::Reducer)?;
        let fuel = self.limits.fuel;
        let live = self.live()?;
        live.store.data_mut().leave();
        live.store.data_mut().limiter.exceeded = false;
        let result = live
            .store
            .set_fuel(fuel)
            .and_then(|()| match &live.exports {
                Exports::Reducer(r) => r.call_init(&mut live.store),
                Exports::ReducerBatch(r) => r.call_init(&mut live.store),
                Exports::ReducerPacked(r) => r.call_init(&mut live.store),
                _ => unreachable!("checked by expect_kind"),
            });
        match result {
            Ok(state) => {
                self.init_state = Some(state.clone());
                Ok(state)
            }
            Err(error) => Err(self.trapped(error)),
        }
    }

    /// Folds `batch` into `state` (a reducer; all events of one subject, in order).
    pub fn apply(
        &mut self,
        state: Vec<u8>,
        batch: &EventBatch,
    ) -> Result<Vec<u8>, BatchFailure<Vec<u8>>> {
        if let Err(error) = self.expect_kind(PluginKind::Reducer) {
            return Err(BatchFailure {
                index: 0,
                error,
                before: state,
            });
        }
        match self.run(Acc::State(state), batch, 0..batch.len()) {
            Ok(Acc::State(s)) => Ok(s),
            Err(f) => Err(f.map(|acc| match acc {
                Acc::State(s) => s,
                _ => Vec::new(),
            })),
            Ok(_) => unreachable!("a reducer run yields a state"),
        }
    }

    /// Asks a filter which events to keep: one verdict per event.
    pub fn filter(&mut self, batch: &EventBatch) -> Result<Vec<bool>, BatchFailure<Vec<bool>>> {
        if let Err(error) = self.expect_kind(PluginKind::Filter) {
            return Err(BatchFailure {
                index: 0,
                error,
                before: Vec::new(),
            });
        }
        match self.run(
            Acc::Verdicts(Vec::with_capacity(batch.len())),
            batch,
            0..batch.len(),
        ) {
            Ok(Acc::Verdicts(v)) => Ok(v),
            Err(f) => Err(f.map(|acc| match acc {
                Acc::Verdicts(v) => v,
                _ => Vec::new(),
            })),
            Ok(_) => unreachable!("a filter run yields verdicts"),
        }
    }

    /// Runs a handler: for each event, the events it emits.
    pub fn handle(
        &mut self,
        batch: &EventBatch,
    ) -> Result<Vec<Vec<Emitted>>, BatchFailure<Vec<Vec<Emitted>>>> {
        if let Err(error) = self.expect_kind(PluginKind::Handler) {
            return Err(BatchFailure {
                index: 0,
                error,
                before: Vec::new(),
            });
        }
        match self.run(
            Acc::Outputs(Vec::with_capacity(batch.len())),
            batch,
            0..batch.len(),
        ) {
            Ok(Acc::Outputs(o)) => Ok(o),
            Err(f) => Err(f.map(|acc| match acc {
                Acc::Outputs(o) => o,
                _ => Vec::new(),
            })),
            Ok(_) => unreachable!("a handler run yields outputs"),
        }
    }

    fn expect_kind(&self, kind: PluginKind) -> Result<(), CallError> {
        if self.plugin.kind() == kind {
            return Ok(());
        }
        Err(CallError::BadOutput {
            plugin: self.plugin.name().to_string(),
            message: format!("it is a {}, not a {kind}", self.plugin.kind()),
        })
    }

    /// Runs `batch[range]` on top of `start`. Batched worlds get one call; if it fails, the
    /// failing event is pinned down (see the module docs) and the results before it kept.
    fn run(
        &mut self,
        start: Acc,
        batch: &EventBatch,
        range: Range<usize>,
    ) -> Result<Acc, BatchFailure<Acc>> {
        if !self.plugin.world().form.is_batched() || range.len() <= 1 {
            return self.run_one_by_one(start, batch, range);
        }
        match self.call(&start, batch, range.clone()) {
            Ok(Ok(result)) => Ok(start.extend(result)),
            Ok(Err((index, error))) => {
                // The plugin reported event `index`; re-run the events before it (results
                // are deterministic) to get the results the caller keeps.
                let before = if index == 0 {
                    start
                } else {
                    self.run(start, batch, range.start..range.start + index)?
                };
                Err(BatchFailure {
                    index,
                    error,
                    before,
                })
            }
            // A trap does not say which event caused it: find out one event at a time.
            Err(_) => self.run_one_by_one(start, batch, range),
        }
    }

    fn run_one_by_one(
        &mut self,
        mut acc: Acc,
        batch: &EventBatch,
        range: Range<usize>,
    ) -> Result<Acc, BatchFailure<Acc>> {
        for i in range.clone() {
            match self.call(&acc, batch, i..i + 1) {
                Ok(Ok(result)) => acc = acc.extend(result),
                Ok(Err((_, error))) | Err(error) => {
                    return Err(BatchFailure {
                        index: i - range.start,
                        error,
                        before: acc,
                    });
                }
            }
        }
        Ok(acc)
    }

    /// One call into the guest over `batch[range]` (a single event for per-event worlds).
    fn call(&mut self, acc: &Acc, batch: &EventBatch, range: Range<usize>) -> RawOutcome {
        let plugin = self.plugin.name.clone();
        let fuel = self.limits.fuel;
        let live = self.live()?;
        // Only the record worlds need the WIT records; packed plugins never build them.
        let events = || &batch.records()[range.clone()];
        let store = &mut live.store;
        store.data_mut().limiter.exceeded = false;
        store.data_mut().begin_batch(batch, range.clone());
        let guest = |e: types::Error| guest_error(&plugin, e);
        let result: wasmtime::Result<Result<Acc, (usize, CallError)>> = store
            .set_fuel(fuel)
            .and_then(|()| match (&live.exports, acc) {
                (Exports::ReducerPacked(r), Acc::State(state)) => r
                    .call_apply_packed_events(&mut *store, state, &batch.packed(range.clone()))
                    .map(|r| {
                        r.map(Acc::State)
                            .map_err(|e| (e.index as usize, guest(e.error)))
                    }),
                (Exports::ReducerBatch(r), Acc::State(state)) => {
                    r.call_apply_events(&mut *store, state, events()).map(|r| {
                        r.map(Acc::State)
                            .map_err(|e| (e.index as usize, guest(e.error)))
                    })
                }
                (Exports::Reducer(r), Acc::State(state)) => r
                    .call_apply_event(&mut *store, state, &events()[0])
                    .map(|r| r.map(Acc::State).map_err(|e| (0, guest(e)))),
                (Exports::FilterBatch(f), _) => {
                    f.call_filter_events(&mut *store, events()).map(|r| {
                        r.map(Acc::Verdicts)
                            .map_err(|e| (e.index as usize, guest(e.error)))
                    })
                }
                (Exports::Filter(f), _) => {
                    f.call_filter_event(&mut *store, &events()[0]).map(|r| {
                        r.map(|keep| Acc::Verdicts(vec![keep]))
                            .map_err(|e| (0, guest(e)))
                    })
                }
                (Exports::HandlerBatch(h), _) => h
                    .call_handle_events(&mut *store, events())
                    .map(|r| r.map_err(|e| (e.index as usize, guest(e.error))))
                    .map(|r| r.and_then(|outs| emitted(&plugin, events(), outs))),
                (Exports::Handler(h), _) => h
                    .call_handle_event(&mut *store, &events()[0])
                    .map(|r| r.map_err(|e| (0, guest(e))))
                    .map(|r| r.and_then(|outs| emitted(&plugin, events(), vec![outs]))),
                (_, _) => Ok(Err((
                    0,
                    bad_output(&plugin, "state given to a non-reducer"),
                ))),
            });
        self.settle_fuel();
        match result {
            Ok(Ok(acc)) => {
                let expected = range.len();
                match &acc {
                    Acc::Verdicts(v) if v.len() != expected => Err(bad_output(
                        &plugin,
                        &format!("{} verdicts for {expected} events", v.len()),
                    )),
                    // Treated like a trap: run one event at a time to find the culprit.
                    Acc::State(s) if s.len() > MAX_STATE_BYTES => Err(bad_output(
                        &plugin,
                        &format!(
                            "a state of {} bytes, more than the limit of {MAX_STATE_BYTES}",
                            s.len()
                        ),
                    )),
                    _ => Ok(Ok(acc)),
                }
            }
            // The whole call's output is unusable: treat it like a trap, so the failing event
            // is found by running the events one at a time.
            Ok(Err((WHOLE_CALL, error))) => Err(error),
            Ok(Err((index, error))) if index >= range.len() => {
                Err(guest_index_error(&plugin, index, range.len(), error))
            }
            Ok(Err(failure)) => Ok(Err(failure)),
            Err(error) => Err(self.trapped(error)),
        }
    }

    /// Classifies a trap and drops the poisoned instance.
    fn trapped(&mut self, error: wasmtime::Error) -> CallError {
        let plugin = self.plugin.name().to_string();
        let memory_exceeded = self
            .live
            .as_ref()
            .is_some_and(|live| live.store.data().limiter.exceeded);
        self.live = None;
        if error.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::OutOfFuel) {
            return CallError::OutOfFuel {
                plugin,
                fuel: self.limits.fuel,
            };
        }
        if memory_exceeded {
            return CallError::OutOfMemory {
                plugin,
                limit_mb: self.limits.memory_mb,
            };
        }
        // The root cause says what happened; the backtrace is for whoever debugs the plugin.
        tracing::debug!(target: "eddy::plugin", plugin, "trap: {error:?}");
        let mut message = error.root_cause().to_string();
        message.truncate(2000);
        CallError::Trap { plugin, message }
    }

    /// The live instance, instantiated if needed.
    fn live(&mut self) -> Result<&mut Live, CallError> {
        if self.live.is_none() {
            let live = self.instantiate().map_err(|error| {
                let message = format!("{error:#}").replace('\n', " ");
                CallError::Trap {
                    plugin: self.plugin.name().to_string(),
                    message: format!("instantiation failed: {message}"),
                }
            })?;
            self.live = Some(live);
        }
        Ok(self.live.as_mut().expect("just instantiated"))
    }

    fn instantiate(&self) -> wasmtime::Result<Live> {
        let engine = match &self.plugin.pre {
            WorldPre::Filter(p) => p.engine(),
            WorldPre::FilterBatch(p) => p.engine(),
            WorldPre::Handler(p) => p.engine(),
            WorldPre::HandlerBatch(p) => p.engine(),
            WorldPre::Reducer(p) => p.engine(),
            WorldPre::ReducerBatch(p) => p.engine(),
            WorldPre::ReducerPacked(p) => p.engine(),
        };
        let sandbox = Sandbox::new(self.plugin.name.clone(), self.config.clone(), &self.limits);
        let mut store = Store::new(engine, sandbox);
        store.limiter(|sandbox| &mut sandbox.limiter);
        let fuel = store.data().fuel_per_event();
        store.set_fuel(fuel)?;
        let exports = match &self.plugin.pre {
            WorldPre::Filter(p) => Exports::Filter(p.instantiate(&mut store)?),
            WorldPre::FilterBatch(p) => Exports::FilterBatch(p.instantiate(&mut store)?),
            WorldPre::Handler(p) => Exports::Handler(p.instantiate(&mut store)?),
            WorldPre::HandlerBatch(p) => Exports::HandlerBatch(p.instantiate(&mut store)?),
            WorldPre::Reducer(p) => Exports::Reducer(p.instantiate(&mut store)?),
            WorldPre::ReducerBatch(p) => Exports::ReducerBatch(p.instantiate(&mut store)?),
            WorldPre::ReducerPacked(p) => Exports::ReducerPacked(p.instantiate(&mut store)?),
        };
        Ok(Live { store, exports })
    }
}

impl<T> BatchFailure<T> {
    /// The same failure with its partial results transformed.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> BatchFailure<U> {
        BatchFailure {
            index: self.index,
            error: self.error,
            before: f(self.before),
        }
    }
}

fn guest_error(plugin: &str, error: types::Error) -> CallError {
    match error {
        types::Error::Retry(message) => CallError::Retry {
            plugin: plugin.to_string(),
            message,
        },
        types::Error::Reject(message) => CallError::Reject {
            plugin: plugin.to_string(),
            message,
        },
    }
}

fn guest_index_error(plugin: &str, index: usize, len: usize, error: CallError) -> CallError {
    bad_output(
        plugin,
        &format!("it reported a failure of event {index} in a batch of {len} ({error})"),
    )
}

fn bad_output(plugin: &str, message: &str) -> CallError {
    CallError::BadOutput {
        plugin: plugin.to_string(),
        message: message.to_string(),
    }
}

/// Converts a handler's outputs; an unusable output fails the event that produced it.
fn emitted(
    plugin: &str,
    inputs: &[types::Event],
    outputs: Vec<Vec<types::OutgoingEvent>>,
) -> Result<Acc, (usize, CallError)> {
    if outputs.len() != inputs.len() {
        return Err((
            WHOLE_CALL,
            bad_output(
                plugin,
                &format!("{} output lists for {} events", outputs.len(), inputs.len()),
            ),
        ));
    }
    let mut all = Vec::with_capacity(outputs.len());
    for (i, (input, outs)) in inputs.iter().zip(outputs).enumerate() {
        if outs.len() > MAX_EMITTED_PER_EVENT {
            let message = format!(
                "{} events emitted for one event, more than the limit of {MAX_EMITTED_PER_EVENT}",
                outs.len()
            );
            return Err((i, bad_output(plugin, &message)));
        }
        let mut converted = Vec::with_capacity(outs.len());
        for (j, out) in outs.into_iter().enumerate() {
            let event = emitted_event(plugin, input, j, out)
                .map_err(|e| (i, bad_output(plugin, &format!("emitted event {j}: {e}"))))?;
            converted.push(event);
        }
        all.push(converted);
    }
    Ok(Acc::Outputs(all))
}
