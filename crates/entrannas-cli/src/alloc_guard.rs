//! A refused memory allocation ends the process with a message of ours, not Rust's
//! one-line abort: what was refused, what the command was doing, that the last
//! checkpoint is intact and what to lower; exit code 1 (issue 36).
//!
//! Rust's standard hook for this (`set_alloc_error_hook`) is not stable, so the global
//! allocator is the system's behind a thin wrapper that only acts when the system
//! returns no memory. That happens under an address-space limit (`ulimit -v`), or for a
//! request larger than the machine can ever give (Linux's default overcommit refuses
//! those); memory that runs out later, page by page, is the kernel OOM killer's, which
//! no process sees coming. The wrapper cannot tell a caller that would handle the
//! refusal itself (`Vec::try_reserve`) from one that would abort: it ends the process
//! for both. Nothing in the wrapper allocates: the message is written
//! from fixed text and a number formatted on the stack, and the process ends with
//! `_exit`, which runs no handler that could allocate.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::OnceLock;

/// The system allocator, reporting a refusal before the process ends.
pub struct ReportingAllocator;

/// What the process is doing, for the message (set once, when a search or a
/// training starts).
static CONTEXT: OnceLock<String> = OnceLock::new();

/// Says what the process is doing, for the message of a refused allocation: for
/// example "searching at batch size 64 in docs/runs/x". Only the first call counts.
pub fn set_context(context: String) {
    let _ = CONTEXT.set(context);
}

// SAFETY: every call goes to `System` with the caller's arguments unchanged; a null
// result ends the process instead of being returned.
unsafe impl GlobalAlloc for ReportingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as given.
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            refused(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as given.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            refused(layout.size());
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as given.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            refused(new_size);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as given.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// `value` in decimal, written into `buffer`; the digits' slice.
fn decimal(mut value: u64, buffer: &mut [u8; 20]) -> &[u8] {
    let mut start = buffer.len();
    loop {
        start -= 1;
        buffer[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return &buffer[start..];
        }
    }
}

/// The message for an allocation of `size` bytes refused while `context`, written to
/// `out` without allocating.
fn write_message(out: &mut dyn Write, size: usize, context: Option<&str>) {
    let mut digits = [0u8; 20];
    let mut mib = [0u8; 20];
    let _ = out.write_all(b"error: out of memory: the system refused an allocation of ");
    let _ = out.write_all(decimal(size as u64, &mut digits));
    let _ = out.write_all(b" bytes");
    if size >= 1 << 20 {
        let _ = out.write_all(b" (");
        let _ = out.write_all(decimal((size >> 20) as u64, &mut mib));
        let _ = out.write_all(b" MiB)");
    }
    if let Some(context) = context {
        let _ = out.write_all(b" while ");
        let _ = out.write_all(context.as_bytes());
    }
    let _ = out.write_all(
        b".\nNothing of the epoch in progress was recorded, and the last checkpoint is intact: \
lower the batch size (or the channels, the cells; `--dry-run` prints the estimated peak \
memory and the memory the machine has), or free memory, then continue with --resume.\n",
    );
}

/// Writes the message and ends the process with exit code 1.
fn refused(size: usize) -> ! {
    let stderr = std::io::stderr();
    let mut out = stderr.lock();
    write_message(&mut out, size, CONTEXT.get().map(String::as_str));
    let _ = out.flush();
    // SAFETY: `_exit` ends the process at once; nothing is left to uphold.
    unsafe { libc::_exit(1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_size_the_context_and_the_way_out() {
        let mut digits = [0u8; 20];
        assert_eq!(decimal(0, &mut digits), b"0");
        assert_eq!(decimal(u64::MAX, &mut digits), b"18446744073709551615");
        let mut out = Vec::new();
        write_message(
            &mut out,
            3 << 20,
            Some("searching at batch size 64 in /tmp/run"),
        );
        let text = String::from_utf8(out).unwrap();
        let mut small = Vec::new();
        write_message(&mut small, 784, None);
        let small = String::from_utf8(small).unwrap();
        assert!(
            small.starts_with(
                "error: out of memory: the system refused an allocation of 784 bytes.\n"
            ),
            "{small}"
        );
        assert!(
            text.starts_with(
                "error: out of memory: the system refused an allocation of 3145728 bytes (3 MiB) while searching at batch size 64 in /tmp/run.\n"
            ) && text.contains("the last checkpoint is intact")
                && text.contains("--resume"),
            "{text}"
        );
    }
}
