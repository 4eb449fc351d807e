//! Stopping a run between two file-system steps, for tests.
//!
//! With the `fault-injection` feature, every step of [`crate::durable`] (create, write,
//! sync, rename, remove, directory sync) is counted on the calling thread, and the
//! step chosen with `fail_at` fails with an injected error before it touches the
//! disk: what a process killed at that moment leaves behind, short of the unsynced
//! data a power cut would lose (which the syncs cover). Without the feature the
//! counter does not exist and each step costs nothing.

use std::path::Path;

#[cfg(feature = "fault-injection")]
mod counter {
    use std::cell::RefCell;

    /// The calling thread's steps since [`super::fail_at`].
    #[derive(Default)]
    pub(super) struct Counter {
        pub(super) steps: Vec<String>,
        pub(super) fail_at: Option<usize>,
    }

    thread_local! {
        pub(super) static COUNTER: RefCell<Counter> = RefCell::default();
    }
}

/// Starts counting this thread's file-system steps from zero; step number `fail_at`
/// (1-based; `None`: none) fails with [`std::io::ErrorKind::Other`] and a message
/// starting `injected fault`.
#[cfg(feature = "fault-injection")]
pub fn fail_at(fail_at: Option<usize>) {
    counter::COUNTER.with_borrow_mut(|c| {
        c.steps.clear();
        c.fail_at = fail_at;
    });
}

/// The steps counted on this thread since [`fail_at`], each as `<step> <path>`.
#[cfg(feature = "fault-injection")]
pub fn steps() -> Vec<String> {
    counter::COUNTER.with_borrow(|c| c.steps.clone())
}

/// Counts one step; fails the chosen one.
#[cfg(feature = "fault-injection")]
pub(crate) fn step(what: &str, path: &Path) -> std::io::Result<()> {
    counter::COUNTER.with_borrow_mut(|c| {
        c.steps.push(format!("{what} {}", path.display()));
        if c.fail_at == Some(c.steps.len()) {
            return Err(std::io::Error::other(format!(
                "injected fault at step {} ({what})",
                c.steps.len()
            )));
        }
        Ok(())
    })
}

/// A no-op without the `fault-injection` feature.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(crate) fn step(_what: &str, _path: &Path) -> std::io::Result<()> {
    Ok(())
}
