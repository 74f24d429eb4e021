//! A readable difference between two JSON values: one line per differing path.

use serde_json::Value;

/// One place where two JSON values differ.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Difference {
    /// Where: `status`, `items.tea.qty`, `tasks[2]`; empty for the whole value.
    pub path: String,
    /// The value on the left (expected, or the old version); `None` when absent there.
    pub left: Option<Value>,
    /// The value on the right (actual, or the new version); `None` when absent there.
    pub right: Option<Value>,
}

/// Every path at which `left` and `right` differ, in a stable order.
pub fn diff(left: &Value, right: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    walk(String::new(), Some(left), Some(right), &mut out);
    out
}

fn walk(path: String, left: Option<&Value>, right: Option<&Value>, out: &mut Vec<Difference>) {
    match (left, right) {
        (Some(Value::Object(l)), Some(Value::Object(r))) => {
            let mut keys: Vec<&String> = l.keys().chain(r.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                walk(join(&path, key), l.get(key), r.get(key), out);
            }
        }
        (Some(Value::Array(l)), Some(Value::Array(r))) => {
            for i in 0..l.len().max(r.len()) {
                walk(format!("{path}[{i}]"), l.get(i), r.get(i), out);
            }
        }
        (l, r) if l == r => {}
        (l, r) => out.push(Difference {
            path,
            left: l.cloned(),
            right: r.cloned(),
        }),
    }
}

fn join(path: &str, key: &str) -> String {
    let simple = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if simple {
        key.to_string()
    } else {
        serde_json::to_string(key).expect("a string serialises")
    };
    if path.is_empty() && simple {
        key
    } else if simple {
        format!("{path}.{key}")
    } else {
        format!("{path}[{key}]")
    }
}

/// The value at `path` (as produced by [`diff`]) inside `value`, if present.
pub fn value_at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = value;
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let end = closing_bracket(after)?;
            let token = &after[..end];
            rest = &after[end + 1..];
            current = if token.starts_with('"') {
                let key: String = serde_json::from_str(token).ok()?;
                current.get(key)?
            } else {
                current.get(token.parse::<usize>().ok()?)?
            };
        } else {
            let rest_trimmed = rest.strip_prefix('.').unwrap_or(rest);
            let end = rest_trimmed.find(['.', '[']).unwrap_or(rest_trimmed.len());
            current = current.get(&rest_trimmed[..end])?;
            rest = &rest_trimmed[end..];
        }
    }
    Some(current)
}

/// The index of the `]` closing a bracket, skipping over a quoted key.
fn closing_bracket(text: &str) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            ']' if !in_string => return Some(i),
            _ => {}
        }
    }
    None
}

/// Lines like `  status: expected "paid", actual "open"`.
pub fn render(differences: &[Difference], left_name: &str, right_name: &str) -> String {
    let show = |v: &Option<Value>| match v {
        Some(v) => v.to_string(),
        None => "(absent)".to_string(),
    };
    differences
        .iter()
        .map(|d| {
            let path = if d.path.is_empty() {
                "(state)"
            } else {
                &d.path
            };
            format!(
                "{path}: {left_name} {}, {right_name} {}\n",
                show(&d.left),
                show(&d.right)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn differences_are_listed_by_path() {
        let left =
            json!({"status": "paid", "items": {"tea": {"qty": 2}}, "tags": [1, 2], "weird key": 1});
        let right = json!({"status": "open", "items": {"tea": {"qty": 3}, "cake": {"qty": 1}}, "tags": [1], "weird key": 2});
        let paths: Vec<String> = diff(&left, &right).into_iter().map(|d| d.path).collect();
        assert_eq!(
            paths,
            [
                "items.cake",
                "items.tea.qty",
                "status",
                "tags[1]",
                "[\"weird key\"]"
            ]
        );
        for path in &paths[1..] {
            assert!(value_at(&left, path).is_some(), "{path}");
        }
        assert_eq!(value_at(&right, "items.cake.qty"), Some(&json!(1)));
    }

    #[test]
    fn equal_values_have_no_difference() {
        let v = json!({"a": [1, {"b": null}]});
        assert!(diff(&v, &v).is_empty());
        assert_eq!(diff(&json!(1), &json!(2))[0].path, "");
    }
}
