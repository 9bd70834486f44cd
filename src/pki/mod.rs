//! Certificates and keys, exactly as kubeadm's `certs` phase makes them.

use crate::ExitCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fs(#[from] crate::fs::FsError),
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::Filesystem
    }
}
