//! Checking a received request's signature the way COS does: recompute it
//! from the request itself, over the headers and parameters the client
//! says it signed (`q-header-list`, `q-url-param-list`), and compare.
//!
//! The arithmetic is the client's (`crate::cos::sign`, pinned by Tencent's
//! vectors); what is the emulator's own is picking those values out of a
//! request as received, which is what the tests here build by hand.
//!
//! A signature proves only what it covers, so, as COS does, the lists must
//! cover what binds a request: `host` (the bucket and region), `content-md5`
//! on a PUT (the body; a PUT without one is refused anyway), and every
//! query parameter sent (the API and the id). A request signed over less is refused with `AccessDenied`, the
//! code COS (like S3, "There were headers present in the request which
//! were not signed") gives to requests whose signature is well formed but
//! does not authorise what was sent.

use crate::cos::error::ACCESS_DENIED;
use crate::cos::sign::{self, KeyTime, ParsedAuthorization, SignableRequest};
use crate::credentials::Credentials;

/// A request as the verifier sees it: values as received, the path and
/// the query percent-decoded.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a [(String, String)],
}

impl Received<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Why a request is refused: the COS code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

/// Checks `request` against `credentials` at Unix time `now`.
pub fn verify(request: &Received<'_>, credentials: &Credentials, now: u64) -> Result<(), Refusal> {
    verify_parsed(request, &authorization(request)?, credentials, now)
}

/// The request's `Authorization`, read.
pub fn authorization(request: &Received<'_>) -> Result<ParsedAuthorization, Refusal> {
    let Some(header) = request.header("authorization") else {
        return Err(refuse(
            "AccessDenied",
            "Access Denied: the request has no Authorization header",
        ));
    };
    sign::parse_authorization(header)
        .map_err(|err| refuse("AccessDenied", format!("Access Denied: {err}")))
}

/// [`verify`] with the `Authorization` already read (by a caller that
/// needed its SecretId to choose the credentials).
pub fn verify_parsed(
    request: &Received<'_>,
    parsed: &ParsedAuthorization,
    credentials: &Credentials,
    now: u64,
) -> Result<(), Refusal> {
    if parsed.secret_id != credentials.secret_id() {
        return Err(refuse(
            "InvalidAccessKeyId",
            "The access key Id you provided does not exist in our records",
        ));
    }
    let window = KeyTime::parse(&parsed.key_time)
        .ok_or_else(|| refuse("AccessDenied", "Access Denied: q-key-time is not start;end"))?;
    // A window that ended is COS's "Request has expired"; one that has not
    // begun means the signer's clock runs ahead of ours.
    if now > window.end {
        return Err(refuse("AccessDenied", "Request has expired"));
    }
    if now < window.start {
        return Err(refuse(
            "RequestTimeTooSkewed",
            "The difference between the request time and the server's time is too large",
        ));
    }
    if let Some(token) = credentials.security_token()
        && request.header("x-cos-security-token") != Some(token)
    {
        return Err(refuse(
            "AccessDenied",
            "Access Denied: the x-cos-security-token header is missing or wrong",
        ));
    }
    check_coverage(request, parsed)?;
    let headers = signed_values(&parsed.header_list, request.headers)
        .map_err(|name| mismatch(format!("header {name} is in q-header-list but not sent")))?;
    let params = signed_values(&parsed.url_param_list, request.query).map_err(|name| {
        mismatch(format!(
            "parameter {name} is in q-url-param-list but not sent"
        ))
    })?;
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, *v)).collect();
    let params: Vec<(&str, &str)> = params.iter().map(|(n, v)| (*n, *v)).collect();
    let signable = SignableRequest {
        method: request.method,
        path: request.path,
        params: &params,
        headers: &headers,
    };
    if sign::request_signature(&signable, credentials, window) != parsed.signature {
        // Only a refusal needs the stages, to show what was signed.
        let expected = sign::sign_stages(&signable, credentials, window);
        return Err(mismatch(format!(
            "The request signature we calculated does not match the signature you provided. \
             StringToSign: {:?}",
            expected.string_to_sign
        )));
    }
    Ok(())
}

