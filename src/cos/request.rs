//! One COS call, described without sending it: the inventory calls, the
//! account-level reads cosinv makes around them (GET Service, the bucket
//! list; GET Bucket policy, to check a destination), and the reads that
//! check delivered reports (GET Bucket, GET and HEAD Object).
//!
//! An [`InventoryRequest`] is pure data: method, `Host`, query, the headers
//! COS's SDKs sign, and the body. [`InventoryRequest::signed_headers`] adds
//! `Authorization` for a given time, so every attempt is signed when it is
//! sent and a retry signs again. Sending is [`crate::send::client`]'s job.

use base64::Engine as _;
use bytes::Bytes;
use md5::{Digest, Md5};

use super::sign::{self, KeyTime, SignableRequest};
use super::xml;
use crate::credentials::Credentials;
use crate::model::{BucketName, InventoryConfiguration, InventoryId, Region};

/// Seconds a signature starts before "now", to absorb clock skew (as the
/// official SDKs do).
pub const SIGNATURE_SKEW_ALLOWANCE: u64 = 60;
/// Seconds a signature stays valid after "now".
pub const SIGNATURE_LIFETIME: u64 = 900;

/// The virtual-hosted name of a bucket: `<bucket>.cos.<region>.myqcloud.com`.
pub fn bucket_host(bucket: &BucketName, region: &Region) -> String {
    format!("{bucket}.cos.{region}.myqcloud.com")
}

/// The account-wide GET Service endpoint.
pub const SERVICE_HOST: &str = "service.cos.myqcloud.com";

/// Where GET Service is asked: the region's endpoint
/// (`cos.<region>.myqcloud.com`, which lists that region's buckets only),
/// or the account-wide one.
pub fn service_host(region: Option<&Region>) -> String {
    match region {
        Some(region) => format!("cos.{region}.myqcloud.com"),
        None => SERVICE_HOST.to_string(),
    }
}

/// The most buckets one GET Service page may hold (COS's `max-keys` cap).
pub const MAX_SERVICE_PAGE: u32 = 2000;

/// The path of every bucket-level call.
const ROOT: &str = "/";

/// The most keys one GET Bucket page may hold (COS's `max-keys` cap).
pub const MAX_OBJECT_PAGE: u32 = 1000;

/// One GET Bucket page asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectPage<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    /// The key after which the page starts (the last page's `NextMarker`).
    pub marker: Option<&'a str>,
    pub max_keys: u32,
}

/// The calls cosinv makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Put,
    /// POST Bucket inventory: a one-time inventory job.
    Post,
    Get,
    Delete,
    List,
    /// GET Service: one page of the account's buckets.
    ListBuckets,
    /// GET Bucket policy.
    GetPolicy,
    /// PUT Bucket policy (rehearsals and tests set policies with it).
    PutPolicy,
    /// GET Bucket: one page of a bucket's objects (the reports' folders).
    ListObjects,
    /// GET Object: a small object's body (a report's manifest).
    GetObject,
    /// HEAD Object: an object's size, without its body.
    HeadObject,
}

impl Operation {
    /// The call's name, for messages about it.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Put => "PUT Bucket inventory",
            Operation::Post => "POST Bucket inventory",
            Operation::Get => "GET Bucket inventory",
            Operation::Delete => "DELETE Bucket inventory",
            Operation::List => "List Bucket inventory",
            Operation::ListBuckets => "GET Service",
            Operation::GetPolicy => "GET Bucket policy",
            Operation::PutPolicy => "PUT Bucket policy",
            Operation::ListObjects => "GET Bucket",
            Operation::GetObject => "GET Object",
            Operation::HeadObject => "HEAD Object",
        }
    }
}

/// One COS inventory call, unsigned: everything but the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryRequest {
    pub operation: Operation,
    pub host: String,
    /// The URL path before percent-encoding: `/` for bucket-level calls,
    /// `/<key>` for an object's.
    pub path: String,
    /// Query parameters in wire order; `("inventory", "")` is `?inventory`.
    pub params: Vec<(String, String)>,
    /// Headers sent and signed, `Host` and `Authorization` aside.
    pub headers: Vec<(&'static str, String)>,
    /// Shared, not copied, by every attempt.
    pub body: Bytes,
}

