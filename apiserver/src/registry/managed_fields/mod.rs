//! `metadata.managedFields` and server-side apply, as kube-apiserver 1.20's fieldmanager
//! (stripmeta, managedfieldsupdater, buildmanagerinfo, capmanagers, skipnonapplied) over
//! structured-merge-diff's Updater; pure functions on JSON objects.
//!
//! `update` records who changed which fields in a create/update/patch (an `Update` entry);
//! `apply` merges an applied configuration, detects conflicts and prunes what the manager
//! stopped applying. The generic store calls `update` through `FieldOwner` once it has the
//! finished object; apply runs in the PATCH handler's update closure.

pub mod fieldpath;
mod go_shape;
pub mod typed;

use serde_json::{json, Map, Value};

use crate::registry::resources::ResourceInfo;
use fieldpath::{path_string, PathElement, Set};
use typed::Ty;

/// At most this many Update entries; older ones merge into `ancient-changes` (capmanagers).
pub const MAX_UPDATE_MANAGERS: usize = 10;
const ANCIENT: &str = "ancient-changes";
const BEFORE_FIRST_APPLY: &str = "before-first-apply";
const CURRENT_OPERATION: &str = "current-operation";

/// How the generic store treats managedFields on a write.
#[derive(Debug, Clone)]
pub enum FieldOwner {
    /// Internal writes and writes kube 1.20 does not track (scale, deletes): left as they are.
    Untracked,
    /// A create, update or non-apply patch by this manager. `subresource`: the request's own
    /// managedFields are ignored (kube's ignoreManagedFieldsFromRequestObject). `before_admission`:
    /// a create's object as the client sent it (kube records a create before mutating admission
    /// and PrepareForCreate, so fields they add belong to nobody).
    Update {
        manager: String,
        subresource: bool,
        before_admission: Option<Value>,
    },
    /// The object's managedFields were already computed (server-side apply).
    Computed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One managedFields entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub time: Option<String>,
    pub set: Set,
}

impl Entry {
    /// kube's manager identifier: appliers are one manager whatever their apiVersion.
    fn same_manager(&self, manager: &str, op: Operation, api_version: &str) -> bool {
        self.manager == manager && self.operation == op && (op == Operation::Apply || self.api_version == api_version)
    }

    /// How conflicts name the manager (kube's printManager).
    fn display(&self) -> String {
        match self.operation {
            Operation::Apply => format!("{:?}", self.manager),
            Operation::Update => format!("{:?} using {}", self.manager, self.api_version),
        }
    }
}

/// One field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// `"m" using apps/v1` or `"m"`.
    pub manager: String,
    /// `.spec.replicas`.
    pub field: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    Conflicts(Vec<Conflict>),
    BadRequest(String),
    Internal(String),
}

/// kube's message for apply conflicts.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [one] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            one.manager, one.field
        );
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort();
    managers.dedup();
    let mut lines = Vec::new();
    for m in managers {
        lines.push(format!("conflicts with {m}:"));
        lines.extend(
            conflicts
                .iter()
                .filter(|c| c.manager == m)
                .map(|c| format!("- {}", c.field)),
        );
    }
    format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
}

/// The schema type of `res`'s objects.
pub fn type_of(res: &ResourceInfo) -> Ty<'_> {
    typed::root(
        &res.api_version(),
        res.kind,
        res.strategy.openapi_schema(),
        res.is_custom(),
    )
}

/// The entries of `obj`'s metadata.managedFields.
pub fn decode(obj: &Value) -> Result<Vec<Entry>, String> {
    let Some(list) = obj.pointer("/metadata/managedFields") else {
        return Ok(Vec::new());
    };
    let Value::Array(list) = list else {
        return if list.is_null() {
            Ok(Vec::new())
        } else {
            Err("managedFields is not a list".into())
        };
    };
    let mut out: Vec<Entry> = Vec::new();
    for e in list {
        let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let operation = match s("operation").as_str() {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            other => return Err(format!("invalid operation {other:?}")),
        };
        if s("fieldsType") != "FieldsV1" {
            return Err(format!("invalid fieldsType {:?}", s("fieldsType")));
        }
        let set = Set::from_fields_v1(e.get("fieldsV1").unwrap_or(&Value::Null))?;
        let entry = Entry {
            manager: s("manager"),
            operation,
            api_version: s("apiVersion"),
            time: e.get("time").and_then(Value::as_str).map(String::from),
            set,
        };
        if out
            .iter()
            .any(|o| o.same_manager(&entry.manager, entry.operation, &entry.api_version))
        {
            return Err(format!("duplicate entries for manager {:?}", entry.manager));
        }
        out.push(entry);
    }
    Ok(out)
}

