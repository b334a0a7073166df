//! The emulator playing COS's overnight delivery: for every enabled
//! configuration (and every one-time job received), a report dated as
//! asked in its destination bucket, laid out as COS lays them out
//! ([`crate::cos::report`]): a small gzipped CSV data file, manifest.json
//! listing it, manifest.checksum beside it. Some can be left out or
//! delivered with a wrong checksum, for tests and rehearsals.

use bytes::Bytes;

use super::Inner;
use crate::cos::report::{
    CHECKSUM, MANIFEST, ReportFile, ReportManifest, delivery_key, md5_hex, report_folder,
};
use crate::model::{BucketName, InventoryConfiguration};

/// A delivery asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The reports' folder date.
    pub date: jiff::civil::Date,
    /// Source buckets whose reports are not delivered.
    pub skip: Vec<String>,
    /// Source buckets whose reports get a checksum that does not match.
    pub corrupt: Vec<String>,
}

/// What a delivery wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Delivered {
    pub reports: usize,
    pub corrupted: usize,
    pub skipped: usize,
}

/// A delivery that cannot be asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryError(String);

impl Delivery {
    /// Every enabled configuration's report, dated `date`, whole.
    pub fn on(date: jiff::civil::Date) -> Delivery {
        Delivery {
            date,
            skip: Vec::new(),
            corrupt: Vec::new(),
        }
    }

    /// From `date=YYYYMMDD&skip=B1,B2&corrupt=B3` (the admin call).
    pub fn from_query(query: &[(String, String)]) -> Result<Delivery, DeliveryError> {
        let value = |name: &str| {
            query
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        let list = |name: &str| -> Vec<String> {
            value(name)
                .unwrap_or("")
                .split(',')
                .filter(|b| !b.is_empty())
                .map(str::to_string)
                .collect()
        };
        let date =
            value("date").ok_or_else(|| DeliveryError("date=YYYYMMDD is required".into()))?;
        Ok(Delivery {
            date: parse_date(date)?,
            skip: list("skip"),
            corrupt: list("corrupt"),
        })
    }
}

/// `YYYYMMDD` as a date.
pub fn parse_date(text: &str) -> Result<jiff::civil::Date, DeliveryError> {
    jiff::civil::Date::strptime("%Y%m%d", text)
        .map_err(|_| DeliveryError(format!("{text:?} is not a date as YYYYMMDD")))
}

/// One report to write: whose, where, and whether it is corrupted.
struct Report<'a> {
    source: &'a BucketName,
    id: &'a str,
    config: &'a InventoryConfiguration,
    corrupt: bool,
}

/// Delivers every enabled configuration's report and every one-time
/// job's, as asked.
pub(crate) fn deliver(inner: &Inner, delivery: &Delivery) -> Delivered {
    let mut done = Delivered::default();
    let mut jobs: Vec<(String, String, InventoryConfiguration)> = Vec::new();
    for entry in inner.store.buckets() {
        for config in inner.store.configurations(&entry.name) {
            if config.enabled {
                jobs.push((entry.name.clone(), config.id.to_string(), config));
            }
        }
    }
    for job in inner.one_time.all() {
        jobs.push((job.bucket, job.id, job.config));
    }
    for (bucket, id, config) in &jobs {
        let Ok(source) = BucketName::parse(bucket) else {
            continue;
        };
        let destination = config.destination.bucket.as_str();
        if delivery.skip.iter().any(|b| b == bucket) || !inner.store.exists(destination) {
            done.skipped += 1;
            continue;
        }
        let corrupt = delivery.corrupt.iter().any(|b| b == bucket);
        let report = Report {
            source: &source,
            id,
            config,
            corrupt,
        };
        write_report(inner, delivery.date, &report);
        done.reports += 1;
        done.corrupted += usize::from(corrupt);
    }
    done
}

fn write_report(inner: &Inner, date: jiff::civil::Date, report: &Report<'_>) {
    let destination = &report.config.destination;
    let folder = report_folder(destination.prefix.as_deref(), report.source, report.id);
    let now = inner.now();
    let mut schema = vec!["AppID", "Bucket", "Key"];
    schema.extend(report.config.optional_fields.iter().map(|f| f.as_str()));
    let data = gzip_stored(&sample_rows(report.source, schema.len()));
    let data_key = delivery_key(&folder, date, &format!("data/{}-0.csv.gz", report.id));
    let file = ReportFile {
        key: data_key.clone(),
        size: data.len().to_string(),
        md5_checksum: md5_hex(&data),
    };
    let manifest = ReportManifest {
        source_appid: report.source.appid().to_string(),
        source_bucket: report.source.to_string(),
        destination_appid: destination.bucket.appid().to_string(),
        destination_bucket: destination.bucket.to_string(),
        file_format: "CSV".into(),
        file_schema: schema.join(", "),
        list_object_count: "2".into(),
        list_storage_size: "2048".into(),
        filter_object_count: "2".into(),
        filter_storage_size: "2048".into(),
        files: vec![file],
    }
    .to_json();
    let checksum = match report.corrupt {
        true => md5_hex(b"not the manifest"),
        false => md5_hex(&manifest),
    };
    let bucket = destination.bucket.as_str();
    let objects = &inner.objects;
    objects.put(bucket, &data_key, Bytes::from(data), now);
    let manifest_key = delivery_key(&folder, date, MANIFEST);
    objects.put(bucket, &manifest_key, Bytes::from(manifest), now);
    let checksum_key = delivery_key(&folder, date, CHECKSUM);
    objects.put(bucket, &checksum_key, Bytes::from(checksum), now);
}

/// Two made-up rows of `columns` cells about `source`.
fn sample_rows(source: &BucketName, columns: usize) -> Vec<u8> {
    let mut csv = String::new();
    for n in 0..2 {
        let mut cells = vec![
            format!("\"{}\"", source.appid()),
            format!("\"{source}\""),
            format!("\"object-{n}\""),
        ];
        cells.resize(columns, "\"\"".to_string());
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    csv.into_bytes()
}

/// `data` as a gzip file of stored (uncompressed) deflate blocks: a real
/// `.csv.gz` any reader opens, without a compression dependency.
pub(crate) fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks = data.chunks(u16::MAX as usize).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = u8::from(chunks.peek().is_none());
        let len = chunk.len() as u16;
        out.push(last);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// CRC-32 (IEEE), bit by bit: the files are a few hundred bytes.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xedb8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn a_stored_gzip_has_header_blocks_and_trailer() {
        let gz = gzip_stored(b"a,b\n");
        assert_eq!(&gz[..3], &[0x1f, 0x8b, 8]);
        assert_eq!(&gz[10..15], &[1, 4, 0, 0xfb, 0xff]);
        assert_eq!(&gz[15..19], b"a,b\n");
        assert_eq!(gz.len(), 10 + 5 + 4 + 8);
    }

    #[test]
    fn the_admin_query_is_read() {
        let query = vec![
            ("date".to_string(), "20261206".to_string()),
            ("skip".to_string(), "a-1250000000,b-1250000000".to_string()),
        ];
        let delivery = Delivery::from_query(&query).unwrap();
        assert_eq!(delivery.date.to_string(), "2026-12-06");
        assert_eq!(delivery.skip.len(), 2);
        assert!(delivery.corrupt.is_empty());
        assert!(Delivery::from_query(&[]).is_err());
        let bad = vec![("date".to_string(), "2026-12-06".to_string())];
        assert!(Delivery::from_query(&bad).is_err());
    }
}
