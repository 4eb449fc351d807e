//! `report.html`: one self-contained page telling a run's story.

use std::fs;
use std::path::{Path, PathBuf};

use entrannas_diagram::cell_svg;
use entrannas_search::CellDiagnostics;

use crate::error::{ReportError, io};
use crate::html::{escape, inline_svg};
use crate::page::{
    config_table, count, duration, float, header, kv_table, mean, opt_count, page, percent, points,
    row, utc,
};
use crate::plot::{LinePlot, Series};
use crate::run::{EnvironmentFile, Run, SearchRun, TrainRun, load_run};

/// An epoch as the reports show it: from 1, as the progress lines count
/// (`history.jsonl`'s `epoch` field, and the records' `epoch`, count from 0).
pub fn shown(epoch: usize) -> usize {
    epoch + 1
}

/// The file name of the report inside the run directory.
pub const REPORT_FILE: &str = "report.html";

/// Writes `report.html` into the run directory `run_dir` (a search or a training run,
/// told apart by its history) and returns its path. The page is self-contained: inline
/// CSS and inline SVG only, no script, no external reference.
///
/// # Errors
/// Those of [`load_run`], or [`ReportError::Io`] if the page cannot be written.
pub fn write_report(run_dir: &Path) -> Result<PathBuf, ReportError> {
    let run = load_run(run_dir)?;
    let html = render_report(&run);
    let path = run_dir.join(REPORT_FILE);
    fs::write(&path, html).map_err(io("write", &path))?;
    Ok(path)
}

/// The report page of a loaded run, as HTML.
pub fn render_report(run: &Run) -> String {
    match run {
        Run::Search(run) => search_report(run),
        Run::Train(run) => train_report(run),
    }
}

pub(crate) fn dir_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| dir.display().to_string())
}

fn pts<R>(history: &[R], x: impl Fn(&R) -> usize, y: impl Fn(&R) -> f64) -> Vec<(f64, f64)> {
    history.iter().map(|r| (x(r) as f64, y(r))).collect()
}

fn plots(svgs: &[String]) -> String {
    let mut out = String::from("<div class=\"plots\">\n");
    for svg in svgs {
        out.push_str("<div>\n");
        out.push_str(svg);
        out.push_str("</div>\n");
    }
    out.push_str("</div>\n");
    out
}

pub(crate) fn thresholds_text(t: &Option<Vec<f64>>) -> String {
    match t {
        Some(t) => t.iter().map(|v| float(*v, 3)).collect::<Vec<_>>().join(" "),
        None => "-".into(),
    }
}

fn diagnostics_cells(d: &CellDiagnostics) -> [String; 7] {
    [
        d.connections.to_string(),
        d.edges.to_string(),
        d.skip_connects.to_string(),
        d.parameter_free.to_string(),
        float(d.op_entropy, 3),
        thresholds_text(&d.thresholds),
        outside_text(d.weight_outside_child),
    ]
}

/// The Engine weight outside the child-net as a percentage, `-` when not recorded.
pub(crate) fn outside_text(share: Option<f64>) -> String {
    share.map_or("-".into(), percent)
}

/// `"; 43.00% of the Engine weight outside the child"` to end a cell's summary, empty
/// when not recorded.
pub(crate) fn outside_clause(share: Option<f64>) -> String {
    share.map_or(String::new(), |share| {
        format!(
            "; {} of the Engine weight outside the child",
            percent(share)
        )
    })
}

fn environment_section(environments: &[EnvironmentFile]) -> String {
    if environments.is_empty() {
        return "<p class=\"note\">No <code>environment.json</code> in the run directory (the \
                entrannas command writes it): versions and device were not recorded.</p>\n"
            .into();
    }
    let mut out = String::new();
    for file in environments {
        let e = &file.environment;
        let opt = |v: &Option<String>| escape(v.as_deref().unwrap_or("not recorded"));
        out.push_str(&format!("<h3>{}</h3>\n", escape(&file.name)));
        out.push_str(&kv_table(&[
            ("device", opt(&e.device)),
            ("entrannas", opt(&e.entrannas)),
            ("burn", opt(&e.burn)),
            ("dataset location", opt(&e.dataset)),
            (
                "command",
                format!("<code>{}</code>", escape(&e.command.join(" "))),
            ),
            (
                "started",
                e.started_unix.map_or_else(|| "not recorded".into(), utc),
            ),
        ]));
    }
    out
}