/// Write `entries` (in kube's order: Apply first, then by time, manager, apiVersion) into
/// `obj`; none: the field is removed.
pub fn encode(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.sort_by(|a, b| {
        a.operation
            .cmp(&b.operation)
            .then_with(|| a.time.cmp(&b.time))
            .then_with(|| a.manager.cmp(&b.manager))
            .then_with(|| a.api_version.cmp(&b.api_version))
    });
    let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if entries.is_empty() {
        m.remove("managedFields");
        return;
    }
    let list: Vec<Value> = entries
        .into_iter()
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation.as_str(),
                "apiVersion": e.api_version,
                "fieldsType": "FieldsV1",
                "fieldsV1": e.set.to_fields_v1(),
            });
            if let Some(t) = e.time {
                v["time"] = json!(t);
            }
            v
        })
        .collect();
    m.insert("managedFields".into(), Value::Array(list));
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    o
}

/// kube's stripmeta: fields never recorded.
fn strip_meta(set: &Set) -> Set {
    let f = |n: &str| PathElement::Field(n.into());
    let mut strip = Set::new();
    strip.insert(&[f("apiVersion")]);
    strip.insert(&[f("kind")]);
    strip.insert(&[f("metadata")]);
    for n in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        strip.insert(&[f("metadata"), f(n)]);
    }
    set.difference(&strip)
}

fn shaped(ty: Ty, obj: &Value) -> Value {
    let mut o = without_managed_fields(obj);
    typed::go_shape(ty, &mut o);
    o
}

/// smd's Updater.update: other managers lose what changed (conflicts unless `force`) and
/// what was removed; empty entries disappear. Returns the comparison.
fn update_others(
    ty: Ty,
    live: &Value,
    new: &Value,
    entries: &mut [Entry],
    me: usize,
    force: bool,
) -> Result<typed::Comparison, Error> {
    let c = typed::compare(ty, &shaped(ty, live), &shaped(ty, new)).map_err(Error::Internal)?;
    let changed = c.modified.union(&c.added);
    let mut conflicts = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if i == me {
            continue;
        }
        for p in e.set.intersection(&changed).paths() {
            conflicts.push((e.manager.clone(), e.operation, e.display(), p));
        }
    }
    if !force && !conflicts.is_empty() {
        conflicts.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        return Err(Error::Conflicts(
            conflicts
                .into_iter()
                .map(|(_, _, manager, p)| Conflict {
                    manager,
                    field: path_string(&p),
                })
                .collect(),
        ));
    }
    for (i, e) in entries.iter_mut().enumerate() {
        if i != me {
            e.set = e.set.difference(&changed).difference(&c.removed);
        }
    }
    Ok(c)
}

fn drop_empty(entries: &mut Vec<Entry>) {
    entries.retain(|e| !e.set.is_empty());
}

