//! The emulator's state: buckets and their inventory configurations, in
//! memory, optionally kept in a JSON state file written atomically.
//!
//! A sandbox run of a million jobs keeps a million configurations, in the
//! same process as the run: each is kept as its *shape* (the configuration
//! without id and destination prefix, shared by every configuration that
//! differs only by those: a fleet has a handful) and its prefix (shared
//! with the bucket's previous one when equal), about 100 bytes each. The
//! state file is written bucket by bucket, the lock held for one bucket
//! at a time, and no more often than a twentieth of the time: saving
//! never stalls requests for long nor grows with the square of the state.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cos::xml::{self, BucketEntry};
use crate::model::{InventoryConfiguration, InventoryId, MAX_JOBS_PER_BUCKET};

/// How often a changed state is written to the state file, at most.
const SAVE_INTERVAL: Duration = Duration::from_millis(200);
/// Saving takes at most this share of the time: after a save that took
/// `d`, the next waits at least `d × SAVE_SPACING`.
const SAVE_SPACING: u32 = 20;

pub(crate) struct Store {
    buckets: Mutex<HashMap<String, BucketState>>,
    /// Every shape kept, once.
    shapes: Mutex<HashSet<Arc<InventoryConfiguration>>>,
    /// Started with a bucket list: no bucket appears on first use.
    fixed: bool,
    state_file: Option<PathBuf>,
    dirty: AtomicBool,
}

#[derive(Debug, Clone, Default)]
struct BucketState {
    location: String,
    creation_date: String,
    configurations: BTreeMap<Box<str>, Kept>,
    /// The bucket policy (JSON), as PUT Bucket policy stored it.
    policy: Option<String>,
    /// The prefix kept last, shared by the next configuration that has it.
    last_prefix: Option<Arc<str>>,
    /// One-time jobs (POST) by id: the latest submitted under each, kept
    /// in the state file so that a rerun with the same ids is refused.
    one_time: BTreeMap<String, OneTimeRecord>,
}

/// The latest one-time job submitted under an id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OneTimeRecord {
    pub job_id: String,
    /// Unix seconds, the emulator's clock.
    pub submitted: u64,
}

/// A configuration as kept.
#[derive(Debug, Clone)]
enum Kept {
    Parsed {
        /// Without id (the map's key) and destination prefix.
        shape: Arc<InventoryConfiguration>,
        prefix: Option<Arc<str>>,
    },
    Raw(Box<str>),
}

impl Kept {
    /// The configuration kept under `id`, whole again.
    fn stored(&self, id: &str) -> Stored {
        match self {
            Kept::Parsed { shape, prefix } => {
                let mut config = InventoryConfiguration::clone(shape);
                config.id = InventoryId::parse(id).expect("kept under its own valid id");
                config.destination.prefix = prefix.as_deref().map(str::to_string);
                Stored::Parsed(Box::new(config))
            }
            Kept::Raw(document) => Stored::Raw(document.to_string()),
        }
    }
}

/// One configuration as the emulator keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stored {
    /// PUT through the API: valid by COS's rules as cosinv knows them.
    Parsed(Box<InventoryConfiguration>),
    /// Set up by a test as another tool (the console, a newer API) would
    /// have made it: an `<InventoryConfiguration>` document kept as text and
    /// answered as it is.
    Raw(String),
}

impl Stored {
    /// The `<InventoryConfiguration>` element, without an XML declaration.
    pub(crate) fn element(&self) -> String {
        match self {
            Stored::Parsed(config) => xml::configuration_element(config),
            Stored::Raw(document) => strip_declaration(document).to_string(),
        }
    }
}

/// A document without its `<?xml …?>` line.
fn strip_declaration(document: &str) -> &str {
    let trimmed = document.trim_start();
    match trimmed.strip_prefix("<?xml") {
        Some(rest) => rest
            .split_once("?>")
            .map_or(trimmed, |(_, body)| body.trim_start()),
        None => trimmed,
    }
}

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreError {
    NoSuchBucket,
    Full,
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    /// `version` in state files written before every JSON document
    /// cosinv writes used one name for its version.
    #[serde(alias = "version")]
    schema_version: u32,
    buckets: Vec<StoredBucket>,
}

