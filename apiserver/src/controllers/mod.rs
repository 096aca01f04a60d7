//! The core controllers (kube-controller-manager's): each is a pure `reconcile` over listed
//! objects returning `Action`s, run by a level-triggered loop that lists through the HTTP API
//! (`client::Client`) and applies the actions, woken by watches on the lists it reads
//! (`trigger`). Nothing here touches the store directly.
//!
//! Controllers: `replicaset`, `deployment`, `garbagecollector` (background), `endpoint`
//! (Endpoints + EndpointSlices), `serviceaccount-token`, `nodelifecycle`, `job`, `cronjob`, `daemonset`, `statefulset`, `csrsigning`
//! (approves kubelet client CSRs, signs approved ones), `clusterrole-aggregation`, `resourcequota`, `ttl-after-finished`. The default ServiceAccount per
//! namespace is still created by the apiserver itself (`registry::namespace_lifecycle`).

pub mod certificates;
pub mod clusterrole_aggregation;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod events;
pub mod gc;
pub mod job;
pub mod nodelifecycle;
pub mod replicaset;
pub mod resourcequota;
pub mod serviceaccount;
pub mod statefulset;
pub mod trigger;
pub mod ttlafterfinished;
pub mod util;

use std::time::Duration;

use serde_json::{json, Value};

use crate::client::{Client, Result};

/// The names of the objects `actions` delete (the last path segment), in order.
#[cfg(test)]
pub(crate) fn deleted_names(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Delete { path } => path.rsplit('/').next().map(String::from),
            _ => None,
        })
        .collect()
}

/// One write a controller wants.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Create {
        path: String,
        obj: Value,
    },
    Update {
        path: String,
        obj: Value,
    },
    /// JSON merge patch.
    Patch {
        path: String,
        patch: Value,
    },
    /// Delete with background propagation.
    Delete {
        path: String,
    },
    /// Delete with foreground propagation (the garbage collector's cascading deletes).
    DeleteForeground {
        path: String,
    },
    /// Record a core/v1 Event (built with `util::event`).
    Event(Value),
}

/// Every controller name `--controllers=*` enables.
pub const ALL: &[&str] = &[
    "replicaset",
    "deployment",
    "garbagecollector",
    "endpoint",
    "serviceaccount-token",
    "nodelifecycle",
    "job",
    "cronjob",
    "daemonset",
    "statefulset",
    "csrsigning",
    "clusterrole-aggregation",
    "resourcequota",
    "ttl-after-finished",
];

/// Set a label on an object or template (`metadata.labels[k] = v`).
pub fn set_label(obj: &mut Value, k: &str, v: &str) {
    if !obj.is_object() {
        *obj = json!({});
    }
    let meta = &mut obj["metadata"];
    if !meta.is_object() {
        *meta = json!({});
    }
    let labels = &mut meta["labels"];
    if !labels.is_object() {
        *labels = json!({});
    }
    labels[k] = json!(v);
}

/// Which controllers a `--controllers` value turns on (kube syntax: `*`, `name`, `-name`).
pub fn enabled(spec: &str) -> Vec<&'static str> {
    let items: Vec<&str> = spec.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    ALL.iter()
        .copied()
        .filter(|c| {
            if items.contains(&format!("-{c}").as_str()) {
                return false;
            }
            items.contains(c) || items.contains(&"*")
        })
        .collect()
}

