//! kubeadm's `validation.go`, for the fields kubeboot uses. Every rule reports the kind
//! and field it is about; the caller maps kinds to documents (or flags).

use std::net::IpAddr;
use std::path::Path;

use super::documents::{CLUSTER_CONFIGURATION, INIT_CONFIGURATION, JOIN_CONFIGURATION};
use super::model::{
    Arg, BootConfiguration, BootstrapToken, ClusterConfiguration, Discovery, Etcd,
    InitConfiguration, JoinConfiguration, NodeRegistration, Taint,
};
use super::net::{Cidr, CidrList};
use super::version::{KubeVersion, MAX_MINOR, MIN_MINOR};
use super::{defaults, documents::BOOT_CONFIGURATION};

/// One broken rule: which kind, which field, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub kind: &'static str,
    pub field: String,
    pub reason: String,
}

struct Check {
    kind: &'static str,
    found: Vec<Violation>,
}

impl Check {
    fn new(kind: &'static str) -> Self {
        Check {
            kind,
            found: Vec::new(),
        }
    }

    fn fail(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.found.push(Violation {
            kind: self.kind,
            field: field.into(),
            reason: reason.into(),
        });
    }

    fn check(&mut self, field: impl Into<String>, result: Result<(), String>) {
        if let Err(reason) = result {
            self.fail(field, reason);
        }
    }
}

/// kubeadm's `ValidateInitConfiguration` (after dynamic defaults).
pub fn validate_init(cfg: &InitConfiguration) -> Vec<Violation> {
    let mut init = Check::new(INIT_CONFIGURATION);
    node_registration(&mut init, &cfg.node_registration);
    for (i, t) in cfg.bootstrap_tokens.iter().enumerate() {
        bootstrap_token(&mut init, &format!("bootstrapTokens[{i}]"), t);
    }
    init.check(
        "localAPIEndpoint.advertiseAddress",
        advertise_address(cfg.local_api_endpoint.advertise_address),
    );
    if let Some(key) = &cfg.certificate_key {
        init.check("certificateKey", certificate_key(key));
    }
    let mut found = init.found;
    found.extend(validate_cluster(&cfg.cluster));
    found
}

/// kubeadm's `ValidateClusterConfiguration`, plus kubeboot's supported version range.
pub fn validate_cluster(c: &ClusterConfiguration) -> Vec<Violation> {
    let mut v = Check::new(CLUSTER_CONFIGURATION);
    v.check(
        "kubernetesVersion",
        supported_version(&c.kubernetes_version),
    );
    v.check(
        "networking.dnsDomain",
        dns1123_subdomain(&c.networking.dns_domain),
    );
    service_subnet(&mut v, &c.networking.service_subnet);
    if let Some(pods) = &c.networking.pod_subnet {
        pod_subnet(&mut v, pods, &c.controller_manager.extra_args);
    }
    cert_sans(&mut v, "apiServer.certSANs", &c.api_server.cert_sans);
    extra_args(
        &mut v,
        "apiServer.extraArgs",
        &c.api_server.component.extra_args,
    );
    extra_args(
        &mut v,
        "controllerManager.extraArgs",
        &c.controller_manager.extra_args,
    );
    extra_args(&mut v, "scheduler.extraArgs", &c.scheduler.extra_args);
    for (field, component) in [
        ("apiServer", &c.api_server.component),
        ("controllerManager", &c.controller_manager),
        ("scheduler", &c.scheduler),
    ] {
        for (i, e) in component.extra_envs.iter().enumerate() {
            if e.name.is_empty() {
                v.fail(
                    format!("{field}.extraEnvs[{i}].name"),
                    "environment variable has no name",
                );
            }
        }
    }
    v.check("certificatesDir", absolute(&c.certificates_dir));
    if let Some(endpoint) = &c.control_plane_endpoint {
        v.check(
            "controlPlaneEndpoint",
            parse_host_port(endpoint)
                .map(drop)
                .map_err(|e| format!("endpoint is not valid: {e}")),
        );
    }
    v.check("imageRepository", image_repository(&c.image_repository));
    if let Some(repo) = &c.dns.image.image_repository {
        v.check("dns.imageRepository", image_repository(repo));
    }
    etcd(&mut v, &c.etcd);
    warn_about_feature_gates(c);
    warn_about_validity(c);
    v.found
}

