//! Reports and evolution pages of tiny search and training runs written from the
//! crates' own record types.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use entrannas_cell::{Genotype, TargetCost, TargetLayout, TargetNetSpec};
use entrannas_diagram::genotype_svg;
use entrannas_eval::TrainConfig;
use entrannas_relax::{ArchFile, CellArch};
use entrannas_report::html::{check_well_formed, external_references};
use entrannas_report::{
    ReportError, Run, RunKind, detect_kind, load_run, write_evolution, write_report,
};
use entrannas_search::CellDiagnostics;
use entrannas_search::{EpochRecord, Method, SearchConfig};

const SELECTED: usize = 1;

fn arch(ops: &[String], dst: bool, tau: f64) -> ArchFile {
    let cell = |shift: f64| CellArch {
        alpha: (0..14)
            .map(|e| {
                (0..ops.len())
                    .map(|k| shift + 0.01 * (e * k) as f64)
                    .collect()
            })
            .collect(),
        beta: dst.then(|| vec![0.1, -0.2, 0.3, 0.0]),
    };
    ArchFile {
        ops: ops.to_vec(),
        inputs: 2,
        nodes: 4,
        tau,
        normal: cell(0.0),
        reduce: cell(0.5),
    }
}

fn diagnostics(genotype: &Genotype, reduce: bool, dst: bool, epoch: usize) -> CellDiagnostics {
    let cell = if reduce {
        &genotype.reduce
    } else {
        &genotype.normal
    };
    let stats = cell.stats();
    CellDiagnostics {
        connections: stats.connections,
        edges: stats.edges,
        skip_connects: stats.skip_connects,
        parameter_free: stats.parameter_free,
        op_entropy: 1.9 - 0.3 * epoch as f64,
        thresholds: dst.then(|| vec![0.45, 0.5 + 0.01 * epoch as f64, 0.55, 0.6]),
        weight_outside_child: Some(if dst { 0.0 } else { 0.43 - 0.1 * epoch as f64 }),
        mean_largest_coefficient: Some(0.2 + 0.3 * epoch as f64),
        dropped_edges: Some(entrannas_relax::DroppedEdges {
            edges: 14 - stats.edges,
            to_none: 1,
        }),
    }
}

fn search_history(method: Method) -> (SearchConfig, Vec<EpochRecord>) {
    let config = SearchConfig::new()
        .with_method(method)
        .with_epochs(3)
        .with_channels(4)
        .with_layers(3)
        .with_batch_size(8)
        .with_dataset("fashion-mnist".into());
    let dst = method == Method::Dst;
    let ops = config.ops();
    let genotypes = [
        entrannas_cell::darts_v1(),
        entrannas_cell::pc_darts(),
        entrannas_cell::darts_v2(),
    ];
    let child = [0.5, 0.8, 0.7];
    let history = genotypes
        .into_iter()
        .enumerate()
        .map(|(epoch, genotype)| {
            let tau = 5.0 * 0.923f64.powi(epoch as i32);
            EpochRecord {
                epoch,
                lr: config.lr_at(epoch),
                tau,
                train_loss: 2.0 - 0.3 * epoch as f64,
                train_accuracy: 0.4 + 0.1 * epoch as f64,
                arch_loss: 2.1 - 0.25 * epoch as f64,
                supernet_accuracy: child[epoch] + 0.02,
                child_accuracy: child[epoch],
                gap: 0.02,
                // A top-2 history as an earlier version wrote it: not measured.
                supernet_accuracy_recalibrated: dst.then(|| child[epoch] + 0.01),
                child_accuracy_recalibrated: dst.then(|| child[epoch] - 0.05),
                // Likewise for the derivation's stability.
                derivation_changes: dst.then_some(137 - epoch),
                derivation_stable_steps: dst.then_some(29 + epoch),
                normal: diagnostics(&genotype, false, dst, epoch),
                reduce: diagnostics(&genotype, true, dst, epoch),
                genotype,
                target_params: Some(3_000_000 + 100_000 * epoch as u64),
                target_flops: Some(500_000_000 + 1_000_000 * epoch as u64),
                seconds: 60.0 + epoch as f64,
                images_per_second: 1200.0,
                arch: arch(&ops, dst, tau),
            }
        })
        .collect();
    (config, history)
}

