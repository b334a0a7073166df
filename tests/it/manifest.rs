//! `cosinv validate` and `cosinv plan`, run as a user would, on manifests
//! written to a temporary folder.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use cosinv::plan::{self, Shard};

use crate::support::{SECRET_ID, SECRET_KEY, bare_cosinv, stderr, stdout};

/// `cosinv ARGS` to its end, with none of this machine's COS, proxy or
/// certificate settings and HOME in a folder of its own.
fn cosinv(args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    bare_cosinv(home.path(), SECRET_ID, SECRET_KEY)
        .args(args)
        .output()
        .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The problems of `cosinv validate FILES`, with the folder removed.
fn problems(dir: &Path, files: &[&Path]) -> Vec<String> {
    let mut args = vec!["validate"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let output = cosinv(&args);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let prefix = format!("{}/", dir.display());
    stderr(&output)
        .lines()
        .filter(|line| !line.starts_with("cosinv validate:"))
        .map(|line| line.replace(&prefix, ""))
        .collect()
}

const POLICIES: &str = "version: 1
defaults:
  region: ap-guangzhou
  account_id: \"100000000001\"
policies:
  daily:
    schedule: Daily
    optional_fields: [Size, ETag]
    destination:
      bucket: inventory-1250000000
      prefix: \"inv/{bucket}\"
";

#[test]
fn the_examples_validate_and_plan() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
    let org = root.join("org.yaml");
    let fleet = root.join("fleet.csv");
    let output = cosinv(&["validate", org.to_str().unwrap(), fleet.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("ok: "), "{}", stdout(&output));
    let plan = plan::load(&[org, fleet]).unwrap();
    assert!(
        plan.jobs().len() <= 200,
        "the README runs this on every fresh machine"
    );
    assert!(plan.bucket_count() >= 40);
}

#[test]
fn every_kind_of_mistake_is_reported_at_once_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = write(
        dir.path(),
        "org.yaml",
        &format!(
            "{POLICIES}  weekly:
    schedule: weekly
    optional_fields: [Tag]
    filter: {{ tags: {{ team: data }}, period: {{ start: 20, end: 10 }} }}
    destination: {{ bucket: inventory-1250000000, prefix: \"/bad/\" }}
jobs:
  - id: ok
    policy: daily
    buckets: [photos-1250000000, Not_A_Bucket]
  - id: typo
    polcy: daily
    bucket: photos-1250000000
  - id: unknown-policy
    policy: dayly
    bucket: photos-1250000000
  - id: weekly
    policy: weekly
    bucket: photos-1250000000
  - id: \"bad id\"
    policy: daily
    bucket: photos-1250000000
  - id: both
    policy: daily
    bucket: photos-1250000000
    buckets_file: missing.txt
"
        ),
    );
    let csv = write(
        dir.path(),
        "fleet.csv",
        "bucket,id,policy,enabled,colour\nphotos-1250000000,ok,daily,yes,red\n",
    );
    let problems = problems(dir.path(), &[&yaml, &csv]);
    assert_eq!(
        problems,
        [
            "org.yaml:13: schedule: \"weekly\" is not one of Daily, Weekly, Monthly (did you mean \"Weekly\"? \
             values are case-sensitive) (job \"weekly\" at org.yaml:27)",
            "org.yaml:15: filter.period: start 20 must be before end 10 (Unix seconds) (job \"weekly\" at org.yaml:27)",
            "org.yaml:16: destination.prefix: \"/bad/\" starts with '/'; write \"bad\" (job \"weekly\" at org.yaml:27)",
            "org.yaml:20: bucket: \"Not_A_Bucket\" is not a COS bucket name: no -APPID suffix; expected \
             <name>-<APPID> such as examplebucket-1250000000",
            "org.yaml:22: polcy: unknown key \"polcy\"; did you mean \"policy\"?",
            "org.yaml:25: policy: unknown policy \"dayly\"; did you mean \"daily\"?",
            "org.yaml:30: id: \"bad id\" contains ' '; only letters, digits, '-', '_' and '.' are allowed",
            "org.yaml:36: buckets_file: give only one of bucket, buckets, buckets_file and discover (this job has bucket and buckets_file)",
            "fleet.csv:1: colour: unknown column \"colour\"; expected one of bucket, region, id, policy, enabled, \
             schedule, included_object_versions, filter_prefix, optional_fields, destination_bucket, \
             destination_region, destination_prefix, destination_account_id, encryption, monthly_date; \
             to keep a column cosinv should ignore, name it x-colour (columns starting with x- or # \
             are ignored)",
        ],
        "{problems:#?}"
    );
}

#[test]
fn csv_rows_are_located_by_file_line() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = write(dir.path(), "policies.yaml", POLICIES);
    let csv = write(
        dir.path(),
        "fleet.csv",
        "bucket,region,id,policy,enabled,schedule,destination_prefix\n\
         a-1250000000,,x,daily,,,\n\
         \n\
         b-1250000000,Bad Region,x,daily,,,\n\
         c-1250000000,,x,daily,maybe,,\n\
         d-1250000000,,x,nope,,,\n\
         e-1250000000,,x,daily,,Hourly,\n\
         f-1250000000,,x,daily,,,{bucket}/\n\
         g-1250000000,,,daily,,,\n\
         h-1250000000,x\n",
    );
    let problems = problems(dir.path(), &[&yaml, &csv]);
    assert_eq!(
        problems,
        [
            "fleet.csv:4: region: \"Bad Region\" is not a COS region; expected lowercase letters, digits and '-', such as ap-guangzhou",
            "fleet.csv:5: enabled: \"maybe\" is not true or false",
            "fleet.csv:6: policy: unknown policy \"nope\"; defined: daily",
            "fleet.csv:7: schedule: \"Hourly\" is not one of Daily, Weekly, Monthly",
            "fleet.csv:8: destination_prefix: \"{bucket}/\" ends with '/'; COS appends one itself, so \
             reports would land under \"{bucket}//\"; write \"{bucket}\"",
            "fleet.csv:9: id: empty; every row needs the inventory id to write",
            "fleet.csv:10: row: has 2 cells but the header has 7; quote cells that contain commas",
        ],
        "{problems:#?}"
    );
}

#[test]
fn a_duplicate_across_files_names_both_places() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = write(
        dir.path(),
        "org.yaml",
        &format!(
            "{POLICIES}jobs:\n  - id: daily\n    policy: daily\n    buckets: [photos-1250000000]\n"
        ),
    );
    let csv = write(
        dir.path(),
        "b.csv",
        "bucket,id,policy\nlogs-1250000000,daily,daily\nphotos-1250000000,daily,daily\n",
    );
    let problems = problems(dir.path(), &[&yaml, &csv]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    let problem = &problems[0];
    assert!(
        problem
            == "b.csv:3: bucket: job (photos-1250000000, daily) is also defined at org.yaml:15; each (bucket, id) may appear once"
            || problem
                == "org.yaml:15: bucket: job (photos-1250000000, daily) is also defined at b.csv:3; each (bucket, id) may appear once",
        "{problem}"
    );
}

fn many_ids(dir: &Path, ids: usize) -> PathBuf {
    let mut yaml = format!("{POLICIES}jobs:\n");
    for id in 0..ids {
        yaml.push_str(&format!(
            "  - id: job-{id:04}\n    policy: daily\n    bucket: photos-1250000000\n"
        ));
    }
    write(dir, "many.yaml", &yaml)
}

#[test]
fn the_limit_is_1000_jobs_per_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let at_limit = many_ids(dir.path(), 1000);
    let output = cosinv(&["validate", at_limit.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("1000 jobs on 1 bucket "));
    let over = many_ids(dir.path(), 1001);
    let problems = problems(dir.path(), &[&over]);
    assert_eq!(
        problems,
        [
            "many.yaml:3015: bucket: bucket photos-1250000000: 1001 jobs, limit 1000; COS refuses more, \
          so move some ids to other buckets"
        ]
    );
}

#[test]
fn no_jobs_empty_files_and_unknown_file_types_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let only_policies = write(dir.path(), "policies.yaml", POLICIES);
    assert_eq!(
        problems(dir.path(), &[&only_policies]),
        ["policies.yaml:1: jobs: the manifests define no jobs; add a jobs: list or a CSV fleet"]
    );
    let empty_yaml = write(dir.path(), "empty.yaml", "");
    let empty_csv = write(dir.path(), "empty.csv", "");
    let text = write(dir.path(), "notes.txt", "hello");
    let problems = problems(dir.path(), &[&empty_yaml, &empty_csv, &text]);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].starts_with("empty.yaml:1: file: is empty"));
    assert!(problems[1].starts_with("empty.csv:1: file: is empty"));
    assert!(problems[2].starts_with("notes.txt:1: file: is neither YAML nor CSV"));
}