fn files_section(dir: &Path) -> String {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    let mut name = e.file_name().to_string_lossy().into_owned();
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        name.push('/');
                    }
                    name
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let list: Vec<String> = names
        .iter()
        .map(|n| format!("<code>{}</code>", escape(n)))
        .collect();
    format!(
        "<h2>Files</h2>\n<p>In <code>{}</code>: {}.</p>\n",
        escape(&dir.display().to_string()),
        list.join(", ")
    )
}

fn search_report(run: &SearchRun) -> String {
    let c = &run.config;
    let h = &run.history;
    let name = dir_name(&run.dir);
    let mut b = format!("<h1>Search report: {}</h1>\n", escape(&name));
    b.push_str(&format!(
        "<p class=\"note\">EnTranNAS search, method <b>{}</b>, {} operation space, dataset \
         <b>{}</b>; {} of {} epochs recorded (numbered from 1, as the progress lines; <code>history.jsonl</code>'s <code>epoch</code> counts from 0).</p>\n",
        c.method,
        c.space,
        escape(&c.dataset),
        h.len(),
        c.epochs
    ));
    if h.len() < c.epochs {
        b.push_str(&format!(
            "<p class=\"warn\">The search has not finished (or was stopped): {} of {} epochs. \
             <code>entrannas search --resume</code> continues it.</p>\n",
            h.len(),
            c.epochs
        ));
    }

    b.push_str(&selected_section(run));
    b.push_str(&curves_section(run));
    b.push_str(&collapse_section(run));
    b.push_str(&epochs_table(run));
    b.push_str(&cost_section(run));
    b.push_str(&config_section(run));
    page(&format!("entrannas search report: {name}"), "", &b, None)
}

/// The selected epoch, why, its cells and their DARTS form.
fn selected_section(run: &SearchRun) -> String {
    let sel = &run.selection;
    let selected = run.selected();
    let mut b = String::new();
    b.push_str("<h2>Selected architecture</h2>\n");
    b.push_str(&format!(
        "<p>Selected epoch: <b>epoch {}</b>. Rule: {}. Its child-net accuracy is {}{} \
         (super-net {}, gap {}).</p>\n",
        shown(sel.epoch),
        escape(&sel.rule),
        percent(sel.child_accuracy),
        sel.child_accuracy_recalibrated
            .map_or(String::new(), |c| format!(
                ", {} after BN recalibration",
                percent(c)
            )),
        percent(sel.supernet_accuracy),
        points(sel.supernet_accuracy - sel.child_accuracy)
    ));
    if !run.selection_recorded {
        b.push_str(
            "<p class=\"warn\"><code>selection.json</code> is missing: the selection was \
             recomputed from <code>history.jsonl</code> with the search's rule.</p>\n",
        );
    }
    if let Some(r) = selected {
        let cell = |d: &CellDiagnostics| {
            let outside = outside_clause(d.weight_outside_child);
            format!(
                "{} connections on {} edges, {} skip_connect, {} parameter-free{outside}",
                d.connections, d.edges, d.skip_connects, d.parameter_free
            )
        };
        b.push_str(&kv_table(&[
            ("selected epoch", shown(sel.epoch).to_string()),
            ("selection rule", escape(&sel.rule)),
            ("child-net accuracy", percent(r.child_accuracy)),
            ("super-net accuracy", percent(r.supernet_accuracy)),
            ("gap (super-net - child-net)", points(r.gap)),
            (
                "super-net accuracy after BN recalibration",
                r.supernet_accuracy_recalibrated.map_or("-".into(), percent),
            ),
            (
                "child-net accuracy after BN recalibration",
                r.child_accuracy_recalibrated.map_or("-".into(), percent),
            ),
            (
                "gap after BN recalibration",
                r.gap_recalibrated().map_or("-".into(), points),
            ),
            ("target-net parameters", opt_count(r.target_params)),
            (
                "target-net FLOPs (multiply-adds)",
                opt_count(r.target_flops),
            ),
            ("normal cell", cell(&r.normal)),
            ("reduction cell", cell(&r.reduce)),
            ("temperature at that epoch", float(r.tau, 4)),
        ]));
        b.push_str(
            "<p class=\"note\">Parameters and FLOPs are those of the target-net the genotype \
             describes at the evaluation layout (CIFAR layout: C = 36, L = 20) for this \
             dataset's image size and classes, counted during the search.</p>\n",
        );
        if !run.genotype_recorded {
            b.push_str(
                "<p class=\"warn\"><code>genotype.json</code> is missing: the cells below are \
                 the selected epoch's genotype from <code>history.jsonl</code>.</p>\n",
            );
        } else if r.genotype != run.genotype {
            b.push_str(&format!(
                "<p class=\"warn\"><code>genotype.json</code> differs from epoch {}'s derived \
                 genotype in <code>history.jsonl</code>; the cells below are \
                 <code>genotype.json</code>'s.</p>\n",
                shown(sel.epoch)
            ));
        }
    }
    b.push_str("<h3>Cells (genotype.json)</h3>\n<div class=\"cells\">\n");
    b.push_str(&format!(
        "<div>{}</div>\n<div>{}</div>\n</div>\n",
        inline_svg(&cell_svg(&run.genotype.normal, "normal cell"), "normal"),
        inline_svg(&cell_svg(&run.genotype.reduce, "reduction cell"), "reduce")
    ));
    b.push_str(&format!(
        "<h3>DARTS form</h3>\n<pre>{}</pre>\n",
        escape(&run.genotype.to_darts_text())
    ));
    b
}