async fn apply(client: &Client, actions: Vec<Action>) {
    for a in actions {
        let r = match &a {
            Action::Create { path, obj } => client.create(path, obj).await,
            Action::Update { path, obj } => client.update(path, obj).await,
            Action::Patch { path, patch } => client.merge_patch(path, patch).await,
            Action::Delete { path } => {
                let opts = json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"});
                client.delete(path, Some(&opts)).await
            }
            Action::DeleteForeground { path } => {
                let opts = json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"});
                client.delete(path, Some(&opts)).await
            }
            Action::Event(ev) => {
                let ns = ev
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("default");
                client.create(&format!("/api/v1/namespaces/{ns}/events"), ev).await
            }
        };
        if let Action::Create { obj, .. } = &a {
            if let Some(ev) = events::on_create(obj, &r) {
                if let Err(e) = client
                    .create(&format!("/api/v1/namespaces/{}/events", util::namespace(&ev)), &ev)
                    .await
                {
                    tracing::debug!(error = %e, "cannot record an event");
                }
            }
        }
        if let Err(e) = r {
            if !e.is_conflict() && !e.is_not_found() {
                tracing::info!(action = ?short(&a), error = %e, "controller write failed");
            }
        }
    }
}

fn short(a: &Action) -> String {
    match a {
        Action::Create { path, .. } => format!("POST {path}"),
        Action::Update { path, .. } => format!("PUT {path}"),
        Action::Patch { path, .. } => format!("PATCH {path}"),
        Action::Delete { path } => format!("DELETE {path}"),
        Action::DeleteForeground { path } => format!("DELETE {path} (foreground)"),
        Action::Event(ev) => format!("EVENT {}", ev["reason"].as_str().unwrap_or("")),
    }
}

async fn replicaset_pass(c: &Client) -> Result<()> {
    let rss = c.list("/apis/apps/v1/replicasets").await?;
    let pods = c.list("/api/v1/pods").await?;
    for rs in &rss {
        apply(c, replicaset::reconcile(rs, &pods)).await;
    }
    Ok(())
}

async fn deployment_pass(c: &Client) -> Result<()> {
    let deps = c.list("/apis/apps/v1/deployments").await?;
    let rss = c.list("/apis/apps/v1/replicasets").await?;
    for d in &deps {
        apply(c, deployment::reconcile(d, &rss)).await;
    }
    Ok(())
}

/// One pass of an owner-driven controller: list the owners at `owners` (nothing more to do
/// without any), then each list in `inputs`, and apply `reconcile(owner, lists)` per owner.
async fn each_owner(
    c: &Client,
    owners: &str,
    inputs: &[&str],
    reconcile: impl Fn(&Value, &[Vec<Value>]) -> Vec<Action>,
) -> Result<()> {
    let owned = c.list(owners).await?;
    if owned.is_empty() {
        return Ok(());
    }
    let mut lists = Vec::with_capacity(inputs.len());
    for path in inputs {
        lists.push(c.list(path).await?);
    }
    for o in &owned {
        apply(c, reconcile(o, &lists)).await;
    }
    Ok(())
}

async fn job_pass(c: &Client) -> Result<()> {
    each_owner(c, "/apis/batch/v1/jobs", &["/api/v1/pods"], |j, l| {
        job::reconcile(j, &l[0])
    })
    .await
}

async fn daemonset_pass(c: &Client) -> Result<()> {
    each_owner(
        c,
        "/apis/apps/v1/daemonsets",
        &["/api/v1/nodes", "/api/v1/pods"],
        |ds, l| daemonset::reconcile(ds, &l[0], &l[1]),
    )
    .await
}

async fn csr_pass(c: &Client, signer: Option<&certificates::Signer>) -> Result<()> {
    each_owner(
        c,
        "/apis/certificates.k8s.io/v1/certificatesigningrequests",
        &[],
        |csr, _| certificates::reconcile(csr, signer),
    )
    .await
}

async fn statefulset_pass(c: &Client) -> Result<()> {
    each_owner(
        c,
        "/apis/apps/v1/statefulsets",
        &["/api/v1/pods", "/api/v1/persistentvolumeclaims"],
        |set, l| statefulset::reconcile(set, &l[0], &l[1]),
    )
    .await
}

async fn cronjob_pass(c: &Client) -> Result<()> {
    let now = chrono::Utc::now();
    each_owner(c, "/apis/batch/v1/cronjobs", &["/apis/batch/v1/jobs"], |cj, l| {
        cronjob::reconcile(cj, &l[0], now)
    })
    .await
}

