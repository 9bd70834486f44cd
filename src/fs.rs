//! The one filesystem layer: every path the agent touches on the node goes through a [`Root`],
//! and every file is written atomically (temp file in the same directory, fsync, rename, fsync
//! the directory) with an explicit mode, so a crash never leaves a half-written key or manifest.
//! Temp names are random and a file's stale temps are removed when it is written, so a power
//! loss leaves no lasting copy of a key; new directories and unlinks are fsynced too.

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

    /// Whether `path` exists once its symlinks are followed as on the node: an absolute link
    /// target is a node path (under the root), not a path of the machine running kubeboot.
    pub fn exists_following_links(&self, path: impl AsRef<Path>) -> bool {
        self.resolve_links(path.as_ref())
            .is_some_and(|real| fs::symlink_metadata(real).is_ok())
    }

    /// The real path of a node path with every symlink in it followed under the root; `None`
    /// for a link loop or an unreadable link.
    fn resolve_links(&self, node_path: &Path) -> Option<PathBuf> {
        // Linux's limit on links followed in one lookup.
        const MAX_LINKS: usize = 40;
        let mut pending: Vec<std::ffi::OsString> = Vec::new();
        push_components(&mut pending, node_path);
        let mut resolved = self.base.clone();
        let mut depth = 0usize;
        let mut links = 0;
        while let Some(part) = pending.pop() {
            if part == ".." {
                if depth > 0 {
                    resolved.pop();
                    depth -= 1;
                }
                continue;
            }
            resolved.push(&part);
            match fs::symlink_metadata(&resolved) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    links += 1;
                    if links > MAX_LINKS {
                        return None;
                    }
                    let target = fs::read_link(&resolved).ok()?;
                    resolved.pop();
                    if target.is_absolute() {
                        resolved = self.base.clone();
                        depth = 0;
                    }
                    push_components(&mut pending, &target);
                }
                _ => depth += 1,
            }
        }
        Some(resolved)
    }

    /// The permission bits of a node file or directory (links followed).
    pub fn mode(&self, path: impl AsRef<Path>) -> Result<u32, FsError> {
        let path = path.as_ref();
        fs::metadata(self.path(path))
            .map(|m| m.permissions().mode() & 0o7777)
            .map_err(|e| self.err("read the mode of", path, e))
    }

    /// Creates a directory and its parents; the last component gets `mode` (parents 0755).
    /// Each new directory's entry is fsynced, so a power loss cannot lose it.
    pub fn create_dir_all(&self, path: impl AsRef<Path>, mode: u32) -> Result<(), FsError> {
        let path = path.as_ref();
        let real = self.path(path);
        create_dirs_durably(&real, mode).map_err(|e| self.err("create directory", path, e))
    }

    /// Creates a new, empty directory `<parent>/<prefix><16 random hex digits>` with `mode`
    /// (parents 0700, as kubeadm's temp directories) and returns its node path.
    pub fn create_fresh_dir(
        &self,
        parent: impl AsRef<Path>,
        prefix: &str,
        mode: u32,
    ) -> Result<PathBuf, FsError> {
        let parent = parent.as_ref();
        self.create_dir_all(parent, mode::PRIVATE_DIR)?;
        let mut random = [0u8; 8];
        aws_lc_rs::rand::fill(&mut random).map_err(|_| {
            self.err(
                "create a directory in",
                parent,
                io::Error::other("the system random generator failed"),
            )
        })?;
        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let dir = parent.join(format!("{prefix}{hex}"));
        fs::DirBuilder::new()
            .mode(mode)
            .create(self.path(&dir))
            .and_then(|()| fs::set_permissions(self.path(&dir), fs::Permissions::from_mode(mode)))
            .and_then(|()| sync_parent(&self.path(&dir)))
            .map_err(|e| self.err("create directory", &dir, e))?;
        Ok(dir)
    }

    /// Copies the file or directory tree at `path`, except the subtree at `skip`, to the same
    /// node paths under `dest`: each regular file atomically with its mode. `path` itself may
    /// be a link (`/etc/kubernetes/pki` kept on another disk); inside the tree a link to a
    /// file is copied as the file, while links to directories (which may loop) and special
    /// files (a FIFO would block the read) are left out. Nothing to copy when `path` does not
    /// exist.
    pub fn copy_to(&self, path: impl AsRef<Path>, dest: &Root, skip: &Path) -> Result<(), FsError> {
        self.copy_entry(path.as_ref(), dest, skip, true)
    }

    fn copy_entry(
        &self,
        path: &Path,
        dest: &Root,
        skip: &Path,
        follow_dir_link: bool,
    ) -> Result<(), FsError> {
        if path == skip {
            return Ok(());
        }
        let real = self.path(path);
        let meta = match fs::symlink_metadata(&real) {
            Ok(meta) if meta.file_type().is_symlink() => match fs::metadata(&real) {
                Ok(target) if target.is_file() || (follow_dir_link && target.is_dir()) => target,
                _ => return Ok(()),
            },
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.err("read", path, e)),
        };
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_dir() {
            dest.create_dir_all(path, mode)?;
            for name in self.list_dir(path)? {
                self.copy_entry(&path.join(name), dest, skip, false)?;
            }
            Ok(())
        } else if meta.is_file() {
            dest.write_atomic(path, &self.read(path)?, mode)
        } else {
            Ok(())
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
        create_dirs_durably(&dir, mode::DIR)
            .map_err(|e| self.err("create directory for", path, e))?;
        remove_stale_temp_files(&real).map_err(|e| self.err("clean up before writing", path, e))?;
        let tmp = temp_name(&real).map_err(|e| self.err("write", path, e))?;
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
        let result = (|| {
            if let Some(dir) = real.parent() {
                create_dirs_durably(dir, mode::DIR)?;
            }
            remove_stale_temp_files(&real)?;
            let tmp = temp_name(&real)?;
            std::os::unix::fs::symlink(target.as_ref(), &tmp)?;
            if let Err(e) = fs::rename(&tmp, &real) {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
            if let Some(dir) = real.parent() {
                File::open(dir)?.sync_all()?;
            }
            Ok::<(), io::Error>(())
        })();
        result.map_err(|e| self.err("link", link, e))
    }

    pub fn remove_file(&self, path: impl AsRef<Path>) -> Result<(), FsError> {
        let path = path.as_ref();
        let real = self.path(path);
        match fs::remove_file(&real) {
            Ok(()) => sync_parent(&real).map_err(|e| self.err("remove", path, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.err("remove", path, e)),
        }
    }
}

/// Pushes `path`'s components onto a stack of components still to walk (the first on top);
/// `..` is kept, `/` and `.` are dropped.
fn push_components(stack: &mut Vec<std::ffi::OsString>, path: &Path) {
    for c in path.components().rev() {
        match c {
            Component::Normal(part) => stack.push(part.to_os_string()),
            Component::ParentDir => stack.push("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
}

/// Creates `dir` (with `mode`) and its missing ancestors (0755), fsyncing the parent of each
/// one created so that its entry survives a power loss.
fn create_dirs_durably(dir: &Path, mode: u32) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut cursor = Some(dir);
    while let Some(d) = cursor {
        if d.as_os_str().is_empty() || d.is_dir() {
            break;
        }
        missing.push(d);
        cursor = d.parent();
    }
    for (i, d) in missing.iter().rev().enumerate() {
        let this_mode = if i + 1 == missing.len() {
            mode
        } else {
            mode::DIR
        };
        match fs::DirBuilder::new().mode(this_mode).create(d) {
            Ok(()) => sync_parent(d)?,
            // Created meanwhile by someone else: its entry is theirs to sync.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

/// The prefix and suffix of `real`'s temp files: `.<name>.kubeboot-` and `.tmp`.
fn temp_affixes(real: &Path) -> (String, &'static str) {
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (format!(".{name}.kubeboot-"), ".tmp")
}

/// A fresh temp name next to `real`, random so that a temp left by a power loss in an earlier
/// boot (whose PID the next boot likely reuses) cannot collide with it.
fn temp_name(real: &Path) -> io::Result<PathBuf> {
    let mut random = [0u8; 8];
    aws_lc_rs::rand::fill(&mut random)
        .map_err(|_| io::Error::other("the system random generator failed"))?;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let (prefix, suffix) = temp_affixes(real);
    Ok(real.with_file_name(format!("{prefix}{hex}{suffix}")))
}

/// Removes temp files of `real` left by an interrupted write (they may hold a copy of a key).
fn remove_stale_temp_files(real: &Path) -> io::Result<()> {
    let Some(dir) = real.parent() else {
        return Ok(());
    };
    let (prefix, suffix) = temp_affixes(real);
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(suffix) {
            match fs::remove_file(entry.path()) {
                Ok(()) => log::debug!("removed the stale temp file {}", entry.path().display()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
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
    fn a_temp_file_left_by_a_power_loss_is_removed_and_does_not_block_the_write() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        root.create_dir_all("/etc/kubernetes/pki", mode::PRIVATE_DIR)
            .unwrap();
        // An earlier boot with the same PID died between create and rename.
        let pid = std::process::id();
        let stale = [
            format!("/etc/kubernetes/pki/.ca.key.kubeboot-{pid}.tmp"),
            "/etc/kubernetes/pki/.ca.key.kubeboot-0123456789abcdef.tmp".into(),
        ];
        for path in &stale {
            fs::write(root.path(path), b"old key copy").unwrap();
        }
        let other = "/etc/kubernetes/pki/.ca.crt.kubeboot-1.tmp";
        fs::write(root.path(other), b"not ours").unwrap();

        root.write_atomic("/etc/kubernetes/pki/ca.key", b"key", mode::PRIVATE)
            .unwrap();
        assert_eq!(root.read("/etc/kubernetes/pki/ca.key").unwrap(), b"key");
        assert_eq!(
            root.list_dir("/etc/kubernetes/pki").unwrap(),
            vec![".ca.crt.kubeboot-1.tmp", "ca.key"],
            "only ca.key's stale temp files are removed"
        );
    }

    #[test]
    fn a_stale_temp_link_does_not_block_replacing_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let pid = std::process::id();
        root.create_dir_all("/var/lib/kubelet/pki", mode::DIR)
            .unwrap();
        std::os::unix::fs::symlink(
            "stale.pem",
            root.path(format!(
                "/var/lib/kubelet/pki/.current.pem.kubeboot-{pid}.tmp"
            )),
        )
        .unwrap();
        root.symlink_atomic("b.pem", "/var/lib/kubelet/pki/current.pem")
            .unwrap();
        assert_eq!(
            root.list_dir("/var/lib/kubelet/pki").unwrap(),
            vec!["current.pem"]
        );
    }

    #[test]
    fn fresh_directories_are_new_private_and_distinct() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let a = root
            .create_fresh_dir("/etc/kubernetes/tmp", "x-", 0o700)
            .unwrap();
        let b = root
            .create_fresh_dir("/etc/kubernetes/tmp", "x-", 0o700)
            .unwrap();
        assert_ne!(a, b);
        assert!(
            a.to_string_lossy().starts_with("/etc/kubernetes/tmp/x-"),
            "{}",
            a.display()
        );
        assert_eq!(root.list_dir(&a).unwrap(), Vec::<String>::new());
        assert_eq!(root.mode(&a).unwrap(), 0o700);
    }

    #[test]
    fn a_tree_is_copied_to_another_root_with_its_modes() {
        let (from_dir, to_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (from, to) = (Root::new(from_dir.path()), Root::new(to_dir.path()));
        from.write_atomic("/pki/ca.key", b"k", 0o600).unwrap();
        from.write_atomic("/pki/etcd/ca.crt", b"c", 0o644).unwrap();
        from.write_atomic("/pki/tmp/old/ca.key", b"old", 0o600)
            .unwrap();
        from.symlink_atomic("ca.key", "/pki/linked.key").unwrap();
        from.symlink_atomic("/", "/pki/loop").unwrap();
        nix::unistd::mkfifo(&from.path("/pki/fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        from.copy_to("/pki", &to, Path::new("/pki/tmp")).unwrap();
        from.copy_to("/absent", &to, Path::new("/pki/tmp")).unwrap();
        assert_eq!(
            to.read("/pki/linked.key").unwrap(),
            b"k",
            "a linked file is copied"
        );
        for left_out in ["/pki/tmp", "/pki/loop", "/pki/fifo"] {
            assert!(!to.exists(left_out), "{left_out} was copied");
        }
        // The tree itself may be a link.
        from.symlink_atomic("pki", "/pki-link").unwrap();
        from.copy_to("/pki-link", &to, Path::new("/pki/tmp"))
            .unwrap();
        assert_eq!(to.read("/pki-link/etcd/ca.crt").unwrap(), b"c");
        assert_eq!(to.read("/pki/ca.key").unwrap(), b"k");
        assert_eq!(to.read("/pki/etcd/ca.crt").unwrap(), b"c");
        assert_eq!(to.mode("/pki/ca.key").unwrap(), 0o600);
        assert_eq!(to.mode("/pki/etcd/ca.crt").unwrap(), 0o644);
        assert!(!to.exists("/absent"));
    }

    #[test]
    fn create_dir_all_gives_the_mode_to_the_last_directory_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        root.create_dir_all("/etc/kubernetes/pki", mode::PRIVATE_DIR)
            .unwrap();
        root.create_dir_all("/etc/kubernetes/pki", mode::PRIVATE_DIR)
            .unwrap();
        let mode_of = |p: &str| fs::metadata(root.path(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode_of("/etc/kubernetes/pki"), 0o700);
        assert_eq!(mode_of("/etc/kubernetes") & 0o700, 0o700);
        root.write_atomic("/etc/kubernetes/x", b"", mode::PRIVATE)
            .unwrap();
        assert!(root.create_dir_all("/etc/kubernetes/x", mode::DIR).is_err());
    }

    #[test]
    fn links_are_followed_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let pem = "/var/lib/kubelet/pki/kubelet-client-2026.pem";
        root.write_atomic(pem, b"CERT+KEY", mode::PRIVATE).unwrap();
        root.symlink_atomic(pem, "/var/lib/kubelet/pki/current.pem")
            .unwrap();
        assert!(root.exists_following_links("/var/lib/kubelet/pki/current.pem"));
        // A relative link through a linked directory, with `..`.
        std::os::unix::fs::symlink("var/lib/kubelet", root.path("/kubelet")).unwrap();
        root.symlink_atomic("../pki/current.pem", "/kubelet/x/link.pem")
            .unwrap();
        assert!(root.exists_following_links("/kubelet/x/link.pem"));

        // The target exists on the machine running the tests, not under the root.
        let host_file = dir.path().join("host-only");
        fs::write(&host_file, b"").unwrap();
        root.symlink_atomic(&host_file, "/var/lib/kubelet/pki/dangling.pem")
            .unwrap();
        assert!(!root.exists_following_links("/var/lib/kubelet/pki/dangling.pem"));
        assert!(!root.exists_following_links("/missing"));

        root.symlink_atomic("/loop", "/loop").unwrap();
        assert!(!root.exists_following_links("/loop"));
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
