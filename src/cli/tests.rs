use super::*;

#[test]
fn debug_output_holds_no_secret() {
    const SECRET: &str = "0123456789abcdef";
    let key = "ab".repeat(32);
    let token = format!("abcdef.{SECRET}");
    let init = Cli::try_parse_from([
        "kubeboot",
        "init",
        "--token",
        &token,
        "--certificate-key",
        &key,
    ])
    .unwrap();
    let phase = Cli::try_parse_from([
        "kubeboot",
        "init",
        "phase",
        "upload-certs",
        "--certificate-key",
        &key,
    ])
    .unwrap();
    let join = Cli::try_parse_from([
        "kubeboot",
        "join",
        "10.0.0.1:6443",
        "--token",
        &token,
        "--discovery-token",
        &token,
        "--tls-bootstrap-token",
        &token,
        "--certificate-key",
        &key,
        "--discovery-file",
        "https://h/d.yaml?sig=s3cr3tsig",
    ])
    .unwrap();
    let boot = Cli::try_parse_from([
        "kubeboot",
        "boot",
        "--user-data",
        "https://u:s3cr3tpass@h/ud?sig=s3cr3tsig",
    ])
    .unwrap();
    for cli in [init, phase, join, boot] {
        let text = format!("{cli:?}");
        for secret in [SECRET, key.as_str(), "s3cr3t"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(
            text.contains("<redacted>") || text.contains("Some(\"https://h/ud?<redacted>\")"),
            "{text}"
        );
    }
}

#[test]
fn kubeadm_flag_forms_parse() {
    let cli = Cli::try_parse_from([
        "kubeboot",
        "init",
        "--config=c.yaml",
        "--skip-phases",
        "addon/kube-proxy,preflight",
        "--root",
        "/tmp/r",
        "-v",
        "5",
        "--dry-run",
    ])
    .unwrap();
    assert_eq!(cli.global.root, PathBuf::from("/tmp/r"));
    assert_eq!(cli.global.verbosity, 5);
    let Command::Init(init) = cli.command else {
        panic!("not init")
    };
    assert_eq!(init.args.skip_phases, vec!["addon/kube-proxy", "preflight"]);
    assert!(init.args.dry_run);

    let cli = Cli::try_parse_from([
        "kubeboot",
        "init",
        "phase",
        "certs",
        "apiserver",
        "--root=/r",
    ])
    .unwrap();
    let Command::Init(init) = cli.command else {
        panic!("not init")
    };
    let Some(InitSub::Phase(p)) = init.phase else {
        panic!("not a phase")
    };
    assert_eq!(
        (p.phase.as_str(), p.sub_phase.as_deref()),
        ("certs", Some("apiserver"))
    );

    let cli = Cli::try_parse_from([
        "kubeboot",
        "join",
        "10.0.0.1:6443",
        "--token",
        "abcdef.0123456789abcdef",
        "--discovery-token-ca-cert-hash",
        "sha256:aa",
        "--discovery-token-ca-cert-hash=sha256:bb",
    ])
    .unwrap();
    let Command::Join(j) = cli.command else {
        panic!("not join")
    };
    assert_eq!(j.api_server_endpoint.as_deref(), Some("10.0.0.1:6443"));
    assert_eq!(
        j.discovery_token_ca_cert_hash,
        vec!["sha256:aa", "sha256:bb"]
    );
}

// ---- the command line as scripts see it -------------------------------------------------------
//
// These pin the behaviour of the command line through `Cli::try_parse_from`, one table per
// command, so that a change of parser cannot change what a script gets. Where kubeadm (cobra and
// pflag) and the old parser differed, the tests follow kubeadm and say so.

use std::ffi::OsString;

/// What a caller of the binary sees for one command line.
enum Outcome {
    Parsed(Cli),
    /// Text for stdout, exit code 0 (`--help`, `--version`).
    Printed(String),
    /// A usage error for stderr, exit code 2.
    Usage(String),
}

fn outcome_os(args: Vec<OsString>) -> Outcome {
    let argv = std::iter::once(OsString::from("kubeboot")).chain(args);
    match Cli::try_parse_from(argv) {
        Ok(cli) => Outcome::Parsed(cli),
        Err(e) => match e.exit_code() as i32 {
            0 => Outcome::Printed(e.to_string()),
            2 => Outcome::Usage(e.to_string()),
            other => panic!("exit code {other} for a command-line error: {e}"),
        },
    }
}

fn outcome(args: &[&str]) -> Outcome {
    outcome_os(args.iter().map(OsString::from).collect())
}

fn parsed(args: &[&str]) -> Cli {
    match outcome(args) {
        Outcome::Parsed(cli) => cli,
        Outcome::Printed(text) => panic!("{args:?} printed instead of parsing:\n{text}"),
        Outcome::Usage(text) => panic!("{args:?} is a usage error:\n{text}"),
    }
}

/// The usage error `args` must give; it names `needle`, starts with `error:` and points to
/// `--help`.
fn usage_error(args: &[&str], needle: &str) -> String {
    match outcome(args) {
        Outcome::Usage(text) => {
            assert!(text.starts_with("error: "), "{args:?}: {text}");
            assert!(text.contains(needle), "{args:?} lacks {needle:?}: {text}");
            assert!(text.contains("--help"), "{args:?} gives no hint: {text}");
            text
        }
        Outcome::Parsed(cli) => panic!("{args:?} parsed: {cli:?}"),
        Outcome::Printed(text) => panic!("{args:?} printed:\n{text}"),
    }
}

fn printed(args: &[&str]) -> String {
    match outcome(args) {
        Outcome::Printed(text) => text,
        Outcome::Parsed(cli) => panic!("{args:?} parsed: {cli:?}"),
        Outcome::Usage(text) => panic!("{args:?} is a usage error:\n{text}"),
    }
}

fn init_command(args: &[&str]) -> InitCommand {
    let mut argv = vec!["init"];
    argv.extend_from_slice(args);
    match parsed(&argv).command {
        Command::Init(init) => *init,
        other => panic!("{argv:?} is not init: {other:?}"),
    }
}

fn init_args(args: &[&str]) -> InitArgs {
    let init = init_command(args);
    assert!(init.phase.is_none(), "{args:?}: {:?}", init.phase);
    init.args
}

fn phase_args(args: &[&str]) -> PhaseArgs {
    let mut argv = vec!["phase"];
    argv.extend_from_slice(args);
    match init_command(&argv).phase {
        Some(InitSub::Phase(phase)) => phase,
        None => panic!("{argv:?} is not a phase"),
    }
}

fn join_args(args: &[&str]) -> JoinArgs {
    let mut argv = vec!["join"];
    argv.extend_from_slice(args);
    match parsed(&argv).command {
        Command::Join(join) => *join,
        other => panic!("{argv:?} is not join: {other:?}"),
    }
}

fn boot_args(args: &[&str]) -> BootArgs {
    let mut argv = vec!["boot"];
    argv.extend_from_slice(args);
    match parsed(&argv).command {
        Command::Boot(boot) => boot,
        other => panic!("{argv:?} is not boot: {other:?}"),
    }
}

type InitParser = fn(&[&str]) -> InitArgs;
type InitText = for<'a> fn(&'a InitArgs) -> Option<&'a str>;
type InitList = for<'a> fn(&'a InitArgs) -> &'a [String];
type InitBool = fn(&InitArgs) -> bool;
type JoinText = for<'a> fn(&'a JoinArgs) -> Option<&'a str>;
type JoinList = for<'a> fn(&'a JoinArgs) -> &'a [String];
type JoinBool = fn(&JoinArgs) -> bool;

