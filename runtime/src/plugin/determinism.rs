//! The deterministic environment: clocks that read the current event's time, and randomness
//! seeded from the current event's id.
//!
//! The host sets the current event before each per-event call, and batched plugins report
//! each event boundary through `batch-context.enter-event`, so a plugin sees the same clock
//! and the same random numbers for an event whatever the batch size and however often it is
//! replayed.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// The random seed outside any event (e.g. during `init`).
pub(crate) const OUTSIDE_SEED: u64 = 0x005E_ED0F_EDD1;

/// The random seed of the event with `id`: the first 8 bytes of its SHA-256, little-endian.
/// Part of the determinism contract: changing it would change every plugin's random numbers.
fn seed_of(id: &str) -> u64 {
    let digest = Sha256::digest(id.as_bytes());
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(seed)
}

/// The current event, shared by the clocks and random generators of one plugin instance.
pub(crate) struct EventContext {
    current: Mutex<Current>,
}

struct Current {
    time_nanos: i64,
    /// The current event's id; its seed is only derived when the plugin first draws a random
    /// number, since most plugins never do and hashing every event would cost more than
    /// some plugins' whole work on it.
    id: String,
    rng: Option<SplitMix64>,
}

impl EventContext {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            current: Mutex::new(Current {
                time_nanos: 0,
                id: String::new(),
                rng: Some(SplitMix64(OUTSIDE_SEED)),
            }),
        })
    }

    /// Makes the event with `id` and `time_nanos` (since the Unix epoch; 0 when it has no
    /// time) current: clocks read its time, randomness restarts from its seed.
    pub(crate) fn enter(&self, time_nanos: i64, id: &str) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.time_nanos = time_nanos;
        current.id.clear();
        current.id.push_str(id);
        current.rng = None;
    }

    /// Outside any event: the Unix epoch and a fixed seed.
    pub(crate) fn leave(&self) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.time_nanos = 0;
        current.id.clear();
        current.rng = Some(SplitMix64(OUTSIDE_SEED));
    }

    fn time_nanos(&self) -> i64 {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .time_nanos
    }

    fn next_u64(&self) -> u64 {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let Current { id, rng, .. } = &mut *current;
        rng.get_or_insert_with(|| SplitMix64(seed_of(id))).next()
    }
}

/// SplitMix64: tiny, fast and fully specified, so the sequence never changes under us.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `wasi:clocks/wall-clock`: the current event's time.
pub(crate) struct EventWallClock(pub(crate) Arc<EventContext>);

impl HostWallClock for EventWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        Duration::from_nanos(u64::try_from(self.0.time_nanos()).unwrap_or(0))
    }
}

/// `wasi:clocks/monotonic-clock`: also the current event's time, in nanoseconds.
pub(crate) struct EventMonotonicClock(pub(crate) Arc<EventContext>);

impl HostMonotonicClock for EventMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        u64::try_from(self.0.time_nanos()).unwrap_or(0)
    }
}

/// `wasi:random`: a stream seeded from the current event's id.
pub(crate) struct EventRandom(pub(crate) Arc<EventContext>);

impl rand::TryRng for EventRandom {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.0.next_u64() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.0.next_u64())
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.0.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::TryRng;

    #[test]
    fn entering_an_event_restarts_its_random_sequence_and_sets_the_clock() {
        let context = EventContext::new();
        let mut random = EventRandom(context.clone());
        let clock = EventWallClock(context.clone());
        context.enter(1_500_000_000, "event-1");
        let first = (
            random.try_next_u64().unwrap(),
            random.try_next_u64().unwrap(),
        );
        assert_eq!(clock.now(), Duration::from_millis(1500));
        context.enter(0, "event-2");
        assert_eq!(clock.now(), Duration::ZERO);
        context.enter(1_500_000_000, "event-1");
        let again = (
            random.try_next_u64().unwrap(),
            random.try_next_u64().unwrap(),
        );
        assert_eq!(first, again);
        assert_ne!(first.0, first.1);
    }

    #[test]
    fn the_seed_is_the_sha256_of_the_id_as_it_always_was() {
        // Fixed values: a change here changes every plugin's random numbers, so every
        // reducer state that depends on them, without its code hash changing.
        let context = EventContext::new();
        let mut random = EventRandom(context.clone());
        context.enter(0, "event-1");
        let drawn = random.try_next_u64().unwrap();
        let mut expected = SplitMix64(seed_of("event-1"));
        assert_eq!(drawn, expected.next());
        assert_eq!(seed_of("event-1"), 0xf9ba_b651_3f86_36ce_u64);
        context.leave();
        assert_eq!(
            random.try_next_u64().unwrap(),
            SplitMix64(OUTSIDE_SEED).next()
        );
    }
}