/// The signature must cover `host`, `content-md5` on a PUT that sends it,
/// and every query parameter present.
fn check_coverage(request: &Received<'_>, parsed: &ParsedAuthorization) -> Result<(), Refusal> {
    let listed = |list: &[String], name: &str| list.iter().any(|n| n.eq_ignore_ascii_case(name));
    let unsigned_header = |name: &str| {
        refuse(
            ACCESS_DENIED,
            format!("Access Denied: the {name} header must be signed (q-header-list)"),
        )
    };
    if !listed(&parsed.header_list, "host") {
        return Err(unsigned_header("host"));
    }
    // A PUT without Content-MD5 at all is refused later, with the code COS
    // gives it (InvalidDigest); one that sends it must sign it.
    if request.method.eq_ignore_ascii_case("PUT")
        && request.header("content-md5").is_some()
        && !listed(&parsed.header_list, "content-md5")
    {
        return Err(unsigned_header("content-md5"));
    }
    let unsigned = request
        .query
        .iter()
        // A parameter without a name (`?=x`) cannot be listed, and means
        // nothing to any API.
        .filter(|(name, _)| !name.is_empty())
        .find(|(name, _)| !listed(&parsed.url_param_list, &sign::cos_encode(name)));
    if let Some((name, _)) = unsigned {
        return Err(refuse(
            ACCESS_DENIED,
            format!(
                "Access Denied: the query parameter {name:?} is sent but not signed \
                 (q-url-param-list)"
            ),
        ));
    }
    Ok(())
}

fn mismatch(message: String) -> Refusal {
    refuse("SignatureDoesNotMatch", message)
}

