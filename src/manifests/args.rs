//! Command-line arguments as kubeadm builds them for components: a list of defaults, user
//! `extraArgs` that replace every default of the same name, then sorted by name and value
//! (kubeadm's `ArgumentsToCommand`, `SetArgValues`, `GetArgValue`).

use crate::config::model::Arg;

/// `--name=value` for every argument: the overrides, plus each default whose name no override
/// uses, sorted by name then value. An override may repeat a name (v1beta4 allows it); all its
/// instances are kept and every default of that name is dropped.
pub fn arguments_to_command(defaults: &[Arg], overrides: &[Arg]) -> Vec<String> {
    let mut args: Vec<&Arg> = overrides.iter().collect();
    args.extend(
        defaults
            .iter()
            .filter(|d| !overrides.iter().any(|o| o.name == d.name)),
    );
    args.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.value.cmp(&b.value)));
    args.iter()
        .map(|a| format!("--{}={}", a.name, a.value))
        .collect()
}

/// Sets the first argument called `name` to `value`, or appends it (kubeadm's
/// `SetArgValues(args, name, value, 1)`).
pub fn set_arg(args: &mut Vec<Arg>, name: &str, value: impl Into<String>) {
    let value = value.into();
    match args.iter_mut().find(|a| a.name == name) {
        Some(arg) => arg.value = value,
        None => args.push(arg(name, value)),
    }
}

/// The value of the last argument called `name` (kubeadm's `GetArgValue(args, name, -1)`).
pub fn last_arg<'a>(args: &'a [Arg], name: &str) -> Option<&'a str> {
    args.iter()
        .rev()
        .find(|a| a.name == name)
        .map(|a| a.value.as_str())
}

pub fn arg(name: &str, value: impl Into<String>) -> Arg {
    Arg {
        name: name.to_string(),
        value: value.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> Vec<Arg> {
        pairs.iter().map(|(n, v)| arg(n, *v)).collect()
    }

    #[test]
    fn overrides_replace_defaults_by_name_and_output_is_sorted() {
        let defaults = args(&[("secure-port", "6443"), ("allow-privileged", "true")]);
        let overrides = args(&[("secure-port", "7443"), ("audit-log-path", "/var/log/a")]);
        assert_eq!(
            arguments_to_command(&defaults, &overrides),
            [
                "--allow-privileged=true",
                "--audit-log-path=/var/log/a",
                "--secure-port=7443"
            ]
        );
    }

    #[test]
    fn repeated_override_drops_every_default_of_that_name_and_sorts_by_value() {
        let defaults = args(&[("feature-gates", "A=true"), ("feature-gates", "B=true")]);
        let overrides = args(&[("feature-gates", "Z=false"), ("feature-gates", "C=true")]);
        assert_eq!(
            arguments_to_command(&defaults, &overrides),
            ["--feature-gates=C=true", "--feature-gates=Z=false"]
        );
    }

    #[test]
    fn empty_override_value_is_kept_as_an_empty_flag() {
        let defaults = args(&[("cluster-signing-key-file", "/pki/ca.key")]);
        let overrides = args(&[("cluster-signing-key-file", "")]);
        assert_eq!(
            arguments_to_command(&defaults, &overrides),
            ["--cluster-signing-key-file="]
        );
    }

    #[test]
    fn set_updates_in_place_or_appends_and_last_wins_on_lookup() {
        let mut a = args(&[("a", "1")]);
        set_arg(&mut a, "a", "2");
        set_arg(&mut a, "b", "3");
        assert_eq!(a, args(&[("a", "2"), ("b", "3")]));
        let dup = args(&[("x", "first"), ("x", "last")]);
        assert_eq!(last_arg(&dup, "x"), Some("last"));
        assert_eq!(last_arg(&dup, "y"), None);
    }
}
