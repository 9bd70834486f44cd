//! Creating objects idempotently, as kubeadm's `apiclient` helpers (`CreateOrUpdate`,
//! `CreateOrRetain`, `CreateOrMutateConfigMap`, `CreateNewTokens`), or printing them in a dry
//! run.
//!
//! Every object is POSTed first. When it already exists (a re-run after a crash, or another
//! control-plane node), the stored object is read back and compared: if every field we set
//! already has our value it is left alone (fields the server or a controller added, such as
//! defaults or the JWS signatures in cluster-info, do not count), otherwise it is replaced
//! with the stored `resourceVersion`, so that a concurrent change is a 409 retried against the
//! new version rather than silently overwritten.

use std::cell::RefCell;
use std::io::Write;

use k8s_openapi::api::core::v1::{Secret, Service};
use serde_json::Value;

use super::{Error, Result, Target};
use crate::api::{self, Method};
use crate::cluster::Object;

/// What to do when the object already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// kubeadm's `CreateOrUpdate`: replace it when it differs from ours.
    CreateOrUpdate,
    /// kubeadm's `CreateOrRetain`: keep it as it is (the CoreDNS Corefile users edit).
    CreateOrRetain,
    /// kubeadm's `CreateOrMutateConfigMap`: set our `data` keys, keep the others.
    CreateOrMergeData,
    /// kubeadm's `CreateNewTokens`: an existing object is an error, unless it is exactly ours
    /// (our own create, retried after its answer was lost).
    CreateOnly,
}

/// How many times an update is retried when the object changes under it (409 Conflict).
const MAX_CONFLICTS: u32 = 5;

/// Creates or updates every object in order ([`Policy::CreateOrUpdate`]).
pub fn apply(target: Target<'_>, objects: &[Object]) -> Result<()> {
    for object in objects {
        apply_one(target, object, Policy::CreateOrUpdate)?;
    }
    Ok(())
}

/// Creates one object under `policy` and returns it as the server stores it (`None` in a dry
/// run, which prints it instead).
pub fn apply_one(target: Target<'_>, object: &Object, policy: Policy) -> Result<Option<Value>> {
    match target {
        Target::DryRun(out) => print_object(out, object).map(|()| None),
        Target::Api(client) => converge(client, object, policy).map(Some),
    }
}

/// Prints one object as a YAML document; a Secret's values are replaced by `<redacted>`.
fn print_object(out: &RefCell<dyn Write + '_>, object: &Object) -> Result<()> {
    let mut text = String::from("---\n");
    if object.is::<Secret>() {
        text.push_str("# Secret values are redacted in dry-run output.\n");
        text.push_str(&object.redacted().to_yaml()?);
    } else {
        text.push_str(&object.to_yaml()?);
    }
    write(out, &text)
}

/// Prints a PATCH that a dry run does not send, as a YAML document headed by its request line.
pub fn print_patch(out: &RefCell<dyn Write + '_>, path: &str, patch: &Value) -> Result<()> {
    let body =
        serde_yaml::to_string(patch).map_err(|e| Error::Yaml("dry-run patch", e.to_string()))?;
    write(
        out,
        &format!("---\n# PATCH {path} (application/merge-patch+json)\n{body}"),
    )
}

fn write(out: &RefCell<dyn Write + '_>, text: &str) -> Result<()> {
    let mut out = out.borrow_mut();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}

fn converge(client: &api::Client, object: &Object, policy: Policy) -> Result<Value> {
    let what = object.describe();
    let mut desired = object.body().clone();
    // kubeadm's kube-dns template carries `resourceVersion: "0"` for its unconditional update;
    // updates here always carry the stored version, and the server owns the field.
    if let Some(meta) = desired["metadata"].as_object_mut() {
        meta.remove("resourceVersion");
    }
    let body = encode(&desired)?;
    let created = client.request(
        Method::Post,
        &object.api_path(),
        Some(("application/json", body)),
    );
    let create_error = match created {
        Ok(bytes) => {
            log::debug!("[apiclient] Created {what}");
            return decode(client, Method::Post, &object.api_path(), &bytes);
        }
        Err(e) if e.is_already_exists() => e,
        // kubeadm's createDNSService: the Service IP may already be held by the kube-dns
        // Service itself ("provided IP is already allocated"); update it then.
        Err(e) if object.is::<Service>() && e.status_code() == Some(422) => e,
        Err(e) => return Err(e.into()),
    };
    let path = object.item_path();
    for _ in 0..MAX_CONFLICTS {
        let existing = match client.request(Method::Get, &path, None) {
            Ok(bytes) => decode(client, Method::Get, &path, &bytes)?,
            // Invalid for another reason than an existing kube-dns: report the create error.
            Err(e) if e.is_not_found() => return Err(create_error.into()),
            Err(e) => return Err(e.into()),
        };
        let replacement = match policy {
            Policy::CreateOrRetain => return Ok(existing),
            _ if contains(&existing, &desired) => return Ok(existing),
            Policy::CreateOnly => return Err(Error::AlreadyExists { what }),
            Policy::CreateOrUpdate => with_resource_version(desired.clone(), &existing),
            Policy::CreateOrMergeData => merge_data(existing.clone(), &desired),
        };
        match client.request(
            Method::Put,
            &path,
            Some(("application/json", encode(&replacement)?)),
        ) {
            Ok(bytes) => {
                log::debug!("[apiclient] Updated {what}");
                return decode(client, Method::Put, &path, &bytes);
            }
            Err(e) if is_conflict(&e) => log::debug!("[apiclient] {what} changed meanwhile: {e}"),
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::KeptConflicting { what })
}

fn encode(value: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|_| Error::Internal("a JSON value does not encode"))
}