const INIT_TEXT: &[(&str, InitText)] = &[
    ("--config", |a| a.config.as_deref().and_then(|p| p.to_str())),
    ("--node-name", |a| a.node_name.as_deref()),
    ("--apiserver-advertise-address", |a| {
        a.apiserver_advertise_address.as_deref()
    }),
    ("--control-plane-endpoint", |a| {
        a.control_plane_endpoint.as_deref()
    }),
    ("--service-cidr", |a| a.service_cidr.as_deref()),
    ("--pod-network-cidr", |a| a.pod_network_cidr.as_deref()),
    ("--service-dns-domain", |a| a.service_dns_domain.as_deref()),
    ("--cert-dir", |a| a.cert_dir.as_deref()),
    ("--kubernetes-version", |a| a.kubernetes_version.as_deref()),
    ("--image-repository", |a| a.image_repository.as_deref()),
    ("--cri-socket", |a| a.cri_socket.as_deref()),
    ("--token", |a| a.token.as_deref()),
    ("--token-ttl", |a| a.token_ttl.as_deref()),
    ("--certificate-key", |a| a.certificate_key.as_deref()),
];

const INIT_LISTS: &[(&str, InitList)] = &[
    ("--apiserver-cert-extra-sans", |a| {
        &a.apiserver_cert_extra_sans
    }),
    ("--skip-phases", |a| &a.skip_phases),
    ("--ignore-preflight-errors", |a| &a.ignore_preflight_errors),
];

