//! One writer per run directory.
//!
//! A search or a training writes its run directory after every epoch; two processes
//! writing one directory (a `--resume` started while the run still goes, a `--force`
//! on a directory in use) would mix their checkpoints and histories. Each writer
//! therefore holds an operating-system lock on the directory's [`LOCK_FILE`] while it
//! runs (`flock` on Unix, `LockFileEx` on Windows): the lock ends with the process,
//! however it ends (`kill -9` included), so a stopped run never leaves a stale lock
//! behind. The file itself stays, holding the last writer's process id. Readers
//! (`entrannas eval`, `report`, `show`) take no lock.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{RunError, io};
use crate::names::LOCK_FILE;

/// An exclusive claim on a run directory, released when dropped (or when the process
/// ends).
#[derive(Debug)]
pub struct RunLock {
    file: File,
    dir: PathBuf,
}

impl RunLock {
    /// Claims `dir` (created if missing) for this process.
    ///
    /// # Errors
    /// [`RunError::InUse`] when another process (or another claim in this process)
    /// holds it; [`RunError::Io`] when the lock file cannot be used. On a file
    /// system without locks the claim succeeds unchecked.
    pub fn acquire(dir: &Path) -> Result<Self, RunError> {
        fs::create_dir_all(dir).map_err(io("create", dir))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io("open", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(RunError::InUse {
                    dir: dir.to_path_buf(),
                    holder: if holder.is_empty() {
                        "process unknown".into()
                    } else {
                        holder.to_string()
                    },
                });
            }
            Err(TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {}
            Err(TryLockError::Error(e)) => return Err(io("lock", &path)(e)),
        }
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "process {}", std::process::id()))
            .map_err(io("write", &path))?;
        Ok(Self {
            file,
            dir: dir.to_path_buf(),
        })
    }

    /// The directory claimed.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Removes everything in the directory but the lock file (what `--force` clears
    /// before a new run).
    ///
    /// # Errors
    /// A file or folder that cannot be removed, named.
    pub fn clear(&self) -> Result<(), RunError> {
        let entries = fs::read_dir(&self.dir).map_err(io("read", &self.dir))?;
        for entry in entries {
            let entry = entry.map_err(io("read", &self.dir))?;
            if entry.file_name() == LOCK_FILE {
                continue;
            }
            let path = entry.path();
            let is_dir = entry.file_type().map_err(io("read", &path))?.is_dir();
            if is_dir {
                fs::remove_dir_all(&path).map_err(io("clear", &path))?;
            } else {
                fs::remove_file(&path).map_err(io("clear", &path))?;
            }
        }
        Ok(())
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first says so plainly.
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("entrannas-run-lock-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_held_directory_is_refused_until_released() {
        let dir = scratch("held");
        let first = RunLock::acquire(&dir).unwrap();
        let recorded = fs::read_to_string(dir.join(LOCK_FILE)).unwrap();
        assert_eq!(recorded.trim(), format!("process {}", std::process::id()));
        match RunLock::acquire(&dir) {
            Err(RunError::InUse { dir: d, holder }) => {
                assert_eq!(d, dir);
                assert_eq!(holder, format!("process {}", std::process::id()));
            }
            other => panic!("a second claim was not refused: {other:?}"),
        }
        drop(first);
        let again = RunLock::acquire(&dir).unwrap();
        assert_eq!(again.dir(), dir.as_path());
        drop(again);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_message_names_the_directory_and_the_holder() {
        let dir = scratch("message");
        let _held = RunLock::acquire(&dir).unwrap();
        let message = RunLock::acquire(&dir).unwrap_err().to_string();
        assert!(message.contains(&dir.display().to_string()), "{message}");
        assert!(
            message.contains("in use by another entrannas process"),
            "{message}"
        );
        assert!(
            message.contains(&format!("process {}", std::process::id())),
            "{message}"
        );
    }

    #[test]
    fn clearing_keeps_only_the_lock_file() {
        let dir = scratch("clear");
        fs::create_dir_all(dir.join("last")).unwrap();
        fs::write(dir.join("last/model.mpk"), b"weights").unwrap();
        fs::write(dir.join("config.json"), b"{}").unwrap();
        let lock = RunLock::acquire(&dir).unwrap();
        lock.clear().unwrap();
        let left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from(LOCK_FILE)]);
        // Still held after clearing.
        assert!(matches!(
            RunLock::acquire(&dir),
            Err(RunError::InUse { .. })
        ));
        drop(lock);
        fs::remove_dir_all(&dir).unwrap();
    }
}
