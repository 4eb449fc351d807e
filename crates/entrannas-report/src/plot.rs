//! Line plots as inline SVG: axes with "nice" ticks, grid, legend, and an optional
//! vertical marker (the selected epoch). Pure string output, no ids, no scripts.

use crate::html::escape;

/// The colours series take in order (Tableau 10).
pub const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// One line of a [`LinePlot`]. Non-finite values break the line.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// The points `(x, y)`, in drawing order.
    pub points: Vec<(f64, f64)>,
    /// The colour (CSS); `None` takes the next one of [`PALETTE`].
    pub color: Option<String>,
    /// Draw dashed.
    pub dashed: bool,
}

impl Series {
    /// A solid series in the next palette colour.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
            color: None,
            dashed: false,
        }
    }

    /// The same series in `color`.
    pub fn with_color(mut self, color: impl Into<String>) -> Self {
        self.color = Some(color.into());
        self
    }

    /// The same series dashed.
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }
}

/// A line plot: title, axis labels, series and an optional vertical marker.
#[derive(Debug, Clone, PartialEq)]
pub struct LinePlot {
    /// The title above the plot.
    pub title: String,
    /// The x-axis label.
    pub x_label: String,
    /// The y-axis label.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// A labelled vertical line at this x (for example the selected epoch).
    pub marker: Option<(f64, String)>,
    /// Width in pixels.
    pub width: f64,
    /// Height in pixels.
    pub height: f64,
}

const LEFT: f64 = 64.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 46.0;
const LEGEND: f64 = 200.0;

