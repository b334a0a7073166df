//! The inventory configuration model: typed Rust for every node of a COS
//! `<InventoryConfiguration>`, and COS's rules for each value.
//!
//! This module owns *what a valid configuration is*. It does not own the XML
//! form (see [`crate::cos::xml`]) nor the manifest form (see `crate::manifest`):
//! both convert into these types, and nothing downstream re-validates.
//!
//! Field names in errors (`destination.bucket`, `filter.tags`, …) are the
//! manifest's keys, so the planner can report them as they are.

pub mod live;
mod pattern;

use std::fmt;
use std::str::FromStr;

pub use pattern::{BucketPattern, PatternError};

/// COS allows at most this many inventory configurations on one bucket.
pub const MAX_JOBS_PER_BUCKET: usize = 1000;
/// COS documents the Id's characters but not its length; cosinv caps it at
/// 64, a length every COS region accepts.
pub const MAX_ID_LEN: usize = 64;
/// Longest prefix (filter or destination) cosinv accepts, in bytes; COS
/// object keys are limited to 850 bytes.
pub const MAX_PREFIX_LEN: usize = 850;
/// COS bucket names, `-APPID` included, are at most 50 characters.
pub const MAX_BUCKET_LEN: usize = 50;
const MAX_TAG_KEY_LEN: usize = 128;
const MAX_TAG_VALUE_LEN: usize = 256;

/// Every COS region cosinv knows, sorted so that a binary search finds one.
///
/// Source: Tencent Cloud's COS documentation, "Regions and Access
/// Endpoints" (<https://cloud.tencent.com/document/product/436/6224>), as
/// the COS SDKs' and tools' region tables repeat it: the public-cloud
/// regions of the Chinese mainland, the finance-cloud regions (`-fsi`,
/// opened to financial institutions on request), and the regions of
/// Asia-Pacific, the Americas and Europe. Older regions those tables still
/// list (`ap-beijing-1`, `ap-mumbai`, `na-toronto`, `eu-moscow`) are kept:
/// refusing a region that holds buckets is worse than accepting one that
/// takes no new ones. A region COS adds later is accepted through
/// [`RegionPolicy`], not by editing this list in a hurry.
pub const COS_REGIONS: &[&str] = &[
    "ap-bangkok",
    "ap-beijing",
    "ap-beijing-1",
    "ap-beijing-fsi",
    "ap-chengdu",
    "ap-chongqing",
    "ap-guangzhou",
    "ap-hongkong",
    "ap-jakarta",
    "ap-mumbai",
    "ap-nanjing",
    "ap-seoul",
    "ap-shanghai",
    "ap-shanghai-fsi",
    "ap-shenzhen-fsi",
    "ap-singapore",
    "ap-tokyo",
    "eu-frankfurt",
    "eu-moscow",
    "na-ashburn",
    "na-siliconvalley",
    "na-toronto",
    "sa-saopaulo",
];

/// True for a region in [`COS_REGIONS`].
pub fn is_cos_region(region: &str) -> bool {
    COS_REGIONS.binary_search(&region).is_ok()
}

/// Refuses a finance-cloud region (`-fsi`): COS's inventory overview
/// (<https://cloud.tencent.com/document/product/436/33702>) says inventories
/// are not supported there, so a job there could only fail at COS.
pub fn check_inventory_region(field: &'static str, region: &Region) -> Result<(), InvalidField> {
    if region.as_str().ends_with("-fsi") {
        return Err(InvalidField::new(
            field,
            format!(
                "{region} is a finance-cloud region, where COS offers no inventory \
                 (cloud.tencent.com/document/product/436/33702)"
            ),
        ));
    }
    Ok(())
}

/// Refuses a destination outside the source bucket's region: COS delivers
/// inventory reports only to a bucket in the source's region (the console
/// guide, <https://cloud.tencent.com/document/product/436/30624>).
pub fn check_same_region(
    bucket: &BucketName,
    region: &Region,
    destination: &Region,
) -> Result<(), InvalidField> {
    if region != destination {
        return Err(InvalidField::new(
            "destination.region",
            format!(
                "the destination is in {destination} but bucket {bucket} is in {region}; COS \
                 delivers inventory reports only to a bucket in the source bucket's region \
                 (cloud.tencent.com/document/product/436/30624)"
            ),
        ));
    }
    Ok(())
}

