//! The JSONPath subset `additionalPrinterColumns` use (`.spec.replicas`, `.items[0].name`,
//! `.items[*].name`, `.conditions[?(@.type=="Ready")].status`, `['a.b']`), evaluated as
//! kube's column printer does: the first result is the cell.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Step {
    Field(String),
    Index(usize),
    All,
    /// `[?(@.<path>=="<value>")]` (also `!=`).
    Filter(Vec<String>, String, bool),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JsonPath(Vec<Step>);

impl JsonPath {
    /// Parse `.a.b[0]` (with or without surrounding `{}`); Err on what the subset lacks.
    pub fn parse(src: &str) -> Result<JsonPath, String> {
        let s = src.trim();
        let s = s.strip_prefix('{').and_then(|x| x.strip_suffix('}')).unwrap_or(s);
        let s = s.strip_prefix('$').unwrap_or(s);
        let b = s.as_bytes();
        let mut i = 0;
        let mut steps = Vec::new();
        while i < b.len() {
            match b[i] {
                b'.' => {
                    let start = i + 1;
                    let mut j = start;
                    while j < b.len() && b[j] != b'.' && b[j] != b'[' {
                        j += 1;
                    }
                    if j > start {
                        steps.push(Step::Field(s[start..j].to_string()));
                    }
                    i = j;
                }
                b'[' => {
                    let end = s[i..]
                        .find(']')
                        .map(|e| i + e)
                        .ok_or_else(|| format!("unclosed [ in {src}"))?;
                    let inner = s[i + 1..end].trim();
                    if inner == "*" {
                        steps.push(Step::All);
                    } else if let Ok(n) = inner.parse::<usize>() {
                        steps.push(Step::Index(n));
                    } else if let Some(q) = inner
                        .strip_prefix('\'')
                        .and_then(|x| x.strip_suffix('\''))
                        .or_else(|| inner.strip_prefix('"').and_then(|x| x.strip_suffix('"')))
                    {
                        steps.push(Step::Field(q.to_string()));
                    } else if let Some(f) = inner.strip_prefix("?(").and_then(|x| x.strip_suffix(')')) {
                        let (lhs, rhs, eq) = match f.split_once("==") {
                            Some((l, r)) => (l, r, true),
                            None => match f.split_once("!=") {
                                Some((l, r)) => (l, r, false),
                                None => return Err(format!("unsupported filter in {src}")),
                            },
                        };
                        let path = lhs
                            .trim()
                            .strip_prefix("@.")
                            .ok_or_else(|| format!("unsupported filter in {src}"))?;
                        let val = rhs.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
                        steps.push(Step::Filter(path.split('.').map(String::from).collect(), val, eq));
                    } else {
                        return Err(format!("unsupported subscript [{inner}] in {src}"));
                    }
                    i = end + 1;
                }
                _ => return Err(format!("unexpected {:?} in {src}", b[i] as char)),
            }
        }
        Ok(JsonPath(steps))
    }

    /// The first value the path selects.
    pub fn first<'a>(&self, v: &'a Value) -> Option<&'a Value> {
        first(&self.0, v)
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn first<'a>(steps: &[Step], v: &'a Value) -> Option<&'a Value> {
    let Some((step, rest)) = steps.split_first() else {
        return Some(v);
    };
    match step {
        Step::Field(f) => first(rest, v.get(f.as_str())?),
        Step::Index(n) => first(rest, v.as_array()?.get(*n)?),
        Step::All => v.as_array()?.iter().find_map(|item| first(rest, item)),
        Step::Filter(path, want, eq) => v.as_array()?.iter().find_map(|item| {
            let got = path.iter().try_fold(item, |cur, p| cur.get(p.as_str()));
            let same = got.is_some_and(|g| text(g) == *want);
            if same == *eq {
                first(rest, item)
            } else {
                None
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subset_of_jsonpath() {
        let obj = json!({"spec": {"replicas": 3, "items": [{"name": "a"}, {"name": "b"}], "x.y": 1},
            "status": {"conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}]}});
        let get = |p: &str| JsonPath::parse(p).expect("parse").first(&obj).cloned();
        assert_eq!(get(".spec.replicas"), Some(json!(3)));
        assert_eq!(get("{.spec.items[1].name}"), Some(json!("b")));
        assert_eq!(get(".spec.items[*].name"), Some(json!("a")));
        assert_eq!(get(".spec['x.y']"), Some(json!(1)));
        assert_eq!(
            get(".status.conditions[?(@.type==\"Ready\")].status"),
            Some(json!("True"))
        );
        assert_eq!(get(".spec.missing"), None);
        assert!(JsonPath::parse(".a[?(@.x>1)]").is_err());
    }
}
