//! Inventory configurations as COS returns them, read faithfully.
//!
//! What is on a bucket may have been made by the console, another tool or a
//! newer API than cosinv knows: a frequency cosinv does not offer, a filter
//! on tags, fields such as `x-cos-meta-*`. A [`LiveConfiguration`] keeps
//! every value as the text COS sent, so reading one never fails; elements
//! cosinv has no name for are listed, not refused.
//!
//! Comparison is by meaning, never by XML text: [`LiveConfiguration::meaning`]
//! turns either side (a live one, or a desired [`InventoryConfiguration`]
//! through `From`) into canonical values — optional fields and tags as
//! sorted sets, booleans in any case, an absent element as its default,
//! surrounding whitespace dropped — and [`changes`] lists the fields whose
//! values differ.

use std::collections::BTreeSet;

use super::InventoryConfiguration;

/// One inventory configuration as COS returned it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveConfiguration {
    pub id: String,
    pub enabled: Option<String>,
    pub included_object_versions: Option<String>,
    pub frequency: Option<String>,
    pub monthly_date: Option<String>,
    pub filter_prefix: Option<String>,
    pub filter_tags: Vec<(String, String)>,
    pub period_start: Option<String>,
    pub period_end: Option<String>,
    pub optional_fields: Vec<String>,
    pub destination_bucket: Option<String>,
    pub destination_account_id: Option<String>,
    pub destination_prefix: Option<String>,
    pub destination_format: Option<String>,
    pub sse_cos: bool,
    /// Elements cosinv never sends, as paths (`Filter/StorageClass`): a
    /// configuration holding any is not what the manifest asks (it may
    /// well be narrower), so it differs by them.
    pub unknown_elements: Vec<String>,
}

/// A field whose live value differs from the desired one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// The manifest's name of the field (`schedule`, `optional_fields`, …).
    pub field: &'static str,
    /// What the bucket has, canonical; empty when absent.
    pub live: String,
    /// What the manifest asks for, canonical; empty when absent.
    pub desired: String,
}

/// The fields compared, with the manifest's names, in display order.
pub const COMPARED_FIELDS: [&str; 13] = [
    "enabled",
    "included_object_versions",
    "schedule",
    "monthly_date",
    "filter.prefix",
    "filter.tags",
    "filter.period",
    "optional_fields",
    "destination.bucket",
    "destination.account_id",
    "destination.prefix",
    "destination.format",
    "destination.encryption",
];

/// Trimmed text; an empty or absent element is `""`.
fn text(value: &Option<String>) -> String {
    value
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_string()
}

/// Text with a default for an absent or empty element.
fn or_default(value: &Option<String>, default: &str) -> String {
    match text(value) {
        empty if empty.is_empty() => default.to_string(),
        found => found,
    }
}

/// A number written any way COS might (`07`, ` 7 `) as its plain digits;
/// anything else as it is, so it differs from every valid value.
fn number(value: &Option<String>) -> String {
    let raw = text(value);
    raw.parse::<u64>().map(|n| n.to_string()).unwrap_or(raw)
}

fn boolean(value: &Option<String>, default: bool) -> String {
    let raw = text(value);
    if raw.is_empty() {
        default.to_string()
    } else if raw.eq_ignore_ascii_case("true") || raw.eq_ignore_ascii_case("false") {
        raw.to_ascii_lowercase()
    } else {
        raw
    }
}

fn sorted_set<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let set: BTreeSet<&str> = items.map(str::trim).filter(|i| !i.is_empty()).collect();
    set.into_iter().collect::<Vec<_>>().join(", ")
}

impl LiveConfiguration {
    /// The compared fields' canonical values, in [`COMPARED_FIELDS`] order.
    pub fn meaning(&self) -> [String; 13] {
        let period = match (number(&self.period_start), number(&self.period_end)) {
            (start, end) if start.is_empty() && end.is_empty() => String::new(),
            (start, end) => format!("{start}..{end}"),
        };
        let tags = self
            .filter_tags
            .iter()
            .map(|(key, value)| format!("{}={}", key.trim(), value.trim()))
            .collect::<Vec<_>>();
        [
            boolean(&self.enabled, true),
            or_default(&self.included_object_versions, "All"),
            text(&self.frequency),
            number(&self.monthly_date),
            text(&self.filter_prefix),
            sorted_set(tags.iter().map(String::as_str)),
            period,
            sorted_set(self.optional_fields.iter().map(String::as_str)),
            text(&self.destination_bucket),
            text(&self.destination_account_id),
            text(&self.destination_prefix),
            or_default(&self.destination_format, "CSV"),
            if self.sse_cos { "SSE-COS" } else { "none" }.to_string(),
        ]
    }
}

/// The name of the change that lists elements cosinv does not model.
pub const OTHER_ELEMENTS: &str = "other elements";

