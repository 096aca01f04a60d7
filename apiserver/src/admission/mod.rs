//! Admission plugins run on creates before storage, in kube-apiserver's order: the mutating
//! Priority, DefaultTolerationSeconds and LimitRanger, then the validating ResourceQuota last.
//! (NamespaceLifecycle lives in the generic store; ServiceAccount in `registry::service_account`.)

pub mod default_tolerations;
pub mod limit_ranger;
pub mod priority;
pub mod resource_quota;

use serde_json::Value;

use crate::error::{ApiError, Result};
use crate::registry::generic::Store;
use crate::registry::resources::ResourceInfo;

/// Run the create-time plugins on `obj` (already carrying its namespace).
pub async fn admit_create(
    store: &Store,
    res: &ResourceInfo,
    ns: Option<&str>,
    obj: &mut Value,
    dry_run: bool,
) -> Result<()> {
    let is_pod = res.group.is_empty() && res.plural == "pods";
    if is_pod {
        priority::admit(store, res, obj).await?;
        default_tolerations::admit(obj);
        if let Some(ns) = ns {
            limit_ranger::admit(store, res, ns, obj).await?;
        }
    }
    if let Some(ns) = ns {
        resource_quota::admit(store, res, ns, obj, dry_run).await?;
    }
    Ok(())
}

/// admission.NewForbidden: `<resource> "<name>" is forbidden: <message>`, naming the object by
/// its name or, before one is generated, its generateName.
pub(crate) fn forbidden(res: &ResourceInfo, obj: &Value, message: String) -> ApiError {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .or_else(|| obj.pointer("/metadata/generateName").and_then(Value::as_str))
        .unwrap_or("");
    ApiError::Forbidden {
        resource: res.group_resource(),
        name: name.to_string(),
        message,
    }
}

/// utilerrors.NewAggregate's text: one error as is, several in brackets.
pub(crate) fn aggregate(errs: &[String]) -> String {
    match errs {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}
