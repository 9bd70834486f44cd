//! The `certs` phase of `kubeadm init` (`cmd/phases/init/certs.go`): one sub-phase per CA and
//! certificate, then the service account key pair. Existing files are reused when valid and
//! never overwritten; a CA certificate without its key is kubeadm's external CA mode.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use log::{info, warn};
use time::OffsetDateTime;

use super::cert::{AltNames, Ca, CertConfig, Certificate, Period};
use super::keys::{PrivateKey, generate_key};
use super::spec::{CERTIFICATES, CertSpec, SERVICE_ACCOUNT_BASE_NAME};
use super::{CERTIFICATE_BACKDATE, Error, PHASES, load_key, write_certificate, write_key};
use crate::config::model::{Etcd, InitConfiguration};
use crate::fs::{Root, mode};

pub(super) fn run(
    root: &Root,
    cfg: &InitConfiguration,
    only: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), Error> {
    if let Some(name) = only.filter(|name| !PHASES.contains(name)) {
        return Err(Error::UnknownPhase(name.to_string()));
    }
    // Bad input fails before anything is written: the SANs of every certificate are computed
    // up front (kubeadm finds a bad advertise address only in the apiserver phase), and, as
    // kubeadm's init data, an incomplete external CA setup is refused.
    let run = Run::new(root, cfg, now)?;
    if only.is_none() {
        info!(
            "[certs] Using certificateDir folder {:?}",
            run.dir.display().to_string()
        );
    }
    let external = run.external_cas()?;
    for &phase in PHASES {
        if only.is_some_and(|o| o != phase) || run.skipped(phase) {
            continue;
        }
        match CertSpec::by_name(phase) {
            Some(spec) if spec.is_ca() => run.ca_phase(spec)?,
            Some(spec) => run.cert_phase(spec)?,
            None => run.sa_phase(external.contains(&"ca"))?,
        }
    }
    Ok(())
}

pub(super) struct Run<'a> {
    root: &'a Root,
    cfg: &'a InitConfiguration,
    now: OffsetDateTime,
    dir: &'a Path,
    /// The SANs of each entry of `CERTIFICATES`, in the same order.
    alt_names: Vec<AltNames>,
}

