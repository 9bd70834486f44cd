//! The command line, in kubeadm's words: same subcommands, phase names and flag names wherever
//! kubeadm has them. Scripts drive kubeboot through this interface: keep it stable.

use std::fmt;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::model::redacted;

#[derive(Debug, Parser)]
#[command(
    name = "kubeboot",
    version,
    about = "First-boot Kubernetes node agent: kubeadm init/join from user-data, in one static binary",
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalFlags,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalFlags {
    /// Directory that stands for "/" on the node: every path kubeboot reads or writes is taken under it
    #[arg(long, global = true, default_value = "/", value_name = "DIR")]
    pub root: PathBuf,
    /// Log verbosity (kubeadm's scale: 0-1 info, 2-4 debug, 5+ trace)
    #[arg(
        short = 'v',
        long = "v",
        global = true,
        default_value_t = 0,
        value_name = "N"
    )]
    pub verbosity: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Find this machine's user-data, decide init or join, run it once and report (first boot)
    Boot(BootArgs),
    /// Initialise a Kubernetes control-plane node, as `kubeadm init`
    Init(Box<InitCommand>),
    /// Join this node to a cluster, as `kubeadm join`
    Join(Box<JoinArgs>),
    /// Print the version of kubeboot
    Version,
}

/// `Debug` shows `--user-data` without the credentials a presigned URL carries.
#[derive(Args)]
pub struct BootArgs {
    /// Use only this user-data source (local, cmdline, nocloud, configdrive, ec2, gce, azure, openstack)
    #[arg(long, value_name = "NAME")]
    pub datasource: Option<String>,
    /// Read user-data from this file or http(s) URL instead of probing sources
    #[arg(long = "user-data", value_name = "PATH|URL")]
    pub user_data: Option<String>,
    /// Preflight checks whose errors become warnings (comma-separated names, or all)
    #[arg(long, value_delimiter = ',')]
    pub ignore_preflight_errors: Vec<String>,
    /// Write files under the root but call no API and start no service; print API objects instead
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct InitCommand {
    #[command(subcommand)]
    pub phase: Option<InitSub>,
    #[command(flatten)]
    pub args: InitArgs,
}

#[derive(Debug, Subcommand)]
pub enum InitSub {
    /// Run one phase of init: `init phase <phase> [all|<sub-phase>]`
    Phase(PhaseArgs),
}

#[derive(Debug, Args)]
pub struct PhaseArgs {
    /// Phase name (preflight, certs, kubeconfig, etcd, control-plane, kubelet-start, ...)
    pub phase: String,
    /// Sub-phase name, or `all` (the default)
    pub sub_phase: Option<String>,
    #[command(flatten)]
    pub args: InitArgs,
}

/// `kubeadm init` flags. Each overrides the matching field of `--config`, as in kubeadm.
/// `Debug` shows whether a token or certificate key is set, never its value.
#[derive(Args, Default, Clone)]
pub struct InitArgs {
    /// Path to a kubeadm configuration file (InitConfiguration, ClusterConfiguration, KubeletConfiguration)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Name of this node (default: the hostname, lowercased)
    #[arg(long)]
    pub node_name: Option<String>,
    /// IP address the API server advertises
    #[arg(long)]
    pub apiserver_advertise_address: Option<String>,
    /// Port the API server binds to
    #[arg(long)]
    pub apiserver_bind_port: Option<u16>,
    /// Stable IP address or DNS name (with optional port) for the control plane
    #[arg(long)]
    pub control_plane_endpoint: Option<String>,
    /// CIDR for service virtual IPs
    #[arg(long)]
    pub service_cidr: Option<String>,
    /// CIDR for the Pod network; the controller-manager allocates node CIDRs from it
    #[arg(long)]
    pub pod_network_cidr: Option<String>,
    /// DNS domain for services
    #[arg(long)]
    pub service_dns_domain: Option<String>,
    /// Extra Subject Alternative Names (IPs or DNS names) for the API server certificate
    #[arg(long, value_delimiter = ',')]
    pub apiserver_cert_extra_sans: Vec<String>,
    /// Where certificates are stored
    #[arg(long)]
    pub cert_dir: Option<String>,
    /// Kubernetes version of the control plane
    #[arg(long)]
    pub kubernetes_version: Option<String>,
    /// Container registry to pull control-plane images from
    #[arg(long)]
    pub image_repository: Option<String>,
    /// CRI socket to connect to
    #[arg(long)]
    pub cri_socket: Option<String>,
    /// Bootstrap token to create (format [a-z0-9]{6}.[a-z0-9]{16}); generated when absent
    #[arg(long)]
    pub token: Option<String>,
    /// Lifetime of the bootstrap token (e.g. 24h0m0s); 0 = never expires
    #[arg(long)]
    pub token_ttl: Option<String>,
    /// Upload control-plane certificates to the kubeadm-certs Secret
    #[arg(long)]
    pub upload_certs: bool,
    /// Key used to encrypt the control-plane certificates in the kubeadm-certs Secret (hex, 32 bytes)
    #[arg(long)]
    pub certificate_key: Option<String>,
    /// Phases to skip (comma-separated, e.g. addon/kube-proxy,preflight)
    #[arg(long, value_delimiter = ',')]
    pub skip_phases: Vec<String>,
    /// Preflight checks whose errors become warnings (comma-separated names, or all)
    #[arg(long, value_delimiter = ',')]
    pub ignore_preflight_errors: Vec<String>,
    /// Write files under the root but call no API and start no service; print API objects instead
    #[arg(long)]
    pub dry_run: bool,
}

/// How the kubelet's client certificate is obtained on join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TlsBootstrapMode {
    /// kubeboot sends the CSR and writes kubelet.conf before the kubelet starts (default)
    #[default]
    Kubeboot,
    /// write bootstrap-kubelet.conf and leave the CSR to the kubelet, as kubeadm does
    Kubelet,
}

