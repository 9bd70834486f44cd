//! The join commands and the closing message `kubeadm init` prints, from kubeadm's
//! `joinCommandTemplate` (cmd/util/join.go) and `initDoneTempl` (cmd/init.go).

use super::certs::CertificateKey;
use crate::config::model::BootstrapTokenString;

/// kubeadm prints this instead of a value when asked to skip printing the token or key.
const WITHHELD: &str = "<value withheld>";

/// What the join commands are made of. `server` is admin.conf's server URL (kubeadm strips
/// `https://` from it); `ca_cert_hashes` are `sha256:<hex>` pins, one per CA in the bundle.
#[derive(Clone, Copy)]
pub struct JoinCommand<'a> {
    pub server: &'a str,
    pub token: &'a BootstrapTokenString,
    pub ca_cert_hashes: &'a [String],
    /// Print `<value withheld>` instead of the token (`--skip-token-print`).
    pub skip_token_print: bool,
}

impl std::fmt::Debug for JoinCommand<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinCommand")
            .field("server", &self.server)
            .field("token", self.token)
            .field("ca_cert_hashes", &self.ca_cert_hashes)
            .finish()
    }
}

impl JoinCommand<'_> {
    fn render(&self, control_plane: Option<Option<&str>>) -> String {
        let host_port = self.server.replace("https://", "");
        let token = if self.skip_token_print {
            WITHHELD.to_string()
        } else {
            self.token.full()
        };
        let mut out = format!("kubeadm join {host_port} --token {token} \\\n\t");
        for hash in self.ca_cert_hashes {
            out.push_str(&format!("--discovery-token-ca-cert-hash {hash} "));
        }
        if let Some(key) = control_plane {
            out.push_str("\\\n\t--control-plane ");
            if let Some(key) = key {
                out.push_str(&format!("--certificate-key {key}"));
            }
        }
        out
    }
}

/// `kubeadm join <host:port> --token <t> \` / `\t--discovery-token-ca-cert-hash sha256:<h> `,
/// exactly as kubeadm's template renders it (trailing space included).
pub fn join_worker_command(cmd: &JoinCommand<'_>) -> String {
    cmd.render(None)
}

/// The control-plane variant: `... \` / `\t--control-plane --certificate-key <k>`; without
/// uploaded certificates (`key` = `None`) there is no `--certificate-key`. `skip_key_print`
/// prints `<value withheld>` instead of the key.
pub fn join_control_plane_command(
    cmd: &JoinCommand<'_>,
    key: Option<&CertificateKey>,
    skip_key_print: bool,
) -> String {
    let key_text = key.map(|k| {
        if skip_key_print {
            WITHHELD.to_string()
        } else {
            k.to_hex()
        }
    });
    cmd.render(Some(key_text.as_deref()))
}

/// The message `kubeadm init` ends with (`initDoneTempl`). The control-plane join section
/// appears only with a `controlPlaneEndpoint`; its wording depends on whether certificates were
/// uploaded (`upload_certs`).
pub fn init_done_message(
    admin_kubeconfig_path: &str,
    has_control_plane_endpoint: bool,
    upload_certs: bool,
    join_control_plane: &str,
    join_worker: &str,
) -> String {
    let mut out = format!(
        "
Your Kubernetes control-plane has initialized successfully!

To start using your cluster, you need to run the following as a regular user:

  mkdir -p $HOME/.kube
  sudo cp -i {admin_kubeconfig_path} $HOME/.kube/config
  sudo chown $(id -u):$(id -g) $HOME/.kube/config

Alternatively, if you are the root user, you can run:

  export KUBECONFIG=/etc/kubernetes/admin.conf

You should now deploy a pod network to the cluster.
Run \"kubectl apply -f [podnetwork].yaml\" with one of the options listed at:
  https://kubernetes.io/docs/concepts/cluster-administration/addons/

"
    );
    if has_control_plane_endpoint {
        if upload_certs {
            out.push_str(&format!(
                "You can now join any number of control-plane nodes running the following command on each as root:

  {join_control_plane}

Please note that the certificate-key gives access to cluster sensitive data, keep it secret!
As a safeguard, uploaded-certs will be deleted in two hours; If necessary, you can use
\"kubeadm init phase upload-certs --upload-certs\" to reload certs afterward.

"
            ));
        } else {
            out.push_str(&format!(
                "You can now join any number of control-plane nodes by copying certificate authorities
and service account keys on each node and then running the following as root:

  {join_control_plane}

"
            ));
        }
    }
    out.push_str(&format!(
        "Then you can join any number of worker nodes by running the following on each as root:

{join_worker}
"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "sha256:3024f5a56088f579d7ad7ce55f52a575e639e54da1e91d44f089f3492c11af43";

    fn token() -> BootstrapTokenString {
        BootstrapTokenString::new("abcdef".into(), "0123456789abcdef".into())
    }

    #[test]
    fn commands_render_as_kubeadm_template() {
        let t = token();
        let hashes = [HASH.to_string()];
        let cmd = JoinCommand {
            server: "https://127.0.0.1:6443",
            token: &t,
            ca_cert_hashes: &hashes,
            skip_token_print: false,
        };
        assert_eq!(
            join_worker_command(&cmd),
            format!(
                "kubeadm join 127.0.0.1:6443 --token abcdef.0123456789abcdef \\\n\t--discovery-token-ca-cert-hash {HASH} "
            )
        );
        let key = CertificateKey::parse(&"ab".repeat(32)).unwrap();
        assert_eq!(
            join_control_plane_command(&cmd, Some(&key), false),
            format!(
                "kubeadm join 127.0.0.1:6443 --token abcdef.0123456789abcdef \\\n\t--discovery-token-ca-cert-hash {HASH} \\\n\t--control-plane --certificate-key {}",
                "ab".repeat(32)
            )
        );
        assert!(join_control_plane_command(&cmd, None, false).ends_with("--control-plane "));
        let hidden = JoinCommand {
            skip_token_print: true,
            ..cmd
        };
        let text = join_control_plane_command(&hidden, Some(&key), true);
        assert!(!text.contains("0123456789abcdef") && !text.contains(&"ab".repeat(32)));
        assert!(text.contains("--token <value withheld>"));
        assert!(!format!("{cmd:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn init_message_sections_follow_endpoint_and_upload_certs() {
        let m = init_done_message("/etc/kubernetes/admin.conf", false, false, "CP", "W");
        assert!(m.starts_with("\nYour Kubernetes control-plane has initialized successfully!\n"));
        assert!(!m.contains("CP"));
        assert!(m.ends_with(
            "Then you can join any number of worker nodes by running the following on each as root:\n\nW\n"
        ));
        let m = init_done_message("/etc/kubernetes/admin.conf", true, true, "CP", "W");
        assert!(
            m.contains("running the following command on each as root:\n\n  CP\n\nPlease note")
        );
        let m = init_done_message("/etc/kubernetes/admin.conf", true, false, "CP", "W");
        assert!(m.contains("and service account keys on each node and then running the following as root:\n\n  CP\n\nThen"));
    }
}
