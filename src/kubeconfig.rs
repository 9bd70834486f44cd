//! TODO(skeleton): kubeconfig phase.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fs(#[from] crate::fs::FsError),
}
