//! TLS bootstrap done by kubeboot itself: the node's own key and CSR, sent with the bootstrap
//! token through the CSR API, and the issued certificate checked before anything trusts it.
//! What is written afterwards is what the kubelet itself would write, so its certificate
//! rotation carries on from there.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256, PublicKeyData,
};
use rustls_pki_types::{CertificateDer, UnixTime, pem::PemObject};

use crate::ExitCode;

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
        "the certificate issued for CSR {csr} is not acceptable: {reason}; the API server or its signer \
         is misconfigured or not the cluster that was verified at discovery"
    )]
    BadCertificate { csr: String, reason: String },
    #[error(
        "CSR {csr} was denied by the cluster ({reason}): check the csrapproving controller and RBAC for bootstrap tokens"
    )]
    Denied { csr: String, reason: String },
    #[error("CSR {csr} failed ({reason})")]
    Failed { csr: String, reason: String },
    #[error(
        "CSR {csr} was not approved within {secs}s: check that kube-controller-manager runs the csrapproving \
         controller and that the ClusterRoleBinding kubeadm:node-autoapprove-bootstrap exists"
    )]
    NotApproved { csr: String, secs: u64 },
    #[error(transparent)]
    Api(#[from] crate::api::Error),
    #[error(transparent)]
    Fs(#[from] crate::fs::FsError),
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Api(e) => e.exit_code(),
            Error::Fs(_) => ExitCode::Filesystem,
            Error::BadCertificate { .. } => ExitCode::Trust,
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

/// Checks the issued certificate before anything uses it: it must carry our public key and the
/// requested subject, and chain to the cluster CA for client authentication, valid now.
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
}