/// The Update path below skipnonapplied: capmanagers(buildmanagerinfo(managedfieldsupdater(
/// stripmeta(structured update)))).
fn update_entries(
    ty: Ty,
    live: &Value,
    new: &Value,
    mut entries: Vec<Entry>,
    manager: &str,
    api_version: &str,
    now: &str,
) -> Result<Vec<Entry>, Error> {
    let manager = if manager.is_empty() { "unknown" } else { manager };
    let former = entries
        .iter()
        .position(|e| e.same_manager(manager, Operation::Update, api_version))
        .map(|i| entries.remove(i));
    // managedfieldsupdater: the change is computed as a fresh "current-operation" manager ...
    entries.push(Entry {
        manager: CURRENT_OPERATION.into(),
        operation: Operation::Update,
        api_version: api_version.into(),
        time: None,
        set: Set::new(),
    });
    if let Some(f) = &former {
        // ... while the manager's former entry is one of the others.
        entries.push(f.clone());
    }
    let me = entries.len() - 1 - usize::from(former.is_some());
    let c = update_others(ty, live, new, &mut entries, me, true)?;
    let mine = entries[me]
        .set
        .union(&c.modified)
        .union(&c.added)
        .difference(&c.removed);
    entries[me].set = strip_meta(&mine);
    let current = entries.remove(me);
    let previous = entries
        .iter()
        .position(|e| e.same_manager(manager, Operation::Update, api_version))
        .map(|i| entries.remove(i));
    let set = match &previous {
        Some(p) => current.set.union(&p.set),
        None => current.set,
    };
    let changed = former.as_ref().is_none_or(|f| f.set != set);
    let time = if changed {
        Some(now.to_string())
    } else {
        former.and_then(|f| f.time)
    };
    entries.push(Entry {
        manager: manager.into(),
        operation: Operation::Update,
        api_version: api_version.into(),
        time,
        set,
    });
    drop_empty(&mut entries);
    cap_updaters(&mut entries);
    Ok(entries)
}

/// capmanagers: the oldest Update entries beyond `MAX_UPDATE_MANAGERS` merge into
/// `ancient-changes` (per apiVersion).
fn cap_updaters(entries: &mut Vec<Entry>) {
    let mut updaters: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].operation == Operation::Update)
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updaters.sort_by(|&a, &b| {
        let t = |i: usize| entries[i].time.clone().unwrap_or_default();
        t(a).cmp(&t(b))
            .then_with(|| entries[a].manager.cmp(&entries[b].manager))
    });
    let mut length = updaters.len();
    let mut first_of_version: Vec<(String, usize)> = Vec::new();
    let mut remove = Vec::new();
    for &i in &updaters {
        if length <= MAX_UPDATE_MANAGERS {
            break;
        }
        let version = entries[i].api_version.clone();
        match first_of_version.iter().find(|(v, _)| *v == version).map(|(_, f)| *f) {
            Some(first) => {
                // The bucket takes the first one's place and collects the later ones.
                if entries[first].manager != ANCIENT {
                    entries[first].manager = ANCIENT.into();
                }
                let set = entries[first].set.union(&entries[i].set);
                entries[first].set = set;
                entries[first].time = entries[i].time.clone();
                remove.push(i);
                length -= 1;
            }
            None => first_of_version.push((version, i)),
        }
    }
    remove.sort_unstable();
    for i in remove.into_iter().rev() {
        entries.remove(i);
    }
}

/// managedFields for a create (`live` None) or an update of `live` into `new` by `manager`
/// (kube's FieldManager.UpdateNoErrors); sets them on `new`. Objects that exist without
/// managedFields stay untracked (skipnonapplied).
pub fn update(
    ty: Ty,
    live: Option<&Value>,
    new: &mut Value,
    manager: &str,
    ignore_request_fields: bool,
    api_version: &str,
    now: &str,
) {
    let live_entries = || live.map(|l| decode(l).unwrap_or_default()).unwrap_or_default();
    let requested = new.pointer("/metadata/managedFields");
    let reset = match requested {
        Some(Value::Array(a)) => a.is_empty() || (a.len() == 1 && a[0].as_object().is_some_and(Map::is_empty)),
        _ => false,
    };
    let entries = if ignore_request_fields {
        live_entries()
    } else if reset {
        Vec::new()
    } else {
        match decode(new) {
            Ok(e) if !e.is_empty() => e,
            _ => live_entries(),
        }
    };
    if entries.is_empty() && live.is_some() && !reset {
        // An existing object nobody tracks yet: kube 1.20 leaves it so until an apply.
        if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
        }
        return;
    }
    let empty = json!({});
    let live_obj = live.map(without_managed_fields).unwrap_or(empty);
    match update_entries(ty, &live_obj, new, entries, manager, api_version, now) {
        Ok(e) => encode(new, e),
        Err(_) => encode(new, Vec::new()),
    }
}

