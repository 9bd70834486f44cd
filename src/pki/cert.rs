//! X.509 certificates: parsing what kubeboot checks (subject, SANs, validity, issuer, key) and
//! issuing new ones the way kubeadm's `pkiutil` does (random serial, KU digitalSignature +
//! keyEncipherment, CA:FALSE, the CA's key identifier as AKI, CA names copied byte for byte).

use std::fmt;
use std::net::IpAddr;

use rcgen::string::{Ia5String, PrintableString};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyUsagePurpose, SanType, SerialNumber,
    SigningKey,
};
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;
use x509_parser::extensions::{GeneralName, ParsedExtension};

use super::keys::PrivateKey;
use super::{der, pem};

/// Why a certificate could not be parsed, checked or issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CertError(pub String);

/// The extended key usages kubeadm puts in its certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtKeyUsage {
    ServerAuth,
    ClientAuth,
}

/// Subject alternative names: DNS names and IP addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AltNames {
    pub dns_names: Vec<String>,
    pub ips: Vec<IpAddr>,
}

impl AltNames {
    /// kubeadm's `RemoveDuplicateAltNames`: DNS names sorted and unique, IPs unique in order.
    pub fn dedup(&mut self) {
        self.dns_names.sort();
        self.dns_names.dedup();
        let mut seen = Vec::with_capacity(self.ips.len());
        self.ips.retain(|ip| {
            let fresh = !seen.contains(ip);
            seen.push(*ip);
            fresh
        });
    }
}

/// What a new certificate says (kubeadm's `pkiutil.CertConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertConfig {
    pub common_name: String,
    /// At most one organization (one `O=` attribute), as every kubeadm certificate has.
    pub organization: Vec<String>,
    pub alt_names: AltNames,
    pub usages: Vec<ExtKeyUsage>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// A parsed certificate. The fields kubeboot checks are extracted once, at parse time.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    subject_raw: Vec<u8>,
    issuer_raw: Vec<u8>,
    spki_raw: Vec<u8>,
    /// Key algorithm OID, the EC curve OID when there is one, and the subjectPublicKey bits.
    key_algorithm: String,
    curve: Option<String>,
    public_key: Vec<u8>,
    tbs_raw: Vec<u8>,
    signature_algorithm: String,
    signature: Vec<u8>,
    is_ca: bool,
    subject_key_id: Option<Vec<u8>>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    common_name: String,
    organizations: Vec<String>,
    alt_names: AltNames,
    ext_key_usages: Vec<ExtKeyUsage>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("common_name", &self.common_name)
            .field("organizations", &self.organizations)
            .field("alt_names", &self.alt_names)
            .field("is_ca", &self.is_ca)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish()
    }
}

/// Where `now` falls in a certificate's validity period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    NotYetValid,
    Valid,
    Expired,
}

