//! Patching this node's Node object, as kubeadm's `apiclient.PatchNode`: wait (bounded by
//! `timeouts.kubernetesAPICall`) for the kubelet to register it, compute the change from the
//! Node as it is, and send it as a merge patch carrying the Node's `resourceVersion`, so that a
//! concurrent change (the node lifecycle controller removing a taint) makes it a 409 and a
//! fresh try rather than an overwrite.

use k8s_openapi::api::core::v1::Node;
use serde_json::Value;

use std::time::Duration;

use super::apply::is_conflict;
use super::wait::poll_until;
use super::{Error, OnlineContext, Result, WaitOptions};
use crate::api::{Client, Patch};

/// Applies `change(node)` (a merge patch, or `None` when the Node already is as wanted) to the
/// Node `name` once it exists. The Node is read as JSON: a typed `Node` would link in the
/// decoder of its whole status for a few labels and taints.
pub(crate) fn patch_node(
    ctx: &OnlineContext,
    name: &str,
    change: impl Fn(&Value) -> Option<Value>,
) -> Result<()> {
    let timeout = ctx.cfg.timeouts.kubernetes_api_call;
    patch_node_with(ctx.admin()?, &ctx.wait, timeout, name, change)
}

/// [`patch_node`] with any client allowed to (a kubelet's own, for its Node), polling as
/// `wait` says for at most `timeout`.
pub(crate) fn patch_node_with(
    client: &Client,
    wait: &WaitOptions,
    timeout: Duration,
    name: &str,
    change: impl Fn(&Value) -> Option<Value>,
) -> Result<()> {
    let mut last = String::from("not registered yet");
    let done = poll_until(wait, timeout, || {
        let Some(node) = client.get_optional_as::<Node, Value>(None, name)? else {
            last = "not registered yet".into();
            return Ok(None);
        };
        let Some(mut patch) = change(&node) else {
            return Ok(Some(()));
        };
        if let Some(version) = node["metadata"]["resourceVersion"].as_str() {
            patch["metadata"]["resourceVersion"] = Value::String(version.to_string());
        }
        match client.patch::<Node>(None, name, &Patch::Merge(patch)) {
            Ok(_) => Ok(Some(())),
            Err(e) if is_conflict(&e) || e.is_not_found() => {
                last = e.to_string();
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    })?;
    done.ok_or_else(|| Error::NodeNotRegistered {
        name: name.to_string(),
        timeout,
        last,
    })
}
