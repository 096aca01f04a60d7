//! Objects walked with their schema as structured-merge-diff's `typed` package does:
//! field sets of an object, comparison (added/modified/removed), apply merge, item removal,
//! and the Go zero-value shape built-in objects are compared in.
//!
//! Types come from the built-in schema table (`crate::schema`), a CRD's structural schema,
//! or nothing (kube's "deduced" type: maps granular, lists atomic). Lists are associative,
//! sets or atomic as kube 1.20's OpenAPI says (`list_kind`).

use serde_json::{Map, Value};

use super::fieldpath::{Path, PathElement, Set};
use super::go_shape::GO_PRESENT;
use crate::schema::{self, Ty as PTy};

const META: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";

/// The schema of one node.
#[derive(Debug, Clone, Copy)]
pub enum Ty<'a> {
    /// A built-in struct (a message of the schema table).
    Msg(&'static str),
    /// map<string, V> of the schema table: a granular map.
    Map(&'static PTy),
    /// A repeated field `field` of message `parent`.
    List {
        parent: &'static str,
        field: &'static str,
        elem: &'static PTy,
    },
    /// A CRD structural schema node (`properties`, `items`, `additionalProperties`).
    Crd(&'a Value),
    /// The top of a custom resource: metadata is ObjectMeta, the rest the schema's.
    CrdRoot(Option<&'a Value>),
    /// No schema: maps granular, lists atomic.
    Deduced,
    /// A scalar or an atomic value (LabelSelector, Quantity, Time, ...).
    Leaf,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ListKind {
    Atomic,
    Set,
    Map(Vec<&'static str>),
}

/// How kube 1.20's OpenAPI types list `field` of message `msg` (x-kubernetes-list-type or the
/// patch strategy and merge key).
pub fn list_kind(msg: &str, field: &str) -> ListKind {
    let short = msg.rsplit('.').next().unwrap_or(msg);
    let keys = |k: &[&'static str]| ListKind::Map(k.to_vec());
    match (short, field) {
        ("Container" | "EphemeralContainer", "ports") => keys(&["containerPort", "protocol"]),
        ("Container" | "EphemeralContainer", "env") => keys(&["name"]),
        ("Container" | "EphemeralContainer", "volumeMounts") => keys(&["mountPath"]),
        ("Container" | "EphemeralContainer", "volumeDevices") => keys(&["devicePath"]),
        ("PodSpec", "volumes" | "initContainers" | "containers" | "ephemeralContainers" | "imagePullSecrets") => {
            keys(&["name"])
        }
        ("PodSpec", "hostAliases") => keys(&["ip"]),
        ("PodSpec", "topologySpreadConstraints") => keys(&["topologyKey", "whenUnsatisfiable"]),
        ("PodStatus", "podIPs") => keys(&["ip"]),
        ("NodeStatus", "addresses") => keys(&["type"]),
        ("ServiceSpec", "ports") => keys(&["port", "protocol"]),
        ("ServiceAccount", "secrets") => keys(&["name"]),
        ("EphemeralContainers", "ephemeralContainers") => keys(&["name"]),
        ("NodeSpec", "podCIDRs") => ListKind::Set,
        ("ObjectMeta", "ownerReferences") => keys(&["uid"]),
        ("ObjectMeta", "finalizers") => ListKind::Set,
        (s, "conditions") if s.ends_with("Status") && !msg.starts_with(META) => keys(&["type"]),
        _ => ListKind::Atomic,
    }
}

/// Messages whose JSON is a single value, or that kube marks `structType=atomic`.
fn atomic_msg(m: &str) -> bool {
    schema::is_special(m) || m == "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelector"
}

fn of_proto(t: &'static PTy) -> Ty<'static> {
    match t {
        PTy::Msg(m) if !atomic_msg(m) => Ty::Msg(m),
        PTy::Map(v) => Ty::Map(v),
        _ => Ty::Leaf,
    }
}

/// The type of a whole object of `api_version`/`kind`, or of a custom resource.
pub fn root<'a>(api_version: &str, kind: &str, crd_schema: Option<&'a Value>, custom: bool) -> Ty<'a> {
    if custom {
        return Ty::CrdRoot(crd_schema);
    }
    schema::kind_message(api_version, kind)
        .and_then(|m| intern(&m))
        .map(Ty::Msg)
        .unwrap_or(Ty::Deduced)
}

fn intern(name: &str) -> Option<&'static str> {
    schema::message_name(name)
}

enum Node {
    Map,
    List(ListKind),
    Leaf,
}

impl<'a> Ty<'a> {
    fn node(&self, v: &Value) -> Node {
        match self {
            Ty::Msg(_) | Ty::Map(_) | Ty::CrdRoot(_) => Node::Map,
            Ty::List { parent, field, .. } => Node::List(list_kind(parent, field)),
            Ty::Crd(s) => match s.get("type").and_then(Value::as_str) {
                Some("object") => Node::Map,
                Some("array") => Node::List(crd_list_kind(s)),
                Some(_) => Node::Leaf,
                None => match v {
                    Value::Object(_) if s.get("x-kubernetes-int-or-string").is_none() => Node::Map,
                    _ => Node::Leaf,
                },
            },
            Ty::Deduced => match v {
                Value::Object(_) => Node::Map,
                Value::Array(_) => Node::List(ListKind::Atomic),
                _ => Node::Leaf,
            },
            Ty::Leaf => Node::Leaf,
        }
    }

    /// The type of map entry `key`, and whether it is a declared struct field.
    fn field(&self, key: &str) -> (Ty<'a>, bool) {
        match self {
            Ty::Msg(m) => {
                match schema::json_fields(m).into_iter().find(|f| f.name == key) {
                    Some(f) if f.repeated => {
                        // A repeated field's name is 'static in the table.
                        (
                            Ty::List {
                                parent: m,
                                field: f.name,
                                elem: &f.ty,
                            },
                            true,
                        )
                    }
                    Some(f) => (of_proto(&f.ty), true),
                    None if key == "apiVersion" || key == "kind" => (Ty::Leaf, true),
                    None => (Ty::Deduced, false),
                }
            }
            Ty::Map(v) => (of_proto(v), false),
            Ty::CrdRoot(s) => match key {
                "metadata" => (
                    intern("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta")
                        .map(Ty::Msg)
                        .unwrap_or(Ty::Deduced),
                    true,
                ),
                "apiVersion" | "kind" => (Ty::Leaf, true),
                _ => match s {
                    Some(s) => Ty::Crd(s).field(key),
                    None => (Ty::Deduced, false),
                },
            },
            Ty::Crd(s) => {
                if let Some(p) = s.get("properties").and_then(|p| p.get(key)) {
                    return (Ty::Crd(p), true);
                }
                match s.get("additionalProperties") {
                    Some(a @ Value::Object(_)) => (Ty::Crd(a), false),
                    _ => (Ty::Deduced, false),
                }
            }
            Ty::Deduced | Ty::Leaf | Ty::List { .. } => (Ty::Deduced, false),
        }
    }

    fn elem(&self) -> Ty<'a> {
        match self {
            Ty::List { elem, .. } => of_proto(elem),
            Ty::Crd(s) => s.get("items").map(Ty::Crd).unwrap_or(Ty::Deduced),
            _ => Ty::Deduced,
        }
    }
}

fn crd_list_kind(s: &Value) -> ListKind {
    match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => ListKind::Set,
        Some("map") => {
            let keys: Vec<&'static str> = s
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(|k| &*Box::leak(k.to_string().into_boxed_str()))
                        .collect()
                })
                .unwrap_or_default();
            ListKind::Map(keys)
        }
        _ => ListKind::Atomic,
    }
}

