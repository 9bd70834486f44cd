//! `kubelet-finalize enable-client-cert-rotation`, as kubeadm: once the kubelet has written
//! its rotatable client certificate (`kubelet-client-current.pem` in its certificate
//! directory), point `/etc/kubernetes/kubelet.conf`'s user at that file instead of the
//! embedded certificate init wrote, then restart the kubelet. Without the file, rotation is
//! off and nothing changes.

use serde_yaml::{Mapping, Value};

use super::{Error, KUBELET_FINALIZE_PHASES, OnlineContext, Result, each_sub_phase};
use crate::config::sorted_keys;
use crate::fs::mode;
use crate::tlsbootstrap::KubeletCertDir;

pub const KUBELET_CONF: &str = "/etc/kubernetes/kubelet.conf";
/// The symlink the kubelet keeps pointing at its current client certificate and key.
pub const KUBELET_CLIENT_CURRENT: &str = "kubelet-client-current.pem";

/// The `kubelet-finalize` phase.
pub fn kubelet_finalize(ctx: &OnlineContext, sub: Option<&str>) -> Result<()> {
    each_sub_phase("kubelet-finalize", KUBELET_FINALIZE_PHASES, sub, |_| {
        enable_client_cert_rotation(ctx)
    })
}

fn enable_client_cert_rotation(ctx: &OnlineContext) -> Result<()> {
    // kubeadm honours the kubelet's --cert-dir.
    let pem = KubeletCertDir::from_kubelet_args(&ctx.cfg.node_registration.kubelet_extra_args)
        .current_client_pem();
    // os.Stat as kubeadm: the symlink must lead to a file. Its target is a node path.
    if !ctx.root.exists_following_links(&pem) {
        log::debug!(
            "[kubelet-finalize] Assuming that kubelet client certificate rotation is disabled: \
             {pem} does not exist"
        );
        return Ok(());
    }
    log::info!(
        "[kubelet-finalize] Updating {KUBELET_CONF:?} to point to a rotatable kubelet client \
         certificate and key"
    );
    if ctx.target.is_dry_run() {
        return Ok(());
    }
    let bytes = ctx.root.read(KUBELET_CONF)?;
    let Some(rewritten) = point_user_at(&bytes, &pem)? else {
        log::debug!("[kubelet-finalize] {KUBELET_CONF} already uses {pem}");
        return Ok(());
    };
    ctx.root
        .write_atomic(KUBELET_CONF, rewritten.as_bytes(), mode::PRIVATE)?;
    log::info!("[kubelet-finalize] Restarting the kubelet to enable client certificate rotation");
    ctx.services.start_kubelet();
    Ok(())
}

/// kubelet.conf with the current context's user reading its certificate and key from `pem`
/// (the embedded `*-data` removed), keys sorted as client-go writes kubeconfigs. `None` when it
/// already does.
fn point_user_at(kubeconfig: &[u8], pem: &str) -> Result<Option<String>> {
    let invalid = |reason: String| Error::Kubeconfig {
        path: KUBELET_CONF.to_string(),
        reason,
    };
    let mut doc: Mapping = serde_yaml::from_slice(kubeconfig)
        .map_err(|_| invalid("not a valid kubeconfig (YAML error)".into()))?;
    let context = doc
        .get("current-context")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| invalid("current context is not set".into()))?
        .to_string();
    let user_name = named(&doc, "contexts", &context)
        .and_then(|c| c.get("context"))
        .ok_or_else(|| {
            invalid(format!(
                "{context:?} set as current-context, but not found in context list"
            ))
        })?
        .get("user")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| invalid("empty username for current context".into()))?
        .to_string();
    let user = doc
        .get_mut("users")
        .and_then(Value::as_sequence_mut)
        .and_then(|users| {
            users
                .iter_mut()
                .find(|u| u.get("name").and_then(Value::as_str) == Some(&user_name))
        })
        .and_then(|u| u.get_mut("user"))
        .and_then(Value::as_mapping_mut)
        .ok_or_else(|| invalid(format!("no authentication for user {user_name:?}")))?;

    let path = Value::String(pem.to_string());
    let already = user.get("client-certificate") == Some(&path)
        && user.get("client-key") == Some(&path)
        && !user.contains_key("client-certificate-data")
        && !user.contains_key("client-key-data");
    if already {
        return Ok(None);
    }
    user.remove("client-certificate-data");
    user.remove("client-key-data");
    user.insert("client-certificate".into(), path.clone());
    user.insert("client-key".into(), path);
    serde_yaml::to_string(&sorted_keys(&doc))
        .map(Some)
        .map_err(|e| invalid(format!("cannot encode it: {e}")))
}

