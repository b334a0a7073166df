//! Defaults, policies, YAML jobs and CSV rows → one job per (bucket, id).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::check::build_template;
use super::discover::{Discovered, DiscoveryUse};
use super::{Job, Source, Template};
use crate::manifest::{
    self, Buckets, Defaults, Discover, JobSpec, Loc, Policy, Problems, ReadOptions, Setting,
    Settings, YamlManifest,
};
use crate::model::{self, BucketName, InvalidField, InventoryId, Region};

/// Defaults and policies, from every YAML file.
pub(super) struct Context {
    defaults: Defaults,
    pub(super) policies: HashMap<String, Policy>,
}

impl Context {
    pub(super) fn new(yaml: &[(&PathBuf, YamlManifest)], problems: &mut Problems) -> Self {
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
pub(super) struct Expander<'c> {
    context: &'c Context,
    options: &'c ReadOptions,
    /// The account's buckets, for `discover:` jobs.
    discovered: Option<&'c Discovered>,
    pub(super) jobs: Vec<Job>,
    /// Each `discover:` job met, and what it became.
    pub(super) discovery: Vec<DiscoveryUse>,
    /// CSV rows that share every cell but bucket and region share a
    /// template; `None` remembers a template that failed validation.
    csv_templates: HashMap<String, Option<Arc<Template>>>,
    pub(super) buckets_files: HashMap<PathBuf, Option<Arc<manifest::BucketsFile>>>,
    key: String,
    /// Every bucket name and region checked so far, kept once and shared
    /// by the jobs that name it (and checked once).
    buckets: HashMap<Box<str>, Arc<BucketName>>,
    regions: HashMap<Box<str>, Arc<Region>>,
}

impl<'c> Expander<'c> {
    pub(super) fn new(
        context: &'c Context,
        options: &'c ReadOptions,
        discovered: Option<&'c Discovered>,
    ) -> Self {
        Expander {
            context,
            options,
            discovered,
            jobs: Vec::new(),
            discovery: Vec::new(),
            csv_templates: HashMap::new(),
            buckets_files: HashMap::new(),
            key: String::new(),
            buckets: HashMap::new(),
            regions: HashMap::new(),
        }
    }