/// Which well-formed regions a manifest may name: COS's known ones, plus
/// those the operator allows explicitly (a region COS opened after this
/// release), or any at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionPolicy {
    /// Accepted besides [`COS_REGIONS`].
    pub extra: Vec<Region>,
    /// Accept every well-formed region.
    pub allow_unknown: bool,
}

impl RegionPolicy {
    /// Known regions plus `extra`.
    pub fn allowing(extra: Vec<Region>) -> Self {
        RegionPolicy {
            extra,
            allow_unknown: false,
        }
    }

    pub fn allows(&self, region: &str) -> bool {
        self.allow_unknown
            || is_cos_region(region)
            || self.extra.iter().any(|extra| extra.as_str() == region)
    }
}

/// Placeholders a destination prefix may hold, expanded per job.
pub const PREFIX_PLACEHOLDERS: [&str; 3] = ["{bucket}", "{region}", "{id}"];

/// A value that breaks one of COS's rules, with the field it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidField {
    /// The manifest key of the field (`id`, `destination.bucket`, …).
    pub field: &'static str,
    /// What is wrong and, where it is obvious, how to fix it.
    pub message: String,
}

impl InvalidField {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        InvalidField {
            field,
            message: message.into(),
        }
    }
}

/// Quotes user input for an error message, shortened so a megabyte of
/// garbage does not become a megabyte of error.
pub fn quoted(value: &str) -> String {
    const MAX: usize = 80;
    if value.chars().count() <= MAX {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(MAX).collect();
        format!("{head:?}… ({} bytes)", value.len())
    }
}

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_newtype!(
    /// An inventory job Id: letters, digits, `-`, `_`, `.`; 1 to 64 bytes.
    InventoryId
);
string_newtype!(
    /// A bucket name with its APPID: `examplebucket-1250000000`.
    BucketName
);
string_newtype!(
    /// A COS region: `ap-guangzhou`.
    Region
);
string_newtype!(
    /// A Tencent Cloud account (owner) Id: digits.
    AccountId
);

impl InventoryId {
    pub fn parse(value: &str) -> Result<Self, InvalidField> {
        let field = "id";
        if value.is_empty() {
            return Err(InvalidField::new(field, "must not be empty"));
        }
        if value.len() > MAX_ID_LEN {
            return Err(InvalidField::new(
                field,
                format!(
                    "{} is {} bytes; at most {MAX_ID_LEN} are allowed",
                    quoted(value),
                    value.len()
                ),
            ));
        }
        if let Some(bad) = value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(InvalidField::new(
                field,
                format!(
                    "{} contains {bad:?}; only letters, digits, '-', '_' and '.' are allowed",
                    quoted(value)
                ),
            ));
        }
        Ok(InventoryId(value.to_string()))
    }
}

/// The APPID suffix of a bucket's name (after its last `-`), or `""`;
/// for names not parsed into a [`BucketName`].
pub fn appid_of(name: &str) -> &str {
    name.rsplit_once('-').map_or("", |(_, appid)| appid)
}

