//! Configuration as `kubeadm init` / `kubeadm join` assemble it: either a configuration
//! (file or user-data) plus the few flags kubeadm allows beside `--config`, or flags on top
//! of kubeadm's defaults; then the host's dynamic defaults; then validation.

use crate::cli::{InitArgs, JoinArgs};

use super::convert::{self, InitPart};
use super::de::DecodeError;
use super::documents::{self, Documents};
use super::duration::{GoDuration, parse_go_duration};
use super::host::HostFacts;
use super::model::{ApiEndpoint, InitConfiguration, JoinConfiguration, NodeRegistration};
use super::validation::{self, Violation, parse_host_port};
use super::{ConfigError, defaults, v1beta4};

/// Where flag-only configuration comes from, in error messages.
pub const COMMAND_LINE: &str = "command line";

/// kubeadm's `isAllowedFlag`: besides these, `--config` excludes every configuration flag.
/// (`skip-*` flags are allowed by prefix; kubeboot's are `--skip-phases`.)
const ALLOWED_WITH_CONFIG: &str =
    "--node-name, --ignore-preflight-errors, --skip-phases, --dry-run and --upload-certs";

// ---------------------------------------------------------------------------------------
// init

/// `kubeboot init`: `--config` (a file on the machine running kubeboot, read as given) or
/// flags, then host defaults and validation.
pub fn load_init(args: &InitArgs, host: &HostFacts) -> Result<InitConfiguration, ConfigError> {
    let Some(path) = &args.config else {
        return init_from_flags(args, host);
    };
    let docs = read_config(path)?;
    if docs.init.is_none() {
        return Err(whole_source_error(
            &path.display().to_string(),
            "no InitConfiguration or ClusterConfiguration kind was found in the configuration file",
        ));
    }
    init_from_documents(&docs, args, host)
}

/// Init from decoded documents (a `--config` file or user-data), with the flags kubeadm
/// allows beside `--config`. Without Init/ClusterConfiguration documents, kubeadm's defaults
/// are used (user-data may hold only a BootConfiguration).
pub fn init_from_documents(
    docs: &Documents,
    args: &InitArgs,
    host: &HostFacts,
) -> Result<InitConfiguration, ConfigError> {
    let origin = docs_origin(docs);
    reject_mixed(&origin, &init_config_flags(args))?;
    let mut cfg = docs.init.clone().unwrap_or_else(|| {
        let mut c = defaults::init_configuration();
        c.kubelet = docs.kubelet.clone().unwrap_or_default();
        c.kube_proxy = docs.kube_proxy.clone().unwrap_or_default();
        c
    });
    let mut flagged = Vec::new();
    if let Some(name) = &args.node_name {
        // kubeadm applies --node-name over the file.
        cfg.node_registration.name = name.clone();
        flagged.push(("nodeRegistration.name", "--node-name"));
    }
    if !args.ignore_preflight_errors.is_empty() {
        flagged.push((
            "nodeRegistration.ignorePreflightErrors",
            "--ignore-preflight-errors",
        ));
    }
    cfg.node_registration.ignore_preflight_errors = ignore_preflight_errors(
        &cfg.node_registration.ignore_preflight_errors,
        &args.ignore_preflight_errors,
    );
    if !args.skip_phases.is_empty() {
        cfg.skip_phases = args.skip_phases.clone();
    }
    cfg.dry_run |= args.dry_run;
    cfg.upload_certs = args.upload_certs;
    let name_from_host = init_host_defaults(&mut cfg, host);
    let context = ErrorContext {
        docs: Some(docs),
        fallback_origin: origin,
        flagged,
        name_from_host,
    };
    context.report(validation::validate_init(&cfg))?;
    Ok(cfg)
}