/// The path element of list item `i` (smd's listItemToPathElement).
pub fn item_element(kind: &ListKind, i: usize, item: &Value) -> Result<PathElement, String> {
    match kind {
        ListKind::Map(keys) => {
            let Value::Object(m) = item else {
                return Err("associative list with keys may not have non-map elements".into());
            };
            let mut key = Vec::new();
            for k in keys {
                match m.get(*k) {
                    Some(v) => key.push((k.to_string(), v.clone())),
                    // kube 1.20's OpenAPI default for the protocol key.
                    None if *k == "protocol" => key.push((k.to_string(), Value::String("TCP".into()))),
                    None => {
                        return Err(format!(
                            "associative list with keys has an element that omits key field {k:?} (and doesn't have default value)"
                        ))
                    }
                }
            }
            key.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(key))
        }
        ListKind::Set => match item {
            Value::Object(_) => Err("associative list without keys has an element that's a map type".into()),
            Value::Array(_) => Err("not supported: associative list with lists as elements".into()),
            Value::Null => Err("associative list without keys has an element that's an explicit null".into()),
            v => Ok(PathElement::Value(v.clone())),
        },
        ListKind::Atomic => Ok(PathElement::Index(i)),
    }
}

fn items<'v>(kind: &ListKind, list: &'v [Value], path: &Path) -> Result<Vec<(PathElement, &'v Value)>, String> {
    let mut out: Vec<(PathElement, &Value)> = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let pe = item_element(kind, i, item)
            .map_err(|e| format!("{}: element {i}: {e}", super::fieldpath::path_string(path)))?;
        if out.iter().any(|(p, _)| *p == pe) {
            return Err(format!(
                "{}: duplicate entries for key {pe}",
                super::fieldpath::path_string(path)
            ));
        }
        out.push((pe, item));
    }
    Ok(out)
}

