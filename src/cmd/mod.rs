//! The command line and the terminal: the only module that knows either.
//!
//! [`args`] parses the command line into typed settings ([`help`] holds
//! the help texts); one file per subcommand ([`validate`], [`plan`],
//! [`buckets`], [`apply`], [`emulate`], [`completions`], [`man`]) turns
//! them into a call of the library's run pipeline ([`crate::run`]) and
//! its errors into messages with flag hints; [`connect`] (the connection
//! flags and the environment as typed settings, connection errors with
//! their flags), [`terminal`] (what a run says, as the flags ask),
//! [`log`] (lines on stderr), [`progress`], [`summary`] (exit code and
//! JSON result of a run), [`lock`], [`exit`], [`runtime`], [`signals`]
//! and [`text`] are what those commands share. Nothing below `cmd` names
//! a flag or prints; below it, only the credential chain and the proxy
//! settings read the environment, and only when `cmd` asks them to.

pub mod apply;
pub mod args;
pub mod buckets;
pub mod completions;
pub mod connect;
pub mod deliveries;
pub mod emulate;
pub mod exit;
pub mod help;
pub mod lock;
pub mod log;
pub mod man;
pub mod plan;
pub mod progress;
pub mod questions;
pub mod run_now;
pub mod runtime;
pub mod show;
pub mod signals;
pub mod summary;
pub mod terminal;
pub mod text;
pub mod validate;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

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

/// Runs a parsed command line.
pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Buckets(args) => buckets::run(&args),
        Command::Apply(args) => apply::run(&args),
        Command::Show(args) => show::run(&args),
        Command::RunNow(args) => run_now::run(&args),
        Command::Deliveries(args) => deliveries::run(&args),
        Command::Emulate(args) => emulate::run(&args),
        Command::Completions(args) => completions::run(&args),
        Command::Man(args) => man::run(&args),
    }
}