fn write_history<R: serde::Serialize>(dir: &Path, history: &[R]) {
    let mut jsonl = String::new();
    for r in history {
        jsonl.push_str(&serde_json::to_string(r).unwrap());
        jsonl.push('\n');
    }
    fs::write(dir.join("history.jsonl"), jsonl).unwrap();
}

/// A search run directory as `run_search` and the CLI leave it.
fn search_run(dir: &Path, method: Method) -> Vec<EpochRecord> {
    fs::create_dir_all(dir).unwrap();
    let (config, history) = search_history(method);
    fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&config).unwrap(),
    )
    .unwrap();
    write_history(dir, &history);
    let selection = entrannas_search::select(&history).unwrap();
    assert_eq!(selection.epoch, SELECTED);
    fs::write(
        dir.join("selection.json"),
        serde_json::to_string_pretty(&selection).unwrap(),
    )
    .unwrap();
    fs::write(
        dir.join("genotype.json"),
        history[SELECTED].genotype.to_json(),
    )
    .unwrap();
    fs::write(
        dir.join("environment.json"),
        serde_json::json!({
            "entrannas": "0.1.0",
            "burn": "0.21.0",
            "device": "test-device <cuda:0>",
            "dataset": "/data/fashion-mnist",
            "command": ["entrannas", "search", "--method", "dst"],
            "started_unix": 1_738_331_100u64,
        })
        .to_string(),
    )
    .unwrap();
    history
}

fn train_history() -> (TrainConfig, Vec<entrannas_eval::EpochRecord>) {
    let config = TrainConfig::new()
        .with_epochs(3)
        .with_channels(8)
        .with_layers(5)
        .with_dataset("fashion-mnist".into());
    let test = [0.6, 0.75, 0.74];
    let history = (0..3)
        .map(|epoch| entrannas_eval::EpochRecord {
            epoch,
            lr: config.lr_at(epoch),
            drop_path: config.drop_path_at(epoch),
            train_loss: 1.5 - 0.4 * epoch as f64,
            train_accuracy: 0.5 + 0.15 * epoch as f64,
            test_loss: 1.2 - 0.3 * epoch as f64,
            test_accuracy: test[epoch],
            seconds: 30.0,
            images_per_second: 900.0,
        })
        .collect();
    (config, history)
}

/// A training run directory as `TrainJob::run` leaves it.
fn train_run(dir: &Path) -> Vec<entrannas_eval::EpochRecord> {
    fs::create_dir_all(dir).unwrap();
    let (config, history) = train_history();
    fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&config).unwrap(),
    )
    .unwrap();
    write_history(dir, &history);
    fs::write(
        dir.join("genotype.json"),
        entrannas_cell::darts_v2().to_json(),
    )
    .unwrap();
    let spec = TargetNetSpec::for_shape(TargetLayout::Cifar, [1, 28, 28], 10);
    fs::write(
        dir.join("net.json"),
        serde_json::to_string_pretty(&spec).unwrap(),
    )
    .unwrap();
    let cost = TargetCost {
        params: 1_234_567,
        flops: 98_765_432,
        auxiliary_params: 4_321,
    };
    fs::write(
        dir.join("cost.json"),
        serde_json::to_string_pretty(&cost).unwrap(),
    )
    .unwrap();
    history
}