fn init_from_flags(args: &InitArgs, host: &HostFacts) -> Result<InitConfiguration, ConfigError> {
    let ttl = match &args.token_ttl {
        None => None,
        Some(s) => Some(GoDuration(
            parse_go_duration(s).map_err(|e| flag_error("--token-ttl", e))?,
        )),
    };
    let init = v1beta4::InitConfiguration {
        bootstrap_tokens: vec![v1beta4::BootstrapToken {
            token: args.token.clone(),
            description: defaults::INIT_TOKEN_DESCRIPTION.into(),
            ttl,
            ..Default::default()
        }],
        dry_run: args.dry_run,
        node_registration: v1beta4::NodeRegistrationOptions {
            name: args.node_name.clone().unwrap_or_default(),
            cri_socket: args.cri_socket.clone().unwrap_or_default(),
            ..Default::default()
        },
        local_api_endpoint: v1beta4::ApiEndpoint {
            advertise_address: args.apiserver_advertise_address.clone().unwrap_or_default(),
            bind_port: args.apiserver_bind_port.map_or(0, i64::from),
        },
        certificate_key: args.certificate_key.clone().unwrap_or_default(),
        skip_phases: args.skip_phases.clone(),
        ..Default::default()
    };
    let cluster = v1beta4::ClusterConfiguration {
        networking: v1beta4::Networking {
            service_subnet: args.service_cidr.clone().unwrap_or_default(),
            pod_subnet: args.pod_network_cidr.clone().unwrap_or_default(),
            dns_domain: args.service_dns_domain.clone().unwrap_or_default(),
        },
        kubernetes_version: args.kubernetes_version.clone().unwrap_or_default(),
        control_plane_endpoint: args.control_plane_endpoint.clone().unwrap_or_default(),
        api_server: v1beta4::ApiServer {
            cert_sans: args.apiserver_cert_extra_sans.clone(),
            ..Default::default()
        },
        certificates_dir: args.cert_dir.clone().unwrap_or_default(),
        image_repository: args.image_repository.clone().unwrap_or_default(),
        ..Default::default()
    };
    let part: InitPart = convert::init_v1beta4(init).map_err(flag_decode_error)?;
    let cluster = convert::cluster_v1beta4(cluster).map_err(flag_decode_error)?;
    let mut cfg = part.with_cluster(cluster.cluster);
    cfg.node_registration.ignore_preflight_errors =
        ignore_preflight_errors(&[], &args.ignore_preflight_errors);
    cfg.upload_certs = args.upload_certs;
    let name_from_host = init_host_defaults(&mut cfg, host);
    let context = ErrorContext {
        docs: None,
        fallback_origin: COMMAND_LINE.into(),
        flagged: Vec::new(),
        name_from_host,
    };
    context.report(validation::validate_init(&cfg))?;
    Ok(cfg)
}

/// The configuration flags given (kubeadm's `flag.Visit`; a bool flag counts when true).
fn init_config_flags(a: &InitArgs) -> Vec<&'static str> {
    let given = [
        (
            a.apiserver_advertise_address.is_some(),
            "apiserver-advertise-address",
        ),
        (a.apiserver_bind_port.is_some(), "apiserver-bind-port"),
        (a.control_plane_endpoint.is_some(), "control-plane-endpoint"),
        (a.service_cidr.is_some(), "service-cidr"),
        (a.pod_network_cidr.is_some(), "pod-network-cidr"),
        (a.service_dns_domain.is_some(), "service-dns-domain"),
        (
            !a.apiserver_cert_extra_sans.is_empty(),
            "apiserver-cert-extra-sans",
        ),
        (a.cert_dir.is_some(), "cert-dir"),
        (a.kubernetes_version.is_some(), "kubernetes-version"),
        (a.image_repository.is_some(), "image-repository"),
        (a.cri_socket.is_some(), "cri-socket"),
        (a.token.is_some(), "token"),
        (a.token_ttl.is_some(), "token-ttl"),
        (a.certificate_key.is_some(), "certificate-key"),
    ];
    given.iter().filter(|(g, _)| *g).map(|(_, n)| *n).collect()
}

/// kubeadm's `SetInitDynamicDefaults`, from this host's facts. Returns whether the node name
/// came from the host name.
fn init_host_defaults(cfg: &mut InitConfiguration, host: &HostFacts) -> bool {
    let from_host = node_host_defaults(&mut cfg.node_registration, host);
    resolve_advertise_address(&mut cfg.local_api_endpoint, host);
    let c = &mut cfg.cluster;
    if let Some(endpoint) = &c.control_plane_endpoint
        && let Ok((h, None)) = parse_host_port(endpoint)
    {
        // Without a port the endpoint uses this node's bind port.
        c.control_plane_endpoint = Some(super::net::join_host_port(
            &h,
            cfg.local_api_endpoint.bind_port,
        ));
    }
    for san in &mut c.api_server.cert_sans {
        *san = san.to_lowercase();
    }
    from_host
}

// ---------------------------------------------------------------------------------------
// join

/// `kubeboot join`: `--config` or flags, then host defaults and validation.
pub fn load_join(args: &JoinArgs, host: &HostFacts) -> Result<JoinConfiguration, ConfigError> {
    let Some(path) = &args.config else {
        return join_from_flags(args, host);
    };
    let docs = read_config(path)?;
    join_from_documents(&docs, args, host)
}

