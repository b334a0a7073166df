//! The rules, as functions from a read [`Crate`] (and the map's text) to
//! offences, one line each, so the tests on the real tree and on made-up
//! sources share them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::source::{Crate, File, Target};

/// Top-level module → the top-level modules it may import.
pub type Allowed<'a> = &'a [(&'a str, &'a [&'a str])];

/// Macros that print: only the command layer talks to the terminal.
const PRINTING: &[&str] = &["println", "eprintln", "print", "eprint", "dbg"];

/// Crates only the command layer uses.
const COMMAND_LINE_CRATES: &[&str] = &["clap", "indicatif"];

/// The top-level module a file belongs to; `None` for the crate roots.
fn top(file: &File) -> Option<&str> {
    file.module.first().map(String::as_str)
}

fn show(path: &Path) -> String {
    format!("src/{}", path.display())
}

/// Imports between top-level modules go only where `allowed` says; the
/// binary names only `binary_may`. A module missing from the table is an
/// offence of its own.
pub fn layering(krate: &Crate, allowed: Allowed, binary_may: &[&str]) -> Vec<String> {
    let table: BTreeMap<&str, BTreeSet<&str>> = allowed
        .iter()
        .map(|(module, may)| (*module, may.iter().copied().collect()))
        .collect();
    let mut offences = Vec::new();
    for module in krate.modules.keys().filter(|path| path.len() == 1) {
        if !table.contains_key(module[0].as_str()) {
            offences.push(format!("module {} is not in the map", module[0]));
        }
    }
    for (path, file) in &krate.files {
        let (own, may) = match top(file) {
            _ if file.binary => ("the binary", binary_may.iter().copied().collect()),
            None => continue,
            Some(own) => (own, table.get(own).cloned().unwrap_or_default()),
        };
        for named in &file.names {
            let Target::Crate(target) = &named.target else {
                continue;
            };
            let Some(to) = target.first().map(String::as_str) else {
                continue;
            };
            let is_module = krate.modules.contains_key(&target[..1]);
            if is_module && to != own && !may.contains(to) {
                offences.push(format!(
                    "{}:{}: {own} imports {to} (`{}`)",
                    show(path),
                    named.line,
                    named.written
                ));
            }
        }
    }
    offences
}

/// Outside `cmd`: no clap or indicatif, no `IsTerminal`, no
/// `std::process::exit`, no printing macro, no flag named in a string.
pub fn command_line_only(krate: &Crate) -> Vec<String> {
    let mut offences = Vec::new();
    for (path, file) in &krate.files {
        if top(file) == Some("cmd") {
            continue;
        }
        for named in &file.names {
            if let Some(why) = command_line_name(&named.target) {
                offences.push(format!(
                    "{}:{}: uses {why} (`{}`)",
                    show(path),
                    named.line,
                    named.written
                ));
            }
        }
        for (name, line) in &file.macros {
            if PRINTING.contains(&name.as_str()) {
                offences.push(format!("{}:{line}: prints ({name}!)", show(path)));
            }
        }
        for (text, line) in &file.literals {
            if names_a_flag(text) {
                offences.push(format!("{}:{line}: names a flag ({text:?})", show(path)));
            }
        }
    }
    offences
}

/// Why a resolved path belongs to the command layer, if it does.
fn command_line_name(target: &Target) -> Option<String> {
    let segments = match target {
        Target::Crate(segments) | Target::Outside(segments) => segments,
    };
    if segments.iter().any(|segment| segment == "IsTerminal") {
        return Some("IsTerminal".into());
    }
    let Target::Outside(segments) = target else {
        return None;
    };
    let first = segments.first()?.as_str();
    if COMMAND_LINE_CRATES.contains(&first) {
        return Some(first.into());
    }
    (*segments == ["std", "process", "exit"]).then(|| "std::process::exit".into())
}

/// A `--word` in a string: a flag's name in library text, which only `cmd`
/// may word (it knows the flags; the library reports values and types).
pub fn names_a_flag(text: &str) -> bool {
    text.match_indices("--").any(|(at, _)| {
        text[at + 2..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase())
    })
}

/// Edges between files: what each file names in another file, by target.
type Edges = BTreeMap<PathBuf, BTreeMap<PathBuf, Vec<String>>>;

/// The file graph: an edge for every path a file names in another file
/// and for every `mod x;` it declares, without the edges from a file to
/// its own ancestors' module files (a child lives inside its parent).
fn file_edges(krate: &Crate) -> Edges {
    let mut edges = Edges::new();
    for (path, file) in &krate.files {
        let ancestors = krate.ancestors(path);
        let mut add = |to: &PathBuf, why: String| {
            if to != path && !ancestors.contains(&to) {
                let out = edges.entry(path.clone()).or_default();
                out.entry(to.clone()).or_default().push(why);
            }
        };
        for child in &file.children {
            add(child, "declares it".into());
        }
        for named in &file.names {
            let Target::Crate(target) = &named.target else {
                continue;
            };
            if let Some(to) = krate.file_of(target) {
                add(to, format!("`{}` (line {})", named.written, named.line));
            }
        }
    }
    edges
}

/// No circle between files, and within a top-level module no file names a
/// file in a folder above its own unless that file is one of its ancestors.
pub fn file_graph(krate: &Crate) -> Vec<String> {
    let edges = file_edges(krate);
    let mut offences = Vec::new();
    for circle in circles(&edges) {
        let mut ties = Vec::new();
        for from in &circle {
            for (to, why) in &edges[from] {
                if circle.contains(to) {
                    ties.push(format!("  {} → {}: {}", show(from), show(to), some(why)));
                }
            }
        }
        let files: Vec<String> = circle.iter().map(|file| show(file)).collect();
        offences.push(format!(
            "a circle between {}:\n{}",
            files.join(", "),
            ties.join("\n")
        ));
    }
    for (from, out) in &edges {
        let folder = from.parent().unwrap_or(Path::new(""));
        let own = krate.files.get(from).and_then(top);
        for (to, why) in out {
            let same_module = own.is_some() && krate.files.get(to).and_then(top) == own;
            if same_module && !to.starts_with(folder) {
                offences.push(format!(
                    "{} names {} in a folder above its own: {}",
                    show(from),
                    show(to),
                    some(why)
                ));
            }
        }
    }
    offences
}

/// The first few names that tie two files, and how many more there are.
fn some(why: &[String]) -> String {
    const SHOWN: usize = 4;
    let mut text = why[..why.len().min(SHOWN)].join(", ");
    if why.len() > SHOWN {
        text.push_str(&format!(" and {} more", why.len() - SHOWN));
    }
    text
}

/// The strongly connected components of more than one file (Tarjan).
fn circles(edges: &Edges) -> Vec<Vec<PathBuf>> {
    struct Tarjan<'a> {
        edges: &'a Edges,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        found: Vec<Vec<PathBuf>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, node: &'a PathBuf) {
            let order = self.index.len();
            self.index.insert(node, order);
            self.low.insert(node, order);
            self.stack.push(node);
            for next in self.edges.get(node).into_iter().flat_map(BTreeMap::keys) {
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.stack.contains(&next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let at = self.stack.iter().rposition(|n| *n == node).unwrap();
                let component: Vec<PathBuf> = self.stack.drain(at..).cloned().collect();
                if component.len() > 1 {
                    self.found.push(component);
                }
            }
        }
    }
    let mut tarjan = Tarjan {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for node in edges.keys() {
        if !tarjan.index.contains_key(node) {
            tarjan.visit(node);
        }
    }
    for circle in &mut tarjan.found {
        circle.sort();
    }
    tarjan.found
}

/// The source files the map names. A file is named by its path from the
/// repository root (`src/pace/ceiling/start.rs`) anywhere, or by its path
/// from its folder (`ceiling/start.rs`) in a list item or table row whose
/// first folder in backquotes is that folder (`src/pace/`); an item goes on
/// over the indented lines after it. Paths returned are from `src/`.
pub fn named_in_map(map: &str) -> BTreeSet<PathBuf> {
    let mut named = BTreeSet::new();
    for item in items(map) {
        let quoted: Vec<&str> = item.split('`').skip(1).step_by(2).collect();
        let folder = quoted
            .iter()
            .find(|name| name.starts_with("src/") && name.ends_with('/'));
        for name in quoted.iter().filter(|name| name.ends_with(".rs")) {
            if let Some(full) = name.strip_prefix("src/") {
                named.insert(PathBuf::from(full));
            } else if let Some(folder) = folder {
                named.insert(Path::new(&folder["src/".len()..]).join(name));
            }
        }
    }
    named
}

/// The map's list items, table rows and paragraphs, each as one string.
fn items(map: &str) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    for line in map.lines() {
        let goes_on = line.starts_with(' ') && !line.trim().is_empty();
        match items.last_mut() {
            Some(item) if goes_on => {
                item.push(' ');
                item.push_str(line.trim());
            }
            _ => items.push(line.to_string()),
        }
    }
    items
}

/// Every file under `src/` named in the map, and the map naming no file
/// that is not there.
pub fn map_names_every_file(map: &str, files: &BTreeSet<PathBuf>) -> Vec<String> {
    let named = named_in_map(map);
    let mut offences = Vec::new();
    for file in files.difference(&named) {
        let folder = file.parent().filter(|dir| !dir.as_os_str().is_empty());
        let (line, name) = match folder {
            Some(_) => {
                let top = file
                    .components()
                    .next()
                    .unwrap()
                    .as_os_str()
                    .to_string_lossy();
                let relative = file.strip_prefix(&*top).unwrap();
                (format!("src/{top}/"), relative.display().to_string())
            }
            None => ("src/".to_string(), show(file)),
        };
        offences.push(format!(
            "{} is not in docs/ARCHITECTURE.md: add `{name}` to the `{line}` line of the file list",
            show(file)
        ));
    }
    for stale in named.difference(files) {
        offences.push(format!(
            "docs/ARCHITECTURE.md names {}, which is not there",
            show(stale)
        ));
    }
    offences
}

/// The code map's "may import" column against the table: each row whose
/// first cell names a top-level folder lists exactly what it may import.
pub fn map_matches_table(map: &str, allowed: Allowed) -> Vec<String> {
    let mut rows = BTreeMap::new();
    for line in map.lines().filter(|line| line.starts_with("| `src/")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').collect();
        let quoted = |cell: &str| -> Vec<String> {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect()
        };
        let first = quoted(cells[0]);
        let name = first[0].trim_start_matches("src/");
        let name = name
            .trim_end_matches('/')
            .trim_end_matches(".rs")
            .to_string();
        let may: BTreeSet<String> = quoted(cells.last().unwrap()).into_iter().collect();
        rows.insert(name, may);
    }
    let mut offences = Vec::new();
    for (module, may) in allowed {
        let want: BTreeSet<String> = may.iter().map(|m| m.to_string()).collect();
        match rows.get(*module) {
            None => offences.push(format!("the code map has no row for src/{module}")),
            Some(got) if *got != want => offences.push(format!(
                "the code map says {module} may import {got:?}; the table says {want:?}"
            )),
            Some(_) => {}
        }
    }
    offences
}
