//! Versioned documents → the internal model, as kubeadm's conversion functions do
//! (v1beta3 `extraArgs` maps become sorted `Arg` lists, v1beta3 timeouts move to
//! `Timeouts`), with kubeadm's static defaults applied on the way. Values that do not parse
//! (CIDRs, addresses, tokens, versions) are refused here, naming their field.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::de::DecodeError;
use super::defaults;
use super::duration::GoDuration;
use super::model::{
    ApiEndpoint, ApiServer, Arg, BootstrapToken, BootstrapTokenDiscovery, BootstrapTokenString,
    ClusterConfiguration, ControlPlaneComponent, Discovery, Dns, EncryptionAlgorithm, EnvVar, Etcd,
    ExternalEtcd, HostPathMount, ImageMeta, InitConfiguration, JoinConfiguration, JoinControlPlane,
    LocalEtcd, Networking, NodeRegistration, Taint, Timeouts, redacted,
};
use super::net::CidrList;
use super::version::KubeVersion;
use super::{v1beta3, v1beta4};

type Result<T> = std::result::Result<T, DecodeError>;

/// The InitConfiguration-only part of an init configuration (ClusterConfiguration is separate
/// in the YAML and joined later). `Debug` shows whether a certificate key is set, never the key.
#[derive(Clone, PartialEq)]
pub struct InitPart {
    pub bootstrap_tokens: Vec<BootstrapToken>,
    pub node_registration: NodeRegistration,
    pub local_api_endpoint: ApiEndpoint,
    pub certificate_key: Option<String>,
    pub skip_phases: Vec<String>,
    pub timeouts: Timeouts,
    pub dry_run: bool,
}

impl std::fmt::Debug for InitPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitPart")
            .field("bootstrap_tokens", &self.bootstrap_tokens)
            .field("node_registration", &self.node_registration)
            .field("local_api_endpoint", &self.local_api_endpoint)
            .field(
                "certificate_key",
                &format_args!("{}", redacted(&self.certificate_key)),
            )
            .field("skip_phases", &self.skip_phases)
            .field("timeouts", &self.timeouts)
            .field("dry_run", &self.dry_run)
            .finish()
    }
}

impl Default for InitPart {
    fn default() -> Self {
        let d = defaults::init_configuration();
        InitPart {
            bootstrap_tokens: d.bootstrap_tokens,
            node_registration: d.node_registration,
            local_api_endpoint: d.local_api_endpoint,
            certificate_key: None,
            skip_phases: Vec::new(),
            timeouts: Timeouts::default(),
            dry_run: false,
        }
    }
}

impl InitPart {
    pub fn with_cluster(self, cluster: ClusterConfiguration) -> InitConfiguration {
        InitConfiguration {
            cluster,
            bootstrap_tokens: self.bootstrap_tokens,
            node_registration: self.node_registration,
            local_api_endpoint: self.local_api_endpoint,
            certificate_key: self.certificate_key,
            upload_certs: false,
            skip_phases: self.skip_phases,
            timeouts: self.timeouts,
            kubelet: Default::default(),
            kube_proxy: Default::default(),
            dry_run: self.dry_run,
        }
    }
}

/// A converted ClusterConfiguration, plus v1beta3's `apiServer.timeoutForControlPlane`,
/// which kubeadm moves to `InitConfiguration.timeouts.controlPlaneComponentHealthCheck`.
pub struct ClusterPart {
    pub cluster: ClusterConfiguration,
    pub timeout_for_control_plane: Option<Duration>,
}

// ---------------------------------------------------------------------------------------
// Scalars

