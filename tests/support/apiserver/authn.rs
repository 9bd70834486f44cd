//! Authentication as kube-apiserver does it: x509 client certificates (user = CN, groups = O),
//! bootstrap tokens read from `kube-system/bootstrap-token-<id>` Secrets, else anonymous.
//! A bearer token that does not authenticate is a 401, never anonymous.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::store::{ApiError, Store, lookup};

pub const AUTHENTICATED: &str = "system:authenticated";
pub const UNAUTHENTICATED: &str = "system:unauthenticated";
pub const ANONYMOUS: &str = "system:anonymous";
pub const BOOTSTRAPPERS: &str = "system:bootstrappers";
pub const NODES: &str = "system:nodes";
pub const MASTERS: &str = "system:masters";
pub const DEFAULT_NODE_TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";
pub const BOOTSTRAP_TOKEN_TYPE: &str = "bootstrap.kubernetes.io/token";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    pub fn anonymous() -> UserInfo {
        UserInfo {
            name: ANONYMOUS.into(),
            groups: vec![UNAUTHENTICATED.into()],
        }
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// The node name of a kubelet identity (`system:node:<name>` in group `system:nodes`).
    pub fn node_name(&self) -> Option<&str> {
        self.name
            .strip_prefix("system:node:")
            .filter(|_| self.in_group(NODES))
    }
}

/// The identity in a verified client certificate.
pub fn user_from_certificate(der: &[u8]) -> Option<UserInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    let mut groups: Vec<String> = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(String::from))
        .collect();
    groups.push(AUTHENTICATED.into());
    Some(UserInfo { name, groups })
}

/// Who is asking: the certificate identity wins, then the bearer token, else anonymous.
pub fn authenticate(
    store: &Store,
    cert_user: Option<&UserInfo>,
    authorization: Option<&str>,
) -> Result<UserInfo, ApiError> {
    if let Some(user) = cert_user {
        return Ok(user.clone());
    }
    let token = authorization
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .unwrap_or("");
    if token.is_empty() {
        return Ok(UserInfo::anonymous());
    }
    authenticate_bootstrap_token(store, token).ok_or_else(ApiError::unauthorized)
}

fn authenticate_bootstrap_token(store: &Store, token: &str) -> Option<UserInfo> {
    let (id, secret) = parse_token(token)?;
    let secrets = lookup("", "v1", "secrets")?;
    let obj = store.get(&secrets.key("kube-system", &format!("bootstrap-token-{id}")))?;
    let info = BootstrapToken::from_secret(obj)?;
    let secret_matches = verify_slices_are_equal(info.secret.as_bytes(), secret.as_bytes()).is_ok();
    if !secret_matches || info.id != id || info.expired() || !info.authentication {
        return None;
    }
    let mut groups = vec![BOOTSTRAPPERS.to_string()];
    groups.extend(info.extra_groups);
    groups.push(AUTHENTICATED.into());
    Some(UserInfo {
        name: format!("system:bootstrap:{id}"),
        groups,
    })
}

/// Splits `<id>.<secret>` if it has the bootstrap token shape (`[a-z0-9]{6}.[a-z0-9]{16}`).
pub fn parse_token(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let shaped = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    (shaped(id, 6) && shaped(secret, 16)).then_some((id, secret))
}

/// A bootstrap token as the authenticator and the bootstrapsigner read it from its Secret.
pub struct BootstrapToken {
    pub id: String,
    pub secret: String,
    pub expiration: Option<String>,
    pub authentication: bool,
    pub signing: bool,
    pub extra_groups: Vec<String>,
}