/// `kubeadm join` flags. `Debug` shows whether a token or certificate key is set, never its
/// value.
#[derive(Args, Default, Clone)]
pub struct JoinArgs {
    /// host:port of the API server to discover the cluster from
    pub api_server_endpoint: Option<String>,
    /// Path to a kubeadm configuration file (JoinConfiguration)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Token for both discovery and TLS bootstrap
    #[arg(long)]
    pub token: Option<String>,
    /// Token for discovery (verifies the cluster-info signature)
    #[arg(long)]
    pub discovery_token: Option<String>,
    /// Token for TLS bootstrap (authenticates the CSR)
    #[arg(long)]
    pub tls_bootstrap_token: Option<String>,
    /// Pin of the cluster CA: sha256:<hex of SHA-256 over its DER SubjectPublicKeyInfo> (repeatable)
    #[arg(long, value_delimiter = ',')]
    pub discovery_token_ca_cert_hash: Vec<String>,
    /// Trust cluster-info without a CA pin (dangerous: anyone on the path can impersonate the cluster)
    #[arg(long)]
    pub discovery_token_unsafe_skip_ca_verification: bool,
    /// A kubeconfig file or https URL to discover the cluster from
    #[arg(long)]
    pub discovery_file: Option<String>,
    /// Name of this node (default: the hostname, lowercased)
    #[arg(long)]
    pub node_name: Option<String>,
    /// CRI socket to connect to
    #[arg(long)]
    pub cri_socket: Option<String>,
    /// Join as a control-plane node
    #[arg(long)]
    pub control_plane: bool,
    /// Key to decrypt the kubeadm-certs Secret (with --control-plane)
    #[arg(long)]
    pub certificate_key: Option<String>,
    /// IP address this control-plane node's API server advertises
    #[arg(long)]
    pub apiserver_advertise_address: Option<String>,
    /// Port this control-plane node's API server binds to
    #[arg(long)]
    pub apiserver_bind_port: Option<u16>,
    /// Phases to skip (comma-separated)
    #[arg(long, value_delimiter = ',')]
    pub skip_phases: Vec<String>,
    /// Preflight checks whose errors become warnings (comma-separated names, or all)
    #[arg(long, value_delimiter = ',')]
    pub ignore_preflight_errors: Vec<String>,
    /// Who performs TLS bootstrap: kubeboot itself, or the kubelet (as kubeadm)
    #[arg(long, value_enum, default_value_t = TlsBootstrapMode::Kubeboot)]
    pub tls_bootstrap: TlsBootstrapMode,
    /// Write files under the root but call no API and start no service
    #[arg(long)]
    pub dry_run: bool,
}

