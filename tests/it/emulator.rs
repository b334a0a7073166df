//! The emulator driven with raw HTTP/1.1 written by hand over TCP, signed
//! with the documented algorithm: what any COS client would send, not
//! only what cosinv's client sends.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use md5::{Digest, Md5};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use cosinv::cos::sign::{self, KeyTime, SignableRequest};
use cosinv::cos::xml::{self, BucketEntry};
use cosinv::credentials::Credentials;
use cosinv::emulator::{Emulator, EmulatorConfig, Faults};
use cosinv::model::InventoryId;

use crate::now;

const ID: &str = "AKIDemulatortests";
const KEY: &str = "emulator-tests-secret";
const BUCKET: &str = "photos-1250000000";
const HOST: &str = "photos-1250000000.cos.ap-guangzhou.myqcloud.com";

fn credentials() -> Credentials {
    Credentials::new(ID, KEY, None)
}

async fn start(buckets: Option<Vec<BucketEntry>>) -> Emulator {
    crate::local_emulator(EmulatorConfig {
        buckets,
        ..EmulatorConfig::new(credentials())
    })
    .await
}

fn config_xml(id: &str) -> String {
    format!(
        "<InventoryConfiguration><Id>{id}</Id><IsEnabled>true</IsEnabled>\
         <Destination><COSBucketDestination><Format>CSV</Format>\
         <AccountId>100000000001</AccountId><Bucket>qcs::cos:ap-guangzhou::inventory-1250000000</Bucket>\
         <Prefix>list</Prefix><Encryption><SSE-COS></SSE-COS></Encryption></COSBucketDestination></Destination>\
         <Schedule><Frequency>Daily</Frequency></Schedule>\
         <Filter><Prefix>logs/</Prefix></Filter>\
         <IncludedObjectVersions>All</IncludedObjectVersions>\
         <OptionalFields><Field>Size</Field><Field>ETag</Field></OptionalFields>\
         </InventoryConfiguration>"
    )
}

fn md5_of(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(body))
}

/// One request to write by hand.
struct Raw<'a> {
    method: &'a str,
    /// What goes on the request line: `/?inventory&id=x`, or absolute.
    target: String,
    /// The path the signature covers.
    path: &'a str,
    params: Vec<(&'a str, &'a str)>,
    headers: Vec<(&'a str, String)>,
    body: Vec<u8>,
    sign_with: Option<(Credentials, KeyTime)>,
}

impl<'a> Raw<'a> {
    fn new(method: &'a str, host: &str, path: &'a str, params: Vec<(&'a str, &'a str)>) -> Self {
        let query: Vec<String> = params
            .iter()
            .map(|(name, value)| {
                if value.is_empty() {
                    name.to_string()
                } else {
                    format!("{name}={}", sign::cos_encode(value))
                }
            })
            .collect();
        let target = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", query.join("&"))
        };
        Raw {
            method,
            target,
            path,
            params,
            headers: vec![("Host", host.to_string())],
            body: Vec::new(),
            sign_with: Some((credentials(), KeyTime::around(now(), 60, 900))),
        }
    }

    fn body(mut self, body: &[u8]) -> Self {
        self.headers.push(("Content-MD5", md5_of(body)));
        self.headers
            .push(("Content-Type", "application/xml".into()));
        self.body = body.to_vec();
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut headers = self.headers.clone();
        headers.push(("Content-Length", self.body.len().to_string()));
        if let Some((credentials, window)) = &self.sign_with {
            let signed: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let authorization = sign::sign(
                &SignableRequest {
                    method: self.method,
                    path: self.path,
                    params: &self.params,
                    headers: &signed,
                },
                credentials,
                *window,
            );
            headers.push(("Authorization", authorization));
        }
        let mut text = format!("{} {} HTTP/1.1\r\n", self.method, self.target);
        for (name, value) in &headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("Connection: close\r\n\r\n");
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn code(&self) -> String {
        xml::error_from_xml(self.body.as_bytes()).unwrap().code
    }
}

/// Sends raw bytes; `None` when the connection closed without an answer.
async fn send_bytes(emulator: &Emulator, bytes: &[u8]) -> Option<Answer> {
    let mut stream = tokio::net::TcpStream::connect(emulator.addr())
        .await
        .unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received).await;
    let text = String::from_utf8(received).unwrap();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    Some(Answer {
        status,
        headers,
        body: body.to_string(),
    })
}

