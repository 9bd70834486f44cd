//! `kubeboot init`: kubeadm's init phases, in kubeadm's order, with kubeadm's phase names.
//! `--skip-phases` takes `phase` or `phase/sub-phase`; `init phase <phase> [all|<sub>]` runs one.
//! The offline phases write files under the root; the online ones (from `wait-control-plane`
//! on) talk to the new API server with admin.conf, or print their objects under `--dry-run`.

use crate::cli::{InitCommand, InitSub};
use crate::cluster::CertificateKey;
use crate::config::model::{Etcd, InitConfiguration};
use crate::config::{self, ConfigError, HostFacts};
use std::path::Path;

use crate::fs::{Root, mode};
use crate::service::ServiceControl;
use crate::state::{PhaseObserver, Unobserved};
use crate::{Error, Result, kubeconfig, kubelet, manifests, online, pki, preflight};

/// What every init phase reads: the node's root, the resolved configuration and how to act.
pub struct InitContext<'a> {
    /// Where the phases read and write their files.
    pub root: &'a Root,
    /// The node's own files, which preflight and host detection read: `root`, except in a dry
    /// run on the node itself ([`dry_run_root`]).
    pub node: &'a Root,
    pub cfg: &'a InitConfiguration,
    pub dry_run: bool,
    pub host: &'a dyn preflight::Host,
    pub services: ServiceControl,
    /// Decided once per init (`online::prepare_secrets`), so every phase uses the same key.
    pub certificate_key: Option<&'a CertificateKey>,
    /// Run as `init phase <name>`: no join command follows to carry the certificate key.
    pub single_phase: bool,
}

/// A phase body: gets its own name and `Some(sub)` for one sub-phase, `None` otherwise.
type PhaseFn = fn(&InitContext, &str, Option<&str>) -> Result<()>;

/// One kubeadm init phase.
pub struct Phase {
    pub name: &'static str,
    pub subphases: &'static [&'static str],
    run: PhaseFn,
}

/// kubeadm's init workflow (`cmd/kubeadm/app/cmd/init.go`).
pub const PHASES: &[Phase] = &[
    Phase {
        name: "preflight",
        subphases: &[],
        run: preflight_phase,
    },
    Phase {
        name: "certs",
        subphases: pki::PHASES,
        run: certs_phase,
    },
    Phase {
        name: "kubeconfig",
        subphases: kubeconfig::PHASES,
        run: kubeconfig_phase,
    },
    Phase {
        name: "etcd",
        subphases: &["local"],
        run: etcd_phase,
    },
    Phase {
        name: "control-plane",
        subphases: manifests::CONTROL_PLANE_PHASES,
        run: control_plane_phase,
    },
    Phase {
        name: "kubelet-start",
        subphases: &[],
        run: kubelet_start_phase,
    },
    Phase {
        name: "wait-control-plane",
        subphases: &[],
        run: online_phase,
    },
    Phase {
        name: "upload-config",
        subphases: online::UPLOAD_CONFIG_PHASES,
        run: online_phase,
    },
    Phase {
        name: "upload-certs",
        subphases: &[],
        run: online_phase,
    },
    Phase {
        name: "mark-control-plane",
        subphases: &[],
        run: online_phase,
    },
    Phase {
        name: "bootstrap-token",
        subphases: &[],
        run: online_phase,
    },
    Phase {
        name: "kubelet-finalize",
        subphases: online::KUBELET_FINALIZE_PHASES,
        run: online_phase,
    },
    Phase {
        name: "addon",
        subphases: online::ADDON_PHASES,
        run: online_phase,
    },
    Phase {
        name: "show-join-command",
        subphases: &[],
        run: online_phase,
    },
];

fn preflight_phase(ctx: &InitContext, _: &str, _: Option<&str>) -> Result<()> {
    // The ignore list is already merged into nodeRegistration.ignorePreflightErrors.
    preflight::run_init_checks(ctx.node, ctx.host, ctx.cfg, &[])?;
    Ok(())
}

fn certs_phase(ctx: &InitContext, _: &str, sub: Option<&str>) -> Result<()> {
    Ok(pki::create_init_pki(ctx.root, ctx.cfg, sub)?)
}

