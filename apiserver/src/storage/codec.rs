//! Value encoding of objects stored in etcd, behind the `Codec` trait.
//!
//! `JsonCodec` writes JSON (a stock kube-apiserver decodes JSON values too);
//! `ProtobufCodec` writes the `k8s\0` + runtime.Unknown envelope as
//! kube-apiserver 1.20 does by default (JSON for kinds without a schema).
//! Both read either format, so apiservers with different
//! `--storage-media-type`s (or a stock kube-apiserver) share one store.
//! Invariant: `metadata.resourceVersion` and `metadata.selfLink` are never
//! persisted; the store sets resourceVersion from the key's mod_revision.

use serde_json::Value;

/// Magic prefix of kube-apiserver's protobuf storage envelope.
pub const PROTOBUF_MAGIC: &[u8] = b"k8s\x00";

pub trait Codec: Send + Sync {
    /// Bytes to store for `obj` (resourceVersion/selfLink stripped).
    fn encode(&self, obj: &Value) -> Result<Vec<u8>, String>;
    /// Object stored in `bytes` (without resourceVersion).
    fn decode(&self, bytes: &[u8]) -> Result<Value, String>;
}

/// JSON values, as `--storage-media-type=application/json` writes them.
pub struct JsonCodec;

impl Codec for JsonCodec {
    fn encode(&self, obj: &Value) -> Result<Vec<u8>, String> {
        let mut obj = obj.clone();
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
            meta.remove("selfLink");
        }
        serde_json::to_vec(&obj).map_err(|e| e.to_string())
    }

    fn decode(&self, bytes: &[u8]) -> Result<Value, String> {
        if bytes.starts_with(PROTOBUF_MAGIC) {
            // Written by a stock kube-apiserver (storage-media-type protobuf).
            return super::protobuf::decode_envelope(bytes);
        }
        let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if !v.is_object() {
            return Err("stored value is not a JSON object".into());
        }
        Ok(v)
    }
}

/// go-to-protobuf values in the `k8s\0` envelope (`application/vnd.kubernetes.protobuf`).
pub struct ProtobufCodec;

impl Codec for ProtobufCodec {
    fn encode(&self, obj: &Value) -> Result<Vec<u8>, String> {
        let mut obj = obj.clone();
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
            meta.remove("selfLink");
        }
        match super::protobuf::encode_envelope(&obj)? {
            Some(bytes) => Ok(bytes),
            None => JsonCodec.encode(&obj),
        }
    }

    fn decode(&self, bytes: &[u8]) -> Result<Value, String> {
        JsonCodec.decode(bytes)
    }
}

/// The codec for `--storage-media-type`.
pub fn for_media_type(media_type: &str) -> Result<std::sync::Arc<dyn Codec>, String> {
    match media_type {
        "application/json" => Ok(std::sync::Arc::new(JsonCodec)),
        "application/vnd.kubernetes.protobuf" => Ok(std::sync::Arc::new(ProtobufCodec)),
        other => Err(format!(
            "unsupported storage media type {other:?}: use application/json or application/vnd.kubernetes.protobuf"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resource_version_is_not_persisted() {
        let obj = json!({"kind":"Pod","metadata":{"name":"a","resourceVersion":"7","selfLink":"/x"}});
        let bytes = JsonCodec.encode(&obj).expect("encode");
        let back = JsonCodec.decode(&bytes).expect("decode");
        assert_eq!(back, json!({"kind":"Pod","metadata":{"name":"a"}}));
    }

    #[test]
    fn protobuf_codec_writes_the_envelope_and_reads_both() {
        let cm = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"3"},"data":{"k":"v"}});
        let bytes = ProtobufCodec.encode(&cm).expect("encode");
        assert!(bytes.starts_with(PROTOBUF_MAGIC));
        let back = JsonCodec.decode(&bytes).expect("json codec reads protobuf");
        assert_eq!(
            back,
            json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}})
        );
        let json_bytes = JsonCodec.encode(&cm).expect("json");
        assert_eq!(ProtobufCodec.decode(&json_bytes).expect("reads json"), back);
        assert!(for_media_type("text/plain").is_err());
    }

    #[test]
    fn protobuf_and_garbage_are_errors() {
        assert!(JsonCodec.decode(b"k8s\x00\x0a\x02").is_err()); // truncated envelope
        assert!(JsonCodec.decode(b"not json").is_err());
        assert!(JsonCodec.decode(b"[1]").is_err());
    }
}
