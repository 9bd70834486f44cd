//! The REST layer: request info as kube-apiserver derives it, authorization, admission
//! (NodeRestriction, CSR subject/approval/signing checks), validation, and storage, with the
//! status codes and `Status` bodies a real server answers with.

use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::authn::{MASTERS, UserInfo};
use super::authz::{self, Attributes, Target};
use super::cluster::Version;
use super::controllers::{APISERVER_CLIENT_SIGNER, ControllerState, parse_csr_pem};
use super::http::{Request, Response};
use super::store::{ApiError, RESOURCES, ResourceType, Store, lookup, success_status};

pub struct Ctx<'a> {
    pub store: &'a mut Store,
    pub bookkeeping: &'a mut ControllerState,
    pub version: &'a Version,
}

/// A resource request, as `RequestInfoFactory` splits the URL.
struct ResourceRequest {
    group: String,
    version: String,
    namespace: String,
    resource: String,
    name: String,
    subresource: String,
    verb: &'static str,
}

impl ResourceRequest {
    fn attributes<'a>(&'a self, user: &'a UserInfo) -> Attributes<'a> {
        Attributes {
            user,
            verb: self.verb,
            target: Target::Resource {
                group: &self.group,
                resource: &self.resource,
                subresource: &self.subresource,
                namespace: &self.namespace,
                name: &self.name,
            },
        }
    }
}

pub fn serve(ctx: &mut Ctx, req: &Request, user: &UserInfo) -> Response {
    let result = match parse_resource_request(req) {
        Ok(Some(r)) => serve_resource(ctx, req, user, &r),
        Ok(None) => serve_non_resource(ctx, req, user),
        Err(e) => Err(e),
    };
    result.unwrap_or_else(|e| e.response())
}

fn parse_resource_request(req: &Request) -> Result<Option<ResourceRequest>, ApiError> {
    let segments = req.segments();
    let (group, version, mut rest) = match segments.first().map(String::as_str) {
        Some("api") if segments.len() >= 3 => (String::new(), segments[1].clone(), &segments[2..]),
        Some("apis") if segments.len() >= 4 => {
            (segments[1].clone(), segments[2].clone(), &segments[3..])
        }
        _ => return Ok(None),
    };
    let mut namespace = String::new();
    if rest[0] == "namespaces" && rest.len() > 1 {
        namespace = rest[1].clone();
        if rest.len() > 2 && !matches!(rest[2].as_str(), "status" | "finalize") {
            rest = &rest[2..];
        }
    }
    if rest.len() > 3 {
        return Err(ApiError::no_such_resource());
    }
    let name = rest.get(1).cloned().unwrap_or_default();
    let verb = match (req.method.as_str(), name.is_empty()) {
        ("GET", false) => "get",
        ("GET", true) if req.query("watch").is_some_and(|w| w == "true" || w == "1") => "watch",
        ("GET", true) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", false) => "delete",
        ("DELETE", true) => "deletecollection",
        (m, _) => {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({m})"
            )));
        }
    };
    Ok(Some(ResourceRequest {
        group,
        version,
        namespace,
        resource: rest[0].clone(),
        name,
        subresource: rest.get(2).cloned().unwrap_or_default(),
        verb,
    }))
}

