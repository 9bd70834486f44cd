//! `--help` text, generated from the flag tables in `flags`.

use std::fmt::Write;

use super::flags::{self, Flag, Slot};

/// A command whose help can be asked for, and which usage errors point to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Topic {
    Top,
    Boot,
    Init,
    Phase,
    Join,
    Version,
}

/// The commands `kubeboot --help` lists, with their one-line descriptions.
const COMMANDS: &[(&str, Topic)] = &[
    ("boot", Topic::Boot),
    ("init", Topic::Init),
    ("join", Topic::Join),
    ("version", Topic::Version),
];

/// `boot, init, join, version`, for the error when no command is given.
pub(super) fn command_names() -> String {
    let names: Vec<&str> = COMMANDS.iter().map(|(name, _)| *name).collect();
    names.join(", ")
}

impl Topic {
    /// The command line that names this command: `kubeboot init phase`.
    pub fn command(self) -> &'static str {
        match self {
            Topic::Top => "kubeboot",
            Topic::Boot => "kubeboot boot",
            Topic::Init => "kubeboot init",
            Topic::Phase => "kubeboot init phase",
            Topic::Join => "kubeboot join",
            Topic::Version => "kubeboot version",
        }
    }

    fn about(self) -> &'static str {
        match self {
            Topic::Top => {
                "First-boot Kubernetes node agent: kubeadm init/join from user-data, in one static binary"
            }
            Topic::Boot => {
                "Find this machine's user-data, decide init or join, run it once and report (first boot)"
            }
            Topic::Init => "Initialise a Kubernetes control-plane node, as `kubeadm init`",
            Topic::Phase => "Run one phase of init: `init phase <phase> [all|<sub-phase>]`",
            Topic::Join => "Join this node to a cluster, as `kubeadm join`",
            Topic::Version => "Print the version of kubeboot",
        }
    }

    /// What follows the command name in its usage lines.
    fn usage(self) -> &'static [&'static str] {
        match self {
            Topic::Top => &["[OPTIONS] <COMMAND>"],
            Topic::Init => &["[OPTIONS]", "phase <PHASE> [SUB_PHASE] [OPTIONS]"],
            Topic::Phase => &["<PHASE> [SUB_PHASE] [OPTIONS]"],
            Topic::Join => &["[API_SERVER_ENDPOINT] [OPTIONS]"],
            Topic::Boot | Topic::Version => &["[OPTIONS]"],
        }
    }

    fn arguments(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Topic::Phase => &[
                (
                    "<PHASE>",
                    "Phase name (preflight, certs, kubeconfig, etcd, control-plane, kubelet-start, ...)",
                ),
                ("[SUB_PHASE]", "Sub-phase name, or `all` (the default)"),
            ],
            Topic::Join => &[(
                "[API_SERVER_ENDPOINT]",
                "host:port of the API server to discover the cluster from",
            )],
            _ => &[],
        }
    }
}

pub(super) fn help(topic: Topic) -> String {
    let mut out = format!("{}\n\n", topic.about());
    for (i, args) in topic.usage().iter().enumerate() {
        let lead = if i == 0 { "Usage:" } else { "      " };
        let _ = writeln!(out, "{lead} {} {args}", topic.command());
    }
    let commands: &[(&str, Topic)] = match topic {
        Topic::Top => COMMANDS,
        Topic::Init => &[("phase", Topic::Phase)],
        _ => &[],
    };
    if !commands.is_empty() {
        out.push_str("\nCommands:\n");
        for (name, sub) in commands {
            let _ = writeln!(out, "  {name:<8} {}", sub.about());
        }
    }
    if !topic.arguments().is_empty() {
        out.push_str("\nArguments:\n");
        for (name, about) in topic.arguments() {
            let _ = writeln!(out, "  {name}\n          {about}");
        }
    }
    let own = match topic {
        Topic::Boot => describe(flags::BOOT),
        Topic::Init | Topic::Phase => describe(flags::INIT),
        Topic::Join => describe(flags::JOIN),
        Topic::Top | Topic::Version => String::new(),
    };
    if !own.is_empty() {
        let _ = write!(out, "\nOptions:\n{own}");
    }
    let _ = write!(
        out,
        "\nGlobal options:\n{}  -h, --help\n          Print help\n",
        describe(flags::GLOBAL)
    );
    if topic == Topic::Top {
        out.push_str("  -V, --version\n          Print version\n");
    }
    if !own.is_empty() {
        out.push_str(
            "\nSwitches also take pflag's --switch=true and --switch=false; list flags take\ncomma-separated values and may be repeated.\n",
        );
    }
    out
}

/// Two lines per flag: the flag with its value, then what it does.
fn describe<T>(flags: &[Flag<T>]) -> String {
    let mut out = String::new();
    for flag in flags {
        let short = flag.short.map(|c| format!("-{c}, ")).unwrap_or_default();
        let _ = writeln!(out, "  {short:>4}{}", flag.with_value());
        let _ = write!(out, "          {}", flag.help);
        if let Slot::TlsBootstrap(_) = flag.slot {
            let _ = write!(out, " [possible values: {}]", flags::tls_bootstrap_names());
        }
        out.push('\n');
    }
    out
}
