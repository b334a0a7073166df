//! The shape of the command line (clap).
//!
//! Every value is parsed here into the type the library takes — counts as
//! `NonZero`, rates as [`Rate`], shards as [`Shard`], timeouts as
//! [`Duration`], secrets as [`SecretString`] — so a bad value is refused by
//! clap with the flag's name, before anything runs, and nothing below
//! checks it again.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

use crate::emulator::Fraction;
use crate::executor::rate::Rate;
use crate::plan::Shard;

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
    pub shard: Option<Shard>,
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
    #[arg(long, default_value = "64", value_name = "N")]
    pub concurrency: NonZeroUsize,
    /// Requests in flight at once on one bucket
    #[arg(long, default_value = "1", value_name = "N")]
    pub bucket_concurrency: NonZeroUsize,
    /// Requests per second across all buckets [default: unlimited]
    #[arg(long, value_name = "R")]
    pub rate: Option<Rate>,
    /// Requests per second to one bucket [default: unlimited]
    #[arg(long, value_name = "R")]
    pub bucket_rate: Option<Rate>,
    /// Attempts per job, the first included
    #[arg(long, default_value = "8", value_name = "N")]
    pub max_attempts: NonZeroU32,
    /// Seconds before one request is abandoned (and retried)
    #[arg(long, default_value = "30", value_name = "SECS", value_parser = parse_seconds)]
    pub request_timeout: Duration,
    /// Plan and write the report without sending anything
    #[arg(long)]
    pub dry_run: bool,
    /// Only the buckets of shard K of N (K from 0)
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Send every request to this address, keeping the virtual-hosted Host header [env: COS_ENDPOINT]
    // Read from the environment by `apply`, not by clap: clap would count
    // the variable as the flag and refuse `--sandbox` beside it.
    #[arg(long, value_name = "URL")]
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
    #[arg(long, env = "COS_SECRET_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub secret_key: Option<SecretString>,
    /// Security token the emulator requires, for temporary credentials
    #[arg(long, env = "COS_SECURITY_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub security_token: Option<SecretString>,
    /// Only these buckets exist (one per line, optional ,region); others get 404 NoSuchBucket
    #[arg(long, value_name = "FILE")]
    pub buckets_file: Option<PathBuf>,
    /// Keep the configurations in this JSON file across restarts
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    #[command(flatten)]
    pub faults: FaultArgs,
}

/// `cosinv emulate`'s injected faults.
#[derive(Debug, Args)]
#[command(next_help_heading = "Faults")]
pub struct FaultArgs {
    /// Fault: milliseconds added to every answer
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub latency_ms: u64,
    /// Fault: up to this many more milliseconds, drawn at random
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub latency_jitter_ms: u64,
    /// Fault: fraction of requests answered 503 SlowDown
    #[arg(long, default_value = "0", value_name = "FRACTION")]
    pub slow_down: Fraction,
    /// Fault: fraction of requests answered 500 InternalError
    #[arg(long, default_value = "0", value_name = "FRACTION")]
    pub internal_error: Fraction,
    /// Fault: fraction of requests answered 429
    #[arg(long, default_value = "0", value_name = "FRACTION")]
    pub too_many_requests: Fraction,
    /// Fault: fraction of connections dropped without an answer
    #[arg(long, default_value = "0", value_name = "FRACTION")]
    pub reset: Fraction,
    /// Fault: fraction of requests never answered
    #[arg(long, default_value = "0", value_name = "FRACTION")]
    pub hang: Fraction,
    /// Fault: requests per second above which every answer is 503 SlowDown
    #[arg(long, value_name = "R")]
    pub rate_limit: Option<Rate>,
    /// Fault: the same ceiling, per bucket
    #[arg(long, value_name = "R")]
    pub bucket_rate_limit: Option<Rate>,
    /// Fault: send Retry-After: SECS with 503 and 429 answers
    #[arg(long, value_name = "SECS")]
    pub retry_after: Option<u64>,
    /// Seed of the fault generator: the same seed, the same faults
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// A positive, finite number of seconds.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(format!("{text} must be a positive number of seconds"));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text} seconds is too long"))
}

/// Any text; kept in a type whose `Debug` never shows it.
fn parse_secret(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use secrecy::ExposeSecret;

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
        assert_eq!(args.secret_key.unwrap().expose_secret(), "hunter2");
    }

    #[test]
    fn help_lists_every_subcommand() {
        let command = Cli::command();
        let names: Vec<&str> = command.get_subcommands().map(|s| s.get_name()).collect();
        assert_eq!(names, ["validate", "plan", "apply", "emulate"]);
        let help = Cli::command().render_help().to_string();
        for name in names {
            let listed = help
                .lines()
                .any(|line| line.trim_start().starts_with(&format!("{name} ")));
            assert!(listed, "{name} is not in the list of commands:\n{help}");
        }
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_name() {
        let cases: [&[&str]; 7] = [
            &["--concurrency", "0"],
            &["--bucket-concurrency", "0"],
            &["--max-attempts", "0"],
            &["--rate", "0"],
            &["--bucket-rate=-1"],
            &["--request-timeout", "NaN"],
            &["--shard", "8/8"],
        ];
        for flags in cases {
            let mut line = vec!["cosinv", "apply", "m.yaml"];
            line.extend_from_slice(flags);
            let err = Cli::try_parse_from(&line).unwrap_err().to_string();
            let flag = flags[0].split('=').next().unwrap();
            assert!(err.contains(flag), "{flags:?}: {err}");
        }
    }

    #[test]
    fn good_values_arrive_typed() {
        let cli = Cli::try_parse_from([
            "cosinv",
            "apply",
            "m.yaml",
            "--concurrency",
            "8",
            "--rate",
            "2.5",
            "--request-timeout",
            "0.5",
            "--shard",
            " 3 / 8 ",
        ])
        .unwrap();
        let Command::Apply(args) = cli.command else {
            panic!("not apply");
        };
        assert_eq!(args.concurrency.get(), 8);
        assert_eq!(args.rate.unwrap().get(), 2.5);
        assert_eq!(args.request_timeout, Duration::from_millis(500));
        assert_eq!(args.shard.unwrap().to_string(), "3/8");
    }
}
