//! Checks the readers make while they read, beyond the model's rules for a
//! single value: which regions are known (and which the operator allowed),
//! where a buckets file may live, how placeholders are spelt, and which
//! buckets-file lines are safe to quote back.
//!
//! They sit here rather than in the planner because each is about what was
//! *written*: a region is checked once where it was written, however many
//! buckets use it, and a buckets file outside the manifest's folder is
//! refused before a byte of it is read.

use std::path::{Path, PathBuf};

use super::suggest::did_you_mean;
use super::{Loc, Problems, Setting};
use crate::model::{self, COS_REGIONS, RegionPolicy};

/// What reading may accept beyond the defaults; the command layer fills it
/// from its flags. The default is strict: COS's known regions only, and
/// buckets files inside the manifest's folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Regions accepted besides COS's known ones.
    pub regions: RegionPolicy,
    /// Let `buckets_file` name a file outside the manifest's folder.
    pub allow_buckets_file_outside: bool,
}

impl ReadOptions {
    /// Reports `region` if it is well-formed but not a region COS (or the
    /// operator) knows. A malformed region is left to the planner, which
    /// says which rule it breaks; reporting it here too would say it twice.
    pub fn check_region(&self, region: &Setting<String>, field: &str, problems: &mut Problems) {
        self.check_region_at(&region.value, &region.at, field, problems);
    }

    pub(crate) fn check_region_at(
        &self,
        region: &str,
        at: &Loc,
        field: &str,
        problems: &mut Problems,
    ) {
        if self.regions.allows(region) || model::Region::parse(region).is_err() {
            return;
        }
        problems.add(at, field, unknown_region(region));
    }

    /// Checks the region inside a `qcs::cos:<region>::<bucket>` destination.
    pub(crate) fn check_destination_arn(&self, bucket: &Setting<String>, problems: &mut Problems) {
        if let Ok((region, _)) = model::parse_destination_arn(&bucket.value) {
            self.check_region_at(region.as_str(), &bucket.at, "destination.bucket", problems);
        }
    }
}

fn unknown_region(region: &str) -> String {
    let hint = match did_you_mean(region, COS_REGIONS) {
        Some(close) => format!("did you mean {close:?}?"),
        None => format!("the known ones are {}", COS_REGIONS.join(", ")),
    };
    format!(
        "{} is not a COS region cosinv knows; {hint} (if COS has added this region, allow \
         it explicitly)",
        model::quoted(region)
    )
}

/// `${bucket}` is how shells and many templating tools write a
/// placeholder; cosinv's are `{bucket}`, and a `$` left in front would end
/// up in every report path. Refused, with the spelling that works when it
/// is one.
pub(crate) fn check_placeholder_spelling(
    prefix: &Setting<String>,
    field: &str,
    problems: &mut Problems,
) {
    if !prefix.value.contains("${") {
        return;
    }
    // The slashes COS refuses go too, so the fix is one that validates.
    let respelt = prefix.value.replace("${", "{");
    let respelt = respelt.trim_matches('/');
    let fix = if !respelt.is_empty()
        && only_known_placeholders(respelt)
        && model::check_destination_prefix(respelt).is_ok()
    {
        format!("write {}", model::quoted(respelt))
    } else {
        "write placeholders without '$'".to_string()
    };
    problems.add(
        &prefix.at,
        field,
        format!(
            "{} uses ${{…}}; placeholders are {{bucket}}, {{region}} and {{id}}, without '$': {fix}",
            model::quoted(&prefix.value)
        ),
    );
}

/// True when every `{…}` in `text` is one of the placeholders.
fn only_known_placeholders(text: &str) -> bool {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open..];
        let Some(close) = after.find('}') else {
            return false;
        };
        if !model::PREFIX_PLACEHOLDERS.contains(&&after[..=close]) {
            return false;
        }
        rest = &after[close + 1..];
    }
    true
}

/// Refuses a buckets file that is not inside the folder of the manifest
/// naming it, with symlinks and `..` resolved: a manifest from elsewhere
/// must not make cosinv read (and quote from) any file the operator can
/// read. A file that does not exist is left to the reader to report.
pub(crate) fn check_contained(manifest: &Path, file: &Path) -> Result<(), String> {
    let Ok(real_file) = file.canonicalize() else {
        return Ok(());
    };
    let folder = manifest_folder(manifest);
    let real_folder = folder.canonicalize().map_err(|err| {
        format!(
            "cannot resolve the manifest's folder {}: {err}",
            folder.display()
        )
    })?;
    if real_file.starts_with(&real_folder) {
        return Ok(());
    }
    Err(format!(
        "{} is outside the manifest's folder {} (it resolves to {}); keep buckets files in \
         the manifest's folder or below, or allow reading outside it explicitly",
        file.display(),
        real_folder.display(),
        real_file.display()
    ))
}

