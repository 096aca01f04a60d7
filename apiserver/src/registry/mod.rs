//! Registry: what a Kubernetes resource *is* and the one store serving all.
//!
//! `resources` is the data table, `strategy/` the per-resource hooks,
//! `generic/` the Store (CRUD, list, watch), `namespace_lifecycle` the
//! bootstrap namespaces and the namespace finalizer, `binding` pods/binding,
//! `scale` the Scale subresource, `field_validation` unknown-field checks,
//! `crd` CustomResourceDefinitions and the custom resources they serve,
//! `managed_fields` metadata.managedFields and server-side apply,
//! plus pure helpers: `meta`, `selector`, `validation`, `patch`.

pub mod binding;
pub mod crd;
pub mod field_validation;
pub mod generic;
pub mod informer;
pub mod managed_fields;
pub mod meta;
pub mod namespace_lifecycle;
pub mod patch;
pub mod resources;
pub mod scale;
pub mod selector;
pub mod service_account;
pub mod service_ranges;
pub mod strategy;
pub mod validation;
