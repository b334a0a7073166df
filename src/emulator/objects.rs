//! Objects on the emulator's buckets: what its deliveries wrote (and
//! tests planted), served by GET Bucket, GET and HEAD Object. Kept in
//! memory only: reports are re-delivered, never carried across restarts.
//!
//! For rehearsals and tests, reads of chosen buckets' objects can be
//! refused with 403 `AccessDenied` ([`Objects::refuse_reads`]): a
//! destination whose policy lets COS write the reports but not cosinv
//! read them, which `cosinv deliveries` must call `unreadable`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::cos::listing::{ObjectEntry, ObjectListing};

/// One object as stored.
#[derive(Debug, Clone)]
pub(crate) struct Object {
    pub body: Bytes,
    /// `LastModified`, ISO 8601 in UTC.
    pub last_modified: String,
    /// The MD5 of the body in quotes, as COS's ETag of a simple upload.
    pub etag: String,
}

/// One listing asked for.
pub(crate) struct ListAsk<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub marker: Option<&'a str>,
    pub max_keys: usize,
}

/// Every bucket's objects by key (byte order, as COS lists them).
#[derive(Default)]
pub(crate) struct Objects {
    buckets: Mutex<HashMap<String, BTreeMap<String, Object>>>,
    /// Buckets whose objects are not to be read (listed, got or headed).
    refused: Mutex<BTreeSet<String>>,
}

impl Objects {
    pub(crate) fn put(&self, bucket: &str, key: &str, body: Bytes, now: u64) {
        let etag = format!("\"{}\"", crate::cos::report::md5_hex(&body));
        let at = jiff::Timestamp::from_second(now as i64).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let object = Object {
            body,
            last_modified: at.strftime("%Y-%m-%dT%H:%M:%S.000Z").to_string(),
            etag,
        };
        let mut buckets = self.buckets.lock();
        let keys = buckets.entry(bucket.to_string()).or_default();
        keys.insert(key.to_string(), object);
    }

    pub(crate) fn get(&self, bucket: &str, key: &str) -> Option<Object> {
        self.buckets.lock().get(bucket)?.get(key).cloned()
    }

    pub(crate) fn remove(&self, bucket: &str, key: &str) -> bool {
        let mut buckets = self.buckets.lock();
        buckets
            .get_mut(bucket)
            .is_some_and(|keys| keys.remove(key).is_some())
    }

    /// Refuses reads of exactly these buckets' objects from now on (none:
    /// every bucket readable again). Writes, the deliveries', still land.
    pub(crate) fn refuse_reads(&self, buckets: impl IntoIterator<Item = String>) {
        *self.refused.lock() = buckets.into_iter().collect();
    }

    /// Whether reads of `bucket`'s objects are refused.
    pub(crate) fn reads_refused(&self, bucket: &str) -> bool {
        self.refused.lock().contains(bucket)
    }

    /// How many objects are kept, on every bucket.
    pub(crate) fn count(&self) -> usize {
        self.buckets.lock().values().map(BTreeMap::len).sum()
    }

    /// One GET Bucket page: keys under the prefix after the marker (a
    /// marker that is a common prefix skips every key under it), those
    /// with the delimiter past the prefix rolled up, at most `max_keys`
    /// entries.
    pub(crate) fn list(&self, bucket: &str, ask: &ListAsk<'_>) -> ObjectListing {
        let mut page = ObjectListing {
            prefix: ask.prefix.to_string(),
            ..ObjectListing::default()
        };
        let buckets = self.buckets.lock();
        let Some(keys) = buckets.get(bucket) else {
            return page;
        };
        let start = match ask.marker {
            Some(marker) if marker >= ask.prefix => Bound::Excluded(marker.to_string()),
            _ => Bound::Included(ask.prefix.to_string()),
        };
        let skipped = ask
            .marker
            .filter(|m| ask.delimiter.is_some_and(|d| m.ends_with(d)));
        let mut entries = 0;
        let mut last = None;
        for (key, object) in keys.range((start, Bound::Unbounded)) {
            if !key.starts_with(ask.prefix) {
                break;
            }
            if skipped.is_some_and(|marker| key.starts_with(marker)) {
                continue;
            }
            let rest = &key[ask.prefix.len()..];
            let rolled = ask.delimiter.and_then(|d| {
                rest.find(d)
                    .map(|at| &key[..ask.prefix.len() + at + d.len()])
            });
            if let Some(common) = rolled
                && page.common_prefixes.last().is_some_and(|l| l == common)
            {
                continue;
            }
            if entries == ask.max_keys {
                page.is_truncated = true;
                page.next_marker = last;
                return page;
            }
            entries += 1;
            match rolled {
                Some(common) => {
                    page.common_prefixes.push(common.to_string());
                    last = Some(common.to_string());
                }
                None => {
                    page.objects.push(ObjectEntry {
                        key: key.clone(),
                        size: object.body.len() as u64,
                        last_modified: object.last_modified.clone(),
                        etag: object.etag.clone(),
                    });
                    last = Some(key.clone());
                }
            }
        }
        page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planted() -> Objects {
        let objects = Objects::default();
        for key in [
            "p/a/20261201/manifest.json",
            "p/a/20261201/manifest.checksum",
            "p/a/20261202/manifest.json",
            "p/a/20261203/manifest.json",
            "p/a/top.txt",
            "p/b/20261201/manifest.json",
        ] {
            objects.put("b-1250000000", key, Bytes::from_static(b"x"), 0);
        }
        objects
    }

    #[test]
    fn folders_roll_up_and_page_by_marker() {
        let objects = planted();
        let mut ask = ListAsk {
            prefix: "p/a/",
            delimiter: Some("/"),
            marker: None,
            max_keys: 2,
        };
        let first = objects.list("b-1250000000", &ask);
        assert_eq!(first.common_prefixes, ["p/a/20261201/", "p/a/20261202/"]);
        assert!(first.is_truncated);
        ask.marker = first.next_marker.as_deref();
        let second = objects.list("b-1250000000", &ask);
        assert_eq!(second.common_prefixes, ["p/a/20261203/"]);
        assert_eq!(second.objects[0].key, "p/a/top.txt");
        assert!(!second.is_truncated && second.next_marker.is_none());
    }

    #[test]
    fn without_a_delimiter_every_key_is_listed() {
        let objects = planted();
        let ask = ListAsk {
            prefix: "p/b/",
            delimiter: None,
            marker: None,
            max_keys: 1000,
        };
        let page = objects.list("b-1250000000", &ask);
        assert_eq!(page.objects.len(), 1);
        assert!(page.common_prefixes.is_empty());
        assert!(objects.list("other-1250000000", &ask).objects.is_empty());
        assert!(objects.remove("b-1250000000", "p/b/20261201/manifest.json"));
        assert_eq!(objects.count(), 5);
    }
}
