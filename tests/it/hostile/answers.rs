//! Bad answers through the scripted server, sent by the library executor
//! (the code `cosinv apply` runs) with no backoff: each is retried or final
//! as its meaning says, and its report row explains it.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use cosinv::cos::request::InventoryRequest;
use cosinv::cos::xml;
use cosinv::credentials::{CredentialSource, Credentials, SharedCredentials};
use cosinv::executor::{ExecutorConfig, RunControl, execute};
use cosinv::report::ReportWriter;
use cosinv::send::client::{ClientConfig, CosClient, Endpoint, MAX_RESPONSE_BODY};
use cosinv::send::retry::RetryPolicy;

use super::server::{After, Canned, ScriptedServer};
use super::{SECRET_ID, SECRET_KEY, read_report};
use crate::fixtures::write_manifest;

fn client(server: &ScriptedServer) -> CosClient {
    let credentials = SharedCredentials::fixed(
        Credentials::new(SECRET_ID, SECRET_KEY, Some("token-value".into())),
        CredentialSource::Explicit,
    );
    CosClient::new(ClientConfig {
        request_timeout: Duration::from_secs(20),
        connect_timeout: Duration::from_secs(5),
        max_idle_per_host: 1,
        ..ClientConfig::new(
            Endpoint::parse(&server.endpoint(), false).unwrap(),
            credentials,
        )
    })
    .unwrap()
}

/// One job (b00000-1250000000 / job-0) against `script`, at most
/// `attempts` attempts, no backoff: its report row and the server.
async fn one_job(script: Vec<Canned>, attempts: u32) -> (BTreeMap<String, String>, ScriptedServer) {
    let server = ScriptedServer::start(script).await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 1, 1);
    let plan = Arc::new(cosinv::plan::load(&[manifest]).unwrap());
    let config = ExecutorConfig {
        retry: RetryPolicy {
            max_attempts: NonZeroU32::new(attempts).unwrap(),
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            ..RetryPolicy::default()
        },
        ..ExecutorConfig::default()
    };
    let path = dir.path().join("report.csv");
    let report = ReportWriter::create(&path).unwrap();
    let client = client(&server);
    let work = cosinv::plan::reconcile::blind(&plan);
    execute(
        plan,
        work,
        Some(client),
        config,
        report,
        RunControl::default(),
    )
    .await
    .unwrap();
    let mut rows = read_report(&path);
    assert_eq!(rows.len(), 1);
    (rows.remove(0), server)
}

const XML: (&str, &str) = ("Content-Type", "application/xml");
const ID: (&str, &str) = ("x-cos-request-id", "scripted");

/// What a row must say.
struct Expect<'a> {
    outcome: &'a str,
    attempts: u32,
    code: &'a str,
    says: &'a [&'a str],
}

fn check(case: &str, row: &BTreeMap<String, String>, expect: Expect<'_>) {
    assert_eq!(row["outcome"], expect.outcome, "{case}: {row:?}");
    assert_eq!(
        row["attempts"],
        expect.attempts.to_string(),
        "{case}: {row:?}"
    );
    assert_eq!(row["error_code"], expect.code, "{case}: {row:?}");
    for words in expect.says {
        assert!(
            row["message"].contains(words),
            "{case}: {words:?} not in {row:?}"
        );
    }
    for field in row.values() {
        assert!(!field.chars().any(char::is_control), "{case}: {row:?}");
    }
}

const HTML_502: &[u8] = b"<html><head><title>502 Bad Gateway</title></head>\
    <body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>";

#[tokio::test]
async fn an_html_502_page_is_a_server_error_retried_then_explained() {
    let page = || {
        Canned::http(
            "502 Bad Gateway",
            &[("Content-Type", "text/html")],
            HTML_502,
        )
    };
    let (row, server) = one_job(vec![page(), page(), page()], 3).await;
    check(
        "502 x3",
        &row,
        Expect {
            outcome: "failed",
            attempts: 3,
            code: "",
            says: &[
                "gave up after 3 attempts",
                "HTTP 502",
                "not a COS error document",
                "<html>",
            ],
        },
    );
    assert_eq!(row["http_status"], "502");
    assert_eq!(server.received().len(), 3);

    let (row, _) = one_job(vec![page(), Canned::ok()], 3).await;
    check(
        "502 then 200",
        &row,
        Expect {
            outcome: "applied",
            attempts: 2,
            code: "",
            says: &[],
        },
    );
}

