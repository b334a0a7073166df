//! The profile file of Tencent's SDKs and CLI: long-lived keys in an INI
//! file.
//!
//! Where it is, first found wins:
//! 1. the file the caller names ([`super::ChainOptions::profile_file`]);
//! 2. `$TENCENTCLOUD_CREDENTIALS_FILE` (the Go SDK's variable; set but
//!    empty is an error, as there);
//! 3. `~/.tencentcloud/credentials` (`$HOME`, else `$USERPROFILE`);
//! 4. `/etc/tencentcloud/credentials` (the Python and Java SDKs' fallback).
//!
//! The format is the SDKs':
//!
//! ```ini
//! [default]
//! secret_id = AKID...
//! secret_key = ...
//! ```
//!
//! The SDKs read only `[default]`; cosinv reads it too unless another
//! section is named. No SDK reads a token from this file, so neither does
//! cosinv: it holds long-lived keys. Lines are trimmed, `#` and `;` start
//! comment lines (not inline comments), and a value in quotes loses them.
//! A file that exists but lacks the section or a key is an error rather
//! than a reason to try the next source, as in the Go SDK: it is a
//! mistake the operator wants to hear about.

use std::path::{Path, PathBuf};

use ini::{Ini, ParseOption};

use super::Credentials;
use super::source::SourceError;

/// The Go SDK's variable naming the profile file.
pub const CREDENTIALS_FILE_VAR: &str = "TENCENTCLOUD_CREDENTIALS_FILE";
/// The section read when none is named.
pub const DEFAULT_PROFILE: &str = "default";
/// The system-wide profile file.
pub const SYSTEM_PROFILE_FILE: &str = "/etc/tencentcloud/credentials";

