//! `accounts:`: APPID → how that account's credentials are had, a role to
//! assume (`role_arn`, optional `external_id`, `session_name`,
//! `duration`) or a named profile (`profile`). Every problem is reported
//! with its line; an APPID written twice across files is the planner's
//! check (it sees every file).

use super::{Node, Reader, Value, describe, key_path, unknown};
use crate::manifest::{AccountAccess, AccountSpec, Problems};

const ACCOUNT_KEYS: &[&str] = &[
    "role_arn",
    "external_id",
    "session_name",
    "duration",
    "profile",
];
/// STS `AssumeRole`'s `DurationSeconds` bounds.
pub const MIN_DURATION: u64 = 900;
pub const MAX_DURATION: u64 = 43_200;

impl Reader<'_> {
    pub(super) fn accounts(&self, node: &Node, problems: &mut Problems) -> Vec<AccountSpec> {
        let mut accounts = Vec::new();
        for (key, value) in self.map(node, "accounts", problems) {
            let Some(appid) = self.key(key, "accounts", problems) else {
                continue;
            };
            let field = key_path("accounts", &appid);
            if appid.is_empty() || !appid.bytes().all(|b| b.is_ascii_digit()) {
                problems.add(
                    &self.at(key),
                    &field,
                    format!(
                        "{appid:?} is not an APPID; the keys of accounts: are the digits \
                         a bucket name ends in (examplebucket-1250000000 → 1250000000)"
                    ),
                );
                continue;
            }
            if let Some(access) = self.account(value, &field, problems) {
                accounts.push(AccountSpec {
                    appid,
                    at: self.at(key),
                    access,
                });
            }
        }
        accounts
    }

    /// One account's entry.
    fn account(&self, node: &Node, field: &str, problems: &mut Problems) -> Option<AccountAccess> {
        if !matches!(node.value, Value::Map(_)) {
            problems.add(
                &self.at(node),
                field,
                format!(
                    "expected role_arn (and external_id, session_name, duration) or \
                     profile, found {}",
                    describe(node)
                ),
            );
            return None;
        }
        let mut role_arn = None;
        let mut external_id = None;
        let mut session_name = None;
        let mut duration = None;
        let mut profile = None;
        // A role_arn given but refused is reported once, not also missing.
        let mut role_arn_given = false;
        for (key, value) in self.map(node, field, problems) {
            let Some(name) = self.key(key, field, problems) else {
                continue;
            };
            let inner = key_path(field, &name);
            match name.as_str() {
                "role_arn" => {
                    role_arn_given = true;
                    role_arn = self.checked(value, &inner, problems, role_arn_problem)
                }
                "external_id" => external_id = self.string(value, &inner, problems),
                "session_name" => {
                    session_name = self.checked(value, &inner, problems, session_name_problem)
                }
                "duration" => duration = self.duration(value, &inner, problems),
                "profile" => profile = self.string(value, &inner, problems),
                other => problems.add(&self.at(key), &inner, unknown("key", other, ACCOUNT_KEYS)),
            }
        }
        let at = self.at(node);
        match (role_arn, profile) {
            (Some(_), Some(_)) => {
                problems.add(&at, field, "give role_arn or profile, not both");
                None
            }
            (None, Some(profile)) => {
                if external_id.is_some() || session_name.is_some() || duration.is_some() {
                    problems.add(
                        &at,
                        field,
                        "external_id, session_name and duration go with role_arn, not profile",
                    );
                }
                Some(AccountAccess::Profile {
                    name: profile.value,
                })
            }
            (Some(role_arn), None) => Some(AccountAccess::Role {
                role_arn: role_arn.value,
                external_id: external_id.map(|s| s.value),
                session_name: session_name.map(|s| s.value),
                duration,
            }),
            (None, None) => {
                if !role_arn_given {
                    problems.add(&at, field, "needs role_arn or profile");
                }
                None
            }
        }
    }

    /// A string that `problem` finds nothing wrong with.
    fn checked(
        &self,
        node: &Node,
        field: &str,
        problems: &mut Problems,
        problem: fn(&str) -> Option<String>,
    ) -> Option<crate::manifest::Setting<String>> {
        let value = self.string(node, field, problems)?;
        match problem(&value.value) {
            Some(message) => {
                problems.add(&value.at, field, message);
                None
            }
            None => Some(value),
        }
    }

    fn duration(&self, node: &Node, field: &str, problems: &mut Problems) -> Option<u64> {
        match node.value {
            Value::Int(seconds)
                if (i128::from(MIN_DURATION)..=i128::from(MAX_DURATION)).contains(&seconds) =>
            {
                Some(seconds as u64)
            }
            _ => {
                problems.add(
                    &self.at(node),
                    field,
                    format!(
                        "expected whole seconds from {MIN_DURATION} to {MAX_DURATION} \
                         (STS AssumeRole's DurationSeconds), found {}",
                        describe(node)
                    ),
                );
                None
            }
        }
    }
}

