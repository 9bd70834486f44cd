//! What a join waits for once it has started the kubelet, as kubeadm's join:
//!
//! - `kubelet-wait-bootstrap` (`phases/join/kubelet.go`, `runKubeletWaitBootstrapPhase`): the
//!   kubelet's `/healthz` within `timeouts.kubeletHealthCheck`, then a loadable
//!   `/etc/kubernetes/kubelet.conf` (with the client certificate and key it names) within
//!   `timeouts.tlsBootstrap`: with `--tls-bootstrap=kubelet` that file appears only once the
//!   kubelet's own CSR is approved. Before `NodeLocalCRISocket` (1.34), the CRI socket is then
//!   annotated on the Node with the kubelet's own credentials, once it has registered. Then,
//!   whatever the outcome, `bootstrap-kubelet.conf` is deleted, so that the bootstrap token
//!   does not stay on disk.
//! - `wait-control-plane` (`phases/join/waitcontrolplane.go`), for a control-plane node under
//!   `WaitForAllControlPlaneComponents`: each component of this node's control plane answers
//!   its health check, the API server through admin.conf's credentials at this node's own
//!   endpoint (kubeadm's `WaitControlPlaneClient`), within
//!   `timeouts.controlPlaneComponentHealthCheck`.
//!
//! Both wait only for a kubelet the join started ([`KubeletStart::Started`]): after a dry run,
//! with a root other than `/` or without systemd nothing runs that could answer, so they say
//! so and leave the files as they are.
//!
//! The polls and the clock come from [`JoinOptions`]; the health checks themselves are init's
//! ([`crate::online`]).

use std::time::Duration;

use super::{JoinOptions, RemoteConfig};
use crate::ExitCode;
use crate::api::RetryPolicy;
use crate::config::duration::format_go_duration;
use crate::config::model::{InitConfiguration, JoinConfiguration};
use crate::fs::Root;
use crate::kubeconfig;
use crate::online::{self, KUBELET_FAIL_HINTS, KubeconfigCredentials, WaitOptions};
use crate::preflight::{BOOTSTRAP_KUBELET_KUBECONFIG, KUBELET_KUBECONFIG};
use crate::retry::Backoff;
use crate::service::KubeletStart;

/// The polls of the waits, near kubeadm's intervals: the kubelet and the components every
/// 0.5 s, `kubelet.conf` every 1 s.
pub const POLL: Backoff = Backoff {
    initial: Duration::from_millis(500),
    max: Duration::from_secs(1),
};

/// Why a wait of the join failed. The messages say what to look at on the node.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "the kubelet did not become healthy within {}: {detail}\n{KUBELET_FAIL_HINTS}",
        format_go_duration(*.timeout)
    )]
    KubeletUnhealthy { timeout: Duration, detail: String },
    #[error(
        "the kubelet did not perform the TLS bootstrap within {}: {KUBELET_KUBECONFIG} {last}; \
         {BOOTSTRAP_KUBELET_KUBECONFIG} is removed so that its token does not stay on disk (a new \
         join writes it again). Check the kubelet's certificate signing request ('kubectl get \
         csr' on a control-plane node) and the kubelet's log.\n{KUBELET_FAIL_HINTS}",
        format_go_duration(*.timeout)
    )]
    NotBootstrapped { timeout: Duration, last: String },
    #[error(
        "failed while waiting for the control plane to start: {detail}\nA control plane \
         component may have crashed or exited when started by the container runtime.\n{}",
        online::crictl_hints(.cri_socket)
    )]
    ControlPlaneNotStarted { detail: String, cri_socket: String },
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::NotBootstrapped { .. } => ExitCode::TlsBootstrap,
            Error::KubeletUnhealthy { .. } | Error::ControlPlaneNotStarted { .. } => {
                ExitCode::Cluster
            }
        }
    }
}