const INIT_BOOLS: &[(&str, InitBool)] = &[
    ("--upload-certs", |a| a.upload_certs),
    ("--dry-run", |a| a.dry_run),
];

const JOIN_TEXT: &[(&str, JoinText)] = &[
    ("--config", |a| a.config.as_deref().and_then(|p| p.to_str())),
    ("--token", |a| a.token.as_deref()),
    ("--discovery-token", |a| a.discovery_token.as_deref()),
    ("--tls-bootstrap-token", |a| {
        a.tls_bootstrap_token.as_deref()
    }),
    ("--discovery-file", |a| a.discovery_file.as_deref()),
    ("--node-name", |a| a.node_name.as_deref()),
    ("--cri-socket", |a| a.cri_socket.as_deref()),
    ("--certificate-key", |a| a.certificate_key.as_deref()),
    ("--apiserver-advertise-address", |a| {
        a.apiserver_advertise_address.as_deref()
    }),
];

const JOIN_LISTS: &[(&str, JoinList)] = &[
    ("--discovery-token-ca-cert-hash", |a| {
        &a.discovery_token_ca_cert_hash
    }),
    ("--skip-phases", |a| &a.skip_phases),
    ("--ignore-preflight-errors", |a| &a.ignore_preflight_errors),
];

const JOIN_BOOLS: &[(&str, JoinBool)] = &[
    ("--discovery-token-unsafe-skip-ca-verification", |a| {
        a.discovery_token_unsafe_skip_ca_verification
    }),
    ("--control-plane", |a| a.control_plane),
    ("--dry-run", |a| a.dry_run),
];

/// `--flag value` and `--flag=value`, on `init` and on `init phase <name>` alike.
#[test]
fn every_init_flag_takes_its_value_in_both_forms() {
    let parsers: [(&str, InitParser); 2] = [
        ("init", init_args),
        ("init phase certs", |args| {
            let mut argv = vec!["certs"];
            argv.extend_from_slice(args);
            phase_args(&argv).args
        }),
    ];
    for (command, parse) in parsers {
        for (flag, get) in INIT_TEXT {
            let spaced = parse(&[flag, "v-1"]);
            assert_eq!(get(&spaced), Some("v-1"), "{command} {flag} v-1");
            let joined = parse(&[&format!("{flag}=v=2")]);
            assert_eq!(get(&joined), Some("v=2"), "{command} {flag}=v=2");
            assert_eq!(get(&parse(&[])), None, "{command} without {flag}");
        }
        for (flag, get) in INIT_BOOLS {
            assert!(get(&parse(&[flag])), "{command} {flag}");
            assert!(!get(&parse(&[])), "{command} without {flag}");
        }
        for (flag, get) in INIT_LISTS {
            let args = parse(&[flag, "a,b", &format!("{flag}=c")]);
            assert_eq!(get(&args), ["a", "b", "c"], "{command} {flag}");
            assert!(get(&parse(&[])).is_empty(), "{command} without {flag}");
        }
        let port = parse(&["--apiserver-bind-port", "6444"]);
        assert_eq!(port.apiserver_bind_port, Some(6444), "{command}");
        let port = parse(&["--apiserver-bind-port=0"]);
        assert_eq!(port.apiserver_bind_port, Some(0), "{command}");
        assert_eq!(parse(&[]).apiserver_bind_port, None, "{command}");
    }
}

