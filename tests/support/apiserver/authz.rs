//! Authorization as a kubeadm cluster runs it (`--authorization-mode=Node,RBAC`): the
//! `system:masters` superuser group, the Node authorizer's static rules for kubelets, then
//! RBAC evaluated from the Role/ClusterRole/RoleBinding/ClusterRoleBinding objects in the
//! store. The rules are data: tests and the code under test extend them by writing RBAC
//! objects, exactly as on a real cluster.

use serde_json::{Value, json};

use super::authn::{MASTERS, UserInfo};
use super::store::{ApiError, Store, lookup};

/// What a request wants to do, as the authorizer sees it.
pub struct Attributes<'a> {
    pub user: &'a UserInfo,
    pub verb: &'a str,
    pub target: Target<'a>,
}

pub enum Target<'a> {
    Resource {
        group: &'a str,
        resource: &'a str,
        subresource: &'a str,
        namespace: &'a str,
        /// Empty for create, list and deletecollection.
        name: &'a str,
    },
    Path(&'a str),
}

pub fn authorize(store: &Store, attrs: &Attributes) -> Result<(), ApiError> {
    if allowed(store, attrs) {
        Ok(())
    } else {
        Err(forbidden(attrs, ""))
    }
}

pub fn allowed(store: &Store, attrs: &Attributes) -> bool {
    attrs.user.in_group(MASTERS) || node_authorizer_allows(attrs) || rbac_allows(store, attrs)
}

/// The 403 kube-apiserver writes (`responsewriters.Forbidden` + `forbiddenMessage`).
pub fn forbidden(attrs: &Attributes, reason: &str) -> ApiError {
    let user = &attrs.user.name;
    let verb = attrs.verb;
    let mut why = match attrs.target {
        Target::Path(path) => format!("User \"{user}\" cannot {verb} path \"{path}\""),
        Target::Resource {
            group,
            resource,
            subresource,
            namespace,
            ..
        } => {
            let combined = if subresource.is_empty() {
                resource.to_string()
            } else {
                format!("{resource}/{subresource}")
            };
            let scope = if namespace.is_empty() {
                "at the cluster scope".to_string()
            } else {
                format!("in the namespace \"{namespace}\"")
            };
            format!(
                "User \"{user}\" cannot {verb} resource \"{combined}\" in API group \"{group}\" {scope}"
            )
        }
    };
    if !reason.is_empty() {
        why = format!("{why}: {reason}");
    }
    match attrs.target {
        Target::Path(_) => ApiError::forbidden("", "", "", &why),
        Target::Resource {
            group,
            resource,
            name,
            ..
        } => ApiError::forbidden(group, resource, name, &why),
    }
}

/// The Node authorizer's static part (`NodeRules()` in the bootstrap policy), for
/// `system:node:<name>` in `system:nodes`. Which Node a kubelet may write is enforced by the
/// NodeRestriction admission step in the handlers, as on a real server. Secrets and
/// ConfigMaps are never granted here (no Pods are bound), so kubelets read kubeadm's
/// ConfigMaps through RBAC only.
fn node_authorizer_allows(attrs: &Attributes) -> bool {
    if attrs.user.node_name().is_none() {
        return false;
    }
    static NODE_RULES: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    let rules = NODE_RULES.get_or_init(|| {
        vec![
            rule(
                &["create", "get", "list", "watch", "update", "patch"],
                &[""],
                &["nodes"],
            ),
            rule(&["update", "patch"], &[""], &["nodes/status"]),
            rule(&["get", "list", "watch"], &[""], &["services", "pods"]),
            rule(&["create", "update", "patch"], &[""], &["events"]),
            rule(
                &["create", "get", "list", "watch"],
                &["certificates.k8s.io"],
                &["certificatesigningrequests"],
            ),
            rule(
                &["get", "create", "update", "patch", "delete"],
                &["coordination.k8s.io"],
                &["leases"],
            ),
        ]
    });
    rules.iter().any(|r| rule_allows(r, attrs))
}

