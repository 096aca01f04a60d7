//! The lessor: leases granted through raft, the keys each one holds, and their expiry.
//!
//! Grants and revokes are applied in log order (persisted in the `lease` column family);
//! the key sets are kept in memory and rebuilt on restart from the `lease_keys` column family
//! (proportional to leased keys, never a scan of the keyspace). Expiry times live only in
//! memory: a restarted or newly elected member gives every lease its full TTL again, as etcd
//! does. Keep-alives renew on the leader without a raft round trip.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::backend::{Backend, Batch, Cf};
use crate::error::{Error, Result};
use crate::mvcc::Change;

/// etcd's largest TTL (`MaxLeaseTTL`).
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;

struct Lease {
    ttl: i64,
    expiry: Instant,
    keys: BTreeSet<Vec<u8>>,
}

/// What TimeToLive reports.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseInfo {
    pub id: i64,
    /// Seconds left (rounded up), or -1 once expired.
    pub remaining: i64,
    pub granted: i64,
    pub keys: Vec<Vec<u8>>,
}

pub struct Lessor {
    leases: Mutex<HashMap<i64, Lease>>,
    min_ttl: i64,
}

fn record(id: i64, ttl: i64) -> (Vec<u8>, Vec<u8>) {
    let mut v = Vec::with_capacity(8);
    v.extend_from_slice(&ttl.to_be_bytes());
    ((id as u64).to_be_bytes().to_vec(), v)
}

impl Lessor {
    /// Rebuilds the lessor from the backend.
    pub fn recover(backend: &Backend, min_ttl: i64) -> Result<Lessor> {
        let now = Instant::now();
        let mut leases = HashMap::new();
        let mut it = backend.iter(Cf::Lease)?;
        it.seek_to_first();
        while it.valid() {
            let (Some(k), Some(v)) = (it.key(), it.value()) else {
                break;
            };
            let id = u64::from_be_bytes(k.try_into().map_err(|_| Error::Corrupt("lease id".into()))?) as i64;
            let ttl = i64::from_be_bytes(v.try_into().map_err(|_| Error::Corrupt("lease ttl".into()))?);
            leases.insert(
                id,
                Lease {
                    ttl,
                    expiry: now + Duration::from_secs(ttl.max(0) as u64),
                    keys: BTreeSet::new(),
                },
            );
            it.next();
        }
        it.status()?;
        let mut it = backend.iter(Cf::LeaseKeys)?;
        it.seek_to_first();
        while it.valid() {
            let Some(k) = it.key() else { break };
            if k.len() >= 8 {
                let id = u64::from_be_bytes(k[..8].try_into().map_err(|_| Error::Corrupt("lease key".into()))?) as i64;
                if let Some(l) = leases.get_mut(&id) {
                    l.keys.insert(k[8..].to_vec());
                }
            }
            it.next();
        }
        it.status()?;
        Ok(Lessor {
            leases: Mutex::new(leases),
            min_ttl,
        })
    }

    /// Replaces every lease with what `backend` holds (after a snapshot install).
    pub fn reload(&self, backend: &Backend) -> Result<()> {
        let fresh = Lessor::recover(backend, self.min_ttl)?;
        *self.leases.lock() = std::mem::take(&mut *fresh.leases.lock());
        Ok(())
    }

    pub fn min_ttl(&self) -> i64 {
        self.min_ttl
    }

    pub fn exists(&self, id: i64) -> bool {
        self.leases.lock().contains_key(&id)
    }

    /// Applies a grant: the effective TTL (raised to the minimum) is returned.
    pub fn grant(&self, id: i64, ttl: i64, batch: &mut Batch) -> Result<i64> {
        if id == 0 {
            return Err(Error::InvalidArgument("lease ID must be set".into()));
        }
        if ttl > MAX_LEASE_TTL {
            return Err(Error::LeaseTtlTooLarge);
        }
        let ttl = ttl.max(self.min_ttl);
        let mut leases = self.leases.lock();
        if leases.contains_key(&id) {
            return Err(Error::LeaseExists);
        }
        let (k, v) = record(id, ttl);
        batch.put(Cf::Lease, k, v);
        leases.insert(
            id,
            Lease {
                ttl,
                expiry: Instant::now() + Duration::from_secs(ttl as u64),
                keys: BTreeSet::new(),
            },
        );
        Ok(ttl)
    }

    /// The keys a revoke must delete (the caller deletes them in the same write).
    pub fn keys_of(&self, id: i64) -> Result<Vec<Vec<u8>>> {
        let leases = self.leases.lock();
        let l = leases.get(&id).ok_or(Error::LeaseNotFound)?;
        Ok(l.keys.iter().cloned().collect())
    }

