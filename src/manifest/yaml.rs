//! YAML manifests, version 1.
//!
//! The file is parsed by serde-saphyr into a tree of nodes that remember
//! their line, then walked by hand: that is what lets every unknown key be
//! reported (with the closest known one) and every problem carry its line,
//! all in one pass, where `deny_unknown_fields` would stop at the first.
//! serde-saphyr's budgets stop alias bombs and deep nesting; its errors
//! are put in the operator's words here, and repeated keys are passed
//! through to be reported with the line of the first.

use std::path::Path;
use std::sync::Arc;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::checks::{check_contained, check_placeholder_spelling};
use super::suggest::unknown;
use super::{
    Buckets, Defaults, Discover, FileDigest, JobSpec, Loc, MAX_YAML_BYTES, Policy, Problems,
    ReadOptions, Setting, Settings, YamlManifest, read_capped, resolve_relative,
};
use crate::model::BucketPattern;

mod accounts;

/// A YAML node and the line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub line: u32,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        Ok(Node {
            line: spanned.referenced.line().min(u32::MAX as u64) as u32,
            value: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }
    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Int(value.into()))
    }
    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Int(value.into()))
    }
    fn visit_i128<E>(self, value: i128) -> Result<Value, E> {
        Ok(Value::Int(value))
    }
    fn visit_u128<E: serde::de::Error>(self, value: u128) -> Result<Value, E> {
        i128::try_from(value)
            .map(Value::Int)
            .map_err(|_| E::custom("integer too large"))
    }
    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::Float(value))
    }
    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::Str(value.to_string()))
    }
    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::Str(value))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let value = map.next_value::<Node>()?;
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }
}

/// Parses YAML text into a node tree, or the line and a plain-words
/// account of why it cannot be read.
pub fn parse(text: &str) -> Result<Node, (u32, String)> {
    let mut options = serde_saphyr::Options::default();
    // Repeated keys reach the reader, which reports each with the line of
    // the first, in the manifest's words rather than the parser's.
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    options.with_snippet = false;
    let budget = options.budget.clone().unwrap_or_default();
    serde_saphyr::from_str_with_options::<Node>(text, options).map_err(|err| {
        let line = err.location().map_or(1, |at| at.line() as u32).max(1);
        match unclosed_bracket(text) {
            // The parser notices a missing `]` only where the text stops
            // making sense, often lines later: point at the opening one.
            Some((opened, bracket)) if opened <= line => (
                opened,
                format!(
                    "unclosed {bracket} opened at line {opened}; close it with {}",
                    if bracket == '[' { ']' } else { '}' }
                ),
            ),
            _ => (line, explain(&err, &budget)),
        }
    })
}

/// The parser's error, for an operator: what is wrong with the file, not
/// which parser option would have allowed it.
fn explain(err: &serde_saphyr::Error, budget: &serde_saphyr::Budget) -> String {
    use serde_saphyr::Error;
    let mut inner = err;
    while let Error::WithSnippet { error, .. } | Error::AliasError { error, .. } = inner {
        inner = error;
    }
    match inner {
        Error::Budget { breach, .. } => explain_budget(breach, budget),
        Error::AliasReplayLimitExceeded { .. }
        | Error::AliasExpansionLimitExceeded { .. }
        | Error::AliasReplayStackDepthExceeded { .. }
        | Error::AliasReplayCounterOverflow { .. } => {
            "aliases (*name) expand to too much text; a manifest needs no alias tricks".to_string()
        }
        Error::MultipleDocuments { .. } => {
            "holds more than one YAML document (a `---` line after the first); a manifest is \
             one document"
                .to_string()
        }
        Error::UnknownAnchor { .. } => {
            "an alias (*name) refers to an anchor (&name) not defined before it".to_string()
        }
        Error::DuplicateMappingKey { key, .. } => match key {
            Some(key) => format!("duplicate key {}", crate::model::quoted(key)),
            None => "duplicate key".to_string(),
        },
        Error::Eof { .. } => "the file ends in the middle of a value".to_string(),
        other => plain_syntax_message(first_line_of(&other.to_string())),
    }
}

/// The parser's syntax messages, where their words are a parser's.
fn plain_syntax_message(message: String) -> String {
    if message.contains("recursion limit") {
        "lists or mappings are nested too deeply".to_string()
    } else if message.contains("found a tab") {
        "a tab where YAML allows only spaces; indent with spaces".to_string()
    } else if message.contains("simple key expected ':'") {
        "expected ':' after a key (a key is on one line, at most 1,024 characters)".to_string()
    } else {
        message
    }
}