fn rbac_allows(store: &Store, attrs: &Attributes) -> bool {
    let (Some(crbs), Some(rbs), Some(cluster_roles), Some(roles)) = (
        lookup("rbac.authorization.k8s.io", "v1", "clusterrolebindings"),
        lookup("rbac.authorization.k8s.io", "v1", "rolebindings"),
        lookup("rbac.authorization.k8s.io", "v1", "clusterroles"),
        lookup("rbac.authorization.k8s.io", "v1", "roles"),
    ) else {
        return false;
    };
    let role_rules = |binding: &Value, namespace: &str| -> Vec<Value> {
        let role_name = binding["roleRef"]["name"].as_str().unwrap_or("");
        let role = match binding["roleRef"]["kind"].as_str() {
            Some("ClusterRole") => store.get(&cluster_roles.key("", role_name)),
            Some("Role") if !namespace.is_empty() => store.get(&roles.key(namespace, role_name)),
            _ => None,
        };
        role.and_then(|r| r["rules"].as_array().cloned())
            .unwrap_or_default()
    };
    let grants = |binding: &Value, namespace: &str| {
        binds_user(binding, attrs.user, namespace)
            && role_rules(binding, namespace)
                .iter()
                .any(|r| rule_allows(r, attrs))
    };
    if store.list(crbs, None).into_iter().any(|b| grants(b, "")) {
        return true;
    }
    match attrs.target {
        Target::Resource { namespace, .. } if !namespace.is_empty() => store
            .list(rbs, Some(namespace))
            .into_iter()
            .any(|b| grants(b, namespace)),
        _ => false,
    }
}

fn binds_user(binding: &Value, user: &UserInfo, binding_namespace: &str) -> bool {
    let Some(subjects) = binding["subjects"].as_array() else {
        return false;
    };
    subjects.iter().any(|s| {
        let name = s["name"].as_str().unwrap_or("");
        match s["kind"].as_str() {
            Some("User") => user.name == name,
            Some("Group") => user.in_group(name),
            Some("ServiceAccount") => {
                let ns = s["namespace"].as_str().unwrap_or(binding_namespace);
                user.name == format!("system:serviceaccount:{ns}:{name}")
            }
            _ => false,
        }
    })
}

/// RBAC's rule matching (`rbac/v1` helpers): verbs, API groups, resources including
/// `resource/subresource` and `*/subresource`, resourceNames, and non-resource URLs with a
/// trailing `*` as a prefix match.
fn rule_allows(rule: &Value, attrs: &Attributes) -> bool {
    let list = |field: &str| -> Vec<&str> {
        rule[field]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    if !list("verbs").iter().any(|v| *v == "*" || *v == attrs.verb) {
        return false;
    }
    match attrs.target {
        Target::Path(path) => list("nonResourceURLs").iter().any(|u| {
            *u == "*" || *u == path || u.strip_suffix('*').is_some_and(|p| path.starts_with(p))
        }),
        Target::Resource {
            group,
            resource,
            subresource,
            name,
            ..
        } => {
            let combined = if subresource.is_empty() {
                resource.to_string()
            } else {
                format!("{resource}/{subresource}")
            };
            let groups_match = list("apiGroups").iter().any(|g| *g == "*" || *g == group);
            let resources_match = list("resources").iter().any(|r| {
                *r == "*"
                    || *r == combined
                    || (!subresource.is_empty()
                        && r.strip_prefix("*/").is_some_and(|s| s == subresource))
            });
            let names = list("resourceNames");
            groups_match && resources_match && (names.is_empty() || names.contains(&name))
        }
    }
}

/// A PolicyRule for resources, as JSON.
pub fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Value {
    json!({"verbs": verbs, "apiGroups": groups, "resources": resources})
}

/// A PolicyRule limited to named objects.
pub fn named_rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> Value {
    json!({"verbs": verbs, "apiGroups": groups, "resources": resources, "resourceNames": names})
}

/// A PolicyRule for non-resource URLs.
pub fn path_rule(verbs: &[&str], urls: &[&str]) -> Value {
    json!({"verbs": verbs, "nonResourceURLs": urls})
}
