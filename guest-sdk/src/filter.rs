//! Filters: keep or drop each event.

use crate::batch::{BatchFailure, run_batch};
use crate::{Error, Event};

/// A filter decides, per event, whether it goes on to the subscription's handler or reducer.
///
/// Implement it on a unit struct and export it with `guest_sdk::export!(MyType: Filter);`.
/// Must be deterministic: the same event must always get the same verdict.
pub trait Filter {
    /// `Ok(true)` keeps the event, `Ok(false)` drops it.
    fn filter_event(event: &Event) -> Result<bool, Error>;
}

/// `filter-events`: one verdict per event, in order.
pub(crate) fn filter_events<F: Filter>(
    events: &[Event],
    enter: impl FnMut(u32),
) -> Result<Vec<bool>, BatchFailure> {
    run_batch(events, enter, F::filter_event)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct KeepOrders;

    impl Filter for KeepOrders {
        fn filter_event(event: &Event) -> Result<bool, Error> {
            match event.ty.as_str() {
                "poison" => Err(Error::reject("poison")),
                ty => Ok(ty.starts_with("order.")),
            }
        }
    }

    fn ev(ty: &str) -> Event {
        Event {
            ty: ty.into(),
            ..Event::default()
        }
    }

    #[test]
    fn gives_one_verdict_per_event_in_order() {
        let verdicts =
            filter_events::<KeepOrders>(&[ev("order.paid"), ev("user.x"), ev("order.new")], |_| {})
                .unwrap();
        assert_eq!(verdicts, [true, false, true]);
    }

    #[test]
    fn an_error_fails_the_batch_at_that_event() {
        let err =
            filter_events::<KeepOrders>(&[ev("order.paid"), ev("poison")], |_| {}).unwrap_err();
        assert_eq!(
            err,
            BatchFailure {
                index: 1,
                error: Error::reject("poison")
            }
        );
    }
}
