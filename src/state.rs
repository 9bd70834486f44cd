//! TODO(skeleton): phase journal and result.json under /var/lib/kubeboot.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fs(#[from] crate::fs::FsError),
}