fn serve_non_resource(ctx: &Ctx, req: &Request, user: &UserInfo) -> Result<Response, ApiError> {
    let path = req.path.as_str();
    let verb = req.method.to_ascii_lowercase();
    authz::authorize(
        ctx.store,
        &Attributes {
            user,
            verb: &verb,
            target: Target::Path(path),
        },
    )?;
    let is_health = ["/healthz", "/livez", "/readyz"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")));
    Ok(match (req.method.as_str(), path) {
        ("GET", "/version" | "/version/") => Response::json(200, &version_info(ctx.version)),
        ("GET", _) if is_health => Response::text(200, "ok"),
        ("GET", "/api" | "/api/") => Response::json(
            200,
            &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
        ),
        ("GET", "/apis" | "/apis/") => Response::json(200, &api_groups()),
        _ => Response::text(404, "404 page not found\n"),
    })
}

fn version_info(version: &Version) -> Value {
    json!({
        "major": version.major.to_string(),
        "minor": version.minor.to_string(),
        "gitVersion": version.git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn api_groups() -> Value {
    let mut groups: Vec<Value> = Vec::new();
    for rt in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        if groups.iter().any(|g| g["name"] == rt.group) {
            continue;
        }
        let gv = json!({"groupVersion": rt.api_version(), "version": rt.version});
        groups.push(json!({"name": rt.group, "versions": [gv.clone()], "preferredVersion": gv}));
    }
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn serve_resource(
    ctx: &mut Ctx,
    req: &Request,
    user: &UserInfo,
    r: &ResourceRequest,
) -> Result<Response, ApiError> {
    authz::authorize(ctx.store, &r.attributes(user))?;
    let rt = lookup(&r.group, &r.version, &r.resource).ok_or_else(ApiError::no_such_resource)?;
    let known_subresource =
        r.subresource.is_empty() || rt.subresources.contains(&r.subresource.as_str());
    let scoped_right = if rt.namespaced {
        !r.namespace.is_empty() || matches!(r.verb, "list" | "watch")
    } else {
        r.namespace.is_empty() || rt.resource == "namespaces"
    };
    if !known_subresource || !scoped_right {
        return Err(ApiError::no_such_resource());
    }
    match r.verb {
        "get" => get(ctx, rt, r),
        "list" => list(ctx, rt, r, req),
        "create" if r.name.is_empty() && r.subresource.is_empty() => create(ctx, rt, r, req, user),
        "update" => update(ctx, rt, r, req, user),
        "patch" => patch(ctx, rt, r, req, user),
        "delete" => delete(ctx, rt, r, user),
        "watch" => Err(ApiError::method_not_allowed(
            "watch is not implemented by the kubeboot test server; poll with GET",
        )),
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({})",
            req.method
        ))),
    }
}

fn get(ctx: &mut Ctx, rt: &ResourceType, r: &ResourceRequest) -> Result<Response, ApiError> {
    let obj = ctx
        .store
        .get(&rt.key(&r.namespace, &r.name))
        .ok_or_else(|| ApiError::not_found(rt, &r.name))?
        .clone();
    note_read(ctx, rt, &r.namespace, &r.name);
    Ok(Response::json(200, &obj))
}

/// Reads drive the `AfterReads` CSR and signing policies.
fn note_read(ctx: &mut Ctx, rt: &ResourceType, namespace: &str, name: &str) {
    match rt.resource {
        "certificatesigningrequests" => {
            *ctx.bookkeeping
                .csr_reads
                .entry(name.to_string())
                .or_default() += 1;
        }
        "configmaps" if namespace == "kube-public" && name == "cluster-info" => {
            ctx.bookkeeping.cluster_info_reads += 1;
        }
        _ => {}
    }
}

fn list(
    ctx: &mut Ctx,
    rt: &ResourceType,
    r: &ResourceRequest,
    req: &Request,
) -> Result<Response, ApiError> {
    let labels = parse_selector(req.query("labelSelector").unwrap_or(""))?;
    let fields = parse_selector(req.query("fieldSelector").unwrap_or(""))?;
    let namespace = (!r.namespace.is_empty()).then_some(r.namespace.as_str());
    let items: Vec<Value> = ctx
        .store
        .list(rt, namespace)
        .into_iter()
        .filter(|obj| labels.iter().all(|t| t.matches(obj["metadata"]["labels"].get(&t.key))))
        .map(|obj| -> Result<Option<Value>, ApiError> {
            for term in &fields {
                let value = match term.key.as_str() {
                    "metadata.name" => &obj["metadata"]["name"],
                    "metadata.namespace" => &obj["metadata"]["namespace"],
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "\"{other}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                        )));
                    }
                };
                if !term.matches(Some(value).filter(|v| !v.is_null())) {
                    return Ok(None);
                }
            }
            Ok(Some(obj.clone()))
        })
        .filter_map(Result::transpose)
        .collect::<Result<_, _>>()?;
    for item in &items {
        let ns = item["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let name = item["metadata"]["name"].as_str().unwrap_or("").to_string();
        note_read(ctx, rt, &ns, &name);
    }
    Ok(Response::json(
        200,
        &json!({
            "kind": format!("{}List", rt.kind),
            "apiVersion": rt.api_version(),
            "metadata": {"resourceVersion": ctx.store.resource_version().to_string()},
            "items": items,
        }),
    ))
}

fn create(
    ctx: &mut Ctx,
    rt: &ResourceType,
    r: &ResourceRequest,
    req: &Request,
    user: &UserInfo,
) -> Result<Response, ApiError> {
    let mut obj = decode_body(req, rt)?;
    check_body_namespace(&obj, &r.namespace)?;
    let meta = &mut obj["metadata"];
    let mut name = meta["name"].as_str().unwrap_or("").to_string();
    if name.is_empty() {
        if let Some(prefix) = meta["generateName"].as_str().filter(|p| !p.is_empty()) {
            name = format!("{prefix}{}", random_suffix());
        }
    }
    if meta["resourceVersion"]
        .as_str()
        .is_some_and(|rv| !rv.is_empty())
    {
        return Err(ApiError {
            code: 500,
            reason: "InternalError",
            message: "Internal error occurred: resourceVersion should not be set on objects to be created".into(),
            details: Value::Null,
        });
    }
    if let Some(m) = meta.as_object_mut() {
        for server_owned in ["uid", "creationTimestamp", "deletionTimestamp", "selfLink"] {
            m.remove(server_owned);
        }
    }
    meta["name"] = json!(name);
    if name.is_empty() {
        return Err(ApiError::invalid(
            rt,
            "",
            "metadata.name: Required value: name or generateName is required",
        ));
    }
    validate_name(rt, &name)?;
    if rt.namespaced && !namespace_exists(ctx.store, &r.namespace) {
        return Err(ApiError::namespace_not_found(&r.namespace));
    }
    match rt.resource {
        "nodes" => node_restriction(user, &name, Some(&obj), None)?,
        "certificatesigningrequests" => prepare_csr(&mut obj, rt, &name, user)?,
        "secrets" => normalize_secret(&mut obj)?,
        "configmaps" => validate_config_map(&obj)?,
        _ => {}
    }
    let stored = ctx.store.create(rt, rt.key(&r.namespace, &name), obj)?;
    if rt.resource == "certificatesigningrequests" {
        ctx.bookkeeping
            .csr_created
            .insert(name.clone(), Instant::now());
        ctx.bookkeeping.csr_reads.remove(&name);
    }
    Ok(Response::json(201, &stored))
}

fn update(
    ctx: &mut Ctx,
    rt: &ResourceType,
    r: &ResourceRequest,
    req: &Request,
    user: &UserInfo,
) -> Result<Response, ApiError> {
    let body = decode_body(req, rt)?;
    replace(ctx, rt, r, user, body)
}

fn patch(
    ctx: &mut Ctx,
    rt: &ResourceType,
    r: &ResourceRequest,
    req: &Request,
    user: &UserInfo,
) -> Result<Response, ApiError> {
    let content_type = media_type(req);
    match content_type.as_str() {
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {}
        "application/json-patch+json" | "application/apply-patch+yaml" => {
            return Err(ApiError {
                code: 415,
                reason: "UnsupportedMediaType",
                message: format!(
                    "{content_type} patches are not implemented by the kubeboot test server"
                ),
                details: Value::Null,
            });
        }
        other => return Err(ApiError::unsupported_media_type(other)),
    }
    let patch: Value = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    if !patch.is_object() {
        return Err(ApiError::bad_request("a merge patch must be a JSON object"));
    }
    let current = ctx
        .store
        .get(&rt.key(&r.namespace, &r.name))
        .ok_or_else(|| ApiError::not_found(rt, &r.name))?;
    let mut merged = current.clone();
    // Strategic merge patches are applied as JSON merge patches, minus their directives.
    merge_patch(&mut merged, &strip_directives(&patch));
    if merged["metadata"]["name"] != json!(r.name) {
        return Err(ApiError::invalid(
            rt,
            &r.name,
            "metadata.name: Invalid value: field is immutable",
        ));
    }
    replace(ctx, rt, r, user, merged)
}

/// PUT semantics shared by update and patch: which parts of `body` count depends on the
/// subresource; resourceVersion in `body` (if any) must be current.
fn replace(
    ctx: &mut Ctx,
    rt: &ResourceType,
    r: &ResourceRequest,
    user: &UserInfo,
    body: Value,
) -> Result<Response, ApiError> {
    check_body_namespace(&body, &r.namespace)?;
    let body_name = body["metadata"]["name"].as_str().unwrap_or("");
    if body_name != r.name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            r.name
        )));
    }
    let key = rt.key(&r.namespace, &r.name);
    let current = ctx
        .store
        .get(&key)
        .ok_or_else(|| ApiError::not_found(rt, &r.name))?
        .clone();
    let mut new = match r.subresource.as_str() {
        "" if rt.resource == "certificatesigningrequests" => {
            let mut new = body.clone();
            new["spec"] = current["spec"].clone();
            new["status"] = current["status"].clone();
            new
        }
        "" if rt.subresources.contains(&"status") => {
            let mut new = body.clone();
            new["status"] = current["status"].clone();
            new
        }
        "" => body.clone(),
        "status" => {
            let mut new = current.clone();
            new["status"] = body["status"].clone();
            new
        }
        "approval" => {
            let mut new = current.clone();
            new["status"]["conditions"] = body["status"]["conditions"].clone();
            new
        }
        _ => {
            return Err(ApiError::method_not_allowed(format!(
                "the {} subresource is not implemented by the kubeboot test server",
                r.subresource
            )));
        }
    };
    new["metadata"]["resourceVersion"] = body["metadata"]["resourceVersion"].clone();
    match rt.resource {
        "nodes" => node_restriction(user, &r.name, Some(&new), Some(&current))?,
        "certificatesigningrequests" => csr_signer_permission(ctx.store, user, &current, &new)?,
        "secrets" => {
            normalize_secret(&mut new)?;
            if new["type"] != current["type"] {
                return Err(ApiError::invalid(
                    rt,
                    &r.name,
                    "type: Invalid value: field is immutable",
                ));
            }
        }
        "configmaps" => validate_config_map(&new)?,
        _ => {}
    }
    let stored = ctx.store.update(rt, key, new)?;
    Ok(Response::json(200, &stored))
}

