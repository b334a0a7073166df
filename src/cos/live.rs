//! Reading what is on a bucket: `List Bucket inventory` pages and `GET
//! Bucket inventory` documents, into [`LiveConfiguration`]s.
//!
//! Unlike [`super::xml`], which refuses anything cosinv would not send,
//! this reader never fails on a value: whatever made a configuration (the
//! console, another tool, a newer API), its values are kept as text and
//! elements cosinv has no name for are listed. Only a document that is not
//! XML, or not the document asked for, is an error. Namespaces and element
//! order do not matter.

use quick_xml::events::{BytesRef, Event};

use super::xml::{XmlError, snippet};
use crate::model::live::LiveConfiguration;

/// Deeper documents than this are not inventory answers.
const MAX_DEPTH: usize = 32;

/// One element: its local name (namespace prefix dropped), its text, its
/// children in order.
#[derive(Debug, Default)]
struct Element {
    name: String,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|child| child.name == name)
    }
}

fn malformed(document: &'static str, body: &[u8], reason: impl ToString) -> XmlError {
    XmlError::Malformed {
        document,
        reason: reason.to_string(),
        snippet: snippet(body),
    }
}

/// The text of `&name;`: one of XML's five predefined entities or a
/// character reference; anything else is not an answer COS gives.
fn reference_text(reference: &BytesRef<'_>) -> Result<char, String> {
    if let Ok(Some(c)) = reference.resolve_char_ref() {
        return Ok(c);
    }
    match &**reference {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        other => Err(format!("unknown entity &{other};")),
    }
}

/// Parses `body` into a tree rooted at the document element.
fn parse_tree(document: &'static str, body: &[u8]) -> Result<Element, XmlError> {
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut stack: Vec<Element> = Vec::new();
    let mut buffer = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buffer)
            .map_err(|err| malformed(document, body, err))?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(malformed(document, body, "nested too deeply"));
                }
                stack.push(Element {
                    name: start.local_name().into_inner().to_string(),
                    ..Element::default()
                });
            }
            Event::Empty(empty) => {
                let element = Element {
                    name: empty.local_name().into_inner().to_string(),
                    ..Element::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => return Ok(element),
                }
            }
            Event::Text(text) => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&text.xml10_content());
                }
            }
            Event::GeneralRef(reference) => {
                let c = reference_text(&reference).map_err(|err| malformed(document, body, err))?;
                if let Some(open) = stack.last_mut() {
                    open.text.push(c);
                }
            }
            Event::CData(data) => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&data.xml10_content());
                }
            }
            Event::End(_) => {
                let done = stack.pop().expect("the reader checks that tags match");
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(done),
                }
            }
            Event::Eof => return Err(malformed(document, body, "the document ends early")),
            _ => {}
        }
        buffer.clear();
    }
}

fn expect_root(
    document: &'static str,
    body: &[u8],
    root: Element,
    name: &str,
) -> Result<Element, XmlError> {
    if root.name == name {
        Ok(root)
    } else {
        Err(malformed(
            document,
            body,
            format!("the root element is <{}>, not <{name}>", root.name),
        ))
    }
}

/// The value of a leaf: its text, or `None` for an empty element.
fn value(element: &Element) -> Option<String> {
    Some(element.text.clone())
}

/// Reads one `<InventoryConfiguration>` element.
fn configuration(element: &Element) -> LiveConfiguration {
    let mut live = LiveConfiguration::default();
    for child in &element.children {
        match child.name.as_str() {
            "Id" => live.id = child.text.trim().to_string(),
            "IsEnabled" => live.enabled = value(child),
            "IncludedObjectVersions" => live.included_object_versions = value(child),
            "Schedule" => schedule(child, &mut live),
            "Filter" => filter(child, &mut live),
            "OptionalFields" => optional_fields(child, &mut live),
            "Destination" => destination(child, &mut live),
            other => live.unknown_elements.push(other.to_string()),
        }
    }
    live
}

fn schedule(element: &Element, live: &mut LiveConfiguration) {
    for child in &element.children {
        match child.name.as_str() {
            "Frequency" => live.frequency = value(child),
            "MonthlyDate" => live.monthly_date = value(child),
            other => live.unknown_elements.push(format!("Schedule/{other}")),
        }
    }
}

