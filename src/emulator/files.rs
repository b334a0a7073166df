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

/// An organisation file (JSON): the caller's account UIN and the member
/// accounts, their keys and roles:
/// `{"caller_uin": "100000000000", "members": [{"appid": "1250000001",
/// "uin": "100000000001", "secret_id": "…", "secret_key": "…", "roles":
/// [{"name": "cosinv-inventory", "trusted_uins": ["100000000000"],
/// "external_id": "…"}]}]}`.
pub fn organisation(text: &str) -> Result<super::Organisation, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        caller_uin: String,
        members: Vec<Member>,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Member {
        appid: String,
        uin: String,
        secret_id: String,
        secret_key: String,
        #[serde(default)]
        roles: Vec<Role>,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Role {
        name: String,
        trusted_uins: Vec<String>,
        external_id: Option<String>,
    }
    // serde's message names the field and position, never a value.
    let file: File = serde_json::from_str(text).map_err(|err| err.to_string())?;
    let members = file.members.into_iter().map(|member| super::MemberAccount {
        appid: member.appid,
        uin: member.uin,
        credentials: crate::credentials::Credentials::new(
            member.secret_id,
            member.secret_key,
            None,
        ),
        roles: member
            .roles
            .into_iter()
            .map(|role| super::MemberRole {
                name: role.name,
                trusted_uins: role.trusted_uins,
                external_id: role.external_id,
            })
            .collect(),
        sts_throttled: false,
    });
    Ok(super::Organisation {
        caller_uin: file.caller_uin,
        members: members.collect(),
    })
}

/// [`organisation`] from the file at `path`.
pub fn read_organisation(path: &Path) -> Result<super::Organisation, String> {
    let text = std::fs::read_to_string(path).map_err(|err| err.to_string())?;
    organisation(&text).map_err(|err| format!("{}: {err}", path.display()))
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

    #[test]
    fn an_organisation_file_is_read_and_mistakes_named() {
        let org = organisation(
            r#"{"caller_uin": "100000000000", "members": [{"appid": "1250000001",
                "uin": "100000000001", "secret_id": "AKIDm1", "secret_key": "k1",
                "roles": [{"name": "inv", "trusted_uins": ["100000000000"],
                           "external_id": "x"}]}]}"#,
        )
        .unwrap();
        assert_eq!(org.caller_uin, "100000000000");
        assert_eq!(org.members[0].appid, "1250000001");
        assert_eq!(org.members[0].credentials.secret_id(), "AKIDm1");
        assert_eq!(org.members[0].roles[0].external_id.as_deref(), Some("x"));
        let err = organisation(r#"{"caller_uin": "1", "members": [], "extra": 1}"#).unwrap_err();
        assert!(err.contains("extra"), "{err}");
    }
}