/// Well-formed, self-contained, no duplicate ids, no XML prolog inside the page.
fn assert_self_contained(html: &str) {
    check_well_formed(html).unwrap_or_else(|e| panic!("{e}"));
    let external = external_references(html);
    assert!(external.is_empty(), "external references: {external:?}");
    assert!(!html.contains("<?xml"), "an inlined SVG kept its prolog");
    assert!(html.starts_with("<!DOCTYPE html>"));
    let mut ids = HashSet::new();
    for piece in html.split(" id=\"").skip(1) {
        let id = piece.split('"').next().unwrap();
        assert!(ids.insert(id.to_string()), "duplicate id {id}");
    }
}

#[test]
fn search_report_shows_curves_cells_diagnostics_and_the_selected_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("search");
    let history = search_run(&dir, Method::Dst);
    assert_eq!(detect_kind(&dir).unwrap(), RunKind::Search);
    let path = write_report(&dir).unwrap();
    assert_eq!(path, dir.join("report.html"));
    let html = fs::read_to_string(&path).unwrap();
    assert_self_contained(&html);
    assert!(!html.contains("<script"), "the report needs no script");

    assert!(
        html.contains("Selected epoch: <b>epoch 2</b>"),
        "selection missing"
    );
    assert!(html.contains("best child-net accuracy on the architecture split"));
    assert!(html.contains(">selected (2)</text>"), "plot marker missing");
    assert_eq!(html.matches("<tr class=\"selected\">").count(), 1);
    // Both cells of genotype.json, plus curves and diagnostics plots.
    assert!(html.contains("<title>normal cell</title>"));
    assert!(html.contains("<title>reduction cell</title>"));
    for title in [
        "Losses",
        "Accuracy",
        "Super-net minus child-net",
        "Kept connections",
        "Op-weight entropy and temperature",
        "DST thresholds t(j)",
        "Derived target-net size",
    ] {
        assert!(html.contains(&format!("<title>{title}</title>")), "{title}");
    }
    for legend in [
        "super-net (val)",
        "child-net (val)",
        "super-net, re-BN (val)",
        "child-net, re-BN (val)",
        "gap, re-BN",
        "arch (validation)",
        "normal t(0)",
    ] {
        assert!(html.contains(&format!(">{legend}</text>")), "{legend}");
    }
    // The selected epoch's recalibrated accuracy (0.8 - 0.05), and the rule says which
    // accuracy the selection compared.
    assert!(html.contains("75.00% after BN recalibration"));
    // Both recalibrated networks of the selected epoch and their gap (0.81 - 0.75).
    assert!(
        html.contains("<tr><th>super-net accuracy after BN recalibration</th><td>81.00%</td></tr>")
    );
    assert!(html.contains("<tr><th>gap after BN recalibration</th><td>+6.00 pp</td></tr>"));
    assert!(html.contains("after BN recalibration (ties: later epoch)"));
    let svgs = html.matches("<svg").count();
    assert_eq!(svgs, 2 + 3 + 6, "cells, curves, diagnostics");
    // Params and FLOPs of the selected epoch.
    assert!(html.contains("3,100,000 (3.10 M)"));
    assert!(html.contains("501,000,000 (501.00 M)"));
    // Per-epoch diagnostics: skip count and thresholds of every epoch.
    for r in &history {
        assert!(html.contains(&format!("{:.3}", r.normal.op_entropy)));
    }
    assert!(html.contains("0.450 0.520 0.550 0.600"));
    // The derivation's changes and the steps since the last one, per epoch.
    assert!(html.contains("<th rowspan=\"2\">derivation changes</th>"));
    for r in &history {
        let (changes, stable) = (
            r.derivation_changes.unwrap(),
            r.derivation_stable_steps.unwrap(),
        );
        assert!(
            html.contains(&format!(
                "<td class=\"num\">{changes}</td><td class=\"num\">{stable}</td>"
            )),
            "epoch {}",
            r.epoch
        );
    }
    // Environment and cost.
    assert!(html.contains("test-device &lt;cuda:0&gt;"));
    assert!(html.contains("2025-01-31 13:45:00 UTC"));
    assert!(html.contains("3 min 03 s"), "total wall time 183 s");
    assert!(html.contains("1200.0 images/s"));
    // Configuration.
    assert!(html.contains("<th>lambda</th>"));
    assert!(html.contains("<code>dst</code>"));
}

