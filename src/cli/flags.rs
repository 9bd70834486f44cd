//! One table of flags per command: what `parse` accepts and what `help` prints, declared once.

use std::path::PathBuf;

use super::{BootArgs, GlobalFlags, InitArgs, JoinArgs, TlsBootstrapMode};

/// A long flag (`--name`), with an optional one-letter form (`-v`).
pub(super) struct Flag<T> {
    pub long: &'static str,
    pub short: Option<char>,
    /// Shown in help as `--long <VALUE>`; empty for switches.
    pub value_name: &'static str,
    pub help: &'static str,
    pub slot: Slot<T>,
}

/// What a flag's value is and where it goes in the command's arguments `T`.
pub(super) enum Slot<T> {
    /// No separate value; `--flag`, or pflag's `--flag=true|false`.
    Switch(fn(&mut T, bool)),
    Text(fn(&mut T, String)),
    /// A path: any bytes (paths need not be UTF-8), but not empty.
    Path(fn(&mut T, PathBuf)),
    Port(fn(&mut T, u16)),
    Level(fn(&mut T, u8)),
    /// Comma-separated; the flag may be repeated and the items add up.
    List(fn(&mut T, String)),
    TlsBootstrap(fn(&mut T, TlsBootstrapMode)),
}

impl<T> Flag<T> {
    /// The flag as a person typed it: `--config`.
    pub fn shown(&self) -> String {
        format!("--{}", self.long)
    }

    /// The flag as help and errors name it: `--config <FILE>`.
    pub fn with_value(&self) -> String {
        if self.value_name.is_empty() {
            self.shown()
        } else {
            format!("--{} <{}>", self.long, self.value_name)
        }
    }

    pub fn matches(&self, typed: &str) -> bool {
        match typed.strip_prefix("--") {
            Some(long) => long == self.long,
            None => {
                let mut chars = typed.chars();
                chars.next() == Some('-')
                    && self.short.is_some()
                    && chars.next() == self.short
                    && chars.next().is_none()
            }
        }
    }
}

const fn switch<T>(long: &'static str, help: &'static str, set: fn(&mut T, bool)) -> Flag<T> {
    flag(long, "", help, Slot::Switch(set))
}

const fn flag<T>(
    long: &'static str,
    value_name: &'static str,
    help: &'static str,
    slot: Slot<T>,
) -> Flag<T> {
    Flag {
        long,
        short: None,
        value_name,
        help,
        slot,
    }
}

pub(super) const TLS_BOOTSTRAP_MODES: [(&str, TlsBootstrapMode); 2] = [
    ("kubeboot", TlsBootstrapMode::Kubeboot),
    ("kubelet", TlsBootstrapMode::Kubelet),
];

/// `kubeboot, kubelet`, for help and errors.
pub(super) fn tls_bootstrap_names() -> String {
    let names: Vec<&str> = TLS_BOOTSTRAP_MODES.iter().map(|(name, _)| *name).collect();
    names.join(", ")
}

pub(super) const GLOBAL: &[Flag<GlobalFlags>] = &[
    flag(
        "root",
        "DIR",
        "Directory that stands for \"/\" on the node: every path kubeboot reads or writes is taken under it [default: /]",
        Slot::Path(|g, v| g.root = v),
    ),
    Flag {
        long: "v",
        short: Some('v'),
        value_name: "N",
        help: "Log verbosity (kubeadm's scale: 0-1 info, 2-4 debug, 5+ trace) [default: 0]",
        slot: Slot::Level(|g, v| g.verbosity = v),
    },
];

const IGNORE_PREFLIGHT_ERRORS: &str =
    "Preflight checks whose errors become warnings (comma-separated names, or all)";

