//! File-system steps that leave a run directory consistent wherever a process stops.
//!
//! A file is written whole or not at all: its bytes go to `<name>.tmp`, reach the disk
//! (`fsync`), the file is renamed over the old one, and the directory itself is synced
//! so that the rename survives a power cut. Every step goes through
//! [`crate::fault`]'s counter when the `fault-injection` feature is on, so tests can
//! stop a run between any two of them.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{RunError, io};
use crate::fault::step;

/// `<path>.tmp`: where [`write_atomic`] writes before renaming.
pub fn temporary(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Writes `contents` to `path` and syncs it; a file stopped half-way is left
/// half-written, so use it only inside a folder that is renamed into place when
/// complete (a checkpoint), or through [`write_atomic`].
///
/// # Errors
/// [`RunError::Io`] naming `path`.
pub fn write_synced(path: &Path, contents: &[u8]) -> Result<(), RunError> {
    step("create", path).map_err(io("write", path))?;
    let mut file = fs::File::create(path).map_err(io("write", path))?;
    step("write", path).map_err(io("write", path))?;
    file.write_all(contents).map_err(io("write", path))?;
    step("sync", path).map_err(io("write", path))?;
    file.sync_all().map_err(io("write", path))
}

/// Writes `path` whole or not at all: `<path>.tmp` written and synced, renamed into
/// place, the directory synced.
///
/// # Errors
/// [`RunError::Io`] naming the file that was being written or moved.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), RunError> {
    let tmp = temporary(path);
    write_synced(&tmp, contents)?;
    rename(&tmp, path)?;
    sync_parent(path)
}

/// Renames `from` to `to` (atomic within one file system).
///
/// # Errors
/// [`RunError::Io`] naming `to`.
pub fn rename(from: &Path, to: &Path) -> Result<(), RunError> {
    step("rename", to).map_err(io("move into place", to))?;
    fs::rename(from, to).map_err(io("move into place", to))
}

/// Creates `path` and its missing parents.
///
/// # Errors
/// [`RunError::Io`] naming `path`.
pub fn create_dir(path: &Path) -> Result<(), RunError> {
    step("create directory", path).map_err(io("create", path))?;
    fs::create_dir_all(path).map_err(io("create", path))
}

/// Removes the folder `path` and everything in it, if it exists.
///
/// # Errors
/// [`RunError::Io`] naming `path`.
pub fn remove_dir(path: &Path) -> Result<(), RunError> {
    if !path.exists() {
        return Ok(());
    }
    step("remove", path).map_err(io("remove", path))?;
    fs::remove_dir_all(path).map_err(io("remove", path))
}

/// Syncs the directory `dir`, so that the entries created, renamed or removed in it
/// are on the disk. A no-op where directories cannot be opened (Windows).
///
/// # Errors
/// [`RunError::Io`] naming `dir`.
pub fn sync_dir(dir: &Path) -> Result<(), RunError> {
    step("sync directory", dir).map_err(io("sync", dir))?;
    #[cfg(unix)]
    {
        let handle = fs::File::open(dir).map_err(io("sync", dir))?;
        handle.sync_all().map_err(io("sync", dir))?;
    }
    Ok(())
}

/// Copies the folder `from` to `to` (created), recursively: moving a run to another
/// disk, or keeping a copy of one before an experiment on it.
///
/// # Errors
/// [`RunError::Io`] naming the file or folder that could not be read or written.
pub fn copy_dir(from: &Path, to: &Path) -> Result<(), RunError> {
    create_dir(to)?;
    for entry in fs::read_dir(from).map_err(io("read", from))? {
        let entry = entry.map_err(io("read", from))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(io("read", &source))?.is_dir() {
            copy_dir(&source, &target)?;
        } else {
            let contents = fs::read(&source).map_err(io("read", &source))?;
            write_synced(&target, &contents)?;
        }
    }
    Ok(())
}

/// Syncs the directory holding `path`.
fn sync_parent(path: &Path) -> Result<(), RunError> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => sync_dir(Path::new(".")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(!temporary(&path).exists());
    }

    #[test]
    fn a_refused_write_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"x").unwrap();
        let inside = blocker.join("a.json");
        let err = write_atomic(&inside, b"x").unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("cannot write {}", temporary(&inside).display())),
            "{err}"
        );
        if Path::new("/dev/full").exists() {
            let err = write_synced(Path::new("/dev/full"), b"x")
                .unwrap_err()
                .to_string();
            assert!(err.contains("No space left on device"), "{err}");
        }
    }
}