fn with(path: &Path, pe: PathElement) -> Path {
    let mut p = path.clone();
    p.push(pe);
    p
}

/// The fields `v` sets (smd's ToFieldSet).
pub fn to_field_set(ty: Ty, v: &Value) -> Result<Set, String> {
    let mut s = Set::new();
    fs_walk(ty, v, &Vec::new(), &mut s)?;
    Ok(s)
}

fn fs_walk(ty: Ty, v: &Value, path: &Path, s: &mut Set) -> Result<(), String> {
    match (ty.node(v), v) {
        (Node::Map, Value::Object(m)) => {
            for (k, child) in m {
                let (cty, known) = ty.field(k);
                let p = with(path, PathElement::Field(k.clone()));
                fs_walk(cty, child, &p, s)?;
                if !known {
                    s.insert(&p);
                }
            }
        }
        (Node::Map, Value::Null) => {}
        (Node::List(ListKind::Atomic), _) => s.insert(path),
        (Node::List(kind), Value::Array(l)) => {
            let elem = ty.elem();
            for (pe, item) in items(&kind, l, path)? {
                let p = with(path, pe);
                fs_walk(elem, item, &p, s)?;
                s.insert(&p);
            }
        }
        (Node::List(_), Value::Null) => {}
        _ => s.insert(path),
    }
    Ok(())
}

/// What changed from `lhs` to `rhs` (smd's Comparison).
#[derive(Debug, Default)]
pub struct Comparison {
    pub added: Set,
    pub modified: Set,
    pub removed: Set,
}

impl Comparison {
    pub fn is_same(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }
}

pub fn compare(ty: Ty, lhs: &Value, rhs: &Value) -> Result<Comparison, String> {
    let mut c = Comparison::default();
    cmp_walk(ty, Some(lhs), Some(rhs), &Vec::new(), &mut c)?;
    Ok(c)
}

fn leaf_rule(lhs: Option<&Value>, rhs: Option<&Value>, path: &Path, c: &mut Comparison) {
    match (lhs, rhs) {
        (None, _) => c.added.insert(path),
        (_, None) => c.removed.insert(path),
        (Some(l), Some(r)) if l != r => c.modified.insert(path),
        _ => {}
    }
}

fn post_rule(lhs: Option<&Value>, rhs: Option<&Value>, path: &Path, c: &mut Comparison) {
    match (lhs, rhs) {
        (None, _) => c.added.insert(path),
        (_, None) => c.removed.insert(path),
        _ => {}
    }
}

