//! The planner: manifests in, validated jobs out.
//!
//! Expansion happens in two passes. YAML files are read first (defaults and
//! policies may be used by any file on the command line), then YAML jobs
//! and CSV rows are expanded to one [`Job`] per (bucket, id). Everything
//! that is the same for all the buckets of a job (or for all the CSV rows
//! that differ only by bucket) is resolved and validated once, into a
//! shared `Template`; a job is then a bucket, a region, a line and a
//! pointer, which is what lets a million jobs fit in a few hundred
//! megabytes and check in seconds.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use crate::manifest::{
    self, Buckets, Defaults, JobSpec, Loc, Policy, Problems, ReadOptions, Setting, Settings,
    YamlManifest,
};
use crate::model::{
    self, AccountId, BucketName, Destination, Filter, Format, Frequency, IncludedObjectVersions,
    InvalidField, InventoryConfiguration, InventoryId, OptionalField, Period, Region, TagFilter,
};

/// Where a job was defined: a manifest file and line (for CSV, the line of
/// the row; for a buckets file, the bucket's line there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// What the jobs of one YAML job entry (or of CSV rows alike but for the
/// bucket) share.
#[derive(Debug)]
struct Template {
    /// Complete but for the destination prefix (when it has placeholders)
    /// and region (when it is the job's).
    config: InventoryConfiguration,
    /// The destination prefix with `{bucket}`, `{region}` or `{id}`.
    prefix_pattern: Option<String>,
    /// `None`: the destination is in each job's own region.
    destination_region: Option<Region>,
}

/// One inventory job on one bucket: the unit the executor sends and the
/// report has a row for.
#[derive(Debug, Clone)]
pub struct Job {
    bucket: BucketName,
    region: Region,
    template: Arc<Template>,
    file: Arc<Path>,
    line: u32,
}

impl Job {
    pub fn new(
        bucket: BucketName,
        region: Region,
        config: InventoryConfiguration,
        source: Source,
    ) -> Self {
        Job {
            bucket,
            region,
            template: Arc::new(Template {
                destination_region: Some(config.destination.region.clone()),
                config,
                prefix_pattern: None,
            }),
            file: Arc::from(source.file.as_path()),
            line: source.line as u32,
        }
    }
    pub fn bucket(&self) -> &BucketName {
        &self.bucket
    }
    pub fn region(&self) -> &Region {
        &self.region
    }
    pub fn id(&self) -> &InventoryId {
        &self.template.config.id
    }
    /// The configuration to PUT, placeholders expanded.
    pub fn config(&self) -> InventoryConfiguration {
        let mut config = self.template.config.clone();
        if let Some(pattern) = &self.template.prefix_pattern {
            config.destination.prefix =
                Some(expand(pattern, &self.bucket, &self.region, self.id()));
        }
        if self.template.destination_region.is_none() {
            config.destination.region = self.region.clone();
        }
        config
    }
    pub fn source(&self) -> Source {
        Source {
            file: self.file.to_path_buf(),
            line: self.line as usize,
        }
    }
    fn loc(&self) -> Loc {
        Loc::new(&self.file, self.line)
    }
}

/// Every job of a set of manifests, validated, sorted by (bucket, id).
#[derive(Debug, Clone, Default)]
pub struct Plan {
    jobs: Vec<Job>,
}

impl Plan {
    /// Sorts the jobs; the caller guarantees they are valid and unique.
    pub fn from_jobs(mut jobs: Vec<Job>) -> Self {
        sort_jobs(&mut jobs);
        Plan { jobs }
    }
    pub fn jobs(&self) -> &[Job] {
        &self.jobs
    }
    pub fn bucket_count(&self) -> usize {
        bucket_runs(&self.jobs).count()
    }
    /// Keeps only the buckets of `shard`.
    pub fn shard(self, shard: Shard) -> Plan {
        Plan {
            jobs: self
                .jobs
                .into_iter()
                .filter(|job| shard.contains(job.bucket()))
                .collect(),
        }
    }
}

fn sort_jobs(jobs: &mut [Job]) {
    jobs.sort_unstable_by(|a, b| (a.bucket(), a.id()).cmp(&(b.bucket(), b.id())));
}

/// The jobs of each bucket in turn (jobs sorted by bucket).
fn bucket_runs(jobs: &[Job]) -> impl Iterator<Item = &[Job]> {
    jobs.chunk_by(|a, b| a.bucket() == b.bucket())
}

/// Shard K of N (K from 0): a stable partition of buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// FNV-1a (64-bit) of the bucket name, modulo N: the same bucket lands
    /// in the same shard on every host, run and version of cosinv.
    pub fn contains(&self, bucket: &BucketName) -> bool {
        shard_of(bucket.as_str(), self.count) == self.index
    }
}

