//! Property tests of the manifest loaders, through `cosinv::plan::load` on
//! real files: arbitrary bytes and mutated copies of the example manifests
//! (`manifests/`) never panic; they load or are refused with problems.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::mutate;

/// YAML syntax and manifest vocabulary, spliced in by the mutator.
const YAML_TOKENS: &[&[u8]] = &[
    b"\n",
    b"\r\n",
    b"  ",
    b"- ",
    b": ",
    b":",
    b"#",
    b"'",
    b"\"",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b"&a ",
    b"*a",
    b"<<: *a\n",
    b"!!binary ",
    b"!tag ",
    b"? ",
    b"|\n",
    b">-\n",
    b"---\n",
    b"...\n",
    b"~",
    b"null",
    b"{bucket}",
    b"${bucket}",
    b"{id}",
    b"{region}",
    b"buckets_file: ../../etc/passwd\n",
    b"buckets_file: buckets\n",
    b"policy: daily-full\n",
    b"region: ap-guangzho\n",
    b"id: \n",
    b"version: 2\n",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\x00",
    b"\t",
    b"\x1b[31m",
    b"99999999999999999999999",
];

/// CSV syntax and column vocabulary.
const CSV_TOKENS: &[&[u8]] = &[
    b",",
    b"\n",
    b"\r\n",
    b"\r",
    b"\"",
    b"\"\"",
    b",,,,,,,,",
    b"ap-guangzhou",
    b"daily-full",
    b"x-1250000000",
    b"owner",
    b"#notes",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\x00",
    b"\x1b[31m",
];

/// The example manifests, copied into a folder of their own.
fn example(dir: &Path) -> (PathBuf, PathBuf) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
    std::fs::create_dir_all(dir.join("buckets")).unwrap();
    for name in ["org.yaml", "fleet.csv", "buckets/media.txt"] {
        std::fs::copy(source.join(name), dir.join(name)).unwrap();
    }
    (dir.join("org.yaml"), dir.join("fleet.csv"))
}

fn seed(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("manifests")
            .join(name),
    )
    .unwrap()
}

/// Loads; a panic fails the case, a refusal is an answer.
fn load(files: &[PathBuf]) {
    let _ = cosinv::plan::load(files);
}

proptest! {
    // Each case writes and reads files: fewer cases in the short pass.
    #![proptest_config(mutate::config(64))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let dir = tempfile::tempdir().unwrap();
        for name in ["m.yaml", "m.csv"] {
            let path = dir.path().join(name);
            std::fs::write(&path, &bytes).unwrap();
            load(&[path]);
        }
    }

    #[test]
    fn mutated_yaml_never_panics(edits in mutate::edits()) {
        let dir = tempfile::tempdir().unwrap();
        let (yaml, csv) = example(dir.path());
        std::fs::write(&yaml, mutate::apply(&seed("org.yaml"), &edits, YAML_TOKENS)).unwrap();
        load(&[yaml, csv]);
    }

    #[test]
    fn mutated_csv_never_panics(edits in mutate::edits()) {
        let dir = tempfile::tempdir().unwrap();
        let (yaml, csv) = example(dir.path());
        std::fs::write(&csv, mutate::apply(&seed("fleet.csv"), &edits, CSV_TOKENS)).unwrap();
        load(&[yaml, csv]);
    }

    #[test]
    fn mutated_bucket_lists_never_panic(edits in mutate::edits()) {
        let dir = tempfile::tempdir().unwrap();
        let (yaml, csv) = example(dir.path());
        let list = dir.path().join("buckets/media.txt");
        std::fs::write(&list, mutate::apply(&seed("buckets/media.txt"), &edits, CSV_TOKENS)).unwrap();
        load(&[yaml, csv]);
    }
}
