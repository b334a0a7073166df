//! Property test of the emulator's request handling, through its real
//! HTTP server: any method, path, query, host, headers and body — signed
//! correctly or not — gets an answer (no panic, no hang), with a status
//! COS uses and, when it is an error, a COS `<Error>` document.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use cosinv::cos::sign::{self, KeyTime, SignableRequest};
use cosinv::cos::xml;
use cosinv::credentials::Credentials;
use cosinv::emulator::{Emulator, EmulatorConfig};
use proptest::prelude::*;

use super::mutate;
use super::{SECRET_ID, SECRET_KEY};

/// Statuses COS answers the inventory APIs with.
const COS_STATUSES: &[u16] = &[200, 204, 400, 403, 404, 405, 409, 411, 500, 501, 503];

/// One emulator for every case, on a runtime of its own.
fn emulator() -> SocketAddr {
    static SERVER: OnceLock<(tokio::runtime::Runtime, Emulator)> = OnceLock::new();
    let (_, emulator) = SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let emulator = runtime
            .block_on(Emulator::start(
                EmulatorConfig::new(Credentials::new(SECRET_ID, SECRET_KEY, None)),
                ([127, 0, 0, 1], 0).into(),
            ))
            .unwrap();
        (runtime, emulator)
    });
    emulator.addr()
}

/// A request as decoded values; [`Request::bytes`] writes it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    /// Percent-decoded path segments after the leading `/`.
    path: Vec<String>,
    query: Vec<(String, String)>,
    host: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    signed: bool,
}

impl Request {
    fn path(&self) -> String {
        format!("/{}", self.path.join("/"))
    }

    fn bytes(&self) -> Vec<u8> {
        let wire_path: Vec<String> = self.path.iter().map(|s| sign::cos_encode(s)).collect();
        let query: Vec<String> = self
            .query
            .iter()
            .map(|(n, v)| format!("{}={}", sign::cos_encode(n), sign::cos_encode(v)))
            .collect();
        let mut head = format!("{} /{}", self.method, wire_path.join("/"));
        if !query.is_empty() {
            head.push('?');
            head.push_str(&query.join("&"));
        }
        head.push_str(" HTTP/1.1\r\n");
        let mut headers = self.headers.clone();
        headers.push(("Host".into(), self.host.clone()));
        if self.signed {
            headers.push(("Authorization".into(), self.authorization(&headers)));
        }
        for (name, value) in &headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// A correct signature over every header and parameter sent.
    fn authorization(&self, headers: &[(String, String)]) -> String {
        let path = self.path();
        let params: Vec<(&str, &str)> = self
            .query
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        sign::sign(
            &SignableRequest {
                method: &self.method,
                path: &path,
                params: &params,
                headers: &headers,
            },
            &Credentials::new(SECRET_ID, SECRET_KEY, None),
            KeyTime::around(crate::now(), 60, 900),
        )
    }

    /// No name sent twice and no empty parameter name (`?=x`): which value
    /// a signature covers is then a matter of choice, and a refusal is
    /// right.
    fn unambiguous(&self) -> bool {
        let unique = |names: Vec<String>| {
            let count = names.len();
            names
                .into_iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len()
                == count
        };
        unique(
            self.headers
                .iter()
                .map(|(n, _)| n.to_ascii_lowercase())
                .collect(),
        ) && unique(self.query.iter().map(|(n, _)| n.clone()).collect())
            && self.query.iter().all(|(n, _)| !n.is_empty())
    }

    /// The emulator's own extras (counters, STS, metadata) answer in
    /// their own formats.
    fn is_cos(&self) -> bool {
        !self.path().starts_with("/-/")
    }
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["GET", "PUT", "DELETE", "POST", "HEAD", "OPTIONS", "PATCH"])
            .prop_map(str::to_string),
        1 => "[A-Z]{1,10}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z0-9._-]{0,12}",
        1 => "[^\\p{C}]{0,12}",
        1 => prop::collection::vec(any::<u8>(), 0..12)
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    ]
}

fn path() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        4 => Just(vec![String::new()]),
        1 => prop::sample::select(vec!["photos-1250000000", "-", "x-1250000000"])
            .prop_map(|bucket| vec![bucket.to_string(), String::new()]),
        1 => prop::sample::select(vec![
            "-/cosinv/counters",
            "-/sts",
            "-/metadata/latest/meta-data/cam/security-credentials/",
        ])
        .prop_map(|path| path.split('/').map(str::to_string).collect()),
        1 => prop::collection::vec(text(), 1..4),
    ]
}

