//! What a run asks the command line: the run lock before it connects,
//! watching SIGINT and SIGTERM from its first request, and `--prune`'s
//! question (unless `--yes`), read off the runtime so that Ctrl-C still
//! counts while it waits.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use futures_util::future::LocalBoxFuture;

use super::args::RunArgs;
use super::lock;
use super::log::Log;
use super::signals;
use super::text::count;
use crate::cos::text::printable;
use crate::run::lock::RunLock;
use crate::run::observe::{Caller, CallerError, Deletion};
use crate::run::settings::StopTokens;

impl<'a> Questions<'a> {
    /// `locked`: what the run lock is for (the manifests, or a saved plan).
    pub fn new(
        args: &'a RunArgs,
        locked: &'a [PathBuf],
        yes: bool,
        log: &'a Log,
        stop: StopTokens,
    ) -> Self {
        Questions {
            args,
            locked,
            yes,
            log,
            stop,
            lock: None,
            signal: Arc::default(),
        }
    }

    /// The first signal's exit code, 0 while none has come.
    pub fn signal(&self) -> u8 {
        self.signal.load(Ordering::Relaxed)
    }

    /// The ids a prune would delete, the first ten by name (as the
    /// server sent them, made printable).
    fn show_deletes(&self, deletes: &[Deletion]) {
        self.log.warn(&format!(
            "cosinv apply: --prune would delete {} not in the manifests, e.g.:",
            count(deletes.len() as u64, "inventory job", "inventory jobs")
        ));
        for deletion in deletes.iter().take(10) {
            let (bucket, id) = (printable(&deletion.bucket), printable(&deletion.id));
            self.log.warn(&format!("  - {bucket} {id}"));
        }
    }
}

/// What the run asks the command line.
pub struct Questions<'a> {
    args: &'a RunArgs,
    /// `--yes`: delete without asking.
    yes: bool,
    log: &'a Log,
    stop: StopTokens,
    /// Held until the run ends; none for a dry run or a sandbox (they
    /// change nothing on COS, so there is nothing to race).
    lock: Option<RunLock>,
    /// The first signal's exit code, 0 while none has come.
    signal: Arc<AtomicU8>,
    locked: &'a [PathBuf],
}

impl Caller for Questions<'_> {
    fn before_connecting(&mut self) -> Result<(), CallerError> {
        self.lock = Some(lock::acquire(self.locked, self.args.select.shard)?);
        Ok(())
    }

    fn before_sending(&mut self) {
        let (cancel, force) = (self.stop.cancel.clone(), self.stop.force.clone());
        self.signal = signals::watch_run(cancel, force, self.log.clone());
    }

    /// With `--yes`, yes; else asks on the terminal. The answer is read
    /// on a thread of its own, so Ctrl-C (which stops the run) still
    /// counts while the question waits: it is a "no".
    fn confirm_deletes<'a>(&'a mut self, deletes: &'a [Deletion]) -> LocalBoxFuture<'a, bool> {
        Box::pin(async move {
            if self.yes {
                return true;
            }
            self.show_deletes(deletes);
            eprint!("Delete them? Type yes to go on: ");
            let answer = tokio::task::spawn_blocking(|| {
                let mut answer = String::new();
                let _ = std::io::stdin().read_line(&mut answer);
                answer
            });
            tokio::select! {
                answer = answer => answer.is_ok_and(|answer| answer.trim().eq_ignore_ascii_case("yes")),
                _ = self.stop.cancel.cancelled() => {
                    eprintln!();
                    false
                }
            }
        })
    }
}