#[test]
fn hostile_input_is_a_clear_error_never_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = write(
        dir.path(),
        "bomb.yaml",
        "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n\
         d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n\
         g: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n",
    );
    let deep = write(dir.path(), "deep.yaml", &"[".repeat(200_000));
    let binary = dir.path().join("binary.csv");
    std::fs::write(&binary, b"bucket,id\n\xff\xfe,\x00\n").unwrap();
    let folder = write(
        dir.path(),
        "folder.yaml",
        &format!("{POLICIES}jobs:\n  - id: x\n    policy: daily\n    buckets_file: .\n"),
    );
    // Sparse files: huge to the planner, nothing on disk.
    let huge_yaml = dir.path().join("huge.yaml");
    std::fs::File::create(&huge_yaml)
        .unwrap()
        .set_len(100 << 20)
        .unwrap();
    let huge_csv = dir.path().join("huge.csv");
    std::fs::File::create(&huge_csv)
        .unwrap()
        .set_len(5 << 30)
        .unwrap();
    for file in [&bomb, &deep, &binary, &folder, &huge_yaml, &huge_csv] {
        let output = cosinv(&["validate", file.to_str().unwrap()]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{}: {}",
            file.display(),
            stderr(&output)
        );
        assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
        let first = stderr(&output).lines().next().unwrap_or("").to_string();
        assert!(
            first.contains(&file.file_name().unwrap().to_string_lossy().to_string()),
            "{first}"
        );
    }
}