#[test]
fn evolution_has_one_frame_per_epoch_inline_and_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("search");
    let history = search_run(&dir, Method::Dst);
    let frames = dir.join("evolution");
    fs::create_dir_all(&frames).unwrap();
    fs::write(frames.join("epoch_007.svg"), "stale").unwrap();
    fs::write(frames.join("notes.txt"), "mine").unwrap();

    let path = write_evolution(&dir).unwrap();
    assert_eq!(path, dir.join("evolution.html"));
    for r in &history {
        let frame =
            fs::read_to_string(frames.join(format!("epoch_{:03}.svg", r.epoch + 1))).unwrap();
        assert_eq!(frame, genotype_svg(&r.genotype));
    }
    assert!(!frames.join("epoch_007.svg").exists(), "stale frame kept");
    assert!(
        frames.join("notes.txt").exists(),
        "a foreign file was removed"
    );

    let html = fs::read_to_string(&path).unwrap();
    assert_self_contained(&html);
    assert_eq!(html.matches("<svg").count(), history.len());
    let frames_html = html.split("<h2>All epochs</h2>").next().unwrap();
    let parts: Vec<&str> = frames_html.split("<div class=\"frame").skip(1).collect();
    assert_eq!(parts.len(), history.len());
    for (r, part) in history.iter().zip(&parts) {
        assert_eq!(part.matches("<svg").count(), 1);
        assert!(part.contains(&format!("data-epoch=\"{}\"", r.epoch + 1)));
        assert!(part.contains(&format!("<h2>Epoch {}", r.epoch + 1)));
        assert_eq!(
            part.contains("<span class=\"badge\">selected</span>"),
            r.epoch == SELECTED,
            "epoch {}",
            r.epoch
        );
        // Thresholds, active connections, temperature, child-net accuracy.
        let t1 = r.normal.thresholds.as_ref().unwrap()[1];
        assert!(
            part.contains(&format!("{t1:.4}")),
            "t(1) of epoch {}",
            r.epoch
        );
        assert!(part.contains(&format!(
            "normal {}, reduction {}",
            r.normal.connections, r.reduce.connections
        )));
        assert!(part.contains(&format!("{:.4}", r.tau)));
        assert!(part.contains(&format!("{:.2}%", 100.0 * r.child_accuracy)));
    }
    // The tables name nodes as the diagrams label them: the inputs c_{k-2}, c_{k-1},
    // intermediate nodes from 0 (the third epoch's cell is DARTS V2, whose normal
    // node 0 takes two sep_conv_3x3 from the inputs, node 3 a skip_connect from
    // c_{k-2} and a dil_conv_3x3 from node 0).
    assert!(parts[2].contains("sep_conv_3x3 from c_{k-2}, sep_conv_3x3 from c_{k-1}"));
    assert!(parts[2].contains("skip_connect from c_{k-2}, dil_conv_3x3 from 0"));
    // Only the first frame is shown before the script runs; the controls exist.
    assert_eq!(html.matches("class=\"frame active\"").count(), 1);
    for control in ["id=\"prev\"", "id=\"next\"", "id=\"slider\"", "max=\"2\""] {
        assert!(html.contains(control), "{control}");
    }
    assert_eq!(html.matches("<script>").count(), 1);
}