fn cmp_walk(ty: Ty, lhs: Option<&Value>, rhs: Option<&Value>, path: &Path, c: &mut Comparison) -> Result<(), String> {
    let probe = rhs.or(lhs).unwrap_or(&Value::Null);
    match ty.node(probe) {
        Node::Map => {
            let as_map = |v: Option<&Value>| -> Result<Option<Map<String, Value>>, ()> {
                match v {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::Object(m)) => Ok(Some(m.clone())),
                    Some(_) => Err(()),
                }
            };
            let (Ok(lm), Ok(rm)) = (as_map(lhs), as_map(rhs)) else {
                leaf_rule(lhs, rhs, path, c);
                return Ok(());
            };
            let empty = |m: &Option<Map<String, Value>>| m.as_ref().is_none_or(Map::is_empty);
            if empty(&lm) && empty(&rm) {
                leaf_rule(lhs, rhs, path, c);
                return Ok(());
            }
            let (lm, rm) = (lm.unwrap_or_default(), rm.unwrap_or_default());
            let mut keys: Vec<&String> = lm.keys().chain(rm.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let (cty, _) = ty.field(k);
                cmp_walk(cty, lm.get(k), rm.get(k), &with(path, PathElement::Field(k.clone())), c)?;
            }
            post_rule(lhs, rhs, path, c);
        }
        Node::List(kind) => {
            let as_list = |v: Option<&Value>| -> Result<Vec<Value>, ()> {
                match v {
                    None | Some(Value::Null) => Ok(Vec::new()),
                    Some(Value::Array(a)) => Ok(a.clone()),
                    Some(_) => Err(()),
                }
            };
            let (Ok(ll), Ok(rl)) = (as_list(lhs), as_list(rhs)) else {
                leaf_rule(lhs, rhs, path, c);
                return Ok(());
            };
            if kind == ListKind::Atomic || (ll.is_empty() && rl.is_empty()) {
                leaf_rule(lhs, rhs, path, c);
                return Ok(());
            }
            let elem = ty.elem();
            let li = items(&kind, &ll, path)?;
            let ri = items(&kind, &rl, path)?;
            for (pe, l) in &li {
                let r = ri.iter().find(|(p, _)| p == pe).map(|(_, r)| *r);
                cmp_walk(elem, Some(l), r, &with(path, pe.clone()), c)?;
            }
            for (pe, r) in &ri {
                if !li.iter().any(|(p, _)| p == pe) {
                    cmp_walk(elem, None, Some(r), &with(path, pe.clone()), c)?;
                }
            }
            post_rule(lhs, rhs, path, c);
        }
        _ => leaf_rule(lhs, rhs, path, c),
    }
    Ok(())
}

/// `lhs` with `rhs` merged in (smd's Merge with ruleKeepRHS): maps merge, associative
/// lists and sets merge by item, atomic lists and scalars are replaced.
pub fn merge(ty: Ty, lhs: &Value, rhs: &Value) -> Result<Value, String> {
    Ok(merge_walk(ty, Some(lhs), Some(rhs), &Vec::new())?.unwrap_or(Value::Null))
}

fn merge_walk(ty: Ty, lhs: Option<&Value>, rhs: Option<&Value>, path: &Path) -> Result<Option<Value>, String> {
    let keep_rhs = || rhs.or(lhs).cloned();
    let probe = rhs.or(lhs).unwrap_or(&Value::Null);
    match (ty.node(probe), lhs, rhs) {
        (_, None, _) | (_, _, None) => Ok(keep_rhs()),
        (Node::Map, Some(Value::Object(lm)), Some(Value::Object(rm))) => {
            if lm.is_empty() && rm.is_empty() {
                return Ok(keep_rhs());
            }
            let mut out = Map::new();
            let mut keys: Vec<&String> = lm.keys().chain(rm.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let (cty, _) = ty.field(k);
                if let Some(v) = merge_walk(cty, lm.get(k), rm.get(k), &with(path, PathElement::Field(k.clone())))? {
                    out.insert(k.clone(), v);
                }
            }
            Ok(Some(Value::Object(out)))
        }
        (Node::List(kind), Some(Value::Array(ll)), Some(Value::Array(rl))) if kind != ListKind::Atomic => {
            if ll.is_empty() && rl.is_empty() {
                return Ok(keep_rhs());
            }
            let elem = ty.elem();
            let li = items(&kind, ll, path)?;
            let ri = items(&kind, rl, path)?;
            let mut out = Vec::new();
            for (pe, l) in &li {
                let r = ri.iter().find(|(p, _)| p == pe).map(|(_, r)| *r);
                if let Some(v) = merge_walk(elem, Some(l), r, &with(path, pe.clone()))? {
                    out.push(v);
                }
            }
            for (pe, r) in &ri {
                if !li.iter().any(|(p, _)| p == pe) {
                    out.push((*r).clone());
                }
            }
            Ok(Some(Value::Array(out)))
        }
        _ => Ok(keep_rhs()),
    }
}

