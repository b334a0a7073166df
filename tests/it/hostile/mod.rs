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

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use cosinv::report::HEADER;

pub const SECRET_ID: &str = "AKIDhostiletests";
pub const SECRET_KEY: &str = "hostile-tests-secret";

/// `cosinv ARGS` with test credentials, a private lock folder in `dir`
/// and `dir` as working folder; every other COS variable removed.
pub fn cosinv(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cosinv"));
    for var in [
        "COS_SECRET_ID",
        "COS_SECRET_KEY",
        "COS_SECURITY_TOKEN",
        "COS_ENDPOINT",
        "TENCENTCLOUD_SECRET_ID",
        "TENCENTCLOUD_SECRET_KEY",
        "TENCENTCLOUD_SESSION_TOKEN",
    ] {
        command.env_remove(var);
    }
    let locks = dir.join("locks");
    command
        .env("COS_SECRET_ID", SECRET_ID)
        .env("COS_SECRET_KEY", SECRET_KEY)
        .env("COSINV_LOCK_DIR", &locks)
        // The sandbox keeps its state under XDG_STATE_HOME: here, not ~.
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("HOME", dir)
        .env("COSINV_METADATA_ENDPOINT", "http://127.0.0.1:9/")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null());
    command
}

pub async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// CSV text's rows as maps column → value, after checking the header.
pub fn rows_of(text: &[u8]) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_reader(text);
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(header, HEADER);
    reader
        .records()
        .map(|record| {
            header
                .iter()
                .cloned()
                .zip(record.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect()
}

pub fn read_report(path: &Path) -> Vec<BTreeMap<String, String>> {
    rows_of(&std::fs::read(path).unwrap())
}
