//! The one generic registry: `Store` serves every resource in the table.
//!
//! `store` holds CRUD (GuaranteedUpdate loop, finalizers, graceful
//! deletion, namespace lifecycle), `list` paging and continue tokens, and
//! `watch` turns one etcd watch into Kubernetes watch events with
//! selector-aware transitions.

pub mod list;
pub mod store;
pub mod watch;

pub use list::{ListOptions, ListResult};
pub use store::{DeleteOptions, Propagation, Store};
pub use watch::{WatchEvent, Watcher};