/// The shard (of `count`) that `bucket` belongs to.
pub fn shard_of(bucket: &str, count: u32) -> u32 {
    (fnv1a64(bucket.as_bytes()) % u64::from(count.max(1))) as u32
}

/// 64-bit FNV-1a: tiny, fast on short names, and fixed by its
/// specification (std's hasher is randomised per process).
fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{text:?} is not a shard; write K/N with 0 <= K < N, e.g. 0/4 \
                 (in a Kubernetes Indexed Job: $JOB_COMPLETION_INDEX/N)"
            )
        };
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let index: u32 = index.trim().parse().map_err(|_| bad())?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Every problem found in a set of manifests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{total} problem(s) in the manifests")]
pub struct ManifestErrors {
    /// Each as `file:line: field: message`, in file order; capped, with a
    /// last line saying how many are shown when there are more.
    pub problems: Vec<String>,
    /// How many problems there are, shown or not.
    pub total: usize,
}

/// What was read, for summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadSummary {
    pub files: usize,
    pub policies: usize,
}

/// Reads, expands and validates `files` (YAML and CSV, merged).
pub fn load(files: &[PathBuf]) -> Result<Plan, ManifestErrors> {
    load_with_summary(files).map(|(plan, _)| plan)
}

/// [`load`], and what was read.
pub fn load_with_summary(files: &[PathBuf]) -> Result<(Plan, LoadSummary), ManifestErrors> {
    load_with_options(files, &ReadOptions::default())
}

/// [`load_with_summary`], reading with `options` (regions allowed,
/// buckets files outside the manifest's folder).
pub fn load_with_options(
    files: &[PathBuf],
    options: &ReadOptions,
) -> Result<(Plan, LoadSummary), ManifestErrors> {
    let mut problems = Problems::default();
    let mut yaml = Vec::new();
    let mut csv = Vec::new();
    for path in files {
        let file: Arc<Path> = Arc::from(path.as_path());
        problems.declare_file(&file);
        match kind_of(path) {
            Some(Kind::Yaml) => {
                yaml.push((path, manifest::yaml::read(path, options, &mut problems)))
            }
            Some(Kind::Csv) => csv.push(path),
            None => problems.add(
                &Loc::new(&file, 1),
                "file",
                "is neither YAML nor CSV; name manifests *.yaml, *.yml or *.csv",
            ),
        }
    }
    let context = Context::new(&yaml, &mut problems);
    let mut expander = Expander::new(&context, options);
    for (_, manifest) in &yaml {
        for spec in &manifest.jobs {
            expander.yaml_job(spec, &mut problems);
        }
    }
    for path in csv {
        manifest::csv::read(path, options, &mut problems, |row, problems| {
            expander.csv_row(row, problems)
        });
    }
    let mut jobs = expander.jobs;
    sort_jobs(&mut jobs);
    check_duplicates(&jobs, &mut problems);
    check_limits(&jobs, &mut problems);
    if jobs.is_empty() && problems.is_empty() {
        let at = files
            .first()
            .map(|path| Loc::new(&Arc::from(path.as_path()), 1));
        if let Some(at) = at {
            problems.add(
                &at,
                "jobs",
                "the manifests define no jobs; add a jobs: list or a CSV fleet",
            );
        }
    }
    if !problems.is_empty() {
        let report = problems.into_report();
        return Err(ManifestErrors {
            problems: report.lines,
            total: report.total,
        });
    }
    let summary = LoadSummary {
        files: files.len(),
        policies: context.policies.len(),
    };
    Ok((Plan { jobs }, summary))
}

enum Kind {
    Yaml,
    Csv,
}

fn kind_of(path: &Path) -> Option<Kind> {
    let extension = path.extension()?.to_str()?.to_ascii_lowercase();
    match extension.as_str() {
        "yaml" | "yml" => Some(Kind::Yaml),
        "csv" => Some(Kind::Csv),
        _ => None,
    }
}

/// Defaults and policies, from every YAML file.
struct Context {
    defaults: Defaults,
    policies: HashMap<String, Policy>,
}

impl Context {
    fn new(yaml: &[(&PathBuf, YamlManifest)], problems: &mut Problems) -> Self {
        let mut defaults: Option<(Defaults, Loc)> = None;
        let mut policies: HashMap<String, Policy> = HashMap::new();
        for (path, manifest) in yaml {
            if let Some(found) = &manifest.defaults {
                let at = Loc::new(&Arc::from(path.as_path()), 1);
                match &defaults {
                    Some((_, first)) => problems.add(
                        &at,
                        "defaults",
                        format!(
                            "defaults are also set in {}; they apply to every file, so set \
                             them in one",
                            first.file.display()
                        ),
                    ),
                    None => defaults = Some((found.clone(), at)),
                }
            }
            for policy in &manifest.policies {
                match policies.get(&policy.name) {
                    Some(first) => problems.add(
                        &policy.at,
                        "policies",
                        format!(
                            "policy {:?} is also defined at {}; give each policy one name",
                            policy.name, first.at
                        ),
                    ),
                    None => {
                        policies.insert(policy.name.clone(), policy.clone());
                    }
                }
            }
        }
        Context {
            defaults: defaults.map(|(defaults, _)| defaults).unwrap_or_default(),
            policies,
        }
    }

