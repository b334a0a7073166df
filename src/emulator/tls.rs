//! HTTPS for the emulator: a throwaway CA made at start, and a server
//! certificate it signs for COS's names.
//!
//! The server certificate names, as subject alternative names:
//!
//! - `*.cos.<region>.myqcloud.com` for every region in [`COS_REGIONS`]
//!   (a wildcard covers one label: every `<bucket>-<appid>` host), and
//!   `cos.<region>.myqcloud.com`;
//! - `service.cos.myqcloud.com` (the bucket list);
//! - `localhost`, `127.0.0.1`, `::1` and the address listened on.
//!
//! The CA's private key lives only in this process and is dropped once the
//! server certificate is signed; its certificate is handed out as PEM
//! ([`TlsIdentity::ca_pem`]) for clients to trust (`--ca-bundle`). The
//! server speaks http/1.1 only, with rustls and the ring provider, as the
//! client does.

use std::net::IpAddr;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// COS's public regions, as its endpoint list names them.
pub const COS_REGIONS: &[&str] = &[
    "ap-beijing-1",
    "ap-beijing",
    "ap-nanjing",
    "ap-shanghai",
    "ap-guangzhou",
    "ap-chengdu",
    "ap-chongqing",
    "ap-shenzhen-fsi",
    "ap-shanghai-fsi",
    "ap-beijing-fsi",
    "ap-hongkong",
    "ap-singapore",
    "ap-jakarta",
    "ap-seoul",
    "ap-bangkok",
    "ap-tokyo",
    "ap-mumbai",
    "na-siliconvalley",
    "na-ashburn",
    "na-toronto",
    "sa-saopaulo",
    "eu-frankfurt",
    "eu-moscow",
];

/// The certificates could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot make the emulator's certificates: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("cannot set up TLS with the emulator's certificate: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The emulator's CA certificate and a TLS acceptor for its server
/// certificate.
#[derive(Clone)]
pub struct TlsIdentity {
    ca_pem: String,
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// A new CA, and a server certificate it signs for COS's names and
    /// `listen_ip`.
    pub fn generate(listen_ip: IpAddr) -> Result<TlsIdentity, TlsSetupError> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        // A name of its own, so that two emulators' CAs never pass for
        // each other.
        ca_params.distinguished_name.push(
            DnType::CommonName,
            format!("cosinv emulator throwaway CA {:016x}", fastrand::u64(..)),
        );
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(server_names(listen_ip))?;
        params
            .distinguished_name
            .push(DnType::CommonName, "cosinv emulator");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let server_cert = params.signed_by(&server_key, &issuer)?;

        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![server_cert.der().clone()], key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsIdentity {
            ca_pem: ca_cert.pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The CA certificate, PEM: what clients trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

/// Every name the server certificate is for.
fn server_names(listen_ip: IpAddr) -> Vec<String> {
    let mut names = vec![
        "service.cos.myqcloud.com".to_string(),
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    for region in COS_REGIONS {
        names.push(format!("*.cos.{region}.myqcloud.com"));
        names.push(format!("cos.{region}.myqcloud.com"));
    }
    let ip = listen_ip.to_string();
    if !listen_ip.is_unspecified() && !names.contains(&ip) {
        names.push(ip);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cover_every_region_and_the_listen_address() {
        let names = server_names("10.0.0.7".parse().unwrap());
        assert!(names.contains(&"*.cos.ap-guangzhou.myqcloud.com".to_string()));
        assert!(names.contains(&"cos.na-siliconvalley.myqcloud.com".to_string()));
        assert!(names.contains(&"10.0.0.7".to_string()));
        let unspecified = server_names("0.0.0.0".parse().unwrap());
        assert!(!unspecified.contains(&"0.0.0.0".to_string()));
    }

    #[test]
    fn a_new_identity_has_a_ca_certificate() {
        let identity = TlsIdentity::generate("127.0.0.1".parse().unwrap()).unwrap();
        assert!(identity.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    }
}
