//! Secret canaries: the real binary runs with a SecretKey and a token of
//! known, distinctive values through success, every kind of failure and
//! every verbosity; neither value may appear in stdout, stderr, the report
//! or any file cosinv leaves in its working folder (the lock folder
//! included).

use std::path::Path;
use std::process::Output;

use cosinv::cos::xml::BucketEntry;
use cosinv::credentials::Credentials;
use cosinv::emulator::{Emulator, EmulatorConfig, Faults};

use super::server::{After, Canned, ScriptedServer};
use super::{SECRET_ID, cosinv, run, stderr};
use crate::fixtures::write_manifest;

const KEY: &str = "CanaryKey-6f1d0c9e-secret";
const TOKEN: &str = "CanaryToken-93b7a2e4-session";

async fn emulator(
    key: &str,
    token: &str,
    buckets: Option<Vec<BucketEntry>>,
    faults: Faults,
) -> Emulator {
    crate::local_emulator(EmulatorConfig {
        buckets,
        faults,
        ..EmulatorConfig::new(Credentials::new(SECRET_ID, key, Some(token.into())))
    })
    .await
}

/// Every file under `dir`, recursively.
fn files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, found);
        } else {
            found.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Every token used starts with [`TOKEN`], so searching for it finds any.
fn assert_no_canary(case: &str, output: &Output, dir: &Path) {
    let mut written = Vec::new();
    files(dir, &mut written);
    let report = written
        .iter()
        .any(|path| path.extension().is_some_and(|e| e == "csv"));
    assert!(
        report || output.status.code() == Some(2),
        "{case}: no report was written: {}",
        stderr(output)
    );
    for canary in [KEY, TOKEN] {
        assert!(
            !contains(&output.stdout, canary),
            "{case}: {canary} on stdout"
        );
        assert!(
            !contains(&output.stderr, canary),
            "{case}: {canary} on stderr"
        );
        for path in &written {
            let bytes = std::fs::read(path).unwrap();
            assert!(
                !contains(&bytes, canary),
                "{case}: {canary} in {}",
                path.display()
            );
        }
    }
}

/// `cosinv apply` of a 2-bucket manifest to `endpoint` with the canaries,
/// in a fresh folder; checked for leaks, and its exit code returned.
async fn apply_with_canaries(case: &str, endpoint: &str, extra: &[&str]) -> Option<i32> {
    apply_with_token(case, endpoint, extra, TOKEN).await
}

async fn apply_with_token(case: &str, endpoint: &str, extra: &[&str], token: &str) -> Option<i32> {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 2, 2);
    let mut args = vec!["apply", manifest.to_str().unwrap(), "--endpoint", endpoint];
    args.extend_from_slice(&["--report", "report.csv", "--max-attempts", "2"]);
    args.extend_from_slice(extra);
    let mut command = cosinv(dir.path(), &args);
    command
        .env("COS_SECRET_KEY", KEY)
        .env("COS_SECURITY_TOKEN", token)
        .env("RUST_BACKTRACE", "1");
    let output = run(command).await;
    assert_no_canary(case, &output, dir.path());
    output.status.code()
}

const VERBOSITY: [&[&str]; 3] = [&[], &["-v"], &["-vv"]];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_leak_from_cos_answers() {
    let ok = emulator(KEY, TOKEN, None, Faults::default()).await;
    let no_bucket = emulator(KEY, TOKEN, Some(Vec::new()), Faults::default()).await;
    let broken = Faults {
        internal_error: 1.0,
        ..Faults::default()
    };
    let down = emulator(KEY, TOKEN, None, broken).await;
    let other_key = emulator("another-key", TOKEN, None, Faults::default()).await;
    let other_token = emulator(KEY, "another-token", None, Faults::default()).await;
    let cases = [
        ("success", &ok, Some(0)),
        ("404 NoSuchBucket", &no_bucket, Some(1)),
        ("500 InternalError", &down, Some(1)),
        // Rejected credentials stop the run early: exit 3 (a refused token is
        // a bucket-level AccessDenied here: exit 1).
        ("SignatureDoesNotMatch", &other_key, Some(3)),
        ("token refused", &other_token, Some(1)),
    ];
    for (case, emulator, code) in cases {
        for verbosity in VERBOSITY {
            let case = format!("{case} {verbosity:?}");
            let got = apply_with_canaries(&case, &emulator.endpoint(), verbosity).await;
            assert_eq!(got, code, "{case}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_leak_from_broken_servers() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    for verbosity in VERBOSITY {
        let got = apply_with_canaries("connection refused", &closed, verbosity).await;
        assert_eq!(got, Some(1));
    }
    let elsewhere = ScriptedServer::start(Vec::new()).await;
    let location = format!("{}/", elsewhere.endpoint());
    let mut huge = b"HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\n".to_vec();
    huge.extend(std::iter::repeat_n(b'z', 5 << 20));
    let answers = [
        (
            "redirect",
            Canned::http("307 Temporary Redirect", &[("Location", &location)], b""),
        ),
        ("huge body", Canned::raw(huge, After::Close)),
        (
            "reset mid-body",
            Canned::raw(
                b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nab".to_vec(),
                After::Reset,
            ),
        ),
        (
            "escape codes",
            Canned::cos_error("400 Bad Request", "X\u{1b}[2J", "\u{1b}]0;title\u{7}"),
        ),
        (
            "html 502",
            Canned::http("502 Bad Gateway", &[], b"<html>bad gateway</html>"),
        ),
    ];
    for (case, canned) in answers {
        for verbosity in VERBOSITY {
            let server = ScriptedServer::start(vec![canned.clone(); 8]).await;
            let got = apply_with_canaries(case, &server.endpoint(), verbosity).await;
            assert_eq!(got, Some(1), "{case} {verbosity:?}");
        }
    }
    assert!(elsewhere.received().is_empty(), "a redirect was followed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_cannot_be_sent_is_never_shown() {
    // A token read from a Kubernetes secret file often ends in a newline,
    // which no header may carry. Whatever cosinv does about it, it must
    // not print the token.
    let ok = emulator(KEY, TOKEN, None, Faults::default()).await;
    for token in [format!("{TOKEN}\n"), format!("{TOKEN}\r\nX-Injected: 1")] {
        for verbosity in VERBOSITY {
            apply_with_token("unsendable token", &ok.endpoint(), verbosity, &token).await;
        }
    }
}
