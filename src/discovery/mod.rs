//! TODO(skeleton): discovery.

use crate::ExitCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("TODO")]
    Todo,
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::Failure
    }
}
