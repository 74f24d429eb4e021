//! The Fluvio side: the aggregate SmartModule in Fluvio's own engine (`fluvio-smartengine`,
//! wasmtime 34 with fuel metering, as an SPU runs it), fed batches of records as a consumer
//! stream brings them: in history order, subjects interleaved. The records of each call are
//! encoded before the clock starts, as an SPU's stored batches are.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use fluvio_smartengine::{
    DEFAULT_SMARTENGINE_VERSION, SmartEngine, SmartModuleChainBuilder, SmartModuleChainInstance,
    SmartModuleConfig, SmartModuleInitialData,
};
use fluvio_smartmodule::dataplane::smartmodule::SmartModuleInput;
use fluvio_smartmodule::{Record, RecordData};

use crate::history::Event;

/// One loaded SmartModule instance; its memory (the per-subject orders) lives as long as it.
pub struct Aggregate {
    chain: SmartModuleChainInstance,
}

/// What one fold measured.
pub struct Fold {
    /// Events folded.
    pub events: usize,
    /// The engine calls, and the outputs kept: what the figures are of.
    pub elapsed: Duration,
    /// Building and encoding the input records beforehand (not in `elapsed`: an SPU hands
    /// the engine its stored batches as they are, already encoded).
    pub encode: Duration,
    /// Each engine call, outputs kept.
    pub per_call: Vec<Duration>,
    /// Bytes of the output records' keys and values: about what the guest's glue encodes,
    /// and leaks, per call (it never frees its output buffer).
    pub output_bytes: u64,
    /// Each subject's last output: its final state.
    pub states: BTreeMap<String, Vec<u8>>,
}

impl Aggregate {
    /// Compiles and instantiates the SmartModule at `wasm` with an empty accumulator.
    pub fn load(wasm: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(wasm)
            .with_context(|| format!("cannot read the SmartModule {}", wasm.display()))?;
        let config = SmartModuleConfig::builder()
            .smartmodule_names(vec!["order-totals-aggregate".to_string()])
            .initial_data(SmartModuleInitialData::with_aggregate(Vec::new()))
            .build()?;
        let chain = SmartModuleChainBuilder::from((config, bytes))
            .initialize(&SmartEngine::new())
            .context("the engine refused the SmartModule")?;
        Ok(Self { chain })
    }

    /// Folds `events` in engine calls of `batch` records, each subject keyed as
    /// `key_prefix` + subject (a warm-up uses its own prefix so as not to touch the real
    /// subjects' orders).
    pub fn fold(
        &mut self,
        events: &[Event],
        batch: usize,
        key_prefix: &str,
    ) -> anyhow::Result<Fold> {
        let encoding = Instant::now();
        let inputs = events
            .chunks(batch)
            .map(|chunk| {
                let records: Vec<Record> = chunk
                    .iter()
                    .map(|event| {
                        let key = format!("{key_prefix}{}", event.subject);
                        Record::new_key_value(key, value_of(event))
                    })
                    .collect();
                SmartModuleInput::try_from_records(records, DEFAULT_SMARTENGINE_VERSION)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let encode = encoding.elapsed();

        // The outputs are kept as the engine returns them (shared bytes, no copy).
        let mut last: BTreeMap<String, RecordData> = BTreeMap::new();
        let mut per_call = Vec::with_capacity(inputs.len());
        let mut output_bytes = 0;
        let started = Instant::now();
        for (input, chunk) in inputs.into_iter().zip(events.chunks(batch)) {
            let at = Instant::now();
            let output = self.chain.process(input)?;
            if let Some(error) = output.error {
                anyhow::bail!("the SmartModule failed: {error:?}");
            }
            anyhow::ensure!(
                output.successes.len() == chunk.len(),
                "{} outputs for {} records: an aggregate answers every record",
                output.successes.len(),
                chunk.len()
            );
            for record in output.successes {
                let key = record.key.as_ref().map_or(&[][..], |key| key.as_ref());
                output_bytes += (key.len() + record.value.len()) as u64;
                let key = std::str::from_utf8(key).context("a subject that is not UTF-8")?;
                // Most outputs update a subject already seen: no new key to allocate.
                match last.get_mut(key) {
                    Some(slot) => *slot = record.value,
                    None => {
                        last.insert(key.to_owned(), record.value);
                    }
                }
            }
            per_call.push(at.elapsed());
        }
        let elapsed = started.elapsed();
        let states = last
            .into_iter()
            .map(|(subject, state)| (subject, state.as_ref().to_vec()))
            .collect();
        Ok(Fold {
            events: events.len(),
            elapsed,
            encode,
            per_call,
            output_bytes,
            states,
        })
    }
}

/// The record value the SmartModule reads: the type, then `\n` and the data if there is any.
fn value_of(event: &Event) -> Vec<u8> {
    let data = event.data();
    let mut value = Vec::with_capacity(event.ty.len() + 1 + data.map_or(0, <[u8]>::len));
    value.extend_from_slice(event.ty.as_bytes());
    if let Some(data) = data {
        value.push(b'\n');
        value.extend_from_slice(data);
    }
    value
}

impl Fold {
    /// Events per second over the whole fold.
    pub fn events_per_s(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Nanoseconds per event over the whole fold.
    pub fn ns_per_event(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1e9 / self.events.max(1) as f64
    }

    /// Building and encoding the input records, in nanoseconds per event.
    pub fn encode_ns_per_event(&self) -> f64 {
        self.encode.as_secs_f64() * 1e9 / self.events.max(1) as f64
    }

    /// The nearest-rank percentile of the engine calls, in microseconds.
    pub fn call_percentile_us(&self, p: f64) -> f64 {
        let mut sorted = self.per_call.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e6
    }
}
