//! The layering of docs/ARCHITECTURE.md, kept by CI instead of by memory.
//!
//! The sources are read as Rust (`syn`), whole: test code is left out by
//! its attributes wherever it sits (`#[cfg(test)]` items, `#[test]` fns),
//! and files that are only tests are found by following the `mod x;`
//! declarations from `lib.rs` (a file reached through `#[cfg(test)] mod x;`
//! is test code, and so is everything it declares). Every path a file
//! names counts: `use` trees (groups, `self`, `super::super::`) and paths
//! in code, types, attributes and macro arguments, resolved through
//! `crate`, `self`, `super`, the file's imports and its child modules.
//!
//! The rules:
//! - **Layering.** A top-level module names another only if [`ALLOWED`]
//!   says so; `main.rs` names only `cmd`.
//! - **Only `cmd` knows the command line and the terminal**: no clap,
//!   indicatif, `IsTerminal`, `std::process::exit`, printing macro
//!   (`println!`, `eprintln!`, `print!`, `eprint!`, `dbg!`) or `--flag` in a
//!   string literal elsewhere (doc comments are prose and not checked).
//! - **No circle between files.** Files are nodes; a file has an edge to
//!   every file it names something in (an item counts as the file of the
//!   module defining it, so an item re-exported by a `mod.rs` counts as
//!   that `mod.rs`) and to every child file it declares. A file's edges to
//!   its own ancestors' module files (`pace/ceiling/start.rs` →
//!   `pace/ceiling.rs`, `pace/mod.rs`, `lib.rs`) are left out: a child
//!   lives inside its parent and may use what the parent holds, as code in
//!   an inline module would. What remains must have no circle.
//! - **No file names a file in a folder above its own**, within its
//!   top-level module, unless that file is one of its ancestors' module
//!   files: `pace/ceiling/start.rs` may use `pace/ceiling.rs` and
//!   `pace/mod.rs` but not `pace/outage.rs`. Between top-level modules the
//!   table decides.
//! - **The map is true.** Every file under `src/` is named in
//!   docs/ARCHITECTURE.md (see [`check::named_in_map`] for how), every file
//!   it names exists, and its code map's "may import" column is the table.

mod check;
mod source;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use check::Allowed;
use source::{Crate, Sources};

/// Top-level modules and the ones each may import. Everything else is a
/// layering error: add an edge here only with a line in ARCHITECTURE.md.
const ALLOWED: Allowed = &[
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

/// What `main.rs` may name in the library.
const BINARY_MAY_IMPORT: &[&str] = &["cmd"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, by path from `src/`.
fn source_files(src: &Path, dir: &Path, found: &mut Sources) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(src, &path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            found.insert(path.strip_prefix(src).unwrap().to_path_buf(), text);
        }
    }
}

fn sources() -> Sources {
    let src = root().join("src");
    let mut found = Sources::new();
    source_files(&src, &src, &mut found);
    found
}

