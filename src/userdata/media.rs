//! Seed media (cidata, config-2, Azure's provisioning disc): found by label, mounted
//! read-only on a private temporary directory, read through a [`Root`], unmounted when done.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use super::Error;
use super::format::MAX_SIZE;
use crate::fs::Root;

/// Mounts seed media. Production uses [`NixMounter`]; tests may hand out a directory.
pub trait Mounter: fmt::Debug + Send + Sync {
    /// Mounts `device` (a real path) read-only with the first filesystem type that fits.
    /// The returned guard unmounts when dropped.
    fn mount(&self, device: &Path, fstypes: &[&str]) -> Result<Box<dyn Mounted>, String>;
}

/// A mounted filesystem; unmounted when dropped.
pub trait Mounted {
    fn dir(&self) -> &Path;
}

/// Mounts with `mount(2)`: `MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC` on a fresh 0700 directory
/// under `base` (production: `/run`).
#[derive(Debug, Clone)]
pub struct NixMounter {
    pub base: PathBuf,
}

impl Default for NixMounter {
    fn default() -> Self {
        NixMounter {
            base: PathBuf::from("/run"),
        }
    }
}

impl Mounter for NixMounter {
    fn mount(&self, device: &Path, fstypes: &[&str]) -> Result<Box<dyn Mounted>, String> {
        let template = self.base.join("kubeboot-media.XXXXXX");
        let dir = nix::unistd::mkdtemp(&template).map_err(|e| {
            format!(
                "cannot create a mount point in {}: {e}",
                self.base.display()
            )
        })?;
        let flags =
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        let mut failures = Vec::new();
        for fstype in fstypes {
            match nix::mount::mount(Some(device), &dir, Some(*fstype), flags, None::<&str>) {
                Ok(()) => return Ok(Box::new(NixMount { dir })),
                // Wrong filesystem, or one this kernel lacks: try the next type.
                Err(e @ (nix::Error::EINVAL | nix::Error::ENODEV)) => {
                    failures.push(format!("{fstype}: {}", e.desc()))
                }
                Err(e) => {
                    failures.push(format!("{fstype}: {}", e.desc()));
                    break;
                }
            }
        }
        let _ = std::fs::remove_dir(&dir);
        Err(format!(
            "cannot mount it read-only ({}); check the kernel supports {}",
            failures.join("; "),
            fstypes.join(" or ")
        ))
    }
}

struct NixMount {
    dir: PathBuf,
}

impl Mounted for NixMount {
    fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for NixMount {
    fn drop(&mut self) {
        let unmounted = nix::mount::umount(&self.dir)
            .or_else(|_| nix::mount::umount2(&self.dir, MntFlags::MNT_DETACH));
        match unmounted {
            Ok(()) => {
                let _ = std::fs::remove_dir(&self.dir);
            }
            Err(e) => log::warn!(
                "[user-data] Could not unmount {}: {}",
                self.dir.display(),
                e.desc()
            ),
        }
    }
}

/// The first of `labels` present under the by-label directory, as a node path.
pub(crate) fn find_label(root: &Root, by_label: &Path, labels: &[&str]) -> Option<PathBuf> {
    labels
        .iter()
        .map(|label| by_label.join(label))
        .find(|path| root.exists(path))
}

/// Mounts `device` (a node path), reads from it with `visit`, unmounts.
pub(crate) fn with_media<T>(
    datasource: &'static str,
    root: &Root,
    mounter: &dyn Mounter,
    device: &Path,
    fstypes: &[&str],
    visit: impl FnOnce(&Root) -> Result<T, Error>,
) -> Result<T, Error> {
    let real = root.path(device);
    log::info!(
        "[user-data] Mounting {} read-only to read {datasource} seed",
        device.display()
    );
    let mounted = mounter
        .mount(&real, fstypes)
        .map_err(|reason| Error::Local {
            datasource,
            what: device.display().to_string(),
            reason,
        })?;
    visit(&Root::new(mounted.dir()))
    // `mounted` drops here, after `visit`, on success and on error alike.
}

/// Reads a file of at most [`MAX_SIZE`] bytes; `Ok(None)` when it does not exist.
pub(crate) fn read_limited(
    datasource: &'static str,
    root: &Root,
    path: impl AsRef<Path>,
) -> Result<Option<Vec<u8>>, Error> {
    read_limited_with(datasource, root, path.as_ref(), &OpenOptions::new())
}

/// [`read_limited`] for a file on mounted media, refusing a symbolic link anywhere in its
/// path: a crafted image could otherwise link its user-data to a file of this machine.
pub(crate) fn read_limited_from_media(
    datasource: &'static str,
    media: &Root,
    path: impl AsRef<Path>,
) -> Result<Option<Vec<u8>>, Error> {
    let path = path.as_ref();
    let mut walked = PathBuf::from("/");
    for part in path.components().skip_while(|c| c == &Component::RootDir) {
        walked.push(part);
        match std::fs::symlink_metadata(media.path(&walked)) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(Error::Local {
                    datasource,
                    what: describe(media, path),
                    reason: format!(
                        "{} is a symbolic link; links on seed media are not followed",
                        walked.display()
                    ),
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::Local {
                    datasource,
                    what: describe(media, path),
                    reason: e.to_string(),
                });
            }
        }
    }
    // O_NOFOLLOW as well: the check above and the open are two steps.
    let mut options = OpenOptions::new();
    options.custom_flags(nix::libc::O_NOFOLLOW);
    read_limited_with(datasource, media, path, &options)
}

