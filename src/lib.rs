//! kubeboot: a first-boot Kubernetes node agent. The pipeline, one module per stage:
//!
//! user-data (`userdata`) → config (`config`) → plan (`plan`: init or join) → phases
//! (`preflight`, `pki`, `kubeconfig`, `manifests`, `kubelet`, `discovery`, `tlsbootstrap`,
//! `cluster`) → files through one root (`fs`) and calls to the API server (`api`).
//! `boot` drives the whole first-boot job; `init` and `join` are kubeadm's commands.

pub mod api;
pub mod boot;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod discovery;
pub mod error;
pub mod etcd;
pub mod fs;
pub mod init;
pub mod join;
pub mod kubeconfig;
pub mod kubelet;
pub mod logging;
pub mod manifests;
pub mod online;
pub mod pki;
pub mod preflight;
pub mod process;
pub mod proxy;
pub mod retry;
pub mod service;
pub mod state;
pub mod tlsbootstrap;
pub mod userdata;

pub use error::{Error, ExitCode, Result};

use cli::{Cli, Command};

/// Runs one command. `main` only parses arguments and maps the result to an exit code.
pub fn run(cli: Cli) -> Result<()> {
    let root = fs::Root::new(&cli.global.root);
    match cli.command {
        Command::Version => {
            println!("kubeboot version {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Init(cmd) => init::run_command(&root, *cmd),
        Command::Join(args) => join::run_command(&root, *args),
        Command::Boot(args) => boot::run_command(&root, args),
    }
}