    /// Forgets a revoked lease; its record goes in `batch`.
    pub fn revoke(&self, id: i64, batch: &mut Batch) -> Result<()> {
        let mut leases = self.leases.lock();
        if leases.remove(&id).is_none() {
            return Err(Error::LeaseNotFound);
        }
        batch.delete(Cf::Lease, (id as u64).to_be_bytes().to_vec());
        Ok(())
    }

    /// Follows the keys a committed write attached to or detached from leases.
    pub fn track(&self, changes: &[Change]) {
        let mut leases = self.leases.lock();
        for c in changes {
            let prev_lease = c.prev.as_ref().map(|p| p.lease).unwrap_or(0);
            let new_lease = if c.deleted { 0 } else { c.kv.lease };
            if prev_lease != 0 && prev_lease != new_lease {
                if let Some(l) = leases.get_mut(&prev_lease) {
                    l.keys.remove(&c.kv.key);
                }
            }
            if new_lease != 0 {
                if let Some(l) = leases.get_mut(&new_lease) {
                    l.keys.insert(c.kv.key.clone());
                }
            }
        }
    }

    /// A keep-alive: restarts the lease's clock; returns its TTL.
    pub fn renew(&self, id: i64) -> Result<i64> {
        let mut leases = self.leases.lock();
        let l = leases.get_mut(&id).ok_or(Error::LeaseNotFound)?;
        l.expiry = Instant::now() + Duration::from_secs(l.ttl as u64);
        Ok(l.ttl)
    }

    pub fn time_to_live(&self, id: i64, with_keys: bool) -> Result<LeaseInfo> {
        let leases = self.leases.lock();
        let l = leases.get(&id).ok_or(Error::LeaseNotFound)?;
        let now = Instant::now();
        let remaining = if l.expiry <= now {
            -1
        } else {
            let left = l.expiry - now;
            (left.as_millis() as i64 + 999) / 1000
        };
        Ok(LeaseInfo {
            id,
            remaining,
            granted: l.ttl,
            keys: if with_keys {
                l.keys.iter().cloned().collect()
            } else {
                Vec::new()
            },
        })
    }

    pub fn ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.leases.lock().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Leases past their expiry (at most `max`), for the leader to revoke through raft.
    pub fn expired(&self, max: usize) -> Vec<i64> {
        let now = Instant::now();
        let leases = self.leases.lock();
        let mut out: Vec<(Instant, i64)> = leases
            .iter()
            .filter(|(_, l)| l.expiry <= now)
            .map(|(id, l)| (l.expiry, *id))
            .collect();
        out.sort_unstable();
        out.into_iter().take(max).map(|(_, id)| id).collect()
    }

    /// A new leader gives every lease its full TTL again.
    pub fn promote(&self) {
        let now = Instant::now();
        for l in self.leases.lock().values_mut() {
            l.expiry = now + Duration::from_secs(l.ttl as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn grant_track_revoke_and_recover() {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = Arc::new(Backend::open(&dir.path().join("db")).expect("open"));
        let lessor = Lessor::recover(&backend, 2).expect("recover");
        let mut b = Batch::default();
        assert_eq!(
            lessor.grant(7, 1, &mut b).expect("grant"),
            2,
            "TTL raised to the minimum"
        );
        assert_eq!(lessor.grant(7, 10, &mut b).err(), Some(Error::LeaseExists));
        assert_eq!(
            lessor.grant(8, MAX_LEASE_TTL + 1, &mut b).err(),
            Some(Error::LeaseTtlTooLarge)
        );
        backend.write(b).expect("write");
        let store = crate::mvcc::KvStore::open(backend.clone()).expect("store");
        let mut t = store.write();
        t.put(b"k", b"v", 7).expect("put");
        let (_, changes) = t.commit(1, 1).expect("commit");
        lessor.track(&changes);
        assert_eq!(lessor.keys_of(7).expect("keys"), vec![b"k".to_vec()]);
        let ttl = lessor.time_to_live(7, true).expect("ttl");
        assert_eq!((ttl.granted, ttl.keys.len()), (2, 1));
        assert!(ttl.remaining > 0 && ttl.remaining <= 2);
        let again = Lessor::recover(&backend, 2).expect("recover");
        assert_eq!(again.ids(), vec![7]);
        assert_eq!(again.keys_of(7).expect("keys"), vec![b"k".to_vec()]);
        let mut b = Batch::default();
        lessor.revoke(7, &mut b).expect("revoke");
        assert_eq!(lessor.revoke(7, &mut b).err(), Some(Error::LeaseNotFound));
        assert_eq!(lessor.renew(7).err(), Some(Error::LeaseNotFound));
    }
}
