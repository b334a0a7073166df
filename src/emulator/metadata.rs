//! The emulator as the CVM metadata service, for the instance role.
//!
//! It answers under `/-/metadata` (a path no COS request has), so
//! `COSINV_METADATA_ENDPOINT=http://ADDR/-/metadata` points cosinv at it:
//!
//! - `GET /-/metadata/latest/meta-data/cam/security-credentials/`: the
//!   role's name ([`super::RoleConfig::cvm_role`]), or 404 when none is
//!   bound;
//! - `GET …/security-credentials/<role>`: new temporary credentials as the
//!   real service's JSON (`TmpSecretId`, `TmpSecretKey`, `Token`,
//!   `ExpiredTime`, `Expiration`, `Code: Success`); 404 for another role.
//!
//! The real service hands out the same credentials until shortly before
//! they expire; this one issues new ones on every call, so that a test
//! sees a refresh change them.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::Inner;
use super::sts::{expiration, json_response};

/// The path prefix the metadata service answers under.
pub const METADATA_PATH: &str = "/-/metadata";
const ROLES: &str = "/-/metadata/latest/meta-data/cam/security-credentials";

/// Whether `path` (percent-decoded) is the metadata service's.
pub(crate) fn owns(path: &str) -> bool {
    path == METADATA_PATH || path.starts_with("/-/metadata/")
}

/// Answers one metadata request.
pub(crate) fn serve(inner: &Inner, method: &str, path: &str) -> Response<Full<Bytes>> {
    if method != "GET" {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only");
    }
    let Some(rest) = path.strip_prefix(ROLES) else {
        return not_found();
    };
    let role = inner.roles.config().cvm_role;
    match (rest.trim_start_matches('/'), role) {
        (_, None) => not_found(),
        ("", Some(role)) => text(StatusCode::OK, &role),
        (asked, Some(role)) if asked == role => role_credentials(inner),
        _ => not_found(),
    }
}

fn role_credentials(inner: &Inner) -> Response<Full<Bytes>> {
    let (credentials, expired_time) = inner.roles.issue(inner.now(), None);
    let body = serde_json::json!({
        "TmpSecretId": credentials.secret_id(),
        "TmpSecretKey": credentials.secret_key(),
        "ExpiredTime": expired_time,
        "Expiration": expiration(expired_time),
        "Token": credentials.security_token(),
        "Code": "Success",
    });
    json_response(StatusCode::OK, body.to_string())
}

fn not_found() -> Response<Full<Bytes>> {
    text(StatusCode::NOT_FOUND, "404 - Not Found")
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "text/plain")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owns_only_its_prefix() {
        assert!(owns(
            "/-/metadata/latest/meta-data/cam/security-credentials/"
        ));
        assert!(!owns("/-/metadatax") && !owns("/-/cosinv/counters"));
    }
}
