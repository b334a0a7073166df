//! The command line and the terminal: the only module that knows either.
//!
//! [`args`] parses the command line into typed settings; one file per
//! subcommand ([`validate`], [`plan`], [`apply`], [`emulate`]) turns them
//! into library calls and library errors into messages with flag hints;
//! [`progress`], [`lock`], [`exit`], [`runtime`] and [`signals`] are what
//! those commands share. Nothing below `cmd` names a flag, prints, or
//! reads the environment for settings.

pub mod apply;
pub mod args;
pub mod connect;
pub mod emulate;
pub mod exit;
pub mod lock;
pub mod plan;
pub mod progress;
pub mod runtime;
pub mod signals;
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
        Command::Apply(args) => apply::run(&args),
        Command::Emulate(args) => emulate::run(&args),
    }
}

/// `one` or `many` as `count` asks: "1 job", "2 jobs".
pub fn plural<'a>(count: usize, one: &'a str, many: &'a str) -> &'a str {
    if count == 1 { one } else { many }
}
