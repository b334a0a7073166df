//! TC3-HMAC-SHA256, the signature of Tencent Cloud API 3.0 (STS among
//! them), as a pure function like the COS signer: no I/O, no clock.
//!
//! Canonical request (method, `/`, query, the `content-type` and `host`
//! headers, the signed header names, hex SHA-256 of the payload) → string
//! to sign (`TC3-HMAC-SHA256`, the timestamp, `DATE/SERVICE/tc3_request`,
//! hex SHA-256 of the canonical request) → HMAC-SHA256 key chain from
//! `"TC3" + SecretKey` over the UTC date, the service and `tc3_request`.
//! Only `content-type;host` are signed, as Tencent's SDKs sign them: the
//! `X-TC-*` headers travel unsigned there too, and a server checks the
//! timestamp against the credential scope's date instead.
//!
//! The emulator verifies with the same function, and
//! `tests/data/tc3-vectors.json` holds the documented worked example and
//! requests signed by Tencent's Python SDK.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::Credentials;

/// The algorithm's name, first in the string to sign and `Authorization`.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";
/// The headers signed, as the SDKs sign them.
pub const SIGNED_HEADERS: &str = "content-type;host";

/// What a TC3 signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tc3Request<'a> {
    /// `POST` or `GET`.
    pub method: &'a str,
    /// The `Host` header (`sts.tencentcloudapi.com`).
    pub host: &'a str,
    /// The `Content-Type` header, exactly as sent.
    pub content_type: &'a str,
    /// The query string as sent (empty for POST).
    pub query: &'a str,
    /// The body as sent.
    pub payload: &'a [u8],
    /// The product (`sts`), as in the host name.
    pub service: &'a str,
    /// `X-TC-Timestamp`: Unix seconds.
    pub timestamp: u64,
}

/// Every intermediate value, so tests compare each step byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tc3Signed {
    pub canonical_request: String,
    pub string_to_sign: String,
    /// Lowercase hex.
    pub signature: String,
    /// The `Authorization` header.
    pub authorization: String,
}

/// Signs `request` with `credentials` (the token, if any, travels as
/// `X-TC-Token` and is not signed).
pub fn sign(request: &Tc3Request<'_>, credentials: &Credentials) -> Tc3Signed {
    let canonical_request = canonical_request(request);
    let date = utc_date(request.timestamp);
    let scope = format!("{date}/{}/tc3_request", request.service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{scope}\n{}",
        request.timestamp,
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let key_date = hmac(
        format!("TC3{}", credentials.secret_key()).as_bytes(),
        date.as_bytes(),
    );
    let key_service = hmac(&key_date, request.service.as_bytes());
    let key_signing = hmac(&key_service, b"tc3_request");
    let signature = hex::encode(hmac(&key_signing, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={SIGNED_HEADERS}, Signature={signature}",
        credentials.secret_id()
    );
    Tc3Signed {
        canonical_request,
        string_to_sign,
        signature,
        authorization,
    }
}

fn canonical_request(request: &Tc3Request<'_>) -> String {
    format!(
        "{}\n/\n{}\ncontent-type:{}\nhost:{}\n\n{SIGNED_HEADERS}\n{}",
        request.method,
        request.query,
        request.content_type.trim().to_ascii_lowercase(),
        request.host.trim().to_ascii_lowercase(),
        hex::encode(Sha256::digest(request.payload))
    )
}

/// The UTC date of a Unix time, `YYYY-MM-DD`: the credential scope's date
/// (a local date would fail every request near midnight).
pub fn utc_date(timestamp: u64) -> String {
    let days = timestamp / 86_400;
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm; no calendar crate needed for a date).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length: new_from_slice cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// The parts of a TC3 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tc3Authorization {
    pub secret_id: String,
    pub date: String,
    pub service: String,
    pub signed_headers: String,
    pub signature: String,
}

/// Reads an `Authorization` header as the SDKs write it; `None` when it
/// is not one.
pub fn parse_authorization(header: &str) -> Option<Tc3Authorization> {
    let rest = header.strip_prefix(ALGORITHM)?.trim_start();
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=')?;
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => return None,
        }
    }
    let mut scope = credential?.splitn(4, '/');
    let (secret_id, date, service, end) =
        (scope.next()?, scope.next()?, scope.next()?, scope.next()?);
    if end != "tc3_request" {
        return None;
    }
    Some(Tc3Authorization {
        secret_id: secret_id.to_string(),
        date: date.to_string(),
        service: service.to_string(),
        signed_headers: signed_headers?.to_string(),
        signature: signature?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_turn_at_utc_midnight() {
        assert_eq!(utc_date(0), "1970-01-01");
        // 00:44 on the 26th in Beijing is still the 25th in UTC.
        assert_eq!(utc_date(1_551_113_065), "2019-02-25");
        assert_eq!(utc_date(1_700_006_399), "2023-11-14");
        assert_eq!(utc_date(1_700_006_400), "2023-11-15");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
    }

    #[test]
    fn authorization_round_trips() {
        let credentials = Credentials::new("AKIDx", "key", None);
        let request = Tc3Request {
            method: "POST",
            host: "sts.tencentcloudapi.com",
            content_type: "application/json",
            query: "",
            payload: b"{}",
            service: "sts",
            timestamp: 1_700_000_000,
        };
        let signed = sign(&request, &credentials);
        let parsed = parse_authorization(&signed.authorization).unwrap();
        assert_eq!(parsed.secret_id, "AKIDx");
        assert_eq!(parsed.date, "2023-11-14");
        assert_eq!(parsed.service, "sts");
        assert_eq!(parsed.signed_headers, SIGNED_HEADERS);
        assert_eq!(parsed.signature, signed.signature);
        assert_eq!(parse_authorization("q-sign-algorithm=sha1"), None);
        assert_eq!(
            parse_authorization("TC3-HMAC-SHA256 Credential=a/b/c/x, Signature=s"),
            None
        );
    }

    #[test]
    fn every_part_of_the_request_is_covered() {
        let credentials = Credentials::new("AKIDx", "key", None);
        let base = Tc3Request {
            method: "POST",
            host: "sts.tencentcloudapi.com",
            content_type: "application/json",
            query: "",
            payload: b"{}",
            service: "sts",
            timestamp: 1_700_000_000,
        };
        let signature = sign(&base, &credentials).signature;
        for changed in [
            Tc3Request {
                method: "GET",
                ..base
            },
            Tc3Request {
                host: "sts.intl.tencentcloudapi.com",
                ..base
            },
            Tc3Request {
                payload: b"{ }",
                ..base
            },
            Tc3Request {
                timestamp: 1_700_000_001,
                ..base
            },
            Tc3Request {
                service: "cvm",
                ..base
            },
        ] {
            assert_ne!(sign(&changed, &credentials).signature, signature);
        }
        let other = Credentials::new("AKIDx", "key2", None);
        assert_ne!(sign(&base, &other).signature, signature);
    }
}