fn delete(
    ctx: &mut Ctx,
    rt: &ResourceType,
    r: &ResourceRequest,
    user: &UserInfo,
) -> Result<Response, ApiError> {
    if rt.resource == "nodes" {
        node_restriction(user, &r.name, None, None)?;
    }
    if rt.resource == "namespaces"
        && matches!(r.name.as_str(), "default" | "kube-system" | "kube-public")
    {
        return Err(ApiError::forbidden(
            "",
            "namespaces",
            &r.name,
            "this namespace may not be deleted",
        ));
    }
    let removed = ctx.store.delete(rt, &rt.key(&r.namespace, &r.name))?;
    Ok(Response::json(
        200,
        &success_status(rt, &r.name, &removed["metadata"]["uid"]),
    ))
}

// ---- decoding and validation -------------------------------------------------------------

fn media_type(req: &Request) -> String {
    req.header("content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Decodes a create/update body like the API server's JSON/YAML serializers: a missing
/// apiVersion/kind defaults to the endpoint's, a different one is refused.
fn decode_body(req: &Request, rt: &ResourceType) -> Result<Value, ApiError> {
    let obj: Value = match media_type(req).as_str() {
        "" | "application/json" => serde_json::from_slice(&req.body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })?,
        "application/yaml" => serde_yaml::from_slice(&req.body)
            .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))?,
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "couldn't get version/kind; json parse error: not a JSON object",
        ));
    }
    let api_version = obj["apiVersion"].as_str().unwrap_or("");
    let kind = obj["kind"].as_str().unwrap_or("");
    if !api_version.is_empty() && api_version != rt.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    if !kind.is_empty() && kind != rt.kind {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): kind {kind:?}",
            rt.kind
        )));
    }
    Ok(obj)
}

