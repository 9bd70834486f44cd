//! TLS bootstrap done by kubeboot itself: the node's own key and CSR, sent with the bootstrap
//! token through the CSR API, and the issued certificate checked before anything trusts it.
//! What is written afterwards is what the kubelet itself would write, so its certificate
//! rotation carries on from there.
//!
//! The flow is the kubelet's (`pkg/kubelet/certificate/bootstrap`): the key is persisted to
//! `kubelet-client.key.tmp` before the CSR is sent and reused by a later attempt, so the CSR's
//! deterministic name (a hash over the public key) stays the same and a retry after a crash
//! finds its own CSR instead of creating another.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256, PublicKeyData,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateSigningRequestDer, PrivateKeyDer, UnixTime};
use serde::Deserialize;
use time::OffsetDateTime;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

use crate::ExitCode;
use crate::api::Client;
use crate::config::model::Arg;
use crate::fs::{Root, mode};
use crate::retry::{Backoff, Clock};

/// The signer kube-controller-manager's csrapproving controller auto-approves for kubelets.
pub const SIGNER_NAME: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// Usages a v1.19 cluster requires for auto-approval, even for EC keys (see shared/golden);
/// newer clusters accept them too.
pub const USAGES: [&str; 3] = ["digital signature", "key encipherment", "client auth"];
const NODES_GROUP: &str = "system:nodes";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot generate the node's key or CSR: {0}")]
    Crypto(String),
    #[error(
        "a Node with name {name:?} and status \"Ready\" already exists in the cluster. You must \
         delete the existing Node or change the name of this new joining Node"
    )]
    NodeExists { name: String },
    #[error(
        "the certificate issued for CSR {csr} is not acceptable: {reason}; the API server or its signer \
         is misconfigured or not the cluster that was verified at discovery"
    )]
    BadCertificate { csr: String, reason: String },
    #[error(
        "CSR {csr} already exists but was not made with this node's key ({reason}); a new \
         attempt uses a new key"
    )]
    Incompatible { csr: String, reason: String },
    #[error(
        "CSR {csr} was denied by the cluster (reason: {reason}, message: {message}): check the \
         csrapproving controller and the RBAC of bootstrap tokens; a new attempt uses a new key"
    )]
    Denied {
        csr: String,
        reason: String,
        message: String,
    },
    #[error(
        "CSR {csr} failed (reason: {reason}, message: {message}): check the signer of \
         kube-controller-manager (--cluster-signing-cert-file); a new attempt uses a new key"
    )]
    Failed {
        csr: String,
        reason: String,
        message: String,
    },
    #[error(
        "CSR {csr} was deleted or replaced while waiting for its certificate; run the join again"
    )]
    Vanished { csr: String },
    #[error(
        "CSR {csr} was not approved within {secs}s: check that kube-controller-manager runs the csrapproving \
         controller and that the ClusterRoleBinding kubeadm:node-autoapprove-bootstrap exists; a new \
         attempt continues with the same key and CSR"
    )]
    NotApproved { csr: String, secs: u64 },
    #[error(transparent)]
    Api(#[from] crate::api::Error),
    #[error(transparent)]
    Fs(#[from] crate::fs::FsError),
}

impl Error {
    /// The CSR made with the pending key can never give this node a usable certificate.
    fn is_final_for_key(&self) -> bool {
        matches!(
            self,
            Error::Denied { .. }
                | Error::Failed { .. }
                | Error::BadCertificate { .. }
                | Error::Incompatible { .. }
        )
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Api(e) => e.exit_code(),
            Error::Fs(_) => ExitCode::Filesystem,
            Error::BadCertificate { .. } => ExitCode::Trust,
            // Another Ready Node has this name: the node's configuration must change.
            Error::NodeExists { .. } => ExitCode::Config,
            _ => ExitCode::TlsBootstrap,
        }
    }
}

/// The node's new key and the CSR for it.
pub struct NodeCsr {
    pub key: KeyPair,
    /// PEM `CERTIFICATE REQUEST`.
    pub pem: String,
    /// The kubelet's deterministic `node-csr-...` name, so a retry finds its own CSR.
    pub name: String,
}

pub fn node_subject_cn(node_name: &str) -> String {
    format!("system:node:{}", node_name.to_lowercase())
}

/// Generates an ECDSA P-256 key and a CSR with subject exactly `O=system:nodes`,
/// `CN=system:node:<name>` and no SANs, as the kubelet sends it.
pub fn new_node_csr(node_name: &str) -> Result<NodeCsr, Error> {
    let key =
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| Error::Crypto(e.to_string()))?;
    node_csr_for_key(key, node_name)
}

