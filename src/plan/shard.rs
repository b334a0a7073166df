//! Shards: a stable partition of buckets, so N hosts (a Kubernetes
//! Indexed Job) each apply a disjoint part of one manifest.

use std::fmt;
use std::str::FromStr;

use crate::model::BucketName;

/// Shard K of N (K from 0): a stable partition of buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// FNV-1a (64-bit) of the bucket name, modulo N: the same bucket lands
    /// in the same shard on every host, run and version of cosinv.
    pub fn contains(&self, bucket: &BucketName) -> bool {
        shard_of(bucket.as_str(), self.count) == self.index
    }
}

/// The shard (of `count`) that `bucket` belongs to.
pub fn shard_of(bucket: &str, count: u32) -> u32 {
    (fnv1a64(bucket.as_bytes()) % u64::from(count.max(1))) as u32
}

/// 64-bit FNV-1a: tiny, fast on short names, and fixed by its
/// specification (std's hasher is randomised per process).
fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// Text that is not `K/N` with `0 <= K < N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is not a shard; write K/N with 0 <= K < N, e.g. 0/4 \
     (in a Kubernetes Indexed Job: $JOB_COMPLETION_INDEX/N)"
)]
pub struct ShardError {
    pub text: String,
}

impl FromStr for Shard {
    type Err = ShardError;
    fn from_str(text: &str) -> Result<Self, ShardError> {
        let bad = || ShardError {
            text: text.to_string(),
        };
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let index: u32 = index.trim().parse().map_err(|_| bad())?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_its_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn shards_are_pinned_forever() {
        // Changing these would move buckets between hosts of a fleet.
        let pinned = [
            ("photos-1250000000", 8, 5),
            ("logs-1250000000", 8, 3),
            ("b00042-1250000000", 100, 98),
        ];
        for (bucket, count, shard) in pinned {
            assert_eq!(shard_of(bucket, count), shard, "{bucket} of {count}");
        }
    }

    #[test]
    fn shard_parsing_explains_the_form() {
        assert_eq!("3/8".parse::<Shard>(), Ok(Shard { index: 3, count: 8 }));
        for bad in ["8/8", "1/0", "x/2", "2", "-1/3", ""] {
            let err = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(err.contains("K/N"), "{bad}: {err}");
        }
    }
}
