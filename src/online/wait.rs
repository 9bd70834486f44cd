//! `wait-control-plane`: wait for the kubelet to be healthy, then for the control plane it
//! starts from the static Pod manifests, as kubeadm's `KubeWaiter` (`util/apiclient/wait.go`):
//!
//! - the kubelet's `/healthz` (`http://127.0.0.1:10248/healthz` by default), within
//!   `timeouts.kubeletHealthCheck`;
//! - with `WaitForAllControlPlaneComponents` (beta and on by default from 1.33) each
//!   component's own health endpoint, at the address and port its manifest's command line
//!   gives: kube-apiserver `/livez`, kube-controller-manager `/healthz`, kube-scheduler
//!   `/livez`;
//! - in every case the API server through admin.conf: `/livez` then `/readyz` (`/healthz`
//!   where those do not exist), so that the next phases meet a ready server with a trusted
//!   certificate. All of it within `timeouts.controlPlaneComponentHealthCheck`.
//!
//! Polls wait with capped exponential backoff; time is read and spent through an injected
//! [`Clock`].

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{ADMIN_CONF, Error, KubeconfigCredentials, OnlineContext, Result};
use crate::api::{self, Auth, ClientOptions, Method, RetryPolicy, Trust};
use crate::config::duration::format_go_duration;
use crate::config::model::InitConfiguration;
use crate::config::net::join_host_port;
use crate::fs::Root;
use crate::manifests::{self, MANIFESTS_DIR, manifest_path};
use crate::retry::{self, Backoff, Clock};

/// kubeadm's feature gate for checking every control-plane component.
pub const WAIT_FOR_ALL_CONTROL_PLANE_COMPONENTS: &str = "WaitForAllControlPlaneComponents";

/// How the waits poll, and what they poll.
#[derive(Clone)]
pub struct WaitOptions {
    /// The kubelet's health endpoint; `None` skips the check (`healthzPort: 0`).
    pub kubelet_healthz: Option<String>,
    /// Waits between polls.
    pub poll: Backoff,
    /// Time of one health request.
    pub request_timeout: Duration,
    pub clock: Arc<dyn Clock>,
}

impl WaitOptions {
    /// The kubelet endpoint from the kubelet configuration (`healthzBindAddress`,
    /// `healthzPort`), polls every 0.5 s at first (kubeadm's interval) backing off to 5 s.
    pub fn for_config(cfg: &InitConfiguration) -> Self {
        WaitOptions {
            kubelet_healthz: kubelet_healthz_url(&crate::kubelet::defaulted_kubelet_config(
                &cfg.cluster,
                &cfg.kubelet,
            )),
            poll: Backoff {
                initial: Duration::from_millis(500),
                max: Duration::from_secs(5),
            },
            request_timeout: Duration::from_secs(10),
            clock: retry::system_clock(),
        }
    }
}

/// The kubelet's `/healthz` URL from a KubeletConfiguration (`healthzBindAddress`,
/// `healthzPort`, the kubelet's defaults where unset); `None` when the port is 0: kubeadm then
/// skips the check.
pub fn kubelet_healthz_url(kubelet: &serde_yaml::Mapping) -> Option<String> {
    let port = match kubelet.get("healthzPort") {
        None => crate::kubelet::HEALTHZ_PORT,
        Some(port) => port.as_u64()?,
    };
    if port == 0 {
        return None;
    }
    let address = kubelet
        .get("healthzBindAddress")
        .and_then(serde_yaml::Value::as_str)
        .filter(|a| !a.is_empty())
        .unwrap_or(crate::kubelet::HEALTHZ_BIND_ADDRESS);
    Some(format!("http://{}/healthz", join_host_port(address, port)))
}