#[tokio::test]
async fn a_truncated_error_document_is_a_final_client_error() {
    let body = b"<?xml version=\"1.0\"?><Error><Code>InvalidArgument</Code><Mess";
    let (row, server) = one_job(vec![Canned::http("400 Bad Request", &[], body)], 3).await;
    check(
        "truncated 400",
        &row,
        Expect {
            outcome: "failed",
            attempts: 1,
            code: "",
            says: &["HTTP 400", "not a COS error document"],
        },
    );
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn an_enormous_body_is_final_and_names_the_cap() {
    let cap = MAX_RESPONSE_BODY.to_string();
    let announced = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n<a>",
        MAX_RESPONSE_BODY + 1
    );
    let mut streamed = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n".to_vec();
    streamed.extend(std::iter::repeat_n(b'A', MAX_RESPONSE_BODY + 64 * 1024));
    for (case, canned) in [
        (
            "announced",
            Canned::raw(announced.into_bytes(), After::Close),
        ),
        ("streamed", Canned::raw(streamed, After::Close)),
    ] {
        let (row, server) = one_job(vec![canned.clone(), canned], 3).await;
        check(
            case,
            &row,
            Expect {
                outcome: "failed",
                attempts: 1,
                code: "ResponseTooLarge",
                says: &[&cap, "not retried"],
            },
        );
        assert_eq!(server.received().len(), 1, "{case}");
    }
}

#[tokio::test]
async fn a_redirect_is_never_followed_and_is_final() {
    for status in [
        "301 Moved Permanently",
        "302 Found",
        "307 Temporary Redirect",
        "308 Permanent Redirect",
    ] {
        let elsewhere = ScriptedServer::start(vec![Canned::ok()]).await;
        let location = format!("{}/?inventory&id=job-0", elsewhere.endpoint());
        let redirect = Canned::http(status, &[("Location", &location)], b"");
        let (row, server) = one_job(vec![redirect.clone(), redirect], 3).await;
        let target = format!("redirect to {}", elsewhere.addr());
        check(
            status,
            &row,
            Expect {
                outcome: "failed",
                attempts: 1,
                code: "",
                says: &[&target, "never follows redirects", "check the endpoint"],
            },
        );
        assert_eq!(server.received().len(), 1, "{status}");
        assert!(
            elsewhere.received().is_empty(),
            "{status}: the redirect was followed"
        );
    }
}

#[tokio::test]
async fn the_content_type_does_not_decide_what_an_answer_means() {
    let missing = "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist.</Message></Error>";
    let wrong = Canned::http(
        "404 Not Found",
        &[("Content-Type", "text/html")],
        missing.as_bytes(),
    );
    let (row, _) = one_job(vec![wrong], 3).await;
    check(
        "404 as text/html",
        &row,
        Expect {
            outcome: "failed",
            attempts: 1,
            code: "NoSuchBucket",
            says: &["does not exist"],
        },
    );
    let json = Canned::http(
        "200 OK",
        &[("Content-Type", "application/json")],
        b"{\"ok\":true}",
    );
    let (row, _) = one_job(vec![json], 3).await;
    check(
        "200 as json",
        &row,
        Expect {
            outcome: "unknown",
            attempts: 1,
            code: "NotCosAnswer",
            says: &["did not come from COS", "no x-cos-request-id", "true}"],
        },
    );
    // A captive portal: 200, an HTML page, no request id.
    let portal = Canned::http(
        "200 OK",
        &[("Content-Type", "text/html")],
        b"<html><body>Please log in to the hotel Wi-Fi</body></html>",
    );
    let (row, _) = one_job(vec![portal], 3).await;
    check(
        "200 from a captive portal",
        &row,
        Expect {
            outcome: "unknown",
            attempts: 1,
            code: "NotCosAnswer",
            says: &["did not come from COS", "hotel Wi-Fi"],
        },
    );
}

