//! `kubeboot join --control-plane`: kubeadm's phases for a node that hosts a new control-plane
//! instance (`cmd/kubeadm/app/cmd/phases/join/controlplaneprepare.go`, `checketcd.go`,
//! `controlplanejoin.go`, `phases/copycerts`, `phases/etcd/local.go`).
//!
//! Around the worker phases, in kubeadm's order:
//!
//! 1. after `kubelet-config` (the cluster's ClusterConfiguration is known), [`prepare`]:
//!    the control-plane preflight checks, then `control-plane-prepare`: `download-certs`
//!    (the shared CAs and service-account keys from the `kube-system/kubeadm-certs` Secret,
//!    decrypted with the certificate key), `certs` (this node's own certificates, signed by
//!    those CAs), `kubeconfig` (admin.conf, controller-manager.conf, scheduler.conf) and
//!    `control-plane` (the static Pod manifests); then `check-etcd`;
//! 2. `tls-bootstrap` and `kubelet-start` as for a worker, except that with kubeadm's
//!    `ControlPlaneKubeletLocalMode` the kubelet talks to this node's own API server
//!    ([`kubelet_server`]);
//! 3. [`etcd_join_phase`]: `etcd-join` (announce this node's etcd as a learner, write its
//!    manifest with the cluster it joins, promote it once it has caught up); under
//!    `ControlPlaneKubeletLocalMode`, `kubelet-wait-bootstrap` only now, once this node's etcd
//!    lets its API server answer the kubelet (see [`super::wait`]);
//!    [`mark_control_plane_phase`]; then `wait-control-plane` ([`super::wait`]).
//!
//! Nothing is written before `download-certs` has decrypted and checked the whole Secret: a
//! wrong certificate key leaves the node as it was.

use std::cell::RefCell;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Pod, Secret};
use serde_json::json;

use super::{JoinOptions, PlannedRequest, RemoteConfig};
use crate::api::{self, Client, Method};
use crate::cluster::{self, CertificateKey, KUBEADM_CERTS, NS_SYSTEM};
use crate::config::model::{
    ClusterConfiguration, Etcd, InitConfiguration, JoinConfiguration, JoinControlPlane,
};
use crate::config::{defaults, duration::format_go_duration};
use crate::discovery::ClusterInfo;
use crate::etcd::{self, EtcdClient, Member};
use crate::fs::{Root, mode};
use crate::manifests::{self, EtcdMember, LocalControlPlane};
use crate::retry::Backoff;
use crate::{ExitCode, kubeconfig, online, pki, preflight};

/// kubeadm's feature gate that points a control-plane node's kubelet at its own API server.
pub const KUBELET_LOCAL_MODE_GATE: &str = "ControlPlaneKubeletLocalMode";
/// kubeadm's feature gate that adds a joining etcd member as a learner first.
pub const ETCD_LEARNER_MODE_GATE: &str = "EtcdLearnerMode";

/// The kubeconfig files kubeadm writes on a joining control-plane node
/// (`CreateJoinControlPlaneKubeConfigFiles`), as `kubeconfig` sub-phases.
pub const JOIN_KUBECONFIGS: [&str; 3] = ["admin", "controller-manager", "scheduler"];

/// kubeadm's `KubernetesAPICallRetryInterval`, the first wait between etcd Pod listings.
const POD_LIST_POLL: Backoff = Backoff {
    initial: Duration::from_millis(500),
    max: Duration::from_secs(5),
};
/// kubeadm's `etcdHealthyCheckInterval` × `etcdHealthyCheckRetries`, for the message only.
const ETCD_HEALTHY_WAIT: Duration = Duration::from_secs(40);

