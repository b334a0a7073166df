//! The texts `--help` shows beyond the options: examples for each command,
//! its own exit codes, the environment variables, and (in `apply --help`)
//! the report's columns. Kept here so that `args.rs` stays the shape of the
//! command line. Whatever the code defines is generated from it (exit codes
//! from [`exit`], actions and outcomes from [`crate::report`]), so the help
//! cannot drift from it; tests/it/docs.rs holds docs/ to the help.

use super::exit;
use crate::report::{Action, Outcome};

pub const LONG_ABOUT: &str = "\
Provision Tencent Cloud COS bucket inventory jobs across an organisation from a manifest.

Manifests (YAML policies and jobs, CSV fleets) are checked in full before anything is sent; \
apply puts one inventory configuration per (bucket, id) with signed, rate-limited, retried \
requests and writes one report row per job.";

const ENVIRONMENT: &str = "\
Environment:
  COS_SECRET_ID, COS_SECRET_KEY, COS_SECURITY_TOKEN
                  credentials (else TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY,
                  TENCENTCLOUD_SESSION_TOKEN)
  TENCENTCLOUD_CREDENTIALS_FILE
                  the profile file (else ~/.tencentcloud/credentials,
                  /etc/tencentcloud/credentials)
  TKE_REGION, TKE_PROVIDER_ID, TKE_ROLE_ARN, TKE_WEB_IDENTITY_TOKEN_FILE
                  TKE's OIDC role (tried before the CVM instance role)
  COSINV_METADATA_ENDPOINT, COSINV_STS_ENDPOINT
                  move the CVM metadata service and STS (rehearsals, tests)
  COS_ENDPOINT    as --endpoint
  HTTPS_PROXY, HTTP_PROXY, NO_PROXY
                  proxies (list 127.0.0.1,localhost in NO_PROXY for a local emulator)
  SSL_CERT_FILE, SSL_CERT_DIR
                  the system's CA certificates (--ca-bundle replaces them)
  COSINV_LOCK_DIR the folder of the run lock files (default: cosinv in $XDG_RUNTIME_DIR,
                  else cosinv-<uid> in the temporary folder)
  COSINV_REPORT_DIR
                  the folder of the reports cosinv names itself (default: the working one)
  XDG_STATE_HOME  where --sandbox keeps its state (default: ~/.local/state)
  NO_COLOR        no colours in the progress bar";

/// The commands' exit codes differ (plan's 2 is not apply's), so each
/// command's help lists its own.
const MAIN_CODES: &str = "Exit codes: each command's help lists its own (cosinv apply --help, …).";

const MAIN_EXAMPLES: &str = "\
Examples:
  cosinv validate manifests/org.yaml manifests/fleet.csv
  cosinv plan manifests/org.yaml manifests/fleet.csv --output json
  cosinv apply manifests/org.yaml manifests/fleet.csv --sandbox
  cosinv apply manifests/org.yaml manifests/fleet.csv --from-report last-night.csv
  cosinv emulate --tls --listen 127.0.0.1:9443
  cosinv completions bash > /etc/bash_completion.d/cosinv";

