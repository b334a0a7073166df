//! The layering of docs/ARCHITECTURE.md, kept by CI instead of by memory:
//! only `cmd` knows the command line and the terminal, and imports between
//! top-level modules point one way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules and the ones each may import. Everything else is a
/// layering error: add an edge here only with a line in ARCHITECTURE.md.
const ALLOWED: &[(&str, &[&str])] = &[
    (
        "cmd",
        &[
            "run",
            "account",
            "executor",
            "plan",
            "report",
            "emulator",
            "send",
            "pace",
            "cos",
            "credentials",
            "http",
            "manifest",
            "model",
        ],
    ),
    (
        "run",
        &[
            "account",
            "executor",
            "plan",
            "report",
            "emulator",
            "send",
            "pace",
            "cos",
            "credentials",
            "http",
            "manifest",
            "model",
        ],
    ),
    ("account", &["send", "plan", "cos", "model"]),
    (
        "executor",
        &["send", "pace", "plan", "report", "cos", "model"],
    ),
    ("emulator", &["cos", "credentials", "http", "model"]),
    ("send", &["pace", "cos", "credentials", "http", "model"]),
    ("pace", &["model"]),
    ("plan", &["manifest", "model"]),
    ("report", &[]),
    ("cos", &["credentials", "model"]),
    ("credentials", &["http"]),
    ("http", &[]),
    ("manifest", &["model"]),
    ("model", &[]),
];

/// What only the command layer may use.
const COMMAND_LINE_ONLY: &[&str] = &[
    "clap",
    "indicatif",
    "crate::cmd",
    "IsTerminal",
    "println!",
    "eprintln!",
    "std::process::exit",
];

fn source_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/plan/check.rs` → `plan`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

/// The code of a file without comments and without its unit tests (tests
/// may build what they like).
fn code_of(text: &str) -> String {
    let before_tests = text.split("#[cfg(test)]").next().unwrap_or_default();
    before_tests
        .lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn library_files() -> Vec<(String, PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    files.sort();
    files
        .into_iter()
        // A `tests.rs` is a `#[cfg(test)] mod tests;` moved out of its
        // module: test code, which may print what it measures.
        .filter(|file| file.file_name().is_none_or(|name| name != "tests.rs"))
        .filter_map(|file| {
            let module = module_of(&src, &file)?;
            let code = code_of(&std::fs::read_to_string(&file).unwrap());
            Some((module, file, code))
        })
        .collect()
}

#[test]
fn only_cmd_knows_the_command_line_and_the_terminal() {
    let mut offences = Vec::new();
    for (module, file, code) in library_files() {
        if module == "cmd" {
            continue;
        }
        for forbidden in COMMAND_LINE_ONLY {
            if code.contains(forbidden) {
                offences.push(format!("{}: uses {forbidden}", file.display()));
            }
        }
        for (number, line) in code.lines().enumerate() {
            if names_a_flag(line) {
                offences.push(format!("{}:{}: names a flag", file.display(), number + 1));
            }
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

/// A string literal holding `--word`: a flag's name in library text.
fn names_a_flag(line: &str) -> bool {
    line.split('"').skip(1).step_by(2).any(|literal| {
        literal.match_indices("--").any(|(at, _)| {
            literal[at + 2..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase())
        })
    })
}

#[test]
fn imports_between_top_level_modules_point_one_way() {
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(module, deps)| (*module, deps.iter().copied().collect()))
        .collect();
    let mut offences = Vec::new();
    for (module, file, code) in library_files() {
        let Some(may) = allowed.get(module.as_str()) else {
            offences.push(format!(
                "{}: module {module} is not in the map",
                file.display()
            ));
            continue;
        };
        for target in allowed.keys() {
            let used = code.contains(&format!("crate::{target}::"))
                || code.contains(&format!("crate::{target};"))
                || code.contains(&format!("crate::{target}}}"))
                || code.contains(&format!("crate::{target},"));
            if used && *target != module && !may.contains(target) {
                offences.push(format!("{}: {module} imports {target}", file.display()));
            }
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

#[test]
fn the_allowed_imports_have_no_cycle() {
    let graph: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    fn visit<'a>(node: &'a str, graph: &BTreeMap<&'a str, &'a [&'a str]>, path: &mut Vec<&'a str>) {
        assert!(!path.contains(&node), "cycle: {path:?} → {node}");
        path.push(node);
        for next in graph[node] {
            visit(next, graph, path);
        }
        path.pop();
    }
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new());
    }
}

#[test]
fn the_checks_catch_what_they_look_for() {
    assert!(names_a_flag(
        r#"format!("--concurrency must be at least 1")"#
    ));
    assert!(!names_a_flag(r#"let x = a -- b; "no flags here""#));
    assert!(!names_a_flag(
        r#"// "--rate" in a comment"#.split("//").next().unwrap()
    ));
    let code = code_of("use crate::cmd::args; // crate::plan\n#[cfg(test)]\nuse clap;");
    assert!(code.contains("crate::cmd") && !code.contains("crate::plan"));
    assert!(!code.contains("clap"));
}