/// Parses `abcdef.0123456789abcdef`. The message never contains the secret.
pub fn parse_bootstrap_token(s: &str) -> std::result::Result<BootstrapTokenString, String> {
    let valid_part = |p: &str, len: usize| {
        p.len() == len
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    match s.split_once('.') {
        Some((id, secret)) if valid_part(id, 6) && valid_part(secret, 16) => Ok(
            BootstrapTokenString::new(id.to_string(), secret.to_string()),
        ),
        _ => Err(
            "the bootstrap token is invalid: it must have the form [a-z0-9]{6}.[a-z0-9]{16}, \
                  e.g. abcdef.0123456789abcdef (value not shown: it is a secret)"
                .into(),
        ),
    }
}

fn token_at(s: &str, path: &str) -> Result<BootstrapTokenString> {
    parse_bootstrap_token(s).map_err(|e| DecodeError::new(path, e))
}

pub fn parse_cidrs(s: &str, path: &str) -> Result<CidrList> {
    s.parse::<CidrList>().map_err(|_| {
        DecodeError::new(
            path,
            format!(
                "{s:?} is not a subnet: expected one CIDR (10.96.0.0/12, fd00::/108) or two of \
                 different IP families for dual-stack (10.96.0.0/12,fd00::/108)"
            ),
        )
    })
}

/// An advertise address: empty or unspecified (`0.0.0.0`, `::`) means "detect it", as
/// kubeadm's `ChooseAPIServerBindAddress` does.
pub fn parse_advertise_address(s: &str, path: &str) -> Result<Option<IpAddr>> {
    if s.is_empty() {
        return Ok(None);
    }
    let ip: IpAddr = s.parse().map_err(|_| {
        DecodeError::new(
            path,
            format!(
                "couldn't use {s:?} as the advertise address: it must be an IPv4 or IPv6 address"
            ),
        )
    })?;
    Ok((!ip.is_unspecified()).then_some(ip))
}

/// A bind port: 0 (unset) is kubeadm's default 6443.
pub fn bind_port(port: i64, path: &str) -> Result<u16> {
    match port {
        0 => Ok(defaults::API_SERVER_PORT),
        1..=65535 => Ok(port as u16),
        _ => Err(DecodeError::new(
            path,
            format!("port number {port} is not valid: it must be between 1 and 65535"),
        )),
    }
}

pub fn parse_version(s: &str, path: &str) -> Result<KubeVersion> {
    if s.is_empty() {
        return Ok(KubeVersion::default_version());
    }
    s.parse().map_err(|_| {
        DecodeError::new(
            path,
            format!(
                "{s:?} is not a Kubernetes version like v1.34.2 (labels such as stable-1 or \
                 latest need the internet at boot, which kubeboot does not use: name a release)"
            ),
        )
    })
}

/// kubeadm's spelling of an algorithm (`encryptionAlgorithm`), as written and in messages.
pub fn encryption_algorithm_name(alg: EncryptionAlgorithm) -> &'static str {
    match alg {
        EncryptionAlgorithm::Rsa2048 => "RSA-2048",
        EncryptionAlgorithm::Rsa3072 => "RSA-3072",
        EncryptionAlgorithm::Rsa4096 => "RSA-4096",
        EncryptionAlgorithm::EcdsaP256 => "ECDSA-P256",
        EncryptionAlgorithm::EcdsaP384 => "ECDSA-P384",
    }
}

