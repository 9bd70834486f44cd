//! One API object to create, of any kind kubeadm's init phases create, with what the apply loop
//! needs: its REST paths, its name, and its JSON and YAML encodings.

use std::fmt;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{ByteString, Resource};

use super::{Error, Result};

/// An object to create or update, in the order kubeadm creates it.
///
/// `Debug` shows kind, namespace and name only: a `Secret` holds token secrets or encrypted
/// keys, which must never reach a log.
#[derive(Clone, PartialEq)]
pub enum Object {
    ConfigMap(ConfigMap),
    Secret(Secret),
    ServiceAccount(ServiceAccount),
    Service(Service),
    Role(Role),
    RoleBinding(RoleBinding),
    ClusterRole(ClusterRole),
    ClusterRoleBinding(ClusterRoleBinding),
    Deployment(Deployment),
    DaemonSet(DaemonSet),
}

/// Calls `$f` with the typed object and its `Resource` type in scope.
macro_rules! each {
    ($self:expr, $o:ident => $body:expr) => {
        match $self {
            Object::ConfigMap($o) => $body,
            Object::Secret($o) => $body,
            Object::ServiceAccount($o) => $body,
            Object::Service($o) => $body,
            Object::Role($o) => $body,
            Object::RoleBinding($o) => $body,
            Object::ClusterRole($o) => $body,
            Object::ClusterRoleBinding($o) => $body,
            Object::Deployment($o) => $body,
            Object::DaemonSet($o) => $body,
        }
    };
}

fn kind_of<T: Resource>(_: &T) -> &'static str {
    T::KIND
}

/// `/api/v1` for the core group, `/apis/<group>/<version>` otherwise.
fn group_prefix<T: Resource>(_: &T) -> String {
    if T::GROUP.is_empty() {
        format!("/api/{}", T::VERSION)
    } else {
        format!("/apis/{}/{}", T::GROUP, T::VERSION)
    }
}

fn plural<T: Resource>(_: &T) -> &'static str {
    T::URL_PATH_SEGMENT
}

impl Object {
    /// The kind, as in the object's `kind` field (`ConfigMap`, `ClusterRoleBinding`, ...).
    pub fn kind(&self) -> &'static str {
        each!(self, o => kind_of(o))
    }

    pub fn metadata(&self) -> &ObjectMeta {
        each!(self, o => &o.metadata)
    }

    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        each!(self, o => &mut o.metadata)
    }

    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }

    /// `None` for cluster-scoped objects.
    pub fn namespace(&self) -> Option<&str> {
        self.metadata().namespace.as_deref()
    }

    /// The collection to POST to, e.g. `/api/v1/namespaces/kube-system/configmaps` or
    /// `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings`.
    pub fn api_path(&self) -> String {
        let (prefix, plural) = each!(self, o => (group_prefix(o), plural(o)));
        match self.namespace() {
            Some(ns) => format!("{prefix}/namespaces/{ns}/{plural}"),
            None => format!("{prefix}/{plural}"),
        }
    }

    /// The object itself, to GET, PUT or PATCH: `api_path()` + `/` + name.
    pub fn item_path(&self) -> String {
        format!("{}/{}", self.api_path(), self.name())
    }

    /// `Kind namespace/name` (or `Kind name`), for logs and errors.
    pub fn describe(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{} {ns}/{}", self.kind(), self.name()),
            None => format!("{} {}", self.kind(), self.name()),
        }
    }

    /// The request body: JSON with `apiVersion` and `kind`.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        each!(self, o => serde_json::to_vec(o)).map_err(|e| self.encode_error("JSON", e))
    }

    /// The object as one YAML document (no `---`), as a dry-run prints it. A `Secret`'s data
    /// is included as is: print [`Object::redacted`] where the output may be logged.
    pub fn to_yaml(&self) -> Result<String> {
        each!(self, o => serde_yaml::to_string(o)).map_err(|e| self.encode_error("YAML", e))
    }

    /// The same object with every `Secret` value replaced by `<redacted>`, for dry-run output
    /// that goes to a console or log.
    pub fn redacted(&self) -> Object {
        let mut copy = self.clone();
        if let Object::Secret(s) = &mut copy {
            for map in [&mut s.data].into_iter().flatten() {
                for v in map.values_mut() {
                    *v = ByteString(b"<redacted>".to_vec());
                }
            }
            for map in [&mut s.string_data].into_iter().flatten() {
                for v in map.values_mut() {
                    *v = "<redacted>".to_string();
                }
            }
        }
        copy
    }

    fn encode_error(&self, format: &'static str, e: impl fmt::Display) -> Error {
        Error::Encode {
            kind: self.kind(),
            name: self.name().to_string(),
            format,
            message: e.to_string(),
        }
    }
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Object({})", self.describe())
    }
}

/// Objects as a `---`-separated YAML stream, each document starting with `---`.
pub fn to_yaml_stream(objects: &[Object]) -> Result<String> {
    let mut out = String::new();
    for o in objects {
        out.push_str("---\n");
        out.push_str(&o.to_yaml()?);
    }
    Ok(out)
}

macro_rules! from_typed {
    ($($t:ident),*) => {$(
        impl From<$t> for Object {
            fn from(o: $t) -> Self {
                Object::$t(o)
            }
        }
    )*};
}

from_typed!(
    ConfigMap,
    Secret,
    ServiceAccount,
    Service,
    Role,
    RoleBinding,
    ClusterRole,
    ClusterRoleBinding,
    Deployment,
    DaemonSet
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::meta;

    #[test]
    fn paths_follow_group_version_and_scope() {
        let cm = Object::from(ConfigMap {
            metadata: meta(Some("kube-public"), "cluster-info"),
            ..Default::default()
        });
        assert_eq!(cm.api_path(), "/api/v1/namespaces/kube-public/configmaps");
        assert_eq!(
            cm.item_path(),
            "/api/v1/namespaces/kube-public/configmaps/cluster-info"
        );
        let crb = Object::from(ClusterRoleBinding {
            metadata: meta(None, "kubeadm:get-nodes"),
            ..Default::default()
        });
        assert_eq!(
            crb.api_path(),
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
        );
        let ds = Object::from(DaemonSet {
            metadata: meta(Some("kube-system"), "kube-proxy"),
            ..Default::default()
        });
        assert_eq!(
            ds.item_path(),
            "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy"
        );
    }

    #[test]
    fn debug_and_redacted_never_show_secret_data() {
        let mut data = std::collections::BTreeMap::new();
        data.insert(
            "token-secret".to_string(),
            ByteString(b"0123456789abcdef".to_vec()),
        );
        let s = Object::from(Secret {
            metadata: meta(Some("kube-system"), "bootstrap-token-abcdef"),
            data: Some(data),
            ..Default::default()
        });
        assert_eq!(
            format!("{s:?}"),
            "Object(Secret kube-system/bootstrap-token-abcdef)"
        );
        let yaml = s.redacted().to_yaml().unwrap();
        assert!(!yaml.contains("MDEyMzQ1Njc4OWFiY2RlZg"), "{yaml}");
        let json = String::from_utf8(s.to_json().unwrap()).unwrap();
        assert!(json.contains(r#""apiVersion":"v1""#) && json.contains(r#""kind":"Secret""#));
    }
}