/// What is wrong with a role ARN, if anything.
pub fn role_arn_problem(arn: &str) -> Option<String> {
    let parsed = arn
        .strip_prefix("qcs::cam::uin/")
        .and_then(|rest| rest.split_once(":roleName/"));
    match parsed {
        Some((uin, name))
            if !uin.is_empty()
                && uin.bytes().all(|b| b.is_ascii_digit())
                && !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b)) =>
        {
            None
        }
        _ => Some(format!(
            "{arn:?} is not a role ARN; expected qcs::cam::uin/UIN:roleName/NAME \
             (the member account's UIN and the role's name)"
        )),
    }
}

/// What is wrong with a `RoleSessionName`, if anything: 2–128 of
/// `[\w+=,.@-]`.
pub fn session_name_problem(name: &str) -> Option<String> {
    let fine = (2..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b));
    (!fine).then(|| {
        format!("{name:?} is not a session name; use 2 to 128 letters, digits and +=,.@_-")
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::read_text;

    #[test]
    fn accounts_are_read_and_every_problem_reported() {
        let (manifest, problems) = read_text(
            "version: 1\naccounts:\n  1250000001:\n    role_arn: qcs::cam::uin/100000000001:roleName/inv\n\
             \x20   external_id: ext\n    duration: 3600\n  \"1250000002\": {profile: member2}\n\
             \x20 x125: {profile: p}\n  1250000003: {role_arn: \"arn:aws:iam::1:role/x\"}\n\
             \x20 1250000004: {role_arn: qcs::cam::uin/1:roleName/r, duration: 60}\n\
             \x20 1250000005: {role_arn: qcs::cam::uin/1:roleName/r, profile: p}\n\
             \x20 1250000006: {}\n  1250000007: {profile: p, rol_arn: x}\n\
             jobs: []\n",
        );
        // Read though refused, so that every problem shows; the load fails.
        assert_eq!(manifest.accounts.len(), 4, "{:?}", manifest.accounts);
        assert_eq!(manifest.accounts[0].appid, "1250000001");
        assert_eq!(manifest.accounts[0].at.line, 3);
        assert_eq!(
            problems,
            [
                "8: accounts.x125: \"x125\" is not an APPID; the keys of accounts: are the digits a \
                 bucket name ends in (examplebucket-1250000000 → 1250000000)",
                "9: accounts.1250000003.role_arn: \"arn:aws:iam::1:role/x\" is not a role ARN; \
                 expected qcs::cam::uin/UIN:roleName/NAME (the member account's UIN and the role's name)",
                "10: accounts.1250000004.duration: expected whole seconds from 900 to 43200 \
                 (STS AssumeRole's DurationSeconds), found 60",
                "11: accounts.1250000005: give role_arn or profile, not both",
                "12: accounts.1250000006: needs role_arn or profile",
                "13: accounts.1250000007.rol_arn: unknown key \"rol_arn\"; did you mean \"role_arn\"?",
            ]
        );
    }
}
