//! One request: addressing, faults, signature, then the API.

use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use md5::{Digest, Md5};
use percent_encoding::percent_decode_str;

use super::auth::Received;
use super::faults::Injected;
use super::objects::ListAsk;
use super::store::{OneTimeRecord, StoreError};
use super::{COUNTERS_PATH, DELIVER_PATH, Inner, REFUSE_READS_PATH};
use crate::cos::error as code;
use crate::cos::listing::listing_to_xml;
use crate::cos::request::{MAX_OBJECT_PAGE, MAX_SERVICE_PAGE};
use crate::cos::xml::{self, CosErrorBody, XmlError};
use crate::model::{BucketName, InventoryConfiguration};

/// Largest request body accepted; a configuration is a few kilobytes.
const MAX_BODY: usize = 1024 * 1024;
/// Configurations per List page, as COS.
const PAGE_SIZE: usize = 100;
/// The account every bucket list names as owner.
const OWNER: &str = "100000000001";
/// A hung request gives up after this, so nothing waits forever.
const MAX_HANG: std::time::Duration = std::time::Duration::from_secs(600);

pub(crate) type Answer = Result<Response<Full<Bytes>>, std::io::Error>;

/// The parts of a request that decide where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub bucket: Option<String>,
    pub region: Option<String>,
    /// The bucket is in the host name (the path is then the key).
    pub virtual_hosted: bool,
}

