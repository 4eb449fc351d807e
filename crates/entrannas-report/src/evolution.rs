//! The architecture's evolution: one SVG frame per epoch (`evolution/epoch_NNN.svg`)
//! and `evolution.html`, a self-contained page stepping through them.

use std::fs;
use std::path::{Path, PathBuf};

use entrannas_cell::CellGenotype;
use entrannas_diagram::{genotype_svg, node_label};
use entrannas_search::CellDiagnostics;
use entrannas_search::EpochRecord;

use crate::error::{ReportError, io};
use crate::html::{escape, inline_svg};
use crate::page::{float, header, kv_table, opt_count, page, percent, points, row};
use crate::report::{dir_name, outside_clause, shown, thresholds_text};
use crate::run::{Run, SearchRun, load_run};

/// The file name of the evolution page inside the run directory.
pub const EVOLUTION_FILE: &str = "evolution.html";
/// The folder of the frames inside the run directory.
pub const FRAMES_DIR: &str = "evolution";

/// The file name of the frame of the record with `epoch` (counted from 0):
/// `epoch_NNN.svg`, numbered from 1 as the pages show epochs.
pub fn frame_name(epoch: usize) -> String {
    format!("epoch_{:03}.svg", shown(epoch))
}

/// Writes the frames `evolution/epoch_NNN.svg` (both cells of each epoch's derived
/// genotype, side by side) and `evolution.html` into the search run directory
/// `run_dir`, and returns the page's path. Frames of an earlier call that the history
/// no longer holds are removed. The page inlines every frame, so it works from
/// `file://` without fetching anything; a small inline script drives the
/// previous / next buttons, the slider, playback and the arrow keys (without
/// scripts, every frame is shown one below the other).
///
/// # Errors
/// Those of [`load_run`]; [`ReportError::NotASearchRun`] for a training run;
/// [`ReportError::Io`] if a file cannot be written.
pub fn write_evolution(run_dir: &Path) -> Result<PathBuf, ReportError> {
    let run = match load_run(run_dir)? {
        Run::Search(run) => run,
        Run::Train(_) => {
            return Err(ReportError::NotASearchRun {
                path: run_dir.to_path_buf(),
            });
        }
    };
    let frames = run_dir.join(FRAMES_DIR);
    fs::create_dir_all(&frames).map_err(io("create", &frames))?;
    let keep: Vec<String> = run.history.iter().map(|r| frame_name(r.epoch)).collect();
    for entry in fs::read_dir(&frames).map_err(io("read", &frames))? {
        let entry = entry.map_err(io("read", &frames))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("epoch_") && name.ends_with(".svg") && !keep.contains(&name) {
            let path = entry.path();
            fs::remove_file(&path).map_err(io("remove", &path))?;
        }
    }
    for r in &run.history {
        let path = frames.join(frame_name(r.epoch));
        fs::write(&path, genotype_svg(&r.genotype)).map_err(io("write", &path))?;
    }
    let path = run_dir.join(EVOLUTION_FILE);
    fs::write(&path, render_evolution(&run)).map_err(io("write", &path))?;
    Ok(path)
}

const EXTRA_CSS: &str = "\
.controls{position:sticky;top:0;background:#fff;padding:.5em 0;border-bottom:1px solid #ddd;\
display:flex;gap:.6em;align-items:center;flex-wrap:wrap;z-index:1}\
.controls input[type=range]{flex:1;min-width:12em}\
.controls button{font-size:1em;padding:.2em .8em}\
#label{font-weight:bold;min-width:10em}\
.frame{display:none;margin-top:.8em}\
.frame.active{display:block}\
.frame h2{margin-top:.4em}\
.facts{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}\
.bar{display:inline-block;width:8em;height:.7em;background:#eee;border:1px solid #ccc;vertical-align:middle}\
.bar span{display:block;height:100%;background:#4682b4}\
";

