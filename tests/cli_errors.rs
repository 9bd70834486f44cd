//! Bad input through the binary, one case per test: each must end with the exit code the
//! README documents (2 usage, 3 configuration, 4 preflight), say on stderr which file, document
//! and field is wrong (or which check failed), and leave the root exactly as it was.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/cloud-init/init.yaml");
const TOKEN_SECRET: &str = "0123456789abcdef";
/// A failing command must fail fast; a hung one is killed and fails the test.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A fresh, empty root and a place for config files outside it.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir(dir.path().join("root")).expect("create root");
        Sandbox { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Writes a config file (outside the root) and returns its path.
    fn config(&self, text: &str) -> PathBuf {
        let path = self.dir.path().join("kubeadm.yaml");
        fs::write(&path, text).expect("write config");
        path
    }

    /// The example with `from` replaced by `to`; `from` must be in it.
    fn example_with(&self, from: &str, to: &str) -> PathBuf {
        let example = fs::read_to_string(EXAMPLE).expect("read the example");
        assert!(example.contains(from), "the example has no {from:?}");
        self.config(&example.replacen(from, to, 1))
    }

    /// `kubeboot <args> --root <root>`, bounded in time.
    fn run(&self, args: &[&str]) -> Run {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kubeboot"))
            .args(args)
            .arg("--root")
            .arg(self.root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kubeboot");
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        while child.try_wait().expect("wait for kubeboot").is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("kubeboot {args:?} did not finish within {COMMAND_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let out: Output = child.wait_with_output().expect("kubeboot output");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Every entry under the root, relative to it.
    fn tree(&self) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in fs::read_dir(dir).expect("read dir") {
                let path = entry.expect("dir entry").path();
                out.push(
                    path.strip_prefix(base)
                        .expect("under base")
                        .display()
                        .to_string(),
                );
                if path.is_dir() {
                    walk(base, &path, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root(), &self.root(), &mut out);
        out.sort();
        out
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The exit code is `code` and stderr has every one of `needles`.
    fn expect(&self, code: i32, needles: &[&str]) {
        assert_eq!(
            self.code,
            Some(code),
            "exit code; stderr:\n{}\nstdout:\n{}",
            self.stderr,
            self.stdout
        );
        for needle in needles {
            assert!(
                self.stderr.contains(needle),
                "stderr lacks {needle:?}:\n{}",
                self.stderr
            );
        }
    }
}

/// `init --config <config> --dry-run`, which must fail with `code` naming `needles` and leave
/// the root empty. (`--dry-run` only so that a config that wrongly passes cannot reach for a
/// control plane; validation is the same without it.)
fn init_fails(sb: &Sandbox, config: &Path, extra: &[&str], code: i32, needles: &[&str]) {
    let config = config.to_str().expect("UTF-8 path");
    let mut args = vec!["init", "--config", config, "--dry-run"];
    args.extend_from_slice(extra);
    let run = sb.run(&args);
    run.expect(code, needles);
    // The example's token secret is in the config: no error may echo it.
    assert!(!run.stderr.contains(TOKEN_SECRET), "{}", run.stderr);
    assert_eq!(sb.tree(), Vec::<String>::new(), "the root was written");
}

// ---- configuration (exit 3) ---------------------------------------------------------------------

#[test]
fn a_missing_config_file_is_named() {
    let sb = Sandbox::new();
    let missing = sb.dir.path().join("nosuch.yaml");
    let shown = missing.display().to_string();
    init_fails(
        &sb,
        &missing,
        &[],
        3,
        &[
            &format!("unable to read config from \"{shown}\""),
            "No such file",
        ],
    );
}

#[test]
fn invalid_yaml_is_located_by_file_document_and_line() {
    let sb = Sandbox::new();
    let config = sb.example_with(
        "kind: ClusterConfiguration\n",
        "kind: [ClusterConfiguration\n",
    );
    let shown = config.display().to_string();
    init_fails(
        &sb,
        &config,
        &[],
        3,
        &[
            &format!("invalid configuration in {shown}, document 2"),
            "not valid YAML",
            "line ",
        ],
    );
}

#[test]
fn an_unknown_field_is_named_with_the_fields_that_exist() {
    let sb = Sandbox::new();
    let config = sb.example_with(
        "  bindPort: 6443\n",
        "  bindPort: 6443\n  bindPorts: 6443\n",
    );
    init_fails(
        &sb,
        &config,
        &[],
        3,
        &[
            &format!("{}, document 1 (InitConfiguration)", config.display()),
            "field localAPIEndpoint.bindPorts",
            "unknown field \"bindPorts\"",
            "advertiseAddress, bindPort",
        ],
    );
}

#[test]
fn a_wrong_api_version_is_named_with_the_ones_kubeboot_reads() {
    let sb = Sandbox::new();
    let config = sb.example_with(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration",
        "apiVersion: kubeadm.k8s.io/v1beta9\nkind: ClusterConfiguration",
    );
    init_fails(
        &sb,
        &config,
        &[],
        3,
        &[
            &format!("{}, document 2 (ClusterConfiguration)", config.display()),
            "\"kubeadm.k8s.io/v1beta9\"",
            "kubeadm.k8s.io/v1beta4",
        ],
    );
}

#[test]
fn a_bad_cidr_is_named_with_its_field() {
    let sb = Sandbox::new();
    let config = sb.example_with("podSubnet: 10.244.0.0/16", "podSubnet: 10.244.0.0/33");
    init_fails(
        &sb,
        &config,
        &[],
        3,
        &[
            &format!("{}, document 2 (ClusterConfiguration)", config.display()),
            "field networking.podSubnet",
            "\"10.244.0.0/33\"",
        ],
    );
}

#[test]
fn a_bad_node_name_is_named_with_its_field() {
    let sb = Sandbox::new();
    let config = sb.example_with("  name: cp-0\n", "  name: cp_0\n");
    init_fails(
        &sb,
        &config,
        &[],
        3,
        &[
            &format!("{}, document 1 (InitConfiguration)", config.display()),
            "field nodeRegistration.name",
            "\"cp_0\"",
            "RFC 1123",
        ],
    );
}

#[test]
fn a_port_out_of_range_is_named_with_its_field() {
    let sb = Sandbox::new();
    let config = sb.example_with("bindPort: 6443", "bindPort: 70000");
    init_fails(
        &sb,
        &config,
        &[],
        3,
        &[
            &format!("{}, document 1 (InitConfiguration)", config.display()),
            "field localAPIEndpoint.bindPort",
            "70000",
        ],
    );
}

#[test]
fn an_invalid_token_is_refused_without_echoing_its_secret() {
    let sb = Sandbox::new();
    // An upper-case letter: the format is [a-z0-9]{6}.[a-z0-9]{16}.
    let secret = "s3cr3ts3cr3ts3cR";
    let config = sb.example_with("abcdef.0123456789abcdef", &format!("abcdef.{secret}"));
    let run = sb.run(&["init", "--config", config.to_str().unwrap(), "--dry-run"]);
    run.expect(
        3,
        &["field bootstrapTokens[0].token", "[a-z0-9]{6}.[a-z0-9]{16}"],
    );
    assert!(!run.stderr.contains(secret), "{}", run.stderr);
    assert_eq!(sb.tree(), Vec::<String>::new());
}

#[test]
fn config_mixed_with_a_disallowed_flag_is_kubeadms_error() {
    let sb = Sandbox::new();
    init_fails(
        &sb,
        Path::new(EXAMPLE),
        &["--pod-network-cidr", "10.0.0.0/16"],
        3,
        &["can not mix '--config' with arguments [pod-network-cidr]"],
    );
}

#[test]
fn an_unknown_skip_phases_entry_of_the_config_is_a_config_error() {
    let sb = Sandbox::new();
    let config = sb.example_with(
        "kind: InitConfiguration\n",
        "kind: InitConfiguration\nskipPhases: [preflight, nosuch]\n",
    );
    init_fails(
        &sb,
        &config,
        &["--ignore-preflight-errors=all"],
        3,
        &["field skipPhases", "unknown phase \"nosuch\""],
    );
}

// ---- command line (exit 2) ----------------------------------------------------------------------

#[test]
fn an_unknown_skip_phases_entry_is_named_with_the_phases_that_exist() {
    let sb = Sandbox::new();
    init_fails(
        &sb,
        Path::new(EXAMPLE),
        &[
            "--skip-phases",
            "addon/kube-proxy,nosuch",
            "--ignore-preflight-errors=all",
        ],
        2,
        &["unknown phase \"nosuch\"", "preflight, certs, kubeconfig"],
    );
}

#[test]
fn an_unknown_sub_phase_is_a_usage_error() {
    let sb = Sandbox::new();
    sb.run(&[
        "init",
        "phase",
        "certs",
        "nosuch",
        "--config",
        EXAMPLE,
        "--dry-run",
    ])
    .expect(
        2,
        &[
            "phase \"certs\" has no sub-phase \"nosuch\"",
            "all, ca, apiserver",
        ],
    );
    assert_eq!(sb.tree(), Vec::<String>::new());
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    let sb = Sandbox::new();
    sb.run(&["init", "--config", EXAMPLE, "--no-such-flag"])
        .expect(2, &["--no-such-flag"]);
    assert_eq!(sb.tree(), Vec::<String>::new());
}

#[test]
fn a_bad_flag_value_is_exit_2_on_stderr_with_the_commands_help_named() {
    let sb = Sandbox::new();
    let run = sb.run(&["join", "10.0.0.1:6443", "--tls-bootstrap=Kubelet"]);
    run.expect(
        2,
        &[
            "error: invalid value 'Kubelet' for '--tls-bootstrap",
            "kubeboot, kubelet",
            "try 'kubeboot join --help'",
        ],
    );
    assert_eq!(run.stdout, "");
    assert_eq!(sb.tree(), Vec::<String>::new());
}

#[test]
fn help_is_exit_0_on_stdout() {
    let sb = Sandbox::new();
    let run = sb.run(&["init", "phase", "--help"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout.contains("Usage: kubeboot init phase <PHASE>"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("--skip-phases <LIST>"),
        "{}",
        run.stdout
    );
    assert_eq!(run.stderr, "");
    assert_eq!(sb.tree(), Vec::<String>::new());
}

// ---- preflight (exit 4) ------------------------------------------------------------------------

/// `[ERROR <name>]` check names in kubeboot's preflight report.
fn preflight_errors(stderr: &str) -> Vec<String> {
    let mut names: Vec<String> = stderr
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("[ERROR "))
        .filter_map(|l| l.split_once(']').map(|(name, _)| name.to_string()))
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn an_existing_kube_apiserver_manifest_fails_preflight_by_its_check_name() {
    // Learn which checks this host fails anyway (no container runtime, no kubelet, ...) on an
    // empty root, so that only the planted file can fail the run below.
    let probe = Sandbox::new();
    let run = probe.run(&["init", "phase", "preflight", "--config", EXAMPLE]);
    assert!(
        matches!(run.code, Some(0 | 4)),
        "preflight probe: {:?}\n{}",
        run.code,
        run.stderr
    );
    let host_errors = preflight_errors(&run.stderr);
    let check = "FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml";
    assert!(!host_errors.iter().any(|n| n == check), "{}", run.stderr);

    let sb = Sandbox::new();
    let manifest = sb
        .root()
        .join("etc/kubernetes/manifests/kube-apiserver.yaml");
    fs::create_dir_all(manifest.parent().unwrap()).unwrap();
    fs::write(&manifest, "left by an earlier run\n").unwrap();
    let before = sb.tree();
    let ignore = format!("--ignore-preflight-errors={}", host_errors.join(","));
    let mut args = vec!["init", "--config", EXAMPLE, "--dry-run"];
    if !host_errors.is_empty() {
        args.push(&ignore);
    }
    let run = sb.run(&args);
    run.expect(
        4,
        &[
            &format!(
                "[ERROR {check}]: /etc/kubernetes/manifests/kube-apiserver.yaml already exists"
            ),
            "--ignore-preflight-errors",
        ],
    );
    assert_eq!(preflight_errors(&run.stderr), [check], "{}", run.stderr);
    assert_eq!(sb.tree(), before, "preflight wrote under the root");
    assert_eq!(
        fs::read_to_string(&manifest).unwrap(),
        "left by an earlier run\n"
    );
}

// ---- version ------------------------------------------------------------------------------------

#[test]
fn version_prints_the_crate_version() {
    let sb = Sandbox::new();
    let run = sb.run(&["version"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        run.stdout,
        format!("kubeboot version {}\n", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(sb.tree(), Vec::<String>::new());
}
