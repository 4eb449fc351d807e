//! Runs every example's code path end to end at a tiny size on the embedded data:
//! two steps per epoch, 16 validation images, C = 4, 3 cells, 2 nodes.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use clap::Parser;
use entrannas_examples::custom_op::{self, CustomOpArgs, SEP_CONV_7X7};
use entrannas_examples::extended_space::{self, ExtendedSpaceArgs};
use entrannas_examples::lambda_sweep::{self, LambdaSweepArgs};
use entrannas_examples::table1::{self, Table1Args};

/// burn's CPU backends seed one process-wide generator: the tests take turns.
static SEEDED: Mutex<()> = Mutex::new(());

fn seeded() -> MutexGuard<'static, ()> {
    SEEDED.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Parser)]
struct Cli<T: clap::Args> {
    #[command(flatten)]
    args: T,
}

/// The tiny flags, writing below `out`, then `extra`.
fn parse<T: clap::Args>(out: &Path, extra: &[&str]) -> T {
    let out = out.display().to_string();
    let mut argv = vec![
        "example",
        "--epochs",
        "2",
        "--channels",
        "4",
        "--layers",
        "3",
        "--nodes",
        "2",
        "--batch-size",
        "8",
        "--steps-per-epoch",
        "2",
        "--eval-limit",
        "16",
        "--out",
        &out,
    ];
    argv.extend_from_slice(extra);
    Cli::<T>::parse_from(argv).args
}

/// Each row's label (first column) and seed (column `seed`).
fn labels_and_seeds(rows: &[Vec<String>], seed: usize) -> Vec<(&str, &str)> {
    rows.iter()
        .map(|r| (r[0].as_str(), r[seed].as_str()))
        .collect()
}

fn assert_run_dir(dir: &Path) {
    for file in [
        "config.json",
        "environment.json",
        "genotype.json",
        "report.html",
        "evolution.html",
    ] {
        assert!(
            dir.join(file).is_file(),
            "{} missing",
            dir.join(file).display()
        );
    }
}

#[test]
fn table1_runs_every_placement_and_darts() {
    let _turn = seeded();
    let tmp = tempfile::tempdir().unwrap();
    let args: Table1Args = parse(tmp.path(), &["--with-darts"]);
    let report = table1::run(&args).unwrap();
    let labels: Vec<&str> = report.table.rows().iter().map(|r| r[0].as_str()).collect();
    assert_eq!(labels, ["all", "half", "last", "first", "darts"]);
    for label in &labels {
        assert_run_dir(&tmp.path().join(label));
    }
    // Every row has both networks' accuracies after BN recalibration, percentages,
    // and their difference as the recalibrated drop.
    for row in report.table.rows() {
        let supernet: f64 = row[4].parse().unwrap();
        let child: f64 = row[5].parse().unwrap();
        assert!((0.0..=100.0).contains(&supernet), "{row:?}");
        assert!((0.0..=100.0).contains(&child), "{row:?}");
        let drop: f64 = row[6].parse().unwrap();
        assert!((drop - (supernet - child)).abs() <= 0.011, "{row:?}");
        // The Engine weight outside the child, normal/reduction: a share, and the
        // last epoch's record.
        let (n, r) = row[7].split_once('/').unwrap();
        let history: Vec<entrannas_search::EpochRecord> =
            entrannas_run::RunDir::open(tmp.path().join(&row[0]))
                .unwrap()
                .history(2)
                .unwrap();
        let last = history.last().unwrap();
        let recorded = [
            last.normal.weight_outside_child,
            last.reduce.weight_outside_child,
        ];
        for (share, recorded) in [n, r].into_iter().zip(recorded) {
            let share: f64 = share.parse().unwrap();
            assert!(
                (share - 100.0 * recorded.unwrap()).abs() <= 0.051,
                "{row:?}"
            );
            assert!(share > 0.0 && share < 100.0, "{row:?}");
        }
    }
    // The verdict is stated either way, for both statistics, and the table is saved.
    let text = report.to_string();
    assert!(text.to_lowercase().contains("as in the paper"), "{text}");
    assert!(
        text.contains("in the paper (both networks after BN recalibration)"),
        "{text}"
    );
    assert!(
        text.contains("in the paper (running BN statistics)"),
        "{text}"
    );
    let saved = std::fs::read_to_string(tmp.path().join("summary.md")).unwrap();
    assert_eq!(saved, text);
    // A second run into the same directory is refused without --force.
    assert!(table1::run(&args).is_err());
    // A subset of placements runs in the paper's row order, and the ordering is
    // still judged when `first` and `all` are among them.
    // Without the recalibrated measurement its columns are dashes and its verdict
    // is left out.
    let subset: Table1Args = parse(
        &tmp.path().join("subset"),
        &["--placements", "first,all", "--child-bn-batches", "0"],
    );
    let report = table1::run(&subset).unwrap();
    let labels: Vec<&str> = report.table.rows().iter().map(|r| r[0].as_str()).collect();
    assert_eq!(labels, ["all", "first"]);
    assert!(
        report
            .table
            .rows()
            .iter()
            .all(|r| r[4] == "-" && r[5] == "-" && r[6] == "-")
    );
    let text = report.to_string();
    assert!(!text.contains("did not run"), "{text}");
    assert!(text.to_lowercase().contains("as in the paper"), "{text}");
    assert!(!text.contains("after BN recalibration"), "{text}");
    let bad = Cli::<Table1Args>::try_parse_from(["example", "--placements", "middle"]);
    assert!(bad.is_err());
    let none: Table1Args = parse(&tmp.path().join("none"), &["--seeds", "0"]);
    assert!(
        table1::run(&none)
            .unwrap_err()
            .to_string()
            .contains("--seeds")
    );
}