fn check_body_namespace(obj: &Value, namespace: &str) -> Result<(), ApiError> {
    match obj["metadata"]["namespace"].as_str() {
        Some(ns) if !ns.is_empty() && ns != namespace => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => Ok(()),
    }
}

fn namespace_exists(store: &Store, namespace: &str) -> bool {
    lookup("", "v1", "namespaces").is_some_and(|ns| store.get(&ns.key("", namespace)).is_some())
}

const DNS1123_SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

fn validate_name(rt: &ResourceType, name: &str) -> Result<(), ApiError> {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let label_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes().all(|b| alnum(b) || b == b'-')
            && s.bytes().next().is_some_and(alnum)
            && s.bytes().last().is_some_and(alnum)
    };
    let problem = match rt.resource {
        "namespaces" | "services" if !label_ok(name) => Some(DNS1123_LABEL.to_string()),
        "roles"
        | "rolebindings"
        | "clusterroles"
        | "clusterrolebindings"
        | "certificatesigningrequests" => {
            if name == "." || name == ".." {
                Some(format!("may not be '{name}'"))
            } else if name.contains('/') || name.contains('%') {
                Some("may not contain '/' or '%'".into())
            } else {
                None
            }
        }
        "namespaces" | "services" => None,
        _ if name.len() > 253 || !name.split('.').all(label_ok) => {
            Some(DNS1123_SUBDOMAIN.to_string())
        }
        _ => None,
    };
    match problem {
        Some(why) => Err(ApiError::invalid(
            rt,
            name,
            &format!("metadata.name: Invalid value: \"{name}\": {why}"),
        )),
        None => Ok(()),
    }
}

