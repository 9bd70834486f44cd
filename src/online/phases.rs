//! The phases that create API objects, and the closing `show-join-command`.

use std::fmt::Write as _;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Taint};
use serde_json::{Value, json};

use super::apply::{Policy, apply, apply_one, print_patch};
use super::node::patch_node;
use super::{
    ADDON_PHASES, ADMIN_CONF, Error, KubeconfigCredentials, OnlineContext, Result, Target,
    UPLOAD_CONFIG_PHASES, each_sub_phase,
};
use crate::cluster::{self, JoinCommand, Object, SecretOwner};
use crate::config;
use crate::discovery::pin;

/// kubeadm's `AnnotationKubeadmCRISocket`, on the Node until `NodeLocalCRISocket`.
pub const CRI_SOCKET_ANNOTATION: &str = "kubeadm.alpha.kubernetes.io/cri-socket";

/// Refuses a sub-phase for a phase that has none.
pub(crate) fn no_sub_phase(phase: &'static str, sub: Option<&str>) -> Result<()> {
    match sub {
        None | Some("all") => Ok(()),
        Some(s) => Err(Error::UnknownSubPhase {
            phase,
            sub: s.to_string(),
            known: &[],
        }),
    }
}

/// `upload-config`: `kubeadm` stores the ClusterConfiguration in `kube-system/kubeadm-config`,
/// `kubelet` the cluster-wide KubeletConfiguration in `kube-system/kubelet-config` (and, before
/// `NodeLocalCRISocket`, the CRI socket as an annotation on this node's Node).
pub fn upload_config(ctx: &OnlineContext, sub: Option<&str>) -> Result<()> {
    each_sub_phase("upload-config", UPLOAD_CONFIG_PHASES, sub, |s| match s {
        "kubeadm" => upload_kubeadm_config(ctx),
        _ => upload_kubelet_config(ctx),
    })
}

fn upload_kubeadm_config(ctx: &OnlineContext) -> Result<()> {
    log::info!(
        "[upload-config] Storing the configuration used in ConfigMap \"kubeadm-config\" in the \
         \"kube-system\" Namespace"
    );
    let yaml = config::cluster_configuration_yaml(&ctx.cfg.cluster);
    let objects = cluster::upload_config_objects(&yaml);
    let target = api_target(ctx)?;
    for object in &objects {
        // kubeadm's CreateOrMutateConfigMap: keys other tools keep there survive.
        let policy = if object.is::<ConfigMap>() {
            Policy::CreateOrMergeData
        } else {
            Policy::CreateOrUpdate
        };
        apply_one(target, object, policy)?;
    }
    Ok(())
}

fn upload_kubelet_config(ctx: &OnlineContext) -> Result<()> {
    log::info!(
        "[kubelet] Creating a ConfigMap \"kubelet-config\" in namespace kube-system with the \
         configuration for the kubelets in the cluster"
    );
    let config = crate::kubelet::defaulted_kubelet_config(&ctx.cfg.cluster, &ctx.cfg.kubelet);
    let yaml = serde_yaml::to_string(&config)
        .map_err(|e| Error::Yaml("the kubelet configuration", e.to_string()))?;
    // kubeadm signs the ConfigMap only when it generated the configuration itself.
    let user_supplied = !ctx.cfg.kubelet.is_empty();
    apply(
        api_target(ctx)?,
        &cluster::kubelet_config_objects(&yaml, user_supplied),
    )?;
    if crate::kubelet::node_local_cri_socket(&ctx.cfg.cluster) {
        return Ok(());
    }
    let node = &ctx.cfg.node_registration;
    log::info!(
        "[upload-config] Preserving the CRISocket information for the control-plane node {:?}",
        node.name
    );
    match ctx.target {
        Target::DryRun(out) => print_patch(
            out,
            &node_path(&node.name),
            &cri_socket_patch(&node.cri_socket),
        ),
        Target::Api(_) => patch_node(ctx, &node.name, cri_socket_change(&node.cri_socket)),
    }
}

fn cri_socket_patch(cri_socket: &str) -> Value {
    json!({"metadata": {"annotations": {CRI_SOCKET_ANNOTATION: cri_socket}}})
}

/// kubeadm's `AnnotateCRISocket`, as a change for [`patch_node`]: the annotation, unless the
/// Node has it already.
pub(crate) fn cri_socket_change(cri_socket: &str) -> impl Fn(&Value) -> Option<Value> + '_ {
    move |node: &Value| {
        let current = node["metadata"]["annotations"][CRI_SOCKET_ANNOTATION].as_str();
        (current != Some(cri_socket)).then(|| cri_socket_patch(cri_socket))
    }
}

fn node_path(name: &str) -> String {
    format!("/api/v1/nodes/{name}")
}

/// The target, after making sure the admin client has its rights.
fn api_target<'a>(ctx: &OnlineContext<'a>) -> Result<Target<'a>> {
    match ctx.target {
        Target::Api(_) => ctx.admin().map(Target::Api),
        dry_run => Ok(dry_run),
    }
}