impl Certificate {
    pub fn from_der(der: Vec<u8>) -> Result<Self, CertError> {
        let bad = |what: &str| CertError(format!("not a valid X.509 certificate ({what})"));
        let (rest, x509) =
            x509_parser::parse_x509_certificate(&der).map_err(|e| bad(&e.to_string()))?;
        if !rest.is_empty() {
            return Err(bad("trailing data after the certificate"));
        }
        let tbs = &x509.tbs_certificate;
        let spki = tbs.public_key();
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| x509_parser::der_parser::oid::Oid::try_from(p).ok())
            .map(|oid| oid.to_id_string());
        let mut subject_key_id = None;
        let mut alt_names = AltNames::default();
        let mut ext_key_usages = Vec::new();
        for ext in tbs.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => subject_key_id = Some(id.0.to_vec()),
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        match name {
                            GeneralName::DNSName(dns) => alt_names.dns_names.push(dns.to_string()),
                            GeneralName::IPAddress(bytes) => {
                                if let Some(ip) = ip_from_bytes(bytes) {
                                    alt_names.ips.push(ip);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    if eku.server_auth {
                        ext_key_usages.push(ExtKeyUsage::ServerAuth);
                    }
                    if eku.client_auth {
                        ext_key_usages.push(ExtKeyUsage::ClientAuth);
                    }
                }
                _ => {}
            }
        }
        let text = |attr: &x509_parser::x509::AttributeTypeAndValue<'_>| {
            attr.as_str().map(str::to_string).unwrap_or_default()
        };
        let cert = Certificate {
            subject_raw: tbs.subject().as_raw().to_vec(),
            issuer_raw: tbs.issuer().as_raw().to_vec(),
            spki_raw: spki.raw.to_vec(),
            key_algorithm: spki.algorithm.algorithm.to_id_string(),
            curve,
            public_key: spki.subject_public_key.data.to_vec(),
            tbs_raw: tbs.as_ref().to_vec(),
            signature_algorithm: x509.signature_algorithm.algorithm.to_id_string(),
            signature: x509.signature_value.data.to_vec(),
            is_ca: x509.is_ca(),
            subject_key_id,
            not_before: x509.validity().not_before.to_datetime(),
            not_after: x509.validity().not_after.to_datetime(),
            common_name: tbs
                .subject()
                .iter_common_name()
                .next()
                .map(text)
                .unwrap_or_default(),
            organizations: tbs.subject().iter_organization().map(text).collect(),
            alt_names,
            ext_key_usages,
            der: Vec::new(),
        };
        Ok(Certificate { der, ..cert })
    }

    /// Every `CERTIFICATE` block of a PEM file, leaf first (Go's `certutil.ParseCertsPEM`).
    pub fn chain_from_pem(data: &[u8]) -> Result<Vec<Certificate>, CertError> {
        let blocks = pem::decode_all(data).map_err(CertError)?;
        let certs = blocks
            .into_iter()
            .filter(|b| b.label == pem::CERTIFICATE)
            .map(|b| Certificate::from_der(b.der))
            .collect::<Result<Vec<_>, _>>()?;
        if certs.is_empty() {
            return Err(CertError("no CERTIFICATE block found".to_string()));
        }
        Ok(certs)
    }

    /// The first certificate of a PEM file.
    pub fn from_pem(data: &[u8]) -> Result<Certificate, CertError> {
        let mut chain = Self::chain_from_pem(data)?;
        Ok(chain.swap_remove(0))
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn to_pem(&self) -> String {
        pem::encode(pem::CERTIFICATE, &self.der)
    }

    /// The DER SubjectPublicKeyInfo (what `--discovery-token-ca-cert-hash` hashes).
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki_raw
    }

    pub fn common_name(&self) -> &str {
        &self.common_name
    }

    pub fn organizations(&self) -> &[String] {
        &self.organizations
    }

    pub fn alt_names(&self) -> &AltNames {
        &self.alt_names
    }

    pub fn ext_key_usages(&self) -> &[ExtKeyUsage] {
        &self.ext_key_usages
    }

    pub fn is_ca(&self) -> bool {
        self.is_ca
    }

    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    pub fn period(&self, now: OffsetDateTime) -> Period {
        if now < self.not_before {
            Period::NotYetValid
        } else if now > self.not_after {
            Period::Expired
        } else {
            Period::Valid
        }
    }

    pub fn has_server_auth(&self) -> bool {
        self.ext_key_usages.contains(&ExtKeyUsage::ServerAuth)
    }

    /// Whether `key` is the private half of this certificate's public key.
    pub fn matches_key(&self, key: &PrivateKey) -> bool {
        key.public_key_der() == self.spki_raw
    }

    /// Whether this certificate names `issuer` as its issuer and carries its valid signature.
    pub fn is_signed_by(&self, issuer: &Certificate) -> bool {
        self.issuer_raw == issuer.subject_raw && issuer.verifies(&self.tbs_raw, self)
    }

    /// Whether this certificate is signed by `ca`, directly or through `intermediates` (the
    /// rest of its PEM file), as kubeadm's `VerifyCertChain`.
    pub fn chains_to(&self, intermediates: &[Certificate], ca: &Certificate) -> bool {
        let mut current = self;
        // Each step must use a different intermediate, so the walk ends.
        for _ in 0..=intermediates.len() {
            if current.is_signed_by(ca) {
                return true;
            }
            match intermediates
                .iter()
                .find(|i| i.is_ca && !std::ptr::eq(*i, current) && current.is_signed_by(i))
            {
                Some(next) => current = next,
                None => return false,
            }
        }
        false
    }

    /// Go's `VerifyHostname` for one DNS name: case-insensitive, a leading `*` label matches
    /// exactly one label.
    pub fn covers_dns_name(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.alt_names.dns_names.iter().any(|pattern| {
            let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
            match pattern.strip_prefix("*.") {
                Some(suffix) => name
                    .split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
                None => pattern == name,
            }
        })
    }

    pub fn covers_ip(&self, ip: IpAddr) -> bool {
        self.alt_names.ips.contains(&ip)
    }

    /// Verifies `signature` over `message` with this certificate's public key, using the
    /// signature algorithm named in `signed`.
    fn verifies(&self, message: &[u8], signed: &Certificate) -> bool {
        use aws_lc_rs::signature::{self as sig, UnparsedPublicKey, VerificationAlgorithm};
        const RSA: &str = "1.2.840.113549.1.1.1";
        const EC: &str = "1.2.840.10045.2.1";
        const P256: &str = "1.2.840.10045.3.1.7";
        const P384: &str = "1.3.132.0.34";
        const P521: &str = "1.3.132.0.35";
        let curve = self.curve.as_deref();
        let alg: &'static dyn VerificationAlgorithm = match (
            self.key_algorithm.as_str(),
            curve,
            signed.signature_algorithm.as_str(),
        ) {
            (RSA, _, "1.2.840.113549.1.1.11") => &sig::RSA_PKCS1_2048_8192_SHA256,
            (RSA, _, "1.2.840.113549.1.1.12") => &sig::RSA_PKCS1_2048_8192_SHA384,
            (RSA, _, "1.2.840.113549.1.1.13") => &sig::RSA_PKCS1_2048_8192_SHA512,
            (EC, Some(P256), "1.2.840.10045.4.3.2") => &sig::ECDSA_P256_SHA256_ASN1,
            (EC, Some(P256), "1.2.840.10045.4.3.3") => &sig::ECDSA_P256_SHA384_ASN1,
            (EC, Some(P384), "1.2.840.10045.4.3.2") => &sig::ECDSA_P384_SHA256_ASN1,
            (EC, Some(P384), "1.2.840.10045.4.3.3") => &sig::ECDSA_P384_SHA384_ASN1,
            (EC, Some(P521), "1.2.840.10045.4.3.4") => &sig::ECDSA_P521_SHA512_ASN1,
            ("1.3.101.112", _, "1.3.101.112") => &sig::ED25519,
            _ => return false,
        };
        UnparsedPublicKey::new(alg, &self.public_key)
            .verify(message, &signed.signature)
            .is_ok()
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// A certificate authority whose key kubeboot holds: it can issue certificates.
pub struct Ca {
    cert: Certificate,
    key: PrivateKey,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish()
    }
}