#[test]
fn every_join_flag_takes_its_value_in_both_forms() {
    for (flag, get) in JOIN_TEXT {
        assert_eq!(get(&join_args(&[flag, "v-1"])), Some("v-1"), "{flag} v-1");
        let joined = join_args(&[&format!("{flag}=v=2")]);
        assert_eq!(get(&joined), Some("v=2"), "{flag}=v=2");
        assert_eq!(get(&join_args(&[])), None, "without {flag}");
    }
    for (flag, get) in JOIN_BOOLS {
        assert!(get(&join_args(&[flag])), "{flag}");
        assert!(!get(&join_args(&[])), "without {flag}");
    }
    for (flag, get) in JOIN_LISTS {
        let args = join_args(&[flag, "a,b", &format!("{flag}=c")]);
        assert_eq!(get(&args), ["a", "b", "c"], "{flag}");
        assert!(get(&join_args(&[])).is_empty(), "without {flag}");
    }
    let port = join_args(&["--apiserver-bind-port", "6444"]);
    assert_eq!(port.apiserver_bind_port, Some(6444));
    assert_eq!(
        join_args(&["--apiserver-bind-port=65535"]).apiserver_bind_port,
        Some(65535)
    );
    assert_eq!(join_args(&[]).apiserver_bind_port, None);
}

#[test]
fn every_boot_flag_takes_its_value_in_both_forms() {
    let boot = boot_args(&[
        "--datasource",
        "nocloud",
        "--user-data=https://h/ud?a=b",
        "--ignore-preflight-errors",
        "Swap,NumCPU",
        "--ignore-preflight-errors=Mem",
        "--dry-run",
    ]);
    assert_eq!(boot.datasource.as_deref(), Some("nocloud"));
    assert_eq!(boot.user_data.as_deref(), Some("https://h/ud?a=b"));
    assert_eq!(boot.ignore_preflight_errors, ["Swap", "NumCPU", "Mem"]);
    assert!(boot.dry_run);
    let boot = boot_args(&["--datasource=local", "--user-data", "/u"]);
    assert_eq!(boot.datasource.as_deref(), Some("local"));
    assert_eq!(boot.user_data.as_deref(), Some("/u"));
    let boot = boot_args(&[]);
    assert_eq!(
        (boot.datasource, boot.user_data, boot.dry_run),
        (None, None, false)
    );
    assert!(boot.ignore_preflight_errors.is_empty());
}

#[test]
fn version_command_parses_alone() {
    assert!(matches!(parsed(&["version"]).command, Command::Version));
    usage_error(&["version", "extra"], "extra");
    usage_error(&["version", "--dry-run"], "--dry-run");
}

#[test]
fn global_flags_default_to_the_real_root_and_verbosity_zero() {
    let cli = parsed(&["version"]);
    assert_eq!(cli.global.root, PathBuf::from("/"));
    assert_eq!(cli.global.verbosity, 0);
}

/// `--root` and `-v`/`--v` work before and after the command, in every form pflag accepts.
#[test]
fn global_flags_are_accepted_before_and_after_the_command() {
    let cases: &[(&[&str], &str, u8)] = &[
        (&["--root", "/r", "init"], "/r", 0),
        (&["--root=/r", "init"], "/r", 0),
        (&["init", "--root", "/r"], "/r", 0),
        (&["init", "--root=/r"], "/r", 0),
        (&["-v", "5", "init"], "/", 5),
        (&["init", "-v", "5"], "/", 5),
        (&["init", "-v5"], "/", 5),
        (&["init", "-v=5"], "/", 5),
        (&["--v=3", "init"], "/", 3),
        (&["init", "--v", "3"], "/", 3),
        (&["init", "--v=3"], "/", 3),
        (&["init", "--v=255"], "/", 255),
        (
            &["-v", "1", "--root", "/a", "init", "--v=2", "--root=/b"],
            "/b",
            2,
        ),
        (
            &["join", "10.0.0.1:6443", "--root", "/j", "-v", "4"],
            "/j",
            4,
        ),
        (&["boot", "--root", "/b", "-v", "2"], "/b", 2),
        (&["version", "--root", "/x", "--v=9"], "/x", 9),
        (
            &["init", "phase", "certs", "ca", "--root", "/p", "-v", "6"],
            "/p",
            6,
        ),
    ];
    for (args, root, verbosity) in cases {
        let cli = parsed(args);
        assert_eq!(cli.global.root, PathBuf::from(root), "{args:?}");
        assert_eq!(cli.global.verbosity, *verbosity, "{args:?}");
    }
}