impl BucketName {
    /// Parses a bucket name for the manifest field `field` (`bucket` or
    /// `destination.bucket`).
    pub fn parse_for(field: &'static str, value: &str) -> Result<Self, InvalidField> {
        let fail = |why: &str| {
            InvalidField::new(
                field,
                format!(
                    "{} is not a COS bucket name: {why}; expected <name>-<APPID> \
                     such as examplebucket-1250000000",
                    quoted(value)
                ),
            )
        };
        if value.len() > MAX_BUCKET_LEN {
            return Err(fail(&format!("longer than {MAX_BUCKET_LEN} characters")));
        }
        let Some((name, appid)) = value.rsplit_once('-') else {
            return Err(fail("no -APPID suffix"));
        };
        if appid.len() != 10 || !appid.bytes().all(|b| b.is_ascii_digit()) {
            return Err(fail("the APPID after the last '-' must be 10 digits"));
        }
        if name.is_empty() {
            return Err(fail("the name before -APPID is empty"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(fail("only lowercase letters, digits and '-' are allowed"));
        }
        if name.starts_with('-') || name.ends_with('-') {
            return Err(fail("the name must not start or end with '-'"));
        }
        Ok(BucketName(value.to_string()))
    }

    pub fn parse(value: &str) -> Result<Self, InvalidField> {
        Self::parse_for("bucket", value)
    }

    /// The APPID suffix.
    pub fn appid(&self) -> &str {
        appid_of(&self.0)
    }
}

impl Region {
    pub fn parse_for(field: &'static str, value: &str) -> Result<Self, InvalidField> {
        let valid = (2..=40).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && value.as_bytes()[0].is_ascii_lowercase()
            && !value.ends_with('-');
        if valid {
            return Ok(Region(value.to_string()));
        }
        // The usual slips: capitals, '_' or spaces for '-'.
        let respelt = value.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        let hint = if is_cos_region(&respelt) {
            format!(" (did you mean {respelt:?}?)")
        } else {
            String::new()
        };
        Err(InvalidField::new(
            field,
            format!(
                "{} is not a COS region; expected lowercase letters, digits and '-', \
                 such as ap-guangzhou{hint}",
                quoted(value)
            ),
        ))
    }

    pub fn parse(value: &str) -> Result<Self, InvalidField> {
        Self::parse_for("region", value)
    }
}

impl AccountId {
    pub fn parse_for(field: &'static str, value: &str) -> Result<Self, InvalidField> {
        if (1..=20).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(AccountId(value.to_string()))
        } else {
            Err(InvalidField::new(
                field,
                format!(
                    "{} is not an account Id; expected digits such as \"100000000001\" \
                     (quote it in YAML)",
                    quoted(value)
                ),
            ))
        }
    }
}

/// Declares a closed set of COS values with exact-case parsing and a hint
/// for near misses (`daily` → `Daily`).
macro_rules! cos_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = InvalidField;

            fn from_str(value: &str) -> Result<Self, InvalidField> {
                match value {
                    $($text => Ok($name::$variant),)+
                    _ => Err(enum_error($field, value, &[$($text),+])),
                }
            }
        }
    };
}

fn enum_error(field: &'static str, value: &str, allowed: &[&str]) -> InvalidField {
    let hint = allowed
        .iter()
        .find(|candidate| candidate.eq_ignore_ascii_case(value))
        .map(|candidate| format!(" (did you mean {candidate:?}? values are case-sensitive)"))
        .unwrap_or_default();
    InvalidField::new(
        field,
        format!(
            "{} is not one of {}{hint}",
            quoted(value),
            allowed.join(", ")
        ),
    )
}

cos_enum!(
    /// `IncludedObjectVersions`.
    IncludedObjectVersions, "included_object_versions" {
        All => "All",
        Current => "Current",
    }
);
cos_enum!(
    /// `Schedule/Frequency`. `Monthly` comes with a day of the month
    /// (`Schedule/MonthlyDate`, see [`MonthDay`]).
    Frequency, "schedule" {
        Daily => "Daily",
        Weekly => "Weekly",
        Monthly => "Monthly",
    }
);

/// The day of the month a `Monthly` inventory runs (`Schedule/MonthlyDate`).
///
/// cosinv accepts 1 to 28, the days every month has, so a schedule never
/// silently skips February. A live configuration with another day is read
/// as COS returns it (see [`live`]) and shown as a change when the manifest
/// manages it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MonthDay(u8);

/// The latest day of the month cosinv schedules on.
pub const MAX_MONTH_DAY: u8 = 28;

