//! Property tests of the XML parsers (`cos::xml`): arbitrary bytes and
//! mutated valid documents never panic, and whatever comes back (a parsed
//! error document, or the error explaining why not) is printable; valid
//! documents round-trip.

use cosinv::cos::text::MAX_FIELD_BYTES;
use cosinv::cos::xml::{self, BucketEntry, CosErrorBody, InventoryPage};
use proptest::prelude::*;

use super::mutate::{self, Edit};

/// Pieces of XML syntax, good and bad, spliced in by the mutator.
const XML_TOKENS: &[&[u8]] = &[
    b"<",
    b"</",
    b">",
    b"/>",
    b"&",
    b"&amp;",
    b"&#27;",
    b"&#0;",
    b"&#x1F;",
    b"&lt;",
    b"&bogus;",
    b"]]>",
    b"<![CDATA[x]]>",
    b"<!-- c -->",
    b"<?xml version=\"1.0\"?>",
    b"<!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>",
    b"&b;",
    b" xmlns=\"http://www.qcloud.com/document/product/436/7751\"",
    b" xmlns:q=\"urn:x\"",
    b"<q:Id>",
    b"<Id>",
    b"</Id>",
    b"<Field>",
    b"<Tag><Key>k</Key></Tag>",
    b"<And>",
    b"<Period><StartTime>",
    b"<InventoryConfiguration>",
    b"<Error><Code>",
    b"<Bucket>",
    b"<a><a><a><a><a><a><a><a>",
    b"\x1b[31m",
    b"\x00",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\r\n",
    b"True",
    b"99999999999999999999999",
];

const REGIONS: &[&str] = &[
    "ap-guangzhou",
    "ap-beijing",
    "ap-shanghai",
    "ap-singapore",
    "na-siliconvalley",
    "eu-frankfurt",
];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn element(name: &str, value: Option<&str>) -> String {
    value.map_or_else(String::new, |value| {
        format!("<{name}>{}</{name}>", escape(value))
    })
}

/// The filter: a prefix alone, or (with tags) inside `<And>`, and a period.
fn filter_xml(
    prefix: Option<&str>,
    tags: &[(String, String)],
    period: Option<(u64, u64)>,
) -> String {
    let tags: String = tags
        .iter()
        .map(|(key, value)| {
            format!(
                "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
                escape(key),
                escape(value)
            )
        })
        .collect();
    let mut filter = if tags.is_empty() {
        element("Prefix", prefix)
    } else {
        format!("<And>{}{tags}</And>", element("Prefix", prefix))
    };
    if let Some((start, length)) = period {
        filter.push_str(&format!(
            "<Period><StartTime>{start}</StartTime><EndTime>{}</EndTime></Period>",
            start + length
        ));
    }
    if filter.is_empty() {
        filter
    } else {
        format!("<Filter>{filter}</Filter>")
    }
}

prop_compose! {
    /// The XML of a valid `<InventoryConfiguration>`, written by hand.
    fn valid_configuration()(
        id in "[A-Za-z0-9._-]{1,64}",
        enabled in prop::sample::select(vec!["true", "false", "True", "FALSE"]),
        account in prop::option::of("[1-9][0-9]{11}"),
        bucket in "[a-z][a-z0-9]{0,20}-12[0-9]{8}",
        region in prop::sample::select(REGIONS),
        prefix in prop::option::of("[a-zA-Z0-9_.&<>'\"-]([a-zA-Z0-9_./&<>'\"-]{0,38}[a-zA-Z0-9_.&<>'\"-])?"),
        sse in any::<bool>(),
        daily in any::<bool>(),
        all in any::<bool>(),
        filter_prefix in prop::option::of("[a-zA-Z0-9 _./&<>'\"-]{1,40}"),
        tags in prop::collection::btree_map("[a-z]{1,8}", "[a-zA-Z0-9 &<]{0,8}", 0..3),
        period in prop::option::of((0u64..1_000_000, 1u64..1_000_000)),
        fields in prop::sample::subsequence(
            vec!["Size", "LastModifiedDate", "StorageClass", "ETag", "IsMultipartUploaded",
                 "ReplicationStatus", "Crc64", "x-cos-meta-owner"], 0..=8),
    ) -> String {
        let tags: Vec<(String, String)> = tags.into_iter().collect();
        let mut fields: Vec<&str> = fields;
        if !tags.is_empty() {
            fields.push("Tag");
        }
        let fields: String = fields.iter().map(|f| format!("<Field>{f}</Field>")).collect();
        format!(
            "<InventoryConfiguration><Id>{id}</Id><IsEnabled>{enabled}</IsEnabled>\
             <Destination><COSBucketDestination><Format>CSV</Format>{}\
             <Bucket>qcs::cos:{region}::{bucket}</Bucket>{}{}</COSBucketDestination></Destination>\
             <Schedule><Frequency>{}</Frequency></Schedule>{}\
             <IncludedObjectVersions>{}</IncludedObjectVersions>\
             <OptionalFields>{fields}</OptionalFields></InventoryConfiguration>",
            element("AccountId", account.as_deref()),
            element("Prefix", prefix.as_deref()),
            if sse { "<Encryption><SSE-COS></SSE-COS></Encryption>" } else { "" },
            if daily { "Daily" } else { "Weekly" },
            filter_xml(filter_prefix.as_deref(), &tags, period),
            if all { "All" } else { "Current" },
        )
    }
}

