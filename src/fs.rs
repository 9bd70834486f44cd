//! The one filesystem layer: every path the agent touches on the node goes through a [`Root`],
//! and every file is written atomically (temp file in the same directory, fsync, rename, fsync
//! the directory) with an explicit mode, so a crash never leaves a half-written key or manifest.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Modes kubeadm uses for what it writes.
pub mod mode {
    /// Private keys, kubeconfigs, static Pod manifests, kubelet client certificates.
    pub const PRIVATE: u32 = 0o600;
    /// Certificates, public keys, kubelet config, flags files.
    pub const PUBLIC: u32 = 0o644;
    /// Directories holding keys (`/etc/kubernetes/pki`, `/var/lib/etcd`).
    pub const PRIVATE_DIR: u32 = 0o700;
    /// Ordinary directories (`/etc/kubernetes/manifests`, `/var/lib/kubelet`).
    pub const DIR: u32 = 0o755;
}

/// A filesystem failure, naming the node path (as the user knows it) and the real path.
#[derive(Debug, thiserror::Error)]
#[error("cannot {op} {path}{}: {source}", under(.root))]
pub struct FsError {
    pub op: &'static str,
    pub path: PathBuf,
    pub root: PathBuf,
    #[source]
    pub source: io::Error,
}

fn under(root: &Path) -> String {
    if root == Path::new("/") {
        String::new()
    } else {
        format!(" (under root {})", root.display())
    }
}

impl FsError {
    pub fn is_not_found(&self) -> bool {
        self.source.kind() == io::ErrorKind::NotFound
    }
}

/// The directory that stands for `/` on the node. Production uses `/`; tests and `--root` use a
/// sandbox. Node paths are always written as absolute paths (`/etc/kubernetes/pki/ca.crt`).
#[derive(Debug, Clone)]
pub struct Root {
    base: PathBuf,
}

impl Root {
    pub fn new(base: impl Into<PathBuf>) -> Self {
        Root { base: base.into() }
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    /// The real path of a node path. `..` components are dropped so that a node path can never
    /// leave the root, whatever a config file says.
    pub fn path(&self, node_path: impl AsRef<Path>) -> PathBuf {
        let mut out = self.base.clone();
        for c in node_path.as_ref().components() {
            if let Component::Normal(part) = c {
                out.push(part);
            }
        }
        out
    }

    fn err(&self, op: &'static str, path: &Path, source: io::Error) -> FsError {
        FsError {
            op,
            path: path.to_path_buf(),
            root: self.base.clone(),
            source,
        }
    }

    /// Reads a file; `Ok(None)` when it does not exist.
    pub fn read_optional(&self, path: impl AsRef<Path>) -> Result<Option<Vec<u8>>, FsError> {
        let path = path.as_ref();
        match fs::read(self.path(path)) {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err("read", path, e)),
        }
    }

    pub fn read(&self, path: impl AsRef<Path>) -> Result<Vec<u8>, FsError> {
        let path = path.as_ref();
        fs::read(self.path(path)).map_err(|e| self.err("read", path, e))
    }

    pub fn exists(&self, path: impl AsRef<Path>) -> bool {
        fs::symlink_metadata(self.path(path)).is_ok()
    }

