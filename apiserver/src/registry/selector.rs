//! Label and field selectors (`labelSelector=`, `fieldSelector=` query params).
//!
//! Label syntax: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a)`, `k`, `!k`.
//! Field syntax: `f=v`, `f==v`, `f!=v`; the fields a resource supports come
//! from its table entry, values are looked up by dotted JSON path.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<LabelReq>);

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for term in split_terms(s) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            reqs.push(parse_label_term(term)?);
        }
        Ok(Self(reqs))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn matches(&self, labels: &serde_json::Map<String, Value>) -> bool {
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
            LabelReq::NotEq(k, v) => get(k) != Some(v.as_str()),
            LabelReq::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::NotIn(k, vs) => !get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::Exists(k) => labels.contains_key(k),
            LabelReq::NotExists(k) => !labels.contains_key(k),
        })
    }
}

/// Split on commas outside parentheses.
fn split_terms(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

fn parse_label_term(t: &str) -> Result<LabelReq, String> {
    let bad = || format!("unable to parse requirement: invalid label selector: {t:?}");
    if let Some(k) = t.strip_prefix('!') {
        return Ok(LabelReq::NotExists(check_key(k.trim())?));
    }
    if let Some((k, v)) = t.split_once("!=") {
        return Ok(LabelReq::NotEq(check_key(k.trim())?, v.trim().to_string()));
    }
    if let Some((k, v)) = t.split_once("==") {
        return Ok(LabelReq::Eq(check_key(k.trim())?, v.trim().to_string()));
    }
    if let Some((k, v)) = t.split_once('=') {
        return Ok(LabelReq::Eq(check_key(k.trim())?, v.trim().to_string()));
    }
    let words: Vec<&str> = t.splitn(2, char::is_whitespace).collect();
    if words.len() == 2 {
        let rest = words[1].trim();
        let (op, set) = if let Some(r) = rest.strip_prefix("notin") {
            ("notin", r)
        } else if let Some(r) = rest.strip_prefix("in") {
            ("in", r)
        } else {
            return Err(bad());
        };
        let set = set.trim();
        let inner = set
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .ok_or_else(bad)?;
        let vals: Vec<String> = inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        let key = check_key(words[0])?;
        return Ok(if op == "in" {
            LabelReq::In(key, vals)
        } else {
            LabelReq::NotIn(key, vals)
        });
    }
    Ok(LabelReq::Exists(check_key(t)?))
}

fn check_key(k: &str) -> Result<String, String> {
    let ok = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if ok {
        Ok(k.to_string())
    } else {
        Err(format!("unable to parse requirement: invalid label key {k:?}"))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum FieldReq {
    Eq(String, String),
    NotEq(String, String),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<FieldReq>);

impl FieldSelector {
    /// Parse and check every field is in `supported` (plus metadata.name/namespace).
    pub fn parse(s: &str, supported: &[&str]) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for term in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, value, neg) = if let Some((f, v)) = term.split_once("!=") {
                (f, v, true)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, v, false)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, v, false)
            } else {
                return Err(format!("invalid selector: '{s}'; can't understand '{term}'"));
            };
            let field = field.trim();
            if field != "metadata.name" && field != "metadata.namespace" && !supported.contains(&field) {
                return Err(format!("field label not supported: {field}"));
            }
            let (f, v) = (field.to_string(), value.trim().to_string());
            reqs.push(if neg { FieldReq::NotEq(f, v) } else { FieldReq::Eq(f, v) });
        }
        Ok(Self(reqs))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value `metadata.name=` pins, if any (lets a list read one key).
    pub fn exact_name(&self) -> Option<&str> {
        self.0.iter().find_map(|r| match r {
            FieldReq::Eq(f, v) if f == "metadata.name" => Some(v.as_str()),
            _ => None,
        })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|r| match r {
            FieldReq::Eq(f, v) => field_value(obj, f) == *v,
            FieldReq::NotEq(f, v) => field_value(obj, f) != *v,
        })
    }
}

/// A selectable field's value: dotted JSON path, strings/bools/numbers as text.
fn field_value(obj: &Value, field: &str) -> String {
    let path = match field {
        "source" => "source.component",
        other => other,
    };
    let mut cur = obj;
    for part in path.split('.') {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// Both selectors together.
#[derive(Debug, Clone, Default)]
pub struct Predicate {
    pub label: LabelSelector,
    pub field: FieldSelector,
}

impl Predicate {
    pub fn matches(&self, obj: &Value) -> bool {
        (self.label.is_empty() || self.label.matches(&crate::registry::meta::labels(obj)))
            && (self.field.is_empty() || self.field.matches(obj))
    }

    pub fn is_everything(&self) -> bool {
        self.label.is_empty() && self.field.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn label_selector_operators() {
        let l = labels(json!({"app":"web","tier":"front"}));
        for (sel, want) in [
            ("app=web", true),
            ("app==web,tier=front", true),
            ("app!=web", false),
            ("app in (db, web)", true),
            ("app notin (web)", false),
            ("tier", true),
            ("!tier", false),
            ("missing", false),
            ("!missing,app in (web)", true),
            ("", true),
        ] {
            let s = LabelSelector::parse(sel).expect("parse");
            assert_eq!(s.matches(&l), want, "{sel}");
        }
        assert!(LabelSelector::parse("a in b").is_err());
    }

    #[test]
    fn field_selector_checks_supported_fields() {
        let pod =
            json!({"metadata":{"name":"p","namespace":"ns"},"spec":{"nodeName":"n1"},"status":{"phase":"Running"}});
        let s = FieldSelector::parse(
            "spec.nodeName=n1,status.phase!=Failed",
            &["spec.nodeName", "status.phase"],
        )
        .expect("parse");
        assert!(s.matches(&pod));
        let empty = FieldSelector::parse("spec.nodeName=", &["spec.nodeName"]).expect("parse");
        assert!(!empty.matches(&pod));
        assert_eq!(
            FieldSelector::parse("spec.foo=1", &[]).expect_err("unsupported"),
            "field label not supported: spec.foo"
        );
        let n = FieldSelector::parse("metadata.name=p", &[]).expect("parse");
        assert_eq!(n.exact_name(), Some("p"));
        assert!(n.matches(&pod));
    }
}