fn read_limited_with(
    datasource: &'static str,
    root: &Root,
    path: &Path,
    options: &OpenOptions,
) -> Result<Option<Vec<u8>>, Error> {
    let local = |reason: String| Error::Local {
        datasource,
        what: describe(root, path),
        reason,
    };
    let file = match options.clone().read(true).open(root.path(path)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(local(e.to_string())),
    };
    let mut data = Vec::new();
    file.take(MAX_SIZE as u64 + 1)
        .read_to_end(&mut data)
        .map_err(|e| local(e.to_string()))?;
    if data.len() > MAX_SIZE {
        return Err(Error::invalid(
            format!("{datasource} {}", describe(root, path)),
            format!("larger than {} MiB", MAX_SIZE >> 20),
        ));
    }
    Ok(Some(data))
}

/// A node path for messages, with the root when it is not `/`.
pub(crate) fn describe(root: &Root, path: &Path) -> String {
    if root.base() == Path::new("/") {
        path.display().to_string()
    } else {
        format!("{} (under {})", path.display(), root.base().display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_limited_reads_small_files_and_reports_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        root.write_atomic("/a", b"x", 0o600).unwrap();
        assert_eq!(read_limited("t", &root, "/a").unwrap(), Some(b"x".to_vec()));
        assert_eq!(read_limited("t", &root, "/b").unwrap(), None);
    }

    #[test]
    fn symlinks_on_media_are_refused() {
        let host = tempfile::tempdir().unwrap();
        let secret = host.path().join("host-secret");
        std::fs::write(&secret, b"host file").unwrap();
        let media = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&secret, media.path().join("user-data")).unwrap();
        std::os::unix::fs::symlink(host.path(), media.path().join("openstack")).unwrap();
        std::fs::write(media.path().join("meta-data"), b"instance-id: x\n").unwrap();
        let media = Root::new(media.path());

        for path in ["/user-data", "/openstack/host-secret"] {
            let e = read_limited_from_media("nocloud", &media, path).unwrap_err();
            assert!(e.to_string().contains("symbolic link"), "{e}");
            assert!(!e.to_string().contains("host file"), "{e}");
        }
        assert_eq!(
            read_limited_from_media("nocloud", &media, "/meta-data").unwrap(),
            Some(b"instance-id: x\n".to_vec())
        );
        assert_eq!(
            read_limited_from_media("nocloud", &media, "/vendor-data").unwrap(),
            None
        );
    }

    #[test]
    fn read_limited_rejects_oversized_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join("big")).unwrap();
        file.set_len(MAX_SIZE as u64 + 1).unwrap();
        let e = read_limited("local", &Root::new(dir.path()), "/big").unwrap_err();
        assert!(e.to_string().contains("larger than 16 MiB"), "{e}");
    }

    #[test]
    fn failed_mount_leaves_no_mount_point_behind() {
        let base = tempfile::tempdir().unwrap();
        let mounter = NixMounter {
            base: base.path().to_path_buf(),
        };
        let e = mounter
            .mount(Path::new("/nonexistent/kubeboot-device"), &["vfat"])
            .err()
            .unwrap();
        assert!(e.contains("vfat"), "{e}");
        assert_eq!(std::fs::read_dir(base.path()).unwrap().count(), 0);
    }
}
