//! What a plugin is: its kind and the form of its calls.

use std::fmt;

/// The version of the `eddy:plugin` WIT package (`wit/plugin.wit`) this host implements.
/// Components built against an earlier `0.1.x` load too: the versions are compatible.
pub const WIT_VERSION: &str = "0.1.1";

/// The three kinds of plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// Keeps or drops events.
    Filter,
    /// Reacts to events by emitting new ones.
    Handler,
    /// Folds events into a state per subject.
    Reducer,
}

/// How a plugin is called: one event per call, or many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallForm {
    /// One event per call (`filter`, `handler`, `reducer` worlds).
    PerEvent,
    /// Many events per call (`filter-batch`, `handler-batch`, `reducer-batch` worlds).
    Batched,
    /// Many events per call in one buffer (`reducer-packed`): the fastest form.
    Packed,
}

impl CallForm {
    /// Whether one call carries many events.
    pub fn is_batched(self) -> bool {
        self != CallForm::PerEvent
    }
}

/// The `eddy:plugin` world a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct World {
    /// The kind of plugin.
    pub kind: PluginKind,
    /// The form of its calls.
    pub form: CallForm,
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PluginKind::Filter => "filter",
            PluginKind::Handler => "handler",
            PluginKind::Reducer => "reducer",
        })
    }
}

impl fmt::Display for World {
    /// The world's name in the WIT package, e.g. `reducer-batch`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.form {
            CallForm::PerEvent => write!(f, "{}", self.kind),
            CallForm::Batched => write!(f, "{}-batch", self.kind),
            CallForm::Packed => write!(f, "{}-packed", self.kind),
        }
    }
}