fn validate_config_map(obj: &Value) -> Result<(), ApiError> {
    if let Some(data) = obj["data"].as_object() {
        if let Some((k, _)) = data.iter().find(|(_, v)| !v.is_string()) {
            return Err(ApiError::bad_request(format!(
                "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: data[{k:?}] is not a string"
            )));
        }
    }
    Ok(())
}

/// `data` values are base64 (a `[]byte` in Go); `stringData` is folded into `data`.
fn normalize_secret(obj: &mut Value) -> Result<(), ApiError> {
    if let Some(data) = obj["data"].as_object() {
        for (k, v) in data {
            let valid = v.as_str().is_some_and(|s| STANDARD.decode(s).is_ok());
            if !valid {
                return Err(ApiError::bad_request(format!(
                    "Secret in version \"v1\" cannot be handled as a Secret: data[{k:?}]: illegal base64 data"
                )));
            }
        }
    }
    if let Some(string_data) = obj.as_object_mut().and_then(|o| o.remove("stringData")) {
        for (k, v) in string_data.as_object().into_iter().flatten() {
            let Some(s) = v.as_str() else {
                return Err(ApiError::bad_request(format!(
                    "Secret in version \"v1\" cannot be handled as a Secret: stringData[{k:?}] is not a string"
                )));
            };
            obj["data"][k] = json!(STANDARD.encode(s));
        }
    }
    if obj["type"].as_str().is_none_or(str::is_empty) {
        obj["type"] = json!("Opaque");
    }
    Ok(())
}

// ---- admission ---------------------------------------------------------------------------

/// NodeRestriction: a kubelet may only create, modify or delete its own Node, and may not
/// set labels in the kubernetes.io / k8s.io namespaces beyond the ones kubelets own.
fn node_restriction(
    user: &UserInfo,
    target: &str,
    new: Option<&Value>,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let Some(node) = user.node_name() else {
        return Ok(());
    };
    let deny = |why: String| Err(ApiError::forbidden("", "nodes", target, &why));
    if node != target {
        return deny(format!(
            "node \"{node}\" is not allowed to modify node \"{target}\""
        ));
    }
    let labels = |obj: Option<&Value>| -> serde_json::Map<String, Value> {
        obj.and_then(|o| o["metadata"]["labels"].as_object().cloned())
            .unwrap_or_default()
    };
    let (new_labels, old_labels) = (labels(new), labels(old));
    let mut touched: Vec<&String> = new_labels
        .keys()
        .chain(old_labels.keys())
        .filter(|k| new_labels.get(*k) != old_labels.get(*k))
        .filter(|k| !kubelet_may_set_label(k))
        .collect();
    touched.sort();
    touched.dedup();
    if touched.is_empty() {
        return Ok(());
    }
    let list = touched
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if old.is_none() {
        deny(format!(
            "node \"{node}\" is not allowed to set the following labels: {list}"
        ))
    } else {
        deny(format!(
            "node \"{node}\" is not allowed to modify labels: {list}"
        ))
    }
}