/// Calls `attempt` until it returns `Some`, an error, or `timeout` has passed (`Ok(None)`).
/// Waits grow from `poll.initial` to `poll.max`, never past the deadline.
pub(crate) fn poll_until<T>(
    wait: &WaitOptions,
    timeout: Duration,
    mut attempt: impl FnMut() -> Result<Option<T>>,
) -> Result<Option<T>> {
    let clock = &wait.clock;
    let deadline = clock.now() + timeout;
    let mut n = 0u32;
    loop {
        if let Some(done) = attempt()? {
            return Ok(Some(done));
        }
        let now = clock.now();
        if now >= deadline {
            return Ok(None);
        }
        // At least 1 ms, so that even a zero backoff moves the clock toward the deadline.
        let wait_for = wait.poll.ceiling(n).max(Duration::from_millis(1));
        clock.sleep(wait_for.min(deadline - now));
        n = n.saturating_add(1);
    }
}

/// The `wait-control-plane` phase.
pub fn wait_control_plane(ctx: &OnlineContext, sub: Option<&str>) -> Result<()> {
    super::phases::no_sub_phase("wait-control-plane", sub)?;
    if ctx.target.is_dry_run() {
        log::info!(
            "[dryrun] Would wait for the kubelet and the control plane to be healthy; skipped"
        );
        return Ok(());
    }
    log::info!(
        "[wait-control-plane] Waiting for the kubelet to boot up the control plane as static \
         Pods from directory {MANIFESTS_DIR:?}"
    );
    let unhealthy = |detail: String| Error::ControlPlaneUnhealthy {
        detail,
        cri_socket: ctx.cfg.node_registration.cri_socket.clone(),
    };
    let timeouts = &ctx.cfg.timeouts;
    if let Some(url) = &ctx.wait.kubelet_healthz {
        wait_for_kubelet(&ctx.wait, url, timeouts.kubelet_health_check).map_err(unhealthy)?;
    } else {
        log::info!(
            "[kubelet-check] Skipping the kubelet health check because the healthz port is set to 0"
        );
    }

    let timeout = timeouts.control_plane_component_health_check;
    let start = ctx.wait.clock.now();
    if wait_for_all_components(ctx.cfg) {
        wait_for_control_plane_components(ctx.root, ctx.cfg, &ctx.wait, timeout, None)
            .map_err(unhealthy)?;
    }
    let left = remaining(&ctx.wait, start, timeout);
    wait_for_api(ctx, left, unhealthy)
}

/// kubeadm's `WaitForControlPlaneComponents`: each component's health endpoint, at the address
/// and port its static Pod manifest under `root` gives, all within `timeout`. The API server
/// is asked with `api` where given (kubeadm's join asks it with admin.conf's credentials),
/// anonymously otherwise. The error says which check failed last, and where.
pub(crate) fn wait_for_control_plane_components(
    root: &Root,
    cfg: &InitConfiguration,
    wait: &WaitOptions,
    timeout: Duration,
    api: Option<&api::Client>,
) -> std::result::Result<(), String> {
    let start = wait.clock.now();
    let components = control_plane_components(root, cfg).map_err(|e| {
        format!("could not parse the address and port of all control plane components: {e}")
    })?;
    log::info!(
        "[control-plane-check] Waiting for healthy control plane components. This can take up \
         to {}",
        format_go_duration(timeout)
    );
    for component in &components {
        let left = remaining(wait, start, timeout);
        let client = api.filter(|_| component.name == "kube-apiserver");
        wait_for_component(wait, component, left, client)?;
    }
    Ok(())
}

fn remaining(wait: &WaitOptions, start: Instant, timeout: Duration) -> Duration {
    timeout.saturating_sub(wait.clock.now().saturating_duration_since(start))
}

/// kubeadm: beta and on by default from 1.33; the gate can turn it either way.
pub(crate) fn wait_for_all_components(cfg: &InitConfiguration) -> bool {
    cfg.cluster
        .feature_gates
        .get(WAIT_FOR_ALL_CONTROL_PLANE_COMPONENTS)
        .copied()
        .unwrap_or(cfg.cluster.kubernetes_version.at_least(33))
}

