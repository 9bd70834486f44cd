//! `kubeboot boot`: the first-boot job.

pub mod decide;

use crate::{Error, Result, cli::BootArgs, fs::Root};

pub fn run_command(_root: &Root, _args: BootArgs) -> Result<()> {
    Err(Error::Usage("kubeboot boot is not implemented yet".into()))
}
