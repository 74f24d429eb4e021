//! Glob patterns on event types: `order.*`, `*.created`, `io.flunq.task.*`.

use std::fmt;

/// A glob pattern matched against an event's `type`: `*` matches any run of characters
/// (dots included), `?` matches exactly one character, everything else matches itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypePattern(String);

impl TypePattern {
    /// A pattern from its text. Every text is a valid pattern.
    pub fn new(pattern: impl Into<String>) -> Self {
        Self(pattern.into())
    }

    /// Whether `event_type` matches this pattern.
    pub fn matches(&self, event_type: &str) -> bool {
        glob_matches(&self.0, event_type)
    }

    /// The pattern's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TypePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `event_type` matches the glob `pattern`, without building a [`TypePattern`] (for
/// patterns kept as text, matched on every event).
pub fn glob_matches(pattern: &str, event_type: &str) -> bool {
    glob_match(pattern.as_bytes(), event_type.as_bytes())
}

/// Iterative glob match with single-star backtracking: linear in practice, no recursion.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::TypePattern;

    #[test]
    fn globs_match_event_types() {
        let cases = [
            ("order.*", "order.created", true),
            ("order.*", "order.item.added", true),
            ("order.*", "orders.created", false),
            ("*.created", "order.created", true),
            ("*.created", "order.created.v2", false),
            ("io.flunq.task.*", "io.flunq.task.completed", true),
            ("*", "", true),
            ("order.?aid", "order.paid", true),
            ("*.*.delete", "public.users.delete", true),
            ("*.*.delete", "users.delete", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ];
        for (pattern, ty, expected) in cases {
            assert_eq!(
                TypePattern::new(pattern).matches(ty),
                expected,
                "{pattern} ~ {ty}"
            );
        }
    }
}