impl InventoryRequest {
    /// `PUT /?inventory&id=ID` with the configuration as body.
    pub fn put(bucket: &BucketName, region: &Region, config: &InventoryConfiguration) -> Self {
        let body = Bytes::from(xml::configuration_to_xml(config));
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&body));
        InventoryRequest {
            operation: Operation::Put,
            host: bucket_host(bucket, region),
            path: ROOT.to_string(),
            params: id_params(config.id.as_str()),
            headers: vec![
                ("content-type", "application/xml".to_string()),
                ("content-md5", md5),
                ("content-length", body.len().to_string()),
            ],
            body,
        }
    }

    /// `POST /?inventory&id=ID`: a one-time inventory of `config`'s
    /// settings under `id`, whose body has no `IsEnabled` and no
    /// `Schedule` (COS refuses both there).
    pub fn post(
        bucket: &BucketName,
        region: &Region,
        config: &InventoryConfiguration,
        id: &InventoryId,
    ) -> Self {
        let body = Bytes::from(xml::one_time_configuration_to_xml(config, id));
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&body));
        InventoryRequest {
            operation: Operation::Post,
            host: bucket_host(bucket, region),
            path: ROOT.to_string(),
            params: id_params(id.as_str()),
            headers: vec![
                ("content-type", "application/xml".to_string()),
                ("content-md5", md5),
                ("content-length", body.len().to_string()),
            ],
            body,
        }
    }

    /// `GET /?inventory&id=ID`.
    pub fn get(bucket: &BucketName, region: &Region, id: &str) -> Self {
        Self::without_body(Operation::Get, bucket, region, id_params(id), Vec::new())
    }

    /// `DELETE /?inventory&id=ID`. Sent with `Content-Length: 0`, signed,
    /// exactly as the official SDK sends it.
    pub fn delete(bucket: &BucketName, region: &Region, id: &str) -> Self {
        let headers = vec![("content-length", "0".to_string())];
        Self::without_body(Operation::Delete, bucket, region, id_params(id), headers)
    }

    /// `GET /?inventory[&continuation-token=T]`.
    pub fn list(bucket: &BucketName, region: &Region, continuation_token: Option<&str>) -> Self {
        let mut params = vec![("inventory".to_string(), String::new())];
        if let Some(token) = continuation_token {
            params.push(("continuation-token".to_string(), token.to_string()));
        }
        Self::without_body(Operation::List, bucket, region, params, Vec::new())
    }

    /// GET Service (`GET /` on [`service_host`]), one page: buckets after
    /// `marker`, at most `max_keys` of them (COS's default and cap: 2000).
    pub fn list_buckets(host: String, marker: Option<&str>, max_keys: u32) -> Self {
        let mut params = Vec::new();
        if let Some(marker) = marker {
            params.push(("marker".to_string(), marker.to_string()));
        }
        params.push(("max-keys".to_string(), max_keys.to_string()));
        InventoryRequest {
            operation: Operation::ListBuckets,
            host,
            path: ROOT.to_string(),
            params,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// `GET /?policy`: the bucket's policy, a JSON document.
    pub fn get_policy(bucket: &BucketName, region: &Region) -> Self {
        let params = vec![("policy".to_string(), String::new())];
        Self::without_body(Operation::GetPolicy, bucket, region, params, Vec::new())
    }

    /// `PUT /?policy` with the policy (JSON) as body.
    pub fn put_policy(bucket: &BucketName, region: &Region, policy: &str) -> Self {
        let body = policy.as_bytes().to_vec();
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&body));
        InventoryRequest {
            operation: Operation::PutPolicy,
            host: bucket_host(bucket, region),
            path: ROOT.to_string(),
            params: vec![("policy".to_string(), String::new())],
            headers: vec![
                ("content-type", "application/json".to_string()),
                ("content-md5", md5),
                ("content-length", body.len().to_string()),
            ],
            body: body.into(),
        }
    }

    /// GET Bucket, one page: the keys under `prefix` after `marker`, at
    /// most `max_keys` (COS: 1 to 1,000), those sharing a part up to the
    /// next `delimiter` rolled up into common prefixes.
    pub fn list_objects(bucket: &BucketName, region: &Region, page: &ObjectPage<'_>) -> Self {
        let mut params = vec![("prefix".to_string(), page.prefix.to_string())];
        if let Some(delimiter) = page.delimiter {
            params.push(("delimiter".to_string(), delimiter.to_string()));
        }
        if let Some(marker) = page.marker {
            params.push(("marker".to_string(), marker.to_string()));
        }
        params.push(("max-keys".to_string(), page.max_keys.to_string()));
        Self::without_body(Operation::ListObjects, bucket, region, params, Vec::new())
    }

    /// `GET /<key>`: the object's body.
    pub fn get_object(bucket: &BucketName, region: &Region, key: &str) -> Self {
        let mut request = Self::without_body(Operation::GetObject, bucket, region, vec![], vec![]);
        request.path = format!("/{key}");
        request
    }

    /// `HEAD /<key>`: the object's size (`Content-Length`), no body.
    pub fn head_object(bucket: &BucketName, region: &Region, key: &str) -> Self {
        let mut request = Self::without_body(Operation::HeadObject, bucket, region, vec![], vec![]);
        request.path = format!("/{key}");
        request
    }

    fn without_body(
        operation: Operation,
        bucket: &BucketName,
        region: &Region,
        params: Vec<(String, String)>,
        headers: Vec<(&'static str, String)>,
    ) -> Self {
        InventoryRequest {
            operation,
            host: bucket_host(bucket, region),
            path: ROOT.to_string(),
            params,
            headers,
            body: Bytes::new(),
        }
    }

    pub fn method(&self) -> reqwest::Method {
        match self.operation {
            Operation::Put | Operation::PutPolicy => reqwest::Method::PUT,
            Operation::Get
            | Operation::List
            | Operation::ListBuckets
            | Operation::GetPolicy
            | Operation::ListObjects
            | Operation::GetObject => reqwest::Method::GET,
            Operation::HeadObject => reqwest::Method::HEAD,
            Operation::Delete => reqwest::Method::DELETE,
            Operation::Post => reqwest::Method::POST,
        }
    }

    fn method_name(&self) -> &'static str {
        match self.operation {
            Operation::Put | Operation::PutPolicy => "PUT",
            Operation::Get
            | Operation::List
            | Operation::ListBuckets
            | Operation::GetPolicy
            | Operation::ListObjects
            | Operation::GetObject => "GET",
            Operation::HeadObject => "HEAD",
            Operation::Delete => "DELETE",
            Operation::Post => "POST",
        }
    }

    /// `?inventory&id=…`, every value percent-encoded as COS signs it.
    pub fn query(&self) -> String {
        let mut query = String::with_capacity(64);
        for (index, (name, value)) in self.params.iter().enumerate() {
            if index > 0 {
                query.push('&');
            }
            sign::push_encoded(&mut query, name);
            if !value.is_empty() {
                query.push('=');
                sign::push_encoded(&mut query, value);
            }
        }
        query
    }

    /// Every header to send, `Host` and `Authorization` included, signed
    /// for `now` (Unix seconds): host, the body headers, `content-length`
    /// and `x-cos-security-token` when the credentials carry one.
    pub fn signed_headers(
        &self,
        credentials: &Credentials,
        now: u64,
    ) -> Vec<(&'static str, String)> {
        let mut headers = self.headers.clone();
        headers.push(("host", self.host.clone()));
        if let Some(token) = credentials.security_token() {
            headers.push(("x-cos-security-token", token.to_string()));
        }
        headers.push(("authorization", self.authorization(credentials, now)));
        headers
    }

    /// The `Authorization` of [`InventoryRequest::signed_headers`] alone,
    /// for a sender that takes the other headers from the request itself
    /// (nothing is copied).
    pub fn authorization(&self, credentials: &Credentials, now: u64) -> String {
        let mut header_pairs: Vec<(&str, &str)> = Vec::with_capacity(self.headers.len() + 2);
        header_pairs.extend(self.headers.iter().map(|(n, v)| (*n, v.as_str())));
        header_pairs.push(("host", &self.host));
        if let Some(token) = credentials.security_token() {
            header_pairs.push(("x-cos-security-token", token));
        }
        let param_pairs: Vec<(&str, &str)> = self
            .params
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let request = SignableRequest {
            method: self.method_name(),
            path: &self.path,
            params: &param_pairs,
            headers: &header_pairs,
        };
        let window = KeyTime::around(now, SIGNATURE_SKEW_ALLOWANCE, SIGNATURE_LIFETIME);
        sign::sign(&request, credentials, window)
    }
}

