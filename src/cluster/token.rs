//! `kubeadm init phase bootstrap-token`: the bootstrap token Secrets, the RBAC that lets those
//! tokens join nodes (get Nodes, post CSRs, have them auto-approved), and the public
//! `kube-public/cluster-info` ConfigMap joining nodes discover the cluster from.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::rbac::{cluster_role, cluster_role_binding, get_named, group, role, role_binding, user};
use super::{BOOTSTRAPPERS_GROUP, Error, NODES_GROUP, NS_PUBLIC, NS_SYSTEM, Object, Result, meta};
use crate::config::model::{BootstrapToken, BootstrapTokenString};

/// `bootstrapapi.SecretTypeBootstrapToken`.
pub const SECRET_TYPE_BOOTSTRAP_TOKEN: &str = "bootstrap.kubernetes.io/token";
/// `bootstrapapi.BootstrapTokenSecretPrefix`.
pub const SECRET_PREFIX: &str = "bootstrap-token-";
/// The TTL kubeadm defaults a token to when none is configured.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

pub const GET_NODES: &str = "kubeadm:get-nodes";
pub const KUBELET_BOOTSTRAP: &str = "kubeadm:kubelet-bootstrap";
pub const NODE_BOOTSTRAPPER_ROLE: &str = "system:node-bootstrapper";
pub const NODE_AUTOAPPROVE_BOOTSTRAP: &str = "kubeadm:node-autoapprove-bootstrap";
pub const CSR_NODECLIENT_ROLE: &str =
    "system:certificates.k8s.io:certificatesigningrequests:nodeclient";
pub const NODE_AUTOAPPROVE_ROTATION: &str = "kubeadm:node-autoapprove-certificate-rotation";
pub const CSR_SELFNODECLIENT_ROLE: &str =
    "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient";
pub const CLUSTER_INFO: &str = "cluster-info";
pub const CLUSTER_INFO_KUBECONFIG_KEY: &str = "kubeconfig";
pub const BOOTSTRAP_SIGNER_CLUSTERINFO: &str = "kubeadm:bootstrap-signer-clusterinfo";

const TOKEN_CHARS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const TOKEN_ID_LEN: usize = 6;
const TOKEN_SECRET_LEN: usize = 16;

/// A new random token `[a-z0-9]{6}.[a-z0-9]{16}` from the system CSPRNG, as
/// `bootstraputil.GenerateBootstrapToken` makes them.
pub fn generate_token() -> Result<BootstrapTokenString> {
    generate_token_with(|buf| aws_lc_rs::rand::fill(buf).map_err(|_| ()))
}

/// [`generate_token`] with the random source injected. Each character is drawn uniformly from
/// the 36 allowed: bytes at or above 252 (7 × 36) are rejected rather than folded, which would
/// make the first four characters likelier.
pub fn generate_token_with(
    mut fill: impl FnMut(&mut [u8]) -> std::result::Result<(), ()>,
) -> Result<BootstrapTokenString> {
    let mut chars = Vec::with_capacity(TOKEN_ID_LEN + TOKEN_SECRET_LEN);
    let mut buf = [0u8; 32];
    // Each byte is accepted with probability 252/256; 64 refills of 32 bytes failing to yield 22
    // characters means the source is broken, not unlucky.
    for _ in 0..64 {
        fill(&mut buf).map_err(|()| Error::Random {
            what: "generating a bootstrap token",
        })?;
        for &b in &buf {
            if b < 252 && chars.len() < TOKEN_ID_LEN + TOKEN_SECRET_LEN {
                chars.push(TOKEN_CHARS[usize::from(b % 36)]);
            }
        }
        if chars.len() == TOKEN_ID_LEN + TOKEN_SECRET_LEN {
            let s = String::from_utf8_lossy(&chars).into_owned();
            let (id, secret) = s.split_at(TOKEN_ID_LEN);
            return Ok(BootstrapTokenString::new(
                id.to_string(),
                secret.to_string(),
            ));
        }
    }
    Err(Error::Random {
        what: "generating a bootstrap token (the source kept returning out-of-range bytes)",
    })
}