/// Virtual-hosted (`<bucket>.cos.<region>.<any domain>`) or path-style
/// (`/<bucket>/…` on any other host).
pub(crate) fn route(host: &str, path: &str) -> Target {
    let host = strip_port(host);
    if let Some(at) = host.find(".cos.")
        && at > 0
    {
        let bucket = &host[..at];
        let region = host[at + 5..].split('.').next().filter(|r| !r.is_empty());
        if bucket != "service" {
            return Target {
                bucket: Some(bucket.to_string()),
                region: region.map(str::to_string),
                virtual_hosted: true,
            };
        }
    }
    let region = host
        .strip_prefix("cos.")
        .and_then(|rest| rest.split('.').next())
        .map(str::to_string);
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    Target {
        bucket: (!first.is_empty()).then(|| first.to_string()),
        region,
        virtual_hosted: false,
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

/// `a=1&b` → `[("a","1"), ("b","")]`, percent-decoded.
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            (decode(name), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// The host a request is for: the absolute form's authority, else `Host`.
fn request_host(request: &Request<Incoming>) -> String {
    request
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            request
                .headers()
                .get(hyper::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// Latency, then the fault drawn for this request, if any: the answer to
/// give instead of serving it.
async fn inject_faults(
    inner: &Inner,
    method: &str,
    path: &str,
    bucket: Option<&str>,
) -> Option<Answer> {
    let latency = inner.faults.latency();
    if !latency.is_zero() {
        inner.faults.delay(latency).await;
    }
    match inner.faults.draw(bucket) {
        Injected::Nothing => None,
        Injected::Hang => {
            inner.record(method, "hang");
            tokio::select! {
                _ = inner.shutdown.cancelled() => {}
                _ = tokio::time::sleep(MAX_HANG) => {}
            }
            Some(Err(std::io::Error::other("hung up (injected)")))
        }
        Injected::Reset => {
            inner.record(method, "reset");
            Some(Err(std::io::Error::other("connection reset (injected)")))
        }
        Injected::Error {
            status,
            code,
            message,
        } => {
            let answer = error(inner, status, code, message, path);
            Some(Ok(finish(inner, method, answer)))
        }
    }
}

pub(crate) async fn handle(inner: Arc<Inner>, request: Request<Incoming>) -> Answer {
    let method = request.method().as_str().to_string();
    let uri = request.uri().clone();
    let host = request_host(&request);
    let path = decode(uri.path());
    if path == COUNTERS_PATH && method == "GET" {
        return Ok(counters(&inner));
    }
    if path == DELIVER_PATH && method == "POST" {
        return Ok(deliver(&inner, uri.query().unwrap_or("")));
    }
    if path == REFUSE_READS_PATH && method == "POST" {
        return Ok(refuse_reads(&inner, uri.query().unwrap_or("")));
    }
    if super::metadata::owns(&path) {
        return Ok(super::metadata::serve(&inner, &method, &path));
    }
    if super::sts::owns(&path) {
        return Ok(super::sts::serve(&inner, request).await);
    }
    let target = route(&host, &path);
    let _in_flight = inner.begin(target.bucket.as_deref());
    if let Some(answer) = inject_faults(&inner, &method, &path, target.bucket.as_deref()).await {
        return answer;
    }
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
        })
        .collect();
    let query = parse_query(uri.query().unwrap_or(""));
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let answer = error(
                &inner,
                400,
                "XMLSizeLimit",
                &format!("the request body is larger than {MAX_BODY} bytes"),
                &path,
            );
            return Ok(finish(&inner, &method, answer));
        }
    };
    let received = Received {
        method: &method,
        path: &path,
        query: &query,
        headers: &headers,
    };
    let answer = match super::sts::verify(&inner, &received, target.bucket.as_deref()) {
        Err(refusal) => {
            let status = super::sts::refusal_status(&refusal);
            error(&inner, status, refusal.code, &refusal.message, &path)
        }
        Ok(owner) => dispatch(&inner, &received, &target, &body, owner.as_deref()),
    };
    Ok(finish(&inner, &method, answer))
}

/// The delivery call: what was delivered, as JSON, or 400 and why.
fn deliver(inner: &Inner, query: &str) -> Response<Full<Bytes>> {
    let (status, body) = match super::Delivery::from_query(&parse_query(query)) {
        Ok(delivery) => {
            let done = super::deliver::deliver(inner, &delivery);
            (
                StatusCode::OK,
                serde_json::to_vec(&done).unwrap_or_default(),
            )
        }
        Err(err) => (StatusCode::BAD_REQUEST, err.to_string().into_bytes()),
    };
    let mut answer = respond(inner, status, Bytes::from(body));
    answer.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    answer
}

/// The refuse-reads call: `buckets=B1,B2` (or none) is the whole set of
/// buckets whose objects are not to be read; 204.
fn refuse_reads(inner: &Inner, query: &str) -> Response<Full<Bytes>> {
    let query = parse_query(query);
    let buckets = param(&query, "buckets").unwrap_or("");
    let buckets = buckets
        .split(',')
        .map(str::trim)
        .filter(|bucket| !bucket.is_empty())
        .map(str::to_string);
    inner.objects.refuse_reads(buckets);
    respond(inner, StatusCode::NO_CONTENT, Bytes::new())
}

fn finish(inner: &Inner, method: &str, answer: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    inner.record(method, answer.status().as_str());
    answer
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// `owner`: the signer's member account (APPID), `None` for the caller's.
fn dispatch(
    inner: &Inner,
    request: &Received<'_>,
    target: &Target,
    body: &[u8],
    owner: Option<&str>,
) -> Response<Full<Bytes>> {
    let path = request.path;
    let Some(bucket) = &target.bucket else {
        return match request.method {
            "GET" => list_buckets(inner, request, target, owner),
            _ => method_not_allowed(inner, request.method, path),
        };
    };
    if BucketName::parse(bucket).is_err() {
        return error(
            inner,
            400,
            "InvalidBucketName",
            &format!("{bucket:?} is not a COS bucket name (<name>-<appid>)"),
            path,
        );
    }
    if !inner.store.exists(bucket) {
        return no_such_bucket(inner, bucket, path);
    }
    let region = target.region.as_deref();
    if param(request.query, "policy").is_some() {
        return bucket_policy(inner, request, bucket, region, body);
    }
    if param(request.query, "inventory").is_none() {
        return objects(inner, request, target, bucket);
    }
    let id = param(request.query, "id");
    match (request.method, id) {
        ("PUT", Some(id)) => put(inner, request, bucket, region, id, body),
        ("POST", Some(id)) => post(inner, request, bucket, region, id, body),
        ("GET", Some(id)) => get(inner, bucket, region, id, path),
        ("DELETE", Some(id)) => delete(inner, bucket, region, id, path),
        ("GET", None) => list(inner, request, bucket, region),
        ("PUT" | "POST" | "DELETE", None) => error(
            inner,
            400,
            "InvalidArgument",
            "the id parameter is required (?inventory&id=ID)",
            path,
        ),
        (method, _) => method_not_allowed(inner, method, path),
    }
}

/// GET Bucket, GET and HEAD Object; anything else is not served.
fn objects(
    inner: &Inner,
    request: &Received<'_>,
    target: &Target,
    bucket: &str,
) -> Response<Full<Bytes>> {
    let path = request.path;
    if inner.objects.reads_refused(bucket) {
        let message = "Access Denied: the bucket's policy does not allow this read";
        return error(inner, 403, crate::cos::error::ACCESS_DENIED, message, path);
    }
    // Virtual-hosted, the path is the key; path-style, it follows the
    // bucket's name.
    let key = match target.virtual_hosted {
        true => path.strip_prefix('/').unwrap_or(path),
        false => path
            .trim_start_matches('/')
            .strip_prefix(bucket)
            .map_or("", |rest| rest.trim_start_matches('/')),
    };
    match (request.method, key.is_empty()) {
        ("GET", true) => list_objects(inner, request, bucket),
        ("GET" | "HEAD", false) => match inner.objects.get(bucket, key) {
            Some(object) => {
                let size = object.body.len();
                let body = match request.method {
                    "GET" => object.body,
                    _ => Bytes::new(),
                };
                let mut answer = respond(inner, StatusCode::OK, body);
                let headers = answer.headers_mut();
                headers.insert(
                    hyper::header::CONTENT_TYPE,
                    "application/octet-stream".parse().expect("valid"),
                );
                headers.insert(hyper::header::CONTENT_LENGTH, size.into());
                headers.insert(
                    hyper::header::ETAG,
                    object.etag.parse().expect("hex in quotes"),
                );
                answer
            }
            None => error(
                inner,
                404,
                "NoSuchKey",
                "The specified key does not exist.",
                path,
            ),
        },
        _ => error(
            inner,
            501,
            "NotImplemented",
            "the cosinv emulator serves the inventory APIs (?inventory), bucket policies \
             (?policy), GET Bucket and GET and HEAD Object only",
            path,
        ),
    }
}

/// GET Bucket, one page: `prefix`, `delimiter`, `marker`, `max-keys`
/// (COS: 1 to 1,000, default 1,000) and at most the emulator's page size.
fn list_objects(inner: &Inner, request: &Received<'_>, bucket: &str) -> Response<Full<Bytes>> {
    let max_keys = match param(request.query, "max-keys") {
        None => MAX_OBJECT_PAGE as usize,
        Some(text) => match text.parse::<u32>() {
            Ok(n @ 1..=MAX_OBJECT_PAGE) => n as usize,
            _ => {
                let message =
                    format!("max-keys {text:?} must be a whole number from 1 to {MAX_OBJECT_PAGE}");
                return error(inner, 400, "InvalidArgument", &message, request.path);
            }
        },
    };
    let ask = ListAsk {
        prefix: param(request.query, "prefix").unwrap_or(""),
        delimiter: param(request.query, "delimiter").filter(|d| !d.is_empty()),
        marker: param(request.query, "marker").filter(|m| !m.is_empty()),
        max_keys: max_keys.min(inner.max_objects_per_page()),
    };
    let page = inner.objects.list(bucket, &ask);
    let body = listing_to_xml(
        bucket,
        &page,
        ask.marker.unwrap_or(""),
        ask.delimiter,
        max_keys as u32,
    );
    respond(inner, StatusCode::OK, Bytes::from(body))
}

/// A request the emulator refuses, as COS would: status, code, message.
struct Rejection {
    status: u16,
    code: &'static str,
    message: String,
}

fn reject(status: u16, code: &'static str, message: impl Into<String>) -> Rejection {
    Rejection {
        status,
        code,
        message: message.into(),
    }
}

fn put(
    inner: &Inner,
    request: &Received<'_>,
    bucket: &str,
    region: Option<&str>,
    id: &str,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let path = request.path;
    let config = check_digest(request, body).and_then(|()| configuration_for(id, body));
    let config = match config {
        Ok(config) => config,
        Err(refused) => return error(inner, refused.status, refused.code, &refused.message, path),
    };
    match inner.store.put(bucket, region, config) {
        Ok(()) => respond(inner, StatusCode::OK, Bytes::new()),
        Err(StoreError::Full) => error(
            inner,
            400,
            "InventoryFull",
            &format!(
                "the bucket already has {} inventory configurations, the most COS allows; \
                 delete one or replace an existing id",
                crate::model::MAX_JOBS_PER_BUCKET
            ),
            path,
        ),
        Err(StoreError::NoSuchBucket) => no_such_bucket(inner, bucket, path),
    }
}

/// POST Bucket inventory: a one-time job, refused as a duplicate when its
/// id is a periodic configuration's on the bucket or was already
/// submitted there that day.
fn post(
    inner: &Inner,
    request: &Received<'_>,
    bucket: &str,
    region: Option<&str>,
    id: &str,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let path = request.path;
    let config = check_digest(request, body).and_then(|()| one_time_configuration_for(id, body));
    let config = match config {
        Ok(config) => config,
        Err(refused) => return error(inner, refused.status, refused.code, &refused.message, path),
    };
    match inner.store.get(bucket, region, id) {
        Err(_) => return no_such_bucket(inner, bucket, path),
        Ok(Some(_)) => return duplicate(inner, id, "a periodic inventory job has this id", path),
        Ok(None) => {}
    }
    let now = inner.now();
    let job_id = inner.one_time.next_job_id(now);
    let record = OneTimeRecord {
        job_id: job_id.clone(),
        submitted: now,
    };
    match inner.store.submit_one_time(bucket, region, id, record) {
        Err(_) => no_such_bucket(inner, bucket, path),
        Ok(Err(earlier)) => {
            let why = format!(
                "a one-time job with this id was submitted today (job {})",
                earlier.job_id
            );
            duplicate(inner, id, &why, path)
        }
        Ok(Ok(())) => {
            inner.one_time.keep(super::one_time::OneTimeJob {
                bucket: bucket.to_string(),
                id: id.to_string(),
                job_id: job_id.clone(),
                body: String::from_utf8_lossy(body).into_owned(),
                config,
                submitted: now,
            });
            let answer = xml::post_result_to_xml(&job_id);
            respond(inner, StatusCode::OK, Bytes::from(answer))
        }
    }
}

/// COS's answer to an id used again (its code and status are guesses:
/// see [`crate::cos::error::DUPLICATE_INVENTORY_ID`]).
fn duplicate(inner: &Inner, id: &str, why: &str, path: &str) -> Response<Full<Bytes>> {
    let message = format!("the inventory id {id:?} is a duplicate: {why}");
    error(inner, 409, code::DUPLICATE_INVENTORY_ID, &message, path)
}

/// A one-time body: no `IsEnabled`, no `Schedule` (a malformed body to
/// COS), and otherwise held to the periodic rules.
fn one_time_configuration_for(id: &str, body: &[u8]) -> Result<InventoryConfiguration, Rejection> {
    let config = xml::one_time_configuration_from_xml(body).map_err(|err| match err {
        XmlError::Malformed { reason, .. } => reject(
            400,
            code::MALFORMED_XML,
            format!("the XML you provided was not well-formed or did not validate: {reason}"),
        ),
        invalid @ XmlError::Invalid { .. } => reject(400, "InvalidArgument", invalid.to_string()),
    })?;
    let problems = config.validate();
    if !problems.is_empty() {
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(reject(400, "InvalidArgument", text.join("; ")));
    }
    if config.id.as_str() != id {
        let message = format!("the id parameter {id:?} differs from the <Id> in the body");
        return Err(reject(400, "InvalidArgument", message));
    }
    Ok(config)
}

/// COS requires `Content-MD5` on PUT Bucket inventory, and checks it.
fn check_digest(request: &Received<'_>, body: &[u8]) -> Result<(), Rejection> {
    let md5 = request
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-md5"))
        .map(|(_, value)| value.as_str())
        .ok_or_else(|| reject(400, "InvalidDigest", "the Content-MD5 header is required"))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(md5);
    let expected = decoded
        .ok()
        .filter(|digest| digest.len() == 16)
        .ok_or_else(|| {
            reject(
                400,
                "InvalidDigest",
                "the Content-MD5 you specified is not the base64 of an MD5 digest",
            )
        })?;
    if Md5::digest(body).as_slice() != expected.as_slice() {
        return Err(reject(
            400,
            "BadDigest",
            "the Content-MD5 you specified did not match what we received",
        ));
    }
    Ok(())
}

/// The body as a valid configuration whose `<Id>` is the `id` parameter.
fn configuration_for(id: &str, body: &[u8]) -> Result<InventoryConfiguration, Rejection> {
    let config = xml::configuration_from_xml(body).map_err(|err| match err {
        XmlError::Malformed { reason, .. } => reject(
            400,
            "MalformedXML",
            format!("the XML you provided was not well-formed or did not validate: {reason}"),
        ),
        invalid @ XmlError::Invalid { .. } => reject(400, "InvalidArgument", invalid.to_string()),
    })?;
    let problems = config.validate();
    if !problems.is_empty() {
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(reject(400, "InvalidArgument", text.join("; ")));
    }
    if config.id.as_str() != id {
        return Err(reject(
            400,
            "InvalidArgument",
            format!(
                "the id parameter {id:?} differs from the <Id> {:?} in the body",
                config.id.as_str()
            ),
        ));
    }
    Ok(config)
}

fn get(
    inner: &Inner,
    bucket: &str,
    region: Option<&str>,
    id: &str,
    path: &str,
) -> Response<Full<Bytes>> {
    match inner.store.get(bucket, region, id) {
        Ok(Some(stored)) => respond(inner, StatusCode::OK, Bytes::from(stored.element())),
        Ok(None) => no_such_configuration(inner, id, path),
        Err(_) => no_such_bucket(inner, bucket, path),
    }
}

fn delete(
    inner: &Inner,
    bucket: &str,
    region: Option<&str>,
    id: &str,
    path: &str,
) -> Response<Full<Bytes>> {
    match inner.store.delete(bucket, region, id) {
        Ok(true) => respond(inner, StatusCode::NO_CONTENT, Bytes::new()),
        Ok(false) => no_such_configuration(inner, id, path),
        Err(_) => no_such_bucket(inner, bucket, path),
    }
}

fn list(
    inner: &Inner,
    request: &Received<'_>,
    bucket: &str,
    region: Option<&str>,
) -> Response<Full<Bytes>> {
    let token = param(request.query, "continuation-token").filter(|t| !t.is_empty());
    match inner.store.list(bucket, region, token, PAGE_SIZE) {
        Ok((configurations, truncated)) => {
            let next = truncated
                .then(|| configurations.last().map(|(id, _)| id.as_str()))
                .flatten();
            let elements: Vec<String> = configurations
                .iter()
                .map(|(_, stored)| stored.element())
                .collect();
            let page = xml::inventory_page_from_elements(&elements, truncated, token, next);
            respond(inner, StatusCode::OK, Bytes::from(page))
        }
        Err(_) => no_such_bucket(inner, bucket, request.path),
    }
}

/// GET Service, one page: the buckets after `marker`, at most `max-keys`
/// (COS: 1 to 2000, default 2000) and at most the emulator's page size; on
/// `cos.<region>.…` (or with the Python SDK's `region` parameter) only
/// that region's.
fn list_buckets(
    inner: &Inner,
    request: &Received<'_>,
    target: &Target,
    owner: Option<&str>,
) -> Response<Full<Bytes>> {
    let max_keys = match param(request.query, "max-keys") {
        None => MAX_SERVICE_PAGE as usize,
        Some(text) => match text.parse::<u32>() {
            Ok(n @ 1..=MAX_SERVICE_PAGE) => n as usize,
            _ => {
                let message = format!(
                    "max-keys {text:?} must be a whole number from 1 to {MAX_SERVICE_PAGE}"
                );
                return error(inner, 400, "InvalidArgument", &message, request.path);
            }
        },
    };
    let limit = max_keys.min(inner.max_buckets_per_page());
    let marker = param(request.query, "marker").filter(|m| !m.is_empty());
    let region = target
        .region
        .as_deref()
        .or_else(|| param(request.query, "region").filter(|r| !r.is_empty()));
    let org = inner.org.as_ref();
    let owned = |name: &str| super::org::check_owner(org, Some(name), owner).is_ok();
    let (buckets, is_truncated) = inner.store.bucket_page(marker, region, limit, &owned);
    let next_marker = is_truncated
        .then(|| buckets.last().map(|entry| entry.name.clone()))
        .flatten();
    let page = xml::BucketPage {
        buckets,
        is_truncated,
        marker: marker.map(str::to_string),
        next_marker,
    };
    respond(
        inner,
        StatusCode::OK,
        Bytes::from(xml::bucket_page_to_xml(OWNER, &page)),
    )
}

/// PUT and GET Bucket policy: a JSON document kept per bucket; GET of a
/// bucket without one is COS's 404 `NoSuchBucketPolicy`.
fn bucket_policy(
    inner: &Inner,
    request: &Received<'_>,
    bucket: &str,
    region: Option<&str>,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let path = request.path;
    match request.method {
        "PUT" => {
            let document = std::str::from_utf8(body).ok().filter(|text| {
                serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v.is_object())
            });
            let Some(document) = document else {
                let message = "the policy is not a JSON object";
                return error(inner, 400, "InvalidPolicyDocument", message, path);
            };
            match inner.store.put_policy(bucket, region, document.to_string()) {
                Ok(()) => respond(inner, StatusCode::NO_CONTENT, Bytes::new()),
                Err(_) => no_such_bucket(inner, bucket, path),
            }
        }
        "GET" => match inner.store.policy(bucket, region) {
            Ok(Some(policy)) => {
                let mut answer = respond(inner, StatusCode::OK, Bytes::from(policy));
                answer.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static("application/json"),
                );
                answer
            }
            Ok(None) => error(
                inner,
                404,
                "NoSuchBucketPolicy",
                "The bucket policy does not exist.",
                path,
            ),
            Err(_) => no_such_bucket(inner, bucket, path),
        },
        method => method_not_allowed(inner, method, path),
    }
}

