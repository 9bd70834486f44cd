//! Private keys: generated per `encryptionAlgorithm` and written as kubeadm's keyutil writes
//! them (`RSA PRIVATE KEY` PKCS#1, `EC PRIVATE KEY` SEC1 with curve parameters), or loaded
//! from any of the forms kubeadm accepts (PKCS#1, SEC1, PKCS#8; RSA or ECDSA).

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use rcgen::{KeyPair, PublicKeyData};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};

use super::{der, pem};
use crate::config::encryption_algorithm_name;
use crate::config::model::EncryptionAlgorithm;

/// A private key able to sign certificates. Debug output never shows key material.
pub struct PrivateKey {
    pair: KeyPair,
    /// PEM label and DER of the key as it is (or will be) stored on disk.
    label: &'static str,
    der: Vec<u8>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({}, <redacted>)", self.label)
    }
}

/// Why a key could not be generated or loaded. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key generator failed for {0}")]
    Generation(&'static str),
    #[error("{0}")]
    Invalid(String),
}

/// Generates a new key as kubeadm's `pkiutil.GeneratePrivateKey` does for `alg`.
pub fn generate_key(alg: EncryptionAlgorithm) -> Result<PrivateKey, KeyError> {
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair,
    };
    let failed = || KeyError::Generation(encryption_algorithm_name(alg));
    let rsa = |size: KeySize| -> Result<PrivateKey, KeyError> {
        let pair = aws_lc_rs::rsa::KeyPair::generate(size).map_err(|_| failed())?;
        let pkcs8 = pair.as_der().map_err(|_| failed())?;
        let pkcs1 = der::pkcs8_private_key(pkcs8.as_ref()).ok_or_else(failed)?;
        PrivateKey::from_der(
            pem::RSA_PRIVATE_KEY,
            PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(pkcs1.to_vec())),
        )
        .map_err(|_| failed())
    };
    let ec = |alg: &'static aws_lc_rs::signature::EcdsaSigningAlgorithm| {
        let pair = EcdsaKeyPair::generate(alg).map_err(|_| failed())?;
        let sec1 = pair.private_key().as_der().map_err(|_| failed())?;
        PrivateKey::from_der(
            pem::EC_PRIVATE_KEY,
            PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(sec1.as_ref().to_vec())),
        )
        .map_err(|_| failed())
    };
    match alg {
        EncryptionAlgorithm::Rsa2048 => rsa(KeySize::Rsa2048),
        EncryptionAlgorithm::Rsa3072 => rsa(KeySize::Rsa3072),
        EncryptionAlgorithm::Rsa4096 => rsa(KeySize::Rsa4096),
        EncryptionAlgorithm::EcdsaP256 => ec(&ECDSA_P256_SHA256_ASN1_SIGNING),
        EncryptionAlgorithm::EcdsaP384 => ec(&ECDSA_P384_SHA384_ASN1_SIGNING),
    }
}

impl PrivateKey {
    fn from_der(label: &'static str, key: PrivateKeyDer<'_>) -> Result<Self, KeyError> {
        let pair = KeyPair::try_from(&key).map_err(|_| {
            KeyError::Invalid(format!("the {label} block is not a valid private key"))
        })?;
        let alg = pair.algorithm();
        let supported = [
            &rcgen::PKCS_RSA_SHA256,
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ECDSA_P521_SHA512,
        ];
        if !supported.contains(&alg) {
            // As kubeadm's TryLoadKeyFromDisk: only RSA and ECDSA keys sign certificates.
            return Err(KeyError::Invalid(
                "the private key is neither RSA nor ECDSA".to_string(),
            ));
        }
        Ok(PrivateKey {
            pair,
            label,
            der: key.secret_der().to_vec(),
        })
    }