fn explain_budget(
    breach: &serde_saphyr::budget::BudgetBreach,
    budget: &serde_saphyr::Budget,
) -> String {
    use serde_saphyr::budget::BudgetBreach;
    let count = super::thousands;
    match breach {
        BudgetBreach::Nodes { .. } => format!(
            "the file is too large: more than {} values, lists and mappings; list many buckets \
             in a buckets_file instead",
            count(budget.max_nodes)
        ),
        BudgetBreach::Events { .. } => format!(
            "the file is too large: more than {} YAML events",
            count(budget.max_events)
        ),
        BudgetBreach::Depth { .. } => format!(
            "lists or mappings are nested too deeply: more than {} levels",
            budget.max_depth
        ),
        BudgetBreach::Aliases { .. }
        | BudgetBreach::Anchors { .. }
        | BudgetBreach::AliasAnchorRatio { .. }
        | BudgetBreach::RecordedAnchorEvents { .. }
        | BudgetBreach::RecordedAnchorBytes { .. } => {
            "uses too many aliases (*name) or anchors (&name); a manifest needs no alias tricks"
                .to_string()
        }
        BudgetBreach::Documents { .. } => {
            "holds more than one YAML document; a manifest is one document".to_string()
        }
        _ => "the file is too large or too deeply nested to be a manifest".to_string(),
    }
}

/// serde-saphyr's messages may draw the source below the first line; the
/// problem list wants one line, without the repeated position.
fn first_line_of(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message);
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let first = match first.split_once(": ") {
        Some((position, rest)) if position.starts_with("line ") => rest,
        _ => first,
    };
    // "… at line 15, column 4": the problem's own line says where.
    match first.rsplit_once(" at line ") {
        Some((text, position)) if position.contains(", column ") => text.to_string(),
        _ => first.to_string(),
    }
}

/// The outermost `[` or `{` that is never closed, and its line. A rough
/// scan (quotes and comments skipped, brackets counted where YAML starts
/// a flow collection), used only to explain a file the parser refused.
fn unclosed_bracket(text: &str) -> Option<(u32, char)> {
    let mut scan = BracketScan::default();
    for (index, line) in text.lines().enumerate() {
        scan.line(line, index as u32 + 1);
    }
    scan.open
        .first()
        .copied()
        .map(|(bracket, line)| (line, bracket))
}

#[derive(Default)]
struct BracketScan {
    /// Open brackets, outermost first, with their lines.
    open: Vec<(char, u32)>,
    /// Inside a quoted scalar (which may run over lines): its quote.
    quote: Option<char>,
}

impl BracketScan {
    fn line(&mut self, line: &str, number: u32) {
        let mut previous = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if let Some(quote) = self.quote {
                match c {
                    '\\' if quote == '"' => {
                        chars.next();
                    }
                    '\'' if quote == '\'' && chars.peek() == Some(&'\'') => {
                        chars.next();
                    }
                    c if c == quote => self.quote = None,
                    _ => {}
                }
                previous = c;
                continue;
            }
            let starts_token = previous.is_whitespace() || "[{,:-".contains(previous);
            match c {
                '#' if previous.is_whitespace() => return,
                '"' | '\'' if starts_token => self.quote = Some(c),
                '[' | '{' if starts_token || !self.open.is_empty() => self.open.push((c, number)),
                ']' | '}' if !self.open.is_empty() => {
                    self.open.pop();
                }
                _ => {}
            }
            previous = c;
        }
    }
}

const TOP_KEYS: &[&str] = &["version", "defaults", "accounts", "policies", "jobs"];
/// Mappings whose repeated keys the planner reports (a policy defined
/// twice, across files too) or the model does (a tag key twice): the
/// reader keeps both entries and leaves the message to them.
const DUPLICATES_REPORTED_LATER: &[&str] = &["policies", "filter.tags"];
const POLICY_KEYS: &[&str] = &[
    "enabled",
    "included_object_versions",
    "schedule",
    "monthly_date",
    "filter",
    "optional_fields",
    "destination",
];
const DEFAULTS_EXTRA_KEYS: &[&str] = &["region", "account_id", "require_accounts"];
const JOB_KEYS: &[&str] = &[
    "id",
    "policy",
    "bucket",
    "buckets",
    "buckets_file",
    "discover",
    "region",
    "set",
];
const DISCOVER_KEYS: &[&str] = &["regions", "match", "exclude"];
const FILTER_KEYS: &[&str] = &["prefix", "tags", "period"];
const PERIOD_KEYS: &[&str] = &["start", "end"];
const DESTINATION_KEYS: &[&str] = &[
    "bucket",
    "region",
    "account_id",
    "prefix",
    "format",
    "encryption",
];

/// Reads a YAML manifest; problems go to `problems`. `options` says which
/// regions are known and where buckets files may be.
pub fn read(path: &Path, options: &ReadOptions, problems: &mut Problems) -> YamlManifest {
    let file: Arc<Path> = Arc::from(path);
    let reader = Reader {
        file: file.clone(),
        path,
        options,
    };
    let top = Loc::new(&file, 1);
    let bytes = match read_capped(path, MAX_YAML_BYTES) {
        Ok(bytes) => bytes,
        Err(err) => {
            problems.add(&top, "file", err.to_string());
            return YamlManifest::default();
        }
    };
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => text,
        Err(err) => {
            let line = bytes[..err.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u32
                + 1;
            problems.add(
                &Loc::new(&file, line),
                "file",
                "is not UTF-8 text; save the manifest as UTF-8",
            );
            return YamlManifest::default();
        }
    };
    let mut manifest = match parse(text) {
        Ok(node) => reader.manifest(&node, problems),
        Err((line, message)) => {
            problems.add(&Loc::new(&file, line), "yaml", message);
            YamlManifest::default()
        }
    };
    manifest.digest = Some(FileDigest::of_bytes(path, &bytes));
    manifest
}

