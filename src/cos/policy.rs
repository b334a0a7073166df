//! Bucket policies (the JSON document of PUT and GET Bucket policy), read
//! as COS's access policy language writes them, and the one question
//! cosinv asks of a destination bucket's: may COS put the inventory
//! reports under the job's prefix?
//!
//! What counts (the README's "Destination check" says the same):
//! - a statement applies to COS when its principal is everyone (`*`,
//!   `qcs::cam::anyone:anyone`, `qcs::cam::anyone`) or the COS service
//!   (`qcs::cam::uin/<uin>:service/cos`, any uin);
//! - its action covers `name/cos:PutObject`: that name, `cos:PutObject`,
//!   or a pattern with `*` (`name/cos:*`, `name/cos:Put*`, `*`); action
//!   names are case-sensitive, as COS's are;
//! - its resource covers every object under the report prefix: a pattern
//!   (with `*` matching any characters, `/` included) that matches
//!   `qcs::cos:<region>:uid/<appid>:<bucket>/<prefix>/` followed by any
//!   key, such as `…:<bucket>/*` or `…:<bucket>/<prefix>/*` (the older
//!   form `qcs::cos:<region>:uid/<appid>:prefix//<appid>/<name>/…` too);
//! - a `deny` statement that matches the same way wins over any `allow`;
//! - conditions are not evaluated: a statement with one counts as if it
//!   had none.
//!
//! Keys are read in any case (`Statement`, `statement`), and any value may
//! be one string or a list of them.

use serde_json::Value;

use crate::model::{BucketName, Region};

/// Stands for "any key": no pattern names it, so only a `*` reaching past
/// the prefix's last `/` matches it.
const ANY_KEY: &str = "\u{1}";

/// A bucket policy, read, its patterns compiled once (a million jobs may
/// ask the same policy).
#[derive(Debug, Clone)]
pub struct BucketPolicy {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone)]
struct Statement {
    allow: bool,
    /// Names everyone or the COS service.
    names_cos: bool,
    /// Covers `name/cos:PutObject`.
    puts_objects: bool,
    resources: Vec<globset::GlobMatcher>,
}

/// A policy document cosinv cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("it is not JSON: {0}")]
    NotJson(String),
    #[error("it has no statement list")]
    NoStatements,
    #[error("statement {index} has effect {effect:?}; COS knows allow and deny")]
    Effect { index: usize, effect: String },
}

/// Where an inventory job's reports land: objects under `prefix/` (or the
/// whole bucket) of `bucket` in `region`.
#[derive(Debug, Clone, Copy)]
pub struct ReportTarget<'a> {
    pub bucket: &'a BucketName,
    pub region: &'a Region,
    pub prefix: Option<&'a str>,
}

impl ReportTarget<'_> {
    /// The resource names of "any report object", in both forms COS
    /// accepts.
    fn probes(&self) -> [String; 2] {
        let under = match self.prefix {
            Some(prefix) => format!("{prefix}/{ANY_KEY}"),
            None => ANY_KEY.to_string(),
        };
        let (region, bucket, appid) = (self.region, self.bucket, self.bucket.appid());
        let short = bucket
            .as_str()
            .strip_suffix(&format!("-{appid}"))
            .unwrap_or(bucket.as_str());
        [
            format!("qcs::cos:{region}:uid/{appid}:{bucket}/{under}"),
            format!("qcs::cos:{region}:uid/{appid}:prefix//{appid}/{short}/{under}"),
        ]
    }
}

/// What a policy says about COS writing the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// An `allow` statement covers it, and no `deny` does.
    Allowed,
    /// A `deny` statement covers it (its position, from 1).
    Denied { statement: usize },
    /// No statement covers it.
    NotGranted,
}

impl BucketPolicy {
    pub fn parse(body: &[u8]) -> Result<Self, PolicyError> {
        let document: Value =
            serde_json::from_slice(body).map_err(|err| PolicyError::NotJson(err.to_string()))?;
        let statements = match field(&document, "statement") {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(item @ Value::Object(_)) => vec![item],
            _ => return Err(PolicyError::NoStatements),
        };
        let statements = statements
            .into_iter()
            .enumerate()
            .map(|(index, statement)| Statement::read(index + 1, statement))
            .collect::<Result<_, _>>()?;
        Ok(BucketPolicy { statements })
    }

