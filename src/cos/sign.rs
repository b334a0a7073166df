//! The COS request signature (`q-sign-algorithm=sha1`).
//!
//! Everything here is a pure function of the request parts, the credentials
//! and a key-time window: nothing reads the clock, the environment or the
//! network. The client and the emulator's verifier both call [`sign`]; the
//! caller decides *when* (the client signs at the moment a request is sent,
//! and again on every retry).
//!
//! Each canonicalisation step is its own function so the published vectors
//! can be checked stage by stage (see `tests` below and `shared/cos`).

use std::borrow::Cow;
use std::fmt::Write as _;

use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha1::{Digest, Sha1};

use crate::credentials::Credentials;

/// Bytes COS leaves unencoded: `A-Z a-z 0-9 - _ . ~` (RFC 3986 unreserved).
const COS_ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The validity window of a signature, Unix seconds. COS's `q-sign-time`
/// and `q-key-time` are both this window, as in the official SDKs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyTime {
    pub start: u64,
    pub end: u64,
}

impl KeyTime {
    /// The window the official SDKs use: from `skew_allowance` seconds
    /// before `now` (to absorb clock skew) until `lifetime` seconds after it.
    pub fn around(now: u64, skew_allowance: u64, lifetime: u64) -> Self {
        KeyTime {
            start: now.saturating_sub(skew_allowance),
            end: now.saturating_add(lifetime),
        }
    }

    /// `"<start>;<end>"`, the form that is signed and sent.
    pub fn as_param(&self) -> String {
        format!("{};{}", self.start, self.end)
    }

    /// Parses `"<start>;<end>"` as found in an `Authorization` header.
    pub fn parse(text: &str) -> Option<Self> {
        let (start, end) = text.split_once(';')?;
        Some(KeyTime {
            start: start.parse().ok()?,
            end: end.parse().ok()?,
        })
    }
}

/// The parts of a request that the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignableRequest<'a> {
    /// HTTP method, any case (`PUT`).
    pub method: &'a str,
    /// The URL path before percent-encoding (`/` for bucket-level APIs).
    pub path: &'a str,
    /// Query parameters to sign; a bare `?inventory` is `("inventory", "")`.
    pub params: &'a [(&'a str, &'a str)],
    /// Headers to sign (name, value); names in any case.
    pub headers: &'a [(&'a str, &'a str)],
}

/// Every intermediate value of one signature, so tests can name the stage
/// that differs from a published vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningStages {
    pub key_time: String,
    pub sign_key: String,
    pub http_parameters: String,
    pub url_param_list: String,
    pub http_headers: String,
    pub header_list: String,
    pub http_string: String,
    pub string_to_sign: String,
    pub signature: String,
    pub authorization: String,
}

/// Percent-encodes every byte except `A-Z a-z 0-9 - _ . ~`, upper-case hex.
pub fn cos_encode(text: &str) -> String {
    encoded(text).into_owned()
}

/// Appends [`cos_encode`]`(text)`.
pub fn push_encoded(out: &mut String, text: &str) {
    out.extend(utf8_percent_encode(text, COS_ENCODE_SET));
}

/// [`cos_encode`], borrowing when nothing needs encoding (most names and
/// values: this runs for every signed pair of every request).
fn encoded(text: &str) -> Cow<'_, str> {
    Cow::from(utf8_percent_encode(text, COS_ENCODE_SET))
}

/// An encoded, lower-cased name.
fn encoded_name(name: &str) -> Cow<'_, str> {
    match encoded(name) {
        Cow::Borrowed(text) if text.bytes().any(|b| b.is_ascii_uppercase()) => {
            Cow::Owned(text.to_ascii_lowercase())
        }
        Cow::Borrowed(text) => Cow::Borrowed(text),
        Cow::Owned(text) => Cow::Owned(text.to_ascii_lowercase()),
    }
}

