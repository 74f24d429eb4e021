//! The history `eddy bench reduce --dump-history` wrote: one structured CloudEvent per line.

use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;
use serde_json::value::RawValue;

/// What the order-totals rules read of an event.
pub struct Event {
    /// The aggregate key: the order.
    pub subject: String,
    /// The event type (`order.created`, …).
    pub ty: String,
    /// The JSON data exactly as written (not re-encoded), as Eddy hands it to its reducer.
    pub data: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct Line {
    #[serde(rename = "type")]
    ty: String,
    subject: Option<String>,
    data: Option<Box<RawValue>>,
}

/// Reads every event of the JSON Lines file at `path`, in order.
pub fn read(path: &Path) -> anyhow::Result<Vec<Event>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the history {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let line: Line = serde_json::from_str(line)
                .with_context(|| format!("{} line {}: not an event", path.display(), i + 1))?;
            Ok(Event {
                subject: line.subject.unwrap_or_default(),
                ty: line.ty,
                data: line.data,
            })
        })
        .collect()
}

impl Event {
    /// The data bytes the rules take.
    pub fn data(&self) -> Option<&[u8]> {
        self.data.as_ref().map(|raw| raw.get().as_bytes())
    }
}
