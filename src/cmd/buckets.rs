//! `cosinv buckets`: the account's buckets (GET Service, every page),
//! filtered by region and name, as aligned text, CSV or JSON on stdout
//! ([`crate::run::buckets`]).

use std::io::Write;

use super::args::{BucketsArgs, ListFormat, LogFormat};
use super::connect;
use super::exit;
use super::log::Log;
use super::runtime;
use super::terminal::Terminal;
use crate::account::BucketFilter;
use crate::run::buckets::{self, ListingError};

/// `cosinv buckets`: 0, 1 when COS did not give the list, 2 when it could
/// not be asked (usage, credentials).
pub fn run(args: &BucketsArgs) -> u8 {
    let log = Log::new(LogFormat::Text);
    let terminal = Terminal::new(&log, &args.display, false);
    let settings = connect::settings(&args.connect);
    let filter = BucketFilter {
        regions: args.region.clone(),
        matches: args.matches.clone(),
        exclude: args.exclude.clone(),
    };
    let accounts = (args.account.as_deref(), args.manifest.as_slice());
    let listing = buckets::list(&settings, &filter, accounts, "buckets", &terminal);
    let listed = match runtime::block_on(listing) {
        Ok(Ok(listed)) => listed,
        Ok(Err(err)) => {
            let (message, code) = match &err {
                ListingError::Connect(err) => (connect::message(err), exit::USAGE),
                ListingError::List(err) => (err.to_string(), exit::JOBS_FAILED),
                other => (other.to_string(), exit::USAGE),
            };
            log.error(&format!("cosinv buckets: {message}"));
            return code;
        }
        Err(err) => {
            log.error(&format!(
                "cosinv buckets: cannot start the async runtime: {err}"
            ));
            return exit::USAGE;
        }
    };
    let format = match args.output {
        ListFormat::Text => buckets::ListFormat::Text,
        ListFormat::Csv => buckets::ListFormat::Csv,
        ListFormat::Json => buckets::ListFormat::Json,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match buckets::write_list(&mut out, format, &listed).and_then(|()| out.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            log.error(&format!("cosinv buckets: cannot write the list: {err}"));
            exit::JOBS_FAILED
        }
        _ => exit::SUCCESS,
    }
}