/// `upload-certs` (with `--upload-certs` only): a bootstrap token Secret that expires in two
/// hours, then `kube-system/kubeadm-certs` (the control-plane CAs and service-account keys
/// sealed with the certificate key) owned by it, so that the keys go when the token does.
pub fn upload_certs(ctx: &OnlineContext, sub: Option<&str>) -> Result<()> {
    no_sub_phase("upload-certs", sub)?;
    if !ctx.upload_certs {
        log::info!("[upload-certs] Skipping phase. Please see --upload-certs");
        return Ok(());
    }
    let key = ctx.certificate_key.ok_or(Error::NoCertificateKey)?;
    log::info!(
        "[upload-certs] Storing the certificates in Secret \"kubeadm-certs\" in the \
         \"kube-system\" Namespace"
    );
    let target = api_target(ctx)?;
    // A fresh token each run (kubeadm's CreateNewTokens): the one of a crashed run expires.
    let token = cluster::generate_token()?;
    let mut owner = SecretOwner {
        name: format!("bootstrap-token-{}", token.id),
        uid: "<uid of the created Secret>".to_string(),
    };
    for object in cluster::upload_certs_token_objects(&token, ctx.now)? {
        if let Some(created) = apply_one(target, &object, Policy::CreateOnly)? {
            owner.uid = uid_of(&created, &object)?;
        }
    }
    let files = cluster::read_certs_to_upload(ctx.root, &ctx.cfg.cluster)?;
    apply(target, &cluster::upload_certs_objects(key, &files, &owner)?)?;
    // Stdout is the serial console under boot: the key appears once, in the control-plane
    // join command at the end, not here as well.
    if !ctx.skip_certificate_key_print {
        ctx.print(
            "[upload-certs] Using a certificate key (not shown here: it is part of the \
             control-plane join command printed at the end of init)\n",
        )?;
    }
    Ok(())
}

fn uid_of(created: &Value, object: &Object) -> Result<String> {
    created["metadata"]["uid"]
        .as_str()
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            Error::Api(crate::api::Error::Request {
                method: "POST",
                url: object.api_path(),
                detail: format!(
                    "the server returned {} without a metadata.uid",
                    object.describe()
                ),
            })
        })
}

