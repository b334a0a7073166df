//! One `cosinv apply` at a time per manifest set.
//!
//! A nightly cron run that is still going when the next one starts must not
//! race it: both would PUT the same configurations and each would report
//! the other's throttling. The lock is an advisory `flock` on a file in the
//! temporary directory named after the manifests (canonical paths) and the
//! shard, so different manifests and different shards run side by side.
//! The operating system releases it when the process ends, however it ends,
//! so a crashed run never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

use crate::plan::Shard;

/// Overrides the folder of lock files (default: the temporary directory).
pub const LOCK_DIR_VAR: &str = "COSINV_LOCK_DIR";

/// Another run holds the lock, or the lock file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another `cosinv apply` of the same manifests{shard} is still running ({holder}; \
         lock file {path}); runs of one manifest must not overlap: wait for it to finish, \
         or schedule runs further apart"
    )]
    Held {
        path: PathBuf,
        holder: String,
        shard: String,
    },
    #[error("cannot use the lock file {path}: {source}; set {LOCK_DIR_VAR} to a writable folder")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the manifest {path}: {source}")]
    Manifest {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held for as long as it lives.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    _file: File,
}

impl RunLock {
    /// Takes the lock for `manifests` (and `shard`, e.g. `"3/8"`), in the
    /// folder named by [`LOCK_DIR_VAR`] or the temporary directory.
    pub fn acquire(manifests: &[PathBuf], shard: Option<Shard>) -> Result<RunLock, LockError> {
        let folder = std::env::var_os(LOCK_DIR_VAR)
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        Self::acquire_in(&folder, manifests, shard)
    }

    pub fn acquire_in(
        folder: &Path,
        manifests: &[PathBuf],
        shard: Option<Shard>,
    ) -> Result<RunLock, LockError> {
        let path = folder.join(format!("cosinv-{}.lock", lock_key(manifests, shard)?));
        let io_error = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    holder: holder_of(&mut file),
                    path,
                    shard: shard.map(|s| format!(" (shard {s})")).unwrap_or_default(),
                });
            }
            Err(TryLockError::Error(source)) => return Err(io_error(source)),
        }
        record_holder(&mut file).map_err(io_error)?;
        Ok(RunLock { path, _file: file })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A short stable name for the manifest set: SHA-1 of the sorted canonical
/// paths and the shard. The same files named differently (`./a.yaml`,
/// `/srv/a.yaml`) share a lock.
fn lock_key(manifests: &[PathBuf], shard: Option<Shard>) -> Result<String, LockError> {
    let mut paths = Vec::with_capacity(manifests.len());
    for manifest in manifests {
        let canonical = manifest
            .canonicalize()
            .map_err(|source| LockError::Manifest {
                path: manifest.clone(),
                source,
            })?;
        paths.push(canonical);
    }
    paths.sort();
    paths.dedup();
    let mut hasher = Sha1::new();
    for path in &paths {
        hasher.update(path.as_os_str().as_encoded_bytes());
        hasher.update(b"\n");
    }
    // The parsed shard, so `3/8` and ` 3 / 8` share a lock.
    let shard = shard.map(|shard| shard.to_string()).unwrap_or_default();
    hasher.update(shard.as_bytes());
    Ok(hex::encode(&hasher.finalize()[..8]))
}

fn record_holder(file: &mut File) -> std::io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    writeln!(
        file,
        "pid {} since {}",
        std::process::id(),
        jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ")
    )?;
    file.flush()
}

fn holder_of(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.take(200).read_to_string(&mut text);
    match text.trim() {
        "" => "holder unknown".to_string(),
        holder => holder.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, "version: 1\n").unwrap();
        path
    }

    #[test]
    fn a_second_run_of_the_same_manifests_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().unwrap();
        let a = manifest(dir.path(), "a.yaml");
        let b = manifest(dir.path(), "b.csv");
        let first = RunLock::acquire_in(dir.path(), &[a.clone(), b.clone()], None).unwrap();
        // Same files in another order and spelling: same lock.
        let respelled = dir.path().join(".").join("a.yaml");
        let err = RunLock::acquire_in(dir.path(), &[b.clone(), respelled], None).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("still running"), "{message}");
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        drop(first);
        RunLock::acquire_in(dir.path(), &[a, b], None).unwrap();
    }

    #[test]
    fn other_manifests_and_other_shards_run_side_by_side() {
        let dir = tempfile::tempdir().unwrap();
        let a = manifest(dir.path(), "a.yaml");
        let b = manifest(dir.path(), "b.yaml");
        let _a = RunLock::acquire_in(dir.path(), std::slice::from_ref(&a), None).unwrap();
        let _b = RunLock::acquire_in(dir.path(), &[b], None).unwrap();
        let _shard0 =
            RunLock::acquire_in(dir.path(), std::slice::from_ref(&a), "0/2".parse().ok()).unwrap();
        let _shard1 = RunLock::acquire_in(dir.path(), &[a], "1/2".parse().ok()).unwrap();
    }

    #[test]
    fn a_missing_manifest_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err =
            RunLock::acquire_in(dir.path(), &[dir.path().join("nope.yaml")], None).unwrap_err();
        assert!(err.to_string().contains("nope.yaml"), "{err}");
    }
}