#[test]
fn a_top2_search_has_no_threshold_plot_and_says_so_in_the_evolution() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("entran");
    search_run(&dir, Method::Entran);
    let html = fs::read_to_string(write_report(&dir).unwrap()).unwrap();
    assert_self_contained(&html);
    assert!(!html.contains("DST thresholds"));
    // A history without the recalibrated measurement has no such curve.
    assert!(!html.contains("re-BN (val)"));
    assert!(html.contains("running statistics (ties: later epoch)"));
    let evolution = fs::read_to_string(write_evolution(&dir).unwrap()).unwrap();
    assert_self_contained(&evolution);
    assert!(evolution.contains("- (top-k rule)"));
    // The Engine weight the child-net drops: its curve and every epoch's share.
    assert!(html.contains(">Engine weight outside the child-net</text>"));
    for share in ["43.00%", "33.00%", "23.00%"] {
        assert!(
            html.contains(&format!("<td class=\"num\">{share}</td>")),
            "{share}"
        );
        // Each epoch's frame of the evolution page states it too.
        assert!(
            evolution.contains(&format!(
                "; {share} of the Engine weight outside the child."
            )),
            "{share}"
        );
    }
    let selected = ["43.00%", "33.00%", "23.00%"]
        .iter()
        .filter(|share| html.contains(&format!("; {share} of the Engine weight outside the child")))
        .count();
    assert_eq!(selected, 1, "the selected epoch's share, in its summary");
}

#[test]
fn histories_written_before_the_engine_weight_was_recorded_still_get_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("entran");
    search_run(&dir, Method::Entran);
    let path = dir.join("history.jsonl");
    let mut old = String::new();
    for line in fs::read_to_string(&path).unwrap().lines() {
        let mut record: serde_json::Value = serde_json::from_str(line).unwrap();
        for cell in ["normal", "reduce"] {
            let diagnostics = record[cell].as_object_mut().unwrap();
            assert!(diagnostics.remove("weight_outside_child").is_some());
        }
        old.push_str(&record.to_string());
        old.push('\n');
    }
    fs::write(&path, old).unwrap();
    let Run::Search(run) = load_run(&dir).unwrap() else {
        panic!("a search run");
    };
    assert!(
        run.history
            .iter()
            .all(|r| r.normal.weight_outside_child.is_none())
    );
    let html = fs::read_to_string(write_report(&dir).unwrap()).unwrap();
    assert!(!html.contains("Engine weight outside the child-net"));
    assert!(!html.contains("of the Engine weight outside the child"));
}

#[test]
fn train_report_shows_curves_cost_and_cells() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("train");
    train_run(&dir);
    assert_eq!(detect_kind(&dir).unwrap(), RunKind::Train);
    let html = fs::read_to_string(write_report(&dir).unwrap()).unwrap();
    assert_self_contained(&html);
    assert!(html.contains("Training report: train"));
    assert!(html.contains("1,234,567 (1.23 M)"), "params from cost.json");
    assert!(
        html.contains("98,765,432 (98.77 M)"),
        "FLOPs from cost.json"
    );
    assert!(
        html.contains("75.00% at epoch 2"),
        "best epoch, counted from 1"
    );
    assert!(html.contains(">best (2)</text>"));
    assert!(
        html.contains("<td class=\"num\">26.00%</td>"),
        "final test error"
    );
    for legend in ["train", "test", "learning rate", "drop-path"] {
        assert!(html.contains(&format!(">{legend}</text>")), "{legend}");
    }
    assert!(html.contains("<title>normal cell</title>"));
    assert!(html.contains("<th>image_size</th>"), "net.json");
    assert!(html.contains("No <code>environment.json</code>"));
    // A training run has no evolution.
    let err = write_evolution(&dir).unwrap_err();
    assert!(matches!(err, ReportError::NotASearchRun { .. }), "{err}");
    assert!(!dir.join("evolution.html").exists());
}

