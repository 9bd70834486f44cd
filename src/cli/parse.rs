//! Reads argv with lexopt against the tables in `flags`: lexopt splits the words (`--flag=value`,
//! `-v5`, `--`), the tables say what each flag means.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use lexopt::{Arg, Parser};

use super::flags::{self, Flag, Slot};
use super::help::{self, Topic};
use super::{
    BootArgs, Cli, CliError, Command, GlobalFlags, InitArgs, InitCommand, InitSub, JoinArgs,
    PhaseArgs,
};

/// The words still to read, and the global flags, which every command level takes.
struct Line {
    words: Parser,
    global: GlobalFlags,
}

pub(super) fn parse<I, T>(args: I) -> Result<Cli, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let mut line = Line {
        words: Parser::from_iter(args),
        global: GlobalFlags::default(),
    };
    let mut name = None;
    // Before the command name only global flags, `--help` and `--version` are known.
    line.level(Topic::Top, &[], &mut (), |word, _| {
        name = Some(word);
        Ok(Flow::Stop)
    })?;
    let Some(name) = name else {
        return Err(usage(
            Topic::Top,
            format!("a command is required: {}", help::command_names()),
        ));
    };
    let command = match name.as_str() {
        "boot" => Command::Boot(boot(&mut line)?),
        "init" => Command::Init(Box::new(init(&mut line)?)),
        "join" => Command::Join(Box::new(join(&mut line)?)),
        "version" => {
            line.level(Topic::Version, &[], &mut (), no_words(Topic::Version))?;
            Command::Version
        }
        other => {
            return Err(usage(
                Topic::Top,
                format!(
                    "unrecognized subcommand '{}'",
                    crate::logging::shown_word(other)
                ),
            ));
        }
    };
    Ok(Cli {
        global: line.global,
        command,
    })
}

fn boot(line: &mut Line) -> Result<BootArgs, CliError> {
    let mut args = BootArgs::default();
    line.level(Topic::Boot, flags::BOOT, &mut args, no_words(Topic::Boot))?;
    Ok(args)
}

/// `init [flags]` or `init phase <phase> [sub-phase] [flags]`.
fn init(line: &mut Line) -> Result<InitCommand, CliError> {
    let mut args = InitArgs::default();
    let mut phase_follows = false;
    line.level(Topic::Init, flags::INIT, &mut args, |word, given| {
        match (word.as_str(), given.first()) {
            ("phase", None) => {
                phase_follows = true;
                Ok(Flow::Stop)
            }
            // Flags given before `phase` would belong to `init`, which does not run: refuse
            // rather than drop them.
            ("phase", Some(flag)) => Err(usage(
                Topic::Init,
                format!(
                    "the subcommand 'phase' cannot be used with '--{flag}': \
                     give the flags after the phase name"
                ),
            )),
            (other, _) => Err(unexpected(Topic::Init, other)),
        }
    })?;
    if !phase_follows {
        return Ok(InitCommand { phase: None, args });
    }
    let mut names = Vec::new();
    line.level(Topic::Phase, flags::INIT, &mut args, |word, _| {
        if names.len() == 2 {
            return Err(unexpected(Topic::Phase, &word));
        }
        names.push(word);
        Ok(Flow::Continue)
    })?;
    let mut names = names.into_iter();
    let Some(phase) = names.next() else {
        return Err(usage(
            Topic::Phase,
            "the following required argument was not provided: <PHASE>".to_string(),
        ));
    };
    let phase = PhaseArgs {
        phase,
        sub_phase: names.next(),
        args,
    };
    Ok(InitCommand {
        phase: Some(InitSub::Phase(phase)),
        args: InitArgs::default(),
    })
}

/// `join [endpoint] [flags]`: the endpoint may stand anywhere among the flags.
fn join(line: &mut Line) -> Result<JoinArgs, CliError> {
    let mut args = JoinArgs::default();
    let mut endpoint = None;
    line.level(Topic::Join, flags::JOIN, &mut args, |word, _| {
        if endpoint.is_some() {
            return Err(unexpected(Topic::Join, &word));
        }
        endpoint = Some(word);
        Ok(Flow::Continue)
    })?;
    args.api_server_endpoint = endpoint;
    Ok(args)
}

