//! `kubeadm init phase upload-certs`: the control-plane CAs and service-account keys, each
//! sealed with AES-256-GCM under the certificate key, in the `kube-system/kubeadm-certs`
//! Secret. The Secret is owned by a bootstrap token that expires in two hours, so the garbage
//! collector deletes the keys with it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use time::OffsetDateTime;

use super::rbac::{get_named, group, role, role_binding};
use super::token::bootstrap_token_secret;
use super::{BOOTSTRAPPERS_GROUP, Error, NS_SYSTEM, Object, Result, hex, meta};
use crate::config::model::{BootstrapToken, BootstrapTokenString, ClusterConfiguration, Etcd};
use crate::fs::Root;

/// `kubeadmconstants.KubeadmCertsSecret`.
pub const KUBEADM_CERTS: &str = "kubeadm-certs";
/// `kubeadmconstants.KubeadmCertsClusterRoleName` (a Role).
pub const KUBEADM_CERTS_ROLE: &str = "kubeadm:kubeadm-certs";
/// `kubeadmconstants.DefaultCertTokenDuration`.
pub const CERT_TOKEN_TTL: Duration = Duration::from_secs(2 * 3600);
const CERT_TOKEN_DESCRIPTION: &str = "Proxy for managing TTL for the kubeadm-certs secret";
const KEY_LEN: usize = 32;

/// The 32-byte AES-256 key that protects uploaded certificates. Never printed by `Debug`; no
/// `Display`. Overwritten when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct CertificateKey([u8; KEY_LEN]);

impl CertificateKey {
    /// A new random key (`copycerts.CreateCertificateKey`).
    pub fn generate() -> Result<Self> {
        let mut key = [0u8; KEY_LEN];
        aws_lc_rs::rand::fill(&mut key).map_err(|_| Error::Random {
            what: "generating the certificate key",
        })?;
        Ok(CertificateKey(key))
    }

    /// Parses the 64 hex characters of `--certificate-key` / `certificateKey`.
    pub fn parse(hex_key: &str) -> Result<Self> {
        let s = hex_key.trim();
        if s.len() != KEY_LEN * 2 {
            return Err(Error::InvalidCertificateKey {
                reason: "wrong length",
            });
        }
        let mut key = [0u8; KEY_LEN];
        for (i, pair) in s.as_bytes().chunks_exact(2).enumerate() {
            let digit = |c: u8| (c as char).to_digit(16);
            match (digit(pair[0]), digit(pair[1])) {
                (Some(h), Some(l)) => key[i] = (h * 16 + l) as u8,
                _ => {
                    return Err(Error::InvalidCertificateKey {
                        reason: "not hexadecimal",
                    });
                }
            }
        }
        Ok(CertificateKey(key))
    }

    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The key as 64 lowercase hex characters, for the printed join command only.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Debug for CertificateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CertificateKey(<redacted>)")
    }
}

impl Drop for CertificateKey {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // SAFETY: `b` is a valid, aligned, exclusive reference into our own array; the
            // volatile write keeps the compiler from eliding the wipe of a dying value.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

fn aead_key(key: &[u8; KEY_LEN]) -> LessSafeKey {
    // AES_256_GCM takes exactly 32 bytes, which the array type guarantees.
    match UnboundKey::new(&AES_256_GCM, key) {
        Ok(k) => LessSafeKey::new(k),
        Err(_) => unreachable!("a 32-byte key is always valid for AES-256-GCM"),
    }
}

/// Encrypts as kubeadm's `cryptoutil.EncryptBytes`: a random 12-byte nonce, then the
/// AES-256-GCM ciphertext with its 16-byte tag appended (Go's `gcm.Seal(nonce, nonce, data,
/// nil)`), no additional data.
pub fn seal(key: &[u8; KEY_LEN], plaintext: &[u8]) -> Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| Error::Random {
        what: "generating an encryption nonce",
    })?;
    let mut in_out = plaintext.to_vec();
    aead_key(key)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut in_out,
        )
        .map_err(|_| Error::Encrypt("a file for the kubeadm-certs Secret"))?;
    let mut out = Vec::with_capacity(NONCE_LEN + in_out.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&in_out);
    Ok(out)
}

