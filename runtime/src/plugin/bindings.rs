//! The one place where Rust bindings for the WIT contract (`wit/plugin.wit`) are generated.
//!
//! Each world gets its own typed bindings; the shared interfaces (`types`, `log`, `config`,
//! `batch-context`) are generated once, with the `reducer-batch` world, and reused by the
//! others so that an `Event` is the same Rust type whatever the world.

#![allow(missing_docs, clippy::all)]

/// `reducer-batch`: also the home of the shared interfaces.
pub mod reducer_batch {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "eddy:plugin/reducer-batch",
    });
}

/// `reducer-packed`: many events per call, in one buffer.
pub mod reducer_packed {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "eddy:plugin/reducer-packed",
        with: {
            "eddy:plugin/types": super::reducer_batch::eddy::plugin::types,
            "eddy:plugin/log": super::reducer_batch::eddy::plugin::log,
            "eddy:plugin/config": super::reducer_batch::eddy::plugin::config,
            "eddy:plugin/batch-context": super::reducer_batch::eddy::plugin::batch_context,
        },
    });
}

/// `reducer`: one event per call.
pub mod reducer {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "eddy:plugin/reducer",
        with: {
            "eddy:plugin/types": super::reducer_batch::eddy::plugin::types,
            "eddy:plugin/log": super::reducer_batch::eddy::plugin::log,
            "eddy:plugin/config": super::reducer_batch::eddy::plugin::config,
        },
    });
}

/// `filter-batch`.
pub mod filter_batch {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "eddy:plugin/filter-batch",
        with: {
            "eddy:plugin/types": super::reducer_batch::eddy::plugin::types,
            "eddy:plugin/log": super::reducer_batch::eddy::plugin::log,
            "eddy:plugin/config": super::reducer_batch::eddy::plugin::config,
            "eddy:plugin/batch-context": super::reducer_batch::eddy::plugin::batch_context,
        },
    });
}

/// `filter`: one event per call.
pub mod filter {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "eddy:plugin/filter",
        with: {
            "eddy:plugin/types": super::reducer_batch::eddy::plugin::types,
            "eddy:plugin/log": super::reducer_batch::eddy::plugin::log,
            "eddy:plugin/config": super::reducer_batch::eddy::plugin::config,
        },
    });
}

/// `handler-batch`.
pub mod handler_batch {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "eddy:plugin/handler-batch",
        with: {
            "eddy:plugin/types": super::reducer_batch::eddy::plugin::types,
            "eddy:plugin/log": super::reducer_batch::eddy::plugin::log,
            "eddy:plugin/config": super::reducer_batch::eddy::plugin::config,
            "eddy:plugin/batch-context": super::reducer_batch::eddy::plugin::batch_context,
        },
    });
}

/// `handler`: one event per call.
pub mod handler {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "eddy:plugin/handler",
        with: {
            "eddy:plugin/types": super::reducer_batch::eddy::plugin::types,
            "eddy:plugin/log": super::reducer_batch::eddy::plugin::log,
            "eddy:plugin/config": super::reducer_batch::eddy::plugin::config,
        },
    });
}

pub use reducer_batch::eddy::plugin::{batch_context, config, log, types};
