//! Certificates and keys, exactly as kubeadm's `certs` phase makes them: the certificate list
//! of `phases/certs/certlist.go`, reuse of valid existing files, user-supplied CAs, and
//! kubeadm's external CA mode (a CA certificate without its key).

mod cert;
mod certs;
mod der;
mod keys;
mod pem;
mod spec;

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::ExitCode;
use crate::config::model::{EncryptionAlgorithm, InitConfiguration};
use crate::fs::{FsError, Root, mode};

pub use cert::{AltNames, Ca, CertConfig, CertError, Certificate, ExtKeyUsage, Period};
pub use keys::{KeyError, PrivateKey};
pub use pem::encode as encode_pem;
pub use spec::{CERTIFICATES, CLUSTER_ADMINS_GROUP, CertSpec, SYSTEM_PRIVILEGED_GROUP};

/// kubeadm's `certs` sub-phases, in order (`kubeadm init phase certs <name>`).
pub const PHASES: &[&str] = &[
    "ca",
    "apiserver",
    "apiserver-kubelet-client",
    "front-proxy-ca",
    "front-proxy-client",
    "etcd-ca",
    "etcd-server",
    "etcd-peer",
    "etcd-healthcheck-client",
    "apiserver-etcd-client",
    "sa",
];

/// How far back kubeadm dates `NotBefore` to tolerate small clock differences.
pub const CERTIFICATE_BACKDATE: time::Duration = time::Duration::minutes(5);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("unknown certs phase {0:?}; the phases are {phases}", phases = PHASES.join(", "))]
    UnknownPhase(String),
    #[error("invalid configuration, field {field}: {reason}")]
    InvalidConfig { field: &'static str, reason: String },
    #[error("{}: {reason}", path.display())]
    InvalidCertificate { path: PathBuf, reason: String },
    #[error("{}: {source}", path.display())]
    InvalidKey {
        path: PathBuf,
        #[source]
        source: KeyError,
    },
    #[error(
        "{} does not belong to {}: supply the matching key, or remove both to have new ones generated",
        key.display(),
        cert.display()
    )]
    KeyMismatch { key: PathBuf, cert: PathBuf },
    #[error(
        "{} is not a CA certificate (basicConstraints CA:TRUE is missing)",
        path.display()
    )]
    NotCa { path: PathBuf },
    #[error(
        "{} expired on {not_after}: renew it, or remove it (and its key) to have a new one generated",
        path.display()
    )]
    Expired { path: PathBuf, not_after: String },
    #[error(
        "{} is not signed by the CA in {}: supply one signed by that CA, or remove it (and its key) to have a new one generated",
        path.display(),
        ca.display()
    )]
    NotSignedByCa { path: PathBuf, ca: PathBuf },
    #[error(
        "{} is not valid for {san}, which this node needs: add it to the certificate, or remove the certificate (and its key) to have a new one generated",
        path.display()
    )]
    MissingSan { path: PathBuf, san: String },
    #[error("{} is missing: {why}", path.display())]
    Missing { path: PathBuf, why: String },
    #[error("could not generate a private key: {0}")]
    KeyGeneration(#[source] KeyError),
    #[error("could not issue the {what} certificate: {source}")]
    Issue {
        what: String,
        #[source]
        source: CertError,
    },
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Fs(_) => ExitCode::Filesystem,
            Error::UnknownPhase(_) => ExitCode::Usage,
            Error::KeyGeneration(_) | Error::Issue { .. } => ExitCode::Failure,
            Error::InvalidConfig { .. }
            | Error::InvalidCertificate { .. }
            | Error::InvalidKey { .. }
            | Error::KeyMismatch { .. }
            | Error::NotCa { .. }
            | Error::Expired { .. }
            | Error::NotSignedByCa { .. }
            | Error::MissingSan { .. }
            | Error::Missing { .. } => ExitCode::Config,
        }
    }
}

/// Runs kubeadm's `certs` phase (or the one sub-phase `only`) for `kubeadm init`.
/// Sub-phases listed in `cfg.skip_phases` (`certs`, `certs/<name>`) are skipped.
pub fn create_init_pki(
    root: &Root,
    cfg: &InitConfiguration,
    only: Option<&str>,
) -> Result<(), Error> {
    create_init_pki_at(root, cfg, only, OffsetDateTime::now_utc())
}

/// [`create_init_pki`] with the clock injected: `now` is kubeadm's start time, from which
/// every validity period is computed.
pub fn create_init_pki_at(
    root: &Root,
    cfg: &InitConfiguration,
    only: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), Error> {
    certs::run(root, cfg, only, now)
}