/// The received (name, value) of each listed name; the first listed name
/// not found. Names are listed percent-encoded and lower-cased, so a
/// received name matches when its encoding does (a parameter named `é`
/// is listed as `%c3%a9`).
fn signed_values<'a, 'n>(
    names: &'n [String],
    received: &'a [(String, String)],
) -> Result<Vec<(&'a str, &'a str)>, &'n str> {
    names
        .iter()
        .filter(|name| !name.is_empty())
        .map(|name| {
            received
                .iter()
                .find(|(key, _)| sign::cos_encode(key).eq_ignore_ascii_case(name))
                .map(|(key, value)| (key.as_str(), value.as_str()))
                .ok_or(name.as_str())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    type Pairs = Vec<(String, String)>;

    fn credentials() -> Credentials {
        Credentials::new("AKIDtest", "secret", None)
    }

    /// Headers and a query as a server receives them, with an
    /// Authorization computed by hand from the documented algorithm
    /// (not through the client's request builder).
    fn signed(
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (Pairs, Pairs) {
        let window = KeyTime {
            start: NOW - 60,
            end: NOW + 900,
        };
        let authorization = sign::sign(
            &SignableRequest {
                method,
                path,
                params: query,
                headers,
            },
            &credentials(),
            window,
        );
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        all.push(("Authorization".into(), authorization));
        let query = query
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        (all, query)
    }

    fn check(
        method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &[(String, String)],
        now: u64,
    ) -> Result<(), Refusal> {
        verify(
            &Received {
                method,
                path,
                query,
                headers,
            },
            &credentials(),
            now,
        )
    }

    #[test]
    fn a_correct_signature_passes_whatever_the_header_case() {
        let (mut headers, query) = signed(
            "PUT",
            "/",
            &[("inventory", ""), ("id", "list 1")],
            &[
                ("Host", "b-1250000000.cos.ap-guangzhou.myqcloud.com"),
                ("Content-MD5", "abc=="),
            ],
        );
        headers.push(("User-Agent".into(), "unsigned, may change".into()));
        headers[0].0 = "HOST".into();
        assert_eq!(check("PUT", "/", &query, &headers, NOW), Ok(()));
    }

    #[test]
    fn any_signed_value_changed_is_a_mismatch() {
        let (headers, query) = signed(
            "PUT",
            "/",
            &[("inventory", ""), ("id", "a")],
            &[("host", "h"), ("content-md5", "x")],
        );
        let refused = |result: Result<(), Refusal>| result.unwrap_err().code;
        assert_eq!(
            refused(check("GET", "/", &query, &headers, NOW)),
            "SignatureDoesNotMatch"
        );
        assert_eq!(
            refused(check("PUT", "/x", &query, &headers, NOW)),
            "SignatureDoesNotMatch"
        );
        let mut other_query = query.clone();
        other_query[1].1 = "b".into();
        assert_eq!(
            refused(check("PUT", "/", &other_query, &headers, NOW)),
            "SignatureDoesNotMatch"
        );
        let mut other_headers = headers.clone();
        other_headers[1].1 = "y".into();
        assert_eq!(
            refused(check("PUT", "/", &query, &other_headers, NOW)),
            "SignatureDoesNotMatch"
        );
        let dropped: Vec<_> = headers[1..].to_vec();
        let refusal = check("PUT", "/", &query, &dropped, NOW).unwrap_err();
        assert!(refusal.message.contains("header host"), "{refusal:?}");
    }

    #[test]
    fn the_window_the_key_and_the_header_are_checked() {
        let (headers, query) = signed("GET", "/", &[("inventory", "")], &[("host", "h")]);
        assert_eq!(
            check("GET", "/", &query, &headers, NOW + 901)
                .unwrap_err()
                .message,
            "Request has expired"
        );
        assert_eq!(
            check("GET", "/", &query, &headers, NOW - 61)
                .unwrap_err()
                .code,
            "RequestTimeTooSkewed"
        );
        let mut other_key = headers.clone();
        other_key.last_mut().unwrap().1 =
            other_key.last().unwrap().1.replace("AKIDtest", "AKIDother");
        assert_eq!(
            check("GET", "/", &query, &other_key, NOW).unwrap_err().code,
            "InvalidAccessKeyId"
        );
        let unsigned = vec![("host".to_string(), "h".to_string())];
        assert_eq!(
            check("GET", "/", &query, &unsigned, NOW).unwrap_err().code,
            "AccessDenied"
        );
    }

    /// An Authorization over `signed_params` and `signed_headers` only,
    /// on a request that sends `query` and `headers`.
    fn signed_over_less(
        method: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        signed_params: &[(&str, &str)],
        signed_headers: &[(&str, &str)],
    ) -> Result<(), Refusal> {
        let (mut sent, _) = signed(method, "/", signed_params, signed_headers);
        let authorization = sent.pop().unwrap();
        let mut all: Pairs = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        all.push(authorization);
        let query: Pairs = query
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        check(method, "/", &query, &all, NOW)
    }

    #[test]
    fn a_signature_over_nothing_binds_nothing_and_is_refused() {
        let host = ("host", "b-1250000000.cos.ap-guangzhou.myqcloud.com");
        let md5 = ("content-md5", "abc==");
        let query = [("inventory", ""), ("id", "a")];
        let refused = signed_over_less("GET", &query, &[host], &[], &[]).unwrap_err();
        assert_eq!(refused.code, "AccessDenied");
        assert!(
            refused.message.contains("host header must be signed"),
            "{refused:?}"
        );

        let refused = signed_over_less("PUT", &query, &[host, md5], &query, &[host]).unwrap_err();
        assert!(refused.message.contains("content-md5"), "{refused:?}");

        let refused = signed_over_less("GET", &query, &[host], &query[..1], &[host]).unwrap_err();
        assert_eq!(refused.code, "AccessDenied");
        assert!(
            refused.message.contains("\"id\" is sent but not signed"),
            "{refused:?}"
        );

        assert_eq!(
            signed_over_less("PUT", &query, &[host, md5], &query, &[host, md5]),
            Ok(())
        );
    }

    #[test]
    fn names_that_need_encoding_are_found_by_their_encoding() {
        // Found by the emulator's property test: the listed name is
        // `%c3%a9`, the received one `é`.
        let (headers, query) = signed(
            "GET",
            "/",
            &[("inventory", ""), ("é/x", "1")],
            &[("host", "h"), ("x-cos-meta-ü", "v")],
        );
        assert_eq!(check("GET", "/", &query, &headers, NOW), Ok(()));
    }

    #[test]
    fn a_configured_token_must_be_sent() {
        let with_token = Credentials::new("AKIDtest", "secret", Some("tok".into()));
        let (headers, query) = signed("GET", "/", &[], &[("host", "h")]);
        let received = |headers: &[(String, String)]| {
            verify(
                &Received {
                    method: "GET",
                    path: "/",
                    query: &query,
                    headers,
                },
                &with_token,
                NOW,
            )
        };
        assert_eq!(received(&headers).unwrap_err().code, "AccessDenied");
        let mut sent = headers.clone();
        sent.push(("x-cos-security-token".into(), "tok".into()));
        assert_eq!(received(&sent), Ok(()));
    }
}