fn filter(element: &Element, live: &mut LiveConfiguration) {
    for child in &element.children {
        match child.name.as_str() {
            "Prefix" => live.filter_prefix = value(child),
            "And" => filter_and(child, live),
            "Tag" => tag(child, live),
            "Period" => {
                live.period_start = child.child("StartTime").and_then(value);
                live.period_end = child.child("EndTime").and_then(value);
            }
            other => live.unknown_elements.push(format!("Filter/{other}")),
        }
    }
}

/// `Filter/And`: a prefix and tags together.
fn filter_and(element: &Element, live: &mut LiveConfiguration) {
    for child in &element.children {
        match child.name.as_str() {
            "Prefix" => live.filter_prefix = value(child),
            "Tag" => tag(child, live),
            other => live.unknown_elements.push(format!("Filter/And/{other}")),
        }
    }
}

fn tag(element: &Element, live: &mut LiveConfiguration) {
    let text = |name| {
        element
            .child(name)
            .map(|e| e.text.clone())
            .unwrap_or_default()
    };
    live.filter_tags.push((text("Key"), text("Value")));
}

fn optional_fields(element: &Element, live: &mut LiveConfiguration) {
    for child in &element.children {
        match child.name.as_str() {
            "Field" => live.optional_fields.push(child.text.clone()),
            other => live
                .unknown_elements
                .push(format!("OptionalFields/{other}")),
        }
    }
}

fn destination(element: &Element, live: &mut LiveConfiguration) {
    for child in &element.children {
        if child.name != "COSBucketDestination" {
            live.unknown_elements
                .push(format!("Destination/{}", child.name));
            continue;
        }
        for part in &child.children {
            match part.name.as_str() {
                "Format" => live.destination_format = value(part),
                "AccountId" => live.destination_account_id = value(part),
                "Bucket" => live.destination_bucket = value(part),
                "Prefix" => live.destination_prefix = value(part),
                "Encryption" => live.sse_cos = part.child("SSE-COS").is_some(),
                other => live
                    .unknown_elements
                    .push(format!("Destination/COSBucketDestination/{other}")),
            }
        }
    }
}

/// Reads a `GET Bucket inventory` answer.
pub fn live_configuration_from_xml(body: &[u8]) -> Result<LiveConfiguration, XmlError> {
    let document = "InventoryConfiguration";
    let root = expect_root(
        document,
        body,
        parse_tree(document, body)?,
        "InventoryConfiguration",
    )?;
    Ok(configuration(&root))
}

/// One page of `List Bucket inventory`, read faithfully.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LivePage {
    pub configurations: Vec<LiveConfiguration>,
    pub is_truncated: bool,
    /// The token for the next page, when truncated.
    pub next_continuation_token: Option<String>,
}

