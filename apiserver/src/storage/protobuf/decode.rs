//! Protobuf → JSON for Kubernetes objects, guided by the generated schema.
//!
//! go-to-protobuf writes every non-pointer scalar field, zero or not, and a
//! pointer field only when it is set; Go's JSON then prints a zero ("", 0,
//! false) only for pointer fields and fields without `omitempty`. Which
//! fields those are comes per message from Kubernetes 1.20's types.go
//! (`zero_fields.rs`); fields newer than that fall back to a list of JSON
//! names that are pointers wherever they occur (`KEEP_ZERO`). Messages are
//! kept (possibly empty), as Go prints non-pointer structs. Well-known types
//! (Time, MicroTime, Duration, Quantity, IntOrString, RawExtension,
//! FieldsV1) get their JSON forms. Malformed input is an error, never a panic.

use base64::Engine;
use serde_json::{json, Map, Value};

use super::zero_fields::ZERO_FIELDS;
use crate::schema::{is_special, kind_message, message, Ty, META};

const MAX_DEPTH: usize = 64;

/// Pointer fields whose zero/false value means something (kept in JSON), for
/// fields `ZERO_FIELDS` does not know.
const KEEP_ZERO: &[&str] = &[
    "replicas",
    "revisionHistoryLimit",
    "progressDeadlineSeconds",
    "terminationGracePeriodSeconds",
    "activeDeadlineSeconds",
    "deletionGracePeriodSeconds",
    "gracePeriodSeconds",
    "priority",
    "runAsUser",
    "runAsGroup",
    "fsGroup",
    "defaultMode",
    "mode",
    "leaseDurationSeconds",
    "leaseTransitions",
    "partition",
    "expirationSeconds",
    "tolerationSeconds",
    "exitCode",
    "restartCount",
    "optional",
    "privileged",
    "allowPrivilegeEscalation",
    "runAsNonRoot",
    "readOnlyRootFilesystem",
    "automountServiceAccountToken",
    "enableServiceLinks",
    "immutable",
    "hostUsers",
    "setHostnameAsFQDN",
    "shareProcessNamespace",
    "controller",
    "blockOwnerDeletion",
    "ready",
    "started",
    "allocateLoadBalancerNodePorts",
];

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }
    fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or("truncated field")?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn len_delimited(&mut self) -> Result<&'a [u8], String> {
        let n = usize::try_from(self.varint()?).map_err(|_| "length overflow")?;
        self.take(n)
    }
    /// Skip a field of `wire` type; returns its raw bytes for wire 2.
    fn value(&mut self, wire: u64) -> Result<Raw<'a>, String> {
        match wire {
            0 => Ok(Raw::Varint(self.varint()?)),
            1 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Ok(Raw::Fixed64(u64::from_le_bytes(a)))
            }
            2 => Ok(Raw::Bytes(self.len_delimited()?)),
            5 => {
                let b = self.take(4)?;
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                Ok(Raw::Fixed32(u32::from_le_bytes(a)))
            }
            w => Err(format!("unsupported wire type {w}")),
        }
    }
}

enum Raw<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

/// Decode message `name` from `buf` into a JSON object (or a special form).
pub fn decode_message(name: &str, buf: &[u8]) -> Result<Value, String> {
    decode_at(name, buf, 0).map(|v| v.unwrap_or(Value::Null))
}

fn decode_at(name: &str, buf: &[u8], depth: usize) -> Result<Option<Value>, String> {
    if depth > MAX_DEPTH {
        return Err("protobuf nesting too deep".into());
    }
    if let Some(special) = special(name, buf)? {
        return Ok(special);
    }
    let fields = message(name).ok_or_else(|| format!("no protobuf schema for {name}"))?;
    let mut out = Map::new();
    let mut r = Reader::new(buf);
    while !r.done() {
        let tag = r.varint()?;
        let (num, wire) = ((tag >> 3) as u32, tag & 7);
        let raw = r.value(wire)?;
        let Some(f) = fields.iter().find(|f| f.num == num) else {
            continue;
        };
        match f.ty {
            Ty::Map(vt) => {
                let Raw::Bytes(entry) = raw else {
                    return Err(format!("{name}.{}: bad map entry", f.name));
                };
                let (k, v) = map_entry(entry, vt, depth)?;
                let m = out.entry(f.name).or_insert_with(|| json!({}));
                if let Value::Object(m) = m {
                    m.insert(k, v.unwrap_or(Value::Null));
                }
            }
            ty if f.repeated => {
                let vals = repeated_values(ty, raw, depth)?;
                let arr = out.entry(f.name).or_insert_with(|| json!([]));
                if let Value::Array(a) = arr {
                    a.extend(vals);
                }
            }
            Ty::Msg(_) if f.inline => {
                if let Some(Value::Object(inner)) = scalar_or_msg(f.ty, raw, depth)? {
                    out.extend(inner);
                }
            }
            ty => match scalar_or_msg(ty, raw, depth)? {
                Some(v) if keep(name, f.name, &v) => {
                    out.insert(f.name.to_string(), v);
                }
                _ => {
                    out.remove(f.name);
                }
            },
        }
    }
    Ok(Some(Value::Object(out)))
}

