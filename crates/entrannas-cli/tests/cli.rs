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
}