async fn send(emulator: &Emulator, raw: Raw<'_>) -> Answer {
    send_bytes(emulator, &raw.bytes()).await.expect("an answer")
}

fn put<'a>(id: &'a str) -> Raw<'a> {
    Raw::new("PUT", HOST, "/", vec![("inventory", ""), ("id", id)]).body(config_xml(id).as_bytes())
}

#[tokio::test]
async fn put_get_list_delete_with_hand_signed_requests() {
    let emulator = start(None).await;
    let answer = send(&emulator, put("list1")).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.header("x-cos-request-id").is_some());
    assert!(answer.header("date").is_some());

    let answer = send(
        &emulator,
        Raw::new("GET", HOST, "/", vec![("inventory", ""), ("id", "list1")]),
    )
    .await;
    assert_eq!(answer.status, 200);
    let config = xml::configuration_from_xml(answer.body.as_bytes()).unwrap();
    assert_eq!(config.id.as_str(), "list1");
    assert_eq!(emulator.inventory(BUCKET), [config]);

    let answer = send(
        &emulator,
        Raw::new("GET", HOST, "/", vec![("inventory", "")]),
    )
    .await;
    let page = xml::inventory_page_from_xml(answer.body.as_bytes()).unwrap();
    assert_eq!(page.configurations.len(), 1);
    assert!(!page.is_truncated);

    let answer = send(
        &emulator,
        Raw::new(
            "DELETE",
            HOST,
            "/",
            vec![("inventory", ""), ("id", "list1")],
        ),
    )
    .await;
    assert_eq!(answer.status, 204);
    let answer = send(
        &emulator,
        Raw::new("GET", HOST, "/", vec![("inventory", ""), ("id", "list1")]),
    )
    .await;
    assert_eq!(
        (answer.status, answer.code()),
        (404, "NoSuchInventoryConfiguration".into())
    );
    let answer = send(
        &emulator,
        Raw::new(
            "DELETE",
            HOST,
            "/",
            vec![("inventory", ""), ("id", "list1")],
        ),
    )
    .await;
    assert_eq!(answer.status, 404);
}

#[tokio::test]
async fn path_style_any_domain_and_absolute_form_are_addressed() {
    let emulator = start(None).await;
    let host = emulator.addr().to_string();
    let path = "/logs-1250000000/";
    let raw = Raw::new("PUT", &host, path, vec![("inventory", ""), ("id", "a")])
        .body(config_xml("a").as_bytes());
    assert_eq!(send(&emulator, raw).await.status, 200);
    assert_eq!(emulator.inventory("logs-1250000000").len(), 1);

    let sdk_host = format!(
        "media-1250000000.cos.ap-shanghai.{}",
        "127.0.0.1.nip.example"
    );
    let raw = Raw::new("PUT", &sdk_host, "/", vec![("inventory", ""), ("id", "b")])
        .body(config_xml("b").as_bytes());
    assert_eq!(send(&emulator, raw).await.status, 200);
    assert_eq!(emulator.inventory("media-1250000000").len(), 1);

    let mut raw = Raw::new("GET", HOST, "/", vec![("inventory", ""), ("id", "b")]);
    raw.target = format!("http://{HOST}/?inventory&id=b");
    let answer = send(&emulator, raw).await;
    assert_eq!(
        (answer.status, answer.code()),
        (404, "NoSuchInventoryConfiguration".into())
    );
}