fn counters(inner: &Inner) -> Response<Full<Bytes>> {
    let counters = inner.counters.lock().clone();
    let body = serde_json::to_vec_pretty(&counters).unwrap_or_default();
    let mut answer = respond(inner, StatusCode::OK, Bytes::from(body));
    answer.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    answer
}

fn no_such_bucket(inner: &Inner, bucket: &str, path: &str) -> Response<Full<Bytes>> {
    error(
        inner,
        404,
        "NoSuchBucket",
        &format!("The specified bucket {bucket} does not exist."),
        path,
    )
}

fn no_such_configuration(inner: &Inner, id: &str, path: &str) -> Response<Full<Bytes>> {
    error(
        inner,
        404,
        "NoSuchInventoryConfiguration",
        &format!("The specified inventory configuration {id:?} does not exist."),
        path,
    )
}

fn method_not_allowed(inner: &Inner, method: &str, path: &str) -> Response<Full<Bytes>> {
    error(
        inner,
        405,
        "MethodNotAllowed",
        &format!("The specified method {method} is not allowed against this resource."),
        path,
    )
}

/// A COS error document, escaped by the XML writer.
fn error(
    inner: &Inner,
    status: u16,
    code: &str,
    message: &str,
    resource: &str,
) -> Response<Full<Bytes>> {
    let (request_id, trace_id) = ids(inner);
    let body = xml::error_to_xml(&CosErrorBody {
        code: code.to_string(),
        message: message.to_string(),
        resource: resource.to_string(),
        request_id: request_id.clone(),
        trace_id: trace_id.clone(),
    });
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut answer = with_ids(status, Bytes::from(body), request_id, trace_id, inner.now());
    if matches!(status.as_u16(), 429 | 503)
        && let Some(seconds) = inner.faults.retry_after()
    {
        answer
            .headers_mut()
            .insert(hyper::header::RETRY_AFTER, seconds.into());
    }
    answer
}

