//! The texts `--help` shows beyond the options: examples for each command,
//! the exit codes, the environment variables, and (in `apply --help`) the
//! report's columns. Kept here so that `args.rs` stays the shape of the
//! command line; tests check that they agree with the code.

pub const LONG_ABOUT: &str = "\
Provision Tencent Cloud COS bucket inventory jobs across an organisation from a manifest.

Manifests (YAML policies and jobs, CSV fleets) are checked in full before anything is sent; \
apply puts one inventory configuration per (bucket, id) with signed, rate-limited, retried \
requests and writes one report row per job.";

const EXIT_CODES: &str = "\
Exit codes:
  0        every job applied (with --dry-run: planned)
  1        some jobs failed, were skipped or cancelled: see the report
  2        invalid manifest or usage, or the run could not start (no credentials, another run
           holds the lock, the report cannot be written)
  3        the run stopped early: credentials rejected, expired or unusable, a server
           certificate refused
  130/143  interrupted by SIGINT/SIGTERM; the report has a row for every job";

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
  COSINV_LOCK_DIR the folder of the run lock files (default: the temporary folder)
  NO_COLOR        no colours in the progress bar";

const REPORT_COLUMNS: &str = "\
Report columns (one row per job, written as each job ends):
  bucket, region, id  the job
  action              what was to be done: put
  outcome             applied, failed, skipped (not sent: an earlier answer showed it would
                      fail), cancelled (the run was interrupted), dry-run
  http_status         the last HTTP status received
  error_code          COS's error code, or Timeout, ConnectError, ConnectionError,
                      TlsCertificateRefused, NoCredentials
  message             what went wrong, in words
  request_id          x-cos-request-id, for Tencent support
  attempts            requests sent for the job, retries included
  elapsed_ms          from the first wait to the end of the job
  finished_at         RFC 3339, UTC
  source              where the job was defined: file:line
Beside it, <report>.json records the run: cosinv's version, each manifest's SHA-256, the
target, shard and options, start and end, and the counts.";

const SHORT_CODES: &str = "Exit codes: 0 done, 1 some jobs failed, 2 usage or could not start, \
3 stopped early, 130/143 interrupted (`cosinv --help` says more).";

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
  cosinv plan manifests/org.yaml --output json | jq '.buckets | length'";

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
  cosinv apply manifests/org.yaml --shard $JOB_COMPLETION_INDEX/8";

const APPLY_NOTES: &str = "\
Credentials: COS_SECRET_ID/COS_SECRET_KEY (+ COS_SECURITY_TOKEN), the profile file, TKE's
OIDC role, the CVM instance role, in that order; -v says which. --help lists every variable
and the report's columns.";

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

/// `cosinv -h`.
pub fn main_after_help() -> String {
    format!("{MAIN_EXAMPLES}\n\n{SHORT_CODES}")
}

/// `cosinv --help`.
pub fn main_after_long_help() -> String {
    format!("{MAIN_EXAMPLES}\n\n{EXIT_CODES}\n\n{ENVIRONMENT}")
}

pub fn validate_after_help() -> String {
    format!("{VALIDATE_EXAMPLES}\n\n{SHORT_CODES}")
}

pub fn buckets_after_help() -> String {
    format!("{BUCKETS_EXAMPLES}\n\n{SHORT_CODES}")
}

pub fn plan_after_help() -> String {
    format!("{PLAN_EXAMPLES}\n\n{SHORT_CODES}")
}

/// `cosinv apply -h`.
pub fn apply_after_help() -> String {
    format!("{APPLY_EXAMPLES}\n\n{SHORT_CODES}\n{APPLY_NOTES}")
}

/// `cosinv apply --help`: also every code, variable and report column.
pub fn apply_after_long_help() -> String {
    format!("{APPLY_EXAMPLES}\n\n{EXIT_CODES}\n\n{ENVIRONMENT}\n\n{REPORT_COLUMNS}")
}

pub fn emulate_after_help() -> String {
    format!("{EMULATE_EXAMPLES}\n\n{SHORT_CODES}")
}

pub fn completions_after_help() -> String {
    COMPLETIONS_EXAMPLES.to_string()
}

pub fn man_after_help() -> String {
    MAN_EXAMPLES.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::exit;
    use crate::report::HEADER;

    #[test]
    fn every_exit_code_is_listed() {
        for code in [
            exit::SUCCESS,
            exit::JOBS_FAILED,
            exit::USAGE,
            exit::STOPPED,
            exit::INTERRUPTED,
            exit::TERMINATED,
        ] {
            assert!(
                EXIT_CODES.contains(&format!("{code}")),
                "exit code {code} is not in the help"
            );
        }
    }

    #[test]
    fn every_report_column_is_described() {
        for column in HEADER {
            assert!(
                REPORT_COLUMNS.contains(column),
                "{column} is not in the help"
            );
        }
    }

    #[test]
    fn the_environment_names_the_library_s_variables() {
        use crate::credentials as c;
        for var in c::SECRET_ID_VARS
            .iter()
            .chain(&c::SECRET_KEY_VARS)
            .chain(&c::TOKEN_VARS)
            .chain(&[
                c::CREDENTIALS_FILE_VAR,
                c::METADATA_ENDPOINT_VAR,
                c::STS_ENDPOINT_VAR,
            ])
            .chain(&crate::http::proxy::HTTPS_PROXY_VARS[..1])
            .chain(&crate::http::proxy::HTTP_PROXY_VARS[..1])
            .chain(&crate::http::proxy::NO_PROXY_VARS[..1])
            .chain(&[crate::cmd::lock::LOCK_DIR_VAR])
        {
            assert!(ENVIRONMENT.contains(var), "{var} is not in the help");
        }
    }
}
