//! ClusterIP and NodePort allocation for Services through kube-apiserver 1.20's bitmaps in
//! etcd (`storage::ranges`: `/registry/ranges/serviceips`, `/registry/ranges/servicenodeports`),
//! each change a compare-and-swap on the bitmap's key, so this apiserver and a stock one on the
//! same store never hand out the same address or port. Allocation happens before the Service
//! is stored (released again if that fails), release after it is deleted; at start a repair
//! pass marks what existing Services hold, as kube's repair controllers do.

use serde_json::{json, Value};

use super::generic::Store;
use super::validation::FieldError;
use crate::error::{ApiError, Result};
use crate::storage::etcd3::WriteOutcome;
use crate::storage::ranges::{allocate, is_set, with_bit, Range, RangeError, NODE_PORTS_KEY, SERVICE_IPS_KEY};
use crate::storage::StorageError;

/// What a create took, to give back if the Service is not stored.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Taken {
    pub ip: Option<usize>,
    pub ports: Vec<usize>,
}

/// `--service-cluster-ip-range` and `--service-node-port-range`.
pub struct ServiceRanges {
    pub ips: Range,
    pub ports: Range,
}

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn invalid(svc: &Value, err: FieldError) -> ApiError {
    ApiError::Invalid {
        group: "",
        kind: "Service",
        name: s(svc, "/metadata/name").to_string(),
        errors: vec![err],
    }
}

/// Which nodePorts a Service of its type needs.
fn wants_node_ports(svc: &Value) -> bool {
    matches!(s(svc, "/spec/type"), "NodePort" | "LoadBalancer")
}

fn wants_cluster_ip(svc: &Value) -> bool {
    s(svc, "/spec/type") != "ExternalName" && s(svc, "/spec/clusterIP") != "None"
}

impl ServiceRanges {
    pub fn new(cidr: &str, ports: &str) -> std::result::Result<Self, RangeError> {
        Ok(Self {
            ips: Range::cidr(cidr)?,
            ports: Range::ports(ports)?,
        })
    }

    /// Read-modify-write of one bitmap until the compare-and-swap holds. `change` gets the
    /// current bits and returns the new ones (or why not).
    async fn update<T>(
        &self,
        store: &Store,
        key: &str,
        range: &Range,
        mut change: impl FnMut(&[u8]) -> std::result::Result<(Vec<u8>, T), ApiError>,
    ) -> Result<T> {
        loop {
            let (kv, _) = store.etcd.get(key).await?;
            let (data, rev) = match &kv {
                Some(kv) => {
                    let obj = store.decode(kv)?;
                    let data = match obj.get("data").and_then(Value::as_str) {
                        Some(b64) => {
                            use base64::Engine;
                            base64::engine::general_purpose::STANDARD
                                .decode(b64)
                                .map_err(|e| ApiError::Internal(format!("{key}: bad bitmap: {e}")))?
                        }
                        None => Vec::new(),
                    };
                    let stored = obj.get("range").and_then(Value::as_str).unwrap_or("");
                    if !stored.is_empty() && stored != range.spec {
                        return Err(ApiError::Internal(format!(
                            "{key} holds range {stored}, this server is configured with {}",
                            range.spec
                        )));
                    }
                    (data, Some(kv.mod_revision))
                }
                None => (Vec::new(), None),
            };
            let (next, out) = change(&data)?;
            if next == data && rev.is_some() {
                return Ok(out);
            }
            let bytes = store
                .codec
                .encode(&range.allocation(&next))
                .map_err(ApiError::Internal)?;
            match rev {
                Some(r) => match store.etcd.update(key, bytes, r, 0).await? {
                    WriteOutcome::Done(_) => return Ok(out),
                    WriteOutcome::Conflict(_) => continue,
                },
                None => match store.etcd.create(key, bytes, 0).await {
                    Ok(_) => return Ok(out),
                    Err(StorageError::AlreadyExists(_)) => continue,
                    Err(e) => return Err(e.into()),
                },
            }
        }
    }