struct Reader<'a> {
    file: Arc<Path>,
    path: &'a Path,
    options: &'a ReadOptions,
}

impl Reader<'_> {
    fn at(&self, node: &Node) -> Loc {
        Loc::new(&self.file, node.line.max(1))
    }

    fn manifest(&self, node: &Node, problems: &mut Problems) -> YamlManifest {
        let mut manifest = YamlManifest::default();
        let entries = match &node.value {
            Value::Map(entries) => entries,
            Value::Null => {
                problems.add(
                    &Loc::new(&self.file, 1),
                    "file",
                    "is empty; a manifest starts with `version: 1`",
                );
                return manifest;
            }
            _ => {
                problems.add(
                    &self.at(node),
                    "file",
                    "must be a mapping with version, defaults, policies and jobs",
                );
                return manifest;
            }
        };
        self.duplicate_keys(entries, "", problems);
        let mut version_seen = false;
        for (key, value) in entries {
            let Some(name) = self.key(key, "", problems) else {
                continue;
            };
            match name.as_str() {
                "version" => {
                    version_seen = true;
                    if !matches!(value.value, Value::Int(1)) {
                        problems.add(
                            &self.at(value),
                            "version",
                            format!(
                                "{} is not a version this cosinv reads; use `version: 1`",
                                describe(value)
                            ),
                        );
                    }
                }
                "defaults" => manifest.defaults = Some(self.defaults(value, problems)),
                "accounts" => manifest.accounts = self.accounts(value, problems),
                "policies" => manifest.policies = self.policies(value, problems),
                "jobs" => manifest.jobs = self.jobs(value, problems),
                other => problems.add(&self.at(key), other, unknown("key", other, TOP_KEYS)),
            }
        }
        if !version_seen {
            problems.add(
                &self.at(node),
                "version",
                "missing; start the manifest with `version: 1`",
            );
        }
        manifest
    }

    /// A mapping key as text, `prefix` naming its parent for messages.
    fn key(&self, key: &Node, prefix: &str, problems: &mut Problems) -> Option<String> {
        match scalar_text(key) {
            Some(text) => Some(text),
            None => {
                problems.add(
                    &self.at(key),
                    prefix.trim_end_matches('.'),
                    format!("{} cannot be a key", describe(key)),
                );
                None
            }
        }
    }

    /// A mapping's entries (none when it is not one: reported). A key
    /// written twice is reported at the second with the line of the first;
    /// both are read, so the second's own problems show too.
    fn map<'n>(&self, node: &'n Node, field: &str, problems: &mut Problems) -> &'n [(Node, Node)] {
        match &node.value {
            Value::Map(entries) => {
                if !DUPLICATES_REPORTED_LATER.contains(&field) {
                    self.duplicate_keys(entries, field, problems);
                }
                entries
            }
            Value::Null => &[],
            _ => {
                problems.add(
                    &self.at(node),
                    field,
                    format!("expected a mapping, found {}", describe(node)),
                );
                &[]
            }
        }
    }

    fn duplicate_keys(&self, entries: &[(Node, Node)], field: &str, problems: &mut Problems) {
        let mut seen: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
        for (key, _) in entries {
            let Some(name) = scalar_text(key) else {
                continue;
            };
            match seen.get(&name) {
                Some(first) => problems.add(
                    &self.at(key),
                    &key_path(field, &name),
                    format!(
                        "duplicate key {} (first at line {first}); give each key once",
                        crate::model::quoted(&name)
                    ),
                ),
                None => {
                    seen.insert(name, key.line.max(1));
                }
            }
        }
    }

    /// A region: a string COS (or the operator) knows as a region.
    fn region(&self, node: &Node, field: &str, problems: &mut Problems) -> Option<Setting<String>> {
        let region = self.string(node, field, problems)?;
        self.options.check_region(&region, field, problems);
        Some(region)
    }

    fn string(&self, node: &Node, field: &str, problems: &mut Problems) -> Option<Setting<String>> {
        match scalar_text(node) {
            Some(value) => Some(Setting {
                value,
                at: self.at(node),
            }),
            None if node.value == Value::Null => None,
            None => {
                problems.add(
                    &self.at(node),
                    field,
                    format!("expected a single value, found {}", describe(node)),
                );
                None
            }
        }
    }

    fn defaults(&self, node: &Node, problems: &mut Problems) -> Defaults {
        let mut defaults = Defaults::default();
        for (key, value) in self.map(node, "defaults", problems) {
            let Some(name) = self.key(key, "defaults", problems) else {
                continue;
            };
            match name.as_str() {
                "region" => defaults.region = self.region(value, "defaults.region", problems),
                "account_id" => {
                    defaults.settings.destination_account_id =
                        self.string(value, "defaults.account_id", problems)
                }
                "require_accounts" => {
                    defaults.require_accounts =
                        self.boolean(value, "defaults.require_accounts", problems)
                }
                _ => {
                    if !self.policy_key(&name, value, &mut defaults.settings, problems) {
                        let known: Vec<&str> = [DEFAULTS_EXTRA_KEYS, POLICY_KEYS].concat();
                        problems.add(
                            &self.at(key),
                            &format!("defaults.{name}"),
                            unknown("key", &name, &known),
                        );
                    }
                }
            }
        }
        defaults
    }

    fn policies(&self, node: &Node, problems: &mut Problems) -> Vec<Policy> {
        let mut policies = Vec::new();
        for (key, value) in self.map(node, "policies", problems) {
            let Some(name) = self.key(key, "policies", problems) else {
                continue;
            };
            let settings = self.settings(value, &format!("policies.{name}"), problems);
            policies.push(Policy {
                name,
                at: self.at(key),
                settings,
            });
        }
        policies
    }

    /// A mapping of policy keys (a policy or a job's `set`).
    fn settings(&self, node: &Node, context: &str, problems: &mut Problems) -> Settings {
        let mut settings = Settings::default();
        for (key, value) in self.map(node, context, problems) {
            let Some(name) = self.key(key, context, problems) else {
                continue;
            };
            if !self.policy_key(&name, value, &mut settings, problems) {
                problems.add(&self.at(key), &name, unknown("key", &name, POLICY_KEYS));
            }
        }
        settings
    }

    /// Reads one policy key into `settings`; false when `name` is not one.
    fn policy_key(
        &self,
        name: &str,
        value: &Node,
        settings: &mut Settings,
        problems: &mut Problems,
    ) -> bool {
        match name {
            "enabled" => settings.enabled = self.boolean(value, "enabled", problems),
            "included_object_versions" => {
                settings.included_object_versions =
                    self.string(value, "included_object_versions", problems)
            }
            "schedule" => settings.schedule = self.string(value, "schedule", problems),
            "monthly_date" => settings.monthly_date = self.string(value, "monthly_date", problems),
            "optional_fields" => {
                settings.optional_fields = self.string_list(value, "optional_fields", problems)
            }
            "filter" => self.filter(value, settings, problems),
            "destination" => self.destination(value, settings, problems),
            _ => return false,
        }
        true
    }

    fn boolean(&self, node: &Node, field: &str, problems: &mut Problems) -> Option<Setting<bool>> {
        match node.value {
            Value::Bool(value) => Some(Setting {
                value,
                at: self.at(node),
            }),
            Value::Null => None,
            _ => {
                problems.add(
                    &self.at(node),
                    field,
                    format!("expected true or false, found {}", describe(node)),
                );
                None
            }
        }
    }

    /// A list of strings; a single string is a list of one.
    fn string_list(
        &self,
        node: &Node,
        field: &str,
        problems: &mut Problems,
    ) -> Option<Setting<Vec<String>>> {
        let items = match &node.value {
            Value::Seq(items) => items
                .iter()
                .filter_map(|item| self.string(item, field, problems).map(|s| s.value))
                .collect(),
            Value::Null => Vec::new(),
            _ => vec![self.string(node, field, problems)?.value],
        };
        Some(Setting {
            value: items,
            at: self.at(node),
        })
    }

    fn filter(&self, node: &Node, settings: &mut Settings, problems: &mut Problems) {
        for (key, value) in self.map(node, "filter", problems) {
            let Some(name) = self.key(key, "filter", problems) else {
                continue;
            };
            match name.as_str() {
                "prefix" => settings.filter_prefix = self.string(value, "filter.prefix", problems),
                "tags" => settings.filter_tags = self.tags(value, problems),
                "period" => settings.filter_period = self.period(value, problems),
                other => problems.add(
                    &self.at(key),
                    &format!("filter.{other}"),
                    unknown("key", other, FILTER_KEYS),
                ),
            }
        }
    }

    fn tags(&self, node: &Node, problems: &mut Problems) -> Option<Setting<Vec<(String, String)>>> {
        let mut tags = Vec::new();
        for (key, value) in self.map(node, "filter.tags", problems) {
            let Some(name) = self.key(key, "filter.tags", problems) else {
                continue;
            };
            let value = self
                .string(value, "filter.tags", problems)
                .map(|s| s.value)
                .unwrap_or_default();
            tags.push((name, value));
        }
        Some(Setting {
            value: tags,
            at: self.at(node),
        })
    }

    fn period(
        &self,
        node: &Node,
        problems: &mut Problems,
    ) -> Option<Setting<(Option<u64>, Option<u64>)>> {
        let mut period = (None, None);
        for (key, value) in self.map(node, "filter.period", problems) {
            let Some(name) = self.key(key, "filter.period", problems) else {
                continue;
            };
            let slot = match name.as_str() {
                "start" => &mut period.0,
                "end" => &mut period.1,
                other => {
                    problems.add(
                        &self.at(key),
                        &format!("filter.period.{other}"),
                        unknown("key", other, PERIOD_KEYS),
                    );
                    continue;
                }
            };
            match value.value {
                Value::Int(seconds) if (0..=u64::MAX as i128).contains(&seconds) => {
                    *slot = Some(seconds as u64)
                }
                _ => problems.add(
                    &self.at(value),
                    &format!("filter.period.{name}"),
                    format!(
                        "expected Unix seconds (a whole number), found {}",
                        describe(value)
                    ),
                ),
            }
        }
        Some(Setting {
            value: period,
            at: self.at(node),
        })
    }

    fn destination(&self, node: &Node, settings: &mut Settings, problems: &mut Problems) {
        for (key, value) in self.map(node, "destination", problems) {
            let Some(name) = self.key(key, "destination", problems) else {
                continue;
            };
            let field = format!("destination.{name}");
            let target = match name.as_str() {
                "bucket" => &mut settings.destination_bucket,
                "region" => &mut settings.destination_region,
                "account_id" => &mut settings.destination_account_id,
                "prefix" => &mut settings.destination_prefix,
                "format" => &mut settings.destination_format,
                "encryption" => &mut settings.encryption,
                other => {
                    problems.add(
                        &self.at(key),
                        &field,
                        unknown("key", other, DESTINATION_KEYS),
                    );
                    continue;
                }
            };
            let setting = match name.as_str() {
                "region" => self.region(value, &field, problems),
                _ => self.string(value, &field, problems),
            };
            if let Some(setting) = &setting {
                match name.as_str() {
                    "bucket" => self.options.check_destination_arn(setting, problems),
                    "prefix" => check_placeholder_spelling(setting, &field, problems),
                    _ => {}
                }
            }
            *target = setting;
        }
    }

    fn jobs(&self, node: &Node, problems: &mut Problems) -> Vec<JobSpec> {
        let items = match &node.value {
            Value::Seq(items) => items.as_slice(),
            Value::Null => &[],
            _ => {
                problems.add(
                    &self.at(node),
                    "jobs",
                    format!("expected a list of jobs, found {}", describe(node)),
                );
                &[]
            }
        };
        items
            .iter()
            .filter_map(|item| self.job(item, problems))
            .collect()
    }

    fn job(&self, node: &Node, problems: &mut Problems) -> Option<JobSpec> {
        let at = self.at(node);
        let parts = self.job_parts(node, problems);
        if parts.abandon {
            // What a misspelt key meant is unknown: checking the job
            // further would only report its consequences.
            return None;
        }
        let Some(id) = parts.id else {
            problems.add(
                &at,
                "id",
                "missing; every job needs the inventory id to write",
            );
            return None;
        };
        let buckets = one_bucket_source(parts.buckets, parts.unusable_buckets, &at, problems)?;
        if let (Buckets::Discover(_), Some(region)) = (&buckets, &parts.region) {
            problems.add(
                &region.at,
                "region",
                "a discover: job takes each bucket's region from the account; choose regions \
                 with discover.regions instead",
            );
            return None;
        }
        Some(JobSpec {
            at,
            id,
            policy: parts.policy,
            buckets,
            region: parts.region,
            set: parts.set,
        })
    }

    /// A job's keys, each read; problems with single keys reported.
    fn job_parts(&self, node: &Node, problems: &mut Problems) -> JobParts {
        let mut parts = JobParts::default();
        for (key, value) in self.map(node, "jobs", problems) {
            let Some(name) = self.key(key, "jobs", problems) else {
                continue;
            };
            match name.as_str() {
                "id" => {
                    parts.id = self.string(value, "id", problems);
                    // An id that is not text is reported already: not "missing" too.
                    parts.abandon |= parts.id.is_none() && value.value != Value::Null;
                }
                "policy" => parts.policy = self.string(value, "policy", problems),
                "region" => parts.region = self.region(value, "region", problems),
                "set" => parts.set = self.settings(value, "set", problems),
                "bucket" | "buckets" | "buckets_file" | "discover" => {
                    self.job_buckets(&name, key, value, &mut parts, problems)
                }
                other => {
                    problems.add(&self.at(key), other, unknown("key", other, JOB_KEYS));
                    parts.abandon = true;
                }
            }
        }
        parts
    }

    /// One of `bucket`, `buckets`, `buckets_file`, `discover`, added to
    /// `parts`.
    fn job_buckets(
        &self,
        name: &str,
        key: &Node,
        value: &Node,
        parts: &mut JobParts,
        problems: &mut Problems,
    ) {
        let listed = match name {
            "bucket" => self
                .string(value, "bucket", problems)
                .map(|bucket| Buckets::Listed(vec![bucket])),
            "buckets" => Some(Buckets::Listed(self.bucket_list(value, problems))),
            "discover" => self.discover(key, value, problems),
            _ => self.buckets_file(value, problems),
        };
        match listed {
            Some(source) => parts.buckets.push((name.to_string(), source, self.at(key))),
            // Reported already, unless simply empty (then: "missing").
            None if value.value != Value::Null => parts.unusable_buckets = true,
            None => {}
        }
    }

    /// `buckets_file`, resolved against the manifest's folder and kept
    /// inside it unless the options allow otherwise.
    fn buckets_file(&self, value: &Node, problems: &mut Problems) -> Option<Buckets> {
        let path = self.string(value, "buckets_file", problems)?;
        let resolved = resolve_relative(self.path, &path.value);
        if !self.options.allow_buckets_file_outside
            && let Err(message) = check_contained(self.path, &resolved)
        {
            problems.add(&path.at, "buckets_file", message);
            return None;
        }
        Some(Buckets::File(Setting {
            value: resolved,
            at: path.at,
        }))
    }

    /// `discover:`: its regions checked as every region is, its patterns
    /// compiled; `None` (reported) when any part is unusable.
    fn discover(&self, key: &Node, value: &Node, problems: &mut Problems) -> Option<Buckets> {
        if value.value == Value::Null {
            return None;
        }
        let before = problems.len();
        let mut discover = Discover {
            at: self.at(key),
            regions: Vec::new(),
            matches: None,
            exclude: Vec::new(),
        };
        for (key, value) in self.map(value, "discover", problems) {
            let Some(name) = self.key(key, "discover", problems) else {
                continue;
            };
            let field = format!("discover.{name}");
            match name.as_str() {
                "regions" => discover.regions = self.region_list(value, &field, problems),
                "match" => discover.matches = self.pattern(value, &field, problems),
                "exclude" => {
                    discover.exclude = self.items(value, &field, problems, |item, problems| {
                        self.pattern(item, &field, problems)
                    })
                }
                other => problems.add(&self.at(key), &field, unknown("key", other, DISCOVER_KEYS)),
            }
        }
        (problems.len() == before).then_some(Buckets::Discover(discover))
    }

    /// A list (or a single value, a list of one) read item by item.
    fn items<T>(
        &self,
        node: &Node,
        field: &str,
        problems: &mut Problems,
        mut read: impl FnMut(&Node, &mut Problems) -> Option<T>,
    ) -> Vec<T> {
        match &node.value {
            Value::Seq(items) => items
                .iter()
                .filter_map(|item| read(item, problems))
                .collect(),
            Value::Map(_) => {
                problems.add(
                    &self.at(node),
                    field,
                    format!("expected a list, found {}", describe(node)),
                );
                Vec::new()
            }
            Value::Null => Vec::new(),
            _ => read(node, problems).into_iter().collect(),
        }
    }

    fn region_list(
        &self,
        node: &Node,
        field: &str,
        problems: &mut Problems,
    ) -> Vec<Setting<String>> {
        let regions = self.items(node, field, problems, |item, problems| {
            self.region(item, field, problems)
        });
        for region in &regions {
            if let Err(err) = crate::model::Region::parse_for("region", &region.value) {
                problems.add(&region.at, field, err.message);
            }
        }
        regions
    }

    /// A bucket-name pattern, or a problem saying why it is not one.
    fn pattern(
        &self,
        node: &Node,
        field: &str,
        problems: &mut Problems,
    ) -> Option<Setting<BucketPattern>> {
        let text = self.string(node, field, problems)?;
        match BucketPattern::parse(&text.value) {
            Ok(pattern) => Some(Setting {
                value: pattern,
                at: text.at,
            }),
            Err(err) => {
                problems.add(&text.at, field, err.to_string());
                None
            }
        }
    }

    fn bucket_list(&self, node: &Node, problems: &mut Problems) -> Vec<Setting<String>> {
        match &node.value {
            Value::Seq(items) => items
                .iter()
                .filter_map(|item| self.string(item, "buckets", problems))
                .collect(),
            _ => {
                problems.add(
                    &self.at(node),
                    "buckets",
                    format!("expected a list of bucket names, found {}", describe(node)),
                );
                Vec::new()
            }
        }
    }
}