fn respond(inner: &Inner, status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let (request_id, trace_id) = ids(inner);
    with_ids(status, body, request_id, trace_id, inner.now())
}

fn ids(inner: &Inner) -> (String, String) {
    let n = inner
        .request_ids
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    (
        format!("NjU{n:016x}ZW11bGF0b3I="),
        format!(
            "OGVmYzZiMmQzYjA2OWNhODk0NTRkMTBiOWVmMDAxODc0OWRkZjk0ZDM1NmI1M2E2MTRlY2MzZDhmNmI5MWI1OTQyYWVlY2QwZTk2MDVmZDQ3MmI2Y2I4ZmI5ZmM4ODFjZ{n:x}"
        ),
    )
}

fn with_ids(
    status: StatusCode,
    body: Bytes,
    request_id: String,
    trace_id: String,
    now: u64,
) -> Response<Full<Bytes>> {
    // The emulator's own clock, so that clients correcting their skew from
    // `Date` agree with the signature check.
    let date = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(now);
    let empty = body.is_empty();
    let mut builder = Response::builder()
        .status(status)
        .header("x-cos-request-id", request_id)
        .header("x-cos-trace-id", trace_id)
        .header(hyper::header::DATE, httpdate::fmt_http_date(date))
        .header(hyper::header::SERVER, "tencent-cos");
    if !empty {
        builder = builder.header(hyper::header::CONTENT_TYPE, "application/xml");
    }
    builder
        .body(Full::new(body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_hosted_names_give_bucket_and_region_whatever_the_domain() {
        assert_eq!(
            route("photos-1250000000.cos.ap-guangzhou.myqcloud.com", "/"),
            Target {
                bucket: Some("photos-1250000000".into()),
                region: Some("ap-guangzhou".into()),
                virtual_hosted: true,
            }
        );
        assert_eq!(
            route(
                "photos-1250000000.cos.ap-shanghai.example.internal:9000",
                "/"
            ),
            Target {
                bucket: Some("photos-1250000000".into()),
                region: Some("ap-shanghai".into()),
                virtual_hosted: true,
            }
        );
    }

    #[test]
    fn other_hosts_are_path_style_or_the_service() {
        assert_eq!(
            route("127.0.0.1:9000", "/photos-1250000000/"),
            Target {
                bucket: Some("photos-1250000000".into()),
                region: None,
                virtual_hosted: false,
            }
        );
        assert_eq!(
            route("cos.ap-beijing.myqcloud.com", "/b-1250000000"),
            Target {
                bucket: Some("b-1250000000".into()),
                region: Some("ap-beijing".into()),
                virtual_hosted: false,
            }
        );
        assert_eq!(route("service.cos.myqcloud.com", "/").bucket, None);
        assert_eq!(route("[::1]:9000", "/").bucket, None);
    }

    #[test]
    fn queries_decode() {
        assert_eq!(
            parse_query("inventory&id=list%201&continuation-token="),
            [
                ("inventory".to_string(), String::new()),
                ("id".to_string(), "list 1".to_string()),
                ("continuation-token".to_string(), String::new())
            ]
        );
    }
}
