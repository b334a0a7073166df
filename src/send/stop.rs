//! Why a run stops before every job has been tried.
//!
//! Some answers say that no further request of the run can succeed: COS
//! refused the credentials, there are no credentials left to sign with, or
//! the server's certificate was refused. And a COS that has answered
//! nothing for the outage guard's deadline ([`crate::pace::outage`]) ends the run
//! too: the rest is better sent by a later run than held for hours. `StopReason::from_attempt`
//! recognises them (from the class [`super::retry::classify`] gave); the
//! first one the run meets is kept, the jobs not yet sent are written as
//! `skipped` with it, and it is handed back in
//! [`crate::executor::RunResult::stopped`] for the caller to turn into an exit code.

use super::Attempt;
use super::retry::Class;
use crate::model::BucketName;

/// A reason the whole run stopped sending.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StopReason {
    /// COS refused the credentials (unknown SecretId, bad signature,
    /// expired or invalid token).
    #[error(
        "COS rejected the credentials ({code}) for {bucket}/{id}; check the SecretId, \
         SecretKey and security token, then run again"
    )]
    CredentialsRejected {
        code: String,
        bucket: String,
        id: String,
    },
    /// There were no credentials to sign with: temporary ones expired and
    /// could not be refreshed, or a value cannot be sent.
    #[error("no usable credentials: {message}")]
    CredentialsUnavailable { message: String },
    /// A server certificate was refused; `message` names the host and the
    /// reason.
    #[error("{message}")]
    TlsRefused { message: String },
    /// COS answered nothing (every request a 5xx, refused or timed out)
    /// for the deadline; `message` says for how long and what failed.
    #[error("{message}")]
    Unreachable { message: String },
    /// The report could not be written (a full disk): it holds what was
    /// answered up to its last whole row, and nothing more is sent; the
    /// requests already on their way were answered (and are counted in
    /// the summary) but have no row: `sent_unrecorded` says how many.
    #[error("{}", unwritable_message(message, *sent_unrecorded))]
    ReportUnwritable {
        message: String,
        sent_unrecorded: u64,
    },
    /// A part of cosinv failed (a bug): the rest is not sent.
    #[error("cosinv failed inside (a bug; please report it): {message}")]
    Crashed { message: String },
}

/// A full disk's stop in words: never "nothing was lost" when requests
/// already on their way were answered after the report's last row.
fn unwritable_message(message: &str, sent_unrecorded: u64) -> String {
    match sent_unrecorded {
        0 => format!("the report could not be written, so nothing more was sent: {message}"),
        n => format!(
            "the report could not be written, so nothing more was sent: {message}; \
             {n} job(s) sent before the stop were answered after the report's last whole row \
             and are not in it (the summary counts them; a rerun with refresh finds them)"
        ),
    }
}

impl StopReason {
    /// The reason `outcome` (of class `class`, for `id` on `bucket`) stops
    /// the run, if it does.
    pub fn from_attempt(
        class: Class,
        bucket: Option<&BucketName>,
        id: &str,
        outcome: &Attempt,
    ) -> Option<StopReason> {
        let message = || match outcome {
            Ok(response) => response.describe(),
            Err(err) => err.message.clone(),
        };
        match class {
            Class::CredentialsRejected => Some(StopReason::CredentialsRejected {
                code: outcome
                    .as_ref()
                    .ok()
                    .and_then(|response| response.code())
                    .unwrap_or_default()
                    .to_string(),
                bucket: bucket.map(ToString::to_string).unwrap_or_default(),
                id: id.to_string(),
            }),
            Class::CredentialsUnavailable => {
                Some(StopReason::CredentialsUnavailable { message: message() })
            }
            Class::TlsRefused => Some(StopReason::TlsRefused { message: message() }),
            _ => None,
        }
    }

    /// A short name for logs and JSON: `credentials-rejected`,
    /// `credentials-unavailable`, `tls-refused`, `unreachable`.
    pub fn kind(&self) -> &'static str {
        match self {
            StopReason::CredentialsRejected { .. } => "credentials-rejected",
            StopReason::CredentialsUnavailable { .. } => "credentials-unavailable",
            StopReason::TlsRefused { .. } => "tls-refused",
            StopReason::Unreachable { .. } => "unreachable",
            StopReason::Crashed { .. } => "crashed",
            StopReason::ReportUnwritable { .. } => "report-unwritable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::send::client::{TransportError, TransportErrorKind};

    #[test]
    fn only_run_stopping_classes_give_a_reason() {
        let bucket = crate::model::BucketName::parse("photos-1250000000").unwrap();
        let tls: Attempt = Err(TransportError {
            kind: TransportErrorKind::TlsVerification,
            message: "TLS: the certificate of x was refused: UnknownIssuer".into(),
        });
        let (bucket, id) = (&bucket, "daily");
        let reason = StopReason::from_attempt(Class::TlsRefused, Some(bucket), id, &tls).unwrap();
        assert_eq!(reason.kind(), "tls-refused");
        assert!(reason.to_string().contains("UnknownIssuer"), "{reason}");
        assert_eq!(
            StopReason::from_attempt(Class::Transient, Some(bucket), id, &tls),
            None
        );
    }
}