/// Loss and accuracy curves: super-net, child-net, their gap, with and without BN recalibration.
fn curves_section(run: &SearchRun) -> String {
    let h = &run.history;
    let sel = &run.selection;
    let marker = |p: LinePlot| selection_marker(p, sel.epoch);
    let ep = |r: &entrannas_search::EpochRecord| shown(r.epoch);
    let mut b = String::new();
    b.push_str("<h2>Loss and accuracy</h2>\n");
    b.push_str(
        "<p class=\"note\">Super-net accuracy: the super-net with its Engine cells' mixed \
         operations; child-net accuracy: only the derived paths, with the batch-norm \
         statistics the super-net accumulated and (re-BN) after re-estimating them through \
         the child-net, no weight changed; the super-net likewise re-estimated through \
         its own paths, so that the re-BN gap compares the two architectures alone. All on the architecture split, every epoch. \
         EnTranNAS keeps the gap small.</p>\n",
    );
    let recalibrated: Vec<(f64, f64)> = h
        .iter()
        .filter_map(|r| {
            r.child_accuracy_recalibrated
                .map(|c| (shown(r.epoch) as f64, 100.0 * c))
        })
        .collect();
    let recalibrated_supernet: Vec<(f64, f64)> = h
        .iter()
        .filter_map(|r| {
            r.supernet_accuracy_recalibrated
                .map(|s| (shown(r.epoch) as f64, 100.0 * s))
        })
        .collect();
    let recalibrated_gap: Vec<(f64, f64)> = h
        .iter()
        .filter_map(|r| {
            r.gap_recalibrated()
                .map(|g| (shown(r.epoch) as f64, 100.0 * g))
        })
        .collect();
    let mut accuracy = LinePlot::new("Accuracy", "epoch", "accuracy (%)")
        .with_series(Series::new(
            "super-net (val)",
            pts(h, ep, |r| 100.0 * r.supernet_accuracy),
        ))
        .with_series(Series::new(
            "child-net (val)",
            pts(h, ep, |r| 100.0 * r.child_accuracy),
        ));
    let mut gap = LinePlot::new(
        "Super-net minus child-net",
        "epoch",
        "gap (percentage points)",
    )
    .with_series(Series::new("gap", pts(h, ep, |r| 100.0 * r.gap)));
    if !recalibrated_supernet.is_empty() {
        accuracy = accuracy
            .with_series(Series::new("super-net, re-BN (val)", recalibrated_supernet).dashed());
    }
    if !recalibrated.is_empty() {
        accuracy = accuracy.with_series(Series::new("child-net, re-BN (val)", recalibrated));
    }
    if !recalibrated_gap.is_empty() {
        gap = gap.with_series(Series::new("gap, re-BN", recalibrated_gap));
    }
    let accuracy = accuracy.with_series(
        Series::new("train (weights)", pts(h, ep, |r| 100.0 * r.train_accuracy)).dashed(),
    );
    b.push_str(&plots(&[
        marker(
            LinePlot::new("Losses", "epoch", "loss")
                .with_series(Series::new("train (weights)", pts(h, ep, |r| r.train_loss)))
                .with_series(Series::new(
                    "arch (validation)",
                    pts(h, ep, |r| r.arch_loss),
                )),
        )
        .to_svg(),
        marker(accuracy).to_svg(),
        marker(gap).to_svg(),
    ]));
    b
}

