//! File-system helpers for durable directory changes.
//!
//! A power loss keeps file data only after `fsync`/`fdatasync` of that file, and a directory
//! entry (create, mkdir, rename, unlink) only after `fsync` of the directory holding it. The
//! engine's rule: an entry is made durable before anything depends on it (a commit in a new
//! segment is acknowledged, a segment is removed because a snapshot or gzip covers it), and
//! before the old copy it replaces is removed. These helpers are that rule's building blocks.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{AtPath, Result};

/// Makes the entries of `dir` (files created, renamed or removed in it) durable.
///
/// On Unix this is `fsync` of the directory, and its error is returned: a caller that needs
/// the entry durable must not go on as if it were. Windows cannot open a directory for
/// syncing (NTFS journals its metadata itself), so there it does nothing.
#[cfg(unix)]
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

#[cfg(not(unix))]
pub fn sync_dir(_dir: &Path) -> Result<()> {
    Ok(())
}

/// Like [`sync_dir`] for a directory we may not be allowed to open (the parent of the
/// storage directory): a permission error is logged and ignored, anything else returned.
pub fn sync_dir_if_permitted(dir: &Path) -> Result<()> {
    match sync_dir(dir) {
        Err(e) if e.io_kind() == Some(io::ErrorKind::PermissionDenied) => {
            tracing::debug!("cannot sync directory {e}; its entries are left to the file system");
            Ok(())
        }
        other => other,
    }
}

/// The parent to sync for `path`'s entry (`.` for a bare relative name).
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `create_dir_all` whose new directories are durable: after each `mkdir` its parent is
/// synced, so a power loss cannot take away a directory files were already written into.
/// Returns whether anything was created.
pub fn create_dir_all_durable(path: &Path) -> Result<bool> {
    if path.is_dir() {
        return Ok(false);
    }
    // The missing components, outermost first.
    let mut missing = Vec::new();
    let mut at = path.to_path_buf();
    // Stops at anything that exists: below a regular file, mkdir fails with ENOTDIR.
    while !at.as_os_str().is_empty() && fs::symlink_metadata(&at).is_err() {
        missing.push(at.clone());
        match at.parent() {
            Some(p) => at = p.to_path_buf(),
            None => break,
        }
    }
    for dir in missing.iter().rev() {
        match fs::create_dir(dir) {
            Ok(()) => sync_dir_if_permitted(&parent_of(dir))?,
            // Created concurrently by someone else: whoever created it syncs it.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(e).at(dir),
        }
    }
    Ok(true)
}

/// Renames `from` to `to` (both in `dir`) and makes the rename durable before returning,
/// so the caller may then remove what the new name replaces.
pub fn rename_durable(dir: &Path, from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).at(from)?;
    sync_dir(dir)
}

/// Removes `path`; a file that is already gone is not an error.
pub fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e).at(path),
        _ => Ok(()),
    }
}

/// Copies the tree `from` into the new directory `to`, skipping entries for which `skip`
/// is true, and makes the copy durable: every file's data, every directory's entries and
/// `to`'s own entry in its parent are synced before this returns.
pub fn copy_dir_durable(from: &Path, to: &Path, skip: &dyn Fn(&std::ffi::OsStr) -> bool) -> Result<()> {
    create_dir_all_durable(to)?;
    copy_tree(from, to, skip)?;
    sync_dir(&parent_of(to))
}

fn copy_tree(from: &Path, to: &Path, skip: &dyn Fn(&std::ffi::OsStr) -> bool) -> Result<()> {
    fs::create_dir_all(to).at(to)?;
    for entry in fs::read_dir(from).at(from)? {
        let entry = entry.at(from)?;
        let name = entry.file_name();
        if skip(&name) {
            continue;
        }
        let source = entry.path();
        let target = to.join(&name);
        if entry.file_type().at(&source)?.is_dir() {
            copy_tree(&source, &target, skip)?;
        } else {
            fs::copy(&source, &target).at(&source)?;
            File::options().write(true).open(&target).and_then(|f| f.sync_all()).at(&target)?;
        }
    }
    sync_dir(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_nested_directories_and_reports_whether_it_did() {
        let root = tempfile::tempdir().unwrap();
        let deep = root.path().join("a/b/c");
        assert!(create_dir_all_durable(&deep).unwrap());
        assert!(deep.is_dir());
        assert!(!create_dir_all_durable(&deep).unwrap());
        // A path below a regular file fails with the path named.
        fs::write(root.path().join("f"), b"x").unwrap();
        let err = create_dir_all_durable(&root.path().join("f/g")).unwrap_err();
        assert!(err.to_string().contains("f/g") && err.to_string().contains("Not a directory"), "{err}");
    }

    #[test]
    fn sync_dir_names_a_missing_directory() {
        let root = tempfile::tempdir().unwrap();
        let err = sync_dir(&root.path().join("gone")).unwrap_err();
        assert_eq!(err.io_kind(), Some(io::ErrorKind::NotFound));
        assert!(err.to_string().contains("gone"), "{err}");
        sync_dir(root.path()).unwrap();
    }

    #[test]
    fn copies_a_tree_skipping_names() {
        let root = tempfile::tempdir().unwrap();
        let src = root.path().join("src");
        fs::create_dir_all(src.join("wal")).unwrap();
        fs::write(src.join("snapshot.json"), b"{}").unwrap();
        fs::write(src.join("matter.lock"), b"").unwrap();
        fs::write(src.join("wal/00000001.jsonl"), b"line\n").unwrap();
        let dst = root.path().join("copy/x");
        copy_dir_durable(&src, &dst, &|n| n == "matter.lock").unwrap();
        assert_eq!(fs::read(dst.join("snapshot.json")).unwrap(), b"{}");
        assert_eq!(fs::read(dst.join("wal/00000001.jsonl")).unwrap(), b"line\n");
        assert!(!dst.join("matter.lock").exists());
    }

    #[test]
    fn rename_durable_replaces_the_target() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("t.tmp"), b"new").unwrap();
        fs::write(root.path().join("t"), b"old").unwrap();
        rename_durable(root.path(), &root.path().join("t.tmp"), &root.path().join("t")).unwrap();
        assert_eq!(fs::read(root.path().join("t")).unwrap(), b"new");
        remove_if_exists(&root.path().join("t.tmp")).unwrap();
    }
}
