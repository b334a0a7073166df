//! The deliveries pipeline: did COS deliver each chosen job's reports?
//! The stages plan and apply share (load, reach COS, choose the jobs),
//! then per job, through one [`crate::send::Sender`] shared by every read
//! (paced, limited and retried as the executor's requests): its report
//! folder in the destination listed (every page), the newest `YYYYMMDD/`
//! delivery's manifest.json and manifest.checksum read, the checksum
//! compared, and every data file the manifest lists asked for its size
//! (HEAD). Nothing is written: no lock, no report.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;

use super::error::RunError;
use super::observe::{Caller, Deletion, Level, Phase, RunObserver};
use super::settings::{Control, RunSettings};
use super::stages::{choose, connect_to, load};
use crate::cos::listing::listing_from_xml;
use crate::cos::report::{
    CHECKSUM, MANIFEST, ReportManifest, checksum_matches, delivery_date, delivery_key,
    report_folders,
};
use crate::cos::request::{InventoryRequest, MAX_OBJECT_PAGE, ObjectPage};
use crate::cos::text::printable;
use crate::executor::RunControl;
use crate::executor::events::{Stats, Watch};
use crate::model::BucketName;
use crate::model::Destination;
use crate::plan::Job;
use crate::send::{Fetched, Sender, StopReason, Transport, fetch_through};

mod judge;
pub mod one_time;
mod output;

pub use judge::{Status, judge, window};
pub use output::{DeliveriesFormat, write_deliveries};

/// The most GET Bucket pages read for one job's folder (a thousand
/// deliveries a page: decades of daily reports).
const MAX_PAGES: usize = 50;

/// One job's deliveries, judged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JobDelivery {
    pub bucket: String,
    pub id: String,
    pub status: Status,
    /// The newest delivery's folder date, `YYYYMMDD`.
    pub latest: Option<String>,
    pub reason: String,
    /// The destination bucket.
    pub destination: String,
    /// Where the job's deliveries are looked for: `cos://BUCKET/FOLDER`.
    pub location: String,
    pub frequency: String,
}

/// Every chosen job's deliveries, judged as of `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deliveries {
    pub now: jiff::Timestamp,
    pub jobs: Vec<JobDelivery>,
    /// Why the reads stopped before every job was read (the credentials
    /// rejected, COS down past the deadline): the jobs left are
    /// `unreadable` with "not sent".
    pub stopped: Option<StopReason>,
}

impl Deliveries {
    /// Every enabled job delivered (disabled ones are not expected to be).
    pub fn all_delivered(&self) -> bool {
        self.jobs
            .iter()
            .all(|job| matches!(job.status, Status::Delivered | Status::Disabled))
    }

    /// How many jobs have each status, in [`Status::ALL`]'s order.
    pub fn counts(&self) -> Vec<(Status, u64)> {
        Status::ALL
            .iter()
            .map(|status| {
                let n = self.jobs.iter().filter(|job| job.status == *status).count();
                (*status, n as u64)
            })
            .collect()
    }
}

/// A read run asks nothing: it holds no lock and deletes nothing.
struct NoQuestions;

impl Caller for NoQuestions {
    fn confirm_deletes<'a>(&'a mut self, _: &'a [Deletion]) -> LocalBoxFuture<'a, bool> {
        Box::pin(async { false })
    }
}