impl MonthDay {
    pub fn parse_for(field: &'static str, value: &str) -> Result<Self, InvalidField> {
        match value.trim().parse::<u8>() {
            Ok(day @ 1..=MAX_MONTH_DAY) => Ok(MonthDay(day)),
            _ => Err(InvalidField::new(
                field,
                format!(
                    "{} is not a day of the month from 1 to {MAX_MONTH_DAY} (later days do \
                     not exist in every month)",
                    quoted(value)
                ),
            )),
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for MonthDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
cos_enum!(
    /// `COSBucketDestination/Format`; COS writes CSV only.
    Format, "destination.format" {
        Csv => "CSV",
    }
);

/// One `OptionalFields/Field`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OptionalField {
    Size,
    LastModifiedDate,
    StorageClass,
    ETag,
    IsMultipartUploaded,
    ReplicationStatus,
    Tag,
    Crc64,
    /// `x-cos-meta-<name>`: a user metadata header; the value held is the
    /// whole field text.
    Meta(String),
}

const META_PREFIX: &str = "x-cos-meta-";
const FIXED_FIELDS: [(&str, OptionalField); 8] = [
    ("Size", OptionalField::Size),
    ("LastModifiedDate", OptionalField::LastModifiedDate),
    ("StorageClass", OptionalField::StorageClass),
    ("ETag", OptionalField::ETag),
    ("IsMultipartUploaded", OptionalField::IsMultipartUploaded),
    ("ReplicationStatus", OptionalField::ReplicationStatus),
    ("Tag", OptionalField::Tag),
    ("Crc64", OptionalField::Crc64),
];

impl OptionalField {
    pub fn as_str(&self) -> &str {
        match self {
            OptionalField::Meta(text) => text,
            fixed => FIXED_FIELDS
                .iter()
                .find(|(_, field)| field == fixed)
                .map_or("", |(text, _)| text),
        }
    }
}

impl fmt::Display for OptionalField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OptionalField {
    type Err = InvalidField;

    fn from_str(value: &str) -> Result<Self, InvalidField> {
        if let Some((_, field)) = FIXED_FIELDS.iter().find(|(text, _)| *text == value) {
            return Ok(field.clone());
        }
        if let Some(name) = value.strip_prefix(META_PREFIX) {
            let valid_name = !name.is_empty()
                && name.len() <= 128
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'*'));
            return if valid_name {
                Ok(OptionalField::Meta(value.to_string()))
            } else {
                Err(InvalidField::new(
                    "optional_fields",
                    format!(
                        "{} is not a valid metadata field; expected x-cos-meta-<name> with a \
                         name of letters, digits, '-', '_', '.'",
                        quoted(value)
                    ),
                ))
            };
        }
        let mut allowed: Vec<&str> = FIXED_FIELDS.iter().map(|(text, _)| *text).collect();
        allowed.push("x-cos-meta-<name>");
        Err(enum_error("optional_fields", value, &allowed))
    }
}

/// A tag the inventory is filtered on (`Filter/And/Tag`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TagFilter {
    pub key: String,
    pub value: String,
}

/// `Filter/Period`: objects created in this window, Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    pub start: Option<u64>,
    pub end: Option<u64>,
}

/// `Filter`: which objects the inventory covers. An empty filter is no
/// filter: constructors return `None` rather than an empty `Filter`, so
/// equal configurations compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Filter {
    pub prefix: Option<String>,
    pub tags: Vec<TagFilter>,
    pub period: Option<Period>,
}

impl Filter {
    /// Builds a filter, or `None` when nothing would be filtered.
    pub fn new(
        prefix: Option<String>,
        tags: Vec<TagFilter>,
        period: Option<Period>,
    ) -> Option<Self> {
        let prefix = prefix.filter(|prefix| !prefix.is_empty());
        let period = period.filter(|period| period.start.is_some() || period.end.is_some());
        if prefix.is_none() && tags.is_empty() && period.is_none() {
            None
        } else {
            Some(Filter {
                prefix,
                tags,
                period,
            })
        }
    }
}

/// `Destination/COSBucketDestination`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    pub bucket: BucketName,
    pub region: Region,
    pub account_id: Option<AccountId>,
    /// Without the `/` COS appends; `None` for no prefix.
    pub prefix: Option<String>,
    pub format: Format,
    /// `Encryption/SSE-COS`.
    pub sse_cos: bool,
}

/// The `qcs::cos:<region>::<bucket>` form of a destination bucket.
pub fn destination_arn(region: &Region, bucket: &BucketName) -> String {
    format!("qcs::cos:{region}::{bucket}")
}

/// Parses `qcs::cos:<region>::<bucket-appid>`.
pub fn parse_destination_arn(value: &str) -> Result<(Region, BucketName), InvalidField> {
    let field = "destination.bucket";
    let malformed = || {
        InvalidField::new(
            field,
            format!(
                "{} is not a destination; expected qcs::cos:<region>::<name-appid> such as \
                 qcs::cos:ap-guangzhou::inventory-1250000000",
                quoted(value)
            ),
        )
    };
    let rest = value.strip_prefix("qcs::cos:").ok_or_else(malformed)?;
    let (region, bucket) = rest.split_once("::").ok_or_else(malformed)?;
    Ok((
        Region::parse_for("destination.region", region)?,
        BucketName::parse_for(field, bucket)?,
    ))
}

