//! GET Bucket pages (`<ListBucketResult>`): the keys under a prefix and,
//! with a delimiter, the "folders" below it (common prefixes). Keys are
//! kept as COS wrote them, since they are sent back (as a marker, a path);
//! whoever shows one makes it printable.

use serde::{Deserialize, Serialize};

use super::request::MAX_OBJECT_PAGE;
use super::xml::{XmlError, from_xml, malformed, non_empty, to_xml, truncated};

const ROOT: &str = "ListBucketResult";

/// One object of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEntry {
    pub key: String,
    pub size: u64,
    pub last_modified: String,
    pub etag: String,
}

/// One page of GET Bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectListing {
    pub prefix: String,
    pub objects: Vec<ObjectEntry>,
    /// With a delimiter: each distinct key part up to it, once.
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// Where the next page starts, when truncated.
    pub next_marker: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireObject {
    key: String,
    #[serde(default)]
    last_modified: String,
    #[serde(rename = "ETag", default)]
    etag: String,
    #[serde(default)]
    size: String,
    #[serde(default)]
    storage_class: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WirePrefix {
    prefix: String,
}

/// In the element order of COS's API text (objects before prefixes).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireObjectList {
    #[serde(default)]
    name: String,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    marker: String,
    #[serde(default)]
    max_keys: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delimiter: Option<String>,
    #[serde(default)]
    is_truncated: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    #[serde(rename = "Contents", default)]
    contents: Vec<WireObject>,
    #[serde(rename = "CommonPrefixes", default)]
    common_prefixes: Vec<WirePrefix>,
}

/// A page as COS writes it; `bucket`, `marker`, `delimiter` and
/// `max_keys` as asked.
pub fn listing_to_xml(
    bucket: &str,
    page: &ObjectListing,
    marker: &str,
    delimiter: Option<&str>,
    max_keys: u32,
) -> String {
    let wire = WireObjectList {
        name: bucket.to_string(),
        prefix: page.prefix.clone(),
        marker: marker.to_string(),
        max_keys: max_keys.to_string(),
        delimiter: delimiter.map(str::to_string),
        is_truncated: Some(page.is_truncated.to_string()),
        next_marker: page.next_marker.clone(),
        contents: page
            .objects
            .iter()
            .map(|object| WireObject {
                key: object.key.clone(),
                last_modified: object.last_modified.clone(),
                etag: object.etag.clone(),
                size: object.size.to_string(),
                storage_class: "STANDARD".to_string(),
            })
            .collect(),
        common_prefixes: page
            .common_prefixes
            .iter()
            .map(|prefix| WirePrefix {
                prefix: prefix.clone(),
            })
            .collect(),
    };
    to_xml(ROOT, &wire)
}

/// A GET Bucket answer read; a page of more entries than COS's cap, or a
/// size that is no number, is not a page COS sends.
pub fn listing_from_xml(body: &[u8]) -> Result<ObjectListing, XmlError> {
    let wire: WireObjectList = from_xml(ROOT, body, ROOT)?;
    if wire.contents.len() + wire.common_prefixes.len() > MAX_OBJECT_PAGE as usize {
        let reason = format!("more than {MAX_OBJECT_PAGE} entries on one page");
        return Err(malformed(ROOT, body, reason));
    }
    let is_truncated = truncated(ROOT, wire.is_truncated.as_deref())?;
    let mut objects = Vec::with_capacity(wire.contents.len());
    for object in wire.contents {
        let Ok(size) = object.size.trim().parse::<u64>() else {
            return Err(malformed(ROOT, body, "a Size that is not a number"));
        };
        objects.push(ObjectEntry {
            key: object.key,
            size,
            last_modified: object.last_modified,
            etag: object.etag,
        });
    }
    Ok(ObjectListing {
        prefix: wire.prefix,
        objects,
        common_prefixes: wire.common_prefixes.into_iter().map(|p| p.prefix).collect(),
        is_truncated,
        next_marker: non_empty(wire.next_marker),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_reads_back_what_was_written() {
        let page = ObjectListing {
            prefix: "p/".into(),
            objects: vec![ObjectEntry {
                key: "p/a.csv.gz".into(),
                size: 42,
                last_modified: "2026-12-07T00:00:00.000Z".into(),
                etag: "\"abc\"".into(),
            }],
            common_prefixes: vec!["p/20261206/".into(), "p/20261207/".into()],
            is_truncated: true,
            next_marker: Some("p/20261207/".into()),
        };
        let xml = listing_to_xml("b-1250000000", &page, "", Some("/"), 2);
        assert!(xml.contains("<CommonPrefixes><Prefix>p/20261206/</Prefix></CommonPrefixes>"));
        assert_eq!(listing_from_xml(xml.as_bytes()).unwrap(), page);
    }

    #[test]
    fn cos_s_sample_answer_reads() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult><Name>examplebucket-1250000000</Name><Prefix/><Marker/>
<MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>false</IsTruncated>
<Contents><Key>example.txt</Key><LastModified>2020-12-10T03:37:30.000Z</LastModified>
<ETag>"fb31459ad10289ff49327fd91a3e1f6a"</ETag><Size>4</Size>
<Owner><ID>1250000000</ID><DisplayName>1250000000</DisplayName></Owner>
<StorageClass>STANDARD</StorageClass></Contents>
<CommonPrefixes><Prefix>folder/</Prefix></CommonPrefixes></ListBucketResult>"#;
        let page = listing_from_xml(body).unwrap();
        assert_eq!(page.objects[0].size, 4);
        assert_eq!(page.common_prefixes, ["folder/"]);
        assert!(!page.is_truncated && page.next_marker.is_none());
    }

    #[test]
    fn pages_cos_would_not_send_are_refused() {
        let bad_size =
            b"<ListBucketResult><Contents><Key>a</Key><Size>x</Size></Contents></ListBucketResult>";
        assert!(listing_from_xml(bad_size).is_err());
        assert!(listing_from_xml(b"<html>no</html>").is_err());
        let many = "<CommonPrefixes><Prefix>a/</Prefix></CommonPrefixes>".repeat(1001);
        let body = format!("<ListBucketResult>{many}</ListBucketResult>");
        assert!(listing_from_xml(body.as_bytes()).is_err());
    }
}
