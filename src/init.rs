//! `kubeboot init`: kubeadm's init phases in kubeadm's order.

use crate::{Error, Result, cli::InitCommand, fs::Root};

pub fn run_command(_root: &Root, _cmd: InitCommand) -> Result<()> {
    Err(Error::Usage("kubeboot init is not implemented yet".into()))
}