fn kubeconfig_phase(ctx: &InitContext, _: &str, sub: Option<&str>) -> Result<()> {
    Ok(kubeconfig::create_init_kubeconfigs(ctx.root, ctx.cfg, sub)?)
}

fn etcd_phase(ctx: &InitContext, _: &str, _: Option<&str>) -> Result<()> {
    match ctx.cfg.cluster.etcd {
        Etcd::Local(_) => Ok(manifests::write_local_etcd(ctx.root, ctx.cfg)?),
        Etcd::External(_) => {
            log::info!("[etcd] External etcd mode: skipping the local etcd static Pod manifest");
            Ok(())
        }
    }
}

fn control_plane_phase(ctx: &InitContext, _: &str, sub: Option<&str>) -> Result<()> {
    Ok(manifests::write_control_plane(
        ctx.node, ctx.root, ctx.cfg, sub,
    )?)
}

fn kubelet_start_phase(ctx: &InitContext, _: &str, _: Option<&str>) -> Result<()> {
    ctx.services.stop_kubelet();
    kubelet::write_init_files(ctx.root, ctx.cfg, &kubelet::KubeletHost::detect(ctx.node))?;
    ctx.services.start_kubelet();
    Ok(())
}

fn online_phase(ctx: &InitContext, name: &str, sub: Option<&str>) -> Result<()> {
    let admin_conf = admin_conf_shown(ctx);
    let opts = online::RunOptions {
        dry_run: ctx.dry_run,
        upload_certs: ctx.cfg.upload_certs,
        certificate_key: ctx.certificate_key,
        skip_token_print: false,
        // Run alone, upload-certs leaves the key to `show_generated_key`.
        skip_certificate_key_print: ctx.single_phase && name == "upload-certs",
        services: ctx.services,
        admin_conf_shown: &admin_conf,
    };
    Ok(online::run_phase(ctx.root, ctx.cfg, &opts, name, sub)?)
}

/// The admin.conf to copy, as the closing message names it: the node path, or, after a dry
/// run on the node itself, the copy in its directory (as kubeadm names its dry-run file).
fn admin_conf_shown(ctx: &InitContext) -> String {
    if ctx.root.base() == ctx.node.base() {
        online::ADMIN_CONF.to_string()
    } else {
        ctx.root.path(online::ADMIN_CONF).display().to_string()
    }
}

/// Which phases and sub-phases to skip, from `--skip-phases` and `skipPhases`.
#[derive(Debug, Default)]
pub struct SkipList(Vec<String>);

impl SkipList {
    /// `--skip-phases` from the command line: an unknown entry is a usage error (exit 2).
    pub fn new(entries: &[String], phases: &[Phase]) -> Result<SkipList> {
        Self::checked(entries, phases)
            .map_err(|reason| Error::Usage(format!("{reason} in --skip-phases")))
    }

    /// `skipPhases` of a configuration file or user-data: an unknown entry is a configuration
    /// error (exit 3), like any other bad field.
    pub fn from_config(entries: &[String], phases: &[Phase]) -> Result<SkipList> {
        Self::checked(entries, phases).map_err(|reason| {
            Error::Config(ConfigError {
                origin: "the InitConfiguration".into(),
                document: None,
                kind: None,
                field: Some("skipPhases".into()),
                reason,
            })
        })
    }

    /// Validates every entry against the phase table, so a typo is an error, not a silent no-op.
    fn checked(entries: &[String], phases: &[Phase]) -> std::result::Result<SkipList, String> {
        for entry in entries {
            let (phase, sub) = match entry.split_once('/') {
                Some((p, s)) => (p, Some(s)),
                None => (entry.as_str(), None),
            };
            let known = phases
                .iter()
                .find(|p| p.name == phase)
                .is_some_and(|p| match sub {
                    None => true,
                    Some(s) => p.subphases.contains(&s),
                });
            if !known {
                return Err(format!(
                    "unknown phase {entry:?} (phases are: {})",
                    phase_names(phases)
                ));
            }
        }
        Ok(SkipList(entries.to_vec()))
    }

