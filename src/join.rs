//! `kubeboot join`: discovery, TLS bootstrap, kubelet files.

use crate::{Error, Result, cli::JoinArgs, fs::Root};

pub fn run_command(_root: &Root, _args: JoinArgs) -> Result<()> {
    Err(Error::Usage("kubeboot join is not implemented yet".into()))
}