#[test]
fn a_diverged_run_with_nan_losses_still_gets_a_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nan");
    let mut history = search_run(&dir, Method::Dst);
    history[2].train_loss = f64::NAN;
    history[2].arch_loss = f64::INFINITY;
    history[2].normal.thresholds = Some(vec![f64::NAN, 0.5, 0.5, 0.5]);
    write_history(&dir, &history);
    assert!(
        fs::read_to_string(dir.join("history.jsonl"))
            .unwrap()
            .contains("null")
    );
    let Ok(entrannas_report::Run::Search(run)) = load_run(&dir) else {
        panic!("not read as a search run")
    };
    assert!(run.history[2].train_loss.is_nan() && run.history[2].arch_loss.is_nan());
    assert!(run.history[2].normal.thresholds.as_ref().unwrap()[0].is_nan());
    let unchanged: EpochRecord =
        serde_json::from_str(&serde_json::to_string(&history[1]).unwrap()).unwrap();
    assert_eq!(run.history[1], unchanged);
    let html = fs::read_to_string(write_report(&dir).unwrap()).unwrap();
    assert_self_contained(&html);
    assert!(!html.contains("NaN"));
    assert!(html.contains("n/a"));
    assert_self_contained(&fs::read_to_string(write_evolution(&dir).unwrap()).unwrap());
}

#[test]
fn missing_optional_files_are_noted_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("search");
    search_run(&dir, Method::Dst);
    for f in ["selection.json", "genotype.json", "environment.json"] {
        fs::remove_file(dir.join(f)).unwrap();
    }
    let html = fs::read_to_string(write_report(&dir).unwrap()).unwrap();
    assert_self_contained(&html);
    assert!(html.contains("Selected epoch: <b>epoch 2</b>"));
    assert!(html.contains("recomputed"));
    assert!(html.contains("<code>genotype.json</code> is missing"));
    assert!(html.contains("No <code>environment.json</code>"));
}

fn error_of(dir: &Path) -> (ReportError, String) {
    let report = write_report(dir).unwrap_err();
    let evolution = write_evolution(dir).unwrap_err();
    assert_eq!(report.to_string(), evolution.to_string());
    assert!(!dir.join("report.html").exists() && !dir.join("evolution.html").exists());
    let message = report.to_string();
    (report, message)
}

#[test]
fn missing_or_empty_history_and_missing_directories_are_errors_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (err, message) = error_of(&tmp.path().join("nowhere"));
    assert!(
        matches!(err, ReportError::NotADirectory { .. }),
        "{message}"
    );
    assert!(message.contains("nowhere"), "{message}");

    let (err, message) = error_of(tmp.path());
    assert!(
        matches!(err, ReportError::MissingHistory { .. }),
        "{message}"
    );
    assert!(
        message.contains("history.jsonl") && message.contains("missing"),
        "{message}"
    );

    fs::write(tmp.path().join("history.jsonl"), "\n  \n").unwrap();
    let (err, message) = error_of(tmp.path());
    assert!(matches!(err, ReportError::EmptyHistory { .. }), "{message}");
    assert!(message.contains("history.jsonl"), "{message}");
}

#[test]
fn malformed_history_lines_are_errors_naming_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    for kind in [RunKind::Search, RunKind::Train] {
        let dir = tmp.path().join(format!("{kind:?}"));
        let first = match kind {
            RunKind::Search => serde_json::to_string(&search_run(&dir, Method::Dst)[0]),
            RunKind::Train => serde_json::to_string(&train_run(&dir)[0]),
        }
        .unwrap();
        // Line numbers count blank lines, as an editor shows them.
        fs::write(
            dir.join("history.jsonl"),
            format!("{first}\n\n{{\"epoch\": 1,\n"),
        )
        .unwrap();
        let (err, message) = error_of(&dir);
        assert!(
            matches!(err, ReportError::MalformedLine { line: 3, .. }),
            "{kind:?}: {message}"
        );
        assert!(message.contains("history.jsonl: line 3"), "{message}");

        // Valid JSON, but not a record: a field of the wrong type (null where a
        // count belongs is not read as NaN).
        let broken = first.replacen("\"epoch\":0", "\"epoch\":null", 1);
        assert_ne!(broken, first);
        fs::write(dir.join("history.jsonl"), format!("{first}\n{broken}\n")).unwrap();
        let (err, message) = error_of(&dir);
        assert!(
            matches!(err, ReportError::MalformedLine { line: 2, .. }),
            "{kind:?}: {message}"
        );
        assert!(message.contains("history.jsonl: line 2"), "{message}");

        fs::write(dir.join("history.jsonl"), "not json\n").unwrap();
        let (err, message) = error_of(&dir);
        assert!(
            matches!(err, ReportError::MalformedLine { line: 1, .. }),
            "{message}"
        );
    }
}