pub(super) const BOOT: &[Flag<BootArgs>] = &[
    flag(
        "datasource",
        "NAME",
        "Use only this user-data source (local, cmdline, nocloud, configdrive, ec2, gce, azure, openstack)",
        Slot::Text(|a, v| a.datasource = Some(v)),
    ),
    flag(
        "user-data",
        "PATH|URL",
        "Read user-data from this file or http(s) URL instead of probing sources",
        Slot::Text(|a, v| a.user_data = Some(v)),
    ),
    flag(
        "ignore-preflight-errors",
        "LIST",
        IGNORE_PREFLIGHT_ERRORS,
        Slot::List(|a, v| a.ignore_preflight_errors.push(v)),
    ),
    switch(
        "dry-run",
        "Write files under the root but call no API and start no service; print API objects instead",
        |a, v| a.dry_run = v,
    ),
];

/// `init`'s flags, also taken by every `init phase`.
pub(super) const INIT: &[Flag<InitArgs>] = &[
    flag(
        "config",
        "FILE",
        "Path to a kubeadm configuration file (InitConfiguration, ClusterConfiguration, KubeletConfiguration)",
        Slot::Path(|a, v| a.config = Some(v)),
    ),
    flag(
        "node-name",
        "NAME",
        "Name of this node (default: the hostname, lowercased)",
        Slot::Text(|a, v| a.node_name = Some(v)),
    ),
    flag(
        "apiserver-advertise-address",
        "IP",
        "IP address the API server advertises",
        Slot::Text(|a, v| a.apiserver_advertise_address = Some(v)),
    ),
    flag(
        "apiserver-bind-port",
        "PORT",
        "Port the API server binds to",
        Slot::Port(|a, v| a.apiserver_bind_port = Some(v)),
    ),
    flag(
        "control-plane-endpoint",
        "HOST[:PORT]",
        "Stable IP address or DNS name (with optional port) for the control plane",
        Slot::Text(|a, v| a.control_plane_endpoint = Some(v)),
    ),
    flag(
        "service-cidr",
        "CIDR",
        "CIDR for service virtual IPs",
        Slot::Text(|a, v| a.service_cidr = Some(v)),
    ),
    flag(
        "pod-network-cidr",
        "CIDR",
        "CIDR for the Pod network; the controller-manager allocates node CIDRs from it",
        Slot::Text(|a, v| a.pod_network_cidr = Some(v)),
    ),
    flag(
        "service-dns-domain",
        "DOMAIN",
        "DNS domain for services",
        Slot::Text(|a, v| a.service_dns_domain = Some(v)),
    ),
    flag(
        "apiserver-cert-extra-sans",
        "LIST",
        "Extra Subject Alternative Names (IPs or DNS names) for the API server certificate",
        Slot::List(|a, v| a.apiserver_cert_extra_sans.push(v)),
    ),
    flag(
        "cert-dir",
        "DIR",
        "Where certificates are stored",
        Slot::Text(|a, v| a.cert_dir = Some(v)),
    ),
    flag(
        "kubernetes-version",
        "VERSION",
        "Kubernetes version of the control plane",
        Slot::Text(|a, v| a.kubernetes_version = Some(v)),
    ),
    flag(
        "image-repository",
        "REGISTRY",
        "Container registry to pull control-plane images from",
        Slot::Text(|a, v| a.image_repository = Some(v)),
    ),
    flag(
        "cri-socket",
        "SOCKET",
        "CRI socket to connect to",
        Slot::Text(|a, v| a.cri_socket = Some(v)),
    ),
    flag(
        "token",
        "TOKEN",
        "Bootstrap token to create (format [a-z0-9]{6}.[a-z0-9]{16}); generated when absent",
        Slot::Text(|a, v| a.token = Some(v)),
    ),
    flag(
        "token-ttl",
        "DURATION",
        "Lifetime of the bootstrap token (e.g. 24h0m0s); 0 = never expires",
        Slot::Text(|a, v| a.token_ttl = Some(v)),
    ),
    switch(
        "upload-certs",
        "Upload control-plane certificates to the kubeadm-certs Secret",
        |a, v| a.upload_certs = v,
    ),
    flag(
        "certificate-key",
        "KEY",
        "Key used to encrypt the control-plane certificates in the kubeadm-certs Secret (hex, 32 bytes)",
        Slot::Text(|a, v| a.certificate_key = Some(v)),
    ),
    flag(
        "skip-phases",
        "LIST",
        "Phases to skip (comma-separated, e.g. addon/kube-proxy,preflight)",
        Slot::List(|a, v| a.skip_phases.push(v)),
    ),
    flag(
        "ignore-preflight-errors",
        "LIST",
        IGNORE_PREFLIGHT_ERRORS,
        Slot::List(|a, v| a.ignore_preflight_errors.push(v)),
    ),
    switch(
        "dry-run",
        "Write files under the root but call no API and start no service; print API objects instead",
        |a, v| a.dry_run = v,
    ),
];

