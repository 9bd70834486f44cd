//! The object store: what etcd and the registry do for the API server. Objects are JSON values
//! keyed by (group, resource, namespace, name), with uid, creationTimestamp and a cluster-wide
//! resourceVersion, and the errors a real server answers with (`Status` bodies).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::http::Response;
use super::pki::random_uid;

/// A resource type the server serves.
pub struct ResourceType {
    pub group: &'static str,
    pub version: &'static str,
    pub resource: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub subresources: &'static [&'static str],
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `configmaps`, `certificatesigningrequests.certificates.k8s.io`: how errors name it.
    pub fn qualified(&self) -> String {
        qualified(self.group, self.resource)
    }

    pub fn key(&self, namespace: &str, name: &str) -> Key {
        Key {
            group: self.group.to_string(),
            resource: self.resource.to_string(),
            namespace: if self.namespaced {
                namespace.to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }
}

pub fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

const fn rt(
    group: &'static str,
    version: &'static str,
    resource: &'static str,
    kind: &'static str,
    namespaced: bool,
    subresources: &'static [&'static str],
) -> ResourceType {
    ResourceType {
        group,
        version,
        resource,
        kind,
        namespaced,
        subresources,
    }
}

const RBAC: &str = "rbac.authorization.k8s.io";

pub static RESOURCES: &[ResourceType] = &[
    rt("", "v1", "namespaces", "Namespace", false, &["status"]),
    rt("", "v1", "configmaps", "ConfigMap", true, &[]),
    rt("", "v1", "secrets", "Secret", true, &[]),
    rt("", "v1", "nodes", "Node", false, &["status"]),
    rt("", "v1", "serviceaccounts", "ServiceAccount", true, &[]),
    rt("", "v1", "services", "Service", true, &["status"]),
    rt("", "v1", "endpoints", "Endpoints", true, &[]),
    rt("", "v1", "pods", "Pod", true, &["status"]),
    rt(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        true,
        &["status", "scale"],
    ),
    rt("apps", "v1", "daemonsets", "DaemonSet", true, &["status"]),
    rt(RBAC, "v1", "roles", "Role", true, &[]),
    rt(RBAC, "v1", "rolebindings", "RoleBinding", true, &[]),
    rt(RBAC, "v1", "clusterroles", "ClusterRole", false, &[]),
    rt(
        RBAC,
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        &[],
    ),
    rt(
        "certificates.k8s.io",
        "v1",
        "certificatesigningrequests",
        "CertificateSigningRequest",
        false,
        &["approval", "status"],
    ),
    rt("coordination.k8s.io", "v1", "leases", "Lease", true, &[]),
];

pub fn lookup(group: &str, version: &str, resource: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.resource == resource)
}

/// Finds a resource type by `apiVersion` ("v1", "apps/v1") and plural resource name.
pub fn lookup_api_version(api_version: &str, resource: &str) -> Option<&'static ResourceType> {
    let (group, version) = split_api_version(api_version);
    lookup(group, version, resource)
}

pub fn lookup_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    let (group, version) = split_api_version(api_version);
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
}

fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub group: String,
    pub resource: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

#[derive(Default)]
pub struct Store {
    objects: BTreeMap<Key, Value>,
    resource_version: u64,
}

impl Store {
    pub fn get(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key)
    }

    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    /// Objects of one type, in one namespace or all of them, ordered by namespace and name.
    pub fn list(&self, rt: &ResourceType, namespace: Option<&str>) -> Vec<&Value> {
        self.objects
            .iter()
            .filter(|(k, _)| k.group == rt.group && k.resource == rt.resource)
            .filter(|(k, _)| namespace.is_none_or(|ns| k.namespace == ns))
            .map(|(_, v)| v)
            .collect()
    }

    pub fn create(&mut self, rt: &ResourceType, key: Key, obj: Value) -> Result<Value, ApiError> {
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(rt, &key.name));
        }
        Ok(self.put(rt, key, obj))
    }

    /// Replaces an existing object. A resourceVersion in `obj` must be the current one
    /// (optimistic concurrency); uid and creationTimestamp are kept from the stored object.
    pub fn update(&mut self, rt: &ResourceType, key: Key, obj: Value) -> Result<Value, ApiError> {
        let Some(current) = self.objects.get(&key) else {
            return Err(ApiError::not_found(rt, &key.name));
        };
        let sent_rv = obj["metadata"]["resourceVersion"].as_str().unwrap_or("");
        let current_rv = current["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("");
        if !sent_rv.is_empty() && sent_rv != current_rv {
            return Err(ApiError::conflict(rt, &key.name));
        }
        let mut obj = obj;
        for field in ["uid", "creationTimestamp"] {
            obj["metadata"][field] = current["metadata"][field].clone();
        }
        Ok(self.put(rt, key, obj))
    }

    pub fn delete(&mut self, rt: &ResourceType, key: &Key) -> Result<Value, ApiError> {
        self.objects
            .remove(key)
            .ok_or_else(|| ApiError::not_found(rt, &key.name))
    }

    /// Stores `obj` unconditionally, filling in type and server-owned metadata.
    pub fn put(&mut self, rt: &ResourceType, key: Key, mut obj: Value) -> Value {
        if !obj.is_object() {
            obj = json!({});
        }
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
        if !obj["metadata"].is_object() {
            obj["metadata"] = json!({});
        }
        let meta = &mut obj["metadata"];
        meta["name"] = json!(key.name);
        if rt.namespaced {
            meta["namespace"] = json!(key.namespace);
        } else if let Some(m) = meta.as_object_mut() {
            m.remove("namespace");
        }
        if meta["uid"].as_str().is_none_or(str::is_empty) {
            meta["uid"] = json!(random_uid());
        }
        if meta["creationTimestamp"].as_str().is_none_or(str::is_empty) {
            meta["creationTimestamp"] = json!(now_rfc3339());
        }
        self.resource_version += 1;
        meta["resourceVersion"] = json!(self.resource_version.to_string());
        self.objects.insert(key, obj.clone());
        obj
    }
}

pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero nanoseconds is valid");
    now.format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 formatting of the current time")
}

/// An error answer: a `metav1.Status` with the code, reason and message a real server uses.
#[derive(Debug)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: String, details: Value) -> ApiError {
        ApiError {
            code,
            reason,
            message,
            details,
        }
    }

    fn object_details(group: &str, resource: &str, name: &str) -> Value {
        let mut d = json!({});
        if !name.is_empty() {
            d["name"] = json!(name);
        }
        if !group.is_empty() {
            d["group"] = json!(group);
        }
        if !resource.is_empty() {
            d["kind"] = json!(resource);
        }
        d
    }

    pub fn not_found(rt: &ResourceType, name: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", rt.qualified()),
            ApiError::object_details(rt.group, rt.resource, name),
        )
    }

    pub fn namespace_not_found(namespace: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!("namespaces \"{namespace}\" not found"),
            ApiError::object_details("", "namespaces", namespace),
        )
    }

    pub fn no_such_resource() -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
            json!({}),
        )
    }

    pub fn already_exists(rt: &ResourceType, name: &str) -> ApiError {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", rt.qualified()),
            ApiError::object_details(rt.group, rt.resource, name),
        )
    }

    pub fn conflict(rt: &ResourceType, name: &str) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                rt.qualified()
            ),
            ApiError::object_details(rt.group, rt.resource, name),
        )
    }

    /// 422: the object fails validation. `why` is "field: Invalid value: ...".
    pub fn invalid(rt: &ResourceType, name: &str, why: &str) -> ApiError {
        ApiError::new(
            422,
            "Invalid",
            format!(
                "{} \"{name}\" is invalid: {why}",
                qualified(rt.group, rt.kind)
            ),
            ApiError::object_details(rt.group, rt.kind, name),
        )
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message.into(), Value::Null)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(401, "Unauthorized", "Unauthorized".into(), Value::Null)
    }

    pub fn forbidden(group: &str, resource: &str, name: &str, why: &str) -> ApiError {
        let message = match (resource.is_empty(), name.is_empty()) {
            (true, _) => format!("forbidden: {why}"),
            (false, true) => format!("{} is forbidden: {why}", qualified(group, resource)),
            (false, false) => format!(
                "{} \"{name}\" is forbidden: {why}",
                qualified(group, resource)
            ),
        };
        ApiError::new(
            403,
            "Forbidden",
            message,
            ApiError::object_details(group, resource, name),
        )
    }

    pub fn method_not_allowed(message: impl Into<String>) -> ApiError {
        ApiError::new(405, "MethodNotAllowed", message.into(), Value::Null)
    }

    pub fn unsupported_media_type(content_type: &str) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/merge-patch+json, application/strategic-merge-patch+json (got {content_type:?})"
            ),
            Value::Null,
        )
    }

    pub fn too_large() -> ApiError {
        ApiError::new(
            413,
            "RequestEntityTooLarge",
            "Request entity too large: limit is 3145728".into(),
            Value::Null,
        )
    }

    /// Any other status code: 5xx and 429 faults.
    pub fn with_code(code: u16) -> ApiError {
        let (reason, message) = match code {
            429 => (
                "TooManyRequests",
                "Too many requests, please try again later.",
            ),
            500 => (
                "InternalError",
                "Internal error occurred: injected by the test server",
            ),
            503 => (
                "ServiceUnavailable",
                "The server is currently unable to handle the request",
            ),
            504 => (
                "Timeout",
                "The server was unable to return a response in the time allotted",
            ),
            _ => ("", "injected by the test server"),
        };
        ApiError::new(code, reason, message.into(), Value::Null)
    }

    pub fn status_body(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if self.details.is_object() {
            status["details"] = self.details.clone();
        }
        status
    }

    pub fn response(&self) -> Response {
        Response::json(self.code, &self.status_body())
    }
}

pub fn success_status(rt: &ResourceType, name: &str, uid: &Value) -> Value {
    let mut details = ApiError::object_details(rt.group, rt.resource, name);
    details["uid"] = uid.clone();
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}