#[test]
fn table1_with_seeds_judges_each_placements_mean() {
    let _turn = seeded();
    let tmp = tempfile::tempdir().unwrap();
    let args: Table1Args = parse(
        tmp.path(),
        &["--placements", "first,all", "--seeds", "2", "--seed", "7"],
    );
    let report = table1::run(&args).unwrap();
    let rows = report.table.rows();
    assert_eq!(
        labels_and_seeds(rows, rows[0].len() - 1),
        [
            ("all-seed-7", "7"),
            ("all-seed-8", "8"),
            ("first-seed-7", "7"),
            ("first-seed-8", "8"),
            ("all, mean ± std", "2"),
            ("first, mean ± std", "2"),
        ]
    );
    for dir in ["all-seed-7", "all-seed-8", "first-seed-7", "first-seed-8"] {
        assert_run_dir(&tmp.path().join(dir));
    }
    // Sharpness, late derivation changes and dropped edges won by `none`, per search:
    // `all` refreshes no derivation per step (every cell an Engine cell).
    for row in &rows[..4] {
        let (n, r) = row[8].split_once('/').unwrap();
        for v in [n, r] {
            let v: f64 = v.parse().unwrap();
            assert!((0.125..=1.0).contains(&v), "{row:?}");
        }
        if row[0].starts_with("all") {
            assert_eq!(row[9], "-", "{row:?}");
        } else {
            let (total, list) = row[9].split_once(" (").unwrap();
            let per_epoch: Vec<usize> = list
                .trim_end_matches(')')
                .split(' ')
                .map(|c| c.parse().unwrap())
                .collect();
            assert_eq!(
                total.parse::<usize>().unwrap(),
                per_epoch.iter().sum::<usize>()
            );
        }
        assert!(
            row[10].contains(" of ") && row[10].contains(" / "),
            "{row:?}"
        );
    }
    assert_eq!(rows[5][10], "-");
    // The mean rows: the seeds' mean super-net accuracy, the drop with its spread.
    let value = |row: usize, col: usize| -> f64 { rows[row][col].parse().unwrap() };
    let first_super = (value(2, 1) + value(3, 1)) / 2.0;
    assert!((value(5, 1) - first_super).abs() <= 0.011, "{rows:?}");
    let (mean, spread) = rows[5][3].split_once(" ± ").unwrap();
    let drops = [value(2, 3), value(3, 3)];
    let mean: f64 = mean.parse().unwrap();
    assert!(
        (mean - (drops[0] + drops[1]) / 2.0).abs() <= 0.011,
        "{rows:?}"
    );
    let spread: f64 = spread.parse().unwrap();
    assert!((spread - (drops[0] - drops[1]).abs() / 2f64.sqrt()).abs() <= 0.015);
    let text = report.to_string();
    assert!(
        text.contains("(both networks after BN recalibration, mean over 2 seeds)"),
        "{text}"
    );
}

