//! `cosinv run-now`: a one-time inventory per planned job, through the
//! library's [`crate::run::run_now`] and apply's command line around it.

use super::apply::run_pipeline;
use super::args::RunNowArgs;
use crate::run::run_now::Pipeline;

/// `cosinv run-now`: the exit code.
pub fn run(args: &RunNowArgs) -> u8 {
    run_pipeline(&args.run, None, Pipeline::RunNow(args.id_suffix.clone()))
}
