//! A direct reader of `<InventoryConfiguration>` documents laid out
//! exactly as [`super::configuration_to_xml`] writes them: the elements in
//! that order, nothing between them, plain text (no entity, no control
//! character, no space at either end, never empty).
//!
//! It exists for speed (the emulator reads one such body per PUT, and
//! serde's reader was a sixth of its time) and it never decides anything
//! alone: any document it is not sure of, it declines (`None`) and serde
//! reads it. What it accepts it reads into the same wire structs serde
//! would, which a property test holds it to, mutated documents included.

use super::{
    WireAnd, WireBucketDestination, WireConfiguration, WireDestination, WireEmpty, WireEncryption,
    WireFilter, WireOptionalFields, WirePeriod, WireSchedule, WireTag, XML_DECLARATION,
};

const ENCRYPTION: &str = "<Encryption><SSE-COS></SSE-COS></Encryption>";

/// The wire form of `text`, or `None`: serde's turn.
pub(super) fn configuration(text: &str) -> Option<WireConfiguration> {
    let mut doc = Cursor {
        rest: text.strip_prefix(XML_DECLARATION).unwrap_or(text),
    };
    doc.literal("<InventoryConfiguration>")?;
    let id = doc.element("Id")?;
    let is_enabled = doc.element("IsEnabled")?;
    let destination = destination(&mut doc)?;
    doc.literal("<Schedule>")?;
    let schedule = WireSchedule {
        frequency: doc.element("Frequency")?,
        monthly_date: doc.optional("MonthlyDate")?,
    };
    doc.literal("</Schedule>")?;
    let filter = match doc.rest.starts_with("<Filter>") {
        true => Some(filter(&mut doc)?),
        false => None,
    };
    let included_object_versions = doc.element("IncludedObjectVersions")?;
    let optional_fields = match doc.skip("<OptionalFields>") {
        true => {
            let fields = doc.repeated("Field")?;
            doc.literal("</OptionalFields>")?;
            if fields.is_empty() {
                return None;
            }
            Some(WireOptionalFields { fields })
        }
        false => None,
    };
    doc.literal("</InventoryConfiguration>")?;
    doc.rest.is_empty().then_some(WireConfiguration {
        id,
        is_enabled,
        destination,
        schedule,
        filter,
        included_object_versions,
        optional_fields,
    })
}

fn destination(doc: &mut Cursor<'_>) -> Option<WireDestination> {
    doc.literal("<Destination><COSBucketDestination>")?;
    let destination = WireBucketDestination {
        format: doc.element("Format")?,
        account_id: doc.optional("AccountId")?,
        bucket: doc.element("Bucket")?,
        prefix: doc.optional("Prefix")?,
        encryption: doc.skip(ENCRYPTION).then_some(WireEncryption {
            sse_cos: Some(WireEmpty {}),
        }),
    };
    doc.literal("</COSBucketDestination></Destination>")?;
    Some(WireDestination {
        cos_bucket_destination: destination,
    })
}

/// `<Filter>` with a prefix or tags (in `<And>`), and a period; at least
/// one of them (an empty one is serde's to read).
fn filter(doc: &mut Cursor<'_>) -> Option<WireFilter> {
    doc.literal("<Filter>")?;
    let mut filter = WireFilter {
        prefix: None,
        and: None,
        period: None,
    };
    if doc.skip("<And>") {
        let prefix = doc.optional("Prefix")?;
        let mut tags = Vec::new();
        while doc.skip("<Tag>") {
            tags.push(WireTag {
                key: doc.element("Key")?,
                // A tag's value may be empty; the only text that may.
                value: match doc.skip("<Value></Value>") {
                    true => String::new(),
                    false => doc.element("Value")?,
                },
            });
            doc.literal("</Tag>")?;
        }
        doc.literal("</And>")?;
        if tags.is_empty() {
            return None;
        }
        filter.and = Some(WireAnd { prefix, tags });
    } else {
        filter.prefix = doc.optional("Prefix")?;
    }
    if doc.skip("<Period>") {
        let period = WirePeriod {
            start_time: doc.optional("StartTime")?,
            end_time: doc.optional("EndTime")?,
        };
        doc.literal("</Period>")?;
        if period.start_time.is_none() && period.end_time.is_none() {
            return None;
        }
        filter.period = Some(period);
    }
    doc.literal("</Filter>")?;
    let empty = filter.prefix.is_none() && filter.and.is_none() && filter.period.is_none();
    (!empty).then_some(filter)
}

/// The unread rest of a document. Every method returns `None` (or false)
/// for what it does not find exactly.
struct Cursor<'a> {
    rest: &'a str,
}

