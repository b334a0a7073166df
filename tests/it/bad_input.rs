//! The bad-input corpus: every row of `tests/data/bad-input/expected.tsv`
//! is one run of the real binary, `cosinv validate FILES`, which must exit
//! 2, start its report with the expected `file:line: field`, count the
//! expected problems, print none of the row's `absent` text, never panic,
//! and never hang (killed after [`HANG`], which fails the test).
//!
//! Files named `gen:NAME` are too big to commit (100 MiB and more): they
//! are written to a temporary folder when the test runs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A run that takes this long is hung, not slow: every case takes well
/// under a second but the generated 100 MiB ones (a few seconds).
const HANG: Duration = Duration::from_secs(20);
/// Enough blank lines to make the generated CSV 100 MiB.
const HUGE: usize = 100 * 1024 * 1024;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad-input")
}

/// One row of the table.
#[derive(Debug)]
struct Case {
    row: usize,
    files: Vec<String>,
    first: String,
    count: Option<usize>,
    absent: Vec<String>,
}

impl Case {
    fn is_generated(&self) -> bool {
        self.files.iter().any(|file| file.starts_with("gen:"))
    }
}

fn cases() -> Vec<Case> {
    let table = std::fs::read_to_string(corpus().join("expected.tsv")).unwrap();
    let mut rows = table
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.starts_with('#') && !line.trim().is_empty());
    let header = rows.next().expect("a header row").1;
    assert_eq!(header, "files\tfirst\tcount\tabsent\tstatus\tnote");
    rows.map(|(index, line)| {
        let cells: Vec<&str> = line.split('\t').collect();
        assert_eq!(cells.len(), 6, "expected.tsv:{}: {line}", index + 1);
        assert!(
            matches!(cells[4], "ok" | "lead"),
            "expected.tsv:{}: status {:?}",
            index + 1,
            cells[4]
        );
        Case {
            row: index + 1,
            files: cells[0].split(' ').map(str::to_string).collect(),
            first: cells[1].to_string(),
            count: (cells[2] != "-").then(|| cells[2].parse().unwrap()),
            absent: match cells[3] {
                "-" => Vec::new(),
                list => list.split(',').map(str::to_string).collect(),
            },
        }
    })
    .collect()
}

/// What a run printed.
struct Run {
    code: Option<i32>,
    stderr: String,
}