/// `mark-control-plane`: the control-plane labels and taints on this node's Node, once the
/// kubelet has registered it. Taints already on the Node are kept.
pub fn mark_control_plane(ctx: &OnlineContext, sub: Option<&str>) -> Result<()> {
    no_sub_phase("mark-control-plane", sub)?;
    let name = &ctx.cfg.node_registration.name;
    let taints = cluster::control_plane_taints(ctx.cfg.node_registration.taints.as_deref());
    log::info!(
        "[mark-control-plane] Marking the node {name} as control-plane by adding the labels: [{} {}]",
        cluster::LABEL_CONTROL_PLANE,
        cluster::LABEL_EXCLUDE_FROM_EXTERNAL_LB
    );
    if !taints.is_empty() {
        log::info!(
            "[mark-control-plane] Marking the node {name} as control-plane by adding the taints [{}]",
            taints
                .iter()
                .map(taint_string)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    match ctx.target {
        Target::DryRun(out) => print_patch(
            out,
            &node_path(name),
            &cluster::mark_control_plane_patch(&taints),
        ),
        Target::Api(_) => patch_node(ctx, name, |node| {
            cluster::mark_control_plane_patch_for(node, &taints)
        }),
    }
}

/// Go's `v1.Taint.String`: `key=value:effect`, or `key:effect` without a value.
fn taint_string(t: &Taint) -> String {
    match t.value.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => format!("{}={v}:{}", t.key, t.effect),
        None => format!("{}:{}", t.key, t.effect),
    }
}

/// `bootstrap-token`: the configured bootstrap tokens, the RBAC that lets them join nodes, and
/// the public `kube-public/cluster-info` ConfigMap (admin.conf's server and CA).
pub fn bootstrap_token(ctx: &OnlineContext, sub: Option<&str>) -> Result<()> {
    no_sub_phase("bootstrap-token", sub)?;
    let tokens = &ctx.cfg.bootstrap_tokens;
    if let Some(i) = tokens.iter().position(|t| t.token.is_none()) {
        return Err(Error::TokenMissing(i));
    }
    // Only the public id: the secret appears once, in the join command at the end.
    if !ctx.skip_token_print {
        let values: Vec<String> = tokens
            .iter()
            .flat_map(|t| &t.token)
            .map(|t| format!("{}.<redacted>", t.id))
            .collect();
        match values.as_slice() {
            [] => {}
            [one] => ctx.print(&format!("[bootstrap-token] Using token: {one}\n"))?,
            many => ctx.print(&format!(
                "[bootstrap-token] Using tokens: [{}]\n",
                many.join(" ")
            ))?,
        }
    }
    log::info!(
        "[bootstrap-token] Configuring bootstrap tokens, cluster-info ConfigMap, RBAC Roles"
    );
    let target = api_target(ctx)?;
    apply(target, &cluster::bootstrap_token_objects(tokens, ctx.now)?)?;
    for done in [
        "[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to get nodes",
        "[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to post CSRs in \
         order for nodes to get long term certificate credentials",
        "[bootstrap-token] Configured RBAC rules to allow the csrapprover controller \
         automatically approve CSRs from a Node Bootstrap Token",
        "[bootstrap-token] Configured RBAC rules to allow certificate rotation for all node \
         client certificates in the cluster",
    ] {
        log::info!("{done}");
    }
    log::info!(
        "[bootstrap-token] Creating the \"cluster-info\" ConfigMap in the \"kube-public\" namespace"
    );
    let admin = KubeconfigCredentials::load(ctx.root, ADMIN_CONF)?;
    apply(
        target,
        &cluster::cluster_info_objects(&admin.ca_pem, &admin.server),
    )
}

/// `addon`: `coredns` (unless `dns.disabled`) and `kube-proxy` (unless `proxy.disabled`).
pub fn addon(ctx: &OnlineContext, sub: Option<&str>) -> Result<()> {
    each_sub_phase("addon", ADDON_PHASES, sub, |s| match s {
        "coredns" => coredns(ctx),
        _ => kube_proxy(ctx),
    })
}

fn coredns(ctx: &OnlineContext) -> Result<()> {
    let mut objects = cluster::coredns_objects(&ctx.cfg.cluster)?;
    if objects.is_empty() {
        log::info!("[addons] Not installing the CoreDNS addon: dns.disabled is set");
        return Ok(());
    }
    let target = api_target(ctx)?;
    if let Target::Api(client) = target {
        keep_coredns_replicas(client, &mut objects)?;
    }
    for object in &objects {
        // kubeadm retains an existing Corefile: users edit it.
        let policy = if object.is::<ConfigMap>() {
            Policy::CreateOrRetain
        } else {
            Policy::CreateOrUpdate
        };
        apply_one(target, object, policy)?;
    }
    log::info!("[addons] Applied essential addon: CoreDNS");
    Ok(())
}

/// kubeadm keeps the replica count of a CoreDNS Deployment that already runs (someone may
/// have scaled it); only a new one gets the default.
fn keep_coredns_replicas(client: &crate::api::Client, objects: &mut [Object]) -> Result<()> {
    for desired in objects.iter_mut().filter(|o| o.is::<Deployment>()) {
        // Read as JSON: a typed Deployment would link in the decoder of every Pod field.
        let existing =
            client.get_optional_as::<Deployment, Value>(desired.namespace(), desired.name())?;
        let replicas = existing.map(|d| d["spec"]["replicas"].clone());
        if let Some(replicas) = replicas.filter(Value::is_number) {
            desired.body_mut()["spec"]["replicas"] = replicas;
        }
    }
    Ok(())
}

fn kube_proxy(ctx: &OnlineContext) -> Result<()> {
    let objects = cluster::kube_proxy_objects(
        &ctx.cfg.cluster,
        &ctx.cfg.local_api_endpoint,
        &ctx.proxy_env,
    )?;
    if objects.is_empty() {
        log::info!("[addons] Not installing the kube-proxy addon: proxy.disabled is set");
        return Ok(());
    }
    apply(api_target(ctx)?, &objects)?;
    log::info!("[addons] Applied essential addon: kube-proxy");
    Ok(())
}

/// `show-join-command`: kubeadm's closing message with the join commands, once per bootstrap
/// token, on [`OnlineContext::out`] only. The server and the CA pins come from admin.conf.
pub fn show_join_command(ctx: &OnlineContext, sub: Option<&str>) -> Result<()> {
    no_sub_phase("show-join-command", sub)?;
    let admin = KubeconfigCredentials::load(ctx.root, ADMIN_CONF)?;
    let hashes = pin::hashes_pem(&admin.ca_pem).map_err(|e| Error::Kubeconfig {
        path: ADMIN_CONF.to_string(),
        reason: format!("certificate-authority-data: {e}"),
    })?;
    let mut text = String::new();
    for token in ctx.cfg.bootstrap_tokens.iter().flat_map(|t| &t.token) {
        let cmd = JoinCommand {
            server: &admin.server,
            token,
            ca_cert_hashes: &hashes,
            skip_token_print: ctx.skip_token_print,
        };
        let control_plane = cluster::join_control_plane_command(
            &cmd,
            ctx.certificate_key,
            ctx.skip_certificate_key_print,
        );
        let worker = cluster::join_worker_command(&cmd);
        let has_endpoint = ctx
            .cfg
            .cluster
            .control_plane_endpoint
            .as_deref()
            .is_some_and(|e| !e.is_empty());
        let _ = write!(
            text,
            "{}",
            cluster::init_done_message(
                &ctx.admin_conf_shown,
                has_endpoint,
                ctx.upload_certs,
                &control_plane,
                &worker
            )
        );
    }
    ctx.print(&text)
}
