//! Reducers: fold a subject's events into a state.

use crate::batch::{BatchFailure, run_batch, run_packed};
use crate::{Error, Event};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A reducer folds the events of one subject (an order, a workflow execution) into a state.
///
/// Implement it on a unit struct and export it with `guest_sdk::export!(MyType: Reducer);`.
/// The state is stored by the host as JSON (override [`encode_state`](Reducer::encode_state)
/// and [`decode_state`](Reducer::decode_state) for another format).
///
/// Must be deterministic: the same events must give byte-identical state on every run. Iterate
/// `BTreeMap`s, not `HashMap`s, in anything that reaches the state.
pub trait Reducer {
    /// The per-subject state.
    type State: Serialize + DeserializeOwned;

    /// The state of a subject before its first event.
    fn init() -> Self::State;

    /// Folds one event into `state`; on `Err` the host discards every change of this call.
    fn apply_event(state: &mut Self::State, event: &Event) -> Result<(), Error>;

    /// Turns the state into the bytes the host stores; JSON by default.
    fn encode_state(state: &Self::State) -> Result<Vec<u8>, Error> {
        serde_json::to_vec(state)
            .map_err(|err| Error::reject(format!("the state cannot be encoded as JSON: {err}")))
    }

    /// Reads the state back from the host's bytes; JSON by default.
    fn decode_state(bytes: &[u8]) -> Result<Self::State, Error> {
        serde_json::from_slice(bytes)
            .map_err(|err| Error::reject(format!("not JSON of this reducer's State type ({err})")))
    }
}

/// `init`: the encoded initial state. `init` cannot fail in the WIT, so a state that cannot be
/// encoded traps with the reason.
pub(crate) fn init<R: Reducer>() -> Vec<u8> {
    R::encode_state(&R::init()).unwrap_or_else(|err| panic!("Reducer::init: {err}"))
}

/// `apply-events`: decode once, apply every event, encode once.
///
/// A state that does not decode is a reject at index 0. A state that cannot be encoded after the
/// batch is reported at the last index: the host then re-runs the prefix, which narrows the
/// failure down to the event that made the state unencodable.
pub(crate) fn apply_events<R: Reducer>(
    state: &[u8],
    events: &[Event],
    enter: impl FnMut(u32),
) -> Result<Vec<u8>, BatchFailure> {
    let mut state = decode_before::<R>(state)?;
    run_batch(events, enter, |event| R::apply_event(&mut state, event))?;
    encode_after::<R>(&state, events.len())
}

/// `apply-packed-events`: [`apply_events`] over a `packed-events` buffer.
pub(crate) fn apply_packed_events<R: Reducer>(
    state: &[u8],
    packed: &[u8],
    enter: impl FnMut(u32),
) -> Result<Vec<u8>, BatchFailure> {
    let mut state = decode_before::<R>(state)?;
    let applied = run_packed(packed, enter, |event| R::apply_event(&mut state, event))?;
    encode_after::<R>(&state, applied.len())
}

/// The state before a call; one that does not decode is a reject at index 0.
fn decode_before<R: Reducer>(state: &[u8]) -> Result<R::State, BatchFailure> {
    R::decode_state(state).map_err(|err| BatchFailure {
        index: 0,
        error: Error::reject(format!(
            "cannot decode the reducer state: {}",
            err.message()
        )),
    })
}

