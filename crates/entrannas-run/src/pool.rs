//! Where a run's computation runs: on a worker of rayon's global thread pool.

/// Runs `work` on a worker thread of rayon's global pool and returns its result; runs
/// it on the calling thread when that already is a worker of a rayon pool.
///
/// burn-flex, the default CPU backend, splits its kernels across that pool. Called from
/// a thread outside the pool, every parallel kernel hands its work to sleeping workers
/// and blocks until they finish, a wake-up in each direction; called from a worker, the
/// caller computes its own share at once and the other workers steal the rest. A
/// search step at batch 32 on 2 cores took 1.17x (full EnTranNAS) to 1.25x (DST) less
/// time this way, before the elementwise kernels went parallel too (docs/PERFORMANCE.md,
/// "On a pool worker"). The CLI and the examples run every command
/// through this; a program that embeds the library on the CPU should do the same.
///
/// Results do not depend on it: every kernel computes each output element in one task,
/// in a fixed order. Work that blocks a worker while waiting for other threads that
/// use the pool (for example, `std::thread` workers joined inside `work` that run CPU
/// tensor operations) can deadlock a one-thread pool; run such threads as rayon tasks
/// instead, as the data-parallel step does.
pub fn on_worker_pool<R, W>(work: W) -> R
where
    R: Send,
    W: FnOnce() -> R + Send,
{
    rayon::scope(|_| work())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_on_a_pool_worker_and_returns_the_result() {
        assert_eq!(rayon::current_thread_index(), None);
        let (index, value) = on_worker_pool(|| (rayon::current_thread_index(), 41 + 1));
        assert!(index.is_some(), "not on a rayon worker");
        assert_eq!(value, 42);
        // Nested: already on a worker, it runs in place.
        let (outer, inner) = on_worker_pool(|| {
            let outer = rayon::current_thread_index();
            (outer, on_worker_pool(rayon::current_thread_index))
        });
        assert!(outer.is_some(), "not on a rayon worker");
        assert_eq!(outer, inner);
    }
}
