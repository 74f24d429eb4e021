//! Write Eddy plugins — reducers, filters and handlers — in Rust: one trait impl, one `export!`.
//!
//! ```
//! use guest_sdk::{Error, Event, Reducer};
//! use serde::{Deserialize, Serialize};
//!
//! /// Counts the events of each subject and sums the `amount` in their data.
//! struct Totals;
//!
//! #[derive(Serialize, Deserialize)]
//! struct State {
//!     events: u64,
//!     amount: i64,
//! }
//!
//! #[derive(Deserialize)]
//! struct Payment {
//!     amount: i64,
//! }
//!
//! impl Reducer for Totals {
//!     type State = State;
//!
//!     fn init() -> State {
//!         State { events: 0, amount: 0 }
//!     }
//!
//!     fn apply_event(state: &mut State, event: &Event) -> Result<(), Error> {
//!         state.events += 1;
//!         if event.ty == "payment.received" {
//!             let payment: Payment = event.data_json()?; // bad data: a reject
//!             state.amount = state
//!                 .amount
//!                 .checked_add(payment.amount)
//!                 .ok_or_else(|| Error::reject("amount overflows"))?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! guest_sdk::export!(Totals: Reducer);
//! # fn main() {}
//! ```
//!
//! # For plugin authors
//!
//! 1. `cargo new --lib my-plugin`, then in its `Cargo.toml`:
//!    `[lib] crate-type = ["cdylib"]` and the dependencies `guest-sdk` (plus `serde` /
//!    `serde_json` if you use them). Do not depend on `wit-bindgen` yourself.
//! 2. Implement one of [`Reducer`], [`Filter`] or [`Handler`] on a unit struct, and export it
//!    with [`export!`]: `guest_sdk::export!(MyType: Reducer);` (or `: Filter`, `: Handler`).
//! 3. Build a component: `cargo build --release --target wasm32-wasip2`, and hand
//!    `target/wasm32-wasip2/release/my_plugin.wasm` to Eddy (drop it into the watched folder,
//!    or `eddy replay` it against a fixture of events). A release profile with `lto = true`
//!    and `panic = "abort"` gives smaller, faster components (see `plugins/Cargo.toml`).
//!
//! Things to know:
//!
//! - **Errors.** Return [`Error::retry`] when trying again later could help (a dependency was
//!   down) and [`Error::reject`] when it cannot (bad data): rejected events go to the
//!   dead-letter stream. `event.data_json()?` rejects on bad data by itself.
//! - **Determinism.** Reducers and filters must give the same result for the same events on
//!   every run and at every batch size. There is no filesystem, network or environment; the
//!   clock reads the current event's `time` and randomness is seeded from its `id`. Keep maps
//!   in the state as `BTreeMap` so that their JSON is ordered.
//! - **Batches.** The SDK implements the batched worlds (`reducer-packed`, `filter-batch`,
//!   `handler-batch`): one call carries many events, and the SDK loops over them, decoding a
//!   reducer's state once and encoding it once per call. On the
//!   first error it stops; the host replays the events before it, so never keep state outside
//!   [`Reducer::State`].
//! - **Panics** abort the call (a wasm trap): the host fails that call, not itself.
//! - **One `export!` per crate**: a component is exactly one plugin. The generated bindings
//!   use `unsafe` internally; `#![deny(unsafe_code)]` in your crate is fine, `forbid` is not.
//! - **Configuration and logs.** [`config::get`] reads the subscription's `config` table
//!   ([`config::parse`] also parses it); [`log::info`] and friends write to the host's log.
//! - **Testing.** The traits are plain Rust: call `MyType::apply_event` on an [`Event`] built
//!   with `..Default::default()` in an ordinary `cargo test` on your machine (pass your host's
//!   `--target` if your `.cargo/config.toml` defaults to wasm). A handler's [`Outgoing`] has
//!   public fields and [`Outgoing::data_json`] to check what it would publish. Natively no
//!   config is set and log lines go to standard error.
//!
//! # Crate map
//!
//! - `event` — [`Event`], what a plugin receives, and [`DataError`].
//! - `error` — [`Error`]: retry or reject.
//! - `reducer`, `filter`, `handler` — the three traits, and the batch loop behind each.
//! - `batch` — the loop they share: enter each event, stop at the first error.
//! - `packed` — reading a reducer's events out of the one buffer they arrive in.
//! - [`config`], [`log`] — the host imports, as plain functions.
//! - `host` — the table through which the `export!` expansion connects those to the host.

