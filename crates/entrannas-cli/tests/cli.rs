//! End-to-end checks of the `entrannas` binary: exit codes, messages and files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn entrannas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_entrannas"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The JSON file at `path`, parsed.
fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn show_draws_eight_labelled_arrows_per_darts_v2_cell() {
    let out = entrannas(&["show", "darts_v2", "--format", "svg"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let svg = stdout(&out);
    assert!(svg.contains("<svg") && svg.trim_end().ends_with("</svg>"));
    let ops = [
        "sep_conv_3x3",
        "skip_connect",
        "dil_conv_3x3",
        "max_pool_3x3",
    ];
    let labels = svg
        .split("<text")
        .skip(1)
        .filter(|t| ops.iter().any(|op| t.contains(&format!(">{op}<"))))
        .count();
    assert_eq!(labels, 16, "8 op labels per cell");
}

#[test]
fn a_backend_that_is_not_compiled_in_names_its_feature() {
    let out = entrannas(&["search", "--device", "cuda", "--out", "/nonexistent/never"]);
    if cfg!(feature = "cuda") {
        return;
    }
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("--features cuda"), "{}", stderr(&out));
}

#[test]
fn a_negative_number_is_validated_not_taken_for_a_flag() {
    let out = entrannas(&["search", "--method", "dst", "--lambda", "-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("lambda must be a finite non-negative number, got -1"),
        "{}",
        stderr(&out)
    );
    let out = entrannas(&["train", "darts_v2", "--lr", "-0.1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("lr must be"), "{}", stderr(&out));
}

#[test]
fn a_batch_larger_than_its_split_is_refused_with_both_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("run");
    let out = entrannas(&[
        "search",
        "--batch-size",
        "99999999",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("batch size 99999999 is larger than the search's splits (2500 images train the weights, 2500 the architecture)")
            && err.contains("at most 2500"),
        "{err}"
    );
    assert!(!out_dir.join("checkpoint").exists());
}

#[test]
fn dry_run_prints_the_plan_and_an_oversized_search_is_refused_before_it_allocates() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("run");
    let small = [
        "--channels",
        "4",
        "--layers",
        "3",
        "--batch-size",
        "16",
        "--eval-limit",
        "48",
        "--child-bn-batches",
        "3",
    ];
    let mut args = vec!["search", "--dry-run", "--out", out_dir.to_str().unwrap()];
    args.extend(small);
    let out = entrannas(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = stdout(&out);
    assert!(
        plan.starts_with("plan: entran search, C = 4, 3 cells, 4 epochs at batch 16")
            && plan.contains(
                "2500 images train the weights, 2500 the architecture; 157 steps per epoch"
            )
            && plan.contains("memory: estimated about ")
            && plan.contains("activations kept for backward")
            && plan.contains("then ")
            && plan.contains("per step (median of 2)")
            && plan.contains("per epoch of 157 steps"),
        "{plan}"
    );
    if Path::new("/proc/self/clear_refs").exists() {
        assert!(plan.contains("measured over the timed steps: "), "{plan}");
    }
    assert!(!out_dir.exists(), "a dry run writes nothing");
    // A hundred million channels: refused with the estimate, the limit and the way out,
    // before the super-net exists (Linux, where the available memory can be read); the
    // dry run prints the plan without timing it.
    if Path::new("/proc/meminfo").exists() {
        let huge = [
            "search",
            "--channels",
            "100000000",
            "--out",
            out_dir.to_str().unwrap(),
        ];
        let out = entrannas(&huge);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("a step of this search needs about ")
                && err.contains("--ignore-memory-estimate"),
            "{err}"
        );
        assert!(!out_dir.exists());
        let out = entrannas(&[&huge[..], &["--dry-run"]].concat());
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stdout(&out).contains("time: not measured, the estimate exceeds the "));
    }
}

#[test]
fn a_training_dry_run_times_steps_and_an_oversized_training_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("train");
    let out_arg = out_dir.to_str().unwrap();
    let small = [
        "train",
        "darts_v2",
        "--channels",
        "4",
        "--layers",
        "3",
        "--batch-size",
        "16",
        "--eval-limit",
        "40",
        "--epochs",
        "2",
        "--out",
        out_arg,
    ];
    let out = entrannas(&[&small[..], &["--dry-run"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = stdout(&out);
    assert!(
        plan.starts_with("plan: training, cifar layout, C = 4, L = 3, 2 epochs at batch 16")
            && plan.contains("5000 training images, 313 steps per epoch; 40 test images")
            && plan.contains("memory: estimated about ")
            && plan.contains("per step (median of 2)")
            && plan.contains("for 2 epoch(s)"),
        "{plan}"
    );
    assert!(!out_dir.exists(), "a dry run writes nothing");
    if Path::new("/proc/meminfo").exists() {
        let huge = [
            "train",
            "darts_v2",
            "--channels",
            "1000000",
            "--out",
            out_arg,
        ];
        let out = entrannas(&huge);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("a step of this training needs about ")
                && err.contains("--ignore-memory-estimate")
                && err.contains("no batch fits: lower the channels or the cells"),
            "{err}"
        );
        assert!(!out_dir.exists());
    }
}

/// Runs `entrannas args` under an address-space limit of `kib` KiB (`ulimit -v`), on
/// one worker thread (fewer thread stacks to reserve).
fn entrannas_limited(kib: u64, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_entrannas"))
        .args(args)
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .expect("sh runs")
}

#[test]
fn a_refused_allocation_ends_with_our_message_and_exit_1() {
    if !Path::new("/proc/meminfo").exists() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A request no machine grants: the 120 GB weight of a 100,000-channel cell.
    let huge = dir.path().join("huge");
    let out = entrannas_limited(
        4_000_000,
        &[
            "search",
            "--channels",
            "100000",
            "--ignore-memory-estimate",
            "--out",
            huge.to_str().unwrap(),
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: out of memory: the system refused an allocation of 120000000000 bytes (114440 MiB)")
            && err.contains(&format!("while searching at batch size 64 in {}", huge.display()))
            && err.contains("lower the batch size"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // A tiny search under 400 MB of address space: the first epoch trains, its
    // evaluation (BN recalibration included) is refused memory. Nothing is recorded,
    // and --resume without the limit ends as the uninterrupted search.
    let straight = dir.path().join("straight");
    assert!(search_into(&straight, &[]).status.success());
    let limited = dir.path().join("limited");
    let mut args = vec!["search", "--out", limited.to_str().unwrap()];
    args.extend(TINY_SEARCH);
    let out = entrannas_limited(400_000, &args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: out of memory: the system refused an allocation of ")
            && err.contains("the last checkpoint is intact"),
        "{err}"
    );
    let out = entrannas(&["search", "--resume", limited.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_same_search(&straight, &limited);
}

/// A small `tmpfs` mounted at a directory, unmounted when dropped: a real disk that
/// fills up, and that can be made read-only. Needs root and a machine that allows
/// `mount` (CI's may not: the tests that need one say so and skip).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let options = format!("size={size}");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipped: cannot mount a tmpfs here (needs root and permission)");
        }
        mounted.then(|| Tmpfs(dir.to_path_buf()))
    }

    fn remount(&self, mode: &str) {
        let options = format!("remount,{mode}");
        let status = Command::new("mount")
            .args(["-o", &options])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "remount {mode}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Copies directory `from` to `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    entrannas_run::durable::copy_dir(from, to).unwrap();
}

#[test]
fn a_disk_that_fills_up_during_a_checkpoint_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&dir.path().join("small"), "200k") else {
        return;
    };
    let straight = dir.path().join("straight");
    assert!(search_into(&straight, &[]).status.success());
    // 200 KiB hold the first checkpoint (about 90 KiB) and the records, not a second
    // checkpoint written beside the first.
    let run = disk.0.join("run");
    let out = search_into(&run, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "error: cannot write {}",
            run.join("checkpoint.tmp").display()
        )) && err.contains("No space left on device (os error 28)"),
        "{err}"
    );
    assert!(run.join("checkpoint").join("state.json").is_file());
    // The run, moved to a disk with room, resumes to the uninterrupted result.
    let moved = dir.path().join("moved");
    copy_dir(&run, &moved);
    let out = entrannas(&["search", "--resume", moved.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_same_search(&straight, &moved);
}

#[test]
fn a_read_only_run_directory_is_an_error_naming_it_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&dir.path().join("disk"), "2m") else {
        return;
    };
    let run = disk.0.join("run");
    assert!(search_into(&run, &[]).status.success());
    let before = history_without_times(&run);
    disk.remount("ro");
    let out = entrannas(&["search", "--resume", run.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("cannot write {}", run.display()))
            && err.contains("Read-only file system (os error 30)"),
        "{err}"
    );
    let fresh = disk.0.join("fresh");
    let out = search_into(&fresh, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("cannot create {}", fresh.display()))
            && err.contains("Read-only file system (os error 30)"),
        "{err}"
    );
    disk.remount("rw");
    assert_eq!(history_without_times(&run), before);
    assert!(!fresh.exists());
}

#[test]
fn a_search_over_an_op_list_records_it_and_bad_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("ops");
    let out = search_into(&run, &["--ops", "skip_connect,conv_3x3,max_pool_3x3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let config = read_json(&run.join("config.json"));
    assert_eq!(
        config["candidate_ops"],
        serde_json::json!(["skip_connect", "conv_3x3", "max_pool_3x3"])
    );
    let genotype = std::fs::read_to_string(run.join("genotype.txt")).unwrap();
    for op in ["sep_conv_3x3", "dil_conv_3x3", "avg_pool_3x3"] {
        assert!(!genotype.contains(op), "{genotype}");
    }
    for (ops, message) in [
        (
            "none,conv_9x9",
            "unknown candidate op `conv_9x9`; the registered ops are: none",
        ),
        (
            "conv_3x3,conv_3x3",
            "candidate op `conv_3x3` is listed twice",
        ),
    ] {
        let out = entrannas(&["search", "--dry-run", "--ops", ops]);
        assert_eq!(out.status.code(), Some(2), "{ops}");
        assert!(stderr(&out).contains(message), "{}", stderr(&out));
    }
    let out = entrannas(&["search", "--ops", "none,conv_3x3", "--space", "extended"]);
    assert_eq!(out.status.code(), Some(2), "--ops and --space conflict");
}

#[test]
fn a_genotype_with_an_unknown_op_names_the_op_and_the_valid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.txt");
    std::fs::write(
        &file,
        "Genotype(normal=[('sep_conv_3x3', 0), ('conv_9x9', 1)], normal_concat=[2], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=[2])",
    )
    .unwrap();
    let out = entrannas(&["show", file.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("conv_9x9") && err.contains("dil_conv_5x5"),
        "{err}"
    );
}

#[test]
fn derive_rejects_a_wrong_row_count_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("arch.json");
    let row = "[0.1, 0.2, 0.3]";
    let rows = vec![row; 13].join(",");
    std::fs::write(
        &file,
        format!(
            r#"{{"ops": ["none", "skip_connect", "sep_conv_3x3"], "normal": {{"alpha": [{rows}]}}, "reduce": {{"alpha": [{rows}]}}}}"#
        ),
    )
    .unwrap();
    let out = entrannas(&["derive", "--arch", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("normal.alpha"), "{}", stderr(&out));
}

#[test]
fn search_then_train_then_eval_through_the_genotype_file() {
    let dir = tempfile::tempdir().unwrap();
    let search = dir.path().join("search");
    let search_str = search.to_str().unwrap();
    let tiny = ONE_STEP;
    let mut args = vec![
        "search",
        "--method",
        "dst",
        "--nodes",
        "2",
        "--child-bn-batches",
        "0",
        "--depthwise",
        "tap-weight-grad",
        "--out",
        search_str,
    ];
    args.extend(tiny);
    let out = entrannas(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    // `--child-bn-batches 0` reaches the config and skips the recalibrated measurement.
    let config = read_json(&search.join("config.json"));
    assert_eq!(config["child_bn_batches"], 0);
    // So does the global `--depthwise`, by its command-line name.
    assert_eq!(config["depthwise"], "tap-weight-grad");
    let history = std::fs::read_to_string(search.join("history.jsonl")).unwrap();
    assert!(
        history.contains("\"child_accuracy_recalibrated\":null"),
        "{history}"
    );
    assert!(!stderr(&out).contains("re-BN"), "{}", stderr(&out));
    for file in [
        "config.json",
        "environment.json",
        "history.jsonl",
        "genotype.json",
        "genotype.txt",
        "normal.svg",
    ] {
        assert!(search.join(file).is_file(), "{file}");
    }
    assert!(stdout(&out).starts_with("Genotype("));

    // The directory holds a run: refused without --force or --resume.
    let out = entrannas(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    // Flags are not silently dropped on a resumed run.
    let out = entrannas(&["search", "--resume", search_str, "--epochs", "5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("config.json"), "{}", stderr(&out));
    // A resumed run computes as it was started: another --depthwise is refused, the
    // recorded one accepted.
    let out = entrannas(&["search", "--resume", search_str, "--depthwise", "grouped"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("tap-weight-grad"), "{}", stderr(&out));
    let same = [
        "search",
        "--resume",
        search_str,
        "--depthwise",
        "tap-weight-grad",
    ];
    assert!(entrannas(&same).status.success());
    // Resuming a finished search reports it again.
    let out = entrannas(&["search", "--resume", search_str]);
    assert!(out.status.success(), "{}", stderr(&out));

    let train = dir.path().join("train");
    let genotype = search.join("genotype.json");
    let mut args = vec![
        "train",
        genotype.to_str().unwrap(),
        "--out",
        train.to_str().unwrap(),
    ];
    args.extend(tiny);
    let out = entrannas(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(Path::new(&train).join("last/model.mpk").is_file());
    assert!(Path::new(&train).join("report.html").is_file());
    let config = read_json(&train.join("config.json"));
    assert_eq!(config["depthwise"], "grouped");
    let out = entrannas(&[
        "train",
        "--resume",
        train.to_str().unwrap(),
        "--depthwise",
        "taps",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("grouped"), "{}", stderr(&out));

    let out = entrannas(&["eval", "--checkpoint", train.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("accuracy"), "{}", stdout(&out));
}

#[test]
fn repeated_trainings_resume_as_a_whole_and_old_parents_are_refused_with_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path().join("runs");
    let parent_str = parent.to_str().unwrap();
    let mut args = vec![
        "train", "darts_v2", "--runs", "2", "--seed", "3", "--out", parent_str,
    ];
    args.extend(ONE_STEP);
    let out = entrannas(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("over 2 runs"), "{}", stdout(&out));
    for file in [
        "config.json",
        "genotype.json",
        "runs.json",
        "summary.json",
        "environment.json",
        "run-1-seed-3/last/model.mpk",
        "run-2-seed-4/last/model.mpk",
    ] {
        assert!(parent.join(file).is_file(), "{file}");
    }
    let summary = read_json(&parent.join("summary.json"));
    // The finished series is read back, not trained again.
    let out = entrannas(&["train", "--resume", parent_str]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(read_json(&parent.join("summary.json")), summary);
    assert!(parent.join("environment-resume.json").is_file());
    // A series written before runs.json existed: refused, with what to do instead.
    let old = dir.path().join("old");
    std::fs::create_dir_all(old.join("run-0")).unwrap();
    std::fs::copy(
        parent.join("run-1-seed-3/config.json"),
        old.join("run-0/config.json"),
    )
    .unwrap();
    let out = entrannas(&["train", "--resume", old.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("written by an earlier version") && stderr(&out).contains("run-<k>"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn data_describes_the_embedded_subset() {
    let out = entrannas(&["data", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let splits = summary["splits"].as_array().unwrap();
    let total = |name: &str| {
        splits.iter().find(|s| s["name"] == name).unwrap()["total"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(total("train"), 5000);
    assert_eq!(total("test"), 1000);
    assert_eq!(total("search-train") + total("search-val"), 5000);
}

/// A valid 1 x 1 RGB PNG.
const ONE_PIXEL_PNG: [u8; 69] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53,
    0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x10, 0x50, 0x30, 0x00,
    0x00, 0x00, 0xa4, 0x00, 0x61, 0x34, 0x66, 0x7d, 0x72, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];

#[test]
fn data_decodes_every_folder_image_and_skips_bad_ones_only_when_told() {
    let dir = tempfile::tempdir().unwrap();
    for (split, class, name) in [
        ("train", "cat", "a.png"),
        ("train", "cat", "b.PNG"),
        ("train", "dog", "a.png"),
        ("train", "dog", "b.png"),
        ("val", "cat", "a.png"),
        ("val", "dog", "a.png"),
    ] {
        let folder = dir.path().join(split).join(class);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(name), ONE_PIXEL_PNG).unwrap();
    }
    // Its header is whole, its pixel data cut: only a full decode finds it.
    std::fs::write(dir.path().join("train/dog/cut.png"), &ONE_PIXEL_PNG[..45]).unwrap();
    let root = dir.path().to_str().unwrap();
    let args = ["data", "--dataset", "folder", "--data-dir", root];
    let out = entrannas(&args);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("cut.png"), "{}", stderr(&out));

    let out = entrannas(&[&args[..], &["--skip-bad-images"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("skipped      1 undecodable image (first: ") && text.contains("cut.png"),
        "{text}"
    );
    let items = text.lines().find(|l| l.starts_with("items")).unwrap();
    let counts: Vec<&str> = items.split_whitespace().skip(1).collect();
    assert_eq!(counts[..2], ["4", "2"], "{text}");

    // search and train check every header when they open a folder: a file that is no
    // image stops them before any work, unless they are told to leave it out.
    std::fs::write(dir.path().join("train/cat/junk.jpg"), b"not an image").unwrap();
    std::fs::remove_file(dir.path().join("train/dog/cut.png")).unwrap();
    let search = [
        "search",
        "--dataset",
        "folder",
        "--data-dir",
        root,
        "--epochs",
        "1",
        "--steps-per-epoch",
        "1",
        "--eval-limit",
        "2",
        "--batch-size",
        "2",
        "--channels",
        "2",
        "--layers",
        "3",
        "--bottleneck",
        "0",
    ];
    let runs = tempfile::tempdir().unwrap();
    let out_dir = runs.path().join("search");
    let out_dir = out_dir.to_str().unwrap();
    let out = entrannas(&[&search[..], &["--out", out_dir]].concat());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("junk.jpg"), "{}", stderr(&out));
    let out = entrannas(&[
        "train",
        "darts_v2",
        "--dataset",
        "folder",
        "--data-dir",
        root,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("junk.jpg"), "{}", stderr(&out));

    let out = entrannas(
        &[
            &search[..],
            &["--out", out_dir, "--force", "--skip-bad-images"],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("skipped 1 undecodable image(s) (first: ")
            && stderr(&out).contains("junk.jpg"),
        "{}",
        stderr(&out)
    );
    let config = std::fs::read_to_string(runs.path().join("search/config.json")).unwrap();
    assert!(config.contains("\"skip_bad_images\": true"), "{config}");
}

/// One epoch of one step on tiny shapes, for `search` and `train` alike.
const ONE_STEP: [&str; 12] = [
    "--epochs",
    "1",
    "--steps-per-epoch",
    "1",
    "--batch-size",
    "8",
    "--channels",
    "4",
    "--layers",
    "3",
    "--eval-limit",
    "16",
];

/// The flags of a tiny search on the embedded data: a few steps per epoch on a small
/// super-net, so that the whole search takes seconds.
const TINY_SEARCH: [&str; 16] = [
    "--epochs",
    "3",
    "--steps-per-epoch",
    "12",
    "--batch-size",
    "8",
    "--channels",
    "4",
    "--layers",
    "3",
    "--nodes",
    "2",
    "--eval-limit",
    "16",
    "--method",
    "dst",
];

fn search_into(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["search", "--out", out.to_str().unwrap()];
    args.extend(TINY_SEARCH);
    args.extend(extra);
    entrannas(&args)
}

/// Starts `entrannas args`, reads its log lines (stderr is not a terminal, so progress
/// comes as lines) and kills it with SIGKILL as soon as a line satisfies `when`.
/// Panics if the process ends first.
fn kill_when(args: &[&str], when: impl Fn(&str) -> bool) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_entrannas"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    for line in lines {
        let line = line.unwrap();
        if when(&line) {
            // `Child::kill` sends SIGKILL on Unix: no handler, no cleanup.
            child.kill().unwrap();
            child.wait().unwrap();
            return;
        }
        log.push(line);
    }
    let status = child.wait().unwrap();
    panic!(
        "the search ended ({status}) before it could be killed:\n{}",
        log.join("\n")
    );
}

/// `history.jsonl` without the timings, which differ between any two runs.
fn history_without_times(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let mut record: serde_json::Value = serde_json::from_str(line).unwrap();
            let fields = record.as_object_mut().unwrap();
            assert!(fields.remove("seconds").is_some());
            assert!(fields.remove("images_per_second").is_some());
            record
        })
        .collect()
}

fn epochs_done(run: &Path) -> u64 {
    let state = read_json(&run.join("checkpoint/state.json"));
    state["epochs_done"].as_u64().unwrap()
}

fn assert_same_search(a: &Path, b: &Path) {
    let (ha, hb) = (history_without_times(a), history_without_times(b));
    assert_eq!(ha.len(), 3);
    for (ra, rb) in ha.iter().zip(&hb) {
        assert_eq!(ra, rb, "epoch {} differs", ra["epoch"]);
    }
    assert_eq!(ha.len(), hb.len());
    for file in ["genotype.json", "genotype.txt", "selection.json"] {
        assert_eq!(
            std::fs::read_to_string(a.join(file)).unwrap(),
            std::fs::read_to_string(b.join(file)).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn a_search_killed_mid_epoch_resumes_to_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight");
    let out = search_into(&straight, &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Killed at step 10 of 12 of the second epoch: the first epoch's checkpoint is
    // on disk, the second epoch is under way.
    let killed = dir.path().join("killed");
    let mut args = vec!["search", "--out", killed.to_str().unwrap()];
    args.extend(TINY_SEARCH);
    kill_when(&args, |line| line.starts_with("epoch 2 step 10/12"));
    assert_eq!(epochs_done(&killed), 1);
    assert_eq!(history_without_times(&killed).len(), 1);

    let out = entrannas(&["search", "--resume", killed.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(epochs_done(&killed), 3);
    assert_same_search(&straight, &killed);
}

#[test]
fn a_training_killed_on_one_backend_resumes_on_another() {
    // A long training started on the CPU is meant to be continued on a GPU
    // (scripts/train-fmnist.sh resumes whatever run directory it is given): the
    // checkpoint must not depend on the backend that wrote it. Two CPU backends
    // stand in for the pair here.
    let dir = tempfile::tempdir().unwrap();
    let run = |out: &Path, device: &str| -> Vec<String> {
        let mut args = vec!["train", "darts_v2", "--device", device];
        args.extend([
            "--out",
            out.to_str().unwrap(),
            "--channels",
            "4",
            "--layers",
            "3",
            "--epochs",
            "2",
            "--batch-size",
            "8",
            "--steps-per-epoch",
            "12",
            "--eval-limit",
            "16",
        ]);
        args.iter().map(|a| a.to_string()).collect()
    };
    let straight = dir.path().join("straight");
    let args = run(&straight, "flex");
    let out = entrannas(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", stderr(&out));

    let killed = dir.path().join("killed");
    let args = run(&killed, "flex");
    kill_when(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        |line| line.starts_with("epoch 2 step 10/12"),
    );
    let state = |run: &Path| read_json(&run.join("last/state.json"));
    assert_eq!(state(&killed)["epochs_done"], 1);

    let out = entrannas(&[
        "train",
        "--resume",
        killed.to_str().unwrap(),
        "--device",
        "ndarray",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("(ndarray)"), "{}", stderr(&out));
    assert_eq!(state(&killed)["epochs_done"], 2);
    let (a, b) = (
        history_without_times(&straight),
        history_without_times(&killed),
    );
    assert_eq!((a.len(), b.len()), (2, 2));
    // The first epoch ran on flex in both; the second ran on another backend from the
    // same checkpoint, so it agrees up to the backends' rounding.
    assert_eq!(a[0], b[0]);
    for field in ["train_loss", "test_loss"] {
        let (x, y) = (a[1][field].as_f64().unwrap(), b[1][field].as_f64().unwrap());
        assert!((x - y).abs() <= 1e-3 * x.abs(), "{field}: {x} vs {y}");
    }
}

#[test]
fn a_run_directory_being_written_is_refused_to_a_second_process() {
    // This test process holds the directories' locks as a running search or training
    // would; the CLI, another process, must not write into them.
    let dir = tempfile::tempdir().unwrap();
    let search = dir.path().join("search");
    let out = search_into(&search, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let train = dir.path().join("train");
    let train_args = [
        "train",
        "darts_v2",
        "--out",
        train.to_str().unwrap(),
        "--channels",
        "4",
        "--layers",
        "3",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--steps-per-epoch",
        "2",
        "--eval-limit",
        "8",
    ];
    let out = entrannas(&train_args);
    assert!(out.status.success(), "{}", stderr(&out));
    let history = |run: &Path| std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    let before = (history(&search), history(&train));

    let held = [
        entrannas_run::RunLock::acquire(&search).unwrap(),
        entrannas_run::RunLock::acquire(&train).unwrap(),
    ];
    let refused = |args: &[&str], run: &Path| {
        let out = entrannas(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let message = stderr(&out);
        assert!(
            message.contains("in use by another entrannas process"),
            "{message}"
        );
        assert!(message.contains(&run.display().to_string()), "{message}");
        assert!(
            message.contains(&format!("process {}", std::process::id())),
            "{message}"
        );
    };
    refused(&["search", "--resume", search.to_str().unwrap()], &search);
    let mut force = vec!["search", "--out", search.to_str().unwrap(), "--force"];
    force.extend(TINY_SEARCH);
    refused(&force, &search);
    refused(&["train", "--resume", train.to_str().unwrap()], &train);
    let mut force = train_args.to_vec();
    force.push("--force");
    refused(&force, &train);
    // Nothing was cleared or rewritten.
    assert_eq!((history(&search), history(&train)), before);

    // Released (as when the other process ends), the directories are usable again.
    drop(held);
    let out = entrannas(&force);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_search_killed_while_writing_its_checkpoint_resumes_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight");
    let out = search_into(&straight, &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    // The epoch's summary line comes just before its run files and checkpoint are
    // written: killing on it lands before or during those writes. Whatever it leaves
    // behind must resume to the same result.
    for epoch in 1..=2 {
        let killed = dir.path().join(format!("killed-{epoch}"));
        let mut args = vec!["search", "--out", killed.to_str().unwrap()];
        args.extend(TINY_SEARCH);
        let line = format!("epoch {epoch}/3:");
        kill_when(&args, |l| l.starts_with(&line));
        let out = entrannas(&["search", "--resume", killed.to_str().unwrap()]);
        assert!(out.status.success(), "epoch {epoch}: {}", stderr(&out));
        assert_same_search(&straight, &killed);
        for leftover in ["checkpoint.tmp", "checkpoint.old", "history.jsonl.tmp"] {
            assert!(!killed.join(leftover).exists(), "{leftover}");
        }
    }
}

#[test]
fn several_searches_write_a_summary_and_keep_the_best() {
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path().join("runs");
    let out = search_into(&parent, &["--runs", "2", "--seed", "5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = read_json(&parent.join("summary.json"));
    let runs = summary["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for (i, name) in ["run-1-seed-5", "run-2-seed-6"].iter().enumerate() {
        assert_eq!(runs[i]["dir"], *name);
        assert!(parent.join(name).join("report.html").is_file(), "{name}");
    }
    // The searches measure the child-net after BN recalibration (the default), and
    // the best is chosen on that accuracy.
    let accuracy = |i: usize| {
        runs[i]["selection"]["child_accuracy_recalibrated"]
            .as_f64()
            .unwrap()
    };
    let best = summary["best"].as_u64().unwrap() as usize;
    assert_eq!(best, usize::from(accuracy(1) > accuracy(0)));
    let best_dir = parent.join(runs[best]["dir"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(parent.join("genotype.json")).unwrap(),
        std::fs::read_to_string(best_dir.join("genotype.json")).unwrap()
    );
    assert!(parent.join("summary.csv").is_file());
    let err = stderr(&out);
    assert!(
        err.contains("* kept: highest child-net accuracy") && err.contains("summary.csv"),
        "{err}"
    );
    assert!(
        err.contains(" re-BN "),
        "each epoch's line gives the recalibrated child: {err}"
    );
    assert!(
        err.contains(", derivation changed ") && err.contains(" steps ago"),
        "each epoch's line gives the derivation's stability: {err}"
    );
    assert!(
        err.contains(", largest op weight 0."),
        "each epoch's line gives how sharp the op distributions are: {err}"
    );
    assert!(stdout(&out).starts_with("Genotype("));

    // Resuming the finished parent reads both searches back.
    let out = entrannas(&["search", "--resume", parent.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("epoch 1/3:"), "{}", stderr(&out));
    // --runs 0 is bad input.
    let out = search_into(&dir.path().join("none"), &["--runs", "0"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_search_ends_by_saying_where_its_files_are() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let mut args = vec!["search", "--out", run.to_str().unwrap()];
    args.extend(&TINY_SEARCH[4..]);
    args.extend(["--epochs", "1", "--steps-per-epoch", "2"]);
    let out = entrannas(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let tail: Vec<&str> = err.lines().rev().take(4).collect();
    for file in [
        "genotype.json",
        "genotype.txt",
        "normal.svg",
        "reduce.svg",
        "report.html",
    ] {
        let path = run.join(file);
        assert!(path.is_file(), "{file}");
        assert!(
            tail.iter().any(|l| l.contains(&path.display().to_string())),
            "{file} not in the last lines:\n{err}"
        );
    }
}

#[test]
fn a_sharded_search_records_its_shards_and_resumes_to_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight");
    let out = search_into(&straight, &["--shards", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("batch 8 in 3 data-parallel shards"),
        "{}",
        stderr(&out)
    );
    let config = std::fs::read_to_string(straight.join("config.json")).unwrap();
    assert!(config.contains("\"shards\": 3"), "{config}");

    let killed = dir.path().join("killed");
    let mut args = vec!["search", "--out", killed.to_str().unwrap(), "--shards", "3"];
    args.extend(TINY_SEARCH);
    kill_when(&args, |line| line.starts_with("epoch 2 step 10/12"));
    let out = entrannas(&["search", "--resume", killed.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_same_search(&straight, &killed);

    // The shards belong to the run's configuration.
    let out = entrannas(&[
        "search",
        "--resume",
        killed.to_str().unwrap(),
        "--shards",
        "2",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("config.json"), "{}", stderr(&out));
    // More devices than the run's shards: named before any device is opened.
    let out = entrannas(&[
        "search",
        "--resume",
        straight.to_str().unwrap(),
        "--device",
        "cuda:0,cuda:1,cuda:2,cuda:3",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("searched in 3 shard(s), fewer than the 4 devices given"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn device_lists_name_what_is_wrong_with_them() {
    let dir = tempfile::tempdir().unwrap();
    for (devices, expected) in [
        ("flex,flex", "listed twice"),
        ("flex,ndarray", "mix backends"),
        ("flex,gpu", "invalid device `gpu`"),
    ] {
        let out = search_into(&dir.path().join("run"), &["--device", devices]);
        assert_eq!(out.status.code(), Some(2), "{devices}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expected),
            "{devices}: {}",
            stderr(&out)
        );
    }
    let out = search_into(&dir.path().join("run"), &["--shards", "9"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("shards must be between 1 and the batch size 8, got 9"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bench_json_names_the_device_and_the_depthwise_strategy() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let out = entrannas(&[
        "--depthwise",
        "taps",
        "bench",
        "--device",
        "flex",
        "--rungs",
        "bottleneck",
        "--batch-sizes",
        "2",
        "--channels",
        "4",
        "--layers",
        "3",
        "--image",
        "3x8x8",
        "--steps",
        "1",
        "--warmup",
        "0",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let figures = read_json(&json);
    assert_eq!(figures["depthwise"], "taps");
    assert_eq!(figures["device"], "flex");
    assert_eq!(figures["rows"].as_array().unwrap().len(), 1);
}