    /// Whether COS may put objects under `target`'s prefix.
    pub fn report_writes(&self, target: &ReportTarget<'_>) -> Grant {
        let probes = target.probes();
        let covering = |statement: &Statement| {
            statement.names_cos && statement.puts_objects && statement.covers(&probes)
        };
        if let Some(index) = self.statements.iter().position(|s| !s.allow && covering(s)) {
            return Grant::Denied {
                statement: index + 1,
            };
        }
        if self.statements.iter().any(|s| s.allow && covering(s)) {
            Grant::Allowed
        } else {
            Grant::NotGranted
        }
    }
}

impl Statement {
    fn read(index: usize, statement: &Value) -> Result<Self, PolicyError> {
        let effect = field(statement, "effect")
            .and_then(Value::as_str)
            .unwrap_or("");
        let allow = match effect.to_ascii_lowercase().as_str() {
            "allow" => true,
            "deny" => false,
            _ => {
                return Err(PolicyError::Effect {
                    index,
                    effect: effect.to_string(),
                });
            }
        };
        let principals = match field(statement, "principal") {
            Some(Value::Object(map)) => map
                .iter()
                .filter(|(key, _)| key.eq_ignore_ascii_case("qcs"))
                .flat_map(|(_, value)| strings(value))
                .collect(),
            Some(other) => strings(other),
            None => Vec::new(),
        };
        let actions = field(statement, "action").map(strings).unwrap_or_default();
        let resources = field(statement, "resource")
            .map(strings)
            .unwrap_or_default();
        Ok(Statement {
            allow,
            names_cos: names_cos(&principals),
            puts_objects: puts_objects(&actions),
            resources: resources
                .iter()
                .filter_map(|r| wildcard(r.trim()))
                .collect(),
        })
    }

    fn covers(&self, probes: &[String]) -> bool {
        self.resources
            .iter()
            .any(|resource| probes.iter().any(|probe| resource.is_match(probe)))
    }
}

/// Everyone, or the COS service of any account.
fn names_cos(principals: &[String]) -> bool {
    principals.iter().any(|principal| {
        let principal = principal.trim();
        matches!(
            principal,
            "*" | "qcs::cam::anyone:anyone" | "qcs::cam::anyone"
        ) || principal
            .strip_prefix("qcs::cam::uin/")
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(uin, who)| {
                !uin.is_empty() && uin.bytes().all(|b| b.is_ascii_digit()) && who == "service/cos"
            })
    })
}

/// An action that covers `name/cos:PutObject` (`cos:…` is `name/cos:…`).
fn puts_objects(actions: &[String]) -> bool {
    actions.iter().any(|action| {
        let action = action.trim();
        let full = if action.starts_with("name/") || action == "*" {
            action.to_string()
        } else {
            format!("name/{action}")
        };
        wildcard(&full).is_some_and(|pattern| pattern.is_match("name/cos:PutObject"))
    })
}

/// A key of `object` in any case.
fn field<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

/// One string or a list of them.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// COS's wildcard: `*` is any run of characters (`/` included); nothing
/// else is special. Matched by globset with everything but `*` escaped.
fn wildcard(pattern: &str) -> Option<globset::GlobMatcher> {
    let glob: Vec<String> = pattern.split('*').map(globset::escape).collect();
    globset::GlobBuilder::new(&glob.join("*"))
        .literal_separator(false)
        .backslash_escape(false)
        .build()
        .ok()
        .map(|glob| glob.compile_matcher())
}

#[cfg(test)]
mod tests {
    use super::*;

    const COS: &str = "qcs::cam::uin/100000000001:service/cos";