fn query() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        3 => prop::sample::select(vec!["inventory", "id", "continuation-token"]).prop_map(str::to_string),
        1 => text(),
    ];
    prop::collection::vec((name, text()), 0..4)
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => ("[a-z0-9-]{1,12}-125[0-9]{7}", prop::sample::select(vec!["ap-guangzhou", "ap-beijing", "x"]))
            .prop_map(|(bucket, region)| format!("{bucket}.cos.{region}.myqcloud.com")),
        2 => Just("photos-1250000000.cos.ap-guangzhou.myqcloud.com".to_string()),
        1 => prop::sample::select(vec![
            "service.cos.myqcloud.com",
            "cos.ap-beijing.myqcloud.com",
            "127.0.0.1:9000",
            "[::1]:9000",
            ".cos.",
        ])
        .prop_map(str::to_string),
        1 => "[a-zA-Z0-9.:-]{0,30}",
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        3 => prop::sample::select(vec![
            "Content-MD5", "Content-Type", "x-cos-security-token", "x-cos-meta-a", "Range", "Date",
        ])
        .prop_map(str::to_string),
        1 => "x-[a-z]{1,10}",
    ];
    prop::collection::vec((name, "[!-~]([ -~]{0,38}[!-~])?"), 0..4)
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let config = "<InventoryConfiguration><Id>a</Id><IsEnabled>true</IsEnabled><Destination>\
        <COSBucketDestination><Format>CSV</Format><Bucket>qcs::cos:ap-guangzhou::d-1250000000</Bucket>\
        </COSBucketDestination></Destination><Schedule><Frequency>Daily</Frequency></Schedule>\
        <IncludedObjectVersions>All</IncludedObjectVersions></InventoryConfiguration>";
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..256),
        2 => mutate::edits().prop_map(move |edits| mutate::apply(config.as_bytes(), &edits, &[b"<", b"&", b"\x00"])),
        1 => Just(config.as_bytes().to_vec()),
    ]
}

prop_compose! {
    fn request()(
        method in method(),
        path in path(),
        query in query(),
        host in host(),
        mut headers in headers(),
        body in body(),
        signed in prop::bool::weighted(0.7),
        right_md5 in any::<bool>(),
    ) -> Request {
        if right_md5 {
            use base64::Engine;
            use md5::Digest;
            let digest = md5::Md5::digest(&body);
            headers.push(("Content-MD5".into(), base64::engine::general_purpose::STANDARD.encode(digest)));
        }
        Request { method, path, query, host, headers, body, signed }
    }
}

/// Sends `bytes` and reads the whole answer (the server closes after it).
fn exchange(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(emulator())?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(bytes)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(answer)
}

fn check_answer(request: &Request, answer: &[u8]) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| TestCaseError::fail(format!("no answer: {text:?}")))?;
    let status: u16 = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| TestCaseError::fail(format!("no status line: {head:?}")))?;
    if !request.is_cos() {
        prop_assert!((200..600).contains(&status), "{}", head);
        return Ok(());
    }
    prop_assert!(
        COS_STATUSES.contains(&status),
        "status {} for {:?}",
        status,
        request
    );
    let has_request_id = head.to_ascii_lowercase().contains("\r\nx-cos-request-id: ");
    prop_assert!(has_request_id, "no request id: {}", head);
    if status < 300 || request.method == "HEAD" {
        return Ok(());
    }
    let error = xml::error_from_xml(body.as_bytes()).map_err(|_| {
        TestCaseError::fail(format!("status {status} without a COS error: {body:?}"))
    })?;
    if request.signed && request.unambiguous() {
        // A correct signature over everything sent is never refused.
        let refused = [
            "SignatureDoesNotMatch",
            "AccessDenied",
            "InvalidAccessKeyId",
        ];
        prop_assert!(
            !refused.contains(&error.code.as_str()),
            "{:?} for {:?}",
            error,
            request
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(mutate::config(128))]

    #[test]
    fn any_request_gets_a_cos_answer(request in request()) {
        let answer = exchange(&request.bytes())
            .map_err(|err| TestCaseError::fail(format!("{err} for {request:?}")))?;
        check_answer(&request, &answer)?;
    }
}
