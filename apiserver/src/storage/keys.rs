//! The `/registry/...` key layout of kube-apiserver 1.20 and etcd range helpers.
//!
//! `object_key` = `/registry/<prefix>/<ns>/<name>` (namespaced) or
//! `/registry/<prefix>/<name>`; list prefixes end with `/`. The per-resource
//! prefix comes from the resource table (`minions` for nodes, etc.).

/// Root prefix of every object (kube-apiserver's `--etcd-prefix` default).
pub const ROOT: &str = "/registry";

/// Key of one object.
pub fn object_key(prefix: &str, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{ROOT}/{prefix}/{ns}/{name}"),
        None => format!("{ROOT}/{prefix}/{name}"),
    }
}

/// Prefix (with trailing `/`) for a list: all namespaces or one.
pub fn list_prefix(prefix: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("{ROOT}/{prefix}/{ns}/"),
        None => format!("{ROOT}/{prefix}/"),
    }
}

/// etcd range end for "every key starting with `prefix`" (clientv3.GetPrefixRangeEnd).
pub fn prefix_range_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff (or empty): range to the end of the keyspace.
    vec![0]
}

/// A path segment Kubernetes accepts as a name in a key (path.IsValidPathSegmentName).
pub fn valid_path_segment(name: &str) -> Result<(), String> {
    if name == "." || name == ".." {
        return Err(format!("may not be '{name}'"));
    }
    for bad in ["/", "%"] {
        if name.contains(bad) {
            return Err(format!("may not contain '{bad}'"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_kube_apiserver_layout() {
        assert_eq!(object_key("pods", Some("default"), "web"), "/registry/pods/default/web");
        assert_eq!(object_key("minions", None, "n1"), "/registry/minions/n1");
        assert_eq!(
            object_key("services/specs", Some("kube-system"), "dns"),
            "/registry/services/specs/kube-system/dns"
        );
        assert_eq!(list_prefix("pods", None), "/registry/pods/");
        assert_eq!(list_prefix("pods", Some("a")), "/registry/pods/a/");
    }

    #[test]
    fn range_end_increments_last_byte() {
        assert_eq!(prefix_range_end(b"/registry/pods/"), b"/registry/pods0".to_vec());
        assert_eq!(prefix_range_end(&[b'a', 0xff]), b"b".to_vec());
        assert_eq!(prefix_range_end(&[0xff]), vec![0]);
    }

    #[test]
    fn path_segments_reject_traversal() {
        assert!(valid_path_segment("..").is_err());
        assert!(valid_path_segment("a/b").is_err());
        assert!(valid_path_segment("ok-name").is_ok());
    }
}