impl Destination {
    pub fn arn(&self) -> String {
        destination_arn(&self.region, &self.bucket)
    }

    /// Where COS writes reports: `cos://<bucket>/<prefix>/…`. COS appends
    /// the `/` itself, which is why a prefix may not end with one.
    pub fn report_location(&self) -> String {
        match &self.prefix {
            Some(prefix) => format!("cos://{}/{prefix}/", self.bucket),
            None => format!("cos://{}/", self.bucket),
        }
    }
}

/// One inventory job as COS stores it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InventoryConfiguration {
    pub id: InventoryId,
    pub enabled: bool,
    pub included_object_versions: IncludedObjectVersions,
    pub filter: Option<Filter>,
    pub optional_fields: Vec<OptionalField>,
    pub frequency: Frequency,
    /// The day of a `Monthly` schedule; `None` for the others.
    pub monthly_date: Option<MonthDay>,
    pub destination: Destination,
}

/// Checks a filter prefix or destination prefix.
pub fn check_prefix(field: &'static str, prefix: &str) -> Result<(), InvalidField> {
    if prefix.len() > MAX_PREFIX_LEN {
        return Err(InvalidField::new(
            field,
            format!(
                "is {} bytes; at most {MAX_PREFIX_LEN} are allowed",
                prefix.len()
            ),
        ));
    }
    if prefix.chars().any(char::is_control) {
        return Err(InvalidField::new(
            field,
            format!("{} contains a control character", quoted(prefix)),
        ));
    }
    Ok(())
}

/// What to write instead of a destination prefix with a leading or
/// trailing `/`: the same without them; `None` when nothing is left (the
/// fix is to leave the prefix out).
fn prefix_without_slashes(prefix: &str) -> Option<&str> {
    Some(prefix.trim_matches('/')).filter(|trimmed| !trimmed.is_empty())
}

/// Checks a destination prefix: length, and no leading or trailing `/`.
/// The fix a message suggests is itself a valid prefix.
pub fn check_destination_prefix(prefix: &str) -> Result<(), InvalidField> {
    let field = "destination.prefix";
    check_prefix(field, prefix)?;
    if !prefix.starts_with('/') && !prefix.ends_with('/') {
        return Ok(());
    }
    let fix = match prefix_without_slashes(prefix) {
        Some(trimmed) => format!("write {}", quoted(trimmed)),
        None => "leave the prefix out".to_string(),
    };
    let message = if prefix.starts_with('/') {
        format!("{} starts with '/'; {fix}", quoted(prefix))
    } else {
        format!(
            "{} ends with '/'; COS appends one itself, so reports would land under {}; {fix}",
            quoted(prefix),
            quoted(&format!("{prefix}/")),
        )
    };
    Err(InvalidField::new(field, message))
}

fn check_tags(tags: &[TagFilter]) -> Vec<InvalidField> {
    let field = "filter.tags";
    let mut errors = Vec::new();
    for (index, tag) in tags.iter().enumerate() {
        if tag.key.is_empty() || tag.key.len() > MAX_TAG_KEY_LEN {
            errors.push(InvalidField::new(
                field,
                format!(
                    "tag key {} must be 1 to {MAX_TAG_KEY_LEN} bytes",
                    quoted(&tag.key)
                ),
            ));
        }
        if tag.value.len() > MAX_TAG_VALUE_LEN {
            errors.push(InvalidField::new(
                field,
                format!(
                    "the value of tag {} is longer than {MAX_TAG_VALUE_LEN} bytes",
                    quoted(&tag.key)
                ),
            ));
        }
        if tags[..index].iter().any(|earlier| earlier.key == tag.key) {
            errors.push(InvalidField::new(
                field,
                format!("tag key {} appears twice", quoted(&tag.key)),
            ));
        }
    }
    errors
}

fn check_period(period: &Period) -> Option<InvalidField> {
    match (period.start, period.end) {
        (Some(start), Some(end)) if start >= end => Some(InvalidField::new(
            "filter.period",
            format!("start {start} must be before end {end} (Unix seconds)"),
        )),
        _ => None,
    }
}