pub(super) const JOIN: &[Flag<JoinArgs>] = &[
    flag(
        "config",
        "FILE",
        "Path to a kubeadm configuration file (JoinConfiguration)",
        Slot::Path(|a, v| a.config = Some(v)),
    ),
    flag(
        "token",
        "TOKEN",
        "Token for both discovery and TLS bootstrap",
        Slot::Text(|a, v| a.token = Some(v)),
    ),
    flag(
        "discovery-token",
        "TOKEN",
        "Token for discovery (verifies the cluster-info signature)",
        Slot::Text(|a, v| a.discovery_token = Some(v)),
    ),
    flag(
        "tls-bootstrap-token",
        "TOKEN",
        "Token for TLS bootstrap (authenticates the CSR)",
        Slot::Text(|a, v| a.tls_bootstrap_token = Some(v)),
    ),
    flag(
        "discovery-token-ca-cert-hash",
        "sha256:HEX",
        "Pin of the cluster CA: sha256:<hex of SHA-256 over its DER SubjectPublicKeyInfo> (repeatable)",
        Slot::List(|a, v| a.discovery_token_ca_cert_hash.push(v)),
    ),
    switch(
        "discovery-token-unsafe-skip-ca-verification",
        "Trust cluster-info without a CA pin (dangerous: anyone on the path can impersonate the cluster)",
        |a, v| a.discovery_token_unsafe_skip_ca_verification = v,
    ),
    flag(
        "discovery-file",
        "PATH|URL",
        "A kubeconfig file or https URL to discover the cluster from",
        Slot::Text(|a, v| a.discovery_file = Some(v)),
    ),
    flag(
        "node-name",
        "NAME",
        "Name of this node (default: the hostname, lowercased)",
        Slot::Text(|a, v| a.node_name = Some(v)),
    ),
    flag(
        "cri-socket",
        "SOCKET",
        "CRI socket to connect to",
        Slot::Text(|a, v| a.cri_socket = Some(v)),
    ),
    switch("control-plane", "Join as a control-plane node", |a, v| {
        a.control_plane = v
    }),
    flag(
        "certificate-key",
        "KEY",
        "Key to decrypt the kubeadm-certs Secret (with --control-plane)",
        Slot::Text(|a, v| a.certificate_key = Some(v)),
    ),
    flag(
        "apiserver-advertise-address",
        "IP",
        "IP address this control-plane node's API server advertises",
        Slot::Text(|a, v| a.apiserver_advertise_address = Some(v)),
    ),
    flag(
        "apiserver-bind-port",
        "PORT",
        "Port this control-plane node's API server binds to",
        Slot::Port(|a, v| a.apiserver_bind_port = Some(v)),
    ),
    flag(
        "skip-phases",
        "LIST",
        "Phases to skip (comma-separated)",
        Slot::List(|a, v| a.skip_phases.push(v)),
    ),
    flag(
        "ignore-preflight-errors",
        "LIST",
        IGNORE_PREFLIGHT_ERRORS,
        Slot::List(|a, v| a.ignore_preflight_errors.push(v)),
    ),
    flag(
        "tls-bootstrap",
        "MODE",
        "Who performs TLS bootstrap: kubeboot itself, or the kubelet (as kubeadm) [default: kubeboot]",
        Slot::TlsBootstrap(|a, v| a.tls_bootstrap = v),
    ),
    switch(
        "dry-run",
        "Write files under the root but call no API and start no service",
        |a, v| a.dry_run = v,
    ),
];
