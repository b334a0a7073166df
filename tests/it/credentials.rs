//! The credential chain against the emulator on 127.0.0.1: each source
//! (environment, profile file, CVM instance role, TKE OIDC role), the
//! emulator refusing temporary credentials once they expire, and a
//! provider crossing a refresh.
//!
//! The chain reads variables through a lookup, never the process
//! environment; HOME is a temporary directory and the system-wide profile
//! file a path that does not exist, so nothing on this machine leaks in.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cosinv::cos::request::InventoryRequest;
use cosinv::credentials::{
    ChainOptions, CredentialChain, CredentialSource, Credentials, CredentialsError,
    METADATA_ENDPOINT_VAR, RemoteFailure, STS_ENDPOINT_VAR, SharedCredentials, SourceError,
};
use cosinv::emulator::{Emulator, EmulatorConfig, RoleConfig};
use cosinv::model::{BucketName, Region};
use cosinv::send::client::{ClientConfig, CosClient, Endpoint};

use crate::now;

const STATIC_ID: &str = "AKIDcredentialtests";
const STATIC_KEY: &str = "credential-tests-secret";
const ROLE_ARN: &str = "qcs::cam::uin/100000000001:roleName/cosinv-tke";
const WEB_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.service-account-token.sig";

async fn start(roles: RoleConfig) -> Emulator {
    let emulator = crate::local_emulator(EmulatorConfig::new(Credentials::new(
        STATIC_ID, STATIC_KEY, None,
    )))
    .await;
    emulator.set_roles(roles);
    emulator
}

/// A home without a profile file, no system-wide one, and the metadata
/// service and STS on the emulator.
struct Setup {
    home: tempfile::TempDir,
    options: ChainOptions,
    vars: HashMap<String, String>,
}

impl Setup {
    fn new(emulator: &Emulator) -> Setup {
        let home = tempfile::tempdir().unwrap();
        let home_var = home.path().to_string_lossy().into_owned();
        let options = ChainOptions {
            system_profile_file: home.path().join("no-system-profile"),
            ..ChainOptions::default()
        };
        let mut setup = Setup {
            options,
            vars: HashMap::new(),
            home,
        };
        setup.set("HOME", &home_var);
        setup.set(METADATA_ENDPOINT_VAR, &emulator.metadata_endpoint());
        setup.set(STS_ENDPOINT_VAR, &emulator.sts_endpoint());
        setup
    }

    fn set(&mut self, name: &str, value: &str) {
        self.vars.insert(name.to_string(), value.to_string());
    }

    /// The TKE variables, with the token in a file under HOME.
    fn tke(&mut self, token: &str) {
        let file = self.home.path().join("web-identity-token");
        std::fs::write(&file, token).unwrap();
        self.set("TKE_REGION", "ap-guangzhou");
        self.set("TKE_PROVIDER_ID", "cls-emulator");
        self.set("TKE_ROLE_ARN", ROLE_ARN);
        self.set("TKE_WEB_IDENTITY_TOKEN_FILE", &file.to_string_lossy());
    }

    async fn chain(&self) -> Result<SharedCredentials, CredentialsError> {
        let vars = self.vars.clone();
        CredentialChain::from_lookup(&self.options, move |name| vars.get(name).cloned()).await
    }
}

/// The status of a List request signed with `credentials`, and its code.
async fn list_with(emulator: &Emulator, credentials: &Credentials) -> (u16, Option<String>) {
    let credentials = SharedCredentials::fixed(credentials.clone(), CredentialSource::Explicit);
    let client = CosClient::new(ClientConfig::new(
        Endpoint::parse(&emulator.endpoint(), false).unwrap(),
        credentials,
    ))
    .unwrap();
    let bucket = BucketName::parse("photos-1250000000").unwrap();
    let region = Region::parse("ap-guangzhou").unwrap();
    let request = InventoryRequest::list(&bucket, &region, None);
    let answer = client.send(&request, now()).await.unwrap();
    (answer.status, answer.code().map(str::to_string))
}

fn no_cvm_role() -> RoleConfig {
    RoleConfig {
        cvm_role: None,
        ..RoleConfig::default()
    }
}