pub fn parse_encryption_algorithm(s: &str, path: &str) -> Result<EncryptionAlgorithm> {
    Ok(match s {
        "" | "RSA-2048" => EncryptionAlgorithm::Rsa2048,
        "RSA-3072" => EncryptionAlgorithm::Rsa3072,
        "RSA-4096" => EncryptionAlgorithm::Rsa4096,
        "ECDSA-P256" => EncryptionAlgorithm::EcdsaP256,
        "ECDSA-P384" => EncryptionAlgorithm::EcdsaP384,
        other => {
            return Err(DecodeError::new(
                path,
                format!(
                    "invalid encryption algorithm {other:?}: must be one of ECDSA-P256, \
                     ECDSA-P384, RSA-2048, RSA-3072, RSA-4096"
                ),
            ));
        }
    })
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn or_default(s: String, default: &str) -> String {
    if s.is_empty() { default.to_string() } else { s }
}

fn duration(d: Option<GoDuration>, default: Duration) -> Duration {
    d.map_or(default, |d| d.0)
}

// ---------------------------------------------------------------------------------------
// Shared pieces

/// v1beta3 maps → a list sorted by name (then value), as kubeadm's `convertToArgs`.
fn args_from_map(map: BTreeMap<String, String>) -> Vec<Arg> {
    map.into_iter()
        .map(|(name, value)| Arg { name, value })
        .collect()
}

fn args_from_list(list: Vec<v1beta4::Arg>) -> Vec<Arg> {
    list.into_iter()
        .map(|a| Arg {
            name: a.name,
            value: a.value,
        })
        .collect()
}

fn volumes(list: Vec<v1beta4::HostPathMount>) -> Vec<HostPathMount> {
    list.into_iter()
        .map(|v| HostPathMount {
            name: v.name,
            host_path: v.host_path,
            mount_path: v.mount_path,
            read_only: v.read_only,
            path_type: v.path_type,
        })
        .collect()
}

fn envs(list: Vec<v1beta4::EnvVar>, path: &str) -> Result<Vec<EnvVar>> {
    list.into_iter()
        .enumerate()
        .map(|(i, e)| {
            if e.value_from.is_some() {
                return Err(DecodeError::new(
                    &format!("{path}[{i}].valueFrom"),
                    "valueFrom is not supported in static Pods by kubeboot: give a value",
                ));
            }
            Ok(EnvVar {
                name: e.name,
                value: e.value,
            })
        })
        .collect()
}

fn image(repository: String, tag: String) -> ImageMeta {
    ImageMeta {
        image_repository: non_empty(repository),
        image_tag: non_empty(tag),
    }
}

fn networking(n: v1beta4::Networking) -> Result<Networking> {
    Ok(Networking {
        service_subnet: if n.service_subnet.is_empty() {
            defaults::networking().service_subnet
        } else {
            parse_cidrs(&n.service_subnet, "networking.serviceSubnet")?
        },
        pod_subnet: if n.pod_subnet.is_empty() {
            None
        } else {
            Some(parse_cidrs(&n.pod_subnet, "networking.podSubnet")?)
        },
        dns_domain: or_default(n.dns_domain, defaults::DNS_DOMAIN),
    })
}

fn external_etcd(e: v1beta4::ExternalEtcd) -> ExternalEtcd {
    ExternalEtcd {
        endpoints: e.endpoints,
        ca_file: e.ca_file,
        cert_file: e.cert_file,
        key_file: e.key_file,
    }
}

fn etcd(local: Option<LocalEtcd>, external: Option<v1beta4::ExternalEtcd>) -> Result<Etcd> {
    match (local, external) {
        (Some(_), Some(_)) => Err(DecodeError::new(
            "etcd",
            ".etcd.local and .etcd.external are mutually exclusive: set one",
        )),
        (None, Some(e)) => Ok(Etcd::External(external_etcd(e))),
        (Some(l), None) => Ok(Etcd::Local(l)),
        (None, None) => Ok(Etcd::Local(defaults::local_etcd())),
    }
}

fn data_dir(dir: String) -> PathBuf {
    PathBuf::from(or_default(dir, defaults::ETCD_DATA_DIR))
}

fn taints(list: Option<Vec<v1beta4::Taint>>) -> Option<Vec<Taint>> {
    list.map(|l| {
        l.into_iter()
            .map(|t| Taint {
                key: t.key,
                value: non_empty(t.value),
                effect: t.effect,
            })
            .collect()
    })
}

struct NodeRegistrationFields {
    name: String,
    cri_socket: String,
    taints: Option<Vec<v1beta4::Taint>>,
    kubelet_extra_args: Vec<Arg>,
    ignore_preflight_errors: Vec<String>,
    image_pull_policy: String,
}

fn node_registration(n: NodeRegistrationFields) -> NodeRegistration {
    NodeRegistration {
        name: n.name,
        cri_socket: or_default(n.cri_socket, defaults::CRI_SOCKET),
        taints: taints(n.taints),
        kubelet_extra_args: n.kubelet_extra_args,
        ignore_preflight_errors: n.ignore_preflight_errors,
        image_pull_policy: or_default(n.image_pull_policy, defaults::IMAGE_PULL_POLICY),
    }
}

fn node_registration_v1beta4(n: v1beta4::NodeRegistrationOptions) -> NodeRegistration {
    node_registration(NodeRegistrationFields {
        name: n.name,
        cri_socket: n.cri_socket,
        taints: n.taints,
        kubelet_extra_args: args_from_list(n.kubelet_extra_args),
        ignore_preflight_errors: n.ignore_preflight_errors,
        image_pull_policy: n.image_pull_policy,
    })
}

fn node_registration_v1beta3(n: v1beta3::NodeRegistrationOptions) -> NodeRegistration {
    node_registration(NodeRegistrationFields {
        name: n.name,
        cri_socket: n.cri_socket,
        taints: n.taints,
        kubelet_extra_args: args_from_map(n.kubelet_extra_args),
        ignore_preflight_errors: n.ignore_preflight_errors,
        image_pull_policy: n.image_pull_policy,
    })
}

fn api_endpoint(e: v1beta4::ApiEndpoint, path: &str) -> Result<ApiEndpoint> {
    Ok(ApiEndpoint {
        advertise_address: parse_advertise_address(
            &e.advertise_address,
            &format!("{path}.advertiseAddress"),
        )?,
        bind_port: bind_port(e.bind_port, &format!("{path}.bindPort"))?,
    })
}

/// kubeadm's `SetDefaults_BootstrapTokens`: an empty list becomes one default token. A TTL
/// is defaulted only when neither `ttl` nor `expires` is set (kubeadm would default the TTL
/// and then refuse the pair as mutually exclusive).
fn bootstrap_tokens(list: Vec<v1beta4::BootstrapToken>) -> Result<Vec<BootstrapToken>> {
    if list.is_empty() {
        return Ok(vec![defaults::bootstrap_token()]);
    }
    list.into_iter()
        .enumerate()
        .map(|(i, t)| {
            let path = format!("bootstrapTokens[{i}]");
            if t.ttl.is_some() && t.expires.is_some() {
                return Err(DecodeError::new(
                    &path,
                    "the BootstrapToken .ttl and .expires fields are mutually exclusive",
                ));
            }
            let d = defaults::bootstrap_token();
            let usages = if t.usages.is_empty() {
                d.usages
            } else {
                t.usages
            };
            // kubeadm defaults the groups even for a signing-only token, which its own
            // validation then refuses; the default group only means anything for
            // authentication.
            let groups = match (
                t.groups.is_empty(),
                usages.iter().any(|u| u == "authentication"),
            ) {
                (true, true) => d.groups,
                (true, false) => Vec::new(),
                (false, _) => t.groups,
            };
            Ok(BootstrapToken {
                token: match t.token.as_deref() {
                    None | Some("") => None,
                    Some(s) => Some(token_at(s, &format!("{path}.token"))?),
                },
                description: t.description,
                ttl: match (t.ttl, &t.expires) {
                    (Some(ttl), _) => Some(ttl.0),
                    (None, Some(_)) => None,
                    (None, None) => d.ttl,
                },
                expires: t.expires,
                usages,
                groups,
            })
        })
        .collect()
}

fn certificate_key(key: String) -> Option<String> {
    non_empty(key)
}

fn refuse_patches(p: Option<v1beta4::Patches>) -> Result<()> {
    match p {
        Some(p) if !p.directory.is_empty() => Err(DecodeError::new(
            "patches.directory",
            "patches are not supported by kubeboot: put the settings in extraArgs, \
             extraVolumes or the KubeletConfiguration document instead",
        )),
        _ => Ok(()),
    }
}

fn timeouts_v1beta4(t: Option<v1beta4::Timeouts>) -> Timeouts {
    let d = Timeouts::default();
    let Some(t) = t else { return d };
    Timeouts {
        control_plane_component_health_check: duration(
            t.control_plane_component_health_check,
            d.control_plane_component_health_check,
        ),
        kubelet_health_check: duration(t.kubelet_health_check, d.kubelet_health_check),
        kubernetes_api_call: duration(t.kubernetes_api_call, d.kubernetes_api_call),
        etcd_api_call: duration(t.etcd_api_call, d.etcd_api_call),
        tls_bootstrap: duration(t.tls_bootstrap, d.tls_bootstrap),
        discovery: duration(t.discovery, d.discovery),
        upgrade_manifests: duration(t.upgrade_manifests, d.upgrade_manifests),
    }
}

// ---------------------------------------------------------------------------------------
// ClusterConfiguration

struct ClusterFields {
    etcd: Etcd,
    networking: Networking,
    kubernetes_version: String,
    control_plane_endpoint: String,
    api_server: ApiServer,
    controller_manager: ControlPlaneComponent,
    scheduler: ControlPlaneComponent,
    dns: Dns,
    proxy_disabled: bool,
    certificates_dir: String,
    image_repository: String,
    feature_gates: BTreeMap<String, bool>,
    cluster_name: String,
    encryption_algorithm: EncryptionAlgorithm,
    certificate_validity_period: Duration,
    ca_certificate_validity_period: Duration,
}

fn cluster(c: ClusterFields) -> Result<ClusterConfiguration> {
    Ok(ClusterConfiguration {
        kubernetes_version: parse_version(&c.kubernetes_version, "kubernetesVersion")?,
        cluster_name: or_default(c.cluster_name, defaults::CLUSTER_NAME),
        control_plane_endpoint: non_empty(c.control_plane_endpoint),
        networking: c.networking,
        api_server: c.api_server,
        controller_manager: c.controller_manager,
        scheduler: c.scheduler,
        etcd: c.etcd,
        dns: c.dns,
        proxy_disabled: c.proxy_disabled,
        certificates_dir: PathBuf::from(or_default(c.certificates_dir, defaults::CERTIFICATES_DIR)),
        image_repository: or_default(c.image_repository, defaults::IMAGE_REPOSITORY),
        feature_gates: c.feature_gates,
        encryption_algorithm: c.encryption_algorithm,
        certificate_validity_period: c.certificate_validity_period,
        ca_certificate_validity_period: c.ca_certificate_validity_period,
    })
}

fn component_v1beta4(
    c: v1beta4::ControlPlaneComponent,
    path: &str,
) -> Result<ControlPlaneComponent> {
    Ok(ControlPlaneComponent {
        extra_args: args_from_list(c.extra_args),
        extra_volumes: volumes(c.extra_volumes),
        extra_envs: envs(c.extra_envs, &format!("{path}.extraEnvs"))?,
    })
}

pub fn cluster_v1beta4(c: v1beta4::ClusterConfiguration) -> Result<ClusterPart> {
    let local = c
        .etcd
        .local
        .map(|l| -> Result<LocalEtcd> {
            Ok(LocalEtcd {
                image: image(l.image_repository, l.image_tag),
                data_dir: data_dir(l.data_dir),
                extra_args: args_from_list(l.extra_args),
                extra_envs: envs(l.extra_envs, "etcd.local.extraEnvs")?,
                server_cert_sans: l.server_cert_sans,
                peer_cert_sans: l.peer_cert_sans,
            })
        })
        .transpose()?;
    let api = c.api_server;
    let cluster = cluster(ClusterFields {
        etcd: etcd(local, c.etcd.external)?,
        networking: networking(c.networking)?,
        kubernetes_version: c.kubernetes_version,
        control_plane_endpoint: c.control_plane_endpoint,
        api_server: ApiServer {
            component: ControlPlaneComponent {
                extra_args: args_from_list(api.extra_args),
                extra_volumes: volumes(api.extra_volumes),
                extra_envs: envs(api.extra_envs, "apiServer.extraEnvs")?,
            },
            cert_sans: api.cert_sans,
        },
        controller_manager: component_v1beta4(c.controller_manager, "controllerManager")?,
        scheduler: component_v1beta4(c.scheduler, "scheduler")?,
        dns: Dns {
            disabled: c.dns.disabled,
            image: image(c.dns.image_repository, c.dns.image_tag),
        },
        proxy_disabled: c.proxy.disabled,
        certificates_dir: c.certificates_dir,
        image_repository: c.image_repository,
        feature_gates: c.feature_gates,
        cluster_name: c.cluster_name,
        encryption_algorithm: parse_encryption_algorithm(
            &c.encryption_algorithm,
            "encryptionAlgorithm",
        )?,
        certificate_validity_period: duration(
            c.certificate_validity_period,
            defaults::CERTIFICATE_VALIDITY,
        ),
        ca_certificate_validity_period: duration(
            c.ca_certificate_validity_period,
            defaults::CA_CERTIFICATE_VALIDITY,
        ),
    })?;
    Ok(ClusterPart {
        cluster,
        timeout_for_control_plane: None,
    })
}

fn component_v1beta3(c: v1beta3::ControlPlaneComponent) -> ControlPlaneComponent {
    ControlPlaneComponent {
        extra_args: args_from_map(c.extra_args),
        extra_volumes: volumes(c.extra_volumes),
        extra_envs: Vec::new(),
    }
}

/// v1beta3 (and v1beta2): no encryption algorithm or validity fields, so RSA-2048, 1y, 10y.
pub fn cluster_v1beta3(c: v1beta3::ClusterConfiguration) -> Result<ClusterPart> {
    let local = c.etcd.local.map(|l| LocalEtcd {
        image: image(l.image_repository, l.image_tag),
        data_dir: data_dir(l.data_dir),
        extra_args: args_from_map(l.extra_args),
        extra_envs: Vec::new(),
        server_cert_sans: l.server_cert_sans,
        peer_cert_sans: l.peer_cert_sans,
    });
    let api = c.api_server;
    let timeout_for_control_plane = api
        .timeout_for_control_plane
        .map(|d| d.0)
        .filter(|d| !d.is_zero());
    let cluster = cluster(ClusterFields {
        etcd: etcd(local, c.etcd.external)?,
        networking: networking(c.networking)?,
        kubernetes_version: c.kubernetes_version,
        control_plane_endpoint: c.control_plane_endpoint,
        api_server: ApiServer {
            component: ControlPlaneComponent {
                extra_args: args_from_map(api.extra_args),
                extra_volumes: volumes(api.extra_volumes),
                extra_envs: Vec::new(),
            },
            cert_sans: api.cert_sans,
        },
        controller_manager: component_v1beta3(c.controller_manager),
        scheduler: component_v1beta3(c.scheduler),
        dns: Dns {
            disabled: false,
            image: image(c.dns.image_repository, c.dns.image_tag),
        },
        proxy_disabled: false,
        certificates_dir: c.certificates_dir,
        image_repository: c.image_repository,
        feature_gates: c.feature_gates,
        cluster_name: c.cluster_name,
        encryption_algorithm: EncryptionAlgorithm::Rsa2048,
        certificate_validity_period: defaults::CERTIFICATE_VALIDITY,
        ca_certificate_validity_period: defaults::CA_CERTIFICATE_VALIDITY,
    })?;
    Ok(ClusterPart {
        cluster,
        timeout_for_control_plane,
    })
}

// ---------------------------------------------------------------------------------------
// InitConfiguration

pub fn init_v1beta4(c: v1beta4::InitConfiguration) -> Result<InitPart> {
    refuse_patches(c.patches)?;
    Ok(InitPart {
        bootstrap_tokens: bootstrap_tokens(c.bootstrap_tokens)?,
        node_registration: node_registration_v1beta4(c.node_registration),
        local_api_endpoint: api_endpoint(c.local_api_endpoint, "localAPIEndpoint")?,
        certificate_key: certificate_key(c.certificate_key),
        skip_phases: c.skip_phases,
        timeouts: timeouts_v1beta4(c.timeouts),
        dry_run: c.dry_run,
    })
}

pub fn init_v1beta3(c: v1beta3::InitConfiguration) -> Result<InitPart> {
    refuse_patches(c.patches)?;
    Ok(InitPart {
        bootstrap_tokens: bootstrap_tokens(c.bootstrap_tokens)?,
        node_registration: node_registration_v1beta3(c.node_registration),
        local_api_endpoint: api_endpoint(c.local_api_endpoint, "localAPIEndpoint")?,
        certificate_key: certificate_key(c.certificate_key),
        skip_phases: c.skip_phases,
        timeouts: Timeouts::default(),
        dry_run: false,
    })
}

// ---------------------------------------------------------------------------------------
// JoinConfiguration

/// kubeadm's `SetDefaults_Discovery`: the TLS bootstrap token defaults to the discovery
/// token; a `file://` URL becomes a path.
fn discovery(
    bootstrap: Option<v1beta4::BootstrapTokenDiscovery>,
    file: Option<v1beta4::FileDiscovery>,
    tls_bootstrap_token: &str,
) -> Result<(Discovery, Option<BootstrapTokenString>)> {
    let tls = match tls_bootstrap_token {
        "" => None,
        s => Some(token_at(s, "discovery.tlsBootstrapToken")?),
    };
    match (bootstrap, file) {
        (Some(_), Some(_)) => Err(DecodeError::new(
            "discovery",
            "bootstrapToken and file cannot both be set",
        )),
        (None, None) => Err(DecodeError::new(
            "discovery",
            "bootstrapToken or file must be set",
        )),
        (Some(b), None) => {
            let token = token_at(&b.token, "discovery.bootstrapToken.token")?;
            let tls = tls.unwrap_or_else(|| token.clone());
            Ok((
                Discovery::BootstrapToken(BootstrapTokenDiscovery {
                    api_server_endpoint: b.api_server_endpoint,
                    token,
                    ca_cert_hashes: b.ca_cert_hashes,
                    unsafe_skip_ca_verification: b.unsafe_skip_ca_verification,
                }),
                Some(tls),
            ))
        }
        (None, Some(f)) => {
            let path = match f.kube_config_path.strip_prefix("file://") {
                Some(p) => p.to_string(),
                None => f.kube_config_path,
            };
            Ok((Discovery::File(path), tls))
        }
    }
}

fn join_control_plane(c: Option<v1beta4::JoinControlPlane>) -> Result<Option<JoinControlPlane>> {
    c.map(|c| {
        Ok(JoinControlPlane {
            local_api_endpoint: api_endpoint(
                c.local_api_endpoint,
                "controlPlane.localAPIEndpoint",
            )?,
            certificate_key: certificate_key(c.certificate_key),
        })
    })
    .transpose()
}

pub fn join_v1beta4(c: v1beta4::JoinConfiguration) -> Result<JoinConfiguration> {
    refuse_patches(c.patches)?;
    let (discovery, tls_bootstrap_token) = discovery(
        c.discovery.bootstrap_token,
        c.discovery.file,
        &c.discovery.tls_bootstrap_token,
    )?;
    Ok(JoinConfiguration {
        node_registration: node_registration_v1beta4(c.node_registration),
        ca_cert_path: PathBuf::from(or_default(c.ca_cert_path, defaults::CA_CERT_PATH)),
        discovery,
        tls_bootstrap_token,
        control_plane: join_control_plane(c.control_plane)?,
        skip_phases: c.skip_phases,
        timeouts: timeouts_v1beta4(c.timeouts),
        dry_run: c.dry_run,
    })
}

/// v1beta3's `discovery.timeout` becomes `timeouts.discovery`.
pub fn join_v1beta3(c: v1beta3::JoinConfiguration) -> Result<JoinConfiguration> {
    refuse_patches(c.patches)?;
    let timeouts = Timeouts {
        discovery: duration(c.discovery.timeout, Timeouts::default().discovery),
        ..Timeouts::default()
    };
    let (discovery, tls_bootstrap_token) = discovery(
        c.discovery.bootstrap_token,
        c.discovery.file,
        &c.discovery.tls_bootstrap_token,
    )?;
    Ok(JoinConfiguration {
        node_registration: node_registration_v1beta3(c.node_registration),
        ca_cert_path: PathBuf::from(or_default(c.ca_cert_path, defaults::CA_CERT_PATH)),
        discovery,
        tls_bootstrap_token,
        control_plane: join_control_plane(c.control_plane)?,
        skip_phases: c.skip_phases,
        timeouts,
        dry_run: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_algorithm_names_read_back() {
        use EncryptionAlgorithm::*;
        for alg in [Rsa2048, Rsa3072, Rsa4096, EcdsaP256, EcdsaP384] {
            let name = encryption_algorithm_name(alg);
            assert_eq!(
                parse_encryption_algorithm(name, "x").unwrap(),
                alg,
                "{name}"
            );
        }
    }

    #[test]
    fn init_part_debug_hides_the_certificate_key() {
        let part = InitPart {
            certificate_key: Some("ab".repeat(32)),
            ..InitPart::default()
        };
        let text = format!("{part:?}");
        assert!(!text.contains(&"ab".repeat(32)), "{text}");
        assert!(text.contains("certificate_key: Some(<redacted>)"), "{text}");
    }

    #[test]
    fn token_parsing_matches_kubeadm_and_hides_the_secret() {
        let t = parse_bootstrap_token("abcdef.0123456789abcdef").unwrap();
        assert_eq!((t.id.as_str(), t.secret()), ("abcdef", "0123456789abcdef"));
        for bad in [
            "",
            "abcdef",
            "ABCDEF.0123456789abcdef",
            "abcde.0123456789abcdef",
            "abcdef.0123456789abcde",
            "abcdef.0123456789abcdef0",
            "abcdef:0123456789abcdef",
            "abcdef.0123456789abcde_",
        ] {
            assert!(parse_bootstrap_token(bad).is_err(), "{bad}");
        }
        let e = parse_bootstrap_token("abcdef.SECRETsecret00000").unwrap_err();
        assert!(!e.contains("SECRET") && !e.contains("secret0"), "{e}");
    }

    #[test]
    fn v1beta3_maps_become_sorted_args() {
        let mut m = BTreeMap::new();
        m.insert("v".to_string(), "2".to_string());
        m.insert("allocate-node-cidrs".to_string(), "true".to_string());
        let args = args_from_map(m);
        assert_eq!(args[0].name, "allocate-node-cidrs");
        assert_eq!(args[1].name, "v");
    }

    #[test]
    fn ports_default_and_range() {
        assert_eq!(bind_port(0, "p").unwrap(), 6443);
        assert_eq!(bind_port(443, "p").unwrap(), 443);
        assert!(bind_port(65536, "p").is_err());
        assert!(bind_port(-1, "p").is_err());
    }

    #[test]
    fn unspecified_advertise_address_means_detect() {
        assert_eq!(parse_advertise_address("0.0.0.0", "a").unwrap(), None);
        assert_eq!(parse_advertise_address("", "a").unwrap(), None);
        assert_eq!(
            parse_advertise_address("10.0.0.5", "a").unwrap(),
            Some("10.0.0.5".parse().unwrap())
        );
        assert!(parse_advertise_address("10.0.0", "a").is_err());
    }
}