/// A YAML job's keys, read but not yet put together.
#[derive(Default)]
struct JobParts {
    id: Option<Setting<String>>,
    policy: Option<Setting<String>>,
    region: Option<Setting<String>>,
    set: Settings,
    /// Each of `bucket`, `buckets`, `buckets_file` given, with its key's place.
    buckets: Vec<(String, Buckets, Loc)>,
    /// A key is not one a job has, or the id is unusable (reported):
    /// checking the job further would only report consequences.
    abandon: bool,
    /// A bucket key's value could not be used (already reported).
    unusable_buckets: bool,
}

/// The job's one source of buckets, or a problem when it has none or more
/// than one.
fn one_bucket_source(
    mut given: Vec<(String, Buckets, Loc)>,
    unusable_buckets: bool,
    job_at: &Loc,
    problems: &mut Problems,
) -> Option<Buckets> {
    if given.len() > 1 {
        let names: Vec<&str> = given.iter().map(|(name, _, _)| name.as_str()).collect();
        problems.add(
            &given[1].2,
            &given[1].0,
            format!(
                "give only one of bucket, buckets, buckets_file and discover (this job has {})",
                names.join(" and ")
            ),
        );
        return None;
    }
    if unusable_buckets {
        return None;
    }
    match given.pop() {
        Some((_, buckets, _)) => Some(buckets),
        None => {
            problems.add(
                job_at,
                "buckets",
                "missing; name the buckets with bucket, buckets, buckets_file or discover",
            );
            None
        }
    }
}