pub fn node_csr_for_key(key: KeyPair, node_name: &str) -> Result<NodeCsr, Error> {
    let cn = node_subject_cn(node_name);
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    // Go orders O before CN in a pkix.Name; keep the kubelet's order.
    dn.push(DnType::OrganizationName, NODES_GROUP);
    dn.push(DnType::CommonName, cn.as_str());
    params.distinguished_name = dn;
    let csr = params
        .serialize_request(&key)
        .map_err(|e| Error::Crypto(e.to_string()))?;
    let pem = csr.pem().map_err(|e| Error::Crypto(e.to_string()))?;
    let name = csr_name(&key.subject_public_key_info(), &cn, &[NODES_GROUP], &USAGES);
    Ok(NodeCsr { key, pem, name })
}

/// The kubelet's `digestedName` (pkg/kubelet/certificate/bootstrap): SHA-512/256 over the
/// base64url of the SPKI, CN, each O and each usage, each followed by `|`.
pub fn csr_name(spki_der: &[u8], cn: &str, orgs: &[&str], usages: &[&str]) -> String {
    let mut ctx = digest::Context::new(&digest::SHA512_256);
    let mut write = |data: &[u8]| {
        ctx.update(URL_SAFE_NO_PAD.encode(data).as_bytes());
        ctx.update(b"|");
    };
    write(spki_der);
    write(cn.as_bytes());
    orgs.iter().for_each(|o| write(o.as_bytes()));
    usages.iter().for_each(|u| write(u.as_bytes()));
    format!("node-csr-{}", URL_SAFE_NO_PAD.encode(ctx.finish().as_ref()))
}

/// The `certificates.k8s.io/v1` object POSTed with the bootstrap token.
pub fn csr_object(csr: &NodeCsr) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": { "name": csr.name },
        "spec": {
            "request": STANDARD.encode(csr.pem.as_bytes()),
            "signerName": SIGNER_NAME,
            "usages": USAGES,
        }
    })
}

/// Checks the issued certificate before anything uses it: it must carry our public key, the
/// requested subject and the clientAuth extended key usage, and chain to the cluster CA for
/// client authentication, valid now.
pub fn check_issued_certificate(
    csr: &NodeCsr,
    node_name: &str,
    cert_pem: &[u8],
    ca_pem: &[u8],
    now: UnixTime,
) -> Result<(), Error> {
    let bad = |reason: String| Error::BadCertificate {
        csr: csr.name.clone(),
        reason,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(format!("not PEM: {e}")))?;
    let leaf = chain
        .first()
        .ok_or_else(|| bad("no certificate in status.certificate".into()))?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(leaf).map_err(|e| bad(format!("not X.509: {e}")))?;

    if cert.public_key().raw != csr.key.subject_public_key_info().as_slice() {
        return Err(bad("it certifies another public key than ours".into()));
    }
    let cn: Vec<&str> = cert
        .subject()
        .iter_common_name()
        .filter_map(|a| a.as_str().ok())
        .collect();
    let orgs: Vec<&str> = cert
        .subject()
        .iter_organization()
        .filter_map(|a| a.as_str().ok())
        .collect();
    let want_cn = node_subject_cn(node_name);
    if cn != [want_cn.as_str()] || orgs != [NODES_GROUP] {
        return Err(bad(format!(
            "subject is CN={cn:?} O={orgs:?}, expected CN={want_cn} O={NODES_GROUP}"
        )));
    }
    // webpki accepts a certificate without an extendedKeyUsage extension for any purpose; the
    // CSR asked for client auth, so the certificate must say so.
    let client_auth = cert
        .extended_key_usage()
        .map_err(|e| bad(format!("unreadable extended key usage: {e}")))?
        .is_some_and(|eku| eku.value.client_auth);
    if !client_auth {
        return Err(bad(
            "it is not marked for client authentication (no clientAuth extended key usage)".into(),
        ));
    }

    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem) {
        let ca = ca.map_err(|e| bad(format!("cluster CA is not PEM: {e}")))?;
        roots
            .add(ca)
            .map_err(|e| bad(format!("cluster CA unusable: {e}")))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
            .build()
            .map_err(|e| bad(format!("cannot build a verifier for the cluster CA: {e}")))?;
    verifier
        .verify_client_cert(leaf, &chain[1..], now)
        .map_err(|e| {
            bad(format!(
                "it does not chain to the cluster CA for client auth: {e}"
            ))
        })?;
    Ok(())
}

/// The kubelet's certificate directory (`--cert-dir`, kubeadm's default).
pub const KUBELET_PKI_DIR: &str = "/var/lib/kubelet/pki";

/// The kubelet's certificate directory, where its client certificate store lives: the last
/// `cert-dir` of `nodeRegistration.kubeletExtraArgs`, else [`KUBELET_PKI_DIR`] (as kubeadm's
/// `kubelet-finalize` reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletCertDir(String);