#[test]
fn bad_verbosity_is_a_usage_error() {
    for (args, needle) in [
        (&["-v", "x", "version"][..], "'x'"),
        (&["-v", "256", "version"], "256"),
        (&["--v=-1", "version"], "-1"),
        (&["-vv", "version"], "'v'"),
        (&["init", "--v"], "--v"),
    ] {
        usage_error(args, needle);
    }
}

#[test]
fn an_empty_root_is_a_usage_error() {
    usage_error(&["--root=", "version"], "--root");
    usage_error(&["init", "--root"], "--root");
}

#[test]
fn init_phase_takes_a_phase_an_optional_sub_phase_and_init_flags() {
    let p = phase_args(&["certs", "apiserver", "--config", "c.yaml", "--dry-run"]);
    assert_eq!(p.phase, "certs");
    assert_eq!(p.sub_phase.as_deref(), Some("apiserver"));
    assert_eq!(p.args.config, Some(PathBuf::from("c.yaml")));
    assert!(p.args.dry_run);

    let p = phase_args(&["certs"]);
    assert_eq!((p.phase.as_str(), p.sub_phase), ("certs", None));

    // Positionals and flags in any order.
    let p = phase_args(&["--dry-run", "kubeconfig", "--node-name=n", "admin"]);
    assert_eq!(p.phase, "kubeconfig");
    assert_eq!(p.sub_phase.as_deref(), Some("admin"));
    assert_eq!(p.args.node_name.as_deref(), Some("n"));
    assert!(p.args.dry_run);

    // After `--`, a word that looks like a flag is the sub-phase (validated later, by init).
    let p = phase_args(&["certs", "--", "--x"]);
    assert_eq!(p.sub_phase.as_deref(), Some("--x"));
}

#[test]
fn init_phase_errors_are_usage_errors() {
    usage_error(&["init", "phase"], "PHASE");
    usage_error(&["init", "phase", "certs", "all", "extra"], "extra");
    usage_error(&["init", "phase", "certs", "--foo"], "--foo");
}

/// Global flags before `phase` are kubeadm's persistent flags: accepted (the old parser refused
/// them). Init flags before `phase` stay refused: they would be silently ignored otherwise.
#[test]
fn global_flags_may_precede_init_phase() {
    for args in [
        &["init", "--root", "/r", "phase", "certs"][..],
        &["init", "-v5", "phase", "certs"],
    ] {
        let cli = parsed(args);
        let Command::Init(init) = cli.command else {
            panic!("{args:?} is not init")
        };
        assert!(matches!(init.phase, Some(InitSub::Phase(_))), "{args:?}");
    }
    usage_error(&["init", "--config", "a", "phase", "certs"], "phase");
    usage_error(&["init", "--dry-run", "phase", "certs"], "phase");
    usage_error(&["init", "--skip-phases=x", "phase", "certs"], "phase");
}

#[test]
fn init_takes_no_positional_but_phase() {
    usage_error(&["init", "foo"], "foo");
    usage_error(&["init", "--dry-run", "foo"], "foo");
}

#[test]
fn join_endpoint_may_stand_anywhere_among_flags() {
    for args in [
        &["10.0.0.1:6443", "--token", "t", "--dry-run"][..],
        &["--token", "t", "10.0.0.1:6443", "--dry-run"],
        &["--token=t", "--dry-run", "10.0.0.1:6443"],
        &["--dry-run", "--", "10.0.0.1:6443"],
    ] {
        let join = join_args(args);
        assert_eq!(
            join.api_server_endpoint.as_deref(),
            Some("10.0.0.1:6443"),
            "{args:?}"
        );
        assert!(join.dry_run, "{args:?}");
    }
    assert_eq!(join_args(&["--dry-run"]).api_server_endpoint, None);
    usage_error(&["join", "a:1", "b:2"], "b:2");
}