async fn gc_pass(c: &Client) -> Result<()> {
    // Dependents first, owners second: see gc::reconcile.
    let mut deps = Vec::new();
    for (list, api) in [
        ("/api/v1/pods", "/api/v1"),
        ("/apis/apps/v1/replicasets", "/apis/apps/v1"),
        ("/apis/batch/v1/jobs", "/apis/batch/v1"),
        (
            "/apis/discovery.k8s.io/v1beta1/endpointslices",
            "/apis/discovery.k8s.io/v1beta1",
        ),
    ] {
        let plural = list.rsplit('/').next().unwrap_or("");
        for o in c.list(list).await? {
            let path = format!("{api}/namespaces/{}/{plural}/{}", util::namespace(&o), util::name(&o));
            deps.push((path, o));
        }
    }
    let mut owners = Vec::new();
    for (list, api, namespaced) in [
        ("/apis/apps/v1/deployments", "/apis/apps/v1", true),
        ("/apis/apps/v1/replicasets", "/apis/apps/v1", true),
        ("/apis/apps/v1/daemonsets", "/apis/apps/v1", true),
        ("/apis/apps/v1/statefulsets", "/apis/apps/v1", true),
        ("/apis/batch/v1/jobs", "/apis/batch/v1", true),
        ("/apis/batch/v1/cronjobs", "/apis/batch/v1", true),
        ("/api/v1/services", "/api/v1", true),
        ("/api/v1/nodes", "/api/v1", false),
    ] {
        let plural = list.rsplit('/').next().unwrap_or("");
        for o in c.list(list).await? {
            let path = if namespaced {
                format!("{api}/namespaces/{}/{plural}/{}", util::namespace(&o), util::name(&o))
            } else {
                format!("{api}/{plural}/{}", util::name(&o))
            };
            owners.push((path, o));
        }
    }
    apply(c, gc::reconcile(&deps, &owners)).await;
    Ok(())
}

async fn quota_pass(c: &Client) -> Result<()> {
    let quotas = c.list("/api/v1/resourcequotas").await?;
    if quotas.is_empty() {
        return Ok(());
    }
    let mut objects = Vec::new();
    for (group, plural) in resourcequota::sources(&quotas) {
        // The served version of group/plural, from the resource table.
        let Some(res) = crate::registry::resources::all()
            .into_iter()
            .find(|r| r.group == group && r.plural == plural)
        else {
            continue;
        };
        let path = if group.is_empty() {
            format!("/api/{}/{plural}", res.version)
        } else {
            format!("/apis/{group}/{}/{plural}", res.version)
        };
        for o in c.list(&path).await? {
            objects.push((group.clone(), plural.clone(), o));
        }
    }
    static PENDING: std::sync::Mutex<Option<resourcequota::Pending>> = std::sync::Mutex::new(None);
    let actions = {
        let mut g = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        let pending = g.get_or_insert_with(Default::default);
        resourcequota::reconcile(&quotas, &objects, pending, std::time::Instant::now())
    };
    apply(c, actions).await;
    Ok(())
}

async fn endpoints_pass(c: &Client) -> Result<()> {
    let svcs = c.list("/api/v1/services").await?;
    let pods = c.list("/api/v1/pods").await?;
    let eps = c.list("/api/v1/endpoints").await?;
    let slices = c.list("/apis/discovery.k8s.io/v1beta1/endpointslices").await?;
    apply(c, endpoints::reconcile(&svcs, &pods, &eps, &slices)).await;
    Ok(())
}

async fn node_lifecycle_pass(c: &Client) -> Result<()> {
    let nodes = c.list("/api/v1/nodes").await?;
    let leases = c
        .list("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases")
        .await?;
    let pods = c.list("/api/v1/pods").await?;
    apply(c, nodelifecycle::reconcile(&nodes, &leases, &pods, chrono::Utc::now())).await;
    Ok(())
}

