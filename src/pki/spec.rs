//! kubeadm's certificate list (`phases/certs/certlist.go`) and the SANs it computes
//! (`pkiutil.GetAPIServerAltNames`, `GetEtcdAltNames`, `GetEtcdPeerAltNames`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Error;
use super::cert::{AltNames, ExtKeyUsage};
use crate::config::model::{Etcd, InitConfiguration};
use crate::config::validation::{dns1123_subdomain, parse_host_port, wildcard_dns1123_subdomain};

/// How a certificate's common name is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommonName {
    Fixed(&'static str),
    /// etcd's server and peer certificates are named after the node.
    NodeName,
}

/// Which SAN rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SanRule {
    None,
    ApiServer,
    EtcdServer,
    EtcdPeer,
}

/// One certificate kubeadm creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertSpec {
    /// The sub-phase name (`kubeadm init phase certs <name>`).
    pub name: &'static str,
    /// File name without extension, relative to the certificates directory.
    pub base_name: &'static str,
    /// The signing CA's `name`; `None` for CAs.
    pub ca: Option<&'static str>,
    pub common_name: CommonName,
    pub organization: Option<&'static str>,
    pub usages: &'static [ExtKeyUsage],
    pub sans: SanRule,
}

/// kubeadm's `ClusterAdminsGroupAndClusterRoleBinding` (1.29+).
pub const CLUSTER_ADMINS_GROUP: &str = "kubeadm:cluster-admins";
/// kubeadm's `SystemPrivilegedGroup`.
pub const SYSTEM_PRIVILEGED_GROUP: &str = "system:masters";

const SERVER: &[ExtKeyUsage] = &[ExtKeyUsage::ServerAuth];
const CLIENT: &[ExtKeyUsage] = &[ExtKeyUsage::ClientAuth];
const SERVER_AND_CLIENT: &[ExtKeyUsage] = &[ExtKeyUsage::ServerAuth, ExtKeyUsage::ClientAuth];

const fn ca(name: &'static str, base_name: &'static str, cn: &'static str) -> CertSpec {
    CertSpec {
        name,
        base_name,
        ca: None,
        common_name: CommonName::Fixed(cn),
        organization: None,
        usages: &[],
        sans: SanRule::None,
    }
}

const fn leaf(
    name: &'static str,
    base_name: &'static str,
    ca: &'static str,
    common_name: CommonName,
    usages: &'static [ExtKeyUsage],
) -> CertSpec {
    CertSpec {
        name,
        base_name,
        ca: Some(ca),
        common_name,
        organization: None,
        usages,
        sans: SanRule::None,
    }
}

/// kubeadm's `GetDefaultCertList()`, in its order: every CA precedes the certificates it signs.
/// Organizations as of kubeadm 1.29 (every version kubeboot supports): only the kubelet
/// client keeps a group, `kubeadm:cluster-admins`; the etcd clients have none.
pub const CERTIFICATES: [CertSpec; 10] = [
    ca("ca", "ca", "kubernetes"),
    CertSpec {
        sans: SanRule::ApiServer,
        ..leaf(
            "apiserver",
            "apiserver",
            "ca",
            CommonName::Fixed("kube-apiserver"),
            SERVER,
        )
    },
    CertSpec {
        organization: Some(CLUSTER_ADMINS_GROUP),
        ..leaf(
            "apiserver-kubelet-client",
            "apiserver-kubelet-client",
            "ca",
            CommonName::Fixed("kube-apiserver-kubelet-client"),
            CLIENT,
        )
    },
    ca("front-proxy-ca", "front-proxy-ca", "front-proxy-ca"),
    leaf(
        "front-proxy-client",
        "front-proxy-client",
        "front-proxy-ca",
        CommonName::Fixed("front-proxy-client"),
        CLIENT,
    ),
    ca("etcd-ca", "etcd/ca", "etcd-ca"),
    CertSpec {
        sans: SanRule::EtcdServer,
        // etcd 3.2+ wants clientAuth on its serving certificate too (etcd-io/etcd#9785).
        ..leaf(
            "etcd-server",
            "etcd/server",
            "etcd-ca",
            CommonName::NodeName,
            SERVER_AND_CLIENT,
        )
    },
    CertSpec {
        sans: SanRule::EtcdPeer,
        ..leaf(
            "etcd-peer",
            "etcd/peer",
            "etcd-ca",
            CommonName::NodeName,
            SERVER_AND_CLIENT,
        )
    },
    leaf(
        "etcd-healthcheck-client",
        "etcd/healthcheck-client",
        "etcd-ca",
        CommonName::Fixed("kube-etcd-healthcheck-client"),
        CLIENT,
    ),
    leaf(
        "apiserver-etcd-client",
        "apiserver-etcd-client",
        "etcd-ca",
        CommonName::Fixed("kube-apiserver-etcd-client"),
        CLIENT,
    ),
];

/// The service account key pair's base name (`sa.key`, `sa.pub`).
pub const SERVICE_ACCOUNT_BASE_NAME: &str = "sa";

