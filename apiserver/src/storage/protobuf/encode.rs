//! JSON → Kubernetes protobuf (`k8s\0` + runtime.Unknown), the inverse of
//! `decode`, guided by the same generated schema.
//!
//! Fields are written in field-number order and map entries sorted by key,
//! so equal objects give equal bytes (the store's "unchanged → no write"
//! check relies on it). As go-to-protobuf does, fields that are neither
//! pointers, slices nor maps in Kubernetes 1.20's Go types
//! (`always_fields.rs`) are written even when the JSON omits them (zero
//! scalars, empty structs), so our bytes equal a stock kube-apiserver's for
//! the same object. Values of the wrong JSON type are errors; unknown JSON
//! fields are ignored (they were pruned on input).

use base64::Engine;
use serde_json::Value;

use super::always_fields::ALWAYS_FIELDS;
use crate::schema::{is_special, kind_message, message, Field, Ty};

const MAX_DEPTH: usize = 64;

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn tag(num: u32, wire: u8, out: &mut Vec<u8>) {
    varint(u64::from(num) << 3 | u64::from(wire), out);
}

fn len_field(num: u32, bytes: &[u8], out: &mut Vec<u8>) {
    tag(num, 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn as_i64(v: &Value, what: &str) -> Result<i64, String> {
    v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
        .ok_or_else(|| format!("{what}: expected an integer, got {v}"))
}

/// Encode `obj` as the envelope kube-apiserver stores; None if its kind has no schema.
pub fn encode_envelope(obj: &Value) -> Result<Option<Vec<u8>>, String> {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let Some(msg) = kind_message(api_version, kind) else {
        return Ok(None);
    };
    let raw = encode_message(&msg, obj, 0)?;
    let mut type_meta = Vec::new();
    len_field(1, api_version.as_bytes(), &mut type_meta);
    len_field(2, kind.as_bytes(), &mut type_meta);
    let mut out = crate::storage::codec::PROTOBUF_MAGIC.to_vec();
    len_field(1, &type_meta, &mut out);
    len_field(2, &raw, &mut out);
    len_field(3, b"", &mut out);
    len_field(4, b"", &mut out);
    Ok(Some(out))
}

/// A bare meta/v1 WatchEvent{type = 1, object = 2: RawExtension{raw = 1}} around an
/// already-enveloped object, as kube's RawSerializer writes it into a watch stream.
pub fn encode_watch_event(ty: &str, raw: &[u8]) -> Vec<u8> {
    let mut ext = Vec::new();
    len_field(1, raw, &mut ext);
    let mut out = Vec::new();
    len_field(1, ty.as_bytes(), &mut out);
    len_field(2, &ext, &mut out);
    out
}

pub fn encode_message(msg: &str, v: &Value, depth: usize) -> Result<Vec<u8>, String> {
    if depth > MAX_DEPTH {
        return Err("object nesting too deep".into());
    }
    if is_special(msg) {
        return special(msg, v);
    }
    let fields = message(msg).ok_or_else(|| format!("no protobuf schema for {msg}"))?;
    let empty = serde_json::Map::new();
    let obj = match v {
        Value::Object(m) => m,
        Value::Null => &empty,
        other => return Err(format!("{msg}: expected an object, got {other}")),
    };
    let mut out = Vec::new();
    let mut gone = GONE_FIELDS.iter().filter(|(m, _)| *m == msg).map(|(_, f)| f).peekable();
    for f in fields {
        while let Some(g) = gone.next_if(|g| g.num < f.num) {
            let val = obj.get(g.name).filter(|x| !x.is_null()).unwrap_or(&Value::Null);
            single(g.num, g.ty, val, &mut out, depth, g.name)?;
        }
        if f.inline {
            if let Ty::Msg(inner) = f.ty {
                let bytes = encode_message(inner, v, depth + 1)?;
                len_field(f.num, &bytes, &mut out);
            }
            continue;
        }
        match obj.get(f.name).filter(|x| !x.is_null()) {
            Some(val) => encode_field(f, val, &mut out, depth)?,
            None if always_written(msg, f) => single(f.num, f.ty, &Value::Null, &mut out, depth, f.name)?,
            None => {}
        }
    }
    for g in gone {
        let val = obj.get(g.name).filter(|x| !x.is_null()).unwrap_or(&Value::Null);
        single(g.num, g.ty, val, &mut out, depth, g.name)?;
    }
    Ok(out)
}

/// Always-written fields of Kubernetes 1.20's types that the (newer) schema table no longer
/// has, sorted by field number per message.
static GONE_FIELDS: &[(&str, Field)] = &[
    (
        "k8s.io.api.core.v1.EphemeralVolumeSource",
        Field {
            num: 2,
            name: "readOnly",
            ty: Ty::Bool,
            repeated: false,
            inline: false,
            doc: "",
        },
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        Field {
            num: 15,
            name: "clusterName",
            ty: Ty::Str,
            repeated: false,
            inline: false,
            doc: "",
        },
    ),
];

/// Whether go-to-protobuf writes field `f` of `msg` even when it is zero (not a pointer,
/// slice, map or byte slice).
fn always_written(msg: &str, f: &Field) -> bool {
    !f.repeated
        && !matches!(f.ty, Ty::Map(_) | Ty::Bytes)
        && ALWAYS_FIELDS
            .binary_search_by(|(m, n)| (*m, *n).cmp(&(msg, f.name)))
            .is_ok()
}

fn encode_field(f: &Field, val: &Value, out: &mut Vec<u8>, depth: usize) -> Result<(), String> {
    match f.ty {
        Ty::Map(vt) => {
            let m = val
                .as_object()
                .ok_or_else(|| format!("{}: expected an object", f.name))?;
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                let mut entry = Vec::new();
                len_field(1, k.as_bytes(), &mut entry);
                if let Some(x) = m.get(k).filter(|x| !x.is_null()) {
                    single(2, *vt, x, &mut entry, depth, f.name)?;
                }
                len_field(f.num, &entry, out);
            }
            Ok(())
        }
        ty if f.repeated => {
            let items = val.as_array().ok_or_else(|| format!("{}: expected an array", f.name))?;
            for item in items {
                single(f.num, ty, item, out, depth, f.name)?;
            }
            Ok(())
        }
        ty => single(f.num, ty, val, out, depth, f.name),
    }
}

/// Write one value; `Null` is the Go zero value of an always-written field.
fn single(num: u32, ty: Ty, v: &Value, out: &mut Vec<u8>, depth: usize, name: &str) -> Result<(), String> {
    if v.is_null() && !matches!(ty, Ty::Msg(_)) {
        match ty {
            Ty::Str | Ty::Bytes => len_field(num, b"", out),
            Ty::F64 | Ty::F32 => {
                tag(num, 1, out);
                out.extend_from_slice(&0f64.to_bits().to_le_bytes());
            }
            _ => {
                tag(num, 0, out);
                varint(0, out);
            }
        }
        return Ok(());
    }
    match ty {
        Ty::Str => {
            let s = v
                .as_str()
                .ok_or_else(|| format!("{name}: expected a string, got {v}"))?;
            len_field(num, s.as_bytes(), out);
        }
        Ty::Bytes => {
            let s = v.as_str().ok_or_else(|| format!("{name}: expected base64 data"))?;
            let b = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| format!("{name}: illegal base64 data: {e}"))?;
            len_field(num, &b, out);
        }
        Ty::I32 | Ty::I64 => {
            tag(num, 0, out);
            varint(as_i64(v, name)? as u64, out);
        }
        Ty::U32 | Ty::U64 => {
            tag(num, 0, out);
            varint(as_i64(v, name)? as u64, out);
        }
        Ty::Bool => {
            let b = v
                .as_bool()
                .ok_or_else(|| format!("{name}: expected a boolean, got {v}"))?;
            tag(num, 0, out);
            varint(u64::from(b), out);
        }
        Ty::F64 | Ty::F32 => {
            let x = v
                .as_f64()
                .ok_or_else(|| format!("{name}: expected a number, got {v}"))?;
            tag(num, 1, out);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        Ty::Msg(m) => {
            let bytes = encode_message(m, v, depth + 1)?;
            len_field(num, &bytes, out);
        }
        Ty::Map(_) => return Err(format!("{name}: nested maps are not supported")),
    }
    Ok(())
}

/// Well-known types from their JSON forms (`Null`: Go's zero value), as their hand-written
/// or generated marshallers in k8s.io/apimachinery write them.
fn special(msg: &str, v: &Value) -> Result<Vec<u8>, String> {
    let short = msg.rsplit('.').next().unwrap_or("");
    let mut out = Vec::new();
    if v.is_null() {
        match short {
            // time.Time{}.IsZero(): nothing; RawExtension/FieldsV1 with nil Raw: nothing.
            "Time" | "MicroTime" | "RawExtension" | "FieldsV1" | "Verbs" => {}
            "Duration" => {
                tag(1, 0, &mut out);
                varint(0, &mut out);
            }
            "Quantity" => len_field(1, b"0", &mut out),
            "IntOrString" => {
                tag(1, 0, &mut out);
                varint(0, &mut out);
                tag(2, 0, &mut out);
                varint(0, &mut out);
                len_field(3, b"", &mut out);
            }
            _ => return Err(format!("no encoder for {msg}")),
        }
        return Ok(out);
    }
    match short {
        "Time" | "MicroTime" => {
            let s = v
                .as_str()
                .ok_or_else(|| format!("{short}: expected an RFC 3339 string"))?;
            let t = chrono::DateTime::parse_from_rfc3339(s).map_err(|e| format!("{short} {s:?}: {e}"))?;
            // Timestamp{seconds, nanos}, both always written; Time drops the nanoseconds.
            tag(1, 0, &mut out);
            varint(t.timestamp() as u64, &mut out);
            let nanos = if short == "Time" { 0 } else { t.timestamp_subsec_nanos() };
            tag(2, 0, &mut out);
            varint(u64::from(nanos), &mut out);
        }
        "Duration" => {
            let s = v.as_str().ok_or("Duration: expected a string")?;
            tag(1, 0, &mut out);
            varint(parse_go_duration(s)? as u64, &mut out);
        }
        "Quantity" => {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => return Err(format!("quantity: expected a string, got {other}")),
            };
            len_field(1, s.as_bytes(), &mut out);
        }
        "IntOrString" => {
            // {type, intVal, strVal}, all three always written.
            let (ty, int, s) = match v {
                Value::String(s) => (1, 0, s.as_str()),
                other => (0, as_i64(other, "intOrString")?, ""),
            };
            tag(1, 0, &mut out);
            varint(ty, &mut out);
            tag(2, 0, &mut out);
            varint(int as u64, &mut out);
            len_field(3, s.as_bytes(), &mut out);
        }
        "RawExtension" | "FieldsV1" => {
            let raw = serde_json::to_vec(v).map_err(|e| e.to_string())?;
            len_field(1, &raw, &mut out);
        }
        "Verbs" => {
            for item in v.as_array().ok_or("verbs: expected an array")? {
                len_field(1, item.as_str().unwrap_or("").as_bytes(), &mut out);
            }
        }
        _ => return Err(format!("no encoder for {msg}")),
    }
    Ok(out)
}

