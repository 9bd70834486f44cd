//! The test cluster's PKI: a CA like kubeadm's `ca.crt`, the serving certificate, client
//! identities, and the kube-controller-manager signer. ECDSA P-256 everywhere: key generation is
//! instant, so every test gets fresh keys.

use std::net::{IpAddr, Ipv4Addr};

use aws_lc_rs::{digest, rand::SecureRandom};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber, SubjectPublicKeyInfo,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

/// What kubeadm backdates certificates by, and what the csrsigning controller backdates by.
const BACKDATE: Duration = Duration::minutes(5);
const CA_VALIDITY: Duration = Duration::days(3650);
const CERT_VALIDITY: Duration = Duration::days(365);

/// A certificate and its private key, PEM-encoded, as a client presents them.
#[derive(Clone)]
pub struct ClientIdentity {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

pub struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pub cert_der: Vec<u8>,
    pub cert_pem: String,
}

impl Ca {
    pub fn new(common_name: &str) -> Ca {
        let key = new_key();
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        params.distinguished_name = subject(common_name, &[]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::KeyCertSign,
        ];
        params.not_before = now - BACKDATE;
        params.not_after = now + CA_VALIDITY;
        params.serial_number = Some(random_serial());
        let cert = params
            .self_signed(&key)
            .expect("test CA: self-signing failed");
        Ca {
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
            params,
            key,
        }
    }

    /// The CA's private key, PKCS#8 PEM: for tests that give a node this cluster's CA
    /// (kubeadm's `ca.key` on a control-plane node).
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    /// kubeadm's `--discovery-token-ca-cert-hash`: SHA-256 over the DER SubjectPublicKeyInfo.
    pub fn spki_hash(&self) -> String {
        let (_, cert) = x509_parser::parse_x509_certificate(&self.cert_der)
            .expect("test CA: own certificate does not parse");
        let sum = digest::digest(&digest::SHA256, cert.tbs_certificate.subject_pki.raw);
        format!("sha256:{}", hex(sum.as_ref()))
    }

    /// A kube-apiserver serving certificate for 127.0.0.1, as rustls wants it.
    pub fn serving_cert(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = new_key();
        let mut params = leaf_params("kube-apiserver", &[]);
        params.subject_alt_names = vec![
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            SanType::DnsName("localhost".try_into().expect("static DNS name")),
            SanType::DnsName("kubernetes".try_into().expect("static DNS name")),
            SanType::DnsName("kubernetes.default".try_into().expect("static DNS name")),
        ];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params
            .signed_by(&key, &self.issuer())
            .expect("test CA: signing the serving certificate failed");
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (vec![cert.der().clone()], key_der)
    }

    /// A client certificate as kubeadm makes for admin.conf and friends: user = CN, groups = O.
    pub fn client_identity(&self, common_name: &str, organizations: &[&str]) -> ClientIdentity {
        let key = new_key();
        let mut params = leaf_params(common_name, organizations);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params
            .signed_by(&key, &self.issuer())
            .expect("test CA: signing a client certificate failed");
        ClientIdentity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Signs what a CSR asks for like the csrsigning controller: subject copied, key usages
    /// from `usages`, one year, backdated five minutes, never a CA, no SANs.
    pub fn sign_request(&self, req: &SigningRequest) -> String {
        let mut params = CertificateParams::default();
        let orgs: Vec<&str> = req.organizations.iter().map(String::as_str).collect();
        params.distinguished_name = subject(&req.common_name, &orgs);
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = (now + CERT_VALIDITY).min(self.params.not_after);
        params.serial_number = Some(random_serial());
        params.is_ca = IsCa::ExplicitNoCa;
        params.use_authority_key_identifier_extension = true;
        for usage in &req.usages {
            match usage.as_str() {
                "digital signature" => params.key_usages.push(KeyUsagePurpose::DigitalSignature),
                "key encipherment" => params.key_usages.push(KeyUsagePurpose::KeyEncipherment),
                "client auth" => params
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::ClientAuth),
                "server auth" => params
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::ServerAuth),
                _ => {}
            }
        }
        let public_key = SubjectPublicKeyInfo::from_der(&req.spki_der)
            .expect("CSR public key was validated at create time");
        params
            .signed_by(&public_key, &self.issuer())
            .expect("test CA: signing a CSR failed")
            .pem()
    }
}

/// The parts of a certificate request the signer copies into the certificate.
pub struct SigningRequest {
    pub common_name: String,
    pub organizations: Vec<String>,
    pub usages: Vec<String>,
    pub spki_der: Vec<u8>,
}

/// A fresh public key (DER SubjectPublicKeyInfo) nobody but the test server holds.
pub fn unrelated_spki() -> Vec<u8> {
    new_key().subject_public_key_info()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn new_key() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("P-256 key generation failed")
}

fn subject(common_name: &str, organizations: &[&str]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    // rcgen keeps one value per attribute type; the test identities need at most one O.
    if let Some(org) = organizations.first() {
        dn.push(DnType::OrganizationName, *org);
    }
    dn.push(DnType::CommonName, common_name);
    dn
}

fn leaf_params(common_name: &str, organizations: &[&str]) -> CertificateParams {
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();
    params.distinguished_name = subject(common_name, organizations);
    params.not_before = now - BACKDATE;
    params.not_after = now + CERT_VALIDITY;
    params.serial_number = Some(random_serial());
    params.use_authority_key_identifier_extension = true;
    params
}

fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("system randomness unavailable");
    bytes[0] &= 0x7f; // positive INTEGER
    bytes[0] |= 0x01; // and without a leading zero byte
    SerialNumber::from_slice(&bytes)
}

/// A random RFC 4122 version 4 UUID, for metadata.uid.
pub fn random_uid() -> String {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("system randomness unavailable");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
