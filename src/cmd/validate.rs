//! `cosinv validate`: load and check manifests; print every problem.

use std::io::Write;

use super::args::ValidateArgs;
use super::exit;
use super::text::count;
use crate::plan::{self, ManifestErrors};

/// `cosinv validate`: exit code 0, or 2 with every problem on stderr.
pub fn run(args: &ValidateArgs) -> u8 {
    match plan::load_with_summary(&args.files) {
        Ok((plan, summary)) => {
            println!(
                "ok: {} on {} from {} in {}",
                count(plan.jobs().len() as u64, "job", "jobs"),
                count(plan.bucket_count() as u64, "bucket", "buckets"),
                count(summary.policies as u64, "policy", "policies"),
                count(summary.files as u64, "file", "files"),
            );
            exit::SUCCESS
        }
        Err(errors) => print_problems("validate", &errors, ""),
    }
}

/// Every problem on stderr, one per line, then a count; exit code 2.
/// `consequence` ends the count line (e.g. "; nothing was sent").
pub fn print_problems(command: &str, errors: &ManifestErrors, consequence: &str) -> u8 {
    let stderr = std::io::stderr();
    let mut out = std::io::BufWriter::new(stderr.lock());
    for problem in &errors.problems {
        let _ = writeln!(out, "{problem}");
    }
    let _ = writeln!(out, "cosinv {command}: {errors}{consequence}");
    exit::USAGE
}