impl Default for KubeletCertDir {
    fn default() -> Self {
        KubeletCertDir(KUBELET_PKI_DIR.to_string())
    }
}

impl KubeletCertDir {
    pub fn from_kubelet_args(args: &[Arg]) -> Self {
        args.iter()
            .rev()
            .find(|a| a.name == "cert-dir")
            .map(|a| KubeletCertDir(a.value.trim_end_matches('/').to_string()))
            .filter(|d| !d.0.is_empty())
            .unwrap_or_default()
    }

    /// The node path of the directory.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `kubelet-client.key.tmp`: the key of a CSR in flight ([`PENDING_KEY_FILE`] by default).
    pub fn pending_key(&self) -> String {
        format!("{}/kubelet-client.key.tmp", self.0)
    }

    /// `kubelet-client-current.pem` ([`CURRENT_CLIENT_PEM`] by default).
    pub fn current_client_pem(&self) -> String {
        format!("{}/kubelet-client-current.pem", self.0)
    }
}
/// The key of a CSR in flight, as the kubelet keeps it (`kubelet-client.key.tmp`) until the
/// certificate is stored: a later attempt reuses it, so its CSR gets the same name.
pub const PENDING_KEY_FILE: &str = "/var/lib/kubelet/pki/kubelet-client.key.tmp";
/// The kubelet certificate store's link to the current client certificate and key.
pub const CURRENT_CLIENT_PEM: &str = "/var/lib/kubelet/pki/kubelet-client-current.pem";

/// How long and how often to poll a CSR until its certificate is issued.
#[derive(Clone)]
pub struct CsrWait {
    /// Waits between polls: capped exponential with full jitter, so that nodes booting
    /// together spread their polls.
    pub poll: Backoff,
    /// kubeadm's `timeouts.tlsBootstrap`.
    pub timeout: Duration,
    pub clock: Arc<dyn Clock>,
}

/// A certificate issued for the node's key and checked; not written anywhere yet. Holds the
/// private key: no Debug.
pub struct IssuedCertificate {
    pub csr_name: String,
    /// The certificate chain, PEM, leaf first.
    pub cert_pem: Vec<u8>,
    key: KeyPair,
    cert_dir: KubeletCertDir,
}

impl IssuedCertificate {
    /// Stores the certificate and key as the kubelet's certificate store does
    /// ([`store_client_certificate`]); returns the node path of the new file.
    pub fn store(&self, root: &Root, now: SystemTime) -> Result<String, Error> {
        store_client_certificate(root, &self.cert_dir, &self.cert_pem, &self.key, now)
    }

    /// The kubelet certificate directory it is stored in.
    pub fn cert_dir(&self) -> &KubeletCertDir {
        &self.cert_dir
    }
}

/// The kubelet's `requestNodeCertificate` with `client` (bootstrap credentials, cluster CA
/// trusted): the key (persisted first), the CSR (created, or found again after a crash), the
/// certificate (waited for, then checked against our key, the node's name and the cluster CA).
///
/// The pending key is kept when the CSR may still be approved (timeout, connection lost), so a
/// new attempt continues with the same CSR; it is removed when the CSR can never give this node
/// a usable certificate (denied, failed, a wrong certificate), so a new attempt starts afresh.
/// After success it stays until the caller has stored the certificate and the kubeconfig using
/// it ([`forget_pending_key`]).
pub fn request_node_certificate(
    root: &Root,
    cert_dir: &KubeletCertDir,
    client: &Client,
    node_name: &str,
    ca_pem: &[u8],
    wait: &CsrWait,
    now: SystemTime,
) -> Result<IssuedCertificate, Error> {
    let key = load_or_generate_key(root, cert_dir)?;
    let csr = node_csr_for_key(key, node_name)?;
    let result = submit_csr(client, &csr)
        .and_then(|uid| wait_for_certificate(client, &csr.name, uid.as_deref(), wait))
        .and_then(|cert_pem| {
            check_issued_certificate(&csr, node_name, &cert_pem, ca_pem, unix_time(now))?;
            Ok(cert_pem)
        });
    match result {
        Ok(cert_pem) => {
            log::info!(
                "[tls-bootstrap] CSR {} was approved and its certificate issued",
                csr.name
            );
            Ok(IssuedCertificate {
                csr_name: csr.name,
                cert_pem,
                key: csr.key,
                cert_dir: cert_dir.clone(),
            })
        }
        Err(e) if e.is_final_for_key() => {
            if let Err(rm) = forget_pending_key(root, cert_dir) {
                log::warn!("[tls-bootstrap] {rm}");
            }
            Err(e)
        }
        Err(e) => Err(e),
    }
}