/// Checks every chosen job's deliveries as of `now`; with `one_time`, a
/// run-now report, the one-time jobs it submitted instead (a whole report
/// is delivered whatever its age: they run once). In the sandbox, the
/// emulator first plays COS's delivery of the day of `now` (Beijing
/// time), so a rehearsal has reports to find.
pub async fn check(
    settings: &RunSettings,
    now: jiff::Timestamp,
    one_time: Option<&Path>,
    observer: &dyn RunObserver,
) -> Result<Deliveries, RunError> {
    let loaded = load(settings)?;
    let one_time_ids = one_time.map(one_time::read).transpose()?;
    let accounts = loaded.1.accounts.clone();
    let mut connection = connect_to(settings, observer, &mut NoQuestions).await?;
    // A member's destination buckets are read with its own credentials.
    let client = connection.client.clone();
    connection.client = super::accounts::attach(client, &accounts, &settings.accounts).await?;
    let chosen = choose(settings, observer, loaded, Some(&connection)).await;
    let chosen = match chosen {
        Ok(chosen) => chosen,
        Err(err) => {
            let _ = connection.shut_down().await;
            return Err(err);
        }
    };
    if let Some(sandbox) = &connection.sandbox {
        play_delivery(&sandbox.emulator, now, observer);
    }
    let jobs = with_ids(
        chosen.plan.jobs(),
        one_time_ids.as_ref(),
        one_time,
        observer,
    );
    let stats = Arc::<Stats>::default();
    let control = Control::new(&settings.stop);
    let total = jobs.len() as u64;
    let pacing = &control.pacing;
    let events = observer.phase_started(Phase::Deliveries, Arc::clone(&stats), total, pacing);
    let sender = sender(settings, &control.phase(Arc::clone(&stats), events));
    // The sender's permits bound what is on the wire; a few more jobs
    // than permits keep them busy.
    let concurrency = settings.connect.concurrency.get().saturating_mul(2);
    let reads = Reads {
        transport: &connection.client,
        sender: &sender,
        seed: settings.connect.executor_config().seed,
    };
    let checked: Vec<JobDelivery> = futures_util::stream::iter(jobs)
        .map(|(job, one_time)| {
            let (reads, stats) = (&reads, &stats);
            async move {
                let checked = check_job(reads, job, one_time.as_deref(), now).await;
                let counter = match checked.status {
                    Status::Delivered | Status::Disabled => &stats.applied,
                    _ => &stats.failed,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                checked
            }
        })
        .buffered(concurrency)
        .collect()
        .await;
    observer.phase_finished(Phase::Deliveries);
    let _ = connection.shut_down().await;
    Ok(Deliveries {
        now,
        jobs: checked,
        stopped: sender.stopped().cloned(),
    })
}

/// One sender for every read: the operator's concurrency and rates, the
/// retries, one pace across them all; its attempts, throttles and
/// retries counted for the progress.
fn sender(settings: &RunSettings, run: &RunControl) -> Sender {
    let send = settings.connect.executor_config().send_settings();
    let watch = Arc::new(Watch::new(run));
    Sender::new(send, run.pacing.clone(), run.cancel.clone(), watch)
}

/// Where the reads go, and how.
struct Reads<'a, T> {
    transport: &'a T,
    sender: &'a Sender,
    /// Seeds the backoff jitter.
    seed: u64,
}

impl<T: Transport> Reads<'_, T> {
    /// `request` about `bucket`, tried until it ends.
    async fn fetch(&self, request: &InventoryRequest, bucket: &BucketName) -> Fetched {
        fetch_through(
            self.sender,
            self.transport,
            request,
            Some(bucket),
            self.seed,
        )
        .await
    }
}

/// The jobs to check, each with its one-time id when a run-now report
/// is read (jobs it did not submit are left out, and counted).
fn with_ids<'a>(
    jobs: &'a [Job],
    ids: Option<&one_time::OneTimeIds>,
    report: Option<&Path>,
    observer: &dyn RunObserver,
) -> Vec<(&'a Job, Option<String>)> {
    let (Some(ids), Some(report)) = (ids, report) else {
        return jobs.iter().map(|job| (job, None)).collect();
    };
    let chosen: Vec<(&Job, Option<String>)> = jobs
        .iter()
        .filter_map(|job| {
            let key = (job.bucket().to_string(), job.id().to_string());
            ids.get(&key).map(|id| (job, Some(id.clone())))
        })
        .collect();
    let line = format!(
        "cosinv deliveries: {}: {} one-time job(s) submitted; {} chosen job(s) without one are left out",
        report.display(),
        chosen.len(),
        jobs.len() - chosen.len()
    );
    observer.log(Level::Info, &line);
    chosen
}