#[test]
fn tls_bootstrap_is_kubeboot_unless_told_kubelet() {
    assert_eq!(join_args(&[]).tls_bootstrap, TlsBootstrapMode::Kubeboot);
    for (args, mode) in [
        (
            &["--tls-bootstrap", "kubelet"][..],
            TlsBootstrapMode::Kubelet,
        ),
        (&["--tls-bootstrap=kubelet"], TlsBootstrapMode::Kubelet),
        (&["--tls-bootstrap", "kubeboot"], TlsBootstrapMode::Kubeboot),
        (&["--tls-bootstrap=kubeboot"], TlsBootstrapMode::Kubeboot),
    ] {
        assert_eq!(join_args(args).tls_bootstrap, mode, "{args:?}");
    }
    for bad in ["bad", "Kubelet", ""] {
        let text = usage_error(
            &["join", &format!("--tls-bootstrap={bad}")],
            "--tls-bootstrap",
        );
        assert!(
            text.contains("kubeboot") && text.contains("kubelet"),
            "{text}"
        );
    }
}

#[test]
fn a_bad_port_is_a_usage_error() {
    for command in [&["init"][..], &["join"], &["init", "phase", "certs"]] {
        for bad in ["x", "70000", "65536", "-1", "6443x", ""] {
            let mut args = command.to_vec();
            let flag = format!("--apiserver-bind-port={bad}");
            args.push(&flag);
            usage_error(&args, "--apiserver-bind-port");
        }
    }
}

#[test]
fn a_secret_typed_where_no_value_belongs_is_not_echoed() {
    let token = "abcdef.0123456789abcdef";
    let key = "ab".repeat(32);
    for args in [
        vec!["join", "10.0.0.1:6443", token],
        vec!["join", "10.0.0.1:6443", "--token", token, key.as_str()],
        vec![token],
        vec!["init", "--dry-run", key.as_str()],
    ] {
        let text = usage_error(&args, "<redacted>");
        assert!(!text.contains("0123456789abcdef"), "{text}");
        assert!(!text.contains(key.as_str()), "{text}");
    }
}

#[test]
fn unknown_flags_missing_values_and_stray_words_are_usage_errors() {
    for (args, needle) in [
        (&["init", "--no-such-flag"][..], "--no-such-flag"),
        (&["init", "--no-such-flag=1"], "--no-such-flag"),
        (&["join", "--no-such-flag"], "--no-such-flag"),
        (&["boot", "--no-such-flag"], "--no-such-flag"),
        (&["-x"], "-x"),
        (&["--no-such-flag", "init"], "--no-such-flag"),
        (&["init", "--config"], "--config"),
        (&["init", "--token"], "--token"),
        (&["join", "--token"], "--token"),
        (&["boot", "--datasource"], "--datasource"),
        (&["init", "--skip-phases"], "--skip-phases"),
        // A flag where its value should be: the value is missing (pflag would take the flag as
        // the value; a token that reads `--dry-run` is never what was meant).
        (&["init", "--token", "--dry-run"], "--token"),
        (&["join", "--config", "-x"], "-x"),
        (&["nosuch"], "nosuch"),
        (&["help"], "help"),
        (&["boot", "stray"], "stray"),
        // Booleans take no separate value.
        (&["init", "--dry-run", "true"], "true"),
        (&["init", "--help=true"], "--help"),
    ] {
        usage_error(args, needle);
    }
}

/// Single-valued flags given twice are refused rather than one silently winning (pflag keeps
/// the last; the old parser refused, and a script that gives `--config` twice has a bug).
#[test]
fn a_single_valued_flag_given_twice_is_a_usage_error() {
    usage_error(&["init", "--config", "a", "--config=b"], "--config");
    usage_error(&["join", "--token", "a", "--token", "b"], "--token");
    usage_error(&["init", "--dry-run", "--dry-run"], "--dry-run");
}

#[test]
fn no_command_is_a_usage_error_that_lists_the_commands() {
    for args in [&[][..], &["--root", "/r"]] {
        let Outcome::Usage(text) = outcome(args) else {
            panic!("{args:?} did not fail as usage")
        };
        for command in ["boot", "init", "join", "version"] {
            assert!(text.contains(command), "{args:?}: {text}");
        }
    }
}

