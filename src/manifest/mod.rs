//! Manifest files, read but not yet expanded: YAML (defaults, policies,
//! jobs over many buckets) and CSV (one row per bucket and job).
//!
//! Everything read keeps where it came from ([`Loc`]), so that the planner
//! can say `file:line: field: message` for any problem, and every problem
//! of every file is collected ([`Problems`]) instead of stopping at the
//! first.

mod checks;
pub mod csv;
mod digest;
mod suggest;
pub mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use checks::ReadOptions;
pub use digest::{FileDigest, HashingReader};
pub use suggest::did_you_mean;

use crate::model::BucketPattern;

/// Largest YAML manifest read (a policy file is kilobytes; this is a
/// guard against the wrong file).
pub const MAX_YAML_BYTES: u64 = 64 * 1024 * 1024;
/// Largest buckets file read (100,000 buckets is about 2.5 MiB).
pub const MAX_BUCKETS_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Largest CSV manifest read.
pub const MAX_CSV_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// Problems printed before the rest are only counted.
pub const MAX_PROBLEMS_SHOWN: usize = 1_000;
/// Lines of a buckets file that are not bucket entries before reading it
/// stops: past this many, it is not a buckets file.
pub const MAX_NON_BUCKET_LINES: usize = 100;

/// A place in a manifest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub file: Arc<Path>,
    pub line: u32,
}

impl Loc {
    pub fn new(file: &Arc<Path>, line: u32) -> Self {
        Loc {
            file: file.clone(),
            line,
        }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// True for files read as CSV: their fields are named by column
/// (`destination_bucket`) rather than by YAML path (`destination.bucket`).
pub fn is_csv(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("csv"))
}

/// One problem in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub at: Loc,
    /// The key (YAML) or column (CSV) at fault.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.at, self.field, self.message)
    }
}

/// Every problem found so far, in the order files were given.
#[derive(Debug, Default)]
pub struct Problems {
    problems: Vec<(usize, Problem)>,
    file_order: Vec<Arc<Path>>,
}

impl Problems {
    /// Records `field` at `at`; the field is spelled as the file's format
    /// spells it.
    pub fn add(&mut self, at: &Loc, field: &str, message: impl Into<String>) {
        // A field name comes from the file (an unknown key or column): a
        // megabyte of garbage or a control character must not reach the
        // terminal as one.
        let field = if field.len() > 80 || field.chars().any(char::is_control) {
            crate::model::quoted(field)
        } else if is_csv(&at.file) {
            field.replace('.', "_")
        } else {
            field.to_string()
        };
        let order = self.order_of(&at.file);
        self.problems.push((
            order,
            Problem {
                at: at.clone(),
                field,
                message: message.into(),
            },
        ));
    }

    fn order_of(&mut self, file: &Arc<Path>) -> usize {
        match self.file_order.iter().position(|known| known == file) {
            Some(index) => index,
            None => {
                self.file_order.push(file.clone());
                self.file_order.len() - 1
            }
        }
    }

    /// Declares the files in command-line order, so problems sort by it.
    pub fn declare_file(&mut self, file: &Arc<Path>) {
        self.order_of(file);
    }

    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn len(&self) -> usize {
        self.problems.len()
    }

    /// Sorted by file then line, without repeats (a bad policy used by
    /// 10,000 buckets is one problem), as printable lines; long lists end
    /// with a line saying how many of how many are shown.
    pub fn into_lines(self) -> Vec<String> {
        self.into_report().lines
    }

    /// [`Problems::into_lines`], and how many problems there are in all
    /// (the shown ones are capped, the count is not).
    pub fn into_report(mut self) -> ProblemReport {
        self.problems.sort_by(|(a_file, a), (b_file, b)| {
            (a_file, a.at.line, &a.field, &a.message)
                .cmp(&(b_file, b.at.line, &b.field, &b.message))
        });
        self.problems.dedup_by(|(_, a), (_, b)| a == b);
        let total = self.problems.len();
        let mut lines: Vec<String> = self
            .problems
            .iter()
            .take(MAX_PROBLEMS_SHOWN)
            .map(|(_, problem)| problem.to_string())
            .collect();
        if total > MAX_PROBLEMS_SHOWN {
            lines.push(format!(
                "… showing the first {} of {} problems",
                thousands(MAX_PROBLEMS_SHOWN),
                thousands(total)
            ));
        }
        ProblemReport { lines, total }
    }
}

/// The problems as printed, and their number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemReport {
    /// At most [`MAX_PROBLEMS_SHOWN`] problems, then (when there are more)
    /// a line saying how many are shown of how many.
    pub lines: Vec<String>,
    /// Every distinct problem, shown or not.
    pub total: usize,
}