/// Decrypts what [`seal`] (or kubeadm's `EncryptBytes`) produced. Fails on a wrong key, on any
/// altered byte, and on data too short to hold a nonce and a tag.
pub fn open(key: &[u8; KEY_LEN], sealed: &[u8]) -> Result<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return Err(Error::SealedDataTooShort);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::SealedDataTooShort)?;
    let mut in_out = ciphertext.to_vec();
    let plain_len = aead_key(key)
        .open_in_place(nonce, Aad::empty(), &mut in_out)
        .map_err(|_| Error::OpenFailed)?
        .len();
    in_out.truncate(plain_len);
    Ok(in_out)
}

/// The files to upload, by Secret key (`ca.crt`, `etcd-ca.key`, `external-etcd.crt`, ...):
/// their contents, or `None` when absent on disk (kubeadm then stores an empty value, which
/// joining nodes skip).
pub type CertFiles = BTreeMap<String, Option<Vec<u8>>>;

/// kubeadm's `certsToTransfer`: Secret key name → node path, sorted by name. Joining
/// control-plane nodes write each entry back to its path.
pub fn certs_to_transfer(cfg: &ClusterConfiguration) -> Vec<(String, PathBuf)> {
    let dir = &cfg.certificates_dir;
    let mut names = vec![
        "ca.crt",
        "ca.key",
        "front-proxy-ca.crt",
        "front-proxy-ca.key",
        "sa.pub",
        "sa.key",
    ];
    let mut list: Vec<(String, PathBuf)> = Vec::new();
    match &cfg.etcd {
        Etcd::Local(_) => names.extend(["etcd/ca.crt", "etcd/ca.key"]),
        Etcd::External(ext) => {
            for (name, path) in [
                ("external-etcd-ca.crt", &ext.ca_file),
                ("external-etcd.crt", &ext.cert_file),
                ("external-etcd.key", &ext.key_file),
            ] {
                list.push((name.to_string(), PathBuf::from(path)));
            }
        }
    }
    for name in names {
        // certOrKeyNameToSecretName: "etcd/ca.crt" → "etcd-ca.crt".
        list.push((name.replace('/', "-"), dir.join(name)));
    }
    list.sort();
    list
}

/// Reads the files kubeadm uploads for this configuration through `root`. A missing file (or
/// an unset external etcd path) is `None`; any other read error fails.
pub fn read_certs_to_upload(root: &Root, cfg: &ClusterConfiguration) -> Result<CertFiles> {
    let mut files = CertFiles::new();
    for (name, path) in certs_to_transfer(cfg) {
        let data = if path.as_os_str().is_empty() {
            None
        } else {
            root.read_optional(Path::new(&path))?
        };
        files.insert(name, data);
    }
    Ok(files)
}

/// The short-lived bootstrap token Secret that owns kubeadm-certs (2h TTL, no usages, as
/// `createShortLivedBootstrapToken`). Create it first, read back its UID, then build
/// [`upload_certs_objects`] with a [`SecretOwner`] naming it.
pub fn upload_certs_token_objects(
    token: &BootstrapTokenString,
    now: OffsetDateTime,
) -> Result<Vec<Object>> {
    let spec = BootstrapToken {
        token: Some(token.clone()),
        description: CERT_TOKEN_DESCRIPTION.to_string(),
        ttl: Some(CERT_TOKEN_TTL),
        expires: None,
        usages: Vec::new(),
        groups: Vec::new(),
    };
    Ok(vec![bootstrap_token_secret(token, &spec, now)?.into()])
}

/// The created token Secret, as the API server returned it: kubeadm makes it the controller
/// owner of kubeadm-certs (`metav1.NewControllerRef`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretOwner {
    pub name: String,
    pub uid: String,
}

