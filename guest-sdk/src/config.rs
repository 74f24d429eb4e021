//! The plugin's configuration: string key/value pairs fixed when the plugin is instantiated
//! (a subscription's `config` table, or `eddy replay --config key=value`).
//!
//! Outside a host (natively, in a plugin's unit tests) no key is set.

use crate::Error;
use std::fmt::Display;
use std::str::FromStr;

/// The value of `key`, or `None` when it is not configured.
pub fn get(key: &str) -> Option<String> {
    crate::host::host().and_then(|host| (host.config_get)(key))
}

/// Every configured key/value pair, sorted by key.
pub fn all() -> Vec<(String, String)> {
    crate::host::host()
        .map(|host| (host.config_all)())
        .unwrap_or_default()
}

/// The value of `key` parsed as `T` (e.g. `config::parse::<i64>("threshold")?`), `None` when unset.
///
/// A value that does not parse is an [`Error::Reject`] naming the key, the value and the reason:
/// a misconfigured plugin will not get better by retrying.
pub fn parse<T>(key: &str) -> Result<Option<T>, Error>
where
    T: FromStr,
    T::Err: Display,
{
    get(key).map(|value| parse_value(key, &value)).transpose()
}

fn parse_value<T>(key: &str, value: &str) -> Result<T, Error>
where
    T: FromStr,
    T::Err: Display,
{
    value
        .trim()
        .parse()
        .map_err(|err| Error::reject(format!("invalid config `{key}` = {value:?}: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_host_nothing_is_configured() {
        assert_eq!(get("threshold"), None);
        assert!(all().is_empty());
        assert_eq!(parse::<i64>("threshold"), Ok(None));
    }

    #[test]
    fn parse_value_trims_and_parses() {
        assert_eq!(parse_value::<i64>("threshold", " 250 "), Ok(250));
    }

    #[test]
    fn parse_value_rejects_with_key_value_and_reason() {
        let err = parse_value::<i64>("threshold", "lots").unwrap_err();
        assert_eq!(
            err,
            Error::reject("invalid config `threshold` = \"lots\": invalid digit found in string")
        );
    }
}