/// `2000` → `2,000`.
pub fn thousands(number: usize) -> String {
    let digits = number.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting<T> {
    pub value: T,
    pub at: Loc,
}

/// The fields a policy, a job's `set`, the defaults or a CSV row may set.
/// Unset fields inherit: job `set` (or CSV cell) > policy > defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    pub enabled: Option<Setting<bool>>,
    pub included_object_versions: Option<Setting<String>>,
    pub schedule: Option<Setting<String>>,
    /// The day of a `Monthly` schedule.
    pub monthly_date: Option<Setting<String>>,
    pub filter_prefix: Option<Setting<String>>,
    pub filter_tags: Option<Setting<Vec<(String, String)>>>,
    pub filter_period: Option<Setting<(Option<u64>, Option<u64>)>>,
    pub optional_fields: Option<Setting<Vec<String>>>,
    pub destination_bucket: Option<Setting<String>>,
    pub destination_region: Option<Setting<String>>,
    pub destination_account_id: Option<Setting<String>>,
    pub destination_prefix: Option<Setting<String>>,
    pub destination_format: Option<Setting<String>>,
    pub encryption: Option<Setting<String>>,
}

impl Settings {
    /// Each field from `self`, else from `fallback`.
    pub fn or(&self, fallback: &Settings) -> Settings {
        fn pick<T: Clone>(a: &Option<Setting<T>>, b: &Option<Setting<T>>) -> Option<Setting<T>> {
            a.clone().or_else(|| b.clone())
        }
        Settings {
            enabled: pick(&self.enabled, &fallback.enabled),
            included_object_versions: pick(
                &self.included_object_versions,
                &fallback.included_object_versions,
            ),
            schedule: pick(&self.schedule, &fallback.schedule),
            monthly_date: pick(&self.monthly_date, &fallback.monthly_date),
            filter_prefix: pick(&self.filter_prefix, &fallback.filter_prefix),
            filter_tags: pick(&self.filter_tags, &fallback.filter_tags),
            filter_period: pick(&self.filter_period, &fallback.filter_period),
            optional_fields: pick(&self.optional_fields, &fallback.optional_fields),
            destination_bucket: pick(&self.destination_bucket, &fallback.destination_bucket),
            destination_region: pick(&self.destination_region, &fallback.destination_region),
            destination_account_id: pick(
                &self.destination_account_id,
                &fallback.destination_account_id,
            ),
            destination_prefix: pick(&self.destination_prefix, &fallback.destination_prefix),
            destination_format: pick(&self.destination_format, &fallback.destination_format),
            encryption: pick(&self.encryption, &fallback.encryption),
        }
    }
}

/// `defaults:`: settings for every job, plus the bucket region.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Defaults {
    pub region: Option<Setting<String>>,
    pub settings: Settings,
    /// `require_accounts: true`: every bucket's APPID must be listed
    /// under `accounts:`.
    pub require_accounts: Option<Setting<bool>>,
}

/// One entry of `accounts:`: whose credentials sign the requests to the
/// buckets of one APPID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSpec {
    pub appid: String,
    pub at: Loc,
    pub access: AccountAccess,
}

/// How an account's credentials are had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountAccess {
    /// STS `AssumeRole` with the caller's credentials.
    Role {
        role_arn: String,
        external_id: Option<String>,
        session_name: Option<String>,
        /// `DurationSeconds`.
        duration: Option<u64>,
    },
    /// A named section of the profile file.
    Profile { name: String },
}

/// A named template.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: String,
    pub at: Loc,
    pub settings: Settings,
}

/// The buckets a YAML job applies to.
#[derive(Debug, Clone, PartialEq)]
pub enum Buckets {
    /// `bucket:` or `buckets:`, each name where it was written.
    Listed(Vec<Setting<String>>),
    /// `buckets_file:`, resolved against the manifest's folder.
    File(Setting<PathBuf>),
    /// `discover:`: the account's buckets that match, found at plan time.
    Discover(Discover),
}

/// `discover: {regions, match, exclude}`: the buckets of the account (as
/// GET Service lists them) that the job applies to. Read and checked here;
/// which buckets they are is known only once the account has been asked.
#[derive(Debug, Clone, PartialEq)]
pub struct Discover {
    /// Where `discover:` was written.
    pub at: Loc,
    /// Only buckets in these regions; empty: every region.
    pub regions: Vec<Setting<String>>,
    /// Only buckets whose name matches; `None`: every bucket.
    pub matches: Option<Setting<BucketPattern>>,
    /// Minus the buckets whose name matches any of these.
    pub exclude: Vec<Setting<BucketPattern>>,
}