#[test]
fn plan_text_and_json_show_every_job_per_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = write(
        dir.path(),
        "org.yaml",
        &format!(
            "{POLICIES}jobs:\n  - id: daily\n    policy: daily\n    buckets: [photos-1250000000, logs-1250000000]\n    \
             set: {{ schedule: Weekly }}\n"
        ),
    );
    let output = cosinv(&["plan", "--no-refresh", yaml.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.starts_with("logs-1250000000 (ap-guangzhou)\n  + put daily  Weekly"),
        "{text}"
    );
    assert!(
        text.contains("cos://inventory-1250000000/inv/photos-1250000000/"),
        "{text}"
    );
    assert!(
        text.contains(
            "\nplan: 2 jobs on 2 buckets: 0 to create, 0 to update, 0 to delete, \
                       0 unchanged, 2 to put;"
        ),
        "{text}"
    );

    let output = cosinv(&[
        "plan",
        "--no-refresh",
        yaml.to_str().unwrap(),
        "--output",
        "json",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["schema_version"], 3);
    assert_eq!(json["refreshed"], false);
    assert_eq!(json["summary"]["jobs"], 2);
    assert_eq!(json["summary"]["put"], 2);
    let first = &json["buckets"][0];
    assert_eq!(first["bucket"], "logs-1250000000");
    let job = &first["jobs"][0];
    assert_eq!(job["id"], "daily");
    assert_eq!(job["schedule"], "Weekly");
    assert_eq!(job["included_object_versions"], "All");
    assert_eq!(job["optional_fields"], serde_json::json!(["Size", "ETag"]));
    assert_eq!(
        job["destination"]["arn"],
        "qcs::cos:ap-guangzhou::inventory-1250000000"
    );
    assert_eq!(job["destination"]["prefix"], "inv/logs-1250000000");
    assert_eq!(job["destination"]["account_id"], "100000000001");
    assert!(
        job["source"].as_str().unwrap().ends_with("org.yaml:15"),
        "{job}"
    );
}

#[test]
fn shards_split_every_job_into_exactly_one_shard_stably() {
    let dir = tempfile::tempdir().unwrap();
    let names: String = (0..300).map(|i| format!("b{i:04}-1250000000\n")).collect();
    write(dir.path(), "buckets.txt", &names);
    let yaml = write(
        dir.path(),
        "org.yaml",
        &format!(
            "{POLICIES}jobs:\n  - id: a\n    policy: daily\n    buckets_file: buckets.txt\n  \
             - id: b\n    policy: daily\n    buckets_file: buckets.txt\n"
        ),
    );
    let plan = plan::load(std::slice::from_ref(&yaml)).unwrap();
    let all: BTreeSet<(String, String)> = plan
        .jobs()
        .iter()
        .map(|job| (job.bucket().to_string(), job.id().to_string()))
        .collect();
    let mut union = BTreeSet::new();
    for index in 0..4 {
        let shard = Shard { index, count: 4 };
        let part = plan.clone().shard(shard);
        assert!(!part.jobs().is_empty());
        for job in part.jobs() {
            // A bucket's jobs stay together.
            assert_eq!(
                plan.jobs()
                    .iter()
                    .filter(|j| j.bucket() == job.bucket())
                    .count(),
                part.jobs()
                    .iter()
                    .filter(|j| j.bucket() == job.bucket())
                    .count()
            );
            assert!(union.insert((job.bucket().to_string(), job.id().to_string())));
        }
    }
    assert_eq!(union, all);

    // The binary agrees with the library, run after run.
    let json = |shard: &str| {
        let output = cosinv(&[
            "plan",
            "--no-refresh",
            yaml.to_str().unwrap(),
            "--output",
            "json",
            "--shard",
            shard,
        ]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    let first = json("1/4");
    assert_eq!(first, json("1/4"));
    assert_eq!(first["shard"], "1/4");
    let expected = plan
        .clone()
        .shard(Shard { index: 1, count: 4 })
        .jobs()
        .len();
    assert_eq!(first["summary"]["jobs"], expected);

    let output = cosinv(&[
        "plan",
        "--no-refresh",
        yaml.to_str().unwrap(),
        "--shard",
        "4/4",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("K/N"), "{}", stderr(&output));
}

#[test]
fn every_problem_of_a_destination_is_reported_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write(
        dir.path(),
        "m.yaml",
        "version: 1
jobs:
  - id: daily
    bucket: photos-1250000000
    region: ap-guangzhou
    set:
      schedule: Daily
      optional_fields: [Size, Nope, Size]
      destination:
        bucket: \"qcs::cos:ap-guangzhou::\"
        account_id: \"12ab\"
        encryption: AES
        format: XML
",
    );
    let found = problems(dir.path(), &[&manifest]);
    let fields: BTreeSet<&str> = found
        .iter()
        .filter_map(|line| line.split(": ").nth(1))
        .collect();
    for field in [
        "destination.bucket",
        "destination.account_id",
        "destination.encryption",
        "destination.format",
        "optional_fields",
    ] {
        assert!(fields.contains(field), "{field} missing from {found:#?}");
    }
    // The unknown name and the duplicate, both in this one run.
    let optional: Vec<&String> = found
        .iter()
        .filter(|line| line.contains(": optional_fields: "))
        .collect();
    assert_eq!(optional.len(), 2, "{found:#?}");
}

#[test]
fn duplicate_jobs_are_reported_in_manifest_order_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = String::from(POLICIES);
    yaml.push_str("jobs:\n");
    // Enough copies that the sort is not a small-slice insertion sort.
    let copies = 40;
    for _ in 0..copies {
        yaml.push_str(
            "  - id: daily\n    policy: daily\n    buckets: [a-1250000000, b-1250000000]\n",
        );
    }
    let manifest = write(dir.path(), "m.yaml", &yaml);
    let mut expected = Vec::new();
    for copy in 1..copies {
        let (line, first) = (15 + 3 * copy, 15 + 3 * (copy - 1));
        for bucket in ["a-1250000000", "b-1250000000"] {
            expected.push(format!(
                "m.yaml:{line}: bucket: job ({bucket}, daily) is also defined at m.yaml:{first}; \
                 each (bucket, id) may appear once"
            ));
        }
    }
    for _ in 0..3 {
        assert_eq!(problems(dir.path(), &[&manifest]), expected);
    }
}