/// Go's time.ParseDuration for the units Kubernetes uses.
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    if s == "0" {
        return Ok(0);
    }
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_end].parse().map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(format!("invalid duration {s:?}")),
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Ok(if neg { -(total as i64) } else { total as i64 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::protobuf::decode_envelope;
    use serde_json::json;

    #[test]
    fn pod_and_deployment_round_trip() {
        let pod = json!({"apiVersion":"v1","kind":"Pod",
            "metadata":{"name":"p","namespace":"default","uid":"u-1","creationTimestamp":"2024-01-02T03:04:05Z",
                        "labels":{"b":"2","a":"1"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"x","controller":true}]},
            "spec":{"containers":[{"name":"c","image":"nginx","ports":[{"containerPort":80,"protocol":"TCP"}],
                     "resources":{"limits":{"cpu":"500m","memory":"64Mi"}},
                     "livenessProbe":{"httpGet":{"path":"/","port":"http"},"periodSeconds":10},
                     "securityContext":{"runAsUser":0,"allowPrivilegeEscalation":false}}],
                    "volumes":[{"name":"cfg","configMap":{"name":"cm","defaultMode":420}}],
                    "terminationGracePeriodSeconds":30,"restartPolicy":"Always"},
            "status":{"phase":"Running","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2024-01-02T03:04:06Z"}],
                      "containerStatuses":[{"name":"c","ready":true,"restartCount":0,"image":"nginx","imageID":"","state":{"running":{"startedAt":"2024-01-02T03:04:06Z"}}}]}});
        let bytes = encode_envelope(&pod).expect("encode").expect("schema");
        assert!(bytes.starts_with(b"k8s\x00"));
        let back = decode_envelope(&bytes).expect("decode");
        // imageID has no `omitempty`: Go prints its empty value, and so do we. lastState is a
        // non-pointer struct: go-to-protobuf writes it (empty) and Go's JSON prints `{}`.
        let mut want = pod.clone();
        want["status"]["containerStatuses"][0]["lastState"] = json!({});
        assert_eq!(back, want);
        assert_eq!(
            encode_envelope(&back).expect("again"),
            encode_envelope(&want).expect("want"),
            "deterministic"
        );

        let deploy = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","generation":2},
            "spec":{"replicas":0,"selector":{"matchLabels":{"app":"d"}},
                    "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":1}},
                    "template":{"metadata":{"labels":{"app":"d"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}});
        let back = decode_envelope(&encode_envelope(&deploy).expect("e").expect("s")).expect("d");
        // Non-pointer structs (Container.resources, Deployment.status) come back as `{}`.
        let mut want = deploy.clone();
        want["spec"]["template"]["spec"]["containers"][0]["resources"] = json!({});
        want["status"] = json!({});
        assert_eq!(back, want);
    }

    /// Zero values of non-pointer fields are written as go-to-protobuf does.
    #[test]
    fn go_zero_values_are_written() {
        let svc = json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},
            "spec":{"ports":[{"port":80,"targetPort":8080}]}});
        let bytes = encode_envelope(&svc).expect("encode").expect("schema");
        let meta = encode_message(&format!("{}.ObjectMeta", crate::schema::META), &svc["metadata"], 0).expect("meta");
        // name "s", generateName "", namespace "", selfLink "", uid "", resourceVersion "",
        // generation 0, creationTimestamp {} (zero Time), clusterName "".
        assert_eq!(
            meta,
            b"\x0a\x01s\x12\x00\x1a\x00\x22\x00\x2a\x00\x32\x00\x38\x00\x42\x00\x7a\x00".to_vec()
        );
        let port = encode_message("k8s.io.api.core.v1.ServicePort", &svc["spec"]["ports"][0], 0).expect("port");
        // name "", protocol "", port 80, targetPort {type 0, intVal 8080, strVal ""}, nodePort 0.
        assert_eq!(
            port,
            b"\x0a\x00\x12\x00\x18\x50\x22\x07\x08\x00\x10\x90\x3f\x1a\x00\x28\x00".to_vec()
        );
        assert!(bytes.windows(port.len()).any(|w| w == port.as_slice()));
        let t = encode_message(
            &format!("{}.Time", crate::schema::META),
            &json!("1970-01-01T00:00:10Z"),
            0,
        )
        .expect("t");
        assert_eq!(t, vec![0x08, 10, 0x10, 0]);
    }

    #[test]
    fn wrong_types_are_errors() {
        let bad = json!({"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":"three"}});
        assert!(encode_envelope(&bad).is_err());
        assert_eq!(
            encode_envelope(&json!({"apiVersion":"x/v1","kind":"Foo"})).expect("ok"),
            None
        );
        assert_eq!(parse_go_duration("1h2m3.5s").expect("dur"), 3_723_500_000_000);
    }
}
