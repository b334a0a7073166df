//! Where credentials came from, and how each source of the chain fails.
//!
//! [`CredentialSource`] is what `-v` prints: the kind of source and the
//! name of the variable, file, role or ARN, never a value. The errors
//! carry the same context and, like [`super::Credentials`], never a secret:
//! answers from the metadata service or STS are reported by status, code
//! and message, and a JSON body that cannot be read by its position only.

use std::fmt;
use std::path::PathBuf;

/// Which source of the chain supplied the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// Handed to [`super::SharedCredentials::fixed`] by the caller (the
    /// sandbox, tests).
    Explicit,
    /// `COS_*` / `TENCENTCLOUD_*` variables; `variable` is the one that
    /// held the SecretId.
    Environment { variable: &'static str },
    /// A section of an INI profile file.
    ProfileFile { path: PathBuf, profile: String },
    /// The CVM instance role, from the metadata service.
    CvmRole { role: String },
    /// TKE's OIDC role, from STS `AssumeRoleWithWebIdentity`.
    TkeOidc { role_arn: String },
    /// A member account's role, from STS `AssumeRole` signed with the
    /// caller's credentials.
    AssumedRole { role_arn: String },
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Explicit => write!(f, "given explicitly"),
            CredentialSource::Environment { variable } => write!(f, "environment ({variable})"),
            CredentialSource::ProfileFile { path, profile } => {
                write!(f, "profile file {} [{profile}]", path.display())
            }
            CredentialSource::CvmRole { role } => write!(f, "CVM instance role {role}"),
            CredentialSource::TkeOidc { role_arn } => write!(f, "TKE OIDC role {role_arn}"),
            CredentialSource::AssumedRole { role_arn } => write!(f, "assumed role {role_arn}"),
        }
    }
}

/// A source of the chain was configured (or found) but could not supply
/// credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error(
        "no COS credentials found: tried the COS_SECRET_ID/COS_SECRET_KEY and \
         TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY variables, the profile file \
         (TENCENTCLOUD_CREDENTIALS_FILE, ~/.tencentcloud/credentials, \
         /etc/tencentcloud/credentials), the CVM instance role and the TKE OIDC role \
         (TKE_REGION, TKE_PROVIDER_ID, TKE_WEB_IDENTITY_TOKEN_FILE, TKE_ROLE_ARN)"
    )]
    NotFound,
    #[error("{variable} is set but empty; unset it or name a file")]
    EmptyVariable { variable: &'static str },
    #[error("cannot read the profile file {}: {reason}", path.display())]
    ProfileUnreadable { path: PathBuf, reason: String },
    #[error("the profile file {} is not valid INI: line {line}: {message}", path.display())]
    ProfileSyntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "profile [{profile}] was asked for but there is no profile file \
         (TENCENTCLOUD_CREDENTIALS_FILE, ~/.tencentcloud/credentials, \
         /etc/tencentcloud/credentials)"
    )]
    NoProfileFile { profile: String },
    #[error("the profile file {} has no [{profile}] section", path.display())]
    NoSuchProfile { path: PathBuf, profile: String },
    #[error(
        "the profile file {} has no {key} in [{profile}] \
         (both secret_id and secret_key are needed)",
        path.display()
    )]
    ProfileIncomplete {
        path: PathBuf,
        profile: String,
        key: &'static str,
    },
    #[error("the profile file {}: {key} in [{profile}] {}", path.display(), super::UNSENDABLE)]
    ProfileUnsendable {
        path: PathBuf,
        profile: String,
        key: &'static str,
    },
    /// Temporary credentials as a source handed them out, with a value no
    /// HTTP header can carry (the value is not shown).
    #[error(
        "the {part} from {from} has a character no HTTP header may carry; \
         it cannot be used to sign requests"
    )]
    Unsendable {
        from: CredentialSource,
        part: super::CredentialPart,
    },
    #[error("{variable}={value:?} is not usable: {reason}")]
    BadEndpoint {
        variable: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("CVM instance role {role}: {failure}")]
    Metadata {
        role: String,
        failure: RemoteFailure,
    },
    #[error(
        "TKE OIDC role: {missing} is not set (TKE_REGION, TKE_PROVIDER_ID, \
         TKE_WEB_IDENTITY_TOKEN_FILE and TKE_ROLE_ARN are all needed)"
    )]
    TkeIncomplete { missing: &'static str },
    #[error("TKE OIDC role: cannot read the web identity token file {}: {reason}", path.display())]
    TokenFile { path: PathBuf, reason: String },
    #[error("TKE OIDC role {role_arn}: AssumeRoleWithWebIdentity at {endpoint}: {failure}")]
    Sts {
        role_arn: String,
        endpoint: String,
        failure: RemoteFailure,
    },
    #[error("cannot assume role {role_arn}: AssumeRole at {endpoint}: {failure}")]
    AssumeRole {
        role_arn: String,
        endpoint: String,
        /// Boxed: the error type stays small enough to pass around.
        failure: Box<RemoteFailure>,
    },
    #[error("the credentials from {from} have expired and could not be refreshed: {cause}")]
    Expired {
        from: CredentialSource,
        cause: Box<SourceError>,
    },
}