/// Why a control-plane join failed where no other module's error says it. Never holds a key
/// or decrypted data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot decrypt kubeadm-certs: wrong certificate key or expired (entry {entry:?} does \
         not decrypt with this key, or the Secret was altered); check --certificate-key / \
         controlPlane.certificateKey: it must be the key printed by `kubeadm init phase \
         upload-certs --upload-certs` on a control-plane node, less than two hours ago"
    )]
    WrongCertificateKey { entry: String },
    #[error(
        "cannot decrypt kubeadm-certs: wrong certificate key or expired: the Secret \
         kube-system/kubeadm-certs does not exist ({url}); it is deleted two hours after the \
         upload: run `kubeadm init phase upload-certs --upload-certs` on a control-plane node \
         and join with the key it prints"
    )]
    CertsSecretMissing { url: String },
    #[error(
        "the kubeadm-certs Secret has no entry {name:?} (for {}); upload the certificates again \
         from a control-plane node (`kubeadm init phase upload-certs --upload-certs`)",
        path.display()
    )]
    MissingEntry { name: String, path: PathBuf },
    #[error(
        "the kubeadm-certs entry {name:?} is neither a private key nor a certificate or public \
         key in PEM; upload the certificates again from a control-plane node"
    )]
    UnknownEntry { name: String },
    #[error(
        "controlPlane.localAPIEndpoint.advertiseAddress is not set and no address was detected: \
         set it (or --apiserver-advertise-address) to the address this node's API server and \
         etcd serve on"
    )]
    NoAdvertiseAddress,
    #[error(
        "could not retrieve the list of etcd endpoints within {}: {last}; check that the etcd \
         static Pods of the existing control-plane nodes run and are mirrored in kube-system \
         (labels {})",
        format_go_duration(*.timeout),
        etcd::POD_LABEL_SELECTOR
    )]
    NoEtcdEndpoints { timeout: Duration, last: String },
    #[error(
        "etcd has no member with peer URL {peer_url} right after adding it; check `etcdctl \
         member list`: another node may have removed it"
    )]
    MemberVanished { peer_url: String },
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::WrongCertificateKey { .. }
            | Error::CertsSecretMissing { .. }
            | Error::MissingEntry { .. }
            | Error::UnknownEntry { .. }
            | Error::NoAdvertiseAddress => ExitCode::Config,
            Error::NoEtcdEndpoints { .. } | Error::MemberVanished { .. } => ExitCode::Cluster,
        }
    }
}

/// What the control-plane part of a join did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPlaneOutcome {
    /// The peer URL of the etcd member this node added (`None`: external etcd, or skipped).
    pub etcd_member: Option<String>,
}

/// What is checked before anything is sent: this node's advertise address is known, and its
/// certificate key parses. Returns the key (`None`: no download, the shared certificates must
/// already be on the node).
pub fn check_before_join(cfg: &JoinControlPlane) -> crate::Result<Option<CertificateKey>> {
    if cfg.local_api_endpoint.advertise_address.is_none() {
        return Err(Error::NoAdvertiseAddress.into());
    }
    match cfg.certificate_key.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(hex) => Ok(Some(CertificateKey::parse(hex)?)),
    }
}

/// The configuration this node runs its control plane with, as kubeadm's
/// `fetchInitConfigurationFromJoinConfiguration`: the cluster's ClusterConfiguration and
/// KubeletConfiguration, this node's registration (under `node_name`) and its API endpoint.
pub fn init_configuration(
    cfg: &JoinConfiguration,
    control_plane: &JoinControlPlane,
    remote: &RemoteConfig,
    node_name: &str,
) -> InitConfiguration {
    let mut node_registration = cfg.node_registration.clone();
    node_registration.name = node_name.to_string();
    InitConfiguration {
        cluster: remote.cluster.clone(),
        bootstrap_tokens: Vec::new(),
        node_registration,
        local_api_endpoint: control_plane.local_api_endpoint.clone(),
        kubelet: remote.kubelet.clone(),
        timeouts: cfg.timeouts.clone(),
        dry_run: cfg.dry_run,
        ..defaults::init_configuration()
    }
}

/// Whether kubeadm's `ControlPlaneKubeletLocalMode` is on: off (alpha) in 1.31 and 1.32, on by
/// default from 1.33, locked on from 1.35.
pub fn kubelet_local_mode(cluster: &ClusterConfiguration) -> bool {
    let version = &cluster.kubernetes_version;
    if version.at_least(35) {
        return true;
    }
    cluster
        .feature_gates
        .get(KUBELET_LOCAL_MODE_GATE)
        .copied()
        .unwrap_or(version.at_least(33))
}

/// Whether kubeadm adds the joining etcd member as a learner: `EtcdLearnerMode` is on by
/// default from 1.29 and locked on from 1.32.
pub fn etcd_learner_mode(cluster: &ClusterConfiguration) -> bool {
    cluster.kubernetes_version.at_least(32)
        || cluster
            .feature_gates
            .get(ETCD_LEARNER_MODE_GATE)
            .copied()
            .unwrap_or(true)
}

/// The API server this node's kubelet talks to when it is not the one discovery found: its own
/// (`https://<advertise address>:<bind port>`) under `ControlPlaneKubeletLocalMode`.
pub fn kubelet_server(init: &InitConfiguration) -> crate::Result<Option<String>> {
    if !kubelet_local_mode(&init.cluster) {
        return Ok(None);
    }
    Ok(Some(kubeconfig::local_api_endpoint(
        &init.local_api_endpoint,
    )?))
}

