//! Byte layouts of the `key` and `rev` column families.
//!
//! `key` CF: `escape(user_key) 00 01 !main(8, BE) !sub(8, BE)`. Escaping (each `00` byte
//! becomes `00 FF`, then the `00 01` terminator) keeps user-key order and puts every version
//! of one key together, newest first (revisions are bit-inverted). Value: one flag byte
//! (`p` put, `t` tombstone) then the `mvccpb.KeyValue` marshalled exactly as etcd stores it
//! (a tombstone holds only the key), so `HashKV` hashes the same bytes etcd does.
//!
//! `rev` CF: `main(8, BE) sub(8, BE)` → flag byte + user key: the history in revision order.

use super::Revision;

pub const PUT: u8 = b'p';
pub const TOMBSTONE: u8 = b't';

fn escape_into(out: &mut Vec<u8>, key: &[u8]) {
    for &b in key {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
}

/// The smallest encoded key that can hold a version of `key`.
pub fn key_start(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 2);
    escape_into(&mut out, key);
    out.extend_from_slice(&[0, 1]);
    out
}

/// Just past every version of `key` and before any greater user key.
pub fn key_after(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 2);
    escape_into(&mut out, key);
    out.extend_from_slice(&[0, 2]);
    out
}

/// The encoded key of `key` at `rev`.
pub fn version_key(key: &[u8], rev: Revision) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 18);
    escape_into(&mut out, key);
    out.extend_from_slice(&[0, 1]);
    out.extend_from_slice(&(!(rev.main as u64)).to_be_bytes());
    out.extend_from_slice(&(!(rev.sub as u64)).to_be_bytes());
    out
}

/// Splits an encoded `key` CF key back into the user key and revision.
pub fn decode_version_key(enc: &[u8]) -> Option<(Vec<u8>, Revision)> {
    if enc.len() < 18 {
        return None;
    }
    let (body, revs) = enc.split_at(enc.len() - 16);
    let main = !u64::from_be_bytes(revs[..8].try_into().ok()?);
    let sub = !u64::from_be_bytes(revs[8..].try_into().ok()?);
    if body.len() < 2 || body[body.len() - 2..] != [0, 1] {
        return None;
    }
    let esc = &body[..body.len() - 2];
    let mut key = Vec::with_capacity(esc.len());
    let mut i = 0;
    while i < esc.len() {
        let b = esc[i];
        key.push(b);
        if b == 0 {
            if esc.get(i + 1) != Some(&0xff) {
                return None;
            }
            i += 1;
        }
        i += 1;
    }
    Some((
        key,
        Revision {
            main: main as i64,
            sub: sub as i64,
        },
    ))
}

/// The encoded `rev` CF key.
pub fn rev_key(rev: Revision) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&(rev.main as u64).to_be_bytes());
    out[8..].copy_from_slice(&(rev.sub as u64).to_be_bytes());
    out
}

pub fn decode_rev_key(k: &[u8]) -> Option<Revision> {
    if k.len() != 16 {
        return None;
    }
    Some(Revision {
        main: u64::from_be_bytes(k[..8].try_into().ok()?) as i64,
        sub: u64::from_be_bytes(k[8..].try_into().ok()?) as i64,
    })
}

/// etcd's bbolt key for a revision (`main '_' sub`, plus `t` for a tombstone): what HashKV hashes.
pub fn etcd_rev_bytes(rev: Revision, tombstone: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(18);
    out.extend_from_slice(&(rev.main as u64).to_be_bytes());
    out.push(b'_');
    out.extend_from_slice(&(rev.sub as u64).to_be_bytes());
    if tombstone {
        out.push(b't');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_keys_round_trip_and_order() {
        let keys: Vec<&[u8]> = vec![b"", b"\0", b"\0\0", b"a", b"a\0", b"a\0b", b"ab", b"b"];
        let mut encoded = Vec::new();
        for k in &keys {
            for main in [1i64, 5, 300] {
                let rev = Revision { main, sub: 0 };
                let e = version_key(k, rev);
                assert_eq!(decode_version_key(&e), Some((k.to_vec(), rev)));
                encoded.push((e, k.to_vec(), main));
            }
        }
        encoded.sort();
        // Sorted encodings: user keys ascending, and within one key newest first.
        for w in encoded.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            assert!(a.1 < b.1 || (a.1 == b.1 && a.2 > b.2), "{a:?} before {b:?}");
        }
        for k in &keys {
            assert!(key_start(k) <= version_key(k, Revision { main: i64::MAX, sub: 0 }));
            assert!(key_after(k) > version_key(k, Revision { main: 0, sub: 0 }));
        }
        assert!(key_after(b"a") < key_start(b"a\0"));
    }

    #[test]
    fn malformed_keys_are_rejected() {
        assert_eq!(decode_version_key(b"short"), None);
        let mut bad = version_key(b"a\0b", Revision { main: 2, sub: 0 });
        bad[2] = 7; // breaks the 00 FF escape
        assert_eq!(decode_version_key(&bad), None);
    }
}