/// kubeadm's `ValidateJoinConfiguration` (after dynamic defaults).
pub fn validate_join(cfg: &JoinConfiguration) -> Vec<Violation> {
    let mut v = Check::new(JOIN_CONFIGURATION);
    match &cfg.discovery {
        Discovery::BootstrapToken(b) => {
            let path = "discovery.bootstrapToken";
            if b.api_server_endpoint.is_empty() {
                v.fail(
                    format!("{path}.apiServerEndpoint"),
                    "APIServerEndpoint is not set: give the host:port of the API server",
                );
            } else {
                v.check(
                    format!("{path}.apiServerEndpoint"),
                    split_host_port(&b.api_server_endpoint).map(drop),
                );
            }
            if b.ca_cert_hashes.is_empty() && !b.unsafe_skip_ca_verification {
                v.fail(
                    format!("{path}.caCertHashes"),
                    "using token-based discovery without caCertHashes can be unsafe. Set \
                     unsafeSkipCAVerification as true in your kubeadm config file or pass \
                     --discovery-token-unsafe-skip-ca-verification flag to continue",
                );
            }
            for (i, hash) in b.ca_cert_hashes.iter().enumerate() {
                v.check(format!("{path}.caCertHashes[{i}]"), ca_cert_hash(hash));
            }
            if cfg.tls_bootstrap_token.is_none() {
                v.fail(
                    "discovery.tlsBootstrapToken",
                    "the bootstrap token is invalid",
                );
            }
        }
        Discovery::File(path) => {
            v.check("discovery.file.kubeConfigPath", discovery_file(path));
        }
    }
    node_registration(&mut v, &cfg.node_registration);
    if let Some(cp) = &cfg.control_plane {
        v.check(
            "controlPlane.localAPIEndpoint.advertiseAddress",
            advertise_address(cp.local_api_endpoint.advertise_address),
        );
        if let Some(key) = &cp.certificate_key {
            v.check("controlPlane.certificateKey", certificate_key(key));
        }
    }
    let ca = cfg.ca_cert_path.to_string_lossy();
    if !cfg.ca_cert_path.is_absolute() || !ca.ends_with(".crt") {
        v.fail(
            "caCertPath",
            format!("{ca:?}: the ca certificate path must be an absolute path ending in .crt"),
        );
    }
    v.found
}

/// kubeboot's own rules for `BootConfiguration`.
pub fn validate_boot(b: &BootConfiguration) -> Vec<Violation> {
    let mut v = Check::new(BOOT_CONFIGURATION);
    if let Some(name) = &b.initializer
        && name.parse::<IpAddr>().is_err()
        && let Err(e) = dns1123_subdomain(name)
    {
        v.fail(
            "initializer",
            format!("must be a node name or an IP address: {e}"),
        );
    }
    v.found
}

// ---------------------------------------------------------------------------------------
// Rules

fn node_registration(v: &mut Check, n: &NodeRegistration) {
    if n.name.is_empty() {
        v.fail(
            "nodeRegistration.name",
            "--node-name or .nodeRegistration.name in the config file is a required value. It \
             seems like this value couldn't be automatically detected in your environment, \
             please specify the desired value using the CLI or config file.",
        );
    } else {
        v.check("nodeRegistration.name", dns1123_subdomain(&n.name));
    }
    v.check("nodeRegistration.criSocket", cri_socket(&n.cri_socket));
    extra_args(
        v,
        "nodeRegistration.kubeletExtraArgs",
        &n.kubelet_extra_args,
    );
    if !["Always", "IfNotPresent", "Never"].contains(&n.image_pull_policy.as_str()) {
        v.fail(
            "nodeRegistration.imagePullPolicy",
            format!(
                "invalid pull policy {:?}: use Always, IfNotPresent or Never",
                n.image_pull_policy
            ),
        );
    }
    for (i, t) in n.taints.iter().flatten().enumerate() {
        taint(v, &format!("nodeRegistration.taints[{i}]"), t);
    }
    let errors = &n.ignore_preflight_errors;
    if errors.iter().any(|e| e == "all") && errors.len() > 1 {
        v.fail(
            "nodeRegistration.ignorePreflightErrors",
            format!(
                "{}: don't specify individual checks if 'all' is used",
                errors.join(",")
            ),
        );
    }
}