fn manifest_folder(manifest: &Path) -> PathBuf {
    match manifest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Longest name part a buckets-file line may have and still be quoted in
/// a message: a little over COS's limit, so a name one character too long
/// is still shown.
const MAX_QUOTABLE_NAME: usize = model::MAX_BUCKET_LEN + 14;

/// True when a buckets-file line could be a bucket entry (`name[,region]`
/// in the characters those use). Only such lines are quoted in messages:
/// `buckets_file` may name the wrong file, and a key or token in it must
/// not be printed. Capitals are not plausible (bucket names have none,
/// and secrets nearly always do).
pub(crate) fn plausible_bucket_line(name: &str, region: Option<&str>) -> bool {
    let name_ok = !name.is_empty()
        && name.len() <= MAX_QUOTABLE_NAME
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    let region_ok = region.is_none_or(|region| {
        region.len() <= 40
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    name_ok && region_ok
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn lines(problems: Problems) -> Vec<String> {
        problems
            .into_lines()
            .into_iter()
            .map(|line| line.split_once(": ").unwrap().1.to_string())
            .collect()
    }

    fn setting(value: &str) -> Setting<String> {
        let file: Arc<Path> = Arc::from(Path::new("m.yaml"));
        Setting {
            value: value.to_string(),
            at: Loc::new(&file, 3),
        }
    }

    #[test]
    fn unknown_regions_are_refused_with_a_suggestion_unless_allowed() {
        let strict = ReadOptions::default();
        let mut problems = Problems::default();
        strict.check_region(&setting("ap-guangzho"), "region", &mut problems);
        strict.check_region(&setting("ap-guangzhou"), "region", &mut problems);
        strict.check_region(&setting("Not A Region"), "region", &mut problems);
        assert_eq!(
            lines(problems),
            [
                "region: \"ap-guangzho\" is not a COS region cosinv knows; did you mean \
              \"ap-guangzhou\"? (if COS has added this region, allow it explicitly)"
            ]
        );
        let allowing = ReadOptions {
            regions: RegionPolicy::allowing(vec![model::Region::parse("ap-guangzho").unwrap()]),
            ..ReadOptions::default()
        };
        let mut problems = Problems::default();
        allowing.check_region(&setting("ap-guangzho"), "region", &mut problems);
        assert!(problems.is_empty());
    }

    #[test]
    fn a_region_in_a_destination_arn_is_checked() {
        let mut problems = Problems::default();
        ReadOptions::default().check_destination_arn(
            &setting("qcs::cos:ap-shangai::inv-1250000000"),
            &mut problems,
        );
        let lines = lines(problems);
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("destination.bucket: \"ap-shangai\""),
            "{lines:?}"
        );
        assert!(
            lines[0].contains("did you mean \"ap-shanghai\""),
            "{lines:?}"
        );
    }

    #[test]
    fn shell_placeholders_are_refused_with_a_spelling_that_validates() {
        let mut problems = Problems::default();
        check_placeholder_spelling(
            &setting("inv/${bucket}"),
            "destination.prefix",
            &mut problems,
        );
        check_placeholder_spelling(
            &setting("/inv/${bucket}/"),
            "destination.prefix",
            &mut problems,
        );
        check_placeholder_spelling(&setting("inv/${name}"), "destination.prefix", &mut problems);
        check_placeholder_spelling(
            &setting("inv/{bucket}"),
            "destination.prefix",
            &mut problems,
        );
        let lines = lines(problems);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].ends_with("write \"inv/{bucket}\""), "{lines:?}");
        assert!(lines[1].ends_with("write \"inv/{bucket}\""), "{lines:?}");
        assert!(
            lines[2].ends_with("write placeholders without '$'"),
            "{lines:?}"
        );
    }

    #[test]
    fn buckets_files_stay_in_the_manifests_folder() {
        let root = tempfile::tempdir().unwrap();
        let folder = root.path().join("manifests");
        std::fs::create_dir_all(folder.join("sub")).unwrap();
        std::fs::write(folder.join("sub/b.txt"), "a-1250000000\n").unwrap();
        std::fs::write(root.path().join("secret"), "key\n").unwrap();
        let manifest = folder.join("m.yaml");
        assert!(check_contained(&manifest, &folder.join("sub/../sub/b.txt")).is_ok());
        assert!(check_contained(&manifest, &folder.join("missing.txt")).is_ok());
        let err = check_contained(&manifest, &folder.join("../secret")).unwrap_err();
        assert!(err.contains("outside the manifest's folder"), "{err}");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root.path().join("secret"), folder.join("link")).unwrap();
            assert!(check_contained(&manifest, &folder.join("link")).is_err());
        }
    }

    #[test]
    fn only_lines_that_could_be_buckets_are_quotable() {
        assert!(plausible_bucket_line(
            "photos-1250000000",
            Some("ap-guangzhou")
        ));
        assert!(plausible_bucket_line("photos-12500", None));
        assert!(!plausible_bucket_line("SecretKey=abcDEF", None));
        assert!(!plausible_bucket_line("akidabc1234", Some("Secret")));
        assert!(!plausible_bucket_line(&"a".repeat(200), None));
        assert!(!plausible_bucket_line("token xyz", None));
    }
}