#[test]
fn lambda_sweep_runs_each_lambda_in_increasing_order() {
    let _turn = seeded();
    let tmp = tempfile::tempdir().unwrap();
    let args: LambdaSweepArgs = parse(tmp.path(), &["--lambdas", "0.2,0.05", "--seeds", "1"]);
    let report = lambda_sweep::run(&args).unwrap();
    let lambdas: Vec<&str> = report.table.rows().iter().map(|r| r[0].as_str()).collect();
    assert_eq!(lambdas, ["0.05", "0.2"]);
    assert_run_dir(&tmp.path().join("lambda-0.05"));
    assert_run_dir(&tmp.path().join("lambda-0.2"));
    // Paper columns are filled for the paper's values.
    assert_eq!(report.table.rows()[0][8], "13/14");
    // Each row gives its cells' mean threshold, normal/reduction, both in (0, 1).
    for row in report.table.rows() {
        let (n, r) = row[12].split_once('/').unwrap();
        for t in [n, r] {
            let t: f64 = t.parse().unwrap();
            assert!(t > 0.0 && t < 1.0, "{row:?}");
        }
    }
    // The thresholds' verdict, beside the connections' one, names every lambda.
    let text = report.to_string();
    let note = text
        .lines()
        .find(|l| l.starts_with("Thresholds: the mean t(j)"))
        .unwrap_or_else(|| panic!("no threshold note: {text}"));
    assert!(
        note.contains("lambda 0.05: 0.") && note.contains("lambda 0.2: 0."),
        "{note}"
    );
    // An interrupted sweep resumes: the finished search is read back unchanged, the
    // missing one runs again, and the table is the same (search times aside: column 7).
    let finished = tmp.path().join("lambda-0.05").join("history.jsonl");
    let before = std::fs::read(&finished).unwrap();
    std::fs::remove_dir_all(tmp.path().join("lambda-0.2")).unwrap();
    let resume: LambdaSweepArgs = parse(
        tmp.path(),
        &["--lambdas", "0.2,0.05", "--seeds", "1", "--resume"],
    );
    let resumed = lambda_sweep::run(&resume).unwrap();
    let without_time = |rows: &[Vec<String>]| -> Vec<Vec<String>> {
        rows.iter().map(|r| [&r[..7], &r[8..]].concat()).collect()
    };
    assert_eq!(
        without_time(resumed.table.rows()),
        without_time(report.table.rows())
    );
    assert_eq!(std::fs::read(&finished).unwrap(), before);
    assert_run_dir(&tmp.path().join("lambda-0.2"));
    // Resuming with other flags is refused, naming the run and the field.
    let other: LambdaSweepArgs = parse(
        tmp.path(),
        &[
            "--lambdas",
            "0.2,0.05",
            "--seeds",
            "1",
            "--resume",
            "--arch-lr",
            "0.5",
        ],
    );
    let err = lambda_sweep::run(&other).unwrap_err().to_string();
    assert!(
        err.contains("lambda-0.05") && err.contains("arch_lr: 0.01 vs 0.5"),
        "{err}"
    );
    assert!(Cli::<LambdaSweepArgs>::try_parse_from(["example", "--force", "--resume"]).is_err());
    let one: LambdaSweepArgs = parse(tmp.path(), &["--lambdas", "0.1,0.1"]);
    let err = lambda_sweep::run(&one).unwrap_err().to_string();
    assert!(err.contains("two distinct"), "{err}");
    let none: LambdaSweepArgs = parse(tmp.path(), &["--seeds", "0"]);
    let err = lambda_sweep::run(&none).unwrap_err().to_string();
    assert!(err.contains("--seeds"), "{err}");
    let max = u64::MAX.to_string();
    let past: LambdaSweepArgs = parse(tmp.path(), &["--seeds", "2", "--seed", &max]);
    let err = lambda_sweep::run(&past).unwrap_err().to_string();
    assert!(err.contains("--seeds 2"), "{err}");
}