    /// Loads the first private key in a PEM file (other blocks, such as `EC PARAMETERS`
    /// written by `openssl ecparam -genkey`, are skipped, as Go's keyutil does).
    pub fn from_pem(data: &[u8]) -> Result<Self, KeyError> {
        let blocks = pem::decode_all(data).map_err(KeyError::Invalid)?;
        for block in blocks {
            let (label, key) = match block.label.as_str() {
                pem::RSA_PRIVATE_KEY => (
                    pem::RSA_PRIVATE_KEY,
                    PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(block.der.clone())),
                ),
                pem::EC_PRIVATE_KEY => (
                    pem::EC_PRIVATE_KEY,
                    PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(block.der.clone())),
                ),
                pem::PRIVATE_KEY => (
                    pem::PRIVATE_KEY,
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(block.der.clone())),
                ),
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(KeyError::Invalid(
                        "the private key is encrypted; supply it unencrypted".to_string(),
                    ));
                }
                _ => continue,
            };
            if block.has_headers {
                return Err(KeyError::Invalid(
                    "the private key is encrypted (PEM headers); supply it unencrypted".to_string(),
                ));
            }
            return Self::from_der(label, key);
        }
        Err(KeyError::Invalid(
            "no RSA PRIVATE KEY, EC PRIVATE KEY or PRIVATE KEY block found".to_string(),
        ))
    }

    /// The key in PEM, in the form it was generated or loaded in.
    pub fn to_pem(&self) -> String {
        pem::encode(self.label, &self.der)
    }

    /// The DER SubjectPublicKeyInfo of the public half.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.pair.subject_public_key_info()
    }

    /// The public half as a `PUBLIC KEY` PEM block (PKIX), as kubeadm writes `sa.pub`.
    pub fn public_key_pem(&self) -> String {
        pem::encode(pem::PUBLIC_KEY, &self.public_key_der())
    }

    /// The PEM label of the stored form (`RSA PRIVATE KEY`, `EC PRIVATE KEY`, `PRIVATE KEY`).
    pub fn pem_label(&self) -> &'static str {
        self.label
    }

    /// The private key as rustls takes it (for TLS clients and servers in other phases).
    pub fn to_rustls(&self) -> PrivateKeyDer<'static> {
        match self.label {
            pem::RSA_PRIVATE_KEY => PrivateKeyDer::Pkcs1(self.der.clone().into()),
            pem::EC_PRIVATE_KEY => PrivateKeyDer::Sec1(self.der.clone().into()),
            _ => PrivateKeyDer::Pkcs8(self.der.clone().into()),
        }
    }

    pub(crate) fn pair(&self) -> &KeyPair {
        &self.pair
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_use_kubeadm_pem_forms() {
        let rsa = generate_key(EncryptionAlgorithm::Rsa2048).unwrap();
        assert!(
            rsa.to_pem()
                .starts_with("-----BEGIN RSA PRIVATE KEY-----\n")
        );
        let ec = generate_key(EncryptionAlgorithm::EcdsaP256).unwrap();
        assert!(ec.to_pem().starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
        let p384 = generate_key(EncryptionAlgorithm::EcdsaP384).unwrap();
        assert_eq!(p384.pair().algorithm(), &rcgen::PKCS_ECDSA_P384_SHA384);
        for key in [&rsa, &ec, &p384] {
            let reloaded = PrivateKey::from_pem(key.to_pem().as_bytes()).unwrap();
            assert_eq!(reloaded.public_key_der(), key.public_key_der());
            assert!(
                key.public_key_pem()
                    .starts_with("-----BEGIN PUBLIC KEY-----\n")
            );
        }
    }

    #[test]
    fn sec1_keys_carry_the_curve_parameters_as_go_writes_them() {
        let ec = generate_key(EncryptionAlgorithm::EcdsaP256).unwrap();
        let (outer, _) = der::read(&ec.der).unwrap();
        let fields = der::children(outer.content).unwrap();
        // version, privateKey, [0] parameters, [1] publicKey
        let tags: Vec<u8> = fields.iter().map(|f| f.tag).collect();
        assert_eq!(tags, vec![0x02, 0x04, 0xa0, 0xa1]);
    }

    #[test]
    fn debug_never_shows_key_material() {
        let key = generate_key(EncryptionAlgorithm::EcdsaP256).unwrap();
        let debug = format!("{key:?}");
        assert_eq!(debug, "PrivateKey(EC PRIVATE KEY, <redacted>)");
    }

    #[test]
    fn garbage_and_foreign_keys_are_rejected_without_echoing_them() {
        let err = PrivateKey::from_pem(b"hello").unwrap_err();
        assert!(err.to_string().contains("no RSA PRIVATE KEY"), "{err}");
        let bogus = pem::encode(pem::RSA_PRIVATE_KEY, b"secret-bytes");
        let err = PrivateKey::from_pem(bogus.as_bytes()).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        // An Ed25519 PKCS#8 key (RFC 8410 test vector) is valid but not usable by kubeadm.
        let ed25519 = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        let err = PrivateKey::from_pem(ed25519.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("neither RSA nor ECDSA"), "{err}");
    }
}