impl CertSpec {
    pub fn by_name(name: &str) -> Option<&'static CertSpec> {
        CERTIFICATES.iter().find(|c| c.name == name)
    }

    pub fn is_ca(&self) -> bool {
        self.ca.is_none()
    }

    pub fn ca_spec(&self) -> Option<&'static CertSpec> {
        self.ca.and_then(CertSpec::by_name)
    }

    /// The certificates this CA signs.
    pub fn leaves(&self) -> impl Iterator<Item = &'static CertSpec> + '_ {
        CERTIFICATES.iter().filter(|c| c.ca == Some(self.name))
    }

    /// Whether kubeadm skips this certificate because etcd is external.
    pub fn is_etcd(&self) -> bool {
        self.name == "etcd-ca" || self.ca == Some("etcd-ca")
    }

    pub fn common_name(&self, cfg: &InitConfiguration) -> String {
        match self.common_name {
            CommonName::Fixed(cn) => cn.to_string(),
            CommonName::NodeName => cfg.node_registration.name.clone(),
        }
    }

    pub fn organization(&self) -> Vec<String> {
        self.organization.iter().map(|o| o.to_string()).collect()
    }

    /// The SANs kubeadm puts in this certificate, deduplicated as kubeadm does.
    pub fn alt_names(&self, cfg: &InitConfiguration) -> Result<AltNames, Error> {
        let mut names = match self.sans {
            SanRule::None => return Ok(AltNames::default()),
            SanRule::ApiServer => api_server_alt_names(cfg)?,
            SanRule::EtcdServer | SanRule::EtcdPeer => {
                let mut names = etcd_alt_names(cfg)?;
                if let Etcd::Local(local) = &cfg.cluster.etcd {
                    let extra = if self.sans == SanRule::EtcdServer {
                        &local.server_cert_sans
                    } else {
                        &local.peer_cert_sans
                    };
                    append_sans(&mut names, extra, self.base_name);
                }
                names
            }
        };
        names.dedup();
        Ok(names)
    }
}

fn advertise_address(cfg: &InitConfiguration) -> Result<IpAddr, Error> {
    cfg.local_api_endpoint
        .advertise_address
        .ok_or_else(|| Error::InvalidConfig {
            field: "localAPIEndpoint.advertiseAddress",
            reason: "no address is set and none was detected; set it to this node's IP".to_string(),
        })
}

/// `GetAPIServerAltNames`: node name, the `kubernetes` service names, the API server's
/// service IP (first address of the primary service CIDR), the advertise address, the
/// controlPlaneEndpoint host, then `apiServer.certSANs`.
fn api_server_alt_names(cfg: &InitConfiguration) -> Result<AltNames, Error> {
    let advertise = advertise_address(cfg)?;
    let networking = &cfg.cluster.networking;
    let service_ip =
        networking
            .service_subnet
            .primary()
            .nth(1)
            .ok_or_else(|| Error::InvalidConfig {
                field: "networking.serviceSubnet",
                reason: format!("{} has no first address", networking.service_subnet),
            })?;
    let mut names = AltNames {
        dns_names: vec![
            cfg.node_registration.name.clone(),
            "kubernetes".to_string(),
            "kubernetes.default".to_string(),
            "kubernetes.default.svc".to_string(),
            format!("kubernetes.default.svc.{}", networking.dns_domain),
        ],
        ips: vec![service_ip, advertise],
    };
    if let Some(endpoint) = &cfg.cluster.control_plane_endpoint {
        let (host, _) = parse_host_port(endpoint).map_err(|reason| Error::InvalidConfig {
            field: "controlPlaneEndpoint",
            reason,
        })?;
        match host.parse::<IpAddr>() {
            Ok(ip) => names.ips.push(ip),
            Err(_) => names.dns_names.push(host),
        }
    }
    append_sans(&mut names, &cfg.cluster.api_server.cert_sans, "apiserver");
    Ok(names)
}

/// `getAltNames` for etcd: node name, `localhost`, the advertise address and both loopbacks.
fn etcd_alt_names(cfg: &InitConfiguration) -> Result<AltNames, Error> {
    Ok(AltNames {
        dns_names: vec![cfg.node_registration.name.clone(), "localhost".to_string()],
        ips: vec![
            advertise_address(cfg)?,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ],
    })
}

/// `appendSANsToAltNames`: IPs, DNS-1123 subdomains and wildcards are added; anything else is
/// dropped with kubeadm's warning.
fn append_sans(names: &mut AltNames, sans: &[String], cert_name: &str) {
    for san in sans {
        if let Ok(ip) = san.parse::<IpAddr>() {
            names.ips.push(ip);
        } else if dns1123_subdomain(san).is_ok() || wildcard_dns1123_subdomain(san).is_ok() {
            names.dns_names.push(san.clone());
        } else {
            log::warn!(
                "[certificates] WARNING: '{san}' was not added to the '{cert_name}' SAN, because it is not a valid IP or RFC-1123 compliant DNS entry"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_order_and_names_match_kubeadm() {
        let names: Vec<&str> = CERTIFICATES.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "ca",
                "apiserver",
                "apiserver-kubelet-client",
                "front-proxy-ca",
                "front-proxy-client",
                "etcd-ca",
                "etcd-server",
                "etcd-peer",
                "etcd-healthcheck-client",
                "apiserver-etcd-client"
            ]
        );
        // Every CA precedes the certificates it signs.
        for (i, c) in CERTIFICATES.iter().enumerate() {
            if let Some(ca) = c.ca {
                let at = CERTIFICATES.iter().position(|x| x.name == ca).unwrap();
                assert!(at < i, "{}", c.name);
            }
        }
        let ca = CertSpec::by_name("etcd-ca").unwrap();
        assert_eq!(ca.leaves().count(), 4);
        assert!(
            CertSpec::by_name("apiserver-etcd-client")
                .unwrap()
                .is_etcd()
        );
        assert!(!CertSpec::by_name("front-proxy-client").unwrap().is_etcd());
    }

    #[test]
    fn bad_sans_are_dropped_and_wildcards_kept() {
        let mut names = AltNames::default();
        let sans = ["*.example.com", "10.1.2.3", "UPPER", "ok.example", "::1"].map(String::from);
        append_sans(&mut names, &sans, "apiserver");
        assert_eq!(names.dns_names, ["*.example.com", "ok.example"]);
        assert_eq!(names.ips.len(), 2);
    }
}