fn unix_time(t: SystemTime) -> UnixTime {
    UnixTime::since_unix_epoch(t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default())
}

/// The pending key of an earlier attempt, or a new one written to [`PENDING_KEY_FILE`] (0600)
/// before anything is sent, as the kubelet's `LoadOrGenerateKeyFile`.
pub fn load_or_generate_key(root: &Root, cert_dir: &KubeletCertDir) -> Result<KeyPair, Error> {
    let pending = cert_dir.pending_key();
    if let Some(pem) = root.read_optional(&pending)? {
        match key_from_pem(&pem) {
            Some(key) => {
                log::info!(
                    "[tls-bootstrap] Reusing the private key of an earlier attempt from {pending}"
                );
                return Ok(key);
            }
            None => log::warn!(
                "[tls-bootstrap] {pending} holds no usable ECDSA P-256 private key; \
                 generating a new one"
            ),
        }
    }
    let key =
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| Error::Crypto(e.to_string()))?;
    root.create_dir_all(cert_dir.as_str(), mode::DIR)?;
    root.write_atomic(&pending, sec1_pem(&key)?.as_bytes(), mode::PRIVATE)?;
    Ok(key)
}

/// Removes the pending key once the certificate and the kubeconfig using it are written.
pub fn forget_pending_key(root: &Root, cert_dir: &KubeletCertDir) -> Result<(), Error> {
    Ok(root.remove_file(cert_dir.pending_key())?)
}

/// A P-256 private key from PEM (SEC1 or PKCS#8). The error never says why: it could quote key
/// material.
fn key_from_pem(pem: &[u8]) -> Option<KeyPair> {
    let der = PrivateKeyDer::from_pem_slice(pem).ok()?;
    KeyPair::from_der_and_sign_algo(&der, &PKCS_ECDSA_P256_SHA256).ok()
}

/// The key as the kubelet writes it: SEC1 `EC PRIVATE KEY` PEM.
fn sec1_pem(key: &KeyPair) -> Result<String, Error> {
    let crypto = || Error::Crypto("cannot encode the node's private key".into());
    // rcgen keeps the DER it was given: PKCS#8 when generated, SEC1 when read back.
    let pair =
        EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, &key.serialize_der())
            .map_err(|_| crypto())?;
    let der = pair.private_key().as_der().map_err(|_| crypto())?;
    Ok(pem_block("EC PRIVATE KEY", der.as_ref()))
}

/// One PEM block with 64-character lines, as Go's `pem.Encode`.
fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// POSTs the CSR. A CSR of the same name is an earlier attempt's (the name hashes the public
/// key): it is reused if it really is for our key, as client-go's `RequestCertificate`.
/// Returns the CSR's UID, to notice if it is replaced while we wait.
pub fn submit_csr(client: &Client, csr: &NodeCsr) -> Result<Option<String>, Error> {
    match client.create::<CertificateSigningRequest>(None, &csr_object(csr)) {
        Ok(created) => {
            log::info!(
                "[tls-bootstrap] Sent certificate signing request {}",
                csr.name
            );
            Ok(created["metadata"]["uid"].as_str().map(str::to_string))
        }
        Err(e) if e.is_already_exists() => {
            log::info!(
                "[tls-bootstrap] CSR {} already exists (an earlier attempt with this key); reusing it",
                csr.name
            );
            let existing: CsrView =
                client.get_as::<CertificateSigningRequest, _>(None, &csr.name)?;
            ensure_compatible(&existing, csr)?;
            Ok(existing.metadata.uid)
        }
        Err(e) => Err(e.into()),
    }
}

/// `(subject, SubjectPublicKeyInfo DER)` of a PEM CSR.
fn parse_csr_pem(pem: &[u8]) -> Result<(String, Vec<u8>), String> {
    let der = CertificateSigningRequestDer::from_pem_slice(pem)
        .map_err(|e| format!("the request is not a PEM CERTIFICATE REQUEST: {e}"))?;
    let (_, req) = X509CertificationRequest::from_der(der.as_ref())
        .map_err(|e| format!("the request cannot be parsed: {e}"))?;
    let info = &req.certification_request_info;
    Ok((info.subject.to_string(), info.subject_pki.raw.to_vec()))
}