#[test]
fn unknown_run_kinds_and_broken_files_are_errors_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::write(dir.join("history.jsonl"), "{\"step\": 1, \"loss\": 0.5}\n").unwrap();
    let (err, message) = error_of(dir);
    assert!(
        matches!(err, ReportError::UnknownRunKind { .. }),
        "{message}"
    );
    assert!(
        message.contains("history.jsonl") && message.contains("line 1"),
        "{message}"
    );
    fs::write(dir.join("history.jsonl"), "[1, 2]\n").unwrap();
    assert!(matches!(
        error_of(dir).0,
        ReportError::UnknownRunKind { .. }
    ));

    let run = tmp.path().join("search");
    search_run(&run, Method::Dst);
    fs::remove_file(run.join("config.json")).unwrap();
    let (err, message) = error_of(&run);
    assert!(matches!(err, ReportError::MissingFile { .. }), "{message}");
    assert!(message.contains("config.json"), "{message}");

    fs::write(run.join("config.json"), "{\"method\": \"nas\"}").unwrap();
    let (err, message) = error_of(&run);
    assert!(matches!(err, ReportError::Malformed { .. }), "{message}");
    assert!(message.contains("config.json"), "{message}");

    search_run(&run, Method::Dst);
    fs::write(
        run.join("selection.json"),
        "{\"epoch\": 9, \"rule\": \"x\", \"child_accuracy\": 0.5, \"supernet_accuracy\": 0.5}",
    )
    .unwrap();
    let (err, message) = error_of(&run);
    assert!(matches!(err, ReportError::Malformed { .. }), "{message}");
    assert!(
        message.contains("selection.json") && message.contains("epoch 9"),
        "{message}"
    );

    search_run(&run, Method::Dst);
    fs::write(run.join("genotype.json"), "{\"schema\": 1}").unwrap();
    let (_, message) = error_of(&run);
    assert!(message.contains("genotype.json"), "{message}");

    search_run(&run, Method::Dst);
    fs::write(
        run.join("environment.json"),
        "{\"started_unix\": \"yesterday\"}",
    )
    .unwrap();
    let (_, message) = error_of(&run);
    assert!(message.contains("environment.json"), "{message}");
}

/// Removes `field` from the run's `config.json`, as a run written before the field
/// existed has it.
fn drop_config_field(dir: &Path, field: &str) {
    let path = dir.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    assert!(config.as_object_mut().unwrap().remove(field).is_some());
    fs::write(&path, config.to_string()).unwrap();
}

#[test]
fn runs_written_before_a_config_field_existed_get_reports_with_its_default() {
    let tmp = tempfile::tempdir().unwrap();
    let search = tmp.path().join("search");
    search_run(&search, Method::Dst);
    drop_config_field(&search, "child_bn_batches");
    let Run::Search(run) = load_run(&search).unwrap() else {
        panic!("a search run");
    };
    assert_eq!(
        run.config.child_bn_batches,
        SearchConfig::new().child_bn_batches
    );
    assert_self_contained(&fs::read_to_string(write_report(&search).unwrap()).unwrap());
    write_evolution(&search).unwrap();

    let train = tmp.path().join("train");
    train_run(&train);
    drop_config_field(&train, "warmup_epochs");
    let Run::Train(run) = load_run(&train).unwrap() else {
        panic!("a training run");
    };
    assert_eq!(run.config.warmup_epochs, TrainConfig::new().warmup_epochs);
    assert_self_contained(&fs::read_to_string(write_report(&train).unwrap()).unwrap());
}