/// Phase `kubelet-wait-bootstrap`: waits for the kubelet `started` (see the module
/// documentation), then deletes `bootstrap-kubelet.conf`, also when the wait failed.
pub fn kubelet_wait_bootstrap(
    root: &Root,
    cfg: &JoinConfiguration,
    remote: &RemoteConfig,
    started: KubeletStart,
    opts: &JoinOptions,
) -> crate::Result<()> {
    if let KubeletStart::NotStarted(why) = started {
        let kept = if root.exists(BOOTSTRAP_KUBELET_KUBECONFIG) {
            format!("; {BOOTSTRAP_KUBELET_KUBECONFIG} is left in place")
        } else {
            String::new()
        };
        log::info!(
            "[kubelet-wait] Not waiting for the kubelet to be bootstrapped: kubeboot did not \
             start it ({why}){kept}"
        );
        return Ok(());
    }
    let waited = wait_for_bootstrapped_kubelet(root, cfg, remote, opts);
    // As kubeadm, whatever the outcome: the bootstrap token must not stay on disk.
    if let Err(e) = root.remove_file(BOOTSTRAP_KUBELET_KUBECONFIG) {
        if waited.is_ok() {
            return Err(e.into());
        }
        log::warn!("[kubelet-wait] {e}");
    }
    waited
}

fn wait_for_bootstrapped_kubelet(
    root: &Root,
    cfg: &JoinConfiguration,
    remote: &RemoteConfig,
    opts: &JoinOptions,
) -> crate::Result<()> {
    let healthz =
        (opts.kubelet_healthz.clone()).or_else(|| online::kubelet_healthz_url(&remote.kubelet));
    let wait = wait_options(healthz, opts);
    match &wait.kubelet_healthz {
        Some(url) => {
            let timeout = cfg.timeouts.kubelet_health_check;
            online::wait_for_kubelet(&wait, url, timeout)
                .map_err(|detail| Error::KubeletUnhealthy { timeout, detail })?;
        }
        None => log::info!(
            "[kubelet-check] Skipping the kubelet health check because the healthz port is set to 0"
        ),
    }
    let timeout = opts
        .tls_bootstrap_timeout
        .unwrap_or(cfg.timeouts.tls_bootstrap);
    let kubelet = wait_for_kubelet_conf(root, &wait, timeout)?;
    if !crate::kubelet::node_local_cri_socket(&remote.cluster) {
        log::debug!("[kubelet-start] preserving the crisocket information for the node");
        let cri_socket = &cfg.node_registration.cri_socket;
        online::patch_node_with(
            &kubelet.client(opts.api_retry.clone())?,
            &wait,
            cfg.timeouts.kubernetes_api_call,
            &super::node_name(cfg, &opts.kubelet_host),
            online::cri_socket_change(cri_socket),
        )?;
    }
    Ok(())
}

/// kubeadm's `waitForTLSBootstrappedClient`: `kubelet.conf` loads and gives a client, which
/// also needs the certificate and key files it names. Returns its credentials.
fn wait_for_kubelet_conf(
    root: &Root,
    wait: &WaitOptions,
    timeout: Duration,
) -> crate::Result<KubeconfigCredentials> {
    log::info!("[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap");
    let mut last = String::from("does not exist yet");
    let loaded = online::poll_until(wait, timeout, || {
        let loaded = KubeconfigCredentials::load_optional(root, KUBELET_KUBECONFIG);
        let usable = loaded.and_then(|conf| match conf {
            Some(conf) => conf.client(RetryPolicy::no_retry()).map(|_| Some(conf)),
            None => Ok(None),
        });
        match usable {
            Ok(Some(conf)) => return Ok(Some(conf)),
            Ok(None) => last = "does not exist yet".into(),
            // The kubelet writes this file, not the kubeconfig phase the message would name.
            Err(online::Error::Kubeconfig { reason, .. }) => {
                last = format!("cannot be used yet: {reason}")
            }
            Err(e) => last = format!("cannot be used yet: {e}"),
        }
        Ok(None)
    })?;
    loaded.ok_or_else(|| Error::NotBootstrapped { timeout, last }.into())
}

