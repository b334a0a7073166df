//! The shape of the command line (clap).
//!
//! Every value is parsed here into the type the library takes — counts as
//! `NonZero`, rates as [`Rate`], shards as [`Shard`], timeouts as
//! [`Duration`], secrets as [`SecretString`] — so a bad value is refused by
//! clap with the flag's name, before anything runs, and nothing below
//! checks it again. The help texts (examples, exit codes, environment
//! variables, report columns) are in [`help`].

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

use super::help;
use crate::emulator::{self, Fraction};
use crate::http::ResolveRule;
use crate::manifest::ReadOptions;
use crate::model::{BucketPattern, Region, RegionPolicy};
use crate::pace::limits::Rate;
use crate::plan::Shard;

#[derive(Debug, Parser)]
#[command(
    name = "cosinv",
    version,
    about = "Provision Tencent Cloud COS bucket inventory jobs across an organisation from a manifest",
    long_about = help::LONG_ABOUT,
    after_help = help::main_after_help(),
    after_long_help = help::main_after_long_help()
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests and report every problem at once, without contacting COS
    #[command(after_help = help::validate_after_help())]
    Validate(ValidateArgs),
    /// Show, per bucket, the inventory jobs that apply would put
    #[command(
        after_help = help::plan_after_help(),
        after_long_help = help::plan_after_long_help()
    )]
    Plan(PlanArgs),
    /// List the account's buckets (GET Service, every page), filtered by region and name
    #[command(
        after_help = help::buckets_after_help(),
        after_long_help = help::buckets_after_long_help()
    )]
    Buckets(BucketsArgs),
    /// Put the planned inventory jobs on COS and write a report CSV
    #[command(
        after_help = help::apply_after_help(),
        after_long_help = help::apply_after_long_help(),
        mut_arg("files", |files| files.required(false).required_unless_present("plan"))
    )]
    Apply(ApplyArgs),
    /// Print a saved plan (plan --out) as plan prints it
    #[command(after_help = help::show_after_help())]
    Show(ShowArgs),
    /// Start a one-time inventory (POST) per planned job, now; write a report CSV
    #[command(after_help = help::run_now_after_help())]
    RunNow(RunNowArgs),
    /// Check that COS delivered each job's newest inventory report, whole and on time
    #[command(after_help = help::deliveries_after_help())]
    Deliveries(DeliveriesArgs),
    /// Run a local COS-compatible server for tests and rehearsals
    #[command(after_help = help::emulate_after_help())]
    Emulate(EmulateArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(after_help = help::completions_after_help())]
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write one per command to a folder
    #[command(after_help = help::man_after_help())]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Manifest files (YAML policies and jobs, CSV fleets); their jobs merge
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// What reading manifests may accept beyond the defaults; shared by
/// validate, plan and apply.
#[derive(Debug, Args)]
#[command(next_help_heading = "Manifests")]
pub struct ReadArgs {
    /// Accept this region although cosinv does not know it (one COS opened after this release); repeatable
    #[arg(long, value_name = "NAME", value_parser = parse_region)]
    pub allow_region: Vec<Region>,
    /// Let buckets_file name a file outside the manifest's folder
    #[arg(long)]
    pub allow_buckets_file_outside: bool,
}

impl ReadArgs {
    pub fn options(&self) -> ReadOptions {
        ReadOptions {
            regions: RegionPolicy::allowing(self.allow_region.clone()),
            allow_buckets_file_outside: self.allow_buckets_file_outside,
        }
    }
}

#[derive(Debug, Args)]
pub struct BucketsArgs {
    /// Only buckets in this region (repeatable); with exactly one, that region's endpoint is asked
    #[arg(long, value_name = "REGION", value_parser = parse_region)]
    pub region: Vec<Region>,
    // In `help`, not a doc comment: rustdoc would read `[abc]` as a link.
    #[arg(
        long = "match",
        value_name = "GLOB",
        help = "Only buckets whose name matches this glob (*, ?, [abc], {a,b}), e.g. 'media-*'"
    )]
    pub matches: Option<BucketPattern>,
    /// Leave out buckets whose name matches this glob (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<BucketPattern>,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Text, value_name = "FORMAT")]
    pub output: ListFormat,
    /// List this member account's buckets (an APPID under accounts: in --manifest), or all: the caller's and every member's
    #[arg(long, value_name = "APPID", requires = "manifest")]
    pub account: Option<String>,
    /// A manifest whose accounts: say how to reach each account (repeatable)
    #[arg(long, value_name = "FILE")]
    pub manifest: Vec<PathBuf>,
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub display: DisplayArgs,
}