impl Ca {
    /// Pairs a CA certificate with its key, checking that it is a CA and that they match.
    pub fn new(cert: Certificate, key: PrivateKey) -> Result<Ca, CertError> {
        if !cert.is_ca() {
            return Err(CertError(
                "the certificate is not a CA (basicConstraints CA:TRUE is missing)".to_string(),
            ));
        }
        if !cert.matches_key(&key) {
            return Err(CertError(
                "the private key does not belong to the CA certificate".to_string(),
            ));
        }
        Ok(Ca { cert, key })
    }

    /// A self-signed CA as kubeadm's `NewSelfSignedCACert`: CN and a DNS SAN of `common_name`,
    /// KU digitalSignature + keyEncipherment + keyCertSign, CA:TRUE.
    pub fn self_signed(
        common_name: &str,
        key: PrivateKey,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Ca, CertError> {
        let mut params = CertificateParams::default();
        params.serial_number = Some(random_serial()?);
        params.not_before = not_before;
        params.not_after = not_after;
        params.distinguished_name = subject(&[], common_name)?;
        params.subject_alt_names = vec![dns_san(common_name)?];
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::KeyCertSign,
        ];
        let cert = params
            .self_signed(key.pair())
            .map_err(|e| CertError(format!("signing failed: {e}")))?;
        let cert = Certificate::from_der(cert.der().to_vec())?;
        Ok(Ca { cert, key })
    }