impl Cursor<'_> {
    fn literal(&mut self, text: &str) -> Option<()> {
        self.rest = self.rest.strip_prefix(text)?;
        Some(())
    }

    /// Skips `text` if it comes next.
    fn skip(&mut self, text: &str) -> bool {
        self.literal(text).is_some()
    }

    /// `<name>text</name>`, the text plain.
    fn element(&mut self, name: &str) -> Option<String> {
        let rest = self.rest.strip_prefix('<')?.strip_prefix(name)?;
        let rest = rest.strip_prefix('>')?;
        let end = rest.find('<')?;
        let text = &rest[..end];
        let after = rest[end..]
            .strip_prefix("</")?
            .strip_prefix(name)?
            .strip_prefix('>')?;
        let plain = !text.is_empty()
            && !text.contains(['&', '>'])
            && text.bytes().all(|byte| byte >= b' ')
            && text.trim() == text;
        if !plain {
            return None;
        }
        self.rest = after;
        Some(text.to_string())
    }

    /// An element that may be absent: `Some(None)` when the next one is
    /// another; `None` when it is this one but not plain.
    fn optional(&mut self, name: &str) -> Option<Option<String>> {
        let next = self
            .rest
            .strip_prefix('<')
            .and_then(|rest| rest.strip_prefix(name))
            .is_some_and(|rest| rest.starts_with('>'));
        match next {
            true => self.element(name).map(Some),
            false => Some(None),
        }
    }

    /// `<name>…</name>` as many times as it comes.
    fn repeated(&mut self, name: &str) -> Option<Vec<String>> {
        let mut values = Vec::new();
        while let Some(value) = self.optional(name)? {
            values.push(value);
        }
        Some(values)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::tests::arb_config;
    use super::super::{
        CONFIGURATION_ROOT, WireConfiguration, configuration_to_xml, from_xml, to_xml,
    };
    use super::*;

    fn by_serde(text: &str) -> Option<WireConfiguration> {
        from_xml::<WireConfiguration>("test", text.as_bytes(), CONFIGURATION_ROOT).ok()
    }

    #[test]
    fn every_element_cosinv_writes_is_read_directly() {
        use crate::model::{
            AccountId, Filter, Frequency, MonthDay, OptionalField, Period, TagFilter,
        };
        let mut config = crate::model::tests::sample();
        config.frequency = Frequency::Monthly;
        config.monthly_date = Some(MonthDay::parse_for("monthly_date", "9").unwrap());
        config.destination.account_id = Some(AccountId::parse_for("x", "100000000001").unwrap());
        config.destination.sse_cos = true;
        config.optional_fields.push(OptionalField::Tag);
        config.filter = Filter::new(
            Some("logs/".into()),
            vec![
                TagFilter {
                    key: "team".into(),
                    value: "ops".into(),
                },
                TagFilter {
                    key: "empty".into(),
                    value: String::new(),
                },
            ],
            Some(Period {
                start: Some(1),
                end: Some(2),
            }),
        );
        let body = configuration_to_xml(&config);
        let direct = configuration(&body).expect("read directly");
        assert_eq!(Some(&direct), by_serde(&body).as_ref());
        assert_eq!(direct, WireConfiguration::from(&config));
    }

    #[test]
    fn odd_but_valid_layouts_are_left_to_serde() {
        let body = configuration_to_xml(&crate::model::tests::sample());
        assert!(configuration(&body).is_some());
        for odd in [
            body.replace("<Id>", "<Id> "),
            body.replace("<IsEnabled>", " <IsEnabled>"),
            body.replace("list1", "list&amp;1"),
            body.replace("<Frequency>Daily", "<Frequency>\nDaily"),
            body.replace("<Field>Size</Field><Field>ETag</Field>", ""),
            body.replace(
                "<InventoryConfiguration>",
                "<InventoryConfiguration xmlns=\"x\">",
            ),
            format!("{body}\n"),
        ] {
            assert_eq!(configuration(&odd), None, "{odd}");
        }
    }

    /// A body mutated by replacing `len` bytes at `at` with `with`.
    fn mutated(body: &str, at: usize, len: usize, with: &str) -> String {
        let mut bytes = body.as_bytes().to_vec();
        let at = at % (bytes.len() + 1);
        let end = (at + len).min(bytes.len());
        bytes.splice(at..end, with.bytes());
        String::from_utf8_lossy(&bytes).into_owned()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn what_cosinv_writes_is_read_as_serde_reads_it(config in arb_config()) {
            let body = configuration_to_xml(&config);
            let wire = WireConfiguration::from(&config);
            prop_assert_eq!(to_xml(CONFIGURATION_ROOT, &wire), body.clone());
            if let Some(direct) = configuration(&body) {
                prop_assert_eq!(Some(direct), by_serde(&body));
            }
        }

        #[test]
        fn what_it_accepts_of_any_mutation_serde_reads_alike(
            config in arb_config(),
            at in any::<usize>(),
            len in 0usize..4,
            with in "[<>/a-zA-Z &;\t\n\"'=-]{0,4}",
        ) {
            let body = mutated(&configuration_to_xml(&config), at, len, &with);
            if let Some(direct) = configuration(&body) {
                prop_assert_eq!(Some(direct), by_serde(&body), "{}", body);
            }
        }
    }
}