/// Collapse diagnostics: kept connections, entropy, thresholds, Engine weight outside the child, target-net size.
fn collapse_section(run: &SearchRun) -> String {
    let h = &run.history;
    let sel = &run.selection;
    let marker = |p: LinePlot| selection_marker(p, sel.epoch);
    let ep = |r: &entrannas_search::EpochRecord| shown(r.epoch);
    let mut b = String::new();
    b.push_str("<h2>Collapse diagnostics</h2>\n");
    b.push_str(
        "<p class=\"note\">A collapsing search drifts towards <code>skip_connect</code> and \
         pooling (parameter-free) operations in the normal cell, and its op weights become \
         certain (entropy falls) early. The temperature anneals the op weights; for DST, \
         the thresholds t(j) decide how many inputs each node keeps. The Engine weight \
         outside the child is the share of the Engine cells' op weight (without \
         <code>none</code>) on connections the derived cell drops: the part of the \
         super-net the child-net does not compute, so the larger it is, the more the two \
         networks can differ (DST derives every weighted connection: 0).</p>\n",
    );
    let mut diag_plots = vec![
        marker(
            LinePlot::new("Kept connections", "epoch", "connections")
                .with_series(Series::new(
                    "normal: all",
                    pts(h, ep, |r| r.normal.connections as f64),
                ))
                .with_series(Series::new(
                    "normal: skip_connect",
                    pts(h, ep, |r| r.normal.skip_connects as f64),
                ))
                .with_series(Series::new(
                    "normal: param-free",
                    pts(h, ep, |r| r.normal.parameter_free as f64),
                ))
                .with_series(
                    Series::new("reduce: all", pts(h, ep, |r| r.reduce.connections as f64))
                        .dashed(),
                ),
        )
        .to_svg(),
        marker(
            LinePlot::new(
                "Op-weight entropy and temperature",
                "epoch",
                "nats / temperature",
            )
            .with_series(Series::new(
                "normal entropy",
                pts(h, ep, |r| r.normal.op_entropy),
            ))
            .with_series(Series::new(
                "reduce entropy",
                pts(h, ep, |r| r.reduce.op_entropy),
            ))
            .with_series(Series::new("temperature", pts(h, ep, |r| r.tau)).dashed()),
        )
        .to_svg(),
    ];
    if run.has_thresholds() {
        let mut plot = LinePlot::new("DST thresholds t(j)", "epoch", "threshold");
        let nodes = h
            .iter()
            .flat_map(|r| [&r.normal.thresholds, &r.reduce.thresholds])
            .filter_map(|t| t.as_ref().map(Vec::len))
            .max()
            .unwrap_or(0);
        for (cell, dashed) in [("normal", false), ("reduce", true)] {
            for j in 0..nodes {
                let points = pts(h, ep, |r| {
                    let d = if dashed { &r.reduce } else { &r.normal };
                    d.thresholds
                        .as_ref()
                        .and_then(|t| t.get(j).copied())
                        .unwrap_or(f64::NAN)
                });
                let s = Series::new(format!("{cell} t({j})"), points)
                    .with_color(crate::plot::PALETTE[j % crate::plot::PALETTE.len()]);
                plot = plot.with_series(if dashed { s.dashed() } else { s });
            }
        }
        diag_plots.push(marker(plot).to_svg());
    }
    if h.iter().any(|r| r.normal.weight_outside_child.is_some()) {
        let share = |v: Option<f64>| v.map_or(f64::NAN, |v| 100.0 * v);
        diag_plots.push(
            marker(
                LinePlot::new(
                    "Engine weight outside the child-net",
                    "epoch",
                    "% of op weight",
                )
                .with_series(Series::new(
                    "normal",
                    pts(h, ep, |r| share(r.normal.weight_outside_child)),
                ))
                .with_series(
                    Series::new(
                        "reduce",
                        pts(h, ep, |r| share(r.reduce.weight_outside_child)),
                    )
                    .dashed(),
                ),
            )
            .to_svg(),
        );
    }
    if h.iter().any(|r| r.target_params.is_some()) {
        let m = |v: Option<u64>| v.map_or(f64::NAN, |v| v as f64 / 1e6);
        diag_plots.push(
            marker(
                LinePlot::new("Derived target-net size", "epoch", "millions").with_series(
                    Series::new("parameters (M)", pts(h, ep, |r| m(r.target_params))),
                ),
            )
            .to_svg(),
        );
        diag_plots.push(
            marker(
                LinePlot::new(
                    "Derived target-net FLOPs",
                    "epoch",
                    "millions of multiply-adds",
                )
                .with_series(Series::new("FLOPs (M)", pts(h, ep, |r| m(r.target_flops)))),
            )
            .to_svg(),
        );
    }
    b.push_str(&plots(&diag_plots));
    b
}