/// Whether a command level goes on after a positional word.
enum Flow {
    Continue,
    /// The word starts the next level (a subcommand): stop here.
    Stop,
}

fn no_words(topic: Topic) -> impl FnMut(String, &[&str]) -> Result<Flow, CliError> {
    move |word, _| Err(unexpected(topic, &word))
}

impl Line {
    /// Parses one command level: its own `flags` into `args`, the global flags, and `--help`;
    /// positional words go to `word` with the level's own flags given so far. Ends at the end
    /// of the line or when `word` says `Stop`.
    fn level<T>(
        &mut self,
        topic: Topic,
        flags: &[Flag<T>],
        args: &mut T,
        mut word: impl FnMut(String, &[&str]) -> Result<Flow, CliError>,
    ) -> Result<(), CliError> {
        let p = &mut self.words;
        let mut given = Vec::new();
        let mut given_global = Vec::new();
        loop {
            let typed = match p.next().map_err(|e| usage(topic, e.to_string()))? {
                None => return Ok(()),
                Some(Arg::Value(value)) => match word(utf8(topic, value)?, &given)? {
                    Flow::Continue => continue,
                    Flow::Stop => return Ok(()),
                },
                Some(Arg::Long(long)) => format!("--{long}"),
                Some(Arg::Short(short)) => format!("-{short}"),
            };
            if let Some(flag) = flags.iter().find(|f| f.matches(&typed)) {
                apply(p, topic, flag, args, &mut given)?;
            } else if let Some(flag) = flags::GLOBAL.iter().find(|f| f.matches(&typed)) {
                apply(p, topic, flag, &mut self.global, &mut given_global)?;
            } else if typed == "--help" || typed == "-h" {
                no_attached_value(p, topic, &typed)?;
                return Err(CliError::Printed(help::help(topic)));
            } else if topic == Topic::Top && (typed == "--version" || typed == "-V") {
                no_attached_value(p, topic, &typed)?;
                return Err(CliError::Printed(format!(
                    "kubeboot {}\n",
                    env!("CARGO_PKG_VERSION")
                )));
            } else {
                return Err(unexpected(topic, &typed));
            }
        }
    }
}

/// Reads the value of `flag` (if it takes one), stores it and adds it to the flags `given` at
/// this level. A flag that takes one value may be given once; list flags add up.
fn apply<T>(
    p: &mut Parser,
    topic: Topic,
    flag: &Flag<T>,
    args: &mut T,
    given: &mut Vec<&'static str>,
) -> Result<(), CliError> {
    let is_list = matches!(flag.slot, Slot::List(_));
    if !is_list && given.contains(&flag.long) {
        return Err(usage(
            topic,
            format!(
                "the argument '{}' cannot be used multiple times",
                flag.with_value()
            ),
        ));
    }
    given.push(flag.long);
    match flag.slot {
        Slot::Switch(set) => set(args, switch_value(p, topic, flag)?),
        Slot::Text(set) => set(args, text(topic, flag, value(p, topic, flag)?)?),
        Slot::Path(set) => set(args, PathBuf::from(value(p, topic, flag)?)),
        Slot::Port(set) => set(args, number(topic, flag, value(p, topic, flag)?)?),
        Slot::Level(set) => set(args, number(topic, flag, value(p, topic, flag)?)?),
        Slot::List(set) => {
            let list = text(topic, flag, value(p, topic, flag)?)?;
            list.split(',').for_each(|item| set(args, item.to_string()));
        }
        Slot::TlsBootstrap(set) => {
            let name = text(topic, flag, value(p, topic, flag)?)?;
            let Some((_, mode)) = flags::TLS_BOOTSTRAP_MODES.iter().find(|(n, _)| *n == name)
            else {
                let why = format!("possible values: {}", flags::tls_bootstrap_names());
                return Err(invalid(topic, flag, &name, &why));
            };
            set(args, *mode);
        }
    }
    Ok(())
}