fn taint(v: &mut Check, path: &str, t: &Taint) {
    if t.key.is_empty() {
        v.fail(format!("{path}.key"), "a taint needs a key");
    } else {
        v.check(format!("{path}.key"), qualified_name(&t.key));
    }
    if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&t.effect.as_str()) {
        v.fail(
            format!("{path}.effect"),
            format!(
                "unsupported taint effect {:?}: use NoSchedule, PreferNoSchedule or NoExecute",
                t.effect
            ),
        );
    }
}

fn bootstrap_token(v: &mut Check, path: &str, t: &BootstrapToken) {
    for usage in &t.usages {
        if !defaults::TOKEN_USAGES.contains(&usage.as_str()) {
            v.fail(
                format!("{path}.usages"),
                format!(
                    "invalid bootstrap token usage {usage:?}: use signing and/or authentication"
                ),
            );
        }
    }
    if !t.groups.is_empty() && !t.usages.iter().any(|u| u == "authentication") {
        v.fail(
            format!("{path}.groups"),
            "token groups cannot be specified unless --usages includes \"authentication\"",
        );
    }
    for group in &t.groups {
        v.check(format!("{path}.groups"), bootstrap_group(group));
    }
    if let Some(expires) = &t.expires
        && time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
            .is_err()
    {
        v.fail(
            format!("{path}.expires"),
            format!("{expires:?} is not an RFC 3339 time like 2030-01-02T15:04:05Z"),
        );
    }
}

/// `cluster-bootstrap`'s `ValidateBootstrapGroupName`.
fn bootstrap_group(group: &str) -> Result<(), String> {
    let prefix = "system:bootstrappers:";
    let rest = group.strip_prefix(prefix).unwrap_or("");
    let ok = group.starts_with(prefix)
        && !rest.is_empty()
        && rest.len() <= 256
        && rest
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b':' || b == b'-')
        && rest
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "bootstrap group {group:?} is invalid (must match ^system:bootstrappers:[a-z0-9:-]{{0,255}}[a-z0-9]$)"
        ))
    }
}

fn extra_args(v: &mut Check, path: &str, args: &[Arg]) {
    for (i, a) in args.iter().enumerate() {
        if a.name.is_empty() {
            v.fail(format!("{path}[{i}]"), "argument has no name");
        }
    }
}

fn cert_sans(v: &mut Check, path: &str, sans: &[String]) {
    for san in sans {
        let ok = san.parse::<IpAddr>().is_ok()
            || dns1123_subdomain(san).is_ok()
            || wildcard_dns1123_subdomain(san).is_ok();
        if !ok {
            v.fail(
                path,
                format!("{san:?}: altname is not a valid IP address, DNS label or a DNS label with subdomain wildcards"),
            );
        }
    }
}

fn range_size(c: &Cidr) -> u128 {
    let bits = if c.addr.is_ipv4() { 32 } else { 128 };
    let host_bits = bits - u32::from(c.prefix);
    if host_bits >= 127 {
        u128::MAX
    } else {
        1u128 << host_bits
    }
}

fn subnet_min_size(v: &mut Check, path: &str, list: &CidrList, min: u128) {
    for c in &list.0 {
        let size = range_size(c);
        if size < min {
            v.fail(
                path,
                format!("subnet {c} with {size} address(es) is too small, the minimum is {min}"),
            );
        }
    }
}