#[test]
fn lambda_sweep_with_seeds_judges_each_lambdas_mean() {
    let _turn = seeded();
    let tmp = tempfile::tempdir().unwrap();
    let args: LambdaSweepArgs = parse(
        tmp.path(),
        &["--lambdas", "0.2,0.05", "--seeds", "2", "--seed", "5"],
    );
    let report = lambda_sweep::run(&args).unwrap();
    let rows = report.table.rows();
    assert_eq!(
        labels_and_seeds(rows, 11),
        [("0.05", "5"), ("0.05", "6"), ("0.2", "5"), ("0.2", "6")]
    );
    for dir in [
        "lambda-0.05-seed-5",
        "lambda-0.05-seed-6",
        "lambda-0.2-seed-5",
        "lambda-0.2-seed-6",
    ] {
        assert_run_dir(&tmp.path().join(dir));
    }
    // The verdict names each lambda's mean of normal + reduction connections.
    let total = |row: &Vec<String>| -> f64 {
        let (n, r) = row[1].split_once('/').unwrap();
        n.parse::<f64>().unwrap() + r.parse::<f64>().unwrap()
    };
    let mean = |a: usize| (total(&rows[a]) + total(&rows[a + 1])) / 2.0;
    let text = report.to_string();
    let summary = format!("lambda 0.05: {}, lambda 0.2: {}", mean(0), mean(2));
    assert!(text.contains(&summary), "{summary} not in {text}");
    assert_eq!(report.as_expected, mean(2) < mean(0));
}

#[test]
fn extended_space_runs_both_spaces() {
    let _turn = seeded();
    let tmp = tempfile::tempdir().unwrap();
    let args: ExtendedSpaceArgs = parse(tmp.path(), &[]);
    let report = extended_space::run(&args).unwrap();
    let rows = report.table.rows();
    assert_eq!(
        (rows[0][0].as_str(), rows[0][1].as_str()),
        ("standard", "7")
    );
    assert_eq!(
        (rows[1][0].as_str(), rows[1][1].as_str()),
        ("extended", "12")
    );
    assert_run_dir(&tmp.path().join("standard"));
    assert_run_dir(&tmp.path().join("extended"));
}

#[test]
fn child_bn_evaluates_a_finished_search_three_ways() {
    let _turn = seeded();
    let tmp = tempfile::tempdir().unwrap();
    let args: ExtendedSpaceArgs = parse(tmp.path(), &[]);
    extended_space::run(&args).unwrap();
    let c = entrannas_examples::child_bn::check(&tmp.path().join("standard"), None).unwrap();
    for v in [
        c.supernet,
        c.child,
        c.supernet_recalibrated,
        c.child_recalibrated,
        c.child_batch_stats,
    ] {
        assert!((0.0..=1.0).contains(&v), "{c:?}");
    }
    let config = entrannas_search::SearchConfig::from_run(
        &entrannas_run::RunDir::open(tmp.path().join("standard")).unwrap(),
    )
    .unwrap();
    assert_eq!(c.calibration_batches, config.child_bn_batches);
    let one = entrannas_examples::child_bn::check(&tmp.path().join("standard"), Some(1)).unwrap();
    assert_eq!(one.calibration_batches, 1);
    assert_eq!((one.supernet, one.child), (c.supernet, c.child));
    assert_eq!(
        entrannas_examples::child_bn::table(&[c, one]).rows()[1][5],
        "1"
    );
    let err = entrannas_examples::child_bn::check(tmp.path(), Some(2))
        .unwrap_err()
        .to_string();
    assert!(err.contains("config.json"), "{err}");
}

