//! The real binary: `cosinv` with test credentials and none of this
//! machine's COS, proxy or certificate settings, run off the runtime's
//! threads.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use cosinv::emulator::{Counters, Emulator};

use super::{SECRET_ID, SECRET_KEY};

/// Variables of this machine that would change what a run does.
const CLEARED: &[&str] = &[
    "COS_SECRET_ID",
    "COS_SECRET_KEY",
    "COS_SECURITY_TOKEN",
    "COS_ENDPOINT",
    "TENCENTCLOUD_SECRET_ID",
    "TENCENTCLOUD_SECRET_KEY",
    "TENCENTCLOUD_SESSION_TOKEN",
    "TENCENTCLOUD_CREDENTIALS_FILE",
    "TKE_REGION",
    "TKE_PROVIDER_ID",
    "TKE_ROLE_ARN",
    "TKE_WEB_IDENTITY_TOKEN_FILE",
    "TKE_IDENTITY_TOKEN_FILE",
    "COSINV_STS_ENDPOINT",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// `cosinv apply` with test credentials, locks, state and HOME in `dir`,
/// and `args`.
pub(crate) fn cosinv(dir: &Path, args: &[&str]) -> Command {
    subcommand(dir, "apply", args)
}

/// `cosinv SUBCOMMAND` with test credentials, locks, state and HOME in
/// `dir`, and `args`.
pub(crate) fn subcommand(dir: &Path, name: &str, args: &[&str]) -> Command {
    let mut command = bare_cosinv(dir, SECRET_ID, SECRET_KEY);
    command.arg(name).args(args);
    command
}

/// The binary with `id` and `key` as credentials, locks, state and HOME in
/// `dir`, and none of this machine's COS, proxy or certificate settings.
/// The metadata service is a closed port on 127.0.0.1, so that a test that
/// takes the credentials away never asks the real one.
pub(crate) fn bare_cosinv(dir: &Path, id: &str, key: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cosinv"));
    for var in CLEARED {
        command.env_remove(var);
    }
    command
        .env("COS_SECRET_ID", id)
        .env("COS_SECRET_KEY", key)
        .env("COSINV_LOCK_DIR", dir)
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("HOME", dir)
        .env("COSINV_METADATA_ENDPOINT", "http://127.0.0.1:9/")
        .stdin(Stdio::null());
    command
}

/// `cosinv SUBCOMMAND MANIFEST --endpoint EMULATOR EXTRA...`.
pub(crate) fn on_emulator(
    dir: &Path,
    name: &str,
    manifest: &Path,
    emulator: &Emulator,
    extra: &[&str],
) -> Command {
    let endpoint = emulator.endpoint();
    let mut args = vec![manifest.to_str().unwrap(), "--endpoint", &endpoint];
    args.extend_from_slice(extra);
    subcommand(dir, name, &args)
}

/// `cosinv apply MANIFEST --endpoint EMULATOR --report REPORT EXTRA...`.
pub(crate) fn apply_to(
    dir: &Path,
    manifest: &Path,
    emulator: &Emulator,
    report: &Path,
    extra: &[&str],
) -> Command {
    let mut args = vec!["--report", report.to_str().unwrap()];
    args.extend_from_slice(extra);
    on_emulator(dir, "apply", manifest, emulator, &args)
}

/// Requests of `method` the emulator answered, whatever the status.
pub(crate) fn requests(counters: &Counters, method: &str) -> u64 {
    counters
        .requests
        .iter()
        .filter(|((m, _), _)| m == method)
        .map(|(_, count)| count)
        .sum()
}

/// Runs `command` to its end on a blocking thread, so the emulator in
/// this process goes on answering it.
pub(crate) async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}
