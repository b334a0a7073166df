//! Reading what a run wrote: report rows, the sidecar; and what the
//! emulator holds against the manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use cosinv::emulator::{Counters, Emulator};
use cosinv::model::InventoryConfiguration;
use cosinv::report::HEADER;

/// A report row: column → value.
pub(crate) type Row = BTreeMap<String, String>;

/// The report's rows as maps column → value, after checking the header.
pub(crate) fn read_report(path: &Path) -> Vec<Row> {
    rows_of(&std::fs::read(path).unwrap())
}

/// CSV text's rows as maps column → value, after checking the header.
pub(crate) fn rows_of(text: &[u8]) -> Vec<Row> {
    let mut reader = csv::Reader::from_reader(text);
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(header, HEADER);
    reader
        .records()
        .map(|record| {
            header
                .iter()
                .cloned()
                .zip(record.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect()
}

/// The sidecar `cosinv apply` wrote next to `report`.
pub(crate) fn read_sidecar(report: &Path) -> serde_json::Value {
    let mut path = report.as_os_str().to_owned();
    path.push(".json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every (bucket, id) of the report, checking each appears once.
pub(crate) fn jobs_once(rows: &[Row]) -> BTreeSet<(String, String)> {
    let mut seen = BTreeSet::new();
    for row in rows {
        let key = (row["bucket"].clone(), row["id"].clone());
        assert!(seen.insert(key.clone()), "{key:?} has two rows");
    }
    seen
}

pub(crate) fn outcomes(rows: &[Row]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for row in rows {
        *counts.entry(row["outcome"].clone()).or_default() += 1;
    }
    counts
}

/// `{"applied": jobs}`: what a run that applied everything reports.
pub(crate) fn all_applied(jobs: usize) -> BTreeMap<String, usize> {
    BTreeMap::from([("applied".to_string(), jobs)])
}

/// Fills `bucket` to COS's limit of inventory jobs: copies of the
/// manifest's first configuration, as ids `existing-N`.
pub(crate) fn fill_to_the_limit(emulator: &Emulator, manifest: &Path, bucket: &str) {
    let template = cosinv::plan::load(&[manifest.to_path_buf()])
        .unwrap()
        .jobs()[0]
        .config();
    for n in 0..cosinv::model::MAX_JOBS_PER_BUCKET {
        let mut config = template.clone();
        config.id = cosinv::model::InventoryId::parse(&format!("existing-{n}")).unwrap();
        emulator.insert_inventory(bucket, config);
    }
}

/// The emulator holds exactly the manifest's configurations.
pub(crate) fn assert_state_matches(emulator: &Emulator, manifest: &Path) {
    let plan = cosinv::plan::load(&[manifest.to_path_buf()]).unwrap();
    let mut expected: BTreeMap<String, Vec<InventoryConfiguration>> = BTreeMap::new();
    for job in plan.jobs() {
        expected
            .entry(job.bucket().as_str().to_string())
            .or_default()
            .push(job.config());
    }
    for (bucket, mut configs) in expected {
        configs.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(emulator.inventory(&bucket), configs, "bucket {bucket}");
    }
}

/// Requests the emulator answered with `status` (every method), or
/// ended with a fault such as `reset`.
pub(crate) fn answered(counters: &Counters, status: &str) -> u64 {
    counters
        .requests
        .iter()
        .filter(|((_, outcome), _)| outcome == status)
        .map(|(_, count)| count)
        .sum()
}

/// Every request the emulator saw, whatever became of it.
pub(crate) fn total(counters: &Counters) -> u64 {
    counters.requests.values().sum()
}