/// Join from decoded documents (a `--config` file or user-data), with the flags kubeadm
/// allows beside `--config`.
pub fn join_from_documents(
    docs: &Documents,
    args: &JoinArgs,
    host: &HostFacts,
) -> Result<JoinConfiguration, ConfigError> {
    let origin = docs_origin(docs);
    reject_mixed(&origin, &join_config_flags(args))?;
    if let Some(endpoint) = &args.api_server_endpoint {
        return Err(whole_source_error(
            &origin,
            format!(
                "can not mix '--config' with the API server endpoint argument {endpoint:?} \
                 (kubeadm would ignore it): set discovery.bootstrapToken.apiServerEndpoint"
            ),
        ));
    }
    let Some(mut cfg) = docs.join.clone() else {
        return Err(whole_source_error(
            &origin,
            "no JoinConfiguration kind was found in the configuration",
        ));
    };
    let mut flagged = Vec::new();
    if let Some(name) = &args.node_name {
        cfg.node_registration.name = name.clone();
        flagged.push(("nodeRegistration.name", "--node-name"));
    }
    if !args.ignore_preflight_errors.is_empty() {
        flagged.push((
            "nodeRegistration.ignorePreflightErrors",
            "--ignore-preflight-errors",
        ));
    }
    cfg.node_registration.ignore_preflight_errors = ignore_preflight_errors(
        &cfg.node_registration.ignore_preflight_errors,
        &args.ignore_preflight_errors,
    );
    if !args.skip_phases.is_empty() {
        cfg.skip_phases = args.skip_phases.clone();
    }
    cfg.dry_run |= args.dry_run;
    let name_from_host = join_host_defaults(&mut cfg, host);
    let context = ErrorContext {
        docs: Some(docs),
        fallback_origin: origin,
        flagged,
        name_from_host,
    };
    context.report(validation::validate_join(&cfg))?;
    Ok(cfg)
}

fn join_from_flags(args: &JoinArgs, host: &HostFacts) -> Result<JoinConfiguration, ConfigError> {
    // `--token` fills whichever of the two tokens was not given on its own.
    let discovery_token = args.discovery_token.as_ref().or(args.token.as_ref());
    let tls_token = args.tls_bootstrap_token.as_ref().or(args.token.as_ref());
    let control_plane_flags = args.certificate_key.is_some()
        || args.apiserver_advertise_address.is_some()
        || args.apiserver_bind_port.is_some();
    if !args.control_plane && control_plane_flags {
        log::warn!(
            "[preflight] WARNING: --control-plane is also required when passing control-plane \
             related flags such as [certificate-key, apiserver-advertise-address, apiserver-bind-port]"
        );
    }
    let versioned = v1beta4::JoinConfiguration {
        dry_run: args.dry_run,
        node_registration: v1beta4::NodeRegistrationOptions {
            name: args.node_name.clone().unwrap_or_default(),
            cri_socket: args.cri_socket.clone().unwrap_or_default(),
            ..Default::default()
        },
        discovery: v1beta4::Discovery {
            bootstrap_token: args.api_server_endpoint.as_ref().map(|endpoint| {
                v1beta4::BootstrapTokenDiscovery {
                    token: discovery_token.cloned().unwrap_or_default(),
                    api_server_endpoint: endpoint.clone(),
                    ca_cert_hashes: args.discovery_token_ca_cert_hash.clone(),
                    unsafe_skip_ca_verification: args.discovery_token_unsafe_skip_ca_verification,
                }
            }),
            file: args
                .discovery_file
                .as_ref()
                .filter(|f| !f.is_empty())
                .map(|f| v1beta4::FileDiscovery {
                    kube_config_path: f.clone(),
                }),
            tls_bootstrap_token: tls_token.cloned().unwrap_or_default(),
        },
        control_plane: args.control_plane.then(|| v1beta4::JoinControlPlane {
            local_api_endpoint: v1beta4::ApiEndpoint {
                advertise_address: args.apiserver_advertise_address.clone().unwrap_or_default(),
                bind_port: args.apiserver_bind_port.map_or(0, i64::from),
            },
            certificate_key: args.certificate_key.clone().unwrap_or_default(),
        }),
        skip_phases: args.skip_phases.clone(),
        ..Default::default()
    };
    let mut cfg = convert::join_v1beta4(versioned).map_err(flag_decode_error)?;
    cfg.node_registration.ignore_preflight_errors =
        ignore_preflight_errors(&[], &args.ignore_preflight_errors);
    let name_from_host = join_host_defaults(&mut cfg, host);
    let context = ErrorContext {
        docs: None,
        fallback_origin: COMMAND_LINE.into(),
        flagged: Vec::new(),
        name_from_host,
    };
    context.report(validation::validate_join(&cfg))?;
    Ok(cfg)
}