    pub(super) fn yaml_job(&mut self, spec: &JobSpec, problems: &mut Problems) {
        let policy = match &spec.policy {
            Some(name) => match self.context.policy(name, problems) {
                Some(policy) => policy.settings.clone(),
                None => {
                    // The job cannot be complete without its policy; what
                    // it sets itself is still checked, so one run shows all.
                    check_id(&spec.id, problems);
                    return;
                }
            },
            None => Settings::default(),
        };
        let settings = spec.set.or(&policy).or(&self.context.defaults.settings);
        let policy_name = spec.policy.as_ref().map(|name| name.value.as_str());
        let template = build_template(&spec.id, &settings, &spec.at, policy_name, problems);
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
            Buckets::Discover(discover) => {
                self.discovered_jobs(spec, discover, &template, problems)
            }
            Buckets::File(path) => {
                let Some(read) = self.buckets_file(path, problems) else {
                    return;
                };
                let file: Arc<Path> = Arc::from(path.value.as_path());
                for bucket in &read.buckets {
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

    /// One job of `template` per bucket `discover` selects, in the region
    /// the account gave for it; none without a bucket list.
    fn discovered_jobs(
        &mut self,
        spec: &JobSpec,
        discover: &Discover,
        template: &Option<Arc<Template>>,
        problems: &mut Problems,
    ) {
        let mut selected = None;
        if let Some(discovered) = self.discovered {
            let mut count = 0;
            for bucket in discovered.selected_by(discover) {
                let region = Setting {
                    value: bucket.region.to_string(),
                    at: discover.at.clone(),
                };
                let name = bucket.name.as_str();
                self.add_job(template, name, &discover.at, Some(&region), None, problems);
                count += 1;
            }
            selected = Some(count);
        }
        self.discovery.push(DiscoveryUse {
            source: Source {
                file: discover.at.file.to_path_buf(),
                line: discover.at.line as usize,
            },
            id: spec.id.value.clone(),
            regions: discover.regions.iter().map(|r| r.value.clone()).collect(),
            selected,
        });
    }

    fn buckets_file(
        &mut self,
        path: &Setting<PathBuf>,
        problems: &mut Problems,
    ) -> Option<Arc<manifest::BucketsFile>> {
        if let Some(cached) = self.buckets_files.get(&path.value) {
            return cached.clone();
        }
        let file = manifest::read_buckets_file(&path.value, &path.at, self.options, problems)
            .map(Arc::new);
        self.buckets_files.insert(path.value.clone(), file.clone());
        file
    }

    pub(super) fn csv_row(&mut self, row: &manifest::csv::Row<'_>, problems: &mut Problems) {
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
        let policy_name = row.policy();
        let policy = match &policy_name {
            Some(name) => self.context.policy(name, problems)?.settings.clone(),
            None => Settings::default(),
        };
        let settings = row
            .settings(problems)
            .or(&policy)
            .or(&self.context.defaults.settings);
        let policy_name = policy_name.as_ref().map(|name| name.value.as_str());
        build_template(&id, &settings, &at, policy_name, problems)
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
        let bucket = self.bucket(name);
        if let Err(err) = &bucket {
            problems.add(at, err.field, &err.message);
        }
        let region = match own_region.or(default_region) {
            Some(region) => self
                .region(&region.value)
                .and_then(|parsed| {
                    model::check_inventory_region("region", &parsed)?;
                    Ok(parsed)
                })
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
        // A region the reader refused is reported already: comparing it
        // would only say the same typo twice.
        if let Some(destination) = &template.destination_region
            && self.options.regions.allows(destination.as_str())
            && self.options.regions.allows(region.as_str())
            && let Err(err) = model::check_same_region(&bucket, &region, destination)
        {
            problems.add(at, err.field, err.message);
            return;
        }
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

    /// The bucket called `name`, checked once and shared.
    fn bucket(&mut self, name: &str) -> Result<Arc<BucketName>, InvalidField> {
        if let Some(bucket) = self.buckets.get(name) {
            return Ok(bucket.clone());
        }
        let bucket = Arc::new(BucketName::parse_for("bucket", name)?);
        self.buckets.insert(name.into(), bucket.clone());
        Ok(bucket)
    }

    /// The region called `name`, checked once and shared.
    fn region(&mut self, name: &str) -> Result<Arc<Region>, InvalidField> {
        if let Some(region) = self.regions.get(name) {
            return Ok(region.clone());
        }
        let region = Arc::new(Region::parse_for("region", name)?);
        self.regions.insert(name.into(), region.clone());
        Ok(region)
    }
}

/// Reports an invalid id where it was written.
fn check_id(id: &Setting<String>, problems: &mut Problems) {
    if let Err(err) = InventoryId::parse(&id.value) {
        problems.add(&id.at, err.field, err.message);
    }
}

pub(super) fn expand(
    pattern: &str,
    bucket: &BucketName,
    region: &Region,
    id: &InventoryId,
) -> String {
    // One pass: this runs for every job. Names and ids hold no braces, so
    // nothing substituted is read again.
    let mut out = String::with_capacity(pattern.len() + bucket.as_str().len());
    let mut rest = pattern;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let (value, used) = [
            ("{bucket}", bucket.as_str()),
            ("{region}", region.as_str()),
            ("{id}", id.as_str()),
        ]
        .into_iter()
        .find(|(placeholder, _)| tail.starts_with(placeholder))
        .map_or(("{", 1), |(placeholder, value)| (value, placeholder.len()));
        out.push_str(value);
        rest = &tail[used..];
    }
    out.push_str(rest);
    out
}
