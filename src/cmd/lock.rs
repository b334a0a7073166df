//! Where the run lock lives, from the environment: `COSINV_LOCK_DIR`, else
//! the user's own folder. The lock itself is the library's
//! ([`crate::run::lock`]); this adds the hint a person needs when it
//! cannot be used.

use std::path::PathBuf;

use crate::plan::Shard;
use crate::run::lock::{LockError, RunLock};

/// Overrides the folder of lock files.
pub const LOCK_DIR_VAR: &str = "COSINV_LOCK_DIR";

/// Takes the lock for `manifests` (and `shard`) in the folder named by
/// [`LOCK_DIR_VAR`], else the user's own lock folder.
pub fn acquire(manifests: &[PathBuf], shard: Option<Shard>) -> Result<RunLock, LockFailed> {
    let folder = match std::env::var_os(LOCK_DIR_VAR).filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => default_folder(),
    };
    RunLock::acquire_in(&folder, manifests, shard).map_err(LockFailed)
}

/// `$XDG_RUNTIME_DIR/cosinv` (a per-user folder the login manager made
/// 0700), else `<temp dir>/cosinv-<uid>`.
fn default_folder() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(runtime) if runtime.is_absolute() => runtime.join("cosinv"),
        _ => std::env::temp_dir().join(format!("cosinv-{}", crate::run::lock::current_user())),
    }
}

/// The lock could not be taken, with the variable that moves it.
#[derive(Debug, thiserror::Error)]
#[error("{0}{hint}", hint = hint(.0))]
pub struct LockFailed(pub LockError);

fn hint(err: &LockError) -> String {
    match err {
        LockError::Io { .. } | LockError::UnsafeFolder { .. } => {
            format!("; set {LOCK_DIR_VAR} to a folder of your own that only you can write")
        }
        _ => String::new(),
    }
}