    /// Creates a directory and its parents; the last component gets `mode` (parents 0755).
    pub fn create_dir_all(&self, path: impl AsRef<Path>, mode: u32) -> Result<(), FsError> {
        let path = path.as_ref();
        let real = self.path(path);
        if let Some(parent) = real.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(mode::DIR)
                .create(parent)
                .map_err(|e| self.err("create directory", path, e))?;
        }
        match fs::DirBuilder::new().mode(mode).create(&real) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && real.is_dir() => Ok(()),
            Err(e) => Err(self.err("create directory", path, e)),
        }
    }

    /// Lists the names in a directory, sorted; empty when it does not exist.
    pub fn list_dir(&self, path: impl AsRef<Path>) -> Result<Vec<String>, FsError> {
        let path = path.as_ref();
        let entries = match fs::read_dir(self.path(path)) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.err("list", path, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.err("list", path, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    /// Writes `data` to `path` atomically with `mode`. Missing parent directories are created
    /// 0755. The file is complete or absent: temp file, fsync, rename, fsync the directory.
    pub fn write_atomic(
        &self,
        path: impl AsRef<Path>,
        data: &[u8],
        mode: u32,
    ) -> Result<(), FsError> {
        let path = path.as_ref();
        let real = self.path(path);
        let dir = real
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.base.clone());
        fs::DirBuilder::new()
            .recursive(true)
            .mode(mode::DIR)
            .create(&dir)
            .map_err(|e| self.err("create directory for", path, e))?;
        let tmp = temp_name(&real);
        let result = (|| {
            // mode() applies at creation, so a key is never readable by others even briefly.
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&tmp)?;
            f.write_all(data)?;
            // The umask may have narrowed the mode; set it exactly.
            f.set_permissions(fs::Permissions::from_mode(mode))?;
            f.sync_all()?;
            fs::rename(&tmp, &real)?;
            File::open(&dir)?.sync_all()
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(self.err("write", path, e));
        }
        Ok(())
    }

    /// Points the symlink `link` at `target` (a node path or a relative name), replacing any
    /// previous link atomically, as the kubelet does for `kubelet-client-current.pem`.
    pub fn symlink_atomic(
        &self,
        target: impl AsRef<Path>,
        link: impl AsRef<Path>,
    ) -> Result<(), FsError> {
        let link = link.as_ref();
        let real = self.path(link);
        let tmp = temp_name(&real);
        let result = (|| {
            if let Some(dir) = real.parent() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(mode::DIR)
                    .create(dir)?;
            }
            std::os::unix::fs::symlink(target.as_ref(), &tmp)?;
            fs::rename(&tmp, &real)?;
            if let Some(dir) = real.parent() {
                File::open(dir)?.sync_all()?;
            }
            Ok::<(), io::Error>(())
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(self.err("link", link, e));
        }
        Ok(())
    }

    pub fn remove_file(&self, path: impl AsRef<Path>) -> Result<(), FsError> {
        let path = path.as_ref();
        match fs::remove_file(self.path(path)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.err("remove", path, e)),
        }
    }
}

fn temp_name(real: &Path) -> PathBuf {
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    real.with_file_name(format!(".{name}.kubeboot-{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_paths_stay_under_the_root() {
        let root = Root::new("/sandbox");
        assert_eq!(
            root.path("/etc/kubernetes/pki/ca.key"),
            PathBuf::from("/sandbox/etc/kubernetes/pki/ca.key")
        );
        assert_eq!(
            root.path("/etc/../../../etc/shadow"),
            PathBuf::from("/sandbox/etc/etc/shadow")
        );
    }

    #[test]
    fn atomic_write_sets_exact_mode_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        root.write_atomic("/etc/kubernetes/pki/ca.key", b"key", mode::PRIVATE)
            .unwrap();
        let real = root.path("/etc/kubernetes/pki/ca.key");
        assert_eq!(
            fs::metadata(&real).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read(&real).unwrap(), b"key");
        root.write_atomic("/etc/kubernetes/pki/ca.key", b"key2", mode::PRIVATE)
            .unwrap();
        assert_eq!(fs::read(&real).unwrap(), b"key2");
        assert_eq!(
            root.list_dir("/etc/kubernetes/pki").unwrap(),
            vec!["ca.key"]
        );
    }

    #[test]
    fn symlink_is_replaced_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        root.symlink_atomic("a.pem", "/var/lib/kubelet/pki/current.pem")
            .unwrap();
        root.symlink_atomic("b.pem", "/var/lib/kubelet/pki/current.pem")
            .unwrap();
        let target = fs::read_link(root.path("/var/lib/kubelet/pki/current.pem")).unwrap();
        assert_eq!(target, PathBuf::from("b.pem"));
    }

    #[test]
    fn errors_name_the_node_path_and_the_root() {
        let root = Root::new("/nonexistent-kubeboot-root");
        let e = root.read("/etc/kubernetes/admin.conf").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("/etc/kubernetes/admin.conf"), "{text}");
        assert!(
            text.contains("under root /nonexistent-kubeboot-root"),
            "{text}"
        );
        assert!(e.is_not_found());
    }
}