#[tokio::test]
async fn signatures_are_checked_as_cos_does() {
    let emulator = start(None).await;
    let get = || Raw::new("GET", HOST, "/", vec![("inventory", "")]);

    let mut tampered = get().bytes();
    let text = String::from_utf8(tampered.clone()).unwrap();
    let at = text.find("q-signature=").unwrap() + "q-signature=".len();
    tampered[at] = if tampered[at] == b'a' { b'b' } else { b'a' };
    let answer = send_bytes(&emulator, &tampered).await.unwrap();
    assert_eq!(
        (answer.status, answer.code()),
        (403, "SignatureDoesNotMatch".into())
    );

    let mut other_key = get();
    other_key.sign_with = Some((
        Credentials::new(ID, "wrong", None),
        KeyTime::around(now(), 60, 900),
    ));
    assert_eq!(
        send(&emulator, other_key).await.code(),
        "SignatureDoesNotMatch"
    );

    let mut unknown = get();
    unknown.sign_with = Some((
        Credentials::new("AKIDnobody", KEY, None),
        KeyTime::around(now(), 60, 900),
    ));
    let answer = send(&emulator, unknown).await;
    assert_eq!(
        (answer.status, answer.code()),
        (403, "InvalidAccessKeyId".into())
    );

    let mut unsigned = get();
    unsigned.sign_with = None;
    assert_eq!(send(&emulator, unsigned).await.code(), "AccessDenied");

    // A window that has ended, then one not yet begun: the emulator's
    // clock is moved, nobody waits.
    let ahead = now() + 3_600;
    emulator.set_clock(Some(ahead));
    let answer = send(&emulator, get()).await;
    let error = xml::error_from_xml(answer.body.as_bytes()).unwrap();
    assert_eq!(
        (answer.status, error.code.as_str(), error.message.as_str()),
        (403, "AccessDenied", "Request has expired")
    );
    // `Date` follows the emulator's clock, so clients can correct by it.
    let date = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(ahead));
    assert_eq!(answer.header("date"), Some(date.as_str()));
    emulator.set_clock(Some(now() - 3_600));
    let answer = send(&emulator, get()).await;
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (403, "RequestTimeTooSkewed")
    );
    emulator.set_clock(None);
    assert_eq!(send(&emulator, get()).await.status, 200);
}

#[tokio::test]
async fn a_configured_security_token_is_required() {
    let emulator = crate::local_emulator(EmulatorConfig::new(Credentials::new(
        ID,
        KEY,
        Some("session-token".into()),
    )))
    .await;
    let raw = Raw::new("GET", HOST, "/", vec![("inventory", "")]);
    assert_eq!(send(&emulator, raw).await.code(), "AccessDenied");
    let mut raw = Raw::new("GET", HOST, "/", vec![("inventory", "")]);
    raw.headers
        .push(("x-cos-security-token", "session-token".into()));
    assert_eq!(send(&emulator, raw).await.status, 200);
}

#[tokio::test]
async fn put_is_validated_as_cos_does() {
    let emulator = start(None).await;
    let body = config_xml("a");
    let codes =
        [
            {
                let mut raw = Raw::new("PUT", HOST, "/", vec![("inventory", ""), ("id", "a")]);
                raw.body = body.clone().into_bytes();
                send(&emulator, raw).await.code()
            },
            {
                let mut raw = Raw::new("PUT", HOST, "/", vec![("inventory", ""), ("id", "a")]);
                raw.headers.push(("Content-MD5", "bm90IGFuIG1kNQ==".into()));
                raw.body = body.clone().into_bytes();
                send(&emulator, raw).await.code()
            },
            {
                let mut raw = Raw::new("PUT", HOST, "/", vec![("inventory", ""), ("id", "a")]);
                raw.headers.push(("Content-MD5", md5_of(b"other")));
                raw.body = body.clone().into_bytes();
                send(&emulator, raw).await.code()
            },
            send(
                &emulator,
                Raw::new("PUT", HOST, "/", vec![("inventory", ""), ("id", "a")])
                    .body(b"<InventoryConfiguration><Id>a</Id"),
            )
            .await
            .code(),
            send(
                &emulator,
                Raw::new("PUT", HOST, "/", vec![("inventory", ""), ("id", "a")])
                    .body(body.replace("Daily", "Hourly").as_bytes()),
            )
            .await
            .code(),
            send(
                &emulator,
                Raw::new("PUT", HOST, "/", vec![("inventory", ""), ("id", "other")])
                    .body(body.as_bytes()),
            )
            .await
            .code(),
            send(
                &emulator,
                Raw::new("PUT", HOST, "/", vec![("inventory", ""), ("id", "a")])
                    .body(&vec![b' '; 2 * 1024 * 1024]),
            )
            .await
            .code(),
            send(
                &emulator,
                // POST is one-time inventories' (tests/it/run_now.rs).
                Raw::new("PATCH", HOST, "/", vec![("inventory", ""), ("id", "a")]),
            )
            .await
            .code(),
        ];
    assert_eq!(
        codes,
        [
            "InvalidDigest",
            "InvalidDigest",
            "BadDigest",
            "MalformedXML",
            "InvalidArgument",
            "InvalidArgument",
            "XMLSizeLimit",
            "MethodNotAllowed"
        ]
    );
    assert!(emulator.inventory(BUCKET).is_empty());
}