const VALIDATE_EXAMPLES: &str = "\
Examples:
  cosinv validate manifests/org.yaml manifests/fleet.csv
  cosinv validate manifests/*.yaml && echo ok

Every problem is reported at once, as file:line: field: message. Nothing is sent.";

const PLAN_EXAMPLES: &str = "\
Examples:
  cosinv plan manifests/org.yaml manifests/fleet.csv
  cosinv plan manifests/org.yaml --shard 3/8
  cosinv plan manifests/org.yaml --output json | jq '.buckets | length'
  cosinv plan manifests/org.yaml --out change.plan    # then apply --plan change.plan";

const BUCKETS_EXAMPLES: &str = "\
Examples:
  cosinv buckets
  cosinv buckets --region ap-guangzhou --match 'media-*' --exclude 'media-test-*'
  cosinv buckets --output csv | cut -d, -f1,2 | tail -n +2 > manifests/buckets/all.txt
  cosinv buckets --output json | jq -r '.buckets[].bucket'

Every page of GET Service is read (service.cos.myqcloud.com, or cos.<region>.myqcloud.com
with exactly one --region). A manifest job can select buckets the same way with
discover: {regions: [...], match: GLOB, exclude: [GLOB]}.";

const APPLY_EXAMPLES: &str = "\
Examples:
  cosinv apply manifests/org.yaml manifests/fleet.csv --sandbox
  cosinv apply manifests/org.yaml manifests/fleet.csv --dry-run
  cosinv apply manifests/org.yaml --report r.csv --rate 200 --bucket-rate 5
  cosinv apply manifests/org.yaml --from-report r.csv --report r-retry.csv
  cosinv apply manifests/org.yaml --output json --quiet > result.json
  cosinv apply manifests/org.yaml --ca-bundle /etc/pki/corp-ca.pem
  cosinv apply manifests/org.yaml --shard $JOB_COMPLETION_INDEX/8
  cosinv apply --plan change.plan --report r.csv";

const APPLY_NOTES: &str = "\
Credentials: COS_SECRET_ID/COS_SECRET_KEY (+ COS_SECURITY_TOKEN), the profile file, TKE's
OIDC role, the CVM instance role, in that order; -v says which. --help lists every variable
and the report's columns.";

const RUN_NOW_EXAMPLES: &str = "\
Examples:
  cosinv run-now manifests/org.yaml manifests/fleet.csv --sandbox
  cosinv run-now manifests/org.yaml --shard 0/4 --id-suffix audit-2026q4";

const EMULATE_EXAMPLES: &str = "\
Examples:
  cosinv emulate --listen 127.0.0.1:9000 --state rehearsal.json
  cosinv emulate --slow-down 0.2 --internal-error 0.05 --reset 0.02 --seed 7
  cosinv emulate --tls --listen 127.0.0.1:9443 --ca-file ca.pem
    and then: cosinv apply m.yaml --ca-bundle ca.pem --resolve '*.myqcloud.com=127.0.0.1:9443'

Without --secret-id/--secret-key (or COS_SECRET_ID/COS_SECRET_KEY) it accepts the sandbox
credentials it prints. GET /-/cosinv/counters shows the requests seen.";

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  cosinv completions bash > /etc/bash_completion.d/cosinv
  cosinv completions zsh > \"${fpath[1]}/_cosinv\"
  cosinv completions fish > ~/.config/fish/completions/cosinv.fish";

const MAN_EXAMPLES: &str = "\
Examples:
  cosinv man | man -l -
  cosinv man --out-dir /usr/local/share/man/man1";

/// The start of the report's description, before the action and outcome.
const REPORT_HEAD: &str = "\
Report columns (one row per job, written as each job ends):
  bucket, region, id  the job";

/// The rest of the report's description.
const REPORT_TAIL: &str = "  http_status         the last HTTP status received
  error_code          COS's error code, or Timeout, ConnectError, ConnectionError,
                      TlsCertificateRefused, NoCredentials, AccountUnavailable,
                      ResponseTooLarge
  message             what went wrong, in words
  request_id          x-cos-request-id, for Tencent support
  attempts            requests sent for the job, retries included
  elapsed_ms          from the first wait to the end of the job
  finished_at         RFC 3339, UTC
  source              where the job was defined: file:line
  account             the APPID the bucket's name ends in (its account)
Beside it, <report>.json records the run: cosinv's version, each manifest's SHA-256, the
target, shard and options, start and end, the counts and how COS paced the run.";

/// Where a value of the report's columns is explained, indented under it.
const VALUE_INDENT: &str = "                        ";

/// What an action means, for `apply --help`. No wildcard arm: a new action
/// must be explained before it compiles.
fn action_meaning(action: Action) -> &'static str {
    match action {
        Action::Create => "the id is not on the bucket",
        Action::Update => "the id is on the bucket with other values",
        Action::Delete => "a live id the manifests do not list (--prune)",
        Action::Unchanged => "the id is on the bucket and means the same: nothing is sent",
        Action::Put => "put blind: live state was not read (--no-refresh)",
        Action::RunNow => "a one-time inventory (run-now); its JobId in the message",
    }
}

/// What an outcome means, for `apply --help`.
fn outcome_meaning(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Applied => "COS accepted it",
        Outcome::Unchanged => "already there (action none): nothing was sent",
        Outcome::Deleted => "the pruned id was deleted",
        Outcome::Failed => "COS refused it, or every attempt failed",
        Outcome::Skipped => "not sent: an earlier answer showed it would fail",
        Outcome::Cancelled => "not finished: the run was interrupted",
        Outcome::Unknown => "sent, no answer came: COS may have made the change",
        Outcome::DryRun => "--dry-run: nothing was sent",
    }
}

/// `name` (a column) and its values, one per line with its meaning.
fn column_values<'a>(
    name: &str,
    heading: &str,
    values: impl Iterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut text = format!("  {name:<18}  {heading}");
    for (value, meaning) in values {
        text.push_str(&format!("\n{VALUE_INDENT}{value:<11}{meaning}"));
    }
    text
}

/// The report's columns, with every action and outcome the code has.
pub fn report_columns() -> String {
    let actions = Action::ALL
        .into_iter()
        .map(|action| (action.as_str(), action_meaning(action)));
    let outcomes = Outcome::ALL
        .into_iter()
        .map(|outcome| (outcome.as_str(), outcome_meaning(outcome)));
    format!(
        "{REPORT_HEAD}\n{}\n{}\n{REPORT_TAIL}",
        column_values("action", "what was to be done:", actions),
        column_values("outcome", "how the job ended:", outcomes),
    )
}

/// One command's exit codes: each line a code (or codes) and its meaning;
/// a meaning's further lines are indented under it.
fn exit_codes(codes: &[(&[u8], &str)]) -> String {
    let mut text = String::from("Exit codes:");
    for (values, meaning) in codes {
        let values: Vec<String> = values.iter().map(u8::to_string).collect();
        let mut lines = meaning.lines();
        let first = lines.next().unwrap_or_default();
        text.push_str(&format!("\n  {:<9}{first}", values.join("/")));
        for line in lines {
            text.push_str(&format!("\n           {line}"));
        }
    }
    text
}

fn validate_codes() -> String {
    exit_codes(&[
        (&[exit::SUCCESS], "every manifest is valid"),
        (&[exit::USAGE], "problems found (each on stderr), or usage"),
    ])
}

fn plan_codes() -> String {
    exit_codes(&[
        (
            &[exit::SUCCESS],
            "planned (with --detailed-exitcode: nothing would change)",
        ),
        (
            &[exit::JOBS_FAILED],
            "a bucket is over COS's limit or could not be read (with --detailed-exitcode:\n\
             any error)",
        ),
        (
            &[exit::USAGE],
            "invalid manifest or usage, or the plan could not be made (no credentials,\n\
             the reads stopped); with --detailed-exitcode: changes are pending",
        ),
    ])
}

fn buckets_codes() -> String {
    exit_codes(&[
        (&[exit::SUCCESS], "listed"),
        (
            &[exit::JOBS_FAILED],
            "COS did not give the list, or it could not be written",
        ),
        (
            &[exit::USAGE],
            "COS could not be asked (usage, no credentials, a bad endpoint)",
        ),
    ])
}

fn apply_codes() -> String {
    exit_codes(&[
        (
            &[exit::SUCCESS],
            "every job applied or already there (with --dry-run: planned)",
        ),
        (
            &[exit::JOBS_FAILED],
            "some jobs failed, were skipped, cancelled or unknown: see the report",
        ),
        (
            &[exit::USAGE],
            "invalid manifest or usage, or the run could not start (no credentials, another\n\
             run holds the lock, the report cannot be written)",
        ),
        (
            &[exit::STOPPED],
            "the run stopped early: credentials rejected, expired or unusable, a server\n\
             certificate refused, COS down past --give-up-after, or a bug in cosinv",
        ),
        (
            &[exit::REPORT_FAILED],
            "the report could not be written mid-run (a full disk): it holds every job up to\n\
             its last whole row and nothing more was sent; the summary counts the jobs\n\
             answered after that row; --from-report sends every job without a done row",
        ),
        (
            &[exit::INTERRUPTED, exit::TERMINATED],
            "interrupted by SIGINT/SIGTERM; the report has a row for every job",
        ),
    ])
}

fn show_codes() -> String {
    exit_codes(&[
        (&[exit::SUCCESS], "printed"),
        (
            &[exit::USAGE],
            "usage, or not a saved plan (unreadable, corrupt, changed, another version)",
        ),
    ])
}

/// `cosinv show --help`.
pub fn show_after_help() -> String {
    let example = "Examples:\n  cosinv show change.plan\n  cosinv show change.plan --output json";
    format!("{example}\n\n{}", show_codes())
}

fn emulate_codes() -> String {
    exit_codes(&[
        (
            &[exit::SUCCESS],
            "stopped by SIGINT or SIGTERM, its state saved",
        ),
        (
            &[exit::USAGE],
            "could not start (usage, the address is taken) or save its state",
        ),
    ])
}

fn completions_codes() -> String {
    exit_codes(&[
        (&[exit::SUCCESS], "printed"),
        (&[exit::USAGE], "usage (an unknown shell)"),
    ])
}

fn man_codes() -> String {
    exit_codes(&[
        (&[exit::SUCCESS], "written"),
        (&[exit::USAGE], "usage, or the pages could not be written"),
    ])
}

/// `cosinv -h`.
pub fn main_after_help() -> String {
    format!("{MAIN_EXAMPLES}\n\n{MAIN_CODES}")
}

/// `cosinv --help`.
pub fn main_after_long_help() -> String {
    format!("{MAIN_EXAMPLES}\n\n{MAIN_CODES}\n\n{ENVIRONMENT}")
}

pub fn validate_after_help() -> String {
    format!("{VALIDATE_EXAMPLES}\n\n{}", validate_codes())
}

pub fn buckets_after_help() -> String {
    format!("{BUCKETS_EXAMPLES}\n\n{}", buckets_codes())
}

/// `cosinv buckets --help`: also the variables.
pub fn buckets_after_long_help() -> String {
    format!("{}\n\n{ENVIRONMENT}", buckets_after_help())
}

pub fn plan_after_help() -> String {
    format!("{PLAN_EXAMPLES}\n\n{}", plan_codes())
}

/// `cosinv plan --help`: also the variables.
pub fn plan_after_long_help() -> String {
    format!("{}\n\n{ENVIRONMENT}", plan_after_help())
}

/// `cosinv apply -h`.
pub fn apply_after_help() -> String {
    format!("{APPLY_EXAMPLES}\n\n{}\n\n{APPLY_NOTES}", apply_codes())
}

/// `cosinv apply --help`: also every variable and report column.
pub fn apply_after_long_help() -> String {
    format!(
        "{APPLY_EXAMPLES}\n\n{}\n\n{ENVIRONMENT}\n\n{}",
        apply_codes(),
        report_columns()
    )
}

/// `cosinv run-now --help`: its codes are apply's.
pub fn run_now_after_help() -> String {
    format!("{RUN_NOW_EXAMPLES}\n\n{}", apply_codes())
}

const DELIVERIES_EXAMPLES: &str = "\
Examples:
  cosinv deliveries manifests/org.yaml manifests/fleet.csv || alert
  cosinv deliveries manifests/org.yaml --output json --now 2026-12-07T01:00:00Z

Statuses: delivered (the newest report within 48 h daily, 8 days weekly, 32 days
monthly, from its folder date at midnight Beijing time), late, missing, corrupt
(checksum, manifest or a listed file), unreadable (the destination refuses or is
gone), disabled (not checked).";

pub fn deliveries_after_help() -> String {
    let codes = exit_codes(&[
        (
            &[exit::SUCCESS],
            "every enabled job's newest report is delivered",
        ),
        (
            &[exit::JOBS_FAILED],
            "a job's report is late, missing, corrupt or unreadable",
        ),
        (
            &[exit::USAGE],
            "invalid manifest or usage, or COS could not be asked",
        ),
        (
            &[exit::STOPPED],
            "stopped early: credentials rejected or unusable, a server certificate\n\
             refused, or COS down past --give-up-after; the jobs not read are unreadable",
        ),
    ]);
    format!("{DELIVERIES_EXAMPLES}\n\n{codes}")
}

pub fn emulate_after_help() -> String {
    format!("{EMULATE_EXAMPLES}\n\n{}", emulate_codes())
}

pub fn completions_after_help() -> String {
    format!("{COMPLETIONS_EXAMPLES}\n\n{}", completions_codes())
}

pub fn man_after_help() -> String {
    format!("{MAN_EXAMPLES}\n\n{}", man_codes())
}
