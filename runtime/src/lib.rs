//! Eddy runtime.
pub mod plugin { pub mod bindings; }
