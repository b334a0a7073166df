//! One job's settings → a validated configuration.
//!
//! Every problem is reported where its value was written (the job, its
//! policy, the defaults, a CSV cell), and whatever fails to parse is stood
//! in for, so the rules across fields are checked too and every problem is
//! reported in one run.

use std::str::FromStr;
use std::sync::Arc;

use super::Template;
use crate::manifest::{self, Loc, Problems, Setting, Settings};
use crate::model::{
    self, AccountId, BucketName, Destination, Filter, Format, Frequency, IncludedObjectVersions,
    InvalidField, InventoryConfiguration, InventoryId, MonthDay, OptionalField, Period, Region,
    TagFilter,
};

/// Resolves and validates everything the buckets of one job share;
/// `None` (with problems recorded) when something is wrong.
pub(super) fn build_template(
    id: &Setting<String>,
    settings: &Settings,
    job_at: &Loc,
    policy: Option<&str>,
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
    let monthly_date = checker.parse(settings.monthly_date.as_ref(), |text| {
        MonthDay::parse_for("monthly_date", text)
    });
    let optional_fields = checker.optional_fields();
    let filter = checker.filter();
    let destination = checker.destination();
    let parsed_ok = checker.ok;
    // Whatever failed to parse is stood in for, so the rules across
    // fields are checked too and every problem is reported in one run.
    let DestinationSpec {
        destination,
        region: destination_region,
        prefix_pattern,
    } = destination.unwrap_or_else(|| DestinationSpec {
        destination: stand_in_destination(),
        region: None,
        prefix_pattern: None,
    });
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
        monthly_date,
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
        policy: policy.map(Arc::from),
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

/// A job's destination, as far as it does not depend on the bucket.
struct DestinationSpec {
    destination: Destination,
    /// `None`: the destination is in each job's own region.
    region: Option<Region>,
    /// The prefix when it has placeholders, expanded per job.
    prefix_pattern: Option<String>,
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
            "monthly_date" => at(&s.monthly_date),
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
                // The field's value is stood in for: its own rules are not
                // checked again on the stand-in.
                self.reported.push(err.field);
                self.reject(setting, err);
                None
            }
        }
    }

    /// Reports that `setting` is invalid, where it was written.
    fn reject(&mut self, setting: &Setting<String>, err: InvalidField) {
        self.ok = false;
        let message = if setting.at != *self.job_at && !manifest::is_csv(&setting.at.file) {
            format!("{} (job {:?} at {})", err.message, self.id, self.job_at)
        } else {
            err.message
        };
        self.problems.add(&setting.at, err.field, message);
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
            // The names that parse are real values, not stand-ins: the
            // rules across them (no duplicates) are checked as well.
            match OptionalField::from_str(name) {
                Ok(field) => fields.push(field),
                Err(err) => self.reject(&one, err),
            }
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

    /// The destination, every part checked on its own so that all of its
    /// problems are reported in one run.
    fn destination(&mut self) -> Option<DestinationSpec> {
        let bucket = self.destination_bucket();
        let arn_region = bucket.as_ref().and_then(|(region, _)| region.clone());
        let region = self.destination_region(arn_region);
        let account_id = self
            .optional_setting(self.settings.destination_account_id.as_ref(), |text| {
                AccountId::parse_for("destination.account_id", text)
            });
        let format =
            self.optional_setting(self.settings.destination_format.as_ref(), Format::from_str);
        let sse_cos = self.encryption();
        let prefix = self.destination_prefix();
        let ((_, bucket), region, account_id, format, sse_cos, (prefix, prefix_pattern)) =
            (bucket?, region?, account_id?, format?, sse_cos?, prefix?);
        let destination = Destination {
            bucket,
            // Replaced per job when the destination follows the job.
            region: region
                .clone()
                .unwrap_or_else(|| Region::parse("ap-guangzhou").expect("a valid region")),
            account_id,
            prefix,
            format: format.unwrap_or(Format::Csv),
            sse_cos,
        };
        Some(DestinationSpec {
            destination,
            region,
            prefix_pattern,
        })
    }

    /// `destination.bucket`, a name or an ARN; the ARN's region if any.
    fn destination_bucket(&mut self) -> Option<(Option<Region>, BucketName)> {
        let Some(setting) = self.settings.destination_bucket.clone() else {
            self.missing("destination.bucket");
            return None;
        };
        if setting.value.starts_with("qcs::") {
            let (region, bucket) = self.parse(Some(&setting), model::parse_destination_arn)?;
            return Some((Some(region), bucket));
        }
        let bucket = self.parse(Some(&setting), |text| {
            BucketName::parse_for("destination.bucket", text)
        })?;
        Some((None, bucket))
    }

    /// `destination.region`, which must agree with the ARN's; `Some(None)`
    /// when neither is given (the destination follows each job's region).
    fn destination_region(&mut self, arn: Option<Region>) -> Option<Option<Region>> {
        let Some(setting) = self.settings.destination_region.as_ref() else {
            return Some(arn);
        };
        let region = self.parse(Some(setting), |text| {
            let region = Region::parse_for("destination.region", text)?;
            model::check_inventory_region("destination.region", &region)?;
            Ok(region)
        })?;
        if let Some(arn) = arn
            && arn != region
        {
            self.report(&InvalidField::new(
                "destination.region",
                format!("{region} differs from {arn} in destination.bucket; give one region"),
            ));
            return None;
        }
        Some(Some(region))
    }

    /// An optional setting: `Some(None)` when unset, `None` when invalid.
    fn optional_setting<T>(
        &mut self,
        setting: Option<&Setting<String>>,
        parse: impl Fn(&str) -> Result<T, InvalidField>,
    ) -> Option<Option<T>> {
        match setting {
            None => Some(None),
            Some(setting) => self.parse(Some(setting), parse).map(Some),
        }
    }

    /// `destination.encryption`: SSE-COS or none.
    fn encryption(&mut self) -> Option<bool> {
        let Some(setting) = &self.settings.encryption else {
            return Some(false);
        };
        match setting.value.as_str() {
            "SSE-COS" => Some(true),
            "none" | "" => Some(false),
            other => {
                self.report(&InvalidField::new(
                    "destination.encryption",
                    format!("{} is not SSE-COS or none", model::quoted(other)),
                ));
                None
            }
        }
    }

    /// `destination.prefix`: a fixed prefix, or a pattern with
    /// placeholders expanded per job.
    fn destination_prefix(&mut self) -> Option<(Option<String>, Option<String>)> {
        let Some(setting) = self.settings.destination_prefix.clone() else {
            return Some((None, None));
        };
        self.check_placeholders(&setting)?;
        if model::PREFIX_PLACEHOLDERS
            .iter()
            .any(|p| setting.value.contains(p))
        {
            Some((None, Some(setting.value)))
        } else {
            Some((Some(setting.value), None))
        }
    }

    /// Only `{bucket}`, `{region}` and `{id}` may appear in braces.
    fn check_placeholders(&mut self, setting: &Setting<String>) -> Option<()> {
        let mut rest = setting.value.as_str();
        while let Some(open) = rest.find('{') {
            let after = &rest[open..];
            let close = after.find('}').map(|close| &after[..=close]);
            match close {
                Some(placeholder) if model::PREFIX_PLACEHOLDERS.contains(&placeholder) => {
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