/// kubeadm's external CA checks (`UsingExternalCA`, `UsingExternalFrontProxyCA`,
/// `UsingExternalEtcdCA`): for every CA whose certificate exists without its key, every
/// certificate it signs must already exist and be valid. Returns the names of those CAs
/// (`ca`, `front-proxy-ca`, `etcd-ca`); empty when kubeboot holds every CA key.
pub fn external_cas(root: &Root, cfg: &InitConfiguration) -> Result<Vec<&'static str>, Error> {
    certs::Run::new(root, cfg, OffsetDateTime::now_utc())?.external_cas()
}

/// Generates a key as kubeadm does for `encryptionAlgorithm`.
pub fn generate_key(alg: EncryptionAlgorithm) -> Result<PrivateKey, Error> {
    keys::generate_key(alg).map_err(Error::KeyGeneration)
}

/// Loads a CA (`<cert_dir>/<base_name>.crt` and `.key`) able to issue certificates.
/// `Ok(None)` when neither file exists; an error when only one does, when they do not match,
/// when the certificate is not a CA, or when it has expired.
pub fn load_ca(root: &Root, cert_dir: &Path, base_name: &str) -> Result<Option<Ca>, Error> {
    load_ca_at(root, cert_dir, base_name, OffsetDateTime::now_utc())
}

/// [`load_ca`] with the clock injected.
pub fn load_ca_at(
    root: &Root,
    cert_dir: &Path,
    base_name: &str,
    now: OffsetDateTime,
) -> Result<Option<Ca>, Error> {
    let cert_path = cert_dir.join(format!("{base_name}.crt"));
    let key_path = cert_dir.join(format!("{base_name}.key"));
    let cert = load_certificate(root, &cert_path)?;
    let key = load_key(root, &key_path)?;
    let (cert, key) = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        (Some(_), None) => {
            return Err(Error::Missing {
                path: key_path,
                why: format!("{} exists without its key", cert_path.display()),
            });
        }
        (None, Some(_)) => {
            return Err(Error::Missing {
                path: cert_path,
                why: format!("{} exists without its certificate", key_path.display()),
            });
        }
    };
    if !cert.is_ca() {
        return Err(Error::NotCa { path: cert_path });
    }
    if cert.period(now) == Period::Expired {
        return Err(Error::Expired {
            path: cert_path,
            not_after: cert.not_after().to_string(),
        });
    }
    Ca::new(cert, key)
        .map(Some)
        .map_err(|_| Error::KeyMismatch {
            key: key_path,
            cert: cert_path,
        })
}

/// Reads the first certificate of a PEM file; `Ok(None)` when the file does not exist.
pub fn load_certificate(root: &Root, path: &Path) -> Result<Option<Certificate>, Error> {
    let Some(data) = root.read_optional(path)? else {
        return Ok(None);
    };
    Certificate::from_pem(&data)
        .map(Some)
        .map_err(|e| Error::InvalidCertificate {
            path: path.to_path_buf(),
            reason: e.0,
        })
}

/// Reads a private key file (PKCS#1, SEC1 or PKCS#8); `Ok(None)` when it does not exist.
pub fn load_key(root: &Root, path: &Path) -> Result<Option<PrivateKey>, Error> {
    let Some(data) = root.read_optional(path)? else {
        return Ok(None);
    };
    PrivateKey::from_pem(&data)
        .map(Some)
        .map_err(|source| Error::InvalidKey {
            path: path.to_path_buf(),
            source,
        })
}

/// Whether `data` is a certificate or a public key in PEM (a block labelled `CERTIFICATE`,
/// `PUBLIC KEY` or `RSA PUBLIC KEY` that is valid base64), as Go's `keyutil.ParsePublicKeysPEM`
/// tells them from private keys.
pub fn is_public_pem(data: &[u8]) -> bool {
    pem::decode_all(data).is_ok_and(|blocks| {
        blocks.iter().any(|b| {
            !b.der.is_empty()
                && matches!(
                    b.label.as_str(),
                    pem::CERTIFICATE | pem::PUBLIC_KEY | "RSA PUBLIC KEY"
                )
        })
    })
}

/// Writes a private key as kubeadm does: PEM, mode 0600, in a 0700 directory.
pub fn write_key(root: &Root, path: &Path, key: &PrivateKey) -> Result<(), Error> {
    write_file(root, path, key.to_pem().as_bytes(), mode::PRIVATE)
}

/// Writes a certificate as kubeadm does: PEM, mode 0644, in a 0700 directory.
pub fn write_certificate(root: &Root, path: &Path, cert: &Certificate) -> Result<(), Error> {
    write_file(root, path, cert.to_pem().as_bytes(), mode::PUBLIC)
}

fn write_file(root: &Root, path: &Path, data: &[u8], file_mode: u32) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        // Directories holding keys are private (kubeadm itself leaves them 0755).
        root.create_dir_all(dir, mode::PRIVATE_DIR)?;
    }
    root.write_atomic(path, data, file_mode)?;
    Ok(())
}