fn error_document() -> impl Strategy<Value = CosErrorBody> {
    // Any text without controls, as a server writes it.
    let text = || "[^\\p{C}]{0,60}";
    ("[A-Za-z]{1,30}", text(), text(), text(), text()).prop_map(
        |(code, message, resource, request_id, trace_id)| CosErrorBody {
            code,
            message,
            resource,
            request_id,
            trace_id,
        },
    )
}

fn bucket_list() -> impl Strategy<Value = Vec<BucketEntry>> {
    let entry = (
        "[a-z0-9-]{1,30}-12[0-9]{8}",
        prop::sample::select(REGIONS),
        "[0-9TZ:-]{0,20}",
    )
        .prop_map(|(name, location, creation_date)| BucketEntry {
            name,
            location: location.to_string(),
            creation_date,
        });
    prop::collection::vec(entry, 0..4)
}

fn printable(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

/// Runs every parser on `body`: none may panic, and what comes back must
/// be printable.
fn parse_everything(body: &[u8]) -> Result<(), TestCaseError> {
    let errors = [
        xml::configuration_from_xml(body).err(),
        xml::inventory_page_from_xml(body).err(),
        xml::bucket_list_from_xml(body).err(),
    ];
    for err in errors.into_iter().flatten() {
        let text = err.to_string();
        prop_assert!(printable(&text), "{:?}", text);
    }
    match xml::error_from_xml(body) {
        Ok(error) => {
            for field in [
                &error.code,
                &error.message,
                &error.resource,
                &error.request_id,
                &error.trace_id,
            ] {
                prop_assert!(printable(field), "{:?}", field);
                prop_assert!(field.len() <= MAX_FIELD_BYTES + 3, "{} bytes", field.len());
            }
        }
        Err(err) => prop_assert!(printable(&err.to_string()), "{}", err),
    }
    Ok(())
}

proptest! {
    #![proptest_config(mutate::config(256))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_everything(&body)?;
    }

    #[test]
    fn valid_configurations_parse_and_round_trip(document in valid_configuration()) {
        let config = xml::configuration_from_xml(document.as_bytes())
            .map_err(|err| TestCaseError::fail(format!("{err}\n{document}")))?;
        let written = xml::configuration_to_xml(&config);
        prop_assert_eq!(xml::configuration_from_xml(written.as_bytes()).unwrap(), config.clone());
        let page = InventoryPage {
            configurations: vec![config.clone(), config],
            is_truncated: true,
            continuation_token: Some("a".into()),
            next_continuation_token: Some("b/+=".into()),
        };
        let written = xml::inventory_page_to_xml(&page);
        prop_assert_eq!(xml::inventory_page_from_xml(written.as_bytes()).unwrap(), page);
    }

    #[test]
    fn error_documents_and_bucket_lists_round_trip(error in error_document(), buckets in bucket_list()) {
        let written = xml::error_to_xml(&error);
        prop_assert_eq!(xml::error_from_xml(written.as_bytes()).unwrap(), error);
        let written = xml::bucket_list_to_xml("100000000001", &buckets);
        prop_assert_eq!(xml::bucket_list_from_xml(written.as_bytes()).unwrap(), buckets);
    }

    #[test]
    fn mutated_documents_never_panic(
        document in valid_configuration(),
        error in error_document(),
        buckets in bucket_list(),
        which in 0usize..4,
        edits in mutate::edits(),
    ) {
        let seed = match which {
            0 => document.into_bytes(),
            1 => {
                let config = xml::configuration_from_xml(document.as_bytes()).unwrap();
                xml::inventory_page_to_xml(&InventoryPage {
                    configurations: vec![config],
                    is_truncated: false,
                    continuation_token: None,
                    next_continuation_token: None,
                })
                .into_bytes()
            }
            2 => xml::error_to_xml(&error).into_bytes(),
            _ => xml::bucket_list_to_xml("1", &buckets).into_bytes(),
        };
        let _: &[Edit] = &edits;
        parse_everything(&mutate::apply(&seed, &edits, XML_TOKENS))?;
    }
}