/// Whether `--skip-phases` names `phase`, or its sub-phase `sub`, or `phase/all`.
fn skipped(skip: &[String], phase: &str, sub: Option<&str>) -> bool {
    skip.iter().any(|s| {
        s == phase
            || s.strip_prefix(phase)
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|rest| rest == "all" || Some(rest) == sub)
    })
}

fn log_skip(phase: &str) {
    log::info!("[{phase}] Skipping phase {phase} (--skip-phases)");
}

fn advertise_address(init: &InitConfiguration) -> Result<IpAddr, Error> {
    init.local_api_endpoint
        .advertise_address
        .ok_or(Error::NoAdvertiseAddress)
}

/// What [`prepare`] found and made.
pub struct Prepared {
    pub init: InitConfiguration,
}

/// kubeadm's pre-flight checks of a new control-plane instance (part of its `preflight`
/// phase; here after discovery, since they need the cluster's configuration). Returns the
/// warnings. Once they pass, this node's own files and components would fail them: `boot`
/// journals them as a step of their own, so that a re-run after a crash anywhere later does
/// not run them again.
pub fn check(
    root: &Root,
    cfg: &JoinConfiguration,
    control_plane: &JoinControlPlane,
    remote: &RemoteConfig,
    key: Option<&CertificateKey>,
    opts: &JoinOptions,
) -> crate::Result<Vec<String>> {
    if skipped(&cfg.skip_phases, "preflight", None) {
        log_skip("preflight");
        return Ok(Vec::new());
    }
    let node_name = super::node_name(cfg, &opts.kubelet_host);
    let init = init_configuration(cfg, control_plane, remote, &node_name);
    // The configuration carries --ignore-preflight-errors merged with its own list.
    Ok(preflight::run_join_control_plane_checks(
        root,
        opts.host.as_ref(),
        &init,
        key.is_some(),
        &[],
    )?)
}

/// Everything between the control-plane checks and `tls-bootstrap`: `control-plane-prepare`
/// (`download-certs` with `bootstrap`, the TLS bootstrap client; `certs`; `kubeconfig`;
/// `control-plane`) and `check-etcd`, each unless skipped.
pub fn prepare(
    root: &Root,
    cfg: &JoinConfiguration,
    control_plane: &JoinControlPlane,
    remote: &RemoteConfig,
    key: Option<&CertificateKey>,
    bootstrap: &Client,
    opts: &JoinOptions,
) -> crate::Result<Prepared> {
    let node_name = super::node_name(cfg, &opts.kubelet_host);
    let init = init_configuration(cfg, control_plane, remote, &node_name);
    let skip = &cfg.skip_phases;
    let phase = "control-plane-prepare";
    let run = |sub: &str| {
        let skip_it = skipped(skip, phase, Some(sub));
        if skip_it {
            log_skip(&format!("{phase}/{sub}"));
        }
        !skip_it
    };
    if run("download-certs") {
        match key {
            Some(key) => download_certs(root, &init, bootstrap, key)?,
            None => log::info!(
                "[download-certs] Skipping certs download: no certificate key; the shared \
                 certificates must already be in {}",
                init.cluster.certificates_dir.display()
            ),
        }
    }
    if run("certs") {
        pki::create_init_pki(root, &init, None)?;
    }
    if run("kubeconfig") {
        write_kubeconfigs(root, &init)?;
    }
    if run("control-plane") {
        manifests::write_control_plane(root, root, &init, None)?;
    }
    match init.cluster.etcd {
        _ if skipped(skip, "check-etcd", None) => log_skip("check-etcd"),
        Etcd::External(_) => log::info!("[check-etcd] Skipping etcd check in external mode"),
        Etcd::Local(_) => check_etcd(root, &init, &admin_client(root, opts)?, opts)?,
    }
    Ok(Prepared { init })
}

/// Phase `etcd-join` (also skipped by `control-plane-join/etcd`): [`etcd_join`] with the
/// admin.conf credentials. Returns the new member's peer URL.
pub fn etcd_join_phase(
    root: &Root,
    cfg: &JoinConfiguration,
    init: &InitConfiguration,
    opts: &JoinOptions,
) -> crate::Result<Option<String>> {
    let skip = &cfg.skip_phases;
    if skipped(skip, "etcd-join", None) || skipped(skip, "control-plane-join", Some("etcd")) {
        log_skip("etcd-join");
        return Ok(None);
    }
    etcd_join(root, init, &admin_client(root, opts)?, opts)
}