/// `v` without the paths in `set` (smd's RemoveItems): a map or list emptied by the
/// removal disappears.
pub fn remove_items(ty: Ty, v: &Value, set: &Set) -> Value {
    remove_walk(ty, v, set).unwrap_or(Value::Null)
}

fn remove_walk(ty: Ty, v: &Value, set: &Set) -> Option<Value> {
    match (ty.node(v), v) {
        (Node::Map, Value::Object(m)) => {
            if m.is_empty() {
                return None;
            }
            let mut out = Map::new();
            for (k, child) in m {
                let pe = PathElement::Field(k.clone());
                if set.has(std::slice::from_ref(&pe)) {
                    continue;
                }
                match set.child(&pe) {
                    Some(sub) => {
                        if let Some(c) = remove_walk(ty.field(k).0, child, sub) {
                            out.insert(k.clone(), c);
                        }
                    }
                    None => {
                        out.insert(k.clone(), child.clone());
                    }
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        (Node::List(kind), Value::Array(l)) if kind != ListKind::Atomic => {
            if l.is_empty() {
                return None;
            }
            let elem = ty.elem();
            let mut out = Vec::new();
            for (i, item) in l.iter().enumerate() {
                let Ok(pe) = item_element(&kind, i, item) else {
                    out.push(item.clone());
                    continue;
                };
                if set.has(std::slice::from_ref(&pe)) {
                    continue;
                }
                match set.child(&pe) {
                    Some(sub) => {
                        if let Some(c) = remove_walk(elem, item, sub) {
                            out.push(c);
                        }
                    }
                    None => out.push(item.clone()),
                }
            }
            (!out.is_empty()).then_some(Value::Array(out))
        }
        _ => Some(v.clone()),
    }
}

/// `v` in the shape a Go value of its type has once converted to unstructured: non-pointer
/// struct fields present (`{}`), slices/maps/pointers without `omitempty` present (null).
/// Whether a map or list was there decides the `.` entries of an update's field set.
pub fn go_shape(ty: Ty, v: &mut Value) {
    match (ty, v) {
        (Ty::Msg(m), Value::Object(obj)) => {
            let start = GO_PRESENT.partition_point(|(msg, _)| *msg < m);
            for (msg, field) in &GO_PRESENT[start..] {
                if *msg != m {
                    break;
                }
                if obj.contains_key(*field) {
                    continue;
                }
                let fresh = match Ty::Msg(m).field(field).0 {
                    Ty::Msg(_) => Value::Object(Map::new()),
                    _ => Value::Null,
                };
                obj.insert(field.to_string(), fresh);
            }
            for (k, child) in obj.iter_mut() {
                go_shape(Ty::Msg(m).field(k).0, child);
            }
        }
        (Ty::Map(_), Value::Object(obj)) => {
            for child in obj.values_mut() {
                go_shape(ty.field("").0, child);
            }
        }
        (Ty::List { .. }, Value::Array(l)) => {
            let elem = ty.elem();
            for item in l {
                go_shape(elem, item);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Ty<'static> {
        root("apps/v1", "Deployment", None, false)
    }

    #[test]
    fn field_sets_of_an_applied_deployment() {
        let cfg = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web"}},
            "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"spec":{"containers":[
                {"name":"nginx","image":"nginx","ports":[{"containerPort":80}],"args":["a","b"]}]}}}});
        let s = to_field_set(deployment(), &cfg).expect("set");
        let v1 = s.to_fields_v1();
        assert_eq!(v1["f:metadata"]["f:labels"], json!({"f:app":{}}));
        assert_eq!(v1["f:spec"]["f:selector"], json!({}));
        let c = &v1["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"];
        assert_eq!(c["."], json!({}));
        assert_eq!(c["f:args"], json!({}));
        assert_eq!(
            c["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"],
            json!({".":{},"f:containerPort":{}})
        );
    }

    #[test]
    fn compare_marks_new_maps_but_not_go_present_ones() {
        let mut empty = json!({});
        go_shape(deployment(), &mut empty);
        assert_eq!(empty["spec"]["strategy"], json!({}));
        assert_eq!(empty["spec"]["template"]["spec"]["containers"], Value::Null);
        let mut new = json!({"metadata":{"labels":{"a":"b"}},"spec":{"strategy":{"type":"RollingUpdate",
            "rollingUpdate":{"maxSurge":"25%"}},"template":{"spec":{"containers":[{"name":"c","image":"i","resources":{}}]}}}});
        go_shape(deployment(), &mut new);
        let c = compare(deployment(), &empty, &new).expect("compare");
        let added = c.added.union(&c.modified).to_fields_v1();
        assert_eq!(added["f:metadata"]["f:labels"], json!({".":{},"f:a":{}}));
        assert_eq!(
            added["f:spec"]["f:strategy"],
            json!({"f:type":{},"f:rollingUpdate":{".":{},"f:maxSurge":{}}})
        );
        let cs = &added["f:spec"]["f:template"]["f:spec"]["f:containers"];
        assert_eq!(cs["k:{\"name\":\"c\"}"]["f:resources"], json!({}));
        assert!(cs.get(".").is_none());
        assert!(compare(deployment(), &new, &new).expect("same").is_same());
    }

    #[test]
    fn merge_and_remove_follow_list_types() {
        let live = json!({"metadata":{"finalizers":["a"]},"spec":{"template":{"spec":{"containers":[
            {"name":"a","image":"1","args":["x"]},{"name":"b","image":"2"}]}}}});
        let cfg = json!({"metadata":{"finalizers":["b"]},"spec":{"template":{"spec":{"containers":[
            {"name":"b","image":"3"},{"name":"c","image":"4","args":["y"]}]}}}});
        let m = merge(deployment(), &live, &cfg).expect("merge");
        assert_eq!(m["metadata"]["finalizers"], json!(["a", "b"]));
        let cs = &m["spec"]["template"]["spec"]["containers"];
        assert_eq!(
            cs,
            &json!([{"name":"a","image":"1","args":["x"]},{"name":"b","image":"3"},{"name":"c","image":"4","args":["y"]}])
        );
        let mut gone = Set::new();
        let key = PathElement::Key(vec![("name".into(), json!("a"))]);
        let base = [
            PathElement::Field("spec".into()),
            PathElement::Field("template".into()),
            PathElement::Field("spec".into()),
            PathElement::Field("containers".into()),
        ];
        let mut p = base.to_vec();
        p.push(key);
        gone.insert(&p);
        gone.insert(&[
            PathElement::Field("metadata".into()),
            PathElement::Field("finalizers".into()),
            PathElement::Value(json!("a")),
        ]);
        gone.insert(&[
            PathElement::Field("metadata".into()),
            PathElement::Field("finalizers".into()),
            PathElement::Value(json!("b")),
        ]);
        let r = remove_items(deployment(), &m, &gone);
        assert_eq!(
            r["spec"]["template"]["spec"]["containers"].as_array().map(Vec::len),
            Some(2)
        );
        assert!(
            r["metadata"].get("finalizers").is_none(),
            "an emptied list disappears: {r}"
        );
    }

    #[test]
    fn associative_keys_must_be_there() {
        let svc = root("v1", "Service", None, false);
        let bad = json!({"spec":{"ports":[{"protocol":"UDP"}]}});
        let err = to_field_set(svc, &bad).expect_err("no port");
        assert!(err.contains("omits key field \"port\""), "{err}");
        let dup = json!({"spec":{"ports":[{"port":80},{"port":80,"protocol":"TCP"}]}});
        assert!(to_field_set(svc, &dup).expect_err("dup").contains("duplicate entries"));
    }
}
