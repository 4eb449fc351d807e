//! Failures inside a backend, caught at a step boundary and told in words. burn's
//! backends panic where an operation cannot go on; on a GPU that is most often an
//! allocation that did not fit in the device's memory. A search or training catches
//! the panic around each epoch's steps ([`catch_backend_panic`]), keeps its last
//! checkpoint, and says what to lower ([`backend_failure_advice`]).

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

/// A backend that failed inside an epoch of a search or a training (burn panicked; on
/// a GPU most often an allocation that did not fit). Nothing of the epoch was recorded
/// and the last checkpoint is intact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the backend failed in epoch {} on {device} at batch size {batch_size}: {message}\n{}; the {job}'s last checkpoint, after {epochs_done} epoch(s), is intact: resume {} to continue",
    .epoch + 1,
    backend_failure_advice(.message),
    .run.display()
)]
pub struct BackendFailure {
    /// What failed: `search` or `training`.
    pub job: &'static str,
    /// The device, as the backend names it.
    pub device: String,
    /// The epoch that failed (0-based).
    pub epoch: usize,
    /// The batch size.
    pub batch_size: usize,
    /// The backend's own message (the panic's).
    pub message: String,
    /// The run directory.
    pub run: PathBuf,
    /// Epochs completed and checkpointed.
    pub epochs_done: usize,
}

/// Runs `f`; a panic inside it becomes `Err` with the panic's message. The state `f`
/// touched may be half-updated afterwards: the caller must not checkpoint it (a
/// search or training returns an error and keeps its previous checkpoint).
pub fn catch_backend_panic<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(payload.as_ref()))
}

/// The text of a panic's payload (`panic!` with a literal or a formatted message), or
/// a placeholder for any other payload.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Whether a backend's failure message reads as an allocation that did not fit
/// (CUDA's "out of memory", CubeCL's `OutOfMemory`, an allocator that cannot
/// allocate).
pub fn is_out_of_memory(message: &str) -> bool {
    let text = message.to_ascii_lowercase();
    [
        "out of memory",
        "outofmemory",
        "out_of_memory",
        "cannot allocate",
        "memory allocation",
        "allocation failed",
        "failed to allocate",
    ]
    .iter()
    .any(|sign| text.contains(sign))
}

/// What to do about a backend failure with this message: lower the memory a step
/// needs when it reads as running out of memory, else report it.
pub fn backend_failure_advice(message: &str) -> &'static str {
    if is_out_of_memory(message) {
        "the device ran out of memory: lower the batch size (or the channels, the cells, or the shards per device), or free the memory other processes hold"
    } else {
        "this is a failure inside the backend, not a problem with the input: please report it with the command and this message"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_a_value_passes_through() {
        assert_eq!(catch_backend_panic(|| 7), Ok(7));
        let literal = catch_backend_panic(|| -> u8 { panic!("CUDA error: out of memory") });
        assert_eq!(literal, Err("CUDA error: out of memory".to_string()));
        let size = 1 << 30;
        let formatted =
            catch_backend_panic(|| -> u8 { panic!("OutOfMemory {{ requested: {size} }}") });
        assert_eq!(
            formatted,
            Err("OutOfMemory { requested: 1073741824 }".to_string())
        );
        let other = catch_backend_panic(|| -> u8 { std::panic::panic_any(3u32) });
        assert_eq!(other, Err("a panic without a message".to_string()));
    }

    #[test]
    fn out_of_memory_is_told_apart_from_other_failures() {
        for oom in [
            "CUDA error: out of memory",
            "Allocation failed: OutOfMemory",
            "memory allocation of 4294967296 bytes failed",
        ] {
            assert!(is_out_of_memory(oom), "{oom}");
            assert!(backend_failure_advice(oom).contains("lower the batch size"));
        }
        let shape = "Shapes [2, 3] and [4] are not compatible";
        assert!(!is_out_of_memory(shape));
        assert!(backend_failure_advice(shape).contains("please report it"));
    }
}
