//! The command line, in kubeadm's words: same subcommands, phase names and flag names wherever
//! kubeadm has them. Scripts drive kubeboot through this interface: keep it stable.
//!
//! `flags` holds one table per command (name, value, help line, where the value goes); `parse`
//! reads argv against those tables with lexopt and `help` prints them, so a flag is declared
//! once. `--flag value`, `--flag=value`, comma lists, repeated list flags and pflag's
//! `--switch=true|false` are accepted, as kubeadm (cobra/pflag) accepts them.

mod flags;
mod help;
mod parse;

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use crate::config::model::redacted;
use crate::error::ExitCode;

#[derive(Debug)]
pub struct Cli {
    pub global: GlobalFlags,
    pub command: Command,
}

impl Cli {
    /// Parses a command line; the first item is the program name, as in `std::env::args_os()`.
    /// `--help` and `--version` come back as [`CliError::Printed`].
    pub fn try_parse_from<I, T>(args: I) -> Result<Cli, CliError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        parse::parse(args)
    }
}

/// Why the command line did not give a command to run.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// `--help` or `--version` was asked for: this text goes to stdout and the exit code is 0.
    #[error("{0}")]
    Printed(String),
    /// The command line is wrong: the message goes to stderr with a pointer to the help of the
    /// command at fault (`kubeboot init phase`, ...), and the exit code is 2.
    #[error("error: {message}\n\ntry '{command} --help'\n")]
    Usage {
        message: String,
        command: &'static str,
    },
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Printed(_) => ExitCode::Ok,
            CliError::Usage { .. } => ExitCode::Usage,
        }
    }

    /// Writes the text where scripts expect it: help and version on stdout, errors on stderr.
    pub fn print(&self) {
        match self {
            CliError::Printed(text) => print!("{text}"),
            CliError::Usage { .. } => eprint!("{self}"),
        }
    }
}

/// Flags every command takes, before or after the command name (kubeadm's persistent flags).
#[derive(Debug, Clone)]
pub struct GlobalFlags {
    /// Directory that stands for "/" on the node.
    pub root: PathBuf,
    /// kubeadm's verbosity scale: 0-1 info, 2-4 debug, 5+ trace.
    pub verbosity: u8,
}

impl Default for GlobalFlags {
    fn default() -> Self {
        GlobalFlags {
            root: PathBuf::from("/"),
            verbosity: 0,
        }
    }
}

#[derive(Debug)]
pub enum Command {
    Boot(BootArgs),
    Init(Box<InitCommand>),
    Join(Box<JoinArgs>),
    Version,
}

/// `boot` flags (their help lines are in `flags::BOOT`). `Debug` shows `--user-data` without
/// the credentials a presigned URL carries.
#[derive(Default)]
pub struct BootArgs {
    pub datasource: Option<String>,
    pub user_data: Option<String>,
    pub ignore_preflight_errors: Vec<String>,
    pub dry_run: bool,
}

/// `init [flags]`, or `init phase <phase> [sub-phase] [flags]`.
#[derive(Debug)]
pub struct InitCommand {
    pub phase: Option<InitSub>,
    pub args: InitArgs,
}

#[derive(Debug)]
pub enum InitSub {
    Phase(PhaseArgs),
}

#[derive(Debug)]
pub struct PhaseArgs {
    /// Phase name (preflight, certs, kubeconfig, ...), checked by `init`.
    pub phase: String,
    /// Sub-phase name, or `all`; `None` means all.
    pub sub_phase: Option<String>,
    pub args: InitArgs,
}

/// `kubeadm init` flags (their help lines are in `flags::INIT`). Each overrides the matching
/// field of `--config`, as in kubeadm. `Debug` shows whether a token or certificate key is set,
/// never its value.
#[derive(Default, Clone)]
pub struct InitArgs {
    pub config: Option<PathBuf>,
    pub node_name: Option<String>,
    pub apiserver_advertise_address: Option<String>,
    pub apiserver_bind_port: Option<u16>,
    pub control_plane_endpoint: Option<String>,
    pub service_cidr: Option<String>,
    pub pod_network_cidr: Option<String>,
    pub service_dns_domain: Option<String>,
    pub apiserver_cert_extra_sans: Vec<String>,
    pub cert_dir: Option<String>,
    pub kubernetes_version: Option<String>,
    pub image_repository: Option<String>,
    pub cri_socket: Option<String>,
    pub token: Option<String>,
    pub token_ttl: Option<String>,
    pub upload_certs: bool,
    pub certificate_key: Option<String>,
    pub skip_phases: Vec<String>,
    pub ignore_preflight_errors: Vec<String>,
    pub dry_run: bool,
}

/// How the kubelet's client certificate is obtained on join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsBootstrapMode {
    /// kubeboot sends the CSR and writes kubelet.conf before the kubelet starts (default)
    #[default]
    Kubeboot,
    /// write bootstrap-kubelet.conf and leave the CSR to the kubelet, as kubeadm does
    Kubelet,
}

/// `kubeadm join` flags (their help lines are in `flags::JOIN`). `Debug` shows whether a token
/// or certificate key is set, never its value.
#[derive(Default, Clone)]
pub struct JoinArgs {
    /// host:port of the API server to discover the cluster from (the one positional argument)
    pub api_server_endpoint: Option<String>,
    pub config: Option<PathBuf>,
    pub token: Option<String>,
    pub discovery_token: Option<String>,
    pub tls_bootstrap_token: Option<String>,
    pub discovery_token_ca_cert_hash: Vec<String>,
    pub discovery_token_unsafe_skip_ca_verification: bool,
    pub discovery_file: Option<String>,
    pub node_name: Option<String>,
    pub cri_socket: Option<String>,
    pub control_plane: bool,
    pub certificate_key: Option<String>,
    pub apiserver_advertise_address: Option<String>,
    pub apiserver_bind_port: Option<u16>,
    pub skip_phases: Vec<String>,
    pub ignore_preflight_errors: Vec<String>,
    pub tls_bootstrap: TlsBootstrapMode,
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