/// Reads a `List Bucket inventory` answer. A page that says it is
/// truncated but gives no token to continue from is an error: following it
/// would loop.
pub fn live_page_from_xml(body: &[u8]) -> Result<LivePage, XmlError> {
    let document = "ListInventoryConfigurationResult";
    let root = expect_root(
        document,
        body,
        parse_tree(document, body)?,
        "ListInventoryConfigurationResult",
    )?;
    let text = |name| {
        root.child(name)
            .map(|e| e.text.trim().to_string())
            .filter(|t| !t.is_empty())
    };
    let is_truncated = text("IsTruncated").is_some_and(|t| t.eq_ignore_ascii_case("true"));
    let next_continuation_token = text("NextContinuationToken");
    if is_truncated && next_continuation_token.is_none() {
        return Err(malformed(
            document,
            body,
            "IsTruncated is true but there is no NextContinuationToken",
        ));
    }
    Ok(LivePage {
        configurations: root
            .children
            .iter()
            .filter(|child| child.name == "InventoryConfiguration")
            .map(configuration)
            .collect(),
        is_truncated,
        next_continuation_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cos::xml::{InventoryPage, configuration_to_xml, inventory_page_to_xml};
    use crate::model::live::changes;
    use crate::model::tests::sample;

    #[test]
    fn what_cosinv_writes_reads_back_meaning_the_same() {
        let config = sample();
        let live = live_configuration_from_xml(configuration_to_xml(&config).as_bytes()).unwrap();
        assert_eq!(live.id, "list1");
        assert!(changes(&live, &LiveConfiguration::from(&config)).is_empty());
        assert!(live.unknown_elements.is_empty(), "{live:?}");
    }

    #[test]
    fn console_made_configurations_are_read_never_refused() {
        let body = r#"<?xml version="1.0"?>
<ns:ListInventoryConfigurationResult xmlns:ns="http://www.qcloud.com/document/product/436/7751">
  <ns:InventoryConfiguration>
    <ns:Id>console-1</ns:Id>
    <ns:IsEnabled>True</ns:IsEnabled>
    <ns:Schedule><ns:Frequency>Monthly</ns:Frequency><ns:MonthlyDate>31</ns:MonthlyDate></ns:Schedule>
    <ns:Filter>
      <ns:And><ns:Prefix>logs/</ns:Prefix><ns:Tag><ns:Key>team</ns:Key><ns:Value>a&amp;b</ns:Value></ns:Tag></ns:And>
      <ns:StorageClass>STANDARD</ns:StorageClass>
    </ns:Filter>
    <ns:IncludedObjectVersions>Current</ns:IncludedObjectVersions>
    <ns:OptionalFields><ns:Field>Tag</ns:Field><ns:Field>x-cos-meta-*</ns:Field><ns:Field>Colour</ns:Field></ns:OptionalFields>
    <ns:Destination><ns:COSBucketDestination>
      <ns:Format>ORC</ns:Format><ns:Bucket>qcs::cos:ap-guangzhou::dest-1250000000</ns:Bucket>
      <ns:Encryption><ns:SSE-KMS/></ns:Encryption>
    </ns:COSBucketDestination></ns:Destination>
    <ns:LastModified>2026-01-01</ns:LastModified>
  </ns:InventoryConfiguration>
  <ns:IsTruncated>false</ns:IsTruncated>
</ns:ListInventoryConfigurationResult>"#;
        let page = live_page_from_xml(body.as_bytes()).unwrap();
        assert!(!page.is_truncated);
        let live = &page.configurations[0];
        assert_eq!(live.id, "console-1");
        assert_eq!(live.frequency.as_deref(), Some("Monthly"));
        assert_eq!(live.monthly_date.as_deref(), Some("31"));
        assert_eq!(live.filter_prefix.as_deref(), Some("logs/"));
        assert_eq!(live.filter_tags, [("team".into(), "a&b".into())]);
        assert_eq!(live.optional_fields, ["Tag", "x-cos-meta-*", "Colour"]);
        assert_eq!(live.destination_format.as_deref(), Some("ORC"));
        assert!(!live.sse_cos);
        assert_eq!(
            live.unknown_elements,
            ["Filter/StorageClass", "LastModified"]
        );
    }

    #[test]
    fn pages_carry_their_continuation() {
        let page = InventoryPage {
            configurations: vec![sample()],
            is_truncated: true,
            continuation_token: None,
            next_continuation_token: Some("next".into()),
        };
        let read = live_page_from_xml(inventory_page_to_xml(&page).as_bytes()).unwrap();
        assert!(read.is_truncated);
        assert_eq!(read.next_continuation_token.as_deref(), Some("next"));
        assert_eq!(read.configurations.len(), 1);
        let endless = r#"<ListInventoryConfigurationResult><IsTruncated>true</IsTruncated></ListInventoryConfigurationResult>"#;
        assert!(live_page_from_xml(endless.as_bytes()).is_err());
    }

    #[test]
    fn not_xml_or_the_wrong_document_is_an_error_not_a_panic() {
        let bodies: [&[u8]; 6] = [
            b"<html><body>502</body></html>",
            b"<ListInventoryConfigurationResult><InventoryConfiguration>",
            b"\xff\xfe\x00garbage",
            b"",
            b"<a><b></a></b>",
            b"<Error><Code>x</Code></Error>",
        ];
        for body in bodies {
            assert!(live_page_from_xml(body).is_err(), "{body:?}");
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(live_page_from_xml(deep.as_bytes()).is_err());
    }
}