#[derive(Serialize, Deserialize)]
struct StoredBucket {
    name: String,
    location: String,
    creation_date: String,
    /// Each configuration in its COS XML form.
    inventory: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    one_time: BTreeMap<String, OneTimeRecord>,
}

impl Store {
    pub(crate) fn open(
        buckets: Option<Vec<BucketEntry>>,
        state_file: Option<PathBuf>,
    ) -> std::io::Result<Store> {
        let fixed = buckets.is_some();
        let mut map: HashMap<String, BucketState> = HashMap::new();
        for entry in buckets.unwrap_or_default() {
            map.insert(
                entry.name,
                BucketState {
                    location: entry.location,
                    creation_date: entry.creation_date,
                    ..BucketState::default()
                },
            );
        }
        let store = Store {
            buckets: Mutex::new(HashMap::new()),
            shapes: Mutex::new(HashSet::new()),
            fixed,
            state_file,
            dirty: AtomicBool::new(false),
        };
        if let Some(path) = &store.state_file
            && path.exists()
        {
            load(path, &store, &mut map)?;
        }
        *store.lock() = map;
        Ok(store)
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, HashMap<String, BucketState>> {
        self.buckets.lock()
    }

    pub(crate) fn has_state_file(&self) -> bool {
        self.state_file.is_some()
    }

    /// Runs `f` on the bucket, creating it on first use (in `region`)
    /// unless the bucket list is fixed. A bucket lives in one region: asked
    /// through another region's host it does not exist, as on COS. A
    /// bucket of unknown region (made by [`Store::insert_unchecked`]) takes
    /// the region of its first request; a request naming no region (path
    /// style on a bare address) is not checked.
    fn with_bucket<T>(
        &self,
        bucket: &str,
        region: Option<&str>,
        f: impl FnOnce(&mut BucketState) -> T,
    ) -> Result<T, StoreError> {
        let mut buckets = self.lock();
        if !buckets.contains_key(bucket) {
            if self.fixed {
                return Err(StoreError::NoSuchBucket);
            }
            buckets.insert(
                bucket.to_string(),
                BucketState {
                    location: region.unwrap_or("ap-guangzhou").to_string(),
                    creation_date: jiff::Timestamp::now()
                        .strftime("%Y-%m-%dT%H:%M:%SZ")
                        .to_string(),
                    ..BucketState::default()
                },
            );
        }
        let state = buckets.get_mut(bucket).ok_or(StoreError::NoSuchBucket)?;
        match region {
            Some(region) if state.location.is_empty() => state.location = region.to_string(),
            Some(region) if !state.location.eq_ignore_ascii_case(region) => {
                return Err(StoreError::NoSuchBucket);
            }
            _ => {}
        }
        Ok(f(state))
    }

    pub(crate) fn exists(&self, bucket: &str) -> bool {
        !self.fixed || self.lock().contains_key(bucket)
    }

    /// Stores `config`; replacing an existing id works at the limit.
    pub(crate) fn put(
        &self,
        bucket: &str,
        region: Option<&str>,
        config: InventoryConfiguration,
    ) -> Result<(), StoreError> {
        let id: Box<str> = config.id.as_str().into();
        let (shape, prefix) = self.compact(config);
        self.with_bucket(bucket, region, |state| {
            if !state.configurations.contains_key(&*id)
                && state.configurations.len() >= MAX_JOBS_PER_BUCKET
            {
                return Err(StoreError::Full);
            }
            let prefix = state.share_prefix(prefix);
            state
                .configurations
                .insert(id, Kept::Parsed { shape, prefix });
            Ok(())
        })??;
        self.dirty.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// `config`'s shape, kept once, and its prefix.
    fn compact(
        &self,
        mut config: InventoryConfiguration,
    ) -> (Arc<InventoryConfiguration>, Option<String>) {
        let prefix = config.destination.prefix.take();
        config.id = InventoryId::parse("shape").expect("a valid id");
        let mut shapes = self.shapes.lock();
        if let Some(shape) = shapes.get(&config) {
            return (shape.clone(), prefix);
        }
        let shape = Arc::new(config);
        shapes.insert(shape.clone());
        (shape, prefix)
    }

    fn kept(&self, stored: Stored) -> Kept {
        match stored {
            Stored::Parsed(config) => {
                let (shape, prefix) = self.compact(*config);
                Kept::Parsed {
                    shape,
                    prefix: prefix.map(Arc::from),
                }
            }
            Stored::Raw(document) => Kept::Raw(document.into()),
        }
    }

    pub(crate) fn get(
        &self,
        bucket: &str,
        region: Option<&str>,
        id: &str,
    ) -> Result<Option<Stored>, StoreError> {
        self.with_bucket(bucket, region, |state| {
            state.configurations.get(id).map(|kept| kept.stored(id))
        })
    }

    /// Records a one-time job under `id`, or (`Ok(Err)`) the job already
    /// submitted under it on the same UTC day, which makes this one a
    /// duplicate. The emulator's jobs finish at once, so "before the
    /// earlier one finished" refuses nothing more.
    pub(crate) fn submit_one_time(
        &self,
        bucket: &str,
        region: Option<&str>,
        id: &str,
        record: OneTimeRecord,
    ) -> Result<Result<(), OneTimeRecord>, StoreError> {
        const DAY: u64 = 86_400;
        let submitted = self.with_bucket(bucket, region, |state| {
            match state.one_time.get(id) {
                Some(earlier) if earlier.submitted / DAY == record.submitted / DAY => {
                    return Err(earlier.clone());
                }
                _ => {}
            }
            state.one_time.insert(id.to_string(), record);
            Ok(())
        })?;
        if submitted.is_ok() {
            self.dirty.store(true, Ordering::Relaxed);
        }
        Ok(submitted)
    }

    /// True when something was deleted.
    pub(crate) fn delete(
        &self,
        bucket: &str,
        region: Option<&str>,
        id: &str,
    ) -> Result<bool, StoreError> {
        let deleted = self.with_bucket(bucket, region, |state| {
            state.configurations.remove(id).is_some()
        })?;
        if deleted {
            self.dirty.store(true, Ordering::Relaxed);
        }
        Ok(deleted)
    }

    /// Up to `limit` configurations with ids after `after`, and whether
    /// more follow.
    pub(crate) fn list(
        &self,
        bucket: &str,
        region: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(String, Stored)>, bool), StoreError> {
        self.with_bucket(bucket, region, |state| {
            let mut page: Vec<(String, Stored)> = match after {
                Some(after) => state
                    .configurations
                    .range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
                    .map(|(id, kept)| (id.to_string(), kept.stored(id)))
                    .take(limit + 1)
                    .collect(),
                None => state
                    .configurations
                    .iter()
                    .map(|(id, kept)| (id.to_string(), kept.stored(id)))
                    .take(limit + 1)
                    .collect(),
            };
            let truncated = page.len() > limit;
            page.truncate(limit);
            (page, truncated)
        })
    }

    /// Stores the bucket's policy (JSON text), replacing any.
    pub(crate) fn put_policy(
        &self,
        bucket: &str,
        region: Option<&str>,
        policy: String,
    ) -> Result<(), StoreError> {
        self.with_bucket(bucket, region, |state| state.policy = Some(policy))?;
        self.dirty.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// The bucket's policy, if it has one.
    pub(crate) fn policy(
        &self,
        bucket: &str,
        region: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        self.with_bucket(bucket, region, |state| state.policy.clone())
    }

    /// The bucket's policy, without creating the bucket (test set-up).
    pub(crate) fn stored_policy(&self, bucket: &str) -> Option<String> {
        self.lock()
            .get(bucket)
            .and_then(|state| state.policy.clone())
    }

    /// One page of GET Service: up to `limit` buckets named after `after`
    /// (in byte order, as COS's markers work), in `region` when given, that
    /// `owned` keeps (the signer's account's), and whether more follow.
    pub(crate) fn bucket_page(
        &self,
        after: Option<&str>,
        region: Option<&str>,
        limit: usize,
        owned: &dyn Fn(&str) -> bool,
    ) -> (Vec<BucketEntry>, bool) {
        let mut page: Vec<BucketEntry> = self
            .buckets()
            .into_iter()
            .filter(|entry| after.is_none_or(|after| entry.name.as_str() > after))
            .filter(|entry| region.is_none_or(|region| entry.location == region))
            .filter(|entry| owned(&entry.name))
            .take(limit + 1)
            .collect();
        let truncated = page.len() > limit;
        page.truncate(limit);
        (page, truncated)
    }

    /// Every bucket, by name.
    pub(crate) fn buckets(&self) -> Vec<BucketEntry> {
        let mut entries: Vec<BucketEntry> = self
            .lock()
            .iter()
            .map(|(name, state)| BucketEntry {
                name: name.clone(),
                location: state.location.clone(),
                creation_date: state.creation_date.clone(),
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        entries
    }

    /// The configurations PUT through the API, by id.
    pub(crate) fn configurations(&self, bucket: &str) -> Vec<InventoryConfiguration> {
        self.lock()
            .get(bucket)
            .map(|state| {
                state
                    .configurations
                    .iter()
                    .filter_map(|(id, kept)| match kept.stored(id) {
                        Stored::Parsed(config) => Some(*config),
                        Stored::Raw(_) => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many configurations are kept, on how many buckets (those that
    /// hold at least one).
    pub(crate) fn totals(&self) -> (usize, usize) {
        let buckets = self.lock();
        let holding = buckets
            .values()
            .filter(|state| !state.configurations.is_empty());
        holding.fold((0, 0), |(configurations, buckets), state| {
            (configurations + state.configurations.len(), buckets + 1)
        })
    }

    /// Every id on the bucket, raw ones included.
    pub(crate) fn ids(&self, bucket: &str) -> Vec<String> {
        self.lock()
            .get(bucket)
            .map(|state| {
                state
                    .configurations
                    .keys()
                    .map(|id| id.to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Stores without the limit or the bucket list (test set-up).
    pub(crate) fn insert_unchecked(&self, bucket: &str, id: &str, stored: Stored) {
        let kept = self.kept(stored);
        self.lock()
            .entry(bucket.to_string())
            .or_default()
            .configurations
            .insert(id.into(), kept);
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// Writes the state file if anything changed since the last write.
    pub(crate) fn save_if_dirty(&self) -> std::io::Result<()> {
        let Some(path) = &self.state_file else {
            return Ok(());
        };
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        write_atomically(path, |out| self.write_state(out)).inspect_err(|_| {
            self.dirty.store(true, Ordering::Relaxed);
        })
    }

    /// The state as JSON, bucket by bucket in name order, each written
    /// with only its own configurations in memory and the lock held for
    /// that bucket alone.
    fn write_state(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let mut names: Vec<String> = self.lock().keys().cloned().collect();
        names.sort();
        out.write_all(b"{\n  \"schema_version\": 1,\n  \"buckets\": [")?;
        let mut first = true;
        for name in names {
            let Some(bucket) = self.stored_bucket(name) else {
                continue;
            };
            out.write_all(if first { b"\n" } else { b",\n" })?;
            first = false;
            serde_json::to_writer_pretty(&mut *out, &bucket)?;
        }
        out.write_all(b"\n  ]\n}\n")
    }

    fn stored_bucket(&self, name: String) -> Option<StoredBucket> {
        let buckets = self.lock();
        let state = buckets.get(&name)?;
        Some(StoredBucket {
            location: state.location.clone(),
            creation_date: state.creation_date.clone(),
            inventory: state
                .configurations
                .iter()
                .map(|(id, kept)| kept.stored(id).element())
                .collect(),
            policy: state.policy.clone(),
            one_time: state.one_time.clone(),
            name,
        })
    }
}

impl BucketState {
    /// `prefix`, shared with the last one kept when they are equal (a
    /// bucket's ids usually report under one prefix).
    fn share_prefix(&mut self, prefix: Option<String>) -> Option<Arc<str>> {
        let prefix = prefix?;
        match &self.last_prefix {
            Some(last) if **last == *prefix => Some(last.clone()),
            _ => {
                let shared: Arc<str> = prefix.into();
                self.last_prefix = Some(shared.clone());
                Some(shared)
            }
        }
    }
}

fn load(path: &Path, store: &Store, map: &mut HashMap<String, BucketState>) -> std::io::Result<()> {
    let invalid = |why: String| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "state file {}: {why}; move it away to start empty",
                path.display()
            ),
        )
    };
    let bytes = std::fs::read(path)?;
    let state: StateFile =
        serde_json::from_slice(&bytes).map_err(|err| invalid(err.to_string()))?;
    for bucket in state.buckets {
        if store.fixed && !map.contains_key(&bucket.name) {
            continue;
        }
        let entry = map
            .entry(bucket.name.clone())
            .or_insert_with(|| BucketState {
                location: bucket.location.clone(),
                creation_date: bucket.creation_date.clone(),
                ..BucketState::default()
            });
        if bucket.policy.is_some() {
            entry.policy = bucket.policy.clone();
        }
        entry.one_time = bucket.one_time;
        for document in bucket.inventory {
            let (id, stored) = stored_from(&document)
                .map_err(|err| invalid(format!("bucket {}: {err}", bucket.name)))?;
            let kept = match store.kept(stored) {
                Kept::Parsed { shape, prefix } => Kept::Parsed {
                    shape,
                    prefix: entry.share_prefix(prefix.as_deref().map(str::to_string)),
                },
                raw => raw,
            };
            entry.configurations.insert(id.into(), kept);
        }
    }
    Ok(())
}

/// A saved document: parsed when cosinv can, raw (as another tool made it)
/// when it cannot, an error only when it has no id at all.
fn stored_from(document: &str) -> Result<(String, Stored), String> {
    if let Ok(config) = xml::configuration_from_xml(document.as_bytes()) {
        return Ok((
            config.id.as_str().to_string(),
            Stored::Parsed(Box::new(config)),
        ));
    }
    let live = crate::cos::live::live_configuration_from_xml(document.as_bytes())
        .map_err(|e| e.to_string())?;
    if live.id.is_empty() {
        return Err("a saved configuration has no <Id>".into());
    }
    Ok((live.id, Stored::Raw(document.to_string())))
}

/// Temporary file in the same folder, synced, renamed over the target: a
/// crash leaves the old state or the new, never half of one.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temporary = tempfile::NamedTempFile::new_in(folder)?;
    let mut buffered = std::io::BufWriter::with_capacity(1 << 16, temporary.as_file_mut());
    write(&mut buffered)?;
    buffered.flush()?;
    drop(buffered);
    temporary.as_file().sync_all()?;
    temporary.persist(path).map_err(|err| err.error)?;
    Ok(())
}

/// Saves the state every [`SAVE_INTERVAL`] while it changes (spaced out
/// by [`SAVE_SPACING`] times the last save's duration, so a large state
/// is not written over and over), and once more at shutdown.
pub(crate) async fn save_periodically(inner: Arc<super::Inner>) {
    let mut interval = SAVE_INTERVAL;
    loop {
        let stopping = tokio::select! {
            _ = inner.shutdown.cancelled() => true,
            _ = tokio::time::sleep(interval) => false,
        };
        let started = std::time::Instant::now();
        // On a blocking thread: a large state takes a while to write.
        let saver = inner.clone();
        let saved = tokio::task::spawn_blocking(move || saver.store.save_if_dirty())
            .await
            .unwrap_or_else(|_| Err(std::io::Error::other("the state writer panicked")));
        // Kept for shutdown to report; a later success clears it.
        *inner.save_error.lock() = saved.err();
        interval = SAVE_INTERVAL.max(started.elapsed() * SAVE_SPACING);
        if stopping {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::InventoryId;
    use crate::model::tests::sample;

    fn config(id: &str) -> InventoryConfiguration {
        let mut config = sample();
        config.id = InventoryId::parse(id).unwrap();
        config
    }

    #[test]
    fn a_bucket_exists_only_in_its_own_region() {
        let store = Store::open(None, None).unwrap();
        let bucket = "b-1250000000";
        store.put(bucket, Some("ap-beijing"), config("a")).unwrap();
        assert_eq!(
            store.get(bucket, Some("ap-guangzhou"), "a"),
            Err(StoreError::NoSuchBucket)
        );
        assert_eq!(
            store.put(bucket, Some("ap-shanghai"), config("b")),
            Err(StoreError::NoSuchBucket)
        );
        assert!(
            store
                .get(bucket, Some("AP-BEIJING"), "a")
                .unwrap()
                .is_some()
        );
        assert!(store.get(bucket, None, "a").unwrap().is_some());
        // Unknown region (test set-up): the first request decides.
        store.insert_unchecked("c-1250000000", "x", Stored::Parsed(Box::new(config("x"))));
        assert!(
            store
                .get("c-1250000000", Some("eu-frankfurt"), "x")
                .unwrap()
                .is_some()
        );
        assert_eq!(
            store.get("c-1250000000", Some("ap-beijing"), "x"),
            Err(StoreError::NoSuchBucket)
        );
    }

    #[test]
    fn the_limit_refuses_a_new_id_but_not_a_replacement() {
        let store = Store::open(None, None).unwrap();
        for n in 0..MAX_JOBS_PER_BUCKET {
            store.put("b", None, config(&format!("id-{n:04}"))).unwrap();
        }
        assert_eq!(
            store.put("b", None, config("one-more")),
            Err(StoreError::Full)
        );
        assert_eq!(store.put("b", None, config("id-0007")), Ok(()));
    }

    #[test]
    fn configurations_alike_but_for_id_and_prefix_share_one_shape() {
        let store = Store::open(None, None).unwrap();
        for (n, prefix) in [(1, Some("a")), (2, Some("a")), (3, Some("b")), (4, None)] {
            let mut kept = config(&format!("id-{n}"));
            kept.destination.prefix = prefix.map(str::to_string);
            store.put("b", None, kept.clone()).unwrap();
            let stored = store.get("b", None, &format!("id-{n}")).unwrap();
            assert_eq!(stored, Some(Stored::Parsed(Box::new(kept))));
        }
        assert_eq!(store.shapes.lock().len(), 1);
        let mut other = config("id-5");
        other.enabled = !other.enabled;
        store.put("b", None, other.clone()).unwrap();
        assert_eq!(store.shapes.lock().len(), 2);
        assert_eq!(store.configurations("b").last(), Some(&other));
    }

    #[test]
    fn pages_follow_id_order() {
        let store = Store::open(None, None).unwrap();
        for n in 0..250 {
            store.put("b", None, config(&format!("id-{n:03}"))).unwrap();
        }
        let (first, more) = store.list("b", None, None, 100).unwrap();
        assert!(more);
        assert_eq!(first.last().unwrap().0, "id-099");
        let (last, more) = store.list("b", None, Some("id-199"), 100).unwrap();
        assert!(!more);
        assert_eq!(last.len(), 50);
    }

    #[test]
    fn a_bucket_list_is_fixed() {
        let entry = BucketEntry {
            name: "known".into(),
            location: "ap-guangzhou".into(),
            creation_date: String::new(),
        };
        let store = Store::open(Some(vec![entry]), None).unwrap();
        assert!(store.put("known", None, config("a")).is_ok());
        assert_eq!(
            store.put("other", None, config("a")),
            Err(StoreError::NoSuchBucket)
        );
    }

    #[test]
    fn the_state_file_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let store = Store::open(None, Some(path.clone())).unwrap();
        store.put("b", Some("ap-shanghai"), config("kept")).unwrap();
        store.save_if_dirty().unwrap();
        let again = Store::open(None, Some(path.clone())).unwrap();
        assert_eq!(again.configurations("b"), [config("kept")]);
        assert_eq!(again.buckets()[0].location, "ap-shanghai");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\n  \"schema_version\": 1,"), "{text}");
        // A state file from before the key was renamed is read as it was.
        std::fs::write(&path, text.replacen("schema_version", "version", 1)).unwrap();
        let older = Store::open(None, Some(path.clone())).unwrap();
        assert_eq!(older.configurations("b"), [config("kept")]);
        std::fs::write(&path, "not json").unwrap();
        let err = Store::open(None, Some(path)).err().unwrap();
        assert!(err.to_string().contains("move it away"), "{err}");
    }
}