    /// The policy named by `name`, or a problem naming the known ones.
    fn policy(&self, name: &Setting<String>, problems: &mut Problems) -> Option<&Policy> {
        let found = self.policies.get(&name.value);
        if found.is_none() {
            let mut known: Vec<&str> = self.policies.keys().map(String::as_str).collect();
            known.sort_unstable();
            let message = match manifest::did_you_mean(&name.value, &known) {
                Some(close) => format!("unknown policy {:?}; did you mean {close:?}?", name.value),
                None if known.is_empty() => format!(
                    "unknown policy {:?}; no policies are defined (policies come from YAML \
                     files on the same command line)",
                    name.value
                ),
                None => format!(
                    "unknown policy {:?}; defined: {}",
                    name.value,
                    known.join(", ")
                ),
            };
            problems.add(&name.at, "policy", message);
        }
        found
    }
}

/// Builds jobs from YAML job entries and CSV rows.
struct Expander<'c> {
    context: &'c Context,
    options: &'c ReadOptions,
    jobs: Vec<Job>,
    /// CSV rows that share every cell but bucket and region share a
    /// template; `None` remembers a template that failed validation.
    csv_templates: HashMap<String, Option<Arc<Template>>>,
    buckets_files: HashMap<PathBuf, Option<Arc<Vec<manifest::BucketLine>>>>,
    key: String,
}

impl<'c> Expander<'c> {
    fn new(context: &'c Context, options: &'c ReadOptions) -> Self {
        Expander {
            context,
            options,
            jobs: Vec::new(),
            csv_templates: HashMap::new(),
            buckets_files: HashMap::new(),
            key: String::new(),
        }
    }

    fn yaml_job(&mut self, spec: &JobSpec, problems: &mut Problems) {
        let policy = match &spec.policy {
            Some(name) => match self.context.policy(name, problems) {
                Some(policy) => policy.settings.clone(),
                None => return,
            },
            None => Settings::default(),
        };
        let settings = spec.set.or(&policy).or(&self.context.defaults.settings);
        let template = build_template(&spec.id, &settings, &spec.at, problems);
        let default_region = spec
            .region
            .as_ref()
            .or(self.context.defaults.region.as_ref());
        match &spec.buckets {
            Buckets::Listed(names) => {
                for name in names {
                    self.add_job(
                        &template,
                        &name.value,
                        &name.at,
                        None,
                        default_region,
                        problems,
                    );
                }
            }
            Buckets::File(path) => {
                let Some(lines) = self.buckets_file(path, problems) else {
                    return;
                };
                let file: Arc<Path> = Arc::from(path.value.as_path());
                for bucket in lines.iter() {
                    let at = Loc::new(&file, bucket.line);
                    let region = bucket.region.as_ref().map(|region| Setting {
                        value: region.clone(),
                        at: at.clone(),
                    });
                    self.add_job(
                        &template,
                        &bucket.name,
                        &at,
                        region.as_ref(),
                        default_region,
                        problems,
                    );
                }
            }
        }
    }

    fn buckets_file(
        &mut self,
        path: &Setting<PathBuf>,
        problems: &mut Problems,
    ) -> Option<Arc<Vec<manifest::BucketLine>>> {
        if let Some(cached) = self.buckets_files.get(&path.value) {
            return cached.clone();
        }
        let lines = manifest::read_buckets_file(&path.value, &path.at, self.options, problems)
            .map(Arc::new);
        self.buckets_files.insert(path.value.clone(), lines.clone());
        lines
    }

    fn csv_row(&mut self, row: &manifest::csv::Row<'_>, problems: &mut Problems) {
        let at = row.loc();
        let Some(bucket) = row.bucket() else {
            problems.add(&at, "bucket", "empty; every row needs a bucket");
            return;
        };
        row.template_key(&mut self.key);
        let template = match self.csv_templates.get(&self.key) {
            Some(template) => template.clone(),
            None => {
                let template = self.csv_template(row, problems);
                self.csv_templates
                    .insert(self.key.clone(), template.clone());
                template
            }
        };
        let region = row.region().map(|region| Setting {
            value: region.to_string(),
            at: at.clone(),
        });
        self.add_job(
            &template,
            bucket,
            &at,
            region.as_ref(),
            self.context.defaults.region.as_ref(),
            problems,
        );
    }