/// How `cosinv buckets` writes the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns: name, region, creation date
    Text,
    /// bucket,region,creation_date with a header row (a buckets_file needs only the first two)
    Csv,
    /// One JSON document: {"schema_version":1,"buckets":[{"bucket","region","creation_date"}]}
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// How lines on stderr are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Plain lines; without a terminal, each starts with an RFC 3339 UTC time
    Text,
    /// One JSON object per line (time, level, message, fields), for log shippers
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
    #[command(flatten)]
    pub select: SelectArgs,
    /// Show every change, however many (text output collapses past 200)
    #[arg(long)]
    pub detail: bool,
    /// Exit 0 when nothing would change, 2 when changes are pending, 1 on error
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Read each destination bucket's policy and warn about jobs whose reports COS may not write (a hint: a delivery is the proof, see deliveries)
    #[arg(long)]
    pub check_destinations: bool,
    /// Also save the plan to PLAN, with each bucket's live state, for apply --plan (needs the refresh)
    #[arg(long, value_name = "PLAN", conflicts_with = "no_refresh")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub reconcile: ReconcileArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub display: DisplayArgs,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Delete without asking: the answer to --prune's confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Read each destination bucket's policy first and warn about jobs whose reports COS may not write (a hint: a delivery is the proof, see deliveries)
    #[arg(long)]
    pub check_destinations: bool,
    /// Apply a saved plan (plan --out) instead of manifests: its changes, on buckets unchanged since the plan.
    /// Exits 1 if a bucket changed since (its jobs skipped); exits 2, sending nothing, if the plan is for another target or schema version, corrupt, edited or over 256 MiB
    #[arg(long, value_name = "PLAN", conflicts_with_all = ["files", "from_report", "shard", "prune", "no_refresh", "check_destinations"])]
    pub plan: Option<PathBuf>,
    #[command(flatten)]
    pub reconcile: ReconcileArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A saved plan, written by plan --out
    pub plan: PathBuf,
    /// Output format; json is the plan's document with its saved header
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Show every change, however many (text output collapses past 200)
    #[arg(long)]
    pub detail: bool,
}

#[derive(Debug, Args)]
pub struct RunNowArgs {
    /// The one-time ids' suffix: JOB_ID-SUFFIX [default: the run's start, UTC, yyyymmddTHHMMSS]
    #[arg(long, value_name = "SUFFIX")]
    pub id_suffix: Option<String>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    /// Manifest files (YAML policies and jobs, CSV fleets); their jobs merge
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output on stdout
    #[arg(long, value_enum, default_value_t = DeliveriesFormat::Text, value_name = "FORMAT")]
    pub output: DeliveriesFormat,
    /// Judge the reports' age as of this time, RFC 3339 (e.g. 2026-12-07T01:00:00Z) [default: now]
    #[arg(long, value_name = "TIME")]
    pub now: Option<jiff::Timestamp>,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Check the one-time jobs this run-now report submitted, under their one-time ids
    #[arg(long, value_name = "REPORT")]
    pub from_report: Option<PathBuf>,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub display: DisplayArgs,
}

/// How `cosinv deliveries` writes what it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeliveriesFormat {
    /// A line per job not delivered, then counts by status and by destination
    Text,
    /// A row per job: bucket,id,status,latest,reason,destination,location,frequency
    Csv,
    /// One JSON document: {"schema_version":1,"now","jobs":[…],"counts":{…}}
    Json,
}

