//! Where COS delivers a job's inventory reports and what each delivery
//! holds: `manifest.json` (every value a string), `manifest.checksum`
//! (the MD5 of manifest.json, hex) beside it, and the data files the
//! manifest lists.

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::text::printable;
use crate::model::BucketName;

/// Where reports land when the destination names no prefix (the
/// overview's samples).
pub const DEFAULT_REPORT_PREFIX: &str = "cos_bucket_inventory";
/// The largest manifest.json read: one lists a file per few GB of
/// inventory, far below this.
pub const MAX_MANIFEST: usize = 1024 * 1024;
/// The manifest's name in a delivery's folder.
pub const MANIFEST: &str = "manifest.json";
/// Its checksum's name, beside it.
pub const CHECKSUM: &str = "manifest.checksum";

/// The folders that may hold a job's deliveries, one `YYYYMMDD/` folder
/// each, in the order they are looked in:
/// `<prefix>/<appid>/<bucket without -appid>/<id>/`, with
/// [`DEFAULT_REPORT_PREFIX`] when the destination names no prefix; and,
/// when it names one, `<prefix>/inventory_report/<appid>/…` too.
///
/// The one place this layout is decided. The overview's samples show the
/// reports right under the prefix; some API pages say that with a prefix
/// COS delivers to `Prefix/inventory_report`. Which one COS writes today
/// is a guess either way (no page shows a whole key under a prefix), so
/// both are looked in, the overview's first: a delivered job costs one
/// listing, a missing one with a prefix two.
pub fn report_folders(prefix: Option<&str>, source: &BucketName, id: &str) -> Vec<String> {
    let name = source.as_str();
    let short = name.rsplit_once('-').map_or(name, |(short, _)| short);
    let below = format!("{}/{short}/{id}/", source.appid());
    match prefix {
        None => vec![format!("{DEFAULT_REPORT_PREFIX}/{below}")],
        Some(prefix) => vec![
            format!("{prefix}/{below}"),
            format!("{prefix}/inventory_report/{below}"),
        ],
    }
}

/// Where the emulator writes a job's deliveries, and where cosinv looks
/// first: the first of [`report_folders`].
pub fn report_folder(prefix: Option<&str>, source: &BucketName, id: &str) -> String {
    report_folders(prefix, source, id).swap_remove(0)
}

/// The delivery date of a folder listed under `folder` (a common prefix
/// `<folder>YYYYMMDD/`); `None` for anything else found there.
pub fn delivery_date(folder: &str, common_prefix: &str) -> Option<jiff::civil::Date> {
    let date = common_prefix.strip_prefix(folder)?.strip_suffix('/')?;
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    jiff::civil::Date::strptime("%Y%m%d", date).ok()
}

/// `<folder>YYYYMMDD/<name>`.
pub fn delivery_key(folder: &str, date: jiff::civil::Date, name: &str) -> String {
    format!("{folder}{}/{name}", date.strftime("%Y%m%d"))
}

/// One data file a manifest lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportFile {
    pub key: String,
    pub size: String,
    pub md5_checksum: String,
}

/// A delivery's manifest.json, every value a string as COS writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportManifest {
    pub source_appid: String,
    pub source_bucket: String,
    #[serde(default)]
    pub destination_appid: String,
    pub destination_bucket: String,
    pub file_format: String,
    /// The data files' columns, `", "`-joined.
    pub file_schema: String,
    #[serde(default)]
    pub list_object_count: String,
    #[serde(default)]
    pub list_storage_size: String,
    #[serde(default)]
    pub filter_object_count: String,
    #[serde(default)]
    pub filter_storage_size: String,
    pub files: Vec<ReportFile>,
}

/// Why a manifest cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest.json is {0} bytes, more than the {MAX_MANIFEST} read")]
    TooLarge(usize),
    #[error("manifest.json is not a manifest: {0}")]
    Invalid(String),
    #[error("manifest.json lists {key} with a size that is not a number ({size})")]
    Size { key: String, size: String },
}

impl ReportManifest {
    /// A manifest.json read: a JSON object whose values are strings (and
    /// `files`), at most [`MAX_MANIFEST`] bytes, each listed size a number.
    pub fn parse(body: &[u8]) -> Result<ReportManifest, ManifestError> {
        if body.len() > MAX_MANIFEST {
            return Err(ManifestError::TooLarge(body.len()));
        }
        let manifest: ReportManifest = serde_json::from_slice(body)
            .map_err(|err| ManifestError::Invalid(printable(&err.to_string())))?;
        for file in &manifest.files {
            file.size_bytes()?;
        }
        Ok(manifest)
    }