    pub fn cert(&self) -> &Certificate {
        &self.cert
    }

    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// Issues a certificate for `key` as kubeadm's `pkiutil.NewSignedCert` (non-CA).
    pub fn issue(&self, cfg: &CertConfig, key: &PrivateKey) -> Result<Certificate, CertError> {
        let mut params = CertificateParams::default();
        params.serial_number = Some(random_serial()?);
        params.not_before = cfg.not_before;
        params.not_after = cfg.not_after;
        params.distinguished_name = subject(&cfg.organization, &cfg.common_name)?;
        let mut alt_names = cfg.alt_names.clone();
        alt_names.dedup();
        params.subject_alt_names = alt_names
            .dns_names
            .iter()
            .map(|d| dns_san(d))
            .collect::<Result<Vec<_>, _>>()?;
        params
            .subject_alt_names
            .extend(alt_names.ips.iter().map(|ip| SanType::IpAddress(*ip)));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = cfg
            .usages
            .iter()
            .map(|u| match u {
                ExtKeyUsage::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
                ExtKeyUsage::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
            })
            .collect();
        // As Go: the AKI is the CA's SKI, and absent when the CA has none.
        params.use_authority_key_identifier_extension = self.cert.subject_key_id.is_some();
        let issuer = self.issuer();
        let cert = params
            .signed_by(key.pair(), &issuer)
            .map_err(|e| CertError(format!("signing failed: {e}")))?;
        let der = self.with_exact_issuer_name(cert.der())?;
        Certificate::from_der(der)
    }

    fn issuer(&self) -> Issuer<'static, &rcgen::KeyPair> {
        let der = CertificateDer::from(self.cert.der());
        Issuer::from_ca_cert_der(&der, self.key.pair()).unwrap_or_else(|_| {
            // rcgen cannot model every Name (multi-valued RDNs); the name is fixed afterwards.
            let mut params = CertificateParams::default();
            if let Some(id) = &self.cert.subject_key_id {
                params.key_identifier_method = KeyIdMethod::PreSpecified(id.clone());
            }
            Issuer::new(params, self.key.pair())
        })
    }

    /// Go chains certificates by comparing issuer and subject bytes, so the issuer Name must be
    /// the CA's subject exactly as encoded in ca.crt. rcgen re-encodes names and cannot keep
    /// repeated attributes (`DC=example, DC=com`); when its encoding differs, the Name is
    /// replaced and the certificate signed again.
    fn with_exact_issuer_name(&self, issued: &[u8]) -> Result<Vec<u8>, CertError> {
        let broken = || CertError("the issued certificate could not be re-encoded".to_string());
        let parsed = Certificate::from_der(issued.to_vec())?;
        if parsed.issuer_raw == self.cert.subject_raw {
            return Ok(issued.to_vec());
        }
        let [tbs, algorithm, _] = der::certificate_parts(issued).ok_or_else(broken)?;
        let tbs = der::replace_tbs_issuer(tbs.whole, &self.cert.subject_raw).ok_or_else(broken)?;
        let signature = self
            .key
            .pair()
            .sign(&tbs)
            .map_err(|e| CertError(format!("signing failed: {e}")))?;
        Ok(der::assemble_certificate(&tbs, algorithm.whole, &signature))
    }
}

/// A serial as kubeadm's: uniformly random in [1, 2^63 - 1].
fn random_serial() -> Result<SerialNumber, CertError> {
    let mut bytes = [0u8; 8];
    loop {
        aws_lc_rs::rand::fill(&mut bytes)
            .map_err(|_| CertError("the random number generator failed".to_string()))?;
        let serial = u64::from_be_bytes(bytes) & (i64::MAX as u64);
        if serial != 0 {
            return Ok(SerialNumber::from(serial));
        }
    }
}

/// A Name as Go's `pkix.Name` encodes it: O before CN, PrintableString when the text allows.
fn subject(organization: &[String], common_name: &str) -> Result<DistinguishedName, CertError> {
    if organization.len() > 1 {
        return Err(CertError(format!(
            "at most one organization is supported, got {organization:?}"
        )));
    }
    let value = |s: &str| match PrintableString::try_from(s) {
        Ok(p) => DnValue::PrintableString(p),
        Err(_) => DnValue::Utf8String(s.to_string()),
    };
    let mut dn = DistinguishedName::new();
    if let Some(org) = organization.first() {
        dn.push(DnType::OrganizationName, value(org));
    }
    dn.push(DnType::CommonName, value(common_name));
    Ok(dn)
}