fn id_params(id: &str) -> Vec<(String, String)> {
    vec![
        ("inventory".to_string(), String::new()),
        ("id".to_string(), id.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::sample;

    fn bucket() -> (BucketName, Region) {
        (
            BucketName::parse("examplebucket-1250000000").unwrap(),
            Region::parse("ap-guangzhou").unwrap(),
        )
    }

    fn names(headers: &[(&'static str, String)]) -> Vec<&'static str> {
        headers.iter().map(|(name, _)| *name).collect()
    }

    #[test]
    fn post_is_a_signed_post_whose_body_has_no_schedule_and_no_switch() {
        let (bucket, region) = bucket();
        let id = InventoryId::parse("list1-20261207T020000").unwrap();
        let request = InventoryRequest::post(&bucket, &region, &sample(), &id);
        assert_eq!(request.method(), reqwest::Method::POST);
        assert_eq!(request.query(), "inventory&id=list1-20261207T020000");
        assert_eq!(
            request.host,
            "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com"
        );
        let creds = Credentials::new("AKIDtest", "key", None);
        let headers = request.signed_headers(&creds, 1_700_000_000);
        let names = names(&headers);
        assert_eq!(
            names,
            [
                "content-type",
                "content-md5",
                "content-length",
                "host",
                "authorization"
            ]
        );
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&request.body));
        assert_eq!(headers[1].1, md5);
        let body = std::str::from_utf8(&request.body).unwrap();
        assert!(
            !body.contains("IsEnabled") && !body.contains("Schedule"),
            "{body}"
        );
        assert!(body.contains("<Id>list1-20261207T020000</Id>"), "{body}");
        assert!(body.contains("<Destination>") && body.contains("<IncludedObjectVersions>"));
        let authorization = &headers[4].1;
        assert!(
            authorization.contains("q-header-list=content-length;content-md5;content-type;host")
        );
    }

    #[test]
    fn put_carries_md5_type_length_and_is_signed_over_them() {
        let (bucket, region) = bucket();
        let request = InventoryRequest::put(&bucket, &region, &sample());
        assert_eq!(request.query(), "inventory&id=list1");
        let creds = Credentials::new("AKIDtest", "key", Some("tok".into()));
        let headers = request.signed_headers(&creds, 1_700_000_000);
        assert_eq!(
            names(&headers),
            [
                "content-type",
                "content-md5",
                "content-length",
                "host",
                "x-cos-security-token",
                "authorization"
            ]
        );
        let auth = &headers.last().unwrap().1;
        assert!(
            auth.contains("&q-header-list=content-length;content-md5;content-type;host;x-cos-security-token&q-url-param-list=id;inventory&"),
            "{auth}"
        );
        assert!(auth.contains("q-sign-time=1699999940;1700000900"), "{auth}");
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&request.body));
        assert_eq!(headers[1].1, md5);
        assert_eq!(headers[2].1, request.body.len().to_string());
        assert_eq!(
            headers[3].1,
            "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com"
        );
    }

    #[test]
    fn delete_sends_and_signs_content_length_zero_like_the_sdk() {
        let (bucket, region) = bucket();
        let request = InventoryRequest::delete(&bucket, &region, "list1");
        let headers = request.signed_headers(&Credentials::new("a", "b", None), 10);
        assert_eq!(names(&headers), ["content-length", "host", "authorization"]);
        assert_eq!(headers[0].1, "0");
        assert!(headers[2].1.contains("q-header-list=content-length;host&"));
    }

    #[test]
    fn signing_again_later_gives_a_new_window() {
        let (bucket, region) = bucket();
        let request = InventoryRequest::get(&bucket, &region, "a");
        let creds = Credentials::new("a", "b", None);
        let first = request.signed_headers(&creds, 1_000);
        let later = request.signed_headers(&creds, 2_000);
        assert_ne!(first.last(), later.last());
    }

    #[test]
    fn the_bucket_list_signs_its_paging_parameters() {
        let request = InventoryRequest::list_buckets(service_host(None), Some("b-125"), 50);
        assert_eq!(request.host, "service.cos.myqcloud.com");
        assert_eq!(request.query(), "marker=b-125&max-keys=50");
        assert_eq!(request.method(), reqwest::Method::GET);
        let headers = request.signed_headers(&Credentials::new("a", "b", None), 10);
        assert_eq!(names(&headers), ["host", "authorization"]);
        assert!(headers[1].1.contains("&q-url-param-list=marker;max-keys&"));
        let region = Region::parse("ap-beijing").unwrap();
        let first = InventoryRequest::list_buckets(service_host(Some(&region)), None, 2000);
        assert_eq!(first.host, "cos.ap-beijing.myqcloud.com");
        assert_eq!(first.query(), "max-keys=2000");
    }

    #[test]
    fn bucket_policies_are_read_and_written_at_query_policy() {
        let (bucket, region) = bucket();
        let get = InventoryRequest::get_policy(&bucket, &region);
        assert_eq!(
            (get.query(), get.method()),
            ("policy".into(), reqwest::Method::GET)
        );
        let put = InventoryRequest::put_policy(&bucket, &region, "{}");
        assert_eq!(put.method(), reqwest::Method::PUT);
        assert_eq!(put.headers[0], ("content-type", "application/json".into()));
        let auth = put.signed_headers(&Credentials::new("a", "b", None), 10);
        assert!(auth.last().unwrap().1.contains("q-url-param-list=policy&"));
    }

    #[test]
    fn object_reads_sign_their_key_path_and_listing_parameters() {
        let (bucket, region) = bucket();
        let page = ObjectPage {
            prefix: "cos_bucket_inventory/1250000000/photos/daily/",
            delimiter: Some("/"),
            marker: Some("cos_bucket_inventory/1250000000/photos/daily/20261201/"),
            max_keys: 1000,
        };
        let list = InventoryRequest::list_objects(&bucket, &region, &page);
        assert_eq!(
            (list.method(), list.path.as_str()),
            (reqwest::Method::GET, "/")
        );
        assert!(
            list.query()
                .starts_with("prefix=cos_bucket_inventory%2F1250000000%2F")
        );
        assert!(list.query().ends_with("&max-keys=1000"), "{}", list.query());
        let creds = Credentials::new("a", "b", None);
        let auth = list.authorization(&creds, 10);
        assert!(
            auth.contains("q-url-param-list=delimiter;marker;max-keys;prefix&"),
            "{auth}"
        );
        let key = "cos_bucket_inventory/1250000000/photos/daily/20261206/manifest.json";
        let get = InventoryRequest::get_object(&bucket, &region, key);
        assert_eq!(get.path, format!("/{key}"));
        assert_eq!(
            (get.method(), get.query()),
            (reqwest::Method::GET, String::new())
        );
        let head = InventoryRequest::head_object(&bucket, &region, key);
        assert_eq!(head.method(), reqwest::Method::HEAD);
        // The path is signed: the same key under another name signs apart.
        let other = InventoryRequest::get_object(&bucket, &region, "other");
        assert_ne!(
            get.authorization(&creds, 10),
            other.authorization(&creds, 10)
        );
        assert_ne!(
            get.authorization(&creds, 10),
            head.authorization(&creds, 10)
        );
    }

    #[test]
    fn list_query_encodes_the_continuation_token() {
        let (bucket, region) = bucket();
        let request = InventoryRequest::list(&bucket, &region, Some("a/b+c="));
        assert_eq!(request.query(), "inventory&continuation-token=a%2Fb%2Bc%3D");
    }
}