impl Discover {
    /// True when the bucket `name` in `region` is one of this job's.
    pub fn selects(&self, name: &str, region: &str) -> bool {
        let in_region = self.regions.is_empty() || self.regions.iter().any(|r| r.value == region);
        let matched = self
            .matches
            .as_ref()
            .is_none_or(|pattern| pattern.value.matches(name));
        let excluded = self
            .exclude
            .iter()
            .any(|pattern| pattern.value.matches(name));
        in_region && matched && !excluded
    }
}

/// One entry of a YAML `jobs:` list.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    pub at: Loc,
    pub id: Setting<String>,
    pub policy: Option<Setting<String>>,
    pub buckets: Buckets,
    pub region: Option<Setting<String>>,
    pub set: Settings,
}

/// A YAML manifest, read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct YamlManifest {
    /// The bytes parsed; `None` when the file could not be read.
    pub digest: Option<FileDigest>,
    pub defaults: Option<Defaults>,
    pub accounts: Vec<AccountSpec>,
    pub policies: Vec<Policy>,
    pub jobs: Vec<JobSpec>,
}

/// One bucket line of a buckets file: `name[,region]`.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketLine {
    pub name: String,
    pub region: Option<String>,
    pub line: u32,
}

/// A buckets file as read: its buckets, and the digest of the bytes they
/// came from.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketsFile {
    pub buckets: Vec<BucketLine>,
    pub digest: FileDigest,
}

/// Reads a buckets file: one bucket per line, optional `,region`; blank
/// lines and `#` comments skipped. A line that could not be a bucket entry
/// is reported by number only (the file may be the wrong one, holding
/// secrets); after [`MAX_NON_BUCKET_LINES`] of them reading stops.
pub fn read_buckets_file(
    path: &Path,
    referenced_at: &Loc,
    options: &ReadOptions,
    problems: &mut Problems,
) -> Option<BucketsFile> {
    let bytes = match read_capped(path, MAX_BUCKETS_FILE_BYTES) {
        Ok(bytes) => bytes,
        Err(err) => {
            problems.add(referenced_at, "buckets_file", err.to_string());
            return None;
        }
    };
    Some(BucketsFile {
        buckets: bucket_lines(path, &bytes, referenced_at, options, problems),
        digest: FileDigest::of_bytes(path, &bytes),
    })
}

/// The bucket lines of a buckets file's `bytes`.
fn bucket_lines(
    path: &Path,
    bytes: &[u8],
    referenced_at: &Loc,
    options: &ReadOptions,
    problems: &mut Problems,
) -> Vec<BucketLine> {
    let file: Arc<Path> = Arc::from(path);
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let mut buckets = Vec::new();
    let mut strange = 0;
    for (index, raw) in bytes.split(|&byte| byte == b'\n').enumerate() {
        let at = Loc::new(&file, index as u32 + 1);
        match bucket_line(raw) {
            Line::Skip => {}
            Line::Bucket(name, region) => {
                if let Some(region) = &region {
                    options.check_region_at(region, &at, "region", problems);
                }
                buckets.push(BucketLine {
                    name,
                    region,
                    line: at.line,
                });
            }
            Line::Strange(why) => {
                strange += 1;
                if strange > MAX_NON_BUCKET_LINES {
                    problems.add(
                        &at,
                        "bucket",
                        format!(
                            "stopped reading: more than {} lines are not bucket names; is \
                             this a buckets file?",
                            thousands(MAX_NON_BUCKET_LINES)
                        ),
                    );
                    return buckets;
                }
                problems.add(&at, "bucket", why);
            }
        }
    }
    if buckets.is_empty() && strange == 0 {
        problems.add(
            referenced_at,
            "buckets_file",
            format!("{} lists no buckets", path.display()),
        );
    }
    buckets
}

/// One line of a buckets file, understood.
enum Line {
    Skip,
    Bucket(String, Option<String>),
    /// Not a bucket entry; the reason, without the line's text.
    Strange(&'static str),
}

fn bucket_line(raw: &[u8]) -> Line {
    let Ok(text) = std::str::from_utf8(raw) else {
        return Line::Strange("this line is not UTF-8 text, so not a bucket name");
    };
    let text = text.trim();
    if text.is_empty() || text.starts_with('#') {
        return Line::Skip;
    }
    let (name, region) = match text.split_once(',') {
        Some((name, region)) => (name.trim(), Some(region.trim()).filter(|r| !r.is_empty())),
        None => (text, None),
    };
    if !checks::plausible_bucket_line(name, region) {
        return Line::Strange(
            "this line is not a bucket name (<name>-<APPID> in lowercase letters, digits and \
             '-', optionally followed by ,region); it is not shown, in case the file holds \
             something else",
        );
    }
    Line::Bucket(name.to_string(), region.map(str::to_string))
}

/// Why a file could not be read whole within its size limit.
#[derive(Debug, thiserror::Error)]
pub enum CappedReadError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is a folder, not a file", path.display())]
    Folder { path: PathBuf },
    /// Too large before reading, or grew past `limit` while read.
    #[error("{} is larger than {limit} bytes", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
}