/// The profile file to read, if any: see the module documentation.
/// `system` is where the system-wide file is looked for.
pub(crate) fn locate(
    explicit: Option<&Path>,
    system: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<PathBuf>, SourceError> {
    if let Some(path) = explicit {
        return Ok(Some(path.to_path_buf()));
    }
    if let Some(named) = lookup(CREDENTIALS_FILE_VAR) {
        if named.is_empty() {
            return Err(SourceError::EmptyVariable {
                variable: CREDENTIALS_FILE_VAR,
            });
        }
        return Ok(Some(PathBuf::from(named)));
    }
    let home = lookup("HOME")
        .or_else(|| lookup("USERPROFILE"))
        .filter(|home| !home.is_empty())
        .map(|home| Path::new(&home).join(".tencentcloud").join("credentials"));
    Ok(home
        .into_iter()
        .chain([system.to_path_buf()])
        .find(|path| path.exists()))
}

/// Reads section `profile` of the file at `path`.
pub(crate) async fn read(path: &Path, profile: &str) -> Result<Credentials, SourceError> {
    let unreadable = |reason: String| SourceError::ProfileUnreadable {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|err| unreadable(err.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| unreadable("not UTF-8 text".into()))?;
    parse(&text, path, profile)
}

/// The credentials in section `profile` of `text` (read from `path`).
pub(crate) fn parse(text: &str, path: &Path, profile: &str) -> Result<Credentials, SourceError> {
    // The Go SDK trims every line first; rust-ini would take an indented
    // `# comment` for an inline one.
    let trimmed: String = text
        .lines()
        .map(|line| format!("{}\n", line.trim()))
        .collect();
    let options = ParseOption {
        enabled_quote: true,
        // A backslash is a character of the value, not an escape.
        enabled_escape: false,
        ..ParseOption::default()
    };
    let ini =
        Ini::load_from_str_opt(&trimmed, options).map_err(|err| SourceError::ProfileSyntax {
            path: path.to_path_buf(),
            line: err.line,
            message: err.msg.into_owned(),
        })?;
    let mut sections = ini.section_all(Some(profile)).peekable();
    if sections.peek().is_none() {
        return Err(SourceError::NoSuchProfile {
            path: path.to_path_buf(),
            profile: profile.to_string(),
        });
    }
    // A section given twice: later keys win, as in the Go SDK.
    let (mut id, mut key) = (None, None);
    for section in sections {
        id = section.get("secret_id").or(id);
        key = section.get("secret_key").or(key);
    }
    let missing = |key| SourceError::ProfileIncomplete {
        path: path.to_path_buf(),
        profile: profile.to_string(),
        key,
    };
    let id = id
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing("secret_id"))?;
    let key = key
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing("secret_key"))?;
    Ok(Credentials::new(id, key, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parsed(text: &str, profile: &str) -> Result<Credentials, SourceError> {
        parse(text, Path::new("/p/credentials"), profile)
    }

    #[test]
    fn reads_the_default_section() {
        let creds = parsed("[default]\nsecret_id=AKIDa\nsecret_key=ka\n", "default").unwrap();
        assert_eq!(creds.secret_id(), "AKIDa");
        assert_eq!(creds.secret_key(), "ka");
        assert_eq!(creds.security_token(), None);
    }

    #[test]
    fn reads_a_named_section_among_others() {
        let text = "[default]\nsecret_id = AKIDd\nsecret_key = kd\n\n\
                    [prod]\nsecret_id = AKIDp\nsecret_key = kp\n";
        assert_eq!(parsed(text, "prod").unwrap().secret_id(), "AKIDp");
        assert_eq!(parsed(text, "default").unwrap().secret_id(), "AKIDd");
    }

    #[test]
    fn comments_whitespace_quotes_and_crlf() {
        let text = "# written by hand\r\n\
                    ; another comment\r\n\
                    \r\n\
                    \t[default]  \r\n\
                    \x20 # an indented comment\r\n\
                    \x20 secret_id   =   \"AKIDq\"  \r\n\
                    secret_key=k\\ey#with=signs\r\n";
        let creds = parsed(text, "default").unwrap();
        assert_eq!(creds.secret_id(), "AKIDq");
        assert_eq!(creds.secret_key(), "k\\ey#with=signs");
    }

    #[test]
    fn missing_sections_and_keys_are_named() {
        let text = "[default]\nsecret_id=AKIDa\n[other]\nsecret_key=k\n";
        assert_eq!(
            parsed(text, "default").unwrap_err(),
            SourceError::ProfileIncomplete {
                path: "/p/credentials".into(),
                profile: "default".into(),
                key: "secret_key"
            }
        );
        let err = parsed(text, "other").unwrap_err();
        assert!(
            matches!(
                err,
                SourceError::ProfileIncomplete {
                    key: "secret_id",
                    ..
                }
            ),
            "{err}"
        );
        let err = parsed(text, "prod").unwrap_err();
        assert!(err.to_string().contains("no [prod] section"), "{err}");
        let err = parsed("[default]\nsecret_id=\nsecret_key=k\n", "default").unwrap_err();
        assert!(
            matches!(
                err,
                SourceError::ProfileIncomplete {
                    key: "secret_id",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn syntax_errors_name_the_line_not_the_content() {
        let err = parsed(
            "[default]\nsecret_id=AKIDa\n= no key\nsecret_key=k\n",
            "default",
        )
        .unwrap_err();
        match &err {
            SourceError::ProfileSyntax { line, .. } => assert_eq!(*line, 3, "{err}"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(!err.to_string().contains("AKIDa"), "{err}");
    }

    #[test]
    fn a_section_given_twice_takes_the_later_keys() {
        let text = "[default]\nsecret_id=AKIDold\nsecret_key=kold\n[default]\nsecret_id=AKIDnew\n";
        let creds = parsed(text, "default").unwrap();
        assert_eq!(creds.secret_id(), "AKIDnew");
        assert_eq!(creds.secret_key(), "kold");
    }

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn locates_in_the_sdks_order() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let system = dir.path().join("etc-credentials");
        std::fs::create_dir_all(home.join(".tencentcloud")).unwrap();
        let home_file = home.join(".tencentcloud").join("credentials");
        let home_var = home.to_str().unwrap();

        // Nothing exists: no file.
        let vars = lookup(&[("HOME", home_var)]);
        assert_eq!(locate(None, &system, &vars).unwrap(), None);
        // The system-wide file, then the home one in front of it.
        std::fs::write(&system, "").unwrap();
        assert_eq!(locate(None, &system, &vars).unwrap(), Some(system.clone()));
        std::fs::write(&home_file, "").unwrap();
        assert_eq!(locate(None, &system, &vars).unwrap(), Some(home_file));
        // The variable in front of both, even if the file is missing.
        let vars = lookup(&[("HOME", home_var), (CREDENTIALS_FILE_VAR, "/nowhere")]);
        assert_eq!(
            locate(None, &system, &vars).unwrap(),
            Some(PathBuf::from("/nowhere"))
        );
        // The caller's file in front of everything.
        assert_eq!(
            locate(Some(Path::new("/given")), &system, &vars).unwrap(),
            Some(PathBuf::from("/given"))
        );
        let vars = lookup(&[(CREDENTIALS_FILE_VAR, "")]);
        assert_eq!(
            locate(None, &system, &vars).unwrap_err(),
            SourceError::EmptyVariable {
                variable: CREDENTIALS_FILE_VAR
            }
        );
    }

    #[tokio::test]
    async fn unreadable_files_say_why() {
        let err = read(Path::new("/nonexistent/credentials"), "default")
            .await
            .unwrap_err();
        assert!(
            matches!(err, SourceError::ProfileUnreadable { .. }),
            "{err:?}"
        );
    }
}
