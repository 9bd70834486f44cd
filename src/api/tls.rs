//! Who the client trusts and who it says it is: a CA bundle (or, for discovery's first fetch
//! only, nothing at all), and no credentials, a bearer token, or a client certificate. Everything
//! is checked here, before ureq sees it, so that a bad bundle or a mismatched key pair is an
//! error with a message instead of a panic deep in the TLS stack.

use std::fmt;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use ureq::tls::{ClientCert, PrivateKey, RootCerts, TlsConfig, TlsProvider};

/// A TLS setting that cannot be used: what is wrong and what to check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TlsSetupError(pub String);

pub(crate) fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Which server certificates the client accepts.
#[derive(Clone)]
pub struct Trust(TrustKind);

#[derive(Clone)]
enum TrustKind {
    Roots(Arc<Vec<CertificateDer<'static>>>),
    /// Any certificate: only for the first cluster-info fetch, whose content is then checked
    /// against the token's JWS signature and the CA pins.
    AnyCertificate,
}

impl Trust {
    /// Trusts the certificates of a PEM bundle: a cluster CA, or the system trust store.
    /// Certificates that cannot serve as trust anchors are skipped; a bundle with none left is an
    /// error.
    pub fn from_pem(pem: &[u8], origin: &str) -> Result<Trust, TlsSetupError> {
        let certs = parse_certificates(pem, origin)?;
        let mut store = rustls::RootCertStore::empty();
        let (usable, _) = store.add_parsable_certificates(certs.iter().cloned());
        if usable == 0 {
            return Err(TlsSetupError(format!(
                "{origin} holds no usable CA certificate; check that it is a PEM bundle of \
                 CA certificates"
            )));
        }
        Ok(Trust(TrustKind::Roots(Arc::new(certs))))
    }

    /// Accepts any server certificate. Private to the crate: only discovery may use it, for the
    /// one fetch whose content it verifies by other means.
    pub(crate) fn any_certificate() -> Trust {
        Trust(TrustKind::AnyCertificate)
    }

    pub fn verifies_server(&self) -> bool {
        matches!(self.0, TrustKind::Roots(_))
    }
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            TrustKind::Roots(certs) => write!(f, "Trust({} CA certificates)", certs.len()),
            TrustKind::AnyCertificate => f.write_str("Trust(any certificate)"),
        }
    }
}

/// The certificates of a PEM bundle, in order; other PEM sections (keys) are ignored.
pub fn parse_certificates(
    pem: &[u8],
    origin: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            TlsSetupError(format!(
                "cannot read the PEM certificates in {origin}: {e}; check that it is a PEM \
                 certificate bundle"
            ))
        })?;
    if certs.is_empty() {
        return Err(TlsSetupError(format!(
            "{origin} holds no PEM certificate (no \"BEGIN CERTIFICATE\" block)"
        )));
    }
    Ok(certs)
}

/// How the client authenticates. Debug output never shows the token or the key.
#[derive(Clone, Default)]
pub enum Auth {
    #[default]
    Anonymous,
    /// `Authorization: Bearer <token>` (a bootstrap token `id.secret`, or a service account
    /// token). Never logged.
    BearerToken(String),
    ClientCertificate(ClientIdentity),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Anonymous => f.write_str("Anonymous"),
            Auth::BearerToken(_) => f.write_str("BearerToken(<redacted>)"),
            Auth::ClientCertificate(id) => write!(f, "ClientCertificate({id:?})"),
        }
    }
}

/// A client certificate chain and its private key, checked to belong together.
#[derive(Clone)]
pub struct ClientIdentity {
    cert: ClientCert,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} certificate(s), key <redacted>",
            self.cert.certs().len()
        )
    }
}

impl ClientIdentity {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or
    /// SEC1), and checks that the key is the leaf certificate's.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8], origin: &str) -> Result<Self, TlsSetupError> {
        let chain = parse_certificates(cert_pem, &format!("the client certificate of {origin}"))?;
        // A parse error may quote key material: say only that it failed.
        let unreadable_key = || {
            TlsSetupError(format!(
                "cannot read the client private key of {origin}; check that it is a PEM \
                 private key (PKCS#8, RSA or EC)"
            ))
        };
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| unreadable_key())?;
        check_pair(&chain, key, origin)?;
        // ureq takes the same first key of the PEM (its key kind type is not public).
        let ureq_key = PrivateKey::from_pem(key_pem).map_err(|_| unreadable_key())?;
        let ureq_chain: Vec<ureq::tls::Certificate<'static>> = chain
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        Ok(ClientIdentity {
            cert: ClientCert::new_with_certs(&ureq_chain, ureq_key),
        })
    }
}

/// A mismatched pair would make the TLS stack panic later: refuse it here, with a message.
fn check_pair(
    chain: &[CertificateDer<'static>],
    key: PrivateKeyDer<'static>,
    origin: &str,
) -> Result<(), TlsSetupError> {
    let mismatch = |why: String| {
        TlsSetupError(format!(
            "the client certificate and key of {origin} cannot be used together: {why}; \
             check that the key is the one the certificate was issued for"
        ))
    };
    let certified = CertifiedKey::from_der(chain.to_vec(), key, &crypto_provider())
        .map_err(|e| mismatch(e.to_string()))?;
    // from_der lets an undecidable comparison pass; here it must be decided.
    certified.keys_match().map_err(|e| mismatch(e.to_string()))
}

/// ureq's TLS settings: aws-lc-rs, the given trust, and the client certificate if any.
pub(crate) fn ureq_tls_config(trust: &Trust, auth: &Auth) -> Result<TlsConfig, TlsSetupError> {
    let client_cert = match auth {
        Auth::ClientCertificate(identity) => Some(identity.cert.clone()),
        Auth::Anonymous | Auth::BearerToken(_) => None,
    };
    let builder = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(crypto_provider())
        .client_cert(client_cert);
    let builder = match &trust.0 {
        TrustKind::Roots(certs) => builder.root_certs(RootCerts::new_with_certs(
            &certs
                .iter()
                .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
                .collect::<Vec<_>>(),
        )),
        TrustKind::AnyCertificate => builder.disable_verification(true),
    };
    Ok(builder.build())
}

/// What kind of TLS failure an error is, if it is one.
pub(crate) enum TlsFailure {
    /// The server's certificate was not accepted: unknown CA, wrong name, expired...
    Untrusted(String),
    /// Any other TLS failure (handshake alert, protocol mismatch, our certificate refused).
    Other(String),
}

pub(crate) fn classify_tls(error: &ureq::Error) -> Option<TlsFailure> {
    let tls_error = match error {
        ureq::Error::Rustls(e) => Some(e),
        ureq::Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        _ => None,
    }?;
    Some(match tls_error {
        rustls::Error::InvalidCertificate(_) => TlsFailure::Untrusted(tls_error.to_string()),
        other => TlsFailure::Other(other.to_string()),
    })
}