/// Opens a file of at most `limit` bytes for reading, or says why not
/// (missing, a folder, too large). Reading stops at the limit even if the
/// file grows meanwhile.
pub fn open_capped(
    path: &Path,
    limit: u64,
) -> Result<std::io::Take<std::fs::File>, CappedReadError> {
    use std::io::Read;
    let describe = |source| CappedReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(describe)?;
    if metadata.is_dir() {
        return Err(CappedReadError::Folder {
            path: path.to_path_buf(),
        });
    }
    if metadata.len() > limit {
        return Err(CappedReadError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    let file = std::fs::File::open(path).map_err(describe)?;
    Ok(file.take(limit + 1))
}

/// Reads a whole file of at most `limit` bytes, or says why not.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, CappedReadError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    open_capped(path, limit)?
        .read_to_end(&mut bytes)
        .map_err(|source| CappedReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > limit {
        return Err(CappedReadError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

/// A path in a manifest, relative to the manifest's folder.
pub fn resolve_relative(manifest: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        manifest
            .parent()
            .unwrap_or_else(|| Path::new(""))
            .join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_is_not_capped_with_the_shown_problems() {
        let file: Arc<Path> = Arc::from(Path::new("m.yaml"));
        let mut problems = Problems::default();
        for line in 1..=2_000 {
            problems.add(&Loc::new(&file, line), "bucket", "bad");
        }
        problems.add(&Loc::new(&file, 7), "bucket", "bad"); // a repeat
        let report = problems.into_report();
        assert_eq!(report.total, 2_000);
        assert_eq!(report.lines.len(), MAX_PROBLEMS_SHOWN + 1);
        assert_eq!(
            report.lines.last().unwrap(),
            "… showing the first 1,000 of 2,000 problems"
        );
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    fn buckets_file(text: &[u8]) -> (Vec<BucketLine>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.txt");
        std::fs::write(&path, text).unwrap();
        let file: Arc<Path> = Arc::from(dir.path().join("m.yaml").as_path());
        let mut problems = Problems::default();
        let lines = read_buckets_file(
            &path,
            &Loc::new(&file, 5),
            &ReadOptions::default(),
            &mut problems,
        )
        .map(|file| file.buckets)
        .unwrap_or_default();
        let shown = problems
            .into_lines()
            .into_iter()
            .map(|line| line.rsplit_once('/').unwrap().1.to_string())
            .collect();
        (lines, shown)
    }

    #[test]
    fn lines_that_are_not_buckets_are_never_echoed() {
        let (lines, problems) = buckets_file(
            "\u{feff}photos-1250000000\n# comment\n\nSecretKey=AbCdEf0123456789\n\
             logs-1250000000 , ap-shanghai\nmedia-1250000000,ap-guangzho\nx,Token99\n"
                .as_bytes(),
        );
        let names: Vec<&str> = lines.iter().map(|line| line.name.as_str()).collect();
        assert_eq!(
            names,
            ["photos-1250000000", "logs-1250000000", "media-1250000000"]
        );
        assert_eq!(lines[1].region.as_deref(), Some("ap-shanghai"));
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("b.txt:4: bucket: this line is not a bucket name"));
        assert!(problems[1].starts_with("b.txt:6: region: \"ap-guangzho\" is not a COS region"));
        assert!(problems[2].starts_with("b.txt:7: bucket: this line is not a bucket name"));
        for problem in &problems {
            assert!(
                !problem.contains("AbCdEf") && !problem.contains("Token99"),
                "{problem}"
            );
        }
    }

    #[test]
    fn a_file_of_something_else_stops_being_read() {
        let junk = "Not A Bucket Line\n".repeat(50_000);
        let (lines, problems) = buckets_file(junk.as_bytes());
        assert!(lines.is_empty());
        assert_eq!(problems.len(), MAX_NON_BUCKET_LINES + 1);
        assert!(
            problems.last().unwrap().contains("stopped reading"),
            "{problems:?}"
        );
    }
}