#[tokio::test]
async fn errors_are_escaped_cos_xml_with_a_request_id() {
    let emulator = start(None).await;
    let id = "a<&>\"b";
    let answer = send(
        &emulator,
        Raw::new("PUT", HOST, "/", vec![("inventory", ""), ("id", id)])
            .body(config_xml("a").as_bytes()),
    )
    .await;
    assert_eq!(answer.status, 400);
    assert!(answer.body.contains("&lt;&amp;&gt;"), "{}", answer.body);
    let error = xml::error_from_xml(answer.body.as_bytes()).unwrap();
    assert!(error.message.contains("a<&>"), "{error:?}");
    assert_eq!(
        Some(error.request_id.as_str()),
        answer.header("x-cos-request-id")
    );
    assert_eq!(error.resource, "/");
}

#[tokio::test]
async fn a_bucket_list_makes_other_buckets_unknown_and_is_served() {
    let emulator = start(Some(vec![BucketEntry {
        name: BUCKET.into(),
        location: "ap-guangzhou".into(),
        creation_date: "2024-01-01T00:00:00Z".into(),
    }]))
    .await;
    let other = "other-1250000000.cos.ap-guangzhou.myqcloud.com";
    let answer = send(
        &emulator,
        Raw::new("GET", other, "/", vec![("inventory", "")]),
    )
    .await;
    assert_eq!((answer.status, answer.code()), (404, "NoSuchBucket".into()));
    let answer = send(
        &emulator,
        Raw::new("GET", "service.cos.myqcloud.com", "/", vec![]),
    )
    .await;
    assert_eq!(answer.status, 200);
    let buckets = xml::bucket_list_from_xml(answer.body.as_bytes()).unwrap();
    assert_eq!(buckets.len(), 1);
    assert_eq!(buckets[0].name, BUCKET);
}

