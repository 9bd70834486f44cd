//! Shared helpers for integration tests: `mod support;` in a test file.
//! Each test binary uses a different part, hence the dead-code allowance.
#![allow(dead_code, unused_imports)]

pub mod apiserver;
pub mod clock;
pub mod kubelet;
pub mod logs;

pub use apiserver::{
    CLUSTER_INFO_PATH, CSR_PATH, ClientIdentity, CsrIssue, CsrPolicy, Fault, FaultRule, Forgery,
    RequestRecord, Signing, TestApiServer, TokenOpts,
};
pub use clock::VirtualClock;