    /// The manifest as COS writes it.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("strings only")
    }

    /// The column names of the data files.
    pub fn schema(&self) -> Vec<&str> {
        self.file_schema
            .split(", ")
            .filter(|f| !f.is_empty())
            .collect()
    }
}

impl ReportFile {
    /// The listed size in bytes.
    pub fn size_bytes(&self) -> Result<u64, ManifestError> {
        self.size.trim().parse().map_err(|_| ManifestError::Size {
            key: printable(&self.key),
            size: printable(&self.size),
        })
    }
}

/// The MD5 of `body`, lowercase hex: what manifest.checksum holds.
pub fn md5_hex(body: &[u8]) -> String {
    hex::encode(Md5::digest(body))
}

/// Whether manifest.checksum (`checksum`, surrounding whitespace and case
/// aside) is the MD5 of `manifest`.
pub fn checksum_matches(manifest: &[u8], checksum: &[u8]) -> bool {
    std::str::from_utf8(checksum)
        .is_ok_and(|text| text.trim().eq_ignore_ascii_case(&md5_hex(manifest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket() -> BucketName {
        BucketName::parse("photos-archive-1250000000").unwrap()
    }

    #[test]
    fn the_folder_is_prefix_appid_short_name_and_id() {
        assert_eq!(
            report_folder(None, &bucket(), "daily"),
            "cos_bucket_inventory/1250000000/photos-archive/daily/"
        );
        assert_eq!(
            report_folder(Some("reports/team"), &bucket(), "daily"),
            "reports/team/1250000000/photos-archive/daily/"
        );
    }

    #[test]
    fn only_date_folders_count_as_deliveries() {
        let folder = "p/1250000000/photos/daily/";
        let date = delivery_date(folder, "p/1250000000/photos/daily/20261206/").unwrap();
        assert_eq!(date.to_string(), "2026-12-06");
        assert_eq!(
            delivery_key(folder, date, MANIFEST),
            "p/1250000000/photos/daily/20261206/manifest.json"
        );
        for other in [
            "p/1250000000/photos/daily/2026120/",
            "p/x/20261206/",
            "p/1250000000/photos/daily/20261399/",
            "p/1250000000/photos/daily/latest/",
        ] {
            assert_eq!(delivery_date(folder, other), None, "{other}");
        }
    }

    #[test]
    fn a_manifest_reads_with_string_values_only() {
        let body = br#"{"sourceAppid":"1250000000","sourceBucket":"photos-1250000000",
            "destinationAppid":"1250000000","destinationBucket":"logs-1250000000",
            "fileFormat":"CSV","fileSchema":"Bucket, Key, Size","listObjectCount":"3",
            "files":[{"key":"a/data/1.csv.gz","size":"120","md5Checksum":"00"}]}"#;
        let manifest = ReportManifest::parse(body).unwrap();
        assert_eq!(manifest.schema(), ["Bucket", "Key", "Size"]);
        assert_eq!(manifest.files[0].size_bytes().unwrap(), 120);
        assert_eq!(
            ReportManifest::parse(&manifest.to_json()).unwrap(),
            manifest
        );
        let number = String::from_utf8_lossy(body).replace("\"120\"", "120");
        assert!(ReportManifest::parse(number.as_bytes()).is_err());
        let word = String::from_utf8_lossy(body).replace("\"120\"", "\"many\"");
        assert!(matches!(
            ReportManifest::parse(word.as_bytes()),
            Err(ManifestError::Size { .. })
        ));
        let big = vec![b' '; MAX_MANIFEST + 1];
        assert!(matches!(
            ReportManifest::parse(&big),
            Err(ManifestError::TooLarge(_))
        ));
    }

    #[test]
    fn the_checksum_is_the_manifest_s_md5_in_hex() {
        let manifest = b"{}";
        let sum = md5_hex(manifest);
        assert_eq!(sum, "99914b932bd37a50b983c5e7c90ae93b");
        assert!(checksum_matches(
            manifest,
            format!("{}\n", sum.to_uppercase()).as_bytes()
        ));
        assert!(!checksum_matches(b"{ }", sum.as_bytes()));
    }
}
