//! Test fixture `fx-clock-random`: a reducer that records, per event, what the wall clock and
//! the sources of randomness returned, so that a test can check they are deterministic (the
//! clock reads the event's time, randomness is seeded from the event's id).
//!
//! State: a JSON list with one entry per event:
//! `{"id", "now_ns", "mono_ok", "random", "hash_seeded"}` where `now_ns` is
//! `SystemTime::now()` in ns since the Unix epoch, `mono_ok` says that reading the monotonic
//! clock (`Instant`) did not panic, `random` is a `u64` from `getrandom` (wasi:random), and
//! `hash_seeded` is `RandomState::new().hash_one(1u64)` (std's randomly keyed hasher).

use guest_sdk::{Error, Event, Reducer};
use serde::{Deserialize, Serialize};
use std::hash::{BuildHasher, RandomState};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What one event saw.
#[derive(Serialize, Deserialize)]
pub struct Reading {
    /// The event's id.
    pub id: String,
    /// The wall clock, in ns since the Unix epoch.
    pub now_ns: u64,
    /// Whether reading the monotonic clock worked.
    pub mono_ok: bool,
    /// A random `u64` from `getrandom`.
    pub random: u64,
    /// The hash of `1u64` under a freshly keyed `RandomState`.
    pub hash_seeded: u64,
}

/// Records clock and randomness readings.
pub struct ClockRandom;

impl Reducer for ClockRandom {
    type State = Vec<Reading>;

    fn init() -> Vec<Reading> {
        Vec::new()
    }

    fn apply_event(state: &mut Vec<Reading>, event: &Event) -> Result<(), Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|err| Error::reject(format!("the clock reads before 1970: {err}")))?;
        let started = Instant::now();
        std::hint::black_box(started.elapsed());
        let random =
            getrandom::u64().map_err(|err| Error::retry(format!("getrandom failed: {err}")))?;
        state.push(Reading {
            id: event.id.clone(),
            now_ns: u64::try_from(now.as_nanos()).unwrap_or(u64::MAX),
            mono_ok: true,
            random,
            hash_seeded: RandomState::new().hash_one(1u64),
        });
        Ok(())
    }
}

guest_sdk::export!(ClockRandom: Reducer);
