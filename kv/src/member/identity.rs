//! Member and cluster IDs derived as etcd derives them: a member ID is the first 8 bytes of
//! SHA-1(sorted peer URLs + cluster token); the cluster ID is the first 8 bytes of SHA-1 of
//! the sorted member IDs. The same flags give the same IDs as etcd.

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use crate::config::InitialMember;

/// A member as the Cluster API reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    #[serde(default)]
    pub is_learner: bool,
}

pub fn member_id(peer_urls: &[String], token: &str) -> u64 {
    let mut urls = peer_urls.to_vec();
    urls.sort();
    let mut h = Sha1::new();
    for u in &urls {
        h.update(u.as_bytes());
    }
    h.update(token.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

/// The ID `member add` gives a new member: etcd mixes the time in, so re-adding the same URLs
/// yields a new ID.
pub fn new_member_id(peer_urls: &[String], token: &str) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    member_id(peer_urls, &format!("{token}{now}"))
}

impl MemberInfo {
    pub fn to_context(&self) -> proto::kvpeerpb::MemberContext {
        proto::kvpeerpb::MemberContext {
            id: self.id,
            name: self.name.clone(),
            peer_urls: self.peer_urls.clone(),
            client_urls: self.client_urls.clone(),
            is_learner: self.is_learner,
        }
    }

    pub fn from_context(c: proto::kvpeerpb::MemberContext) -> MemberInfo {
        MemberInfo {
            id: c.id,
            name: c.name,
            peer_urls: c.peer_urls,
            client_urls: c.client_urls,
            is_learner: c.is_learner,
        }
    }
}

pub fn cluster_id(member_ids: &[u64]) -> u64 {
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let mut h = Sha1::new();
    for id in ids {
        h.update(id.to_be_bytes());
    }
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

/// The initial members with their IDs; `self_name` gets `client_urls`.
pub fn initial_members(
    initial: &[InitialMember],
    token: &str,
    self_name: &str,
    client_urls: &[String],
) -> Vec<MemberInfo> {
    initial
        .iter()
        .map(|m| MemberInfo {
            id: member_id(&m.peer_urls, token),
            name: m.name.clone(),
            peer_urls: m.peer_urls.clone(),
            client_urls: if m.name == self_name {
                client_urls.to_vec()
            } else {
                Vec::new()
            },
            is_learner: false,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_etcd_for_default_flags() {
        // `etcd` with no flags reports member 8e9e05c52164694d in cluster cdf818194e3a8c32.
        let id = member_id(&["http://localhost:2380".to_string()], "etcd-cluster");
        assert_eq!(format!("{id:x}"), "8e9e05c52164694d");
        assert_eq!(format!("{:x}", cluster_id(&[id])), "cdf818194e3a8c32");
    }
}