#[tokio::test]
async fn lists_page_by_100_across_250_configurations() {
    let emulator = start(None).await;
    let template = xml::configuration_from_xml(config_xml("x").as_bytes()).unwrap();
    for n in 0..250 {
        let mut config = template.clone();
        config.id = InventoryId::parse(&format!("id-{n:03}")).unwrap();
        emulator.insert_inventory(BUCKET, config);
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let mut params = vec![("inventory", "")];
        if let Some(token) = &token {
            params.push(("continuation-token", token.as_str()));
        }
        let answer = send(&emulator, Raw::new("GET", HOST, "/", params)).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        let page = xml::inventory_page_from_xml(answer.body.as_bytes()).unwrap();
        pages.push(page.configurations.len());
        seen.extend(
            page.configurations
                .iter()
                .map(|c| c.id.as_str().to_string()),
        );
        if !page.is_truncated {
            break;
        }
        token = page.next_continuation_token;
    }
    assert_eq!(pages, [100, 100, 50]);
    let expected: Vec<String> = (0..250).map(|n| format!("id-{n:03}")).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn the_limit_is_exactly_1000_and_replacing_still_works() {
    let emulator = start(None).await;
    let template = xml::configuration_from_xml(config_xml("x").as_bytes()).unwrap();
    for n in 0..999 {
        let mut config = template.clone();
        config.id = InventoryId::parse(&format!("id-{n:03}")).unwrap();
        emulator.insert_inventory(BUCKET, config);
    }
    assert_eq!(send(&emulator, put("the-1000th")).await.status, 200);
    let answer = send(&emulator, put("the-1001st")).await;
    assert_eq!(
        (answer.status, answer.code()),
        (400, "InventoryFull".into())
    );
    assert_eq!(send(&emulator, put("id-007")).await.status, 200);
    assert_eq!(emulator.inventory(BUCKET).len(), 1000);
}

#[tokio::test]
async fn faults_are_deterministic_for_a_seed() {
    let emulator = start(None).await;
    let faults = Faults {
        slow_down: 0.3,
        internal_error: 0.2,
        seed: 11,
        ..Faults::default()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        emulator.set_faults(faults.clone());
        let mut statuses = Vec::new();
        for _ in 0..40 {
            let get = Raw::new("GET", HOST, "/", vec![("inventory", "")]);
            statuses.push(send(&emulator, get).await.status);
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].contains(&503) && runs[0].contains(&500) && runs[0].contains(&200));
}

#[tokio::test]
async fn resets_close_the_connection_and_clients_see_a_connection_error() {
    let emulator = start(None).await;
    emulator.set_faults(Faults {
        reset: 1.0,
        ..Faults::default()
    });
    let raw = Raw::new("GET", HOST, "/", vec![("inventory", "")]);
    assert!(send_bytes(&emulator, &raw.bytes()).await.is_none());

    let client = cosinv::send::client::CosClient::new(cosinv::send::client::ClientConfig {
        request_timeout: Duration::from_secs(5),
        ..cosinv::send::client::ClientConfig::new(
            cosinv::send::client::Endpoint::parse(&emulator.endpoint(), false).unwrap(),
            cosinv::credentials::SharedCredentials::fixed(
                credentials(),
                cosinv::credentials::CredentialSource::Explicit,
            ),
        )
    })
    .unwrap();
    let bucket = cosinv::model::BucketName::parse(BUCKET).unwrap();
    let region = cosinv::model::Region::parse("ap-guangzhou").unwrap();
    let request = cosinv::cos::request::InventoryRequest::list(&bucket, &region, None);
    let err = client.send(&request, now()).await.unwrap_err();
    assert_eq!(
        err.kind,
        cosinv::send::client::TransportErrorKind::Connection,
        "{err:?}"
    );
    assert!(emulator.counters().requests[&("GET".to_string(), "reset".to_string())] >= 2);
}

/// The status of a signed List on the test bucket.
async fn list_status(emulator: &Emulator) -> u16 {
    send(
        emulator,
        Raw::new("GET", HOST, "/", vec![("inventory", "")]),
    )
    .await
    .status
}

// The emulator's ceilings and windows read tokio's clock: on a paused one
// the test decides when time passes, and nothing waits for it.

#[tokio::test(start_paused = true)]
async fn a_rate_ceiling_answers_slow_down_with_retry_after_until_it_refills() {
    let emulator = start(None).await;
    emulator.set_faults(Faults {
        bucket_rate_limit: Some(2.0),
        retry_after: Some(3),
        ..Faults::default()
    });
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..5 {
        let answer = send(
            &emulator,
            Raw::new("GET", HOST, "/", vec![("inventory", "")]),
        )
        .await;
        if answer.status == 503 {
            assert_eq!(answer.code(), "SlowDown");
            retry_after = answer.header("retry-after").map(str::to_string);
        }
        statuses.push(answer.status);
    }
    // A burst of one second's worth, then nothing until time passes.
    assert_eq!(statuses, [200, 200, 503, 503, 503]);
    assert_eq!(retry_after.as_deref(), Some("3"));
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(list_status(&emulator).await, 200, "one token in 0.5 s");
    assert_eq!(list_status(&emulator).await, 503);
}

#[tokio::test(start_paused = true)]
async fn outage_windows_and_rate_schedules_follow_the_clock() {
    let emulator = start(None).await;
    emulator.set_faults(Faults {
        rate_limit: Some(1.0),
        rate_limit_schedule: vec![(Duration::from_secs(30), 100.0)],
        outage: Some(cosinv::emulator::Outage {
            start: Duration::from_secs(10),
            end: Duration::from_secs(20),
            mode: cosinv::emulator::OutageMode::Unavailable,
        }),
        ..Faults::default()
    });
    assert_eq!(list_status(&emulator).await, 200);
    assert_eq!(list_status(&emulator).await, 503, "1/s: spent");
    tokio::time::advance(Duration::from_secs(10)).await;
    let down = send(
        &emulator,
        Raw::new("GET", HOST, "/", vec![("inventory", "")]),
    )
    .await;
    assert_eq!(
        (down.status, down.code()),
        (503, "ServiceUnavailable".to_string())
    );
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(list_status(&emulator).await, 200, "the outage is over");
    assert_eq!(list_status(&emulator).await, 503, "1/s until 30 s");
    tokio::time::advance(Duration::from_secs(10)).await;
    // From 30 s on, 100/s: the bucket refilled at the new rate.
    for n in 0..20 {
        assert_eq!(list_status(&emulator).await, 200, "request {n}");
    }
}

// On a paused clock: the half-second latency costs nothing.
#[tokio::test(start_paused = true)]
async fn counters_track_outcomes_and_requests_in_flight() {
    let emulator = std::sync::Arc::new(start(None).await);
    emulator.set_faults(Faults {
        latency: Duration::from_millis(500),
        ..Faults::default()
    });
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let emulator = emulator.clone();
        tasks.push(tokio::spawn(async move {
            send(
                &emulator,
                Raw::new("GET", HOST, "/", vec![("inventory", "")]),
            )
            .await
            .status
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    let counters = emulator.counters();
    assert_eq!(counters.buckets[BUCKET].requests, 3);
    assert_eq!(counters.buckets[BUCKET].max_in_flight, 3);
    assert_eq!(
        counters.requests[&("GET".to_string(), "200".to_string())],
        3
    );

    let raw = format!(
        "GET /-/cosinv/counters HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        emulator.addr()
    );
    let answer = send_bytes(&emulator, raw.as_bytes()).await.unwrap();
    assert_eq!(answer.status, 200);
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(json["requests"]["GET 200"], 3);
    assert_eq!(json["buckets"][BUCKET]["max_in_flight"], 3);
}

#[tokio::test]
async fn the_state_file_keeps_configurations_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let config = || EmulatorConfig {
        credentials: credentials(),
        buckets: None,
        faults: Faults::default(),
        state_file: Some(state.clone()),
        ..EmulatorConfig::new(credentials())
    };
    let first = Emulator::start(config(), ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    assert_eq!(send(&first, put("kept")).await.status, 200);
    first.shutdown().await.unwrap();
    let second = Emulator::start(config(), ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let answer = send(
        &second,
        Raw::new("GET", HOST, "/", vec![("inventory", ""), ("id", "kept")]),
    )
    .await;
    assert_eq!(answer.status, 200);
}

#[test]
fn cosinv_emulate_serves_until_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cosinv"))
        .args([
            "emulate",
            "--listen",
            "127.0.0.1:0",
            "--secret-id",
            ID,
            "--secret-key",
            KEY,
        ])
        .env_remove("COS_SECURITY_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let endpoint = first
        .trim()
        .strip_prefix("listening on ")
        .expect(&first)
        .to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(async {
        let client = cosinv::send::client::CosClient::new(cosinv::send::client::ClientConfig {
            request_timeout: Duration::from_secs(10),
            ..cosinv::send::client::ClientConfig::new(
                cosinv::send::client::Endpoint::parse(&endpoint, false).unwrap(),
                cosinv::credentials::SharedCredentials::fixed(
                    credentials(),
                    cosinv::credentials::CredentialSource::Explicit,
                ),
            )
        })
        .unwrap();
        let bucket = cosinv::model::BucketName::parse(BUCKET).unwrap();
        let region = cosinv::model::Region::parse("ap-guangzhou").unwrap();
        let request = cosinv::cos::request::InventoryRequest::list(&bucket, &region, None);
        client.send(&request, now()).await.unwrap().status
    });
    assert_eq!(status, 200);
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(0));
}

#[tokio::test]
async fn a_bucket_is_not_found_through_another_regions_host() {
    let emulator = start(None).await;
    assert_eq!(send(&emulator, put("list1")).await.status, 200);
    let elsewhere = "photos-1250000000.cos.ap-beijing.myqcloud.com";
    let get = |host| Raw::new("GET", host, "/", vec![("inventory", ""), ("id", "list1")]);
    let answer = send(&emulator, get(elsewhere)).await;
    assert_eq!((answer.status, answer.code()), (404, "NoSuchBucket".into()));
    let answer = send(
        &emulator,
        Raw::new("PUT", elsewhere, "/", vec![("inventory", ""), ("id", "b")])
            .body(config_xml("b").as_bytes()),
    )
    .await;
    assert_eq!(answer.status, 404);
    assert_eq!(send(&emulator, get(HOST)).await.status, 200);
    assert_eq!(emulator.inventory(BUCKET).len(), 1);
}

#[tokio::test]
async fn a_signature_that_covers_nothing_opens_nothing() {
    let emulator = start(None).await;
    assert_eq!(send(&emulator, put("list1")).await.status, 200);
    // Signed over no header and no parameter: valid arithmetic, but it
    // binds neither bucket, nor id, nor body.
    let authorization = sign::sign(
        &SignableRequest {
            method: "GET",
            path: "/",
            params: &[],
            headers: &[],
        },
        &credentials(),
        KeyTime::around(now(), 60, 900),
    );
    let mut raw = Raw::new("GET", HOST, "/", vec![("inventory", ""), ("id", "list1")]);
    raw.sign_with = None;
    raw.headers.push(("Authorization", authorization));
    let answer = send(&emulator, raw).await;
    assert_eq!((answer.status, answer.code()), (403, "AccessDenied".into()));
    assert!(
        answer.body.contains("host header must be signed"),
        "{}",
        answer.body
    );
}
