//! Kubernetes versions (`v1.34.2`) and the range kubeboot can initialise.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubeVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    /// Pre-release suffix without the dash (`rc.1`), empty for releases.
    pub pre: String,
}

/// The version `init` targets when the config names none (kubeadm would ask dl.k8s.io for
/// `stable-1`; a first-boot agent must not depend on the internet, so it is fixed at build).
pub const DEFAULT_VERSION: &str = "v1.34.2";
/// Oldest and newest minor versions whose manifests kubeboot writes.
pub const MIN_MINOR: u32 = 31;
pub const MAX_MINOR: u32 = 35;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a Kubernetes version like v1.34.2")]
pub struct VersionError(pub String);

impl FromStr for KubeVersion {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || VersionError(s.to_string());
        let rest = s.strip_prefix('v').unwrap_or(s);
        let (core, pre) = match rest.split_once('-') {
            Some((c, p)) if !p.is_empty() => (c, p.to_string()),
            Some(_) => return Err(bad()),
            None => (rest, String::new()),
        };
        let mut nums = core.split('.').map(|p| p.parse::<u32>().map_err(|_| bad()));
        let major = nums.next().ok_or_else(bad)??;
        let minor = nums.next().ok_or_else(bad)??;
        let patch = nums.next().unwrap_or(Ok(0))?;
        if nums.next().is_some() {
            return Err(bad());
        }
        Ok(KubeVersion {
            major,
            minor,
            patch,
            pre,
        })
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        Ok(())
    }
}

impl KubeVersion {
    pub fn default_version() -> Self {
        // DEFAULT_VERSION is a literal checked by a unit test.
        DEFAULT_VERSION.parse().unwrap_or(KubeVersion {
            major: 1,
            minor: 34,
            patch: 2,
            pre: String::new(),
        })
    }

    /// True for `1.minor` or later.
    pub fn at_least(&self, minor: u32) -> bool {
        self.major > 1 || (self.major == 1 && self.minor >= minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubeadm_version_forms() {
        let v: KubeVersion = "v1.34.2".parse().unwrap();
        assert_eq!((v.major, v.minor, v.patch), (1, 34, 2));
        assert_eq!(
            "1.33.0-rc.1".parse::<KubeVersion>().unwrap().to_string(),
            "v1.33.0-rc.1"
        );
        assert_eq!(KubeVersion::default_version().to_string(), DEFAULT_VERSION);
        for bad in ["", "v1", "stable", "v1.x.0", "v1.2.3.4", "v1.2.3-"] {
            assert!(bad.parse::<KubeVersion>().is_err(), "{bad}");
        }
    }
}