    fn policy(statements: &str) -> BucketPolicy {
        let text = format!(r#"{{"version":"2.0","Statement":[{statements}]}}"#);
        BucketPolicy::parse(text.as_bytes()).unwrap()
    }

    fn statement(effect: &str, principal: &str, action: &str, resource: &str) -> String {
        format!(
            r#"{{"Effect":"{effect}","Principal":{{"qcs":["{principal}"]}},"Action":["{action}"],"Resource":["{resource}"]}}"#
        )
    }

    fn grant(policy: &BucketPolicy, prefix: Option<&str>) -> Grant {
        let bucket = BucketName::parse("inventory-1250000000").unwrap();
        let region = Region::parse("ap-guangzhou").unwrap();
        policy.report_writes(&ReportTarget {
            bucket: &bucket,
            region: &region,
            prefix,
        })
    }

    const BASE: &str = "qcs::cos:ap-guangzhou:uid/1250000000:inventory-1250000000";

    #[test]
    fn an_allow_for_cos_under_the_prefix_grants() {
        let good = policy(&statement(
            "allow",
            COS,
            "name/cos:PutObject",
            &format!("{BASE}/inv/*"),
        ));
        assert_eq!(grant(&good, Some("inv/logs-1250000000")), Grant::Allowed);
        assert_eq!(grant(&good, Some("inv")), Grant::Allowed);
        assert_eq!(grant(&good, Some("other")), Grant::NotGranted);
        assert_eq!(grant(&good, None), Grant::NotGranted);
        let exact = policy(&statement(
            "allow",
            COS,
            "name/cos:PutObject",
            &format!("{BASE}/inv/logs-1250000000/*"),
        ));
        assert_eq!(grant(&exact, Some("inv/logs-1250000000")), Grant::Allowed);
        assert_eq!(
            grant(&exact, Some("inv/photos-1250000000")),
            Grant::NotGranted
        );
        let only_csv = policy(&statement(
            "allow",
            COS,
            "name/cos:PutObject",
            &format!("{BASE}/inv/*.csv"),
        ));
        assert_eq!(grant(&only_csv, Some("inv")), Grant::NotGranted);
    }

    #[test]
    fn wildcards_in_resource_and_action_count() {
        for (action, resource) in [
            ("name/cos:*", format!("{BASE}/*")),
            (
                "cos:PutObject",
                "qcs::cos:*:uid/1250000000:inventory-1250000000/*".into(),
            ),
            ("name/cos:Put*", "*".into()),
            ("*", format!("{BASE}/in*")),
            (
                "name/cos:PutObject",
                "qcs::cos:ap-guangzhou:uid/1250000000:prefix//1250000000/inventory/*".into(),
            ),
        ] {
            let allowed = policy(&statement("allow", COS, action, &resource));
            assert_eq!(
                grant(&allowed, Some("inv")),
                Grant::Allowed,
                "{action} {resource}"
            );
        }
        for action in [
            "name/cos:GetObject",
            "name/cos:putobject",
            "name/cos:PutObjectACL",
        ] {
            let other = policy(&statement("allow", COS, action, &format!("{BASE}/*")));
            assert_eq!(grant(&other, Some("inv")), Grant::NotGranted, "{action}");
        }
        let other_bucket = policy(&statement(
            "allow",
            COS,
            "name/cos:PutObject",
            "qcs::cos:ap-guangzhou:uid/1250000000:audit-1250000000/*",
        ));
        assert_eq!(grant(&other_bucket, Some("inv")), Grant::NotGranted);
    }

    #[test]
    fn only_everyone_or_the_cos_service_is_cos() {
        let resource = format!("{BASE}/*");
        for principal in ["*", "qcs::cam::anyone:anyone", "qcs::cam::anyone", COS] {
            let allowed = policy(&statement(
                "allow",
                principal,
                "name/cos:PutObject",
                &resource,
            ));
            assert_eq!(grant(&allowed, Some("inv")), Grant::Allowed, "{principal}");
        }
        for principal in [
            "qcs::cam::uin/100000000001:uin/100000000001",
            "qcs::cam::uin/100000000001:service/cls",
            "qcs::cam::uin/:service/cos",
        ] {
            let other = policy(&statement(
                "allow",
                principal,
                "name/cos:PutObject",
                &resource,
            ));
            assert_eq!(grant(&other, Some("inv")), Grant::NotGranted, "{principal}");
        }
        let bare = format!(
            r#"{{"statement":{{"effect":"Allow","principal":"*","action":"name/cos:PutObject","resource":"{resource}"}}}}"#
        );
        let bare = BucketPolicy::parse(bare.as_bytes()).unwrap();
        assert_eq!(grant(&bare, Some("inv")), Grant::Allowed);
    }

    #[test]
    fn a_deny_wins_over_an_allow() {
        let both = policy(&format!(
            "{},{}",
            statement("allow", COS, "name/cos:*", &format!("{BASE}/*")),
            statement("deny", "*", "name/cos:PutObject", &format!("{BASE}/inv/*")),
        ));
        assert_eq!(grant(&both, Some("inv")), Grant::Denied { statement: 2 });
        assert_eq!(grant(&both, Some("audit")), Grant::Allowed);
    }

    #[test]
    fn unreadable_policies_say_why() {
        assert!(matches!(
            BucketPolicy::parse(b"not json"),
            Err(PolicyError::NotJson(_))
        ));
        assert_eq!(
            BucketPolicy::parse(br#"{"version":"2.0"}"#).unwrap_err(),
            PolicyError::NoStatements
        );
        assert_eq!(
            BucketPolicy::parse(br#"{"Statement":[{"Effect":"maybe"}]}"#).unwrap_err(),
            PolicyError::Effect {
                index: 1,
                effect: "maybe".into()
            }
        );
    }
}