/// The field a repeated key is reported as: the key itself where the
/// mapping's own problems name keys bare (the top, a job, a policy, a
/// job's `set`), else under its parent (`destination.prefix`).
fn key_path(parent: &str, key: &str) -> String {
    let bare =
        parent.is_empty() || parent == "jobs" || parent == "set" || parent.starts_with("policies.");
    if bare {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// A scalar as the text it stands for (`1` → "1", `true` → "true").
fn scalar_text(node: &Node) -> Option<String> {
    match &node.value {
        Value::Str(text) => Some(text.clone()),
        Value::Int(number) => Some(number.to_string()),
        Value::Float(number) => Some(number.to_string()),
        Value::Bool(value) => Some(value.to_string()),
        Value::Null | Value::Seq(_) | Value::Map(_) => None,
    }
}

/// What a node is, for messages.
fn describe(node: &Node) -> String {
    match &node.value {
        Value::Null => "nothing".to_string(),
        Value::Bool(value) => format!("{value}"),
        Value::Int(number) => format!("{number}"),
        Value::Float(number) => format!("{number}"),
        Value::Str(text) => crate::model::quoted(text),
        Value::Seq(_) => "a list".to_string(),
        Value::Map(_) => "a mapping".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn read_text(text: &str) -> (YamlManifest, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(&path, text).unwrap();
        let mut problems = Problems::default();
        let manifest = read(&path, &ReadOptions::default(), &mut problems);
        let lines = problems
            .into_lines()
            .into_iter()
            .map(|line| line.rsplit_once("m.yaml:").unwrap().1.to_string())
            .collect();
        (manifest, lines)
    }

    #[test]
    fn reads_the_issue_example_with_lines() {
        let (manifest, problems) = read_text(
            "version: 1\n\
             defaults:\n  region: ap-guangzhou\n  account_id: \"100000000001\"\n\
             policies:\n  daily-full:\n    enabled: true\n    schedule: Daily\n    \
             filter: { prefix: \"logs/\", tags: {team: data}, period: {start: 1, end: 2} }\n    \
             optional_fields: [Size, ETag]\n    destination:\n      bucket: inventory-1250000000\n      \
             prefix: \"inventory/{bucket}\"\n      encryption: SSE-COS\n\
             jobs:\n  - id: daily-full\n    policy: daily-full\n    \
             buckets: [photos-1250000000, logs-1250000000]\n    set: { schedule: Weekly }\n",
        );
        assert_eq!(problems, Vec::<String>::new());
        let defaults = manifest.defaults.unwrap();
        assert_eq!(defaults.region.unwrap().value, "ap-guangzhou");
        assert_eq!(
            defaults.settings.destination_account_id.unwrap().value,
            "100000000001"
        );
        let policy = &manifest.policies[0];
        assert_eq!(policy.name, "daily-full");
        assert_eq!(policy.at.line, 6);
        assert_eq!(policy.settings.schedule.as_ref().unwrap().at.line, 8);
        assert_eq!(
            policy.settings.filter_tags.as_ref().unwrap().value,
            [("team".to_string(), "data".to_string())]
        );
        assert_eq!(
            policy.settings.filter_period.as_ref().unwrap().value,
            (Some(1), Some(2))
        );
        let job = &manifest.jobs[0];
        assert_eq!(job.at.line, 16);
        assert_eq!(job.set.schedule.as_ref().unwrap().value, "Weekly");
        match &job.buckets {
            Buckets::Listed(buckets) => {
                assert_eq!(buckets.len(), 2);
                assert_eq!(buckets[1].at.line, 18);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_keys_are_all_reported_with_suggestions() {
        let (_, problems) = read_text(
            "version: 1\npolicies:\n  p:\n    scedule: Daily\n    destination: {bucket: a-1250000000, prefx: x}\n\
             jobs:\n  - id: x\n    bucket: a-1250000000\n    polcy: p\nextra: 1\n",
        );
        assert_eq!(
            problems,
            [
                "4: scedule: unknown key \"scedule\"; did you mean \"schedule\"?",
                "5: destination.prefx: unknown key \"prefx\"; did you mean \"prefix\"?",
                "9: polcy: unknown key \"polcy\"; did you mean \"policy\"?",
                "10: extra: unknown key \"extra\"; expected one of version, defaults, accounts, policies, jobs",
            ]
        );
    }

    #[test]
    fn structural_mistakes_are_located() {
        let (_, problems) = read_text(
            "version: 2\njobs:\n  - policy: p\n    bucket: a-1250000000\n  - id: y\n  - id: z\n    \
             bucket: a-1250000000\n    buckets: [b-1250000000]\n",
        );
        assert_eq!(
            problems,
            [
                "1: version: 2 is not a version this cosinv reads; use `version: 1`",
                "3: id: missing; every job needs the inventory id to write",
                "5: buckets: missing; name the buckets with bucket, buckets, buckets_file or discover",
                "8: buckets: give only one of bucket, buckets, buckets_file and discover (this job has bucket and buckets)",
            ]
        );
    }

    #[test]
    fn hostile_yaml_is_an_error_not_a_hang() {
        let bomb = "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n\
                    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n\
                    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n\
                    g: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n";
        let (_, problems) = read_text(bomb);
        assert_eq!(
            problems,
            [
                "6: yaml: the file is too large: more than 250,000 values, lists and mappings; \
              list many buckets in a buckets_file instead"
            ]
        );
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let (_, problems) = read_text(&deep);
        assert_eq!(
            problems,
            ["1: yaml: lists or mappings are nested too deeply"]
        );
        let (_, problems) = read_text(&"[".repeat(100_000));
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].contains("unclosed [ opened at line 1"),
            "{problems:?}"
        );
        let (_, problems) = read_text("");
        assert_eq!(
            problems,
            ["1: file: is empty; a manifest starts with `version: 1`"]
        );
        let (_, problems) = read_text("- a\n- b\n");
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn parser_complaints_are_in_plain_words() {
        let (_, problems) = read_text(
            "version: 1\njobs:\n  - id: a\n    bucket: a-1250000000\n    id: b\n    \
             set: {}\nversion: 1\n",
        );
        assert_eq!(
            problems,
            [
                "5: id: duplicate key \"id\" (first at line 3); give each key once",
                "7: version: duplicate key \"version\" (first at line 1); give each key once",
            ]
        );
        let (_, problems) = read_text(
            "version: 1\njobs:\n  - id: a\n    buckets: [a-1250000000, b-1250000000\n    \
             region: ap-guangzhou\n  - id: b\n",
        );
        assert_eq!(
            problems,
            ["4: yaml: unclosed [ opened at line 4; close it with ]"]
        );
        let (_, problems) = read_text("version: 1\n---\nversion: 1\n");
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].contains("more than one YAML document"),
            "{problems:?}"
        );
        for problem in problems {
            assert!(!problem.contains("Options") && !problem.contains("from_str"));
        }
    }

    #[test]
    fn the_options_allow_a_new_region_and_a_buckets_file_elsewhere() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("m")).unwrap();
        std::fs::write(root.path().join("shared.txt"), "a-1250000000\n").unwrap();
        let path = root.path().join("m/m.yaml");
        std::fs::write(
            &path,
            "version: 1\njobs:\n  - id: a\n    region: ap-newplace\n    \
             buckets_file: ../shared.txt\n",
        )
        .unwrap();
        let read_with = |options: &ReadOptions| {
            let mut problems = Problems::default();
            let manifest = read(&path, options, &mut problems);
            (manifest.jobs.len(), problems.len())
        };
        assert_eq!(read_with(&ReadOptions::default()), (0, 2));
        let open = ReadOptions {
            regions: crate::model::RegionPolicy::allowing(vec![
                crate::model::Region::parse("ap-newplace").unwrap(),
            ]),
            allow_buckets_file_outside: true,
        };
        assert_eq!(read_with(&open), (1, 0));
    }

    #[test]
    fn discover_is_read_with_its_regions_and_patterns() {
        let (manifest, problems) = read_text(
            "version: 1\njobs:\n  - id: a\n    discover:\n      regions: [ap-beijing]\n      \
             match: \"media-*\"\n      exclude: media-old-*\n",
        );
        assert_eq!(problems, Vec::<String>::new());
        let Buckets::Discover(discover) = &manifest.jobs[0].buckets else {
            panic!("{:?}", manifest.jobs[0].buckets);
        };
        assert_eq!(discover.at.line, 4);
        assert!(discover.selects("media-01-1250000000", "ap-beijing"));
        assert!(!discover.selects("media-01-1250000000", "ap-shanghai"));
        assert!(!discover.selects("media-old-1-1250000000", "ap-beijing"));
        assert!(!discover.selects("logs-1250000000", "ap-beijing"));
        let (manifest, problems) = read_text("version: 1\njobs:\n  - id: a\n    discover: {}\n");
        assert!(problems.is_empty(), "{problems:?}");
        assert!(
            matches!(&manifest.jobs[0].buckets, Buckets::Discover(d) if d.selects("x-1250000000", "eu-moscow"))
        );
    }

    #[test]
    fn discover_mistakes_are_located() {
        let (manifest, problems) = read_text(
            "version: 1\njobs:\n  - id: a\n    discover:\n      regions: [ap-bejing]\n      \
             match: \"media-[0-9\"\n      exclud: x\n  - id: b\n    region: ap-beijing\n    \
             discover: {match: \"*\"}\n  - id: c\n    bucket: a-1250000000\n    discover: {}\n",
        );
        assert!(manifest.jobs.is_empty());
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(
            problems[0].starts_with("5: discover.regions: \"ap-bejing\" is not a COS region"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("6: discover.match: \"media-[0-9\" is not a valid pattern"),
            "{problems:?}"
        );
        assert!(
            problems[2].starts_with("7: discover.exclud: unknown key"),
            "{problems:?}"
        );
        assert!(
            problems[3].starts_with("9: region: a discover: job takes each bucket's region"),
            "{problems:?}"
        );
        assert!(
            problems[4].contains(
                "13: discover: give only one of bucket, buckets, buckets_file and discover"
            ),
            "{problems:?}"
        );
    }

    #[test]
    fn non_utf8_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(&path, b"version: 1\njobs:\n  - id: \xff\n").unwrap();
        let mut problems = Problems::default();
        read(&path, &ReadOptions::default(), &mut problems);
        let lines = problems.into_lines();
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].contains("m.yaml:3: file: is not UTF-8"),
            "{lines:?}"
        );
    }
}