/// The fields where `live` differs from `desired`, by meaning; empty when
/// they mean the same. Elements cosinv does not model, on either side,
/// are one more change ([`OTHER_ELEMENTS`]): a PUT of `desired` replaces
/// the whole configuration, so they would not survive it, and whatever
/// they mean (a `Filter/StorageClass` narrows what is listed) the bucket
/// does not hold what the manifest asks.
pub fn changes(live: &LiveConfiguration, desired: &LiveConfiguration) -> Vec<FieldChange> {
    let mut found: Vec<FieldChange> = COMPARED_FIELDS
        .iter()
        .zip(live.meaning().into_iter().zip(desired.meaning()))
        .filter(|(_, (live, desired))| live != desired)
        .map(|(field, (live, desired))| FieldChange {
            field,
            live,
            desired,
        })
        .collect();
    if live.unknown_elements != desired.unknown_elements {
        found.push(FieldChange {
            field: OTHER_ELEMENTS,
            live: live.unknown_elements.join(", "),
            desired: desired.unknown_elements.join(", "),
        });
    }
    found
}

impl From<&InventoryConfiguration> for LiveConfiguration {
    /// What COS would hold after a PUT of `config`.
    fn from(config: &InventoryConfiguration) -> Self {
        let filter = config.filter.as_ref();
        let period = filter.and_then(|filter| filter.period);
        let destination = &config.destination;
        LiveConfiguration {
            id: config.id.to_string(),
            enabled: Some(config.enabled.to_string()),
            included_object_versions: Some(config.included_object_versions.to_string()),
            frequency: Some(config.frequency.to_string()),
            monthly_date: config.monthly_date.map(|day| day.to_string()),
            filter_prefix: filter.and_then(|filter| filter.prefix.clone()),
            filter_tags: filter
                .map(|filter| {
                    filter
                        .tags
                        .iter()
                        .map(|tag| (tag.key.clone(), tag.value.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            period_start: period.and_then(|p| p.start).map(|s| s.to_string()),
            period_end: period.and_then(|p| p.end).map(|e| e.to_string()),
            optional_fields: config
                .optional_fields
                .iter()
                .map(ToString::to_string)
                .collect(),
            destination_bucket: Some(destination.arn()),
            destination_account_id: destination.account_id.as_ref().map(ToString::to_string),
            destination_prefix: destination.prefix.clone(),
            destination_format: Some(destination.format.to_string()),
            sse_cos: destination.sse_cos,
            unknown_elements: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::sample;

    fn live() -> LiveConfiguration {
        LiveConfiguration::from(&sample())
    }

    #[test]
    fn a_configuration_means_what_it_means() {
        assert!(changes(&live(), &live()).is_empty());
    }

    #[test]
    fn order_case_whitespace_and_defaults_do_not_count() {
        let desired = live();
        let mut found = live();
        found.optional_fields.reverse();
        found.enabled = Some(" True ".into());
        found.included_object_versions = None;
        found.destination_format = Some(String::new());
        found.destination_prefix = Some("  list1\n".into());
        assert_eq!(changes(&found, &desired), Vec::new());
        let mut desired_all = desired.clone();
        desired_all.included_object_versions = Some("All".into());
        assert!(changes(&found, &desired_all).is_empty());
    }

    #[test]
    fn an_element_cosinv_does_not_model_is_a_difference_named_by_its_path() {
        let mut found = live();
        found.unknown_elements = vec!["Filter/StorageClass".into(), "Schedule/Hour".into()];
        assert_eq!(
            changes(&found, &live()),
            [FieldChange {
                field: OTHER_ELEMENTS,
                live: "Filter/StorageClass, Schedule/Hour".into(),
                desired: String::new(),
            }]
        );
    }

    #[test]
    fn real_differences_are_named_old_and_new() {
        let desired = live();
        let mut found = live();
        found.frequency = Some("Weekly".into());
        found.optional_fields.push("Crc64".into());
        found.sse_cos = false;
        let found_changes = changes(&found, &desired);
        let fields: Vec<&str> = found_changes.iter().map(|c| c.field).collect();
        assert_eq!(
            fields,
            ["schedule", "optional_fields", "destination.encryption"]
        );
        assert_eq!(found_changes[0].live, "Weekly");
        assert_eq!(found_changes[0].desired, "Daily");
        assert_eq!(found_changes[1].live, "Crc64, ETag, Size");
        assert_eq!(found_changes[1].desired, "ETag, Size");
    }

    #[test]
    fn values_cosinv_cannot_express_still_compare() {
        let mut found = live();
        found.frequency = Some("Hourly".into());
        found.enabled = Some("yes".into());
        found.monthly_date = Some("07".into());
        let found_changes = changes(&found, &live());
        assert_eq!(found_changes.len(), 3, "{found_changes:?}");
        let mut monthly = live();
        monthly.frequency = Some("Monthly".into());
        monthly.monthly_date = Some("7".into());
        let mut monthly_padded = monthly.clone();
        monthly_padded.monthly_date = Some(" 07 ".into());
        assert!(changes(&monthly_padded, &monthly).is_empty());
    }
}