/// Phase `control-plane-join/mark-control-plane`: [`mark_control_plane`] with the admin.conf
/// credentials.
pub fn mark_control_plane_phase(
    root: &Root,
    cfg: &JoinConfiguration,
    init: &InitConfiguration,
    opts: &JoinOptions,
) -> crate::Result<()> {
    if skipped(
        &cfg.skip_phases,
        "control-plane-join",
        Some("mark-control-plane"),
    ) {
        log_skip("control-plane-join/mark-control-plane");
        return Ok(());
    }
    mark_control_plane(root, init, &admin_client(root, opts)?, opts)
}

/// Whether `--skip-phases` turns `wait-control-plane` off.
pub fn skips_wait_control_plane(cfg: &JoinConfiguration) -> bool {
    skipped(&cfg.skip_phases, "wait-control-plane", None)
}

/// The admin.conf client, as kubeadm's `data.Client()` on join.
fn admin_client(root: &Root, opts: &JoinOptions) -> crate::Result<Client> {
    Ok(online::admin_client(root, opts.api_retry.clone())?)
}

// ---- download-certs ------------------------------------------------------------------------

/// One file of the kubeadm-certs Secret, decrypted, with where and how it is written.
struct SharedFile {
    path: PathBuf,
    data: Vec<u8>,
    mode: u32,
}

/// `control-plane-prepare/download-certs`, as kubeadm's `copycerts.DownloadCerts`: reads
/// `kube-system/kubeadm-certs` with `client` (the TLS bootstrap credentials), decrypts every
/// entry with `key`, and only when all of them decrypt and are what they should be, writes the
/// shared CAs and service-account keys under `certificatesDir` with kubeadm's names: private
/// keys 0600, certificates and `sa.pub` 0644 (kubeadm's `writeCertOrKey`), in 0700 folders.
pub fn download_certs(
    root: &Root,
    init: &InitConfiguration,
    client: &Client,
    key: &CertificateKey,
) -> crate::Result<()> {
    log::info!(
        "[download-certs] Downloading the certificates in Secret {KUBEADM_CERTS:?} in the \
         {NS_SYSTEM:?} Namespace"
    );
    let secret = client
        .get_optional_as::<Secret, api::DataView<ByteString>>(Some(NS_SYSTEM), KUBEADM_CERTS)?;
    let Some(secret) = secret else {
        let path =
            api::resource_path::<Secret>(Some(NS_SYSTEM), Some(KUBEADM_CERTS)).unwrap_or_default();
        return Err(Error::CertsSecretMissing {
            url: format!("{}{path}", client.server()),
        }
        .into());
    };
    let files = decrypt_shared_files(&secret, key, &init.cluster)?;
    log::info!(
        "[download-certs] Saving the certificates to the folder: {:?}",
        init.cluster.certificates_dir.display().to_string()
    );
    for file in &files {
        if let Some(dir) = file.path.parent() {
            root.create_dir_all(dir, mode::PRIVATE_DIR)?;
        }
        root.write_atomic(&file.path, &file.data, file.mode)?;
    }
    Ok(())
}

/// kubeadm's `getDataFromSecret` then the checks of `DownloadCerts`, all in memory: every
/// entry must decrypt (no partial result), every file kubeadm transfers for this etcd mode
/// must be there (empty entries are files that were absent on upload, skipped as kubeadm).
fn decrypt_shared_files(
    secret: &api::DataView<ByteString>,
    key: &CertificateKey,
    cluster: &ClusterConfiguration,
) -> Result<Vec<SharedFile>, Error> {
    let data = secret.data.clone().unwrap_or_default();
    let mut plain = std::collections::BTreeMap::new();
    for (name, sealed) in &data {
        let value = if sealed.0.is_empty() {
            Vec::new()
        } else {
            cluster::open(key.as_bytes(), &sealed.0).map_err(|_| Error::WrongCertificateKey {
                entry: name.clone(),
            })?
        };
        plain.insert(name.as_str(), value);
    }
    let mut files = Vec::new();
    for (name, path) in cluster::certs_to_transfer(cluster) {
        let Some(data) = plain.remove(name.as_str()) else {
            return Err(Error::MissingEntry { name, path });
        };
        if data.is_empty() {
            log::debug!(
                "[download-certs] Not saving {name:?} to disk, since it is empty in the \
                 {KUBEADM_CERTS:?} Secret"
            );
            continue;
        }
        let mode = if pki::PrivateKey::from_pem(&data).is_ok() {
            mode::PRIVATE
        } else if pki::is_public_pem(&data) {
            mode::PUBLIC
        } else {
            return Err(Error::UnknownEntry { name });
        };
        files.push(SharedFile { path, data, mode });
    }
    Ok(files)
}