/// client-go's `ensureCompatible`: same subject, same signer, and our public key.
fn ensure_compatible(existing: &CsrView, ours: &NodeCsr) -> Result<(), Error> {
    let incompatible = |reason: String| Error::Incompatible {
        csr: ours.name.clone(),
        reason,
    };
    let spec = &existing.spec;
    if spec.signer_name != SIGNER_NAME {
        return Err(incompatible(format!(
            "its signer is {:?}, not {SIGNER_NAME}",
            spec.signer_name
        )));
    }
    let (subject, spki) = parse_csr_pem(&spec.request.0).map_err(incompatible)?;
    let (our_subject, _) = parse_csr_pem(ours.pem.as_bytes()).map_err(incompatible)?;
    if subject != our_subject {
        return Err(incompatible(format!(
            "its subject is {subject}, not {our_subject}"
        )));
    }
    if spki != ours.key.subject_public_key_info() {
        return Err(incompatible("it is for another public key".into()));
    }
    Ok(())
}

/// The fields of a CSR that are read back, named as in `CertificateSigningRequest`: decoding
/// the typed object would link in its whole decoder for these few.
#[derive(Clone, Default, Deserialize)]
struct CsrView {
    #[serde(default)]
    metadata: CsrMetadata,
    #[serde(default)]
    spec: CsrSpec,
    status: Option<CsrStatus>,
}

#[derive(Clone, Default, Deserialize)]
struct CsrMetadata {
    uid: Option<String>,
}

#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CsrSpec {
    #[serde(default)]
    request: ByteString,
    #[serde(default)]
    signer_name: String,
}

#[derive(Clone, Deserialize)]
struct CsrStatus {
    conditions: Option<Vec<CsrCondition>>,
    certificate: Option<ByteString>,
}

#[derive(Clone, Deserialize)]
struct CsrCondition {
    #[serde(rename = "type", default)]
    type_: String,
    #[serde(default)]
    status: String,
    reason: Option<String>,
    message: Option<String>,
}

/// Where a CSR stands.
enum CsrState {
    Pending,
    Approved,
    Issued(Vec<u8>),
    Denied { reason: String, message: String },
    Failed { reason: String, message: String },
}

fn csr_state(csr: &CsrView) -> CsrState {
    let Some(status) = &csr.status else {
        return CsrState::Pending;
    };
    let mut approved = false;
    for c in status.conditions.iter().flatten() {
        // certificates.k8s.io/v1 requires "True" for these; an explicit "False" is no verdict.
        if c.status == "False" {
            continue;
        }
        let reason = c.reason.clone().unwrap_or_default();
        let message = c.message.clone().unwrap_or_default();
        match c.type_.as_str() {
            "Denied" => return CsrState::Denied { reason, message },
            "Failed" => return CsrState::Failed { reason, message },
            "Approved" => approved = true,
            _ => {}
        }
    }
    match &status.certificate {
        Some(cert) if approved && !cert.0.is_empty() => CsrState::Issued(cert.0.clone()),
        _ if approved => CsrState::Approved,
        _ => CsrState::Pending,
    }
}

/// Polls the CSR until its certificate is issued, it is denied or failed, or the deadline
/// passes. Transient failures of a poll are retried until the deadline; a refused server
/// certificate or a request the server rejects is not.
pub fn wait_for_certificate(
    client: &Client,
    name: &str,
    uid: Option<&str>,
    wait: &CsrWait,
) -> Result<Vec<u8>, Error> {
    let clock = &wait.clock;
    let deadline = clock.now() + wait.timeout;
    log::info!(
        "[tls-bootstrap] Waiting for CSR {name} to be approved and its certificate issued (timeout {:?})",
        wait.timeout
    );
    let mut polls = 0u32;
    let mut approved_logged = false;
    loop {
        match client.get_optional_as::<CertificateSigningRequest, CsrView>(None, name) {
            Ok(None) => return Err(Error::Vanished { csr: name.into() }),
            Ok(Some(csr)) => {
                if uid.is_some() && csr.metadata.uid.as_deref() != uid {
                    return Err(Error::Vanished { csr: name.into() });
                }
                match csr_state(&csr) {
                    CsrState::Issued(cert) => return Ok(cert),
                    CsrState::Denied { reason, message } => {
                        return Err(Error::Denied {
                            csr: name.into(),
                            reason,
                            message,
                        });
                    }
                    CsrState::Failed { reason, message } => {
                        return Err(Error::Failed {
                            csr: name.into(),
                            reason,
                            message,
                        });
                    }
                    CsrState::Approved if !approved_logged => {
                        approved_logged = true;
                        log::info!("[tls-bootstrap] CSR {name} is approved, waiting to be issued");
                    }
                    CsrState::Approved | CsrState::Pending => {}
                }
            }
            Err(e) if is_final(&e) => return Err(e.into()),
            Err(e) => log::info!("[tls-bootstrap] Retrying due to error: {e}"),
        }
        let pause = wait.poll.delay(polls);
        polls = polls.saturating_add(1);
        if clock.now() + pause >= deadline {
            return Err(Error::NotApproved {
                csr: name.into(),
                secs: wait.timeout.as_secs(),
            });
        }
        clock.sleep(pause);
    }
}