    fn csv_template(
        &self,
        row: &manifest::csv::Row<'_>,
        problems: &mut Problems,
    ) -> Option<Arc<Template>> {
        let at = row.loc();
        let Some(id) = row.id() else {
            problems.add(
                &at,
                "id",
                "empty; every row needs the inventory id to write",
            );
            return None;
        };
        let policy = match row.policy() {
            Some(name) => self.context.policy(&name, problems)?.settings.clone(),
            None => Settings::default(),
        };
        let settings = row
            .settings(problems)
            .or(&policy)
            .or(&self.context.defaults.settings);
        build_template(&id, &settings, &at, problems)
    }

    /// One job of `template` on `name`; the bucket's own region wins over
    /// the job's or the defaults'.
    fn add_job(
        &mut self,
        template: &Option<Arc<Template>>,
        name: &str,
        at: &Loc,
        own_region: Option<&Setting<String>>,
        default_region: Option<&Setting<String>>,
        problems: &mut Problems,
    ) {
        let bucket = BucketName::parse_for("bucket", name);
        if let Err(err) = &bucket {
            problems.add(at, err.field, &err.message);
        }
        let region = match own_region.or(default_region) {
            Some(region) => Region::parse_for("region", &region.value)
                .map_err(|err| problems.add(&region.at, err.field, &err.message))
                .ok(),
            None => {
                problems.add(
                    at,
                    "region",
                    format!(
                        "bucket {name} has no region; set region on the job, a region \
                         column, or defaults.region"
                    ),
                );
                None
            }
        };
        let (Ok(bucket), Some(region), Some(template)) = (bucket, region, template) else {
            return;
        };
        if let Some(pattern) = &template.prefix_pattern {
            let prefix = expand(pattern, &bucket, &region, &template.config.id);
            if let Err(err) = model::check_destination_prefix(&prefix) {
                problems.add(
                    at,
                    err.field,
                    format!("for bucket {bucket}: {}", err.message),
                );
                return;
            }
        }
        self.jobs.push(Job {
            bucket,
            region,
            template: template.clone(),
            file: at.file.clone(),
            line: at.line,
        });
    }
}

const PLACEHOLDERS: [&str; 3] = model::PREFIX_PLACEHOLDERS;

fn expand(pattern: &str, bucket: &BucketName, region: &Region, id: &InventoryId) -> String {
    pattern
        .replace("{bucket}", bucket.as_str())
        .replace("{region}", region.as_str())
        .replace("{id}", id.as_str())
}

/// Resolves and validates everything the buckets of one job share;
/// `None` (with problems recorded) when something is wrong.
fn build_template(
    id: &Setting<String>,
    settings: &Settings,
    job_at: &Loc,
    problems: &mut Problems,
) -> Option<Arc<Template>> {
    let mut checker = Checker {
        settings,
        job_at,
        id: &id.value,
        problems,
        ok: true,
        reported: Vec::new(),
    };
    let config_id = checker.parse(Some(id), InventoryId::parse);
    let versions = checker
        .parse(settings.included_object_versions.as_ref(), |text| {
            IncludedObjectVersions::from_str(text)
        })
        .or(settings
            .included_object_versions
            .is_none()
            .then_some(IncludedObjectVersions::All));
    let frequency = checker.required(settings.schedule.as_ref(), "schedule", Frequency::from_str);
    let optional_fields = checker.optional_fields();
    let filter = checker.filter();
    let destination = checker.destination();
    let parsed_ok = checker.ok;
    // Whatever failed to parse is stood in for, so the rules across
    // fields are checked too and every problem is reported in one run.
    let (destination, destination_region, prefix_pattern) =
        destination.unwrap_or_else(|| (stand_in_destination(), None, None));
    let config = InventoryConfiguration {
        id: config_id.unwrap_or_else(|| InventoryId::parse("stand-in").expect("a valid id")),
        enabled: settings
            .enabled
            .as_ref()
            .is_none_or(|enabled| enabled.value),
        included_object_versions: versions.unwrap_or(IncludedObjectVersions::All),
        filter: filter.flatten(),
        optional_fields: optional_fields.unwrap_or_default(),
        frequency: frequency.unwrap_or(Frequency::Daily),
        destination,
    };
    let mut sample = config.clone();
    if let Some(pattern) = &prefix_pattern {
        // The pattern itself: a stray '/' shows as written. Lengths after
        // expansion are checked per bucket.
        sample.destination.prefix = Some(pattern.clone());
    }
    for err in sample.validate() {
        if !checker.reported.contains(&err.field) {
            checker.report(&err);
        }
    }
    if !parsed_ok || !checker.ok {
        return None;
    }
    Some(Arc::new(Template {
        config,
        prefix_pattern,
        destination_region,
    }))
}