impl<'a> Run<'a> {
    pub(super) fn new(
        root: &'a Root,
        cfg: &'a InitConfiguration,
        now: OffsetDateTime,
    ) -> Result<Self, Error> {
        let alt_names = CERTIFICATES
            .iter()
            .map(|spec| spec.alt_names(cfg))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Run {
            root,
            cfg,
            // Certificates carry whole seconds; keep one instant for every file of this run.
            now: now.replace_nanosecond(0).unwrap_or(now),
            dir: &cfg.cluster.certificates_dir,
            alt_names,
        })
    }

    fn alt_names(&self, spec: &CertSpec) -> AltNames {
        CERTIFICATES
            .iter()
            .position(|c| c.name == spec.name)
            .and_then(|i| self.alt_names.get(i).cloned())
            .unwrap_or_default()
    }

    fn skipped(&self, phase: &str) -> bool {
        self.cfg
            .skip_phases
            .iter()
            .any(|s| s == "certs" || s.strip_prefix("certs/") == Some(phase))
    }

    fn local_etcd(&self) -> bool {
        matches!(self.cfg.cluster.etcd, Etcd::Local(_))
    }

    fn cert_path(&self, spec: &CertSpec) -> PathBuf {
        self.dir.join(format!("{}.crt", spec.base_name))
    }

    fn key_path(&self, spec: &CertSpec) -> PathBuf {
        self.dir.join(format!("{}.key", spec.base_name))
    }

    fn read_chain(&self, path: &Path) -> Result<Option<Vec<Certificate>>, Error> {
        let Some(data) = self.root.read_optional(path)? else {
            return Ok(None);
        };
        Certificate::chain_from_pem(&data)
            .map(Some)
            .map_err(|e| Error::InvalidCertificate {
                path: path.to_path_buf(),
                reason: e.0,
            })
    }

    fn read_cert(&self, path: &Path) -> Result<Option<Certificate>, Error> {
        Ok(self.read_chain(path)?.map(|mut chain| chain.swap_remove(0)))
    }

    /// An expired certificate is an error: components would fail with it. One not valid yet
    /// is only a warning, as kubeadm's, because the clock may still be settling at boot.
    fn check_period(&self, path: &Path, cert: &Certificate) -> Result<(), Error> {
        match cert.period(self.now) {
            Period::Valid => Ok(()),
            Period::Expired => Err(Error::Expired {
                path: path.to_path_buf(),
                not_after: cert.not_after().to_string(),
            }),
            Period::NotYetValid => {
                warn!(
                    "[certs] WARNING: {} is not valid yet (NotBefore {}); check the clock",
                    path.display(),
                    cert.not_before()
                );
                Ok(())
            }
        }
    }

    fn validity(&self, is_ca: bool) -> (OffsetDateTime, OffsetDateTime) {
        let cluster = &self.cfg.cluster;
        let period = if is_ca {
            cluster.ca_certificate_validity_period
        } else {
            cluster.certificate_validity_period
        };
        let period = time::Duration::try_from(period).unwrap_or(time::Duration::MAX);
        let not_after = self
            .now
            .checked_add(period)
            .unwrap_or(time::PrimitiveDateTime::MAX.assume_utc());
        (self.now - CERTIFICATE_BACKDATE, not_after)
    }

    fn new_key(&self) -> Result<PrivateKey, Error> {
        generate_key(self.cfg.cluster.encryption_algorithm).map_err(Error::KeyGeneration)
    }

    fn write_pair(
        &self,
        spec: &CertSpec,
        cert: &Certificate,
        key: &PrivateKey,
    ) -> Result<(), Error> {
        write_key(self.root, &self.key_path(spec), key)?;
        write_certificate(self.root, &self.cert_path(spec), cert)
    }

    /// `runCAPhase`: reuse an existing CA (with or without its key), else create one.
    fn ca_phase(&self, spec: &CertSpec) -> Result<(), Error> {
        if spec.is_etcd() && !self.local_etcd() {
            info!(
                "[certs] External etcd mode: Skipping {} certificate authority generation",
                spec.base_name
            );
            return Ok(());
        }
        let cert_path = self.cert_path(spec);
        let key_path = self.key_path(spec);
        if let Some(cert) = self.read_cert(&cert_path)? {
            self.check_ca(&cert_path, &cert)?;
            match load_key(self.root, &key_path)? {
                Some(key) => {
                    self.check_key(&key_path, &cert_path, &cert, &key)?;
                    info!(
                        "[certs] Using existing {} certificate authority",
                        spec.base_name
                    );
                }
                None => info!(
                    "[certs] Using existing {} keyless certificate authority",
                    spec.base_name
                ),
            }
            return Ok(());
        }
        // A key without its certificate (a run interrupted between the two writes) gets a
        // new certificate; kubeadm would stop here for good.
        let (key, fresh) = match load_key(self.root, &key_path)? {
            Some(key) => (key, false),
            None => (self.new_key()?, true),
        };
        let (not_before, not_after) = self.validity(true);
        let cn = spec.common_name(self.cfg);
        let ca =
            Ca::self_signed(&cn, key, not_before, not_after).map_err(|source| Error::Issue {
                what: spec.name.to_string(),
                source,
            })?;
        info!(
            "[certs] Generating {:?} certificate and key",
            spec.base_name
        );
        if fresh {
            write_key(self.root, &key_path, ca.key())?;
        }
        write_certificate(self.root, &cert_path, ca.cert())
    }

    fn check_ca(&self, path: &Path, cert: &Certificate) -> Result<(), Error> {
        if !cert.is_ca() {
            return Err(Error::NotCa {
                path: path.to_path_buf(),
            });
        }
        self.check_period(path, cert)
    }

    fn check_key(
        &self,
        key_path: &Path,
        cert_path: &Path,
        cert: &Certificate,
        key: &PrivateKey,
    ) -> Result<(), Error> {
        if cert.matches_key(key) {
            Ok(())
        } else {
            Err(Error::KeyMismatch {
                key: key_path.to_path_buf(),
                cert: cert_path.to_path_buf(),
            })
        }
    }

    /// The CA certificate a leaf phase needs, which an earlier phase must have provided.
    fn signing_cert(&self, ca_spec: &CertSpec) -> Result<Certificate, Error> {
        let path = self.cert_path(ca_spec);
        let cert = self.read_cert(&path)?.ok_or_else(|| Error::Missing {
            path: path.clone(),
            why: format!(
                "the {} certificate authority is needed first (phase certs/{})",
                ca_spec.name, ca_spec.name
            ),
        })?;
        self.check_ca(&path, &cert)?;
        Ok(cert)
    }

    /// `runCertPhase`: reuse a valid existing certificate, else sign a new one with the CA.
    fn cert_phase(&self, spec: &CertSpec) -> Result<(), Error> {
        if spec.is_etcd() && !self.local_etcd() {
            info!(
                "[certs] External etcd mode: Skipping {} certificate generation",
                spec.base_name
            );
            return Ok(());
        }
        let Some(ca_spec) = spec.ca_spec() else {
            return Ok(());
        };
        let ca_cert = self.signing_cert(ca_spec)?;
        let alt_names = self.alt_names(spec);
        let cert_path = self.cert_path(spec);
        if let Some(chain) = self.read_chain(&cert_path)? {
            self.check_existing(spec, &chain, &ca_cert, &alt_names)?;
            info!(
                "[certs] Using existing {} certificate and key on disk",
                spec.base_name
            );
            return Ok(());
        }
        let ca = self.signing_ca(ca_spec, ca_cert, &cert_path)?;
        let key_path = self.key_path(spec);
        let (key, fresh) = match load_key(self.root, &key_path)? {
            Some(key) => (key, false),
            None => (self.new_key()?, true),
        };
        let (not_before, not_after) = self.validity(false);
        let config = CertConfig {
            common_name: spec.common_name(self.cfg),
            organization: spec.organization(),
            alt_names,
            usages: spec.usages.to_vec(),
            not_before,
            not_after,
        };
        let cert = ca.issue(&config, &key).map_err(|source| Error::Issue {
            what: spec.name.to_string(),
            source,
        })?;
        info!(
            "[certs] Generating {:?} certificate and key",
            spec.base_name
        );
        if fresh {
            self.write_pair(spec, &cert, &key)?;
        } else {
            write_certificate(self.root, &cert_path, &cert)?;
        }
        if cert.has_server_auth() {
            let names = cert.alt_names();
            info!(
                "[certs] {} serving cert is signed for DNS names {} and IPs {}",
                spec.base_name,
                go_list(&names.dns_names),
                go_list(&names.ips)
            );
        }
        Ok(())
    }

    /// The CA with its key, needed to sign a certificate that does not exist yet.
    fn signing_ca(
        &self,
        ca_spec: &CertSpec,
        cert: Certificate,
        missing: &Path,
    ) -> Result<Ca, Error> {
        let cert_path = self.cert_path(ca_spec);
        let key_path = self.key_path(ca_spec);
        let key = load_key(self.root, &key_path)?.ok_or_else(|| Error::Missing {
            path: missing.to_path_buf(),
            why: format!(
                "{} has no key {} (external CA mode), so kubeboot cannot sign it: supply it",
                cert_path.display(),
                key_path.display()
            ),
        })?;
        self.check_key(&key_path, &cert_path, &cert, &key)?;
        Ca::new(cert, key).map_err(|_| Error::KeyMismatch {
            key: key_path,
            cert: cert_path,
        })
    }

    /// An existing certificate is used only if its key is there and matches, it chains to
    /// the CA, it has not expired, and it covers every SAN this node needs.
    fn check_existing(
        &self,
        spec: &CertSpec,
        chain: &[Certificate],
        ca_cert: &Certificate,
        alt_names: &AltNames,
    ) -> Result<(), Error> {
        let cert_path = self.cert_path(spec);
        let key_path = self.key_path(spec);
        let (cert, intermediates) = chain.split_first().ok_or_else(|| Error::Missing {
            path: cert_path.clone(),
            why: "the file holds no certificate".to_string(),
        })?;
        let key = load_key(self.root, &key_path)?.ok_or_else(|| Error::Missing {
            path: key_path.clone(),
            why: format!("{} exists without its key", cert_path.display()),
        })?;
        self.check_key(&key_path, &cert_path, cert, &key)?;
        self.check_period(&cert_path, cert)?;
        if !cert.chains_to(intermediates, ca_cert) {
            return Err(Error::NotSignedByCa {
                path: cert_path,
                ca: self.cert_path(spec.ca_spec().unwrap_or(spec)),
            });
        }
        let missing_dns = alt_names
            .dns_names
            .iter()
            .find(|d| !cert.covers_dns_name(d))
            .map(|d| format!("DNS name {d}"));
        let missing_ip = alt_names
            .ips
            .iter()
            .find(|ip| !cert.covers_ip(**ip))
            .map(|ip| format!("IP address {ip}"));
        match missing_dns.or(missing_ip) {
            Some(san) => Err(Error::MissingSan {
                path: cert_path,
                san,
            }),
            None => Ok(()),
        }
    }

    /// kubeadm's `UsingExternalCA` family, for every CA this configuration needs.
    pub(super) fn external_cas(&self) -> Result<Vec<&'static str>, Error> {
        let mut external = Vec::new();
        for ca_spec in CERTIFICATES.iter().filter(|c| c.is_ca()) {
            if ca_spec.is_etcd() && !self.local_etcd() {
                continue;
            }
            let cert_path = self.cert_path(ca_spec);
            let Some(ca_cert) = self.read_cert(&cert_path)? else {
                continue;
            };
            if self.root.exists(self.key_path(ca_spec)) {
                continue;
            }
            self.check_ca(&cert_path, &ca_cert)?;
            for leaf in ca_spec.leaves() {
                let path = self.cert_path(leaf);
                let chain = self.read_chain(&path)?.ok_or_else(|| Error::Missing {
                    path: path.clone(),
                    why: format!(
                        "{} has no key {} (external CA mode), so kubeboot cannot sign it: supply it",
                        cert_path.display(),
                        self.key_path(ca_spec).display()
                    ),
                })?;
                self.check_existing(leaf, &chain, &ca_cert, &self.alt_names(leaf))?;
            }
            if ca_spec.name == "ca" {
                self.check_external_sa()?;
            }
            external.push(ca_spec.name);
        }
        Ok(external)
    }

    fn sa_paths(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("{SERVICE_ACCOUNT_BASE_NAME}.key")),
            self.dir.join(format!("{SERVICE_ACCOUNT_BASE_NAME}.pub")),
        )
    }

    /// Without the CA key kubeadm does not create the service account keys either; kubeboot
    /// also checks that they are there, rather than letting the controller-manager fail.
    fn check_external_sa(&self) -> Result<(), Error> {
        let (key_path, pub_path) = self.sa_paths();
        for path in [&key_path, &pub_path] {
            if !self.root.exists(path) {
                return Err(Error::Missing {
                    path: path.clone(),
                    why: "in external CA mode the service account key pair must be supplied"
                        .to_string(),
                });
            }
        }
        let key = load_key(self.root, &key_path)?.ok_or_else(|| Error::Missing {
            path: key_path.clone(),
            why: "it disappeared while being read".to_string(),
        })?;
        self.check_public_key(&key_path, &pub_path, &key)
    }

    /// `runCertsSa`: the service account signing key (`sa.key`) and its public key (`sa.pub`,
    /// PKIX, mode 0600 as kubeadm's keyutil writes it).
    fn sa_phase(&self, external_ca: bool) -> Result<(), Error> {
        if external_ca {
            info!("[certs] Using existing sa keys");
            return Ok(());
        }
        let (key_path, pub_path) = self.sa_paths();
        if let Some(key) = load_key(self.root, &key_path)? {
            if self.root.exists(&pub_path) {
                self.check_public_key(&key_path, &pub_path, &key)?;
            } else {
                super::write_file(
                    self.root,
                    &pub_path,
                    key.public_key_pem().as_bytes(),
                    mode::PRIVATE,
                )?;
            }
            info!("[certs] Using the existing {SERVICE_ACCOUNT_BASE_NAME:?} key");
            return Ok(());
        }
        let key = self.new_key()?;
        info!("[certs] Generating {SERVICE_ACCOUNT_BASE_NAME:?} key and public key");
        write_key(self.root, &key_path, &key)?;
        super::write_file(
            self.root,
            &pub_path,
            key.public_key_pem().as_bytes(),
            mode::PRIVATE,
        )
    }

    fn check_public_key(
        &self,
        key_path: &Path,
        pub_path: &Path,
        key: &PrivateKey,
    ) -> Result<(), Error> {
        let data = self.root.read(pub_path)?;
        let expected = key.public_key_der();
        let found = super::pem::decode_all(&data)
            .ok()
            .and_then(|blocks| {
                blocks
                    .into_iter()
                    .find(|b| b.label == super::pem::PUBLIC_KEY)
            })
            .map(|b| b.der);
        if found.as_deref() == Some(expected.as_slice()) {
            Ok(())
        } else {
            Err(Error::KeyMismatch {
                key: key_path.to_path_buf(),
                cert: pub_path.to_path_buf(),
            })
        }
    }
}

/// Go's `%v` of a slice: `[a b c]`.
fn go_list<T: Display>(items: &[T]) -> String {
    let parts: Vec<String> = items.iter().map(ToString::to_string).collect();
    format!("[{}]", parts.join(" "))
}