fn join_config_flags(a: &JoinArgs) -> Vec<&'static str> {
    let given = [
        (a.token.is_some(), "token"),
        (a.discovery_token.is_some(), "discovery-token"),
        (a.tls_bootstrap_token.is_some(), "tls-bootstrap-token"),
        (
            !a.discovery_token_ca_cert_hash.is_empty(),
            "discovery-token-ca-cert-hash",
        ),
        (
            a.discovery_token_unsafe_skip_ca_verification,
            "discovery-token-unsafe-skip-ca-verification",
        ),
        (a.discovery_file.is_some(), "discovery-file"),
        (a.cri_socket.is_some(), "cri-socket"),
        (a.control_plane, "control-plane"),
        (a.certificate_key.is_some(), "certificate-key"),
        (
            a.apiserver_advertise_address.is_some(),
            "apiserver-advertise-address",
        ),
        (a.apiserver_bind_port.is_some(), "apiserver-bind-port"),
    ];
    given.iter().filter(|(g, _)| *g).map(|(_, n)| *n).collect()
}

/// kubeadm's `SetJoinDynamicDefaults`.
fn join_host_defaults(cfg: &mut JoinConfiguration, host: &HostFacts) -> bool {
    let from_host = node_host_defaults(&mut cfg.node_registration, host);
    if let Some(cp) = &mut cfg.control_plane {
        resolve_advertise_address(&mut cp.local_api_endpoint, host);
    }
    from_host
}

// ---------------------------------------------------------------------------------------
// Shared steps

fn read_config(path: &std::path::Path) -> Result<Documents, ConfigError> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        whole_source_error(
            &origin,
            format!("unable to read config from {origin:?}: {e}"),
        )
    })?;
    documents::decode(&documents::split_documents(&bytes, &origin)?)
}

fn docs_origin(docs: &Documents) -> String {
    docs.sources
        .first()
        .map_or_else(|| "configuration".to_string(), |s| s.origin.clone())
}

fn whole_source_error(origin: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        origin: origin.to_string(),
        document: None,
        kind: None,
        field: None,
        reason: reason.into(),
    }
}

/// kubeadm's `ValidateMixedArguments`.
fn reject_mixed(origin: &str, given: &[&str]) -> Result<(), ConfigError> {
    if given.is_empty() {
        return Ok(());
    }
    Err(whole_source_error(
        origin,
        format!(
            "can not mix '--config' with arguments [{}]: with a configuration, only \
             {ALLOWED_WITH_CONFIG} may be given; set the rest in the configuration",
            given.join(" ")
        ),
    ))
}

/// kubeadm's `ValidateIgnorePreflightErrors` union: lowercased, sorted, without repeats.
fn ignore_preflight_errors(from_config: &[String], from_flags: &[String]) -> Vec<String> {
    let set: std::collections::BTreeSet<String> = from_config
        .iter()
        .chain(from_flags)
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    set.into_iter().collect()
}

/// kubeadm's `SetNodeRegistrationDynamicDefaults` (name from the host, `unix://` scheme).
fn node_host_defaults(n: &mut NodeRegistration, host: &HostFacts) -> bool {
    let from_host = n.name.trim().is_empty();
    let name = if from_host { &host.hostname } else { &n.name };
    n.name = name.trim().to_lowercase();
    let scheme = defaults::CRI_SOCKET_SCHEME;
    if !n.cri_socket.starts_with(scheme) {
        log::warn!(
            "Usage of CRI endpoints without URL scheme is deprecated and can cause kubelet errors \
             in the future. Automatically prepending scheme {scheme:?} to the \"criSocket\" with \
             value {:?}. Please update your configuration!",
            n.cri_socket
        );
        n.cri_socket = format!("{scheme}://{}", n.cri_socket);
    }
    from_host
}

/// kubeadm's `ChooseAPIServerBindAddress`: no address given → the default route's.
fn resolve_advertise_address(endpoint: &mut ApiEndpoint, host: &HostFacts) {
    if endpoint.advertise_address.is_none() {
        endpoint.advertise_address = host.default_address;
    }
}