fn kubelet_may_set_label(key: &str) -> bool {
    let Some((domain, _)) = key.split_once('/') else {
        return true;
    };
    let restricted = ["kubernetes.io", "k8s.io"]
        .iter()
        .any(|d| domain == *d || domain.ends_with(&format!(".{d}")));
    if !restricted {
        return true;
    }
    let kubelet_domains = ["kubelet.kubernetes.io", "node.kubernetes.io"];
    let kubelet_labels = [
        "kubernetes.io/hostname",
        "kubernetes.io/arch",
        "kubernetes.io/os",
        "beta.kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/instance-type",
        "failure-domain.beta.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
    ];
    kubelet_domains
        .iter()
        .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
        || kubelet_labels.contains(&key)
}

const KNOWN_USAGES: &[&str] = &[
    "signing",
    "digital signature",
    "content commitment",
    "key encipherment",
    "key agreement",
    "data encipherment",
    "cert sign",
    "crl sign",
    "encipher only",
    "decipher only",
    "any",
    "server auth",
    "client auth",
    "code signing",
    "email protection",
    "s/mime",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "timestamping",
    "ocsp signing",
    "microsoft sgc",
    "netscape sgc",
];

/// certificates.k8s.io/v1 create: validation, the CertificateSubjectRestriction admission
/// plugin, and the server-set requester fields.
fn prepare_csr(
    obj: &mut Value,
    rt: &ResourceType,
    name: &str,
    user: &UserInfo,
) -> Result<(), ApiError> {
    let invalid = |why: String| ApiError::invalid(rt, name, &why);
    let spec = &obj["spec"];
    let Some(request_b64) = spec["request"].as_str().filter(|s| !s.is_empty()) else {
        return Err(invalid("spec.request: Required value".into()));
    };
    let pem = STANDARD.decode(request_b64).map_err(|e| {
        ApiError::bad_request(format!(
            "CertificateSigningRequest in version \"v1\" cannot be handled as a CertificateSigningRequest: spec.request: illegal base64 data: {e}"
        ))
    })?;
    let parsed = parse_csr_pem(&pem)
        .map_err(|e| invalid(format!("spec.request: Invalid value: []byte{{...}}: {e}")))?;
    if rcgen::SubjectPublicKeyInfo::from_der(&parsed.spki_der).is_err() {
        return Err(invalid(
            "spec.request: the kubeboot test server cannot sign this key type".into(),
        ));
    }
    let signer = spec["signerName"].as_str().unwrap_or("");
    if signer.is_empty() {
        return Err(invalid("spec.signerName: Required value".into()));
    }
    if signer == "kubernetes.io/legacy-unknown" {
        return Err(invalid(format!(
            "spec.signerName: Invalid value: \"{signer}\": the legacy signerName is not allowed via this API version"
        )));
    }
    let well_formed = signer
        .split_once('/')
        .is_some_and(|(domain, path)| domain.contains('.') && !path.is_empty());
    if !well_formed {
        return Err(invalid(format!(
            "spec.signerName: Invalid value: \"{signer}\": must be a fully qualified domain and path of the form 'example.com/signer-name'"
        )));
    }
    let usages: Vec<&str> = spec["usages"]
        .as_array()
        .map(|a| a.iter().map(|u| u.as_str().unwrap_or("")).collect())
        .unwrap_or_default();
    if usages.is_empty() {
        return Err(invalid("spec.usages: Required value".into()));
    }
    for (i, usage) in usages.iter().enumerate() {
        if !KNOWN_USAGES.contains(usage) {
            return Err(invalid(format!(
                "spec.usages[{i}]: Unsupported value: \"{usage}\""
            )));
        }
        if usages[..i].contains(usage) {
            return Err(invalid(format!(
                "spec.usages[{i}]: Duplicate value: \"{usage}\""
            )));
        }
    }
    if spec["expirationSeconds"].as_i64().is_some_and(|s| s < 600) {
        return Err(invalid(
            "spec.expirationSeconds: Invalid value: may not specify a duration less than 600 seconds (10 minutes)".into(),
        ));
    }
    if signer == APISERVER_CLIENT_SIGNER && parsed.organizations.iter().any(|o| o == MASTERS) {
        return Err(ApiError::forbidden(
            rt.group,
            rt.resource,
            name,
            "use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed",
        ));
    }
    let spec = &mut obj["spec"];
    spec["username"] = json!(user.name);
    spec["groups"] = json!(user.groups);
    if let Some(s) = spec.as_object_mut() {
        s.remove("uid");
        s.remove("extra");
    }
    if let Some(o) = obj.as_object_mut() {
        o.remove("status");
    }
    Ok(())
}