#[tokio::test]
async fn environment_variables_sign_accepted_requests() {
    let emulator = start(RoleConfig::default()).await;
    let mut setup = Setup::new(&emulator);
    setup.set("COS_SECRET_ID", STATIC_ID);
    setup.set("COS_SECRET_KEY", STATIC_KEY);
    let shared = setup.chain().await.unwrap();
    assert_eq!(shared.source().to_string(), "environment (COS_SECRET_ID)");
    assert!(!shared.is_temporary());
    let credentials = shared.current().await.unwrap();
    assert_eq!(list_with(&emulator, &credentials).await, (200, None));
    assert_eq!(
        emulator.issued_credentials(),
        0,
        "the chain stopped at the environment"
    );
}

#[tokio::test]
async fn the_profile_file_in_home_comes_before_the_instance_role() {
    let emulator = start(RoleConfig::default()).await;
    let setup = Setup::new(&emulator);
    let dir = setup.home.path().join(".tencentcloud");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("credentials"),
        format!("# cosinv tests\n[default]\nsecret_id = {STATIC_ID}\nsecret_key = {STATIC_KEY}\n"),
    )
    .unwrap();
    let shared = setup.chain().await.unwrap();
    assert_eq!(
        shared.source(),
        &CredentialSource::ProfileFile {
            path: dir.join("credentials"),
            profile: "default".into()
        }
    );
    let credentials = shared.current().await.unwrap();
    assert_eq!(list_with(&emulator, &credentials).await, (200, None));
    assert_eq!(emulator.issued_credentials(), 0);
}

#[tokio::test]
async fn a_named_profile_in_a_given_file_wins_over_the_environment() {
    let emulator = start(RoleConfig::default()).await;
    let mut setup = Setup::new(&emulator);
    setup.set("COS_SECRET_ID", "AKIDnotthisone");
    setup.set("COS_SECRET_KEY", "wrong");
    let file = setup.home.path().join("team.ini");
    std::fs::write(
        &file,
        format!(
            "[default]\nsecret_id = AKIDnotthiseither\nsecret_key = wrong\n\n\
             [inventory]\nsecret_id = {STATIC_ID}\nsecret_key = {STATIC_KEY}\n"
        ),
    )
    .unwrap();
    setup.options.profile = Some("inventory".into());
    setup.options.profile_file = Some(file.clone());
    let shared = setup.chain().await.unwrap();
    assert_eq!(
        shared.source().to_string(),
        format!("profile file {} [inventory]", file.display())
    );
    let credentials = shared.current().await.unwrap();
    assert_eq!(list_with(&emulator, &credentials).await, (200, None));
}

#[tokio::test]
async fn the_cvm_instance_role_gives_temporary_credentials() {
    let emulator = start(RoleConfig {
        cvm_role: Some("cos-inventory-writer".into()),
        ..RoleConfig::default()
    })
    .await;
    let setup = Setup::new(&emulator);
    let shared = setup.chain().await.unwrap();
    assert_eq!(
        shared.source().to_string(),
        "CVM instance role cos-inventory-writer"
    );
    assert!(shared.is_temporary());
    let credentials = shared.current().await.unwrap();
    assert!(credentials.secret_id().starts_with("AKIDtmp"));
    assert!(credentials.security_token().is_some());
    assert_eq!(list_with(&emulator, &credentials).await, (200, None));
    // Without the token, COS refuses them.
    let tokenless = Credentials::new(credentials.secret_id(), "x", None);
    assert_eq!(list_with(&emulator, &tokenless).await.0, 403);
}

#[tokio::test]
async fn tke_oidc_gives_temporary_credentials_where_no_cvm_role_is_bound() {
    let emulator = start(RoleConfig {
        web_identity_token: Some(WEB_TOKEN.into()),
        ..no_cvm_role()
    })
    .await;
    let mut setup = Setup::new(&emulator);
    setup.tke(WEB_TOKEN);
    let shared = setup.chain().await.unwrap();
    assert_eq!(
        shared.source(),
        &CredentialSource::TkeOidc {
            role_arn: ROLE_ARN.into()
        }
    );
    let credentials = shared.current().await.unwrap();
    assert!(credentials.security_token().is_some());
    assert_eq!(list_with(&emulator, &credentials).await, (200, None));
}

/// A pod on a node with an instance role gets its own OIDC role, not the
/// node's.
#[tokio::test]
async fn tke_oidc_comes_before_the_node_s_cvm_role() {
    let emulator = start(RoleConfig {
        cvm_role: Some("node-role".into()),
        web_identity_token: Some(WEB_TOKEN.into()),
        ..RoleConfig::default()
    })
    .await;
    let mut setup = Setup::new(&emulator);
    setup.tke(WEB_TOKEN);
    let shared = setup.chain().await.unwrap();
    assert_eq!(
        shared.source(),
        &CredentialSource::TkeOidc {
            role_arn: ROLE_ARN.into()
        }
    );
    assert_eq!(
        emulator.issued_credentials(),
        1,
        "the node's role was asked too"
    );
}

