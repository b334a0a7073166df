//! `cosinv emulate`: serve until SIGINT or SIGTERM.

use std::io::Write;
use std::time::Duration;

use crate::cli::EmulateArgs;
use crate::credentials::Credentials;
use crate::exit;
use crate::xml::BucketEntry;

use super::{Emulator, EmulatorConfig, Faults, SANDBOX_SECRET_ID, SANDBOX_SECRET_KEY};

/// `cosinv emulate`: the exit code.
pub fn run_command(args: &EmulateArgs) -> u8 {
    let config = match config(args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("cosinv emulate: {message}");
            return exit::USAGE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cosinv emulate: cannot start the async runtime: {err}");
            return exit::USAGE;
        }
    };
    runtime.block_on(serve(config, args))
}

async fn serve(config: EmulatorConfig, args: &EmulateArgs) -> u8 {
    let emulator = match Emulator::start(config, args.listen).await {
        Ok(emulator) => emulator,
        Err(err) => {
            eprintln!("cosinv emulate: cannot listen on {}: {err}", args.listen);
            return exit::USAGE;
        }
    };
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "listening on {}", emulator.endpoint());
    let _ = stdout.flush();
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        eprintln!("cosinv emulate: cannot watch signals");
        return exit::USAGE;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    eprintln!("cosinv emulate: stopping");
    let _ = tokio::time::timeout(Duration::from_secs(10), emulator.shutdown()).await;
    exit::SUCCESS
}

fn config(args: &EmulateArgs) -> Result<EmulatorConfig, String> {
    let credentials = match (&args.secret_id, &args.secret_key) {
        (Some(id), Some(key)) => Credentials::new(
            id,
            key.expose(),
            args.security_token
                .as_ref()
                .map(|token| token.expose().to_string()),
        ),
        (None, None) => {
            eprintln!(
                "cosinv emulate: no --secret-id/--secret-key (or COS_SECRET_ID/COS_SECRET_KEY); \
                 accepting the sandbox credentials {SANDBOX_SECRET_ID} / {SANDBOX_SECRET_KEY}"
            );
            Credentials::new(SANDBOX_SECRET_ID, SANDBOX_SECRET_KEY, None)
        }
        _ => {
            return Err(
                "give both --secret-id and --secret-key (or COS_SECRET_ID and COS_SECRET_KEY)"
                    .into(),
            );
        }
    };
    let buckets = match &args.buckets_file {
        Some(path) => Some(read_bucket_list(path)?),
        None => None,
    };
    Ok(EmulatorConfig {
        credentials,
        buckets,
        faults: faults(args)?,
        state_file: args.state.clone(),
    })
}

fn read_bucket_list(path: &std::path::Path) -> Result<Vec<BucketEntry>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read --buckets-file {}: {err}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (name, region) = line.split_once(',').unwrap_or((line, "ap-guangzhou"));
            BucketEntry {
                name: name.trim().to_string(),
                location: region.trim().to_string(),
                creation_date: "2024-01-01T00:00:00Z".to_string(),
            }
        })
        .collect())
}

fn faults(args: &EmulateArgs) -> Result<Faults, String> {
    for (flag, fraction) in [
        ("--slow-down", args.slow_down),
        ("--internal-error", args.internal_error),
        ("--too-many-requests", args.too_many_requests),
        ("--reset", args.reset),
        ("--hang", args.hang),
    ] {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(format!("{flag} {fraction} must be a fraction from 0 to 1"));
        }
    }
    for (flag, rate) in [
        ("--rate-limit", args.rate_limit),
        ("--bucket-rate-limit", args.bucket_rate_limit),
    ] {
        if let Some(rate) = rate
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(format!(
                "{flag} {rate} must be a positive number of requests per second"
            ));
        }
    }
    Ok(Faults {
        latency: Duration::from_millis(args.latency_ms),
        latency_jitter: Duration::from_millis(args.latency_jitter_ms),
        slow_down: args.slow_down,
        internal_error: args.internal_error,
        too_many_requests: args.too_many_requests,
        reset: args.reset,
        hang: args.hang,
        rate_limit: args.rate_limit,
        bucket_rate_limit: args.bucket_rate_limit,
        retry_after: args.retry_after,
        seed: args.seed,
    })
}
