//! Names of streams, consumer groups and consumers.
//!
//! Names appear in URLs, Redis keys and file keys, so they are restricted to a set of characters
//! that needs no escaping anywhere: ASCII letters, digits, `.`, `_` and `-`, 1 to 200 of them.

use super::StoreError;

/// The longest name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 200;

/// Checks a stream, group or consumer name; `kind` names which one for the error message.
pub fn check_name(kind: &str, name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(StoreError::invalid(format!(
            "{kind} name must be 1 to {MAX_NAME_LEN} characters long"
        )));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(StoreError::invalid(format!(
            "{kind} name `{name}` contains `{bad}`: use ASCII letters, digits, `.`, `_` and `-`"
        )));
    }
    Ok(())
}

/// Checks the consumer whose pending entries `claim_from` takes over: a consumer name, or
/// [`super::ORPHANED_CONSUMER`] (which holds what stopped consumers left and is no valid name).
pub(crate) fn check_claim_owner(owner: &str) -> Result<(), StoreError> {
    if owner == super::ORPHANED_CONSUMER {
        return Ok(());
    }
    check_name("consumer", owner)
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn names_are_limited_to_characters_that_need_no_escaping() {
        for good in ["events", "orders.eu-west_1", "A", &"x".repeat(200)] {
            assert!(check_name("stream", good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "a:b", "{a}", "é", "a/b", &"x".repeat(201)] {
            assert!(check_name("stream", bad).is_err(), "{bad}");
        }
    }
}