/// `cosinv validate FILES` with a hang guard.
fn validate(files: &[PathBuf]) -> Result<Run, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cosinv"))
        .arg("validate")
        .args(files)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot start cosinv: {err}"))?;
    let mut pipe = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|err| err.to_string())? {
            break status;
        }
        if started.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("hung: killed after {} s", HANG.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stderr = reader.join().expect("the stderr reader");
    Ok(Run {
        code: status.code(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

/// Runs one case; what is wrong with its outcome, if anything.
fn check(case: &Case, generated: &Path) -> Result<(), String> {
    let paths: Vec<PathBuf> = case
        .files
        .iter()
        .map(|file| match file.strip_prefix("gen:") {
            Some(name) => generate(name, generated),
            None => corpus().join(file),
        })
        .collect();
    let run = validate(&paths)?;
    let stderr = &run.stderr;
    for panic in ["panicked at", "RUST_BACKTRACE"] {
        if stderr.contains(panic) {
            return Err(format!("panicked:\n{stderr}"));
        }
    }
    if run.code != Some(2) {
        return Err(format!("exit code {:?}, not 2:\n{stderr}", run.code));
    }
    let first = stderr.lines().next().unwrap_or("");
    let folders = [corpus(), generated.to_path_buf()];
    let shown = folders
        .iter()
        .find_map(|folder| first.strip_prefix(&format!("{}/", folder.display())))
        .unwrap_or(first);
    if !shown.starts_with(&format!("{}: ", case.first)) {
        return Err(format!("first problem is not {:?}:\n{stderr}", case.first));
    }
    if let Some(expected) = case.count {
        let total = problem_count(stderr);
        if total != Some(expected) {
            return Err(format!(
                "counted {total:?} problems, not {expected}:\n{stderr}"
            ));
        }
    }
    if let Some(leaked) = case
        .absent
        .iter()
        .find(|text| stderr.contains(text.as_str()))
    {
        return Err(format!("printed {leaked:?}:\n{stderr}"));
    }
    Ok(())
}

/// N in the last line, `cosinv validate: N problem(s) in the manifests`.
fn problem_count(stderr: &str) -> Option<usize> {
    let last = stderr.lines().last()?;
    let rest = last.strip_prefix("cosinv validate: ")?;
    rest.split(' ').next()?.parse().ok()
}

/// Runs `cases`, reporting every failure at once.
fn run_all(cases: &[&Case]) {
    let generated = tempfile::tempdir().unwrap();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            check(case, generated.path())
                .err()
                .map(|why| format!("expected.tsv:{} {:?}: {why}", case.row, case.files))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_committed_bad_input_exits_2_naming_its_first_problem() {
    let cases = cases();
    let committed: Vec<&Case> = cases.iter().filter(|case| !case.is_generated()).collect();
    assert!(committed.len() >= 80, "only {} cases", committed.len());
    run_all(&committed);
}

#[test]
fn huge_inputs_are_refused_plainly_without_hanging() {
    let cases = cases();
    let generated: Vec<&Case> = cases.iter().filter(|case| case.is_generated()).collect();
    assert!(
        generated.len() >= 5,
        "only {} generated cases",
        generated.len()
    );
    run_all(&generated);
}

/// A file in the corpus that no row runs is a test nobody runs.
#[test]
fn every_corpus_file_is_in_the_table() {
    let cases = cases();
    let listed: Vec<&str> = cases
        .iter()
        .flat_map(|case| case.files.iter().map(String::as_str))
        .collect();
    let mut files = 0;
    for entry in std::fs::read_dir(corpus()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() || name == "expected.tsv" {
            continue;
        }
        files += 1;
        assert!(listed.contains(&name.as_str()), "{name} is in no row");
    }
    assert!(files >= 80, "the corpus has {files} files");
}

/// Writes the generated file `name` into `folder` (once) and says where.
fn generate(name: &str, folder: &Path) -> PathBuf {
    let path = folder.join(name);
    if path.exists() {
        return path;
    }
    match name {
        "huge.yaml" => {
            let mut text = String::from("version: 1\n");
            let padding = "# padding to make the file too large for a manifest\n";
            text.push_str(&padding.repeat(HUGE / padding.len() + 1));
            std::fs::write(&path, text).unwrap();
        }
        "huge-blank-lines.csv" => {
            let mut bytes = b"bucket,id,policy\n".to_vec();
            bytes.resize(bytes.len() + HUGE, b'\n');
            bytes.extend_from_slice(b"photos-1250000000,BAD ID,daily\n");
            std::fs::write(&path, bytes).unwrap();
        }
        "huge-line.csv" => {
            let mut bytes = b"bucket,id,policy\n".to_vec();
            bytes.resize(bytes.len() + HUGE, b'a');
            bytes.push(b'\n');
            std::fs::write(&path, bytes).unwrap();
        }
        "huge-junk-buckets.yaml" => {
            let junk = "Junk Line That Is No Bucket\n";
            std::fs::write(folder.join("huge-junk.txt"), junk.repeat(HUGE / junk.len())).unwrap();
            std::fs::write(
                &path,
                "version: 1\ndefaults: { region: ap-guangzhou }\njobs:\n  - id: a\n    \
                 buckets_file: huge-junk.txt\n    set: { schedule: Daily, destination: \
                 { bucket: inventory-1250000000 } }\n",
            )
            .unwrap();
        }
        "huge-key.yaml" => {
            let key = "k".repeat(60 * 1024 * 1024);
            std::fs::write(&path, format!("version: 1\n? {key}\n: 1\n")).unwrap();
        }
        "huge-sparse.csv" => {
            // Sparse: 5 GiB to cosinv, nothing on disk.
            std::fs::File::create(&path)
                .unwrap()
                .set_len(5 << 30)
                .unwrap();
        }
        other => panic!("no generator for gen:{other}"),
    }
    path
}

/// The fix a problem line suggests: `did you mean "X"`, `write "X"` or
/// (for a column to keep) `name it x-owner`.
fn suggested_fix(line: &str) -> Option<&str> {
    quoted_after(line, "did you mean \"")
        .or_else(|| quoted_after(line, "write \""))
        .or_else(|| {
            let (_, after) = line.split_once("name it ")?;
            let name = after.split([' ', ')']).next()?;
            (name.len() > 2 && name.starts_with("x-")).then_some(name)
        })
}

/// The quoted text after the last `marker` in `message`.
fn quoted_after<'a>(message: &'a str, marker: &str) -> Option<&'a str> {
    let (_, after) = message.rsplit_once(marker)?;
    Some(after.split_once('"')?.0)
}

/// Every fix a message suggests ("did you mean …", "write …") is applied
/// to the file where the problem is, and the manifests must then validate:
/// a suggestion that is itself refused sends the operator round in circles.
#[test]
fn every_suggested_fix_validates() {
    let folder = tempfile::tempdir().unwrap();
    let mut applied = Vec::new();
    for case in cases() {
        let committed = case.files.iter().all(|file| !file.contains(['/', ':']));
        if case.count != Some(1) || !committed {
            continue;
        }
        let paths: Vec<PathBuf> = case.files.iter().map(|file| corpus().join(file)).collect();
        let run = validate(&paths).unwrap();
        let first = run.stderr.lines().next().unwrap_or("");
        let Some(fix) = suggested_fix(first) else {
            continue;
        };
        // file:line: field: message, the file from the corpus folder.
        let shown = first
            .strip_prefix(&format!("{}/", corpus().display()))
            .unwrap();
        let mut parts = shown.splitn(4, ": ");
        let (place, message) = (parts.next().unwrap(), parts.nth(1).unwrap());
        let (file, line) = place.rsplit_once(':').unwrap();
        let wrong = message.split('"').nth(1).unwrap();
        assert!(!wrong.contains('\\') && !fix.contains('\\'), "{first}");
        for name in &case.files {
            let mut text = std::fs::read_to_string(corpus().join(name)).unwrap();
            if name == file {
                let line: usize = line.parse().unwrap();
                let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
                assert!(lines[line - 1].contains(wrong), "{first}");
                lines[line - 1] = lines[line - 1].replacen(wrong, fix, 1);
                text = lines.join("\n") + "\n";
            }
            std::fs::write(folder.path().join(name), text).unwrap();
        }
        let fixed: Vec<PathBuf> = case.files.iter().map(|f| folder.path().join(f)).collect();
        let after = validate(&fixed).unwrap();
        assert_eq!(
            after.code,
            Some(0),
            "{file}: {wrong:?} → {fix:?} does not validate:\n{}",
            after.stderr
        );
        applied.push(format!("{file}: {wrong} → {fix}"));
    }
    // Regions, keys, columns, enums, policies, prefixes and placeholders.
    assert!(
        applied.len() >= 19,
        "only {} fixes applied: {applied:#?}",
        applied.len()
    );
}
