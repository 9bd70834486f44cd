//! The few RBAC shapes kubeadm uses, so each phase reads as a list of names.

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};

use super::meta;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

pub(crate) fn group(name: &str) -> Subject {
    Subject {
        kind: "Group".to_string(),
        name: name.to_string(),
        ..Default::default()
    }
}

pub(crate) fn user(name: &str) -> Subject {
    Subject {
        kind: "User".to_string(),
        name: name.to_string(),
        ..Default::default()
    }
}

pub(crate) fn service_account(namespace: &str, name: &str) -> Subject {
    Subject {
        kind: "ServiceAccount".to_string(),
        name: name.to_string(),
        namespace: Some(namespace.to_string()),
        ..Default::default()
    }
}

/// `get` on named objects of one core resource (`rbachelper.NewRule("get")...Names(...)`).
pub(crate) fn get_named(resource: &str, name: &str) -> PolicyRule {
    PolicyRule {
        verbs: vec!["get".to_string()],
        api_groups: Some(vec![String::new()]),
        resources: Some(vec![resource.to_string()]),
        resource_names: Some(vec![name.to_string()]),
        ..Default::default()
    }
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef {
        api_group: RBAC_GROUP.to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
    }
}

pub(crate) fn role(namespace: &str, name: &str, rules: Vec<PolicyRule>) -> Role {
    Role {
        metadata: meta(Some(namespace), name),
        rules: Some(rules),
    }
}

/// A RoleBinding named like the Role it binds, as kubeadm names all of its own.
pub(crate) fn role_binding(namespace: &str, role: &str, subjects: Vec<Subject>) -> RoleBinding {
    RoleBinding {
        metadata: meta(Some(namespace), role),
        role_ref: role_ref("Role", role),
        subjects: Some(subjects),
    }
}

pub(crate) fn cluster_role(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole {
        metadata: meta(None, name),
        rules: Some(rules),
        ..Default::default()
    }
}

pub(crate) fn cluster_role_binding(
    name: &str,
    cluster_role: &str,
    subjects: Vec<Subject>,
) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(None, name),
        role_ref: role_ref("ClusterRole", cluster_role),
        subjects: Some(subjects),
    }
}