async fn token_pass(
    c: &Client,
    ca_pem: &[u8],
    sa_signer: Option<&crate::serviceaccount_token::TokenSigner>,
) -> Result<()> {
    let sas = c.list("/api/v1/serviceaccounts").await?;
    let secrets = c.list("/api/v1/secrets").await?;
    let token = |sa: &Value, secret: &str| match sa_signer {
        Some(k) => k
            .sign(util::namespace(sa), util::name(sa), util::uid(sa), secret)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot sign a ServiceAccount token; using a random one");
                serviceaccount::new_token()
            }),
        None => serviceaccount::new_token(),
    };
    apply(c, serviceaccount::reconcile(&sas, &secrets, ca_pem, &token)).await;
    Ok(())
}

async fn aggregation_pass(c: &Client) -> Result<()> {
    let roles = c.list("/apis/rbac.authorization.k8s.io/v1/clusterroles").await?;
    apply(c, clusterrole_aggregation::reconcile(&roles)).await;
    Ok(())
}

/// The lists each controller reads: a change to any of them wakes it.
pub fn inputs(name: &str) -> &'static [&'static str] {
    match name {
        "replicaset" => &["/apis/apps/v1/replicasets", "/api/v1/pods"],
        "deployment" => &["/apis/apps/v1/deployments", "/apis/apps/v1/replicasets"],
        "garbagecollector" => &[
            "/api/v1/pods",
            "/apis/apps/v1/replicasets",
            "/apis/discovery.k8s.io/v1beta1/endpointslices",
            "/apis/apps/v1/deployments",
            "/apis/apps/v1/daemonsets",
            "/apis/apps/v1/statefulsets",
            "/apis/batch/v1/jobs",
            "/apis/batch/v1/cronjobs",
            "/api/v1/services",
            "/api/v1/nodes",
        ],
        "endpoint" => &[
            "/api/v1/services",
            "/api/v1/pods",
            "/api/v1/endpoints",
            "/apis/discovery.k8s.io/v1beta1/endpointslices",
        ],
        "serviceaccount-token" => &["/api/v1/serviceaccounts", "/api/v1/secrets"],
        "job" => &["/apis/batch/v1/jobs", "/api/v1/pods"],
        "cronjob" => &["/apis/batch/v1/cronjobs", "/apis/batch/v1/jobs"],
        "daemonset" => &["/apis/apps/v1/daemonsets", "/api/v1/nodes", "/api/v1/pods"],
        "statefulset" => &[
            "/apis/apps/v1/statefulsets",
            "/api/v1/pods",
            "/api/v1/persistentvolumeclaims",
        ],
        "csrsigning" => &["/apis/certificates.k8s.io/v1/certificatesigningrequests"],
        "clusterrole-aggregation" => &["/apis/rbac.authorization.k8s.io/v1/clusterroles"],
        "ttl-after-finished" => &["/apis/batch/v1/jobs"],
        "resourcequota" => &[
            "/api/v1/resourcequotas",
            "/api/v1/pods",
            "/api/v1/services",
            "/api/v1/configmaps",
            "/api/v1/secrets",
            "/api/v1/persistentvolumeclaims",
        ],
        "nodelifecycle" => &[
            "/api/v1/nodes",
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
            "/api/v1/pods",
        ],
        _ => &[],
    }
}

/// How long a controller sleeps without a change before it looks again: node lifecycle
/// acts on time passing (stale leases), the others only on changes.
fn resync(name: &str, period: Duration) -> Duration {
    match name {
        // Schedules come due without any change to wake them.
        "nodelifecycle" | "cronjob" | "ttl-after-finished" => period.max(Duration::from_secs(1)),
        // A lower recount is written once it held for resourcequota::SETTLE: look again soon.
        "resourcequota" => period.max(Duration::from_secs(2)),
        _ => period.max(Duration::from_secs(10)),
    }
}