/// `kube-system/kubeadm-certs` with every file sealed under `key` (absent files as empty
/// values), owned by `owner`, then the Role and RoleBinding `kubeadm:kubeadm-certs` that let
/// bootstrap tokens read it.
pub fn upload_certs_objects(
    key: &CertificateKey,
    files: &CertFiles,
    owner: &SecretOwner,
) -> Result<Vec<Object>> {
    let mut data = BTreeMap::new();
    for (name, contents) in files {
        let value = match contents {
            Some(plain) => seal(key.as_bytes(), plain)?,
            None => Vec::new(),
        };
        data.insert(name.clone(), ByteString(value));
    }
    let mut metadata = meta(Some(NS_SYSTEM), KUBEADM_CERTS);
    metadata.owner_references = Some(vec![OwnerReference {
        api_version: "v1".to_string(),
        kind: "Secret".to_string(),
        name: owner.name.clone(),
        uid: owner.uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }]);
    let secret = Secret {
        metadata,
        data: Some(data),
        ..Default::default()
    };
    Ok(vec![
        secret.into(),
        role(
            NS_SYSTEM,
            KUBEADM_CERTS_ROLE,
            vec![get_named("secrets", KUBEADM_CERTS)],
        )
        .into(),
        role_binding(
            NS_SYSTEM,
            KUBEADM_CERTS_ROLE,
            vec![group(BOOTSTRAPPERS_GROUP)],
        )
        .into(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_HEX: &str = "f8902e114ef118304e561c3ecd4d0b543adc226b7a07f675f56564185ffe0c07";

    #[test]
    fn key_parses_64_hex_and_rejects_the_rest() {
        let k = CertificateKey::parse(KEY_HEX).unwrap();
        assert_eq!(k.to_hex(), KEY_HEX);
        assert_eq!(CertificateKey::parse(&KEY_HEX.to_uppercase()).unwrap(), k);
        for bad in [&KEY_HEX[..62], &format!("{KEY_HEX}00"), ""] {
            assert!(matches!(
                CertificateKey::parse(bad),
                Err(Error::InvalidCertificateKey {
                    reason: "wrong length"
                })
            ));
        }
        let not_hex = format!("{}zz", &KEY_HEX[..62]);
        let e = CertificateKey::parse(&not_hex).unwrap_err().to_string();
        assert!(
            e.contains("not hexadecimal") && !e.contains(&KEY_HEX[..20]),
            "{e}"
        );
    }

    #[test]
    fn key_never_shows_in_debug_and_generated_keys_differ() {
        let k = CertificateKey::parse(KEY_HEX).unwrap();
        assert_eq!(format!("{k:?}"), "CertificateKey(<redacted>)");
        let a = CertificateKey::generate().unwrap();
        let b = CertificateKey::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.to_hex().len(), 64);
    }

    #[test]
    fn certs_to_transfer_match_kubeadm_names() {
        let names = |etcd: Etcd| {
            let mut cfg = crate::cluster::tests_support::cluster_config();
            cfg.etcd = etcd;
            certs_to_transfer(&cfg)
                .into_iter()
                .map(|(n, p)| format!("{n}={}", p.display()))
                .collect::<Vec<_>>()
        };
        let local = names(crate::cluster::tests_support::cluster_config().etcd);
        assert_eq!(
            local,
            [
                "ca.crt=/etc/kubernetes/pki/ca.crt",
                "ca.key=/etc/kubernetes/pki/ca.key",
                "etcd-ca.crt=/etc/kubernetes/pki/etcd/ca.crt",
                "etcd-ca.key=/etc/kubernetes/pki/etcd/ca.key",
                "front-proxy-ca.crt=/etc/kubernetes/pki/front-proxy-ca.crt",
                "front-proxy-ca.key=/etc/kubernetes/pki/front-proxy-ca.key",
                "sa.key=/etc/kubernetes/pki/sa.key",
                "sa.pub=/etc/kubernetes/pki/sa.pub",
            ]
        );
        let external = names(Etcd::External(crate::config::model::ExternalEtcd {
            endpoints: vec!["https://10.0.0.5:2379".into()],
            ca_file: "/etc/etcd/ca.pem".into(),
            cert_file: "/etc/etcd/client.pem".into(),
            key_file: String::new(),
        }));
        assert!(external.contains(&"external-etcd-ca.crt=/etc/etcd/ca.pem".to_string()));
        assert!(external.contains(&"external-etcd.key=".to_string()));
        assert!(!external.iter().any(|n| n.starts_with("etcd-ca")));
    }
}