impl BootstrapToken {
    /// `None` if the Secret is not a well-formed bootstrap token Secret (the real
    /// authenticator and signer ignore those).
    pub fn from_secret(obj: &Value) -> Option<BootstrapToken> {
        if obj["type"] != BOOTSTRAP_TOKEN_TYPE || obj["metadata"]["deletionTimestamp"].is_string() {
            return None;
        }
        let data = |key: &str| -> Option<String> {
            let b64 = obj["data"][key].as_str()?;
            String::from_utf8(STANDARD.decode(b64).ok()?).ok()
        };
        let id = data("token-id")?;
        let secret = data("token-secret")?;
        let name = obj["metadata"]["name"].as_str()?;
        parse_token(&format!("{id}.{secret}"))?;
        if name != format!("bootstrap-token-{id}") {
            return None;
        }
        let extra_groups = match data("auth-extra-groups") {
            Some(groups) => parse_extra_groups(&groups)?,
            None => Vec::new(),
        };
        Some(BootstrapToken {
            id,
            secret,
            expiration: data("expiration"),
            authentication: data("usage-bootstrap-authentication").as_deref() == Some("true"),
            signing: data("usage-bootstrap-signing").as_deref() == Some("true"),
            extra_groups,
        })
    }

    /// An unparsable expiration counts as expired, as in cluster-bootstrap's `HasExpired`.
    pub fn expired(&self) -> bool {
        match &self.expiration {
            None => false,
            Some(s) => OffsetDateTime::parse(s, &Rfc3339)
                .map_or(true, |exp| exp <= OffsetDateTime::now_utc()),
        }
    }
}

/// Extra groups must look like `system:bootstrappers:<something>`; one bad group voids the token.
fn parse_extra_groups(groups: &str) -> Option<Vec<String>> {
    groups
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(|g| {
            let rest = g.strip_prefix("system:bootstrappers:")?;
            let ok = !rest.is_empty()
                && rest.len() <= 256
                && rest.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b':' || b == b'-'
                })
                && rest
                    .bytes()
                    .last()
                    .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            ok.then(|| g.to_string())
        })
        .collect()
}

/// How a test wants a bootstrap token Secret to look.
#[derive(Clone, Debug)]
pub struct TokenOpts {
    /// `None`: the Secret has no expiration (never expires).
    pub expiration: Option<OffsetDateTime>,
    pub authentication: bool,
    pub signing: bool,
    pub extra_groups: Vec<String>,
}

impl Default for TokenOpts {
    /// What `kubeadm init` creates: 24 h, both usages, the default node token group.
    fn default() -> Self {
        TokenOpts {
            expiration: Some(OffsetDateTime::now_utc() + time::Duration::hours(24)),
            authentication: true,
            signing: true,
            extra_groups: vec![DEFAULT_NODE_TOKEN_GROUP.into()],
        }
    }
}

impl TokenOpts {
    pub fn expired() -> TokenOpts {
        TokenOpts {
            expiration: Some(OffsetDateTime::now_utc() - time::Duration::hours(1)),
            ..TokenOpts::default()
        }
    }
}

/// The `kube-system/bootstrap-token-<id>` Secret kubeadm writes for `token`.
/// Panics on a malformed token: that is a bug in the test, not in the code under test.
pub fn bootstrap_token_secret(token: &str, opts: &TokenOpts) -> Value {
    let (id, secret) = parse_token(token)
        .unwrap_or_else(|| panic!("test bug: {token:?} is not a bootstrap token <id>.<secret>"));
    let b64 = |s: &str| json!(STANDARD.encode(s));
    let mut data = json!({
        "token-id": b64(id),
        "token-secret": b64(secret),
        "description": b64("test token"),
    });
    if let Some(exp) = opts.expiration {
        let exp = exp
            .replace_nanosecond(0)
            .expect("zero nanoseconds is valid");
        data["expiration"] = b64(&exp.format(&Rfc3339).expect("RFC 3339 formatting"));
    }
    if opts.authentication {
        data["usage-bootstrap-authentication"] = b64("true");
    }
    if opts.signing {
        data["usage-bootstrap-signing"] = b64("true");
    }
    if !opts.extra_groups.is_empty() {
        data["auth-extra-groups"] = b64(&opts.extra_groups.join(","));
    }
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": format!("bootstrap-token-{id}"), "namespace": "kube-system"},
        "type": BOOTSTRAP_TOKEN_TYPE,
        "data": data,
    })
}
