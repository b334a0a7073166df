//! Command-line arguments and dispatch.
//!
//! This module owns the shape of the command line (clap) and the mapping of
//! each subcommand's outcome to an exit code. The work itself lives in the
//! library modules, so tests and benches call the same code a user runs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit;

#[derive(Debug, Parser)]
#[command(
    name = "cosinv",
    version,
    about = "Provision Tencent Cloud COS bucket inventory jobs across an organisation from a manifest",
    long_about = "Provision Tencent Cloud COS bucket inventory jobs across an organisation from a manifest.\n\n\
        Exit codes: 0 all jobs done, 1 some jobs failed, 2 invalid manifest or usage, \
        130/143 interrupted by SIGINT/SIGTERM."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests and report every problem at once, without contacting COS
    Validate(ValidateArgs),
    /// Show, per bucket, the inventory jobs that apply would put
    Plan(PlanArgs),
    /// Put the planned inventory jobs on COS and write a report CSV
    Apply(ApplyArgs),
    /// Run a local COS-compatible server for tests and rehearsals
    Emulate(EmulateArgs),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Manifest files (YAML policies and jobs, CSV fleets); their jobs merge
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Manifest files (YAML policies and jobs, CSV fleets); their jobs merge
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output format; json is stable and machine-readable
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Only the buckets of shard K of N (K from 0), e.g. --shard $JOB_COMPLETION_INDEX/8
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Manifest files (YAML policies and jobs, CSV fleets); their jobs merge
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Where to write the report CSV [default: cosinv-report-YYYYMMDDTHHMMSSZ.csv, UTC]
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Requests in flight at once, across all buckets
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub concurrency: usize,
    /// Requests in flight at once on one bucket
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub bucket_concurrency: usize,
    /// Requests per second across all buckets [default: unlimited]
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Requests per second to one bucket [default: unlimited]
    #[arg(long, value_name = "R")]
    pub bucket_rate: Option<f64>,
    /// Attempts per job, the first included
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub max_attempts: u32,
    /// Seconds before one request is abandoned (and retried)
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub request_timeout: f64,
    /// Plan and write the report without sending anything
    #[arg(long)]
    pub dry_run: bool,
    /// Only the buckets of shard K of N (K from 0)
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Send every request to this address, keeping the virtual-hosted Host header
    #[arg(long, env = "COS_ENDPOINT", value_name = "URL")]
    pub endpoint: Option<String>,
    /// Allow a plain http:// endpoint that is not a loopback address
    #[arg(long)]
    pub allow_http: bool,
    /// Run against an in-process emulator on 127.0.0.1 (no credentials needed)
    #[arg(long, conflicts_with = "endpoint")]
    pub sandbox: bool,
    /// Answer yes to any prompt
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// More detail on stderr (repeat for more)
    #[arg(long, short = 'v', action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors and the final summary on stderr
    #[arg(long, short = 'q', conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct EmulateArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:9000", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// SecretId the emulator accepts
    #[arg(long, env = "COS_SECRET_ID", hide_env_values = true)]
    pub secret_id: Option<String>,
    /// SecretKey the emulator accepts (prefer the environment variable)
    #[arg(long, env = "COS_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<Secret>,
    /// Security token the emulator requires, for temporary credentials
    #[arg(long, env = "COS_SECURITY_TOKEN", hide_env_values = true)]
    pub security_token: Option<Secret>,
    /// Only these buckets exist (one per line, optional ,region); others get 404 NoSuchBucket
    #[arg(long, value_name = "FILE")]
    pub buckets_file: Option<PathBuf>,
    /// Keep the configurations in this JSON file across restarts
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Fault: milliseconds added to every answer
    #[arg(long, default_value_t = 0, value_name = "MS", help_heading = "Faults")]
    pub latency_ms: u64,
    /// Fault: up to this many more milliseconds, drawn at random
    #[arg(long, default_value_t = 0, value_name = "MS", help_heading = "Faults")]
    pub latency_jitter_ms: u64,
    /// Fault: fraction of requests answered 503 SlowDown
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "FRACTION",
        help_heading = "Faults"
    )]
    pub slow_down: f64,
    /// Fault: fraction of requests answered 500 InternalError
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "FRACTION",
        help_heading = "Faults"
    )]
    pub internal_error: f64,
    /// Fault: fraction of requests answered 429
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "FRACTION",
        help_heading = "Faults"
    )]
    pub too_many_requests: f64,
    /// Fault: fraction of connections dropped without an answer
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "FRACTION",
        help_heading = "Faults"
    )]
    pub reset: f64,
    /// Fault: fraction of requests never answered
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "FRACTION",
        help_heading = "Faults"
    )]
    pub hang: f64,
    /// Fault: requests per second above which every answer is 503 SlowDown
    #[arg(long, value_name = "R", help_heading = "Faults")]
    pub rate_limit: Option<f64>,
    /// Fault: the same ceiling, per bucket
    #[arg(long, value_name = "R", help_heading = "Faults")]
    pub bucket_rate_limit: Option<f64>,
    /// Fault: send Retry-After: SECS with 503 and 429 answers
    #[arg(long, value_name = "SECS", help_heading = "Faults")]
    pub retry_after: Option<u64>,
    /// Seed of the fault generator: the same seed, the same faults
    #[arg(long, default_value_t = 0, help_heading = "Faults")]
    pub seed: u64,
}

/// A secret given on the command line: its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Secret(text.to_string()))
    }
}

/// Runs the command line of this process and returns its exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCESS
            });
        }
    };
    ExitCode::from(run(cli))
}

/// Runs a parsed command line; each subcommand's module owns its command.
pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Validate(args) => crate::plan::run_validate(&args),
        Command::Plan(args) => crate::plan::run_plan(&args),
        Command::Apply(args) => crate::apply::run_command(&args),
        Command::Emulate(args) => crate::emulator::run_command(&args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parsed_secrets_never_show_in_debug() {
        let cli = Cli::try_parse_from([
            "cosinv",
            "emulate",
            "--secret-id",
            "AKIDx",
            "--secret-key",
            "hunter2",
            "--security-token",
            "tok-secret",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("tok-secret"),
            "{shown}"
        );
        let Command::Emulate(args) = cli.command else {
            panic!("parsed {shown}");
        };
        assert_eq!(args.secret_key.unwrap().expose(), "hunter2");
    }

    #[test]
    fn help_lists_every_subcommand() {
        let help = Cli::command().render_help().to_string();
        for name in ["validate", "plan", "apply", "emulate"] {
            assert!(help.contains(name), "{help}");
        }
    }
}
