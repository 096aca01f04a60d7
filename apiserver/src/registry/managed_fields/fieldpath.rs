//! Field sets as structured-merge-diff keeps them (`fieldpath.Set`): path elements, set
//! algebra, and the FieldsV1 encoding (`f:<name>`, `k:{...}`, `v:<json>`, `i:<n>`, `.`).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// One step of a field path (smd's PathElement).
#[derive(Debug, Clone, PartialEq)]
pub enum PathElement {
    /// A struct field or map key.
    Field(String),
    /// An associative list item by its key fields (sorted by name).
    Key(Vec<(String, Value)>),
    /// A set item (list of scalars).
    Value(Value),
    /// A positional list item (lists that are neither atomic nor associative).
    Index(usize),
}

impl Eq for PathElement {}

fn rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Number(_) => 1,
        Value::String(_) => 2,
        Value::Bool(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// value.Compare for the scalars keys and set items hold.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ if rank(a) != rank(b) => rank(a).cmp(&rank(b)),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        use PathElement::*;
        let kind = |p: &PathElement| match p {
            Field(_) => 0,
            Key(_) => 1,
            Value(_) => 2,
            Index(_) => 3,
        };
        match (self, other) {
            (Field(a), Field(b)) => a.cmp(b),
            (Key(a), Key(b)) => {
                for ((an, av), (bn, bv)) in a.iter().zip(b) {
                    let c = an.cmp(bn).then_with(|| compare_values(av, bv));
                    if c != Ordering::Equal {
                        return c;
                    }
                }
                a.len().cmp(&b.len())
            }
            (Value(a), Value(b)) => compare_values(a, b),
            (Index(a), Index(b)) => a.cmp(b),
            _ => kind(self).cmp(&kind(other)),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// value.ToString: strings quoted, other scalars as JSON.
fn value_string(v: &Value) -> String {
    v.to_string()
}

impl std::fmt::Display for PathElement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathElement::Field(n) => write!(f, ".{n}"),
            PathElement::Key(k) => {
                let parts: Vec<String> = k.iter().map(|(n, v)| format!("{n}={}", value_string(v))).collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={}]", value_string(v)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

impl PathElement {
    /// The FieldsV1 key of this element.
    pub fn serialize(&self) -> String {
        match self {
            PathElement::Field(n) => format!("f:{n}"),
            PathElement::Key(k) => {
                let m: Map<String, Value> = k.iter().cloned().collect();
                format!("k:{}", Value::Object(m))
            }
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    pub fn parse(s: &str) -> Result<PathElement, String> {
        let bad = |e: &dyn std::fmt::Display| format!("invalid path element {s:?}: {e}");
        if let Some(n) = s.strip_prefix("f:") {
            return Ok(PathElement::Field(n.to_string()));
        }
        if let Some(k) = s.strip_prefix("k:") {
            let Value::Object(m) = serde_json::from_str::<Value>(k).map_err(|e| bad(&e))? else {
                return Err(bad(&"key is not an object"));
            };
            return Ok(PathElement::Key(m.into_iter().collect()));
        }
        if let Some(v) = s.strip_prefix("v:") {
            return Ok(PathElement::Value(serde_json::from_str(v).map_err(|e| bad(&e))?));
        }
        if let Some(i) = s.strip_prefix("i:") {
            return Ok(PathElement::Index(i.parse().map_err(|e| bad(&e))?));
        }
        Err(bad(&"unknown prefix"))
    }
}

pub type Path = Vec<PathElement>;

/// `.spec.containers[name="c"].image`, as smd's Path.String.
pub fn path_string(p: &[PathElement]) -> String {
    p.iter().map(ToString::to_string).collect()
}

/// A set of field paths: members (paths ending here) and children (longer paths).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Set {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, Set>,
}

impl Set {
    pub fn new() -> Set {
        Set::default()
    }

    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(Set::is_empty)
    }

    /// The subset under `pe` (smd's WithPrefix).
    pub fn child(&self, pe: &PathElement) -> Option<&Set> {
        self.children.get(pe).filter(|c| !c.is_empty())
    }

    fn pruned(mut self) -> Set {
        self.children.retain(|_, c| !c.is_empty());
        self
    }

    pub fn union(&self, o: &Set) -> Set {
        let mut out = self.clone();
        out.members.extend(o.members.iter().cloned());
        for (pe, c) in &o.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out.pruned()
    }

    pub fn intersection(&self, o: &Set) -> Set {
        let mut out = Set::new();
        out.members = self.members.intersection(&o.members).cloned().collect();
        for (pe, c) in &self.children {
            if let Some(oc) = o.children.get(pe) {
                out.children.insert(pe.clone(), c.intersection(oc));
            }
        }
        out.pruned()
    }

    /// Paths of `self` not in `o` (a member of `o` does not remove `self`'s children).
    pub fn difference(&self, o: &Set) -> Set {
        let mut out = Set::new();
        out.members = self.members.difference(&o.members).cloned().collect();
        for (pe, c) in &self.children {
            let d = match o.children.get(pe) {
                Some(oc) => c.difference(oc),
                None => c.clone(),
            };
            out.children.insert(pe.clone(), d);
        }
        out.pruned()
    }

    /// Like `difference`, but a member of `o` also removes everything below it.
    pub fn recursive_difference(&self, o: &Set) -> Set {
        let mut out = Set::new();
        out.members = self.members.difference(&o.members).cloned().collect();
        for (pe, c) in &self.children {
            if o.members.contains(pe) {
                continue;
            }
            let d = match o.children.get(pe) {
                Some(oc) => c.recursive_difference(oc),
                None => c.clone(),
            };
            out.children.insert(pe.clone(), d);
        }
        out.pruned()
    }

    /// Every path, members before children at each level (smd's Iterate order).
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for m in &self.members {
            let mut p = prefix.clone();
            p.push(m.clone());
            out.push(p);
        }
        for (pe, c) in &self.children {
            prefix.push(pe.clone());
            c.collect(prefix, out);
            prefix.pop();
        }
    }

    /// The FieldsV1 JSON object.
    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        // Members and children share keys: a member with children is `.` inside the child.
        for pe in &self.members {
            if self.children.get(pe).is_none_or(|c| c.is_empty()) {
                m.insert(pe.serialize(), Value::Object(Map::new()));
            }
        }
        for (pe, c) in &self.children {
            if c.is_empty() {
                continue;
            }
            let Value::Object(mut inner) = c.to_fields_v1() else {
                continue;
            };
            if self.members.contains(pe) {
                inner.insert(".".into(), Value::Object(Map::new()));
            }
            m.insert(pe.serialize(), Value::Object(inner));
        }
        Value::Object(m)
    }

    pub fn from_fields_v1(v: &Value) -> Result<Set, String> {
        let Value::Object(m) = v else {
            return Err("FieldsV1 is not a JSON object".into());
        };
        let mut s = Set::new();
        for (k, child) in m {
            if k == "." {
                continue;
            }
            let pe = PathElement::parse(k)?;
            let Value::Object(cm) = child else {
                return Err(format!("FieldsV1 entry {k:?} is not an object"));
            };
            if cm.is_empty() || cm.contains_key(".") {
                s.members.insert(pe.clone());
            }
            if cm.keys().any(|k| k != ".") {
                s.children.insert(pe, Set::from_fields_v1(child)?);
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(n: &str) -> PathElement {
        PathElement::Field(n.into())
    }

    #[test]
    fn fields_v1_round_trips_with_dots_for_owned_parents() {
        let v = json!({"f:metadata":{"f:labels":{".":{},"f:app":{}}},
            "f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:image":{},"f:ports":{
                "k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}},
                "f:finalizers":{"v:\"a\"":{}},"f:resources":{}}});
        let s = Set::from_fields_v1(&v).expect("decode");
        assert!(s.has(&[f("spec"), f("resources")]));
        assert!(s.has(&[f("metadata"), f("labels")]));
        assert!(!s.has(&[f("metadata")]));
        let key = PathElement::Key(vec![("name".into(), json!("c"))]);
        assert!(s.has(&[f("spec"), f("containers"), key.clone(), f("image")]));
        assert_eq!(s.to_fields_v1(), v);
        assert_eq!(
            path_string(&[f("spec"), f("containers"), key, f("image")]),
            ".spec.containers[name=\"c\"].image"
        );
        assert!(Set::from_fields_v1(&json!({"x:y":{}})).is_err());
        assert!(Set::from_fields_v1(&json!([])).is_err());
    }

    #[test]
    fn set_algebra() {
        let mut a = Set::new();
        a.insert(&[f("spec")]);
        a.insert(&[f("spec"), f("a")]);
        a.insert(&[f("spec"), f("b")]);
        let mut b = Set::new();
        b.insert(&[f("spec"), f("b")]);
        b.insert(&[f("spec"), f("c")]);
        let mut only_b = Set::new();
        only_b.insert(&[f("spec"), f("b")]);
        assert_eq!(a.intersection(&b), only_b);
        let d = a.difference(&b);
        assert!(d.has(&[f("spec")]) && d.has(&[f("spec"), f("a")]) && !d.has(&[f("spec"), f("b")]));
        let mut top = Set::new();
        top.insert(&[f("spec")]);
        assert!(a.recursive_difference(&top).is_empty());
        assert!(!a.difference(&top).is_empty());
        assert_eq!(a.union(&b).paths().len(), 4);
        assert_eq!(
            a.paths().iter().map(|p| path_string(p)).collect::<Vec<_>>(),
            vec![".spec", ".spec.a", ".spec.b"]
        );
    }

    #[test]
    fn key_order_is_numeric() {
        let k = |p: i64| PathElement::Key(vec![("port".into(), json!(p))]);
        assert!(k(80) < k(443));
        assert!(k(80) < k(8080));
        assert!(f("z") < k(1));
        assert!(k(1) < PathElement::Value(json!("a")));
    }
}
