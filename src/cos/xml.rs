//! The XML forms COS speaks: `<InventoryConfiguration>` request and
//! response bodies, `<ListInventoryConfigurationResult>`,
//! `<ListAllMyBucketsResult>` and `<Error>`.
//!
//! Wire structs here mirror the documents (serde + quick-xml) and convert to
//! and from the domain types of [`crate::model`] with `TryFrom`, which is
//! where every value is checked. Parsing accepts what real servers send:
//! with or without the COS namespace, `True`/`true`, absent optional nodes.
//! A body that is not the expected document (an HTML 502 page from a proxy,
//! a truncated response) is an [`XmlError`], never a panic.

mod canonical;

use quick_xml::events::Event;
use serde::{Deserialize, Serialize};

use super::text::printable;

use crate::model::{
    self, AccountId, Filter, InvalidField, InventoryConfiguration, InventoryId, MonthDay,
    OptionalField, Period, TagFilter,
};

/// The namespace COS may put on response documents.
pub const COS_NAMESPACE: &str = "http://www.qcloud.com/document/product/436/7751";
const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// A document that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed XML, or not the document expected.
    #[error("{document} is not valid XML: {reason} (body starts with {snippet})")]
    Malformed {
        document: &'static str,
        reason: String,
        snippet: String,
    },
    /// Well-formed, but values break COS's rules.
    #[error("{document} has invalid values: {}", join_fields(.errors))]
    Invalid {
        document: &'static str,
        errors: Vec<InvalidField>,
    },
}

fn join_fields(errors: &[InvalidField]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The first bytes of a body, printable, for error messages.
pub fn snippet(body: &[u8]) -> String {
    const MAX: usize = 60;
    let text = printable(&String::from_utf8_lossy(&body[..body.len().min(MAX)]));
    if body.is_empty() {
        "(empty body)".to_string()
    } else if body.len() > MAX {
        format!("{text:?}…")
    } else {
        format!("{text:?}")
    }
}

pub(super) fn malformed(document: &'static str, body: &[u8], reason: impl ToString) -> XmlError {
    XmlError::Malformed {
        document,
        // A parser's reason may quote the body (an element's name).
        reason: printable(&reason.to_string()),
        snippet: snippet(body),
    }
}

/// The local name of the document's root element, checked before serde
/// sees the body: serde would otherwise happily read `<html>` as a
/// configuration with missing fields.
fn expect_root(document: &'static str, body: &[u8], root: &str) -> Result<(), XmlError> {
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(start)) | Ok(Event::Empty(start)) => {
                let local = start.local_name();
                let name = local.into_inner().to_string();
                return if name == root {
                    Ok(())
                } else {
                    Err(malformed(
                        document,
                        body,
                        format!("expected a <{root}> document, found <{name}>"),
                    ))
                };
            }
            Ok(Event::Eof) => {
                return Err(malformed(document, body, format!("no <{root}> element")));
            }
            Ok(Event::Text(text)) if !AsRef::<str>::as_ref(&text).trim().is_empty() => {
                return Err(malformed(document, body, "text before the root element"));
            }
            Ok(_) => buf.clear(),
            Err(err) => return Err(malformed(document, body, err)),
        }
    }
}

pub(super) fn from_xml<T: for<'de> Deserialize<'de>>(
    document: &'static str,
    body: &[u8],
    root: &str,
) -> Result<T, XmlError> {
    let text = std::str::from_utf8(body).map_err(|err| malformed(document, body, err))?;
    expect_root(document, body, root)?;
    quick_xml::de::from_str(text).map_err(|err| malformed(document, body, err))
}

pub(super) fn to_xml<T: Serialize>(root: &str, value: &T) -> String {
    let mut out = String::from(XML_DECLARATION);
    let mut serializer = quick_xml::se::Serializer::with_root(&mut out, Some(root))
        .expect("root element names here are valid XML names");
    // COS's own examples and the official SDKs write `<SSE-COS></SSE-COS>`.
    serializer.expand_empty_elements(true);
    value
        .serialize(serializer)
        .expect("wire structs contain only strings and containers");
    out
}

