//! The loop shared by every batched export: one event at a time, stop at the first error.

use crate::packed::PackedEvents;
use crate::{Error, Event};

/// The first event of a batch that failed: `index` within the batch, and why.
///
/// The host re-runs the events before `index` itself (plugins are deterministic), so a batch
/// never returns partial results.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchFailure {
    /// 0-based position in the batch of the event that failed.
    pub index: u32,
    /// Why it failed.
    pub error: Error,
}

/// Runs `each` on every event in order, telling the host (`enter`) which event is current
/// before each call, so that clock reads and randomness follow that event.
pub(crate) fn run_batch<T>(
    events: &[Event],
    mut enter: impl FnMut(u32),
    mut each: impl FnMut(&Event) -> Result<T, Error>,
) -> Result<Vec<T>, BatchFailure> {
    let mut results = Vec::with_capacity(events.len());
    // The WIT list length is a u32, so every index fits.
    for (index, event) in (0u32..).zip(events) {
        enter(index);
        results.push(each(event).map_err(|error| BatchFailure { index, error })?);
    }
    Ok(results)
}

/// [`run_batch`] over a `packed-events` buffer: each event is read into one reused [`Event`]
/// just before it is processed. A buffer that cannot be read fails at the event it cuts off,
/// as a reject (retrying would read the same bytes).
pub(crate) fn run_packed<T>(
    packed: &[u8],
    mut enter: impl FnMut(u32),
    mut each: impl FnMut(&Event) -> Result<T, Error>,
) -> Result<Vec<T>, BatchFailure> {
    let mut events = PackedEvents::new(packed);
    let mut event = Event::default();
    let mut results = Vec::new();
    let mut index = 0u32;
    loop {
        match events.read_into(&mut event) {
            Ok(true) => {}
            Ok(false) => return Ok(results),
            Err(malformed) => {
                return Err(BatchFailure {
                    index,
                    error: Error::reject(format!(
                        "the host sent events this SDK cannot read (field `{}`): is the \
                         plugin built for another eddy:plugin version?",
                        malformed.0
                    )),
                });
            }
        }
        enter(index);
        results.push(each(&event).map_err(|error| BatchFailure { index, error })?);
        index += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(types: &[&str]) -> Vec<Event> {
        types
            .iter()
            .map(|ty| Event {
                ty: (*ty).into(),
                ..Event::default()
            })
            .collect()
    }

    #[test]
    fn enters_each_event_before_processing_it() {
        let mut trace = Vec::new();
        let trace = std::cell::RefCell::new(&mut trace);
        let out = run_batch(
            &events(&["a", "b", "c"]),
            |i| trace.borrow_mut().push(format!("enter {i}")),
            |e| {
                trace.borrow_mut().push(format!("run {}", e.ty));
                Ok(e.ty.len())
            },
        )
        .unwrap();
        assert_eq!(out, vec![1, 1, 1]);
        assert_eq!(
            **trace.borrow(),
            ["enter 0", "run a", "enter 1", "run b", "enter 2", "run c"]
        );
    }

    #[test]
    fn stops_at_the_first_error_and_reports_its_index() {
        let mut seen = Vec::new();
        let err = run_batch(
            &events(&["ok", "bad", "never"]),
            |_| {},
            |e| {
                seen.push(e.ty.clone());
                if e.ty == "bad" {
                    Err(Error::retry("flaky"))
                } else {
                    Ok(())
                }
            },
        )
        .unwrap_err();
        assert_eq!(
            err,
            BatchFailure {
                index: 1,
                error: Error::retry("flaky")
            }
        );
        assert_eq!(seen, ["ok", "bad"]);
    }

    #[test]
    fn a_packed_batch_runs_like_the_same_events_as_a_list() {
        let events = events(&["a", "bad", "c"]);
        let run = |packed: bool| {
            let mut trace = Vec::new();
            let trace_ref = std::cell::RefCell::new(&mut trace);
            let each = |e: &Event| {
                trace_ref.borrow_mut().push(format!("run {}", e.ty));
                if e.ty == "bad" {
                    Err(Error::reject("no"))
                } else {
                    Ok(())
                }
            };
            let enter = |i| trace_ref.borrow_mut().push(format!("enter {i}"));
            let result = if packed {
                run_packed(&crate::packed::pack(&events), enter, each)
            } else {
                run_batch(&events, enter, each)
            };
            (result, trace)
        };
        assert_eq!(run(true), run(false));
        assert_eq!(run(true).0.unwrap_err().index, 1);
    }

    #[test]
    fn an_unreadable_packed_batch_is_a_reject_at_the_event_it_cuts() {
        // The last byte of the buffer is the second event's `type`: the only non-empty field.
        let packed = crate::packed::pack(&events(&["a", "b"]));
        let mut seen = 0;
        let err = run_packed(
            &packed[..packed.len() - 1],
            |_| {},
            |_| {
                seen += 1;
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!(err.index, 1);
        assert!(!err.error.is_retry());
        assert!(err.error.message().contains("field `type`"), "{err:?}");
        assert_eq!(seen, 1);
    }

    #[test]
    fn an_empty_batch_succeeds_without_entering_anything() {
        let mut entered = 0;
        let out: Vec<()> = run_batch(&[], |_| entered += 1, |_| Ok(())).unwrap();
        assert!(out.is_empty());
        assert_eq!(entered, 0);
    }
}