/// Which buckets of the manifests a command works on: plan, apply,
/// run-now and deliveries alike.
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Only the buckets of shard K of N (K from 0), e.g. --shard $JOB_COMPLETION_INDEX/8
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Only the buckets of this account (the APPID their names end in); repeatable
    #[arg(long, value_name = "APPID", value_parser = crate::run::accounts::parse_appid)]
    pub account: Vec<String>,
}

/// What apply and run-now share: manifests, selection, report, connection, output.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Manifest files (YAML policies and jobs, CSV fleets); their jobs merge
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Where to write the report CSV; - for standard output [default: cosinv-report-RUN_ID.csv in $COSINV_REPORT_DIR or the working folder, e.g. cosinv-report-20261207T020000Z-3f9a0c21.csv; none with --dry-run]
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Send only the jobs that did not apply in this earlier report (the manifests still decide what each job puts)
    #[arg(long, value_name = "REPORT")]
    pub from_report: Option<PathBuf>,
    /// With --from-report: go on although the manifests (or buckets files) are not those the earlier run read
    #[arg(long, requires = "from_report")]
    pub allow_changed_manifests: bool,
    /// Plan without sending anything (no reads, no deletes); writes a report only with --report
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// At the end, print one JSON document about the run on stdout (schema in docs/operations.md)
    #[arg(long, value_enum, default_value_t = OutputFormat::Text, value_name = "FORMAT", help_heading = "Output")]
    pub output: OutputFormat,
    /// Lines on stderr: text (timestamped without a terminal) or one JSON object per line
    #[arg(long, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT", help_heading = "Output")]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub display: DisplayArgs,
}

/// How live state is read and used; shared by plan and apply.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Read what is on each bucket first and send only what differs (the default)
    #[arg(long, overrides_with = "no_refresh")]
    pub refresh: bool,
    /// Do not read live state: put every job as it is (blind)
    #[arg(long, overrides_with = "refresh")]
    pub no_refresh: bool,
    /// Delete live inventory ids the manifests do not list, on the buckets they cover
    #[arg(long)]
    pub prune: bool,
    /// With --prune, delete only ids starting with PREFIX
    #[arg(long, value_name = "PREFIX", requires = "prune")]
    pub prune_prefix: Option<String>,
}

impl ReconcileArgs {
    /// Refresh unless --no-refresh (the last of the two given wins).
    pub fn refreshes(&self) -> bool {
        !self.no_refresh
    }
}

/// Where requests go and how fast; shared by every command that talks to COS.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection")]
pub struct ConnectArgs {
    /// Send every request to this address, keeping the virtual-hosted Host header [env: COS_ENDPOINT]
    // Read from the environment by `cmd::connect`, not by clap: clap would
    // count the variable as the flag and refuse `--sandbox` beside it.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Allow a plain http:// endpoint that is not a loopback address
    #[arg(long)]
    pub allow_http: bool,
    /// Trust only the CA certificates in this PEM file (private CAs, TLS-inspecting proxies)
    #[arg(long, value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,
    /// Connect to ADDR for NAME (a host, or *.domain), keeping the name for Host, SNI and the certificate check
    #[arg(long, value_name = "NAME=ADDR")]
    pub resolve: Vec<ResolveRule>,
    /// Run against a COS emulator in this process (no credentials needed; its state is kept
    /// between runs in --sandbox-state)
    #[arg(long, conflicts_with_all = ["endpoint", "ca_bundle", "resolve"])]
    pub sandbox: bool,
    /// The sandbox's state file [default: $XDG_STATE_HOME/cosinv/sandbox.json]
    #[arg(long, value_name = "FILE", requires = "sandbox")]
    pub sandbox_state: Option<PathBuf>,
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
    /// Attempts per request, the first included
    #[arg(long, default_value = "8", value_name = "N")]
    pub max_attempts: NonZeroU32,
    /// Seconds before one request is abandoned (and retried)
    #[arg(long, default_value = "30", value_name = "SECS", value_parser = parse_seconds)]
    pub request_timeout: Duration,
    /// While COS fails every request the run pauses and probes; with no answer for this long it stops (exit 3) [examples: 90, 90s, 5m, 1h]
    #[arg(long, default_value = "5m", value_name = "TIME", value_parser = parse_span)]
    pub give_up_after: Duration,
}