/// The sandbox plays COS's overnight delivery of the day of `now`
/// (Beijing time): nothing else would ever deliver there.
fn play_delivery(
    emulator: &crate::emulator::Emulator,
    now: jiff::Timestamp,
    observer: &dyn RunObserver,
) {
    let date = judge::beijing_date(now);
    let done = emulator.deliver(&crate::emulator::Delivery::on(date));
    let line = format!(
        "sandbox: delivered {} report(s) dated {} as COS would overnight",
        done.reports,
        date.strftime("%Y%m%d")
    );
    observer.log(Level::Info, &line);
}

/// What stops a delivery being judged on its age.
enum Problem {
    Unreadable(String),
    Corrupt(String),
}

/// One job: its folder listed, its newest delivery checked, judged.
async fn check_job<T: Transport>(
    reads: &Reads<'_, T>,
    job: &Job,
    one_time: Option<&str>,
    now: jiff::Timestamp,
) -> JobDelivery {
    let config = job.config();
    let destination = &config.destination;
    let id = one_time.unwrap_or(job.id().as_str());
    let folders = report_folders(destination.prefix.as_deref(), job.bucket(), id);
    let folder = &folders[0];
    let mut checked = JobDelivery {
        bucket: job.bucket().to_string(),
        id: id.to_string(),
        status: Status::Missing,
        latest: None,
        reason: String::new(),
        destination: destination.bucket.to_string(),
        location: format!("cos://{}/{folder}", destination.bucket),
        frequency: config.frequency.as_str().to_string(),
    };
    // A one-time job runs whatever the periodic one's switch says.
    if !config.enabled && one_time.is_none() {
        checked.status = Status::Disabled;
        checked.reason = "the job is disabled: COS delivers nothing".into();
        return checked;
    }
    let (folder, date) = match newest_of(reads, destination, &folders).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            let bucket = &destination.bucket;
            let looked: Vec<String> = folders
                .iter()
                .map(|f| format!("cos://{bucket}/{f}"))
                .collect();
            checked.reason = format!("no delivery under {}", looked.join(" or "));
            return checked;
        }
        Err(problem) => return with_problem(checked, problem),
    };
    checked.location = format!("cos://{}/{folder}", destination.bucket);
    checked.latest = Some(date.strftime("%Y%m%d").to_string());
    if let Err(problem) = verify(reads, destination, folder, date).await {
        return with_problem(checked, problem);
    }
    (checked.status, checked.reason) = match one_time {
        Some(_) => (Status::Delivered, String::new()),
        None => judge(date, now, config.frequency),
    };
    checked
}

fn with_problem(mut checked: JobDelivery, problem: Problem) -> JobDelivery {
    (checked.status, checked.reason) = match problem {
        Problem::Unreadable(why) => (Status::Unreadable, why),
        Problem::Corrupt(why) => (Status::Corrupt, why),
    };
    checked
}

/// The first of `folders` holding a delivery, and its newest date.
async fn newest_of<'f, T: Transport>(
    reads: &Reads<'_, T>,
    destination: &Destination,
    folders: &'f [String],
) -> Result<Option<(&'f str, jiff::civil::Date)>, Problem> {
    for folder in folders {
        if let Some(date) = newest(reads, destination, folder).await? {
            return Ok(Some((folder, date)));
        }
    }
    Ok(None)
}