    pub fn skips(&self, phase: &str, sub: Option<&str>) -> bool {
        self.0.iter().any(|e| match (e.split_once('/'), sub) {
            (None, _) => e == phase,
            (Some((p, s)), Some(sub)) => p == phase && s == sub,
            (Some(_), None) => false,
        })
    }
}

fn phase_names(phases: &[Phase]) -> String {
    phases.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}

/// Runs the phases in order, honouring the skip list.
pub fn run_phases(
    ctx: &InitContext,
    phases: &[Phase],
    skip: &SkipList,
    observer: &mut dyn PhaseObserver,
) -> Result<()> {
    for phase in phases {
        if skip.skips(phase.name, None) {
            log::info!("[{}] Skipping phase", phase.name);
            continue;
        }
        if phase.subphases.is_empty() {
            observer.phase(phase.name, &mut || (phase.run)(ctx, phase.name, None))?;
            continue;
        }
        for sub in phase.subphases {
            if skip.skips(phase.name, Some(sub)) {
                log::info!("[{}] Skipping sub-phase {sub}", phase.name);
                continue;
            }
            let name = format!("{}/{sub}", phase.name);
            observer.phase(&name, &mut || (phase.run)(ctx, phase.name, Some(sub)))?;
        }
    }
    Ok(())
}

/// Runs `init phase <name> [all|<sub>]`.
pub fn run_single_phase(ctx: &InitContext, name: &str, sub: Option<&str>) -> Result<()> {
    let phase = find_phase(name, sub)?;
    match sub {
        None | Some("all") if phase.subphases.is_empty() => (phase.run)(ctx, name, None),
        None | Some("all") => phase
            .subphases
            .iter()
            .try_for_each(|s| (phase.run)(ctx, name, Some(s))),
        Some(s) => (phase.run)(ctx, name, Some(s)),
    }
}

/// The phase `init phase <name> [<sub>]` names, or a usage error listing the right names.
fn find_phase(name: &str, sub: Option<&str>) -> Result<&'static Phase> {
    let phase = PHASES.iter().find(|p| p.name == name).ok_or_else(|| {
        Error::Usage(format!(
            "unknown phase \"{}\"; phases are: {}",
            crate::logging::shown_word(name),
            phase_names(PHASES)
        ))
    })?;
    match sub {
        Some(s) if s != "all" && !phase.subphases.contains(&s) => Err(Error::Usage(format!(
            "phase {name:?} has no sub-phase \"{}\"; sub-phases are: all, {}",
            crate::logging::shown_word(s),
            phase.subphases.join(", ")
        ))),
        _ => Ok(phase),
    }
}

/// `kubeboot init [phase ...]`. `node` is `--root`.
pub fn run_command(node: &Root, cmd: InitCommand) -> Result<()> {
    let facts = HostFacts::detect();
    let host = preflight::RealHost::new(node.clone());
    match cmd.phase {
        Some(InitSub::Phase(p)) => {
            find_phase(&p.phase, p.sub_phase.as_deref())?;
            let mut cfg = config::load_init(&p.args, &facts)?;
            let root = &dry_run_root(node, Path::new(NODE_ROOT), &cfg)?;
            let upload_certs = cfg.upload_certs;
            // A single phase has no end at which a record could be removed: it only reuses
            // what an unfinished init recorded.
            let generated = if cfg.dry_run {
                online::Generated::Ephemeral
            } else {
                online::Generated::ReuseRecorded
            };
            let key = online::prepare_secrets(root, &mut cfg, upload_certs, generated)?;
            let ctx = InitContext {
                root,
                node,
                cfg: &cfg,
                dry_run: cfg.dry_run,
                host: &host,
                services: ServiceControl::for_run(root, cfg.dry_run, true),
                certificate_key: key.as_ref(),
                single_phase: true,
            };
            run_single_phase(&ctx, &p.phase, p.sub_phase.as_deref())?;
            show_generated_key(&p.phase, cfg.certificate_key.is_none(), key.as_ref());
            Ok(())
        }
        None => {
            // Flags replace skipPhases: checked here, a bad entry is the command line's fault;
            // `run` blames what is left on the configuration.
            SkipList::new(&cmd.args.skip_phases, PHASES)?;
            let cfg = config::load_init(&cmd.args, &facts)?;
            run(node, cfg, &host, true, &mut Unobserved)
        }
    }
}