impl LinePlot {
    /// An empty 640x300 plot.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
            marker: None,
            width: 640.0,
            height: 300.0,
        }
    }

    /// The plot with one more series.
    pub fn with_series(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    /// The plot with a vertical marker at `x` labelled `label`.
    pub fn with_marker(mut self, x: f64, label: impl Into<String>) -> Self {
        self.marker = Some((x, label.into()));
        self
    }

    /// The plot as an `<svg>` element (with its namespace, so it also stands alone).
    /// Never panics: without finite points it draws empty axes saying "no data".
    pub fn to_svg(&self) -> String {
        // Tall enough for the legend.
        let legend = TOP + BOTTOM + 18.0 * self.series.len() as f64 + 16.0;
        let (w, h) = (self.width.max(320.0), self.height.max(160.0).max(legend));
        let (x0, x1) = (LEFT, w - LEGEND);
        let (y0, y1) = (TOP, h - BOTTOM);
        let finite = || {
            self.series
                .iter()
                .flat_map(|s| s.points.iter())
                .filter(|(x, y)| drawable(*x, *y))
        };
        let integral_x = finite().all(|(x, _)| x.fract() == 0.0);
        let xs = range(finite().map(|p| p.0));
        let ys = range(finite().map(|p| p.1));
        let has_data = xs.is_some();
        let (x_ticks, x_lo, x_hi) = axis(xs.unwrap_or((0.0, 1.0)), 6, integral_x);
        let (y_ticks, y_lo, y_hi) = axis(ys.unwrap_or((0.0, 1.0)), 5, false);
        let px = |x: f64| x0 + (x - x_lo) / (x_hi - x_lo) * (x1 - x0);
        let py = |y: f64| y1 - (y - y_lo) / (y_hi - y_lo) * (y1 - y0);

        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" width=\"{w}\" height=\"{h}\" \
             viewBox=\"0 0 {w} {h}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\" \
             role=\"img\">\n<title>{}</title>\n<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\n",
            escape(&self.title)
        );
        out.push_str(&format!(
            "<text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">{}</text>\n",
            n((x0 + x1) / 2.0),
            escape(&self.title)
        ));
        // Grid and ticks.
        let step_x = tick_step(&x_ticks);
        for &t in &x_ticks {
            let x = n(px(t));
            out.push_str(&format!(
                "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#e6e6e6\"/>\
                 <line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#333\"/>\
                 <text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                n(y0),
                n(y1),
                n(y1),
                n(y1 + 5.0),
                n(y1 + 18.0),
                label(t, step_x)
            ));
        }
        let step_y = tick_step(&y_ticks);
        for &t in &y_ticks {
            let y = n(py(t));
            out.push_str(&format!(
                "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#e6e6e6\"/>\
                 <line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#333\"/>\
                 <text x=\"{}\" y=\"{y}\" text-anchor=\"end\" dominant-baseline=\"middle\">{}</text>\n",
                n(x0),
                n(x1),
                n(x0 - 5.0),
                n(x0),
                n(x0 - 8.0),
                label(t, step_y)
            ));
        }
        // Axes and their labels.
        out.push_str(&format!(
            "<path d=\"M {} {} V {} H {}\" fill=\"none\" stroke=\"#333\"/>\n\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n\
             <text x=\"14\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {})\">{}</text>\n",
            n(x0),
            n(y0),
            n(y1),
            n(x1),
            n((x0 + x1) / 2.0),
            n(h - 8.0),
            escape(&self.x_label),
            n((y0 + y1) / 2.0),
            n((y0 + y1) / 2.0),
            escape(&self.y_label)
        ));
        if !has_data {
            out.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n",
                n((x0 + x1) / 2.0),
                n((y0 + y1) / 2.0)
            ));
        }
        // Lines, points and legend.
        for (k, s) in self.series.iter().enumerate() {
            let color = escape(s.color.as_deref().unwrap_or(PALETTE[k % PALETTE.len()]));
            let dash = if s.dashed {
                " stroke-dasharray=\"6 4\""
            } else {
                ""
            };
            let mut d = String::new();
            let mut pen_down = false;
            for &(x, y) in &s.points {
                if drawable(x, y) {
                    d.push_str(&format!(
                        "{} {} {} ",
                        if pen_down { "L" } else { "M" },
                        n(px(x)),
                        n(py(y))
                    ));
                    pen_down = true;
                } else {
                    pen_down = false;
                }
            }
            if !d.is_empty() {
                out.push_str(&format!(
                    "<path d=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>\n",
                    d.trim_end()
                ));
            }
            let finite: Vec<_> = s.points.iter().filter(|(x, y)| drawable(*x, *y)).collect();
            if finite.len() <= 80 {
                for (x, y) in finite {
                    out.push_str(&format!(
                        "<circle cx=\"{}\" cy=\"{}\" r=\"2.5\" fill=\"{color}\"/>",
                        n(px(*x)),
                        n(py(*y))
                    ));
                }
                out.push('\n');
            }
            let ly = y0 + 8.0 + 18.0 * k as f64;
            out.push_str(&format!(
                "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>\
                 <text x=\"{}\" y=\"{}\" dominant-baseline=\"middle\">{}</text>\n",
                n(x1 + 12.0),
                n(ly),
                n(x1 + 36.0),
                n(ly),
                n(x1 + 42.0),
                n(ly),
                escape(&s.name)
            ));
        }
        // The marker last, so that no line hides its label.
        if let Some((mx, text)) = &self.marker
            && mx.is_finite()
            && (x_lo..=x_hi).contains(mx)
        {
            let x = px(*mx);
            // The label sits inside the plot, on the side of the line with more room.
            let (tx, anchor) = if x < (x0 + x1) / 2.0 {
                (x + 4.0, "start")
            } else {
                (x - 4.0, "end")
            };
            out.push_str(&format!(
                "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#b8860b\" stroke-width=\"1.5\" \
                 stroke-dasharray=\"4 3\"/>\n<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" fill=\"#8b6508\">{}</text>\n",
                n(y0),
                n(y1),
                n(tx),
                n(y0 + 12.0),
                escape(text),
                x = n(x),
            ));
        }
        out.push_str("</svg>\n");
        out
    }
}

/// Whether a point is drawn: both coordinates finite and within `1e150` of zero (so
/// that differences of coordinates stay finite).
fn drawable(x: f64, y: f64) -> bool {
    const LIMIT: f64 = 1e150;
    x.is_finite() && y.is_finite() && x.abs() <= LIMIT && y.abs() <= LIMIT
}

/// The smallest and largest of `values`, if any.
fn range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// Ticks and the axis range they span, for data in `[lo, hi]`.
fn axis((lo, hi): (f64, f64), target: usize, integral: bool) -> (Vec<f64>, f64, f64) {
    let (mut lo, mut hi) = (lo, hi);
    if hi - lo <= f64::EPSILON * lo.abs().max(hi.abs()).max(1e-300) {
        let pad = if integral || lo == 0.0 {
            1.0
        } else {
            (lo.abs() * 0.1).max(1e-12)
        };
        lo -= pad;
        hi += pad;
    }
    let ticks = nice_ticks(lo, hi, target, integral);
    let first = ticks.first().copied().unwrap_or(lo).min(lo);
    let last = ticks.last().copied().unwrap_or(hi).max(hi);
    (ticks, first, last)
}