/// Service subnets: at least 10 addresses, at most 20 host bits (as the API server).
fn service_subnet(v: &mut Check, list: &CidrList) {
    let path = "networking.serviceSubnet";
    subnet_min_size(v, path, list, 10);
    for c in &list.0 {
        let bits = if c.addr.is_ipv4() { 32 } else { 128 };
        if bits - u32::from(c.prefix) > 20 {
            v.fail(
                path,
                format!(
                    "{c}: specified service subnet is too large; for {bits}-bit addresses, the mask must be >= {}",
                    bits - 20
                ),
            );
        }
    }
}

/// Pod subnets: at least 14 addresses, and room for node CIDRs (`--node-cidr-mask-size-*`,
/// default /24 and /64, at most 16 bits longer) unless node CIDR allocation is off.
fn pod_subnet(v: &mut Check, list: &CidrList, controller_manager_args: &[Arg]) {
    let path = "networking.podSubnet";
    subnet_min_size(v, path, list, 14);
    let arg = |name: &str| {
        controller_manager_args
            .iter()
            .rev()
            .find(|a| a.name == name)
            .map(|a| a.value.as_str())
    };
    if arg("allocate-node-cidrs") == Some("false") {
        return;
    }
    for c in &list.0 {
        let (flag, default) = if c.addr.is_ipv4() {
            ("node-cidr-mask-size-ipv4", 24)
        } else {
            ("node-cidr-mask-size-ipv6", 64)
        };
        let node_mask = match arg(flag).map(str::parse::<u32>) {
            None => default,
            Some(Ok(m)) => m,
            Some(Err(_)) => {
                v.fail(
                    path,
                    format!("could not parse the value of the kube-controller-manager flag {flag} as an integer"),
                );
                continue;
            }
        };
        let mask = u32::from(c.prefix);
        if mask > node_mask {
            v.fail(
                path,
                format!("the size of pod subnet with mask {mask} is smaller than the size of node subnet with mask {node_mask}"),
            );
        } else if node_mask - mask > 16 {
            v.fail(
                path,
                format!("pod subnet mask ({mask}) and node-mask ({node_mask}) difference is greater than 16"),
            );
        }
    }
}

fn etcd(v: &mut Check, e: &Etcd) {
    match e {
        Etcd::Local(l) => {
            v.check("etcd.local.dataDir", absolute(&l.data_dir));
            cert_sans(v, "etcd.local.serverCertSANs", &l.server_cert_sans);
            cert_sans(v, "etcd.local.peerCertSANs", &l.peer_cert_sans);
            if let Some(repo) = &l.image.image_repository {
                v.check("etcd.local.imageRepository", image_repository(repo));
            }
            extra_args(v, "etcd.local.extraArgs", &l.extra_args);
        }
        Etcd::External(x) => {
            let path = "etcd.external";
            let (ca, cert, key) = (
                x.ca_file.is_empty(),
                x.cert_file.is_empty(),
                x.key_file.is_empty(),
            );
            if cert != key {
                v.fail(path, "either both or none of .etcd.external.certFile and .etcd.external.keyFile must be set");
            }
            if !cert && !key && ca {
                v.fail(path, "setting .etcd.external.certFile and .etcd.external.keyFile requires .etcd.external.caFile");
            }
            if x.endpoints.is_empty() {
                v.fail(
                    format!("{path}.endpoints"),
                    "endpoints of the etcd members are required",
                );
            }
            let require_https = !(ca && cert && key);
            for url in &x.endpoints {
                match url.split_once("://") {
                    Some(("https", rest)) if !rest.is_empty() => {}
                    Some(("http", rest)) if !rest.is_empty() && !require_https => {}
                    Some(("http", _)) => v.fail(
                        format!("{path}.endpoints"),
                        format!("{url:?}: the URL must be using the HTTPS scheme"),
                    ),
                    _ => v.fail(
                        format!("{path}.endpoints"),
                        format!("{url:?}: the URL without scheme is not allowed"),
                    ),
                }
            }
            for (field, file) in [
                ("caFile", &x.ca_file),
                ("certFile", &x.cert_file),
                ("keyFile", &x.key_file),
            ] {
                if !file.is_empty() {
                    v.check(format!("{path}.{field}"), absolute(Path::new(file)));
                }
            }
        }
    }
}