/// Phase `wait-control-plane` of a control-plane join (see the module documentation).
pub fn wait_control_plane(
    root: &Root,
    cfg: &JoinConfiguration,
    init: &InitConfiguration,
    started: KubeletStart,
    opts: &JoinOptions,
) -> crate::Result<()> {
    if !online::wait_for_all_components(init) {
        log::debug!(
            "[wait-control-plane] Skipping phase as the feature gate \
             WaitForAllControlPlaneComponents is disabled"
        );
        return Ok(());
    }
    if let KubeletStart::NotStarted(why) = started {
        log::info!(
            "[wait-control-plane] Not waiting for the control plane to start: kubeboot did not \
             start the kubelet ({why})"
        );
        return Ok(());
    }
    let api = local_api_client(root, init, opts)?;
    let wait = wait_options(None, opts);
    online::wait_for_control_plane_components(
        root,
        init,
        &wait,
        cfg.timeouts.control_plane_component_health_check,
        Some(&api),
    )
    .map_err(|detail| Error::ControlPlaneNotStarted {
        detail,
        cri_socket: cfg.node_registration.cri_socket.clone(),
    })?;
    Ok(())
}

/// kubeadm's `WaitControlPlaneClient`: admin.conf, pointed at this node's own API server.
fn local_api_client(
    root: &Root,
    init: &InitConfiguration,
    opts: &JoinOptions,
) -> crate::Result<crate::api::Client> {
    let mut admin = KubeconfigCredentials::load(root, online::ADMIN_CONF)?;
    admin.server = kubeconfig::local_api_endpoint(&init.local_api_endpoint)?;
    let retry = RetryPolicy::no_retry().with_clock(opts.api_retry.clock.clone());
    Ok(admin.client(retry)?)
}

fn wait_options(kubelet_healthz: Option<String>, opts: &JoinOptions) -> WaitOptions {
    WaitOptions {
        kubelet_healthz,
        poll: opts.wait_poll,
        request_timeout: opts.request_timeout,
        clock: opts.api_retry.clock.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::FakeClock;

    /// kubelet.conf as the kubelet writes it at the end of its TLS bootstrap: the credentials
    /// are in the file its `current` link names.
    const KUBELET_CONF: &str = "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: CA_DATA
    server: https://10.0.0.1:6443
  name: default-cluster
contexts:
- context:
    cluster: default-cluster
    namespace: default
    user: default-auth
  name: default-context
current-context: default-context
kind: Config
users:
- name: default-auth
  user:
    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem
    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem
";

    /// A certificate (standing for the CA too) and its key.
    fn client_pem() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["system:node:worker-1".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn wait(clock: &std::sync::Arc<FakeClock>) -> WaitOptions {
        WaitOptions {
            kubelet_healthz: None,
            poll: POLL,
            request_timeout: Duration::from_secs(1),
            clock: clock.clone(),
        }
    }

    #[test]
    fn a_kubelet_conf_whose_credentials_are_missing_is_not_a_bootstrapped_kubelet() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let clock = FakeClock::new();
        let timeout = Duration::from_secs(20);

        let e = wait_for_kubelet_conf(&root, &wait(&clock), timeout).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::TlsBootstrap);
        let text = e.to_string();
        assert!(
            text.starts_with(
                "the kubelet did not perform the TLS bootstrap within 20s: \
                 /etc/kubernetes/kubelet.conf does not exist yet"
            ),
            "{text}"
        );
        assert!(text.contains("'journalctl -xeu kubelet'"), "{text}");
        assert_eq!(clock.sleeps().iter().sum::<Duration>(), timeout);
        assert!(clock.sleeps().iter().all(|s| *s <= POLL.max));

        use base64::Engine;
        let (cert, key) = client_pem();
        let ca = base64::engine::general_purpose::STANDARD.encode(&cert);
        let conf = KUBELET_CONF.replace("CA_DATA", &ca);
        root.write_atomic(KUBELET_KUBECONFIG, conf.as_bytes(), 0o600)
            .unwrap();
        let text = wait_for_kubelet_conf(&root, &wait(&FakeClock::new()), timeout)
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("kubelet.conf cannot be used yet")
                && text.contains("/var/lib/kubelet/pki/kubelet-client-current.pem"),
            "{text}"
        );

        root.write_atomic(
            "/var/lib/kubelet/pki/kubelet-client-current.pem",
            format!("{cert}{key}").as_bytes(),
            0o600,
        )
        .unwrap();
        let clock = FakeClock::new();
        wait_for_kubelet_conf(&root, &wait(&clock), timeout).unwrap();
        assert!(clock.sleeps().is_empty());
    }
}
