//! Seeds on disk: `nocloud` (cloud-init's NoCloud: seed directories or a `cidata` filesystem)
//! and `configdrive` (OpenStack's config drive: a `config-2` filesystem).

use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::media::{describe, find_label, read_limited, read_limited_from_media, with_media};
use super::source::{Context, Source};
use super::{Blob, Error, MetaData, UserData};
use crate::fs::Root;

const NOCLOUD_SEED_DIRS: [&str; 2] = [
    "/var/lib/cloud/seed/nocloud",
    "/var/lib/cloud/seed/nocloud-net",
];
const NOCLOUD_LABELS: [&str; 2] = ["cidata", "CIDATA"];
const CONFIG_DRIVE_SEED_DIR: &str = "/var/lib/cloud/seed/config_drive";
const CONFIG_DRIVE_LABELS: [&str; 2] = ["config-2", "CONFIG-2"];
const SEED_FSTYPES: [&str; 2] = ["vfat", "iso9660"];

/// A directory holding seed files: a node directory, or the root of mounted media.
struct Seed<'a> {
    datasource: &'static str,
    root: &'a Root,
    dir: PathBuf,
    /// The device, for media: files are then named `/dev/disk/by-label/cidata:/user-data`.
    device: Option<PathBuf>,
}

impl Seed<'_> {
    fn read(&self, name: &str) -> Result<Option<(Vec<u8>, String)>, Error> {
        let path = self.dir.join(name);
        let bytes = match self.device {
            Some(_) => read_limited_from_media(self.datasource, self.root, &path)?,
            None => read_limited(self.datasource, self.root, &path)?,
        };
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let place = match &self.device {
            Some(device) => format!("{}:{}", device.display(), path.display()),
            None => describe(self.root, &path),
        };
        Ok(Some((bytes, format!("{} {place}", self.datasource))))
    }

    fn in_node_dir<'r>(datasource: &'static str, root: &'r Root, dir: &str) -> Seed<'r> {
        Seed {
            datasource,
            root,
            dir: PathBuf::from(dir),
            device: None,
        }
    }

    fn on_media<'r>(datasource: &'static str, media: &'r Root, device: &Path) -> Seed<'r> {
        Seed {
            datasource,
            root: media,
            dir: PathBuf::from("/"),
            device: Some(device.to_path_buf()),
        }
    }
}

pub(crate) struct NoCloud;

impl Source for NoCloud {
    fn name(&self) -> &'static str {
        "nocloud"
    }

    fn fetch(&self, cx: &Context<'_>) -> Result<Option<UserData>, Error> {
        for dir in NOCLOUD_SEED_DIRS {
            if let Some(found) = nocloud_seed(&Seed::in_node_dir(self.name(), cx.root, dir))? {
                return Ok(Some(found));
            }
        }
        let Some(device) = find_label(cx.root, &cx.env.by_label, &NOCLOUD_LABELS) else {
            return Ok(None);
        };
        with_media(
            self.name(),
            cx.root,
            &*cx.env.mounter,
            &device,
            &SEED_FSTYPES,
            |media| nocloud_seed(&Seed::on_media(self.name(), media, &device)),
        )
    }
}

fn nocloud_seed(seed: &Seed<'_>) -> Result<Option<UserData>, Error> {
    let Some((bytes, origin)) = seed.read("user-data")? else {
        return Ok(None);
    };
    let meta = match seed.read("meta-data")? {
        Some((meta, meta_origin)) => parse_meta_data(&meta, &meta_origin),
        None => MetaData::default(),
    };
    Ok(Some(UserData {
        source: seed.datasource,
        parts: vec![Blob { origin, bytes }],
        meta,
    }))
}

/// NoCloud `meta-data` (YAML, EC2-style keys): `local-hostname` and `local-ipv4`. It belongs
/// to cloud-init, so a malformed one is logged, not fatal.
pub(crate) fn parse_meta_data(bytes: &[u8], origin: &str) -> MetaData {
    let value: Value = match serde_yaml::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            log::warn!("[user-data] Ignoring {origin}: not YAML ({e})");
            return MetaData::default();
        }
    };
    MetaData {
        hostname: value
            .get("local-hostname")
            .and_then(Value::as_str)
            .and_then(|h| MetaData::checked_hostname(h, origin)),
        local_ipv4: value
            .get("local-ipv4")
            .and_then(Value::as_str)
            .and_then(|ip| MetaData::checked_ipv4(ip, origin)),
    }
}

pub(crate) struct ConfigDrive;

impl Source for ConfigDrive {
    fn name(&self) -> &'static str {
        "configdrive"
    }

    fn fetch(&self, cx: &Context<'_>) -> Result<Option<UserData>, Error> {
        let seed = Seed::in_node_dir(self.name(), cx.root, CONFIG_DRIVE_SEED_DIR);
        if let Some(found) = config_drive(&seed)? {
            return Ok(Some(found));
        }
        let Some(device) = find_label(cx.root, &cx.env.by_label, &CONFIG_DRIVE_LABELS) else {
            return Ok(None);
        };
        with_media(
            self.name(),
            cx.root,
            &*cx.env.mounter,
            &device,
            &SEED_FSTYPES,
            |media| config_drive(&Seed::on_media(self.name(), media, &device)),
        )
    }
}

fn config_drive(seed: &Seed<'_>) -> Result<Option<UserData>, Error> {
    let Some((bytes, origin)) = seed.read("openstack/latest/user_data")? else {
        return Ok(None);
    };
    let meta = match seed.read("openstack/latest/meta_data.json")? {
        Some((meta, meta_origin)) => parse_openstack_meta(&meta, &meta_origin),
        None => MetaData::default(),
    };
    Ok(Some(UserData {
        source: seed.datasource,
        parts: vec![Blob { origin, bytes }],
        meta,
    }))
}

/// OpenStack `meta_data.json`: `hostname` (or the instance `name`). Logged, not fatal, when
/// malformed.
pub(crate) fn parse_openstack_meta(bytes: &[u8], origin: &str) -> MetaData {
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            log::warn!("[user-data] Ignoring {origin}: not JSON ({e})");
            return MetaData::default();
        }
    };
    let hostname = ["hostname", "name"]
        .iter()
        .find_map(|key| value.get(key).and_then(serde_json::Value::as_str));
    MetaData {
        hostname: hostname.and_then(|h| MetaData::checked_hostname(h, origin)),
        local_ipv4: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nocloud_meta_data_keys() {
        let m = parse_meta_data(
            b"instance-id: iid-1\nlocal-hostname: node-1\nlocal-ipv4: 10.1.2.3\n",
            "t",
        );
        assert_eq!(m.hostname.as_deref(), Some("node-1"));
        assert_eq!(m.local_ipv4, Some("10.1.2.3".parse().unwrap()));
        assert_eq!(parse_meta_data(b"{{{", "t"), MetaData::default());
    }

    #[test]
    fn openstack_meta_prefers_hostname() {
        let m = parse_openstack_meta(br#"{"name": "vm", "hostname": "vm.novalocal"}"#, "t");
        assert_eq!(m.hostname.as_deref(), Some("vm.novalocal"));
        let m = parse_openstack_meta(br#"{"name": "vm"}"#, "t");
        assert_eq!(m.hostname.as_deref(), Some("vm"));
    }
}
