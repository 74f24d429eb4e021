//! Removing insignificant white space from JSON text without re-parsing its numbers.

use std::borrow::Cow;

/// Returns `json` with the white space between tokens removed; borrowed when there was none,
/// which is the common case (every stored event's data is already compact).
///
/// The input must be valid JSON. Numbers, strings and key order are kept exactly as written —
/// unlike a parse-and-print round trip, which would turn large integers into floats. Event
/// data is stored compact so that a JSON Lines file always holds one event per line.
pub(crate) fn compact_json(json: &str) -> Cow<'_, str> {
    if !json
        .bytes()
        .any(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
    {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\n' | '\r' | '\t') {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::compact_json;

    #[test]
    fn compact_text_is_returned_as_it_is_without_a_copy() {
        let json = r#"{"ab":[1,2],"c":"x"}"#;
        assert!(matches!(compact_json(json), std::borrow::Cow::Borrowed(s) if s == json));
    }

    #[test]
    fn white_space_outside_strings_goes_and_inside_strings_stays() {
        let json = "{ \"a b\" : [1, 2 ,\n 3],\t\"c\": \"x \\\" y\" , \"n\": 123456789012345678901234567890 }";
        assert_eq!(
            compact_json(json),
            "{\"a b\":[1,2,3],\"c\":\"x \\\" y\",\"n\":123456789012345678901234567890}"
        );
    }
}