fn supported_version(v: &KubeVersion) -> Result<(), String> {
    if v.major == 1 && (MIN_MINOR..=MAX_MINOR).contains(&v.minor) {
        Ok(())
    } else {
        Err(format!(
            "Kubernetes {v} is not supported: kubeboot deploys v1.{MIN_MINOR} to v1.{MAX_MINOR}"
        ))
    }
}

/// kubeadm's `ValidateSocketPath`: a `unix://` URL (dynamic defaults add the scheme).
fn cri_socket(socket: &str) -> Result<(), String> {
    match socket.split_once("://") {
        Some(("unix", path)) if path.starts_with('/') => Ok(()),
        Some(("unix", _)) => Err(format!("{socket:?}: the socket path must be absolute")),
        Some((scheme, _)) => Err(format!(
            "{socket:?}: only URL scheme \"unix\" is supported, got {scheme:?}"
        )),
        None => Err(format!("{socket:?}: empty or invalid CRI socket")),
    }
}

fn advertise_address(ip: Option<IpAddr>) -> Result<(), String> {
    match ip {
        None => Err(
            "no address to advertise: this host has no default route with a usable \
                     address; set the advertise address (--apiserver-advertise-address or \
                     localAPIEndpoint.advertiseAddress)"
                .into(),
        ),
        Some(ip) if ip.is_loopback() => Err(format!(
            "cannot use {ip} as the advertise address: kubeadm would look for a global address \
             on the loopback interface, kubeboot does not; give a routable address"
        )),
        Some(ip) if !is_global_unicast(ip) => Err(format!(
            "cannot use {ip:?} as the bind address for the API Server"
        )),
        Some(_) => Ok(()),
    }
}

/// Go's `net.IP.IsGlobalUnicast` (private ranges count as global, as in Go).
pub fn is_global_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            !(a.is_unspecified()
                || a.is_loopback()
                || a.is_multicast()
                || a.is_link_local()
                || a.is_broadcast())
        }
        IpAddr::V6(a) => {
            let link_local = (a.segments()[0] & 0xffc0) == 0xfe80;
            !(a.is_unspecified() || a.is_loopback() || a.is_multicast() || link_local)
        }
    }
}

/// A 32-byte AES key, hex encoded. The key itself never appears in the message.
fn certificate_key(key: &str) -> Result<(), String> {
    if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else if key.bytes().all(|b| b.is_ascii_hexdigit()) && key.len() % 2 == 0 {
        Err(format!(
            "invalid certificate key size {}, the key must be an AES key of size 32 (64 hex characters)",
            key.len() / 2
        ))
    } else {
        Err("certificate key decoding error: it must be 64 hex characters (value not shown: it is a secret)".into())
    }
}

/// `sha256:<64 hex>`, as kubeadm's `pubkeypin` accepts.
fn ca_cert_hash(hash: &str) -> Result<(), String> {
    let Some((kind, hex)) = hash.split_once(':') else {
        return Err(format!(
            "invalid hash {hash:?}, expected \"format:hex-value\" like sha256:<64 hex characters>"
        ));
    };
    if !kind.eq_ignore_ascii_case("sha256") {
        return Err(format!(
            "unknown hash type {kind:?} in {hash:?}: only sha256 is supported"
        ));
    }
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "{hash:?}: a sha256 pin is 64 hex characters (the SHA-256 of the CA's DER SubjectPublicKeyInfo)"
        ));
    }
    Ok(())
}

fn discovery_file(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("a kubeconfig path or https URL is required".into());
    }
    match path.split_once("://") {
        Some(("https", rest)) if !rest.is_empty() => Ok(()),
        Some(_) => Err(format!(
            "{:?}: if a URL is used, the scheme must be https",
            crate::logging::redact_url(path)
        )),
        None if Path::new(path).is_absolute() => Ok(()),
        None => Err(format!(
            "{path:?}: not a valid HTTPS URL or an absolute path to a file on the node"
        )),
    }
}

