//! Kubernetes type schemas: for every built-in message, its fields'
//! numbers, JSON names and types, generated from Kubernetes'
//! generated.proto files (`generated.rs`, by scripts/gen_proto_schema.py).
//!
//! One table serves the protobuf decoder (`storage::protobuf`), strict
//! field validation (`registry::field_validation`) and the OpenAPI v3
//! documents (`http::openapi`).

mod generated;

use generated::MESSAGES;

#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Str,
    Bytes,
    I32,
    I64,
    U32,
    U64,
    Bool,
    F64,
    F32,
    Msg(&'static str),
    /// map<string, V>: repeated entries {key = 1, value = 2}.
    Map(&'static Ty),
}

#[derive(Debug)]
pub struct Field {
    pub num: u32,
    pub name: &'static str,
    pub ty: Ty,
    pub repeated: bool,
    /// An embedded Go struct: its fields appear directly in the parent's JSON.
    pub inline: bool,
    /// The field's documentation (OpenAPI description).
    pub doc: &'static str,
}

/// The JSON-visible fields of `msg`: direct fields plus those of inlined
/// embedded messages (recursively), as (JSON name, field).
pub fn json_fields(msg: &str) -> Vec<&'static Field> {
    let mut out = Vec::new();
    collect(msg, &mut out, 0);
    out
}

fn collect(msg: &str, out: &mut Vec<&'static Field>, depth: usize) {
    let Some(fields) = message(msg) else { return };
    for f in fields {
        match (f.inline, f.ty) {
            (true, Ty::Msg(inner)) if depth < 8 => collect(inner, out, depth + 1),
            _ => out.push(f),
        }
    }
}

pub const META: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";

/// Fields of message `name` (fully qualified).
pub fn message(name: &str) -> Option<&'static [Field]> {
    find(name)
        .map(|i| MESSAGES[i].2)
        .or_else(|| EXTRA.iter().find(|(n, _)| *n == name).map(|(_, f)| *f))
}

const fn field(num: u32, name: &'static str, ty: Ty, repeated: bool) -> Field {
    Field {
        num,
        name,
        ty,
        repeated,
        inline: false,
        doc: "",
    }
}

/// Messages the kubelet writes as protobuf that the generated table lacks
/// (k8s.io/api/storage/v1 generated.proto).
static EXTRA: &[(&str, &[Field])] = &[
    (
        "k8s.io.api.storage.v1.CSINode",
        &[
            field(
                1,
                "metadata",
                Ty::Msg("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta"),
                false,
            ),
            field(2, "spec", Ty::Msg("k8s.io.api.storage.v1.CSINodeSpec"), false),
        ],
    ),
    (
        "k8s.io.api.storage.v1.CSINodeSpec",
        &[field(
            1,
            "drivers",
            Ty::Msg("k8s.io.api.storage.v1.CSINodeDriver"),
            true,
        )],
    ),
    (
        "k8s.io.api.storage.v1.CSINodeDriver",
        &[
            field(1, "name", Ty::Str, false),
            field(2, "nodeID", Ty::Str, false),
            field(3, "topologyKeys", Ty::Str, true),
            field(
                4,
                "allocatable",
                Ty::Msg("k8s.io.api.storage.v1.VolumeNodeResources"),
                false,
            ),
        ],
    ),
    (
        "k8s.io.api.storage.v1.VolumeNodeResources",
        &[field(1, "count", Ty::I32, false)],
    ),
];

/// Documentation of message `name`.
pub fn message_doc(name: &str) -> &'static str {
    find(name).map_or("", |i| MESSAGES[i].1)
}

/// The table's own (`'static`) copy of message name `name`.
pub fn message_name(name: &str) -> Option<&'static str> {
    find(name)
        .map(|i| MESSAGES[i].0)
        .or_else(|| EXTRA.iter().find(|(n, _)| *n == name).map(|(n, _)| *n))
}

fn find(name: &str) -> Option<usize> {
    MESSAGES.binary_search_by(|(n, _, _)| (*n).cmp(name)).ok()
}

/// Group/version → protobuf package of the built-in types.
pub fn package(api_version: &str) -> Option<&'static str> {
    Some(match api_version {
        "v1" => "k8s.io.api.core.v1",
        "apps/v1" => "k8s.io.api.apps.v1",
        "coordination.k8s.io/v1" => "k8s.io.api.coordination.v1",
        "autoscaling/v1" => "k8s.io.api.autoscaling.v1",
        "storage.k8s.io/v1" => "k8s.io.api.storage.v1",
        "batch/v1" => "k8s.io.api.batch.v1",
        "batch/v1beta1" => "k8s.io.api.batch.v1beta1",
        "rbac.authorization.k8s.io/v1" => "k8s.io.api.rbac.v1",
        "scheduling.k8s.io/v1" => "k8s.io.api.scheduling.v1",
        "policy/v1" => "k8s.io.api.policy.v1",
        "policy/v1beta1" => "k8s.io.api.policy.v1beta1",
        "networking.k8s.io/v1" => "k8s.io.api.networking.v1",
        "certificates.k8s.io/v1" => "k8s.io.api.certificates.v1",
        "authorization.k8s.io/v1" => "k8s.io.api.authorization.v1",
        "authentication.k8s.io/v1" => "k8s.io.api.authentication.v1",
        "meta.k8s.io/v1" => META,
        _ => return None,
    })
}

/// The message of a kind (`v1`, `Pod` → `k8s.io.api.core.v1.Pod`), falling
/// back to meta/v1 (DeleteOptions, Status, ...).
pub fn kind_message(api_version: &str, kind: &str) -> Option<String> {
    let pkg = package(api_version)?;
    [format!("{pkg}.{kind}"), format!("{META}.{kind}")]
        .into_iter()
        .find(|n| message(n).is_some())
}

/// Messages whose JSON form is not an object with their fields.
pub fn is_special(name: &str) -> bool {
    matches!(
        name,
        "k8s.io.apimachinery.pkg.apis.meta.v1.Time"
            | "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime"
            | "k8s.io.apimachinery.pkg.apis.meta.v1.Duration"
            | "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1"
            | "k8s.io.apimachinery.pkg.apis.meta.v1.Verbs"
            | "k8s.io.apimachinery.pkg.runtime.RawExtension"
            | "k8s.io.apimachinery.pkg.api.resource.Quantity"
            | "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_the_served_kinds() {
        for (av, kind) in [
            ("v1", "Pod"),
            ("v1", "Node"),
            ("apps/v1", "Deployment"),
            ("coordination.k8s.io/v1", "Lease"),
            ("autoscaling/v1", "Scale"),
            ("storage.k8s.io/v1", "CSINode"),
        ] {
            assert!(kind_message(av, kind).is_some(), "{av} {kind}");
        }
        assert_eq!(
            kind_message("v1", "DeleteOptions").as_deref(),
            Some("k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions")
        );
        let meta = message("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta").expect("ObjectMeta");
        assert!(meta.iter().any(|f| f.num == 11 && f.name == "labels"));
        let sorted = MESSAGES.windows(2).all(|w| w[0].0 < w[1].0);
        assert!(sorted, "generated table must be sorted for binary search");
    }
}
