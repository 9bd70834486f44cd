//! The kube-controller-manager parts a joining node depends on: the bootstrapsigner (signs
//! cluster-info with every signing token) and the csrapproving + csrsigning controllers.
//! They run synchronously before each request is served, so tests see a consistent state.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use super::authn::{BootstrapToken, NODES, UserInfo};
use super::authz::{self, Attributes, Target};
use super::cluster::Version;
use super::pki::{Ca, SigningRequest, unrelated_spki};
use super::store::{Store, lookup, now_rfc3339};

pub const KUBELET_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
pub const APISERVER_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";

/// When the bootstrapsigner adds a token's `jws-kubeconfig-<id>` signature to cluster-info.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signing {
    /// As soon as the token exists (a real signer takes about 5 s).
    Immediate,
    /// After cluster-info has been read this many times.
    AfterReads(u32),
    /// This long after the server first saw the token.
    AfterDelay(Duration),
    /// Never: discovery must time out.
    Never,
}

/// What the csrapproving controller does with a CSR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsrPolicy {
    /// Like kube-controller-manager: approve node client CSRs that pass the kubelet client
    /// checks for this version and whose requester may create
    /// `certificatesigningrequests/nodeclient` (or `selfnodeclient`); leave others pending.
    Auto,
    /// As `Auto`, but only once the CSR has been read this many times.
    AfterReads(u32),
    /// As `Auto`, but only this long after the CSR was created.
    AfterDelay(Duration),
    /// Deny every CSR (as `kubectl certificate deny`).
    Deny,
    /// Leave every CSR pending (an admin may still approve through `/approval`).
    Never,
}

/// What the csrsigning controller puts in an approved CSR: honest, or an attack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CsrIssue {
    Honest,
    /// A certificate for a key the requester does not hold.
    OtherKey,
    /// A certificate for another identity (`CN` replaced).
    OtherCommonName(String),
    /// A certificate signed by a CA other than the cluster CA.
    OtherCa,
}

/// Server-side bookkeeping the controllers need beyond the objects themselves.
#[derive(Default)]
pub struct ControllerState {
    pub csr_created: HashMap<String, Instant>,
    pub csr_reads: HashMap<String, u32>,
    pub token_first_seen: HashMap<String, Instant>,
    pub cluster_info_reads: u32,
}

pub struct Policies {
    pub signing: Signing,
    pub csr: CsrPolicy,
    pub issue: CsrIssue,
}

pub fn sync(
    store: &mut Store,
    bookkeeping: &mut ControllerState,
    policies: &Policies,
    version: &Version,
    ca: &Ca,
    rogue_ca: &Ca,
) {
    sign_cluster_info(store, bookkeeping, policies.signing);
    approve_and_sign_csrs(store, bookkeeping, policies, version, ca, rogue_ca);
}