impl fmt::Debug for BootArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootArgs")
            .field("datasource", &self.datasource)
            .field(
                "user_data",
                &self.user_data.as_deref().map(crate::logging::redact_url),
            )
            .field("ignore_preflight_errors", &self.ignore_preflight_errors)
            .field("dry_run", &self.dry_run)
            .finish()
    }
}

impl fmt::Debug for InitArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InitArgs")
            .field("config", &self.config)
            .field("node_name", &self.node_name)
            .field(
                "apiserver_advertise_address",
                &self.apiserver_advertise_address,
            )
            .field("apiserver_bind_port", &self.apiserver_bind_port)
            .field("control_plane_endpoint", &self.control_plane_endpoint)
            .field("service_cidr", &self.service_cidr)
            .field("pod_network_cidr", &self.pod_network_cidr)
            .field("service_dns_domain", &self.service_dns_domain)
            .field("apiserver_cert_extra_sans", &self.apiserver_cert_extra_sans)
            .field("cert_dir", &self.cert_dir)
            .field("kubernetes_version", &self.kubernetes_version)
            .field("image_repository", &self.image_repository)
            .field("cri_socket", &self.cri_socket)
            .field("token", &format_args!("{}", redacted(&self.token)))
            .field("token_ttl", &self.token_ttl)
            .field("upload_certs", &self.upload_certs)
            .field(
                "certificate_key",
                &format_args!("{}", redacted(&self.certificate_key)),
            )
            .field("skip_phases", &self.skip_phases)
            .field("ignore_preflight_errors", &self.ignore_preflight_errors)
            .field("dry_run", &self.dry_run)
            .finish()
    }
}

impl fmt::Debug for JoinArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinArgs")
            .field("api_server_endpoint", &self.api_server_endpoint)
            .field("config", &self.config)
            .field("token", &format_args!("{}", redacted(&self.token)))
            .field(
                "discovery_token",
                &format_args!("{}", redacted(&self.discovery_token)),
            )
            .field(
                "tls_bootstrap_token",
                &format_args!("{}", redacted(&self.tls_bootstrap_token)),
            )
            .field(
                "discovery_token_ca_cert_hash",
                &self.discovery_token_ca_cert_hash,
            )
            .field(
                "discovery_token_unsafe_skip_ca_verification",
                &self.discovery_token_unsafe_skip_ca_verification,
            )
            .field(
                "discovery_file",
                &self
                    .discovery_file
                    .as_deref()
                    .map(crate::logging::redact_url),
            )
            .field("node_name", &self.node_name)
            .field("cri_socket", &self.cri_socket)
            .field("control_plane", &self.control_plane)
            .field(
                "certificate_key",
                &format_args!("{}", redacted(&self.certificate_key)),
            )
            .field(
                "apiserver_advertise_address",
                &self.apiserver_advertise_address,
            )
            .field("apiserver_bind_port", &self.apiserver_bind_port)
            .field("skip_phases", &self.skip_phases)
            .field("ignore_preflight_errors", &self.ignore_preflight_errors)
            .field("tls_bootstrap", &self.tls_bootstrap)
            .field("dry_run", &self.dry_run)
            .finish()
    }
}

#[cfg(test)]
mod tests;