/// The flag each field is set by, for errors in flag-only mode.
fn flag_for(field: &str) -> Option<&'static str> {
    Some(match field {
        "nodeRegistration.name" => "--node-name",
        "nodeRegistration.criSocket" => "--cri-socket",
        "nodeRegistration.ignorePreflightErrors" => "--ignore-preflight-errors",
        "localAPIEndpoint.advertiseAddress" => "--apiserver-advertise-address",
        "localAPIEndpoint.bindPort" => "--apiserver-bind-port",
        "controlPlaneEndpoint" => "--control-plane-endpoint",
        "networking.serviceSubnet" => "--service-cidr",
        "networking.podSubnet" => "--pod-network-cidr",
        "networking.dnsDomain" => "--service-dns-domain",
        "apiServer.certSANs" => "--apiserver-cert-extra-sans",
        "certificatesDir" => "--cert-dir",
        "kubernetesVersion" => "--kubernetes-version",
        "imageRepository" => "--image-repository",
        "bootstrapTokens[0].token" => "--token",
        "certificateKey" | "controlPlane.certificateKey" => "--certificate-key",
        "discovery.bootstrapToken.token" => "--discovery-token or --token",
        "discovery.bootstrapToken.apiServerEndpoint" => "<api-server-endpoint> argument",
        "discovery.bootstrapToken.caCertHashes" => "--discovery-token-ca-cert-hash",
        "discovery.tlsBootstrapToken" => "--tls-bootstrap-token or --token",
        "discovery.file.kubeConfigPath" => "--discovery-file",
        "controlPlane.localAPIEndpoint.advertiseAddress" => "--apiserver-advertise-address",
        "controlPlane.localAPIEndpoint.bindPort" => "--apiserver-bind-port",
        _ => {
            let hash = field.strip_prefix("discovery.bootstrapToken.caCertHashes[");
            return hash.map(|_| "--discovery-token-ca-cert-hash");
        }
    })
}

fn command_line_error(field: Option<&str>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        origin: COMMAND_LINE.into(),
        document: None,
        kind: None,
        field: field.map(str::to_string),
        reason: reason.into(),
    }
}

fn flag_error(flag: &str, reason: impl Into<String>) -> ConfigError {
    command_line_error(Some(flag), reason)
}

/// A decoding error from flag values, named by the flag that set the field.
fn flag_decode_error(e: DecodeError) -> ConfigError {
    let field = e.path.to_string();
    if field == "discovery" {
        return command_line_error(
            None,
            format!(
                "{}: give the API server endpoint (kubeboot join <host:port> --token <token> \
                 --discovery-token-ca-cert-hash sha256:<hash>) or --discovery-file",
                e.reason
            ),
        );
    }
    command_line_error(Some(flag_for(&field).unwrap_or(&field)), e.reason)
}

/// Maps violations to errors naming the document (or flag) they are about.
struct ErrorContext<'a> {
    docs: Option<&'a Documents>,
    fallback_origin: String,
    /// Fields a flag set over the configuration: errors there name the flag.
    flagged: Vec<(&'static str, &'static str)>,
    name_from_host: bool,
}

impl ErrorContext<'_> {
    fn error(&self, v: &Violation) -> ConfigError {
        let mut reason = v.reason.clone();
        if self.name_from_host && v.field == "nodeRegistration.name" {
            reason.push_str(" (the name was taken from the host name: set --node-name or nodeRegistration.name)");
        }
        let flag = match self.docs {
            None => flag_for(&v.field),
            Some(_) => self
                .flagged
                .iter()
                .find(|(f, _)| *f == v.field)
                .map(|(_, flag)| *flag),
        };
        if let Some(flag) = flag {
            return flag_error(flag, reason);
        }
        match self.docs.and_then(|d| d.source(v.kind)) {
            Some(source) => source.error(Some(v.field.clone()), reason),
            None => ConfigError {
                origin: self.fallback_origin.clone(),
                document: None,
                kind: Some(v.kind.to_string()),
                field: Some(v.field.clone()),
                reason,
            },
        }
    }

    /// The first violation is returned; any others are logged so that one boot shows all.
    fn report(&self, violations: Vec<Violation>) -> Result<(), ConfigError> {
        let mut errors = violations.iter().map(|v| self.error(v));
        let Some(first) = errors.next() else {
            return Ok(());
        };
        for other in errors {
            log::error!("[config] {other}");
        }
        Err(first)
    }
}
