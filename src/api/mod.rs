//! TODO(skeleton): Kubernetes API client.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("TODO")]
    Todo,
}
