//! End-to-end checks of the `entrannas` binary: exit codes, messages and files.

use std::path::Path;
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
    let tiny = [
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
    let mut args = vec![
        "search", "--method", "dst", "--nodes", "2", "--out", search_str,
    ];
    args.extend(tiny);
    let out = entrannas(&args);
    assert!(out.status.success(), "{}", stderr(&out));
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

    let out = entrannas(&["eval", "--checkpoint", train.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("accuracy"), "{}", stdout(&out));
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