/// `--flag`, or `--flag=<bool>` in pflag's (Go's `strconv.ParseBool`) spellings: kubeadm
/// accepts `--dry-run=true`, `--dry-run=1`, `--dry-run=F`.
fn switch_value<T>(p: &mut Parser, topic: Topic, flag: &Flag<T>) -> Result<bool, CliError> {
    let Some(value) = p.optional_value() else {
        return Ok(true);
    };
    match value.to_str() {
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        _ => Err(invalid(
            topic,
            flag,
            &value.to_string_lossy(),
            "a switch takes no value, or =true or =false",
        )),
    }
}

/// The value after a flag: attached (`--flag=v`, `-v5`, `-v=5`) or the next word. A next word
/// that is itself a flag means the value was left out; taking `--dry-run` as a token would
/// hide the mistake. A value may not be empty.
fn value<T>(p: &mut Parser, topic: Topic, flag: &Flag<T>) -> Result<OsString, CliError> {
    let missing = |found: Option<&OsStr>| {
        let found = found
            .map(|f| format!(" (found '{}')", f.to_string_lossy()))
            .unwrap_or_default();
        usage(
            topic,
            format!(
                "a value is required for '{}' but none was supplied{found}",
                flag.with_value()
            ),
        )
    };
    let value = match p.optional_value() {
        Some(attached) => attached,
        None => {
            let Some(mut rest) = p.try_raw_args() else {
                return Err(missing(None));
            };
            match rest.peek() {
                Some(next) if !looks_like_flag(next) => rest.next().unwrap_or_default(),
                found => return Err(missing(found)),
            }
        }
    };
    if value.is_empty() && matches!(flag.slot, Slot::Path(_)) {
        return Err(missing(None));
    }
    Ok(value)
}

fn looks_like_flag(word: &OsStr) -> bool {
    let bytes = word.as_encoded_bytes();
    bytes.len() > 1 && bytes[0] == b'-'
}

fn number<T, N>(topic: Topic, flag: &Flag<T>, value: OsString) -> Result<N, CliError>
where
    N: std::str::FromStr<Err = std::num::ParseIntError> + Bounded,
{
    let text = text(topic, flag, value)?;
    text.parse().map_err(|e: std::num::ParseIntError| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                format!("{text} is not in 0..={}", N::MAX)
            }
            _ => e.to_string(),
        };
        invalid(topic, flag, &text, &why)
    })
}

/// The largest value of an unsigned flag type, for the error message.
trait Bounded {
    const MAX: u64;
}

impl Bounded for u8 {
    const MAX: u64 = u8::MAX as u64;
}

impl Bounded for u16 {
    const MAX: u64 = u16::MAX as u64;
}

fn text<T>(topic: Topic, flag: &Flag<T>, value: OsString) -> Result<String, CliError> {
    value
        .into_string()
        .map_err(|v| invalid(topic, flag, &v.to_string_lossy(), "not valid UTF-8"))
}

fn utf8(topic: Topic, word: OsString) -> Result<String, CliError> {
    word.into_string().map_err(|w| {
        usage(
            topic,
            format!("argument '{}' is not valid UTF-8", w.to_string_lossy()),
        )
    })
}

/// `--help=x` and `--version=x`: these take no value.
fn no_attached_value(p: &mut Parser, topic: Topic, typed: &str) -> Result<(), CliError> {
    match p.optional_value() {
        None => Ok(()),
        Some(value) => Err(usage(
            topic,
            format!(
                "unexpected value '{}' for '{typed}' found; no more were expected",
                value.to_string_lossy()
            ),
        )),
    }
}

fn invalid<T>(topic: Topic, flag: &Flag<T>, value: &str, why: &str) -> CliError {
    usage(
        topic,
        format!(
            "invalid value '{}' for '{}': {why}",
            crate::logging::shown_word(value),
            flag.with_value()
        ),
    )
}

fn unexpected(topic: Topic, word: &str) -> CliError {
    usage(
        topic,
        format!(
            "unexpected argument '{}' found",
            crate::logging::shown_word(word)
        ),
    )
}

fn usage(topic: Topic, message: String) -> CliError {
    CliError::Usage {
        message,
        command: topic.command(),
    }
}