/// The CertificateApproval and CertificateSigning admission plugins: approving or setting a
/// certificate needs `approve` / `sign` on `signers` for the CSR's signerName.
fn csr_signer_permission(
    store: &Store,
    user: &UserInfo,
    current: &Value,
    new: &Value,
) -> Result<(), ApiError> {
    let signer = current["spec"]["signerName"].as_str().unwrap_or("");
    let name = current["metadata"]["name"].as_str().unwrap_or("");
    let conditions_changed = new["status"]["conditions"] != current["status"]["conditions"];
    let certificate_changed = new["status"]["certificate"] != current["status"]["certificate"];
    let may = |verb: &str| {
        let wildcard = signer
            .split_once('/')
            .map(|(domain, _)| format!("{domain}/*"))
            .unwrap_or_default();
        [signer, wildcard.as_str()].iter().any(|signer_name| {
            authz::allowed(
                store,
                &Attributes {
                    user,
                    verb,
                    target: Target::Resource {
                        group: "certificates.k8s.io",
                        resource: "signers",
                        subresource: "",
                        namespace: "",
                        name: signer_name,
                    },
                },
            )
        })
    };
    for (changed, verb) in [
        (conditions_changed, "approve"),
        (certificate_changed, "sign"),
    ] {
        if changed && !may(verb) {
            return Err(ApiError::forbidden(
                "certificates.k8s.io",
                "certificatesigningrequests",
                name,
                &format!("user not permitted to {verb} requests with signerName \"{signer}\""),
            ));
        }
    }
    Ok(())
}

// ---- patches and selectors ---------------------------------------------------------------

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let Value::Object(target) = target else {
        return;
    };
    for (k, v) in patch {
        if v.is_null() {
            target.remove(k);
        } else {
            merge_patch(target.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Drops strategic-merge-patch directives (`$patch`, `$setElementOrder/...`, ...).
fn strip_directives(patch: &Value) -> Value {
    match patch {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

struct SelectorTerm {
    key: String,
    op: SelectorOp,
    value: String,
}

enum SelectorOp {
    Equals,
    NotEquals,
    Exists,
    NotExists,
}

impl SelectorTerm {
    fn matches(&self, actual: Option<&Value>) -> bool {
        let actual = actual.and_then(Value::as_str);
        match self.op {
            SelectorOp::Equals => actual == Some(self.value.as_str()),
            SelectorOp::NotEquals => actual != Some(self.value.as_str()),
            SelectorOp::Exists => actual.is_some(),
            SelectorOp::NotExists => actual.is_none(),
        }
    }
}

/// Equality-based selectors: `k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-separated.
fn parse_selector(selector: &str) -> Result<Vec<SelectorTerm>, ApiError> {
    selector
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|term| {
            let (key, op, value) = if let Some((k, v)) = term.split_once("!=") {
                (k, SelectorOp::NotEquals, v)
            } else if let Some((k, v)) = term.split_once("==") {
                (k, SelectorOp::Equals, v)
            } else if let Some((k, v)) = term.split_once('=') {
                (k, SelectorOp::Equals, v)
            } else if let Some(k) = term.strip_prefix('!') {
                (k, SelectorOp::NotExists, "")
            } else if term.contains(' ') || term.contains('(') {
                return Err(ApiError::bad_request(format!(
                    "set-based selector {term:?} is not implemented by the kubeboot test server"
                )));
            } else {
                (term, SelectorOp::Exists, "")
            };
            Ok(SelectorTerm {
                key: key.trim().to_string(),
                op,
                value: value.trim().to_string(),
            })
        })
        .collect()
}

fn random_suffix() -> String {
    use aws_lc_rs::rand::SecureRandom;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut bytes = [0u8; 5];
    let _ = aws_lc_rs::rand::SystemRandom::new().fill(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}