fn absolute(path: &Path) -> Result<(), String> {
    if path.is_absolute() {
        Ok(())
    } else {
        Err(format!(
            "{:?}: path is not absolute",
            path.to_string_lossy()
        ))
    }
}

/// Go's `net.SplitHostPort` plus a port range check: `host:port` or `[v6]:port`.
pub fn split_host_port(s: &str) -> Result<(String, u16), String> {
    // A token typed where the endpoint belongs must not reach the console.
    let shown = crate::logging::shown_word(s);
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("address {shown}: missing ']' in address"))?;
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| format!("address {shown}: missing port in address"))?;
        (host, port)
    } else {
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("address {shown}: missing port in address"))?;
        if host.contains(':') {
            return Err(format!("address {shown}: too many colons in address"));
        }
        (host, port)
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok((host.to_string(), p)),
        _ => Err(format!(
            "address {shown}: port {:?} must be a valid number between 1 and 65535",
            crate::logging::shown_word(port)
        )),
    }
}

/// kubeadm's `ParseHostPort`: an IP or RFC 1123 subdomain, with an optional port.
pub fn parse_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = match split_host_port(s) {
        Ok((h, p)) => (h, Some(p)),
        Err(e) if e.contains("must be a valid number") => {
            return Err(format!(
                "hostport {s}: port must be a valid number between 1 and 65535, inclusive"
            ));
        }
        Err(_) => (s.to_string(), None),
    };
    if host.parse::<IpAddr>().is_ok() || dns1123_subdomain(&host).is_ok() {
        Ok((host, port))
    } else {
        Err(format!(
            "hostport {s}: host '{host}' must be a valid IP address or a valid RFC-1123 DNS \
             subdomain with optional TCP port"
        ))
    }
}

fn dns1123_label_ok(label: &str) -> bool {
    let b = label.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// apimachinery's `IsDNS1123Subdomain`.
pub fn dns1123_subdomain(s: &str) -> Result<(), String> {
    if s.len() > 253 {
        return Err(format!("{s:?} must be no more than 253 characters"));
    }
    if s.split('.').all(dns1123_label_ok) {
        Ok(())
    } else {
        Err(format!(
            "{s:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric \
             characters, '-' or '.', and must start and end with an alphanumeric character \
             (e.g. 'example.com')"
        ))
    }
}

/// apimachinery's `IsWildcardDNS1123Subdomain`: `*.example.com`.
pub fn wildcard_dns1123_subdomain(s: &str) -> Result<(), String> {
    match s.strip_prefix("*.") {
        Some(rest) if s.len() <= 253 && rest.split('.').all(dns1123_label_ok) => Ok(()),
        _ => Err(format!(
            "{s:?} is not a wildcard DNS subdomain like *.example.com"
        )),
    }
}

const QUALIFIED_NAME_ERR: &str = "must consist of alphanumeric characters, '-', '_' or '.', and \
     must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or \
     '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// apimachinery's `IsQualifiedName` (taint keys, node names): `[prefix/]name`.
fn qualified_name(s: &str) -> Result<(), String> {
    let errors = qualified_name_errors(s);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{s:?}: {}", errors.join("; ")))
    }
}

