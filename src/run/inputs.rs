//! What a run reads, hashed as it is loaded (before anything is sent or
//! opened for writing): the manifests, the buckets files they name and
//! the earlier report of a rerun. The sidecar records the digests, and a
//! report path that is one of these files is refused, so a run can never
//! overwrite its own input.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::error::RunError;
use crate::manifest::FileDigest;
use crate::plan::LoadSummary;
use crate::report::run::ManifestDigest;

/// The files a run reads, with their digests.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub manifests: Vec<ManifestDigest>,
    pub buckets_files: Vec<ManifestDigest>,
    /// Every input with what it is, for the overwrite check.
    files: Vec<(PathBuf, &'static str)>,
}

impl Inputs {
    /// The manifests and buckets files `summary` says were read, with the
    /// digests taken as they were read; `previous` is the earlier report
    /// of a rerun, if any.
    pub fn of(summary: &LoadSummary, previous: Option<&Path>) -> Inputs {
        let mut files: Vec<(PathBuf, &'static str)> = Vec::new();
        let manifests = summary
            .manifests
            .iter()
            .map(|read| (read.path.clone(), "a manifest"));
        files.extend(manifests);
        let buckets = summary.buckets_files.iter();
        files.extend(buckets.map(|read| (read.path.clone(), "a buckets file")));
        files.extend(previous.map(|path| (path.to_path_buf(), "the earlier report")));
        Inputs {
            manifests: summary.manifests.iter().map(recorded).collect(),
            buckets_files: summary.buckets_files.iter().map(recorded).collect(),
            files,
        }
    }

    /// A saved plan, the one input of its apply (recorded among the
    /// manifests: it stands for those it was made from).
    pub fn of_saved_plan(file: &FileDigest) -> Inputs {
        Inputs {
            manifests: vec![recorded(file)],
            buckets_files: Vec::new(),
            files: vec![(file.path.clone(), "the saved plan")],
        }
    }

    /// Refuses a report at `report` (or its sidecar beside it) that is one
    /// of the inputs: the same file however it is named (links, `./`),
    /// compared by device and inode. A report path that does not exist
    /// yet cannot be an input.
    pub fn refuse_as_report(&self, report: &Path) -> Result<(), RunError> {
        let sidecar = crate::report::run::sidecar_path(report);
        for written in [report, sidecar.as_path()] {
            let Some(target) = identity(written) else {
                continue;
            };
            for (input, what) in &self.files {
                if identity(input) == Some(target) {
                    return Err(RunError::ReportIsInput {
                        report: written.to_path_buf(),
                        input: input.clone(),
                        what,
                    });
                }
            }
        }
        Ok(())
    }
}

impl Inputs {
    /// Refuses a rerun of `report` whose manifests or buckets files are
    /// not those the earlier run read, as its sidecar records them: the
    /// report's jobs would then not be the manifests' jobs, and work could
    /// silently drop out. A report without its sidecar cannot be checked.
    pub fn check_previous(&self, report: &Path) -> Result<(), RunError> {
        let sidecar = crate::report::run::sidecar_path(report);
        let unrecorded = || RunError::PreviousUnrecorded {
            sidecar: sidecar.clone(),
        };
        let text = std::fs::read(&sidecar).map_err(|_| unrecorded())?;
        let record: serde_json::Value = serde_json::from_slice(&text).map_err(|_| unrecorded())?;
        let earlier: Vec<(String, String)> = ["manifests", "buckets_files"]
            .iter()
            .filter_map(|key| record.get(key)?.as_array())
            .flatten()
            .filter_map(|file| {
                let path = file.get("path")?.as_str()?.to_string();
                Some((path, file.get("sha256")?.as_str()?.to_string()))
            })
            .collect();
        let now: Vec<&ManifestDigest> = self.manifests.iter().chain(&self.buckets_files).collect();
        let mut changed: Vec<String> = now
            .iter()
            .filter(|file| !earlier.iter().any(|(_, sha)| *sha == file.sha256))
            .map(|file| file.path.display().to_string())
            .collect();
        changed.extend(
            earlier
                .iter()
                .filter(|(_, sha)| !now.iter().any(|file| file.sha256 == *sha))
                .map(|(path, _)| format!("{path} (read by the earlier run)")),
        );
        match changed.is_empty() {
            true => Ok(()),
            false => Err(RunError::ManifestsChanged {
                report: report.to_path_buf(),
                changed,
            }),
        }
    }
}

/// A file as read, as the sidecar records it.
fn recorded(read: &FileDigest) -> ManifestDigest {
    ManifestDigest {
        path: read.path.clone(),
        sha256: read.sha256.clone(),
        bytes: read.bytes,
    }
}

/// The file at `path` (through links), as device and inode.
fn identity(path: &Path) -> Option<(u64, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.dev(), metadata.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_that_is_an_input_is_refused_however_it_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("org.yaml");
        let buckets = dir.path().join("media.txt");
        let previous = dir.path().join("earlier.csv");
        for file in [&manifest, &buckets, &previous] {
            std::fs::write(file, "x\n").unwrap();
        }
        let read = |path: &PathBuf| FileDigest::of_bytes(path, b"x\n");
        let summary = LoadSummary {
            manifests: vec![read(&manifest)],
            buckets_files: vec![read(&buckets)],
            ..LoadSummary::default()
        };
        let inputs = Inputs::of(&summary, Some(&previous));
        assert_eq!(inputs.buckets_files.len(), 1);
        let linked = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&buckets, &linked).unwrap();
        for (report, what) in [
            (manifest.clone(), "a manifest"),
            (
                dir.path().join(".").join("earlier.csv"),
                "the earlier report",
            ),
            (linked, "a buckets file"),
        ] {
            let err = inputs.refuse_as_report(&report).unwrap_err();
            assert!(err.to_string().contains(what), "{err}");
        }
        // A sidecar that would land on an input is refused too.
        let sidecar_of = dir.path().join("org.yaml.json");
        std::fs::rename(&manifest, &sidecar_of).unwrap();
        let summary = LoadSummary {
            manifests: vec![read(&sidecar_of)],
            ..summary
        };
        let inputs = Inputs::of(&summary, None);
        assert!(inputs.refuse_as_report(&manifest).is_err());
        assert!(inputs.refuse_as_report(&dir.path().join("new.csv")).is_ok());
    }
}
