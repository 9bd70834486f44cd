//! CA public key pins, as kubeadm's `util/pubkeypin`: `sha256:<hex>` of SHA-256 over a
//! certificate's DER SubjectPublicKeyInfo (`--discovery-token-ca-cert-hash`). Pinning the key,
//! not the certificate, keeps a pin valid across a CA re-issue with the same key.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use aws_lc_rs::digest;

const FORMAT_SHA256: &str = "sha256";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("invalid hash {0:?}, expected \"format:hex-value\". Known format(s) are: sha256")]
    Format(String),
    #[error("unknown hash format {format:?} in {pin:?}. Known format(s) are: sha256")]
    UnknownFormat { pin: String, format: String },
    #[error("invalid hash {pin:?}, expected a 32 byte SHA-256 hash, found {found} bytes")]
    Length { pin: String, found: usize },
    #[error("invalid hash {0:?}, could not decode SHA-256 from hex")]
    Hex(String),
    #[error("cannot read the certificate to hash its public key: {0}")]
    Certificate(String),
}

/// `sha256:<lowercase hex>` of the certificate's DER SubjectPublicKeyInfo (kubeadm's
/// `pubkeypin.Hash`).
pub fn hash(cert_der: &[u8]) -> Result<String, PinError> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| PinError::Certificate(e.to_string()))?;
    let spki = cert.tbs_certificate.subject_pki.raw;
    Ok(format!(
        "{FORMAT_SHA256}:{}",
        to_hex(digest::digest(&digest::SHA256, spki).as_ref())
    ))
}

/// The pins of every certificate in a PEM bundle, in order (what `kubeadm init` prints in the
/// join command, one `--discovery-token-ca-cert-hash` per CA certificate).
pub fn hashes_pem(pem: &[u8]) -> Result<Vec<String>, PinError> {
    crate::api::parse_certificates(pem, "the CA bundle")
        .map_err(|e| PinError::Certificate(e.to_string()))?
        .iter()
        .map(|der| hash(der))
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A set of allowed CA public key hashes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinSet {
    sha256: BTreeSet<String>,
}

/// None of the bundle's certificates is pinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinMismatch {
    /// The pins of the certificates that were offered, to tell the user what was found.
    pub found: Vec<String>,
}

impl PinSet {
    /// Parses `sha256:<64 hex digits>` pins (the format is case-insensitive, as in kubeadm).
    pub fn parse<S: AsRef<str>>(pins: &[S]) -> Result<PinSet, PinError> {
        let mut set = PinSet::default();
        for pin in pins {
            let pin = pin.as_ref();
            let parts: Vec<&str> = pin.split(':').collect();
            let [format, value] = parts[..] else {
                return Err(PinError::Format(pin.to_string()));
            };
            if !format.eq_ignore_ascii_case(FORMAT_SHA256) {
                return Err(PinError::UnknownFormat {
                    pin: pin.to_string(),
                    format: format.to_string(),
                });
            }
            if value.len() / 2 != 32 {
                return Err(PinError::Length {
                    pin: pin.to_string(),
                    found: value.len() / 2,
                });
            }
            if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(PinError::Hex(pin.to_string()));
            }
            set.sha256.insert(value.to_ascii_lowercase());
        }
        Ok(set)
    }

    pub fn is_empty(&self) -> bool {
        self.sha256.is_empty()
    }

    /// Splits a bundle into its pinned certificates (by index, in order) and the pins of the
    /// others. Fails when none is pinned.
    pub fn select<C: AsRef<[u8]>>(&self, certs_der: &[C]) -> Result<Selection, PinMismatch> {
        let mut selection = Selection::default();
        for (index, der) in certs_der.iter().enumerate() {
            // A certificate that cannot be parsed cannot match; it is simply not pinned.
            let Ok(pin) = hash(der.as_ref()) else {
                continue;
            };
            if self.sha256.contains(&pin[FORMAT_SHA256.len() + 1..]) {
                selection.pinned.push(index);
            } else {
                selection.unpinned.push(pin);
            }
        }
        if selection.pinned.is_empty() {
            return Err(PinMismatch {
                found: selection.unpinned,
            });
        }
        Ok(selection)
    }
}

/// A bundle split by [`PinSet::select`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Indices of the pinned certificates, in bundle order; never empty.
    pub pinned: Vec<usize>,
    /// The pins of the certificates that are not pinned (parseable ones only).
    pub unpinned: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIN: &str = "sha256:3024f5a56088f579d7ad7ce55f52a575e639e54da1e91d44f089f3492c11af43";

    #[test]
    fn pins_parse_as_kubeadm_allows_them() {
        let set = PinSet::parse(&[PIN, &PIN.to_uppercase()]).unwrap();
        assert_eq!(set.sha256.len(), 1);
        assert!(PinSet::parse::<&str>(&[]).unwrap().is_empty());
    }

    #[test]
    fn malformed_pins_are_refused_with_kubeadms_reasons() {
        let cases = [
            ("3024f5a5", "expected \"format:hex-value\""),
            ("sha256:aa:bb", "expected \"format:hex-value\""),
            ("md5:3024f5a5", "unknown hash format \"md5\""),
            ("sha256:3024f5a5", "found 4 bytes"),
            (
                "sha256:zz24f5a56088f579d7ad7ce55f52a575e639e54da1e91d44f089f3492c11af43",
                "could not decode",
            ),
        ];
        for (pin, reason) in cases {
            let err = PinSet::parse(&[pin]).unwrap_err().to_string();
            assert!(err.contains(reason), "{pin}: {err}");
        }
    }

    #[test]
    fn a_bundle_is_split_into_pinned_and_unpinned_certificates() {
        let ca = crate::api::testserver::TestCa::new("kubernetes");
        let other = crate::api::testserver::TestCa::new("kubernetes");
        let pin = hash(&ca.cert_der).unwrap();
        let set = PinSet::parse(&[pin.as_str()]).unwrap();
        let selection = set.select(&[&other.cert_der, &ca.cert_der]).unwrap();
        assert_eq!(selection.pinned, vec![1]);
        assert_eq!(selection.unpinned, vec![hash(&other.cert_der).unwrap()]);
        let mismatch = set.select(&[&other.cert_der]).unwrap_err();
        assert_eq!(mismatch.found, vec![hash(&other.cert_der).unwrap()]);
        let bundle = format!("{}{}", other.cert_pem, ca.cert_pem);
        assert_eq!(
            hashes_pem(bundle.as_bytes()).unwrap(),
            vec![hash(&other.cert_der).unwrap(), pin]
        );
    }
}