    /// Take the Service's ClusterIP (the one asked for, or a free one) and its nodePorts,
    /// writing them into `svc`.
    pub async fn allocate(&self, store: &Store, svc: &mut Value, dry_run: bool) -> Result<Taken> {
        let mut taken = Taken::default();
        if wants_cluster_ip(svc) {
            let want = Some(s(svc, "/spec/clusterIP").to_string()).filter(|w| !w.is_empty());
            let start: usize = rand::random::<usize>() % self.ips.max.max(1);
            let r = self
                .update(store, SERVICE_IPS_KEY, &self.ips, |data| {
                    match allocate(&self.ips, data, want.as_deref(), start) {
                        Ok((off, next)) => Ok((if dry_run { data.to_vec() } else { next }, off)),
                        Err(e) => {
                            let ips = json!([want.clone().unwrap_or_default()]);
                            Err(match (&want, e) {
                                (Some(ip), e) => invalid(
                                    svc_ref(),
                                    FieldError::invalid(
                                        "spec.clusterIPs",
                                        ips,
                                        &format!("failed to allocated ip:{ip} with error:{e}"),
                                    ),
                                ),
                                (None, e) => ApiError::Internal(format!("failed to allocate a serviceIP: {e}")),
                            })
                        }
                    }
                })
                .await;
            let off = r.map_err(|e| rename(e, svc))?;
            let ip = self.ips.value(off);
            svc["spec"]["clusterIP"] = json!(ip);
            svc["spec"]["clusterIPs"] = json!([ip]);
            if !dry_run {
                taken.ip = Some(off);
            }
        }
        if wants_node_ports(svc) {
            let n = svc.pointer("/spec/ports").and_then(Value::as_array).map_or(0, Vec::len);
            for i in 0..n {
                let want = svc
                    .pointer(&format!("/spec/ports/{i}/nodePort"))
                    .and_then(Value::as_u64)
                    .filter(|p| *p != 0)
                    .map(|p| p.to_string());
                let start: usize = rand::random::<usize>() % self.ports.max.max(1);
                let r = self
                    .update(store, NODE_PORTS_KEY, &self.ports, |data| {
                        match allocate(&self.ports, data, want.as_deref(), start) {
                            Ok((off, next)) => Ok((if dry_run { data.to_vec() } else { next }, off)),
                            Err(e) => Err(match &want {
                                Some(p) => invalid(
                                    svc_ref(),
                                    FieldError::invalid(
                                        &format!("spec.ports[{i}].nodePort"),
                                        json!(p.parse::<u64>().unwrap_or(0)),
                                        &e.to_string(),
                                    ),
                                ),
                                None => ApiError::Internal(format!("failed to allocate a nodePort: {e}")),
                            }),
                        }
                    })
                    .await;
                match r {
                    Ok(off) => {
                        svc["spec"]["ports"][i]["nodePort"] = json!(self.ports.value(off).parse::<u64>().unwrap_or(0));
                        if !dry_run {
                            taken.ports.push(off);
                        }
                    }
                    Err(e) => {
                        self.release(store, &taken).await;
                        return Err(rename(e, svc));
                    }
                }
            }
        }
        Ok(taken)
    }

    /// Give back what `taken` holds (best effort: a failure is logged, kube's repair would
    /// find the leak).
    pub async fn release(&self, store: &Store, taken: &Taken) {
        if let Some(off) = taken.ip {
            let r = self
                .update(store, SERVICE_IPS_KEY, &self.ips, |d| Ok((with_bit(d, off, false), ())))
                .await;
            if let Err(e) = r {
                tracing::warn!(error = %e, "cannot release a ClusterIP");
            }
        }
        for off in &taken.ports {
            let off = *off;
            let r = self
                .update(store, NODE_PORTS_KEY, &self.ports, |d| {
                    Ok((with_bit(d, off, false), ()))
                })
                .await;
            if let Err(e) = r {
                tracing::warn!(error = %e, "cannot release a nodePort");
            }
        }
    }

    /// What a stored Service holds in our ranges.
    pub fn held(&self, svc: &Value) -> Taken {
        let ip = match s(svc, "/spec/clusterIP") {
            "" | "None" => None,
            ip => self.ips.offset(ip).ok(),
        };
        let ports = svc
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
            .filter_map(|p| self.ports.offset(&p.to_string()).ok())
            .collect();
        Taken { ip, ports }
    }

    /// Mark what existing Services hold (kube's repair controllers, without their leak removal).
    pub async fn repair(&self, store: &Store, services: &[Value]) -> Result<()> {
        let held: Vec<Taken> = services.iter().map(|s| self.held(s)).collect();
        self.update(store, SERVICE_IPS_KEY, &self.ips, |d| {
            let mut next = d.to_vec();
            for off in held.iter().filter_map(|t| t.ip) {
                if !is_set(&next, off) {
                    next = with_bit(&next, off, true);
                }
            }
            Ok((next, ()))
        })
        .await?;
        self.update(store, NODE_PORTS_KEY, &self.ports, |d| {
            let mut next = d.to_vec();
            for off in held.iter().flat_map(|t| t.ports.iter().copied()) {
                if !is_set(&next, off) {
                    next = with_bit(&next, off, true);
                }
            }
            Ok((next, ()))
        })
        .await
    }
}

/// A placeholder object for errors raised inside the bitmap closures (which cannot borrow the
/// Service being changed); `rename` puts the Service's name in.
fn svc_ref() -> &'static Value {
    static EMPTY: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| json!({}))
}

fn rename(e: ApiError, svc: &Value) -> ApiError {
    match e {
        ApiError::Invalid {
            group,
            kind,
            name,
            errors,
        } if name.is_empty() => ApiError::Invalid {
            group,
            kind,
            name: s(svc, "/metadata/name").to_string(),
            errors,
        },
        other => other,
    }
}