/// Every epoch in one table.
fn epochs_table(run: &SearchRun) -> String {
    let h = &run.history;
    let sel = &run.selection;
    let mut b = String::new();
    b.push_str("<h3>Per epoch</h3>\n<div class=\"scroll\"><table>\n");
    b.push_str(
        "<tr><th rowspan=\"2\">epoch</th><th rowspan=\"2\">temperature</th><th rowspan=\"2\">lr</th>\
         <th rowspan=\"2\">train loss</th><th rowspan=\"2\">arch loss</th>\
         <th rowspan=\"2\">super-net acc.</th><th rowspan=\"2\">child-net acc.</th><th rowspan=\"2\">gap</th>\
         <th rowspan=\"2\">super-net acc., re-BN</th><th rowspan=\"2\">child-net acc., re-BN</th>\
         <th rowspan=\"2\">gap, re-BN</th>\
         <th rowspan=\"2\">derivation changes</th><th rowspan=\"2\">steps since last change</th>\
         <th colspan=\"7\">normal cell</th><th colspan=\"7\">reduction cell</th>\
         <th rowspan=\"2\">params</th><th rowspan=\"2\">FLOPs</th><th rowspan=\"2\">time</th>\
         <th rowspan=\"2\">images/s</th></tr>\n",
    );
    let cell_heads = [
        "conn.",
        "edges",
        "skip",
        "param-free",
        "entropy",
        "t(j)",
        "Engine weight outside child",
    ];
    let mut second: Vec<&str> = cell_heads.to_vec();
    second.extend(cell_heads);
    b.push_str(&header(&second));
    for r in h {
        let mut cells = vec![
            if r.epoch == sel.epoch {
                format!("{} <span class=\"badge\">selected</span>", shown(r.epoch))
            } else {
                shown(r.epoch).to_string()
            },
            float(r.tau, 4),
            float(r.lr, 5),
            float(r.train_loss, 4),
            float(r.arch_loss, 4),
            percent(r.supernet_accuracy),
            percent(r.child_accuracy),
            points(r.gap),
            r.supernet_accuracy_recalibrated.map_or("-".into(), percent),
            r.child_accuracy_recalibrated.map_or("-".into(), percent),
            r.gap_recalibrated().map_or("-".into(), points),
            r.derivation_changes.map_or("-".into(), |v| v.to_string()),
            r.derivation_stable_steps
                .map_or("-".into(), |v| v.to_string()),
        ];
        cells.extend(diagnostics_cells(&r.normal));
        cells.extend(diagnostics_cells(&r.reduce));
        cells.push(r.target_params.map_or("-".into(), |v| v.to_string()));
        cells.push(r.target_flops.map_or("-".into(), |v| v.to_string()));
        cells.push(duration(r.seconds));
        cells.push(float(r.images_per_second, 1));
        b.push_str(&row(&cells, (r.epoch == sel.epoch).then_some("selected")));
    }
    b.push_str("</table></div>\n");
    b
}

