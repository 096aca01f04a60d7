//! Kubernetes protobuf: the `k8s\0` + runtime.Unknown envelope and a
//! schema-driven decoder from go-to-protobuf messages to JSON objects.
//!
//! `decode` walks the wire format with the generated type table in
//! `crate::schema` (field numbers, JSON names, types).
//! Used for protobuf request bodies (kubectl's typed clients, kubelet) and
//! for values a stock kube-apiserver stored in etcd; `encode` writes the
//! same envelope (`--storage-media-type=application/vnd.kubernetes.protobuf`).

mod always_fields;
pub mod decode;
pub mod encode;
mod zero_fields;

pub use decode::decode_envelope;
pub use encode::encode_envelope;
