//! The init-or-join decision, as a pure function of what the user-data holds and who this node
//! is, so every case is a row in a table test.

use std::fmt;
use std::net::IpAddr;

use crate::config::model::BootMode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Init,
    Join,
    /// Join as another control-plane node (`JoinConfiguration.controlPlane` set).
    JoinControlPlane,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Init => "init",
            Mode::Join => "join",
            Mode::JoinControlPlane => "join-control-plane",
        })
    }
}

/// What the decision looks at.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    /// `BootConfiguration.mode`.
    pub setting: BootMode,
    /// An InitConfiguration or ClusterConfiguration is present.
    pub has_init: bool,
    pub has_join: bool,
    /// The JoinConfiguration has `controlPlane` set.
    pub join_control_plane: bool,
    /// `BootConfiguration.initializer`: a node name or an IP address.
    pub initializer: Option<&'a str>,
    pub node_name: &'a str,
    pub local_addresses: &'a [IpAddr],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    #[error(
        "the user-data holds no kubeadm configuration (InitConfiguration, ClusterConfiguration or \
         JoinConfiguration): nothing to do"
    )]
    NothingToDo,
    #[error(
        "BootConfiguration says mode: join, but the user-data has no JoinConfiguration to join with"
    )]
    JoinWithoutConfiguration,
    #[error(
        "the user-data holds both an InitConfiguration and a JoinConfiguration but names no initializer: \
         every node would initialise its own cluster (split brain). Set BootConfiguration.initializer to \
         the node name or IP address of the one node that initialises, or set mode: init|join"
    )]
    SplitBrain,
}

/// Decides the mode and says why, in words for the log and `result.json`.
pub fn decide(f: &Facts) -> Result<(Mode, String), DecisionError> {
    let join_mode = if f.join_control_plane {
        Mode::JoinControlPlane
    } else {
        Mode::Join
    };
    match f.setting {
        BootMode::Init => Ok((Mode::Init, "BootConfiguration sets mode: init".into())),
        BootMode::Join if f.has_join => Ok((join_mode, "BootConfiguration sets mode: join".into())),
        BootMode::Join => Err(DecisionError::JoinWithoutConfiguration),
        BootMode::Auto => match (f.has_init, f.has_join) {
            (false, false) => Err(DecisionError::NothingToDo),
            (true, false) => Ok((
                Mode::Init,
                "the user-data holds only an init configuration".into(),
            )),
            (false, true) => Ok((
                join_mode,
                "the user-data holds only a JoinConfiguration".into(),
            )),
            (true, true) => match f.initializer {
                None => Err(DecisionError::SplitBrain),
                Some(who) if is_this_node(who, f) => Ok((
                    Mode::Init,
                    format!("this node is the designated initializer {who:?}"),
                )),
                Some(who) => Ok((
                    join_mode,
                    format!("the designated initializer is {who:?}, not this node"),
                )),
            },
        },
    }
}

fn is_this_node(who: &str, f: &Facts) -> bool {
    match who.parse::<IpAddr>() {
        Ok(ip) => f.local_addresses.contains(&ip),
        Err(_) => who.eq_ignore_ascii_case(f.node_name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDRS: &[IpAddr] = &[IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 10))];

    fn facts(
        setting: BootMode,
        has_init: bool,
        has_join: bool,
        initializer: Option<&'static str>,
    ) -> Facts<'static> {
        Facts {
            setting,
            has_init,
            has_join,
            join_control_plane: false,
            initializer,
            node_name: "cp-0",
            local_addresses: ADDRS,
        }
    }

    #[test]
    fn decision_table() {
        use BootMode::*;
        let rows: &[(Facts, Result<Mode, DecisionError>)] = &[
            (facts(Auto, true, false, None), Ok(Mode::Init)),
            (facts(Auto, false, true, None), Ok(Mode::Join)),
            (facts(Auto, true, true, Some("cp-0")), Ok(Mode::Init)),
            (facts(Auto, true, true, Some("CP-0")), Ok(Mode::Init)),
            (facts(Auto, true, true, Some("192.0.2.10")), Ok(Mode::Init)),
            (facts(Auto, true, true, Some("cp-1")), Ok(Mode::Join)),
            (facts(Auto, true, true, Some("192.0.2.11")), Ok(Mode::Join)),
            (
                facts(Auto, true, true, None),
                Err(DecisionError::SplitBrain),
            ),
            (
                facts(Auto, false, false, None),
                Err(DecisionError::NothingToDo),
            ),
            (facts(Init, false, true, None), Ok(Mode::Init)),
            (facts(Init, false, false, None), Ok(Mode::Init)),
            (facts(Join, true, true, Some("cp-0")), Ok(Mode::Join)),
            (
                facts(Join, true, false, None),
                Err(DecisionError::JoinWithoutConfiguration),
            ),
        ];
        for (i, (f, want)) in rows.iter().enumerate() {
            let got = decide(f).map(|(m, _)| m);
            assert_eq!(&got, want, "row {i}: {f:?}");
        }
    }

    #[test]
    fn control_plane_join_is_its_own_mode() {
        let mut f = facts(BootMode::Auto, true, true, Some("cp-1"));
        f.join_control_plane = true;
        assert_eq!(decide(&f).unwrap().0, Mode::JoinControlPlane);
    }

    #[test]
    fn split_brain_error_explains_the_fix() {
        let e = decide(&facts(BootMode::Auto, true, true, None))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("split brain") && e.contains("BootConfiguration.initializer"),
            "{e}"
        );
    }

    #[test]
    fn the_reason_names_the_initializer() {
        let (_, why) = decide(&facts(BootMode::Auto, true, true, Some("cp-1"))).unwrap();
        assert!(why.contains("\"cp-1\""), "{why}");
    }
}