/// Where a destination that failed to parse is needed to check the rest.
fn stand_in_destination() -> Destination {
    Destination {
        bucket: BucketName::parse("stand-in-1250000000").expect("a valid bucket"),
        region: Region::parse("ap-guangzhou").expect("a valid region"),
        account_id: None,
        prefix: None,
        format: Format::Csv,
        sse_cos: false,
    }
}

/// Parses settings, reporting each problem where its value was written.
struct Checker<'a> {
    settings: &'a Settings,
    job_at: &'a Loc,
    id: &'a str,
    problems: &'a mut Problems,
    ok: bool,
    /// Fields already reported, so a stand-in value does not report them
    /// again.
    reported: Vec<&'static str>,
}

impl Checker<'_> {
    /// Where the value behind model field `field` was written.
    fn loc_of(&self, field: &str) -> Option<&Loc> {
        fn at(setting: &Option<Setting<String>>) -> Option<&Loc> {
            setting.as_ref().map(|s| &s.at)
        }
        let s = self.settings;
        match field {
            "enabled" => s.enabled.as_ref().map(|s| &s.at),
            "included_object_versions" => at(&s.included_object_versions),
            "schedule" => at(&s.schedule),
            "filter.prefix" => at(&s.filter_prefix),
            "filter.tags" => s.filter_tags.as_ref().map(|s| &s.at),
            "filter.period" => s.filter_period.as_ref().map(|s| &s.at),
            "optional_fields" => s.optional_fields.as_ref().map(|s| &s.at),
            "destination.bucket" => at(&s.destination_bucket),
            "destination.region" => at(&s.destination_region),
            "destination.account_id" => at(&s.destination_account_id),
            "destination.prefix" => at(&s.destination_prefix),
            "destination.format" => at(&s.destination_format),
            "destination.encryption" => at(&s.encryption),
            _ => None,
        }
    }

    fn report(&mut self, err: &InvalidField) {
        self.ok = false;
        self.reported.push(err.field);
        let at = self.loc_of(err.field).unwrap_or(self.job_at).clone();
        let message = if at.file != self.job_at.file || at.line != self.job_at.line {
            format!("{} (job {:?} at {})", err.message, self.id, self.job_at)
        } else {
            err.message.clone()
        };
        self.problems.add(&at, err.field, message);
    }

    fn parse<T>(
        &mut self,
        setting: Option<&Setting<String>>,
        parse: impl Fn(&str) -> Result<T, InvalidField>,
    ) -> Option<T> {
        let setting = setting?;
        match parse(&setting.value) {
            Ok(value) => Some(value),
            Err(err) => {
                self.ok = false;
                self.reported.push(err.field);
                let message = if setting.at != *self.job_at && !manifest::is_csv(&setting.at.file) {
                    format!("{} (job {:?} at {})", err.message, self.id, self.job_at)
                } else {
                    err.message
                };
                self.problems.add(&setting.at, err.field, message);
                None
            }
        }
    }

    fn required<T>(
        &mut self,
        setting: Option<&Setting<String>>,
        field: &'static str,
        parse: impl Fn(&str) -> Result<T, InvalidField>,
    ) -> Option<T> {
        if setting.is_none() {
            self.missing(field);
            return None;
        }
        self.parse(setting, parse)
    }

    fn missing(&mut self, field: &'static str) {
        self.ok = false;
        self.reported.push(field);
        let where_to = if manifest::is_csv(&self.job_at.file) {
            "fill the cell, or set it in the row's policy or the defaults"
        } else {
            "set it in the job's policy, its `set`, or defaults"
        };
        self.problems.add(
            self.job_at,
            field,
            format!("missing for job {:?}; {where_to}", self.id),
        );
    }

    fn optional_fields(&mut self) -> Option<Vec<OptionalField>> {
        let Some(setting) = self.settings.optional_fields.clone() else {
            return Some(Vec::new());
        };
        let mut fields = Vec::with_capacity(setting.value.len());
        for name in &setting.value {
            let one = Setting {
                value: name.clone(),
                at: setting.at.clone(),
            };
            fields.extend(self.parse(Some(&one), OptionalField::from_str));
        }
        Some(fields)
    }

    fn filter(&mut self) -> Option<Option<Filter>> {
        let s = self.settings;
        let prefix = s.filter_prefix.as_ref().map(|p| p.value.clone());
        let tags = s
            .filter_tags
            .as_ref()
            .map(|tags| {
                tags.value
                    .iter()
                    .map(|(key, value)| TagFilter {
                        key: key.clone(),
                        value: value.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let period = s.filter_period.as_ref().map(|period| Period {
            start: period.value.0,
            end: period.value.1,
        });
        Some(Filter::new(prefix, tags, period))
    }

    /// The destination, its fixed region (`None`: the job's), and the
    /// prefix pattern when it has placeholders.
    #[allow(clippy::type_complexity)]
    fn destination(&mut self) -> Option<(Destination, Option<Region>, Option<String>)> {
        let s = self.settings;
        let Some(bucket_setting) = s.destination_bucket.clone() else {
            self.missing("destination.bucket");
            return None;
        };
        let (arn_region, bucket) = if bucket_setting.value.starts_with("qcs::") {
            let (region, bucket) =
                self.parse(Some(&bucket_setting), model::parse_destination_arn)?;
            (Some(region), bucket)
        } else {
            (
                None,
                self.parse(Some(&bucket_setting), |text| {
                    BucketName::parse_for("destination.bucket", text)
                })?,
            )
        };
        let region = match (&s.destination_region, arn_region) {
            (Some(setting), arn) => {
                let region = self.parse(Some(setting), |text| {
                    Region::parse_for("destination.region", text)
                })?;
                if let Some(arn) = arn
                    && arn != region
                {
                    self.report(&InvalidField::new(
                        "destination.region",
                        format!(
                            "{region} differs from {arn} in destination.bucket; give one region"
                        ),
                    ));
                    return None;
                }
                Some(region)
            }
            (None, arn) => arn,
        };
        let account_id = match &s.destination_account_id {
            Some(setting) => Some(self.parse(Some(setting), |text| {
                AccountId::parse_for("destination.account_id", text)
            })?),
            None => None,
        };
        let format = match &s.destination_format {
            Some(setting) => self.parse(Some(setting), Format::from_str)?,
            None => Format::Csv,
        };
        let sse_cos = match &s.encryption {
            None => false,
            Some(setting) => match setting.value.as_str() {
                "SSE-COS" => true,
                "none" | "" => false,
                other => {
                    self.report(&InvalidField::new(
                        "destination.encryption",
                        format!("{} is not SSE-COS or none", model::quoted(other)),
                    ));
                    return None;
                }
            },
        };
        let (prefix, pattern) = match &s.destination_prefix {
            None => (None, None),
            Some(setting) => {
                self.check_placeholders(setting)?;
                if PLACEHOLDERS.iter().any(|p| setting.value.contains(p)) {
                    (None, Some(setting.value.clone()))
                } else {
                    (Some(setting.value.clone()), None)
                }
            }
        };
        let destination = Destination {
            bucket,
            // Replaced per job when the destination follows the job.
            region: region
                .clone()
                .unwrap_or_else(|| Region::parse("ap-guangzhou").expect("a valid region")),
            account_id,
            prefix,
            format,
            sse_cos,
        };
        Some((destination, region, pattern))
    }

    /// Only `{bucket}`, `{region}` and `{id}` may appear in braces.
    fn check_placeholders(&mut self, setting: &Setting<String>) -> Option<()> {
        let mut rest = setting.value.as_str();
        while let Some(open) = rest.find('{') {
            let after = &rest[open..];
            let close = after.find('}').map(|close| &after[..=close]);
            match close {
                Some(placeholder) if PLACEHOLDERS.contains(&placeholder) => {
                    rest = &after[placeholder.len()..];
                }
                _ => {
                    let shown = close.unwrap_or(after);
                    self.report(&InvalidField::new(
                        "destination.prefix",
                        format!(
                            "{} is not a placeholder; use {{bucket}}, {{region}} or {{id}}",
                            model::quoted(shown)
                        ),
                    ));
                    return None;
                }
            }
        }
        Some(())
    }
}

/// Two jobs with the same (bucket, id) would overwrite each other.
fn check_duplicates(jobs: &[Job], problems: &mut Problems) {
    for pair in jobs.windows(2) {
        let (first, second) = (&pair[0], &pair[1]);
        if first.bucket() == second.bucket() && first.id() == second.id() {
            problems.add(
                &second.loc(),
                "bucket",
                format!(
                    "job ({}, {}) is also defined at {}; each (bucket, id) may appear once",
                    second.bucket(),
                    second.id(),
                    first.loc()
                ),
            );
        }
    }
}

/// COS keeps at most [`model::MAX_JOBS_PER_BUCKET`] inventory jobs per
/// bucket. `live` counts jobs already on the bucket that the plan does not
/// replace. The message, when over.
pub fn over_limit(bucket: &str, planned: usize, live: usize) -> Option<String> {
    let total = planned + live;
    (total > model::MAX_JOBS_PER_BUCKET).then(|| {
        let live = if live > 0 {
            format!(" ({planned} planned, {live} already on the bucket)")
        } else {
            String::new()
        };
        format!(
            "bucket {bucket}: {total} jobs{live}, limit {}; COS refuses more, so move some \
             ids to other buckets",
            model::MAX_JOBS_PER_BUCKET
        )
    })
}

fn check_limits(jobs: &[Job], problems: &mut Problems) {
    for run in bucket_runs(jobs) {
        if let Some(message) = over_limit(run[0].bucket().as_str(), run.len(), 0) {
            problems.add(&run[model::MAX_JOBS_PER_BUCKET].loc(), "bucket", message);
        }
    }
}

/// `cosinv validate`: exit code 0, or 2 with every problem on stderr.
pub fn run_validate(args: &crate::cli::ValidateArgs) -> u8 {
    match load_with_summary(&args.files) {
        Ok((plan, summary)) => {
            println!(
                "ok: {} jobs on {} buckets from {} policies in {} files",
                plan.jobs().len(),
                plan.bucket_count(),
                summary.policies,
                summary.files
            );
            crate::exit::SUCCESS
        }
        Err(errors) => report_problems("validate", &errors),
    }
}

fn report_problems(command: &str, errors: &ManifestErrors) -> u8 {
    let stderr = std::io::stderr();
    let mut out = std::io::BufWriter::new(stderr.lock());
    for problem in &errors.problems {
        let _ = writeln!(out, "{problem}");
    }
    let _ = writeln!(out, "cosinv {command}: {errors}");
    crate::exit::USAGE
}

/// `cosinv plan`.
pub fn run_plan(args: &crate::cli::PlanArgs) -> u8 {
    let shard = match args.shard.as_deref().map(Shard::from_str).transpose() {
        Ok(shard) => shard,
        Err(message) => {
            eprintln!("cosinv plan: --shard {message}");
            return crate::exit::USAGE;
        }
    };
    let plan = match load(&args.files) {
        Ok(plan) => plan,
        Err(errors) => return report_problems("plan", &errors),
    };
    let plan = match shard {
        Some(shard) => plan.shard(shard),
        None => plan,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let written = match args.output {
        crate::cli::OutputFormat::Text => write_text(&plan, shard, &mut out),
        crate::cli::OutputFormat::Json => write_json(&plan, shard, &mut out),
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => crate::exit::SUCCESS,
        // A closed pipe (`cosinv plan | head`) is not a failure.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => crate::exit::SUCCESS,
        Err(err) => {
            eprintln!("cosinv plan: cannot write the plan: {err}");
            crate::exit::USAGE
        }
    }
}

/// The plan for people: per bucket, each job to put in one line.
pub fn write_text(plan: &Plan, shard: Option<Shard>, out: &mut impl Write) -> std::io::Result<()> {
    for run in bucket_runs(plan.jobs()) {
        writeln!(out, "{} ({})", run[0].bucket(), run[0].region())?;
        for job in run {
            writeln!(out, "  + put {}", describe_config(&job.config()))?;
        }
    }
    let shard = shard.map(|s| format!(" in shard {s}")).unwrap_or_default();
    writeln!(
        out,
        "plan: {} jobs to put on {} buckets{shard}",
        plan.jobs().len(),
        plan.bucket_count()
    )
}

fn describe_config(config: &InventoryConfiguration) -> String {
    let mut parts = vec![
        config.id.to_string(),
        config.frequency.to_string(),
        format!("{} versions", config.included_object_versions),
    ];
    if !config.enabled {
        parts.push("disabled".into());
    }
    if let Some(filter) = &config.filter {
        if let Some(prefix) = &filter.prefix {
            parts.push(format!("prefix {prefix:?}"));
        }
        for tag in &filter.tags {
            parts.push(format!("tag {}={}", tag.key, tag.value));
        }
        if let Some(period) = &filter.period {
            parts.push(format!(
                "created {}..{}",
                period.start.map(|s| s.to_string()).unwrap_or_default(),
                period.end.map(|s| s.to_string()).unwrap_or_default()
            ));
        }
    }
    let destination = &config.destination;
    let mut to = format!(
        "→ {} ({}, {}",
        destination.report_location(),
        destination.region,
        destination.format
    );
    if destination.sse_cos {
        to.push_str(", SSE-COS");
    }
    to.push(')');
    parts.push(to);
    if !config.optional_fields.is_empty() {
        let fields: Vec<&str> = config.optional_fields.iter().map(|f| f.as_str()).collect();
        parts.push(format!("fields {}", fields.join(",")));
    }
    parts.join("  ")
}

/// The plan for programs; the schema is documented in docs/manifest.md and
/// only grows.
pub fn write_json(plan: &Plan, shard: Option<Shard>, out: &mut impl Write) -> std::io::Result<()> {
    use serde::Serialize;

    #[derive(Serialize)]
    struct JsonJob<'a> {
        id: &'a str,
        enabled: bool,
        included_object_versions: &'a str,
        schedule: &'a str,
        filter: Option<JsonFilter<'a>>,
        optional_fields: Vec<&'a str>,
        destination: JsonDestination<'a>,
        source: String,
    }
    #[derive(Serialize)]
    struct JsonFilter<'a> {
        prefix: Option<&'a str>,
        tags: std::collections::BTreeMap<&'a str, &'a str>,
        period: Option<JsonPeriod>,
    }
    #[derive(Serialize)]
    struct JsonPeriod {
        start: Option<u64>,
        end: Option<u64>,
    }
    #[derive(Serialize)]
    struct JsonDestination<'a> {
        bucket: &'a str,
        region: &'a str,
        arn: String,
        account_id: Option<&'a str>,
        prefix: Option<&'a str>,
        format: &'a str,
        encryption: &'a str,
        report_location: String,
    }

    let to_io = |err: serde_json::Error| std::io::Error::other(err);
    write!(out, "{{\"version\":1,")?;
    match shard {
        Some(shard) => write!(out, "\"shard\":\"{shard}\",")?,
        None => write!(out, "\"shard\":null,")?,
    }
    write!(out, "\"buckets\":[")?;
    for (index, run) in bucket_runs(plan.jobs()).enumerate() {
        if index > 0 {
            write!(out, ",")?;
        }
        write!(out, "{{\"bucket\":")?;
        serde_json::to_writer(&mut *out, run[0].bucket().as_str()).map_err(to_io)?;
        write!(out, ",\"region\":")?;
        serde_json::to_writer(&mut *out, run[0].region().as_str()).map_err(to_io)?;
        write!(out, ",\"jobs\":[")?;
        for (position, job) in run.iter().enumerate() {
            if position > 0 {
                write!(out, ",")?;
            }
            let config = job.config();
            let d = &config.destination;
            let view = JsonJob {
                id: config.id.as_str(),
                enabled: config.enabled,
                included_object_versions: config.included_object_versions.as_str(),
                schedule: config.frequency.as_str(),
                filter: config.filter.as_ref().map(|filter| JsonFilter {
                    prefix: filter.prefix.as_deref(),
                    tags: filter
                        .tags
                        .iter()
                        .map(|tag| (tag.key.as_str(), tag.value.as_str()))
                        .collect(),
                    period: filter.period.map(|period| JsonPeriod {
                        start: period.start,
                        end: period.end,
                    }),
                }),
                optional_fields: config.optional_fields.iter().map(|f| f.as_str()).collect(),
                destination: JsonDestination {
                    bucket: d.bucket.as_str(),
                    region: d.region.as_str(),
                    arn: d.arn(),
                    account_id: d.account_id.as_ref().map(|a| a.as_str()),
                    prefix: d.prefix.as_deref(),
                    format: d.format.as_str(),
                    encryption: if d.sse_cos { "SSE-COS" } else { "none" },
                    report_location: d.report_location(),
                },
                source: job.loc().to_string(),
            };
            serde_json::to_writer(&mut *out, &view).map_err(to_io)?;
        }
        write!(out, "]}}")?;
    }
    writeln!(
        out,
        "],\"summary\":{{\"jobs\":{},\"buckets\":{}}}}}",
        plan.jobs().len(),
        plan.bucket_count()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_its_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn shards_are_pinned_forever() {
        // Changing these would move buckets between hosts of a fleet.
        let pinned = [
            ("photos-1250000000", 8, 5),
            ("logs-1250000000", 8, 3),
            ("b00042-1250000000", 100, 98),
        ];
        for (bucket, count, shard) in pinned {
            assert_eq!(shard_of(bucket, count), shard, "{bucket} of {count}");
        }
    }

    #[test]
    fn shard_parsing_explains_the_form() {
        assert_eq!("3/8".parse::<Shard>(), Ok(Shard { index: 3, count: 8 }));
        for bad in ["8/8", "1/0", "x/2", "2", "-1/3", ""] {
            let err = bad.parse::<Shard>().unwrap_err();
            assert!(err.contains("K/N"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_limit_counts_planned_and_live_jobs() {
        assert_eq!(over_limit("b", 1000, 0), None);
        assert_eq!(
            over_limit("b", 1001, 0).unwrap(),
            "bucket b: 1001 jobs, limit 1000; COS refuses more, so move some ids to other buckets"
        );
        assert!(
            over_limit("b", 990, 11)
                .unwrap()
                .contains("1001 jobs (990 planned, 11 already")
        );
    }
}