/// Wall time, throughput and the environments the search ran in.
fn cost_section(run: &SearchRun) -> String {
    let h = &run.history;
    let mut b = String::new();
    let total: f64 = h.iter().map(|r| r.seconds).filter(|s| s.is_finite()).sum();
    b.push_str("<h2>Search cost</h2>\n");
    b.push_str(&kv_table(&[
        ("epochs recorded", h.len().to_string()),
        ("total wall time", duration(total)),
        ("device-hours", float(total / 3600.0, 3)),
        (
            "mean time per epoch",
            mean(h.iter().map(|r| r.seconds)).map_or("n/a".into(), duration),
        ),
        (
            "mean throughput",
            mean(h.iter().map(|r| r.images_per_second))
                .map_or("n/a".into(), |v| format!("{v:.1} images/s")),
        ),
    ]));
    b.push_str(&environment_section(&run.environments));
    b
}

/// The configuration, with the candidate ops and the temperature schedule spelled out.
fn config_section(run: &SearchRun) -> String {
    let c = &run.config;
    let mut b = String::new();
    let schedule = c.schedule();
    b.push_str("<h2>Configuration (config.json)</h2>\n");
    b.push_str(&kv_table(&[
        ("candidate operations", escape(&c.ops().join(", "))),
        (
            "temperature schedule",
            format!(
                "{} at epoch 1, times {} per epoch",
                float(schedule.initial, 4),
                float(schedule.factor, 4)
            ),
        ),
    ]));
    b.push_str(&config_table(c));
    b.push_str(&files_section(&run.dir));
    b
}

/// `plot` with a vertical marker at the selected epoch.
fn selection_marker(plot: LinePlot, epoch: usize) -> LinePlot {
    plot.with_marker(shown(epoch) as f64, format!("selected ({})", shown(epoch)))
}