#[test]
fn a_registered_op_is_searched_trained_and_reloaded() {
    let _seeded = seeded();
    let dir = tempfile::tempdir().unwrap();
    // Only the registered op besides `none`: every derived connection names it.
    let args: CustomOpArgs = parse(dir.path(), &["--ops", "none,sep_conv_7x7"]);
    let outcome = custom_op::run(&args).unwrap();
    assert_eq!(
        outcome.connections, 8,
        "2 nodes, 2 inputs each, 2 cell types"
    );
    assert_eq!(outcome.custom_connections, outcome.connections);
    assert!(
        outcome
            .genotype
            .to_darts_text()
            .contains(&format!("('{SEP_CONV_7X7}', 0)"))
    );
    assert!(outcome.search_dir.join("genotype.json").is_file());
    let config = std::fs::read_to_string(outcome.search_dir.join("config.json")).unwrap();
    assert!(config.contains(SEP_CONV_7X7), "{config}");
    // The reloaded net computes what the trained one did.
    assert_eq!(outcome.reloaded_accuracy, outcome.trained_accuracy);
    // An unknown op is an error naming it and the registered ones.
    let args: CustomOpArgs = parse(&dir.path().join("bad"), &["--ops", "none,sep_conv_9x9"]);
    let err = custom_op::run(&args).unwrap_err().to_string();
    assert!(
        err.contains("unknown candidate op `sep_conv_9x9`") && err.contains(SEP_CONV_7X7),
        "{err}"
    );
}

#[test]
fn cell_drift_reads_a_runs_checkpoint_and_reports_every_cell() {
    use entrannas_examples::cell_drift::{self, CellDriftArgs};
    let _seeded = seeded();
    let dir = tempfile::tempdir().unwrap();
    // A search over built-in ops (the custom-op example's code path, another list).
    let ops = "none,skip_connect,max_pool_3x3,sep_conv_3x3";
    let args: CustomOpArgs = parse(dir.path(), &["--ops", ops]);
    let outcome = custom_op::run(&args).unwrap();
    let drift_args = |run: &Path| {
        Cli::<CellDriftArgs>::parse_from(["cell_drift", run.to_str().unwrap(), "--batches", "2"])
            .args
    };
    let report = cell_drift::run(&drift_args(&outcome.search_dir)).unwrap();
    assert_eq!((report.epochs, report.cells.len()), (2, 3));
    assert!(report.cells[0].engine && report.cells[0].local_difference > 0.0);
    assert!(
        report
            .cells
            .iter()
            .filter(|c| !c.engine)
            .all(|c| c.local_difference == 0.0)
    );
    let table = report.table();
    assert_eq!(table.lines().count(), 2 + 3, "{table}");
    // A run without a checkpoint is an error naming it.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert!(cell_drift::run(&drift_args(&empty)).is_err());
}

#[test]
fn gap_decomposition_edits_the_engine_cells_and_both_edits_give_the_child_net() {
    use entrannas_examples::gap_decomposition::{self, GapArgs};
    let _seeded = seeded();
    let dir = tempfile::tempdir().unwrap();
    let ops = "none,skip_connect,max_pool_3x3,sep_conv_3x3";
    let args: CustomOpArgs = parse(dir.path(), &["--ops", ops]);
    let outcome = custom_op::run(&args).unwrap();
    let gap_args = |run: &Path, taus: &str| {
        Cli::<GapArgs>::parse_from(["gap_decomposition", run.to_str().unwrap(), "--taus", taus])
            .args
    };
    let report = gap_decomposition::run(&gap_args(&outcome.search_dir, "0.5")).unwrap();
    assert_eq!(report.epochs, 2);
    // learned, dropped off, one-hot, both, one temperature, argmax.
    assert_eq!(report.variants.len(), 6);
    // Editing every pair but the derived ones to 0 and those to 1 is the child-net:
    // the same prediction for every image but where rounding flips a near tie.
    let both = report.variants[3].accuracy;
    assert!(
        (both - report.child).abs() <= 0.02,
        "{both} vs {}",
        report.child
    );
    for d in report.dropped {
        assert!(d.still_computed <= d.dropped && d.dropped > 0, "{d:?}");
    }
    let table = report.table();
    assert_eq!(table.lines().count(), 2 + 6 + 1, "{table}");
    // A temperature that is not positive is refused before anything is loaded.
    assert!(gap_decomposition::run(&gap_args(&outcome.search_dir, "0")).is_err());
}
