//! One `cosinv apply` at a time per manifest set: a run that changes COS
//! takes this lock before it connects (the caller decides where the lock
//! folder is: reading the environment is its business).
//!
//! A nightly cron run that is still going when the next one starts must not
//! race it: both would PUT the same configurations and each would report
//! the other's throttling. The lock is an advisory `flock` on a file named
//! after the manifests (canonical paths) and the shard, so different
//! manifests and different shards run side by side. The operating system
//! releases it when the process ends, however it ends, so a crashed run
//! never leaves a stale lock behind.
//!
//! The lock files live in a folder of the user's own (`$XDG_RUNTIME_DIR/cosinv`,
//! else `<temp dir>/cosinv-<uid>`), created 0700 and refused unless it is a
//! real folder owned by the user that nobody else may write: in a shared
//! `/tmp`, another user could otherwise hold the lock to block the cron
//! run, or plant a symbolic link for cosinv to write through. The file is
//! opened without following symbolic links and is written only once it is
//! locked and known to be the user's own regular file.
//!
//! What it does not catch: runs of overlapping shards (`0/2` and `0/4`),
//! copies of a manifest under other paths, and runs on other hosts.

use std::fs::{DirBuilder, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

use crate::plan::Shard;

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
    #[error("cannot use the lock file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("refusing the lock folder {path}: {problem}; remove it, or use another folder")]
    UnsafeFolder { path: PathBuf, problem: Unsafe },
    #[error("refusing the lock file {path}: {problem}; remove it and run again")]
    UnsafeFile { path: PathBuf, problem: Unsafe },
    #[error("cannot read the manifest {path}: {source}")]
    Manifest {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Why a lock folder or file is not safe to use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsafe {
    #[error("it is a symbolic link")]
    SymbolicLink,
    #[error("it is not a {0}")]
    WrongKind(&'static str),
    #[error("it belongs to user {owner}, not to this user ({user})")]
    NotOwned { owner: u32, user: u32 },
    #[error("others may write to it (mode {mode:o})")]
    WritableByOthers { mode: u32 },
    #[error("it has {links} hard links")]
    HardLinked { links: u64 },
}

/// Held for as long as it lives.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    _file: File,
}

impl RunLock {
    /// Takes the lock in `folder`, creating it (0700) if it is missing.
    pub fn acquire_in(
        folder: &Path,
        manifests: &[PathBuf],
        shard: Option<Shard>,
    ) -> Result<RunLock, LockError> {
        // `--shard 0/1` is the whole plan: the lock of a run without one.
        let shard = shard.filter(|shard| !shard.is_whole());
        let key = lock_key(manifests, shard)?;
        private_folder(folder, current_user())?;
        let path = folder.join(format!("cosinv-{key}.lock"));
        let mut file = open_lock_file(&path)?;
        let io_error = |source| LockError::Io {
            path: path.clone(),
            source,
        };
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

/// The effective user id of this process.
pub fn current_user() -> u32 {
    // SAFETY: geteuid has no preconditions, cannot fail and touches no
    // memory of ours.
    unsafe { libc::geteuid() }
}

/// Creates `folder` (0700) if missing, then checks it is a real folder of
/// `user`'s that nobody else may write.
fn private_folder(folder: &Path, user: u32) -> Result<(), LockError> {
    let io_error = |source| LockError::Io {
        path: folder.to_path_buf(),
        source,
    };
    match DirBuilder::new().mode(0o700).create(folder) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(io_error(err)),
    }
    let metadata = std::fs::symlink_metadata(folder).map_err(io_error)?;
    let problem = if metadata.file_type().is_symlink() {
        Some(Unsafe::SymbolicLink)
    } else if !metadata.is_dir() {
        Some(Unsafe::WrongKind("folder"))
    } else {
        ownership_problem(&metadata, user)
    };
    match problem {
        Some(problem) => Err(LockError::UnsafeFolder {
            path: folder.to_path_buf(),
            problem,
        }),
        None => Ok(()),
    }
}

/// Owned by someone else, or writable by group or world.
fn ownership_problem(metadata: &std::fs::Metadata, user: u32) -> Option<Unsafe> {
    let mode = metadata.mode() & 0o7777;
    if metadata.uid() != user {
        Some(Unsafe::NotOwned {
            owner: metadata.uid(),
            user,
        })
    } else if mode & 0o022 != 0 {
        Some(Unsafe::WritableByOthers { mode })
    } else {
        None
    }
}

/// Opens (or creates, 0600) the lock file without following a symbolic
/// link and without truncating it, then checks it is this user's own
/// regular file with one name.
fn open_lock_file(path: &Path) -> Result<File, LockError> {
    let unsafe_file = |problem| LockError::UnsafeFile {
        path: path.to_path_buf(),
        problem,
    };
    let io_error = |source| LockError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|err| match err.raw_os_error() {
            Some(libc::ELOOP) => unsafe_file(Unsafe::SymbolicLink),
            _ => io_error(err),
        })?;
    let metadata = file.metadata().map_err(io_error)?;
    if !metadata.is_file() {
        return Err(unsafe_file(Unsafe::WrongKind("regular file")));
    }
    if let Some(problem) = ownership_problem(&metadata, current_user()) {
        return Err(unsafe_file(problem));
    }
    if metadata.nlink() != 1 {
        return Err(unsafe_file(Unsafe::HardLinked {
            links: metadata.nlink(),
        }));
    }
    Ok(file)
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

/// Replaces the holder line; called only with the lock held, on a file
/// checked to be this user's own.
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
        holder => holder.chars().filter(|c| !c.is_control()).collect(),
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
    fn one_shard_of_one_is_the_same_run_as_no_shard() {
        let dir = tempfile::tempdir().unwrap();
        let a = manifest(dir.path(), "a.yaml");
        let _whole = RunLock::acquire_in(dir.path(), std::slice::from_ref(&a), None).unwrap();
        let err = RunLock::acquire_in(dir.path(), &[a], "0/1".parse().ok()).unwrap_err();
        assert!(err.to_string().contains("still running"), "{err}");
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
    fn a_symbolic_link_is_never_followed_or_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let a = manifest(dir.path(), "a.yaml");
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        let locks = dir.path().join("locks");
        let key = lock_key(std::slice::from_ref(&a), None).unwrap();
        std::fs::create_dir(&locks).unwrap();
        std::os::unix::fs::symlink(&victim, locks.join(format!("cosinv-{key}.lock"))).unwrap();
        let err = RunLock::acquire_in(&locks, &[a], None).unwrap_err();
        assert!(
            matches!(
                &err,
                LockError::UnsafeFile {
                    problem: Unsafe::SymbolicLink,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }

    #[test]
    fn a_hard_link_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let a = manifest(dir.path(), "a.yaml");
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        let key = lock_key(std::slice::from_ref(&a), None).unwrap();
        std::fs::hard_link(&victim, dir.path().join(format!("cosinv-{key}.lock"))).unwrap();
        let err = RunLock::acquire_in(dir.path(), &[a], None).unwrap_err();
        assert!(err.to_string().contains("2 hard links"), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }

    #[test]
    fn the_folder_is_created_private_and_checked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = manifest(dir.path(), "a.yaml");
        let locks = dir.path().join("new");
        let lock = RunLock::acquire_in(&locks, std::slice::from_ref(&a), None).unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().mode() & 0o777;
        assert_eq!(mode(&locks), 0o700);
        assert_eq!(mode(lock.path()), 0o600);
        drop(lock);

        std::fs::set_permissions(&locks, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = RunLock::acquire_in(&locks, std::slice::from_ref(&a), None).unwrap_err();
        assert!(
            err.to_string()
                .contains("others may write to it (mode 777)"),
            "{err}"
        );

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        let err = RunLock::acquire_in(&link, std::slice::from_ref(&a), None).unwrap_err();
        assert!(
            matches!(
                &err,
                LockError::UnsafeFolder {
                    problem: Unsafe::SymbolicLink,
                    ..
                }
            ),
            "{err}"
        );
        let file = manifest(dir.path(), "plain-file");
        let err = RunLock::acquire_in(&file, &[a], None).unwrap_err();
        assert!(err.to_string().contains("not a folder"), "{err}");
    }

    #[test]
    fn a_folder_of_another_user_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let someone_else = current_user() + 1;
        let err = private_folder(dir.path(), someone_else).unwrap_err();
        assert!(
            matches!(
                err,
                LockError::UnsafeFolder {
                    problem: Unsafe::NotOwned { .. },
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_missing_manifest_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err =
            RunLock::acquire_in(dir.path(), &[dir.path().join("nope.yaml")], None).unwrap_err();
        assert!(err.to_string().contains("nope.yaml"), "{err}");
    }
}