fn dns_san(name: &str) -> Result<SanType, CertError> {
    Ia5String::try_from(name)
        .map(SanType::DnsName)
        .map_err(|_| CertError(format!("{name:?} is not a valid DNS name")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::EncryptionAlgorithm;
    use crate::pki::keys::generate_key;
    use time::Duration;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
    }

    fn ca(alg: EncryptionAlgorithm) -> Ca {
        let t = now();
        Ca::self_signed(
            "kubernetes",
            generate_key(alg).unwrap(),
            t - Duration::minutes(5),
            t + Duration::days(3650),
        )
        .unwrap()
    }

    fn client(ca: &Ca, cn: &str) -> Certificate {
        let key = generate_key(EncryptionAlgorithm::EcdsaP256).unwrap();
        let t = now();
        ca.issue(
            &CertConfig {
                common_name: cn.to_string(),
                organization: vec!["system:nodes".to_string()],
                alt_names: AltNames {
                    dns_names: vec!["b.example".into(), "a.example".into(), "b.example".into()],
                    ips: vec!["10.0.0.1".parse().unwrap(), "10.0.0.1".parse().unwrap()],
                },
                usages: vec![ExtKeyUsage::ClientAuth],
                not_before: t,
                not_after: t + Duration::days(365),
            },
            &key,
        )
        .unwrap()
    }

    #[test]
    fn issued_certificates_chain_to_their_ca_only() {
        let ca1 = ca(EncryptionAlgorithm::EcdsaP256);
        let ca2 = ca(EncryptionAlgorithm::EcdsaP384);
        let cert = client(&ca1, "system:node:a");
        assert!(cert.is_signed_by(ca1.cert()));
        assert!(!cert.is_signed_by(ca2.cert()));
        assert!(ca1.cert().is_signed_by(ca1.cert()));
        assert_eq!(cert.common_name(), "system:node:a");
        assert_eq!(cert.organizations(), ["system:nodes"]);
        assert_eq!(cert.alt_names().dns_names, ["a.example", "b.example"]);
        assert_eq!(cert.alt_names().ips.len(), 1);
        assert!(!cert.is_ca());
        assert_eq!(cert.ext_key_usages(), [ExtKeyUsage::ClientAuth]);
    }

    #[test]
    fn a_tampered_certificate_fails_verification() {
        let ca = ca(EncryptionAlgorithm::EcdsaP256);
        let cert = client(&ca, "system:node:a");
        let mut der = cert.der().to_vec();
        let pos = der.windows(13).position(|w| w == b"system:node:a").unwrap();
        der[pos + 12] = b'b';
        let forged = Certificate::from_der(der).unwrap();
        assert_eq!(forged.common_name(), "system:node:b");
        assert!(!forged.is_signed_by(ca.cert()));
    }

    #[test]
    fn ca_and_key_must_match() {
        let ca = ca(EncryptionAlgorithm::EcdsaP256);
        let other = generate_key(EncryptionAlgorithm::EcdsaP256).unwrap();
        let err = Ca::new(ca.cert().clone(), other).unwrap_err();
        assert!(err.0.contains("does not belong"), "{err}");
        let leaf = client(&ca, "x");
        let key = generate_key(EncryptionAlgorithm::EcdsaP256).unwrap();
        assert!(Ca::new(leaf, key).unwrap_err().0.contains("not a CA"));
    }

    #[test]
    fn hostname_matching_follows_go() {
        let ca = ca(EncryptionAlgorithm::EcdsaP256);
        let key = generate_key(EncryptionAlgorithm::EcdsaP256).unwrap();
        let t = now();
        let cert = ca
            .issue(
                &CertConfig {
                    common_name: "x".into(),
                    organization: vec![],
                    alt_names: AltNames {
                        dns_names: vec!["*.example.com".into(), "Node1".into()],
                        ips: vec![],
                    },
                    usages: vec![ExtKeyUsage::ServerAuth],
                    not_before: t,
                    not_after: t + Duration::days(1),
                },
                &key,
            )
            .unwrap();
        assert!(cert.covers_dns_name("api.example.com"));
        assert!(cert.covers_dns_name("node1"));
        assert!(!cert.covers_dns_name("example.com"));
        assert!(!cert.covers_dns_name("a.b.example.com"));
        assert!(cert.has_server_auth());
        assert_eq!(cert.period(t - Duration::seconds(1)), Period::NotYetValid);
        assert_eq!(cert.period(t), Period::Valid);
        assert_eq!(cert.period(t + Duration::days(2)), Period::Expired);
    }

    #[test]
    fn two_organizations_are_refused() {
        assert!(subject(&["a".into(), "b".into()], "cn").is_err());
    }
}