/// The pairs encoded, names lower-cased, sorted by name then value.
fn sorted_pairs<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<(Cow<'a, str>, Cow<'a, str>)> {
    let mut encoded_pairs: Vec<_> = pairs
        .iter()
        .map(|(name, value)| (encoded_name(name), encoded(value)))
        .collect();
    encoded_pairs.sort();
    encoded_pairs
}

/// Appends `name=value&…`.
fn push_joined(out: &mut String, pairs: &[(Cow<'_, str>, Cow<'_, str>)]) {
    for (index, (name, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
}

/// Appends `name;name`.
fn push_names(out: &mut String, pairs: &[(Cow<'_, str>, Cow<'_, str>)]) {
    for (index, (name, _)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push(';');
        }
        out.push_str(name);
    }
}

/// A canonical list of signed pairs: the `name=value&…` string and the
/// `name;name` list, both sorted by encoded, lower-cased name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPairs {
    pub joined: String,
    pub names: String,
}

/// Encodes each pair, lower-cases the encoded name and sorts by it (then by
/// value, so repeated names sign deterministically).
pub fn canonical_pairs(pairs: &[(&str, &str)]) -> CanonicalPairs {
    let sorted = sorted_pairs(pairs);
    let mut joined = String::new();
    push_joined(&mut joined, &sorted);
    let mut names = String::new();
    push_names(&mut names, &sorted);
    CanonicalPairs { joined, names }
}

/// `hex(HMAC-SHA1(key, message))`, lower-case.
fn hmac_sha1_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// `SignKey = hex(HMAC-SHA1(SecretKey, KeyTime))`.
pub fn sign_key(secret_key: &str, key_time: &str) -> String {
    hmac_sha1_hex(secret_key.as_bytes(), key_time.as_bytes())
}

/// `lower(method)\npath\nHttpParameters\nHttpHeaders\n`.
pub fn http_string(method: &str, path: &str, http_parameters: &str, http_headers: &str) -> String {
    format!(
        "{}\n{path}\n{http_parameters}\n{http_headers}\n",
        method.to_ascii_lowercase()
    )
}

/// `sha1\nKeyTime\nhex(SHA1(HttpString))\n`.
pub fn string_to_sign(key_time: &str, http_string: &str) -> String {
    let digest = hex::encode(Sha1::digest(http_string.as_bytes()));
    format!("sha1\n{key_time}\n{digest}\n")
}

/// `hex(HMAC-SHA1(SignKey, StringToSign))`; the hex `SignKey` text is the key.
pub fn signature(sign_key: &str, string_to_sign: &str) -> String {
    hmac_sha1_hex(sign_key.as_bytes(), string_to_sign.as_bytes())
}

/// Computes every stage of the signature of `request`.
pub fn sign_stages(
    request: &SignableRequest<'_>,
    credentials: &Credentials,
    window: KeyTime,
) -> SigningStages {
    let key_time = window.as_param();
    let sign_key = sign_key(credentials.secret_key(), &key_time);
    let params = canonical_pairs(request.params);
    let headers = canonical_pairs(request.headers);
    let http_string = http_string(
        request.method,
        request.path,
        &params.joined,
        &headers.joined,
    );
    let string_to_sign = string_to_sign(&key_time, &http_string);
    let signature = signature(&sign_key, &string_to_sign);
    let authorization = format!(
        "q-sign-algorithm=sha1&q-ak={}&q-sign-time={key_time}&q-key-time={key_time}\
         &q-header-list={}&q-url-param-list={}&q-signature={signature}",
        credentials.secret_id(),
        headers.names,
        params.names,
    );
    SigningStages {
        key_time,
        sign_key,
        http_parameters: params.joined,
        url_param_list: params.names,
        http_headers: headers.joined,
        header_list: headers.names,
        http_string,
        string_to_sign,
        signature,
        authorization,
    }
}

