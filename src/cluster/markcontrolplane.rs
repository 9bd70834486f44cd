//! `kubeadm init phase mark-control-plane`: the labels and taints of a control-plane Node, as a
//! JSON merge patch for `PATCH /api/v1/nodes/<name>`.

use k8s_openapi::api::core::v1::Taint;
use serde_json::{Map, Value, json};

use crate::config::model::Taint as ConfigTaint;

pub const LABEL_CONTROL_PLANE: &str = "node-role.kubernetes.io/control-plane";
pub const LABEL_EXCLUDE_FROM_EXTERNAL_LB: &str =
    "node.kubernetes.io/exclude-from-external-load-balancers";

/// The taints a control-plane node gets: the configured ones, or kubeadm's default
/// `node-role.kubernetes.io/control-plane:NoSchedule` when none are configured (`None`).
/// `Some(vec![])` means explicitly none.
pub fn control_plane_taints(configured: Option<&[ConfigTaint]>) -> Vec<Taint> {
    match configured {
        None => vec![Taint {
            key: LABEL_CONTROL_PLANE.to_string(),
            effect: "NoSchedule".to_string(),
            ..Default::default()
        }],
        Some(list) => list
            .iter()
            .map(|t| Taint {
                key: t.key.clone(),
                value: t.value.clone().filter(|v| !v.is_empty()),
                effect: t.effect.clone(),
                time_added: None,
            })
            .collect(),
    }
}

fn labels_patch() -> Value {
    json!({ LABEL_CONTROL_PLANE: "", LABEL_EXCLUDE_FROM_EXTERNAL_LB: "" })
}

fn taint_value(taint: &Taint) -> Value {
    serde_json::to_value(taint).unwrap_or(Value::Null)
}

fn taints_value(taints: &[Taint]) -> Value {
    Value::Array(taints.iter().map(taint_value).collect())
}

/// The patch without looking at the Node: both labels, and `taints` set to exactly `taints`
/// (a merge patch replaces the whole list, so taints already on the Node are dropped). Prefer
/// [`mark_control_plane_patch_for`], which keeps them as kubeadm does.
pub fn mark_control_plane_patch(taints: &[Taint]) -> Value {
    let mut patch = json!({ "metadata": { "labels": labels_patch() } });
    if !taints.is_empty() {
        patch["spec"] = json!({ "taints": taints_value(taints) });
    }
    patch
}

/// Go's `v1.Taint` equality on two taints as JSON: key, value ("" and unset alike), effect and
/// timeAdded.
fn same_taint(a: &Value, b: &Value) -> bool {
    let value = |t: &Value| t["value"].as_str().unwrap_or_default().to_string();
    a["key"] == b["key"]
        && a["effect"] == b["effect"]
        && value(a) == value(b)
        && a["timeAdded"] == b["timeAdded"]
}

/// The patch kubeadm's `markControlPlaneNode` + `PatchNode` sends for the Node as it is now
/// (`node`, as the API server returns it): the labels it lacks (set to ""), and, when they
/// change, the taints: `taints` first, then every taint already on the Node that is not among
/// them (e.g. `node.kubernetes.io/not-ready`). `None` when the Node is already marked.
pub fn mark_control_plane_patch_for(node: &Value, taints: &[Taint]) -> Option<Value> {
    let mut labels = Map::new();
    for key in [LABEL_CONTROL_PLANE, LABEL_EXCLUDE_FROM_EXTERNAL_LB] {
        if node["metadata"]["labels"][key].as_str() != Some("") {
            labels.insert(key.to_string(), Value::String(String::new()));
        }
    }
    let current_taints: &[Value] = node["spec"]["taints"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut wanted: Vec<Value> = taints.iter().map(taint_value).collect();
    for t in current_taints {
        if !wanted.iter().any(|w| same_taint(w, t)) {
            wanted.push(t.clone());
        }
    }
    let taints_change = wanted.len() != current_taints.len()
        || wanted
            .iter()
            .zip(current_taints)
            .any(|(a, b)| !same_taint(a, b));

    let mut patch = Map::new();
    if !labels.is_empty() {
        patch.insert("metadata".into(), json!({ "labels": labels }));
    }
    if taints_change {
        patch.insert("spec".into(), json!({ "taints": wanted }));
    }
    (!patch.is_empty()).then_some(Value::Object(patch))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(labels: &[(&str, &str)], taints: Vec<Taint>) -> Value {
        let labels: Map<String, Value> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "cp1", "labels": labels},
            "spec": {"taints": taints_value(&taints)},
            "status": {"conditions": [{"type": "Ready", "status": "False"}]}
        })
    }

    fn taint(key: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            effect: effect.into(),
            ..Default::default()
        }
    }

    #[test]
    fn default_taint_applies_only_when_unconfigured() {
        let t = control_plane_taints(None);
        assert_eq!(t, vec![taint(LABEL_CONTROL_PLANE, "NoSchedule")]);
        assert!(control_plane_taints(Some(&[])).is_empty());
        let custom = [ConfigTaint {
            key: "dedicated".into(),
            value: Some("cp".into()),
            effect: "NoExecute".into(),
        }];
        assert_eq!(
            control_plane_taints(Some(&custom))[0].value.as_deref(),
            Some("cp")
        );
    }

    #[test]
    fn existing_taints_are_kept_after_the_configured_ones() {
        let n = node(
            &[("kubernetes.io/hostname", "cp1")],
            vec![taint("node.kubernetes.io/not-ready", "NoSchedule")],
        );
        let patch = mark_control_plane_patch_for(&n, &control_plane_taints(None)).unwrap();
        assert_eq!(
            patch,
            json!({
                "metadata": {"labels": {LABEL_CONTROL_PLANE: "", LABEL_EXCLUDE_FROM_EXTERNAL_LB: ""}},
                "spec": {"taints": [
                    {"key": LABEL_CONTROL_PLANE, "effect": "NoSchedule"},
                    {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"},
                ]}
            })
        );
    }

    #[test]
    fn a_marked_node_needs_no_patch_and_no_taints_means_no_taint_change() {
        let labels = [
            (LABEL_CONTROL_PLANE, ""),
            (LABEL_EXCLUDE_FROM_EXTERNAL_LB, ""),
        ];
        let n = node(&labels, vec![taint(LABEL_CONTROL_PLANE, "NoSchedule")]);
        assert_eq!(
            mark_control_plane_patch_for(&n, &control_plane_taints(None)),
            None
        );
        // Go's taint equality: an empty value is no value.
        let mut empty_value = n.clone();
        empty_value["spec"]["taints"][0]["value"] = json!("");
        assert_eq!(
            mark_control_plane_patch_for(&empty_value, &control_plane_taints(None)),
            None
        );
        let bare = node(&[], vec![taint("x", "NoSchedule")]);
        let patch = mark_control_plane_patch_for(&bare, &[]).unwrap();
        assert!(patch.get("spec").is_none(), "{patch}");
    }

    #[test]
    fn blind_patch_sets_labels_and_taints() {
        let p = mark_control_plane_patch(&control_plane_taints(None));
        assert_eq!(p["metadata"]["labels"][LABEL_CONTROL_PLANE], "");
        assert_eq!(p["spec"]["taints"][0]["effect"], "NoSchedule");
        assert!(mark_control_plane_patch(&[]).get("spec").is_none());
    }
}