fn train_report(run: &TrainRun) -> String {
    let c = &run.config;
    let h = &run.history;
    let name = dir_name(&run.dir);
    let ep = |r: &entrannas_eval::EpochRecord| shown(r.epoch);
    let mut b = format!("<h1>Training report: {}</h1>\n", escape(&name));
    b.push_str(&format!(
        "<p class=\"note\">Target-net trained from scratch on <b>{}</b>: {} layout, C = {}, \
         L = {}; {} of {} epochs recorded (numbered from 1; <code>history.jsonl</code>'s <code>epoch</code> counts from 0).</p>\n",
        escape(&c.dataset),
        c.layout.name(),
        c.channels,
        c.layers,
        h.len(),
        c.epochs
    ));
    if h.len() < c.epochs {
        b.push_str(&format!(
            "<p class=\"warn\">The training has not finished (or was stopped): {} of {} \
             epochs.</p>\n",
            h.len(),
            c.epochs
        ));
    }
    b.push_str("<h2>Result</h2>\n");
    let best = run.best();
    let mut rows = Vec::new();
    if let Some(last) = h.last() {
        rows.push(("final test accuracy", percent(last.test_accuracy)));
        rows.push(("final test error", percent(1.0 - last.test_accuracy)));
        rows.push(("final test loss", float(last.test_loss, 4)));
    }
    if let Some(best) = best {
        rows.push((
            "best test accuracy",
            format!(
                "{} at epoch {} (the <code>best/</code> checkpoint)",
                percent(best.test_accuracy),
                shown(best.epoch)
            ),
        ));
    }
    match &run.cost {
        Some(cost) => {
            rows.push(("parameters", count(cost.params)));
            rows.push(("FLOPs (multiply-adds per image)", count(cost.flops)));
            rows.push(("auxiliary-head parameters", count(cost.auxiliary_params)));
        }
        None => rows.push(("parameters and FLOPs", "cost.json not found".into())),
    }
    b.push_str(&kv_table(&rows));
    if let Some(spec) = &run.net {
        b.push_str("<h3>Net (net.json)</h3>\n");
        b.push_str(&config_table(spec));
    }
    if let Some(g) = &run.genotype {
        b.push_str("<h3>Cells (genotype.json)</h3>\n<div class=\"cells\">\n");
        b.push_str(&format!(
            "<div>{}</div>\n<div>{}</div>\n</div>\n",
            inline_svg(&cell_svg(&g.normal, "normal cell"), "normal"),
            inline_svg(&cell_svg(&g.reduce, "reduction cell"), "reduce")
        ));
        b.push_str(&format!(
            "<h3>DARTS form</h3>\n<pre>{}</pre>\n",
            escape(&g.to_darts_text())
        ));
    } else {
        b.push_str("<p class=\"note\"><code>genotype.json</code> not found.</p>\n");
    }

    b.push_str("<h2>Loss and accuracy</h2>\n");
    let marker = |p: LinePlot| match best {
        Some(best) => p.with_marker(
            shown(best.epoch) as f64,
            format!("best ({})", shown(best.epoch)),
        ),
        None => p,
    };
    b.push_str(&plots(&[
        marker(
            LinePlot::new("Losses", "epoch", "loss")
                .with_series(Series::new("train", pts(h, ep, |r| r.train_loss)))
                .with_series(Series::new("test", pts(h, ep, |r| r.test_loss))),
        )
        .to_svg(),
        marker(
            LinePlot::new("Accuracy", "epoch", "accuracy (%)")
                .with_series(Series::new(
                    "train",
                    pts(h, ep, |r| 100.0 * r.train_accuracy),
                ))
                .with_series(Series::new("test", pts(h, ep, |r| 100.0 * r.test_accuracy))),
        )
        .to_svg(),
        LinePlot::new("Schedules", "epoch", "value")
            .with_series(Series::new("learning rate", pts(h, ep, |r| r.lr)))
            .with_series(Series::new("drop-path", pts(h, ep, |r| r.drop_path)).dashed())
            .to_svg(),
    ]));
    b.push_str("<h3>Per epoch</h3>\n<div class=\"scroll\"><table>\n");
    b.push_str(&header(&[
        "epoch",
        "lr",
        "drop-path",
        "train loss",
        "train acc.",
        "test loss",
        "test acc.",
        "test error",
        "time",
        "images/s",
    ]));
    let best_epoch = best.map(|r| r.epoch);
    for r in h {
        let is_best = Some(r.epoch) == best_epoch;
        b.push_str(&row(
            &[
                if is_best {
                    format!("{} <span class=\"badge\">best</span>", shown(r.epoch))
                } else {
                    shown(r.epoch).to_string()
                },
                float(r.lr, 5),
                float(r.drop_path, 3),
                float(r.train_loss, 4),
                percent(r.train_accuracy),
                float(r.test_loss, 4),
                percent(r.test_accuracy),
                percent(1.0 - r.test_accuracy),
                duration(r.seconds),
                float(r.images_per_second, 1),
            ],
            is_best.then_some("selected"),
        ));
    }
    b.push_str("</table></div>\n");

    let total: f64 = h.iter().map(|r| r.seconds).filter(|s| s.is_finite()).sum();
    b.push_str("<h2>Training cost</h2>\n");
    b.push_str(&kv_table(&[
        ("epochs recorded", h.len().to_string()),
        ("total wall time", duration(total)),
        ("device-hours", float(total / 3600.0, 3)),
        (
            "mean time per epoch",
            mean(h.iter().map(|r| r.seconds)).map_or("n/a".into(), duration),
        ),
        (
            "mean throughput",
            mean(h.iter().map(|r| r.images_per_second))
                .map_or("n/a".into(), |v| format!("{v:.1} images/s")),
        ),
    ]));
    b.push_str(&environment_section(&run.environments));
    b.push_str("<h2>Configuration (config.json)</h2>\n");
    b.push_str(&config_table(c));
    b.push_str(&files_section(&run.dir));
    page(&format!("entrannas training report: {name}"), "", &b, None)
}