/// The newest delivery date under `folder`, every page read.
async fn newest<T: Transport>(
    reads: &Reads<'_, T>,
    destination: &Destination,
    folder: &str,
) -> Result<Option<jiff::civil::Date>, Problem> {
    let mut marker: Option<String> = None;
    let mut newest = None;
    for _ in 0..MAX_PAGES {
        let page = ObjectPage {
            prefix: folder,
            delimiter: Some("/"),
            marker: marker.as_deref(),
            max_keys: MAX_OBJECT_PAGE,
        };
        let (bucket, region) = (&destination.bucket, &destination.region);
        let request = InventoryRequest::list_objects(bucket, region, &page);
        let fetched = reads.fetch(&request, bucket).await;
        let Some(answer) = fetched.success() else {
            let why = format!("cannot list {bucket}: {}", fetched.describe());
            return Err(Problem::Unreadable(why));
        };
        let listing = listing_from_xml(&answer.body)
            .map_err(|err| Problem::Unreadable(format!("cannot list {bucket}: {err}")))?;
        let dates = listing.common_prefixes.iter();
        newest = dates
            .filter_map(|p| delivery_date(folder, p))
            .chain(newest)
            .max();
        match (listing.is_truncated, listing.next_marker) {
            (true, Some(next)) => marker = Some(next),
            _ => return Ok(newest),
        }
    }
    let why = format!(
        "more than {MAX_PAGES} pages of folders under cos://{}/{folder}",
        destination.bucket
    );
    Err(Problem::Unreadable(why))
}

/// The delivery of `date`: its checksum matches its manifest, which
/// reads, and every file it lists is there with the listed size.
async fn verify<T: Transport>(
    reads: &Reads<'_, T>,
    destination: &Destination,
    folder: &str,
    date: jiff::civil::Date,
) -> Result<(), Problem> {
    let manifest_key = delivery_key(folder, date, MANIFEST);
    let manifest = read(reads, destination, &manifest_key, false).await?;
    let checksum_key = delivery_key(folder, date, CHECKSUM);
    let checksum = read(reads, destination, &checksum_key, false).await?;
    if !checksum_matches(&manifest.body, &checksum.body) {
        let why = format!("{CHECKSUM} is not the MD5 of {MANIFEST}");
        return Err(Problem::Corrupt(why));
    }
    let manifest =
        ReportManifest::parse(&manifest.body).map_err(|err| Problem::Corrupt(err.to_string()))?;
    for file in &manifest.files {
        let listed = file
            .size_bytes()
            .map_err(|err| Problem::Corrupt(err.to_string()))?;
        let head = read(reads, destination, &file.key, true).await?;
        if head.content_length != Some(listed) {
            let found = head
                .content_length
                .map_or("of no size".into(), |n| format!("{n} bytes"));
            let why = format!(
                "data file {} is {found}, {MANIFEST} says {listed} bytes",
                printable(&file.key)
            );
            return Err(Problem::Corrupt(why));
        }
    }
    Ok(())
}

/// GET (or HEAD) one object of the destination: a missing one is a
/// corrupt delivery, any other failure an unreadable destination.
async fn read<T: Transport>(
    reads: &Reads<'_, T>,
    destination: &Destination,
    key: &str,
    head: bool,
) -> Result<crate::send::client::Response, Problem> {
    let (bucket, region) = (&destination.bucket, &destination.region);
    let request = match head {
        true => InventoryRequest::head_object(bucket, region, key),
        false => InventoryRequest::get_object(bucket, region, key),
    };
    let fetched = reads.fetch(&request, bucket).await;
    let answered = fetched.success().is_some();
    let failure = match answered {
        true => String::new(),
        false => fetched.describe(),
    };
    match fetched.last {
        Ok(response) if answered => Ok(response),
        Ok(answer) if answer.status == 404 && answer.code().is_none_or(|c| c == "NoSuchKey") => {
            Err(Problem::Corrupt(format!("{} is missing", printable(key))))
        }
        _ => {
            let why = format!("cannot read {} in {bucket}: {failure}", printable(key));
            Err(Problem::Unreadable(why))
        }
    }
}