/// Failures that another poll cannot fix: an untrusted server, or a request refused (4xx).
fn is_final(e: &crate::api::Error) -> bool {
    e.is_trust()
        || e.status_code()
            .is_some_and(|c| (400..500).contains(&c) && c != 429)
}

/// Writes `kubelet-client-<time>.pem` (the certificates, then the key; 0600) and points
/// `kubelet-client-current.pem` at it, as client-go's certificate `fileStore.Update`. Returns
/// the node path of the new file.
pub fn store_client_certificate(
    root: &Root,
    cert_dir: &KubeletCertDir,
    cert_pem: &[u8],
    key: &KeyPair,
    now: SystemTime,
) -> Result<String, Error> {
    let certs: Vec<CertificateDer<'_>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Crypto(format!("the issued certificate is not PEM: {e}")))?;
    let mut pem = String::new();
    for cert in &certs {
        pem.push_str(&pem_block("CERTIFICATE", cert.as_ref()));
    }
    pem.push_str(&sec1_pem(key)?);

    let path = format!(
        "{}/kubelet-client-{}.pem",
        cert_dir.as_str(),
        store_timestamp(now)
    );
    root.create_dir_all(cert_dir.as_str(), mode::DIR)?;
    root.write_atomic(&path, pem.as_bytes(), mode::PRIVATE)?;
    // Absolute target, as the kubelet's store links it.
    root.symlink_atomic(&path, cert_dir.current_client_pem())?;
    log::info!("[tls-bootstrap] Wrote the kubelet client certificate and key to {path}");
    Ok(path)
}

