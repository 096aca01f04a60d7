//! CustomResourceDefinitions and the custom resources they define (kube's
//! apiextensions-apiserver): `definition` (the CRD strategy, CRD → interned rows),
//! `controller` (names/Established status, serving switch, cleanup finalizer), `strategy`
//! (the schema-driven custom resource strategy), `schema` (structural schema validation,
//! pruning, defaulting), `jsonpath` (printer columns).

pub mod controller;
pub mod definition;
pub mod jsonpath;
pub mod schema;
pub mod strategy;

pub use controller::terminating;
pub use definition::CustomResourceDefinitionStrategy;