/// The `Authorization` header value for `request`: [`sign_stages`]'s,
/// computed without keeping the stages (this runs for every request sent
/// and every request the emulator checks).
pub fn sign(request: &SignableRequest<'_>, credentials: &Credentials, window: KeyTime) -> String {
    let lean = lean_sign(request, credentials, window);
    let mut authorization = String::with_capacity(320);
    let _ = write!(
        authorization,
        "q-sign-algorithm=sha1&q-ak={}&q-sign-time={key_time}&q-key-time={key_time}\
         &q-header-list=",
        credentials.secret_id(),
        key_time = lean.key_time,
    );
    push_names(&mut authorization, &lean.headers);
    authorization.push_str("&q-url-param-list=");
    push_names(&mut authorization, &lean.params);
    authorization.push_str("&q-signature=");
    authorization.push_str(&lean.signature);
    authorization
}

/// [`sign_stages`]'s signature alone, for a verifier comparing it with the
/// one received.
pub fn request_signature(
    request: &SignableRequest<'_>,
    credentials: &Credentials,
    window: KeyTime,
) -> String {
    lean_sign(request, credentials, window).signature
}

/// What [`sign`] needs of the stages.
struct Lean<'a> {
    key_time: String,
    params: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    headers: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    signature: String,
}

fn lean_sign<'a>(
    request: &SignableRequest<'a>,
    credentials: &Credentials,
    window: KeyTime,
) -> Lean<'a> {
    let params = sorted_pairs(request.params);
    let headers = sorted_pairs(request.headers);
    let mut http_string = String::with_capacity(384);
    push_http_string(&mut http_string, request, &params, &headers);
    let key_time = window.as_param();
    let string_to_sign = string_to_sign(&key_time, &http_string);
    let sign_key = sign_key(credentials.secret_key(), &key_time);
    let signature = signature(&sign_key, &string_to_sign);
    Lean {
        key_time,
        params,
        headers,
        signature,
    }
}

/// [`http_string`] of a request whose pairs are already canonical.
fn push_http_string(
    out: &mut String,
    request: &SignableRequest<'_>,
    params: &[(Cow<'_, str>, Cow<'_, str>)],
    headers: &[(Cow<'_, str>, Cow<'_, str>)],
) {
    out.extend(request.method.chars().map(|c| c.to_ascii_lowercase()));
    out.push('\n');
    out.push_str(request.path);
    out.push('\n');
    push_joined(out, params);
    out.push('\n');
    push_joined(out, headers);
    out.push('\n');
}

/// The fields of a received `Authorization` header, as the emulator's
/// verifier needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuthorization {
    pub secret_id: String,
    pub sign_time: String,
    pub key_time: String,
    pub header_list: Vec<String>,
    pub url_param_list: Vec<String>,
    pub signature: String,
}

/// Why an `Authorization` header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizationParseError {
    #[error("the Authorization header is missing the `{0}` field")]
    MissingField(&'static str),
    #[error("the Authorization header uses q-sign-algorithm={0}; only sha1 is supported")]
    UnsupportedAlgorithm(String),
}

