//! `cosinv deliveries`: did COS deliver each job's newest report, whole
//! and on time? The library's [`crate::run::deliveries`] checks; this
//! file reads the flags and writes the answer on stdout.

use std::io::{IsTerminal, Write, stderr};

use super::args::{DeliveriesArgs, DeliveriesFormat, LogFormat};
use super::connect;
use super::exit;
use super::log::Log;
use super::runtime;
use super::terminal::Terminal;
use super::validate::print_problems;
use crate::run::deliveries::{self, DeliveriesFormat as Format};
use crate::run::error::RunError;
use crate::run::settings::RunSettings;

/// `cosinv deliveries`: 0 when every enabled job is delivered, 1 when
/// one is not, 2 when it could not be asked.
pub fn run(args: &DeliveriesArgs) -> u8 {
    let (log, bar) = (Log::new(LogFormat::Text), stderr().is_terminal());
    let terminal = Terminal::new(&log, &args.display, bar);
    let (files, read) = (args.files.clone(), args.read.options());
    let connect = connect::settings(&args.connect);
    let mut settings = RunSettings::reading("deliveries", files, read, connect, args.select.shard);
    settings.accounts = args.select.account.clone();
    let now = args.now.unwrap_or_else(jiff::Timestamp::now);
    let check = deliveries::check(&settings, now, args.from_report.as_deref(), &terminal);
    let found = match runtime::block_on(check) {
        Ok(Ok(found)) => found,
        Ok(Err(RunError::Manifest(errors))) => {
            print_problems("deliveries", &errors, "");
            return exit::USAGE;
        }
        Ok(Err(err)) => {
            log.error(&format!(
                "cosinv deliveries: {}",
                connect::run_message(&err)
            ));
            return exit::USAGE;
        }
        Err(err) => {
            log.error(&format!(
                "cosinv deliveries: cannot start the async runtime: {err}"
            ));
            return exit::USAGE;
        }
    };
    let format = match args.output {
        DeliveriesFormat::Text => Format::Text,
        DeliveriesFormat::Csv => Format::Csv,
        DeliveriesFormat::Json => Format::Json,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = deliveries::write_deliveries(&mut out, format, &found).and_then(|()| out.flush());
    if let Err(err) = written
        && err.kind() != std::io::ErrorKind::BrokenPipe
    {
        log.error(&format!("cosinv deliveries: cannot write: {err}"));
        return exit::JOBS_FAILED;
    }
    if let Some(reason) = &found.stopped {
        log.error(&format!("cosinv deliveries: stopped early: {reason}"));
        return exit::STOPPED;
    }
    [exit::JOBS_FAILED, exit::SUCCESS][usize::from(found.all_delivered())]
}
