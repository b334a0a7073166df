//! Manifests shared by the integration tests and the benchmarks (which
//! include this file with `#[path]`).

use std::path::{Path, PathBuf};

/// A manifest of `ids` jobs on each of `buckets` buckets, written to `dir`
/// (`org.yaml` and `buckets.txt`).
pub fn write_manifest(dir: &Path, buckets: usize, ids: usize) -> PathBuf {
    let names: String = (0..buckets)
        .map(|i| format!("b{i:05}-1250000000\n"))
        .collect();
    std::fs::write(dir.join("buckets.txt"), names).unwrap();
    let mut yaml = String::from(
        "version: 1\n\
         defaults:\n  region: ap-guangzhou\n\
         policies:\n  base:\n    enabled: true\n    included_object_versions: All\n    \
         schedule: Daily\n    optional_fields: [Size, ETag]\n    destination:\n      \
         bucket: inventory-1250000000\n      prefix: \"inventory/{bucket}\"\n      format: CSV\n\
         jobs:\n",
    );
    for id in 0..ids {
        yaml.push_str(&format!(
            "  - id: job-{id}\n    policy: base\n    buckets_file: buckets.txt\n"
        ));
    }
    let path = dir.join("org.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}
