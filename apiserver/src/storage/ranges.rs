//! kube-apiserver 1.20's service range allocators as stored in etcd (not wired to Services
//! yet): `/registry/ranges/serviceips` and `/registry/ranges/servicenodeports` hold a core/v1
//! RangeAllocation `{range, data}` whose data is a Go `big.Int`'s big-endian bytes with bit i
//! set when offset i from the range base is taken (pkg/registry/core/service/allocator).
//! IP ranges start at the network address + 1 and exclude the IPv4 broadcast address; port
//! ranges start at their first port. A free offset is found from a random start, scanning up.

use std::net::Ipv4Addr;

use serde_json::{json, Value};

/// The etcd key of the ClusterIP bitmap.
pub const SERVICE_IPS_KEY: &str = "/registry/ranges/serviceips";
/// The etcd key of the NodePort bitmap.
pub const NODE_PORTS_KEY: &str = "/registry/ranges/servicenodeports";

/// Why an allocation failed (kube's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("provided {0} is already allocated")]
    Allocated(&'static str),
    #[error("provided {what} is not in the valid range. The range of valid {what}s is {range}")]
    NotInRange { what: &'static str, range: String },
    #[error("range is full")]
    Full,
    #[error("{0}")]
    Invalid(String),
}

/// A range of offsets: IPs of a CIDR or a port range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// RangeAllocation.range: `10.96.0.0/12` or `30000-32767`.
    pub spec: String,
    base: u32,
    /// Number of offsets.
    pub max: usize,
    ip: bool,
}

impl Range {
    /// An IPv4 service CIDR (ipallocator.NewAllocatorCIDRRange).
    pub fn cidr(s: &str) -> Result<Range, RangeError> {
        let bad = || RangeError::Invalid(format!("invalid CIDR address: {s}"));
        let (ip, bits) = s.split_once('/').ok_or_else(bad)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
        let bits: u32 = bits.parse().map_err(|_| bad())?;
        if bits > 32 {
            return Err(bad());
        }
        let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
        let net = u32::from(ip) & mask;
        let size = 1u64 << (32 - bits);
        Ok(Range {
            spec: format!("{}/{bits}", Ipv4Addr::from(net)),
            base: net.wrapping_add(1),
            max: usize::try_from(size.saturating_sub(2)).unwrap_or(0),
            ip: true,
        })
    }

    /// A NodePort range `base-last` (portallocator; PortRange.String()).
    pub fn ports(s: &str) -> Result<Range, RangeError> {
        let bad = || RangeError::Invalid(format!("invalid port range: {s}"));
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let (a, b): (u32, u32) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        );
        if a > b || b > 65535 {
            return Err(bad());
        }
        Ok(Range {
            spec: format!("{a}-{b}"),
            base: a,
            max: (b - a + 1) as usize,
            ip: false,
        })
    }

    fn what(&self) -> &'static str {
        if self.ip {
            "IP"
        } else {
            "port"
        }
    }

    /// The offset of an IP (or port) in this range.
    pub fn offset(&self, value: &str) -> Result<usize, RangeError> {
        let not_in = || RangeError::NotInRange {
            what: self.what(),
            range: self.spec.clone(),
        };
        let v = if self.ip {
            u32::from(value.parse::<Ipv4Addr>().map_err(|_| not_in())?)
        } else {
            value.parse::<u32>().map_err(|_| not_in())?
        };
        let off = v.checked_sub(self.base).ok_or_else(not_in)? as usize;
        if off >= self.max {
            return Err(not_in());
        }
        Ok(off)
    }

    /// The IP (or port) at `offset`.
    pub fn value(&self, offset: usize) -> String {
        let v = self.base.wrapping_add(offset as u32);
        if self.ip {
            Ipv4Addr::from(v).to_string()
        } else {
            v.to_string()
        }
    }

    /// The RangeAllocation object for `data` (kube stores it without name or timestamps).
    pub fn allocation(&self, data: &[u8]) -> Value {
        use base64::Engine;
        json!({"apiVersion": "v1", "kind": "RangeAllocation", "metadata": {},
               "range": self.spec, "data": base64::engine::general_purpose::STANDARD.encode(data)})
    }
}

/// Whether offset `i` is set in big-endian `big.Int` bytes.
pub fn is_set(data: &[u8], i: usize) -> bool {
    let byte = i / 8;
    byte < data.len() && data[data.len() - 1 - byte] & (1 << (i % 8)) != 0
}

