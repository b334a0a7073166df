//! Hostile servers, hostile surroundings and secrets (issue 13): what
//! cosinv sends, believes and prints when the other side is wrong.
//!
//! - `server`: a scripted HTTP server of canned raw answers.
//! - `answers`: bad answers, each classified and explained in the report.
//! - `local`: the run lock, report targets, `--sandbox` beside `COS_ENDPOINT`.
//! - `canaries`: known secret values never appear in anything cosinv writes.
//! - `fuzz_*`: property tests of the parsers and the emulator (proptest;
//!   `PROPTEST_CASES` runs them longer).

mod answers;
mod canaries;
mod fuzz_emulator;
mod fuzz_manifest;
mod fuzz_xml;
mod local;
mod mutate;
mod server;

use std::path::Path;
use std::process::Command;

pub(crate) use crate::support::{read_report, rows_of, run, stderr};

pub const SECRET_ID: &str = "AKIDhostiletests";
pub const SECRET_KEY: &str = "hostile-tests-secret";

/// `cosinv ARGS` with test credentials, a private lock folder in `dir`
/// and `dir` as working folder; none of this machine's COS, proxy or
/// certificate settings.
pub fn cosinv(dir: &Path, args: &[&str]) -> Command {
    let mut command = crate::support::bare_cosinv(dir, SECRET_ID, SECRET_KEY);
    command
        .env("COSINV_LOCK_DIR", dir.join("locks"))
        .current_dir(dir)
        .args(args);
    command
}