#[test]
fn non_utf8_arguments_are_usage_errors() {
    use std::os::unix::ffi::OsStringExt;
    let bad = || OsString::from_vec(vec![b'n', 0xff]);
    for args in [
        vec![OsString::from("init"), OsString::from("--node-name"), bad()],
        vec![OsString::from("join"), bad()],
        vec![OsString::from("init"), bad()],
        vec![bad()],
    ] {
        assert!(
            matches!(outcome_os(args.clone()), Outcome::Usage(_)),
            "{args:?}"
        );
    }
}

#[test]
fn help_goes_to_stdout_and_lists_every_flag_of_its_command() {
    let init_flags: Vec<&str> = INIT_TEXT
        .iter()
        .map(|(f, _)| *f)
        .chain(INIT_LISTS.iter().map(|(f, _)| *f))
        .chain(INIT_BOOLS.iter().map(|(f, _)| *f))
        .chain(["--apiserver-bind-port"])
        .collect();
    let join_flags: Vec<&str> = JOIN_TEXT
        .iter()
        .map(|(f, _)| *f)
        .chain(JOIN_LISTS.iter().map(|(f, _)| *f))
        .chain(JOIN_BOOLS.iter().map(|(f, _)| *f))
        .chain(["--apiserver-bind-port", "--tls-bootstrap"])
        .collect();
    let boot_flags = [
        "--datasource",
        "--user-data",
        "--ignore-preflight-errors",
        "--dry-run",
    ];
    let global = ["--root", "--v"];
    let cases: &[(&[&str], &str, &[&str])] = &[
        (&["init"], "Usage: kubeboot init", &init_flags),
        (
            &["init", "phase"],
            "Usage: kubeboot init phase",
            &init_flags,
        ),
        (
            &["init", "phase", "certs"],
            "Usage: kubeboot init phase",
            &init_flags,
        ),
        (&["join"], "Usage: kubeboot join", &join_flags),
        (&["boot"], "Usage: kubeboot boot", &boot_flags),
        (&["version"], "Usage: kubeboot version", &[]),
        (&[], "Usage: kubeboot", &["boot", "init", "join", "version"]),
    ];
    for (command, usage, needles) in cases {
        for help in ["--help", "-h"] {
            let mut args = command.to_vec();
            args.push(help);
            let text = printed(&args);
            assert!(text.contains(usage), "{args:?}:\n{text}");
            for needle in needles.iter().chain(&global) {
                assert!(text.contains(needle), "{args:?} lacks {needle}:\n{text}");
            }
        }
    }
    assert!(printed(&["init", "--help"]).contains("phase"));
    // `--help` wins over everything else on the line, as in kubeadm.
    assert!(printed(&["init", "--config", "x", "--help"]).contains("Usage: kubeboot init"));
}

#[test]
fn version_flag_prints_name_and_version() {
    let expected = format!("kubeboot {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(printed(&["--version"]), expected);
    assert_eq!(printed(&["-V"]), expected);
}

/// pflag's `--flag=true|false` for booleans, as kubeadm accepts (`--dry-run=true`). The old
/// parser refused it.
#[test]
fn boolean_flags_take_pflag_true_and_false() {
    for (flag, get) in INIT_BOOLS {
        assert!(get(&init_args(&[&format!("{flag}=true")])), "{flag}=true");
        assert!(
            !get(&init_args(&[&format!("{flag}=false")])),
            "{flag}=false"
        );
    }
    for (flag, get) in JOIN_BOOLS {
        assert!(get(&join_args(&[&format!("{flag}=true")])), "{flag}=true");
        assert!(
            !get(&join_args(&[&format!("{flag}=false")])),
            "{flag}=false"
        );
    }
    assert!(boot_args(&["--dry-run=true"]).dry_run);
    assert!(!boot_args(&["--dry-run=false"]).dry_run);
    // Go's strconv.ParseBool spellings, which pflag takes.
    for yes in ["1", "t", "T", "TRUE", "True"] {
        assert!(boot_args(&[&format!("--dry-run={yes}")]).dry_run, "{yes}");
    }
    for no in ["0", "f", "F", "FALSE", "False"] {
        assert!(!boot_args(&[&format!("--dry-run={no}")]).dry_run, "{no}");
    }
    usage_error(&["init", "--dry-run=yes"], "--dry-run");
}