// ---- certs, kubeconfig ---------------------------------------------------------------------

/// `control-plane-prepare/kubeconfig`: admin.conf, controller-manager.conf and scheduler.conf
/// (kubeadm's `CreateJoinControlPlaneKubeConfigFiles`; kubelet.conf comes from the TLS
/// bootstrap, super-admin.conf exists on the first node only).
pub fn write_kubeconfigs(root: &Root, init: &InitConfiguration) -> crate::Result<()> {
    log::info!(
        "[kubeconfig] Using kubeconfig folder {:?}",
        kubeconfig::KUBERNETES_DIR
    );
    for name in JOIN_KUBECONFIGS {
        kubeconfig::create_init_kubeconfigs(root, init, Some(name))?;
    }
    Ok(())
}

// ---- etcd ----------------------------------------------------------------------------------

/// `check-etcd`: every member of the existing etcd cluster answers (kubeadm's
/// `CheckLocalEtcdClusterStatus`), before this node announces its own. Nothing to do for
/// external etcd.
pub fn check_etcd(
    root: &Root,
    init: &InitConfiguration,
    admin: &Client,
    opts: &JoinOptions,
) -> crate::Result<()> {
    if let Etcd::External(_) = init.cluster.etcd {
        log::info!("[check-etcd] Skipping etcd check in external mode");
        return Ok(());
    }
    log::info!("[check-etcd] Checking that the etcd cluster is healthy");
    etcd_client_from_cluster(root, init, admin, opts)?.check_cluster_health()?;
    Ok(())
}

/// `etcd-join`, as kubeadm's `CreateStackedEtcdStaticPodManifestFile`: announces this node's
/// etcd (as a learner where kubeadm does) to the existing members found through their Pods,
/// writes its manifest with the cluster it joins (`--initial-cluster-state=existing`), then
/// promotes it once it has caught up with the leader and waits until every member answers.
/// A re-run finds its member already announced (or promoted) and goes on. Returns the peer
/// URL of the member; `None` for external etcd.
pub fn etcd_join(
    root: &Root,
    init: &InitConfiguration,
    admin: &Client,
    opts: &JoinOptions,
) -> crate::Result<Option<String>> {
    if let Etcd::External(_) = init.cluster.etcd {
        log::info!("[control-plane-join] Using external etcd - no local stacked instance added");
        return Ok(None);
    }
    let address = advertise_address(init)?;
    let peer_url = etcd::peer_url(address);
    let name = &init.node_registration.name;
    let learner = etcd_learner_mode(&init.cluster);
    let mut client = etcd_client_from_cluster(root, init, admin, opts)?;
    let members = client.add_member(name, &peer_url, learner)?;
    log::info!("[etcd] Announced new etcd member joining to the existing etcd cluster");
    let initial_cluster = initial_cluster_members(&members, name, &peer_url);
    manifests::write_etcd_member(
        root,
        &LocalControlPlane::from_init(init),
        name,
        &initial_cluster,
    )?;
    if learner {
        let id = client
            .member_id(&peer_url)?
            .ok_or_else(|| Error::MemberVanished {
                peer_url: peer_url.clone(),
            })?;
        client.promote(id)?;
    }
    log::info!(
        "[etcd] Waiting for the new etcd member to join the cluster. This can take up to {}",
        format_go_duration(ETCD_HEALTHY_WAIT)
    );
    // As kubeadm's AddMember: the new member's own client URL is checked too.
    client.add_endpoint(&etcd::client_url(address))?;
    client.check_cluster_health()?;
    Ok(Some(peer_url))
}

/// The members for `--initial-cluster`, named as kubeadm's `AddMember` names them (see
/// [`etcd::initial_cluster`], whose `name=peerURL` list this is).
fn initial_cluster_members(members: &[Member], name: &str, peer_url: &str) -> Vec<EtcdMember> {
    etcd::initial_cluster(members, name, peer_url)
        .split(',')
        .filter_map(|entry| entry.split_once('='))
        .map(|(name, peer_url)| EtcdMember {
            name: name.to_string(),
            peer_url: peer_url.to_string(),
        })
        .collect()
}

