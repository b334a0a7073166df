//! Files the emulator's command reads and writes: the bucket list it
//! starts with, and its CA certificate for clients to trust.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cos::xml::BucketEntry;

/// A bucket list: one `name[,region]` a line (region `ap-guangzhou` when
/// left out); blank lines and `#` comments skipped.
pub fn bucket_list(text: &str) -> Vec<BucketEntry> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (name, region) = line.split_once(',').unwrap_or((line, "ap-guangzhou"));
            BucketEntry {
                name: name.trim().to_string(),
                location: region.trim().to_string(),
                creation_date: "2024-01-01T00:00:00Z".to_string(),
            }
        })
        .collect()
}

/// Where the CA certificate was written, and the private folder that
/// holds it when none was named (removed when this is dropped).
#[derive(Debug)]
pub struct CaFile {
    pub path: PathBuf,
    _folder: Option<tempfile::TempDir>,
}

/// Writes `pem` to `path`, or to `ca.pem` in a folder of the temporary
/// folder made for it alone (0700, a random name, created exclusively): a
/// predictable name there could be planted by another user, and a client
/// would then trust their CA.
pub fn write_ca(pem: &str, path: Option<&Path>) -> std::io::Result<CaFile> {
    if let Some(path) = path {
        std::fs::write(path, pem)?;
        return Ok(CaFile {
            path: path.to_path_buf(),
            _folder: None,
        });
    }
    let folder = tempfile::Builder::new()
        .prefix("cosinv-emulator-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()?;
    let path = folder.path().join("ca.pem");
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?
        .write_all(pem.as_bytes())?;
    Ok(CaFile {
        path,
        _folder: Some(folder),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_list_names_regions_or_takes_the_default() {
        let entries = bucket_list("# media\na-1250000000\n\n b-1250000000 , ap-shanghai\n");
        let found: Vec<(&str, &str)> = entries
            .iter()
            .map(|entry| (entry.name.as_str(), entry.location.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("a-1250000000", "ap-guangzhou"),
                ("b-1250000000", "ap-shanghai")
            ]
        );
    }
}
