//! Which certificate authorities cosinv trusts, and how a refused
//! certificate is told apart from a network failure.
//!
//! [`TrustRoots`] is the set of CA certificates every HTTPS client of a run
//! (COS, STS) verifies servers with. It comes from one of three places:
//!
//! 1. **A CA bundle** the caller names ([`Trust::Bundle`]): only the
//!    certificates of that PEM file, as curl's `--cacert` or the AWS CLI's
//!    `--ca-bundle`. This is for private CAs and TLS-inspecting proxies
//!    (whose CA re-signs every site, so it is the only one needed).
//! 2. **The system's certificates** ([`Trust::System`]), read by
//!    `rustls-native-certs`: `SSL_CERT_FILE` and `SSL_CERT_DIR` when set,
//!    else the distribution's bundle (`/etc/ssl/certs/…`).
//! 3. **Mozilla's roots, compiled in** (`webpki-root-certs`): the fallback
//!    when the system has none, as in a `FROM scratch` or distroless
//!    container image, so such an image still verifies COS.
//!
//! Why not reqwest's own choice: reqwest 0.13's rustls backend verifies
//! with `rustls-platform-verifier`, which on Linux reads the same system
//! certificates but fails to build a client when there are none, and has
//! no bundled fallback. Building the root store here gives the fallback,
//! says which source was used (for `-v`), and verifies with webpki against
//! exactly these roots (`tls_certs_only`).
//!
//! `tls_failure` finds a certificate verification error (unknown issuer,
//! name mismatch, expired, a CA used as a server certificate, …) in the
//! source chain of a request error. Such a failure will not go away on a
//! retry, so it stops the run instead of being retried as a connection
//! error.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Where the CA certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The system's certificates, else the bundled Mozilla roots.
    System,
    /// Only the certificates in this PEM file.
    Bundle(PathBuf),
}

/// Which source [`TrustRoots`] were loaded from, and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootsOrigin {
    /// A CA bundle named by the caller.
    Bundle { path: PathBuf, count: usize },
    /// The system's certificates.
    System { count: usize },
    /// The compiled-in Mozilla roots: the system had none.
    Bundled { count: usize },
}

impl fmt::Display for RootsOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootsOrigin::Bundle { path, count } => write!(
                f,
                "the CA bundle {} ({count} {})",
                path.display(),
                certificates(*count)
            ),
            RootsOrigin::System { count } => {
                write!(f, "the system's {count} CA {}", certificates(*count))
            }
            RootsOrigin::Bundled { count } => write!(
                f,
                "the {count} bundled Mozilla root {} (no system CA certificates were found)",
                certificates(*count)
            ),
        }
    }
}

fn certificates(count: usize) -> &'static str {
    if count == 1 {
        "certificate"
    } else {
        "certificates"
    }
}

/// The CA certificates a run trusts. Cheap to clone.
#[derive(Clone)]
pub struct TrustRoots {
    certificates: Arc<Vec<CertificateDer<'static>>>,
    origin: RootsOrigin,
}

impl fmt::Debug for TrustRoots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustRoots")
            .field("origin", &self.origin)
            .finish()
    }
}

/// The CA certificates could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read the CA bundle {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the CA bundle {} is not PEM: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error(
        "the CA bundle {} holds no certificate (expected PEM blocks \
         -----BEGIN CERTIFICATE-----)", path.display()
    )]
    Empty { path: PathBuf },
    #[error("the CA bundle {} has a certificate that cannot be used: {reason}", path.display())]
    Unusable { path: PathBuf, reason: String },
}

impl TrustRoots {
    /// Loads the certificates `trust` names.
    pub fn load(trust: &Trust) -> Result<TrustRoots, TrustError> {
        match trust {
            Trust::Bundle(path) => {
                let pem = std::fs::read(path).map_err(|source| TrustError::Read {
                    path: path.clone(),
                    source,
                })?;
                TrustRoots::from_pem(path, &pem)
            }
            Trust::System => Ok(TrustRoots::system_or_bundled(
                rustls_native_certs::load_native_certs().certs,
            )),
        }
    }