/// Parses `id.secret` as `bootstraputil.ParseToken` does. The error shows the token ID only.
pub fn parse_token(s: &str) -> Result<BootstrapTokenString> {
    let valid = |part: &str, len: usize| {
        part.len() == len && part.bytes().all(|b| TOKEN_CHARS.contains(&b))
    };
    match s.split_once('.') {
        Some((id, secret)) if valid(id, TOKEN_ID_LEN) && valid(secret, TOKEN_SECRET_LEN) => Ok(
            BootstrapTokenString::new(id.to_string(), secret.to_string()),
        ),
        Some((id, _)) if valid(id, TOKEN_ID_LEN) => {
            Err(Error::InvalidToken(format!("{id}.<redacted>")))
        }
        _ => Err(Error::InvalidToken("<redacted>".to_string())),
    }
}

/// Gives every configured token without a value a freshly generated one, as `kubeadm init`
/// does for the default token.
pub fn fill_missing_tokens(tokens: &mut [BootstrapToken]) -> Result<()> {
    for t in tokens.iter_mut().filter(|t| t.token.is_none()) {
        t.token = Some(generate_token()?);
    }
    Ok(())
}

/// Go's `time.RFC3339` layout for a UTC time: whole seconds, `Z`.
fn rfc3339_utc(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The `expiration` value: `expires` re-formatted in UTC when set, else `now + ttl`; `None`
/// for a token that never expires (ttl 0). A missing ttl is kubeadm's default, 24h.
fn expiration(token: &BootstrapToken, id: &str, now: OffsetDateTime) -> Result<Option<String>> {
    if let Some(expires) = &token.expires {
        let t = OffsetDateTime::parse(expires, &Rfc3339).map_err(|_| Error::InvalidExpiration {
            id: id.to_string(),
            value: expires.clone(),
        })?;
        return Ok(Some(rfc3339_utc(t)));
    }
    let ttl = token.ttl.unwrap_or(DEFAULT_TOKEN_TTL);
    if ttl.is_zero() {
        return Ok(None);
    }
    let ttl = time::Duration::try_from(ttl).map_err(|_| Error::InvalidExpiration {
        id: id.to_string(),
        value: format!("now + {}s", ttl.as_secs()),
    })?;
    let at = now
        .checked_add(ttl)
        .ok_or_else(|| Error::InvalidExpiration {
            id: id.to_string(),
            value: format!("now + {}s", ttl.whole_seconds()),
        })?;
    Ok(Some(rfc3339_utc(at)))
}

/// The `kube-system/bootstrap-token-<id>` Secret for one token, with kubeadm's data keys
/// (`encodeTokenSecretData`): token-id, token-secret, description, expiration,
/// `usage-bootstrap-<usage>` = "true", auth-extra-groups (comma-joined).
pub fn bootstrap_token_secret(
    value: &BootstrapTokenString,
    token: &BootstrapToken,
    now: OffsetDateTime,
) -> Result<Secret> {
    let mut data = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        data.insert(k.to_string(), ByteString(v.as_bytes().to_vec()));
    };
    put("token-id", &value.id);
    put("token-secret", value.secret());
    if !token.description.is_empty() {
        put("description", &token.description);
    }
    if let Some(at) = expiration(token, &value.id, now)? {
        put("expiration", &at);
    }
    for usage in &token.usages {
        put(&format!("usage-bootstrap-{usage}"), "true");
    }
    if !token.groups.is_empty() {
        put("auth-extra-groups", &token.groups.join(","));
    }
    Ok(Secret {
        metadata: meta(Some(NS_SYSTEM), &format!("{SECRET_PREFIX}{}", value.id)),
        type_: Some(SECRET_TYPE_BOOTSTRAP_TOKEN.to_string()),
        data: Some(data),
        ..Default::default()
    })
}

