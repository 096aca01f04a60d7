//! LIST for the generic store: one consistent etcd range (pinned to the
//! first page's revision), selector filtering that keeps reading until a
//! page is full, and kube-apiserver's continue tokens / remainingItemCount.

use serde_json::Value;

use super::store::Store;
use crate::error::{ApiError, Result};
use crate::registry::resources::ResourceInfo;
use crate::registry::selector::Predicate;
use crate::storage::{continue_token, keys, StorageError};

/// etcd3 store's maxLimit when selectors under-fill a page.
const MAX_PAGE: i64 = 10_000;

#[derive(Debug, Default, Clone)]
pub struct ListOptions {
    pub predicate: Predicate,
    pub limit: i64,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
}

pub struct ListResult {
    pub items: Vec<Value>,
    pub revision: i64,
    pub continue_token: Option<String>,
    pub remaining: Option<i64>,
}

impl Store {
    pub async fn list(&self, res: &ResourceInfo, ns: Option<&str>, opts: &ListOptions) -> Result<ListResult> {
        let prefix = keys::list_prefix(res.etcd_prefix, ns.filter(|n| !n.is_empty()));
        let rv_param = opts.resource_version.as_deref().filter(|s| !s.is_empty());
        let (mut start, mut rev) = match &opts.continue_token {
            Some(tok) if !tok.is_empty() => {
                if rv_param.is_some_and(|r| r != "0") {
                    return Err(ApiError::BadRequest(
                        "specifying resource version is not allowed when using continue".into(),
                    ));
                }
                continue_token::decode(tok, &prefix).map_err(ApiError::BadRequest)?
            }
            _ => {
                let rv = match rv_param {
                    None | Some("0") => 0,
                    Some(r) => {
                        let n: i64 = r
                            .parse()
                            .map_err(|_| ApiError::BadRequest(format!("invalid resource version: {r}")))?;
                        let exact = match opts.resource_version_match.as_deref() {
                            Some("Exact") => true,
                            Some("NotOlderThan") => false,
                            _ => opts.limit > 0,
                        };
                        if exact {
                            n
                        } else {
                            0
                        }
                    }
                };
                (prefix.clone(), rv)
            }
        };
        let end = keys::prefix_range_end(prefix.as_bytes());
        let limit = opts.limit.max(0);
        let mut fetch = if limit > 0 { limit } else { 0 };
        let mut items = Vec::new();
        let mut next_key: Option<String> = None;
        let mut first_count: Option<i64> = None;
        loop {
            let resp = self.etcd.range(start.as_bytes(), &end, fetch, rev).await.map_err(|e| {
                match e {
                    StorageError::Compacted { .. } if opts.continue_token.is_some() => ApiError::Gone(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.".into(),
                    ),
                    other => other.into(),
                }
            })?;
            if rev == 0 {
                rev = resp.header.as_ref().map(|h| h.revision).unwrap_or_default();
            }
            first_count.get_or_insert(resp.count);
            let n = resp.kvs.len();
            let mut last_key = None;
            for (i, kv) in resp.kvs.iter().enumerate() {
                let key = String::from_utf8_lossy(&kv.key).into_owned();
                let obj = self.decode_for(res, kv)?;
                if opts.predicate.matches(&obj) {
                    items.push(obj);
                }
                last_key = Some(key.clone());
                if limit > 0 && items.len() as i64 >= limit {
                    if i + 1 < n || resp.more {
                        next_key = Some(format!("{key}\u{0}"));
                    }
                    break;
                }
            }
            let full = limit > 0 && items.len() as i64 >= limit;
            if full || limit == 0 || !resp.more {
                break;
            }
            match last_key {
                Some(k) => start = format!("{k}\u{0}"),
                None => break,
            }
            fetch = (fetch * 2).min(MAX_PAGE);
        }
        let remaining = match (&next_key, first_count) {
            (Some(_), Some(c)) if opts.predicate.is_everything() => Some((c - limit).max(0)),
            _ => None,
        };
        let continue_token = next_key.map(|k| continue_token::encode(&k, rev, &prefix));
        Ok(ListResult {
            items,
            revision: rev,
            continue_token,
            remaining,
        })
    }
}
