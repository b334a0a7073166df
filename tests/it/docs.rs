//! The docs held to the code: the options, outcomes, actions, environment
//! variables and exit codes that README.md and docs/ describe are the ones
//! the built binary's `--help` prints and the library defines, and every
//! link between the pages lands on a heading that exists. A doc that drifts
//! fails here, naming what differs.
//!
//! Tables the tests read are marked in the Markdown with HTML comments
//! (`<!-- outcomes -->` … `<!-- /outcomes -->`), invisible when rendered.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cosinv::report::{Action, Outcome};

use crate::support::subcommand;

const COMMANDS: [&str; 10] = [
    "validate",
    "plan",
    "show",
    "buckets",
    "apply",
    "run-now",
    "deliveries",
    "emulate",
    "completions",
    "man",
];

/// Options the docs name that belong to other programs, and whose.
const OTHER_PROGRAMS: [(&str, &str); 3] = [
    ("--connect-to", "curl"),
    ("--from-literal", "kubectl"),
    ("--release", "cargo"),
];

const README_SETUP: &str =
    "cargo run --release -- apply manifests/org.yaml manifests/fleet.csv --sandbox";
const README_TESTS: &str = "```sh\ncargo test\n```";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn doc(path: &str) -> String {
    let path = root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// `cosinv ARGS…` (credentials, locks and HOME in a scratch folder): its
/// stdout, which must be a success.
fn cosinv(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (name, rest) = args.split_first().unwrap();
    let output = subcommand(dir.path(), name, rest).output().unwrap();
    assert!(output.status.success(), "cosinv {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

fn long_help(command: &str) -> String {
    cosinv(&[command, "--help"])
}

/// The long options a help text defines: the `--name` of each option line
/// (`  -v, --verbose...`, `      --rate <R>`), not those its prose mentions.
fn defined_options(help: &str) -> BTreeSet<String> {
    help.lines()
        .map(str::trim_start)
        .filter(|line| line.starts_with('-'))
        .filter_map(|line| {
            line.split([' ', ','])
                .find(|word| word.starts_with("--"))
                .map(|word| word.trim_end_matches('.').to_string())
        })
        .collect()
}

/// Every `--name` a text mentions (not a `---` rule nor part of a word).
fn mentioned_options(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let part_of_name = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("--") {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let starts_name = bytes.get(at + 2).is_some_and(u8::is_ascii_lowercase);
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'-') || !starts_name {
            continue;
        }
        let end = (at + 2..bytes.len())
            .find(|&i| !part_of_name(bytes[i]))
            .unwrap_or(bytes.len());
        found.insert(text[at..end].trim_end_matches('-').to_string());
    }
    found
}

/// The rows of the table between `<!-- MARK` and `<!-- /MARK -->`, the
/// header and rule left out, each as its cells.
fn marked_table(text: &str, mark: &str) -> Vec<Vec<String>> {
    let start = text
        .find(&format!("<!-- {mark}"))
        .unwrap_or_else(|| panic!("no <!-- {mark} --> table"));
    let end = start
        + text[start..]
            .find(&format!("<!-- /{}", mark.split(' ').next().unwrap()))
            .unwrap_or_else(|| panic!("the {mark} table is not closed"));
    text[start..end]
        .lines()
        .filter(|line| line.starts_with('|'))
        .skip(2)
        .map(|line| {
            line.trim_matches('|')
                .split(" | ")
                .map(|cell| cell.trim().to_string())
                .collect()
        })
        .collect()
}

/// The `code` spans of a Markdown cell.
fn code_spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect()
}

#[test]
fn every_option_of_every_command_is_documented_and_every_documented_one_exists() {
    let documented = format!("{}\n{}", doc("docs/guide.md"), doc("docs/operations.md"));
    let mentioned = mentioned_options(&documented);
    let mut defined = BTreeSet::new();
    for command in COMMANDS {
        let options = defined_options(&long_help(command));
        assert!(options.contains("--help"), "{command}: {options:?}");
        for option in &options {
            assert!(
                mentioned.contains(option),
                "`cosinv {command} --help` has {option}, which docs/guide.md and \
                 docs/operations.md never mention"
            );
        }
        defined.extend(options);
    }
    let everything = format!("{documented}\n{}", doc("docs/reliability.md"));
    for option in mentioned_options(&everything) {
        if let Some((_, program)) = OTHER_PROGRAMS.iter().find(|(name, _)| *name == option) {
            assert!(
                !defined.contains(&option),
                "{option} is cosinv's, not {program}'s"
            );
            continue;
        }
        assert!(
            defined.contains(&option),
            "the docs mention {option}, which no `cosinv <command> --help` has"
        );
    }
}

#[test]
fn the_outcome_and_action_tables_are_the_report_s() {
    let guide = doc("docs/guide.md");
    let first_values = |mark: &str| -> Vec<String> {
        marked_table(&guide, mark)
            .iter()
            .map(|row| code_spans(&row[0]).concat())
            .collect()
    };
    let outcomes: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
    let actions: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
    assert_eq!(
        first_values("outcomes"),
        outcomes,
        "docs/guide.md's outcomes"
    );
    assert_eq!(first_values("actions"), actions, "docs/guide.md's actions");

    let help = long_help("apply");
    let listed = |from: &str, to: &str| -> Vec<String> {
        let start = 1 + help.find(from).unwrap_or_else(|| panic!("{from}: {help}"));
        let end = help.find(to).unwrap_or_else(|| panic!("{to}: {help}"));
        help[start..end]
            .lines()
            .skip(1)
            .filter_map(|line| line.split_whitespace().next().map(String::from))
            .collect()
    };
    assert_eq!(listed("\n  outcome ", "\n  http_status "), outcomes);
    assert_eq!(listed("\n  action ", "\n  outcome "), actions);
}

fn is_variable(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_uppercase())
        && word
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The variables of a help text's `Environment:` section: the names at the
/// start of its entries, before the meaning.
fn help_variables(help: &str) -> BTreeSet<String> {
    let section = help
        .split("\n\n")
        .find(|part| part.starts_with("Environment:"))
        .unwrap_or_else(|| panic!("no Environment: section in\n{help}"));
    section
        .lines()
        .skip(1)
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .flat_map(|line| {
            line.split_whitespace()
                .map(|word| word.trim_end_matches(','))
                .take_while(|word| is_variable(word))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_environment_table_is_the_help_s() {
    let operations = doc("docs/operations.md");
    let documented: BTreeSet<String> = marked_table(&operations, "environment")
        .iter()
        .flat_map(|row| code_spans(&row[0]))
        .collect();
    let main = help_variables(&cosinv(&["--help"]));
    assert!(main.contains("COS_SECRET_ID"), "{main:?}");
    assert_eq!(
        documented, main,
        "docs/operations.md's environment table against `cosinv --help`"
    );
    for command in ["plan", "buckets", "apply"] {
        let listed = help_variables(&long_help(command));
        assert_eq!(listed, main, "`cosinv {command} --help`");
    }
}

/// The codes of a help text's `Exit codes:` section, in order.
fn help_codes(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| *line != "Exit codes:")
        .skip(1)
        .take_while(|line| !line.is_empty())
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .flat_map(|line| {
            line.split_whitespace()
                .next()
                .unwrap_or_default()
                .split('/')
        })
        .map(String::from)
        .collect()
}

#[test]
fn the_exit_code_tables_are_the_help_s() {
    let operations = doc("docs/operations.md");
    let commands = [
        "apply",
        "run-now",
        "deliveries",
        "plan",
        "show",
        "buckets",
        "validate",
        "emulate",
    ];
    for command in commands {
        let documented: Vec<String> = marked_table(&operations, &format!("exit-codes {command}"))
            .iter()
            .flat_map(|row| {
                row[0]
                    .split('/')
                    .map(|code| code.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        let listed = help_codes(&long_help(command));
        assert!(
            !listed.is_empty(),
            "`cosinv {command} --help` lists no exit code"
        );
        assert_eq!(
            documented, listed,
            "docs/operations.md's exit codes of {command}"
        );
    }
}

/// The help of the option `name` in a long help text: its line and the
/// indented lines under it, up to the blank line after them.
fn option_help(help: &str, name: &str) -> String {
    let mut lines = help.lines().skip_while(|line| {
        let line = line.trim_start();
        !(line.starts_with(name) && line[name.len()..].starts_with([' ', ',']))
    });
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no {name} in\n{help}"));
    let rest = lines.take_while(|line| !line.trim().is_empty());
    std::iter::once(first)
        .chain(rest)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Codes that mean something particular with `apply --plan` are said in
/// its help, where they are looked for, not only in docs/operations.md.
#[test]
fn apply_s_plan_help_says_what_its_exit_codes_mean() {
    let operations = doc("docs/operations.md");
    let codes: Vec<String> = marked_table(&operations, "exit-codes apply")
        .into_iter()
        .filter(|row| row[1].contains("with `--plan`"))
        .map(|row| row[0].clone())
        .collect();
    assert!(!codes.is_empty(), "docs/operations.md: no code of --plan");
    let help = option_help(&long_help("apply"), "--plan").to_lowercase();
    for code in codes {
        assert!(
            help.contains(&format!("exits {code}")),
            "apply --help's --plan does not say what exit {code} means: {help}"
        );
    }
}

#[test]
fn the_readme_is_a_short_front_door() {
    let readme = doc("README.md");
    let lines = readme.lines().count();
    assert!(lines <= 150, "README.md has {lines} lines; keep it to 150");
    assert!(
        readme.contains(README_SETUP),
        "README.md lost `{README_SETUP}`"
    );
    assert!(
        readme.contains(README_TESTS),
        "README.md lost its `cargo test` block"
    );
    for page in [
        "docs/guide.md",
        "docs/operations.md",
        "docs/reliability.md",
        "docs/manifest.md",
        "docs/ARCHITECTURE.md",
        "benches/RESULTS.md",
        "benches/NOTES.md",
    ] {
        assert!(
            readme.contains(&format!("]({page})")),
            "README.md does not link {page}"
        );
    }
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces
/// as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings (outside code blocks).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut found = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            found.insert(slug(line.trim_start_matches('#')));
        }
    }
    found
}

/// The relative link targets `](target)` of a Markdown text.
fn relative_links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|target| !target.contains("://"))
        .map(String::from)
        .collect()
}

fn check_link(page: &Path, target: &str) -> Result<(), String> {
    let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
    let file = if file.is_empty() {
        page.to_path_buf()
    } else {
        page.parent().unwrap().join(file)
    };
    if !file.exists() {
        return Err(format!("{}: {target}: no such file", page.display()));
    }
    if anchor.is_empty() {
        return Ok(());
    }
    let text = std::fs::read_to_string(&file).map_err(|err| err.to_string())?;
    if anchors(&text).contains(anchor) {
        Ok(())
    } else {
        Err(format!("{}: {target}: no such heading", page.display()))
    }
}

#[test]
fn every_link_between_the_pages_lands() {
    let mut broken = Vec::new();
    for page in [
        "README.md",
        "docs/guide.md",
        "docs/operations.md",
        "docs/reliability.md",
        "docs/manifest.md",
    ] {
        let path = root().join(page);
        for target in relative_links(&doc(page)) {
            if let Err(problem) = check_link(&path, &target) {
                broken.push(problem);
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_parsers_here_read_what_they_are_meant_to() {
    let help = "Options:\n  -v, --verbose...  more\n      --rate <R>  see --dry-run\n";
    assert_eq!(
        defined_options(help),
        BTreeSet::from(["--verbose".to_string(), "--rate".to_string()])
    );
    let text = "`--shard K/N`, a---b, plan---output, --x-y-, e--f and --no-refresh.";
    assert_eq!(
        mentioned_options(text),
        BTreeSet::from(["--shard", "--x-y", "--no-refresh"].map(String::from))
    );
    assert_eq!(slug("The run's JSON document"), "the-runs-json-document");
    assert_eq!(
        slug(" `cosinv plan --output json`"),
        "cosinv-plan---output-json"
    );
}