/// The shortest gap between two passes of one controller, so a burst of changes (or a
/// controller reacting to its own writes) costs a few passes, not one per event.
const MIN_GAP: Duration = Duration::from_millis(100);

/// Run the named controllers forever, each its own task: a pass when a list it reads
/// changes (see [`trigger`]) or after its resync period, at most one per [`MIN_GAP`] (or
/// twice the last pass's duration). `ca_pem` goes into ServiceAccount token Secrets as ca.crt.
pub fn spawn(
    client: Client,
    triggers: &std::sync::Arc<trigger::Triggers>,
    names: &[&str],
    period: Duration,
    ca_pem: Vec<u8>,
    signer: Option<certificates::Signer>,
    sa_signer: Option<crate::serviceaccount_token::TokenSigner>,
) {
    let ca_pem = std::sync::Arc::new(ca_pem);
    let signer = std::sync::Arc::new(signer);
    let sa_signer = std::sync::Arc::new(sa_signer);
    for name in names {
        let c = client.clone();
        let name = (*name).to_string();
        let ca_pem = ca_pem.clone();
        let signer = signer.clone();
        let sa_signer = sa_signer.clone();
        let changed = triggers.subscribe(inputs(&name));
        tokio::spawn(async move {
            loop {
                let started = tokio::time::Instant::now();
                let r = match name.as_str() {
                    "replicaset" => replicaset_pass(&c).await,
                    "deployment" => deployment_pass(&c).await,
                    "garbagecollector" => gc_pass(&c).await,
                    "endpoint" => endpoints_pass(&c).await,
                    "serviceaccount-token" => token_pass(&c, &ca_pem, sa_signer.as_ref().as_ref()).await,
                    "nodelifecycle" => node_lifecycle_pass(&c).await,
                    "job" => job_pass(&c).await,
                    "cronjob" => cronjob_pass(&c).await,
                    "daemonset" => daemonset_pass(&c).await,
                    "statefulset" => statefulset_pass(&c).await,
                    "csrsigning" => csr_pass(&c, signer.as_ref().as_ref()).await,
                    "clusterrole-aggregation" => aggregation_pass(&c).await,
                    "resourcequota" => quota_pass(&c).await,
                    "ttl-after-finished" => match c.list("/apis/batch/v1/jobs").await {
                        Ok(jobs) => {
                            apply(&c, ttlafterfinished::reconcile(&jobs, chrono::Utc::now())).await;
                            Ok(())
                        }
                        Err(e) => Err(e),
                    },
                    _ => Ok(()),
                };
                if let Err(e) = r {
                    tracing::debug!(controller = %name, error = %e, "pass failed");
                }
                tokio::time::sleep(MIN_GAP.max(started.elapsed() * 2)).await;
                let _ = tokio::time::timeout(resync(&name, period), changed.notified()).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_controller_is_woken_by_what_it_reads() {
        for name in ALL {
            assert!(!inputs(name).is_empty(), "{name} has no watched lists");
        }
    }

    #[test]
    fn controllers_flag() {
        assert_eq!(enabled("*"), ALL.to_vec());
        assert_eq!(
            enabled("*,-garbagecollector,-serviceaccount-token,-nodelifecycle"),
            vec![
                "replicaset",
                "deployment",
                "endpoint",
                "job",
                "cronjob",
                "daemonset",
                "statefulset",
                "csrsigning",
                "clusterrole-aggregation",
                "resourcequota",
                "ttl-after-finished"
            ]
        );
        assert_eq!(enabled("deployment"), vec!["deployment"]);
        assert!(enabled("").is_empty());
        let mut t = json!({});
        set_label(&mut t, "a", "b");
        assert_eq!(t, json!({"metadata":{"labels":{"a":"b"}}}));
    }
}