/// kubeadm's `NewFromCluster`: the client URLs of the etcd Pods, then the members' own list,
/// with the etcd CA and the `etcd/healthcheck-client` certificate of this node.
fn etcd_client_from_cluster(
    root: &Root,
    init: &InitConfiguration,
    admin: &Client,
    opts: &JoinOptions,
) -> crate::Result<EtcdClient> {
    let endpoints = etcd_endpoints_from_pods(admin, init.timeouts.kubernetes_api_call, opts)?;
    log::debug!("[etcd] endpoints read from pods: {}", endpoints.join(","));
    let pki = &init.cluster.certificates_dir;
    let read = |name: &str| root.read(pki.join(name));
    let mut client = EtcdClient::new(
        endpoints,
        &read("etcd/ca.crt")?,
        &read("etcd/healthcheck-client.crt")?,
        &read("etcd/healthcheck-client.key")?,
        opts.request_timeout,
    )?
    .with_retry(opts.etcd_retry);
    client.sync_endpoints()?;
    Ok(client)
}

/// kubeadm's `getRawEtcdEndpointsFromPodAnnotation`: lists the etcd Pods until they carry
/// their client URLs (static Pods may not be mirrored yet), within `timeout`.
fn etcd_endpoints_from_pods(
    admin: &Client,
    timeout: Duration,
    opts: &JoinOptions,
) -> crate::Result<Vec<String>> {
    let selector = etcd::POD_LABEL_SELECTOR
        .replace('=', "%3D")
        .replace(',', "%2C");
    let path = format!(
        "{}?labelSelector={selector}",
        api::resource_path::<Pod>(Some(NS_SYSTEM), None).unwrap_or_default()
    );
    let clock = &opts.api_retry.clock;
    let deadline = clock.now() + timeout;
    let mut last = String::from("no etcd Pod found");
    for attempt in 0.. {
        let body = admin.request(Method::Get, &path, None)?;
        // Read as JSON: a typed `List<Pod>` would link in the decoder of every Pod field.
        let pods: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| api::Error::Decode {
                method: "GET",
                url: format!("{}{path}", admin.server()),
                detail: e.to_string(),
            })?;
        match etcd::endpoints_from_pods(&pods) {
            Ok(endpoints) if !endpoints.is_empty() => return Ok(endpoints),
            Ok(_) => last = "no etcd Pod found".into(),
            Err(e) => last = e.to_string(),
        }
        let now = clock.now();
        if now >= deadline {
            break;
        }
        clock.sleep(POD_LIST_POLL.ceiling(attempt).min(deadline - now));
    }
    Err(Error::NoEtcdEndpoints { timeout, last }.into())
}

// ---- mark-control-plane --------------------------------------------------------------------

/// `control-plane-join/mark-control-plane`: the control-plane labels and taints on this node's
/// Node once the kubelet has registered it, exactly as init's phase.
pub fn mark_control_plane(
    root: &Root,
    init: &InitConfiguration,
    admin: &Client,
    opts: &JoinOptions,
) -> crate::Result<()> {
    // Under ControlPlaneKubeletLocalMode the kubelet registers the Node only once this node's
    // API server runs. kubeadm's kubelet-wait-bootstrap waits that long (up to
    // timeouts.tlsBootstrap) for the kubelet's CSR; with kubeboot's own TLS bootstrap
    // kubelet.conf exists from the start, so the wait for the Node gets that time instead.
    let mut init = init.clone();
    if kubelet_local_mode(&init.cluster) {
        init.timeouts.kubernetes_api_call += init.timeouts.tls_bootstrap;
    }
    // The phase prints nothing for the user; its progress goes to the log.
    let out = RefCell::new(std::io::sink());
    let mut ctx = online::OnlineContext::new(root, &init, online::Target::Api(admin), &out);
    ctx.wait.clock = opts.api_retry.clock.clone();
    online::mark_control_plane(&ctx, None)?;
    Ok(())
}

// ---- dry run, messages ---------------------------------------------------------------------