/// Go's `time.Now().Format("2006-01-02-15-04-05")`, in UTC (the kubelet uses local time, which
/// on a node booting from an image is UTC as well).
fn store_timestamp(now: SystemTime) -> String {
    let t = OffsetDateTime::from(now);
    format!(
        "{:04}-{:02}-{:02}-{:02}-{:02}-{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use x509_parser::prelude::FromDer;

    fn golden(name: &str) -> Vec<u8> {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/golden/k8s-v1.19")
            .join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn golden_csr() -> NodeCsr {
        let pem = String::from_utf8(golden("testnode.key")).unwrap();
        // The golden key is SEC1; rcgen takes PKCS#8, so convert through aws-lc-rs.
        let der = rustls_pki_types::PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap();
        let key = KeyPair::from_der_and_sign_algo(&der, &PKCS_ECDSA_P256_SHA256).unwrap();
        node_csr_for_key(key, "testnode").unwrap()
    }

    #[test]
    fn csr_name_reproduces_the_kubelets_name_from_a_real_cluster() {
        let request: serde_json::Value =
            serde_json::from_slice(&golden("csr-testnode-request.json")).unwrap();
        assert_eq!(
            golden_csr().name,
            request["metadata"]["name"].as_str().unwrap()
        );
    }

    #[test]
    fn csr_body_has_the_shape_a_real_cluster_approved() {
        let ours = csr_object(&golden_csr());
        let real: serde_json::Value =
            serde_json::from_slice(&golden("csr-testnode-request.json")).unwrap();
        assert_eq!(ours["metadata"]["name"], real["metadata"]["name"]);
        assert_eq!(ours["spec"]["signerName"], real["spec"]["signerName"]);
        assert_eq!(ours["spec"]["usages"], real["spec"]["usages"]);
        let pem = STANDARD
            .decode(ours["spec"]["request"].as_str().unwrap())
            .unwrap();
        let der = rustls_pki_types::CertificateSigningRequestDer::from_pem_slice(&pem).unwrap();
        let (_, req) =
            x509_parser::certification_request::X509CertificationRequest::from_der(der.as_ref())
                .unwrap();
        let subject = req.certification_request_info.subject.to_string();
        assert_eq!(subject, "O=system:nodes, CN=system:node:testnode");
        assert!(
            req.requested_extensions()
                .is_none_or(|mut e| e.next().is_none()),
            "no SANs"
        );
    }

    #[test]
    fn real_issued_certificate_passes_the_checks() {
        let csr = golden_csr();
        let now = now_within(&golden("testnode.crt"));
        check_issued_certificate(
            &csr,
            "testnode",
            &golden("testnode.crt"),
            &golden("ca.crt"),
            now,
        )
        .unwrap();
        check_issued_certificate(
            &csr,
            "TestNode",
            &golden("testnode.crt"),
            &golden("ca.crt"),
            now,
        )
        .unwrap();
    }

    /// A time inside the certificate's validity, so the test does not age.
    fn now_within(cert_pem: &[u8]) -> UnixTime {
        let der = CertificateDer::from_pem_slice(cert_pem).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let t = cert.validity().not_before.timestamp() + 3600;
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(t as u64))
    }

    #[test]
    fn certificate_for_another_node_or_key_or_ca_is_refused() {
        let csr = golden_csr();
        let crt = golden("testnode.crt");
        let now = now_within(&crt);
        let e =
            check_issued_certificate(&csr, "othernode", &crt, &golden("ca.crt"), now).unwrap_err();
        assert!(
            e.to_string().contains("expected CN=system:node:othernode"),
            "{e}"
        );
        assert_eq!(e.exit_code(), ExitCode::Trust);

        let other = new_node_csr("testnode").unwrap();
        let e =
            check_issued_certificate(&other, "testnode", &crt, &golden("ca.crt"), now).unwrap_err();
        assert!(e.to_string().contains("another public key"), "{e}");

        let other_ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        let other_ca = other_ca
            .self_signed(&KeyPair::generate().unwrap())
            .unwrap()
            .pem();
        let e =
            check_issued_certificate(&csr, "testnode", &crt, other_ca.as_bytes(), now).unwrap_err();
        assert!(e.to_string().contains("does not chain"), "{e}");
    }

    /// A CA (PEM) and a certificate it issued to `csr`'s key with the node's subject and `ekus`.
    fn issued_with(csr: &NodeCsr, ekus: Vec<rcgen::ExtendedKeyUsagePurpose>) -> (String, String) {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        leaf.distinguished_name
            .push(rcgen::DnType::OrganizationName, NODES_GROUP);
        leaf.distinguished_name
            .push(rcgen::DnType::CommonName, node_subject_cn("testnode"));
        leaf.extended_key_usages = ekus;
        let issuer = rcgen::Issuer::from_params(&ca, &ca_key);
        let cert = leaf.signed_by(&csr.key, &issuer).unwrap();
        (ca_pem, cert.pem())
    }

    #[test]
    fn a_certificate_without_client_auth_usage_is_refused() {
        use rcgen::ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
        let csr = new_node_csr("testnode").unwrap();
        let now = UnixTime::now();
        let (ca, crt) = issued_with(&csr, vec![ClientAuth]);
        check_issued_certificate(&csr, "testnode", crt.as_bytes(), ca.as_bytes(), now).unwrap();
        for ekus in [vec![], vec![ServerAuth]] {
            let (ca, crt) = issued_with(&csr, ekus);
            let e = check_issued_certificate(&csr, "testnode", crt.as_bytes(), ca.as_bytes(), now)
                .unwrap_err();
            assert!(e.to_string().contains("client authentication"), "{e}");
            assert_eq!(e.exit_code(), ExitCode::Trust);
        }
    }

    #[test]
    fn the_pending_key_is_written_private_first_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let first = load_or_generate_key(&root, &KubeletCertDir::default()).unwrap();
        let meta = std::fs::metadata(root.path(PENDING_KEY_FILE)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let pem = String::from_utf8(root.read(PENDING_KEY_FILE).unwrap()).unwrap();
        assert!(
            pem.starts_with("-----BEGIN EC PRIVATE KEY-----\n"),
            "SEC1, as the kubelet"
        );
        let again = load_or_generate_key(&root, &KubeletCertDir::default()).unwrap();
        assert_eq!(
            again.subject_public_key_info(),
            first.subject_public_key_info()
        );
        // The same key gives the same CSR name: a retry finds its CSR.
        assert_eq!(
            node_csr_for_key(first, "n1").unwrap().name,
            node_csr_for_key(again, "n1").unwrap().name
        );
        forget_pending_key(&root, &KubeletCertDir::default()).unwrap();
        assert!(!root.exists(PENDING_KEY_FILE));

        root.write_atomic(PENDING_KEY_FILE, b"garbage", 0o600)
            .unwrap();
        load_or_generate_key(&root, &KubeletCertDir::default()).unwrap();
        assert_ne!(root.read(PENDING_KEY_FILE).unwrap(), b"garbage");
    }

    #[test]
    fn the_golden_key_reads_back_and_writes_as_sec1() {
        let csr = golden_csr();
        let pem = sec1_pem(&csr.key).unwrap();
        let again = key_from_pem(pem.as_bytes()).unwrap();
        assert_eq!(
            again.subject_public_key_info(),
            csr.key.subject_public_key_info()
        );
        assert!(pem.lines().all(|l| l.len() <= 64));
    }

    #[test]
    fn the_kubelets_cert_dir_holds_the_pending_key_and_the_store() {
        let arg = |name: &str, value: &str| Arg {
            name: name.into(),
            value: value.into(),
        };
        assert_eq!(
            KubeletCertDir::from_kubelet_args(&[]).current_client_pem(),
            CURRENT_CLIENT_PEM
        );
        assert_eq!(KubeletCertDir::default().pending_key(), PENDING_KEY_FILE);
        let cert_dir = KubeletCertDir::from_kubelet_args(&[
            arg("cert-dir", "/ignored"),
            arg("v", "2"),
            arg("cert-dir", "/srv/kubelet-pki/"),
        ]);
        assert_eq!(cert_dir.as_str(), "/srv/kubelet-pki");

        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let csr = golden_csr();
        load_or_generate_key(&root, &cert_dir).unwrap();
        assert!(root.exists("/srv/kubelet-pki/kubelet-client.key.tmp"));
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_426_640);
        let path =
            store_client_certificate(&root, &cert_dir, &golden("testnode.crt"), &csr.key, now)
                .unwrap();
        assert!(
            path.starts_with("/srv/kubelet-pki/kubelet-client-2026"),
            "{path}"
        );
        let link = std::fs::read_link(root.path("/srv/kubelet-pki/kubelet-client-current.pem"));
        assert_eq!(link.unwrap(), std::path::PathBuf::from(&path));
        assert!(!root.exists(KUBELET_PKI_DIR));
    }

    #[test]
    fn the_store_file_is_named_and_laid_out_as_the_kubelets() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let csr = golden_csr();
        // 2026-11-23 09:37:20 UTC
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_426_640);
        let path = store_client_certificate(
            &root,
            &KubeletCertDir::default(),
            &golden("testnode.crt"),
            &csr.key,
            now,
        )
        .unwrap();
        assert_eq!(
            path,
            "/var/lib/kubelet/pki/kubelet-client-2026-11-23-09-37-20.pem"
        );
        let link = std::fs::read_link(root.path(CURRENT_CLIENT_PEM)).unwrap();
        assert_eq!(link, std::path::PathBuf::from(&path));
        let text = String::from_utf8(root.read(&path).unwrap()).unwrap();
        let blocks: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("-----BEGIN"))
            .collect();
        assert_eq!(
            blocks,
            [
                "-----BEGIN CERTIFICATE-----",
                "-----BEGIN EC PRIVATE KEY-----"
            ]
        );
        crate::api::ClientIdentity::from_pem(text.as_bytes(), text.as_bytes(), "store").unwrap();
    }

    fn csr_with(status: serde_json::Value) -> CsrView {
        serde_json::from_value(serde_json::json!({
            "metadata": { "name": "x" },
            "spec": { "request": "", "signerName": SIGNER_NAME },
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn csr_conditions_decide_as_client_go() {
        let cond = |t: &str, s: &str| serde_json::json!({ "type": t, "status": s, "reason": "R", "message": "M" });
        assert!(matches!(
            csr_state(&csr_with(serde_json::json!({}))),
            CsrState::Pending
        ));
        assert!(matches!(
            csr_state(&csr_with(
                serde_json::json!({ "conditions": [cond("Approved", "True")] })
            )),
            CsrState::Approved
        ));
        assert!(matches!(
            csr_state(&csr_with(serde_json::json!({
                "conditions": [cond("Approved", "True")], "certificate": "Q0VSVA==" }))),
            CsrState::Issued(c) if c == b"CERT"
        ));
        assert!(matches!(
            csr_state(&csr_with(serde_json::json!({
                "conditions": [cond("Approved", "True"), cond("Denied", "True")] }))),
            CsrState::Denied { reason, message } if reason == "R" && message == "M"
        ));
        assert!(matches!(
            csr_state(&csr_with(
                serde_json::json!({ "conditions": [cond("Failed", "True")] })
            )),
            CsrState::Failed { .. }
        ));
        // A certificate without approval is not taken.
        assert!(matches!(
            csr_state(&csr_with(serde_json::json!({ "certificate": "Q0VSVA==" }))),
            CsrState::Pending
        ));
    }

    #[test]
    fn an_existing_csr_is_reused_only_if_it_is_ours() {
        let ours = golden_csr();
        let real: CsrView = serde_json::from_slice(&golden("csr-testnode.json")).unwrap();
        ensure_compatible(&real, &ours).unwrap();

        let other = new_node_csr("testnode").unwrap();
        let e = ensure_compatible(&real, &other).unwrap_err();
        assert!(e.to_string().contains("another public key"), "{e}");
        let e = ensure_compatible(
            &real,
            &node_csr_for_key(golden_csr().key, "othernode").unwrap(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("its subject is"), "{e}");
        let mut wrong_signer = real.clone();
        wrong_signer.spec.signer_name = "example.com/other".into();
        assert!(ensure_compatible(&wrong_signer, &ours).is_err());
    }
}