/// apimachinery's `validation.IsQualifiedName`, with its messages: `[prefix/]name`, name ≤ 63
/// characters of `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, prefix a DNS-1123 subdomain.
pub fn qualified_name_errors(value: &str) -> Vec<String> {
    let parts: Vec<&str> = value.split('/').collect();
    let mut errs = Vec::new();
    let name = match parts[..] {
        [name] => name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else if dns1123_subdomain(prefix).is_err() {
                errs.push(
                    "prefix part a lowercase RFC 1123 subdomain must consist of lower case \
                     alphanumeric characters, '-' or '.', and must start and end with an \
                     alphanumeric character"
                        .to_string(),
                );
            }
            name
        }
        _ => {
            return vec![format!(
                "a qualified name {QUALIFIED_NAME_ERR} with an optional DNS subdomain prefix and \
                 '/' (e.g. 'example.com/MyName')"
            )];
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push("name part must be no more than 63 characters".to_string());
    }
    let alnum = |c: char| c.is_ascii_alphanumeric();
    let well_formed = name.starts_with(alnum)
        && name.ends_with(alnum)
        && name.chars().all(|c| alnum(c) || "-_.".contains(c));
    if !well_formed {
        errs.push(format!("name part {QUALIFIED_NAME_ERR}"));
    }
    errs
}

/// The distribution reference grammar kubeadm checks `<repo>/name:tag` against.
fn image_repository(repo: &str) -> Result<(), String> {
    let bad = || Err(format!("{repo:?}: invalid image repository format"));
    let mut parts = repo.split('/');
    let Some(first) = parts.next() else {
        return bad();
    };
    if !(path_component(first) || domain(first)) {
        return bad();
    }
    if parts.all(path_component) {
        Ok(())
    } else {
        bad()
    }
}

fn path_component(s: &str) -> bool {
    // [a-z0-9]+ joined by '.', '_', '__' or '-'+.
    let b = s.as_bytes();
    if b.is_empty() || !b[0].is_ascii_lowercase() && !b[0].is_ascii_digit() {
        return false;
    }
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut i = 0;
    while i < b.len() {
        if alnum(&b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(&b[i]) {
            i += 1;
        }
        let sep = &s[start..i];
        let ok_sep = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok_sep || i == b.len() {
            return false;
        }
    }
    true
}

fn domain(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || s.starts_with('[') => (h, Some(p)),
        _ => (s, None),
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit())) {
        return false;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    let component = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty()
            && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
    };
    host.split('.').all(component)
}

/// kubeadm's init feature gates across v1.31–v1.35; unknown names are only warned about,
/// since the list moves with each release.
const KUBEADM_FEATURE_GATES: &[&str] = &[
    "ControlPlaneKubeletLocalMode",
    "EtcdLearnerMode",
    "NodeLocalCRISocket",
    "PublicKeysECDSA",
    "RootlessControlPlane",
    "WaitForAllControlPlaneComponents",
];

fn warn_about_feature_gates(c: &ClusterConfiguration) {
    for gate in c.feature_gates.keys() {
        if !KUBEADM_FEATURE_GATES.contains(&gate.as_str()) {
            log::warn!(
                "[config] WARNING: featureGates: {gate:?} is not a kubeadm feature gate kubeboot knows"
            );
        }
    }
}