#[tokio::test]
async fn sts_refusals_are_reported_without_the_token() {
    let emulator = start(RoleConfig {
        web_identity_token: Some("another-token".into()),
        ..no_cvm_role()
    })
    .await;
    let mut setup = Setup::new(&emulator);
    setup.tke(WEB_TOKEN);
    let err = setup.chain().await.unwrap_err();
    match &err {
        CredentialsError::Source(SourceError::Sts {
            role_arn, failure, ..
        }) => {
            assert_eq!(role_arn, ROLE_ARN);
            assert!(
                matches!(failure, RemoteFailure::Refused { code, .. }
                    if code == "InvalidParameter.WebIdentityTokenError"),
                "{failure:?}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!err.to_string().contains(WEB_TOKEN), "{err}");
    assert!(!format!("{err:?}").contains(WEB_TOKEN), "{err:?}");
}

#[tokio::test]
async fn half_a_tke_setup_is_an_error_not_a_skip() {
    let emulator = start(no_cvm_role()).await;
    let mut setup = Setup::new(&emulator);
    setup.set("TKE_ROLE_ARN", ROLE_ARN);
    let err = setup.chain().await.unwrap_err();
    assert_eq!(
        err,
        CredentialsError::Source(SourceError::TkeIncomplete {
            missing: "TKE_REGION"
        })
    );
}

#[tokio::test]
async fn temporary_credentials_are_refused_once_expired() {
    let emulator = start(RoleConfig {
        lifetime: Duration::from_secs(60),
        ..RoleConfig::default()
    })
    .await;
    let start = now();
    emulator.set_clock(Some(start));
    let setup = Setup::new(&emulator);
    let shared = setup.chain().await.unwrap();
    let credentials = shared.current().await.unwrap();
    emulator.set_clock(Some(start + 59));
    assert_eq!(list_with(&emulator, &credentials).await, (200, None));
    emulator.set_clock(Some(start + 60));
    assert_eq!(
        list_with(&emulator, &credentials).await,
        (400, Some("ExpiredToken".into()))
    );
    // The static credentials stay good.
    let fixed = Credentials::new(STATIC_ID, STATIC_KEY, None);
    assert_eq!(list_with(&emulator, &fixed).await, (200, None));
}

/// Real time passes here (the emulator's clock is the system's): the
/// credentials last 2 s and are refreshed at about half-life. The loop
/// waits for the change, with a generous bound; it asserts no duration.
#[tokio::test]
async fn a_provider_crosses_a_refresh_and_signs_with_the_new_credentials() {
    let emulator = start(RoleConfig {
        lifetime: Duration::from_secs(2),
        ..RoleConfig::default()
    })
    .await;
    let setup = Setup::new(&emulator);
    let shared = setup.chain().await.unwrap();
    let first: Arc<Credentials> = shared.current().await.unwrap();
    assert_eq!(list_with(&emulator, &first).await, (200, None));
    let mut second = first.clone();
    for _ in 0..300 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        second = shared.current().await.unwrap();
        if second.secret_id() != first.secret_id() {
            break;
        }
    }
    assert_ne!(second.secret_id(), first.secret_id(), "never refreshed");
    assert_ne!(second.security_token(), first.security_token());
    assert_eq!(list_with(&emulator, &second).await, (200, None));
    assert!(emulator.issued_credentials() >= 2);
}

/// A metadata address that accepts connections and never answers (as a
/// firewalled link-local address might) costs the probe's timeout, then
/// the chain moves on. The outer timeout only turns a hang into a failure.
#[tokio::test]
async fn a_silent_metadata_service_is_given_up_on() {
    let emulator = start(RoleConfig::default()).await;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let mut setup = Setup::new(&emulator);
    setup.set(METADATA_ENDPOINT_VAR, &format!("http://{address}"));
    setup.options.metadata_timeout = Duration::from_millis(200);
    let result = tokio::time::timeout(Duration::from_secs(60), setup.chain())
        .await
        .expect("the metadata probe hung");
    assert_eq!(
        result.unwrap_err(),
        CredentialsError::Source(SourceError::NotFound)
    );
    holder.abort();
}