/// Parses `q-sign-algorithm=sha1&q-ak=…&…&q-signature=…`.
pub fn parse_authorization(value: &str) -> Result<ParsedAuthorization, AuthorizationParseError> {
    let field = |name: &'static str| -> Result<&str, AuthorizationParseError> {
        value
            .split('&')
            .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
            .ok_or(AuthorizationParseError::MissingField(name))
    };
    let algorithm = field("q-sign-algorithm")?;
    if algorithm != "sha1" {
        return Err(AuthorizationParseError::UnsupportedAlgorithm(
            algorithm.to_string(),
        ));
    }
    let list = |text: &str| -> Vec<String> {
        text.split(';')
            .filter(|name| !name.is_empty())
            .map(str::to_string)
            .collect()
    };
    Ok(ParsedAuthorization {
        secret_id: field("q-ak")?.to_string(),
        sign_time: field("q-sign-time")?.to_string(),
        key_time: field("q-key-time")?.to_string(),
        header_list: list(field("q-header-list")?),
        url_param_list: list(field("q-url-param-list")?),
        signature: field("q-signature")?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials::new("AKIDEXAMPLE", "secret", None)
    }

    #[test]
    fn encoding_leaves_only_unreserved_bytes() {
        assert_eq!(cos_encode("aZ09-_.~"), "aZ09-_.~");
        assert_eq!(cos_encode("a b/c+d=e&f"), "a%20b%2Fc%2Bd%3De%26f");
        assert_eq!(cos_encode("腾"), "%E8%85%BE");
    }

    #[test]
    fn pairs_are_lowercased_after_encoding_and_sorted() {
        let pairs = canonical_pairs(&[("Host", "h"), ("Content-MD5", "a/b="), ("inventory", "")]);
        assert_eq!(pairs.joined, "content-md5=a%2Fb%3D&host=h&inventory=");
        assert_eq!(pairs.names, "content-md5;host;inventory");
    }

    #[test]
    fn empty_pairs_give_empty_strings() {
        let pairs = canonical_pairs(&[]);
        assert_eq!(pairs.joined, "");
        assert_eq!(pairs.names, "");
    }

    #[test]
    fn http_string_lowercases_method_and_keeps_path() {
        assert_eq!(
            http_string("PUT", "/a b", "x=1", "host=h"),
            "put\n/a b\nx=1\nhost=h\n"
        );
    }

    #[test]
    fn key_time_window_starts_before_now() {
        let window = KeyTime::around(1_000, 60, 3_600);
        assert_eq!(
            window,
            KeyTime {
                start: 940,
                end: 4_600
            }
        );
        assert_eq!(KeyTime::parse(&window.as_param()), Some(window));
        assert_eq!(KeyTime::parse("12"), None);
    }

    #[test]
    fn authorization_round_trips_through_the_parser() {
        let request = SignableRequest {
            method: "GET",
            path: "/",
            params: &[("inventory", ""), ("id", "a")],
            headers: &[("Host", "b-1250000000.cos.ap-guangzhou.myqcloud.com")],
        };
        let header = sign(&request, &creds(), KeyTime { start: 1, end: 2 });
        let parsed = parse_authorization(&header).unwrap();
        assert_eq!(parsed.secret_id, "AKIDEXAMPLE");
        assert_eq!(parsed.key_time, "1;2");
        assert_eq!(parsed.header_list, vec!["host"]);
        assert_eq!(parsed.url_param_list, vec!["id", "inventory"]);
        assert_eq!(parsed.signature.len(), 40);
    }

    #[test]
    fn parser_rejects_other_algorithms_and_missing_fields() {
        assert_eq!(
            parse_authorization("q-sign-algorithm=hmac-sha256"),
            Err(AuthorizationParseError::UnsupportedAlgorithm(
                "hmac-sha256".into()
            ))
        );
        assert_eq!(
            parse_authorization("q-sign-algorithm=sha1&q-ak=x"),
            Err(AuthorizationParseError::MissingField("q-sign-time"))
        );
    }

    proptest::proptest! {
        #[test]
        fn the_lean_signature_is_the_staged_one(
            method in "(GET|put|Delete)",
            params in proptest::collection::vec(("[a-zA-Z_ -]{1,6}", "[a-zA-Z0-9 /+=&-]{0,8}"), 0..4),
            headers in proptest::collection::vec(("[a-zA-Z-]{1,8}", "[ -~]{0,12}"), 0..5),
            start in 0u64..2_000_000_000,
        ) {
            let params: Vec<(&str, &str)> = params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let request = SignableRequest { method: &method, path: "/", params: &params, headers: &headers };
            let window = KeyTime { start, end: start + 900 };
            let stages = sign_stages(&request, &creds(), window);
            proptest::prop_assert_eq!(sign(&request, &creds(), window), stages.authorization);
            proptest::prop_assert_eq!(
                request_signature(&request, &creds(), window),
                stages.signature
            );
        }
    }
}