/// The detached JWS the bootstrapsigner writes: `b64url(header)..b64url(HMAC-SHA256)`, with
/// header `{"alg":"HS256","kid":"<id>"}`, keyed with the token secret, over
/// `b64url(header) + "." + b64url(payload)`.
pub fn detached_jws(payload: &str, token_id: &str, token_secret: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"HS256","kid":"{token_id}"}}"#));
    let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, token_secret.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
    format!("{header}..{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

const JWS_PREFIX: &str = "jws-kubeconfig-";

fn sign_cluster_info(store: &mut Store, bookkeeping: &mut ControllerState, signing: Signing) {
    let (Some(configmaps), Some(secrets)) =
        (lookup("", "v1", "configmaps"), lookup("", "v1", "secrets"))
    else {
        return;
    };
    let key = configmaps.key("kube-public", "cluster-info");
    let Some(cluster_info) = store.get(&key) else {
        return;
    };
    let Some(kubeconfig) = cluster_info["data"]["kubeconfig"].as_str() else {
        return;
    };
    let now = Instant::now();
    let mut wanted = BTreeMap::new();
    for secret in store.list(secrets, Some("kube-system")) {
        let Some(token) = BootstrapToken::from_secret(secret) else {
            continue;
        };
        if !token.signing || token.expired() {
            continue;
        }
        let first_seen = *bookkeeping
            .token_first_seen
            .entry(token.id.clone())
            .or_insert(now);
        let due = match signing {
            Signing::Immediate => true,
            Signing::AfterReads(n) => bookkeeping.cluster_info_reads >= n,
            Signing::AfterDelay(d) => now.duration_since(first_seen) >= d,
            Signing::Never => false,
        };
        if due {
            wanted.insert(
                format!("{JWS_PREFIX}{}", token.id),
                json!(detached_jws(kubeconfig, &token.id, &token.secret)),
            );
        }
    }
    let data = cluster_info["data"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let current: BTreeMap<String, Value> = data
        .iter()
        .filter(|(k, _)| k.starts_with(JWS_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if current == wanted {
        return;
    }
    let mut updated = cluster_info.clone();
    let mut new_data: serde_json::Map<String, Value> = data
        .into_iter()
        .filter(|(k, _)| !k.starts_with(JWS_PREFIX))
        .collect();
    new_data.extend(wanted);
    updated["data"] = Value::Object(new_data);
    store.put(configmaps, key, updated);
}

fn approve_and_sign_csrs(
    store: &mut Store,
    bookkeeping: &ControllerState,
    policies: &Policies,
    version: &Version,
    ca: &Ca,
    rogue_ca: &Ca,
) {
    let Some(csrs) = lookup("certificates.k8s.io", "v1", "certificatesigningrequests") else {
        return;
    };
    let pending: Vec<Value> = store
        .list(csrs, None)
        .into_iter()
        .filter(|csr| {
            csr["status"]["certificate"]
                .as_str()
                .is_none_or(str::is_empty)
        })
        .cloned()
        .collect();
    for mut csr in pending {
        let name = csr["metadata"]["name"].as_str().unwrap_or("").to_string();
        let before = csr.clone();
        if !has_condition(&csr, "Approved") && !has_condition(&csr, "Denied") {
            run_approver(store, bookkeeping, policies.csr, version, &name, &mut csr);
        }
        if has_condition(&csr, "Approved") && !has_condition(&csr, "Failed") {
            run_signer(&policies.issue, version, ca, rogue_ca, &mut csr);
        }
        if csr != before {
            store.put(csrs, csrs.key("", &name), csr);
        }
    }
}

fn run_approver(
    store: &Store,
    bookkeeping: &ControllerState,
    policy: CsrPolicy,
    version: &Version,
    name: &str,
    csr: &mut Value,
) {
    let due = match policy {
        CsrPolicy::Auto => true,
        CsrPolicy::AfterReads(n) => bookkeeping.csr_reads.get(name).copied().unwrap_or(0) >= n,
        CsrPolicy::AfterDelay(d) => bookkeeping
            .csr_created
            .get(name)
            .is_none_or(|created| created.elapsed() >= d),
        CsrPolicy::Deny => {
            add_condition(
                csr,
                "Denied",
                "KubectlDeny",
                "This CSR was denied by kubectl certificate deny.",
            );
            return;
        }
        CsrPolicy::Never => false,
    };
    if !due {
        return;
    }
    if let Some(message) = sar_approval(store, version, csr) {
        add_condition(csr, "Approved", "AutoApproved", message);
    }
}

/// The csrapproving controller's recognizers: a kubelet client CSR, approved only if the
/// requester may create `certificatesigningrequests/selfnodeclient` (renewal of its own
/// identity) or `certificatesigningrequests/nodeclient`.
fn sar_approval(store: &Store, version: &Version, csr: &Value) -> Option<&'static str> {
    if csr["spec"]["signerName"] != KUBELET_CLIENT_SIGNER {
        return None;
    }
    let parsed = parse_csr_field(csr).ok()?;
    validate_kubelet_client(&parsed, &usages(csr), version).ok()?;
    let requester = UserInfo {
        name: csr["spec"]["username"].as_str().unwrap_or("").to_string(),
        groups: string_list(&csr["spec"]["groups"]),
    };
    let may = |subresource: &str| {
        authz::allowed(
            store,
            &Attributes {
                user: &requester,
                verb: "create",
                target: Target::Resource {
                    group: "certificates.k8s.io",
                    resource: "certificatesigningrequests",
                    subresource,
                    namespace: "",
                    name: "",
                },
            },
        )
    };
    if requester.name == parsed.common_name && may("selfnodeclient") {
        return Some("Auto approving self kubelet client certificate after SubjectAccessReview.");
    }
    may("nodeclient")
        .then_some("Auto approving kubelet client certificate after SubjectAccessReview.")
}

fn run_signer(issue: &CsrIssue, version: &Version, ca: &Ca, rogue_ca: &Ca, csr: &mut Value) {
    let signer = csr["spec"]["signerName"].as_str().unwrap_or("");
    let usages = usages(csr);
    let Ok(parsed) = parse_csr_field(csr) else {
        return;
    };
    let verdict = match signer {
        KUBELET_CLIENT_SIGNER => validate_kubelet_client(&parsed, &usages, version),
        APISERVER_CLIENT_SIGNER => validate_apiserver_client(&usages),
        _ => return, // not a signer kube-controller-manager runs
    };
    if let Err(message) = verdict {
        add_condition(csr, "Failed", "SignerValidationFailure", &message);
        return;
    }
    let mut request = SigningRequest {
        common_name: parsed.common_name,
        organizations: parsed.organizations,
        usages,
        spki_der: parsed.spki_der,
    };
    let mut signing_ca = ca;
    match issue {
        CsrIssue::Honest => {}
        CsrIssue::OtherKey => request.spki_der = unrelated_spki(),
        CsrIssue::OtherCommonName(cn) => request.common_name = cn.clone(),
        CsrIssue::OtherCa => signing_ca = rogue_ca,
    }
    let pem = signing_ca.sign_request(&request);
    csr["status"]["certificate"] = json!(STANDARD.encode(pem));
}

/// `ValidateKubeletClientCSR` from pkg/apis/certificates, with the usage sets `version`
/// accepts. The error strings are upstream's.
pub fn validate_kubelet_client(
    csr: &ParsedCsr,
    usages: &[String],
    version: &Version,
) -> Result<(), String> {
    if csr.organizations != [NODES] {
        return Err("subject organization is not system:nodes".into());
    }
    if csr.dns_sans > 0 {
        return Err("DNS subjectAltNames are not allowed".into());
    }
    if csr.email_sans > 0 {
        return Err("Email subjectAltNames are not allowed".into());
    }
    if csr.ip_sans > 0 {
        return Err("IP subjectAltNames are not allowed".into());
    }
    if csr.uri_sans > 0 {
        return Err("URI subjectAltNames are not allowed".into());
    }
    if !csr.common_name.starts_with("system:node:") {
        return Err("subject common name does not begin with system:node:".into());
    }
    let set: std::collections::BTreeSet<&str> = usages.iter().map(String::as_str).collect();
    let full: std::collections::BTreeSet<&str> =
        ["client auth", "digital signature", "key encipherment"].into();
    let no_rsa: std::collections::BTreeSet<&str> = ["client auth", "digital signature"].into();
    if set != full && !(version.accepts_usages_without_key_encipherment() && set == no_rsa) {
        return Err("usages did not match [client auth digital signature key encipherment]".into());
    }
    Ok(())
}

fn validate_apiserver_client(usages: &[String]) -> Result<(), String> {
    for u in usages {
        if !matches!(
            u.as_str(),
            "digital signature" | "key encipherment" | "client auth"
        ) {
            return Err(format!("invalid usage for client certificate: {u}"));
        }
    }
    if !usages.iter().any(|u| u == "client auth") {
        return Err("missing required usage for client certificate: client auth".into());
    }
    Ok(())
}

/// What the controllers need from a PKCS#10 request.
pub struct ParsedCsr {
    pub common_name: String,
    pub organizations: Vec<String>,
    pub dns_sans: usize,
    pub email_sans: usize,
    pub ip_sans: usize,
    pub uri_sans: usize,
    pub spki_der: Vec<u8>,
}

fn parse_csr_field(csr: &Value) -> Result<ParsedCsr, String> {
    let b64 = csr["spec"]["request"].as_str().unwrap_or("");
    let pem = STANDARD
        .decode(b64)
        .map_err(|e| format!("spec.request is not base64: {e}"))?;
    parse_csr_pem(&pem)
}

/// Parses and signature-checks a PEM `CERTIFICATE REQUEST` (errors as Go's `ParseCSR`).
pub fn parse_csr_pem(pem: &[u8]) -> Result<ParsedCsr, String> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem)
        .map_err(|_| "PEM block type must be CERTIFICATE REQUEST".to_string())?;
    if block.label != "CERTIFICATE REQUEST" {
        return Err("PEM block type must be CERTIFICATE REQUEST".into());
    }
    let (_, req) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&block.contents)
            .map_err(|e| format!("x509: malformed certificate request: {e}"))?;
    req.verify_signature()
        .map_err(|_| "x509: certificate request signature is invalid".to_string())?;
    let info = &req.certification_request_info;
    let text = |attr: &x509_parser::x509::AttributeTypeAndValue| {
        attr.as_str().map(String::from).unwrap_or_default()
    };
    let common_name = info
        .subject
        .iter_common_name()
        .next()
        .map(text)
        .unwrap_or_default();
    let organizations = info.subject.iter_organization().map(text).collect();
    let mut parsed = ParsedCsr {
        common_name,
        organizations,
        dns_sans: 0,
        email_sans: 0,
        ip_sans: 0,
        uri_sans: 0,
        spki_der: info.subject_pki.raw.to_vec(),
    };
    for ext in req.requested_extensions().into_iter().flatten() {
        if let x509_parser::extensions::ParsedExtension::SubjectAlternativeName(san) = ext {
            for name in &san.general_names {
                match name {
                    GeneralName::DNSName(_) => parsed.dns_sans += 1,
                    GeneralName::RFC822Name(_) => parsed.email_sans += 1,
                    GeneralName::IPAddress(_) => parsed.ip_sans += 1,
                    GeneralName::URI(_) => parsed.uri_sans += 1,
                    _ => {}
                }
            }
        }
    }
    Ok(parsed)
}

fn usages(csr: &Value) -> Vec<String> {
    string_list(&csr["spec"]["usages"])
}

fn string_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub fn has_condition(csr: &Value, kind: &str) -> bool {
    csr["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == kind && c["status"] == "True")
    })
}

fn add_condition(csr: &mut Value, kind: &str, reason: &str, message: &str) {
    let now = now_rfc3339();
    if !csr["status"].is_object() {
        csr["status"] = json!({});
    }
    if !csr["status"]["conditions"].is_array() {
        csr["status"]["conditions"] = json!([]);
    }
    if let Some(conditions) = csr["status"]["conditions"].as_array_mut() {
        conditions.push(json!({
            "type": kind,
            "status": "True",
            "reason": reason,
            "message": message,
            "lastUpdateTime": now,
            "lastTransitionTime": now,
        }));
    }
}