/// What a run shows on stderr.
#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct DisplayArgs {
    /// More detail on stderr: -v where credentials come from and each failed job, -vv every retry
    #[arg(long, short = 'v', action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors and the final summary on stderr
    #[arg(long, short = 'q', conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write cosinv.1 and one page per command (cosinv-apply.1, …) to this folder instead
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
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
    /// Member accounts (APPID, UIN, keys, roles and their trust) from this JSON file; docs/operations.md
    #[arg(long, value_name = "FILE")]
    pub organisation: Option<PathBuf>,
    /// Serve HTTPS with a certificate from a throwaway CA made at start
    #[arg(long)]
    pub tls: bool,
    /// With --tls, where to write the CA certificate [default: ca.pem in a private folder of the temporary folder, removed when the emulator stops]
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub ca_file: Option<PathBuf>,
    /// At start, deliver a report dated DATE (YYYYMMDD) for every enabled configuration, as COS would
    #[arg(long, value_name = "DATE", value_parser = emulator::parse_delivery_date)]
    pub deliver_on: Option<jiff::civil::Date>,
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
    /// Fault: seconds of requests the ceilings let through at once [default: 1]
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub rate_limit_burst: Option<Duration>,
    /// Fault: 503 SlowDown to every K-th request, whatever the pace
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    pub slow_down_every: Option<u32>,
    /// Fault: 500 InternalError to every K-th request
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    pub internal_error_every: Option<u32>,
    /// Fault: send Retry-After: SECS with 503 and 429 answers
    #[arg(long, value_name = "SECS")]
    pub retry_after: Option<u64>,
    /// Fault: the global ceiling over time, SECS:RATE,… after start (e.g. 0:40,30:200,60:40)
    #[arg(long, value_name = "SCHEDULE", value_parser = parse_rate_schedule)]
    pub rate_limit_schedule: Option<RateSchedule>,
    /// Fault: the service is down from START to END seconds after start (e.g. 10..20)
    #[arg(long, value_name = "START..END", value_parser = parse_window)]
    pub outage: Option<(f64, f64)>,
    /// Fault: during --outage, answer 503 ServiceUnavailable or refuse connections
    #[arg(long, value_enum, default_value_t = OutageModeArg::Unavailable, requires = "outage")]
    pub outage_mode: OutageModeArg,
    /// Seed of the fault generator: the same seed, the same faults
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// A parsed `--rate-limit-schedule`.
pub type RateSchedule = Vec<(Duration, f64)>;

fn parse_rate_schedule(text: &str) -> Result<RateSchedule, String> {
    emulator::parse_rate_schedule(text).map_err(|err| err.to_string())
}

/// `START..END` seconds, checked as an outage window.
fn parse_window(text: &str) -> Result<(f64, f64), String> {
    let outage = emulator::parse_outage(text, emulator::OutageMode::Unavailable)
        .map_err(|err| err.to_string())?;
    Ok((outage.start.as_secs_f64(), outage.end.as_secs_f64()))
}

/// `--outage-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutageModeArg {
    /// Every answer is 503 ServiceUnavailable
    Unavailable,
    /// Nothing listens: connections are refused
    Refuse,
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

/// A positive time: seconds (`90`), or with units (`90s`, `5m`, `1h30m`).
fn parse_span(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if let Ok(seconds) = parse_seconds(trimmed) {
        return Ok(seconds);
    }
    let span: jiff::SignedDuration = trimmed
        .parse()
        .map_err(|_| format!("{text:?} is not a time such as 90, 90s, 5m or 1h30m"))?;
    Duration::try_from(span)
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| format!("{text} must be a positive time"))
}

/// A region in COS's form; whether COS has it is the operator's word.
fn parse_region(text: &str) -> Result<Region, String> {
    Region::parse(text.trim()).map_err(|err| err.message)
}

/// Any text; kept in a type whose `Debug` never shows it.
fn parse_secret(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// clap's own checks of the definition; the command line's behaviour
    /// is tested through it in `tests/it/cli.rs`.
    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
