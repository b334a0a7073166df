//! Manifest files, read but not yet expanded: YAML (defaults, policies,
//! jobs over many buckets) and CSV (one row per bucket and job).
//!
//! Everything read keeps where it came from ([`Loc`]), so that the planner
//! can say `file:line: field: message` for any problem, and every problem
//! of every file is collected ([`Problems`]) instead of stopping at the
//! first.

pub mod csv;
mod suggest;
pub mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use suggest::did_you_mean;

/// Largest YAML manifest read (a policy file is kilobytes; this is a
/// guard against the wrong file).
pub const MAX_YAML_BYTES: u64 = 64 * 1024 * 1024;
/// Largest buckets file read (100,000 buckets is about 2.5 MiB).
pub const MAX_BUCKETS_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Largest CSV manifest read.
pub const MAX_CSV_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// Problems printed before the rest are only counted.
pub const MAX_PROBLEMS_SHOWN: usize = 1_000;

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
        let field = if is_csv(&at.file) {
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
    /// with a count of what was left out.
    pub fn into_lines(mut self) -> Vec<String> {
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
                "… and {} more problems",
                total - MAX_PROBLEMS_SHOWN
            ));
        }
        lines
    }
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
    pub defaults: Option<Defaults>,
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

/// Reads a buckets file: one bucket per line, optional `,region`; blank
/// lines and `#` comments skipped.
pub fn read_buckets_file(
    path: &Path,
    referenced_at: &Loc,
    problems: &mut Problems,
) -> Option<Vec<BucketLine>> {
    let bytes = match read_capped(path, MAX_BUCKETS_FILE_BYTES) {
        Ok(bytes) => bytes,
        Err(message) => {
            problems.add(referenced_at, "buckets_file", message);
            return None;
        }
    };
    let file: Arc<Path> = Arc::from(path);
    let mut buckets = Vec::new();
    for (index, raw) in bytes.split(|&byte| byte == b'\n').enumerate() {
        let line = index as u32 + 1;
        let Ok(text) = std::str::from_utf8(raw) else {
            problems.add(&Loc::new(&file, line), "bucket", "is not UTF-8 text");
            continue;
        };
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let (name, region) = match text.split_once(',') {
            Some((name, region)) => (name.trim(), Some(region.trim().to_string())),
            None => (text, None),
        };
        buckets.push(BucketLine {
            name: name.to_string(),
            region: region.filter(|region| !region.is_empty()),
            line,
        });
    }
    if buckets.is_empty() {
        problems.add(
            referenced_at,
            "buckets_file",
            format!("{} lists no buckets", path.display()),
        );
    }
    Some(buckets)
}

/// Opens a file of at most `limit` bytes for reading, or says why not
/// (missing, a folder, too large). Reading stops at the limit even if the
/// file grows meanwhile.
pub fn open_capped(path: &Path, limit: u64) -> Result<std::io::Take<std::fs::File>, String> {
    use std::io::Read;
    let describe = |err: std::io::Error| format!("cannot read {}: {err}", path.display());
    let metadata = std::fs::metadata(path).map_err(describe)?;
    if metadata.is_dir() {
        return Err(format!("{} is a folder, not a file", path.display()));
    }
    if metadata.len() > limit {
        return Err(format!(
            "{} is {} bytes; the limit is {limit}",
            path.display(),
            metadata.len()
        ));
    }
    let file = std::fs::File::open(path).map_err(describe)?;
    Ok(file.take(limit + 1))
}

/// Reads a whole file of at most `limit` bytes, or says why not.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    open_capped(path, limit)?
        .read_to_end(&mut bytes)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    if bytes.len() as u64 > limit {
        return Err(format!("{} is larger than {limit} bytes", path.display()));
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
