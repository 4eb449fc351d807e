//! Tests that need the process's memory figures to themselves run alone in a child
//! process of the test binary; tests that seed burn's process-wide CPU generators take
//! turns through [`seeded`].

/// Names, in the child process, the one test it runs.
const ISOLATED_TEST: &str = "ENTRANNAS_ISOLATED_TEST";

/// Runs the test `name` (its full path in this crate, for example
/// `"bench::tests::tiny_ladder_runs_every_rung"`) alone in a child process of this test
/// binary, unless this process is that child.
///
/// Returns `true` in the child: the caller goes on with the test's body. Returns
/// `false` in the parent, after asserting that the child ran exactly that test and it
/// passed: the caller returns. A misspelt `name` fails the test (the child runs
/// nothing), so a test can never pass without its body having run.
pub(crate) fn isolated(name: &str) -> bool {
    if std::env::var(ISOLATED_TEST).is_ok_and(|running| running == name) {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary's own path");
    let out = std::process::Command::new(exe)
        .args(["--exact", name, "--test-threads=1", "--nocapture"])
        .env(ISOLATED_TEST, name)
        .output()
        .expect("starting the test binary again");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{name} failed in its own process:\n{text}"
    );
    assert!(
        text.contains("test result: ok. 1 passed"),
        "the child process did not run {name}:\n{text}"
    );
    false
}

/// burn's CPU backends seed one process-wide generator: tests that initialise
/// networks in this process take turns through this lock, so that each sees only its
/// own seed.
static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes the turn of a test that initialises networks (see [`SEEDED`]).
pub(crate) fn seeded() -> std::sync::MutexGuard<'static, ()> {
    SEEDED.lock().unwrap_or_else(|e| e.into_inner())
}