// ---------------------------------------------------------------------------
// Wire structs.

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct WireEmpty {}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct WireEncryption {
    #[serde(rename = "SSE-COS", default, skip_serializing_if = "Option::is_none")]
    sse_cos: Option<WireEmpty>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireBucketDestination {
    format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
    bucket: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encryption: Option<WireEncryption>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct WireDestination {
    #[serde(rename = "COSBucketDestination")]
    cos_bucket_destination: WireBucketDestination,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireSchedule {
    frequency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    monthly_date: Option<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireTag {
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireAnd {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
    #[serde(rename = "Tag", default, skip_serializing_if = "Vec::is_empty")]
    tags: Vec<WireTag>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WirePeriod {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_time: Option<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    and: Option<WireAnd>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    period: Option<WirePeriod>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct WireOptionalFields {
    #[serde(rename = "Field", default)]
    fields: Vec<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireConfiguration {
    id: String,
    is_enabled: String,
    destination: WireDestination,
    schedule: WireSchedule,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    filter: Option<WireFilter>,
    included_object_versions: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    optional_fields: Option<WireOptionalFields>,
}

// ---------------------------------------------------------------------------
// Domain → wire.

impl From<&InventoryConfiguration> for WireConfiguration {
    fn from(config: &InventoryConfiguration) -> Self {
        let destination = &config.destination;
        WireConfiguration {
            id: config.id.to_string(),
            is_enabled: config.enabled.to_string(),
            destination: WireDestination {
                cos_bucket_destination: WireBucketDestination {
                    format: destination.format.to_string(),
                    account_id: destination.account_id.as_ref().map(ToString::to_string),
                    bucket: destination.arn(),
                    prefix: destination.prefix.clone(),
                    encryption: destination.sse_cos.then_some(WireEncryption {
                        sse_cos: Some(WireEmpty {}),
                    }),
                },
            },
            schedule: WireSchedule {
                frequency: config.frequency.to_string(),
                monthly_date: config.monthly_date.map(|day| day.to_string()),
            },
            filter: config.filter.as_ref().map(wire_filter),
            included_object_versions: config.included_object_versions.to_string(),
            optional_fields: (!config.optional_fields.is_empty()).then(|| WireOptionalFields {
                fields: config
                    .optional_fields
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            }),
        }
    }
}

/// A prefix alone is `<Filter><Prefix>`; with tags, COS wants both inside
/// `<And>`.
fn wire_filter(filter: &Filter) -> WireFilter {
    let tags: Vec<WireTag> = filter
        .tags
        .iter()
        .map(|tag| WireTag {
            key: tag.key.clone(),
            value: tag.value.clone(),
        })
        .collect();
    let (prefix, and) = if tags.is_empty() {
        (filter.prefix.clone(), None)
    } else {
        (
            None,
            Some(WireAnd {
                prefix: filter.prefix.clone(),
                tags,
            }),
        )
    };
    WireFilter {
        prefix,
        and,
        period: filter.period.map(|period| WirePeriod {
            start_time: period.start.map(|start| start.to_string()),
            end_time: period.end.map(|end| end.to_string()),
        }),
    }
}

// ---------------------------------------------------------------------------
// Wire → domain.

/// Collects the errors of several independent parses.
#[derive(Default)]
struct Problems(Vec<InvalidField>);

impl Problems {
    fn take<T>(&mut self, result: Result<T, InvalidField>) -> Option<T> {
        result.map_err(|err| self.0.push(err)).ok()
    }
}

fn parse_bool(value: &str) -> Result<bool, InvalidField> {
    match value.trim() {
        v if v.eq_ignore_ascii_case("true") => Ok(true),
        v if v.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(InvalidField::new(
            "enabled",
            format!("{} is not true or false", model::quoted(other)),
        )),
    }
}

fn parse_unix_seconds(value: Option<&str>) -> Result<Option<u64>, InvalidField> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse().map_err(|_| {
                InvalidField::new(
                    "filter.period",
                    format!("{} is not a time in Unix seconds", model::quoted(v)),
                )
            })
        })
        .transpose()
}

pub(super) fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

fn domain_filter(wire: WireFilter, problems: &mut Problems) -> Option<Filter> {
    let (and_prefix, tags) = match wire.and {
        Some(and) => (and.prefix, and.tags),
        None => (None, Vec::new()),
    };
    let period = wire.period.and_then(|period| {
        let start = problems.take(parse_unix_seconds(period.start_time.as_deref()))?;
        let end = problems.take(parse_unix_seconds(period.end_time.as_deref()))?;
        Some(Period { start, end })
    });
    Filter::new(
        non_empty(wire.prefix).or(non_empty(and_prefix)),
        tags.into_iter()
            .map(|tag| TagFilter {
                key: tag.key,
                value: tag.value,
            })
            .collect(),
        period,
    )
}

/// An optional value: `Some(None)` when absent or empty, `None` when
/// present but invalid (the problem recorded).
fn optional<T>(
    problems: &mut Problems,
    value: Option<String>,
    parse: impl FnOnce(&str) -> Result<T, InvalidField>,
) -> Option<Option<T>> {
    match non_empty(value) {
        Some(text) => problems.take(parse(text.trim())).map(Some),
        None => Some(None),
    }
}

fn domain_destination(
    dest: WireBucketDestination,
    problems: &mut Problems,
) -> Option<model::Destination> {
    let format = problems.take(dest.format.trim().parse());
    let arn = problems.take(model::parse_destination_arn(dest.bucket.trim()));
    let account_id = optional(problems, dest.account_id, |id| {
        AccountId::parse_for("destination.account_id", id)
    });
    let ((region, bucket), format, account_id) = (arn?, format?, account_id?);
    Some(model::Destination {
        bucket,
        region,
        account_id,
        prefix: non_empty(dest.prefix),
        format,
        sse_cos: dest.encryption.is_some_and(|enc| enc.sse_cos.is_some()),
    })
}

impl TryFrom<WireConfiguration> for InventoryConfiguration {
    type Error = Vec<InvalidField>;

    fn try_from(wire: WireConfiguration) -> Result<Self, Self::Error> {
        let mut problems = Problems::default();
        let id = problems.take(InventoryId::parse(wire.id.trim()));
        let enabled = problems.take(parse_bool(&wire.is_enabled));
        let versions = problems.take(wire.included_object_versions.trim().parse());
        let frequency = problems.take(wire.schedule.frequency.trim().parse());
        let monthly_date = optional(&mut problems, wire.schedule.monthly_date, |day| {
            MonthDay::parse_for("monthly_date", day)
        });
        let filter = wire
            .filter
            .and_then(|filter| domain_filter(filter, &mut problems));
        let optional_fields: Vec<OptionalField> = wire
            .optional_fields
            .map(|fields| fields.fields)
            .unwrap_or_default()
            .iter()
            .filter_map(|field| problems.take(field.trim().parse()))
            .collect();
        let destination =
            domain_destination(wire.destination.cos_bucket_destination, &mut problems);
        let (
            Some(id),
            Some(enabled),
            Some(included_object_versions),
            Some(frequency),
            Some(monthly_date),
            Some(destination),
        ) = (id, enabled, versions, frequency, monthly_date, destination)
        else {
            return Err(problems.0);
        };
        if !problems.0.is_empty() {
            return Err(problems.0);
        }
        let config = InventoryConfiguration {
            id,
            enabled,
            included_object_versions,
            filter,
            optional_fields,
            frequency,
            monthly_date,
            destination,
        };
        match config.validate() {
            errors if errors.is_empty() => Ok(config),
            errors => Err(errors),
        }
    }
}

// ---------------------------------------------------------------------------
// Public documents.

const CONFIGURATION_ROOT: &str = "InventoryConfiguration";

/// The `PUT Bucket inventory` body for `config`.
///
/// Written directly rather than through serde (this runs once per job
/// sent); the bytes are those of the serde form of the wire structs, which
/// a property test checks.
pub fn configuration_to_xml(config: &InventoryConfiguration) -> String {
    let mut out = String::with_capacity(640);
    out.push_str(XML_DECLARATION);
    write_configuration(&mut out, config);
    out
}

/// The body of POST Bucket inventory: `config` under `id`, without
/// `IsEnabled` and `Schedule` (a one-time job has neither).
pub fn one_time_configuration_to_xml(config: &InventoryConfiguration, id: &InventoryId) -> String {
    let mut out = String::with_capacity(640);
    out.push_str(XML_DECLARATION);
    write_body(&mut out, config, Some(id));
    out
}

/// What POST Bucket inventory answers: the job's id in newer pages'
/// `<PostInventoryResult><JobId>`, nothing in older ones (an empty 200).
/// `None` for an empty body or one without a `JobId`; the id printable.
pub fn post_result_job_id(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct WirePostResult {
        #[serde(default)]
        job_id: Option<String>,
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let wire: WirePostResult =
        from_xml("POST Bucket inventory result", body, POST_RESULT_ROOT).ok()?;
    wire.job_id
        .map(|id| printable(id.trim()))
        .filter(|id| !id.is_empty())
}

const POST_RESULT_ROOT: &str = "PostInventoryResult";

/// `<PostInventoryResult><JobId>…</JobId></PostInventoryResult>`.
pub fn post_result_to_xml(job_id: &str) -> String {
    let mut out = String::from(XML_DECLARATION);
    out.push_str("<PostInventoryResult>");
    push_element(&mut out, "JobId", job_id);
    out.push_str("</PostInventoryResult>");
    out
}

/// Reads a POST Bucket inventory body: the configuration of a one-time
/// job. `IsEnabled` and `Schedule` are refused, as COS refuses them; the
/// rest is read by the periodic reader, with both stood in, so a one-time
/// body is held to the same rules as a PUT body.
pub fn one_time_configuration_from_xml(body: &[u8]) -> Result<InventoryConfiguration, XmlError> {
    let document = "one-time InventoryConfiguration";
    let text = std::str::from_utf8(body)
        .map_err(|_| malformed(document, body, "the body is not UTF-8"))?;
    for refused in ["<IsEnabled", "<Schedule"] {
        if text.contains(refused) {
            let why = format!("{}> is not allowed in a one-time inventory", &refused);
            return Err(malformed(document, body, why));
        }
    }
    let Some(at) = text.find("</Id>") else {
        return Err(malformed(document, body, "no <Id>"));
    };
    let at = at + "</Id>".len();
    let stood_in = format!(
        "{}<IsEnabled>true</IsEnabled><Schedule><Frequency>Daily</Frequency></Schedule>{}",
        &text[..at],
        &text[at..]
    );
    configuration_from_xml(stood_in.as_bytes())
}

/// `<Name>text</Name>`, the text escaped.
fn push_element(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    push_escaped(out, text);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Text escaped as quick-xml's serializer escapes element text: `&`, `<`,
/// `>` and `\r` (which XML readers would turn into `\n`).
fn push_escaped(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(at) = rest.find(['&', '<', '>', '\r']) {
        out.push_str(&rest[..at]);
        out.push_str(match rest.as_bytes()[at] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            _ => "&#13;",
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

fn write_configuration(out: &mut String, config: &InventoryConfiguration) {
    write_body(out, config, None);
}

/// The configuration; with `one_time`, under that id and without
/// `IsEnabled` and `Schedule` (POST Bucket inventory's body).
fn write_body(out: &mut String, config: &InventoryConfiguration, one_time: Option<&InventoryId>) {
    use std::fmt::Write as _;
    out.push_str("<InventoryConfiguration>");
    push_element(out, "Id", one_time.unwrap_or(&config.id).as_str());
    if one_time.is_none() {
        push_element(
            out,
            "IsEnabled",
            if config.enabled { "true" } else { "false" },
        );
    }
    let destination = &config.destination;
    out.push_str("<Destination><COSBucketDestination>");
    push_element(out, "Format", destination.format.as_str());
    if let Some(account) = &destination.account_id {
        push_element(out, "AccountId", account.as_ref());
    }
    push_element(out, "Bucket", &destination.arn());
    if let Some(prefix) = &destination.prefix {
        push_element(out, "Prefix", prefix);
    }
    if destination.sse_cos {
        out.push_str("<Encryption><SSE-COS></SSE-COS></Encryption>");
    }
    out.push_str("</COSBucketDestination></Destination>");
    if one_time.is_none() {
        out.push_str("<Schedule>");
        push_element(out, "Frequency", config.frequency.as_str());
        if let Some(day) = config.monthly_date {
            let _ = write!(out, "<MonthlyDate>{day}</MonthlyDate>");
        }
        out.push_str("</Schedule>");
    }
    if let Some(filter) = &config.filter {
        write_filter(out, filter);
    }
    push_element(
        out,
        "IncludedObjectVersions",
        config.included_object_versions.as_str(),
    );
    if !config.optional_fields.is_empty() {
        out.push_str("<OptionalFields>");
        for field in &config.optional_fields {
            push_element(out, "Field", field.as_str());
        }
        out.push_str("</OptionalFields>");
    }
    out.push_str("</InventoryConfiguration>");
}

/// A prefix alone is `<Filter><Prefix>`; with tags, COS wants both inside
/// `<And>` (as [`wire_filter`]).
fn write_filter(out: &mut String, filter: &Filter) {
    use std::fmt::Write as _;
    out.push_str("<Filter>");
    if filter.tags.is_empty() {
        if let Some(prefix) = &filter.prefix {
            push_element(out, "Prefix", prefix);
        }
    } else {
        out.push_str("<And>");
        if let Some(prefix) = &filter.prefix {
            push_element(out, "Prefix", prefix);
        }
        for tag in &filter.tags {
            out.push_str("<Tag>");
            push_element(out, "Key", &tag.key);
            push_element(out, "Value", &tag.value);
            out.push_str("</Tag>");
        }
        out.push_str("</And>");
    }
    if let Some(period) = filter.period {
        out.push_str("<Period>");
        if let Some(start) = period.start {
            let _ = write!(out, "<StartTime>{start}</StartTime>");
        }
        if let Some(end) = period.end {
            let _ = write!(out, "<EndTime>{end}</EndTime>");
        }
        out.push_str("</Period>");
    }
    out.push_str("</Filter>");
}

/// The `<InventoryConfiguration>` element of `config`, without the XML
/// declaration: what a list page repeats.
pub fn configuration_element(config: &InventoryConfiguration) -> String {
    let document = configuration_to_xml(config);
    document
        .strip_prefix(XML_DECLARATION)
        .map(str::to_string)
        .unwrap_or(document)
}

/// A `List Bucket inventory` page from configuration elements as they are
/// (see [`configuration_element`]).
pub fn inventory_page_from_elements(
    elements: &[String],
    is_truncated: bool,
    continuation_token: Option<&str>,
    next_continuation_token: Option<&str>,
) -> String {
    use quick_xml::escape::escape;
    let mut out = format!("{XML_DECLARATION}<{LIST_ROOT}>");
    for element in elements {
        out.push_str(element);
    }
    out.push_str(&format!("<IsTruncated>{is_truncated}</IsTruncated>"));
    if let Some(token) = continuation_token {
        out.push_str(&format!(
            "<ContinuationToken>{}</ContinuationToken>",
            escape(token)
        ));
    }
    if let Some(token) = next_continuation_token {
        out.push_str(&format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            escape(token)
        ));
    }
    out.push_str(&format!("</{LIST_ROOT}>"));
    out
}

/// Reads an `<InventoryConfiguration>` (a PUT body or a GET response).
///
/// A body laid out exactly as [`configuration_to_xml`] writes it (what
/// cosinv sends, so what the emulator reads most) is read by a direct
/// reader; anything else, or anything it is unsure of, by serde.
pub fn configuration_from_xml(body: &[u8]) -> Result<InventoryConfiguration, XmlError> {
    let document = "InventoryConfiguration";
    let canonical = std::str::from_utf8(body)
        .ok()
        .and_then(canonical::configuration);
    let wire: WireConfiguration = match canonical {
        Some(wire) => wire,
        None => from_xml(document, body, CONFIGURATION_ROOT)?,
    };
    InventoryConfiguration::try_from(wire).map_err(|errors| XmlError::Invalid { document, errors })
}

/// One page of `List Bucket inventory`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryPage {
    pub configurations: Vec<InventoryConfiguration>,
    pub is_truncated: bool,
    /// The token this page was requested with.
    pub continuation_token: Option<String>,
    /// The token for the next page, when truncated.
    pub next_continuation_token: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireListResult {
    #[serde(rename = "InventoryConfiguration", default)]
    configurations: Vec<WireConfiguration>,
    #[serde(default)]
    is_truncated: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    continuation_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_continuation_token: Option<String>,
}

const LIST_ROOT: &str = "ListInventoryConfigurationResult";

pub fn inventory_page_to_xml(page: &InventoryPage) -> String {
    let wire = WireListResult {
        configurations: page
            .configurations
            .iter()
            .map(WireConfiguration::from)
            .collect(),
        is_truncated: Some(page.is_truncated.to_string()),
        continuation_token: page.continuation_token.clone(),
        next_continuation_token: page.next_continuation_token.clone(),
    };
    to_xml(LIST_ROOT, &wire)
}

/// A page's `IsTruncated`: absent is false, anything but a boolean is an
/// error naming the field.
pub(super) fn truncated(document: &'static str, value: Option<&str>) -> Result<bool, XmlError> {
    let Some(value) = value else {
        return Ok(false);
    };
    parse_bool(value).map_err(|mut err| {
        err.field = "IsTruncated";
        XmlError::Invalid {
            document,
            errors: vec![err],
        }
    })
}

pub fn inventory_page_from_xml(body: &[u8]) -> Result<InventoryPage, XmlError> {
    let document = "ListInventoryConfigurationResult";
    let wire: WireListResult = from_xml(document, body, LIST_ROOT)?;
    let is_truncated = truncated(document, wire.is_truncated.as_deref())?;
    let mut configurations = Vec::with_capacity(wire.configurations.len());
    let mut errors = Vec::new();
    for config in wire.configurations {
        match InventoryConfiguration::try_from(config) {
            Ok(config) => configurations.push(config),
            Err(more) => errors.extend(more),
        }
    }
    if !errors.is_empty() {
        return Err(XmlError::Invalid { document, errors });
    }
    Ok(InventoryPage {
        configurations,
        is_truncated,
        continuation_token: non_empty(wire.continuation_token),
        next_continuation_token: non_empty(wire.next_continuation_token),
    })
}

/// A COS error document (`<Error><Code>…`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CosErrorBody {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub resource: String,
    #[serde(default)]
    pub request_id: String,
    #[serde(default)]
    pub trace_id: String,
}

const ERROR_ROOT: &str = "Error";

/// Escaping is the serializer's: a message with `<`, `&` or quotes stays
/// well-formed.
pub fn error_to_xml(error: &CosErrorBody) -> String {
    to_xml(ERROR_ROOT, error)
}

/// Reads a COS `<Error>`. Every field is the server's text, so each comes
/// back [`printable`]: without control characters, at most about 1 KB.
pub fn error_from_xml(body: &[u8]) -> Result<CosErrorBody, XmlError> {
    let error: CosErrorBody = from_xml("COS error response", body, ERROR_ROOT)?;
    let error = CosErrorBody {
        code: printable(&error.code),
        message: printable(&error.message),
        resource: printable(&error.resource),
        request_id: printable(&error.request_id),
        trace_id: printable(&error.trace_id),
    };
    if error.code.is_empty() {
        return Err(malformed(
            "COS error response",
            body,
            "the <Error> has no <Code>",
        ));
    }
    Ok(error)
}

/// One bucket of `GET Service`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketEntry {
    pub name: String,
    pub location: String,
    #[serde(default)]
    pub creation_date: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct WireBuckets {
    #[serde(rename = "Bucket", default)]
    buckets: Vec<BucketEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireOwner {
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(default)]
    display_name: String,
}

/// `<ListAllMyBucketsResult>`, in the element order of COS's API text.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireServiceResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Option<WireOwner>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    is_truncated: Option<String>,
    // Always written, empty or not: the official Python SDK reads
    // `Buckets` unconditionally.
    #[serde(default)]
    buckets: Option<WireBuckets>,
}

const SERVICE_ROOT: &str = "ListAllMyBucketsResult";

/// One page of `GET Service`: the buckets, and where the next page starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketPage {
    pub buckets: Vec<BucketEntry>,
    pub is_truncated: bool,
    /// The `marker` this page was asked with.
    pub marker: Option<String>,
    /// The `marker` of the next page, when truncated.
    pub next_marker: Option<String>,
}

/// A page as COS writes it, the owner being the account `owner_id`.
pub fn bucket_page_to_xml(owner_id: &str, page: &BucketPage) -> String {
    let wire = WireServiceResult {
        owner: Some(WireOwner {
            id: format!("qcs::cam::uin/{owner_id}:uin/{owner_id}"),
            display_name: owner_id.to_string(),
        }),
        marker: Some(page.marker.clone().unwrap_or_default()),
        next_marker: page.next_marker.clone(),
        is_truncated: Some(page.is_truncated.to_string()),
        buckets: Some(WireBuckets {
            buckets: page.buckets.clone(),
        }),
    };
    to_xml(SERVICE_ROOT, &wire)
}

/// A whole bucket list, as one page that is not truncated.
pub fn bucket_list_to_xml(owner_id: &str, buckets: &[BucketEntry]) -> String {
    let page = BucketPage {
        buckets: buckets.to_vec(),
        ..BucketPage::default()
    };
    bucket_page_to_xml(owner_id, &page)
}

pub fn bucket_page_from_xml(body: &[u8]) -> Result<BucketPage, XmlError> {
    let document = "ListAllMyBucketsResult";
    let wire: WireServiceResult = from_xml(document, body, SERVICE_ROOT)?;
    let is_truncated = truncated(document, wire.is_truncated.as_deref())?;
    // The server's text, made printable here once: names, regions and
    // dates reach terminals and CSV files (a name that is no bucket name
    // is refused later anyway; the marker is sent back as it came).
    let buckets = wire.buckets.map(|b| b.buckets).unwrap_or_default();
    let buckets = buckets
        .into_iter()
        .map(|entry| BucketEntry {
            name: printable(&entry.name),
            location: printable(&entry.location),
            creation_date: printable(&entry.creation_date),
        })
        .collect();
    Ok(BucketPage {
        buckets,
        is_truncated,
        marker: non_empty(wire.marker),
        next_marker: non_empty(wire.next_marker),
    })
}

/// The buckets of a `GET Service` answer (one page).
pub fn bucket_list_from_xml(body: &[u8]) -> Result<Vec<BucketEntry>, XmlError> {
    bucket_page_from_xml(body).map(|page| page.buckets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::sample;

    #[test]
    fn a_one_time_body_reads_back_and_refuses_a_schedule_or_a_switch() {
        let id = InventoryId::parse("list1-once").unwrap();
        let body = one_time_configuration_to_xml(&sample(), &id);
        let read = one_time_configuration_from_xml(body.as_bytes()).unwrap();
        assert_eq!(read.id, id);
        assert_eq!(read.destination, sample().destination);
        assert_eq!(read.optional_fields, sample().optional_fields);
        let periodic = configuration_to_xml(&sample());
        assert!(one_time_configuration_from_xml(periodic.as_bytes()).is_err());
        let switched = body.replace("<Destination>", "<IsEnabled>true</IsEnabled><Destination>");
        assert!(one_time_configuration_from_xml(switched.as_bytes()).is_err());
    }

    #[test]
    fn the_post_answer_is_read_in_both_forms() {
        assert_eq!(post_result_job_id(b""), None);
        assert_eq!(post_result_job_id(b"  \n"), None);
        let newer = post_result_to_xml("job-123");
        assert_eq!(
            post_result_job_id(newer.as_bytes()).as_deref(),
            Some("job-123")
        );
        let bare = b"<PostInventoryResult><JobId>\x1b[31mx</JobId></PostInventoryResult>";
        assert_eq!(
            post_result_job_id(bare).as_deref(),
            Some(printable("\x1b[31mx").as_str())
        );
        assert_eq!(post_result_job_id(b"<PostInventoryResult/>"), None);
    }
    use crate::model::{
        BucketName, Destination, Format, Frequency, IncludedObjectVersions, MonthDay, Region,
    };
    use proptest::prelude::*;

    const DOC_EXAMPLE: &str = r#"<InventoryConfiguration>
    <Id>list1</Id>
    <IsEnabled>true</IsEnabled>
    <Destination>
        <COSBucketDestination>
            <Format>CSV</Format>
            <AccountId>100000000001</AccountId>
            <Bucket>qcs::cos:ap-guangzhou::examplebucket-1250000000</Bucket>
            <Prefix>list1</Prefix>
            <Encryption>
                <SSE-COS></SSE-COS>
            </Encryption>
        </COSBucketDestination>
    </Destination>
    <Schedule>
        <Frequency>Daily</Frequency>
    </Schedule>
    <Filter>
        <Prefix>myPrefix</Prefix>
    </Filter>
    <IncludedObjectVersions>All</IncludedObjectVersions>
    <OptionalFields>
        <Field>Size</Field>
        <Field>ETag</Field>
	</OptionalFields>
</InventoryConfiguration>"#;

    #[test]
    fn parses_the_documented_example() {
        assert_eq!(
            configuration_from_xml(DOC_EXAMPLE.as_bytes()).unwrap(),
            sample()
        );
    }

    #[test]
    fn writes_the_body_cos_expects() {
        let xml = configuration_to_xml(&sample());
        assert!(
            xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InventoryConfiguration>")
        );
        assert!(
            xml.contains("<Id>list1</Id><IsEnabled>true</IsEnabled>"),
            "{xml}"
        );
        assert!(
            xml.contains("<Encryption><SSE-COS></SSE-COS></Encryption>"),
            "{xml}"
        );
        assert!(
            xml.contains("<OptionalFields><Field>Size</Field><Field>ETag</Field></OptionalFields>"),
            "{xml}"
        );
        assert!(
            xml.contains("<Bucket>qcs::cos:ap-guangzhou::examplebucket-1250000000</Bucket>"),
            "{xml}"
        );
        assert!(
            xml.contains("<Filter><Prefix>myPrefix</Prefix></Filter>"),
            "{xml}"
        );
        assert_eq!(configuration_from_xml(xml.as_bytes()).unwrap(), sample());
    }

    #[test]
    fn tags_go_inside_and_with_the_prefix() {
        let mut config = sample();
        config.optional_fields.push(OptionalField::Tag);
        config.filter = Filter::new(
            Some("logs/".into()),
            vec![TagFilter {
                key: "team".into(),
                value: "a&b".into(),
            }],
            Some(Period {
                start: Some(1568688761),
                end: None,
            }),
        );
        let xml = configuration_to_xml(&config);
        assert!(
            xml.contains("<Filter><And><Prefix>logs/</Prefix><Tag><Key>team</Key><Value>a&amp;b</Value></Tag></And><Period><StartTime>1568688761</StartTime></Period></Filter>"),
            "{xml}"
        );
        assert_eq!(configuration_from_xml(xml.as_bytes()).unwrap(), config);
    }

    #[test]
    fn accepts_namespace_capitalised_true_and_absent_optionals() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<InventoryConfiguration xmlns="http://www.qcloud.com/document/product/436/7751">
<Id>a.b</Id><IsEnabled>True</IsEnabled>
<Destination><COSBucketDestination><Format>CSV</Format><Bucket>qcs::cos:ap-beijing::dst-1250000000</Bucket></COSBucketDestination></Destination>
<Schedule><Frequency>Weekly</Frequency></Schedule>
<IncludedObjectVersions>Current</IncludedObjectVersions>
</InventoryConfiguration>"#;
        let config = configuration_from_xml(xml.as_bytes()).unwrap();
        assert!(config.enabled);
        assert_eq!(config.filter, None);
        assert!(config.optional_fields.is_empty());
        assert_eq!(config.destination.prefix, None);
        assert!(!config.destination.sse_cos);
        assert_eq!(config.frequency, Frequency::Weekly);
    }

    #[test]
    fn invalid_values_are_all_reported() {
        let xml = DOC_EXAMPLE
            .replace("<Frequency>Daily", "<Frequency>Hourly")
            .replace(
                "<IncludedObjectVersions>All",
                "<IncludedObjectVersions>Some",
            )
            .replace("<Field>ETag", "<Field>Colour");
        let XmlError::Invalid { errors, .. } = configuration_from_xml(xml.as_bytes()).unwrap_err()
        else {
            panic!("expected Invalid");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            vec!["included_object_versions", "schedule", "optional_fields"]
        );
    }

    #[test]
    fn a_monthly_schedule_carries_its_day() {
        let xml = DOC_EXAMPLE.replace(
            "<Frequency>Daily</Frequency>",
            "<Frequency>Monthly</Frequency><MonthlyDate>15</MonthlyDate>",
        );
        let config = configuration_from_xml(xml.as_bytes()).unwrap();
        assert_eq!(config.frequency, Frequency::Monthly);
        assert_eq!(config.monthly_date.map(MonthDay::get), Some(15));
        let written = configuration_to_xml(&config);
        assert!(
            written.contains("<Frequency>Monthly</Frequency><MonthlyDate>15</MonthlyDate>"),
            "{written}"
        );
        let without_day = DOC_EXAMPLE.replace("<Frequency>Daily", "<Frequency>Monthly");
        let XmlError::Invalid { errors, .. } =
            configuration_from_xml(without_day.as_bytes()).unwrap_err()
        else {
            panic!("expected Invalid");
        };
        assert_eq!(errors[0].field, "monthly_date");
    }

    #[test]
    fn html_truncated_and_binary_bodies_are_errors_not_panics() {
        let bodies: [&[u8]; 6] = [
            b"<html><body><h1>502 Bad Gateway</h1></body></html>",
            &DOC_EXAMPLE.as_bytes()[..200],
            b"",
            b"\xff\xfe\x00garbage",
            b"Service Unavailable",
            b"<InventoryConfiguration><Id>x</Id>",
        ];
        for body in bodies {
            let err = configuration_from_xml(body).unwrap_err();
            assert!(matches!(err, XmlError::Malformed { .. }), "{err}");
        }
        let err = configuration_from_xml(bodies[0]).unwrap_err().to_string();
        assert!(err.contains("found <html>"), "{err}");
        assert!(error_from_xml(bodies[0]).is_err());
    }

    #[test]
    fn error_documents_round_trip_with_escaping() {
        let error = CosErrorBody {
            code: "InvalidArgument".into(),
            message: "id <a&b> \"differs\"".into(),
            resource: "b-1250000000.cos.ap-guangzhou.myqcloud.com/?inventory&id=x".into(),
            request_id: "NjA1".into(),
            trace_id: "OGVm".into(),
        };
        let xml = error_to_xml(&error);
        assert!(xml.contains("&lt;a&amp;b&gt;"), "{xml}");
        assert_eq!(error_from_xml(xml.as_bytes()).unwrap(), error);
        let minimal = b"<Error><Code>SlowDown</Code></Error>";
        assert_eq!(error_from_xml(minimal).unwrap().code, "SlowDown");
        assert!(error_from_xml(b"<Error></Error>").is_err());
    }

    #[test]
    fn list_pages_round_trip_and_parse_real_shapes() {
        let page = InventoryPage {
            configurations: vec![sample(), sample()],
            is_truncated: true,
            continuation_token: None,
            next_continuation_token: Some("tok/+=".into()),
        };
        let xml = inventory_page_to_xml(&page);
        assert_eq!(inventory_page_from_xml(xml.as_bytes()).unwrap(), page);
        let empty = format!(
            "<ListInventoryConfigurationResult xmlns=\"{COS_NAMESPACE}\"><IsTruncated>False</IsTruncated></ListInventoryConfigurationResult>"
        );
        let parsed = inventory_page_from_xml(empty.as_bytes()).unwrap();
        assert!(parsed.configurations.is_empty());
        assert!(!parsed.is_truncated);
    }

    #[test]
    fn bucket_lists_round_trip() {
        let buckets = vec![BucketEntry {
            name: "a-1250000000".into(),
            location: "ap-guangzhou".into(),
            creation_date: "2026-01-01T00:00:00Z".into(),
        }];
        let xml = bucket_list_to_xml("100000000001", &buckets);
        assert_eq!(bucket_list_from_xml(xml.as_bytes()).unwrap(), buckets);
    }

    fn arb_text(max: usize) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!("[a-zA-Z0-9 _./&<>'\"-]{{1,{max}}}")).unwrap()
    }

    pub(super) fn arb_config() -> impl Strategy<Value = InventoryConfiguration> {
        let fields = proptest::sample::subsequence(
            vec![
                OptionalField::Size,
                OptionalField::LastModifiedDate,
                OptionalField::StorageClass,
                OptionalField::ETag,
                OptionalField::IsMultipartUploaded,
                OptionalField::ReplicationStatus,
                OptionalField::Tag,
                OptionalField::Crc64,
                OptionalField::Meta("x-cos-meta-owner".into()),
            ],
            0..=9,
        );
        let tags = proptest::collection::btree_map("[a-z]{1,8}", "[a-zA-Z0-9 &<]{0,8}", 0..3);
        let period = proptest::option::of((0u64..1_000_000, 1u64..1_000_000));
        (
            "[A-Za-z0-9._-]{1,64}",
            any::<bool>(),
            any::<bool>(),
            (0u8..3, 1u8..=28),
            proptest::option::of(arb_text(40)),
            tags,
            period,
            fields,
            (
                "[a-z][a-z0-9]{0,20}-12[0-9]{8}",
                "(ap|na|eu)-[a-z]{3,12}",
                proptest::option::of("[1-9][0-9]{11}"),
                proptest::option::of("[a-z0-9{}_-]{1,20}(/[a-z0-9]{1,8}){0,2}"),
                any::<bool>(),
            ),
        )
            .prop_map(
                |(id, enabled, all, schedule, prefix, tags, period, mut fields, dest)| {
                    let tags: Vec<TagFilter> = tags
                        .into_iter()
                        .map(|(key, value)| TagFilter { key, value })
                        .collect();
                    if !tags.is_empty() && !fields.contains(&OptionalField::Tag) {
                        fields.push(OptionalField::Tag);
                    }
                    let period = period.map(|(start, len)| Period {
                        start: Some(start),
                        end: Some(start + len),
                    });
                    InventoryConfiguration {
                        id: InventoryId::parse(&id).unwrap(),
                        enabled,
                        included_object_versions: if all {
                            IncludedObjectVersions::All
                        } else {
                            IncludedObjectVersions::Current
                        },
                        filter: Filter::new(prefix, tags, period),
                        optional_fields: fields,
                        frequency: [Frequency::Daily, Frequency::Weekly, Frequency::Monthly]
                            [usize::from(schedule.0)],
                        monthly_date: (schedule.0 == 2).then(|| {
                            MonthDay::parse_for("monthly_date", &schedule.1.to_string()).unwrap()
                        }),
                        destination: Destination {
                            bucket: BucketName::parse(&dest.0).unwrap(),
                            region: Region::parse(&dest.1).unwrap(),
                            account_id: dest.2.map(|id| AccountId::parse_for("x", &id).unwrap()),
                            prefix: dest.3,
                            format: Format::Csv,
                            sse_cos: dest.4,
                        },
                    }
                },
            )
    }

    #[test]
    fn a_bucket_list_s_text_arrives_printable() {
        let hostile = "<ListAllMyBucketsResult><Buckets><Bucket>\
            <Name>evil&#27;[2J-1250000000&#10;forged</Name>\
            <Location>ap-guang\u{202e}zhou</Location>\
            <CreationDate>2026</CreationDate></Bucket></Buckets>\
            </ListAllMyBucketsResult>";
        let page = bucket_page_from_xml(hostile.as_bytes()).unwrap();
        let entry = &page.buckets[0];
        assert_eq!(entry.name, "evil[2J-1250000000 forged");
        assert_eq!(entry.location, "ap-guangzhou");
    }

    #[test]
    fn bucket_pages_carry_their_markers_and_always_a_buckets_element() {
        let page = BucketPage {
            buckets: vec![BucketEntry {
                name: "a-1250000000".into(),
                location: "ap-beijing".into(),
                creation_date: "2026-01-02T03:04:05Z".into(),
            }],
            is_truncated: true,
            marker: Some("0-1250000000".into()),
            next_marker: Some("a-1250000000".into()),
        };
        let text = bucket_page_to_xml("100000000001", &page);
        let owner = text.find("<Owner>").unwrap();
        let marker = text.find("<Marker>0-1250000000</Marker>").unwrap();
        let next = text.find("<NextMarker>a-1250000000</NextMarker>").unwrap();
        let truncated = text.find("<IsTruncated>true</IsTruncated>").unwrap();
        let buckets = text
            .find("<Buckets><Bucket><Name>a-1250000000</Name>")
            .unwrap();
        assert!(owner < marker && marker < next && next < truncated && truncated < buckets);
        assert_eq!(bucket_page_from_xml(text.as_bytes()).unwrap(), page);
        let empty = bucket_list_to_xml("1", &[]);
        assert!(
            empty.contains("<Buckets/>") || empty.contains("<Buckets></Buckets>"),
            "{empty}"
        );
        assert!(
            empty.contains("<IsTruncated>false</IsTruncated>"),
            "{empty}"
        );
        let parsed = bucket_page_from_xml(empty.as_bytes()).unwrap();
        assert!(!parsed.is_truncated && parsed.buckets.is_empty() && parsed.marker.is_none());
        let odd =
            b"<ListAllMyBucketsResult><IsTruncated>maybe</IsTruncated></ListAllMyBucketsResult>";
        assert!(bucket_page_from_xml(odd).is_err());
    }

    proptest! {
        #[test]
        fn any_valid_configuration_survives_xml(config in arb_config()) {
            prop_assert_eq!(config.validate(), vec![]);
            let xml = configuration_to_xml(&config);
            prop_assert_eq!(configuration_from_xml(xml.as_bytes()).unwrap(), config);
        }

        #[test]
        fn the_written_body_is_the_serde_form(
            config in arb_config(),
            odd in "[a-z&<>\r\n\t \"']{0,12}",
        ) {
            prop_assert_eq!(
                configuration_to_xml(&config),
                to_xml(CONFIGURATION_ROOT, &WireConfiguration::from(&config))
            );
            // Text COS would refuse is still written as serde writes it.
            let mut odd_config = config;
            odd_config.destination.prefix = Some(odd.clone());
            if let Some(filter) = &mut odd_config.filter {
                filter.prefix = Some(odd);
                filter.period = Some(Period { start: None, end: Some(7) });
            }
            prop_assert_eq!(
                configuration_to_xml(&odd_config),
                to_xml(CONFIGURATION_ROOT, &WireConfiguration::from(&odd_config))
            );
        }

        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = configuration_from_xml(&body);
            let _ = inventory_page_from_xml(&body);
            let _ = error_from_xml(&body);
        }
    }
}