/// Adds what a control-plane join sends to the worker's plan: the kubeadm-certs download
/// (before the CSR, as it happens), then the admin.conf requests of `etcd-join` and
/// `mark-control-plane`.
pub fn extend_plan(requests: &mut Vec<PlannedRequest>, cfg: &JoinConfiguration, node_name: &str) {
    let Some(control_plane) = &cfg.control_plane else {
        return;
    };
    let bootstrap = requests
        .iter()
        .rev()
        .find(|r| r.path.contains("/configmaps/"))
        .map(|r| (r.server.clone(), r.auth.clone()))
        .unwrap_or_default();
    let secret_path =
        api::resource_path::<Secret>(Some(NS_SYSTEM), Some(KUBEADM_CERTS)).unwrap_or_default();
    let download = PlannedRequest {
        method: "GET",
        server: bootstrap.0,
        path: secret_path,
        auth: bootstrap.1,
        note: Some(
            "every entry is decrypted with the certificate key before any file is written".into(),
        ),
        body: None,
    };
    let at = requests
        .iter()
        .position(|r| r.method == "POST")
        .unwrap_or(requests.len());
    requests.insert(at, download);

    let server = "<controlPlaneEndpoint from kubeadm-config>".to_string();
    let admin = "admin.conf (kubernetes-admin in kubeadm:cluster-admins)".to_string();
    let pods = api::resource_path::<Pod>(Some(NS_SYSTEM), None).unwrap_or_default();
    let peer_url = control_plane
        .local_api_endpoint
        .advertise_address
        .map_or_else(|| "https://<advertise address>:2380".into(), etcd::peer_url);
    let node = format!("/api/v1/nodes/{node_name}");
    let taints = cluster::control_plane_taints(cfg.node_registration.taints.as_deref());
    requests.extend([
        PlannedRequest {
            method: "GET",
            server: server.clone(),
            path: format!("{pods}?labelSelector={}", etcd::POD_LABEL_SELECTOR),
            auth: admin.clone(),
            note: Some(format!(
                "the etcd client URLs, from the {} annotation",
                etcd::ADVERTISE_CLIENT_URLS_ANNOTATION
            )),
            body: None,
        },
        PlannedRequest {
            method: "POST",
            server: "<the etcd client URLs>".into(),
            path: "/v3/cluster/member/add".into(),
            auth: "etcd/healthcheck-client certificate".into(),
            note: Some(
                "a learner where kubeadm adds one (1.32+, or EtcdLearnerMode), then \
                 /v3/cluster/member/promote once it has caught up"
                    .into(),
            ),
            body: Some(json!({ "peerURLs": [peer_url], "isLearner": true })),
        },
        PlannedRequest {
            method: "PATCH",
            server,
            path: node,
            auth: admin,
            note: Some(
                "once the kubelet has registered the Node; taints already on it are kept".into(),
            ),
            body: Some(cluster::mark_control_plane_patch(&taints)),
        },
    ]);
}

/// kubeadm's closing message for a new control-plane instance.
pub fn done_message(etcd_member_added: bool) -> String {
    let etcd = if etcd_member_added {
        "* A new etcd member was added to the local/stacked etcd cluster.\n"
    } else {
        ""
    };
    format!(
        "\nThis node has joined the cluster and a new control plane instance was created:\n\n\
         * Certificate signing request was sent to apiserver and approval was received.\n\
         * The Kubelet was informed of the new secure connection details.\n\
         * Control plane label and taint were applied to the new node.\n\
         * The Kubernetes control plane instances scaled up.\n\
         {etcd}\n\
         To start administering your cluster from this node, you need to run the following as a \
         regular user:\n\n\
         \tmkdir -p $HOME/.kube\n\
         \tsudo cp -i {} $HOME/.kube/config\n\
         \tsudo chown $(id -u):$(id -g) $HOME/.kube/config\n\n\
         Run 'kubectl get nodes' to see this node join the cluster.\n",
        online::ADMIN_CONF
    )
}

