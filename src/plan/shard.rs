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
    /// `0/1`: one shard of one, the whole plan, the same as no shard.
    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// Whether `bucket` is in this shard (see [`shard_of`]).
    pub fn contains(&self, bucket: &BucketName) -> bool {
        shard_of(bucket.as_str(), self.count) == self.index
    }
}

/// The shard (of `count`) that `bucket` belongs to: FNV-1a (64-bit) of the
/// name, mixed by splitmix64's finaliser, modulo `count`. The same bucket
/// lands in the same shard on every host and run, and must in every
/// version.
///
/// cosinv 0.1 used FNV-1a alone. Its low bits depend only on the low bits
/// of each byte, so patterned names split badly (`teamNNNN-logsNNNN`:
/// 1000/0/1000/0 over 4 shards). The finaliser spreads every input bit
/// over every output bit; adopting it moved buckets between shards once,
/// deliberately, before the first release. It must never change again (see
/// the pinned values in the tests). murmur3's `fmix64` was tried first and
/// left a visible bias modulo 3 on names one character apart.
pub fn shard_of(bucket: &str, count: u32) -> u32 {
    (mix64(fnv1a64(bucket.as_bytes())) % u64::from(count.max(1))) as u32
}

/// splitmix64's output function (Stafford's "Mix13"): an invertible mix
/// in which each input bit flips each output bit with probability close to
/// one half.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
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
    fn mix64_is_splitmix64s_output_function() {
        // splitmix64 seeded with 0 starts 0xe220a8397b1dcdaf,
        // 0x6e789e6aa1b965f4: the mix of one and two golden gammas.
        const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
        assert_eq!(mix64(GAMMA), 0xe220_a839_7b1d_cdaf);
        assert_eq!(mix64(GAMMA.wrapping_mul(2)), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(mix64(0), 0);
    }

    #[test]
    fn shards_are_pinned_forever() {
        // Changing these moves buckets between the hosts of a fleet. They
        // were moved once, on purpose, when the finaliser was added (see
        // `shard_of`); never again.
        let pinned = [
            ("photos-1250000000", 8, 7),
            ("logs-1250000000", 8, 6),
            ("b00042-1250000000", 100, 84),
            ("inventory-1250000000", 16, 15),
            ("a-1250000000", 2, 0),
            ("examplebucket-1250000000", 3, 1),
        ];
        for (bucket, count, shard) in pinned {
            assert_eq!(shard_of(bucket, count), shard, "{bucket} of {count}");
        }
    }

    /// Names an organisation really has: numbered, numbered appids, the
    /// number twice, and names one character apart.
    fn patterned_names() -> Vec<(&'static str, Vec<String>)> {
        let numbered = (0..2_000).map(|i| format!("b{i:05}-1250000000")).collect();
        let appids = (0..2_000)
            .map(|i| format!("data-{}", 1_250_000_000 + i))
            .collect();
        let twice = (0..2_000)
            .map(|i| format!("team{i:04}-logs{i:04}-1250000000"))
            .collect();
        let mut one_character = std::collections::BTreeSet::new();
        for base in ["photos", "inventory-logs", "a1b2c3", "web-static"] {
            for (at, old) in base.char_indices().filter(|(_, c)| *c != '-') {
                for new in ('a'..='z').chain('0'..='9') {
                    let mut name = base.to_string();
                    name.replace_range(at..at + old.len_utf8(), &new.to_string());
                    one_character.insert(format!("{name}-1250000000"));
                }
            }
        }
        vec![
            ("b00000..b01999", numbered),
            ("data-1250000000..data-1250001999", appids),
            ("teamNNNN-logsNNNN", twice),
            ("one character apart", one_character.into_iter().collect()),
        ]
    }

    #[test]
    fn patterned_names_spread_evenly() {
        // FNV-1a alone put `teamNNNN-logsNNNN` 1000/0/1000/0 over 4 shards.
        for (pattern, names) in patterned_names() {
            for count in [2u32, 3, 4, 8, 16] {
                let mut sizes = vec![0usize; count as usize];
                for name in &names {
                    sizes[shard_of(name, count) as usize] += 1;
                }
                // Within four standard deviations of a fair split: a
                // deterministic hash either passes this or never does.
                let expected = names.len() as f64 / f64::from(count);
                let deviation = (expected * (1.0 - 1.0 / f64::from(count))).sqrt();
                for size in &sizes {
                    assert!(
                        (*size as f64 - expected).abs() <= 4.0 * deviation,
                        "{pattern} over {count} shards: {sizes:?}"
                    );
                }
            }
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
