//! `type-filter`: an Eddy filter that keeps the events whose type matches one of the glob
//! patterns of the config key `patterns` and drops the rest.
//!
//! `patterns` is a comma-separated list, e.g. `order.*,*.created`; spaces around each pattern
//! and empty entries are ignored. In a pattern, `*` matches any run of characters (dots
//! included, possibly none) and `?` exactly one character; everything else matches itself,
//! case-sensitively. With no `patterns` configured (or only blanks) every event is kept.

use guest_sdk::{Error, Event, Filter, config};
use std::sync::OnceLock;

/// Whether `text` matches the glob `pattern` as a whole (`*`: any run of characters, `?`: one).
///
/// ```text
/// glob_match("order.*", "order.item.added") == true
/// glob_match("*.created", "order.created")  == true
/// glob_match("order.?", "order.ab")         == false
/// ```
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and the text position it currently stands for the end of: on a
    // mismatch, let that `*` swallow one more character and retry. Linear in practice,
    // O(pattern × text) at worst, and never exponential.
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((star, swallowed)) => {
                    backtrack = Some((star, swallowed + 1));
                    p = star + 1;
                    t = swallowed + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// The patterns of a `patterns` config value: split on commas, trimmed, blanks dropped.
pub fn parse_patterns(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether an event of type `ty` is kept under `patterns` (none: everything is kept).
pub fn keeps(patterns: &[String], ty: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| glob_match(p, ty))
}

/// The type filter; configure it with `patterns`.
pub struct TypeFilter;

impl Filter for TypeFilter {
    fn filter_event(event: &Event) -> Result<bool, Error> {
        // The configuration is fixed for the life of the instance: read and parse it once.
        static PATTERNS: OnceLock<Vec<String>> = OnceLock::new();
        let patterns = PATTERNS.get_or_init(|| {
            config::get("patterns")
                .as_deref()
                .map(parse_patterns)
                .unwrap_or_default()
        });
        Ok(keeps(patterns, &event.ty))
    }
}

guest_sdk::export!(TypeFilter: Filter);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_patterns_match_exactly() {
        assert!(glob_match("order.created", "order.created"));
        assert!(!glob_match("order.created", "order.created2"));
        assert!(!glob_match("order.created", "Order.created"));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "a"));
    }

    #[test]
    fn star_matches_any_run_including_dots_and_nothing() {
        assert!(glob_match("order.*", "order.created"));
        assert!(glob_match("order.*", "order.item.added"));
        assert!(glob_match("order.*", "order."));
        assert!(!glob_match("order.*", "order"));
        assert!(glob_match("*.created", "order.created"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*", "anything.at.all"));
        assert!(glob_match("a*b*c", "aXbYc"));
        assert!(glob_match("a*b*c", "abc"));
        assert!(!glob_match("a*b*c", "aXbY"));
        assert!(glob_match("*ab", "aab"), "needs backtracking");
        assert!(glob_match("**x", "yx"));
    }

    #[test]
    fn question_mark_matches_exactly_one_character() {
        assert!(glob_match("order.?", "order.a"));
        assert!(!glob_match("order.?", "order."));
        assert!(!glob_match("order.?", "order.ab"));
        assert!(glob_match("v?", "vé"), "one character, not one byte");
        assert!(glob_match("?*", "x"));
        assert!(!glob_match("?*", ""));
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        let text = "a".repeat(2000);
        assert!(!glob_match(&format!("{}b", "*a".repeat(50)), &text));
    }

    #[test]
    fn patterns_are_comma_separated_and_trimmed() {
        assert_eq!(
            parse_patterns(" order.* , *.created,,"),
            ["order.*", "*.created"]
        );
        assert!(parse_patterns(" , ").is_empty());
    }

    #[test]
    fn keeps_matching_types_and_everything_without_patterns() {
        let patterns = parse_patterns("order.*,*.created");
        assert!(keeps(&patterns, "order.paid"));
        assert!(keeps(&patterns, "user.created"));
        assert!(!keeps(&patterns, "user.deleted"));
        assert!(keeps(&[], "user.deleted"));
    }
}