const SCRIPT: &str = "\
(function () {
  var frames = document.querySelectorAll('.frame');
  var slider = document.getElementById('slider');
  var label = document.getElementById('label');
  var play = document.getElementById('play');
  var current = 0;
  var timer = null;
  function show(k) {
    if (frames.length === 0) { return; }
    current = Math.max(0, Math.min(frames.length - 1, k));
    for (var j = 0; j !== frames.length; j++) {
      frames[j].classList.toggle('active', j === current);
    }
    slider.value = String(current);
    label.textContent = frames[current].getAttribute('data-label');
  }
  function stop() {
    if (timer !== null) { clearInterval(timer); timer = null; }
    play.textContent = 'play';
  }
  document.getElementById('prev').addEventListener('click', function () { stop(); show(current - 1); });
  document.getElementById('next').addEventListener('click', function () { stop(); show(current + 1); });
  document.getElementById('first').addEventListener('click', function () { stop(); show(0); });
  document.getElementById('last').addEventListener('click', function () { stop(); show(frames.length - 1); });
  slider.addEventListener('input', function () { stop(); show(parseInt(slider.value, 10)); });
  play.addEventListener('click', function () {
    if (timer !== null) { stop(); return; }
    if (current === frames.length - 1) { show(0); }
    play.textContent = 'pause';
    timer = setInterval(function () {
      if (current >= frames.length - 1) { stop(); } else { show(current + 1); }
    }, 900);
  });
  document.addEventListener('keydown', function (e) {
    if (e.target === slider) { return; }
    if (e.key === 'ArrowLeft') { stop(); show(current - 1); }
    if (e.key === 'ArrowRight') { stop(); show(current + 1); }
  });
  show(0);
})();";

fn frame_label(r: &EpochRecord, last: usize) -> String {
    format!(
        "epoch {} of {}, temperature {}, child-net {}",
        shown(r.epoch),
        shown(last),
        float(r.tau, 3),
        percent(r.child_accuracy)
    )
}

