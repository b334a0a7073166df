//! The account's buckets: GET Service, every page, followed by
//! `NextMarker` until COS says the list is complete; and the filter
//! `cosinv buckets` and `discover:` apply to it.

use crate::cos::request::{InventoryRequest, MAX_SERVICE_PAGE, service_host};
use crate::cos::xml::{self, BucketEntry, XmlError};
use crate::model::{BucketName, BucketPattern, Region};
use crate::plan::{Discovered, DiscoveredBucket};
use crate::send::Transport;
use crate::send::{FetchSettings, fetch};

/// Pages of GET Service read at most: 2,000,000 buckets at full pages,
/// far beyond any account (COS allows 200 buckets per account unless
/// raised), yet bounded against a server that never says "complete".
pub const MAX_SERVICE_PAGES: usize = 1_000;
/// Buckets kept from GET Service at most, whatever the page size.
pub const MAX_SERVICE_BUCKETS: usize = 1_000_000;
/// How long reading the whole list may take.
pub const SERVICE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Why the bucket list could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("GET Service on {host} failed: {message}")]
    Refused {
        host: String,
        /// COS's error code, or `None` for a failure without an answer.
        code: Option<String>,
        message: String,
    },
    #[error("GET Service on {host} answered something that is not a bucket list: {source}")]
    Malformed {
        host: String,
        #[source]
        source: XmlError,
    },
    #[error(
        "GET Service on {host} said page {page} was truncated but gave no marker past \
         {marker:?}; stopping rather than asking for the same page again"
    )]
    Stuck {
        host: String,
        page: usize,
        marker: Option<String>,
    },
    #[error(
        "GET Service on {host} was still not complete after {pages} pages and {buckets} \
         buckets in {secs}s; stopping rather than reading without end"
    )]
    Endless {
        host: String,
        pages: usize,
        buckets: usize,
        secs: u64,
    },
}

/// Every bucket of the account (of `region` only, when given: its endpoint
/// `cos.<region>.myqcloud.com` is asked), every page of at most
/// `page_size` buckets (COS caps a page at 2,000).
pub async fn list_buckets<T: Transport>(
    transport: &T,
    region: Option<&Region>,
    page_size: u32,
    settings: &mut FetchSettings,
) -> Result<Vec<BucketEntry>, ListError> {
    let host = service_host(region);
    let page_size = page_size.clamp(1, MAX_SERVICE_PAGE);
    let mut buckets = Vec::new();
    let mut marker: Option<String> = None;
    let started = tokio::time::Instant::now();
    for page in 1.. {
        let elapsed = started.elapsed();
        if page > MAX_SERVICE_PAGES
            || buckets.len() >= MAX_SERVICE_BUCKETS
            || elapsed >= SERVICE_DEADLINE
        {
            return Err(ListError::Endless {
                host,
                pages: page - 1,
                buckets: buckets.len(),
                secs: elapsed.as_secs(),
            });
        }
        let request = InventoryRequest::list_buckets(host.clone(), marker.as_deref(), page_size);
        let fetched = fetch(transport, &request, None, settings).await;
        let Some(answer) = fetched.success() else {
            return Err(ListError::Refused {
                host,
                code: fetched
                    .last
                    .as_ref()
                    .ok()
                    .and_then(|r| r.code())
                    .map(str::to_string),
                message: fetched.describe(),
            });
        };
        let parsed =
            xml::bucket_page_from_xml(&answer.body).map_err(|source| ListError::Malformed {
                host: host.clone(),
                source,
            })?;
        let last_name = parsed.buckets.last().map(|entry| entry.name.clone());
        buckets.extend(parsed.buckets);
        if !parsed.is_truncated {
            break;
        }
        // S3's rule where a server leaves NextMarker out: the last name.
        let next = parsed.next_marker.or(last_name);
        if next.is_none() || next <= marker {
            return Err(ListError::Stuck { host, page, marker });
        }
        marker = next;
    }
    Ok(buckets)
}

/// Which buckets to keep: in one of `regions` (all when empty), matching
/// `matches` (all when `None`) and none of `exclude`.
#[derive(Debug, Clone, Default)]
pub struct BucketFilter {
    pub regions: Vec<Region>,
    pub matches: Option<BucketPattern>,
    pub exclude: Vec<BucketPattern>,
}

impl BucketFilter {
    pub fn keeps(&self, entry: &BucketEntry) -> bool {
        let in_region = self.regions.is_empty()
            || self
                .regions
                .iter()
                .any(|region| region.as_str() == entry.location);
        let matched = self
            .matches
            .as_ref()
            .is_none_or(|pattern| pattern.matches(&entry.name));
        let excluded = self
            .exclude
            .iter()
            .any(|pattern| pattern.matches(&entry.name));
        in_region && matched && !excluded
    }

    /// The one region to ask for, when exactly one is wanted.
    pub fn single_region(&self) -> Option<&Region> {
        match self.regions.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }
}

/// The entries as the planner takes them. An entry whose name or region
/// is not one cosinv can write to (which COS should never answer) is left
/// out and named in the second list.
pub fn discovered(entries: &[BucketEntry]) -> (Discovered, Vec<String>) {
    let mut kept = Vec::with_capacity(entries.len());
    let mut skipped = Vec::new();
    for entry in entries {
        match (
            BucketName::parse(&entry.name),
            Region::parse(&entry.location),
        ) {
            (Ok(name), Ok(region)) => kept.push(DiscoveredBucket { name, region }),
            (Err(err), _) | (_, Err(err)) => skipped.push(err.message),
        }
    }
    (Discovered::new(kept), skipped)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::cos::xml::{BucketPage, bucket_page_to_xml};
    use crate::send::Attempt;
    use crate::send::client::Response;

    /// A server whose list never ends: every page truncated, one bucket,
    /// a marker past the last.
    #[derive(Default)]
    struct Endless {
        pages: AtomicUsize,
    }

    impl Transport for Endless {
        fn send(
            &self,
            _: &InventoryRequest,
            _: u64,
        ) -> impl std::future::Future<Output = Attempt> + Send {
            let page = self.pages.fetch_add(1, Ordering::Relaxed);
            let name = format!("b{page:09}-1250000000");
            let body = bucket_page_to_xml(
                "1",
                &BucketPage {
                    buckets: vec![BucketEntry {
                        name: name.clone(),
                        location: "ap-guangzhou".into(),
                        creation_date: "2026-01-01T00:00:00Z".into(),
                    }],
                    is_truncated: true,
                    marker: None,
                    next_marker: Some(name),
                },
            );
            let mut response = Response::canned(200, None);
            response.body = body.into_bytes();
            async move { Ok(response) }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_list_that_never_ends_is_cut_off_at_the_page_limit() {
        let server = Endless::default();
        let mut settings = FetchSettings::default();
        let err = list_buckets(&server, None, 1, &mut settings)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ListError::Endless {
                    pages: MAX_SERVICE_PAGES,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(server.pages.load(Ordering::Relaxed), MAX_SERVICE_PAGES);
    }
}
