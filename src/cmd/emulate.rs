//! `cosinv emulate`: serve the local COS until SIGINT or SIGTERM. With
//! `--tls`, over HTTPS: the throwaway CA's certificate is written to a
//! file whose path is printed, for `apply --ca-bundle`.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use super::args::{EmulateArgs, FaultArgs, OutageModeArg};
use super::exit;
use super::runtime;
use super::signals::StopSignals;
use crate::cos::xml::BucketEntry;
use crate::credentials::Credentials;
use crate::emulator::files::{self, CaFile};
use crate::emulator::{
    Emulator, EmulatorConfig, Faults, Outage, OutageMode, SANDBOX_SECRET_ID, SANDBOX_SECRET_KEY,
};

/// `cosinv emulate`: the exit code.
pub fn run(args: &EmulateArgs) -> u8 {
    let config = match config(args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("cosinv emulate: {message}");
            return exit::USAGE;
        }
    };
    match runtime::block_on(serve(config, args)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("cosinv emulate: cannot start the async runtime: {err}");
            exit::USAGE
        }
    }
}

async fn serve(config: EmulatorConfig, args: &EmulateArgs) -> u8 {
    let emulator = match Emulator::start(config, args.listen).await {
        Ok(emulator) => emulator,
        Err(err) => {
            eprintln!("cosinv emulate: cannot listen on {}: {err}", args.listen);
            return exit::USAGE;
        }
    };
    if let Some(date) = args.deliver_on {
        let done = emulator.deliver(&crate::emulator::Delivery::on(date));
        eprintln!(
            "cosinv emulate: delivered {} report(s) dated {date}",
            done.reports
        );
    }
    let mut signals = match StopSignals::watch() {
        Ok(signals) => signals,
        Err(err) => {
            eprintln!("cosinv emulate: cannot watch signals: {err}");
            return exit::USAGE;
        }
    };
    let ca_file = match write_ca(&emulator, args) {
        Ok(file) => file,
        Err(message) => {
            eprintln!("cosinv emulate: {message}");
            return exit::USAGE;
        }
    };
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "listening on {}", emulator.endpoint());
    if let Some(CaFile { path, .. }) = &ca_file {
        let _ = writeln!(
            stdout,
            "CA certificate: {} (trust it with: cosinv apply --ca-bundle {} \
             --resolve '*.myqcloud.com={}')",
            path.display(),
            path.display(),
            emulator.addr()
        );
    }
    let _ = stdout.flush();
    signals.next().await;
    eprintln!("cosinv emulate: stopping");
    match tokio::time::timeout(Duration::from_secs(10), emulator.shutdown()).await {
        Ok(Err(err)) => {
            eprintln!("cosinv emulate: cannot save the state: {err}");
            exit::USAGE
        }
        _ => exit::SUCCESS,
    }
}

/// With TLS, the CA certificate in `--ca-file`, or in a private folder.
fn write_ca(emulator: &Emulator, args: &EmulateArgs) -> Result<Option<CaFile>, String> {
    let Some(pem) = emulator.ca_pem() else {
        return Ok(None);
    };
    files::write_ca(pem, args.ca_file.as_deref())
        .map(Some)
        .map_err(|err| format!("cannot write the CA certificate: {err}"))
}

fn config(args: &EmulateArgs) -> Result<EmulatorConfig, String> {
    let credentials = match (&args.secret_id, &args.secret_key) {
        (Some(id), Some(key)) => {
            Credentials::from_secrets(id, key.clone(), args.security_token.clone())
        }
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
        faults: faults(&args.faults),
        state_file: args.state.clone(),
        tls: args.tls,
        organisation: (args.organisation.as_deref().map(files::read_organisation))
            .transpose()
            .map_err(|err| format!("--organisation {err}"))?,
    })
}

fn read_bucket_list(path: &Path) -> Result<Vec<BucketEntry>, String> {
    std::fs::read_to_string(path)
        .map(|text| files::bucket_list(&text))
        .map_err(|err| format!("cannot read --buckets-file {}: {err}", path.display()))
}

/// The fault flags, each already checked by its parser.
fn faults(args: &FaultArgs) -> Faults {
    Faults {
        latency: Duration::from_millis(args.latency_ms),
        latency_jitter: Duration::from_millis(args.latency_jitter_ms),
        slow_down: args.slow_down.get(),
        internal_error: args.internal_error.get(),
        too_many_requests: args.too_many_requests.get(),
        reset: args.reset.get(),
        hang: args.hang.get(),
        rate_limit: args.rate_limit.map(|rate| rate.get()),
        bucket_rate_limit: args.bucket_rate_limit.map(|rate| rate.get()),
        rate_limit_burst: args.rate_limit_burst,
        slow_down_every: args.slow_down_every,
        internal_error_every: args.internal_error_every,
        retry_after: args.retry_after,
        rate_limit_schedule: args.rate_limit_schedule.clone().unwrap_or_default(),
        outage: args.outage.map(|(start, end)| Outage {
            start: Duration::from_secs_f64(start),
            end: Duration::from_secs_f64(end),
            mode: match args.outage_mode {
                OutageModeArg::Unavailable => OutageMode::Unavailable,
                OutageModeArg::Refuse => OutageMode::Refuse,
            },
        }),
        seed: args.seed,
        ..Faults::default()
    }
}