/// Polls the kubelet's plain-HTTP `/healthz` for "200 OK"; on timeout, the last failure.
pub(crate) fn wait_for_kubelet(
    wait: &WaitOptions,
    url: &str,
    timeout: Duration,
) -> std::result::Result<(), String> {
    log::info!(
        "[kubelet-check] Waiting for a healthy kubelet at {url}. This can take up to {}",
        format_go_duration(timeout)
    );
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .timeout_global(Some(wait.request_timeout))
        .build()
        .new_agent();
    let start = wait.clock.now();
    let mut last = String::from("no answer yet");
    let healthy = poll_until(wait, timeout, || {
        let cause = match agent.get(url).call() {
            Ok(response) if response.status().as_u16() == 200 => return Ok(Some(())),
            Ok(response) => format!("status code: {}", response.status().as_u16()),
            Err(e) => format!("error: {e}"),
        };
        last = format!("The HTTP call equal to 'curl -sSL {url}' returned {cause}");
        Ok(None)
    })
    .map_err(|e| e.to_string())?;
    let elapsed = format_go_duration(wait.clock.now().saturating_duration_since(start));
    match healthy {
        Some(()) => {
            log::info!("[kubelet-check] The kubelet is healthy after {elapsed}");
            Ok(())
        }
        None => {
            log::error!("[kubelet-check] The kubelet is not healthy after {elapsed}");
            Err(last)
        }
    }
}

/// A control-plane component and its health URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Component {
    name: &'static str,
    base: String,
    path: &'static str,
}

