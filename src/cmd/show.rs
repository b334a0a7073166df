//! `cosinv show`: a saved plan (`plan --out`) printed as `plan` prints
//! it, read and checked by the library ([`crate::run::saved::show`]).

use super::args::ShowArgs;
use super::exit;
use super::plan::write_plan;
use std::sync::Arc;

use crate::plan::rollup::Rollup;
use crate::run::plan::Planned;

/// `cosinv show`.
pub fn run(args: &ShowArgs) -> u8 {
    let saved = match crate::run::saved::show(&args.plan) {
        Ok(saved) => saved,
        Err(err) => {
            eprintln!("cosinv show: {err}");
            return exit::USAGE;
        }
    };
    let (header, shard, plan) = (saved.header, saved.shard, Arc::new(saved.plan));
    let (work, warnings) = (saved.work, saved.warnings);
    let planned = Planned {
        plan,
        work,
        warnings,
    };
    eprintln!("cosinv show: {}", header.describe());
    let rollup = Rollup::of(&planned.plan, &planned.work);
    let how = (args.output, args.detail, shard, true);
    match write_plan(how, &planned, &rollup, Some(&header)) {
        Ok(()) => exit::SUCCESS,
        Err(err) => {
            eprintln!("cosinv show: cannot write the plan: {err}");
            exit::USAGE
        }
    }
}