/// The bootstrap-token phase up to cluster-info, in kubeadm's order: one Secret per token,
/// `kubeadm:get-nodes` (ClusterRole + binding), `kubeadm:kubelet-bootstrap`,
/// `kubeadm:node-autoapprove-bootstrap`, `kubeadm:node-autoapprove-certificate-rotation`.
/// Every token must have a value ([`fill_missing_tokens`]).
pub fn bootstrap_token_objects(
    tokens: &[BootstrapToken],
    now: OffsetDateTime,
) -> Result<Vec<Object>> {
    let mut objects = Vec::with_capacity(tokens.len() + 5);
    for (i, token) in tokens.iter().enumerate() {
        let value = token.token.as_ref().ok_or(Error::MissingToken(i))?;
        objects.push(bootstrap_token_secret(value, token, now)?.into());
    }
    let get_nodes = k8s_openapi::api::rbac::v1::PolicyRule {
        verbs: vec!["get".to_string()],
        api_groups: Some(vec![String::new()]),
        resources: Some(vec!["nodes".to_string()]),
        ..Default::default()
    };
    objects.extend([
        cluster_role(GET_NODES, vec![get_nodes]).into(),
        cluster_role_binding(GET_NODES, GET_NODES, vec![group(BOOTSTRAPPERS_GROUP)]).into(),
        cluster_role_binding(
            KUBELET_BOOTSTRAP,
            NODE_BOOTSTRAPPER_ROLE,
            vec![group(BOOTSTRAPPERS_GROUP)],
        )
        .into(),
        cluster_role_binding(
            NODE_AUTOAPPROVE_BOOTSTRAP,
            CSR_NODECLIENT_ROLE,
            vec![group(BOOTSTRAPPERS_GROUP)],
        )
        .into(),
        cluster_role_binding(
            NODE_AUTOAPPROVE_ROTATION,
            CSR_SELFNODECLIENT_ROLE,
            vec![group(NODES_GROUP)],
        )
        .into(),
    ]);
    Ok(objects)
}

/// The kubeconfig kubeadm puts in cluster-info, byte for byte as `clientcmd.Write` prints a
/// config holding only the admin.conf cluster under the name `""`. `ca_pem` is the cluster CA
/// bundle (ca.crt as on disk), `server` the admin.conf server URL.
pub fn cluster_info_kubeconfig(ca_pem: &[u8], server: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    \
         server: {}\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\n\
         preferences: {{}}\nusers: null\n",
        yaml_scalar(server)
    )
}