#![deny(missing_docs)]

mod batch;
pub mod config;
mod error;
mod event;
mod filter;
mod handler;
mod host;
pub mod log;
mod packed;
mod reducer;

pub use error::Error;
pub use event::{DataError, Event};
pub use filter::Filter;
pub use handler::{Handler, Outgoing};
pub use reducer::Reducer;

/// Exports a type as this component's plugin: `export!(MyType: Reducer);`, `: Filter` or `: Handler`.
///
/// Write it once per plugin crate, at the crate root or in any module. It generates the
/// WebAssembly bindings of the matching batched world (`eddy:plugin/reducer-packed`,
/// `filter-batch` or `handler-batch`) and the glue that calls your trait impl; all of it stays
/// hidden inside an anonymous `const`, so none of its names can clash with yours.
///
/// ```compile_fail
/// struct Mine;
/// guest_sdk::export!(Mine: Projector); // error: `Projector` is not a plugin kind
/// ```
#[macro_export]
macro_rules! export {
    ($plugin:ty : Reducer $(,)?) => {
        $crate::__export_kind!($plugin, Reducer, reducer);
    };
    ($plugin:ty : Filter $(,)?) => {
        $crate::__export_kind!($plugin, Filter, filter);
    };
    ($plugin:ty : Handler $(,)?) => {
        $crate::__export_kind!($plugin, Handler, handler);
    };
    ($plugin:ty : $kind:ident $(,)?) => {
        ::core::compile_error!(::core::concat!(
            "`",
            ::core::stringify!($kind),
            "` is not a plugin kind: write `export!(",
            ::core::stringify!($plugin),
            ": Reducer)`, `export!(",
            ::core::stringify!($plugin),
            ": Filter)` or `export!(",
            ::core::stringify!($plugin),
            ": Handler)`"
        ));
    };
    ($($other:tt)*) => {
        ::core::compile_error!(
            "usage: `guest_sdk::export!(MyType: Reducer);` (or `: Filter`, `: Handler`)"
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export_kind {
    ($plugin:ty, $trait:ident, $world:ident) => {
        // The bindings need `unsafe` (exports, imports); a plugin crate that denies it for its
        // own code still compiles.
        #[allow(unsafe_code, clippy::all)]
        const _: () = {
            #[doc(hidden)]
            type __EddyPlugin = $plugin;

            // Points the "trait not implemented" error at the user's type.
            const _: fn() = || {
                fn __eddy_requires<T: $crate::$trait>() {}
                __eddy_requires::<$plugin>();
            };

            $crate::__private::export_world!($world);
        };
    };
}

/// Implementation details of [`export!`]; not a public API, may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::batch::BatchFailure;
    pub use crate::host::{HostFns, install_host};
    pub use guest_sdk_macros::__export_world as export_world;
    pub use wit_bindgen;

    use crate::{Event, Filter, Handler, Outgoing, Reducer};

    /// The encoded initial state of `R`.
    pub fn reducer_init<R: Reducer>() -> Vec<u8> {
        crate::reducer::init::<R>()
    }

    /// `apply-events` of `R`, entering each event through the host.
    pub fn reducer_apply_events<R: Reducer>(
        state: &[u8],
        events: &[Event],
    ) -> Result<Vec<u8>, BatchFailure> {
        crate::reducer::apply_events::<R>(state, events, crate::host::enter_event)
    }

    /// `apply-packed-events` of `R`, entering each event through the host.
    pub fn reducer_apply_packed_events<R: Reducer>(
        state: &[u8],
        events: &[u8],
    ) -> Result<Vec<u8>, BatchFailure> {
        crate::reducer::apply_packed_events::<R>(state, events, crate::host::enter_event)
    }

    /// `filter-events` of `F`, entering each event through the host.
    pub fn filter_events<F: Filter>(events: &[Event]) -> Result<Vec<bool>, BatchFailure> {
        crate::filter::filter_events::<F>(events, crate::host::enter_event)
    }

    /// `handle-events` of `H`, entering each event through the host.
    pub fn handle_events<H: Handler>(events: &[Event]) -> Result<Vec<Vec<Outgoing>>, BatchFailure> {
        crate::handler::handle_events::<H>(events, crate::host::enter_event)
    }
}