pub(crate) fn is_conflict(e: &api::Error) -> bool {
    e.status_code() == Some(409) && e.reason() == Some("Conflict")
}

fn decode(client: &api::Client, method: Method, path: &str, bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| {
        api::Error::Decode {
            method: method.as_str(),
            url: format!("{}{path}", client.server()),
            detail: e.to_string(),
        }
        .into()
    })
}

fn with_resource_version(mut desired: Value, existing: &Value) -> Value {
    desired["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"].clone();
    desired
}

/// The stored ConfigMap with our `data` entries set over its own.
fn merge_data(mut existing: Value, desired: &Value) -> Value {
    if let Some(ours) = desired["data"].as_object() {
        if !existing["data"].is_object() {
            existing["data"] = Value::Object(Default::default());
        }
        for (key, value) in ours {
            existing["data"][key] = value.clone();
        }
    }
    existing
}

/// Whether every field of `desired` has the same value in `existing`. Maps may have more keys
/// (server defaults, controller-added data); lists must match element by element. A field
/// Kubernetes omits when empty (null, false, "", [], {}) may be absent.
pub(crate) fn contains(existing: &Value, desired: &Value) -> bool {
    match (existing, desired) {
        (Value::Object(e), Value::Object(d)) => d.iter().all(|(key, dv)| match e.get(key) {
            Some(ev) => contains(ev, dv),
            None => omitted_when_empty(dv),
        }),
        (Value::Array(e), Value::Array(d)) => {
            e.len() == d.len() && e.iter().zip(d).all(|(ev, dv)| contains(ev, dv))
        }
        (Value::Null, d) => omitted_when_empty(d),
        (e, d) => e == d,
    }
}

fn omitted_when_empty(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(_) | Value::Bool(true) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_additions_do_not_count_as_differences() {
        let desired = json!({
            "metadata": {"name": "cluster-info", "namespace": "kube-public"},
            "data": {"kubeconfig": "K"},
            "spec": {"ports": [{"port": 53, "name": "dns"}], "paused": false, "labels": {}}
        });
        let stored = json!({
            "metadata": {"name": "cluster-info", "namespace": "kube-public", "uid": "u",
                         "resourceVersion": "7"},
            "data": {"kubeconfig": "K", "jws-kubeconfig-abcdef": "sig"},
            "spec": {"ports": [{"port": 53, "name": "dns", "protocol": "UDP"}]}
        });
        assert!(contains(&stored, &desired));
        let mut changed = stored.clone();
        changed["data"]["kubeconfig"] = json!("other");
        assert!(!contains(&changed, &desired));
        let mut more_ports = stored.clone();
        more_ports["spec"]["ports"]
            .as_array_mut()
            .unwrap()
            .push(json!({"port": 9153}));
        assert!(!contains(&more_ports, &desired), "lists must match");
        assert!(!contains(&json!({"a": null}), &json!({"a": 1})));
    }

    #[test]
    fn updates_carry_the_stored_version_and_merges_keep_other_keys() {
        let stored = json!({"metadata": {"name": "kubeadm-config", "resourceVersion": "42"},
                            "data": {"ClusterStatus": "old", "ClusterConfiguration": "old"}});
        let desired = json!({"metadata": {"name": "kubeadm-config"},
                             "data": {"ClusterConfiguration": "new"}});
        assert_eq!(
            with_resource_version(desired.clone(), &stored)["metadata"]["resourceVersion"],
            "42"
        );
        let merged = merge_data(stored, &desired);
        assert_eq!(
            merged["data"],
            json!({"ClusterStatus": "old", "ClusterConfiguration": "new"})
        );
        assert_eq!(merged["metadata"]["resourceVersion"], "42");
    }
}