#[tokio::test]
async fn a_reset_mid_body_is_retried_as_a_broken_connection() {
    let cut = || {
        Canned::raw(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n<partial>".to_vec(),
            After::Reset,
        )
    };
    let (row, server) = one_job(vec![cut(), Canned::ok()], 3).await;
    check(
        "reset then 200",
        &row,
        Expect {
            outcome: "applied",
            attempts: 2,
            code: "",
            says: &[],
        },
    );
    assert_eq!(server.received().len(), 2);

    let (row, _) = one_job(vec![cut(), cut()], 2).await;
    check(
        "reset x2",
        &row,
        Expect {
            // The request went out and no whole answer came back: COS may or
            // may not have stored it.
            outcome: "unknown",
            attempts: 2,
            code: "ConnectionError",
            says: &["gave up after 2 attempts"],
        },
    );
}

#[tokio::test]
async fn server_text_reaches_the_report_printable_and_capped() {
    let long = "x".repeat(100_000);
    let message = format!("\u{1b}[2J\u{1b}[31mowned\r\nforged line\t{long}");
    let answer = Canned::cos_error("400 Bad Request", "Invalid\u{1b}[0mArgument", &message);
    let (row, _) = one_job(vec![answer], 3).await;
    check(
        "escapes",
        &row,
        Expect {
            outcome: "failed",
            attempts: 1,
            code: "Invalid[0mArgument",
            says: &["owned forged line"],
        },
    );
    assert!(
        row["message"].len() < 1_200,
        "{} bytes",
        row["message"].len()
    );

    let mut nul =
        b"HTTP/1.1 403 Forbidden\r\nx-cos-request-id: id\x01\r\nConnection: close\r\n\r\n".to_vec();
    nul.extend_from_slice(
        b"<Error><Code>AccessDenied</Code><Message>a\x00b\x1b[1m</Message></Error>",
    );
    let (row, _) = one_job(vec![Canned::raw(nul, After::Close)], 3).await;
    assert_eq!(row["outcome"], "failed", "{row:?}");
    for field in row.values() {
        assert!(!field.chars().any(char::is_control), "{row:?}");
    }
}

#[tokio::test]
async fn a_200_with_garbage_for_get_or_list_is_an_unreadable_document() {
    let bucket = cosinv::model::BucketName::parse("b00000-1250000000").unwrap();
    let region = cosinv::model::Region::parse("ap-guangzhou").unwrap();
    let id = cosinv::model::InventoryId::parse("job-0").unwrap();
    let garbage = b"\x1b[31m<html>\x00 not inventory \xff\xfe";
    let truncated = b"<InventoryConfiguration><Id>job-0</Id><IsEnab";
    let server = ScriptedServer::start(vec![
        Canned::http("200 OK", &[XML, ID], garbage),
        Canned::http("200 OK", &[XML, ID], truncated),
        Canned::http("200 OK", &[ID], garbage),
    ])
    .await;
    let client = client(&server);
    let get = InventoryRequest::get(&bucket, &region, id.as_str());
    let list = InventoryRequest::list(&bucket, &region, None);
    for (request, parse) in [
        (
            &get,
            xml::configuration_from_xml as fn(&[u8]) -> Result<_, _>,
        ),
        (&get, xml::configuration_from_xml),
    ] {
        let answer = client.send(request, crate::now()).await.unwrap();
        assert_eq!(answer.status, 200);
        let err = parse(&answer.body).unwrap_err().to_string();
        assert!(!err.chars().any(char::is_control), "{err:?}");
    }
    let answer = client.send(&list, crate::now()).await.unwrap();
    let err = xml::inventory_page_from_xml(&answer.body)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not valid XML"), "{err}");
    assert!(!err.chars().any(char::is_control), "{err:?}");
    assert_eq!(server.unused(), 0);
}