/// The state after a call of `events` events; failing to encode it is reported at the last one.
fn encode_after<R: Reducer>(state: &R::State, events: usize) -> Result<Vec<u8>, BatchFailure> {
    R::encode_state(state).map_err(|error| BatchFailure {
        index: u32::try_from(events.saturating_sub(1)).unwrap_or(u32::MAX),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// Sums `n` from each event's data; type `boom` fails.
    struct Sum;

    #[derive(Serialize, Deserialize)]
    struct Total {
        total: i64,
        events: u32,
    }

    impl Reducer for Sum {
        type State = Total;

        fn init() -> Total {
            Total {
                total: 0,
                events: 0,
            }
        }

        fn apply_event(state: &mut Total, event: &Event) -> Result<(), Error> {
            if event.ty == "boom" {
                return Err(Error::reject("boom"));
            }
            #[derive(Deserialize)]
            struct Data {
                n: i64,
            }
            state.total += event.data_json::<Data>()?.n;
            state.events += 1;
            Ok(())
        }
    }

    fn ev(ty: &str, data: &str) -> Event {
        Event {
            ty: ty.into(),
            data: Some(data.as_bytes().to_vec()),
            ..Event::default()
        }
    }

    #[test]
    fn init_is_the_json_of_the_initial_state() {
        assert_eq!(init::<Sum>(), br#"{"total":0,"events":0}"#);
    }

    #[test]
    fn apply_events_folds_the_whole_batch_and_enters_each_event() {
        let mut entered = Vec::new();
        let state = apply_events::<Sum>(
            br#"{"total":10,"events":1}"#,
            &[ev("add", r#"{"n":1}"#), ev("add", r#"{"n":2}"#)],
            |i| entered.push(i),
        )
        .unwrap();
        assert_eq!(state, br#"{"total":13,"events":3}"#);
        assert_eq!(entered, [0, 1]);
    }

    #[test]
    fn batching_gives_the_same_state_as_one_event_at_a_time() {
        let events = [
            ev("add", r#"{"n":5}"#),
            ev("add", r#"{"n":-2}"#),
            ev("add", r#"{"n":7}"#),
        ];
        let whole = apply_events::<Sum>(&init::<Sum>(), &events, |_| {}).unwrap();
        let mut one_by_one = init::<Sum>();
        for event in &events {
            one_by_one =
                apply_events::<Sum>(&one_by_one, std::slice::from_ref(event), |_| {}).unwrap();
        }
        assert_eq!(whole, one_by_one);
    }

    #[test]
    fn the_first_failing_event_is_reported_with_its_index() {
        let err = apply_events::<Sum>(
            &init::<Sum>(),
            &[
                ev("add", r#"{"n":1}"#),
                ev("boom", "{}"),
                ev("add", r#"{"n":1}"#),
            ],
            |_| {},
        )
        .unwrap_err();
        assert_eq!(
            err,
            BatchFailure {
                index: 1,
                error: Error::reject("boom")
            }
        );
    }

    #[test]
    fn bad_event_data_is_a_reject_naming_the_problem() {
        let err =
            apply_events::<Sum>(&init::<Sum>(), &[ev("add", r#"{"m":1}"#)], |_| {}).unwrap_err();
        assert_eq!(err.index, 0);
        assert!(!err.error.is_retry());
        assert!(err.error.message().contains("missing field `n`"), "{err:?}");
    }

    #[test]
    fn a_state_that_does_not_decode_is_a_reject_at_index_zero() {
        let mut entered = 0;
        let err = apply_events::<Sum>(b"not json", &[ev("add", r#"{"n":1}"#)], |_| entered += 1)
            .unwrap_err();
        assert_eq!(err.index, 0);
        assert!(!err.error.is_retry());
        assert!(
            err.error
                .message()
                .starts_with("cannot decode the reducer state: "),
            "{err:?}"
        );
        assert!(
            err.error.message().ends_with(
                "not JSON of this reducer's State type (expected ident at line 1 column 2)"
            ),
            "{err:?}"
        );
        assert_eq!(entered, 0, "no event is looked at");
    }

    #[test]
    fn an_empty_batch_returns_the_state_reencoded() {
        let state = apply_events::<Sum>(br#"{ "total": 2, "events": 1 }"#, &[], |_| {}).unwrap();
        assert_eq!(state, br#"{"total":2,"events":1}"#);
    }

    /// A state whose encoding fails once `total` goes negative.
    struct Fussy;

    impl Reducer for Fussy {
        type State = i64;

        fn init() -> i64 {
            0
        }

        fn apply_event(state: &mut i64, _event: &Event) -> Result<(), Error> {
            *state -= 1;
            Ok(())
        }

        fn encode_state(state: &i64) -> Result<Vec<u8>, Error> {
            if *state < 0 {
                Err(Error::reject("negative"))
            } else {
                Ok(state.to_string().into_bytes())
            }
        }
    }

    #[test]
    fn packed_and_listed_events_give_the_same_state_and_failures() {
        let events = [
            ev("add", r#"{"n":5}"#),
            ev("add", r#"{"n":-2}"#),
            ev("boom", "{}"),
        ];
        let packed = crate::packed::pack(&events[..2]);
        assert_eq!(
            apply_packed_events::<Sum>(&init::<Sum>(), &packed, |_| {}),
            apply_events::<Sum>(&init::<Sum>(), &events[..2], |_| {})
        );
        let packed = crate::packed::pack(&events);
        assert_eq!(
            apply_packed_events::<Sum>(&init::<Sum>(), &packed, |_| {}),
            apply_events::<Sum>(&init::<Sum>(), &events, |_| {})
        );
        let err =
            apply_packed_events::<Fussy>(b"1", &crate::packed::pack(&events), |_| {}).unwrap_err();
        assert_eq!(
            err.index, 2,
            "encoding failures are reported at the last event"
        );
    }

    #[test]
    fn an_unencodable_final_state_is_reported_at_the_last_index() {
        let err = apply_events::<Fussy>(b"1", &[ev("a", ""), ev("b", ""), ev("c", "")], |_| {})
            .unwrap_err();
        assert_eq!(
            err,
            BatchFailure {
                index: 2,
                error: Error::reject("negative")
            }
        );
    }
}