/// What went wrong talking to the metadata service or STS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteFailure {
    #[error("no answer: {message}")]
    Transport { message: String },
    #[error("HTTP {status}")]
    Status { status: u16 },
    /// The service answered with an error of its own (STS `Response.Error`,
    /// or a metadata `Code` other than `Success`).
    #[error("{code}: {message}{}", request_id.as_ref().map(|id| format!(" (RequestId {id})")).unwrap_or_default())]
    Refused {
        code: String,
        message: String,
        request_id: Option<String>,
    },
    /// Not JSON, or a field of the wrong type. The position only: serde's
    /// message may quote a value, which may be a secret.
    #[error("the answer is not the expected JSON (line {line}, column {column})")]
    Malformed { line: usize, column: usize },
    #[error("the answer has no {field}")]
    MissingField { field: &'static str },
    #[error(
        "the credentials expire at {expired_time} (Unix seconds), which is not in the \
         future by this machine's clock; is the clock right?"
    )]
    AlreadyExpired { expired_time: u64 },
    #[error(
        "the credentials expire at {expired_time} (Unix seconds), which is not a believable time"
    )]
    ImplausibleExpiry { expired_time: u64 },
    #[error("the answer is over {limit} bytes; not read further")]
    TooLarge { limit: usize },
}

impl RemoteFailure {
    /// Reads `answer`'s body, at most `limit` bytes: a larger one is
    /// refused while it streams, so a server cannot fill memory.
    pub(crate) async fn read_capped(
        mut answer: reqwest::Response,
        limit: usize,
    ) -> Result<Vec<u8>, RemoteFailure> {
        if answer
            .content_length()
            .is_some_and(|length| length > limit as u64)
        {
            return Err(RemoteFailure::TooLarge { limit });
        }
        let mut body = Vec::new();
        while let Some(chunk) = answer
            .chunk()
            .await
            .map_err(|err| RemoteFailure::from_reqwest(&err))?
        {
            if body.len() + chunk.len() > limit {
                return Err(RemoteFailure::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    pub(crate) fn from_reqwest(err: &reqwest::Error) -> Self {
        // As in the COS client: the source chain says what broke. No
        // secret is in a URL here (the STS body carries the token).
        let mut message = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        RemoteFailure::Transport { message }
    }

    pub(crate) fn from_json(err: &serde_json::Error) -> Self {
        RemoteFailure::Malformed {
            line: err.line(),
            column: err.column(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_describe_themselves_without_values() {
        let cases = [
            (
                CredentialSource::Environment {
                    variable: "COS_SECRET_ID",
                },
                "environment (COS_SECRET_ID)",
            ),
            (
                CredentialSource::ProfileFile {
                    path: "/home/u/.tencentcloud/credentials".into(),
                    profile: "default".into(),
                },
                "profile file /home/u/.tencentcloud/credentials [default]",
            ),
            (
                CredentialSource::CvmRole {
                    role: "cos-writer".into(),
                },
                "CVM instance role cos-writer",
            ),
            (
                CredentialSource::TkeOidc {
                    role_arn: "qcs::cam::uin/1:roleName/r".into(),
                },
                "TKE OIDC role qcs::cam::uin/1:roleName/r",
            ),
        ];
        for (source, text) in cases {
            assert_eq!(source.to_string(), text);
        }
    }

    #[test]
    fn json_errors_keep_only_the_position() {
        let err = serde_json::from_str::<u64>("\"a-secret-value\"").unwrap_err();
        let failure = RemoteFailure::from_json(&err);
        assert!(!failure.to_string().contains("a-secret-value"), "{failure}");
        assert!(matches!(failure, RemoteFailure::Malformed { line: 1, .. }));
    }

    /// A server on 127.0.0.1 that answers once with `head`, then streams
    /// `chunks` chunks of 16 KiB; its address.
    async fn streaming_server(head: &'static str, chunks: usize) -> std::net::SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let _ = socket.write_all(head.as_bytes()).await;
            let chunk = format!("4000\r\n{}\r\n", "x".repeat(0x4000));
            for _ in 0..chunks {
                if socket.write_all(chunk.as_bytes()).await.is_err() {
                    return;
                }
            }
            let _ = socket.write_all(b"0\r\n\r\n").await;
        });
        address
    }

    async fn get(address: std::net::SocketAddr) -> reqwest::Response {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(format!("http://{address}/"))
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_body_over_the_cap_is_refused_while_it_streams() {
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        // 64 chunks of 16 KiB: 1 MiB offered, refused after 64 KiB.
        let answer = get(streaming_server(chunked, 64).await).await;
        let refused = RemoteFailure::read_capped(answer, 64 * 1024).await;
        assert!(
            matches!(refused, Err(RemoteFailure::TooLarge { limit: 65536 })),
            "{refused:?}"
        );
        let answer = get(streaming_server(chunked, 2).await).await;
        let body = RemoteFailure::read_capped(answer, 64 * 1024).await.unwrap();
        assert_eq!(body.len(), 2 * 0x4000);
    }

    #[tokio::test]
    async fn an_announced_length_over_the_cap_is_not_read() {
        let announced = "HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n";
        let answer = get(streaming_server(announced, 0).await).await;
        let refused = RemoteFailure::read_capped(answer, 64 * 1024).await;
        assert!(matches!(refused, Err(RemoteFailure::TooLarge { .. })));
    }
}