/// The API server discovery found, or this node's own for its kubelet ([`kubelet_server`]).
pub(super) fn kubelet_cluster(
    cluster: &ClusterInfo,
    init: &InitConfiguration,
) -> crate::Result<ClusterInfo> {
    let mut for_kubelet = cluster.clone();
    if let Some(server) = kubelet_server(init)? {
        log::info!(
            "[kubelet-start] {KUBELET_LOCAL_MODE_GATE}: the kubelet talks to this node's API \
             server at {server}"
        );
        for_kubelet.server = server;
    }
    Ok(for_kubelet)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::ApiEndpoint;

    #[test]
    fn skip_names_follow_kubeadm() {
        let skip = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let p = "control-plane-prepare";
        assert!(skipped(&skip(&[p]), p, Some("certs")));
        assert!(skipped(
            &skip(&["control-plane-prepare/all"]),
            p,
            Some("certs")
        ));
        assert!(skipped(
            &skip(&["control-plane-prepare/certs"]),
            p,
            Some("certs")
        ));
        assert!(!skipped(
            &skip(&["control-plane-prepare/certs"]),
            p,
            Some("kubeconfig")
        ));
        assert!(!skipped(
            &skip(&["control-plane-prepared"]),
            p,
            Some("certs")
        ));
        assert!(skipped(&skip(&["check-etcd"]), "check-etcd", None));
    }

    #[test]
    fn gates_follow_the_cluster_version() {
        let mut c = manifests_cluster();
        for (version, local, learner) in [
            ("v1.31.0", false, true),
            ("v1.32.0", false, true),
            ("v1.33.0", true, true),
            ("v1.35.0", true, true),
        ] {
            c.kubernetes_version = version.parse().unwrap();
            assert_eq!(kubelet_local_mode(&c), local, "{version}");
            assert_eq!(etcd_learner_mode(&c), learner, "{version}");
        }
        c.kubernetes_version = "v1.34.2".parse().unwrap();
        c.feature_gates
            .insert(KUBELET_LOCAL_MODE_GATE.into(), false);
        assert!(!kubelet_local_mode(&c));
        c.kubernetes_version = "v1.35.0".parse().unwrap();
        assert!(kubelet_local_mode(&c), "locked on from 1.35");
        c.kubernetes_version = "v1.31.5".parse().unwrap();
        c.feature_gates.insert(ETCD_LEARNER_MODE_GATE.into(), false);
        assert!(!etcd_learner_mode(&c));
        c.kubernetes_version = "v1.32.0".parse().unwrap();
        assert!(etcd_learner_mode(&c), "locked on from 1.32");
    }

    fn manifests_cluster() -> ClusterConfiguration {
        crate::manifests::testutil::cluster()
    }

    #[test]
    fn initial_cluster_names_unstarted_members_by_id_and_this_one_by_name() {
        let member = |id, name: &str, url: &str| Member {
            id,
            name: name.into(),
            peer_urls: vec![url.into()],
            client_urls: vec![],
            is_learner: false,
        };
        let members = [
            member(0x1a, "cp-1", "https://10.0.0.1:2380"),
            member(0x2b, "", "https://10.0.0.3:2380"),
            member(0x3c, "", "https://10.0.0.2:2380"),
        ];
        assert_eq!(
            initial_cluster_members(&members, "cp-2", "https://10.0.0.2:2380"),
            [
                ("cp-1", "https://10.0.0.1:2380"),
                ("2b", "https://10.0.0.3:2380"),
                ("cp-2", "https://10.0.0.2:2380"),
            ]
            .map(|(name, url)| EtcdMember {
                name: name.into(),
                peer_url: url.into()
            })
        );
    }

    #[test]
    fn the_init_configuration_is_the_clusters_with_this_nodes_parts() {
        let remote = RemoteConfig {
            cluster: manifests_cluster(),
            kubelet: Default::default(),
            kubelet_config_map: "kubelet-config".into(),
        };
        let join = JoinConfiguration {
            skip_phases: vec!["preflight".into()],
            ..crate::config::defaults::join_configuration(crate::config::model::Discovery::File(
                "/discovery.conf".into(),
            ))
        };

        let cp = JoinControlPlane {
            local_api_endpoint: ApiEndpoint {
                advertise_address: Some("10.0.0.2".parse().unwrap()),
                bind_port: 6443,
            },
            certificate_key: Some("00".repeat(32)),
        };
        let init = init_configuration(&join, &cp, &remote, "cp-2");
        assert_eq!(init.cluster, remote.cluster);
        assert_eq!(init.node_registration.name, "cp-2");
        assert_eq!(init.local_api_endpoint, cp.local_api_endpoint);
        assert!(init.certificate_key.is_none() && init.skip_phases.is_empty());
        assert!(init.bootstrap_tokens.is_empty());
        assert_eq!(
            kubelet_server(&init).unwrap().as_deref(),
            Some("https://10.0.0.2:6443")
        );
    }

    #[test]
    fn certificate_keys_are_parsed_before_anything_is_sent() {
        let cp = |key: Option<&str>| JoinControlPlane {
            local_api_endpoint: ApiEndpoint {
                advertise_address: Some("10.0.0.2".parse().unwrap()),
                bind_port: 6443,
            },
            certificate_key: key.map(str::to_string),
        };
        assert!(check_before_join(&cp(None)).unwrap().is_none());
        assert!(check_before_join(&cp(Some(""))).unwrap().is_none());
        assert!(
            check_before_join(&cp(Some(&"ab".repeat(32))))
                .unwrap()
                .is_some()
        );
        let err = check_before_join(&cp(Some("not-a-key"))).unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::Config);
        assert!(!err.to_string().contains("not-a-key"), "{err}");
        let mut no_address = cp(None);
        no_address.local_api_endpoint.advertise_address = None;
        let err = check_before_join(&no_address).unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::Config);
        assert!(err.to_string().contains("advertiseAddress"), "{err}");
    }
}