/// About `target` evenly spaced round tick values (steps of 1, 2 or 5 times a power
/// of ten) covering `[lo, hi]`: the first tick is at or below `lo`, the last at or
/// above `hi`. With `integral`, steps are whole numbers. Empty if the range is not
/// finite or empty.
pub fn nice_ticks(lo: f64, hi: f64, target: usize, integral: bool) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return Vec::new();
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let mut step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    if integral {
        step = step.max(1.0).round();
    }
    if !(step.is_finite() && step > 0.0) {
        return Vec::new();
    }
    let start = (lo / step).floor();
    let end = (hi / step).ceil();
    if !(start.is_finite() && end.is_finite()) || end - start > 1000.0 {
        return Vec::new();
    }
    (start as i64..=end as i64)
        .map(|k| {
            let v = k as f64 * step;
            if v.abs() < step * 1e-9 { 0.0 } else { v }
        })
        .collect()
}

fn tick_step(ticks: &[f64]) -> f64 {
    match ticks {
        [a, b, ..] => b - a,
        _ => 1.0,
    }
}

/// A tick label with as many decimals as the step needs.
fn label(v: f64, step: f64) -> String {
    let decimals = if step > 0.0 && step.is_finite() {
        (-step.log10().floor()).clamp(0.0, 12.0) as usize
    } else {
        2
    };
    if v.abs() >= 1e6 || (v != 0.0 && v.abs() < 1e-4) {
        return format!("{v:.1e}");
    }
    let s = format!("{v:.decimals$}");
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        s.trim_start_matches('-').to_string()
    } else {
        s
    }
}

/// A coordinate with two decimals.
fn n(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::check_well_formed;
    use proptest::prelude::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let t = nice_ticks(0.0, 1.0, 5, false);
        assert_eq!(t.len(), 6);
        assert!((t[1] - 0.2).abs() < 1e-12 && t[5] == 1.0);
        let t = nice_ticks(0.13, 0.87, 5, false);
        assert!(t[0] <= 0.13 && *t.last().unwrap() >= 0.87);
        assert_eq!(nice_ticks(0.0, 2.0, 6, true), vec![0.0, 1.0, 2.0]);
        assert_eq!(
            nice_ticks(0.0, 49.0, 6, true),
            vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
        );
        assert!(nice_ticks(1.0, 1.0, 5, false).is_empty());
        assert!(nice_ticks(f64::NAN, 1.0, 5, false).is_empty());
        assert_eq!(label(0.6000000000000001, 0.2), "0.6");
        assert_eq!(label(-0.0, 0.5), "0.0");
        assert_eq!(label(20.0, 10.0), "20");
    }

    #[test]
    fn a_plot_has_its_series_legend_and_marker() {
        let svg = LinePlot::new("loss", "epoch", "loss")
            .with_series(Series::new(
                "train",
                vec![(0.0, 2.0), (1.0, 1.5), (2.0, 1.2)],
            ))
            .with_series(
                Series::new("arch <val>", vec![(0.0, 2.1), (1.0, f64::NAN), (2.0, 1.3)]).dashed(),
            )
            .with_marker(1.0, "selected")
            .to_svg();
        check_well_formed(&svg).unwrap();
        assert!(svg.contains(">train</text>") && svg.contains("arch &lt;val&gt;"));
        assert!(svg.contains(">selected</text>"));
        assert!(svg.contains("stroke-dasharray=\"6 4\""));
        // Axes and two lines; the NaN breaks the dashed line into two pieces.
        assert_eq!(svg.matches("<path d=\"M").count(), 3);
        let dashed = svg
            .lines()
            .find(|l| l.starts_with("<path") && l.contains("6 4"))
            .unwrap();
        assert_eq!(dashed.matches('M').count(), 2, "{dashed}");
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn an_empty_plot_says_so() {
        let svg = LinePlot::new("t", "x", "y").to_svg();
        check_well_formed(&svg).unwrap();
        assert!(svg.contains("no data"));
    }

    proptest! {
        #[test]
        fn any_values_give_a_well_formed_plot_without_nan(
            ys in proptest::collection::vec(
                prop_oneof![any::<f64>(), -1e3f64..1e3, Just(f64::NAN), Just(f64::INFINITY)],
                0..20,
            ),
            scale in prop_oneof![Just(1.0f64), Just(1e-12), Just(1e12)],
        ) {
            let points = ys.iter().enumerate().map(|(i, y)| (i as f64, y * scale)).collect();
            let svg = LinePlot::new("p", "x", "y")
                .with_series(Series::new("s", points))
                .with_marker(3.0, "m")
                .to_svg();
            prop_assert_eq!(check_well_formed(&svg), Ok(()));
            prop_assert!(!svg.contains("NaN") && !svg.contains("inf"), "{}", svg);
        }
    }
}
