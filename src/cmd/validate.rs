//! `cosinv validate`: load and check manifests; print every problem.

use std::io::Write;

use super::args::ValidateArgs;
use super::exit;
use super::text::count;
use crate::plan::ManifestErrors;
use crate::run::discover::{load_offline, unresolved_notes};

/// `cosinv validate`: exit code 0, or 2 with every problem on stderr.
pub fn run(args: &ValidateArgs) -> u8 {
    match load_offline(&args.files, &args.read.options()) {
        Ok((plan, summary)) => {
            println!(
                "ok: {} on {} from {} in {}",
                count(plan.jobs().len() as u64, "job", "jobs"),
                count(plan.bucket_count() as u64, "bucket", "buckets"),
                count(summary.policies as u64, "policy", "policies"),
                count(summary.files as u64, "file", "files"),
            );
            let why = "validate stays offline; plan and apply list the account's buckets";
            for note in unresolved_notes("validate", &summary, why) {
                eprintln!("{note}");
            }
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
        let _ = writeln!(out, "{}", with_flag_hint(problem));
    }
    let _ = writeln!(out, "cosinv {command}: {errors}{consequence}");
    exit::USAGE
}

/// A problem line with the flag that lifts it, where the library says a
/// value may be "allowed explicitly" (the library never names flags).
pub fn with_flag_hint(problem: &str) -> String {
    const REGION: &str = "allow it explicitly)";
    const OUTSIDE: &str = "allow reading outside it explicitly";
    if problem.ends_with(REGION) {
        let region = problem
            .find("\" is not a COS region")
            .and_then(|end| {
                problem[..end]
                    .rfind('"')
                    .map(|start| &problem[start + 1..end])
            })
            .unwrap_or("NAME");
        let head = &problem[..problem.len() - 1];
        return format!("{head} with --allow-region {region})");
    }
    if problem.ends_with(OUTSIDE) {
        return format!("{problem} with --allow-buckets-file-outside");
    }
    problem.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_messages_get_the_flag_that_allows_them() {
        let region = "m.yaml:3: region: \"ap-newplace\" is not a COS region cosinv knows; the \
                      known ones are … (if COS has added this region, allow it explicitly)";
        assert!(
            with_flag_hint(region)
                .ends_with("allow it explicitly with --allow-region ap-newplace)"),
            "{}",
            with_flag_hint(region)
        );
        let outside = "m.yaml:5: buckets_file: ../x is outside the manifest's folder /m (it \
                       resolves to /x); keep buckets files in the manifest's folder or below, \
                       or allow reading outside it explicitly";
        assert!(with_flag_hint(outside).ends_with("explicitly with --allow-buckets-file-outside"));
        assert_eq!(with_flag_hint("m.yaml:1: id: bad"), "m.yaml:1: id: bad");
    }
}