impl InventoryConfiguration {
    /// Every rule that spans more than one value (the newtypes already hold
    /// valid single values). Returns all problems, not the first.
    pub fn validate(&self) -> Vec<InvalidField> {
        let mut errors = Vec::new();
        if let Some(filter) = &self.filter {
            if let Some(prefix) = &filter.prefix {
                errors.extend(check_prefix("filter.prefix", prefix).err());
            }
            errors.extend(check_tags(&filter.tags));
            errors.extend(filter.period.as_ref().and_then(check_period));
            if !filter.tags.is_empty() && !self.optional_fields.contains(&OptionalField::Tag) {
                errors.push(InvalidField::new(
                    "optional_fields",
                    "a tag filter needs the Tag field: add Tag to optional_fields",
                ));
            }
        }
        for (index, field) in self.optional_fields.iter().enumerate() {
            if self.optional_fields[..index].contains(field) {
                errors.push(InvalidField::new(
                    "optional_fields",
                    format!("{field} is listed twice"),
                ));
            }
        }
        if let Some(prefix) = &self.destination.prefix {
            errors.extend(check_destination_prefix(prefix).err());
        }
        errors.extend(self.check_monthly_date());
        errors
    }

    /// A `Monthly` schedule needs its day; the others take none.
    fn check_monthly_date(&self) -> Option<InvalidField> {
        match (self.frequency, self.monthly_date) {
            (Frequency::Monthly, None) => Some(InvalidField::new(
                "monthly_date",
                "a Monthly schedule needs monthly_date, the day of the month (1 to 28)",
            )),
            (Frequency::Daily | Frequency::Weekly, Some(day)) => Some(InvalidField::new(
                "monthly_date",
                format!(
                    "is {day}, but the schedule is {}; monthly_date goes with Monthly only",
                    self.frequency
                ),
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> InventoryConfiguration {
        InventoryConfiguration {
            id: InventoryId::parse("list1").unwrap(),
            enabled: true,
            included_object_versions: IncludedObjectVersions::All,
            filter: Filter::new(Some("myPrefix".into()), vec![], None),
            optional_fields: vec![OptionalField::Size, OptionalField::ETag],
            frequency: Frequency::Daily,
            monthly_date: None,
            destination: Destination {
                bucket: BucketName::parse("examplebucket-1250000000").unwrap(),
                region: Region::parse("ap-guangzhou").unwrap(),
                account_id: Some(
                    AccountId::parse_for("destination.account_id", "100000000001").unwrap(),
                ),
                prefix: Some("list1".into()),
                format: Format::Csv,
                sse_cos: true,
            },
        }
    }

    #[test]
    fn ids_allow_letters_digits_dash_underscore_dot_up_to_64() {
        assert!(InventoryId::parse("inv-2024_daily.v1").is_ok());
        assert!(InventoryId::parse(&"a".repeat(64)).is_ok());
        let long = InventoryId::parse(&"a".repeat(65)).unwrap_err();
        assert!(long.message.contains("65 bytes"), "{long}");
        let bad = InventoryId::parse("daily full").unwrap_err();
        assert_eq!(bad.field, "id");
        assert!(bad.message.contains("' '"), "{bad}");
        assert!(InventoryId::parse("").is_err());
        assert!(InventoryId::parse("é").is_err());
    }

    #[test]
    fn bucket_names_need_lowercase_name_and_ten_digit_appid() {
        assert!(BucketName::parse("photos-1250000000").is_ok());
        assert!(BucketName::parse("a-b-c-1250000000").is_ok());
        for bad in [
            "photos",
            "Photos-1250000000",
            "photos-125000000",
            "-photos-1250000000",
            "photos--1250000000",
            "photos_x-1250000000",
            "-1250000000",
            &format!("{}-1250000000", "a".repeat(40)),
        ] {
            let err = BucketName::parse(bad).unwrap_err();
            assert_eq!(err.field, "bucket", "{bad}");
            assert!(err.message.contains("examplebucket-1250000000"), "{err}");
        }
        assert_eq!(
            BucketName::parse("x-1250000000").unwrap().appid(),
            "1250000000"
        );
    }

    #[test]
    fn regions_are_lowercase_words() {
        assert!(Region::parse("ap-guangzhou").is_ok());
        assert!(Region::parse("na-siliconvalley").is_ok());
        for bad in ["", "AP-guangzhou", "ap_guangzhou", "-ap", "ap-", "1ap"] {
            assert!(Region::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_region_list_is_sorted_and_includes_the_finance_regions() {
        assert!(COS_REGIONS.windows(2).all(|pair| pair[0] < pair[1]));
        for region in COS_REGIONS {
            assert!(Region::parse(region).is_ok(), "{region}");
        }
        for region in [
            "ap-guangzhou",
            "ap-shenzhen-fsi",
            "ap-shanghai-fsi",
            "ap-beijing-fsi",
        ] {
            assert!(is_cos_region(region), "{region}");
        }
        assert!(!is_cos_region("ap-guangzho"));
    }

    #[test]
    fn a_region_policy_allows_known_extra_or_any() {
        let strict = RegionPolicy::default();
        assert!(strict.allows("ap-guangzhou"));
        assert!(!strict.allows("ap-guangzho"));
        let extra = RegionPolicy::allowing(vec![Region::parse("ap-newplace").unwrap()]);
        assert!(extra.allows("ap-newplace") && extra.allows("ap-tokyo"));
        assert!(!extra.allows("ap-otherplace"));
        let any = RegionPolicy {
            allow_unknown: true,
            ..RegionPolicy::default()
        };
        assert!(any.allows("xx-anywhere"));
    }

    #[test]
    fn a_misspelt_region_is_respelt() {
        let err = Region::parse("AP_Guangzhou").unwrap_err();
        assert!(
            err.message.contains("did you mean \"ap-guangzhou\""),
            "{err}"
        );
        let err = Region::parse("Bad Region").unwrap_err();
        assert!(!err.message.contains("did you mean"), "{err}");
    }

    #[test]
    fn account_ids_are_digits() {
        assert!(AccountId::parse_for("account_id", "100000000001").is_ok());
        assert!(AccountId::parse_for("account_id", "10000a").is_err());
        assert!(AccountId::parse_for("account_id", "").is_err());
    }

    #[test]
    fn a_monthly_schedule_needs_a_day_and_only_it_takes_one() {
        let mut config = sample();
        config.frequency = Frequency::Monthly;
        assert_eq!(config.validate()[0].field, "monthly_date");
        config.monthly_date = Some(MonthDay::parse_for("monthly_date", "28").unwrap());
        assert!(config.validate().is_empty());
        config.frequency = Frequency::Weekly;
        assert_eq!(config.validate()[0].field, "monthly_date");
        for bad in ["0", "29", "31", "-1", "first", ""] {
            assert!(MonthDay::parse_for("monthly_date", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn enums_are_exact_with_a_case_hint() {
        assert_eq!("Daily".parse::<Frequency>(), Ok(Frequency::Daily));
        let err = "daily".parse::<Frequency>().unwrap_err();
        assert_eq!(err.field, "schedule");
        assert!(err.message.contains("did you mean \"Daily\""), "{err}");
        assert!(
            "Hourly"
                .parse::<Frequency>()
                .unwrap_err()
                .message
                .contains("Daily, Weekly, Monthly")
        );
        assert_eq!("Current".parse(), Ok(IncludedObjectVersions::Current));
        assert_eq!("CSV".parse(), Ok(Format::Csv));
        assert!("ORC".parse::<Format>().is_err());
    }

    #[test]
    fn optional_fields_round_trip_including_metadata() {
        for text in [
            "Size",
            "LastModifiedDate",
            "StorageClass",
            "ETag",
            "IsMultipartUploaded",
            "ReplicationStatus",
            "Tag",
            "Crc64",
            "x-cos-meta-owner",
        ] {
            let field: OptionalField = text.parse().unwrap();
            assert_eq!(field.as_str(), text);
        }
        assert!("x-cos-meta-".parse::<OptionalField>().is_err());
        let err = "etag".parse::<OptionalField>().unwrap_err();
        assert!(err.message.contains("did you mean \"ETag\""), "{err}");
    }

    #[test]
    fn destination_arn_round_trips_and_shows_report_location() {
        let config = sample();
        assert_eq!(
            config.destination.arn(),
            "qcs::cos:ap-guangzhou::examplebucket-1250000000"
        );
        let (region, bucket) = parse_destination_arn(&config.destination.arn()).unwrap();
        assert_eq!(
            (region, bucket),
            (
                config.destination.region.clone(),
                config.destination.bucket.clone()
            )
        );
        assert_eq!(
            config.destination.report_location(),
            "cos://examplebucket-1250000000/list1/"
        );
        for bad in [
            "examplebucket-1250000000",
            "qcs::cos:ap-guangzhou:x-1250000000",
            "qcs::cos:AP::x-1250000000",
        ] {
            assert!(parse_destination_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_valid_configuration_has_no_errors() {
        assert_eq!(sample().validate(), vec![]);
    }

    #[test]
    fn tag_filter_needs_the_tag_field() {
        let mut config = sample();
        config.filter = Filter::new(
            None,
            vec![TagFilter {
                key: "team".into(),
                value: "a".into(),
            }],
            None,
        );
        let errors = config.validate();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "optional_fields");
        assert!(errors[0].message.contains("add Tag"));
        config.optional_fields.push(OptionalField::Tag);
        assert_eq!(config.validate(), vec![]);
    }

    #[test]
    fn period_start_must_precede_end() {
        let mut config = sample();
        config.filter = Filter::new(
            None,
            vec![],
            Some(Period {
                start: Some(20),
                end: Some(10),
            }),
        );
        let errors = config.validate();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "filter.period");
        config.filter = Filter::new(
            None,
            vec![],
            Some(Period {
                start: Some(10),
                end: Some(20),
            }),
        );
        assert_eq!(config.validate(), vec![]);
    }

    #[test]
    fn destination_prefix_must_not_end_with_slash() {
        let mut config = sample();
        config.destination.prefix = Some("reports/".into());
        let errors = config.validate();
        assert_eq!(errors[0].field, "destination.prefix");
        assert!(errors[0].message.contains("\"reports/\""), "{}", errors[0]);
        assert!(
            errors[0].message.contains("write \"reports\""),
            "{}",
            errors[0]
        );
        config.destination.prefix = Some("/reports".into());
        assert!(!config.validate().is_empty());
    }

    /// The text of the last `write "…"` in a message.
    fn suggested_fix(message: &str) -> Option<String> {
        let (_, after) = message.rsplit_once("write \"")?;
        Some(after.split_once('"')?.0.to_string())
    }

    #[test]
    fn every_suggested_prefix_is_itself_valid() {
        for bad in [
            "/daily/{bucket}/",
            "/daily",
            "daily/",
            "//daily//",
            "/",
            "///",
            "a/b/",
            "/a/b",
        ] {
            let err = check_destination_prefix(bad).unwrap_err();
            match suggested_fix(&err.message) {
                Some(fix) => {
                    assert!(
                        check_destination_prefix(&fix).is_ok(),
                        "{bad} → {fix}: {err}"
                    );
                    assert!(!fix.is_empty(), "{err}");
                }
                None => assert!(err.message.contains("leave the prefix out"), "{err}"),
            }
        }
        let err = check_destination_prefix("/daily/{bucket}/").unwrap_err();
        assert_eq!(
            suggested_fix(&err.message).as_deref(),
            Some("daily/{bucket}")
        );
    }

    #[test]
    fn duplicate_fields_and_tags_are_reported_together() {
        let mut config = sample();
        config.optional_fields = vec![OptionalField::Size, OptionalField::Size, OptionalField::Tag];
        config.filter = Filter::new(
            None,
            vec![
                TagFilter {
                    key: "a".into(),
                    value: "1".into(),
                },
                TagFilter {
                    key: "a".into(),
                    value: "2".into(),
                },
            ],
            None,
        );
        assert_eq!(config.validate().len(), 2);
    }

    #[test]
    fn empty_filters_are_no_filter() {
        assert_eq!(
            Filter::new(
                Some(String::new()),
                vec![],
                Some(Period {
                    start: None,
                    end: None
                })
            ),
            None
        );
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let err = InventoryId::parse(&"x".repeat(10_000)).unwrap_err();
        assert!(err.to_string().len() < 300, "{err}");
    }
}