/// Whether field `field` of message `msg`, present with value `v`, appears in Go's JSON.
fn keep(msg: &str, field: &str, v: &Value) -> bool {
    let zero = match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !*b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Null => return false,
        _ => false,
    };
    !zero || keep_zero(msg, field)
}

fn keep_zero(msg: &str, field: &str) -> bool {
    match ZERO_FIELDS.binary_search_by(|(m, f, _)| (*m, *f).cmp(&(msg, field))) {
        Ok(i) => ZERO_FIELDS[i].2,
        Err(_) => KEEP_ZERO.contains(&field),
    }
}

fn map_entry(entry: &[u8], vt: &Ty, depth: usize) -> Result<(String, Option<Value>), String> {
    let mut r = Reader::new(entry);
    let mut key = String::new();
    let mut val = None;
    while !r.done() {
        let tag = r.varint()?;
        let raw = r.value(tag & 7)?;
        match (tag >> 3, raw) {
            (1, Raw::Bytes(b)) => key = String::from_utf8_lossy(b).into_owned(),
            (2, raw) => val = scalar_or_msg(*vt, raw, depth)?,
            _ => {}
        }
    }
    if val.is_none() {
        val = Some(match vt {
            Ty::Str | Ty::Bytes => json!(""),
            Ty::Msg(_) => json!({}),
            _ => json!(0),
        });
    }
    Ok((key, val))
}

fn repeated_values(ty: Ty, raw: Raw<'_>, depth: usize) -> Result<Vec<Value>, String> {
    // Packed numeric encoding arrives as one length-delimited blob.
    if let (Ty::I32 | Ty::I64 | Ty::U32 | Ty::U64 | Ty::Bool, Raw::Bytes(b)) = (ty, &raw) {
        let mut r = Reader::new(b);
        let mut out = Vec::new();
        while !r.done() {
            if let Some(v) = scalar_or_msg(ty, Raw::Varint(r.varint()?), depth)? {
                out.push(v);
            }
        }
        return Ok(out);
    }
    Ok(scalar_or_msg(ty, raw, depth)?.into_iter().collect())
}

fn scalar_or_msg(ty: Ty, raw: Raw<'_>, depth: usize) -> Result<Option<Value>, String> {
    Ok(Some(match (ty, raw) {
        (Ty::Str, Raw::Bytes(b)) => json!(String::from_utf8_lossy(b)),
        (Ty::Bytes, Raw::Bytes(b)) => json!(base64::engine::general_purpose::STANDARD.encode(b)),
        (Ty::I32, Raw::Varint(v)) => json!(v as i32),
        (Ty::I64, Raw::Varint(v)) => json!(v as i64),
        (Ty::U32, Raw::Varint(v)) => json!(v as u32),
        (Ty::U64, Raw::Varint(v)) => json!(v),
        (Ty::Bool, Raw::Varint(v)) => json!(v != 0),
        (Ty::F64, Raw::Fixed64(v)) => json!(f64::from_bits(v)),
        (Ty::F32, Raw::Fixed32(v)) => json!(f32::from_bits(v)),
        (Ty::U32, Raw::Fixed32(v)) => json!(v),
        (Ty::U64, Raw::Fixed64(v)) => json!(v),
        (Ty::Msg(name), Raw::Bytes(b)) => return decode_at(name, b, depth + 1),
        _ => return Err("protobuf field has an unexpected wire type".into()),
    }))
}

/// Fields of a small message as (number, raw) pairs.
fn fields_of(buf: &[u8]) -> Result<Vec<(u64, Raw<'_>)>, String> {
    let mut r = Reader::new(buf);
    let mut out = Vec::new();
    while !r.done() {
        let tag = r.varint()?;
        out.push((tag >> 3, r.value(tag & 7)?));
    }
    Ok(out)
}