/// The node's own root: a `--root` naming it is the live machine.
const NODE_ROOT: &str = "/";

/// Where kubeadm keeps its temporary directories; dry runs on the node itself write under it.
const NODE_TMP_DIR: &str = "/etc/kubernetes/tmp";

/// Where an init writes. A real run, or a dry run in a sandbox (`--root DIR`), writes under
/// `node` as it is. A dry run on the node itself (`node` is `node_root`: `/` outside tests)
/// writes under a fresh `/etc/kubernetes/tmp/kubeboot-init-dryrun<random>` (0700) instead, as
/// kubeadm's `kubeadm-init-dryrun*`: a dry run must not change the node, and a running kubelet
/// would start the static Pods of manifests written to /etc/kubernetes/manifests. kubeadm reads
/// existing certificates from the node and writes new ones to its dry-run directory; kubeboot's
/// phases read and write one tree, so the node's certificate directory, kubeconfigs and
/// external etcd client files are copied there first (keys keep their 0600), and existing CAs
/// are reused as a real run would reuse them.
pub fn dry_run_root(node: &Root, node_root: &Path, cfg: &InitConfiguration) -> Result<Root> {
    if !cfg.dry_run || !same_directory(node.base(), node_root) {
        return Ok(node.clone());
    }
    let dir = node.create_fresh_dir(NODE_TMP_DIR, "kubeboot-init-dryrun", mode::PRIVATE_DIR)?;
    let dry = Root::new(node.path(&dir));
    // A certificatesDir above /etc/kubernetes/tmp must not copy the dry runs into themselves.
    let skip = Path::new(NODE_TMP_DIR);
    node.copy_to(&cfg.cluster.certificates_dir, &dry, skip)?;
    // The kubeconfigs init reuses when they exist (and needs, in external-CA mode).
    let kubeconfig_dir = Path::new(kubeconfig::KUBERNETES_DIR);
    for name in node.list_dir(kubeconfig_dir)? {
        if name.ends_with(".conf") {
            node.copy_to(kubeconfig_dir.join(name), &dry, skip)?;
        }
    }
    if let Etcd::External(ext) = &cfg.cluster.etcd {
        for file in [&ext.ca_file, &ext.cert_file, &ext.key_file] {
            if !file.is_empty() {
                node.copy_to(file, &dry, skip)?;
            }
        }
    }
    Ok(dry)
}