fn warn_about_validity(c: &ClusterConfiguration) {
    use super::duration::format_go_duration as f;
    if c.certificate_validity_period > defaults::CERTIFICATE_VALIDITY {
        log::warn!(
            "[config] WARNING: certificateValidityPeriod: the value {} is more than the recommended default for certificate expiration: {}",
            f(c.certificate_validity_period),
            f(defaults::CERTIFICATE_VALIDITY)
        );
    }
    if c.ca_certificate_validity_period > defaults::CA_CERTIFICATE_VALIDITY {
        log::warn!(
            "[config] WARNING: caCertificateValidityPeriod: the value {} is more than the recommended default for CA certificate expiration: {}",
            f(c.ca_certificate_validity_period),
            f(defaults::CA_CERTIFICATE_VALIDITY)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains_as_apimachinery() {
        for ok in [
            "a",
            "node-1",
            "a.b.c",
            "0",
            "0abc",
            "ip-10-0-0-1.ec2.internal",
        ] {
            assert!(dns1123_subdomain(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "A",
            "Node1",
            "-a",
            "a-",
            "a..b",
            "a_b",
            &"a".repeat(254),
        ] {
            assert!(dns1123_subdomain(bad).is_err(), "{bad}");
        }
        assert!(wildcard_dns1123_subdomain("*.example.com").is_ok());
        assert!(wildcard_dns1123_subdomain("*.*.example.com").is_err());
    }

    #[test]
    fn qualified_names_as_apimachinery() {
        assert!(qualified_name_errors("node-1.example").is_empty());
        assert!(qualified_name_errors("Node_1").is_empty());
        assert_eq!(qualified_name_errors("-node").len(), 1);
        assert_eq!(qualified_name_errors("").len(), 2);
        assert_eq!(qualified_name_errors(&"a".repeat(64)).len(), 1);
        assert!(qualified_name_errors("example.com/node").is_empty());
        assert_eq!(qualified_name_errors("a/b/c").len(), 1);
        assert!(qualified_name("example.com/key").is_ok());
        assert!(qualified_name("-key").is_err());
    }

    #[test]
    fn host_ports_as_kubeadm() {
        assert_eq!(
            parse_host_port("lb.example.com").unwrap(),
            ("lb.example.com".into(), None)
        );
        assert_eq!(
            parse_host_port("10.0.0.1:6443").unwrap(),
            ("10.0.0.1".into(), Some(6443))
        );
        assert_eq!(
            parse_host_port("[fd00::1]:443").unwrap(),
            ("fd00::1".into(), Some(443))
        );
        assert_eq!(
            parse_host_port("fd00::1").unwrap(),
            ("fd00::1".into(), None)
        );
        assert_eq!(
            parse_host_port("api.example.com:443").unwrap(),
            ("api.example.com".into(), Some(443))
        );
        for bad in ["Api.Example.com", "[fd00::1]", "a_b:1", ""] {
            assert!(parse_host_port(bad).is_err(), "{bad}");
        }
        assert!(parse_host_port("lb:0").is_err());
        assert!(parse_host_port("lb:99999").is_err());
        assert!(parse_host_port("LB_1").is_err());
        assert!(split_host_port("10.0.0.1").is_err());
        assert!(split_host_port("fd00::1:6443").is_err());
    }

    #[test]
    fn image_repositories() {
        for ok in [
            "registry.k8s.io",
            "localhost:5000/k8s",
            "my-registry.local/a/b",
            "gcr.io/k8s-staging-ci-images",
            "[fd00::1]:5000/x",
        ] {
            assert!(image_repository(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Registry.k8s.io/UPPER", "a//b", "reg:port/x", "a b"] {
            assert!(image_repository(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn global_unicast_as_go() {
        for ok in [
            "10.0.0.1",
            "192.168.1.1",
            "8.8.8.8",
            "fd00::1",
            "2001:db8::1",
        ] {
            assert!(is_global_unicast(ok.parse().unwrap()), "{ok}");
        }
        for bad in [
            "0.0.0.0",
            "127.0.0.1",
            "169.254.1.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "ff02::1",
        ] {
            assert!(!is_global_unicast(bad.parse().unwrap()), "{bad}");
        }
    }

    #[test]
    fn certificate_keys_and_hashes() {
        assert!(certificate_key(&"ab".repeat(32)).is_ok());
        assert!(
            certificate_key(&"ab".repeat(16))
                .unwrap_err()
                .contains("size 16")
        );
        let e = certificate_key("zzsecretzz").unwrap_err();
        assert!(!e.contains("zzsecretzz"));
        assert!(ca_cert_hash(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert!(ca_cert_hash(&format!("SHA256:{}", "A".repeat(64))).is_ok());
        assert!(ca_cert_hash(&"a".repeat(64)).is_err());
        assert!(ca_cert_hash(&format!("md5:{}", "a".repeat(64))).is_err());
        assert!(ca_cert_hash("sha256:abcd").is_err());
    }

    #[test]
    fn bootstrap_groups() {
        assert!(bootstrap_group("system:bootstrappers:kubeadm:default-node-token").is_ok());
        assert!(bootstrap_group("system:bootstrappers:").is_err());
        assert!(bootstrap_group("system:nodes").is_err());
        assert!(bootstrap_group("system:bootstrappers:Upper").is_err());
    }
}