/// kubeadm's `getControlPlaneComponents`: address and port from each manifest's command line
/// (`--advertise-address`/`--bind-address`, `--secure-port`), kubeadm's defaults otherwise.
fn control_plane_components(
    root: &Root,
    cfg: &InitConfiguration,
) -> std::result::Result<Vec<Component>, String> {
    let advertise = cfg
        .local_api_endpoint
        .advertise_address
        .map_or_else(|| "127.0.0.1".to_string(), |a: IpAddr| a.to_string());
    let specs: [(&'static str, &str, String, String, &'static str); 3] = [
        (
            "kube-apiserver",
            "advertise-address",
            advertise,
            "6443".to_string(),
            "/livez",
        ),
        (
            "kube-controller-manager",
            "bind-address",
            "127.0.0.1".into(),
            manifests::KUBE_CONTROLLER_MANAGER_PORT.to_string(),
            "/healthz",
        ),
        (
            "kube-scheduler",
            "bind-address",
            "127.0.0.1".into(),
            manifests::KUBE_SCHEDULER_PORT.to_string(),
            "/livez",
        ),
    ];
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (name, address_arg, default_address, default_port, path) in specs {
        match manifest_args(root, name, &[address_arg, "secure-port"]) {
            Ok(values) => {
                let address = values[0].clone().unwrap_or(default_address);
                let port = values[1]
                    .clone()
                    .unwrap_or_else(|| default_port.to_string());
                out.push(Component {
                    name,
                    base: format!("https://{}", join_host_port(&address, port)),
                    path,
                });
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors.join("; "))
    }
}

/// The values of `--<arg>=v` (or `--<arg> v`) in the container whose command starts with
/// `name`, from the static Pod manifest.
fn manifest_args(
    root: &Root,
    name: &str,
    args: &[&str],
) -> std::result::Result<Vec<Option<String>>, String> {
    let path = manifest_path(name);
    let bytes = root.read(&path).map_err(|e| e.to_string())?;
    // Read as a plain YAML tree: only the commands matter, and a typed `Pod` would link
    // the decoder of every Pod field into the binary.
    let pod: serde_yaml::Value =
        serde_yaml::from_slice(&bytes).map_err(|e| format!("{path}: {e}"))?;
    let command = pod["spec"]["containers"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|c| c["command"].as_sequence())
        .find(|cmd| cmd.first().and_then(serde_yaml::Value::as_str) == Some(name))
        .ok_or_else(|| {
            format!("{path}: the Pod has no container command starting with {name:?}")
        })?;
    let mut values = vec![None; args.len()];
    for line in command.iter().filter_map(serde_yaml::Value::as_str) {
        let line = line.trim();
        for (i, arg) in args.iter().enumerate() {
            let Some(rest) = line
                .strip_prefix("--")
                .or_else(|| line.strip_prefix('-'))
                .and_then(|l| l.strip_prefix(arg))
            else {
                continue;
            };
            if let Some(v) = rest.strip_prefix('=').or_else(|| rest.strip_prefix(' ')) {
                values[i] = Some(v.to_string());
            }
        }
    }
    Ok(values)
}

/// Polls one component's health endpoint. Its serving certificate is self-signed (or for the
/// API server, for an address the check may not use), so as kubeadm the check does not verify
/// it: it sends no credentials and only learns "healthy or not". With `client` (the API
/// server, on join) the request goes through it instead, with its trust and credentials.
fn wait_for_component(
    wait: &WaitOptions,
    component: &Component,
    timeout: Duration,
    client: Option<&api::Client>,
) -> std::result::Result<(), String> {
    let url = format!("{}{}", component.base, component.path);
    log::info!("[control-plane-check] Checking {} at {url}", component.name);
    let anonymous;
    let client = match client {
        Some(client) => client,
        None => {
            let options = ClientOptions {
                retry: RetryPolicy::no_retry().with_clock(wait.clock.clone()),
                request_timeout: wait.request_timeout,
                connect_timeout: wait.request_timeout,
                // kubeadm's component checks use a bare transport: no proxy, whatever the
                // environment says (ClientOptions' default).
                ..ClientOptions::new(Trust::any_certificate(), Auth::Anonymous)
            };
            anonymous = api::Client::new(&component.base, options).map_err(|e| e.to_string())?;
            &anonymous
        }
    };
    let start = wait.clock.now();
    let mut last = String::new();
    let healthy = poll_until(wait, timeout, || {
        match client.request(Method::Get, component.path, None) {
            Ok(_) => Ok(Some(())),
            Err(e) => {
                last = format!("{} check failed at {url}: {e}", component.name);
                Ok(None)
            }
        }
    })
    .map_err(|e| e.to_string())?;
    let elapsed = format_go_duration(wait.clock.now().saturating_duration_since(start));
    match healthy {
        Some(()) => {
            log::info!(
                "[control-plane-check] {} is healthy after {elapsed}",
                component.name
            );
            Ok(())
        }
        None => {
            log::error!(
                "[control-plane-check] {} is not healthy after {elapsed}",
                component.name
            );
            Err(last)
        }
    }
}

/// Polls the API server through admin.conf (its CA, its client certificate): `/livez`, then
/// `/readyz`; `/healthz` where a path does not exist. A certificate admin.conf's CA does not
/// accept fails at once: waiting cannot fix it.
fn wait_for_api(
    ctx: &OnlineContext,
    timeout: Duration,
    unhealthy: impl Fn(String) -> Error,
) -> Result<()> {
    let wait = &ctx.wait;
    let admin = KubeconfigCredentials::load(ctx.root, ADMIN_CONF)?;
    let client = admin.client(RetryPolicy::no_retry().with_clock(wait.clock.clone()))?;
    log::info!(
        "[api-check] Waiting for a healthy API server. This can take up to {}",
        format_go_duration(timeout)
    );
    let start = wait.clock.now();
    let mut last = String::new();
    let healthy = poll_until(wait, timeout, || {
        for path in ["/livez", "/readyz"] {
            let answer = match client.request(Method::Get, path, None) {
                Err(e) if e.status_code() == Some(404) => {
                    client.request(Method::Get, "/healthz", None)
                }
                other => other,
            };
            match answer {
                Ok(_) => {}
                Err(e) if e.is_trust() => return Err(e.into()),
                Err(e) => {
                    last = e.to_string();
                    return Ok(None);
                }
            }
        }
        Ok(Some(()))
    })?;
    let elapsed = format_go_duration(wait.clock.now().saturating_duration_since(start));
    match healthy {
        Some(()) => {
            log::info!("[api-check] The API server is healthy after {elapsed}");
            Ok(())
        }
        None => {
            log::error!("[api-check] The API server is not healthy after {elapsed}");
            Err(unhealthy(format!(
                "the API server at {} (admin.conf) did not become ready: {last}",
                admin.server
            )))
        }
    }
}

#[cfg(test)]
mod tests;