/// Server-side apply of `config` onto `live` (`{}` when the object does not exist) by
/// `manager`: the merged object with its managedFields.
pub fn apply(
    ty: Ty,
    live: &Value,
    config: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    now: &str,
) -> Result<Value, Error> {
    if !config.is_object() {
        return Err(Error::BadRequest("the applied configuration must be an object".into()));
    }
    let cfg_version = config.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if cfg_version != api_version {
        return Err(Error::BadRequest(format!(
            "Incorrect version specified in apply patch. Specified patch version: {cfg_version}, expected: {api_version}"
        )));
    }
    if config.pointer("/metadata/managedFields").is_some_and(|v| !v.is_null()) {
        return Err(Error::BadRequest("metadata.managedFields must be nil".into()));
    }
    let mut entries = decode(live).map_err(|e| Error::Internal(format!("failed to decode managed fields: {e}")))?;
    let live = without_managed_fields(live);
    if entries.is_empty() {
        // skipnonapplied: what is there already belongs to "before-first-apply".
        entries = update_entries(ty, &json!({}), &live, Vec::new(), BEFORE_FIRST_APPLY, api_version, now)?;
    }
    let former = entries.clone();
    let mut merged =
        typed::merge(ty, &live, config).map_err(|e| Error::Internal(format!("failed to merge config: {e}")))?;
    let set = typed::to_field_set(ty, config)
        .map_err(|e| Error::BadRequest(format!("failed to create typed patch object: {e}")))?;
    let me = match entries
        .iter()
        .position(|e| e.same_manager(manager, Operation::Apply, api_version))
    {
        Some(i) => i,
        None => {
            entries.push(Entry {
                manager: manager.into(),
                operation: Operation::Apply,
                api_version: api_version.into(),
                time: None,
                set: Set::new(),
            });
            entries.len() - 1
        }
    };
    let last = std::mem::replace(&mut entries[me].set, set);
    entries[me].api_version = api_version.into();
    merged = prune(ty, merged, &entries, &last)?;
    let c = update_others(ty, &live, &merged, &mut entries, me, force)?;
    entries[me].set = strip_meta(&entries[me].set);
    let changed_object = !c.is_same();
    let mut out = if changed_object { merged } else { live };
    let my_time = entries[me].time.clone();
    drop_empty(&mut entries);
    let managers_changed = entries.len() != former.len()
        || entries.iter().any(|e| {
            !former
                .iter()
                .any(|f| f.manager == e.manager && f.operation == e.operation && f.set == e.set)
        });
    if let Some(e) = entries
        .iter_mut()
        .find(|e| e.same_manager(manager, Operation::Apply, api_version))
    {
        e.time = if changed_object || managers_changed {
            Some(now.to_string())
        } else {
            my_time
        };
    }
    encode(&mut out, entries);
    Ok(out)
}

/// smd's prune: drop what the manager applied last time and no longer applies, unless
/// another manager owns it.
fn prune(ty: Ty, merged: Value, entries: &[Entry], last: &Set) -> Result<Value, Error> {
    if last.is_empty() {
        return Ok(merged);
    }
    let fs =
        |v: &Value| typed::to_field_set(ty, v).map_err(|e| Error::Internal(format!("failed to prune fields: {e}")));
    let pruned = typed::remove_items(ty, &merged, last);
    // addBackOwnedItems
    let managed = entries.iter().fold(Set::new(), |acc, e| acc.union(&e.set));
    let merged_set = fs(&merged)?;
    let pruned = typed::remove_items(ty, &merged, &merged_set.difference(&fs(&pruned)?.union(&managed)));
    // addBackDanglingItems
    let dangling = merged_set.difference(&fs(&pruned)?).intersection(last);
    Ok(typed::remove_items(ty, &merged, &dangling))
}

/// kube's prefixFromUserAgent.
pub fn manager_from_user_agent(ua: &str) -> String {
    ua.split('/').next().unwrap_or("").to_string()
}

#[cfg(test)]
mod tests;