/// Whether two paths name one directory (`/`, `/etc/..`, a link to `/`).
fn same_directory(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The whole `init` workflow for a resolved configuration (also used by `boot`) on the node
/// at `node` (`--root`). Secrets it generates are recorded until it completes
/// ([`online::prepare_secrets`]).
pub fn run(
    node: &Root,
    cfg: InitConfiguration,
    host: &dyn preflight::Host,
    start_kubelet: bool,
    observer: &mut dyn PhaseObserver,
) -> Result<()> {
    run_on(
        node,
        Path::new(NODE_ROOT),
        cfg,
        host,
        start_kubelet,
        observer,
    )
}

/// [`run`], told where the live machine's root is (`/`; tests stand a directory in for it to
/// see what a dry run on the node itself does).
pub fn run_on(
    node: &Root,
    node_root: &Path,
    mut cfg: InitConfiguration,
    host: &dyn preflight::Host,
    start_kubelet: bool,
    observer: &mut dyn PhaseObserver,
) -> Result<()> {
    let skip = SkipList::from_config(&cfg.skip_phases, PHASES)?;
    let root = &dry_run_root(node, node_root, &cfg)?;
    check_external_ca(root, &cfg)?;
    let upload_certs = cfg.upload_certs;
    // Recorded before the first phase, removed after the last: a re-run after a crash in
    // between converges on the same token instead of creating a second one.
    let generated = if cfg.dry_run {
        online::Generated::Ephemeral
    } else {
        online::Generated::Record
    };
    let key = online::prepare_secrets(root, &mut cfg, upload_certs, generated)?;
    let ctx = InitContext {
        root,
        node,
        cfg: &cfg,
        dry_run: cfg.dry_run,
        host,
        services: ServiceControl::for_run(root, cfg.dry_run, start_kubelet),
        certificate_key: key.as_ref(),
        single_phase: false,
    };
    if ctx.dry_run {
        let untouched = if root.base() == node.base() {
            ""
        } else {
            " (the node's own files are not changed)"
        };
        log::info!(
            "[dryrun] Writing files under {}{untouched}; no API calls, no services started",
            root.base().display()
        );
    }
    run_phases(&ctx, PHASES, &skip, observer)?;
    if !ctx.dry_run {
        online::discard_generated_secrets(root)?;
    }
    Ok(())
}

/// `init phase upload-certs --upload-certs` run alone is how a new key is made (as kubeadm
/// documents it), and no join command follows to carry a generated key: show it here. A full
/// init (and boot) shows it only in the control-plane join command.
fn show_generated_key(phase: &str, generated: bool, key: Option<&CertificateKey>) {
    if let Some(key) = key.filter(|_| phase == "upload-certs" && generated) {
        println!("[upload-certs] Using certificate key:\n{}", key.to_hex());
    }
}

/// In kubeadm's external-CA mode every kubeconfig must be supplied; check before writing
/// anything, so a half-prepared node is refused whole.
fn check_external_ca(root: &Root, cfg: &InitConfiguration) -> Result<()> {
    if !pki::external_cas(root, cfg)?.is_empty() {
        kubeconfig::validate_for_external_ca(root, cfg)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nothing(_: &InitContext, _: &str, _: Option<&str>) -> Result<()> {
        Ok(())
    }

    const TABLE: &[Phase] = &[
        Phase {
            name: "certs",
            subphases: &["ca", "apiserver"],
            run: nothing,
        },
        Phase {
            name: "addon",
            subphases: &["coredns", "kube-proxy"],
            run: nothing,
        },
    ];

    #[test]
    fn a_dry_run_on_the_node_itself_writes_under_a_fresh_directory_holding_the_nodes_pki() {
        let node = tempfile::tempdir().unwrap();
        let root = Root::new(node.path());
        root.write_atomic("/etc/kubernetes/pki/ca.crt", b"cert", 0o644)
            .unwrap();
        root.write_atomic("/etc/kubernetes/pki/ca.key", b"key", 0o600)
            .unwrap();
        root.write_atomic("/etc/etcd/client.key", b"etcd key", 0o600)
            .unwrap();
        root.write_atomic("/etc/kubernetes/admin.conf", b"admin", 0o600)
            .unwrap();
        let mut cfg = config::defaults::init_configuration();
        cfg.dry_run = true;

        let dry = dry_run_root(&root, node.path(), &cfg).unwrap();
        let dir = dry.base();
        assert_eq!(
            dir.parent(),
            Some(node.path().join("etc/kubernetes/tmp").as_path())
        );
        let name = dir.file_name().unwrap().to_string_lossy();
        assert!(name.starts_with("kubeboot-init-dryrun"), "{name}");
        assert_eq!(Root::new(dir).mode("/").unwrap(), 0o700);
        assert_eq!(dry.read("/etc/kubernetes/pki/ca.key").unwrap(), b"key");
        assert_eq!(dry.mode("/etc/kubernetes/pki/ca.key").unwrap(), 0o600);
        assert_eq!(dry.read("/etc/kubernetes/pki/ca.crt").unwrap(), b"cert");
        assert_eq!(dry.read("/etc/kubernetes/admin.conf").unwrap(), b"admin");
        assert!(
            !dry.exists("/etc/etcd/client.key"),
            "local etcd: nothing else copied"
        );
        let again = dry_run_root(&root, node.path(), &cfg).unwrap();
        assert_ne!(again.base(), dir, "each dry run gets its own directory");

        // External etcd: its client files come along, for upload-certs.
        let mut external = cfg.clone();
        external.cluster.etcd =
            crate::config::model::Etcd::External(crate::config::model::ExternalEtcd {
                endpoints: vec!["https://10.0.0.5:2379".into()],
                ca_file: String::new(),
                cert_file: String::new(),
                key_file: "/etc/etcd/client.key".into(),
            });
        let dry = dry_run_root(&root, node.path(), &external).unwrap();
        assert_eq!(dry.read("/etc/etcd/client.key").unwrap(), b"etcd key");

        // A sandbox root, and a real run, write where they are.
        let sandbox = dry_run_root(&root, Path::new("/"), &cfg).unwrap();
        assert_eq!(sandbox.base(), node.path());
        cfg.dry_run = false;
        assert_eq!(
            dry_run_root(&root, node.path(), &cfg).unwrap().base(),
            node.path()
        );
    }

    #[test]
    fn a_token_typed_as_a_phase_name_is_not_echoed() {
        let token = "abcdef.0123456789abcdef";
        for (name, sub) in [(token, None), ("certs", Some(token))] {
            let Err(err) = find_phase(name, sub) else {
                panic!("{name} {sub:?} found")
            };
            let err = err.to_string();
            assert!(err.contains("<redacted>") && !err.contains(token), "{err}");
        }
        assert!(find_phase("certs", Some("all")).is_ok_and(|p| p.name == "certs"));
    }

    #[test]
    fn the_closing_message_names_the_admin_conf_the_run_wrote() {
        let cfg = config::defaults::init_configuration();
        let (node, dry) = (
            Root::new("/"),
            Root::new("/etc/kubernetes/tmp/kubeboot-init-dryrun1"),
        );
        let host = preflight::RealHost::new(node.clone());
        let shown = |root: &Root| {
            admin_conf_shown(&InitContext {
                root,
                node: &node,
                cfg: &cfg,
                dry_run: true,
                host: &host,
                services: ServiceControl::Skip("test"),
                certificate_key: None,
                single_phase: false,
            })
        };
        assert_eq!(shown(&node), "/etc/kubernetes/admin.conf");
        assert_eq!(
            shown(&dry),
            "/etc/kubernetes/tmp/kubeboot-init-dryrun1/etc/kubernetes/admin.conf"
        );
    }

    #[test]
    fn skip_list_matches_phases_and_sub_phases() {
        let skip = SkipList::new(&["addon/kube-proxy".into(), "certs".into()], TABLE).unwrap();
        assert!(skip.skips("certs", None));
        assert!(skip.skips("certs", Some("ca")));
        assert!(skip.skips("addon", Some("kube-proxy")));
        assert!(!skip.skips("addon", Some("coredns")));
        assert!(!skip.skips("addon", None));
    }

    #[test]
    fn unknown_skip_entries_are_refused_with_the_known_names() {
        let e = SkipList::new(&["cert".into()], TABLE)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"cert\"") && e.contains("certs, addon"), "{e}");
        assert!(SkipList::new(&["addon/dns".into()], TABLE).is_err());
    }

    #[test]
    fn a_bad_entry_is_blamed_on_where_it_came_from() {
        let flag = SkipList::new(&["cert".into()], TABLE).unwrap_err();
        assert_eq!(flag.exit_code(), crate::ExitCode::Usage);
        assert!(flag.to_string().contains("--skip-phases"), "{flag}");
        let config = SkipList::from_config(&["cert".into()], TABLE).unwrap_err();
        assert_eq!(config.exit_code(), crate::ExitCode::Config);
        assert!(config.to_string().contains("field skipPhases"), "{config}");
    }

    #[test]
    fn every_kubeadm_init_phase_is_in_kubeadms_order() {
        let names: Vec<&str> = PHASES.iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "preflight",
                "certs",
                "kubeconfig",
                "etcd",
                "control-plane",
                "kubelet-start",
                "wait-control-plane",
                "upload-config",
                "upload-certs",
                "mark-control-plane",
                "bootstrap-token",
                "kubelet-finalize",
                "addon",
                "show-join-command"
            ]
        );
    }
}