/// A string as go-yaml prints it in block context: plain when that reads back as the same
/// string, double-quoted otherwise.
fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_graphic())
        && !s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@`".contains(c))
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && matches!(
            serde_yaml::from_str::<serde_yaml::Value>(s),
            Ok(serde_yaml::Value::String(ref v)) if v == s
        );
    if plain {
        s.to_string()
    } else {
        super::yaml_quote(s)
    }
}

/// `kube-public/cluster-info` with [`cluster_info_kubeconfig`], then the Role and RoleBinding
/// `kubeadm:bootstrap-signer-clusterinfo` that let `system:anonymous` read it (and only it).
pub fn cluster_info_objects(ca_pem: &[u8], server: &str) -> Vec<Object> {
    let config_map = ConfigMap {
        metadata: meta(Some(NS_PUBLIC), CLUSTER_INFO),
        data: Some(BTreeMap::from([(
            CLUSTER_INFO_KUBECONFIG_KEY.to_string(),
            cluster_info_kubeconfig(ca_pem, server),
        )])),
        ..Default::default()
    };
    vec![
        config_map.into(),
        role(
            NS_PUBLIC,
            BOOTSTRAP_SIGNER_CLUSTERINFO,
            vec![get_named("configmaps", CLUSTER_INFO)],
        )
        .into(),
        role_binding(
            NS_PUBLIC,
            BOOTSTRAP_SIGNER_CLUSTERINFO,
            vec![user("system:anonymous")],
        )
        .into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(ttl: Option<Duration>, expires: Option<&str>) -> BootstrapToken {
        BootstrapToken {
            token: Some(BootstrapTokenString::new(
                "abcdef".into(),
                "0123456789abcdef".into(),
            )),
            description: String::new(),
            ttl,
            expires: expires.map(str::to_string),
            usages: vec!["signing".into(), "authentication".into()],
            groups: vec![BOOTSTRAPPERS_GROUP.into()],
        }
    }

    fn data(s: &Secret) -> BTreeMap<String, String> {
        s.data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), String::from_utf8(v.0.clone()).unwrap()))
            .collect()
    }

    const NOW: OffsetDateTime = time::macros::datetime!(2026-11-23 09:37:15.987 UTC);

    #[test]
    fn expiration_is_now_plus_ttl_truncated_to_seconds_in_utc() {
        let t = token(Some(Duration::from_secs(3600)), None);
        let s = bootstrap_token_secret(t.token.as_ref().unwrap(), &t, NOW).unwrap();
        assert_eq!(data(&s)["expiration"], "2026-11-23T10:37:15Z");
    }

    #[test]
    fn expires_wins_over_ttl_and_is_reformatted_in_utc() {
        let t = token(
            Some(Duration::from_secs(3600)),
            Some("2027-01-02T03:04:05+02:00"),
        );
        let s = bootstrap_token_secret(t.token.as_ref().unwrap(), &t, NOW).unwrap();
        assert_eq!(data(&s)["expiration"], "2027-01-02T01:04:05Z");
        let bad = token(None, Some("tomorrow"));
        let err = bootstrap_token_secret(bad.token.as_ref().unwrap(), &bad, NOW).unwrap_err();
        assert!(
            err.to_string().contains("abcdef") && !err.to_string().contains("0123456789abcdef")
        );
    }

    #[test]
    fn zero_ttl_never_expires_and_missing_ttl_is_24h() {
        let t = token(Some(Duration::ZERO), None);
        let s = bootstrap_token_secret(t.token.as_ref().unwrap(), &t, NOW).unwrap();
        assert!(!data(&s).contains_key("expiration"));
        let t = token(None, None);
        let s = bootstrap_token_secret(t.token.as_ref().unwrap(), &t, NOW).unwrap();
        assert_eq!(data(&s)["expiration"], "2026-11-24T09:37:15Z");
    }

    #[test]
    fn tokens_must_have_values() {
        let mut t = token(None, None);
        t.token = None;
        assert!(matches!(
            bootstrap_token_objects(&[t], NOW),
            Err(Error::MissingToken(0))
        ));
    }

    #[test]
    fn parse_token_accepts_only_kubeadm_form_and_hides_the_secret() {
        assert_eq!(
            parse_token("abcdef.0123456789abcdef").unwrap().full(),
            "abcdef.0123456789abcdef"
        );
        for bad in [
            "abcdef0123456789abcdef",
            "ABCDEF.0123456789abcdef",
            "abcde.0123456789abcdef",
            "abcdef.0123456789abcde",
            "abcdef.0123456789abcdeff",
            "abcdef.0123456789abcd-f",
        ] {
            let e = parse_token(bad).unwrap_err().to_string();
            assert!(!e.contains("0123456789abcd"), "{e}");
        }
    }

    #[test]
    fn generation_rejects_out_of_range_bytes_instead_of_folding_them() {
        // 252..=255 would map to '0'..'3' if folded; they must be skipped.
        let mut calls = 0;
        let t = generate_token_with(|buf| {
            calls += 1;
            for (i, b) in buf.iter_mut().enumerate() {
                *b = if i % 2 == 0 { 255 } else { 36 + 10 }; // 46 % 36 = 10 → 'a'
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(t.full(), "aaaaaa.aaaaaaaaaaaaaaaa");
        assert_eq!(calls, 2);
        assert!(
            generate_token_with(|buf| {
                buf.fill(253);
                Ok(())
            })
            .is_err()
        );
        assert!(generate_token_with(|_| Err(())).is_err());
    }

    #[test]
    fn yaml_scalars_are_plain_unless_they_must_be_quoted() {
        assert_eq!(
            yaml_scalar("https://127.0.0.1:6443"),
            "https://127.0.0.1:6443"
        );
        assert_eq!(
            yaml_scalar("https://[fd00::1]:6443"),
            "https://[fd00::1]:6443"
        );
        assert_eq!(yaml_scalar("a: b"), "\"a: b\"");
        assert_eq!(yaml_scalar(""), "\"\"");
    }
}