/// Well-known types with special JSON forms: Some(None) = omit.
fn special(name: &str, buf: &[u8]) -> Result<Option<Option<Value>>, String> {
    if !is_special(name) {
        return Ok(None);
    }
    let Some(short) = name.rsplit('.').next() else {
        return Ok(None);
    };
    let pkg = &name[..name.len() - short.len()].trim_end_matches('.');
    let int = |n: u64| -> Result<i64, String> {
        Ok(fields_of(buf)?
            .into_iter()
            .find_map(|(k, v)| match v {
                Raw::Varint(x) if k == n => Some(x as i64),
                _ => None,
            })
            .unwrap_or(0))
    };
    let bytes = |n: u64| -> Result<Option<Vec<u8>>, String> {
        Ok(fields_of(buf)?.into_iter().find_map(|(k, v)| match v {
            Raw::Bytes(b) if k == n => Some(b.to_vec()),
            _ => None,
        }))
    };
    let v = match (*pkg, short) {
        (META, "Time") | (META, "MicroTime") => {
            let (secs, nanos) = (int(1)?, int(2)?);
            if secs == 0 && nanos == 0 {
                return Ok(Some(None));
            }
            let t = chrono::DateTime::from_timestamp(secs, nanos as u32).ok_or("time out of range")?;
            let fmt = if short == "Time" {
                "%Y-%m-%dT%H:%M:%SZ"
            } else {
                "%Y-%m-%dT%H:%M:%S%.6fZ"
            };
            Some(json!(t.format(fmt).to_string()))
        }
        (META, "Duration") => Some(json!(go_duration(int(1)?))),
        (META, "FieldsV1") | ("k8s.io.apimachinery.pkg.runtime", "RawExtension") => {
            let raw = bytes(1)?.unwrap_or_default();
            Some(serde_json::from_slice(&raw).unwrap_or(Value::Null))
        }
        (META, "Verbs") => {
            let items: Vec<Value> = fields_of(buf)?
                .into_iter()
                .filter_map(|(k, v)| match v {
                    Raw::Bytes(b) if k == 1 => Some(json!(String::from_utf8_lossy(b))),
                    _ => None,
                })
                .collect();
            Some(json!(items))
        }
        ("k8s.io.apimachinery.pkg.api.resource", "Quantity") => {
            Some(json!(String::from_utf8_lossy(&bytes(1)?.unwrap_or_default())))
        }
        ("k8s.io.apimachinery.pkg.util.intstr", "IntOrString") => {
            if int(1)? == 1 {
                Some(json!(String::from_utf8_lossy(&bytes(3)?.unwrap_or_default())))
            } else {
                Some(json!(int(2)? as i32))
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(v))
}

fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let mut n = ns.unsigned_abs();
    let h = n / 3_600_000_000_000;
    n %= 3_600_000_000_000;
    let m = n / 60_000_000_000;
    n %= 60_000_000_000;
    let s = n as f64 / 1e9;
    let mut out = String::from(if neg { "-" } else { "" });
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{s}s"));
    out
}

/// Decode `k8s\0` + runtime.Unknown{typeMeta, raw} into a JSON object with
/// apiVersion and kind set.
pub fn decode_envelope(bytes: &[u8]) -> Result<Value, String> {
    let body = bytes
        .strip_prefix(crate::storage::codec::PROTOBUF_MAGIC)
        .ok_or("protobuf body without the k8s\\0 prefix")?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (num, v) in fields_of(body)? {
        match (num, v) {
            (1, Raw::Bytes(tm)) => {
                for (n, f) in fields_of(tm)? {
                    if let Raw::Bytes(s) = f {
                        match n {
                            1 => api_version = String::from_utf8_lossy(s).into_owned(),
                            2 => kind = String::from_utf8_lossy(s).into_owned(),
                            _ => {}
                        }
                    }
                }
            }
            (2, Raw::Bytes(r)) => raw = r,
            (3, Raw::Bytes(enc)) if !enc.is_empty() => {
                return Err(format!(
                    "unsupported contentEncoding {:?}",
                    String::from_utf8_lossy(enc)
                ))
            }
            _ => {}
        }
    }
    let name =
        kind_message(&api_version, &kind).ok_or_else(|| format!("no protobuf schema for {api_version:?} {kind:?}"))?;
    let mut obj = decode_message(&name, raw)?;
    if let Value::Object(m) = &mut obj {
        m.insert("apiVersion".into(), json!(api_version));
        m.insert("kind".into(), json!(kind));
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(n: u32, wire: u8, out: &mut Vec<u8>) {
        varint(u64::from(n << 3 | u32::from(wire)), out);
    }
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn bytes(n: u32, b: &[u8], out: &mut Vec<u8>) {
        tag(n, 2, out);
        varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let mut tm = Vec::new();
        bytes(1, api_version.as_bytes(), &mut tm);
        bytes(2, kind.as_bytes(), &mut tm);
        let mut u = b"k8s\x00".to_vec();
        bytes(1, &tm, &mut u);
        bytes(2, raw, &mut u);
        bytes(3, b"", &mut u);
        bytes(4, b"", &mut u);
        u
    }

    #[test]
    fn decodes_a_configmap_envelope() {
        // ObjectMeta{name:"cm", namespace:"", creationTimestamp:{}, labels:{a:b}}
        let mut entry = Vec::new();
        bytes(1, b"a", &mut entry);
        bytes(2, b"b", &mut entry);
        let mut meta = Vec::new();
        bytes(1, b"cm", &mut meta);
        bytes(3, b"", &mut meta);
        bytes(8, b"", &mut meta);
        bytes(11, &entry, &mut meta);
        let mut cm = Vec::new();
        bytes(1, &meta, &mut cm);
        let mut d = Vec::new();
        bytes(1, b"k", &mut d);
        bytes(2, b"v", &mut d);
        bytes(2, &d, &mut cm);
        tag(4, 0, &mut cm);
        varint(0, &mut cm);
        let obj = decode_envelope(&envelope("v1", "ConfigMap", &cm)).expect("decode");
        assert_eq!(
            obj,
            json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm","labels":{"a":"b"}},"data":{"k":"v"},"immutable":false})
        );
    }

    fn zero_varint(n: u32, out: &mut Vec<u8>) {
        tag(n, 0, out);
        varint(0, out);
    }

    /// Zero scalars as a stock kube-apiserver writes them (every non-pointer field, zero or
    /// not) print as Go's JSON does: DeploymentStatus.replicas and
    /// ServiceSpec.publishNotReadyAddresses are non-pointer `omitempty` (dropped), while
    /// DeploymentSpec.replicas is a pointer and ContainerStatus.imageID has no `omitempty`.
    #[test]
    fn zero_values_follow_the_go_field_not_the_json_name() {
        let mut spec = Vec::new();
        zero_varint(1, &mut spec); // replicas: 0 (*int32)
        let mut status = Vec::new();
        zero_varint(2, &mut status); // replicas: 0 (int32, omitempty)
        let mut deploy = Vec::new();
        bytes(2, &spec, &mut deploy);
        bytes(3, &status, &mut deploy);
        let obj = decode_envelope(&envelope("apps/v1", "Deployment", &deploy)).expect("deployment");
        assert_eq!(obj["spec"], json!({"replicas": 0}));
        assert_eq!(obj["status"], json!({}));

        let mut svc_spec = Vec::new();
        bytes(3, b"10.96.0.10", &mut svc_spec);
        zero_varint(13, &mut svc_spec); // publishNotReadyAddresses: false (bool, omitempty)
        let got = decode_message("k8s.io.api.core.v1.ServiceSpec", &svc_spec).expect("service spec");
        assert_eq!(got, json!({"clusterIP": "10.96.0.10"}));

        let mut cs = Vec::new();
        bytes(1, b"c", &mut cs);
        zero_varint(4, &mut cs); // ready: false (no omitempty)
        bytes(7, b"", &mut cs); // imageID: "" (no omitempty)
        let got = decode_message("k8s.io.api.core.v1.ContainerStatus", &cs).expect("container status");
        assert_eq!(got, json!({"name": "c", "ready": false, "imageID": ""}));
    }

    #[test]
    fn zero_fields_table_is_sorted_for_binary_search() {
        assert!(ZERO_FIELDS.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)));
        assert!(keep_zero("k8s.io.api.apps.v1.DeploymentSpec", "replicas"));
        assert!(!keep_zero("k8s.io.api.apps.v1.DeploymentStatus", "replicas"));
        // Newer than 1.20: the JSON-name fallback.
        assert!(keep_zero("k8s.io.api.core.v1.PodSpec", "hostUsers"));
    }

    #[test]
    fn well_known_types() {
        let mut t = Vec::new();
        tag(1, 0, &mut t);
        varint(1_700_000_000, &mut t);
        assert_eq!(
            decode_message(&format!("{META}.Time"), &t).expect("time"),
            json!("2023-11-14T22:13:20Z")
        );
        let mut ios = Vec::new();
        tag(1, 0, &mut ios);
        varint(1, &mut ios);
        bytes(3, b"25%", &mut ios);
        assert_eq!(
            decode_message("k8s.io.apimachinery.pkg.util.intstr.IntOrString", &ios).expect("ios"),
            json!("25%")
        );
        assert_eq!(go_duration(3_723_000_000_000), "1h2m3s");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_envelope(b"k8s\x00\x0a\xff\xff").is_err());
        assert!(decode_envelope(b"nope").is_err());
        let deep = envelope("v1", "Nope", b"");
        assert!(decode_envelope(&deep).is_err());
        let mut cm = Vec::new();
        bytes(1, &[0x0a, 0x50], &mut cm); // metadata with a truncated name
        assert!(decode_envelope(&envelope("v1", "ConfigMap", &cm)).is_err());
    }
}