/// The library read, with any file it could not read or does not reach.
fn library() -> Crate {
    let sources = sources();
    let krate = Crate::read(&sources);
    let mut problems = krate.problems.clone();
    for path in sources.keys() {
        if !krate.files.contains_key(path) && !krate.test_files.contains(path) {
            problems.push(format!("src/{}: no `mod` declares it", path.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    krate
}

fn assert_none(offences: Vec<String>) {
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

#[test]
fn only_cmd_knows_the_command_line_and_the_terminal() {
    assert_none(check::command_line_only(&library()));
}

#[test]
fn imports_between_top_level_modules_point_one_way() {
    assert_none(check::layering(&library(), ALLOWED, BINARY_MAY_IMPORT));
}

#[test]
fn files_import_without_circles_or_reaching_up() {
    assert_none(check::file_graph(&library()));
}

#[test]
fn the_map_names_every_source_file_and_the_table() {
    let map = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).unwrap();
    let files: BTreeSet<PathBuf> = sources().into_keys().collect();
    let mut offences = check::map_names_every_file(&map, &files);
    offences.extend(check::map_matches_table(&map, ALLOWED));
    assert_none(offences);
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

/// The checks on made-up sources: each catches what it looks for.
mod catches {
    use super::*;

    /// A crate from (path from `src/`, text) pairs.
    fn read(files: &[(&str, &str)]) -> Crate {
        let sources: Sources = files
            .iter()
            .map(|(path, text)| (PathBuf::from(path), text.to_string()))
            .collect();
        let krate = Crate::read(&sources);
        assert!(krate.problems.is_empty(), "{:?}", krate.problems);
        krate
    }

    const TABLE: Allowed = &[
        ("cmd", &["plan", "model"]),
        ("plan", &["model"]),
        ("model", &[]),
    ];

    #[test]
    fn a_grouped_import_that_breaks_layering() {
        let krate = read(&[
            ("lib.rs", "pub mod cmd; pub mod plan; pub mod model;"),
            ("cmd/mod.rs", "use crate::plan::Plan;"),
            ("plan/mod.rs", "pub mod check; pub struct Plan;"),
            (
                "plan/check.rs",
                "use crate::{model::{self, Bucket}, cmd::{args::{self}}};",
            ),
            ("model.rs", "fn f() { let _ = crate::plan::Plan::new(); }"),
            (
                "main.rs",
                "fn main() {\n    cosinv::cmd::main();\n    cosinv::plan::Plan::new();\n}",
            ),
        ]);
        let offences = check::layering(&krate, TABLE, &["cmd"]);
        assert_eq!(offences.len(), 3, "{offences:#?}");
        assert!(offences[0].starts_with("src/main.rs:3: the binary imports plan"));
        assert!(offences[1].starts_with("src/model.rs:1: model imports plan"));
        assert!(offences[2].starts_with("src/plan/check.rs:1: plan imports cmd"));
    }

    #[test]
    fn super_super_and_imports_resolve_to_their_module() {
        let krate = read(&[
            ("lib.rs", "pub mod cmd; pub mod plan; pub mod model;"),
            ("cmd/mod.rs", ""),
            ("model.rs", "pub mod live;"),
            ("model/live.rs", "pub mod deep;"),
            (
                "model/live/deep.rs",
                "use super::super::super::plan;\nfn f() { plan::x(); }",
            ),
            ("plan/mod.rs", ""),
        ]);
        let offences = check::layering(&krate, TABLE, &["cmd"]);
        assert_eq!(offences.len(), 2, "{offences:#?}");
        assert!(offences.iter().all(|o| o.contains("model imports plan")));
        assert!(offences[0].starts_with("src/model/live/deep.rs:1"));
        assert!(offences[1].starts_with("src/model/live/deep.rs:2"));
    }

    #[test]
    fn a_circle_of_three_files() {
        let krate = read(&[
            ("lib.rs", "pub mod plan;"),
            ("plan/mod.rs", "mod a; mod b; mod c; use a::A;"),
            ("plan/a.rs", "use super::b::B; pub struct A;"),
            ("plan/b.rs", "pub struct B(super::c::C);"),
            (
                "plan/c.rs",
                "pub struct C; fn f() { let _ = crate::plan::a::A; }",
            ),
        ]);
        let offences = check::file_graph(&krate);
        assert_eq!(offences.len(), 1, "{offences:#?}");
        let circle = &offences[0];
        for tie in ["`super::b::B`", "`super::c::C`", "`crate::plan::a::A`"] {
            assert!(circle.contains(tie), "{circle}");
        }
        assert!(circle.contains("src/plan/a.rs, src/plan/b.rs, src/plan/c.rs"));
    }

    #[test]
    fn a_child_may_use_its_parent_but_not_a_folder_above() {
        let krate = read(&[
            ("lib.rs", "pub mod pace;"),
            (
                "pace/mod.rs",
                "pub mod ceiling; pub mod outage; pub struct Pacing;",
            ),
            ("pace/outage.rs", "pub struct Gate;"),
            (
                "pace/ceiling.rs",
                "mod start; pub struct Ceiling; fn f() { start::go() }",
            ),
            (
                "pace/ceiling/start.rs",
                "use super::Ceiling;\nuse crate::pace::{Pacing, outage::Gate};",
            ),
        ]);
        let offences = check::file_graph(&krate);
        assert_eq!(offences.len(), 1, "{offences:#?}");
        assert!(offences[0].starts_with("src/pace/ceiling/start.rs names src/pace/outage.rs"));
        assert!(offences[0].contains("`crate::pace::outage::Gate` (line 2)"));
    }

    #[test]
    fn printing_and_the_command_line_outside_cmd() {
        let krate = read(&[
            ("lib.rs", "pub mod cmd; pub mod plan;"),
            (
                "cmd/mod.rs",
                "fn f() { println!(\"--rate\"); std::process::exit(2) }",
            ),
            (
                "plan/mod.rs",
                "use std::io::IsTerminal;\nuse std::process;\n\
                 fn f() { process::exit(1) }\nfn g() { tokio::spawn(async { eprintln!(\"x\") }); }\n\
                 #[derive(clap::Parser)] struct A;",
            ),
        ]);
        let offences = check::command_line_only(&krate);
        assert_eq!(offences.len(), 4, "{offences:#?}");
        assert!(offences[0].starts_with("src/plan/mod.rs:1: uses IsTerminal"));
        assert!(offences[1].starts_with("src/plan/mod.rs:3: uses std::process::exit"));
        assert!(offences[2].starts_with("src/plan/mod.rs:5: uses clap"));
        assert!(offences[3].starts_with("src/plan/mod.rs:4: prints (eprintln!)"));
    }

    #[test]
    fn test_code_is_skipped_and_code_after_it_still_checked() {
        let krate = read(&[
            ("lib.rs", "pub mod plan;"),
            (
                "plan/mod.rs",
                "#[cfg(test)]\nmod scripted;\nfn a() {}\n\
                 #[cfg(test)]\nmod tests { fn t() { println!(\"in a test\") } }\n\
                 #[test]\nfn alone() { println!(); }\n\
                 impl A { #[cfg(test)] fn helper() { dbg!(1); } }\n\
                 fn b() { println!(\"after the tests\"); }",
            ),
            ("plan/scripted.rs", "mod outage; fn s() { println!() }"),
            ("plan/scripted/outage.rs", "fn o() { println!() }"),
        ]);
        let offences = check::command_line_only(&krate);
        assert_eq!(offences, ["src/plan/mod.rs:9: prints (println!)"]);
        let test_files: BTreeSet<_> = krate
            .test_files
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            test_files,
            BTreeSet::from(["plan/scripted.rs".into(), "plan/scripted/outage.rs".into()])
        );
    }

    #[test]
    fn a_flag_in_a_library_message() {
        let krate = read(&[
            ("lib.rs", "pub mod plan;"),
            (
                "plan/mod.rs",
                "/// Says --rate in prose: fine.\n\
                 #[derive(Debug, thiserror::Error)]\n\
                 #[error(\"--concurrency must be at least 1\")]\nstruct E;\n\
                 fn f(a: i32, b: i32) -> String { let _ = a - -b; format!(\"set --rate {a}\") }",
            ),
        ]);
        let offences = check::command_line_only(&krate);
        assert_eq!(offences.len(), 2, "{offences:#?}");
        assert!(offences[0].starts_with("src/plan/mod.rs:3: names a flag"));
        assert!(offences[1].starts_with("src/plan/mod.rs:5: names a flag"));
        assert!(!check::names_a_flag("a -- b, --9, ---"));
    }

    #[test]
    fn the_map_must_name_every_file() {
        let files: BTreeSet<PathBuf> = [
            "lib.rs",
            "model.rs",
            "pace/mod.rs",
            "pace/ceiling/start.rs",
            "run/mod.rs",
        ]
        .into_iter()
        .map(PathBuf::from)
        .collect();
        let map = "- `src/lib.rs`, `src/model.rs`\n- `src/pace/`: `mod.rs`,\n  `ceiling/start.rs`, `gone.rs`\n- `mod.rs` alone names nothing\n";
        let offences = check::map_names_every_file(map, &files);
        assert_eq!(offences.len(), 2, "{offences:#?}");
        assert!(offences[0].contains("src/run/mod.rs is not in docs/ARCHITECTURE.md"));
        assert!(offences[0].contains("`mod.rs` to the `src/run/` line"));
        assert!(offences[1].contains("names src/pace/gone.rs"));
        let table =
            "| `src/plan/` | jobs | `model` |\n| `src/model.rs`, `src/model/` | values | — |\n";
        assert!(
            check::map_matches_table(table, &[("plan", &["model"]), ("model", &[])]).is_empty()
        );
        assert_eq!(
            check::map_matches_table(table, &[("plan", &[]), ("model", &[])]).len(),
            1
        );
    }
}