/// The thresholds of one cell as a table with bars, and the inputs each node kept.
fn thresholds_table(title: &str, d: &CellDiagnostics, cell: &CellGenotype) -> String {
    let mut out = format!("<div><h3>{}</h3>\n", escape(title));
    let outside = outside_clause(d.weight_outside_child);
    out.push_str(&format!(
        "<p>{} active connections on {} edges; {} skip_connect, {} parameter-free; op-weight \
         entropy {} nats{outside}.</p>\n",
        d.connections,
        d.edges,
        d.skip_connects,
        d.parameter_free,
        float(d.op_entropy, 3)
    ));
    let nodes = cell
        .nodes
        .len()
        .max(d.thresholds.as_ref().map_or(0, Vec::len));
    out.push_str("<table>\n");
    out.push_str(&header(&["node j", "threshold t(j)", "", "inputs kept"]));
    for j in 0..nodes {
        let t = d.thresholds.as_ref().and_then(|t| t.get(j)).copied();
        let bar = match t {
            Some(t) if t.is_finite() => format!(
                "<span class=\"bar\"><span style=\"width:{:.1}%\"></span></span>",
                (100.0 * t).clamp(0.0, 100.0)
            ),
            _ => String::new(),
        };
        let kept = cell.nodes.get(j).map_or(String::from("-"), |inputs| {
            inputs
                .iter()
                .map(|c| {
                    format!(
                        "{} from {}",
                        escape(&c.op),
                        node_label(c.input, cell.inputs)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        });
        out.push_str(&row(
            &[
                j.to_string(),
                t.map_or("- (top-k rule)".into(), |t| float(t, 4)),
                bar,
                kept,
            ],
            None,
        ));
    }
    out.push_str("</table>\n</div>\n");
    out
}

/// The evolution page of a loaded search run, as HTML (frames inlined).
pub fn render_evolution(run: &SearchRun) -> String {
    let c = &run.config;
    let h = &run.history;
    let name = dir_name(&run.dir);
    let last = h.iter().map(|r| r.epoch).max().unwrap_or(0);
    let mut b = format!(
        "<h1>Architecture evolution: {}</h1>\n<p class=\"note\">Method <b>{}</b>, {} space, \
         dataset <b>{}</b>: the cells derived at the end of each of {} epochs (numbered from \
         1, as the progress lines and the file names). Frames are also in <code>{FRAMES_DIR}/epoch_NNN.svg</code>. Use the buttons, \
         the slider or the arrow keys.</p>\n",
        escape(&name),
        c.method,
        c.space,
        escape(&c.dataset),
        h.len()
    );
    b.push_str(&format!(
        "<div class=\"controls\">\
         <button id=\"first\" type=\"button\" title=\"first epoch\">&#8676;</button>\
         <button id=\"prev\" type=\"button\" title=\"previous epoch\">&#9664; previous</button>\
         <input id=\"slider\" type=\"range\" min=\"0\" max=\"{}\" value=\"0\" step=\"1\" aria-label=\"epoch\">\
         <button id=\"next\" type=\"button\" title=\"next epoch\">next &#9654;</button>\
         <button id=\"last\" type=\"button\" title=\"last epoch\">&#8677;</button>\
         <button id=\"play\" type=\"button\">play</button>\
         <span id=\"label\">{}</span></div>\n",
        h.len().saturating_sub(1),
        h.first()
            .map_or(String::new(), |r| escape(&frame_label(r, last)))
    ));
    for (index, r) in h.iter().enumerate() {
        let selected = r.epoch == run.selection.epoch;
        b.push_str(&format!(
            "<div class=\"frame{}\" id=\"frame-{index}\" data-epoch=\"{}\" data-label=\"{}\">\n",
            if index == 0 { " active" } else { "" },
            shown(r.epoch),
            escape(&frame_label(r, last))
        ));
        b.push_str(&format!(
            "<h2>Epoch {}{}</h2>\n",
            shown(r.epoch),
            if selected {
                " <span class=\"badge\">selected</span>"
            } else {
                ""
            }
        ));
        b.push_str("<div class=\"facts\">\n<div>\n");
        b.push_str(&kv_table(&[
            ("temperature", float(r.tau, 4)),
            ("learning rate", float(r.lr, 5)),
            (
                "active connections",
                format!(
                    "normal {}, reduction {}",
                    r.normal.connections, r.reduce.connections
                ),
            ),
            ("child-net accuracy", percent(r.child_accuracy)),
            ("super-net accuracy", percent(r.supernet_accuracy)),
            ("gap", points(r.gap)),
            ("target-net parameters", opt_count(r.target_params)),
            ("target-net FLOPs", opt_count(r.target_flops)),
        ]));
        b.push_str("</div>\n");
        b.push_str(&thresholds_table(
            "normal cell",
            &r.normal,
            &r.genotype.normal,
        ));
        b.push_str(&thresholds_table(
            "reduction cell",
            &r.reduce,
            &r.genotype.reduce,
        ));
        b.push_str("</div>\n<div class=\"scroll\">\n");
        b.push_str(&inline_svg(
            &genotype_svg(&r.genotype),
            &format!("e{index}"),
        ));
        b.push_str("</div>\n</div>\n");
    }
    b.push_str("<h2>All epochs</h2>\n<div class=\"scroll\"><table>\n");
    b.push_str(&header(&[
        "epoch",
        "temperature",
        "normal conn.",
        "normal t(j)",
        "reduce conn.",
        "reduce t(j)",
        "child-net acc.",
        "super-net acc.",
    ]));
    for r in h {
        let selected = r.epoch == run.selection.epoch;
        b.push_str(&row(
            &[
                if selected {
                    format!("{} <span class=\"badge\">selected</span>", shown(r.epoch))
                } else {
                    shown(r.epoch).to_string()
                },
                float(r.tau, 4),
                r.normal.connections.to_string(),
                thresholds_text(&r.normal.thresholds),
                r.reduce.connections.to_string(),
                thresholds_text(&r.reduce.thresholds),
                percent(r.child_accuracy),
                percent(r.supernet_accuracy),
            ],
            selected.then_some("selected"),
        ));
    }
    b.push_str("</table></div>\n");
    page(
        &format!("entrannas architecture evolution: {name}"),
        EXTRA_CSS,
        &b,
        Some(SCRIPT),
    )
}