fn named<'a>(doc: &'a Mapping, list: &str, name: &str) -> Option<&'a Value> {
    doc.get(list)?
        .as_sequence()?
        .iter()
        .find(|item| item.get("name").and_then(Value::as_str) == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBELET_CONF_EMBEDDED: &str = "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: https://192.168.0.10:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: system:node:cp-1
  name: system:node:cp-1@kubernetes
current-context: system:node:cp-1@kubernetes
kind: Config
preferences: {}
users:
- name: system:node:cp-1
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
";

    #[test]
    fn the_current_user_is_pointed_at_the_rotating_file() {
        let pem = "/var/lib/kubelet/pki/kubelet-client-current.pem";
        let out = point_user_at(KUBELET_CONF_EMBEDDED.as_bytes(), pem)
            .unwrap()
            .unwrap();
        assert_eq!(
            out,
            KUBELET_CONF_EMBEDDED.replace(
                "    client-certificate-data: Q0VSVA==\n    client-key-data: S0VZ\n",
                &format!("    client-certificate: {pem}\n    client-key: {pem}\n")
            )
        );
        assert_eq!(point_user_at(out.as_bytes(), pem).unwrap(), None);
    }

    #[test]
    fn the_phase_rewrites_kubelet_conf_only_once_the_rotating_file_exists() {
        use crate::online::tests::{config, context};
        use crate::online::{Target, kubelet_finalize};
        use std::cell::RefCell;
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        let root = crate::fs::Root::new(dir.path());
        root.write_atomic(KUBELET_CONF, KUBELET_CONF_EMBEDDED.as_bytes(), 0o600)
            .unwrap();
        let mut cfg = config();
        let printed = RefCell::new(Vec::new());
        let out = RefCell::new(Vec::new());
        {
            let ctx = context(&root, &cfg, Target::DryRun(&printed), &out);
            kubelet_finalize(&ctx, None).unwrap();
        }
        assert_eq!(
            root.read(KUBELET_CONF).unwrap(),
            KUBELET_CONF_EMBEDDED.as_bytes()
        );

        // --cert-dir moves the file; a dry run only says what it would do.
        cfg.node_registration.kubelet_extra_args = vec![crate::config::model::Arg {
            name: "cert-dir".into(),
            value: "/srv/kubelet-pki".into(),
        }];
        let pem = "/srv/kubelet-pki/kubelet-client-current.pem";
        root.write_atomic(pem, b"CERT+KEY", 0o600).unwrap();
        {
            let ctx = context(&root, &cfg, Target::DryRun(&printed), &out);
            kubelet_finalize(&ctx, Some("enable-client-cert-rotation")).unwrap();
        }
        assert_eq!(
            root.read(KUBELET_CONF).unwrap(),
            KUBELET_CONF_EMBEDDED.as_bytes()
        );

        // For real: no API call is made, so any client will do.
        let fake_client = crate::api::Client::new(
            "https://127.0.0.1:1",
            crate::api::ClientOptions::new(
                crate::api::Trust::any_certificate(),
                crate::api::Auth::Anonymous,
            ),
        )
        .unwrap();
        let ctx = context(&root, &cfg, Target::Api(&fake_client), &out);
        kubelet_finalize(&ctx, None).unwrap();
        let written = String::from_utf8(root.read(KUBELET_CONF).unwrap()).unwrap();
        assert!(written.contains(&format!("client-key: {pem}")), "{written}");
        assert!(!written.contains("client-key-data"));
        let mode = std::fs::metadata(root.path(KUBELET_CONF))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(kubelet_finalize(&ctx, Some("experimental-cert-rotation")).is_err());
    }

    #[test]
    fn a_kubeconfig_without_a_usable_current_user_is_refused() {
        let pem = "/p.pem";
        for (doc, expected) in [
            ("kind: Config\n", "current context is not set"),
            ("current-context: x\n", "not found in context list"),
            (
                "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n",
                "empty username",
            ),
            (
                "current-context: x\ncontexts:\n- name: x\n  context: {user: u}\n",
                "no authentication for user \"u\"",
            ),
        ] {
            let e = point_user_at(doc.as_bytes(), pem).unwrap_err().to_string();
            assert!(e.contains(expected) && e.contains(KUBELET_CONF), "{e}");
        }
    }

    #[test]
    fn the_kubelets_link_is_followed_under_the_root_not_on_the_host() {
        use crate::online::tests::{config, context};
        use crate::online::{Target, kubelet_finalize};
        use std::cell::RefCell;

        let dir = tempfile::tempdir().unwrap();
        let root = crate::fs::Root::new(dir.path());
        root.write_atomic(KUBELET_CONF, KUBELET_CONF_EMBEDDED.as_bytes(), 0o600)
            .unwrap();
        // As the kubelet links it: an absolute node path, which does not exist on the host.
        let target = "/var/lib/kubelet/pki/kubelet-client-2026-11-23-09-37-20.pem";
        root.write_atomic(target, b"CERT+KEY", 0o600).unwrap();
        let pem = "/var/lib/kubelet/pki/kubelet-client-current.pem";
        root.symlink_atomic(target, pem).unwrap();
        let fake_client = crate::api::Client::new(
            "https://127.0.0.1:1",
            crate::api::ClientOptions::new(
                crate::api::Trust::any_certificate(),
                crate::api::Auth::Anonymous,
            ),
        )
        .unwrap();
        let cfg = config();
        let out = RefCell::new(Vec::new());
        let ctx = context(&root, &cfg, Target::Api(&fake_client), &out);
        kubelet_finalize(&ctx, None).unwrap();
        let written = String::from_utf8(root.read(KUBELET_CONF).unwrap()).unwrap();
        assert!(written.contains(&format!("client-key: {pem}")), "{written}");
    }
}