/// `data` with offset `i` set or cleared, as `big.Int.SetBit(..).Bytes()` (no leading zeros).
pub fn with_bit(data: &[u8], i: usize, on: bool) -> Vec<u8> {
    let need = i / 8 + 1;
    let mut le: Vec<u8> = data.iter().rev().copied().collect();
    if le.len() < need {
        le.resize(need, 0);
    }
    if on {
        le[i / 8] |= 1 << (i % 8);
    } else {
        le[i / 8] &= !(1 << (i % 8));
    }
    while le.last() == Some(&0) {
        le.pop();
    }
    le.reverse();
    le
}

/// randomScanStrategy: the first free offset at or after `start` (wrapping), if any.
pub fn free_from(data: &[u8], max: usize, start: usize) -> Option<usize> {
    (0..max).map(|i| (start + i) % max).find(|&at| !is_set(data, at))
}

/// Allocate in `data`: the requested offset, or a free one scanning from `start`.
pub fn allocate(range: &Range, data: &[u8], want: Option<&str>, start: usize) -> Result<(usize, Vec<u8>), RangeError> {
    let off = match want {
        Some(v) => {
            let off = range.offset(v)?;
            if is_set(data, off) {
                return Err(RangeError::Allocated(range.what()));
            }
            off
        }
        None => free_from(data, range.max, start).ok_or(RangeError::Full)?,
    };
    Ok((off, with_bit(data, off, true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_ranges_as_kube() {
        let r = Range::cidr("10.96.0.0/12").expect("cidr");
        assert_eq!(r.spec, "10.96.0.0/12");
        assert_eq!(r.max, (1 << 20) - 2);
        assert_eq!(r.offset("10.96.0.1"), Ok(0));
        assert_eq!(r.value(9), "10.96.0.10");
        let small = Range::cidr("10.0.0.7/24").expect("cidr");
        assert_eq!((small.spec.as_str(), small.max), ("10.0.0.0/24", 254));
        assert_eq!(
            small.offset("10.0.1.5").map_err(|e| e.to_string()),
            Err("provided IP is not in the valid range. The range of valid IPs is 10.0.0.0/24".into())
        );
        assert!(small.offset("10.0.0.255").is_err(), "broadcast");
        assert!(small.offset("10.0.0.0").is_err(), "network");
        let p = Range::ports("30000-32767").expect("ports");
        assert_eq!((p.max, p.offset("30005"), p.value(0).as_str()), (2768, Ok(5), "30000"));
    }

    #[test]
    fn bitmap_is_big_int_bytes() {
        // big.NewInt(0).SetBit(x, 0, 1).SetBit(x, 9, 1).Bytes() == [0x02, 0x01]
        let d = with_bit(&with_bit(&[], 0, true), 9, true);
        assert_eq!(d, vec![0x02, 0x01]);
        assert!(is_set(&d, 9) && is_set(&d, 0) && !is_set(&d, 1) && !is_set(&d, 80));
        assert_eq!(with_bit(&d, 9, false), vec![0x01], "leading zero bytes trimmed");
        assert_eq!(with_bit(&[0x01], 0, false), Vec::<u8>::new());
    }

    #[test]
    fn allocation_scans_from_a_start_and_refuses_taken() {
        let r = Range::cidr("10.0.0.0/29").expect("cidr"); // 6 addresses .1-.6
        let (off, d) = allocate(&r, &[], Some("10.0.0.3"), 0).expect("specific");
        assert_eq!(off, 2);
        assert_eq!(
            allocate(&r, &d, Some("10.0.0.3"), 0).map_err(|e| e.to_string()),
            Err("provided IP is already allocated".into())
        );
        let (off, d) = allocate(&r, &d, None, 2).expect("next");
        assert_eq!(off, 3, "scans up from the start past taken offsets");
        let mut d = d;
        for _ in 0..4 {
            d = allocate(&r, &d, None, 5).expect("fill").1;
        }
        assert_eq!(allocate(&r, &d, None, 0), Err(RangeError::Full));
        let obj = r.allocation(&d);
        assert_eq!(obj["range"], "10.0.0.0/29");
        let pb = crate::storage::protobuf::encode_envelope(&obj)
            .expect("encode")
            .expect("schema");
        let back = crate::storage::protobuf::decode_envelope(&pb).expect("decode");
        assert_eq!(back["data"], obj["data"]);
    }
}