    /// The certificates of a PEM bundle read from `path`.
    pub fn from_pem(path: &Path, pem: &[u8]) -> Result<TrustRoots, TrustError> {
        let certificates = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| TrustError::Malformed {
                path: path.to_path_buf(),
                reason: err.to_string(),
            })?;
        if certificates.is_empty() {
            return Err(TrustError::Empty {
                path: path.to_path_buf(),
            });
        }
        let roots = TrustRoots {
            origin: RootsOrigin::Bundle {
                path: path.to_path_buf(),
                count: certificates.len(),
            },
            certificates: Arc::new(certificates),
        };
        // Refuse now what would otherwise fail every request.
        roots
            .reqwest_certificates()
            .map_err(|err| TrustError::Unusable {
                path: path.to_path_buf(),
                reason: err.to_string(),
            })?;
        Ok(roots)
    }

    /// The system's certificates, or the bundled roots when there are none.
    fn system_or_bundled(system: Vec<CertificateDer<'static>>) -> TrustRoots {
        if system.is_empty() {
            let bundled = webpki_root_certs::TLS_SERVER_ROOT_CERTS.to_vec();
            return TrustRoots {
                origin: RootsOrigin::Bundled {
                    count: bundled.len(),
                },
                certificates: Arc::new(bundled),
            };
        }
        TrustRoots {
            origin: RootsOrigin::System {
                count: system.len(),
            },
            certificates: Arc::new(system),
        }
    }

    /// Where these came from, for `-v`.
    pub fn origin(&self) -> &RootsOrigin {
        &self.origin
    }

    /// The certificates as reqwest takes them.
    /// The TLS configuration reqwest makes from these roots (webpki
    /// against exactly them, ring, TLS 1.2 and 1.3, http/1.1 by ALPN),
    /// made once: a client built with it parses no certificate.
    pub(crate) fn rustls_config(&self) -> Result<rustls::ClientConfig, rustls::Error> {
        install_ring();
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
        let mut roots = rustls::RootCertStore::empty();
        for der in self.certificates.iter() {
            roots.add(der.clone())?;
        }
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(rustls::ALL_VERSIONS)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    pub(crate) fn reqwest_certificates(&self) -> Result<Vec<reqwest::Certificate>, reqwest::Error> {
        self.certificates
            .iter()
            .map(|der| reqwest::Certificate::from_der(der))
            .collect()
    }
}

/// A server certificate refused during the TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFailure {
    /// What rustls said: `invalid peer certificate: UnknownIssuer`.
    pub reason: String,
}

/// The certificate verification failure in `err`'s source chain, if any.
pub(crate) fn tls_failure(err: &(dyn std::error::Error + 'static)) -> Option<TlsFailure> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = next {
        // io::Error's source() skips the error it wraps (hyper's connector
        // wraps rustls's in two of them): look inside each.
        let mut inner = Some(cause);
        while let Some(error) = inner {
            if let Some(failure) = as_certificate_error(error) {
                return Some(failure);
            }
            inner = error
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|wrapped| wrapped as &(dyn std::error::Error + 'static));
        }
        next = cause.source();
    }
    None
}

fn as_certificate_error(err: &(dyn std::error::Error + 'static)) -> Option<TlsFailure> {
    use rustls::CertificateError::{NotValidForName, NotValidForNameContext};
    let reason = match err.downcast_ref::<rustls::Error>()? {
        // rustls lists every name of the certificate: fifty for COS's.
        rustls::Error::InvalidCertificate(NotValidForName | NotValidForNameContext { .. }) => {
            "invalid peer certificate: not valid for this name (NotValidForName)".to_string()
        }
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            err.to_string()
        }
        _ => return None,
    };
    Some(TlsFailure { reason })
}

/// reqwest is built without a default crypto provider (aws-lc-rs needs
/// cmake); ring is installed once per process. A second install fails
/// harmlessly.
pub(crate) fn install_ring() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throwaway_ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn a_bundle_is_every_certificate_of_the_file() {
        let pem = format!("{}\n{}", throwaway_ca_pem(), throwaway_ca_pem());
        let roots = TrustRoots::from_pem(Path::new("ca.pem"), pem.as_bytes()).unwrap();
        assert_eq!(
            roots.origin(),
            &RootsOrigin::Bundle {
                path: "ca.pem".into(),
                count: 2
            }
        );
        assert_eq!(
            roots.origin().to_string(),
            "the CA bundle ca.pem (2 certificates)"
        );
    }

    #[test]
    fn a_bundle_without_certificates_is_refused_by_name() {
        let err = TrustRoots::from_pem(Path::new("empty.pem"), b"not a pem\n").unwrap_err();
        assert!(matches!(err, TrustError::Empty { .. }), "{err}");
        assert!(err.to_string().contains("empty.pem"), "{err}");
        let err = TrustRoots::load(&Trust::Bundle("/nonexistent/ca.pem".into())).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn no_system_certificates_fall_back_to_the_bundled_roots() {
        let roots = TrustRoots::system_or_bundled(Vec::new());
        assert!(
            matches!(roots.origin(), RootsOrigin::Bundled { count } if *count > 100),
            "{:?}",
            roots.origin()
        );
        let one = CertificateDer::from_pem_slice(throwaway_ca_pem().as_bytes()).unwrap();
        let roots = TrustRoots::system_or_bundled(vec![one]);
        assert_eq!(roots.origin(), &RootsOrigin::System { count: 1 });
        assert_eq!(roots.origin().to_string(), "the system's 1 CA certificate");
    }

    #[test]
    fn certificate_errors_are_found_through_io_errors() {
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let wrapped = std::io::Error::new(std::io::ErrorKind::InvalidData, refused);
        let twice = std::io::Error::other(wrapped);
        let failure = tls_failure(&twice).unwrap();
        assert!(failure.reason.contains("UnknownIssuer"), "{failure:?}");
        for reason in [
            rustls::CertificateError::NotValidForName,
            rustls::CertificateError::Expired,
        ] {
            let err = rustls::Error::InvalidCertificate(reason);
            assert!(tls_failure(&err).is_some());
        }
        // A handshake that broke for another reason is not a refusal.
        let other = rustls::Error::HandshakeNotComplete;
        assert_eq!(tls_failure(&other), None);
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(tls_failure(&plain), None);
    }
}
